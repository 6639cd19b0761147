//! `ferry-testbed verify`: checks an object in a running store against the
//! pattern object it should hold, through the store's admin read-back.

use std::fmt;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::{Request, StatusCode, Uri};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use percent_encoding::{utf8_percent_encode, AsciiSet, CONTROLS};

use crate::pattern;

/// Characters escaped in a key put into an admin path (`/` is kept).
const PATH: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'`')
    .add(b'{')
    .add(b'}');

/// Why an object does not verify, or could not be checked.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error("cannot reach the store: {0}")]
    Unreachable(String),
    #[error("object {0} does not exist")]
    Missing(String),
    #[error("store answered {status} for {url}")]
    Status { status: StatusCode, url: String },
    #[error("unreadable admin answer: {0}")]
    BadAnswer(String),
    #[error("size {actual} differs from the expected {expected}")]
    Size { expected: u64, actual: u64 },
    #[error("CRC-64 {actual} differs from the expected {expected}")]
    Crc { expected: u64, actual: u64 },
    #[error("content differs from the pattern at byte {offset}")]
    Content { offset: u64 },
    #[error("content is {actual} bytes, expected {expected}")]
    ContentLength { expected: u64, actual: u64 },
}

/// What was checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    pub size: u64,
    pub crc64: u64,
    /// Whether the bytes themselves were compared (Disk sink).
    pub bytes_checked: bool,
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "size {} and crc64 {} match{}",
            self.size,
            self.crc64,
            if self.bytes_checked {
                ", bytes match"
            } else {
                " (null sink: bytes not kept)"
            }
        )
    }
}

#[derive(serde::Deserialize)]
struct ObjectJson {
    size: u64,
    crc64: u64,
}

/// Checks `bucket/key` in the store at `store_url` against pattern object
/// `(seed, size)`.
pub async fn verify(
    store_url: &str,
    bucket: &str,
    key: &str,
    seed: u64,
    size: u64,
) -> Result<Verdict, VerifyError> {
    let client = Client::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>();
    let base = store_url.trim_end_matches('/');
    let key_path = utf8_percent_encode(key, PATH).to_string();
    let info_url = format!("{base}/-/object/{bucket}/{key_path}");
    let resp = get(&client, &info_url).await?;
    if resp.status() == StatusCode::NOT_FOUND {
        return Err(VerifyError::Missing(format!("{bucket}/{key}")));
    }
    if !resp.status().is_success() {
        return Err(VerifyError::Status {
            status: resp.status(),
            url: info_url,
        });
    }
    let body = resp
        .into_body()
        .collect()
        .await
        .map_err(|e| VerifyError::Unreachable(e.to_string()))?
        .to_bytes();
    let info: ObjectJson =
        serde_json::from_slice(&body).map_err(|e| VerifyError::BadAnswer(e.to_string()))?;
    if info.size != size {
        return Err(VerifyError::Size {
            expected: size,
            actual: info.size,
        });
    }
    let expected_crc = tokio::task::spawn_blocking(move || pattern::crc64(seed, size))
        .await
        .expect("crc task");
    if info.crc64 != expected_crc {
        return Err(VerifyError::Crc {
            expected: expected_crc,
            actual: info.crc64,
        });
    }

    let read_url = format!("{base}/-/read/{bucket}/{key_path}");
    let resp = get(&client, &read_url).await?;
    if resp.status() == StatusCode::NOT_IMPLEMENTED {
        return Ok(Verdict {
            size,
            crc64: expected_crc,
            bytes_checked: false,
        });
    }
    if !resp.status().is_success() {
        return Err(VerifyError::Status {
            status: resp.status(),
            url: read_url,
        });
    }
    let mut body = resp.into_body();
    let mut offset = 0u64;
    let mut want = Vec::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| VerifyError::Unreachable(e.to_string()))?;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        want.resize(data.len(), 0);
        pattern::fill(seed, offset, &mut want);
        if let Some(i) = data.iter().zip(&want).position(|(a, b)| a != b) {
            return Err(VerifyError::Content {
                offset: offset + i as u64,
            });
        }
        offset += data.len() as u64;
    }
    if offset != size {
        return Err(VerifyError::ContentLength {
            expected: size,
            actual: offset,
        });
    }
    Ok(Verdict {
        size,
        crc64: expected_crc,
        bytes_checked: true,
    })
}

type HttpClient = Client<hyper_util::client::legacy::connect::HttpConnector, Empty<Bytes>>;

async fn get(
    client: &HttpClient,
    url: &str,
) -> Result<hyper::Response<hyper::body::Incoming>, VerifyError> {
    let uri: Uri = url
        .parse()
        .map_err(|e| VerifyError::Unreachable(format!("{url}: {e}")))?;
    let req = Request::get(uri)
        .body(Empty::new())
        .map_err(|e| VerifyError::Unreachable(e.to_string()))?;
    client
        .request(req)
        .await
        .map_err(|e| VerifyError::Unreachable(format!("{url}: {e}")))
}
