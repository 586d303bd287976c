//! Kafka API handlers, one file per API family, and the dispatch that routes a decoded request
//! header to them.
//!
//! A handler does all its immediate work synchronously, in the order requests arrived on the
//! connection (so two pipelined produce requests to one partition append in order), and may
//! return a future for what has to wait (a fetch long-poll). The connection writes replies in
//! request order.

mod api_versions;
mod cluster;
mod configs;
mod consumer_group;
mod fetch;
mod fetch_session;
mod find_coordinator;
mod group_admin;
mod groups;
mod list_offsets;
mod metadata;
mod offsets;
mod produce;
mod producer_id;
mod topics;
mod unsupported;

pub use api_versions::supported_api_versions;
pub use fetch_session::FetchSessionCache;

use crate::config::KafkaConfig;
use crate::coordinator::ProducerIdManager;
use crate::coordinator::group::GroupCoordinator;
use crate::log::LogManager;
use crate::metadata::TopicCatalog;
use bytes::Bytes;
use futures::future::BoxFuture;
use kafka_protocol::messages::{ApiKey, RequestHeader, RequestKind, ResponseKind};
use kafka_protocol::protocol::Decodable;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

/// Everything a handler may touch, shared by all connections.
pub struct BrokerState {
    pub config: Arc<KafkaConfig>,
    pub cluster_id: String,
    pub node_id: i32,
    pub catalog: TopicCatalog,
    pub logs: LogManager,
    pub producer_ids: ProducerIdManager,
    pub fetch_sessions: FetchSessionCache,
    /// Consumer groups and their committed offsets.
    pub groups: GroupCoordinator,
    /// Serialises topic creation/deletion so name checks and log creation are atomic.
    pub topic_admin: parking_lot::Mutex<()>,
}

/// What the connection knows about itself, for the addresses it advertises.
#[derive(Debug, Clone)]
pub struct ConnectionInfo {
    /// Name of the listener the client connected to (e.g. `PLAINTEXT`).
    pub listener: String,
    pub peer: SocketAddr,
    /// The host and port clients should use to reach this broker on this listener.
    pub advertised_host: String,
    pub advertised_port: i32,
}

/// One decoded request frame.
pub struct Request {
    pub header: RequestHeader,
    pub api_key: ApiKey,
    /// The request body, after the header.
    pub body: Bytes,
}

/// What goes back on the wire for one request.
pub enum Reply {
    /// A response body, encoded at `version` (normally the request's version).
    Response {
        body: Box<ResponseKind>,
        version: i16,
    },
    /// acks=0 produce: Kafka sends nothing back.
    Nothing,
    /// The request cannot be answered in a way the client could parse: log and disconnect,
    /// as Kafka does.
    Close(String),
}

/// A handler's result: answered now, or a future that answers later.
pub enum Handled {
    Now(Reply),
    Later(BoxFuture<'static, Reply>),
}

impl Handled {
    fn respond(body: ResponseKind, version: i16) -> Handled {
        Handled::Now(Reply::Response {
            body: Box::new(body),
            version,
        })
    }
}

/// Milliseconds since the epoch, as Kafka timestamps are.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Decodes a request body, turning a malformed body into a logged disconnect.
fn decode<T: Decodable>(req: &Request) -> Result<T, Reply> {
    let mut body = req.body.clone();
    T::decode(&mut body, req.header.request_api_version).map_err(|e| {
        Reply::Close(format!(
            "malformed {:?} v{} request: {e}",
            req.api_key, req.header.request_api_version
        ))
    })
}

macro_rules! decode_or_close {
    ($req:expr) => {
        match $crate::handlers::decode($req) {
            Ok(r) => r,
            Err(reply) => return Handled::Now(reply),
        }
    };
}
pub(crate) use decode_or_close;

/// Routes one request to its handler. Versions are checked against what we advertise first,
/// so handlers only see versions they support.
pub fn handle(state: &Arc<BrokerState>, conn: &ConnectionInfo, req: Request) -> Handled {
    let version = req.header.request_api_version;
    if req.api_key == ApiKey::ApiVersions {
        return api_versions::handle(&req);
    }
    let supported = supported_api_versions()
        .iter()
        .find(|(k, _, _)| *k == req.api_key)
        .map(|(_, min, max)| (*min, *max));
    match supported {
        Some((min, max)) if version >= min && version <= max => {}
        Some(_) => {
            return Handled::Now(Reply::Close(format!(
                "unsupported version {version} of {:?}",
                req.api_key
            )));
        }
        None => {
            // Known to the protocol but not implemented here: a clear error where the response
            // can carry one (decoding the request first, so a malformed one still closes).
            let valid = req.api_key.valid_versions();
            let decodes = (valid.min..=valid.max).contains(&version)
                && RequestKind::decode(req.api_key, &mut req.body.clone(), version).is_ok();
            if decodes && let Some(body) = unsupported::unsupported_response(req.api_key) {
                return Handled::respond(body, version);
            }
            return Handled::Now(Reply::Close(format!(
                "unsupported API {:?} (key {})",
                req.api_key, req.api_key as i16
            )));
        }
    }
    match req.api_key {
        ApiKey::Metadata => metadata::handle(state, conn, &req),
        ApiKey::Produce => produce::handle(state, &req),
        ApiKey::Fetch => fetch::handle(state, &req),
        ApiKey::ListOffsets => list_offsets::handle(state, &req),
        ApiKey::CreateTopics => topics::create_topics(state, &req),
        ApiKey::DeleteTopics => topics::delete_topics(state, &req),
        ApiKey::CreatePartitions => topics::create_partitions(state, &req),
        ApiKey::DescribeConfigs => configs::describe_configs(state, &req),
        ApiKey::DescribeCluster => cluster::describe_cluster(state, conn, &req),
        ApiKey::DescribeLogDirs => cluster::describe_log_dirs(state, &req),
        ApiKey::InitProducerId => producer_id::init_producer_id(state, &req),
        ApiKey::FindCoordinator => find_coordinator::find_coordinator(state, conn, &req),
        ApiKey::JoinGroup => groups::join_group(state, conn, &req),
        ApiKey::SyncGroup => groups::sync_group(state, &req),
        ApiKey::Heartbeat => groups::heartbeat(state, &req),
        ApiKey::LeaveGroup => groups::leave_group(state, &req),
        ApiKey::OffsetCommit => offsets::offset_commit(state, &req),
        ApiKey::OffsetFetch => offsets::offset_fetch(state, &req),
        ApiKey::OffsetDelete => offsets::offset_delete(state, &req),
        ApiKey::ListGroups => group_admin::list_groups(state, &req),
        ApiKey::DescribeGroups => group_admin::describe_groups(state, &req),
        ApiKey::DeleteGroups => group_admin::delete_groups(state, &req),
        ApiKey::ConsumerGroupHeartbeat => {
            consumer_group::consumer_group_heartbeat(state, conn, &req)
        }
        ApiKey::ConsumerGroupDescribe => consumer_group::consumer_group_describe(state, &req),
        other => Handled::Now(Reply::Close(format!("no handler for {other:?}"))),
    }
}
