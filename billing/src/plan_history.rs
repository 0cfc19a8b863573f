//! Which plan each organization was on, when: the `plan_periods` table,
//! owned here because rating splits a period at its boundaries. The
//! control plane decides a plan change (its `subscriptions` row says which
//! plan is current) and records it here, in its own transaction.

use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::{Period, Result};

/// Organization, plan, valid from, valid to (`None`: still in force).
pub(crate) type HistoryRow = (Uuid, String, DateTime<Utc>, Option<DateTime<Utc>>);

/// Starts an organization's history on `plan` at `at`: its first period.
pub async fn start(
    conn: &mut PgConnection,
    organization_id: Uuid,
    plan: &str,
    at: DateTime<Utc>,
) -> Result<()> {
    sqlx::query("INSERT INTO plan_periods (organization_id, plan, valid_from) VALUES ($1, $2, $3)")
        .bind(organization_id)
        .bind(plan)
        .bind(at)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Ends the plan in force at `at` and starts `plan` there, so that rating
/// bills the time before at the old plan and the time after at the new.
pub async fn switch(
    conn: &mut PgConnection,
    organization_id: Uuid,
    plan: &str,
    at: DateTime<Utc>,
) -> Result<()> {
    sqlx::query(
        "UPDATE plan_periods SET valid_to = $2
         WHERE organization_id = $1 AND valid_to IS NULL",
    )
    .bind(organization_id)
    .bind(at)
    .execute(&mut *conn)
    .await?;
    start(conn, organization_id, plan, at).await
}

/// Those of `organizations` whose plan in force started before `before`,
/// in one statement: a cancelled plan ends only once it has run to the end
/// of a period.
pub async fn started_before(
    conn: &mut PgConnection,
    organizations: &[Uuid],
    before: DateTime<Utc>,
) -> Result<Vec<Uuid>> {
    Ok(sqlx::query_scalar(
        "SELECT organization_id FROM plan_periods
         WHERE organization_id = ANY($1) AND valid_to IS NULL AND valid_from < $2
         ORDER BY organization_id",
    )
    .bind(organizations)
    .bind(before)
    .fetch_all(&mut *conn)
    .await?)
}

/// The plans some organization is on now: the catalog may not drop them.
pub(crate) async fn plans_in_force(conn: &mut PgConnection) -> Result<Vec<String>> {
    Ok(sqlx::query_scalar(
        "SELECT DISTINCT plan FROM plan_periods WHERE valid_to IS NULL ORDER BY plan",
    )
    .fetch_all(&mut *conn)
    .await?)
}

/// The plan periods that overlap `period`, for every organization (or
/// one), ordered by organization and start.
pub(crate) async fn overlapping(
    conn: &mut PgConnection,
    period: Period,
    only: Option<Uuid>,
) -> Result<Vec<HistoryRow>> {
    Ok(sqlx::query_as(
        "SELECT organization_id, plan, valid_from, valid_to FROM plan_periods
         WHERE valid_from < $2 AND (valid_to IS NULL OR valid_to > $1)
           AND ($3::uuid IS NULL OR organization_id = $3)
         ORDER BY organization_id, valid_from",
    )
    .bind(period.start())
    .bind(period.end())
    .bind(only)
    .fetch_all(&mut *conn)
    .await?)
}
