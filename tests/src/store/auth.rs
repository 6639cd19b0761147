//! Authenticating a request as received: which scheme it uses (OSS V1 or
//! V4, or AWS SigV4 from an S3 client; header or presigned URL), whose key
//! it names, whether an STS key carries its token, whether the time is right
//! and the signature matches.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hyper::HeaderMap;

use super::error::OssError;
use super::request::Target;
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
                return self.v4_header(rest, method, target, headers, now);
            }
            if let Some(rest) = auth.strip_prefix("OSS ") {
                return self.v1_header(rest, method, target, headers, now);
            }
            if let Some(rest) = auth.strip_prefix("AWS4-HMAC-SHA256 ") {
                return self.aws_header(rest, method, target, headers, now);
            }
            return Err(OssError::AccessDenied(
                "Authorization header is invalid or uses an unsupported signature version.".into(),
            ));
        }
        if target.has("x-oss-signature-version") {
            return self.v4_query(method, target, headers, now);
        }
        if target.has("X-Amz-Algorithm") {
            return self.aws_query(method, target, headers, now);
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

    fn v4_header(
        &self,
        rest: &str,
        method: &str,
        target: &Target,
        headers: &HeaderMap,
        now: SystemTime,
    ) -> Result<Authenticated, OssError> {
        let mut credential = None;
        let mut additional = Vec::new();
        let mut provided = None;
        for item in rest.split(',') {
            match item.trim().split_once('=') {
                Some(("Credential", v)) => credential = Some(v),
                Some(("AdditionalHeaders", v)) => additional = split_headers(v),
                Some(("Signature", v)) => provided = Some(v),
                _ => {}
            }
        }
        let (Some(credential), Some(provided)) = (credential, provided) else {
            return Err(OssError::AccessDenied(
                "Authorization header requires Credential and Signature.".into(),
            ));
        };
        let scope = self.scope(credential)?;
        let cred = self.credential(scope.key_id)?;
        check_token(cred, header_str(headers, "x-oss-security-token"))?;
        let datetime = header_str(headers, "x-oss-date")
            .ok_or_else(|| OssError::AccessDenied("The x-oss-date header is missing.".into()))?;
        let when = time_format::parse_compact(&datetime).ok_or_else(|| {
            OssError::argument("x-oss-date", &datetime, "Invalid x-oss-date format.")
        })?;
        check_skew(when, now)?;
        if !datetime.starts_with(scope.date) {
            return Err(OssError::AccessDenied(
                "The credential date does not match x-oss-date.".into(),
            ));
        }
        let canonical = sign_v4::canonical_request(method, target, headers, &additional, None);
        let sts = sign_v4::string_to_sign(&datetime, self.region, &canonical);
        let expected = sign_v4::signature(&cred.secret, scope.date, self.region, &sts);
        verify(cred, provided, &expected, sts)?;
        Ok(Authenticated {
            key_id: scope.key_id.to_string(),
            scheme: Scheme::V4Header,
        })
    }

    fn v4_query(
        &self,
        method: &str,
        target: &Target,
        headers: &HeaderMap,
        now: SystemTime,
    ) -> Result<Authenticated, OssError> {
        let version = target.param("x-oss-signature-version").unwrap_or("");
        if version != sign_v4::ALGORITHM {
            return Err(OssError::argument(
                "x-oss-signature-version",
                version,
                "Unsupported signature version.",
            ));
        }
        let (Some(credential), Some(datetime), Some(expires), Some(provided)) = (
            target.param("x-oss-credential"),
            target.param("x-oss-date"),
            target.param("x-oss-expires"),
            target.param("x-oss-signature"),
        ) else {
            return Err(OssError::AccessDenied(
                "Query-string authentication requires x-oss-credential, x-oss-date, x-oss-expires and x-oss-signature.".into(),
            ));
        };
        let scope = self.scope(credential)?;
        let cred = self.credential(scope.key_id)?;
        check_token(
            cred,
            target.param("x-oss-security-token").map(str::to_string),
        )?;
        let when = time_format::parse_compact(datetime).ok_or_else(|| {
            OssError::argument("x-oss-date", datetime, "Invalid x-oss-date format.")
        })?;
        let lifetime: u64 = expires
            .parse()
            .map_err(|_| OssError::argument("x-oss-expires", expires, "Invalid x-oss-expires."))?;
        if when + Duration::from_secs(lifetime) < now {
            return Err(OssError::AccessDenied("Request has expired.".into()));
        }
        if when > now + MAX_SKEW {
            return Err(skewed(when, now));
        }
        if !datetime.starts_with(scope.date) {
            return Err(OssError::AccessDenied(
                "The credential date does not match x-oss-date.".into(),
            ));
        }
        let additional = target
            .param("x-oss-additional-headers")
            .map(split_headers)
            .unwrap_or_default();
        let canonical = sign_v4::canonical_request(
            method,
            target,
            headers,
            &additional,
            Some("x-oss-signature"),
        );
        let sts = sign_v4::string_to_sign(datetime, self.region, &canonical);
        let expected = sign_v4::signature(&cred.secret, scope.date, self.region, &sts);
        verify(cred, provided, &expected, sts)?;
        Ok(Authenticated {
            key_id: scope.key_id.to_string(),
            scheme: Scheme::V4Query,
        })
    }

    fn aws_header(
        &self,
        rest: &str,
        method: &str,
        target: &Target,
        headers: &HeaderMap,
        now: SystemTime,
    ) -> Result<Authenticated, OssError> {
        let mut credential = None;
        let mut signed = Vec::new();
        let mut provided = None;
        for item in rest.split(',') {
            match item.trim().split_once('=') {
                Some(("Credential", v)) => credential = Some(v),
                Some(("SignedHeaders", v)) => signed = split_headers(v),
                Some(("Signature", v)) => provided = Some(v),
                _ => {}
            }
        }
        let (Some(credential), Some(provided)) = (credential, provided) else {
            return Err(OssError::AccessDenied(
                "Authorization header requires Credential, SignedHeaders and Signature.".into(),
            ));
        };
        if !signed.iter().any(|h| h == "host") {
            return Err(OssError::AccessDenied(
                "SigV4 requires the host header to be signed.".into(),
            ));
        }
        let scope = self.aws_scope(credential)?;
        let cred = self.credential(scope.key_id)?;
        check_token(cred, header_str(headers, "x-amz-security-token"))?;
        let datetime = header_str(headers, "x-amz-date")
            .ok_or_else(|| OssError::AccessDenied("The x-amz-date header is missing.".into()))?;
        let when = time_format::parse_compact(&datetime).ok_or_else(|| {
            OssError::argument("x-amz-date", &datetime, "Invalid x-amz-date format.")
        })?;
        check_skew(when, now)?;
        if !datetime.starts_with(scope.date) {
            return Err(OssError::AccessDenied(
                "The credential date does not match x-amz-date.".into(),
            ));
        }
        let canonical = sign_aws::canonical_request(method, target, headers, &signed, false);
        let sts = sign_aws::string_to_sign(&datetime, self.region, &canonical);
        let expected = sign_aws::signature(&cred.secret, scope.date, self.region, &sts);
        verify(cred, provided, &expected, sts)?;
        Ok(Authenticated {
            key_id: scope.key_id.to_string(),
            scheme: Scheme::AwsHeader,
        })
    }

    fn aws_query(
        &self,
        method: &str,
        target: &Target,
        headers: &HeaderMap,
        now: SystemTime,
    ) -> Result<Authenticated, OssError> {
        let algorithm = target.param("X-Amz-Algorithm").unwrap_or("");
        if algorithm != sign_aws::ALGORITHM {
            return Err(OssError::argument(
                "X-Amz-Algorithm",
                algorithm,
                "Unsupported signature algorithm.",
            ));
        }
        let (Some(credential), Some(datetime), Some(expires), Some(signed), Some(provided)) = (
            target.param("X-Amz-Credential"),
            target.param("X-Amz-Date"),
            target.param("X-Amz-Expires"),
            target.param("X-Amz-SignedHeaders"),
            target.param("X-Amz-Signature"),
        ) else {
            return Err(OssError::AccessDenied(
                "Query-string authentication requires X-Amz-Credential, X-Amz-Date, X-Amz-Expires, X-Amz-SignedHeaders and X-Amz-Signature.".into(),
            ));
        };
        let scope = self.aws_scope(credential)?;
        let cred = self.credential(scope.key_id)?;
        check_token(
            cred,
            target.param("X-Amz-Security-Token").map(str::to_string),
        )?;
        let when = time_format::parse_compact(datetime).ok_or_else(|| {
            OssError::argument("X-Amz-Date", datetime, "Invalid X-Amz-Date format.")
        })?;
        let lifetime: u64 = expires
            .parse()
            .map_err(|_| OssError::argument("X-Amz-Expires", expires, "Invalid X-Amz-Expires."))?;
        if when + Duration::from_secs(lifetime) < now {
            return Err(OssError::AccessDenied("Request has expired.".into()));
        }
        if when > now + MAX_SKEW {
            return Err(skewed(when, now));
        }
        if !datetime.starts_with(scope.date) {
            return Err(OssError::AccessDenied(
                "The credential date does not match X-Amz-Date.".into(),
            ));
        }
        let signed = split_headers(signed);
        let canonical = sign_aws::canonical_request(method, target, headers, &signed, true);
        let sts = sign_aws::string_to_sign(datetime, self.region, &canonical);
        let expected = sign_aws::signature(&cred.secret, scope.date, self.region, &sts);
        verify(cred, provided, &expected, sts)?;
        Ok(Authenticated {
            key_id: scope.key_id.to_string(),
            scheme: Scheme::AwsQuery,
        })
    }

    /// Splits `id/date/region/s3/aws4_request` and checks that the scope is
    /// this store's.
    fn aws_scope<'c>(&self, credential: &'c str) -> Result<Scope<'c>, OssError> {
        self.scope_of(credential, "s3", "aws4_request")
    }

    /// Splits `id/date/region/oss/aliyun_v4_request` and checks that the
    /// scope is this store's.
    fn scope<'c>(&self, credential: &'c str) -> Result<Scope<'c>, OssError> {
        self.scope_of(credential, "oss", "aliyun_v4_request")
    }

    fn scope_of<'c>(
        &self,
        credential: &'c str,
        wanted_service: &str,
        wanted_terminal: &str,
    ) -> Result<Scope<'c>, OssError> {
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
        if service != wanted_service || terminal != wanted_terminal || date.len() != 8 {
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
