//! Micro-benchmarks of the broker's per-byte hot paths: CRC-32C (hardware path vs the bitwise
//! definition), produce batch validation, appending to a log, and offset index lookups.
//!
//! Run with `cargo bench --bench hot_paths`.

use std::hint::black_box;

use bytes::{Bytes, BytesMut};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use kafka_protocol::records::{
    Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};
use strom::config::LogConfig;
use strom::log::{
    OffsetIndex, TopicPartition, UnifiedLog, crc32c, crc32c_reference, validate_produce_batches,
};

/// One v2 batch of `count` records with `value_len`-byte values, as a producer sends it.
fn produce_batch(count: usize, value_len: usize) -> BytesMut {
    let records: Vec<Record> = (0..count)
        .map(|i| Record {
            transactional: false,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: -1,
            producer_id: -1,
            producer_epoch: -1,
            timestamp_type: TimestampType::Creation,
            offset: i as i64,
            sequence: i as i32,
            timestamp: 1_700_000_000_000 + i as i64,
            key: Some(Bytes::from(format!("key-{i}"))),
            value: Some(Bytes::from(vec![b'v'; value_len])),
            headers: Default::default(),
        })
        .collect();
    let mut buf = BytesMut::new();
    let options = RecordEncodeOptions {
        version: 2,
        compression: Compression::None,
    };
    if let Err(e) = RecordBatchEncoder::encode(&mut buf, &records, &options) {
        panic!("encoding the benchmark batch failed: {e}");
    }
    buf
}

fn crc(c: &mut Criterion) {
    let data: Vec<u8> = (0..16 * 1024).map(|i| (i * 31 % 251) as u8).collect();
    let mut group = c.benchmark_group("crc32c_16KiB");
    group.throughput(Throughput::Bytes(data.len() as u64));
    group.bench_function("crc_fast", |b| b.iter(|| crc32c(black_box(&data))));
    group.bench_function("bitwise_reference", |b| {
        b.iter(|| crc32c_reference(black_box(&data)))
    });
    group.finish();
}

fn validation(c: &mut Criterion) {
    let tp = TopicPartition::new("bench", 0);
    let batch = produce_batch(100, 100);
    let mut group = c.benchmark_group("validate_batch");
    group.throughput(Throughput::Bytes(batch.len() as u64));
    group.bench_function("100_records_of_100B", |b| {
        b.iter(|| validate_produce_batches(black_box(&batch), 1 << 20, &tp).map(|v| v.len()))
    });
    group.finish();
}

fn append(c: &mut Criterion) {
    let root = match tempfile::tempdir() {
        Ok(dir) => dir,
        Err(e) => panic!("tempdir: {e}"),
    };
    let dir = root.path().join("bench-0");
    if let Err(e) = std::fs::create_dir(&dir) {
        panic!("mkdir: {e}");
    }
    let config = LogConfig {
        segment_bytes: 64 * 1024 * 1024,
        ..LogConfig::default()
    };
    let tp = TopicPartition::new("bench", 0);
    let log = match UnifiedLog::create(&dir, tp, uuid::Uuid::nil(), config, 0) {
        Ok(log) => log,
        Err(e) => panic!("create log: {e}"),
    };
    let batch = produce_batch(16, 1000);
    let mut group = c.benchmark_group("append");
    group.throughput(Throughput::Bytes(batch.len() as u64));
    group.bench_function("16KiB_batch", |b| {
        b.iter(|| {
            log.append_as_leader(&batch, 1_700_000_000_000)
                .map(|i| i.last_offset)
        })
    });
    group.finish();
}

fn index_lookup(c: &mut Criterion) {
    let root = match tempfile::tempdir() {
        Ok(dir) => dir,
        Err(e) => panic!("tempdir: {e}"),
    };
    let path = root.path().join("00000000000000000000.index");
    let mut index = match OffsetIndex::open(&path, 0, Some(10 * 1024 * 1024)) {
        Ok(index) => index,
        Err(e) => panic!("open index: {e}"),
    };
    let entries = 1_000_000u32;
    for i in 0..entries {
        if let Err(e) = index.append(i64::from(i) * 10, i * 4096) {
            panic!("index append: {e}");
        }
    }
    let mut target = 0i64;
    c.bench_function("offset_index_lookup_1M_entries", |b| {
        b.iter(|| {
            target = (target + 7_919_993) % (i64::from(entries) * 10);
            index.lookup(black_box(target))
        })
    });
}

criterion_group!(benches, crc, validation, append, index_lookup);
criterion_main!(benches);
