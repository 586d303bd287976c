//! `strom topics`, `strom produce`, `strom consume`: small command-line clients in the spirit
//! of `kafka-topics`, `kafka-console-producer` and `kafka-console-consumer`, so a fresh install
//! (and the Homebrew formula's `test do`) can be checked without a JVM or another client.
//!
//! They speak the Kafka protocol through `kafka-protocol` messages at fixed versions that both
//! Strom and Apache Kafka 3.x/4.x accept, to one bootstrap server (a single-node cluster is
//! what they are for): CreateTopics/Metadata, Produce (acks=all), ListOffsets and Fetch.

use anyhow::{Context, Result, anyhow, bail};
use bytes::{Buf, Bytes, BytesMut};
use clap::Args;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{
    BrokerId, CreateTopicsRequest, FetchRequest, ListOffsetsRequest, MetadataRequest,
    ProduceRequest, RequestHeader, ResponseHeader, TopicName,
};
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion, Request, StrBytes};
use kafka_protocol::records::RecordBatchDecoder;
use std::io::{BufRead, Write};
use std::process::ExitCode;
use std::time::{Duration, Instant};
use strom::base::batch_encode;
use strom::base::clock::now_ms;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Protocol versions used; all are within what Kafka 3.x/4.x and Strom accept.
const METADATA_VERSION: i16 = 12;
const CREATE_TOPICS_VERSION: i16 = 7;
const PRODUCE_VERSION: i16 = 9;
const LIST_OFFSETS_VERSION: i16 = 7;
const FETCH_VERSION: i16 = 12;
/// Retriable errors (a new topic's leader not elected yet, ...) are retried this often, this far
/// apart, as Kafka's own clients do.
const MAX_RETRIES: u32 = 40;
const RETRY_BACKOFF: Duration = Duration::from_millis(250);
/// Largest response accepted, a guard against a peer that is not a Kafka broker.
const MAX_RESPONSE_BYTES: usize = 128 * 1024 * 1024;

/// Where the broker is.
#[derive(Debug, Args)]
pub struct Bootstrap {
    /// The broker to talk to, HOST:PORT.
    #[arg(long = "bootstrap-server", default_value = "127.0.0.1:9092")]
    bootstrap_server: String,
}

/// `strom topics` (like kafka-topics): create or list topics.
#[derive(Debug, Args)]
pub struct TopicsArgs {
    #[command(flatten)]
    bootstrap: Bootstrap,
    /// Create --topic.
    #[arg(long, requires = "topic", conflicts_with = "list")]
    create: bool,
    /// List the topics.
    #[arg(long)]
    list: bool,
    /// The topic to create.
    #[arg(long)]
    topic: Option<String>,
    /// Partitions of the new topic.
    #[arg(long, default_value_t = 1)]
    partitions: i32,
    /// Replication factor of the new topic.
    #[arg(long, default_value_t = 1)]
    replication_factor: i16,
}

/// `strom produce` (like kafka-console-producer): one message per line of standard input.
#[derive(Debug, Args)]
pub struct ProduceArgs {
    #[command(flatten)]
    bootstrap: Bootstrap,
    /// The topic to write to.
    #[arg(long)]
    topic: String,
    /// The partition to write to.
    #[arg(long, default_value_t = 0)]
    partition: i32,
}

/// `strom consume` (like kafka-console-consumer): print messages, one per line.
#[derive(Debug, Args)]
pub struct ConsumeArgs {
    #[command(flatten)]
    bootstrap: Bootstrap,
    /// The topic to read.
    #[arg(long)]
    topic: String,
    /// Start at the earliest message rather than the end of the log.
    #[arg(long)]
    from_beginning: bool,
    /// Exit after this many messages.
    #[arg(long)]
    max_messages: Option<u64>,
    /// Read only this partition (default: all).
    #[arg(long)]
    partition: Option<i32>,
    /// Exit if no message arrives for this long.
    #[arg(long)]
    timeout_ms: Option<u64>,
}

/// Runs `strom topics`.
pub fn topics(args: TopicsArgs) -> ExitCode {
    finish(block_on(async move {
        let mut conn = Connection::connect(&args.bootstrap.bootstrap_server).await?;
        match (args.create, args.list, args.topic) {
            (true, _, Some(topic)) => {
                create_topic(&mut conn, &topic, args.partitions, args.replication_factor).await?;
                println!("Created topic {topic}.");
            }
            (false, true, _) => {
                let mut names = list_topics(&mut conn).await?;
                names.sort();
                for name in names {
                    println!("{name}");
                }
            }
            _ => bail!("Command must include exactly one action: --create or --list"),
        }
        Ok(())
    }))
}

/// Runs `strom produce`.
pub fn produce(args: ProduceArgs) -> ExitCode {
    finish(block_on(async move {
        let mut conn = Connection::connect(&args.bootstrap.bootstrap_server).await?;
        let (lines_tx, mut lines_rx) = tokio::sync::mpsc::channel::<String>(1024);
        // Standard input is read on a blocking thread; the loop below sends whatever lines have
        // arrived as one batch, so piped input goes in few requests and typed lines go at once.
        std::thread::spawn(move || {
            for line in std::io::stdin()
                .lock()
                .lines()
                .map_while(std::io::Result::ok)
            {
                if lines_tx.blocking_send(line).is_err() {
                    break;
                }
            }
        });
        while let Some(first) = lines_rx.recv().await {
            let mut lines = vec![first];
            while let Ok(more) = lines_rx.try_recv() {
                lines.push(more);
            }
            produce_lines(&mut conn, &args.topic, args.partition, &lines).await?;
        }
        Ok(())
    }))
}

/// Runs `strom consume`.
pub fn consume(args: ConsumeArgs) -> ExitCode {
    finish(block_on(async move {
        let mut conn = Connection::connect(&args.bootstrap.bootstrap_server).await?;
        let partitions = match args.partition {
            Some(p) => vec![p],
            None => partitions_of(&mut conn, &args.topic).await?,
        };
        let start = if args.from_beginning { -2 } else { -1 };
        let mut positions = Vec::new();
        for &p in &partitions {
            positions.push((p, list_offset(&mut conn, &args.topic, p, start).await?));
        }
        let limit = args.max_messages.unwrap_or(u64::MAX);
        let idle = args.timeout_ms.map(Duration::from_millis);
        let mut seen = 0u64;
        let mut last_message = Instant::now();
        let stdout = std::io::stdout();
        while seen < limit {
            let messages = fetch(&mut conn, &args.topic, &mut positions).await?;
            if messages.is_empty() {
                if idle.is_some_and(|idle| last_message.elapsed() >= idle) {
                    break;
                }
                continue;
            }
            last_message = Instant::now();
            let mut out = stdout.lock();
            for value in messages.into_iter().take((limit - seen) as usize) {
                out.write_all(&value)?;
                out.write_all(b"\n")?;
                seen += 1;
            }
            out.flush()?;
        }
        eprintln!("Processed a total of {seen} messages");
        Ok(())
    }))
}

fn block_on(work: impl std::future::Future<Output = Result<()>>) -> Result<()> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the I/O runtime")?
        .block_on(work)
}

fn finish(result: Result<()>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("Error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Fails with Kafka's name for a non-zero error code.
fn check(code: i16, what: &str, message: Option<&StrBytes>) -> Result<()> {
    match ResponseError::try_from_code(code) {
        None => Ok(()),
        Some(e) => match message {
            Some(m) if !m.is_empty() => bail!("{what}: {e} ({})", m.as_str()),
            _ => bail!("{what}: {e}"),
        },
    }
}

/// After an error `code`, waits and returns true when it is worth trying again.
async fn retry_after(code: i16, attempt: &mut u32) -> bool {
    let retriable = ResponseError::try_from_code(code).is_some_and(|e| e.is_retriable());
    if retriable && *attempt < MAX_RETRIES {
        *attempt += 1;
        tokio::time::sleep(RETRY_BACKOFF).await;
        return true;
    }
    false
}

fn topic_name(name: &str) -> TopicName {
    TopicName(StrBytes::from_string(name.to_string()))
}

async fn create_topic(
    conn: &mut Connection,
    topic: &str,
    partitions: i32,
    replication: i16,
) -> Result<()> {
    let request = CreateTopicsRequest::default()
        .with_topics(vec![
            CreatableTopic::default()
                .with_name(topic_name(topic))
                .with_num_partitions(partitions)
                .with_replication_factor(replication),
        ])
        .with_timeout_ms(30_000);
    let response = conn.send(&request, CREATE_TOPICS_VERSION).await?;
    for t in &response.topics {
        check(
            t.error_code,
            &format!("Cannot create topic {topic}"),
            t.error_message.as_ref(),
        )?;
    }
    Ok(())
}

async fn list_topics(conn: &mut Connection) -> Result<Vec<String>> {
    let response = conn
        .send(
            &MetadataRequest::default().with_topics(None),
            METADATA_VERSION,
        )
        .await?;
    Ok(response
        .topics
        .iter()
        .filter_map(|t| t.name.as_ref().map(|n| n.0.to_string()))
        .collect())
}

async fn partitions_of(conn: &mut Connection, topic: &str) -> Result<Vec<i32>> {
    let request = MetadataRequest::default()
        .with_topics(Some(vec![
            MetadataRequestTopic::default().with_name(Some(topic_name(topic))),
        ]))
        .with_allow_auto_topic_creation(false);
    let mut attempt = 0;
    loop {
        let response = conn.send(&request, METADATA_VERSION).await?;
        let t = response
            .topics
            .first()
            .ok_or_else(|| anyhow!("no metadata for topic {topic}"))?;
        if t.error_code != 0 && retry_after(t.error_code, &mut attempt).await {
            continue;
        }
        check(t.error_code, &format!("Topic {topic}"), None)?;
        let mut partitions: Vec<i32> = t.partitions.iter().map(|p| p.partition_index).collect();
        partitions.sort_unstable();
        return Ok(partitions);
    }
}

async fn produce_lines(
    conn: &mut Connection,
    topic: &str,
    partition: i32,
    lines: &[String],
) -> Result<()> {
    let records: Vec<_> = lines
        .iter()
        .enumerate()
        .map(|(i, line)| batch_encode::data(i as i64, Bytes::copy_from_slice(line.as_bytes())))
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
            let what = format!("Cannot produce to {topic}-{partition}");
            return check(p.error_code, &what, p.error_message.as_ref());
        }
    }
}

/// The offset at `timestamp` (-2 earliest, -1 latest) of one partition.
async fn list_offset(
    conn: &mut Connection,
    topic: &str,
    partition: i32,
    timestamp: i64,
) -> Result<i64> {
    let request = ListOffsetsRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_topics(vec![
            ListOffsetsTopic::default()
                .with_name(topic_name(topic))
                .with_partitions(vec![
                    ListOffsetsPartition::default()
                        .with_partition_index(partition)
                        .with_timestamp(timestamp),
                ]),
        ]);
    let mut attempt = 0;
    loop {
        let response = conn.send(&request, LIST_OFFSETS_VERSION).await?;
        let p = response
            .topics
            .iter()
            .flat_map(|t| t.partitions.iter())
            .find(|p| p.partition_index == partition)
            .ok_or_else(|| anyhow!("no offset for {topic}-{partition}"))?;
        if p.error_code != 0 && retry_after(p.error_code, &mut attempt).await {
            continue;
        }
        let what = format!("Cannot list offsets of {topic}-{partition}");
        check(p.error_code, &what, None)?;
        return Ok(p.offset);
    }
}

/// One Fetch for every partition at its position (waiting up to half a second for data);
/// returns the new messages' values and advances the positions past them.
async fn fetch(
    conn: &mut Connection,
    topic: &str,
    positions: &mut [(i32, i64)],
) -> Result<Vec<Bytes>> {
    let partitions = positions
        .iter()
        .map(|&(p, offset)| {
            FetchPartition::default()
                .with_partition(p)
                .with_fetch_offset(offset)
                .with_partition_max_bytes(1 << 20)
        })
        .collect();
    let request = FetchRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_max_wait_ms(500)
        .with_min_bytes(1)
        .with_max_bytes(50 << 20)
        .with_session_epoch(-1)
        .with_topics(vec![
            FetchTopic::default()
                .with_topic(topic_name(topic))
                .with_partitions(partitions),
        ]);
    let response = conn.send(&request, FETCH_VERSION).await?;
    check(response.error_code, "Fetch", None)?;
    let mut values = Vec::new();
    for data in response.responses.iter().flat_map(|t| t.partitions.iter()) {
        // A retriable error (leadership moving, ...) just means no data this round.
        if ResponseError::try_from_code(data.error_code).is_some_and(|e| e.is_retriable()) {
            continue;
        }
        check(
            data.error_code,
            &format!("Cannot fetch {topic}-{}", data.partition_index),
            None,
        )?;
        let Some(position) = positions
            .iter_mut()
            .find(|(p, _)| *p == data.partition_index)
        else {
            continue;
        };
        let Some(mut records) = data.records.clone() else {
            continue;
        };
        let sets = RecordBatchDecoder::decode_all(&mut records).map_err(|e| {
            anyhow!(
                "corrupt record batch from {topic}-{}: {e}",
                data.partition_index
            )
        })?;
        for record in sets.into_iter().flat_map(|s| s.records) {
            if record.offset < position.1 {
                continue;
            }
            position.1 = record.offset + 1;
            if !record.control {
                values.push(record.value.unwrap_or_default());
            }
        }
    }
    Ok(values)
}

/// One connection to the broker, sending one request at a time.
struct Connection {
    stream: TcpStream,
    correlation_id: i32,
}

impl Connection {
    async fn connect(address: &str) -> Result<Connection> {
        let stream = TcpStream::connect(address)
            .await
            .with_context(|| format!("cannot connect to {address}"))?;
        stream.set_nodelay(true)?;
        Ok(Connection {
            stream,
            correlation_id: 0,
        })
    }

    /// Sends `request` at `version` and reads its response.
    async fn send<R: Request>(&mut self, request: &R, version: i16) -> Result<R::Response> {
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
