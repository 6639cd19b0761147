//! The source server over real HTTP: ranges, validators, knobs.

mod common;

use std::time::Instant;

use common::OssClient;
use ferry_testbed::pattern;
use ferry_testbed::source::{SourceConfig, SourceServer};
use hyper::{Method, StatusCode};

fn expected(seed: u64, start: u64, len: usize) -> Vec<u8> {
    let mut v = vec![0; len];
    pattern::fill(seed, start, &mut v);
    v
}

fn client(server: &SourceServer) -> OssClient {
    OssClient::new(&format!("http://{}", server.addr()), None)
}

#[test]
fn whole_object_and_headers() {
    let server = SourceServer::start(SourceConfig::default()).unwrap();
    let c = client(&server);
    let r = c.get(&SourceServer::path(4, 1_000_003), &[]);
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body.len(), 1_000_003);
    assert_eq!(&r.body[..], &expected(4, 0, 1_000_003)[..]);
    assert_eq!(r.header("content-length"), Some("1000003"));
    assert_eq!(r.header("accept-ranges"), Some("bytes"));
    assert_eq!(r.header("etag").unwrap(), SourceServer::etag(4, 1_000_003));
    assert_eq!(
        r.header("last-modified"),
        Some("Mon, 01 Jan 2024 00:00:00 GMT")
    );
    assert!(r.header("x-oss-hash-crc64ecma").is_none());
    assert!(server.url(4, 10).ends_with(&SourceServer::path(4, 10)));
}

#[test]
fn ranges() {
    let server = SourceServer::start(SourceConfig::default()).unwrap();
    let c = client(&server);
    let path = SourceServer::path(9, 1000);
    for (range, start, end) in [
        ("bytes=0-0", 0u64, 0u64),
        ("bytes=10-19", 10, 19),
        ("bytes=990-5000", 990, 999),
        ("bytes=900-", 900, 999),
        ("bytes=-7", 993, 999),
    ] {
        let r = c.get(&path, &[("range", range)]);
        assert_eq!(r.status, StatusCode::PARTIAL_CONTENT, "{range}");
        let len = (end - start + 1) as usize;
        assert_eq!(&r.body[..], &expected(9, start, len)[..], "{range}");
        assert_eq!(
            r.header("content-range").unwrap(),
            format!("bytes {start}-{end}/1000"),
            "{range}"
        );
        assert_eq!(r.header("content-length").unwrap(), len.to_string());
    }
    for range in ["bytes=1000-", "bytes=1000-1001", "bytes=-0"] {
        let r = c.get(&path, &[("range", range)]);
        assert_eq!(r.status, StatusCode::RANGE_NOT_SATISFIABLE, "{range}");
        assert_eq!(r.header("content-range"), Some("bytes */1000"), "{range}");
    }
    // Malformed or multiple ranges are ignored: the whole object.
    for range in ["bytes=5-2", "bytes=0-1,4-5", "lines=1-2"] {
        let r = c.get(&path, &[("range", range)]);
        assert_eq!(r.status, StatusCode::OK, "{range}");
        assert_eq!(r.body.len(), 1000);
    }
}

#[test]
fn zero_byte_object() {
    let server = SourceServer::start(SourceConfig::default()).unwrap();
    let c = client(&server);
    let r = c.get(&SourceServer::path(1, 0), &[]);
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.body.is_empty());
    assert_eq!(r.header("content-length"), Some("0"));
    let r = c.get(&SourceServer::path(1, 0), &[("range", "bytes=0-0")]);
    assert_eq!(r.status, StatusCode::RANGE_NOT_SATISFIABLE);
    assert_eq!(r.header("content-range"), Some("bytes */0"));
}

#[test]
fn if_match() {
    let server = SourceServer::start(SourceConfig::default()).unwrap();
    let c = client(&server);
    let path = SourceServer::path(2, 100);
    let etag = SourceServer::etag(2, 100);
    let r = c.get(&path, &[("if-match", &etag), ("range", "bytes=0-9")]);
    assert_eq!(r.status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(c.get(&path, &[("if-match", "*")]).status, StatusCode::OK);
    let other = SourceServer::etag(2, 101);
    let r = c.get(&path, &[("if-match", &other), ("range", "bytes=0-9")]);
    assert_eq!(r.status, StatusCode::PRECONDITION_FAILED);
    assert!(r.body.is_empty());
    let r = c.send(Method::HEAD, &path, &[("if-match", &other)], "");
    assert_eq!(r.status, StatusCode::PRECONDITION_FAILED);
}

#[test]
fn head_and_crc_header() {
    let server = SourceServer::start(SourceConfig {
        crc_header: true,
        ..Default::default()
    })
    .unwrap();
    let c = client(&server);
    let path = SourceServer::path(3, 123_457);
    let r = c.send(Method::HEAD, &path, &[], "");
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.body.is_empty());
    assert_eq!(r.header("content-length"), Some("123457"));
    let crc = pattern::crc64(3, 123_457).to_string();
    assert_eq!(r.header("x-oss-hash-crc64ecma"), Some(crc.as_str()));
    // The whole-object CRC, on ranged GETs too.
    let r = c.get(&path, &[("range", "bytes=5-9")]);
    assert_eq!(r.header("x-oss-hash-crc64ecma"), Some(crc.as_str()));
    assert_eq!(c.get("/obj/3", &[]).status, StatusCode::NOT_FOUND);
    assert_eq!(c.get("/nothing", &[]).status, StatusCode::NOT_FOUND);
    assert_eq!(
        c.send(Method::PUT, &path, &[], "x").status,
        StatusCode::METHOD_NOT_ALLOWED
    );
    assert_eq!(server.requests(), 5);
}

#[test]
fn knobs_no_range_no_length_refuse_head() {
    let server = SourceServer::start(SourceConfig {
        no_range: true,
        no_content_length: true,
        refuse_head: true,
        ..Default::default()
    })
    .unwrap();
    let c = client(&server);
    let path = SourceServer::path(5, 300_000);
    let r = c.get(&path, &[("range", "bytes=0-9")]);
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(&r.body[..], &expected(5, 0, 300_000)[..]);
    assert!(r.header("content-length").is_none());
    assert_eq!(r.header("transfer-encoding"), Some("chunked"));
    assert!(r.header("accept-ranges").is_none());
    let r = c.send(Method::HEAD, &path, &[], "");
    assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);
}

#[test]
fn head_without_length() {
    let server = SourceServer::start(SourceConfig {
        no_content_length: true,
        ..Default::default()
    })
    .unwrap();
    let r = client(&server).send(Method::HEAD, &SourceServer::path(5, 1000), &[], "");
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.header("content-length").is_none(), "{:?}", r.headers);
}

#[test]
fn rate_limit_per_connection() {
    let server = SourceServer::start(SourceConfig {
        rate_limit: Some(2_000_000),
        ..Default::default()
    })
    .unwrap();
    let c = client(&server);
    let start = Instant::now();
    let r = c.get(&SourceServer::path(6, 1_000_000), &[]);
    let took = start.elapsed().as_secs_f64();
    assert_eq!(&r.body[..], &expected(6, 0, 1_000_000)[..]);
    // 1 MB at 2 MB/s, one chunk of burst: about half a second.
    assert!((0.4..1.5).contains(&took), "took {took:.3}s");
}
