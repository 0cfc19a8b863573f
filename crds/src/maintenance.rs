//! A maintenance window: the hours, in UTC, in which a cluster's nodes may
//! begin restarting onto a new template (a new version, new resources).
//! A roll that began in the window goes on past its end: stopping half-way
//! would leave the cluster on two versions.

use std::fmt;

use chrono::{DateTime, Datelike, Duration, NaiveTime, TimeZone, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Days a window can fall on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Weekday {
    Mon,
    Tue,
    Wed,
    Thu,
    Fri,
    Sat,
    Sun,
}

impl Weekday {
    /// Monday first.
    pub const ALL: [Weekday; 7] = [
        Weekday::Mon,
        Weekday::Tue,
        Weekday::Wed,
        Weekday::Thu,
        Weekday::Fri,
        Weekday::Sat,
        Weekday::Sun,
    ];

    fn of(day: chrono::Weekday) -> Self {
        match day {
            chrono::Weekday::Mon => Weekday::Mon,
            chrono::Weekday::Tue => Weekday::Tue,
            chrono::Weekday::Wed => Weekday::Wed,
            chrono::Weekday::Thu => Weekday::Thu,
            chrono::Weekday::Fri => Weekday::Fri,
            chrono::Weekday::Sat => Weekday::Sat,
            chrono::Weekday::Sun => Weekday::Sun,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Weekday::Mon => "mon",
            Weekday::Tue => "tue",
            Weekday::Wed => "wed",
            Weekday::Thu => "thu",
            Weekday::Fri => "fri",
            Weekday::Sat => "sat",
            Weekday::Sun => "sun",
        }
    }
}

/// Opens at `startHour` UTC on `day` (every day when unset) for
/// `durationHours`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MaintenanceWindow {
    /// The day it opens, in UTC; every day when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub day: Option<Weekday>,
    /// The hour it opens, UTC.
    #[schemars(range(max = 23))]
    pub start_hour: u32,
    /// How long it stays open.
    #[schemars(range(min = 1, max = 24))]
    pub duration_hours: u32,
}

/// Start hours a window may have.
pub const START_HOURS: std::ops::RangeInclusive<u32> = 0..=23;
/// Durations a window may have, in hours.
pub const DURATION_HOURS: std::ops::RangeInclusive<u32> = 1..=24;

impl MaintenanceWindow {
    /// Openings on the days around `at`: eight days back to eight ahead,
    /// enough for a weekly window of up to a day.
    fn openings(&self, at: DateTime<Utc>) -> impl Iterator<Item = DateTime<Utc>> + '_ {
        let start = NaiveTime::from_hms_opt(self.start_hour.min(23), 0, 0).unwrap_or_default();
        (-8..=8).filter_map(move |days| {
            let date = at.date_naive() + Duration::days(days);
            let matches = self
                .day
                .is_none_or(|day| day == Weekday::of(date.weekday()));
            matches.then(|| Utc.from_utc_datetime(&date.and_time(start)))
        })
    }

    fn length(&self) -> Duration {
        Duration::hours(i64::from(self.duration_hours))
    }

    /// Whether the window is open at `at`.
    pub fn is_open(&self, at: DateTime<Utc>) -> bool {
        self.openings(at)
            .any(|opens| opens <= at && at < opens + self.length())
    }

    /// When the window next opens after `at`.
    pub fn next_opening(&self, at: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.openings(at).find(|opens| *opens > at)
    }

    /// What a cluster waiting at `at` to roll onto `version` says.
    pub fn waiting_message(&self, version: &str, at: DateTime<Utc>) -> String {
        let opens = self.next_opening(at).map_or(String::new(), |opens| {
            format!(", which opens at {}", opens.format("%Y-%m-%d %H:%M UTC"))
        });
        format!("{version} waits for the maintenance window ({self}){opens}")
    }
}

/// The reason a cluster's conditions give while a change waits for its window.
pub const WAITING_REASON: &str = "WaitingForMaintenanceWindow";

impl fmt::Display for MaintenanceWindow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let day = self.day.map_or("daily", Weekday::as_str);
        write!(
            f,
            "{day} {:02}:00 UTC for {} h",
            self.start_hour, self.duration_hours
        )
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn at(day: u32, hour: u32, minute: u32) -> DateTime<Utc> {
        // 2026-11-30 is a Monday.
        Utc.with_ymd_and_hms(2026, 11, 30, 0, 0, 0).unwrap()
            + Duration::days(i64::from(day))
            + Duration::hours(i64::from(hour))
            + Duration::minutes(i64::from(minute))
    }

    fn sunday_night() -> MaintenanceWindow {
        MaintenanceWindow {
            day: Some(Weekday::Sun),
            start_hour: 22,
            duration_hours: 4,
        }
    }

    #[test]
    fn a_weekly_window_is_open_from_its_hour_and_runs_past_midnight() {
        let window = sunday_night();
        for (day, hour, minute, open) in [
            (6, 21, 59, false), // Sunday, just before
            (6, 22, 0, true),   // Sunday, as it opens
            (7, 1, 59, true),   // Monday, past midnight
            (7, 2, 0, false),   // Monday, as it closes
            (3, 22, 30, false), // Thursday: another day
        ] {
            assert_eq!(
                window.is_open(at(day, hour, minute)),
                open,
                "{day} {hour}:{minute}"
            );
        }
        assert_eq!(window.next_opening(at(3, 12, 0)), Some(at(6, 22, 0)));
        assert_eq!(window.next_opening(at(6, 23, 0)), Some(at(13, 22, 0)));
        assert_eq!(window.to_string(), "sun 22:00 UTC for 4 h");
        assert_eq!(
            window.waiting_message("1.14.0", at(3, 12, 0)),
            "1.14.0 waits for the maintenance window (sun 22:00 UTC for 4 h), \
             which opens at 2026-12-06 22:00 UTC"
        );
    }

    #[test]
    fn a_daily_window_opens_every_day_and_a_whole_day_one_is_always_open() {
        let nightly = MaintenanceWindow {
            day: None,
            start_hour: 2,
            duration_hours: 3,
        };
        assert!(nightly.is_open(at(2, 4, 59)));
        assert!(!nightly.is_open(at(2, 5, 0)));
        assert_eq!(nightly.next_opening(at(2, 5, 0)), Some(at(3, 2, 0)));
        assert_eq!(nightly.to_string(), "daily 02:00 UTC for 3 h");
        let always = MaintenanceWindow {
            day: None,
            start_hour: 0,
            duration_hours: 24,
        };
        assert!((0..24).all(|hour| always.is_open(at(4, hour, 30))));
    }

    proptest! {
        #[test]
        fn the_next_opening_is_open_and_no_earlier_moment_after_now_was(
            day in prop::option::of(0usize..7),
            start_hour in START_HOURS,
            duration_hours in DURATION_HOURS,
            minutes in 0i64..(14 * 24 * 60),
        ) {
            let window = MaintenanceWindow { day: day.map(|d| Weekday::ALL[d]), start_hour, duration_hours };
            let now = at(0, 0, 0) + Duration::minutes(minutes);
            let next = window.next_opening(now).unwrap();
            prop_assert!(next > now && window.is_open(next));
            prop_assert!(next - now <= Duration::days(7));
            if !window.is_open(now) {
                // Closed until then: sampled every quarter hour.
                let mut t = now;
                while t < next {
                    prop_assert!(!window.is_open(t), "open at {t} before {next}");
                    t += Duration::minutes(15);
                }
            }
        }
    }
}
