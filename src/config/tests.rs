// Test code only: compiled through `#[cfg(test)] mod tests;` in src/config/mod.rs.
//! Loading whole configurations: the seed file, Kafka's error messages for broken ones, the
//! embedded default, and DescribeConfigs output checked against Apache Kafka 4.1.1's.

use super::*;
use std::path::Path;

/// The seed configuration, verbatim (from the seed's Homebrew KRaft guide, Chinese comments
/// included).
const SEED: &str = "\
broker.id=0
# 启用 KRaft 模式
process.roles=broker,controller
# 设置集群 ID（替换为你的生成的 ID）
cluster.id=tM3-P24CQlGgg85tMKQKXA
# 控制器配置
controller.quorum.voters=0@localhost:9093
controller.listener.names=CONTROLLER
# 监听地址
listeners=PLAINTEXT://localhost:9092,CONTROLLER://localhost:9093
advertised.listeners=PLAINTEXT://localhost:9092
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
# 数据存储目录
log.dirs=/opt/homebrew/Cellar/kafka/3.9.0/libexec/logs
";

fn load_text(text: &str) -> Result<Loaded, ConfigError> {
    let props = Properties::parse(text).expect("valid properties syntax");
    KafkaConfig::from_properties(&props, "server.properties")
}

/// The seed with `key`'s line replaced by `line` (or `line` appended when `key` is absent).
fn seed_with(key: &str, line: &str) -> String {
    let prefix = format!("{key}=");
    let mut replaced = false;
    let mut text: String = SEED
        .lines()
        .map(|l| {
            if l.starts_with(&prefix) {
                replaced = true;
                format!("{line}\n")
            } else {
                format!("{l}\n")
            }
        })
        .collect();
    if !replaced {
        text.push_str(line);
        text.push('\n');
    }
    text
}

fn error_of(text: &str) -> String {
    load_text(text).expect_err("must be refused").to_string()
}

fn listener(name: &str, host: &str, port: u16) -> Listener {
    Listener {
        name: name.into(),
        host: host.into(),
        port,
    }
}

#[test]
fn seed_configuration_loads_unchanged() {
    let loaded = load_text(SEED).expect("the seed loads");
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    let c = loaded.config;
    assert_eq!(c.node_id, 0);
    assert_eq!(
        c.process_roles,
        [ProcessRole::Broker, ProcessRole::Controller]
    );
    assert_eq!(c.cluster_id.as_deref(), Some("tM3-P24CQlGgg85tMKQKXA"));
    assert_eq!(c.controller_quorum_voters, ["0@localhost:9093"]);
    assert_eq!(c.controller_listener_names, ["CONTROLLER"]);
    assert_eq!(
        c.listeners,
        [
            listener("PLAINTEXT", "localhost", 9092),
            listener("CONTROLLER", "localhost", 9093)
        ]
    );
    assert_eq!(
        c.advertised_listeners,
        [listener("PLAINTEXT", "localhost", 9092)]
    );
    assert_eq!(c.listener_security_protocol_map.len(), 2);
    assert_eq!(c.inter_broker_listener_name.as_deref(), Some("PLAINTEXT"));
    let dir = Path::new("/opt/homebrew/Cellar/kafka/3.9.0/libexec/logs");
    assert_eq!(c.log_dirs, [dir]);
    assert_eq!(c.metadata_log_dir, dir);
    assert_eq!(c.num_partitions, 1);
    assert_eq!(c.default_replication_factor, 1);
    assert!(c.auto_create_topics_enable);
    assert!(c.delete_topic_enable);
    assert_eq!(c.log, LogConfig::default());
    assert_eq!(c.offsets_topic_replication_factor, 3);
    assert_eq!(c.offsets_topic_num_partitions, 50);
    assert_eq!(c.transaction_state_log_replication_factor, 3);
    assert_eq!(c.transaction_state_log_min_isr, 2);
    assert_eq!(c.group_initial_rebalance_delay_ms, 3000);
    assert_eq!(c.socket_request_max_bytes, 104_857_600);
    assert_eq!(c.log_retention_check_interval_ms, 300_000);
    assert_eq!(c.log_flush_offset_checkpoint_interval_ms, 60_000);
    assert_eq!(c.originals.get("node.id").map(String::as_str), Some("0"));
}

#[test]
fn seed_indented_as_in_the_guide_loads_the_same() {
    let indented: String = SEED.lines().map(|l| format!("  {l}\n")).collect();
    let a = load_text(SEED).expect("loads").config;
    let b = load_text(&indented).expect("loads").config;
    assert_eq!(a.originals, b.originals);
}

#[test]
fn load_reads_the_file_and_overrides_win() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("server.properties");
    std::fs::write(&path, SEED).expect("write");
    let overrides = [
        "num.partitions=4".to_string(),
        "log.retention.ms".to_string(),
    ];
    let err = KafkaConfig::load(&path, &overrides).expect_err("empty LONG is invalid");
    assert_eq!(
        err.to_string(),
        "Invalid value  for configuration log.retention.ms: Not a number of type LONG (--override)"
    );
    let loaded = KafkaConfig::load(&path, &["num.partitions=4".into()]).expect("loads");
    assert_eq!(loaded.config.num_partitions, 4);

    let missing = dir.path().join("nope.properties");
    let err = KafkaConfig::load(&missing, &[]).expect_err("no file");
    assert!(
        err.to_string().starts_with(&format!(
            "Unable to read configuration file {}",
            missing.display()
        )),
        "{err}"
    );
}

#[test]
fn invalid_values_name_file_line_key_value_and_expectation() {
    let text = seed_with("log.retention.hours", "log.retention.hours=abc");
    let line = text.lines().count();
    assert_eq!(
        error_of(&text),
        format!(
            "Invalid value abc for configuration log.retention.hours: Not a number of type INT \
             (server.properties line {line})"
        )
    );
    assert_eq!(
        error_of(&seed_with("log.segment.bytes", "log.segment.bytes=100")),
        format!(
            "Invalid value 100 for configuration log.segment.bytes: Value must be at least \
             1048576 (server.properties line {line})"
        )
    );
    assert!(
        error_of(&seed_with(
            "auto.create.topics.enable",
            "auto.create.topics.enable=yes"
        ))
        .starts_with(
            "Invalid value yes for configuration auto.create.topics.enable: Expected value \
                 to be either true or false"
        )
    );
    assert!(
        error_of(&seed_with("offsets.topic.replication.factor", "offsets.topic.replication.factor=40000"))
            .starts_with("Invalid value 40000 for configuration offsets.topic.replication.factor: Not a number of type SHORT")
    );
}

#[test]
fn unknown_keys_warn_once_each_in_kafkas_words() {
    let text = format!("{SEED}foo.bar=1\nzookeeper.connect=localhost:2181\nfoo.bar=2\n");
    let loaded = load_text(&text).expect("unknown keys are accepted");
    assert_eq!(
        loaded.warnings,
        [
            "The configuration 'foo.bar' was supplied but isn't a known config.",
            "The configuration 'zookeeper.connect' was supplied but isn't a known config."
        ]
    );
}

#[test]
fn quickstart_keys_are_known() {
    let text = format!(
        "{SEED}num.network.threads=3\nnum.io.threads=8\nsocket.send.buffer.bytes=102400\n\
         socket.receive.buffer.bytes=102400\nsocket.request.max.bytes=104857600\n\
         num.recovery.threads.per.data.dir=1\noffsets.topic.replication.factor=1\n\
         transaction.state.log.replication.factor=1\ntransaction.state.log.min.isr=1\n\
         share.coordinator.state.topic.replication.factor=1\n\
         share.coordinator.state.topic.min.isr=1\nlog.flush.interval.messages=10000\n\
         log.flush.interval.ms=1000\nlog.retention.hours=168\nlog.retention.bytes=1073741824\n\
         log.segment.bytes=1073741824\nlog.retention.check.interval.ms=300000\n\
         inter.broker.listener.name=PLAINTEXT\n"
    );
    let loaded = load_text(&text).expect("loads");
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    assert_eq!(loaded.config.log.flush_messages, 10_000);
    assert_eq!(loaded.config.log.flush_ms, 1000);
    assert_eq!(loaded.config.log.retention_bytes, 1 << 30);
    assert_eq!(loaded.config.offsets_topic_replication_factor, 1);
}

#[test]
fn node_id_and_broker_id_are_synonyms() {
    let only_node =
        seed_with("broker.id", "node.id=7").replace("0@localhost:9093", "7@localhost:9093");
    let c = load_text(&only_node).expect("node.id alone").config;
    assert_eq!(c.node_id, 7);
    assert_eq!(c.originals.get("broker.id").map(String::as_str), Some("7"));
    assert_eq!(
        error_of(&seed_with("node.id", "node.id=1")),
        "You must set `node.id` to the same value as `broker.id`. (server.properties line 15)"
    );
    assert_eq!(
        error_of(&seed_with("broker.id", "# no id")),
        "Missing required configuration \"node.id\" which has no default value."
    );
    assert_eq!(
        error_of(&seed_with("broker.id", "broker.id=-1")),
        "Invalid value -1 for configuration node.id: Value must be at least 0 \
         (server.properties line 1)"
    );
}

#[test]
fn process_roles_must_be_present_valid_and_distinct() {
    let missing = "Missing required configuration \"process.roles\" which has no default value.";
    assert_eq!(error_of(&seed_with("process.roles", "# none")), missing);
    assert!(error_of(&seed_with("process.roles", "process.roles=")).starts_with(missing));
    assert_eq!(
        error_of(&seed_with("process.roles", "process.roles=broker,foo")),
        "Invalid value foo for configuration process.roles: String must be one of: broker, \
         controller (server.properties line 3)"
    );
    assert!(
        error_of(&seed_with(
            "process.roles",
            "process.roles=broker,broker,controller"
        ))
        .starts_with("Duplicate role names found in `process.roles`: [broker, broker, controller]")
    );
}

#[test]
fn controller_listener_names_must_match_listeners() {
    let expected = "controller.listener.names must contain at least one value appearing in the \
                    'listeners' configuration when running the KRaft controller role";
    assert!(error_of(&seed_with("controller.listener.names", "# none")).starts_with(expected));
    assert!(
        error_of(&seed_with(
            "controller.listener.names",
            "controller.listener.names=CTRL"
        ))
        .starts_with(expected)
    );
    assert!(
        error_of(&seed_with(
            "controller.listener.names",
            "controller.listener.names=CONTROLLER,OTHER"
        ))
        .starts_with(
            "controller.listener.names must only contain values appearing in the 'listeners' \
             configuration when running the KRaft controller role"
        )
    );
}

#[test]
fn log_dirs_default_and_must_not_be_empty() {
    let c = load_text(&seed_with("log.dirs", "# none"))
        .expect("loads")
        .config;
    assert_eq!(c.log_dirs, [Path::new("/tmp/kafka-logs")]);
    let c = load_text(&seed_with("log.dirs", "log.dirs=/a, /b,,"))
        .expect("loads")
        .config;
    assert_eq!(c.log_dirs, [Path::new("/a"), Path::new("/b")]);
    assert_eq!(c.metadata_log_dir, Path::new("/a"));
    assert!(error_of(&seed_with("log.dirs", "log.dirs=,")).starts_with(
        "At least one log directory must be defined via log.dirs or log.dir. \
             (server.properties line"
    ));
    let c = load_text(&format!("{SEED}metadata.log.dir=/meta\n"))
        .expect("loads")
        .config;
    assert_eq!(c.metadata_log_dir, Path::new("/meta"));
}

#[test]
fn voters_must_include_a_controller_and_exclude_a_pure_broker() {
    assert!(
        error_of(&seed_with(
            "controller.quorum.voters",
            "controller.quorum.voters=5@localhost:9093"
        ))
        .starts_with(
            "If process.roles contains the 'controller' role, the node id 0 must be included \
                 in the set of voters controller.quorum.voters=Set(5)"
        )
    );
    let broker_only = seed_with("process.roles", "process.roles=broker").replace(
        "listeners=PLAINTEXT://localhost:9092,CONTROLLER://localhost:9093",
        "listeners=PLAINTEXT://localhost:9092",
    );
    assert!(error_of(&broker_only).starts_with(
        "If process.roles contains just the 'broker' role, the node id 0 must not be included in \
         the set of voters controller.quorum.voters=Set(0)"
    ));
    let ok = broker_only.replace("0@localhost:9093", "1@localhost:9093");
    assert_eq!(
        load_text(&ok)
            .expect("broker-only loads")
            .config
            .process_roles,
        [ProcessRole::Broker]
    );
    assert!(
        error_of(&seed_with(
            "controller.quorum.voters",
            "controller.quorum.voters="
        ))
        .starts_with("If using process.roles, either controller.quorum.bootstrap.servers")
    );
    assert!(
        error_of(&seed_with(
            "controller.quorum.voters",
            "controller.quorum.voters=x"
        ))
        .starts_with("Invalid configuration value for controller.quorum.voters.")
    );
    let bootstrap = seed_with(
        "controller.quorum.voters",
        "controller.quorum.bootstrap.servers=localhost:9093",
    );
    assert!(load_text(&bootstrap).is_ok());
}

#[test]
fn listener_syntax_is_kafkas() {
    assert!(
        error_of(&seed_with(
            "listeners",
            "listeners=PLAINTEXT://localhost:9092,PLAINTEXT://localhost:9094,CONTROLLER://localhost:9093"
        ))
        .starts_with("Each listener must have a different name, listeners: ")
    );
    assert!(
        error_of(&seed_with(
            "listeners",
            "listeners=PLAINTEXT:localhost:9092,CONTROLLER://localhost:9093"
        ))
        .starts_with(
            "Error creating broker listeners from 'PLAINTEXT:localhost:9092,CONTROLLER://localhost:9093': \
             Unable to parse PLAINTEXT:localhost:9092 to a broker endpoint"
        )
    );
    let c = load_text(&seed_with(
        "listeners",
        "listeners=PLAINTEXT://:9092,CONTROLLER://[::1]:9093",
    ))
    .expect("empty host and IPv6")
    .config;
    assert_eq!(
        c.listeners,
        [
            listener("PLAINTEXT", "", 9092),
            listener("CONTROLLER", "::1", 9093)
        ]
    );
    assert!(
        error_of(&seed_with(
            "advertised.listeners",
            "advertised.listeners=PLAINTEXT://0.0.0.0:9092"
        ))
        .starts_with("advertised.listeners cannot use the nonroutable meta-address 0.0.0.0.")
    );
    assert!(
        error_of(&seed_with(
            "advertised.listeners",
            "advertised.listeners=CONTROLLER://localhost:9093"
        ))
        .starts_with("There must be at least one broker advertised listener.")
    );
    assert!(
        error_of(&format!("{SEED}inter.broker.listener.name=CONTROLLER\n")).starts_with(
            "inter.broker.listener.name must be a listener name defined in advertised.listeners. \
             The valid options based on currently configured listeners are PLAINTEXT"
        )
    );
}

#[test]
fn advertised_listeners_default_to_listeners_minus_controllers() {
    let c = load_text(&seed_with("advertised.listeners", "# none"))
        .expect("loads")
        .config;
    assert_eq!(
        c.advertised_listeners,
        [listener("PLAINTEXT", "localhost", 9092)]
    );
    let c = load_text(&seed_with("listener.security.protocol.map", "# none"))
        .expect("Kafka's default map plus the controller listener")
        .config;
    assert_eq!(
        c.listener_security_protocol_map
            .get("CONTROLLER")
            .map(String::as_str),
        Some("PLAINTEXT")
    );
    assert_eq!(c.listener_security_protocol_map.len(), 5);
}

#[test]
fn retention_and_roll_precedence() {
    let retention = |extra: &str| {
        load_text(&format!("{SEED}{extra}"))
            .expect("loads")
            .config
            .log
            .retention_ms
    };
    assert_eq!(retention(""), 168 * 3_600_000);
    assert_eq!(retention("log.retention.hours=1\n"), 3_600_000);
    assert_eq!(
        retention("log.retention.hours=1\nlog.retention.minutes=5\n"),
        300_000
    );
    assert_eq!(
        retention("log.retention.minutes=5\nlog.retention.ms=7\n"),
        7
    );
    assert_eq!(retention("log.retention.hours=-1\n"), -1);
    assert_eq!(retention("log.retention.ms=-5\n"), -1);
    assert!(
        error_of(&format!("{SEED}log.retention.ms=0\n"))
            .starts_with("log.retention.ms must be unlimited (-1) or, greater than or equal to 1")
    );
    let log = load_text(&format!(
        "{SEED}log.roll.hours=2\nlog.roll.jitter.hours=1\n"
    ))
    .expect("loads")
    .config
    .log;
    assert_eq!(
        (log.segment_ms, log.segment_jitter_ms),
        (7_200_000, 3_600_000)
    );
    let log = load_text(&format!("{SEED}log.roll.hours=2\nlog.roll.ms=5\n"))
        .expect("loads")
        .config
        .log;
    assert_eq!(log.segment_ms, 5);
    assert!(
        error_of(&format!("{SEED}log.roll.ms=0\n"))
            .starts_with("log.roll.ms must be greater than or equal to 1")
    );
    let log = load_text(&format!("{SEED}log.flush.scheduler.interval.ms=9\n"))
        .expect("loads")
        .config
        .log;
    assert_eq!(log.flush_ms, 9);
}

#[test]
fn embedded_default_needs_no_file() {
    let dir = Path::new("/var/strom data");
    let loaded = KafkaConfig::embedded_default(dir.to_path_buf(), &[]).expect("loads");
    assert!(loaded.warnings.is_empty());
    let c = loaded.config;
    assert_eq!(c.node_id, 1);
    assert_eq!(
        c.process_roles,
        [ProcessRole::Broker, ProcessRole::Controller]
    );
    assert_eq!(
        c.listeners,
        [
            listener("PLAINTEXT", "127.0.0.1", 9092),
            listener("CONTROLLER", "127.0.0.1", 9093)
        ]
    );
    assert_eq!(
        c.advertised_listeners,
        [listener("PLAINTEXT", "127.0.0.1", 9092)]
    );
    assert_eq!(c.controller_quorum_voters, ["1@127.0.0.1:9093"]);
    assert_eq!(c.log_dirs, [dir]);
    assert_eq!(c.metadata_log_dir, dir);
    assert_eq!(c.group_initial_rebalance_delay_ms, 0);
    assert_eq!(c.offsets_topic_replication_factor, 1);
    assert_eq!(c.log, LogConfig::default());

    let c = KafkaConfig::embedded_default(
        dir.to_path_buf(),
        &["listeners=PLAINTEXT://127.0.0.1:0,CONTROLLER://127.0.0.1:9093".into()],
    )
    .expect("override applies")
    .config;
    assert_eq!(c.listeners[0].port, 0);
    let err = KafkaConfig::embedded_default(dir.to_path_buf(), &["num.partitions=0".into()])
        .expect_err("invalid override");
    assert_eq!(
        err.to_string(),
        "Invalid value 0 for configuration num.partitions: Value must be at least 1 (--override)"
    );
}

#[test]
fn latin1_files_read_as_kafka_reads_them() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("server.properties");
    let mut bytes = SEED.as_bytes().to_vec();
    bytes.extend_from_slice(b"broker.rack=r\xe9\n");
    std::fs::write(&path, bytes).expect("write");
    let c = KafkaConfig::load(&path, &[]).expect("loads").config;
    assert_eq!(c.broker_rack.as_deref(), Some("r\u{e9}"));
}

#[test]
fn controller_only_and_broker_only_roles() {
    let controller_only = seed_with("process.roles", "process.roles=controller");
    assert!(error_of(&controller_only).starts_with(
        "The listeners config must only contain KRaft controller listeners from \
         controller.listener.names when process.roles=controller (server.properties line 10)"
    ));
    let c = load_text(
        &controller_only
            .replace(
                "listeners=PLAINTEXT://localhost:9092,CONTROLLER://localhost:9093",
                "listeners=CONTROLLER://localhost:9093",
            )
            .replace("advertised.listeners=PLAINTEXT://localhost:9092", ""),
    )
    .expect("a controller-only node loads")
    .config;
    assert_eq!(c.process_roles, [ProcessRole::Controller]);
    assert_eq!(c.inter_broker_listener_name, None);
    assert!(c.advertised_listeners.is_empty());

    let broker_only = seed_with("process.roles", "process.roles=broker")
        .replace("0@localhost:9093", "1@localhost:9093");
    assert!(error_of(&broker_only).starts_with(
        "controller.listener.names must not contain a value appearing in the 'listeners' \
         configuration when running KRaft with just the broker role"
    ));
}

#[test]
fn inter_broker_listener_rules() {
    assert!(
        error_of(&format!(
            "{SEED}inter.broker.listener.name=PLAINTEXT\nsecurity.inter.broker.protocol=PLAINTEXT\n"
        ))
        .starts_with(
            "Only one of inter.broker.listener.name and security.inter.broker.protocol should be set."
        )
    );
    assert!(
        error_of(&format!("{SEED}inter.broker.listener.name=FOO\n")).starts_with(
            "Listener with name FOO defined in inter.broker.listener.name not found in \
             listener.security.protocol.map."
        )
    );
    assert!(
        error_of(&seed_with(
            "listener.security.protocol.map",
            "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:FOO"
        ))
        .starts_with(
            "Invalid security protocol `FOO` defined in listener.security.protocol.map \
             (server.properties line 12)"
        )
    );
}
