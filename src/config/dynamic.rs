//! Dynamic broker configs: values set at run time with IncrementalAlterConfigs/AlterConfigs
//! on a BROKER resource, for this broker (`--entity-name 1`) or the whole cluster
//! (`--entity-default`), kept in the metadata log as `ConfigRecord`s. Precedence is Kafka's:
//! per-broker dynamic, then cluster-default dynamic, then `server.properties`, then the
//! built-in default.

use super::KafkaConfig;
use super::broker_defs::broker_def;
use super::describe::broker_synonyms;
use super::error::Location;
use super::log_config::LogConfig;
use super::resolve::BrokerValues;
use super::topic_defs::{TOPIC_DEFS, topic_def};
use super::value::ConfigType;
use std::collections::BTreeMap;

/// The dynamic broker configs in force.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DynamicBrokerConfigs {
    /// Set for this broker (resource name = its node id).
    pub broker: BTreeMap<String, String>,
    /// Set for every broker (resource name "").
    pub cluster_default: BTreeMap<String, String>,
}

/// Broker configs Kafka can change at run time besides the topic-config synonyms (Kafka's
/// `DynamicBrokerConfig.AllDynamicConfigs`, the part Strom knows).
const OTHER_DYNAMIC: &[&str] = &[
    "background.threads",
    "log.cleaner.threads",
    "max.connections",
    "max.connections.per.ip",
    "num.io.threads",
    "num.network.threads",
    "num.recovery.threads.per.data.dir",
];

/// Whether Kafka lets broker config `name` change at run time: the broker synonyms of topic
/// configs (`log.retention.ms`, `compression.type`, ...) and the thread pools and limits.
pub fn is_dynamic_broker_config(name: &str) -> bool {
    OTHER_DYNAMIC.contains(&name)
        || TOPIC_DEFS.iter().any(|t| {
            t.broker_synonym
                .is_some_and(|s| s == name || broker_synonyms(s).contains(&name))
        })
}

/// Whether topic or broker config `name` holds a list (the only kind IncrementalAlterConfigs
/// may APPEND to or SUBTRACT from).
pub fn is_list_config(name: &str) -> bool {
    topic_def(name)
        .map(|t| t.def.ty)
        .or(broker_def(name).map(|d| d.ty))
        == Some(ConfigType::List)
}

impl DynamicBrokerConfigs {
    /// `originals` overlaid with the cluster default, then this broker's values.
    pub(crate) fn merged(&self, originals: &BTreeMap<String, String>) -> BTreeMap<String, String> {
        let mut merged = originals.clone();
        merged.extend(self.cluster_default.clone());
        merged.extend(self.broker.clone());
        merged
    }
}

impl KafkaConfig {
    /// Checks dynamic broker config updates as Kafka does: a known config that cannot change
    /// at run time, or a value its type and validator refuse, is an error (Kafka answers
    /// INVALID_REQUEST with this message). Unknown keys are accepted, as Kafka accepts them.
    pub fn check_dynamic_update(
        &self,
        updates: &BTreeMap<String, Option<String>>,
    ) -> Result<(), String> {
        let fixed: Vec<&str> = updates
            .keys()
            .map(String::as_str)
            .filter(|k| broker_def(k).is_some() && !is_dynamic_broker_config(k))
            .collect();
        if !fixed.is_empty() {
            return Err(format!(
                "Cannot update these configs dynamically: [{}]",
                fixed.join(", ")
            ));
        }
        for (name, value) in updates {
            if let (Some(def), Some(raw)) = (broker_def(name), value) {
                def.parse(raw).map_err(|r| {
                    format!(
                        "Invalid value {} for configuration {name}: {}",
                        r.shown, r.reason
                    )
                })?;
            }
        }
        Ok(())
    }

    /// The broker-wide log defaults with `dynamic` applied (the static ones if the
    /// combination does not resolve, which checked updates never cause).
    pub fn log_defaults(&self, dynamic: &DynamicBrokerConfigs) -> LogConfig {
        match BrokerValues::resolve(&dynamic.merged(&self.originals), &|_| Location::Unknown) {
            Ok(values) => LogConfig::from_broker(&values),
            Err(e) => {
                tracing::warn!("Ignoring dynamic broker configs that do not resolve: {e}");
                self.log.clone()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Properties;

    fn config() -> KafkaConfig {
        let props = Properties::parse(
            "node.id=1\nprocess.roles=broker,controller\ncontroller.quorum.voters=1@127.0.0.1:9093\n\
             controller.listener.names=CONTROLLER\n\
             listeners=PLAINTEXT://127.0.0.1:9092,CONTROLLER://127.0.0.1:9093\nlog.dirs=/tmp/x\n\
             log.retention.hours=100\n",
        )
        .expect("parses");
        KafkaConfig::from_properties(&props, "server.properties")
            .expect("loads")
            .config
    }

    fn updates(pairs: &[(&str, Option<&str>)]) -> BTreeMap<String, Option<String>> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.map(str::to_string)))
            .collect()
    }

    #[test]
    fn kafka_refuses_what_it_refuses() {
        let c = config();
        assert_eq!(
            c.check_dynamic_update(&updates(&[("offsets.topic.replication.factor", Some("1"))])),
            Err(
                "Cannot update these configs dynamically: [offsets.topic.replication.factor]"
                    .into()
            )
        );
        assert_eq!(
            c.check_dynamic_update(&updates(&[("log.retention.ms", Some("abc"))])),
            Err(
                "Invalid value abc for configuration log.retention.ms: Not a number of type LONG"
                    .into()
            )
        );
        assert!(
            c.check_dynamic_update(&updates(&[("foo.bar", Some("1"))]))
                .is_ok()
        );
        assert!(
            c.check_dynamic_update(&updates(&[("log.retention.hours", None)]))
                .is_ok()
        );
        assert!(is_dynamic_broker_config("log.retention.minutes"));
        assert!(is_dynamic_broker_config("compression.type"));
        assert!(!is_dynamic_broker_config("node.id"));
    }

    #[test]
    fn per_broker_beats_cluster_default_beats_file() {
        let c = config();
        assert_eq!(
            c.log_defaults(&DynamicBrokerConfigs::default())
                .retention_ms,
            100 * 3_600_000
        );
        let mut d = DynamicBrokerConfigs::default();
        d.cluster_default
            .insert("log.retention.ms".into(), "5000".into());
        assert_eq!(c.log_defaults(&d).retention_ms, 5000);
        d.broker.insert("log.retention.ms".into(), "7000".into());
        assert_eq!(c.log_defaults(&d).retention_ms, 7000);
    }
}
