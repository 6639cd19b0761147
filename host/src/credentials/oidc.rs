//! OIDC role assumption on Alibaba Cloud (RRSA on ACK, and any platform that
//! mints OIDC tokens): STS `AssumeRoleWithOIDC` with the role ARN, the
//! OIDC provider ARN and the token file, as the Alibaba Cloud SDKs read
//! them from `ALIBABA_CLOUD_ROLE_ARN`, `ALIBABA_CLOUD_OIDC_PROVIDER_ARN` and
//! `ALIBABA_CLOUD_OIDC_TOKEN_FILE`. The STS endpoint is
//! `ALIBABA_CLOUD_STS_ENDPOINT` (a host name, or a whole URL) when set, else
//! the region's (`ALIBABA_CLOUD_STS_REGION`, over the VPC with
//! `ALIBABA_CLOUD_VPC_ENDPOINT_ENABLED=true`), else `sts.aliyuncs.com`.

use super::fetch::{send, Answer, Request};
use super::{credentials, time, Failed, Found, Step, Vars};
use http::Method;
use serde::Deserialize;
use std::time::Duration;

const TIMEOUT: Duration = Duration::from_secs(15);

/// A role to assume with an OIDC token.
pub(super) struct OidcRole {
    pub role_arn: String,
    pub provider_arn: String,
    pub token_file: String,
    pub session_name: Option<String>,
}

/// The role the variables name; none when none of them is set, an error when
/// only some are.
pub(super) async fn from_env(v: &Vars) -> Result<Step, Failed> {
    const NAMES: [&str; 3] = [
        "ALIBABA_CLOUD_ROLE_ARN",
        "ALIBABA_CLOUD_OIDC_PROVIDER_ARN",
        "ALIBABA_CLOUD_OIDC_TOKEN_FILE",
    ];
    let [role, provider, file] = NAMES.map(|n| v.get(n));
    match (role, provider, file) {
        (None, None, None) => Ok(Step::Absent(
            "OIDC role assumption (ALIBABA_CLOUD_ROLE_ARN, ALIBABA_CLOUD_OIDC_PROVIDER_ARN, \
             ALIBABA_CLOUD_OIDC_TOKEN_FILE not set)"
                .into(),
        )),
        (Some(role_arn), Some(provider_arn), Some(token_file)) => {
            let role = OidcRole {
                role_arn,
                provider_arn,
                token_file,
                session_name: v.get("ALIBABA_CLOUD_ROLE_SESSION_NAME"),
            };
            assume(v, &role, "OIDC role assumption")
                .await
                .map(Step::Found)
        }
        _ => Err(format!(
            "OIDC role assumption needs all of {} set; set the missing ones or unset the others",
            NAMES.join(", ")
        )),
    }
}

/// The STS endpoint, as a base URL.
pub(super) fn sts_endpoint(v: &Vars) -> String {
    let host = v.get("ALIBABA_CLOUD_STS_ENDPOINT").unwrap_or_else(|| {
        match v.get("ALIBABA_CLOUD_STS_REGION") {
            Some(region) if v.is_true("ALIBABA_CLOUD_VPC_ENDPOINT_ENABLED") => {
                format!("sts-vpc.{region}.aliyuncs.com")
            }
            Some(region) => format!("sts.{region}.aliyuncs.com"),
            None => "sts.aliyuncs.com".into(),
        }
    });
    if host.contains("://") {
        host
    } else {
        let scheme = v
            .get("ALIBABA_CLOUD_STS_HTTP_SCHEME")
            .unwrap_or_else(|| "https".into())
            .to_ascii_lowercase();
        format!("{scheme}://{host}")
    }
}

/// What STS answers `AssumeRole` and `AssumeRoleWithOIDC` with.
#[derive(Deserialize)]
pub(super) struct StsAnswer {
    #[serde(rename = "Credentials")]
    credentials: Option<StsCredentials>,
    #[serde(rename = "Code")]
    code: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct StsCredentials {
    access_key_id: String,
    access_key_secret: String,
    security_token: String,
    expiration: Option<String>,
}

/// `AssumeRoleWithOIDC` for `role`; `label` names the provider that asked.
pub(super) async fn assume(v: &Vars, role: &OidcRole, label: &str) -> Result<Found, Failed> {
    let token = std::fs::read_to_string(v.expand(&role.token_file)).map_err(|e| {
        format!(
            "{label}: the OIDC token file {} cannot be read ({e})",
            role.token_file
        )
    })?;
    let base = sts_endpoint(v);
    let sts = ferry_rules::redact(&base);
    let mut req = Request::get(format!("{}/", base.trim_end_matches('/')), TIMEOUT);
    req.method = Method::POST;
    req.form = Some(vec![
        ("Action", "AssumeRoleWithOIDC".into()),
        ("Format", "JSON".into()),
        ("Version", "2015-04-01".into()),
        ("Timestamp", time::now_rfc3339()),
        ("RoleArn", role.role_arn.clone()),
        ("OIDCProviderArn", role.provider_arn.clone()),
        ("OIDCToken", token.trim().to_string()),
        (
            "RoleSessionName",
            role.session_name
                .clone()
                .unwrap_or_else(|| format!("ferry-{}", std::process::id())),
        ),
        ("DurationSeconds", "3600".into()),
    ]);
    let a = send(req).await.map_err(|e| format!("{label}: STS {e}"))?;
    StsAnswer::read(&a, &sts, &role.role_arn, label)
}

impl StsAnswer {
    /// The credentials in STS's answer `a`, or why `role_arn` was not
    /// assumed (`sts` is where it was asked, shown).
    pub(super) fn read(
        a: &Answer,
        sts: &str,
        role_arn: &str,
        label: &str,
    ) -> Result<Found, Failed> {
        let parsed: Option<StsAnswer> = serde_json::from_str(&a.body).ok();
        match parsed {
            Some(StsAnswer {
                credentials: Some(c),
                ..
            }) if a.ok() => Ok(Found::new(
                credentials(c.access_key_id, c.access_key_secret, Some(c.security_token)),
                c.expiration.as_deref().and_then(time::parse),
                format!("{label} of {role_arn}"),
            )),
            other => Err(format!(
                "{label}: STS at {sts} refused to let {role_arn} be assumed (HTTP {}{}); check \
                 the role's trust policy and what the caller may assume",
                a.status,
                other
                    .and_then(|o| o.code)
                    .map(|c| format!(", {c}"))
                    .unwrap_or_default()
            )),
        }
    }
}
