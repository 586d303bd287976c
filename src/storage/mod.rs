//! TODO module storage
