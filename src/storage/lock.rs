//! Kafka's `.lock`: an exclusive lock on a file in every log dir, taken before anything reads or
//! writes the dir and held for the life of the process, so a second broker on the same data
//! (a `brew services` broker and a manual `strom server`, or Strom and Apache Kafka) stops
//! before its log recovery can truncate or delete the running broker's files.
//!
//! Kafka's `FileLock` uses `FileChannel.tryLock`, which the JVM implements with `fcntl` record
//! locks; `flock(2)` locks are a separate kind on Linux and would not see Kafka's. So this takes
//! an `fcntl` write lock on the whole file: on Linux an open-file-description lock
//! (`F_OFD_SETLK`), which conflicts with Kafka's and belongs to the descriptor rather than the
//! process (two opens in one process conflict too, and closing some other descriptor of the
//! file cannot drop it); elsewhere the classic process-owned `F_SETLK`.

use std::fs::{File, OpenOptions};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use super::StorageError;

/// The lock file's name, as Kafka's `LogManager.LockFileName`.
pub const LOCK_FILE: &str = ".lock";

/// The locks of a broker's dirs; released when dropped (or when the process exits).
#[derive(Debug)]
pub struct DirLocks {
    /// Each dir's open lock file; the lock lives as long as the descriptor.
    _files: Vec<File>,
}

/// Locks every dir in `dirs` (creating missing dirs), or fails naming the first dir another
/// process holds, with Kafka's message. Nothing in the dirs is touched but `.lock`.
pub fn lock_dirs<'a>(dirs: impl IntoIterator<Item = &'a Path>) -> Result<DirLocks, StorageError> {
    let mut files = Vec::new();
    for dir in dirs {
        files.push(lock_dir(dir)?);
    }
    Ok(DirLocks { _files: files })
}

fn lock_dir(dir: &Path) -> Result<File, StorageError> {
    std::fs::create_dir_all(dir).map_err(StorageError::io(dir))?;
    let path = dir.join(LOCK_FILE);
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(StorageError::io(&path))?;
    match try_lock(&file) {
        Ok(true) => Ok(file),
        Ok(false) => Err(StorageError::DirLocked(dir.to_path_buf())),
        Err(e) => Err(StorageError::io(PathBuf::from(&path))(e)),
    }
}

/// An exclusive `fcntl` lock on the whole file without waiting; `Ok(false)` if another holds it.
fn try_lock(file: &File) -> std::io::Result<bool> {
    // SAFETY: an all-zero `flock` is a valid value (l_start = l_len = 0 covers the whole file).
    let mut lock: libc::flock = unsafe { std::mem::zeroed() };
    lock.l_type = libc::F_WRLCK as _;
    lock.l_whence = libc::SEEK_SET as _;
    #[cfg(target_os = "linux")]
    let cmd = libc::F_OFD_SETLK;
    #[cfg(not(target_os = "linux"))]
    let cmd = libc::F_SETLK;
    // SAFETY: fcntl on a descriptor `file` owns, with a pointer to a live `flock`.
    let rc = unsafe { libc::fcntl(file.as_raw_fd(), cmd, &mut lock) };
    if rc == 0 {
        return Ok(true);
    }
    let err = std::io::Error::last_os_error();
    match err.raw_os_error() {
        Some(libc::EAGAIN) | Some(libc::EACCES) => Ok(false),
        _ => Err(err),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_on_a_dir_fails_until_the_first_is_released() {
        let root = tempfile::tempdir().expect("tempdir");
        let (a, b) = (root.path().join("a"), root.path().join("b"));
        let first = lock_dirs([a.as_path()]).expect("first lock");
        assert!(a.join(LOCK_FILE).exists());
        #[cfg(target_os = "linux")]
        {
            // Open-file-description locks conflict within one process too.
            let err = lock_dirs([b.as_path(), a.as_path()]).expect_err("a is locked");
            assert!(
                err.to_string()
                    .contains("Failed to acquire lock on file .lock in"),
                "{err}"
            );
            drop(first);
            lock_dirs([a.as_path(), b.as_path()]).expect("released");
        }
        #[cfg(not(target_os = "linux"))]
        drop(first);
    }
}
