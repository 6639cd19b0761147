//! `ferry serve`: transfers as a service, in the shape of a Function Compute
//! 3.0 custom container.
//!
//! Routes:
//! - `POST /invoke`: an event invocation (FC's InvokeFunction, an OSS
//!   trigger); the body is one or more events ([`crate::trigger`]).
//! - `POST /initialize`: FC's initializer hook; the component is compiled
//!   when the server starts, so there is nothing left to do.
//! - `POST /jobs`: the same as `/invoke`, for an HTTP trigger.
//! - `GET /`: what this is.
//!
//! Every job runs as a [`Transfer`] on one shared [`Runtime`], with the
//! temporary credentials of the request that asked for it (FC's
//! `x-fc-access-key-id`, `x-fc-access-key-secret`, `x-fc-security-token`),
//! or the process's `OSS_*` when the request carries none. Credentials are
//! never logged and never answered.
//!
//! The server is a URL-fetching service, so outgoing connections are held to
//! [`AddressPolicy::service`] (no loopback, private or metadata addresses
//! unless re-opened with `--allow-cidr`). Outside Function Compute it listens
//! on loopback only unless it has a bearer token; request bodies are bounded.

use crate::client::{Client, ClientConfig};
use crate::egress::Egress;
use crate::fanout::Fanout;
use crate::interrupt::Interrupt;
use crate::limits::Limits;
use crate::runtime::Runtime;
use crate::ssrf::{AddressPolicy, IpNet};
use crate::transfer::{Credentials, Report, Transfer, TransferError};
use crate::trigger::{self, Invalid, Job, Rules};
use anyhow::{Context as _, Result};
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

/// The port Function Compute's custom containers listen on by default.
pub const FC_DEFAULT_PORT: u16 = 9000;

/// The default bound on a request body: events are small JSON documents.
pub const DEFAULT_MAX_BODY: usize = 1 << 20;

/// How `ferry serve` runs.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    /// Where to listen.
    pub listen: SocketAddr,
    /// Requests must carry `Authorization: Bearer <token>` (FC's own
    /// `/invoke` and `/initialize` excepted on Function Compute).
    pub token: Option<String>,
    /// How events become jobs.
    pub rules: Rules,
    /// Per job: parts in flight (`instances`), instance memory and deadline.
    pub limits: Limits,
    /// Transfers at once; more requests wait their turn.
    pub jobs: u32,
    /// Largest request body, in bytes (413 past it).
    pub max_body: usize,
    /// Ranges re-opened in the address policy.
    pub allow: Vec<IpNet>,
    /// The ferry component.
    pub component: PathBuf,
    /// Defaults for jobs that do not say.
    pub signature: Option<String>,
    pub retries: Option<u32>,
    pub part_timeout: Option<u32>,
    /// Running on Function Compute (any `FC_*` variable is set).
    pub on_fc: bool,
}

/// Whether this process runs on Function Compute: FC sets `FC_*` variables
/// (`FC_SERVER_PORT`, `FC_FUNCTION_NAME`, `FC_REGION`, …) in every instance.
pub fn on_function_compute() -> bool {
    std::env::vars_os().any(|(k, _)| k.to_string_lossy().starts_with("FC_"))
}

/// The address to listen on when none is given: every interface on
/// Function Compute (FC connects from outside the container), loopback
/// elsewhere; the port from `FC_SERVER_PORT`, else 9000.
pub fn default_listen(on_fc: bool) -> SocketAddr {
    let port = std::env::var("FC_SERVER_PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(FC_DEFAULT_PORT);
    let ip = if on_fc {
        Ipv4Addr::UNSPECIFIED
    } else {
        Ipv4Addr::LOCALHOST
    };
    SocketAddr::from((ip, port))
}

impl ServeConfig {
    /// Refuses configurations that would expose the service.
    pub fn check(&self) -> Result<()> {
        if let Some(token) = &self.token {
            anyhow::ensure!(
                token.len() >= 16,
                "the bearer token is too short; use at least 16 random characters \
                 (e.g. `openssl rand -hex 24`)"
            );
        }
        if !self.on_fc && self.token.is_none() && !self.listen.ip().is_loopback() {
            anyhow::bail!(
                "refusing to listen on {} without a token: outside Function Compute, \
                 `ferry serve` listens on loopback only unless requests must carry a bearer \
                 token; add --token TOKEN (or FERRY_TOKEN) or listen on 127.0.0.1",
                self.listen
            );
        }
        anyhow::ensure!(self.jobs >= 1, "--jobs must be at least 1");
        Ok(())
    }

    fn policy(&self) -> AddressPolicy {
        self.allow
            .iter()
            .fold(AddressPolicy::service(), |p, net| p.allow(*net))
    }
}

/// The running service.
struct Server {
    config: ServeConfig,
    runtime: Arc<Runtime>,
    policy: AddressPolicy,
    /// One permit per transfer allowed at once.
    slots: Semaphore,
    /// The running transfers' interrupts, stopped together on shutdown.
    running: Mutex<HashMap<u64, Interrupt>>,
    next_id: AtomicU64,
    stopping: AtomicBool,
    /// Part tasks from remote coordinators running at once.
    part_slots: Semaphore,
    /// Stops the running part tasks on shutdown.
    parts_interrupt: Interrupt,
}

/// Compiles the component, listens, and serves until SIGTERM or SIGINT;
/// then stops the running transfers (their uploads are aborted, or kept
/// when the job said `keep_partial`) and returns once they have answered.
pub async fn serve(config: ServeConfig) -> Result<()> {
    config.check()?;
    let policy = config.policy();
    // The pool holds every job's coordinator and part instances at once.
    let pool_limits = Limits {
        instances: config.limits.instances.saturating_mul(config.jobs),
        ..config.limits
    };
    let client = Arc::new(Client::new(ClientConfig::with_policy(policy.clone())));
    let runtime = Runtime::with_client(&config.component, pool_limits, client)?;
    let listener = TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    let local = listener.local_addr()?;
    eprintln!(
        "ferry serve: listening on http://{local} ({}; {} transfer(s) at once, {} parts in flight each; \
         POST /invoke, POST /jobs)",
        if config.on_fc {
            "Function Compute"
        } else if config.token.is_some() {
            "bearer token required"
        } else {
            "loopback only"
        },
        config.jobs,
        config.limits.instances,
    );
    let server = Arc::new(Server {
        slots: Semaphore::new(config.jobs as usize),
        runtime,
        policy,
        running: Mutex::new(HashMap::new()),
        next_id: AtomicU64::new(1),
        stopping: AtomicBool::new(false),
        part_slots: Semaphore::new(config.limits.instances as usize),
        parts_interrupt: Interrupt::default(),
        config,
    });
    let stop = shutdown_signal();
    tokio::pin!(stop);
    let open = Arc::new(AtomicU64::new(0));
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                let server = server.clone();
                let open = open.clone();
                open.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |req| {
                        let server = server.clone();
                        async move { Ok::<_, std::convert::Infallible>(server.handle(req).await) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                    open.fetch_sub(1, Ordering::SeqCst);
                });
            }
            signal = &mut stop => {
                eprintln!("ferry serve: {signal}: stopping the running transfers");
                break;
            }
        }
    }
    drop(listener);
    server.stopping.store(true, Ordering::SeqCst);
    server
        .parts_interrupt
        .trigger("the server is shutting down");
    let interrupts: Vec<Interrupt> = server.running.lock().unwrap().values().cloned().collect();
    for i in &interrupts {
        i.trigger("the server is shutting down");
    }
    // Wait for the stopped transfers to answer (their aborts take a moment).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while !server.running.lock().unwrap().is_empty() && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Let the answers reach their clients.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
    while open.load(Ordering::SeqCst) > 0 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(())
}

async fn shutdown_signal() -> &'static str {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut int), Ok(mut term)) = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) else {
        return std::future::pending().await;
    };
    tokio::select! {
        _ = int.recv() => "SIGINT",
        _ = term.recv() => "SIGTERM",
    }
}

type Answer = Response<Full<Bytes>>;

impl Server {
    async fn handle(self: Arc<Self>, req: Request<Incoming>) -> Answer {
        let path = req.uri().path().to_string();
        let event_path = matches!(path.as_str(), "/invoke" | "/initialize");
        let mut answer = self.route(req, &path, event_path).await;
        if event_path {
            // FC reads an event invocation's outcome from x-fc-status: 200
            // succeeded, 404 failed (its documented values).
            let status = if answer.status().is_success() {
                "200"
            } else {
                "404"
            };
            answer
                .headers_mut()
                .insert("x-fc-status", HeaderValue::from_static(status));
        }
        answer
    }

    async fn route(&self, req: Request<Incoming>, path: &str, event_path: bool) -> Answer {
        // FC's own event calls carry its credentials, not the token; an HTTP
        // trigger request is marked /http-invoke and must carry the token
        // whatever its path.
        let from_fc = self.config.on_fc
            && event_path
            && header(req.headers(), "x-fc-control-path") != Some("/http-invoke");
        if let Some(token) = &self.config.token {
            if !from_fc && !bearer_matches(req.headers(), token) {
                let mut r = failure(
                    StatusCode::UNAUTHORIZED,
                    "unauthorized",
                    "this server needs `Authorization: Bearer TOKEN`",
                );
                r.headers_mut()
                    .insert("www-authenticate", HeaderValue::from_static("Bearer"));
                return r;
            }
        }
        match (req.method(), path) {
            (&Method::GET, "/") => json_answer(
                StatusCode::OK,
                &serde_json::json!({
                    "ok": true,
                    "service": "ferry",
                    "version": env!("CARGO_PKG_VERSION"),
                    "routes": ["POST /invoke", "POST /initialize", "POST /jobs", "POST /parts"],
                }),
            ),
            (&Method::POST, "/initialize") => {
                // Drain the body; the component was compiled at start.
                let _ = self.read_body(req).await;
                json_answer(StatusCode::OK, &serde_json::json!({"ok": true}))
            }
            (&Method::POST, "/invoke" | "/jobs" | "/parts") => self.run(req).await,
            (_, "/invoke" | "/initialize" | "/jobs" | "/parts") => {
                let mut r = failure(
                    StatusCode::METHOD_NOT_ALLOWED,
                    "invalid-input",
                    &format!("{path} takes POST"),
                );
                r.headers_mut()
                    .insert("allow", HeaderValue::from_static("POST"));
                r
            }
            _ => failure(
                StatusCode::NOT_FOUND,
                "invalid-input",
                &format!(
                    "no route {path}; ferry serves POST /invoke, POST /jobs, POST /parts and \
                     POST /initialize"
                ),
            ),
        }
    }

    async fn read_body(&self, req: Request<Incoming>) -> Result<Bytes, Answer> {
        let max = self.config.max_body;
        let too_large = || {
            failure(
                StatusCode::PAYLOAD_TOO_LARGE,
                "invalid-input",
                &format!("the request body is larger than {max} bytes"),
            )
        };
        let declared = header(req.headers(), "content-length").and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|n| n > max as u64) {
            return Err(too_large());
        }
        match Limited::new(req.into_body(), max).collect().await {
            Ok(collected) => Ok(collected.to_bytes()),
            Err(e) if e.is::<http_body_util::LengthLimitError>() => Err(too_large()),
            Err(e) => Err(failure(
                StatusCode::BAD_REQUEST,
                "invalid-input",
                &format!("cannot read the request body: {e}"),
            )),
        }
    }

    /// Runs the jobs of one request, one after another, and answers their
    /// results: one object for one job, an array for several.
    async fn run(&self, req: Request<Incoming>) -> Answer {
        if self.stopping.load(Ordering::SeqCst) {
            return failure(
                StatusCode::SERVICE_UNAVAILABLE,
                "internal",
                "the server is shutting down",
            );
        }
        let headers = req.headers().clone();
        let body = match self.read_body(req).await {
            Ok(b) => b,
            Err(answer) => return answer,
        };
        // A coordinator's part task (POST /parts from workers fan-out, or
        // an FC InvokeFunction, which arrives as /invoke).
        if let Some(task) = part_task(&body) {
            return self.run_part(task, body).await;
        }
        let invalid = |e: Invalid| failure(StatusCode::BAD_REQUEST, "invalid-input", &e.0);
        let credentials = match credentials(&headers) {
            Ok(c) => c,
            Err(e) => return invalid(e),
        };
        let jobs = match trigger::jobs(&body, &self.config.rules, header(&headers, "x-fc-region")) {
            Ok(jobs) => jobs,
            Err(e) => return invalid(e),
        };
        let request_id = header(&headers, "x-fc-request-id")
            .filter(|id| id.len() <= 128)
            .unwrap_or("-")
            .to_string();
        let several = jobs.len() > 1;
        let mut status = StatusCode::OK;
        let mut results = Vec::with_capacity(jobs.len());
        for job in jobs {
            let outcome = self.run_job(&job, credentials.clone(), &request_id).await;
            let (code, value) = result_json(outcome);
            if status.is_success() && !code.is_success() {
                status = code;
            }
            results.push(value);
        }
        let body = if several {
            serde_json::Value::Array(results)
        } else {
            results.pop().unwrap_or_default()
        };
        json_answer(status, &body)
    }

    /// Runs one part task on a fresh local instance. The task holds presigned
    /// URLs only; its instance may reach exactly the task's source and
    /// upload hosts, each address checked against this server's policy.
    async fn run_part(&self, task: PartTaskUrls, body: Bytes) -> Answer {
        let Ok(_slot) = self.part_slots.acquire().await else {
            return failure(
                StatusCode::SERVICE_UNAVAILABLE,
                "internal",
                "the server is stopping",
            );
        };
        let mut egress = Egress::default();
        egress
            .allow_url(&task.source_url)
            .allow_url(&task.upload_url);
        let fanout = Fanout::new(
            self.runtime.clone(),
            Arc::new(egress),
            self.parts_interrupt.clone(),
        );
        let request = http::Request::post(format!("{}/parts", crate::outgoing::fanout_url()))
            .header("content-type", "application/json")
            .body(
                Full::new(body)
                    .map_err(|never| match never {})
                    .boxed_unsync(),
            )
            .expect("a static request");
        let response = fanout.dispatch(request).await;
        let (parts, body) = response.into_parts();
        let body = match body.collect().await {
            Ok(b) => b.to_bytes(),
            Err(e) => {
                return failure(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "internal",
                    &format!("the part instance's answer broke off: {e}"),
                )
            }
        };
        let mut answer = Response::new(Full::new(body));
        *answer.status_mut() = parts.status;
        for name in ["content-type", "retry-after"] {
            if let Some(v) = parts.headers.get(name) {
                answer.headers_mut().insert(name, v.clone());
            }
        }
        answer
    }

    async fn run_job(
        &self,
        job: &Job,
        credentials: Option<Credentials>,
        request_id: &str,
    ) -> Result<Report, TransferError> {
        let shown = format!("{} -> {}", redact(&job.source_url), job.target());
        self.check_addresses(job).await.inspect_err(|e| {
            eprintln!("ferry serve: {request_id}: {shown}: refused: {e}");
        })?;
        let Ok(_slot) = self.slots.acquire().await else {
            return Err(error("internal", "the server is shutting down"));
        };
        let limits = Limits {
            instances: job
                .parallel
                .unwrap_or(self.config.limits.instances)
                .clamp(1, self.config.limits.instances),
            ..self.config.limits
        };
        let mut transfer = Transfer::builder()
            .source(&job.source_url)
            .target(job.target())
            .limits(limits)
            .keep_partial(job.keep_partial);
        if let Some(c) = credentials {
            transfer = transfer.credentials(c);
        }
        if let Some(r) = &job.region {
            transfer = transfer.region(r);
        }
        if let Some(e) = &job.endpoint {
            transfer = transfer.endpoint(e);
        }
        if let Some(p) = &job.part_size {
            transfer = transfer.part_size(p);
        }
        if let Some(s) = job.signature.as_ref().or(self.config.signature.as_ref()) {
            transfer = transfer.signature(s);
        }
        if let Some(n) = job.retries.or(self.config.retries) {
            transfer = transfer.retries(n);
        }
        if let Some(n) = job.part_timeout.or(self.config.part_timeout) {
            transfer = transfer.part_timeout(n);
        }
        if let Some(id) = &job.resume {
            transfer = transfer.resume(id);
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let interrupt = transfer.interrupt();
        if self.stopping.load(Ordering::SeqCst) {
            return Err(error("internal", "the server is shutting down"));
        }
        self.running.lock().unwrap().insert(id, interrupt);
        eprintln!("ferry serve: {request_id}: {shown}: started");
        let outcome = transfer.run_on(&self.runtime, |_| {}).await;
        self.running.lock().unwrap().remove(&id);
        match &outcome {
            Ok(r) => eprintln!(
                "ferry serve: {request_id}: {shown}: done, {} bytes in {} parts, crc64 {}, {:.2} s",
                r.size, r.parts, r.crc64, r.seconds
            ),
            Err(e) => eprintln!(
                "ferry serve: {request_id}: {shown}: failed ({}): {e}",
                e.kind
            ),
        }
        outcome
    }

    /// Refuses a job at once when its source or store resolves only to
    /// addresses the policy refuses, with a message that says so. (The
    /// client checks every connection again, so this is for clarity, not
    /// the guard itself: a name that changes its answer is still caught.)
    async fn check_addresses(&self, job: &Job) -> Result<(), TransferError> {
        let mut urls = vec![("source", job.source_url.as_str())];
        if let Some(e) = &job.endpoint {
            urls.push(("store endpoint", e.as_str()));
        }
        for (what, url) in urls {
            let Ok(parsed) = url::Url::parse(url) else {
                continue;
            };
            let (Some(host), Some(port)) = (parsed.host(), parsed.port_or_known_default()) else {
                continue;
            };
            let addrs: Vec<IpAddr> = match host {
                url::Host::Ipv4(ip) => vec![ip.into()],
                url::Host::Ipv6(ip) => vec![ip.into()],
                url::Host::Domain(name) => match tokio::net::lookup_host((name, port)).await {
                    Ok(found) => found.map(|a| a.ip()).collect(),
                    // Let the transfer report a name that does not resolve.
                    Err(_) => continue,
                },
            };
            let refusals: Vec<String> = addrs
                .iter()
                .filter_map(|ip| self.policy.check(*ip).err())
                .map(|r| r.to_string())
                .collect();
            if !addrs.is_empty() && refusals.len() == addrs.len() {
                return Err(error(
                    "invalid-input",
                    &format!(
                        "the {what} {} is refused: {}; start the server with --allow-cidr \
                         to allow that range",
                        redact(url),
                        refusals.join("; ")
                    ),
                ));
            }
        }
        Ok(())
    }
}

/// FC's temporary credentials from a request's headers, if it carries them.
/// The URLs of a part task, if the body is one.
struct PartTaskUrls {
    source_url: String,
    upload_url: String,
}

fn part_task(body: &[u8]) -> Option<PartTaskUrls> {
    let v: serde_json::Value = serde_json::from_slice(body).ok()?;
    v.get("part_number")?;
    Some(PartTaskUrls {
        source_url: v.get("source_url")?.as_str()?.to_string(),
        upload_url: v.get("upload_url")?.as_str()?.to_string(),
    })
}

fn credentials(headers: &HeaderMap) -> Result<Option<Credentials>, Invalid> {
    let get = |name: &str| -> Result<Option<String>, Invalid> {
        match headers.get(name) {
            None => Ok(None),
            Some(v) => match v.to_str() {
                Ok("") => Ok(None),
                Ok(s) => Ok(Some(s.to_string())),
                Err(_) => Err(Invalid(format!("the {name} header is not visible ASCII"))),
            },
        }
    };
    let id = get("x-fc-access-key-id")?;
    let secret = get("x-fc-access-key-secret")?;
    let token = get("x-fc-security-token")?;
    match (id, secret) {
        (Some(access_key_id), Some(access_key_secret)) => Ok(Some(Credentials {
            access_key_id,
            access_key_secret,
            security_token: token,
        })),
        (None, None) if token.is_none() => Ok(None),
        _ => Err(Invalid(
            "incomplete credentials: x-fc-access-key-id and x-fc-access-key-secret come \
             together (with x-fc-security-token for an STS key)"
                .into(),
        )),
    }
}

/// The status a transfer's outcome is answered with: 200 done; 400 the job
/// was wrong; 502 the source or the store refused, or a CRC disagreed; 503
/// a transient failure outlasted its retries; 500 otherwise.
fn status_for(kind: &str) -> StatusCode {
    match kind {
        "invalid-input" => StatusCode::BAD_REQUEST,
        "source" | "store" | "integrity" => StatusCode::BAD_GATEWAY,
        "exhausted" => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

fn result_json(outcome: Result<Report, TransferError>) -> (StatusCode, serde_json::Value) {
    match outcome {
        Ok(report) => {
            let mut v = serde_json::to_value(&report).unwrap_or_default();
            v["ok"] = true.into();
            (StatusCode::OK, v)
        }
        Err(e) => {
            let status = status_for(&e.kind);
            let mut v = serde_json::to_value(&e).unwrap_or_default();
            v["ok"] = false.into();
            (status, v)
        }
    }
}

fn error(kind: &str, message: &str) -> TransferError {
    TransferError {
        kind: kind.into(),
        message: message.into(),
        part_number: None,
        upload_id: None,
    }
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// Whether the request carries `Authorization: Bearer <token>`, compared in
/// constant time (for a given token length).
fn bearer_matches(headers: &HeaderMap, token: &str) -> bool {
    let Some(given) = headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.as_bytes().strip_prefix(b"Bearer "))
    else {
        return false;
    };
    constant_time_eq(given, token.as_bytes())
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

/// A URL as it may be shown: no user info, no query (presigned URLs carry
/// signatures there).
fn redact(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) => {
            let _ = u.set_username("");
            let _ = u.set_password(None);
            u.set_query(None);
            u.set_fragment(None);
            u.to_string()
        }
        Err(_) => "<unparsable URL>".into(),
    }
}

fn json_answer(status: StatusCode, body: &serde_json::Value) -> Answer {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body.to_string())))
        .expect("a JSON response always builds")
}

fn failure(status: StatusCode, kind: &str, message: &str) -> Answer {
    json_answer(
        status,
        &serde_json::json!({"ok": false, "kind": kind, "message": message}),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn credentials_come_from_fc_headers_or_not_at_all() {
        assert!(credentials(&headers(&[])).unwrap().is_none());
        let c = credentials(&headers(&[
            ("x-fc-access-key-id", "STS.id"),
            ("x-fc-access-key-secret", "s3cret"),
            ("x-fc-security-token", "tok"),
        ]))
        .unwrap()
        .unwrap();
        assert_eq!(c.access_key_id, "STS.id");
        assert_eq!(c.access_key_secret, "s3cret");
        assert_eq!(c.security_token.as_deref(), Some("tok"));
        for partial in [
            &[("x-fc-access-key-id", "id")][..],
            &[("x-fc-access-key-secret", "s")][..],
            &[("x-fc-security-token", "t")][..],
        ] {
            let e = credentials(&headers(partial)).unwrap_err();
            assert!(e.0.contains("incomplete"));
            assert!(!e.0.contains("s3cret"));
        }
    }

    #[test]
    fn bearer_tokens_compare_exactly() {
        let t = "0123456789abcdef";
        assert!(bearer_matches(
            &headers(&[("authorization", "Bearer 0123456789abcdef")]),
            t
        ));
        for bad in [
            "Bearer 0123456789abcdeF",
            "Bearer 0123456789abcde",
            "bearer 0123456789abcdef",
            "Basic 0123456789abcdef",
            "Bearer  0123456789abcdef",
        ] {
            assert!(
                !bearer_matches(&headers(&[("authorization", bad)]), t),
                "{bad}"
            );
        }
        assert!(!bearer_matches(&headers(&[]), t));
    }

    #[test]
    fn outside_fc_only_loopback_without_a_token() {
        let config = |listen: &str, token: Option<&str>, on_fc: bool| ServeConfig {
            listen: listen.parse().unwrap(),
            token: token.map(str::to_string),
            rules: Rules::default(),
            limits: Limits::default(),
            jobs: 1,
            max_body: DEFAULT_MAX_BODY,
            allow: vec![],
            component: "ferry.wasm".into(),
            signature: None,
            retries: None,
            part_timeout: None,
            on_fc,
        };
        assert!(config("127.0.0.1:9000", None, false).check().is_ok());
        assert!(config("[::1]:9000", None, false).check().is_ok());
        let e = config("0.0.0.0:9000", None, false).check().unwrap_err();
        assert!(e.to_string().contains("--token"));
        assert!(config("0.0.0.0:9000", Some("0123456789abcdef"), false)
            .check()
            .is_ok());
        assert!(config("0.0.0.0:9000", None, true).check().is_ok());
        assert!(config("127.0.0.1:9000", Some("short"), false)
            .check()
            .is_err());
    }

    #[test]
    fn statuses_follow_the_kind() {
        assert_eq!(status_for("invalid-input"), StatusCode::BAD_REQUEST);
        assert_eq!(status_for("store"), StatusCode::BAD_GATEWAY);
        assert_eq!(status_for("source"), StatusCode::BAD_GATEWAY);
        assert_eq!(status_for("integrity"), StatusCode::BAD_GATEWAY);
        assert_eq!(status_for("exhausted"), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(status_for("internal"), StatusCode::INTERNAL_SERVER_ERROR);
    }

    #[test]
    fn urls_are_shown_without_secrets() {
        assert_eq!(
            redact("https://u:p@h.example/k?Signature=abc#f"),
            "https://h.example/k"
        );
    }
}
