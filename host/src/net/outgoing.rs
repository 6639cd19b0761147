//! Where an instance's outgoing requests go: requests to the fan-out
//! authority run on a fresh instance and never touch the network; the rest
//! pass the egress policy and go out through the pooled [`Client`], which
//! also holds them to the address policy. The bodies of PUTs are counted as
//! they are written ([`crate::events::UPLOADED`]).

use crate::net::client::Client;
use crate::net::egress::Egress;
use crate::parts::fanout::Fanout;
use std::future::Future;
use std::sync::Arc;
use wasmtime_wasi_http::{Error, RequestOptions, WasiBody, WasiHttpHooks};

/// The reserved authority part tasks are posted to. `.invalid` never
/// resolves (RFC 2606), so a request to it can only be served by the host.
pub const FANOUT_HOST: &str = "ferry-fanout.invalid";

/// The fan-out URL handed to a coordinating instance.
pub fn fanout_url() -> String {
    format!("http://{FANOUT_HOST}")
}

type IoFuture = Box<dyn Future<Output = Result<(), Error>> + Send>;
type SendFuture =
    Box<dyn Future<Output = Result<(http::Response<WasiBody>, IoFuture), Error>> + Send>;

/// The outgoing-request policy of one instance.
pub struct Outgoing {
    pub(crate) egress: Arc<Egress>,
    /// Present for a coordinator: where part tasks run.
    pub(crate) fanout: Option<Arc<Fanout>>,
    /// Present for a coordinator run through the typed `run`: where its
    /// progress posts go.
    pub(crate) progress: Option<crate::events::Progress>,
    /// Present for a coordinator whose credentials may expire: what it asks
    /// for fresh ones ([`crate::credentials::CREDENTIALS_HOST`]).
    pub(crate) credentials: Option<Arc<crate::credentials::Refreshing>>,
    /// Where every other request goes; shared by all instances of a
    /// runtime, so connections are reused across parts.
    pub(crate) client: Arc<Client>,
}

impl WasiHttpHooks for Outgoing {
    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        fut: IoFuture,
    ) -> SendFuture {
        drop(fut);
        if request.uri().host() == Some(crate::events::PROGRESS_HOST) {
            return match &self.progress {
                Some(progress) => {
                    let progress = progress.clone();
                    answered(async move { progress.receive(request).await })
                }
                None => Box::new(async { Err(Error::HttpRequestDenied) }),
            };
        }
        if request.uri().host() == Some(crate::credentials::CREDENTIALS_HOST) {
            return match &self.credentials {
                Some(credentials) => {
                    let credentials = credentials.clone();
                    answered(async move { credentials.answer().await })
                }
                None => Box::new(async { Err(Error::HttpRequestDenied) }),
            };
        }
        if request.uri().host() == Some(FANOUT_HOST) {
            return match &self.fanout {
                Some(fanout) => {
                    let fanout = fanout.clone();
                    answered(async move { fanout.dispatch(request).await })
                }
                None => {
                    tracing::warn!("a part instance tried to fan out; refused");
                    Box::new(async { Err(Error::HttpRequestDenied) })
                }
            };
        }
        if !self.egress.permits(request.uri()) {
            tracing::warn!(
                host = request.uri().host().unwrap_or(""),
                "egress refused: the host is neither the source nor the store"
            );
            return Box::new(async { Err(Error::HttpRequestDenied) });
        }
        let client = self.client.clone();
        let egress = self.egress.clone();
        let uri = request.uri().clone();
        // A PUT carries a part (or a whole small object) to the store: its
        // bytes are counted as they are written, for the progress shown.
        // A part the component splices: its CRCs are computed here.
        let (request, crc) = crate::net::body_crc::BodyCrc::take(request);
        let (request, tally) = if request.method() == http::Method::PUT {
            let tally = crate::events::UPLOADED.tally();
            let request = request.map(|body| tally.count(body));
            (request, Some(tally))
        } else {
            (request, None)
        };
        Box::new(async move {
            // The pool drives its connections itself; there is nothing left
            // for the caller to poll.
            let mut response = client.send(request, options).await?;
            if let Some(crc) = crc {
                crc.annotate(&mut response);
            }
            if let Some(tally) = tally {
                if response.status().is_success() {
                    tally.keep();
                }
            }
            if matches!(response.status().as_u16(), 301 | 302 | 303 | 307 | 308) {
                // The guest follows redirects itself, each hop a request of
                // its own; the host lets the hop through because an allowed
                // host sent it there.
                if let Some(location) = response
                    .headers()
                    .get(http::header::LOCATION)
                    .and_then(|v| v.to_str().ok())
                {
                    egress.redirected(&uri, location);
                }
            }
            Ok((response, Box::new(async { Ok(()) }) as IoFuture))
        })
    }
}

/// A response this host gives itself: nothing is left for the caller to drive.
fn answered(
    response: impl Future<Output = http::Response<WasiBody>> + Send + 'static,
) -> SendFuture {
    Box::new(async move { Ok((response.await, Box::new(async { Ok(()) }) as IoFuture)) })
}
