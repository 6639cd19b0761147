//! Web identity on AWS (EKS IRSA, GitHub Actions and other OIDC platforms):
//! STS `AssumeRoleWithWebIdentity` with `AWS_ROLE_ARN` and the token in
//! `AWS_WEB_IDENTITY_TOKEN_FILE` (or a profile's `role_arn` and
//! `web_identity_token_file`). STS is at `AWS_ENDPOINT_URL_STS` (else
//! `AWS_ENDPOINT_URL`) when set, else the region's (`AWS_REGION`,
//! `AWS_DEFAULT_REGION`), else `sts.amazonaws.com`.

use super::fetch::{send, xml_text, Request};
use super::{credentials, time, Failed, Found, Step, Vars};
use http::Method;
use std::time::Duration;

const TIMEOUT: Duration = Duration::from_secs(15);

/// The role the variables name; none when neither is set, an error when
/// only one is.
pub(super) async fn from_env(v: &Vars) -> Result<Step, Failed> {
    match (v.get("AWS_ROLE_ARN"), v.get("AWS_WEB_IDENTITY_TOKEN_FILE")) {
        (None, None) => Ok(Step::Absent(
            "web identity (AWS_WEB_IDENTITY_TOKEN_FILE, AWS_ROLE_ARN not set)".into(),
        )),
        (Some(role), Some(file)) => {
            let session = v.get("AWS_ROLE_SESSION_NAME");
            assume(v, &role, &file, session, "web identity")
                .await
                .map(Step::Found)
        }
        _ => Err(
            "web identity needs both AWS_WEB_IDENTITY_TOKEN_FILE and AWS_ROLE_ARN set; \
                  set the missing one or unset the other"
                .into(),
        ),
    }
}

fn endpoint(v: &Vars) -> String {
    v.first(&["AWS_ENDPOINT_URL_STS", "AWS_ENDPOINT_URL"])
        .unwrap_or_else(|| match v.first(&["AWS_REGION", "AWS_DEFAULT_REGION"]) {
            Some(region) => format!("https://sts.{region}.amazonaws.com"),
            None => "https://sts.amazonaws.com".into(),
        })
}

/// `AssumeRoleWithWebIdentity` for `role` with the token in `token_file`.
pub(super) async fn assume(
    v: &Vars,
    role: &str,
    token_file: &str,
    session: Option<String>,
    label: &str,
) -> Result<Found, Failed> {
    let token = std::fs::read_to_string(v.expand(token_file)).map_err(|e| {
        format!("{label}: the web identity token file {token_file} cannot be read ({e})")
    })?;
    let base = endpoint(v);
    let mut req = Request::get(format!("{}/", base.trim_end_matches('/')), TIMEOUT);
    req.method = Method::POST;
    req.form = Some(vec![
        ("Action", "AssumeRoleWithWebIdentity".into()),
        ("Version", "2011-06-15".into()),
        ("RoleArn", role.to_string()),
        (
            "RoleSessionName",
            session.unwrap_or_else(|| format!("ferry-{}", std::process::id())),
        ),
        ("WebIdentityToken", token.trim().to_string()),
    ]);
    let a = send(req).await.map_err(|e| format!("{label}: STS {e}"))?;
    let field = |name| xml_text(&a.body, name);
    match (field("AccessKeyId"), field("SecretAccessKey")) {
        (Some(id), Some(secret)) if a.ok() => Ok(Found::new(
            credentials(id, secret, field("SessionToken")),
            field("Expiration").as_deref().and_then(time::parse),
            format!("{label} for {role}"),
        )),
        _ => Err(format!(
            "{label}: STS at {} refused to let {role} be assumed (HTTP {}{}); check the role's \
             trust policy and that the token has not expired",
            ferry_rules::redact(&base),
            a.status,
            field("Code").map(|c| format!(", {c}")).unwrap_or_default()
        )),
    }
}
