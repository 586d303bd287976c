//! KIP-848 consumer groups (`group.protocol=consumer`): the broker computes the target
//! assignment with a server-side assignor and walks each member towards it one heartbeat at a
//! time, never handing out a partition before its previous owner has revoked it.
//!
//! Epochs: the group epoch grows whenever membership or subscriptions change; the target
//! assignment is recomputed when it lags the group epoch; a member's epoch reaches the target
//! epoch once it may use its new assignment.

pub mod assignor;
mod heartbeat;
mod reconcile;

pub use assignor::Assignment;
pub(crate) use heartbeat::{on_rebalance_timer, on_session_timer};

use super::offsets::Committer;
use kafka_protocol::ResponseError;
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// Group states as ConsumerGroupDescribe and ListGroups spell them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConsumerState {
    Empty,
    Assigning,
    Reconciling,
    Stable,
}

impl ConsumerState {
    pub fn name(self) -> &'static str {
        match self {
            ConsumerState::Empty => "Empty",
            ConsumerState::Assigning => "Assigning",
            ConsumerState::Reconciling => "Reconciling",
            ConsumerState::Stable => "Stable",
        }
    }
}

/// Where a member is in reaching its target assignment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemberState {
    /// Owns exactly what it should at the target epoch.
    Stable,
    /// Must first give up partitions (it stays at its epoch until it has).
    UnrevokedPartitions,
    /// At the target epoch, waiting for partitions other members still own.
    UnreleasedPartitions,
}

/// One member of a consumer group.
#[derive(Debug, Clone)]
pub struct ConsumerMember {
    pub id: String,
    pub instance_id: Option<String>,
    pub rack_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub rebalance_timeout_ms: i32,
    pub subscribed_topics: BTreeSet<String>,
    pub server_assignor: Option<String>,
    pub epoch: i32,
    pub previous_epoch: i32,
    pub state: MemberState,
    /// Partitions the member may use now.
    pub assigned: Assignment,
    /// Partitions the member was asked to give up and still owns.
    pub pending_revocation: Assignment,
}

impl ConsumerMember {
    fn new(id: &str) -> ConsumerMember {
        ConsumerMember {
            id: id.to_string(),
            instance_id: None,
            rack_id: None,
            client_id: String::new(),
            client_host: String::new(),
            rebalance_timeout_ms: -1,
            subscribed_topics: BTreeSet::new(),
            server_assignor: None,
            epoch: 0,
            previous_epoch: 0,
            state: MemberState::Stable,
            assigned: Assignment::new(),
            pending_revocation: Assignment::new(),
        }
    }
}

/// A KIP-848 consumer group's membership.
#[derive(Debug, Default)]
pub struct ConsumerGroup {
    pub id: String,
    pub group_epoch: i32,
    pub assignment_epoch: i32,
    pub members: BTreeMap<String, ConsumerMember>,
    /// Target assignment by member id.
    pub target: HashMap<String, Assignment>,
    /// The subscribed topics that exist, as last seen: name → (id, partitions). A change
    /// (topic created, partitions added) bumps the group epoch.
    pub subscription_metadata: assignor::TopicMetadata,
}

impl ConsumerGroup {
    pub fn new(id: &str) -> ConsumerGroup {
        ConsumerGroup {
            id: id.to_string(),
            ..Default::default()
        }
    }

    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    pub fn state(&self) -> ConsumerState {
        if self.members.is_empty() {
            ConsumerState::Empty
        } else if self.group_epoch > self.assignment_epoch {
            ConsumerState::Assigning
        } else if self
            .members
            .values()
            .any(|m| m.epoch != self.assignment_epoch || m.state != MemberState::Stable)
        {
            ConsumerState::Reconciling
        } else {
            ConsumerState::Stable
        }
    }

    pub fn is_subscribed_to(&self, topic: &str) -> bool {
        self.members
            .values()
            .any(|m| m.subscribed_topics.contains(topic))
    }

    fn static_member(&self, instance_id: &str) -> Option<&ConsumerMember> {
        self.members
            .values()
            .find(|m| m.instance_id.as_deref() == Some(instance_id))
    }

    /// The assignor the group uses: the one most members ask for, else the default.
    pub fn assignor_name(&self) -> &str {
        let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
        for m in self.members.values() {
            if let Some(a) = &m.server_assignor {
                *counts.entry(a.as_str()).or_default() += 1;
            }
        }
        counts
            .into_iter()
            .max_by_key(|(_, n)| *n)
            .map(|(a, _)| a)
            .unwrap_or(super::config::CONSUMER_ASSIGNORS[0])
    }

    /// OffsetCommit from a member: only a current member at its current epoch (v9+), or a
    /// simple commit while the group is empty.
    pub fn validate_offset_commit(&self, who: &Committer<'_>) -> Result<(), ResponseError> {
        if who.generation_or_epoch < 0 && self.members.is_empty() {
            return Ok(());
        }
        let member = self
            .members
            .get(who.member_id)
            .ok_or(ResponseError::UnknownMemberId)?;
        if who.api_version < 9 {
            return Err(ResponseError::UnsupportedVersion);
        }
        if who.generation_or_epoch != member.epoch {
            return Err(ResponseError::StaleMemberEpoch);
        }
        Ok(())
    }

    /// OffsetFetch v9 naming a member: it must be current, at its current epoch.
    pub fn validate_offset_fetch(&self, member_id: &str, epoch: i32) -> Result<(), ResponseError> {
        let member = self
            .members
            .get(member_id)
            .ok_or(ResponseError::UnknownMemberId)?;
        if epoch != member.epoch {
            return Err(ResponseError::StaleMemberEpoch);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
