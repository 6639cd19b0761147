//! CRC-64/XZ (the ECMA-182 polynomial, reflected, init and xorout all
//! ones: OSS's `x-oss-hash-crc64ecma`) and CRC-64/NVME (the same shape with
//! the NVMe polynomial: S3's `x-amz-checksum-crc64nvme`), computed over every
//! byte ferry copies. WebAssembly has no carry-less multiply, so crc64fast runs its
//! slicing-by-16 tables there; this is faster under wasmtime with SIMD128.
//!
//! Sixteen streams run side by side: a block of 16 x [`LANE`] bytes is cut
//! into 16 lanes, and the 16 lanes' CRC registers are held as eight vectors
//! of "byte planes" (plane `o` holds byte `o` of every lane's register). One
//! step is the byte-wise table update `r = (r >> 8) ^ T[(r ^ b) & 0xff]` for
//! all lanes at once: `T` splits into a low-nibble and a high-nibble table
//! (`T[b] = T[b & 15] ^ T[b & 0xf0]`), and each of its eight output bytes is
//! a 16-entry lookup, one `i8x16.swizzle` per nibble. The lanes are then
//! joined by shifting each register over [`LANE`] zero bytes (eight byte
//! tables, `Tables::shift`) and adding the next. Bytes that do not fill a block
//! wait for the next update; `finish` hashes the rest by slicing-by-16.
//!
//! Outside WebAssembly the same code runs on a plain `[u8; 16]` stand-in for
//! the vector, so native unit tests check the algorithm itself (slowly).
//!
//! Other ways measured (bench/README.md, hashes): slicing-by-16 alone and
//! in interleaved lanes stays near crc64fast, held by the table loads'
//! address arithmetic; the relaxed-SIMD swizzle would be faster again, but
//! Node.js 20 (`jco run`) refuses a module that uses it; and the "Chorba"
//! method needs a sparse multiple of the polynomial: the 4-term one found
//! spans 644 KiB, at offsets that are not whole bytes.

/// The reflected ECMA-182 polynomial (CRC-64/XZ).
const POLY_XZ: u64 = 0xC96C_5795_D787_0F42;
/// The reflected NVMe polynomial (CRC-64/NVME).
const POLY_NVME: u64 = 0x9A6C_9329_AC4B_C9B5;
/// Bytes of one lane; a block is 16 lanes.
const LANE: usize = 2048;
const BLOCK: usize = 16 * LANE;

/// The tables of one polynomial.
pub(crate) struct Tables {
    /// `t[k][b]`: the register contribution of byte `b` followed by `k`
    /// zero bytes (slicing-by-16).
    pub(crate) t: [[u64; 256]; 16],
    /// `shift[k][b]`: the register with byte `k` equal to `b` (others
    /// zero) after [`LANE`] zero bytes.
    shift: [[u64; 256]; 8],
}

impl Tables {
    const fn new(poly: u64) -> Tables {
        Tables {
            t: slicing_tables(poly),
            shift: shift_tables(poly),
        }
    }
}

/// CRC-64/XZ's tables.
pub(crate) static XZ: Tables = Tables::new(POLY_XZ);
/// CRC-64/NVME's tables.
pub(crate) static NVME: Tables = Tables::new(POLY_NVME);

const fn slicing_tables(poly: u64) -> [[u64; 256]; 16] {
    let mut t = [[0u64; 256]; 16];
    let mut b = 0;
    while b < 256 {
        let mut c = b as u64;
        let mut i = 0;
        while i < 8 {
            c = if c & 1 == 1 { (c >> 1) ^ poly } else { c >> 1 };
            i += 1;
        }
        t[0][b] = c;
        b += 1;
    }
    let mut k = 1;
    while k < 16 {
        let mut b = 0;
        while b < 256 {
            let p = t[k - 1][b];
            t[k][b] = (p >> 8) ^ t[0][(p & 0xff) as usize];
            b += 1;
        }
        k += 1;
    }
    t
}

/// The register after 16 bytes, `lo` and `hi` read little-endian.
#[inline(always)]
pub(crate) const fn fold16(t: &[[u64; 256]; 16], c: u64, lo: u64, hi: u64) -> u64 {
    let lo = lo ^ c;
    let mut r = 0;
    let mut k = 0;
    while k < 8 {
        r ^= t[15 - k][((lo >> (8 * k)) & 0xff) as usize];
        r ^= t[7 - k][((hi >> (8 * k)) & 0xff) as usize];
        k += 1;
    }
    r
}

const fn shift_tables(poly: u64) -> [[u64; 256]; 8] {
    let t = slicing_tables(poly);
    // The images of the 64 unit registers: shifting is linear.
    let mut unit = [0u64; 64];
    let mut i = 0;
    while i < 64 {
        let mut c = 1u64 << i;
        let mut n = 0;
        while n < LANE / 16 {
            c = fold16(&t, c, 0, 0);
            n += 1;
        }
        unit[i] = c;
        i += 1;
    }
    let mut s = [[0u64; 256]; 8];
    let mut k = 0;
    while k < 8 {
        let mut b = 0;
        while b < 256 {
            let mut j = 0;
            while j < 8 {
                if b >> j & 1 == 1 {
                    s[k][b] ^= unit[8 * k + j];
                }
                j += 1;
            }
            b += 1;
        }
        k += 1;
    }
    s
}

/// The register after `bytes`, by slicing-by-16.
pub(crate) fn slice16(tables: &Tables, mut c: u64, bytes: &[u8]) -> u64 {
    let t = &tables.t;
    let mut blocks = bytes.chunks_exact(16);
    for x in &mut blocks {
        let lo = u64::from_le_bytes(x[..8].try_into().unwrap());
        let hi = u64::from_le_bytes(x[8..].try_into().unwrap());
        c = fold16(t, c, lo, hi);
    }
    for &x in blocks.remainder() {
        c = (c >> 8) ^ t[0][((c ^ x as u64) & 0xff) as usize];
    }
    c
}

/// The register after [`LANE`] more zero bytes.
fn shift(tables: &Tables, c: u64) -> u64 {
    (0..8).fold(0, |a, k| {
        a ^ tables.shift[k][((c >> (8 * k)) & 0xff) as usize]
    })
}

/// The 128-bit vector: SIMD128 in WebAssembly.
#[cfg(target_arch = "wasm32")]
mod v {
    use core::arch::wasm32::*;
    pub type V = v128;

    #[inline(always)]
    pub fn load(b: &[u8; 16]) -> V {
        // SAFETY: `b` is 16 readable bytes; v128_load reads unaligned.
        unsafe { v128_load(b.as_ptr().cast()) }
    }
    #[inline(always)]
    pub fn from_bytes(b: [u8; 16]) -> V {
        let lo = u64::from_le_bytes(b[..8].try_into().unwrap());
        let hi = u64::from_le_bytes(b[8..].try_into().unwrap());
        u64x2(lo, hi)
    }
    #[inline(always)]
    pub fn to_bytes(x: V) -> [u8; 16] {
        let mut b = [0u8; 16];
        b[..8].copy_from_slice(&u64x2_extract_lane::<0>(x).to_le_bytes());
        b[8..].copy_from_slice(&u64x2_extract_lane::<1>(x).to_le_bytes());
        b
    }
    #[inline(always)]
    pub fn xor(a: V, b: V) -> V {
        v128_xor(a, b)
    }
    /// Each byte's low and high nibble.
    #[inline(always)]
    pub fn nibbles(x: V) -> (V, V) {
        let m = u8x16_splat(15);
        (v128_and(x, m), v128_and(u16x8_shr(x, 4), m))
    }
    /// `t[i[j]]` for each byte j (indices below 16).
    #[inline(always)]
    pub fn lookup(t: V, i: V) -> V {
        i8x16_swizzle(t, i)
    }
    /// The bytes of `a` and `b` interleaved: the low halves, then the high.
    #[inline(always)]
    pub fn unpack(a: V, b: V) -> (V, V) {
        (
            i8x16_shuffle::<0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23>(a, b),
            i8x16_shuffle::<8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31>(a, b),
        )
    }
}

/// The same operations on a plain array, for native unit tests.
#[cfg(not(target_arch = "wasm32"))]
mod v {
    pub type V = [u8; 16];

    pub fn load(b: &[u8; 16]) -> V {
        *b
    }
    pub fn from_bytes(b: [u8; 16]) -> V {
        b
    }
    pub fn to_bytes(x: V) -> [u8; 16] {
        x
    }
    pub fn xor(a: V, b: V) -> V {
        std::array::from_fn(|j| a[j] ^ b[j])
    }
    pub fn nibbles(x: V) -> (V, V) {
        (x.map(|b| b & 15), x.map(|b| b >> 4))
    }
    pub fn lookup(t: V, i: V) -> V {
        i.map(|j| t[j as usize])
    }
    pub fn unpack(a: V, b: V) -> (V, V) {
        (
            std::array::from_fn(|j| if j % 2 == 0 { a[j / 2] } else { b[j / 2] }),
            std::array::from_fn(|j| {
                if j % 2 == 0 {
                    a[8 + j / 2]
                } else {
                    b[8 + j / 2]
                }
            }),
        )
    }
}

use v::V;

/// Byte `o` of `t[0][n]` and of `t[0][n << 4]`, for n < 16: the nibble
/// tables of output byte `o`.
struct Nibbles {
    lo: [V; 8],
    hi: [V; 8],
}

impl Nibbles {
    fn new(tables: &Tables) -> Nibbles {
        let t = &tables.t;
        let plane = |o: usize, shl: usize| {
            v::from_bytes(std::array::from_fn(|n| (t[0][n << shl] >> (8 * o)) as u8))
        };
        Nibbles {
            lo: std::array::from_fn(|o| plane(o, 0)),
            hi: std::array::from_fn(|o| plane(o, 4)),
        }
    }
}

/// One round of the 16x16 byte transpose (four make it whole: each moves
/// one bit of the row index into the column index).
#[inline(always)]
fn round(x: [V; 16]) -> [V; 16] {
    let u = |i: usize| v::unpack(x[i], x[i + 8]);
    let [(a0, b0), (a1, b1), (a2, b2), (a3, b3), (a4, b4), (a5, b5), (a6, b6), (a7, b7)] =
        [u(0), u(1), u(2), u(3), u(4), u(5), u(6), u(7)];
    [
        a0, b0, a1, b1, a2, b2, a3, b3, a4, b4, a5, b5, a6, b6, a7, b7,
    ]
}

/// Sixteen byte steps of all lanes: `cols[j]` holds byte j of each lane's
/// next 16.
#[inline(always)]
fn steps(n: &Nibbles, s: &mut [V; 8], cols: [V; 16]) {
    let [mut s0, mut s1, mut s2, mut s3, mut s4, mut s5, mut s6, mut s7] = *s;
    // Written out (not a loop over an array) so that the registers stay
    // in vector registers from step to step.
    macro_rules! step {
        ($col:expr) => {
            let (l, h) = v::nibbles(v::xor(s0, $col));
            let t = |o: usize| v::xor(v::lookup(n.lo[o], l), v::lookup(n.hi[o], h));
            s0 = v::xor(s1, t(0));
            s1 = v::xor(s2, t(1));
            s2 = v::xor(s3, t(2));
            s3 = v::xor(s4, t(3));
            s4 = v::xor(s5, t(4));
            s5 = v::xor(s6, t(5));
            s6 = v::xor(s7, t(6));
            s7 = t(7);
        };
    }
    let [c0, c1, c2, c3, c4, c5, c6, c7, c8, c9, c10, c11, c12, c13, c14, c15] = cols;
    step!(c0);
    step!(c1);
    step!(c2);
    step!(c3);
    step!(c4);
    step!(c5);
    step!(c6);
    step!(c7);
    step!(c8);
    step!(c9);
    step!(c10);
    step!(c11);
    step!(c12);
    step!(c13);
    step!(c14);
    step!(c15);
    *s = [s0, s1, s2, s3, s4, s5, s6, s7];
}

/// The register after whole blocks of `bytes` (its length a multiple of
/// [`BLOCK`]).
#[cfg_attr(target_arch = "wasm32", target_feature(enable = "simd128"))]
fn blocks(tables: &Tables, mut c: u64, bytes: &[u8]) -> u64 {
    let n = Nibbles::new(tables);
    for block in bytes.chunks_exact(BLOCK) {
        let block: &[u8; BLOCK] = block.try_into().unwrap();
        // Lane 0 starts from the register so far, the others from zero.
        let first = c.to_le_bytes();
        let mut s: [V; 8] = std::array::from_fn(|o| {
            let mut b = [0u8; 16];
            b[0] = first[o];
            v::from_bytes(b)
        });
        for t in (0..LANE).step_by(16) {
            let row = |i: usize| v::load(block[i * LANE + t..][..16].try_into().unwrap());
            let rows = [
                row(0),
                row(1),
                row(2),
                row(3),
                row(4),
                row(5),
                row(6),
                row(7),
                row(8),
                row(9),
                row(10),
                row(11),
                row(12),
                row(13),
                row(14),
                row(15),
            ];
            steps(&n, &mut s, round(round(round(round(rows)))));
        }
        let planes = s.map(v::to_bytes);
        let lane = |i: usize| (0..8).fold(0u64, |r, o| r | (planes[o][i] as u64) << (8 * o));
        c = (1..16).fold(lane(0), |r, i| shift(tables, r) ^ lane(i));
    }
    c
}

/// A running CRC-64/XZ or CRC-64/NVME.
pub struct Crc64 {
    /// The polynomial's tables.
    tables: &'static Tables,
    /// The register over the bytes hashed so far (not `pending`).
    register: u64,
    /// Bytes that have not filled a block yet (fewer than [`BLOCK`]).
    pending: Vec<u8>,
}

impl Default for Crc64 {
    fn default() -> Self {
        Self::new()
    }
}

impl Crc64 {
    /// A running CRC-64/XZ.
    pub fn new() -> Crc64 {
        Crc64::with(&XZ)
    }

    /// A running CRC-64/NVME.
    pub fn nvme() -> Crc64 {
        Crc64::with(&NVME)
    }

    fn with(tables: &'static Tables) -> Crc64 {
        Crc64 {
            tables,
            register: !0,
            pending: Vec::new(),
        }
    }

    pub fn update(&mut self, mut bytes: &[u8]) {
        if !self.pending.is_empty() {
            let take = (BLOCK - self.pending.len()).min(bytes.len());
            self.pending.extend_from_slice(&bytes[..take]);
            bytes = &bytes[take..];
            if self.pending.len() < BLOCK {
                return;
            }
            self.register = blocks(self.tables, self.register, &self.pending);
            self.pending.clear();
        }
        let whole = bytes.len() / BLOCK * BLOCK;
        self.register = blocks(self.tables, self.register, &bytes[..whole]);
        self.pending.extend_from_slice(&bytes[whole..]);
    }

    pub fn finish(&self) -> u64 {
        !slice16(self.tables, self.register, &self.pending)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reference(data: &[u8]) -> u64 {
        let mut d = crc64fast::Digest::new();
        d.write(data);
        d.sum64()
    }

    fn ours(data: &[u8]) -> u64 {
        let mut c = Crc64::new();
        c.update(data);
        c.finish()
    }

    /// Fixed-seed xorshift bytes.
    fn random(n: usize, mut seed: u64) -> Vec<u8> {
        (0..n)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                (seed >> 24) as u8
            })
            .collect()
    }

    #[test]
    fn check_value() {
        assert_eq!(ours(b"123456789"), 0x995D_C9BB_DF19_39FA);
        assert_eq!(ours(b""), 0);
    }

    fn nvme(data: &[u8]) -> u64 {
        let mut c = Crc64::nvme();
        c.update(data);
        c.finish()
    }

    #[test]
    fn nvme_check_value_and_crc_fast() {
        assert_eq!(nvme(b"123456789"), 0xAE8B_1486_0A79_9888);
        assert_eq!(nvme(b""), 0);
        let data = random(3 * BLOCK + 77, 3);
        for len in [
            1,
            15,
            16,
            4097,
            BLOCK - 1,
            BLOCK,
            2 * BLOCK + 5,
            3 * BLOCK + 77,
        ] {
            let x = &data[..len];
            let want = crc_fast::checksum(crc_fast::CrcAlgorithm::Crc64Nvme, x);
            assert_eq!(nvme(x), want, "length {len}");
        }
    }

    #[test]
    fn equals_crc64fast_on_every_length_to_4096_and_alignment_to_16() {
        let data = random(4096 + 16, 1);
        for align in 0..16 {
            for len in 0..=4096 {
                let x = &data[align..align + len];
                assert_eq!(ours(x), reference(x), "length {len}, alignment {align}");
            }
        }
    }

    #[test]
    fn equals_crc64fast_around_whole_blocks() {
        let data = random(3 * BLOCK + 64, 2);
        for blocks in 1..=3 {
            for delta in -17i64..=17 {
                let len = (blocks * BLOCK) as i64 + delta;
                for align in [0, 1, 7, 15] {
                    let x = &data[align..align + len as usize];
                    assert_eq!(ours(x), reference(x), "length {len}, alignment {align}");
                }
            }
        }
    }

    #[test]
    fn equals_crc64fast_on_large_buffers_split_anywhere() {
        let mut seed = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = |below: usize| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % below as u64) as usize
        };
        for case in 0..40 {
            let data = random(next(5 * BLOCK), case);
            let mut c = Crc64::new();
            let mut at = 0;
            while at < data.len() {
                // Small writes, block-sized ones and large ones.
                let n = match next(3) {
                    0 => next(100),
                    1 => next(2 * BLOCK),
                    _ => BLOCK,
                };
                let end = (at + n).min(data.len());
                c.update(&data[at..end]);
                at = end;
            }
            assert_eq!(c.finish(), reference(&data), "case {case}");
        }
    }

    #[test]
    fn shift_is_lane_zero_bytes() {
        for c in [1u64, 0x8000_0000_0000_0000, 0x0123_4567_89AB_CDEF, !0] {
            assert_eq!(shift(&XZ, c), slice16(&XZ, c, &[0u8; LANE]));
            assert_eq!(shift(&NVME, c), slice16(&NVME, c, &[0u8; LANE]));
        }
    }
}
