//! End-to-end copies through the built `ferry` binary and `ferry.wasm`,
//! against the loopback source and OSS-protocol store. Every copy is read
//! back from the store and compared with the source, byte for byte and by
//! CRC-64; every failure must leave no object and no upload behind.
//!
//! Needs `make build` first (the binary and the component); `make test`
//! does that.

mod bed;

use bed::{component, ferry_bin, key, Bed, REGION};
use ferry_testbed::faults::Faults;
use ferry_testbed::pattern;
use ferry_testbed::source::{SourceConfig, SourceServer};
use ferry_testbed::store::{Credential, StoreHistory};
use serde_json::Value;
use std::process::Command;
use std::time::{Duration, Instant};

const BUCKET: &str = "ferry-e2e";
const KEY_ID: &str = "e2e-key";
const SECRET: &str = "e2e-secret-value";
const STS_ID: &str = "e2e-sts-key";
const STS_SECRET: &str = "e2e-sts-secret";
const STS_TOKEN: &str = "e2e-sts-token-value";

fn bed(tag: &str, source: SourceConfig) -> Bed {
    let sts = Credential {
        token: Some(STS_TOKEN.into()),
        ..key(STS_ID, STS_SECRET)
    };
    Bed::start(tag, BUCKET, source, vec![key(KEY_ID, SECRET), sts], true)
}

struct Run {
    code: i32,
    result: Value,
    stderr: String,
}

fn ferry(
    bed: &Bed,
    source_url: &str,
    key: &str,
    extra: &[&str],
    creds: (&str, &str, Option<&str>),
) -> Run {
    let mut cmd = Command::new(ferry_bin());
    cmd.arg("copy")
        .arg(source_url)
        .arg(format!("oss://{BUCKET}/{key}"))
        .args([
            "--endpoint",
            &bed.store.endpoint(),
            "--region",
            REGION,
            "--json",
        ])
        .args(extra)
        .env_clear()
        .env("OSS_ACCESS_KEY_ID", creds.0)
        .env("OSS_ACCESS_KEY_SECRET", creds.1)
        .env("FERRY_COMPONENT", component());
    if let Some(token) = creds.2 {
        cmd.env("OSS_SESSION_TOKEN", token);
    }
    let out = cmd.output().expect("ferry runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let line = stdout.lines().last().unwrap_or_default();
    let result: Value = serde_json::from_str(line)
        .unwrap_or_else(|e| panic!("ferry printed no JSON result ({e}): {stdout}\n{stderr}"));
    for secret in [SECRET, STS_SECRET, STS_TOKEN] {
        assert!(
            !stdout.contains(secret) && !stderr.contains(secret),
            "a secret leaked into ferry's output"
        );
    }
    Run {
        code: out.status.code().unwrap_or(-1),
        result,
        stderr,
    }
}

const KEYS: (&str, &str, Option<&str>) = (KEY_ID, SECRET, None);

/// Copies pattern object (seed, size) and checks it in the store.
fn copy_and_verify(
    bed: &Bed,
    seed: u64,
    size: u64,
    key: &str,
    extra: &[&str],
    creds: (&str, &str, Option<&str>),
) -> Value {
    let run = ferry(bed, &bed.source.url(seed, size), key, extra, creds);
    assert_eq!(run.code, 0, "ferry failed: {}\n{}", run.result, run.stderr);
    assert_eq!(run.result["ok"], true);
    let expected_crc = pattern::crc64(seed, size);
    assert_eq!(run.result["size"], size);
    assert_eq!(run.result["crc64"], expected_crc.to_string());
    assert_eq!(run.result["store_crc64"], expected_crc.to_string());
    bed.check_copied(seed, size, key).unwrap();
    run.result
}

/// The checkout the tests use is the one this test executable sits in.
#[test]
fn workspace_holds_this_test_executable() {
    let exe = std::env::current_exe().unwrap().canonicalize().unwrap();
    let deps = bed::workspace().join("target/release/deps");
    assert_eq!(exe.parent(), Some(deps.as_path()), "workspace {deps:?}");
}

/// A test executable copied into another checkout tests that checkout's
/// ferry, not the one it was compiled in.
#[test]
fn a_test_executable_in_another_checkout_uses_that_checkout() {
    let exe = std::env::current_exe().unwrap();
    let other = std::env::temp_dir().join(format!("ferry-test-clone-{}", std::process::id()));
    let deps = other.join("target/release/deps");
    std::fs::create_dir_all(&deps).unwrap();
    std::fs::write(other.join("Cargo.toml"), "[workspace]\n").unwrap();
    let moved = deps.join(exe.file_name().unwrap());
    std::fs::copy(&exe, &moved).unwrap();
    let out = Command::new(&moved)
        .args(["--exact", "workspace_holds_this_test_executable"])
        .output()
        .expect("the copied test executable runs");
    let _ = std::fs::remove_dir_all(&other);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("1 passed"),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn small_shapes_copy_exactly() {
    let bed = bed("shapes", SourceConfig::default());
    let part = 100 * 1024u64;
    for (i, size) in [0, 1, part, part + 1, 3 * part + 12_345]
        .into_iter()
        .enumerate()
    {
        let key = format!("shapes/{size}.bin");
        let r = copy_and_verify(
            &bed,
            40 + i as u64,
            size,
            &key,
            &["--part-size", "100KiB", "--instances", "4"],
            KEYS,
        );
        assert_eq!(r["parts"], size.div_ceil(part), "size {size}");
    }
}

#[test]
fn source_crc_is_checked_and_v1_and_sts_sign() {
    let bed = bed(
        "auth",
        SourceConfig {
            crc_header: true,
            ..SourceConfig::default()
        },
    );
    let r = copy_and_verify(
        &bed,
        7,
        5_000_000,
        "auth/v4-sts.bin",
        &["--part-size", "1MiB"],
        (STS_ID, STS_SECRET, Some(STS_TOKEN)),
    );
    assert_eq!(r["source_crc64"], pattern::crc64(7, 5_000_000).to_string());
    copy_and_verify(
        &bed,
        8,
        3_000_000,
        "auth/v1.bin",
        &["--part-size", "1MiB", "--signature", "v1"],
        KEYS,
    );
    copy_and_verify(
        &bed,
        9,
        3_000_000,
        "auth/v1-sts.bin",
        &["--part-size", "1MiB", "--signature", "v1"],
        (STS_ID, STS_SECRET, Some(STS_TOKEN)),
    );
}

#[test]
fn head_refused_source_is_probed_with_a_range() {
    let bed = bed(
        "nohead",
        SourceConfig {
            refuse_head: true,
            ..SourceConfig::default()
        },
    );
    copy_and_verify(
        &bed,
        11,
        2_500_000,
        "nohead.bin",
        &["--part-size", "1MiB"],
        KEYS,
    );
}

#[test]
fn half_gib_through_sixteen_instances() {
    let bed = bed(
        "big",
        SourceConfig {
            crc_header: true,
            ..SourceConfig::default()
        },
    );
    let size = 512u64 << 20;
    let r = copy_and_verify(
        &bed,
        99,
        size,
        "big/half-gib.bin",
        &["--instances", "16"],
        KEYS,
    );
    assert_eq!(r["parts"], 86);
}

/// A failure must leave neither an object nor an upload. Returns what the
/// store made before (and since removed), to tell when the failure came.
fn assert_nothing_left(bed: &Bed, key: &str) -> StoreHistory {
    assert!(
        bed.store.object(BUCKET, key).is_none(),
        "an object was left"
    );
    bed.check_no_upload().unwrap();
    bed.store.history()
}

#[test]
fn wrong_credentials_fail_clearly_and_leave_nothing() {
    let bed = bed("creds", SourceConfig::default());
    let url = bed.source.url(1, 1_000_000);
    let run = ferry(
        &bed,
        &url,
        "creds/a.bin",
        &[],
        (KEY_ID, "not-the-secret", None),
    );
    assert_eq!(run.code, 4, "{}", run.stderr);
    assert_eq!(run.result["kind"], "store");
    assert!(run.result["message"]
        .as_str()
        .unwrap()
        .contains("SignatureDoesNotMatch"));
    let run = ferry(
        &bed,
        &url,
        "creds/a.bin",
        &[],
        ("no-such-key", SECRET, None),
    );
    assert_eq!(run.code, 4);
    assert!(run.result["message"]
        .as_str()
        .unwrap()
        .contains("InvalidAccessKeyId"));
    let run = ferry(
        &bed,
        &url,
        "creds/a.bin",
        &[],
        (STS_ID, STS_SECRET, Some("wrong-token")),
    );
    assert_eq!(run.code, 4, "{}", run.stderr);
    // Refused before the upload: nothing was ever created.
    let made = assert_nothing_left(&bed, "creds/a.bin");
    assert_eq!(made, StoreHistory::default());
}

#[test]
fn missing_source_fails_clearly_and_leaves_nothing() {
    let bed = bed("404", SourceConfig::default());
    let url = format!("http://{}/no/such/object", bed.source.addr());
    let run = ferry(&bed, &url, "missing.bin", &[], KEYS);
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert_eq!(run.result["kind"], "source");
    assert!(run.result["message"].as_str().unwrap().contains("404"));
    // Refused before the upload: nothing was ever created.
    let made = assert_nothing_left(&bed, "missing.bin");
    assert_eq!(made, StoreHistory::default());
}

/// Failures after the upload exists leave nothing either: the store's
/// history shows what was made (the upload, parts, the object), its state
/// that all of it is gone.
#[test]
fn failures_after_the_upload_exists_leave_nothing() {
    let bed = bed("after-upload", SourceConfig::default());
    let size = 5_000_000;
    let one_at_a_time = ["--part-size", "1MiB", "--instances", "1"];
    let cases = [
        // The source changes once three parts are in the store: exit 3.
        (
            "changed",
            Faults {
                change_after: Some(3),
                ..Faults::default()
            },
            3,
        ),
        // The store reports a wrong CRC-64 for the completed object: exit
        // 5, and the object it made is deleted.
        (
            "wrong-object-crc",
            Faults {
                wrong_object_crc: 1,
                ..Faults::default()
            },
            5,
        ),
    ];
    for (i, (name, faults, code)) in cases.into_iter().enumerate() {
        bed.source.set_faults(faults.clone());
        bed.store.set_faults(faults);
        let before = bed.store.history();
        let key = format!("after/{name}.bin");
        let run = ferry(
            &bed,
            &bed.source.url(20 + i as u64, size),
            &key,
            &one_at_a_time,
            KEYS,
        );
        assert_eq!(run.code, code, "{name}: {}\n{}", run.result, run.stderr);
        let h = assert_nothing_left(&bed, &key);
        assert_eq!(
            h.uploads_created - before.uploads_created,
            1,
            "{name}: {h:?}"
        );
        assert!(h.parts_stored - before.parts_stored >= 3, "{name}: {h:?}");
        if code == 5 {
            assert_eq!(h.objects_written - before.objects_written, 1, "{h:?}");
            assert_eq!(h.objects_deleted - before.objects_deleted, 1, "{h:?}");
        }
    }
}

/// The store refuses parts mid-copy (403 from the moment it holds two):
/// exit 4, the upload with its parts aborted.
#[test]
fn a_part_refused_mid_copy_leaves_nothing() {
    let bed = bed(
        "refused-mid-copy",
        SourceConfig {
            rate_limit: Some(2_000_000),
            ..SourceConfig::default()
        },
    );
    let key = "refused/mid-copy.bin";
    let url = bed.source.url(23, 8 << 20);
    let run = std::thread::scope(|s| {
        s.spawn(|| {
            let deadline = Instant::now() + Duration::from_secs(60);
            while bed.store.held_parts(BUCKET) < 2 && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(5));
            }
            bed.store.set_faults(Faults {
                part_status_burst: Some((403, u32::MAX, None)),
                ..Faults::default()
            });
        });
        let args = ["--part-size", "1MiB", "--instances", "2"];
        ferry(&bed, &url, key, &args, KEYS)
    });
    assert_eq!(run.code, 4, "{}\n{}", run.result, run.stderr);
    let h = assert_nothing_left(&bed, key);
    assert_eq!((h.uploads_created, h.uploads_aborted), (1, 1), "{h:?}");
    assert!(h.parts_stored >= 2, "{h:?}");
}

/// Every ranged GET of a multi-part copy is conditional on the version
/// planned: `If-Match` with the source's ETag, or, from a source that sends
/// no ETag, `If-Unmodified-Since` with its Last-Modified.
#[test]
fn every_ranged_get_is_conditional() {
    for no_etag in [false, true] {
        let source = SourceConfig {
            no_etag,
            ..SourceConfig::default()
        };
        let bed = bed(&format!("conditional-{no_etag}"), source);
        let (seed, size) = (31, 5_000_000);
        copy_and_verify(
            &bed,
            seed,
            size,
            "conditional.bin",
            &["--part-size", "1MiB"],
            KEYS,
        );
        let gets: Vec<_> = bed
            .source
            .received()
            .into_iter()
            .filter(|r| r.method == "GET")
            .collect();
        assert!(gets.len() >= 5, "{gets:?}");
        for get in &gets {
            assert!(get.range.is_some(), "a GET without a range: {get:?}");
            if no_etag {
                assert_eq!(get.if_match, None, "{get:?}");
                let date = Some("Mon, 01 Jan 2024 00:00:00 GMT");
                assert_eq!(get.if_unmodified_since.as_deref(), date, "{get:?}");
            } else {
                let etag = SourceServer::etag(seed, size);
                assert_eq!(get.if_match.as_deref(), Some(&etag[..]), "{get:?}");
            }
        }
    }
}

#[test]
fn bad_input_is_named() {
    let bed = bed("input", SourceConfig::default());
    let url = bed.source.url(1, 10);
    let run = ferry(&bed, &url, "x", &["--part-size", "10KiB"], KEYS);
    assert_eq!(run.code, 2);
    assert!(run.result["message"]
        .as_str()
        .unwrap()
        .contains("100KiB to 5GiB"));
    let run = ferry(&bed, "ftp://example/x", "x", &[], KEYS);
    assert_eq!(run.code, 2);
    // Refused before the upload: nothing was ever created.
    let made = assert_nothing_left(&bed, "x");
    assert_eq!(made, StoreHistory::default());
}

/// A source that is an object of the same store is copied by the store
/// (UploadPartCopy): no UploadPart, the object equal to its source by bytes
/// and CRC-64. Named as `oss://` (V4) and as a URL on the store's endpoint
/// (V1). A store that refuses to copy gets the bytes streamed instead.
#[test]
fn same_store_sources_are_copied_inside_the_store() {
    let bed = bed("server-side", SourceConfig::default());
    let (seed, size) = (130, 3_500_000);
    copy_and_verify(
        &bed,
        seed,
        size,
        "src/object.bin",
        &["--part-size", "1MiB"],
        KEYS,
    );
    let before = bed.store.counts();
    let sources = [
        (format!("oss://{BUCKET}/src/object.bin"), "v4"),
        (
            format!("{}/{BUCKET}/src/object.bin", bed.store.endpoint()),
            "v1",
        ),
    ];
    for (i, (source, signature)) in sources.iter().enumerate() {
        let key = format!("dst/{i}.bin");
        let run = ferry(
            &bed,
            source,
            &key,
            &["--part-size", "1MiB", "--signature", signature],
            KEYS,
        );
        assert_eq!(run.code, 0, "{}\n{}", run.result, run.stderr);
        assert!(
            run.result["checks"]
                .as_str()
                .unwrap()
                .contains("copied inside the store"),
            "{}",
            run.result
        );
        assert_eq!(
            run.result["source_crc64"],
            pattern::crc64(seed, size).to_string()
        );
        bed.check_copied(seed, size, &key).unwrap();
    }
    let after = bed.store.counts();
    assert_eq!(after.upload_part, before.upload_part, "a part was streamed");
    assert_eq!(after.upload_part_copy - before.upload_part_copy, 2 * 4);

    bed.store.set_faults(Faults {
        deny_part_copy: true,
        ..Faults::default()
    });
    let run = ferry(
        &bed,
        &sources[0].0,
        "dst/streamed.bin",
        &["--part-size", "1MiB"],
        KEYS,
    );
    assert_eq!(run.code, 0, "{}\n{}", run.result, run.stderr);
    assert!(
        !run.result["checks"]
            .as_str()
            .unwrap()
            .contains("inside the store"),
        "{}",
        run.result
    );
    assert!(bed.store.counts().upload_part >= after.upload_part + 4);
    bed.check_copied(seed, size, "dst/streamed.bin").unwrap();

    // A URL on the store's endpoint whose object this key may not HEAD is
    // read as the URL it is: here the store then refuses the unsigned GET
    // too, which is the source's refusal (exit 3), not the store's.
    bed.store.set_faults(Faults {
        deny_head: true,
        ..Faults::default()
    });
    let run = ferry(&bed, &sources[1].0, "dst/as-url.bin", &[], KEYS);
    assert_eq!(run.code, 3, "{}\n{}", run.result, run.stderr);
    assert!(
        run.result["message"]
            .as_str()
            .unwrap()
            .contains("may need signing"),
        "{}",
        run.result
    );
    assert_nothing_left(&bed, "dst/as-url.bin");
    bed.store.set_faults(Faults::default());

    // A missing source object fails before anything is written.
    let run = ferry(
        &bed,
        &format!("oss://{BUCKET}/src/none"),
        "dst/none.bin",
        &[],
        KEYS,
    );
    assert_eq!(run.code, 3, "{}", run.result);
    assert!(run.result["message"]
        .as_str()
        .unwrap()
        .contains("does not exist"));
    assert_nothing_left(&bed, "dst/none.bin");
}

/// `ferry` with these arguments and `RUST_BACKTRACE=1`, as many containers
/// set it; returns the exit code, stdout and stderr.
fn ferry_with_backtraces(args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let out = Command::new(ferry_bin())
        .args(args)
        .env_clear()
        .env("OSS_ACCESS_KEY_ID", KEY_ID)
        .env("OSS_ACCESS_KEY_SECRET", SECRET)
        .env("FERRY_COMPONENT", component())
        .env("RUST_BACKTRACE", "1")
        .envs(env.iter().copied())
        .output()
        .expect("ferry runs");
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (
        out.status.code().unwrap_or(-1),
        text(&out.stdout),
        text(&out.stderr),
    )
}

/// Numeric and enumerated options out of range, and a source that is not a
/// URL, are bad input (exit 2) refused before anything runs, in one line
/// naming the option (or what was typed), the range and what to do; and a
/// store that cannot be reached is named, with the flag that chose it.
/// `ferry serve` checks its options the same way, before it listens.
#[test]
fn options_out_of_range_and_unreachable_stores_are_named() {
    let bed = bed("ranges", SourceConfig::default());
    let url = bed.source.url(3, 300_000);
    let cases: [(&[&str], &str); 11] = [
        (&["--signature", "v2"], "--signature \"v2\""),
        (&["--part-size", "16EiB"], "--part-size \"16EiB\""),
        (&["--part-size", "99999999999999999999999"], "5GiB"),
        (
            &["--parallel", "100000"],
            "--parallel 100000 is out of range: give 1 to 1000",
        ),
        // --instances, the former name, is refused by the current one.
        (&["--instances", "0"], "--parallel 0 is out of range"),
        (
            &["--instance-memory-mib", "0"],
            "--instance-memory-mib 0 is out of range: give 16",
        ),
        (&["--instance-timeout", "0"], "--instance-timeout 0"),
        (
            &["--retries", "101"],
            "--retries 101 is out of range: give 0 to 100",
        ),
        (&["--part-timeout", "0"], "--part-timeout 0"),
        (
            &[
                "--workers",
                "http://127.0.0.1:9",
                "--worker-concurrency",
                "0",
            ],
            "--worker-concurrency 0",
        ),
        (&["--part-size", "1KiB"], "give 100KiB to 5GiB"),
    ];
    for (extra, expected) in cases {
        let run = ferry(&bed, &url, "ranges.bin", extra, KEYS);
        let message = run.result["message"].as_str().unwrap_or_default();
        assert_eq!(run.code, 2, "{extra:?}: {}\n{}", run.result, run.stderr);
        assert_eq!(run.result["kind"], "invalid-input", "{extra:?}");
        assert!(message.contains(expected), "{extra:?}: {message}");
        assert!(!message.contains('\n'), "{extra:?}: {message}");
    }
    assert_eq!(
        bed.store.counts().initiate,
        0,
        "a bad option reached the store"
    );

    let run = ferry(
        &bed,
        "example.com/big.iso?X-Sig=s3cret",
        "ranges.bin",
        &[],
        KEYS,
    );
    let message = run.result["message"].as_str().unwrap_or_default();
    assert_eq!(run.code, 2, "{}", run.result);
    assert!(
        message.starts_with("source \"example.com/big.iso?…\" is not a URL")
            && !message.contains("s3cret"),
        "{message}"
    );

    let endpoint = format!("http://127.0.0.1:{}", bed::free_port());
    let target = format!("oss://{BUCKET}/ranges.bin");
    let (code, stdout, stderr) = ferry_with_backtraces(
        &[
            "copy",
            &url,
            &target,
            "--endpoint",
            &endpoint,
            "--region",
            REGION,
            "--retries",
            "0",
            "--json",
        ],
        &[],
    );
    let v = bed::last_json(stdout.as_bytes());
    let message = v["message"].as_str().unwrap_or_default();
    assert_ne!(code, 0, "{stderr}");
    let authority = endpoint.trim_start_matches("http://");
    assert!(
        message.contains(&format!("{authority} refused the connection"))
            && message.contains("store endpoint (--endpoint"),
        "{message}"
    );
    assert_nothing_left(&bed, "ranges.bin");

    for extra in [
        ["--instances", "0"],
        ["--jobs", "0"],
        ["--max-body", "0"],
        ["--signature", "v2"],
    ] {
        let mut child = Command::new(ferry_bin())
            .arg("serve")
            .args(["--listen", "127.0.0.1:0"])
            .args(extra)
            .env_clear()
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let started = std::time::Instant::now();
        while child.try_wait().unwrap().is_none() && started.elapsed().as_secs() < 20 {
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        let _ = child.kill();
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "serve {extra:?}: {stderr}");
        assert!(stderr.contains(extra[0]), "serve {extra:?}: {stderr}");
    }
}

/// With `RUST_BACKTRACE=1` every retry line, the error line and the
/// `--json` message of a failing copy are one line each, with no stack or
/// wasm backtrace: here a source that cuts every body short (the error the
/// component reads from the runtime carried a 40-line stack backtrace) and
/// part instances that trap (`FERRY_CHAOS`).
#[test]
fn messages_are_one_line_whatever_rust_backtrace_says() {
    let bed = bed("backtrace", SourceConfig::default());
    let url = bed.source.url(5, 300_000);
    let endpoint = bed.store.endpoint();
    let target = format!("oss://{BUCKET}/backtrace.bin");
    let args = |json: bool| {
        let mut a = vec![
            "copy",
            url.as_str(),
            target.as_str(),
            "--endpoint",
            endpoint.as_str(),
            "--region",
            REGION,
            "--part-size",
            "100KiB",
            "--retries",
            "1",
        ];
        if json {
            a.push("--json");
        }
        a
    };
    let check = |json: bool, env: &[(&str, &str)], cause: &str| {
        let (code, stdout, stderr) = ferry_with_backtraces(&args(json), env);
        assert_eq!(code, 6, "{stdout}\n{stderr}");
        for text in [&stdout, &stderr] {
            let lower = text.to_lowercase();
            assert!(
                !lower.contains("backtrace") && !lower.contains("caused by"),
                "{stdout}\n{stderr}"
            );
        }
        let errors: Vec<&str> = stderr
            .lines()
            .filter(|l| l.starts_with("ferry: error:"))
            .collect();
        assert_eq!(errors.len(), 1, "{stderr}");
        assert!(errors[0].contains(cause), "{stderr}");
        if json {
            let v = bed::last_json(stdout.as_bytes());
            let message = v["message"].as_str().unwrap_or_default();
            assert!(message.contains(cause) && !message.contains('\n'), "{v}");
        } else {
            let retries = stderr.lines().filter(|l| l.starts_with("retrying   part"));
            assert!(retries.count() >= 1, "{stderr}");
        }
    };
    bed.source.set_faults(Faults {
        reset_after: Some((50_000, u32::MAX)),
        ..Faults::default()
    });
    check(false, &[], "body stream failed");
    check(true, &[], "body stream failed");
    bed.source.set_faults(Faults::default());
    let chaos = "trap@1,trap@2,trap@3,trap@4,trap@5,trap@6,trap@7,trap@8";
    check(false, &[("FERRY_CHAOS", chaos)], "wasm trap: interrupt");
    assert_nothing_left(&bed, "backtrace.bin");
}

/// Ctrl-C mid-copy: exit 130, one error line saying the transfer was
/// interrupted, naming no part (the one that noticed first is arbitrary),
/// and nothing left.
#[test]
fn ctrl_c_names_the_interruption_not_a_part() {
    let bed = bed(
        "ctrl-c",
        SourceConfig {
            rate_limit: Some(1 << 20),
            ..SourceConfig::default()
        },
    );
    let url = bed.source.url(6, 40 << 20);
    let child = Command::new(ferry_bin())
        .args(["copy", &url, &format!("oss://{BUCKET}/ctrl-c.bin")])
        .args(["--endpoint", &bed.store.endpoint(), "--region", REGION])
        .args(["--part-size", "1MiB", "--instances", "4"])
        .env_clear()
        .env("OSS_ACCESS_KEY_ID", KEY_ID)
        .env("OSS_ACCESS_KEY_SECRET", SECRET)
        .env("FERRY_COMPONENT", component())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let started = std::time::Instant::now();
    while bed.store.counts().upload_part < 2 && started.elapsed().as_secs() < 60 {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let killed = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    let errors: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("ferry: error:"))
        .collect();
    assert_eq!(errors.len(), 1, "{stderr}");
    assert!(
        errors[0].starts_with("ferry: error: the transfer was interrupted (SIGINT)"),
        "{stderr}"
    );
    assert_nothing_left(&bed, "ctrl-c.bin");
}

/// A source that states two sizes (its HEAD one, its Content-Range totals
/// another, under one ETag) is not copied: the copy stops with exit 3 once
/// a ranged reply disagrees, and the upload is aborted. Completing the
/// planned number of bytes would have made a truncated object that no CRC
/// catches (this source offers none).
#[test]
fn a_source_that_states_two_sizes_is_refused_and_leaves_nothing() {
    for (tag, lie) in [
        (
            "lie-head",
            SourceConfig {
                lie_head_size: Some(299_000),
                ..SourceConfig::default()
            },
        ),
        (
            "lie-range",
            SourceConfig {
                lie_range_total: Some(299_000),
                ..SourceConfig::default()
            },
        ),
    ] {
        let bed = bed(tag, lie);
        let key = format!("{tag}.bin");
        let url = bed.source.url(21, 300_000);
        let run = ferry(&bed, &url, &key, &["--part-size", "100KiB"], KEYS);
        assert_eq!(run.code, 3, "{tag}: {}\n{}", run.result, run.stderr);
        let message = run.result["message"].as_str().unwrap();
        assert!(
            message.contains("states two sizes")
                && message.contains("299000")
                && message.contains("300000"),
            "{tag}: {message}"
        );
        let made = assert_nothing_left(&bed, &key);
        assert_eq!(made.objects_written, 0, "{tag}: an object was completed");
    }
}

/// A source URL's `user:pass@` reaches the source as Basic authentication on
/// every request (HEAD and ranged GETs), percent-decoded, and is never shown.
#[test]
fn source_credentials_are_sent_as_basic_auth_and_never_shown() {
    let bed = bed("basic", SourceConfig::default());
    let (seed, size) = (22, 700_000);
    let url = format!(
        "http://alice:pa%40ss-{}@{}{}",
        "w0rd",
        bed.source.addr(),
        SourceServer::path(seed, size)
    );
    let run = ferry(&bed, &url, "basic.bin", &["--part-size", "100KiB"], KEYS);
    assert_eq!(run.code, 0, "{}\n{}", run.result, run.stderr);
    bed.check_copied(seed, size, "basic.bin").unwrap();
    let received = bed.source.received();
    assert!(received.len() >= 8, "{received:?}");
    for r in &received {
        // base64("alice:pa@ss-w0rd")
        assert_eq!(
            r.authorization.as_deref(),
            Some("Basic YWxpY2U6cGFAc3MtdzByZA=="),
            "{r:?}"
        );
    }
    let shown = format!("{}{}", run.result, run.stderr);
    assert!(
        !shown.contains("w0rd") && !shown.contains("alice"),
        "{shown}"
    );
}

/// An https server on loopback with a self-signed certificate (made with the
/// openssl CLI): it counts the TLS connections it is offered, and prints the
/// count when its stdin closes.
struct SelfSignedTls {
    child: std::process::Child,
    port: u16,
    dir: std::path::PathBuf,
}

impl SelfSignedTls {
    fn start(tag: &str) -> SelfSignedTls {
        let dir = std::env::temp_dir().join(format!("ferry-tls-{tag}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let made = Command::new("openssl")
            .args([
                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            ])
            .args([
                "-subj",
                "/CN=127.0.0.1",
                "-addext",
                "subjectAltName=IP:127.0.0.1",
            ])
            .arg("-keyout")
            .arg(dir.join("key.pem"))
            .arg("-out")
            .arg(dir.join("cert.pem"))
            .output()
            .expect("the openssl CLI runs");
        assert!(
            made.status.success(),
            "{}",
            String::from_utf8_lossy(&made.stderr)
        );
        let script = r#"
import socket, ssl, sys, threading
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(sys.argv[1] + "/cert.pem", sys.argv[1] + "/key.pem")
srv = socket.socket()
srv.bind(("127.0.0.1", 0))
srv.listen(16)
print(srv.getsockname()[1], flush=True)
count = 0
def serve():
    global count
    while True:
        conn, _ = srv.accept()
        count += 1
        try:
            ctx.wrap_socket(conn, server_side=True).close()
        except (ssl.SSLError, OSError):
            conn.close()
threading.Thread(target=serve, daemon=True).start()
sys.stdin.read()
print(count, flush=True)
"#;
        let mut child = Command::new(bed::python())
            .args(["-c", script])
            .arg(&dir)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        use std::io::BufRead;
        let mut out = std::io::BufReader::new(child.stdout.as_mut().unwrap());
        out.read_line(&mut line).unwrap();
        let port = line
            .trim()
            .parse()
            .expect("the TLS server printed its port");
        SelfSignedTls { child, port, dir }
    }

    /// Stops the server; returns the connections it was offered.
    fn connections(mut self) -> u32 {
        drop(self.child.stdin.take());
        let out = self.child.wait_with_output().unwrap();
        let _ = std::fs::remove_dir_all(&self.dir);
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .last()
            .and_then(|l| l.trim().parse().ok())
            .expect("the TLS server printed its count")
    }
}

/// A TLS certificate ferry does not trust is permanent, not transient: the
/// copy stops at once (one connection, no retry) with exit 3 for a source
/// and exit 4 for a store, naming the host and what to do.
#[test]
fn an_untrusted_certificate_is_refused_at_once() {
    let bed = bed("tls", SourceConfig::default());
    let tls = SelfSignedTls::start("source");
    let authority = format!("127.0.0.1:{}", tls.port);
    let run = ferry(
        &bed,
        &format!("https://{authority}/big.iso"),
        "tls-source.bin",
        &[],
        KEYS,
    );
    assert_eq!(tls.connections(), 1, "retried: {}", run.stderr);
    assert_eq!(run.code, 3, "{}\n{}", run.result, run.stderr);
    let message = run.result["message"].as_str().unwrap();
    assert!(
        message.contains(&format!("TLS certificate of {authority} is not trusted"))
            && message.contains("public CA"),
        "{message}"
    );
    assert_nothing_left(&bed, "tls-source.bin");

    let tls = SelfSignedTls::start("store");
    let authority = format!("127.0.0.1:{}", tls.port);
    let out = Command::new(ferry_bin())
        .args([
            "copy",
            &bed.source.url(23, 1000),
            &format!("oss://{BUCKET}/tls.bin"),
        ])
        .args([
            "--endpoint",
            &format!("https://{authority}"),
            "--region",
            REGION,
        ])
        .arg("--json")
        .env_clear()
        .env("OSS_ACCESS_KEY_ID", KEY_ID)
        .env("OSS_ACCESS_KEY_SECRET", SECRET)
        .env("FERRY_COMPONENT", component())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(tls.connections(), 1, "retried: {stderr}");
    assert_eq!(out.status.code(), Some(4), "{stderr}");
    let result = bed::last_json(&out.stdout);
    let message = result["message"].as_str().unwrap();
    assert!(
        message.contains(&format!("TLS certificate of {authority} is not trusted")),
        "{message}"
    );
}

/// The parts in flight as `--json` reports them: (mode, final, max, the
/// reasons of the changes).
fn parallelism(result: &Value) -> (String, u64, u64, Vec<String>) {
    let p = &result["parallelism"];
    let reasons = p["changes"]
        .as_array()
        .map(|c| {
            c.iter()
                .map(|c| c["reason"].as_str().unwrap_or_default().to_string())
                .collect()
        })
        .unwrap_or_default();
    (
        p["mode"].as_str().unwrap_or_default().to_string(),
        p["final"].as_u64().unwrap_or(0),
        p["max"].as_u64().unwrap_or(0),
        reasons,
    )
}

/// A source capped at 8 MB/s a connection, no flags: ferry finds that more
/// parts help and has at least 16 in flight (it starts at 4); with
/// `--instances 3` it keeps exactly 3.
#[test]
fn a_capped_source_gets_many_parts_in_flight_with_no_flags() {
    let bed = bed(
        "paced-capped",
        SourceConfig {
            rate_limit: Some(8_000_000),
            ..SourceConfig::default()
        },
    );
    let result = copy_and_verify(&bed, 61, 256 << 20, "paced/capped.bin", &[], KEYS);
    let (mode, _, max, reasons) = parallelism(&result);
    assert_eq!(mode, "auto", "{result}");
    assert!(max >= 16, "at most {max} in flight: {result}");
    assert_eq!(
        reasons.first().map(String::as_str),
        Some("start"),
        "{result}"
    );
    assert!(
        reasons
            .iter()
            .any(|r| ["ramp", "first_part", "grow"].contains(&r.as_str())),
        "{result}"
    );

    let args = ["--instances", "3"];
    let result = copy_and_verify(&bed, 62, 20 << 20, "paced/pinned.bin", &args, KEYS);
    assert_eq!(
        parallelism(&result),
        ("pinned".to_string(), 3, 3, vec!["pinned".to_string()]),
        "{result}"
    );
}

/// A store that answers 503 to an UploadPart arriving while 3 are in
/// progress (after reading its body, so the answer comes a part's time
/// late): a copy with no flags completes verified, settles at 3 or fewer
/// in flight, and its retries are about the attempts it had above 3 when
/// the first answer came, not more.
#[test]
fn a_throttling_store_is_met_at_or_below_its_limit() {
    let bed = bed(
        "paced-throttled",
        SourceConfig {
            rate_limit: Some(20_000_000),
            ..SourceConfig::default()
        },
    );
    bed.store.set_faults(Faults {
        slow_down_above: Some(3),
        ..Faults::default()
    });
    let result = copy_and_verify(&bed, 63, 120 << 20, "paced/throttled.bin", &[], KEYS);
    let (mode, last, max, reasons) = parallelism(&result);
    assert_eq!(mode, "auto", "{result}");
    assert!(last <= 3, "settled at {last}: {result}");
    assert!(reasons.iter().any(|r| r == "throttled"), "{result}");
    let cuts = reasons.iter().filter(|r| *r == "throttled").count();
    assert!(cuts <= 2, "{cuts} cuts: {result}");
    let retries = result["retries"].as_u64().unwrap();
    assert!(retries <= max + 4, "{retries} retries: {result}");
}
