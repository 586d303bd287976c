//! Storage on disk: crash recovery, retention, and the `strom storage` / `strom stop` tools.

mod recovery;
mod tool;
