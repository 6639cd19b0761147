//! The source server: deterministic objects over HTTP, like a mirror or an
//! OSS bucket read anonymously.
//!
//! `GET|HEAD /obj/{seed}/{size}` serves `pattern` object `(seed, size)` with
//! single-range support, a strong ETag, a fixed Last-Modified, `If-Match` and
//! `If-Unmodified-Since`. Knobs in `SourceConfig` switch off the features
//! that real sources lack or make it state wrong sizes; `Faults` (see
//! [`crate::faults`]) break requests on purpose. Every request's range and
//! conditional headers are recorded ([`SourceServer::received`]).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, UNIX_EPOCH};

use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};

use crate::body::{self, ResponseBody};
use crate::fault_body::FaultBody;
use crate::faults::{Armed, Faults, Knob, CHANGE_XOR};
use crate::pattern;
use crate::pattern_body::PatternBody;
use crate::range::{self, RangeRequest};
use crate::server::{Background, ConnIo, Cut, Handler};
use crate::throttle::{Throttled, TokenBucket};

/// Chunk size of unthrottled bodies: large enough for GB/s on loopback.
const CHUNK: usize = 256 << 10;

/// Behaviour switches of the source.
#[derive(Clone, Debug, Default)]
pub struct SourceConfig {
    /// Send `x-oss-hash-crc64ecma` (whole-object CRC, decimal) on GET and
    /// HEAD, as an OSS source does.
    pub crc_header: bool,
    /// Bytes per second per connection (token bucket); `None` is unlimited.
    pub rate_limit: Option<u64>,
    /// Ignore `Range`: always 200 with the full body.
    pub no_range: bool,
    /// Chunked responses without `Content-Length`; HEAD without a length.
    pub no_content_length: bool,
    /// Answer HEAD with 405, so clients probe with `Range: bytes=0-0`.
    pub refuse_head: bool,
    /// Send no ETag, only Last-Modified: a client can make its ranged GETs
    /// conditional with `If-Unmodified-Since` alone.
    pub no_etag: bool,
    /// A source that states two sizes: HEAD and 200 replies say the object
    /// has this many bytes (`Content-Length`; a 200 sends that many bytes of
    /// the pattern), while 206 and 416 replies state the true size in their
    /// `Content-Range` total (`bytes a-b/SIZE`, `bytes */SIZE`). Same ETag.
    pub lie_head_size: Option<u64>,
    /// The other way round: HEAD and 200 replies state the true size, while
    /// 206 and 416 replies state this total in `Content-Range` (`bytes
    /// a-b/TOTAL`, `bytes */TOTAL`); ranges are still cut from the true
    /// object. Same ETag.
    pub lie_range_total: Option<u64>,
    /// A header (lower-case name, value) every request must carry, as a
    /// source behind a cookie or a token does: 403 without it.
    pub require_header: Option<(String, String)>,
    /// Headers (name, value) every answer for an object carries, as a web
    /// server sends `Content-Type` or `Content-Disposition`; a
    /// `content-type` here replaces the default `application/octet-stream`.
    pub response_headers: Vec<(String, String)>,
}

/// The range, conditional and authorization headers of one request the
/// source received, in arrival order (see [`SourceServer::received`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Received {
    /// `GET` or `HEAD` (anything else too, as sent).
    pub method: String,
    /// The request's path, e.g. `/obj/1/1000`.
    pub path: String,
    pub range: Option<String>,
    pub if_match: Option<String>,
    pub if_unmodified_since: Option<String>,
    /// The `Authorization` header (a URL's `user:pass@` as Basic).
    pub authorization: Option<String>,
    /// Every header, names in lower case, in the order sent.
    pub headers: Vec<(String, String)>,
}

/// At most this many requests are recorded (the first ones).
const RECEIVED_MAX: usize = 100_000;

/// A running source server; dropping it stops it.
pub struct SourceServer {
    service: Arc<SourceService>,
    background: Background,
}

impl SourceServer {
    /// Starts on `127.0.0.1` with an ephemeral port.
    pub fn start(cfg: SourceConfig) -> std::io::Result<Self> {
        Self::start_on(SocketAddr::from(([127, 0, 0, 1], 0)), cfg)
    }

    /// Starts on `addr`.
    pub fn start_on(addr: SocketAddr, cfg: SourceConfig) -> std::io::Result<Self> {
        let service = Arc::new(SourceService {
            cfg,
            requests: AtomicU64::new(0),
            gets: AtomicU64::new(0),
            heads: AtomicU64::new(0),
            received: Mutex::new(Vec::new()),
            faults: Mutex::new(Armed::default()),
        });
        let background = Background::start("ferry-source", addr, service.clone())?;
        Ok(Self {
            service,
            background,
        })
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.background.addr()
    }

    /// The URL of object `(seed, size)`.
    pub fn url(&self, seed: u64, size: u64) -> String {
        format!("http://{}{}", self.addr(), Self::path(seed, size))
    }

    /// The path of object `(seed, size)`.
    pub fn path(seed: u64, size: u64) -> String {
        format!("/obj/{seed}/{size}")
    }

    /// The quoted strong ETag served for object `(seed, size)`.
    pub fn etag(seed: u64, size: u64) -> String {
        let mut h = seed ^ 0xA076_1D64_78BD_642F;
        h = (h ^ size).wrapping_mul(0xE703_7ED1_A0B4_28DB);
        h ^= h >> 29;
        format!("\"{h:016x}-{size:x}\"")
    }

    /// Requests served so far (all methods, all outcomes).
    pub fn requests(&self) -> u64 {
        self.service.requests.load(Ordering::Relaxed)
    }

    /// GET requests received so far (any path, any outcome).
    pub fn get_requests(&self) -> u64 {
        self.service.gets.load(Ordering::Relaxed)
    }

    /// HEAD requests received so far (any path, any outcome, refused ones
    /// included).
    pub fn head_requests(&self) -> u64 {
        self.service.heads.load(Ordering::Relaxed)
    }

    /// The range and conditional headers of every request received so far
    /// (the first 100,000), in arrival order.
    pub fn received(&self) -> Vec<Received> {
        self.service.received.lock().unwrap().clone()
    }

    /// Replaces the faults to inject from the next request on, and re-arms
    /// their counts (see [`crate::faults`]).
    pub fn set_faults(&self, faults: Faults) {
        *self.service.faults.lock().unwrap() = Armed::new(faults);
    }

    /// The seed whose bytes object `seed` serves once `change_after` fired.
    pub fn changed_seed(seed: u64) -> u64 {
        seed ^ CHANGE_XOR
    }

    /// The ETag object `(seed, size)` has once `change_after` fired.
    pub fn changed_etag(seed: u64, size: u64) -> String {
        Self::etag(Self::changed_seed(seed), size)
    }
}

/// The fixed modification time of every object (2024-01-01T00:00:00Z), or
/// a day later once it changed.
fn last_modified(changed: bool) -> std::time::SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_704_067_200 + if changed { 86_400 } else { 0 })
}

struct SourceService {
    cfg: SourceConfig,
    requests: AtomicU64,
    gets: AtomicU64,
    heads: AtomicU64,
    received: Mutex<Vec<Received>>,
    faults: Mutex<Armed>,
}

/// What a connection carries between its requests.
#[derive(Clone)]
struct SourceConn {
    bucket: Option<Arc<Mutex<TokenBucket>>>,
    io: ConnIo,
}

impl Handler for SourceService {
    type Conn = SourceConn;

    fn connection(&self, io: ConnIo) -> Self::Conn {
        let bucket = self.cfg.rate_limit.map(|rate| {
            let chunk = TokenBucket::chunk_for(rate) as u64;
            Arc::new(Mutex::new(TokenBucket::new(rate, chunk)))
        });
        SourceConn { bucket, io }
    }

    async fn handle(
        self: Arc<Self>,
        req: Request<Incoming>,
        conn: Self::Conn,
    ) -> Result<Response<ResponseBody>, Cut> {
        self.requests.fetch_add(1, Ordering::Relaxed);
        match *req.method() {
            Method::GET => self.gets.fetch_add(1, Ordering::Relaxed),
            Method::HEAD => self.heads.fetch_add(1, Ordering::Relaxed),
            _ => 0,
        };
        self.record(&req);
        Ok(self.respond(req, conn).await)
    }
}

impl SourceService {
    fn record(&self, req: &Request<Incoming>) {
        let mut received = self.received.lock().unwrap();
        if received.len() < RECEIVED_MAX {
            let text = |name| {
                req.headers()
                    .get(name)
                    .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            };
            received.push(Received {
                method: req.method().to_string(),
                path: req.uri().path().to_string(),
                range: text(header::RANGE),
                if_match: text(header::IF_MATCH),
                if_unmodified_since: text(header::IF_UNMODIFIED_SINCE),
                authorization: text(header::AUTHORIZATION),
                headers: req
                    .headers()
                    .iter()
                    .map(|(k, v)| {
                        (
                            k.as_str().to_string(),
                            String::from_utf8_lossy(v.as_bytes()).into_owned(),
                        )
                    })
                    .collect(),
            });
        }
    }

    async fn respond(&self, req: Request<Incoming>, conn: SourceConn) -> Response<ResponseBody> {
        let head = match *req.method() {
            Method::GET => false,
            Method::HEAD if !self.cfg.refuse_head => true,
            _ => return status_only(StatusCode::METHOD_NOT_ALLOWED, Some("GET, HEAD")),
        };
        if let Some((name, value)) = &self.cfg.require_header {
            if req.headers().get(name.as_str()).map(|v| v.as_bytes()) != Some(value.as_bytes()) {
                return status_only(StatusCode::FORBIDDEN, None);
            }
        }
        let Some((seed, size)) = parse_path(req.uri().path()) else {
            return status_only(StatusCode::NOT_FOUND, None);
        };
        let (changed, wrong_crc) = {
            let mut armed = self.faults.lock().unwrap();
            let changed = armed
                .faults
                .change_after
                .is_some_and(|n| armed.gets >= u64::from(n));
            if !head {
                armed.gets += 1;
            }
            if armed.faults.forbidden {
                return status_only(StatusCode::FORBIDDEN, None);
            }
            if armed.faults.not_found {
                return status_only(StatusCode::NOT_FOUND, None);
            }
            if let Some((status, times, retry_after)) = armed.faults.status_burst {
                if !head && armed.fire(Knob::StatusBurst, times) {
                    return injected_status(status, retry_after);
                }
            }
            (changed, armed.faults.wrong_crc_header)
        };
        let seed = if changed {
            SourceServer::changed_seed(seed)
        } else {
            seed
        };
        let etag = (!self.cfg.no_etag).then(|| SourceServer::etag(seed, size));
        let modified = last_modified(changed);
        if !preconditions_hold(req.headers(), etag.as_deref(), modified) {
            return status_only(StatusCode::PRECONDITION_FAILED, None);
        }

        let range_header = req
            .headers()
            .get(header::RANGE)
            .and_then(|v| v.to_str().ok());
        let range = if self.cfg.no_range {
            RangeRequest::Whole
        } else {
            range::parse(range_header, size)
        };
        let mut resp = Response::builder()
            .header(header::LAST_MODIFIED, httpdate::fmt_http_date(modified))
            .header(header::CONTENT_TYPE, "application/octet-stream");
        for (name, value) in &self.cfg.response_headers {
            if let Some(headers) = resp.headers_mut() {
                headers.insert(
                    header::HeaderName::from_bytes(name.as_bytes()).expect("a header name"),
                    header::HeaderValue::from_str(value).expect("a header value"),
                );
            }
        }
        if let Some(etag) = &etag {
            resp = resp.header(header::ETAG, etag);
        }
        if !self.cfg.no_range {
            resp = resp.header(header::ACCEPT_RANGES, "bytes");
        }
        if self.cfg.crc_header {
            // The first request for a big object pays for its CRC; keep that
            // off the async workers.
            let crc = tokio::task::spawn_blocking(move || pattern::crc64(seed, size))
                .await
                .expect("crc task");
            let crc = if wrong_crc { crc ^ 1 } else { crc };
            resp = resp.header("x-oss-hash-crc64ecma", crc.to_string());
        }
        // The sizes the replies state: the true one unless a knob lies.
        let whole_size = self.cfg.lie_head_size.unwrap_or(size);
        let range_total = self.cfg.lie_range_total.unwrap_or(size);
        let (status, start, end) = match range {
            RangeRequest::Whole => (StatusCode::OK, 0, whole_size),
            RangeRequest::Part { start, end } => {
                resp = resp.header(
                    header::CONTENT_RANGE,
                    format!("bytes {start}-{end}/{range_total}"),
                );
                (StatusCode::PARTIAL_CONTENT, start, end + 1)
            }
            RangeRequest::Unsatisfiable => {
                return resp
                    .status(StatusCode::RANGE_NOT_SATISFIABLE)
                    .header(header::CONTENT_RANGE, format!("bytes */{range_total}"))
                    .body(body::empty())
                    .expect("valid response");
            }
        };
        resp = resp.status(status);
        if !self.cfg.no_content_length {
            resp = resp.header(header::CONTENT_LENGTH, end - start);
        }
        if head {
            return resp.body(body::empty()).expect("valid response");
        }
        let announce = !self.cfg.no_content_length;
        let body = match conn.bucket {
            Some(bucket) => {
                let chunk = TokenBucket::chunk_for(self.cfg.rate_limit.unwrap_or(0));
                Throttled::new(PatternBody::new(seed, start, end, chunk, announce), bucket)
                    .map_err(|never| match never {})
                    .boxed_unsync()
            }
            None => PatternBody::new(seed, start, end, CHUNK, announce)
                .map_err(|never| match never {})
                .boxed_unsync(),
        };
        let (stall, cut) = {
            let mut armed = self.faults.lock().unwrap();
            let len = end - start;
            let (stall, reset) = (armed.faults.stall, armed.faults.reset_after);
            let stall = match stall {
                Some((at, pause, times)) if len > at && armed.fire(Knob::Stall, times) => {
                    Some((at, pause))
                }
                _ => None,
            };
            let cut = match reset {
                Some((at, times)) if len > at && armed.fire(Knob::ResetAfter, times) => Some(at),
                _ => None,
            };
            (stall, cut)
        };
        let body = if stall.is_some() || cut.is_some() {
            FaultBody::new(body, conn.io, stall, cut).boxed_unsync()
        } else {
            body
        };
        resp.body(body).expect("valid response")
    }
}

/// The answer of a `status_burst`: the status, a short text body, and
/// `Retry-After` when asked for.
fn injected_status(status: u16, retry_after: Option<u32>) -> Response<ResponseBody> {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let text = format!(
        "{} {} (injected by ferry-testbed)\n",
        status.as_u16(),
        status.canonical_reason().unwrap_or("")
    );
    let mut resp = Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "text/plain")
        .header(header::CONTENT_LENGTH, text.len());
    if let Some(seconds) = retry_after {
        resp = resp.header(header::RETRY_AFTER, seconds);
    }
    resp.body(body::full(text)).expect("valid response")
}

/// `/obj/{seed}/{size}` with decimal numbers, and perhaps a file name
/// after them (`/obj/{seed}/{size}/{name}`, the same object).
fn parse_path(path: &str) -> Option<(u64, u64)> {
    let rest = path.strip_prefix("/obj/")?;
    let (seed, size) = rest.split_once('/')?;
    let size = size.split_once('/').map_or(size, |(size, _)| size);
    Some((seed.parse().ok()?, size.parse().ok()?))
}

/// `If-Match` with a list of strong ETags or `*` (RFC 9110 §13.1.1); no
/// ETag matches only `*`.
fn if_match(header: &str, etag: Option<&str>) -> bool {
    header
        .split(',')
        .map(str::trim)
        .any(|candidate| candidate == "*" || Some(candidate) == etag)
}

/// `If-Match`, else `If-Unmodified-Since` (RFC 9110 §13.2.2: the date is
/// ignored when `If-Match` is present, and so is a date that cannot be read).
fn preconditions_hold(
    headers: &hyper::HeaderMap,
    etag: Option<&str>,
    modified: std::time::SystemTime,
) -> bool {
    if let Some(wanted) = headers.get(header::IF_MATCH) {
        return if_match(wanted.to_str().unwrap_or(""), etag);
    }
    match headers
        .get(header::IF_UNMODIFIED_SINCE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| httpdate::parse_http_date(v).ok())
    {
        Some(date) => modified <= date,
        None => true,
    }
}

fn status_only(status: StatusCode, allow: Option<&'static str>) -> Response<ResponseBody> {
    let mut resp = Response::new(body::empty());
    *resp.status_mut() = status;
    if let Some(allow) = allow {
        resp.headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static(allow));
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_and_etags() {
        assert_eq!(parse_path("/obj/3/100"), Some((3, 100)));
        assert_eq!(parse_path(&SourceServer::path(9, 0)), Some((9, 0)));
        assert_eq!(parse_path("/obj/3"), None);
        assert_eq!(parse_path("/obj/x/1"), None);
        assert_eq!(parse_path("/obj/3/100/big.iso"), Some((3, 100)));
        assert_ne!(SourceServer::etag(1, 10), SourceServer::etag(2, 10));
        assert_ne!(SourceServer::etag(1, 10), SourceServer::etag(1, 11));
        assert!(SourceServer::etag(1, 10).starts_with('"'));
    }

    /// Sends `request` (with `Connection: close`) and reads the reply:
    /// the lower-case header lines and the body length.
    fn exchange(server: &SourceServer, request: &str) -> (String, usize) {
        use std::io::{Read, Write};
        let mut s = std::net::TcpStream::connect(server.addr()).unwrap();
        write!(s, "{request}\r\nHost: t\r\nConnection: close\r\n\r\n").unwrap();
        let mut reply = Vec::new();
        s.read_to_end(&mut reply).unwrap();
        let end = reply.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
        let head = String::from_utf8_lossy(&reply[..end]).to_ascii_lowercase();
        (head, reply.len() - end - 4)
    }

    fn has(head: &str, line: &str) -> bool {
        head.lines().any(|l| l == line)
    }

    #[test]
    fn lie_head_size_states_one_size_to_head_and_another_in_ranges() {
        let server = SourceServer::start(SourceConfig {
            lie_head_size: Some(299_000),
            ..SourceConfig::default()
        })
        .unwrap();
        let etag = format!("etag: {}", SourceServer::etag(1, 300_000));
        let (head, _) = exchange(&server, "HEAD /obj/1/300000 HTTP/1.1");
        assert!(has(&head, "content-length: 299000"), "{head}");
        assert!(has(&head, &etag), "{head}");
        let (get, len) = exchange(&server, "GET /obj/1/300000 HTTP/1.1");
        assert!(
            has(&get, "content-length: 299000") && len == 299_000,
            "{get}"
        );
        let ranged = "GET /obj/1/300000 HTTP/1.1\r\nRange: bytes=298000-299999";
        let (part, len) = exchange(&server, ranged);
        assert!(part.starts_with("http/1.1 206"), "{part}");
        assert!(
            has(&part, "content-range: bytes 298000-299999/300000"),
            "{part}"
        );
        assert!(has(&part, &etag) && len == 2000, "{part}");
    }

    #[test]
    fn lie_range_total_states_one_size_to_head_and_another_in_ranges() {
        let server = SourceServer::start(SourceConfig {
            lie_range_total: Some(301_000),
            ..SourceConfig::default()
        })
        .unwrap();
        let (head, _) = exchange(&server, "HEAD /obj/1/300000 HTTP/1.1");
        assert!(has(&head, "content-length: 300000"), "{head}");
        let ranged = "GET /obj/1/300000 HTTP/1.1\r\nRange: bytes=0-99";
        let (part, len) = exchange(&server, ranged);
        assert!(
            has(&part, "content-range: bytes 0-99/301000") && len == 100,
            "{part}"
        );
        let beyond = "GET /obj/1/300000 HTTP/1.1\r\nRange: bytes=300000-";
        let (refused, _) = exchange(&server, beyond);
        assert!(refused.starts_with("http/1.1 416"), "{refused}");
        assert!(has(&refused, "content-range: bytes */301000"), "{refused}");
    }

    #[test]
    fn no_etag_answers_if_unmodified_since_and_conditions_are_recorded() {
        let server = SourceServer::start(SourceConfig {
            no_etag: true,
            ..SourceConfig::default()
        })
        .unwrap();
        let (head, _) = exchange(&server, "HEAD /obj/2/1000 HTTP/1.1");
        assert!(!head.contains("etag:"), "{head}");
        let date = httpdate::fmt_http_date(last_modified(false));
        let before = httpdate::fmt_http_date(last_modified(false) - Duration::from_secs(1));
        let ranged = |condition: &str| {
            let req = format!("GET /obj/2/1000 HTTP/1.1\r\nRange: bytes=0-9\r\n{condition}");
            exchange(&server, &req).0
        };
        let ok = ranged(&format!("If-Unmodified-Since: {date}"));
        assert!(ok.starts_with("http/1.1 206"), "{ok}");
        let late = ranged(&format!("If-Unmodified-Since: {before}"));
        assert!(late.starts_with("http/1.1 412"), "{late}");
        let tagged = ranged("If-Match: \"x\"");
        assert!(tagged.starts_with("http/1.1 412"), "{tagged}");

        let received = server.received();
        assert_eq!(received.len(), 4);
        assert_eq!(received[0].method, "HEAD");
        assert_eq!(received[0].range, None);
        assert_eq!(received[1].path, "/obj/2/1000");
        assert_eq!(received[1].range.as_deref(), Some("bytes=0-9"));
        assert_eq!(received[1].if_unmodified_since.as_deref(), Some(&date[..]));
        assert_eq!(
            received[2].if_unmodified_since.as_deref(),
            Some(&before[..])
        );
        assert_eq!(received[3].if_match.as_deref(), Some("\"x\""));
        assert_eq!(received[3].if_unmodified_since, None);
    }

    #[test]
    fn if_match_lists() {
        assert!(if_match("*", Some("\"a\"")));
        assert!(if_match("\"b\", \"a\"", Some("\"a\"")));
        assert!(!if_match("\"b\"", Some("\"a\"")));
        assert!(!if_match("W/\"a\"", Some("\"a\"")));
        assert!(if_match("*", None));
        assert!(!if_match("\"a\"", None));
    }
}
