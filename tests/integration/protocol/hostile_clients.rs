//! Greedy and hostile clients (issue #10 items 4, 5, 7, 9): whatever one client does, the
//! broker's memory and memory maps stay bounded by configuration, other clients keep being
//! served, and Kafka's connection limits apply. Memory is read from /proc, so the memory tests
//! skip elsewhere with a printed reason.

use crate::common::TestBroker;
use crate::common::raw::{RawClient, create_topic, fetch_topic, produce_to, record_batch_with};
use bytes::Bytes;
use kafka_protocol::messages::*;
use std::io::Read;
use std::time::{Duration, Instant};

/// One uncompressed batch of `n` records of `value_size` bytes each.
fn batch(n: usize, value_size: usize) -> Bytes {
    let value = Bytes::from(vec![b'x'; value_size]);
    record_batch_with(n, None, |_| value.clone())
}

/// Fills partition 0 of a new topic `t` with `mib` batches of about 1 MiB.
fn fill(b: &TestBroker, mib: usize, configs: &[(&str, &str)]) {
    let mut c = RawClient::connect(b.port);
    assert_eq!(create_topic(&mut c, "t", 1, configs).error_code, 0);
    for _ in 0..mib {
        let p = produce_to(&mut c, "t", 0, batch(64, 16 * 1024 - 64), -1);
        assert_eq!(p.error_code, 0);
    }
}

fn fetch(offset: i64, max_bytes: i32) -> FetchRequest {
    FetchRequest::default()
        .with_max_wait_ms(0)
        .with_min_bytes(1)
        .with_max_bytes(max_bytes)
        .with_session_epoch(-1)
        .with_topics(vec![fetch_topic("t", 0, offset, max_bytes)])
}

/// A /proc/<pid>/status field in KiB, or None off Linux.
fn status_kib(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with(field))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// Memory maps of the broker's segment files (`.log`).
fn map_count(pid: u32) -> Option<usize> {
    Some(
        std::fs::read_to_string(format!("/proc/{pid}/maps"))
            .ok()?
            .lines()
            .filter(|l| l.ends_with(".log"))
            .count(),
    )
}

/// True when the broker closed `c` (EOF or reset), waiting up to 10 s; a read timeout is not
/// a close.
fn closed_by_broker(c: &mut RawClient) -> bool {
    c.stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let mut b = [0u8; 1];
    match c.stream.read(&mut b) {
        Ok(0) => true,
        Ok(_) => false,
        Err(e) => !matches!(
            e.kind(),
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
        ),
    }
}

fn linux_only() -> bool {
    if cfg!(target_os = "linux") {
        return true;
    }
    crate::common::require::skip("reads broker memory from /proc (Linux only)");
    false
}

/// Sends `n` copies of `req` on `c` without reading any reply.
fn pipeline(c: &mut RawClient, req: &FetchRequest, n: usize) {
    let mut frames = Vec::new();
    for _ in 0..n {
        let payload = c.encode(req, 12);
        frames.extend_from_slice(&(payload.len() as i32).to_be_bytes());
        frames.extend_from_slice(&payload);
    }
    c.send_raw(&frames).expect("send");
}

/// Item 4: a client pipelining 200 fetches of up to 20 MB and never reading made the broker
/// hold every reply (RSS reached 5 GB). Now reading stops while a connection's unsent replies
/// exceed its budget, and fetched records are never copied into memory.
#[test]
fn a_client_that_never_reads_cannot_grow_broker_memory() {
    if !linux_only() {
        return;
    }
    let b = TestBroker::start_with(&[("log.segment.bytes", "1048576")]);
    fill(&b, 24, &[]);
    let pid = b.pid();
    let before = status_kib(pid, "VmRSS:").expect("rss");
    let mut greedy = RawClient::connect(b.port);
    pipeline(&mut greedy, &fetch(0, 20 << 20), 200);
    // Let the broker do whatever it does with them.
    std::thread::sleep(Duration::from_secs(3));
    let after = status_kib(pid, "VmRSS:").expect("rss");
    let peak = status_kib(pid, "VmHWM:").expect("hwm");
    println!(
        "RSS before {before} KiB, after 200 unread 20 MB fetches {after} KiB (peak {peak} KiB)"
    );
    assert!(
        after < before + 64 * 1024,
        "one non-reading client grew the broker from {before} KiB to {after} KiB"
    );
    // Everything still arrives, in order, once the client reads.
    for i in 0..200 {
        let frame = greedy.read_frame().unwrap_or_else(|| panic!("reply {i}"));
        assert!(frame.len() > 512 << 10, "reply {i} carries records");
    }
}

/// Item 5: each queued fetch reply held its own memory map; 520 non-reading connections
/// reached vm.max_map_count and every other client got errors. Now a segment is mapped once,
/// however many replies share it.
#[test]
fn queued_fetch_replies_share_one_mapping_per_segment() {
    if !linux_only() {
        return;
    }
    let b = TestBroker::start();
    fill(&b, 4, &[]);
    let pid = b.pid();
    let maps_before = map_count(pid).expect("maps");
    let mut clients: Vec<RawClient> = (0..200).map(|_| RawClient::connect(b.port)).collect();
    for c in &mut clients {
        pipeline(c, &fetch(0, 4 << 20), 20);
    }
    std::thread::sleep(Duration::from_secs(3));
    let maps_after = map_count(pid).expect("maps");
    println!(
        "memory maps before {maps_before}, with 200 connections x 20 unread fetches {maps_after}"
    );
    assert!(
        maps_after <= maps_before + 1,
        "queued replies took {} memory maps of the segment",
        maps_after - maps_before
    );
    // Another client is served normally.
    let mut other = RawClient::connect(b.port);
    let r = other.call(&fetch(0, 1 << 20), 12);
    assert_eq!(r.responses[0].partitions[0].error_code, 0);
}

/// Item 9: two connections pipelining 128 fetches of 5 MB each stalled a third client's
/// ApiVersions for seconds. The third client must be served while the greedy ones still are.
#[test]
fn a_busy_client_never_stalls_the_others() {
    let b = TestBroker::start();
    fill(&b, 6, &[]);
    let port = b.port;
    let greedy: Vec<_> = (0..2)
        .map(|_| {
            std::thread::spawn(move || {
                let mut c = RawClient::connect(port);
                pipeline(&mut c, &fetch(0, 5 << 20), 128);
                for i in 0..128 {
                    assert!(c.read_frame().is_some(), "greedy reply {i}");
                }
                Instant::now()
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(100));
    let mut third = RawClient::connect(port);
    let mut latencies = Vec::new();
    for _ in 0..50 {
        let t = Instant::now();
        third.call(&ApiVersionsRequest::default(), 3);
        latencies.push(t.elapsed());
    }
    let third_done = Instant::now();
    let greedy_done: Vec<Instant> = greedy
        .into_iter()
        .map(|h| h.join().expect("greedy client"))
        .collect();
    latencies.sort();
    println!(
        "third client's ApiVersions p50 {:?}, p99 {:?}, max {:?}",
        latencies[latencies.len() / 2],
        latencies[latencies.len() * 99 / 100],
        latencies[latencies.len() - 1]
    );
    assert!(
        greedy_done.iter().any(|d| *d > third_done),
        "the third client was only answered after both greedy clients were done"
    );
}

/// Item 7: max.connections.per.ip closes connections over the limit (Kafka logs
/// "Rejected connection ..."); max.connections makes further connections wait for a slot.
#[test]
fn connection_limits_apply_as_in_kafka() {
    let b = TestBroker::start_with(&[("max.connections.per.ip", "2")]);
    let mut c1 = RawClient::connect(b.port);
    let mut c2 = RawClient::connect(b.port);
    c1.call(&ApiVersionsRequest::default(), 3);
    c2.call(&ApiVersionsRequest::default(), 3);
    let mut c3 = RawClient::connect(b.port);
    assert!(
        c3.is_closed(),
        "third connection from one address is closed"
    );
    assert!(
        crate::common::wait_for(Duration::from_secs(10), || b
            .log_contains("address already has the configured maximum of 2 connections")
            .then_some(()))
        .is_some()
    );
    drop(c1);
    let mut c4 = RawClient::connect(b.port);
    assert!(
        crate::common::wait_for(Duration::from_secs(10), || {
            let mut c = RawClient::connect(b.port);
            let payload = c.encode(&ApiVersionsRequest::default(), 3);
            c.send_frame(&payload);
            c.read_frame().map(|_| ())
        })
        .is_some()
            || {
                // c4 may have taken the freed slot: it is served.
                c4.call(&ApiVersionsRequest::default(), 3);
                true
            }
    );

    let b = TestBroker::start_with(&[
        ("max.connections.per.ip.overrides", "127.0.0.1:1"),
        ("max.connections", "1"),
    ]);
    let mut first = RawClient::connect(b.port);
    first.call(&ApiVersionsRequest::default(), 3);
    let mut second = RawClient::connect(b.port);
    let payload = second.encode(&ApiVersionsRequest::default(), 3);
    second.send_frame(&payload);
    second
        .stream
        .set_read_timeout(Some(Duration::from_millis(500)))
        .expect("timeout");
    let mut byte = [0u8; 1];
    assert!(
        matches!(second.stream.read(&mut byte), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock || e.kind() == std::io::ErrorKind::TimedOut),
        "the second connection waits while the broker is at max.connections"
    );
    drop(first);
    drop(second);
    let mut third = RawClient::connect(b.port);
    third.call(&ApiVersionsRequest::default(), 3);
}

/// Item 7: connections.max.idle.ms closes a connection that does nothing.
#[test]
fn idle_connections_are_closed() {
    let b = TestBroker::start_with(&[("connections.max.idle.ms", "1000")]);
    let mut c = RawClient::connect(b.port);
    c.call(&ApiVersionsRequest::default(), 3);
    assert!(
        closed_by_broker(&mut c),
        "closed after a second of idleness"
    );
    // A long-poll in progress is not idleness.
    let mut busy = RawClient::connect(b.port);
    assert_eq!(create_topic(&mut busy, "t", 1, &[]).error_code, 0);
    let poll = FetchRequest::default()
        .with_max_wait_ms(2500)
        .with_min_bytes(1)
        .with_max_bytes(1 << 20)
        .with_session_epoch(-1)
        .with_topics(vec![fetch_topic("t", 0, 0, 1 << 20)]);
    let r = busy.call(&poll, 12);
    assert_eq!(r.responses[0].partitions[0].error_code, 0);
    // Long.MAX_VALUE means never (and must not overflow the clock).
    let b = TestBroker::start_with(&[("connections.max.idle.ms", "9223372036854775807")]);
    let mut c = RawClient::connect(b.port);
    c.call(&ApiVersionsRequest::default(), 3);
    c.call(&ApiVersionsRequest::default(), 3);
}

/// Item 7: max.incremental.fetch.session.cache.slots=0 means every fetch is sessionless.
#[test]
fn fetch_session_slots_are_configurable() {
    let b = TestBroker::start_with(&[("max.incremental.fetch.session.cache.slots", "0")]);
    let mut c = RawClient::connect(b.port);
    assert_eq!(create_topic(&mut c, "t", 1, &[]).error_code, 0);
    let req = fetch(0, 1 << 20).with_session_epoch(0).with_session_id(0);
    let r = c.call(&req, 12);
    assert_eq!((r.error_code, r.session_id), (0, 0));
    let b = TestBroker::start();
    let mut c = RawClient::connect(b.port);
    assert_eq!(create_topic(&mut c, "t", 1, &[]).error_code, 0);
    let r = c.call(&req, 12);
    assert_ne!(r.session_id, 0, "default slots create a session");
}
