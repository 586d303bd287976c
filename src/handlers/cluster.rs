//! DescribeCluster (key 60) and DescribeLogDirs (key 35).

use super::{BrokerState, ConnectionInfo, Handled, Request, decode_or_close};
use kafka_protocol::ResponseError;
use kafka_protocol::messages::describe_cluster_response::DescribeClusterBroker;
use kafka_protocol::messages::describe_log_dirs_response::{
    DescribeLogDirsPartition, DescribeLogDirsResult, DescribeLogDirsTopic,
};
use kafka_protocol::messages::{
    BrokerId, DescribeClusterRequest, DescribeClusterResponse, DescribeLogDirsRequest,
    DescribeLogDirsResponse, ResponseKind, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

/// `DescribeClusterRequest.endpoint_type`: brokers (1) or controllers (2).
const ENDPOINT_BROKERS: i8 = 1;
/// `EndpointType` of controllers (KIP-919).
const ENDPOINT_CONTROLLERS: i8 = 2;

pub fn describe_cluster(state: &Arc<BrokerState>, conn: &ConnectionInfo, req: &Request) -> Handled {
    let version = req.header.request_api_version;
    let request: DescribeClusterRequest = decode_or_close!(req);
    let mut body = DescribeClusterResponse::default()
        .with_cluster_id(StrBytes::from_string(state.cluster_id.clone()))
        .with_controller_id(BrokerId(state.node_id))
        .with_endpoint_type(ENDPOINT_BROKERS);
    let on_controller = state
        .config
        .controller_listener_names
        .contains(&conn.listener);
    if on_controller {
        // KIP-919: a controller describes the controller quorum (this node).
        body = body.with_endpoint_type(ENDPOINT_CONTROLLERS);
        if request.endpoint_type != ENDPOINT_CONTROLLERS {
            body = body
                .with_error_code(ResponseError::UnsupportedEndpointType.code())
                .with_error_message(Some(StrBytes::from_static_str(
                    "The target controller only supports controller endpoints",
                )));
        } else {
            body = body.with_brokers(vec![
                DescribeClusterBroker::default()
                    .with_broker_id(BrokerId(state.node_id))
                    .with_host(StrBytes::from_string(conn.advertised_host.clone()))
                    .with_port(conn.advertised_port),
            ]);
        }
    } else if version >= 1 && request.endpoint_type != ENDPOINT_BROKERS {
        body = body
            .with_error_code(ResponseError::UnsupportedEndpointType.code())
            .with_error_message(Some(StrBytes::from_static_str(
                "The target broker only supports broker endpoints",
            )));
    } else {
        body = body.with_brokers(vec![
            DescribeClusterBroker::default()
                .with_broker_id(BrokerId(state.node_id))
                .with_host(StrBytes::from_string(conn.advertised_host.clone()))
                .with_port(conn.advertised_port),
        ]);
    }
    Handled::respond(ResponseKind::DescribeCluster(body), version)
}

pub fn describe_log_dirs(state: &Arc<BrokerState>, req: &Request) -> Handled {
    let version = req.header.request_api_version;
    let request: DescribeLogDirsRequest = decode_or_close!(req);
    let wanted: Option<HashSet<(String, i32)>> = request.topics.as_ref().map(|topics| {
        topics
            .iter()
            .flat_map(|t| {
                t.partitions
                    .iter()
                    .map(move |p| (t.topic.as_str().to_string(), *p))
            })
            .collect()
    });
    let results = state
        .logs
        .describe_dirs()
        .into_iter()
        .map(|dir| {
            let mut by_topic: BTreeMap<String, Vec<DescribeLogDirsPartition>> = BTreeMap::new();
            for (tp, size) in dir.partitions {
                if wanted
                    .as_ref()
                    .is_some_and(|w| !w.contains(&(tp.topic.clone(), tp.partition)))
                {
                    continue;
                }
                by_topic.entry(tp.topic.clone()).or_default().push(
                    DescribeLogDirsPartition::default()
                        .with_partition_index(tp.partition)
                        .with_partition_size(size as i64)
                        .with_offset_lag(0),
                );
            }
            DescribeLogDirsResult::default()
                .with_log_dir(StrBytes::from_string(dir.path.display().to_string()))
                .with_total_bytes(dir.total_bytes)
                .with_usable_bytes(dir.usable_bytes)
                .with_topics(
                    by_topic
                        .into_iter()
                        .map(|(name, partitions)| {
                            DescribeLogDirsTopic::default()
                                .with_name(TopicName(StrBytes::from_string(name)))
                                .with_partitions(partitions)
                        })
                        .collect(),
                )
        })
        .collect();
    let body = DescribeLogDirsResponse::default().with_results(results);
    Handled::respond(ResponseKind::DescribeLogDirs(body), version)
}
