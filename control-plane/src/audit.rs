//! The audit log: one row per change, written in the change's transaction.

use sqlx::PgConnection;
use uuid::Uuid;

use crate::Result;
use crate::access::OrgAccess;

/// Records `action` by `actor` on a target, with `details` (an empty
/// object where there is nothing more to say).
pub async fn record(
    conn: &mut PgConnection,
    organization_id: Option<Uuid>,
    actor: &str,
    action: &str,
    target_type: &str,
    target_id: &str,
    details: serde_json::Value,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO audit_log (organization_id, actor, action, target_type, target_id, details)
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(organization_id)
    .bind(actor)
    .bind(action)
    .bind(target_type)
    .bind(target_id)
    .bind(details)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Records a change made through `access`: in its organization, by its
/// principal; `details` where there is more to say than the target.
pub async fn record_as(
    conn: &mut PgConnection,
    access: &OrgAccess,
    action: &str,
    target_type: &str,
    target_id: &str,
    details: Option<serde_json::Value>,
) -> Result<()> {
    record(
        conn,
        Some(access.organization_id()),
        &access.principal().actor(),
        action,
        target_type,
        target_id,
        details.unwrap_or_else(|| serde_json::json!({})),
    )
    .await
}
