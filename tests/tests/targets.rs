//! Targets as users name them: a target ending in `/` (or the bucket alone)
//! takes the source's file name (Content-Disposition first, else the last
//! segment of the URL's path after redirects), `--no-clobber` refuses to
//! replace an object (a HEAD first, and the store's own guard on
//! completion, which catches a race), and a local file or stdin as the
//! source is refused with what ferry reads. Each copy runs the built
//! `ferry` binary against the loopback test bed.
//!
//! Needs `make build` first (the binary and the component).

mod bed;
mod common;

use bed::{ferry_copy, ferry_copy_to, key, last_json, output_hiding, text, Bed};
use common::{credential, OssClient};
use ferry_testbed::source::SourceConfig;
use hyper::Method;
use serde_json::Value;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

const BUCKET: &str = "ferry-targets";
const KEY_ID: &str = "targets-key";
const SECRET: &str = "targets-secret-value";
const SEED: u64 = 51;
/// 2 parts of 1 MiB and a tail.
const SIZE: u64 = 2 * 1024 * 1024 + 333;

fn bed(tag: &str, source: SourceConfig) -> Bed {
    Bed::start(tag, BUCKET, source, vec![key(KEY_ID, SECRET)], true)
}

/// `ferry copy SOURCE TARGET --json` into `bed`'s store, in parts of 1 MiB
/// (5 MiB for S3); the secret must not show.
fn copy_to(bed: &Bed, source: &str, target: &str, extra: &[&str]) -> Output {
    output_hiding(&mut command(bed, source, target, extra), &[SECRET])
}

/// The command of [`copy_to`].
fn command(bed: &Bed, source: &str, target: &str, extra: &[&str]) -> Command {
    let part = if target.starts_with("s3://") {
        "5MiB"
    } else {
        "1MiB"
    };
    let mut command = ferry_copy_to(bed, source, target, (KEY_ID, SECRET));
    command.args(["--part-size", part, "--json"]).args(extra);
    command
}

/// The copy succeeded and its report names `key`; the object is the
/// source's, and nothing else was written.
fn assert_copied_as(bed: &Bed, out: &Output, key: &str) {
    let (stdout, stderr) = text(out);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    let report = last_json(&out.stdout);
    assert_eq!(report["key"], Value::from(key), "{report}");
    bed.check_copied(SEED, SIZE, key).unwrap();
    assert_eq!(
        bed.store.history().objects_written,
        1,
        "another object was written"
    );
}

/// A one-line refusal with `code`, naming what to do.
fn assert_refused(out: &Output, code: i32, says: &[&str]) {
    let (stdout, stderr) = text(out);
    assert_eq!(out.status.code(), Some(code), "{stdout}\n{stderr}");
    let report = last_json(&out.stdout);
    assert_eq!(report["ok"], Value::from(false), "{stdout}");
    let message = report["message"].as_str().unwrap_or_default();
    assert!(!message.contains('\n'), "{message}");
    for s in says {
        assert!(message.contains(s), "{s:?} is not in: {message}");
    }
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn a_folder_target_takes_the_last_segment_of_the_url() {
    let bed = bed("targets-folder", SourceConfig::default());
    let source = format!("{}/r%C3%A9sum%C3%A9%20v2.iso", bed.source.url(SEED, SIZE));
    let out = copy_to(&bed, &source, &format!("oss://{BUCKET}/images/"), &[]);
    assert_copied_as(&bed, &out, "images/résumé v2.iso");
}

#[test]
fn the_bucket_alone_takes_the_source_name_too() {
    for (tag, target) in [
        ("targets-bucket", format!("oss://{BUCKET}")),
        ("targets-bucket-slash", format!("oss://{BUCKET}/")),
    ] {
        let bed = bed(tag, SourceConfig::default());
        let source = format!("{}/big.iso", bed.source.url(SEED, SIZE));
        let out = copy_to(&bed, &source, &target, &[]);
        assert_copied_as(&bed, &out, "big.iso");
    }
}

/// `filename*` (RFC 8187, UTF-8) wins over `filename`, which wins over
/// the URL; a path in the name is dropped to its last segment.
#[test]
fn content_disposition_names_a_folder_target() {
    for (tag, disposition, name) in [
        (
            "targets-cd-star",
            "attachment; filename=\"plain.bin\"; filename*=UTF-8''na%C3%AFve%20copy.tar.gz",
            "naïve copy.tar.gz",
        ),
        (
            "targets-cd-plain",
            "attachment; filename=\"../../etc/release 1.0.zip\"",
            "release 1.0.zip",
        ),
    ] {
        let bed = bed(
            tag,
            SourceConfig {
                response_headers: vec![("content-disposition".into(), disposition.into())],
                ..SourceConfig::default()
            },
        );
        let source = format!("{}/download", bed.source.url(SEED, SIZE));
        let out = copy_to(&bed, &source, &format!("oss://{BUCKET}/in/"), &[]);
        assert_copied_as(&bed, &out, &format!("in/{name}"));
    }
}

/// A loopback server answering each request with `answer(path)`: a whole
/// HTTP/1.1 response without a body. Runs until the test ends.
fn serve(answer: impl Fn(&str) -> String + Send + 'static) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 {
                    break;
                }
                let path = line.split(' ').nth(1).unwrap_or("/").to_string();
                // The rest of the head.
                loop {
                    let mut h = String::new();
                    if reader.read_line(&mut h).unwrap_or(0) == 0 || h == "\r\n" {
                        break;
                    }
                }
                if stream.write_all(answer(&path).as_bytes()).is_err() {
                    break;
                }
            }
        }
    });
    base
}

#[test]
fn a_folder_target_is_named_after_where_redirects_lead() {
    let bed = bed("targets-redirect", SourceConfig::default());
    let object = format!("{}/ubuntu-24.04.iso?X-Sig=abc", bed.source.url(SEED, SIZE));
    let short = serve(move |_| {
        format!("HTTP/1.1 302 Found\r\nlocation: {object}\r\ncontent-length: 0\r\n\r\n")
    });
    let out = copy_to(
        &bed,
        &format!("{short}/latest"),
        &format!("oss://{BUCKET}/os/"),
        &[],
    );
    assert_copied_as(&bed, &out, "os/ubuntu-24.04.iso");
}

#[test]
fn a_folder_target_without_a_name_to_take_is_refused() {
    let bed = bed("targets-noname", SourceConfig::default());
    let root = serve(|_| {
        "HTTP/1.1 200 OK\r\ncontent-length: 10\r\naccept-ranges: bytes\r\n\r\n".to_string()
    });
    let out = copy_to(
        &bed,
        &format!("{root}/"),
        &format!("oss://{BUCKET}/d/"),
        &[],
    );
    assert_refused(&out, 2, &["name the object", "oss://ferry-targets/d/KEY"]);
    assert_eq!(bed.store.history().objects_written, 0);
    bed.check_no_upload().unwrap();
}

/// A second copy onto the same key with `--no-clobber` stops before any
/// upload: exit 7, one line, the object as it was.
#[test]
fn no_clobber_refuses_an_object_that_exists() {
    for scheme in ["oss", "s3"] {
        let bed = bed(
            &format!("targets-noclobber-{scheme}"),
            SourceConfig::default(),
        );
        let target = format!("{scheme}://{BUCKET}/kept.bin");
        let first = copy_to(&bed, &bed.source.url(SEED, SIZE), &target, &[]);
        assert_eq!(first.status.code(), Some(0), "{:?}", text(&first));
        let created = bed.store.history().uploads_created;
        let out = copy_to(
            &bed,
            &bed.source.url(SEED + 1, SIZE),
            &target,
            &["--no-clobber"],
        );
        assert_refused(
            &out,
            7,
            &[
                &format!("{target} exists"),
                "remove --no-clobber to replace it",
            ],
        );
        assert_eq!(
            bed.store.history().uploads_created,
            created,
            "an upload began"
        );
        bed.check_copied(SEED, SIZE, "kept.bin").unwrap();
        // Where nothing is, --no-clobber copies.
        let fresh = format!("{scheme}://{BUCKET}/fresh.bin");
        let out = copy_to(&bed, &bed.source.url(SEED, SIZE), &fresh, &["--no-clobber"]);
        assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));
        bed.check_copied(SEED, SIZE, "fresh.bin").unwrap();
    }
}

/// The object appears while the parts are copied (after ferry's HEAD): the
/// store's own guard refuses the completion, ferry aborts the upload, and
/// the other writer's object stays.
#[test]
fn no_clobber_catches_an_object_written_during_the_copy() {
    for (scheme, size) in [("oss", SIZE), ("s3", 11 << 20)] {
        let bed = bed(
            &format!("targets-race-{scheme}"),
            SourceConfig {
                // 1 MB/s a connection: the copy lasts a few seconds.
                rate_limit: Some(1_000_000),
                ..SourceConfig::default()
            },
        );
        let target = format!("{scheme}://{BUCKET}/raced.bin");
        let child = command(
            &bed,
            &bed.source.url(SEED, size),
            &target,
            &["--no-clobber"],
        )
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("ferry runs");
        let started = Instant::now();
        while bed.store.open_uploads(BUCKET).is_empty() {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "no upload began"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        let other = OssClient::new(
            &bed.store.endpoint(),
            Some(credential(KEY_ID, SECRET, None)),
        );
        let put = other.send(Method::PUT, &format!("/{BUCKET}/raced.bin"), &[], "theirs");
        assert!(put.status.is_success(), "{}", put.text());
        let out = child.wait_with_output().unwrap();
        assert_refused(&out, 7, &[&format!("{target} exists")]);
        bed.check_no_upload().unwrap();
        let object = bed.store.object(BUCKET, "raced.bin").unwrap();
        assert_eq!(object.size, 6, "the other writer's object was replaced");
    }
}

/// The store's guards as OSS and S3 document them, on PutObject and
/// CompleteMultipartUpload: 409 FileAlreadyExists for
/// `x-oss-forbid-overwrite: true`, 412 PreconditionFailed for
/// `If-None-Match: *`; the upload stays after a refused completion.
#[test]
fn the_test_store_guards_against_overwrites() {
    let bed = bed("targets-guards", SourceConfig::default());
    let c = OssClient::new(
        &bed.store.endpoint(),
        Some(credential(KEY_ID, SECRET, None)),
    );
    let path = format!("/{BUCKET}/g.bin");
    assert!(c.send(Method::PUT, &path, &[], "one").status.is_success());
    let r = c.send(
        Method::PUT,
        &path,
        &[("x-oss-forbid-overwrite", "true")],
        "two",
    );
    assert_eq!(
        (r.status.as_u16(), r.code().as_deref()),
        (409, Some("FileAlreadyExists"))
    );
    let r = c.send(Method::PUT, &path, &[("if-none-match", "*")], "two");
    assert_eq!(
        (r.status.as_u16(), r.code().as_deref()),
        (412, Some("PreconditionFailed"))
    );
    let r = c.send(
        Method::PUT,
        &path,
        &[("x-oss-forbid-overwrite", "false")],
        "three",
    );
    assert!(r.status.is_success());
    // CompleteMultipartUpload.
    let id = c
        .send(Method::POST, &format!("{path}?uploads"), &[], "")
        .element("UploadId")
        .unwrap();
    let part = c.send(
        Method::PUT,
        &format!("{path}?partNumber=1&uploadId={id}"),
        &[],
        "four",
    );
    let etag = part.header("etag").unwrap().to_string();
    let body = format!(
        "<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>{etag}</ETag></Part>\
         </CompleteMultipartUpload>"
    );
    let complete = format!("{path}?uploadId={id}");
    for (header, status, code) in [
        (("x-oss-forbid-overwrite", "true"), 409, "FileAlreadyExists"),
        (("if-none-match", "*"), 412, "PreconditionFailed"),
    ] {
        let r = c.send(Method::POST, &complete, &[header], body.clone());
        assert_eq!(
            (r.status.as_u16(), r.code().as_deref()),
            (status, Some(code))
        );
    }
    assert_eq!(bed.store.open_uploads(BUCKET).len(), 1);
    assert_eq!(bed.store.object(BUCKET, "g.bin").unwrap().size, 5);
    let r = c.send(Method::POST, &complete, &[], body);
    assert!(r.status.is_success(), "{}", r.text());
    assert_eq!(bed.store.object(BUCKET, "g.bin").unwrap().size, 4);
}

/// A local path, a `file://` URL or `-` as the source: exit 2 before any
/// request, one line saying ferry reads http(s) URLs and how to serve a
/// local file.
#[test]
fn local_files_and_stdin_are_refused_with_what_ferry_reads() {
    let bed = bed("targets-local", SourceConfig::default());
    for source in [
        "./big.iso",
        "/tmp/big.iso",
        "file:///tmp/big.iso",
        "-",
        "big.iso",
    ] {
        let out = ferry_copy(&bed, source, BUCKET, "k", (KEY_ID, SECRET))
            .arg("--json")
            .output()
            .expect("ferry runs");
        assert_refused(&out, 2, &["http", "python3 -m http.server"]);
        let message = last_json(&out.stdout)["message"].to_string();
        assert!(!message.contains("unparsable"), "{message}");
        if source == "-" {
            assert!(message.contains("standard input"), "{message}");
        }
    }
    assert_eq!(bed.store.history().uploads_created, 0);
}
