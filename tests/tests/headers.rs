//! `--header 'Name: value'` on the source request: sent on the probe and on
//! every part's ranged GET, a source behind a cookie copied with it and
//! refused without it, malformed and reserved headers refused before any
//! request, and the value never shown. Each copy runs the built `ferry`
//! binary against the loopback test bed.
//!
//! Needs `make build` first (the binary and the component).

mod bed;

use bed::{component, ferry_bin, ferry_copy, key, Bed, REGION};
use ferry_testbed::source::SourceConfig;
use std::io::{Read, Write};
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};

const BUCKET: &str = "ferry-headers";
const KEY_ID: &str = "headers-key";
const SECRET: &str = "headers-secret-value";
/// 3 parts of 1 MiB and a tail.
const SEED: u64 = 41;
const SIZE: u64 = 3 * 1024 * 1024 + 777;
/// A cookie's value, which must never show in ferry's output.
const COOKIE: &str = "session=c00kie-s3cret";
const REFERER: &str = "https://example.com/downloads";

fn bed(tag: &str, source: SourceConfig) -> Bed {
    Bed::start(tag, BUCKET, source, vec![key(KEY_ID, SECRET)], true)
}

/// A bed whose source answers 403 without the cookie [`COOKIE`].
fn cookie_bed(tag: &str) -> Bed {
    let source = SourceConfig {
        require_header: Some(("cookie".into(), COOKIE.into())),
        ..SourceConfig::default()
    };
    bed(tag, source)
}

/// `ferry copy` of the bed's source into `oss://BUCKET/key` in parts of
/// 1 MiB with `--json` and `extra`; asserts the cookie's value is not in
/// its output.
fn copy(bed: &Bed, key: &str, extra: &[&str]) -> Output {
    copy_from(bed, &bed.source.url(SEED, SIZE), key, extra)
}

/// [`copy`] from `source`.
fn copy_from(bed: &Bed, source: &str, key: &str, extra: &[&str]) -> Output {
    let out = ferry_copy(bed, source, BUCKET, key, (KEY_ID, SECRET))
        .args(["--part-size", "1MiB", "--json"])
        .args(extra)
        .output()
        .expect("ferry runs");
    assert_not_shown(&out);
    out
}

fn assert_not_shown(out: &Output) {
    let (stdout, stderr) = text(out);
    for secret in ["c00kie-s3cret", SECRET] {
        assert!(
            !stdout.contains(secret) && !stderr.contains(secret),
            "a secret shows in ferry's output: {stdout}\n{stderr}"
        );
    }
}

fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn source_headers_go_on_the_probe_and_every_part_and_are_never_shown() {
    let bed = bed("headers-every", SourceConfig::default());
    let cookie = format!("Cookie: {COOKIE}");
    let referer = format!("Referer: {REFERER}");
    let out = copy(
        &bed,
        "with-headers",
        &["--header", &cookie, "--header", &referer],
    );
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    bed.check_copied(SEED, SIZE, "with-headers").unwrap();
    let received = bed.source.received();
    let ranged = received.iter().filter(|r| r.range.is_some()).count();
    assert!(ranged >= 4, "every part's GET: {received:?}");
    for r in &received {
        let get = |name: &str| {
            r.headers
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.as_str())
        };
        let at = format!("{} {} {:?}", r.method, r.path, r.range);
        assert_eq!(get("cookie"), Some(COOKIE), "{at}");
        assert_eq!(get("referer"), Some(REFERER), "{at}");
    }
}

#[test]
fn a_source_behind_a_cookie_copies_with_it_and_fails_without() {
    let bed = cookie_bed("headers-cookie");
    let out = copy(&bed, "without", &[]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(3), "{stdout}\n{stderr}");
    assert!(bed.store.object(BUCKET, "without").is_none());

    let cookie = format!("cookie:{COOKIE}");
    let out = copy(&bed, "with", &["--header", &cookie]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    bed.check_copied(SEED, SIZE, "with").unwrap();
}

#[test]
fn malformed_or_reserved_source_headers_are_refused_before_any_request() {
    let bed = bed("headers-refused", SourceConfig::default());
    for bad in [
        "NoColon c00kie-s3cret",
        ": c00kie-s3cret",
        "Bad Name: c00kie-s3cret",
        "Cookie: c00kie-s3cret\r\nX-Injected: 1",
        "Host: c00kie-s3cret.example",
        "range: bytes=0-1",
        "Content-Length: 3",
        "Transfer-Encoding: chunked",
        "Connection: close",
        "If-Match: \"c00kie-s3cret\"",
        "If-Unmodified-Since: c00kie-s3cret",
    ] {
        let out = copy(&bed, "refused", &["--header", bad]);
        let (stdout, stderr) = text(&out);
        assert_eq!(out.status.code(), Some(2), "{bad}: {stdout}\n{stderr}");
        let error = stderr.lines().find(|l| l.contains("error:")).unwrap_or("");
        assert!(error.contains("--header"), "{bad}: {stderr}");
    }
    // Authorization together with the URL's user:pass@.
    let url = bed.source.url(SEED, SIZE).replace("://", "://u:p@");
    let auth = ["--header", "Authorization: Bearer c00kie-s3cret"];
    let out = copy_from(&bed, &url, "refused", &auth);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stdout}\n{stderr}");
    assert!(stderr.contains("Authorization"), "{stderr}");
    assert_eq!(bed.source.requests(), 0, "a request was sent");
}

/// A loopback server answering every request with a 302 to `location`;
/// it records each request's head (lower-cased) and lives as long as the
/// test process.
fn redirector(location: String) -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/short", listener.local_addr().unwrap());
    let heads = Arc::new(Mutex::new(Vec::new()));
    let seen = heads.clone();
    std::thread::spawn(move || {
        for mut conn in listener.incoming().map_while(Result::ok) {
            let mut head = Vec::new();
            let mut byte = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n") && conn.read(&mut byte).is_ok_and(|n| n == 1) {
                head.push(byte[0]);
            }
            seen.lock()
                .unwrap()
                .push(String::from_utf8_lossy(&head).to_ascii_lowercase());
            let answer = format!(
                "HTTP/1.1 302 Found\r\nlocation: {location}\r\ncontent-length: 0\r\n\
                 connection: close\r\n\r\n"
            );
            let _ = conn.write_all(answer.as_bytes());
        }
    });
    (url, heads)
}

#[test]
fn source_headers_stay_on_the_given_origin_across_redirects() {
    let bed = bed("headers-redirect", SourceConfig::default());
    let (short, heads) = redirector(bed.source.url(SEED, SIZE));
    let cookie = format!("Cookie: {COOKIE}");
    let out = copy_from(&bed, &short, "redirected", &["--header", &cookie]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    bed.check_copied(SEED, SIZE, "redirected").unwrap();
    let heads = heads.lock().unwrap().clone();
    assert!(!heads.is_empty());
    for head in &heads {
        assert!(head.contains(&format!("cookie: {COOKIE}")), "{head}");
    }
    // The source is on another port: another origin.
    let received = bed.source.received();
    assert!(received.len() >= 4, "{received:?}");
    for r in &received {
        assert!(
            r.headers.iter().all(|(k, _)| k != "cookie"),
            "{} {} {:?}",
            r.method,
            r.path,
            r.range
        );
    }
}

/// `ferry serve`: a job's `headers` reach its source, whose parts run in
/// the server's instances; the job's log and answer show no value.
#[test]
fn a_serve_job_sends_its_headers_and_logs_no_value() {
    let bed = cookie_bed("headers-serve");
    let addr = format!("127.0.0.1:{}", bed::free_port());
    let log = std::env::temp_dir().join(format!("ferry-headers-serve-{}", std::process::id()));
    let mut child = Command::new(ferry_bin())
        .args(["serve", "--listen", &addr])
        .args(["--endpoint", &bed.store.endpoint(), "--region", REGION])
        .args(["--allow-cidr", "127.0.0.1/32"])
        .env_clear()
        .env("FERRY_COMPONENT", component())
        .stdin(std::process::Stdio::null())
        .stdout(std::fs::File::create(&log).unwrap())
        .stderr(std::fs::File::create(log.with_extension("err")).unwrap())
        .spawn()
        .expect("ferry serve starts");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while std::net::TcpStream::connect(&addr).is_err() {
        assert!(child.try_wait().unwrap().is_none(), "ferry serve exited");
        assert!(
            std::time::Instant::now() < deadline,
            "ferry serve did not listen"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let body = serde_json::json!({
        "source_url": bed.source.url(SEED, SIZE),
        "target_bucket_name": BUCKET,
        "target_object_name": "served",
        "target_region": REGION,
        "part_size": 1 << 20,
        "headers": [format!("Cookie: {COOKIE}")],
    })
    .to_string();
    let mut stream = std::net::TcpStream::connect(&addr).unwrap();
    write!(
        stream,
        "POST /jobs HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\n\
         content-type: application/json\r\nx-fc-access-key-id: {KEY_ID}\r\n\
         x-fc-access-key-secret: {SECRET}\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    let _ = child.kill();
    let _ = child.wait();
    let logged = std::fs::read_to_string(&log).unwrap_or_default()
        + &std::fs::read_to_string(log.with_extension("err")).unwrap_or_default();
    let _ = std::fs::remove_file(&log);
    let _ = std::fs::remove_file(log.with_extension("err"));
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}\n{logged}");
    for text in [&answer, &logged] {
        assert!(
            !text.contains("c00kie-s3cret") && !text.contains(SECRET),
            "{text}"
        );
    }
    bed.check_copied(SEED, SIZE, "served").unwrap();
}
