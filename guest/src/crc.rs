//! CRC-64/XZ, the checksum OSS reports as `x-oss-hash-crc64ecma` (computed
//! over the bytes as they pass, with crc64fast, in `copy_part`): the
//! combination of part CRCs into the object's CRC without re-reading bytes,
//! and the header's decimal form.

/// The CRC of `A || B` from `crc(A)`, `crc(B)` and `len(B)`, without the
/// bytes: the object's CRC from its parts' CRCs.
pub fn combine(crc_a: u64, crc_b: u64, len_b: u64) -> u64 {
    crc_fast::checksum_combine(crc_fast::CrcAlgorithm::Crc64Xz, crc_a, crc_b, len_b)
}

/// Parses the decimal `x-oss-hash-crc64ecma` value.
pub fn parse_header(value: &str) -> Option<u64> {
    value.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn crc64(data: &[u8]) -> u64 {
        let mut digest = crc64fast::Digest::new();
        digest.write(data);
        digest.sum64()
    }

    #[test]
    fn check_value() {
        assert_eq!(crc64(b"123456789"), 0x995D_C9BB_DF19_39FA);
    }

    #[test]
    fn combine_equals_crc_of_concatenation() {
        let data: Vec<u8> = (0..10_000u32).map(|i| (i * 31 % 251) as u8).collect();
        for split in [0, 1, 7, 4096, 9_999, 10_000] {
            let (a, b) = data.split_at(split);
            assert_eq!(
                combine(crc64(a), crc64(b), b.len() as u64),
                crc64(&data),
                "split at {split}"
            );
        }
    }

    #[test]
    fn parses_decimal_header() {
        assert_eq!(
            parse_header("11051210869376104954"),
            Some(11051210869376104954)
        );
        assert_eq!(parse_header("x"), None);
    }
}
