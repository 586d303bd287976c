//! The command line as a user meets it: `server.properties` handling, and the quickstart tools
//! (`strom topics/produce/consume`, Kafka's script names) beside Apache Kafka's own.

mod config;
mod quickstart_tools;
