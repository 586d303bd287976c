//! Configuration writes at the protocol level (what `kafka-configs --alter` sends):
//! IncrementalAlterConfigs and AlterConfigs on topics and brokers, Kafka's errors, sources in
//! DescribeConfigs, persistence across a restart, and a retention change applied live.

mod common;

use common::TestBroker;
use common::raw::{RawClient, create_topic, produce_to, record_batch};
use kafka_protocol::ResponseError;
use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kafka_protocol::messages::incremental_alter_configs_request::{
    AlterConfigsResource, AlterableConfig,
};
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use std::time::Duration;

const TOPIC: i8 = 2;
const BROKER: i8 = 4;
const SET: i8 = 0;
const DELETE: i8 = 1;
const APPEND: i8 = 2;

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

/// One IncrementalAlterConfigs resource; returns (error code, message).
fn alter(
    c: &mut RawClient,
    kind: i8,
    name: &str,
    ops: &[(&str, i8, Option<&str>)],
) -> (i16, Option<String>) {
    let req = IncrementalAlterConfigsRequest::default().with_resources(vec![
        AlterConfigsResource::default()
            .with_resource_type(kind)
            .with_resource_name(s(name))
            .with_configs(
                ops.iter()
                    .map(|(k, op, v)| {
                        AlterableConfig::default()
                            .with_name(s(k))
                            .with_config_operation(*op)
                            .with_value(v.map(s))
                    })
                    .collect(),
            ),
    ]);
    let r = c.call(&req, 1).responses.remove(0);
    (r.error_code, r.error_message.map(|m| m.to_string()))
}

/// (value, source) of `key` on a resource.
fn describe(c: &mut RawClient, kind: i8, name: &str, key: &str) -> Option<(Option<String>, i8)> {
    let req = DescribeConfigsRequest::default().with_resources(vec![
        DescribeConfigsResource::default()
            .with_resource_type(kind)
            .with_resource_name(s(name))
            .with_configuration_keys(Some(vec![s(key)])),
    ]);
    let r = c.call(&req, 4).results.remove(0);
    r.configs
        .into_iter()
        .next()
        .map(|e| (e.value.map(|v| v.to_string()), e.config_source))
}

fn earliest(c: &mut RawClient, topic: &str) -> i64 {
    let req = ListOffsetsRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_topics(vec![
            ListOffsetsTopic::default()
                .with_name(TopicName(s(topic)))
                .with_partitions(vec![
                    ListOffsetsPartition::default()
                        .with_partition_index(0)
                        .with_timestamp(-2),
                ]),
        ]);
    c.call(&req, 7).topics[0].partitions[0].offset
}

fn some(v: &str, source: i8) -> Option<(Option<String>, i8)> {
    Some((Some(v.to_string()), source))
}

#[test]
fn topic_and_broker_configs_change_live_and_persist() {
    let mut b = TestBroker::start_with(&[
        ("log.retention.check.interval.ms", "100"),
        ("log.initial.task.delay.ms", "0"),
    ]);
    let mut c = RawClient::connect(b.port);
    let created = create_topic(&mut c, "t", 1, &[("internal.segment.bytes", "200")]);
    assert_eq!(created.error_code, 0);
    for _ in 0..6 {
        assert_eq!(
            produce_to(&mut c, "t", 0, record_batch(1, None), 1).error_code,
            0
        );
    }

    // Topic overrides: SET, APPEND to a list, DELETE; sources as Kafka reports them.
    assert_eq!(
        alter(
            &mut c,
            TOPIC,
            "t",
            &[("retention.ms", SET, Some("86400000"))]
        ),
        (0, None)
    );
    assert_eq!(
        describe(&mut c, TOPIC, "t", "retention.ms"),
        some("86400000", 1)
    );
    assert_eq!(
        alter(
            &mut c,
            TOPIC,
            "t",
            &[("cleanup.policy", APPEND, Some("compact"))]
        )
        .0,
        0
    );
    assert_eq!(
        describe(&mut c, TOPIC, "t", "cleanup.policy"),
        some("delete,compact", 1)
    );
    assert_eq!(
        alter(&mut c, TOPIC, "t", &[("cleanup.policy", DELETE, None)]).0,
        0
    );
    assert_eq!(
        describe(&mut c, TOPIC, "t", "cleanup.policy"),
        some("delete", 5)
    );

    // Kafka's errors, in Kafka's words.
    assert_eq!(
        alter(&mut c, TOPIC, "t", &[("foo.bar", SET, Some("1"))]),
        (
            ResponseError::InvalidConfig.code(),
            Some("Unknown topic config name: foo.bar".into())
        )
    );
    assert_eq!(
        alter(
            &mut c,
            TOPIC,
            "t",
            &[("message.timestamp.type", SET, Some("Foo"))]
        ),
        (
            ResponseError::InvalidConfig.code(),
            Some(
                "Invalid value Foo for configuration message.timestamp.type: String must be \
                 one of: CreateTime, LogAppendTime"
                    .into()
            )
        )
    );
    assert_eq!(
        alter(&mut c, TOPIC, "nope", &[("retention.ms", SET, Some("5"))]),
        (
            ResponseError::UnknownTopicOrPartition.code(),
            Some("The topic 'nope' does not exist.".into())
        )
    );
    assert_eq!(
        alter(&mut c, BROKER, "1", &[("node.id", SET, Some("3"))]),
        (
            ResponseError::InvalidRequest.code(),
            Some("Cannot update these configs dynamically: [node.id]".into())
        )
    );

    // Dynamic broker configs: per broker and cluster-wide, with their sources.
    assert_eq!(
        alter(
            &mut c,
            BROKER,
            "",
            &[("compression.type", SET, Some("zstd"))]
        )
        .0,
        0
    );
    assert_eq!(
        alter(
            &mut c,
            BROKER,
            "1",
            &[("log.retention.ms", SET, Some("99999999"))]
        )
        .0,
        0
    );
    assert_eq!(
        describe(&mut c, BROKER, "1", "log.retention.ms"),
        some("99999999", 2)
    );
    assert_eq!(
        describe(&mut c, BROKER, "", "compression.type"),
        some("zstd", 3)
    );
    assert_eq!(
        describe(&mut c, TOPIC, "t", "compression.type"),
        some("zstd", 3)
    );

    // Everything survives a restart.
    b.restart();
    let mut c = RawClient::connect(b.port);
    assert_eq!(
        describe(&mut c, TOPIC, "t", "retention.ms"),
        some("86400000", 1)
    );
    assert_eq!(
        describe(&mut c, BROKER, "1", "log.retention.ms"),
        some("99999999", 2)
    );
    assert_eq!(
        describe(&mut c, TOPIC, "t", "compression.type"),
        some("zstd", 3)
    );

    // A retention change takes effect at the next retention pass.
    assert_eq!(earliest(&mut c, "t"), 0);
    assert_eq!(
        alter(&mut c, TOPIC, "t", &[("retention.ms", SET, Some("1"))]).0,
        0
    );
    let moved = common::wait_for(Duration::from_secs(30), || {
        let e = earliest(&mut c, "t");
        (e > 0).then_some(e)
    });
    assert!(moved.is_some(), "retention.ms=1 deletes old segments");
}

/// Kafka's default `offsets.topic.replication.factor` (3) cannot be met by one broker: taken
/// from the default, `__consumer_offsets` is created with one replica and one WARN names the
/// key; set in the file, Kafka's behaviour stays and one ERROR names the key and the fix.
#[test]
fn kafka_default_replication_factor_is_forgiven_but_an_explicit_one_is_not() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};
    let free = || {
        std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port()
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let (port, controller) = (free(), free());
    let config = dir.path().join("server.properties");
    std::fs::write(
        &config,
        format!(
            "process.roles=broker,controller\nnode.id=1\n\
             controller.quorum.voters=1@127.0.0.1:{controller}\ncontroller.listener.names=CONTROLLER\n\
             listeners=PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller}\n\
             log.dirs={}\n",
            dir.path().join("data").display()
        ),
    )
    .expect("config");
    let mut child = Command::new(env!("CARGO_BIN_EXE_strom"))
        .args(["server", "--config"])
        .arg(&config)
        .stderr(Stdio::piped())
        .spawn()
        .expect("strom starts");
    let stderr = child.stderr.take().expect("piped");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut lines = Vec::new();
    while !lines
        .iter()
        .any(|l: &String| l.contains("Awaiting socket connections"))
    {
        lines.push(
            rx.recv_timeout(Duration::from_secs(60))
                .expect("broker starts"),
        );
    }
    let mut c = RawClient::connect(port);
    let found = common::wait_for(Duration::from_secs(30), || {
        let r = c.call(
            &FindCoordinatorRequest::default().with_key(StrBytes::from_static_str("g")),
            3,
        );
        (r.error_code == 0).then_some(r.node_id.0)
    });
    assert_eq!(
        found,
        Some(1),
        "a group coordinator despite Kafka's default of 3"
    );
    // SAFETY: kill(2) on our own child.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGTERM);
    }
    child.wait().expect("stops");
    lines.extend(rx.try_iter());
    let warnings: Vec<_> = lines
        .iter()
        .filter(|l| {
            l.contains("WARN") && l.contains("offsets.topic.replication.factor defaults to 3")
        })
        .collect();
    assert_eq!(warnings.len(), 1, "{lines:#?}");

    let explicit = TestBroker::start_with(&[("offsets.topic.replication.factor", "3")]);
    let mut c = RawClient::connect(explicit.port);
    for _ in 0..2 {
        let r = c.call(
            &FindCoordinatorRequest::default().with_key(StrBytes::from_static_str("g")),
            3,
        );
        assert_eq!(r.error_code, ResponseError::CoordinatorNotAvailable.code());
    }
    assert!(explicit.log_contains(
        "offsets.topic.replication.factor=3 is set in the configuration, but this cluster has 1 broker"
    ));
}
