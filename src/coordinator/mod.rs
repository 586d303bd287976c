//! Coordinators: state that spans partitions and connections, kept in Kafka's internal topics.
//! The producer-id allocator for idempotent producers and the group coordinator live here; the
//! transaction coordinator joins them.

pub mod group;
mod producer_ids;
pub mod transaction;

pub use producer_ids::{ProducerIdError, ProducerIdManager};
