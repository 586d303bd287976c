//! Kafka's `FileRecords` slice: whole batches of one segment, named by file and position, so a
//! fetch response can carry them to the socket without copying them through the heap.
//!
//! Each segment keeps one read-only mapping of its `.log` file, shared by every reply that
//! carries its bytes and unmapped when the last of them is gone (the segment holds it weakly).
//! However many replies are queued, a segment costs at most one mapping (issue #10: a mapping
//! per queued reply exhausted `vm.max_map_count` with 520 non-reading consumers). The mapping
//! gives the bytes an address (what the protocol encoder needs); the connection writer sends
//! them from the file with `sendfile` where it can, so the mapped pages are never touched and
//! never count in the broker's resident memory.

use bytes::Bytes;
use memmap2::{Mmap, MmapOptions};
use parking_lot::Mutex;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::{Arc, Weak};

use super::error::LogError;

/// Mappings are sized in steps of this much, so a growing active segment is remapped at most
/// once per step, not on every read past the last mapped byte. Mapping past the end of the
/// file only reserves address space: no byte beyond the committed size is ever read.
const MAP_STEP: u64 = 16 << 20;

/// A segment file's shared mapping, kept by the segment only as long as a reader uses it.
pub(super) struct SharedMapping {
    /// The last mapping handed out; a new one is made when it is gone or too short.
    last: Mutex<Weak<Mmap>>,
}

/// Owns one mapping for the `Bytes` that borrow it.
struct MapOwner(Arc<Mmap>);

impl AsRef<[u8]> for MapOwner {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl SharedMapping {
    pub(super) fn new() -> SharedMapping {
        SharedMapping {
            last: Mutex::new(Weak::new()),
        }
    }

    /// A mapping of `file` that covers at least its first `end` bytes.
    ///
    /// Mapping is safe because a segment's committed bytes never change while the broker runs:
    /// the file only grows, recovery truncates before any reader exists, and deletion or
    /// replacement unlinks the file, which leaves existing mappings valid.
    fn covering(&self, file: &File, path: &Path, end: u64) -> Result<Arc<Mmap>, LogError> {
        let mut last = self.last.lock();
        if let Some(map) = last.upgrade()
            && map.len() as u64 >= end
        {
            return Ok(map);
        }
        let len = end.div_ceil(MAP_STEP).max(1) * MAP_STEP;
        let len = usize::try_from(len).map_err(|_| {
            LogError::io(
                path,
                std::io::Error::other("segment larger than the address space"),
            )
        })?;
        // SAFETY: see the doc comment: only committed, immutable bytes are ever read.
        let map =
            unsafe { MmapOptions::new().len(len).map(file) }.map_err(|e| LogError::io(path, e))?;
        let map = Arc::new(map);
        *last = Arc::downgrade(&map);
        Ok(map)
    }
}

/// Whole batches of one segment: `len` bytes of `file` at `position`.
#[derive(Clone)]
pub struct FileRecords {
    /// The segment's open file (kept open by this slice even if the segment is deleted);
    /// `None` for an empty slice.
    file: Option<Arc<File>>,
    /// Byte position of the first batch in the file.
    position: u64,
    /// The same bytes through the segment's shared mapping (empty for an empty slice).
    bytes: Bytes,
}

impl FileRecords {
    /// The slice `position..position + len` of a segment file, borrowed through its shared
    /// mapping. Nothing is read: the pages are touched only if the bytes are dereferenced.
    pub(super) fn slice(
        file: &Arc<File>,
        path: &Path,
        mapping: &SharedMapping,
        position: u64,
        len: usize,
    ) -> Result<FileRecords, LogError> {
        if len == 0 {
            return Ok(FileRecords::empty());
        }
        let start = usize::try_from(position)
            .map_err(|_| LogError::io(path, std::io::Error::other("position out of range")))?;
        let map = mapping.covering(file, path, position + len as u64)?;
        let bytes = Bytes::from_owner(MapOwner(map)).slice(start..start + len);
        Ok(FileRecords {
            file: Some(Arc::clone(file)),
            position,
            bytes,
        })
    }

    /// No records.
    pub fn empty() -> FileRecords {
        FileRecords {
            file: None,
            position: 0,
            bytes: Bytes::new(),
        }
    }

    /// Bytes in the slice.
    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    /// True when the slice holds no batch.
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// The bytes through the mapping. Reading them faults the pages into this process; the
    /// fetch path only hands them to the encoder, which the connection writer then replaces by
    /// the file itself.
    pub fn bytes(&self) -> &Bytes {
        &self.bytes
    }

    /// The segment file holding the records (`None` when empty).
    pub fn file(&self) -> Option<&File> {
        self.file.as_deref()
    }

    /// Byte position of the slice in the file.
    pub fn position(&self) -> u64 {
        self.position
    }

    /// Reads `buf.len()` bytes of the slice starting `at` bytes into it with a positioned
    /// read (the portable way to send the slice without touching the mapping).
    pub fn read_at(&self, at: usize, buf: &mut [u8]) -> std::io::Result<()> {
        match &self.file {
            Some(file) if at + buf.len() <= self.len() => {
                file.read_exact_at(buf, self.position + at as u64)
            }
            _ if buf.is_empty() => Ok(()),
            _ => Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "read past the end of the records",
            )),
        }
    }
}

impl std::ops::Deref for FileRecords {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        &self.bytes
    }
}

impl std::fmt::Debug for FileRecords {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileRecords")
            .field("position", &self.position)
            .field("len", &self.len())
            .finish()
    }
}
