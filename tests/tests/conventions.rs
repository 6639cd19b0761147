//! The command line's conventions, as users of rclone, ossutil and
//! `aws s3 cp` expect them: short flags and `--parallel`, `--bwlimit`,
//! `--dry-run`, `ferry completions SHELL`, `--help` with examples and the
//! exit codes, `--version` with the component's hash, and CRC-64 values as
//! decimal strings in `--json`. Each runs the built `ferry` binary against
//! the loopback test bed.
//!
//! Needs `make build` first (the binary and the component).

mod bed;
mod common;

use bed::{component, ferry_bin, ferry_copy, key, last_json, output_hiding, text, Bed};
use ferry_testbed::source::SourceConfig;
use hyper::Method;
use sha2::{Digest, Sha256};
use std::process::{Command, Output};
use std::time::Instant;

const BUCKET: &str = "ferry-conventions";
const KEY_ID: &str = "conventions-key";
const SECRET: &str = "conventions-secret-value";
const SEED: u64 = 18;
/// 3 parts of 1 MiB and a tail.
const SIZE: u64 = 3 * 1024 * 1024 + 4321;

/// A bed whose source states its CRC-64 (`x-oss-hash-crc64ecma`), as an
/// OSS-hosted source does.
fn bed(tag: &str) -> Bed {
    let source = SourceConfig {
        crc_header: true,
        ..SourceConfig::default()
    };
    Bed::start(tag, BUCKET, source, vec![key(KEY_ID, SECRET)], true)
}

/// `ferry copy` of the bed's pattern object (`seed`, `size`) into `key`
/// with `extra`; asserts the secret shows nowhere.
fn copy(bed: &Bed, seed: u64, size: u64, key: &str, extra: &[&str]) -> Output {
    let source = bed.source.url(seed, size);
    let mut command = ferry_copy(bed, &source, BUCKET, key, (KEY_ID, SECRET));
    output_hiding(command.args(extra), &[SECRET])
}

/// `ferry ARGS` in a clean environment.
fn ferry(args: &[&str]) -> Output {
    Command::new(ferry_bin())
        .args(args)
        .env_clear()
        .output()
        .expect("ferry runs")
}

#[test]
fn help_shows_examples_and_every_exit_code_ferry_rules_defines() {
    for args in [&["--help"][..], &["copy", "--help"]] {
        let out = ferry(args);
        assert!(out.status.success(), "{args:?}: {out:?}");
        let (help, _) = text(&out);
        let code_lines: Vec<&str> = help.lines().map(str::trim_start).collect();
        let codes = ferry_rules::EXIT_CODES
            .iter()
            .map(|&(_, code, _)| code)
            .chain([0, 130]);
        for code in codes {
            assert!(
                code_lines
                    .iter()
                    .any(|l| l.starts_with(&format!("{code} "))),
                "{args:?}: exit code {code} is not in the help:\n{help}"
            );
        }
        for example in [
            "ferry copy https://",
            "s3://",
            "--endpoint http",
            "--resume",
            "ferry serve",
        ] {
            assert!(
                help.contains(example),
                "{args:?}: no example with {example:?}:\n{help}"
            );
        }
    }
}

#[test]
fn completions_are_written_for_each_shell() {
    let out = ferry(&["completions", "bash"]);
    assert!(out.status.success(), "{out:?}");
    let (script, _) = text(&out);
    assert!(
        script.contains("copy") && script.contains("--part-size"),
        "{script}"
    );
    for shell in ["zsh", "fish", "powershell", "elvish"] {
        let out = ferry(&["completions", shell]);
        assert!(
            out.status.success() && text(&out).0.contains("copy"),
            "{shell}: {out:?}"
        );
    }
    let out = ferry(&["completions", "tcsh"]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
}

#[test]
fn version_names_the_components_sha256() {
    let out = ferry(&["--version"]);
    assert!(out.status.success(), "{out:?}");
    let (version, _) = text(&out);
    let wasm = std::fs::read(component()).expect("target/ferry.wasm (make build)");
    let hash: String = Sha256::digest(&wasm)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert!(
        version.starts_with(&format!("ferry {}", env!("CARGO_PKG_VERSION"))),
        "{version}"
    );
    assert!(
        version.contains(&format!("sha256 {hash}")),
        "{version} does not name sha256 {hash}"
    );
}

#[test]
fn short_flags_and_parallel_name_the_common_options() {
    let bed = bed("conv-short");
    // -p is --parallel, -H --header (-e, --endpoint: in the help below).
    let out = copy(
        &bed,
        SEED,
        SIZE,
        "short.bin",
        &[
            "-p",
            "3",
            "-H",
            "X-Trace: 1",
            "--part-size",
            "1MiB",
            "--json",
        ],
    );
    let r = last_json(&out.stdout);
    assert_eq!(r["ok"], true, "{r} {}", text(&out).1);
    assert_eq!(r["parallelism"]["mode"], "pinned", "{r}");
    assert_eq!(r["parallelism"]["final"], 3, "{r}");
    bed.check_copied(SEED, SIZE, "short.bin").unwrap();

    // --parallel by name, and --instances still as its alias.
    for flag in ["--parallel", "--instances"] {
        let out = copy(
            &bed,
            SEED,
            SIZE,
            "long.bin",
            &[flag, "2", "--part-size", "1MiB", "--json"],
        );
        let r = last_json(&out.stdout);
        assert_eq!(r["parallelism"]["final"], 2, "{flag}: {r}");
    }
    let (help, _) = text(&ferry(&["copy", "--help"]));
    for shown in [
        "-p, --parallel",
        "-e, --endpoint",
        "-H, --header",
        "-n, --dry-run",
    ] {
        assert!(help.contains(shown), "{shown} is not in the help:\n{help}");
    }
    assert!(!help.contains("--instances"), "one name in --help:\n{help}");
    let out = copy(&bed, SEED, SIZE, "bad.bin", &["-p", "0"]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(text(&out).1.contains("--parallel 0"), "{out:?}");
}

#[test]
fn json_crc64_values_are_decimal_strings_as_oss_sends_them() {
    let bed = bed("conv-json");
    let out = copy(
        &bed,
        SEED,
        SIZE,
        "json.bin",
        &["--part-size", "1MiB", "--json"],
    );
    let r = last_json(&out.stdout);
    assert_eq!(r["ok"], true, "{r} {}", text(&out).1);
    let head = common::OssClient::new(
        &bed.store.endpoint(),
        Some(common::credential(KEY_ID, SECRET, None)),
    )
    .send(Method::HEAD, &format!("/{BUCKET}/json.bin"), &[], "");
    let stored = head
        .header("x-oss-hash-crc64ecma")
        .expect("the store names the object's CRC-64")
        .to_string();
    assert!(stored.parse::<u64>().unwrap() > 1 << 53, "{stored}");
    for field in ["crc64", "store_crc64", "source_crc64"] {
        assert_eq!(r[field].as_str(), Some(stored.as_str()), "{field}: {r}");
    }
}

#[test]
fn bwlimit_holds_the_total_rate_and_the_object_is_whole() {
    let bed = bed("conv-bwlimit");
    let size = 40_000_000;
    let started = Instant::now();
    let out = copy(
        &bed,
        SEED,
        size,
        "slow.bin",
        &[
            "--bwlimit",
            "20M",
            "-p",
            "8",
            "--part-size",
            "2MiB",
            "--json",
        ],
    );
    let took = started.elapsed().as_secs_f64();
    let r = last_json(&out.stdout);
    assert_eq!(r["ok"], true, "{r} {}", text(&out).1);
    assert!(took >= 1.5, "40 MB at 20 MiB/s took {took:.2} s");
    bed.check_copied(SEED, size, "slow.bin").unwrap();

    for bad in ["0", "fast", "1"] {
        let out = copy(&bed, SEED, SIZE, "bad.bin", &["--bwlimit", bad]);
        assert_eq!(out.status.code(), Some(2), "{bad}: {out:?}");
        assert!(text(&out).1.contains("--bwlimit"), "{bad}: {out:?}");
    }
}

#[test]
fn dry_run_prints_the_plan_and_uploads_nothing() {
    let bed = bed("conv-dry");
    let out = copy(
        &bed,
        SEED,
        SIZE,
        "dry.bin",
        &["-n", "--part-size", "1MiB", "-p", "3"],
    );
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    for said in [
        "3.00 MiB",
        "4 parts of 1.00 MiB",
        "3 in flight",
        &format!("oss://{BUCKET}/dry.bin"),
        "CRC-64",
        "nothing was uploaded",
    ] {
        assert!(stdout.contains(said), "{said:?} not in:\n{stdout}");
    }
    let out = copy(&bed, SEED, SIZE, "dry.bin", &["--dry-run", "--json"]);
    let r = last_json(&out.stdout);
    assert_eq!(r["ok"], true, "{r}");
    assert_eq!(r["dry_run"], true, "{r}");
    assert_eq!(r["size"], SIZE, "{r}");
    assert_eq!(
        r["source_crc64"].as_str(),
        Some(&*ferry_testbed::pattern::crc64(SEED, SIZE).to_string()),
        "{r}"
    );
    assert!(r["parts"].as_u64().unwrap() >= 1, "{r}");
    assert!(
        bed.store.object(BUCKET, "dry.bin").is_none(),
        "an object was written"
    );
    bed.check_no_upload().unwrap();

    // The bucket is checked: a wrong secret is the store's refusal.
    let out = ferry_copy(
        &bed,
        &bed.source.url(SEED, SIZE),
        BUCKET,
        "dry.bin",
        (KEY_ID, "not-the-secret"),
    )
    .arg("--dry-run")
    .output()
    .unwrap();
    assert_eq!(out.status.code(), Some(4), "{out:?}");
    bed.check_no_upload().unwrap();
}
