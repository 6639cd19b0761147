//! Read-back routes for test scripts; not part of the OSS API.
//!
//! The test bed listens on loopback only, so these are unauthenticated:
//! - `GET /-/object/{bucket}/{key}`: JSON `{size, crc64, etag, parts}`, 404
//!   if absent;
//! - `GET /-/uploads/{bucket}`: JSON list of open uploads `[{key, upload_id}]`;
//! - `GET /-/read/{bucket}/{key}`: the stored bytes (501 for the null sink).

use std::sync::Arc;

use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::header;
use hyper::{Method, Request, Response, StatusCode};
use percent_encoding::percent_decode_str;
use serde::Serialize;

use super::error::OssError;
use super::service::Store;
use super::sink;
use super::state::Stored;
use crate::body::{self, ResponseBody};

/// The JSON of `/-/object/...`.
#[derive(Serialize)]
struct ObjectJson {
    size: u64,
    crc64: u64,
    etag: String,
    parts: Option<u32>,
}

#[derive(Serialize)]
struct UploadJson {
    key: String,
    upload_id: String,
}

pub async fn handle(
    store: &Arc<Store>,
    req: Request<Incoming>,
) -> Result<Response<ResponseBody>, OssError> {
    if req.method() != Method::GET {
        return Ok(json(
            StatusCode::METHOD_NOT_ALLOWED,
            &serde_json::json!({"error": "admin routes are GET only"}),
        ));
    }
    let path = req.uri().path().to_string();
    let rest = path.strip_prefix("/-/").unwrap_or("");
    let (route, rest) = rest.split_once('/').unwrap_or((rest, ""));
    let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
    let bucket = decode(bucket);
    let key = decode(key);
    match route {
        "object" => Ok(match store.object_info(&bucket, &key) {
            Some(o) => json(
                StatusCode::OK,
                &ObjectJson {
                    size: o.size,
                    crc64: o.crc64,
                    etag: o.etag,
                    parts: o.parts,
                },
            ),
            None => not_found(&bucket, &key),
        }),
        "uploads" => {
            let list: Vec<UploadJson> = store
                .open_uploads(&bucket)
                .into_iter()
                .map(|(key, upload_id)| UploadJson { key, upload_id })
                .collect();
            Ok(json(StatusCode::OK, &list))
        }
        "read" => {
            let data = {
                let state = store.state.lock().unwrap();
                state
                    .buckets
                    .get(&bucket)
                    .and_then(|b| b.objects.get(&key))
                    .map(|o| (o.data.clone(), o.size))
            };
            match data {
                None => Ok(not_found(&bucket, &key)),
                Some((Stored::Null, _)) => Ok(json(
                    StatusCode::NOT_IMPLEMENTED,
                    &serde_json::json!({"error": "null sink: no bytes are kept"}),
                )),
                Some((Stored::Disk(segments), size)) => {
                    let files = sink::open(&segments).map_err(|e| {
                        OssError::InternalError(format!("object data unreadable: {e}"))
                    })?;
                    Ok(Response::builder()
                        .status(StatusCode::OK)
                        .header(header::CONTENT_TYPE, "application/octet-stream")
                        .header(header::CONTENT_LENGTH, size)
                        .body(sink::stream(files, 0, size).boxed_unsync())
                        .expect("valid response"))
                }
            }
        }
        _ => Ok(json(
            StatusCode::NOT_FOUND,
            &serde_json::json!({"error": "unknown admin route"}),
        )),
    }
}

fn not_found(bucket: &str, key: &str) -> Response<ResponseBody> {
    json(
        StatusCode::NOT_FOUND,
        &serde_json::json!({"error": "no such object", "bucket": bucket, "key": key}),
    )
}

fn json<T: Serialize>(status: StatusCode, value: &T) -> Response<ResponseBody> {
    let text = serde_json::to_string(value).expect("json");
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::CONTENT_LENGTH, text.len())
        .body(body::full(text))
        .expect("valid response")
}

fn decode(s: &str) -> String {
    percent_decode_str(s).decode_utf8_lossy().into_owned()
}
