//! Consumer groups end to end with librdkafka (the `rdkafka` crate) against the real binary:
//! rebalancing, committed offsets across restarts and `kill -9`, cooperative-sticky, static
//! membership, KIP-848 (`group.protocol=consumer`), admin APIs, and bad input on the wire.

mod common;

#[path = "group_tests/raw_cases.rs"]
mod raw_cases;

use common::TestBroker;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(90);

fn admin(b: &TestBroker) -> AdminClient<DefaultClientContext> {
    ClientConfig::new()
        .set("bootstrap.servers", b.bootstrap())
        .create()
        .expect("admin client")
}

fn create_topic(b: &TestBroker, name: &str, partitions: i32) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let topic = NewTopic::new(name, partitions, TopicReplication::Fixed(1));
    let res = rt
        .block_on(admin(b).create_topics(&[topic], &AdminOptions::new()))
        .expect("create_topics");
    assert!(res[0].is_ok(), "create {name}: {:?}", res[0]);
}

/// Produces `n` messages round-robin over `partitions`, values "m<i>".
fn produce(b: &TestBroker, topic: &str, partitions: i32, start: usize, n: usize) {
    let p: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", b.bootstrap())
        .set("linger.ms", "5")
        .create()
        .expect("producer");
    for i in start..start + n {
        let value = format!("m{i}");
        let mut record = BaseRecord::<str, str>::to(topic)
            .payload(&value)
            .partition((i % partitions as usize) as i32);
        loop {
            match p.send(record) {
                Ok(()) => break,
                Err((_, r)) => {
                    record = r;
                    p.poll(Duration::from_millis(20));
                }
            }
        }
    }
    p.flush(Duration::from_secs(30)).expect("flush");
}

fn consumer(b: &TestBroker, group: &str, extra: &[(&str, &str)]) -> BaseConsumer {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", b.bootstrap())
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .set("session.timeout.ms", "6000")
        .set("heartbeat.interval.ms", "500")
        .set("fetch.wait.max.ms", "100");
    for (k, v) in extra {
        c.set(*k, *v);
    }
    c.create().expect("consumer")
}

fn assigned(c: &BaseConsumer) -> BTreeSet<i32> {
    c.assignment()
        .map(|tpl| tpl.elements().iter().map(|e| e.partition()).collect())
        .unwrap_or_default()
}

/// One consumed message: which consumer got it, where it was, its value.
type Got = (usize, i32, i64, String);

/// Polls every consumer round-robin, committing each message synchronously, until `done`.
fn poll_until(
    consumers: &[&BaseConsumer],
    got: &mut Vec<Got>,
    what: &str,
    mut done: impl FnMut(&[Got]) -> bool,
) {
    let deadline = Instant::now() + WAIT;
    while !done(got) {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        for (i, c) in consumers.iter().enumerate() {
            if let Some(m) = c.poll(Duration::from_millis(20)) {
                let m = m.expect("consume error");
                let value = String::from_utf8_lossy(m.payload().unwrap_or_default()).into_owned();
                got.push((i, m.partition(), m.offset(), value));
                c.commit_message(&m, CommitMode::Sync).expect("commit");
            }
        }
    }
}

/// Every offset of every partition (0..per_partition) exactly once.
fn assert_exactly_once(got: &[Got], partitions: i32, per_partition: i64) {
    let mut seen: BTreeMap<(i32, i64), usize> = BTreeMap::new();
    for (_, p, o, _) in got {
        *seen.entry((*p, *o)).or_default() += 1;
    }
    let dups: Vec<_> = seen.iter().filter(|(_, n)| **n > 1).collect();
    assert!(dups.is_empty(), "processed twice: {dups:?}");
    for p in 0..partitions {
        for o in 0..per_partition {
            assert!(seen.contains_key(&(p, o)), "lost {p}@{o}");
        }
    }
}

#[test]
fn three_consumers_split_six_partitions_and_take_over_without_loss() {
    let b = TestBroker::start();
    create_topic(&b, "six", 6);
    let (c1, c2, c3) = (
        consumer(&b, "trio", &[]),
        consumer(&b, "trio", &[]),
        consumer(&b, "trio", &[]),
    );
    for c in [&c1, &c2, &c3] {
        c.subscribe(&["six"]).unwrap();
    }
    let mut got = Vec::new();
    poll_until(&[&c1, &c2, &c3], &mut got, "three-way assignment", |_| {
        let sets = [assigned(&c1), assigned(&c2), assigned(&c3)];
        sets.iter().all(|s| !s.is_empty()) && sets.iter().map(BTreeSet::len).sum::<usize>() == 6
    });
    let sets = [assigned(&c1), assigned(&c2), assigned(&c3)];
    let union: BTreeSet<i32> = sets.iter().flatten().copied().collect();
    assert_eq!(
        union,
        (0..6).collect(),
        "assignments cover all partitions: {sets:?}"
    );

    produce(&b, "six", 6, 0, 300);
    poll_until(&[&c1, &c2, &c3], &mut got, "first 150 messages", |g| {
        g.len() >= 150
    });
    // The third consumer leaves (LeaveGroup on close); the others take over its partitions.
    drop(c3);
    poll_until(&[&c1, &c2], &mut got, "two-way takeover", |_| {
        let (a, b) = (assigned(&c1), assigned(&c2));
        a.len() + b.len() == 6 && a.is_disjoint(&b)
    });
    produce(&b, "six", 6, 300, 300);
    poll_until(&[&c1, &c2], &mut got, "all 600 messages", |g| {
        g.iter()
            .map(|(_, p, o, _)| (*p, *o))
            .collect::<BTreeSet<_>>()
            .len()
            >= 600
    });
    assert_exactly_once(&got, 6, 100);
}
