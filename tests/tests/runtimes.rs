//! One artifact everywhere: the very `target/ferry.wasm` the ferry host runs,
//! under runtimes ferry did not write — the stock `wasmtime run` (parts in
//! flight inside one instance), `wasmtime serve` (fan-out by posting part
//! tasks to its own URL, each in a fresh instance) and `jco run` (Node.js).
//! Each copy is read back from the store and compared with the source.
//!
//! The tools are found through `WASMTIME` (default `wasmtime` on PATH or in
//! ~/.cargo/bin), `JCO` (default `target/jco/node_modules/.bin/jco`) and
//! `WASM_TOOLS`; `make tools` installs them.

mod bed;

use bed::{component, key, last_json, workspace, Bed, REGION};
use ferry_testbed::pattern;
use ferry_testbed::source::SourceConfig;
use serde_json::{json, Value};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const BUCKET: &str = "ferry-runtimes";
const KEY_ID: &str = "runtimes-key";
const SECRET: &str = "runtimes-secret";

/// A tool from `var`, else the first candidate that exists.
fn tool(var: &str, candidates: &[PathBuf]) -> PathBuf {
    if let Some(p) = std::env::var_os(var) {
        return PathBuf::from(p);
    }
    candidates
        .iter()
        .find(|p| p.exists())
        .cloned()
        .unwrap_or_else(|| panic!("{var} is not installed: run `make tools`"))
}

fn home() -> PathBuf {
    PathBuf::from(std::env::var_os("HOME").unwrap_or_default())
}

fn wasmtime() -> PathBuf {
    tool(
        "WASMTIME",
        &[
            home().join(".cargo/bin/wasmtime"),
            PathBuf::from("/usr/local/bin/wasmtime"),
        ],
    )
}

fn bed(tag: &str) -> Bed {
    let source = SourceConfig {
        crc_header: true,
        ..SourceConfig::default()
    };
    Bed::start(tag, BUCKET, source, vec![key(KEY_ID, SECRET)], true)
}

/// `wasmtime run -S http ferry.wasm ARGS` with the test key.
fn wasmtime_run(args: &[String]) -> Output {
    Command::new(wasmtime())
        .args([
            "run",
            "-S",
            "http",
            "--env",
            "OSS_ACCESS_KEY_ID",
            "--env",
            "OSS_ACCESS_KEY_SECRET",
        ])
        .arg(component())
        .args(args)
        .env("OSS_ACCESS_KEY_ID", KEY_ID)
        .env("OSS_ACCESS_KEY_SECRET", SECRET)
        .output()
        .unwrap()
}

fn copy_args(bed: &Bed, seed: u64, size: u64, key: &str) -> Vec<String> {
    vec![
        "copy".into(),
        bed.source.url(seed, size),
        format!("oss://{BUCKET}/{key}"),
        "--endpoint".into(),
        bed.store.endpoint(),
        "--region".into(),
        REGION.into(),
        "--part-size".into(),
        "1MiB".into(),
        "--parallel".into(),
        "8".into(),
        "--json".into(),
    ]
}

#[test]
fn stock_wasmtime_run_copies_with_parts_in_flight() {
    let bed = bed("run");
    let (seed, size) = (61, 20 * 1024 * 1024 + 12_345);
    let out = wasmtime_run(&copy_args(&bed, seed, size, "run.bin"));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r = last_json(&out.stdout);
    assert_eq!(r["ok"], true);
    assert_eq!(r["source_crc64"], pattern::crc64(seed, size).to_string());
    assert_eq!(r["parts"], 21);
    bed.check_copied(seed, size, "run.bin").unwrap();
}

#[test]
fn stock_wasmtime_run_fails_clearly_when_the_store_is_down() {
    let bed = bed("down");
    let dead = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let mut args = copy_args(&bed, 1, 3_000_000, "down.bin");
    let i = args.iter().position(|a| a == "--endpoint").unwrap();
    args[i + 1] = format!("http://{dead}");
    let started = Instant::now();
    assert_gave_up(
        &wasmtime_run(&args),
        &[
            &format!("{dead} refused the connection"),
            "check the store endpoint (--endpoint",
        ],
    );
    assert!(started.elapsed() < Duration::from_secs(60), "it hung");
    // And a dead source.
    let mut args = copy_args(&bed, 1, 3_000_000, "down.bin");
    args[1] = format!("http://{dead}/obj");
    assert_gave_up(
        &wasmtime_run(&args),
        &[
            "cannot read the source",
            &format!("{dead} refused the connection"),
            "check the host and port of the source URL",
        ],
    );
    assert!(bed.check_no_upload().is_ok());
}

/// The run failed as a transient failure that outlasted its retries, and
/// its message says each of `says`.
fn assert_gave_up(out: &Output, says: &[&str]) {
    assert!(!out.status.success());
    let r = last_json(&out.stdout);
    assert_eq!(r["kind"], "exhausted", "{r}");
    let message = r["message"].as_str().unwrap_or_default();
    for needle in says {
        assert!(message.contains(needle), "{r}");
    }
}

/// `wasmtime serve` on a free loopback port, stopped on drop.
struct Serve {
    child: Child,
    addr: String,
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve() -> Serve {
    let addr = format!("127.0.0.1:{}", bed::free_port());
    let child = Command::new(wasmtime())
        .args(["serve", "-S", "cli", "--addr", &addr])
        .args([
            "--env",
            "OSS_ACCESS_KEY_ID",
            "--env",
            "OSS_ACCESS_KEY_SECRET",
        ])
        .arg(component())
        .env("OSS_ACCESS_KEY_ID", KEY_ID)
        .env("OSS_ACCESS_KEY_SECRET", SECRET)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while TcpStream::connect(&addr).is_err() {
        assert!(Instant::now() < deadline, "wasmtime serve did not start");
        std::thread::sleep(Duration::from_millis(100));
    }
    Serve { child, addr }
}

/// A minimal HTTP/1.1 POST; returns (status, body).
fn post(addr: &str, path: &str, body: &str) -> (u16, Value) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(300))).unwrap();
    write!(
        s,
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut response = Vec::new();
    s.read_to_end(&mut response).unwrap();
    let text = String::from_utf8_lossy(&response);
    let status = text[9..12].parse().unwrap();
    let body = text.split("\r\n\r\n").nth(1).unwrap_or_default();
    // The body may be chunked: take the JSON object inside.
    let json = body
        .find('{')
        .and_then(|a| body.rfind('}').map(|b| &body[a..=b]))
        .unwrap_or("null");
    (status, serde_json::from_str(json).unwrap_or(Value::Null))
}

#[test]
fn stock_wasmtime_serve_fans_out_to_itself() {
    let bed = bed("serve");
    let server = serve();
    let (seed, size) = (62, 12 * 1024 * 1024 + 7);
    let job = json!({
        "source_url": bed.source.url(seed, size),
        "target_bucket_name": BUCKET,
        "target_object_name": "serve.bin",
        "target_region": REGION,
        "endpoint": bed.store.endpoint(),
        "part_size": 1024 * 1024,
    });
    let (status, r) = post(&server.addr, "/jobs", &job.to_string());
    assert_eq!(status, 200, "{r}");
    assert_eq!(r["parts"], 13);
    assert_eq!(r["crc64"], pattern::crc64(seed, size).to_string());
    bed.check_copied(seed, size, "serve.bin").unwrap();
    // Bad input gets a 400 with the reason, on both routes.
    let (status, r) = post(&server.addr, "/jobs", "{\"source_url\": 1}");
    assert_eq!(status, 400);
    assert!(
        r["message"]
            .as_str()
            .unwrap()
            .contains("not a valid document"),
        "{r}"
    );
    let (status, _) = post(&server.addr, "/parts", "not json");
    assert_eq!(status, 400);
}

#[test]
fn jco_runs_the_same_component() {
    let jco = tool(
        "JCO",
        &[workspace().join("target/jco/node_modules/.bin/jco")],
    );
    let bed = bed("jco");
    let (seed, size) = (63, 3 * 1024 * 1024 + 1);
    let started = Instant::now();
    let out = Command::new(jco)
        .arg("run")
        .arg(component())
        .args(copy_args(&bed, seed, size, "jco.bin"))
        .env("OSS_ACCESS_KEY_ID", KEY_ID)
        .env("OSS_ACCESS_KEY_SECRET", SECRET)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(last_json(&out.stdout)["ok"], true);
    bed.check_copied(seed, size, "jco.bin").unwrap();
    eprintln!(
        "jco run: {size} bytes in {:.2} s",
        started.elapsed().as_secs_f64()
    );
}

#[test]
fn component_imports_only_standard_wasi() {
    let wasm_tools = tool("WASM_TOOLS", &[home().join(".cargo/bin/wasm-tools")]);
    let out = Command::new(wasm_tools)
        .args(["component", "wit"])
        .arg(component())
        .output()
        .unwrap();
    assert!(out.status.success());
    let wit = String::from_utf8_lossy(&out.stdout);
    let imports: Vec<&str> = wit
        .lines()
        .filter_map(|l| l.trim().strip_prefix("import "))
        .collect();
    assert!(!imports.is_empty());
    for import in &imports {
        let allowed = [
            "wasi:cli/",
            "wasi:clocks/",
            "wasi:random/",
            "wasi:io/",
            "wasi:http/types@",
            "wasi:http/outgoing-handler@",
        ];
        assert!(
            allowed.iter().any(|a| import.starts_with(a)) && import.contains("@0.2."),
            "non-standard import: {import}"
        );
    }
    for export in [
        "wasi:cli/run@0.2",
        "wasi:http/incoming-handler@0.2",
        "ferry:transfer/engine@",
    ] {
        assert!(
            wit.contains(&format!("export {export}")),
            "missing export {export}"
        );
    }
}
