//! The broker's shared state as handlers see it: one value, built by the server at start-up
//! and shared by every connection. Handlers reach each domain through its entry point here;
//! nothing below the handlers imports this module.

use super::FetchSessionCache;
use crate::config::KafkaConfig;
use crate::coordinator::ProducerIdManager;
use crate::coordinator::group::GroupCoordinator;
use crate::coordinator::transaction::TransactionCoordinator;
use crate::log::LogManager;
use crate::metadata::{TopicAdmin, TopicCatalog};
use std::sync::Arc;

/// Everything a handler may touch, shared by all connections.
pub struct BrokerState {
    /// The broker's configuration, as read at start-up.
    pub config: Arc<KafkaConfig>,
    /// The cluster id from `meta.properties`, reported in Metadata and DescribeCluster.
    pub cluster_id: String,
    /// This broker's `node.id`: leader of every partition, coordinator of every group.
    pub node_id: i32,
    /// Topic metadata (names, ids, partition counts, configs), read on every request that
    /// names a topic.
    pub catalog: Arc<TopicCatalog>,
    /// Every partition log.
    pub logs: Arc<LogManager>,
    /// Creates, grows and deletes topics (CreateTopics, DeleteTopics, CreatePartitions,
    /// auto-creation, the coordinators' internal topics).
    pub topic_admin: TopicAdmin,
    /// Producer ids for idempotent and transactional producers, reserved durably in blocks.
    pub producer_ids: Arc<ProducerIdManager>,
    /// KIP-227 incremental fetch sessions.
    pub fetch_sessions: FetchSessionCache,
    /// Consumer groups and their committed offsets.
    pub groups: Arc<GroupCoordinator>,
    /// Transactional ids and their transactions.
    pub transactions: Arc<TransactionCoordinator>,
}
