//! The cluster metadata a KRaft controller keeps: which topics exist, their ids, partitions
//! and leader epochs, dynamic configs, finalized features and producer-id blocks.
//!
//! It is kept exactly as Kafka keeps it, as records of the `__cluster_metadata-0` log in the
//! metadata log dir (`cluster_log`, `records`), so Apache Kafka can start on a Strom directory
//! and Strom on Kafka's. On a single node there is no quorum to replicate to: each change is
//! one batch, fsynced before it is visible (topic changes are rare; produce and fetch never
//! touch the log).

mod catalog;
mod cluster_log;
mod config_admin;
mod features;
mod records;
mod topic_admin;
mod topic_name;

pub use catalog::{CatalogError, TopicCatalog, TopicInfo};
pub use cluster_log::MetadataLogError;
pub use config_admin::{ConfigChanges, ConfigOp};
pub use features::{FeatureUpdate, SAFE_DOWNGRADE, SUPPORTED_FEATURES, UPGRADE};
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
