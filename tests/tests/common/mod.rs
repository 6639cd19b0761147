//! A small signing HTTP client for the integration tests.

#![allow(dead_code)]

use std::time::SystemTime;

use bytes::Bytes;
use ferry_testbed::store::request::Target;
use ferry_testbed::store::{sign_v1, Credential};
use http_body_util::{BodyExt, Full};
use hyper::header::HeaderMap;
use hyper::{Method, Request, StatusCode};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Reply {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The `<Code>` of an OSS error body.
    pub fn code(&self) -> Option<String> {
        let text = self.text();
        let start = text.find("<Code>")? + 6;
        let end = text[start..].find("</Code>")? + start;
        Some(text[start..end].to_string())
    }

    /// The text of the first `<tag>` element.
    pub fn element(&self, tag: &str) -> Option<String> {
        let text = self.text();
        let open = format!("<{tag}>");
        let start = text.find(&open)? + open.len();
        let end = text[start..].find(&format!("</{tag}>"))? + start;
        Some(text[start..end].to_string())
    }

    /// Every `<tag>` element's text, in order.
    pub fn elements(&self, tag: &str) -> Vec<String> {
        let text = self.text();
        let open = format!("<{tag}>");
        let close = format!("</{tag}>");
        text.split(&open)
            .skip(1)
            .filter_map(|s| s.split(&close).next().map(str::to_string))
            .collect()
    }
}

/// Sends requests to one endpoint, V1-signed with `cred` (or unsigned).
pub struct OssClient {
    pub endpoint: String,
    pub cred: Option<Credential>,
    client: Client<HttpConnector, Full<Bytes>>,
    runtime: tokio::runtime::Runtime,
}

impl OssClient {
    pub fn new(endpoint: &str, cred: Option<Credential>) -> Self {
        Self {
            endpoint: endpoint.to_string(),
            cred,
            client: Client::builder(TokioExecutor::new()).build_http(),
            runtime: tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap(),
        }
    }

    /// `path_and_query` is sent as is, e.g. `/bucket/key?uploadId=X`.
    pub fn send(
        &self,
        method: Method,
        path_and_query: &str,
        headers: &[(&str, &str)],
        body: impl Into<Bytes>,
    ) -> Reply {
        self.send_at(method, path_and_query, headers, body, SystemTime::now())
    }

    pub fn send_at(
        &self,
        method: Method,
        path_and_query: &str,
        headers: &[(&str, &str)],
        body: impl Into<Bytes>,
        date: SystemTime,
    ) -> Reply {
        let mut req = Request::builder()
            .method(method.clone())
            .uri(format!("{}{}", self.endpoint, path_and_query));
        let mut map = HeaderMap::new();
        for (k, v) in headers {
            map.insert(
                hyper::header::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        if let Some(cred) = &self.cred {
            let date = httpdate::fmt_http_date(date);
            map.insert("date", date.parse().unwrap());
            if let Some(token) = &cred.token {
                map.insert("x-oss-security-token", token.parse().unwrap());
            }
            let target = Target::parse(&path_and_query.parse().unwrap());
            let sts = sign_v1::string_to_sign(method.as_str(), &target, &map, &date);
            let sig = sign_v1::signature(&cred.secret, &sts);
            map.insert(
                "authorization",
                format!("OSS {}:{sig}", cred.id).parse().unwrap(),
            );
        }
        for (k, v) in &map {
            req = req.header(k, v);
        }
        let req = req.body(Full::new(body.into())).unwrap();
        self.runtime.block_on(async {
            let resp = self.client.request(req).await.expect("request");
            let status = resp.status();
            let headers = resp.headers().clone();
            let body = resp.into_body().collect().await.expect("body").to_bytes();
            Reply {
                status,
                headers,
                body,
            }
        })
    }

    pub fn get(&self, path: &str, headers: &[(&str, &str)]) -> Reply {
        self.send(Method::GET, path, headers, Bytes::new())
    }
}

pub fn credential(id: &str, secret: &str, token: Option<&str>) -> Credential {
    Credential {
        id: id.into(),
        secret: secret.into(),
        token: token.map(str::to_string),
    }
}

/// The bucket the store tests use.
pub const BUCKET: &str = "bkt";

/// A client signing with the store tests' key.
pub fn client(s: &ferry_testbed::store::StoreServer) -> OssClient {
    OssClient::new(&s.endpoint(), Some(credential("id", "secret", None)))
}

/// Bytes `start..start + len` of pattern object `seed`.
pub fn bytes(seed: u64, start: u64, len: usize) -> Vec<u8> {
    let mut v = vec![0; len];
    ferry_testbed::pattern::fill(seed, start, &mut v);
    v
}

/// InitiateMultipartUpload of `key` in [`BUCKET`]; the upload id.
pub fn initiate(c: &OssClient, key: &str) -> String {
    let r = c.send(Method::POST, &format!("/{BUCKET}/{key}?uploads"), &[], "");
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    r.element("UploadId").unwrap()
}
