//! TODO module server
