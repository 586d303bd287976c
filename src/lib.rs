//! Strom: a Kafka-compatible message broker.
//!
//! Data flows one way through the modules:
//! [`config`] (typed `server.properties`) → [`server`] (listeners, connections, framing,
//! dispatch) → [`handlers`] (one file per Kafka API family) → [`coordinator`] (producer ids,
//! later groups and transactions) → [`log`] (partition logs, segments, indexes, recovery,
//! retention) over [`storage`] (log dirs, `meta.properties`, checkpoints).
//! [`metadata`] is the topic catalog a KRaft controller would keep.

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
