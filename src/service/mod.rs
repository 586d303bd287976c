//! TODO module service
