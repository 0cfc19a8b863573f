//! Invoices: their life cycle, and reading them back with their lines and
//! the rollups each line rated. The `invoices` and `invoice_lines` tables
//! are billing's: the control plane reads and moves invoices through here.

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::Serialize;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::dunning::Unpaid;
use crate::{Error, Result};

/// draft → open → paid | void | uncollectible, as Stripe's invoices move.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum InvoiceStatus {
    Draft,
    Open,
    Paid,
    Void,
    Uncollectible,
}

/// What may happen to an invoice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InvoiceEvent {
    Finalize,
    Pay,
    Void,
    MarkUncollectible,
}

impl InvoiceStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            InvoiceStatus::Draft => "draft",
            InvoiceStatus::Open => "open",
            InvoiceStatus::Paid => "paid",
            InvoiceStatus::Void => "void",
            InvoiceStatus::Uncollectible => "uncollectible",
        }
    }

    /// The status after `event`, or `None` where the life cycle forbids it.
    /// Paying a paid invoice again is allowed and changes nothing, so that a
    /// redelivered payment event is harmless.
    pub fn after(self, event: InvoiceEvent) -> Option<InvoiceStatus> {
        use InvoiceEvent as E;
        use InvoiceStatus as S;
        match (self, event) {
            (S::Draft, E::Finalize) => Some(S::Open),
            (S::Draft | S::Open | S::Uncollectible, E::Void) => Some(S::Void),
            (S::Open | S::Uncollectible | S::Paid, E::Pay) => Some(S::Paid),
            (S::Open, E::MarkUncollectible) => Some(S::Uncollectible),
            _ => None,
        }
    }
}

impl fmt::Display for InvoiceStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for InvoiceEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            InvoiceEvent::Finalize => "finalized",
            InvoiceEvent::Pay => "paid",
            InvoiceEvent::Void => "voided",
            InvoiceEvent::MarkUncollectible => "marked uncollectible",
        })
    }
}

impl TryFrom<String> for InvoiceStatus {
    type Error = String;

    fn try_from(value: String) -> Result<Self, String> {
        [
            InvoiceStatus::Draft,
            InvoiceStatus::Open,
            InvoiceStatus::Paid,
            InvoiceStatus::Void,
            InvoiceStatus::Uncollectible,
        ]
        .into_iter()
        .find(|s| s.as_str() == value)
        .ok_or(value)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct Invoice {
    pub id: Uuid,
    pub organization_id: Uuid,
    pub number: String,
    pub period_start: DateTime<Utc>,
    pub period_end: DateTime<Utc>,
    pub currency: String,
    /// `period` (the close's) or `interim` (issued when unbilled usage
    /// reached the plan's threshold).
    pub kind: String,
    /// An interim invoice's: the usage it rated is that of the hours
    /// before this.
    pub usage_to: Option<DateTime<Utc>>,
    #[sqlx(try_from = "String")]
    pub status: InvoiceStatus,
    pub subtotal_minor: i64,
    pub credits_minor: i64,
    pub total_minor: i64,
    pub catalog_version: i64,
    pub provider_invoice_id: Option<String>,
    pub created_at: DateTime<Utc>,
    pub finalized_at: Option<DateTime<Utc>>,
    pub due_at: Option<DateTime<Utc>>,
    pub paid_at: Option<DateTime<Utc>>,
    pub payment_failed_at: Option<DateTime<Utc>>,
    pub payment_error: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct StoredLine {
    pub line_no: i32,
    pub kind: String,
    pub description: String,
    pub plan: Option<String>,
    pub meter: Option<String>,
    pub dimension: Option<String>,
    /// A usage line's price list, when it was not priced by the catalog's
    /// own prices.
    pub price_list: Option<String>,
    pub usage_from: Option<DateTime<Utc>>,
    pub usage_to: Option<DateTime<Utc>>,
    pub rollup_rows: Option<i64>,
    pub rollup_quantity: Option<Decimal>,
    pub included_quantity: Option<Decimal>,
    pub quantity: Decimal,
    pub unit: String,
    pub unit_amount_minor: i64,
    pub amount_minor: i64,
    pub credit_id: Option<Uuid>,
    /// An adjustment line's: the invoice and line it adjusts, and the
    /// usage correction behind it.
    pub adjusts_invoice_id: Option<Uuid>,
    pub adjusts_line_no: Option<i32>,
    pub correction_id: Option<Uuid>,
    /// An interim line's: the interim invoice of the period it deducts.
    pub billed_invoice_id: Option<Uuid>,
}

/// One hourly rollup behind a usage line.
pub use metering::rollups::Rollup;

pub(crate) const COLUMNS: &str = "id, organization_id, number, period_start, period_end, currency,
        kind, usage_to, status, subtotal_minor, credits_minor, total_minor, catalog_version,
        provider_invoice_id, created_at, finalized_at, due_at, paid_at,
        payment_failed_at, payment_error";

/// An organization's invoices, newest period first. Drafts are not shown
/// to customers.
pub async fn list(conn: &mut PgConnection, organization_id: Uuid) -> Result<Vec<Invoice>> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM invoices WHERE organization_id = $1 AND status <> 'draft'
         ORDER BY period_start DESC, created_at DESC"
    )))
    .bind(organization_id)
    .fetch_all(&mut *conn)
    .await?)
}

pub async fn get(
    conn: &mut PgConnection,
    organization_id: Uuid,
    id: Uuid,
) -> Result<Option<(Invoice, Vec<StoredLine>)>> {
    let invoice: Option<Invoice> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM invoices WHERE organization_id = $1 AND id = $2 AND status <> 'draft'"
    )))
    .bind(organization_id)
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(invoice) = invoice else {
        return Ok(None);
    };
    let lines = sqlx::query_as(
        "SELECT line_no, kind, description, plan, meter, dimension, price_list, usage_from, usage_to,
                rollup_rows, rollup_quantity, included_quantity, quantity, unit,
                unit_amount_minor, amount_minor, credit_id, adjusts_invoice_id,
                adjusts_line_no, correction_id, billed_invoice_id
         FROM invoice_lines WHERE invoice_id = $1 ORDER BY line_no",
    )
    .bind(id)
    .fetch_all(&mut *conn)
    .await?;
    Ok(Some((invoice, lines)))
}

/// The id of the organization's invoice of the period that starts at
/// `period_start` (the one the close writes, not an interim one), if one
/// was issued (drafts are not shown).
pub async fn of_period(
    conn: &mut PgConnection,
    organization_id: Uuid,
    period_start: DateTime<Utc>,
) -> Result<Option<Uuid>> {
    Ok(sqlx::query_scalar(
        "SELECT id FROM invoices
         WHERE organization_id = $1 AND period_start = $2 AND kind = 'period'
           AND status <> 'draft'",
    )
    .bind(organization_id)
    .bind(period_start)
    .fetch_optional(&mut *conn)
    .await?)
}

/// The usage corrections of a usage line's meter in its hours: those in
/// its rollups, and those adjusting it since.
pub async fn line_corrections(
    conn: &mut PgConnection,
    organization_id: Uuid,
    line: &StoredLine,
) -> Result<Vec<metering::corrections::Correction>> {
    let (Some(meter), Some(from), Some(to)) = (&line.meter, line.usage_from, line.usage_to) else {
        return Ok(Vec::new());
    };
    Ok(metering::corrections::of_hours(conn, organization_id, meter, from, to).await?)
}

/// The rollups a usage line rated, read back from metering.
pub async fn line_rollups(
    conn: &mut PgConnection,
    organization_id: Uuid,
    line: &StoredLine,
) -> Result<Vec<Rollup>> {
    let (Some(meter), Some(dimension), Some(from), Some(to)) =
        (&line.meter, &line.dimension, line.usage_from, line.usage_to)
    else {
        return Ok(Vec::new());
    };
    Ok(metering::rollups::hours(
        conn,
        organization_id,
        (meter, dimension),
        line.price_list.as_deref(),
        from,
        to,
    )
    .await?)
}

/// Organization, number, total, currency, due at.
type OpenRow = (Uuid, String, i64, String, Option<DateTime<Utc>>);

/// The open invoices of every organization that has one, for dunning to
/// judge: one statement however many there are.
pub async fn unpaid(conn: &mut PgConnection) -> Result<BTreeMap<Uuid, Vec<Unpaid>>> {
    let rows: Vec<OpenRow> = sqlx::query_as(
        "SELECT organization_id, number, total_minor, currency, due_at
         FROM invoices WHERE status = 'open' ORDER BY organization_id",
    )
    .fetch_all(&mut *conn)
    .await?;
    let mut by_org: BTreeMap<Uuid, Vec<Unpaid>> = BTreeMap::new();
    for (organization_id, number, total_minor, currency, due_at) in rows {
        let unpaid = by_org.entry(organization_id).or_default();
        // Opening an invoice sets its due date; one without is not due.
        if let Some(due_at) = due_at {
            unpaid.push(Unpaid {
                number,
                total_minor,
                currency,
                due_at,
            });
        }
    }
    Ok(by_org)
}

/// What an organization owes and holds, as the platform's administrators
/// see it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Balance {
    /// The sum of its open invoices.
    pub open_minor: i64,
    /// Credit granted and not yet used by an invoice that stands, nor
    /// expired: the sum of its ledger.
    pub credit_minor: i64,
}

/// The balance of each of `organizations`, in one statement.
pub async fn balances(
    conn: &mut PgConnection,
    organizations: &[Uuid],
) -> Result<HashMap<Uuid, Balance>> {
    let rows: Vec<(Uuid, i64, i64)> = sqlx::query_as(
        "SELECT o.id,
                coalesce((SELECT sum(i.total_minor) FROM invoices i
                          WHERE i.organization_id = o.id AND i.status = 'open'), 0)::bigint,
                coalesce((SELECT sum(g.amount_minor) FROM credit_ledger g
                          WHERE g.organization_id = o.id), 0)::bigint
         FROM UNNEST($1::uuid[]) AS o(id)",
    )
    .bind(organizations)
    .fetch_all(&mut *conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(id, open_minor, credit_minor)| {
            (
                id,
                Balance {
                    open_minor,
                    credit_minor,
                },
            )
        })
        .collect())
}

/// Organizations by the sum of their open invoices, most first (ties by
/// id, descending), after `after` and at most `limit`. Open invoices are
/// few and indexed (`invoices_unpaid_idx`), so this reads only them.
pub async fn unpaid_ranking(
    conn: &mut PgConnection,
    after: Option<(i64, Uuid)>,
    limit: i64,
) -> Result<Vec<(Uuid, i64)>> {
    let (owed, id) = after.unwrap_or((i64::MAX, Uuid::max()));
    Ok(sqlx::query_as(
        "SELECT organization_id, sum(total_minor)::bigint AS owed FROM invoices
         WHERE status = 'open'
         GROUP BY organization_id
         HAVING sum(total_minor) > 0 AND (sum(total_minor), organization_id) < ($1, $2)
         ORDER BY owed DESC, organization_id DESC LIMIT $3",
    )
    .bind(owed)
    .bind(id)
    .bind(limit)
    .fetch_all(&mut *conn)
    .await?)
}

/// Moves an invoice along its life cycle, in the caller's transaction.
/// Returns the invoice as it now is; `Ok(None)` if there is no such invoice.
pub async fn apply(
    conn: &mut PgConnection,
    id: Uuid,
    event: InvoiceEvent,
    now: DateTime<Utc>,
) -> Result<Option<Invoice>> {
    let current: Option<Invoice> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM invoices WHERE id = $1 FOR UPDATE"
    )))
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(current) = current else {
        return Ok(None);
    };
    let next = current
        .status
        .after(event)
        .ok_or_else(|| Error::Transition {
            number: current.number.clone(),
            from: current.status,
            event,
        })?;
    if next == current.status {
        return Ok(Some(current));
    }
    let updated = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "UPDATE invoices SET status = $2,
             finalized_at = CASE WHEN $2 = 'open' THEN $3 ELSE finalized_at END,
             due_at = CASE WHEN $2 = 'open' THEN $3 ELSE due_at END,
             paid_at = CASE WHEN $2 = 'paid' THEN $3 ELSE paid_at END,
             voided_at = CASE WHEN $2 = 'void' THEN $3 ELSE voided_at END
         WHERE id = $1
         RETURNING {COLUMNS}"
    )))
    .bind(id)
    .bind(next.as_str())
    .bind(now)
    .fetch_one(&mut *conn)
    .await?;
    Ok(Some(updated))
}

/// Records a failed payment attempt; the invoice stays open. Returns it,
/// unless it was not open.
pub async fn payment_failed(
    conn: &mut PgConnection,
    id: Uuid,
    error: &str,
    now: DateTime<Utc>,
) -> Result<Option<Invoice>> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "UPDATE invoices SET payment_failed_at = coalesce(payment_failed_at, $2), payment_error = $3
         WHERE id = $1 AND status = 'open'
         RETURNING {COLUMNS}"
    )))
    .bind(id)
    .bind(now)
    .bind(error)
    .fetch_optional(&mut *conn)
    .await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_life_cycle_follows_stripe() {
        use InvoiceEvent as E;
        use InvoiceStatus as S;
        assert_eq!(S::Draft.after(E::Finalize), Some(S::Open));
        assert_eq!(S::Open.after(E::Pay), Some(S::Paid));
        assert_eq!(S::Open.after(E::MarkUncollectible), Some(S::Uncollectible));
        assert_eq!(S::Uncollectible.after(E::Pay), Some(S::Paid));
        assert_eq!(
            S::Paid.after(E::Pay),
            Some(S::Paid),
            "redelivery is harmless"
        );
        // A paid or void invoice is final; a draft cannot be paid.
        assert_eq!(S::Paid.after(E::Void), None);
        assert_eq!(S::Void.after(E::Pay), None);
        assert_eq!(S::Draft.after(E::Pay), None);
        assert_eq!(S::Open.after(E::Finalize), None);
    }

    #[test]
    fn statuses_round_trip_through_their_stored_names() {
        for s in ["draft", "open", "paid", "void", "uncollectible"] {
            assert_eq!(InvoiceStatus::try_from(s.to_owned()).unwrap().as_str(), s);
        }
        assert!(InvoiceStatus::try_from("settled".to_owned()).is_err());
    }
}
