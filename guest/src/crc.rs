//! CRC-64/XZ, the checksum OSS reports as `x-oss-hash-crc64ecma`: computed
//! over the bytes as they pass ([`Crc64`], in `copy_part`), the combination
//! of part CRCs into the object's CRC without re-reading bytes
//! ([`combine_all`]), and the header's decimal form.

#[path = "crc64.rs"]
mod crc64;
pub use crc64::Crc64;

/// The CRC of `A || B` from `crc(A)`, `crc(B)` and `len(B)`, without the
/// bytes: the object's CRC from its parts' CRCs.
pub fn combine(crc_a: u64, crc_b: u64, len_b: u64) -> u64 {
    crc_fast::checksum_combine(crc_fast::CrcAlgorithm::Crc64Xz, crc_a, crc_b, len_b)
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
    let mut shifts: Vec<Shift> = Vec::new();
    parts.into_iter().fold(0, |acc, (crc, len)| {
        let i = match shifts.iter().position(|s| s.len == len) {
            Some(i) => i,
            None => {
                shifts.push(Shift::new(len));
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
    fn new(len: u64) -> Shift {
        let mut columns = [0u64; 64];
        for (i, c) in columns.iter_mut().enumerate() {
            *c = combine(1 << i, 0, len);
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
    fn parses_decimal_header() {
        assert_eq!(
            parse_header("11051210869376104954"),
            Some(11051210869376104954)
        );
        assert_eq!(parse_header("x"), None);
    }
}
