//! JoinGroup and the join phase of a rebalance: members join (new ones first get a member id
//! with MEMBER_ID_REQUIRED on v4+), the phase ends when every known member has rejoined or the
//! rebalance timeout passes (the first rebalance of an empty group waits
//! `group.initial.rebalance.delay.ms` for more members), then the next generation starts.

use super::{ClassicGroup, ClassicMember, ClassicState};
use crate::coordinator::group::records;
use crate::coordinator::group::shard::{Ctx, Group, GroupKind, Shard};
use crate::coordinator::group::timers::TimerKey;
use crate::coordinator::group::{Answer, RequestContext};
use bytes::Bytes;
use kafka_protocol::ResponseError;
use kafka_protocol::messages::{JoinGroupRequest, JoinGroupResponse, SyncGroupResponse};
use kafka_protocol::protocol::StrBytes;
use std::time::Duration;
use tokio::sync::oneshot;
use tracing::{info, warn};

fn error(code: ResponseError, member_id: &str) -> JoinGroupResponse {
    JoinGroupResponse::default()
        .with_error_code(code.code())
        .with_member_id(StrBytes::from_string(member_id.to_string()))
        .with_protocol_name(None)
}

fn ms(v: i64) -> Duration {
    Duration::from_millis(v.max(0) as u64)
}

impl Shard {
    /// JoinGroup. The answer usually waits for the join phase to complete.
    pub fn join_group(
        &mut self,
        rc: &RequestContext,
        req: &JoinGroupRequest,
    ) -> Answer<JoinGroupResponse> {
        let member_id = req.member_id.as_str();
        let group_id = req.group_id.as_str();
        if group_id.is_empty() {
            return Answer::Now(error(ResponseError::InvalidGroupId, member_id));
        }
        let too_long = |v: &str| v.len() > records::MAX_STRING_LEN;
        if too_long(member_id)
            || too_long(req.protocol_type.as_str())
            || req.group_instance_id.as_ref().is_some_and(|i| too_long(i))
            || req.protocols.iter().any(|p| too_long(p.name.as_str()))
        {
            // The group's record could not hold it (Kafka fails the same write).
            return Answer::Now(error(ResponseError::InvalidRequest, ""));
        }
        if req.session_timeout_ms < self.config.min_session_timeout_ms
            || req.session_timeout_ms > self.config.max_session_timeout_ms
        {
            return Answer::Now(error(ResponseError::InvalidSessionTimeout, member_id));
        }
        let (groups, mut ctx) = self.split();
        match groups.get(group_id).map(|g| &g.kind) {
            Some(GroupKind::Consumer(g)) if !g.is_empty() => {
                return Answer::Now(error(ResponseError::InconsistentGroupProtocol, member_id));
            }
            Some(GroupKind::Consumer(_)) => {
                // An empty KIP-848 group turns back into a classic group; offsets stay.
                if let Some(g) = groups.get_mut(group_id) {
                    g.kind = GroupKind::Classic(ClassicGroup::new(group_id, ctx.now_ms));
                    info!("Converted empty consumer group {group_id} to a classic group");
                }
            }
            Some(GroupKind::Classic(_)) => {}
            None if !member_id.is_empty() => {
                return Answer::Now(error(ResponseError::UnknownMemberId, member_id));
            }
            None => {
                let group = Group::new_classic(group_id, ctx.now_ms);
                if let GroupKind::Classic(g) = &group.kind {
                    let record = (records::group_key(group_id), Some(g.to_record().encode()));
                    if let Err(e) = ctx.append(vec![record]) {
                        warn!("Failed to write empty metadata for group {group_id}: {e}");
                        return Answer::Now(error(e.response_error(), member_id));
                    }
                }
                groups.insert(group_id.to_string(), group);
            }
        }
        let Some(GroupKind::Classic(group)) = groups.get_mut(group_id).map(|g| &mut g.kind) else {
            return Answer::Now(error(ResponseError::UnknownServerError, member_id));
        };
        join(group, &mut ctx, rc, req)
    }
}

fn join(
    group: &mut ClassicGroup,
    ctx: &mut Ctx<'_>,
    rc: &RequestContext,
    req: &JoinGroupRequest,
) -> Answer<JoinGroupResponse> {
    let member_id = req.member_id.as_str();
    let protocols: Vec<(String, Bytes)> = req
        .protocols
        .iter()
        .map(|p| (p.name.to_string(), p.metadata.clone()))
        .collect();
    if !accepts_joining_member(group, member_id, ctx.config.max_size) {
        return Answer::Now(error(ResponseError::GroupMaxSizeReached, ""));
    }
    if group.state == ClassicState::Dead {
        return Answer::Now(error(ResponseError::CoordinatorNotAvailable, member_id));
    }
    if !group.supports_protocols(req.protocol_type.as_str(), &protocols) {
        return Answer::Now(error(ResponseError::InconsistentGroupProtocol, member_id));
    }
    let instance_id = req.group_instance_id.as_ref().map(|s| s.to_string());
    if member_id.is_empty() {
        let new_id = format!(
            "{}-{}",
            instance_id.as_deref().unwrap_or(&rc.client_id),
            uuid::Uuid::new_v4()
        );
        if let Some(instance) = &instance_id {
            if let Some(old_id) = group.static_members.get(instance).cloned() {
                info!(
                    "Static member with groupInstanceId={instance} and unknown member id joins group {} in {} state. Replacing previously mapped member {old_id} with this groupInstanceId.",
                    group.id,
                    group.state.name()
                );
                return replace_static_member(group, ctx, rc, req, protocols, &old_id, &new_id);
            }
            info!(
                "Static member with groupInstanceId={instance} and unknown member id joins group {} in {} state. Created a new member id {new_id} for this member and added to the group.",
                group.id,
                group.state.name()
            );
            return add_member_and_rebalance(group, ctx, rc, req, protocols, &new_id);
        }
        if rc.api_version >= 4 {
            info!(
                "Dynamic member with unknown member id joins group {} in {} state. Created a new member id {new_id} and requesting the member to rejoin with this id.",
                group.id,
                group.state.name()
            );
            group.pending_members.insert(new_id.clone());
            ctx.schedule(
                TimerKey::Heartbeat {
                    group: group.id.clone(),
                    member: new_id.clone(),
                },
                ms(i64::from(req.session_timeout_ms)),
            );
            return Answer::Now(error(ResponseError::MemberIdRequired, &new_id));
        }
        return add_member_and_rebalance(group, ctx, rc, req, protocols, &new_id);
    }
    if group.pending_members.contains(member_id) {
        info!(
            "Pending dynamic member with id {member_id} joins group {} in {} state. Adding to the group now.",
            group.id,
            group.state.name()
        );
        return add_member_and_rebalance(group, ctx, rc, req, protocols, member_id);
    }
    if let Err(e) = group.validate_member(member_id, instance_id.as_deref()) {
        return Answer::Now(error(e, member_id));
    }
    let matches = group
        .members
        .get(member_id)
        .is_some_and(|m| m.matches(&protocols));
    match group.state {
        ClassicState::PreparingRebalance => update_member_and_rebalance(
            group,
            ctx,
            req,
            protocols,
            "joining during PreparingRebalance",
        ),
        ClassicState::CompletingRebalance if matches => {
            // The member lost the JoinGroup answer: give the same one again.
            let leader = group.is_leader(member_id);
            Answer::Now(group.join_response(member_id, leader))
        }
        ClassicState::CompletingRebalance => update_member_and_rebalance(
            group,
            ctx,
            req,
            protocols,
            "updating metadata during CompletingRebalance",
        ),
        ClassicState::Stable if group.is_leader(member_id) => update_member_and_rebalance(
            group,
            ctx,
            req,
            protocols,
            "leader re-joining during Stable",
        ),
        ClassicState::Stable if !matches => update_member_and_rebalance(
            group,
            ctx,
            req,
            protocols,
            "updating metadata during Stable",
        ),
        ClassicState::Stable => Answer::Now(group.join_response(member_id, false)),
        ClassicState::Empty | ClassicState::Dead => {
            warn!(
                "Attempt to add rejoining member {member_id} of group {} in unexpected group state {}",
                group.id,
                group.state.name()
            );
            Answer::Now(error(ResponseError::UnknownMemberId, member_id))
        }
    }
}

/// `group.max.size`: existing members may always rejoin; newcomers only while there is room.
fn accepts_joining_member(group: &ClassicGroup, member_id: &str, max: usize) -> bool {
    match group.state {
        ClassicState::Empty | ClassicState::Dead => true,
        ClassicState::PreparingRebalance => {
            group
                .members
                .get(member_id)
                .is_some_and(ClassicMember::awaiting_join)
                || group.awaiting_join_count() < max
        }
        ClassicState::CompletingRebalance | ClassicState::Stable => {
            group.members.contains_key(member_id) || group.members.len() < max
        }
    }
}

fn park(member: &mut ClassicMember) -> oneshot::Receiver<JoinGroupResponse> {
    let (tx, rx) = oneshot::channel();
    member.join_waiter = Some(tx);
    rx
}

fn add_member_and_rebalance(
    group: &mut ClassicGroup,
    ctx: &mut Ctx<'_>,
    rc: &RequestContext,
    req: &JoinGroupRequest,
    protocols: Vec<(String, Bytes)>,
    member_id: &str,
) -> Answer<JoinGroupResponse> {
    let mut member = ClassicMember {
        id: member_id.to_string(),
        instance_id: req.group_instance_id.as_ref().map(|s| s.to_string()),
        client_id: rc.client_id.clone(),
        client_host: rc.client_host.clone(),
        rebalance_timeout_ms: rebalance_timeout(req),
        session_timeout_ms: req.session_timeout_ms,
        protocol_type: req.protocol_type.to_string(),
        protocols,
        assignment: Bytes::new(),
        join_waiter: None,
        sync_waiter: None,
        is_new: true,
    };
    let rx = park(&mut member);
    if group.state == ClassicState::PreparingRebalance
        && group.previous_state == ClassicState::Empty
    {
        group.new_member_added = true;
    }
    group.add_member(member);
    // A parked JoinGroup cannot heartbeat, and a client that gave up would leave a defunct
    // member behind: new members expire after the new-member join timeout instead.
    ctx.schedule(
        TimerKey::Heartbeat {
            group: group.id.clone(),
            member: member_id.to_string(),
        },
        ms(ctx.config.new_member_join_timeout_ms),
    );
    let reason = format!(
        "Adding new member {member_id} with group instance id {:?}; client reason: {}",
        req.group_instance_id.as_ref().map(|s| s.as_str()),
        join_reason(req)
    );
    rebalance_or_complete(group, ctx, &reason);
    Answer::Later(rx)
}

fn update_member_and_rebalance(
    group: &mut ClassicGroup,
    ctx: &mut Ctx<'_>,
    req: &JoinGroupRequest,
    protocols: Vec<(String, Bytes)>,
    why: &str,
) -> Answer<JoinGroupResponse> {
    let member_id = req.member_id.as_str();
    let Some(member) = group.members.get_mut(member_id) else {
        return Answer::Now(error(ResponseError::UnknownMemberId, member_id));
    };
    member.protocols = protocols;
    member.rebalance_timeout_ms = rebalance_timeout(req);
    member.session_timeout_ms = req.session_timeout_ms;
    // A second JoinGroup from the same member replaces the first (Kafka answers the old one
    // with nothing: the client has given up on it).
    let rx = park(member);
    let reason = format!(
        "Member {member_id} is {why}; client reason: {}",
        join_reason(req)
    );
    rebalance_or_complete(group, ctx, &reason);
    Answer::Later(rx)
}

/// A known static member rejoined with a new member id: it takes over the old member's
/// place; in Stable with the same protocol it keeps its assignment without a rebalance.
fn replace_static_member(
    group: &mut ClassicGroup,
    ctx: &mut Ctx<'_>,
    rc: &RequestContext,
    req: &JoinGroupRequest,
    protocols: Vec<(String, Bytes)>,
    old_id: &str,
    new_id: &str,
) -> Answer<JoinGroupResponse> {
    let Some(mut member) = group.members.remove(old_id) else {
        return Answer::Now(error(ResponseError::UnknownMemberId, ""));
    };
    let fenced = ResponseError::FencedInstanceId.code();
    member.complete_join(
        JoinGroupResponse::default()
            .with_error_code(fenced)
            .with_member_id(StrBytes::from_string(old_id.to_string())),
    );
    member.complete_sync(SyncGroupResponse::default().with_error_code(fenced));
    ctx.timers.cancel(&TimerKey::Heartbeat {
        group: group.id.clone(),
        member: old_id.to_string(),
    });
    let old_leader = group.leader.clone().unwrap_or_default();
    let old_protocols = std::mem::replace(&mut member.protocols, protocols);
    let old_timeouts = (member.rebalance_timeout_ms, member.session_timeout_ms);
    member.id = new_id.to_string();
    member.client_id = rc.client_id.clone();
    member.client_host = rc.client_host.clone();
    member.rebalance_timeout_ms = rebalance_timeout(req);
    member.session_timeout_ms = req.session_timeout_ms;
    let rx = park(&mut member);
    if group.pending_sync.remove(old_id) {
        group.pending_sync.insert(new_id.to_string());
    }
    if group.leader.as_deref() == Some(old_id) {
        group.leader = Some(new_id.to_string());
    }
    if let Some(instance) = &member.instance_id {
        group
            .static_members
            .insert(instance.clone(), new_id.to_string());
    }
    group.members.insert(new_id.to_string(), member);
    schedule_heartbeat(group, ctx, new_id);
    let reason = format!(
        "Updating metadata for static member {new_id} with instance id {:?}; client reason: {}",
        req.group_instance_id.as_ref().map(|s| s.as_str()),
        join_reason(req)
    );
    match group.state {
        ClassicState::Stable if group.select_protocol() == group.protocol_name => {
            info!(
                "Static member which joins during Stable stage and doesn't affect the selected protocol will not trigger a rebalance."
            );
            let record = (
                records::group_key(&group.id),
                Some(group.to_record().encode()),
            );
            if let Err(e) = ctx.append(vec![record]) {
                warn!(
                    "Failed to persist metadata for group {} static member {new_id}: {e}. Reverting to old member id {old_id}.",
                    group.id
                );
                if let Some(mut m) = group.members.remove(new_id) {
                    m.join_waiter = None;
                    m.id = old_id.to_string();
                    m.protocols = old_protocols;
                    (m.rebalance_timeout_ms, m.session_timeout_ms) = old_timeouts;
                    if let Some(instance) = &m.instance_id {
                        group
                            .static_members
                            .insert(instance.clone(), old_id.to_string());
                    }
                    if group.leader.as_deref() == Some(new_id) {
                        group.leader = Some(old_id.to_string());
                    }
                    group.members.insert(old_id.to_string(), m);
                }
                schedule_heartbeat(group, ctx, old_id);
                let answer = error(e.response_error(), "")
                    .with_generation_id(group.generation)
                    .with_leader(StrBytes::from_string(old_leader));
                return Answer::Now(answer);
            }
            let leader = group.is_leader(new_id);
            let answer = if rc.api_version >= 9 {
                group
                    .join_response(new_id, leader)
                    .with_skip_assignment(leader)
            } else {
                // Older clients would recompute the assignment if told they lead: name the
                // previous leader id instead.
                group
                    .join_response(new_id, false)
                    .with_leader(StrBytes::from_string(old_leader))
            };
            if let Some(m) = group.members.get_mut(new_id) {
                m.complete_join(answer);
            }
        }
        ClassicState::Stable => rebalance_or_complete(group, ctx, &reason),
        ClassicState::CompletingRebalance => prepare_rebalance(group, ctx, &reason),
        _ => maybe_complete_join(group, ctx),
    }
    Answer::Later(rx)
}

fn rebalance_timeout(req: &JoinGroupRequest) -> i32 {
    // v0 has no rebalance timeout: the session timeout serves as both.
    if req.rebalance_timeout_ms < 0 {
        req.session_timeout_ms
    } else {
        req.rebalance_timeout_ms
    }
}

fn join_reason(req: &JoinGroupRequest) -> String {
    req.reason
        .as_ref()
        .map(|r| r.to_string())
        .unwrap_or_else(|| "not provided".to_string())
}

/// Resets a member's session timer.
pub(super) fn schedule_heartbeat(group: &ClassicGroup, ctx: &mut Ctx<'_>, member_id: &str) {
    if let Some(m) = group.members.get(member_id) {
        ctx.schedule(
            TimerKey::Heartbeat {
                group: group.id.clone(),
                member: member_id.to_string(),
            },
            ms(i64::from(m.session_timeout_ms)),
        );
    }
}

pub(super) fn rebalance_or_complete(group: &mut ClassicGroup, ctx: &mut Ctx<'_>, reason: &str) {
    if group.can_rebalance() {
        prepare_rebalance(group, ctx, reason);
    } else {
        maybe_complete_join(group, ctx);
    }
}

/// Starts a rebalance: members still waiting for their SyncGroup are told to rejoin; an empty
/// group waits the initial delay, others the rebalance timeout (or not at all when every
/// member has already rejoined).
pub(super) fn prepare_rebalance(group: &mut ClassicGroup, ctx: &mut Ctx<'_>, reason: &str) {
    if group.state == ClassicState::CompletingRebalance {
        reset_and_propagate_assignment_error(group, ResponseError::RebalanceInProgress);
    }
    group.pending_sync.clear();
    ctx.timers.cancel(&TimerKey::Sync {
        group: group.id.clone(),
        generation: group.generation,
    });
    let initial = group.state == ClassicState::Empty;
    let join_key = TimerKey::Join {
        group: group.id.clone(),
    };
    if initial {
        let delay = ctx
            .config
            .initial_rebalance_delay_ms
            .min(i64::from(group.rebalance_timeout_ms()));
        group.initial_delay_remaining_ms = (i64::from(group.rebalance_timeout_ms())
            - ctx.config.initial_rebalance_delay_ms)
            .max(0);
        group.new_member_added = false;
        ctx.schedule(join_key.clone(), ms(delay));
    }
    group.transition(ClassicState::PreparingRebalance, ctx.now_ms);
    info!(
        "Preparing to rebalance group {} in state {} with old generation {} (reason: {reason}).",
        group.id,
        group.state.name(),
        group.generation
    );
    if !initial {
        if group.all_members_joined() {
            complete_join(group, ctx);
        } else {
            ctx.schedule(join_key, ms(i64::from(group.rebalance_timeout_ms())));
        }
    }
}

/// Completes the join phase early once every member has rejoined (never during the initial
/// delay, which exists to let more members arrive).
pub(super) fn maybe_complete_join(group: &mut ClassicGroup, ctx: &mut Ctx<'_>) {
    if group.state == ClassicState::PreparingRebalance
        && group.previous_state != ClassicState::Empty
        && group.all_members_joined()
    {
        complete_join(group, ctx);
    }
}

/// The join timer fired: during the initial delay, wait once more if someone new arrived
/// (up to the rebalance timeout); otherwise end the join phase.
pub(crate) fn on_join_timer(group: &mut ClassicGroup, ctx: &mut Ctx<'_>) {
    if group.state != ClassicState::PreparingRebalance {
        return;
    }
    if group.previous_state == ClassicState::Empty
        && group.new_member_added
        && group.initial_delay_remaining_ms > 0
    {
        group.new_member_added = false;
        let delay = ctx
            .config
            .initial_rebalance_delay_ms
            .min(group.initial_delay_remaining_ms);
        group.initial_delay_remaining_ms = (group.initial_delay_remaining_ms - delay).max(0);
        ctx.schedule(
            TimerKey::Join {
                group: group.id.clone(),
            },
            ms(delay),
        );
        return;
    }
    complete_join(group, ctx);
}

/// Ends the join phase: dynamic members that did not rejoin are dropped, a leader is chosen
/// among those that did, the generation advances and every parked JoinGroup is answered.
pub(super) fn complete_join(group: &mut ClassicGroup, ctx: &mut Ctx<'_>) {
    ctx.timers.cancel(&TimerKey::Join {
        group: group.id.clone(),
    });
    let absent: Vec<String> = group
        .members
        .values()
        .filter(|m| !m.awaiting_join() && m.instance_id.is_none())
        .map(|m| m.id.clone())
        .collect();
    if !absent.is_empty() {
        for id in &absent {
            group.remove_member(id);
            ctx.timers.cancel(&TimerKey::Heartbeat {
                group: group.id.clone(),
                member: id.clone(),
            });
        }
        info!(
            "Group {} removed dynamic members who haven't joined: {absent:?}",
            group.id
        );
    }
    if group.state == ClassicState::Dead {
        return;
    }
    let leader_joined = group
        .leader
        .as_ref()
        .and_then(|l| group.members.get(l))
        .is_some_and(ClassicMember::awaiting_join);
    if !leader_joined {
        group.leader = group
            .members
            .values()
            .find(|m| m.awaiting_join())
            .map(|m| m.id.clone());
    }
    if group.leader.is_none() && !group.is_empty() {
        warn!(
            "Group {} could not complete rebalance because no members rejoined.",
            group.id
        );
        ctx.schedule(
            TimerKey::Join {
                group: group.id.clone(),
            },
            ms(i64::from(group.rebalance_timeout_ms())),
        );
        return;
    }
    group.generation += 1;
    if group.is_empty() {
        group.protocol_name = None;
        group.transition(ClassicState::Empty, ctx.now_ms);
        info!(
            "Group {} with generation {} is now empty.",
            group.id, group.generation
        );
        let record = (
            records::group_key(&group.id),
            Some(group.to_record().encode()),
        );
        if let Err(e) = ctx.append(vec![record]) {
            warn!("Failed to write empty metadata for group {}: {e}", group.id);
        }
        return;
    }
    group.protocol_name = group.select_protocol();
    group.transition(ClassicState::CompletingRebalance, ctx.now_ms);
    info!(
        "Stabilized group {} generation {} with {} members.",
        group.id,
        group.generation,
        group.members.len()
    );
    let ids: Vec<String> = group.members.keys().cloned().collect();
    for id in &ids {
        let response = group.join_response(id, group.is_leader(id));
        if let Some(m) = group.members.get_mut(id) {
            m.complete_join(response);
            m.is_new = false;
        }
        schedule_heartbeat(group, ctx, id);
        group.pending_sync.insert(id.clone());
    }
    ctx.schedule(
        TimerKey::Sync {
            group: group.id.clone(),
            generation: group.generation,
        },
        ms(i64::from(group.rebalance_timeout_ms())),
    );
}

/// Answers every parked SyncGroup with `error` and forgets the assignments (a new rebalance
/// is starting, or the assignment could not be stored).
pub(super) fn reset_and_propagate_assignment_error(group: &mut ClassicGroup, error: ResponseError) {
    for m in group.members.values_mut() {
        m.assignment = Bytes::new();
        m.complete_sync(SyncGroupResponse::default().with_error_code(error.code()));
    }
}
