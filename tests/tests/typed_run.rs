//! The host drives the component through its typed exports: `run` (a job
//! in, a report or a failure out, progress posted as WIT events) gives the
//! same report as the component's own command line under the stock
//! `wasmtime run`; and what the host lets instances reach is the
//! component's answer to `resolve`, not a rule of the host's.

mod bed;

use bed::{component, key, last_json, Bed, REGION};
use ferry_host::transfer::report_json;
use ferry_host::{Credentials, Event, Limits, Runtime, Transfer};
use ferry_testbed::source::SourceConfig;
use std::path::PathBuf;
use std::process::Command;

const BUCKET: &str = "ferry-typed";
const KEY_ID: &str = "typed-key";
const SECRET: &str = "typed-secret";

/// The stock wasmtime CLI: `WASMTIME`, else cargo's bin folder.
fn wasmtime() -> PathBuf {
    std::env::var_os("WASMTIME").map_or_else(
        || PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cargo/bin/wasmtime"),
        PathBuf::from,
    )
}

fn credentials() -> Credentials {
    Credentials {
        access_key_id: KEY_ID.into(),
        access_key_secret: SECRET.into(),
        security_token: None,
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_typed_run_reports_as_the_command_line_does() {
    let source = SourceConfig {
        crc_header: true,
        ..SourceConfig::default()
    };
    let bed = Bed::start("typed", BUCKET, source, vec![key(KEY_ID, SECRET)], true);
    let (seed, size) = (71, 5 * (1 << 20) + 123);

    // The component's own command line, under a runtime ferry did not write.
    let out = Command::new(wasmtime())
        .args(["run", "-S", "http", "--env", "OSS_ACCESS_KEY_ID", "--env"])
        .arg("OSS_ACCESS_KEY_SECRET")
        .arg(component())
        .args(["copy", &bed.source.url(seed, size)])
        .arg(format!("oss://{BUCKET}/cli.bin"))
        .args(["--endpoint", &bed.store.endpoint(), "--region", REGION])
        .args(["--part-size", "1MiB", "--parallel", "3", "--json"])
        .env("OSS_ACCESS_KEY_ID", KEY_ID)
        .env("OSS_ACCESS_KEY_SECRET", SECRET)
        .output()
        .unwrap();
    let cli = last_json(&out.stdout);
    assert_eq!(
        cli["ok"],
        true,
        "{cli} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    bed.check_copied(seed, size, "cli.bin").unwrap();

    // The same copy through the host's typed call.
    let runtime = Runtime::new(&component(), Limits::default()).unwrap();
    let mut events = Vec::new();
    let report = Transfer::builder()
        .source(bed.source.url(seed, size))
        .target(format!("oss://{BUCKET}/typed.bin"))
        .endpoint(bed.store.endpoint())
        .region(REGION)
        .part_size("1MiB")
        .credentials(credentials())
        .instances(3)
        .run_on(&runtime, |e| events.push(e))
        .await
        .unwrap();
    bed.check_copied(seed, size, "typed.bin").unwrap();

    let mut typed = report_json(&report);
    typed["ok"] = true.into();
    for field in [
        "ok",
        "size",
        "parts",
        "crc64",
        "store_crc64",
        "source_crc64",
        "retries",
        "reused_parts",
        "checks",
    ] {
        assert_eq!(typed[field], cli[field], "{field}: {typed} against {cli}");
    }
    assert_eq!(typed["parallelism"]["mode"], cli["parallelism"]["mode"]);
    assert_eq!(typed["parallelism"]["final"], cli["parallelism"]["final"]);
    let keys = |v: &serde_json::Value| {
        let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
        k.sort();
        k
    };
    assert_eq!(keys(&typed), keys(&cli), "{typed} against {cli}");
    assert!(report.seconds > 0.0);

    // Its progress came as typed events: the plan, then every part.
    assert!(
        matches!(events.first(), Some(Event::Planned(p)) if p.parts == 6 && p.size == size),
        "{events:?}"
    );
    let parts = events
        .iter()
        .filter(|e| matches!(e, Event::Part(_)))
        .count();
    assert_eq!(parts, 6, "{events:?}");
}

/// The hosts the instances may reach are those of the endpoint the
/// component resolves for each store and endpoint kind, and no other.
#[tokio::test(flavor = "multi_thread")]
async fn the_egress_list_is_the_components_answer() {
    let runtime = Runtime::new(&component(), Limits::default()).unwrap();
    let permits = |t: Transfer, u: &'static str| {
        let runtime = runtime.clone();
        async move {
            let (_, egress) = t.resolve(&runtime).await.unwrap();
            egress.permits(&u.parse().unwrap())
        }
    };
    let oss = Transfer::builder()
        .source("https://src.example/obj")
        .target("oss://bkt/k")
        .region("cn-hangzhou");
    assert!(permits(oss.clone(), "https://src.example/obj").await);
    assert!(permits(oss.clone(), "https://bkt.oss-cn-hangzhou.aliyuncs.com/k").await);
    let internal = oss
        .clone()
        .endpoint_kind(ferry_host::EndpointKind::Internal);
    assert!(
        permits(
            internal.clone(),
            "https://bkt.oss-cn-hangzhou-internal.aliyuncs.com/k"
        )
        .await
    );
    assert!(!permits(internal, "https://bkt.oss-cn-hangzhou.aliyuncs.com/k").await);
    let accel = oss.endpoint_kind(ferry_host::EndpointKind::Accelerate);
    assert!(permits(accel, "https://bkt.oss-accelerate.aliyuncs.com/k").await);
    let s3 = Transfer::builder()
        .source("https://src.example/obj")
        .target("s3://bkt/k")
        .region("us-west-2");
    assert!(permits(s3.clone(), "https://bkt.s3.us-west-2.amazonaws.com/k").await);
    assert!(!permits(s3, "https://bkt.s3.us-east-1.amazonaws.com/k").await);
    // No region for S3: the component's default, us-east-1.
    let s3 = Transfer::builder()
        .source("https://src.example/obj")
        .target("s3://bkt/k");
    assert!(permits(s3, "https://bkt.s3.us-east-1.amazonaws.com/k").await);
    // S3 has no in-region endpoint: the component refuses, and so the host.
    let refused = Transfer::builder()
        .source("https://src.example/obj")
        .target("s3://bkt/k")
        .endpoint_kind(ferry_host::EndpointKind::Internal)
        .resolve(&runtime)
        .await
        .unwrap_err();
    assert_eq!(
        refused.kind,
        ferry_host::transfer::FailureKind::InvalidInput
    );
    assert!(refused.message.contains("S3 has none"), "{refused}");
    // Keys are opaque: dot segments are the component's to accept.
    let (job, _) = Transfer::builder()
        .source("https://src.example/obj")
        .target("oss://bkt/a/../b")
        .region("cn-hangzhou")
        .resolve(&runtime)
        .await
        .unwrap();
    assert_eq!(job.target_object_name, "a/../b");
}
