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
        price_list: None,
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
            price_list: None,
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

/// The plan history `changes` make: each change at its second of the
/// period, the first plan begun a day before it.
fn plan_history<'c>(
    catalog: &'c Catalog,
    period: Period,
    changes: &[(usize, i64)],
) -> Vec<PlanPeriod<'c>> {
    let mut starts: Vec<_> = changes.iter().map(|&(_, s)| s).collect();
    starts.sort_unstable();
    starts.dedup();
    starts[0] = -86_400;
    let at = |s: i64| period.start() + Duration::seconds(s);
    starts
        .iter()
        .enumerate()
        .map(|(i, &s)| {
            let to = starts.get(i + 1).map(|&n| at(n));
            on(
                plan(catalog, PLANS[changes[i % changes.len()].0]),
                at(s),
                to,
            )
        })
        .collect()
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
        let at = |s: i64| period.start() + Duration::seconds(s);
        let segments = segments(period, &plan_history(&catalog, period, &changes));

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
                price_list: None,
                usage_from, meter, dimension: dimension.to_owned(), rows, quantity,
            })
            .collect();
        let balances = balances(&credits);

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

/// The usage totals of `rollups` (hour index, meter, dimension, value)
/// per segment, meter and dimension, as the close sums them.
fn totals_of(
    segments: &[Segment<'_>],
    rollups: &[Rollup],
    at: impl Fn(i64) -> DateTime<Utc>,
) -> Vec<UsageTotal> {
    let mut totals: BTreeMap<(DateTime<Utc>, Meter, &str), (i64, Decimal)> = BTreeMap::new();
    for &(hour, meter, dimension, value) in rollups {
        let start = at(hour * 3600);
        let Some(owner) = segments.iter().find(|s| {
            let (f, t) = s.usage_hours();
            f <= start && start < t
        }) else {
            continue;
        };
        let total = totals
            .entry((owner.usage_hours().0, meter, dimension))
            .or_default();
        total.0 += 1;
        total.1 += value;
    }
    totals
        .into_iter()
        .map(
            |((usage_from, meter, dimension), (rows, quantity))| UsageTotal {
                price_list: None,
                usage_from,
                meter,
                dimension: dimension.to_owned(),
                rows,
                quantity,
            },
        )
        .collect()
}

/// A generated correction: which rollup (an index, modulo their count), its
/// new value (`None`: voided), and whether it came after the close.
type Correction = (usize, Option<Decimal>, bool);

fn correction() -> impl Strategy<Value = Correction> {
    (
        0usize..1_000,
        prop::option::of((0i64..(64 * GIB * 3_600_000)).prop_map(|v| Decimal::new(v, 3))),
        any::<bool>(),
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn corrections_before_and_after_the_close_bill_the_corrected_usage_to_the_cent(
        changes in history(),
        rollups in prop::collection::vec(rollup(), 1..120),
        corrections in prop::collection::vec(correction(), 1..12),
        charges in prop::collection::vec(0i64..50_000, 1..4),
    ) {
        let catalog = plans();
        let period = nov();
        let at = |s: i64| period.start() + Duration::seconds(s);
        let segments = segments(period, &plan_history(&catalog, period, &changes));
        let corrected = |r: &Rollup, value: Option<Decimal>| {
            let mut r = *r;
            // A token's value is whole; a voided event adds nothing.
            r.3 = value.map_or(Decimal::ZERO, |v| if r.1.is_token() { v.trunc() } else { v });
            r
        };

        // Before the close, corrections change the rollups themselves.
        let mut rollups = rollups;
        let mut after_close = Vec::new();
        for &(index, value, late) in &corrections {
            let index = index % rollups.len();
            if late {
                after_close.push((index, value));
            } else {
                rollups[index] = corrected(&rollups[index], value);
            }
        }
        let invoice = rate(&catalog, period, &segments, &totals_of(&segments, &rollups, at), &[]).unwrap();
        let usage_lines: Vec<(i32, &Line)> = invoice
            .lines
            .iter()
            .enumerate()
            .filter(|(_, l)| l.kind == LineKind::Usage)
            .map(|(n, l)| (i32::try_from(n + 1).unwrap(), l))
            .collect();
        let mut billed: Vec<adjustments::Billed> = usage_lines
            .iter()
            .map(|(line_no, l)| {
                let s = l.source.as_ref().unwrap();
                adjustments::Billed {
                    line_no: *line_no,
                    total: UsageTotal {
                        price_list: None,
                        usage_from: s.from,
                        meter: s.meter,
                        dimension: s.dimension.clone(),
                        rows: s.rows,
                        quantity: s.quantity,
                    },
                }
            })
            .collect();
        let mut amounts: BTreeMap<i32, i64> =
            usage_lines.iter().map(|(n, l)| (*n, l.amount_minor)).collect();

        // After it, each correction re-rates the invoiced lines: the
        // adjustment is what each line should charge now less what it
        // charged with the adjustments before.
        let mut pending = Vec::new();
        for (k, &(index, value)) in after_close.iter().enumerate() {
            let old = rollups[index];
            let new = corrected(&old, value);
            rollups[index] = new;
            let hour = at(old.0 * 3600);
            for b in billed.iter_mut().filter(|b| {
                b.total.meter == old.1
                    && b.total.dimension == priced_dimension(old.1, old.2)
                    && segments.iter().any(|s| {
                        let (f, t) = s.usage_hours();
                        f == b.total.usage_from && f <= hour && hour < t
                    })
            }) {
                b.total.quantity += new.3 - old.3;
            }
            let rerated = adjustments::rerate(&catalog, period, &segments, &billed).unwrap();
            for (line_no, now) in rerated {
                let before = amounts[&line_no];
                if now.amount_minor != before {
                    pending.push(adjustments::Pending {
                        adjusts: adjustments::Adjusts {
                            invoice_id: Uuid::nil(),
                            line_no,
                            correction_id: Uuid::from_u128(k as u128),
                        },
                        invoice_number: "QM-000001".into(),
                        description: String::new(),
                        quantity: Decimal::ZERO,
                        unit: String::new(),
                        unit_amount_minor: 0,
                        remaining_minor: now.amount_minor - before,
                    });
                    amounts.insert(line_no, now.amount_minor);
                }
            }
        }

        // The lines as invoiced plus their adjustments are, to the cent,
        // what rating the corrected usage at once bills.
        let direct = rate(&catalog, period, &segments, &totals_of(&segments, &rollups, at), &[]).unwrap();
        let direct_usage: i64 = direct.lines.iter().filter(|l| l.kind == LineKind::Usage).map(|l| l.amount_minor).sum();
        let invoiced: i64 = usage_lines.iter().map(|(_, l)| l.amount_minor).sum();
        let adjusted: i64 = pending.iter().map(|p| p.remaining_minor).sum();
        prop_assert_eq!(invoiced + adjusted, direct_usage);

        // Later invoices take the adjustments: none goes below zero, and
        // once one charges enough, everything has been applied, once.
        let owed_back: i64 = -pending.iter().map(|p| p.remaining_minor.min(0)).sum::<i64>();
        let mut applied = 0;
        for charged in charges.into_iter().chain([owed_back]) {
            let lines = adjustments::lines(charged, &pending).unwrap();
            let taken: i64 = lines.iter().map(|l| l.amount_minor).sum();
            prop_assert!(charged + taken >= 0, "{} + {} < 0", charged, taken);
            for line in &lines {
                let p = pending.iter_mut().find(|p| Some(p.adjusts) == line.adjusts).unwrap();
                prop_assert!(line.amount_minor.signum() == p.remaining_minor.signum());
                prop_assert!(line.amount_minor.abs() <= p.remaining_minor.abs());
                p.remaining_minor -= line.amount_minor;
            }
            applied += taken;
        }
        prop_assert!(pending.iter().all(|p| p.remaining_minor == 0));
        prop_assert_eq!(applied, adjusted);
    }
}

/// A month of `rollups` on one plan, summed per meter and dimension, each
/// quantity scaled by `share` (0 to 1000 thousandths): the usage so far at
/// some point of the month.
fn usage_share(rollups: &[Rollup], from: DateTime<Utc>, share: i64) -> Vec<UsageTotal> {
    let mut totals: BTreeMap<(Meter, &str), (i64, Decimal)> = BTreeMap::new();
    for &(_, meter, dimension, value) in rollups {
        let total = totals.entry((meter, dimension)).or_default();
        total.0 += 1;
        total.1 += value;
    }
    totals
        .into_iter()
        .map(|((meter, dimension), (rows, quantity))| UsageTotal {
            price_list: None,
            usage_from: from,
            meter,
            dimension: dimension.to_owned(),
            rows,
            quantity: (quantity * Decimal::new(share, 3)).round_dp(3),
        })
        .collect()
}

/// Grants of `credits`, in order, with ids 0, 1, …
fn balances(credits: &[i64]) -> Vec<CreditBalance> {
    credits
        .iter()
        .enumerate()
        .map(|(i, &c)| CreditBalance {
            id: Uuid::from_u128(i as u128),
            remaining_minor: c,
        })
        .collect()
}

/// Credit left of `balances` after `invoice` drew on it.
fn after_draws(balances: &[CreditBalance], invoice: &RatedInvoice) -> Vec<CreditBalance> {
    balances
        .iter()
        .map(|b| CreditBalance {
            id: b.id,
            remaining_minor: b.remaining_minor
                + invoice
                    .lines
                    .iter()
                    .filter(|l| l.credit_id == Some(b.id))
                    .map(|l| l.amount_minor)
                    .sum::<i64>(),
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    /// Interim invoices issued whenever unbilled usage reached a threshold,
    /// then the close's invoice, add up to the single invoice the period
    /// would have had, to the cent, with credit drawn by each in turn.
    #[test]
    fn interim_invoices_and_the_close_add_up_to_the_single_invoice(
        plan_id in prop::sample::select(&["starter", "business", "gpu-hours", "tokens"][..]),
        rollups in prop::collection::vec(rollup(), 0..120),
        mut shares in prop::collection::vec(0i64..=1000, 0..6),
        threshold in 1i64..200_000,
        credits in prop::collection::vec(0i64..50_000, 0..3),
    ) {
        let catalog = plans();
        let period = nov();
        let segments = segments(period, &[on(plan(&catalog, plan_id), period.start(), None)]);
        let balances = balances(&credits);
        shares.sort_unstable();
        let full = usage_share(&rollups, period.start(), 1000);
        let single = rate(&catalog, period, &segments, &full, &balances).unwrap();

        let mut billed: Vec<interim::Billed> = Vec::new();
        let mut left = balances.clone();
        let (mut subtotals, mut drawn) = (0i64, 0i64);
        for (k, &share) in shares.iter().enumerate() {
            let so_far = usage_share(&rollups, period.start(), share);
            let invoice =
                rate_interim(&catalog, period, &segments, &so_far, &billed, &left).unwrap();
            if !interim::due(Some(threshold), invoice.subtotal_minor) {
                continue;
            }
            prop_assert!(invoice.total_minor >= 0);
            subtotals += invoice.subtotal_minor;
            drawn += invoice.credits_minor;
            left = after_draws(&left, &invoice);
            billed.push(interim::Billed {
                invoice_id: Uuid::from_u128(100 + k as u128),
                number: format!("QM-{k}"),
                amount_minor: invoice.subtotal_minor,
            });
        }
        let last = rate_closing(&catalog, period, &segments, &full, &billed, &[], &left).unwrap();
        // The close deducts each interim invoice in a line naming it.
        let deducted: Vec<_> = last
            .lines
            .iter()
            .filter(|l| l.kind == LineKind::Interim)
            .map(|l| (l.billed_invoice.unwrap(), -l.amount_minor))
            .collect();
        let expected: Vec<_> = billed.iter().map(|b| (b.invoice_id, b.amount_minor)).collect();
        prop_assert_eq!(deducted, expected);
        prop_assert_eq!(subtotals + last.subtotal_minor, single.subtotal_minor);
        prop_assert_eq!(drawn + last.credits_minor, single.credits_minor);
        prop_assert_eq!(
            subtotals - drawn + last.total_minor,
            single.total_minor,
            "what the card is charged, in all"
        );
    }
}

/// A business month's usage of one meter, rated by `price_list`.
fn month_of(meter: Meter, price_list: Option<&str>, rows: i64, quantity: Decimal) -> UsageTotal {
    UsageTotal {
        usage_from: nov().start(),
        meter,
        dimension: String::new(),
        price_list: price_list.map(str::to_owned),
        rows,
        quantity,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// One business organization, a cluster in its own (customer-run) data
    /// plane and one in a shared region: the customer-run node-hours pay
    /// the platform fee and its storage nothing; the shared cluster pays
    /// the catalog's prices beyond the plan's allowance, as if alone.
    #[test]
    fn customer_run_usage_pays_the_platform_fee_only_and_shared_usage_pays_as_usual(
        own_hours in 0i64..20_000,
        shared_hours in 0i64..20_000,
        own_gib in 0i64..500,
        shared_gib in 0i64..500,
    ) {
        let catalog = catalog();
        let period = nov();
        let segments = segments(period, &[on(plan(&catalog, "business"), period.start(), None)]);
        let held = |gib: i64| Decimal::from(gib * GIB) * Decimal::from(period.seconds());
        let list = Some("customer-run");
        let usage = [
            month_of(Meter::NodeSeconds, list, 720, Decimal::from(own_hours * 3600)),
            month_of(Meter::StorageBytes, list, 720, held(own_gib)),
            month_of(Meter::NodeSeconds, None, 720, Decimal::from(shared_hours * 3600)),
            month_of(Meter::StorageBytes, None, 720, held(shared_gib)),
        ];
        let invoice = rate(&catalog, period, &segments, &usage, &[]).unwrap();
        let usage_lines: Vec<_> = invoice
            .lines
            .iter()
            .filter(|l| l.kind == LineKind::Usage)
            .map(|l| {
                let source = l.source.as_ref().unwrap();
                (source.meter, source.price_list.as_deref(), l.amount_minor)
            })
            .collect();
        // 16 GiB included on business, of the shared cluster's storage only.
        let storage = (shared_gib - 16).max(0) * 25;
        prop_assert_eq!(
            usage_lines,
            vec![
                (Meter::NodeSeconds, list, own_hours * 2),
                (Meter::NodeSeconds, None, shared_hours * 5),
                (Meter::StorageBytes, None, storage),
            ]
        );
        prop_assert_eq!(
            invoice.total_minor,
            10_000 + own_hours * 2 + shared_hours * 5 + storage
        );
        let own = invoice.lines.iter().find(|l| {
            l.source.as_ref().is_some_and(|s| s.price_list.is_some())
        });
        let own = own.unwrap();
        prop_assert_eq!(&own.description, "node-hour (Customer-run price list), Business plan");
        // Traced to the customer-run rollups only, with no allowance.
        let source = own.source.as_ref().unwrap();
        prop_assert_eq!(
            (source.rows, source.quantity, source.included),
            (720, Decimal::from(own_hours * 3600), Decimal::ZERO)
        );
    }
}

#[test]
fn usage_of_a_price_list_the_catalog_lacks_is_an_error_naming_it() {
    let catalog = catalog();
    let period = nov();
    let segments = segments(
        period,
        &[on(plan(&catalog, "business"), period.start(), None)],
    );
    let usage = [month_of(
        Meter::NodeSeconds,
        Some("gone"),
        1,
        Decimal::from(3600),
    )];
    let err = rate(&catalog, period, &segments, &usage, &[]).unwrap_err();
    assert_eq!(err, RatingError::UnknownPriceList("gone".to_owned()));
    assert!(err.to_string().contains("price list `gone`"), "{err}");
}

#[test]
fn a_price_list_prices_tokens_by_model_with_no_allowance() {
    let mut catalog = catalog();
    for plan in catalog.plans.iter_mut() {
        plan.included_input_tokens = 10_000_000;
    }
    catalog.price_lists[0].prices.push(Price {
        meter: Meter::InputTokens,
        dimension: None,
        unit: "1M input tokens".to_owned(),
        unit_amount_minor: 7,
    });
    let period = nov();
    let segments = segments(
        period,
        &[on(plan(&catalog, "business"), period.start(), None)],
    );
    let key = uuid::Uuid::from_u128(1);
    let tokens = |list: Option<&str>, millions: i64| UsageTotal {
        dimension: format!("{key} org/model"),
        ..month_of(
            Meter::InputTokens,
            list,
            1,
            Decimal::from(millions * 1_000_000),
        )
    };
    let invoice = rate(
        &catalog,
        period,
        &segments,
        &[tokens(Some("customer-run"), 3), tokens(None, 12)],
        &[],
    )
    .unwrap();
    let lines: Vec<_> = invoice.lines[1..]
        .iter()
        .map(|l| {
            (
                l.source.as_ref().unwrap().price_list.clone(),
                l.amount_minor,
            )
        })
        .collect();
    // The allowance (10M) goes to the catalog's tokens: 2M at 20.
    assert_eq!(lines, [(None, 40), (Some("customer-run".to_owned()), 21)]);
}
