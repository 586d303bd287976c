//! CreateTopics (19), DeleteTopics (20), CreatePartitions (37) and auto-creation.

use super::{BrokerState, Handled, Request, decode_or_close};
use crate::config::LogConfig;
use crate::log::TopicPartition;
use crate::metadata::{TopicInfo, validate_topic_name};
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
use tracing::{info, warn};
use uuid::Uuid;

/// A topic-creation failure: Kafka error code plus its message.
#[derive(Debug)]
pub struct TopicError {
    pub code: ResponseError,
    pub message: String,
}

impl TopicError {
    fn new(code: ResponseError, message: impl Into<String>) -> TopicError {
        TopicError {
            code,
            message: message.into(),
        }
    }
}

/// What a topic creation asks for, after defaults are applied.
pub struct NewTopic<'a> {
    pub name: &'a str,
    pub partitions: i32,
    pub replication_factor: i16,
    pub configs: BTreeMap<String, String>,
}

/// Validates and (unless `validate_only`) creates a topic: catalog entry first, then one log per
/// partition, so a crash in between leaves a topic whose missing logs start-up recreates.
pub fn create_topic(
    state: &BrokerState,
    topic: NewTopic<'_>,
    validate_only: bool,
) -> Result<Arc<TopicInfo>, TopicError> {
    let _admin = state.topic_admin.lock();
    validate_new_topic(state, &topic)?;
    let config = state
        .catalog
        .broker_defaults()
        .with_overrides(&topic.configs)
        .map_err(|e| TopicError::new(ResponseError::InvalidConfig, e.to_string()))?;
    let info = TopicInfo {
        name: topic.name.to_string(),
        id: Uuid::new_v4(),
        partitions: topic.partitions,
        overrides: topic.configs,
        config,
    };
    if validate_only {
        return Ok(Arc::new(info));
    }
    let info = state
        .catalog
        .put(info)
        .map_err(|e| TopicError::new(ResponseError::KafkaStorageError, e.to_string()))?;
    for p in 0..info.partitions {
        let tp = TopicPartition {
            topic: info.name.clone(),
            partition: p,
        };
        if let Err(e) = state.logs.get_or_create(&tp, info.id, info.config.clone()) {
            warn!("Failed to create log for {tp}: {e}");
            let _ = state.catalog.remove(&info.name);
            return Err(TopicError::new(
                ResponseError::KafkaStorageError,
                e.to_string(),
            ));
        }
    }
    info!(
        "Created topic {} with topic ID {} and {} partition(s)",
        info.name, info.id, info.partitions
    );
    Ok(info)
}

fn validate_new_topic(state: &BrokerState, topic: &NewTopic<'_>) -> Result<(), TopicError> {
    validate_topic_name(topic.name)
        .map_err(|e| TopicError::new(ResponseError::InvalidTopicException, e.to_string()))?;
    if state.catalog.get(topic.name).is_some() {
        return Err(TopicError::new(
            ResponseError::TopicAlreadyExists,
            format!("Topic '{}' already exists.", topic.name),
        ));
    }
    let unified = crate::metadata::unify_collision_chars(topic.name);
    if let Some(other) = state
        .catalog
        .names()
        .into_iter()
        .find(|n| crate::metadata::unify_collision_chars(n) == unified)
    {
        return Err(TopicError::new(
            ResponseError::InvalidTopicException,
            format!(
                "Topic '{}' collides with existing topic: {other}",
                topic.name
            ),
        ));
    }
    if topic.partitions <= 0 {
        return Err(TopicError::new(
            ResponseError::InvalidPartitions,
            "Number of partitions was set to an invalid non-positive value.",
        ));
    }
    if topic.replication_factor <= 0 {
        return Err(TopicError::new(
            ResponseError::InvalidReplicationFactor,
            "Replication factor must be larger than 0, or -1 to use the default value.",
        ));
    }
    if topic.replication_factor > 1 {
        return Err(TopicError::new(
            ResponseError::InvalidReplicationFactor,
            format!(
                "Unable to replicate the partition {rf} time(s): The target replication factor of {rf} cannot be reached because only 1 broker(s) are registered.",
                rf = topic.replication_factor
            ),
        ));
    }
    Ok(())
}

/// Result of creating a topic on first use (Metadata with auto-create allowed).
pub enum AutoCreate {
    Created(Arc<TopicInfo>),
    Failed(i16),
}

/// Creates `name` with the broker defaults (`num.partitions`, `default.replication.factor`).
pub fn auto_create_topic(state: &BrokerState, name: &str) -> AutoCreate {
    let topic = NewTopic {
        name,
        partitions: state.config.num_partitions,
        replication_factor: state.config.default_replication_factor,
        configs: BTreeMap::new(),
    };
    match create_topic(state, topic, false) {
        Ok(t) => AutoCreate::Created(t),
        // Lost a race with another creator: use theirs.
        Err(e) if e.code == ResponseError::TopicAlreadyExists => match state.catalog.get(name) {
            Some(t) => AutoCreate::Created(t),
            None => AutoCreate::Failed(ResponseError::UnknownTopicOrPartition.code()),
        },
        Err(e) => AutoCreate::Failed(e.code.code()),
    }
}

/// The configs of a created topic as CreateTopics v5+ reports them.
fn topic_configs(state: &BrokerState, info: &TopicInfo) -> Vec<CreatableTopicConfigs> {
    LogConfig::describe_topic(&state.config, &info.overrides)
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
            let outcome = requested_topic(state, t).and_then(|nt| create_topic(state, nt, request.validate_only));
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

/// Deletes a topic: catalog entry and every partition log.
fn delete_topic(state: &BrokerState, info: &TopicInfo) -> Result<(), TopicError> {
    let _admin = state.topic_admin.lock();
    state
        .catalog
        .remove(&info.name)
        .map_err(|e| TopicError::new(ResponseError::KafkaStorageError, e.to_string()))?;
    state.groups.on_topic_deleted(&info.name);
    for p in 0..info.partitions {
        let tp = TopicPartition {
            topic: info.name.clone(),
            partition: p,
        };
        if let Err(e) = state.logs.delete(&tp) {
            warn!("Failed to delete log for {tp}: {e}");
        }
    }
    info!("Deleted topic {} with topic ID {}", info.name, info.id);
    Ok(())
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
            match delete_topic(state, &info) {
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
            match add_partitions(state, t, request.validate_only) {
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

fn add_partitions(
    state: &BrokerState,
    t: &kafka_protocol::messages::create_partitions_request::CreatePartitionsTopic,
    validate_only: bool,
) -> Result<(), TopicError> {
    let _admin = state.topic_admin.lock();
    let Some(info) = state.catalog.get(t.name.as_str()) else {
        return Err(TopicError::new(
            ResponseError::UnknownTopicOrPartition,
            format!("The topic '{}' does not exist.", t.name.as_str()),
        ));
    };
    if t.count < info.partitions {
        return Err(TopicError::new(
            ResponseError::InvalidPartitions,
            format!(
                "Topic currently has {} partitions, which is higher than the requested {}.",
                info.partitions, t.count
            ),
        ));
    }
    if t.count == info.partitions {
        return Err(TopicError::new(
            ResponseError::InvalidPartitions,
            format!("Topic already has {} partitions.", info.partitions),
        ));
    }
    if let Some(assignments) = &t.assignments {
        let added = (t.count - info.partitions) as usize;
        if assignments.len() != added {
            return Err(TopicError::new(
                ResponseError::InvalidReplicaAssignment,
                format!(
                    "Attempted to add {added} additional partition(s), but only {} assignment(s) were specified.",
                    assignments.len()
                ),
            ));
        }
        if assignments
            .iter()
            .any(|a| a.broker_ids.iter().any(|b| b.0 != state.node_id))
        {
            return Err(TopicError::new(
                ResponseError::InvalidReplicaAssignment,
                "The manual partition assignment includes a broker that is not registered.",
            ));
        }
    }
    if validate_only {
        return Ok(());
    }
    let mut grown = (*info).clone();
    grown.partitions = t.count;
    let grown = state
        .catalog
        .put(grown)
        .map_err(|e| TopicError::new(ResponseError::KafkaStorageError, e.to_string()))?;
    for p in info.partitions..grown.partitions {
        let tp = TopicPartition {
            topic: grown.name.clone(),
            partition: p,
        };
        state
            .logs
            .get_or_create(&tp, grown.id, grown.config.clone())
            .map_err(|e| TopicError::new(ResponseError::KafkaStorageError, e.to_string()))?;
    }
    info!(
        "Increased partition count of topic {} from {} to {}",
        grown.name, info.partitions, grown.partitions
    );
    Ok(())
}
