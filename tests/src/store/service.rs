//! The store's request handling: authentication, fault injection, routing
//! to the operation, and the headers every OSS response carries.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};

use super::auth::Authority;
use super::error::OssError;
use super::list;
use super::request::Target;
use super::state::{BucketState, State, Stored};
use super::{
    admin, multipart, object, sink, xml, ObjectInfo, Sink, StoreConfig, StoreCounts, StoreHistory,
};
use crate::body::{self, ResponseBody};
use crate::faults::{Armed, Faults, Knob};
use crate::server::{ConnIo, Cut, Handler};

/// Bodies of refused requests are read and dropped up to this size, so the
/// client sees the error instead of a reset connection.
const DRAIN_LIMIT: u64 = 16 << 20;

/// The shared state of a running store.
pub struct Store {
    pub cfg: StoreConfig,
    pub state: Mutex<State>,
    requests: AtomicU64,
    /// Requests per operation, indexed by `Op`.
    counts: [AtomicU64; Op::COUNT],
    history: Mutex<StoreHistory>,
    next_id: AtomicU64,
    /// Start time in ns: makes ids and blob names unique across restarts.
    boot: u64,
    pub(super) faults: Mutex<Armed>,
    /// UploadParts being handled now (for `slow_down_above`).
    parts_in_progress: AtomicU32,
}

/// One request counted in progress until dropped: `.0` is how many were
/// in progress with it.
struct InProgress<'a>(u32, &'a AtomicU32);

impl<'a> InProgress<'a> {
    fn enter(counter: &'a AtomicU32) -> Self {
        InProgress(counter.fetch_add(1, Ordering::SeqCst) + 1, counter)
    }
}

impl Drop for InProgress<'_> {
    fn drop(&mut self) {
        self.1.fetch_sub(1, Ordering::SeqCst);
    }
}

/// The operation a request asks for, judged from method and query alone
/// (before authentication), for counting and routing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    Initiate,
    UploadPart,
    /// UploadPart with `x-oss-copy-source`: the part's bytes come from an
    /// object in the store.
    UploadPartCopy,
    Complete,
    Abort,
    ListParts,
    ListUploads,
    ListObjects,
    PutObject,
    GetObject,
    HeadObject,
    DeleteObject,
    Other,
    Admin,
}

impl Op {
    const COUNT: usize = 14;

    fn of(method: &Method, target: &Target, copy: bool) -> Op {
        let t = target;
        if target.bucket.is_none() {
            return Op::Other;
        }
        if target.key.is_empty() {
            return match *method {
                Method::GET if t.has("uploads") => Op::ListUploads,
                Method::GET if t.param("list-type") == Some("2") => Op::ListObjects,
                _ => Op::Other,
            };
        }
        match *method {
            Method::PUT if (t.has("uploadId") || t.has("partNumber")) && copy => Op::UploadPartCopy,
            Method::PUT if t.has("uploadId") || t.has("partNumber") => Op::UploadPart,
            Method::PUT => Op::PutObject,
            Method::GET if t.has("uploadId") => Op::ListParts,
            Method::GET => Op::GetObject,
            Method::HEAD => Op::HeadObject,
            Method::POST if t.has("uploads") => Op::Initiate,
            Method::POST if t.has("uploadId") => Op::Complete,
            Method::DELETE if t.has("uploadId") => Op::Abort,
            Method::DELETE => Op::DeleteObject,
            _ => Op::Other,
        }
    }
}

/// Why a request gets no normal answer.
pub enum Failure {
    /// An OSS error response.
    Oss(OssError),
    /// No response: the connection is closed.
    Cut,
}

impl From<OssError> for Failure {
    fn from(e: OssError) -> Self {
        Failure::Oss(e)
    }
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
            counts: Default::default(),
            history: Mutex::default(),
            next_id: AtomicU64::new(1),
            boot: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default()
                .as_nanos() as u64,
            faults: Mutex::new(Armed::default()),
            parts_in_progress: AtomicU32::new(0),
        })
    }

    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    pub fn counts(&self) -> StoreCounts {
        let n = |op: Op| self.counts[op as usize].load(Ordering::Relaxed);
        StoreCounts {
            initiate: n(Op::Initiate),
            upload_part: n(Op::UploadPart),
            upload_part_copy: n(Op::UploadPartCopy),
            complete: n(Op::Complete),
            abort: n(Op::Abort),
            list_parts: n(Op::ListParts),
            list_uploads: n(Op::ListUploads),
            put_object: n(Op::PutObject),
            get_object: n(Op::GetObject),
            head_object: n(Op::HeadObject),
            delete_object: n(Op::DeleteObject),
            other: n(Op::Other),
            admin: n(Op::Admin),
        }
    }

    pub fn history(&self) -> StoreHistory {
        *self.history.lock().unwrap()
    }

    /// Counts a change the store made (see [`StoreHistory`]).
    pub fn note(&self, change: impl FnOnce(&mut StoreHistory)) {
        change(&mut self.history.lock().unwrap());
    }

    pub fn set_faults(&self, faults: Faults) {
        *self.faults.lock().unwrap() = Armed::new(faults);
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

    /// Parts held by the open uploads of `bucket`, all told.
    pub fn held_parts(&self, bucket: &str) -> usize {
        let state = self.state.lock().unwrap();
        state
            .buckets
            .get(bucket)
            .map_or(0, |b| b.uploads.values().map(|u| u.parts.len()).sum())
    }

    fn request_id(&self, n: u64) -> String {
        format!("{:08X}{n:016X}", self.boot as u32)
    }

    async fn route(
        self: &Arc<Self>,
        req: Request<Incoming>,
    ) -> Result<Response<ResponseBody>, Failure> {
        if req.uri().path().starts_with("/-/") {
            self.counts[Op::Admin as usize].fetch_add(1, Ordering::Relaxed);
            return Ok(admin::handle(self, req).await?);
        }
        let target = Target::parse(req.uri());
        let method = req.method().clone();
        let op = Op::of(
            &method,
            &target,
            req.headers().contains_key("x-oss-copy-source")
                || req.headers().contains_key("x-amz-copy-source"),
        );
        self.counts[op as usize].fetch_add(1, Ordering::Relaxed);
        if self.faults.lock().unwrap().faults.deny_all {
            drain(req.into_body()).await;
            return Err(OssError::AccessDenied(
                "You have no right to access this object because of bucket acl.".into(),
            )
            .into());
        }
        let authority = Authority {
            region: &self.cfg.region,
            credentials: &self.cfg.credentials,
        };
        if let Err(e) =
            authority.authenticate(method.as_str(), &target, req.headers(), SystemTime::now())
        {
            drain(req.into_body()).await;
            return Err(e.into());
        }
        let Some(bucket) = target.bucket.clone() else {
            drain(req.into_body()).await;
            return Err(OssError::NotImplemented(
                "ListBuckets is not supported by the ferry test bed.".into(),
            )
            .into());
        };
        if !self.cfg.buckets.contains(&bucket) {
            drain(req.into_body()).await;
            return Err(OssError::NoSuchBucket { bucket }.into());
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
        let in_progress =
            (op == Op::UploadPart).then(|| InProgress::enter(&self.parts_in_progress));
        let above = self.faults.lock().unwrap().faults.slow_down_above;
        if let (Some(most), Some(now)) = (above, &in_progress) {
            if now.0 > most {
                drain_all(req.into_body()).await;
                return Err(OssError::Injected {
                    status: 503,
                    retry_after: None,
                }
                .into());
            }
        }
        let (req, corrupt) = self.inject(op, req).await?;
        Ok(self.dispatch(op, &method, &ctx, req, corrupt).await?)
    }

    /// Applies the faults that fire on this request: an injected error or a
    /// cut connection, or the request back with whether to corrupt the part
    /// it carries (UploadPart) or to answer a wrong object CRC (Complete).
    /// Precedence for UploadPart: reset_part_after, then part_status_burst,
    /// then wrong_part_crc; for Complete: complete_status_burst, then
    /// wrong_object_crc.
    async fn inject(
        &self,
        op: Op,
        req: Request<Incoming>,
    ) -> Result<(Request<Incoming>, bool), Failure> {
        enum Act {
            Pass(bool),
            Cut(u64),
            Status(u16, Option<u32>, bool),
        }
        let act = {
            let mut armed = self.faults.lock().unwrap();
            let f = armed.faults.clone();
            match op {
                Op::UploadPart => {
                    if let Some((bytes, _)) = f
                        .reset_part_after
                        .filter(|&(_, n)| armed.fire(Knob::ResetPartAfter, n))
                    {
                        Act::Cut(bytes)
                    } else if let Some((status, _, retry)) = f
                        .part_status_burst
                        .filter(|&(_, n, _)| armed.fire(Knob::PartStatusBurst, n))
                    {
                        Act::Status(status, retry, true)
                    } else {
                        Act::Pass(armed.fire(Knob::WrongPartCrc, f.wrong_part_crc))
                    }
                }
                Op::Complete => match f.complete_status_burst {
                    Some((status, n)) if armed.fire(Knob::CompleteStatusBurst, n) => {
                        Act::Status(status, None, true)
                    }
                    _ => Act::Pass(armed.fire(Knob::WrongObjectCrc, f.wrong_object_crc)),
                },
                Op::Abort => match f.abort_status_burst {
                    Some((status, n)) if armed.fire(Knob::AbortStatusBurst, n) => {
                        Act::Status(status, None, true)
                    }
                    _ => Act::Pass(false),
                },
                _ => Act::Pass(false),
            }
        };
        match act {
            Act::Pass(corrupt) => Ok((req, corrupt)),
            Act::Cut(bytes) => {
                read_at_least(req.into_body(), bytes).await;
                Err(Failure::Cut)
            }
            Act::Status(status, retry_after, read_body) => {
                if read_body {
                    drain_all(req.into_body()).await;
                }
                Err(OssError::Injected {
                    status,
                    retry_after,
                }
                .into())
            }
        }
    }

    async fn dispatch(
        self: &Arc<Self>,
        op: Op,
        method: &Method,
        ctx: &Ctx,
        req: Request<Incoming>,
        corrupt: bool,
    ) -> Result<Response<ResponseBody>, OssError> {
        match op {
            Op::ListUploads => multipart::list_uploads(self, ctx),
            Op::ListObjects => list::list_objects_v2(self, ctx),
            Op::UploadPart => multipart::upload_part(self, ctx, req, corrupt).await,
            Op::UploadPartCopy => {
                let (parts, body) = req.into_parts();
                drain(body).await;
                let deny = self.faults.lock().unwrap().faults.deny_part_copy;
                multipart::upload_part_copy(self, ctx, &parts.headers, deny)
            }
            Op::PutObject => object::put(self, ctx, req).await,
            Op::ListParts => multipart::list_parts(self, ctx),
            Op::GetObject => object::get(self, ctx, req, false),
            Op::HeadObject if self.faults.lock().unwrap().faults.deny_head => Err(
                OssError::AccessDenied("You have no right to access this object.".into()),
            ),
            Op::HeadObject => object::get(self, ctx, req, true),
            Op::Initiate => multipart::initiate(self, ctx, req),
            Op::Complete => multipart::complete(self, ctx, req, corrupt).await,
            Op::Abort => multipart::abort(self, ctx),
            Op::DeleteObject => object::delete(self, ctx),
            Op::Other | Op::Admin => {
                drain(req.into_body()).await;
                Err(if ctx.key.is_empty() {
                    OssError::NotImplemented(
                        "This bucket operation is not supported by the ferry test bed.".into(),
                    )
                } else if *method == Method::POST {
                    OssError::NotImplemented(
                        "This object operation is not supported by the ferry test bed.".into(),
                    )
                } else {
                    OssError::MethodNotAllowed
                })
            }
        }
    }
}

impl Handler for Store {
    type Conn = ();

    fn connection(&self, _io: ConnIo) -> Self::Conn {}

    async fn handle(
        self: Arc<Self>,
        req: Request<Incoming>,
        _conn: (),
    ) -> Result<Response<ResponseBody>, Cut> {
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
            Err(Failure::Oss(e)) => error_response(&e, &request_id, &host, is_head),
            Err(Failure::Cut) => return Err(Cut),
        };
        let headers = resp.headers_mut();
        if let Ok(v) = HeaderValue::from_str(&request_id) {
            headers.insert("x-oss-request-id", v);
        }
        headers.insert(header::SERVER, HeaderValue::from_static("AliyunOSS"));
        if let Ok(v) = HeaderValue::from_str(&httpdate::fmt_http_date(SystemTime::now())) {
            headers.insert(header::DATE, v);
        }
        Ok(resp)
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
    if let Some(seconds) = err.retry_after() {
        resp = resp.header(header::RETRY_AFTER, seconds);
    }
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

/// Reads and drops a whole body, however large: an injected error then
/// reaches a client that is still sending.
pub async fn drain_all(mut body: Incoming) {
    while let Some(Ok(_)) = body.frame().await {}
}

/// Reads at least `n` bytes of a body (whole frames), then stops.
async fn read_at_least(mut body: Incoming, n: u64) {
    let mut seen = 0u64;
    while seen < n {
        match body.frame().await {
            Some(Ok(frame)) => {
                if let Some(data) = frame.data_ref() {
                    seen += data.len() as u64;
                }
            }
            _ => break,
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
