//! The protocol side of Strom's quickstart tools (`kafka-topics`, `kafka-console-producer`,
//! `kafka-console-consumer`, `kafka-consumer-groups`, `strom doctor`): one connection to a
//! broker, sending `kafka-protocol` requests at fixed versions that Apache Kafka 3.x/4.x and Strom
//! accept, one at a time, with the few request helpers the tools share.

use anyhow::{Context, Result, anyhow, bail};
use bytes::{Buf, Bytes, BytesMut};
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{
    BrokerId, FetchRequest, ListOffsetsRequest, MetadataRequest, ProduceRequest, RequestHeader,
    ResponseHeader, TopicName,
};
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion, Request, StrBytes};
use kafka_protocol::records::{Record, RecordBatchDecoder};
use std::collections::BTreeMap;
use std::time::Duration;
use strom::base::batch_encode;
use strom::base::clock::now_ms;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Protocol versions used; all are within what Kafka 3.x/4.x and Strom accept.
pub const METADATA_VERSION: i16 = 12;
const PRODUCE_VERSION: i16 = 9;
const LIST_OFFSETS_VERSION: i16 = 7;
const FETCH_VERSION: i16 = 12;
/// Retriable errors (a new topic's leader not elected yet, ...) are retried this often, this far
/// apart, as Kafka's own clients do.
const MAX_RETRIES: u32 = 40;
const RETRY_BACKOFF: Duration = Duration::from_millis(250);
/// Largest response accepted, a guard against a peer that is not a Kafka broker.
const MAX_RESPONSE_BYTES: usize = 128 * 1024 * 1024;
/// How long connecting to a broker may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// `--bootstrap-server`, as every Kafka tool takes it.
#[derive(Debug, clap::Args)]
pub struct Bootstrap {
    /// The server(s) to connect to: HOST:PORT, comma-separated.
    #[arg(long = "bootstrap-server", default_value = "127.0.0.1:9092")]
    pub bootstrap_server: String,
}

/// Runs `work` on a single-threaded runtime (the tools send one request at a time).
pub fn block_on<T>(work: impl std::future::Future<Output = Result<T>>) -> Result<T> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the I/O runtime")?
        .block_on(work)
}

/// A topic name for a request.
pub fn topic_name(name: &str) -> TopicName {
    TopicName(StrBytes::from_string(name.to_string()))
}

/// The broker's error message for `code`, or Kafka's name for the error when it sent none.
pub fn error_text(code: i16, message: Option<&StrBytes>) -> String {
    match message.filter(|m| !m.is_empty()) {
        Some(m) => m.to_string(),
        None => ResponseError::try_from_code(code)
            .map(|e| e.to_string())
            .unwrap_or_else(|| format!("error code {code}")),
    }
}

/// Fails with the broker's message for a non-zero error code.
pub fn check(code: i16, message: Option<&StrBytes>) -> Result<()> {
    if code == 0 {
        return Ok(());
    }
    bail!("{}", error_text(code, message))
}

/// After an error `code`, waits and returns true when it is worth trying again.
pub async fn retry_after(code: i16, attempt: &mut u32) -> bool {
    let retriable = ResponseError::try_from_code(code).is_some_and(|e| e.is_retriable())
        || code == ResponseError::CoordinatorLoadInProgress.code();
    if retriable && *attempt < MAX_RETRIES {
        *attempt += 1;
        tokio::time::sleep(RETRY_BACKOFF).await;
        return true;
    }
    false
}

/// One partition as Metadata describes it.
#[derive(Debug, Clone)]
pub struct PartitionInfo {
    /// Partition index.
    pub index: i32,
    /// Leader broker id, -1 when none.
    pub leader: i32,
    /// Replica broker ids.
    pub replicas: Vec<i32>,
    /// In-sync replica broker ids.
    pub isr: Vec<i32>,
}

/// One topic as Metadata describes it.
#[derive(Debug, Clone)]
pub struct TopicInfo {
    /// Topic name.
    pub name: String,
    /// Topic id.
    pub id: uuid::Uuid,
    /// An internal topic (`__consumer_offsets`, ...).
    pub internal: bool,
    /// Partitions, by index.
    pub partitions: Vec<PartitionInfo>,
}

/// A broker of the cluster.
#[derive(Debug, Clone)]
pub struct BrokerInfo {
    /// Node id.
    pub id: i32,
    /// Advertised host.
    pub host: String,
    /// Advertised port.
    pub port: i32,
}

/// Metadata for `topics` (all topics when `None`), topics sorted by name; a topic the broker
/// reports an error for (unknown, ...) is left out.
pub async fn metadata(
    conn: &mut Connection,
    topics: Option<&[String]>,
) -> Result<(Vec<BrokerInfo>, Vec<TopicInfo>)> {
    let request = MetadataRequest::default()
        .with_topics(topics.map(|names| {
            names
                .iter()
                .map(|n| MetadataRequestTopic::default().with_name(Some(topic_name(n))))
                .collect()
        }))
        .with_allow_auto_topic_creation(false);
    let response = conn.send(&request, METADATA_VERSION).await?;
    let brokers = response
        .brokers
        .iter()
        .map(|b| BrokerInfo {
            id: b.node_id.0,
            host: b.host.to_string(),
            port: b.port,
        })
        .collect();
    let mut out: Vec<TopicInfo> = response
        .topics
        .iter()
        .filter(|t| t.error_code == 0)
        .filter_map(|t| {
            let mut partitions: Vec<PartitionInfo> = t
                .partitions
                .iter()
                .map(|p| PartitionInfo {
                    index: p.partition_index,
                    leader: p.leader_id.0,
                    replicas: p.replica_nodes.iter().map(|b| b.0).collect(),
                    isr: p.isr_nodes.iter().map(|b| b.0).collect(),
                })
                .collect();
            partitions.sort_by_key(|p| p.index);
            Some(TopicInfo {
                name: t.name.as_ref()?.to_string(),
                id: t.topic_id,
                internal: t.is_internal,
                partitions,
            })
        })
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok((brokers, out))
}

/// The partitions of `topic`, waiting while its metadata is still settling. Like Kafka's
/// producer and consumer, it lets the broker auto-create a missing topic when the broker allows
/// (`auto.create.topics.enable`).
pub async fn partitions_of(conn: &mut Connection, topic: &str) -> Result<Vec<i32>> {
    let mut attempt = 0;
    loop {
        let request = MetadataRequest::default()
            .with_topics(Some(vec![
                MetadataRequestTopic::default().with_name(Some(topic_name(topic))),
            ]))
            .with_allow_auto_topic_creation(true);
        let response = conn.send(&request, METADATA_VERSION).await?;
        let t = response
            .topics
            .first()
            .ok_or_else(|| anyhow!("no metadata for topic {topic}"))?;
        let leaderless = t.partitions.iter().any(|p| p.leader_id.0 < 0);
        if (t.error_code != 0 || leaderless) && retry_after(t.error_code.max(5), &mut attempt).await
        {
            continue;
        }
        check(t.error_code, None).with_context(|| format!("Topic {topic}"))?;
        let mut partitions: Vec<i32> = t.partitions.iter().map(|p| p.partition_index).collect();
        partitions.sort_unstable();
        return Ok(partitions);
    }
}

/// A topic partition.
pub type Tp = (String, i32);

/// The offsets at `timestamp` (-2 earliest, -1 latest) of `partitions`.
pub async fn list_offsets(
    conn: &mut Connection,
    partitions: &[Tp],
    timestamp: i64,
) -> Result<BTreeMap<Tp, i64>> {
    let mut by_topic: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
    for (t, p) in partitions {
        by_topic.entry(t).or_default().push(*p);
    }
    let request = ListOffsetsRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_topics(
            by_topic
                .iter()
                .map(|(t, ps)| {
                    ListOffsetsTopic::default()
                        .with_name(topic_name(t))
                        .with_partitions(
                            ps.iter()
                                .map(|&p| {
                                    ListOffsetsPartition::default()
                                        .with_partition_index(p)
                                        .with_timestamp(timestamp)
                                })
                                .collect(),
                        )
                })
                .collect(),
        );
    let mut attempt = 0;
    loop {
        let response = conn.send(&request, LIST_OFFSETS_VERSION).await?;
        let mut out = BTreeMap::new();
        let mut retry = None;
        for t in &response.topics {
            for p in &t.partitions {
                if p.error_code != 0 {
                    retry = Some((t.name.to_string(), p.partition_index, p.error_code));
                    continue;
                }
                out.insert((t.name.to_string(), p.partition_index), p.offset);
            }
        }
        match retry {
            None => return Ok(out),
            Some((_, _, code)) if retry_after(code, &mut attempt).await => continue,
            Some((t, p, code)) => {
                bail!("Cannot list offsets of {t}-{p}: {}", error_text(code, None))
            }
        }
    }
}

/// A record read from a partition.
#[derive(Debug, Clone)]
pub struct Consumed {
    /// Its topic.
    pub topic: String,
    /// Its partition.
    pub partition: i32,
    /// Its record.
    pub record: Record,
}

/// One Fetch for every partition at its position (waiting up to `max_wait_ms` for data);
/// returns the new records and advances the positions past them.
pub async fn fetch(
    conn: &mut Connection,
    positions: &mut BTreeMap<Tp, i64>,
    max_wait_ms: i32,
) -> Result<Vec<Consumed>> {
    let mut by_topic: BTreeMap<&str, Vec<FetchPartition>> = BTreeMap::new();
    for ((t, p), offset) in positions.iter() {
        by_topic.entry(t).or_default().push(
            FetchPartition::default()
                .with_partition(*p)
                .with_fetch_offset(*offset)
                .with_partition_max_bytes(1 << 20),
        );
    }
    let request = FetchRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_max_wait_ms(max_wait_ms)
        .with_min_bytes(1)
        .with_max_bytes(50 << 20)
        .with_session_epoch(-1)
        .with_topics(
            by_topic
                .into_iter()
                .map(|(t, ps)| {
                    FetchTopic::default()
                        .with_topic(topic_name(t))
                        .with_partitions(ps)
                })
                .collect(),
        );
    let response = conn.send(&request, FETCH_VERSION).await?;
    check(response.error_code, None).context("Fetch")?;
    let mut out = Vec::new();
    for topic in &response.responses {
        let name = topic.topic.to_string();
        for data in &topic.partitions {
            // A retriable error (leadership moving, ...) just means no data this round.
            if ResponseError::try_from_code(data.error_code).is_some_and(|e| e.is_retriable()) {
                continue;
            }
            check(data.error_code, None)
                .with_context(|| format!("Cannot fetch {name}-{}", data.partition_index))?;
            let Some(position) = positions.get_mut(&(name.clone(), data.partition_index)) else {
                continue;
            };
            let Some(mut records) = data.records.clone() else {
                continue;
            };
            let sets = RecordBatchDecoder::decode_all(&mut records).map_err(|e| {
                anyhow!(
                    "corrupt record batch from {name}-{}: {e}",
                    data.partition_index
                )
            })?;
            for record in sets.into_iter().flat_map(|s| s.records) {
                if record.offset < *position {
                    continue;
                }
                *position = record.offset + 1;
                if !record.control {
                    out.push(Consumed {
                        topic: name.clone(),
                        partition: data.partition_index,
                        record,
                    });
                }
            }
        }
    }
    Ok(out)
}

/// A record's key and value (either may be null).
pub type KeyValue = (Option<Bytes>, Option<Bytes>);

/// Produces `(key, value)` records to one partition as one batch with acks=all.
pub async fn produce(
    conn: &mut Connection,
    topic: &str,
    partition: i32,
    records: &[KeyValue],
) -> Result<()> {
    let records: Vec<Record> = records
        .iter()
        .enumerate()
        .map(|(i, (key, value))| Record {
            key: key.clone(),
            value: value.clone(),
            ..batch_encode::data(i as i64, Bytes::new())
        })
        .collect();
    let batch = batch_encode::encode_batches(&[&records], now_ms());
    let request = ProduceRequest::default()
        .with_acks(-1)
        .with_timeout_ms(30_000)
        .with_topic_data(vec![
            TopicProduceData::default()
                .with_name(topic_name(topic))
                .with_partition_data(vec![
                    PartitionProduceData::default()
                        .with_index(partition)
                        .with_records(Some(batch)),
                ]),
        ]);
    let mut attempt = 0;
    loop {
        let response = conn.send(&request, PRODUCE_VERSION).await?;
        let failed = response
            .responses
            .iter()
            .flat_map(|t| t.partition_responses.iter())
            .find(|p| p.error_code != 0);
        let Some(p) = failed else { return Ok(()) };
        if !retry_after(p.error_code, &mut attempt).await {
            return check(p.error_code, p.error_message.as_ref())
                .with_context(|| format!("Cannot produce to {topic}-{partition}"));
        }
    }
}

/// One connection to a broker, sending one request at a time.
pub struct Connection {
    /// The socket.
    stream: TcpStream,
    /// Correlation id of the last request.
    correlation_id: i32,
    /// `host:port` it is connected to.
    pub address: String,
}

impl Connection {
    /// Connects to the first answering address of a comma-separated bootstrap list (each
    /// `host:port` tried on every address its host resolves to).
    pub async fn connect(bootstrap: &str) -> Result<Connection> {
        let mut last = None;
        for address in bootstrap
            .split(',')
            .map(str::trim)
            .filter(|a| !a.is_empty())
        {
            match tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(address)).await {
                Ok(Ok(stream)) => {
                    stream.set_nodelay(true)?;
                    return Ok(Connection {
                        stream,
                        correlation_id: 0,
                        address: address.to_string(),
                    });
                }
                Ok(Err(e)) => last = Some(anyhow!("cannot connect to {address}: {e}")),
                Err(_) => last = Some(anyhow!("cannot connect to {address}: timed out")),
            }
        }
        Err(last.unwrap_or_else(|| anyhow!("no bootstrap server given")))
    }

    /// Sends `request` at `version` and reads its response.
    pub async fn send<R: Request>(&mut self, request: &R, version: i16) -> Result<R::Response> {
        self.correlation_id += 1;
        let header = RequestHeader::default()
            .with_request_api_key(R::KEY)
            .with_request_api_version(version)
            .with_correlation_id(self.correlation_id)
            .with_client_id(Some(StrBytes::from_static_str("strom-cli")));
        let mut frame = BytesMut::new();
        frame.extend_from_slice(&[0; 4]);
        header.encode(&mut frame, R::header_version(version))?;
        request.encode(&mut frame, version)?;
        let size = i32::try_from(frame.len() - 4).context("request too large")?;
        frame[..4].copy_from_slice(&size.to_be_bytes());
        self.stream
            .write_all(&frame)
            .await
            .context("cannot send the request")?;

        let size = self
            .stream
            .read_i32()
            .await
            .context("the broker closed the connection")?;
        let size = usize::try_from(size)
            .ok()
            .filter(|&s| s <= MAX_RESPONSE_BYTES);
        let size = size.ok_or_else(|| anyhow!("the broker sent an invalid response size"))?;
        let mut body = vec![0; size];
        self.stream
            .read_exact(&mut body)
            .await
            .context("the broker closed the connection")?;
        let mut body = Bytes::from(body);
        let response_header =
            ResponseHeader::decode(&mut body, R::Response::header_version(version))?;
        if response_header.correlation_id != self.correlation_id {
            bail!(
                "response out of order (correlation id {})",
                response_header.correlation_id
            );
        }
        let response = R::Response::decode(&mut body, version)?;
        if body.has_remaining() {
            bail!("{} bytes left over in the response", body.remaining());
        }
        Ok(response)
    }
}
