//! The bottom layer: basics every other module shares and that import nothing of Strom's.
//!
//! - [`clock`]: the one wall clock (`now_ms`) and calendar fields for human-readable dates.
//! - [`fsync`]: durable flushes (F_FULLFSYNC on macOS), used by every layer that writes files
//!   that must survive a power cut (logs, checkpoints, `meta.properties`, the catalog, the
//!   producer-id block).
//! - [`fs`]: the file operations the log must survive failing (writes, fsyncs, renames,
//!   truncations), with the fault points its fault-injection tests use.
//! - [`batch_encode`]: building the record batches the broker writes itself (coordinator
//!   records, bootstrap metadata, the CLI producer), through `kafka-protocol`'s encoder.

pub mod batch_encode;
pub mod clock;
pub mod fs;
pub mod fsync;
