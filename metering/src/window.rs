//! The deduplication window: which `(source, id)` may have been stored for
//! events whose time is still within the accepted lateness, in about five
//! bytes a key (see [`table`]).
//!
//! Exact within the window because an event older than the lateness is
//! refused before it is looked up: any event accepted now has a time inside
//! the window, and so has any earlier copy of it (same id, same event).
//!
//! The window holds fingerprints, not events: it answers "surely new" or
//! "maybe stored, in these hours". A maybe (a resend, a reused id, or one
//! lookup in about 10⁵ that meets another key's fingerprint) is settled
//! against the stored events, and [`decide`] compares ids and content
//! exactly: a resent event is a duplicate, another event reusing its id a
//! conflict, and a fingerprint that merely matched is new.

use std::collections::HashMap;
use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};

use chrono::{DateTime, Duration, Utc};

use uuid::Uuid;

use crate::Meter;
use crate::gauge::Sample;

mod table;

use table::{SPAN_HOURS, Table};

/// The longest lateness a window can keep: its span less the hour before
/// the cutoff, the current hour, and clock skew.
pub const MAX_LATENESS: Duration = Duration::hours(SPAN_HOURS - 4);

/// A gauge series: organization, resource, meter, dimension.
pub type Series = (Uuid, Uuid, Meter, String);

/// A 64-bit hash of an event's `(source, id)`.
pub type Key = u64;

/// An event's `(source, id)`.
pub type Id<'a> = (&'a str, &'a str);

pub fn key(source: &str, id: &str) -> Key {
    let mut hasher = DefaultHasher::new();
    (source, id).hash(&mut hasher);
    hasher.finish()
}

/// What an event says, as PostgreSQL keeps it (time to the microsecond).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Content<'a> {
    pub organization: Uuid,
    pub resource: Uuid,
    pub meter: &'a str,
    pub dimension: &'a str,
    pub micros: i64,
    pub value: i64,
}

impl<'a> Content<'a> {
    pub fn new(
        organization: Uuid,
        resource: Uuid,
        meter: &'a str,
        dimension: &'a str,
        time: DateTime<Utc>,
        value: i64,
    ) -> Content<'a> {
        Content {
            organization,
            resource,
            meter,
            dimension,
            micros: time.timestamp_micros(),
            value,
        }
    }
}

/// What is known of an event shown to the window and the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seen {
    New,
    /// Stored before with the same content.
    Duplicate,
    /// Stored before with other content, which stands.
    Conflict,
}

/// The hours in which a key's maybe-stored events lie.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hours {
    pub from: DateTime<Utc>,
    /// Exclusive.
    pub until: DateTime<Utc>,
}

fn hour_index(time: DateTime<Utc>) -> i64 {
    time.timestamp().div_euclid(3600)
}

fn hour_start(index: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(index * 3600, 0).unwrap_or(DateTime::<Utc>::MIN_UTC)
}

#[derive(Debug)]
pub struct Window {
    table: Table,
    /// The highest `usage_events.seq` reflected here.
    pub last_seq: i64,
    /// The highest `usage_correction_events.seq` reflected in `last_gauge`.
    pub last_correction: i64,
    /// Each gauge series' latest stored sample (within the window), from
    /// which a following sample's rollup change is computed.
    pub last_gauge: HashMap<Series, Sample>,
}

impl Window {
    /// An empty window that keeps events from `cutoff`'s hour on.
    pub fn new(cutoff: DateTime<Utc>) -> Window {
        Window {
            table: Table::new(hour_index(cutoff)),
            last_seq: 0,
            last_correction: 0,
            last_gauge: HashMap::new(),
        }
    }

    /// `None` if no event under `key` is stored in the window; else the
    /// hours where the store may hold one.
    pub fn maybe_stored(&self, key: Key) -> Option<Hours> {
        self.table.lookup(key).map(|(first, last)| Hours {
            from: hour_start(first),
            until: hour_start(last + 1),
        })
    }

    /// Remembers a stored event. One from before the window's cutoff is not
    /// kept (as if forgotten at once), nor one far ahead of it, which
    /// checked events never are.
    pub fn insert(&mut self, key: Key, time: DateTime<Utc>) {
        self.table.insert(key, hour_index(time));
    }

    /// Forgets events from hours wholly before `cutoff`.
    pub fn forget_before(&mut self, cutoff: DateTime<Utc>) {
        self.table.forget_before(hour_index(cutoff));
    }

    /// Records a stored gauge sample; at equal times the later-stored wins.
    pub fn saw_gauge(&mut self, series: Series, sample: Sample) {
        let entry = self.last_gauge.entry(series).or_insert(sample);
        if sample.time >= entry.time {
            *entry = sample;
        }
    }

    /// Keys remembered.
    pub fn len(&self) -> usize {
        self.table.len()
    }

    pub fn is_empty(&self) -> bool {
        self.table.len() == 0
    }

    /// Bytes the remembered keys take (slots, free ones included).
    pub fn key_bytes(&self) -> usize {
        self.table.slot_bytes()
    }
}

/// Each event of a batch, in order, judged against `stored`: what the store
/// holds (the first stored copy) under the ids the window could not rule
/// out. An id that is neither stored nor earlier in the batch is new; a
/// later copy in the batch is judged against the first.
pub fn decide<'a>(
    batch: impl IntoIterator<Item = (Id<'a>, Content<'a>)>,
    stored: &HashMap<Id<'a>, Content<'a>>,
) -> Vec<Seen> {
    let mut first: HashMap<Id<'a>, Content<'a>> = HashMap::new();
    batch
        .into_iter()
        .map(|(id, content)| {
            let earlier = stored.get(&id).or_else(|| first.get(&id));
            match earlier {
                None => {
                    first.insert(id, content);
                    Seen::New
                }
                Some(known) if *known == content => Seen::Duplicate,
                Some(_) => Seen::Conflict,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(hour: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 25, hour, 30, 0).unwrap()
    }

    fn content<'a>(value: i64) -> Content<'a> {
        let (org, resource) = (Uuid::from_u128(1), Uuid::from_u128(2));
        Content::new(org, resource, "gpu_seconds", "a100", at(10), value)
    }

    #[test]
    fn keys_tell_sources_and_ids_apart() {
        assert_eq!(key("a", "1"), key("a", "1"));
        assert_ne!(key("a", "1"), key("a", "2"));
        assert_ne!(key("a", "1"), key("b", "1"));
        assert_ne!(key("ab", "c"), key("a", "bc"));
    }

    #[test]
    fn a_stored_key_is_maybe_stored_in_its_hour_until_forgotten() {
        let mut window = Window::new(at(9));
        window.insert(key("s", "old"), at(10));
        window.insert(key("s", "new"), at(12));
        assert_eq!(window.maybe_stored(key("s", "other")), None);
        window.forget_before(at(11));
        assert_eq!(window.maybe_stored(key("s", "old")), None);
        let hours = window.maybe_stored(key("s", "new")).unwrap();
        assert_eq!(
            (hours.from, hours.until),
            (
                at(12) - Duration::minutes(30),
                at(13) - Duration::minutes(30)
            )
        );
    }

    #[test]
    fn resends_are_duplicates_and_reused_ids_conflicts_the_first_standing() {
        let stored = HashMap::from([(("s", "e1"), content(60))]);
        let batch = [
            (("s", "e1"), content(60)),
            (("s", "e1"), content(61)),
            (("s", "e2"), content(5)),
            (("s", "e2"), content(5)),
            (("s", "e2"), content(6)),
        ];
        assert_eq!(
            decide(batch, &stored),
            [
                Seen::Duplicate,
                Seen::Conflict,
                Seen::New,
                Seen::Duplicate,
                Seen::Conflict
            ]
        );
    }

    #[test]
    fn a_fingerprint_shared_by_another_event_is_not_a_duplicate() {
        // Two events under one key: the window cannot tell them apart...
        let mut window = Window::new(at(9));
        let shared = key("s", "e1");
        window.insert(shared, at(10));
        assert!(window.maybe_stored(shared).is_some());
        // ...the store can: it holds e1, not e2, even with equal content.
        let stored = HashMap::from([(("s", "e1"), content(60))]);
        assert_eq!(decide([(("s", "e2"), content(60))], &stored), [Seen::New]);
    }

    #[test]
    fn every_field_of_the_content_counts_but_nanoseconds() {
        let (org, resource) = (Uuid::from_u128(1), Uuid::from_u128(2));
        let t = at(10);
        let first = Content::new(org, resource, "gpu_seconds", "a100", t, 60);
        for other in [
            Content::new(org, resource, "gpu_seconds", "a100", t, 61),
            Content::new(org, Uuid::from_u128(3), "gpu_seconds", "a100", t, 60),
            Content::new(Uuid::from_u128(3), resource, "gpu_seconds", "a100", t, 60),
            Content::new(org, resource, "gpu_seconds", "h100", t, 60),
            Content::new(org, resource, "node_seconds", "a100", t, 60),
            Content::new(
                org,
                resource,
                "gpu_seconds",
                "a100",
                t + Duration::seconds(1),
                60,
            ),
        ] {
            assert_ne!(first, other);
        }
        // PostgreSQL keeps microseconds: a resend read back from the table
        // is the same event.
        let nanos = t + Duration::nanoseconds(500);
        assert_eq!(
            Content::new(org, resource, "gpu_seconds", "a100", nanos, 60),
            first
        );
    }
}
