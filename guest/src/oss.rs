//! The OSS operations the engine performs, signed and checked.

use crate::crc;
use crate::error::{Error, Result};
use crate::http::{self, HttpError, Response, Timeouts};
use crate::sign::{encode, Credentials, RequestParts, Signer};
use crate::target::{self, check_bucket, check_key};
use crate::xml;
use crate::{Job, SignatureVersion};
use std::time::SystemTime;
use url::Url;

/// One bucket on one OSS endpoint, with the credentials to sign for it.
#[derive(Debug, Clone)]
pub struct Store {
    endpoint: Url,
    bucket: String,
    signer: Signer,
    path_style: bool,
}

/// What the store said of a finished object.
#[derive(Debug, Clone)]
pub struct Stored {
    pub etag: String,
    pub crc64: Option<u64>,
}

impl Store {
    /// The store a job writes to; credentials come from the environment.
    pub fn from_job(job: &Job) -> Result<Store> {
        check_bucket(&job.target_bucket_name)?;
        check_key(&job.target_object_name)?;
        if job.target_region.is_empty() {
            return Err(Error::invalid(
                "no region: name the bucket's region (for example --region cn-hangzhou)",
            ));
        }
        let endpoint = job
            .endpoint
            .clone()
            .unwrap_or_else(|| target::default_endpoint(&job.target_region));
        let endpoint = Url::parse(&endpoint)
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
            .ok_or_else(|| {
                Error::invalid(format!(
                    "endpoint {endpoint:?} is not an http(s) URL; write it like \
                     https://oss-cn-hangzhou.aliyuncs.com"
                ))
            })?;
        let credentials = Credentials::from_env().ok_or_else(|| {
            Error::invalid(
                "no OSS credentials: set OSS_ACCESS_KEY_ID and OSS_ACCESS_KEY_SECRET \
                 (and OSS_SESSION_TOKEN for an STS key)",
            )
        })?;
        Ok(Store {
            path_style: target::path_style(&endpoint),
            endpoint,
            bucket: job.target_bucket_name.clone(),
            signer: Signer {
                version: job.signature_version.unwrap_or(SignatureVersion::V4),
                credentials,
                region: job.target_region.clone(),
            },
        })
    }

    fn request(&self, method: &str, key: &str) -> RequestParts {
        RequestParts::new(method, &self.bucket, key)
    }

    fn url(&self, req: &RequestParts) -> Url {
        let mut url = self.endpoint.clone();
        let key = encode(&req.key).replace("%2F", "/");
        if self.path_style {
            url.set_path(&format!("/{}/{key}", self.bucket));
        } else {
            let host = format!("{}.{}", self.bucket, url.host_str().unwrap_or_default());
            let _ = url.set_host(Some(&host));
            url.set_path(&format!("/{key}"));
        }
        let query = req.encoded_query();
        url.set_query((!query.is_empty()).then_some(query.as_str()));
        url
    }

    async fn send(
        &self,
        mut req: RequestParts,
        body: Option<&[u8]>,
        what: &str,
    ) -> Result<Response> {
        self.signer.sign(&mut req, SystemTime::now());
        let url = self.url(&req);
        // `Host` is set by the runtime from the URL's authority.
        let headers: Vec<(String, String)> = req.headers.into_iter().collect();
        let response = http::send(&req.method, &url, &headers, body, Timeouts::default())
            .await
            .map_err(|e| transport_error(e, what))?;
        if (200..300).contains(&response.status) {
            Ok(response)
        } else {
            Err(status_error(response, what).await)
        }
    }

    /// InitiateMultipartUpload; returns the upload id.
    pub async fn initiate(&self, key: &str) -> Result<String> {
        let req = self.request("POST", key).query("uploads", "");
        let response = self.send(req, None, "InitiateMultipartUpload").await?;
        let body = read_text(response, "InitiateMultipartUpload").await?;
        let result: xml::InitiateMultipartUploadResult = xml::parse(&body).map_err(|e| {
            Error::store(format!(
                "InitiateMultipartUpload answered unreadable XML: {e}"
            ))
        })?;
        Ok(result.upload_id)
    }

    /// A presigned UploadPart URL for one part, valid for `expires_secs`.
    pub fn presign_upload_part(
        &self,
        key: &str,
        upload_id: &str,
        part_number: u32,
        expires_secs: u64,
    ) -> String {
        let mut req = self
            .request("PUT", key)
            .query("partNumber", &part_number.to_string())
            .query("uploadId", upload_id);
        self.signer
            .presign(&mut req, SystemTime::now(), expires_secs);
        self.url(&req).to_string()
    }

    /// PutObject with an empty body (an empty source needs no multipart upload).
    pub async fn put_empty(&self, key: &str) -> Result<Stored> {
        let response = self
            .send(self.request("PUT", key), Some(&[]), "PutObject")
            .await?;
        let stored = stored(&response);
        drain(response).await;
        Ok(stored)
    }

    /// CompleteMultipartUpload with the parts' numbers and ETags.
    pub async fn complete(
        &self,
        key: &str,
        upload_id: &str,
        parts: &[(u32, String)],
    ) -> Result<Stored> {
        let body = xml::complete_body(parts);
        let req = self
            .request("POST", key)
            .query("uploadId", upload_id)
            .header("content-type", "application/xml");
        let response = self
            .send(req, Some(body.as_bytes()), "CompleteMultipartUpload")
            .await?;
        let crc64 = response
            .header("x-oss-hash-crc64ecma")
            .and_then(crc::parse_header);
        let text = read_text(response, "CompleteMultipartUpload").await?;
        // OSS may answer 200 with an error document when a long complete fails.
        if text.contains("<Error>") {
            return Err(error_document(&text, 200, "CompleteMultipartUpload"));
        }
        let etag = xml::parse::<xml::CompleteMultipartUploadResult>(&text)
            .map(|r| r.etag)
            .unwrap_or_default();
        Ok(Stored { etag, crc64 })
    }

    /// AbortMultipartUpload. An upload already gone counts as aborted.
    pub async fn abort(&self, key: &str, upload_id: &str) -> Result<()> {
        let req = self.request("DELETE", key).query("uploadId", upload_id);
        match self.send(req, None, "AbortMultipartUpload").await {
            Ok(response) => {
                drain(response).await;
                Ok(())
            }
            Err(e) if e.message.contains("NoSuchUpload") => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Every part an upload holds (ListParts, all pages). `Ok(None)` when
    /// the upload does not exist (completed, aborted or never made).
    pub async fn list_parts(
        &self,
        key: &str,
        upload_id: &str,
    ) -> Result<Option<Vec<xml::ListedPart>>> {
        let mut parts = Vec::new();
        let mut marker = 0u32;
        loop {
            let req = self
                .request("GET", key)
                .query("uploadId", upload_id)
                .query("max-parts", "1000")
                .query("part-number-marker", &marker.to_string());
            let response = match self.send(req, None, "ListParts").await {
                Ok(r) => r,
                Err(e) if e.message.contains("NoSuchUpload") => return Ok(None),
                Err(e) => return Err(e),
            };
            let text = read_text(response, "ListParts").await?;
            let page: xml::ListPartsResult = xml::parse(&text)
                .map_err(|e| Error::store(format!("ListParts answered unreadable XML: {e}")))?;
            let next = page.next_part_number_marker;
            parts.extend(page.parts);
            match next {
                Some(n) if page.is_truncated && n > marker => marker = n,
                _ => return Ok(Some(parts)),
            }
        }
    }

    /// The newest multipart upload of `key` (ListMultipartUploads, all pages).
    pub async fn newest_upload(&self, key: &str) -> Result<Option<String>> {
        let mut newest: Option<xml::ListedUpload> = None;
        let (mut key_marker, mut id_marker) = (String::new(), String::new());
        loop {
            let mut req = self
                .request("GET", "")
                .query("uploads", "")
                .query("prefix", key)
                .query("max-uploads", "1000");
            if !key_marker.is_empty() {
                req = req
                    .query("key-marker", &key_marker)
                    .query("upload-id-marker", &id_marker);
            }
            let response = self.send(req, None, "ListMultipartUploads").await?;
            let text = read_text(response, "ListMultipartUploads").await?;
            let page: xml::ListMultipartUploadsResult = xml::parse(&text).map_err(|e| {
                Error::store(format!("ListMultipartUploads answered unreadable XML: {e}"))
            })?;
            for upload in page.uploads.into_iter().filter(|u| u.key == key) {
                if newest
                    .as_ref()
                    .is_none_or(|n| upload.initiated >= n.initiated)
                {
                    newest = Some(upload);
                }
            }
            match (
                page.is_truncated,
                page.next_key_marker,
                page.next_upload_id_marker,
            ) {
                (true, Some(k), Some(i))
                    if (k.as_str(), i.as_str()) != (key_marker.as_str(), id_marker.as_str()) =>
                {
                    key_marker = k;
                    id_marker = i;
                }
                _ => return Ok(newest.map(|u| u.upload_id)),
            }
        }
    }

    /// DeleteObject.
    pub async fn delete(&self, key: &str) -> Result<()> {
        let response = self
            .send(self.request("DELETE", key), None, "DeleteObject")
            .await?;
        drain(response).await;
        Ok(())
    }
}

fn stored(response: &Response) -> Stored {
    Stored {
        etag: response.header("etag").unwrap_or_default().to_string(),
        crc64: response
            .header("x-oss-hash-crc64ecma")
            .and_then(crc::parse_header),
    }
}

async fn drain(response: Response) {
    let _ = response.bytes(1 << 20).await;
}

async fn read_text(response: Response, what: &str) -> Result<String> {
    let bytes = response
        .bytes(4 << 20)
        .await
        .map_err(|e| transport_error(e, what))?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// An error for a request to the store that got no response.
pub fn transport_error(e: HttpError, what: &str) -> Error {
    let transient = e.is_transient();
    let err = Error::store(format!("{what} failed: {e}"));
    if transient {
        err.transient()
    } else {
        err
    }
}

/// An error for a non-2xx answer from the store, read from its XML body.
pub async fn status_error(response: Response, what: &str) -> Error {
    let status = response.status;
    let retry_after = response.header("retry-after").map(str::to_string);
    let text = match response.bytes(64 * 1024).await {
        Ok(b) => String::from_utf8_lossy(&b).into_owned(),
        Err(_) => String::new(),
    };
    error_document(&text, status, what).retry_after(retry_after.as_deref())
}

fn error_document(text: &str, status: u16, what: &str) -> Error {
    let doc: xml::ErrorResponse = xml::parse(text).unwrap_or_default();
    let advice = match doc.code.as_str() {
        "InvalidAccessKeyId" => " Check OSS_ACCESS_KEY_ID: the store does not know this key.",
        "SignatureDoesNotMatch" => " Check OSS_ACCESS_KEY_SECRET, and --region for V4 signatures.",
        "InvalidSecurityToken" | "SecurityTokenExpired" => {
            " Check OSS_SESSION_TOKEN: the STS token is wrong or expired."
        }
        "AccessDenied" => " The key may not write to this bucket; check its policy.",
        "NoSuchBucket" => " Check the bucket name, the region and the endpoint.",
        "RequestTimeTooSkewed" => " Check this machine's clock.",
        _ => "",
    };
    let code = if doc.code.is_empty() {
        format!("HTTP {status}")
    } else {
        format!("{} (HTTP {status})", doc.code)
    };
    let message = if doc.message.is_empty() {
        String::new()
    } else {
        format!(": {}", doc.message)
    };
    let request_id = if doc.request_id.is_empty() {
        String::new()
    } else {
        format!(" [request id {}]", doc.request_id)
    };
    let err = Error::store(format!(
        "{what} refused: {code}{message}.{advice}{request_id}"
    ));
    if status >= 500 || status == 429 || doc.code == "RequestTimeout" {
        err.transient()
    } else {
        err
    }
}
