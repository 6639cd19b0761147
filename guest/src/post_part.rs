//! Posting parts: a part task sent to the fan-out endpoint
//! (`POST <base>/parts`), where the runtime gives it a fresh instance, and
//! its answer read back as a part result or the part's failure.

use crate::error::{Error, Result};
use crate::http::{self, Timeouts};
use crate::{Failure, PartResult, PartTask};
use std::time::Duration;
use url::Url;

pub(crate) fn fanout_base(base: &str) -> Result<Url> {
    Url::parse(base)
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https"))
        .ok_or_else(|| Error::invalid(format!("fan-out URL {base:?} is not an http(s) URL")))
}

/// Runs a part task through the fan-out endpoint: `POST <base>/parts`.
/// 503 means the attempt failed transiently (in the part, or in the instance:
/// a trap, a deadline, memory) and the part may be re-dispatched; other
/// errors carry the part's [`Failure`].
pub(crate) async fn post_part(
    base: &str,
    task: &PartTask,
    deadline: Duration,
) -> Result<PartResult> {
    let mut url = fanout_base(base)?;
    let path = format!("{}/parts", url.path().trim_end_matches('/'));
    url.set_path(&path);
    let body = serde_json::to_vec(task).expect("a task always serializes");
    let headers = [("content-type".to_string(), "application/json".to_string())];
    let timeouts = Timeouts {
        first_byte: deadline,
        between_bytes: deadline,
        ..Timeouts::default()
    };
    let response = http::send("POST", url.as_str(), &headers, Some(&body), timeouts)
        .await
        .map_err(|e| Error::internal(format!("fan-out request failed: {e}")).transient())?;
    let status = response.status;
    let retry_after = response.header("retry-after").map(str::to_string);
    let bytes = response
        .bytes(1 << 20)
        .await
        .map_err(|e| Error::internal(format!("fan-out response broke off: {e}")).transient())?;
    if status == 200 {
        return serde_json::from_slice(&bytes)
            .map_err(|e| Error::internal(format!("fan-out answered an unreadable result: {e}")));
    }
    let err = match serde_json::from_slice::<Failure>(&bytes) {
        Ok(failure) => Error::from(failure),
        Err(_) => Error::internal(format!(
            "fan-out answered HTTP {status}: {}",
            String::from_utf8_lossy(&bytes[..bytes.len().min(300)])
        )),
    }
    .retry_after(retry_after.as_deref());
    Err(if status == 503 { err.transient() } else { err })
}
