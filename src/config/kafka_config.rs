//! Loading [`KafkaConfig`]: a `server.properties` file (or the embedded default) plus
//! `--override key=value` pairs, parsed against the broker table and checked as Kafka checks it.

use super::error::{ConfigError, Location};
use super::listeners::{
    check_bootstrap_servers, effective_protocol_map, parse_listeners, parse_protocol_map,
    parse_voters,
};
use super::properties::Properties;
use super::resolve::{BrokerValues, is_known};
use super::validate::{Topology, check};
use super::value::csv_list;
use super::{CleanerConfig, KafkaConfig, Loaded, LogConfig, ProcessRole};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Strom's zero-configuration setup: one combined node on loopback, ready for local
/// development. Internal topics use replication factor 1 as in Kafka's own quickstart file,
/// since a single node cannot hold three replicas.
const EMBEDDED_DEFAULT: &str = "\
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:9093
controller.listener.names=CONTROLLER
listeners=PLAINTEXT://127.0.0.1:9092,CONTROLLER://127.0.0.1:9093
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
group.initial.rebalance.delay.ms=0
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
";

/// What error messages call the embedded default.
const EMBEDDED_ORIGIN: &str = "embedded default";

/// Applies `--override key=value` arguments as Kafka's `parseKeyValueArgs` does: split at the
/// first `=`, a missing value is the empty string.
fn apply_overrides(props: &mut Properties, overrides: &[String]) {
    for arg in overrides {
        let (key, value) = arg.split_once('=').unwrap_or((arg.as_str(), ""));
        props.set(key, value);
    }
}

/// Kafka reads `server.properties` as ISO-8859-1; Strom reads UTF-8 and falls back to
/// ISO-8859-1 for files that are not valid UTF-8, so such files still mean what Kafka reads.
fn decode(bytes: Vec<u8>) -> String {
    String::from_utf8(bytes)
        .unwrap_or_else(|e| e.into_bytes().into_iter().map(char::from).collect())
}

/// The two ids Kafka treats as synonyms: when only one is set, the other copies it.
const ID_SYNONYMS: [(&str, &str); 2] = [("node.id", "broker.id"), ("broker.id", "node.id")];

impl KafkaConfig {
    /// The embedded default: no file needed. PLAINTEXT://127.0.0.1:9092, CONTROLLER on
    /// 127.0.0.1:9093, node.id 1, process.roles broker,controller, controller.quorum.voters
    /// 1@127.0.0.1:9093, log.dirs = [data_dir], group.initial.rebalance.delay.ms 0 (snappy
    /// local dev), internal topics with one replica, Kafka defaults else. `overrides` apply
    /// on top, as with a file.
    pub fn embedded_default(
        data_dir: PathBuf,
        overrides: &[String],
    ) -> Result<Loaded, ConfigError> {
        let parsed = Properties::parse(EMBEDDED_DEFAULT);
        let mut props = parsed.expect("embedded default parses"); // invariant: constant text, tested
        props.set("log.dirs", data_dir.to_string_lossy());
        apply_overrides(&mut props, overrides);
        KafkaConfig::from_properties(&props, EMBEDDED_ORIGIN)
    }

    /// Reads a server.properties file plus `--override key=value` pairs (overrides win, as in
    /// Kafka).
    pub fn load(path: &Path, overrides: &[String]) -> Result<Loaded, ConfigError> {
        let bytes = std::fs::read(path).map_err(|source| ConfigError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let origin = path.display().to_string();
        let mut props =
            Properties::parse(&decode(bytes)).map_err(|source| ConfigError::Syntax {
                file: origin.clone(),
                source,
            })?;
        apply_overrides(&mut props, overrides);
        KafkaConfig::from_properties(&props, &origin)
    }

    /// Types and checks `props` read from `origin` (a file name, cited in errors together with
    /// the line; keys without a line are reported as `--override`).
    pub fn from_properties(props: &Properties, origin: &str) -> Result<Loaded, ConfigError> {
        let mut supplied: BTreeMap<String, String> = props
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        for (from, to) in ID_SYNONYMS {
            if let (Some(v), None) = (props.get(from), props.get(to)) {
                supplied.insert(to.to_string(), v.to_string());
            }
        }
        // A copied id is located where its synonym was written.
        let at = |key: &str| {
            let source = ID_SYNONYMS
                .iter()
                .find(|(from, to)| {
                    *to == key && props.get(key).is_none() && props.get(from).is_some()
                })
                .map_or(key, |(from, _)| from);
            Location::of(props, origin, source)
        };
        let warnings = props
            .iter()
            .filter(|(k, _)| !is_known(k))
            .map(|(k, _)| format!("The configuration '{k}' was supplied but isn't a known config."))
            .collect();
        let values = BrokerValues::resolve(&supplied, &at)?;
        let config = build(&values, supplied, &at)?;
        Ok(Loaded { config, warnings })
    }
}

/// Typed fields from resolved values, with Kafka's cross-config checks.
fn build(
    values: &BrokerValues,
    originals: BTreeMap<String, String>,
    at: &dyn Fn(&str) -> Location,
) -> Result<KafkaConfig, ConfigError> {
    let inconsistent = |message: String, key: &str| ConfigError::Inconsistent {
        message,
        at: at(key),
    };
    let node_id = values.int("node.id");
    if node_id != values.int("broker.id") {
        return Err(inconsistent(
            "You must set `node.id` to the same value as `broker.id`.".into(),
            "node.id",
        ));
    }
    let process_roles = process_roles(values.list("process.roles"), at)?;
    let log = LogConfig::from_broker(values);
    check_log_times(&log, &inconsistent)?;
    let log_dirs: Vec<PathBuf> = csv_list(
        values
            .string("log.dirs")
            .or(values.string("log.dir"))
            .unwrap_or_default(),
    )
    .into_iter()
    .map(PathBuf::from)
    .collect();
    let Some(first_log_dir) = log_dirs.first().cloned() else {
        return Err(inconsistent(
            "At least one log directory must be defined via log.dirs or log.dir.".into(),
            if originals.contains_key("log.dirs") {
                "log.dirs"
            } else {
                "log.dir"
            },
        ));
    };

    let controller_listener_names: Vec<String> = values
        .string("controller.listener.names")
        .filter(|s| !s.is_empty())
        .map(|s| s.split(',').map(str::to_string).collect())
        .unwrap_or_default();
    let listeners_raw = values.string("listeners").unwrap_or_default();
    let configured_map = parse_protocol_map(
        values
            .string("listener.security.protocol.map")
            .unwrap_or_default(),
    )
    .map_err(|m| inconsistent(m, "listener.security.protocol.map"))?;
    let protocol_map = effective_protocol_map(
        configured_map,
        originals.contains_key("listener.security.protocol.map"),
        &controller_listener_names,
        listeners_raw,
    );
    let listeners = parse_listeners(listeners_raw, &protocol_map, true)
        .map_err(|m| inconsistent(m, "listeners"))?;
    let advertised = match values.string("advertised.listeners") {
        Some(raw) => parse_listeners(raw, &protocol_map, false)
            .map_err(|m| inconsistent(m, "advertised.listeners"))?,
        None => listeners.clone(),
    };
    let inter_broker_listener_name = inter_broker_listener(values, &originals, &protocol_map)
        .map_err(|m| inconsistent(m, "inter.broker.listener.name"))?;

    let controller_quorum_voters = values.list("controller.quorum.voters").to_vec();
    let voters = parse_voters(&controller_quorum_voters)
        .map_err(|m| inconsistent(m, "controller.quorum.voters"))?;
    let controller_quorum_bootstrap_servers =
        values.list("controller.quorum.bootstrap.servers").to_vec();
    check_bootstrap_servers(&controller_quorum_bootstrap_servers)
        .map_err(|m| inconsistent(m, "controller.quorum.bootstrap.servers"))?;

    let topology = Topology {
        node_id,
        roles: &process_roles,
        voters: &voters,
        bootstrap_servers: &controller_quorum_bootstrap_servers,
        controller_listener_names: &controller_listener_names,
        listeners: &listeners,
        advertised: &advertised,
        protocol_map: &protocol_map,
        inter_broker_listener_name: &inter_broker_listener_name,
    };
    check(&topology, at)?;
    let advertised_listeners = topology.advertised_broker_listeners();
    let is_broker = process_roles.contains(&ProcessRole::Broker);

    let default_replication_factor = i16::try_from(values.int("default.replication.factor"))
        .map_err(|_| ConfigError::InvalidValue {
            name: "default.replication.factor",
            value: values.int("default.replication.factor").to_string(),
            reason: "Not a number of type SHORT".into(),
            at: at("default.replication.factor"),
        })?;

    Ok(KafkaConfig {
        node_id,
        process_roles,
        cluster_id: values
            .string("cluster.id")
            .filter(|s| !s.is_empty())
            .map(str::to_string),
        controller_quorum_voters,
        controller_quorum_bootstrap_servers,
        controller_listener_names,
        listeners,
        advertised_listeners,
        listener_security_protocol_map: protocol_map,
        inter_broker_listener_name: (is_broker
            || originals.contains_key("inter.broker.listener.name"))
        .then_some(inter_broker_listener_name),
        metadata_log_dir: values
            .string("metadata.log.dir")
            .map_or(first_log_dir, PathBuf::from),
        log_dirs,
        broker_rack: values.string("broker.rack").map(str::to_string),
        num_network_threads: values.int("num.network.threads"),
        num_io_threads: values.int("num.io.threads"),
        num_partitions: values.int("num.partitions"),
        default_replication_factor,
        auto_create_topics_enable: values.bool("auto.create.topics.enable"),
        delete_topic_enable: values.bool("delete.topic.enable"),
        log_retention_check_interval_ms: values.long("log.retention.check.interval.ms"),
        log_flush_scheduler_interval_ms: values.long("log.flush.scheduler.interval.ms"),
        log_flush_offset_checkpoint_interval_ms: i64::from(
            values.int("log.flush.offset.checkpoint.interval.ms"),
        ),
        log_initial_task_delay_ms: values.long("log.initial.task.delay.ms"),
        num_recovery_threads_per_data_dir: values.int("num.recovery.threads.per.data.dir"),
        socket_request_max_bytes: values.int("socket.request.max.bytes"),
        socket_send_buffer_bytes: values.int("socket.send.buffer.bytes"),
        socket_receive_buffer_bytes: values.int("socket.receive.buffer.bytes"),
        connections_max_idle_ms: values.long("connections.max.idle.ms"),
        max_connections: values.int("max.connections"),
        max_connections_per_ip: values.int("max.connections.per.ip"),
        max_connections_per_ip_overrides: values
            .string("max.connections.per.ip.overrides")
            .unwrap_or_default()
            .to_string(),
        queued_max_requests: values.int("queued.max.requests"),
        fetch_max_bytes: values.int("fetch.max.bytes"),
        max_incremental_fetch_session_cache_slots: values
            .int("max.incremental.fetch.session.cache.slots"),
        log_cleaner: CleanerConfig {
            enable: values.bool("log.cleaner.enable"),
            threads: values.int("log.cleaner.threads"),
            dedupe_buffer_size: values.long("log.cleaner.dedupe.buffer.size"),
            dedupe_buffer_load_factor: values.double("log.cleaner.io.buffer.load.factor"),
            io_buffer_size: values.int("log.cleaner.io.buffer.size"),
            max_io_bytes_per_second: values.double("log.cleaner.io.max.bytes.per.second"),
            backoff_ms: values.long("log.cleaner.backoff.ms"),
        },
        log,
        offsets_topic_replication_factor: values.short("offsets.topic.replication.factor"),
        offsets_topic_num_partitions: values.int("offsets.topic.num.partitions"),
        offsets_topic_segment_bytes: values.int("offsets.topic.segment.bytes"),
        offsets_retention_check_interval_ms: values.long("offsets.retention.check.interval.ms"),
        offset_metadata_max_bytes: values.int("offset.metadata.max.bytes"),
        transaction_state_log_replication_factor: values
            .short("transaction.state.log.replication.factor"),
        transaction_state_log_min_isr: values.int("transaction.state.log.min.isr"),
        transaction_state_log_num_partitions: values.int("transaction.state.log.num.partitions"),
        transaction_max_timeout_ms: values.int("transaction.max.timeout.ms"),
        transactional_id_expiration_ms: values.int("transactional.id.expiration.ms"),
        producer_id_expiration_ms: values.int("producer.id.expiration.ms"),
        producer_id_expiration_check_interval_ms: values
            .int("producer.id.expiration.check.interval.ms"),
        transaction_state_log_segment_bytes: values.int("transaction.state.log.segment.bytes"),
        transaction_abort_timed_out_transaction_cleanup_interval_ms: values
            .int("transaction.abort.timed.out.transaction.cleanup.interval.ms"),
        transaction_remove_expired_transaction_cleanup_interval_ms: values
            .int("transaction.remove.expired.transaction.cleanup.interval.ms"),
        transaction_partition_verification_enable: values
            .bool("transaction.partition.verification.enable"),
        group_initial_rebalance_delay_ms: values.int("group.initial.rebalance.delay.ms"),
        group_min_session_timeout_ms: values.int("group.min.session.timeout.ms"),
        group_max_session_timeout_ms: values.int("group.max.session.timeout.ms"),
        group_max_size: values.int("group.max.size"),
        offsets_retention_minutes: values.int("offsets.retention.minutes"),
        originals,
    })
}

/// `process.roles`: required, non-empty, no repeats.
fn process_roles(
    names: &[String],
    at: &dyn Fn(&str) -> Location,
) -> Result<Vec<ProcessRole>, ConfigError> {
    if names.is_empty() {
        // Kafka 4 has no ZooKeeper mode to fall back to: an empty list is a missing one.
        return Err(ConfigError::Missing {
            name: "process.roles",
            at: at("process.roles"),
        });
    }
    let roles: Vec<ProcessRole> = names
        .iter()
        .map(|n| match n.as_str() {
            "broker" => ProcessRole::Broker,
            _ => ProcessRole::Controller,
        })
        .collect();
    let distinct: std::collections::BTreeSet<&String> = names.iter().collect();
    if distinct.len() != names.len() {
        return Err(ConfigError::Inconsistent {
            message: format!(
                "Duplicate role names found in `process.roles`: [{}]",
                names.join(", ")
            ),
            at: at("process.roles"),
        });
    }
    Ok(roles)
}

/// Kafka's `require`s on the time settings that have no validator of their own.
fn check_log_times(
    log: &LogConfig,
    inconsistent: &dyn Fn(String, &str) -> ConfigError,
) -> Result<(), ConfigError> {
    if log.segment_ms < 1 {
        return Err(inconsistent(
            "log.roll.ms must be greater than or equal to 1".into(),
            "log.roll.ms",
        ));
    }
    if log.segment_jitter_ms < 0 {
        return Err(inconsistent(
            "log.roll.jitter.ms must be greater than or equal to 0".into(),
            "log.roll.jitter.ms",
        ));
    }
    if log.retention_ms < 1 && log.retention_ms != -1 {
        return Err(inconsistent(
            "log.retention.ms must be unlimited (-1) or, greater than or equal to 1".into(),
            "log.retention.ms",
        ));
    }
    Ok(())
}

/// `inter.broker.listener.name`, or the listener named after `security.inter.broker.protocol`.
fn inter_broker_listener(
    values: &BrokerValues,
    originals: &BTreeMap<String, String>,
    protocol_map: &BTreeMap<String, String>,
) -> Result<String, String> {
    match values.string("inter.broker.listener.name") {
        Some(_) if originals.contains_key("security.inter.broker.protocol") => Err(
            "Only one of inter.broker.listener.name and security.inter.broker.protocol should be \
             set."
                .into(),
        ),
        Some(name) => {
            let name = name.to_ascii_uppercase();
            if protocol_map.contains_key(&name) {
                Ok(name)
            } else {
                Err(format!(
                    "Listener with name {name} defined in inter.broker.listener.name not found in \
                     listener.security.protocol.map."
                ))
            }
        }
        None => Ok(values
            .string("security.inter.broker.protocol")
            .unwrap_or("PLAINTEXT")
            .to_string()),
    }
}
