//! The fault matrix: every fault the test bed can produce, on a small, a
//! multi-part and a many-part (over 1,000 parts, so ListParts pages) input,
//! through the built `ferry` and `ferry.wasm`. Each run must end in one of
//! two states only: the object in full (read back, CRC-64 equal to the
//! source's) with no upload left, or no object and no upload left. A failure
//! must also have happened where the row says, as the store's history tells:
//! before anything was created ("nothing created"), after the upload was
//! created ("upload aborted"), or after the object was ("object deleted"),
//! so that a row cannot pass by failing earlier than it means to. A table of
//! scenario x input is printed (`cargo test --test fault_matrix -- --nocapture`).
//!
//! Every run uses canary credentials and checks that neither the secret nor
//! the STS token appears in anything ferry printed, even at trace level.

mod bed;

use bed::{component, ferry_bin, key, last_json, Bed, REGION};
use ferry_testbed::faults::Faults;
use ferry_testbed::pattern;
use ferry_testbed::source::SourceConfig;
use ferry_testbed::store::Credential;
use serde_json::Value;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BUCKET: &str = "ferry-faults";
const KEY_ID: &str = "canary-key-id";
const SECRET: &str = "canary-SECRET-5a1f0c93d2";
const TOKEN: &str = "canary-TOKEN-77e2b4c1aa";

/// One input shape.
#[derive(Clone, Copy)]
struct Input {
    name: &'static str,
    size: u64,
    part_size: &'static str,
    /// Keep bytes on disk (and compare them) or only sizes and CRCs.
    disk: bool,
}

const INPUTS: [Input; 3] = [
    Input {
        name: "small (3 parts)",
        size: 250_000,
        part_size: "100KiB",
        disk: true,
    },
    Input {
        name: "multi (20 parts)",
        size: 20 << 20,
        part_size: "1MiB",
        disk: true,
    },
    Input {
        name: "many (1,100 parts)",
        size: 1_100 * 100 * 1024,
        part_size: "100KiB",
        disk: false,
    },
];

#[derive(Clone, Copy, PartialEq, Debug)]
enum Expect {
    /// Copied and verified, having needed at least this many retries.
    Copied { min_retries: u64 },
    /// Failed with this kind, leaving nothing, after the store had made
    /// what `Created` says.
    Failed(&'static str, Created),
}

/// What the store had made before the failure (all gone at the end).
#[derive(Clone, Copy, PartialEq, Debug)]
enum Created {
    /// Not even the upload: the failure came first.
    Nothing,
    /// The upload, not the object: it was aborted.
    Upload,
    /// The object: it was deleted.
    Object,
}

/// ferry's exit code for a failure of this kind (README: exit codes).
fn exit_code(kind: &str) -> i32 {
    match kind {
        "source" => 3,
        "store" => 4,
        "integrity" => 5,
        "exhausted" => 6,
        _ => 70,
    }
}

struct Scenario {
    name: &'static str,
    source: SourceConfig,
    faults: Faults,
    args: &'static [&'static str],
    chaos: &'static str,
    expect: Expect,
    /// The least time the run must take (a Retry-After to honour).
    at_least: Duration,
}

fn scenario(name: &'static str, expect: Expect) -> Scenario {
    Scenario {
        name,
        source: SourceConfig::default(),
        faults: Faults::default(),
        args: &[],
        chaos: "",
        expect,
        at_least: Duration::ZERO,
    }
}

fn copied(min_retries: u64) -> Expect {
    Expect::Copied { min_retries }
}

fn scenarios() -> Vec<Scenario> {
    let mut v = vec![scenario("clean", copied(0))];
    v.push(Scenario {
        faults: Faults {
            reset_after: Some((30_000, 2)),
            ..Faults::default()
        },
        ..scenario("source resets mid-body", copied(1))
    });
    v.push(Scenario {
        faults: Faults {
            stall: Some((10_000, Duration::from_secs(8), 1)),
            ..Faults::default()
        },
        args: &["--instance-timeout", "3"],
        ..scenario("source stalls past the deadline", copied(1))
    });
    v.push(Scenario {
        faults: Faults {
            status_burst: Some((500, 3, None)),
            ..Faults::default()
        },
        ..scenario("source 500 burst", copied(1))
    });
    v.push(Scenario {
        faults: Faults {
            status_burst: Some((503, 2, Some(1))),
            ..Faults::default()
        },
        at_least: Duration::from_secs(1),
        ..scenario("source 503 + Retry-After", copied(1))
    });
    v.push(Scenario {
        faults: Faults {
            status_burst: Some((429, 3, None)),
            ..Faults::default()
        },
        ..scenario("source 429", copied(1))
    });
    v.push(Scenario {
        faults: Faults {
            part_status_burst: Some((503, 3, None)),
            ..Faults::default()
        },
        ..scenario("store 503 on UploadPart", copied(1))
    });
    v.push(Scenario {
        faults: Faults {
            part_status_burst: Some((429, 2, Some(1))),
            ..Faults::default()
        },
        at_least: Duration::from_secs(1),
        ..scenario("store 429 + Retry-After", copied(1))
    });
    v.push(Scenario {
        faults: Faults {
            wrong_part_crc: 2,
            ..Faults::default()
        },
        ..scenario("store returns a wrong part CRC", copied(1))
    });
    v.push(Scenario {
        faults: Faults {
            reset_part_after: Some((20_000, 2)),
            ..Faults::default()
        },
        ..scenario("store cuts an UploadPart", copied(1))
    });
    v.push(Scenario {
        faults: Faults {
            complete_status_burst: Some((500, 2)),
            ..Faults::default()
        },
        ..scenario("store 500 on Complete", copied(0))
    });
    v.push(Scenario {
        faults: Faults {
            wrong_object_crc: 1,
            ..Faults::default()
        },
        ..scenario(
            "store answers a wrong object CRC",
            Expect::Failed("integrity", Created::Object),
        )
    });
    v.push(Scenario {
        chaos: "trap@2",
        ..scenario("part instance traps", copied(1))
    });
    v.push(Scenario {
        chaos: "oom@2",
        ..scenario("part instance out of memory", copied(1))
    });
    v.push(Scenario {
        chaos: "deadline@2",
        ..scenario("part instance past its deadline", copied(1))
    });
    v.push(Scenario {
        source: SourceConfig {
            no_range: true,
            ..SourceConfig::default()
        },
        ..scenario("source without Range", copied(0))
    });
    v.push(Scenario {
        source: SourceConfig {
            no_content_length: true,
            ..SourceConfig::default()
        },
        ..scenario("source without Content-Length", copied(0))
    });
    v.push(Scenario {
        faults: Faults {
            change_after: Some(1),
            ..Faults::default()
        },
        ..scenario(
            "source changes mid-copy",
            Expect::Failed("source", Created::Upload),
        )
    });
    v.push(Scenario {
        faults: Faults {
            forbidden: true,
            ..Faults::default()
        },
        ..scenario("source 403", Expect::Failed("source", Created::Nothing))
    });
    v.push(Scenario {
        faults: Faults {
            not_found: true,
            ..Faults::default()
        },
        ..scenario("source 404", Expect::Failed("source", Created::Nothing))
    });
    v.push(Scenario {
        faults: Faults {
            deny_all: true,
            ..Faults::default()
        },
        ..scenario(
            "store 403 AccessDenied",
            Expect::Failed("store", Created::Nothing),
        )
    });
    v.push(Scenario {
        faults: Faults {
            part_status_burst: Some((403, 100_000, None)),
            abort_status_burst: Some((500, 2)),
            ..Faults::default()
        },
        ..scenario(
            "UploadPart 403, Abort 500 twice",
            Expect::Failed("store", Created::Upload),
        )
    });
    v.push(Scenario {
        faults: Faults {
            status_burst: Some((503, 100_000, None)),
            ..Faults::default()
        },
        args: &["--retries", "2"],
        ..scenario(
            "source 503 outlasts retries",
            Expect::Failed("exhausted", Created::Upload),
        )
    });
    v
}

fn bed(tag: usize, input: &Input, source: SourceConfig) -> Bed {
    let sts = Credential {
        token: Some(TOKEN.into()),
        ..key(KEY_ID, SECRET)
    };
    Bed::start(
        &format!("faults-{tag}"),
        BUCKET,
        source,
        vec![sts],
        input.disk,
    )
}

struct Outcome {
    code: i32,
    result: Value,
    output: String,
    elapsed: Duration,
}

fn ferry(args: &[String], chaos: &str) -> Outcome {
    let started = Instant::now();
    let out = Command::new(ferry_bin())
        .args(args)
        .env_clear()
        .env("OSS_ACCESS_KEY_ID", KEY_ID)
        .env("OSS_ACCESS_KEY_SECRET", SECRET)
        .env("OSS_SESSION_TOKEN", TOKEN)
        .env("FERRY_COMPONENT", component())
        .env("FERRY_LOG", "trace")
        .env("FERRY_CHAOS", chaos)
        .stdin(Stdio::null())
        .output()
        .expect("ferry runs");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let result = last_json(&out.stdout);
    Outcome {
        code: out.status.code().unwrap_or(-1),
        result,
        output: format!("{stdout}\n{stderr}"),
        elapsed: started.elapsed(),
    }
}

fn copy_args(bed: &Bed, input: &Input, seed: u64, key: &str, extra: &[&str]) -> Vec<String> {
    let mut args: Vec<String> = [
        "copy",
        &bed.source.url(seed, input.size),
        &format!("oss://{BUCKET}/{key}"),
        "--endpoint",
        &bed.store.endpoint(),
        "--region",
        REGION,
        "--part-size",
        input.part_size,
        "--instances",
        "16",
        "--json",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    args.extend(extra.iter().map(|s| s.to_string()));
    args
}

/// Checks the end state; returns the table cell or the reason it is wrong.
fn judge(
    bed: &Bed,
    input: &Input,
    seed: u64,
    key: &str,
    s: &Scenario,
    o: &Outcome,
) -> Result<String, String> {
    for secret in [SECRET, TOKEN] {
        if o.output.contains(secret) {
            return Err("a secret appeared in ferry's output".into());
        }
    }
    bed.check_no_upload()?;
    let object = bed.store.object(BUCKET, key);
    match s.expect {
        Expect::Copied { min_retries } => {
            if o.code != 0 {
                return Err(format!("failed with exit {}: {}", o.code, o.result));
            }
            bed.check_copied(seed, input.size, key)?;
            let crc64 = o.result["crc64"]
                .as_str()
                .and_then(|c| c.parse::<u64>().ok());
            if crc64 != Some(pattern::crc64(seed, input.size)) {
                return Err(format!("the report's CRC differs: {}", o.result));
            }
            let retries = o.result["retries"].as_u64().unwrap_or(0);
            if retries < min_retries {
                return Err(format!("expected a retry, saw {retries}"));
            }
            if o.elapsed < s.at_least {
                return Err(format!(
                    "finished in {:?}, before the Retry-After",
                    o.elapsed
                ));
            }
            Ok(format!("copied, {retries} retries"))
        }
        Expect::Failed(kind, created) => {
            if o.code == 0 {
                return Err("succeeded but should have failed".into());
            }
            if o.result["kind"] != kind || o.code != exit_code(kind) {
                return Err(format!(
                    "failed as {} with exit {} instead of {kind} (exit {}): {}",
                    o.result["kind"],
                    o.code,
                    exit_code(kind),
                    o.result["message"]
                ));
            }
            if object.is_some() {
                return Err("an object was left".into());
            }
            let h = bed.store.history();
            let made = match (h.uploads_created, h.objects_written) {
                (0, 0) => Created::Nothing,
                (_, 0) => Created::Upload,
                _ => Created::Object,
            };
            if made != created {
                return Err(format!(
                    "expected a failure once the store had made {created:?}, but it had made \
                     {made:?} ({h:?})"
                ));
            }
            Ok(match created {
                Created::Nothing => format!("failed ({kind}), nothing created"),
                Created::Upload => format!("failed ({kind}), upload aborted"),
                Created::Object => format!("failed ({kind}), object deleted"),
            })
        }
    }
}

#[test]
fn fault_matrix() {
    // FAULT_MATRIX_ONLY=TEXT runs only the rows whose name contains TEXT.
    let only = std::env::var("FAULT_MATRIX_ONLY").unwrap_or_default();
    let scenarios: Vec<_> = scenarios()
        .into_iter()
        .filter(|s| s.name.contains(&only))
        .collect();
    let mut rows = Vec::new();
    let mut wrong = Vec::new();
    for (i, s) in scenarios.iter().enumerate() {
        let mut cells = Vec::new();
        for (j, input) in INPUTS.iter().enumerate() {
            let bed = bed(i * 10 + j, input, s.source.clone());
            bed.source.set_faults(s.faults.clone());
            bed.store.set_faults(s.faults.clone());
            let seed = 1_000 + (i * 10 + j) as u64;
            let key = format!("matrix/{i}/{j}.bin");
            let o = ferry(&copy_args(&bed, input, seed, &key, s.args), s.chaos);
            let cell = match judge(&bed, input, seed, &key, s, &o) {
                Ok(cell) => cell,
                Err(why) => {
                    wrong.push(format!("{} / {}: {why}", s.name, input.name));
                    format!("WRONG: {why}")
                }
            };
            cells.push(cell);
        }
        rows.push((s.name, cells));
    }
    let mut table = format!(
        "\n| scenario | {} |\n|---|---|---|---|\n",
        INPUTS.map(|i| i.name).join(" | ")
    );
    for (name, cells) in &rows {
        table.push_str(&format!("| {name} | {} |\n", cells.join(" | ")));
    }
    eprintln!("{table}");
    let _ = std::fs::write(bed::workspace().join("target/fault-matrix.md"), &table);
    assert!(
        wrong.is_empty(),
        "scenarios that did not end cleanly:\n{}",
        wrong.join("\n")
    );
}

/// A copy killed with SIGKILL leaves its upload; `--resume` finds it, keeps
/// the parts the store holds, copies the rest and completes a verified object.
#[test]
fn killed_copy_resumes() {
    for (j, input) in INPUTS[1..].iter().enumerate() {
        // A bandwidth cap makes the copy slow enough to kill midway.
        let bed = bed(
            900 + j,
            input,
            SourceConfig {
                rate_limit: Some(if input.disk { 2_000_000 } else { 20_000_000 }),
                ..SourceConfig::default()
            },
        );
        let seed = 77 + j as u64;
        let key = format!("resume/{j}.bin");
        let args = copy_args(&bed, input, seed, &key, &[]);
        let mut child = Command::new(ferry_bin())
            .args(&args)
            .env_clear()
            .env("OSS_ACCESS_KEY_ID", KEY_ID)
            .env("OSS_ACCESS_KEY_SECRET", SECRET)
            .env("OSS_SESSION_TOKEN", TOKEN)
            .env("FERRY_COMPONENT", component())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // Kill it as soon as the store holds a few parts (not after a fixed
        // time, which a fast run outlasts by completing).
        let deadline = Instant::now() + Duration::from_secs(60);
        while bed.store.held_parts(BUCKET) < 4 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        child.kill().unwrap(); // SIGKILL: no chance to clean up
        child.wait().unwrap();
        assert_eq!(
            bed.store.open_uploads(BUCKET).len(),
            1,
            "the killed copy left its upload"
        );
        assert!(bed.store.object(BUCKET, &key).is_none());

        let o = ferry(&[args, vec!["--resume".into()]].concat(), "");
        let s = scenario("resume after SIGKILL", copied(0));
        let cell = judge(&bed, input, seed, &key, &s, &o)
            .unwrap_or_else(|e| panic!("{}: {e}", input.name));
        let reused = o.result["reused_parts"].as_u64().unwrap();
        assert!(
            reused > 0,
            "{}: no part was reused: {}",
            input.name,
            o.result
        );
        eprintln!(
            "| resume after SIGKILL | {} | {cell}, {reused} parts reused |",
            input.name
        );
    }
}

/// Ctrl-C stops a copy cleanly: the upload is aborted, or with
/// `--keep-partial` kept and named, and `--resume ID` then finishes it.
#[test]
fn interrupted_copy_aborts_or_keeps() {
    let input = &INPUTS[1];
    for keep in [false, true] {
        let bed = bed(
            950 + keep as usize,
            input,
            SourceConfig {
                rate_limit: Some(1_000_000),
                ..SourceConfig::default()
            },
        );
        let seed = 300 + keep as u64;
        let key = format!("interrupt/{keep}.bin");
        let extra: &[&str] = if keep { &["--keep-partial"] } else { &[] };
        let mut args = copy_args(&bed, input, seed, &key, extra);
        // Four parts at a time, each about a second at this rate.
        let i = args.iter().position(|a| a == "--instances").unwrap();
        args[i + 1] = "4".into();
        let child = Command::new(ferry_bin())
            .args(&args)
            .env_clear()
            .env("OSS_ACCESS_KEY_ID", KEY_ID)
            .env("OSS_ACCESS_KEY_SECRET", SECRET)
            .env("OSS_SESSION_TOKEN", TOKEN)
            .env("FERRY_COMPONENT", component())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(60);
        // The second round of parts has started: the first is in the store.
        while bed.store.counts().upload_part < 8 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        let sent = Command::new("kill")
            .args(["-INT", &child.id().to_string()])
            .status()
            .unwrap();
        assert!(sent.success());
        let out = child.wait_with_output().unwrap();
        assert_eq!(
            out.status.code(),
            Some(130),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let result = last_json(&out.stdout);
        assert!(
            result["message"].as_str().unwrap().contains("SIGINT"),
            "{result}"
        );
        assert!(bed.store.object(BUCKET, &key).is_none());
        let uploads = bed.store.open_uploads(BUCKET);
        if !keep {
            assert!(uploads.is_empty(), "the interrupted upload was not aborted");
            continue;
        }
        let id = result["upload_id"]
            .as_str()
            .expect("the kept upload is named")
            .to_string();
        assert_eq!(uploads, vec![(key.clone(), id.clone())]);
        let resumed = ferry(&[args, vec![format!("--resume={id}")]].concat(), "");
        let s = scenario("resume after Ctrl-C", copied(0));
        judge(&bed, input, seed, &key, &s, &resumed).unwrap();
        assert!(resumed.result["reused_parts"].as_u64().unwrap() > 0);
    }
}
