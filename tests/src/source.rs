//! The source server: deterministic objects over HTTP, like a mirror or an
//! OSS bucket read anonymously.
//!
//! `GET|HEAD /obj/{seed}/{size}` serves `pattern` object `(seed, size)` with
//! single-range support, a strong ETag, a fixed Last-Modified and `If-Match`.
//! Knobs in `SourceConfig` switch off the features that real sources lack;
//! `Faults` (see [`crate::faults`]) break requests on purpose.

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
}

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
        Ok(self.respond(req, conn).await)
    }
}

impl SourceService {
    async fn respond(&self, req: Request<Incoming>, conn: SourceConn) -> Response<ResponseBody> {
        let head = match *req.method() {
            Method::GET => false,
            Method::HEAD if !self.cfg.refuse_head => true,
            _ => return status_only(StatusCode::METHOD_NOT_ALLOWED, Some("GET, HEAD")),
        };
        let Some((seed, size)) = parse_path(req.uri().path()) else {
            return status_only(StatusCode::NOT_FOUND, None);
        };
        let changed = {
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
            changed
        };
        let seed = if changed {
            SourceServer::changed_seed(seed)
        } else {
            seed
        };
        let etag = SourceServer::etag(seed, size);
        if let Some(wanted) = req.headers().get(header::IF_MATCH) {
            if !if_match(wanted.to_str().unwrap_or(""), &etag) {
                return status_only(StatusCode::PRECONDITION_FAILED, None);
            }
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
            .header(header::ETAG, &etag)
            .header(
                header::LAST_MODIFIED,
                httpdate::fmt_http_date(last_modified(changed)),
            )
            .header(header::CONTENT_TYPE, "application/octet-stream");
        if !self.cfg.no_range {
            resp = resp.header(header::ACCEPT_RANGES, "bytes");
        }
        if self.cfg.crc_header {
            // The first request for a big object pays for its CRC; keep that
            // off the async workers.
            let crc = tokio::task::spawn_blocking(move || pattern::crc64(seed, size))
                .await
                .expect("crc task");
            resp = resp.header("x-oss-hash-crc64ecma", crc.to_string());
        }
        let (status, start, end) = match range {
            RangeRequest::Whole => (StatusCode::OK, 0, size),
            RangeRequest::Part { start, end } => {
                resp = resp.header(header::CONTENT_RANGE, format!("bytes {start}-{end}/{size}"));
                (StatusCode::PARTIAL_CONTENT, start, end + 1)
            }
            RangeRequest::Unsatisfiable => {
                return resp
                    .status(StatusCode::RANGE_NOT_SATISFIABLE)
                    .header(header::CONTENT_RANGE, format!("bytes */{size}"))
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

/// `/obj/{seed}/{size}` with decimal numbers.
fn parse_path(path: &str) -> Option<(u64, u64)> {
    let rest = path.strip_prefix("/obj/")?;
    let (seed, size) = rest.split_once('/')?;
    Some((seed.parse().ok()?, size.parse().ok()?))
}

/// `If-Match` with a list of strong ETags or `*` (RFC 9110 §13.1.1).
fn if_match(header: &str, etag: &str) -> bool {
    header
        .split(',')
        .map(str::trim)
        .any(|candidate| candidate == "*" || candidate == etag)
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
        assert_ne!(SourceServer::etag(1, 10), SourceServer::etag(2, 10));
        assert_ne!(SourceServer::etag(1, 10), SourceServer::etag(1, 11));
        assert!(SourceServer::etag(1, 10).starts_with('"'));
    }

    #[test]
    fn if_match_lists() {
        assert!(if_match("*", "\"a\""));
        assert!(if_match("\"b\", \"a\"", "\"a\""));
        assert!(!if_match("\"b\"", "\"a\""));
        assert!(!if_match("W/\"a\"", "\"a\""));
    }
}
