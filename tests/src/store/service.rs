//! The store's request handling: authentication, routing to the operation,
//! and the headers every OSS response carries.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};

use super::auth::Authority;
use super::error::OssError;
use super::request::Target;
use super::state::{BucketState, State, Stored};
use super::{admin, multipart, object, sink, xml, ObjectInfo, Sink, StoreConfig};
use crate::body::{self, ResponseBody};
use crate::faults::Faults;
use crate::server::Handler;

/// Bodies of refused requests are read and dropped up to this size, so the
/// client sees the error instead of a reset connection.
const DRAIN_LIMIT: u64 = 16 << 20;

/// The shared state of a running store.
pub struct Store {
    pub cfg: StoreConfig,
    pub state: Mutex<State>,
    requests: AtomicU64,
    next_id: AtomicU64,
    /// Start time in ns: makes ids and blob names unique across restarts.
    boot: u64,
    faults: Mutex<Faults>,
}

/// A request that passed authentication and names an existing bucket.
pub struct Ctx {
    pub bucket: String,
    pub key: String,
    pub target: Target,
    pub host: String,
}

impl Store {
    pub fn new(cfg: StoreConfig) -> std::io::Result<Self> {
        if let Sink::Disk(dir) = &cfg.sink {
            std::fs::create_dir_all(dir.join("blobs"))?;
        }
        let state = State {
            buckets: cfg
                .buckets
                .iter()
                .map(|b| (b.clone(), BucketState::default()))
                .collect(),
        };
        Ok(Self {
            cfg,
            state: Mutex::new(state),
            requests: AtomicU64::new(0),
            next_id: AtomicU64::new(1),
            boot: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default()
                .as_nanos() as u64,
            faults: Mutex::new(Faults::default()),
        })
    }

    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    pub fn set_faults(&self, faults: Faults) {
        *self.faults.lock().unwrap() = faults;
    }

    /// A fresh 32-hex-digit upload id. Ids sort in creation order, which
    /// ListMultipartUploads relies on for uploads of the same key.
    pub fn new_upload_id(&self) -> String {
        let n = self.next_id.fetch_add(1, Ordering::Relaxed);
        format!("{:016X}{n:016X}", self.boot)
    }

    /// A new file for incoming bytes, or `None` for the null sink.
    pub fn new_blob(&self) -> Option<PathBuf> {
        match &self.cfg.sink {
            Sink::Disk(dir) => {
                let n = self.next_id.fetch_add(1, Ordering::Relaxed);
                Some(dir.join("blobs").join(format!("{:x}-{n}", self.boot)))
            }
            Sink::Null => None,
        }
    }

    pub fn object_info(&self, bucket: &str, key: &str) -> Option<ObjectInfo> {
        let state = self.state.lock().unwrap();
        let o = state.buckets.get(bucket)?.objects.get(key)?;
        Some(ObjectInfo {
            size: o.size,
            crc64: o.crc64,
            etag: o.etag.clone(),
            parts: o.parts,
        })
    }

    pub fn read_object(&self, bucket: &str, key: &str) -> Option<Vec<u8>> {
        let data = {
            let state = self.state.lock().unwrap();
            state.buckets.get(bucket)?.objects.get(key)?.data.clone()
        };
        match data {
            Stored::Disk(segments) => sink::read_all(&segments).ok(),
            Stored::Null => None,
        }
    }

    pub fn open_uploads(&self, bucket: &str) -> Vec<(String, String)> {
        let state = self.state.lock().unwrap();
        let Some(b) = state.buckets.get(bucket) else {
            return Vec::new();
        };
        let mut list: Vec<(String, String)> = b
            .uploads
            .values()
            .map(|u| (u.key.clone(), u.id.clone()))
            .collect();
        list.sort();
        list
    }

    fn request_id(&self, n: u64) -> String {
        format!("{:08X}{n:016X}", self.boot as u32)
    }

    async fn route(
        self: &Arc<Self>,
        req: Request<Incoming>,
    ) -> Result<Response<ResponseBody>, OssError> {
        if req.uri().path().starts_with("/-/") {
            return admin::handle(self, req).await;
        }
        let target = Target::parse(req.uri());
        let authority = Authority {
            region: &self.cfg.region,
            credentials: &self.cfg.credentials,
        };
        let method = req.method().clone();
        if let Err(e) =
            authority.authenticate(method.as_str(), &target, req.headers(), SystemTime::now())
        {
            drain(req.into_body()).await;
            return Err(e);
        }
        let Some(bucket) = target.bucket.clone() else {
            drain(req.into_body()).await;
            return Err(OssError::NotImplemented(
                "ListBuckets is not supported by the ferry test bed.".into(),
            ));
        };
        if !self.cfg.buckets.contains(&bucket) {
            drain(req.into_body()).await;
            return Err(OssError::NoSuchBucket { bucket });
        }
        let host = req
            .headers()
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or("127.0.0.1")
            .to_string();
        let ctx = Ctx {
            bucket,
            key: target.key.clone(),
            target,
            host,
        };
        let t = &ctx.target;
        if ctx.key.is_empty() {
            return match method {
                Method::GET if t.has("uploads") => multipart::list_uploads(self, &ctx),
                _ => {
                    drain(req.into_body()).await;
                    Err(OssError::NotImplemented(
                        "This bucket operation is not supported by the ferry test bed.".into(),
                    ))
                }
            };
        }
        match method {
            Method::PUT if t.has("uploadId") || t.has("partNumber") => {
                multipart::upload_part(self, &ctx, req).await
            }
            Method::PUT => object::put(self, &ctx, req).await,
            Method::GET if t.has("uploadId") => multipart::list_parts(self, &ctx),
            Method::GET => object::get(self, &ctx, req, false),
            Method::HEAD => object::get(self, &ctx, req, true),
            Method::POST if t.has("uploads") => multipart::initiate(self, &ctx, req),
            Method::POST if t.has("uploadId") => multipart::complete(self, &ctx, req).await,
            Method::DELETE if t.has("uploadId") => multipart::abort(self, &ctx),
            Method::DELETE => object::delete(self, &ctx),
            Method::POST => {
                drain(req.into_body()).await;
                Err(OssError::NotImplemented(
                    "This object operation is not supported by the ferry test bed.".into(),
                ))
            }
            _ => {
                drain(req.into_body()).await;
                Err(OssError::MethodNotAllowed)
            }
        }
    }
}

impl Handler for Store {
    type Conn = ();

    fn connection(&self) -> Self::Conn {}

    async fn handle(self: Arc<Self>, req: Request<Incoming>, _conn: ()) -> Response<ResponseBody> {
        let n = self.requests.fetch_add(1, Ordering::Relaxed);
        let request_id = self.request_id(n);
        let is_head = req.method() == Method::HEAD;
        let host = req
            .headers()
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or("127.0.0.1")
            .to_string();
        let mut resp = match self.route(req).await {
            Ok(resp) => resp,
            Err(e) => error_response(&e, &request_id, &host, is_head),
        };
        let headers = resp.headers_mut();
        if let Ok(v) = HeaderValue::from_str(&request_id) {
            headers.insert("x-oss-request-id", v);
        }
        headers.insert(header::SERVER, HeaderValue::from_static("AliyunOSS"));
        if let Ok(v) = HeaderValue::from_str(&httpdate::fmt_http_date(SystemTime::now())) {
            headers.insert(header::DATE, v);
        }
        resp
    }
}

fn error_response(
    err: &OssError,
    request_id: &str,
    host: &str,
    is_head: bool,
) -> Response<ResponseBody> {
    let doc = xml::error(err, request_id, host);
    let mut resp = Response::builder()
        .status(err.status())
        .header(header::CONTENT_TYPE, "application/xml");
    if is_head {
        // A HEAD error has no body; OSS puts the code in a header instead.
        resp = resp.header("x-oss-err", err.code());
        return resp.body(body::empty()).expect("valid response");
    }
    resp.header(header::CONTENT_LENGTH, doc.len())
        .body(body::full(doc))
        .expect("valid response")
}

/// A 200 response with an XML document.
pub fn xml_response(doc: String) -> Response<ResponseBody> {
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "application/xml")
        .header(header::CONTENT_LENGTH, doc.len())
        .body(body::full(doc))
        .expect("valid response")
}

/// Reads and drops up to `DRAIN_LIMIT` bytes of a body we will not use.
pub async fn drain(mut body: Incoming) {
    let mut seen = 0u64;
    while let Some(Ok(frame)) = body.frame().await {
        if let Some(data) = frame.data_ref() {
            seen += data.len() as u64;
        }
        if seen > DRAIN_LIMIT {
            break;
        }
    }
}

/// Reads a small body whole (XML documents), refusing more than `limit`.
pub async fn read_small(mut body: Incoming, limit: usize) -> Result<Vec<u8>, OssError> {
    let mut out = Vec::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| OssError::InternalError(format!("request body: {e}")))?;
        if let Some(data) = frame.data_ref() {
            out.extend_from_slice(data);
            if out.len() > limit {
                return Err(OssError::MalformedXml);
            }
        }
    }
    Ok(out)
}
