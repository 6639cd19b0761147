//! Authenticating a request as received: which scheme it uses (OSS V1 or
//! V4, or AWS SigV4 from an S3 client; header or presigned URL), whose key
//! it names, whether an STS key carries its token, whether the time is right
//! and the signature matches.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hyper::HeaderMap;

use super::error::OssError;
use super::request::Target;
use super::sign_v4::Family;
use super::{sign_aws, sign_v1, sign_v4, Credential};
use crate::time_format;

/// OSS refuses requests whose time is off by more than 15 minutes.
pub const MAX_SKEW: Duration = Duration::from_secs(15 * 60);

/// How a request was signed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scheme {
    V1Header,
    V1Query,
    V4Header,
    V4Query,
    /// AWS SigV4, as S3 clients sign.
    AwsHeader,
    AwsQuery,
}

/// A request that passed authentication.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Authenticated {
    pub key_id: String,
    pub scheme: Scheme,
}

/// The keys and region a store accepts.
pub struct Authority<'a> {
    pub region: &'a str,
    pub credentials: &'a [Credential],
}

impl Authority<'_> {
    /// Verifies `method target headers` at time `now`.
    pub fn authenticate(
        &self,
        method: &str,
        target: &Target,
        headers: &HeaderMap,
        now: SystemTime,
    ) -> Result<Authenticated, OssError> {
        let authorization = headers
            .get("authorization")
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
        if let Some(auth) = authorization {
            if let Some(rest) = auth.strip_prefix("OSS4-HMAC-SHA256 ") {
                return self.v4_header(&OSS_NAMES, rest, method, target, headers, now);
            }
            if let Some(rest) = auth.strip_prefix("OSS ") {
                return self.v1_header(rest, method, target, headers, now);
            }
            if let Some(rest) = auth.strip_prefix("AWS4-HMAC-SHA256 ") {
                return self.v4_header(&AWS_NAMES, rest, method, target, headers, now);
            }
            return Err(OssError::AccessDenied(
                "Authorization header is invalid or uses an unsupported signature version.".into(),
            ));
        }
        if target.has("x-oss-signature-version") {
            return self.v4_query(&OSS_NAMES, method, target, headers, now);
        }
        if target.has("X-Amz-Algorithm") {
            return self.v4_query(&AWS_NAMES, method, target, headers, now);
        }
        if target.has("OSSAccessKeyId") || target.has("Signature") {
            return self.v1_query(method, target, headers, now);
        }
        Err(OssError::AccessDenied(
            "Anonymous access is forbidden for this operation.".into(),
        ))
    }

    fn v1_header(
        &self,
        rest: &str,
        method: &str,
        target: &Target,
        headers: &HeaderMap,
        now: SystemTime,
    ) -> Result<Authenticated, OssError> {
        let (key_id, provided) = rest
            .trim()
            .rsplit_once(':')
            .ok_or_else(|| OssError::AccessDenied("Authorization header is invalid.".into()))?;
        let cred = self.credential(key_id)?;
        check_token(cred, header_str(headers, "x-oss-security-token"))?;
        // oss2 signs x-oss-date in place of Date when both are present.
        let date = header_str(headers, "x-oss-date")
            .or_else(|| header_str(headers, "date"))
            .ok_or_else(|| OssError::AccessDenied("The Date header is missing.".into()))?;
        let when = httpdate::parse_http_date(&date)
            .map_err(|_| OssError::AccessDenied(format!("Invalid Date header: {date}")))?;
        check_skew(when, now)?;
        let sts = sign_v1::string_to_sign(method, target, headers, &date);
        verify(cred, provided, &sign_v1::signature(&cred.secret, &sts), sts)?;
        Ok(Authenticated {
            key_id: key_id.to_string(),
            scheme: Scheme::V1Header,
        })
    }

    fn v1_query(
        &self,
        method: &str,
        target: &Target,
        headers: &HeaderMap,
        now: SystemTime,
    ) -> Result<Authenticated, OssError> {
        let (Some(key_id), Some(expires), Some(provided)) = (
            target.param("OSSAccessKeyId"),
            target.param("Expires"),
            target.param("Signature"),
        ) else {
            return Err(OssError::AccessDenied(
                "Query-string authentication requires the Signature, Expires and OSSAccessKeyId parameters".into(),
            ));
        };
        let cred = self.credential(key_id)?;
        check_token(cred, target.param("security-token").map(str::to_string))?;
        let deadline: u64 = expires
            .parse()
            .map_err(|_| OssError::argument("Expires", expires, "Invalid Expires."))?;
        if UNIX_EPOCH + Duration::from_secs(deadline) < now {
            return Err(OssError::AccessDenied("Request has expired.".into()));
        }
        let sts = sign_v1::string_to_sign(method, target, headers, expires);
        verify(cred, provided, &sign_v1::signature(&cred.secret, &sts), sts)?;
        Ok(Authenticated {
            key_id: key_id.to_string(),
            scheme: Scheme::V1Query,
        })
    }

    /// A V4-style `Authorization` header (OSS V4 or AWS SigV4): its
    /// credential scope, the headers it lists, its date and its signature.
    fn v4_header(
        &self,
        names: &V4Names,
        rest: &str,
        method: &str,
        target: &Target,
        headers: &HeaderMap,
        now: SystemTime,
    ) -> Result<Authenticated, OssError> {
        let mut credential = None;
        let mut listed = Vec::new();
        let mut provided = None;
        for item in rest.split(',') {
            match item.trim().split_once('=') {
                Some(("Credential", v)) => credential = Some(v),
                Some((k, v)) if k == names.headers_param => listed = split_headers(v),
                Some(("Signature", v)) => provided = Some(v),
                _ => {}
            }
        }
        let (Some(credential), Some(provided)) = (credential, provided) else {
            return Err(OssError::AccessDenied(
                "Authorization header requires Credential and Signature.".into(),
            ));
        };
        names.check_listed(&listed)?;
        let scope = self.scope(names.family, credential)?;
        let cred = self.credential(scope.key_id)?;
        check_token(cred, header_str(headers, names.token_header))?;
        let datetime = header_str(headers, names.date_header).ok_or_else(|| {
            OssError::AccessDenied(format!("The {} header is missing.", names.date_header))
        })?;
        let when = time_format::parse_compact(&datetime).ok_or_else(|| {
            OssError::argument(names.date_header, &datetime, "Invalid date format.")
        })?;
        check_skew(when, now)?;
        if !datetime.starts_with(scope.date) {
            return Err(OssError::AccessDenied(format!(
                "The credential date does not match {}.",
                names.date_header
            )));
        }
        let canonical = names.canonical(method, target, headers, &listed, false);
        let sts = names
            .family
            .string_to_sign(&datetime, self.region, &canonical);
        let expected = names
            .family
            .signature(&cred.secret, scope.date, self.region, &sts);
        verify(cred, provided, &expected, sts)?;
        Ok(Authenticated {
            key_id: scope.key_id.to_string(),
            scheme: names.header_scheme,
        })
    }

    /// A V4-style presigned URL (OSS V4 or AWS SigV4).
    fn v4_query(
        &self,
        names: &V4Names,
        method: &str,
        target: &Target,
        headers: &HeaderMap,
        now: SystemTime,
    ) -> Result<Authenticated, OssError> {
        let q = &names.query;
        let algorithm = target.param(q.algorithm).unwrap_or("");
        if algorithm != names.family.algorithm {
            return Err(OssError::argument(
                q.algorithm,
                algorithm,
                "Unsupported signature version.",
            ));
        }
        let (Some(credential), Some(datetime), Some(expires), Some(provided)) = (
            target.param(q.credential),
            target.param(q.date),
            target.param(q.expires),
            target.param(q.signature),
        ) else {
            return Err(OssError::AccessDenied(format!(
                "Query-string authentication requires {}, {}, {} and {}.",
                q.credential, q.date, q.expires, q.signature
            )));
        };
        let listed = target
            .param(q.headers)
            .map(split_headers)
            .unwrap_or_default();
        names.check_listed(&listed)?;
        let scope = self.scope(names.family, credential)?;
        let cred = self.credential(scope.key_id)?;
        check_token(cred, target.param(q.token).map(str::to_string))?;
        let when = time_format::parse_compact(datetime)
            .ok_or_else(|| OssError::argument(q.date, datetime, "Invalid date format."))?;
        let lifetime: u64 = expires
            .parse()
            .map_err(|_| OssError::argument(q.expires, expires, "Invalid expiry."))?;
        if when + Duration::from_secs(lifetime) < now {
            return Err(OssError::AccessDenied("Request has expired.".into()));
        }
        if when > now + MAX_SKEW {
            return Err(skewed(when, now));
        }
        if !datetime.starts_with(scope.date) {
            return Err(OssError::AccessDenied(format!(
                "The credential date does not match {}.",
                q.date
            )));
        }
        let canonical = names.canonical(method, target, headers, &listed, true);
        let sts = names
            .family
            .string_to_sign(datetime, self.region, &canonical);
        let expected = names
            .family
            .signature(&cred.secret, scope.date, self.region, &sts);
        verify(cred, provided, &expected, sts)?;
        Ok(Authenticated {
            key_id: scope.key_id.to_string(),
            scheme: names.query_scheme,
        })
    }

    /// Splits `id/date/region/service/terminal` and checks that the scope
    /// is this store's and the scheme's.
    fn scope<'c>(&self, family: &Family, credential: &'c str) -> Result<Scope<'c>, OssError> {
        let parts: Vec<&str> = credential.split('/').collect();
        let [key_id, date, region, service, terminal] = parts[..] else {
            return Err(OssError::AccessDenied(format!(
                "Invalid credential scope: {credential}"
            )));
        };
        // Look the key up first so an unknown key reads as such.
        self.credential(key_id)?;
        if region != self.region {
            return Err(OssError::AccessDenied(format!(
                "Invalid signing region in the credential: {region}, expected {}.",
                self.region
            )));
        }
        if service != family.service || terminal != family.terminal || date.len() != 8 {
            return Err(OssError::AccessDenied(format!(
                "Invalid credential scope: {credential}"
            )));
        }
        Ok(Scope { key_id, date })
    }

    fn credential(&self, key_id: &str) -> Result<&Credential, OssError> {
        self.credentials
            .iter()
            .find(|c| c.id == key_id)
            .ok_or_else(|| OssError::InvalidAccessKeyId {
                key_id: key_id.to_string(),
            })
    }
}

/// Where a V4-style scheme puts its parts, and how it signs.
struct V4Names {
    family: &'static Family,
    /// `AdditionalHeaders` (OSS: signed besides `x-oss-*`) or
    /// `SignedHeaders` (AWS: exactly these).
    headers_param: &'static str,
    date_header: &'static str,
    token_header: &'static str,
    query: QueryNames,
    header_scheme: Scheme,
    query_scheme: Scheme,
}

/// The presigned URL's parameters.
struct QueryNames {
    algorithm: &'static str,
    credential: &'static str,
    date: &'static str,
    expires: &'static str,
    signature: &'static str,
    token: &'static str,
    headers: &'static str,
}

const OSS_NAMES: V4Names = V4Names {
    family: &sign_v4::OSS_V4,
    headers_param: "AdditionalHeaders",
    date_header: "x-oss-date",
    token_header: "x-oss-security-token",
    query: QueryNames {
        algorithm: "x-oss-signature-version",
        credential: "x-oss-credential",
        date: "x-oss-date",
        expires: "x-oss-expires",
        signature: "x-oss-signature",
        token: "x-oss-security-token",
        headers: "x-oss-additional-headers",
    },
    header_scheme: Scheme::V4Header,
    query_scheme: Scheme::V4Query,
};

const AWS_NAMES: V4Names = V4Names {
    family: &sign_aws::AWS_V4,
    headers_param: "SignedHeaders",
    date_header: "x-amz-date",
    token_header: "x-amz-security-token",
    query: QueryNames {
        algorithm: "X-Amz-Algorithm",
        credential: "X-Amz-Credential",
        date: "X-Amz-Date",
        expires: "X-Amz-Expires",
        signature: "X-Amz-Signature",
        token: "X-Amz-Security-Token",
        headers: "X-Amz-SignedHeaders",
    },
    header_scheme: Scheme::AwsHeader,
    query_scheme: Scheme::AwsQuery,
};

impl V4Names {
    fn is_aws(&self) -> bool {
        self.header_scheme == Scheme::AwsHeader
    }

    /// SigV4 signs `host` always.
    fn check_listed(&self, listed: &[String]) -> Result<(), OssError> {
        if self.is_aws() && !listed.iter().any(|h| h == "host") {
            return Err(OssError::AccessDenied(
                "SigV4 requires the host header to be signed.".into(),
            ));
        }
        Ok(())
    }

    fn canonical(
        &self,
        method: &str,
        target: &Target,
        headers: &HeaderMap,
        listed: &[String],
        query_auth: bool,
    ) -> String {
        if self.is_aws() {
            sign_aws::canonical_request(method, target, headers, listed, query_auth)
        } else {
            let skip = query_auth.then_some(self.query.signature);
            sign_v4::canonical_request(method, target, headers, listed, skip)
        }
    }
}

struct Scope<'c> {
    key_id: &'c str,
    date: &'c str,
}

fn header_str(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
}

fn split_headers(list: &str) -> Vec<String> {
    list.split(';')
        .map(|h| h.trim().to_ascii_lowercase())
        .filter(|h| !h.is_empty())
        .collect()
}

/// An STS key is valid only together with its token.
fn check_token(cred: &Credential, provided: Option<String>) -> Result<(), OssError> {
    let Some(expected) = &cred.token else {
        return Ok(());
    };
    match provided {
        Some(p) if constant_time_eq(p.as_bytes(), expected.as_bytes()) => Ok(()),
        other => Err(OssError::InvalidSecurityToken {
            key_id: cred.id.clone(),
            missing: other.is_none(),
        }),
    }
}

fn check_skew(when: SystemTime, now: SystemTime) -> Result<(), OssError> {
    let off = when
        .duration_since(now)
        .or_else(|_| now.duration_since(when))
        .unwrap_or_default();
    if off > MAX_SKEW {
        return Err(skewed(when, now));
    }
    Ok(())
}

fn skewed(when: SystemTime, now: SystemTime) -> OssError {
    OssError::RequestTimeTooSkewed {
        request_time: time_format::iso8601(when),
        server_time: time_format::iso8601(now),
    }
}

fn verify(
    cred: &Credential,
    provided: &str,
    expected: &str,
    string_to_sign: String,
) -> Result<(), OssError> {
    if constant_time_eq(provided.as_bytes(), expected.as_bytes()) {
        Ok(())
    } else {
        Err(OssError::SignatureDoesNotMatch {
            key_id: cred.id.clone(),
            string_to_sign,
        })
    }
}

/// Comparison whose time does not depend on where the inputs differ.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
