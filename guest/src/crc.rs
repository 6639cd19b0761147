//! CRC-64/XZ, the checksum OSS reports as `x-oss-hash-crc64ecma`, and
//! CRC-64/NVME, S3's `x-amz-checksum-crc64nvme`: computed over the bytes as
//! they pass ([`Crc64`], in `copy_part`), the combination of part CRCs into
//! the object's CRC without re-reading bytes ([`combine_all`]), and the
//! headers' forms (decimal on OSS, base64 of the big-endian bytes on S3).

#[path = "crc64.rs"]
mod crc64;
pub use crc64::Crc64;

/// The CRC of `A || B` from `crc(A)`, `crc(B)` and `len(B)`, without the
/// bytes: the object's CRC from its parts' CRCs.
pub fn combine(crc_a: u64, crc_b: u64, len_b: u64) -> u64 {
    combine_in(Algorithm::Xz, crc_a, crc_b, len_b)
}

/// Which CRC-64.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    /// CRC-64/XZ (OSS).
    Xz,
    /// CRC-64/NVME (S3).
    Nvme,
}

fn combine_in(alg: Algorithm, crc_a: u64, crc_b: u64, len_b: u64) -> u64 {
    let alg = match alg {
        Algorithm::Xz => crc_fast::CrcAlgorithm::Crc64Xz,
        Algorithm::Nvme => crc_fast::CrcAlgorithm::Crc64Nvme,
    };
    crc_fast::checksum_combine(alg, crc_a, crc_b, len_b)
}

/// The CRC of parts laid end to end, from their CRCs and lengths.
///
/// crc-fast's combine costs about 0.2 ms under wasmtime (it raises a 64x64
/// matrix to the length), which for 2,334 parts is half a second spent at
/// the end of a copy. But combining is `shift(crc_a) ^ crc_b`, and the shift
/// by `len` bytes is linear over GF(2): it is learned once per length from
/// the crate's combine of the 64 unit vectors, after which each part costs a
/// handful of XORs. A copy has at most two part lengths.
pub fn combine_all(parts: impl IntoIterator<Item = (u64, u64)>) -> u64 {
    combine_all_in(Algorithm::Xz, parts)
}

/// As [`combine_all`], for either CRC-64.
pub fn combine_all_in(alg: Algorithm, parts: impl IntoIterator<Item = (u64, u64)>) -> u64 {
    let mut shifts: Vec<Shift> = Vec::new();
    parts.into_iter().fold(0, |acc, (crc, len)| {
        let i = match shifts.iter().position(|s| s.len == len) {
            Some(i) => i,
            None => {
                shifts.push(Shift::new(alg, len));
                shifts.len() - 1
            }
        };
        shifts[i].apply(acc) ^ crc
    })
}

/// `x -> shift(x)` for one length, as the images of the 64 unit vectors.
struct Shift {
    len: u64,
    columns: [u64; 64],
}

impl Shift {
    fn new(alg: Algorithm, len: u64) -> Shift {
        let mut columns = [0u64; 64];
        for (i, c) in columns.iter_mut().enumerate() {
            *c = combine_in(alg, 1 << i, 0, len);
        }
        Shift { len, columns }
    }

    fn apply(&self, mut x: u64) -> u64 {
        let mut out = 0;
        while x != 0 {
            out ^= self.columns[x.trailing_zeros() as usize];
            x &= x - 1;
        }
        out
    }
}

/// Parses the decimal `x-oss-hash-crc64ecma` value.
pub fn parse_header(value: &str) -> Option<u64> {
    value.trim().parse().ok()
}

/// S3's form of a CRC-64 (`x-amz-checksum-crc64nvme`): base64 of its eight
/// big-endian bytes.
pub fn to_base64(crc: u64) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(crc.to_be_bytes())
}

/// Parses S3's base64 form of a CRC-64.
pub fn parse_base64(value: &str) -> Option<u64> {
    use base64::Engine as _;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(value.trim())
        .ok()?;
    Some(u64::from_be_bytes(bytes.try_into().ok()?))
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
    fn combine_all_equals_the_crates_combine_and_the_whole_crc() {
        let data: Vec<u8> = (0..100_003u32).map(|i| (i * 7919 % 253) as u8).collect();
        for part in [1usize, 4096, 10_000, 100_003] {
            let pieces: Vec<&[u8]> = data.chunks(part).collect();
            let listed: Vec<(u64, u64)> =
                pieces.iter().map(|p| (crc64(p), p.len() as u64)).collect();
            let folded = listed.iter().fold(0, |acc, &(c, l)| combine(acc, c, l));
            assert_eq!(combine_all(listed.clone()), folded, "part {part}");
            assert_eq!(combine_all(listed), crc64(&data), "part {part}");
        }
        assert_eq!(combine_all([]), 0);
    }

    #[test]
    fn nvme_parts_combine_to_the_whole_and_read_as_s3_writes_them() {
        let data: Vec<u8> = (0..50_001u32).map(|i| (i * 13 % 241) as u8).collect();
        let whole = crc_fast::checksum(crc_fast::CrcAlgorithm::Crc64Nvme, &data);
        let listed: Vec<(u64, u64)> = data
            .chunks(7_000)
            .map(|p| {
                let crc = crc_fast::checksum(crc_fast::CrcAlgorithm::Crc64Nvme, p);
                (crc, p.len() as u64)
            })
            .collect();
        assert_eq!(combine_all_in(Algorithm::Nvme, listed), whole);
        // The check value in S3's form, as botocore's tests write it.
        assert_eq!(to_base64(0xAE8B_1486_0A79_9888), "rosUhgp5mIg=");
        assert_eq!(parse_base64("rosUhgp5mIg="), Some(0xAE8B_1486_0A79_9888));
        assert_eq!(parse_base64("rosU"), None);
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
