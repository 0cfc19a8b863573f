//! Splitting an amount of money over parts in proportion to their weights,
//! so that the parts add up to the amount exactly: each part gets the
//! whole minor units of its exact share, and the units left over go one
//! each to the parts whose shares lost the most to rounding down (the
//! largest-remainder, or Hamilton, method). Pure.

use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;

/// `amount` split over `weights` in proportion, in the same order; the
/// parts sum to `amount` exactly and each is within one minor unit of its
/// exact share. Ties in remainder go to the earlier part, so the split is
/// the same every time. A negative weight counts as zero; when every
/// weight is zero the amount is split evenly. `None` only when there is
/// nothing to split over (`weights` empty) and `amount` is not zero.
pub fn largest_remainder(amount: i64, weights: &[Decimal]) -> Option<Vec<i64>> {
    if weights.is_empty() {
        return (amount == 0).then(Vec::new);
    }
    let weights: Vec<Decimal> = weights.iter().map(|w| (*w).max(Decimal::ZERO)).collect();
    let total: Decimal = weights.iter().sum();
    let even = total.is_zero();
    let magnitude = Decimal::from(amount.unsigned_abs());
    let count = Decimal::from(weights.len());
    // Whole units and the fraction lost, per part.
    let shares: Vec<(i64, Decimal)> = weights
        .iter()
        .map(|w| {
            let exact = if even {
                magnitude / count
            } else {
                magnitude
                    .checked_mul(*w)
                    .and_then(|m| m.checked_div(total))
                    // Past Decimal's range, the ratio first: 28 digits.
                    .unwrap_or_else(|| magnitude * (*w / total))
            };
            let whole = exact.floor();
            (whole.to_i64().unwrap_or(i64::MAX), exact - whole)
        })
        .collect();
    // Whole shares never exceed the amount; whatever the last digits of a
    // ratio gained or lost is settled below, in bulk, so the sum is exact.
    let limit = i128::from(amount.unsigned_abs());
    let mut parts: Vec<i128> = shares
        .iter()
        .map(|(whole, _)| i128::from(*whole).clamp(0, limit))
        .collect();
    let mut order: Vec<usize> = (0..parts.len()).collect();
    order.sort_by(|a, b| shares[*b].1.cmp(&shares[*a].1).then(a.cmp(b)));
    let left = limit - parts.iter().sum::<i128>();
    if left >= 0 {
        let n = i128::try_from(parts.len()).unwrap_or(i128::MAX);
        for (rank, i) in order.iter().enumerate() {
            let rank = i128::try_from(rank).unwrap_or(i128::MAX);
            parts[*i] += left / n + i128::from(rank < left % n);
        }
    } else {
        let mut excess = -left;
        for i in order.iter().rev() {
            let take = parts[*i].min(excess);
            parts[*i] -= take;
            excess -= take;
        }
    }
    let sign = if amount < 0 { -1 } else { 1 };
    Some(
        parts
            .into_iter()
            .map(|p| i64::try_from(sign * p).unwrap_or(amount))
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn split(amount: i64, weights: &[i64]) -> Vec<i64> {
        let weights: Vec<Decimal> = weights.iter().map(|w| Decimal::from(*w)).collect();
        largest_remainder(amount, &weights).unwrap()
    }

    #[test]
    fn parts_follow_the_weights_and_leftovers_go_to_the_largest_remainders() {
        assert_eq!(split(100, &[1, 1, 2]), [25, 25, 50]);
        // 100/3 each: 33 + 33 + 33, one left, to the first of equal remainders.
        assert_eq!(split(100, &[1, 1, 1]), [34, 33, 33]);
        // Exact shares 14.2857, 28.5714, 57.1428: remainders .29, .57, .14.
        assert_eq!(split(100, &[1, 2, 4]), [14, 29, 57]);
        assert_eq!(split(1, &[1, 3]), [0, 1]);
        assert_eq!(split(0, &[5, 7]), [0, 0]);
        assert_eq!(split(-100, &[1, 1, 1]), [-34, -33, -33]);
        assert_eq!(split(7, &[0, 0]), [4, 3], "no weight: evenly");
        assert_eq!(split(9, &[0, 3, -2]), [0, 9, 0], "no weight, no share");
        assert_eq!(largest_remainder(0, &[]), Some(vec![]));
        assert_eq!(largest_remainder(5, &[]), None);
    }

    #[test]
    fn huge_weights_still_sum_exactly() {
        let weights = [
            Decimal::MAX / Decimal::from(3),
            Decimal::ONE,
            Decimal::MAX / Decimal::from(2),
        ];
        let parts = largest_remainder(i64::MAX, &weights).unwrap();
        assert_eq!(
            parts.iter().map(|p| i128::from(*p)).sum::<i128>(),
            i128::from(i64::MAX)
        );
    }

    proptest! {
        #[test]
        fn parts_sum_to_the_amount_and_stay_within_a_unit_of_the_exact_share(
            amount in -10_000_000i64..10_000_000,
            weights in prop::collection::vec(0u64..5_000_000_000_000, 1..40),
        ) {
            let decimals: Vec<Decimal> = weights.iter().map(|w| Decimal::from(*w)).collect();
            let parts = largest_remainder(amount, &decimals).unwrap();
            prop_assert_eq!(parts.len(), weights.len());
            prop_assert_eq!(parts.iter().sum::<i64>(), amount);
            let total: u128 = weights.iter().map(|w| u128::from(*w)).sum();
            for (part, weight) in parts.iter().zip(&weights) {
                prop_assert!(part.signum() * amount.signum() >= 0, "a part never has the other sign");
                if total > 0 {
                    // |part − amount·w/total| < 1, in integers: |part·total − amount·w| < total.
                    let exact = i128::from(amount) * i128::from(*weight);
                    let scaled = i128::from(*part) * i128::try_from(total).unwrap();
                    prop_assert!((scaled - exact).abs() < i128::try_from(total).unwrap());
                    if *weight == 0 {
                        prop_assert_eq!(*part, 0);
                    }
                }
            }
            prop_assert_eq!(largest_remainder(amount, &decimals).unwrap(), parts, "the same every time");
        }
    }
}
