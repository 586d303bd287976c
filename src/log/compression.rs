//! Compression and decompression of record batch payloads, for the few places that must look
//! inside a compressed batch (timestamp lookups, key checks of compacted topics) or write one
//! (the log cleaner rewriting a batch it filtered). All codecs are pure Rust, so the broker
//! builds on macOS without a C toolchain.
//!
//! Codec ids are the batch attribute's low three bits: 1 gzip, 2 snappy, 3 lz4, 4 zstd.

use std::io::Read;

/// Snappy-java's stream header; Kafka's Java producer frames snappy data this way.
const XERIAL_MAGIC: &[u8] = b"\x82SNAPPY\x00";
const XERIAL_HEADER_LEN: usize = 16;

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

/// Expands `data` compressed with codec `codec` (0 returns a copy).
pub fn decompress(codec: u8, data: &[u8]) -> Result<Vec<u8>, DecompressError> {
    let mut out = Vec::with_capacity(data.len() * 4);
    match codec {
        0 => out.extend_from_slice(data),
        1 => {
            flate2::read::MultiGzDecoder::new(data)
                .read_to_end(&mut out)
                .map_err(|e| invalid("gzip", e))?;
        }
        2 => return snappy(data),
        3 => {
            lz4_flex::frame::FrameDecoder::new(data)
                .read_to_end(&mut out)
                .map_err(|e| invalid("lz4", e))?;
        }
        4 => {
            let mut decoder =
                ruzstd::decoding::StreamingDecoder::new(data).map_err(|e| invalid("zstd", e))?;
            decoder
                .read_to_end(&mut out)
                .map_err(|e| invalid("zstd", e))?;
        }
        other => return Err(DecompressError::UnknownCodec(other)),
    }
    Ok(out)
}

/// Snappy as Kafka clients send it: xerial-framed (Java) or a raw block (some other clients).
fn snappy(data: &[u8]) -> Result<Vec<u8>, DecompressError> {
    if !data.starts_with(XERIAL_MAGIC) {
        return snap::raw::Decoder::new()
            .decompress_vec(data)
            .map_err(|e| invalid("snappy", e));
    }
    let mut out = Vec::new();
    let mut rest = data
        .get(XERIAL_HEADER_LEN..)
        .ok_or_else(|| invalid("snappy", "truncated xerial header"))?;
    let mut decoder = snap::raw::Decoder::new();
    while !rest.is_empty() {
        let len_bytes: [u8; 4] = rest
            .get(..4)
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| invalid("snappy", "truncated block length"))?;
        let len = u32::from_be_bytes(len_bytes) as usize;
        let block = rest
            .get(4..4 + len)
            .ok_or_else(|| invalid("snappy", "truncated block"))?;
        let start = out.len();
        let expanded = snap::raw::decompress_len(block).map_err(|e| invalid("snappy", e))?;
        out.resize(start + expanded, 0);
        decoder
            .decompress(block, &mut out[start..])
            .map_err(|e| invalid("snappy", e))?;
        rest = &rest[4 + len..];
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    const TEXT: &[u8] = b"the quick brown fox jumps over the lazy dog, the quick brown fox again";

    #[test]
    fn round_trips_every_codec() {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(TEXT).expect("gzip");
        let gz = gz.finish().expect("gzip");
        assert_eq!(decompress(1, &gz).expect("gzip"), TEXT);

        let raw = snap::raw::Encoder::new()
            .compress_vec(TEXT)
            .expect("snappy");
        assert_eq!(decompress(2, &raw).expect("raw snappy"), TEXT);
        let mut xerial = XERIAL_MAGIC.to_vec();
        xerial.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 1]);
        xerial.extend_from_slice(&(raw.len() as u32).to_be_bytes());
        xerial.extend_from_slice(&raw);
        assert_eq!(decompress(2, &xerial).expect("xerial snappy"), TEXT);

        let mut lz4 = lz4_flex::frame::FrameEncoder::new(Vec::new());
        lz4.write_all(TEXT).expect("lz4");
        assert_eq!(
            decompress(3, &lz4.finish().expect("lz4")).expect("lz4"),
            TEXT
        );

        let zstd =
            ruzstd::encoding::compress_to_vec(TEXT, ruzstd::encoding::CompressionLevel::Fastest);
        assert_eq!(decompress(4, &zstd).expect("zstd"), TEXT);
        assert_eq!(decompress(0, TEXT).expect("none"), TEXT);
    }

    #[test]
    fn compress_round_trips_every_codec_in_kafkas_framing() {
        let big: Vec<u8> = (0..100_000u32)
            .flat_map(|i| (i % 251).to_be_bytes())
            .collect();
        for codec in 0..=4u8 {
            for data in [TEXT, &big[..], &[][..]] {
                let packed = compress(codec, data).expect("compress");
                assert_eq!(
                    decompress(codec, &packed).expect("decompress"),
                    data,
                    "codec {codec}"
                );
            }
        }
        let snappy = compress(2, &big).expect("snappy");
        assert!(
            snappy.starts_with(XERIAL_MAGIC),
            "xerial framing as snappy-java writes"
        );
        assert!(matches!(
            compress(9, TEXT),
            Err(DecompressError::UnknownCodec(9))
        ));
    }

    #[test]
    fn rejects_garbage_and_unknown_codecs() {
        assert!(matches!(
            decompress(7, TEXT),
            Err(DecompressError::UnknownCodec(7))
        ));
        for codec in 1..=4 {
            assert!(
                decompress(codec, b"\x82SNAPPY\x00garbage-garbage-garbage").is_err(),
                "codec {codec}"
            );
        }
    }
}
