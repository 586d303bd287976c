//! DescribeConfigs answers: every broker or topic config with its value, where the value came
//! from, and the synonyms that could have set it, computed as Kafka's `ConfigHelper` does.

use super::broker_defs::{BROKER_DEFS, broker_def};
use super::dynamic::{DynamicBrokerConfigs, is_dynamic_broker_config};
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
    /// A dynamic config of this broker.
    DynamicBroker = 2,
    /// A dynamic config of every broker (the cluster default).
    DynamicDefaultBroker = 3,
    /// The broker's `server.properties` (or `--override`).
    StaticBroker = 4,
    /// Kafka's built-in default.
    Default = 5,
}

/// A config that could have supplied the value, in precedence order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigSynonym {
    /// The synonym's config name (e.g. `log.retention.hours` for `retention.ms`).
    pub name: String,
    /// Its value there, as Kafka prints it.
    pub value: Option<String>,
    /// Where that value comes from.
    pub source: ConfigSource,
}

/// One entry of a DescribeConfigs result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigDescription {
    /// The config's name.
    pub name: String,
    /// The value as Kafka prints it; `None` for null and for sensitive configs.
    pub value: Option<String>,
    /// Where the value in effect comes from (topic override, static broker config, default).
    pub source: ConfigSource,
    /// Whether the config cannot change at run time (broker configs outside Kafka's dynamic
    /// set).
    pub read_only: bool,
    /// A password or key: its value is never shown.
    pub sensitive: bool,
    /// Kafka's `ConfigType` id (0 when unknown).
    pub config_type: i8,
    /// Kafka's documentation line, for DescribeConfigs v3+ `include_documentation`.
    pub documentation: Option<String>,
    /// Every config that could supply the value, highest precedence first (v1+
    /// `include_synonyms`).
    pub synonyms: Vec<ConfigSynonym>,
}

/// The broker configs that can set `name` (Kafka's `DynamicBrokerConfig.brokerConfigSynonyms`),
/// highest precedence first.
pub(crate) fn broker_synonyms(name: &str) -> &[&'static str] {
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

/// Kafka's `configSynonyms`: the synonyms' dynamic values for this broker, then the dynamic
/// cluster defaults, then the static (file) values, then their defaults, dropping everything
/// before the first entry for `name` itself. (So `retention.ms` reports no synonyms when only
/// `log.retention.hours` is set, exactly as Kafka does.)
fn synonyms_of(
    name: &str,
    originals: &BTreeMap<String, String>,
    dynamic: &DynamicBrokerConfigs,
) -> Vec<ConfigSynonym> {
    let candidates = broker_synonyms(name);
    let sensitive = broker_def(name).is_some_and(|d| d.ty == ConfigType::Password);
    let shown = |v: String| (!sensitive).then_some(v);
    let layer = |map: &BTreeMap<String, String>, source: ConfigSource| -> Vec<ConfigSynonym> {
        candidates
            .iter()
            .filter_map(|s| {
                map.get(*s).map(|v| ConfigSynonym {
                    name: s.to_string(),
                    value: shown(v.clone()),
                    source,
                })
            })
            .collect()
    };
    let statics = layer(&dynamic.broker, ConfigSource::DynamicBroker)
        .into_iter()
        .chain(layer(
            &dynamic.cluster_default,
            ConfigSource::DynamicDefaultBroker,
        ))
        .chain(layer(originals, ConfigSource::StaticBroker));
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

/// The broker's resolved values, from what it was configured with and the dynamic configs.
fn broker_values(broker: &KafkaConfig, dynamic: &DynamicBrokerConfigs) -> BrokerValues {
    BrokerValues::resolve(&dynamic.merged(&broker.originals), &|_| {
        super::error::Location::Unknown
    })
    .unwrap_or_else(|_| BrokerValues::defaults())
}

impl KafkaConfig {
    /// Every broker config Strom knows, plus any unknown key the user supplied (reported as
    /// sensitive with no value, as Kafka does), sorted by name.
    pub fn describe(&self, dynamic: &DynamicBrokerConfigs) -> Vec<ConfigDescription> {
        let values = broker_values(self, dynamic);
        let known = BROKER_DEFS.iter().map(|d| {
            let synonyms = synonyms_of(d.name, &self.originals, dynamic);
            let sensitive = d.ty == ConfigType::Password;
            ConfigDescription {
                name: d.name.to_string(),
                value: values.get(d.name).to_kafka_string().filter(|_| !sensitive),
                source: synonyms.first().map_or(ConfigSource::Default, |s| s.source),
                read_only: !is_dynamic_broker_config(d.name),
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

impl KafkaConfig {
    /// The cluster-default broker resource ("" / `--entity-default`), as Kafka describes it:
    /// only the configs set there, each with that one source.
    pub fn describe_cluster_default(
        &self,
        dynamic: &DynamicBrokerConfigs,
    ) -> Vec<ConfigDescription> {
        dynamic
            .cluster_default
            .iter()
            .map(|(name, value)| {
                let def = broker_def(name);
                let sensitive = def.is_none_or(|d| d.ty == ConfigType::Password);
                let shown = (!sensitive).then(|| value.clone());
                ConfigDescription {
                    name: name.clone(),
                    value: shown.clone(),
                    source: ConfigSource::DynamicDefaultBroker,
                    read_only: false,
                    sensitive,
                    config_type: def.map_or(0, |d| d.ty.id()),
                    documentation: def.map(|d| d.doc.to_string()),
                    synonyms: vec![ConfigSynonym {
                        name: name.clone(),
                        value: shown,
                        source: ConfigSource::DynamicDefaultBroker,
                    }],
                }
            })
            .collect()
    }
}

impl LogConfig {
    /// Every topic config with value, source (topic override vs broker default) and synonyms
    /// (e.g. retention.ms ← log.retention.ms / log.retention.hours), as Kafka's DescribeConfigs.
    /// Overrides that do not parse (they were checked at creation) show their raw text.
    pub fn describe_topic(
        broker: &KafkaConfig,
        dynamic: &DynamicBrokerConfigs,
        overrides: &BTreeMap<String, String>,
    ) -> Vec<ConfigDescription> {
        let values = broker_values(broker, dynamic);
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
                    .map(|s| synonyms_of(s, &broker.originals, dynamic))
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

#[cfg(test)]
mod tests {
    //! Expected values were read from DescribeConfigs of a real Kafka 4.1.1 broker started
    //! with [`DESCRIBED`] (topic t1 created with two overrides, t2 without).
    use super::*;
    use crate::config::Properties;

    fn described() -> KafkaConfig {
        let props = Properties::parse(DESCRIBED).expect("valid syntax");
        KafkaConfig::from_properties(&props, "server.properties")
            .expect("loads")
            .config
    }

    /// The configuration DescribeConfigs was compared on with Apache Kafka 4.1.1.
    const DESCRIBED: &str = "\
    node.id=1
    process.roles=broker,controller
    controller.quorum.voters=1@127.0.0.1:39193
    controller.listener.names=CONTROLLER
    listeners=PLAINTEXT://127.0.0.1:39192,CONTROLLER://127.0.0.1:39193
    log.dirs=/tmp/kc/logs
    log.retention.hours=100
    offsets.topic.replication.factor=1
    transaction.state.log.replication.factor=1
    transaction.state.log.min.isr=1
    foo.bar=1
    ";

    fn syn(name: &str, value: Option<&str>, source: ConfigSource) -> ConfigSynonym {
        ConfigSynonym {
            name: name.into(),
            value: value.map(str::to_string),
            source,
        }
    }

    fn find<'a>(all: &'a [ConfigDescription], name: &str) -> &'a ConfigDescription {
        all.iter()
            .find(|d| d.name == name)
            .unwrap_or_else(|| panic!("{name} is described"))
    }

    #[test]
    fn broker_describe_matches_kafka() {
        use ConfigSource::{Default, StaticBroker};
        let config = described();
        let all = config.describe(&DynamicBrokerConfigs::default());
        assert!(all.windows(2).all(|w| w[0].name < w[1].name));

        let e = find(&all, "broker.id");
        assert_eq!((e.value.as_deref(), e.source), (Some("1"), StaticBroker));
        assert_eq!(
            e.synonyms,
            [
                syn("broker.id", Some("1"), StaticBroker),
                syn("broker.id", Some("-1"), Default)
            ]
        );
        let e = find(&all, "log.retention.hours");
        assert_eq!(
            e.synonyms,
            [
                syn("log.retention.hours", Some("100"), StaticBroker),
                syn("log.retention.hours", Some("168"), Default)
            ]
        );
        assert_eq!(e.config_type, 3);
        let e = find(&all, "log.retention.ms");
        assert_eq!((e.value.as_deref(), e.source), (None, Default));
        assert!(e.synonyms.is_empty());
        let e = find(&all, "listeners");
        assert_eq!(
            e.synonyms,
            [
                syn(
                    "listeners",
                    Some("PLAINTEXT://127.0.0.1:39192,CONTROLLER://127.0.0.1:39193"),
                    StaticBroker
                ),
                syn("listeners", Some("PLAINTEXT://:9092"), Default)
            ]
        );
        let e = find(&all, "controller.quorum.bootstrap.servers");
        assert_eq!(e.value.as_deref(), Some(""));
        assert_eq!(
            e.synonyms,
            [syn(
                "controller.quorum.bootstrap.servers",
                Some(""),
                Default
            )]
        );
        let e = find(&all, "advertised.listeners");
        assert_eq!((e.value.as_deref(), e.source), (None, Default));
        let e = find(&all, "log.flush.interval.messages");
        assert_eq!(e.value.as_deref(), Some("9223372036854775807"));
        let e = find(&all, "log.cleaner.min.cleanable.ratio");
        assert_eq!((e.value.as_deref(), e.config_type), (Some("0.5"), 6));
        let e = find(&all, "foo.bar");
        assert!(e.sensitive);
        assert_eq!((e.value.as_deref(), e.source), (None, StaticBroker));
        assert!(find(&all, "node.id").read_only);
        assert!(!find(&all, "log.retention.hours").read_only);
    }

    /// As Kafka 4.4 describes `retention.ms` of a topic with an override while broker 1 has a
    /// dynamic `log.retention.ms`, and `compression.type` with a cluster-wide dynamic default.
    #[test]
    fn dynamic_sources_and_synonyms_match_kafka() {
        use ConfigSource::{Default, DynamicBroker, DynamicDefaultBroker, DynamicTopic};
        let config = described();
        let mut dynamic = DynamicBrokerConfigs::default();
        dynamic
            .broker
            .insert("log.retention.ms".into(), "99999999".into());
        dynamic
            .cluster_default
            .insert("compression.type".into(), "zstd".into());
        let overrides = BTreeMap::from([("retention.ms".to_string(), "123456789".to_string())]);
        let t = LogConfig::describe_topic(&config, &dynamic, &overrides);
        assert_eq!(
            find(&t, "retention.ms").synonyms,
            [
                syn("retention.ms", Some("123456789"), DynamicTopic),
                syn("log.retention.ms", Some("99999999"), DynamicBroker),
                syn(
                    "log.retention.hours",
                    Some("100"),
                    ConfigSource::StaticBroker
                ),
                syn("log.retention.hours", Some("168"), Default),
            ]
        );
        let e = find(&t, "compression.type");
        assert_eq!(
            (e.value.as_deref(), e.source),
            (Some("zstd"), DynamicDefaultBroker)
        );
        assert_eq!(
            e.synonyms,
            [
                syn("compression.type", Some("zstd"), DynamicDefaultBroker),
                syn("compression.type", Some("producer"), Default),
            ]
        );
        let b = config.describe(&dynamic);
        let e = find(&b, "log.retention.ms");
        assert_eq!(
            (e.value.as_deref(), e.source),
            (Some("99999999"), DynamicBroker)
        );
    }

    #[test]
    fn topic_describe_matches_kafka() {
        use ConfigSource::{Default, DynamicTopic};
        let config = described();
        let overrides = BTreeMap::from([
            ("retention.ms".to_string(), "1234".to_string()),
            ("segment.bytes".to_string(), "2000000".to_string()),
        ]);
        let t1 = LogConfig::describe_topic(&config, &DynamicBrokerConfigs::default(), &overrides);
        assert_eq!(t1.len(), 33);
        assert!(t1.windows(2).all(|w| w[0].name < w[1].name));
        let e = find(&t1, "retention.ms");
        assert_eq!((e.value.as_deref(), e.source), (Some("1234"), DynamicTopic));
        assert_eq!(
            e.synonyms,
            [syn("retention.ms", Some("1234"), DynamicTopic)]
        );
        let e = find(&t1, "segment.bytes");
        assert_eq!(
            e.synonyms,
            [
                syn("segment.bytes", Some("2000000"), DynamicTopic),
                syn("log.segment.bytes", Some("1073741824"), Default)
            ]
        );
        assert!(!e.read_only);

        let t2 =
            LogConfig::describe_topic(&config, &DynamicBrokerConfigs::default(), &BTreeMap::new());
        let e = find(&t2, "retention.ms");
        assert_eq!((e.value.as_deref(), e.source), (Some("360000000"), Default));
        assert!(e.synonyms.is_empty());
        for (name, value) in [
            ("flush.ms", "9223372036854775807"),
            ("segment.ms", "604800000"),
            ("segment.jitter.ms", "0"),
            ("follower.replication.throttled.replicas", ""),
            ("remote.storage.enable", "false"),
        ] {
            let e = find(&t2, name);
            assert_eq!(e.value.as_deref(), Some(value), "{name}");
            assert!(e.synonyms.is_empty(), "{name}");
        }
        let e = find(&t2, "cleanup.policy");
        assert_eq!(
            e.synonyms,
            [syn("log.cleanup.policy", Some("delete"), Default)]
        );
        assert_eq!(e.config_type, 7);
        let e = find(&t2, "delete.retention.ms");
        assert_eq!(
            e.synonyms,
            [syn(
                "log.cleaner.delete.retention.ms",
                Some("86400000"),
                Default
            )]
        );
    }
}
