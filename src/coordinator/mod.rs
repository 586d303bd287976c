//! Coordinators: state that spans partitions and connections, kept in Kafka's internal topics.
//! The producer-id allocator for idempotent producers and the group coordinator live here; the
//! transaction coordinator joins them.

pub mod group;
mod producer_ids;

pub use producer_ids::{ProducerIdError, ProducerIdManager};

use crate::config::KafkaConfig;
use crate::metadata::{TRANSACTION_STATE_TOPIC, TopicAdmin};
use kafka_protocol::ResponseError;
use std::collections::BTreeMap;

/// `__transaction_state`'s segment size (`transaction.state.log.segment.bytes`' default).
const TRANSACTION_STATE_SEGMENT_BYTES: &str = "104857600";

/// FindCoordinator for a transactional id: makes sure `__transaction_state` exists, created on
/// first use with `transaction.state.log.*` as Kafka does. COORDINATOR_NOT_AVAILABLE when it
/// cannot be (a replication factor above 1 on a single node).
pub fn ensure_transaction_state_topic(
    admin: &TopicAdmin,
    config: &KafkaConfig,
) -> Result<(), ResponseError> {
    admin.internal_topic(
        TRANSACTION_STATE_TOPIC,
        config.transaction_state_log_num_partitions,
        config.transaction_state_log_replication_factor,
        BTreeMap::from([
            ("cleanup.policy".to_string(), "compact".to_string()),
            ("compression.type".to_string(), "uncompressed".to_string()),
            (
                "min.insync.replicas".to_string(),
                config.transaction_state_log_min_isr.to_string(),
            ),
            (
                "segment.bytes".to_string(),
                TRANSACTION_STATE_SEGMENT_BYTES.to_string(),
            ),
            (
                "unclean.leader.election.enable".to_string(),
                "false".to_string(),
            ),
        ]),
    )?;
    Ok(())
}
