//! TODO module metadata
