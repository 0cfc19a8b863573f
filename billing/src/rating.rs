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

use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use metering::Meter;
use rust_decimal::{Decimal, RoundingStrategy};
use uuid::Uuid;

use crate::catalog::{Catalog, Plan, Price};
use crate::period::Period;

const GIB: i64 = 1 << 30;

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
    pub dimension: String,
    pub rows: i64,
    /// Seconds for sums, value × seconds for gauges.
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
}

impl LineKind {
    pub fn as_str(self) -> &'static str {
        match self {
            LineKind::BaseFee => "base_fee",
            LineKind::Usage => "usage",
            LineKind::Credit => "credit",
        }
    }
}

/// Where a usage line's quantity came from.
#[derive(Debug, Clone, PartialEq)]
pub struct UsageSource {
    pub meter: Meter,
    pub dimension: String,
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
    #[error("an amount overflowed while rating")]
    Overflow,
}

/// Rates one organization's period.
pub fn rate(
    catalog: &Catalog,
    period: Period,
    segments: &[Segment<'_>],
    usage: &[UsageTotal],
    credits: &[CreditBalance],
) -> Result<RatedInvoice, RatingError> {
    let mut lines = Vec::new();
    for segment in segments {
        let fee = prorate(
            segment.plan.base_fee_minor,
            segment.seconds(),
            period.seconds(),
        )?;
        if segment.plan.base_fee_minor > 0 {
            lines.push(Line {
                kind: LineKind::BaseFee,
                description: format!(
                    "{} plan, {} to {}",
                    segment.plan.name,
                    segment.from.format("%Y-%m-%d %H:%M"),
                    segment.to.format("%Y-%m-%d %H:%M")
                ),
                plan: Some(segment.plan.id.to_string()),
                source: None,
                credit_id: None,
                quantity: Decimal::from(segment.seconds()) / Decimal::from(period.seconds()),
                unit: "month".to_owned(),
                unit_amount_minor: segment.plan.base_fee_minor,
                amount_minor: fee,
            });
        }
    }
    for total in usage {
        let segment = segments
            .iter()
            .find(|s| {
                let (from, to) = s.usage_hours();
                from == total.usage_from && from < to
            })
            .ok_or(RatingError::OutsideSegments(total.usage_from))?;
        if !segment.plan.bills_usage {
            continue;
        }
        let price = catalog
            .price(total.meter, &total.dimension)
            .ok_or_else(|| RatingError::NoPrice {
                meter: total.meter,
                dimension: total.dimension.clone(),
            })?;
        lines.push(usage_line(period, segment, total, price)?);
    }
    let subtotal_minor = checked_sum(lines.iter().map(|l| l.amount_minor))?;
    let mut left = subtotal_minor;
    for credit in credits {
        let applied = credit.remaining_minor.min(left);
        if applied <= 0 {
            continue;
        }
        left -= applied;
        lines.push(Line {
            kind: LineKind::Credit,
            description: "Credit applied".to_owned(),
            plan: None,
            source: None,
            credit_id: Some(credit.id),
            quantity: Decimal::ONE,
            unit: "credit".to_owned(),
            unit_amount_minor: -applied,
            amount_minor: -applied,
        });
    }
    Ok(RatedInvoice {
        lines,
        subtotal_minor,
        credits_minor: subtotal_minor - left,
        total_minor: left,
    })
}

fn usage_line(
    period: Period,
    segment: &Segment<'_>,
    total: &UsageTotal,
    price: &Price,
) -> Result<Line, RatingError> {
    let included = allowance(segment.plan, total.meter, segment.seconds());
    let billable = (total.quantity - included).max(Decimal::ZERO);
    let quantity = billable
        .checked_div(unit_size(total.meter, period))
        .ok_or(RatingError::Overflow)?;
    let amount_minor = minor_units(quantity, price.unit_amount_minor)?;
    let (from, to) = segment.usage_hours();
    let dimension = if total.dimension.is_empty() {
        String::new()
    } else {
        format!(" ({})", total.dimension)
    };
    Ok(Line {
        kind: LineKind::Usage,
        description: format!("{}{dimension}, {} plan", price.unit, segment.plan.name),
        plan: Some(segment.plan.id.to_string()),
        source: Some(UsageSource {
            meter: total.meter,
            dimension: total.dimension.clone(),
            from,
            to,
            rows: total.rows,
            quantity: total.quantity,
            included,
        }),
        credit_id: None,
        quantity,
        unit: price.unit.clone(),
        unit_amount_minor: price.unit_amount_minor,
        amount_minor,
    })
}

/// `quantity × unit_amount`, rounded to a whole minor unit.
pub fn minor_units(quantity: Decimal, unit_amount_minor: i64) -> Result<i64, RatingError> {
    quantity
        .checked_mul(Decimal::from(unit_amount_minor))
        .map(|a| a.round_dp_with_strategy(0, RoundingStrategy::MidpointAwayFromZero))
        .and_then(|a| i64::try_from(a).ok())
        .ok_or(RatingError::Overflow)
}

/// How much of a meter's rollup unit one priced unit is: an hour of a
/// duration, or a GiB (a million objects) held for the whole period.
pub fn unit_size(meter: Meter, period: Period) -> Decimal {
    let month = Decimal::from(period.seconds());
    match meter {
        Meter::GpuSeconds | Meter::NodeSeconds => Decimal::from(3600),
        Meter::StorageBytes => Decimal::from(GIB) * month,
        Meter::ObjectCount => Decimal::from(1_000_000) * month,
    }
}

/// The plan's allowance of a meter over `seconds`, in the rollup unit.
pub fn allowance(plan: &Plan, meter: Meter, seconds: i64) -> Decimal {
    match meter {
        Meter::StorageBytes => {
            Decimal::from(plan.included_storage_gib) * Decimal::from(GIB) * Decimal::from(seconds)
        }
        Meter::GpuSeconds | Meter::NodeSeconds | Meter::ObjectCount => Decimal::ZERO,
    }
}

/// `amount × part / whole`, rounded down, so that prorated parts never add
/// up to more than the whole.
fn prorate(amount: i64, part: i64, whole: i64) -> Result<i64, RatingError> {
    let value = i128::from(amount) * i128::from(part) / i128::from(whole.max(1));
    i64::try_from(value).map_err(|_| RatingError::Overflow)
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
