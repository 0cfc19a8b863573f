//! The deduplication window: every (source, id) ingested for events whose
//! time is still within the accepted lateness, as 128-bit hashes.
//!
//! Exact within the window because an event older than the lateness is
//! refused before it is looked up: any event accepted now has a time inside
//! the window, and so has any earlier copy of it (same id, same event). The
//! two 64-bit SipHash halves make a false "duplicate" about as likely as
//! n²/2¹²⁹ for n events in the window.

use std::collections::hash_map::DefaultHasher;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::hash::{Hash, Hasher};

use chrono::{DateTime, Utc};

use uuid::Uuid;

use crate::Meter;
use crate::gauge::{Sample, hour_of};

/// A gauge series: organization, resource, meter, dimension.
pub type Series = (Uuid, Uuid, Meter, String);

pub type Key = u128;

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
    seen: HashSet<Key>,
    /// Keys by the hour of their event, to forget whole hours at once.
    by_hour: BTreeMap<DateTime<Utc>, Vec<Key>>,
    /// The highest `usage_events.seq` reflected here.
    pub last_seq: i64,
    /// Each gauge series' latest stored sample (within the window), from
    /// which a following sample's rollup change is computed.
    pub last_gauge: HashMap<Series, Sample>,
}

impl Window {
    pub fn contains(&self, key: Key) -> bool {
        self.seen.contains(&key)
    }

    pub fn insert(&mut self, key: Key, time: DateTime<Utc>) {
        if self.seen.insert(key) {
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
        window.insert(key("s", "old"), t(10));
        window.insert(key("s", "new"), t(12));
        window.forget_before(t(11));
        assert!(!window.contains(key("s", "old")));
        assert!(window.contains(key("s", "new")));
        assert_eq!(window.len(), 1);
    }
}
