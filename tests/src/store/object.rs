//! PutObject, GetObject, HeadObject, DeleteObject.

use std::sync::Arc;
use std::time::SystemTime;

use base64::Engine;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::header::{self, HeaderMap};
use hyper::{Request, Response, StatusCode};

use super::error::OssError;
use super::etag;
use super::service::{Ctx, Store};
use super::sink;
use super::state::{Object, Segment, Stored};
use crate::body::{self, ResponseBody};
use crate::range::{self, RangeRequest};

pub async fn put(
    store: &Arc<Store>,
    ctx: &Ctx,
    req: Request<Incoming>,
) -> Result<Response<ResponseBody>, OssError> {
    let (parts, body) = req.into_parts();
    let content_md5 = content_md5(&parts.headers)?;
    // S3's additional checksum, checked when a client states it.
    let stated_nvme = super::multipart::stated_crc64nvme(&parts.headers)?;
    let guard = Guard::of(&parts.headers);
    guard.check(store, ctx)?;
    let file = store.new_blob();
    let received = sink::receive_with(
        body,
        file.as_deref(),
        store.cfg.md5_etags || content_md5.is_some(),
        stated_nvme.is_some(),
    )
    .await?;
    if content_md5.is_some() && received.md5 != content_md5 {
        sink::remove(file);
        return Err(OssError::InvalidDigest);
    }
    if stated_nvme.is_some() && received.nvme != stated_nvme {
        sink::remove(file);
        return Err(OssError::BadDigest);
    }
    let tag = etag::bytes(received.md5, received.crc64, received.size);
    let object = Object {
        size: received.size,
        crc64: received.crc64,
        etag: etag::quoted(&tag),
        parts: None,
        content_type: content_type(&parts.headers),
        meta: user_meta(&parts.headers),
        last_modified: SystemTime::now(),
        crc64nvme: received.nvme,
        data: match file {
            Some(path) => Stored::Disk(vec![Segment {
                path,
                len: received.size,
            }]),
            None => Stored::Null,
        },
    };
    let etag_value = object.etag.clone();
    let old = {
        let mut state = store.state.lock().unwrap();
        let objects = &mut state
            .buckets
            .get_mut(&ctx.bucket)
            .expect("bucket checked")
            .objects;
        // Checked again now that the body is in: another write may have
        // made the object meanwhile.
        if let Err(e) = guard.refuse(objects.contains_key(&ctx.key)) {
            drop(state);
            sink::remove(object.data.files());
            return Err(e);
        }
        objects.insert(ctx.key.clone(), object)
    };
    store.note(|h| h.objects_written += 1);
    if let Some(old) = old {
        sink::remove(old.data.files());
    }
    let mut resp = Response::builder()
        .status(StatusCode::OK)
        .header(header::ETAG, etag_value)
        .header("x-oss-hash-crc64ecma", received.crc64.to_string())
        .header(header::CONTENT_LENGTH, 0);
    if let Some(md5) = received.md5 {
        resp = resp.header(
            "content-md5",
            base64::engine::general_purpose::STANDARD.encode(md5),
        );
    }
    if let Some(nvme) = received.nvme {
        resp = resp.header("x-amz-checksum-crc64nvme", crate::crc64::to_base64(nvme));
    }
    Ok(resp.body(body::empty()).expect("valid response"))
}

pub fn get(
    store: &Arc<Store>,
    ctx: &Ctx,
    req: Request<Incoming>,
    head: bool,
) -> Result<Response<ResponseBody>, OssError> {
    let object = store
        .state
        .lock()
        .unwrap()
        .buckets
        .get(&ctx.bucket)
        .and_then(|b| b.objects.get(&ctx.key))
        .cloned()
        .ok_or_else(|| OssError::NoSuchKey {
            key: ctx.key.clone(),
        })?;
    let headers = req.headers();
    let range_header = headers.get(header::RANGE).and_then(|v| v.to_str().ok());
    // OSS serves the whole object for an unsatisfiable range unless the
    // client opts into RFC behaviour with x-oss-range-behavior: standard.
    let standard = headers
        .get("x-oss-range-behavior")
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"standard"));
    let size = object.size;
    let (status, start, end) = match range::parse(range_header, size) {
        RangeRequest::Part { start, end } => (StatusCode::PARTIAL_CONTENT, start, end + 1),
        RangeRequest::Unsatisfiable if standard => {
            return Ok(Response::builder()
                .status(StatusCode::RANGE_NOT_SATISFIABLE)
                .header(header::CONTENT_RANGE, format!("bytes */{size}"))
                .body(body::empty())
                .expect("valid response"));
        }
        _ => (StatusCode::OK, 0, size),
    };
    let mut resp = Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, &object.content_type)
        .header(header::CONTENT_LENGTH, end - start)
        .header(header::ACCEPT_RANGES, "bytes")
        .header(header::ETAG, &object.etag)
        .header(
            header::LAST_MODIFIED,
            httpdate::fmt_http_date(object.last_modified),
        )
        .header("x-oss-hash-crc64ecma", object.crc64.to_string())
        .header(
            "x-oss-object-type",
            if object.parts.is_some() {
                "Multipart"
            } else {
                "Normal"
            },
        );
    if !object
        .meta
        .iter()
        .any(|(k, _)| k.ends_with("-storage-class"))
    {
        resp = resp.header("x-oss-storage-class", "Standard");
    }
    // S3 answers the full-object checksum to a whole-object read that asks.
    let checksum_mode = headers
        .get("x-amz-checksum-mode")
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"enabled"));
    if let (true, Some(nvme), StatusCode::OK) = (checksum_mode, object.crc64nvme, status) {
        resp = resp
            .header("x-amz-checksum-crc64nvme", crate::crc64::to_base64(nvme))
            .header("x-amz-checksum-type", "FULL_OBJECT");
    }
    if status == StatusCode::PARTIAL_CONTENT {
        resp = resp.header(
            header::CONTENT_RANGE,
            format!("bytes {start}-{}/{size}", end - 1),
        );
    }
    for (name, value) in &object.meta {
        resp = resp.header(name.as_str(), value.as_str());
    }
    if head {
        return Ok(resp.body(body::empty()).expect("valid response"));
    }
    let files = match &object.data {
        Stored::Disk(segments) => sink::open(segments)
            .map_err(|e| OssError::InternalError(format!("object data unreadable: {e}")))?,
        Stored::Null => {
            return Err(OssError::NotImplemented(
                "This test-bed store runs with the null sink: it checks sizes and CRC-64 of \
                 uploaded data but keeps no bytes, so GetObject cannot return content. \
                 Use HeadObject or run the store with a data directory."
                    .into(),
            ))
        }
    };
    Ok(resp
        .body(sink::stream(files, start, end).boxed_unsync())
        .expect("valid response"))
}

pub fn delete(store: &Arc<Store>, ctx: &Ctx) -> Result<Response<ResponseBody>, OssError> {
    let old = store
        .state
        .lock()
        .unwrap()
        .buckets
        .get_mut(&ctx.bucket)
        .expect("bucket checked")
        .objects
        .remove(&ctx.key);
    if let Some(old) = old {
        store.note(|h| h.objects_deleted += 1);
        sink::remove(old.data.files());
    }
    // Deleting an absent object succeeds too, as in OSS.
    Ok(Response::builder()
        .status(StatusCode::NO_CONTENT)
        .body(body::empty())
        .expect("valid response"))
}

/// The decoded `Content-MD5` header, if sent.
pub fn content_md5(headers: &HeaderMap) -> Result<Option<[u8; 16]>, OssError> {
    let Some(value) = headers.get("content-md5") else {
        return Ok(None);
    };
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(value.as_bytes())
        .map_err(|_| OssError::InvalidDigest)?;
    let md5: [u8; 16] = decoded.try_into().map_err(|_| OssError::InvalidDigest)?;
    Ok(Some(md5))
}

pub fn content_type(headers: &HeaderMap) -> String {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/octet-stream")
        .to_string()
}

/// The headers an object keeps from the request that made it (PutObject,
/// InitiateMultipartUpload) and returns on HeadObject and GetObject, names
/// in lower case: user metadata (`x-oss-meta-*`, `x-amz-meta-*`), the
/// content headers, the storage class, the ACL and server-side encryption,
/// as OSS and S3 name them.
pub fn user_meta(headers: &HeaderMap) -> Vec<(String, String)> {
    const KEPT: [&str; 11] = [
        "content-disposition",
        "content-encoding",
        "cache-control",
        "x-oss-storage-class",
        "x-amz-storage-class",
        "x-oss-object-acl",
        "x-amz-acl",
        "x-oss-server-side-encryption",
        "x-oss-server-side-encryption-key-id",
        "x-amz-server-side-encryption",
        "x-amz-server-side-encryption-aws-kms-key-id",
    ];
    headers
        .iter()
        .filter(|(k, _)| {
            let k = k.as_str();
            k.starts_with("x-oss-meta-") || k.starts_with("x-amz-meta-") || KEPT.contains(&k)
        })
        .filter_map(|(k, v)| Some((k.as_str().to_string(), v.to_str().ok()?.to_string())))
        .collect()
}

/// A write's guard against replacing an object, as the stores document
/// them: OSS `x-oss-forbid-overwrite: true` (409 FileAlreadyExists), S3
/// `If-None-Match: *` (412 PreconditionFailed). On PutObject and
/// CompleteMultipartUpload.
#[derive(Clone, Copy, Debug, Default)]
pub struct Guard {
    forbid_overwrite: bool,
    if_none_match: bool,
}

impl Guard {
    pub fn of(headers: &HeaderMap) -> Guard {
        Guard {
            forbid_overwrite: headers
                .get("x-oss-forbid-overwrite")
                .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"true")),
            if_none_match: headers
                .get(header::IF_NONE_MATCH)
                .is_some_and(|v| v.as_bytes().trim_ascii() == b"*"),
        }
    }

    /// The refusal when the key exists.
    pub fn refuse(self, exists: bool) -> Result<(), OssError> {
        match (exists, self.forbid_overwrite, self.if_none_match) {
            (true, true, _) => Err(OssError::FileAlreadyExists),
            (true, _, true) => Err(OssError::PreconditionFailed {
                condition: "If-None-Match".into(),
            }),
            _ => Ok(()),
        }
    }

    /// [`Guard::refuse`] for the request's key as the bucket holds it now.
    pub fn check(self, store: &Arc<Store>, ctx: &Ctx) -> Result<(), OssError> {
        let exists = store
            .state
            .lock()
            .unwrap()
            .buckets
            .get(&ctx.bucket)
            .is_some_and(|b| b.objects.contains_key(&ctx.key));
        self.refuse(exists)
    }
}
