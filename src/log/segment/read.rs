//! Locating and reading batches in a segment: header scans from an index position and the
//! single positioned read behind a fetch.

use bytes::Bytes;
use std::os::unix::fs::FileExt;

use super::{LogSegment, ReadProgress};
use crate::log::batch::{BatchHeader, RECORD_BATCH_OVERHEAD};
use crate::log::error::LogError;

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

    /// Length of the whole batches at the front of `read` below `max_offset_exclusive`, and
    /// whether they reach the segment's end.
    fn whole_batches(&self, read: &[u8], start: u64, max_offset_exclusive: i64) -> ReadProgress {
        let mut end = 0usize;
        while let Some(header) = BatchHeader::parse(&read[end..]) {
            let batch_size = header.size();
            if header.base_offset >= max_offset_exclusive
                || batch_size < RECORD_BATCH_OVERHEAD
                || end + batch_size > read.len()
            {
                break;
            }
            end += batch_size;
        }
        ReadProgress {
            bytes: end,
            exhausted: start + end as u64 >= self.size(),
        }
    }

    /// Appends to `out` the whole batches starting with the one containing `offset`, at most
    /// `max_bytes`, and none at or past `max_offset_exclusive`. With `min_one_batch` the first
    /// batch is taken whole even if larger than `max_bytes` (KIP-74). One positioned read.
    pub fn read_into(
        &self,
        offset: i64,
        max_bytes: usize,
        min_one_batch: bool,
        max_offset_exclusive: i64,
        out: &mut Vec<u8>,
    ) -> Result<ReadProgress, LogError> {
        let (start, want) =
            match self.fetch_range(offset, max_bytes, min_one_batch, max_offset_exclusive)? {
                Ok(range) => range,
                Err(exhausted) => {
                    return Ok(ReadProgress {
                        bytes: 0,
                        exhausted,
                    });
                }
            };
        let old_len = out.len();
        out.resize(old_len + want, 0);
        if let Err(e) = self.file.read_exact_at(&mut out[old_len..], start) {
            out.truncate(old_len);
            return Err(LogError::io(&self.log_path, e));
        }
        let progress = self.whole_batches(&out[old_len..], start, max_offset_exclusive);
        out.truncate(old_len + progress.bytes);
        Ok(progress)
    }

    /// Like [`read_into`](Self::read_into), but maps the bytes instead of copying them: the
    /// result borrows the page cache through a read-only mapping that lives as long as the
    /// returned `Bytes`. A fetch then costs no buffer allocation, zeroing or read copy (the
    /// response encoder copies once, straight from the page cache).
    ///
    /// Safe to map because a segment's `.log` only grows while the broker runs: the committed
    /// range read here is never rewritten, and files are only truncated by recovery before any
    /// reader exists. Deleting a segment unlinks it, which leaves mappings valid.
    pub fn read_mapped(
        &self,
        offset: i64,
        max_bytes: usize,
        min_one_batch: bool,
        max_offset_exclusive: i64,
    ) -> Result<(Bytes, ReadProgress), LogError> {
        let (start, want) =
            match self.fetch_range(offset, max_bytes, min_one_batch, max_offset_exclusive)? {
                Ok(range) => range,
                Err(exhausted) => {
                    return Ok((
                        Bytes::new(),
                        ReadProgress {
                            bytes: 0,
                            exhausted,
                        },
                    ));
                }
            };
        if want == 0 {
            return Ok((
                Bytes::new(),
                ReadProgress {
                    bytes: 0,
                    exhausted: true,
                },
            ));
        }
        let page = page_size();
        let aligned = start - start % page;
        let lead = (start - aligned) as usize;
        // SAFETY: see the doc comment: the mapped range is committed, immutable data.
        let map = unsafe {
            memmap2::MmapOptions::new()
                .offset(aligned)
                .len(lead + want)
                .map(&self.file)
        }
        .map_err(|e| LogError::io(&self.log_path, e))?;
        let progress = self.whole_batches(&map[lead..], start, max_offset_exclusive);
        let bytes = Bytes::from_owner(map).slice(lead..lead + progress.bytes);
        Ok((bytes, progress))
    }

    /// Maps the committed bytes of the whole segment read-only, for the log cleaner's
    /// sequential passes over segments that are no longer active (so never rewritten; see
    /// [`read_mapped`](Self::read_mapped)). `None` for an empty segment.
    pub fn map_all(&self) -> Result<Option<memmap2::Mmap>, LogError> {
        let size = self.size() as usize;
        if size == 0 {
            return Ok(None);
        }
        // SAFETY: see read_mapped: the mapped range is committed, immutable data.
        let map = unsafe { memmap2::MmapOptions::new().len(size).map(&self.file) }
            .map_err(|e| LogError::io(&self.log_path, e))?;
        // Only a hint: a failure changes nothing but read-ahead.
        let _ = map.advise(memmap2::Advice::Sequential);
        Ok(Some(map))
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

/// The OS page size (mapping offsets must be multiples of it: 4 KiB on x86_64 Linux, 16 KiB on
/// Apple Silicon).
fn page_size() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if size > 0 { size as u64 } else { 4096 }
}
