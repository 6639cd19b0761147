//! Object properties: the source's Content-Type, Content-Disposition,
//! Content-Encoding and Cache-Control carried onto the object, and
//! `--content-type`, `--meta`, `--storage-class`, `--acl`, `--sse` and
//! `--sse-kms-key-id`, signed as each store wants them (OSS V1 and V4, S3
//! SigV4), read back through oss2 (OSS) and boto3 (S3). Each copy runs the
//! built `ferry` binary against the loopback test bed.
//!
//! Needs `make build` first (the binary and the component) and `make venv`.

mod bed;

use bed::{ferry_copy_to, key, last_json, output_hiding, python, text, Bed, REGION};
use ferry_testbed::source::SourceConfig;
use serde_json::Value;
use std::process::Command;

const BUCKET: &str = "ferry-props";
const KEY_ID: &str = "props-key";
const SECRET: &str = "props-secret-value";
const SEED: u64 = 61;

/// What the source says of its object, as a web server would.
fn web_source() -> SourceConfig {
    SourceConfig {
        response_headers: vec![
            ("content-type".into(), "text/csv; charset=utf-8".into()),
            (
                "content-disposition".into(),
                "attachment; filename=\"report.csv\"".into(),
            ),
            ("content-encoding".into(), "identity".into()),
            ("cache-control".into(), "max-age=3600, public".into()),
        ],
        ..SourceConfig::default()
    }
}

fn bed(tag: &str) -> Bed {
    Bed::start(tag, BUCKET, web_source(), vec![key(KEY_ID, SECRET)], true)
}

/// `ferry copy` of object (SEED, size) into `target` with `extra`; it must
/// succeed.
fn copy(bed: &Bed, size: u64, target: &str, extra: &[&str]) -> Value {
    let part = if target.starts_with("s3://") {
        "5MiB"
    } else {
        "1MiB"
    };
    let out = output_hiding(
        ferry_copy_to(bed, &bed.source.url(SEED, size), target, (KEY_ID, SECRET))
            .args(["--part-size", part, "--json"])
            .args(extra),
        &[SECRET],
    );
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    last_json(&out.stdout)
}

/// The object's headers as the store's own SDK reads them back: oss2's
/// `head_object` (OSS) or boto3's (S3), names in lower case; for boto3 also
/// its parsed fields under `boto3`.
fn read_back(bed: &Bed, s3: bool, key: &str) -> Value {
    let script = if s3 {
        r#"
import json, sys, boto3
from botocore.config import Config
endpoint, bucket, key, ident, secret, region = sys.argv[1:7]
c = boto3.client("s3", endpoint_url=endpoint, aws_access_key_id=ident,
                 aws_secret_access_key=secret, region_name=region,
                 config=Config(s3={"addressing_style": "path"}))
r = c.head_object(Bucket=bucket, Key=key)
headers = {k.lower(): v for k, v in r["ResponseMetadata"]["HTTPHeaders"].items()}
fields = {k: r.get(k) for k in ("ContentType", "ContentDisposition", "ContentEncoding",
          "CacheControl", "Metadata", "StorageClass", "ServerSideEncryption", "SSEKMSKeyId",
          "ContentLength")}
headers["boto3"] = fields
print(json.dumps(headers))
"#
    } else {
        r#"
import json, sys, oss2
endpoint, bucket, key, ident, secret, region = sys.argv[1:7]
b = oss2.Bucket(oss2.Auth(ident, secret), endpoint, bucket)
r = b.head_object(key)
print(json.dumps({k.lower(): v for k, v in r.headers.items()}))
"#
    };
    let out = Command::new(python())
        .arg("-c")
        .arg(script)
        .args([&bed.store.endpoint(), BUCKET, key, KEY_ID, SECRET, REGION])
        .output()
        .expect("python runs");
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    serde_json::from_str(stdout.trim()).expect("JSON headers")
}

fn assert_header(headers: &Value, name: &str, value: &str) {
    assert_eq!(headers[name].as_str(), Some(value), "{name} in {headers:#}");
}

/// The source's content headers reach the object, by either OSS signature
/// and on a multipart and an empty object alike.
#[test]
fn the_source_content_headers_reach_the_oss_object() {
    let bed = bed("props-source");
    for (key, size, signature) in [
        ("v4.csv", 2 * 1024 * 1024 + 5, "v4"),
        ("v1.csv", 2 * 1024 * 1024 + 5, "v1"),
        ("empty.csv", 0, "v4"),
    ] {
        copy(
            &bed,
            size,
            &format!("oss://{BUCKET}/{key}"),
            &["--signature", signature],
        );
        let h = read_back(&bed, false, key);
        assert_header(&h, "content-type", "text/csv; charset=utf-8");
        assert_header(
            &h,
            "content-disposition",
            "attachment; filename=\"report.csv\"",
        );
        assert_header(&h, "content-encoding", "identity");
        assert_header(&h, "cache-control", "max-age=3600, public");
    }
}

/// Every option onto an OSS object, signed V1 and V4, read back by oss2.
#[test]
fn options_set_the_oss_object_properties() {
    let bed = bed("props-oss");
    for signature in ["v4", "v1"] {
        let key = format!("opts-{signature}.csv");
        copy(
            &bed,
            3 * 1024 * 1024,
            &format!("oss://{BUCKET}/{key}"),
            &[
                "--signature",
                signature,
                "--content-type",
                "application/vnd.ms-excel",
                "--meta",
                "Owner=ops",
                "--meta",
                "build_id=42",
                "--storage-class",
                "ia",
                "--acl",
                "public-read",
                "--sse",
                "KMS",
                "--sse-kms-key-id",
                "kms-key-1",
            ],
        );
        let h = read_back(&bed, false, &key);
        assert_header(&h, "content-type", "application/vnd.ms-excel");
        assert_header(&h, "x-oss-meta-owner", "ops");
        assert_header(&h, "x-oss-meta-build_id", "42");
        assert_header(&h, "x-oss-storage-class", "IA");
        assert_header(&h, "x-oss-object-acl", "public-read");
        assert_header(&h, "x-oss-server-side-encryption", "KMS");
        assert_header(&h, "x-oss-server-side-encryption-key-id", "kms-key-1");
        // The source's others stay.
        assert_header(&h, "cache-control", "max-age=3600, public");
    }
}

/// Every option onto an S3 object (SigV4), read back by boto3: SSE-S3 on
/// one, SSE-KMS with a key on another.
#[test]
fn options_set_the_s3_object_properties() {
    let bed = bed("props-s3");
    for (key, size, sse) in [
        ("aes.csv", 11 << 20, &["--sse", "AES256"][..]),
        (
            "kms.csv",
            11 << 20,
            &[
                "--sse",
                "aws:kms",
                "--sse-kms-key-id",
                "arn:aws:kms:us-east-1:1:key/k",
            ][..],
        ),
    ] {
        let mut args = vec![
            "--content-type",
            "application/json",
            "--meta",
            "owner=ops",
            "--storage-class",
            "standard_ia",
            "--acl",
            "bucket-owner-full-control",
        ];
        args.extend_from_slice(sse);
        let report = copy(&bed, size, &format!("s3://{BUCKET}/{key}"), &args);
        assert_eq!(report["ok"], Value::from(true), "{report}");
        let h = read_back(&bed, true, key);
        let b = &h["boto3"];
        assert_eq!(b["ContentType"], "application/json", "{h:#}");
        assert_eq!(b["Metadata"]["owner"], "ops", "{h:#}");
        assert_eq!(b["StorageClass"], "STANDARD_IA", "{h:#}");
        assert_eq!(b["CacheControl"], "max-age=3600, public", "{h:#}");
        assert_eq!(
            b["ContentDisposition"], "attachment; filename=\"report.csv\"",
            "{h:#}"
        );
        assert_header(&h, "x-amz-acl", "bucket-owner-full-control");
        if key == "kms.csv" {
            assert_eq!(b["ServerSideEncryption"], "aws:kms", "{h:#}");
            assert_eq!(b["SSEKMSKeyId"], "arn:aws:kms:us-east-1:1:key/k", "{h:#}");
        } else {
            assert_eq!(b["ServerSideEncryption"], "AES256", "{h:#}");
        }
    }
}

/// A value a store does not take is refused before any request: exit 2,
/// one line naming the flag and what it takes.
#[test]
fn properties_a_store_does_not_take_are_refused() {
    let bed = bed("props-refused");
    for (target, flag, value, says) in [
        ("oss", "--storage-class", "GLACIER", "Standard, IA, Archive"),
        ("s3", "--storage-class", "ColdArchive", "STANDARD, "),
        ("oss", "--acl", "authenticated-read", "private, public-read"),
        ("s3", "--sse", "SM4", "AES256, aws:kms"),
        ("oss", "--meta", "no-equals", "KEY=VALUE"),
    ] {
        let target = format!("{target}://{BUCKET}/k");
        let out = output_hiding(
            ferry_copy_to(&bed, &bed.source.url(SEED, 10), &target, (KEY_ID, SECRET))
                .args([flag, value, "--json"]),
            &[SECRET],
        );
        let (stdout, stderr) = text(&out);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{flag} {value}: {stdout}\n{stderr}"
        );
        let message = last_json(&out.stdout)["message"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        assert!(
            message.starts_with(flag) && message.contains(says) && !message.contains('\n'),
            "{flag} {value}: {message}"
        );
    }
    assert_eq!(bed.source.received().len(), 0, "the source was asked");
    assert_eq!(bed.store.requests(), 0, "the store was asked");
}

/// `POST /jobs` to `ferry serve` (started on `port` with the store's key in
/// its environment): the answer's status and JSON.
fn post_job(port: u16, job: &Value) -> (u16, Value) {
    use std::io::{Read, Write};
    let body = job.to_string();
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(
        stream,
        "POST /jobs HTTP/1.1\r\nhost: 127.0.0.1\r\nconnection: close\r\n\
         content-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut raw = String::new();
    stream.read_to_string(&mut raw).unwrap();
    let status = raw
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let json = raw
        .split_once("\r\n\r\n")
        .and_then(|(_, b)| serde_json::from_str(b).ok())
        .unwrap_or(Value::Null);
    (status, json)
}

/// A `ferry serve` job's `no_clobber` and `properties` fields and a folder
/// key: the object is named from the source (its Content-Disposition) and
/// carries the properties;
/// the same job again is refused as a conflict (409) and leaves the object.
#[test]
fn serve_jobs_take_properties_no_clobber_and_folder_keys() {
    let bed = bed("props-serve");
    let port = bed::free_port();
    let _server = bed::Reaped(
        Command::new(bed::ferry_bin())
            .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            .args([
                "--endpoint",
                &bed.store.endpoint(),
                "--allow-cidr",
                "127.0.0.0/8",
            ])
            .env_clear()
            .env("OSS_ACCESS_KEY_ID", KEY_ID)
            .env("OSS_ACCESS_KEY_SECRET", SECRET)
            .env("FERRY_COMPONENT", bed::component())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("ferry serve starts"),
    );
    let started = std::time::Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            started.elapsed().as_secs() < 60,
            "ferry serve did not listen"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let job = serde_json::json!({
        "source_url": format!("{}/data.csv", bed.source.url(SEED, 1_500_000)),
        "target_bucket_name": BUCKET,
        "target_object_name": "served/",
        "target_region": REGION,
        "no_clobber": true,
        "properties": {"storage_class": "Archive", "meta": [["team", "infra"]]},
    });
    let (status, report) = post_job(port, &job);
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["key"], "served/report.csv", "{report}");
    let h = read_back(&bed, false, "served/report.csv");
    assert_header(&h, "x-oss-storage-class", "Archive");
    assert_header(&h, "x-oss-meta-team", "infra");
    assert_header(&h, "content-type", "text/csv; charset=utf-8");
    let (status, refused) = post_job(port, &job);
    assert_eq!(
        (status, &refused["kind"]),
        (409, &Value::from("conflict")),
        "{refused}"
    );
}
