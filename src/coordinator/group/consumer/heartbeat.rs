//! ConsumerGroupHeartbeat: join, stay, leave, and the session and rebalance timeouts of
//! KIP-848 members.

use super::assignor::{self, Assignment, AssignorMember};
use super::reconcile::reconcile;
use super::{ConsumerGroup, ConsumerMember, MemberState};
use crate::coordinator::group::config::CONSUMER_ASSIGNORS;
use crate::coordinator::group::records;
use crate::coordinator::group::shard::{AppendError, Ctx, Group, GroupKind, Shard};
use crate::coordinator::group::timers::TimerKey;
use crate::coordinator::group::{RequestContext, TopicLookup};
use kafka_protocol::ResponseError;
use kafka_protocol::messages::consumer_group_heartbeat_response::{
    Assignment as WireAssignment, TopicPartitions,
};
use kafka_protocol::messages::{ConsumerGroupHeartbeatRequest, ConsumerGroupHeartbeatResponse};
use kafka_protocol::protocol::StrBytes;
use std::collections::HashSet;
use std::time::Duration;
use tracing::{debug, info, warn};
use uuid::Uuid;

/// Member epoch of a member leaving for good.
const LEAVE_EPOCH: i32 = -1;
/// Member epoch of a static member leaving temporarily (it keeps its assignment for a
/// session timeout, to get it back when it restarts).
const STATIC_LEAVE_EPOCH: i32 = -2;

type HeartbeatError = (ResponseError, String);

fn fail(code: ResponseError, message: impl Into<String>) -> HeartbeatError {
    (code, message.into())
}

fn validate(req: &ConsumerGroupHeartbeatRequest, version: i16) -> Result<(), HeartbeatError> {
    let invalid = |m: &str| Err(fail(ResponseError::InvalidRequest, m));
    if req.group_id.is_empty() {
        return invalid("GroupId can't be empty.");
    }
    if req.instance_id.as_ref().is_some_and(|s| s.is_empty()) {
        return invalid("InstanceId can't be empty.");
    }
    if req.rack_id.as_ref().is_some_and(|s| s.is_empty()) {
        return invalid("RackId can't be empty.");
    }
    if let Some(re) = req
        .subscribed_topic_regex
        .as_ref()
        .filter(|r| !r.is_empty())
        && let Err(e) = compile(re)
    {
        return Err(fail(
            ResponseError::InvalidRegularExpression,
            format!(
                "SubscribedTopicRegex `{}` is not a valid regular expression: {e}",
                re.as_str()
            ),
        ));
    }
    match req.member_epoch {
        e if e > 0 || e == LEAVE_EPOCH => {
            if req.member_id.is_empty() {
                return invalid("MemberId can't be empty.");
            }
        }
        0 => {
            if version >= 1 && req.member_id.is_empty() {
                return invalid("MemberId can't be empty.");
            }
            if req.rebalance_timeout_ms == -1 {
                return invalid("RebalanceTimeoutMs must be provided in first request.");
            }
            if req.topic_partitions.as_ref().is_none_or(|t| !t.is_empty()) {
                return invalid("TopicPartitions must be empty when (re-)joining.");
            }
            let names = req
                .subscribed_topic_names
                .as_ref()
                .is_some_and(|t| !t.is_empty());
            let regex = req
                .subscribed_topic_regex
                .as_ref()
                .is_some_and(|r| !r.is_empty());
            if !names && !regex {
                return invalid(
                    "SubscribedTopicNames or SubscribedTopicRegex must be set in first request.",
                );
            }
        }
        STATIC_LEAVE_EPOCH => {
            if req.member_id.is_empty() {
                return invalid("MemberId can't be empty.");
            }
            if req.instance_id.is_none() {
                return invalid("InstanceId can't be null.");
            }
        }
        _ => return invalid("MemberEpoch is invalid."),
    }
    if let Some(a) = &req.server_assignor
        && !CONSUMER_ASSIGNORS.contains(&a.as_str())
    {
        return Err(fail(
            ResponseError::UnsupportedAssignor,
            format!(
                "ServerAssignor {} is not supported. Supported assignors: {}.",
                a.as_str(),
                CONSUMER_ASSIGNORS.join(", ")
            ),
        ));
    }
    Ok(())
}

fn wire(a: &Assignment) -> WireAssignment {
    WireAssignment::default().with_topic_partitions(
        a.iter()
            .map(|(t, ps)| {
                TopicPartitions::default()
                    .with_topic_id(*t)
                    .with_partitions(ps.iter().copied().collect())
            })
            .collect(),
    )
}

impl Shard {
    /// ConsumerGroupHeartbeat.
    pub fn consumer_heartbeat(
        &mut self,
        rc: &RequestContext,
        req: &ConsumerGroupHeartbeatRequest,
        topics: &dyn TopicLookup,
    ) -> ConsumerGroupHeartbeatResponse {
        let (groups, mut ctx) = self.split();
        match heartbeat(groups, &mut ctx, rc, req, topics) {
            Ok(response) => response,
            Err((code, message)) => {
                debug!(
                    "ConsumerGroupHeartbeat of member {} in group {} failed with {code}: {message}",
                    req.member_id.as_str(),
                    req.group_id.as_str()
                );
                ConsumerGroupHeartbeatResponse::default()
                    .with_error_code(code.code())
                    .with_error_message(Some(StrBytes::from_string(message)))
            }
        }
    }
}

fn heartbeat(
    groups: &mut std::collections::HashMap<String, Group>,
    ctx: &mut Ctx<'_>,
    rc: &RequestContext,
    req: &ConsumerGroupHeartbeatRequest,
    topics: &dyn TopicLookup,
) -> Result<ConsumerGroupHeartbeatResponse, HeartbeatError> {
    validate(req, rc.api_version)?;
    let group_id = req.group_id.as_str();
    let joining = req.member_epoch == 0;
    match groups.get_mut(group_id) {
        None if joining => {
            groups.insert(
                group_id.to_string(),
                Group {
                    id: group_id.to_string(),
                    offsets: Default::default(),
                    kind: GroupKind::Consumer(ConsumerGroup::new(group_id)),
                },
            );
        }
        None => {
            // The group is gone (deleted, or its state was not kept across a restart):
            // the member must rejoin.
            return Err(fail(
                ResponseError::UnknownMemberId,
                format!("Group {group_id} not found."),
            ));
        }
        Some(g) => {
            if let GroupKind::Classic(c) = &g.kind {
                if !(joining && c.is_empty() && c.pending_members.is_empty()) {
                    return Err(fail(
                        ResponseError::GroupIdNotFound,
                        format!("Group {group_id} is not a consumer group."),
                    ));
                }
                info!("Converted empty classic group {group_id} to a consumer group");
                g.kind = GroupKind::Consumer(ConsumerGroup::new(group_id));
            }
        }
    }
    let Some(GroupKind::Consumer(group)) = groups.get_mut(group_id).map(|g| &mut g.kind) else {
        return Err(fail(ResponseError::UnknownServerError, "group vanished"));
    };
    let member_id = if req.member_id.is_empty() {
        Uuid::new_v4().to_string()
    } else {
        req.member_id.to_string()
    };
    if req.member_epoch == LEAVE_EPOCH || req.member_epoch == STATIC_LEAVE_EPOCH {
        return leave(group, ctx, req, &member_id);
    }
    let owned: Option<Vec<(Uuid, Vec<i32>)>> = req.topic_partitions.as_ref().map(|tps| {
        tps.iter()
            .map(|t| (t.topic_id, t.partitions.clone()))
            .collect()
    });
    let current = member_for(group, ctx, req, &member_id, owned.as_deref())?;
    let mut updated = current.clone();
    if let Some(i) = &req.instance_id {
        updated.instance_id = Some(i.to_string());
    }
    if let Some(r) = &req.rack_id {
        updated.rack_id = Some(r.to_string());
    }
    if req.rebalance_timeout_ms != -1 {
        updated.rebalance_timeout_ms = req.rebalance_timeout_ms;
    }
    if let Some(names) = &req.subscribed_topic_names {
        updated.subscribed_topics = names.iter().map(|n| n.to_string()).collect();
    }
    if let Some(re) = &req.subscribed_topic_regex {
        // librdkafka sends an empty regex when it subscribes to names only.
        updated.subscribed_regex = Some(re.to_string()).filter(|r| !r.is_empty());
    }
    if let Some(a) = &req.server_assignor {
        updated.server_assignor = Some(a.to_string());
    }
    updated.client_id = rc.client_id.clone();
    updated.client_host = rc.client_host.clone();
    // A new member brings a subscription (its starting one is empty); a restarted static
    // member or a rejoining one brings the same subscription and causes no rebalance.
    let mut bump = updated.subscribed_topics != current.subscribed_topics
        || updated.subscribed_regex != current.subscribed_regex;
    group.members.insert(member_id.clone(), updated.clone());
    let metadata = subscription_metadata(group, topics);
    updated.resolved_topics = group
        .members
        .get(&member_id)
        .map(|m| m.resolved_topics.clone())
        .unwrap_or_default();
    if metadata != group.subscription_metadata {
        group.subscription_metadata = metadata;
        bump = true;
    }
    if bump {
        bump_epoch(group, ctx).map_err(|e| fail(e.response_error(), e.to_string()))?;
    }
    if group.group_epoch > group.assignment_epoch {
        update_target_assignment(group);
    }
    let target = group.target.get(&member_id).cloned().unwrap_or_default();
    let taken = partitions_owned_by_others(group, &member_id);
    let reconciled = reconcile(
        &updated,
        group.assignment_epoch,
        &target,
        owned.as_deref(),
        &|t, p| taken.contains(&(t, p)),
    );
    if reconciled.state != updated.state || reconciled.epoch != updated.epoch {
        info!(
            "[GroupId {group_id}] Member {member_id} new assignment state: epoch={}, previousEpoch={}, state={:?}.",
            reconciled.epoch, reconciled.previous_epoch, reconciled.state
        );
        let rebalance_key = TimerKey::ConsumerRebalance {
            group: group_id.to_string(),
            member: member_id.clone(),
        };
        if reconciled.state == MemberState::UnrevokedPartitions {
            ctx.schedule(
                rebalance_key,
                Duration::from_millis(reconciled.rebalance_timeout_ms.max(0) as u64),
            );
        } else {
            ctx.timers.cancel(&rebalance_key);
        }
    }
    let assignment_changed = reconciled.assigned != current.assigned;
    group.members.insert(member_id.clone(), reconciled.clone());
    ctx.schedule(
        TimerKey::ConsumerSession {
            group: group_id.to_string(),
            member: member_id.clone(),
        },
        Duration::from_millis(ctx.config.consumer_session_timeout_ms.max(0) as u64),
    );
    let full_request = joining
        || (req.rebalance_timeout_ms != -1
            && req.subscribed_topic_names.is_some()
            && req.topic_partitions.is_some());
    let mut response = ConsumerGroupHeartbeatResponse::default()
        .with_member_id(Some(StrBytes::from_string(member_id)))
        .with_member_epoch(reconciled.epoch)
        .with_heartbeat_interval_ms(ctx.config.consumer_heartbeat_interval_ms);
    if full_request || assignment_changed {
        response = response.with_assignment(Some(wire(&reconciled.assigned)));
    }
    Ok(response)
}

/// Finds (or, on epoch 0, creates or resets) the member a heartbeat is about, with Kafka's
/// epoch and static-membership checks.
fn member_for(
    group: &mut ConsumerGroup,
    ctx: &mut Ctx<'_>,
    req: &ConsumerGroupHeartbeatRequest,
    member_id: &str,
    owned: Option<&[(Uuid, Vec<i32>)]>,
) -> Result<ConsumerMember, HeartbeatError> {
    let instance = req.instance_id.as_ref().map(|s| s.to_string());
    if req.member_epoch == 0 {
        if let Some(instance) = &instance
            && let Some(existing) = group.static_member(instance).cloned()
            && existing.id != member_id
        {
            if existing.epoch != STATIC_LEAVE_EPOCH {
                return Err(fail(
                    ResponseError::UnreleasedInstanceId,
                    format!(
                        "Static member {member_id} with instance id {instance} cannot join the group because the instance id is owned by member {}.",
                        existing.id
                    ),
                ));
            }
            // The restarted static member takes over the old one's assignment.
            info!(
                "[GroupId {}] Static member with instance id {instance} re-joins the consumer group. Created a new member {member_id} to replace the existing member {}.",
                group.id, existing.id
            );
            let target = group.target.remove(&existing.id);
            remove_member(group, ctx, &existing.id, false);
            if let Some(t) = target {
                group.target.insert(member_id.to_string(), t);
            }
            let mut m = existing;
            m.id = member_id.to_string();
            m.epoch = 0;
            m.previous_epoch = 0;
            return Ok(m);
        }
        if let Some(existing) = group.members.get(member_id) {
            // Rejoining after being fenced: it has given up everything it owned.
            let mut m = existing.clone();
            m.epoch = 0;
            m.previous_epoch = 0;
            m.state = MemberState::Stable;
            m.assigned.clear();
            m.pending_revocation.clear();
            return Ok(m);
        }
        if group.members.len() >= ctx.config.consumer_max_size {
            return Err(fail(
                ResponseError::GroupMaxSizeReached,
                format!(
                    "The consumer group has reached its maximum capacity of {} members.",
                    ctx.config.consumer_max_size
                ),
            ));
        }
        info!(
            "[GroupId {}] Member {member_id} joins the consumer group using the consumer protocol.",
            group.id
        );
        let mut m = ConsumerMember::new(member_id);
        m.instance_id = instance;
        return Ok(m);
    }
    let member = group.members.get(member_id).ok_or_else(|| {
        fail(
            ResponseError::UnknownMemberId,
            format!("Member {member_id} is not a member of group {}.", group.id),
        )
    })?;
    if let Some(instance) = &instance
        && member.instance_id.as_deref() != Some(instance.as_str())
    {
        return Err(fail(
            ResponseError::FencedInstanceId,
            format!(
                "Static member {member_id} with instance id {instance} was fenced by another member."
            ),
        ));
    }
    let received = req.member_epoch;
    let subset = owned.is_none_or(|o| {
        o.iter().all(|(t, ps)| {
            ps.iter()
                .all(|p| member.assigned.get(t).is_some_and(|s| s.contains(p)))
        })
    });
    if received > member.epoch
        || (received < member.epoch && (received != member.previous_epoch || !subset))
    {
        return Err(fail(
            ResponseError::FencedMemberEpoch,
            format!(
                "The consumer group member has a member epoch ({received}) different from the one known by the group coordinator ({}). The member must abandon all its partitions and rejoin.",
                member.epoch
            ),
        ));
    }
    Ok(member.clone())
}

fn leave(
    group: &mut ConsumerGroup,
    ctx: &mut Ctx<'_>,
    req: &ConsumerGroupHeartbeatRequest,
    member_id: &str,
) -> Result<ConsumerGroupHeartbeatResponse, HeartbeatError> {
    let Some(member) = group.members.get_mut(member_id) else {
        return Err(fail(
            ResponseError::UnknownMemberId,
            format!("Member {member_id} is not a member of group {}.", group.id),
        ));
    };
    if req.member_epoch == STATIC_LEAVE_EPOCH {
        info!(
            "[GroupId {}] Static member {member_id} with instance id {:?} temporarily left the consumer group.",
            group.id, member.instance_id
        );
        member.epoch = STATIC_LEAVE_EPOCH;
        ctx.schedule(
            TimerKey::ConsumerSession {
                group: group.id.clone(),
                member: member_id.to_string(),
            },
            Duration::from_millis(ctx.config.consumer_session_timeout_ms.max(0) as u64),
        );
    } else {
        info!(
            "[GroupId {}] Member {member_id} left the consumer group.",
            group.id
        );
        remove_member(group, ctx, member_id, true);
    }
    Ok(ConsumerGroupHeartbeatResponse::default()
        .with_member_id(Some(StrBytes::from_string(member_id.to_string())))
        .with_member_epoch(req.member_epoch))
}

/// Removes a member, releasing its partitions; `bump` starts a new group epoch so the
/// others take over its share.
fn remove_member(group: &mut ConsumerGroup, ctx: &mut Ctx<'_>, member_id: &str, bump: bool) {
    group.members.remove(member_id);
    group.target.remove(member_id);
    for key in [
        TimerKey::ConsumerSession {
            group: group.id.clone(),
            member: member_id.to_string(),
        },
        TimerKey::ConsumerRebalance {
            group: group.id.clone(),
            member: member_id.to_string(),
        },
    ] {
        ctx.timers.cancel(&key);
    }
    if bump && let Err(e) = bump_epoch(group, ctx) {
        warn!(
            "[GroupId {}] Failed to persist the group epoch: {e}",
            group.id
        );
    }
}

/// Starts a new group epoch and writes it (`ConsumerGroupMetadataValue`), so the group and
/// its epoch survive a restart.
fn bump_epoch(group: &mut ConsumerGroup, ctx: &Ctx<'_>) -> Result<(), AppendError> {
    group.group_epoch += 1;
    info!(
        "[GroupId {}] Bumped group epoch to {}.",
        group.id, group.group_epoch
    );
    ctx.append(vec![(
        records::consumer_group_key(&group.id),
        Some(records::consumer_group_value(group.group_epoch)),
    )])
}

/// A regex subscription as Kafka matches it: against the whole topic name.
fn compile(re: &str) -> Result<regex::Regex, regex::Error> {
    regex::Regex::new(&format!("^(?:{re})$"))
}

/// Resolves every member's subscription (names and regex) against the existing topics and
/// returns the subscribed topics that exist, with their partition counts.
fn subscription_metadata(
    group: &mut ConsumerGroup,
    topics: &dyn TopicLookup,
) -> assignor::TopicMetadata {
    let all = if group.members.values().any(|m| m.subscribed_regex.is_some()) {
        topics.names()
    } else {
        Vec::new()
    };
    let mut metadata = assignor::TopicMetadata::new();
    for m in group.members.values_mut() {
        let matcher = m
            .subscribed_regex
            .as_deref()
            .and_then(|re| compile(re).ok());
        let matched = all
            .iter()
            .filter(|t| matcher.as_ref().is_some_and(|r| r.is_match(t)));
        m.resolved_topics = m
            .subscribed_topics
            .iter()
            .chain(matched)
            .filter_map(|t| {
                let meta = topics.lookup(t)?;
                metadata.insert(t.clone(), meta);
                Some(t.clone())
            })
            .collect();
    }
    metadata
}

/// Recomputes every member's target with the group's assignor, at the group epoch.
fn update_target_assignment(group: &mut ConsumerGroup) {
    let assignor = group.assignor_name().to_string();
    let members: Vec<AssignorMember<'_>> = group
        .members
        .values()
        .map(|m| AssignorMember {
            id: &m.id,
            topics: &m.resolved_topics,
            previous: group.target.get(&m.id),
        })
        .collect();
    let target = assignor::assign(&assignor, &members, &group.subscription_metadata);
    group.target = target;
    group.assignment_epoch = group.group_epoch;
    info!(
        "[GroupId {}] Computed a new target assignment for epoch {} with '{assignor}' assignor.",
        group.id, group.assignment_epoch
    );
}

fn partitions_owned_by_others(group: &ConsumerGroup, member_id: &str) -> HashSet<(Uuid, i32)> {
    group
        .members
        .values()
        .filter(|m| m.id != member_id)
        .flat_map(|m| m.assigned.iter().chain(m.pending_revocation.iter()))
        .flat_map(|(t, ps)| ps.iter().map(move |p| (*t, *p)))
        .collect()
}

/// A member's session timer fired: it is fenced and its partitions go to the others.
pub(crate) fn on_session_timer(group: &mut ConsumerGroup, ctx: &mut Ctx<'_>, member_id: &str) {
    if group.members.contains_key(member_id) {
        info!(
            "[GroupId {}] Member {member_id} fenced from the group because its session expired.",
            group.id
        );
        remove_member(group, ctx, member_id, true);
    }
}

/// A member's rebalance timer fired: if it still has not revoked what it was asked to, it
/// is fenced so the partitions can move on.
pub(crate) fn on_rebalance_timer(group: &mut ConsumerGroup, ctx: &mut Ctx<'_>, member_id: &str) {
    if group
        .members
        .get(member_id)
        .is_some_and(|m| m.state == MemberState::UnrevokedPartitions)
    {
        info!(
            "[GroupId {}] Member {member_id} fenced from the group because it failed to revoke partitions within the rebalance timeout.",
            group.id
        );
        remove_member(group, ctx, member_id, true);
    }
}
