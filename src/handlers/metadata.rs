//! Metadata (key 3): brokers, cluster id, controller, and topics (auto-created when allowed).

use super::{BrokerState, ConnectionInfo, Handled, Request, decode_or_close};
use crate::metadata::{TopicInfo, is_internal_topic};
use kafka_protocol::ResponseError;
use kafka_protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kafka_protocol::messages::{
    BrokerId, MetadataRequest, MetadataResponse, ResponseKind, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use std::sync::Arc;
use uuid::Uuid;

pub fn handle(state: &Arc<BrokerState>, conn: &ConnectionInfo, req: &Request) -> Handled {
    let version = req.header.request_api_version;
    let request: MetadataRequest = decode_or_close!(req);
    // v0 has no null topic list: an empty list means "all topics" there.
    let wanted = match request.topics {
        Some(t) if !(version == 0 && t.is_empty()) => Some(t),
        _ => None,
    };
    let allow_auto_create = version < 4 || request.allow_auto_topic_creation;
    let topics = match wanted {
        None => state
            .catalog
            .all()
            .iter()
            .filter(|t| !is_internal_topic(&t.name))
            .map(|t| topic_metadata(state, t))
            .collect(),
        Some(requested) => requested
            .iter()
            .map(|t| match &t.name {
                Some(name) => by_name(state, name.as_str(), allow_auto_create),
                None => by_id(state, t.topic_id),
            })
            .collect(),
    };
    let broker = MetadataResponseBroker::default()
        .with_node_id(BrokerId(state.node_id))
        .with_host(StrBytes::from_string(conn.advertised_host.clone()))
        .with_port(conn.advertised_port);
    let body = MetadataResponse::default()
        .with_brokers(vec![broker])
        .with_cluster_id(Some(StrBytes::from_string(state.cluster_id.clone())))
        .with_controller_id(BrokerId(state.node_id))
        .with_topics(topics);
    Handled::respond(ResponseKind::Metadata(body), version)
}

fn by_name(state: &BrokerState, name: &str, allow_auto_create: bool) -> MetadataResponseTopic {
    if let Some(t) = state.catalog.get(name) {
        return topic_metadata(state, &t);
    }
    let error = if crate::metadata::validate_topic_name(name).is_err() {
        ResponseError::InvalidTopicException.code()
    } else if allow_auto_create
        && state.config.auto_create_topics_enable
        // Internal topics get their own partition counts and configs from the coordinators
        // (FindCoordinator creates them), never the num.partitions of auto-creation.
        && !is_internal_topic(name)
    {
        match state.topic_admin.auto_create(name) {
            Ok(t) => return topic_metadata(state, &t),
            Err(e) => e.code.code(),
        }
    } else {
        ResponseError::UnknownTopicOrPartition.code()
    };
    MetadataResponseTopic::default()
        .with_name(Some(TopicName(StrBytes::from_string(name.to_string()))))
        .with_error_code(error)
}

fn by_id(state: &BrokerState, id: Uuid) -> MetadataResponseTopic {
    match state.catalog.get_by_id(&id) {
        Some(t) => topic_metadata(state, &t),
        None => MetadataResponseTopic::default()
            .with_topic_id(id)
            .with_error_code(ResponseError::UnknownTopicId.code()),
    }
}

fn topic_metadata(state: &BrokerState, t: &TopicInfo) -> MetadataResponseTopic {
    let me = BrokerId(state.node_id);
    let partitions = (0..t.partitions)
        .map(|p| {
            MetadataResponsePartition::default()
                .with_partition_index(p)
                .with_leader_id(me)
                .with_leader_epoch(t.leader_epoch(p))
                .with_replica_nodes(vec![me])
                .with_isr_nodes(vec![me])
        })
        .collect();
    MetadataResponseTopic::default()
        .with_name(Some(TopicName(StrBytes::from_string(t.name.clone()))))
        .with_topic_id(t.id)
        .with_is_internal(is_internal_topic(&t.name))
        .with_partitions(partitions)
}
