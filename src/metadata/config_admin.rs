//! Configuration changes (IncrementalAlterConfigs, AlterConfigs): topic overrides and dynamic
//! broker configs, checked with Kafka's rules and messages, recorded as `ConfigRecord`s, and
//! applied live: every affected partition log gets its new configuration at once, so a
//! `retention.ms` change takes effect at the next retention pass and a `cleanup.policy`
//! change at the cleaner's next look at the log.

use super::TopicAdmin;
use super::topic_admin::TopicError;
use crate::config::{LogConfig, is_list_config};
use kafka_protocol::ResponseError;
use std::collections::BTreeMap;
use tracing::info;

/// One requested change of one config (IncrementalAlterConfigs' operations).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigOp {
    /// Set the value.
    Set(String),
    /// Remove the override (back to the next source).
    Delete,
    /// Add list items not already there.
    Append(String),
    /// Remove list items.
    Subtract(String),
}

/// The changes to one resource: incremental operations, or (AlterConfigs) the complete new
/// set of overrides.
#[derive(Debug, Clone)]
pub struct ConfigChanges {
    /// Start from no overrides at all (AlterConfigs) instead of the current ones.
    pub replace: bool,
    /// The operations, applied in order.
    pub ops: Vec<(String, ConfigOp)>,
}

/// `current` with `changes` applied; `effective` gives a config's value in force (the base
/// of APPEND/SUBTRACT when there is no override).
fn apply(
    current: &BTreeMap<String, String>,
    changes: &ConfigChanges,
    effective: &dyn Fn(&str) -> Option<String>,
) -> Result<BTreeMap<String, String>, TopicError> {
    let mut next = if changes.replace {
        BTreeMap::new()
    } else {
        current.clone()
    };
    for (name, op) in &changes.ops {
        let list_op = |verb: &str| {
            if is_list_config(name) {
                Ok(())
            } else {
                Err(TopicError::new(
                    ResponseError::InvalidConfig,
                    format!("Config value {verb} is not allowed for config key: {name}"),
                ))
            }
        };
        let items = |s: &str| -> Vec<String> {
            s.split(',')
                .map(str::trim)
                .filter(|i| !i.is_empty())
                .map(str::to_string)
                .collect()
        };
        let base = next
            .get(name)
            .cloned()
            .or_else(|| effective(name))
            .unwrap_or_default();
        match op {
            ConfigOp::Set(value) => {
                next.insert(name.clone(), value.clone());
            }
            ConfigOp::Delete => {
                next.remove(name);
            }
            ConfigOp::Append(value) => {
                list_op("append")?;
                let mut list = items(&base);
                for item in items(value) {
                    if !list.contains(&item) {
                        list.push(item);
                    }
                }
                next.insert(name.clone(), list.join(","));
            }
            ConfigOp::Subtract(value) => {
                list_op("subtract")?;
                let remove = items(value);
                let list: Vec<String> = items(&base)
                    .into_iter()
                    .filter(|i| !remove.contains(i))
                    .collect();
                next.insert(name.clone(), list.join(","));
            }
        }
    }
    Ok(next)
}

impl TopicAdmin {
    /// Changes topic `name`'s overrides. Unknown topic → UNKNOWN_TOPIC_OR_PARTITION; an
    /// unknown config or invalid value → INVALID_CONFIG with Kafka's message.
    pub fn alter_topic_configs(
        &self,
        name: &str,
        changes: &ConfigChanges,
        validate_only: bool,
    ) -> Result<(), TopicError> {
        let _admin = self.lock.lock();
        let Some(info) = self.catalog.get(name) else {
            return Err(TopicError::new(
                ResponseError::UnknownTopicOrPartition,
                format!("The topic '{name}' does not exist."),
            ));
        };
        let broker = &self.defaults.broker;
        let dynamic = self.catalog.dynamic_broker_configs();
        let described = LogConfig::describe_topic(broker, &dynamic, &info.overrides);
        let effective = |key: &str| {
            described
                .iter()
                .find(|d| d.name == key)
                .and_then(|d| d.value.clone())
        };
        let overrides = apply(&info.overrides, changes, &effective)?;
        let config = self
            .catalog
            .broker_defaults()
            .with_overrides(&overrides)
            .map_err(|e| TopicError::new(ResponseError::InvalidConfig, e.to_string()))?;
        if validate_only || overrides == info.overrides {
            return Ok(());
        }
        let mut next = (*info).clone();
        next.overrides = overrides;
        next.config = config;
        let next = self
            .catalog
            .put(next)
            .map_err(|e| TopicError::new(ResponseError::KafkaStorageError, e.to_string()))?;
        self.apply_to_logs(&next.name, &next.config);
        info!(
            "Updated configs of topic {name}: {}",
            describe_overrides(&next.overrides)
        );
        Ok(())
    }

    /// Changes the dynamic configs of broker resource `resource` (this node's id, or "" for
    /// the cluster default) and applies the new broker defaults to every topic without its own
    /// override. A config Kafka cannot change at run time, or a bad value → INVALID_REQUEST.
    pub fn alter_broker_configs(
        &self,
        resource: &str,
        changes: &ConfigChanges,
        validate_only: bool,
    ) -> Result<(), TopicError> {
        let _admin = self.lock.lock();
        let broker = &self.defaults.broker;
        let current = self.catalog.broker_configs(resource);
        let dynamic = self.catalog.dynamic_broker_configs();
        let described = broker.describe(&dynamic);
        let effective = |key: &str| {
            described
                .iter()
                .find(|d| d.name == key)
                .and_then(|d| d.value.clone())
        };
        let next = apply(&current, changes, &effective)
            .map_err(|e| TopicError::new(ResponseError::InvalidRequest, e.message))?;
        let mut updates: BTreeMap<String, Option<String>> = next
            .iter()
            .filter(|(k, v)| current.get(*k) != Some(*v))
            .map(|(k, v)| (k.clone(), Some(v.clone())))
            .collect();
        updates.extend(
            current
                .keys()
                .filter(|k| !next.contains_key(*k))
                .map(|k| (k.clone(), None)),
        );
        broker
            .check_dynamic_update(&updates)
            .map_err(|m| TopicError::new(ResponseError::InvalidRequest, m))?;
        if validate_only || updates.is_empty() {
            return Ok(());
        }
        self.catalog
            .set_broker_configs(resource, next.clone())
            .map_err(|e| TopicError::new(ResponseError::KafkaStorageError, e.to_string()))?;
        let defaults = broker.log_defaults(&self.catalog.dynamic_broker_configs());
        for topic in self.catalog.apply_broker_defaults(defaults) {
            self.apply_to_logs(&topic.name, &topic.config);
        }
        let whom = if resource.is_empty() {
            "the cluster default".to_string()
        } else {
            format!("broker {resource}")
        };
        info!(
            "Updated dynamic configs of {whom}: {}",
            describe_overrides(&next)
        );
        Ok(())
    }

    /// Hands `config` to every partition log of `topic` (through the log manager, so the log
    /// cleaner starts or stops compacting when `cleanup.policy` changes).
    fn apply_to_logs(&self, topic: &str, config: &LogConfig) {
        self.logs.update_topic_config(topic, config);
    }
}

fn describe_overrides(configs: &BTreeMap<String, String>) -> String {
    configs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn changes(replace: bool, ops: &[(&str, ConfigOp)]) -> ConfigChanges {
        ConfigChanges {
            replace,
            ops: ops
                .iter()
                .map(|(k, o)| (k.to_string(), o.clone()))
                .collect(),
        }
    }

    #[test]
    fn operations_as_kafka_applies_them() {
        let current = BTreeMap::from([("retention.ms".to_string(), "5".to_string())]);
        let effective = |k: &str| (k == "cleanup.policy").then(|| "delete".to_string());
        let next = apply(
            &current,
            &changes(
                false,
                &[
                    ("cleanup.policy", ConfigOp::Append("compact".into())),
                    ("retention.ms", ConfigOp::Delete),
                    ("segment.ms", ConfigOp::Set("100".into())),
                ],
            ),
            &effective,
        )
        .unwrap();
        assert_eq!(
            next,
            BTreeMap::from([
                ("cleanup.policy".to_string(), "delete,compact".to_string()),
                ("segment.ms".to_string(), "100".to_string())
            ])
        );
        let next = apply(
            &next,
            &changes(
                false,
                &[("cleanup.policy", ConfigOp::Subtract("delete".into()))],
            ),
            &effective,
        )
        .unwrap();
        assert_eq!(next["cleanup.policy"], "compact");
        let err = apply(
            &current,
            &changes(false, &[("retention.ms", ConfigOp::Append("1".into()))]),
            &effective,
        )
        .unwrap_err();
        assert_eq!(
            (err.code, err.message.as_str()),
            (
                ResponseError::InvalidConfig,
                "Config value append is not allowed for config key: retention.ms"
            )
        );
        let replaced = apply(
            &current,
            &changes(true, &[("segment.ms", ConfigOp::Set("1".into()))]),
            &effective,
        )
        .unwrap();
        assert_eq!(replaced.len(), 1);
    }
}
