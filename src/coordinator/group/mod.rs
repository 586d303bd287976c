//! The group coordinator: consumer groups (classic and KIP-848) and their committed offsets.
//!
//! As in Kafka, state is sharded by `__consumer_offsets` partition: a group lives in partition
//! `abs(javaHashCode(group_id)) % partitions`, and every change to it is written to that
//! partition before it is acknowledged, so groups and offsets survive restarts and `kill -9`.
//! At start-up each partition is read back in the background; until its partition is loaded,
//! a group's requests get COORDINATOR_LOAD_IN_PROGRESS while other groups are served.
//!
//! Requests that must wait (JoinGroup until the rebalance's join phase ends, SyncGroup until
//! the leader's assignment arrives) get an [`Answer::Later`] receiver; nothing ever blocks a
//! handler thread. Timers (sessions, join and sync deadlines, offset expiry) run on one task
//! per partition.

mod admin;
mod classic;
pub mod config;
mod consumer;
mod load;
mod offsets;
pub mod records;
mod shard;
mod timers;
mod txn_offsets;

pub use config::GroupConfig;
pub use offsets::{CommittedOffset, FetchTopics, FetchedOffsets, PartitionCodes};
pub use shard::Shard;
pub use txn_offsets::{TxnCommit, TxnOffset};

use crate::log::{TopicPartition, UnifiedLog};
use crate::metadata::{CONSUMER_OFFSETS_TOPIC, TopicAdmin, TopicCatalog, is_internal_topic};
use kafka_protocol::ResponseError;
use kafka_protocol::messages::{JoinGroupResponse, SyncGroupResponse};
use parking_lot::Mutex;
use shard::{GroupKind, ShardStatus};
use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant as StdInstant};
use timers::TimerKey;
use tokio::sync::{Notify, oneshot, watch};
use tracing::{error, info};
use uuid::Uuid;

/// Who sent a request, as the coordinator records members.
#[derive(Debug, Clone)]
pub struct RequestContext {
    /// The request's API version: some rules (MEMBER_ID_REQUIRED, static membership) depend
    /// on it.
    pub api_version: i16,
    /// The client's `client.id`, recorded with the member and shown by DescribeGroups.
    pub client_id: String,
    /// Kafka records the client address as `/<ip>`.
    pub client_host: String,
}

/// An answer now, or one that arrives when the group gets there.
pub enum Answer<T> {
    /// Answered at once.
    Now(T),
    /// Answered when the group gets there (end of the join phase, the leader's assignment).
    Later(oneshot::Receiver<T>),
}

/// Topic metadata the KIP-848 assignors need.
pub trait TopicLookup {
    /// The id and partition count of an existing topic.
    fn lookup(&self, name: &str) -> Option<(Uuid, i32)>;
    /// The name of the topic with id `id`, if it exists.
    fn name_of(&self, id: &Uuid) -> Option<String>;
    /// Every topic a regex subscription may match (internal topics excluded).
    fn names(&self) -> Vec<String>;
}

/// The assignors see the topic catalog, without internal topics in regex matches.
impl TopicLookup for TopicCatalog {
    fn lookup(&self, name: &str) -> Option<(Uuid, i32)> {
        self.get(name).map(|t| (t.id, t.partitions))
    }

    fn name_of(&self, id: &Uuid) -> Option<String> {
        self.get_by_id(id).map(|t| t.name.clone())
    }

    fn names(&self) -> Vec<String> {
        TopicCatalog::names(self)
            .into_iter()
            .filter(|n| !is_internal_topic(n))
            .collect()
    }
}

/// Kafka's `Utils.abs(groupId.hashCode()) % partitions`, with Java's `String.hashCode` over
/// UTF-16 code units, so a group maps to the same partition as in Kafka.
pub fn partition_for(group_id: &str, partitions: i32) -> i32 {
    let hash = group_id
        .encode_utf16()
        .fold(0i32, |h, c| h.wrapping_mul(31).wrapping_add(i32::from(c)));
    let abs = if hash == i32::MIN { 0 } else { hash.abs() };
    abs % partitions.max(1)
}

struct ShardHandle {
    shard: Mutex<Shard>,
    /// Wakes the shard's timer task after an operation (a timer may have moved earlier).
    wake: Notify,
}

/// The coordinator of every group on this broker.
pub struct GroupCoordinator {
    node_id: i32,
    config: Arc<GroupConfig>,
    shards: OnceLock<Vec<Arc<ShardHandle>>>,
    stop: watch::Sender<bool>,
}

impl GroupCoordinator {
    /// A coordinator with no partitions yet: it serves once `__consumer_offsets` is attached
    /// ([`GroupCoordinator::attach_existing`] at start-up, [`GroupCoordinator::ensure_active`]
    /// at the first FindCoordinator).
    pub fn new(node_id: i32, config: GroupConfig) -> GroupCoordinator {
        GroupCoordinator {
            node_id,
            config: Arc::new(config),
            shards: OnceLock::new(),
            stop: watch::channel(false).0,
        }
    }

    /// Start-up: if `__consumer_offsets` exists, takes over its partitions (group state is read
    /// back in the background; start-up does not wait for it). Must run inside the Tokio
    /// runtime.
    pub fn attach_existing(&self, admin: &TopicAdmin) {
        if admin.catalog().get(CONSUMER_OFFSETS_TOPIC).is_some() {
            // The topic exists, so creating it is not attempted; an error here would only
            // repeat at the first FindCoordinator, which reports it.
            let _ = self.ensure_active(admin);
        }
    }

    /// FindCoordinator for a group: makes sure `__consumer_offsets` exists (created on first
    /// use with `offsets.topic.*`, as Kafka does) and its partitions are ours.
    /// COORDINATOR_NOT_AVAILABLE when the topic cannot be created (a replication factor above
    /// 1 on a single node).
    pub fn ensure_active(&self, admin: &TopicAdmin) -> Result<(), ResponseError> {
        if self.shards.get().is_some() {
            return Ok(());
        }
        let topic = &self.config.offsets_topic;
        let info = admin.internal_topic(
            CONSUMER_OFFSETS_TOPIC,
            topic.num_partitions,
            topic.replication_factor,
            BTreeMap::from([
                ("cleanup.policy".to_string(), "compact".to_string()),
                ("compression.type".to_string(), "producer".to_string()),
                ("segment.bytes".to_string(), topic.segment_bytes.to_string()),
            ]),
        )?;
        let logs = (0..info.partitions)
            .map(|p| admin.logs().get(&TopicPartition::new(info.name.clone(), p)))
            .collect::<Option<Vec<_>>>()
            .ok_or(ResponseError::CoordinatorNotAvailable)?;
        self.attach(logs);
        Ok(())
    }

    /// Takes over the partitions of `__consumer_offsets` (one log per partition, in order):
    /// empty ones serve at once, the others are read back in the background. Only the first
    /// call counts. Must run inside the Tokio runtime.
    fn attach(&self, logs: Vec<Arc<UnifiedLog>>) {
        let mut fresh = false;
        self.shards.get_or_init(|| {
            fresh = true;
            logs.iter()
                .enumerate()
                .map(|(p, log)| {
                    Arc::new(ShardHandle {
                        shard: Mutex::new(Shard::new(p as i32, self.config.clone(), log.clone())),
                        wake: Notify::new(),
                    })
                })
                .collect()
        });
        if !fresh {
            return;
        }
        for handle in self.shards.get().into_iter().flatten() {
            tokio::spawn(run_timers(handle.clone(), self.stop.subscribe()));
            let log = handle.shard.lock().log.clone();
            if log.log_end_offset() <= log.log_start_offset() {
                activate(handle, load::Loaded::default());
                continue;
            }
            let handle = handle.clone();
            let node_id = self.node_id;
            tokio::task::spawn_blocking(move || {
                let started = StdInstant::now();
                let partition = handle.shard.lock().partition;
                match load::load(&log, crate::base::clock::now_ms()) {
                    Ok(loaded) => {
                        info!(
                            "[GroupCoordinator id={node_id}] Finished loading of metadata from {} in {}ms: {} records ({} bytes), {} groups.",
                            log.topic_partition(),
                            started.elapsed().as_millis(),
                            loaded.records,
                            loaded.bytes,
                            loaded.groups.len()
                        );
                        activate(&handle, loaded);
                    }
                    Err(e) => {
                        error!(
                            "[GroupCoordinator id={node_id}] Failed to load metadata from __consumer_offsets-{partition}: {e}"
                        );
                        handle.shard.lock().status = ShardStatus::Unavailable;
                    }
                }
            });
        }
    }

    /// Runs `f` on the shard of `group_id`: NOT_COORDINATOR before `__consumer_offsets`
    /// exists, COORDINATOR_LOAD_IN_PROGRESS while the shard loads, INVALID_GROUP_ID for an id
    /// too long to be stored.
    pub fn with_shard<R>(
        &self,
        group_id: &str,
        f: impl FnOnce(&mut Shard) -> R,
    ) -> Result<R, ResponseError> {
        if group_id.len() > records::MAX_STRING_LEN {
            return Err(ResponseError::InvalidGroupId);
        }
        let shards = self.shards.get().ok_or(ResponseError::NotCoordinator)?;
        let handle = &shards[partition_for(group_id, shards.len() as i32) as usize];
        let result = {
            let mut shard = handle.shard.lock();
            shard.check_active()?;
            f(&mut shard)
        };
        handle.wake.notify_one();
        Ok(result)
    }

    /// Runs `f` on every shard, for ListGroups; the error is the first unavailable shard's.
    pub fn for_each_shard(&self, mut f: impl FnMut(&Shard)) -> Result<(), ResponseError> {
        let mut first_error = None;
        for handle in self.shards.get().into_iter().flatten() {
            let shard = handle.shard.lock();
            match shard.check_active() {
                Ok(()) => f(&shard),
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    /// The `__consumer_offsets` partition of `group_id` (the transaction coordinator adds it
    /// to a transaction for AddOffsetsToTxn): by the topic's partitions once it exists, else
    /// by `offsets.topic.num.partitions`.
    pub fn partition_of(&self, group_id: &str) -> TopicPartition {
        let partitions = self
            .shards
            .get()
            .map_or(self.config.offsets_topic.num_partitions, |s| s.len() as i32);
        TopicPartition::new(CONSUMER_OFFSETS_TOPIC, partition_for(group_id, partitions))
    }

    /// A topic was deleted: every group forgets its committed offsets of it.
    pub fn on_topic_deleted(&self, topic: &str) {
        for handle in self.shards.get().into_iter().flatten() {
            let mut shard = handle.shard.lock();
            if shard.check_active().is_ok() {
                let removed = shard.forget_topic(topic);
                if removed > 0 {
                    info!(
                        "Removed {removed} committed offsets of deleted topic {topic} from __consumer_offsets-{}",
                        shard.partition
                    );
                }
            }
        }
    }

    /// Stops the timers and answers every parked JoinGroup and SyncGroup with
    /// NOT_COORDINATOR, so shutdown does not wait out a rebalance.
    pub fn shutdown(&self) {
        let _ = self.stop.send(true);
        for handle in self.shards.get().into_iter().flatten() {
            let mut shard = handle.shard.lock();
            shard.status = ShardStatus::Unavailable;
            for group in shard.groups.values_mut() {
                if let GroupKind::Classic(g) = &mut group.kind {
                    for m in g.members.values_mut() {
                        let code = ResponseError::NotCoordinator.code();
                        m.complete_join(JoinGroupResponse::default().with_error_code(code));
                        m.complete_sync(SyncGroupResponse::default().with_error_code(code));
                    }
                }
            }
        }
    }
}

/// Transaction markers written to `__consumer_offsets` complete transactional offset
/// commits.
impl crate::coordinator::transaction::MarkerListener for GroupCoordinator {
    fn on_marker(&self, tp: &TopicPartition, producer_id: i64, commit: bool, offset: i64) {
        if tp.topic != CONSUMER_OFFSETS_TOPIC {
            return;
        }
        let handle = self
            .shards
            .get()
            .and_then(|s| s.get(usize::try_from(tp.partition).ok()?));
        if let Some(handle) = handle {
            handle
                .shard
                .lock()
                .complete_txn(producer_id, commit, offset);
        }
    }
}

/// Installs what was loaded and starts serving: loaded members must heartbeat within their
/// session timeout, and the offset expiry check starts.
fn activate(handle: &ShardHandle, loaded: load::Loaded) {
    {
        let mut shard = handle.shard.lock();
        shard.groups = loaded.groups;
        shard.pending_txn = loaded.pending_txn;
        shard.status = ShardStatus::Active;
        for (pid, commit, offset) in std::mem::take(&mut shard.deferred_markers) {
            // Markers the load read itself were applied by it.
            if offset >= loaded.end_offset {
                shard.complete_txn(pid, commit, offset);
            }
        }
        let (groups, mut ctx) = shard.split();
        for group in groups.values() {
            if let GroupKind::Classic(g) = &group.kind {
                for m in g.members.values() {
                    ctx.schedule(
                        TimerKey::Heartbeat {
                            group: g.id.clone(),
                            member: m.id.clone(),
                        },
                        Duration::from_millis(m.session_timeout_ms.max(0) as u64),
                    );
                }
            }
        }
        let interval = Duration::from_millis(ctx.config.offsets_retention_check_interval_ms as u64);
        ctx.schedule(TimerKey::OffsetsRetention, interval);
        shard.status = ShardStatus::Active;
    }
    handle.wake.notify_one();
}

/// Fires the shard's timers as they come due, until the coordinator stops.
async fn run_timers(handle: Arc<ShardHandle>, mut stop: watch::Receiver<bool>) {
    loop {
        let next = {
            let mut shard = handle.shard.lock();
            shard.fire_due(tokio::time::Instant::now());
            shard.timers.next_deadline()
        };
        let sleep = async {
            match next {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = sleep => {}
            _ = handle.wake.notified() => {}
            _ = stop.changed() => return,
        }
    }
}

impl Shard {
    /// Fires every timer due at `now` (a timer may schedule others, due later).
    pub(crate) fn fire_due(&mut self, now: tokio::time::Instant) {
        while let Some(key) = self.timers.pop_expired(now) {
            self.fire(key);
        }
    }

    fn fire(&mut self, key: TimerKey) {
        if key == TimerKey::OffsetsRetention {
            let started = StdInstant::now();
            let tombstones = self.expire_offsets();
            if tombstones > 0 {
                info!(
                    "Generated {tombstones} tombstone records while cleaning up group metadata in {} milliseconds.",
                    started.elapsed().as_millis()
                );
            }
            let (_, mut ctx) = self.split();
            let interval =
                Duration::from_millis(ctx.config.offsets_retention_check_interval_ms as u64);
            ctx.schedule(TimerKey::OffsetsRetention, interval);
            return;
        }
        let (groups, mut ctx) = self.split();
        let group_id = match &key {
            TimerKey::Heartbeat { group, .. }
            | TimerKey::Join { group }
            | TimerKey::Sync { group, .. }
            | TimerKey::ConsumerSession { group, .. }
            | TimerKey::ConsumerRebalance { group, .. } => group,
            TimerKey::OffsetsRetention => return,
        };
        let Some(group) = groups.get_mut(group_id) else {
            return;
        };
        match (&mut group.kind, &key) {
            (GroupKind::Classic(g), TimerKey::Heartbeat { member, .. }) => {
                classic::on_heartbeat_timer(g, &mut ctx, member)
            }
            (GroupKind::Classic(g), TimerKey::Join { .. }) => classic::on_join_timer(g, &mut ctx),
            (GroupKind::Classic(g), TimerKey::Sync { generation, .. }) => {
                classic::on_sync_timer(g, &mut ctx, *generation)
            }
            (GroupKind::Consumer(g), TimerKey::ConsumerSession { member, .. }) => {
                consumer::on_session_timer(g, &mut ctx, member)
            }
            (GroupKind::Consumer(g), TimerKey::ConsumerRebalance { member, .. }) => {
                consumer::on_rebalance_timer(g, &mut ctx, member)
            }
            // The group changed kind since the timer was set: nothing to do.
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partition_matches_java_string_hash_code() {
        // Java: "my-group".hashCode() == -1906497762, so Utils.abs(...) % 50 == 12.
        assert_eq!(partition_for("my-group", 50), 12);
        // "polygenelubricants".hashCode() == Integer.MIN_VALUE: Kafka's Utils.abs maps it to 0.
        assert_eq!(partition_for("polygenelubricants", 50), 0);
        // Non-ASCII hashes UTF-16 code units: "é" is 233.
        assert_eq!(partition_for("é", 50), 233 % 50);
        assert_eq!(partition_for("", 50), 0);
    }
}
