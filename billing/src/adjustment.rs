//! Adjustments of invoiced usage: what a usage correction of an invoiced
//! period changes on each line, re-rated as that invoice was rated
//! ([`rating::adjustments`]), and what is still to put on a later invoice.
//! Owns `usage_adjustments`; the lines that apply them are adjustment
//! lines of `invoice_lines`, written by the period close.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use metering::Meter;
use metering::corrections::QuantityChange;
use rust_decimal::Decimal;
use serde::Serialize;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::catalog::PlanId;
use crate::rating::adjustments::{self, Adjusts, Billed, Pending};
use crate::rating::{self, PlanPeriod, RatingError, UsageTotal};
use crate::{Error, Period, Result, catalog_store, plan_history};

/// The organization's invoice of `period` from the close, unless there is
/// none or it was voided: whether its usage there was invoiced. Interim
/// invoices do not count: the close rates the corrected rollups and deducts
/// what they billed, so a correction before it needs no adjustment.
pub async fn invoiced(
    conn: &mut PgConnection,
    organization_id: Uuid,
    period: Period,
) -> Result<Option<Uuid>> {
    Ok(sqlx::query_scalar(
        "SELECT id FROM invoices
         WHERE organization_id = $1 AND period_start = $2 AND kind = 'period'
           AND status <> 'void'",
    )
    .bind(organization_id)
    .bind(period.start())
    .fetch_optional(&mut *conn)
    .await?)
}

/// One correction's adjustment of one invoiced line.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct Adjustment {
    pub correction_id: Uuid,
    pub invoice_id: Uuid,
    pub invoice_number: String,
    pub line_no: i32,
    pub rollup_quantity_before: Decimal,
    pub rollup_quantity_after: Decimal,
    pub quantity_before: Decimal,
    pub quantity_after: Decimal,
    pub amount_before_minor: i64,
    pub amount_after_minor: i64,
    pub amount_minor: i64,
    /// What invoices have applied of it so far.
    pub applied_minor: i64,
}

/// A usage line as it stands: as invoiced, with the adjustments recorded.
#[derive(sqlx::FromRow)]
struct LineNow {
    line_no: i32,
    meter: String,
    dimension: String,
    price_list: Option<String>,
    usage_from: DateTime<Utc>,
    usage_to: DateTime<Utc>,
    rollup_rows: i64,
    rollup_quantity: Decimal,
    quantity: Decimal,
    amount_minor: i64,
}

/// Records what `changes` (a correction of the invoiced period, per hour)
/// change on `invoice_id`'s usage lines, in the caller's transaction; the
/// invoice's row lock orders corrections of one invoice, so each is rated
/// after the ones before it. Changes to usage no line charged (a meter the
/// plan does not bill) adjust nothing.
pub async fn record(
    conn: &mut PgConnection,
    organization_id: Uuid,
    invoice_id: Uuid,
    (correction_id, resource_id): (Uuid, Uuid),
    changes: &[QuantityChange],
) -> Result<Vec<Adjustment>> {
    // The corrected resource's usage was priced on the lines of its price
    // list only.
    let price_list = metering::price_lists::of_resource(conn, organization_id, resource_id).await?;
    let (period_start, version): (DateTime<Utc>, i64) = sqlx::query_as(
        "SELECT period_start, catalog_version FROM invoices
         WHERE id = $1 AND organization_id = $2 FOR UPDATE",
    )
    .bind(invoice_id)
    .bind(organization_id)
    .fetch_one(&mut *conn)
    .await?;
    let period = Period::containing(period_start);
    let catalog = catalog_store::version(conn, version)
        .await?
        .ok_or(Error::Corrupt("catalog version of an invoice"))?;
    let history = plan_history::overlapping(conn, period, Some(organization_id)).await?;
    let mut plans = Vec::with_capacity(history.len());
    for (_, plan, valid_from, valid_to) in history {
        let plan = catalog
            .plan(&PlanId::from(plan.clone()))
            .ok_or(RatingError::UnknownPlan(plan))?;
        plans.push(PlanPeriod {
            plan,
            valid_from,
            valid_to,
        });
    }
    let segments = rating::segments(period, &plans);
    let lines: Vec<LineNow> = sqlx::query_as(
        "SELECT l.line_no, l.meter, l.dimension, l.price_list, l.usage_from, l.usage_to, l.rollup_rows,
                l.rollup_quantity + coalesce(sum(a.rollup_quantity_after - a.rollup_quantity_before), 0)
                    AS rollup_quantity,
                l.quantity + coalesce(sum(a.quantity_after - a.quantity_before), 0) AS quantity,
                l.amount_minor + coalesce(sum(a.amount_minor), 0)::bigint AS amount_minor
         FROM invoice_lines l
         LEFT JOIN usage_adjustments a ON (a.invoice_id, a.line_no) = (l.invoice_id, l.line_no)
         WHERE l.invoice_id = $1 AND l.kind = 'usage'
         GROUP BY l.invoice_id, l.line_no
         ORDER BY l.line_no",
    )
    .bind(invoice_id)
    .fetch_all(&mut *conn)
    .await?;
    let mut billed = Vec::with_capacity(lines.len());
    let mut changed: BTreeMap<i32, Decimal> = BTreeMap::new();
    for line in &lines {
        let meter: Meter = line
            .meter
            .parse()
            .map_err(|_| Error::Corrupt("meter of an invoice line"))?;
        let change: Decimal = changes
            .iter()
            .filter(|c| {
                c.meter == meter
                    && line.price_list == price_list
                    && c.hour >= line.usage_from
                    && c.hour < line.usage_to
                    && if meter.is_token() {
                        metering::tokens::model_of(&c.dimension) == line.dimension
                    } else {
                        c.dimension == line.dimension
                    }
            })
            .map(|c| c.quantity)
            .sum();
        if !change.is_zero() {
            changed.insert(line.line_no, change);
        }
        billed.push(Billed {
            line_no: line.line_no,
            total: UsageTotal {
                usage_from: line.usage_from,
                meter,
                dimension: line.dimension.clone(),
                price_list: line.price_list.clone(),
                rows: line.rollup_rows,
                quantity: line.rollup_quantity + change,
            },
        });
    }
    if changed.is_empty() {
        return Ok(Vec::new());
    }
    let rerated = adjustments::rerate(&catalog, period, &segments, &billed)?;
    for line in &lines {
        let Some(after) = rerated.get(&line.line_no) else {
            continue;
        };
        let change = changed.get(&line.line_no).copied().unwrap_or_default();
        // A token line may change without a change of its own: the
        // allowance it shares with the segment's other models moved.
        if change.is_zero() && after.amount_minor == line.amount_minor {
            continue;
        }
        sqlx::query(
            "INSERT INTO usage_adjustments (correction_id, invoice_id, line_no, organization_id,
                 rollup_quantity_before, rollup_quantity_after, quantity_before, quantity_after,
                 amount_before_minor, amount_after_minor, amount_minor)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        )
        .bind(correction_id)
        .bind(invoice_id)
        .bind(line.line_no)
        .bind(organization_id)
        .bind(line.rollup_quantity)
        .bind(line.rollup_quantity + change)
        .bind(line.quantity)
        .bind(after.quantity)
        .bind(line.amount_minor)
        .bind(after.amount_minor)
        .bind(after.amount_minor - line.amount_minor)
        .execute(&mut *conn)
        .await?;
    }
    of_correction(conn, organization_id, correction_id).await
}

const ADJUSTMENTS: &str =
    "SELECT a.correction_id, a.invoice_id, i.number AS invoice_number, a.line_no,
            a.rollup_quantity_before, a.rollup_quantity_after, a.quantity_before,
            a.quantity_after, a.amount_before_minor, a.amount_after_minor, a.amount_minor,
            coalesce((SELECT sum(x.amount_minor) FROM invoice_lines x
                      JOIN invoices v ON v.id = x.invoice_id AND v.status <> 'void'
                      WHERE x.correction_id = a.correction_id
                        AND x.adjusts_invoice_id = a.invoice_id
                        AND x.adjusts_line_no = a.line_no), 0)::bigint AS applied_minor
     FROM usage_adjustments a JOIN invoices i ON i.id = a.invoice_id
     WHERE a.organization_id = $1";

/// One correction's adjustments, by line.
pub async fn of_correction(
    conn: &mut PgConnection,
    organization_id: Uuid,
    correction_id: Uuid,
) -> Result<Vec<Adjustment>> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{ADJUSTMENTS} AND a.correction_id = $2 ORDER BY a.line_no"
    )))
    .bind(organization_id)
    .bind(correction_id)
    .fetch_all(&mut *conn)
    .await?)
}

/// An organization's adjustments, oldest first.
pub async fn list(conn: &mut PgConnection, organization_id: Uuid) -> Result<Vec<Adjustment>> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{ADJUSTMENTS} ORDER BY a.created_at, a.correction_id, a.line_no"
    )))
    .bind(organization_id)
    .fetch_all(&mut *conn)
    .await?)
}

/// Pending row: organization, then a [`Pending`] column by column.
type PendingRow = (
    Uuid,
    Uuid,
    Uuid,
    i32,
    String,
    String,
    Decimal,
    String,
    i64,
    i64,
);

/// What is left to apply of every organization's (or one's) adjustments,
/// oldest first. Lines of a voided invoice applied nothing.
pub async fn pending(
    conn: &mut PgConnection,
    only: Option<Uuid>,
) -> Result<BTreeMap<Uuid, Vec<Pending>>> {
    let rows: Vec<PendingRow> = sqlx::query_as(
        "SELECT a.organization_id, a.invoice_id, a.correction_id, a.line_no, i.number,
                l.description, a.quantity_after - a.quantity_before, l.unit,
                l.unit_amount_minor, r.remaining
         FROM usage_adjustments a
         JOIN invoices i ON i.id = a.invoice_id
         JOIN invoice_lines l ON (l.invoice_id, l.line_no) = (a.invoice_id, a.line_no)
         CROSS JOIN LATERAL (
             SELECT a.amount_minor - coalesce((
                 SELECT sum(x.amount_minor) FROM invoice_lines x
                 JOIN invoices v ON v.id = x.invoice_id AND v.status <> 'void'
                 WHERE x.correction_id = a.correction_id
                   AND x.adjusts_invoice_id = a.invoice_id
                   AND x.adjusts_line_no = a.line_no), 0)::bigint AS remaining) r
         WHERE ($1::uuid IS NULL OR a.organization_id = $1) AND r.remaining <> 0
         ORDER BY a.created_at, a.correction_id, a.line_no",
    )
    .bind(only)
    .fetch_all(&mut *conn)
    .await?;
    let mut out: BTreeMap<Uuid, Vec<Pending>> = BTreeMap::new();
    for (
        org,
        invoice_id,
        correction_id,
        line_no,
        number,
        description,
        quantity,
        unit,
        price,
        left,
    ) in rows
    {
        out.entry(org).or_default().push(Pending {
            adjusts: Adjusts {
                invoice_id,
                line_no,
                correction_id,
            },
            invoice_number: number,
            description,
            quantity,
            unit,
            unit_amount_minor: price,
            remaining_minor: left,
        });
    }
    Ok(out)
}
