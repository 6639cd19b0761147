//! Property-based fuzzing of the host's parsers of outside input: the
//! coordinator's event stream (`Lines`, `Event`) and the egress allow-list
//! (`Egress::permits`) on arbitrary URIs.
//!
//! cargo-fuzz needs a nightly toolchain, so this is proptest on stable (see
//! `guest/tests/fuzz.rs`). `make test` runs each target with 256 cases;
//! `make fuzz` with `PROPTEST_CASES` set high, bounded by `FUZZ_SECONDS` per
//! target. Failing seeds go to `host/proptest-regressions/<target>.txt`.

use ferry_host::events::Lines;
use ferry_host::{Egress, Event};
use proptest::prelude::*;
use proptest::test_runner::{Config, FileFailurePersistence, TestCaseError, TestRunner};
use serde_json::{json, Value};
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

// ------------------------------------------------------------ event lines

/// Bytes that look like the guest's output: JSON lines, partial lines,
/// CRLF, invalid UTF-8, or anything at all.
fn stream() -> impl Strategy<Value = Vec<u8>> {
    let piece = prop_oneof![
        Just(b"{\"event\":\"part\",\"part_number\":3,\"bytes\":6291456,\"done_parts\":2,\"done_bytes\":12582912}\n".to_vec()),
        Just(b"{\"ok\":true,\"size\":1}\r\n".to_vec()),
        Just(b"\n".to_vec()),
        Just(b"\r\n".to_vec()),
        Just("\u{e9}\u{1f980}".as_bytes().to_vec()),
        Just(vec![0xff, 0xfe, b'\n']),
        Just(vec![0xe2, 0x82]), // a UTF-8 sequence cut short
        prop::collection::vec(any::<u8>(), 0..40),
    ];
    prop::collection::vec(piece, 0..12).prop_map(|v| v.concat())
}

#[test]
fn fuzz_lines() {
    let input = (
        stream(),
        prop::collection::vec(any::<prop::sample::Index>(), 0..10),
    );
    fuzz("lines", input, |(data, cuts)| {
        // The same bytes in any chunking give the same lines.
        let mut cuts: Vec<usize> = cuts.iter().map(|i| i.index(data.len() + 1)).collect();
        cuts.sort_unstable();
        let mut lines = Lines::default();
        let mut got = Vec::new();
        let mut from = 0;
        for cut in cuts.into_iter().chain([data.len()]) {
            got.extend(lines.push(&data[from..cut]));
            from = cut;
        }
        // Every complete line, lossily decoded and trimmed; the rest pending.
        let mut expected: Vec<String> = data
            .split_inclusive(|&b| b == b'\n')
            .filter(|l| l.ends_with(b"\n"))
            .map(|l| String::from_utf8_lossy(l).trim().to_string())
            .collect();
        prop_assert_eq!(&got, &expected);
        prop_assert_eq!(Lines::default().push(&data), got);
        // The pending rest completes with the next newline.
        let tail = data.rsplit(|&b| b == b'\n').next().unwrap_or_default();
        let mut whole = tail.to_vec();
        whole.push(b'\n');
        expected = vec![String::from_utf8_lossy(&whole).trim().to_string()];
        prop_assert_eq!(lines.push(b"\n"), expected);
        Ok(())
    });
}

/// Events as the guest writes them, with the event each should read as.
fn event() -> impl Strategy<Value = Value> {
    prop_oneof![
        (any::<u64>(), any::<u64>(), any::<u32>(), prop::option::of(any::<u64>()), any::<u32>())
            .prop_map(|(size, part_size, parts, crc, parallel)| json!({
                "event": "planned", "size": size, "part_size": part_size, "parts": parts,
                "source_crc64": crc, "parallel": parallel,
            })),
        (any::<u32>(), any::<u64>(), any::<u32>(), any::<u64>()).prop_map(|(n, bytes, dp, db)| {
            json!({"event": "part", "part_number": n, "bytes": bytes, "done_parts": dp, "done_bytes": db})
        }),
        (any::<u32>(), any::<u32>(), any::<String>()).prop_map(|(n, attempt, message)| {
            json!({"event": "retry", "part_number": n, "attempt": attempt, "message": message})
        }),
    ]
}

/// Checks `e` carries what `v` says.
fn same(e: &Event, v: &Value) -> Result<(), TestCaseError> {
    let u = |k: &str| v[k].as_u64();
    match e {
        Event::Planned {
            size,
            part_size,
            parts,
            source_crc64,
            parallel,
            ..
        } => {
            prop_assert_eq!(v["event"].as_str(), Some("planned"));
            prop_assert_eq!(Some(*size), u("size"));
            prop_assert_eq!(Some(*part_size), u("part_size"));
            prop_assert_eq!(Some(*parts as u64), u("parts"));
            prop_assert_eq!(*source_crc64, u("source_crc64"));
            prop_assert_eq!(Some(*parallel as u64), u("parallel"));
        }
        Event::Part {
            part_number,
            bytes,
            done_parts,
            done_bytes,
            ..
        } => {
            prop_assert_eq!(v["event"].as_str(), Some("part"));
            prop_assert_eq!(Some(*part_number as u64), u("part_number"));
            prop_assert_eq!(Some(*bytes), u("bytes"));
            prop_assert_eq!(Some(*done_parts as u64), u("done_parts"));
            prop_assert_eq!(Some(*done_bytes), u("done_bytes"));
        }
        Event::Retry {
            part_number,
            attempt,
            message,
            ..
        } => {
            prop_assert_eq!(v["event"].as_str(), Some("retry"));
            prop_assert_eq!(Some(*part_number as u64), u("part_number"));
            prop_assert_eq!(Some(*attempt as u64), u("attempt"));
            prop_assert_eq!(Some(message.as_str()), v["message"].as_str());
        }
        #[allow(unreachable_patterns)]
        _ => prop_assert!(false, "{:?} read from {}", e, v),
    }
    Ok(())
}

#[test]
fn fuzz_events() {
    fuzz("events", event(), |v| {
        // One line as the guest prints it, read as transfer.rs reads it.
        let line = serde_json::to_string(&v).unwrap();
        prop_assert!(!line.contains('\n'));
        let mut lines = Lines::default();
        let got = lines.push(format!("{line}\n").as_bytes());
        prop_assert_eq!(got.len(), 1);
        let value: Value =
            serde_json::from_str(&got[0]).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let e: Event = serde_json::from_value(value)
            .map_err(|e| TestCaseError::fail(format!("{e}: {line}")))?;
        same(&e, &v)
    });
}

#[test]
fn fuzz_event_documents() {
    const SEEDS: &[&str] = &[
        r#"{"event":"planned","size":1073741824,"part_size":6291456,"parts":171,"source_crc64":9478213205511988430,"parallel":16}"#,
        r#"{"event":"part","part_number":3,"bytes":6291456,"done_parts":2,"done_bytes":12582912}"#,
        r#"{"event":"retry","part_number":7,"attempt":2,"message":"HTTP 503 (temporary)"}"#,
        r#"{"event":"note","message":"resuming upload U with 3 parts held"}"#,
        r#"{"event":"part","part_number":-1,"bytes":1e3,"done_parts":4294967296,"done_bytes":18446744073709551616}"#,
        r#"{"event":"Part"}"#,
        r#"{"event":null}"#,
        r#"{"ok":false,"kind":"store","message":"m","part_number":null}"#,
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
        let mut lines = Lines::default();
        for line in lines.push(&bytes).into_iter().chain(lines.push(b"\n")) {
            if let Ok(value) = serde_json::from_str::<Value>(&line) {
                if let Ok(e) = serde_json::from_value::<Event>(value.clone()) {
                    if !matches!(value["event"].as_str(), Some("note")) {
                        same(&e, &value)?;
                    }
                }
            }
            let _ = serde_json::from_str::<Event>(&line);
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
