//! CRC-64/XZ helpers: the variant OSS reports as `x-oss-hash-crc64ecma`.
//!
//! `combine` is zlib's `crc32_combine` carried over to 64 bits: it yields the
//! CRC of `A || B` from CRC(A), CRC(B) and len(B) without touching the bytes,
//! which is how a store (and ferry) gets a multipart object's CRC from its
//! part CRCs.

/// CRC of the empty string.
pub const EMPTY: u64 = 0;

/// The reflected ECMA-182 polynomial used by CRC-64/XZ.
const POLY: u64 = 0xC96C_5795_D787_0F42;

/// CRC-64/XZ of `data`.
pub fn checksum(data: &[u8]) -> u64 {
    let mut digest = crc64fast::Digest::new();
    digest.write(data);
    digest.sum64()
}

/// CRC of the concatenation `A || B` given `crc_a`, `crc_b` and `len_b`.
pub fn combine(crc_a: u64, crc_b: u64, mut len_b: u64) -> u64 {
    if len_b == 0 {
        return crc_a;
    }
    // `odd` starts as the operator for one zero bit, then squares its way up.
    let mut even = [0u64; 64];
    let mut odd = [0u64; 64];
    odd[0] = POLY;
    let mut row = 1u64;
    for slot in odd.iter_mut().skip(1) {
        *slot = row;
        row <<= 1;
    }
    square(&mut even, &odd); // two zero bits
    square(&mut odd, &even); // four zero bits
    let mut crc = crc_a;
    loop {
        square(&mut even, &odd);
        if len_b & 1 != 0 {
            crc = times(&even, crc);
        }
        len_b >>= 1;
        if len_b == 0 {
            break;
        }
        square(&mut odd, &even);
        if len_b & 1 != 0 {
            crc = times(&odd, crc);
        }
        len_b >>= 1;
        if len_b == 0 {
            break;
        }
    }
    crc ^ crc_b
}

fn times(matrix: &[u64; 64], mut vec: u64) -> u64 {
    let mut sum = 0;
    let mut i = 0;
    while vec != 0 {
        if vec & 1 != 0 {
            sum ^= matrix[i];
        }
        vec >>= 1;
        i += 1;
    }
    sum
}

fn square(out: &mut [u64; 64], matrix: &[u64; 64]) {
    for (slot, &row) in out.iter_mut().zip(matrix.iter()) {
        *slot = times(matrix, row);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
