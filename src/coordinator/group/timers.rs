//! Keyed deadlines, like the timer of Kafka's coordinator runtime: scheduling a key again
//! replaces its deadline, so a heartbeat simply pushes its member's expiry forward.

use std::collections::{BTreeSet, HashMap};
use std::hash::Hash;
use tokio::time::Instant;

/// What a timer does when it fires. Keys name the group (and member) they act on; the action
/// re-checks the group's state, so a stale timer is harmless.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TimerKey {
    /// A classic member's session (or a pending member's join) expires.
    Heartbeat { group: String, member: String },
    /// A classic group's join phase ends (initial delay or rebalance timeout).
    Join { group: String },
    /// A classic group's members must have sent SyncGroup by now.
    Sync { group: String, generation: i32 },
    /// A KIP-848 member's session expires.
    ConsumerSession { group: String, member: String },
    /// A KIP-848 member had to revoke partitions by now.
    ConsumerRebalance { group: String, member: String },
    /// Expired offsets and empty groups are cleaned up (`offsets.retention.check.interval.ms`).
    OffsetsRetention,
}

/// Deadlines by key, with the earliest one found in O(log n).
#[derive(Debug)]
pub struct Timers<K: Ord + Hash + Clone> {
    deadlines: HashMap<K, Instant>,
    queue: BTreeSet<(Instant, K)>,
}

impl<K: Ord + Hash + Clone> Default for Timers<K> {
    fn default() -> Self {
        Timers {
            deadlines: HashMap::new(),
            queue: BTreeSet::new(),
        }
    }
}

impl<K: Ord + Hash + Clone> Timers<K> {
    /// Sets (or moves) the deadline of `key`.
    pub fn schedule(&mut self, key: K, at: Instant) {
        if let Some(old) = self.deadlines.insert(key.clone(), at) {
            self.queue.remove(&(old, key.clone()));
        }
        self.queue.insert((at, key));
    }

    pub fn cancel(&mut self, key: &K) {
        if let Some(old) = self.deadlines.remove(key) {
            self.queue.remove(&(old, key.clone()));
        }
    }

    /// The earliest deadline, if any.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.queue.first().map(|(at, _)| *at)
    }

    /// Removes and returns the earliest key whose deadline is at or before `now`.
    pub fn pop_expired(&mut self, now: Instant) -> Option<K> {
        let (at, _) = self.queue.first()?;
        if *at > now {
            return None;
        }
        let (_, key) = self.queue.pop_first()?;
        self.deadlines.remove(&key);
        Some(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn rescheduling_replaces_and_pops_in_order() {
        let t0 = Instant::now();
        let mut t: Timers<&str> = Timers::default();
        t.schedule("a", t0 + Duration::from_secs(5));
        t.schedule("b", t0 + Duration::from_secs(2));
        t.schedule("a", t0 + Duration::from_secs(1));
        assert_eq!(t.next_deadline(), Some(t0 + Duration::from_secs(1)));
        assert_eq!(t.pop_expired(t0), None);
        let later = t0 + Duration::from_secs(3);
        assert_eq!(t.pop_expired(later), Some("a"));
        assert_eq!(t.pop_expired(later), Some("b"));
        assert_eq!(t.pop_expired(later), None);
        t.schedule("c", t0);
        t.cancel(&"c");
        assert_eq!(t.next_deadline(), None);
    }
}
