//! What `ferry copy` says while it copies: with stderr piped, a progress
//! line every `--stats` seconds whose bytes rise while parts are still in
//! flight, a rate true to the bytes moved, no ETA before there is data,
//! parts reused on resume counted as done but not in the rate; `-q` says
//! nothing on success; `--no-progress` keeps only the summary. The source is
//! capped per connection, so each copy takes a few seconds.
//!
//! Needs `make build` first (the binary and the component).

mod bed;

use bed::{ferry_copy, key, output_hiding, text, Bed};
use ferry_testbed::source::SourceConfig;
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

const BUCKET: &str = "ferry-progress";
const KEY_ID: &str = "progress-key";
const SECRET: &str = "progress-secret-value";
const MIB: u64 = 1 << 20;

fn bed(tag: &str, rate: Option<u64>) -> Bed {
    bed_with(tag, rate, false)
}

/// With `crc`, the source states its CRC-64, so a resumed copy checks the
/// parts it reuses without reading them again.
fn bed_with(tag: &str, rate: Option<u64>, crc: bool) -> Bed {
    let source = SourceConfig {
        rate_limit: rate,
        crc_header: crc,
        ..SourceConfig::default()
    };
    Bed::start(tag, BUCKET, source, vec![key(KEY_ID, SECRET)], false)
}

fn copy(bed: &Bed, seed: u64, size: u64, key: &str, extra: &[&str]) -> Output {
    let url = bed.source.url(seed, size);
    let mut command = ferry_copy(bed, &url, BUCKET, key, (KEY_ID, SECRET));
    output_hiding(command.args(extra), &[SECRET])
}

/// One piped progress line:
/// `copying    3.25 MiB / 16.00 MiB  20%  4.10 MiB/s  ETA 3s  parts 9/16  in flight 4`
/// (rate and ETA `-` until there is data).
#[derive(Debug)]
struct Line {
    bytes: f64,
    rate: Option<f64>,
    eta: String,
    done_parts: u32,
}

/// `3.25` `MiB` as bytes.
fn bytes_of(number: &str, unit: &str) -> Option<f64> {
    let scale = match unit.trim_end_matches("/s") {
        "B" => 1.0,
        "KiB" => 1024.0,
        "MiB" => 1024.0 * 1024.0,
        "GiB" => 1024.0 * 1024.0 * 1024.0,
        "TiB" => 1024.0 * 1024.0 * 1024.0 * 1024.0,
        _ => return None,
    };
    Some(number.parse::<f64>().ok()? * scale)
}

fn parse_line(line: &str) -> Option<Line> {
    let rest = line.strip_prefix("copying ")?;
    let t: Vec<&str> = rest.split_whitespace().collect();
    let bytes = bytes_of(t.first()?, t.get(1)?)?;
    let mut i = 5; // past "N unit / N unit"
    if !t.get(i)?.ends_with('%') {
        return None;
    }
    i += 1;
    let rate = if *t.get(i)? == "-" {
        i += 1;
        None
    } else {
        i += 2;
        Some(bytes_of(t[i - 2], t[i - 1])?)
    };
    if *t.get(i)? != "ETA" {
        return None;
    }
    let eta = t.get(i + 1)?.to_string();
    if *t.get(i + 2)? != "parts" {
        return None;
    }
    let done_parts = t.get(i + 3)?.split('/').next()?.parse().ok()?;
    Some(Line {
        bytes,
        rate,
        eta,
        done_parts,
    })
}

fn lines(stderr: &str) -> Vec<Line> {
    stderr
        .lines()
        .filter(|l| l.starts_with("copying "))
        .map(|l| parse_line(l).unwrap_or_else(|| panic!("not a progress line: {l:?}")))
        .collect()
}

/// The seconds of the summary's `done ... in S s` line.
fn summary_seconds(stdout: &str) -> f64 {
    let line = stdout
        .lines()
        .find(|l| l.starts_with("done "))
        .unwrap_or_else(|| panic!("no summary: {stdout}"));
    let after = line.split(" in ").nth(1).expect("done ... in S s");
    after.split_whitespace().next().unwrap().parse().unwrap()
}

/// No line shows an ETA before there is data, nor `ETA 0s` before the end.
fn assert_no_early_eta(lines: &[Line], size: u64, stderr: &str) {
    for l in lines {
        if l.bytes == 0.0 {
            assert_eq!(l.eta, "-", "an ETA before any data: {stderr}");
            assert!(l.rate.is_none(), "a rate before any data: {stderr}");
        }
        if l.bytes < size as f64 {
            assert_ne!(l.eta, "0s", "ETA 0s with bytes left: {stderr}");
        }
    }
}

/// 3 parts of 8 MiB, all in flight at 2 MB/s each: no part finishes for
/// about 4 s, and the piped lines (every second) count bytes as they flow,
/// at the aggregate rate.
#[test]
fn piped_lines_count_bytes_in_flight_at_the_aggregate_rate() {
    let bed = bed("progress-lines", Some(2_000_000));
    let size = 24 * MIB;
    let out = copy(
        &bed,
        71,
        size,
        "lines.bin",
        &["--part-size", "8MiB", "--instances", "3", "--stats", "1"],
    );
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    bed.check_copied(71, size, "lines.bin").unwrap();
    let lines = lines(&stderr);
    // Lines while no part had finished, their bytes rising.
    let before_parts: Vec<&Line> = lines
        .iter()
        .filter(|l| l.done_parts == 0 && l.bytes > 0.0)
        .collect();
    assert!(
        before_parts.len() >= 2,
        "fewer than 2 progress lines with bytes before a part finished: {stderr}"
    );
    for pair in before_parts.windows(2) {
        assert!(
            pair[1].bytes > pair[0].bytes,
            "the bytes did not rise between lines: {stderr}"
        );
    }
    // The rate shown is that of the bytes moved: all connections together.
    let true_rate = size as f64 / summary_seconds(&stdout);
    for l in lines.iter().filter(|l| l.bytes > 0.0) {
        let rate = l
            .rate
            .unwrap_or_else(|| panic!("no rate with data: {stderr}"));
        assert!(
            rate > true_rate / 2.0 && rate < true_rate * 2.0,
            "rate {rate:.0} B/s is not within 2x of {true_rate:.0} B/s moved: {stderr}"
        );
        assert_ne!(l.eta, "-", "no ETA with data: {stderr}");
    }
    assert_no_early_eta(&lines, size, &stderr);
}

/// `-q`: nothing at all on a successful copy.
#[test]
fn quiet_prints_nothing_on_success() {
    let bed = bed("progress-quiet", None);
    let size = 3 * MIB + 5;
    let out = copy(&bed, 72, size, "quiet.bin", &["--part-size", "1MiB", "-q"]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    bed.check_copied(72, size, "quiet.bin").unwrap();
    assert_eq!(stdout, "", "-q printed on stdout");
    assert_eq!(stderr, "", "-q printed on stderr");
}

/// `--no-progress`: no progress line during a copy of a few seconds, and
/// the summary all the same.
#[test]
fn no_progress_keeps_only_the_summary() {
    let bed = bed("progress-none", Some(2_000_000));
    let size = 8 * MIB;
    let out = copy(
        &bed,
        73,
        size,
        "none.bin",
        &[
            "--part-size",
            "4MiB",
            "--instances",
            "2",
            "--stats",
            "1",
            "--no-progress",
        ],
    );
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    bed.check_copied(73, size, "none.bin").unwrap();
    assert!(
        !stderr.lines().any(|l| l.starts_with("copying")),
        "--no-progress printed progress: {stderr}"
    );
    assert!(summary_seconds(&stdout) > 1.0, "{stdout}");
    assert!(stdout.contains("verified"), "{stdout}");
}

/// A copy stopped after a third of its parts, kept, and resumed: the resumed
/// copy's lines count the reused parts as done (bytes and parts), while its
/// rate is that of the bytes it moves itself.
#[test]
fn a_resumed_copys_rate_excludes_reused_parts() {
    let bed = bed_with("progress-resume", Some(1_000_000), true);
    let size = 32 * MIB;
    let args = ["--part-size", "1MiB", "--instances", "4", "--stats", "1"];
    let child = ferry_copy(
        &bed,
        &bed.source.url(74, size),
        BUCKET,
        "resume.bin",
        (KEY_ID, SECRET),
    )
    .args(args)
    .args(["--keep-partial", "--json", "--no-progress"])
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    // Parts take about a second each at this rate, 4 at a time: the 13th
    // part has started once at least 9 are in the store. About 20 are
    // left for the resumed copy, 5 seconds of it.
    let deadline = Instant::now() + Duration::from_secs(60);
    while bed.store.counts().upload_part < 13 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let sent = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130), "{}", text(&out).1);
    let kept = bed::last_json(&out.stdout);
    let id = kept["upload_id"]
        .as_str()
        .expect("the kept upload is named");

    let out = copy(
        &bed,
        74,
        size,
        "resume.bin",
        &[&args[..], &["--resume", id]].concat(),
    );
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    bed.check_copied(74, size, "resume.bin").unwrap();
    let reused: u64 = stdout
        .split(" parts reused")
        .next()
        .and_then(|s| s.rsplit(", ").next())
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no parts reused: {stdout}"));
    assert!(reused >= 8, "only {reused} parts reused: {stdout}");
    let reused_bytes = (reused * MIB) as f64;
    let moved_rate = (size as f64 - reused_bytes) / summary_seconds(&stdout);
    let lines = lines(&stderr);
    let with_data: Vec<&Line> = lines.iter().filter(|l| l.rate.is_some()).collect();
    assert!(
        !with_data.is_empty(),
        "no progress line with data: {stderr}"
    );
    for l in &lines {
        assert!(
            l.bytes >= reused_bytes && l.done_parts as u64 >= reused,
            "the reused parts are not counted as done: {l:?}: {stderr}"
        );
    }
    for l in with_data {
        let rate = l.rate.unwrap();
        assert!(
            rate < moved_rate * 2.0 && rate > moved_rate / 2.0,
            "rate {rate:.0} B/s is not within 2x of {moved_rate:.0} B/s moved: {stderr}"
        );
    }
    assert_no_early_eta(&lines, size, &stderr);
}
