//! OSS signature V1: HMAC-SHA1 over a string that names the verb, the
//! content headers, the date, the `x-oss-*` headers and the resource.
//!
//! Alibaba no longer lets new accounts use V1; it is here for older
//! accounts and for stores that speak only V1.

use super::{Credentials, RequestParts};
use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha1::Sha1;
use std::time::{SystemTime, UNIX_EPOCH};

/// Query parameters that are part of the signed resource (the rest are not).
const SUB_RESOURCES: &[&str] = &[
    "acl",
    "append",
    "bucketInfo",
    "callback",
    "callback-var",
    "cname",
    "comp",
    "continuation-token",
    "cors",
    "delete",
    "encryption",
    "endTime",
    "group",
    "inventory",
    "inventoryId",
    "lifecycle",
    "link",
    "live",
    "location",
    "logging",
    "metaQuery",
    "objectInfo",
    "objectMeta",
    "partNumber",
    "policy",
    "position",
    "qos",
    "referer",
    "replication",
    "requestPayment",
    "response-cache-control",
    "response-content-disposition",
    "response-content-encoding",
    "response-content-language",
    "response-content-type",
    "response-expires",
    "restore",
    "security-token",
    "sequential",
    "startTime",
    "stat",
    "status",
    "symlink",
    "tagging",
    "uploadId",
    "uploads",
    "versionId",
    "versioning",
    "versions",
    "website",
    "x-oss-process",
    "x-oss-traffic-limit",
];

/// Adds `Date`, `x-oss-security-token` (for STS keys) and `Authorization`.
pub fn sign(credentials: &Credentials, req: &mut RequestParts, now: SystemTime) {
    if let Some(token) = &credentials.security_token {
        req.headers
            .push(("x-oss-security-token".into(), token.clone()));
    }
    req.headers
        .push(("date".into(), httpdate::fmt_http_date(now)));
    let date = header(req, "date").unwrap_or_default().to_string();
    let signature = signature(credentials, req, &date);
    req.headers.push((
        "authorization".into(),
        format!("OSS {}:{signature}", credentials.access_key_id),
    ));
}

/// Adds `OSSAccessKeyId`, `Expires`, `Signature` (and `security-token`) to the
/// query so the URL alone authorizes the request until it expires.
pub fn presign(
    credentials: &Credentials,
    req: &mut RequestParts,
    now: SystemTime,
    expires_secs: u64,
) {
    if let Some(token) = &credentials.security_token {
        req.query.push(("security-token".into(), token.clone()));
    }
    let epoch = now.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
    let expires = (epoch + expires_secs).to_string();
    let signature = signature(credentials, req, &expires);
    req.query
        .push(("OSSAccessKeyId".into(), credentials.access_key_id.clone()));
    req.query.push(("Expires".into(), expires));
    req.query.push(("Signature".into(), signature));
}

fn header<'a>(req: &'a RequestParts, name: &str) -> Option<&'a str> {
    req.headers
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// The string V1 signs; `date` is the `Date` header, or `Expires` when
/// presigning.
pub fn string_to_sign(req: &RequestParts, date: &str) -> String {
    let mut oss_headers: Vec<(String, &str)> = req
        .headers
        .iter()
        .filter(|(k, _)| k.starts_with("x-oss-"))
        .map(|(k, v)| (k.to_ascii_lowercase(), v.as_str()))
        .collect();
    oss_headers.sort();
    let mut s = format!(
        "{}\n{}\n{}\n{date}\n",
        req.method,
        header(req, "content-md5").unwrap_or(""),
        header(req, "content-type").unwrap_or(""),
    );
    for (k, v) in oss_headers {
        s.push_str(&format!("{k}:{v}\n"));
    }
    s.push_str(&format!("/{}/{}", req.bucket, req.key));
    let mut subs: Vec<&(String, String)> = req
        .query
        .iter()
        .filter(|(k, _)| SUB_RESOURCES.contains(&k.as_str()))
        .collect();
    subs.sort();
    for (i, (k, v)) in subs.into_iter().enumerate() {
        s.push(if i == 0 { '?' } else { '&' });
        s.push_str(k);
        if !v.is_empty() {
            s.push('=');
            s.push_str(v);
        }
    }
    s
}

fn signature(credentials: &Credentials, req: &RequestParts, date: &str) -> String {
    let mut mac = Hmac::<Sha1>::new_from_slice(credentials.access_key_secret.as_bytes())
        .expect("HMAC takes any key length");
    mac.update(string_to_sign(req, date).as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn creds() -> Credentials {
        Credentials {
            access_key_id: "ak".into(),
            access_key_secret: "sk".into(),
            security_token: None,
        }
    }

    #[test]
    fn string_to_sign_orders_headers_and_sub_resources() {
        let req = RequestParts::new("PUT", "bkt", "a/b.bin")
            .query("uploadId", "U1")
            .query("partNumber", "3")
            .query("ignored", "x")
            .header("x-oss-meta-b", "2")
            .header("x-oss-meta-a", "1")
            .header("content-type", "application/octet-stream");
        assert_eq!(
            string_to_sign(&req, "Wed, 25 Nov 2026 10:00:00 GMT"),
            "PUT\n\napplication/octet-stream\nWed, 25 Nov 2026 10:00:00 GMT\n\
             x-oss-meta-a:1\nx-oss-meta-b:2\n/bkt/a/b.bin?partNumber=3&uploadId=U1"
        );
    }

    #[test]
    fn presign_adds_the_documented_parameters() {
        let mut req = RequestParts::new("GET", "bkt", "k");
        let now = UNIX_EPOCH + std::time::Duration::from_secs(1_000);
        presign(&creds(), &mut req, now, 60);
        let names: Vec<&str> = req.query.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(names, ["OSSAccessKeyId", "Expires", "Signature"]);
        assert_eq!(req.query[1].1, "1060");
    }
}
