//! CreateTopics (19), DeleteTopics (20), CreatePartitions (37): requests decoded into calls
//! of [`crate::metadata::TopicAdmin`], its results encoded.

use super::{BrokerState, Handled, Request, decode_or_close};
use crate::config::LogConfig;
use crate::metadata::{NewTopic, TopicError, TopicInfo};
use kafka_protocol::ResponseError;
use kafka_protocol::messages::create_partitions_response::CreatePartitionsTopicResult;
use kafka_protocol::messages::create_topics_response::{
    CreatableTopicConfigs, CreatableTopicResult,
};
use kafka_protocol::messages::delete_topics_response::DeletableTopicResult;
use kafka_protocol::messages::{
    CreatePartitionsRequest, CreatePartitionsResponse, CreateTopicsRequest, CreateTopicsResponse,
    DeleteTopicsRequest, DeleteTopicsResponse, ResponseKind, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use std::collections::BTreeMap;
use std::sync::Arc;
use uuid::Uuid;

/// The configs of a created topic as CreateTopics v5+ reports them.
fn topic_configs(state: &BrokerState, info: &TopicInfo) -> Vec<CreatableTopicConfigs> {
    LogConfig::describe_topic(
        &state.config,
        &state.catalog.dynamic_broker_configs(),
        &info.overrides,
    )
    .into_iter()
    .map(|d| {
        CreatableTopicConfigs::default()
            .with_name(str_bytes(d.name))
            .with_value(if d.sensitive {
                None
            } else {
                d.value.map(str_bytes)
            })
            .with_read_only(d.read_only)
            .with_config_source(d.source as i8)
            .with_is_sensitive(d.sensitive)
    })
    .collect()
}

fn str_bytes(s: impl Into<String>) -> StrBytes {
    StrBytes::from_string(s.into())
}

pub fn create_topics(state: &Arc<BrokerState>, req: &Request) -> Handled {
    let version = req.header.request_api_version;
    let request: CreateTopicsRequest = decode_or_close!(req);
    let mut seen = std::collections::HashSet::new();
    let results = request
        .topics
        .iter()
        .map(|t| {
            let name = t.name.as_str();
            let result = CreatableTopicResult::default().with_name(t.name.clone());
            if !seen.insert(name.to_string()) {
                return result
                    .with_error_code(ResponseError::InvalidRequest.code())
                    .with_error_message(Some(str_bytes(format!(
                        "Create topics request from client contains multiple entries for topic {name}"
                    ))));
            }
            let outcome = requested_topic(state, t)
                .and_then(|nt| state.topic_admin.create(nt, request.validate_only));
            match outcome {
                Ok(info) => {
                    let mut result = result
                        .with_error_message(None)
                        .with_num_partitions(info.partitions)
                        .with_replication_factor(1);
                    // v5+ lists the new topic's configs with their sources, as Kafka does.
                    if version >= 5 {
                        result = result.with_configs(Some(topic_configs(state, &info)));
                    }
                    if request.validate_only { result } else { result.with_topic_id(info.id) }
                }
                Err(e) => result
                    .with_error_code(e.code.code())
                    .with_error_message(Some(str_bytes(e.message)))
                    .with_num_partitions(-1)
                    .with_replication_factor(-1),
            }
        })
        .collect();
    let body = CreateTopicsResponse::default().with_topics(results);
    Handled::respond(ResponseKind::CreateTopics(body), version)
}

fn requested_topic<'a>(
    state: &BrokerState,
    t: &'a kafka_protocol::messages::create_topics_request::CreatableTopic,
) -> Result<NewTopic<'a>, TopicError> {
    let mut configs = BTreeMap::new();
    for c in &t.configs {
        match &c.value {
            Some(v) => {
                configs.insert(c.name.to_string(), v.to_string());
            }
            None => {
                return Err(TopicError::new(
                    ResponseError::InvalidConfig,
                    format!(
                        "Null value not supported for topic configs: {}",
                        c.name.as_str()
                    ),
                ));
            }
        }
    }
    let (partitions, replication_factor) = if t.assignments.is_empty() {
        let partitions = if t.num_partitions == -1 {
            state.config.num_partitions
        } else {
            t.num_partitions
        };
        let rf = if t.replication_factor == -1 {
            state.config.default_replication_factor
        } else {
            t.replication_factor
        };
        (partitions, rf)
    } else {
        if t.num_partitions != -1 || t.replication_factor != -1 {
            return Err(TopicError::new(
                ResponseError::InvalidRequest,
                "Both numPartitions or replicationFactor and replicasAssignments were set. Both cannot be used at the same time.",
            ));
        }
        for (i, a) in t.assignments.iter().enumerate() {
            if a.partition_index != i as i32 {
                return Err(TopicError::new(
                    ResponseError::InvalidReplicaAssignment,
                    "Partitions should be a consecutive 0-based integer sequence",
                ));
            }
            if a.broker_ids.iter().any(|b| b.0 != state.node_id) {
                return Err(TopicError::new(
                    ResponseError::InvalidReplicaAssignment,
                    format!(
                        "The manual partition assignment includes a broker that is not registered: {:?}",
                        a.broker_ids.iter().map(|b| b.0).collect::<Vec<_>>()
                    ),
                ));
            }
        }
        let rf = t
            .assignments
            .iter()
            .map(|a| a.broker_ids.len())
            .max()
            .unwrap_or(0) as i16;
        (t.assignments.len() as i32, rf)
    };
    Ok(NewTopic {
        name: t.name.as_str(),
        partitions,
        replication_factor,
        configs,
    })
}

pub fn delete_topics(state: &Arc<BrokerState>, req: &Request) -> Handled {
    let version = req.header.request_api_version;
    let request: DeleteTopicsRequest = decode_or_close!(req);
    // v6 names topics by name or id; older versions by name only.
    let targets: Vec<(Option<TopicName>, Uuid)> = if version >= 6 {
        request
            .topics
            .iter()
            .map(|t| (t.name.clone(), t.topic_id))
            .collect()
    } else {
        request
            .topic_names
            .iter()
            .map(|n| (Some(n.clone()), Uuid::nil()))
            .collect()
    };
    let results = targets
        .into_iter()
        .map(|(name, id)| {
            let found = match &name {
                Some(n) => state.catalog.get(n.as_str()),
                None => state.catalog.get_by_id(&id),
            };
            let result = DeletableTopicResult::default()
                .with_name(name.clone())
                .with_topic_id(id);
            let Some(info) = found else {
                let code = if name.is_some() {
                    ResponseError::UnknownTopicOrPartition
                } else {
                    ResponseError::UnknownTopicId
                };
                return result.with_error_code(code.code());
            };
            let result = result
                .with_name(Some(TopicName(str_bytes(info.name.clone()))))
                .with_topic_id(info.id);
            if !state.config.delete_topic_enable {
                return result
                    .with_error_code(ResponseError::TopicDeletionDisabled.code())
                    .with_error_message(Some(str_bytes("Topic deletion is disabled.")));
            }
            match state.topic_admin.delete(&info) {
                Ok(()) => result,
                Err(e) => result
                    .with_error_code(e.code.code())
                    .with_error_message(Some(str_bytes(e.message))),
            }
        })
        .collect();
    let body = DeleteTopicsResponse::default().with_responses(results);
    Handled::respond(ResponseKind::DeleteTopics(body), version)
}

pub fn create_partitions(state: &Arc<BrokerState>, req: &Request) -> Handled {
    let version = req.header.request_api_version;
    let request: CreatePartitionsRequest = decode_or_close!(req);
    let results = request
        .topics
        .iter()
        .map(|t| {
            let result = CreatePartitionsTopicResult::default().with_name(t.name.clone());
            let assignments: Option<Vec<Vec<i32>>> = t.assignments.as_ref().map(|a| {
                a.iter()
                    .map(|p| p.broker_ids.iter().map(|b| b.0).collect())
                    .collect()
            });
            let outcome = state.topic_admin.add_partitions(
                t.name.as_str(),
                t.count,
                assignments.as_deref(),
                request.validate_only,
            );
            match outcome {
                Ok(()) => result.with_error_message(None),
                Err(e) => result
                    .with_error_code(e.code.code())
                    .with_error_message(Some(str_bytes(e.message))),
            }
        })
        .collect();
    let body = CreatePartitionsResponse::default().with_results(results);
    Handled::respond(ResponseKind::CreatePartitions(body), version)
}
