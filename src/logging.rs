//! Log output: human-readable lines on stderr everywhere (what `brew services` and launchd
//! capture into the log file), and on macOS also the unified log, so the broker's messages
//! show up in Console.app and `log stream --predicate 'subsystem == "io.strom.broker"'`.

use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// The unified-log subsystem Strom logs under.
pub const OSLOG_SUBSYSTEM: &str = "io.strom.broker";

/// Installs tracing: human-readable stderr always; on macOS also a tracing-oslog layer (subsystem
/// io.strom.broker, category per module). Level from RUST_LOG, else `--log-level` (log4j names
/// TRACE/DEBUG/INFO/WARN/ERROR accepted), default INFO.
///
/// Calling it twice keeps the first installation (tests and embedders may init early).
pub fn init(level: Option<&str>) {
    let (filter, problem) = filter(std::env::var("RUST_LOG").ok().as_deref(), level);
    let stderr = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    let registry = tracing_subscriber::registry().with(filter).with(stderr);
    #[cfg(target_os = "macos")]
    let registry = registry.with(oslog::layers());
    if registry.try_init().is_ok()
        && let Some(problem) = problem
    {
        tracing::warn!("{problem}");
    }
}

/// The filter from `RUST_LOG` (full `EnvFilter` syntax) or else a log4j level name, with the
/// reason it fell back to INFO if neither could be read.
fn filter(rust_log: Option<&str>, level: Option<&str>) -> (EnvFilter, Option<String>) {
    if let Some(spec) = rust_log.filter(|s| !s.trim().is_empty()) {
        match EnvFilter::try_new(spec) {
            Ok(filter) => return (filter, None),
            Err(e) => {
                return (
                    EnvFilter::new("info"),
                    Some(format!("Ignoring RUST_LOG={spec}: {e}")),
                );
            }
        }
    }
    match level.map(log4j_level) {
        None => (EnvFilter::new("info"), None),
        Some(Some(directive)) => (EnvFilter::new(directive), None),
        Some(None) => (
            EnvFilter::new("info"),
            Some(format!(
                "Unknown --log-level {}; expected TRACE, DEBUG, INFO, WARN, ERROR, FATAL, ALL or OFF",
                level.unwrap_or_default()
            )),
        ),
    }
}

/// Maps a log4j level name (any case) to a tracing directive. log4j's FATAL has no tracing
/// counterpart and maps to error; ALL to trace.
fn log4j_level(name: &str) -> Option<&'static str> {
    Some(match name.trim().to_ascii_uppercase().as_str() {
        "ALL" | "TRACE" => "trace",
        "DEBUG" => "debug",
        "INFO" => "info",
        "WARN" | "WARNING" => "warn",
        "ERROR" | "FATAL" => "error",
        "OFF" => "off",
        _ => return None,
    })
}

/// The unified-log category of an event target: the crate module it comes from
/// (`strom::storage::format` → `storage`), `general` for everything else.
#[cfg_attr(not(target_os = "macos"), allow(dead_code))]
fn category(target: &str) -> &str {
    match target.strip_prefix("strom::") {
        Some(rest) => rest.split("::").next().unwrap_or("general"),
        None => "general",
    }
}

#[cfg(target_os = "macos")]
mod oslog {
    use super::{OSLOG_SUBSYSTEM, category};
    use tracing_oslog::OsLogger;
    use tracing_subscriber::Layer;
    use tracing_subscriber::filter::filter_fn;
    use tracing_subscriber::registry::LookupSpan;

    /// Top-level modules that get a category of their own (see `lib.rs`); the rest share
    /// `general`.
    const CATEGORIES: [&str; 10] = [
        "server",
        "handlers",
        "coordinator",
        "log",
        "storage",
        "metadata",
        "config",
        "service",
        "cli",
        "general",
    ];

    /// One `OsLogger` per category, each seeing only its module's events.
    pub fn layers<S>() -> Vec<Box<dyn Layer<S> + Send + Sync>>
    where
        S: tracing::Subscriber + for<'a> LookupSpan<'a>,
    {
        CATEGORIES
            .iter()
            .map(|&name| {
                let only_this = filter_fn(move |meta| {
                    let c = category(meta.target());
                    c == name || (name == "general" && !CATEGORIES.contains(&c))
                });
                OsLogger::new(OSLOG_SUBSYSTEM, name)
                    .with_filter(only_this)
                    .boxed()
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log4j_names_map_to_tracing_levels() {
        assert_eq!(log4j_level("WARN"), Some("warn"));
        assert_eq!(log4j_level("debug"), Some("debug"));
        assert_eq!(log4j_level("FATAL"), Some("error"));
        assert_eq!(log4j_level("OFF"), Some("off"));
        assert_eq!(log4j_level("LOUD"), None);
    }

    #[test]
    fn rust_log_wins_over_log_level_and_bad_input_falls_back_to_info() {
        let (f, problem) = filter(Some("strom=debug"), Some("ERROR"));
        assert_eq!(f.to_string(), "strom=debug");
        assert!(problem.is_none());
        let (f, problem) = filter(None, Some("WARN"));
        assert_eq!(f.to_string(), "warn");
        assert!(problem.is_none());
        let (f, problem) = filter(None, Some("LOUD"));
        assert_eq!(f.to_string(), "info");
        assert!(problem.expect("explained").contains("LOUD"));
        let (f, problem) = filter(Some("=[bad"), None);
        assert_eq!(f.to_string(), "info");
        assert!(problem.expect("explained").starts_with("Ignoring RUST_LOG"));
        assert_eq!(filter(None, None).0.to_string(), "info");
    }

    #[test]
    fn categories_follow_modules() {
        assert_eq!(category("strom::storage::format"), "storage");
        assert_eq!(category("strom::server"), "server");
        assert_eq!(category("tokio::runtime"), "general");
    }
}
