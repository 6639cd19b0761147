//! The source server: deterministic objects over HTTP, like a mirror or an
//! OSS bucket read anonymously.
//!
//! `GET|HEAD /obj/{seed}/{size}` serves `pattern` object `(seed, size)` with
//! single-range support, a strong ETag, a fixed Last-Modified and `If-Match`.
//! Knobs in `SourceConfig` switch off the features that real sources lack.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, UNIX_EPOCH};

use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};

use crate::body::{self, ResponseBody};
use crate::faults::Faults;
use crate::pattern;
use crate::pattern_body::PatternBody;
use crate::range::{self, RangeRequest};
use crate::server::{Background, Handler};
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
            faults: Mutex::new(Faults::default()),
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

    /// Replaces the faults to inject from the next request on.
    pub fn set_faults(&self, faults: Faults) {
        *self.service.faults.lock().unwrap() = faults;
    }
}

/// The fixed modification time of every object (2024-01-01T00:00:00Z).
fn last_modified() -> std::time::SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_704_067_200)
}

struct SourceService {
    cfg: SourceConfig,
    requests: AtomicU64,
    faults: Mutex<Faults>,
}

impl Handler for SourceService {
    type Conn = Option<Arc<Mutex<TokenBucket>>>;

    fn connection(&self) -> Self::Conn {
        self.cfg.rate_limit.map(|rate| {
            let chunk = TokenBucket::chunk_for(rate) as u64;
            Arc::new(Mutex::new(TokenBucket::new(rate, chunk)))
        })
    }

    async fn handle(
        self: Arc<Self>,
        req: Request<Incoming>,
        conn: Self::Conn,
    ) -> Response<ResponseBody> {
        self.requests.fetch_add(1, Ordering::Relaxed);
        self.respond(req, conn).await
    }
}

impl SourceService {
    async fn respond(
        &self,
        req: Request<Incoming>,
        bucket: Option<Arc<Mutex<TokenBucket>>>,
    ) -> Response<ResponseBody> {
        let head = match *req.method() {
            Method::GET => false,
            Method::HEAD if !self.cfg.refuse_head => true,
            _ => return status_only(StatusCode::METHOD_NOT_ALLOWED, Some("GET, HEAD")),
        };
        let Some((seed, size)) = parse_path(req.uri().path()) else {
            return status_only(StatusCode::NOT_FOUND, None);
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
                httpdate::fmt_http_date(last_modified()),
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
        let body = match bucket {
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
        resp.body(body).expect("valid response")
    }
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
