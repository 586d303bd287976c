//! TODO module log
