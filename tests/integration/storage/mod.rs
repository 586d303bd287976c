//! Storage on disk: crash recovery, retention, log compaction (the cleaner), and the
//! `strom storage` / `strom stop` tools.

mod cleaner;
mod recovery;
mod tool;
