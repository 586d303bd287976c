//! The value of every known broker config: parsed from what the user supplied, or Kafka's
//! default. Built once per load; typed `KafkaConfig` fields and DescribeConfigs read from it.

use super::broker_defs::{BROKER_DEFS, broker_def};
use super::error::{ConfigError, Location};
use super::value::{DefaultValue, Value};
use std::collections::BTreeMap;

/// Parsed values of all broker configs in the table.
#[derive(Debug, Clone)]
pub(crate) struct BrokerValues {
    values: BTreeMap<&'static str, Value>,
}

impl BrokerValues {
    /// Every config at Kafka's default (required configs are null).
    pub fn defaults() -> BrokerValues {
        BrokerValues {
            values: BROKER_DEFS
                .iter()
                .map(|d| (d.name, d.default_value()))
                .collect(),
        }
    }

    /// Parses the supplied values of known configs (unknown keys are ignored here; the caller
    /// warns about them). `locate` says where a key was written, for error messages.
    pub fn resolve(
        supplied: &BTreeMap<String, String>,
        locate: &dyn Fn(&str) -> Location,
    ) -> Result<BrokerValues, ConfigError> {
        let mut values = BTreeMap::new();
        for d in BROKER_DEFS {
            let value = match supplied.get(d.name) {
                Some(raw) => d.parse(raw).map_err(|r| ConfigError::InvalidValue {
                    name: d.name,
                    value: r.shown,
                    reason: r.reason,
                    at: locate(d.name),
                })?,
                None if d.default == DefaultValue::Required => {
                    return Err(ConfigError::Missing {
                        name: d.name,
                        at: Location::Unknown,
                    });
                }
                None => d.default_value(),
            };
            values.insert(d.name, value);
        }
        Ok(BrokerValues { values })
    }

    /// The value of a known config.
    pub fn get(&self, name: &str) -> &Value {
        let value = self.values.get(name);
        value.expect("known broker config") // invariant: callers name table rows (tested by loading)
    }

    fn typed<T>(&self, name: &str, convert: impl Fn(&Value) -> Option<T>) -> T {
        let typed = convert(self.get(name));
        typed.expect("read with its table type") // invariant: callers use the row's type (tested)
    }

    pub fn int(&self, name: &str) -> i32 {
        self.typed(name, Value::as_i32)
    }

    pub fn short(&self, name: &str) -> i16 {
        self.typed(name, Value::as_i16)
    }

    pub fn long(&self, name: &str) -> i64 {
        self.typed(name, Value::as_i64)
    }

    pub fn bool(&self, name: &str) -> bool {
        self.typed(name, Value::as_bool)
    }

    pub fn double(&self, name: &str) -> f64 {
        self.typed(name, Value::as_f64)
    }

    /// A `STRING` config; `None` when null.
    pub fn string(&self, name: &str) -> Option<&str> {
        self.get(name).as_str()
    }

    /// A `LIST` config (never null in the table).
    pub fn list(&self, name: &str) -> &[String] {
        let list = self.get(name).as_list();
        list.expect("a LIST row") // invariant: callers read only LIST rows as lists (tested)
    }
}

/// Whether Strom knows broker config `name`.
pub(crate) fn is_known(name: &str) -> bool {
    broker_def(name).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_required_config_is_reported_in_kafkas_words() {
        let supplied = BTreeMap::from([("process.roles".to_string(), "broker".to_string())]);
        let err = BrokerValues::resolve(&supplied, &|_| Location::Unknown)
            .expect_err("node.id is required");
        assert_eq!(
            err.to_string(),
            "Missing required configuration \"node.id\" which has no default value."
        );
    }

    #[test]
    fn supplied_values_win_over_defaults() {
        let supplied = BTreeMap::from([
            ("node.id".to_string(), "3".to_string()),
            (
                "process.roles".to_string(),
                "broker, controller".to_string(),
            ),
            ("num.partitions".to_string(), " 4 ".to_string()),
        ]);
        let v = BrokerValues::resolve(&supplied, &|_| Location::Unknown).expect("valid");
        assert_eq!(v.int("node.id"), 3);
        assert_eq!(v.int("num.partitions"), 4);
        assert_eq!(v.list("process.roles"), ["broker", "controller"]);
        assert_eq!(v.int("broker.id"), -1);
        assert_eq!(v.string("log.dirs"), None);
        assert_eq!(v.string("log.dir"), Some("/tmp/kafka-logs"));
    }
}
