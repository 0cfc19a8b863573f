//! Interim invoices: when a period's usage charges not yet invoiced reach
//! the plan's threshold, they are billed at once. Each later invoice of the
//! period (interim or the close's) rates the usage so far in full and
//! deducts, line by line, what the interim ones before it billed, so the
//! interim invoices and the last one add up to the single invoice the
//! period would have had, to the cent.

use rust_decimal::Decimal;
use uuid::Uuid;

use super::{Line, LineKind};

/// An interim invoice already issued for the period: what it billed before
/// credits (its subtotal).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Billed {
    pub invoice_id: Uuid,
    pub number: String,
    pub amount_minor: i64,
}

/// Whether unbilled usage charges of `unbilled_minor` call for an interim
/// invoice under a plan's `threshold_minor`.
pub fn due(threshold_minor: Option<i64>, unbilled_minor: i64) -> bool {
    threshold_minor.is_some_and(|threshold| unbilled_minor > 0 && unbilled_minor >= threshold)
}

/// One negative line per interim invoice, naming it.
pub(super) fn lines(billed: &[Billed]) -> impl Iterator<Item = Line> + '_ {
    billed.iter().map(|b| Line {
        kind: LineKind::Interim,
        description: format!("Usage billed on interim invoice {}", b.number),
        plan: None,
        source: None,
        credit_id: None,
        adjusts: None,
        billed_invoice: Some(b.invoice_id),
        quantity: Decimal::ONE,
        unit: "invoice".to_owned(),
        unit_amount_minor: -b.amount_minor,
        amount_minor: -b.amount_minor,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_interim_invoice_is_due_from_the_threshold_on_and_never_for_nothing() {
        assert!(!due(None, 1_000_000));
        assert!(!due(Some(50_000), 49_999));
        assert!(due(Some(50_000), 50_000));
        assert!(!due(Some(0), 0), "nothing to bill");
    }
}
