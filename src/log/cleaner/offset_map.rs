//! Kafka's `SkimpyOffsetMap`: key hash → latest offset for the dirty part of a log, in a fixed
//! memory budget.
//!
//! Like Kafka's, an entry is a 16-byte key hash plus an 8-byte offset (24 bytes), so
//! `log.cleaner.dedupe.buffer.size` buys the same number of keys per cleaning round as on
//! Kafka. Two keys whose 128-bit hashes collide would be treated as one key, as in Kafka (which
//! uses MD5); the odds are negligible. Kafka allocates the whole buffer when the cleaner starts;
//! here the table starts small and doubles up to the budget, and shrinks back after each round,
//! so an idle broker does not hold 128 MiB for a cleaner that has nothing to do.

use twox_hash::XxHash3_128;

/// Bytes of one entry, as Kafka counts them: a 16-byte hash and an 8-byte offset.
pub const BYTES_PER_ENTRY: usize = 24;
/// Slots of a fresh table (grown on demand).
const INITIAL_SLOTS: usize = 1 << 12;
/// Growth threshold while the table is below its budget: open addressing stays fast.
const GROWTH_LOAD: f64 = 0.7;

/// One slot: a key hash and its latest offset; `offset < 0` marks an empty slot.
#[derive(Clone, Copy)]
struct Slot {
    hash: u128,
    offset: i64,
}

const EMPTY: Slot = Slot {
    hash: 0,
    offset: -1,
};

/// A bounded map from key hash to the offset of the key's latest record.
pub struct OffsetMap {
    /// Open-addressed table, linear probing; its length grows to at most `max_slots`.
    slots: Vec<Slot>,
    /// Slots the memory budget allows (`dedupe buffer / 24`).
    max_slots: usize,
    /// Keys in the map.
    entries: usize,
    /// The largest offset fed into the map (Kafka's `latestOffset`), -1 when empty.
    latest_offset: i64,
}

impl OffsetMap {
    /// A map that may use up to `memory_bytes` (at least one slot).
    pub fn new(memory_bytes: usize) -> OffsetMap {
        let max_slots = (memory_bytes / BYTES_PER_ENTRY).max(1);
        OffsetMap {
            slots: vec![EMPTY; INITIAL_SLOTS.min(max_slots)],
            max_slots,
            entries: 0,
            latest_offset: -1,
        }
    }

    /// Slots the memory budget allows (Kafka's `slots`).
    pub fn slots(&self) -> usize {
        self.max_slots
    }

    /// Keys in the map.
    pub fn size(&self) -> usize {
        self.entries
    }

    /// Share of the budget in use (Kafka's `utilization`).
    pub fn utilization(&self) -> f64 {
        self.entries as f64 / self.max_slots as f64
    }

    /// The largest offset seen, -1 if none.
    pub fn latest_offset(&self) -> i64 {
        self.latest_offset
    }

    /// Raises the latest offset (offsets with no keyed record, such as control batches, still
    /// count as read).
    pub fn update_latest_offset(&mut self, offset: i64) {
        self.latest_offset = self.latest_offset.max(offset);
    }

    /// Records `offset` as the latest for `key`. The caller keeps the map below its budget
    /// (Kafka's cleaner stops adding at `slots * load factor`).
    pub fn put(&mut self, key: &[u8], offset: i64) {
        let hash = hash(key);
        if self.entries + 1 > self.grow_threshold() && self.slots.len() < self.max_slots {
            self.grow();
        }
        let at = self.probe(hash);
        let slot = &mut self.slots[at];
        if slot.offset < 0 {
            self.entries += 1;
        }
        *slot = Slot { hash, offset };
        self.latest_offset = self.latest_offset.max(offset);
    }

    /// The latest offset recorded for `key`, -1 if none.
    pub fn get(&self, key: &[u8]) -> i64 {
        self.slots[self.probe(hash(key))].offset
    }

    /// Empties the map for the next round and gives back memory beyond the initial table.
    pub fn clear(&mut self) {
        self.slots.clear();
        self.slots.shrink_to(INITIAL_SLOTS);
        self.slots.resize(INITIAL_SLOTS.min(self.max_slots), EMPTY);
        self.entries = 0;
        self.latest_offset = -1;
    }

    fn grow_threshold(&self) -> usize {
        if self.slots.len() >= self.max_slots {
            self.max_slots
        } else {
            (self.slots.len() as f64 * GROWTH_LOAD) as usize
        }
    }

    fn grow(&mut self) {
        let size = (self.slots.len() * 2).min(self.max_slots);
        let old = std::mem::replace(&mut self.slots, vec![EMPTY; size]);
        for slot in old.into_iter().filter(|s| s.offset >= 0) {
            let at = self.probe(slot.hash);
            self.slots[at] = slot;
        }
    }

    /// The slot holding `hash`, or the empty slot where it would go. The table always has an
    /// empty slot because callers stop below the budget.
    fn probe(&self, hash: u128) -> usize {
        let len = self.slots.len();
        // Multiply-shift maps the hash onto any table size, not only powers of two.
        let mut at = ((u128::from(hash as u64) * len as u128) >> 64) as usize;
        for _ in 0..len {
            let slot = &self.slots[at];
            if slot.offset < 0 || slot.hash == hash {
                return at;
            }
            at += 1;
            if at == len {
                at = 0;
            }
        }
        // invariant: unreachable while the cleaner keeps entries below the slot count; a full
        // table answers "absent" at slot 0 rather than looping.
        0
    }
}

fn hash(key: &[u8]) -> u128 {
    XxHash3_128::oneshot(key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashMap;

    #[test]
    fn keeps_the_latest_offset_per_key_and_grows_to_its_budget() {
        let mut map = OffsetMap::new(24 * 100_000);
        assert_eq!(map.slots(), 100_000);
        for i in 0..90_000i64 {
            map.put(format!("key-{}", i % 30_000).as_bytes(), i);
        }
        assert_eq!(map.size(), 30_000);
        assert_eq!(map.get(b"key-0"), 60_000);
        assert_eq!(map.get(b"key-29999"), 89_999);
        assert_eq!(map.get(b"absent"), -1);
        assert_eq!(map.latest_offset(), 89_999);
        assert!((map.utilization() - 0.3).abs() < 1e-9);
        map.clear();
        assert_eq!(
            (map.size(), map.latest_offset(), map.get(b"key-0")),
            (0, -1, -1)
        );
        assert!(map.slots.capacity() <= INITIAL_SLOTS, "memory given back");
    }

    #[test]
    fn fills_a_table_of_odd_size_to_the_last_slot() {
        let mut map = OffsetMap::new(24 * 7);
        for i in 0..7i64 {
            map.put(&i.to_be_bytes(), i * 10);
        }
        for i in 0..7i64 {
            assert_eq!(map.get(&i.to_be_bytes()), i * 10);
        }
        assert_eq!(map.size(), 7);
        assert_eq!(OffsetMap::new(0).slots(), 1, "never zero slots");
    }

    proptest! {
        #[test]
        fn agrees_with_a_hash_map(ops in proptest::collection::vec((0u16..500, 0i64..1_000_000), 0..2000)) {
            let mut map = OffsetMap::new(24 * 600);
            let mut model = HashMap::new();
            for (key, offset) in ops {
                map.put(&key.to_le_bytes(), offset);
                model.insert(key, offset);
            }
            for key in 0u16..500 {
                prop_assert_eq!(map.get(&key.to_le_bytes()), model.get(&key).copied().unwrap_or(-1));
            }
            prop_assert_eq!(map.size(), model.len());
        }
    }
}
