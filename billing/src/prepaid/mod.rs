//! Prepaid credit: credit the customer buys ([`purchase`]) or has charged
//! to its card when the balance runs low ([`top_up`]), kept as grants of
//! [`crate::credit`] so that invoices draw on it exactly as on an
//! administrator's grant, soonest to expire first.
//!
//! Every movement is a row of the `credit_ledger` view: each grant, each
//! credit line of an invoice, what a voided invoice gave back, and each
//! expired remainder ([`expire`]), so the ledger sums to the balance.

pub mod purchase;
pub mod top_up;

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::Result;
use crate::catalog::PrepaidTerms;

/// One movement of an organization's credit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct Movement {
    pub credit_id: Uuid,
    /// `grant`, `purchase` or `top_up` (the grant itself), `applied` (an
    /// invoice's credit line), `released` (that invoice voided) or `expired`.
    pub kind: String,
    /// Positive when credit comes in, negative when it goes out.
    pub amount_minor: i64,
    pub invoice_id: Option<Uuid>,
    pub at: DateTime<Utc>,
}

/// The organization's ledger, newest first.
pub async fn ledger(conn: &mut PgConnection, organization_id: Uuid) -> Result<Vec<Movement>> {
    Ok(sqlx::query_as(
        "SELECT credit_id, kind, amount_minor, invoice_id, at FROM credit_ledger
         WHERE organization_id = $1 ORDER BY at DESC, kind, credit_id",
    )
    .bind(organization_id)
    .fetch_all(&mut *conn)
    .await?)
}

/// When credit bought at `now` expires under `terms`.
pub fn expiry(terms: &PrepaidTerms, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    terms
        .expires_after_days
        .map(|days| now + Duration::days(i64::from(days)))
}

/// Records the unused remainder of every grant expired by `now`, once per
/// grant, dated when it expired. Returns how many were recorded, or
/// `None` when a period close is running: the close reads balances before
/// it writes the lines that use them, so an expiry in between would let a
/// remainder be both used and expired. The next pass records it.
pub async fn expire(conn: &mut PgConnection, now: DateTime<Utc>) -> Result<Option<u64>> {
    let free: bool = sqlx::query_scalar("SELECT pg_try_advisory_xact_lock($1)")
        .bind(crate::close::LOCK_KEY)
        .fetch_one(&mut *conn)
        .await?;
    if !free {
        return Ok(None);
    }
    let recorded = sqlx::query(
        "INSERT INTO credit_expiries (credit_id, amount_minor, expired_at)
         SELECT c.id, sum(g.amount_minor), c.expires_at
         FROM credits c JOIN credit_ledger g ON g.credit_id = c.id
         WHERE c.expires_at <= $1
           AND NOT EXISTS (SELECT 1 FROM credit_expiries e WHERE e.credit_id = c.id)
         GROUP BY c.id HAVING sum(g.amount_minor) > 0
         ON CONFLICT (credit_id) DO NOTHING",
    )
    .bind(now)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    Ok(Some(recorded))
}
