//! Replays requests signed by Alibaba's oss2 SDK at a fixed time
//! (tests/vectors/oss2_signatures.json, made by
//! tests/conformance/make_vectors.py) through the store's authenticator.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ferry_testbed::store::auth::{Authority, Scheme};
use ferry_testbed::store::error::OssError;
use ferry_testbed::store::request::Target;
use ferry_testbed::store::Credential;
use hyper::header::{HeaderMap, HeaderName, HeaderValue};
use serde::Deserialize;

#[derive(Deserialize)]
struct File {
    region: String,
    credentials: Vec<Cred>,
    vectors: Vec<Vector>,
}

#[derive(Deserialize)]
struct Cred {
    id: String,
    secret: String,
    token: Option<String>,
}

#[derive(Deserialize)]
struct Vector {
    name: String,
    method: String,
    path: String,
    headers: std::collections::BTreeMap<String, String>,
    now: u64,
    expires_after: Option<u64>,
}

struct Case {
    method: String,
    target: Target,
    headers: HeaderMap,
    now: SystemTime,
}

fn load() -> (String, Vec<Credential>, Vec<(Vector, Case)>) {
    let file: File = serde_json::from_str(include_str!("../vectors/oss2_signatures.json")).unwrap();
    let creds = file
        .credentials
        .into_iter()
        .map(|c| Credential {
            id: c.id,
            secret: c.secret,
            token: c.token,
        })
        .collect();
    let cases = file
        .vectors
        .into_iter()
        .map(|v| {
            let mut headers = HeaderMap::new();
            for (k, val) in &v.headers {
                headers.insert(
                    HeaderName::from_bytes(k.as_bytes()).unwrap(),
                    HeaderValue::from_str(val).unwrap(),
                );
            }
            let case = Case {
                method: v.method.clone(),
                target: Target::parse(&v.path.parse().unwrap()),
                headers,
                now: UNIX_EPOCH + Duration::from_secs(v.now),
            };
            (v, case)
        })
        .collect();
    (file.region, creds, cases)
}

fn check(authority: &Authority, c: &Case, now: SystemTime) -> Result<Scheme, OssError> {
    authority
        .authenticate(&c.method, &c.target, &c.headers, now)
        .map(|a| a.scheme)
}

#[test]
fn every_oss2_signature_verifies() {
    let (region, creds, cases) = load();
    let authority = Authority {
        region: &region,
        credentials: &creds,
    };
    assert!(cases.len() >= 32, "vectors missing");
    for (v, c) in &cases {
        let scheme = check(&authority, c, c.now).unwrap_or_else(|e| panic!("{}: {e:?}", v.name));
        let expected = match (v.name.contains("v4"), v.name.contains("/url/")) {
            (false, false) => Scheme::V1Header,
            (false, true) => Scheme::V1Query,
            (true, false) => Scheme::V4Header,
            (true, true) => Scheme::V4Query,
        };
        assert_eq!(scheme, expected, "{}", v.name);
    }
}

#[test]
fn any_change_breaks_the_signature() {
    let (region, creds, cases) = load();
    let authority = Authority {
        region: &region,
        credentials: &creds,
    };
    for (v, c) in &cases {
        // Another verb.
        let mut other = Case {
            method: if c.method == "GET" { "DELETE" } else { "GET" }.into(),
            target: c.target.clone(),
            headers: c.headers.clone(),
            now: c.now,
        };
        let err = check(&authority, &other, c.now).unwrap_err();
        assert_eq!(err.code(), "SignatureDoesNotMatch", "{}: {err:?}", v.name);
        // Another key.
        other.method = c.method.clone();
        other.target.key.push('x');
        let err = check(&authority, &other, c.now).unwrap_err();
        assert_eq!(err.code(), "SignatureDoesNotMatch", "{}: {err:?}", v.name);
        // Another signed header value.
        other.target = c.target.clone();
        other
            .headers
            .insert("content-type", HeaderValue::from_static("text/evil"));
        let err = check(&authority, &other, c.now).unwrap_err();
        assert_eq!(err.code(), "SignatureDoesNotMatch", "{}: {err:?}", v.name);
    }
}

#[test]
fn a_wrong_secret_or_unknown_key_is_refused() {
    let (region, creds, cases) = load();
    let wrong: Vec<Credential> = creds
        .iter()
        .map(|c| Credential {
            secret: format!("{}-not", c.secret),
            ..c.clone()
        })
        .collect();
    let authority = Authority {
        region: &region,
        credentials: &wrong,
    };
    for (v, c) in &cases {
        let err = check(&authority, c, c.now).unwrap_err();
        assert_eq!(err.code(), "SignatureDoesNotMatch", "{}", v.name);
        // The secret is never part of the error.
        assert!(!format!("{err:?}").contains("secret"), "{}", v.name);
    }
    let nobody = Authority {
        region: &region,
        credentials: &[],
    };
    for (v, c) in &cases {
        let err = check(&nobody, c, c.now).unwrap_err();
        assert!(
            matches!(err, OssError::InvalidAccessKeyId { .. }),
            "{}: {err:?}",
            v.name
        );
    }
}

#[test]
fn sts_keys_need_their_token() {
    let (region, creds, cases) = load();
    let retokened: Vec<Credential> = creds
        .iter()
        .map(|c| Credential {
            token: c.token.as_ref().map(|_| "another-token".to_string()),
            ..c.clone()
        })
        .collect();
    let authority = Authority {
        region: &region,
        credentials: &retokened,
    };
    for (v, c) in cases.iter().filter(|(v, _)| v.name.starts_with("sts")) {
        let err = check(&authority, c, c.now).unwrap_err();
        assert!(
            matches!(err, OssError::InvalidSecurityToken { missing: false, .. }),
            "{}: {err:?}",
            v.name
        );
        assert_eq!(err.code(), "InvalidAccessKeyId");
    }
    // A permanent key demoted to an STS key: the token is missing.
    let demoted: Vec<Credential> = creds
        .iter()
        .map(|c| Credential {
            token: Some("required".into()),
            ..c.clone()
        })
        .collect();
    let authority = Authority {
        region: &region,
        credentials: &demoted,
    };
    for (v, c) in cases.iter().filter(|(v, _)| !v.name.starts_with("sts")) {
        let err = check(&authority, c, c.now).unwrap_err();
        assert!(
            matches!(err, OssError::InvalidSecurityToken { missing: true, .. }),
            "{}: {err:?}",
            v.name
        );
    }
}

#[test]
fn time_limits() {
    let (region, creds, cases) = load();
    let authority = Authority {
        region: &region,
        credentials: &creds,
    };
    for (v, c) in &cases {
        match v.expires_after {
            // Presigned: fine until the expiry, refused after it.
            Some(lifetime) => {
                let edge = c.now + Duration::from_secs(lifetime);
                assert!(check(&authority, c, edge).is_ok(), "{}", v.name);
                let err = check(&authority, c, edge + Duration::from_secs(2)).unwrap_err();
                assert_eq!(err.code(), "AccessDenied", "{}", v.name);
            }
            // Header-signed: 15 minutes of skew either way.
            None => {
                let ok = Duration::from_secs(14 * 60);
                assert!(check(&authority, c, c.now + ok).is_ok(), "{}", v.name);
                assert!(check(&authority, c, c.now - ok).is_ok(), "{}", v.name);
                let late = c.now + Duration::from_secs(16 * 60);
                let err = check(&authority, c, late).unwrap_err();
                assert_eq!(err.code(), "RequestTimeTooSkewed", "{}", v.name);
                assert_eq!(err.status(), 403);
            }
        }
    }
}

#[test]
fn v4_region_must_be_the_stores() {
    let (_, creds, cases) = load();
    let authority = Authority {
        region: "cn-beijing",
        credentials: &creds,
    };
    for (v, c) in cases.iter().filter(|(v, _)| v.name.contains("v4")) {
        let err = check(&authority, c, c.now).unwrap_err();
        assert_eq!(err.code(), "AccessDenied", "{}: {err:?}", v.name);
    }
}
