//! Apache Kafka itself as the oracle: the differential conformance run, storage formatted by
//! one being used by the other, and Kafka's command-line tools against Strom.

mod differential;
mod kafka_metadata;
mod kafka_storage;
mod kafka_tools;
