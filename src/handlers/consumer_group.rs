//! KIP-848's consumer group protocol: ConsumerGroupHeartbeat (68) and
//! ConsumerGroupDescribe (69).

use super::group_admin::GROUP_AUTHORIZED_OPERATIONS;
use super::groups::request_context;
use super::{BrokerState, ConnectionInfo, Handled, Request, decode_or_close};
use kafka_protocol::messages::consumer_group_describe_response::DescribedGroup;
use kafka_protocol::messages::{
    ConsumerGroupDescribeRequest, ConsumerGroupDescribeResponse, ConsumerGroupHeartbeatRequest,
    ConsumerGroupHeartbeatResponse, ResponseKind,
};
use std::sync::Arc;

pub fn consumer_group_heartbeat(
    state: &Arc<BrokerState>,
    conn: &ConnectionInfo,
    req: &Request,
) -> Handled {
    let version = req.header.request_api_version;
    let request: ConsumerGroupHeartbeatRequest = decode_or_close!(req);
    let rc = request_context(req, conn);
    let body = state
        .groups
        .with_shard(request.group_id.as_str(), |s| {
            s.consumer_heartbeat(&rc, &request, &*state.catalog)
        })
        .unwrap_or_else(|e| ConsumerGroupHeartbeatResponse::default().with_error_code(e.code()));
    Handled::respond(ResponseKind::ConsumerGroupHeartbeat(body), version)
}

pub fn consumer_group_describe(state: &Arc<BrokerState>, req: &Request) -> Handled {
    let version = req.header.request_api_version;
    let request: ConsumerGroupDescribeRequest = decode_or_close!(req);
    let groups = request
        .group_ids
        .iter()
        .map(|id| {
            let described = state
                .groups
                .with_shard(id.as_str(), |s| {
                    s.describe_consumer_group(id.as_str(), &*state.catalog)
                })
                .unwrap_or_else(|e| {
                    DescribedGroup::default()
                        .with_group_id(id.clone())
                        .with_error_code(e.code())
                });
            if request.include_authorized_operations {
                described.with_authorized_operations(GROUP_AUTHORIZED_OPERATIONS)
            } else {
                described
            }
        })
        .collect();
    let body = ConsumerGroupDescribeResponse::default().with_groups(groups);
    Handled::respond(ResponseKind::ConsumerGroupDescribe(body), version)
}
