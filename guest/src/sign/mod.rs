//! Request signing: OSS V1 ([`oss_v1`]) and V4 ([`oss_v4`]), and AWS SigV4
//! for S3 ([`s3_v4`]), as `Authorization` headers for the coordinator's own
//! requests and as presigned URLs for part tasks, which then carry no secret.

pub mod oss_v1;
pub mod oss_v4;
pub mod s3_v4;

use crate::SignatureVersion;
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use std::time::SystemTime;

/// An access key, with its STS token when the key is temporary (the type
/// the host uses too).
pub use ferry_rules::Credentials;

/// The parts of a request that a signature covers.
#[derive(Debug, Clone)]
pub struct RequestParts {
    pub method: String,
    pub bucket: String,
    /// The object key, empty for bucket-level requests.
    pub key: String,
    /// Query parameters, not encoded; a value may be empty (`?uploads`).
    pub query: Vec<(String, String)>,
    /// Headers to send; names lowercase.
    pub headers: Vec<(String, String)>,
    /// The `Host` the request goes to (SigV4 signs it).
    pub host: String,
    /// The request path as sent, percent-encoded (SigV4's canonical URI).
    pub path: String,
}

impl RequestParts {
    pub fn new(method: &str, bucket: &str, key: &str) -> Self {
        RequestParts {
            method: method.to_string(),
            bucket: bucket.to_string(),
            key: key.to_string(),
            query: Vec::new(),
            headers: Vec::new(),
            host: String::new(),
            path: String::new(),
        }
    }

    pub fn query(mut self, name: &str, value: &str) -> Self {
        self.query.push((name.to_string(), value.to_string()));
        self
    }

    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers
            .push((name.to_ascii_lowercase(), value.to_string()));
        self
    }

    /// The query string as sent: every name and value percent-encoded.
    pub fn encoded_query(&self) -> String {
        self.query
            .iter()
            .map(|(k, v)| {
                if v.is_empty() {
                    encode(k)
                } else {
                    format!("{}={}", encode(k), encode(v))
                }
            })
            .collect::<Vec<_>>()
            .join("&")
    }
}

/// Characters left as they are by OSS's URI encoding: `A-Za-z0-9-_.~`.
const UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// Percent-encodes everything but the unreserved characters.
pub fn encode(s: &str) -> String {
    utf8_percent_encode(s, UNRESERVED).to_string()
}

/// HMAC-SHA256, the step both V4 schemes derive keys and signatures with.
pub(crate) fn hmac(key: &[u8], data: &str) -> Vec<u8> {
    use hmac::{Hmac, Mac};
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(data.as_bytes());
    mac.finalize().into_bytes().to_vec()
}

/// How a store's requests are signed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// OSS V1 (HMAC-SHA1).
    OssV1,
    /// OSS V4 (`OSS4-HMAC-SHA256`).
    OssV4,
    /// AWS SigV4 for S3 (`AWS4-HMAC-SHA256`).
    S3V4,
}

impl From<SignatureVersion> for Scheme {
    fn from(v: SignatureVersion) -> Scheme {
        match v {
            SignatureVersion::V1 => Scheme::OssV1,
            SignatureVersion::V4 => Scheme::OssV4,
        }
    }
}

/// Signs requests for one store with one set of credentials.
#[derive(Debug, Clone)]
pub struct Signer {
    pub scheme: Scheme,
    pub credentials: Credentials,
    pub region: String,
}

impl Signer {
    /// Adds the authentication headers to `req`; `body` is what will be
    /// sent (SigV4 signs its hash).
    pub fn sign(&self, req: &mut RequestParts, now: SystemTime, body: Option<&[u8]>) {
        let c = &self.credentials;
        match self.scheme {
            Scheme::OssV1 => oss_v1::sign(c, req, now),
            Scheme::OssV4 => oss_v4::sign(c, &self.region, req, now),
            Scheme::S3V4 => {
                let payload = s3_v4::payload_hash(body.unwrap_or_default());
                s3_v4::sign(c, &self.region, req, now, &payload)
            }
        }
    }

    /// Adds the presigning query parameters to `req`, valid `expires_secs`.
    pub fn presign(&self, req: &mut RequestParts, now: SystemTime, expires_secs: u64) {
        let c = &self.credentials;
        match self.scheme {
            Scheme::OssV1 => oss_v1::presign(c, req, now, expires_secs),
            Scheme::OssV4 => oss_v4::presign(c, &self.region, req, now, expires_secs),
            Scheme::S3V4 => s3_v4::presign(c, &self.region, req, now, expires_secs),
        }
    }
}

/// Vectors produced by Alibaba's own Python SDK (oss2 2.19.1) for the same
/// requests at 2025-11-25T10:00:00Z, with an STS key.
#[cfg(test)]
mod sdk_vectors {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    fn signer(version: SignatureVersion) -> Signer {
        Signer {
            scheme: version.into(),
            credentials: Credentials {
                access_key_id: "AKID".into(),
                access_key_secret: "SECRET".into(),
                security_token: Some("TOKEN".into()),
            },
            region: "cn-hangzhou".into(),
        }
    }

    fn now() -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(1_764_064_800)
    }

    fn upload_part(key: &str, n: &str, id: &str) -> RequestParts {
        RequestParts::new("PUT", "bkt", key)
            .query("partNumber", n)
            .query("uploadId", id)
    }

    fn header(req: &RequestParts, name: &str) -> String {
        req.headers
            .iter()
            .find(|(k, _)| k == name)
            .unwrap()
            .1
            .clone()
    }

    #[test]
    fn v4_header_matches_oss2() {
        let mut req = upload_part("dir/a b.bin", "2", "U+1")
            .header("content-type", "application/octet-stream");
        signer(SignatureVersion::V4).sign(&mut req, now(), None);
        assert_eq!(
            header(&req, "authorization"),
            "OSS4-HMAC-SHA256 Credential=AKID/20251125/cn-hangzhou/oss/aliyun_v4_request, \
             Signature=f8bafa1b8214f27f2dfb237101e4b2004f31e0dad35d2e71a68edac15e2d384b"
        );
        assert_eq!(header(&req, "x-oss-security-token"), "TOKEN");
    }

    #[test]
    fn v1_header_matches_oss2() {
        let mut req = upload_part("dir/a b.bin", "2", "U+1")
            .header("content-type", "application/octet-stream");
        signer(SignatureVersion::V1).sign(&mut req, now(), None);
        assert_eq!(header(&req, "date"), "Tue, 25 Nov 2025 10:00:00 GMT");
        assert_eq!(
            header(&req, "authorization"),
            "OSS AKID:De+BN1wpCsyU3v7CYFwNfI/oP+4="
        );
    }

    #[test]
    fn v4_presigned_url_matches_oss2() {
        let mut req = upload_part("k", "7", "UP");
        signer(SignatureVersion::V4).presign(&mut req, now(), 3600);
        assert_eq!(
            req.encoded_query(),
            "partNumber=7&uploadId=UP&x-oss-security-token=TOKEN&x-oss-date=20251125T100000Z\
             &x-oss-expires=3600&x-oss-signature-version=OSS4-HMAC-SHA256\
             &x-oss-credential=AKID%2F20251125%2Fcn-hangzhou%2Foss%2Faliyun_v4_request\
             &x-oss-signature=63d22c82d3a0fbf49c4eb50a8dc5e782fedf57bea731a2d349440f7a33259ffc"
        );
    }

    #[test]
    fn v1_presigned_url_matches_oss2() {
        let mut req = upload_part("k", "7", "UP");
        signer(SignatureVersion::V1).presign(&mut req, now(), 3600);
        assert_eq!(
            req.encoded_query(),
            "partNumber=7&uploadId=UP&security-token=TOKEN&OSSAccessKeyId=AKID\
             &Expires=1764068400&Signature=BDSxvsuLssmPOiF4NxqHJxxS%2Fks%3D"
        );
    }
}
