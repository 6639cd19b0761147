//! Container credentials (ECS tasks, EKS Pod Identity, and any local
//! credentials server): `AWS_CONTAINER_CREDENTIALS_RELATIVE_URI` on
//! `http://169.254.170.2`, or `AWS_CONTAINER_CREDENTIALS_FULL_URI`, with
//! `AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE` (read on each request) or
//! `AWS_CONTAINER_AUTHORIZATION_TOKEN` as the `Authorization` header. As
//! in the AWS SDKs, a full URI over plain http must name a loopback
//! address or the ECS and EKS agents' own.

use super::fetch::{send, Request};
use super::instance::RoleCredentials;
use super::{Failed, Step, Vars};
use std::net::{Ipv4Addr, Ipv6Addr};
use std::time::Duration;

const TIMEOUT: Duration = Duration::from_secs(5);
const LABEL: &str = "container credentials";

pub(super) async fn provide(v: &Vars) -> Result<Step, Failed> {
    let url = match (
        v.get("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"),
        v.get("AWS_CONTAINER_CREDENTIALS_FULL_URI"),
    ) {
        (Some(relative), _) => format!("http://169.254.170.2{relative}"),
        (None, Some(full)) => {
            check_full_uri(&full)?;
            full
        }
        (None, None) => {
            return Ok(Step::Absent(format!(
                "{LABEL} (AWS_CONTAINER_CREDENTIALS_RELATIVE_URI, \
                 AWS_CONTAINER_CREDENTIALS_FULL_URI not set)"
            )))
        }
    };
    let shown = ferry_rules::redact(&url);
    let mut req = Request::get(url, TIMEOUT);
    let token = match v.get("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE") {
        Some(file) => Some(
            std::fs::read_to_string(v.expand(&file))
                .map_err(|e| {
                    format!(
                        "{LABEL}: AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE {file} cannot be read \
                         ({e})"
                    )
                })?
                .trim()
                .to_string(),
        ),
        None => v.get("AWS_CONTAINER_AUTHORIZATION_TOKEN"),
    };
    if let Some(token) = token {
        req = req.header("authorization", token);
    }
    let a = send(req).await.map_err(|e| format!("{LABEL}: {e}"))?;
    if !a.ok() {
        return Err(format!(
            "{LABEL}: {shown} refused (HTTP {}); check AWS_CONTAINER_AUTHORIZATION_TOKEN",
            a.status
        ));
    }
    RoleCredentials::read(&a.body, format!("{LABEL} from {shown}"))
        .map(Step::Found)
        .ok_or_else(|| format!("{LABEL}: {shown} answered with no credentials"))
}

/// A full URI is https, or http to loopback or the agents' addresses.
fn check_full_uri(full: &str) -> Result<(), Failed> {
    let url = url::Url::parse(full).map_err(|_| {
        format!("{LABEL}: AWS_CONTAINER_CREDENTIALS_FULL_URI {full:?} is not a URL")
    })?;
    let allowed = match (url.scheme(), url.host()) {
        ("https", _) => true,
        ("http", Some(url::Host::Ipv4(ip))) => {
            ip.is_loopback()
                || ip == Ipv4Addr::new(169, 254, 170, 2)
                || ip == Ipv4Addr::new(169, 254, 170, 23)
        }
        ("http", Some(url::Host::Ipv6(ip))) => {
            ip.is_loopback() || ip == Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x23)
        }
        ("http", Some(url::Host::Domain(d))) => d == "localhost",
        _ => false,
    };
    if allowed {
        Ok(())
    } else {
        Err(format!(
            "{LABEL}: AWS_CONTAINER_CREDENTIALS_FULL_URI {} must be https, or http to a loopback \
             address or the ECS or EKS agent's",
            ferry_rules::redact(full)
        ))
    }
}
