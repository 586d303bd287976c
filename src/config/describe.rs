//! DescribeConfigs answers: every broker or topic config with its value, where the value came
//! from, and the synonyms that could have set it, computed as Kafka's `ConfigHelper` does.

use super::broker_defs::{BROKER_DEFS, broker_def};
use super::log_config::{broker_topic_value, parse_topic_value};
use super::resolve::BrokerValues;
use super::topic_defs::TOPIC_DEFS;
use super::value::ConfigType;
use super::{KafkaConfig, LogConfig};
use std::collections::BTreeMap;

/// Where a config value came from: Kafka's `DescribeConfigsResponse.ConfigSource` ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigSource {
    /// A topic-level override.
    DynamicTopic = 1,
    /// The broker's `server.properties` (or `--override`).
    StaticBroker = 4,
    /// Kafka's built-in default.
    Default = 5,
}

/// A config that could have supplied the value, in precedence order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigSynonym {
    pub name: String,
    pub value: Option<String>,
    pub source: ConfigSource,
}

/// One entry of a DescribeConfigs result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigDescription {
    pub name: String,
    /// The value as Kafka prints it; `None` for null and for sensitive configs.
    pub value: Option<String>,
    pub source: ConfigSource,
    /// Broker configs are read-only: Strom does not change its configuration at run time.
    pub read_only: bool,
    pub sensitive: bool,
    /// Kafka's `ConfigType` id (0 when unknown).
    pub config_type: i8,
    pub documentation: Option<String>,
    pub synonyms: Vec<ConfigSynonym>,
}

/// The broker configs that can set `name` (Kafka's `DynamicBrokerConfig.brokerConfigSynonyms`),
/// highest precedence first.
fn broker_synonyms(name: &str) -> &[&'static str] {
    const ROLL: &[&str] = &["log.roll.ms", "log.roll.hours"];
    const JITTER: &[&str] = &["log.roll.jitter.ms", "log.roll.jitter.hours"];
    const FLUSH: &[&str] = &["log.flush.interval.ms", "log.flush.scheduler.interval.ms"];
    const RETENTION: &[&str] = &[
        "log.retention.ms",
        "log.retention.minutes",
        "log.retention.hours",
    ];
    match name {
        "log.roll.ms" | "log.roll.hours" => ROLL,
        "log.roll.jitter.ms" | "log.roll.jitter.hours" => JITTER,
        "log.flush.interval.ms" => FLUSH,
        "log.retention.ms" | "log.retention.minutes" | "log.retention.hours" => RETENTION,
        _ => match broker_def(name) {
            Some(d) => std::slice::from_ref(&d.name),
            None => &[],
        },
    }
}

/// Kafka's `configSynonyms`: the static (file) values of the synonyms, then their defaults,
/// dropping everything before the first entry for `name` itself. (So `retention.ms` reports
/// no synonyms when only `log.retention.hours` is set, exactly as Kafka does.)
fn synonyms_of(name: &str, originals: &BTreeMap<String, String>) -> Vec<ConfigSynonym> {
    let candidates = broker_synonyms(name);
    let sensitive = broker_def(name).is_some_and(|d| d.ty == ConfigType::Password);
    let shown = |v: String| (!sensitive).then_some(v);
    let statics = candidates.iter().filter_map(|s| {
        originals.get(*s).map(|v| ConfigSynonym {
            name: s.to_string(),
            value: shown(v.clone()),
            source: ConfigSource::StaticBroker,
        })
    });
    let defaults = candidates.iter().filter_map(|s| {
        let value = broker_def(s)?.default_value().to_kafka_string()?;
        Some(ConfigSynonym {
            name: s.to_string(),
            value: shown(value),
            source: ConfigSource::Default,
        })
    });
    statics
        .chain(defaults)
        .skip_while(|s| s.name != name)
        .collect()
}

/// The broker's resolved values, from what it was configured with.
fn broker_values(broker: &KafkaConfig) -> BrokerValues {
    BrokerValues::resolve(&broker.originals, &|_| super::error::Location::Unknown)
        .unwrap_or_else(|_| BrokerValues::defaults())
}

impl KafkaConfig {
    /// Every broker config Strom knows, plus any unknown key the user supplied (reported as
    /// sensitive with no value, as Kafka does), sorted by name.
    pub fn describe(&self) -> Vec<ConfigDescription> {
        let values = broker_values(self);
        let known = BROKER_DEFS.iter().map(|d| {
            let synonyms = synonyms_of(d.name, &self.originals);
            let sensitive = d.ty == ConfigType::Password;
            ConfigDescription {
                name: d.name.to_string(),
                value: values.get(d.name).to_kafka_string().filter(|_| !sensitive),
                source: synonyms.first().map_or(ConfigSource::Default, |s| s.source),
                read_only: true,
                sensitive,
                config_type: d.ty.id(),
                documentation: Some(d.doc.to_string()),
                synonyms,
            }
        });
        let unknown = self
            .originals
            .keys()
            .filter(|k| broker_def(k).is_none())
            .map(|k| ConfigDescription {
                name: k.clone(),
                value: None,
                source: ConfigSource::StaticBroker,
                read_only: true,
                sensitive: true,
                config_type: 0,
                documentation: None,
                synonyms: vec![ConfigSynonym {
                    name: k.clone(),
                    value: None,
                    source: ConfigSource::StaticBroker,
                }],
            });
        let mut all: Vec<ConfigDescription> = known.chain(unknown).collect();
        all.sort_by(|a, b| a.name.cmp(&b.name));
        all
    }
}

impl LogConfig {
    /// Every topic config with value, source (topic override vs broker default) and synonyms
    /// (e.g. retention.ms ← log.retention.ms / log.retention.hours), as Kafka's DescribeConfigs.
    /// Overrides that do not parse (they were checked at creation) show their raw text.
    pub fn describe_topic(
        broker: &KafkaConfig,
        overrides: &BTreeMap<String, String>,
    ) -> Vec<ConfigDescription> {
        let values = broker_values(broker);
        TOPIC_DEFS
            .iter()
            .filter(|t| !t.internal)
            .map(|t| {
                let name = t.def.name;
                let overridden = overrides.get(name).map(|raw| {
                    parse_topic_value(name, raw)
                        .ok()
                        .and_then(|v| v.to_kafka_string())
                        .unwrap_or_else(|| raw.clone())
                });
                let mut synonyms: Vec<ConfigSynonym> = t
                    .broker_synonym
                    .map(|s| synonyms_of(s, &broker.originals))
                    .unwrap_or_default();
                let value = match &overridden {
                    Some(v) => {
                        synonyms.insert(
                            0,
                            ConfigSynonym {
                                name: name.to_string(),
                                value: Some(v.clone()),
                                source: ConfigSource::DynamicTopic,
                            },
                        );
                        Some(v.clone())
                    }
                    None => broker_topic_value(&values, t).to_kafka_string(),
                };
                ConfigDescription {
                    name: name.to_string(),
                    value,
                    source: synonyms.first().map_or(ConfigSource::Default, |s| s.source),
                    read_only: false,
                    sensitive: false,
                    config_type: t.def.ty.id(),
                    documentation: Some(t.def.doc.to_string()),
                    synonyms,
                }
            })
            .collect()
    }
}
