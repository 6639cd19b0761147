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
    let file = store.new_blob();
    let received = sink::receive(
        body,
        file.as_deref(),
        store.cfg.md5_etags || content_md5.is_some(),
    )
    .await?;
    if content_md5.is_some() && received.md5 != content_md5 {
        sink::remove(file);
        return Err(OssError::InvalidDigest);
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
        data: match file {
            Some(path) => Stored::Disk(vec![Segment {
                path,
                len: received.size,
            }]),
            None => Stored::Null,
        },
    };
    let etag_value = object.etag.clone();
    let old = store
        .state
        .lock()
        .unwrap()
        .buckets
        .get_mut(&ctx.bucket)
        .expect("bucket checked")
        .objects
        .insert(ctx.key.clone(), object);
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
        )
        .header("x-oss-storage-class", "Standard");
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

pub fn user_meta(headers: &HeaderMap) -> Vec<(String, String)> {
    headers
        .iter()
        .filter(|(k, _)| k.as_str().starts_with("x-oss-meta-"))
        .filter_map(|(k, v)| Some((k.as_str().to_string(), v.to_str().ok()?.to_string())))
        .collect()
}
