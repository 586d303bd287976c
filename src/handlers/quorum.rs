//! DescribeQuorum (key 55) and UpdateFeatures (key 57): the KRaft quorum of one node (this
//! node the only voter and the leader of `__cluster_metadata`), and the finalized features.

use super::{BrokerState, Handled, Request, decode_or_close};
use crate::base::clock::now_ms;
use crate::metadata::{FeatureUpdate, SAFE_DOWNGRADE, UPGRADE};
use kafka_protocol::messages::describe_quorum_response::{
    Listener, Node, PartitionData, ReplicaState, TopicData,
};
use kafka_protocol::messages::update_features_response::UpdatableFeatureResult;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use std::sync::Arc;

/// The metadata topic's name, as DescribeQuorum reports it.
const METADATA_TOPIC: &str = "__cluster_metadata";

/// DescribeQuorum: leader, epoch, high watermark (the metadata log end, all of it committed
/// on one voter), the one voter with its controller endpoints.
pub fn describe_quorum(state: &Arc<BrokerState>, req: &Request) -> Handled {
    let version = req.header.request_api_version;
    let _request: DescribeQuorumRequest = decode_or_close!(req);
    let (epoch, end) = state.catalog.quorum_position();
    let me = BrokerId(state.node_id);
    let now = now_ms();
    let voter = ReplicaState::default()
        .with_replica_id(me)
        .with_log_end_offset(end)
        .with_last_fetch_timestamp(now)
        .with_last_caught_up_timestamp(now);
    let partition = PartitionData::default()
        .with_leader_id(me)
        .with_leader_epoch(epoch)
        .with_high_watermark(end)
        .with_current_voters(vec![voter]);
    let listeners = state
        .config
        .listeners
        .iter()
        .filter(|l| state.config.controller_listener_names.contains(&l.name))
        .map(|l| {
            Listener::default()
                .with_name(StrBytes::from_string(l.name.clone()))
                .with_host(StrBytes::from_string(l.host.clone()))
                .with_port(l.port)
        })
        .collect();
    let body = DescribeQuorumResponse::default()
        .with_topics(vec![
            TopicData::default()
                .with_topic_name(TopicName(StrBytes::from_static_str(METADATA_TOPIC)))
                .with_partitions(vec![partition]),
        ])
        .with_nodes(vec![
            Node::default().with_node_id(me).with_listeners(listeners),
        ]);
    Handled::respond(ResponseKind::DescribeQuorum(body), version)
}

/// UpdateFeatures: one result per feature; all are applied or none.
pub fn update_features(state: &Arc<BrokerState>, req: &Request) -> Handled {
    let version = req.header.request_api_version;
    let request: UpdateFeaturesRequest = decode_or_close!(req);
    let updates: Vec<FeatureUpdate> = request
        .feature_updates
        .iter()
        .map(|u| FeatureUpdate {
            name: u.feature.to_string(),
            level: u.max_version_level,
            upgrade_type: if version == 0 {
                if u.allow_downgrade {
                    SAFE_DOWNGRADE
                } else {
                    UPGRADE
                }
            } else {
                u.upgrade_type
            },
        })
        .collect();
    let results = state
        .catalog
        .update_features(&updates, request.validate_only)
        .into_iter()
        .zip(&updates)
        .map(|(r, u)| {
            let base = UpdatableFeatureResult::default()
                .with_feature(StrBytes::from_string(u.name.clone()));
            match r {
                Ok(()) => base,
                Err((code, message)) => base
                    .with_error_code(code.code())
                    .with_error_message(Some(StrBytes::from_string(message))),
            }
        })
        .collect();
    let body = UpdateFeaturesResponse::default().with_results(results);
    Handled::respond(ResponseKind::UpdateFeatures(body), version)
}
