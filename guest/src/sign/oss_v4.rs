//! OSS signature V4 (`OSS4-HMAC-SHA256`): a canonical request hashed with
//! SHA-256 and signed with a key derived from the secret, the date, the
//! region and the service, so a leaked signature is useless elsewhere.

use super::{encode, hmac, Credentials, RequestParts};
use sha2::{Digest, Sha256};
use std::time::SystemTime;
use time::macros::format_description;
use time::OffsetDateTime;

const ALGORITHM: &str = "OSS4-HMAC-SHA256";
const UNSIGNED: &str = "UNSIGNED-PAYLOAD";

/// `yyyymmddThhmmssZ`.
pub fn timestamp(now: SystemTime) -> String {
    OffsetDateTime::from(now)
        .format(format_description!(
            "[year][month][day]T[hour][minute][second]Z"
        ))
        .expect("a UTC timestamp always formats")
}

fn scope(date: &str, region: &str) -> String {
    format!("{date}/{region}/oss/aliyun_v4_request")
}

/// Adds `x-oss-date`, `x-oss-content-sha256`, `x-oss-security-token` (for STS
/// keys) and `Authorization`.
pub fn sign(credentials: &Credentials, region: &str, req: &mut RequestParts, now: SystemTime) {
    if let Some(token) = &credentials.security_token {
        req.headers
            .push(("x-oss-security-token".into(), token.clone()));
    }
    let stamp = timestamp(now);
    req.headers.push(("x-oss-date".into(), stamp.clone()));
    req.headers
        .push(("x-oss-content-sha256".into(), UNSIGNED.into()));
    let signature = signature(credentials, region, req, &stamp);
    req.headers.push((
        "authorization".into(),
        format!(
            "{ALGORITHM} Credential={}/{}, Signature={signature}",
            credentials.access_key_id,
            scope(&stamp[..8], region)
        ),
    ));
}

/// Adds the `x-oss-*` presigning parameters to the query so the URL alone
/// authorizes the request for `expires_secs`.
pub fn presign(
    credentials: &Credentials,
    region: &str,
    req: &mut RequestParts,
    now: SystemTime,
    expires_secs: u64,
) {
    if let Some(token) = &credentials.security_token {
        req.query
            .push(("x-oss-security-token".into(), token.clone()));
    }
    let stamp = timestamp(now);
    req.query.push(("x-oss-date".into(), stamp.clone()));
    req.query
        .push(("x-oss-expires".into(), expires_secs.to_string()));
    req.query
        .push(("x-oss-signature-version".into(), ALGORITHM.into()));
    req.query.push((
        "x-oss-credential".into(),
        format!(
            "{}/{}",
            credentials.access_key_id,
            scope(&stamp[..8], region)
        ),
    ));
    let signature = signature(credentials, region, req, &stamp);
    req.query.push(("x-oss-signature".into(), signature));
}

/// The canonical request V4 hashes.
pub fn canonical_request(req: &RequestParts) -> String {
    let uri = encode(&format!("/{}/{}", req.bucket, req.key)).replace("%2F", "/");
    let mut query: Vec<(String, String)> = req
        .query
        .iter()
        .map(|(k, v)| (encode(k), encode(v)))
        .collect();
    query.sort();
    let query = query
        .iter()
        .map(|(k, v)| {
            if v.is_empty() {
                k.clone()
            } else {
                format!("{k}={v}")
            }
        })
        .collect::<Vec<_>>()
        .join("&");
    let mut headers: Vec<(String, &str)> = req
        .headers
        .iter()
        .map(|(k, v)| (k.to_ascii_lowercase(), v.as_str()))
        .filter(|(k, _)| k.starts_with("x-oss-") || k == "content-type" || k == "content-md5")
        .collect();
    headers.sort();
    let headers: String = headers.iter().map(|(k, v)| format!("{k}:{v}\n")).collect();
    let payload = req
        .headers
        .iter()
        .find(|(k, _)| k == "x-oss-content-sha256")
        .map_or(UNSIGNED, |(_, v)| v.as_str());
    format!("{}\n{uri}\n{query}\n{headers}\n\n{payload}", req.method)
}

/// The string V4 signs.
pub fn string_to_sign(req: &RequestParts, region: &str, stamp: &str) -> String {
    let hash = hex::encode(Sha256::digest(canonical_request(req).as_bytes()));
    format!(
        "{ALGORITHM}\n{stamp}\n{}\n{hash}",
        scope(&stamp[..8], region)
    )
}

fn signature(credentials: &Credentials, region: &str, req: &RequestParts, stamp: &str) -> String {
    let secret = format!("aliyun_v4{}", credentials.access_key_secret);
    let key = hmac(secret.as_bytes(), &stamp[..8]);
    let key = hmac(&key, region);
    let key = hmac(&key, "oss");
    let key = hmac(&key, "aliyun_v4_request");
    hex::encode(hmac(&key, &string_to_sign(req, region, stamp)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn timestamp_is_basic_iso8601() {
        let t = UNIX_EPOCH + Duration::from_secs(1_764_064_800);
        assert_eq!(timestamp(t), "20251125T100000Z");
    }

    #[test]
    fn canonical_request_encodes_and_sorts() {
        let req = RequestParts::new("PUT", "bkt", "dir/a b.bin")
            .query("uploadId", "U+1")
            .query("partNumber", "2")
            .header("x-oss-date", "20251125T100000Z")
            .header("x-oss-content-sha256", "UNSIGNED-PAYLOAD")
            .header("content-length", "5");
        assert_eq!(
            canonical_request(&req),
            "PUT\n/bkt/dir/a%20b.bin\npartNumber=2&uploadId=U%2B1\n\
             x-oss-content-sha256:UNSIGNED-PAYLOAD\nx-oss-date:20251125T100000Z\n\n\nUNSIGNED-PAYLOAD"
        );
    }
}
