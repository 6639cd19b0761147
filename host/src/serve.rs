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
//! on loopback only unless it has a bearer token; request bodies are bounded,
//! and so are the connections: how many are open, how long one may stay
//! silent and how long a request's head may take ([`Connections`]).

use crate::fc::{AccessKey, FcConfig};
use crate::interrupt::Interrupt;
use crate::limits::{self, BadOption, Limits};
use crate::net::address_policy::{AddressPolicy, IpNet};
use crate::net::client::{Client, ClientConfig};
use crate::net::egress::Egress;
use crate::parts::{Fanout, LocalInstances};
use crate::runtime::Runtime;
use crate::transfer::{Credentials, FailureKind, Report, Transfer, TransferError};
use crate::trigger::{self, Invalid, Job, Rules};
use anyhow::{Context as _, Result};
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use std::collections::HashMap;
use std::ffi::OsString;
use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

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
    /// Running on Function Compute ([`on_function_compute`]).
    pub on_fc: bool,
    /// Bounds on the connections.
    pub connections: Connections,
    /// Where a job's parts run: this instance, or InvokeFunction calls.
    pub fan_out: FanOut,
    /// A PEM file of CA certificates trusted besides the bundled roots,
    /// the system store and the environment's (`--ca-bundle`).
    pub ca_bundle: Option<PathBuf>,
}

/// Where `ferry serve` runs a job's parts. On Function Compute (and off it
/// when `--fc-function` or `--fc-endpoint` is given) each part goes out as
/// a synchronous InvokeFunction of the function itself, signed with the
/// invocation's own temporary credentials, so one job spreads over as many
/// instances as it has parts in flight; `--local` keeps them here.
#[derive(Debug, Clone, Default, PartialEq, Eq, clap::Args)]
pub struct FanOut {
    /// Run every part inside this instance, also on Function Compute (where each part
    /// otherwise goes out as an InvokeFunction call of this function).
    #[arg(long, conflicts_with_all = ["fc_function", "fc_endpoint", "fc_qualifier"])]
    pub local: bool,
    /// The function each part invokes [default: FC_FUNCTION_NAME, else the request's
    /// x-fc-function-name]; giving it (or --fc-endpoint) turns self fan-out on outside
    /// Function Compute too.
    #[arg(long, value_name = "NAME")]
    pub fc_function: Option<String>,
    /// Function Compute's endpoint for those calls [default: the in-region internal endpoint
    /// https://ACCOUNT_ID.REGION-internal.fc.aliyuncs.com, from the request's x-fc-account-id
    /// and x-fc-region, else FC_ACCOUNT_ID and FC_REGION].
    #[arg(long, value_name = "URL")]
    pub fc_endpoint: Option<String>,
    /// The version or alias to invoke [default: the request's x-fc-qualifier, else LATEST].
    #[arg(long, value_name = "QUALIFIER")]
    pub fc_qualifier: Option<String>,
}

impl FanOut {
    /// Whether parts go out as InvokeFunction calls at all.
    pub fn active(&self, on_fc: bool) -> bool {
        !self.local && (on_fc || self.fc_function.is_some() || self.fc_endpoint.is_some())
    }

    /// The InvokeFunction target for one request's jobs: `Ok(None)` when
    /// parts stay here by configuration, `Err` (the reason, for the log)
    /// when self fan-out is on but this request lacks what it needs, and
    /// its parts stay here too. `env` reads the process's variables.
    /// Only the request's own credentials sign the calls, never the
    /// process's: they are the invocation's role, scoped to it.
    pub fn target(
        &self,
        on_fc: bool,
        env: impl Fn(&str) -> Option<String>,
        headers: &HeaderMap,
        credentials: Option<&Credentials>,
    ) -> Result<Option<FcConfig>, String> {
        if !self.active(on_fc) {
            return Ok(None);
        }
        let from_request = |name: &str| header(headers, name).filter(|v| !v.is_empty());
        let Some(credentials) = credentials else {
            return Err(
                "the request carries no x-fc-access-key-id and x-fc-access-key-secret to \
                 invoke the function with (give the function a role that may \
                 fc:InvokeFunction on itself)"
                    .into(),
            );
        };
        let function = self
            .fc_function
            .clone()
            .or_else(|| env("FC_FUNCTION_NAME").filter(|v| !v.is_empty()))
            .or_else(|| from_request("x-fc-function-name").map(str::to_string))
            .ok_or("no function to invoke: set --fc-function (FC sets FC_FUNCTION_NAME)")?;
        if !fc_name_ok(&function, false) {
            return Err(format!(
                "the function name {function:?} is not a Function Compute name (letters, \
                 digits, _ and -, at most 128)"
            ));
        }
        let qualifier = self
            .fc_qualifier
            .clone()
            .or_else(|| from_request("x-fc-qualifier").map(str::to_string));
        if let Some(q) = qualifier.as_deref().filter(|q| !fc_name_ok(q, true)) {
            return Err(format!(
                "the qualifier {q:?} is not a version or alias name (letters, digits, _, - \
                 and ., at most 128)"
            ));
        }
        let endpoint = match &self.fc_endpoint {
            Some(e) => e.clone(),
            None => {
                let account = from_request("x-fc-account-id")
                    .map(str::to_string)
                    .or_else(|| env("FC_ACCOUNT_ID"))
                    .filter(|a| {
                        !a.is_empty() && a.len() <= 32 && a.bytes().all(|b| b.is_ascii_digit())
                    })
                    .ok_or(
                        "no account to build FC's endpoint from: x-fc-account-id (or \
                         FC_ACCOUNT_ID) must be the account's digits; or give --fc-endpoint",
                    )?;
                let region = from_request("x-fc-region")
                    .map(str::to_string)
                    .or_else(|| env("FC_REGION"))
                    .filter(|r| {
                        !r.is_empty()
                            && r.len() <= 64
                            && r.bytes()
                                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                    })
                    .ok_or(
                        "no region to build FC's endpoint from: x-fc-region (or FC_REGION) \
                         must be a region id such as cn-hangzhou; or give --fc-endpoint",
                    )?;
                fc_internal_endpoint(&account, &region)
            }
        };
        Ok(Some(FcConfig {
            function,
            endpoint,
            qualifier,
            key: AccessKey {
                id: credentials.access_key_id.clone(),
                secret: credentials.access_key_secret.clone(),
                security_token: credentials.security_token.clone(),
            },
        }))
    }
}

/// Function Compute's internal endpoint for `account` in `region`, the one
/// FC documents for calls from inside the same region (its "Endpoints"
/// page: `<account-ID>.<region-ID>-internal.fc.aliyuncs.com`, reached
/// without Internet traffic charges); the public one
/// (`<account-ID>.<region-ID>.fc.aliyuncs.com`) is for callers outside
/// Alibaba Cloud, and `--fc-endpoint` can name it.
pub fn fc_internal_endpoint(account: &str, region: &str) -> String {
    format!("https://{account}.{region}-internal.fc.aliyuncs.com")
}

/// A function name (letters, digits, `_`, `-`; not starting with a digit
/// or `-`), or with `dots` a version or alias (`.` allowed too), at most 128.
fn fc_name_ok(name: &str, dots: bool) -> bool {
    let first_ok = name
        .bytes()
        .next()
        .is_some_and(|b| dots || b.is_ascii_alphabetic() || b == b'_');
    first_ok
        && name.len() <= 128
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || (dots && b == b'.'))
}

/// Bounds on the server's connections, so that clients which open
/// connections and send nothing, or send a request a few bytes at a time,
/// cannot hold the server: each is closed within its timeout, and past the
/// bound further clients wait for a free connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::Args)]
pub struct Connections {
    /// Seconds a request's head may take from its first byte, and then its body; past it the
    /// connection is closed (the body is answered 408); 1 to 86400.
    #[arg(long, value_name = "SECS", default_value_t = Connections::DEFAULT.header_timeout)]
    pub header_timeout: u64,
    /// Seconds a connection with no request in progress may stay silent (before its first
    /// request, or kept alive after an answer) before it is closed; 1 to 86400.
    #[arg(long, value_name = "SECS", default_value_t = Connections::DEFAULT.idle_timeout)]
    pub idle_timeout: u64,
    /// Connections open at once; further clients wait until one closes; 1 to 65536.
    #[arg(long, value_name = "N", default_value_t = Connections::DEFAULT.max_connections)]
    pub max_connections: u32,
}

impl Connections {
    /// A head in 10 s, a minute of silence, 256 connections.
    pub const DEFAULT: Connections = Connections {
        header_timeout: 10,
        idle_timeout: 60,
        max_connections: 256,
    };
}

impl Connections {
    /// The most `--max-connections` may be.
    pub const MAX_CONNECTIONS: u32 = 65536;

    /// Each bound within its range, else a line naming the option, the
    /// range and what it bounds.
    pub fn check(&self) -> Result<(), BadOption> {
        limits::check_seconds(
            "--header-timeout",
            self.header_timeout,
            "seconds a request's head, and then its body, may take",
        )?;
        limits::check_seconds(
            "--idle-timeout",
            self.idle_timeout,
            "seconds a connection with no request in progress may stay silent",
        )?;
        let max = Self::MAX_CONNECTIONS;
        if !(1..=max).contains(&self.max_connections) {
            return Err(BadOption(format!(
                "--max-connections {} is out of range: give 1 to {max} (connections open at once)",
                self.max_connections
            )));
        }
        Ok(())
    }
}

impl Default for Connections {
    fn default() -> Self {
        Connections::DEFAULT
    }
}

/// The variables Function Compute documents as set in every function
/// instance ("Configure environment variables": the account, the function,
/// its region, the instance). They mark Function Compute only together: a
/// stray `FC_*` variable elsewhere must not open the server to the network.
pub const FC_VARIABLES: [&str; 4] = [
    "FC_ACCOUNT_ID",
    "FC_FUNCTION_NAME",
    "FC_REGION",
    "FC_INSTANCE_ID",
];

/// The variables of [`FC_VARIABLES`] that `get` lacks (or finds empty).
fn fc_missing(get: impl Fn(&str) -> Option<OsString>) -> Vec<&'static str> {
    FC_VARIABLES
        .into_iter()
        .filter(|name| get(name).is_none_or(|v| v.is_empty()))
        .collect()
}

/// Whether this process runs on Function Compute: every variable of
/// [`FC_VARIABLES`] is set. Logs (at info) what it decided and why, since on
/// Function Compute the server listens on every interface.
pub fn on_function_compute() -> bool {
    let missing = fc_missing(|name| std::env::var_os(name));
    if missing.is_empty() {
        tracing::info!(
            "on Function Compute ({} are all set): ferry serve listens on every interface \
             unless --listen says otherwise (FC connects from outside the container), and \
             FC's own /invoke and /initialize calls need no token",
            FC_VARIABLES.join(", ")
        );
        return true;
    }
    let present: Vec<String> = std::env::vars_os()
        .map(|(k, _)| k.to_string_lossy().into_owned())
        .filter(|k| k.starts_with("FC_"))
        .collect();
    if !present.is_empty() {
        tracing::info!(
            "not on Function Compute: {} set, but not {} (FC sets {} together); \
             listening as anywhere else, beyond loopback only with a token",
            present.join(", "),
            missing.join(", "),
            FC_VARIABLES.join(", ")
        );
    }
    false
}

/// The address to listen on when none is given: every interface on
/// Function Compute (FC connects from outside the container), loopback
/// elsewhere; the port from `FC_CUSTOM_LISTEN_PORT` (FC's documented
/// variable), else `FC_SERVER_PORT`, else 9000.
pub fn default_listen(on_fc: bool) -> SocketAddr {
    let port = ["FC_CUSTOM_LISTEN_PORT", "FC_SERVER_PORT"]
        .into_iter()
        .find_map(|name| std::env::var(name).ok()?.parse().ok())
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
        self.connections.check().map_err(anyhow::Error::msg)?;
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
/// when the job said `keep_partial`), answers them 503 `stopping` and
/// returns once they have answered.
pub async fn serve(config: ServeConfig) -> Result<()> {
    config.check()?;
    let policy = config.policy();
    // The pool holds every job's coordinator and part instances at once.
    let pool_limits = Limits {
        instances: config.limits.instances.saturating_mul(config.jobs),
        ..config.limits
    };
    let client = ClientConfig::from_env(policy.clone(), config.ca_bundle.as_deref())
        .map_err(anyhow::Error::msg)?;
    let client = Arc::new(Client::new(client));
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
    if config.fan_out.active(config.on_fc) {
        eprintln!(
            "ferry serve: each part of a job goes out as a synchronous InvokeFunction call of {}, \
             signed with the invocation's own credentials (--local keeps parts here)",
            config
                .fan_out
                .fc_function
                .as_deref()
                .unwrap_or("this function")
        );
    }
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
    let max_connections = server.config.connections.max_connections as usize;
    let connections = Arc::new(Semaphore::new(max_connections));
    let signal = loop {
        tokio::select! {
            (slot, accepted) = accept(&listener, &connections) => match accepted {
                Ok((stream, peer)) => {
                    tokio::spawn(server.clone().connection(stream, peer, slot));
                }
                Err(e) => {
                    // Out of file descriptors, say: wait rather than spin.
                    tracing::warn!("cannot accept a connection: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
            signal = &mut stop => break signal,
        }
    };
    eprintln!("ferry serve: {signal}: stopping the running transfers");
    drop(listener);
    server.stopping.store(true, Ordering::SeqCst);
    server.parts_interrupt.trigger(signal);
    let interrupts: Vec<Interrupt> = server.running.lock().unwrap().values().cloned().collect();
    for i in &interrupts {
        i.trigger(signal);
    }
    // Wait for the stopped transfers to answer (their aborts take a moment).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while !server.running.lock().unwrap().is_empty() && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Let the answers reach their clients.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
    while connections.available_permits() < max_connections
        && tokio::time::Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(())
}

/// The next connection, once one of the `--max-connections` slots is free:
/// past the bound, clients wait in the listen queue rather than being
/// refused.
async fn accept(
    listener: &TcpListener,
    slots: &Arc<Semaphore>,
) -> (
    OwnedSemaphorePermit,
    std::io::Result<(TcpStream, SocketAddr)>,
) {
    let slot = slots
        .clone()
        .acquire_owned()
        .await
        .expect("the connection slots are never closed");
    (slot, listener.accept().await)
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
    /// Serves one connection, holding its slot until it closes.
    async fn connection(
        self: Arc<Self>,
        stream: TcpStream,
        peer: SocketAddr,
        _slot: OwnedSemaphorePermit,
    ) {
        let requests = Arc::new(Requests::default());
        let io = Timed::new(stream, requests.clone(), self.config.connections);
        let service = hyper::service::service_fn(move |req| {
            let handling = Handling::start(&requests);
            let server = self.clone();
            async move {
                let answer = server.handle(req).await;
                drop(handling);
                Ok::<_, std::convert::Infallible>(answer)
            }
        });
        if let Err(e) = hyper::server::conn::http1::Builder::new()
            .serve_connection(TokioIo::new(io), service)
            .await
        {
            tracing::debug!("connection from {peer} closed: {e}");
        }
    }

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
        let secs = self.config.connections.header_timeout;
        let body = Limited::new(req.into_body(), max).collect();
        let Ok(read) = tokio::time::timeout(Duration::from_secs(secs), body).await else {
            let mut answer = failure(
                StatusCode::REQUEST_TIMEOUT,
                "invalid-input",
                &format!(
                    "the request body did not arrive within {secs} s (--header-timeout); \
                     send it whole, at once"
                ),
            );
            // The rest of the body is not waited for: the connection ends.
            answer
                .headers_mut()
                .insert("connection", HeaderValue::from_static("close"));
            return Err(answer);
        };
        match read {
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
            return stopping_answer();
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
        let env = |name: &str| std::env::var(name).ok();
        let fc = self
            .config
            .fan_out
            .target(self.config.on_fc, env, &headers, credentials.as_ref())
            .unwrap_or_else(|reason| {
                eprintln!("ferry serve: {request_id}: parts run in this instance: {reason}");
                None
            });
        let several = jobs.len() > 1;
        let mut status = StatusCode::OK;
        let mut results = Vec::with_capacity(jobs.len());
        for job in jobs {
            let outcome = self
                .run_job(&job, credentials.clone(), fc.clone(), &request_id)
                .await;
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
            return stopping_answer();
        };
        let mut egress = Egress::default();
        egress
            .allow_url(&task.source_url)
            .allow_url(&task.upload_url);
        let limits = self.runtime.limits();
        let fanout = Fanout::new(
            Arc::new(LocalInstances::new(self.runtime.clone(), Arc::new(egress))),
            limits.instances,
            limits.part_deadline,
            self.parts_interrupt.clone(),
        );
        let request = http::Request::post(format!("{}/parts", crate::net::outgoing::fanout_url()))
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
        fc: Option<FcConfig>,
        request_id: &str,
    ) -> Result<Report, TransferError> {
        let shown = format!("{} -> {}", redact(&job.source_url), job.target());
        // Where the parts go, for the log: never the key, only the target.
        let parts_go = match &fc {
            Some(fc) => format!(
                "parts as InvokeFunction calls of {}{} at {}",
                fc.function,
                fc.qualifier
                    .as_deref()
                    .map(|q| format!(" ({q})"))
                    .unwrap_or_default(),
                redact(&fc.endpoint)
            ),
            None => "parts in this instance".into(),
        };
        self.check_addresses(job).await.inspect_err(|e| {
            eprintln!("ferry serve: {request_id}: {shown}: refused: {e}");
        })?;
        let Ok(_slot) = self.slots.acquire().await else {
            return Err(stopping(None));
        };
        // The component finds the parts in flight (local instances or
        // InvokeFunction calls) up to the server's cap; a job's `parallel`
        // pins it within that cap.
        let cap = self.config.limits.instances;
        let transfer = Transfer::builder()
            .source(&job.source_url)
            .target(job.target())
            .limits(self.config.limits);
        let mut transfer = match job.parallel {
            Some(n) => transfer.instances(n.clamp(1, cap)),
            None => transfer.max_parallel(cap),
        }
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
        for (name, value) in &job.headers.0 {
            transfer = transfer.header(name, value);
        }
        transfer = transfer
            .no_clobber(job.no_clobber)
            .properties(job.properties.clone());
        if let Some(fc) = fc {
            transfer = transfer.fc(fc);
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let interrupt = transfer.interrupt();
        if self.stopping.load(Ordering::SeqCst) {
            return Err(stopping(None));
        }
        self.running.lock().unwrap().insert(id, interrupt.clone());
        eprintln!("ferry serve: {request_id}: {shown}: started, {parts_go}");
        let outcome = transfer.run_on(&self.runtime, |_| {}).await;
        self.running.lock().unwrap().remove(&id);
        // A transfer the shutdown stopped did not fail on its own: it is
        // answered as the server stopping, so that its caller sends it again.
        let outcome = match outcome {
            Err(e) if interrupt.reason().is_some() => Err(stopping(Some(e))),
            other => other,
        };
        match &outcome {
            Ok(r) => eprintln!(
                "ferry serve: {request_id}: {shown}: done, {} bytes in {} parts, crc64 {}, {:.2} s",
                r.size, r.parts, r.crc64, r.seconds
            ),
            Err(e) => eprintln!(
                "ferry serve: {request_id}: {shown}: failed ({}): {e}",
                crate::transfer::wit_name(&e.kind)
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
                    FailureKind::InvalidInput,
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

/// The status a failed transfer is answered with
/// ([`TransferError::http_status`], as the component answers).
fn status_for(e: &TransferError) -> StatusCode {
    StatusCode::from_u16(e.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

/// The answer to a job the server did not start, or stopped, because it is
/// stopping (SIGTERM): kind `stopping`. A stopped transfer without an
/// upload id left nothing (its upload was aborted); one with an id kept its
/// upload (`keep_partial`, or an abort that failed), and its message says
/// which.
fn stopping(stopped: Option<TransferError>) -> TransferError {
    let (message, upload_id) = match stopped {
        None => (
            "the server is stopping and did not start the job; send it again".to_string(),
            None,
        ),
        Some(TransferError {
            upload_id: None, ..
        }) => (
            "the server is stopping: the transfer was stopped and its upload aborted, \
             nothing is left; send the job again"
                .to_string(),
            None,
        ),
        Some(TransferError {
            message,
            upload_id: Some(id),
            ..
        }) => (
            format!(
                "the server is stopping: {}; send the job again with \"resume\": \"{id}\"",
                message.trim_end_matches('.')
            ),
            Some(id),
        ),
    };
    TransferError {
        upload_id,
        ..TransferError::new(FailureKind::Stopping, message)
    }
}

fn stopping_answer() -> Answer {
    let (status, body) = result_json(Err(stopping(None)));
    json_answer(status, &body)
}

fn result_json(outcome: Result<Report, TransferError>) -> (StatusCode, serde_json::Value) {
    match outcome {
        Ok(report) => {
            let mut v = crate::transfer::report_json(&report);
            v["ok"] = true.into();
            (StatusCode::OK, v)
        }
        Err(e) => {
            let status = status_for(&e);
            let mut v = serde_json::to_value(&e).unwrap_or_default();
            v["ok"] = false.into();
            (status, v)
        }
    }
}

/// A connection's requests being handled, shared by its service and its
/// reader ([`Timed`]).
#[derive(Default)]
struct Requests {
    busy: AtomicUsize,
    /// The reader's task, woken when the last request is answered: hyper
    /// may not read again until the client sends something, and the idle
    /// timeout must start then.
    reader: Mutex<Option<Waker>>,
}

/// Marks a connection's request as being handled while it lives.
struct Handling(Arc<Requests>);

impl Handling {
    fn start(requests: &Arc<Requests>) -> Handling {
        requests.busy.fetch_add(1, Ordering::SeqCst);
        Handling(requests.clone())
    }
}

impl Drop for Handling {
    fn drop(&mut self) {
        if self.0.busy.fetch_sub(1, Ordering::SeqCst) == 1 {
            if let Some(waker) = self.0.reader.lock().unwrap().take() {
                waker.wake();
            }
        }
    }
}

/// Where a connection stands, for its timeouts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// No request in progress and no byte of the next one: `--idle-timeout`.
    Idle,
    /// The first bytes of a request's head arrived: the rest within
    /// `--header-timeout`.
    Head,
    /// A request is being handled: its body has its own limit, and a job
    /// may run for as long as it takes.
    Handling,
}

/// A connection whose reads are held to the idle and header timeouts
/// (hyper's own header timeout starts when it waits for a head, so it would
/// also close idle keep-alive connections: this keeps the two apart). Past a
/// deadline the read fails and hyper closes the connection.
struct Timed<IO> {
    io: IO,
    /// Requests of this connection being handled.
    requests: Arc<Requests>,
    idle: Duration,
    header: Duration,
    phase: Phase,
    deadline: Pin<Box<tokio::time::Sleep>>,
}

impl<IO> Timed<IO> {
    fn new(io: IO, requests: Arc<Requests>, limits: Connections) -> Self {
        let idle = Duration::from_secs(limits.idle_timeout);
        Timed {
            io,
            requests,
            idle,
            header: Duration::from_secs(limits.header_timeout),
            phase: Phase::Idle,
            deadline: Box::pin(tokio::time::sleep(idle)),
        }
    }

    fn enter(&mut self, phase: Phase, within: Duration) {
        self.phase = phase;
        self.deadline
            .as_mut()
            .reset(tokio::time::Instant::now() + within);
    }

    fn timed_out(&self) -> std::io::Error {
        let what = match self.phase {
            Phase::Head => "the request head did not arrive within --header-timeout",
            _ => "the connection stayed silent past --idle-timeout",
        };
        std::io::Error::new(std::io::ErrorKind::TimedOut, what)
    }
}

impl<IO: AsyncRead + Unpin> AsyncRead for Timed<IO> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        if this.requests.busy.load(Ordering::SeqCst) > 0 {
            // Waker first, then the count again: an answer in between still
            // wakes this task.
            *this.requests.reader.lock().unwrap() = Some(cx.waker().clone());
            if this.requests.busy.load(Ordering::SeqCst) > 0 {
                this.phase = Phase::Handling;
                return Pin::new(&mut this.io).poll_read(cx, buf);
            }
        }
        if this.phase == Phase::Handling {
            // The request was answered: the connection is idle again.
            this.enter(Phase::Idle, this.idle);
        }
        // A head that keeps trickling in is cut off too.
        if this.deadline.is_elapsed() {
            return Poll::Ready(Err(this.timed_out()));
        }
        let before = buf.filled().len();
        match Pin::new(&mut this.io).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                if this.phase == Phase::Idle && buf.filled().len() > before {
                    this.enter(Phase::Head, this.header);
                }
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => match this.deadline.as_mut().poll(cx) {
                Poll::Ready(()) => Poll::Ready(Err(this.timed_out())),
                Poll::Pending => Poll::Pending,
            },
        }
    }
}

impl<IO: AsyncWrite + Unpin> AsyncWrite for Timed<IO> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}

fn error(kind: FailureKind, message: &str) -> TransferError {
    TransferError::new(kind, message)
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

/// A URL as it may be shown: normalised as a URL parser writes it, then
/// without its secrets by the component's rule ([`ferry_rules::redact`]).
fn redact(url: &str) -> String {
    ferry_rules::redact(&url::Url::parse(url).map_or_else(|_| url.to_string(), String::from))
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
            connections: Connections::default(),
            fan_out: FanOut::default(),
            ca_bundle: None,
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
        for (connections, named) in [
            (
                Connections {
                    header_timeout: 0,
                    ..Connections::DEFAULT
                },
                "--header-timeout 0 is out of range: give 1 to 86400",
            ),
            (
                Connections {
                    idle_timeout: 86401,
                    ..Connections::DEFAULT
                },
                "--idle-timeout 86401 is out of range",
            ),
            (
                Connections {
                    max_connections: 0,
                    ..Connections::DEFAULT
                },
                "--max-connections 0 is out of range: give 1 to 65536",
            ),
        ] {
            let mut c = config("127.0.0.1:9000", None, false);
            c.connections = connections;
            let e = c.check().unwrap_err().to_string();
            assert!(e.starts_with(named), "{e}");
        }
    }

    #[test]
    fn statuses_follow_the_kind() {
        let status = |kind| status_for(&TransferError::new(kind, "m"));
        assert_eq!(status(FailureKind::InvalidInput), StatusCode::BAD_REQUEST);
        assert_eq!(status(FailureKind::Store), StatusCode::BAD_GATEWAY);
        assert_eq!(status(FailureKind::Source), StatusCode::BAD_GATEWAY);
        assert_eq!(status(FailureKind::Integrity), StatusCode::BAD_GATEWAY);
        assert_eq!(
            status(FailureKind::Exhausted),
            StatusCode::SERVICE_UNAVAILABLE
        );
        assert_eq!(
            status(FailureKind::Stopping),
            StatusCode::SERVICE_UNAVAILABLE
        );
        assert_eq!(
            status(FailureKind::Internal),
            StatusCode::INTERNAL_SERVER_ERROR
        );
    }

    #[test]
    fn function_compute_is_its_documented_variables_together() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                pairs
                    .iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| OsString::from(v))
            }
        };
        let all = &[
            ("FC_ACCOUNT_ID", "1234567890"),
            ("FC_FUNCTION_NAME", "ferry"),
            ("FC_REGION", "cn-hangzhou"),
            ("FC_INSTANCE_ID", "c-1"),
        ];
        assert!(fc_missing(env(all)).is_empty());
        assert_eq!(fc_missing(env(&[])), FC_VARIABLES);
        assert_eq!(fc_missing(env(&[("FC_ANYTHING", "1")])), FC_VARIABLES);
        assert_eq!(
            fc_missing(env(&[
                ("FC_ACCOUNT_ID", "1234567890"),
                ("FC_FUNCTION_NAME", "ferry"),
                ("FC_REGION", "cn-hangzhou"),
                ("FC_INSTANCE_ID", ""),
            ])),
            ["FC_INSTANCE_ID"]
        );
    }

    #[test]
    fn a_stopped_job_says_what_became_of_its_upload() {
        let aborted = stopping(Some(error(
            FailureKind::Internal,
            "the transfer was interrupted (SIGTERM)",
        )));
        assert_eq!(aborted.kind, FailureKind::Stopping);
        assert_eq!(status_for(&aborted), StatusCode::SERVICE_UNAVAILABLE);
        assert!(aborted.message.starts_with("the server is stopping"));
        assert!(aborted.message.contains("aborted, nothing is left"));
        let mut kept = error(
            FailureKind::Internal,
            "the transfer was interrupted (SIGTERM). The upload UP1 was kept.",
        );
        kept.upload_id = Some("UP1".into());
        let kept = stopping(Some(kept));
        assert_eq!(kept.upload_id.as_deref(), Some("UP1"));
        assert_eq!(
            kept.message,
            "the server is stopping: the transfer was interrupted (SIGTERM). The upload UP1 \
             was kept; send the job again with \"resume\": \"UP1\""
        );
        assert!(stopping(None).message.contains("did not start"));
    }

    /// On Function Compute a job's parts go to the function FC says this
    /// is, at the internal endpoint of the request's account and region,
    /// signed with the request's own key; --fc-* override, --local and a
    /// request without credentials keep them here.
    #[test]
    fn self_fan_out_targets_the_function_fc_names() {
        let sts = Credentials {
            access_key_id: "STS.id".into(),
            access_key_secret: "s3cret".into(),
            security_token: Some("tok".into()),
        };
        let fc_env = |name: &str| match name {
            "FC_FUNCTION_NAME" => Some("ferry".to_string()),
            "FC_ACCOUNT_ID" => Some("111".to_string()),
            "FC_REGION" => Some("cn-beijing".to_string()),
            _ => None,
        };
        let request = headers(&[
            ("x-fc-account-id", "1234567890"),
            ("x-fc-region", "cn-hangzhou"),
            ("x-fc-function-name", "from-header"),
            ("x-fc-qualifier", "prod"),
        ]);
        let on = FanOut::default();
        let fc = on
            .target(true, fc_env, &request, Some(&sts))
            .unwrap()
            .unwrap();
        assert_eq!(fc.function, "ferry");
        assert_eq!(
            fc.endpoint,
            "https://1234567890.cn-hangzhou-internal.fc.aliyuncs.com"
        );
        assert_eq!(fc.qualifier.as_deref(), Some("prod"));
        assert_eq!(fc.key.id, "STS.id");
        assert_eq!(fc.key.security_token.as_deref(), Some("tok"));
        // Without FC_FUNCTION_NAME, the request names it; without the
        // headers, the variables give the account and region.
        let fc = on
            .target(
                true,
                |n| fc_env(n).filter(|_| n != "FC_FUNCTION_NAME"),
                &request,
                Some(&sts),
            )
            .unwrap()
            .unwrap();
        assert_eq!(fc.function, "from-header");
        let fc = on
            .target(true, fc_env, &headers(&[]), Some(&sts))
            .unwrap()
            .unwrap();
        assert_eq!(
            fc.endpoint,
            "https://111.cn-beijing-internal.fc.aliyuncs.com"
        );
        assert_eq!(fc.qualifier, None);
        // The options win.
        let given = FanOut {
            fc_function: Some("other".into()),
            fc_endpoint: Some("http://127.0.0.1:1".into()),
            fc_qualifier: Some("2".into()),
            local: false,
        };
        let fc = given
            .target(true, fc_env, &request, Some(&sts))
            .unwrap()
            .unwrap();
        assert_eq!(
            (
                fc.function.as_str(),
                fc.endpoint.as_str(),
                fc.qualifier.as_deref()
            ),
            ("other", "http://127.0.0.1:1", Some("2"))
        );
        // ... and turn it on outside FC.
        assert!(given
            .target(false, |_| None, &request, Some(&sts))
            .unwrap()
            .is_some());
        // Off: outside FC by default, and with --local.
        assert!(on
            .target(false, fc_env, &request, Some(&sts))
            .unwrap()
            .is_none());
        let local = FanOut {
            local: true,
            ..FanOut::default()
        };
        assert!(local
            .target(true, fc_env, &request, Some(&sts))
            .unwrap()
            .is_none());
        // On, but this request cannot: no credentials, or a forged account.
        let e = on.target(true, fc_env, &request, None).unwrap_err();
        assert!(e.contains("x-fc-access-key-id"), "{e}");
        let forged = headers(&[("x-fc-account-id", "evil.example/x"), ("x-fc-region", "r")]);
        let e = on.target(true, fc_env, &forged, Some(&sts)).unwrap_err();
        assert!(e.contains("x-fc-account-id"), "{e}");
        let bad_name = |n: &str| (n == "FC_FUNCTION_NAME").then(|| "a/b".to_string());
        assert!(on.target(true, bad_name, &request, Some(&sts)).is_err());
        for e in [
            on.target(true, fc_env, &request, None).unwrap_err(),
            on.target(true, fc_env, &forged, Some(&sts)).unwrap_err(),
        ] {
            assert!(!e.contains("s3cret") && !e.contains("tok"), "{e}");
        }
    }

    #[test]
    fn urls_are_shown_without_secrets() {
        assert_eq!(
            redact("https://u:p@h.example/k?Signature=abc#f"),
            "https://h.example/k?…"
        );
        assert_eq!(redact("http://127.0.0.1:9"), "http://127.0.0.1:9/");
    }
}
