//! Classic consumer groups (JoinGroup/SyncGroup/Heartbeat/LeaveGroup), with Kafka's state
//! machine: Empty → PreparingRebalance → CompletingRebalance → Stable, and Dead once deleted.
//!
//! The broker never looks inside member metadata or assignments: the elected leader gets every
//! member's metadata for the chosen protocol, computes the assignment client-side and hands it
//! back in SyncGroup. That is what makes eager and cooperative-sticky rebalancing both work.

mod join;
mod leave;
mod sync;

pub(crate) use join::on_join_timer;
pub(crate) use leave::{on_heartbeat_timer, on_sync_timer};

use super::records::{GroupValue, MemberValue};
use bytes::Bytes;
use kafka_protocol::ResponseError;
use kafka_protocol::messages::consumer_protocol_subscription::ConsumerProtocolSubscription;
use kafka_protocol::messages::join_group_response::JoinGroupResponseMember;
use kafka_protocol::messages::{JoinGroupResponse, SyncGroupResponse};
use kafka_protocol::protocol::{Decodable, StrBytes};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use tokio::sync::oneshot;

/// The protocol type of Kafka's consumers; only its subscriptions are ever decoded.
pub const CONSUMER_PROTOCOL_TYPE: &str = "consumer";

/// States of a classic group, named as Kafka names them in ListGroups and DescribeGroups.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClassicState {
    Empty,
    PreparingRebalance,
    CompletingRebalance,
    Stable,
    Dead,
}

impl ClassicState {
    pub fn name(self) -> &'static str {
        match self {
            ClassicState::Empty => "Empty",
            ClassicState::PreparingRebalance => "PreparingRebalance",
            ClassicState::CompletingRebalance => "CompletingRebalance",
            ClassicState::Stable => "Stable",
            ClassicState::Dead => "Dead",
        }
    }
}

/// One member of a classic group.
#[derive(Debug)]
pub struct ClassicMember {
    pub id: String,
    pub instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub rebalance_timeout_ms: i32,
    pub session_timeout_ms: i32,
    pub protocol_type: String,
    /// Supported protocols in preference order, each with its opaque metadata.
    pub protocols: Vec<(String, Bytes)>,
    /// The assignment from the last completed SyncGroup.
    pub assignment: Bytes,
    /// The parked JoinGroup of this member, answered when the join phase completes.
    pub join_waiter: Option<oneshot::Sender<JoinGroupResponse>>,
    /// The parked SyncGroup of this member, answered when the leader's assignment is stored.
    pub sync_waiter: Option<oneshot::Sender<SyncGroupResponse>>,
    /// Joined but never completed a join phase: such a member expires on the
    /// new-member join timeout even while its JoinGroup is parked.
    pub is_new: bool,
}

impl ClassicMember {
    pub fn metadata_for(&self, protocol: &str) -> Bytes {
        self.protocols
            .iter()
            .find(|(name, _)| name == protocol)
            .map(|(_, m)| m.clone())
            .unwrap_or_default()
    }

    fn awaiting_join(&self) -> bool {
        self.join_waiter.is_some()
    }

    /// Members awaiting a rebalance step do not need to heartbeat (new ones excepted).
    pub fn has_satisfied_heartbeat(&self) -> bool {
        !self.is_new && (self.join_waiter.is_some() || self.sync_waiter.is_some())
    }

    /// Same protocols with the same metadata, in the same order.
    fn matches(&self, protocols: &[(String, Bytes)]) -> bool {
        self.protocols == protocols
    }

    /// Answers a parked JoinGroup, if any.
    pub fn complete_join(&mut self, response: JoinGroupResponse) {
        if let Some(tx) = self.join_waiter.take() {
            let _ = tx.send(response);
        }
    }

    /// Answers a parked SyncGroup, if any.
    pub fn complete_sync(&mut self, response: SyncGroupResponse) {
        if let Some(tx) = self.sync_waiter.take() {
            let _ = tx.send(response);
        }
    }
}

/// A classic group's membership and rebalance state. Offsets live beside it in
/// [`super::Group`], as Kafka keeps them apart from membership.
#[derive(Debug)]
pub struct ClassicGroup {
    pub id: String,
    pub state: ClassicState,
    pub previous_state: ClassicState,
    /// When the group entered its current state (ms since the epoch); offsets of an empty
    /// group expire relative to it.
    pub state_timestamp_ms: i64,
    pub protocol_type: Option<String>,
    pub protocol_name: Option<String>,
    pub generation: i32,
    pub leader: Option<String>,
    pub members: BTreeMap<String, ClassicMember>,
    /// `group.instance.id` → member id of the static members.
    pub static_members: HashMap<String, String>,
    /// Member ids handed out with MEMBER_ID_REQUIRED that have not joined yet.
    pub pending_members: BTreeSet<String>,
    /// Members that got their JoinGroup answer but have not sent SyncGroup yet.
    pub pending_sync: BTreeSet<String>,
    /// A member joined during the initial delay, so the delay is extended once more.
    pub new_member_added: bool,
    /// What is left of the rebalance timeout for further initial-delay extensions.
    pub initial_delay_remaining_ms: i64,
}

impl ClassicGroup {
    pub fn new(id: &str, now_ms: i64) -> ClassicGroup {
        ClassicGroup {
            id: id.to_string(),
            state: ClassicState::Empty,
            previous_state: ClassicState::Empty,
            state_timestamp_ms: now_ms,
            protocol_type: None,
            protocol_name: None,
            generation: 0,
            leader: None,
            members: BTreeMap::new(),
            static_members: HashMap::new(),
            pending_members: BTreeSet::new(),
            pending_sync: BTreeSet::new(),
            new_member_added: false,
            initial_delay_remaining_ms: 0,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    pub fn transition(&mut self, to: ClassicState, now_ms: i64) {
        self.previous_state = self.state;
        self.state = to;
        self.state_timestamp_ms = now_ms;
    }

    /// Whether a rebalance may start from the current state.
    fn can_rebalance(&self) -> bool {
        matches!(
            self.state,
            ClassicState::Stable | ClassicState::CompletingRebalance | ClassicState::Empty
        )
    }

    /// The longest rebalance timeout of the members: how long a join phase may last.
    pub fn rebalance_timeout_ms(&self) -> i32 {
        self.members
            .values()
            .map(|m| m.rebalance_timeout_ms)
            .max()
            .unwrap_or(0)
    }

    fn awaiting_join_count(&self) -> usize {
        self.members.values().filter(|m| m.awaiting_join()).count()
    }

    fn all_members_joined(&self) -> bool {
        self.pending_members.is_empty() && self.members.values().all(|m| m.awaiting_join())
    }

    /// Checks that `member_id` (and `instance_id`, for a static member) names a current member:
    /// UNKNOWN_MEMBER_ID, or FENCED_INSTANCE_ID when another member holds the instance id.
    pub fn validate_member(
        &self,
        member_id: &str,
        instance_id: Option<&str>,
    ) -> Result<(), ResponseError> {
        if let Some(instance) = instance_id {
            match self.static_members.get(instance) {
                None => return Err(ResponseError::UnknownMemberId),
                Some(existing) if existing != member_id => {
                    tracing::info!(
                        "Request memberId={member_id} for static member with groupInstanceId={instance} is fenced by existing memberId={existing}"
                    );
                    return Err(ResponseError::FencedInstanceId);
                }
                Some(_) => {}
            }
        }
        if !self.members.contains_key(member_id) {
            return Err(ResponseError::UnknownMemberId);
        }
        Ok(())
    }

    /// Protocols every member supports (all of them while the group is empty).
    fn candidate_protocols(&self) -> BTreeSet<String> {
        let mut counts: HashMap<&str, usize> = HashMap::new();
        for m in self.members.values() {
            for (name, _) in &m.protocols {
                *counts.entry(name.as_str()).or_default() += 1;
            }
        }
        counts
            .into_iter()
            .filter(|(_, n)| *n == self.members.len())
            .map(|(name, _)| name.to_string())
            .collect()
    }

    /// Whether a member with these protocols may join (INCONSISTENT_GROUP_PROTOCOL if not).
    fn supports_protocols(&self, protocol_type: &str, protocols: &[(String, Bytes)]) -> bool {
        if self.is_empty() {
            return !protocol_type.is_empty() && !protocols.is_empty();
        }
        let candidates = self.candidate_protocols();
        self.protocol_type.as_deref() == Some(protocol_type)
            && protocols.iter().any(|(name, _)| candidates.contains(name))
    }

    /// Each member votes for its most preferred candidate protocol; the most votes wins
    /// (ties go to the protocol the most senior member prefers).
    fn select_protocol(&self) -> Option<String> {
        let candidates = self.candidate_protocols();
        let mut votes: Vec<(String, usize)> = Vec::new();
        for m in self.members.values() {
            if let Some((name, _)) = m.protocols.iter().find(|(n, _)| candidates.contains(n)) {
                match votes.iter_mut().find(|(n, _)| n == name) {
                    Some((_, count)) => *count += 1,
                    None => votes.push((name.clone(), 1)),
                }
            }
        }
        let best = votes.iter().map(|(_, c)| *c).max()?;
        votes
            .into_iter()
            .find(|(_, c)| *c == best)
            .map(|(name, _)| name)
    }

    /// The members list the leader gets in its JoinGroup response.
    fn leader_members_view(&self) -> Vec<JoinGroupResponseMember> {
        let protocol = self.protocol_name.clone().unwrap_or_default();
        self.members
            .values()
            .map(|m| {
                JoinGroupResponseMember::default()
                    .with_member_id(StrBytes::from_string(m.id.clone()))
                    .with_group_instance_id(m.instance_id.clone().map(StrBytes::from_string))
                    .with_metadata(m.metadata_for(&protocol))
            })
            .collect()
    }

    /// The JoinGroup answer for `member_id` in the current generation.
    fn join_response(&self, member_id: &str, with_members: bool) -> JoinGroupResponse {
        JoinGroupResponse::default()
            .with_member_id(StrBytes::from_string(member_id.to_string()))
            .with_generation_id(self.generation)
            .with_protocol_type(self.protocol_type.clone().map(StrBytes::from_string))
            .with_protocol_name(self.protocol_name.clone().map(StrBytes::from_string))
            .with_leader(StrBytes::from_string(
                self.leader.clone().unwrap_or_default(),
            ))
            .with_members(if with_members {
                self.leader_members_view()
            } else {
                Vec::new()
            })
    }

    fn is_leader(&self, member_id: &str) -> bool {
        self.leader.as_deref() == Some(member_id)
    }

    /// Adds a member; the first member of a leaderless group becomes its leader.
    fn add_member(&mut self, member: ClassicMember) {
        if self.is_empty() {
            self.protocol_type = Some(member.protocol_type.clone());
        }
        if self.leader.is_none() {
            self.leader = Some(member.id.clone());
        }
        if let Some(instance) = &member.instance_id {
            self.static_members
                .insert(instance.clone(), member.id.clone());
        }
        self.pending_members.remove(&member.id);
        self.members.insert(member.id.clone(), member);
    }

    /// Removes a member (answering its parked requests with UNKNOWN_MEMBER_ID) and elects
    /// another leader if it led.
    pub fn remove_member(&mut self, member_id: &str) -> Option<ClassicMember> {
        let mut member = self.members.remove(member_id)?;
        member.complete_join(
            JoinGroupResponse::default()
                .with_error_code(ResponseError::UnknownMemberId.code())
                .with_generation_id(-1),
        );
        member.complete_sync(
            SyncGroupResponse::default().with_error_code(ResponseError::UnknownMemberId.code()),
        );
        if let Some(instance) = &member.instance_id
            && self.static_members.get(instance).map(String::as_str) == Some(member_id)
        {
            self.static_members.remove(instance);
        }
        self.pending_sync.remove(member_id);
        if self.is_leader(member_id) {
            self.leader = self.members.keys().next().cloned();
        }
        // The protocol type stays when the group empties (ListGroups still shows it, and
        // its offsets expire relative to the moment it became empty).
        Some(member)
    }

    /// The subscribed topics of a `consumer`-protocol group, decoded from the members'
    /// metadata; None when they cannot be known (another protocol type, or undecodable).
    pub fn subscribed_topics(&self) -> Option<BTreeSet<String>> {
        if self.protocol_type.as_deref() != Some(CONSUMER_PROTOCOL_TYPE) {
            return None;
        }
        let protocol = self.protocol_name.as_deref()?;
        let mut topics = BTreeSet::new();
        for m in self.members.values() {
            let mut metadata = m.metadata_for(protocol);
            if metadata.len() < 2 {
                return None;
            }
            let version = i16::from_be_bytes([metadata[0], metadata[1]]);
            let mut body = metadata.split_off(2);
            let sub = ConsumerProtocolSubscription::decode(&mut body, version.clamp(0, 3)).ok()?;
            topics.extend(sub.topics.iter().map(|t| t.to_string()));
        }
        Some(topics)
    }

    /// The stored form of this group (`GroupMetadataValue`).
    pub fn to_record(&self) -> GroupValue {
        let protocol = self.protocol_name.clone().unwrap_or_default();
        GroupValue {
            protocol_type: self.protocol_type.clone().unwrap_or_default(),
            generation: self.generation,
            protocol: self.protocol_name.clone(),
            leader: self.leader.clone(),
            current_state_timestamp: self.state_timestamp_ms,
            members: self
                .members
                .values()
                .map(|m| MemberValue {
                    member_id: m.id.clone(),
                    group_instance_id: m.instance_id.clone(),
                    client_id: m.client_id.clone(),
                    client_host: m.client_host.clone(),
                    rebalance_timeout_ms: m.rebalance_timeout_ms,
                    session_timeout_ms: m.session_timeout_ms,
                    subscription: m.metadata_for(&protocol),
                    assignment: m.assignment.clone(),
                })
                .collect(),
        }
    }

    /// Rebuilds a group from its stored form: Empty without members, Stable otherwise (the
    /// loaded members keep their assignments and must heartbeat within their session).
    pub fn from_record(id: &str, value: GroupValue) -> ClassicGroup {
        let mut group = ClassicGroup::new(id, value.current_state_timestamp);
        group.generation = value.generation;
        group.protocol_type = Some(value.protocol_type.clone()).filter(|p| !p.is_empty());
        group.protocol_name = value.protocol.clone();
        group.leader = value.leader.clone();
        let protocol = value.protocol.unwrap_or_default();
        for m in value.members {
            if let Some(instance) = &m.group_instance_id {
                group
                    .static_members
                    .insert(instance.clone(), m.member_id.clone());
            }
            group.members.insert(
                m.member_id.clone(),
                ClassicMember {
                    id: m.member_id,
                    instance_id: m.group_instance_id,
                    client_id: m.client_id,
                    client_host: m.client_host,
                    rebalance_timeout_ms: m.rebalance_timeout_ms,
                    session_timeout_ms: m.session_timeout_ms,
                    protocol_type: value.protocol_type.clone(),
                    protocols: vec![(protocol.clone(), m.subscription)],
                    assignment: m.assignment,
                    join_waiter: None,
                    sync_waiter: None,
                    is_new: false,
                },
            );
        }
        if !group.is_empty() {
            group.state = ClassicState::Stable;
        }
        group
    }
}

#[cfg(test)]
mod tests;
