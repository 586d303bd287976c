//! The classic group protocol: JoinGroup (11), SyncGroup (14), Heartbeat (12) and
//! LeaveGroup (13). The coordinator does the work; JoinGroup and SyncGroup answers that wait
//! for the rebalance come back as futures.

use super::{BrokerState, ConnectionInfo, Handled, Reply, Request, decode_or_close};
use crate::coordinator::group::{Answer, RequestContext};
use futures::FutureExt;
use kafka_protocol::ResponseError;
use kafka_protocol::messages::{
    HeartbeatRequest, HeartbeatResponse, JoinGroupRequest, JoinGroupResponse, LeaveGroupRequest,
    LeaveGroupResponse, ResponseKind, SyncGroupRequest, SyncGroupResponse,
};
use kafka_protocol::protocol::StrBytes;
use std::sync::Arc;

/// Who is asking, for the member records (Kafka shows the client address as `/<ip>`).
pub(super) fn request_context(req: &Request, conn: &ConnectionInfo) -> RequestContext {
    RequestContext {
        api_version: req.header.request_api_version,
        client_id: req
            .header
            .client_id
            .as_ref()
            .map(|c| c.to_string())
            .unwrap_or_default(),
        client_host: format!("/{}", conn.peer.ip()),
    }
}

/// Turns a coordinator answer into a reply, now or when the group gets there. A parked
/// request whose member was superseded (its sender dropped) is told the rebalance moved on.
fn answer<T: Send + 'static>(
    answer: Answer<T>,
    dropped: fn() -> T,
    wrap: impl FnOnce(T) -> Reply + Send + 'static,
) -> Handled {
    match answer {
        Answer::Now(r) => Handled::Now(wrap(r)),
        Answer::Later(rx) => Handled::Later(
            rx.map(move |r| wrap(r.unwrap_or_else(|_| dropped())))
                .boxed(),
        ),
    }
}

fn reply(body: ResponseKind, version: i16) -> Reply {
    Reply::response(body, version)
}

pub fn join_group(state: &Arc<BrokerState>, conn: &ConnectionInfo, req: &Request) -> Handled {
    let version = req.header.request_api_version;
    let request: JoinGroupRequest = decode_or_close!(req);
    let rc = request_context(req, conn);
    let result = state
        .groups
        .with_shard(request.group_id.as_str(), |s| s.join_group(&rc, &request))
        .unwrap_or_else(|e| {
            Answer::Now(
                JoinGroupResponse::default()
                    .with_error_code(e.code())
                    .with_member_id(request.member_id.clone()),
            )
        });
    answer(
        result,
        || JoinGroupResponse::default().with_error_code(ResponseError::RebalanceInProgress.code()),
        move |mut r| {
            // Before v7 the protocol name is not nullable.
            if version < 7 && r.protocol_name.is_none() {
                r.protocol_name = Some(StrBytes::default());
            }
            reply(ResponseKind::JoinGroup(r), version)
        },
    )
}

pub fn sync_group(state: &Arc<BrokerState>, req: &Request) -> Handled {
    let version = req.header.request_api_version;
    let request: SyncGroupRequest = decode_or_close!(req);
    let result = state
        .groups
        .with_shard(request.group_id.as_str(), |s| s.sync_group(&request))
        .unwrap_or_else(|e| Answer::Now(SyncGroupResponse::default().with_error_code(e.code())));
    answer(
        result,
        || SyncGroupResponse::default().with_error_code(ResponseError::RebalanceInProgress.code()),
        move |r| reply(ResponseKind::SyncGroup(r), version),
    )
}

pub fn heartbeat(state: &Arc<BrokerState>, req: &Request) -> Handled {
    let version = req.header.request_api_version;
    let request: HeartbeatRequest = decode_or_close!(req);
    let code = match state
        .groups
        .with_shard(request.group_id.as_str(), |s| s.heartbeat(&request))
    {
        Ok(Ok(())) => 0,
        Ok(Err(e)) | Err(e) => e.code(),
    };
    let body = HeartbeatResponse::default().with_error_code(code);
    Handled::respond(ResponseKind::Heartbeat(body), version)
}

pub fn leave_group(state: &Arc<BrokerState>, req: &Request) -> Handled {
    let version = req.header.request_api_version;
    let request: LeaveGroupRequest = decode_or_close!(req);
    let outcome = state
        .groups
        .with_shard(request.group_id.as_str(), |s| {
            s.leave_group(version, &request)
        })
        .and_then(|r| r);
    let body = match outcome {
        // v0-v2 answer for their single member at the top level.
        Ok(members) if version < 3 => LeaveGroupResponse::default()
            .with_error_code(members.first().map_or(0, |m| m.error_code)),
        Ok(members) => LeaveGroupResponse::default().with_members(members),
        Err(e) => LeaveGroupResponse::default().with_error_code(e.code()),
    };
    Handled::respond(ResponseKind::LeaveGroup(body), version)
}
