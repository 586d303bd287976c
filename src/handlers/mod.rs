//! TODO module handlers
