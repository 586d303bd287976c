//! The cluster metadata a KRaft controller would keep: which topics exist, their ids,
//! partition counts and configuration overrides.
//!
//! On a single node there is no quorum to replicate to, so the catalog is a small JSON file in
//! the metadata log dir, rewritten atomically on every change (topic changes are rare; produce
//! and fetch never touch it).

mod catalog;
mod topic_admin;
mod topic_name;

pub use catalog::{CatalogError, TopicCatalog, TopicInfo};
pub use topic_admin::{NewTopic, TopicAdmin, TopicDefaults, TopicError};
pub use topic_name::{InvalidTopicName, unify_collision_chars, validate_topic_name};

/// Kafka's internal topic for committed offsets and group metadata.
pub const CONSUMER_OFFSETS_TOPIC: &str = "__consumer_offsets";
/// Kafka's internal topic for transaction state.
pub const TRANSACTION_STATE_TOPIC: &str = "__transaction_state";

/// Whether a topic is one of Kafka's internal topics (flagged `is_internal` in Metadata).
pub fn is_internal_topic(name: &str) -> bool {
    name == CONSUMER_OFFSETS_TOPIC || name == TRANSACTION_STATE_TOPIC
}
