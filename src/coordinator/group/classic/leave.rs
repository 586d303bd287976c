//! Members leaving a classic group: LeaveGroup (one member, or a batch on v3+ including
//! administrative removal by `group.instance.id`), session expiry and missing SyncGroups.

use super::join::{maybe_complete_join, prepare_rebalance, rebalance_or_complete};
use super::{ClassicGroup, ClassicState};
use crate::coordinator::group::shard::{Ctx, GroupKind, Shard};
use crate::coordinator::group::timers::TimerKey;
use kafka_protocol::ResponseError;
use kafka_protocol::messages::LeaveGroupRequest;
use kafka_protocol::messages::leave_group_response::MemberResponse;
use kafka_protocol::protocol::StrBytes;
use tracing::info;

/// The outcome of a LeaveGroup: a group-level error or one result per member.
pub type LeaveOutcome = Result<Vec<MemberResponse>, ResponseError>;

impl Shard {
    /// LeaveGroup. v0-v2 name one member by `member_id`; v3+ a batch in `members`.
    pub fn leave_group(&mut self, version: i16, req: &LeaveGroupRequest) -> LeaveOutcome {
        let identities: Vec<(String, Option<String>, Option<String>)> = if version < 3 {
            vec![(req.member_id.to_string(), None, None)]
        } else {
            req.members
                .iter()
                .map(|m| {
                    (
                        m.member_id.to_string(),
                        m.group_instance_id.as_ref().map(|s| s.to_string()),
                        m.reason.as_ref().map(|s| s.to_string()),
                    )
                })
                .collect()
        };
        let (groups, mut ctx) = self.split();
        let Some(GroupKind::Classic(group)) =
            groups.get_mut(req.group_id.as_str()).map(|g| &mut g.kind)
        else {
            return Err(ResponseError::UnknownMemberId);
        };
        if group.state == ClassicState::Dead {
            return Err(ResponseError::CoordinatorNotAvailable);
        }
        let mut left = Vec::new();
        let responses = identities
            .into_iter()
            .map(|(member_id, instance_id, reason)| {
                let reason = reason.unwrap_or_else(|| "not provided".to_string());
                let response = MemberResponse::default()
                    .with_member_id(StrBytes::from_string(member_id.clone()))
                    .with_group_instance_id(instance_id.clone().map(StrBytes::from_string));
                let code = leave_one(group, &mut ctx, &member_id, instance_id.as_deref(), &reason);
                match code {
                    Ok(removed) => {
                        left.push(removed);
                        response
                    }
                    Err(e) => response.with_error_code(e.code()),
                }
            })
            .collect();
        if !left.is_empty() {
            let reason = format!(
                "explicit `LeaveGroup` request for ({}) members.",
                left.join(", ")
            );
            match group.state {
                ClassicState::Stable | ClassicState::CompletingRebalance => {
                    rebalance_or_complete(group, &mut ctx, &reason)
                }
                ClassicState::PreparingRebalance => maybe_complete_join(group, &mut ctx),
                ClassicState::Empty | ClassicState::Dead => {}
            }
        }
        Ok(responses)
    }
}

/// Removes one leaving member; returns the removed member id.
fn leave_one(
    group: &mut ClassicGroup,
    ctx: &mut Ctx<'_>,
    member_id: &str,
    instance_id: Option<&str>,
    reason: &str,
) -> Result<String, ResponseError> {
    let target = if member_id.is_empty() {
        // Administrative removal by instance id (the admin client does not know member ids).
        match instance_id.and_then(|i| group.static_members.get(i)) {
            Some(id) => id.clone(),
            None => return Err(ResponseError::UnknownMemberId),
        }
    } else if group.pending_members.remove(member_id) {
        cancel_heartbeat(group, ctx, member_id);
        info!(
            "[Group {}] Pending member {member_id} has left group through explicit `LeaveGroup` request; client reason: {reason}",
            group.id
        );
        return Ok(member_id.to_string());
    } else {
        group.validate_member(member_id, instance_id)?;
        member_id.to_string()
    };
    cancel_heartbeat(group, ctx, &target);
    info!(
        "[Group {}] Member {target} has left group through explicit `LeaveGroup` request; client reason: {reason}",
        group.id
    );
    group.remove_member(&target);
    Ok(target)
}

fn cancel_heartbeat(group: &ClassicGroup, ctx: &mut Ctx<'_>, member_id: &str) {
    ctx.timers.cancel(&TimerKey::Heartbeat {
        group: group.id.clone(),
        member: member_id.to_string(),
    });
}

/// A member's session timer fired: drop a pending member, or a member that has not
/// heartbeat and is not parked in a rebalance, and rebalance the rest.
pub(crate) fn on_heartbeat_timer(group: &mut ClassicGroup, ctx: &mut Ctx<'_>, member_id: &str) {
    if group.pending_members.remove(member_id) {
        info!(
            "Pending member {member_id} in group {} has been removed after session timeout expiration.",
            group.id
        );
        maybe_complete_join(group, ctx);
        return;
    }
    let Some(member) = group.members.get(member_id) else {
        return;
    };
    if member.has_satisfied_heartbeat() {
        return;
    }
    info!(
        "Member {member_id} in group {} has failed, removing it from the group.",
        group.id
    );
    group.remove_member(member_id);
    match group.state {
        ClassicState::Stable | ClassicState::CompletingRebalance => prepare_rebalance(
            group,
            ctx,
            &format!("removing member {member_id} on heartbeat expiration."),
        ),
        ClassicState::PreparingRebalance => maybe_complete_join(group, ctx),
        ClassicState::Empty | ClassicState::Dead => {}
    }
}

/// The SyncGroup deadline of `generation` passed: members that never sent SyncGroup are
/// dropped and the group rebalances without them.
pub(crate) fn on_sync_timer(group: &mut ClassicGroup, ctx: &mut Ctx<'_>, generation: i32) {
    if generation != group.generation
        || !matches!(
            group.state,
            ClassicState::CompletingRebalance | ClassicState::Stable
        )
        || group.pending_sync.is_empty()
    {
        return;
    }
    let missing: Vec<String> = std::mem::take(&mut group.pending_sync)
        .into_iter()
        .collect();
    for id in &missing {
        cancel_heartbeat(group, ctx, id);
        group.remove_member(id);
    }
    info!(
        "Group {} removed members who haven't sent their sync requests: {missing:?}",
        group.id
    );
    prepare_rebalance(
        group,
        ctx,
        &format!("Removing {missing:?} on pending sync request expiration"),
    );
}
