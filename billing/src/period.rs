//! Billing periods: calendar months in UTC.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Datelike, NaiveDate, TimeZone, Utc};

/// One calendar month, UTC: `[start, end)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Period {
    year: i32,
    month: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a billing period; write a month as YYYY-MM, for example 2026-11")]
pub struct InvalidPeriod(String);

impl Period {
    pub fn new(year: i32, month: u32) -> Result<Self, InvalidPeriod> {
        if !(1..=12).contains(&month) || !(2000..=9999).contains(&year) {
            return Err(InvalidPeriod(format!("{year}-{month:02}")));
        }
        Ok(Period { year, month })
    }

    /// The period `time` falls in.
    pub fn containing(time: DateTime<Utc>) -> Self {
        Period {
            year: time.year(),
            month: time.month(),
        }
    }

    pub fn start(self) -> DateTime<Utc> {
        first_of(self.year, self.month)
    }

    pub fn end(self) -> DateTime<Utc> {
        self.next().start()
    }

    pub fn next(self) -> Self {
        if self.month == 12 {
            Period {
                year: self.year + 1,
                month: 1,
            }
        } else {
            Period {
                year: self.year,
                month: self.month + 1,
            }
        }
    }

    pub fn previous(self) -> Self {
        if self.month == 1 {
            Period {
                year: self.year - 1,
                month: 12,
            }
        } else {
            Period {
                year: self.year,
                month: self.month - 1,
            }
        }
    }

    pub fn seconds(self) -> i64 {
        (self.end() - self.start()).num_seconds()
    }

    /// `YYYYMM`, for invoice numbers.
    pub fn compact(self) -> String {
        format!("{}{:02}", self.year, self.month)
    }
}

fn first_of(year: i32, month: u32) -> DateTime<Utc> {
    // Valid by construction: `Period` holds only months 1..=12 of 2000..=9999.
    let date = NaiveDate::from_ymd_opt(year, month, 1).unwrap_or_default();
    Utc.from_utc_datetime(&date.and_time(chrono::NaiveTime::MIN))
}

impl FromStr for Period {
    type Err = InvalidPeriod;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let invalid = || InvalidPeriod(s.to_owned());
        let (year, month) = s.trim().split_once('-').ok_or_else(invalid)?;
        if year.len() != 4 || month.len() != 2 {
            return Err(invalid());
        }
        let year = year.parse().map_err(|_| invalid())?;
        let month = month.parse().map_err(|_| invalid())?;
        Period::new(year, month).map_err(|_| invalid())
    }
}

impl fmt::Display for Period {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{:02}", self.year, self.month)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_period_is_a_utc_calendar_month() {
        let p: Period = "2026-11".parse().unwrap();
        assert_eq!(p.start().to_rfc3339(), "2026-11-01T00:00:00+00:00");
        assert_eq!(p.end().to_rfc3339(), "2026-12-01T00:00:00+00:00");
        assert_eq!(p.seconds(), 30 * 86_400);
        assert_eq!(p.to_string(), "2026-11");
        let dec: Period = "2026-12".parse().unwrap();
        assert_eq!(dec.next().to_string(), "2027-01");
        assert_eq!(dec.next().previous(), dec);
        assert_eq!(Period::containing(p.end()), dec);
    }

    #[test]
    fn malformed_periods_are_refused_with_the_expected_form() {
        for bad in [
            "2026-13", "2026-1", "26-11", "2026/11", "", "2026-00", "abcd-ef",
        ] {
            let err = bad.parse::<Period>().unwrap_err();
            assert!(err.to_string().contains("YYYY-MM"), "{bad}: {err}");
        }
    }
}
