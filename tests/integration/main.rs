//! Strom's integration tests: one test crate (so librdkafka and the test harness are linked once),
//! one module per area. Every test starts the real `strom` binary (`crate::common::TestBroker`) and talks
//! to it with real clients or raw protocol bytes.
//!
//! Tests that drive a tool from outside Rust (Java and Maven for Apache Kafka, Python clients,
//! xmllint, Ruby...) ask `common::require` first: when the tool is missing they print
//! `SKIP <test>: <tool> not found (<how to get it>)` and pass, so `cargo test` passes on a bare
//! Rust machine. `scripts/test.sh` installs every tool and sets `STROM_REQUIRE_ALL=1`, which turns
//! a missing tool into a failure.
//!
//! `cargo test --test integration groups::` runs one area; a test's name selects just that test.

#[path = "../common/mod.rs"]
mod common;

mod admin;
mod cli;
mod faults;
mod groups;
mod interop;
mod packaging;
mod produce_fetch;
mod protocol;
mod storage;
mod transactions;
