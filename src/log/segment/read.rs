//! Locating and reading batches in a segment: header scans from an index position, and the
//! file slice behind a fetch.

use std::os::unix::fs::FileExt;

use super::{LogSegment, ReadProgress};
use crate::log::batch::{BatchHeader, RECORD_BATCH_OVERHEAD};
use crate::log::error::LogError;
use crate::log::file_records::FileRecords;

impl LogSegment {
    /// Reads the batch header at byte `position`; `None` past the committed end or if the
    /// header is incomplete.
    pub fn read_header(&self, position: u64) -> Result<Option<BatchHeader>, LogError> {
        if position + RECORD_BATCH_OVERHEAD as u64 > self.size() {
            return Ok(None);
        }
        let mut buf = [0u8; RECORD_BATCH_OVERHEAD];
        self.file
            .read_exact_at(&mut buf, position)
            .map_err(|e| LogError::io(&self.log_path, e))?;
        Ok(BatchHeader::parse(&buf))
    }

    /// Where a timestamp search should start scanning: the time index gives the offset of the
    /// last entry below `target`, the offset index its batch's position (Kafka's
    /// `LogSegment.findOffsetByTimestamp`).
    pub fn timestamp_search_start(&self, target: i64, starting_offset: i64) -> u64 {
        let state = self.state.read();
        let (_, offset) = state.time_index.lookup(target);
        u64::from(state.offset_index.lookup(offset.max(starting_offset)).1)
    }

    /// Reads `len` bytes at `position` (whole batches located earlier).
    pub fn read_bytes(&self, position: u64, len: usize) -> Result<Vec<u8>, LogError> {
        let mut buf = vec![0u8; len];
        self.file
            .read_exact_at(&mut buf, position)
            .map_err(|e| LogError::io(&self.log_path, e))?;
        Ok(buf)
    }

    /// Position and header of the first batch whose last offset is >= `offset`, found through
    /// the offset index and a short scan of batch headers. `None` if no such batch here.
    pub fn translate_offset(&self, offset: i64) -> Result<Option<(u64, BatchHeader)>, LogError> {
        let (_, start) = self.state.read().offset_index.lookup(offset);
        self.find_batch_from(u64::from(start), |h| h.last_offset() >= offset)
    }

    /// Scans batch headers from `position` for the first one matching `found`.
    pub fn find_batch_from(
        &self,
        mut position: u64,
        found: impl Fn(&BatchHeader) -> bool,
    ) -> Result<Option<(u64, BatchHeader)>, LogError> {
        while let Some(header) = self.read_header(position)? {
            if found(&header) {
                return Ok(Some((position, header)));
            }
            if header.size() < RECORD_BATCH_OVERHEAD {
                return Ok(None);
            }
            position += header.size() as u64;
        }
        Ok(None)
    }

    /// Where a fetch starting at `offset` reads in this segment: the byte position of the batch
    /// containing `offset` and how many bytes to read (at most `max_bytes`, but the first batch
    /// whole with `min_one_batch`, KIP-74). `Err(exhausted)` when there is nothing to read here.
    fn fetch_range(
        &self,
        offset: i64,
        max_bytes: usize,
        min_one_batch: bool,
        max_offset_exclusive: i64,
    ) -> Result<Result<(u64, usize), bool>, LogError> {
        let Some((start, first)) = self.translate_offset(offset)? else {
            return Ok(Err(true));
        };
        if first.base_offset >= max_offset_exclusive {
            return Ok(Err(false));
        }
        let available = self.size().saturating_sub(start) as usize;
        let mut want = available.min(max_bytes);
        if want < first.size() && min_one_batch {
            want = first.size().min(available);
        }
        Ok(Ok((start, want)))
    }

    /// The whole batches starting with the one containing `offset`: at
    /// most `max_bytes`, none at or past `max_offset_exclusive`, and with `min_one_batch` the
    /// first batch whole even if larger than `max_bytes` (KIP-74). Batch boundaries are found
    /// by reading headers (61 bytes each); the records themselves are not read but returned as
    /// a slice of the file, as Kafka's `LogSegment.read` returns `FileRecords`.
    pub fn read(
        &self,
        offset: i64,
        max_bytes: usize,
        min_one_batch: bool,
        max_offset_exclusive: i64,
    ) -> Result<(FileRecords, ReadProgress), LogError> {
        let (start, want) =
            match self.fetch_range(offset, max_bytes, min_one_batch, max_offset_exclusive)? {
                Ok(range) => range,
                Err(exhausted) => {
                    return Ok((
                        FileRecords::empty(),
                        ReadProgress {
                            bytes: 0,
                            exhausted,
                            next_offset: None,
                        },
                    ));
                }
            };
        let limit = start + want as u64;
        let mut end = start;
        let mut next_offset = None;
        while let Some(header) = self.read_header(end)? {
            let batch_size = header.size() as u64;
            if header.base_offset >= max_offset_exclusive
                || header.size() < RECORD_BATCH_OVERHEAD
                || end + batch_size > limit
            {
                break;
            }
            end += batch_size;
            next_offset = Some(header.last_offset() + 1);
        }
        let len = (end - start) as usize;
        let records = FileRecords::slice(&self.file, &self.log_path, &self.mapping, start, len)?;
        Ok((
            records,
            ReadProgress {
                bytes: len,
                exhausted: end >= self.size(),
                next_offset,
            },
        ))
    }

    /// The committed bytes of the whole segment, through its shared read-only mapping, for
    /// the log cleaner's sequential passes over segments that are no longer active (so never
    /// rewritten). `None` for an empty segment.
    pub fn map_all(&self) -> Result<Option<FileRecords>, LogError> {
        let size = self.size() as usize;
        if size == 0 {
            return Ok(None);
        }
        FileRecords::slice(&self.file, &self.log_path, &self.mapping, 0, size).map(Some)
    }

    /// Byte position from which a scan finds `offset`: the offset index entry at or below it.
    pub fn position_of(&self, offset: i64) -> u64 {
        u64::from(self.state.read().offset_index.lookup(offset).1)
    }

    /// Offset the next batch appended here would get: scans from the last offset index entry
    /// to the end (at most one index interval), as Kafka's `readNextOffset`.
    pub fn read_next_offset(&self) -> Result<i64, LogError> {
        let start = {
            let state = self.state.read();
            match state.offset_index.last_offset() {
                Some(last) => u64::from(state.offset_index.lookup(last).1),
                None => 0,
            }
        };
        let mut next = self.base_offset;
        let mut position = start;
        while let Some(header) = self.read_header(position)? {
            if header.size() < RECORD_BATCH_OVERHEAD {
                break;
            }
            next = header.last_offset() + 1;
            position += header.size() as u64;
        }
        Ok(next)
    }
}
