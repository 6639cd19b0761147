//! An instance's role from its metadata service: the ECS instance RAM role
//! (Alibaba Cloud, `100.100.100.200`) and the EC2 instance role (AWS,
//! `169.254.169.254`). Both are asked as their SDKs ask: a session token
//! first (`PUT /latest/api/token`, IMDSv2), then the role's name and the
//! role's credentials with that token; without a token service the request
//! is made without one unless that fallback is switched off.

use super::fetch::{send, Answer, Request};
use super::{credentials, time, Failed, Found, Step, Vars};
use http::Method;
use serde::Deserialize;
use std::time::Duration;

/// How long a metadata service has to answer: off an instance nothing
/// answers, and the chain should not wait for it long.
const TIMEOUT: Duration = Duration::from_secs(2);

/// One vendor's metadata service.
struct Service {
    /// What the chain calls it.
    label: &'static str,
    endpoint: String,
    token_ttl_header: &'static str,
    token_header: &'static str,
    roles_path: &'static str,
    /// Ask without a token when the token service does not answer it.
    v1_fallback: bool,
    /// The variable that switches this provider off, when it is `true`.
    off_switch: &'static str,
}

/// The credentials a metadata service or a container endpoint answers with.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct RoleCredentials {
    pub access_key_id: String,
    /// AWS names it `SecretAccessKey`, Alibaba `AccessKeySecret`.
    #[serde(alias = "AccessKeySecret")]
    pub secret_access_key: String,
    /// AWS: `Token` (`SessionToken` from a credential process); Alibaba:
    /// `SecurityToken`.
    #[serde(alias = "SecurityToken", alias = "SessionToken")]
    pub token: Option<String>,
    pub expiration: Option<String>,
}

/// The ECS instance RAM role: `role` (a profile's `role_name`), else
/// `ALIBABA_CLOUD_ECS_METADATA`, else the one the instance has. The
/// service is at `ALIBABA_CLOUD_ECS_METADATA_SERVICE_ENDPOINT` when set;
/// `ALIBABA_CLOUD_ECS_METADATA_DISABLED=true` skips it and
/// `ALIBABA_CLOUD_IMDSV1_DISABLED=true` requires a token.
pub(super) async fn ecs_ram_role(v: &Vars, role: Option<String>) -> Result<Step, Failed> {
    let service = Service {
        label: "the ECS instance RAM role",
        endpoint: v
            .get("ALIBABA_CLOUD_ECS_METADATA_SERVICE_ENDPOINT")
            .unwrap_or_else(|| "http://100.100.100.200".into()),
        token_ttl_header: "x-aliyun-ecs-metadata-token-ttl-seconds",
        token_header: "x-aliyun-ecs-metadata-token",
        roles_path: "/latest/meta-data/ram/security-credentials/",
        v1_fallback: !v.is_true("ALIBABA_CLOUD_IMDSV1_DISABLED"),
        off_switch: "ALIBABA_CLOUD_ECS_METADATA_DISABLED",
    };
    service
        .provide(v, role.or_else(|| v.get("ALIBABA_CLOUD_ECS_METADATA")))
        .await
}

/// The EC2 instance role, from `AWS_EC2_METADATA_SERVICE_ENDPOINT` when set;
/// `AWS_EC2_METADATA_DISABLED=true` skips it and
/// `AWS_EC2_METADATA_V1_DISABLED=true` requires a token.
pub(super) async fn ec2_role(v: &Vars) -> Result<Step, Failed> {
    let service = Service {
        label: "the EC2 instance role",
        endpoint: v
            .get("AWS_EC2_METADATA_SERVICE_ENDPOINT")
            .unwrap_or_else(|| "http://169.254.169.254".into()),
        token_ttl_header: "x-aws-ec2-metadata-token-ttl-seconds",
        token_header: "x-aws-ec2-metadata-token",
        roles_path: "/latest/meta-data/iam/security-credentials/",
        v1_fallback: !v.is_true("AWS_EC2_METADATA_V1_DISABLED"),
        off_switch: "AWS_EC2_METADATA_DISABLED",
    };
    service.provide(v, None).await
}

impl RoleCredentials {
    /// The credentials in a JSON answer, if it holds them.
    pub(super) fn read(body: &str, from: String) -> Option<Found> {
        let c: RoleCredentials = serde_json::from_str(body).ok()?;
        Some(Found::new(
            credentials(c.access_key_id, c.secret_access_key, c.token),
            c.expiration.as_deref().and_then(time::parse),
            from,
        ))
    }
}

impl Service {
    async fn provide(&self, v: &Vars, role: Option<String>) -> Result<Step, Failed> {
        if v.is_true(self.off_switch) {
            return Ok(Step::Absent(format!(
                "{} ({})",
                self.label, self.off_switch
            )));
        }
        let base = self.endpoint.trim_end_matches('/');
        let where_ = format!("{} at {}", self.label, ferry_rules::redact(base));
        let mut token_req = Request::get(format!("{base}/latest/api/token"), TIMEOUT)
            .header(self.token_ttl_header, "21600");
        token_req.method = Method::PUT;
        let token = match send(token_req).await {
            // Off an instance: nothing answers.
            Err(e) => return Ok(Step::Absent(format!("{where_} ({e})"))),
            Ok(a) if a.ok() => Some(a.body.trim().to_string()),
            Ok(a) if self.v1_fallback => {
                tracing::debug!(status = a.status, "no metadata token; asking without one");
                None
            }
            Ok(a) => {
                return Err(format!(
                    "{where_} gave no session token (HTTP {}) and asking without one is \
                     switched off",
                    a.status
                ))
            }
        };
        let get = |path: String| {
            let mut req = Request::get(format!("{base}{path}"), TIMEOUT);
            if let Some(t) = &token {
                req = req.header(self.token_header, t.clone());
            }
            send(req)
        };
        let role = match role {
            Some(role) => role,
            None => {
                let a = get(self.roles_path.to_string())
                    .await
                    .map_err(|e| format!("{where_}: {e}"))?;
                match a.body.lines().map(str::trim).find(|l| !l.is_empty()) {
                    Some(role) if a.ok() => role.to_string(),
                    _ if a.status == 404 || a.ok() => {
                        return Ok(Step::Absent(format!("{where_} (the instance has no role)")))
                    }
                    _ => return Err(status_error(&where_, "the role's name", &a)),
                }
            }
        };
        let a = get(format!("{}{role}", self.roles_path))
            .await
            .map_err(|e| format!("{where_}: {e}"))?;
        if !a.ok() {
            return Err(status_error(
                &where_,
                &format!("role {role}'s credentials"),
                &a,
            ));
        }
        RoleCredentials::read(&a.body, format!("{} {role}", self.label))
            .map(Step::Found)
            .ok_or_else(|| format!("{where_} answered with no credentials for role {role}"))
    }
}

fn status_error(where_: &str, what: &str, a: &Answer) -> String {
    format!("{where_} refused {what} (HTTP {})", a.status)
}
