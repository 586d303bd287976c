//! TEMPORARY stub (branch pkg owns this).
pub mod checkpoint;
pub mod format;
pub mod pid_file;
