//! Incremental fetch sessions (KIP-227).
//!
//! A consumer that fetches many partitions would otherwise resend all of them, and receive
//! metadata for all of them, on every fetch. With a session the broker remembers the
//! partitions and their fetch positions; each request carries only changes, and each response
//! only partitions that have something new (data, a moved high watermark or log start, or an
//! error).

use kafka_protocol::ResponseError;
use parking_lot::Mutex;
use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};
use uuid::Uuid;

/// Kafka's `max.incremental.fetch.session.cache.slots` default.
const DEFAULT_SLOTS: usize = 1000;
/// Sessions idle this long may be evicted to make room (Kafka: `min.incremental.fetch.session.eviction.ms`).
const EVICTION_AGE: Duration = Duration::from_secs(120);

/// Session epoch that asks for a sessionless full fetch (and closes a given session).
pub const FINAL_EPOCH: i32 = -1;
/// Session epoch of the request that creates a session.
pub const INITIAL_EPOCH: i32 = 0;

/// A partition as a fetch names it: by topic id on v13+, by name before.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FetchKey {
    pub topic: String,
    pub topic_id: Uuid,
    pub partition: i32,
}

/// What the client asked for one partition, and what we last told it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionState {
    pub fetch_offset: i64,
    pub max_bytes: i32,
    /// High watermark and log start offset in the last response that included this partition.
    pub last_sent: Option<(i64, i64)>,
}

struct Session {
    next_epoch: i32,
    partitions: BTreeMap<FetchKey, PartitionState>,
    last_used: Instant,
}

/// How a fetch request relates to sessions.
pub enum SessionRequest {
    /// Sessionless full fetch (epoch -1): every requested partition is answered.
    Sessionless,
    /// A session (new or continued) owning this id; the response lists only changes, unless it is
    /// the first response of a new session.
    Session { id: i32, full: bool },
}

/// All live fetch sessions of this broker.
pub struct FetchSessionCache {
    /// Live sessions by id.
    sessions: Mutex<HashMap<i32, Session>>,
    /// `max.incremental.fetch.session.cache.slots`: sessions kept at once; with 0 every fetch
    /// is sessionless.
    slots: usize,
}

impl Default for FetchSessionCache {
    fn default() -> Self {
        FetchSessionCache::new(DEFAULT_SLOTS)
    }
}

impl FetchSessionCache {
    /// A cache of at most `slots` sessions.
    pub fn new(slots: usize) -> FetchSessionCache {
        FetchSessionCache {
            sessions: Mutex::new(HashMap::new()),
            slots,
        }
    }

    /// Applies a request's session fields and partition changes. Returns the session context and
    /// the full set of partitions to consider for the response, or the top-level error.
    pub fn begin(
        &self,
        session_id: i32,
        epoch: i32,
        requested: Vec<(FetchKey, i64, i32)>,
        forgotten: Vec<FetchKey>,
    ) -> Result<(SessionRequest, Vec<(FetchKey, PartitionState)>), ResponseError> {
        let mut sessions = self.sessions.lock();
        let fresh = |requested: Vec<(FetchKey, i64, i32)>| {
            requested
                .into_iter()
                .map(|(k, off, max)| {
                    (
                        k,
                        PartitionState {
                            fetch_offset: off,
                            max_bytes: max,
                            last_sent: None,
                        },
                    )
                })
                .collect::<Vec<_>>()
        };
        if epoch == FINAL_EPOCH {
            if session_id != 0 {
                sessions.remove(&session_id);
            }
            return Ok((SessionRequest::Sessionless, fresh(requested)));
        }
        if epoch == INITIAL_EPOCH && session_id != 0 {
            // A full fetch naming a session closes it and opens a new one (Kafka's
            // FetchManager); clients reset this way after losing a response.
            sessions.remove(&session_id);
        }
        if session_id == 0 || epoch == INITIAL_EPOCH {
            if epoch != INITIAL_EPOCH {
                return Err(ResponseError::InvalidFetchSessionEpoch);
            }
            let partitions = fresh(requested);
            let Some(id) = Self::new_session_id(&mut sessions, self.slots) else {
                // Cache full: fall back to a sessionless fetch, as Kafka does.
                return Ok((SessionRequest::Sessionless, partitions));
            };
            sessions.insert(
                id,
                Session {
                    next_epoch: 1,
                    partitions: partitions.iter().cloned().collect(),
                    last_used: Instant::now(),
                },
            );
            return Ok((SessionRequest::Session { id, full: true }, partitions));
        }
        let Some(session) = sessions.get_mut(&session_id) else {
            return Err(ResponseError::FetchSessionIdNotFound);
        };
        if session.next_epoch != epoch {
            return Err(ResponseError::InvalidFetchSessionEpoch);
        }
        session.next_epoch = if epoch == i32::MAX { 1 } else { epoch + 1 };
        session.last_used = Instant::now();
        for key in forgotten {
            session.partitions.remove(&key);
        }
        for (key, fetch_offset, max_bytes) in requested {
            let entry = session.partitions.entry(key).or_insert(PartitionState {
                fetch_offset,
                max_bytes,
                last_sent: None,
            });
            entry.fetch_offset = fetch_offset;
            entry.max_bytes = max_bytes;
        }
        let all = session
            .partitions
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        Ok((
            SessionRequest::Session {
                id: session_id,
                full: false,
            },
            all,
        ))
    }

    /// Records what a response told the client about each partition.
    pub fn record_sent(&self, session_id: i32, sent: &[(FetchKey, i64, i64)]) {
        let mut sessions = self.sessions.lock();
        if let Some(session) = sessions.get_mut(&session_id) {
            for (key, hw, log_start) in sent {
                if let Some(p) = session.partitions.get_mut(key) {
                    p.last_sent = Some((*hw, *log_start));
                }
            }
        }
    }

    fn new_session_id(sessions: &mut HashMap<i32, Session>, slots: usize) -> Option<i32> {
        if slots == 0 {
            return None;
        }
        if sessions.len() >= slots {
            let now = Instant::now();
            let oldest = sessions
                .iter()
                .filter(|(_, s)| now.duration_since(s.last_used) >= EVICTION_AGE)
                .min_by_key(|(_, s)| s.last_used)
                .map(|(id, _)| *id)?;
            sessions.remove(&oldest);
        }
        loop {
            let id = (uuid::Uuid::new_v4().as_u128() as i32) & i32::MAX;
            if id != 0 && !sessions.contains_key(&id) {
                return Some(id);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(p: i32) -> FetchKey {
        FetchKey {
            topic: "t".into(),
            topic_id: Uuid::nil(),
            partition: p,
        }
    }

    #[test]
    fn session_lifecycle() {
        let cache = FetchSessionCache::default();
        let (ctx, parts) = cache
            .begin(
                0,
                INITIAL_EPOCH,
                vec![(key(0), 5, 100), (key(1), 7, 100)],
                vec![],
            )
            .unwrap();
        let SessionRequest::Session { id, full: true } = ctx else {
            panic!("expected new session")
        };
        assert_eq!(parts.len(), 2);
        // Incremental: move partition 0, forget partition 1.
        let (ctx, parts) = cache
            .begin(id, 1, vec![(key(0), 9, 100)], vec![key(1)])
            .unwrap();
        assert!(matches!(ctx, SessionRequest::Session { full: false, .. }));
        assert_eq!(
            parts,
            vec![(
                key(0),
                PartitionState {
                    fetch_offset: 9,
                    max_bytes: 100,
                    last_sent: None
                }
            )]
        );
        // Wrong epoch and unknown ids are errors.
        assert_eq!(
            cache.begin(id, 1, vec![], vec![]).err(),
            Some(ResponseError::InvalidFetchSessionEpoch)
        );
        assert_eq!(
            cache.begin(42, 1, vec![], vec![]).err(),
            Some(ResponseError::FetchSessionIdNotFound)
        );
        // Final epoch closes it.
        assert!(matches!(
            cache.begin(id, FINAL_EPOCH, vec![], vec![]).unwrap().0,
            SessionRequest::Sessionless
        ));
        assert_eq!(
            cache.begin(id, 3, vec![], vec![]).err(),
            Some(ResponseError::FetchSessionIdNotFound)
        );
    }

    #[test]
    fn full_fetch_naming_a_session_replaces_it() {
        // franz-go resets this way after losing a fetch response: the session's epoch has
        // moved on, so only a new session can continue (as Kafka's FetchManager does).
        let cache = FetchSessionCache::default();
        let (ctx, _) = cache
            .begin(0, INITIAL_EPOCH, vec![(key(0), 0, 100)], vec![])
            .unwrap();
        let SessionRequest::Session { id, .. } = ctx else {
            panic!("expected session")
        };
        cache.begin(id, 1, vec![], vec![]).unwrap();
        let (ctx, parts) = cache
            .begin(id, INITIAL_EPOCH, vec![(key(0), 4, 100)], vec![])
            .unwrap();
        let SessionRequest::Session {
            id: new_id,
            full: true,
        } = ctx
        else {
            panic!("expected a new full session")
        };
        assert_ne!(new_id, id);
        assert_eq!(parts[0].1.fetch_offset, 4);
        assert_eq!(
            cache.begin(id, 2, vec![], vec![]).err(),
            Some(ResponseError::FetchSessionIdNotFound),
            "the old session is closed"
        );
        cache.begin(new_id, 1, vec![], vec![]).unwrap();
    }

    #[test]
    fn remembers_what_was_sent() {
        let cache = FetchSessionCache::default();
        let (ctx, _) = cache
            .begin(0, INITIAL_EPOCH, vec![(key(0), 0, 100)], vec![])
            .unwrap();
        let SessionRequest::Session { id, .. } = ctx else {
            panic!("expected session")
        };
        cache.record_sent(id, &[(key(0), 10, 0)]);
        let (_, parts) = cache.begin(id, 1, vec![], vec![]).unwrap();
        assert_eq!(parts[0].1.last_sent, Some((10, 0)));
    }

    #[test]
    fn slots_bound_the_sessions_kept() {
        let none = FetchSessionCache::new(0);
        let (ctx, _) = none
            .begin(0, INITIAL_EPOCH, vec![(key(0), 0, 100)], vec![])
            .unwrap();
        assert!(
            matches!(ctx, SessionRequest::Sessionless),
            "0 slots: sessionless"
        );
        let one = FetchSessionCache::new(1);
        let (first, _) = one.begin(0, INITIAL_EPOCH, vec![], vec![]).unwrap();
        assert!(matches!(first, SessionRequest::Session { .. }));
        let (second, _) = one.begin(0, INITIAL_EPOCH, vec![], vec![]).unwrap();
        assert!(
            matches!(second, SessionRequest::Sessionless),
            "full, and the session in it is too young to evict"
        );
    }
}
