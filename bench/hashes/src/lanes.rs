//! A hand-written CRC-64/XZ, four lanes of slicing-by-8 combined by a
//! learned shift: what ferry would gain by owning its CRC instead of using
//! crc64fast under WebAssembly. Measured only; ferry does not use it.

const POLY: u64 = 0xC96C_5795_D787_0F42; // CRC-64/XZ, reflected
pub const LANE: usize = 1024;

const fn tables() -> [[u64; 256]; 8] {
    let mut t = [[0u64; 256]; 8];
    let mut b = 0;
    while b < 256 {
        let mut c = b as u64;
        let mut i = 0;
        while i < 8 {
            c = if c & 1 == 1 { (c >> 1) ^ POLY } else { c >> 1 };
            i += 1;
        }
        t[0][b] = c;
        b += 1;
    }
    let mut k = 1;
    while k < 8 {
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

static T: [[u64; 256]; 8] = tables();

#[inline(always)]
fn step(c: u64) -> u64 {
    (0..8).fold(0, |a, k| a ^ T[7 - k][((c >> (8 * k)) & 0xff) as usize])
}

/// The CRC register after `b`, one lane.
pub fn one_lane(mut c: u64, b: &[u8]) -> u64 {
    let mut words = b.chunks_exact(8);
    for w in &mut words {
        c = step(c ^ u64::from_le_bytes(w.try_into().unwrap()));
    }
    for &x in words.remainder() {
        c = (c >> 8) ^ T[0][((c ^ x as u64) & 0xff) as usize];
    }
    c
}

/// The register advanced over LANE zero bytes, as eight byte tables.
pub struct Shift([[u64; 256]; 8]);

impl Shift {
    pub fn new() -> Self {
        let zeros = [0u8; LANE];
        let mut s = [[0u64; 256]; 8];
        for (k, table) in s.iter_mut().enumerate() {
            for (b, e) in table.iter_mut().enumerate() {
                *e = one_lane((b as u64) << (8 * k), &zeros);
            }
        }
        Shift(s)
    }

    fn apply(&self, c: u64) -> u64 {
        (0..8).fold(0, |a, k| a ^ self.0[k][((c >> (8 * k)) & 0xff) as usize])
    }
}

/// The CRC register after `b`, four lanes of LANE bytes at a time.
pub fn four_lanes(shift: &Shift, mut c: u64, b: &[u8]) -> u64 {
    let word = |l: &[u8], i: usize| u64::from_le_bytes(l[i..i + 8].try_into().unwrap());
    let mut blocks = b.chunks_exact(4 * LANE);
    for block in &mut blocks {
        let (l0, rest) = block.split_at(LANE);
        let (l1, rest) = rest.split_at(LANE);
        let (l2, l3) = rest.split_at(LANE);
        let (mut a, mut x, mut y, mut z) = (c, 0, 0, 0);
        for i in (0..LANE).step_by(8) {
            a = step(a ^ word(l0, i));
            x = step(x ^ word(l1, i));
            y = step(y ^ word(l2, i));
            z = step(z ^ word(l3, i));
        }
        c = shift.apply(shift.apply(shift.apply(a) ^ x) ^ y) ^ z;
    }
    one_lane(c, blocks.remainder())
}
