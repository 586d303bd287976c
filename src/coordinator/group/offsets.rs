//! Committed offsets: OffsetCommit, OffsetFetch, OffsetDelete, DeleteGroups and the periodic
//! expiry of `offsets.retention.minutes`, all on one shard.

use super::classic::ClassicState;
use super::records::{self, OffsetValue};
use super::shard::{Group, GroupKind, KeyValue, Shard};
use kafka_protocol::ResponseError;
use kafka_protocol::messages::OffsetCommitRequest;
use std::collections::BTreeMap;
use tracing::{debug, info};

/// One committed offset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommittedOffset {
    /// The next offset the group will consume.
    pub offset: i64,
    /// The leader epoch of the last consumed record (-1 when unknown), for KIP-320 fencing.
    pub leader_epoch: i32,
    /// The client's metadata string, returned as given.
    pub metadata: String,
    /// When the commit was made (broker clock); offsets expire relative to it.
    pub commit_timestamp_ms: i64,
    /// Set by OffsetCommit v2-v4 with an explicit retention time.
    pub expire_timestamp_ms: Option<i64>,
}

impl From<OffsetValue> for CommittedOffset {
    fn from(v: OffsetValue) -> Self {
        CommittedOffset {
            offset: v.offset,
            leader_epoch: v.leader_epoch,
            metadata: v.metadata,
            commit_timestamp_ms: v.commit_timestamp,
            expire_timestamp_ms: v.expire_timestamp,
        }
    }
}

impl CommittedOffset {
    /// The stored form.
    pub(super) fn to_value(&self) -> OffsetValue {
        OffsetValue {
            offset: self.offset,
            leader_epoch: self.leader_epoch,
            metadata: self.metadata.clone(),
            commit_timestamp: self.commit_timestamp_ms,
            expire_timestamp: self.expire_timestamp_ms,
        }
    }
}

/// A group's committed offsets by topic and partition.
#[derive(Debug, Default)]
pub struct Offsets {
    by_topic: BTreeMap<String, BTreeMap<i32, CommittedOffset>>,
}

impl Offsets {
    pub fn get(&self, topic: &str, partition: i32) -> Option<&CommittedOffset> {
        self.by_topic.get(topic)?.get(&partition)
    }

    pub fn put(&mut self, topic: &str, partition: i32, offset: CommittedOffset) {
        self.by_topic
            .entry(topic.to_string())
            .or_default()
            .insert(partition, offset);
    }

    pub fn remove(&mut self, topic: &str, partition: i32) -> Option<CommittedOffset> {
        let partitions = self.by_topic.get_mut(topic)?;
        let removed = partitions.remove(&partition);
        if partitions.is_empty() {
            self.by_topic.remove(topic);
        }
        removed
    }

    pub fn is_empty(&self) -> bool {
        self.by_topic.is_empty()
    }

    /// Every offset as (topic, partition, offset), sorted.
    pub fn iter(&self) -> impl Iterator<Item = (&str, i32, &CommittedOffset)> {
        self.by_topic
            .iter()
            .flat_map(|(t, ps)| ps.iter().map(move |(p, o)| (t.as_str(), *p, o)))
    }
}

/// Offsets asked for in OffsetFetch: None means every committed offset of the group.
pub type FetchTopics = Option<Vec<(String, Vec<i32>)>>;
/// OffsetFetch's answer: per topic, per partition, the committed offset if there is one.
pub type FetchedOffsets = Vec<(String, Vec<(i32, Option<CommittedOffset>)>)>;
/// Per topic, per partition error code (0 = deleted or nothing to delete).
pub type PartitionCodes = Vec<(String, Vec<(i32, i16)>)>;

/// What an offset's retention counts from.
enum ExpiryBase {
    /// Its commit (simple groups, and groups that still have members).
    CommitTime,
    /// When the group became empty.
    Since(i64),
}

impl ExpiryBase {
    fn of(&self, offset: &CommittedOffset) -> i64 {
        match self {
            ExpiryBase::CommitTime => offset.commit_timestamp_ms,
            ExpiryBase::Since(t) => *t,
        }
    }
}

/// Who commits: the group member fields of OffsetCommit (or OffsetFetch v9).
pub struct Committer<'a> {
    pub member_id: &'a str,
    pub instance_id: Option<&'a str>,
    pub generation_or_epoch: i32,
    pub api_version: i16,
}

/// Checks that a commit may proceed for this group, as Kafka's `validateOffsetCommit`.
fn validate_commit(group: &Group, who: &Committer<'_>) -> Result<(), ResponseError> {
    match &group.kind {
        GroupKind::Classic(g) => {
            if g.state == ClassicState::Dead {
                return Err(ResponseError::CoordinatorNotAvailable);
            }
            if who.generation_or_epoch < 0 && g.state == ClassicState::Empty {
                return Ok(());
            }
            if who.generation_or_epoch >= 0
                || !who.member_id.is_empty()
                || who.instance_id.is_some()
            {
                g.validate_member(who.member_id, who.instance_id)?;
                if who.generation_or_epoch != g.generation {
                    return Err(ResponseError::IllegalGeneration);
                }
            } else if g.state != ClassicState::Empty {
                return Err(ResponseError::UnknownMemberId);
            }
            if g.state == ClassicState::CompletingRebalance {
                return Err(ResponseError::RebalanceInProgress);
            }
            Ok(())
        }
        GroupKind::Consumer(g) => g.validate_offset_commit(who),
    }
}

impl Shard {
    /// OffsetCommit. `partition_exists` says whether a topic partition exists (commits to
    /// unknown ones get UNKNOWN_TOPIC_OR_PARTITION). Returns per-partition error codes.
    pub fn commit_offsets(
        &mut self,
        version: i16,
        req: &OffsetCommitRequest,
        partition_exists: &dyn Fn(&str, i32) -> bool,
    ) -> PartitionCodes {
        let all = |code: ResponseError| -> PartitionCodes {
            req.topics
                .iter()
                .map(|t| {
                    let parts = t
                        .partitions
                        .iter()
                        .map(|p| (p.partition_index, code.code()))
                        .collect();
                    (t.name.to_string(), parts)
                })
                .collect()
        };
        let group_id = req.group_id.as_str();
        if group_id.is_empty() {
            return all(ResponseError::InvalidGroupId);
        }
        let (groups, ctx) = self.split();
        let created = !groups.contains_key(group_id);
        if created {
            if req.generation_id_or_member_epoch >= 0 {
                return all(if version >= 9 {
                    ResponseError::GroupIdNotFound
                } else {
                    ResponseError::IllegalGeneration
                });
            }
            groups.insert(
                group_id.to_string(),
                Group::new_classic(group_id, ctx.now_ms),
            );
        }
        let Some(group) = groups.get_mut(group_id) else {
            return all(ResponseError::UnknownServerError);
        };
        let who = Committer {
            member_id: req.member_id.as_str(),
            instance_id: req.group_instance_id.as_ref().map(|s| s.as_str()),
            generation_or_epoch: req.generation_id_or_member_epoch,
            api_version: version,
        };
        if let Err(e) = validate_commit(group, &who) {
            if created {
                groups.remove(group_id);
            }
            return all(e);
        }
        let expire = (2..=4)
            .contains(&version)
            .then_some(req.retention_time_ms)
            .filter(|r| *r != -1)
            .map(|r| ctx.now_ms.saturating_add(r));
        let mut codes: PartitionCodes = Vec::with_capacity(req.topics.len());
        let mut records: Vec<KeyValue> = Vec::new();
        let mut accepted = Vec::new();
        for t in &req.topics {
            let topic = t.name.as_str();
            let mut parts = Vec::with_capacity(t.partitions.len());
            for p in &t.partitions {
                let metadata = p
                    .committed_metadata
                    .as_ref()
                    .map(|m| m.to_string())
                    .unwrap_or_default();
                let code = if !partition_exists(topic, p.partition_index) {
                    ResponseError::UnknownTopicOrPartition.code()
                } else if metadata.len() > ctx.config.offset_metadata_max_bytes {
                    ResponseError::OffsetMetadataTooLarge.code()
                } else {
                    let offset = CommittedOffset {
                        offset: p.committed_offset,
                        leader_epoch: p.committed_leader_epoch,
                        metadata,
                        commit_timestamp_ms: ctx.now_ms,
                        expire_timestamp_ms: expire,
                    };
                    records.push((
                        records::offset_key(group_id, topic, p.partition_index),
                        Some(offset.to_value().encode()),
                    ));
                    accepted.push((topic.to_string(), p.partition_index, offset));
                    0
                };
                parts.push((p.partition_index, code));
            }
            codes.push((topic.to_string(), parts));
        }
        if let Err(e) = ctx.append(records) {
            tracing::warn!("Failed to commit offsets of group {group_id}: {e}");
            let code = e.response_error().code();
            for (_, parts) in &mut codes {
                for (_, c) in parts.iter_mut().filter(|(_, c)| *c == 0) {
                    *c = code;
                }
            }
            accepted.clear();
        }
        let none_accepted = accepted.is_empty();
        for (topic, partition, offset) in accepted {
            group.offsets.put(&topic, partition, offset);
        }
        if created && none_accepted {
            groups.remove(group_id);
        } else if created {
            info!(
                "[GroupId {group_id}] Creating a simple consumer group via manual offset commit."
            );
        }
        codes
    }

    /// OffsetFetch for one group. An unknown group has no offsets (not an error).
    pub fn fetch_offsets(
        &self,
        group_id: &str,
        member: Option<(&str, i32)>,
        topics: FetchTopics,
    ) -> Result<FetchedOffsets, ResponseError> {
        let group = self.groups.get(group_id);
        if let (Some(GroupKind::Consumer(g)), Some((member_id, epoch))) =
            (group.map(|g| &g.kind), member)
        {
            g.validate_offset_fetch(member_id, epoch)?;
        }
        let Some(topics) = topics else {
            let mut all: FetchedOffsets = Vec::new();
            for (topic, partition, offset) in group.iter().flat_map(|g| g.offsets.iter()) {
                if all.last().is_none_or(|(t, _)| t != topic) {
                    all.push((topic.to_string(), Vec::new()));
                }
                if let Some((_, parts)) = all.last_mut() {
                    parts.push((partition, Some(offset.clone())));
                }
            }
            return Ok(all);
        };
        Ok(topics
            .into_iter()
            .map(|(topic, partitions)| {
                let parts = partitions
                    .into_iter()
                    .map(|p| (p, group.and_then(|g| g.offsets.get(&topic, p)).cloned()))
                    .collect();
                (topic, parts)
            })
            .collect())
    }

    /// OffsetDelete: removes offsets of topics the group no longer consumes.
    pub fn delete_offsets(
        &mut self,
        group_id: &str,
        topics: Vec<(String, Vec<i32>)>,
        partition_exists: &dyn Fn(&str, i32) -> bool,
    ) -> Result<PartitionCodes, ResponseError> {
        let (groups, ctx) = self.split();
        let group = groups
            .get_mut(group_id)
            .ok_or(ResponseError::GroupIdNotFound)?;
        if let GroupKind::Classic(g) = &group.kind {
            match g.state {
                ClassicState::Dead => return Err(ResponseError::GroupIdNotFound),
                ClassicState::Empty => {}
                _ if g.protocol_type.as_deref() != Some(super::classic::CONSUMER_PROTOCOL_TYPE) => {
                    return Err(ResponseError::NonEmptyGroup);
                }
                _ => {}
            }
        }
        let mut records: Vec<KeyValue> = Vec::new();
        let mut removed = Vec::new();
        let codes = topics
            .into_iter()
            .map(|(topic, partitions)| {
                let subscribed = group.is_subscribed_to(&topic);
                let parts = partitions
                    .into_iter()
                    .map(|p| {
                        let code = if !partition_exists(&topic, p) {
                            ResponseError::UnknownTopicOrPartition.code()
                        } else if subscribed {
                            ResponseError::GroupSubscribedToTopic.code()
                        } else {
                            if group.offsets.get(&topic, p).is_some() {
                                records.push((records::offset_key(group_id, &topic, p), None));
                                removed.push((topic.clone(), p));
                            }
                            0
                        };
                        (p, code)
                    })
                    .collect();
                (topic, parts)
            })
            .collect();
        ctx.append(records).map_err(|e| e.response_error())?;
        for (topic, p) in removed {
            group.offsets.remove(&topic, p);
        }
        Ok(codes)
    }

    /// Drops every group's committed offsets of a deleted topic (tombstoned), as Kafka does:
    /// a topic created again under the same name starts without them. Returns how many.
    pub fn forget_topic(&mut self, topic: &str) -> usize {
        let (groups, ctx) = self.split();
        let doomed: Vec<(String, i32)> = groups
            .values()
            .flat_map(|g| {
                g.offsets
                    .iter()
                    .filter(|(t, _, _)| *t == topic)
                    .map(|(_, p, _)| (g.id.clone(), p))
            })
            .collect();
        let tombstones = doomed
            .iter()
            .map(|(group, p)| (records::offset_key(group, topic, *p), None))
            .collect();
        if let Err(e) = ctx.append(tombstones) {
            tracing::warn!("Failed to remove the offsets of deleted topic {topic}: {e}");
            return 0;
        }
        for (group, p) in &doomed {
            if let Some(g) = groups.get_mut(group) {
                g.offsets.remove(topic, *p);
            }
        }
        doomed.len()
    }

    /// DeleteGroups for one group: only an empty group can go; its offsets and metadata are
    /// tombstoned.
    pub fn delete_group(&mut self, group_id: &str) -> Result<(), ResponseError> {
        let (groups, ctx) = self.split();
        let group = groups.get(group_id).ok_or(ResponseError::GroupIdNotFound)?;
        if let GroupKind::Classic(g) = &group.kind
            && g.state == ClassicState::Dead
        {
            return Err(ResponseError::GroupIdNotFound);
        }
        if !group.is_empty() {
            return Err(ResponseError::NonEmptyGroup);
        }
        let mut tombstones: Vec<KeyValue> = group
            .offsets
            .iter()
            .map(|(t, p, _)| (records::offset_key(group_id, t, p), None))
            .collect();
        tombstones.push((records::group_key(group_id), None));
        if let GroupKind::Consumer(_) = &group.kind {
            tombstones.push((records::consumer_group_key(group_id), None));
        }
        ctx.append(tombstones).map_err(|e| e.response_error())?;
        groups.remove(group_id);
        ctx.timers.cancel(&super::timers::TimerKey::Join {
            group: group_id.to_string(),
        });
        info!("Group {group_id} deleted by request");
        Ok(())
    }

    /// Expires offsets past `offsets.retention.minutes` as Kafka does (for an empty group,
    /// counted from when it became empty), then removes empty groups left without offsets.
    /// Returns the number of tombstones written.
    pub fn expire_offsets(&mut self) -> usize {
        let (groups, ctx) = self.split();
        let retention = ctx.config.offsets_retention_ms;
        let mut tombstones: Vec<KeyValue> = Vec::new();
        let mut expired: Vec<(String, String, i32)> = Vec::new();
        let mut dead_groups = Vec::new();
        for group in groups.values() {
            let base = match &group.kind {
                GroupKind::Classic(g) => match (&g.protocol_type, g.state) {
                    (None, _) => Some(ExpiryBase::CommitTime),
                    (Some(_), ClassicState::Empty) => Some(ExpiryBase::Since(g.state_timestamp_ms)),
                    (Some(_), ClassicState::Stable) if g.subscribed_topics().is_some() => {
                        Some(ExpiryBase::CommitTime)
                    }
                    _ => None,
                },
                GroupKind::Consumer(_) => Some(ExpiryBase::CommitTime),
            };
            let Some(base) = base else { continue };
            let mut all_expired = true;
            for (topic, partition, offset) in group.offsets.iter() {
                let is_expired = match offset.expire_timestamp_ms {
                    Some(at) => ctx.now_ms >= at,
                    None => ctx.now_ms.saturating_sub(base.of(offset)) >= retention,
                };
                if is_expired && !group.is_subscribed_to(topic) {
                    tombstones.push((records::offset_key(&group.id, topic, partition), None));
                    expired.push((group.id.clone(), topic.to_string(), partition));
                } else {
                    all_expired = false;
                }
            }
            if all_expired && group.is_empty() {
                tombstones.push((records::group_key(&group.id), None));
                if let GroupKind::Consumer(_) = &group.kind {
                    tombstones.push((records::consumer_group_key(&group.id), None));
                }
                dead_groups.push(group.id.clone());
            }
        }
        let count = tombstones.len();
        if let Err(e) = ctx.append(tombstones) {
            tracing::warn!("Failed to write expired offsets tombstones: {e}");
            return 0;
        }
        for (group, topic, partition) in expired {
            debug!("[GroupId {group}] Expired offset for partition={topic}-{partition}");
            if let Some(g) = groups.get_mut(&group) {
                g.offsets.remove(&topic, partition);
            }
        }
        for group in dead_groups {
            groups.remove(&group);
        }
        count
    }
}
