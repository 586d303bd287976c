//! Apache Kafka itself as the oracle: the differential conformance run and storage formatted by
//! one being used by the other.

mod differential;
mod kafka_metadata;
mod kafka_storage;
