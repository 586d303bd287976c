//! Strom: a Kafka-compatible message broker.
//!
//! Data flows one way through the modules, each importing only the ones below it (checked by
//! a test, see `ARCHITECTURE.md`):
//!
//! - [`server`]: listeners, connections, framing, dispatch, the broker's life cycle; with
//!   [`logging`] and [`service`] (launchd) at the same top layer.
//! - [`handlers`]: one file per Kafka API family: decode, call one domain entry point, encode.
//! - [`coordinator`]: producer ids and consumer groups (state machines over internal topics).
//! - [`metadata`]: the cluster metadata (topics, partitions, configs) and topic administration.
//! - [`log`]: partition logs, segments, indexes, recovery, retention, checkpoint files.
//! - [`storage`]: log dirs, `meta.properties`, formatting, the pid file.
//! - [`config`]: typed `server.properties`.
//! - [`base`]: the clock, durable flushes and batch encoding everyone shares.

#![warn(missing_docs)]

pub mod base;
pub mod config;
pub mod coordinator;
pub mod handlers;
#[cfg(test)]
mod layering;
pub mod log;
pub mod logging;
pub mod metadata;
pub mod server;
pub mod service;
pub mod storage;
