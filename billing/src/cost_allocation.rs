//! An invoice's money allocated to what made it: each usage line's amount
//! split over the resources whose rollups it rated, per day and per set of
//! labels in force when each hour started, in proportion to their quantity
//! ([`crate::allocation::largest_remainder`], so the parts add up to the
//! line exactly). The base fee and credits belong to no resource: they stay
//! whole, as parts of their own. Every part names its line, so the parts of
//! an invoice add up to its total, and each traces back to its rollups.
//!
//! The label breakdown and the FOCUS export read the same parts, so they
//! agree with each other and with the invoice.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, DurationRound, Utc};
use metering::labels::{History, LabelMap};
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;
use serde::Serialize;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::Result;
use crate::allocation::largest_remainder;
use crate::invoice::{self, Invoice, Rollup, StoredLine};

/// A piece of one invoice line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part {
    pub line_no: i32,
    /// `None` for the base fee and credits, and for a usage line whose
    /// rollups are no longer there.
    pub resource_id: Option<Uuid>,
    /// The UTC day of the rollups; `None` for a part of no resource.
    pub day: Option<DateTime<Utc>>,
    /// The labels in force at the start of its hours (an empty map: none).
    pub labels: LabelMap,
    /// The rollups' quantity in this part (the meter's unit, or value ×
    /// seconds for a gauge); zero for a part of no resource.
    pub quantity: Decimal,
    /// Its share of the line's billed quantity (in the line's unit), split
    /// as the amount is, to the millionth.
    pub pricing_quantity: Decimal,
    pub amount_minor: i64,
}

/// Billed quantities are split in millionths of the line's unit.
const PRICING_SCALE: u32 = 6;

/// A usage line's rollups grouped into parts and its amount split over
/// them. A line with an amount but no rollups left (deleted since) is one
/// part of no resource, so nothing is lost.
pub fn split_line(line: &StoredLine, rollups: &[Rollup], labels: &History) -> Vec<Part> {
    let mut groups: BTreeMap<(Uuid, DateTime<Utc>, LabelMap), Decimal> = BTreeMap::new();
    for rollup in rollups {
        let day = rollup
            .hour
            .duration_trunc(Duration::days(1))
            .unwrap_or(rollup.hour);
        let carried = labels
            .at(rollup.resource_id, rollup.hour)
            .cloned()
            .unwrap_or_default();
        *groups
            .entry((rollup.resource_id, day, carried))
            .or_default() += rollup.quantity;
    }
    let weights: Vec<Decimal> = groups.values().copied().collect();
    let millionths = (line.quantity * Decimal::from(10i64.pow(PRICING_SCALE)))
        .round()
        .to_i64()
        .unwrap_or(0);
    match (
        largest_remainder(line.amount_minor, &weights),
        largest_remainder(millionths, &weights),
    ) {
        (Some(amounts), Some(quantities)) => groups
            .into_iter()
            .zip(amounts.into_iter().zip(quantities))
            .map(
                |(((resource, day, labels), quantity), (amount_minor, pricing))| Part {
                    line_no: line.line_no,
                    resource_id: Some(resource),
                    day: Some(day),
                    labels,
                    quantity,
                    pricing_quantity: Decimal::new(pricing, PRICING_SCALE).normalize(),
                    amount_minor,
                },
            )
            .collect(),
        _ => vec![whole(line)],
    }
}

/// A line kept whole, of no resource.
fn whole(line: &StoredLine) -> Part {
    Part {
        line_no: line.line_no,
        resource_id: None,
        day: None,
        labels: LabelMap::new(),
        quantity: Decimal::ZERO,
        pricing_quantity: line.quantity,
        amount_minor: line.amount_minor,
    }
}

/// An invoice of the organization's with its lines and their parts, in line
/// order; `None` if it has no such invoice (drafts are not shown).
pub async fn allocate(
    conn: &mut PgConnection,
    organization_id: Uuid,
    invoice_id: Uuid,
) -> Result<Option<(Invoice, Vec<StoredLine>, Vec<Part>)>> {
    let Some((invoice, lines)) = invoice::get(conn, organization_id, invoice_id).await? else {
        return Ok(None);
    };
    let labels = metering::labels::history(
        conn,
        organization_id,
        invoice.period_start,
        invoice.period_end,
    )
    .await?;
    let mut parts = Vec::new();
    for line in &lines {
        if line.kind == "usage" {
            let rollups = invoice::line_rollups(conn, organization_id, line).await?;
            parts.extend(split_line(line, &rollups, &labels));
        } else {
            parts.push(whole(line));
        }
    }
    Ok(Some((invoice, lines, parts)))
}

/// What one value of a label was billed on an invoice.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LabelTotal {
    /// `None`: usage of resources that did not carry the label.
    pub value: Option<String>,
    pub amount_minor: i64,
}

/// An invoice by one label: usage per value of `key` (unlabelled usage as
/// `None`, last), and the amounts of no resource (base fee, credits) per
/// line kind. Together they add up to the invoice's total.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LabelBreakdown {
    pub key: String,
    pub by_value: Vec<LabelTotal>,
    /// `base_fee`, `credit` (and `usage` whose rollups are gone), summed.
    pub unallocated: BTreeMap<String, i64>,
}

/// Sums `parts` of `lines` by the value of label `key`.
pub fn by_label(lines: &[StoredLine], parts: &[Part], key: &str) -> LabelBreakdown {
    let kinds: BTreeMap<i32, &str> = lines.iter().map(|l| (l.line_no, l.kind.as_str())).collect();
    let mut values: BTreeMap<Option<&str>, i64> = BTreeMap::new();
    let mut unallocated: BTreeMap<String, i64> = BTreeMap::new();
    for part in parts {
        if part.resource_id.is_some() {
            *values
                .entry(part.labels.get(key).map(String::as_str))
                .or_default() += part.amount_minor;
        } else {
            let kind = kinds.get(&part.line_no).copied().unwrap_or("usage");
            *unallocated.entry(kind.to_owned()).or_default() += part.amount_minor;
        }
    }
    // Labelled values first, by name; unlabelled usage last.
    let by_value: Vec<LabelTotal> = values
        .iter()
        .filter(|(value, _)| value.is_some())
        .chain(values.iter().filter(|(value, _)| value.is_none()))
        .map(|(value, amount)| LabelTotal {
            value: value.map(str::to_owned),
            amount_minor: *amount,
        })
        .collect();
    LabelBreakdown {
        key: key.to_owned(),
        by_value,
        unallocated,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use metering::labels::Span;

    fn line(line_no: i32, kind: &str, amount_minor: i64) -> StoredLine {
        StoredLine {
            line_no,
            kind: kind.into(),
            description: String::new(),
            plan: None,
            meter: Some("node_seconds".into()),
            dimension: Some(String::new()),
            price_list: None,
            usage_from: None,
            usage_to: None,
            rollup_rows: None,
            rollup_quantity: None,
            included_quantity: None,
            quantity: Decimal::ONE,
            unit: "hour".into(),
            unit_amount_minor: amount_minor,
            amount_minor,
            credit_id: None,
            adjusts_invoice_id: None,
            adjusts_line_no: None,
            correction_id: None,
            billed_invoice_id: None,
        }
    }

    fn at(day: u32, hour: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, day, hour, 0, 0).unwrap()
    }

    fn rollup(resource: u128, hour: DateTime<Utc>, quantity: i64) -> Rollup {
        Rollup {
            resource_id: Uuid::from_u128(resource),
            dimension: String::new(),
            hour,
            quantity: Decimal::from(quantity),
        }
    }

    fn team(t: &str) -> LabelMap {
        LabelMap::from([("team".to_owned(), t.to_owned())])
    }

    #[test]
    fn a_line_is_split_per_resource_day_and_labels_in_proportion_and_exactly() {
        // Resource 1 is team a until Nov 2 12:00, then team b.
        let history = History::new([
            (
                Uuid::from_u128(1),
                Span {
                    valid_from: DateTime::<Utc>::MIN_UTC,
                    valid_to: Some(at(2, 12)),
                    labels: team("a"),
                },
            ),
            (
                Uuid::from_u128(1),
                Span {
                    valid_from: at(2, 12),
                    valid_to: None,
                    labels: team("b"),
                },
            ),
        ]);
        let rollups = [
            rollup(1, at(1, 5), 3600),
            rollup(1, at(2, 11), 3600),
            rollup(1, at(2, 12), 3600),
            rollup(2, at(1, 5), 3600),
        ];
        let parts = split_line(&line(2, "usage", 1000), &rollups, &history);
        let read: Vec<_> = parts
            .iter()
            .map(|p| {
                (
                    p.resource_id.map(|r| r.as_u128()),
                    p.day.map(|d| d.format("%d").to_string()),
                    p.labels.get("team").map(String::as_str),
                    p.amount_minor,
                )
            })
            .collect();
        // Four equal quantities: 250 each, in resource, day, labels order.
        assert_eq!(
            read,
            [
                (Some(1), Some("01".into()), Some("a"), 250),
                (Some(1), Some("02".into()), Some("a"), 250),
                (Some(1), Some("02".into()), Some("b"), 250),
                (Some(2), Some("01".into()), None, 250),
            ]
        );

        let lines = [
            line(1, "base_fee", 2500),
            line(2, "usage", 1000),
            line(3, "credit", -300),
        ];
        let mut all = vec![whole(&lines[0])];
        all.extend(parts);
        all.push(whole(&lines[2]));
        let breakdown = by_label(&lines, &all, "team");
        assert_eq!(
            breakdown.by_value,
            [
                LabelTotal {
                    value: Some("a".into()),
                    amount_minor: 500
                },
                LabelTotal {
                    value: Some("b".into()),
                    amount_minor: 250
                },
                LabelTotal {
                    value: None,
                    amount_minor: 250
                },
            ]
        );
        assert_eq!(
            breakdown.unallocated,
            BTreeMap::from([("base_fee".to_owned(), 2500), ("credit".to_owned(), -300)])
        );
    }

    proptest::proptest! {
        /// Whatever the rollups and labels, a line's parts add up to it,
        /// and its quantity to the rollups'.
        #[test]
        fn a_lines_parts_add_up_to_its_amount_and_its_rollups(
            amount in -1_000_000i64..1_000_000,
            rollups in proptest::collection::vec((0u128..4, 0u32..72, 0i64..10_000_000), 1..60),
            changed_at in 0u32..72,
        ) {
            let hour = |h: u32| at(1, 0) + Duration::hours(i64::from(h));
            let history = History::new([(
                Uuid::from_u128(0),
                Span { valid_from: hour(changed_at), valid_to: None, labels: team("x") },
            )]);
            let rollups: Vec<Rollup> =
                rollups.iter().map(|(r, h, q)| rollup(*r, hour(*h), *q)).collect();
            let parts = split_line(&line(1, "usage", amount), &rollups, &history);
            proptest::prop_assert_eq!(parts.iter().map(|p| p.amount_minor).sum::<i64>(), amount);
            proptest::prop_assert_eq!(
                parts.iter().map(|p| p.quantity).sum::<Decimal>(),
                rollups.iter().map(|r| r.quantity).sum::<Decimal>()
            );
        }
    }

    #[test]
    fn a_line_whose_rollups_are_gone_stays_whole() {
        let parts = split_line(&line(4, "usage", 99), &[], &History::default());
        assert_eq!(parts, [whole(&line(4, "usage", 99))]);
    }
}
