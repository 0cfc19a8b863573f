//! Credit applied to an invoice: the organization's balances, oldest grant
//! first, each used as far as what is left to pay allows, so a total never
//! goes below zero.

use rust_decimal::Decimal;
use uuid::Uuid;

use super::{CreditBalance, Line, LineKind};

/// How much of each balance pays `subtotal_minor`, in the balances' order;
/// a balance that pays nothing is left out.
pub(super) fn applied(subtotal_minor: i64, balances: &[CreditBalance]) -> Vec<(Uuid, i64)> {
    let mut left = subtotal_minor;
    let mut used = Vec::new();
    for balance in balances {
        let amount = balance.remaining_minor.min(left);
        if amount > 0 {
            left -= amount;
            used.push((balance.id, amount));
        }
    }
    used
}

/// The line of `amount_minor` used of credit `id`: a negative amount.
pub(super) fn line(id: Uuid, amount_minor: i64) -> Line {
    Line {
        kind: LineKind::Credit,
        description: "Credit applied".to_owned(),
        plan: None,
        source: None,
        credit_id: Some(id),
        adjusts: None,
        quantity: Decimal::ONE,
        unit: "credit".to_owned(),
        unit_amount_minor: -amount_minor,
        amount_minor: -amount_minor,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rating::tests::{catalog, nov, on, plan};
    use crate::rating::{rate, segments};

    #[test]
    fn credits_pay_oldest_first_and_never_more_than_the_subtotal() {
        let (a, b) = (Uuid::from_u128(1), Uuid::from_u128(2));
        let balances = |x, y| {
            [
                CreditBalance {
                    id: a,
                    remaining_minor: x,
                },
                CreditBalance {
                    id: b,
                    remaining_minor: y,
                },
            ]
        };
        // subtotal, balances of a and b, what each pays
        let cases = [
            (2500, balances(1000, 5000), vec![(a, 1000), (b, 1500)]),
            (2500, balances(5000, 5000), vec![(a, 2500)]),
            (2500, balances(100, 200), vec![(a, 100), (b, 200)]),
            (2500, balances(0, 300), vec![(b, 300)]),
            (0, balances(1000, 1000), vec![]),
        ];
        for (subtotal, balances, expected) in cases {
            assert_eq!(applied(subtotal, &balances), expected, "{subtotal}");
        }
    }

    #[test]
    fn a_credit_line_is_negative() {
        let line = line(Uuid::from_u128(1), 1500);
        assert_eq!((line.kind, line.amount_minor), (LineKind::Credit, -1500));
        assert_eq!(line.unit_amount_minor, -1500);
    }

    #[test]
    fn credits_reduce_the_total_to_no_less_than_zero_oldest_first() {
        let catalog = catalog();
        let period = nov();
        let segments = segments(
            period,
            &[on(plan(&catalog, "starter"), period.start(), None)],
        );
        let (a, b) = (Uuid::from_u128(1), Uuid::from_u128(2));
        let credits = [
            CreditBalance {
                id: a,
                remaining_minor: 1000,
            },
            CreditBalance {
                id: b,
                remaining_minor: 5000,
            },
        ];
        let invoice = rate(&catalog, period, &segments, &[], &credits).unwrap();
        let used: Vec<_> = invoice
            .lines
            .iter()
            .filter(|l| l.kind == LineKind::Credit)
            .map(|l| (l.credit_id.unwrap(), l.amount_minor))
            .collect();
        assert_eq!(used, [(a, -1000), (b, -1500)]);
        assert_eq!(
            (
                invoice.subtotal_minor,
                invoice.credits_minor,
                invoice.total_minor
            ),
            (2500, 2500, 0)
        );
        assert!(!invoice.is_empty());
    }
}
