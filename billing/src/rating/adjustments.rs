//! Adjustments: a correction of usage already invoiced, as lines of the
//! organization's next invoice.
//!
//! [`rerate`] rates an invoice's usage lines again, from their rollup
//! quantities as corrected, with the invoice's own catalog version and plan
//! segments: what a line should have charged. The difference from what it
//! charged (with earlier adjustments) is the adjustment, recorded once per
//! correction and line. [`lines`] puts the pending ones on an invoice:
//! increases in full; decreases, oldest first, only as far as the invoice's
//! charges go, so a total never goes below zero; what a decrease cannot
//! take off now stays pending for the next invoice.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use metering::Meter;
use rust_decimal::Decimal;
use uuid::Uuid;

use super::{Catalog, Line, LineKind, RatingError, Segment, UsageTotal, rate};
use crate::period::Period;

/// The line an adjustment line adjusts, and the correction behind it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Adjusts {
    pub invoice_id: Uuid,
    pub line_no: i32,
    pub correction_id: Uuid,
}

/// What is left to put on an invoice of one correction's adjustment of
/// one line.
#[derive(Debug, Clone, PartialEq)]
pub struct Pending {
    pub adjusts: Adjusts,
    /// The adjusted invoice's number and the line's description.
    pub invoice_number: String,
    pub description: String,
    /// The change of the line's priced units, its unit and unit price.
    pub quantity: Decimal,
    pub unit: String,
    pub unit_amount_minor: i64,
    /// Not yet applied: the adjustment less what invoices took of it.
    pub remaining_minor: i64,
}

/// The adjustment lines of an invoice whose other lines charge
/// `charged_minor`, in the order given (oldest first): increases in full,
/// then decreases while the subtotal stays at or above zero. A decrease
/// taken in part leaves the rest pending; one that takes nothing has no
/// line.
pub fn lines(charged_minor: i64, pending: &[Pending]) -> Result<Vec<Line>, RatingError> {
    let mut subtotal = charged_minor;
    let mut out = Vec::new();
    let increases = pending.iter().filter(|p| p.remaining_minor > 0);
    let decreases = pending.iter().filter(|p| p.remaining_minor < 0);
    for p in increases.chain(decreases) {
        let amount = p.remaining_minor.max(-subtotal.max(0));
        if amount == 0 {
            continue;
        }
        subtotal = subtotal.checked_add(amount).ok_or(RatingError::Overflow)?;
        let part = if amount == p.remaining_minor {
            ""
        } else {
            " (in part; the rest on a later invoice)"
        };
        out.push(Line {
            kind: LineKind::Adjustment,
            description: format!(
                "Usage correction of {} line {}: {}{part}",
                p.invoice_number, p.adjusts.line_no, p.description
            ),
            plan: None,
            source: None,
            credit_id: None,
            adjusts: Some(p.adjusts),
            quantity: p.quantity,
            unit: p.unit.clone(),
            unit_amount_minor: p.unit_amount_minor,
            amount_minor: amount,
        });
    }
    Ok(out)
}

/// A usage line as invoiced: its number, and its rollups' total as it
/// stands (with every correction recorded against it so far).
#[derive(Debug, Clone, PartialEq)]
pub struct Billed {
    pub line_no: i32,
    pub total: UsageTotal,
}

/// What a usage line charges when rated again: priced units and amount.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rerated {
    pub quantity: Decimal,
    pub amount_minor: i64,
}

/// Rates an invoice's usage lines again from `billed` totals, with the
/// invoice's catalog and plan segments; by line number. A token line's
/// total is of its model (every key's), as the line was rated.
pub fn rerate(
    catalog: &Catalog,
    period: Period,
    segments: &[Segment<'_>],
    billed: &[Billed],
) -> Result<BTreeMap<i32, Rerated>, RatingError> {
    let totals: Vec<UsageTotal> = billed.iter().map(|b| b.total.clone()).collect();
    let of: BTreeMap<(DateTime<Utc>, Meter, &str), i32> = billed
        .iter()
        .map(|b| {
            (
                (
                    b.total.usage_from,
                    b.total.meter,
                    b.total.dimension.as_str(),
                ),
                b.line_no,
            )
        })
        .collect();
    let invoice = rate(catalog, period, segments, &totals, &[])?;
    Ok(invoice
        .lines
        .iter()
        .filter_map(|line| {
            let source = line.source.as_ref()?;
            let line_no = of.get(&(source.from, source.meter, source.dimension.as_str()))?;
            Some((
                *line_no,
                Rerated {
                    quantity: line.quantity,
                    amount_minor: line.amount_minor,
                },
            ))
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pending(n: i32, remaining_minor: i64) -> Pending {
        Pending {
            adjusts: Adjusts {
                invoice_id: Uuid::from_u128(1),
                line_no: n,
                correction_id: Uuid::from_u128(u128::try_from(n).unwrap()),
            },
            invoice_number: "QM-000001".into(),
            description: "GPU-hour (nvidia-l4), Starter plan".into(),
            quantity: Decimal::ONE,
            unit: "GPU-hour".into(),
            unit_amount_minor: 80,
            remaining_minor,
        }
    }

    fn applied(charged: i64, pending: &[Pending]) -> Vec<(i32, i64)> {
        lines(charged, pending)
            .unwrap()
            .iter()
            .map(|l| (l.adjusts.unwrap().line_no, l.amount_minor))
            .collect()
    }

    #[test]
    fn increases_apply_in_full_and_decreases_only_down_to_a_zero_subtotal() {
        // charged, pending (line, remaining), applied (line, amount)
        let cases = [
            (2500, vec![pending(1, 300)], vec![(1, 300)]),
            (2500, vec![pending(1, -300)], vec![(1, -300)]),
            // Decreases oldest first, the second in part, the third not at all.
            (
                500,
                vec![pending(1, -300), pending(2, -300), pending(3, -50)],
                vec![(1, -300), (2, -200)],
            ),
            // Increases first, whatever their order: they make room.
            (
                0,
                vec![pending(1, -300), pending(2, 100)],
                vec![(2, 100), (1, -100)],
            ),
            (0, vec![pending(1, -300)], vec![]),
        ];
        for (charged, pending, expected) in cases {
            assert_eq!(applied(charged, &pending), expected, "{charged}");
        }
        let partial = lines(500, &[pending(1, -800)]).unwrap();
        assert!(partial[0].description.contains("in part"), "{partial:?}");
        assert_eq!(partial[0].kind, LineKind::Adjustment);
    }
}
