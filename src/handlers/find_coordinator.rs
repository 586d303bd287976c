//! FindCoordinator (key 10): this broker coordinates every group and transactional id. As in
//! Kafka, the internal topic behind the coordinator (`__consumer_offsets`,
//! `__transaction_state`) is created on first use; when it cannot be (a replication factor
//! above 1 on a single node) the answer is COORDINATOR_NOT_AVAILABLE.

use super::topics::{NewTopic, create_topic};
use super::{BrokerState, ConnectionInfo, Handled, Request, decode_or_close};
use crate::log::TopicPartition;
use crate::metadata::{CONSUMER_OFFSETS_TOPIC, TRANSACTION_STATE_TOPIC, TopicInfo};
use kafka_protocol::ResponseError;
use kafka_protocol::messages::find_coordinator_response::Coordinator;
use kafka_protocol::messages::{
    BrokerId, FindCoordinatorRequest, FindCoordinatorResponse, ResponseKind,
};
use kafka_protocol::protocol::StrBytes;
use std::collections::BTreeMap;
use std::sync::Arc;
use tracing::warn;

/// `__transaction_state`'s segment size (`transaction.state.log.segment.bytes`' default).
const TRANSACTION_STATE_SEGMENT_BYTES: &str = "104857600";

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

/// Makes sure the coordinator for `key_type` can serve: its internal topic exists and (for
/// groups) the group coordinator owns its partitions.
fn locate(state: &BrokerState, key_type: i8) -> Result<(), ResponseError> {
    match key_type {
        GROUP_KEY => {
            if state.groups.is_attached() {
                return Ok(());
            }
            let cfg = &state.config;
            let topic = internal_topic(
                state,
                CONSUMER_OFFSETS_TOPIC,
                cfg.offsets_topic_num_partitions,
                cfg.offsets_topic_replication_factor,
                BTreeMap::from([
                    ("cleanup.policy".to_string(), "compact".to_string()),
                    ("compression.type".to_string(), "producer".to_string()),
                    (
                        "segment.bytes".to_string(),
                        cfg.offsets_topic_segment_bytes.to_string(),
                    ),
                ]),
            )?;
            let logs = (0..topic.partitions)
                .map(|p| state.logs.get(&TopicPartition::new(topic.name.clone(), p)))
                .collect::<Option<Vec<_>>>()
                .ok_or(ResponseError::CoordinatorNotAvailable)?;
            state.groups.attach(logs);
            Ok(())
        }
        TRANSACTION_KEY => {
            let cfg = &state.config;
            internal_topic(
                state,
                TRANSACTION_STATE_TOPIC,
                cfg.transaction_state_log_num_partitions,
                cfg.transaction_state_log_replication_factor,
                BTreeMap::from([
                    ("cleanup.policy".to_string(), "compact".to_string()),
                    ("compression.type".to_string(), "uncompressed".to_string()),
                    (
                        "min.insync.replicas".to_string(),
                        cfg.transaction_state_log_min_isr.to_string(),
                    ),
                    (
                        "segment.bytes".to_string(),
                        TRANSACTION_STATE_SEGMENT_BYTES.to_string(),
                    ),
                    (
                        "unclean.leader.election.enable".to_string(),
                        "false".to_string(),
                    ),
                ]),
            )?;
            Ok(())
        }
        _ => Err(ResponseError::InvalidRequest),
    }
}

/// The internal topic `name`, created with its fixed settings if it does not exist yet.
fn internal_topic(
    state: &BrokerState,
    name: &str,
    partitions: i32,
    replication_factor: i16,
    configs: BTreeMap<String, String>,
) -> Result<Arc<TopicInfo>, ResponseError> {
    if let Some(t) = state.catalog.get(name) {
        return Ok(t);
    }
    let topic = NewTopic {
        name,
        partitions,
        replication_factor,
        configs,
    };
    match create_topic(state, topic, false) {
        Ok(t) => Ok(t),
        Err(e) if e.code == ResponseError::TopicAlreadyExists => state
            .catalog
            .get(name)
            .ok_or(ResponseError::CoordinatorNotAvailable),
        Err(e) => {
            warn!("Failed to create internal topic {name}: {}", e.message);
            Err(ResponseError::CoordinatorNotAvailable)
        }
    }
}
