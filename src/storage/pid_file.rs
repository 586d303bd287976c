//! The broker's pid file, `strom.pid` in the metadata log directory.
//!
//! Kafka's `kafka-server-stop` finds the broker with `ps | grep kafka.Kafka`; a native binary
//! has no such class name to look for, so the running broker records its pid next to its data
//! and `strom stop` (also invoked as `kafka-server-stop`) signals exactly that process. Keeping
//! the file in the data directory also stops two brokers from sharing one directory.

use super::StorageError;
use crate::config::KafkaConfig;
use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// File name inside the metadata log directory.
pub const PID_FILE: &str = "strom.pid";

/// Written by the running broker; `kafka-server-stop` / `strom stop` reads it and sends SIGTERM.
/// Removed on drop, when the broker exits cleanly.
#[derive(Debug)]
pub struct PidFile {
    path: PathBuf,
    pid: u32,
}

impl PidFile {
    /// Records this process as the broker using `config`'s storage. Refuses when a live process
    /// already holds the file; a file left behind by a crash is replaced.
    pub fn create(config: &KafkaConfig) -> Result<PidFile, StorageError> {
        let path = path_for(config);
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir).map_err(StorageError::io(dir))?;
        }
        let pid = std::process::id();
        match read_pid(&path)? {
            Some(other) if other != pid as i32 && is_alive(other) => {
                return Err(StorageError::AlreadyRunning { pid: other, path });
            }
            Some(_) => fs::remove_file(&path).map_err(StorageError::io(&path))?,
            None => {}
        }
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(StorageError::io(&path))?;
        writeln!(file, "{pid}").map_err(StorageError::io(&path))?;
        Ok(PidFile { path, pid })
    }

    /// Where the file is.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for PidFile {
    fn drop(&mut self) {
        // Only remove the file if it is still ours (a second broker may have replaced it).
        if matches!(read_pid(&self.path), Ok(Some(pid)) if pid == self.pid as i32)
            && let Err(e) = fs::remove_file(&self.path)
        {
            tracing::warn!("Failed to delete pid file {}: {e}", self.path.display());
        }
    }
}

/// The pid file of the broker configured by `config`.
pub fn path_for(config: &KafkaConfig) -> PathBuf {
    config.metadata_log_dir.join(PID_FILE)
}

/// The pid recorded in `path`, if the file exists and holds a number.
pub fn read_pid(path: &Path) -> Result<Option<i32>, StorageError> {
    match fs::read_to_string(path) {
        Ok(text) => Ok(text.trim().parse().ok().filter(|&pid: &i32| pid > 0)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(StorageError::io(path)(e)),
    }
}

/// Whether a process with this pid exists (signal 0 probes without signalling).
pub fn is_alive(pid: i32) -> bool {
    // SAFETY: kill(2) with signal 0 only checks for the process; it has no memory effects.
    let rc = unsafe { libc::kill(pid, 0) };
    rc == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

/// What `stop` found and did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopOutcome {
    /// No pid file, or its process is gone.
    NotRunning,
    /// SIGTERM was sent and the process exited within the timeout.
    Stopped(i32),
    /// SIGTERM was sent but the process is still shutting down.
    StillRunning(i32),
}

/// Sends SIGTERM (what launchd sends) to the broker recorded for `config` and waits up to
/// `timeout` for it to finish its clean shutdown.
pub fn stop(config: &KafkaConfig, timeout: Duration) -> Result<StopOutcome, StorageError> {
    let path = path_for(config);
    let Some(pid) = read_pid(&path)?.filter(|&pid| is_alive(pid)) else {
        return Ok(StopOutcome::NotRunning);
    };
    // SAFETY: kill(2) sends a signal to another process; no memory is shared.
    if unsafe { libc::kill(pid, libc::SIGTERM) } != 0 {
        return Err(StorageError::io(&path)(std::io::Error::last_os_error()));
    }
    // Done when the process is gone or, having shut down cleanly, removed its pid file (its
    // parent may not have reaped it yet, and a zombie still answers kill(pid, 0)).
    let finished = || !is_alive(pid) || !matches!(read_pid(&path), Ok(Some(p)) if p == pid);
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if finished() {
            return Ok(StopOutcome::Stopped(pid));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(if finished() {
        StopOutcome::Stopped(pid)
    } else {
        StopOutcome::StillRunning(pid)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(dir: &Path) -> KafkaConfig {
        let path = dir.join("server.properties");
        let text = format!(
            "process.roles=broker,controller\nnode.id=1\ncontroller.quorum.voters=1@localhost:19093\n\
             controller.listener.names=CONTROLLER\n\
             listeners=PLAINTEXT://localhost:19092,CONTROLLER://localhost:19093\nlog.dirs={}/data\n",
            dir.display()
        );
        fs::write(&path, text).expect("config written");
        KafkaConfig::load(&path, &[]).expect("loads").config
    }

    #[test]
    fn records_this_process_and_removes_the_file_on_drop() {
        let t = tempfile::tempdir().expect("temp dir");
        let cfg = config(t.path());
        let pid_file = PidFile::create(&cfg).expect("created");
        assert_eq!(pid_file.path(), t.path().join("data").join(PID_FILE));
        assert_eq!(
            read_pid(pid_file.path()).expect("readable"),
            Some(std::process::id() as i32)
        );
        let path = pid_file.path().to_path_buf();
        drop(pid_file);
        assert!(!path.exists());
    }

    #[test]
    fn refuses_a_live_owner_and_replaces_a_stale_file() {
        let t = tempfile::tempdir().expect("temp dir");
        let cfg = config(t.path());
        let path = path_for(&cfg);
        fs::create_dir_all(path.parent().expect("has a parent")).expect("dir");
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .expect("sleep runs");
        fs::write(&path, format!("{}\n", child.id())).expect("written");
        let err = PidFile::create(&cfg).unwrap_err();
        assert!(
            matches!(err, StorageError::AlreadyRunning { pid, .. } if pid == child.id() as i32),
            "{err}"
        );

        // Reap the child as soon as it exits: a zombie would still count as alive.
        let pid = child.id() as i32;
        let reaper = std::thread::spawn(move || child.wait());
        assert_eq!(
            stop(&cfg, Duration::from_secs(5)).expect("signalled"),
            StopOutcome::Stopped(pid)
        );
        assert!(reaper.join().expect("reaper thread").is_ok());
        assert_eq!(
            stop(&cfg, Duration::from_secs(1)).expect("no-op"),
            StopOutcome::NotRunning
        );
        let replaced = PidFile::create(&cfg).expect("stale file replaced");
        assert_eq!(
            read_pid(replaced.path()).expect("readable"),
            Some(std::process::id() as i32)
        );
    }
}
