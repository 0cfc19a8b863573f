//! What the admin console's lists are asked: the search box read by its
//! shape, the filters, the sort, and keyset cursors that a page's "next"
//! link carries. Pure: parsing and printing only, tested here.

use std::fmt;
use std::str::FromStr;

use rust_decimal::Decimal;
use uuid::Uuid;

use crate::validation::ValidationErrors;
use crate::{Error, Result};

/// Rows on a page unless the caller asks otherwise, and the most it may.
pub const DEFAULT_LIMIT: u32 = 25;
pub const MAX_LIMIT: u32 = 100;

/// The one search box, read by what was typed: an id, a member's email, a
/// payment provider's customer id, or else part of a name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Search {
    Id(Uuid),
    /// Part of a member's email (it holds an `@`), lowercased as stored.
    Email(String),
    /// A Stripe customer id (`cus_…`), matched whole.
    Customer(String),
    /// Part of a name, any case.
    Name(String),
}

impl Search {
    /// `None` for a blank box.
    pub fn parse(raw: &str) -> Option<Search> {
        let text = raw.trim();
        if text.is_empty() {
            return None;
        }
        Some(if let Ok(id) = Uuid::parse_str(text) {
            Search::Id(id)
        } else if text.contains('@') {
            Search::Email(text.to_lowercase())
        } else if text.starts_with("cus_") {
            Search::Customer(text.to_owned())
        } else {
            Search::Name(text.to_owned())
        })
    }

    /// A `LIKE` pattern that finds `part` anywhere, its own `%`, `_` and
    /// `\` taken literally.
    pub fn contains_pattern(part: &str) -> String {
        let mut pattern = String::with_capacity(part.len() + 2);
        pattern.push('%');
        for c in part.chars() {
            if matches!(c, '%' | '_' | '\\') {
                pattern.push('\\');
            }
            pattern.push(c);
        }
        pattern.push('%');
        pattern
    }
}

/// An organization's standing, as the console filters by it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standing {
    Active,
    PastDue,
    /// Suspended for any cause: unpaid invoices, a cap, or an administrator.
    Suspended,
}

impl Standing {
    pub const ALL: [Standing; 3] = [Standing::Active, Standing::PastDue, Standing::Suspended];

    pub fn as_str(self) -> &'static str {
        match self {
            Standing::Active => "active",
            Standing::PastDue => "past_due",
            Standing::Suspended => "suspended",
        }
    }

    /// The standing of a subscription's `status` and suspension.
    pub fn of(status: &str, suspended: bool) -> Standing {
        match status {
            _ if suspended => Standing::Suspended,
            "suspended" => Standing::Suspended,
            "past_due" => Standing::PastDue,
            _ => Standing::Active,
        }
    }
}

impl FromStr for Standing {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Self, Self::Err> {
        Standing::ALL
            .into_iter()
            .find(|standing| standing.as_str() == s)
            .ok_or_else(|| "must be active, past_due or suspended".to_owned())
    }
}

/// How the organization list is ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Sort {
    #[default]
    Newest,
    Oldest,
    /// The sum of open invoices, most first.
    Unpaid,
    /// GPU-hours this month, most first.
    GpuHours,
    /// Node-hours this month, most first.
    NodeHours,
}

impl Sort {
    pub const ALL: [Sort; 5] = [
        Sort::Newest,
        Sort::Oldest,
        Sort::Unpaid,
        Sort::GpuHours,
        Sort::NodeHours,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Sort::Newest => "newest",
            Sort::Oldest => "oldest",
            Sort::Unpaid => "unpaid",
            Sort::GpuHours => "gpu_hours",
            Sort::NodeHours => "node_hours",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Sort::Newest => "Newest first",
            Sort::Oldest => "Oldest first",
            Sort::Unpaid => "Most unpaid",
            Sort::GpuHours => "Most GPU-hours this month",
            Sort::NodeHours => "Most node-hours this month",
        }
    }
}

impl FromStr for Sort {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Self, Self::Err> {
        Sort::ALL
            .into_iter()
            .find(|sort| sort.as_str() == s)
            .ok_or_else(|| {
                let names: Vec<&str> = Sort::ALL.iter().map(|s| s.as_str()).collect();
                format!("must be one of {}", names.join(", "))
            })
    }
}

/// Where the next page starts: after a row of an id-ordered list, after a
/// row of a ranking (its amount and id), or, a ranking exhausted, after a
/// row of those it did not rank (amount zero), by id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cursor {
    Id(Uuid),
    Ranked(Decimal, Uuid),
    Unranked(Uuid),
}

impl fmt::Display for Cursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Cursor::Id(id) => write!(f, "i.{}", id.simple()),
            Cursor::Ranked(amount, id) => write!(f, "r.{amount}.{}", id.simple()),
            Cursor::Unranked(id) => write!(f, "u.{}", id.simple()),
        }
    }
}

impl FromStr for Cursor {
    type Err = &'static str;

    fn from_str(s: &str) -> std::result::Result<Self, Self::Err> {
        const BAD: &str = "is not a cursor this console gave out";
        let id = |part: &str| Uuid::try_parse(part).map_err(|_| BAD);
        match s.split_once('.') {
            Some(("i", rest)) => Ok(Cursor::Id(id(rest)?)),
            Some(("u", rest)) => Ok(Cursor::Unranked(id(rest)?)),
            Some(("r", rest)) => {
                let (amount, rest) = rest.rsplit_once('.').ok_or(BAD)?;
                let amount = Decimal::from_str(amount).map_err(|_| BAD)?;
                Ok(Cursor::Ranked(amount, id(rest)?))
            }
            _ => Err(BAD),
        }
    }
}

/// A page size from a query string: the default when absent.
pub fn limit(raw: Option<i64>) -> Result<u32> {
    match raw {
        None => Ok(DEFAULT_LIMIT),
        Some(n) => {
            let mut errors = ValidationErrors::default();
            errors
                .in_range("limit", n, 1..=MAX_LIMIT)
                .ok_or(Error::Validation(errors))
        }
    }
}

/// Rows fetched one past `limit` cut to a page, with the cursor of its last
/// row if the extra one showed there is more.
pub fn cut<T, C>(mut rows: Vec<T>, limit: u32, cursor: impl Fn(&T) -> C) -> (Vec<T>, Option<C>) {
    let more = rows.len() > limit as usize;
    rows.truncate(limit as usize);
    let next = if more { rows.last().map(cursor) } else { None };
    (rows, next)
}

/// One page of a list: its rows, how many match in all, and the cursor of
/// the next page if there is one.
#[derive(Debug, Clone, PartialEq)]
pub struct Listing<T> {
    pub rows: Vec<T>,
    pub total: i64,
    pub next: Option<Cursor>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_search_box_is_read_by_its_shape() {
        let id = Uuid::now_v7();
        assert_eq!(Search::parse(&format!(" {id} ")), Some(Search::Id(id)));
        assert_eq!(
            Search::parse("Ada@Example.com"),
            Some(Search::Email("ada@example.com".into()))
        );
        assert_eq!(
            Search::parse("cus_ABC123"),
            Some(Search::Customer("cus_ABC123".into()))
        );
        assert_eq!(
            Search::parse("Acme Labs"),
            Some(Search::Name("Acme Labs".into()))
        );
        assert_eq!(Search::parse("   "), None);
    }

    #[test]
    fn like_patterns_take_wildcards_literally() {
        assert_eq!(Search::contains_pattern("acme"), "%acme%");
        assert_eq!(Search::contains_pattern("100%_\\"), "%100\\%\\_\\\\%");
    }

    #[test]
    fn cursors_round_trip_and_refuse_what_was_not_given_out() {
        let id = Uuid::now_v7();
        for cursor in [
            Cursor::Id(id),
            Cursor::Unranked(id),
            Cursor::Ranked(Decimal::new(123_456, 2), id),
            Cursor::Ranked(Decimal::ZERO, id),
        ] {
            assert_eq!(cursor.to_string().parse::<Cursor>(), Ok(cursor));
        }
        for bad in [
            "",
            "x.1",
            "i.not-a-uuid",
            "r.12",
            "r.abc.00000000000000000000000000000000",
        ] {
            assert!(bad.parse::<Cursor>().is_err(), "{bad}");
        }
    }

    #[test]
    fn standings_and_sorts_parse_their_own_names_only() {
        for standing in Standing::ALL {
            assert_eq!(standing.as_str().parse(), Ok(standing));
        }
        for sort in Sort::ALL {
            assert_eq!(sort.as_str().parse(), Ok(sort));
        }
        assert!("overdue".parse::<Standing>().is_err());
        assert!("biggest".parse::<Sort>().is_err());
        assert_eq!(Standing::of("active", true), Standing::Suspended);
        assert_eq!(Standing::of("past_due", false), Standing::PastDue);
        assert_eq!(Standing::of("canceled", false), Standing::Active);
    }

    #[test]
    fn one_extra_row_means_a_next_page_from_the_last_shown() {
        assert_eq!(cut(vec![1, 2, 3], 2, |n| n * 10), (vec![1, 2], Some(20)));
        assert_eq!(cut(vec![1, 2], 2, |n| n * 10), (vec![1, 2], None));
        assert_eq!(cut(Vec::<i32>::new(), 2, |n| *n), (vec![], None));
    }

    #[test]
    fn limits_default_and_are_bounded() {
        assert_eq!(limit(None).unwrap(), DEFAULT_LIMIT);
        assert_eq!(limit(Some(100)).unwrap(), 100);
        assert!(limit(Some(0)).is_err());
        assert!(limit(Some(101)).is_err());
    }
}
