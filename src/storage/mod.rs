//! TODO module storage

pub mod checkpoint;
