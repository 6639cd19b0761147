//! Alibaba Cloud's V3 request signature, `ACS3-HMAC-SHA256`, which Function
//! Compute 3.0's API (ROA style) requires: a canonical request (method, URI,
//! query, the `host`, `content-type` and `x-acs-*` headers, the payload's
//! SHA-256) hashed with SHA-256, signed with HMAC-SHA256 under the AccessKey
//! secret, hex-encoded into the `Authorization` header.
//!
//! Checked against the example values of Alibaba's "V3 request structure
//! and signature" document (help.aliyun.com, sdk/product-overview/
//! v3-request-structure-and-signature), which Function Compute's "Signature
//! mechanism" page repeats step by step.

use ring::{digest, hmac};
use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

/// The signature algorithm's name, the first word of `Authorization`.
pub const ALGORITHM: &str = "ACS3-HMAC-SHA256";

/// An AccessKey pair, with the STS token when it is temporary.
#[derive(Clone)]
pub struct AccessKey {
    pub id: String,
    pub secret: String,
    pub security_token: Option<String>,
}

impl fmt::Debug for AccessKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AccessKey(<redacted>)")
    }
}

/// The pieces of one request that the signature covers.
#[derive(Debug, Clone)]
pub struct Request<'a> {
    /// Upper-case HTTP method.
    pub method: &'a str,
    /// The resource path, not yet encoded (e.g. `/2023-03-30/functions/f/invocations`).
    pub path: &'a str,
    /// Query parameters, not yet encoded.
    pub query: &'a [(&'a str, &'a str)],
    /// Every header the request will carry (names in any case); the
    /// signature covers `host`, `content-type` and `x-acs-*`.
    pub headers: &'a [(String, String)],
    /// The body (empty when there is none).
    pub payload: &'a [u8],
}

/// RFC 3986 percent-encoding of everything but the unreserved characters
/// (`A-Z a-z 0-9 - _ . ~`); a space is `%20`, `*` is `%2A`.
pub fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The canonical URI: each `/`-separated segment percent-encoded.
pub fn canonical_uri(path: &str) -> String {
    if path.is_empty() {
        return "/".into();
    }
    path.split('/')
        .map(percent_encode)
        .collect::<Vec<_>>()
        .join("/")
}

/// The canonical query string: encoded `name=value` pairs sorted by name
/// (then value), joined by `&`; empty when there is no query.
pub fn canonical_query(query: &[(&str, &str)]) -> String {
    let mut pairs: Vec<(String, String)> = query
        .iter()
        .map(|(k, v)| (percent_encode(k), percent_encode(v)))
        .collect();
    pairs.sort();
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

/// The canonical headers (each `name:value\n`, lower-case names, trimmed
/// values, sorted) and the signed-header list (`a;b;c`).
pub fn canonical_headers(headers: &[(String, String)]) -> (String, String) {
    let mut signed: Vec<(String, String)> = headers
        .iter()
        .map(|(k, v)| (k.to_ascii_lowercase(), v.trim().to_string()))
        .filter(|(k, _)| k == "host" || k == "content-type" || k.starts_with("x-acs-"))
        .collect();
    signed.sort();
    let canonical = signed.iter().map(|(k, v)| format!("{k}:{v}\n")).collect();
    let names = signed
        .iter()
        .map(|(k, _)| k.as_str())
        .collect::<Vec<_>>()
        .join(";");
    (canonical, names)
}

/// Lower-case hex of the SHA-256 of `data`.
pub fn sha256_hex(data: &[u8]) -> String {
    hex(digest::digest(&digest::SHA256, data).as_ref())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The canonical request the signature is computed over. The payload hash
/// is that of `request.payload`, which must equal the request's
/// `x-acs-content-sha256` header.
pub fn canonical_request(request: &Request<'_>) -> String {
    let (headers, signed) = canonical_headers(request.headers);
    format!(
        "{}\n{}\n{}\n{}\n{}\n{}",
        request.method,
        canonical_uri(request.path),
        canonical_query(request.query),
        headers,
        signed,
        sha256_hex(request.payload)
    )
}

/// `ACS3-HMAC-SHA256\n` + the hex SHA-256 of the canonical request.
pub fn string_to_sign(request: &Request<'_>) -> String {
    format!(
        "{ALGORITHM}\n{}",
        sha256_hex(canonical_request(request).as_bytes())
    )
}

/// The hex HMAC-SHA256 of the string to sign under `secret`.
pub fn signature(request: &Request<'_>, secret: &str) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret.as_bytes());
    hex(hmac::sign(&key, string_to_sign(request).as_bytes()).as_ref())
}

/// The `Authorization` header's value.
pub fn authorization(request: &Request<'_>, key: &AccessKey) -> String {
    let (_, signed) = canonical_headers(request.headers);
    format!(
        "{ALGORITHM} Credential={},SignedHeaders={signed},Signature={}",
        key.id,
        signature(request, &key.secret)
    )
}

/// `x-acs-date`: UTC as `YYYY-MM-DDTHH:MM:SSZ`.
pub fn acs_date(at: SystemTime) -> String {
    let secs = at.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = civil_from_days(days as i64);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian
/// (Howard Hinnant's `civil_from_days`).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// `x-acs-signature-nonce`: 16 random bytes in hex, new for every request
/// (the gateway refuses a nonce it has seen, against replays).
pub fn nonce() -> String {
    use ring::rand::SecureRandom;
    let mut bytes = [0u8; 16];
    if ring::rand::SystemRandom::new().fill(&mut bytes).is_err() {
        // No system randomness: a time-based nonce is still unique per call.
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos();
        bytes = now.to_le_bytes();
    }
    hex(&bytes)
}

/// When a request is signed and its one-time nonce.
#[derive(Debug, Clone)]
pub struct Stamp {
    /// `x-acs-date` ([`acs_date`]).
    pub date: String,
    /// `x-acs-signature-nonce` ([`nonce`]).
    pub nonce: String,
}

impl Stamp {
    /// Now, with a fresh nonce.
    pub fn now() -> Stamp {
        Stamp {
            date: acs_date(SystemTime::now()),
            nonce: nonce(),
        }
    }
}

/// Adds the signature headers (`x-acs-content-sha256`, `x-acs-date`,
/// `x-acs-signature-nonce`, `x-acs-security-token` for an STS key, and
/// `authorization`) to `headers`, which must already hold `host`,
/// `x-acs-action`, `x-acs-version` and any `content-type`.
pub fn sign(
    method: &str,
    path: &str,
    query: &[(&str, &str)],
    headers: &mut Vec<(String, String)>,
    payload: &[u8],
    key: &AccessKey,
    stamp: &Stamp,
) {
    headers.push(("x-acs-content-sha256".into(), sha256_hex(payload)));
    headers.push(("x-acs-date".into(), stamp.date.clone()));
    headers.push(("x-acs-signature-nonce".into(), stamp.nonce.clone()));
    if let Some(token) = &key.security_token {
        headers.push(("x-acs-security-token".into(), token.clone()));
    }
    let value = authorization(
        &Request {
            method,
            path,
            query,
            headers,
            payload,
        },
        key,
    );
    headers.push(("authorization".into(), value));
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// The documented example: POST to ECS's RunInstances with ImageId and
    /// RegionId in the query, no body, the fixed date and nonce, and the
    /// placeholder key `YourAccessKeyId` / `YourAccessKeySecret`.
    fn documented_headers() -> Vec<(String, String)> {
        [
            ("host", "ecs.cn-shanghai.aliyuncs.com"),
            ("x-acs-action", "RunInstances"),
            ("x-acs-version", "2014-05-26"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    }

    const QUERY: &[(&str, &str)] = &[
        ("RegionId", "cn-shanghai"),
        (
            "ImageId",
            "win2019_1809_x64_dtc_zh-cn_40G_alibase_20230811.vhd",
        ),
    ];

    fn documented_key() -> AccessKey {
        AccessKey {
            id: "YourAccessKeyId".into(),
            secret: "YourAccessKeySecret".into(),
            security_token: None,
        }
    }

    #[test]
    fn documented_example_step_by_step() {
        let mut headers = documented_headers();
        headers.push((
            "x-acs-content-sha256".into(),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855".into(),
        ));
        headers.push(("x-acs-date".into(), "2023-10-26T10:22:32Z".into()));
        headers.push((
            "x-acs-signature-nonce".into(),
            "3156853299f313e23d1673dc12e1703d".into(),
        ));
        let request = Request {
            method: "POST",
            path: "/",
            query: QUERY,
            headers: &headers,
            payload: b"",
        };
        // Step 1: each documented piece of the canonical request.
        assert_eq!(
            canonical_query(QUERY),
            "ImageId=win2019_1809_x64_dtc_zh-cn_40G_alibase_20230811.vhd&RegionId=cn-shanghai"
        );
        let (canonical, signed) = canonical_headers(&headers);
        assert_eq!(
            canonical,
            "host:ecs.cn-shanghai.aliyuncs.com\n\
             x-acs-action:RunInstances\n\
             x-acs-content-sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n\
             x-acs-date:2023-10-26T10:22:32Z\n\
             x-acs-signature-nonce:3156853299f313e23d1673dc12e1703d\n\
             x-acs-version:2014-05-26\n"
        );
        assert_eq!(
            signed,
            "host;x-acs-action;x-acs-content-sha256;x-acs-date;x-acs-signature-nonce;x-acs-version"
        );
        assert_eq!(
            sha256_hex(b""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        // Step 2: the string to sign.
        assert_eq!(
            string_to_sign(&request),
            "ACS3-HMAC-SHA256\n7ea06492da5221eba5297e897ce16e55f964061054b7695beedaac1145b1e259"
        );
        // Step 3: the signature.
        assert_eq!(
            signature(&request, "YourAccessKeySecret"),
            "06563a9e1b43f5dfe96b81484da74bceab24a1d853912eee15083a6f0f3283c0"
        );
        // Step 4: the header.
        assert_eq!(
            authorization(&request, &documented_key()),
            "ACS3-HMAC-SHA256 Credential=YourAccessKeyId,\
             SignedHeaders=host;x-acs-action;x-acs-content-sha256;x-acs-date;x-acs-signature-nonce;x-acs-version,\
             Signature=06563a9e1b43f5dfe96b81484da74bceab24a1d853912eee15083a6f0f3283c0"
        );
    }

    #[test]
    fn sign_adds_the_documented_headers() {
        let mut headers = documented_headers();
        sign(
            "POST",
            "/",
            QUERY,
            &mut headers,
            b"",
            &documented_key(),
            &Stamp {
                date: "2023-10-26T10:22:32Z".into(),
                nonce: "3156853299f313e23d1673dc12e1703d".into(),
            },
        );
        let get = |n: &str| {
            headers
                .iter()
                .find(|(k, _)| k == n)
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(
            get("authorization"),
            Some(
                "ACS3-HMAC-SHA256 Credential=YourAccessKeyId,\
                 SignedHeaders=host;x-acs-action;x-acs-content-sha256;x-acs-date;x-acs-signature-nonce;x-acs-version,\
                 Signature=06563a9e1b43f5dfe96b81484da74bceab24a1d853912eee15083a6f0f3283c0"
            )
        );
        assert_eq!(get("x-acs-security-token"), None);
    }

    #[test]
    fn an_sts_token_is_signed_and_other_headers_are_not() {
        let mut headers = documented_headers();
        headers.push(("X-Fc-Invocation-Type".into(), "Sync".into()));
        headers.push(("Content-Type".into(), " application/json ".into()));
        let key = AccessKey {
            security_token: Some("sts-token".into()),
            ..documented_key()
        };
        let stamp = Stamp {
            date: "d".into(),
            nonce: "n".into(),
        };
        sign("POST", "/", &[], &mut headers, b"{}", &key, &stamp);
        let auth = &headers.last().unwrap().1;
        assert!(auth.contains(
            "SignedHeaders=content-type;host;x-acs-action;x-acs-content-sha256;x-acs-date;\
             x-acs-security-token;x-acs-signature-nonce;x-acs-version,"
        ));
        assert!(!auth.contains("x-fc-"));
        assert!(!auth.contains("sts-token"));
    }

    #[test]
    fn encoding_follows_rfc_3986() {
        assert_eq!(percent_encode("AZaz09-_.~"), "AZaz09-_.~");
        assert_eq!(percent_encode("a b*c+d/e=f"), "a%20b%2Ac%2Bd%2Fe%3Df");
        assert_eq!(percent_encode("é"), "%C3%A9");
        assert_eq!(
            canonical_uri("/2023-03-30/functions/my fn/invocations"),
            "/2023-03-30/functions/my%20fn/invocations"
        );
        assert_eq!(canonical_query(&[]), "");
        assert_eq!(canonical_query(&[("b", ""), ("a", "x y")]), "a=x%20y&b=");
    }

    #[test]
    fn dates_are_utc_iso_8601() {
        let at = |s: u64| UNIX_EPOCH + Duration::from_secs(s);
        assert_eq!(acs_date(at(1_698_315_752)), "2023-10-26T10:22:32Z");
        assert_eq!(acs_date(at(951_868_799)), "2000-02-29T23:59:59Z");
        assert_eq!(acs_date(at(0)), "1970-01-01T00:00:00Z");
    }

    #[test]
    fn nonces_differ() {
        let (a, b) = (nonce(), nonce());
        assert_eq!(a.len(), 32);
        assert_ne!(a, b);
    }
}
