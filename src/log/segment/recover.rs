//! Start-up recovery of a segment that may hold a torn or corrupt tail.

use std::os::unix::fs::FileExt;
use std::sync::atomic::Ordering;

use super::{LogSegment, RecoveryOutcome, index_batch};
use crate::log::batch::{RECORD_BATCH_OVERHEAD, check_stored_batch};
use crate::log::error::LogError;

impl LogSegment {
    /// Rebuilds the indexes by scanning every batch with CRC checks and truncates the file at
    /// the first byte that is not part of a valid batch (Kafka's `LogSegment.recover`).
    pub fn recover(&self, index_interval_bytes: usize) -> Result<RecoveryOutcome, LogError> {
        let file_len = self
            .file
            .metadata()
            .map_err(|e| LogError::io(&self.log_path, e))?
            .len();
        // Let read_header see the whole file while scanning.
        self.size.store(file_len, Ordering::Release);
        let mut state = self.state.write();
        state.offset_index.reset();
        state.time_index.reset();
        state.max_timestamp = -1;
        state.offset_of_max_timestamp = self.base_offset;
        state.bytes_since_last_index_entry = 0;
        state.rolling_based_timestamp = None;
        let mut position = 0u64;
        let mut next_offset = None;
        let mut buf = Vec::new();
        let mut index_failed = false;
        while let Some(header) = self.read_header(position)? {
            let size = header.size();
            if size < RECORD_BATCH_OVERHEAD || position + size as u64 > file_len {
                tracing::warn!(
                    "Found invalid messages in log segment {} at byte offset {position}: batch of {size} bytes does not fit",
                    self.log_path.display()
                );
                break;
            }
            buf.resize(size, 0);
            self.file
                .read_exact_at(&mut buf, position)
                .map_err(|e| LogError::io(&self.log_path, e))?;
            if let Err(reason) = check_stored_batch(&buf) {
                tracing::warn!(
                    "Found invalid messages in log segment {} at byte offset {position}: {reason}",
                    self.log_path.display()
                );
                break;
            }
            if position == 0 {
                state.rolling_based_timestamp = Some(header.max_timestamp);
            }
            if let Err(e) = index_batch(&mut state, &header, position, index_interval_bytes) {
                // The index only speeds up lookups: without the entry a lookup scans further.
                if !index_failed {
                    tracing::warn!(
                        "Could not write an index entry while recovering {}: {e}",
                        self.log_path.display()
                    );
                }
                index_failed = true;
            }
            next_offset = Some(header.last_offset() + 1);
            position += size as u64;
        }
        let truncated_bytes = file_len - position;
        if truncated_bytes > 0 {
            self.file
                .set_len(position)
                .map_err(|e| LogError::io(&self.log_path, e))?;
        }
        drop(state);
        self.size.store(position, Ordering::Release);
        Ok(RecoveryOutcome {
            truncated_bytes,
            next_offset,
        })
    }
}

impl LogSegment {
    /// After a clean shutdown: whether every batch from the last offset index entry to the end
    /// of the file is whole and passes its CRC, with nothing after the last one. Costs one
    /// index interval and a batch of reading, and catches a tail that a failed write left
    /// behind without the shutdown knowing; `false` means the segment needs [`Self::recover`].
    pub fn tail_is_valid(&self) -> Result<bool, LogError> {
        let file_len = self
            .file
            .metadata()
            .map_err(|e| LogError::io(&self.log_path, e))?
            .len();
        let mut position = {
            let state = self.state.read();
            match state.offset_index.last_offset() {
                Some(last) => u64::from(state.offset_index.lookup(last).1),
                None => 0,
            }
        };
        let mut buf = Vec::new();
        while position < file_len {
            let Some(header) = self.read_header(position)? else {
                return Ok(false);
            };
            let size = header.size();
            if size < RECORD_BATCH_OVERHEAD || position + size as u64 > file_len {
                return Ok(false);
            }
            buf.resize(size, 0);
            self.file
                .read_exact_at(&mut buf, position)
                .map_err(|e| LogError::io(&self.log_path, e))?;
            if check_stored_batch(&buf).is_err() {
                return Ok(false);
            }
            position += size as u64;
        }
        Ok(position == file_len)
    }
}
