//! The pooled HTTP client every outgoing request goes through, except part
//! tasks (which [`crate::net::outgoing`] runs on fresh instances).
//!
//! One [`Client`] serves every instance of a [`crate::Runtime`], so a part
//! instance's ranged GET can reuse the keep-alive connection another part
//! left idle instead of paying a TCP and TLS handshake per request. It does
//! what `wasmtime_wasi_http::default_send_request` does (the request's
//! connect, first-byte and between-bytes timeouts; TLS with rustls; errors
//! as precise `wasi:http` error codes) plus:
//!
//! - **Connection reuse** per authority, with a bounded idle pool.
//! - **The address policy** ([`AddressPolicy`]), checked on the addresses a
//!   connection is made to: on literal IPs before connecting, on every
//!   address DNS returns (refused ones are never tried), and once more on
//!   the connected socket's peer. Checking the resolved address rather than
//!   the name is what defeats DNS rebinding. When nothing is left to try,
//!   the guest gets `destination-ip-prohibited` and the log says why.
//! - **Trust** ([`trust`]): the bundled webpki roots, the system store (or
//!   `SSL_CERT_FILE` / `SSL_CERT_DIR` in its place, as OpenSSL reads them),
//!   `AWS_CA_BUNDLE` and a CA bundle the user names, all at once.
//! - **Proxies** ([`Proxies`]): `HTTPS_PROXY`, `HTTP_PROXY`, `ALL_PROXY` and
//!   `NO_PROXY` (either case), as curl reads them: https through a CONNECT
//!   tunnel, http in absolute form, credentials from the proxy URL as
//!   `Proxy-Authorization`. The address policy still applies to the target
//!   (its name is resolved here and every address checked before the proxy
//!   is asked); the proxy itself is the user's choice and is not checked.
//!
//! Redirects are not followed: the guest decides, and a redirect target is
//! a new request that passes the egress list and the policy again.

use crate::net::address_policy::{AddressPolicy, Refused};
use http::{Request, Response, Uri};
use http_body_util::BodyExt;
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper_rustls::{HttpsConnector, MaybeHttpsStream};
use hyper_util::client::legacy::connect::dns::Name;
use hyper_util::client::legacy::connect::proxy::Tunnel;
use hyper_util::client::legacy::connect::{Connected, Connection, HttpConnector};
use hyper_util::client::legacy::Client as Pool;
use hyper_util::client::proxy::matcher::{Intercept, Matcher};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use std::error::Error as StdError;
use std::fmt;
use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{ready, Context, Poll};
use std::time::Duration;
use tokio::net::TcpStream;
use tokio::time::{Instant, Sleep};
use tower_service::Service;
use wasmtime_wasi_http::{Error, RequestOptions, WasiBody};

type BoxError = Box<dyn StdError + Send + Sync>;
type BoxFuture<T> = Pin<Box<dyn Future<Output = Result<T, BoxError>> + Send>>;

/// The timeout for each phase a request leaves unset, as in
/// `default_send_request`.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(600);

/// How a [`Client`] is built.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// Which addresses connections may be made to.
    pub policy: AddressPolicy,
    /// Idle keep-alive connections kept per authority. Part instances that
    /// run at once each hold one connection to the source and one to the
    /// store, so this should be at least the instance count; the pool never
    /// holds more idle connections than were in use at once, so a generous
    /// bound costs nothing.
    pub max_idle_per_host: usize,
    /// How long an idle connection is kept before it is closed; below the
    /// keep-alive timeout of common servers, so a request rarely meets a
    /// connection the server is just closing.
    pub idle_timeout: Duration,
    /// The TLS configuration; `None` trusts what [`trust`] finds with no
    /// CA bundle named.
    pub tls: Option<Arc<rustls::ClientConfig>>,
    /// The proxies requests go through.
    pub proxies: Proxies,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            policy: AddressPolicy::cli(),
            max_idle_per_host: 256,
            idle_timeout: Duration::from_secs(30),
            tls: None,
            proxies: Proxies::from_env_or_none(),
        }
    }
}

impl ClientConfig {
    /// The default configuration with `policy`.
    pub fn with_policy(policy: AddressPolicy) -> ClientConfig {
        ClientConfig {
            policy,
            ..ClientConfig::default()
        }
    }

    /// The default configuration with `policy`, trusting `ca_bundle` too
    /// and holding proxy settings to be usable: what `ferry copy` and
    /// `ferry serve` run with. The error is one line for the user.
    pub fn from_env(
        policy: AddressPolicy,
        ca_bundle: Option<&Path>,
    ) -> Result<ClientConfig, String> {
        Ok(ClientConfig {
            policy,
            tls: Some(trust(ca_bundle)?),
            proxies: Proxies::from_env()?,
            ..ClientConfig::default()
        })
    }
}

/// The proxies of the environment, read as curl reads them (hyper-util's
/// [`Matcher`]): `HTTPS_PROXY` for https URLs, `HTTP_PROXY` for http ones
/// (ignored when `REQUEST_METHOD` says this runs as CGI), `ALL_PROXY` for
/// either, each also in lower case, and `NO_PROXY` (names, `.suffix`es,
/// IPs, CIDR blocks, `*`). Only `http://` proxies are spoken to.
#[derive(Clone, Default)]
pub struct Proxies(Option<Arc<Matcher>>);

impl Proxies {
    /// No proxy.
    pub fn none() -> Proxies {
        Proxies(None)
    }

    /// The environment's proxies; an error when one is not an `http://`
    /// URL.
    pub fn from_env() -> Result<Proxies, String> {
        let matcher = Matcher::from_env();
        for (var, probe) in [
            ("HTTP_PROXY", "http://ferry-proxy-check.invalid/"),
            ("HTTPS_PROXY", "https://ferry-proxy-check.invalid/"),
        ] {
            if let Some(proxy) = matcher.intercept(&Uri::from_static(probe)) {
                if proxy.uri().scheme_str() != Some("http") {
                    return Err(format!(
                        "{var} (or ALL_PROXY) names a {}:// proxy; ferry speaks to proxies \
                         over http:// only (https URLs still go through it end to end \
                         encrypted): give the proxy as http://HOST:PORT",
                        proxy.uri().scheme_str().unwrap_or("")
                    ));
                }
            }
        }
        Ok(Proxies(Some(Arc::new(matcher))))
    }

    /// As [`Proxies::from_env`], with none (and a warning) when they are not
    /// usable.
    pub fn from_env_or_none() -> Proxies {
        Proxies::from_env().unwrap_or_else(|e| {
            tracing::warn!("{e}; going without a proxy");
            Proxies::none()
        })
    }

    /// The proxy for `uri`, if one applies.
    fn intercept(&self, uri: &Uri) -> Option<Intercept> {
        self.0.as_ref()?.intercept(uri)
    }
}

impl fmt::Debug for Proxies {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The proxy URLs may hold credentials: only where they lead.
        let shown = |probe: &'static str| {
            self.intercept(&Uri::from_static(probe))
                .and_then(|p| p.uri().authority().map(|a| proxy_shown(a.as_str())))
        };
        f.debug_struct("Proxies")
            .field("http", &shown("http://ferry-proxy-check.invalid/"))
            .field("https", &shown("https://ferry-proxy-check.invalid/"))
            .finish()
    }
}

/// A proxy's authority without its credentials.
fn proxy_shown(authority: &str) -> String {
    authority.rsplit('@').next().unwrap_or("").to_string()
}

/// The TLS configuration every connection uses: ring (already linked by
/// wasmtime-wasi-http), TLS 1.2 and 1.3, trusting at once
///
/// - the webpki (Mozilla) roots ferry carries, so a host without a trust
///   store (a scratch container, a function runtime) still reaches public
///   hosts;
/// - the system store, or the PEM file `SSL_CERT_FILE` and the directories
///   `SSL_CERT_DIR` (colon-separated) in its place when either is set, as
///   OpenSSL and rustls-native-certs read them; unreadable entries are
///   logged and skipped;
/// - the PEM file `AWS_CA_BUNDLE`, as the AWS CLI and SDKs read it, and
///   `ca_bundle` (`--ca-bundle FILE`): these must be readable and hold a
///   certificate, or the error (one line) says which and why.
pub fn trust(ca_bundle: Option<&Path>) -> Result<Arc<rustls::ClientConfig>, String> {
    let mut roots = base_roots();
    let aws = std::env::var_os("AWS_CA_BUNDLE").filter(|v| !v.is_empty());
    if let Some(file) = &aws {
        add_pem_bundle(&mut roots, Path::new(file), "AWS_CA_BUNDLE")?;
    }
    if let Some(file) = ca_bundle {
        add_pem_bundle(&mut roots, file, "--ca-bundle")?;
    }
    Ok(tls_trusting(roots))
}

/// The webpki roots and the system store (or `SSL_CERT_FILE` /
/// `SSL_CERT_DIR`).
fn base_roots() -> rustls::RootCertStore {
    let mut roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.into(),
    };
    let native = rustls_native_certs::load_native_certs();
    for err in &native.errors {
        tracing::warn!("the system trust store: {err}");
    }
    let (added, _) = roots.add_parsable_certificates(native.certs);
    tracing::debug!("{added} CA certificates from the system trust store");
    roots
}

/// TLS 1.2 and 1.3 with ring, trusting `roots`.
fn tls_trusting(roots: rustls::RootCertStore) -> Arc<rustls::ClientConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("ring supports the default TLS versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    Arc::new(config)
}

/// Adds the CA certificates of the PEM file `file` (named by `what`).
fn add_pem_bundle(
    roots: &mut rustls::RootCertStore,
    file: &Path,
    what: &str,
) -> Result<(), String> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::CertificateDer;
    let unusable = |why: String| {
        format!(
            "cannot use the CA bundle {} ({what}): {why}; give a PEM file of CA certificates",
            file.display()
        )
    };
    let certs = CertificateDer::pem_file_iter(file)
        .map_err(|e| unusable(pem_reason(e)))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| unusable(pem_reason(e)))?;
    if certs.is_empty() {
        return Err(unusable("it holds no PEM certificate".into()));
    }
    let (added, ignored) = roots.add_parsable_certificates(certs);
    if added == 0 {
        return Err(unusable(format!(
            "none of its {ignored} certificates parses"
        )));
    }
    Ok(())
}

fn pem_reason(err: rustls::pki_types::pem::Error) -> String {
    match err {
        rustls::pki_types::pem::Error::Io(io) => io.to_string(),
        other => format!("{other:?}"),
    }
}

/// A pooled HTTP/1.1 client over TCP or TLS, within an [`AddressPolicy`].
pub struct Client {
    pool: Pool<Connector, WasiBody>,
    policy: Arc<AddressPolicy>,
    proxies: Proxies,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("policy", &self.policy)
            .field("proxies", &self.proxies)
            .finish_non_exhaustive()
    }
}

impl Client {
    /// A client configured by `config`. Must be called within a tokio
    /// runtime's context only when requests are sent, not to build it.
    pub fn new(config: ClientConfig) -> Client {
        let policy = Arc::new(config.policy);
        let mut http = HttpConnector::new_with_resolver(PolicyResolver {
            policy: policy.clone(),
        });
        // The TLS layer above sees https URIs through this connector.
        http.enforce_http(false);
        http.set_nodelay(true);
        http.set_keepalive(Some(Duration::from_secs(30)));
        let mut direct = HttpConnector::new();
        direct.set_nodelay(true);
        direct.set_keepalive(Some(Duration::from_secs(30)));
        let guarded = Guarded {
            http,
            direct,
            policy: policy.clone(),
            proxies: config.proxies.clone(),
        };
        let tls = config.tls.unwrap_or_else(|| {
            trust(None).unwrap_or_else(|e| {
                tracing::warn!("{e}; trusting the other roots");
                tls_trusting(base_roots())
            })
        });
        let connector = Connector {
            tls: HttpsConnector::from((guarded, tls)),
        };
        let pool = Pool::builder(TokioExecutor::new())
            .pool_timer(TokioTimer::new())
            .pool_idle_timeout(config.idle_timeout)
            .pool_max_idle_per_host(config.max_idle_per_host)
            .build(connector);
        Client {
            pool,
            policy,
            proxies: config.proxies,
        }
    }

    /// Sends `request` (whose URI must be absolute) and returns the response
    /// once its head has arrived; its body streams, each frame within the
    /// between-bytes timeout. Errors are the `wasi:http` error codes the
    /// guest sees.
    pub async fn send(
        &self,
        mut request: Request<WasiBody>,
        options: Option<RequestOptions>,
    ) -> Result<Response<WasiBody>, Error> {
        if request.uri().authority().is_none() || request.uri().scheme().is_none() {
            return Err(Error::HttpRequestUriInvalid);
        }
        if request.uri().scheme_str() == Some("http") {
            // Sent in absolute form to the proxy, which reads its
            // credentials from each request (an https tunnel carries them
            // in its CONNECT instead).
            if let Some(auth) = self
                .proxies
                .intercept(request.uri())
                .and_then(|p| p.basic_auth().cloned())
            {
                let mut auth = auth;
                auth.set_sensitive(true);
                request
                    .headers_mut()
                    .insert(http::header::PROXY_AUTHORIZATION, auth);
            }
        }
        let timeouts = Timeouts::new(options);
        let attempt = Arc::new(Attempt {
            connect_timeout: timeouts.connect,
            phase: Mutex::new(Phase::Waiting),
        });
        let started = Instant::now();
        // The connector runs inside this future's polls, so it finds the
        // request's connect timeout in the task-local.
        let response = ATTEMPT.scope(attempt.clone(), self.pool.request(request));
        tokio::pin!(response);
        let mut deadline = started + timeouts.first_byte;
        let response = loop {
            tokio::select! {
                biased;
                result = &mut response => break result.map_err(request_error)?,
                () = tokio::time::sleep_until(deadline) => {
                    // The first byte is waited for from when the connection
                    // is there; a connection still being made has its own
                    // deadline in the connector.
                    let renewed = attempt.first_byte_deadline(started, &timeouts);
                    if renewed <= Instant::now() {
                        return Err(Error::ConnectionReadTimeout);
                    }
                    deadline = renewed;
                }
            }
        };
        let response = response
            .map(|incoming| BetweenBytes::new(incoming, timeouts.between_bytes).boxed_unsync());
        // `--bwlimit` holds what is read (the source's bodies: the stores
        // answer uploads with short ones) to one rate for the process.
        Ok(match crate::net::bwlimit::global() {
            Some(rate) => response.map(|body| rate.throttle(body)),
            None => response,
        })
    }
}

/// One request's timeouts, defaulted as `default_send_request` does.
struct Timeouts {
    connect: Duration,
    first_byte: Duration,
    between_bytes: Duration,
}

impl Timeouts {
    fn new(options: Option<RequestOptions>) -> Timeouts {
        let options = options.unwrap_or_default();
        Timeouts {
            connect: options.connect_timeout.unwrap_or(DEFAULT_TIMEOUT),
            first_byte: options.first_byte_timeout.unwrap_or(DEFAULT_TIMEOUT),
            between_bytes: options.between_bytes_timeout.unwrap_or(DEFAULT_TIMEOUT),
        }
    }
}

tokio::task_local! {
    /// The request being sent, as seen by the connector: the pool hands the
    /// connector only a URI, and the connect timeout is per request.
    static ATTEMPT: Arc<Attempt>;
}

/// What the connector tells the request about its connection.
struct Attempt {
    connect_timeout: Duration,
    phase: Mutex<Phase>,
}

#[derive(Clone, Copy)]
enum Phase {
    /// No connection made for this request (yet): an idle pooled one is
    /// used, or none was needed so far.
    Waiting,
    Connecting(Instant),
    Connected(Instant),
}

impl Attempt {
    fn set(&self, phase: Phase) {
        *self.phase.lock().unwrap_or_else(|e| e.into_inner()) = phase;
    }

    fn first_byte_deadline(&self, started: Instant, timeouts: &Timeouts) -> Instant {
        match *self.phase.lock().unwrap_or_else(|e| e.into_inner()) {
            Phase::Waiting => started + timeouts.first_byte,
            Phase::Connecting(since) => since + self.connect_timeout + timeouts.first_byte,
            Phase::Connected(at) => at + timeouts.first_byte,
        }
    }
}

/// The outermost connector: TLS over [`Guarded`], the whole within the
/// request's connect timeout.
#[derive(Clone)]
struct Connector {
    tls: HttpsConnector<Guarded>,
}

impl Service<Uri> for Connector {
    type Response = MaybeHttpsStream<Conn>;
    type Error = BoxError;
    type Future = BoxFuture<Self::Response>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.tls.poll_ready(cx)
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let attempt = ATTEMPT.try_with(Arc::clone).ok();
        let limit = attempt
            .as_ref()
            .map_or(DEFAULT_TIMEOUT, |a| a.connect_timeout);
        if let Some(a) = &attempt {
            a.set(Phase::Connecting(Instant::now()));
        }
        let connecting = self.tls.call(uri);
        Box::pin(async move {
            let result = match tokio::time::timeout(limit, connecting).await {
                Ok(result) => result,
                Err(_) => Err(Box::new(ConnectTimedOut(limit)) as BoxError),
            };
            if let Some(a) = &attempt {
                a.set(match result {
                    Ok(_) => Phase::Connected(Instant::now()),
                    Err(_) => Phase::Waiting,
                });
            }
            result
        })
    }
}

/// TCP connections within the address policy: a literal IP is checked
/// before connecting, a name's addresses by [`PolicyResolver`], and the
/// connected peer once more. Through a proxy, the target's addresses are
/// checked and the proxy is connected to as it is.
#[derive(Clone)]
struct Guarded {
    http: HttpConnector<PolicyResolver>,
    /// To proxies, which the address policy does not judge.
    direct: HttpConnector,
    policy: Arc<AddressPolicy>,
    proxies: Proxies,
}

impl Guarded {
    /// A connection to `uri` through `proxy`: a CONNECT tunnel for https
    /// (TLS to the target then runs inside it), the proxy itself for http
    /// (requests then go in absolute form).
    fn through(&mut self, uri: Uri, proxy: Intercept) -> BoxFuture<Conn> {
        let policy = self.policy.clone();
        let shown = proxy
            .uri()
            .authority()
            .map_or_else(String::new, |a| proxy_shown(a.as_str()));
        let target = uri.host().unwrap_or("").to_string();
        let port = uri.port_u16().unwrap_or(match uri.scheme_str() {
            Some("https") => 443,
            _ => 80,
        });
        let direct = self.direct.clone();
        Box::pin(async move {
            check_target(&policy, &target, port).await?;
            if uri.scheme_str() == Some("https") {
                let mut tunnel = Tunnel::new(proxy.uri().clone(), direct);
                if let Some(auth) = proxy.basic_auth() {
                    tunnel = tunnel.with_auth(auth.clone());
                }
                let io = tunnel.call(uri).await.map_err(|e| -> BoxError {
                    if e.source().is_some() {
                        // The proxy was not reached: the cause says why.
                        tracing::warn!("the proxy {shown}: {e}");
                        return e.into();
                    }
                    let err = ProxyRefused {
                        proxy: shown.clone(),
                        target: target.clone(),
                        reason: e.to_string(),
                    };
                    tracing::warn!("{err}");
                    err.into()
                })?;
                Ok(Conn { io, proxied: false })
            } else {
                let mut direct = direct;
                let io = direct.call(proxy.uri().clone()).await.map_err(|e| {
                    tracing::warn!("the proxy {shown}: {e}");
                    e
                })?;
                Ok(Conn { io, proxied: true })
            }
        })
    }
}

/// Holds a target reached through a proxy to the address policy: a literal
/// IP is checked, a name is resolved here and refused when any of its
/// addresses is (the proxy may connect to any of them). A name that does
/// not resolve here is left to the proxy's DNS.
async fn check_target(policy: &AddressPolicy, host: &str, port: u16) -> Result<(), BoxError> {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let addrs: Vec<IpAddr> = match bare.parse::<IpAddr>() {
        Ok(ip) => vec![ip],
        Err(_) => match tokio::net::lookup_host((bare, port)).await {
            Ok(found) => found.map(|a| a.ip()).collect(),
            Err(_) => return Ok(()),
        },
    };
    for ip in addrs {
        if let Err(refused) = policy.check(ip) {
            let err = Prohibited {
                host: host.to_string(),
                refused,
            };
            tracing::warn!("connection refused by the address policy: {err}");
            return Err(err.into());
        }
    }
    Ok(())
}

/// A connection the pool holds: TCP, straight to the target or through a
/// proxy (`proxied` when requests must name their target in absolute form).
pub struct Conn {
    io: TokioIo<TcpStream>,
    proxied: bool,
}

impl Connection for Conn {
    fn connected(&self) -> Connected {
        self.io.connected().proxy(self.proxied)
    }
}

impl hyper::rt::Read for Conn {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: hyper::rt::ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_read(cx, buf)
    }
}

impl hyper::rt::Write for Conn {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write_vectored(cx, bufs)
    }
}

impl Service<Uri> for Guarded {
    type Response = Conn;
    type Error = BoxError;
    type Future = BoxFuture<Self::Response>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.http.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        if let Some(proxy) = self.proxies.intercept(&uri) {
            return self.through(uri, proxy);
        }
        let host = uri.host().unwrap_or("").to_string();
        // The connector does not resolve IP literals, so check them here.
        let literal = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>();
        if let Ok(ip) = literal {
            if let Err(refused) = self.policy.check(ip) {
                let err = Prohibited { host, refused };
                tracing::warn!("connection refused by the address policy: {err}");
                return Box::pin(async move { Err(err.into()) });
            }
        }
        let policy = self.policy.clone();
        let connecting = self.http.call(uri);
        Box::pin(async move {
            let io = connecting.await?;
            let peer = io.inner().peer_addr()?;
            if let Err(refused) = policy.check(peer.ip()) {
                let err = Prohibited { host, refused };
                tracing::warn!("connection refused by the address policy: {err}");
                return Err(err.into());
            }
            Ok(Conn { io, proxied: false })
        })
    }
}

/// DNS through the system resolver, keeping only the addresses the policy
/// allows.
#[derive(Clone)]
struct PolicyResolver {
    policy: Arc<AddressPolicy>,
}

impl Service<Name> for PolicyResolver {
    type Response = std::vec::IntoIter<SocketAddr>;
    type Error = BoxError;
    type Future = BoxFuture<Self::Response>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, name: Name) -> Self::Future {
        let policy = self.policy.clone();
        Box::pin(async move {
            let host = name.as_str().to_string();
            let resolved: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await
                .map_err(|e| DnsFailure {
                    host: host.clone(),
                    reason: e.to_string(),
                })?
                .collect();
            let mut refused = Vec::new();
            let allowed: Vec<SocketAddr> = resolved
                .into_iter()
                .filter(|addr| match policy.check(addr.ip()) {
                    Ok(()) => true,
                    Err(r) => {
                        refused.push(r);
                        false
                    }
                })
                .collect();
            if allowed.is_empty() {
                let Some(refused) = refused.into_iter().next() else {
                    return Err(DnsFailure {
                        host,
                        reason: "no addresses".into(),
                    }
                    .into());
                };
                let err = Prohibited { host, refused };
                tracing::warn!("connection refused by the address policy: {err}");
                return Err(err.into());
            }
            for r in &refused {
                tracing::debug!("{host}: skipping {r}");
            }
            Ok(allowed.into_iter())
        })
    }
}

/// Every address a host stands for is refused by the policy.
#[derive(Debug)]
struct Prohibited {
    host: String,
    refused: Refused,
}

impl fmt::Display for Prohibited {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let literal = self.host.trim_start_matches('[').trim_end_matches(']');
        if literal.parse::<IpAddr>().ok() == Some(self.refused.addr()) {
            write!(f, "{}", self.refused)
        } else {
            write!(
                f,
                "{} resolves only to refused addresses: {}",
                self.host, self.refused
            )
        }
    }
}

impl StdError for Prohibited {}

/// A proxy answered, but would not open a tunnel (credentials missing or
/// refused, the target refused by its own rules).
#[derive(Debug)]
struct ProxyRefused {
    proxy: String,
    target: String,
    reason: String,
}

impl fmt::Display for ProxyRefused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the proxy {} did not carry the connection to {}: {}",
            self.proxy, self.target, self.reason
        )
    }
}

impl StdError for ProxyRefused {}

/// A name did not resolve.
#[derive(Debug)]
struct DnsFailure {
    host: String,
    reason: String,
}

impl fmt::Display for DnsFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cannot resolve {}: {}", self.host, self.reason)
    }
}

impl StdError for DnsFailure {}

/// No connection (TCP and TLS) within the request's connect timeout.
#[derive(Debug)]
struct ConnectTimedOut(Duration);

impl fmt::Display for ConnectTimedOut {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "no connection within {:?}", self.0)
    }
}

impl StdError for ConnectTimedOut {}

/// An error and its causes, outermost first. `io::Error::source` skips the
/// error it wraps, so that is looked into explicitly.
fn causes<'a>(err: &'a (dyn StdError + 'static)) -> Vec<&'a (dyn StdError + 'static)> {
    let mut out = Vec::new();
    let mut next = Some(err);
    while let Some(e) = next {
        out.push(e);
        next = match e.downcast_ref::<io::Error>().and_then(io::Error::get_ref) {
            Some(inner) => Some(inner as &(dyn StdError + 'static)),
            None => e.source(),
        };
    }
    out
}

/// The error code for the innermost cause that says something precise.
fn precise(err: &(dyn StdError + 'static)) -> Option<Error> {
    causes(err).into_iter().rev().find_map(code_for)
}

/// The error code one cause stands for, if it is precise.
fn code_for(e: &(dyn StdError + 'static)) -> Option<Error> {
    if e.is::<Prohibited>() {
        return Some(Error::DestinationIpProhibited);
    }
    if e.is::<ConnectTimedOut>() {
        return Some(Error::ConnectionTimeout);
    }
    if e.is::<ProxyRefused>() {
        // Not the target's doing, and not passing by itself: the guest
        // names the proxy settings.
        return Some(Error::ConfigurationError);
    }
    if let Some(dns) = e.downcast_ref::<DnsFailure>() {
        return Some(Error::DnsError {
            rcode: Some(dns.reason.clone()),
            info_code: None,
        });
    }
    if let Some(tls) = e.downcast_ref::<rustls::Error>() {
        return Some(tls_code(tls));
    }
    if let Some(wasi) = e.downcast_ref::<Error>() {
        // The request body failed on the guest's side; pass its reason on.
        return Some(match wasi {
            Error::HttpRequestBodySize(n) => Error::HttpRequestBodySize(*n),
            Error::HttpProtocolError => Error::HttpProtocolError,
            other => Error::InternalError(Some(other.to_string())),
        });
    }
    if let Some(io) = e.downcast_ref::<io::Error>() {
        use io::ErrorKind::*;
        return match io.kind() {
            ConnectionRefused => Some(Error::ConnectionRefused),
            TimedOut => Some(Error::ConnectionTimeout),
            ConnectionReset | ConnectionAborted | BrokenPipe | UnexpectedEof => {
                Some(Error::ConnectionTerminated)
            }
            HostUnreachable | NetworkUnreachable | AddrNotAvailable => {
                Some(Error::DestinationUnavailable)
            }
            _ => None,
        };
    }
    if let Some(hyper) = e.downcast_ref::<hyper::Error>() {
        if hyper.is_timeout() {
            return Some(Error::HttpResponseTimeout);
        }
        if hyper.is_incomplete_message() || hyper.is_canceled() || hyper.is_closed() {
            return Some(Error::ConnectionTerminated);
        }
        if hyper.is_parse() || hyper.is_parse_status() {
            return Some(Error::HttpProtocolError);
        }
    }
    None
}

fn tls_code(err: &rustls::Error) -> Error {
    match err {
        rustls::Error::InvalidCertificate(_) | rustls::Error::NoCertificatesPresented => {
            Error::TlsCertificateError
        }
        rustls::Error::AlertReceived(alert) => Error::TlsAlertReceived {
            alert_id: Some(u8::from(*alert)),
            alert_message: Some(format!("{alert:?}")),
        },
        _ => Error::TlsProtocolError,
    }
}

/// The error code for a request that got no response.
fn request_error(err: hyper_util::client::legacy::Error) -> Error {
    if let Some(code) = precise(&err) {
        return code;
    }
    tracing::warn!("outgoing request failed: {:?}", err);
    if err.is_connect() {
        // As wasmtime-wasi-http's default for connect errors.
        Error::ConnectionRefused
    } else {
        Error::HttpProtocolError
    }
}

/// The error code for a response body that broke off.
fn body_error(err: hyper::Error) -> Error {
    if err.is_timeout() {
        return Error::HttpResponseTimeout;
    }
    if err.is_incomplete_message() {
        return Error::HttpResponseIncomplete;
    }
    precise(&err).unwrap_or(Error::Hyper(err))
}

/// A response body whose frames must each arrive within the between-bytes
/// timeout of the one before (or of the response head).
struct BetweenBytes {
    incoming: Incoming,
    timeout: Duration,
    sleep: Pin<Box<Sleep>>,
}

impl BetweenBytes {
    fn new(incoming: Incoming, timeout: Duration) -> BetweenBytes {
        BetweenBytes {
            incoming,
            timeout,
            sleep: Box::pin(tokio::time::sleep(timeout)),
        }
    }
}

impl Body for BetweenBytes {
    type Data = bytes::Bytes;
    type Error = Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = &mut *self;
        match Pin::new(&mut this.incoming).poll_frame(cx) {
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Ready(Some(Err(err))) => Poll::Ready(Some(Err(body_error(err)))),
            Poll::Ready(Some(Ok(frame))) => {
                let next = Instant::now() + this.timeout;
                this.sleep.as_mut().reset(next);
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Pending => {
                ready!(this.sleep.as_mut().poll(cx));
                Poll::Ready(Some(Err(Error::ConnectionReadTimeout)))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.incoming.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.incoming.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use http_body_util::Empty;
    use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    fn empty() -> WasiBody {
        Empty::<Bytes>::new()
            .map_err(|never| match never {})
            .boxed_unsync()
    }

    fn get(uri: &str) -> Request<WasiBody> {
        Request::get(uri).body(empty()).unwrap()
    }

    fn client(policy: AddressPolicy) -> Client {
        Client::new(ClientConfig::with_policy(policy))
    }

    fn timeouts(connect: u64, first_byte: u64, between_bytes: u64) -> Option<RequestOptions> {
        Some(RequestOptions {
            connect_timeout: Some(Duration::from_millis(connect)),
            first_byte_timeout: Some(Duration::from_millis(first_byte)),
            between_bytes_timeout: Some(Duration::from_millis(between_bytes)),
        })
    }

    /// A loopback HTTP/1.1 server echoing each request body, counting the
    /// connections it accepts.
    struct EchoServer {
        addr: SocketAddr,
        accepted: Arc<AtomicUsize>,
    }

    async fn echo_server() -> EchoServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let accepted = Arc::new(AtomicUsize::new(0));
        let count = accepted.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                count.fetch_add(1, SeqCst);
                tokio::spawn(async move {
                    let echo = hyper::service::service_fn(|req: Request<Incoming>| async move {
                        Ok::<_, hyper::Error>(Response::new(req.into_body()))
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), echo)
                        .await;
                });
            }
        });
        EchoServer { addr, accepted }
    }

    /// A loopback server that reads a request head, writes `reply` and then
    /// holds the connection open without a further byte.
    async fn stalling_server(reply: &'static [u8]) -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let mut head = Vec::new();
                    let mut buf = [0u8; 4096];
                    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                        match stream.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => head.extend_from_slice(&buf[..n]),
                        }
                    }
                    let _ = stream.write_all(reply).await;
                    tokio::time::sleep(Duration::from_secs(60)).await;
                });
            }
        });
        addr
    }

    /// `len` bytes of a pattern, sent in chunks of `chunk`.
    struct Pattern {
        sent: u64,
        len: u64,
        chunk: usize,
    }

    fn pattern_byte(offset: u64) -> u8 {
        (offset.wrapping_mul(2_654_435_761) >> 13) as u8
    }

    impl Body for Pattern {
        type Data = Bytes;
        type Error = Error;

        fn poll_frame(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
            let n = (self.len - self.sent).min(self.chunk as u64);
            if n == 0 {
                return Poll::Ready(None);
            }
            let start = self.sent;
            let data: Vec<u8> = (start..start + n).map(pattern_byte).collect();
            self.sent += n;
            Poll::Ready(Some(Ok(Frame::data(Bytes::from(data)))))
        }

        fn size_hint(&self) -> SizeHint {
            SizeHint::with_exact(self.len - self.sent)
        }
    }

    #[tokio::test]
    async fn reuses_one_connection_for_sequential_requests() {
        let server = echo_server().await;
        let client = client(AddressPolicy::cli());
        for _ in 0..8 {
            let response = client
                .send(get(&format!("http://{}/x", server.addr)), None)
                .await
                .unwrap();
            assert_eq!(response.status(), 200);
            response.into_body().collect().await.unwrap();
            // Let the connection go back to the pool before the next one.
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert_eq!(server.accepted.load(SeqCst), 1);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn streams_a_large_body_both_ways() {
        const LEN: u64 = 64 << 20;
        let server = echo_server().await;
        let client = client(AddressPolicy::cli());
        let body = Pattern {
            sent: 0,
            len: LEN,
            chunk: 256 << 10,
        };
        let request = Request::put(format!("http://{}/echo", server.addr))
            .body(body.boxed_unsync())
            .unwrap();
        let response = client.send(request, None).await.unwrap();
        assert_eq!(response.status(), 200);
        let mut body = response.into_body();
        let mut offset = 0u64;
        while let Some(frame) = body.frame().await {
            let data = frame.unwrap().into_data().unwrap();
            for (i, b) in data.iter().enumerate() {
                assert_eq!(
                    *b,
                    pattern_byte(offset + i as u64),
                    "byte {}",
                    offset + i as u64
                );
            }
            offset += data.len() as u64;
        }
        assert_eq!(offset, LEN);
    }

    #[tokio::test]
    async fn maps_a_refused_connection() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        let err = client(AddressPolicy::cli())
            .send(get(&format!("http://{addr}/")), None)
            .await
            .unwrap_err();
        assert!(matches!(err, Error::ConnectionRefused), "{err:?}");
    }

    #[tokio::test]
    async fn maps_a_stall_between_bytes_to_a_read_timeout() {
        let addr =
            stalling_server(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\n0123456789").await;
        let response = client(AddressPolicy::cli())
            .send(get(&format!("http://{addr}/")), timeouts(1000, 1000, 200))
            .await
            .unwrap();
        let mut body = response.into_body();
        let first = body.frame().await.unwrap().unwrap();
        assert_eq!(first.into_data().unwrap(), "0123456789");
        let started = std::time::Instant::now();
        let err = body.frame().await.unwrap().unwrap_err();
        assert!(matches!(err, Error::ConnectionReadTimeout), "{err:?}");
        assert!(started.elapsed() >= Duration::from_millis(150));
    }

    #[tokio::test]
    async fn maps_a_stall_before_the_response_to_a_read_timeout() {
        let addr = stalling_server(b"").await;
        let err = client(AddressPolicy::cli())
            .send(get(&format!("http://{addr}/")), timeouts(1000, 200, 1000))
            .await
            .unwrap_err();
        assert!(matches!(err, Error::ConnectionReadTimeout), "{err:?}");
    }

    #[tokio::test]
    async fn maps_a_stalled_tls_handshake_to_a_connect_timeout() {
        // Accepts, reads the ClientHello, never answers.
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut stream, _) = listener.accept().await.unwrap();
            let mut buf = [0u8; 4096];
            while let Ok(n) = stream.read(&mut buf).await {
                if n == 0 {
                    break;
                }
            }
        });
        let err = client(AddressPolicy::cli())
            .send(get(&format!("https://{addr}/")), timeouts(200, 5000, 5000))
            .await
            .unwrap_err();
        assert!(matches!(err, Error::ConnectionTimeout), "{err:?}");
    }

    #[tokio::test]
    async fn maps_tls_to_a_plain_http_server_to_a_tls_error() {
        let server = echo_server().await;
        let err = client(AddressPolicy::cli())
            .send(get(&format!("https://{}/", server.addr)), None)
            .await
            .unwrap_err();
        assert!(matches!(err, Error::TlsProtocolError), "{err:?}");
    }

    #[tokio::test]
    async fn service_policy_refuses_loopback_by_address_and_by_name() {
        let server = echo_server().await;
        let port = server.addr.port();
        let service = client(AddressPolicy::service());
        for host in ["127.0.0.1", "localhost", "[::1]", "[::ffff:127.0.0.1]"] {
            let err = service
                .send(get(&format!("http://{host}:{port}/")), None)
                .await
                .unwrap_err();
            assert!(
                matches!(err, Error::DestinationIpProhibited),
                "{host}: {err:?}"
            );
        }
        assert_eq!(server.accepted.load(SeqCst), 0, "no connection was made");

        let cli = client(AddressPolicy::cli());
        for host in ["127.0.0.1", "localhost"] {
            let response = cli
                .send(get(&format!("http://{host}:{port}/")), None)
                .await
                .unwrap();
            assert_eq!(response.status(), 200, "{host}");
        }

        let reopened = client(AddressPolicy::service().allow("127.0.0.0/8".parse().unwrap()));
        let response = reopened
            .send(get(&format!("http://localhost:{port}/")), None)
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
    }

    #[tokio::test]
    async fn through_a_proxy_the_policy_still_judges_the_target() {
        // The proxy (an echo server here) is the user's choice and is on
        // loopback; the target, on loopback too, is refused in service mode
        // before the proxy is asked.
        let proxy = echo_server().await;
        let proxies = Proxies(Some(Arc::new(
            Matcher::builder()
                .all(format!("http://{}", proxy.addr))
                .build(),
        )));
        let service = Client::new(ClientConfig {
            proxies,
            ..ClientConfig::with_policy(AddressPolicy::service())
        });
        for target in ["http://127.0.0.1:9/", "https://localhost:9/"] {
            let err = service.send(get(target), None).await.unwrap_err();
            assert!(
                matches!(err, Error::DestinationIpProhibited),
                "{target}: {err:?}"
            );
        }
        assert_eq!(proxy.accepted.load(SeqCst), 0, "the proxy was asked");
    }

    #[test]
    fn proxies_show_where_they_lead_not_their_credentials() {
        let proxies = Proxies(Some(Arc::new(
            Matcher::builder()
                .https("http://alice:s3cret@proxy.example:3128")
                .build(),
        )));
        let shown = format!("{proxies:?}");
        assert!(shown.contains("proxy.example:3128"), "{shown}");
        assert!(
            !shown.contains("s3cret") && !shown.contains("alice"),
            "{shown}"
        );
    }

    #[test]
    fn refusals_say_which_name_and_why() {
        let refused = AddressPolicy::service()
            .check("127.0.0.1".parse().unwrap())
            .unwrap_err();
        let by_name = Prohibited {
            host: "localhost".into(),
            refused: refused.clone(),
        };
        assert_eq!(
            by_name.to_string(),
            "localhost resolves only to refused addresses: 127.0.0.1 is a loopback address; \
             sources there are refused in service mode"
        );
        let literal = Prohibited {
            host: "127.0.0.1".into(),
            refused,
        };
        assert!(literal.to_string().starts_with("127.0.0.1 is a loopback"));
    }
}
