//! Time-weighted averages of gauges, exactly.
//!
//! A gauge's value holds from its sample until the next sample, but at most
//! [`HOLD`]: a longer gap means nothing was measured, and nothing is counted.
//! For each hour the rollup keeps the integral of the value over time
//! (value × milliseconds, an integer) and the milliseconds a value was known;
//! their ratio is the average, with no rounding anywhere before it.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, DurationRound, Utc};

/// How long a sample speaks for when no next sample follows.
pub const HOLD: Duration = Duration::minutes(10);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sample {
    pub time: DateTime<Utc>,
    pub value: i64,
}

/// An hour's gauge rollup: ∫ value dt and the time covered, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct HourIntegral {
    pub value_ms: i128,
    pub covered_ms: i64,
}

pub fn hour_of(time: DateTime<Utc>) -> DateTime<Utc> {
    time.duration_trunc(Duration::hours(1)).unwrap_or(time)
}

/// The rollup of `hour` from `samples` (any order; at equal times the last
/// one given wins). Samples before the hour matter when they hold into it.
pub fn integrate(samples: &[Sample], hour: DateTime<Utc>) -> HourIntegral {
    let mut sorted: Vec<Sample> = samples.to_vec();
    sorted.sort_by_key(|s| s.time);
    sorted.dedup_by(|later, earlier| {
        let same = later.time == earlier.time;
        if same {
            *earlier = *later;
        }
        same
    });
    let end = hour + Duration::hours(1);
    let mut total = HourIntegral::default();
    for (i, sample) in sorted.iter().enumerate() {
        let held_until = sorted
            .get(i + 1)
            .map_or(sample.time + HOLD, |next| next.time.min(sample.time + HOLD));
        let from = sample.time.max(hour);
        let to = held_until.min(end);
        if to > from {
            let ms = (to - from).num_milliseconds();
            total.value_ms += i128::from(sample.value) * i128::from(ms);
            total.covered_ms += ms;
        }
    }
    total
}

/// What `value`, held over `[from, to)`, adds to each hour it overlaps.
pub fn held(
    value: i64,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Vec<(DateTime<Utc>, HourIntegral)> {
    let mut parts = Vec::new();
    let mut start = from;
    while start < to {
        let hour = hour_of(start);
        let end = to.min(hour + Duration::hours(1));
        let ms = (end - start).num_milliseconds();
        parts.push((
            hour,
            HourIntegral {
                value_ms: i128::from(value) * i128::from(ms),
                covered_ms: ms,
            },
        ));
        start = end;
    }
    parts
}

/// The change to each hour's rollup when `new` samples — sorted, at distinct
/// times, all after `last` — follow the series' `last` sample: `last` now
/// holds only until the first new one, and each new one holds as usual.
/// Adding these changes gives exactly what [`integrate`] gives over all
/// samples (a property test below checks it).
pub fn append(last: Option<Sample>, new: &[Sample]) -> BTreeMap<DateTime<Utc>, HourIntegral> {
    let mut changes: BTreeMap<DateTime<Utc>, HourIntegral> = BTreeMap::new();
    let mut add = |parts: Vec<(DateTime<Utc>, HourIntegral)>, sign: i64| {
        for (hour, part) in parts {
            let entry = changes.entry(hour).or_default();
            entry.value_ms += i128::from(sign) * part.value_ms;
            entry.covered_ms += sign * part.covered_ms;
        }
    };
    if let (Some(previous), Some(first)) = (last, new.first()) {
        let old_end = previous.time + HOLD;
        let new_end = first.time.min(old_end);
        add(held(previous.value, new_end, old_end), -1);
    }
    for (i, sample) in new.iter().enumerate() {
        let end = new
            .get(i + 1)
            .map_or(sample.time + HOLD, |next| next.time.min(sample.time + HOLD));
        add(held(sample.value, sample.time, end), 1);
    }
    changes
}

/// `n / 1000` as an exact decimal string, for a `numeric` column.
pub fn millis_decimal(n: i128) -> String {
    let sign = if n < 0 { "-" } else { "" };
    let n = n.unsigned_abs();
    format!("{sign}{}.{:03}", n / 1000, n % 1000)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use proptest::prelude::*;

    fn at(h: u32, m: u32, s: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 25, h, m, s).unwrap()
    }

    fn sample(time: DateTime<Utc>, value: i64) -> Sample {
        Sample { time, value }
    }

    #[test]
    fn irregular_samples_average_exactly() {
        // 10 for 5 min; 20 for 10 min (its hold), then nothing until 12:20;
        // 40 for 8 min; 0 for 10 min (its hold); nothing until 12:55; 7 for
        // the last 5 min, and on into the next hour.
        let samples = [
            sample(at(12, 0, 0), 10),
            sample(at(12, 5, 0), 20),
            sample(at(12, 20, 0), 40),
            sample(at(12, 28, 0), 0),
            sample(at(12, 55, 0), 7),
        ];
        let h = integrate(&samples, at(12, 0, 0));
        // The zero sample adds no value, only covered time.
        let expected_value_s = 10 * 300 + 20 * 600 + 40 * 480 + 7 * 300;
        assert_eq!(h.value_ms, i128::from(expected_value_s) * 1000);
        assert_eq!(h.covered_ms, (300 + 600 + 480 + 600 + 300) * 1000);
        // 7 holds into the next hour until 13:05.
        let next = integrate(&samples, at(13, 0, 0));
        assert_eq!(
            next,
            HourIntegral {
                value_ms: 7 * 300_000,
                covered_ms: 300_000
            }
        );
    }

    #[test]
    fn order_of_arrival_does_not_matter_and_the_last_duplicate_time_wins() {
        let a = [
            sample(at(12, 10, 0), 5),
            sample(at(12, 0, 0), 1),
            sample(at(12, 5, 0), 3),
        ];
        let b = [
            sample(at(12, 0, 0), 1),
            sample(at(12, 5, 0), 3),
            sample(at(12, 10, 0), 5),
        ];
        assert_eq!(integrate(&a, at(12, 0, 0)), integrate(&b, at(12, 0, 0)));
        let dup = [sample(at(12, 0, 0), 1), sample(at(12, 0, 0), 9)];
        assert_eq!(integrate(&dup, at(12, 0, 0)).value_ms, 9 * 600_000);
    }

    #[test]
    fn decimals_are_exact() {
        assert_eq!(millis_decimal(87_000_500), "87000.500");
        assert_eq!(millis_decimal(7), "0.007");
        assert_eq!(hour_of(at(12, 59, 59)), at(12, 0, 0));
    }

    proptest! {
        #[test]
        fn appending_in_batches_adds_up_to_integrating_everything(
            steps in proptest::collection::vec((1i64..1_500, 0i64..1_000_000), 1..60),
            cuts in proptest::collection::vec(0usize..60, 0..6),
        ) {
            let mut t = at(11, 50, 0);
            let samples: Vec<Sample> = steps
                .iter()
                .map(|(gap, value)| {
                    t += Duration::seconds(*gap);
                    sample(t, *value)
                })
                .collect();
            let mut bounds: Vec<usize> = cuts.into_iter().map(|c| c % samples.len()).collect();
            bounds.push(0);
            bounds.push(samples.len());
            bounds.sort_unstable();
            bounds.dedup();
            let mut totals: BTreeMap<DateTime<Utc>, HourIntegral> = BTreeMap::new();
            let mut last = None;
            for pair in bounds.windows(2) {
                let batch = &samples[pair[0]..pair[1]];
                for (hour, change) in append(last, batch) {
                    let total = totals.entry(hour).or_default();
                    total.value_ms += change.value_ms;
                    total.covered_ms += change.covered_ms;
                }
                last = batch.last().copied().or(last);
            }
            for (hour, total) in totals {
                prop_assert_eq!(total, integrate(&samples, hour), "hour {}", hour);
            }
        }

        #[test]
        fn a_constant_gauge_averages_to_itself(value in 0i64..1_000_000_000, gaps in proptest::collection::vec(1u32..600, 1..40)) {
            let mut t = at(12, 0, 0);
            let mut samples = vec![];
            for gap in gaps {
                samples.push(sample(t, value));
                t += Duration::seconds(i64::from(gap));
            }
            let h = integrate(&samples, at(12, 0, 0));
            prop_assert!(h.covered_ms > 0);
            prop_assert_eq!(h.value_ms, i128::from(value) * i128::from(h.covered_ms));
        }
    }
}
