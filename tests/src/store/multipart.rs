//! The multipart upload API: Initiate, UploadPart, Complete, Abort,
//! ListParts, ListMultipartUploads.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::SystemTime;

use base64::Engine;
use hyper::body::Incoming;
use hyper::header;
use hyper::{Request, Response, StatusCode};

use super::error::OssError;
use super::object::{content_md5, content_type, user_meta, Guard};
use super::service::{drain, read_small, xml_response, Ctx, Store};
use super::state::{Object, Part, Segment, Stored, Upload};
use super::{etag, sink, xml, MAX_PART_NUMBER, MIN_PART_SIZE};
use crate::body::{self, ResponseBody};
use crate::crc64;
use crate::range::{self, RangeRequest};
use crate::time_format;

/// The most a ListParts or ListMultipartUploads page holds.
const MAX_PAGE: u32 = 1000;
/// A Complete body for 10,000 parts is well under this.
const MAX_COMPLETE_BODY: usize = 4 << 20;

pub fn initiate(
    store: &Arc<Store>,
    ctx: &Ctx,
    req: Request<Incoming>,
) -> Result<Response<ResponseBody>, OssError> {
    let id = store.new_upload_id();
    let crc64nvme = takes_crc64nvme(req.headers());
    let upload = Upload {
        key: ctx.key.clone(),
        id: id.clone(),
        initiated: SystemTime::now(),
        content_type: content_type(req.headers()),
        meta: user_meta(req.headers()),
        parts: BTreeMap::new(),
        crc64nvme,
    };
    bucket_uploads(store, ctx, |uploads| {
        uploads.insert(id.clone(), upload);
    });
    store.note(|h| h.uploads_created += 1);
    let mut resp = xml_response(xml::document(&xml::InitiateResult {
        bucket: ctx.bucket.clone(),
        key: ctx.key.clone(),
        upload_id: id,
    }));
    if crc64nvme {
        // As S3 answers CreateMultipartUpload with a checksum algorithm.
        let h = resp.headers_mut();
        h.insert(
            "x-amz-checksum-algorithm",
            "CRC64NVME".parse().expect("ascii"),
        );
        h.insert("x-amz-checksum-type", "FULL_OBJECT".parse().expect("ascii"));
    }
    Ok(resp)
}

/// Whether a CreateMultipartUpload asks for S3's full-object CRC-64/NVME
/// (the one additional checksum this store keeps; others are ignored).
fn takes_crc64nvme(headers: &hyper::HeaderMap) -> bool {
    let is = |name: &str, value: &str| {
        headers
            .get(name)
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(value.as_bytes()))
    };
    is("x-amz-checksum-algorithm", "CRC64NVME")
        && (headers.get("x-amz-checksum-type").is_none()
            || is("x-amz-checksum-type", "FULL_OBJECT"))
}

/// The CRC-64/NVME an S3 client states for a body (`x-amz-checksum-crc64nvme`).
pub(super) fn stated_crc64nvme(headers: &hyper::HeaderMap) -> Result<Option<u64>, OssError> {
    use base64::Engine as _;
    let Some(v) = headers.get("x-amz-checksum-crc64nvme") else {
        return Ok(None);
    };
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(v.as_bytes())
        .map_err(|_| OssError::InvalidDigest)?;
    let bytes: [u8; 8] = bytes.try_into().map_err(|_| OssError::InvalidDigest)?;
    Ok(Some(u64::from_be_bytes(bytes)))
}

/// Whether upload `upload_id` takes CRC-64/NVME.
fn upload_takes_crc64nvme(store: &Arc<Store>, ctx: &Ctx, upload_id: &str) -> bool {
    bucket_uploads(store, ctx, |uploads| {
        uploads.get(upload_id).is_some_and(|u| u.crc64nvme)
    })
}

/// UploadPart. `corrupt` (the `wrong_part_crc` fault): the stored part has
/// its last byte flipped, and its recorded and answered CRC are those of the
/// corrupted bytes.
pub async fn upload_part(
    store: &Arc<Store>,
    ctx: &Ctx,
    req: Request<Incoming>,
    corrupt: bool,
) -> Result<Response<ResponseBody>, OssError> {
    let (parts, body) = req.into_parts();
    let checked = (|| {
        let number = part_number(ctx.target.param("partNumber"))?;
        let upload_id = ctx.target.param("uploadId").unwrap_or("").to_string();
        check_upload(store, ctx, &upload_id)?;
        Ok((
            number,
            upload_id,
            (
                content_md5(&parts.headers)?,
                stated_crc64nvme(&parts.headers)?,
            ),
        ))
    })();
    let (number, upload_id, (content_md5, stated_nvme)) = match checked {
        Ok(v) => v,
        Err(e) => {
            drain(body).await;
            return Err(e);
        }
    };
    let file = store.new_blob();
    let nvme = upload_takes_crc64nvme(store, ctx, &upload_id) || stated_nvme.is_some();
    let mut received = sink::receive_with(
        body,
        file.as_deref(),
        store.cfg.md5_etags || content_md5.is_some(),
        nvme,
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
    if corrupt {
        if let (Some(path), true) = (file.as_deref(), received.size > 0) {
            sink::flip_last_bit(path, received.size)
                .map_err(|e| OssError::InternalError(format!("corrupting part: {e}")))?;
        }
        received.crc64 ^= crc64::last_bit_flip();
        received.nvme = received.nvme.map(|c| c ^ crc64::nvme_last_bit_flip());
    }
    let mut part = new_part(received.size, received.crc64, tag, file.clone());
    part.crc64nvme = received.nvme;
    let etag_value = part.etag.clone();
    // The upload may have been aborted or completed while the body streamed.
    keep_part(store, ctx, upload_id, number, part)?;
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
    let quiet = store.faults.lock().unwrap().faults.quiet_part_checksums;
    if let (Some(nvme), false) = (received.nvme, quiet) {
        resp = resp.header("x-amz-checksum-crc64nvme", crc64::to_base64(nvme));
    }
    Ok(resp.body(body::empty()).expect("valid response"))
}

/// UploadPartCopy: a part copied from an object of the store
/// (`x-oss-copy-source: /BUCKET/KEY`, the key URL-encoded; S3 clients send
/// `x-amz-copy-source*`), a byte range of
/// it when `x-oss-copy-source-range: bytes=FIRST-LAST` is given, and only if
/// its ETag is `x-oss-copy-source-if-match` when that is given. Answers
/// CopyPartResult XML and, as UploadPart does, the part's
/// `x-oss-hash-crc64ecma`. `deny`: the `deny_part_copy` fault.
pub fn upload_part_copy(
    store: &Arc<Store>,
    ctx: &Ctx,
    headers: &header::HeaderMap,
    deny: bool,
) -> Result<Response<ResponseBody>, OssError> {
    let number = part_number(ctx.target.param("partNumber"))?;
    let upload_id = ctx.target.param("uploadId").unwrap_or("").to_string();
    check_upload(store, ctx, &upload_id)?;
    if deny {
        return Err(OssError::AccessDenied(
            "You have no right to access the source object of this copy.".into(),
        ));
    }
    // S3 clients name the same headers x-amz-copy-source*.
    let header = |name: &str| {
        headers
            .get(name)
            .or_else(|| headers.get(name.replacen("x-oss-", "x-amz-", 1)))
            .and_then(|v| v.to_str().ok())
    };
    let invalid = |name: &str, value: &str, message: &str| OssError::InvalidArgument {
        message: message.into(),
        name: name.into(),
        value: value.into(),
    };
    let raw = header("x-oss-copy-source").unwrap_or_default();
    let decoded = percent_encoding::percent_decode_str(raw).decode_utf8_lossy();
    // S3 allows the leading '/' to be left out.
    let (bucket, key) = decoded
        .strip_prefix('/')
        .unwrap_or(&decoded)
        .split_once('/')
        .filter(|(b, k)| !b.is_empty() && !k.is_empty())
        .ok_or_else(|| {
            invalid(
                "x-oss-copy-source",
                raw,
                "x-oss-copy-source must be /BUCKET/KEY.",
            )
        })?;
    if !store.cfg.buckets.iter().any(|b| b == bucket) {
        return Err(OssError::NoSuchBucket {
            bucket: bucket.into(),
        });
    }
    let object = store
        .state
        .lock()
        .unwrap()
        .buckets
        .get(bucket)
        .and_then(|b| b.objects.get(key))
        .cloned()
        .ok_or_else(|| OssError::NoSuchKey { key: key.into() })?;
    if let Some(wanted) = header("x-oss-copy-source-if-match") {
        if !etag::matches(wanted, &object.etag) {
            return Err(OssError::PreconditionFailed {
                condition: "x-oss-copy-source-if-match".into(),
            });
        }
    }
    let (start, end) = match header("x-oss-copy-source-range") {
        None => (0, object.size),
        Some(v) => match range::parse(Some(v), object.size) {
            RangeRequest::Part { start, end } => (start, end + 1),
            _ => {
                return Err(invalid(
                    "x-oss-copy-source-range",
                    v,
                    "The copy range is not within the source object.",
                ))
            }
        },
    };
    let Stored::Disk(segments) = &object.data else {
        return Err(OssError::NotImplemented(
            "This test-bed store runs with the null sink and keeps no bytes to copy; run it \
             with a data directory for UploadPartCopy."
                .into(),
        ));
    };
    let file = store.new_blob();
    let copied = sink::copy_range(segments, start, end, file.as_deref())
        .map_err(|e| OssError::InternalError(format!("copying the source range: {e}")))?;
    let tag = etag::bytes(Some(copied.md5), copied.crc64, end - start);
    let part = new_part(end - start, copied.crc64, tag, file.clone());
    let etag_value = part.etag.clone();
    keep_part(store, ctx, upload_id, number, part)?;
    let mut resp = xml_response(xml::document(&xml::CopyPartResult {
        last_modified: time_format::iso8601(SystemTime::now()),
        etag: etag_value.clone(),
    }));
    // oss2 reads a copied part's ETag and CRC from the headers, as for
    // UploadPart (its upload_part_copy returns a PutObjectResult).
    let h = resp.headers_mut();
    h.insert(header::ETAG, etag_value.parse().expect("a quoted hex ETag"));
    h.insert(
        "x-oss-hash-crc64ecma",
        copied.crc64.to_string().parse().expect("digits"),
    );
    Ok(resp)
}

/// A part received now, its ETag made from `tag`.
fn new_part(size: u64, crc64: u64, tag: [u8; 16], file: Option<std::path::PathBuf>) -> Part {
    Part {
        size,
        crc64,
        etag: etag::quoted(&tag),
        etag_bytes: tag,
        last_modified: SystemTime::now(),
        file,
        crc64nvme: None,
    }
}

/// Records `part` as part `number` of the upload, replacing (and freeing)
/// one uploaded before; an upload that is gone gets its file removed.
fn keep_part(
    store: &Arc<Store>,
    ctx: &Ctx,
    upload_id: String,
    number: u32,
    part: Part,
) -> Result<(), OssError> {
    let file = part.file.clone();
    let replaced = bucket_uploads(store, ctx, |uploads| {
        uploads
            .get_mut(&upload_id)
            .map(|u| u.parts.insert(number, part))
    });
    if replaced.is_some() {
        store.note(|h| h.parts_stored += 1);
    }
    match replaced {
        None => {
            sink::remove(file);
            Err(OssError::NoSuchUpload { upload_id })
        }
        Some(Some(old)) => {
            sink::remove(old.file);
            Ok(())
        }
        Some(None) => Ok(()),
    }
}

/// CompleteMultipartUpload. `wrong_crc` (the `wrong_object_crc` fault): the
/// answered `x-oss-hash-crc64ecma` is the object's xor 1.
pub async fn complete(
    store: &Arc<Store>,
    ctx: &Ctx,
    req: Request<Incoming>,
    wrong_crc: bool,
) -> Result<Response<ResponseBody>, OssError> {
    let upload_id = ctx.target.param("uploadId").unwrap_or("").to_string();
    let guard = Guard::of(req.headers());
    let stated_nvme = stated_crc64nvme(req.headers())?;
    let complete_all = req
        .headers()
        .get("x-oss-complete-all")
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"yes"));
    let body = read_small(req.into_body(), MAX_COMPLETE_BODY).await?;
    let listed = if complete_all {
        None
    } else {
        Some(xml::parse_complete(&body)?)
    };

    let mut state = store.state.lock().unwrap();
    let bucket = state.buckets.get_mut(&ctx.bucket).expect("bucket checked");
    let upload = match bucket.uploads.get(&upload_id) {
        Some(u) if u.key == ctx.key => u,
        _ => return Err(OssError::NoSuchUpload { upload_id }),
    };
    let chosen: Vec<(u32, &Part)> = match &listed {
        None => upload.parts.iter().map(|(n, p)| (*n, p)).collect(),
        Some(list) => select_parts(upload, list)?,
    };
    if chosen.is_empty() {
        return Err(OssError::MalformedXml);
    }
    // Refused, the upload stays (the client aborts it).
    guard.refuse(bucket.objects.contains_key(&ctx.key))?;
    if let Some((n, p)) = chosen[..chosen.len() - 1]
        .iter()
        .find(|(_, p)| p.size < MIN_PART_SIZE)
    {
        return Err(OssError::EntityTooSmall {
            part_number: *n,
            size: p.size,
        });
    }

    let size = chosen.iter().map(|(_, p)| p.size).sum();
    let crc = chosen.iter().fold(crc64::EMPTY, |acc, (_, p)| {
        crc64::combine(acc, p.crc64, p.size)
    });
    // S3's full-object CRC-64/NVME: the parts' combined. One the client
    // states must equal it, or nothing is completed (the upload stays).
    let nvme = upload.crc64nvme.then(|| {
        chosen.iter().fold(0, |acc, (_, p)| {
            crc64::nvme_combine(acc, p.crc64nvme.unwrap_or_default(), p.size)
        })
    });
    if stated_nvme.is_some() && stated_nvme != nvme {
        return Err(OssError::BadDigest);
    }
    let etag_value = etag::multipart(chosen.iter().map(|(_, p)| &p.etag_bytes));
    let data = match chosen[0].1.file {
        Some(_) => Stored::Disk(
            chosen
                .iter()
                .map(|(_, p)| Segment {
                    path: p.file.clone().expect("disk part"),
                    len: p.size,
                })
                .collect(),
        ),
        None => Stored::Null,
    };
    let kept: Vec<u32> = chosen.iter().map(|(n, _)| *n).collect();
    let object = Object {
        size,
        crc64: crc,
        etag: etag_value.clone(),
        parts: Some(kept.len() as u32),
        content_type: upload.content_type.clone(),
        meta: upload.meta.clone(),
        last_modified: SystemTime::now(),
        data,
        crc64nvme: nvme,
    };
    let upload = bucket.uploads.remove(&upload_id).expect("present");
    let unused: Vec<_> = upload
        .parts
        .into_iter()
        .filter(|(n, _)| !kept.contains(n))
        .filter_map(|(_, p)| p.file)
        .collect();
    let old = bucket.objects.insert(ctx.key.clone(), object);
    drop(state);
    store.note(|h| {
        h.uploads_completed += 1;
        h.objects_written += 1;
    });
    sink::remove(unused);
    if let Some(old) = old {
        sink::remove(old.data.files());
    }

    let doc = xml::document(&xml::CompleteResult {
        location: format!("http://{}/{}/{}", ctx.host, ctx.bucket, ctx.key),
        bucket: ctx.bucket.clone(),
        key: ctx.key.clone(),
        etag: etag_value.clone(),
        checksum_crc64nvme: nvme.map(|c| crc64::to_base64(if wrong_crc { c ^ 1 } else { c })),
        checksum_type: nvme.map(|_| "FULL_OBJECT".to_string()),
    });
    let mut resp = xml_response(doc);
    let headers = resp.headers_mut();
    headers.insert(header::ETAG, etag_value.parse().expect("hex etag"));
    headers.insert(
        "x-oss-hash-crc64ecma",
        if wrong_crc { crc ^ 1 } else { crc }.into(),
    );
    Ok(resp)
}

/// The listed parts, checked against what was uploaded: ascending numbers
/// (InvalidPartOrder), each present with its ETag (InvalidPart).
fn select_parts<'u>(
    upload: &'u Upload,
    listed: &[(u32, String)],
) -> Result<Vec<(u32, &'u Part)>, OssError> {
    if listed.windows(2).any(|w| w[0].0 >= w[1].0) {
        return Err(OssError::InvalidPartOrder);
    }
    listed
        .iter()
        .map(|(n, tag)| match upload.parts.get(n) {
            Some(p) if etag::matches(tag, &p.etag) => Ok((*n, p)),
            _ => Err(OssError::InvalidPart { part_number: *n }),
        })
        .collect()
}

pub fn abort(store: &Arc<Store>, ctx: &Ctx) -> Result<Response<ResponseBody>, OssError> {
    let upload_id = ctx.target.param("uploadId").unwrap_or("").to_string();
    check_upload(store, ctx, &upload_id)?;
    let removed = bucket_uploads(store, ctx, |uploads| uploads.remove(&upload_id));
    let Some(upload) = removed else {
        return Err(OssError::NoSuchUpload { upload_id });
    };
    sink::remove(upload.parts.into_values().filter_map(|p| p.file));
    store.note(|h| h.uploads_aborted += 1);
    Ok(Response::builder()
        .status(StatusCode::NO_CONTENT)
        .body(body::empty())
        .expect("valid response"))
}

pub fn list_parts(store: &Arc<Store>, ctx: &Ctx) -> Result<Response<ResponseBody>, OssError> {
    let t = &ctx.target;
    let upload_id = t.param("uploadId").unwrap_or("").to_string();
    let max_parts = page_size(t.param("max-parts"), "max-parts")?;
    let marker: u32 = match t.param("part-number-marker") {
        None | Some("") => 0,
        Some(v) => v.parse().map_err(|_| {
            OssError::argument(
                "part-number-marker",
                v,
                "part-number-marker must be an integer.",
            )
        })?,
    };
    let state = store.state.lock().unwrap();
    let upload = match state.buckets[&ctx.bucket].uploads.get(&upload_id) {
        Some(u) if u.key == ctx.key => u,
        _ => return Err(OssError::NoSuchUpload { upload_id }),
    };
    let mut after = upload.parts.range(marker.saturating_add(1)..);
    let page: Vec<(u32, &Part)> = after
        .by_ref()
        .take(max_parts as usize)
        .map(|(n, p)| (*n, p))
        .collect();
    let truncated = after.next().is_some();
    let doc = xml::document(&xml::ListPartsResult {
        bucket: ctx.bucket.clone(),
        key: ctx.key.clone(),
        upload_id,
        part_number_marker: marker,
        next_part_number_marker: page.last().map_or(marker, |(n, _)| *n),
        max_parts,
        is_truncated: truncated,
        parts: page
            .into_iter()
            .map(|(n, p)| xml::PartEntry {
                part_number: n,
                last_modified: time_format::iso8601(p.last_modified),
                etag: p.etag.clone(),
                hash_crc64ecma: p.crc64.to_string(),
                checksum_crc64nvme: p.crc64nvme.map(crc64::to_base64),
                size: p.size,
            })
            .collect(),
    });
    Ok(xml_response(doc))
}

pub fn list_uploads(store: &Arc<Store>, ctx: &Ctx) -> Result<Response<ResponseBody>, OssError> {
    let t = &ctx.target;
    let max_uploads = page_size(t.param("max-uploads"), "max-uploads")?;
    let prefix = t.param("prefix").unwrap_or("").to_string();
    let key_marker = t.param("key-marker").unwrap_or("").to_string();
    let id_marker = t.param("upload-id-marker").unwrap_or("").to_string();
    let state = store.state.lock().unwrap();
    let mut all: Vec<&Upload> = state.buckets[&ctx.bucket]
        .uploads
        .values()
        .filter(|u| u.key.starts_with(&prefix))
        // After (key-marker, upload-id-marker); without an upload-id-marker,
        // every upload of key-marker itself is skipped.
        .filter(|u| {
            key_marker.is_empty()
                || u.key > key_marker
                || (u.key == key_marker && !id_marker.is_empty() && u.id > id_marker)
        })
        .collect();
    all.sort_by(|a, b| (&a.key, &a.id).cmp(&(&b.key, &b.id)));
    let truncated = all.len() > max_uploads as usize;
    all.truncate(max_uploads as usize);
    let (next_key, next_id) = match (truncated, all.last()) {
        (true, Some(last)) => (last.key.clone(), last.id.clone()),
        _ => (String::new(), String::new()),
    };
    let doc = xml::document(&xml::ListUploadsResult {
        bucket: ctx.bucket.clone(),
        key_marker,
        upload_id_marker: id_marker,
        next_key_marker: next_key,
        next_upload_id_marker: next_id,
        delimiter: t.param("delimiter").unwrap_or("").to_string(),
        prefix,
        max_uploads,
        is_truncated: truncated,
        uploads: all
            .into_iter()
            .map(|u| xml::UploadEntry {
                key: u.key.clone(),
                upload_id: u.id.clone(),
                initiated: time_format::iso8601(u.initiated),
            })
            .collect(),
    });
    Ok(xml_response(doc))
}

fn part_number(value: Option<&str>) -> Result<u32, OssError> {
    let raw = value.unwrap_or("");
    match raw.parse::<u32>() {
        Ok(n) if (1..=MAX_PART_NUMBER).contains(&n) => Ok(n),
        _ => Err(OssError::argument(
            "PartNumber",
            raw,
            "Part number must be an integer between 1 and 10000, inclusive.",
        )),
    }
}

pub(super) fn page_size(value: Option<&str>, name: &str) -> Result<u32, OssError> {
    match value {
        None | Some("") => Ok(MAX_PAGE),
        Some(v) => match v.parse::<u32>() {
            Ok(n) if (1..=MAX_PAGE).contains(&n) => Ok(n),
            _ => Err(OssError::argument(
                name,
                v,
                format!("{name} must be an integer between 1 and 1000."),
            )),
        },
    }
}

/// NoSuchUpload unless `upload_id` is open for this bucket and key.
fn check_upload(store: &Arc<Store>, ctx: &Ctx, upload_id: &str) -> Result<(), OssError> {
    let state = store.state.lock().unwrap();
    match state.buckets[&ctx.bucket].uploads.get(upload_id) {
        Some(u) if u.key == ctx.key => Ok(()),
        _ => Err(OssError::NoSuchUpload {
            upload_id: upload_id.to_string(),
        }),
    }
}

fn bucket_uploads<R>(
    store: &Arc<Store>,
    ctx: &Ctx,
    f: impl FnOnce(&mut BTreeMap<String, Upload>) -> R,
) -> R {
    let mut state = store.state.lock().unwrap();
    f(&mut state
        .buckets
        .get_mut(&ctx.bucket)
        .expect("bucket checked")
        .uploads)
}
