//! OSS signature version 4 (`OSS4-HMAC-SHA256`), as oss2's `ProviderAuthV4`
//! computes it.
//!
//! Canonical request: `VERB \n URI \n query \n headers \n additional \n
//! payload-hash`, where URI is `/bucket/key` encoded keeping `/`, query is
//! every parameter encoded and sorted, headers are `x-oss-*`, `content-type`,
//! `content-md5` and the additional headers (`name:value\n`, sorted). The
//! string to sign hashes it under a scope `date/region/oss/aliyun_v4_request`,
//! and the key is an HMAC chain from `"aliyun_v4" + secret`.

use hmac::{Hmac, Mac};
use hyper::HeaderMap;
use sha2::{Digest, Sha256};

use super::request::Target;

/// The algorithm name in headers and query.
pub const ALGORITHM: &str = "OSS4-HMAC-SHA256";
/// The payload hash when the body is not signed.
pub const UNSIGNED_PAYLOAD: &str = "UNSIGNED-PAYLOAD";

/// The canonical request. `skip_param` leaves one query parameter out (the
/// signature itself, for presigned URLs).
pub fn canonical_request(
    method: &str,
    target: &Target,
    headers: &HeaderMap,
    additional: &[String],
    skip_param: Option<&str>,
) -> String {
    let uri = match &target.bucket {
        Some(bucket) => uri_encode(&format!("/{bucket}/{}", target.key), true),
        None => "/".to_string(),
    };
    let mut query: Vec<(String, String)> = target
        .query
        .iter()
        .filter(|(k, _)| Some(k.as_str()) != skip_param)
        .map(|(k, v)| (uri_encode(k, false), uri_encode(v, false)))
        .collect();
    query.sort();
    let query: Vec<String> = query
        .into_iter()
        .map(|(k, v)| if v.is_empty() { k } else { format!("{k}={v}") })
        .collect();

    let mut signed: Vec<(&str, String)> = headers
        .keys()
        .map(|k| k.as_str())
        .filter(|k| {
            k.starts_with("x-oss-")
                || *k == "content-type"
                || *k == "content-md5"
                || additional.iter().any(|a| a == k)
        })
        .map(|k| {
            let v = headers.get(k).expect("listed header");
            (k, String::from_utf8_lossy(v.as_bytes()).into_owned())
        })
        .collect();
    signed.sort();
    let canonical_headers: String = signed.iter().map(|(k, v)| format!("{k}:{v}\n")).collect();

    let mut additional_sorted: Vec<&str> = additional.iter().map(String::as_str).collect();
    additional_sorted.sort();
    let payload = headers
        .get("x-oss-content-sha256")
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .unwrap_or_else(|| UNSIGNED_PAYLOAD.to_string());
    format!(
        "{method}\n{uri}\n{}\n{canonical_headers}\n{}\n{payload}",
        query.join("&"),
        additional_sorted.join(";")
    )
}

/// What tells the V4-style schemes apart once the canonical request is
/// made: the algorithm's name, the prefix of the secret that starts the
/// HMAC chain, and the scope's service and terminator.
pub struct Family {
    pub algorithm: &'static str,
    pub secret_prefix: &'static str,
    pub service: &'static str,
    pub terminal: &'static str,
}

/// OSS V4: `aliyun_v4` + secret, scope `date/region/oss/aliyun_v4_request`.
pub const OSS_V4: Family = Family {
    algorithm: ALGORITHM,
    secret_prefix: "aliyun_v4",
    service: "oss",
    terminal: "aliyun_v4_request",
};

impl Family {
    /// `date/region/service/terminal`.
    pub fn scope(&self, date: &str, region: &str) -> String {
        format!("{date}/{region}/{}/{}", self.service, self.terminal)
    }

    /// The string to sign for `datetime` (`YYYYMMDDTHHMMSSZ`).
    pub fn string_to_sign(&self, datetime: &str, region: &str, canonical_request: &str) -> String {
        let date = datetime.get(..8).unwrap_or(datetime);
        format!(
            "{}\n{datetime}\n{}\n{}",
            self.algorithm,
            self.scope(date, region),
            hex::encode(Sha256::digest(canonical_request.as_bytes()))
        )
    }

    /// hex(HMAC-SHA256(signing key, string to sign)).
    pub fn signature(
        &self,
        secret: &str,
        date: &str,
        region: &str,
        string_to_sign: &str,
    ) -> String {
        let key = hmac(
            format!("{}{secret}", self.secret_prefix).as_bytes(),
            date.as_bytes(),
        );
        let key = hmac(&key, region.as_bytes());
        let key = hmac(&key, self.service.as_bytes());
        let key = hmac(&key, self.terminal.as_bytes());
        hex::encode(hmac(&key, string_to_sign.as_bytes()))
    }
}

fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("any key length");
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

/// Percent-encodes all but `A-Z a-z 0-9 - _ . ~` (and `/` when asked), with
/// uppercase hex, byte by byte of the UTF-8.
pub fn uri_encode(s: &str, keep_slash: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) || (keep_slash && b == b'/') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoding_rules() {
        assert_eq!(uri_encode("/b/a b/ü+", true), "/b/a%20b/%C3%BC%2B");
        assert_eq!(uri_encode("a/b", false), "a%2Fb");
    }

    #[test]
    fn canonical_request_shape() {
        let mut headers = HeaderMap::new();
        headers.insert("x-oss-date", "20240101T000000Z".parse().unwrap());
        headers.insert("x-oss-content-sha256", "UNSIGNED-PAYLOAD".parse().unwrap());
        headers.insert("content-type", "text/plain".parse().unwrap());
        headers.insert("host", "127.0.0.1".parse().unwrap());
        headers.insert("range", "bytes=0-1".parse().unwrap());
        let t = Target::parse(&"/b/d%2Fk?uploadId=U&partNumber=1&uploads".parse().unwrap());
        let cr = canonical_request("PUT", &t, &headers, &["host".to_string()], None);
        assert_eq!(
            cr,
            "PUT\n/b/d/k\npartNumber=1&uploadId=U&uploads\n\
             content-type:text/plain\nhost:127.0.0.1\nx-oss-content-sha256:UNSIGNED-PAYLOAD\n\
             x-oss-date:20240101T000000Z\n\nhost\nUNSIGNED-PAYLOAD"
        );
    }
}
