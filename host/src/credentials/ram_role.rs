//! A RAM role assumed with a key (`type = ram_role_arn` in
//! `~/.alibabacloud/credentials`, mode `RamRoleArn` in the aliyun CLI):
//! STS `AssumeRole`, signed as Alibaba Cloud's RPC APIs are (HMAC-SHA1 over
//! the sorted, percent-encoded parameters, keyed by the secret and `&`).
//! STS is where [`super::oidc`] finds it.

use super::fetch::{send, Request};
use super::oidc::{sts_endpoint, StsAnswer};
use super::{time, Failed, Found, Vars};
use crate::transfer::Credentials;
use base64::Engine;
use http::Method;
use std::time::Duration;

const TIMEOUT: Duration = Duration::from_secs(15);

/// A role to assume with `key`.
pub(super) struct RamRole {
    pub key: Credentials,
    pub role_arn: String,
    pub session_name: Option<String>,
    pub external_id: Option<String>,
    pub policy: Option<String>,
}

/// Alibaba Cloud's percent-encoding: RFC 3986 unreserved characters stay.
fn encode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
        .replace('*', "%2A")
        .replace("%7E", "~")
}

/// `params` with their `Signature`, for a POST to `/`.
pub(super) fn sign(params: &mut Vec<(&'static str, String)>, secret: &str) {
    params.sort_by(|a, b| a.0.cmp(b.0));
    let canonical = params
        .iter()
        .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
        .collect::<Vec<_>>()
        .join("&");
    let to_sign = format!("POST&{}&{}", encode("/"), encode(&canonical));
    let key = ring::hmac::Key::new(
        ring::hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY,
        format!("{secret}&").as_bytes(),
    );
    let signature = ring::hmac::sign(&key, to_sign.as_bytes());
    params.push((
        "Signature",
        base64::engine::general_purpose::STANDARD.encode(signature.as_ref()),
    ));
}

/// A value used once per request.
fn nonce() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("{nanos:x}-{:x}", std::process::id())
}

pub(super) async fn assume(v: &Vars, role: RamRole, label: &str) -> Result<Found, Failed> {
    let base = sts_endpoint(v);
    let mut params: Vec<(&'static str, String)> = vec![
        ("Action", "AssumeRole".into()),
        ("Format", "JSON".into()),
        ("Version", "2015-04-01".into()),
        ("AccessKeyId", role.key.access_key_id.clone()),
        ("SignatureMethod", "HMAC-SHA1".into()),
        ("SignatureVersion", "1.0".into()),
        ("SignatureNonce", nonce()),
        ("Timestamp", time::now_rfc3339()),
        ("RoleArn", role.role_arn.clone()),
        (
            "RoleSessionName",
            role.session_name
                .unwrap_or_else(|| format!("ferry-{}", std::process::id())),
        ),
        ("DurationSeconds", "3600".into()),
    ];
    if let Some(token) = &role.key.security_token {
        params.push(("SecurityToken", token.clone()));
    }
    if let Some(id) = role.external_id {
        params.push(("ExternalId", id));
    }
    if let Some(policy) = role.policy {
        params.push(("Policy", policy));
    }
    sign(&mut params, &role.key.access_key_secret);
    let mut req = Request::get(format!("{}/", base.trim_end_matches('/')), TIMEOUT);
    req.method = Method::POST;
    req.form = Some(params);
    let a = send(req).await.map_err(|e| format!("{label}: STS {e}"))?;
    StsAnswer::read(&a, &ferry_rules::redact(&base), &role.role_arn, label)
}
