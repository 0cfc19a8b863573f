//! The flat price: a plan's base fee, for the share of the period the plan
//! was in force.

use rust_decimal::Decimal;

use super::{Line, LineKind, RatingError, Segment};
use crate::period::Period;

/// `fee_minor × seconds / period_seconds`, rounded down, so that the shares
/// of a period's segments never add up to more than the fee.
pub(super) fn prorated(
    fee_minor: i64,
    seconds: i64,
    period_seconds: i64,
) -> Result<i64, RatingError> {
    let value = i128::from(fee_minor) * i128::from(seconds) / i128::from(period_seconds.max(1));
    i64::try_from(value).map_err(|_| RatingError::Overflow)
}

/// The segment's base-fee line; none for a plan without a fee.
pub(super) fn line(period: Period, segment: &Segment<'_>) -> Result<Option<Line>, RatingError> {
    let fee_minor = segment.plan.base_fee_minor;
    if fee_minor <= 0 {
        return Ok(None);
    }
    Ok(Some(Line {
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
        adjusts: None,
        billed_invoice: None,
        quantity: Decimal::from(segment.seconds()) / Decimal::from(period.seconds()),
        unit: "month".to_owned(),
        unit_amount_minor: fee_minor,
        amount_minor: prorated(fee_minor, segment.seconds(), period.seconds())?,
    }))
}

#[cfg(test)]
mod tests {
    use chrono::Duration;
    use metering::Meter;

    use super::*;
    use crate::rating::tests::{catalog, nov, on, plan};
    use crate::rating::{UsageTotal, rate, segments};

    const MONTH: i64 = 30 * 86_400;

    #[test]
    fn a_share_of_the_period_pays_that_share_of_the_fee_rounded_down() {
        // fee, seconds in force, seconds in the period, amount
        let cases = [
            (2500, MONTH, MONTH, 2500),
            (2500, MONTH / 2, MONTH, 1250),
            // Half a month less 30 minutes: 1248.26…
            (2500, 15 * 86_400 - 1800, MONTH, 1248),
            (10_000, 1, MONTH, 0),
            (2500, 0, MONTH, 0),
            (0, MONTH, MONTH, 0),
        ];
        for (fee, seconds, period, amount) in cases {
            assert_eq!(
                prorated(fee, seconds, period),
                Ok(amount),
                "{fee} for {seconds} s of {period} s"
            );
        }
    }

    #[test]
    fn two_halves_never_pay_more_than_the_whole() {
        for fee in [1, 99, 2500, 10_001] {
            let first = prorated(fee, MONTH / 3, MONTH).unwrap();
            let rest = prorated(fee, MONTH - MONTH / 3, MONTH).unwrap();
            assert!(first + rest <= fee, "{fee}: {first} + {rest}");
        }
    }

    #[test]
    fn an_amount_beyond_64_bits_is_an_overflow() {
        assert_eq!(prorated(i64::MAX, 2, 1), Err(RatingError::Overflow));
    }

    #[test]
    fn an_upgrade_mid_month_prorates_the_fee_and_bills_only_the_paid_half() {
        let catalog = catalog();
        let period = nov();
        let change = period.start() + Duration::days(15) + Duration::minutes(30);
        let segments = segments(
            period,
            &[
                on(
                    plan(&catalog, "free"),
                    period.start() - Duration::days(40),
                    Some(change),
                ),
                on(plan(&catalog, "starter"), change, None),
            ],
        );
        // The change at 00:30 moves that whole hour to the new plan.
        assert_eq!(
            segments[1].usage_hours().0,
            period.start() + Duration::days(15)
        );
        let nodes = |from, hours: i64| UsageTotal {
            price_list: None,
            usage_from: from,
            meter: Meter::NodeSeconds,
            dimension: String::new(),
            rows: hours,
            quantity: Decimal::from(hours * 3600),
        };
        let invoice = rate(
            &catalog,
            period,
            &segments,
            &[
                nodes(segments[0].usage_hours().0, 360),
                nodes(segments[1].usage_hours().0, 360),
            ],
            &[],
        )
        .unwrap();
        // Half a month minus 30 minutes of $25, rounded down.
        let fee = 2500 * (15 * 86_400 - 1800) / (30 * 86_400);
        assert_eq!(invoice.lines[0].amount_minor, fee);
        assert_eq!(invoice.lines.len(), 2, "free usage is not billed");
        assert_eq!(invoice.lines[1].amount_minor, 360 * 5);
        assert_eq!(invoice.total_minor, fee + 1800);
    }
}
