//! Credentials in variables: OSS_* (ossutil's), ALIBABA_CLOUD_* (the
//! Alibaba Cloud SDKs' and CLI's) and AWS_* (the AWS CLI's and SDKs').

use super::{credentials, Found, Step, Vars};

/// An id, a secret and a token from the first of each list of names.
fn pair(v: &Vars, id: &[&str], secret: &[&str], token: &[&str], label: &str) -> Step {
    match (v.first(id), v.first(secret)) {
        (Some(id), Some(secret)) => Step::Found(Found::new(
            credentials(id, secret, v.first(token)),
            None,
            label,
        )),
        _ => Step::Absent(format!("{label} (not set)")),
    }
}

/// `OSS_ACCESS_KEY_ID`, `OSS_ACCESS_KEY_SECRET`, `OSS_SESSION_TOKEN` (or
/// `OSS_SECURITY_TOKEN`).
pub(super) fn oss(v: &Vars) -> Step {
    pair(
        v,
        &["OSS_ACCESS_KEY_ID"],
        &["OSS_ACCESS_KEY_SECRET"],
        &["OSS_SESSION_TOKEN", "OSS_SECURITY_TOKEN"],
        "OSS_ACCESS_KEY_ID/OSS_ACCESS_KEY_SECRET",
    )
}

/// `ALIBABA_CLOUD_ACCESS_KEY_ID`, `ALIBABA_CLOUD_ACCESS_KEY_SECRET`,
/// `ALIBABA_CLOUD_SECURITY_TOKEN`.
pub(super) fn alibaba(v: &Vars) -> Step {
    pair(
        v,
        &["ALIBABA_CLOUD_ACCESS_KEY_ID"],
        &["ALIBABA_CLOUD_ACCESS_KEY_SECRET"],
        &["ALIBABA_CLOUD_SECURITY_TOKEN"],
        "ALIBABA_CLOUD_ACCESS_KEY_ID/ALIBABA_CLOUD_ACCESS_KEY_SECRET",
    )
}

/// `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`.
pub(super) fn aws(v: &Vars) -> Step {
    pair(
        v,
        &["AWS_ACCESS_KEY_ID"],
        &["AWS_SECRET_ACCESS_KEY"],
        &["AWS_SESSION_TOKEN"],
        "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY",
    )
}
