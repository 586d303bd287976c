//! Decompression of record batch payloads, for validating produced batches record by record and
//! for the few reads that must look inside a compressed batch (timestamp lookups, the log
//! cleaner); and compression, for the batches the cleaner rewrites. All codecs are pure Rust, so
//! the broker builds on macOS without a C toolchain.
//!
//! Codec ids are the batch attribute's low three bits: 1 gzip, 2 snappy, 3 lz4, 4 zstd.
//!
//! Payloads are streamed, never expanded whole: a few kilobytes of zstd can describe gigabytes
//! (a 65 KB batch once took 2.1 GB to expand), so memory must not follow the expanded size.

use std::io::{self, BufRead, BufReader, Read};

/// Snappy-java's stream header; Kafka's Java producer frames snappy data this way.
const XERIAL_MAGIC: &[u8] = b"\x82SNAPPY\x00";
const XERIAL_HEADER_LEN: usize = 16;
/// The most a snappy block can expand per byte: a 3-byte copy element writes at most 64 bytes.
/// A block claiming more than this is corrupt, so its claim is refused before it is allocated.
const SNAPPY_MAX_EXPANSION: usize = 22;

/// Why a compressed payload could not be expanded.
#[derive(Debug, thiserror::Error)]
pub enum DecompressError {
    /// The codec id is not one Kafka defines.
    #[error("unknown compression type id {0}")]
    UnknownCodec(u8),
    /// The payload is not valid for its codec.
    #[error("invalid {codec} data: {reason}")]
    Invalid {
        /// Codec name.
        codec: &'static str,
        /// What the decoder reported.
        reason: String,
    },
}

fn invalid(codec: &'static str, reason: impl ToString) -> DecompressError {
    DecompressError::Invalid {
        codec,
        reason: reason.to_string(),
    }
}

/// The expanded bytes of `data`, compressed with codec `codec` (0: `data` as is), as a stream.
///
/// Memory stays bounded whatever `data` expands to: gzip and lz4 keep fixed windows (32 KiB, at
/// most 4 MiB blocks); a zstd frame may ask for at most a 128 MiB window (ruzstd's default, the
/// limit libzstd and so Kafka's decoder apply: larger frames are refused, as Kafka refuses
/// them); snappy expands one block at a time, at most 22 times the block's size. Read errors
/// name the codec.
pub fn reader<'a>(codec: u8, data: &'a [u8]) -> Result<Box<dyn BufRead + 'a>, DecompressError> {
    Ok(match codec {
        0 => Box::new(data),
        1 => Box::new(BufReader::new(Named::new(
            "gzip",
            flate2::bufread::MultiGzDecoder::new(data),
        ))),
        2 => Box::new(BufReader::new(Named::new("snappy", Snappy::new(data)?))),
        3 => {
            if !lz4_frame_is_complete(data) {
                return Err(invalid("lz4", "truncated frame"));
            }
            Box::new(BufReader::new(Named::new(
                "lz4",
                lz4_flex::frame::FrameDecoder::new(data),
            )))
        }
        4 => Box::new(BufReader::new(Named::new(
            "zstd",
            ruzstd::decoding::StreamingDecoder::new(data).map_err(|e| invalid("zstd", e))?,
        ))),
        other => return Err(DecompressError::UnknownCodec(other)),
    })
}

/// Snappy-java's block size: the Java client and broker frame snappy data in 32 KiB blocks.
const XERIAL_BLOCK: usize = 32 * 1024;

/// Compresses `data` with codec `codec` (0 copies it) as Kafka's broker writes each codec:
/// gzip at the default level, snappy framed by snappy-java (xerial, 32 KiB blocks), lz4 as a
/// standard frame of independent 64 KiB blocks without checksums (Kafka's
/// `Lz4BlockOutputStream`), zstd as one frame.
pub fn compress(codec: u8, data: &[u8]) -> Result<Vec<u8>, DecompressError> {
    use std::io::Write;
    match codec {
        0 => Ok(data.to_vec()),
        1 => {
            let mut gz = flate2::write::GzEncoder::new(
                Vec::with_capacity(data.len() / 2),
                flate2::Compression::default(),
            );
            gz.write_all(data).map_err(|e| invalid("gzip", e))?;
            gz.finish().map_err(|e| invalid("gzip", e))
        }
        2 => {
            let mut out = Vec::with_capacity(XERIAL_HEADER_LEN + data.len() / 2);
            out.extend_from_slice(XERIAL_MAGIC);
            out.extend_from_slice(&1i32.to_be_bytes()); // format version
            out.extend_from_slice(&1i32.to_be_bytes()); // minimum compatible version
            let mut encoder = snap::raw::Encoder::new();
            for block in data.chunks(XERIAL_BLOCK) {
                let compressed = encoder
                    .compress_vec(block)
                    .map_err(|e| invalid("snappy", e))?;
                out.extend_from_slice(&(compressed.len() as u32).to_be_bytes());
                out.extend_from_slice(&compressed);
            }
            Ok(out)
        }
        3 => {
            let info = lz4_flex::frame::FrameInfo::new()
                .block_size(lz4_flex::frame::BlockSize::Max64KB)
                .block_mode(lz4_flex::frame::BlockMode::Independent);
            let mut lz4 = lz4_flex::frame::FrameEncoder::with_frame_info(
                info,
                Vec::with_capacity(data.len() / 2),
            );
            lz4.write_all(data).map_err(|e| invalid("lz4", e))?;
            lz4.finish().map_err(|e| invalid("lz4", e))
        }
        4 => Ok(ruzstd::encoding::compress_to_vec(
            data,
            ruzstd::encoding::CompressionLevel::Fastest,
        )),
        other => Err(DecompressError::UnknownCodec(other)),
    }
}

/// All the expanded bytes of `data`, refused beyond `limit` (the cleaner rewrites whole
/// batches, so it must hold one expanded; the limit keeps a hostile batch from taking memory).
pub fn expand(codec: u8, data: &[u8], limit: u64) -> Result<Vec<u8>, DecompressError> {
    let out = expand_start(codec, data, limit.saturating_add(1))?;
    if out.len() as u64 > limit {
        return Err(invalid("records", format!("expands past {limit} bytes")));
    }
    Ok(out)
}

/// At most the first `limit` expanded bytes of `data`, for readers that only look at the
/// start of a batch (its first record).
pub fn expand_start(codec: u8, data: &[u8], limit: u64) -> Result<Vec<u8>, DecompressError> {
    let mut out = Vec::new();
    reader(codec, data)?
        .take(limit)
        .read_to_end(&mut out)
        .map_err(|e| invalid("records", e))?;
    Ok(out)
}

/// Whether an LZ4 frame at the front of `data` runs to its end mark, as far as its block sizes
/// chain (anything else is left to the decoder). lz4_flex takes a frame cut at a block
/// boundary for a complete one; Kafka's decoder refuses it, and so must Strom.
fn lz4_frame_is_complete(data: &[u8]) -> bool {
    const LZ4_MAGIC: [u8; 4] = [0x04, 0x22, 0x4d, 0x18];
    let (Some(magic), Some(&flags)) = (data.get(..4), data.get(4)) else {
        return true;
    };
    if magic != LZ4_MAGIC {
        return true;
    }
    let flag = |bit: u8| flags & bit != 0;
    // magic, FLG, BD, optional content size and dictionary id, header checksum
    let mut at = 7 + if flag(0x08) { 8 } else { 0 } + if flag(0x01) { 4 } else { 0 };
    loop {
        let Some(size) = data.get(at..at + 4) else {
            return false;
        };
        at += 4;
        let size = u32::from_le_bytes([size[0], size[1], size[2], size[3]]) & 0x7fff_ffff;
        if size == 0 {
            break;
        }
        at += size as usize + if flag(0x10) { 4 } else { 0 };
    }
    at + if flag(0x04) { 4 } else { 0 } <= data.len()
}

/// A decompressor whose read errors say which codec failed.
struct Named<R> {
    codec: &'static str,
    inner: R,
}

impl<R> Named<R> {
    fn new(codec: &'static str, inner: R) -> Named<R> {
        Named { codec, inner }
    }
}

impl<R: Read> Read for Named<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner
            .read(buf)
            .map_err(|e| io::Error::new(e.kind(), invalid(self.codec, e)))
    }
}

/// Snappy as Kafka clients send it, expanded one block at a time: xerial-framed (the Java
/// client: a 16-byte header, then blocks each behind a 4-byte length) or a single raw block
/// (librdkafka and others).
struct Snappy<'a> {
    /// Compressed bytes not yet expanded.
    rest: &'a [u8],
    /// Whether `rest` is a sequence of length-prefixed blocks rather than one raw block.
    xerial: bool,
    /// The current block, expanded.
    block: Vec<u8>,
    /// How much of `block` has been read.
    at: usize,
    decoder: snap::raw::Decoder,
}

impl<'a> Snappy<'a> {
    fn new(data: &'a [u8]) -> Result<Snappy<'a>, DecompressError> {
        let xerial = data.starts_with(XERIAL_MAGIC);
        let rest = if xerial {
            data.get(XERIAL_HEADER_LEN..)
                .ok_or_else(|| invalid("snappy", "truncated xerial header"))?
        } else {
            data
        };
        Ok(Snappy {
            rest,
            xerial,
            block: Vec::new(),
            at: 0,
            decoder: snap::raw::Decoder::new(),
        })
    }

    /// Expands the next block into `block`; false at the end of the payload.
    fn next_block(&mut self) -> Result<bool, DecompressError> {
        if self.rest.is_empty() {
            return Ok(false);
        }
        let compressed = if self.xerial {
            let len_bytes: [u8; 4] = self
                .rest
                .get(..4)
                .and_then(|b| b.try_into().ok())
                .ok_or_else(|| invalid("snappy", "truncated block length"))?;
            let len = u32::from_be_bytes(len_bytes) as usize;
            let block = self
                .rest
                .get(4..)
                .and_then(|r| r.get(..len))
                .ok_or_else(|| invalid("snappy", "truncated block"))?;
            self.rest = &self.rest[4 + len..];
            block
        } else {
            std::mem::take(&mut self.rest)
        };
        let expanded = snap::raw::decompress_len(compressed).map_err(|e| invalid("snappy", e))?;
        if expanded > compressed.len().saturating_mul(SNAPPY_MAX_EXPANSION) {
            return Err(invalid(
                "snappy",
                format!(
                    "a {}-byte block claims to expand to {expanded} bytes",
                    compressed.len()
                ),
            ));
        }
        self.block.clear();
        self.block.resize(expanded, 0);
        self.decoder
            .decompress(compressed, &mut self.block)
            .map_err(|e| invalid("snappy", e))?;
        self.at = 0;
        Ok(true)
    }
}

impl Read for Snappy<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.at == self.block.len() {
            if !self.next_block().map_err(io::Error::other)? {
                return Ok(0);
            }
        }
        let n = buf.len().min(self.block.len() - self.at);
        buf[..n].copy_from_slice(&self.block[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    const TEXT: &[u8] = b"the quick brown fox jumps over the lazy dog, the quick brown fox again";

    fn expand(codec: u8, data: &[u8]) -> io::Result<Vec<u8>> {
        let mut out = Vec::new();
        reader(codec, data)
            .map_err(io::Error::other)?
            .read_to_end(&mut out)?;
        Ok(out)
    }

    #[test]
    fn compress_round_trips_every_codec_in_kafkas_framing() {
        let big: Vec<u8> = (0..100_000u32)
            .flat_map(|i| (i % 251).to_be_bytes())
            .collect();
        for codec in 0..=4u8 {
            for data in [&b"the quick brown fox"[..], &big[..]] {
                let packed = compress(codec, data).expect("compress");
                assert_eq!(
                    super::expand(codec, &packed, 1 << 20).expect("expand"),
                    data,
                    "codec {codec}"
                );
            }
        }
        assert!(compress(2, &big).expect("snappy").starts_with(XERIAL_MAGIC));
        let packed = compress(4, &big).expect("zstd");
        assert!(
            super::expand(4, &packed, 1000).is_err(),
            "refused past the limit"
        );
        assert!(matches!(
            compress(9, b"x"),
            Err(DecompressError::UnknownCodec(9))
        ));
    }

    #[test]
    fn round_trips_every_codec() {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(TEXT).expect("gzip");
        let gz = gz.finish().expect("gzip");
        assert_eq!(expand(1, &gz).expect("gzip"), TEXT);

        let raw = snap::raw::Encoder::new()
            .compress_vec(TEXT)
            .expect("snappy");
        assert_eq!(expand(2, &raw).expect("raw snappy"), TEXT);
        let mut xerial = XERIAL_MAGIC.to_vec();
        xerial.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 1]);
        for _ in 0..2 {
            xerial.extend_from_slice(&(raw.len() as u32).to_be_bytes());
            xerial.extend_from_slice(&raw);
        }
        assert_eq!(
            expand(2, &xerial).expect("xerial snappy"),
            [TEXT, TEXT].concat()
        );

        let mut lz4 = lz4_flex::frame::FrameEncoder::new(Vec::new());
        lz4.write_all(TEXT).expect("lz4");
        assert_eq!(expand(3, &lz4.finish().expect("lz4")).expect("lz4"), TEXT);

        let zstd =
            ruzstd::encoding::compress_to_vec(TEXT, ruzstd::encoding::CompressionLevel::Fastest);
        assert_eq!(expand(4, &zstd).expect("zstd"), TEXT);
        assert_eq!(expand(0, TEXT).expect("none"), TEXT);
    }

    #[test]
    fn rejects_garbage_and_unknown_codecs() {
        assert!(matches!(
            reader(7, TEXT),
            Err(DecompressError::UnknownCodec(7))
        ));
        for codec in 1..=4 {
            let err = expand(codec, b"\x82SNAPPY\x00garbage-garbage-garbage").unwrap_err();
            assert!(
                err.to_string().starts_with("invalid "),
                "codec {codec}: {err}"
            );
        }
    }

    #[test]
    fn refuses_impossible_claims_and_cut_frames() {
        // A 6-byte raw block claiming 2 GiB: refused before anything is allocated.
        let mut claim = Vec::new();
        let mut n = 1u64 << 31;
        while n >= 0x80 {
            claim.push(n as u8 | 0x80);
            n >>= 7;
        }
        claim.push(n as u8);
        claim.push(0);
        let err = expand(2, &claim).unwrap_err();
        assert!(err.to_string().contains("claims to expand"), "{err}");
        // An lz4 frame without its end mark: lz4_flex would end it quietly.
        let mut lz4 = lz4_flex::frame::FrameEncoder::new(Vec::new());
        lz4.write_all(b"some records").expect("lz4");
        let mut lz4 = lz4.finish().expect("lz4");
        assert!(reader(3, &lz4).is_ok());
        lz4.truncate(lz4.len() - 4);
        assert!(reader(3, &lz4).is_err());
        // A zstd frame asking for a 2 GiB window (window descriptor exponent 21): refused as
        // libzstd's default limit (and so Kafka) refuses it.
        let frame = [0x28, 0xb5, 0x2f, 0xfd, 0x00, 21 << 3, 0x01, 0x00, 0x00];
        assert!(reader(4, &frame).is_err());
    }
}
