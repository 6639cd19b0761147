//! Remote fan-out for real: `ferry copy --workers` sends its part tasks to
//! three `ferry serve` worker processes on loopback (each runs a posted part
//! task on a fresh local instance), copies 2 GiB into the store's
//! CRC-checking null sink, and
//! one worker is killed with SIGKILL a third of the way through. The parts
//! it held are re-sent to the others; the object must still be complete,
//! its CRC-64 the source's, and no upload left behind.
//!
//! `FERRY_WORKERS_SIZE` changes the size.

mod bed;

use bed::{free_port, workspace};
use ferry_testbed::pattern;
use ferry_testbed::source::{SourceConfig, SourceServer};
use ferry_testbed::store::{Credential, Sink, StoreConfig, StoreServer};
use serde_json::Value;
use std::io::Read;
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BUCKET: &str = "ferry-workers";
const REGION: &str = "cn-hangzhou";
const KEY_ID: &str = "workers-key";
const SECRET: &str = "workers-secret";
const GIB: u64 = 1 << 30;

/// A worker process, killed on drop.
struct Worker {
    child: Child,
    url: String,
}

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `ferry serve` on loopback: a fresh instance per part task, no
/// credentials (part tasks carry presigned URLs); loopback sources allowed.
fn worker() -> Worker {
    let addr = format!("127.0.0.1:{}", free_port());
    let child = Command::new(workspace().join("target/release/ferry"))
        .args(["serve", "--listen", &addr, "--allow-cidr", "127.0.0.0/8"])
        .env_clear()
        .env("FERRY_COMPONENT", workspace().join("target/ferry.wasm"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("ferry serve starts");
    let deadline = Instant::now() + Duration::from_secs(120);
    while TcpStream::connect(&addr).is_err() {
        assert!(Instant::now() < deadline, "ferry serve did not start");
        std::thread::sleep(Duration::from_millis(100));
    }
    Worker {
        child,
        url: format!("http://{addr}"),
    }
}

#[test]
fn copy_through_three_workers_survives_a_killed_worker() {
    let size: u64 = std::env::var("FERRY_WORKERS_SIZE")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2 * GIB);
    let seed = 0x5eed_0007;
    let source = SourceServer::start(SourceConfig {
        crc_header: true,
        ..SourceConfig::default()
    })
    .unwrap();
    let store = StoreServer::start(StoreConfig {
        region: REGION.into(),
        buckets: vec![BUCKET.into()],
        credentials: vec![Credential {
            id: KEY_ID.into(),
            secret: SECRET.into(),
            token: None,
        }],
        sink: Sink::Null,
        md5_etags: false,
    })
    .unwrap();
    let mut workers: Vec<Worker> = (0..3).map(|_| worker()).collect();
    let urls: Vec<String> = workers.iter().map(|w| w.url.clone()).collect();
    // Warm the workers (the component is compiled on start, but the first
    // request still pays for the first instance).
    for url in &urls {
        let mut s = TcpStream::connect(url.trim_start_matches("http://")).unwrap();
        use std::io::Write;
        write!(s, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").unwrap();
        let mut sink = Vec::new();
        let _ = s.read_to_end(&mut sink);
    }

    let started = Instant::now();
    let mut ferry = Command::new(workspace().join("target/release/ferry"))
        .args([
            "copy",
            &source.url(seed, size),
            &format!("oss://{BUCKET}/big.bin"),
            "--endpoint",
            &store.endpoint(),
            "--region",
            REGION,
            "--workers",
            &urls.join(","),
            "--worker-concurrency",
            "6",
            "--json",
        ])
        .env_clear()
        .env("OSS_ACCESS_KEY_ID", KEY_ID)
        .env("OSS_ACCESS_KEY_SECRET", SECRET)
        .env("FERRY_COMPONENT", workspace().join("target/ferry.wasm"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("ferry runs");

    // A third of the parts in (6 MiB each, the default), kill a worker.
    let parts = size.div_ceil(6 << 20);
    let kill_at = parts / 3;
    let deadline = Instant::now() + Duration::from_secs(600);
    while store.counts().upload_part < kill_at {
        assert!(Instant::now() < deadline, "the copy did not get going");
        assert!(
            ferry.try_wait().unwrap().is_none(),
            "ferry ended before the kill"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let killed = workers.remove(0);
    let killed_url = killed.url.clone();
    let killed_after = store.counts().upload_part;
    let killed_at = started.elapsed();
    drop(killed); // SIGKILL (Child::kill), then reaped.

    let mut stdout = String::new();
    let mut stderr = String::new();
    ferry
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut stdout)
        .unwrap();
    ferry
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    let status = ferry.wait().unwrap();
    let elapsed = started.elapsed();
    let result: Value = stdout
        .lines()
        .last()
        .and_then(|l| serde_json::from_str(l).ok())
        .unwrap_or(Value::Null);
    assert!(
        status.success(),
        "ferry failed ({status}): {stdout}\n{stderr}"
    );
    assert_eq!(result["ok"], true, "{stdout}\n{stderr}");

    // The object: complete, its CRC-64 the source's, nothing left open.
    let expected = pattern::crc64(seed, size);
    assert_eq!(result["size"].as_u64(), Some(size));
    assert_eq!(result["crc64"], expected.to_string());
    assert_eq!(result["store_crc64"], expected.to_string());
    let info = store.object(BUCKET, "big.bin").expect("the object exists");
    assert_eq!(info.size, size);
    assert_eq!(info.crc64, expected);
    assert!(store.open_uploads(BUCKET).is_empty(), "an upload was left");

    // The kill was seen and worked around: tasks went to other workers.
    let failovers = stderr
        .lines()
        .filter(|l| l.contains(&format!("worker {killed_url} failed")))
        .count();
    assert!(
        failovers > 0,
        "no task of the killed worker was re-sent: {stderr}"
    );
    // The host's closing line, without the log prefix.
    let summary = stderr
        .lines()
        .find(|l| l.contains("re-sent to another worker"))
        .and_then(|l| l.find("workers: ").map(|i| &l[i..]))
        .unwrap_or("(no summary line)");
    let secs = elapsed.as_secs_f64();
    println!(
        "workers: {} in {secs:.1} s = {:.1} MiB/s through 3 workers \
         ({} parts; worker {killed_url} SIGKILLed at {:.1} s after {killed_after} parts \
         stored; {failovers} attempts on it failed and went to another worker; \
         {} part retries in the coordinator)\n  host: {}",
        pretty(size),
        size as f64 / (1 << 20) as f64 / secs,
        result["parts"],
        killed_at.as_secs_f64(),
        result["retries"],
        summary.trim()
    );
}

fn pretty(n: u64) -> String {
    if n >= GIB {
        format!("{:.2} GiB", n as f64 / GIB as f64)
    } else {
        format!("{:.1} MiB", n as f64 / (1 << 20) as f64)
    }
}
