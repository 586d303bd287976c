//! Storage directories as Kafka lays them out: `meta.properties` in every log dir, the
//! bootstrap metadata next to it, first-run formatting, the `.lock` that keeps a second broker
//! out, and the broker's pid file.
//!
//! Everything written here is byte-compatible with Kafka 4.1's `kafka-storage format`, so a
//! directory can move between Strom and Apache Kafka in either direction.

pub mod bootstrap;
pub mod ensemble;
pub mod format;
pub mod kafka_uuid;
pub mod lock;
pub mod meta_properties;
pub mod pid_file;

use std::path::PathBuf;

/// Why storage could not be formatted, read or used. The messages of the variants that mirror
/// a Kafka check are worded exactly as Kafka words them, so searches for Kafka's message find
/// the same advice.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// An I/O operation on `path` failed.
    #[error("I/O error on {path}: {source}")]
    Io {
        /// The file or directory the operation was on.
        path: PathBuf,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// A `meta.properties` file exists but cannot be understood.
    #[error("Error loading {path}: {reason}")]
    InvalidMetaProperties {
        /// The `meta.properties` file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// `format` found a formatted directory and `--ignore-formatted` was not given.
    #[error(
        "Log directory {0} is already formatted. Use --ignore-formatted to ignore this directory and format the others."
    )]
    AlreadyFormatted(PathBuf),
    /// Two directories (or a directory and the cluster id being formatted with) disagree.
    #[error("Invalid cluster.id in: {path}. Expected {expected}, but read {actual}")]
    ClusterIdMismatch {
        /// The `meta.properties` that disagrees.
        path: PathBuf,
        /// The cluster id seen first (or asked for).
        expected: String,
        /// The cluster id this file holds.
        actual: String,
    },
    /// `cluster.id` in `server.properties` names another cluster than the formatted storage.
    #[error(
        "Invalid cluster.id in: {path}. Expected {configured} (cluster.id in the configuration), \
         but read {stored}. Remove cluster.id from the configuration or point log.dirs at this cluster's storage."
    )]
    ConfiguredClusterIdMismatch {
        /// The `meta.properties` that disagrees with the configuration.
        path: PathBuf,
        /// `cluster.id` from the configuration.
        configured: String,
        /// `cluster.id` stored on disk.
        stored: String,
    },
    /// A directory was formatted for another node.
    #[error(
        "Stored node id {stored} doesn't match previous node id {expected} in {path}. If you moved your data, \
         make sure your configured node id matches. If you intend to create a new node, you should remove all \
         data in your data directories."
    )]
    NodeIdMismatch {
        /// The `meta.properties` that disagrees.
        path: PathBuf,
        /// node.id stored in that file.
        stored: i32,
        /// node.id configured (or seen first).
        expected: i32,
    },
    /// Two directories claim the same `directory.id`, as when one was copied from another.
    #[error("Duplicate directory ID {id} found. It was the ID of {first}, but also of {second}")]
    DuplicateDirectoryId {
        /// The duplicated id in Kafka's text form.
        id: String,
        /// The first directory holding it.
        first: PathBuf,
        /// The second directory holding it.
        second: PathBuf,
    },
    /// Nothing is left to format after unreadable directories were skipped.
    #[error("No available log directories to format.")]
    NoAvailableLogDirs,
    /// The command line or configuration asks for something Kafka's storage tool refuses.
    #[error("{0}")]
    Invalid(String),
    /// Another process (a Strom or Kafka broker) holds a log dir's `.lock`.
    #[error(
        "Failed to acquire lock on file .lock in {}. A Kafka instance in another process or thread is using this directory.",
        .0.display()
    )]
    DirLocked(PathBuf),
    /// Another broker process holds the pid file.
    #[error("Another broker (pid {pid}) is running with {path}; stop it first")]
    AlreadyRunning {
        /// Its process id.
        pid: i32,
        /// The pid file.
        path: PathBuf,
    },
}

impl StorageError {
    /// Wraps an I/O error with the path it happened on (the OS error alone rarely says which).
    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> StorageError {
        let path = path.into();
        move |source| StorageError::Io { path, source }
    }
}
