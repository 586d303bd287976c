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
mod log_admin;
mod metadata;
mod offsets;
mod partitions;
mod produce;
mod quorum;
mod state;
mod topics;
mod transactions;
mod unsupported;

pub use fetch_session::FetchSessionCache;
pub use state::BrokerState;

use crate::log::FileRecords;
use bytes::Bytes;
use futures::future::BoxFuture;
use kafka_protocol::messages::{ApiKey, RequestHeader, RequestKind, ResponseKind};
use kafka_protocol::protocol::Decodable;
use std::net::SocketAddr;
use std::sync::Arc;

/// What the connection knows about itself, for the addresses it advertises.
#[derive(Debug, Clone)]
pub struct ConnectionInfo {
    /// Name of the listener the client connected to (e.g. `PLAINTEXT`).
    pub listener: String,
    /// The client's address (recorded as a group member's host, logged on errors).
    pub peer: SocketAddr,
    /// The host and port clients should use to reach this broker on this listener.
    pub advertised_host: String,
    /// The port that goes with `advertised_host`.
    pub advertised_port: i32,
}

/// One decoded request frame.
pub struct Request {
    /// The request header (API key and version, correlation id, client id).
    pub header: RequestHeader,
    /// The API, already resolved from the header's key.
    pub api_key: ApiKey,
    /// The request body, after the header.
    pub body: Bytes,
}

/// What goes back on the wire for one request.
pub enum Reply {
    /// A response body, encoded at `version` (normally the request's version).
    Response {
        /// The response.
        body: Box<ResponseKind>,
        /// The version to encode it at.
        version: i16,
        /// The segment slices whose bytes the body's `records` fields borrow (Fetch), in the
        /// order they appear in the body: the connection sends them from the file instead of
        /// copying them into the frame.
        records: Vec<FileRecords>,
    },
    /// acks=0 produce: Kafka sends nothing back.
    Nothing,
    /// The request cannot be answered in a way the client could parse: log and disconnect,
    /// as Kafka does.
    Close(String),
}

/// A handler's result: answered now, or a future that answers later.
pub enum Handled {
    /// Answered while handling (most requests).
    Now(Reply),
    /// Answered when the future resolves (fetch long-polls, group joins), while the
    /// connection goes on reading.
    Later(BoxFuture<'static, Reply>),
}

impl Reply {
    /// A response with no file-backed records.
    pub fn response(body: ResponseKind, version: i16) -> Reply {
        Reply::Response {
            body: Box::new(body),
            version,
            records: Vec::new(),
        }
    }
}

impl Handled {
    fn respond(body: ResponseKind, version: i16) -> Handled {
        Handled::Now(Reply::response(body, version))
    }
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

/// A handler: every API's entry point has this one shape, so they fit in one table.
type HandlerFn = fn(&Arc<BrokerState>, &ConnectionInfo, &Request) -> Handled;

/// One API this broker serves: its key, the versions it handles, and its handler.
pub struct Api {
    /// The API key.
    pub key: ApiKey,
    /// Oldest version handled.
    pub min_version: i16,
    /// Newest version handled.
    pub max_version: i16,
    /// Where requests of this API go.
    handler: HandlerFn,
}

/// Every API this broker serves, with the versions it handles. ApiVersions advertises exactly
/// this table and dispatch routes by it, so a client is never told of a version no handler
/// answers (and a handler never sees a version it was not written for).
pub const APIS: &[Api] = &[
    api(ApiKey::Produce, 3, 13, |s, _, r| produce::handle(s, r)),
    api(ApiKey::Fetch, 4, 18, |s, _, r| fetch::handle(s, r)),
    api(ApiKey::ListOffsets, 1, 10, |s, _, r| {
        list_offsets::handle(s, r)
    }),
    api(ApiKey::Metadata, 0, 13, metadata::handle),
    api(ApiKey::ApiVersions, 0, 4, api_versions::handle),
    api(ApiKey::CreateTopics, 2, 7, |s, _, r| {
        topics::create_topics(s, r)
    }),
    api(ApiKey::DeleteTopics, 1, 6, |s, _, r| {
        topics::delete_topics(s, r)
    }),
    api(ApiKey::InitProducerId, 0, 5, |s, _, r| {
        transactions::init_producer_id(s, r)
    }),
    api(ApiKey::AddPartitionsToTxn, 0, 5, |s, _, r| {
        transactions::add_partitions_to_txn(s, r)
    }),
    api(ApiKey::AddOffsetsToTxn, 0, 4, |s, _, r| {
        transactions::add_offsets_to_txn(s, r)
    }),
    api(ApiKey::EndTxn, 0, 5, |s, _, r| transactions::end_txn(s, r)),
    // Kafka 4.4 speaks v1-2; v2 (KIP-1228) is not in the kafka-protocol crate yet.
    api(ApiKey::WriteTxnMarkers, 1, 1, |s, _, r| {
        transactions::write_txn_markers(s, r)
    }),
    // Kafka 4.4 speaks v0-6; v6 (KIP-1319, topic ids) is not in the kafka-protocol crate yet.
    api(ApiKey::TxnOffsetCommit, 0, 5, |s, _, r| {
        offsets::txn_offset_commit(s, r)
    }),
    api(ApiKey::DescribeProducers, 0, 0, |s, _, r| {
        transactions::describe_producers(s, r)
    }),
    api(ApiKey::DescribeTransactions, 0, 0, |s, _, r| {
        transactions::describe_transactions(s, r)
    }),
    api(ApiKey::ListTransactions, 0, 2, |s, _, r| {
        transactions::list_transactions(s, r)
    }),
    api(ApiKey::DescribeConfigs, 1, 4, |s, _, r| {
        configs::describe_configs(s, r)
    }),
    api(ApiKey::AlterConfigs, 0, 2, |s, _, r| {
        configs::alter_configs(s, r)
    }),
    api(ApiKey::IncrementalAlterConfigs, 0, 1, |s, _, r| {
        configs::incremental_alter_configs(s, r)
    }),
    api(ApiKey::DeleteRecords, 0, 2, |s, _, r| {
        log_admin::delete_records(s, r)
    }),
    api(ApiKey::OffsetForLeaderEpoch, 2, 4, |s, _, r| {
        log_admin::offset_for_leader_epoch(s, r)
    }),
    api(ApiKey::DescribeTopicPartitions, 0, 0, |s, _, r| {
        partitions::describe_topic_partitions(s, r)
    }),
    api(ApiKey::ElectLeaders, 0, 2, |s, _, r| {
        partitions::elect_leaders(s, r)
    }),
    api(ApiKey::AlterPartitionReassignments, 0, 1, |s, _, r| {
        partitions::alter_partition_reassignments(s, r)
    }),
    api(ApiKey::ListPartitionReassignments, 0, 0, |s, _, r| {
        partitions::list_partition_reassignments(s, r)
    }),
    api(ApiKey::AlterReplicaLogDirs, 1, 2, |s, _, r| {
        partitions::alter_replica_log_dirs(s, r)
    }),
    api(ApiKey::DescribeQuorum, 0, 2, |s, _, r| {
        quorum::describe_quorum(s, r)
    }),
    api(ApiKey::UpdateFeatures, 0, 1, |s, _, r| {
        quorum::update_features(s, r)
    }),
    api(ApiKey::DescribeLogDirs, 1, 4, |s, _, r| {
        cluster::describe_log_dirs(s, r)
    }),
    api(ApiKey::CreatePartitions, 0, 3, |s, _, r| {
        topics::create_partitions(s, r)
    }),
    api(ApiKey::DescribeCluster, 0, 2, cluster::describe_cluster),
    api(ApiKey::OffsetCommit, 2, 9, |s, _, r| {
        offsets::offset_commit(s, r)
    }),
    api(ApiKey::OffsetFetch, 1, 9, |s, _, r| {
        offsets::offset_fetch(s, r)
    }),
    api(
        ApiKey::FindCoordinator,
        0,
        6,
        find_coordinator::find_coordinator,
    ),
    api(ApiKey::JoinGroup, 0, 9, groups::join_group),
    api(ApiKey::Heartbeat, 0, 4, |s, _, r| groups::heartbeat(s, r)),
    api(ApiKey::LeaveGroup, 0, 5, |s, _, r| {
        groups::leave_group(s, r)
    }),
    api(ApiKey::SyncGroup, 0, 5, |s, _, r| groups::sync_group(s, r)),
    api(ApiKey::DescribeGroups, 0, 6, |s, _, r| {
        group_admin::describe_groups(s, r)
    }),
    api(ApiKey::ListGroups, 0, 5, |s, _, r| {
        group_admin::list_groups(s, r)
    }),
    api(ApiKey::DeleteGroups, 0, 2, |s, _, r| {
        group_admin::delete_groups(s, r)
    }),
    api(ApiKey::OffsetDelete, 0, 0, |s, _, r| {
        offsets::offset_delete(s, r)
    }),
    api(
        ApiKey::ConsumerGroupHeartbeat,
        0,
        1,
        consumer_group::consumer_group_heartbeat,
    ),
    api(ApiKey::ConsumerGroupDescribe, 0, 1, |s, _, r| {
        consumer_group::consumer_group_describe(s, r)
    }),
];

const fn api(key: ApiKey, min_version: i16, max_version: i16, handler: HandlerFn) -> Api {
    Api {
        key,
        min_version,
        max_version,
        handler,
    }
}

/// What a controller listener serves (Kafka's `ControllerApis`, as far as Strom has the
/// APIs): what `--bootstrap-controller` tools (kafka-metadata-quorum, kafka-features,
/// kafka-cluster, kafka-configs) send. Metadata, Produce, Fetch and the group APIs are broker
/// business.
const CONTROLLER_APIS: &[ApiKey] = &[
    ApiKey::ApiVersions,
    ApiKey::CreateTopics,
    ApiKey::DeleteTopics,
    ApiKey::CreatePartitions,
    ApiKey::DescribeConfigs,
    ApiKey::AlterConfigs,
    ApiKey::IncrementalAlterConfigs,
    ApiKey::ElectLeaders,
    ApiKey::AlterPartitionReassignments,
    ApiKey::ListPartitionReassignments,
    ApiKey::DescribeCluster,
    ApiKey::DescribeQuorum,
    ApiKey::UpdateFeatures,
];

/// Whether `api` is served on the connection's listener.
fn served_on(state: &BrokerState, conn: &ConnectionInfo, api: ApiKey) -> bool {
    !state
        .config
        .controller_listener_names
        .contains(&conn.listener)
        || CONTROLLER_APIS.contains(&api)
}

/// APIs whose handlers never touch files beyond page-cache reads: they run on the async
/// workers. Every other handler may append, fsync or rewrite a file (produce, offset commits,
/// group writes, topic creation, producer-id blocks, metadata auto-creation) and runs on the
/// blocking pool, so a slow disk never stalls other connections.
const NON_BLOCKING: &[ApiKey] = &[
    ApiKey::ApiVersions,
    ApiKey::Fetch,
    ApiKey::DescribeCluster,
    ApiKey::DescribeConfigs,
    ApiKey::OffsetFetch,
    ApiKey::DescribeGroups,
    ApiKey::ListGroups,
    ApiKey::ConsumerGroupDescribe,
];

/// True when `api`'s handler may do blocking file work (see [`NON_BLOCKING`]).
pub fn runs_blocking(api: ApiKey) -> bool {
    !NON_BLOCKING.contains(&api)
}

/// Routes one request to its handler. Versions are checked against [`APIS`] first, so
/// handlers only see versions they support. ApiVersions answers any version (KIP-511: a
/// version newer than ours gets our ranges at v0).
pub fn handle(state: &Arc<BrokerState>, conn: &ConnectionInfo, req: Request) -> Handled {
    let version = req.header.request_api_version;
    if !served_on(state, conn, req.api_key) {
        return Handled::Now(Reply::Close(format!(
            "{:?} is not served on controller listener {}",
            req.api_key, conn.listener
        )));
    }
    match APIS.iter().find(|a| a.key == req.api_key) {
        Some(api)
            if api.key == ApiKey::ApiVersions
                || (api.min_version..=api.max_version).contains(&version) =>
        {
            (api.handler)(state, conn, &req)
        }
        Some(_) => Handled::Now(Reply::Close(format!(
            "unsupported version {version} of {:?}",
            req.api_key
        ))),
        None => {
            // Known to the protocol but not implemented here: a clear error where the response
            // can carry one (decoding the request first, so a malformed one still closes).
            let valid = req.api_key.valid_versions();
            let decodes = (valid.min..=valid.max).contains(&version)
                && RequestKind::decode(req.api_key, &mut req.body.clone(), version).is_ok();
            if decodes && let Some(body) = unsupported::unsupported_response(req.api_key) {
                return Handled::respond(body, version);
            }
            Handled::Now(Reply::Close(format!(
                "unsupported API {:?} (key {})",
                req.api_key, req.api_key as i16
            )))
        }
    }
}
