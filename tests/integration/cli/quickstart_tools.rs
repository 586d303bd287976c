//! The Kafka quickstart's commands without a JVM: `kafka-topics`, `kafka-console-producer`,
//! `kafka-console-consumer` and `kafka-consumer-groups` as argv[0] names of the `strom` binary,
//! run side by side with Apache Kafka's own tool classes (`scripts/apache-kafka.sh run CLASS`,
//! the version `tests/oracle/pom.xml` pins) against the same Strom broker: same standard output
//! and exit status, modulo the order of records across partitions.
//!
//! Needs Java and Maven for Kafka's side; without them it prints a SKIP line and checks Strom's
//! tools alone against the expected text.

use crate::common::TestBroker;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Instant;

/// A directory of Kafka-named links to the binary under test, as the formula installs them.
fn kafka_names() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    for name in [
        "kafka-topics",
        "kafka-console-producer",
        "kafka-console-consumer",
        "kafka-consumer-groups",
    ] {
        std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_strom"), dir.path().join(name))
            .expect("symlink");
    }
    dir
}

/// Output and exit status of one tool run.
#[derive(Debug, PartialEq)]
struct Run {
    stdout: String,
    code: Option<i32>,
}

fn run(mut command: Command, input: Option<&str>) -> (Run, f64) {
    let started = Instant::now();
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("tool starts");
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().expect("stdin");
        if let Some(text) = input {
            stdin.write_all(text.as_bytes()).expect("write stdin");
        }
    }
    let out = child.wait_with_output().expect("tool runs");
    let run = Run {
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        code: out.status.code(),
    };
    (run, started.elapsed().as_secs_f64())
}

/// Runs Strom's `tool` (a Kafka name) and, when Java is at hand, Kafka's `class` with the same
/// arguments; returns both (Kafka's `None` without Java) and prints the times.
struct Tools {
    names: tempfile::TempDir,
    kafka: Option<PathBuf>,
    bootstrap: String,
}

impl Tools {
    fn strom(&self, tool: &str, args: &[&str], input: Option<&str>) -> Run {
        let mut c = Command::new(self.names.path().join(tool));
        c.args(["--bootstrap-server", &self.bootstrap]).args(args);
        let (r, secs) = run(c, input);
        println!("strom {tool} {}: {secs:.3} s", args.join(" "));
        r
    }

    fn kafka(&self, class: &str, args: &[&str], input: Option<&str>) -> Option<Run> {
        let script = self.kafka.as_ref()?;
        let mut c = Command::new(script);
        c.args(["run", class, "--bootstrap-server", &self.bootstrap])
            .args(args);
        let (r, secs) = run(c, input);
        println!("kafka {class} {}: {secs:.3} s", args.join(" "));
        Some(r)
    }

    /// Both tools; asserts equal output (after `normalise`) and exit status.
    fn same(&self, tool: &str, class: &str, args: &[&str], normalise: fn(&str) -> String) -> Run {
        let ours = self.strom(tool, args, None);
        if let Some(theirs) = self.kafka(class, args, None) {
            assert_eq!(
                (normalise(&ours.stdout), ours.code),
                (normalise(&theirs.stdout), theirs.code),
                "{tool} {args:?}"
            );
        }
        ours
    }
}

fn as_is(text: &str) -> String {
    text.to_string()
}

/// Lines in a stable order (records of different partitions come in any order).
fn sorted(text: &str) -> String {
    let mut lines: Vec<&str> = text.lines().collect();
    lines.sort_unstable();
    lines.join("\n")
}

/// `scripts/apache-kafka.sh`, or None when java or mvn is missing (the SKIP line then stands
/// for Kafka's side only: Strom's tools are still checked).
fn java_and_maven() -> Option<PathBuf> {
    crate::common::require::apache_kafka()
}

const TOPICS: &str = "org.apache.kafka.tools.TopicCommand";
const PRODUCER: &str = "org.apache.kafka.tools.ConsoleProducer";
const CONSUMER: &str = "org.apache.kafka.tools.consumer.ConsoleConsumer";
const GROUPS: &str = "org.apache.kafka.tools.consumer.group.ConsumerGroupCommand";

#[test]
fn the_quickstart_tools_print_what_kafkas_tools_print() {
    let broker = TestBroker::start();
    let t = Tools {
        names: kafka_names(),
        kafka: java_and_maven(),
        bootstrap: broker.bootstrap(),
    };

    // kafka-topics
    let created = t.strom(
        "kafka-topics",
        &[
            "--create",
            "--topic",
            "quick",
            "--partitions",
            "3",
            "--config",
            "retention.ms=86400000",
        ],
        None,
    );
    assert_eq!(
        created,
        Run {
            stdout: "Created topic quick.\n".into(),
            code: Some(0)
        }
    );
    let exists = t.same(
        "kafka-topics",
        TOPICS,
        &["--create", "--topic", "quick"],
        as_is,
    );
    assert_eq!(exists.code, Some(1));
    assert!(
        exists
            .stdout
            .starts_with("Error while executing topic command : Topic 'quick' already exists.")
    );
    let described = t.same(
        "kafka-topics",
        TOPICS,
        &["--describe", "--topic", "quick"],
        as_is,
    );
    assert!(
        described
            .stdout
            .contains("PartitionCount: 3\tReplicationFactor: 1\tConfigs: ")
            && described.stdout.contains("retention.ms=86400000\n"),
        "{}",
        described.stdout
    );
    assert!(described.stdout.contains(
        "\tTopic: quick\tPartition: 2\tLeader: 1\tReplicas: 1\tIsr: 1\tElr: \tLastKnownElr: \n"
    ));
    t.same(
        "kafka-topics",
        TOPICS,
        &["--describe", "--topic", "nonesuch"],
        as_is,
    );
    t.same(
        "kafka-topics",
        TOPICS,
        &["--alter", "--topic", "quick", "--partitions", "2"],
        as_is,
    );

    // kafka-console-producer: the same keyed lines through each producer, to two topics.
    let lines = "k1:v1\nk2:v2\nk3:v3\nk4:v4\n";
    let keyed = [
        "--property",
        "parse.key=true",
        "--property",
        "key.separator=:",
    ];
    let ours = t.strom(
        "kafka-console-producer",
        &[&["--topic", "quick"][..], &keyed].concat(),
        Some(lines),
    );
    assert_eq!(
        ours,
        Run {
            stdout: String::new(),
            code: Some(0)
        }
    );
    let print = [
        "--from-beginning",
        "--max-messages",
        "4",
        "--property",
        "print.key=true",
        "--property",
        "print.partition=true",
        "--property",
        "print.offset=true",
    ];
    if t.kafka.is_some() {
        t.strom(
            "kafka-topics",
            &["--create", "--topic", "quick-k", "--partitions", "3"],
            None,
        );
        let theirs = t.kafka(
            PRODUCER,
            &[&["--topic", "quick-k"][..], &keyed].concat(),
            Some(lines),
        );
        assert_eq!(theirs.map(|r| r.code), Some(Some(0)));
        // Keys land on the same partitions at the same offsets.
        let a = t.strom(
            "kafka-console-consumer",
            &[&["--topic", "quick"][..], &print].concat(),
            None,
        );
        let b = t.strom(
            "kafka-console-consumer",
            &[&["--topic", "quick-k"][..], &print].concat(),
            None,
        );
        assert_eq!(sorted(&a.stdout), sorted(&b.stdout));
    }

    // kafka-console-consumer, in a group that commits.
    let consumed = t.strom(
        "kafka-console-consumer",
        &[&["--topic", "quick", "--group", "gs"][..], &print].concat(),
        None,
    );
    assert_eq!(
        sorted(&consumed.stdout),
        "Partition:0\tOffset:0\tk2\tv2\nPartition:1\tOffset:0\tk3\tv3\nPartition:1\tOffset:1\tk4\tv4\nPartition:2\tOffset:0\tk1\tv1"
    );
    if let Some(theirs) = t.kafka(
        CONSUMER,
        &[&["--topic", "quick", "--group", "gk"][..], &print].concat(),
        None,
    ) {
        assert_eq!(sorted(&theirs.stdout), sorted(&consumed.stdout));
    }

    // kafka-consumer-groups
    let list = t.strom("kafka-consumer-groups", &["--list"], None);
    assert!(list.stdout.lines().any(|l| l == "gs"), "{}", list.stdout);
    if let Some(theirs) = t.kafka(GROUPS, &["--list"], None) {
        assert_eq!(sorted(&theirs.stdout), sorted(&list.stdout));
    }
    let described = t.same(
        "kafka-consumer-groups",
        GROUPS,
        &["--describe", "--group", "gs"],
        sorted,
    );
    assert!(described.stdout.contains("\nGROUP           TOPIC           PARTITION  CURRENT-OFFSET  LOG-END-OFFSET  LAG             CONSUMER-ID     HOST            CLIENT-ID\n"), "{}", described.stdout);
    assert!(described.stdout.contains("gs              quick           1          2               2               0               -               -               -\n"));
    t.same(
        "kafka-consumer-groups",
        GROUPS,
        &["--describe", "--group", "gs", "--state"],
        as_is,
    );
    t.same(
        "kafka-consumer-groups",
        GROUPS,
        &[
            "--reset-offsets",
            "--group",
            "gs",
            "--topic",
            "quick",
            "--to-earliest",
            "--dry-run",
        ],
        sorted,
    );
    let reset = t.strom(
        "kafka-consumer-groups",
        &[
            "--reset-offsets",
            "--group",
            "gs",
            "--all-topics",
            "--to-earliest",
            "--execute",
        ],
        None,
    );
    assert!(reset.stdout.contains("gs                             quick                          1          0              \n"), "{}", reset.stdout);
    let lagging = t.same(
        "kafka-consumer-groups",
        GROUPS,
        &["--describe", "--group", "gs"],
        sorted,
    );
    assert!(
        lagging.stdout.contains(
            "gs              quick           1          0               2               2 "
        ),
        "{}",
        lagging.stdout
    );
    t.same(
        "kafka-consumer-groups",
        GROUPS,
        &["--describe", "--group", "nonesuch"],
        as_is,
    );
    let deleted = t.strom(
        "kafka-consumer-groups",
        &["--delete", "--group", "gs"],
        None,
    );
    assert_eq!(
        deleted.stdout,
        "Deletion of requested consumer groups ('gs') was successful.\n"
    );
    t.same("kafka-topics", TOPICS, &["--list"], as_is);
    let gone = t.strom("kafka-topics", &["--delete", "--topic", "quick"], None);
    assert_eq!(
        gone,
        Run {
            stdout: String::new(),
            code: Some(0)
        }
    );
}

/// Runs `strom doctor` with `args`; its output and whether it found no problem.
fn doctor(args: &[&str]) -> (String, bool) {
    let out = Command::new(env!("CARGO_BIN_EXE_strom"))
        .arg("doctor")
        .args(args)
        .env_remove("LOG_DIR")
        .output()
        .expect("doctor runs");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    println!("{text}");
    (text, out.status.success())
}

/// `strom doctor` on the classic Mac Kafka problems, reproduced on this machine: a healthy
/// broker; a stale pid file with nothing listening; the port taken by something that is not
/// Kafka; log dirs of two clusters; a config that does not load; the last error of server.log.
#[test]
fn doctor_names_the_classic_problems_and_what_fixes_them() {
    let mut broker = TestBroker::start();
    // The broker was started on port 0; the doctor probes the port it got.
    let with_port = broker.dir.path().join("doctor.properties");
    let text = std::fs::read_to_string(broker.config_path()).expect("config");
    std::fs::write(
        &with_port,
        text.replace(
            "PLAINTEXT://127.0.0.1:0,",
            &format!("PLAINTEXT://127.0.0.1:{},", broker.port),
        ),
    )
    .expect("config");
    let config = with_port.display().to_string();
    let logs = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        logs.path().join("server.log"),
        "[2026-01-01 00:00:00,000] INFO started (strom::server)\n\
         [2026-01-01 00:00:01,000] ERROR Socket server failed to bind to 127.0.0.1:9092: Address already in use (strom::cli::server)\n",
    )
    .expect("log");
    let log_dir = logs.path().display().to_string();
    let (text, healthy) = doctor(&["--config", &config, "--log-dir", &log_dir]);
    assert!(healthy, "{text}");
    assert!(text.contains("[ok] a broker is running (pid "), "{text}");
    assert!(
        text.contains(&format!(
            "[ok] listener PLAINTEXT 127.0.0.1:{} answers (ApiVersions: ",
            broker.port
        )),
        "{text}"
    );
    assert!(text.contains("is formatted (cluster id "), "{text}");
    assert!(
        text.contains("last error in ") && text.contains("failed to bind to 127.0.0.1:9092"),
        "{text}"
    );

    // Killed: the pid file stays behind and nothing listens.
    let port = broker.port;
    broker.kill9();
    let (text, healthy) = doctor(&["--config", &config]);
    assert!(!healthy);
    assert!(
        text.contains("[!!] stale pid file ") && text.contains("is gone)"),
        "{text}"
    );
    assert!(
        text.contains(&format!("[!!] nothing listens on 127.0.0.1:{port}")),
        "{text}"
    );

    // Something else holds the port: accepts and hangs up, as a non-Kafka server would.
    let squatter = std::net::TcpListener::bind(("127.0.0.1", port)).expect("port free again");
    let accepting = std::thread::spawn(move || {
        if let Ok((stream, _)) = squatter.accept() {
            drop(stream);
        }
    });
    let (text, _) = doctor(&["--config", &config]);
    assert!(
        text.contains(&format!(
            "[!!] 127.0.0.1:{port} is taken by a process that is not a Kafka broker"
        )),
        "{text}"
    );
    accepting.join().expect("squatter done");

    // Two log dirs of different clusters (the reformat-one-dir mistake).
    let other = tempfile::tempdir().expect("tempdir");
    let text = std::fs::read_to_string(&with_port).expect("config");
    let meta = std::fs::read_to_string(broker.data_dir().join("meta.properties")).expect("meta");
    let id = meta
        .lines()
        .find_map(|l| l.strip_prefix("cluster.id="))
        .expect("cluster id")
        .to_string();
    std::fs::write(
        other.path().join("meta.properties"),
        meta.replace(&id, "AAAAAAAAAAAAAAAAAAAAAA"),
    )
    .expect("meta");
    let two = other.path().join("two.properties");
    std::fs::write(
        &two,
        text.replace(
            &format!("log.dirs={}", broker.data_dir().display()),
            &format!(
                "log.dirs={},{}",
                broker.data_dir().display(),
                other.path().display()
            ),
        ) + "offsets.topic.replication.factor=3\n",
    )
    .expect("config");
    let (text, _) = doctor(&["--config", &two.display().to_string()]);
    assert!(text.contains("[!!] cluster id mismatch: "), "{text}");
    assert!(
        text.contains("[!!] offsets.topic.replication.factor=3 on a single node"),
        "{text}"
    );

    // A bad edit.
    let bad = other.path().join("bad.properties");
    std::fs::write(&bad, "log.retention.hours=abc\n").expect("config");
    let (text, healthy) = doctor(&["--config", &bad.display().to_string()]);
    assert!(!healthy);
    assert!(
        text.contains("[!!] the configuration does not load: "),
        "{text}"
    );
}
