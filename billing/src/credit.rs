//! Credits: money granted to an organization that its next invoices use
//! up. The `credits` table is owned here; what an invoice used of a grant
//! is one of its credit lines (`invoice_lines`).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::Result;
use crate::rating::CreditBalance;

/// One grant, as recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct Credit {
    pub id: Uuid,
    pub organization_id: Uuid,
    pub amount_minor: i64,
    pub reason: String,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
}

/// Records a grant, in the caller's transaction. The caller has checked
/// the amount, the reason and that the organization exists: those rules
/// are the platform administrators', not rating's.
pub async fn grant(
    conn: &mut PgConnection,
    organization_id: Uuid,
    amount_minor: i64,
    reason: &str,
    created_by: &str,
) -> Result<Credit> {
    Ok(sqlx::query_as(
        "INSERT INTO credits (id, organization_id, amount_minor, reason, created_by)
         VALUES ($1, $2, $3, $4, $5)
         RETURNING id, organization_id, amount_minor, reason, created_by, created_at",
    )
    .bind(Uuid::now_v7())
    .bind(organization_id)
    .bind(amount_minor)
    .bind(reason)
    .bind(created_by)
    .fetch_one(&mut *conn)
    .await?)
}

/// An organization's grants, newest first.
pub async fn list(conn: &mut PgConnection, organization_id: Uuid) -> Result<Vec<Credit>> {
    Ok(sqlx::query_as(
        "SELECT id, organization_id, amount_minor, reason, created_by, created_at
         FROM credits WHERE organization_id = $1 ORDER BY created_at DESC, id DESC",
    )
    .bind(organization_id)
    .fetch_all(&mut *conn)
    .await?)
}

/// Credit left per organization (every one, or `only`), oldest grant
/// first: each grant less what invoice lines have used of it.
pub(crate) async fn remaining(
    conn: &mut PgConnection,
    only: Option<Uuid>,
) -> Result<BTreeMap<Uuid, Vec<CreditBalance>>> {
    let rows: Vec<(Uuid, Uuid, i64)> = sqlx::query_as(
        "SELECT c.organization_id, c.id, c.amount_minor + coalesce(sum(l.amount_minor), 0)::bigint
         FROM credits c LEFT JOIN invoice_lines l ON l.credit_id = c.id
         WHERE $1::uuid IS NULL OR c.organization_id = $1
         GROUP BY c.id
         HAVING c.amount_minor + coalesce(sum(l.amount_minor), 0) > 0
         ORDER BY c.organization_id, c.created_at, c.id",
    )
    .bind(only)
    .fetch_all(&mut *conn)
    .await?;
    let mut balances: BTreeMap<Uuid, Vec<CreditBalance>> = BTreeMap::new();
    for (organization_id, id, remaining_minor) in rows {
        balances
            .entry(organization_id)
            .or_default()
            .push(CreditBalance {
                id,
                remaining_minor,
            });
    }
    Ok(balances)
}
