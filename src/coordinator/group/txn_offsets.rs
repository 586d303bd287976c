//! Transactional offset commits (TxnOffsetCommit): offsets written in the producer's
//! transaction, invisible until its COMMIT marker reaches the group's `__consumer_offsets`
//! partition and dropped by an ABORT marker, as Kafka's `pendingTransactionalOffsetCommits`.
//! While such a commit is pending, OffsetFetch with `require_stable` answers
//! UNSTABLE_OFFSET_COMMIT for its partitions.

use super::classic::ClassicState;
use super::offsets::{CommittedOffset, PartitionCodes};
use super::records;
use super::shard::{Group, GroupKind, KeyValue, Shard, ShardStatus};
use kafka_protocol::ResponseError;
use tracing::debug;

/// An offset committed in an open transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingOffset {
    /// The group.
    pub group: String,
    /// The topic.
    pub topic: String,
    /// The partition.
    pub partition: i32,
    /// The offset it becomes on commit.
    pub offset: CommittedOffset,
}

/// One partition's offset in a TxnOffsetCommit.
#[derive(Debug, Clone)]
pub struct TxnOffset {
    /// The partition.
    pub partition: i32,
    /// The offset.
    pub offset: i64,
    /// The leader epoch the client saw, -1 if unknown.
    pub leader_epoch: i32,
    /// The client's metadata string.
    pub metadata: Option<String>,
}

/// A TxnOffsetCommit request, as the coordinator needs it.
#[derive(Debug, Clone)]
pub struct TxnCommit {
    /// The group.
    pub group_id: String,
    /// The committing member (v3+), empty if none.
    pub member_id: String,
    /// Its static instance id.
    pub instance_id: Option<String>,
    /// Its generation (or KIP-848 member epoch), -1 if none.
    pub generation_id: i32,
    /// The transaction's producer id.
    pub producer_id: i64,
    /// The transaction's producer epoch.
    pub producer_epoch: i16,
    /// Offsets by topic.
    pub topics: Vec<(String, Vec<TxnOffset>)>,
}

/// Kafka's checks of a transactional commit against the group: the member must be current
/// when it names itself, but a rebalance in progress does not stop it.
fn validate(group: &Group, c: &TxnCommit) -> Result<(), ResponseError> {
    match &group.kind {
        GroupKind::Classic(g) => {
            if g.state == ClassicState::Dead {
                return Err(ResponseError::CoordinatorNotAvailable);
            }
            if c.generation_id >= 0 || !c.member_id.is_empty() || c.instance_id.is_some() {
                g.validate_member(&c.member_id, c.instance_id.as_deref())?;
                if c.generation_id != g.generation {
                    return Err(ResponseError::IllegalGeneration);
                }
            }
            Ok(())
        }
        GroupKind::Consumer(g) => {
            if c.generation_id < 0 && c.member_id.is_empty() {
                return Ok(());
            }
            match g.members.get(&c.member_id) {
                None => Err(ResponseError::UnknownMemberId),
                Some(m) if m.epoch != c.generation_id => Err(ResponseError::IllegalGeneration),
                Some(_) => Ok(()),
            }
        }
    }
}

impl Shard {
    /// TxnOffsetCommit: writes the offsets in the producer's transaction (a transactional
    /// batch) and keeps them pending until the marker. Per-partition codes.
    pub fn commit_txn_offsets(
        &mut self,
        c: &TxnCommit,
        partition_exists: &dyn Fn(&str, i32) -> bool,
    ) -> PartitionCodes {
        let all = |code: i16| -> PartitionCodes {
            c.topics
                .iter()
                .map(|(t, ps)| (t.clone(), ps.iter().map(|p| (p.partition, code)).collect()))
                .collect()
        };
        let (groups, ctx) = self.split();
        let created = !groups.contains_key(&c.group_id);
        if created {
            if c.generation_id >= 0 {
                return all(ResponseError::IllegalGeneration.code());
            }
            groups.insert(
                c.group_id.clone(),
                Group::new_classic(&c.group_id, ctx.now_ms),
            );
        }
        let Some(group) = groups.get(&c.group_id) else {
            return all(ResponseError::UnknownServerError.code());
        };
        if let Err(e) = validate(group, c) {
            if created {
                groups.remove(&c.group_id);
            }
            return all(e.code());
        }
        let mut codes: PartitionCodes = Vec::with_capacity(c.topics.len());
        let mut records: Vec<KeyValue> = Vec::new();
        let mut accepted = Vec::new();
        for (topic, parts) in &c.topics {
            let mut out = Vec::with_capacity(parts.len());
            for p in parts {
                let metadata = p.metadata.clone().unwrap_or_default();
                let code = if !partition_exists(topic, p.partition) {
                    ResponseError::UnknownTopicOrPartition.code()
                } else if metadata.len() > ctx.config.offset_metadata_max_bytes {
                    ResponseError::OffsetMetadataTooLarge.code()
                } else {
                    let offset = CommittedOffset {
                        offset: p.offset,
                        leader_epoch: p.leader_epoch,
                        metadata,
                        commit_timestamp_ms: ctx.now_ms,
                        expire_timestamp_ms: None,
                    };
                    records.push((
                        records::offset_key(&c.group_id, topic, p.partition),
                        Some(offset.to_value().encode()),
                    ));
                    accepted.push(PendingOffset {
                        group: c.group_id.clone(),
                        topic: topic.clone(),
                        partition: p.partition,
                        offset,
                    });
                    0
                };
                out.push((p.partition, code));
            }
            codes.push((topic.clone(), out));
        }
        if let Err(e) = ctx.append_transactional(records, c.producer_id, c.producer_epoch) {
            tracing::warn!(
                "Failed to write transactional offsets of group {}: {e}",
                c.group_id
            );
            let code = match &e {
                super::shard::AppendError::Log(l) if l.error_code() == 47 => {
                    ResponseError::InvalidProducerEpoch.code()
                }
                _ => e.response_error().code(),
            };
            for (_, parts) in &mut codes {
                for (_, c) in parts.iter_mut().filter(|(_, c)| *c == 0) {
                    *c = code;
                }
            }
            accepted.clear();
        }
        if accepted.is_empty() && created {
            groups.remove(&c.group_id);
        }
        if !accepted.is_empty() {
            self.pending_txn
                .entry(c.producer_id)
                .or_default()
                .extend(accepted);
        }
        codes
    }

    /// A marker for `producer_id` reached this shard's partition at `offset`: its pending
    /// offsets become committed (COMMIT) or are dropped (ABORT). While loading, the marker
    /// waits for the load to finish.
    pub fn complete_txn(&mut self, producer_id: i64, commit: bool, offset: i64) {
        if self.status == ShardStatus::Loading {
            self.deferred_markers.push((producer_id, commit, offset));
            return;
        }
        let Some(pending) = self.pending_txn.remove(&producer_id) else {
            return;
        };
        let now_ms = crate::base::clock::now_ms();
        for p in pending {
            debug!(
                "[GroupId {}] {} transactional offset commit of {}-{} by producer {producer_id}",
                p.group,
                if commit { "Completing" } else { "Dropping" },
                p.topic,
                p.partition
            );
            if commit {
                let group = self
                    .groups
                    .entry(p.group.clone())
                    .or_insert_with(|| Group::new_classic(&p.group, now_ms));
                group.offsets.put(&p.topic, p.partition, p.offset);
            }
        }
    }

    /// Whether a transactional commit of `group`'s offset for the partition is pending.
    pub fn has_pending_offset(&self, group: &str, topic: &str, partition: i32) -> bool {
        self.pending_txn
            .values()
            .flatten()
            .any(|p| p.group == group && p.topic == topic && p.partition == partition)
    }

    /// Whether any transactional commit of `group` is pending.
    pub fn has_pending_offsets(&self, group: &str) -> bool {
        self.pending_txn
            .values()
            .flatten()
            .any(|p| p.group == group)
    }
}
