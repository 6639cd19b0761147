//! The source's fault knobs, each shown to do exactly what it says: cut
//! bodies at an exact byte, stalls, status bursts, content changes,
//! 403/404, and the request counters.

mod faults_raw;

use std::time::Duration;

use faults_raw::{get, get_marked};
use ferry_testbed::faults::{Faults, CHANGE_XOR};
use ferry_testbed::pattern;
use ferry_testbed::source::{SourceConfig, SourceServer};

fn expected(seed: u64, start: u64, len: usize) -> Vec<u8> {
    let mut v = vec![0; len];
    pattern::fill(seed, start, &mut v);
    v
}

fn head(addr: std::net::SocketAddr, path: &str, extra: &[(&str, &str)]) -> faults_raw::Raw {
    let mut h = format!("HEAD {path} HTTP/1.1\r\nHost: {addr}");
    for (k, v) in extra {
        h.push_str(&format!("\r\n{k}: {v}"));
    }
    faults_raw::exchange(addr, &h, b"", 0)
}

#[test]
fn reset_after_cuts_the_first_bodies_at_an_exact_byte() {
    let s = SourceServer::start(SourceConfig::default()).unwrap();
    let a = s.addr();
    let path = SourceServer::path(4, 3_000_000);
    s.set_faults(Faults {
        reset_after: Some((1_000_001, 2)),
        ..Default::default()
    });
    // A body no longer than the cut point is served whole and not counted.
    let r = get(a, &path, &[("Range", "bytes=0-999")]);
    assert_eq!((r.status, r.complete), (Some(206), true));
    // The first two longer bodies stop after exactly 1,000,001 bytes.
    let r = get(a, &path, &[]);
    assert_eq!(r.status, Some(200));
    assert_eq!(r.header("content-length"), Some("3000000"));
    assert!(!r.complete);
    assert_eq!(r.body, expected(4, 0, 1_000_001));
    let r = get(a, &path, &[("Range", "bytes=500-2999999")]);
    assert_eq!(r.status, Some(206));
    assert!(!r.complete);
    assert_eq!(r.body, expected(4, 500, 1_000_001));
    // Then whole again.
    let r = get(a, &path, &[("Range", "bytes=500-2999999")]);
    assert_eq!((r.status, r.complete), (Some(206), true));
    assert_eq!(r.body.len(), 2_999_500);
    // HEAD is never cut; set_faults re-arms the count.
    assert_eq!(head(a, &path, &[]).status, Some(200));
    s.set_faults(Faults {
        reset_after: Some((0, 1)),
        ..Default::default()
    });
    let r = get(a, &path, &[]);
    assert_eq!((r.status, r.body.len(), r.complete), (Some(200), 0, false));
    assert!(get(a, &path, &[]).complete);
    assert_eq!((s.get_requests(), s.head_requests()), (6, 1));
}

#[test]
fn reset_after_with_chunked_bodies() {
    let s = SourceServer::start(SourceConfig {
        no_content_length: true,
        ..Default::default()
    })
    .unwrap();
    s.set_faults(Faults {
        reset_after: Some((70_000, 1)),
        ..Default::default()
    });
    let path = SourceServer::path(8, 1_000_000);
    let r = get(s.addr(), &path, &[]);
    assert_eq!(r.header("transfer-encoding"), Some("chunked"));
    assert!(!r.complete, "no final chunk");
    assert_eq!(r.body, expected(8, 0, 70_000));
    let r = get(s.addr(), &path, &[]);
    assert!(r.complete);
    assert_eq!(r.body, expected(8, 0, 1_000_000));
}

#[test]
fn reset_after_with_a_rate_limit() {
    let s = SourceServer::start(SourceConfig {
        rate_limit: Some(20_000_000),
        ..Default::default()
    })
    .unwrap();
    s.set_faults(Faults {
        reset_after: Some((123_457, 1)),
        ..Default::default()
    });
    let r = get(s.addr(), &SourceServer::path(3, 1_000_000), &[]);
    assert!(!r.complete);
    assert_eq!(r.body, expected(3, 0, 123_457));
}

#[test]
fn stall_pauses_the_first_bodies_then_finishes_them() {
    let s = SourceServer::start(SourceConfig::default()).unwrap();
    let a = s.addr();
    let pause = Duration::from_millis(1000);
    s.set_faults(Faults {
        stall: Some((200_000, pause, 1)),
        ..Default::default()
    });
    let path = SourceServer::path(5, 1_000_000);
    let r = get_marked(a, &path, &[], 200_000);
    assert_eq!((r.status, r.complete), (Some(200), true));
    assert_eq!(r.body, expected(5, 0, 1_000_000));
    let mark = r.mark_at.unwrap();
    assert!(mark < Duration::from_millis(800), "first bytes at {mark:?}");
    assert!(
        r.elapsed >= mark + pause - Duration::from_millis(50),
        "{:?} then {:?}",
        mark,
        r.elapsed
    );
    let r = get(a, &path, &[]);
    assert!(r.complete);
    assert!(r.elapsed < Duration::from_millis(800), "{:?}", r.elapsed);

    // Stall and cut on the same body: the pause comes first.
    s.set_faults(Faults {
        stall: Some((1000, Duration::from_millis(300), 1)),
        reset_after: Some((1000, 1)),
        ..Default::default()
    });
    let r = get(a, &path, &[]);
    assert!(!r.complete);
    assert_eq!(r.body, expected(5, 0, 1000));
    assert!(r.elapsed >= Duration::from_millis(280), "{:?}", r.elapsed);
}

#[test]
fn status_burst_answers_the_first_gets_only() {
    let s = SourceServer::start(SourceConfig::default()).unwrap();
    let a = s.addr();
    let path = SourceServer::path(2, 5000);
    s.set_faults(Faults {
        status_burst: Some((429, 2, Some(3))),
        ..Default::default()
    });
    // HEAD is not affected and not counted.
    assert_eq!(head(a, &path, &[]).status, Some(200));
    for _ in 0..2 {
        let r = get(a, &path, &[("Range", "bytes=0-9")]);
        assert_eq!(r.status, Some(429));
        assert_eq!(r.header("retry-after"), Some("3"));
        assert!(r.complete && r.text().contains("429"), "{}", r.text());
    }
    let r = get(a, &path, &[("Range", "bytes=0-9")]);
    assert_eq!(r.status, Some(206));
    assert_eq!(r.body, expected(2, 0, 10));
    for status in [500u16, 503] {
        s.set_faults(Faults {
            status_burst: Some((status, 1, None)),
            ..Default::default()
        });
        let r = get(a, &path, &[]);
        assert_eq!(r.status, Some(status));
        assert_eq!(r.header("retry-after"), None);
        assert_eq!(get(a, &path, &[]).status, Some(200));
    }
    assert_eq!((s.get_requests(), s.head_requests()), (7, 1));
}

#[test]
fn change_after_changes_bytes_etag_and_date() {
    let s = SourceServer::start(SourceConfig {
        crc_header: true,
        ..Default::default()
    })
    .unwrap();
    let a = s.addr();
    let (seed, size) = (11, 200_000);
    let path = SourceServer::path(seed, size);
    let old = SourceServer::etag(seed, size);
    let new = SourceServer::changed_etag(seed, size);
    assert_ne!(old, new);
    assert_eq!(SourceServer::changed_seed(seed), seed ^ CHANGE_XOR);
    s.set_faults(Faults {
        change_after: Some(2),
        ..Default::default()
    });
    for _ in 0..2 {
        let r = get(a, &path, &[("If-Match", &old), ("Range", "bytes=0-99")]);
        assert_eq!(r.status, Some(206));
        assert_eq!(r.body, expected(seed, 0, 100));
        assert_eq!(r.header("etag"), Some(old.as_str()));
    }
    // Third GET on: the object is another one.
    let r = get(a, &path, &[("If-Match", &old), ("Range", "bytes=0-99")]);
    assert_eq!(r.status, Some(412));
    let r = get(a, &path, &[]);
    assert_eq!(r.status, Some(200));
    let changed = SourceServer::changed_seed(seed);
    assert_eq!(r.body, expected(changed, 0, size as usize));
    assert_ne!(r.body, expected(seed, 0, size as usize));
    assert_eq!(r.header("etag"), Some(new.as_str()));
    assert_eq!(
        r.header("last-modified"),
        Some("Tue, 02 Jan 2024 00:00:00 GMT")
    );
    let crc = pattern::crc64(changed, size).to_string();
    assert_eq!(r.header("x-oss-hash-crc64ecma"), Some(crc.as_str()));
    let r = get(a, &path, &[("If-Match", &new), ("Range", "bytes=10-19")]);
    assert_eq!(r.body, expected(changed, 10, 10));
    let r = head(a, &path, &[]);
    assert_eq!(r.header("etag"), Some(new.as_str()));
    // Cleared faults: the original object again.
    s.set_faults(Faults::default());
    let r = get(a, &path, &[("If-Match", &old)]);
    assert_eq!(r.status, Some(200));
    assert_eq!(r.body, expected(seed, 0, size as usize));

    // change_after 0: changed from the first request, HEAD included.
    s.set_faults(Faults {
        change_after: Some(0),
        ..Default::default()
    });
    assert_eq!(head(a, &path, &[]).header("etag"), Some(new.as_str()));
    assert_eq!(head(a, &path, &[("If-Match", &old)]).status, Some(412));
}

#[test]
fn forbidden_and_not_found() {
    let s = SourceServer::start(SourceConfig::default()).unwrap();
    let a = s.addr();
    let path = SourceServer::path(1, 1000);
    s.set_faults(Faults {
        forbidden: true,
        ..Default::default()
    });
    assert_eq!(get(a, &path, &[]).status, Some(403));
    assert_eq!(head(a, &path, &[]).status, Some(403));
    s.set_faults(Faults {
        not_found: true,
        ..Default::default()
    });
    assert_eq!(get(a, &path, &[("Range", "bytes=0-1")]).status, Some(404));
    assert_eq!(head(a, &path, &[]).status, Some(404));
    s.set_faults(Faults::default());
    assert_eq!(get(a, &path, &[]).status, Some(200));
    assert_eq!((s.get_requests(), s.head_requests()), (3, 2));
}
