//! The data directory is the shortest path between Strom and Apache Kafka (issue #9, issue #11
//! item 2): Apache Kafka 4.4.0 (real broker from Maven Central) writes a directory with a
//! 2-partition topic of 50 records, a topic config and a group with committed offsets; Strom
//! started on it serves all of it and adds its own topic and group; Kafka started on the
//! result serves both, and Kafka's `DumpLogSegments --cluster-metadata-decoder` reads the
//! metadata log Strom appended to. Slow (JVMs), so one test; skipped without java and mvn.

use rdkafka::Offset;
use rdkafka::TopicPartitionList;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, ResourceSpecifier, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::kafka::java;

const STROM: &str = env!("CARGO_BIN_EXE_strom");

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

fn wait_until_listening(child: &mut Child, port: u16, what: &str) {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let deadline = Instant::now() + Duration::from_secs(180);
    while Instant::now() < deadline {
        if let Ok(Some(status)) = child.try_wait() {
            panic!("{what} exited early with {status}");
        }
        if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    panic!("{what} did not listen on {port}");
}

/// SIGTERM and wait: both brokers shut down cleanly on it.
fn stop(mut child: Child, what: &str) {
    // SAFETY: kill(2) on the pid of a child we spawned and have not reaped.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGTERM);
    }
    let status = child.wait().expect("reaped");
    assert!(
        status.success() || status.code() == Some(143),
        "{what} exit {status}"
    );
}

struct Setup {
    cp: String,
    config: PathBuf,
    port: u16,
    root: PathBuf,
}

impl Setup {
    fn bootstrap(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    fn kafka(&self, log: &str) -> Child {
        let mut child = java(
            &self.cp,
            "kafka.Kafka",
            &[self.config.to_str().expect("utf-8")],
        )
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(self.root.join(log)).expect("log"))
        .spawn()
        .expect("Kafka starts");
        wait_until_listening(&mut child, self.port, "Apache Kafka");
        // The broker listens before it has caught up with its metadata; wait for topics.
        child
    }

    fn strom(&self, log: &str) -> Child {
        let mut child = Command::new(STROM)
            .args(["server", "--config", self.config.to_str().expect("utf-8")])
            .stderr(std::fs::File::create(self.root.join(log)).expect("log"))
            .spawn()
            .expect("strom starts");
        wait_until_listening(&mut child, self.port, "strom");
        child
    }

    fn admin(&self) -> AdminClient<DefaultClientContext> {
        ClientConfig::new()
            .set("bootstrap.servers", self.bootstrap())
            .create()
            .expect("admin client")
    }

    fn consumer(&self, group: &str) -> BaseConsumer {
        ClientConfig::new()
            .set("bootstrap.servers", self.bootstrap())
            .set("group.id", group)
            .set("enable.auto.commit", "false")
            .set("auto.offset.reset", "earliest")
            .create()
            .expect("consumer")
    }

    fn produce(&self, topic: &str, n: usize) {
        let p: BaseProducer = ClientConfig::new()
            .set("bootstrap.servers", self.bootstrap())
            .create()
            .expect("producer");
        for i in 0..n {
            let (k, v) = (format!("k{i}"), format!("v{i}"));
            p.send(BaseRecord::to(topic).key(&k).payload(&v))
                .expect("queued");
        }
        p.flush(Duration::from_secs(60)).expect("flushed");
    }

    /// Consumes `n` records of `topic` as `group` from its committed position and commits.
    fn consume(&self, group: &str, topic: &str, n: usize) -> Vec<String> {
        let c = self.consumer(group);
        c.subscribe(&[topic]).expect("subscribed");
        let mut got = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(120);
        while got.len() < n {
            assert!(
                Instant::now() < deadline,
                "only {got:?} of {n} from {topic}"
            );
            if let Some(m) = c.poll(Duration::from_millis(200)) {
                let m = m.expect("message");
                got.push(String::from_utf8_lossy(m.payload().unwrap_or_default()).into_owned());
            }
        }
        c.commit_consumer_state(CommitMode::Sync).expect("commit");
        got
    }

    /// Sum of the committed offsets of `group` on every partition of `topic`.
    fn committed(&self, group: &str, topic: &str, partitions: i32) -> i64 {
        let c = self.consumer(group);
        let mut tpl = TopicPartitionList::new();
        for p in 0..partitions {
            tpl.add_partition(topic, p);
        }
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            match c.committed_offsets(tpl.clone(), Duration::from_secs(10)) {
                Ok(list) => {
                    return list
                        .elements()
                        .iter()
                        .map(|e| match e.offset() {
                            Offset::Offset(o) => o,
                            _ => 0,
                        })
                        .sum();
                }
                Err(e) => {
                    assert!(Instant::now() < deadline, "committed offsets: {e}");
                    std::thread::sleep(Duration::from_millis(500));
                }
            }
        }
    }

    /// Partition count of `topic`, waiting for the broker to know it.
    fn partitions(&self, topic: &str) -> usize {
        let c = self.consumer("meta");
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(md) = c.fetch_metadata(Some(topic), Duration::from_secs(10))
                && let Some(t) = md.topics().first()
                && t.error().is_none()
                && t.partitions().iter().all(|p| p.leader() >= 0)
            {
                return t.partitions().len();
            }
            assert!(Instant::now() < deadline, "{topic} never appeared");
            std::thread::sleep(Duration::from_millis(500));
        }
    }

    /// Every value of `topic`, read from the start without a group.
    fn read_all(&self, topic: &str, partitions: i32, n: usize) -> Vec<String> {
        let c: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", self.bootstrap())
            .set("group.id", "reader")
            .create()
            .expect("consumer");
        let mut tpl = TopicPartitionList::new();
        for p in 0..partitions {
            tpl.add_partition_offset(topic, p, Offset::Beginning)
                .expect("offset");
        }
        c.assign(&tpl).expect("assigned");
        let mut got = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        while got.len() < n && Instant::now() < deadline {
            if let Some(Ok(m)) = c.poll(Duration::from_millis(200)) {
                got.push(String::from_utf8_lossy(m.payload().unwrap_or_default()).into_owned());
            }
        }
        got.sort();
        got
    }

    fn topic_config(&self, topic: &str, key: &str) -> Option<String> {
        let rt = tokio::runtime::Runtime::new().expect("runtime");
        let admin = self.admin();
        let res = rt
            .block_on(admin.describe_configs(
                &[ResourceSpecifier::Topic(topic)],
                &AdminOptions::new().request_timeout(Some(Duration::from_secs(30))),
            ))
            .expect("describe configs");
        let res = res.into_iter().next()?.ok()?;
        res.get(key).and_then(|e| e.value.clone())
    }
}

fn values(prefix: &str, n: usize) -> Vec<String> {
    let mut v: Vec<String> = (0..n).map(|i| format!("{prefix}{i}")).collect();
    v.sort();
    v
}

#[test]
fn kafka_and_strom_take_over_each_others_data_dir() {
    let t = tempfile::tempdir().expect("temp dir");
    let Some(cp) = crate::common::kafka::classpath(t.path()) else {
        return;
    };
    let (port, controller) = (free_port(), free_port());
    let data = t.path().join("data");
    let config = t.path().join("server.properties");
    std::fs::write(
        &config,
        format!(
            "process.roles=broker,controller\nnode.id=1\n\
             controller.quorum.voters=1@127.0.0.1:{controller}\n\
             controller.listener.names=CONTROLLER\n\
             listeners=PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller}\n\
             log.dirs={}\noffsets.topic.replication.factor=1\n\
             transaction.state.log.replication.factor=1\ntransaction.state.log.min.isr=1\n\
             group.initial.rebalance.delay.ms=0\n",
            data.display()
        ),
    )
    .expect("config");
    let s = Setup {
        cp,
        config: config.clone(),
        port,
        root: t.path().to_path_buf(),
    };
    let id = java(&s.cp, "kafka.tools.StorageTool", &["random-uuid"])
        .output()
        .expect("random-uuid");
    let id = String::from_utf8_lossy(&id.stdout).trim().to_string();
    let formatted = java(
        &s.cp,
        "kafka.tools.StorageTool",
        &["format", "-t", &id, "-c", config.to_str().expect("utf-8")],
    )
    .output()
    .expect("format");
    assert!(formatted.status.success(), "{formatted:?}");

    // 1. Apache Kafka writes the directory.
    let kafka = s.kafka("kafka-1.log");
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let admin = s.admin();
    let orders =
        NewTopic::new("orders", 2, TopicReplication::Fixed(1)).set("retention.ms", "123456789");
    rt.block_on(admin.create_topics(&[orders], &AdminOptions::new()))
        .expect("create topics")
        .into_iter()
        .for_each(|r| {
            r.expect("orders created");
        });
    assert_eq!(s.partitions("orders"), 2);
    s.produce("orders", 50);
    assert_eq!(s.consume("g1", "orders", 40).len(), 40);
    assert_eq!(s.committed("g1", "orders", 2), 40);
    stop(kafka, "Apache Kafka");

    // 2. Strom serves Kafka's topic, records, config and group, and adds its own.
    let strom = s.strom("strom-1.log");
    assert_eq!(s.partitions("orders"), 2);
    assert_eq!(s.read_all("orders", 2, 50), values("v", 50));
    assert_eq!(s.committed("g1", "orders", 2), 40);
    assert_eq!(
        s.topic_config("orders", "retention.ms").as_deref(),
        Some("123456789")
    );
    assert_eq!(
        s.consume("g1", "orders", 10).len(),
        10,
        "g1 resumes at its offsets"
    );
    let mine =
        NewTopic::new("from-strom", 3, TopicReplication::Fixed(1)).set("cleanup.policy", "compact");
    rt.block_on(admin.create_topics(&[mine], &AdminOptions::new()))
        .expect("create topics")
        .into_iter()
        .for_each(|r| {
            r.expect("from-strom created");
        });
    s.produce("from-strom", 5);
    assert_eq!(s.consume("g2", "from-strom", 5).len(), 5);
    stop(strom, "strom");

    // 3. Kafka's metadata tool reads the log Strom appended to.
    let segment = data.join("__cluster_metadata-0/00000000000000000000.log");
    let dump = java(
        &s.cp,
        "org.apache.kafka.tools.DumpLogSegments",
        &[
            "--cluster-metadata-decoder",
            "--files",
            segment.to_str().expect("utf-8"),
        ],
    )
    .output()
    .expect("DumpLogSegments");
    let dump = String::from_utf8_lossy(&dump.stdout);
    assert!(
        dump.contains(r#""type":"TOPIC_RECORD","version":0,"data":{"name":"from-strom""#),
        "{dump}"
    );
    assert!(dump.contains(r#""name":"cleanup.policy","value":"compact""#));
    assert!(!dump.contains("isvalid: false"), "{dump}");

    // 4. Apache Kafka serves both topics and both groups.
    let kafka = s.kafka("kafka-2.log");
    assert_eq!(s.partitions("from-strom"), 3);
    assert_eq!(s.read_all("orders", 2, 50), values("v", 50));
    assert_eq!(s.read_all("from-strom", 3, 5), values("v", 5));
    assert_eq!(s.committed("g1", "orders", 2), 50);
    assert_eq!(s.committed("g2", "from-strom", 3), 5);
    assert_eq!(
        s.topic_config("from-strom", "cleanup.policy").as_deref(),
        Some("compact")
    );
    stop(kafka, "Apache Kafka");
    let log = std::fs::read_to_string(t.path().join("kafka-2.log")).expect("log");
    assert!(!log.contains(" ERROR "), "{log}");

    // 5. And Strom once more, after Kafka.
    let strom = s.strom("strom-2.log");
    assert_eq!(s.partitions("from-strom"), 3);
    assert_eq!(s.committed("g1", "orders", 2), 50);
    stop(strom, "strom");
}
