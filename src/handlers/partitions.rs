//! Partition administration: DescribeTopicPartitions (key 75, KIP-966, what Kafka 4's
//! `kafka-topics --describe` uses), ElectLeaders (43), AlterPartitionReassignments (45),
//! ListPartitionReassignments (46) and AlterReplicaLogDirs (34).
//!
//! On one node every partition has one replica, this node, which leads it: elections are
//! never needed, no reassignment is ever in progress, and a reassignment can only name this
//! node. Each answer is the one Kafka's controller gives for that state.

use super::{BrokerState, Handled, Request, decode_or_close};
use crate::log::TopicPartition;
use crate::metadata::{TopicInfo, is_internal_topic};
use kafka_protocol::ResponseError;
use kafka_protocol::messages::alter_partition_reassignments_response::{
    ReassignablePartitionResponse, ReassignableTopicResponse,
};
use kafka_protocol::messages::alter_replica_log_dirs_response::{
    AlterReplicaLogDirPartitionResult, AlterReplicaLogDirTopicResult,
};
use kafka_protocol::messages::describe_topic_partitions_response::{
    Cursor, DescribeTopicPartitionsResponsePartition, DescribeTopicPartitionsResponseTopic,
};
use kafka_protocol::messages::elect_leaders_response::{PartitionResult, ReplicaElectionResult};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use std::path::Path;
use std::sync::Arc;

/// `topic_authorized_operations` when the client did not ask for them.
const OPERATIONS_NOT_REQUESTED: i32 = i32::MIN;

fn partition_exists(state: &BrokerState, topic: &str, partition: i32) -> Option<Arc<TopicInfo>> {
    state
        .catalog
        .get(topic)
        .filter(|t| (0..t.partitions).contains(&partition))
}

fn message(text: impl Into<String>) -> Option<StrBytes> {
    Some(StrBytes::from_string(text.into()))
}

/// DescribeTopicPartitions: the requested topics (all when none are named), sorted by name,
/// with at most `response_partition_limit` partitions and a cursor to continue from.
pub fn describe_topic_partitions(state: &Arc<BrokerState>, req: &Request) -> Handled {
    let version = req.header.request_api_version;
    let request: DescribeTopicPartitionsRequest = decode_or_close!(req);
    let mut names: Vec<String> = if request.topics.is_empty() {
        state.catalog.names()
    } else {
        request.topics.iter().map(|t| t.name.to_string()).collect()
    };
    names.sort();
    names.dedup();
    let (start_topic, start_partition) = match &request.cursor {
        Some(c) => (c.topic_name.to_string(), c.partition_index.max(0)),
        None => (String::new(), 0),
    };
    let mut budget = request.response_partition_limit.max(1);
    let me = BrokerId(state.node_id);
    let mut topics = Vec::new();
    let mut next_cursor = None;
    for name in names.into_iter().filter(|n| *n >= start_topic) {
        let Some(t) = state.catalog.get(&name) else {
            topics.push(
                DescribeTopicPartitionsResponseTopic::default()
                    .with_error_code(ResponseError::UnknownTopicOrPartition.code())
                    .with_name(Some(TopicName(StrBytes::from_string(name))))
                    .with_topic_authorized_operations(OPERATIONS_NOT_REQUESTED),
            );
            continue;
        };
        if budget == 0 {
            next_cursor = Some(
                Cursor::default()
                    .with_topic_name(TopicName(StrBytes::from_string(name)))
                    .with_partition_index(0),
            );
            break;
        }
        let first = if name == start_topic {
            start_partition
        } else {
            0
        };
        let last = (first + budget).min(t.partitions);
        let partitions: Vec<_> = (first..last)
            .map(|p| {
                DescribeTopicPartitionsResponsePartition::default()
                    .with_partition_index(p)
                    .with_leader_id(me)
                    .with_leader_epoch(t.leader_epoch(p))
                    .with_replica_nodes(vec![me])
                    .with_isr_nodes(vec![me])
                    .with_eligible_leader_replicas(Some(Vec::new()))
                    .with_last_known_elr(Some(Vec::new()))
            })
            .collect();
        budget -= last - first;
        topics.push(
            DescribeTopicPartitionsResponseTopic::default()
                .with_name(Some(TopicName(StrBytes::from_string(name.clone()))))
                .with_topic_id(t.id)
                .with_is_internal(is_internal_topic(&name))
                .with_partitions(partitions)
                .with_topic_authorized_operations(OPERATIONS_NOT_REQUESTED),
        );
        if last < t.partitions {
            next_cursor = Some(
                Cursor::default()
                    .with_topic_name(TopicName(StrBytes::from_string(name)))
                    .with_partition_index(last),
            );
            break;
        }
    }
    let body = DescribeTopicPartitionsResponse::default()
        .with_topics(topics)
        .with_next_cursor(next_cursor);
    Handled::respond(ResponseKind::DescribeTopicPartitions(body), version)
}

/// ElectLeaders: every partition already has its preferred (and only) replica as leader, so
/// Kafka answers ELECTION_NOT_NEEDED for each named partition, and nothing for "all".
pub fn elect_leaders(state: &Arc<BrokerState>, req: &Request) -> Handled {
    let version = req.header.request_api_version;
    let request: ElectLeadersRequest = decode_or_close!(req);
    let results = request
        .topic_partitions
        .unwrap_or_default()
        .into_iter()
        .map(|t| {
            let partitions = t
                .partitions
                .iter()
                .map(|p| {
                    let (code, text) = if partition_exists(state, &t.topic, *p).is_some() {
                        (
                            ResponseError::ElectionNotNeeded,
                            "Leader election not needed for topic partition.",
                        )
                    } else {
                        (
                            ResponseError::UnknownTopicOrPartition,
                            "The partition does not exist.",
                        )
                    };
                    PartitionResult::default()
                        .with_partition_id(*p)
                        .with_error_code(code.code())
                        .with_error_message(message(text))
                })
                .collect();
            ReplicaElectionResult::default()
                .with_topic(t.topic)
                .with_partition_result(partitions)
        })
        .collect();
    let body = ElectLeadersResponse::default().with_replica_election_results(results);
    Handled::respond(ResponseKind::ElectLeaders(body), version)
}

/// AlterPartitionReassignments: reassigning to this node alone changes nothing; cancelling
/// finds no reassignment; naming any other broker names one that is not registered.
pub fn alter_partition_reassignments(state: &Arc<BrokerState>, req: &Request) -> Handled {
    let version = req.header.request_api_version;
    let request: AlterPartitionReassignmentsRequest = decode_or_close!(req);
    let responses = request
        .topics
        .into_iter()
        .map(|t| {
            let partitions = t
                .partitions
                .iter()
                .map(|p| {
                    let result = reassignment(state, &t.name, p.partition_index, &p.replicas);
                    let (code, text) = match result {
                        Ok(()) => (0, None),
                        Err((code, text)) => (code.code(), message(text)),
                    };
                    ReassignablePartitionResponse::default()
                        .with_partition_index(p.partition_index)
                        .with_error_code(code)
                        .with_error_message(text)
                })
                .collect();
            ReassignableTopicResponse::default()
                .with_name(t.name)
                .with_partitions(partitions)
        })
        .collect();
    let body = AlterPartitionReassignmentsResponse::default()
        .with_allow_replication_factor_change(request.allow_replication_factor_change)
        .with_responses(responses);
    Handled::respond(ResponseKind::AlterPartitionReassignments(body), version)
}

fn reassignment(
    state: &BrokerState,
    topic: &str,
    partition: i32,
    replicas: &Option<Vec<BrokerId>>,
) -> Result<(), (ResponseError, String)> {
    if partition_exists(state, topic, partition).is_none() {
        return Err((
            ResponseError::UnknownTopicOrPartition,
            format!("Unable to find partition {topic}:{partition}."),
        ));
    }
    let Some(replicas) = replicas else {
        return Err((
            ResponseError::NoReassignmentInProgress,
            format!(
                "Unable to cancel reassignment for partition {topic}:{partition}: no reassignment is in progress."
            ),
        ));
    };
    if replicas.is_empty() {
        return Err((
            ResponseError::InvalidReplicaAssignment,
            "The manual partition assignment includes an empty replica list.".into(),
        ));
    }
    match replicas.iter().find(|b| b.0 != state.node_id) {
        Some(other) => Err((
            ResponseError::InvalidReplicaAssignment,
            format!(
                "The manual partition assignment includes broker {}, but no broker with that ID is registered.",
                other.0
            ),
        )),
        None if replicas.len() > 1 => Err((
            ResponseError::InvalidReplicaAssignment,
            "The manual partition assignment includes the broker more than once.".into(),
        )),
        None => Ok(()),
    }
}

/// ListPartitionReassignments: none is ever in progress.
pub fn list_partition_reassignments(_: &Arc<BrokerState>, req: &Request) -> Handled {
    let version = req.header.request_api_version;
    let _request: ListPartitionReassignmentsRequest = decode_or_close!(req);
    let body = ListPartitionReassignmentsResponse::default();
    Handled::respond(ResponseKind::ListPartitionReassignments(body), version)
}

/// AlterReplicaLogDirs: a replica already in the named dir needs nothing; a dir that is not in
/// `log.dirs` is LOG_DIR_NOT_FOUND; Strom does not move a replica between log dirs and says
/// so with KAFKA_STORAGE_ERROR.
pub fn alter_replica_log_dirs(state: &Arc<BrokerState>, req: &Request) -> Handled {
    let version = req.header.request_api_version;
    let request: AlterReplicaLogDirsRequest = decode_or_close!(req);
    let mut results = Vec::new();
    for dir in request.dirs {
        let target = Path::new(dir.path.as_str());
        let known = state.config.log_dirs.iter().any(|d| d == target);
        for t in dir.topics {
            let partitions = t
                .partitions
                .iter()
                .map(|p| {
                    let log = state.logs.get(&TopicPartition::new(t.name.to_string(), *p));
                    let code = match log {
                        None => ResponseError::UnknownTopicOrPartition,
                        Some(_) if !known => ResponseError::LogDirNotFound,
                        Some(log) if log.dir().parent() == Some(target) => {
                            return AlterReplicaLogDirPartitionResult::default()
                                .with_partition_index(*p);
                        }
                        Some(_) => ResponseError::KafkaStorageError,
                    };
                    AlterReplicaLogDirPartitionResult::default()
                        .with_partition_index(*p)
                        .with_error_code(code.code())
                })
                .collect();
            results.push(
                AlterReplicaLogDirTopicResult::default()
                    .with_topic_name(t.name)
                    .with_partitions(partitions),
            );
        }
    }
    let body = AlterReplicaLogDirsResponse::default().with_results(results);
    Handled::respond(ResponseKind::AlterReplicaLogDirs(body), version)
}
