//! Rating: one organization's period of hourly rollups into invoice lines.
//!
//! Pure. The period is split into segments, one per plan in force; each
//! segment pays its plan's base fee prorated by its length, and its usage
//! beyond the plan's allowance at the catalog price. An hour of usage belongs
//! to exactly one segment (the one in force when the hour starts, boundaries
//! taken to the hour), so a plan change never bills an hour twice.
//!
//! Quantities are exact decimals; amounts are integer minor units, rounded
//! half away from zero once per line.
//!
//! One module per price model, each pure with its own table tests:
//! [`flat`] (the base fee), [`per_unit`] (usage beyond the allowance),
//! [`tokens`] (tokens per million by model, every key's summed) and
//! [`credits`] (credit applied to the subtotal), and [`adjustments`]
//! (corrections of invoiced usage, re-rated and carried to a later
//! invoice). This module splits the period into segments and puts an
//! invoice together from their lines.

pub mod adjustments;
mod credits;
mod flat;
pub mod interim;
mod per_unit;
mod tokens;

use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use metering::Meter;
use rust_decimal::Decimal;
use uuid::Uuid;

use crate::catalog::{Catalog, Plan, Price, PriceList};
use crate::period::Period;

/// A plan in force over `[from, to)` within the period.
#[derive(Debug, Clone, PartialEq)]
pub struct Segment<'c> {
    pub plan: &'c Plan,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
}

impl Segment<'_> {
    /// The hours whose usage this segment rates: `[usage_from, usage_to)`.
    pub fn usage_hours(&self) -> (DateTime<Utc>, DateTime<Utc>) {
        (floor_hour(self.from), floor_hour(self.to))
    }

    fn seconds(&self) -> i64 {
        (self.to - self.from).num_seconds()
    }
}

/// A plan an organization was on over `[valid_from, valid_to)`.
#[derive(Debug, Clone, PartialEq)]
pub struct PlanPeriod<'c> {
    pub plan: &'c Plan,
    pub valid_from: DateTime<Utc>,
    /// `None`: still in force.
    pub valid_to: Option<DateTime<Utc>>,
}

/// Clips an organization's plan history (ordered, open-ended last) to the
/// period.
pub fn segments<'c>(period: Period, history: &[PlanPeriod<'c>]) -> Vec<Segment<'c>> {
    history
        .iter()
        .filter_map(|p| {
            let from = p.valid_from.max(period.start());
            let to = p.valid_to.unwrap_or(period.end()).min(period.end());
            (from < to).then_some(Segment {
                plan: p.plan,
                from,
                to,
            })
        })
        .collect()
}

/// The sum of the rollups of one meter and dimension in one segment.
#[derive(Debug, Clone, PartialEq)]
pub struct UsageTotal {
    /// `usage_hours().0` of the segment the rollups belong to.
    pub usage_from: DateTime<Utc>,
    pub meter: Meter,
    /// For the token meters, `<key> <model>` as stored; a token line's
    /// total is of a model, every key's summed.
    pub dimension: String,
    /// The catalog price list that rates these rollups (a customer-run
    /// data plane's); `None`: the catalog's own prices.
    pub price_list: Option<String>,
    pub rows: i64,
    /// Seconds or tokens for sums, value × seconds for gauges.
    pub quantity: Decimal,
}

/// Credit still available to an organization.
#[derive(Debug, Clone, PartialEq)]
pub struct CreditBalance {
    pub id: Uuid,
    pub remaining_minor: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineKind {
    BaseFee,
    Usage,
    Credit,
    Adjustment,
    /// What an interim invoice of the period billed, deducted.
    Interim,
}

impl LineKind {
    pub fn as_str(self) -> &'static str {
        match self {
            LineKind::BaseFee => "base_fee",
            LineKind::Usage => "usage",
            LineKind::Credit => "credit",
            LineKind::Adjustment => "adjustment",
            LineKind::Interim => "interim",
        }
    }
}

/// Where a usage line's quantity came from.
#[derive(Debug, Clone, PartialEq)]
pub struct UsageSource {
    pub meter: Meter,
    pub dimension: String,
    /// The price list the line was priced from: its rollups are those of
    /// the resources that list rates.
    pub price_list: Option<String>,
    /// The rollups rated: hours in `[from, to)`.
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub rows: i64,
    pub quantity: Decimal,
    /// The plan's allowance over the segment, in the rollups' unit.
    pub included: Decimal,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Line {
    pub kind: LineKind,
    pub description: String,
    pub plan: Option<String>,
    pub source: Option<UsageSource>,
    pub credit_id: Option<Uuid>,
    /// For an adjustment, the line it adjusts and the correction behind it.
    pub adjusts: Option<adjustments::Adjusts>,
    /// For an interim deduction, the interim invoice deducted.
    pub billed_invoice: Option<Uuid>,
    /// In `unit`s.
    pub quantity: Decimal,
    pub unit: String,
    pub unit_amount_minor: i64,
    pub amount_minor: i64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct RatedInvoice {
    pub lines: Vec<Line>,
    pub subtotal_minor: i64,
    pub credits_minor: i64,
    pub total_minor: i64,
}

impl RatedInvoice {
    /// Whether there is anything to bill or credit: free organizations get
    /// no invoice.
    pub fn is_empty(&self) -> bool {
        self.lines.iter().all(|l| l.amount_minor == 0)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RatingError {
    #[error("the catalog has no price for {meter} `{dimension}`")]
    NoPrice { meter: Meter, dimension: String },
    #[error("usage from {0} matches no plan segment of the period")]
    OutsideSegments(DateTime<Utc>),
    #[error("the organization is on plan `{0}`, which the catalog does not contain")]
    UnknownPlan(String),
    #[error(
        "usage is rated by price list `{0}`, which the catalog does not contain: add it back to the catalog"
    )]
    UnknownPriceList(String),
    #[error("an amount overflowed while rating")]
    Overflow,
    #[error(
        "interim invoices billed {0} (minor units) more than the period's charges, after a correction: review by hand"
    )]
    InterimExceeds(i64),
}

/// Rates one organization's period, with no adjustment.
pub fn rate(
    catalog: &Catalog,
    period: Period,
    segments: &[Segment<'_>],
    usage: &[UsageTotal],
    credits: &[CreditBalance],
) -> Result<RatedInvoice, RatingError> {
    rate_adjusted(catalog, period, segments, usage, &[], credits)
}

/// Rates one organization's period, with the adjustments of earlier
/// invoices pending for it: they count in the subtotal, before credits,
/// and never take it below zero (see [`adjustments::lines`]).
pub fn rate_adjusted(
    catalog: &Catalog,
    period: Period,
    segments: &[Segment<'_>],
    usage: &[UsageTotal],
    pending: &[adjustments::Pending],
    credits: &[CreditBalance],
) -> Result<RatedInvoice, RatingError> {
    rate_closing(catalog, period, segments, usage, &[], pending, credits)
}

/// The close's invoice of the period: base fees and the period's usage in
/// full, less what the interim invoices `billed`, then the pending
/// adjustments, then credits.
pub fn rate_closing(
    catalog: &Catalog,
    period: Period,
    segments: &[Segment<'_>],
    usage: &[UsageTotal],
    billed: &[interim::Billed],
    pending: &[adjustments::Pending],
    credits: &[CreditBalance],
) -> Result<RatedInvoice, RatingError> {
    let mut lines = Vec::new();
    for segment in segments {
        lines.extend(flat::line(period, segment)?);
    }
    lines.extend(usage_lines(catalog, period, segments, usage)?);
    lines.extend(interim::lines(billed));
    let charged = checked_sum(lines.iter().map(|l| l.amount_minor))?;
    if charged < 0 {
        return Err(RatingError::InterimExceeds(-charged));
    }
    lines.extend(adjustments::lines(charged, pending)?);
    apply_credits(lines, credits)
}

/// An interim invoice: the period's usage so far, less what earlier
/// interim invoices `billed`, then credits. Its subtotal is the usage not
/// yet invoiced ([`interim::due`] says whether to issue it); base fees and
/// adjustments wait for the close.
pub fn rate_interim(
    catalog: &Catalog,
    period: Period,
    segments: &[Segment<'_>],
    usage: &[UsageTotal],
    billed: &[interim::Billed],
    credits: &[CreditBalance],
) -> Result<RatedInvoice, RatingError> {
    let mut lines = usage_lines(catalog, period, segments, usage)?;
    lines.extend(interim::lines(billed));
    let unbilled = checked_sum(lines.iter().map(|l| l.amount_minor))?;
    if unbilled <= 0 {
        // Nothing new to bill: no credit is drawn for it.
        return apply_credits(lines, &[]);
    }
    apply_credits(lines, credits)
}

/// The usage lines of the period's usage totals.
fn usage_lines(
    catalog: &Catalog,
    period: Period,
    segments: &[Segment<'_>],
    usage: &[UsageTotal],
) -> Result<Vec<Line>, RatingError> {
    let mut lines = Vec::new();
    let mut token_totals = Vec::new();
    for total in usage {
        let segment = segment_of(segments, total.usage_from)?;
        if !bills(segment.plan, total.meter) {
            continue;
        }
        if total.meter.is_token() {
            token_totals.push(total);
            continue;
        }
        // A meter a price list leaves out is not charged there.
        if let Some(price) = price_of(catalog, total)? {
            lines.push(per_unit::line(period, segment, total, price)?);
        }
    }
    lines.extend(tokens::lines(catalog, period, segments, &token_totals)?);
    Ok(lines)
}

/// Sums `lines` and applies credit to the subtotal.
fn apply_credits(
    mut lines: Vec<Line>,
    credits: &[CreditBalance],
) -> Result<RatedInvoice, RatingError> {
    let subtotal_minor = checked_sum(lines.iter().map(|l| l.amount_minor))?;
    let applied = credits::applied(subtotal_minor, credits);
    let credits_minor = applied.iter().map(|&(_, amount)| amount).sum::<i64>();
    lines.extend(
        applied
            .into_iter()
            .map(|(id, amount)| credits::line(id, amount)),
    );
    Ok(RatedInvoice {
        lines,
        subtotal_minor,
        credits_minor,
        total_minor: subtotal_minor - credits_minor,
    })
}

/// Whether `plan` charges for `meter`: a plan that bills usage bills every
/// priced meter ([`crate::catalog::is_priced`]) but the inference ones its
/// `inference_billing` leaves out.
pub fn bills(plan: &Plan, meter: Meter) -> bool {
    plan.bills_usage
        && crate::catalog::is_priced(meter)
        && match meter {
            Meter::GpuSeconds => plan.inference_billing.gpu_hours(),
            Meter::InputTokens | Meter::OutputTokens => plan.inference_billing.tokens(),
            Meter::NodeSeconds | Meter::StorageBytes | Meter::ObjectCount | Meter::Requests => true,
        }
}

/// The segment whose usage hours begin at `usage_from`.
fn segment_of<'s, 'c>(
    segments: &'s [Segment<'c>],
    usage_from: DateTime<Utc>,
) -> Result<&'s Segment<'c>, RatingError> {
    segments
        .iter()
        .find(|s| {
            let (from, to) = s.usage_hours();
            from == usage_from && from < to
        })
        .ok_or(RatingError::OutsideSegments(usage_from))
}

/// Where a usage line's price comes from: the catalog's own prices, or a
/// price list of it (named on the line; the plan's allowances do not
/// apply to it).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Priced<'c> {
    pub price: &'c Price,
    pub list: Option<&'c PriceList>,
}

/// The price of a total's meter and dimension: the catalog's own (missing
/// is an error: every priced meter has one), or its price list's, where a
/// missing price means the meter is not charged (`None`).
fn price_of<'c>(
    catalog: &'c Catalog,
    total: &UsageTotal,
) -> Result<Option<Priced<'c>>, RatingError> {
    let Some(id) = &total.price_list else {
        let price = catalog
            .price(total.meter, &total.dimension)
            .ok_or_else(|| RatingError::NoPrice {
                meter: total.meter,
                dimension: total.dimension.clone(),
            })?;
        return Ok(Some(Priced { price, list: None }));
    };
    let list = catalog
        .price_list(id)
        .ok_or_else(|| RatingError::UnknownPriceList(id.clone()))?;
    Ok(list
        .price(total.meter, &total.dimension)
        .map(|price| Priced {
            price,
            list: Some(list),
        }))
}

fn checked_sum(values: impl Iterator<Item = i64>) -> Result<i64, RatingError> {
    values
        .into_iter()
        .try_fold(0i64, |acc, v| acc.checked_add(v))
        .ok_or(RatingError::Overflow)
}

fn floor_hour(time: DateTime<Utc>) -> DateTime<Utc> {
    time.duration_trunc(TimeDelta::hours(1)).unwrap_or(time)
}

#[cfg(test)]
mod tests;
