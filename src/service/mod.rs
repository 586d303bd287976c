//! The launchd LaunchAgent that runs the broker for users who do not use `brew services`.
//!
//! The plist is produced by serialising [`LaunchAgent`] with the `plist` crate, so its XML is
//! always well formed and valid against Apple's plist 1.0 DTD; the field names are launchd's
//! keys (`man launchd.plist`).

use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The label `strom service` uses unless told otherwise.
pub const DEFAULT_LABEL: &str = "io.strom.broker";

/// Seconds launchd waits after SIGTERM before it sends SIGKILL. launchd's own default (20 s)
/// can cut a flush of many partitions short; the broker's clean shutdown fits well within this.
pub const EXIT_TIMEOUT_SECS: u32 = 60;

/// Least seconds between two starts of the job. launchd only delays a restart when the job ran
/// for less than this, so a crash after hours of service is restarted at once, while a start that
/// fails at once (a bad config edit: exit status 2) is retried every 30 s rather than launchd's
/// 10 s, each retry one ERROR line; the retry also picks up the fix once the file is corrected.
pub const THROTTLE_INTERVAL_SECS: u32 = 30;

/// The session types the job may load in; Homebrew's service code writes all five, so a service
/// started from a background session survives a later login (and the two plists agree).
pub const SESSION_TYPES: [&str; 5] = ["Aqua", "Background", "LoginWindow", "StandardIO", "System"];

/// The file launchd sends the broker's standard output and error to, in the log directory. With
/// `--log-dir` the broker writes its full log to `server.log` itself, so this only collects the
/// reason a start failed (and panics).
pub const STDERR_LOG: &str = "stderr.log";

/// Why the agent could not be written or (un)loaded.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// launchd exists only on macOS.
    #[error(
        "launchd is macOS-only; on this system run `strom server --config FILE` under your service manager"
    )]
    NotMacOs,
    /// A file operation failed.
    #[error("I/O error on {path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// `launchctl` failed.
    #[error("`launchctl {args}` failed: {detail}")]
    Launchctl {
        /// The arguments it was run with.
        args: String,
        /// Its stderr or exit status.
        detail: String,
    },
    /// The plist could not be serialised.
    #[error("cannot write the LaunchAgent plist: {0}")]
    Plist(#[from] plist::Error),
    /// The user's home directory (for ~/Library/LaunchAgents) is unknown.
    #[error("cannot determine the home directory")]
    NoHome,
}

/// How launchd should schedule the broker (`ProcessType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
pub enum ProcessType {
    /// No background throttling: the broker answers clients with app-like latency. Default,
    /// since producers and consumers wait on it.
    Interactive,
    /// CPU and I/O throttled like other background jobs: for a broker that should stay out of
    /// the way of the user's foreground work.
    Background,
}

/// Restart policy (`KeepAlive`): restart after a crash, but not after a clean exit, so
/// `strom stop` (a SIGTERM and exit 0) really stops the broker.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct KeepAlive {
    /// `false`: keep the job alive only while it exits unsuccessfully.
    pub successful_exit: bool,
}

/// A LaunchAgent plist, one field per launchd key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct LaunchAgent {
    /// Unique job name, also the plist's file name.
    pub label: String,
    /// `strom server [--config FILE] --log-dir DIR`, with absolute paths (launchd has no shell or
    /// PATH).
    pub program_arguments: Vec<String>,
    /// Start at login.
    pub run_at_load: bool,
    /// Restart after a crash.
    pub keep_alive: KeepAlive,
    /// Where relative paths in server.properties resolve: the config file's directory (the log
    /// directory without a config).
    pub working_directory: String,
    /// `stderr.log` in the log directory: what the process writes to stdout (nothing) and
    /// stderr (start failures) goes there; the log proper is `server.log` beside it.
    pub standard_out_path: String,
    /// As above.
    pub standard_error_path: String,
    /// Scheduling class.
    pub process_type: ProcessType,
    /// Seconds between SIGTERM and SIGKILL on stop.
    #[serde(rename = "ExitTimeOut")]
    pub exit_time_out: u32,
    /// Least seconds between starts (see [`THROTTLE_INTERVAL_SECS`]).
    pub throttle_interval: u32,
    /// Session types the job loads in (see [`SESSION_TYPES`]).
    pub limit_load_to_session_type: Vec<String>,
    /// Only present when the user asked for variables (e.g. `RUST_LOG`).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub environment_variables: BTreeMap<String, String>,
}

impl LaunchAgent {
    /// The agent running `program server --config config --log-dir log_dir` (without a config,
    /// the embedded default), logging to `log_dir/server.log` with start failures in
    /// `log_dir/stderr.log`. Homebrew's formula declares the same job (`Formula/strom.rb`'s
    /// `service do`); tests check the two plists agree key by key.
    pub fn for_broker(
        program: &Path,
        config: Option<&Path>,
        label: &str,
        log_dir: &Path,
    ) -> LaunchAgent {
        let log = log_dir.join(STDERR_LOG).display().to_string();
        let mut program_arguments = vec![program.display().to_string(), "server".into()];
        if let Some(config) = config {
            program_arguments.extend(["--config".into(), config.display().to_string()]);
        }
        program_arguments.extend(["--log-dir".into(), log_dir.display().to_string()]);
        let working_directory = config.and_then(Path::parent).unwrap_or(log_dir);
        LaunchAgent {
            label: label.to_string(),
            program_arguments,
            run_at_load: true,
            keep_alive: KeepAlive {
                successful_exit: false,
            },
            working_directory: working_directory.display().to_string(),
            standard_out_path: log.clone(),
            standard_error_path: log,
            process_type: ProcessType::Interactive,
            exit_time_out: EXIT_TIMEOUT_SECS,
            throttle_interval: THROTTLE_INTERVAL_SECS,
            limit_load_to_session_type: SESSION_TYPES.map(String::from).to_vec(),
            environment_variables: BTreeMap::new(),
        }
    }

    /// The plist XML (with the standard DOCTYPE and plist 1.0 root).
    pub fn to_xml(&self) -> Result<String, ServiceError> {
        let mut out = Vec::new();
        plist::to_writer_xml(&mut out, self)?;
        out.push(b'\n');
        Ok(String::from_utf8_lossy(&out).into_owned())
    }
}

/// `~/Library/LaunchAgents/<label>.plist`.
pub fn agent_path(label: &str) -> Result<PathBuf, ServiceError> {
    let base = directories::BaseDirs::new().ok_or(ServiceError::NoHome)?;
    Ok(base
        .home_dir()
        .join("Library/LaunchAgents")
        .join(format!("{label}.plist")))
}

/// Writes the agent's plist and loads it into the user's GUI session
/// (`launchctl bootstrap gui/$UID`), replacing an already loaded job of the same label.
pub fn install(agent: &LaunchAgent) -> Result<PathBuf, ServiceError> {
    if !cfg!(target_os = "macos") {
        return Err(ServiceError::NotMacOs);
    }
    let path = agent_path(&agent.label)?;
    for dir in [path.parent(), Path::new(&agent.standard_out_path).parent()]
        .into_iter()
        .flatten()
    {
        std::fs::create_dir_all(dir).map_err(|source| ServiceError::Io {
            path: dir.into(),
            source,
        })?;
    }
    std::fs::write(&path, agent.to_xml()?).map_err(|source| ServiceError::Io {
        path: path.clone(),
        source,
    })?;
    // A job still loaded from an earlier install would make bootstrap fail; its absence is fine.
    let _ = launchctl(&["bootout", &format!("{}/{}", gui_domain(), agent.label)]);
    launchctl(&["bootstrap", &gui_domain(), &path.display().to_string()])?;
    Ok(path)
}

/// Unloads the job (`launchctl bootout`) and removes its plist.
pub fn uninstall(label: &str) -> Result<PathBuf, ServiceError> {
    if !cfg!(target_os = "macos") {
        return Err(ServiceError::NotMacOs);
    }
    let path = agent_path(label)?;
    launchctl(&["bootout", &format!("{}/{label}", gui_domain())])?;
    std::fs::remove_file(&path).map_err(|source| ServiceError::Io {
        path: path.clone(),
        source,
    })?;
    Ok(path)
}

/// The launchd domain of the current user's login session.
fn gui_domain() -> String {
    // SAFETY: getuid(2) cannot fail and touches no memory.
    format!("gui/{}", unsafe { libc::getuid() })
}

fn launchctl(args: &[&str]) -> Result<(), ServiceError> {
    let failed = |detail: String| ServiceError::Launchctl {
        args: args.join(" "),
        detail,
    };
    let output = std::process::Command::new("launchctl")
        .args(args)
        .output()
        .map_err(|e| failed(e.to_string()))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(failed(format!(
            "{} ({})",
            String::from_utf8_lossy(&output.stderr).trim(),
            output.status
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn agent() -> LaunchAgent {
        LaunchAgent::for_broker(
            Path::new("/opt/homebrew/bin/strom"),
            Some(Path::new("/opt/homebrew/etc/kafka/server.properties")),
            DEFAULT_LABEL,
            Path::new("/Users/me/Library/Logs/strom"),
        )
    }

    #[test]
    fn plist_has_launchds_keys_with_launchds_types() {
        let xml = agent().to_xml().expect("serialises");
        assert!(
            xml.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<!DOCTYPE plist PUBLIC")
        );
        let value = plist::Value::from_reader_xml(xml.as_bytes()).expect("parses back");
        let dict = value.as_dictionary().expect("a dictionary");
        let keys: Vec<&str> = dict.keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            [
                "Label",
                "ProgramArguments",
                "RunAtLoad",
                "KeepAlive",
                "WorkingDirectory",
                "StandardOutPath",
                "StandardErrorPath",
                "ProcessType",
                "ExitTimeOut",
                "ThrottleInterval",
                "LimitLoadToSessionType"
            ]
        );
        assert_eq!(dict["Label"].as_string(), Some(DEFAULT_LABEL));
        let args: Vec<&str> = dict["ProgramArguments"]
            .as_array()
            .expect("array")
            .iter()
            .filter_map(plist::Value::as_string)
            .collect();
        assert_eq!(
            args,
            [
                "/opt/homebrew/bin/strom",
                "server",
                "--config",
                "/opt/homebrew/etc/kafka/server.properties",
                "--log-dir",
                "/Users/me/Library/Logs/strom"
            ]
        );
        assert_eq!(dict["RunAtLoad"].as_boolean(), Some(true));
        let keep_alive = dict["KeepAlive"].as_dictionary().expect("dictionary");
        assert_eq!(keep_alive["SuccessfulExit"].as_boolean(), Some(false));
        assert_eq!(
            dict["WorkingDirectory"].as_string(),
            Some("/opt/homebrew/etc/kafka")
        );
        assert_eq!(
            dict["StandardErrorPath"].as_string(),
            Some("/Users/me/Library/Logs/strom/stderr.log")
        );
        assert_eq!(dict["ProcessType"].as_string(), Some("Interactive"));
        assert_eq!(
            dict["ExitTimeOut"].as_unsigned_integer(),
            Some(u64::from(EXIT_TIMEOUT_SECS))
        );
    }

    #[test]
    fn environment_appears_only_when_set() {
        let mut agent = agent();
        agent
            .environment_variables
            .insert("RUST_LOG".into(), "debug".into());
        let value =
            plist::Value::from_reader_xml(agent.to_xml().expect("xml").as_bytes()).expect("parses");
        let env = value
            .as_dictionary()
            .and_then(|d| d.get("EnvironmentVariables"))
            .expect("present");
        assert_eq!(
            env.as_dictionary()
                .and_then(|e| e.get("RUST_LOG"))
                .and_then(|v| v.as_string()),
            Some("debug")
        );
    }

    #[test]
    fn without_a_config_the_agent_runs_the_embedded_default() {
        let agent = LaunchAgent::for_broker(Path::new("/bin/strom"), None, "l", Path::new("/logs"));
        assert_eq!(
            agent.program_arguments,
            ["/bin/strom", "server", "--log-dir", "/logs"]
        );
        assert_eq!(agent.working_directory, "/logs");
    }

    #[cfg(not(target_os = "macos"))]
    #[test]
    fn install_elsewhere_says_launchd_is_macos_only() {
        let err = install(&agent()).unwrap_err();
        assert!(err.to_string().starts_with("launchd is macOS-only"));
        assert!(matches!(
            uninstall(DEFAULT_LABEL),
            Err(ServiceError::NotMacOs)
        ));
    }
}
