//! DescribeConfigs (key 32): broker and topic configuration with sources and synonyms;
//! AlterConfigs (key 33) and IncrementalAlterConfigs (key 44): topic overrides and dynamic
//! broker configs.

use super::{BrokerState, Handled, Request, decode_or_close};
use crate::config::{ConfigDescription, LogConfig};
use crate::metadata::{ConfigChanges, ConfigOp};
use kafka_protocol::ResponseError;
use kafka_protocol::messages::describe_configs_response::{
    DescribeConfigsResourceResult, DescribeConfigsResult, DescribeConfigsSynonym,
};
use kafka_protocol::messages::{
    AlterConfigsRequest, AlterConfigsResponse, IncrementalAlterConfigsRequest,
    IncrementalAlterConfigsResponse,
};
use kafka_protocol::messages::{DescribeConfigsRequest, DescribeConfigsResponse, ResponseKind};
use kafka_protocol::messages::{alter_configs_response, incremental_alter_configs_response};
use kafka_protocol::protocol::StrBytes;
use std::sync::Arc;

/// Kafka's `ConfigResource.Type` ids.
const TOPIC: i8 = 2;
const BROKER: i8 = 4;
const BROKER_LOGGER: i8 = 8;

pub fn describe_configs(state: &Arc<BrokerState>, req: &Request) -> Handled {
    let version = req.header.request_api_version;
    let request: DescribeConfigsRequest = decode_or_close!(req);
    let results = request
        .resources
        .iter()
        .map(|r| {
            let name = r.resource_name.as_str();
            let result = DescribeConfigsResult::default()
                .with_resource_type(r.resource_type)
                .with_resource_name(r.resource_name.clone());
            let described = match r.resource_type {
                TOPIC => match state.catalog.get(name) {
                    Some(t) => Ok(LogConfig::describe_topic(
                        &state.config,
                        &state.catalog.dynamic_broker_configs(),
                        &t.overrides,
                    )),
                    None => Err((
                        ResponseError::UnknownTopicOrPartition,
                        format!("Topic '{name}' does not exist."),
                    )),
                },
                BROKER if name.is_empty() => Ok(state
                    .config
                    .describe_cluster_default(&state.catalog.dynamic_broker_configs())),
                BROKER if name == state.node_id.to_string() => Ok(state
                    .config
                    .describe(&state.catalog.dynamic_broker_configs())),
                BROKER => Err((
                    ResponseError::InvalidRequest,
                    format!(
                        "Unexpected broker id, expected {} or empty string, but received {name}",
                        state.node_id
                    ),
                )),
                // Strom has no per-logger levels to report; an empty list is a valid answer.
                BROKER_LOGGER => Ok(Vec::new()),
                other => Err((
                    ResponseError::InvalidRequest,
                    format!("Unsupported resource type: {other}"),
                )),
            };
            match described {
                Ok(entries) => result.with_configs(
                    entries
                        .into_iter()
                        .filter(|e| {
                            r.configuration_keys.as_ref().is_none_or(|keys| {
                                keys.is_empty() || keys.iter().any(|k| k.as_str() == e.name)
                            })
                        })
                        .map(|e| entry(e, request.include_synonyms, request.include_documentation))
                        .collect(),
                ),
                Err((code, message)) => result
                    .with_error_code(code.code())
                    .with_error_message(Some(StrBytes::from_string(message))),
            }
        })
        .collect();
    let body = DescribeConfigsResponse::default().with_results(results);
    Handled::respond(ResponseKind::DescribeConfigs(body), version)
}

fn entry(
    e: ConfigDescription,
    synonyms: bool,
    documentation: bool,
) -> DescribeConfigsResourceResult {
    let synonyms = if synonyms {
        e.synonyms
            .into_iter()
            .map(|s| {
                DescribeConfigsSynonym::default()
                    .with_name(StrBytes::from_string(s.name))
                    .with_value(s.value.map(StrBytes::from_string))
                    .with_source(s.source as i8)
            })
            .collect()
    } else {
        Vec::new()
    };
    DescribeConfigsResourceResult::default()
        .with_name(StrBytes::from_string(e.name))
        .with_value(if e.sensitive {
            None
        } else {
            e.value.map(StrBytes::from_string)
        })
        .with_read_only(e.read_only)
        .with_config_source(e.source as i8)
        .with_is_sensitive(e.sensitive)
        .with_config_type(e.config_type)
        .with_synonyms(synonyms)
        .with_documentation(if documentation {
            e.documentation.map(StrBytes::from_string)
        } else {
            None
        })
}

/// Where one resource's changes go: the topic or broker resource, or the error to answer.
fn alter_resource(
    state: &BrokerState,
    resource_type: i8,
    name: &str,
    changes: &ConfigChanges,
    validate_only: bool,
) -> Result<(), (ResponseError, String)> {
    let result = match resource_type {
        TOPIC => state
            .topic_admin
            .alter_topic_configs(name, changes, validate_only),
        BROKER if name.is_empty() || name == state.node_id.to_string() => state
            .topic_admin
            .alter_broker_configs(name, changes, validate_only),
        BROKER => {
            return Err((
                ResponseError::InvalidRequest,
                format!(
                    "Unexpected broker id, expected {} or empty string, but received {name}",
                    state.node_id
                ),
            ));
        }
        BROKER_LOGGER => {
            return Err((
                ResponseError::InvalidRequest,
                "Strom does not change log levels at run time; use RUST_LOG or --log-level".into(),
            ));
        }
        other => {
            return Err((
                ResponseError::InvalidRequest,
                format!("Unsupported resource type: {other}"),
            ));
        }
    };
    result.map_err(|e| (e.code, e.message))
}

/// The error code and message of one resource's outcome.
fn outcome(result: Result<(), (ResponseError, String)>) -> (i16, Option<StrBytes>) {
    match result {
        Ok(()) => (0, None),
        Err((code, message)) => (code.code(), Some(StrBytes::from_string(message))),
    }
}

/// IncrementalAlterConfigs: SET (0), DELETE (1), APPEND (2) and SUBTRACT (3) per config.
pub fn incremental_alter_configs(state: &Arc<BrokerState>, req: &Request) -> Handled {
    let version = req.header.request_api_version;
    let request: IncrementalAlterConfigsRequest = decode_or_close!(req);
    let responses = request
        .resources
        .iter()
        .map(|r| {
            let ops: Result<Vec<(String, ConfigOp)>, _> = r
                .configs
                .iter()
                .map(|c| {
                    let value = c.value.as_ref().map(|v| v.to_string()).unwrap_or_default();
                    let op = match c.config_operation {
                        0 => ConfigOp::Set(value),
                        1 => ConfigOp::Delete,
                        2 => ConfigOp::Append(value),
                        3 => ConfigOp::Subtract(value),
                        other => {
                            return Err((
                                ResponseError::InvalidRequest,
                                format!("Unknown alter config operation {other}"),
                            ));
                        }
                    };
                    Ok((c.name.to_string(), op))
                })
                .collect();
            let result = ops.and_then(|ops| {
                let changes = ConfigChanges {
                    replace: false,
                    ops,
                };
                alter_resource(
                    state,
                    r.resource_type,
                    r.resource_name.as_str(),
                    &changes,
                    request.validate_only,
                )
            });
            let (code, message) = outcome(result);
            incremental_alter_configs_response::AlterConfigsResourceResponse::default()
                .with_resource_type(r.resource_type)
                .with_resource_name(r.resource_name.clone())
                .with_error_code(code)
                .with_error_message(message)
        })
        .collect();
    let body = IncrementalAlterConfigsResponse::default().with_responses(responses);
    Handled::respond(ResponseKind::IncrementalAlterConfigs(body), version)
}

/// AlterConfigs: the resource's whole set of dynamic configs is replaced by the request's.
pub fn alter_configs(state: &Arc<BrokerState>, req: &Request) -> Handled {
    let version = req.header.request_api_version;
    let request: AlterConfigsRequest = decode_or_close!(req);
    let responses = request
        .resources
        .iter()
        .map(|r| {
            let ops = r
                .configs
                .iter()
                .map(|c| {
                    let op = match &c.value {
                        Some(v) => ConfigOp::Set(v.to_string()),
                        None => ConfigOp::Delete,
                    };
                    (c.name.to_string(), op)
                })
                .collect();
            let changes = ConfigChanges { replace: true, ops };
            let result = alter_resource(
                state,
                r.resource_type,
                r.resource_name.as_str(),
                &changes,
                request.validate_only,
            );
            let (code, message) = outcome(result);
            alter_configs_response::AlterConfigsResourceResponse::default()
                .with_resource_type(r.resource_type)
                .with_resource_name(r.resource_name.clone())
                .with_error_code(code)
                .with_error_message(message)
        })
        .collect();
    let body = AlterConfigsResponse::default().with_responses(responses);
    Handled::respond(ResponseKind::AlterConfigs(body), version)
}
