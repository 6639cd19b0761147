//! The deterministic content of a test object.
//!
//! An object is named by `(seed, size)`; its byte at offset `o` depends only on
//! `seed` and `o`, so any range can be produced without state or disk, and two
//! objects with the same seed agree on their common prefix. Each 8-byte word is
//! `splitmix64` of (seed, word index): three multiplies per word, several GB/s.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use crate::crc64;

/// Deterministic bytes of object `seed` starting at byte `offset`.
pub fn fill(seed: u64, offset: u64, buf: &mut [u8]) {
    let key = seed_key(seed);
    let mut done = 0;
    let lead = (offset % 8) as usize;
    if lead != 0 {
        let word = word(key, offset / 8).to_le_bytes();
        let n = (8 - lead).min(buf.len());
        buf[..n].copy_from_slice(&word[lead..lead + n]);
        done = n;
    }
    let mut index = (offset + done as u64) / 8;
    let mut words = buf[done..].chunks_exact_mut(8);
    for chunk in &mut words {
        chunk.copy_from_slice(&word(key, index).to_le_bytes());
        index += 1;
    }
    let tail = words.into_remainder();
    if !tail.is_empty() {
        let n = tail.len();
        tail.copy_from_slice(&word(key, index).to_le_bytes()[..n]);
    }
}

/// One slot per `(seed, size)`, filled by whoever asks first.
type CrcCache = HashMap<(u64, u64), Arc<OnceLock<u64>>>;

/// CRC-64/XZ (the OSS `x-oss-hash-crc64ecma` variant) of the whole object
/// `(seed, size)`.
///
/// Computed once per `(seed, size)` and cached: a 15 GB object takes seconds.
/// Concurrent first callers for the same object wait for one computation.
pub fn crc64(seed: u64, size: u64) -> u64 {
    static CACHE: OnceLock<Mutex<CrcCache>> = OnceLock::new();
    let cell = {
        let mut cache = CACHE.get_or_init(Default::default).lock().unwrap();
        cache.entry((seed, size)).or_default().clone()
    };
    *cell.get_or_init(|| compute_crc64(seed, size))
}

/// CRC-64 of `[offset, offset + len)` of object `seed`, uncached.
pub fn range_crc64(seed: u64, offset: u64, len: u64) -> u64 {
    let mut digest = crc64fast::Digest::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut pos = offset;
    let end = offset + len;
    while pos < end {
        let n = ((end - pos) as usize).min(buf.len());
        fill(seed, pos, &mut buf[..n]);
        digest.write(&buf[..n]);
        pos += n as u64;
    }
    digest.sum64()
}

/// Splits the object across the cores and joins the slices with CRC combine,
/// so the first request for a big object's CRC does not take a core-minute.
fn compute_crc64(seed: u64, size: u64) -> u64 {
    const MIN_SLICE: u64 = 64 << 20;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as u64;
    let slices = cores.min(size / MIN_SLICE).max(1);
    if slices == 1 {
        return range_crc64(seed, 0, size);
    }
    let bounds: Vec<(u64, u64)> = (0..slices)
        .map(|i| (size * i / slices, size * (i + 1) / slices))
        .collect();
    let crcs: Vec<u64> = std::thread::scope(|scope| {
        let handles: Vec<_> = bounds
            .iter()
            .map(|&(a, b)| scope.spawn(move || range_crc64(seed, a, b - a)))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    bounds
        .iter()
        .zip(crcs)
        .fold(crc64::EMPTY, |acc, (&(a, b), crc)| {
            crc64::combine(acc, crc, b - a)
        })
}

/// The per-object key, so that seeds 0, 1, 2 give unrelated streams.
fn seed_key(seed: u64) -> u64 {
    splitmix64(seed ^ 0x6A09_E667_F3BC_C908)
}

fn word(key: u64, index: u64) -> u64 {
    splitmix64(key.wrapping_add(index.wrapping_mul(0x9E37_79B9_7F4A_7C15)))
}

fn splitmix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes(seed: u64, offset: u64, len: usize) -> Vec<u8> {
        let mut v = vec![0; len];
        fill(seed, offset, &mut v);
        v
    }

    #[test]
    fn any_window_agrees_with_the_whole() {
        let whole = bytes(7, 0, 1000);
        for offset in [0u64, 1, 7, 8, 9, 13, 500, 993] {
            for len in [0usize, 1, 3, 8, 15, 64] {
                let len = len.min(1000 - offset as usize);
                assert_eq!(
                    bytes(7, offset, len),
                    whole[offset as usize..offset as usize + len],
                    "offset {offset} len {len}"
                );
            }
        }
    }

    #[test]
    fn seeds_differ_and_repeat() {
        assert_eq!(bytes(1, 0, 64), bytes(1, 0, 64));
        assert_ne!(bytes(1, 0, 64), bytes(2, 0, 64));
        // Not constant within one object either.
        let b = bytes(3, 0, 4096);
        assert!(b.windows(8).any(|w| w != &b[..8]));
    }

    #[test]
    fn crc_matches_a_direct_digest() {
        for size in [0u64, 1, 9, 4096, 3 << 20] {
            let mut d = crc64fast::Digest::new();
            d.write(&bytes(11, 0, size as usize));
            assert_eq!(crc64(11, size), d.sum64(), "size {size}");
        }
    }

    #[test]
    fn parallel_crc_matches_sequential() {
        let size = (130 << 20) + 12345;
        assert_eq!(compute_crc64(5, size), range_crc64(5, 0, size));
    }
}
