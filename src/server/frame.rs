//! Kafka's framing: every request and response is a 4-byte big-endian size followed by that
//! many bytes (header, then body).

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, RequestHeader, ResponseHeader, ResponseKind};
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

/// Appends one response frame (size, header, body) to `out`.
pub fn encode_response(
    out: &mut BytesMut,
    correlation_id: i32,
    api_key: ApiKey,
    version: i16,
    body: &ResponseKind,
) -> anyhow::Result<()> {
    let start = out.len();
    out.put_i32(0);
    let header = ResponseHeader::default().with_correlation_id(correlation_id);
    header.encode(out, api_key.response_header_version(version))?;
    body.encode(out, version)?;
    let size = (out.len() - start - 4) as i32;
    out[start..start + 4].copy_from_slice(&size.to_be_bytes());
    Ok(())
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
