//! Kafka's framing: every request and response is a 4-byte big-endian size followed by that
//! many bytes (header, then body).

use crate::log::FileRecords;
use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, RequestHeader, ResponseHeader, ResponseKind};
use kafka_protocol::protocol::buf::ByteBufMut;
use kafka_protocol::protocol::{Decodable, Encodable, decode_request_header_from_buffer};

/// A frame that must close the connection, with the reason to log.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// The size prefix exceeds `socket.request.max.bytes`.
    #[error("Invalid receive (size = {size} larger than {max})")]
    TooLarge {
        /// The size the client announced.
        size: i64,
        /// `socket.request.max.bytes`.
        max: i32,
    },
    /// The size prefix is negative.
    #[error("Invalid receive (size = {0})")]
    Negative(i32),
    /// The request header does not parse.
    #[error("Error parsing request header: {0}")]
    Header(String),
    /// The API key is not one Kafka defines.
    #[error("Unknown API key {0}")]
    UnknownApiKey(i16),
}

/// What a partially received frame may reserve beyond the bytes already here.
const RESERVE_AHEAD: usize = 64 * 1024;

/// Splits one complete frame off the front of `buf`, if there is one. Reserves room for a
/// partially received frame as it arrives: at most twice what is here (or 64 KiB), since the
/// size is the client's claim and memory must follow the bytes received, not claims: four bytes
/// would otherwise set aside up to `socket.request.max.bytes` on every connection.
pub fn next_frame(buf: &mut BytesMut, max_size: i32) -> Result<Option<Bytes>, FrameError> {
    if buf.len() < 4 {
        return Ok(None);
    }
    let size = i32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]);
    if size < 0 {
        return Err(FrameError::Negative(size));
    }
    if size > max_size {
        return Err(FrameError::TooLarge {
            size: size as i64,
            max: max_size,
        });
    }
    let total = 4 + size as usize;
    if buf.len() < total {
        buf.reserve((total - buf.len()).min(buf.len().max(RESERVE_AHEAD)));
        return Ok(None);
    }
    buf.advance(4);
    Ok(Some(buf.split_to(size as usize).freeze()))
}

/// Parses the request header, leaving `frame` at the start of the body.
pub fn parse_header(frame: &mut Bytes) -> Result<(RequestHeader, ApiKey), FrameError> {
    if frame.len() < 4 {
        return Err(FrameError::Header(format!(
            "frame of {} bytes is too short",
            frame.len()
        )));
    }
    let key = i16::from_be_bytes([frame[0], frame[1]]);
    let api_key = ApiKey::try_from(key).map_err(|_| FrameError::UnknownApiKey(key))?;
    let original = frame.clone();
    match decode_request_header_from_buffer(frame) {
        Ok(header) => Ok((header, api_key)),
        // A client newer than us may send ApiVersions at a version whose header we would read
        // as flexible when it is not: retry as header v1 so KIP-511 can answer it.
        Err(_) if api_key == ApiKey::ApiVersions => {
            *frame = original;
            RequestHeader::decode(frame, 1)
                .map(|h| (h, api_key))
                .map_err(|e| FrameError::Header(e.to_string()))
        }
        Err(e) => Err(FrameError::Header(e.to_string())),
    }
}

/// One piece of outgoing bytes: encoded here, or a slice of a segment file sent from the file.
pub(crate) enum Part {
    /// Bytes encoded in memory.
    Inline(Bytes),
    /// Records sent straight from their segment file.
    File(FileRecords),
}

impl Part {
    /// Bytes this part puts on the wire.
    pub fn len(&self) -> usize {
        match self {
            Part::Inline(b) => b.len(),
            Part::File(f) => f.len(),
        }
    }
}

/// Replies encoded and waiting for the socket, in order: a run of small frames stays in one
/// buffer (one write for many replies), and a fetch's records stay in their file.
#[derive(Default)]
pub(crate) struct Outgoing {
    /// Finished parts, oldest first.
    parts: Vec<Part>,
    /// Inline bytes after the last finished part, still growing.
    tail: BytesMut,
    /// Bytes in `parts` and `tail`.
    len: usize,
}

impl Outgoing {
    /// Bytes waiting to be written.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when nothing waits.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Queues everything `other` holds after what this holds.
    pub fn append(&mut self, mut other: Outgoing) {
        if other.parts.is_empty() {
            self.tail.extend_from_slice(&other.tail);
        } else {
            self.finish_tail();
            other.finish_tail();
            self.parts.append(&mut other.parts);
        }
        self.len += other.len;
    }

    /// Takes everything queued, in order.
    pub fn take(&mut self) -> Vec<Part> {
        self.finish_tail();
        self.len = 0;
        std::mem::take(&mut self.parts)
    }

    fn finish_tail(&mut self) {
        if !self.tail.is_empty() {
            let tail = self.tail.split().freeze();
            self.parts.push(Part::Inline(tail));
        }
    }

    /// Appends one response frame (size, header, body). The `records` fields of a fetch body
    /// that borrow `files` (in order) become file parts instead of being copied. On error
    /// nothing is appended.
    pub fn push_response(
        &mut self,
        correlation_id: i32,
        api_key: ApiKey,
        version: i16,
        body: &ResponseKind,
        files: Vec<FileRecords>,
    ) -> anyhow::Result<()> {
        let header = ResponseHeader::default().with_correlation_id(correlation_id);
        let header_version = api_key.response_header_version(version);
        match body {
            ResponseKind::Fetch(fetch) if !files.is_empty() => {
                let size = header.compute_size(header_version)? + fetch.compute_size(version)?;
                let size = i32::try_from(size)
                    .map_err(|_| anyhow::anyhow!("response of {size} bytes is too large"))?;
                let mut frame = FrameBuf {
                    parts: Vec::new(),
                    head: BytesMut::with_capacity(256),
                    files: files.into_iter(),
                };
                frame.head.put_i32(size);
                header.encode(&mut frame, header_version)?;
                fetch.encode(&mut frame, version)?;
                frame.finish();
                self.finish_tail();
                for part in frame.parts {
                    self.len += part.len();
                    self.parts.push(part);
                }
            }
            _ => {
                let start = self.tail.len();
                let encoded = (|| {
                    self.tail.put_i32(0);
                    header.encode(&mut self.tail, header_version)?;
                    body.encode(&mut self.tail, version)
                })();
                if let Err(e) = encoded {
                    self.tail.truncate(start);
                    return Err(e);
                }
                let size = (self.tail.len() - start - 4) as i32;
                self.tail[start..start + 4].copy_from_slice(&size.to_be_bytes());
                self.len += self.tail.len() - start;
            }
        }
        Ok(())
    }
}

/// The encoder's buffer for a fetch frame: bytes go to `head`, except a slice that is exactly
/// the next expected file slice's mapped bytes, which becomes a file part. Were a slice ever
/// not recognised, its bytes would be copied from the mapping: slower, never wrong.
struct FrameBuf {
    /// Parts finished so far.
    parts: Vec<Part>,
    /// Bytes since the last file part.
    head: BytesMut,
    /// File slices the body borrows, in encoding order.
    files: std::vec::IntoIter<FileRecords>,
}

impl FrameBuf {
    fn finish(&mut self) {
        if !self.head.is_empty() {
            self.parts.push(Part::Inline(self.head.split().freeze()));
        }
    }
}

// SAFETY: every method delegates to `head`, a `BytesMut`, whose own implementation upholds the
// trait's contract.
unsafe impl BufMut for FrameBuf {
    fn remaining_mut(&self) -> usize {
        self.head.remaining_mut()
    }

    unsafe fn advance_mut(&mut self, cnt: usize) {
        // SAFETY: the caller's guarantee about `cnt` is passed on unchanged.
        unsafe { self.head.advance_mut(cnt) }
    }

    fn chunk_mut(&mut self) -> &mut bytes::buf::UninitSlice {
        self.head.chunk_mut()
    }

    fn put_slice(&mut self, src: &[u8]) {
        let next = self.files.as_slice().first();
        if let Some(file) = next
            && !src.is_empty()
            && src.as_ptr() == file.bytes().as_ptr()
            && src.len() == file.len()
        {
            self.finish();
            if let Some(file) = self.files.next() {
                self.parts.push(Part::File(file));
            }
            return;
        }
        self.head.put_slice(src);
    }
}

impl ByteBufMut for FrameBuf {
    fn offset(&self) -> usize {
        self.head.len()
    }

    // Message encoders never seek or read back (only the record batch encoder does, which a
    // response never runs): these act on the bytes since the last file part.
    fn seek(&mut self, offset: usize) {
        self.head.resize(offset, 0);
    }

    fn range(&mut self, r: std::ops::Range<usize>) -> &mut [u8] {
        &mut self.head[r]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_for_a_whole_frame() {
        let mut buf = BytesMut::from(&[0, 0, 0, 3, 1, 2][..]);
        assert!(next_frame(&mut buf, 100).unwrap().is_none());
        buf.put_u8(3);
        buf.put_slice(&[0, 0]);
        assert_eq!(&next_frame(&mut buf, 100).unwrap().unwrap()[..], &[1, 2, 3]);
        assert_eq!(&buf[..], &[0, 0]);
    }

    #[test]
    fn reserves_for_bytes_received_not_for_the_claimed_size() {
        // Found by fuzzing: a 4-byte prefix claiming 16 MiB reserved 16 MiB.
        let mut buf = BytesMut::from(&16_000_000i32.to_be_bytes()[..]);
        assert!(next_frame(&mut buf, i32::MAX).unwrap().is_none());
        assert!(buf.capacity() <= 2 * RESERVE_AHEAD, "{}", buf.capacity());
        // As bytes arrive the room grows with them, so a large frame needs few reallocations.
        buf.resize(1 << 20, 0);
        assert!(next_frame(&mut buf, i32::MAX).unwrap().is_none());
        assert!(buf.capacity() >= 2 << 20, "{}", buf.capacity());
        assert!(buf.capacity() <= 3 << 20, "{}", buf.capacity());
    }

    #[test]
    fn rejects_oversized_and_negative_sizes() {
        let mut buf = BytesMut::from(&[0, 0, 1, 0][..]);
        assert!(matches!(
            next_frame(&mut buf, 255),
            Err(FrameError::TooLarge {
                size: 256,
                max: 255
            })
        ));
        let mut buf = BytesMut::from(&[0xff, 0xff, 0xff, 0xff][..]);
        assert!(matches!(
            next_frame(&mut buf, 255),
            Err(FrameError::Negative(-1))
        ));
    }

    #[test]
    fn header_errors_are_reported_not_panics() {
        for bad in [
            &[][..],
            &[0, 1][..],
            &[0x7f, 0x7f, 0, 0, 0, 0, 0, 0][..],
            &[0, 18, 0, 3, 0][..],
        ] {
            let mut frame = Bytes::copy_from_slice(bad);
            assert!(parse_header(&mut frame).is_err(), "{bad:?}");
        }
    }
}
