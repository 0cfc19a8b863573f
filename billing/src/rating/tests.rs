use std::collections::BTreeMap;

use chrono::Duration;
use proptest::prelude::*;
use rust_decimal::RoundingStrategy;

use super::per_unit::{GIB, unit_size};
use super::*;
use crate::PlanId;

pub(super) fn catalog() -> Catalog {
    Catalog::default_catalog().unwrap()
}

pub(super) fn plan<'c>(catalog: &'c Catalog, id: &str) -> &'c Plan {
    catalog.plan(&PlanId::from(id.to_owned())).unwrap()
}

pub(super) fn on<'c>(
    plan: &'c Plan,
    valid_from: DateTime<Utc>,
    valid_to: Option<DateTime<Utc>>,
) -> PlanPeriod<'c> {
    PlanPeriod {
        plan,
        valid_from,
        valid_to,
    }
}

const NOV: &str = "2026-11";

pub(super) fn nov() -> Period {
    NOV.parse().unwrap()
}

#[test]
fn a_free_month_is_empty() {
    let catalog = catalog();
    let period = nov();
    let segments = segments(period, &[on(plan(&catalog, "free"), period.start(), None)]);
    let usage = [UsageTotal {
        usage_from: period.start(),
        meter: Meter::StorageBytes,
        dimension: String::new(),
        rows: 1,
        quantity: Decimal::from(GIB),
    }];
    assert!(
        rate(&catalog, period, &segments, &usage, &[])
            .unwrap()
            .is_empty()
    );
}

#[test]
fn requests_rate_to_nothing_on_every_plan() {
    let catalog = catalog();
    let period = nov();
    for plan in &catalog.plans {
        let segments = segments(period, &[on(plan, period.start(), None)]);
        let requests = [UsageTotal {
            usage_from: period.start(),
            meter: Meter::Requests,
            dimension: String::new(),
            rows: 720,
            quantity: Decimal::from(1_000_000_000),
        }];
        assert_eq!(
            rate(&catalog, period, &segments, &requests, &[]),
            rate(&catalog, period, &segments, &[], &[]),
            "{}",
            plan.id
        );
    }
}

/// One generated rollup: hour index in the period, meter, dimension, value.
type Rollup = (i64, Meter, &'static str, Decimal);

/// Token dimensions: two keys, two models.
const TOKEN_DIMENSIONS: [&str; 3] = [
    "00000000-0000-0000-0000-000000000001 org/small",
    "00000000-0000-0000-0000-000000000002 org/small",
    "00000000-0000-0000-0000-000000000001 org/large",
];

fn rollup() -> impl Strategy<Value = Rollup> {
    let meter = prop_oneof![
        Just((Meter::NodeSeconds, "")),
        Just((Meter::StorageBytes, "")),
        Just((Meter::ObjectCount, "")),
        Just((Meter::GpuSeconds, "nvidia-l4")),
        Just((Meter::GpuSeconds, "nvidia-h100-80gb")),
        (
            prop_oneof![Just(Meter::InputTokens), Just(Meter::OutputTokens)],
            prop::sample::select(&TOKEN_DIMENSIONS[..]),
        ),
    ];
    // Values up to 64 GiB held for an hour, with millisecond precision;
    // tokens are whole, up to 25 billion an hour.
    (0i64..720, meter, 0i64..(64 * GIB * 3_600_000)).prop_map(|(hour, (m, d), v)| {
        let value = if m.is_token() {
            Decimal::from(v / 10_000)
        } else {
            Decimal::new(v, 3)
        };
        (hour, m, d, value)
    })
}

/// The plans a history is made of: the default catalog's, and business
/// billing GPU-hours only or tokens only with tokens included.
const PLANS: [&str; 5] = ["free", "starter", "business", "gpu-hours", "tokens"];

fn plans() -> Catalog {
    let mut catalog = catalog();
    let business = plan(&catalog, "business").clone();
    catalog.plans.push(Plan {
        id: PlanId::from("gpu-hours".to_owned()),
        inference_billing: crate::catalog::InferenceBilling::GpuHours,
        ..business.clone()
    });
    catalog.plans.push(Plan {
        id: PlanId::from("tokens".to_owned()),
        inference_billing: crate::catalog::InferenceBilling::Tokens,
        included_input_tokens: 50_000_000_000,
        included_output_tokens: 7_000_000_000,
        ..business
    });
    catalog
}

fn history() -> impl Strategy<Value = Vec<(usize, i64)>> {
    // Up to four plans; each change at a second of the month (the first
    // may start before it).
    prop::collection::vec((0usize..PLANS.len(), 0i64..30 * 86_400), 1..5)
}

/// A rollup's dimension as its line names it: a token meter's model.
fn priced_dimension(meter: Meter, dimension: &str) -> &str {
    if meter.is_token() {
        metering::tokens::model_of(dimension)
    } else {
        dimension
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn invoices_add_up_trace_to_their_rollups_and_never_bill_an_hour_twice(
        changes in history(),
        rollups in prop::collection::vec(rollup(), 0..200),
        credits in prop::collection::vec(0i64..20_000, 0..3),
    ) {
        let catalog = plans();
        let period = nov();
        let ids = PLANS;
        let mut starts: Vec<_> = changes.iter().map(|&(_, s)| s).collect();
        starts.sort_unstable();
        starts.dedup();
        starts[0] = -86_400; // the first plan began before the period
        let at = |s: i64| period.start() + Duration::seconds(s);
        let history: Vec<_> = starts
            .iter()
            .enumerate()
            .map(|(i, &s)| {
                let to = starts.get(i + 1).map(|&n| at(n));
                on(plan(&catalog, ids[changes[i % changes.len()].0]), at(s), to)
            })
            .collect();
        let segments = segments(period, &history);

        // Every hour of the period belongs to exactly one segment.
        let mut totals: BTreeMap<(DateTime<Utc>, Meter, &str), (i64, Decimal)> = BTreeMap::new();
        for &(hour, meter, dimension, value) in &rollups {
            let start = at(hour * 3600);
            let owners: Vec<_> = segments
                .iter()
                .filter(|s| { let (f, t) = s.usage_hours(); f <= start && start < t })
                .collect();
            prop_assert_eq!(owners.len(), 1, "hour {} has {} segments", start, owners.len());
            let total = totals.entry((owners[0].usage_hours().0, meter, dimension)).or_default();
            total.0 += 1;
            total.1 += value;
        }
        let usage: Vec<_> = totals
            .iter()
            .map(|(&(usage_from, meter, dimension), &(rows, quantity))| UsageTotal {
                usage_from, meter, dimension: dimension.to_owned(), rows, quantity,
            })
            .collect();
        let balances: Vec<_> = credits
            .iter()
            .enumerate()
            .map(|(i, &c)| CreditBalance { id: Uuid::from_u128(i as u128), remaining_minor: c })
            .collect();

        let invoice = rate(&catalog, period, &segments, &usage, &balances).unwrap();

        // The total is the sum of the lines, and never negative.
        let sum: i64 = invoice.lines.iter().map(|l| l.amount_minor).sum();
        prop_assert_eq!(invoice.total_minor, sum);
        prop_assert_eq!(invoice.subtotal_minor - invoice.credits_minor, invoice.total_minor);
        prop_assert!(invoice.total_minor >= 0);
        prop_assert!(invoice.credits_minor <= credits.iter().sum::<i64>());

        // Each usage line is its rollups beyond the allowance, at the price.
        let mut rated = Decimal::ZERO;
        let mut included: BTreeMap<(DateTime<Utc>, Meter), Decimal> = BTreeMap::new();
        for line in invoice.lines.iter().filter(|l| l.kind == LineKind::Usage) {
            let source = line.source.as_ref().unwrap();
            let price = catalog.price(source.meter, &source.dimension).unwrap();
            prop_assert_eq!(line.unit_amount_minor, price.unit_amount_minor);
            let billable = (source.quantity - source.included).max(Decimal::ZERO);
            prop_assert_eq!(line.quantity, billable / unit_size(source.meter, period));
            prop_assert_eq!(
                line.amount_minor,
                (line.quantity * Decimal::from(price.unit_amount_minor))
                    .round_dp_with_strategy(0, RoundingStrategy::MidpointAwayFromZero)
                    .try_into().unwrap_or(i64::MAX)
            );
            let expected: Decimal = rollups
                .iter()
                .filter(|r| r.1 == source.meter && priced_dimension(r.1, r.2) == source.dimension)
                .filter(|r| { let t = at(r.0 * 3600); source.from <= t && t < source.to })
                .map(|r| r.3)
                .sum();
            prop_assert_eq!(source.quantity, expected);
            rated += source.quantity;
            if source.meter.is_token() {
                // A model's line sums its keys; its share of the allowance
                // is never more than its tokens.
                prop_assert!(source.included <= source.quantity);
                *included.entry((source.from, source.meter)).or_default() += source.included;
            }
        }
        // A segment's token allowance is handed out at most once.
        for ((from, meter), handed) in included {
            let segment = segments
                .iter()
                .find(|s| {
                    let (f, t) = s.usage_hours();
                    f == from && f < t
                })
                .unwrap();
            let monthly = match meter {
                Meter::InputTokens => segment.plan.included_input_tokens,
                _ => segment.plan.included_output_tokens,
            };
            prop_assert!(handed <= Decimal::from(monthly));
        }

        // Nothing billed twice and nothing paid lost: the usage rated is
        // exactly the usage of the hours under plans that bill usage.
        let billed_hours: Decimal = rollups
            .iter()
            .filter(|r| {
                let t = at(r.0 * 3600);
                segments.iter().any(|s| {
                    let (f, to) = s.usage_hours();
                    bills(s.plan, r.1) && f <= t && t < to
                })
            })
            .map(|r| r.3)
            .sum();
        prop_assert_eq!(rated, billed_hours);

        // Base fees: each segment its share, rounded down, never more than
        // the fee of the most expensive plan.
        let fees: i64 = invoice.lines.iter().filter(|l| l.kind == LineKind::BaseFee).map(|l| l.amount_minor).sum();
        let exact: Decimal = segments
            .iter()
            .map(|s| Decimal::from(s.plan.base_fee_minor) * Decimal::from(s.seconds()) / Decimal::from(period.seconds()))
            .sum();
        prop_assert!(Decimal::from(fees) <= exact);
        prop_assert!(exact - Decimal::from(fees) < Decimal::from(segments.len() as i64));
    }
}
