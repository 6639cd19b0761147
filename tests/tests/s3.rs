//! Copies into real S3 servers on loopback, through the built `ferry` and
//! `ferry.wasm`, read back with boto3 (`tests/s3/s3_tool.py`) and compared
//! with the source byte for byte:
//!
//! - **s3s-fs 0.14.1** (`make tools` installs it): verifies SigV4 on every
//!   request, header-signed and presigned alike, and keeps objects on disk;
//!   it offers no part checksum, so ferry checks each part's MD5 against its
//!   ETag and the object's multipart ETag.
//! - **moto's server** (PyPI): the same copies, a resumed one, and, with
//!   moto enforcing auth, refused credentials. moto cannot verify presigned
//!   URLs (it answers 500 to any request without an `Authorization` header),
//!   so its copies run with auth off and its auth test stops at the first,
//!   header-signed, request.
//!
//! Needs `make build` and `make tools`; `make test` does both.

mod bed;

use bed::{component, ferry_bin, free_port, last_json, python, workspace};
use ferry_testbed::faults::Faults;
use ferry_testbed::pattern;
use ferry_testbed::source::{SourceConfig, SourceServer};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BUCKET: &str = "ferry-s3";
const KEY_ID: &str = "s3-test-key";
const SECRET: &str = "s3-test-secret-value";

/// An S3 server process, killed on drop, with its data folder removed.
struct S3Server {
    child: Child,
    endpoint: String,
    /// s3s-fs's data folder; moto keeps everything in memory.
    root: Option<PathBuf>,
    /// The key the server accepts.
    id: String,
    secret: String,
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(root) = &self.root {
            let _ = std::fs::remove_dir_all(root);
        }
    }
}

fn wait_listening(port: u16, child: &mut Child, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if let Ok(Some(status)) = child.try_wait() {
            panic!("{what} exited at start ({status})");
        }
        assert!(Instant::now() < deadline, "{what} did not start");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn s3s_fs_bin() -> PathBuf {
    let home = std::env::var("HOME").unwrap_or_default();
    let installed = Path::new(&home).join(".cargo/bin/s3s-fs");
    if installed.exists() {
        installed
    } else {
        PathBuf::from("s3s-fs") // on PATH, or the test says so when it fails to start
    }
}

/// s3s-fs with one bucket (a folder of its root) and one key.
fn s3s_fs(tag: &str) -> S3Server {
    let root = std::env::temp_dir().join(format!("ferry-s3s-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(root.join(BUCKET)).unwrap();
    let port = free_port();
    let mut child = Command::new(s3s_fs_bin())
        .args(["--host", "127.0.0.1", "--port", &port.to_string()])
        .args(["--access-key", KEY_ID, "--secret-key", SECRET])
        .arg(&root)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("s3s-fs runs (make tools installs it)");
    wait_listening(port, &mut child, "s3s-fs");
    S3Server {
        child,
        endpoint: format!("http://127.0.0.1:{port}"),
        root: Some(root),
        id: KEY_ID.into(),
        secret: SECRET.into(),
    }
}

/// moto's server with one bucket. With `auth`, moto checks every request's
/// SigV4 against a key it issued (made through its IAM API).
fn moto(auth: bool) -> S3Server {
    let port = free_port();
    let mut cmd = Command::new(python());
    cmd.args([
        "-m",
        "moto.server",
        "-H",
        "127.0.0.1",
        "-p",
        &port.to_string(),
    ])
    .stdin(Stdio::null())
    .stdout(Stdio::null())
    .stderr(Stdio::null());
    if auth {
        cmd.env("INITIAL_NO_AUTH_ACTION_COUNT", "0");
    }
    let mut child = cmd.spawn().expect("python -m moto.server runs");
    wait_listening(port, &mut child, "moto");
    let mut server = S3Server {
        child,
        endpoint: format!("http://127.0.0.1:{port}"),
        root: None,
        id: KEY_ID.into(),
        secret: SECRET.into(),
    };
    if auth {
        let key = tool(&server, &["bootstrap"]);
        server.id = key["id"].as_str().unwrap().into();
        server.secret = key["secret"].as_str().unwrap().into();
    }
    tool(&server, &["mkbucket", BUCKET]);
    server
}

/// Runs `s3_tool.py CMD ENDPOINT ARGS...` with the server's key.
fn tool(server: &S3Server, args: &[&str]) -> Value {
    let out = Command::new(python())
        .arg(workspace().join("tests/s3/s3_tool.py"))
        .arg(args[0])
        .arg(&server.endpoint)
        .args(&args[1..])
        .env("AWS_ACCESS_KEY_ID", &server.id)
        .env("AWS_SECRET_ACCESS_KEY", &server.secret)
        .env_remove("AWS_ENDPOINT_URL")
        .output()
        .expect("python runs");
    assert!(
        out.status.success(),
        "s3_tool.py {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    last_json(&out.stdout)
}

struct Run {
    code: i32,
    result: Value,
    stderr: String,
}

/// `ferry copy SOURCE s3://BUCKET/KEY --endpoint ... --json` with the key
/// `(id, secret)`.
fn ferry(
    server: &S3Server,
    source_url: &str,
    key: &str,
    extra: &[&str],
    (id, secret): (&str, &str),
) -> Run {
    let out = Command::new(ferry_bin())
        .arg("copy")
        .arg(source_url)
        .arg(format!("s3://{BUCKET}/{key}"))
        .args(["--endpoint", &server.endpoint, "--json"])
        .args(extra)
        .env_clear()
        .env("AWS_ACCESS_KEY_ID", id)
        .env("AWS_SECRET_ACCESS_KEY", secret)
        .env("FERRY_COMPONENT", component())
        .output()
        .expect("ferry runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    for s in [SECRET, server.secret.as_str(), secret] {
        assert!(
            !stdout.contains(s) && !stderr.contains(s),
            "a secret leaked into ferry's output"
        );
    }
    Run {
        code: out.status.code().unwrap_or(-1),
        result: last_json(&out.stdout),
        stderr,
    }
}

/// The object reads back through boto3 as the source's bytes.
fn check_object(server: &S3Server, key: &str, seed: u64, size: u64) {
    let file = std::env::temp_dir().join(format!(
        "ferry-s3-read-{}-{}",
        std::process::id(),
        key.replace('/', "_")
    ));
    let got = tool(server, &["get", BUCKET, key, file.to_str().unwrap()]);
    let bytes = std::fs::read(&file).unwrap();
    let _ = std::fs::remove_file(&file);
    assert_eq!(got["size"], size, "{key}");
    let mut expected = vec![0u8; size as usize];
    pattern::fill(seed, 0, &mut expected);
    assert!(
        bytes == expected,
        "{key}: the bytes read back differ from the source"
    );
}

/// No multipart upload is left: ListMultipartUploads on moto; on s3s-fs,
/// which does not implement it, no part file in its data folder.
fn check_no_upload(server: &S3Server) {
    match &server.root {
        Some(root) => {
            let left: Vec<String> = std::fs::read_dir(root)
                .unwrap()
                .filter_map(|e| e.ok()?.file_name().into_string().ok())
                .filter(|n| n.starts_with(".upload_id-"))
                .collect();
            assert!(left.is_empty(), "upload parts left behind: {left:?}");
        }
        None => {
            let listed = tool(server, &["uploads", BUCKET]);
            assert_eq!(
                listed["uploads"],
                serde_json::json!([]),
                "uploads left behind"
            );
        }
    }
}

fn copy_and_verify(
    server: &S3Server,
    source: &SourceServer,
    seed: u64,
    size: u64,
    key: &str,
    extra: &[&str],
) -> Value {
    let run = ferry(
        server,
        &source.url(seed, size),
        key,
        extra,
        (&server.id, &server.secret),
    );
    assert_eq!(run.code, 0, "ferry failed: {}\n{}", run.result, run.stderr);
    assert_eq!(run.result["size"], size);
    check_object(server, key, seed, size);
    check_no_upload(server);
    run.result
}

const MIB: u64 = 1 << 20;

/// Every shape of object, into s3s-fs: empty (PutObject), one byte, exactly
/// one part, one byte past a part, several parts; with and without a source
/// CRC-64, which is then checked too.
#[test]
fn s3s_fs_copies_every_shape_verified() {
    let server = s3s_fs("shapes");
    let plain = SourceServer::start(SourceConfig::default()).unwrap();
    let with_crc = SourceServer::start(SourceConfig {
        crc_header: true,
        ..SourceConfig::default()
    })
    .unwrap();
    let part = 5 * MIB;
    for (i, size) in [0, 1, part, part + 1, 3 * part + 12_345]
        .into_iter()
        .enumerate()
    {
        let seed = 60 + i as u64;
        let key = format!("shapes/{size}.bin");
        let r = copy_and_verify(
            &server,
            &plain,
            seed,
            size,
            &key,
            &["--part-size", "5MiB", "--instances", "4"],
        );
        assert_eq!(r["parts"], size.div_ceil(part), "size {size}");
        let checks = r["checks"].as_str().unwrap();
        if size > 0 {
            assert!(checks.contains("MD5"), "{checks}");
            // The object's ETag is the multipart ETag of the parts' MD5s.
            assert!(
                r["etag"]
                    .as_str()
                    .unwrap()
                    .ends_with(&format!("-{}\"", size.div_ceil(part))),
                "{r}"
            );
        }
    }
    let size = 20 * MIB + 3;
    let r = copy_and_verify(&server, &with_crc, 70, size, "crc.bin", &[]);
    assert_eq!(r["crc64"], pattern::crc64(70, size).to_string());
    assert_eq!(r["source_crc64"], pattern::crc64(70, size).to_string());
    assert!(r["checks"].as_str().unwrap().contains("CRC-64"), "{r}");
}

/// A source that breaks mid-part is retried part by part; the copy still
/// verifies. 64 MiB through 8 instances.
#[test]
fn s3s_fs_retries_a_broken_source() {
    let server = s3s_fs("retry");
    let source = SourceServer::start(SourceConfig::default()).unwrap();
    source.set_faults(Faults {
        reset_after: Some((1_000_000, 3)),
        ..Faults::default()
    });
    let r = copy_and_verify(
        &server,
        &source,
        80,
        64 * MIB,
        "retry.bin",
        &["--instances", "8"],
    );
    assert!(r["retries"].as_u64().unwrap() >= 3, "{r}");
}

/// s3s-fs refuses a wrong secret (header-signed InitiateMultipartUpload);
/// a source that changes mid-copy fails the copy and its upload is aborted.
#[test]
fn s3s_fs_failures_leave_nothing() {
    let server = s3s_fs("fail");
    let source = SourceServer::start(SourceConfig::default()).unwrap();
    let url = source.url(90, 30 * MIB);

    let run = ferry(
        &server,
        &url,
        "wrong.bin",
        &[],
        (&server.id, "not-the-secret"),
    );
    assert_eq!(run.code, 4, "{}", run.result);
    let message = run.result["message"].as_str().unwrap();
    assert!(
        message.contains("SignatureDoesNotMatch") && message.contains("AWS_SECRET_ACCESS_KEY"),
        "{message}"
    );

    source.set_faults(Faults {
        change_after: Some(2),
        ..Faults::default()
    });
    let run = ferry(
        &server,
        &url,
        "changed.bin",
        &["--instances", "2"],
        (&server.id, &server.secret),
    );
    assert_eq!(run.code, 3, "{}\n{}", run.result, run.stderr);
    assert!(
        run.result["message"].as_str().unwrap().contains("changed"),
        "{}",
        run.result
    );
    for key in ["wrong.bin", "changed.bin"] {
        assert_eq!(tool(&server, &["missing", BUCKET, key])["missing"], true);
    }
    check_no_upload(&server);

    // S3 takes no part under 5 MiB; ferry says so before it starts.
    let run = ferry(
        &server,
        &url,
        "small.bin",
        &["--part-size", "1MiB"],
        (&server.id, &server.secret),
    );
    assert_eq!(run.code, 2);
    assert!(
        run.stderr
            .contains("--part-size 1MiB is out of range: give 5MiB to 5GiB"),
        "{}",
        run.stderr
    );
}

/// The same copies into moto, and a copy killed with SIGKILL that
/// `--resume` finishes from the parts moto holds (found by
/// ListMultipartUploads, checked by their MD5 against the source).
#[test]
fn moto_copies_and_resumes() {
    let server = moto(false);
    let source = SourceServer::start(SourceConfig {
        crc_header: true,
        ..SourceConfig::default()
    })
    .unwrap();
    for (i, size) in [0, 1, 6 * MIB + 1, 40 * MIB + 7].into_iter().enumerate() {
        let seed = 100 + i as u64;
        let r = copy_and_verify(&server, &source, seed, size, &format!("m/{size}"), &[]);
        assert_eq!(r["crc64"], pattern::crc64(seed, size).to_string(), "{r}");
    }

    let slow = SourceServer::start(SourceConfig {
        rate_limit: Some(4_000_000),
        ..SourceConfig::default()
    })
    .unwrap();
    let (seed, size) = (110, 60 * MIB);
    let url = slow.url(seed, size);
    let mut child = Command::new(ferry_bin())
        .args(["copy", &url, &format!("s3://{BUCKET}/resumed.bin")])
        .args(["--endpoint", &server.endpoint, "--instances", "4"])
        .env_clear()
        .env("AWS_ACCESS_KEY_ID", &server.id)
        .env("AWS_SECRET_ACCESS_KEY", &server.secret)
        .env("FERRY_COMPONENT", component())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Four parts at 4 MB/s each: kill it once a few parts are held.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let uploads = tool(&server, &["uploads", BUCKET]);
        let held = match uploads["uploads"].as_array().and_then(|u| u.first()) {
            Some(id) => tool(
                &server,
                &["parts", BUCKET, "resumed.bin", id.as_str().unwrap()],
            )["parts"]
                .as_u64()
                .unwrap_or(0),
            None => 0,
        };
        if held >= 2 || Instant::now() > deadline {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let kept = tool(&server, &["uploads", BUCKET]);
    assert_eq!(kept["uploads"].as_array().unwrap().len(), 1, "{kept}");

    let run = ferry(
        &server,
        &url,
        "resumed.bin",
        &["--resume"],
        (&server.id, &server.secret),
    );
    assert_eq!(run.code, 0, "{}\n{}", run.result, run.stderr);
    assert!(
        run.result["reused_parts"].as_u64().unwrap() > 0,
        "{}",
        run.result
    );
    check_object(&server, "resumed.bin", seed, size);
    check_no_upload(&server);
}

/// moto enforcing auth refuses an unknown key and a wrong secret at the
/// first request; nothing is written and no upload is left.
#[test]
fn moto_refuses_bad_credentials() {
    let server = moto(true);
    let source = SourceServer::start(SourceConfig::default()).unwrap();
    let url = source.url(120, 8 * MIB);
    let run = ferry(
        &server,
        &url,
        "wrong.bin",
        &[],
        (&server.id, "not-the-secret"),
    );
    assert_eq!(run.code, 4, "{}", run.result);
    assert!(
        run.result["message"]
            .as_str()
            .unwrap()
            .contains("SignatureDoesNotMatch"),
        "{}",
        run.result
    );
    let run = ferry(
        &server,
        &url,
        "unknown.bin",
        &[],
        ("AKIAUNKNOWNKEY000000", "whatever"),
    );
    assert_eq!(run.code, 4, "{}", run.result);
    assert!(
        run.result["message"]
            .as_str()
            .unwrap()
            .contains("InvalidAccessKeyId"),
        "{}",
        run.result
    );
    assert_eq!(
        tool(&server, &["missing", BUCKET, "wrong.bin"])["missing"],
        true
    );
    check_no_upload(&server);
}

/// Keys with dot segments are opaque: each lands under exactly the key
/// given, in the bucket given, read back through boto3 (ListBuckets and
/// ListObjectsV2 list that key and no other). A URL library resolves them
/// (`a/../up.bin` to `up.bin`, `../other/evil.bin` into bucket `other`).
fn dot_segment_keys_land_as_named(server: &S3Server) {
    let source = SourceServer::start(SourceConfig::default()).unwrap();
    tool(server, &["mkbucket", "other"]);
    let cases = [
        ("dot/./x", 1000),
        ("a/../up.bin", 6 * MIB + 1),
        ("../other/evil.bin", 1000),
        ("a/./b", 1000),
        ("x/..", 1000),
        ("./x", 1000),
    ];
    let mut expected = serde_json::Map::new();
    for (i, (key, size)) in cases.into_iter().enumerate() {
        let seed = 150 + i as u64;
        let run = ferry(
            server,
            &source.url(seed, size),
            key,
            &["--part-size", "5MiB"],
            (&server.id, &server.secret),
        );
        assert_eq!(run.code, 0, "{key}: {}\n{}", run.result, run.stderr);
        expected.insert(key.to_string(), size.into());
        let listed = tool(server, &["list"]);
        assert_eq!(
            listed["buckets"],
            serde_json::json!({ BUCKET: expected, "other": {} }),
            "after copying to {key:?}"
        );
        check_object(server, key, seed, size);
    }
    check_no_upload(server);
}

/// On moto. Not on s3s-fs: it keeps each object as a file named by its key,
/// so the file system resolves the dot segments ferry sends (`dot/./x` is
/// listed as `dot/x`); S3 and OSS keep keys opaque.
#[test]
fn dot_segment_keys_land_as_named_in_moto() {
    dot_segment_keys_land_as_named(&moto(false));
}

/// A source that states two sizes (HEAD 299,000 bytes, Content-Range
/// totals 300,000, one ETag) is refused over S3 too: exit 3, no object, no
/// upload. Its first 299,000 bytes would otherwise complete as "verified".
#[test]
fn a_source_that_states_two_sizes_is_refused_in_moto() {
    let server = moto(false);
    let source = SourceServer::start(SourceConfig {
        lie_head_size: Some(299_000),
        ..SourceConfig::default()
    })
    .unwrap();
    let run = ferry(
        &server,
        &source.url(160, 300_000),
        "two-sizes.bin",
        &[],
        (&server.id, &server.secret),
    );
    assert_eq!(run.code, 3, "{}\n{}", run.result, run.stderr);
    assert!(
        run.result["message"]
            .as_str()
            .unwrap()
            .contains("states two sizes"),
        "{}",
        run.result
    );
    assert_eq!(
        tool(&server, &["missing", BUCKET, "two-sizes.bin"])["missing"],
        true
    );
    check_no_upload(&server);
}

/// An `s3://` source in the same store is copied by the store
/// (UploadPartCopy), on s3s-fs and on moto: the copy reads back as the
/// source's bytes.
#[test]
fn same_store_sources_are_copied_inside_s3() {
    let source = SourceServer::start(SourceConfig::default()).unwrap();
    let (seed, size) = (140, 17 * MIB + 5);
    for server in [s3s_fs("server-side"), moto(false)] {
        copy_and_verify(&server, &source, seed, size, "src.bin", &[]);
        for (i, from) in [
            format!("s3://{BUCKET}/src.bin"),
            format!("{}/{BUCKET}/src.bin", server.endpoint),
        ]
        .iter()
        .enumerate()
        {
            let key = format!("copy-{i}.bin");
            let run = ferry(
                &server,
                from,
                &key,
                &["--part-size", "5MiB"],
                (&server.id, &server.secret),
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
            check_object(&server, &key, seed, size);
            check_no_upload(&server);
        }
    }
}

/// The same `ferry.wasm` under the stock `wasmtime run` CLI (no ferry host:
/// parts in flight inside the one instance) copies into s3s-fs, with the
/// credentials and endpoint from the AWS variables.
#[test]
fn stock_wasmtime_run_copies_into_s3s_fs() {
    let server = s3s_fs("wasmtime");
    let source = SourceServer::start(SourceConfig {
        crc_header: true,
        ..SourceConfig::default()
    })
    .unwrap();
    let home = std::env::var("HOME").unwrap_or_default();
    let wasmtime = std::env::var_os("WASMTIME")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(&home).join(".cargo/bin/wasmtime"));
    let (seed, size) = (150, 12 * MIB + 3);
    let out = Command::new(wasmtime)
        .args(["run", "-S", "http"])
        .args([
            "--env",
            "AWS_ACCESS_KEY_ID",
            "--env",
            "AWS_SECRET_ACCESS_KEY",
        ])
        .args(["--env", "AWS_ENDPOINT_URL"])
        .arg(component())
        .args([
            "copy",
            &source.url(seed, size),
            &format!("s3://{BUCKET}/wasmtime.bin"),
        ])
        .args(["--part-size", "5MiB", "--json"])
        .env("AWS_ACCESS_KEY_ID", &server.id)
        .env("AWS_SECRET_ACCESS_KEY", &server.secret)
        .env("AWS_ENDPOINT_URL", &server.endpoint)
        .output()
        .expect("wasmtime runs (make tools installs it)");
    let result = last_json(&out.stdout);
    assert!(
        out.status.success(),
        "{result}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(result["crc64"], pattern::crc64(seed, size).to_string());
    assert_eq!(result["parts"], 3);
    check_object(&server, "wasmtime.bin", seed, size);
    check_no_upload(&server);
}

/// The object's full-object CRC-64/NVME as boto3 reads it (HeadObject with
/// `ChecksumMode=ENABLED`), in S3's base64 form.
fn stored_crc64nvme(server: &S3Server, key: &str) -> Option<String> {
    let head = tool(server, &["checksum", BUCKET, key]);
    head["crc64nvme"].as_str().map(str::to_string)
}

/// A report's number, written as a number or as a decimal string.
fn report_u64(v: &Value) -> Option<u64> {
    v.as_u64().or_else(|| v.as_str()?.parse().ok())
}

/// moto takes the CRC-64/NVME ferry asks for when it creates the upload:
/// ferry hashes each part with it, combines them into the object's, sends
/// that on completion, and the object moto keeps has that checksum, which
/// is the CRC-64/NVME of the source's bytes. No MD5 is computed.
#[test]
fn moto_keeps_the_crc64nvme_ferry_sends() {
    let server = moto(false);
    let source = SourceServer::start(SourceConfig::default()).unwrap();
    let (seed, size) = (140, 13 * MIB + 5);
    let r = copy_and_verify(&server, &source, seed, size, "nvme.bin", &[]);
    let mut bytes = vec![0u8; size as usize];
    pattern::fill(seed, 0, &mut bytes);
    let want = ferry_testbed::crc64::nvme(&bytes);
    assert_eq!(report_u64(&r["crc64nvme"]), Some(want), "{r}");
    assert!(
        r["checks"]
            .as_str()
            .unwrap_or_default()
            .contains("CRC-64/NVME"),
        "{r}"
    );
    assert_eq!(
        stored_crc64nvme(&server, "nvme.bin"),
        Some(ferry_testbed::crc64::to_base64(want))
    );
}

/// A store whose ETags are not MD5s (as S3's are under SSE-KMS and SSE-C):
/// the test store over S3 with its cheap ETags (made from each part's CRC-64
/// and size), which an MD5 check refuses. ferry asks for CRC-64/NVME,
/// the store takes it and answers each part's, and the copy completes with
/// the object's checksum checked by the store; boto3 reads the same
/// checksum back. A store that corrupts a part answers that part's CRC of
/// the corrupted bytes: ferry sends the part again, and the object is whole.
#[test]
fn a_store_with_opaque_etags_is_checked_by_crc64nvme() {
    use ferry_testbed::store::{Sink, StoreConfig, StoreServer};
    let store = StoreServer::start(StoreConfig {
        region: "us-east-1".into(),
        buckets: vec![BUCKET.into()],
        credentials: vec![bed::key(KEY_ID, SECRET)],
        sink: Sink::Null,
        md5_etags: false,
    })
    .unwrap();
    let server = S3Server {
        child: Command::new("true").spawn().unwrap(),
        endpoint: store.endpoint(),
        root: None,
        id: KEY_ID.into(),
        secret: SECRET.into(),
    };
    let source = SourceServer::start(SourceConfig::default()).unwrap();
    for (name, faults) in [
        ("plain", Faults::default()),
        (
            "corrupted",
            Faults {
                wrong_part_crc: 1,
                ..Faults::default()
            },
        ),
        // The store answers no part's CRC: the corrupted part is found when
        // it refuses the object's CRC (BadDigest) and lists the parts.
        (
            "refused",
            Faults {
                wrong_part_crc: 1,
                quiet_part_checksums: true,
                ..Faults::default()
            },
        ),
    ] {
        store.set_faults(faults);
        let (seed, size) = (150, 17 * MIB + 3);
        let run = ferry(
            &server,
            &source.url(seed, size),
            name,
            &["--part-size", "5MiB"],
            (KEY_ID, SECRET),
        );
        assert_eq!(run.code, 0, "{name}: {}\n{}", run.result, run.stderr);
        let info = store.object(BUCKET, name).expect("the object exists");
        assert_eq!(
            (info.size, info.crc64),
            (size, pattern::crc64(seed, size)),
            "{name}: the store holds other bytes than the source's"
        );
        let mut bytes = vec![0u8; size as usize];
        pattern::fill(seed, 0, &mut bytes);
        let want = ferry_testbed::crc64::nvme(&bytes);
        assert_eq!(report_u64(&run.result["crc64nvme"]), Some(want), "{name}");
        assert_eq!(
            stored_crc64nvme(&server, name),
            Some(ferry_testbed::crc64::to_base64(want)),
            "{name}"
        );
        if name != "plain" {
            assert!(
                run.result["retries"].as_u64().unwrap_or(0) >= 1,
                "the corrupted part was not sent again: {}",
                run.result
            );
        }
        assert!(store.open_uploads(BUCKET).is_empty(), "{name}: upload left");
    }
    // Without --json, the summary names the object and its CRC-64/NVME.
    let (seed, size) = (152, 6 * MIB + 1);
    let out = Command::new(ferry_bin())
        .args([
            "copy",
            &source.url(seed, size),
            &format!("s3://{BUCKET}/dir/"),
        ])
        .args(["--endpoint", &server.endpoint, "--no-progress"])
        .env_clear()
        .env("AWS_ACCESS_KEY_ID", KEY_ID)
        .env("AWS_SECRET_ACCESS_KEY", SECRET)
        .env("FERRY_COMPONENT", component())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let mut bytes = vec![0u8; size as usize];
    pattern::fill(seed, 0, &mut bytes);
    let want = ferry_testbed::crc64::nvme(&bytes);
    assert!(out.status.success(), "{stdout}");
    assert!(
        stdout.contains(&format!("object     dir/{size}"))
            && stdout.contains(&format!("verified   crc64nvme {want} ")),
        "{stdout}"
    );
    // An empty source is one PutObject: it states the CRC-64/NVME of
    // nothing, which the store checks and answers (its ETag is no MD5).
    store.set_faults(Faults::default());
    let run = ferry(&server, &source.url(151, 0), "empty", &[], (KEY_ID, SECRET));
    assert_eq!(run.code, 0, "{}\n{}", run.result, run.stderr);
    assert_eq!(
        report_u64(&run.result["crc64nvme"]),
        Some(0),
        "{}",
        run.result
    );
    assert_eq!(store.object(BUCKET, "empty").map(|o| o.size), Some(0));
}
