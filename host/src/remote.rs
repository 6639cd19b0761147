//! Remote fan-out: part tasks sent to other machines instead of local
//! instances.
//!
//! - [`WorkerPool`]: a list of HTTP workers, each a `ferry serve` (or any
//!   runtime serving the component's `POST /parts`), at most
//!   `concurrency` tasks on each at once. A worker that refuses or drops
//!   the connection, or answers a 5xx that is not ferry's own answer, is set
//!   aside for a while and the task goes to another worker: a part task is
//!   idempotent (its UploadPart overwrites the same part number).
//! - [`FcInvoker`]: Function Compute 3.0's InvokeFunction
//!   (`POST /2023-03-30/functions/{name}/invocations`, synchronous), signed
//!   with [`crate::acs3`]; FC gives every invocation its instance.
//!
//! Both only carry the task (presigned URLs, no secret) and bring back the
//! component's answer. Their requests pass their own egress list (the
//! workers, or FC's endpoint): the fan-out path is the only one that may
//! reach them; part instances still reach only the source and the store.

use crate::acs3::{self, AccessKey, Stamp};
use crate::client::{Client, ClientConfig};
use crate::egress::Egress;
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use std::fmt;
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;
use url::Url;
use wasmtime_wasi_http::{RequestOptions, WasiBody};

/// Largest answer read from a worker or FC: a part result is a few hundred
/// bytes.
const MAX_ANSWER: usize = 1 << 20;

/// How long a failed worker is set aside at first; doubled for each failure
/// in a row, up to [`MAX_SET_ASIDE`].
const SET_ASIDE: Duration = Duration::from_secs(2);
const MAX_SET_ASIDE: Duration = Duration::from_secs(30);

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
fn is_part_result(body: &[u8]) -> bool {
    json_object(body).is_some_and(|v| v.contains_key("etag") && v.contains_key("crc64"))
}

/// A failure: `{"kind": "...", "message": "..."}`.
fn is_failure(body: &[u8]) -> bool {
    json_object(body).is_some_and(|v| {
        v.get("kind").is_some_and(|k| k.is_string())
            && v.get("message").is_some_and(|m| m.is_string())
    })
}

/// The part number in a task, for messages.
fn part_number(task: &[u8]) -> Option<u64> {
    serde_json::from_slice::<serde_json::Value>(task)
        .ok()?
        .get("part_number")?
        .as_u64()
}

fn part_label(task: &[u8]) -> String {
    part_number(task).map_or_else(|| "a part".into(), |n| format!("part {n}"))
}

/// Sends one request through `client` and reads the whole answer.
async fn exchange(
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

fn retry_after(headers: &http::HeaderMap) -> Option<String> {
    headers
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// One HTTP worker.
struct Worker {
    /// `POST` target: the worker's base URL with `/parts`.
    parts_url: String,
    /// The base URL as given, for messages.
    name: String,
    permits: Arc<Semaphore>,
    /// Set aside until then after a failure.
    aside_until: Mutex<Option<Instant>>,
    /// Failures in a row.
    streak: AtomicU32,
    served: AtomicU64,
    failed: AtomicU64,
}

impl Worker {
    fn is_aside(&self, now: Instant) -> bool {
        self.aside_until
            .lock()
            .map(|t| t.is_some_and(|t| t > now))
            .unwrap_or(false)
    }

    fn succeeded(&self) {
        self.served.fetch_add(1, Ordering::Relaxed);
        self.streak.store(0, Ordering::Relaxed);
        if let Ok(mut t) = self.aside_until.lock() {
            *t = None;
        }
    }

    fn set_aside(&self) -> Duration {
        self.failed.fetch_add(1, Ordering::Relaxed);
        let streak = self.streak.fetch_add(1, Ordering::Relaxed).min(4);
        let pause = (SET_ASIDE * 2u32.pow(streak)).min(MAX_SET_ASIDE);
        if let Ok(mut t) = self.aside_until.lock() {
            *t = Some(Instant::now() + pause);
        }
        pause
    }
}

/// What a worker pool did, for the closing summary.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PoolStats {
    /// Tasks answered, per worker (in the order given).
    pub served: Vec<u64>,
    /// Failed attempts, per worker.
    pub failed: Vec<u64>,
    /// Tasks sent to another worker after one failed.
    pub resent: u64,
}

/// HTTP workers that run part tasks, each at most `concurrency` at once.
pub struct WorkerPool {
    workers: Vec<Worker>,
    /// The bearer token the workers require (`ferry serve --token`).
    token: Option<String>,
    client: Client,
    egress: Egress,
    next: AtomicUsize,
    resent: AtomicU64,
}

impl fmt::Debug for WorkerPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WorkerPool")
            .field(
                "workers",
                &self.workers.iter().map(|w| &w.name).collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

impl WorkerPool {
    /// Sends `Authorization: Bearer TOKEN` to every worker (for workers
    /// started as `ferry serve --token TOKEN`).
    pub fn with_token(mut self, token: Option<String>) -> Self {
        self.token = token.filter(|t| !t.is_empty());
        self
    }

    /// A pool over `urls` (each `http(s)://host[:port][/base]`, serving
    /// `POST <base>/parts`), at most `concurrency` tasks on each at once.
    ///
    /// The workers are the operator's own machines, so they are reached
    /// whatever their address (loopback and private included); only the
    /// listed authorities can be reached this way.
    pub fn new(urls: &[String], concurrency: u32) -> Result<WorkerPool, String> {
        if urls.is_empty() {
            return Err("no workers given: --workers takes URL,URL,...".into());
        }
        let mut egress = Egress::default();
        let mut workers = Vec::new();
        for raw in urls {
            let raw = raw.trim();
            let url = Url::parse(raw)
                .ok()
                .filter(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some())
                .ok_or_else(|| {
                    format!("worker {raw:?} is not an http(s) URL, e.g. http://10.0.0.5:8080")
                })?;
            egress.allow_url(raw);
            let base = url.as_str().trim_end_matches('/');
            workers.push(Worker {
                parts_url: format!("{base}/parts"),
                name: base.to_string(),
                permits: Arc::new(Semaphore::new(concurrency.max(1) as usize)),
                aside_until: Mutex::new(None),
                streak: AtomicU32::new(0),
                served: AtomicU64::new(0),
                failed: AtomicU64::new(0),
            });
        }
        Ok(WorkerPool {
            workers,
            token: None,
            client: Client::new(ClientConfig::default()),
            egress,
            next: AtomicUsize::new(0),
            resent: AtomicU64::new(0),
        })
    }

    /// The workers, as given.
    pub fn len(&self) -> usize {
        self.workers.len()
    }

    pub fn is_empty(&self) -> bool {
        self.workers.is_empty()
    }

    /// What the pool did so far.
    pub fn stats(&self) -> PoolStats {
        PoolStats {
            served: self
                .workers
                .iter()
                .map(|w| w.served.load(Ordering::Relaxed))
                .collect(),
            failed: self
                .workers
                .iter()
                .map(|w| w.failed.load(Ordering::Relaxed))
                .collect(),
            resent: self.resent.load(Ordering::Relaxed),
        }
    }

    /// The worker for the next attempt: one not yet tried for this task
    /// (any, once all were), preferring those not set aside, then the one
    /// with the most free slots, turn by turn among equals.
    fn pick(&self, tried: &[usize]) -> usize {
        let now = Instant::now();
        let n = self.workers.len();
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        let untried: Vec<usize> = (0..n).filter(|i| !tried.contains(i)).collect();
        let candidates = if untried.is_empty() {
            (0..n).collect()
        } else {
            untried
        };
        candidates
            .into_iter()
            .max_by_key(|&i| {
                let w = &self.workers[i];
                (
                    !w.is_aside(now),
                    w.permits.available_permits(),
                    // Rotate the tie-break so equal workers share the load.
                    n - (i + n - start % n) % n,
                )
            })
            .expect("a pool has at least one worker")
    }

    /// Runs one part task (`task` is its JSON) on some worker and returns
    /// the component's answer, trying other workers when one fails; `Err`
    /// once every worker failed it (twice over), with the reasons.
    pub async fn dispatch(&self, task: Bytes, deadline: Duration) -> Result<Answer, String> {
        let attempts = self.workers.len() * 2;
        let mut tried = Vec::new();
        let mut reasons = Vec::new();
        for _ in 0..attempts {
            let i = self.pick(&tried);
            let worker = &self.workers[i];
            let outcome = {
                let _slot = worker
                    .permits
                    .clone()
                    .acquire_owned()
                    .await
                    .map_err(|_| "the worker pool is closed".to_string())?;
                self.attempt(worker, &task, deadline).await
            };
            match outcome {
                Ok(answer) => {
                    worker.succeeded();
                    return Ok(answer);
                }
                Err(reason) => {
                    let pause = worker.set_aside();
                    tracing::warn!(
                        "worker {} failed {}: {reason}; set aside for {} s, the part goes to another worker",
                        worker.name,
                        part_label(&task),
                        pause.as_secs()
                    );
                    self.resent.fetch_add(1, Ordering::Relaxed);
                    reasons.push(format!("{}: {reason}", worker.name));
                    tried.push(i);
                }
            }
        }
        Err(format!(
            "every worker failed {} ({})",
            part_label(&task),
            reasons.join("; ")
        ))
    }

    async fn attempt(
        &self,
        worker: &Worker,
        task: &Bytes,
        deadline: Duration,
    ) -> Result<Answer, String> {
        let mut request =
            http::Request::post(&worker.parts_url).header("content-type", "application/json");
        if let Some(token) = &self.token {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        let request = request
            .body(task.clone())
            .map_err(|e| format!("cannot build the request: {e}"))?;
        if !self.egress.permits(request.uri()) {
            return Err("refused by the fan-out egress list".into());
        }
        let (status, headers, body) = exchange(&self.client, request, deadline).await?;
        if status == 200 || is_component_answer(status, &body) {
            return Ok(Answer {
                status,
                retry_after: retry_after(&headers),
                body,
            });
        }
        let text = String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned();
        Err(format!("HTTP {status}: {}", text.trim()))
    }
}

/// Where and how to invoke the function in Function Compute 3.0.
#[derive(Clone)]
pub struct FcConfig {
    /// The function's name.
    pub function: String,
    /// The FC endpoint, e.g. `https://<account-id>.cn-hangzhou.fc.aliyuncs.com`.
    pub endpoint: String,
    /// A version or alias (`qualifier`), if not `LATEST`.
    pub qualifier: Option<String>,
    /// The AccessKey allowed to `fc:InvokeFunction`.
    pub key: AccessKey,
}

impl fmt::Debug for FcConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FcConfig")
            .field("function", &self.function)
            .field("endpoint", &self.endpoint)
            .field("qualifier", &self.qualifier)
            .finish_non_exhaustive()
    }
}

impl FcConfig {
    /// An AccessKey from `ALIBABA_CLOUD_ACCESS_KEY_ID`,
    /// `ALIBABA_CLOUD_ACCESS_KEY_SECRET` and `ALIBABA_CLOUD_SECURITY_TOKEN`,
    /// else from the OSS ones (`OSS_ACCESS_KEY_ID`, `OSS_ACCESS_KEY_SECRET`,
    /// `OSS_SESSION_TOKEN`).
    pub fn key_from_env() -> Option<AccessKey> {
        let get = |n: &str| std::env::var(n).ok().filter(|v| !v.is_empty());
        let alibaba = || {
            Some(AccessKey {
                id: get("ALIBABA_CLOUD_ACCESS_KEY_ID")?,
                secret: get("ALIBABA_CLOUD_ACCESS_KEY_SECRET")?,
                security_token: get("ALIBABA_CLOUD_SECURITY_TOKEN"),
            })
        };
        let oss = || {
            Some(AccessKey {
                id: get("OSS_ACCESS_KEY_ID")?,
                secret: get("OSS_ACCESS_KEY_SECRET")?,
                security_token: get("OSS_SESSION_TOKEN").or_else(|| get("OSS_SECURITY_TOKEN")),
            })
        };
        alibaba().or_else(oss)
    }
}

/// The InvokeFunction API version and path prefix.
pub const FC_API_VERSION: &str = "2023-03-30";

/// Invokes the function once per part task, synchronously.
pub struct FcInvoker {
    config: FcConfig,
    base: Url,
    client: Client,
    egress: Egress,
}

impl fmt::Debug for FcInvoker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FcInvoker")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl FcInvoker {
    pub fn new(config: FcConfig) -> Result<FcInvoker, String> {
        let base = Url::parse(&config.endpoint)
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some())
            .ok_or_else(|| {
                format!(
                    "--fc-endpoint {:?} is not an http(s) URL, e.g. \
                     https://<account-id>.cn-hangzhou.fc.aliyuncs.com",
                    config.endpoint
                )
            })?;
        if config.function.is_empty() {
            return Err("--fc-function names no function".into());
        }
        let mut egress = Egress::default();
        egress.allow_url(&config.endpoint);
        Ok(FcInvoker {
            config,
            base,
            client: Client::new(ClientConfig::default()),
            egress,
        })
    }

    /// The signed InvokeFunction request carrying `event`.
    pub fn request(&self, event: &Bytes, stamp: &Stamp) -> http::Request<Bytes> {
        let path = format!(
            "/{FC_API_VERSION}/functions/{}/invocations",
            self.config.function
        );
        let qualifier: Vec<(&str, &str)> = self
            .config
            .qualifier
            .as_deref()
            .map(|q| vec![("qualifier", q)])
            .unwrap_or_default();
        let host = match self.base.port() {
            Some(port) => format!("{}:{port}", self.base.host_str().unwrap_or_default()),
            None => self.base.host_str().unwrap_or_default().to_string(),
        };
        let mut headers: Vec<(String, String)> = vec![
            ("host".into(), host),
            ("content-type".into(), "application/octet-stream".into()),
            ("x-acs-action".into(), "InvokeFunction".into()),
            ("x-acs-version".into(), FC_API_VERSION.into()),
            ("x-fc-invocation-type".into(), "Sync".into()),
            ("x-fc-log-type".into(), "None".into()),
        ];
        acs3::sign(
            "POST",
            &path,
            &qualifier,
            &mut headers,
            event,
            &self.config.key,
            stamp,
        );
        let mut uri = format!(
            "{}://{}{}",
            self.base.scheme(),
            headers[0].1,
            acs3::canonical_uri(&path)
        );
        let query = acs3::canonical_query(&qualifier);
        if !query.is_empty() {
            uri.push('?');
            uri.push_str(&query);
        }
        let mut builder = http::Request::post(uri);
        for (name, value) in &headers {
            if name != "host" {
                builder = builder.header(name.as_str(), value.as_str());
            }
        }
        builder
            .body(event.clone())
            .expect("the headers are valid: ASCII values")
    }

    /// Invokes the function with one part task.
    pub async fn dispatch(&self, task: Bytes, deadline: Duration) -> Result<Answer, FcError> {
        let request = self.request(&task, &Stamp::now());
        if !self.egress.permits(request.uri()) {
            return Err(FcError::Transient(
                "refused by the fan-out egress list".into(),
            ));
        }
        let (status, headers, body) = exchange(&self.client, request, deadline)
            .await
            .map_err(|e| FcError::Transient(format!("Function Compute: {e}")))?;
        fc_answer(status, &headers, body)
    }
}

/// Why an invocation brought back no answer from the component.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FcError {
    /// The invocation failed (the instance crashed or timed out, FC was busy
    /// or unreachable): the part may be re-dispatched.
    Transient(String),
    /// FC refused the call (signature, permission, no such function):
    /// retrying cannot help.
    Refused(String),
}

/// Reads an InvokeFunction response. A function error (`x-fc-error-type`)
/// whose body is not the component's failure (a crash, a timeout) or a
/// 429/5xx from FC itself is transient; the component's own answer
/// goes back as it is; any other status is FC refusing the call, named by
/// the `Code` and `Message` of its error body.
pub fn fc_answer(status: u16, headers: &http::HeaderMap, body: Bytes) -> Result<Answer, FcError> {
    if let Some(kind) = headers.get("x-fc-error-type").and_then(|v| v.to_str().ok()) {
        // A container that answered its own failure (non-2xx, x-fc-status
        // 404) is reported by FC as a function error with that body: the
        // component's kind says whether to retry.
        if is_failure(&body) {
            return Ok(Answer {
                status: failure_status(&body),
                retry_after: retry_after(headers),
                body,
            });
        }
        let text = String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned();
        return Err(FcError::Transient(format!(
            "the function failed ({kind}): {}",
            text.trim()
        )));
    }
    if status == 200 && is_part_result(&body) {
        return Ok(Answer {
            status,
            retry_after: retry_after(headers),
            body,
        });
    }
    if is_failure(&body) {
        // The component's failure, with its status; or, when FC answered it
        // with a 2xx, the status the component gives its kind (a transient
        // one for the coordinator to retry, a refusal it stops on).
        let status = if (200..300).contains(&status) {
            failure_status(&body)
        } else {
            status
        };
        return Ok(Answer {
            status,
            retry_after: retry_after(headers),
            body,
        });
    }
    let error: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    let code = error["Code"]
        .as_str()
        .or(error["code"].as_str())
        .unwrap_or("");
    let message = error["Message"]
        .as_str()
        .or(error["message"].as_str())
        .unwrap_or("");
    let what = format!("Function Compute answered HTTP {status} {code}: {message}");
    if status == 429 || status >= 500 {
        Err(FcError::Transient(what))
    } else {
        Err(FcError::Refused(format!(
            "{what}; check the function and endpoint (--fc-function, --fc-endpoint) and \
             that the key may fc:InvokeFunction on that function (ferry copy: \
             ALIBABA_CLOUD_ACCESS_KEY_ID or OSS_ACCESS_KEY_ID; ferry serve on Function \
             Compute: the function's role)"
        )))
    }
}

/// The status the component gives a failure of this kind (see the guest's
/// service: 400 bad input, 502 a refusal by source or store, 500 internal).
fn failure_status(body: &[u8]) -> u16 {
    let v: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
    match v["kind"].as_str() {
        Some("invalid-input") => 400,
        Some("source" | "store" | "integrity") => 502,
        Some("internal") => 500,
        _ => 503,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> AccessKey {
        AccessKey {
            id: "YourAccessKeyId".into(),
            secret: "YourAccessKeySecret".into(),
            security_token: None,
        }
    }

    fn invoker(qualifier: Option<&str>) -> FcInvoker {
        FcInvoker::new(FcConfig {
            function: "ferry".into(),
            endpoint: "https://1234567890.cn-hangzhou.fc.aliyuncs.com".into(),
            qualifier: qualifier.map(str::to_string),
            key: key(),
        })
        .unwrap()
    }

    fn stamp() -> Stamp {
        Stamp {
            date: "2023-10-26T10:22:32Z".into(),
            nonce: "3156853299f313e23d1673dc12e1703d".into(),
        }
    }

    /// The documented shape of InvokeFunction (FC 3.0 API reference and
    /// the fc20230330 SDK): POST /2023-03-30/functions/{name}/invocations,
    /// `x-fc-invocation-type: Sync`, the event as the raw body, signed
    /// with ACS3 under action InvokeFunction and version 2023-03-30.
    #[test]
    fn invoke_function_request_shape() {
        let event = Bytes::from_static(br#"{"part_number":7}"#);
        let r = invoker(None).request(&event, &stamp());
        assert_eq!(r.method(), "POST");
        assert_eq!(
            r.uri().to_string(),
            "https://1234567890.cn-hangzhou.fc.aliyuncs.com/2023-03-30/functions/ferry/invocations"
        );
        let h = |n: &str| r.headers().get(n).unwrap().to_str().unwrap().to_string();
        assert_eq!(h("x-fc-invocation-type"), "Sync");
        assert_eq!(h("x-acs-action"), "InvokeFunction");
        assert_eq!(h("x-acs-version"), "2023-03-30");
        assert_eq!(h("x-acs-date"), "2023-10-26T10:22:32Z");
        assert_eq!(h("x-acs-content-sha256"), acs3::sha256_hex(&event));
        assert_eq!(r.body(), &event);
        // The signature is the ACS3 one over exactly these headers.
        let headers: Vec<(String, String)> = [
            ("host", "1234567890.cn-hangzhou.fc.aliyuncs.com".to_string()),
            ("content-type", h("content-type")),
            ("x-acs-action", h("x-acs-action")),
            ("x-acs-version", h("x-acs-version")),
            ("x-acs-content-sha256", h("x-acs-content-sha256")),
            ("x-acs-date", h("x-acs-date")),
            ("x-acs-signature-nonce", h("x-acs-signature-nonce")),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        let signed = acs3::Request {
            method: "POST",
            path: "/2023-03-30/functions/ferry/invocations",
            query: &[],
            headers: &headers,
            payload: &event,
        };
        assert_eq!(
            acs3::canonical_request(&signed),
            format!(
                "POST\n/2023-03-30/functions/ferry/invocations\n\n\
                 content-type:application/octet-stream\n\
                 host:1234567890.cn-hangzhou.fc.aliyuncs.com\n\
                 x-acs-action:InvokeFunction\n\
                 x-acs-content-sha256:{sha}\n\
                 x-acs-date:2023-10-26T10:22:32Z\n\
                 x-acs-signature-nonce:3156853299f313e23d1673dc12e1703d\n\
                 x-acs-version:2023-03-30\n\n\
                 content-type;host;x-acs-action;x-acs-content-sha256;x-acs-date;\
                 x-acs-signature-nonce;x-acs-version\n{sha}",
                sha = acs3::sha256_hex(&event)
            )
        );
        assert_eq!(h("authorization"), acs3::authorization(&signed, &key()));
        assert!(h("authorization").starts_with(
            "ACS3-HMAC-SHA256 Credential=YourAccessKeyId,SignedHeaders=content-type;host;"
        ));
    }

    #[test]
    fn a_qualifier_goes_in_the_signed_query() {
        let r = invoker(Some("prod")).request(&Bytes::new(), &stamp());
        assert_eq!(r.uri().query(), Some("qualifier=prod"));
    }

    #[test]
    fn the_secret_never_travels() {
        let k = AccessKey {
            security_token: Some("sts-token".into()),
            ..key()
        };
        let inv = FcInvoker::new(FcConfig {
            key: k,
            ..invoker(None).config
        })
        .unwrap();
        let r = inv.request(&Bytes::from_static(b"{}"), &stamp());
        for (_, v) in r.headers() {
            assert!(!v.to_str().unwrap().contains("YourAccessKeySecret"));
        }
        assert_eq!(r.headers()["x-acs-security-token"], "sts-token");
        assert!(!format!("{:?}", inv).contains("Secret"));
    }

    #[test]
    fn fc_answers_are_sorted_out() {
        let none = http::HeaderMap::new();
        let result = Bytes::from_static(br#"{"part_number":1,"length":5,"etag":"e","crc64":9}"#);
        assert_eq!(fc_answer(200, &none, result.clone()).unwrap().status, 200);
        // The component's failure passes through with its status, or gets
        // the status its kind has when FC flattened it to 200.
        let refused = Bytes::from_static(br#"{"kind":"source","message":"404"}"#);
        assert_eq!(fc_answer(502, &none, refused.clone()).unwrap().status, 502);
        assert_eq!(fc_answer(200, &none, refused).unwrap().status, 502);
        let transient = Bytes::from_static(br#"{"kind":"exhausted","message":"m"}"#);
        assert_eq!(fc_answer(200, &none, transient).unwrap().status, 503);
        // A crashed instance, FC throttling, FC refusing.
        let mut crashed = http::HeaderMap::new();
        crashed.insert(
            "x-fc-error-type",
            "UnhandledInvocationError".parse().unwrap(),
        );
        assert!(matches!(
            fc_answer(200, &crashed, Bytes::from_static(b"oom")),
            Err(FcError::Transient(_))
        ));
        let busy = Bytes::from_static(br#"{"Code":"ResourceThrottled","Message":"busy"}"#);
        assert!(matches!(
            fc_answer(429, &none, busy),
            Err(FcError::Transient(_))
        ));
        let denied = Bytes::from_static(br#"{"Code":"InvalidSignature","Message":"no"}"#);
        match fc_answer(403, &none, denied) {
            Err(FcError::Refused(m)) => assert!(m.contains("InvalidSignature"), "{m}"),
            other => panic!("{other:?}"),
        }
    }

    /// FC reports a container's non-2xx `/invoke` answer (x-fc-status 404)
    /// as a function error: HTTP 200, `x-fc-error-type`, the container's
    /// body. When that body is the component's own failure, its kind still
    /// decides: a store's refusal stops the transfer, it is not retried as a
    /// crash.
    #[test]
    fn a_function_error_carrying_the_components_failure_keeps_its_kind() {
        let mut error = http::HeaderMap::new();
        error.insert(
            "x-fc-error-type",
            "UnhandledInvocationError".parse().unwrap(),
        );
        let refused = Bytes::from_static(br#"{"ok":false,"kind":"store","message":"403"}"#);
        let answer = fc_answer(200, &error, refused.clone()).unwrap();
        assert_eq!(answer.status, 502);
        assert_eq!(answer.body, refused);
        let transient = Bytes::from_static(br#"{"kind":"exhausted","message":"m"}"#);
        assert_eq!(fc_answer(200, &error, transient).unwrap().status, 503);
    }

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

    #[test]
    fn workers_must_be_urls() {
        assert!(WorkerPool::new(&[], 4).is_err());
        assert!(WorkerPool::new(&["127.0.0.1:80".into()], 4).is_err());
        let pool = WorkerPool::new(
            &["http://127.0.0.1:1/".into(), "http://127.0.0.1:2".into()],
            4,
        )
        .unwrap();
        assert_eq!(pool.workers[0].parts_url, "http://127.0.0.1:1/parts");
        assert_eq!(pool.workers[1].parts_url, "http://127.0.0.1:2/parts");
        assert!(pool
            .egress
            .permits(&"http://127.0.0.1:2/parts".parse().unwrap()));
        assert!(!pool
            .egress
            .permits(&"http://127.0.0.1:3/parts".parse().unwrap()));
    }

    /// A refused connection sends the task to the next worker; when every
    /// worker refuses, the error names each.
    #[tokio::test]
    async fn a_refused_worker_is_set_aside() {
        let dead = |_| {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            format!("http://{}", l.local_addr().unwrap())
        };
        let urls: Vec<String> = (0..2).map(dead).collect();
        let pool = WorkerPool::new(&urls, 2).unwrap();
        let err = pool
            .dispatch(
                Bytes::from_static(br#"{"part_number":3}"#),
                Duration::from_secs(5),
            )
            .await
            .unwrap_err();
        assert!(err.starts_with("every worker failed part 3"), "{err}");
        assert!(err.contains(&urls[0]) && err.contains(&urls[1]), "{err}");
        let stats = pool.stats();
        assert_eq!(stats.failed, vec![2, 2]);
        assert_eq!(stats.resent, 4);
        assert!(pool.workers.iter().all(|w| w.is_aside(Instant::now())));
    }
}
