//! The HTTP face (`wasi:http/incoming-handler`):
//!
//! - `POST /parts` with a [`PartTask`] copies one part and answers the
//!   [`crate::PartResult`]; this is what fan-out posts, one fresh instance
//!   per part.
//! - `POST /jobs` with a [`Job`] runs a whole transfer and answers the
//!   [`crate::Report`].
//!
//! Failures answer a [`crate::Failure`] as JSON: 400 for bad input, 503 for
//! a transient failure worth re-dispatching, 502 for a refusal by the source
//! or the store, 500 otherwise.

use crate::error::Error;
use crate::events::Sink;
use crate::http::{BodyReader, BodyWriter};
use crate::wasi::http::types::{
    Fields, IncomingRequest, Method, OutgoingResponse, ResponseOutparam, Scheme,
};
use crate::{copy_part, runtime, transfer, Failure, Job, PartTask};
use serde::Serialize;

/// Largest request body accepted: tasks and jobs are small JSON documents.
const MAX_BODY: usize = 256 * 1024;

pub fn handle(request: IncomingRequest, out: ResponseOutparam) {
    runtime::block_on(async move {
        let (status, body, retry_after) = route(request).await;
        respond(out, status, &body, retry_after).await;
    })
}

/// Status, JSON body and the `Retry-After` seconds to send, if any.
type Answer = (u16, Vec<u8>, Option<u64>);

async fn route(request: IncomingRequest) -> Answer {
    let method = request.method();
    let path = request.path_with_query().unwrap_or_default();
    let path = path.split('?').next().unwrap_or_default().to_string();
    match (method, path.as_str()) {
        (Method::Post, "/parts") => match read_json::<PartTask>(request).await {
            Ok(task) => answer(copy_part::copy_part(&task).await),
            Err(e) => failure(e),
        },
        (Method::Post, "/jobs") => {
            let own_url = own_url(&request);
            match read_json::<Job>(request).await {
                Ok(mut job) => {
                    // Fan out to this same service: the runtime gives each
                    // posted part a fresh instance.
                    if job.fanout_url.is_none() {
                        job.fanout_url = own_url;
                    }
                    let report = transfer::run(&job, &mut Sink::Quiet).await;
                    answer(report.map(|r| crate::cli::report_json(&r)))
                }
                Err(e) => failure(e),
            }
        }
        (Method::Get, "/") => (
            200,
            serde_json::to_vec(&serde_json::json!({
                "service": "ferry",
                "version": env!("CARGO_PKG_VERSION"),
                "routes": ["POST /jobs", "POST /parts"],
            }))
            .unwrap_or_default(),
            None,
        ),
        (_, "/parts" | "/jobs") => failure(Error::invalid("use POST with a JSON body")),
        _ => {
            let (_, body, _) = failure(Error::invalid(format!(
                "no route {path}; ferry serves POST /jobs and POST /parts"
            )));
            (404, body, None)
        }
    }
}

/// Where this service can be reached for fan-out: `FERRY_FANOUT_URL` when
/// set (`none` turns fan-out off), else the scheme and authority the request
/// came to.
fn own_url(request: &IncomingRequest) -> Option<String> {
    if let Ok(url) = std::env::var("FERRY_FANOUT_URL") {
        return (url != "none" && !url.is_empty()).then_some(url);
    }
    let authority = request.authority()?;
    let scheme = match request.scheme() {
        Some(Scheme::Https) => "https",
        _ => "http",
    };
    Some(format!("{scheme}://{authority}"))
}

async fn read_json<T: serde::de::DeserializeOwned>(request: IncomingRequest) -> Result<T, Error> {
    let mut reader = BodyReader::from_request(request)
        .map_err(|e| Error::invalid(format!("cannot read the request body: {e}")))?;
    let bytes = reader
        .read_all(MAX_BODY)
        .await
        .map_err(|e| Error::invalid(format!("cannot read the request body: {e}")))?;
    serde_json::from_slice(&bytes)
        .map_err(|e| Error::invalid(format!("the request body is not a valid document: {e}")))
}

fn answer<T: Serialize>(outcome: Result<T, Error>) -> Answer {
    match outcome {
        Ok(value) => (200, serde_json::to_vec(&value).unwrap_or_default(), None),
        Err(e) => failure(e),
    }
}

fn failure(e: Error) -> Answer {
    let retry_after = e.retry_after.map(|d| d.as_secs());
    // A transient failure is worth sending again: 503, whatever its kind.
    let status = if e.transient {
        503
    } else {
        ferry_rules::http_status(&e.kind.name())
    };
    let failure = Failure::from(e);
    (
        status,
        serde_json::to_vec(&failure).unwrap_or_default(),
        retry_after,
    )
}

async fn respond(out: ResponseOutparam, status: u16, body: &[u8], retry_after: Option<u64>) {
    let mut list = vec![
        ("content-type".to_string(), b"application/json".to_vec()),
        (
            "content-length".to_string(),
            body.len().to_string().into_bytes(),
        ),
    ];
    if let Some(secs) = retry_after {
        list.push(("retry-after".to_string(), secs.to_string().into_bytes()));
    }
    let headers = Fields::from_list(&list).unwrap_or_else(|_| Fields::new());
    let response = OutgoingResponse::new(headers);
    let _ = response.set_status_code(status);
    let Ok(outgoing) = response.body() else {
        return;
    };
    ResponseOutparam::set(out, Ok(response));
    let Ok(mut writer) = BodyWriter::new(outgoing, "the caller".into()) else {
        return;
    };
    if writer.write_all(body).await.is_ok() {
        let _ = writer.finish();
    }
}
