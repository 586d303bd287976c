//! The file operations whose failure the log must survive (writes, fsyncs, renames,
//! truncations), each with a fault point.
//!
//! In the library's unit tests a [`FaultPlan`] makes the n-th of these operations under one
//! directory fail once (ENOSPC for writes and truncations, EIO for fsyncs and renames), which is
//! how the log's fault-injection tests check that every single failure leaves a log that
//! reopens consistent with no acknowledged record lost. In every other build the fault point
//! is an empty inline function.

use std::fs::File;
use std::io::{self, IoSlice, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::FileExt;
use std::path::Path;

/// The kinds of operation a fault can be injected into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// Writing bytes to a file.
    Write,
    /// `fsync` (F_FULLFSYNC) of a file or directory.
    Sync,
    /// Renaming a file or directory.
    Rename,
    /// Changing a file's length.
    Truncate,
}

/// `write_all_at` with a fault point. An injected failure writes the first half of `buf`
/// before failing, as a disk that fills up in the middle of a write does.
pub fn write_all_at(file: &File, buf: &[u8], position: u64, path: &Path) -> io::Result<()> {
    if let Err(e) = check(Op::Write, path) {
        file.write_all_at(&buf[..buf.len() / 2], position)?;
        return Err(e);
    }
    file.write_all_at(buf, position)
}

/// Positioned, vectored write of all of `slices` with a fault point (an injected failure
/// writes the first half of the bytes, as [`write_all_at`]). Partial writes are retried.
/// Returns the bytes written. This is how a batch is stored: its stamped header and the
/// untouched rest from the request, with no copy into one buffer.
pub fn write_all_vectored_at(
    file: &File,
    mut slices: &mut [IoSlice<'_>],
    mut position: u64,
    path: &Path,
) -> io::Result<u64> {
    if let Err(e) = check(Op::Write, path) {
        let total: usize = slices.iter().map(|s| s.len()).sum();
        let mut half = Vec::with_capacity(total / 2);
        for s in slices.iter() {
            half.extend_from_slice(&s[..s.len().min(total / 2 - half.len())]);
        }
        file.write_all_at(&half, position)?;
        return Err(e);
    }
    let start = position;
    while !slices.is_empty() {
        // Below every platform's IOV_MAX.
        let count = slices.len().min(512);
        let offset =
            libc::off_t::try_from(position).map_err(|_| io::Error::other("offset out of range"))?;
        // SAFETY: `IoSlice` is ABI-compatible with `iovec` on Unix, the slices borrow live
        // buffers, and the descriptor is open for the call.
        let n = unsafe {
            libc::pwritev(
                file.as_raw_fd(),
                slices.as_ptr().cast::<libc::iovec>(),
                count as libc::c_int,
                offset,
            )
        };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        if n == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        position += n as u64;
        IoSlice::advance_slices(&mut slices, n as usize);
    }
    Ok(position - start)
}

/// `write_all` with a fault point (a failure writes half, as [`write_all_at`]).
pub fn write_all(mut file: &File, buf: &[u8], path: &Path) -> io::Result<()> {
    if let Err(e) = check(Op::Write, path) {
        file.write_all(&buf[..buf.len() / 2])?;
        return Err(e);
    }
    file.write_all(buf)
}

/// A durable fsync ([`super::fsync::fsync_file`]) with a fault point.
pub fn sync_file(file: &File, path: &Path) -> io::Result<()> {
    check(Op::Sync, path)?;
    super::fsync::fsync_file(file)
}

/// `rename` with a fault point.
pub fn rename(from: &Path, to: &Path) -> io::Result<()> {
    check(Op::Rename, from)?;
    std::fs::rename(from, to)
}

/// `set_len` with a fault point.
pub fn set_len(file: &File, len: u64, path: &Path) -> io::Result<()> {
    check(Op::Truncate, path)?;
    file.set_len(len)
}

/// The fault point: fails if a [`FaultPlan`] armed for a directory holding `path` says so.
#[cfg(not(test))]
#[inline(always)]
pub fn check(_op: Op, _path: &Path) -> io::Result<()> {
    Ok(())
}

/// The fault point: fails if a [`FaultPlan`] armed for a directory holding `path` says so.
#[cfg(test)]
pub fn check(op: Op, path: &Path) -> io::Result<()> {
    plan::check(op, path)
}

#[cfg(test)]
pub use plan::FaultPlan;

#[cfg(test)]
mod plan {
    use super::Op;
    use parking_lot::Mutex;
    use std::io;
    use std::path::{Path, PathBuf};

    /// One armed plan.
    struct Armed {
        id: u64,
        root: PathBuf,
        fail_at: Option<u64>,
        /// Fail instead the first operation of this kind on a path ending so.
        fail_on: Option<(Op, String)>,
        seen: u64,
        fired: Option<(Op, PathBuf)>,
    }

    static ARMED: Mutex<Vec<Armed>> = Mutex::new(Vec::new());
    static NEXT_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

    /// Counts the operations under `root` and fails the `fail_at`-th (from 0) once; disarmed
    /// when dropped. Plans for different directories do not see each other's operations, so
    /// tests using them run in parallel.
    pub struct FaultPlan {
        id: u64,
    }

    impl FaultPlan {
        /// Arms a plan for operations under `root`: fail the `fail_at`-th, or none.
        pub fn arm(root: &Path, fail_at: Option<u64>) -> FaultPlan {
            let id = NEXT_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            ARMED.lock().push(Armed {
                id,
                root: root.to_path_buf(),
                fail_at,
                fail_on: None,
                seen: 0,
                fired: None,
            });
            FaultPlan { id }
        }

        /// Arms a plan that fails the first `op` under `root` on a path ending in `suffix`.
        pub fn arm_on(root: &Path, op: Op, suffix: &str) -> FaultPlan {
            let plan = FaultPlan::arm(root, None);
            if let Some(a) = ARMED.lock().iter_mut().find(|a| a.id == plan.id) {
                a.fail_on = Some((op, suffix.to_string()));
            }
            plan
        }

        fn with<T>(&self, f: impl FnOnce(&Armed) -> T) -> Option<T> {
            ARMED.lock().iter().find(|a| a.id == self.id).map(f)
        }

        /// Operations seen so far.
        pub fn seen(&self) -> u64 {
            self.with(|a| a.seen).unwrap_or(0)
        }

        /// The operation that was failed, if any.
        pub fn fired(&self) -> Option<(Op, PathBuf)> {
            self.with(|a| a.fired.clone()).flatten()
        }
    }

    impl Drop for FaultPlan {
        fn drop(&mut self) {
            ARMED.lock().retain(|a| a.id != self.id);
        }
    }

    pub(super) fn check(op: Op, path: &Path) -> io::Result<()> {
        let mut armed = ARMED.lock();
        let Some(plan) = armed.iter_mut().find(|a| path.starts_with(&a.root)) else {
            return Ok(());
        };
        let n = plan.seen;
        plan.seen += 1;
        let on_this = plan.fired.is_none()
            && plan.fail_on.as_ref().is_some_and(|(kind, suffix)| {
                *kind == op && path.to_string_lossy().ends_with(suffix.as_str())
            });
        if plan.fail_at != Some(n) && !on_this {
            return Ok(());
        }
        plan.fired = Some((op, path.to_path_buf()));
        let errno = match op {
            Op::Write | Op::Truncate => libc::ENOSPC,
            Op::Sync | Op::Rename => libc::EIO,
        };
        Err(io::Error::from_raw_os_error(errno))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plan_fails_the_nth_operation_under_its_root_once() {
        let dir = tempfile::tempdir().expect("tempdir");
        let other = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("f");
        let file = File::create(&path).expect("create");
        let plan = FaultPlan::arm(dir.path(), Some(1));
        write_all_at(&file, b"a", 0, &path).expect("op 0");
        sync_file(&file, &other.path().join("x")).expect("not under the root");
        let err = sync_file(&file, &path).expect_err("op 1 fails");
        assert_eq!(err.raw_os_error(), Some(libc::EIO));
        set_len(&file, 0, &path).expect("only once");
        assert_eq!(plan.seen(), 3);
        assert_eq!(plan.fired(), Some((Op::Sync, path.clone())));
        drop(plan);
        let plan = FaultPlan::arm(dir.path(), Some(0));
        let err = write_all(&file, b"b", &path).expect_err("write fails");
        assert_eq!(err.raw_os_error(), Some(libc::ENOSPC));
        drop(plan);
        rename(&path, &dir.path().join("g")).expect("disarmed");
    }
}
