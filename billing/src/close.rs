//! Period close: every organization's month of rollups rated into invoices.
//!
//! Set-based at the edges and pure in the middle: one aggregate statement
//! reads the period's usage per organization, plan segment, meter and
//! dimension; [`rating::rate`] turns each organization's totals into lines;
//! invoices and lines are written in batches. An invoice is unique per
//! organization and period, so closing twice creates nothing the second time.
//! Adjustments of earlier invoices (usage corrected after they were issued,
//! [`crate::adjustment`]) go on each organization's next invoice; a close
//! and a correction never run at once ([`hold_off`]).
//! Each close is recorded in `period_closes`, owned here.

use std::collections::{BTreeMap, HashSet};

use chrono::{DateTime, Utc};
use futures::StreamExt;
use futures::future::BoxFuture;
use rust_decimal::Decimal;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::catalog::PlanId;
use crate::catalog_store::Published;
use crate::invoice::Invoice;
use crate::rating::{self, PlanPeriod, RatedInvoice, UsageTotal};
use crate::{Error, Period, Result};
use crate::{adjustment, credit, plan_history};
use metering::rollups;

/// `pg_advisory_lock` key of the period close ("qmclose").
pub(crate) const LOCK_KEY: i64 = 0x71_6d63_6c6f_7365;
/// Invoices written per transaction.
const BATCH: usize = 500;
/// Transactions writing invoices at once.
const WRITERS: usize = 3;

#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct CloseReport {
    pub organizations: usize,
    pub created: usize,
    pub already_closed: usize,
    pub nothing_to_bill: usize,
    /// Organizations whose usage could not be rated, and why. Their invoice
    /// is not written; a later close retries them.
    pub failed: Vec<(Uuid, String)>,
    pub rollup_rows: i64,
    pub billed_minor: i64,
    pub finalized: u64,
}

/// Progress of a close: invoices written so far, of how many.
pub type Progress<'a> = &'a mut (dyn FnMut(usize, usize) + Send);

/// Told of the invoices a close opens for payment, in the transaction that
/// opens them: what it records (the control plane's webhook events) commits
/// or rolls back with them.
pub trait Finalizing: Send + Sync {
    fn opened<'a>(
        &'a self,
        conn: &'a mut PgConnection,
        invoices: &'a [Invoice],
    ) -> BoxFuture<'a, Result<()>>;
}

/// The earliest time `period` may be closed: once usage arriving late
/// can no longer change it.
pub fn closes_at(period: Period) -> DateTime<Utc> {
    period.end() + metering::ingest::DEFAULT_LATENESS
}

/// Closes `period` for every organization. With `finalize`, the new
/// invoices are opened for payment at once (those that credits paid in full
/// are paid), and it is told of them; without, they stay drafts for review.
#[tracing::instrument(name = "billing close", skip_all, fields(%period, finalize = finalize.is_some()))]
pub async fn close(
    pool: &PgPool,
    published: &Published,
    period: Period,
    now: DateTime<Utc>,
    finalize: Option<&dyn Finalizing>,
    progress: Progress<'_>,
) -> Result<CloseReport> {
    if now < closes_at(period) {
        return Err(Error::PeriodOpen {
            period,
            closes_at: closes_at(period),
        });
    }
    // Detached: if this process dies, the connection and the lock go with it.
    let mut lock = pool.acquire().await?.detach();
    let held: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
        .bind(LOCK_KEY)
        .fetch_one(&mut lock)
        .await?;
    if !held {
        return Err(Error::CloseRunning);
    }
    // One consistent snapshot of the period, however long it takes to read.
    let mut read = pool.begin().await?;
    sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        .execute(&mut *read)
        .await?;
    sqlx::query("SET LOCAL statement_timeout = '1h'")
        .execute(&mut *read)
        .await?;
    let closed: HashSet<Uuid> = sqlx::query_scalar(
        "SELECT organization_id FROM invoices WHERE period_start = $1 AND kind = 'period'",
    )
    .bind(period.start())
    .fetch_all(&mut *read)
    .await?
    .into_iter()
    .collect();
    // Organizations invoiced already are not rated again: a second close of
    // a closed period reads the plan history and stops.
    let (rated, already_closed) = rate_all(
        &mut read,
        published,
        period,
        None,
        &closed,
        now,
        Rating::Closing,
    )
    .await?;
    read.commit().await?;

    let mut report = CloseReport {
        organizations: rated.len() + already_closed,
        already_closed,
        ..CloseReport::default()
    };
    let mut to_write = Vec::new();
    for (organization_id, outcome) in rated {
        match outcome {
            Err(err) => report.failed.push((organization_id, err.to_string())),
            Ok((invoice, _)) if invoice.is_empty() => report.nothing_to_bill += 1,
            Ok((invoice, rows)) => {
                report.rollup_rows += rows;
                to_write.push((organization_id, invoice));
            }
        }
    }
    let total = to_write.len();
    let mut done = 0;
    // Batches touch disjoint organizations, so they commit independently:
    // a few at once keep PostgreSQL's writer busy while another waits.
    // Owned batches: a stream of futures borrowing one `Vec` is not `Send`
    // for every lifetime, as a spawned close must be.
    let mut writing = futures::stream::iter(batches(to_write, BATCH).into_iter().map(
        |chunk| async move {
            let mut tx = pool.begin().await?;
            let written = write(&mut tx, published, period, &chunk).await?;
            tx.commit().await?;
            Ok::<_, Error>((chunk, written))
        },
    ))
    .buffer_unordered(WRITERS);
    while let Some(batch) = writing.next().await {
        let (chunk, written) = batch?;
        report.created += written.len();
        report.billed_minor += chunk
            .iter()
            .filter(|(org, _)| written.contains(org))
            .map(|(_, i)| i.total_minor)
            .sum::<i64>();
        report.already_closed += chunk.len() - written.len();
        done += chunk.len();
        progress(done, total);
    }
    if let Some(hook) = finalize {
        let mut tx = pool.begin().await?;
        let opened = finalize_drafts(&mut tx, period, now).await?;
        hook.opened(&mut tx, &opened).await?;
        tx.commit().await?;
        report.finalized = opened.len() as u64;
    }
    let mut conn = pool.acquire().await?;
    sqlx::query(
        "INSERT INTO period_closes (period_start, closed_at, report) VALUES ($1, $2, $3)
         ON CONFLICT (period_start) DO UPDATE SET closed_at = $2, report = $3",
    )
    .bind(period.start())
    .bind(now)
    .bind(serde_json::to_value(&report).unwrap_or_default())
    .execute(&mut *conn)
    .await?;
    sqlx::query("SELECT pg_advisory_unlock($1)")
        .bind(LOCK_KEY)
        .execute(&mut lock)
        .await?;
    tracing::info!(
        %period,
        created = report.created,
        already_closed = report.already_closed,
        failed = report.failed.len(),
        "period closed"
    );
    Ok(report)
}

/// `items` in order, in batches of `size` (the last may be shorter), each
/// holding only its own items.
fn batches<T>(items: Vec<T>, size: usize) -> Vec<Vec<T>> {
    let mut batches = Vec::with_capacity(items.len().div_ceil(size));
    let mut rest = items.into_iter().peekable();
    while rest.peek().is_some() {
        batches.push(rest.by_ref().take(size).collect());
    }
    batches
}

/// Holds off period closes until the caller's transaction ends, so that
/// what it decides from whether a period was invoiced stays true until it
/// commits; refused while a close runs.
pub async fn hold_off(conn: &mut PgConnection) -> Result<()> {
    let held: bool = sqlx::query_scalar("SELECT pg_try_advisory_xact_lock_shared($1)")
        .bind(LOCK_KEY)
        .fetch_one(&mut *conn)
        .await?;
    if held {
        Ok(())
    } else {
        Err(Error::CloseRunning)
    }
}

/// Whether `period` has been closed (by hand or by the billing worker).
pub async fn is_closed(conn: &mut PgConnection, period: Period) -> Result<bool> {
    Ok(
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM period_closes WHERE period_start = $1)")
            .bind(period.start())
            .fetch_one(&mut *conn)
            .await?,
    )
}

/// Opens the period's drafts for payment; an invoice that credits paid in
/// full is paid at once (Stripe does the same with a zero total). Returns
/// the invoices it opened.
pub async fn finalize_drafts(
    conn: &mut PgConnection,
    period: Period,
    now: DateTime<Utc>,
) -> Result<Vec<Invoice>> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "UPDATE invoices
         SET status = CASE WHEN total_minor = 0 THEN 'paid' ELSE 'open' END,
             finalized_at = $2, due_at = $2,
             paid_at = CASE WHEN total_minor = 0 THEN $2 END
         WHERE period_start = $1 AND status = 'draft'
         RETURNING {}",
        crate::invoice::COLUMNS
    )))
    .bind(period.start())
    .bind(now)
    .fetch_all(&mut *conn)
    .await?)
}

/// An organization's bill for the period so far: what closing it at `now`
/// would invoice (the base fee in full, usage up to now).
pub async fn estimate(
    conn: &mut PgConnection,
    published: &Published,
    organization_id: Uuid,
    period: Period,
    now: DateTime<Utc>,
) -> Result<RatedInvoice> {
    let (mut rated, _) = rate_all(
        conn,
        published,
        period,
        Some(organization_id),
        &HashSet::new(),
        now,
        Rating::Closing,
    )
    .await?;
    match rated.pop() {
        Some((_, outcome)) => Ok(outcome?.0),
        None => Ok(RatedInvoice {
            lines: Vec::new(),
            subtotal_minor: 0,
            credits_minor: 0,
            total_minor: 0,
        }),
    }
}

pub(crate) type Rated = (RatedInvoice, i64);

/// Which invoice of the period [`rate_all`] rates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Rating {
    /// The close's: base fees, usage, less interim invoices, adjustments.
    Closing,
    /// An interim invoice's: usage so far, less earlier interim invoices.
    Interim,
}

/// Rates the period for every organization (or one) but those in `skip`,
/// reading plan history, usage, interim invoices and credits with one
/// statement each, with the credit usable at `at`; also how many were
/// skipped.
pub(crate) async fn rate_all(
    conn: &mut PgConnection,
    published: &Published,
    period: Period,
    only: Option<Uuid>,
    skip: &HashSet<Uuid>,
    at: DateTime<Utc>,
    rating: Rating,
) -> Result<(Vec<(Uuid, Result<Rated, rating::RatingError>)>, usize)> {
    let catalog = &published.catalog;
    let history = plan_history::overlapping(conn, period, only).await?;
    let mut plans: BTreeMap<Uuid, Vec<PlanPeriod<'_>>> = BTreeMap::new();
    let mut unknown: BTreeMap<Uuid, String> = BTreeMap::new();
    let mut skipped = HashSet::new();
    for (organization_id, plan, valid_from, valid_to) in history {
        if skip.contains(&organization_id) {
            skipped.insert(organization_id);
            continue;
        }
        match catalog.plan(&PlanId::from(plan.clone())) {
            Some(plan) => plans.entry(organization_id).or_default().push(PlanPeriod {
                plan,
                valid_from,
                valid_to,
            }),
            None => {
                unknown.insert(organization_id, plan);
            }
        }
    }
    if plans.is_empty() && unknown.is_empty() {
        return Ok((Vec::new(), skipped.len()));
    }
    let segments: BTreeMap<Uuid, Vec<rating::Segment<'_>>> = plans
        .iter()
        .map(|(org, history)| (*org, rating::segments(period, history)))
        .collect();
    let usage = usage_totals(conn, period, only, &segments).await?;
    let credits = credit::remaining(conn, only, at).await?;
    // Adjustments wait for the close's invoice; an interim one never reads them.
    let pending = match rating {
        Rating::Closing => adjustment::pending(conn, only).await?,
        Rating::Interim => BTreeMap::new(),
    };
    let billed = crate::interim::billed(conn, period, only).await?;

    let mut out = Vec::with_capacity(plans.len());
    for (organization_id, segments) in segments {
        if let Some(plan) = unknown.get(&organization_id) {
            out.push((
                organization_id,
                Err(rating::RatingError::UnknownPlan(plan.clone())),
            ));
            continue;
        }
        let usage = usage.get(&organization_id).map_or(&[][..], Vec::as_slice);
        let credits = credits.get(&organization_id).map_or(&[][..], Vec::as_slice);
        let pending = pending.get(&organization_id).map_or(&[][..], Vec::as_slice);
        let billed = billed.get(&organization_id).map_or(&[][..], Vec::as_slice);
        let rows = usage.iter().map(|u| u.rows).sum();
        let rated = match rating {
            Rating::Closing => {
                rating::rate_closing(catalog, period, &segments, usage, billed, pending, credits)
            }
            Rating::Interim => {
                rating::rate_interim(catalog, period, &segments, usage, billed, credits)
            }
        };
        let outcome = rated.map(|invoice| (invoice, rows));
        out.push((organization_id, outcome));
    }
    Ok((out, skipped.len()))
}

/// The period's rollups summed per organization, plan segment (by the hour
/// it starts rating from), meter and dimension. Each segment's hours are
/// [`rating::Segment::usage_hours`], computed here, so the rule lives in
/// one place.
///
/// Most organizations are on one plan for the whole period: their rollups
/// are summed by one aggregate over the period (a parallel scan, as fast as
/// reading the rollups at all). Only organizations with a plan change or a
/// partial period take the segment-by-segment statement.
async fn usage_totals(
    conn: &mut PgConnection,
    period: Period,
    only: Option<Uuid>,
    segments: &BTreeMap<Uuid, Vec<rating::Segment<'_>>>,
) -> Result<BTreeMap<Uuid, Vec<UsageTotal>>> {
    let whole = (period.start(), period.end());
    let mut spans = Vec::new();
    for (org, segments) in segments {
        let hours: Vec<_> = segments.iter().map(rating::Segment::usage_hours).collect();
        if hours == [whole] {
            continue;
        }
        spans.extend(
            hours
                .into_iter()
                .filter(|(from, to)| from < to)
                .map(|(from, to)| (*org, from, to)),
        );
    }
    let split: HashSet<Uuid> = spans.iter().map(|(org, _, _)| *org).collect();
    let mut found = rollups::totals(conn, whole.0, whole.1, only).await?;
    found.retain(|t| {
        !split.contains(&t.organization_id) && segments.contains_key(&t.organization_id)
    });
    found.extend(rollups::totals_in_spans(conn, &spans).await?);
    let mut totals: BTreeMap<Uuid, Vec<UsageTotal>> = BTreeMap::new();
    for t in found {
        totals
            .entry(t.organization_id)
            .or_default()
            .push(UsageTotal {
                usage_from: t.from,
                meter: t.meter,
                dimension: t.dimension,
                price_list: t.price_list,
                rows: t.rows,
                quantity: t.quantity,
            });
    }
    Ok(totals)
}

/// Writes drafts for `chunk`; returns the organizations whose invoice was
/// written (another close may have written some meanwhile).
async fn write(
    conn: &mut PgConnection,
    published: &Published,
    period: Period,
    chunk: &[(Uuid, RatedInvoice)],
) -> Result<HashSet<Uuid>> {
    let ids: Vec<Uuid> = chunk.iter().map(|_| Uuid::now_v7()).collect();
    let orgs: Vec<Uuid> = chunk.iter().map(|(o, _)| *o).collect();
    let subtotals: Vec<i64> = chunk.iter().map(|(_, i)| i.subtotal_minor).collect();
    let credits: Vec<i64> = chunk.iter().map(|(_, i)| i.credits_minor).collect();
    let totals: Vec<i64> = chunk.iter().map(|(_, i)| i.total_minor).collect();
    let written: Vec<(Uuid, Uuid)> = sqlx::query_as(
        "INSERT INTO invoices (id, organization_id, period_start, period_end, currency,
                               subtotal_minor, credits_minor, total_minor, catalog_version)
         SELECT id, org, $3, $4, $5, subtotal, credits, total, $6
         FROM UNNEST($1::uuid[], $2::uuid[], $7::bigint[], $8::bigint[], $9::bigint[])
              AS t(id, org, subtotal, credits, total)
         ON CONFLICT (organization_id, period_start) WHERE kind = 'period' DO NOTHING
         RETURNING id, organization_id",
    )
    .bind(&ids)
    .bind(&orgs)
    .bind(period.start())
    .bind(period.end())
    .bind(&published.catalog.currency)
    .bind(published.version)
    .bind(&subtotals)
    .bind(&credits)
    .bind(&totals)
    .fetch_all(&mut *conn)
    .await?;
    let invoice_of: BTreeMap<Uuid, Uuid> = written.iter().map(|&(id, org)| (org, id)).collect();
    let invoices: Vec<(Uuid, &RatedInvoice)> = chunk
        .iter()
        .filter_map(|(org, invoice)| Some((*invoice_of.get(org)?, invoice)))
        .collect();
    write_lines(conn, &invoices).await?;
    Ok(invoice_of.into_keys().collect())
}

/// Writes the lines of each `(invoice id, rated invoice)`, in one statement.
pub(crate) async fn write_lines(
    conn: &mut PgConnection,
    invoices: &[(Uuid, &RatedInvoice)],
) -> Result<()> {
    let mut l = Lines::default();
    for (invoice_id, invoice) in invoices {
        for (n, line) in invoice.lines.iter().enumerate() {
            l.push(*invoice_id, n, line);
        }
    }
    sqlx::query(
        "INSERT INTO invoice_lines (invoice_id, line_no, kind, description, plan, meter, dimension,
                                    usage_from, usage_to, rollup_rows, rollup_quantity,
                                    included_quantity, quantity, unit, unit_amount_minor,
                                    amount_minor, credit_id, adjusts_invoice_id,
                                    adjusts_line_no, correction_id, billed_invoice_id, price_list)
         SELECT * FROM UNNEST($1::uuid[], $2::int[], $3::text[], $4::text[], $5::text[],
                              $6::text[], $7::text[], $8::timestamptz[], $9::timestamptz[],
                              $10::bigint[], $11::numeric[], $12::numeric[], $13::numeric[],
                              $14::text[], $15::bigint[], $16::bigint[], $17::uuid[],
                              $18::uuid[], $19::int[], $20::uuid[], $21::uuid[], $22::text[])",
    )
    .bind(&l.invoice_id)
    .bind(&l.line_no)
    .bind(&l.kind)
    .bind(&l.description)
    .bind(&l.plan)
    .bind(&l.meter)
    .bind(&l.dimension)
    .bind(&l.usage_from)
    .bind(&l.usage_to)
    .bind(&l.rollup_rows)
    .bind(&l.rollup_quantity)
    .bind(&l.included_quantity)
    .bind(&l.quantity)
    .bind(&l.unit)
    .bind(&l.unit_amount_minor)
    .bind(&l.amount_minor)
    .bind(&l.credit_id)
    .bind(&l.adjusts_invoice_id)
    .bind(&l.adjusts_line_no)
    .bind(&l.correction_id)
    .bind(&l.billed_invoice_id)
    .bind(&l.price_list)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Invoice lines as columns, for one `UNNEST` insert.
#[derive(Default)]
struct Lines {
    invoice_id: Vec<Uuid>,
    line_no: Vec<i32>,
    kind: Vec<&'static str>,
    description: Vec<String>,
    plan: Vec<Option<String>>,
    meter: Vec<Option<&'static str>>,
    dimension: Vec<Option<String>>,
    usage_from: Vec<Option<DateTime<Utc>>>,
    usage_to: Vec<Option<DateTime<Utc>>>,
    rollup_rows: Vec<Option<i64>>,
    rollup_quantity: Vec<Option<Decimal>>,
    included_quantity: Vec<Option<Decimal>>,
    quantity: Vec<Decimal>,
    unit: Vec<String>,
    unit_amount_minor: Vec<i64>,
    amount_minor: Vec<i64>,
    credit_id: Vec<Option<Uuid>>,
    adjusts_invoice_id: Vec<Option<Uuid>>,
    adjusts_line_no: Vec<Option<i32>>,
    correction_id: Vec<Option<Uuid>>,
    billed_invoice_id: Vec<Option<Uuid>>,
    price_list: Vec<Option<String>>,
}

impl Lines {
    fn push(&mut self, invoice_id: Uuid, n: usize, line: &rating::Line) {
        let source = line.source.as_ref();
        self.invoice_id.push(invoice_id);
        self.line_no.push(i32::try_from(n + 1).unwrap_or(i32::MAX));
        self.kind.push(line.kind.as_str());
        self.description.push(line.description.clone());
        self.plan.push(line.plan.clone());
        self.meter.push(source.map(|s| s.meter.as_str()));
        self.dimension.push(source.map(|s| s.dimension.clone()));
        self.price_list
            .push(source.and_then(|s| s.price_list.clone()));
        self.usage_from.push(source.map(|s| s.from));
        self.usage_to.push(source.map(|s| s.to));
        self.rollup_rows.push(source.map(|s| s.rows));
        self.rollup_quantity.push(source.map(|s| s.quantity));
        self.included_quantity.push(source.map(|s| s.included));
        self.quantity.push(line.quantity);
        self.unit.push(line.unit.clone());
        self.unit_amount_minor.push(line.unit_amount_minor);
        self.amount_minor.push(line.amount_minor);
        self.credit_id.push(line.credit_id);
        self.adjusts_invoice_id
            .push(line.adjusts.map(|a| a.invoice_id));
        self.adjusts_line_no.push(line.adjusts.map(|a| a.line_no));
        self.correction_id
            .push(line.adjusts.map(|a| a.correction_id));
        self.billed_invoice_id.push(line.billed_invoice);
    }
}

#[cfg(test)]
mod tests {
    use super::batches;

    #[test]
    fn batches_keep_the_order_and_hold_only_their_own_items() {
        let split = batches((0..1_001).collect::<Vec<u32>>(), 500);
        assert_eq!(
            split.iter().map(Vec::len).collect::<Vec<_>>(),
            [500, 500, 1]
        );
        assert_eq!(split.concat(), (0..1_001).collect::<Vec<_>>());
        // Splitting off the tail left each head with the whole vector's
        // buffer: resident memory grew with the square of the organizations
        // (560 MiB for 100,000).
        assert!(
            split.iter().all(|b| b.capacity() <= 500),
            "{:?}",
            split.iter().map(Vec::capacity).collect::<Vec<_>>()
        );
        assert!(batches(Vec::<u32>::new(), 500).is_empty());
    }
}
