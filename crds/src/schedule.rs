//! When backups are due and which are kept: pure decisions of the backup
//! scheduler.

use std::str::FromStr;

use chrono::{DateTime, Duration, Utc};

use crate::backup::{BackupPhase, Retention};

/// A parsed backup schedule (cron, UTC).
#[derive(Debug, Clone)]
pub struct Schedule(cron::Schedule);

impl Schedule {
    /// Five-field cron (`minute hour day month weekday`) or `@hourly`,
    /// `@daily`, `@weekly`.
    pub fn parse(expression: &str) -> Result<Schedule, String> {
        let expression = expression.trim();
        let fields = expression.split_whitespace().count();
        let full = if expression.starts_with('@') {
            expression.to_owned()
        } else if fields == 5 {
            // The cron crate counts seconds first.
            format!("0 {expression}")
        } else {
            return Err(format!(
                "`{expression}` is not a schedule: use five cron fields (minute hour day month \
                 weekday, in UTC), such as `0 2 * * *`, or @hourly, @daily"
            ));
        };
        cron::Schedule::from_str(&full)
            .map(Schedule)
            .map_err(|e| format!("`{expression}` is not a valid cron expression: {e}"))
    }

    /// The first time the schedule fires after `after`.
    pub fn next_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.0.after(&after).next()
    }

    /// The latest time in `(since, now]` the schedule fired, if any: the
    /// backup to take now. Missed ones before it are not made up.
    pub fn due(&self, since: DateTime<Utc>, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let mut due = None;
        for fire in self.0.after(&since) {
            if fire > now {
                break;
            }
            due = Some(fire);
        }
        due
    }

    /// The shortest time between two runs, over the next week of runs.
    pub fn min_interval(&self, from: DateTime<Utc>) -> Option<Duration> {
        let times: Vec<_> = self.0.after(&from).take(24 * 7 + 1).collect();
        times.windows(2).map(|w| w[1] - w[0]).min()
    }
}

/// The name of the backup the schedule takes at `at`: the same time gives
/// the same name, so a scheduler that runs twice creates it once.
pub fn scheduled_name(cluster: &str, at: DateTime<Utc>) -> String {
    format!("{cluster}-{}", at.format("%Y%m%d-%H%M"))
}

/// A backup as the scheduler sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Kept {
    pub name: String,
    pub phase: BackupPhase,
    /// When it was made (its creation).
    pub at: DateTime<Utc>,
}

/// The backups to delete under `retention` at `now`: successful ones beyond
/// the newest `count` or older than `max_age_days`, except the newest
/// successful one, which is always kept; and failed ones older than the
/// newest success (the last failure after it stays, to be seen).
pub fn expired(backups: &[Kept], retention: Retention, now: DateTime<Utc>) -> Vec<String> {
    let mut succeeded: Vec<&Kept> = backups
        .iter()
        .filter(|b| b.phase == BackupPhase::Succeeded)
        .collect();
    succeeded.sort_by(|a, b| b.at.cmp(&a.at).then_with(|| b.name.cmp(&a.name)));
    let oldest_allowed = now - Duration::days(i64::from(retention.max_age_days));
    let count = usize::try_from(retention.count).unwrap_or(usize::MAX);
    let mut gone: Vec<String> = succeeded
        .iter()
        .enumerate()
        .skip(1)
        .filter(|(i, b)| *i >= count || b.at < oldest_allowed)
        .map(|(_, b)| b.name.clone())
        .collect();
    if let Some(newest) = succeeded.first() {
        gone.extend(
            backups
                .iter()
                .filter(|b| b.phase == BackupPhase::Failed && b.at < newest.at)
                .map(|b| b.name.clone()),
        );
    }
    gone.sort();
    gone
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn a_daily_schedule_is_due_once_its_time_has_passed() {
        let daily = Schedule::parse("0 2 * * *").unwrap();
        let since = t("2026-11-24T02:00:00Z");
        assert_eq!(daily.due(since, t("2026-11-25T01:59:59Z")), None);
        assert_eq!(
            daily.due(since, t("2026-11-25T02:00:00Z")),
            Some(t("2026-11-25T02:00:00Z"))
        );
        // Three days missed: one backup, the latest, not three.
        assert_eq!(
            daily.due(since, t("2026-11-27T09:00:00Z")),
            Some(t("2026-11-27T02:00:00Z"))
        );
        assert_eq!(
            daily.next_after(t("2026-11-25T02:00:00Z")),
            Some(t("2026-11-26T02:00:00Z"))
        );
        assert_eq!(daily.min_interval(since), Some(Duration::days(1)));
        assert_eq!(
            Schedule::parse("@hourly").unwrap().min_interval(since),
            Some(Duration::hours(1))
        );
    }

    #[test]
    fn malformed_schedules_say_what_is_expected() {
        for bad in ["daily", "0 2 * *", "61 2 * * *", "* * * * * * * *"] {
            let err = Schedule::parse(bad).unwrap_err();
            assert!(err.contains("cron"), "{bad}: {err}");
        }
    }

    #[test]
    fn names_follow_the_scheduled_time() {
        assert_eq!(
            scheduled_name("search", t("2026-11-25T02:00:00Z")),
            "search-20261125-0200"
        );
    }

    fn kept(name: &str, phase: BackupPhase, at: &str) -> Kept {
        Kept {
            name: name.to_owned(),
            phase,
            at: t(at),
        }
    }

    #[test]
    fn retention_keeps_the_newest_by_count_and_age_and_always_the_last_success() {
        use BackupPhase::*;
        let now = t("2026-11-25T03:00:00Z");
        let backups = [
            kept("d1", Succeeded, "2026-11-10T02:00:00Z"),
            kept("d2", Succeeded, "2026-11-22T02:00:00Z"),
            kept("d3", Failed, "2026-11-23T02:00:00Z"),
            kept("d4", Succeeded, "2026-11-24T02:00:00Z"),
            kept("d5", Failed, "2026-11-25T02:00:00Z"),
            kept("d6", Running, "2026-11-25T02:30:00Z"),
        ];
        let week = Retention {
            count: 7,
            max_age_days: 7,
        };
        // d1 is too old; d3 failed before the last success; d5, the failure
        // after it, stays to be seen; the running one is left alone.
        assert_eq!(expired(&backups, week, now), ["d1", "d3"]);
        let two = Retention {
            count: 2,
            max_age_days: 30,
        };
        assert_eq!(expired(&backups, two, now), ["d1", "d3"]);
        let one = Retention {
            count: 1,
            max_age_days: 30,
        };
        assert_eq!(expired(&backups, one, now), ["d1", "d2", "d3"]);
        // However old, the only good backup stays.
        let ancient = [kept("d0", Succeeded, "2020-01-01T00:00:00Z")];
        assert!(expired(&ancient, week, now).is_empty());
    }
}
