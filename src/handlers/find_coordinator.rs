//! FindCoordinator (key 10): this broker coordinates every group and transactional id. As in
//! Kafka, the internal topic behind the coordinator (`__consumer_offsets`,
//! `__transaction_state`) is created on first use; when it cannot be (a replication factor
//! above 1 on a single node) the answer is COORDINATOR_NOT_AVAILABLE.

use super::{BrokerState, ConnectionInfo, Handled, Request, decode_or_close};
use kafka_protocol::ResponseError;
use kafka_protocol::messages::find_coordinator_response::Coordinator;
use kafka_protocol::messages::{
    BrokerId, FindCoordinatorRequest, FindCoordinatorResponse, ResponseKind,
};
use kafka_protocol::protocol::StrBytes;
use std::sync::Arc;

const GROUP_KEY: i8 = 0;
const TRANSACTION_KEY: i8 = 1;

pub fn find_coordinator(state: &Arc<BrokerState>, conn: &ConnectionInfo, req: &Request) -> Handled {
    let version = req.header.request_api_version;
    let request: FindCoordinatorRequest = decode_or_close!(req);
    let keys: Vec<StrBytes> = if version >= 4 {
        request.coordinator_keys.clone()
    } else {
        vec![request.key.clone()]
    };
    let located = keys
        .into_iter()
        .map(|key| {
            let found = Coordinator::default().with_key(key);
            match locate(state, request.key_type) {
                Ok(()) => found
                    .with_node_id(BrokerId(state.node_id))
                    .with_host(StrBytes::from_string(conn.advertised_host.clone()))
                    .with_port(conn.advertised_port)
                    .with_error_message(None),
                Err(e) => found
                    .with_node_id(BrokerId(-1))
                    .with_host(StrBytes::default())
                    .with_port(-1)
                    .with_error_code(e.code())
                    .with_error_message(Some(StrBytes::from_string(e.to_string()))),
            }
        })
        .collect::<Vec<_>>();
    let body = if version >= 4 {
        FindCoordinatorResponse::default().with_coordinators(located)
    } else {
        let c = located.into_iter().next().unwrap_or_default();
        FindCoordinatorResponse::default()
            .with_error_code(c.error_code)
            .with_error_message(c.error_message)
            .with_node_id(c.node_id)
            .with_host(c.host)
            .with_port(c.port)
    };
    Handled::respond(ResponseKind::FindCoordinator(body), version)
}

/// Makes sure the coordinator for `key_type` can serve (its internal topic exists and is
/// ours).
fn locate(state: &BrokerState, key_type: i8) -> Result<(), ResponseError> {
    match key_type {
        GROUP_KEY => state.groups.ensure_active(&state.topic_admin),
        TRANSACTION_KEY => state.transactions.ensure_active(&state.topic_admin),
        _ => Err(ResponseError::InvalidRequest),
    }
}
