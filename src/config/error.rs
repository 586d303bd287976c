//! Configuration errors, worded as Kafka words them, followed by where the value came from so
//! the user knows which line to fix.

use super::properties::{Properties, PropertiesError};
use std::fmt;
use std::path::PathBuf;

/// Where a configuration value was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// Nowhere in particular (a default, or a topic config from a request).
    Unknown,
    /// A line of a properties file.
    Line {
        /// The file's path as given.
        file: String,
        /// The 1-based line number.
        line: usize,
    },
    /// A `--override key=value` argument.
    Override,
}

impl Location {
    /// Where `key` was set in `props` read from `origin`: its line, or `--override` for keys
    /// added after parsing (the command-line overrides).
    pub fn of(props: &Properties, origin: &str, key: &str) -> Location {
        match props.line_of(key) {
            Some(line) => Location::Line {
                file: origin.to_string(),
                line,
            },
            None if props.get(key).is_some() => Location::Override,
            None => Location::Unknown,
        }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::Unknown => Ok(()),
            Location::Line { file, line } => write!(f, " ({file} line {line})"),
            Location::Override => write!(f, " (--override)"),
        }
    }
}

/// Why a configuration could not be used. Handlers answer `INVALID_CONFIG` with the message;
/// the CLI prints it and exits with status 2.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The properties file could not be read.
    #[error("Unable to read configuration file {}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// What the operating system said.
        #[source]
        source: std::io::Error,
    },
    /// The properties file is not valid `.properties` text.
    #[error("{file}: {source}")]
    Syntax {
        /// The file.
        file: String,
        /// The syntax error and its line.
        #[source]
        source: PropertiesError,
    },
    /// A value of the wrong type or outside its validator (Kafka's `ConfigException`).
    #[error("Invalid value {value} for configuration {name}: {reason}{at}")]
    InvalidValue {
        /// The config's name.
        name: &'static str,
        /// The value as written.
        value: String,
        /// What was expected, in Kafka's words.
        reason: String,
        /// Where the value was written.
        at: Location,
    },
    /// A required config without a value.
    #[error("Missing required configuration \"{name}\" which has no default value.{at}")]
    Missing {
        /// The config's name.
        name: &'static str,
        /// Where it should have been.
        at: Location,
    },
    /// Values that are each valid but do not fit together (Kafka's `validateValues`).
    #[error("{message}{at}")]
    Inconsistent {
        /// Kafka's message for the conflict.
        message: String,
        /// Where one of the values was written.
        at: Location,
    },
    /// A topic config Kafka does not have.
    #[error("Unknown topic config name: {name}")]
    UnknownTopicConfig {
        /// The name given.
        name: String,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_put_kafka_words_first_then_the_location() {
        let e = ConfigError::InvalidValue {
            name: "log.retention.hours",
            value: "abc".into(),
            reason: "Not a number of type INT".into(),
            at: Location::Line {
                file: "server.properties".into(),
                line: 12,
            },
        };
        assert_eq!(
            e.to_string(),
            "Invalid value abc for configuration log.retention.hours: Not a number of type INT \
             (server.properties line 12)"
        );
        let e = ConfigError::Missing {
            name: "node.id",
            at: Location::Unknown,
        };
        assert_eq!(
            e.to_string(),
            "Missing required configuration \"node.id\" which has no default value."
        );
    }

    #[test]
    fn location_tells_file_lines_from_overrides() {
        let mut props = Properties::parse("# c\na=1\n").expect("parses");
        props.set("b", "2");
        assert_eq!(
            Location::of(&props, "s.properties", "a").to_string(),
            " (s.properties line 2)"
        );
        assert_eq!(
            Location::of(&props, "s.properties", "b"),
            Location::Override
        );
        assert_eq!(Location::of(&props, "s.properties", "c"), Location::Unknown);
    }
}
