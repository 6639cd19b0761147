//! Property-based fuzzing of the host's parsers of outside input: the
//! coordinator's posted progress batches (`events::decode`) and the egress allow-list
//! (`Egress::permits`) on arbitrary URIs.
//!
//! cargo-fuzz needs a nightly toolchain, so this is proptest on stable (see
//! `guest/tests/fuzz.rs`). `make test` runs each target with 256 cases;
//! `make fuzz` with `PROPTEST_CASES` set high, bounded by `FUZZ_SECONDS` per
//! target. Failing seeds go to `host/proptest-regressions/<target>.txt`.

use ferry_host::events::{decode, Note, PartDone, Planned, Retrying};
use ferry_host::{Egress, Event};
use proptest::prelude::*;
use proptest::test_runner::{Config, FileFailurePersistence, TestCaseError, TestRunner};
use std::time::{Duration, Instant};

/// Runs `test` on values of `strategy`: `PROPTEST_CASES` cases (256 when
/// unset), stopping early once `FUZZ_SECONDS` (60 when unset) have passed,
/// and prints how many ran.
fn fuzz<S: Strategy>(
    name: &str,
    strategy: S,
    test: impl Fn(S::Value) -> Result<(), TestCaseError>,
) {
    let env = |k: &str| std::env::var(k).ok().and_then(|v| v.parse::<u64>().ok());
    let cases = env("PROPTEST_CASES").unwrap_or(256).max(1);
    let budget = Duration::from_secs(env("FUZZ_SECONDS").unwrap_or(60));
    let regressions: &'static str = Box::leak(
        format!(
            "{}/proptest-regressions/{name}.txt",
            env!("CARGO_MANIFEST_DIR")
        )
        .into_boxed_str(),
    );
    let start = Instant::now();
    let mut done = 0u64;
    while done < cases && start.elapsed() < budget {
        let chunk = (cases - done).min(2_000);
        let mut runner = TestRunner::new(Config {
            cases: chunk as u32,
            failure_persistence: Some(Box::new(FileFailurePersistence::Direct(regressions))),
            ..Config::default()
        });
        if let Err(e) = runner.run(&strategy, &test) {
            panic!("fuzz target {name} failed: {e}");
        }
        done += chunk;
    }
    println!(
        "fuzz {name}: {done} executions in {:.1} s",
        start.elapsed().as_secs_f64()
    );
}

// ---------------------------------------------------------- event batches

/// Progress events as the component posts them: any of the WIT cases.
fn event() -> impl Strategy<Value = Event> {
    prop_oneof![
        (
            any::<u64>(),
            any::<u64>(),
            any::<u32>(),
            prop::option::of(any::<u64>()),
            any::<u32>()
        )
            .prop_map(
                |(size, part_size, parts, source_crc64, parallel)| Event::Planned(Planned {
                    size,
                    part_size,
                    parts,
                    source_crc64,
                    parallel,
                    max_parallel: Some(parallel),
                })
            ),
        (any::<u32>(), any::<u64>(), any::<u32>(), any::<u64>()).prop_map(
            |(part_number, bytes, done_parts, done_bytes)| Event::Part(PartDone {
                part_number,
                bytes,
                done_parts,
                done_bytes,
            })
        ),
        (any::<u32>(), any::<u32>(), any::<String>()).prop_map(
            |(part_number, attempt, message)| {
                Event::Retry(Retrying {
                    part_number,
                    attempt,
                    message,
                })
            }
        ),
        any::<String>().prop_map(|message| Event::Note(Note { message })),
    ]
}

#[test]
fn fuzz_event_batches() {
    fuzz(
        "event_batches",
        prop::collection::vec(event(), 0..20),
        |events| {
            // A batch as the guest posts it reads back as the same events.
            let body = serde_json::to_vec(&events).unwrap();
            prop_assert_eq!(decode(&body), Some(events));
            Ok(())
        },
    );
}

#[test]
fn fuzz_event_documents() {
    const SEEDS: &[&str] = &[
        r#"[{"Planned":{"size":1073741824,"part_size":6291456,"parts":171,"source_crc64":9478213205511988430,"parallel":16,"max_parallel":16}}]"#,
        r#"[{"Part":{"part_number":3,"bytes":6291456,"done_parts":2,"done_bytes":12582912}}]"#,
        r#"[{"Retry":{"part_number":7,"attempt":2,"message":"HTTP 503 (temporary)"}}]"#,
        r#"[{"Note":{"message":"resuming upload U with 3 parts held"}}]"#,
        r#"[{"Part":{"part_number":-1,"bytes":1e3,"done_parts":4294967296,"done_bytes":18446744073709551616}}]"#,
        r#"[{"Part":{}}]"#,
        r#"{"event":"part"}"#,
        r#"[null]"#,
    ];
    let input = prop_oneof![
        prop::sample::select(SEEDS).prop_map(|s| s.as_bytes().to_vec()),
        (
            prop::sample::select(SEEDS),
            any::<prop::sample::Index>(),
            any::<u8>()
        )
            .prop_map(|(s, at, b)| {
                let mut v = s.as_bytes().to_vec();
                let i = at.index(v.len());
                v[i] = b;
                v
            }),
        (prop::sample::select(SEEDS), any::<prop::sample::Index>())
            .prop_map(|(s, at)| s.as_bytes()[..at.index(s.len() + 1)].to_vec()),
        prop::collection::vec(any::<u8>(), 0..200),
    ];
    fuzz("event_documents", input, |bytes| {
        // Whatever arrives, no panic; what reads as events says the same
        // when written again.
        if let Some(events) = decode(&bytes) {
            let again = serde_json::to_vec(&events).unwrap();
            prop_assert_eq!(decode(&again), Some(events));
        }
        Ok(())
    });
}

// ----------------------------------------------------------------- egress

const SOURCE: &str = "http://127.0.0.1:8080/big.iso?sig=x";
const STORE: &str = "https://oss-cn-hangzhou.aliyuncs.com";
const FANOUT: &str = "http://localhost:7000";

fn egress() -> Egress {
    let mut e = Egress::default();
    e.allow_url(SOURCE).allow_store(STORE).allow_url(FANOUT);
    e
}

/// Whether `host:port` may be reached, from the allow-list above.
fn allowed(host: &str, port: u16) -> bool {
    let host = host.to_ascii_lowercase();
    matches!(
        (host.as_str(), port),
        ("127.0.0.1", 8080) | ("oss-cn-hangzhou.aliyuncs.com", 443) | ("localhost", 7000)
    ) || (port == 443 && host.ends_with(".oss-cn-hangzhou.aliyuncs.com"))
}

fn host() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("127.0.0.1".to_string()),
        Just("localhost".to_string()),
        Just("LOCALHOST".to_string()),
        Just("oss-cn-hangzhou.aliyuncs.com".to_string()),
        Just("OSS-CN-HANGZHOU.ALIYUNCS.COM".to_string()),
        Just("oss-cn-hangzhou.aliyuncs.com.evil.com".to_string()),
        Just("evil-oss-cn-hangzhou.aliyuncs.com".to_string()),
        Just("evil.com".to_string()),
        Just("169.254.169.254".to_string()),
        Just("127.0.0.2".to_string()),
        Just("0x7f.0.0.1".to_string()),
        Just("2130706433".to_string()),
        Just("[::1]".to_string()),
        Just("[::ffff:127.0.0.1]".to_string()),
        "[a-z0-9-]{1,12}".prop_map(|b| format!("{b}.oss-cn-hangzhou.aliyuncs.com")),
        "[a-z0-9-]{1,12}".prop_map(|b| format!("{b}.localhost")),
        "[a-zA-Z0-9.-]{1,30}",
    ]
}

fn uri_text() -> impl Strategy<Value = String> {
    let structured = (
        prop_oneof![
            Just("http://"),
            Just("https://"),
            Just("HTTPS://"),
            Just("ftp://"),
            Just("")
        ],
        prop::option::of(prop_oneof![
            Just("u:p@".to_string()),
            Just("127.0.0.1:8080@".to_string()),
            Just("oss-cn-hangzhou.aliyuncs.com@".to_string()),
        ]),
        host(),
        prop::option::of(prop_oneof![
            Just(80u16),
            Just(443),
            Just(7000),
            Just(8080),
            any::<u16>()
        ]),
        prop_oneof![
            Just(""),
            Just("/"),
            Just("/b/k?x=1"),
            Just("#@evil.com"),
            Just("\\@evil.com/"),
            Just("/@127.0.0.1:8080")
        ],
    )
        .prop_map(|(scheme, user, host, port, rest)| {
            let port = port.map(|p| format!(":{p}")).unwrap_or_default();
            format!("{scheme}{}{host}{port}{rest}", user.unwrap_or_default())
        });
    prop_oneof![structured, any::<String>(), "[ -~]{0,60}"]
}

#[test]
fn fuzz_egress() {
    let egress = egress();
    fuzz("egress", uri_text(), |s| {
        let Ok(uri) = s.parse::<http::Uri>() else {
            return Ok(());
        };
        let permitted = egress.permits(&uri);
        // The connection goes to the URI's host and port, the scheme's
        // default port when none is given.
        let expected = match uri.host() {
            None => false,
            Some(h) => {
                let port = uri
                    .port_u16()
                    .unwrap_or(if uri.scheme_str() == Some("https") {
                        443
                    } else {
                        80
                    });
                allowed(h, port)
            }
        };
        prop_assert_eq!(permitted, expected, "{:?}", s);
        if permitted {
            // No parser trick: WHATWG URL parsing of the same text, where it
            // succeeds with a host, names an allowed authority as well.
            if let Ok(u) = url::Url::parse(&s) {
                if let (Some(h), Some(p)) = (u.host_str(), u.port_or_known_default()) {
                    if matches!(u.scheme(), "http" | "https") {
                        prop_assert!(
                            allowed(h, p),
                            "{:?}: http says allowed, url says {}:{}",
                            s,
                            h,
                            p
                        );
                    }
                }
            }
        }
        Ok(())
    });
}

#[test]
fn egress_nasty_cases() {
    let e = egress();
    let ok = |s: &str| {
        s.parse::<http::Uri>()
            .map(|u| e.permits(&u))
            .unwrap_or(false)
    };
    for denied in [
        "http://127.0.0.1:8080@evil.com/",
        "http://evil.com#@127.0.0.1:8080",
        "https://oss-cn-hangzhou.aliyuncs.com.evil.com/",
        "https://evil-oss-cn-hangzhou.aliyuncs.com/",
        "http://oss-cn-hangzhou.aliyuncs.com/", // port 80, not 443
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]:8080/",
        "http://localhost:7001/",
        "/relative/only",
    ] {
        assert!(!ok(denied), "{denied} permitted");
    }
    for permitted in [
        "http://127.0.0.1:8080/other",
        "https://bkt.oss-cn-hangzhou.aliyuncs.com/k?uploadId=U",
        "https://BKT.OSS-CN-HANGZHOU.ALIYUNCS.COM/k",
        "http://localhost:7000/parts",
    ] {
        assert!(ok(permitted), "{permitted} refused");
    }
}
