//! What collecting payment records in billing's tables: each open invoice's
//! state at the payment provider (its id there, when it was finalized
//! there, the attempts to charge it) and the provider's events already
//! applied (`payment_events`).
//!
//! The control plane drives the provider and owns the organization's
//! customer and card; it calls these between the provider's steps, each
//! recorded before the next so that a crash resumes where it was.

use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::Result;

/// An open invoice the provider has more to do for.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Uncollected {
    pub id: Uuid,
    pub organization_id: Uuid,
    pub number: String,
    pub currency: String,
    pub period_start: DateTime<Utc>,
    pub period_end: DateTime<Utc>,
    pub provider_invoice_id: Option<String>,
    pub provider_finalized_at: Option<DateTime<Utc>>,
    pub payment_attempts: i32,
}

/// Open invoices with an amount to pay that are not finalized at the
/// provider yet, or whose next charge is due at `now`, oldest due first.
/// Which of them can go ahead depends on the organization's customer and
/// card, which the caller holds; the set is bounded by the open invoices.
pub async fn uncollected(conn: &mut PgConnection, now: DateTime<Utc>) -> Result<Vec<Uncollected>> {
    Ok(sqlx::query_as(
        "SELECT id, organization_id, number, currency, period_start, period_end,
                provider_invoice_id, provider_finalized_at, payment_attempts
         FROM invoices
         WHERE status = 'open' AND total_minor > 0
           AND (provider_finalized_at IS NULL OR coalesce(next_payment_at, '-infinity') <= $1)
         ORDER BY due_at, id",
    )
    .bind(now)
    .fetch_all(&mut *conn)
    .await?)
}

/// The invoice's lines as the provider's invoice shows them: description
/// and amount, those with an amount only, in order.
pub async fn lines(conn: &mut PgConnection, invoice_id: Uuid) -> Result<Vec<(String, i64)>> {
    Ok(sqlx::query_as(
        "SELECT description, amount_minor FROM invoice_lines
         WHERE invoice_id = $1 AND amount_minor <> 0 ORDER BY line_no",
    )
    .bind(invoice_id)
    .fetch_all(&mut *conn)
    .await?)
}

/// Records the invoice's id at the provider, once created there.
pub async fn created_at_provider(
    conn: &mut PgConnection,
    invoice_id: Uuid,
    provider_invoice_id: &str,
) -> Result<()> {
    sqlx::query("UPDATE invoices SET provider_invoice_id = $2 WHERE id = $1")
        .bind(invoice_id)
        .bind(provider_invoice_id)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Records that the provider finalized the invoice.
pub async fn finalized_at_provider(
    conn: &mut PgConnection,
    invoice_id: Uuid,
    at: DateTime<Utc>,
) -> Result<()> {
    sqlx::query("UPDATE invoices SET provider_finalized_at = $2 WHERE id = $1")
        .bind(invoice_id)
        .bind(at)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Counts a charge attempt; the next may come at `retry_at`.
pub async fn attempted(
    conn: &mut PgConnection,
    invoice_id: Uuid,
    retry_at: DateTime<Utc>,
) -> Result<()> {
    sqlx::query(
        "UPDATE invoices SET payment_attempts = payment_attempts + 1, next_payment_at = $2
         WHERE id = $1",
    )
    .bind(invoice_id)
    .bind(retry_at)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Makes the open invoices of `organizations` chargeable at once: a new
/// card makes a failed invoice worth charging again now.
pub async fn retry_now(conn: &mut PgConnection, organizations: &[Uuid]) -> Result<()> {
    sqlx::query(
        "UPDATE invoices SET next_payment_at = NULL
         WHERE status = 'open' AND organization_id = ANY($1)",
    )
    .bind(organizations)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// The invoice (id, organization) that the provider knows as
/// `provider_invoice_id`, for its webhook events.
pub async fn by_provider_id(
    conn: &mut PgConnection,
    provider_invoice_id: &str,
) -> Result<Option<(Uuid, Uuid)>> {
    Ok(
        sqlx::query_as("SELECT id, organization_id FROM invoices WHERE provider_invoice_id = $1")
            .bind(provider_invoice_id)
            .fetch_optional(&mut *conn)
            .await?,
    )
}

/// Records a provider event as applied; `false` if it already was, so a
/// redelivery changes nothing. In the transaction that applies it.
pub async fn first_delivery(
    conn: &mut PgConnection,
    event_id: &str,
    kind: &str,
    at: DateTime<Utc>,
) -> Result<bool> {
    Ok(sqlx::query(
        "INSERT INTO payment_events (id, type, received_at) VALUES ($1, $2, $3)
         ON CONFLICT (id) DO NOTHING",
    )
    .bind(event_id)
    .bind(kind)
    .bind(at)
    .execute(&mut *conn)
    .await?
    .rows_affected()
        == 1)
}
