//! AWS Signature Version 4 for S3 (`AWS4-HMAC-SHA256`): the canonical
//! request (method, the path as sent, the sorted query, every sent header
//! and `host`, the payload hash) hashed with SHA-256 and signed with a key
//! derived from the secret, the date, the region and `s3`.
//!
//! Unlike OSS V4, the canonical URI is the request's own path (so it differs
//! between path-style and virtual-hosted addressing), `host` is always
//! signed, and an empty query value keeps its `=`.

use super::oss_v4::timestamp;
use super::{encode, hmac, Credentials, RequestParts};
use sha2::{Digest, Sha256};
use std::time::SystemTime;

const ALGORITHM: &str = "AWS4-HMAC-SHA256";
/// The payload hash of a request whose body is not hashed (part bodies
/// stream through; their integrity is the checksum's job).
pub const UNSIGNED: &str = "UNSIGNED-PAYLOAD";

fn scope(date: &str, region: &str) -> String {
    format!("{date}/{region}/s3/aws4_request")
}

/// The hex SHA-256 of a body, for `x-amz-content-sha256`.
pub fn payload_hash(body: &[u8]) -> String {
    hex::encode(Sha256::digest(body))
}

/// Adds `x-amz-date`, `x-amz-content-sha256` (`payload`: the body's hash or
/// [`UNSIGNED`]), `x-amz-security-token` (for temporary keys) and
/// `Authorization`.
pub fn sign(
    credentials: &Credentials,
    region: &str,
    req: &mut RequestParts,
    now: SystemTime,
    payload: &str,
) {
    let stamp = timestamp(now);
    req.headers.push(("x-amz-date".into(), stamp.clone()));
    req.headers
        .push(("x-amz-content-sha256".into(), payload.into()));
    if let Some(token) = &credentials.security_token {
        req.headers
            .push(("x-amz-security-token".into(), token.clone()));
    }
    let (signed, _) = canonical_headers(req);
    let signature = signature(credentials, region, req, &stamp, payload);
    req.headers.push((
        "authorization".into(),
        format!(
            "{ALGORITHM} Credential={}/{}, SignedHeaders={signed}, Signature={signature}",
            credentials.access_key_id,
            scope(&stamp[..8], region)
        ),
    ));
}

/// Adds the `X-Amz-*` presigning parameters so the URL alone authorizes the
/// request for `expires_secs` (S3 allows at most 7 days). Headers already
/// in `req` are signed and must be sent as they are.
pub fn presign(
    credentials: &Credentials,
    region: &str,
    req: &mut RequestParts,
    now: SystemTime,
    expires_secs: u64,
) {
    let stamp = timestamp(now);
    let (signed, _) = canonical_headers(req);
    req.query.push(("X-Amz-Algorithm".into(), ALGORITHM.into()));
    req.query.push((
        "X-Amz-Credential".into(),
        format!(
            "{}/{}",
            credentials.access_key_id,
            scope(&stamp[..8], region)
        ),
    ));
    req.query.push(("X-Amz-Date".into(), stamp.clone()));
    req.query.push((
        "X-Amz-Expires".into(),
        expires_secs.min(604_800).to_string(),
    ));
    if let Some(token) = &credentials.security_token {
        req.query
            .push(("X-Amz-Security-Token".into(), token.clone()));
    }
    req.query.push(("X-Amz-SignedHeaders".into(), signed));
    let signature = signature(credentials, region, req, &stamp, UNSIGNED);
    req.query.push(("X-Amz-Signature".into(), signature));
}

/// The signed header names (`host;x-amz-date;...`) and the canonical
/// header lines: `host` and every header the request sends, lowercase,
/// sorted, values trimmed.
fn canonical_headers(req: &RequestParts) -> (String, String) {
    let mut headers: Vec<(String, String)> = req
        .headers
        .iter()
        .filter(|(k, _)| k != "authorization")
        .map(|(k, v)| (k.to_ascii_lowercase(), v.trim().to_string()))
        .chain(std::iter::once(("host".to_string(), req.host.clone())))
        .collect();
    headers.sort();
    let names = headers
        .iter()
        .map(|(k, _)| k.as_str())
        .collect::<Vec<_>>()
        .join(";");
    let lines = headers.iter().map(|(k, v)| format!("{k}:{v}\n")).collect();
    (names, lines)
}

/// The canonical request SigV4 hashes.
pub fn canonical_request(req: &RequestParts, payload: &str) -> String {
    let mut query: Vec<(String, String)> = req
        .query
        .iter()
        .map(|(k, v)| (encode(k), encode(v)))
        .collect();
    query.sort();
    let query = query
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&");
    let (signed, lines) = canonical_headers(req);
    format!(
        "{}\n{}\n{query}\n{lines}\n{signed}\n{payload}",
        req.method, req.path
    )
}

/// The string SigV4 signs.
pub fn string_to_sign(req: &RequestParts, region: &str, stamp: &str, payload: &str) -> String {
    let hash = hex::encode(Sha256::digest(canonical_request(req, payload).as_bytes()));
    format!(
        "{ALGORITHM}\n{stamp}\n{}\n{hash}",
        scope(&stamp[..8], region)
    )
}

fn signature(
    credentials: &Credentials,
    region: &str,
    req: &RequestParts,
    stamp: &str,
    payload: &str,
) -> String {
    let secret = format!("AWS4{}", credentials.access_key_secret);
    let key = hmac(secret.as_bytes(), &stamp[..8]);
    let key = hmac(&key, region);
    let key = hmac(&key, "s3");
    let key = hmac(&key, "aws4_request");
    hex::encode(hmac(&key, &string_to_sign(req, region, stamp, payload)))
}

/// The examples of Amazon's "Signature Calculations for the Authorization
/// Header" and "Query String Authentication" pages (S3 API reference), with
/// their documented key, time and results.
#[cfg(test)]
mod aws_examples {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    fn credentials() -> Credentials {
        Credentials {
            access_key_id: "AKIAIOSFODNN7EXAMPLE".into(),
            access_key_secret: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY".into(),
            security_token: None,
        }
    }

    /// 2013-05-24T00:00:00Z.
    fn now() -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(1_369_353_600)
    }

    fn request(method: &str, path: &str) -> RequestParts {
        let mut req = RequestParts::new(method, "examplebucket", "");
        req.host = "examplebucket.s3.amazonaws.com".into();
        req.path = path.into();
        req
    }

    fn authorization(req: &RequestParts) -> &str {
        &req.headers
            .iter()
            .find(|(k, _)| k == "authorization")
            .unwrap()
            .1
    }

    const EMPTY: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    #[test]
    fn get_object_with_range() {
        let mut req = request("GET", "/test.txt").header("range", "bytes=0-9");
        sign(&credentials(), "us-east-1", &mut req, now(), EMPTY);
        assert_eq!(
            authorization(&req),
            "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, \
             SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, \
             Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
        );
    }

    #[test]
    fn get_bucket_lifecycle() {
        let mut req = request("GET", "/").query("lifecycle", "");
        sign(&credentials(), "us-east-1", &mut req, now(), EMPTY);
        assert!(authorization(&req).ends_with(
            "SignedHeaders=host;x-amz-content-sha256;x-amz-date, \
             Signature=fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543"
        ));
    }

    #[test]
    fn list_objects() {
        let mut req = request("GET", "/")
            .query("max-keys", "2")
            .query("prefix", "J");
        sign(&credentials(), "us-east-1", &mut req, now(), EMPTY);
        assert!(authorization(&req).ends_with(
            "Signature=34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7"
        ));
    }

    #[test]
    fn put_object() {
        let mut req = request("PUT", "/test%24file.text")
            .header("date", "Fri, 24 May 2013 00:00:00 GMT")
            .header("x-amz-storage-class", "REDUCED_REDUNDANCY");
        let payload = payload_hash(b"Welcome to Amazon S3.");
        sign(&credentials(), "us-east-1", &mut req, now(), &payload);
        assert_eq!(
            authorization(&req),
            "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, \
             SignedHeaders=date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class, \
             Signature=98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd"
        );
    }

    #[test]
    fn presigned_get() {
        let mut req = request("GET", "/test.txt");
        presign(&credentials(), "us-east-1", &mut req, now(), 86_400);
        assert_eq!(
            req.encoded_query(),
            "X-Amz-Algorithm=AWS4-HMAC-SHA256\
             &X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request\
             &X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host\
             &X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404"
        );
    }
}
