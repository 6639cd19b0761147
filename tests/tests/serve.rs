//! `ferry serve` end to end: the built `ferry` runs as a server on a free
//! loopback port, in front of the loopback source and OSS-protocol store,
//! and is driven the way Function Compute drives a custom container
//! (`POST /initialize`, `POST /invoke` with FC's credential headers) and the
//! way an HTTP trigger does (`POST /jobs`). Every copy is read back from the
//! store and compared with the source; every failure must leave nothing
//! behind; no secret may reach the server's output.
//!
//! Needs `make build` first (the binary and the component).

mod bed;

use bed::{ferry_bin, free_port, workspace};
use ferry_testbed::pattern;
use ferry_testbed::source::{SourceConfig, SourceServer};
use ferry_testbed::store::{Credential, Sink, StoreConfig, StoreServer};
use serde_json::{json, Value};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BUCKET: &str = "ferry-serve";
const BACKUP: &str = "ferry-backup";
const REGION: &str = "cn-hangzhou";
const KEY_ID: &str = "serve-key";
const SECRET: &str = "serve-secret-value";
const STS_ID: &str = "STS.serve-sts-key";
const STS_SECRET: &str = "serve-sts-secret";
const STS_TOKEN: &str = "serve-sts-token-value";
const TOKEN: &str = "serve-bearer-token-0123456789";

/// A directory removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        let p = std::env::temp_dir().join(format!("ferry-serve-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

struct Bed {
    source: SourceServer,
    store: StoreServer,
    dir: TempDir,
}

fn bed(tag: &str) -> Bed {
    bed_with(
        tag,
        SourceConfig {
            crc_header: true,
            ..SourceConfig::default()
        },
    )
}

fn bed_with(tag: &str, source: SourceConfig) -> Bed {
    let dir = TempDir::new(tag);
    let blobs = dir.0.join("store");
    std::fs::create_dir_all(&blobs).unwrap();
    let store = StoreServer::start(StoreConfig {
        region: REGION.into(),
        buckets: vec![BUCKET.into(), BACKUP.into()],
        credentials: vec![
            Credential {
                id: KEY_ID.into(),
                secret: SECRET.into(),
                token: None,
            },
            Credential {
                id: STS_ID.into(),
                secret: STS_SECRET.into(),
                token: Some(STS_TOKEN.into()),
            },
        ],
        sink: Sink::Disk(blobs),
        md5_etags: true,
    })
    .unwrap();
    Bed {
        source: SourceServer::start(source).unwrap(),
        store,
        dir,
    }
}

/// A running `ferry serve`, stopped on drop; its stderr goes to a file that
/// is searched for secrets when it stops.
struct Server {
    child: Child,
    addr: SocketAddr,
    log: PathBuf,
}

impl Server {
    /// Starts `ferry serve` on a free port with `args`; `env` adds
    /// variables to an otherwise empty environment.
    fn start(bed: &Bed, args: &[&str], env: &[(&str, &str)]) -> Server {
        let port = free_port();
        let listen = format!("127.0.0.1:{port}");
        let args: Vec<&str> = ["--listen", listen.as_str()]
            .into_iter()
            .chain(args.iter().copied())
            .collect();
        Server::start_on(bed, port, &args, env)
    }

    /// Starts `ferry serve` with `args` and `env` alone (no --listen added)
    /// and waits until it answers on loopback at `port`.
    fn start_on(bed: &Bed, port: u16, args: &[&str], env: &[(&str, &str)]) -> Server {
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let log = bed.dir.0.join(format!("serve-{port}.log"));
        let mut cmd = Command::new(ferry_bin());
        cmd.arg("serve")
            .args(args)
            .env_clear()
            .env("FERRY_COMPONENT", workspace().join("target/ferry.wasm"))
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap());
        let mut child = cmd.spawn().expect("ferry serve starts");
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            if TcpStream::connect(addr).is_ok() {
                break;
            }
            if let Some(status) = child.try_wait().unwrap() {
                panic!(
                    "ferry serve exited with {status}: {}",
                    std::fs::read_to_string(&log).unwrap_or_default()
                );
            }
            assert!(Instant::now() < deadline, "ferry serve did not listen");
            std::thread::sleep(Duration::from_millis(50));
        }
        Server { child, addr, log }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let log = self.log();
        for secret in [SECRET, STS_SECRET, STS_TOKEN, TOKEN, "not-the-secret"] {
            if log.contains(secret) && !std::thread::panicking() {
                panic!("a secret reached ferry serve's output:\n{log}");
            }
        }
    }
}

/// An HTTP answer.
struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }
}

/// One HTTP/1.1 request on its own connection.
fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Reply {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(300)))
        .unwrap();
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\ncontent-length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).unwrap();
    // The server may answer (413) before reading a large body.
    let _ = stream.write_all(body);
    let mut raw = Vec::new();
    let _ = stream.read_to_end(&mut raw);
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no HTTP answer: {}", String::from_utf8_lossy(&raw)));
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .expect("a status line");
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    Reply {
        status,
        headers,
        body: raw[split + 4..].to_vec(),
    }
}

fn post(server: &Server, path: &str, headers: &[(&str, &str)], body: &Value) -> Reply {
    request(
        server.addr,
        "POST",
        path,
        headers,
        body.to_string().as_bytes(),
    )
}

/// FC's headers for an event invocation with the STS key.
fn fc_headers() -> Vec<(&'static str, &'static str)> {
    vec![
        ("content-type", "application/octet-stream"),
        ("x-fc-request-id", "rid-0001"),
        ("x-fc-access-key-id", STS_ID),
        ("x-fc-access-key-secret", STS_SECRET),
        ("x-fc-security-token", STS_TOKEN),
        ("x-fc-region", REGION),
        ("x-fc-account-id", "1234567890"),
    ]
}

fn fc_event(bed: &Bed, seed: u64, size: u64, key: &str) -> Value {
    json!({
        "source_url": bed.source.url(seed, size),
        "target_object_name": key,
        "target_region": REGION,
        "target_bucket_name": BUCKET,
    })
}

/// The object `bucket/key` is the pattern object (seed, size), by CRC and
/// byte for byte, and no upload is left.
fn assert_copied(bed: &Bed, bucket: &str, key: &str, seed: u64, size: u64) {
    let crc = pattern::crc64(seed, size);
    let info = bed
        .store
        .object(bucket, key)
        .unwrap_or_else(|| panic!("{bucket}/{key} was not written"));
    assert_eq!(info.size, size);
    assert_eq!(info.crc64, crc);
    let stored = bed.store.read_object(bucket, key).unwrap();
    let mut expected = vec![0u8; size as usize];
    pattern::fill(seed, 0, &mut expected);
    assert!(
        stored == expected,
        "the stored bytes differ from the source"
    );
    assert!(
        bed.store.open_uploads(bucket).is_empty(),
        "an upload was left"
    );
}

fn assert_report(result: &Value, seed: u64, size: u64) {
    assert_eq!(result["ok"], true, "{result}");
    assert_eq!(result["size"], size);
    assert_eq!(result["crc64"], pattern::crc64(seed, size).to_string());
    assert_eq!(
        result["store_crc64"],
        pattern::crc64(seed, size).to_string()
    );
}

fn assert_nothing_left(bed: &Bed, bucket: &str, key: &str) {
    assert!(
        bed.store.object(bucket, key).is_none(),
        "an object was left"
    );
    assert!(
        bed.store.open_uploads(bucket).is_empty(),
        "an upload was left"
    );
}

#[test]
fn fc_invocations_copy_with_the_requests_credentials() {
    let bed = bed("fc");
    let endpoint = bed.store.endpoint();
    let server = Server::start(
        &bed,
        &["--endpoint", &endpoint, "--allow-cidr", "127.0.0.0/8"],
        &[],
    );

    // The initializer hook.
    let r = post(&server, "/initialize", &fc_headers(), &json!({}));
    assert_eq!(r.status, 200);
    assert_eq!(r.header("x-fc-status"), Some("200"));

    // (a) The FC design's event, with FC's STS credentials.
    let r = post(
        &server,
        "/invoke",
        &fc_headers(),
        &fc_event(&bed, 1, 3_000_000, "fc/design.bin"),
    );
    assert_eq!(r.status, 200, "{}", r.json());
    assert_eq!(r.header("x-fc-status"), Some("200"));
    assert_eq!(r.header("content-type"), Some("application/json"));
    let result = r.json();
    assert_report(&result, 1, 3_000_000);
    assert_eq!(
        result["source_crc64"],
        pattern::crc64(1, 3_000_000).to_string()
    );
    assert_copied(&bed, BUCKET, "fc/design.bin", 1, 3_000_000);

    // (b) ferry's own job, V1-signed, 1 MiB parts, 2 in flight; the region
    // from x-fc-region.
    let mut job = fc_event(&bed, 2, 2_500_000, "fc/job.bin");
    job.as_object_mut().unwrap().remove("target_region");
    job["part_size"] = json!("1MiB");
    job["parallel"] = json!(2);
    job["retries"] = json!(2);
    job["part_timeout"] = json!(120);
    job["signature_version"] = json!("v1");
    job["endpoint"] = json!(endpoint);
    let r = post(&server, "/invoke", &fc_headers(), &job);
    assert_eq!(r.status, 200, "{}", r.json());
    let result = r.json();
    assert_report(&result, 2, 2_500_000);
    assert_eq!(result["parts"], 3);
    assert_copied(&bed, BUCKET, "fc/job.bin", 2, 2_500_000);

    // Several jobs in one body: several transfers, the results in an array.
    let body = json!([
        fc_event(&bed, 3, 150_000, "fc/list-1.bin"),
        fc_event(&bed, 4, 0, "fc/list-2.bin"),
    ]);
    let r = post(&server, "/invoke", &fc_headers(), &body);
    assert_eq!(r.status, 200);
    let results = r.json();
    assert_report(&results[0], 3, 150_000);
    assert_report(&results[1], 4, 0);
    assert_copied(&bed, BUCKET, "fc/list-1.bin", 3, 150_000);
    assert_copied(&bed, BUCKET, "fc/list-2.bin", 4, 0);

    // The same through the HTTP-trigger path, with the plain key's
    // credentials in FC's headers (no token: FC sends none).
    let r = post(
        &server,
        "/jobs",
        &[
            ("x-fc-access-key-id", KEY_ID),
            ("x-fc-access-key-secret", SECRET),
        ],
        &fc_event(&bed, 5, 400_000, "fc/http.bin"),
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.header("x-fc-status"), None, "x-fc-* only on event paths");
    assert_report(&r.json(), 5, 400_000);
    assert_copied(&bed, BUCKET, "fc/http.bin", 5, 400_000);

    // A request without credentials, and none in the process's environment.
    let r = post(
        &server,
        "/invoke",
        &[],
        &fc_event(&bed, 6, 1000, "fc/none.bin"),
    );
    assert_eq!(r.status, 400);
    assert_eq!(r.header("x-fc-status"), Some("404"));
    assert_eq!(r.json()["kind"], "invalid-input");
    assert!(r.json()["message"]
        .as_str()
        .unwrap()
        .contains("no OSS credentials"));
    assert_nothing_left(&bed, BUCKET, "fc/none.bin");

    let log = server.log();
    assert!(log.contains("rid-0001"), "the log names the request: {log}");
}

#[test]
fn wrong_credentials_come_back_as_the_stores_refusal() {
    let bed = bed("creds");
    let endpoint = bed.store.endpoint();
    // The process has good credentials; the request's own win.
    let server = Server::start(
        &bed,
        &["--endpoint", &endpoint, "--allow-cidr", "127.0.0.0/8"],
        &[
            ("OSS_ACCESS_KEY_ID", KEY_ID),
            ("OSS_ACCESS_KEY_SECRET", SECRET),
        ],
    );
    let event = fc_event(&bed, 7, 1_000_000, "creds/a.bin");
    let r = post(
        &server,
        "/invoke",
        &[
            ("x-fc-access-key-id", STS_ID),
            ("x-fc-access-key-secret", "not-the-secret"),
            ("x-fc-security-token", STS_TOKEN),
        ],
        &event,
    );
    assert_eq!(r.status, 502);
    assert_eq!(r.header("x-fc-status"), Some("404"));
    let result = r.json();
    assert_eq!(result["ok"], false);
    assert_eq!(result["kind"], "store");
    let message = result["message"].as_str().unwrap();
    assert!(message.contains("SignatureDoesNotMatch"), "{message}");
    let text = String::from_utf8_lossy(&r.body);
    for secret in ["not-the-secret", STS_TOKEN, STS_SECRET] {
        assert!(!text.contains(secret), "a secret was answered: {text}");
    }
    assert_nothing_left(&bed, BUCKET, "creds/a.bin");

    // An STS token that is not the key's.
    let r = post(
        &server,
        "/invoke",
        &[
            ("x-fc-access-key-id", STS_ID),
            ("x-fc-access-key-secret", STS_SECRET),
            ("x-fc-security-token", "wrong-token"),
        ],
        &event,
    );
    assert_eq!(r.status, 502);
    assert_eq!(r.json()["kind"], "store");
    assert_nothing_left(&bed, BUCKET, "creds/a.bin");

    // Half a key pair is a bad request, not a fallback to the environment.
    let r = post(
        &server,
        "/invoke",
        &[("x-fc-access-key-id", STS_ID)],
        &event,
    );
    assert_eq!(r.status, 400);
    assert!(r.json()["message"]
        .as_str()
        .unwrap()
        .contains("incomplete credentials"));

    // No credentials headers: the process's OSS_* are used.
    let r = post(&server, "/invoke", &[], &event);
    assert_eq!(r.status, 200, "{}", r.json());
    assert_copied(&bed, BUCKET, "creds/a.bin", 7, 1_000_000);
}

#[test]
fn oss_trigger_events_copy_each_new_object_to_the_target() {
    let bed = bed("oss");
    let endpoint = bed.store.endpoint();
    let source = format!("http://{}/", bed.source.addr());
    let server = Server::start(
        &bed,
        &[
            "--endpoint",
            &endpoint,
            "--allow-cidr",
            "127.0.0.0/8",
            "--target",
            &format!("oss://{BACKUP}/backup/"),
            "--source-endpoint",
            &source,
        ],
        &[],
    );
    // The documented OSS trigger event, with two new objects; the keys are
    // test-bed source paths.
    let event = |name: &str, key: &str, size: u64| {
        json!({
            "eventName": name,
            "eventSource": "acs:oss",
            "eventTime": "2022-08-13T06:45:43.000Z",
            "eventVersion": "1.0",
            "oss": {
                "bucket": {"arn": format!("acs:oss:{REGION}:123456789:{BUCKET}"),
                           "name": BUCKET, "ownerIdentity": "164901546557****"},
                "object": {"deltaSize": size, "eTag": "688A7BF4F233DC9C88A80BF985AB****",
                           "key": key, "size": size},
                "ossSchemaVersion": "1.0",
                "ruleId": "9adac8e253828f4f7c0466d941fa3db81161****"
            },
            "region": REGION,
            "requestParameters": {"sourceIPAddress": "140.205.XX.XX"},
            "responseElements": {"requestId": "58F9FF2D3DF792092E12044C"},
            "userIdentity": {"principalId": "164901546557****"}
        })
    };
    let body = json!({"events": [
        event("ObjectCreated:PutObject", "obj/11/300000", 300_000),
        event("ObjectCreated:CompleteMultipartUpload", "obj/12/1234567", 1_234_567),
    ]});
    let r = post(&server, "/invoke", &fc_headers(), &body);
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let results = r.json();
    assert_report(&results[0], 11, 300_000);
    assert_report(&results[1], 12, 1_234_567);
    assert_copied(&bed, BACKUP, "backup/obj/11/300000", 11, 300_000);
    assert_copied(&bed, BACKUP, "backup/obj/12/1234567", 12, 1_234_567);

    // One event: one result object.
    let body = json!({"events": [event("ObjectCreated:PutObject", "obj/13/5", 5)]});
    let r = post(&server, "/invoke", &fc_headers(), &body);
    assert_eq!(r.status, 200);
    assert_report(&r.json(), 13, 5);

    // A deletion is not a new object: the whole body is refused, nothing runs.
    let before = bed.source.requests();
    let body = json!({"events": [
        event("ObjectCreated:PutObject", "obj/14/1000", 1000),
        event("ObjectRemoved:DeleteObject", "obj/15/1000", 1000),
    ]});
    let r = post(&server, "/invoke", &fc_headers(), &body);
    assert_eq!(r.status, 400);
    let result = r.json();
    assert_eq!(result["kind"], "invalid-input");
    assert!(
        result["message"]
            .as_str()
            .unwrap()
            .starts_with("event 2: ObjectRemoved:DeleteObject"),
        "{result}"
    );
    assert_eq!(bed.source.requests(), before, "nothing may run");
    assert_nothing_left(&bed, BACKUP, "backup/obj/14/1000");
}

#[test]
fn bad_requests_are_refused_with_the_reason() {
    let bed = bed("bad");
    let endpoint = bed.store.endpoint();
    let server = Server::start(
        &bed,
        &["--endpoint", &endpoint, "--allow-cidr", "127.0.0.0/8"],
        &[],
    );
    let refused = |r: &Reply, status: u16, needle: &str| {
        assert_eq!(r.status, status, "{}", String::from_utf8_lossy(&r.body));
        let v = r.json();
        assert_eq!(v["ok"], false);
        assert_eq!(v["kind"], "invalid-input");
        let message = v["message"].as_str().unwrap();
        assert!(message.contains(needle), "{message:?} lacks {needle:?}");
    };
    let r = request(server.addr, "POST", "/invoke", &fc_headers(), b"{not json");
    refused(&r, 400, "not JSON");
    assert_eq!(r.header("x-fc-status"), Some("404"));
    let r = post(
        &server,
        "/invoke",
        &fc_headers(),
        &json!({"source_url": "x"}),
    );
    refused(&r, 400, "target_bucket_name");
    // An OSS trigger event without a --target rule.
    let r = post(
        &server,
        "/invoke",
        &fc_headers(),
        &json!({"events": [{"eventName": "ObjectCreated:PutObject", "region": REGION,
                            "oss": {"bucket": {"name": BUCKET}, "object": {"key": "k"}}}]}),
    );
    refused(&r, 400, "--target");
    // A store endpoint the caller chose would receive the credentials.
    let mut event = fc_event(&bed, 1, 10, "bad/e.bin");
    event["endpoint"] = json!("http://127.0.0.1:1");
    let r = post(&server, "/invoke", &fc_headers(), &event);
    refused(&r, 400, "not allowed");
    // The guest's own checks come back as invalid input too.
    let mut event = fc_event(&bed, 1, 10, "bad/e.bin");
    event["part_size"] = json!("1KiB");
    let r = post(&server, "/invoke", &fc_headers(), &event);
    refused(&r, 400, "");
    // Routes and methods.
    let r = request(server.addr, "GET", "/invoke", &[], b"");
    refused(&r, 405, "POST");
    let r = request(server.addr, "POST", "/elsewhere", &[], b"{}");
    refused(&r, 404, "no route");
    let r = request(server.addr, "GET", "/", &[], b"");
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["service"], "ferry");
    // The body limit: 1 MiB by default, 413 past it, declared or not.
    let big = vec![b' '; (1 << 20) + 1];
    let r = request(server.addr, "POST", "/invoke", &fc_headers(), &big);
    refused(&r, 413, "larger than 1048576 bytes");
    let mut padded = fc_event(&bed, 9, 100_000, "bad/padded.bin")
        .to_string()
        .into_bytes();
    padded.resize(1 << 20, b' ');
    let r = request(server.addr, "POST", "/invoke", &fc_headers(), &padded);
    assert_eq!(r.status, 200, "a body of exactly the limit is read");
    assert_copied(&bed, BUCKET, "bad/padded.bin", 9, 100_000);
    assert_nothing_left(&bed, BUCKET, "bad/e.bin");
}

#[test]
fn a_bearer_token_guards_every_route() {
    let bed = bed("token");
    let endpoint = bed.store.endpoint();
    let server = Server::start(
        &bed,
        &[
            "--endpoint",
            &endpoint,
            "--allow-cidr",
            "127.0.0.0/8",
            "--token",
            TOKEN,
        ],
        &[],
    );
    let event = fc_event(&bed, 21, 200_000, "token/a.bin");
    let mut wrong = TOKEN.to_string();
    wrong.pop();
    wrong.push('X');
    for auth in [
        None,
        Some(format!("Bearer {wrong}")),
        Some(format!("Basic {TOKEN}")),
    ] {
        for path in ["/invoke", "/jobs", "/initialize"] {
            let mut headers: Vec<(&str, &str)> = fc_headers();
            if let Some(a) = &auth {
                headers.push(("authorization", a));
            }
            let r = post(&server, path, &headers, &event);
            assert_eq!(r.status, 401, "{path} {auth:?}");
            assert_eq!(r.header("www-authenticate"), Some("Bearer"));
            assert_eq!(r.json()["kind"], "unauthorized");
        }
    }
    assert_nothing_left(&bed, BUCKET, "token/a.bin");
    assert_eq!(bed.source.requests(), 0);
    let bearer = format!("Bearer {TOKEN}");
    let mut headers: Vec<(&str, &str)> = fc_headers();
    headers.push(("authorization", &bearer));
    let r = post(&server, "/jobs", &headers, &event);
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_report(&r.json(), 21, 200_000);
    assert_copied(&bed, BUCKET, "token/a.bin", 21, 200_000);
}

#[test]
fn beyond_loopback_a_token_is_required() {
    let out = Command::new(ferry_bin())
        .args(["serve", "--listen", "0.0.0.0:1"])
        .env_clear()
        .env("FERRY_COMPONENT", workspace().join("target/ferry.wasm"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--token"), "{stderr}");
}

/// Function Compute is recognised by the variables it documents for every
/// instance, all together; a stray `FC_*` variable changes nothing.
#[test]
fn only_function_computes_own_variables_open_every_interface() {
    let bed = bed("fcenv");
    let component = workspace().join("target/ferry.wasm");
    // `ferry serve` without --listen, its port in `port_variable`.
    let start = |port_variable: &str, env: &[(&str, &str)]| {
        let port = free_port();
        let p = port.to_string();
        let env: Vec<(&str, &str)> = env
            .iter()
            .copied()
            .chain([(port_variable, p.as_str())])
            .collect();
        (Server::start_on(&bed, port, &[], &env), port)
    };
    // One stray variable (with the port variable ferry reads): loopback.
    let (server, port) = start("FC_SERVER_PORT", &[("FC_ANYTHING", "1")]);
    let log = server.log();
    assert!(
        log.contains(&format!(
            "listening on http://127.0.0.1:{port} (loopback only"
        )),
        "{log}"
    );
    drop(server);

    // ... and a public address without a token is refused, as anywhere
    // outside Function Compute.
    let port = free_port();
    let mut child = Command::new(ferry_bin())
        .args(["serve", "--listen", &format!("0.0.0.0:{port}")])
        .env_clear()
        .env("FERRY_COMPONENT", &component)
        .env("FC_ANYTHING", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if TcpStream::connect(("127.0.0.1", port)).is_ok() || Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("with FC_ANYTHING=1 alone, ferry serve listened on 0.0.0.0 without a token");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert_eq!(status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("--token"), "{stderr}");

    // The documented set: every interface, at FC's port, and the log says why.
    let (server, port) = start(
        "FC_CUSTOM_LISTEN_PORT",
        &[
            ("FC_ACCOUNT_ID", "1234567890"),
            ("FC_FUNCTION_NAME", "ferry"),
            ("FC_REGION", REGION),
            ("FC_INSTANCE_ID", "c-0123456789abcdef"),
            ("FERRY_LOG", "info"),
        ],
    );
    let r = request(server.addr, "GET", "/", &[], b"");
    assert_eq!(r.status, 200);
    let log = server.log();
    assert!(
        log.contains(&format!(
            "listening on http://0.0.0.0:{port} (Function Compute"
        )),
        "{log}"
    );
    assert!(
        log.contains("INFO") && log.contains("every interface") && log.contains("FC_INSTANCE_ID"),
        "the log does not say why: {log}"
    );
}

/// What a raw connection saw: the bytes the server sent and, if it closed
/// the connection, when (counted from the end of `opening`).
struct Watched {
    received: Vec<u8>,
    closed_after: Option<Duration>,
}

/// Connects, sends `opening`, then one more header line every `dribble`
/// (if given), and reads until the server closes or `limit` passes.
fn watch(
    addr: SocketAddr,
    opening: &'static [u8],
    dribble: Option<Duration>,
    limit: Duration,
) -> Watched {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(limit)).unwrap();
    stream.write_all(opening).unwrap();
    let start = Instant::now();
    let writer = dribble.map(|every| {
        let mut w = stream.try_clone().unwrap();
        std::thread::spawn(move || {
            let mut n = 0;
            while start.elapsed() < limit {
                std::thread::sleep(every);
                n += 1;
                if w.write_all(format!("x-slow-{n}: 1\r\n").as_bytes())
                    .is_err()
                {
                    break;
                }
            }
        })
    });
    let mut received = Vec::new();
    let mut buf = [0u8; 4096];
    let closed_after = loop {
        match stream.read(&mut buf) {
            Ok(0) => break Some(start.elapsed()),
            Ok(n) => received.extend_from_slice(&buf[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                break None
            }
            // A reset is a close too.
            Err(_) => break Some(start.elapsed()),
        }
        if start.elapsed() > limit {
            break None;
        }
    };
    drop(stream);
    if let Some(w) = writer {
        w.join().unwrap();
    }
    Watched {
        received,
        closed_after,
    }
}

/// Slow clients cannot hold the server: a connection that sends nothing,
/// one kept open after its answer, one that sends a header line every 2 s
/// and one whose body never comes are closed within their timeouts while
/// other requests are answered; and past --max-connections, further
/// clients wait for a free slot and are then answered.
#[test]
fn slow_clients_are_closed_while_others_are_answered() {
    let bed = bed("slow");
    let server = Server::start(
        &bed,
        &[
            "--header-timeout",
            "3",
            "--idle-timeout",
            "2",
            "--max-connections",
            "5",
        ],
        &[],
    );
    let addr = server.addr;
    let limit = Duration::from_secs(15);
    let silent = std::thread::spawn(move || watch(addr, b"", None, limit));
    let idle = std::thread::spawn(move || {
        watch(addr, b"GET / HTTP/1.1\r\nhost: ferry\r\n\r\n", None, limit)
    });
    let no_body = std::thread::spawn(move || {
        watch(
            addr,
            b"POST /jobs HTTP/1.1\r\nhost: ferry\r\ncontent-length: 100\r\n\r\n{",
            None,
            limit,
        )
    });
    let dribbling = std::thread::spawn(move || {
        watch(
            addr,
            b"POST /jobs HTTP/1.1\r\n",
            Some(Duration::from_secs(2)),
            limit,
        )
    });
    // Meanwhile, other requests are answered at once.
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(4) {
        let asked = Instant::now();
        let r = request(addr, "GET", "/", &[], b"");
        assert_eq!(r.status, 200);
        assert!(
            asked.elapsed() < Duration::from_secs(1),
            "{:?}",
            asked.elapsed()
        );
        std::thread::sleep(Duration::from_millis(250));
    }
    let within = |w: &Watched, what: &str, from: f64, to: f64| {
        let after = w
            .closed_after
            .unwrap_or_else(|| panic!("{what}: still open after {limit:?}"));
        assert!(
            (from..to).contains(&after.as_secs_f64()),
            "{what}: closed after {after:?}, not within {from}..{to} s"
        );
    };
    let w = silent.join().unwrap();
    within(&w, "a connection that sends nothing", 1.5, 4.5);
    assert!(w.received.is_empty());
    let w = idle.join().unwrap();
    within(&w, "an idle keep-alive connection", 1.5, 4.5);
    assert!(
        w.received.starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&w.received)
    );
    let w = no_body.join().unwrap();
    within(&w, "a body that never arrives", 2.5, 5.5);
    let answer = String::from_utf8_lossy(&w.received);
    assert!(
        answer.starts_with("HTTP/1.1 408") && answer.contains("did not arrive within 3 s"),
        "{answer}"
    );
    let w = dribbling.join().unwrap();
    within(&w, "a head dribbled a line every 2 s", 2.5, 5.5);
    assert!(
        !w.received.starts_with(b"HTTP/1.1 2"),
        "{}",
        String::from_utf8_lossy(&w.received)
    );

    // The bound: five silent connections take every slot; the next client
    // waits (it is not refused) until the idle timeout frees one.
    std::thread::sleep(Duration::from_millis(300));
    let held: Vec<TcpStream> = (0..5).map(|_| TcpStream::connect(addr).unwrap()).collect();
    std::thread::sleep(Duration::from_millis(300));
    let asked = Instant::now();
    let r = request(addr, "GET", "/", &[], b"");
    let waited = asked.elapsed();
    assert_eq!(r.status, 200);
    assert!(
        waited > Duration::from_millis(1000) && waited < Duration::from_secs(5),
        "the sixth connection waited {waited:?}"
    );
    drop(held);
}

#[test]
fn loopback_sources_are_refused_unless_allowed() {
    let bed = bed("ssrf");
    let endpoint = bed.store.endpoint();
    let server = Server::start(&bed, &["--endpoint", &endpoint], &[]);
    let r = post(
        &server,
        "/invoke",
        &fc_headers(),
        &fc_event(&bed, 31, 100_000, "ssrf/a.bin"),
    );
    assert_eq!(r.status, 400, "{}", String::from_utf8_lossy(&r.body));
    let result = r.json();
    assert_eq!(result["kind"], "invalid-input");
    let message = result["message"].as_str().unwrap();
    assert!(
        message.contains("the source http://127.0.0.1:")
            && message.contains("is a loopback address")
            && message.contains("--allow-cidr"),
        "{message}"
    );
    assert_eq!(bed.source.requests(), 0, "the source was contacted");
    assert_nothing_left(&bed, BUCKET, "ssrf/a.bin");
    // A name resolving to loopback is refused the same way.
    let mut event = fc_event(&bed, 31, 100_000, "ssrf/b.bin");
    event["source_url"] = json!(format!(
        "http://localhost:{}/obj/31/100000",
        bed.source.addr().port()
    ));
    let r = post(&server, "/invoke", &fc_headers(), &event);
    assert_eq!(r.status, 400);
    let message = r.json()["message"].as_str().unwrap().to_string();
    assert!(message.contains("loopback address"), "{message}");
    assert_eq!(bed.source.requests(), 0);
    // The cloud metadata service, whatever the allowed ranges.
    let mut event = fc_event(&bed, 31, 100_000, "ssrf/c.bin");
    event["source_url"] =
        json!("http://100.100.100.200/latest/meta-data/ram/security-credentials/");
    let r = post(&server, "/invoke", &fc_headers(), &event);
    assert_eq!(r.status, 400);
    assert!(r.json()["message"]
        .as_str()
        .unwrap()
        .contains("cloud metadata address"));
}

/// Starts a job that takes seconds (the source sends 1 MiB/s a connection),
/// sends SIGTERM once its upload exists, and returns the bed and the job's
/// result: 503 `stopping`, and the server exited cleanly, saying why.
fn stopped_mid_job(tag: &str, key: &str, keep_partial: bool) -> (Bed, Value) {
    let bed = bed_with(
        tag,
        SourceConfig {
            rate_limit: Some(1 << 20),
            ..SourceConfig::default()
        },
    );
    let endpoint = bed.store.endpoint();
    let mut server = Server::start(
        &bed,
        &["--endpoint", &endpoint, "--allow-cidr", "127.0.0.0/8"],
        &[],
    );
    let mut job = fc_event(&bed, 41, 16 << 20, key);
    job["part_size"] = json!("1MiB");
    job["parallel"] = json!(2);
    job["keep_partial"] = json!(keep_partial);
    let addr = server.addr;
    let asked = std::thread::spawn(move || {
        request(
            addr,
            "POST",
            "/invoke",
            &fc_headers(),
            job.to_string().as_bytes(),
        )
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    while bed.store.open_uploads(BUCKET).is_empty() {
        assert!(Instant::now() < deadline, "the upload never started");
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(300));
    let pid = server.child.id().to_string();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    let r = asked.join().unwrap();
    let status = server.child.wait().unwrap();
    assert!(status.success(), "ferry serve exited with {status}");
    assert!(server.log().contains("SIGTERM"), "{}", server.log());
    // The job did not fail: the server stopped it. 503, like any request
    // that reaches a stopping server, so the caller sends it again.
    assert_eq!(r.status, 503, "{}", r.json());
    assert_eq!(r.header("x-fc-status"), Some("404"));
    let result = r.json();
    assert_eq!(result["ok"], false);
    assert_eq!(result["kind"], "stopping", "{result}");
    assert!(
        result["message"]
            .as_str()
            .unwrap()
            .starts_with("the server is stopping"),
        "{result}"
    );
    drop(server);
    (bed, result)
}

#[test]
fn sigterm_stops_running_transfers_and_leaves_nothing() {
    let (bed, result) = stopped_mid_job("term", "term/a.bin", false);
    let message = result["message"].as_str().unwrap();
    assert!(
        message.contains("upload aborted, nothing is left"),
        "{message}"
    );
    assert!(result.get("upload_id").is_none(), "{result}");
    assert_nothing_left(&bed, BUCKET, "term/a.bin");
}

/// With `keep_partial`, the stopped job's upload stays, and the answer
/// names it for a `resume`.
#[test]
fn sigterm_keeps_a_keep_partial_upload_for_a_resume() {
    let (bed, result) = stopped_mid_job("termkeep", "term/kept.bin", true);
    let id = result["upload_id"]
        .as_str()
        .expect("an upload id")
        .to_string();
    let message = result["message"].as_str().unwrap();
    assert!(
        message.contains(&format!("\"resume\": \"{id}\"")),
        "{message}"
    );
    assert_eq!(
        bed.store.open_uploads(BUCKET),
        [("term/kept.bin".to_string(), id)]
    );
    assert!(bed.store.object(BUCKET, "term/kept.bin").is_none());
}

/// `ferry serve` is a worker: `ferry copy --workers` posts part tasks to
/// two of them (`POST /parts`), each part on a fresh instance there; and a
/// part task arriving as an FC invocation (`POST /invoke`) runs the same way.
#[test]
fn serve_processes_are_workers_for_remote_fan_out() {
    let bed = bed("workers");
    let a = Server::start(&bed, &["--allow-cidr", "127.0.0.0/8"], &[]);
    // One worker wants a bearer token; the coordinator sends FERRY_WORKER_TOKEN.
    let b = Server::start(
        &bed,
        &["--allow-cidr", "127.0.0.0/8", "--token", TOKEN],
        &[],
    );
    let (seed, size) = (71, 9 * 1024 * 1024 + 3);
    let out = Command::new(ferry_bin())
        .arg("copy")
        .arg(bed.source.url(seed, size))
        .arg(format!("oss://{BUCKET}/workers.bin"))
        .args(["--endpoint", &bed.store.endpoint(), "--region", REGION])
        .args(["--part-size", "1MiB", "--json"])
        .arg("--workers")
        .arg(format!("http://{},http://{}", a.addr, b.addr))
        .env_clear()
        .env("OSS_ACCESS_KEY_ID", KEY_ID)
        .env("OSS_ACCESS_KEY_SECRET", SECRET)
        .env("FERRY_WORKER_TOKEN", TOKEN)
        .env("FERRY_COMPONENT", workspace().join("target/ferry.wasm"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let result: Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    assert_eq!(result["parts"], 10);
    assert_copied(&bed, BUCKET, "workers.bin", seed, size);
    for log in [a.log(), b.log()] {
        assert!(!log.contains(SECRET), "a secret reached a worker");
    }

    // A part task the way FC delivers it: an event invocation. It is a
    // malformed task here (no such upload), so the part instance's own
    // failure comes back, not a job error.
    let task = json!({
        "part_number": 1, "offset": 0, "length": 10,
        "source_url": bed.source.url(seed, size),
        "if_match": null, "if_unmodified_since": null,
        "upload_url": format!("{}/{BUCKET}/x?partNumber=1&uploadId=none", bed.store.endpoint()),
    });
    let reply = post(&a, "/invoke", &[], &task);
    assert_eq!(reply.status, 502, "{}", reply.json());
    assert_eq!(reply.json()["kind"], "store", "{}", reply.json());
    assert!(bed.store.open_uploads(BUCKET).is_empty());
}

/// The stand-in Function Compute endpoint (`tests/conformance/fc_standin.py`):
/// it accepts an InvokeFunction only if Alibaba's own ACS3 signer computes the
/// same signature for the key it holds, then delivers the body to `deliver`
/// as FC does (`POST /invoke`). Stopped on drop.
struct FcStandIn {
    child: Child,
    addr: SocketAddr,
}

impl FcStandIn {
    /// Holds the STS key's id and token with `secret` (the right one, or not).
    fn start(deliver: SocketAddr, secret: &str) -> FcStandIn {
        use std::io::BufRead;
        let mut child = Command::new(bed::python())
            .arg(workspace().join("tests/conformance/fc_standin.py"))
            .args(["--function", "ferry", "--account-id", "1234567890"])
            .args(["--region", REGION, "--deliver"])
            .arg(format!("http://{deliver}"))
            .env_clear()
            .env("FC_STANDIN_KEY_ID", STS_ID)
            .env("FC_STANDIN_KEY_SECRET", secret)
            .env("FC_STANDIN_SECURITY_TOKEN", STS_TOKEN)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("the stand-in FC endpoint starts (make venv)");
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.as_mut().unwrap())
            .read_line(&mut line)
            .unwrap();
        let addr = line
            .trim()
            .strip_prefix("fc http://")
            .unwrap_or_else(|| panic!("the stand-in did not start: {line:?}"))
            .parse()
            .unwrap();
        FcStandIn { child, addr }
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// What it saw: invocations, part tasks, refusals by code.
    fn stats(&self) -> Value {
        request(self.addr, "GET", "/_standin/stats", &[], b"").json()
    }
}

impl Drop for FcStandIn {
    fn drop(&mut self) {
        drop(self.child.stdin.take());
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The variables FC sets in every instance: `ferry serve` is on FC.
const ON_FC: [(&str, &str); 4] = [
    ("FC_ACCOUNT_ID", "1234567890"),
    ("FC_FUNCTION_NAME", "ferry"),
    ("FC_REGION", REGION),
    ("FC_INSTANCE_ID", "c-coordinator"),
];

/// The names of a process's environment variables (Linux).
fn environment_names(pid: u32) -> Vec<String> {
    std::fs::read(format!("/proc/{pid}/environ"))
        .unwrap()
        .split(|b| *b == 0)
        .filter(|v| !v.is_empty())
        .map(|v| {
            let v = String::from_utf8_lossy(v);
            v.split('=').next().unwrap_or_default().to_string()
        })
        .collect()
}

/// On Function Compute a job's parts go out as InvokeFunction calls of the
/// function itself: the coordinator (FC's variables set) gets the design's
/// event with FC's STS credentials, and every part reaches a second
/// `ferry serve`, which holds no credentials at all, through a stand-in FC
/// endpoint that checks each call's ACS3 signature with Alibaba's own signer.
/// A signature the endpoint refuses ends the job cleanly.
#[test]
fn on_function_compute_parts_go_out_as_invoke_function_calls() {
    let bed = bed("fanout");
    let endpoint = bed.store.endpoint();
    let worker = Server::start(&bed, &["--allow-cidr", "127.0.0.0/8"], &[]);
    let names = environment_names(worker.child.id());
    assert!(
        !names.iter().any(|n| n.starts_with("OSS_")
            || n.starts_with("ALIBABA_CLOUD_")
            || n.starts_with("AWS_")
            || n.starts_with("FC_")),
        "the worker's environment holds credentials: {names:?}"
    );
    // A coordinator on FC whose InvokeFunction calls go to `fc`.
    let coordinator_for = |fc: &FcStandIn| {
        Server::start(
            &bed,
            &[
                "--endpoint",
                &endpoint,
                "--allow-cidr",
                "127.0.0.0/8",
                "--fc-endpoint",
                &fc.url(),
            ],
            &ON_FC,
        )
    };
    let fc = FcStandIn::start(worker.addr, STS_SECRET);
    let coordinator = coordinator_for(&fc);

    // The design's event: 6 MiB parts by default, four of them.
    let (seed, size) = (91, 3 * (6 << 20) + 12_345);
    let key = "fanout/design.bin";
    let r = post(
        &coordinator,
        "/invoke",
        &fc_headers(),
        &fc_event(&bed, seed, size, key),
    );
    assert_eq!(r.status, 200, "{}\n{}", r.json(), coordinator.log());
    assert_eq!(r.header("x-fc-status"), Some("200"));
    let result = r.json();
    assert_report(&result, seed, size);
    assert_copied(&bed, BUCKET, key, seed, size);

    // Every part went through InvokeFunction, and no call was refused.
    let stats = fc.stats();
    let parts = result["parts"].as_u64().unwrap();
    assert!(parts >= 4, "{result}");
    // The coordinator's pacer chose how many invocations were in flight,
    // within the server's cap.
    assert_eq!(result["parallelism"]["mode"], "auto", "{result}");
    assert!(
        result["parallelism"]["cap"].as_u64().unwrap() >= 4,
        "{result}"
    );
    assert_eq!(stats["part_tasks"], parts, "{stats}");
    assert_eq!(stats["invocations"], parts, "{stats}");
    assert_eq!(stats["refused"], json!({}), "{stats}");
    assert_eq!(stats["function_errors"], 0, "{stats}");
    assert_eq!(stats["secret_in_body"], 0, "a task carried the secret");
    let log = coordinator.log();
    assert!(
        log.contains(&format!(
            "started, parts as InvokeFunction calls of ferry at {}/",
            fc.url()
        )),
        "{log}"
    );
    // The worker ran them, each on a fresh instance, without credentials.
    assert!(!worker.log().contains("started"), "{}", worker.log());

    // The object reads back byte for byte through Alibaba's oss2.
    let copy = bed.dir.0.join("oss2-read.bin");
    let script = r#"
import os, sys, oss2
auth = oss2.StsAuth(os.environ["ID"], os.environ["SECRET"], os.environ["TOKEN"],
                    auth_version=oss2.AUTH_VERSION_4)
bucket = oss2.Bucket(auth, sys.argv[1], sys.argv[2], region=sys.argv[3])
bucket.get_object_to_file(sys.argv[4], sys.argv[5])
print(len(list(oss2.MultipartUploadIterator(bucket))))
"#;
    let out = Command::new(bed::python())
        .args(["-c", script, &endpoint, BUCKET, REGION, key])
        .arg(&copy)
        .env_clear()
        .env("ID", STS_ID)
        .env("SECRET", STS_SECRET)
        .env("TOKEN", STS_TOKEN)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "oss2: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "0",
        "uploads left"
    );
    let mut expected = vec![0u8; size as usize];
    pattern::fill(seed, 0, &mut expected);
    assert!(
        std::fs::read(&copy).unwrap() == expected,
        "oss2 read back other bytes"
    );

    // A signature FC refuses (the endpoint holds another secret): the job
    // stops, answers a failure naming FC's code, and leaves nothing.
    let refusing = FcStandIn::start(worker.addr, "not-the-secret");
    let coordinator = coordinator_for(&refusing);
    let key = "fanout/refused.bin";
    let r = post(
        &coordinator,
        "/invoke",
        &fc_headers(),
        &fc_event(&bed, seed, size, key),
    );
    assert!(!(200..300).contains(&r.status), "{}", r.json());
    assert_eq!(r.header("x-fc-status"), Some("404"));
    let message = r.json()["message"].as_str().unwrap().to_string();
    assert!(message.contains("SignatureNotMatch"), "{message}");
    assert_nothing_left(&bed, BUCKET, key);
    let stats = refusing.stats();
    assert_eq!(stats["invocations"], 0, "{stats}");
    assert!(
        stats["refused"]["SignatureNotMatch"].as_u64().unwrap_or(0) >= 1,
        "{stats}"
    );
}
