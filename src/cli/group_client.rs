//! The consumer-group side of the quickstart tools: finding the coordinator, joining a group as a
//! classic `consumer` member (range assignment when leader), heartbeats, committed offsets, and
//! the group administration requests `kafka-consumer-groups` sends.

use super::client::{self, Connection, Tp, topic_name};
use anyhow::{Context, Result, anyhow, bail};
use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::messages::consumer_protocol_assignment::TopicPartition as AssignedPartitions;
use kafka_protocol::messages::join_group_request::JoinGroupRequestProtocol;
use kafka_protocol::messages::leave_group_request::MemberIdentity;
use kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafka_protocol::messages::offset_fetch_request::{
    OffsetFetchRequestGroup, OffsetFetchRequestTopics,
};
use kafka_protocol::messages::sync_group_request::SyncGroupRequestAssignment;
use kafka_protocol::messages::{
    ConsumerProtocolAssignment, ConsumerProtocolSubscription, FindCoordinatorRequest, GroupId,
    HeartbeatRequest, JoinGroupRequest, LeaveGroupRequest, OffsetCommitRequest, OffsetFetchRequest,
    SyncGroupRequest,
};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
use std::collections::BTreeMap;

const FIND_COORDINATOR_VERSION: i16 = 4;
const JOIN_GROUP_VERSION: i16 = 5;
const SYNC_GROUP_VERSION: i16 = 5;
const HEARTBEAT_VERSION: i16 = 4;
const LEAVE_GROUP_VERSION: i16 = 4;
const OFFSET_COMMIT_VERSION: i16 = 8;
const OFFSET_FETCH_VERSION: i16 = 8;
/// Error codes the member reacts to.
const MEMBER_ID_REQUIRED: i16 = 79;
const REBALANCE_IN_PROGRESS: i16 = 27;
const ILLEGAL_GENERATION: i16 = 22;
const UNKNOWN_MEMBER_ID: i16 = 25;
/// The assignor this member offers (Kafka's `RangeAssignor`).
const RANGE: &str = "range";

fn group_id(group: &str) -> GroupId {
    GroupId(StrBytes::from_string(group.to_string()))
}

/// A connection to `group`'s coordinator.
pub async fn coordinator(bootstrap: &mut Connection, group: &str) -> Result<Connection> {
    let request = FindCoordinatorRequest::default()
        .with_key_type(0)
        .with_coordinator_keys(vec![StrBytes::from_string(group.to_string())]);
    let mut attempt = 0;
    loop {
        let response = bootstrap.send(&request, FIND_COORDINATOR_VERSION).await?;
        let c = response
            .coordinators
            .first()
            .ok_or_else(|| anyhow!("no coordinator for group {group}"))?;
        if c.error_code != 0 && client::retry_after(c.error_code, &mut attempt).await {
            continue;
        }
        client::check(c.error_code, c.error_message.as_ref())
            .with_context(|| format!("FindCoordinator for group {group}"))?;
        return Connection::connect(&format!("{}:{}", c.host, c.port)).await;
    }
}

/// Encodes a consumer-protocol message with its version prefix.
fn encode_versioned(message: &impl Encodable, version: i16) -> Result<Bytes> {
    let mut buf = BytesMut::new();
    buf.put_i16(version);
    message.encode(&mut buf, version)?;
    Ok(buf.freeze())
}

/// Decodes a consumer-protocol message (version prefix first; newer versions read as the newest
/// this codec knows, as Kafka's consumers do).
fn decode_versioned<M: Decodable>(bytes: &Bytes, newest: i16) -> Result<M> {
    let mut buf = bytes.clone();
    if buf.remaining() < 2 {
        bail!("consumer protocol data too short");
    }
    let version = buf.get_i16().clamp(0, newest);
    M::decode(&mut buf, version)
}

/// The partitions of an assignment.
pub fn assigned_partitions(assignment: &Bytes) -> Vec<Tp> {
    if assignment.is_empty() {
        return Vec::new();
    }
    decode_versioned::<ConsumerProtocolAssignment>(assignment, 3)
        .map(|a| {
            a.assigned_partitions
                .iter()
                .flat_map(|t| t.partitions.iter().map(|&p| (t.topic.to_string(), p)))
                .collect()
        })
        .unwrap_or_default()
}

/// Kafka's RangeAssignor: per topic, members sorted by id each get a contiguous range, the first
/// `partitions % members` one extra.
fn range_assign(
    members: &[(String, Vec<String>)],
    partitions: &BTreeMap<String, Vec<i32>>,
) -> BTreeMap<String, Vec<Tp>> {
    let mut out: BTreeMap<String, Vec<Tp>> = members
        .iter()
        .map(|(m, _)| (m.clone(), Vec::new()))
        .collect();
    for (topic, parts) in partitions {
        let mut subscribed: Vec<&String> = members
            .iter()
            .filter(|(_, topics)| topics.contains(topic))
            .map(|(m, _)| m)
            .collect();
        subscribed.sort();
        if subscribed.is_empty() {
            continue;
        }
        let per = parts.len() / subscribed.len();
        let extra = parts.len() % subscribed.len();
        let mut next = 0;
        for (i, member) in subscribed.iter().enumerate() {
            let take = per + usize::from(i < extra);
            if let Some(list) = out.get_mut(*member) {
                list.extend(parts[next..next + take].iter().map(|&p| (topic.clone(), p)));
            }
            next += take;
        }
    }
    out
}

/// A classic-protocol consumer group member.
pub struct Member {
    /// The coordinator connection.
    coordinator: Connection,
    /// The group.
    group: String,
    /// The member id the coordinator gave.
    member_id: String,
    /// The generation joined.
    generation: i32,
    /// The subscribed topics.
    topics: Vec<String>,
}

impl Member {
    /// A member of `group` about to subscribe to `topics`.
    pub fn new(coordinator: Connection, group: &str, topics: Vec<String>) -> Member {
        Member {
            coordinator,
            group: group.to_string(),
            member_id: String::new(),
            generation: -1,
            topics,
        }
    }

    /// Joins (or rejoins) the group and returns this member's partitions. `bootstrap` answers
    /// the metadata the leader assigns from.
    pub async fn join(&mut self, bootstrap: &mut Connection) -> Result<Vec<Tp>> {
        let subscription = ConsumerProtocolSubscription::default().with_topics(
            self.topics
                .iter()
                .map(|t| StrBytes::from_string(t.clone()))
                .collect(),
        );
        let metadata = encode_versioned(&subscription, 0)?;
        loop {
            let request = JoinGroupRequest::default()
                .with_group_id(group_id(&self.group))
                .with_session_timeout_ms(45_000)
                .with_rebalance_timeout_ms(300_000)
                .with_member_id(StrBytes::from_string(self.member_id.clone()))
                .with_protocol_type(StrBytes::from_static_str("consumer"))
                .with_protocols(vec![
                    JoinGroupRequestProtocol::default()
                        .with_name(StrBytes::from_static_str(RANGE))
                        .with_metadata(metadata.clone()),
                ]);
            let joined = self.coordinator.send(&request, JOIN_GROUP_VERSION).await?;
            if joined.error_code == MEMBER_ID_REQUIRED {
                self.member_id = joined.member_id.to_string();
                continue;
            }
            if joined.error_code == UNKNOWN_MEMBER_ID {
                self.member_id.clear();
                continue;
            }
            let mut attempt = 0;
            if joined.error_code != 0 && client::retry_after(joined.error_code, &mut attempt).await
            {
                continue;
            }
            client::check(joined.error_code, None).context("JoinGroup")?;
            self.member_id = joined.member_id.to_string();
            self.generation = joined.generation_id;
            let assignments = if joined.leader == joined.member_id {
                self.leader_assignments(bootstrap, &joined.members).await?
            } else {
                Vec::new()
            };
            let request = SyncGroupRequest::default()
                .with_group_id(group_id(&self.group))
                .with_generation_id(self.generation)
                .with_member_id(StrBytes::from_string(self.member_id.clone()))
                .with_protocol_type(Some(StrBytes::from_static_str("consumer")))
                .with_protocol_name(Some(StrBytes::from_static_str(RANGE)))
                .with_assignments(assignments);
            let synced = self.coordinator.send(&request, SYNC_GROUP_VERSION).await?;
            if synced.error_code == REBALANCE_IN_PROGRESS {
                continue;
            }
            client::check(synced.error_code, None).context("SyncGroup")?;
            return Ok(assigned_partitions(&synced.assignment));
        }
    }

    async fn leader_assignments(
        &mut self,
        bootstrap: &mut Connection,
        members: &[kafka_protocol::messages::join_group_response::JoinGroupResponseMember],
    ) -> Result<Vec<SyncGroupRequestAssignment>> {
        let subscriptions: Vec<(String, Vec<String>)> = members
            .iter()
            .map(|m| {
                let topics = decode_versioned::<ConsumerProtocolSubscription>(&m.metadata, 3)
                    .map(|s| s.topics.iter().map(|t| t.to_string()).collect())
                    .unwrap_or_default();
                (m.member_id.to_string(), topics)
            })
            .collect();
        let mut partitions = BTreeMap::new();
        for topic in subscriptions.iter().flat_map(|(_, t)| t.iter()) {
            if !partitions.contains_key(topic) {
                partitions.insert(
                    topic.clone(),
                    client::partitions_of(bootstrap, topic).await?,
                );
            }
        }
        let mut out = Vec::new();
        for (member, tps) in range_assign(&subscriptions, &partitions) {
            let mut by_topic: BTreeMap<String, Vec<i32>> = BTreeMap::new();
            for (t, p) in tps {
                by_topic.entry(t).or_default().push(p);
            }
            let assignment = ConsumerProtocolAssignment::default().with_assigned_partitions(
                by_topic
                    .into_iter()
                    .map(|(t, ps)| {
                        AssignedPartitions::default()
                            .with_topic(topic_name(&t))
                            .with_partitions(ps)
                    })
                    .collect(),
            );
            out.push(
                SyncGroupRequestAssignment::default()
                    .with_member_id(StrBytes::from_string(member))
                    .with_assignment(encode_versioned(&assignment, 0)?),
            );
        }
        Ok(out)
    }

    /// One heartbeat; true when the group is rebalancing (or forgot this member) and the member
    /// must join again.
    pub async fn heartbeat(&mut self) -> Result<bool> {
        let request = HeartbeatRequest::default()
            .with_group_id(group_id(&self.group))
            .with_generation_id(self.generation)
            .with_member_id(StrBytes::from_string(self.member_id.clone()));
        let response = self.coordinator.send(&request, HEARTBEAT_VERSION).await?;
        match response.error_code {
            0 => Ok(false),
            REBALANCE_IN_PROGRESS => Ok(true),
            ILLEGAL_GENERATION | UNKNOWN_MEMBER_ID => {
                self.member_id.clear();
                Ok(true)
            }
            code => {
                client::check(code, None).context("Heartbeat")?;
                Ok(false)
            }
        }
    }

    /// Commits `positions` as this member.
    pub async fn commit(&mut self, positions: &BTreeMap<Tp, i64>) -> Result<()> {
        commit(
            &mut self.coordinator,
            &self.group,
            self.generation,
            &self.member_id,
            positions,
        )
        .await
    }

    /// The committed offsets of `partitions`.
    pub async fn committed(&mut self, partitions: &[Tp]) -> Result<BTreeMap<Tp, i64>> {
        committed(&mut self.coordinator, &self.group, Some(partitions)).await
    }

    /// Leaves the group (best effort: the session would expire anyway).
    pub async fn leave(&mut self) {
        let request = LeaveGroupRequest::default()
            .with_group_id(group_id(&self.group))
            .with_members(vec![
                MemberIdentity::default()
                    .with_member_id(StrBytes::from_string(self.member_id.clone())),
            ]);
        let _ = self.coordinator.send(&request, LEAVE_GROUP_VERSION).await;
    }
}

/// Commits `positions` for `group` (generation -1 and an empty member id: an admin commit to an
/// empty group, as `kafka-consumer-groups --reset-offsets` does).
pub async fn commit(
    coordinator: &mut Connection,
    group: &str,
    generation: i32,
    member_id: &str,
    positions: &BTreeMap<Tp, i64>,
) -> Result<()> {
    let mut by_topic: BTreeMap<&str, Vec<OffsetCommitRequestPartition>> = BTreeMap::new();
    for ((t, p), offset) in positions {
        by_topic.entry(t).or_default().push(
            OffsetCommitRequestPartition::default()
                .with_partition_index(*p)
                .with_committed_offset(*offset)
                .with_committed_leader_epoch(-1)
                .with_committed_metadata(Some(StrBytes::default())),
        );
    }
    let request = OffsetCommitRequest::default()
        .with_group_id(group_id(group))
        .with_generation_id_or_member_epoch(generation)
        .with_member_id(StrBytes::from_string(member_id.to_string()))
        .with_topics(
            by_topic
                .into_iter()
                .map(|(t, ps)| {
                    OffsetCommitRequestTopic::default()
                        .with_name(topic_name(t))
                        .with_partitions(ps)
                })
                .collect(),
        );
    let response = coordinator.send(&request, OFFSET_COMMIT_VERSION).await?;
    for t in &response.topics {
        for p in &t.partitions {
            client::check(p.error_code, None)
                .with_context(|| format!("OffsetCommit {}-{}", t.name.0, p.partition_index))?;
        }
    }
    Ok(())
}

/// The committed offsets of `group`: of `partitions`, or of every partition it has committed.
/// Partitions without a committed offset are left out.
pub async fn committed(
    coordinator: &mut Connection,
    group: &str,
    partitions: Option<&[Tp]>,
) -> Result<BTreeMap<Tp, i64>> {
    let topics = partitions.map(|tps| {
        let mut by_topic: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
        for (t, p) in tps {
            by_topic.entry(t).or_default().push(*p);
        }
        by_topic
            .into_iter()
            .map(|(t, ps)| {
                OffsetFetchRequestTopics::default()
                    .with_name(topic_name(t))
                    .with_partition_indexes(ps)
            })
            .collect()
    });
    let request = OffsetFetchRequest::default().with_groups(vec![
        OffsetFetchRequestGroup::default()
            .with_group_id(group_id(group))
            .with_topics(topics),
    ]);
    let mut attempt = 0;
    loop {
        let response = coordinator.send(&request, OFFSET_FETCH_VERSION).await?;
        let g = response
            .groups
            .first()
            .ok_or_else(|| anyhow!("no offsets for group {group}"))?;
        if g.error_code != 0 && client::retry_after(g.error_code, &mut attempt).await {
            continue;
        }
        client::check(g.error_code, None).context("OffsetFetch")?;
        let mut out = BTreeMap::new();
        for t in &g.topics {
            for p in &t.partitions {
                if p.error_code == 0 && p.committed_offset >= 0 {
                    out.insert((t.name.to_string(), p.partition_index), p.committed_offset);
                }
            }
        }
        return Ok(out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn range_assignment_follows_kafkas_range_assignor() {
        let members = vec![
            ("b".to_string(), vec!["t".to_string()]),
            ("a".to_string(), vec!["t".to_string()]),
        ];
        let partitions = BTreeMap::from([("t".to_string(), vec![0, 1, 2])]);
        let got = range_assign(&members, &partitions);
        assert_eq!(got["a"], [("t".to_string(), 0), ("t".to_string(), 1)]);
        assert_eq!(got["b"], [("t".to_string(), 2)]);
    }

    #[test]
    fn assignments_round_trip_through_the_consumer_protocol() {
        let assignment = ConsumerProtocolAssignment::default().with_assigned_partitions(vec![
            AssignedPartitions::default()
                .with_topic(topic_name("t"))
                .with_partitions(vec![0, 2]),
        ]);
        let bytes = encode_versioned(&assignment, 0).expect("encodes");
        assert_eq!(
            assigned_partitions(&bytes),
            [("t".to_string(), 0), ("t".to_string(), 2)]
        );
        assert!(assigned_partitions(&Bytes::from_static(b"\x00")).is_empty());
    }
}
