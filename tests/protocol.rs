//! Byte-level protocol behaviour: versions, framing, bad input, idempotence, long-poll.

mod common;

use bytes::{BufMut, Bytes, BytesMut};
use common::TestBroker;
use common::raw::{
    RawClient, base_offset, creatable_topic, fetch_topic, produce_req, produce_to, record_batch,
    topic_name as name,
};
use kafka_protocol::ResponseError;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
use std::time::{Duration, Instant};

fn create(c: &mut RawClient, topic: &str, partitions: i32, rf: i16) -> i16 {
    let req = CreateTopicsRequest::default()
        .with_topics(vec![creatable_topic(topic, partitions, rf, &[])])
        .with_timeout_ms(10_000);
    c.call(&req, 7).topics[0].error_code
}

fn produce(c: &mut RawClient, topic: &str, batch: Bytes) -> (i16, i64) {
    let p = produce_to(c, topic, 0, batch, -1);
    (p.error_code, p.base_offset)
}

fn fetch_req(topic: &str, offset: i64, max_wait_ms: i32, min_bytes: i32) -> FetchRequest {
    FetchRequest::default()
        .with_max_wait_ms(max_wait_ms)
        .with_min_bytes(min_bytes)
        .with_max_bytes(1 << 20)
        .with_session_epoch(-1)
        .with_topics(vec![fetch_topic(topic, 0, offset, 1 << 20)])
}

#[test]
fn api_versions_every_version_and_kip_511_fallback() {
    let b = TestBroker::start();
    let mut c = RawClient::connect(b.port);
    for v in 0..=4 {
        let r = c.call(&ApiVersionsRequest::default(), v);
        assert_eq!(r.error_code, 0);
        let produce = r
            .api_keys
            .iter()
            .find(|k| k.api_key == 0)
            .expect("produce advertised");
        assert_eq!((produce.min_version, produce.max_version), (3, 13));
        assert!(
            r.api_keys
                .iter()
                .any(|k| k.api_key == 1 && k.max_version >= 16)
        );
    }
    // A version from the future is answered at v0 with UNSUPPORTED_VERSION and our ranges.
    let mut payload = BytesMut::new();
    payload.put_i16(18);
    payload.put_i16(99);
    payload.put_i32(7);
    payload.put_i16(-1);
    payload.put_u8(0); // empty tagged fields: header v2, as a client of a newer version sends
    c.send_frame(&payload);
    let frame = c.read_frame().expect("response");
    assert_eq!(&frame[..4], &7i32.to_be_bytes());
    assert_eq!(
        &frame[4..6],
        &ResponseError::UnsupportedVersion.code().to_be_bytes()
    );
    let count = i32::from_be_bytes([frame[6], frame[7], frame[8], frame[9]]);
    assert!(count >= 10, "ranges listed: {count}");
}

#[test]
fn api_versions_v3_tags_only_kafkas_features() {
    // librdkafka 2.0 (Debian's kcat) rejects a response carrying default-valued tagged fields;
    // the only tags are the features, as Kafka 4.4 reports them.
    let b = TestBroker::start();
    let mut c = RawClient::connect(b.port);
    let req = ApiVersionsRequest::default()
        .with_client_software_name(StrBytes::from_static_str("t"))
        .with_client_software_version(StrBytes::from_static_str("1"));
    let payload = c.encode(&req, 3);
    c.send_frame(&payload);
    let frame = c.read_frame().unwrap();
    let mut body = frame.slice(4..);
    let decoded = ApiVersionsResponse::decode(&mut body, 3).expect("decodes");
    assert!(!decoded.zk_migration_ready);
    let finalized: Vec<_> = decoded
        .finalized_features
        .iter()
        .map(|f| (f.name.to_string(), f.min_version_level, f.max_version_level))
        .collect();
    // The finalized levels of the metadata log (Strom formats at metadata.version 4.1-IV1).
    assert!(finalized.contains(&("transaction.version".to_string(), 2, 2)));
    assert!(finalized.contains(&("metadata.version".to_string(), 27, 27)));
    assert!(finalized.contains(&("kraft.version".to_string(), 0, 0)));
    assert!(decoded.finalized_features_epoch > 0);
    let supported: Vec<_> = decoded
        .supported_features
        .iter()
        .map(|f| (f.name.to_string(), f.min_version, f.max_version))
        .collect();
    assert!(supported.contains(&("transaction.version".to_string(), 0, 2)));
    assert!(supported.contains(&("metadata.version".to_string(), 7, 33)));
    // Nothing else: re-encoding the decoded response gives the same bytes.
    let mut expected = BytesMut::new();
    decoded.encode(&mut expected, 3).unwrap();
    assert_eq!(&frame[4..], &expected[..]);
    // v0-v2 have no tagged fields at all.
    let old = c.call(&ApiVersionsRequest::default(), 2);
    assert!(old.finalized_features.is_empty());
}

#[test]
fn bad_frames_close_only_their_connection() {
    let b = TestBroker::start_with(&[("socket.request.max.bytes", "1048576")]);
    // Negative size.
    let mut c = RawClient::connect(b.port);
    c.send_raw(&(-5i32).to_be_bytes()).unwrap();
    assert!(c.is_closed());
    // Larger than socket.request.max.bytes.
    let mut c = RawClient::connect(b.port);
    c.send_raw(&(2_000_000i32).to_be_bytes()).unwrap();
    assert!(c.is_closed());
    // Unknown API key.
    let mut c = RawClient::connect(b.port);
    c.send_frame(&[0x03, 0xe7, 0, 0, 0, 0, 0, 1, 0xff, 0xff]);
    assert!(c.is_closed());
    // Truncated body: a Metadata v9 header with half a body.
    let mut c = RawClient::connect(b.port);
    let mut payload = c.encode(&MetadataRequest::default().with_topics(Some(vec![])), 9);
    payload.truncate(payload.len() - 2);
    c.send_frame(&payload);
    assert!(c.is_closed());
    // A header too short to parse.
    let mut c = RawClient::connect(b.port);
    c.send_frame(&[0, 3]);
    assert!(c.is_closed());
    // Disconnect mid-frame.
    let mut c = RawClient::connect(b.port);
    c.send_raw(&[0, 0, 0, 100, 1, 2, 3]).unwrap();
    drop(c);
    // An array claiming two billion elements in a tiny frame.
    let mut c = RawClient::connect(b.port);
    let mut payload = c.encode(&MetadataRequest::default(), 4);
    let len = payload.len();
    payload[len - 5..len - 1].copy_from_slice(&i32::MAX.to_be_bytes());
    c.send_frame(&payload);
    assert!(c.is_closed());
    // The broker is still fine for everyone else.
    let mut ok = RawClient::connect(b.port);
    assert_eq!(ok.call(&ApiVersionsRequest::default(), 3).error_code, 0);
    assert_eq!(create(&mut ok, "still-alive", 1, 1), 0);
}

#[test]
fn topic_creation_errors_use_kafka_codes() {
    let b = TestBroker::start();
    let mut c = RawClient::connect(b.port);
    assert_eq!(create(&mut c, "ok-topic", 2, 1), 0);
    assert_eq!(
        create(&mut c, "ok-topic", 2, 1),
        ResponseError::TopicAlreadyExists.code()
    );
    assert_eq!(create(&mut c, "ok.topic", 2, 1), 0);
    assert_eq!(
        create(&mut c, "ok_topic", 2, 1),
        ResponseError::InvalidTopicException.code()
    );
    assert_eq!(
        create(&mut c, "bad name", 1, 1),
        ResponseError::InvalidTopicException.code()
    );
    assert_eq!(
        create(&mut c, &"x".repeat(250), 1, 1),
        ResponseError::InvalidTopicException.code()
    );
    assert_eq!(
        create(&mut c, "..", 1, 1),
        ResponseError::InvalidTopicException.code()
    );
    assert_eq!(
        create(&mut c, "neg", -5, 1),
        ResponseError::InvalidPartitions.code()
    );
    assert_eq!(
        create(&mut c, "zero", 0, 1),
        ResponseError::InvalidPartitions.code()
    );
    assert_eq!(
        create(&mut c, "rf3", 1, 3),
        ResponseError::InvalidReplicationFactor.code()
    );
    // Metadata for an illegal name does not auto-create it.
    let md = c.call(
        &MetadataRequest::default()
            .with_topics(Some(vec![
                metadata_request::MetadataRequestTopic::default().with_name(Some(name("a/b"))),
            ]))
            .with_allow_auto_topic_creation(true),
        12,
    );
    assert_eq!(
        md.topics[0].error_code,
        ResponseError::InvalidTopicException.code()
    );
}

#[test]
fn corrupt_and_oversized_batches_are_rejected() {
    let b = TestBroker::start_with(&[("message.max.bytes", "2000")]);
    let mut c = RawClient::connect(b.port);
    assert_eq!(create(&mut c, "t", 1, 1), 0);
    // Flip a byte inside the records: CRC mismatch.
    let mut bad = BytesMut::from(&record_batch(3, None)[..]);
    let last = bad.len() - 1;
    bad[last] ^= 0xff;
    assert_eq!(
        produce(&mut c, "t", bad.freeze()).0,
        ResponseError::CorruptMessage.code()
    );
    // Magic 1 is not accepted.
    let mut old = BytesMut::from(&record_batch(1, None)[..]);
    old[16] = 1;
    assert_ne!(produce(&mut c, "t", old.freeze()).0, 0);
    // Truncated batch.
    let whole = record_batch(3, None);
    assert_ne!(produce(&mut c, "t", whole.slice(..whole.len() - 7)).0, 0);
    // Larger than message.max.bytes.
    assert_eq!(
        produce(&mut c, "t", record_batch(200, None)).0,
        ResponseError::MessageTooLarge.code()
    );
    // Nothing bad was stored; a good batch goes to offset 0.
    assert_eq!(produce(&mut c, "t", record_batch(2, None)), (0, 0));
}

#[test]
fn idempotent_retries_are_deduplicated_and_gaps_rejected() {
    let b = TestBroker::start();
    let mut c = RawClient::connect(b.port);
    assert_eq!(create(&mut c, "idem", 1, 1), 0);
    let init = c.call(
        &InitProducerIdRequest::default()
            .with_transactional_id(None)
            .with_transaction_timeout_ms(60_000),
        4,
    );
    assert_eq!(init.error_code, 0);
    let pid = init.producer_id.0;
    assert!(pid >= 0);
    let first = record_batch(5, Some((pid, 0, 0)));
    assert_eq!(produce(&mut c, "idem", first.clone()), (0, 0));
    // Same batch again (a retry after a lost response): same offset, nothing appended.
    assert_eq!(produce(&mut c, "idem", first), (0, 0));
    assert_eq!(
        produce(&mut c, "idem", record_batch(5, Some((pid, 0, 5)))),
        (0, 5)
    );
    // A gap in sequence numbers.
    let (code, _) = produce(&mut c, "idem", record_batch(1, Some((pid, 0, 42))));
    assert_eq!(code, ResponseError::OutOfOrderSequenceNumber.code());
    // The log holds exactly 10 records.
    let r = c.call(&fetch_req("idem", 0, 0, 1), 12);
    assert_eq!(r.responses[0].partitions[0].high_watermark, 10);
}

#[test]
fn fetch_edges_empty_out_of_range_and_long_poll() {
    let b = TestBroker::start();
    let mut c = RawClient::connect(b.port);
    assert_eq!(create(&mut c, "lp", 1, 1), 0);
    // Empty partition: empty, not null, records.
    let r = c.call(&fetch_req("lp", 0, 0, 1), 12);
    let p = &r.responses[0].partitions[0];
    assert_eq!(p.error_code, 0);
    assert_eq!(p.records.as_ref().map(|r| r.len()), Some(0));
    // Beyond the end.
    let r = c.call(&fetch_req("lp", 5, 0, 1), 12);
    assert_eq!(
        r.responses[0].partitions[0].error_code,
        ResponseError::OffsetOutOfRange.code()
    );
    // Long-poll: a fetch waiting up to 20 s returns as soon as an append arrives.
    let port = b.port;
    let waiter = std::thread::spawn(move || {
        let mut c = RawClient::connect(port);
        let start = Instant::now();
        let r = c.call(&fetch_req("lp", 0, 20_000, 1), 12);
        (start.elapsed(), r)
    });
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(produce(&mut c, "lp", record_batch(3, None)).0, 0);
    let (elapsed, r) = waiter.join().unwrap();
    assert!(
        elapsed < Duration::from_secs(10),
        "long-poll took {elapsed:?}"
    );
    let records = r.responses[0].partitions[0].records.clone().unwrap();
    assert_eq!(base_offset(&records), 0);
}

#[test]
fn pipelined_requests_are_answered_in_order_and_acks_0_gets_no_response() {
    let b = TestBroker::start();
    let mut c = RawClient::connect(b.port);
    assert_eq!(create(&mut c, "pipe", 1, 1), 0);
    // acks=0 produce, then 20 pipelined ApiVersions: the first response is the first ApiVersions.
    let p0 = c.encode(&produce_req("pipe", 0, record_batch(1, None), 0), 9);
    c.send_frame(&p0);
    let mut ids = Vec::new();
    for _ in 0..20 {
        let payload = c.encode(&ApiVersionsRequest::default(), 2);
        ids.push(i32::from_be_bytes([
            payload[4], payload[5], payload[6], payload[7],
        ]));
        c.send_frame(&payload);
    }
    for id in ids {
        let frame = c.read_frame().unwrap();
        assert_eq!(&frame[..4], &id.to_be_bytes());
    }
    // The acks=0 record was written.
    let r = c.call(&fetch_req("pipe", 0, 0, 1), 12);
    assert_eq!(r.responses[0].partitions[0].high_watermark, 1);
}

#[test]
fn port_in_use_is_a_clear_error() {
    let b = TestBroker::start();
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("s.properties");
    std::fs::write(
        &cfg,
        format!(
            "process.roles=broker,controller\nnode.id=1\ncontroller.quorum.voters=1@127.0.0.1:9093\n\
             controller.listener.names=CONTROLLER\nlisteners=PLAINTEXT://127.0.0.1:{},CONTROLLER://127.0.0.1:9093\n\
             log.dirs={}\n",
            b.port,
            dir.path().join("d").display()
        ),
    )
    .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_strom"))
        .args(["server", "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("Address already in use") || stderr.contains("address in use"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn unimplemented_apis_get_unsupported_version_not_a_hangup() {
    let b = TestBroker::start();
    let mut c = RawClient::connect(b.port);
    // SaslHandshake is not implemented: a parseable error, and the connection stays usable.
    let r = c.call(
        &SaslHandshakeRequest::default().with_mechanism(StrBytes::from_static_str("PLAIN")),
        1,
    );
    assert_eq!(r.error_code, ResponseError::UnsupportedVersion.code());
    assert_eq!(c.call(&ApiVersionsRequest::default(), 3).error_code, 0);
}

/// A `VmXxx:` figure of a process, in bytes (Linux only).
#[cfg(target_os = "linux")]
fn vm_bytes(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    let line = status
        .lines()
        .find(|l| l.starts_with(field))
        .unwrap_or_else(|| panic!("{field} missing from /proc/{pid}/status"));
    let kb: u64 = line
        .split_whitespace()
        .nth(1)
        .and_then(|v| v.parse().ok())
        .expect("kB figure");
    kb * 1024
}

/// A request header of `key`/`version`, followed by `body` and then `fill` up to `size` bytes.
fn hostile_frame(key: ApiKey, version: i16, body: &[u8], fill: u8, size: usize) -> Vec<u8> {
    let mut out = BytesMut::new();
    RequestHeader::default()
        .with_request_api_key(key as i16)
        .with_request_api_version(version)
        .with_correlation_id(1)
        .encode(&mut out, key.request_header_version(version))
        .unwrap();
    out.put_slice(body);
    let mut out = out.to_vec();
    out.resize(size, fill);
    out
}

/// Frames as large as `socket.request.max.bytes` (100 MiB, Kafka's default) whose arrays claim
/// billions of elements and whose first element is malformed. kafka-protocol 0.18.0 reserved
/// memory for the claimed count (capped by the remaining bytes, one element per byte), i.e. tens
/// of gigabytes of address space per frame; the patched decoder reserves at most the bytes the
/// frame holds. Then connections that only announce such a frame. The broker must close each
/// bad connection, stay up, and its peak memory must stay within twice the frame size (the frame
/// itself plus what actually decodes).
#[test]
fn hostile_100_mib_frames_keep_memory_bounded() {
    #[cfg(not(target_os = "linux"))]
    {
        println!("SKIP: reads VmHWM/VmPeak from /proc, Linux only");
    }
    #[cfg(target_os = "linux")]
    {
        const FRAME: usize = 104_857_600;
        let b = TestBroker::start();
        let pid = b.pid();
        // Warm up: every worker thread has its allocator arena before the baseline.
        for _ in 0..8 {
            let mut c = RawClient::connect(b.port);
            assert_eq!(c.call(&ApiVersionsRequest::default(), 3).error_code, 0);
            c.call(&MetadataRequest::default().with_topics(None), 12);
        }
        let (hwm0, peak0) = (vm_bytes(pid, "VmHWM:"), vm_bytes(pid, "VmPeak:"));
        let max = i32::MAX.to_be_bytes();
        let negative = (-2i32).to_be_bytes();
        let frames: Vec<(&str, Vec<u8>)> = vec![
            (
                // topics: [i32::MAX elements], the first one's name of length -2.
                "Metadata v4, array of i32::MAX topics",
                hostile_frame(
                    ApiKey::Metadata,
                    4,
                    &[&max[..], &[0xff, 0xfe]].concat(),
                    0,
                    FRAME,
                ),
            ),
            (
                // topics: compact array of u32::MAX - 1, first topic id then a name longer
                // than the frame.
                "Metadata v12, compact array of 4 billion topics",
                hostile_frame(
                    ApiKey::Metadata,
                    12,
                    &[
                        &[0xff, 0xff, 0xff, 0xff, 0x0f][..],
                        &[7; 16],
                        &[0xff, 0xff, 0xff, 0x7f],
                    ]
                    .concat(),
                    0,
                    FRAME,
                ),
            ),
            (
                // topics: [i32::MAX] of {name "", partitions, rf, assignments: [i32::MAX] of
                // {partition, broker_ids: length -2}}: two nested claims at once.
                "CreateTopics v4, nested arrays of i32::MAX",
                hostile_frame(
                    ApiKey::CreateTopics,
                    4,
                    &[
                        &max[..],
                        &[0, 0, 0, 0, 0, 1, 0, 1],
                        &max,
                        &[0, 0, 0, 0],
                        &negative,
                    ]
                    .concat(),
                    0,
                    FRAME,
                ),
            ),
        ];
        for (what, frame) in &frames {
            let mut c = RawClient::connect(b.port);
            c.send_frame(frame);
            assert!(c.is_closed(), "{what}: connection stays open");
            let mut ok = RawClient::connect(b.port);
            assert_eq!(
                ok.call(&ApiVersionsRequest::default(), 3).error_code,
                0,
                "broker unwell after {what}"
            );
            let (hwm, peak) = (vm_bytes(pid, "VmHWM:"), vm_bytes(pid, "VmPeak:"));
            println!(
                "after {what}: peak RSS +{} MiB, peak virtual +{} MiB",
                (hwm - hwm0) >> 20,
                (peak - peak0) >> 20
            );
        }
        // Many connections that only announce a 100 MiB frame: what they cost must follow the
        // four bytes received, not the claim (each reserved the whole frame before).
        let claims: Vec<RawClient> = (0..32)
            .map(|_| {
                let mut c = RawClient::connect(b.port);
                c.send_raw(&(FRAME as i32).to_be_bytes()).unwrap();
                c
            })
            .collect();
        let mut ok = RawClient::connect(b.port);
        assert_eq!(ok.call(&ApiVersionsRequest::default(), 3).error_code, 0);
        std::thread::sleep(Duration::from_millis(500)); // let the broker read every claim
        println!(
            "after 32 connections announcing {} MiB frames: peak virtual +{} MiB",
            FRAME >> 20,
            (vm_bytes(pid, "VmPeak:") - peak0) >> 20
        );
        drop(claims);
        let (hwm, peak) = (vm_bytes(pid, "VmHWM:"), vm_bytes(pid, "VmPeak:"));
        assert!(
            hwm - hwm0 < 2 * FRAME as u64,
            "peak RSS grew by {} MiB for {} MiB frames",
            (hwm - hwm0) >> 20,
            FRAME >> 20
        );
        // Address space, not just touched pages: an oversized reservation is a crash where
        // memory is not overcommitted (or is smaller than the claim).
        assert!(
            peak - peak0 < 6 * FRAME as u64,
            "peak virtual memory grew by {} MiB for {} MiB frames",
            (peak - peak0) >> 20,
            FRAME >> 20
        );
    }
}
