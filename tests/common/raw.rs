//! A minimal blocking Kafka protocol client built on the `kafka-protocol` codecs, for tests
//! that need exact control over the bytes on the wire.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, RequestHeader, ResponseHeader};
use kafka_protocol::protocol::{Decodable, Encodable, Request, StrBytes};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

pub struct RawClient {
    pub stream: TcpStream,
    correlation: i32,
}

impl RawClient {
    pub fn connect(port: u16) -> RawClient {
        let stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        RawClient {
            stream,
            correlation: 0,
        }
    }

    /// Encodes header + body for `version` (without the size prefix).
    pub fn encode<R: Request>(&mut self, req: &R, version: i16) -> BytesMut {
        self.correlation += 1;
        let header = RequestHeader::default()
            .with_request_api_key(R::KEY)
            .with_request_api_version(version)
            .with_correlation_id(self.correlation)
            .with_client_id(Some(StrBytes::from_static_str("strom-raw-test")));
        let mut buf = BytesMut::new();
        let key = ApiKey::try_from(R::KEY).unwrap();
        header
            .encode(&mut buf, key.request_header_version(version))
            .unwrap();
        req.encode(&mut buf, version)
            .unwrap_or_else(|e| panic!("encoding {key:?} v{version} request: {e}"));
        buf
    }

    /// Sends one framed payload as is.
    pub fn send_frame(&mut self, payload: &[u8]) {
        let mut frame = Vec::with_capacity(payload.len() + 4);
        frame.put_i32(payload.len() as i32);
        frame.extend_from_slice(payload);
        self.stream.write_all(&frame).unwrap();
    }

    pub fn send_raw(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.stream.write_all(bytes)
    }

    /// Reads one response frame; None if the broker closed the connection.
    pub fn read_frame(&mut self) -> Option<Bytes> {
        let mut size = [0u8; 4];
        self.stream.read_exact(&mut size).ok()?;
        let mut body = vec![0u8; i32::from_be_bytes(size) as usize];
        self.stream.read_exact(&mut body).ok()?;
        Some(Bytes::from(body))
    }

    /// Sends a request and decodes its response.
    pub fn call<R: Request>(&mut self, req: &R, version: i16) -> R::Response {
        let payload = self.encode(req, version);
        self.send_frame(&payload);
        let mut frame = self.read_frame().expect("response");
        let key = ApiKey::try_from(R::KEY).unwrap();
        let header =
            ResponseHeader::decode(&mut frame, key.response_header_version(version)).unwrap();
        assert_eq!(header.correlation_id, self.correlation);
        R::Response::decode(&mut frame, version).unwrap()
    }

    /// True if the broker closed the connection (reads EOF or reset within the timeout).
    pub fn is_closed(&mut self) -> bool {
        self.stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let mut b = [0u8; 1];
        matches!(self.stream.read(&mut b), Ok(0) | Err(_))
    }
}

/// Builds an uncompressed v2 record batch with `n` records (keys/values "k{i}"/"v{i}").
pub fn record_batch(n: usize, producer: Option<(i64, i16, i32)>) -> Bytes {
    record_batch_with(n, producer, |i| Bytes::from(format!("v{i}")))
}

/// Like [`record_batch`], with record `i`'s value from `value(i)`.
pub fn record_batch_with(
    n: usize,
    producer: Option<(i64, i16, i32)>,
    value: impl Fn(usize) -> Bytes,
) -> Bytes {
    use kafka_protocol::records::{
        Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
    };
    let (pid, epoch, seq) = producer.unwrap_or((-1, -1, -1));
    // Current timestamps: time-based segment rolling and retention go by record timestamps.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let records: Vec<Record> = (0..n)
        .map(|i| Record {
            transactional: false,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: -1,
            producer_id: pid,
            producer_epoch: epoch,
            timestamp_type: TimestampType::Creation,
            offset: i as i64,
            // The encoder splits a batch wherever offset - sequence changes, so a
            // non-idempotent batch numbers sequences from -1 (its base sequence stays -1).
            sequence: if seq < 0 {
                i as i32 - 1
            } else {
                seq + i as i32
            },
            timestamp: now + i as i64,
            key: Some(Bytes::from(format!("k{i}"))),
            value: Some(value(i)),
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
    .unwrap();
    buf.freeze()
}

/// Reads the i64 base offset at the front of a stored batch.
pub fn base_offset(batch: &[u8]) -> i64 {
    (&batch[..8]).get_i64()
}

use kafka_protocol::messages::create_topics_request::{CreatableTopic, CreatableTopicConfig};
use kafka_protocol::messages::create_topics_response::CreatableTopicResult;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::produce_response::PartitionProduceResponse;
use kafka_protocol::messages::{CreateTopicsRequest, ProduceRequest, TopicName};

pub fn topic_name(s: &str) -> TopicName {
    TopicName(StrBytes::from_string(s.to_string()))
}

/// One topic of a CreateTopics request, with topic-level configs.
pub fn creatable_topic(
    topic: &str,
    partitions: i32,
    rf: i16,
    configs: &[(&str, &str)],
) -> CreatableTopic {
    CreatableTopic::default()
        .with_name(topic_name(topic))
        .with_num_partitions(partitions)
        .with_replication_factor(rf)
        .with_configs(
            configs
                .iter()
                .map(|(k, v)| {
                    CreatableTopicConfig::default()
                        .with_name(StrBytes::from_string(k.to_string()))
                        .with_value(Some(StrBytes::from_string(v.to_string())))
                })
                .collect(),
        )
}

/// Creates one topic (CreateTopics v7, replication factor 1) and returns its result.
pub fn create_topic(
    c: &mut RawClient,
    topic: &str,
    partitions: i32,
    configs: &[(&str, &str)],
) -> CreatableTopicResult {
    let req = CreateTopicsRequest::default()
        .with_topics(vec![creatable_topic(topic, partitions, 1, configs)])
        .with_timeout_ms(10_000);
    c.call(&req, 7).topics.remove(0)
}

/// A Produce request carrying one batch for one partition.
pub fn produce_req(topic: &str, partition: i32, batch: Bytes, acks: i16) -> ProduceRequest {
    ProduceRequest::default()
        .with_transactional_id(None)
        .with_acks(acks)
        .with_timeout_ms(10_000)
        .with_topic_data(vec![
            TopicProduceData::default()
                .with_name(topic_name(topic))
                .with_partition_data(vec![
                    PartitionProduceData::default()
                        .with_index(partition)
                        .with_records(Some(batch)),
                ]),
        ])
}

/// Produces one batch (Produce v9) and returns the partition's response.
pub fn produce_to(
    c: &mut RawClient,
    topic: &str,
    partition: i32,
    batch: Bytes,
    acks: i16,
) -> PartitionProduceResponse {
    let mut r = c.call(&produce_req(topic, partition, batch, acks), 9);
    r.responses.remove(0).partition_responses.remove(0)
}

/// One partition of a Fetch request.
pub fn fetch_topic(topic: &str, partition: i32, offset: i64, max_bytes: i32) -> FetchTopic {
    FetchTopic::default()
        .with_topic(topic_name(topic))
        .with_partitions(vec![
            FetchPartition::default()
                .with_partition(partition)
                .with_fetch_offset(offset)
                .with_partition_max_bytes(max_bytes),
        ])
}

/// Waits until the coordinator of `group` is ready (the offsets topic is created on first use).
pub fn find_coordinator(c: &mut RawClient, group: &str) {
    use kafka_protocol::messages::FindCoordinatorRequest;
    let ready = super::wait_for(Duration::from_secs(30), || {
        let r = c.call(
            &FindCoordinatorRequest::default()
                .with_key_type(0)
                .with_coordinator_keys(vec![StrBytes::from_string(group.to_string())]),
            4,
        );
        (r.coordinators[0].error_code == 0).then_some(())
    });
    assert!(
        ready.is_some(),
        "coordinator for {group} never became available"
    );
}
