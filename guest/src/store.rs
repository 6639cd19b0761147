//! The store operations the engine performs, signed and checked: OSS and
//! S3 speak the same multipart protocol (initiate, upload part, complete,
//! abort, list) and differ in signing, header names and the checks they
//! offer, which this module keeps in one place.

use crate::crc;
use crate::error::{Error, Result};
use crate::http::{self, HttpError, Response, Timeouts};
use crate::sign::{encode, Credentials, RequestParts, Scheme, Signer};
use crate::target::{self, check_bucket, check_key};
use crate::xml;
use crate::{Addressing, FailureKind, Job, PartCheck, SignatureVersion, StoreKind};
use std::time::SystemTime;
use url::Url;

/// One bucket on one endpoint, with the credentials to sign for it.
#[derive(Debug, Clone)]
pub struct Store {
    pub kind: StoreKind,
    endpoint: Url,
    bucket: String,
    signer: Signer,
    addressing: Addressing,
    refresh: Refresh,
    /// The object's properties as this store's headers ([`property_headers`]),
    /// sent on InitiateMultipartUpload and an empty object's PutObject.
    properties: Vec<(String, String)>,
    /// Refuse to replace an object (`no-clobber`): the store's own guard on
    /// CompleteMultipartUpload and PutObject.
    no_clobber: bool,
}

/// Where the host hands out the credentials to sign with now
/// (`FERRY_CREDENTIALS_URL`, set by the native host for a coordinator whose
/// keys are temporary), and the last it handed out. Clones share them.
#[derive(Debug, Clone, Default)]
struct Refresh {
    url: Option<String>,
    latest: std::sync::Arc<std::sync::Mutex<Option<Credentials>>>,
}

/// The host's answer at `FERRY_CREDENTIALS_URL`.
#[derive(serde::Deserialize)]
struct Handed {
    access_key_id: String,
    access_key_secret: String,
    security_token: Option<String>,
}

/// What the store said of a finished object.
#[derive(Debug, Clone)]
pub struct Stored {
    pub etag: String,
    pub crc64: Option<u64>,
    /// The object's CRC-64/NVME as an S3 store reports it.
    pub crc64nvme: Option<u64>,
}

/// The smallest part a store takes (all but the last), as the host checks
/// `--part-size` against it ([`ferry_rules::min_part_size`]).
pub fn min_part_size(kind: StoreKind) -> u64 {
    ferry_rules::min_part_size(matches!(kind, StoreKind::S3))
}

impl Store {
    /// The store a job writes to; credentials come from the environment.
    pub fn from_job(job: &Job) -> Result<Store> {
        let kind = job.target_store.unwrap_or(StoreKind::Oss);
        check_bucket(kind, &job.target_bucket_name)?;
        // A folder's key is completed from the source before any request
        // names it ([`target::named`]).
        if !target::is_folder(&job.target_object_name) {
            check_key(&job.target_object_name)?;
        }
        let endpoint = target::endpoint(job)?;
        let scheme = match kind {
            StoreKind::Oss => Scheme::from(job.signature_version.unwrap_or(SignatureVersion::V4)),
            StoreKind::S3 => {
                if job.signature_version == Some(SignatureVersion::V1) {
                    return Err(Error::invalid(
                        "--signature v1 is OSS's; S3 targets are always signed with SigV4",
                    ));
                }
                if job.addressing == Some(Addressing::Cname) {
                    return Err(Error::invalid(
                        "--cname is for OSS custom domains; for an S3-compatible server give \
                         --endpoint (and --path-style if it needs the bucket in the path)",
                    ));
                }
                Scheme::S3V4
            }
        };
        let s3 = kind == StoreKind::S3;
        let credentials = ferry_rules::credentials_from_env(s3)
            .ok_or_else(|| Error::invalid(ferry_rules::missing_credentials(s3)))?;
        Ok(Store {
            kind,
            addressing: target::addressing(&endpoint, job.addressing),
            refresh: Refresh {
                url: std::env::var("FERRY_CREDENTIALS_URL").ok(),
                ..Refresh::default()
            },
            endpoint,
            bucket: job.target_bucket_name.clone(),
            signer: Signer {
                scheme,
                credentials,
                region: job.target_region.clone(),
            },
            properties: job
                .properties
                .as_ref()
                .map(|p| property_headers(kind, p))
                .unwrap_or_default(),
            no_clobber: job.no_clobber == Some(true),
        })
    }

    /// `req` with the object's properties ([`property_headers`]).
    fn with_properties(&self, mut req: RequestParts) -> RequestParts {
        req.headers.extend(self.properties.iter().cloned());
        req
    }

    /// `req` with the store's guard against replacing an object, when the
    /// job asks for one: OSS `x-oss-forbid-overwrite: true`, S3
    /// `If-None-Match: *`.
    fn guarded(&self, req: RequestParts) -> RequestParts {
        match (self.no_clobber, self.kind) {
            (false, _) => req,
            (true, StoreKind::Oss) => req.header("x-oss-forbid-overwrite", "true"),
            (true, StoreKind::S3) => req.header("if-none-match", "*"),
        }
    }

    /// The refusal of a write to `key` because it exists.
    pub fn exists(&self, key: &str) -> Error {
        Error::new(
            FailureKind::Conflict,
            format!(
                "{}://{}/{key} exists; ferry was asked not to replace it: remove --no-clobber \
                 to replace it, or choose another key",
                target::scheme(self.kind),
                self.bucket
            ),
        )
    }

    /// `e` as a [`Store::exists`] refusal when it is the guard's
    /// (409 FileAlreadyExists, 412 PreconditionFailed).
    fn guard_refusal(&self, e: Error, key: &str) -> Error {
        let guard = self.no_clobber
            && (e.is_code("FileAlreadyExists") && e.status == Some(409)
                || e.is_code("PreconditionFailed") && e.status == Some(412));
        if guard {
            let mut conflict = self.exists(key);
            (conflict.status, conflict.code, conflict.request_id) =
                (e.status, e.code, e.request_id);
            conflict
        } else {
            e
        }
    }

    /// With `no-clobber`, refuses (before any upload) a key that exists.
    pub async fn refuse_existing(&self, key: &str) -> Result<()> {
        if self.no_clobber && self.head(key).await?.is_some() {
            return Err(self.exists(key));
        }
        Ok(())
    }

    /// Asks the host for the credentials to sign with now, when it hands
    /// them out (a long copy with temporary keys): called before each part
    /// is presigned, so no part carries a signature of expired keys.
    pub async fn refresh_credentials(&self) -> Result<()> {
        let Some(url) = &self.refresh.url else {
            return Ok(());
        };
        let failed = |why: String| Error::store(format!("fresh store credentials: {why}"));
        let response = http::send("GET", url, &[], None, Timeouts::default())
            .await
            .map_err(|e| failed(e.to_string()))?;
        let status = response.status;
        let body = response
            .bytes(64 << 10)
            .await
            .map_err(|e| failed(e.to_string()))?;
        if status != 200 {
            return Err(failed(String::from_utf8_lossy(&body).into_owned()));
        }
        let handed: Handed = serde_json::from_slice(&body)
            .map_err(|_| failed("the host's answer is not credentials".into()))?;
        *self.refresh.latest.lock().unwrap() = Some(Credentials {
            access_key_id: handed.access_key_id,
            access_key_secret: handed.access_key_secret,
            security_token: handed.security_token,
        });
        Ok(())
    }

    /// The signer with the latest credentials the host handed out.
    fn signer(&self) -> Signer {
        let mut signer = self.signer.clone();
        if let Some(fresh) = self.refresh.latest.lock().unwrap().clone() {
            signer.credentials = fresh;
        }
        signer
    }

    /// How this store checks a streamed part.
    pub fn part_check(&self) -> PartCheck {
        match self.kind {
            StoreKind::Oss => PartCheck::Crc64Xz,
            StoreKind::S3 => PartCheck::Md5Etag,
        }
    }

    /// A request for `key` (empty: the bucket), addressed as the store wants.
    fn request(&self, method: &str, key: &str) -> RequestParts {
        let mut req = RequestParts::new(method, &self.bucket, key);
        let (host, path) = self.location(key);
        req.host = host;
        req.path = path;
        req
    }

    /// Where a request for `key` goes, as sent: `BUCKET.ENDPOINT` and `/KEY`
    /// (virtual-hosted), `ENDPOINT` and `/BUCKET/KEY` (path), or the
    /// endpoint, the bucket's own domain, and `/KEY` (an OSS CNAME). The key
    /// is percent-encoded but for `/`, and its dot segments stay: a key is
    /// opaque to both stores, so `a/../b` is sent (and signed) as it is.
    fn location(&self, key: &str) -> (String, String) {
        let authority = target::authority(&self.endpoint).unwrap_or_default();
        let key = encode(key).replace("%2F", "/");
        match self.addressing {
            Addressing::Path => (authority, format!("/{}/{key}", self.bucket)),
            Addressing::Cname => (authority, format!("/{key}")),
            Addressing::VirtualHosted => {
                (format!("{}.{authority}", self.bucket), format!("/{key}"))
            }
        }
    }

    /// The URL of a request, as sent (see [`Store::location`]).
    fn url(&self, req: &RequestParts) -> String {
        let query = req.encoded_query();
        let query = if query.is_empty() {
            String::new()
        } else {
            format!("?{query}")
        };
        format!(
            "{}://{}{}{query}",
            self.endpoint.scheme(),
            req.host,
            req.path
        )
    }

    /// Signs and sends a request; any status is an answer.
    async fn exchange(
        &self,
        mut req: RequestParts,
        body: Option<&[u8]>,
        what: &str,
    ) -> Result<Response> {
        self.refresh_credentials().await?;
        self.signer().sign(&mut req, SystemTime::now(), body);
        let url = self.url(&req);
        // `Host` is set by the runtime from the URL's authority.
        let headers: Vec<(String, String)> = req.headers.into_iter().collect();
        http::send(&req.method, &url, &headers, body, Timeouts::default())
            .await
            .map_err(|e| transport_error(e, what))
    }

    /// Signs and sends a request; a non-2xx answer is an error.
    async fn send(&self, req: RequestParts, body: Option<&[u8]>, what: &str) -> Result<Response> {
        let response = self.exchange(req, body, what).await?;
        if (200..300).contains(&response.status) {
            Ok(response)
        } else {
            Err(status_error(response, what, self.kind).await)
        }
    }

    /// The CRC-64 a response reports (OSS only).
    pub fn crc_of(&self, response: &Response) -> Option<u64> {
        match self.kind {
            StoreKind::Oss => response
                .header("x-oss-hash-crc64ecma")
                .and_then(crc::parse_header),
            StoreKind::S3 => None,
        }
    }

    /// InitiateMultipartUpload; returns the upload id and how its parts
    /// are checked. An S3 upload asks for the full-object CRC-64/NVME (as
    /// the AWS SDKs do); a store that takes it says so in its answer, and
    /// one that does not (it ignores the headers) is checked by MD5 ETags.
    /// `checksums: false` asks for none (parts the store copies itself).
    pub async fn initiate(&self, key: &str, checksums: bool) -> Result<(String, PartCheck)> {
        let mut req = self.with_properties(self.request("POST", key).query("uploads", ""));
        if self.kind == StoreKind::S3 && checksums {
            req = req
                .header("x-amz-checksum-algorithm", "CRC64NVME")
                .header("x-amz-checksum-type", "FULL_OBJECT");
        }
        let response = self.send(req, None, "InitiateMultipartUpload").await?;
        let echoed = response
            .header("x-amz-checksum-algorithm")
            .map(str::to_string);
        let body = read_text(response, "InitiateMultipartUpload").await?;
        let result: xml::InitiateMultipartUploadResult = xml::parse(&body).map_err(|e| {
            Error::store(format!(
                "InitiateMultipartUpload answered unreadable XML: {e}"
            ))
        })?;
        let takes_crc = echoed
            .or(result.checksum_algorithm)
            .is_some_and(|a| a.trim().eq_ignore_ascii_case("CRC64NVME"));
        let check = match self.kind {
            StoreKind::S3 if takes_crc => PartCheck::Crc64Nvme,
            _ => self.part_check(),
        };
        Ok((result.upload_id, check))
    }

    /// The object's CRC-64/NVME as an S3 store reports it to a HeadObject
    /// that asks (`x-amz-checksum-mode: ENABLED`); `None` when it does not.
    pub async fn head_crc64nvme(&self, key: &str) -> Result<Option<u64>> {
        let what = "HeadObject";
        let req = self
            .request("HEAD", key)
            .header("x-amz-checksum-mode", "ENABLED");
        let response = self.send(req, None, what).await?;
        Ok(response
            .header("x-amz-checksum-crc64nvme")
            .and_then(crc::parse_base64))
    }

    /// A presigned UploadPart URL for one part, valid for `expires_secs`.
    pub fn presign_upload_part(
        &self,
        key: &str,
        upload_id: &str,
        part_number: u32,
        expires_secs: u64,
    ) -> String {
        self.presign_upload_part_at(key, upload_id, part_number, expires_secs, SystemTime::now())
    }

    fn presign_upload_part_at(
        &self,
        key: &str,
        upload_id: &str,
        part_number: u32,
        expires_secs: u64,
        now: SystemTime,
    ) -> String {
        let mut req = self
            .request("PUT", key)
            .query("partNumber", &part_number.to_string())
            .query("uploadId", upload_id);
        self.signer().presign(&mut req, now, expires_secs);
        self.url(&req)
    }

    /// The same store and credentials, for another bucket (the source of a
    /// server-side copy).
    pub fn with_bucket(&self, bucket: &str) -> Store {
        Store {
            bucket: bucket.to_string(),
            ..self.clone()
        }
    }

    /// The endpoint's `host[:port]`: how a source URL on this store is
    /// recognised.
    pub fn endpoint_authority(&self) -> String {
        target::authority(&self.endpoint).unwrap_or_default()
    }

    /// Whether requests name the bucket in the path.
    pub fn path_style(&self) -> bool {
        self.addressing == Addressing::Path
    }

    /// HeadObject: what a server-side copy's source holds. `Ok(None)` when
    /// it does not exist.
    pub async fn head(&self, key: &str) -> Result<Option<Response>> {
        let what = "HeadObject";
        let response = self.exchange(self.request("HEAD", key), None, what).await?;
        match response.status {
            200..=299 => Ok(Some(response)),
            404 => Ok(None),
            _ => Err(status_error(response, what, self.kind).await),
        }
    }

    /// A presigned GetObject URL, valid for `expires_secs`: how the bytes of
    /// a store object are streamed when the store will not copy them itself.
    pub fn presign_get(&self, key: &str, expires_secs: u64) -> String {
        let mut req = self.request("GET", key);
        self.signer()
            .presign(&mut req, SystemTime::now(), expires_secs);
        self.url(&req)
    }

    /// A presigned UploadPartCopy URL and the headers it was signed with:
    /// part `part_number` is bytes `offset..offset+length` of `copy_source`
    /// (`/BUCKET/KEY`), copied only while the source's ETag is `if_match`.
    pub fn presign_upload_part_copy(
        &self,
        key: &str,
        upload_id: &str,
        part_number: u32,
        copy: (&str, u64, u64, Option<&str>),
        expires_secs: u64,
    ) -> (String, Vec<(String, String)>) {
        let (copy_source, offset, length, if_match) = copy;
        let prefix = match self.kind {
            StoreKind::Oss => "x-oss",
            StoreKind::S3 => "x-amz",
        };
        let mut headers = vec![
            (format!("{prefix}-copy-source"), copy_source.to_string()),
            (
                format!("{prefix}-copy-source-range"),
                format!("bytes={offset}-{}", offset + length - 1),
            ),
        ];
        if let Some(etag) = if_match {
            headers.push((format!("{prefix}-copy-source-if-match"), etag.to_string()));
        }
        let mut req = self
            .request("PUT", key)
            .query("partNumber", &part_number.to_string())
            .query("uploadId", upload_id);
        req.headers = headers.clone();
        self.signer()
            .presign(&mut req, SystemTime::now(), expires_secs);
        (self.url(&req), headers)
    }

    /// PutObject with an empty body (an empty source needs no multipart upload).
    /// On S3 it states the CRC-64/NVME of nothing (0), which a store that
    /// takes checksums checks and answers.
    pub async fn put_empty(&self, key: &str) -> Result<Stored> {
        let mut req = self.guarded(self.with_properties(self.request("PUT", key)));
        if self.kind == StoreKind::S3 {
            req = req.header("x-amz-checksum-crc64nvme", &crc::to_base64(0));
        }
        let response = self
            .send(req, Some(&[]), "PutObject")
            .await
            .map_err(|e| self.guard_refusal(e, key))?;
        let stored = Stored {
            etag: response.header("etag").unwrap_or_default().to_string(),
            crc64: self.crc_of(&response),
            crc64nvme: response
                .header("x-amz-checksum-crc64nvme")
                .and_then(crc::parse_base64),
        };
        drain(response).await;
        Ok(stored)
    }

    /// CompleteMultipartUpload with the parts' numbers, ETags and (an S3
    /// upload that takes them) CRC-64/NVMEs; `full`: the object's
    /// CRC-64/NVME, which such a store checks before it completes.
    pub async fn complete(
        &self,
        key: &str,
        upload_id: &str,
        parts: &[(u32, String, Option<u64>)],
        full: Option<u64>,
    ) -> Result<Stored> {
        let body = xml::complete_body_with(parts);
        let mut req = self
            .request("POST", key)
            .query("uploadId", upload_id)
            .header("content-type", "application/xml");
        if let Some(full) = full {
            req = req
                .header("x-amz-checksum-crc64nvme", &crc::to_base64(full))
                .header("x-amz-checksum-type", "FULL_OBJECT");
        }
        let response = self
            .send(
                self.guarded(req),
                Some(body.as_bytes()),
                "CompleteMultipartUpload",
            )
            .await
            .map_err(|e| self.guard_refusal(e, key))?;
        let crc64 = self.crc_of(&response);
        let header_nvme = response
            .header("x-amz-checksum-crc64nvme")
            .and_then(crc::parse_base64);
        let text = read_text(response, "CompleteMultipartUpload").await?;
        // OSS and S3 may answer 200 with an error document when a long
        // complete fails.
        if text.contains("<Error>") {
            return Err(error_document(
                &text,
                200,
                "CompleteMultipartUpload",
                self.kind,
            ));
        }
        let result = xml::parse::<xml::CompleteMultipartUploadResult>(&text).ok();
        let crc64nvme = header_nvme.or_else(|| {
            result
                .as_ref()
                .and_then(|r| r.checksum_crc64nvme.as_deref())
                .and_then(crc::parse_base64)
        });
        let etag = result.map(|r| r.etag).unwrap_or_default();
        Ok(Stored {
            etag,
            crc64,
            crc64nvme,
        })
    }

    /// AbortMultipartUpload. An upload already gone counts as aborted.
    pub async fn abort(&self, key: &str, upload_id: &str) -> Result<()> {
        let req = self.request("DELETE", key).query("uploadId", upload_id);
        match self.send(req, None, "AbortMultipartUpload").await {
            Ok(response) => {
                drain(response).await;
                Ok(())
            }
            Err(e) if e.is_code("NoSuchUpload") => Ok(()),
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
                Err(e) if e.is_code("NoSuchUpload") => return Ok(None),
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

/// An object's properties as `kind`'s headers: the content headers,
/// user metadata (`x-oss-meta-*`, `x-amz-meta-*`), the storage class, the
/// ACL and server-side encryption with its KMS key.
pub fn property_headers(kind: StoreKind, p: &crate::ObjectProperties) -> Vec<(String, String)> {
    let (prefix, acl, kms_key) = match kind {
        StoreKind::Oss => (
            "x-oss",
            "x-oss-object-acl",
            "x-oss-server-side-encryption-key-id",
        ),
        StoreKind::S3 => (
            "x-amz",
            "x-amz-acl",
            "x-amz-server-side-encryption-aws-kms-key-id",
        ),
    };
    let mut headers = Vec::new();
    let mut add = |name: String, value: &Option<String>| {
        if let Some(v) = value {
            headers.push((name, v.clone()));
        }
    };
    add("content-type".into(), &p.content_type);
    add("content-disposition".into(), &p.content_disposition);
    add("content-encoding".into(), &p.content_encoding);
    add("cache-control".into(), &p.cache_control);
    add(format!("{prefix}-storage-class"), &p.storage_class);
    add(acl.into(), &p.acl);
    add(format!("{prefix}-server-side-encryption"), &p.sse);
    add(kms_key.into(), &p.sse_kms_key_id);
    for (name, value) in p.meta.iter().flatten() {
        headers.push((
            format!("{prefix}-meta-{}", name.to_ascii_lowercase()),
            value.clone(),
        ));
    }
    headers
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
    let hint = match e {
        HttpError::Unreachable(_) => {
            "; check the store endpoint (--endpoint, else OSS_ENDPOINT or AWS_ENDPOINT_URL, \
             else the region's) and that the store is up"
        }
        _ => "",
    };
    let err = Error::store(format!("{what} failed: {e}{hint}"));
    if transient {
        err.transient()
    } else {
        err
    }
}

/// An error for a non-2xx answer from the store, read from its XML body.
pub async fn status_error(response: Response, what: &str, kind: StoreKind) -> Error {
    let status = response.status;
    let retry_after = response.header("retry-after").map(str::to_string);
    let text = match response.bytes(64 * 1024).await {
        Ok(b) => String::from_utf8_lossy(&b).into_owned(),
        Err(_) => String::new(),
    };
    error_document(&text, status, what, kind).retry_after(retry_after.as_deref())
}

fn error_document(text: &str, status: u16, what: &str, kind: StoreKind) -> Error {
    let doc: xml::ErrorResponse = xml::parse(text).unwrap_or_default();
    // OSS and S3 share their error codes; the variables to check are each
    // store's own.
    let vars = ferry_rules::credential_vars(kind == StoreKind::S3);
    let (id, secret, token) = (vars.id, vars.secret, vars.token[0]);
    let advice = match doc.code.as_str() {
        "InvalidAccessKeyId" | "NotSignedUp" => {
            format!(" Check {id}: the store does not know this key.")
        }
        "SignatureDoesNotMatch" => format!(" Check {secret}, and --region."),
        "InvalidSecurityToken" | "SecurityTokenExpired" | "InvalidToken" | "ExpiredToken" => {
            format!(" Check {token}: the token is wrong or expired.")
        }
        "EntityTooSmall" => " Parts must be larger: choose a larger --part-size.".into(),
        "AccessDenied" => " The key may not write to this bucket; check its policy.".into(),
        "NoSuchBucket" => " Check the bucket name, the region and the endpoint.".into(),
        "RequestTimeTooSkewed" => " Check this machine's clock.".into(),
        _ => String::new(),
    };
    let code = if doc.code.is_empty() {
        format!("HTTP {status}")
    } else {
        format!("{} (HTTP {status})", doc.code)
    };
    // The store's sentence ends where ours begins: one full stop.
    let said = doc.message.trim().trim_end_matches('.');
    let message = if said.is_empty() {
        String::new()
    } else {
        format!(": {said}")
    };
    let request_id = if doc.request_id.is_empty() {
        String::new()
    } else {
        format!(" [request id {}]", doc.request_id)
    };
    let mut err = Error::store(format!(
        "{what} refused: {code}{message}.{advice}{request_id}"
    ))
    .with_status(status);
    err.code = Some(doc.code.clone()).filter(|c| !c.is_empty());
    err.request_id = Some(doc.request_id.clone()).filter(|r| !r.is_empty());
    if status >= 500 || status == 429 || doc.code == "RequestTimeout" {
        err.transient()
    } else {
        err
    }
}

/// The URL and signing shapes of each endpoint kind, against what the
/// stores' own SDKs produce for the same request at the same time
/// (2025-11-25T10:00:00Z, an STS key): oss2 2.19.1 for OSS (a CNAME, the
/// internal and the accelerate endpoint) and botocore for S3 (virtual-hosted
/// and path-style).
#[cfg(test)]
mod sdk_shapes {
    use super::*;

    /// A store's refusal carries its status, code and request id as typed
    /// fields: "already gone" and throttling are read from them, not from
    /// the words of the message.
    #[test]
    fn refusals_carry_status_code_and_request_id() {
        let e = error_document(
            "<Error><Code>NoSuchUpload</Code><Message>gone</Message>\
             <RequestId>RID-1</RequestId></Error>",
            404,
            "AbortMultipartUpload",
            StoreKind::Oss,
        );
        assert!(e.is_code("NoSuchUpload"));
        assert_eq!(e.status, Some(404));
        assert_eq!(e.request_id.as_deref(), Some("RID-1"));
        assert!(!e.transient && !e.is_throttle());
        let busy = error_document(
            "<Error><Code>ServiceBusy</Code><Message>try later</Message></Error>",
            503,
            "UploadPart",
            StoreKind::S3,
        );
        assert!(busy.is_throttle(), "{busy}");
        assert!(!busy.message.contains("SlowDown"));
        let crossed = Error::from(crate::Failure::from(busy)).transient();
        assert!(crossed.is_throttle());
    }
    use std::collections::BTreeMap;
    use std::time::{Duration, UNIX_EPOCH};

    fn now() -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(1_764_064_800)
    }

    fn store(scheme: Scheme, endpoint: &str, addressing: Addressing, region: &str) -> Store {
        Store {
            kind: if scheme == Scheme::S3V4 {
                StoreKind::S3
            } else {
                StoreKind::Oss
            },
            endpoint: Url::parse(endpoint).unwrap(),
            bucket: "bkt".into(),
            signer: Signer {
                scheme,
                credentials: crate::sign::Credentials {
                    access_key_id: "AKID".into(),
                    access_key_secret: "SECRET".into(),
                    security_token: Some("TOKEN".into()),
                },
                region: region.into(),
            },
            addressing,
            refresh: Refresh::default(),
            properties: Vec::new(),
            no_clobber: false,
        }
    }

    /// Origin, decoded path and query pairs: the SDKs differ only in how
    /// they escape `/` in the key and in query order, which no store reads.
    fn shape(url: &str) -> (String, String, BTreeMap<String, String>) {
        let u = Url::parse(url).unwrap();
        let path = percent_encoding::percent_decode_str(u.path())
            .decode_utf8()
            .unwrap()
            .into_owned();
        (
            u.origin().ascii_serialization(),
            path,
            u.query_pairs().into_owned().collect(),
        )
    }

    #[test]
    fn a_store_message_ends_in_one_full_stop() {
        let doc = "<Error><Code>SignatureDoesNotMatch</Code><Message>The request signature \
                   we calculated does not match. Check your key and signing method.</Message>\
                   <RequestId>R1</RequestId></Error>";
        let e = error_document(doc, 403, "InitiateMultipartUpload", StoreKind::Oss);
        assert_eq!(
            e.message,
            "InitiateMultipartUpload refused: SignatureDoesNotMatch (HTTP 403): The request \
             signature we calculated does not match. Check your key and signing method. Check \
             OSS_ACCESS_KEY_SECRET, and --region. [request id R1]"
        );
        let bare = error_document("", 503, "UploadPart", StoreKind::S3);
        assert_eq!(bare.message, "UploadPart refused: HTTP 503.");
    }

    #[test]
    fn dot_segments_of_a_key_are_sent_and_signed_as_they_are() {
        for (addressing, prefix) in [
            (Addressing::Path, "http://127.0.0.1:9000/bkt/"),
            (Addressing::VirtualHosted, "http://bkt.127.0.0.1:9000/"),
            (Addressing::Cname, "http://127.0.0.1:9000/"),
        ] {
            let s3 = store(
                Scheme::S3V4,
                "http://127.0.0.1:9000",
                addressing,
                "us-east-1",
            );
            for key in [
                "a/./b",
                "a/../b",
                "./x",
                "x/..",
                "../other/evil.bin",
                "dot/./x",
            ] {
                let url = s3.presign_upload_part_at(key, "UP", 1, 60, now());
                assert!(url.starts_with(&format!("{prefix}{key}?")), "{url}");
                // What the request layer sends keeps them too.
                let sent: ::http::Uri = url.parse().unwrap();
                assert!(sent.path().ends_with(&format!("/{key}")), "{url}");
                // And the signature covers that path.
                let req = s3.request("PUT", key);
                assert!(req.path.ends_with(&format!("/{key}")), "{}", req.path);
            }
        }
    }

    fn presigned(store: &Store) -> String {
        store.presign_upload_part_at("dir/a b.bin", "UP", 3, 3600, now())
    }

    const V1_SIGNATURE: &str = "BoQ02jzkIQzIiv1D8blJrTEaci0=";
    const V4_SIGNATURE: &str = "da800dfe4945b1a02c4df4d5158d2898acc0e1e7824392959087ebcf40225861";

    #[test]
    fn oss_cname_internal_and_accelerate_match_oss2() {
        let cases = [
            (
                "https://files.example.com",
                Addressing::Cname,
                "https://files.example.com",
            ),
            (
                "https://oss-cn-hangzhou-internal.aliyuncs.com",
                Addressing::VirtualHosted,
                "https://bkt.oss-cn-hangzhou-internal.aliyuncs.com",
            ),
            (
                "https://oss-accelerate.aliyuncs.com",
                Addressing::VirtualHosted,
                "https://bkt.oss-accelerate.aliyuncs.com",
            ),
        ];
        for (endpoint, addressing, origin) in cases {
            // OSS signs /BUCKET/KEY whatever the host, so a CNAME's and an
            // endpoint's signatures are the same.
            for (scheme, name, signature) in [
                (Scheme::OssV1, "Signature", V1_SIGNATURE),
                (Scheme::OssV4, "x-oss-signature", V4_SIGNATURE),
            ] {
                let (o, path, query) = shape(&presigned(&store(
                    scheme,
                    endpoint,
                    addressing,
                    "cn-hangzhou",
                )));
                assert_eq!(o, origin);
                assert_eq!(path, "/dir/a b.bin");
                assert_eq!(query[name], signature, "{endpoint} {scheme:?}");
            }
        }
    }

    #[test]
    fn s3_virtual_hosted_and_path_style_match_botocore() {
        let cases = [
            (
                "https://s3.us-west-2.amazonaws.com",
                Addressing::VirtualHosted,
                "https://bkt.s3.us-west-2.amazonaws.com",
                "/dir/a b.bin",
                "33014809a1114f0d5363521de1b3b1fe23359388f2f8fbe0cc775fa488fcc6be",
            ),
            (
                "http://127.0.0.1:9000",
                Addressing::Path,
                "http://127.0.0.1:9000",
                "/bkt/dir/a b.bin",
                "0b31136ab95e891bf0092ae54c1e9debcb8fc4e7a38bcd12507a34a8291d7150",
            ),
        ];
        for (endpoint, addressing, origin, path, signature) in cases {
            let url = presigned(&store(Scheme::S3V4, endpoint, addressing, "us-west-2"));
            let (o, p, query) = shape(&url);
            assert_eq!((o.as_str(), p.as_str()), (origin, path));
            assert_eq!(query["X-Amz-Signature"], signature, "{url}");
            assert_eq!(query["X-Amz-Security-Token"], "TOKEN");
        }
    }

    #[test]
    fn s3_header_signing_matches_botocore() {
        let s = store(
            Scheme::S3V4,
            "http://127.0.0.1:9000",
            Addressing::Path,
            "us-west-2",
        );
        let mut req = s.request("POST", "dir/a b.bin").query("uploads", "");
        s.signer.sign(&mut req, now(), None);
        let auth = &req
            .headers
            .iter()
            .find(|(k, _)| k == "authorization")
            .unwrap()
            .1;
        assert_eq!(
            auth,
            "AWS4-HMAC-SHA256 Credential=AKID/20251125/us-west-2/s3/aws4_request, \
             SignedHeaders=host;x-amz-content-sha256;x-amz-date;x-amz-security-token, \
             Signature=2fbb53823b648c3766208a391ff63b3837315d3dad4140a050b346ba323e37e3"
        );
    }
}
