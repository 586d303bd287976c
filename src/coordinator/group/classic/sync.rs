//! SyncGroup (the leader hands in the assignment, everyone gets theirs) and Heartbeat.

use super::join::{
    rebalance_or_complete, reset_and_propagate_assignment_error, schedule_heartbeat,
};
use super::{ClassicGroup, ClassicState};
use crate::coordinator::group::Answer;
use crate::coordinator::group::records;
use crate::coordinator::group::shard::{Ctx, GroupKind, Shard};
use crate::coordinator::group::timers::TimerKey;
use bytes::Bytes;
use kafka_protocol::ResponseError;
use kafka_protocol::messages::{HeartbeatRequest, SyncGroupRequest, SyncGroupResponse};
use kafka_protocol::protocol::StrBytes;
use std::collections::HashMap;
use tokio::sync::oneshot;
use tracing::{info, warn};

fn sync_error(code: ResponseError) -> SyncGroupResponse {
    SyncGroupResponse::default().with_error_code(code.code())
}

/// A SyncGroup protocol field disagrees with the group's (only checked when given).
fn inconsistent(requested: Option<&StrBytes>, actual: Option<&String>) -> bool {
    matches!((requested, actual), (Some(r), Some(a)) if r.as_str() != a)
}

impl Shard {
    /// SyncGroup. Followers wait for the leader's assignment.
    pub fn sync_group(&mut self, req: &SyncGroupRequest) -> Answer<SyncGroupResponse> {
        let (groups, mut ctx) = self.split();
        let group = match groups.get_mut(req.group_id.as_str()).map(|g| &mut g.kind) {
            Some(GroupKind::Classic(g)) if !g.is_empty() => g,
            _ => return Answer::Now(sync_error(ResponseError::UnknownMemberId)),
        };
        let member_id = req.member_id.as_str();
        if group.state == ClassicState::Dead {
            return Answer::Now(sync_error(ResponseError::CoordinatorNotAvailable));
        }
        let instance = req.group_instance_id.as_ref().map(|s| s.as_str());
        if let Err(e) = group.validate_member(member_id, instance) {
            return Answer::Now(sync_error(e));
        }
        if req.generation_id != group.generation {
            return Answer::Now(sync_error(ResponseError::IllegalGeneration));
        }
        if inconsistent(req.protocol_type.as_ref(), group.protocol_type.as_ref())
            || inconsistent(req.protocol_name.as_ref(), group.protocol_name.as_ref())
        {
            return Answer::Now(sync_error(ResponseError::InconsistentGroupProtocol));
        }
        match group.state {
            ClassicState::PreparingRebalance => {
                Answer::Now(sync_error(ResponseError::RebalanceInProgress))
            }
            ClassicState::CompletingRebalance => {
                let (tx, rx) = oneshot::channel();
                if let Some(m) = group.members.get_mut(member_id) {
                    m.sync_waiter = Some(tx);
                }
                remove_pending_sync(group, &mut ctx, member_id);
                if group.is_leader(member_id) {
                    store_assignment(group, &mut ctx, req);
                }
                Answer::Later(rx)
            }
            ClassicState::Stable => {
                remove_pending_sync(group, &mut ctx, member_id);
                let assignment = group
                    .members
                    .get(member_id)
                    .map(|m| m.assignment.clone())
                    .unwrap_or_default();
                Answer::Now(success(group, assignment))
            }
            ClassicState::Empty | ClassicState::Dead => {
                Answer::Now(sync_error(ResponseError::UnknownMemberId))
            }
        }
    }

    /// Heartbeat: keeps the member's session alive and tells it when to rejoin.
    pub fn heartbeat(&mut self, req: &HeartbeatRequest) -> Result<(), ResponseError> {
        let (groups, mut ctx) = self.split();
        let Some(GroupKind::Classic(group)) =
            groups.get_mut(req.group_id.as_str()).map(|g| &mut g.kind)
        else {
            return Err(ResponseError::UnknownMemberId);
        };
        if group.state == ClassicState::Dead {
            return Err(ResponseError::CoordinatorNotAvailable);
        }
        let member_id = req.member_id.as_str();
        let instance = req.group_instance_id.as_ref().map(|s| s.as_str());
        group.validate_member(member_id, instance)?;
        if req.generation_id != group.generation {
            return Err(ResponseError::IllegalGeneration);
        }
        match group.state {
            ClassicState::Empty | ClassicState::Dead => Err(ResponseError::UnknownMemberId),
            ClassicState::PreparingRebalance => {
                schedule_heartbeat(group, &mut ctx, member_id);
                Err(ResponseError::RebalanceInProgress)
            }
            ClassicState::CompletingRebalance | ClassicState::Stable => {
                schedule_heartbeat(group, &mut ctx, member_id);
                Ok(())
            }
        }
    }
}

fn success(group: &ClassicGroup, assignment: Bytes) -> SyncGroupResponse {
    SyncGroupResponse::default()
        .with_protocol_type(group.protocol_type.clone().map(StrBytes::from_string))
        .with_protocol_name(group.protocol_name.clone().map(StrBytes::from_string))
        .with_assignment(assignment)
}

fn remove_pending_sync(group: &mut ClassicGroup, ctx: &mut Ctx<'_>, member_id: &str) {
    group.pending_sync.remove(member_id);
    if group.pending_sync.is_empty() {
        ctx.timers.cancel(&TimerKey::Sync {
            group: group.id.clone(),
            generation: group.generation,
        });
    }
}

/// The leader's SyncGroup: store every member's assignment (empty for members it left out),
/// then answer all parked SyncGroups and become Stable.
fn store_assignment(group: &mut ClassicGroup, ctx: &mut Ctx<'_>, req: &SyncGroupRequest) {
    info!(
        "Assignment received from leader {} for group {} for generation {}. The group has {} members, {} of which are static.",
        req.member_id.as_str(),
        group.id,
        group.generation,
        group.members.len(),
        group.static_members.len()
    );
    let given: HashMap<&str, &Bytes> = req
        .assignments
        .iter()
        .map(|a| (a.member_id.as_str(), &a.assignment))
        .collect();
    let missing: Vec<&String> = group
        .members
        .keys()
        .filter(|id| !given.contains_key(id.as_str()))
        .collect();
    if !missing.is_empty() {
        warn!(
            "Setting empty assignments for members {missing:?} of {} for generation {}.",
            group.id, group.generation
        );
    }
    for m in group.members.values_mut() {
        m.assignment = given
            .get(m.id.as_str())
            .map(|b| (*b).clone())
            .unwrap_or_default();
    }
    let record = (
        records::group_key(&group.id),
        Some(group.to_record().encode()),
    );
    match ctx.append(vec![record]) {
        Ok(()) => {
            group.transition(ClassicState::Stable, ctx.now_ms);
            let answers: Vec<(String, SyncGroupResponse)> = group
                .members
                .values()
                .map(|m| (m.id.clone(), success(group, m.assignment.clone())))
                .collect();
            for (id, answer) in answers {
                if let Some(m) = group.members.get_mut(&id) {
                    m.complete_sync(answer);
                }
            }
        }
        Err(e) => {
            warn!(
                "Failed to store the assignment of group {} generation {}: {e}",
                group.id, group.generation
            );
            reset_and_propagate_assignment_error(group, e.response_error());
            let reason = format!(
                "Error {} when storing group assignment during SyncGroup (member: {}).",
                e.response_error(),
                req.member_id.as_str()
            );
            rebalance_or_complete(group, ctx, &reason);
        }
    }
}
