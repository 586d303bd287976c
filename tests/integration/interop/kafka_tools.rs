//! Apache Kafka 4.4.0's command-line tools, run as the classes `kafka-topics`,
//! `kafka-configs`, `kafka-consumer-groups`, `kafka-delete-records`, `kafka-get-offsets`,
//! `kafka-leader-election`, `kafka-log-dirs`, `kafka-reassign-partitions`,
//! `kafka-metadata-quorum`, `kafka-features` and `kafka-cluster` start, against one Strom
//! broker (both `--bootstrap-server` and `--bootstrap-controller`), with their output
//! asserted. Slow (a JVM per tool), so one test; skipped without java and mvn.

use crate::common::kafka::{classpath, java};
use rdkafka::config::ClientConfig;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

struct Tools {
    cp: String,
    bootstrap: String,
    controller: String,
}

impl Tools {
    /// Runs a tool class; returns (success, stdout, stderr).
    fn run(&self, class: &str, args: &[&str]) -> (bool, String, String) {
        let out = java(&self.cp, class, args).output().expect("java runs");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// Runs a tool against the broker listener and returns its stdout (it must succeed).
    fn ok(&self, class: &str, args: &[&str]) -> String {
        let mut all = vec!["--bootstrap-server", &self.bootstrap];
        all.extend_from_slice(args);
        let (ok, out, err) = self.run(class, &all);
        assert!(ok, "{class} {args:?} failed:\n{out}\n{err}");
        out
    }
}

fn start(config: &Path, port: u16) -> Child {
    let log = config.with_file_name("strom.log");
    let child = Command::new(env!("CARGO_BIN_EXE_strom"))
        .args(["server", "--config"])
        .arg(config)
        .stderr(std::fs::File::create(log).expect("log file"))
        .spawn()
        .expect("strom starts");
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let deadline = Instant::now() + Duration::from_secs(60);
    while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
        assert!(Instant::now() < deadline, "strom did not listen");
        std::thread::sleep(Duration::from_millis(100));
    }
    child
}

const TOPICS: &str = "org.apache.kafka.tools.TopicCommand";
const CONFIGS: &str = "org.apache.kafka.tools.ConfigCommand";
const GROUPS: &str = "org.apache.kafka.tools.consumer.group.ConsumerGroupCommand";
const OFFSETS: &str = "org.apache.kafka.tools.GetOffsetShell";
const QUORUM: &str = "org.apache.kafka.tools.MetadataQuorumCommand";
const FEATURES: &str = "org.apache.kafka.tools.FeatureCommand";
const CLUSTER: &str = "org.apache.kafka.tools.ClusterTool";

#[test]
fn kafka_command_line_tools_work_against_strom() {
    let t = tempfile::tempdir().expect("temp dir");
    let Some(cp) = classpath(t.path()) else {
        return;
    };
    let (port, controller) = (free_port(), free_port());
    let config = t.path().join("server.properties");
    std::fs::write(
        &config,
        format!(
            "process.roles=broker,controller\nnode.id=1\n\
             controller.quorum.voters=1@127.0.0.1:{controller}\ncontroller.listener.names=CONTROLLER\n\
             listeners=PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller}\n\
             log.dirs={}\noffsets.topic.replication.factor=1\ngroup.initial.rebalance.delay.ms=0\n",
            t.path().join("data").display()
        ),
    )
    .expect("config");
    let mut broker = start(&config, port);
    let k = Tools {
        cp,
        bootstrap: format!("127.0.0.1:{port}"),
        controller: format!("127.0.0.1:{controller}"),
    };

    // kafka-topics: create, describe (DescribeTopicPartitions), alter --partitions.
    let out = k.ok(
        TOPICS,
        &["--create", "--topic", "orders", "--partitions", "2"],
    );
    assert_eq!(out, "Created topic orders.\n");
    let out = k.ok(TOPICS, &["--describe", "--topic", "orders"]);
    assert!(
        out.contains("PartitionCount: 2\tReplicationFactor: 1"),
        "{out}"
    );
    assert!(
        out.contains("Partition: 1\tLeader: 1\tReplicas: 1\tIsr: 1\tElr: \tLastKnownElr: "),
        "{out}"
    );
    k.ok(
        TOPICS,
        &["--alter", "--topic", "orders", "--partitions", "3"],
    );
    let out = k.ok(TOPICS, &["--describe", "--topic", "orders"]);
    assert!(out.contains("PartitionCount: 3"), "{out}");

    let p: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", &k.bootstrap)
        .create()
        .expect("producer");
    for i in 0..50 {
        let v = format!("v{i}");
        p.send(
            BaseRecord::<(), _>::to("orders")
                .partition(if i < 30 { 0 } else { 1 })
                .payload(&v),
        )
        .expect("queued");
    }
    p.flush(Duration::from_secs(30)).expect("flushed");

    // kafka-get-offsets and kafka-delete-records.
    assert_eq!(
        k.ok(OFFSETS, &["--topic", "orders"]),
        "orders:0:30\norders:1:20\norders:2:0\n"
    );
    let json = t.path().join("delete.json");
    std::fs::write(
        &json,
        r#"{"partitions":[{"topic":"orders","partition":0,"offset":10}],"version":1}"#,
    )
    .expect("json");
    let out = k.ok(
        "org.apache.kafka.tools.DeleteRecordsCommand",
        &["--offset-json-file", json.to_str().expect("utf-8")],
    );
    assert!(
        out.contains("partition: orders-0\tlow_watermark: 10"),
        "{out}"
    );
    assert_eq!(
        k.ok(OFFSETS, &["--topic", "orders", "--time", "-2"]),
        "orders:0:10\norders:1:0\norders:2:0\n"
    );

    // kafka-configs: topic and broker configs, Kafka's errors.
    let out = k.ok(
        CONFIGS,
        &[
            "--alter",
            "--entity-type",
            "topics",
            "--entity-name",
            "orders",
            "--add-config",
            "retention.ms=1000000",
        ],
    );
    assert_eq!(out, "Completed updating config for topic orders.\n");
    let out = k.ok(
        CONFIGS,
        &[
            "--describe",
            "--entity-type",
            "topics",
            "--entity-name",
            "orders",
        ],
    );
    assert!(
        out.contains("retention.ms=1000000 sensitive=false synonyms={DYNAMIC_TOPIC_CONFIG:retention.ms=1000000"),
        "{out}"
    );
    let out = k.ok(
        CONFIGS,
        &[
            "--alter",
            "--entity-type",
            "brokers",
            "--entity-default",
            "--add-config",
            "compression.type=zstd",
        ],
    );
    assert_eq!(
        out,
        "Completed updating default config for brokers in the cluster.\n"
    );
    let out = k.ok(
        CONFIGS,
        &["--describe", "--entity-type", "brokers", "--entity-default"],
    );
    assert!(
        out.contains("compression.type=zstd sensitive=false synonyms={DYNAMIC_DEFAULT_BROKER_CONFIG:compression.type=zstd}"),
        "{out}"
    );
    let (ok, _, err) = k.run(
        CONFIGS,
        &[
            "--bootstrap-server",
            &k.bootstrap,
            "--alter",
            "--entity-type",
            "brokers",
            "--entity-name",
            "1",
            "--add-config",
            "node.id=3",
        ],
    );
    assert!(!ok);
    assert!(
        err.contains("Cannot update these configs dynamically: [node.id]"),
        "{err}"
    );

    // kafka-consumer-groups: lag, reset, delete.
    let (ok, _, err) = k.run(
        "org.apache.kafka.tools.consumer.ConsoleConsumer",
        &[
            "--bootstrap-server",
            &k.bootstrap,
            "--topic",
            "orders",
            "--group",
            "g1",
            "--from-beginning",
            "--max-messages",
            "40",
            "--timeout-ms",
            "30000",
        ],
    );
    assert!(ok, "{err}");
    let out = k.ok(GROUPS, &["--describe", "--group", "g1"]);
    let lag: i64 = out
        .lines()
        .filter(|l| l.starts_with("g1 "))
        .filter_map(|l| l.split_whitespace().nth(5)?.parse::<i64>().ok())
        .sum();
    assert_eq!(lag, 0, "every record read and committed:\n{out}");
    let out = k.ok(
        GROUPS,
        &[
            "--reset-offsets",
            "--group",
            "g1",
            "--topic",
            "orders",
            "--to-earliest",
            "--execute",
        ],
    );
    assert!(
        out.lines()
            .any(|l| l.split_whitespace().collect::<Vec<_>>() == ["g1", "orders", "0", "10"]),
        "{out}"
    );
    let out = k.ok(GROUPS, &["--describe", "--group", "g1"]);
    assert!(
        out.lines()
            .any(|l| l.split_whitespace().take(6).collect::<Vec<_>>()
                == ["g1", "orders", "0", "10", "30", "20"]),
        "{out}"
    );
    let out = k.ok(GROUPS, &["--delete", "--group", "g1"]);
    assert!(
        out.contains("Deletion of requested consumer groups ('g1') was successful."),
        "{out}"
    );

    // kafka-leader-election, kafka-log-dirs, kafka-reassign-partitions.
    let out = k.ok(
        "org.apache.kafka.tools.LeaderElectionCommand",
        &[
            "--election-type",
            "preferred",
            "--topic",
            "orders",
            "--partition",
            "0",
        ],
    );
    assert!(
        out.contains("Valid replica already elected for partitions orders-0"),
        "{out}"
    );
    let out = k.ok(
        "org.apache.kafka.tools.LogDirsCommand",
        &["--describe", "--topic-list", "orders"],
    );
    assert!(out.contains(r#""partition":"orders-2","size":0"#), "{out}");
    let out = k.ok(
        "org.apache.kafka.tools.reassign.ReassignPartitionsCommand",
        &["--list"],
    );
    assert!(out.contains("No partition reassignments found."), "{out}");

    // kafka-metadata-quorum, kafka-features, kafka-cluster on both listeners.
    for flag in ["--bootstrap-server", "--bootstrap-controller"] {
        let target = if flag == "--bootstrap-server" {
            &k.bootstrap
        } else {
            &k.controller
        };
        let (ok, out, err) = k.run(QUORUM, &[flag, target, "describe", "--status"]);
        assert!(ok, "{flag}: {err}");
        assert!(out.contains("LeaderId:               1"), "{out}");
        assert!(
            out.contains(&format!(
                r#"CurrentVoters:          [{{"id": 1, "endpoints": ["CONTROLLER://{}"]}}]"#,
                k.controller
            )),
            "{out}"
        );
        let (ok, out, err) = k.run(FEATURES, &[flag, target, "describe"]);
        assert!(ok, "{flag}: {err}");
        assert!(out.contains("Feature: metadata.version"), "{out}");
        assert!(out.contains("FinalizedVersionLevel: 4.1-IV1"), "{out}");
        let (ok, out, err) = k.run(CLUSTER, &["cluster-id", flag, target]);
        assert!(ok, "{flag}: {err}");
        assert!(out.starts_with("Cluster ID: "), "{out}");
    }
    let out = k.ok(
        FEATURES,
        &["downgrade", "--feature", "transaction.version=1"],
    );
    assert_eq!(out, "transaction.version was downgraded to 1.\n");
    let out = k.ok(FEATURES, &["upgrade", "--feature", "transaction.version=2"]);
    assert_eq!(out, "transaction.version was upgraded to 2.\n");

    // SAFETY: kill(2) on our own child.
    unsafe {
        libc::kill(broker.id() as i32, libc::SIGTERM);
    }
    assert!(broker.wait().expect("stops").success());
}
