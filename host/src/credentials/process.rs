//! A profile's `credential_process` (aws-vault, 1Password, a company's
//! SSO helper): the command is run through `sh -c`, its standard error left
//! to the terminal, and its standard output read as the AWS CLI reads it:
//! `{"Version": 1, "AccessKeyId", "SecretAccessKey", "SessionToken",
//! "Expiration"}`.

use super::instance::RoleCredentials;
use super::{Failed, Found};
use std::process::Stdio;
use std::time::Duration;

/// How long the command may take (it may wait for a person to unlock a
/// vault).
const TIMEOUT: Duration = Duration::from_secs(120);

pub(super) async fn run(command: &str, label: &str) -> Result<Found, Failed> {
    let failed = |why: String| format!("{label}: its credential_process {why}");
    let child = tokio::process::Command::new("sh")
        .arg("-c")
        .arg(command)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(TIMEOUT, child)
        .await
        .map_err(|_| failed(format!("did not finish within {}s", TIMEOUT.as_secs())))?
        .map_err(|e| failed(format!("could not be started ({e})")))?;
    if !out.status.success() {
        return Err(failed(format!("failed ({})", out.status)));
    }
    RoleCredentials::read(
        &String::from_utf8_lossy(&out.stdout),
        format!("{label} (credential_process)"),
    )
    .ok_or_else(|| failed("printed no credentials".into()))
}
