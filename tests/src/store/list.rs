//! ListObjectsV2 (`GET /{bucket}?list-type=2`): the bucket's complete
//! objects in key order, paged by `max-keys` and `continuation-token`, from
//! `prefix` and after `start-after`; `encoding-type=url` percent-encodes keys
//! and tokens, as oss2 asks. No `delimiter` (the tests list whole buckets).

use std::sync::Arc;

use hyper::Response;
use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};

use super::error::OssError;
use super::multipart::page_size;
use super::service::{xml_response, Ctx, Store};
use super::xml;
use crate::body::ResponseBody;
use crate::time_format;

pub fn list_objects_v2(store: &Arc<Store>, ctx: &Ctx) -> Result<Response<ResponseBody>, OssError> {
    let t = &ctx.target;
    if t.param("delimiter").is_some_and(|d| !d.is_empty()) {
        return Err(OssError::NotImplemented(
            "ListObjectsV2 with a delimiter is not supported by the ferry test bed.".into(),
        ));
    }
    let max_keys = page_size(t.param("max-keys"), "max-keys")?;
    let prefix = t.param("prefix").unwrap_or("").to_string();
    let start_after = t.param("start-after").unwrap_or("").to_string();
    // The token is the last key of the previous page.
    let token = t.param("continuation-token").unwrap_or("").to_string();
    let url = t.param("encoding-type") == Some("url");
    let encode = |s: &str| {
        if url {
            utf8_percent_encode(s, NON_ALPHANUMERIC).to_string()
        } else {
            s.to_string()
        }
    };
    let after = token.as_str().max(start_after.as_str()).to_string();
    let state = store.state.lock().unwrap();
    let mut listed: Vec<_> = state.buckets[&ctx.bucket]
        .objects
        .range::<String, _>((
            std::ops::Bound::Excluded(&after),
            std::ops::Bound::Unbounded,
        ))
        .filter(|(key, _)| key.starts_with(&prefix))
        .take(max_keys as usize + 1)
        .collect();
    let truncated = listed.len() > max_keys as usize;
    listed.truncate(max_keys as usize);
    let next = match (truncated, listed.last()) {
        (true, Some((key, _))) => encode(key),
        _ => String::new(),
    };
    let doc = xml::document(&xml::ListObjectsV2Result {
        name: ctx.bucket.clone(),
        prefix: encode(&prefix),
        start_after: encode(&start_after),
        continuation_token: encode(&token),
        max_keys,
        encoding_type: if url { "url".into() } else { String::new() },
        is_truncated: truncated,
        next_continuation_token: next,
        key_count: listed.len() as u32,
        contents: listed
            .into_iter()
            .map(|(key, o)| xml::ObjectEntry {
                key: encode(key),
                last_modified: time_format::iso8601(o.last_modified),
                etag: o.etag.clone(),
                kind: if o.parts.is_some() {
                    "Multipart".into()
                } else {
                    "Normal".into()
                },
                size: o.size,
                storage_class: "Standard".into(),
            })
            .collect(),
    });
    Ok(xml_response(doc))
}
