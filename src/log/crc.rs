//! CRC-32C (Castagnoli), the checksum of v2 record batches and producer snapshots.
//!
//! Every produced batch is checked once on the way in, so this sits on the hottest path of the
//! broker: it delegates to `crc-fast`, which picks the SSE4.2/PCLMULQDQ or ARMv8 CRC
//! instructions at run time. [`crc32c_reference`] is the textbook bit-at-a-time definition,
//! kept so tests and benchmarks can hold the fast path against it.

/// CRC-32C of `data`, as Kafka's `Crc32C.compute`.
#[inline]
pub fn crc32c(data: &[u8]) -> u32 {
    crc_fast::crc32_iscsi(data)
}

/// CRC-32C of the concatenation of `parts`, without concatenating them.
pub fn crc32c_parts(parts: &[&[u8]]) -> u32 {
    let mut digest = crc_fast::Digest::new(crc_fast::CrcAlgorithm::Crc32Iscsi);
    for part in parts {
        digest.update(part);
    }
    digest.finalize() as u32
}

/// CRC-32C computed one bit at a time (reflected polynomial 0x82F63B78). Slow on purpose: it
/// is the reference the fast path is tested and benchmarked against.
pub fn crc32c_reference(data: &[u8]) -> u32 {
    const POLY: u32 = 0x82F6_3B78;
    let mut crc = !0u32;
    for &byte in data {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            let mask = (crc & 1).wrapping_neg();
            crc = (crc >> 1) ^ (POLY & mask);
        }
    }
    !crc
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parts_equal_the_whole() {
        let data: Vec<u8> = (0..5000u32).map(|i| (i * 7) as u8).collect();
        for cut in [0, 1, 61, 4999, 5000] {
            assert_eq!(crc32c_parts(&[&data[..cut], &data[cut..]]), crc32c(&data));
        }
    }

    #[test]
    fn known_vectors() {
        // RFC 3720 (iSCSI) appendix B.4 and the CRC catalogue's check value.
        assert_eq!(crc32c(b"123456789"), 0xE306_9283);
        assert_eq!(crc32c(&[0u8; 32]), 0x8A91_36AA);
        assert_eq!(crc32c(&[0xFFu8; 32]), 0x62A8_AB43);
        let ascending: Vec<u8> = (0u8..32).collect();
        assert_eq!(crc32c(&ascending), 0x46DD_794E);
        assert_eq!(crc32c(b""), 0);
        assert_eq!(crc32c_reference(b"123456789"), 0xE306_9283);
    }

    proptest! {
        #[test]
        fn fast_path_equals_bitwise_reference(data in proptest::collection::vec(any::<u8>(), 0..5000)) {
            prop_assert_eq!(crc32c(&data), crc32c_reference(&data));
        }
    }
}
