//! HTTP over `wasi:http/outgoing-handler`, streamed.
//!
//! Requests are started with [`start`], which hands back the pending response
//! and, for requests with a body, a [`BodyWriter`]. Responses are read with
//! [`Response::reader`] chunk by chunk, or whole with [`Response::bytes`] for
//! small bodies. Child resources are always dropped before their parents
//! (stream, then body, then response): WASI traps otherwise.

use crate::runtime::wait;
use crate::wasi::http::outgoing_handler;
use crate::wasi::http::types::{
    ErrorCode, Fields, FutureIncomingResponse, IncomingBody, IncomingRequest, IncomingResponse,
    Method, OutgoingBody, OutgoingRequest, RequestOptions, Scheme,
};
use crate::wasi::io::streams::{InputStream, OutputStream, StreamError};
use std::fmt;
use std::time::Duration;

/// A failure below HTTP semantics: the request never got a response, or a
/// body broke off.
#[derive(Debug, Clone)]
pub enum HttpError {
    /// The request could not be built (bad header, bad URL).
    Request(String),
    /// The peer could not be reached (refused, no DNS answer, connect timed
    /// out): may pass, but a wrong host or port is the usual cause.
    Unreachable(String),
    /// The transport failed in a way that may pass (reset, timeout).
    Transport(String),
    /// The transport failed in a way that will not pass by retrying: the
    /// runtime's egress policy denied the request, or the peer's TLS
    /// certificate is not trusted.
    Refused(String),
    /// A body stream failed midway.
    Stream(String),
}

impl fmt::Display for HttpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HttpError::Request(m) => write!(f, "invalid request: {m}"),
            HttpError::Unreachable(m) | HttpError::Transport(m) | HttpError::Refused(m) => {
                write!(f, "{m}")
            }
            HttpError::Stream(m) => write!(f, "body stream failed: {m}"),
        }
    }
}

impl HttpError {
    /// Whether the same request may succeed later.
    pub fn is_transient(&self) -> bool {
        match self {
            HttpError::Request(_) | HttpError::Refused(_) => false,
            HttpError::Unreachable(_) | HttpError::Transport(_) | HttpError::Stream(_) => true,
        }
    }
}

/// What a `wasi:http` error code means, for a request to `authority`:
/// permanent failures as [`HttpError::Refused`], the rest as transient.
fn describe(code: &ErrorCode, authority: &str) -> HttpError {
    let transient = |m: String| HttpError::Transport(m);
    match code {
        ErrorCode::ConnectionRefused => {
            HttpError::Unreachable(format!("{authority} refused the connection"))
        }
        ErrorCode::ConnectionTerminated => transient(format!("{authority} reset the connection")),
        ErrorCode::ConnectionTimeout => {
            HttpError::Unreachable(format!("connecting to {authority} timed out"))
        }
        ErrorCode::ConnectionReadTimeout => {
            transient(format!("reading from {authority} timed out"))
        }
        ErrorCode::HttpRequestDenied => HttpError::Refused(format!(
            "the request to {authority} was denied by the runtime's egress policy \
             (HttpRequestDenied)"
        )),
        ErrorCode::TlsCertificateError => HttpError::Refused(format!(
            "the TLS certificate of {authority} is not trusted (self-signed, from a private \
             CA, expired or for another name): for a private CA pass its certificate with \
             --ca-bundle FILE (or SSL_CERT_FILE, AWS_CA_BUNDLE); else use a URL whose \
             certificate a public CA issued, or plain http:// on a network you trust"
        )),
        ErrorCode::DestinationIpProhibited => HttpError::Refused(format!(
            "{authority} is at an address this ferry may not reach (loopback, private, \
             link-local or metadata: refused by `ferry serve` unless re-opened with \
             --allow-cidr)"
        )),
        ErrorCode::ConfigurationError => HttpError::Refused(format!(
            "the proxy for {authority} would not carry the request (its credentials are \
             missing or refused, or it refuses the host): check the user:password in \
             HTTPS_PROXY / HTTP_PROXY, or list the host in NO_PROXY"
        )),
        ErrorCode::TlsAlertReceived(alert) => HttpError::Refused(format!(
            "{authority} refused the TLS handshake ({}); check that it serves TLS on this \
             port and accepts TLS 1.2 or 1.3",
            alert
                .alert_message
                .clone()
                .unwrap_or_else(|| "no reason given".into())
        )),
        ErrorCode::DnsError(e) => HttpError::Unreachable(format!(
            "DNS lookup of {authority} failed ({})",
            e.rcode.clone().unwrap_or_else(|| "no answer".into())
        )),
        other => transient(format!("{authority}: {other:?}")),
    }
}

/// Timeouts for one request.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    pub connect: Duration,
    pub first_byte: Duration,
    pub between_bytes: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            connect: Duration::from_secs(30),
            first_byte: Duration::from_secs(120),
            between_bytes: Duration::from_secs(60),
        }
    }
}

/// What ferry calls itself on every request, to the source and the store.
pub const USER_AGENT: &str = concat!("ferry/", env!("CARGO_PKG_VERSION"));

/// Starts a request to `url`, an absolute `http(s)` URL sent exactly as
/// given: its path is not normalised (an object key `a/../b` stays one).
/// With `body_length` set, the request carries that many bytes, written
/// through the returned [`BodyWriter`].
pub fn start(
    method: &str,
    url: &str,
    headers: &[(String, String)],
    body_length: Option<u64>,
    timeouts: Timeouts,
) -> Result<(PendingResponse, Option<BodyWriter>), HttpError> {
    let uri: ::http::Uri = url
        .parse()
        .map_err(|e| HttpError::Request(format!("unusable URL: {e}")))?;
    let mut list: Vec<(String, Vec<u8>)> = headers
        .iter()
        .map(|(k, v)| (k.to_ascii_lowercase(), v.as_bytes().to_vec()))
        .collect();
    if let Some(n) = body_length {
        list.push(("content-length".into(), n.to_string().into_bytes()));
    }
    if !list.iter().any(|(k, _)| k == "user-agent") {
        list.push(("user-agent".into(), USER_AGENT.as_bytes().to_vec()));
    }
    let fields = Fields::from_list(&list).map_err(|e| HttpError::Request(format!("{e:?}")))?;
    let request = OutgoingRequest::new(fields);
    let method = match method {
        "GET" => Method::Get,
        "HEAD" => Method::Head,
        "PUT" => Method::Put,
        "POST" => Method::Post,
        "DELETE" => Method::Delete,
        other => Method::Other(other.to_string()),
    };
    let bad = |what: &str| HttpError::Request(format!("cannot set the {what}"));
    request.set_method(&method).map_err(|_| bad("method"))?;
    let scheme = match uri.scheme_str() {
        Some("http") => Scheme::Http,
        Some("https") => Scheme::Https,
        other => {
            return Err(HttpError::Request(format!(
                "unsupported scheme {}",
                other.unwrap_or("(none)")
            )))
        }
    };
    request
        .set_scheme(Some(&scheme))
        .map_err(|_| bad("scheme"))?;
    // Credentials in the authority are the caller's to send as a header.
    let authority = uri
        .authority()
        .map(|a| {
            a.as_str()
                .rsplit('@')
                .next()
                .unwrap_or_default()
                .to_string()
        })
        .filter(|a| !a.is_empty())
        .ok_or_else(|| HttpError::Request("URL has no host".into()))?;
    request
        .set_authority(Some(&authority))
        .map_err(|_| bad("authority"))?;
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    request
        .set_path_with_query(Some(path))
        .map_err(|_| bad("path"))?;
    let body = match body_length {
        Some(_) => Some(request.body().map_err(|_| bad("body"))?),
        None => None,
    };
    let options = RequestOptions::new();
    let nanos = |d: Duration| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
    // A runtime may not support every timeout; the defaults then apply.
    let _ = options.set_connect_timeout(Some(nanos(timeouts.connect)));
    let _ = options.set_first_byte_timeout(Some(nanos(timeouts.first_byte)));
    let _ = options.set_between_bytes_timeout(Some(nanos(timeouts.between_bytes)));
    let future =
        outgoing_handler::handle(request, Some(options)).map_err(|e| describe(&e, &authority))?;
    let writer = body
        .map(|b| BodyWriter::new(b, authority.clone()))
        .transpose()?;
    Ok((PendingResponse { future, authority }, writer))
}

/// Sends a request with an in-memory body (possibly empty) and returns the
/// response.
pub async fn send(
    method: &str,
    url: &str,
    headers: &[(String, String)],
    body: Option<&[u8]>,
    timeouts: Timeouts,
) -> Result<Response, HttpError> {
    let (pending, writer) = start(method, url, headers, body.map(|b| b.len() as u64), timeouts)?;
    if let (Some(mut writer), Some(body)) = (writer, body) {
        writer.write_all(body).await?;
        writer.finish()?;
    }
    pending.response().await
}

/// A response on its way.
pub struct PendingResponse {
    future: FutureIncomingResponse,
    /// The `host[:port]` asked, for messages.
    authority: String,
}

impl PendingResponse {
    /// Waits for the response head.
    pub async fn response(self) -> Result<Response, HttpError> {
        wait(self.future.subscribe()).await;
        let response = match self.future.get() {
            Some(Ok(Ok(response))) => response,
            Some(Ok(Err(code))) => return Err(describe(&code, &self.authority)),
            Some(Err(())) | None => {
                return Err(HttpError::Transport("response already taken".into()))
            }
        };
        let headers = {
            let fields = response.headers();
            fields
                .entries()
                .into_iter()
                .map(|(k, v)| (k, String::from_utf8_lossy(&v).into_owned()))
                .collect()
        };
        Ok(Response {
            status: response.status(),
            headers,
            inner: response,
        })
    }
}

/// A response head; its body is read through [`Response::reader`].
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    inner: IncomingResponse,
}

impl Response {
    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Opens the body for streaming.
    pub fn reader(self) -> Result<BodyReader, HttpError> {
        let body = self
            .inner
            .consume()
            .map_err(|_| HttpError::Stream("body already consumed".into()))?;
        let stream = body
            .stream()
            .map_err(|_| HttpError::Stream("body stream already taken".into()))?;
        Ok(BodyReader {
            stream,
            _body: body,
            _owner: Owner::Response(self.inner),
        })
    }

    /// Reads the whole body, refusing more than `limit` bytes.
    pub async fn bytes(self, limit: usize) -> Result<Vec<u8>, HttpError> {
        self.reader()?.read_all(limit).await
    }
}

/// What an incoming body belongs to; it must outlive the body.
enum Owner {
    Response(#[allow(dead_code)] IncomingResponse),
    Request(#[allow(dead_code)] IncomingRequest),
}

/// An incoming body being read. Fields drop in order: stream, body, owner.
pub struct BodyReader {
    stream: InputStream,
    _body: IncomingBody,
    _owner: Owner,
}

impl BodyReader {
    /// Opens the body of an incoming request (the HTTP service's side).
    pub fn from_request(request: IncomingRequest) -> Result<BodyReader, HttpError> {
        let body = request
            .consume()
            .map_err(|_| HttpError::Stream("request body already consumed".into()))?;
        let stream = body
            .stream()
            .map_err(|_| HttpError::Stream("request body stream already taken".into()))?;
        Ok(BodyReader {
            stream,
            _body: body,
            _owner: Owner::Request(request),
        })
    }

    /// Reads the whole body, refusing more than `limit` bytes.
    pub async fn read_all(&mut self, limit: usize) -> Result<Vec<u8>, HttpError> {
        let mut out = Vec::new();
        while let Some(chunk) = self.chunk(64 * 1024).await? {
            if out.len() + chunk.len() > limit {
                return Err(HttpError::Stream(format!("body larger than {limit} bytes")));
            }
            out.extend_from_slice(&chunk);
        }
        Ok(out)
    }

    /// Reads the next chunk of at most `max` bytes; `None` at the end.
    pub async fn chunk(&mut self, max: u64) -> Result<Option<Vec<u8>>, HttpError> {
        loop {
            match self.stream.read(max) {
                Ok(bytes) if bytes.is_empty() => wait(self.stream.subscribe()).await,
                Ok(bytes) => return Ok(Some(bytes)),
                Err(StreamError::Closed) => return Ok(None),
                Err(StreamError::LastOperationFailed(e)) => {
                    return Err(HttpError::Stream(e.to_debug_string()))
                }
            }
        }
    }
}

/// Which side of [`BodyWriter::splice_from`] failed.
#[derive(Debug)]
pub enum SpliceError {
    /// The body read from.
    Read(HttpError),
    /// The body written to.
    Write(HttpError),
}

/// A request body being written. Dropping it unfinished makes the request
/// fail rather than send a short body.
pub struct BodyWriter {
    stream: Option<OutputStream>,
    body: Option<OutgoingBody>,
    /// The peer, for messages.
    peer: String,
}

impl BodyWriter {
    /// Opens an outgoing body for writing (a request's to `peer`, or a
    /// response's).
    pub fn new(body: OutgoingBody, peer: String) -> Result<BodyWriter, HttpError> {
        let stream = body
            .write()
            .map_err(|_| HttpError::Request("cannot open the body".into()))?;
        Ok(BodyWriter {
            stream: Some(stream),
            body: Some(body),
            peer,
        })
    }

    /// Writes all of `data`, waiting for the runtime's write budget.
    pub async fn write_all(&mut self, mut data: &[u8]) -> Result<(), HttpError> {
        let stream = self.stream.as_ref().expect("stream open until finish");
        let failed = |e: StreamError| match e {
            StreamError::Closed => HttpError::Stream("request body closed by the peer".into()),
            StreamError::LastOperationFailed(e) => HttpError::Stream(e.to_debug_string()),
        };
        while !data.is_empty() {
            let budget = stream.check_write().map_err(failed)?;
            if budget == 0 {
                wait(stream.subscribe()).await;
                continue;
            }
            let n = data
                .len()
                .min(usize::try_from(budget).unwrap_or(usize::MAX));
            stream.write(&data[..n]).map_err(failed)?;
            data = &data[n..];
        }
        Ok(())
    }

    /// Moves up to `max` bytes of `reader` into this body inside the host
    /// (`wasi:io` splice): the bytes never pass through the component's
    /// memory. The count moved, or `None` once `reader` has ended.
    pub async fn splice_from(
        &mut self,
        reader: &BodyReader,
        max: u64,
    ) -> Result<Option<u64>, SpliceError> {
        let stream = self.stream.as_ref().expect("stream open until finish");
        loop {
            let budget = stream.check_write().map_err(|e| {
                SpliceError::Write(match e {
                    StreamError::Closed => {
                        HttpError::Stream("request body closed by the peer".into())
                    }
                    StreamError::LastOperationFailed(e) => HttpError::Stream(e.to_debug_string()),
                })
            })?;
            if budget == 0 {
                wait(stream.subscribe()).await;
                continue;
            }
            match stream.splice(&reader.stream, max.min(budget)) {
                Ok(0) => wait(reader.stream.subscribe()).await,
                Ok(n) => return Ok(Some(n)),
                Err(StreamError::Closed) => return Ok(None),
                Err(StreamError::LastOperationFailed(e)) => {
                    return Err(SpliceError::Read(HttpError::Stream(e.to_debug_string())))
                }
            }
        }
    }

    /// Ends the body; the request completes. No flush is needed first: the
    /// runtime delivers what was written before the end, and a peer that has
    /// read a full Content-Length may already have closed its side.
    pub fn finish(mut self) -> Result<(), HttpError> {
        drop(self.stream.take());
        let body = self.body.take().expect("body present until finish");
        OutgoingBody::finish(body, None).map_err(|e| describe(&e, &self.peer))
    }
}

impl Drop for BodyWriter {
    fn drop(&mut self) {
        // Stream before body; an unfinished body is dropped, which the
        // runtime reports to the peer as an aborted request.
        drop(self.stream.take());
        drop(self.body.take());
    }
}
