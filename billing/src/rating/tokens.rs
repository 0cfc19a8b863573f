//! Token pricing: input and output tokens per million, by model.
//!
//! The gateway reports each key's tokens of each model, but a customer is
//! billed per model: a segment's totals of every key of one model are
//! summed into one line first (the line's dimension is the model, and its
//! rollups are every key's, see `metering::rollups::hours`). The plan's
//! monthly allowance of a meter, prorated to the segment and rounded down
//! to a whole token, is handed out to the segment's models in name order.
//! Each line is then per unit: `(tokens − included) / 1 000 000 × price`,
//! rounded half away from zero once for the line, so its amount is exact
//! for the summed tokens, never a sum of rounded rows.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use metering::Meter;
use rust_decimal::Decimal;

use super::{Line, RatingError, Segment, UsageTotal, per_unit, price_of, segment_of};
use crate::catalog::{Catalog, Plan};
use crate::period::Period;

/// Tokens in a priced unit: prices are per million.
pub(super) const PER_UNIT: i64 = 1_000_000;

/// The plan's allowance of a token meter for `seconds` of a period of
/// `period_seconds`, in whole tokens rounded down.
fn allowance(plan: &Plan, meter: Meter, seconds: i64, period_seconds: i64) -> Decimal {
    let monthly = match meter {
        Meter::InputTokens => plan.included_input_tokens,
        Meter::OutputTokens => plan.included_output_tokens,
        Meter::GpuSeconds
        | Meter::NodeSeconds
        | Meter::StorageBytes
        | Meter::ObjectCount
        | Meter::Requests => 0,
    };
    let share = u128::from(monthly) * u128::try_from(seconds).unwrap_or(0)
        / u128::try_from(period_seconds.max(1)).unwrap_or(1);
    Decimal::from(u64::try_from(share).unwrap_or(monthly))
}

/// Segment (by its first usage hour), meter, price list, model.
type ModelKey = (DateTime<Utc>, Meter, Option<String>, String);

/// Token totals summed over keys: rows and tokens per segment, meter and
/// model, in that order.
fn by_model(totals: &[&UsageTotal]) -> BTreeMap<ModelKey, (i64, Decimal)> {
    let mut summed: BTreeMap<ModelKey, (i64, Decimal)> = BTreeMap::new();
    for total in totals {
        let model = metering::tokens::model_of(&total.dimension).to_owned();
        let entry = summed
            .entry((
                total.usage_from,
                total.meter,
                total.price_list.clone(),
                model,
            ))
            .or_default();
        entry.0 += total.rows;
        entry.1 += total.quantity;
    }
    summed
}

/// The token lines of `totals` (token meters, of plans that bill tokens):
/// one per segment, meter, price list and model. The allowance is of the
/// catalog's own prices (their totals sort first): a price list's tokens
/// get none.
pub(super) fn lines(
    catalog: &Catalog,
    period: Period,
    segments: &[Segment<'_>],
    totals: &[&UsageTotal],
) -> Result<Vec<Line>, RatingError> {
    let mut lines = Vec::new();
    // What is left of the allowance of the segment and meter being rated.
    let mut left: Option<((DateTime<Utc>, Meter), Decimal)> = None;
    for ((usage_from, meter, price_list, model), (rows, quantity)) in by_model(totals) {
        let segment = segment_of(segments, usage_from)?;
        let total = UsageTotal {
            usage_from,
            meter,
            dimension: model,
            price_list,
            rows,
            quantity,
        };
        let Some(priced) = price_of(catalog, &total)? else {
            continue;
        };
        let included = if priced.list.is_some() {
            Decimal::ZERO
        } else {
            let remaining = match left {
                Some((of, remaining)) if of == (usage_from, meter) => remaining,
                _ => allowance(segment.plan, meter, segment.seconds(), period.seconds()),
            };
            let included = remaining.min(quantity);
            left = Some(((usage_from, meter), remaining - included));
            included
        };
        lines.push(per_unit::line_beyond(
            period, segment, &total, priced, included,
        )?);
    }
    Ok(lines)
}

#[cfg(test)]
mod tests {
    use chrono::Duration;
    use uuid::Uuid;

    use super::*;
    use crate::catalog::{InferenceBilling, Price};
    use crate::rating::tests::{catalog, nov, on, plan};
    use crate::rating::{LineKind, rate, segments};

    fn key(n: u128) -> Uuid {
        Uuid::from_u128(n)
    }

    fn tokens(meter: Meter, key: Uuid, model: &str, rows: i64, quantity: i64) -> UsageTotal {
        UsageTotal {
            price_list: None,
            usage_from: nov().start(),
            meter,
            dimension: format!("{key} {model}"),
            rows,
            quantity: Decimal::from(quantity),
        }
    }

    /// The default catalog, with business including these tokens a month.
    fn including(input: u64, output: u64) -> Catalog {
        let mut catalog = catalog();
        for plan in catalog
            .plans
            .iter_mut()
            .filter(|p| p.id.as_str() == "business")
        {
            plan.included_input_tokens = input;
            plan.included_output_tokens = output;
        }
        catalog
    }

    /// The usage lines of a month on `plan`: (unit, dimension, rows,
    /// included, amount).
    fn usage_lines(
        catalog: &Catalog,
        plan_id: &str,
        usage: &[UsageTotal],
    ) -> Vec<(String, String, i64, Decimal, i64)> {
        let period = nov();
        let segments = segments(period, &[on(plan(catalog, plan_id), period.start(), None)]);
        rate(catalog, period, &segments, usage, &[])
            .unwrap()
            .lines
            .into_iter()
            .filter(|l| l.kind == LineKind::Usage)
            .map(|l| {
                let source = l.source.unwrap();
                (
                    l.unit,
                    source.dimension,
                    source.rows,
                    source.included,
                    l.amount_minor,
                )
            })
            .collect()
    }

    #[test]
    fn tokens_beyond_the_allowance_are_charged_per_million_rounded_once() {
        let d = Decimal::from;
        // meter, tokens, included a month, amount at 20 (input) or 60 (output)
        let cases = [
            (Meter::InputTokens, 1_000_000, 0, 20),
            (Meter::InputTokens, 2_500_000, 0, 50),
            // 24.69134: rounded to 25.
            (Meter::InputTokens, 1_234_567, 0, 25),
            // Exactly half a cent is rounded away from zero; just under, not.
            (Meter::InputTokens, 25_000, 0, 1),
            (Meter::InputTokens, 24_999, 0, 0),
            (Meter::OutputTokens, 999, 0, 0),
            (Meter::OutputTokens, 3_000_000, 1_000_000, 120),
            (Meter::OutputTokens, 500_000, 1_000_000, 0),
            (Meter::InputTokens, 0, 0, 0),
        ];
        for (meter, quantity, included, amount) in cases {
            let catalog = including(included, included);
            let lines = usage_lines(
                &catalog,
                "business",
                &[tokens(meter, key(1), "org/model", 1, quantity)],
            );
            assert_eq!(
                (lines[0].3, lines[0].4),
                (d(included.min(quantity as u64)), amount),
                "{quantity} {meter} beyond {included}"
            );
        }
    }

    #[test]
    fn every_keys_tokens_of_a_model_are_one_line_rated_on_their_sum() {
        let catalog = catalog();
        // Three keys of 10 000 tokens: 0.2 cents each, 0.6 together.
        let usage = [
            tokens(Meter::InputTokens, key(1), "org/model", 5, 10_000),
            tokens(Meter::InputTokens, key(2), "org/model", 7, 10_000),
            tokens(Meter::InputTokens, key(3), "org/model", 1, 10_000),
            tokens(Meter::InputTokens, key(1), "org/other", 2, 2_000_000),
            tokens(Meter::OutputTokens, key(1), "org/model", 3, 1_000_000),
        ];
        let zero = Decimal::ZERO;
        assert_eq!(
            usage_lines(&catalog, "starter", &usage),
            [
                ("1M input tokens".into(), "org/model".into(), 13, zero, 1),
                ("1M input tokens".into(), "org/other".into(), 2, zero, 40),
                ("1M output tokens".into(), "org/model".into(), 3, zero, 60),
            ]
        );
    }

    #[test]
    fn the_allowance_is_prorated_and_handed_to_models_in_name_order() {
        let period = nov();
        let catalog = including(3_000_000, 0);
        let business = plan(&catalog, "business");
        // seconds in force, allowance
        let cases = [
            (period.seconds(), 3_000_000),
            (period.seconds() / 2, 1_500_000),
            (period.seconds() / 3, 1_000_000),
            // 1.157… tokens: rounded down.
            (1, 1),
            (0, 0),
        ];
        for (seconds, included) in cases {
            assert_eq!(
                allowance(business, Meter::InputTokens, seconds, period.seconds()),
                Decimal::from(included),
                "{seconds} s"
            );
        }
        assert_eq!(
            allowance(
                business,
                Meter::OutputTokens,
                period.seconds(),
                period.seconds()
            ),
            Decimal::ZERO
        );

        let usage = [
            tokens(Meter::InputTokens, key(1), "b/model", 1, 2_000_000),
            tokens(Meter::InputTokens, key(1), "a/model", 1, 2_000_000),
        ];
        let lines = usage_lines(&catalog, "business", &usage);
        let handed: Vec<_> = lines.iter().map(|l| (l.1.as_str(), l.3, l.4)).collect();
        assert_eq!(
            handed,
            [
                ("a/model", Decimal::from(2_000_000), 0),
                ("b/model", Decimal::from(1_000_000), 20),
            ]
        );
    }

    #[test]
    fn a_plan_bills_tokens_gpu_hours_or_both_and_free_bills_none() {
        let usage = [
            tokens(Meter::InputTokens, key(1), "org/model", 1, 1_000_000),
            UsageTotal {
                price_list: None,
                usage_from: nov().start(),
                meter: Meter::GpuSeconds,
                dimension: "nvidia-l4".into(),
                rows: 1,
                quantity: Decimal::from(3600),
            },
        ];
        // inference billing, units billed
        let cases = [
            (InferenceBilling::Both, vec!["1M input tokens", "GPU-hour"]),
            (InferenceBilling::Tokens, vec!["1M input tokens"]),
            (InferenceBilling::GpuHours, vec!["GPU-hour"]),
        ];
        for (billing, units) in cases {
            let mut catalog = catalog();
            for plan in catalog.plans.iter_mut() {
                plan.inference_billing = billing;
            }
            let mut billed: Vec<_> = usage_lines(&catalog, "business", &usage)
                .into_iter()
                .map(|l| l.0)
                .collect();
            billed.sort();
            assert_eq!(billed, units, "{billing:?}");
            assert!(
                usage_lines(&catalog, "free", &usage).is_empty(),
                "{billing:?}"
            );
        }
    }

    #[test]
    fn a_model_priced_apart_is_billed_at_its_price_and_others_at_any_models() {
        let mut catalog = catalog();
        catalog.prices.push(Price {
            meter: Meter::OutputTokens,
            dimension: Some("big/model".into()),
            unit: "1M output tokens".into(),
            unit_amount_minor: 900,
        });
        let usage = [
            tokens(Meter::OutputTokens, key(1), "big/model", 1, 2_000_000),
            tokens(Meter::OutputTokens, key(2), "small/model", 1, 2_000_000),
        ];
        let amounts: Vec<_> = usage_lines(&catalog, "business", &usage)
            .into_iter()
            .map(|l| (l.1, l.4))
            .collect();
        assert_eq!(
            amounts,
            [("big/model".into(), 1800), ("small/model".into(), 120)]
        );
        // Without a price for any model, an unpriced model is an error.
        catalog
            .prices
            .retain(|p| p.meter != Meter::OutputTokens || p.dimension.is_some());
        let period = nov();
        let segments = segments(
            period,
            &[on(plan(&catalog, "business"), period.start(), None)],
        );
        assert_eq!(
            rate(&catalog, period, &segments, &usage, &[]),
            Err(RatingError::NoPrice {
                meter: Meter::OutputTokens,
                dimension: "small/model".into()
            })
        );
    }

    #[test]
    fn a_plan_change_rates_each_segments_tokens_with_its_own_allowance() {
        let catalog = including(1_000_000, 0);
        let period = nov();
        let change = period.start() + Duration::days(15);
        let segments = segments(
            period,
            &[
                on(plan(&catalog, "starter"), period.start(), Some(change)),
                on(plan(&catalog, "business"), change, None),
            ],
        );
        let usage = [
            tokens(Meter::InputTokens, key(1), "org/model", 1, 1_000_000),
            UsageTotal {
                usage_from: change,
                ..tokens(Meter::InputTokens, key(1), "org/model", 1, 1_000_000)
            },
        ];
        let invoice = rate(&catalog, period, &segments, &usage, &[]).unwrap();
        let lines: Vec<_> = invoice
            .lines
            .iter()
            .filter(|l| l.kind == LineKind::Usage)
            .map(|l| {
                (
                    l.plan.as_deref(),
                    l.source.as_ref().unwrap().included,
                    l.amount_minor,
                )
            })
            .collect();
        assert_eq!(
            lines,
            [
                (Some("starter"), Decimal::ZERO, 20),
                // Half the month of business: half its million included.
                (Some("business"), Decimal::from(500_000), 10),
            ]
        );
    }
}
