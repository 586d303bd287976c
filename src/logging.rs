//! Log output.
//!
//! Three places, each with its own job:
//! - **`server.log`** (when a log directory is given: `--log-dir` or Kafka's `LOG_DIR`): every
//!   line at the configured level, in Kafka's log4j layout, rolled by size like log4j's
//!   RollingFileAppender (`server.log`, `server.log.1` … `server.log.N`), so it is bounded.
//! - **standard error**: the same lines when there is no log file or stderr is a terminal;
//!   otherwise only ERROR lines. Under launchd stderr is a file launchd opened (`StandardErrorPath`)
//!   that nobody rotates; with the full log going to `server.log`, that file only collects the
//!   reasons a start failed (and panics), once each, and it is emptied at start-up when it has
//!   grown past [`STDERR_FILE_LIMIT`].
//! - **the unified log** (macOS): every event, whatever the level filter says, so
//!   `log config --subsystem io.strom.broker --mode level:debug` can show debug lines without a
//!   restart: the unified log decides what it keeps. Subsystem `io.strom.broker`, one category per
//!   top-level module.

use crate::base::clock::UtcTime;
use std::fmt::{self, Write as _};
use std::fs::{File, OpenOptions};
use std::io::{self, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::SystemTime;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::registry::{LookupSpan, Registry};
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

/// The unified-log subsystem Strom logs under.
pub const OSLOG_SUBSYSTEM: &str = "io.strom.broker";

/// Name of the log file in the log directory, as Kafka's.
pub const SERVER_LOG: &str = "server.log";

/// Size at which `server.log` is rolled. At INFO a broker writes a few lines per topic, group
/// rebalance and restart, so 10 MiB is weeks of history.
pub const DEFAULT_FILE_MAX_BYTES: u64 = 10 * 1024 * 1024;

/// Rolled files kept (`server.log.1` … `server.log.10`): with the defaults at most 110 MiB.
pub const DEFAULT_FILE_BACKUPS: u32 = 10;

/// A standard-error *file* (launchd's `StandardErrorPath`) larger than this at start-up is
/// emptied, when the full log goes to `server.log` instead.
pub const STDERR_FILE_LIMIT: u64 = 10 * 1024 * 1024;

/// Where and how much to log.
#[derive(Debug, Clone, Default)]
pub struct LogOptions {
    /// `--log-level` (log4j names); `RUST_LOG` takes precedence.
    pub level: Option<String>,
    /// Directory for `server.log`; none: standard error only.
    pub log_dir: Option<PathBuf>,
    /// Roll `server.log` when it passes this size (0: the default).
    pub file_max_bytes: u64,
    /// Rolled files kept (0: the default).
    pub file_backups: u32,
}

/// Installs tracing as described in the module documentation. Level from `RUST_LOG`, else
/// `--log-level` (TRACE/DEBUG/INFO/WARN/ERROR), default INFO.
///
/// Calling it twice keeps the first installation (tests and embedders may init early).
pub fn init(options: &LogOptions) {
    let mut problems = Vec::new();
    let (spec, problem) = filter_spec(
        std::env::var("RUST_LOG").ok().as_deref(),
        options.level.as_deref(),
    );
    problems.extend(problem);
    let file = match &options.log_dir {
        None => None,
        Some(dir) => {
            let max = non_zero(options.file_max_bytes, DEFAULT_FILE_MAX_BYTES);
            let backups = if options.file_backups == 0 {
                DEFAULT_FILE_BACKUPS
            } else {
                options.file_backups
            };
            match RollingFile::open(&dir.join(SERVER_LOG), max, backups) {
                Ok(file) => Some(file),
                Err(e) => {
                    problems.push(format!(
                        "Cannot write {}: {e}; logging to standard error only",
                        dir.join(SERVER_LOG).display()
                    ));
                    None
                }
            }
        }
    };
    let errors_only_on_stderr = file.is_some() && !io::stderr().is_terminal();
    let mut emptied = None;
    if errors_only_on_stderr {
        emptied = empty_stderr_file_over(STDERR_FILE_LIMIT);
    }
    #[cfg_attr(not(target_os = "macos"), allow(unused_mut))]
    let mut layers = text_layers(&spec, file, errors_only_on_stderr);
    #[cfg(target_os = "macos")]
    layers.push(UnifiedLogLayer::new(oslog::OsLogWriter::new()).boxed());
    if tracing_subscriber::registry()
        .with(layers)
        .try_init()
        .is_ok()
    {
        for problem in problems {
            tracing::warn!("{problem}");
        }
        if let Some(size) = emptied {
            tracing::info!(
                "Emptied the standard-error file ({size} bytes, over {STDERR_FILE_LIMIT}); the full log is in {}",
                options
                    .log_dir
                    .as_deref()
                    .unwrap_or(Path::new("."))
                    .join(SERVER_LOG)
                    .display()
            );
        }
    }
}

fn non_zero(value: u64, default: u64) -> u64 {
    if value == 0 { default } else { value }
}

/// A layer of the registry, boxed so the set can vary by platform and options.
type BoxedLayer = Box<dyn Layer<Registry> + Send + Sync>;

/// The human-readable outputs: `server.log` (if open) at the configured level, and stderr at
/// that level or, with `errors_only_on_stderr`, ERROR only. Each has its own filter: there is no
/// global filter, so what these drop still reaches the unified log.
fn text_layers(
    spec: &str,
    file: Option<RollingFile>,
    errors_only_on_stderr: bool,
) -> Vec<BoxedLayer> {
    let stderr = tracing_subscriber::fmt::layer()
        .event_format(KafkaFormat)
        .with_writer(io::stderr);
    let mut layers = vec![if errors_only_on_stderr {
        stderr.with_filter(LevelFilter::ERROR).boxed()
    } else {
        stderr.with_filter(EnvFilter::new(spec)).boxed()
    }];
    if let Some(file) = file {
        layers.push(
            tracing_subscriber::fmt::layer()
                .event_format(KafkaFormat)
                .with_writer(Mutex::new(file))
                .with_filter(EnvFilter::new(spec))
                .boxed(),
        );
    }
    layers
}

/// The filter directive from `RUST_LOG` (full `EnvFilter` syntax) or else a log4j level name,
/// with the reason it fell back to INFO if neither could be read.
fn filter_spec(rust_log: Option<&str>, level: Option<&str>) -> (String, Option<String>) {
    if let Some(spec) = rust_log.filter(|s| !s.trim().is_empty()) {
        return match EnvFilter::try_new(spec) {
            Ok(_) => (spec.to_string(), None),
            Err(e) => (
                "info".into(),
                Some(format!("Ignoring RUST_LOG={spec}: {e}")),
            ),
        };
    }
    match level.map(log4j_level) {
        None => ("info".into(), None),
        Some(Some(directive)) => (directive.into(), None),
        Some(None) => (
            "info".into(),
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

/// A size-rolled log file with log4j RollingFileAppender's names: `server.log` is written;
/// when a write would take it past the limit it becomes `server.log.1`, `.1` becomes `.2` and so
/// on, and the oldest beyond `backups` is deleted.
///
/// Written here rather than taken from a crate: the crates looked at (`file-rotate`) panic when
/// the directory cannot be created, at start and at every roll, and a broker must not die
/// because its log directory's permissions changed. Failures here lose log lines, never more.
pub struct RollingFile {
    /// The live file's path.
    path: PathBuf,
    /// Roll before a write that would take the file past this many bytes.
    max_bytes: u64,
    /// Rolled files kept.
    backups: u32,
    /// The open live file; `None` after a failed reopen (retried at the next write).
    file: Option<File>,
    /// Bytes in the live file.
    size: u64,
}

impl RollingFile {
    /// Opens (appending) or creates `path`, creating its directory.
    pub fn open(path: &Path, max_bytes: u64, backups: u32) -> io::Result<RollingFile> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let file = Self::open_live(path)?;
        let size = file.metadata()?.len();
        Ok(RollingFile {
            path: path.to_path_buf(),
            max_bytes: max_bytes.max(1),
            backups,
            file: Some(file),
            size,
        })
    }

    fn open_live(path: &Path) -> io::Result<File> {
        OpenOptions::new().create(true).append(true).open(path)
    }

    fn backup(&self, n: u32) -> PathBuf {
        let mut name = self.path.as_os_str().to_owned();
        name.push(format!(".{n}"));
        PathBuf::from(name)
    }

    /// `server.log` → `server.log.1` → … → deleted past `backups`, then a fresh `server.log`.
    fn roll(&mut self) {
        self.file = None;
        if self.backups == 0 {
            let _ = std::fs::remove_file(&self.path);
        } else {
            let _ = std::fs::remove_file(self.backup(self.backups));
            for n in (1..self.backups).rev() {
                let _ = std::fs::rename(self.backup(n), self.backup(n + 1));
            }
            let _ = std::fs::rename(&self.path, self.backup(1));
        }
        self.size = 0;
    }
}

impl Write for RollingFile {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        if self.size > 0 && self.size + data.len() as u64 > self.max_bytes {
            self.roll();
        }
        if self.file.is_none() {
            // Reopened after a roll, or after the directory came back.
            if let Some(dir) = self.path.parent() {
                std::fs::create_dir_all(dir)?;
            }
            let file = Self::open_live(&self.path)?;
            self.size = file.metadata().map(|m| m.len()).unwrap_or(0);
            self.file = Some(file);
        }
        let Some(file) = self.file.as_mut() else {
            return Ok(data.len());
        };
        file.write_all(data)?;
        self.size += data.len() as u64;
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        match self.file.as_mut() {
            Some(f) => f.flush(),
            None => Ok(()),
        }
    }
}

/// Empties the process's standard error when it is a regular file opened for appending (how
/// launchd and `brew services` open `StandardErrorPath`) and larger than `limit`; returns the
/// size it had. Appending writers (launchd's and ours share the open file) go on at the new
/// end, so nothing is left sparse. Anything else (a terminal, a pipe, a file opened without
/// `O_APPEND`) is left alone.
#[cfg(unix)]
fn empty_stderr_file_over(limit: u64) -> Option<u64> {
    use std::os::fd::AsFd;
    let fd = io::stderr().as_fd().try_clone_to_owned().ok()?;
    let file = File::from(fd);
    let meta = file.metadata().ok()?;
    if !meta.is_file() || meta.len() <= limit {
        return None;
    }
    // SAFETY: fcntl(F_GETFL) only reads the flags of a descriptor we own (a duplicate of 2).
    let flags = unsafe { libc::fcntl(std::os::fd::AsRawFd::as_raw_fd(&file), libc::F_GETFL) };
    if flags < 0 || flags & libc::O_APPEND == 0 {
        return None;
    }
    file.set_len(0).ok()?;
    Some(meta.len())
}

#[cfg(not(unix))]
fn empty_stderr_file_over(_limit: u64) -> Option<u64> {
    None
}

/// The unified log's message types (`os_log_type_t`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OsLogType {
    /// `OS_LOG_TYPE_DEBUG`: kept only while debug logging is enabled for the subsystem.
    Debug,
    /// `OS_LOG_TYPE_INFO`: kept in memory, persisted only when configured.
    Info,
    /// `OS_LOG_TYPE_DEFAULT`: persisted.
    Default,
    /// `OS_LOG_TYPE_ERROR`: persisted, highlighted in Console.app.
    Error,
    /// `OS_LOG_TYPE_FAULT`: system-level faults; not used for Strom's own levels.
    Fault,
}

/// Strom level → unified-log type, as Apple's own `Logger` maps its levels: TRACE → debug,
/// DEBUG → info, INFO → default (persisted, as Kafka's INFO lines are what users look back
/// for), WARN and ERROR → error.
pub fn os_log_type(level: &Level) -> OsLogType {
    match *level {
        Level::TRACE => OsLogType::Debug,
        Level::DEBUG => OsLogType::Info,
        Level::INFO => OsLogType::Default,
        _ => OsLogType::Error,
    }
}

/// Where unified-log messages go: os_log on macOS, a recorder in tests.
pub trait UnifiedLogWriter: Send + Sync + 'static {
    /// Writes one finished message under `category` (see [`category`]).
    fn write(&self, category: &'static str, kind: OsLogType, message: &str);
}

/// The unified-log layer: formats each event itself, with the names and fields of the spans it
/// happened in first (`request{api="Produce"}: message`), and hands the finished message to its
/// writer.
///
/// It never assumes a span is known to it: spans are looked up with the registry's fallible
/// lookups and their fields are kept in an extension of this layer's own type. (tracing-oslog's
/// own layer `expect`s an activity on the current span, which panics as soon as a span is
/// filtered away from it; so it is only ever given finished messages, see `oslog`.)
pub struct UnifiedLogLayer<W> {
    /// Where finished messages go.
    writer: W,
}

impl<W: UnifiedLogWriter> UnifiedLogLayer<W> {
    /// A layer writing to `writer`.
    pub fn new(writer: W) -> Self {
        UnifiedLogLayer { writer }
    }
}

/// A span's fields as text (`key=value key2=value2`), kept for the unified-log messages of the
/// events inside it.
struct SpanFields(String);

impl<S, W> Layer<S> for UnifiedLogLayer<W>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    W: UnifiedLogWriter,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let mut fields = String::new();
        attrs.record(&mut FieldText::new(&mut fields));
        let mut extensions = span.extensions_mut();
        if extensions.get_mut::<SpanFields>().is_none() {
            extensions.insert(SpanFields(fields));
        }
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        if let Some(fields) = span.extensions_mut().get_mut::<SpanFields>() {
            values.record(&mut FieldText::new(&mut fields.0));
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let mut message = String::new();
        if let Some(scope) = ctx.event_scope(event) {
            for span in scope.from_root() {
                message.push_str(span.name());
                if let Some(fields) = span.extensions().get::<SpanFields>()
                    && !fields.0.is_empty()
                {
                    let _ = write!(message, "{{{}}}", fields.0);
                }
                message.push_str(": ");
            }
        }
        event.record(&mut FieldText::new(&mut message));
        let metadata = event.metadata();
        self.writer.write(
            category(metadata.target()),
            os_log_type(metadata.level()),
            &message,
        );
    }
}

/// Appends fields as the text log shows them: the message as is, others as ` key=value`.
struct FieldText<'a> {
    /// The text being built.
    out: &'a mut String,
}

impl<'a> FieldText<'a> {
    fn new(out: &'a mut String) -> Self {
        FieldText { out }
    }
}

impl Visit for FieldText<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        let separator = if self.out.is_empty() || self.out.ends_with(": ") {
            ""
        } else {
            " "
        };
        let _ = if field.name() == "message" {
            write!(self.out, "{separator}{value:?}")
        } else {
            write!(self.out, "{separator}{}={value:?}", field.name())
        };
    }
}

/// Top-level modules that get a unified-log category of their own (see `lib.rs`); everything
/// else is `general`.
pub const CATEGORIES: [&str; 12] = [
    "server",
    "handlers",
    "coordinator",
    "metadata",
    "log",
    "storage",
    "config",
    "base",
    "service",
    "logging",
    "cli",
    "general",
];

/// The unified-log category of an event target: the crate module it comes from
/// (`strom::storage::format` → `storage`), `general` for everything else.
pub fn category(target: &str) -> &'static str {
    let module = target
        .strip_prefix("strom::")
        .and_then(|rest| rest.split("::").next());
    CATEGORIES
        .iter()
        .find(|c| Some(**c) == module)
        .copied()
        .unwrap_or("general")
}

/// The os_log writer: one tracing-oslog logger per category, each behind a registry of its
/// own that never has a current span, and fed finished messages as fresh events without a
/// parent, so tracing-oslog's span handling (and its `expect`s) is never reached.
#[cfg(target_os = "macos")]
mod oslog {
    use super::{CATEGORIES, OSLOG_SUBSYSTEM, OsLogType, UnifiedLogWriter};
    use tracing::callsite::{Callsite, Identifier};
    use tracing::field::{FieldSet, Value};
    use tracing::metadata::Kind;
    use tracing::subscriber::Interest;
    use tracing::{Event, Level, Metadata, Subscriber};
    use tracing_oslog::OsLogger;
    use tracing_subscriber::Registry;
    use tracing_subscriber::layer::{Layered, SubscriberExt};

    /// The static call site of the events handed to tracing-oslog (tracing needs one per
    /// metadata; nothing registers or filters them).
    struct FixedCallsite(&'static Metadata<'static>);

    impl Callsite for FixedCallsite {
        fn set_interest(&self, _interest: Interest) {}
        fn metadata(&self) -> &Metadata<'_> {
            self.0
        }
    }

    /// One call site per tracing level; tracing-oslog maps TRACE/DEBUG/INFO/WARN/ERROR to
    /// os_log debug/info/default/error/fault.
    macro_rules! fixed_callsite {
        ($callsite:ident, $meta:ident, $level:expr) => {
            static $callsite: FixedCallsite = FixedCallsite(&$meta);
            static $meta: Metadata<'static> = Metadata::new(
                "unified log",
                "strom",
                $level,
                None,
                None,
                None,
                FieldSet::new(&["message"], Identifier(&$callsite)),
                Kind::EVENT,
            );
        };
    }
    fixed_callsite!(DEBUG_SITE, DEBUG_META, Level::TRACE);
    fixed_callsite!(INFO_SITE, INFO_META, Level::DEBUG);
    fixed_callsite!(DEFAULT_SITE, DEFAULT_META, Level::INFO);
    fixed_callsite!(ERROR_SITE, ERROR_META, Level::WARN);
    fixed_callsite!(FAULT_SITE, FAULT_META, Level::ERROR);

    /// Writes to os_log, subsystem `io.strom.broker`, one category per module.
    pub struct OsLogWriter {
        /// Category name and its logger; the last is `general`.
        loggers: Vec<(&'static str, Layered<OsLogger, Registry>)>,
    }

    impl OsLogWriter {
        /// Creates the per-category loggers.
        pub fn new() -> Self {
            OsLogWriter {
                loggers: CATEGORIES
                    .iter()
                    .map(|&c| {
                        (
                            c,
                            tracing_subscriber::registry().with(OsLogger::new(OSLOG_SUBSYSTEM, c)),
                        )
                    })
                    .collect(),
            }
        }
    }

    impl UnifiedLogWriter for OsLogWriter {
        fn write(&self, category: &'static str, kind: OsLogType, message: &str) {
            let Some((_, logger)) = self
                .loggers
                .iter()
                .find(|(c, _)| *c == category)
                .or_else(|| self.loggers.last())
            else {
                return;
            };
            let metadata: &'static Metadata<'static> = match kind {
                OsLogType::Debug => &DEBUG_META,
                OsLogType::Info => &INFO_META,
                OsLogType::Default => &DEFAULT_META,
                OsLogType::Error => &ERROR_META,
                OsLogType::Fault => &FAULT_META,
            };
            let fields = metadata.fields();
            let Some(field) = fields.field("message") else {
                return;
            };
            let text = tracing::field::display(message);
            let values = [(&field, Some(&text as &dyn Value))];
            let values = fields.value_set(&values);
            logger.event(&Event::new_child_of(None, metadata, &values));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

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
        let (f, problem) = filter_spec(Some("strom=debug"), Some("ERROR"));
        assert_eq!(f, "strom=debug");
        assert!(problem.is_none());
        let (f, problem) = filter_spec(None, Some("WARN"));
        assert_eq!(f, "warn");
        assert!(problem.is_none());
        let (f, problem) = filter_spec(None, Some("LOUD"));
        assert_eq!(f, "info");
        assert!(problem.expect("explained").contains("LOUD"));
        let (f, problem) = filter_spec(Some("=[bad"), None);
        assert_eq!(f, "info");
        assert!(problem.expect("explained").starts_with("Ignoring RUST_LOG"));
        assert_eq!(filter_spec(None, None).0, "info");
    }

    /// A `MakeWriter` into a shared buffer.
    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl Buffer {
        fn text(&self) -> String {
            String::from_utf8(self.0.lock().expect("unpoisoned").clone()).expect("UTF-8")
        }
    }

    impl Write for Buffer {
        fn write(&mut self, data: &[u8]) -> io::Result<usize> {
            self.0.lock().expect("unpoisoned").extend_from_slice(data);
            Ok(data.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn lines_look_like_kafkas_server_log() {
        let buf = Buffer::default();
        let sink = buf.clone();
        let subscriber = tracing_subscriber::fmt()
            .event_format(KafkaFormat)
            .with_writer(move || sink.clone())
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            tracing::warn!(target: "strom::storage::format", "Formatting metadata directory /d");
        });
        let line = buf.text();
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

    #[test]
    fn categories_follow_modules() {
        assert_eq!(category("strom::storage::format"), "storage");
        assert_eq!(category("strom::server"), "server");
        assert_eq!(category("strom::nonesuch::x"), "general");
        assert_eq!(category("tokio::runtime"), "general");
    }

    /// One unified-log message: category, type, text.
    type Message = (&'static str, OsLogType, String);

    /// Records what would go to os_log.
    #[derive(Clone, Default)]
    struct Recorder(Arc<Mutex<Vec<Message>>>);

    impl UnifiedLogWriter for Recorder {
        fn write(&self, category: &'static str, kind: OsLogType, message: &str) {
            self.0
                .lock()
                .expect("unpoisoned")
                .push((category, kind, message.to_string()));
        }
    }

    /// The production composition (text layers with their own filters, the unified-log layer
    /// with none), with spans: the layer of the panic tracing-oslog would raise (a span the
    /// unified-log layer's neighbour filters out, an event inside it) runs through cleanly, and
    /// events the text filter drops still reach the unified log.
    #[test]
    fn spans_never_panic_and_the_unified_log_sees_what_the_text_filter_drops() {
        let recorder = Recorder::default();
        let text = Buffer::default();
        let sink = text.clone();
        let mut layers: Vec<BoxedLayer> = vec![
            tracing_subscriber::fmt::layer()
                .event_format(KafkaFormat)
                .with_writer(move || sink.clone())
                .with_filter(EnvFilter::new("info"))
                .boxed(),
        ];
        layers.push(UnifiedLogLayer::new(recorder.clone()).boxed());
        let subscriber = tracing_subscriber::registry().with(layers);
        tracing::subscriber::with_default(subscriber, || {
            let request =
                tracing::info_span!(target: "strom::server", "request", api = "Produce", id = 7);
            let _entered = request.enter();
            tracing::warn!(target: "strom::server::connection", "slow client");
            let inner = tracing::debug_span!(target: "strom::log", "append", partition = 3);
            inner.in_scope(|| {
                inner.record("partition", 4);
                tracing::debug!(target: "strom::log::segment", bytes = 10, "appended");
                tracing::error!(target: "strom::config", "bad value");
            });
            drop(inner);
            tracing::trace!(target: "other_crate", "quiet");
        });
        let got = recorder.0.lock().expect("unpoisoned").clone();
        assert_eq!(
            got,
            [
                (
                    "server",
                    OsLogType::Error,
                    "request{api=\"Produce\" id=7}: slow client".to_string()
                ),
                (
                    "log",
                    OsLogType::Info,
                    "request{api=\"Produce\" id=7}: append{partition=3 partition=4}: appended bytes=10"
                        .to_string()
                ),
                (
                    "config",
                    OsLogType::Error,
                    "request{api=\"Produce\" id=7}: append{partition=3 partition=4}: bad value"
                        .to_string()
                ),
                (
                    "general",
                    OsLogType::Debug,
                    "request{api=\"Produce\" id=7}: quiet".to_string()
                ),
            ]
        );
        let text = text.text();
        assert!(text.contains("WARN slow client"), "{text}");
        assert!(text.contains("ERROR"), "{text}");
        assert!(
            !text.contains("appended") && !text.contains("quiet"),
            "{text}"
        );
    }

    #[test]
    fn rolling_file_keeps_backups_like_log4j_and_never_splits_a_write() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("logs/server.log");
        let mut file = RollingFile::open(&path, 10, 2).expect("open");
        for line in [
            "aaaa\n",
            "bbbb\n",
            "cccc\n",
            "dddd\n",
            "eeee\n",
            "ffff\n",
            "gggggggggggg\n",
        ] {
            file.write_all(line.as_bytes()).expect("write");
        }
        let read = |p: &Path| std::fs::read_to_string(p).unwrap_or_default();
        assert_eq!(read(&path), "gggggggggggg\n");
        assert_eq!(read(&dir.path().join("logs/server.log.1")), "eeee\nffff\n");
        assert_eq!(read(&dir.path().join("logs/server.log.2")), "cccc\ndddd\n");
        assert!(!dir.path().join("logs/server.log.3").exists());
        // Reopening appends to what is there.
        drop(file);
        let mut file = RollingFile::open(&path, 100, 2).expect("reopen");
        file.write_all(b"h\n").expect("write");
        assert_eq!(read(&path), "gggggggggggg\nh\n");
    }

    #[test]
    fn a_vanished_log_directory_is_recreated_at_the_next_roll() {
        let dir = tempfile::tempdir().expect("tempdir");
        let logs = dir.path().join("logs");
        let mut file = RollingFile::open(&logs.join("server.log"), 4, 1).expect("open");
        file.write_all(b"abc\n").expect("write");
        std::fs::remove_dir_all(&logs).expect("remove");
        file.write_all(b"def\n")
            .expect("a roll recreates the directory");
        assert_eq!(
            std::fs::read_to_string(logs.join("server.log")).expect("read"),
            "def\n"
        );
    }
}
