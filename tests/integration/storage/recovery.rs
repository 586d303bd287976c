//! Storage behaviour seen from outside: crash recovery of a torn log tail, retention, and
//! the seed tutorial's server.properties.

use crate::common::raw::{RawClient, create_topic, produce_to, record_batch, topic_name};
use crate::common::{TestBroker, segment_files, wait_for};
use kafka_protocol::messages::*;
use std::io::Write;
use std::time::Duration;

fn create(c: &mut RawClient, topic: &str, configs: &[(&str, &str)]) {
    let r = create_topic(c, topic, 1, configs);
    assert_eq!(r.error_code, 0, "{:?}", r.error_message);
}

fn produce(c: &mut RawClient, topic: &str, n: usize) -> i64 {
    let p = produce_to(c, topic, 0, record_batch(n, None), -1);
    assert_eq!(p.error_code, 0, "{:?}", p.error_message);
    p.base_offset
}

/// (high watermark, log start offset) of partition 0.
fn offsets(c: &mut RawClient, topic: &str) -> (i64, i64) {
    // ListOffsets latest (-1) and earliest (-2): a fetch below the log start would only say
    // OFFSET_OUT_OF_RANGE, with -1 offsets as Kafka sends them.
    let at = |c: &mut RawClient, timestamp: i64| {
        let req = ListOffsetsRequest::default()
            .with_replica_id(BrokerId(-1))
            .with_topics(vec![
                list_offsets_request::ListOffsetsTopic::default()
                    .with_name(topic_name(topic))
                    .with_partitions(vec![
                        list_offsets_request::ListOffsetsPartition::default()
                            .with_partition_index(0)
                            .with_timestamp(timestamp),
                    ]),
            ]);
        c.call(&req, 7).topics[0].partitions[0].offset
    };
    (at(c, -1), at(c, -2))
}

#[test]
fn torn_tail_is_truncated_after_a_crash_and_appends_continue() {
    let mut b = TestBroker::start();
    let mut c = RawClient::connect(b.port);
    create(&mut c, "torn", &[]);
    for _ in 0..10 {
        produce(&mut c, "torn", 10);
    }
    drop(c);
    b.kill9();
    // Half a batch at the end of the active segment, as a crash mid-write leaves it.
    let log = segment_files(&b.partition_dir("torn", 0), "log")
        .pop()
        .unwrap();
    let junk = record_batch(10, None);
    std::fs::OpenOptions::new()
        .append(true)
        .open(&log)
        .unwrap()
        .write_all(&junk[..junk.len() / 2])
        .unwrap();
    b.start_again();
    let mut c = RawClient::connect(b.port);
    assert_eq!(
        offsets(&mut c, "torn").0,
        100,
        "the 100 acknowledged records remain"
    );
    assert_eq!(
        produce(&mut c, "torn", 5),
        100,
        "appends continue right after them"
    );
    assert!(b.log_contains("torn-0"), "recovery of torn-0 is logged");
}

#[test]
fn retention_deletes_old_segments_but_never_the_active_one() {
    let b = TestBroker::start_with(&[("log.retention.check.interval.ms", "200")]);
    let mut c = RawClient::connect(b.port);
    // A new segment every 100 ms (Kafka 4 allows no segment.bytes below 1 MiB), one-second retention.
    create(
        &mut c,
        "short",
        &[("segment.ms", "100"), ("retention.ms", "1000")],
    );
    for _ in 0..20 {
        produce(&mut c, "short", 5);
        std::thread::sleep(Duration::from_millis(120));
    }
    let dir = b.partition_dir("short", 0);
    assert!(segment_files(&dir, "log").len() > 3, "segments rolled");
    let start = wait_for(Duration::from_secs(30), || {
        let (hw, start) = offsets(&mut c, "short");
        (start > 0 && segment_files(&dir, "log").len() == 1).then_some((hw, start))
    });
    let (hw, start) = start.expect("old segments deleted within 30 s");
    assert_eq!(hw, 100);
    assert!(start <= hw);
    // The log still takes appends and serves from its new start.
    assert_eq!(produce(&mut c, "short", 1), 100);
}

#[test]
fn size_based_retention_keeps_the_newest_bytes() {
    let b = TestBroker::start_with(&[("log.retention.check.interval.ms", "200")]);
    let mut c = RawClient::connect(b.port);
    create(
        &mut c,
        "sized",
        &[("segment.ms", "50"), ("retention.bytes", "2048")],
    );
    for _ in 0..30 {
        produce(&mut c, "sized", 5);
        std::thread::sleep(Duration::from_millis(60));
    }
    let dir = b.partition_dir("sized", 0);
    let ok = wait_for(Duration::from_secs(30), || {
        let total: u64 = segment_files(&dir, "log")
            .iter()
            .map(|p| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0))
            .sum();
        (offsets(&mut c, "sized").1 > 0 && total <= 4096).then_some(())
    });
    assert!(ok.is_some(), "size retention trimmed the log");
}

#[test]
fn the_seed_tutorial_config_starts_the_broker() {
    // The exact server.properties from the Homebrew/KRaft tutorial (paths and port adjusted).
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("logs");
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let cfg = dir.path().join("server.properties");
    std::fs::write(
        &cfg,
        format!(
            "broker.id=0\n\
             # 启用 KRaft 模式\n\
             process.roles=broker,controller\n\
             # 设置集群 ID（替换为你的生成的 ID）\n\
             cluster.id=tM3-P24CQlGgg85tMKQKXA\n\
             # 控制器配置\n\
             controller.quorum.voters=0@localhost:9093\n\
             controller.listener.names=CONTROLLER\n\
             # 监听地址\n\
             listeners=PLAINTEXT://localhost:{port},CONTROLLER://localhost:9093\n\
             advertised.listeners=PLAINTEXT://localhost:{port}\n\
             listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT\n\
             # 数据存储目录\n\
             log.dirs={}\n",
            data.display()
        ),
    )
    .unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_strom"))
        .args(["server"])
        .arg(&cfg)
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let connected = wait_for(Duration::from_secs(30), || {
        std::net::TcpStream::connect(("127.0.0.1", port)).ok()
    });
    let result = std::panic::catch_unwind(|| {
        assert!(connected.is_some(), "broker listens on the tutorial's port");
        let mut c = RawClient::connect(port);
        let md = c.call(&MetadataRequest::default().with_topics(None), 12);
        assert_eq!(md.brokers[0].node_id.0, 0, "broker.id=0 is the node id");
        assert_eq!(md.brokers[0].host.as_str(), "localhost");
        assert_eq!(
            md.cluster_id.as_ref().map(|s| s.as_str()),
            Some("tM3-P24CQlGgg85tMKQKXA")
        );
        let meta = std::fs::read_to_string(data.join("meta.properties")).unwrap();
        assert!(meta.contains("cluster.id=tM3-P24CQlGgg85tMKQKXA"), "{meta}");
        assert!(meta.contains("node.id=0"), "{meta}");
    });
    let _ = child.kill();
    let _ = child.wait();
    if let Err(e) = result {
        std::panic::resume_unwind(e);
    }
}
