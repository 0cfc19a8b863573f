//! Credits: money granted to an organization that its next invoices use
//! up, whether an administrator granted it or the customer bought it
//! ([`crate::prepaid`]). The `credits` table is owned here; what an invoice
//! used of a grant is one of its credit lines (`invoice_lines`), and what
//! expired unused is in `credit_expiries`.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::Result;
use crate::rating::CreditBalance;

/// Where a grant came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, sqlx::Type)]
#[sqlx(type_name = "text", rename_all = "snake_case")]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// A platform administrator's grant.
    Grant,
    /// Bought by the customer on the provider's checkout page.
    Purchase,
    /// Charged to the card on file by automatic top-up.
    TopUp,
}

/// One grant, as recorded, with what is left of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct Credit {
    pub id: Uuid,
    pub organization_id: Uuid,
    pub amount_minor: i64,
    /// What invoices have not used of it and did not expire.
    pub remaining_minor: i64,
    pub source: Source,
    pub reason: String,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    /// After this, an unused remainder is recorded as expired.
    pub expires_at: Option<DateTime<Utc>>,
}

/// A grant to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewCredit<'a> {
    pub organization_id: Uuid,
    pub amount_minor: i64,
    pub source: Source,
    pub reason: &'a str,
    pub created_by: &'a str,
    pub expires_at: Option<DateTime<Utc>>,
}

const COLUMNS: &str = "c.id, c.organization_id, c.amount_minor, c.source, c.reason, c.created_by,
     c.created_at, c.expires_at,
     (SELECT sum(g.amount_minor) FROM credit_ledger g WHERE g.credit_id = c.id)::bigint
         AS remaining_minor";

/// Records a grant, in the caller's transaction. The caller has checked
/// the amount, the reason and that the organization exists: those rules
/// are the administrators' or the purchase's, not rating's.
pub async fn grant(conn: &mut PgConnection, credit: &NewCredit<'_>) -> Result<Credit> {
    let id = Uuid::now_v7();
    sqlx::query(
        "INSERT INTO credits (id, organization_id, amount_minor, source, reason, created_by, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(id)
    .bind(credit.organization_id)
    .bind(credit.amount_minor)
    .bind(credit.source)
    .bind(credit.reason)
    .bind(credit.created_by)
    .bind(credit.expires_at)
    .execute(&mut *conn)
    .await?;
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM credits c WHERE c.id = $1"
    )))
    .bind(id)
    .fetch_one(&mut *conn)
    .await?)
}

/// An organization's grants, newest first.
pub async fn list(conn: &mut PgConnection, organization_id: Uuid) -> Result<Vec<Credit>> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM credits c WHERE c.organization_id = $1
         ORDER BY c.created_at DESC, c.id DESC"
    )))
    .bind(organization_id)
    .fetch_all(&mut *conn)
    .await?)
}

/// Credit an invoice written at `at` may use, per organization (every one,
/// or `only`): each grant's movements in the ledger (what invoices that
/// stand used of it, what expired), leaving out grants expired by then. The soonest to expire comes first, then the
/// oldest, so credit that would lapse is used before credit that keeps.
pub(crate) async fn remaining(
    conn: &mut PgConnection,
    only: Option<Uuid>,
    at: DateTime<Utc>,
) -> Result<BTreeMap<Uuid, Vec<CreditBalance>>> {
    let rows: Vec<(Uuid, Uuid, i64)> = sqlx::query_as(
        "SELECT c.organization_id, c.id, sum(g.amount_minor)::bigint
         FROM credits c JOIN credit_ledger g ON g.credit_id = c.id
         WHERE ($1::uuid IS NULL OR c.organization_id = $1)
           AND (c.expires_at IS NULL OR c.expires_at > $2)
         GROUP BY c.id
         HAVING sum(g.amount_minor) > 0
         ORDER BY c.organization_id, c.expires_at NULLS LAST, c.created_at, c.id",
    )
    .bind(only)
    .bind(at)
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
