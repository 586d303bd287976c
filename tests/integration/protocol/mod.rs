//! The Kafka protocol on the wire: framing, every API version, error codes, request semantics.

mod hostile_clients;
mod semantics;
mod version_sweep;
mod wire;
