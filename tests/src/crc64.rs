//! CRC-64/XZ helpers: the variant OSS reports as `x-oss-hash-crc64ecma`.
//!
//! `combine` yields the CRC of `A || B` from CRC(A), CRC(B) and len(B)
//! without touching the bytes, which is how a store gets a multipart
//! object's CRC from its part CRCs.

/// CRC of the empty string.
pub const EMPTY: u64 = 0;

/// CRC-64/XZ of `data`.
pub fn checksum(data: &[u8]) -> u64 {
    let mut digest = crc64fast::Digest::new();
    digest.write(data);
    digest.sum64()
}

/// CRC of the concatenation `A || B` given `crc_a`, `crc_b` and `len_b`.
pub fn combine(crc_a: u64, crc_b: u64, len_b: u64) -> u64 {
    crc_fast::checksum_combine(crc_fast::CrcAlgorithm::Crc64Xz, crc_a, crc_b, len_b)
}

/// What xoring the last byte of a message with 1 does to its CRC: CRC is
/// affine, and an error confined to the last byte contributes the table
/// entry of that byte whatever the length. `crc(m with last byte ^ 1) ==
/// crc(m) ^ last_bit_flip()` for every non-empty `m`.
pub fn last_bit_flip() -> u64 {
    checksum(&[1]) ^ checksum(&[0])
}

/// S3's CRC-64/NVME (`x-amz-checksum-crc64nvme`) of `data`.
pub fn nvme(data: &[u8]) -> u64 {
    crc_fast::checksum(crc_fast::CrcAlgorithm::Crc64Nvme, data)
}

/// [`combine`] for CRC-64/NVME.
pub fn nvme_combine(crc_a: u64, crc_b: u64, len_b: u64) -> u64 {
    crc_fast::checksum_combine(crc_fast::CrcAlgorithm::Crc64Nvme, crc_a, crc_b, len_b)
}

/// [`last_bit_flip`] for CRC-64/NVME.
pub fn nvme_last_bit_flip() -> u64 {
    nvme(&[1]) ^ nvme(&[0])
}

/// S3's form of a CRC-64: base64 of its eight big-endian bytes.
pub fn to_base64(crc: u64) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(crc.to_be_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flipping_the_last_bit() {
        for len in [1usize, 2, 9, 1000] {
            let mut data: Vec<u8> = (0..len).map(|i| (i * 7 % 256) as u8).collect();
            let before = checksum(&data);
            *data.last_mut().unwrap() ^= 1;
            assert_eq!(checksum(&data), before ^ last_bit_flip(), "len {len}");
        }
    }

    #[test]
    fn check_value_is_crc64_xz() {
        assert_eq!(checksum(b"123456789"), 0x995D_C9BB_DF19_39FA);
        assert_eq!(checksum(b""), EMPTY);
    }

    #[test]
    fn combine_equals_crc_of_concatenation() {
        let data: Vec<u8> = (0..5000u32).map(|i| (i * 31 % 251) as u8).collect();
        for cut in [0usize, 1, 7, 8, 100, 2500, 4999, 5000] {
            let (a, b) = data.split_at(cut);
            assert_eq!(
                combine(checksum(a), checksum(b), b.len() as u64),
                checksum(&data),
                "cut {cut}"
            );
        }
    }
}
