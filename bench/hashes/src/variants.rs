//! Ways of computing CRC-64/XZ that were measured against ferry's `Crc64`
//! and lost: slicing-by-16 in two interleaved lanes (one lane is
//! `crc64::slice16`, the tail of `Crc64`).

use crate::crc64::{fold16, slice16, XZ};

/// `x -> x` advanced over `len` zero bytes, as eight byte tables.
pub struct Shift([[u64; 256]; 8]);

impl Shift {
    pub fn new(len: usize) -> Self {
        let zeros = vec![0u8; len];
        let mut s = [[0u64; 256]; 8];
        for (k, table) in s.iter_mut().enumerate() {
            for (b, e) in table.iter_mut().enumerate() {
                *e = slice16(&XZ, (b as u64) << (8 * k), &zeros);
            }
        }
        Shift(s)
    }

    fn apply(&self, c: u64) -> u64 {
        (0..8).fold(0, |a, k| a ^ self.0[k][((c >> (8 * k)) & 0xff) as usize])
    }
}

fn word(b: &[u8], i: usize) -> u64 {
    u64::from_le_bytes(b[i..i + 8].try_into().unwrap())
}

/// The register after `b`: blocks of two lanes of `lane` bytes, hashed side
/// by side by slicing-by-16 (to hide the table loads' latency) and joined
/// by `shift` (over `lane` zero bytes).
pub fn two_lanes(shift: &Shift, lane: usize, mut c: u64, b: &[u8]) -> u64 {
    let mut blocks = b.chunks_exact(2 * lane);
    for block in &mut blocks {
        let (l0, l1) = block.split_at(lane);
        let (mut a, mut z) = (c, 0);
        for (x, y) in l0.chunks_exact(16).zip(l1.chunks_exact(16)) {
            a = fold16(&XZ.t, a, word(x, 0), word(x, 8));
            z = fold16(&XZ.t, z, word(y, 0), word(y, 8));
        }
        c = shift.apply(a) ^ z;
    }
    slice16(&XZ, c, blocks.remainder())
}
