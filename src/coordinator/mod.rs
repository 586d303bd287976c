//! Coordinators: state that spans partitions and connections. Today the producer-id
//! allocator for idempotent producers; consumer groups and transactions join here.

pub mod group;
mod producer_ids;

pub use producer_ids::{ProducerIdError, ProducerIdManager};
