//! The few HTTP requests the providers make: to a metadata service, a
//! container's credentials endpoint, an STS. They are the host's own, to
//! endpoints the user's setup names (link-local metadata addresses
//! included), so they do not pass the address policy the component's
//! requests pass; https is trusted as the component's client trusts it.

use bytes::Bytes;
use http::Method;
use http_body_util::{BodyExt, Full};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use std::time::Duration;

/// A request: the URL must not hold a secret (errors name it); secrets go
/// in headers or the body.
pub(super) struct Request {
    pub method: Method,
    pub url: String,
    pub headers: Vec<(&'static str, String)>,
    /// A form body (`application/x-www-form-urlencoded`), if any.
    pub form: Option<Vec<(&'static str, String)>>,
    pub timeout: Duration,
}

impl Request {
    pub fn get(url: impl Into<String>, timeout: Duration) -> Request {
        Request {
            method: Method::GET,
            url: url.into(),
            headers: Vec::new(),
            form: None,
            timeout,
        }
    }

    pub fn header(mut self, name: &'static str, value: impl Into<String>) -> Request {
        self.headers.push((name, value.into()));
        self
    }
}

/// A response's status and body.
pub(super) struct Answer {
    pub status: u16,
    pub body: String,
}

impl Answer {
    pub fn ok(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

/// Sends `req`; an error (one line, naming the URL) if there is no answer
/// within its timeout.
pub(super) async fn send(req: Request) -> Result<Answer, String> {
    let url = ferry_rules::redact(&req.url);
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_connect_timeout(Some(req.timeout));
    let tls = crate::net::client::trust(None)?;
    let client: Client<_, Full<Bytes>> =
        Client::builder(TokioExecutor::new()).build(HttpsConnector::from((http, tls)));
    let mut builder = http::Request::builder()
        .method(req.method)
        .uri(&req.url)
        .header("user-agent", concat!("ferry/", env!("CARGO_PKG_VERSION")));
    for (name, value) in &req.headers {
        builder = builder.header(*name, value);
    }
    let body = match &req.form {
        Some(form) => {
            builder = builder.header("content-type", "application/x-www-form-urlencoded");
            url::form_urlencoded::Serializer::new(String::new())
                .extend_pairs(form.iter().map(|(k, v)| (*k, v.as_str())))
                .finish()
        }
        None => String::new(),
    };
    let request = builder
        .body(Full::new(Bytes::from(body)))
        .map_err(|_| format!("{url} is not a URL ferry can send to"))?;
    let exchange = async {
        let response = client.request(request).await.map_err(|e| {
            let mut cause: &dyn std::error::Error = &e;
            while let Some(next) = cause.source() {
                cause = next;
            }
            format!("{url} did not answer ({cause})")
        })?;
        let status = response.status().as_u16();
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|e| format!("{url} broke off its answer ({e})"))?
            .to_bytes();
        Ok(Answer {
            status,
            body: String::from_utf8_lossy(&body).into_owned(),
        })
    };
    tokio::time::timeout(req.timeout, exchange)
        .await
        .map_err(|_| format!("{url} did not answer within {}s", req.timeout.as_secs()))?
}

/// The text of an XML element (`<Name>text</Name>`), unescaped; enough for
/// the flat answers STS gives.
pub(super) fn xml_text(xml: &str, name: &str) -> Option<String> {
    let open = format!("<{name}>");
    let start = xml.find(&open)? + open.len();
    let end = start + xml[start..].find(&format!("</{name}>"))?;
    Some(
        xml[start..end]
            .trim()
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&quot;", "\"")
            .replace("&apos;", "'")
            .replace("&amp;", "&"),
    )
}
