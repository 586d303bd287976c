//! Criterion benchmarks of the wire codec on Strom's request path, at the message versions the
//! benchmark's clients use: decoding a Produce request (header, then body, as the connection
//! loop does for every frame) and encoding the Produce, Fetch and Metadata responses that make
//! up most of what the broker writes. They show the codec's share of a request's cost, apart
//! from the log (benches/hot_paths.rs) and the network (scripts/bench.sh).
//!
//! Run: `cargo bench --bench protocol` (add `-- --quick` for a short pass). Produce request
//! decoding slices the record batches out of the frame without copying them, so its cost is
//! per partition; Fetch response encoding copies the records into the output buffer.

use bytes::{Bytes, BytesMut};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use kafka_protocol::messages::fetch_response::{FetchableTopicResponse, PartitionData};
use kafka_protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::produce_response::{PartitionProduceResponse, TopicProduceResponse};
use kafka_protocol::messages::{
    ApiKey, BrokerId, FetchResponse, MetadataResponse, ProduceRequest, ProduceResponse,
    RequestHeader, TopicName,
};
use kafka_protocol::protocol::{
    Decodable, Encodable, StrBytes, decode_request_header_from_buffer,
    encode_request_header_into_buffer,
};
use kafka_protocol::records::{
    Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};
use std::hint::black_box;

/// Produce v9 is the first flexible version; librdkafka 2.x and the Java client send v9+.
const PRODUCE_VERSION: i16 = 9;
/// Fetch v12 is the first version with KIP-320 diverging epochs, as librdkafka 2.x sends it.
const FETCH_VERSION: i16 = 12;
/// Metadata v12 is what the Java client 4.x asks for.
const METADATA_VERSION: i16 = 12;

fn topic() -> TopicName {
    TopicName(StrBytes::from_static_str("bench-topic"))
}

/// One uncompressed v2 batch of `count` records of `size`-byte values, as a producer sends it.
fn record_batch(count: i64, size: usize) -> Bytes {
    let value = Bytes::from(vec![b'x'; size]);
    let records: Vec<Record> = (0..count)
        .map(|i| Record {
            transactional: false,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: -1,
            producer_id: -1,
            producer_epoch: -1,
            timestamp_type: TimestampType::Creation,
            offset: i,
            sequence: -1,
            timestamp: 1_700_000_000_000,
            key: None,
            value: Some(value.clone()),
            headers: Default::default(),
        })
        .collect();
    let mut buf = BytesMut::new();
    let options = RecordEncodeOptions {
        version: 2,
        compression: Compression::None,
    };
    let encoded = RecordBatchEncoder::encode(&mut buf, &records, &options);
    encoded.expect("encode batch"); // invariant: uncompressed records into a growable buffer

    buf.freeze()
}

/// A Produce request frame body (header + request, no size prefix) with one batch per partition.
fn produce_frame(partitions: i32, batch: &Bytes) -> Bytes {
    let header = RequestHeader::default()
        .with_request_api_key(ApiKey::Produce as i16)
        .with_request_api_version(PRODUCE_VERSION)
        .with_correlation_id(7)
        .with_client_id(Some(StrBytes::from_static_str("rdkafka")));
    let request = ProduceRequest::default()
        .with_acks(-1)
        .with_timeout_ms(30_000)
        .with_topic_data(vec![
            TopicProduceData::default()
                .with_name(topic())
                .with_partition_data(
                    (0..partitions)
                        .map(|p| {
                            PartitionProduceData::default()
                                .with_index(p)
                                .with_records(Some(batch.clone()))
                        })
                        .collect(),
                ),
        ]);
    let mut buf = BytesMut::new();
    let header_ok = encode_request_header_into_buffer(&mut buf, &header);
    header_ok.expect("encode header"); // invariant: built from valid values just above
    let body_ok = request.encode(&mut buf, PRODUCE_VERSION);
    body_ok.expect("encode request"); // invariant: built from valid values just above
    buf.freeze()
}

fn produce_request_decode(c: &mut Criterion) {
    let mut group = c.benchmark_group("produce_request_decode");
    for (partitions, records) in [(1, 16), (6, 16), (100, 1)] {
        let frame = produce_frame(partitions, &record_batch(records, 1024));
        // Records are sliced out of the frame, not copied, so the cost is per partition.
        group.throughput(Throughput::Elements(partitions as u64));
        let id = format!("v{PRODUCE_VERSION}/{partitions}p_{records}x1KiB");
        group.bench_with_input(BenchmarkId::from_parameter(id), &frame, |b, frame| {
            b.iter(|| {
                let mut buf = frame.clone();
                let header = decode_request_header_from_buffer(&mut buf);
                let header = header.expect("header"); // invariant: encoded by produce_frame
                let req = ProduceRequest::decode(&mut buf, header.request_api_version);
                black_box(req.expect("body")) // invariant: encoded by produce_frame
            })
        });
    }
    group.finish();
}

fn produce_response_encode(c: &mut Criterion) {
    let response = ProduceResponse::default().with_responses(vec![
        TopicProduceResponse::default()
            .with_name(topic())
            .with_partition_responses(
                (0..6)
                    .map(|p| {
                        PartitionProduceResponse::default()
                            .with_index(p)
                            .with_base_offset(1_000_000 + i64::from(p))
                            .with_log_append_time_ms(-1)
                    })
                    .collect(),
            ),
    ]);
    let mut out = BytesMut::with_capacity(4096);
    c.bench_function(
        &format!("produce_response_encode/v{PRODUCE_VERSION}/6p"),
        |b| {
            b.iter(|| {
                out.clear();
                let done = black_box(&response).encode(&mut out, PRODUCE_VERSION);
                done.expect("encode"); // invariant: a well-formed response always encodes
                black_box(out.len())
            })
        },
    );
}

fn fetch_response_encode(c: &mut Criterion) {
    let mut group = c.benchmark_group("fetch_response_encode");
    let records = {
        let batch = record_batch(16, 1024);
        let mut all = BytesMut::new();
        while all.len() < 1 << 20 {
            all.extend_from_slice(&batch);
        }
        all.freeze()
    };
    let response = FetchResponse::default().with_responses(vec![
        FetchableTopicResponse::default()
            .with_topic(topic())
            .with_partitions(
                (0..6)
                    .map(|p| {
                        PartitionData::default()
                            .with_partition_index(p)
                            .with_high_watermark(1_000_000)
                            .with_last_stable_offset(1_000_000)
                            .with_records(Some(records.clone()))
                    })
                    .collect(),
            ),
    ]);
    group.throughput(Throughput::Bytes(6 * records.len() as u64));
    let mut out = BytesMut::with_capacity(7 << 20);
    group.bench_function(format!("v{FETCH_VERSION}/6p_1MiB"), |b| {
        b.iter(|| {
            out.clear();
            let done = black_box(&response).encode(&mut out, FETCH_VERSION);
            done.expect("encode"); // invariant: a well-formed response always encodes
            black_box(out.len())
        })
    });
    group.finish();
}

fn metadata_response_encode(c: &mut Criterion) {
    let mut group = c.benchmark_group("metadata_response_encode");
    for partitions in [6, 1000] {
        let response = MetadataResponse::default()
            .with_brokers(vec![
                MetadataResponseBroker::default()
                    .with_node_id(BrokerId(1))
                    .with_host(StrBytes::from_static_str("127.0.0.1"))
                    .with_port(9092),
            ])
            .with_cluster_id(Some(StrBytes::from_static_str("5L6g3nShT-eMCtK--X86sw")))
            .with_controller_id(BrokerId(1))
            .with_topics(vec![
                MetadataResponseTopic::default()
                    .with_name(Some(topic()))
                    .with_partitions(
                        (0..partitions)
                            .map(|p| {
                                MetadataResponsePartition::default()
                                    .with_partition_index(p)
                                    .with_leader_id(BrokerId(1))
                                    .with_replica_nodes(vec![BrokerId(1)])
                                    .with_isr_nodes(vec![BrokerId(1)])
                            })
                            .collect(),
                    ),
            ]);
        let mut out = BytesMut::with_capacity(64 << 10);
        group.throughput(Throughput::Elements(partitions as u64));
        group.bench_function(format!("v{METADATA_VERSION}/{partitions}p"), |b| {
            b.iter(|| {
                out.clear();
                let done = black_box(&response).encode(&mut out, METADATA_VERSION);
                done.expect("encode"); // invariant: a well-formed response always encodes
                black_box(out.len())
            })
        });
    }
    group.finish();
}

criterion_group!(
    benches,
    produce_request_decode,
    produce_response_encode,
    fetch_response_encode,
    metadata_response_encode
);
criterion_main!(benches);
