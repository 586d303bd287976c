//! Strom's fuzz targets and their seed inputs. A target takes arbitrary bytes and must return
//! normally: no panic, no abort, no hang, memory bounded by the input.
//!
//! Shared by the libFuzzer binaries in `fuzz/fuzz_targets/` (long runs on nightly:
//! `scripts/fuzz.sh`) and `tests/fuzz.rs` (a bounded run on stable inside `cargo test`, the saved
//! regression inputs, and a heap meter on every input).

use bytes::{BufMut, BytesMut};
use kafka_protocol::messages::{
    ApiKey, CreateTopicsRequest, MetadataRequest, OffsetCommitRequest, ProduceRequest,
    RequestHeader, RequestKind, TopicName, create_topics_request, metadata_request,
    offset_commit_request, produce_request,
};
use kafka_protocol::protocol::{Encodable, StrBytes};
use std::io::Write;
use strom::log::{
    RECORD_BATCH_OVERHEAD, TopicPartition, assign_offsets, check_stored_batch, crc32c,
    validate_produce_batches,
};
use strom::server::frame::{next_frame, parse_header};

/// `socket.request.max.bytes`'s default.
const MAX_REQUEST: i32 = 104_857_600;
/// `max.message.bytes`'s default.
const MAX_MESSAGE: usize = 1_048_588;
/// Where the CRC and the attributes sit in a v2 batch.
const CRC_OFFSET: usize = 17;
const ATTRIBUTES_OFFSET: usize = 21;
/// Codec names by attribute id, for the structured batch mode.
const CODECS: [u8; 4] = [1, 2, 3, 4];

/// A connection's request path: socket bytes → frames (`next_frame`) → header (`parse_header`)
/// → body, decoded as the broker decodes it: every API key at every version the protocol
/// defines (advertised APIs at advertised versions go to their handlers, the others are decoded
/// to answer UNSUPPORTED_VERSION).
///
/// The first byte picks how the rest is read: odd, as one frame's payload (the size prefix is
/// added here, so mutations reach the header and body decoders); even, as bytes straight off a
/// socket, size prefixes included. As on a connection, a bad frame or header ends the stream.
pub fn request(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let mut socket = BytesMut::with_capacity(rest.len() + 4);
    if mode & 1 == 1 {
        socket.put_i32(rest.len() as i32);
    }
    socket.put_slice(rest);
    while let Ok(Some(mut frame)) = next_frame(&mut socket, MAX_REQUEST) {
        let Ok((header, api_key)) = parse_header(&mut frame) else {
            return;
        };
        let version = header.request_api_version;
        let valid = api_key.valid_versions();
        if !(valid.min..=valid.max).contains(&version) {
            return;
        }
        if RequestKind::decode(api_key, &mut frame, version).is_err() {
            return;
        }
    }
}

/// The produce path's batch validation (`validate_produce_batches`), then the offset
/// assignment of what it accepts, after which every batch must read back as a stored batch.
///
/// The first byte picks how the rest is used:
/// - `% 3 == 0`: as a produce payload, as is;
/// - `% 3 == 1`: the same with each batch's CRC made right, so validation goes on to the header
///   rules, the records and, for compressed batches, the decompressors;
/// - `% 3 == 2`: `rest[0]` is a record count, `rest[1]` picks a codec (low two bits) and for
///   snappy the xerial framing (bit 2), the remainder is a records section; it is stored once
///   uncompressed and once compressed, and both must validate alike, since a compressed batch is
///   the same records behind a decompressor.
pub fn batch(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    match mode % 3 {
        0 => validate_and_store(rest.to_vec()),
        1 => validate_and_store(with_right_crcs(rest)),
        _ => {
            let [count, flags, records @ ..] = rest else {
                return;
            };
            let (count, codec, xerial) = (*count, CODECS[usize::from(flags & 3)], flags & 4 != 0);
            let plain = batch_bytes(0, i32::from(count), records);
            let packed = batch_bytes(
                i16::from(codec),
                i32::from(count),
                &compress(codec, xerial, records),
            );
            let tp = TopicPartition::new("fuzz", 0);
            let plain_result = validate_produce_batches(&plain, MAX_MESSAGE, &tp);
            let packed_result = validate_produce_batches(&packed, MAX_MESSAGE, &tp);
            match (&plain_result, &packed_result) {
                (Ok(p), Ok(c)) => assert_eq!(
                    p[0].records_max_timestamp, c[0].records_max_timestamp,
                    "codec {codec}: the compressed batch's records read differently"
                ),
                (Err(_), Err(_)) => {}
                _ => {
                    panic!("codec {codec}: plain {plain_result:?} but compressed {packed_result:?}")
                }
            }
            validate_and_store(packed);
        }
    }
}

fn validate_and_store(mut payload: Vec<u8>) {
    let tp = TopicPartition::new("fuzz", 0);
    let Ok(batches) = validate_produce_batches(&payload, MAX_MESSAGE, &tp) else {
        return;
    };
    let mut next_offset = 0i64;
    for b in batches {
        let stored = &mut payload[b.position..b.position + b.header.size()];
        assign_offsets(stored, next_offset, 0, None, b.records_max_timestamp);
        let header = check_stored_batch(stored)
            .unwrap_or_else(|e| panic!("an accepted batch does not read back: {e}"));
        assert_eq!(header.base_offset, next_offset);
        next_offset += i64::from(b.header.record_count);
    }
}

/// `data` with the CRC of every batch it holds recomputed, as far as the length fields chain.
fn with_right_crcs(data: &[u8]) -> Vec<u8> {
    let mut out = data.to_vec();
    let mut pos = 0usize;
    while pos + RECORD_BATCH_OVERHEAD <= out.len() {
        let length = i32::from_be_bytes([out[pos + 8], out[pos + 9], out[pos + 10], out[pos + 11]]);
        let Some(size) = usize::try_from(length).ok().map(|l| l + 12) else {
            break;
        };
        if size < RECORD_BATCH_OVERHEAD || pos + size > out.len() {
            break;
        }
        let crc = crc32c(&out[pos + ATTRIBUTES_OFFSET..pos + size]);
        out[pos + CRC_OFFSET..pos + CRC_OFFSET + 4].copy_from_slice(&crc.to_be_bytes());
        pos += size;
    }
    out
}

/// A v2 batch around `records` (a records section, compressed with `codec` or not): base offset
/// 0, timestamps from 1,000, no producer id, offsets 0..count.
pub fn batch_bytes(codec: i16, count: i32, records: &[u8]) -> Vec<u8> {
    let mut b = Vec::with_capacity(RECORD_BATCH_OVERHEAD + records.len());
    b.put_i64(0);
    b.put_i32((RECORD_BATCH_OVERHEAD - 12 + records.len()) as i32);
    b.put_i32(-1);
    b.put_i8(2);
    b.put_u32(0);
    b.put_i16(codec);
    b.put_i32(count.wrapping_sub(1));
    b.put_i64(1_000);
    b.put_i64(1_000);
    b.put_i64(-1);
    b.put_i16(-1);
    b.put_i32(-1);
    b.put_i32(count);
    b.put_slice(records);
    let crc = crc32c(&b[ATTRIBUTES_OFFSET..]);
    b[CRC_OFFSET..CRC_OFFSET + 4].copy_from_slice(&crc.to_be_bytes());
    b
}

/// `data` compressed as a Kafka client would: gzip, snappy (raw, or xerial-framed as the Java
/// client frames it), lz4 frame, zstd.
pub fn compress(codec: u8, xerial: bool, data: &[u8]) -> Vec<u8> {
    match codec {
        1 => {
            let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            gz.write_all(data).expect("gzip into memory");
            gz.finish().expect("gzip into memory")
        }
        2 => {
            let raw = snap::raw::Encoder::new()
                .compress_vec(data)
                .expect("snappy into memory");
            if !xerial {
                return raw;
            }
            let mut out = b"\x82SNAPPY\x00\x00\x00\x00\x01\x00\x00\x00\x01".to_vec();
            out.put_u32(raw.len() as u32);
            out.extend_from_slice(&raw);
            out
        }
        3 => {
            let mut lz4 = lz4_flex::frame::FrameEncoder::new(Vec::new());
            lz4.write_all(data).expect("lz4 into memory");
            lz4.finish().expect("lz4 into memory")
        }
        4 => ruzstd::encoding::compress_to_vec(data, ruzstd::encoding::CompressionLevel::Fastest),
        _ => data.to_vec(),
    }
}

/// One v2 record: `(timestamp delta, offset delta, value)`, no key, no headers.
pub fn record(timestamp_delta: i64, offset_delta: i32, value: &[u8]) -> Vec<u8> {
    let mut body = vec![0u8];
    put_varlong(&mut body, timestamp_delta);
    put_varlong(&mut body, i64::from(offset_delta));
    put_varlong(&mut body, -1);
    put_varlong(&mut body, value.len() as i64);
    body.extend_from_slice(value);
    put_varlong(&mut body, 0);
    let mut out = Vec::new();
    put_varlong(&mut out, body.len() as i64);
    out.extend(body);
    out
}

fn put_varlong(out: &mut Vec<u8>, v: i64) {
    let mut raw = ((v << 1) ^ (v >> 63)) as u64;
    while raw >= 0x80 {
        out.push(raw as u8 | 0x80);
        raw >>= 7;
    }
    out.push(raw as u8);
}

/// Starting inputs for [`request`]: a frame payload (mode byte 1) for every API key at every
/// version, with a body that decodes (the first of a few filler bodies that does, re-encoded),
/// and richer requests of the APIs clients use most.
pub fn request_seeds() -> Vec<Vec<u8>> {
    let mut seeds = Vec::new();
    for key in ApiKey::iter() {
        let valid = key.valid_versions();
        for version in valid.min..=valid.max {
            let body = [0u8, 1, 0xff]
                .iter()
                .find_map(|&fill| {
                    let kind =
                        RequestKind::decode(key, &mut bytes::Bytes::from(vec![fill; 64]), version)
                            .ok()?;
                    let mut body = BytesMut::new();
                    kind.encode(&mut body, version).ok()?;
                    Some(body.to_vec())
                })
                .unwrap_or_else(|| vec![0; 16]);
            seeds.push(frame_seed(key, version, &body));
        }
    }
    let name = |s: &str| TopicName(StrBytes::from_string(s.to_string()));
    let records = batch_bytes(0, 2, &[record(0, 0, b"a"), record(1, 1, b"bc")].concat());
    let produce = ProduceRequest::default()
        .with_acks(-1)
        .with_timeout_ms(1000)
        .with_topic_data(vec![
            produce_request::TopicProduceData::default()
                .with_name(name("t"))
                .with_partition_data(vec![
                    produce_request::PartitionProduceData::default()
                        .with_records(Some(records.into())),
                ]),
        ]);
    let metadata = MetadataRequest::default().with_topics(Some(vec![
        metadata_request::MetadataRequestTopic::default().with_name(Some(name("a"))),
        metadata_request::MetadataRequestTopic::default().with_name(Some(name("b"))),
    ]));
    let create = CreateTopicsRequest::default().with_topics(vec![
        create_topics_request::CreatableTopic::default()
            .with_name(name("t"))
            .with_num_partitions(-1)
            .with_replication_factor(-1)
            .with_assignments(vec![
                create_topics_request::CreatableReplicaAssignment::default()
                    .with_broker_ids(vec![1.into(), 2.into()]),
            ])
            .with_configs(vec![
                create_topics_request::CreatableTopicConfig::default()
                    .with_name(StrBytes::from_static_str("cleanup.policy"))
                    .with_value(Some(StrBytes::from_static_str("compact"))),
            ]),
    ]);
    let commit = OffsetCommitRequest::default()
        .with_group_id(StrBytes::from_static_str("g").into())
        .with_topics(vec![
            offset_commit_request::OffsetCommitRequestTopic::default()
                .with_name(name("t"))
                .with_partitions(vec![
                    offset_commit_request::OffsetCommitRequestPartition::default()
                        .with_committed_offset(42)
                        .with_committed_metadata(Some(StrBytes::from_static_str("m"))),
                ]),
        ]);
    for version in [3, 9, 13] {
        seeds.push(encoded_seed(ApiKey::Produce, version, &produce));
    }
    for version in [4, 12] {
        seeds.push(encoded_seed(ApiKey::Metadata, version, &metadata));
    }
    seeds.push(encoded_seed(ApiKey::CreateTopics, 7, &create));
    seeds.push(encoded_seed(ApiKey::OffsetCommit, 9, &commit));
    seeds
}

fn encoded_seed(key: ApiKey, version: i16, body: &impl Encodable) -> Vec<u8> {
    let mut out = BytesMut::new();
    body.encode(&mut out, version)
        .expect("seed requests encode at their versions");
    frame_seed(key, version, &out)
}

fn frame_seed(key: ApiKey, version: i16, body: &[u8]) -> Vec<u8> {
    let mut out = BytesMut::new();
    out.put_u8(1);
    RequestHeader::default()
        .with_request_api_key(key as i16)
        .with_request_api_version(version)
        .with_correlation_id(1)
        .with_client_id(Some(StrBytes::from_static_str("fuzz")))
        .encode(&mut out, key.request_header_version(version))
        .expect("headers encode");
    out.put_slice(body);
    out.to_vec()
}

/// Starting inputs for [`batch`]: a valid batch as is and with CRCs to fix, two batches back to
/// back, and a records section for every codec (snappy both raw and xerial-framed).
pub fn batch_seeds() -> Vec<Vec<u8>> {
    let records = [record(0, 0, b"a"), record(5, 1, b"bc"), record(-3, 2, b"")].concat();
    let valid = batch_bytes(0, 3, &records);
    let mut seeds = vec![
        [&[0u8][..], &valid].concat(),
        [&[1u8][..], &valid, &valid].concat(),
    ];
    for (i, &codec) in CODECS.iter().enumerate() {
        seeds.push([&[2, 3, i as u8][..], &records].concat());
        let compressed = batch_bytes(i16::from(codec), 3, &compress(codec, false, &records));
        seeds.push([&[1u8][..], &compressed].concat());
    }
    seeds.push([&[2, 3, 1 | 4][..], &records].concat());
    seeds
}
