//! The deduplication window: every (source, id) ingested for events whose
//! time is still within the accepted lateness, as 128-bit hashes.
//!
//! Exact within the window because an event older than the lateness is
//! refused before it is looked up: any event accepted now has a time inside
//! the window, and so has any earlier copy of it (same id, same event). The
//! two 64-bit SipHash halves make a false "duplicate" about as likely as
//! n²/2¹²⁹ for n events in the window.
//!
//! Each key keeps a 64-bit hash of what its event said (organization,
//! resource, meter, dimension, time to the microsecond PostgreSQL keeps,
//! value), so that a resent event is told from another event reusing its
//! id: the first is a duplicate, the second a conflict.

use std::collections::hash_map::DefaultHasher;
use std::collections::{BTreeMap, HashMap};
use std::hash::{Hash, Hasher};

use chrono::{DateTime, Utc};

use uuid::Uuid;

use crate::Meter;
use crate::gauge::{Sample, hour_of};

/// A gauge series: organization, resource, meter, dimension.
pub type Series = (Uuid, Uuid, Meter, String);

pub type Key = u128;

/// A hash of an event's content.
pub type Content = u64;

pub fn content(
    organization: Uuid,
    resource: Uuid,
    meter: &str,
    dimension: &str,
    time: DateTime<Utc>,
    value: i64,
) -> Content {
    let mut hasher = DefaultHasher::new();
    (organization, resource, meter, dimension).hash(&mut hasher);
    (time.timestamp_micros(), value).hash(&mut hasher);
    hasher.finish()
}

/// What the window knows of an event it is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seen {
    New,
    /// Stored before with the same content.
    Duplicate,
    /// Stored before with other content, which stands.
    Conflict,
}

pub fn key(source: &str, id: &str) -> Key {
    let half = |salt: u8| {
        let mut hasher = DefaultHasher::new();
        salt.hash(&mut hasher);
        source.hash(&mut hasher);
        id.hash(&mut hasher);
        hasher.finish()
    };
    (u128::from(half(0)) << 64) | u128::from(half(1))
}

#[derive(Debug, Default)]
pub struct Window {
    seen: HashMap<Key, Content>,
    /// Keys by the hour of their event, to forget whole hours at once.
    by_hour: BTreeMap<DateTime<Utc>, Vec<Key>>,
    /// The highest `usage_events.seq` reflected here.
    pub last_seq: i64,
    /// Each gauge series' latest stored sample (within the window), from
    /// which a following sample's rollup change is computed.
    pub last_gauge: HashMap<Series, Sample>,
}

impl Window {
    pub fn seen(&self, key: Key, content: Content) -> Seen {
        match self.seen.get(&key) {
            None => Seen::New,
            Some(stored) if *stored == content => Seen::Duplicate,
            Some(_) => Seen::Conflict,
        }
    }

    /// Remembers a stored event; the first content stored stays.
    pub fn insert(&mut self, key: Key, content: Content, time: DateTime<Utc>) {
        if let std::collections::hash_map::Entry::Vacant(entry) = self.seen.entry(key) {
            entry.insert(content);
            self.by_hour.entry(hour_of(time)).or_default().push(key);
        }
    }

    /// Forgets events from hours wholly before `cutoff`.
    pub fn forget_before(&mut self, cutoff: DateTime<Utc>) {
        let keep = self.by_hour.split_off(&hour_of(cutoff));
        for keys in std::mem::replace(&mut self.by_hour, keep).into_values() {
            for key in keys {
                self.seen.remove(&key);
            }
        }
    }

    /// Records a stored gauge sample; at equal times the later-stored wins.
    pub fn saw_gauge(&mut self, series: Series, sample: Sample) {
        let entry = self.last_gauge.entry(series).or_insert(sample);
        if sample.time >= entry.time {
            *entry = sample;
        }
    }

    pub fn len(&self) -> usize {
        self.seen.len()
    }

    pub fn is_empty(&self) -> bool {
        self.seen.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn keys_tell_sources_and_ids_apart() {
        assert_eq!(key("a", "1"), key("a", "1"));
        assert_ne!(key("a", "1"), key("a", "2"));
        assert_ne!(key("a", "1"), key("b", "1"));
        assert_ne!(key("ab", "c"), key("a", "bc"));
    }

    #[test]
    fn old_hours_are_forgotten_whole() {
        let t = |h| Utc.with_ymd_and_hms(2026, 11, 25, h, 30, 0).unwrap();
        let mut window = Window::default();
        window.insert(key("s", "old"), 1, t(10));
        window.insert(key("s", "new"), 1, t(12));
        window.forget_before(t(11));
        assert_eq!(window.seen(key("s", "old"), 1), Seen::New);
        assert_eq!(window.seen(key("s", "new"), 1), Seen::Duplicate);
        assert_eq!(window.len(), 1);
    }

    #[test]
    fn the_same_id_with_other_content_is_a_conflict_and_the_first_stays() {
        let t = Utc.with_ymd_and_hms(2026, 11, 25, 10, 30, 0).unwrap();
        let (org, resource) = (Uuid::from_u128(1), Uuid::from_u128(2));
        let first = content(org, resource, "gpu_seconds", "a100", t, 60);
        let mut window = Window::default();
        window.insert(key("s", "e1"), first, t);
        assert_eq!(window.seen(key("s", "e1"), first), Seen::Duplicate);
        for other in [
            content(org, resource, "gpu_seconds", "a100", t, 61),
            content(org, Uuid::from_u128(3), "gpu_seconds", "a100", t, 60),
            content(org, resource, "gpu_seconds", "h100", t, 60),
            content(
                org,
                resource,
                "gpu_seconds",
                "a100",
                t + chrono::Duration::seconds(1),
                60,
            ),
        ] {
            assert_eq!(window.seen(key("s", "e1"), other), Seen::Conflict);
        }
        window.insert(key("s", "e1"), 7, t);
        assert_eq!(
            window.seen(key("s", "e1"), first),
            Seen::Duplicate,
            "the first stays"
        );
        // PostgreSQL keeps microseconds: a resend read back from the table
        // is the same event.
        let nanos = t + chrono::Duration::nanoseconds(500);
        assert_eq!(
            content(org, resource, "m", "", nanos, 1),
            content(org, resource, "m", "", t, 1)
        );
    }
}
