//! How fast each way of hashing runs inside a WebAssembly component, run by
//! the stock `wasmtime run` (`make bench-hashes`, also natively): ferry's own
//! CRC-64/XZ (`guest/src/crc64.rs`, checked here against crc64fast first),
//! the CRC-64/XZ crates ferry could use for OSS's check, slicing-by-16 by
//! hand, MD5 for S3's check, and the cost of combining two CRCs.
//! WebAssembly has no carry-less multiply or MD5 instructions, so the
//! crates run their portable code paths there, as ferry's component would.

use std::time::Instant;

#[path = "../../../guest/src/crc64.rs"]
mod crc64;
mod variants;

const MIB: usize = 1 << 20;

/// One row: a name and a hash of the whole buffer, fed in 1 MiB writes.
type Row<'a> = (String, Box<dyn Fn(&[u8]) -> u64 + 'a>);

/// Runs every row once per round, ROUNDS rounds, and keeps each row's
/// fastest: other work on the machine only slows a run down, and taking
/// turns spreads it over all rows alike.
fn race(data: &[u8], rows: Vec<Row>) {
    const ROUNDS: usize = 9;
    let mut best = vec![f64::INFINITY; rows.len()];
    let mut checks = vec![0u64; rows.len()];
    for _ in 0..ROUNDS {
        for (i, (_, f)) in rows.iter().enumerate() {
            let t = Instant::now();
            checks[i] = f(data);
            best[i] = best[i].min(t.elapsed().as_secs_f64());
        }
    }
    for (i, (name, _)) in rows.iter().enumerate() {
        println!(
            "| {name} | {:.0} MB/s | {:016x} |",
            data.len() as f64 / best[i] / 1e6,
            checks[i]
        );
    }
}

/// A row from a register update `f(register, bytes) -> register`.
fn register<'a>(name: &str, f: impl Fn(u64, &[u8]) -> u64 + 'a) -> Row<'a> {
    let run = move |data: &[u8]| !data.chunks(MIB).fold(!0u64, &f);
    (name.to_string(), Box::new(run))
}

/// ferry's `Crc64` against crc64fast where this program runs (under
/// wasmtime: the SIMD128 code ferry's component runs): every length to 4096
/// at every alignment to 16, and large buffers written in uneven pieces.
fn check() {
    let data: Vec<u8> = (0..200_000u32)
        .map(|i| (i.wrapping_mul(2_246_822_519) >> 11) as u8)
        .collect();
    let reference = |x: &[u8]| {
        let mut d = crc64fast::Digest::new();
        d.write(x);
        d.sum64()
    };
    for align in 0..16 {
        for len in 0..=4096 {
            let x = &data[align..align + len];
            let mut d = crc64::Crc64::new();
            d.update(x);
            assert_eq!(
                d.finish(),
                reference(x),
                "Crc64 differs from crc64fast: length {len}, alignment {align}"
            );
        }
    }
    for piece in [1usize, 1000, 4096, 32_767, 32_768, 32_769, 65_536, 100_000] {
        for len in [32_767, 32_768, 32_769, 65_535, 65_536, 98_320, 199_999] {
            let x = &data[1..1 + len];
            let mut d = crc64::Crc64::new();
            x.chunks(piece).for_each(|c| d.update(c));
            assert_eq!(
                d.finish(),
                reference(x),
                "Crc64 differs from crc64fast: length {len} in pieces of {piece}"
            );
        }
    }
}

fn main() {
    let data: Vec<u8> = (0..(64 * MIB) as u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    println!("| code | speed | result |\n|---|---|---|");
    const XZ: crc::Crc<u64, crc::Table<16>> = crc::Crc::<u64, crc::Table<16>>::new(&crc::CRC_64_XZ);
    check();
    const LANE: usize = 1024;
    let shift = variants::Shift::new(LANE);
    let mut rows: Vec<Row> = vec![
        (
            "ferry's Crc64 (CRC-64/XZ): 16 lanes, SIMD128 in wasm, a plain-array stand-in natively"
                .into(),
            Box::new(|data: &[u8]| {
                let mut d = crc64::Crc64::new();
                data.chunks(MIB).for_each(|c| d.update(c));
                d.finish()
            }),
        ),
        (
            "crc64fast (CRC-64/XZ)".into(),
            Box::new(|data: &[u8]| {
                let mut d = crc64fast::Digest::new();
                data.chunks(MIB).for_each(|c| d.write(c));
                d.sum64()
            }),
        ),
        (
            "crc, slicing-by-16 (CRC-64/XZ)".into(),
            Box::new(|data: &[u8]| {
                let mut d = XZ.digest();
                data.chunks(MIB).for_each(|c| d.update(c));
                d.finalize()
            }),
        ),
        (
            "crc-fast (CRC-64/XZ)".into(),
            Box::new(|data: &[u8]| {
                let mut d = crc_fast::Digest::new(crc_fast::CrcAlgorithm::Crc64Xz);
                data.chunks(MIB).for_each(|c| d.update(c));
                d.finalize()
            }),
        ),
        (
            "ferry's Crc64 (CRC-64/NVME, S3's), the same code".into(),
            Box::new(|data: &[u8]| {
                let mut d = crc64::Crc64::nvme();
                data.chunks(MIB).for_each(|c| d.update(c));
                d.finish()
            }),
        ),
        (
            "crc-fast (CRC-64/NVME)".into(),
            Box::new(|data: &[u8]| {
                let mut d = crc_fast::Digest::new(crc_fast::CrcAlgorithm::Crc64Nvme);
                data.chunks(MIB).for_each(|c| d.update(c));
                d.finalize()
            }),
        ),
        register("slicing-by-16 by hand, 1 lane (not used)", |c, b| {
            crc64::slice16(&crc64::XZ, c, b)
        }),
        register(
            "slicing-by-16 by hand, 2 interleaved lanes (not used)",
            |c, x| variants::two_lanes(&shift, LANE, c, x),
        ),
    ];
    rows.push((
        "md-5 (MD5)".into(),
        Box::new(|data: &[u8]| {
            use md5::Digest;
            let mut d = md5::Md5::new();
            data.chunks(MIB).for_each(|c| d.update(c));
            u64::from_be_bytes(d.finalize()[..8].try_into().unwrap())
        }),
    ));
    race(&data, rows);
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
