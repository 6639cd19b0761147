//! How fast each candidate crate hashes inside a WebAssembly component, run
//! by the stock `wasmtime run` (`make bench`): the CRC-64/XZ crates ferry could
//! use for OSS's check, MD5 for S3's, the cost of combining two CRCs, and
//! what a hand-written lane-parallel CRC (`lanes.rs`) would gain over them.
//! WebAssembly has no carry-less multiply or MD5 instructions, so these are
//! the crates' portable code paths, as ferry's component runs them.

use std::time::Instant;

mod lanes;

const MIB: usize = 1 << 20;

fn rate(what: &str, bytes: usize, f: impl FnOnce() -> u64) {
    let t = Instant::now();
    let check = f();
    let s = t.elapsed().as_secs_f64();
    println!(
        "| {what} | {:.0} MB/s | {check:016x} |",
        bytes as f64 / s / 1e6
    );
}

fn main() {
    let data: Vec<u8> = (0..(64 * MIB) as u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let reps = 4;
    let total = reps * data.len();
    println!("| code | speed | result |\n|---|---|---|");
    rate("crc64fast (CRC-64/XZ)", total, || {
        let mut d = crc64fast::Digest::new();
        for _ in 0..reps {
            data.chunks(MIB).for_each(|c| d.write(c));
        }
        d.sum64()
    });
    const XZ: crc::Crc<u64, crc::Table<16>> = crc::Crc::<u64, crc::Table<16>>::new(&crc::CRC_64_XZ);
    rate("crc, slicing-by-16 (CRC-64/XZ)", total, || {
        let mut d = XZ.digest();
        for _ in 0..reps {
            data.chunks(MIB).for_each(|c| d.update(c));
        }
        d.finalize()
    });
    rate("crc-fast (CRC-64/XZ)", total, || {
        let mut d = crc_fast::Digest::new(crc_fast::CrcAlgorithm::Crc64Xz);
        for _ in 0..reps {
            data.chunks(MIB).for_each(|c| d.update(c));
        }
        d.finalize()
    });
    let shift = lanes::Shift::new();
    rate(
        "hand-written, 1 lane of slicing-by-8 (not used)",
        total,
        || {
            let mut c = !0u64;
            for _ in 0..reps {
                data.chunks(MIB).for_each(|x| c = lanes::one_lane(c, x));
            }
            !c
        },
    );
    rate(
        "hand-written, 4 lanes of slicing-by-8 (not used)",
        total,
        || {
            let mut c = !0u64;
            for _ in 0..reps {
                data.chunks(MIB)
                    .for_each(|x| c = lanes::four_lanes(&shift, c, x));
            }
            !c
        },
    );
    rate("md-5 (MD5)", total, || {
        use md5::Digest;
        let mut d = md5::Md5::new();
        for _ in 0..reps {
            data.chunks(MIB).for_each(|c| d.update(c));
        }
        u64::from_be_bytes(d.finalize()[..8].try_into().unwrap())
    });
    let n = 1000u64;
    let t = Instant::now();
    let mut acc = 0u64;
    for i in 0..n {
        let crc = i.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        acc = crc_fast::checksum_combine(crc_fast::CrcAlgorithm::Crc64Xz, acc, crc, 6 << 20);
    }
    println!(
        "| crc-fast checksum_combine, 6 MiB | {:.1} us a call | {acc:016x} |",
        t.elapsed().as_secs_f64() * 1e6 / n as f64
    );
}
