//! DescribeConfigs (key 32): broker and topic configuration with sources and synonyms.

use super::{BrokerState, Handled, Request, decode_or_close};
use crate::config::{ConfigDescription, LogConfig};
use kafka_protocol::ResponseError;
use kafka_protocol::messages::describe_configs_response::{
    DescribeConfigsResourceResult, DescribeConfigsResult, DescribeConfigsSynonym,
};
use kafka_protocol::messages::{DescribeConfigsRequest, DescribeConfigsResponse, ResponseKind};
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
                    Some(t) => Ok(LogConfig::describe_topic(&state.config, &t.overrides)),
                    None => Err((
                        ResponseError::UnknownTopicOrPartition,
                        format!("Topic '{name}' does not exist."),
                    )),
                },
                BROKER if name.is_empty() || name == state.node_id.to_string() => {
                    Ok(state.config.describe())
                }
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
