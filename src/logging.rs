//! Log output: human-readable lines on stderr everywhere (what `brew services` and launchd
//! capture into the log file), and on macOS also the unified log, so the broker's messages
//! show up in Console.app and `log stream --predicate 'subsystem == "io.strom.broker"'`.

use crate::base::clock::UtcTime;
use std::fmt;
use std::time::SystemTime;
use tracing::{Event, Subscriber};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::registry::LookupSpan;
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
        .event_format(KafkaFormat)
        .with_writer(std::io::stderr);
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

/// Log lines in the layout of Kafka's log4j pattern `[%d] %p %m (%c)%n`, e.g.
/// `[2026-11-25 16:38:01,193] INFO [KafkaServer id=1] started (strom::server)`, so tools and
/// habits built around Kafka's server.log read Strom's too. Times are UTC.
pub struct KafkaFormat;

impl<S, N> FormatEvent<S, N> for KafkaFormat
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let t = UtcTime::from(SystemTime::now());
        write!(
            writer,
            "[{}-{:02}-{:02} {:02}:{:02}:{:02},{:03}] {} ",
            t.year,
            t.month,
            t.day,
            t.hour,
            t.minute,
            t.second,
            t.millis,
            event.metadata().level()
        )?;
        ctx.format_fields(writer.by_ref(), event)?;
        writeln!(writer, " ({})", event.metadata().target())
    }
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
    fn lines_look_like_kafkas_server_log() {
        use std::sync::{Arc, Mutex};
        let buf = Arc::new(Mutex::new(Vec::new()));
        let sink = buf.clone();
        let subscriber = tracing_subscriber::fmt()
            .event_format(KafkaFormat)
            .with_writer(move || SinkWriter(sink.clone()))
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            tracing::warn!(target: "strom::storage::format", "Formatting metadata directory /d");
        });
        let line = String::from_utf8(buf.lock().expect("unpoisoned").clone()).expect("UTF-8");
        // [yyyy-mm-dd hh:mm:ss,mmm] LEVEL message (logger)
        let (stamp, rest) = line.split_at(25);
        assert!(
            stamp.starts_with('[') && stamp.ends_with(']') && &stamp[20..21] == ",",
            "{line}"
        );
        assert_eq!(
            rest,
            " WARN Formatting metadata directory /d (strom::storage::format)\n"
        );
    }

    struct SinkWriter(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

    impl std::io::Write for SinkWriter {
        fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
            self.0.lock().expect("unpoisoned").extend_from_slice(data);
            Ok(data.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn categories_follow_modules() {
        assert_eq!(category("strom::storage::format"), "storage");
        assert_eq!(category("strom::server"), "server");
        assert_eq!(category("tokio::runtime"), "general");
    }
}
