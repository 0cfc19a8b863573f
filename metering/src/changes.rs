//! Organizations whose usage changed since it was last looked at: the
//! ingester marks them in the transaction that stores their events, and
//! whoever acts on changing usage (the control plane's usage alerts) takes
//! them a batch at a time. A change made while a batch is being looked at
//! waits for that look to commit, then marks the organization again.

use sqlx::PgConnection;
use uuid::Uuid;

/// Marks `organizations` as changed (once each, however often).
pub async fn mark(conn: &mut PgConnection, organizations: &[Uuid]) -> Result<(), sqlx::Error> {
    if organizations.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "INSERT INTO usage_changes (organization_id)
         SELECT DISTINCT * FROM UNNEST($1::uuid[]) ORDER BY 1
         ON CONFLICT (organization_id) DO NOTHING",
    )
    .bind(organizations)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Takes up to `limit` changed organizations, oldest change first, in the
/// caller's transaction: they are unmarked if it commits, and stay marked
/// if it rolls back. Replicas take different ones.
pub async fn take(conn: &mut PgConnection, limit: i64) -> Result<Vec<Uuid>, sqlx::Error> {
    sqlx::query_scalar(
        "DELETE FROM usage_changes WHERE organization_id IN (
             SELECT organization_id FROM usage_changes
             ORDER BY changed_at LIMIT $1 FOR UPDATE SKIP LOCKED)
         RETURNING organization_id",
    )
    .bind(limit)
    .fetch_all(&mut *conn)
    .await
}
