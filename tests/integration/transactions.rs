//! Transactions end to end: crash safety of the transaction coordinator (kill -9 in every
//! coordinator state, then restart: each transaction ends committed or aborted, whole), and
//! Kafka's Java client doing exactly-once (when java and mvn are installed).

use crate::common::raw::{RawClient, create_topic, fetch_topic, topic_name};
use crate::common::{TestBroker, require};
use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::add_partitions_to_txn_request::AddPartitionsToTxnTopic;
use kafka_protocol::messages::offset_fetch_request::OffsetFetchRequestTopic;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::txn_offset_commit_request::{
    TxnOffsetCommitRequestPartition, TxnOffsetCommitRequestTopic,
};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::{
    Compression, Record, RecordBatchDecoder, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};
use std::time::Duration;

const TOPIC: &str = "eos";
const PARTITIONS: i32 = 3;
const TXN_ID: &str = "crash-txn";
const GROUP: &str = "crash-group";

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

/// A transactional batch of `n` records from `pid`/`epoch` starting at sequence `seq`.
fn txn_batch(n: usize, pid: i64, epoch: i16, seq: i32, tag: &str) -> Bytes {
    let records: Vec<Record> = (0..n)
        .map(|i| Record {
            transactional: true,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: -1,
            producer_id: pid,
            producer_epoch: epoch,
            timestamp_type: TimestampType::Creation,
            offset: i as i64,
            sequence: seq + i as i32,
            timestamp: 1_700_000_000_000 + i as i64,
            key: None,
            value: Some(Bytes::from(format!("{tag}-{i}"))),
            headers: Default::default(),
        })
        .collect();
    let mut buf = BytesMut::new();
    RecordBatchEncoder::encode(
        &mut buf,
        records.iter(),
        &RecordEncodeOptions {
            version: 2,
            compression: Compression::None,
        },
    )
    .expect("encode");
    buf.freeze()
}

/// FindCoordinator for the transactional id until the coordinator is loaded.
fn wait_coordinator(c: &mut RawClient) {
    let ready = crate::common::wait_for(Duration::from_secs(30), || {
        let r = c.call(
            &FindCoordinatorRequest::default()
                .with_key_type(1)
                .with_coordinator_keys(vec![s(TXN_ID)]),
            4,
        );
        let found = r.coordinators.first().is_some_and(|x| x.error_code == 0);
        let d = c.call(
            &DescribeTransactionsRequest::default()
                .with_transactional_ids(vec![TransactionalId(s(TXN_ID))]),
            0,
        );
        let loaded = d
            .transaction_states
            .first()
            .is_some_and(|t| t.error_code != ResponseErrorCode::LOAD_IN_PROGRESS);
        (found && loaded).then_some(())
    });
    assert!(
        ready.is_some(),
        "transaction coordinator never became ready"
    );
}

/// Error codes used below.
struct ResponseErrorCode;
impl ResponseErrorCode {
    const LOAD_IN_PROGRESS: i16 = 14;
}

/// The values a read_committed fetch returns from one partition, and its LSO and HW.
fn read_committed(c: &mut RawClient, partition: i32) -> (Vec<String>, i64, i64) {
    let req = FetchRequest::default()
        .with_max_wait_ms(0)
        .with_min_bytes(1)
        .with_max_bytes(1 << 20)
        .with_isolation_level(1)
        .with_topics(vec![fetch_topic(TOPIC, partition, 0, 1 << 20)]);
    let r = c.call(&req, 12);
    let p = &r.responses[0].partitions[0];
    assert_eq!(p.error_code, 0, "fetch error");
    let aborted: Vec<(i64, i64)> = p
        .aborted_transactions
        .iter()
        .flatten()
        .map(|a| (a.producer_id.0, a.first_offset))
        .collect();
    let mut values = Vec::new();
    let mut bytes = p.records.clone().unwrap_or_default();
    while !bytes.is_empty() {
        let Ok(set) = RecordBatchDecoder::decode(&mut bytes) else {
            break;
        };
        for r in set.records {
            if r.control {
                continue;
            }
            // A read_committed consumer drops the data of the aborted transactions listed.
            if r.transactional
                && aborted
                    .iter()
                    .any(|(pid, first)| *pid == r.producer_id && r.offset >= *first)
            {
                continue;
            }
            if let Some(v) = r.value {
                values.push(String::from_utf8_lossy(&v).into_owned());
            }
        }
    }
    (values, p.last_stable_offset, p.high_watermark)
}

fn committed_offset(c: &mut RawClient) -> (i64, i16) {
    let r = c.call(
        &OffsetFetchRequest::default()
            .with_group_id(GroupId(s(GROUP)))
            .with_require_stable(true)
            .with_topics(Some(vec![
                OffsetFetchRequestTopic::default()
                    .with_name(topic_name(TOPIC))
                    .with_partition_indexes(vec![0]),
            ])),
        7,
    );
    let p = &r.topics[0].partitions[0];
    (p.committed_offset, p.error_code)
}

/// Where the broker is stopped.
#[derive(Debug, Clone, Copy)]
enum Crash {
    /// kill -9 while the transaction is Ongoing (the coordinator aborts it on timeout).
    Ongoing,
    /// The Prepare state is written, no marker yet.
    Prepared { commit: bool },
    /// One partition has its marker, the others not.
    MidMarkers { commit: bool },
}

/// Runs one transaction (3 records on each partition + a transactional offset commit) to the
/// crash point, restarts, and checks the transaction ended whole.
fn crash_and_recover(crash: Crash) {
    let mut b = TestBroker::start_with(&[
        (
            "transaction.abort.timed.out.transaction.cleanup.interval.ms",
            "500",
        ),
        ("offsets.topic.num.partitions", "3"),
        ("transaction.state.log.num.partitions", "3"),
    ]);
    let mut c = RawClient::connect(b.port);
    assert_eq!(create_topic(&mut c, TOPIC, PARTITIONS, &[]).error_code, 0);
    wait_coordinator(&mut c);
    let init = c.call(
        &InitProducerIdRequest::default()
            .with_transactional_id(Some(TransactionalId(s(TXN_ID))))
            .with_transaction_timeout_ms(3000)
            .with_producer_id(ProducerId(-1))
            .with_producer_epoch(-1),
        4,
    );
    assert_eq!(init.error_code, 0);
    let (pid, epoch) = (init.producer_id, init.producer_epoch);
    let add = c.call(
        &AddPartitionsToTxnRequest::default()
            .with_v3_and_below_transactional_id(TransactionalId(s(TXN_ID)))
            .with_v3_and_below_producer_id(pid)
            .with_v3_and_below_producer_epoch(epoch)
            .with_v3_and_below_topics(vec![
                AddPartitionsToTxnTopic::default()
                    .with_name(topic_name(TOPIC))
                    .with_partitions((0..PARTITIONS).collect()),
            ]),
        3,
    );
    for t in &add.results_by_topic_v3_and_below {
        for p in &t.results_by_partition {
            assert_eq!(p.partition_error_code, 0, "add partitions");
        }
    }
    for p in 0..PARTITIONS {
        let produce = ProduceRequest::default()
            .with_transactional_id(Some(TransactionalId(s(TXN_ID))))
            .with_acks(-1)
            .with_timeout_ms(5000)
            .with_topic_data(vec![
                TopicProduceData::default()
                    .with_name(topic_name(TOPIC))
                    .with_partition_data(vec![
                        PartitionProduceData::default()
                            .with_index(p)
                            .with_records(Some(txn_batch(3, pid.0, epoch, 0, &format!("p{p}")))),
                    ]),
            ]);
        let r = c.call(&produce, 9);
        assert_eq!(
            r.responses[0].partition_responses[0].error_code, 0,
            "produce"
        );
    }
    let add_offsets = c.call(
        &AddOffsetsToTxnRequest::default()
            .with_transactional_id(TransactionalId(s(TXN_ID)))
            .with_producer_id(pid)
            .with_producer_epoch(epoch)
            .with_group_id(GroupId(s(GROUP))),
        3,
    );
    assert_eq!(add_offsets.error_code, 0);
    // The group's coordinator must exist before TxnOffsetCommit.
    let _ = c.call(
        &FindCoordinatorRequest::default()
            .with_key_type(0)
            .with_coordinator_keys(vec![s(GROUP)]),
        4,
    );
    let commit_offsets = c.call(
        &TxnOffsetCommitRequest::default()
            .with_transactional_id(TransactionalId(s(TXN_ID)))
            .with_group_id(GroupId(s(GROUP)))
            .with_producer_id(pid)
            .with_producer_epoch(epoch)
            .with_generation_id(-1)
            .with_topics(vec![
                TxnOffsetCommitRequestTopic::default()
                    .with_name(topic_name(TOPIC))
                    .with_partitions(vec![
                        TxnOffsetCommitRequestPartition::default()
                            .with_partition_index(0)
                            .with_committed_offset(42)
                            .with_committed_leader_epoch(-1),
                    ]),
            ]),
        3,
    );
    assert_eq!(commit_offsets.topics[0].partitions[0].error_code, 0);
    assert_eq!(
        committed_offset(&mut c),
        (-1, 88),
        "pending: UNSTABLE_OFFSET_COMMIT"
    );
    assert_eq!(
        read_committed(&mut c, 0).1,
        0,
        "LSO held at the open transaction"
    );

    let commit = match crash {
        Crash::Ongoing => {
            b.kill9();
            false
        }
        Crash::Prepared { commit } | Crash::MidMarkers { commit } => {
            // Restart with the fault armed, then end the transaction: the broker stops itself.
            drop(c);
            b.stop();
            let point = if matches!(crash, Crash::Prepared { .. }) {
                "after-prepare"
            } else {
                "after-first-marker"
            };
            b.env = vec![("STROM_FAULT_TXN_CRASH".to_string(), point.to_string())];
            b.start_again();
            c = RawClient::connect(b.port);
            wait_coordinator(&mut c);
            let end = EndTxnRequest::default()
                .with_transactional_id(TransactionalId(s(TXN_ID)))
                .with_producer_id(pid)
                .with_producer_epoch(epoch)
                .with_committed(commit);
            let payload = c.encode(&end, 3);
            c.send_frame(&payload);
            assert!(c.read_frame().is_none(), "the broker stopped mid-EndTxn");
            b.kill9();
            b.env.clear();
            commit
        }
    };
    b.start_again();
    let mut c = RawClient::connect(b.port);
    wait_coordinator(&mut c);
    let expected_state = if commit {
        "CompleteCommit"
    } else {
        "CompleteAbort"
    };
    let ended = crate::common::wait_for(Duration::from_secs(30), || {
        let d = c.call(
            &DescribeTransactionsRequest::default()
                .with_transactional_ids(vec![TransactionalId(s(TXN_ID))]),
            0,
        );
        let t = d.transaction_states.first()?;
        (t.transaction_state.as_str() == expected_state).then_some(t.producer_epoch)
    });
    assert!(
        ended.is_some(),
        "{crash:?}: transaction never reached {expected_state}"
    );
    for p in 0..PARTITIONS {
        let (values, lso, hw) = read_committed(&mut c, p);
        assert_eq!(lso, hw, "{crash:?}: partition {p} LSO caught up");
        let wanted: Vec<String> = if commit {
            (0..3).map(|i| format!("p{p}-{i}")).collect()
        } else {
            Vec::new()
        };
        assert_eq!(values, wanted, "{crash:?}: partition {p}");
    }
    let offset = committed_offset(&mut c);
    assert_eq!(
        offset,
        if commit { (42, 0) } else { (-1, 0) },
        "{crash:?}: transactional offset commit"
    );
    // The old producer is fenced after an abort by the coordinator; a new one starts cleanly.
    let again = c.call(
        &InitProducerIdRequest::default()
            .with_transactional_id(Some(TransactionalId(s(TXN_ID))))
            .with_transaction_timeout_ms(3000)
            .with_producer_id(ProducerId(-1))
            .with_producer_epoch(-1),
        4,
    );
    assert_eq!(again.error_code, 0, "{crash:?}: new instance");
    assert_eq!(again.producer_id, pid);
    assert!(again.producer_epoch > epoch);
}

#[test]
fn kill9_while_ongoing_aborts_on_timeout() {
    crash_and_recover(Crash::Ongoing);
}

#[test]
fn kill9_in_prepare_commit_commits_after_restart() {
    crash_and_recover(Crash::Prepared { commit: true });
}

#[test]
fn kill9_in_prepare_abort_aborts_after_restart() {
    crash_and_recover(Crash::Prepared { commit: false });
}

#[test]
fn kill9_mid_commit_markers_commits_every_partition() {
    crash_and_recover(Crash::MidMarkers { commit: true });
}

#[test]
fn kill9_mid_abort_markers_aborts_every_partition() {
    crash_and_recover(Crash::MidMarkers { commit: false });
}

/// Kafka's Java client: consume-transform-produce with sendOffsetsToTransaction, aborts,
/// read_committed / read_uncommitted consumers, zombie fencing (tests/java/TxnClient.java),
/// with Kafka 4.4.0's kafka-clients.
#[test]
fn java_client_exactly_once() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let jars = tempfile::tempdir().expect("tempdir");
    let Some(cp) = crate::common::kafka::classpath(jars.path()) else {
        return;
    };
    let b = TestBroker::start();
    let out = std::process::Command::new("java")
        .arg("-cp")
        .arg(&cp)
        .arg(format!(
            "-Dlog4j2.configurationFile={}",
            root.join("tests/oracle/log4j2.properties").display()
        ))
        .arg(root.join("tests/java/TxnClient.java"))
        .arg(b.bootstrap())
        .output()
        .expect("run java");
    let stdout = String::from_utf8_lossy(&out.stdout);
    eprintln!("{stdout}");
    assert!(
        out.status.success(),
        "TxnClient failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(stdout.matches("OK ").count(), 4, "{stdout}");
}

/// confluent-kafka (librdkafka): transactional producer with send_offsets_to_transaction and
/// aborts, read_committed and read_uncommitted consumers (tests/python/txn_clients.py).
#[test]
fn python_confluent_kafka_transactions() {
    let Some(python) = require::python_clients() else {
        return;
    };
    let b = TestBroker::start();
    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/txn_clients.py");
    let out = std::process::Command::new(&python)
        .arg(script)
        .arg(b.bootstrap())
        .output()
        .expect("run python");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "txn_clients.py failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(stdout.matches("ok: ").count(), 4, "{stdout}");
}

/// franz-go: a GroupTransactSession consume-transform-produce loop with aborts, then a
/// read_committed consumer (tests/compat/go/txn).
#[test]
fn go_franz_group_transact_session() {
    let Some(go) = require::tool("go") else {
        return;
    };
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let bin = tempfile::tempdir().expect("tempdir");
    let exe = bin.path().join("txn");
    let build = std::process::Command::new(go)
        .args(["build", "-o"])
        .arg(&exe)
        .arg("./txn")
        .current_dir(root.join("tests/compat/go"))
        .output()
        .expect("go build");
    assert!(
        build.status.success(),
        "go build failed (scripts/install-clients.sh fetches the modules):\n{}",
        String::from_utf8_lossy(&build.stderr)
    );
    let b = TestBroker::start();
    let out = std::process::Command::new(&exe)
        .arg("-bootstrap")
        .arg(b.bootstrap())
        .output()
        .expect("run txn");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "franz-go transactions failed:\n{stdout}"
    );
    assert_eq!(stdout.matches("ok: ").count(), 2, "{stdout}");
}

/// One transaction on `TOPIC` partition 0 by `txn_id`, ended with `commit`.
fn one_transaction(c: &mut RawClient, txn_id: &str, commit: bool) {
    let init = c.call(
        &InitProducerIdRequest::default()
            .with_transactional_id(Some(TransactionalId(s(txn_id))))
            .with_transaction_timeout_ms(30_000)
            .with_producer_id(ProducerId(-1))
            .with_producer_epoch(-1),
        4,
    );
    assert_eq!(init.error_code, 0, "init {txn_id}");
    let (pid, epoch) = (init.producer_id, init.producer_epoch);
    let add = c.call(
        &AddPartitionsToTxnRequest::default()
            .with_v3_and_below_transactional_id(TransactionalId(s(txn_id)))
            .with_v3_and_below_producer_id(pid)
            .with_v3_and_below_producer_epoch(epoch)
            .with_v3_and_below_topics(vec![
                AddPartitionsToTxnTopic::default()
                    .with_name(topic_name(TOPIC))
                    .with_partitions(vec![0]),
            ]),
        3,
    );
    assert_eq!(
        add.results_by_topic_v3_and_below[0].results_by_partition[0].partition_error_code,
        0
    );
    let produce = ProduceRequest::default()
        .with_transactional_id(Some(TransactionalId(s(txn_id))))
        .with_acks(-1)
        .with_timeout_ms(5000)
        .with_topic_data(vec![
            TopicProduceData::default()
                .with_name(topic_name(TOPIC))
                .with_partition_data(vec![
                    PartitionProduceData::default()
                        .with_index(0)
                        .with_records(Some(txn_batch(2, pid.0, epoch, 0, txn_id))),
                ]),
        ]);
    assert_eq!(
        c.call(&produce, 9).responses[0].partition_responses[0].error_code,
        0
    );
    let end = c.call(
        &EndTxnRequest::default()
            .with_transactional_id(TransactionalId(s(txn_id)))
            .with_producer_id(pid)
            .with_producer_epoch(epoch)
            .with_committed(commit),
        3,
    );
    assert_eq!(end.error_code, 0, "end {txn_id}");
}

/// Kafka 4.4's own tools against Strom's transactions: `kafka-producer-perf-test
/// --transactional-id`, `kafka-transactions list/describe/describe-producers`, and
/// `kafka-dump-log` (DumpLogSegments) on Strom's `__transaction_state` and `.txnindex`.
#[test]
fn kafka_transaction_tools() {
    let root = tempfile::tempdir().expect("tempdir");
    let Some(cp) = crate::common::kafka::classpath(root.path()) else {
        return;
    };
    let b = TestBroker::start_with(&[("transaction.state.log.num.partitions", "1")]);
    let mut c = RawClient::connect(b.port);
    assert_eq!(create_topic(&mut c, TOPIC, 1, &[]).error_code, 0);
    wait_coordinator(&mut c);
    let run = |class: &str, args: &[&str]| {
        let out = crate::common::kafka::java(&cp, class, args)
            .output()
            .expect("java");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "{class} {args:?}:\n{text}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        text
    };
    let bootstrap = b.bootstrap();
    let perf = run(
        "org.apache.kafka.tools.ProducerPerformance",
        &[
            "--topic",
            TOPIC,
            "--num-records",
            "2000",
            "--record-size",
            "100",
            "--throughput",
            "-1",
            "--transactional-id",
            "perf-txn",
            "--transaction-duration-ms",
            "100",
            "--command-property",
            &format!("bootstrap.servers={bootstrap}"),
        ],
    );
    assert!(perf.contains("2000 records sent"), "{perf}");
    one_transaction(&mut c, "tool-aborted", false);
    one_transaction(&mut c, "tool-committed", true);

    let txns = "org.apache.kafka.tools.TransactionsCommand";
    let list = run(txns, &["--bootstrap-server", &bootstrap, "list"]);
    for (id, state) in [
        ("perf-txn", "CompleteCommit"),
        ("tool-aborted", "CompleteAbort"),
        ("tool-committed", "CompleteCommit"),
    ] {
        assert!(
            list.lines().any(|l| l.starts_with(id) && l.contains(state)),
            "{id} {state} not listed:\n{list}"
        );
    }
    let describe = run(
        txns,
        &[
            "--bootstrap-server",
            &bootstrap,
            "describe",
            "--transactional-id",
            "tool-aborted",
        ],
    );
    assert!(describe.contains("CompleteAbort"), "{describe}");
    let producers = run(
        txns,
        &[
            "--bootstrap-server",
            &bootstrap,
            "describe-producers",
            "--topic",
            TOPIC,
            "--partition",
            "0",
        ],
    );
    assert!(
        producers.lines().count() >= 4,
        "three producers and a header:\n{producers}"
    );

    let data = b.data_dir();
    let dump = "org.apache.kafka.tools.DumpLogSegments";
    let state_log = data.join("__transaction_state-0/00000000000000000000.log");
    let decoded = run(
        dump,
        &[
            "--files",
            state_log.to_str().expect("utf-8"),
            "--transaction-log-decoder",
            "--print-data-log",
        ],
    );
    for expected in [
        r#""transactionalId":"tool-aborted""#,
        r#""transactionStatus":"PrepareAbort""#,
        r#""transactionStatus":"CompleteAbort""#,
        r#""transactionStatus":"CompleteCommit""#,
        r#""transactionPartitions":[{"topic":"eos","partitionIds":[0]}]"#,
    ] {
        assert!(decoded.contains(expected), "{expected} missing:\n{decoded}");
    }
    let index = data.join(format!("{TOPIC}-0/00000000000000000000.txnindex"));
    let aborted = run(dump, &["--files", index.to_str().expect("utf-8")]);
    assert_eq!(
        aborted
            .lines()
            .filter(|l| l.starts_with("version: 0 producerId:"))
            .count(),
        1,
        "one aborted transaction:\n{aborted}"
    );
    let markers = run(
        dump,
        &[
            "--files",
            data.join(format!("{TOPIC}-0/00000000000000000000.log"))
                .to_str()
                .expect("utf-8"),
        ],
    );
    assert!(markers.contains("isControl: true"), "{markers}");
}

/// Counts the values of a topic as a `read_committed` consumer sees them.
fn committed_values(bootstrap: &str, topic: &str) -> std::collections::HashMap<String, usize> {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    use rdkafka::{ClientConfig, Message};
    let c: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", format!("check-{}", uuid::Uuid::new_v4()))
        .set("isolation.level", "read_committed")
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    c.subscribe(&[topic]).expect("subscribe");
    let mut seen = std::collections::HashMap::new();
    let mut idle = 0;
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while idle < 10 && std::time::Instant::now() < deadline {
        match c.poll(Duration::from_millis(300)) {
            Some(Ok(m)) => {
                idle = 0;
                let v = String::from_utf8_lossy(m.payload().unwrap_or_default()).into_owned();
                *seen.entry(v).or_insert(0) += 1;
            }
            _ => idle += 1,
        }
    }
    seen
}

/// A Kafka Streams application (kafka-streams 4.4.0, exactly_once_v2) keeps running while the
/// broker is killed with SIGKILL mid-run and restarted: its output, read_committed, holds
/// every input record exactly once.
#[test]
fn kafka_streams_exactly_once_v2_survives_broker_kill9() {
    use rdkafka::producer::{FutureProducer, FutureRecord};
    let jars = tempfile::tempdir().expect("tempdir");
    let Some(cp) = crate::common::kafka::classpath(jars.path()) else {
        return;
    };
    let mut b = TestBroker::start_with(&[("offsets.topic.num.partitions", "3")]);
    let mut c = RawClient::connect(b.port);
    assert_eq!(create_topic(&mut c, "eos-in", 3, &[]).error_code, 0);
    assert_eq!(create_topic(&mut c, "eos-out", 3, &[]).error_code, 0);
    drop(c);
    const N: usize = 3000;
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let bootstrap = b.bootstrap();
    rt.block_on(async {
        let p: FutureProducer = rdkafka::ClientConfig::new()
            .set("bootstrap.servers", &bootstrap)
            .set("enable.idempotence", "true")
            .create()
            .expect("producer");
        for i in 0..N {
            let (k, v) = (format!("k{i}"), format!("v{i}"));
            p.send(
                FutureRecord::to("eos-in").key(&k).payload(&v),
                Duration::from_secs(30),
            )
            .await
            .expect("input produced");
        }
    });
    let state = tempfile::tempdir().expect("state dir");
    let app = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/java/EosStreams.java");
    let log = jars.path().join("streams.log");
    let mut streams = crate::common::kafka::java(
        &cp,
        app.to_str().expect("utf-8"),
        &[
            &bootstrap,
            "eos-in",
            "eos-out",
            "eos-app",
            state.path().to_str().expect("utf-8"),
        ],
    )
    .stdout(std::fs::File::create(&log).expect("log"))
    .stderr(std::process::Stdio::null())
    .spawn()
    .expect("streams app starts");
    // Kill the broker once the application is part way through.
    let midway = crate::common::wait_for(Duration::from_secs(120), || {
        let mut c = RawClient::connect(b.port);
        let r = c.call(
            &ListOffsetsRequest::default()
                .with_replica_id(BrokerId(-1))
                .with_isolation_level(0)
                .with_topics(vec![
                    kafka_protocol::messages::list_offsets_request::ListOffsetsTopic::default()
                        .with_name(topic_name("eos-out"))
                        .with_partitions(
                            (0..3)
                                .map(|p| {
                                    kafka_protocol::messages::list_offsets_request::ListOffsetsPartition::default()
                                        .with_partition_index(p)
                                        .with_timestamp(-1)
                                })
                                .collect(),
                        ),
                ]),
            5,
        );
        let written: i64 = r.topics[0].partitions.iter().map(|p| p.offset.max(0)).sum();
        (written > (N / 4) as i64).then_some(written)
    });
    assert!(midway.is_some(), "the streams app made no progress");
    b.kill9();
    std::thread::sleep(Duration::from_secs(2));
    b.start_again();
    let done = crate::common::wait_for(Duration::from_secs(180), || {
        let seen = committed_values(&b.bootstrap(), "eos-out");
        (seen.len() >= N).then_some(seen)
    });
    let _ = streams.kill();
    let _ = streams.wait();
    let seen = done.unwrap_or_else(|| {
        panic!(
            "output incomplete; streams log:\n{}",
            std::fs::read_to_string(&log).unwrap_or_default()
        )
    });
    let duplicated: Vec<_> = seen.iter().filter(|(_, n)| **n > 1).collect();
    assert!(
        duplicated.is_empty(),
        "duplicates after kill -9: {duplicated:?}"
    );
    for i in 0..N {
        assert_eq!(seen.get(&format!("V{i}")), Some(&1), "V{i}");
    }
    assert_eq!(seen.len(), N);
}
