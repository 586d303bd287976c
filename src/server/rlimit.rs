//! The open-file limit: raised from the soft to the hard limit at start-up, and checked against
//! the logs on disk before they are opened.
//!
//! Every segment holds its `.log` open and the active segment of each partition its two
//! indexes as well, so a broker needs about one descriptor per segment plus connections. The
//! soft limit a process inherits is often far lower than what it may use: 256 under launchd
//! (whose hard limit is unlimited), 1024 in many Linux shells. The JVM raises the soft limit to
//! the hard one by default (`-XX:+MaxFDLimit`), which is why Kafka rarely meets the problem;
//! Strom does the same, and where even the hard limit is too low for the logs on disk it stops
//! at start-up with a message saying what to raise, instead of failing requests one by one.

use std::path::PathBuf;

use tracing::info;

/// Descriptors kept for client connections, listeners, checkpoints and other files beyond the
/// logs' own.
pub const RESERVED_FILES: u64 = 128;

/// The open-file limit after start-up's raise.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpenFileLimit {
    /// The soft limit found at start-up.
    pub was: u64,
    /// The soft limit now in force.
    pub soft: u64,
    /// The hard limit (`u64::MAX` for unlimited).
    pub hard: u64,
}

/// The logs on disk need more descriptors than the limit allows.
#[derive(Debug, thiserror::Error)]
#[error(
    "The open file limit ({limit}, hard limit {hard}) is too low for the logs in {dirs}: {partitions} partition(s) with {segments} segment(s) need at least {needed} open files (one per segment, two more per partition, {RESERVED_FILES} for connections and other files). Raise it (`ulimit -n {needed}` in the shell that starts the broker; for launchd, `sudo launchctl limit maxfiles {needed} unlimited`) or delete topics you no longer need."
)]
pub struct TooFewOpenFiles {
    /// The soft limit.
    pub limit: u64,
    /// The hard limit, as printed.
    pub hard: String,
    /// The log dirs.
    pub dirs: String,
    /// Partition directories found.
    pub partitions: u64,
    /// Segments found.
    pub segments: u64,
    /// Descriptors needed.
    pub needed: u64,
}

/// Raises the soft open-file limit to the hard limit (capped where the system caps it) and
/// logs both. Failures leave the limit as it was, logged.
pub fn raise_open_file_limit() -> OpenFileLimit {
    let Some((soft, hard)) = get() else {
        tracing::warn!("Could not read the open file limit");
        return OpenFileLimit {
            was: u64::MAX,
            soft: u64::MAX,
            hard: u64::MAX,
        };
    };
    let target = hard.min(system_cap());
    let mut limit = OpenFileLimit {
        was: soft,
        soft,
        hard,
    };
    if target > soft {
        match set(target, hard) {
            Ok(()) => limit.soft = target,
            Err(e) => {
                tracing::warn!("Could not raise the open file limit from {soft} to {target}: {e}")
            }
        }
    }
    info!(
        "Open file limit: {} (was {soft}; hard limit {})",
        limit.soft,
        show(hard)
    );
    limit
}

/// Fails if `partitions` and `segments` on disk need more descriptors than `limit` allows.
pub fn check_open_files(
    limit: OpenFileLimit,
    dirs: &[PathBuf],
    partitions: u64,
    segments: u64,
) -> Result<(), TooFewOpenFiles> {
    let needed = segments + 2 * partitions + RESERVED_FILES;
    if needed <= limit.soft {
        return Ok(());
    }
    Err(TooFewOpenFiles {
        limit: limit.soft,
        hard: show(limit.hard),
        dirs: dirs
            .iter()
            .map(|d| d.display().to_string())
            .collect::<Vec<_>>()
            .join(","),
        partitions,
        segments,
        needed,
    })
}

fn show(limit: u64) -> String {
    if limit == u64::MAX {
        "unlimited".into()
    } else {
        limit.to_string()
    }
}

/// `(soft, hard)`, with RLIM_INFINITY as `u64::MAX`.
fn get() -> Option<(u64, u64)> {
    // SAFETY: an all-zero rlimit is valid; getrlimit only writes into it.
    let mut rl: libc::rlimit = unsafe { std::mem::zeroed() };
    // SAFETY: a valid resource and a pointer to a live rlimit.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut rl) } != 0 {
        return None;
    }
    Some((from_rlim(rl.rlim_cur), from_rlim(rl.rlim_max)))
}

fn set(soft: u64, hard: u64) -> std::io::Result<()> {
    let rl = libc::rlimit {
        rlim_cur: to_rlim(soft),
        rlim_max: to_rlim(hard),
    };
    // SAFETY: a valid resource and a pointer to a live rlimit.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &rl) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

// `rlim_t` is a u64 on Linux and macOS alike.
fn from_rlim(v: libc::rlim_t) -> u64 {
    if v == libc::RLIM_INFINITY {
        u64::MAX
    } else {
        v
    }
}

fn to_rlim(v: u64) -> libc::rlim_t {
    if v == u64::MAX {
        libc::RLIM_INFINITY
    } else {
        v
    }
}

/// The most descriptors the kernel lets one process have, which an unlimited hard limit does
/// not lift: `kern.maxfilesperproc` on macOS (setrlimit refuses more), `fs.nr_open` on Linux.
#[cfg(target_os = "macos")]
fn system_cap() -> u64 {
    let mut value: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>();
    // SAFETY: a NUL-terminated name and an int-sized output buffer with its length.
    let rc = unsafe {
        libc::sysctlbyname(
            c"kern.maxfilesperproc".as_ptr(),
            (&mut value as *mut libc::c_int).cast(),
            &mut len,
            std::ptr::null_mut(),
            0,
        )
    };
    if rc == 0 && value > 0 {
        value as u64
    } else {
        // OPEN_MAX from <sys/syslimits.h>: what setrlimit accepts on every macOS.
        10240
    }
}

/// The most descriptors the kernel lets one process have, which an unlimited hard limit does
/// not lift: `kern.maxfilesperproc` on macOS (setrlimit refuses more), `fs.nr_open` on Linux.
#[cfg(not(target_os = "macos"))]
fn system_cap() -> u64 {
    std::fs::read_to_string("/proc/sys/fs/nr_open")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(1 << 20)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raising_never_lowers_and_stays_within_the_hard_limit() {
        let limit = raise_open_file_limit();
        assert!(limit.soft >= limit.was);
        assert!(limit.soft <= limit.hard);
        assert_eq!(get().map(|(soft, _)| soft), Some(limit.soft));
    }

    #[test]
    fn the_check_counts_segments_partitions_and_the_reserve() {
        let limit = OpenFileLimit {
            was: 256,
            soft: 256,
            hard: u64::MAX,
        };
        let dirs = [PathBuf::from("/data")];
        assert!(
            check_open_files(limit, &dirs, 40, 48).is_ok(),
            "48+80+128 = 256"
        );
        let err = check_open_files(limit, &dirs, 40, 49).expect_err("257 > 256");
        let text = err.to_string();
        assert!(text.contains("need at least 257 open files"), "{text}");
        assert!(text.contains("hard limit unlimited"), "{text}");
        assert!(text.contains("/data"), "{text}");
    }
}
