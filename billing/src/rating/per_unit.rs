//! Per-unit pricing: usage beyond the plan's included allowance, counted in
//! the catalog's unit (GPU-hour, node-hour, GiB-month, million
//! objects-month, million tokens) at the catalog's price per unit.

use metering::Meter;
use rust_decimal::{Decimal, RoundingStrategy};

use super::{Line, LineKind, Priced, RatingError, Segment, UsageSource, UsageTotal};
use crate::catalog::Plan;
use crate::period::Period;

pub(super) const GIB: i64 = 1 << 30;

/// How much of a meter's rollup unit one priced unit is: an hour of a
/// duration, or a GiB (a million objects) held for the whole period.
pub(super) fn unit_size(meter: Meter, period: Period) -> Decimal {
    let month = Decimal::from(period.seconds());
    match meter {
        Meter::GpuSeconds | Meter::NodeSeconds => Decimal::from(3600),
        Meter::StorageBytes => Decimal::from(GIB) * month,
        Meter::ObjectCount => Decimal::from(1_000_000) * month,
        Meter::InputTokens | Meter::OutputTokens => Decimal::from(super::tokens::PER_UNIT),
        // Never priced (`bills` is false for it); one request is one unit.
        Meter::Requests => Decimal::ONE,
    }
}

/// The plan's allowance of a meter over `seconds`, in the rollup unit.
pub(super) fn allowance(plan: &Plan, meter: Meter, seconds: i64) -> Decimal {
    match meter {
        Meter::StorageBytes => {
            Decimal::from(plan.included_storage_gib) * Decimal::from(GIB) * Decimal::from(seconds)
        }
        // A token allowance is shared by a segment's models: `tokens`
        // hands it out.
        Meter::GpuSeconds
        | Meter::NodeSeconds
        | Meter::ObjectCount
        | Meter::InputTokens
        | Meter::OutputTokens
        | Meter::Requests => Decimal::ZERO,
    }
}

/// `quantity × unit_amount`, rounded half away from zero to a whole minor
/// unit: once per line, never per rollup.
pub(super) fn minor_units(quantity: Decimal, unit_amount_minor: i64) -> Result<i64, RatingError> {
    quantity
        .checked_mul(Decimal::from(unit_amount_minor))
        .map(|a| a.round_dp_with_strategy(0, RoundingStrategy::MidpointAwayFromZero))
        .and_then(|a| i64::try_from(a).ok())
        .ok_or(RatingError::Overflow)
}

/// The priced units in `quantity` beyond `included` (both in the rollup
/// unit, `unit_size` of it to a priced unit), and what they cost.
pub(super) fn charge(
    quantity: Decimal,
    included: Decimal,
    unit_size: Decimal,
    unit_amount_minor: i64,
) -> Result<(Decimal, i64), RatingError> {
    let units = (quantity - included)
        .max(Decimal::ZERO)
        .checked_div(unit_size)
        .ok_or(RatingError::Overflow)?;
    Ok((units, minor_units(units, unit_amount_minor)?))
}

/// The usage line of one meter and dimension in one segment, traced to the
/// rollups it rated. A plan's allowance is of the catalog's own prices: a
/// price list's usage has none.
pub(super) fn line(
    period: Period,
    segment: &Segment<'_>,
    total: &UsageTotal,
    priced: Priced<'_>,
) -> Result<Line, RatingError> {
    let included = match priced.list {
        None => allowance(segment.plan, total.meter, segment.seconds()),
        Some(_) => Decimal::ZERO,
    };
    line_beyond(period, segment, total, priced, included)
}

/// The usage line of `total` beyond `included` (in the rollup unit).
pub(super) fn line_beyond(
    period: Period,
    segment: &Segment<'_>,
    total: &UsageTotal,
    Priced { price, list }: Priced<'_>,
    included: Decimal,
) -> Result<Line, RatingError> {
    let (quantity, amount_minor) = charge(
        total.quantity,
        included,
        unit_size(total.meter, period),
        price.unit_amount_minor,
    )?;
    let (from, to) = segment.usage_hours();
    let dimension = if total.dimension.is_empty() {
        String::new()
    } else {
        format!(" ({})", total.dimension)
    };
    let description = match list {
        None => format!("{}{dimension}, {} plan", price.unit, segment.plan.name),
        Some(list) => format!(
            "{}{dimension} ({} price list), {} plan",
            price.unit, list.name, segment.plan.name
        ),
    };
    Ok(Line {
        kind: LineKind::Usage,
        description,
        plan: Some(segment.plan.id.to_string()),
        source: Some(UsageSource {
            meter: total.meter,
            dimension: total.dimension.clone(),
            price_list: total.price_list.clone(),
            from,
            to,
            rows: total.rows,
            quantity: total.quantity,
            included,
        }),
        credit_id: None,
        adjusts: None,
        billed_invoice: None,
        quantity,
        unit: price.unit.clone(),
        unit_amount_minor: price.unit_amount_minor,
        amount_minor,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rating::tests::{catalog, nov, on, plan};
    use crate::rating::{rate, segments};

    #[test]
    fn usage_beyond_the_allowance_is_charged_per_unit_rounded_half_away_from_zero() {
        let d = Decimal::from;
        // quantity, included, unit size, unit amount, units, amount
        let cases = [
            // 10 GiB-months held, 4 included, at 25 a GiB-month.
            (d(10), d(4), d(1), 25, d(6), 150),
            // Under the allowance: nothing.
            (d(3), d(4), d(1), 25, d(0), 0),
            // 10 GPU-hours, in seconds, at 450 an hour.
            (d(36_000), d(0), d(3600), 450, d(10), 4500),
            // Half a unit at 25 is 12.5: rounded up.
            (d(1800), d(0), d(3600), 25, Decimal::new(5, 1), 13),
            // A third of a unit at 100 is 33.33…: rounded down.
            (d(1), d(0), d(3), 100, d(1) / d(3), 33),
        ];
        for (quantity, included, size, unit_amount, units, amount) in cases {
            assert_eq!(
                charge(quantity, included, size, unit_amount),
                Ok((units, amount)),
                "{quantity} beyond {included} in units of {size} at {unit_amount}"
            );
        }
    }

    #[test]
    fn an_amount_beyond_64_bits_is_an_overflow() {
        assert_eq!(
            minor_units(Decimal::from(i64::MAX), 2),
            Err(RatingError::Overflow)
        );
        assert_eq!(minor_units(Decimal::new(-5, 1), 1), Ok(-1));
    }

    #[test]
    fn storage_is_included_by_the_gib_and_time_held_and_nothing_else_is() {
        let catalog = catalog();
        let starter = plan(&catalog, "starter");
        let hour = Decimal::from(3600);
        // plan, meter, allowance for an hour
        let cases = [
            (
                "starter",
                Meter::StorageBytes,
                Decimal::from(4 * GIB) * hour,
            ),
            (
                "business",
                Meter::StorageBytes,
                Decimal::from(16 * GIB) * hour,
            ),
            ("starter", Meter::GpuSeconds, Decimal::ZERO),
            ("starter", Meter::NodeSeconds, Decimal::ZERO),
            ("starter", Meter::ObjectCount, Decimal::ZERO),
            ("business", Meter::InputTokens, Decimal::ZERO),
            ("business", Meter::OutputTokens, Decimal::ZERO),
        ];
        for (id, meter, included) in cases {
            assert_eq!(
                allowance(plan(&catalog, id), meter, 3600),
                included,
                "{id} {meter}"
            );
        }
        assert_eq!(allowance(starter, Meter::StorageBytes, 0), Decimal::ZERO);
    }

    #[test]
    fn durations_are_priced_by_the_hour_and_levels_by_the_month_held() {
        let month = Decimal::from(nov().seconds());
        let cases = [
            (Meter::GpuSeconds, Decimal::from(3600)),
            (Meter::NodeSeconds, Decimal::from(3600)),
            (Meter::StorageBytes, Decimal::from(GIB) * month),
            (Meter::ObjectCount, Decimal::from(1_000_000) * month),
            (Meter::InputTokens, Decimal::from(1_000_000)),
            (Meter::OutputTokens, Decimal::from(1_000_000)),
        ];
        for (meter, size) in cases {
            assert_eq!(unit_size(meter, nov()), size, "{meter}");
        }
    }

    #[test]
    fn a_whole_month_on_starter_pays_the_fee_and_storage_beyond_four_gib() {
        let catalog = catalog();
        let period = nov();
        let segments = segments(
            period,
            &[on(plan(&catalog, "starter"), period.start(), None)],
        );
        // 10 GiB held for the whole month: 10 GiB-months, 4 included.
        let held = Decimal::from(10 * GIB) * Decimal::from(period.seconds());
        let usage = [UsageTotal {
            price_list: None,
            usage_from: period.start(),
            meter: Meter::StorageBytes,
            dimension: String::new(),
            rows: 720,
            quantity: held,
        }];
        let invoice = rate(&catalog, period, &segments, &usage, &[]).unwrap();
        let amounts: Vec<_> = invoice
            .lines
            .iter()
            .map(|l| (l.kind, l.amount_minor))
            .collect();
        assert_eq!(
            amounts,
            [(LineKind::BaseFee, 2500), (LineKind::Usage, 6 * 25)]
        );
        assert_eq!(invoice.lines[1].quantity, Decimal::from(6));
        assert_eq!(invoice.lines[1].unit, "GiB-month");
        assert_eq!(invoice.total_minor, 2650);
    }

    #[test]
    fn gpu_hours_are_priced_by_model_and_an_unknown_model_is_an_error() {
        let catalog = catalog();
        let period = nov();
        let segments = segments(
            period,
            &[on(plan(&catalog, "business"), period.start(), None)],
        );
        let gpu = |model: &str, hours: i64| UsageTotal {
            price_list: None,
            usage_from: period.start(),
            meter: Meter::GpuSeconds,
            dimension: model.to_owned(),
            rows: hours,
            quantity: Decimal::from(hours * 3600),
        };
        let invoice = rate(
            &catalog,
            period,
            &segments,
            &[gpu("nvidia-h100-80gb", 10), gpu("nvidia-l4", 3)],
            &[],
        )
        .unwrap();
        let usage: Vec<_> = invoice.lines[1..].iter().map(|l| l.amount_minor).collect();
        assert_eq!(usage, [10 * 450, 3 * 80]);
        assert_eq!(
            rate(&catalog, period, &segments, &[gpu("tpu-v5", 1)], &[]),
            Err(RatingError::NoPrice {
                meter: Meter::GpuSeconds,
                dimension: "tpu-v5".to_owned()
            })
        );
    }
}
