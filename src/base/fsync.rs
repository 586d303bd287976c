//! Durable flushes. On macOS `fsync(2)` only hands data to the drive, whose cache may still
//! lose it on power failure; `fcntl(F_FULLFSYNC)` asks the drive to persist it, which is what
//! Kafka's `FileChannel.force` promises on other systems.

use std::fs::File;
use std::io;
use std::path::Path;

/// Makes the file's data and metadata durable.
pub fn fsync_file(file: &File) -> io::Result<()> {
    #[cfg(target_os = "macos")]
    {
        use std::os::fd::AsRawFd;
        // SAFETY: plain fcntl on a descriptor owned by `file` for the duration of the call.
        let rc = unsafe { libc::fcntl(file.as_raw_fd(), libc::F_FULLFSYNC) };
        if rc == 0 {
            return Ok(());
        }
        // Some file systems (network, FUSE) lack F_FULLFSYNC; fall back to fsync.
    }
    file.sync_all()
}

/// Makes a directory's entries (files created, renamed or removed in it) durable.
pub fn fsync_dir(dir: &Path) -> io::Result<()> {
    super::fs::check(super::fs::Op::Sync, dir)?;
    fsync_file(&File::open(dir)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn syncs_files_and_dirs() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("f");
        let mut f = File::create(&path).expect("create");
        f.write_all(b"x").expect("write");
        fsync_file(&f).expect("fsync file");
        fsync_dir(dir.path()).expect("fsync dir");
        assert!(fsync_dir(&dir.path().join("missing")).is_err());
    }
}
