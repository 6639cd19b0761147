//! A credentials service the user runs (`ALIBABA_CLOUD_CREDENTIALS_URI`),
//! last in the Alibaba Cloud SDKs' chain: `GET` answers
//! `{"Code": "Success", "AccessKeyId", "AccessKeySecret", "SecurityToken",
//! "Expiration"}`.

use super::fetch::{send, Request};
use super::instance::RoleCredentials;
use super::{Failed, Step, Vars};
use std::time::Duration;

const TIMEOUT: Duration = Duration::from_secs(5);

pub(super) async fn provide(v: &Vars) -> Result<Step, Failed> {
    let Some(uri) = v.get("ALIBABA_CLOUD_CREDENTIALS_URI") else {
        return Ok(Step::Absent(
            "a credentials service (ALIBABA_CLOUD_CREDENTIALS_URI not set)".into(),
        ));
    };
    let shown = ferry_rules::redact(&uri);
    let label = format!("the credentials service at {shown}");
    let a = send(Request::get(uri, TIMEOUT))
        .await
        .map_err(|e| format!("ALIBABA_CLOUD_CREDENTIALS_URI: {e}"))?;
    if !a.ok() {
        return Err(format!("{label} refused (HTTP {})", a.status));
    }
    RoleCredentials::read(&a.body, label.clone())
        .map(Step::Found)
        .ok_or_else(|| format!("{label} answered with no credentials"))
}
