//! The window's memory: one 32-bit slot per remembered key, holding 26 bits
//! of the key's hash and a 6-bit tag for the hour of its event.
//!
//! Keys are spread over 2¹⁸ small shards by 18 further bits of the hash, so
//! a slot matches a key only when 44 bits agree: with 49 hours of a
//! 10,000-cluster, 1,000-endpoint fleet in the window (500 keys a shard), a
//! lookup for a key never stored finds one about once in 136,000. A match is only
//! "maybe": the caller asks the store (see [`super::decide`]). A key stored
//! is always found while its hour is kept, so nothing is ever missed.
//!
//! A shard is an open-addressing table with linear probing whose home slot
//! is computed from the stored fingerprint alone, so that a shard can be
//! rebuilt at any size without the keys. It grows (by 1/0.7 of its live
//! entries) when 85 % full: 4.7 to 5.7 bytes a key.
//!
//! A tag is an hour modulo 64. The window spans at most [`SPAN_HOURS`] hours
//! from its cutoff, so a kept tag names one hour. Hours before the cutoff
//! are ignored by lookups at once and swept out of the shards a few
//! thousand shards a call; a tag is reused for a new hour only once no
//! shard holds its old hour.

use super::Key;

const SHARD_BITS: u32 = 18;
const SHARDS: usize = 1 << SHARD_BITS;
const TAG_BITS: u32 = 6;
const FINGERPRINT_BITS: u32 = 32 - TAG_BITS;
const FINGERPRINT_MASK: u64 = (1 << FINGERPRINT_BITS) - 1;
/// Hours a window may span from its cutoff: one per tag.
pub const SPAN_HOURS: i64 = 1 << TAG_BITS;
/// Shards swept of forgotten hours per call of [`Table::forget_before`]:
/// a whole sweep takes 64 calls, a few milliseconds each.
const SWEEP_STEP: usize = SHARDS / 64;
/// A slot that holds nothing; fingerprints are never zero.
const EMPTY: u32 = 0;

/// Loads as fractions `n / 100`.
const MAX_LOAD: usize = 85;
const REBUILT_LOAD: usize = 70;

#[derive(Debug)]
pub struct Table {
    shards: Vec<Shard>,
    /// The hour (since the epoch) each tag stands for.
    tag_hours: [Option<i64>; SPAN_HOURS as usize],
    /// Hours before this one are forgotten.
    cutoff: i64,
    /// Shards from this one on still hold hours before `cutoff`.
    sweep: usize,
    len: usize,
}

#[derive(Debug, Default)]
struct Shard {
    slots: Box<[u32]>,
    len: usize,
}

/// Where a key's hash goes: its shard and its (non-zero) fingerprint.
fn place(key: Key) -> (usize, u32) {
    let shard = (key >> (64 - SHARD_BITS)) as usize;
    (shard, ((key & FINGERPRINT_MASK) as u32).max(1))
}

fn tag(hour: i64) -> u32 {
    hour.rem_euclid(SPAN_HOURS) as u32
}

/// The slots to visit for a fingerprint in a shard of `len` slots, from
/// its home slot on, wrapping.
fn probe(fingerprint: u32, len: usize) -> impl Iterator<Item = usize> {
    let home = ((u64::from(fingerprint) * len as u64) >> FINGERPRINT_BITS) as usize;
    (home..len).chain(0..home)
}

impl Table {
    /// An empty table whose first kept hour is `cutoff`.
    pub fn new(cutoff: i64) -> Table {
        Table {
            shards: std::iter::repeat_with(Shard::default)
                .take(SHARDS)
                .collect(),
            tag_hours: [None; SPAN_HOURS as usize],
            cutoff,
            sweep: SHARDS,
            len: 0,
        }
    }

    fn live(&self, slot: u32) -> Option<i64> {
        self.tag_hours[(slot & ((1 << TAG_BITS) - 1)) as usize].filter(|h| *h >= self.cutoff)
    }

    /// The first and last kept hours of the keys whose fingerprint `key`
    /// shares, or `None` when no key like it is kept.
    pub fn lookup(&self, key: Key) -> Option<(i64, i64)> {
        let (shard, fingerprint) = place(key);
        let slots = &self.shards[shard].slots;
        let mut found: Option<(i64, i64)> = None;
        for i in probe(fingerprint, slots.len()) {
            let stored = slots[i];
            if stored == EMPTY {
                break;
            }
            if stored >> TAG_BITS == fingerprint
                && let Some(hour) = self.live(stored)
            {
                found = Some(found.map_or((hour, hour), |(a, b)| (a.min(hour), b.max(hour))));
            }
        }
        found
    }

    /// Remembers `key` for `hour`; an hour outside the span is not kept.
    pub fn insert(&mut self, key: Key, hour: i64) {
        if hour < self.cutoff || hour >= self.cutoff + SPAN_HOURS {
            return;
        }
        self.claim_tag(hour);
        let (shard, fingerprint) = place(key);
        let slot = fingerprint << TAG_BITS | tag(hour);
        if (self.shards[shard].len + 1) * 100 > self.shards[shard].slots.len() * MAX_LOAD {
            self.rebuild(shard, 1);
        }
        if self.shards[shard].put(slot) {
            self.len += 1;
        }
    }

    /// Makes `hour`'s tag stand for it, sweeping the hour it stood for
    /// before out of every shard that may still hold it.
    fn claim_tag(&mut self, hour: i64) {
        let tag = tag(hour) as usize;
        if self.tag_hours[tag] != Some(hour) {
            if self.tag_hours[tag].is_some() {
                // Only an hour before the cutoff can share the tag.
                self.sweep_step(SHARDS);
            }
            self.tag_hours[tag] = Some(hour);
        }
    }

    /// Forgets hours before `cutoff` and sweeps some shards of them.
    pub fn forget_before(&mut self, cutoff: i64) {
        if cutoff > self.cutoff {
            self.cutoff = cutoff;
            self.sweep = 0;
        }
        self.sweep_step(SWEEP_STEP);
    }

    fn sweep_step(&mut self, shards: usize) {
        let end = (self.sweep + shards).min(SHARDS);
        for shard in self.sweep..end {
            self.rebuild(shard, 0);
        }
        self.sweep = end;
    }

    /// Rebuilds a shard with its kept slots, sized for `room` more.
    fn rebuild(&mut self, shard: usize, room: usize) {
        let old = std::mem::take(&mut self.shards[shard]);
        let kept: Vec<u32> = old
            .slots
            .iter()
            .copied()
            .filter(|s| *s != EMPTY && self.live(*s).is_some())
            .collect();
        self.len -= old.len - kept.len();
        let needed = kept.len() + room;
        let size = if needed == 0 {
            0
        } else {
            (needed * 100).div_ceil(REBUILT_LOAD).max(8)
        };
        let mut new = Shard {
            slots: vec![EMPTY; size].into_boxed_slice(),
            len: 0,
        };
        for slot in kept {
            new.put(slot);
        }
        self.shards[shard] = new;
    }

    pub fn len(&self) -> usize {
        self.len
    }

    /// Bytes of slots held, kept or not.
    pub fn slot_bytes(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.slots.len() * size_of::<u32>())
            .sum()
    }
}

impl Shard {
    /// Puts `slot` in its probe run unless it is there already; true if
    /// it was added. The caller leaves room.
    fn put(&mut self, slot: u32) -> bool {
        for i in probe(slot >> TAG_BITS, self.slots.len()) {
            if self.slots[i] == slot {
                return false;
            }
            if self.slots[i] == EMPTY {
                self.slots[i] = slot;
                self.len += 1;
                return true;
            }
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A spread of distinct keys, as SipHash would give.
    fn keys(n: u64) -> impl Iterator<Item = Key> {
        (0..n).map(|i| i.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ (i << 7))
    }

    #[test]
    fn every_key_inserted_is_found_with_its_hour() {
        let mut table = Table::new(100);
        for (i, key) in keys(20_000).enumerate() {
            table.insert(key, 100 + (i % 49) as i64);
        }
        for (i, key) in keys(20_000).enumerate() {
            let hour = 100 + (i % 49) as i64;
            let (first, last) = table.lookup(key).unwrap();
            assert!(first <= hour && hour <= last, "key {i}");
        }
        assert_eq!(table.len(), 20_000);
    }

    #[test]
    fn keys_apart_in_the_fingerprint_or_shard_are_told_apart() {
        let mut table = Table::new(0);
        let key = 0x0123_4567_89AB_CDEF;
        table.insert(key, 3);
        assert_eq!(table.lookup(key ^ 1), None, "fingerprint bit");
        assert_eq!(table.lookup(key ^ (1 << 63)), None, "shard bit");
    }

    #[test]
    fn keys_apart_only_in_unused_bits_share_a_slot() {
        // Bits 26 to 45 are neither fingerprint nor shard: such keys are a
        // forced collision, which the store resolves.
        let mut table = Table::new(0);
        let key = 0x0123_4567_89AB_CDEF;
        table.insert(key, 3);
        assert_eq!(table.lookup(key ^ (1 << 30)), Some((3, 3)));
    }

    #[test]
    fn forgotten_hours_are_not_found_and_are_swept_out() {
        let mut table = Table::new(10);
        let all: Vec<Key> = keys(5_000).collect();
        for (i, key) in all.iter().enumerate() {
            table.insert(*key, 10 + (i % 2) as i64);
        }
        table.forget_before(11);
        for (i, key) in all.iter().enumerate() {
            let expected = (i % 2 == 1).then_some((11, 11));
            assert_eq!(table.lookup(*key), expected, "key {i}");
        }
        for _ in 0..64 {
            table.forget_before(11);
        }
        assert_eq!(table.len(), 2_500);
    }

    #[test]
    fn a_tag_reused_by_a_later_hour_never_brings_back_its_old_hour() {
        let mut table = Table::new(0);
        // In a shard the first sweep step does not reach.
        let key = 0xF123_4567_89AB_CDEF;
        table.insert(key, 0);
        table.forget_before(1);
        table.insert(1, 64);
        assert_eq!(table.lookup(key), None);
        assert_eq!(table.len(), 1);
    }

    #[test]
    fn hours_outside_the_span_are_not_kept() {
        let mut table = Table::new(10);
        table.insert(1, 9);
        table.insert(2, 10 + SPAN_HOURS);
        assert_eq!(table.len(), 0);
        assert_eq!(table.lookup(1), None);
    }
}
