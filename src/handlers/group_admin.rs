//! Group administration: ListGroups (16), DescribeGroups (15) and DeleteGroups (42).

use super::{BrokerState, Handled, Request, decode_or_close};
use kafka_protocol::ResponseError;
use kafka_protocol::messages::delete_groups_response::DeletableGroupResult;
use kafka_protocol::messages::describe_groups_response::DescribedGroup;
use kafka_protocol::messages::{
    DeleteGroupsRequest, DeleteGroupsResponse, DescribeGroupsRequest, DescribeGroupsResponse,
    ListGroupsRequest, ListGroupsResponse, ResponseKind,
};
use std::sync::Arc;

/// The operations an unrestricted client may perform on a group (READ, DELETE, DESCRIBE as
/// Kafka's ACL operation bit field): without an authorizer everything is allowed.
pub(super) const GROUP_AUTHORIZED_OPERATIONS: i32 = (1 << 3) | (1 << 6) | (1 << 8);

pub fn list_groups(state: &Arc<BrokerState>, req: &Request) -> Handled {
    let version = req.header.request_api_version;
    let request: ListGroupsRequest = decode_or_close!(req);
    let states: Vec<String> = request
        .states_filter
        .iter()
        .map(|s| s.to_string())
        .collect();
    let types: Vec<String> = request.types_filter.iter().map(|s| s.to_string()).collect();
    let mut groups = Vec::new();
    let error = state
        .groups
        .for_each_shard(|s| groups.extend(s.list_groups(&states, &types)))
        .err()
        .map_or(0, |e| e.code());
    let body = ListGroupsResponse::default()
        .with_error_code(error)
        .with_groups(groups);
    Handled::respond(ResponseKind::ListGroups(body), version)
}

pub fn describe_groups(state: &Arc<BrokerState>, req: &Request) -> Handled {
    let version = req.header.request_api_version;
    let request: DescribeGroupsRequest = decode_or_close!(req);
    let groups = request
        .groups
        .iter()
        .map(|id| {
            let described = state
                .groups
                .with_shard(id.as_str(), |s| s.describe_group(id.as_str(), version))
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
    let body = DescribeGroupsResponse::default().with_groups(groups);
    Handled::respond(ResponseKind::DescribeGroups(body), version)
}

pub fn delete_groups(state: &Arc<BrokerState>, req: &Request) -> Handled {
    let version = req.header.request_api_version;
    let request: DeleteGroupsRequest = decode_or_close!(req);
    let results = request
        .groups_names
        .iter()
        .map(|id| {
            let outcome = if id.is_empty() {
                Err(ResponseError::InvalidGroupId)
            } else {
                state
                    .groups
                    .with_shard(id.as_str(), |s| s.delete_group(id.as_str()))
                    .and_then(|r| r)
            };
            DeletableGroupResult::default()
                .with_group_id(id.clone())
                .with_error_code(outcome.err().map_or(0, |e| e.code()))
        })
        .collect();
    let body = DeleteGroupsResponse::default().with_results(results);
    Handled::respond(ResponseKind::DeleteGroups(body), version)
}
