//! Threshold invoicing: an interim invoice as soon as a period's usage
//! charges not yet invoiced reach the plan's `threshold_invoice_minor`,
//! charged at once like any open invoice (and dunned like one). For a
//! seller of GPU-hours it is the defence against a stolen card running
//! GPUs for a month. The rule is [`crate::rating::interim`]; this reads and
//! writes the invoices.

use std::collections::{BTreeMap, HashSet};

use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::catalog::PlanId;
use crate::catalog_store::Published;
use crate::close::{self, Rating};
use crate::invoice::Invoice;
use crate::rating::interim::{self, Billed};
use crate::{Period, Result, plan_history};

/// Key space of the per-organization lock that keeps two workers from
/// issuing the same interim invoice ("qmin").
const LOCK_SPACE: i32 = 0x716d_696e;

/// The interim invoices of `period` that stand (not void), per
/// organization (every one, or `only`), oldest first.
pub async fn billed(
    conn: &mut PgConnection,
    period: Period,
    only: Option<Uuid>,
) -> Result<BTreeMap<Uuid, Vec<Billed>>> {
    let rows: Vec<(Uuid, Uuid, String, i64)> = sqlx::query_as(
        "SELECT organization_id, id, number, subtotal_minor FROM invoices
         WHERE kind = 'interim' AND period_start = $1 AND status <> 'void'
           AND ($2::uuid IS NULL OR organization_id = $2)
         ORDER BY organization_id, created_at, id",
    )
    .bind(period.start())
    .bind(only)
    .fetch_all(&mut *conn)
    .await?;
    let mut by_org: BTreeMap<Uuid, Vec<Billed>> = BTreeMap::new();
    for (organization_id, invoice_id, number, amount_minor) in rows {
        by_org.entry(organization_id).or_default().push(Billed {
            invoice_id,
            number,
            amount_minor,
        });
    }
    Ok(by_org)
}

/// Issues the organization's interim invoice if its usage so far in the
/// period of `now`, less what earlier interim invoices billed, has reached
/// its plan's threshold; in the caller's transaction. The invoice is open
/// for payment at once (paid, if credit covered it).
pub async fn issue(
    conn: &mut PgConnection,
    published: &Published,
    organization_id: Uuid,
    now: DateTime<Utc>,
) -> Result<Option<Invoice>> {
    sqlx::query("SELECT pg_advisory_xact_lock($1, hashtext($2::text))")
        .bind(LOCK_SPACE)
        .bind(organization_id)
        .execute(&mut *conn)
        .await?;
    let period = Period::containing(now);
    let history = plan_history::overlapping(conn, period, Some(organization_id)).await?;
    let threshold = history
        .iter()
        .find(|(_, _, from, to)| *from <= now && to.is_none_or(|to| now < to))
        .and_then(|(_, plan, _, _)| published.catalog.plan(&PlanId::from(plan.clone())))
        .and_then(|plan| plan.threshold_invoice_minor);
    if threshold.is_none() {
        return Ok(None);
    }
    let (mut rated, _) = close::rate_all(
        conn,
        published,
        period,
        Some(organization_id),
        &HashSet::new(),
        now,
        Rating::Interim,
    )
    .await?;
    let Some((_, Ok((invoice, _)))) = rated.pop() else {
        return Ok(None);
    };
    if !interim::due(threshold, invoice.subtotal_minor) {
        return Ok(None);
    }
    let issued: Invoice = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "INSERT INTO invoices (id, organization_id, period_start, period_end, currency, kind,
                               usage_to, status, subtotal_minor, credits_minor, total_minor,
                               catalog_version, finalized_at, due_at, paid_at)
         VALUES ($1, $2, $3, $4, $5, 'interim', $6,
                 CASE WHEN $9 = 0 THEN 'paid' ELSE 'open' END, $7, $8, $9, $10, $6, $6,
                 CASE WHEN $9 = 0 THEN $6 END)
         RETURNING {}",
        crate::invoice::COLUMNS
    )))
    .bind(Uuid::now_v7())
    .bind(organization_id)
    .bind(period.start())
    .bind(period.end())
    .bind(&published.catalog.currency)
    .bind(now)
    .bind(invoice.subtotal_minor)
    .bind(invoice.credits_minor)
    .bind(invoice.total_minor)
    .bind(published.version)
    .fetch_one(&mut *conn)
    .await?;
    close::write_lines(conn, &[(issued.id, &invoice)]).await?;
    tracing::info!(organization = %organization_id, invoice = %issued.number,
        amount_minor = invoice.subtotal_minor, "interim invoice issued");
    Ok(Some(issued))
}
