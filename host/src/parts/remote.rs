//! What the remote runners share: one exchange with a remote side, read
//! whole, and telling the component's own answer (a part result, or a
//! failure it describes) from a failure of the remote side (a proxy's or
//! runtime's error page, a crash), after which a task is tried again.

use crate::net::client::Client;
use crate::parts::fanout::respond;
use crate::parts::runner::RunError;
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use std::time::Duration;
use wasmtime_wasi_http::{RequestOptions, WasiBody};

/// Largest answer read from a worker or FC: a part result is a few hundred
/// bytes.
const MAX_ANSWER: usize = 1 << 20;

/// A remote instance's answer to one part task, to hand to the coordinator.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub retry_after: Option<String>,
    pub body: Bytes,
}

/// Whether a response is the component's own answer (a part result, or a
/// failure it describes), which goes back to the coordinator as it is,
/// rather than a failure of the remote side (a proxy's or runtime's error
/// page, a trap), after which the task is tried elsewhere.
pub fn is_component_answer(status: u16, body: &[u8]) -> bool {
    if status == 200 {
        is_part_result(body)
    } else {
        is_failure(body)
    }
}

fn json_object(body: &[u8]) -> Option<serde_json::Map<String, serde_json::Value>> {
    match serde_json::from_slice(body) {
        Ok(serde_json::Value::Object(v)) => Some(v),
        _ => None,
    }
}

/// A part result: `{"part_number", "length", "etag", "crc64"}`.
pub(crate) fn is_part_result(body: &[u8]) -> bool {
    json_object(body).is_some_and(|v| v.contains_key("etag") && v.contains_key("crc64"))
}

/// A failure: `{"kind": "...", "message": "..."}`.
pub(crate) fn is_failure(body: &[u8]) -> bool {
    json_object(body).is_some_and(|v| {
        v.get("kind").is_some_and(|k| k.is_string())
            && v.get("message").is_some_and(|m| m.is_string())
    })
}

/// Sends one request through `client` and reads the whole answer.
pub(crate) async fn exchange(
    client: &Client,
    request: http::Request<Bytes>,
    deadline: Duration,
) -> Result<(u16, http::HeaderMap, Bytes), String> {
    let (parts, body) = request.into_parts();
    let request = http::Request::from_parts(
        parts,
        Full::new(body)
            .map_err(|never| match never {})
            .boxed_unsync(),
    );
    let options = RequestOptions {
        connect_timeout: Some(Duration::from_secs(10)),
        first_byte_timeout: Some(deadline),
        between_bytes_timeout: Some(Duration::from_secs(60)),
    };
    let work = async {
        let response = client
            .send(request, Some(options))
            .await
            .map_err(|e| format!("{e}"))?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body: WasiBody = response.into_body();
        let bytes = Limited::new(body, MAX_ANSWER)
            .collect()
            .await
            .map_err(|e| format!("the answer broke off: {e}"))?
            .to_bytes();
        Ok((status, headers, bytes))
    };
    tokio::time::timeout(deadline, work)
        .await
        .map_err(|_| format!("no answer within {} s", deadline.as_secs()))?
}

pub(crate) fn retry_after(headers: &http::HeaderMap) -> Option<String> {
    headers
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}
impl Answer {
    /// The answer as the response to the coordinator's request.
    pub fn into_response(self) -> Result<http::Response<WasiBody>, RunError> {
        respond(self.status, self.retry_after.as_deref(), self.body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn component_answers_are_told_from_error_pages() {
        assert!(is_component_answer(
            200,
            br#"{"part_number":1,"length":5,"etag":"e","crc64":9}"#
        ));
        assert!(is_component_answer(
            503,
            br#"{"kind":"internal","message":"m"}"#
        ));
        assert!(!is_component_answer(500, b"Internal Server Error"));
        assert!(!is_component_answer(502, b"<html>bad gateway</html>"));
        assert!(!is_component_answer(200, b"{}"));
    }
}
