//! Server-side copies: when the source is an object of the target's own
//! store (an `oss://` or `s3://` source, or a URL on the store's endpoint),
//! each part is an UploadPartCopy (`x-oss-copy-source` and
//! `x-oss-copy-source-range`; S3's `x-amz-copy-source*`) and no byte passes
//! through ferry. The store refusing (another region, another account, a
//! server without UploadPartCopy) turns the copy back into a stream of the
//! object's bytes through a presigned GET.

use crate::error::{Error, Result};
use crate::http::{self, Timeouts};
use crate::sign::encode;
use crate::store::{self, Store};
use crate::target::{self, check_key};
use crate::xml;
use crate::{PartCheck, PartResult, PartTask, SourceInfo, StoreKind};
use url::Url;

/// An object of the target's store that a job's source names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreObject {
    pub bucket: String,
    pub key: String,
}

impl StoreObject {
    /// The `x-oss-copy-source` / `x-amz-copy-source` value: `/BUCKET/KEY`,
    /// the key URL-encoded (slashes kept).
    pub fn copy_source(&self) -> String {
        format!("/{}/{}", self.bucket, encode(&self.key).replace("%2F", "/"))
    }

    /// Reads a `copy_source` value back.
    pub fn from_copy_source(s: &str) -> Option<StoreObject> {
        let (bucket, key) = s.strip_prefix('/')?.split_once('/')?;
        let key = percent_encoding::percent_decode_str(key)
            .decode_utf8()
            .ok()?
            .into_owned();
        Some(StoreObject {
            bucket: bucket.to_string(),
            key,
        })
    }
}

/// Whether a source is written as a store location (`oss://`, `s3://`)
/// rather than as an http(s) URL.
pub fn is_store_location(source: &str) -> bool {
    source.starts_with("oss://") || source.starts_with("s3://")
}

/// The store object `source` names, if it names one of `store`'s: an
/// `oss://`/`s3://` location, or an unsigned URL on the store's endpoint
/// (`https://BUCKET.ENDPOINT/KEY` or, path-style, `https://ENDPOINT/BUCKET/KEY`).
/// A URL with a query (a presigned one) is left to be streamed as it is.
pub fn store_object(source: &str, store: &Store) -> Result<Option<StoreObject>> {
    if is_store_location(source) {
        let t = target::parse(source)
            .map_err(|e| Error::invalid(format!("source {source:?}: {}", e.message)))?;
        if t.store != store.kind {
            return Err(Error::invalid(format!(
                "source {source:?} is in another kind of store than the target; copy between \
                 OSS and S3 from an http(s) URL of the source (a presigned one for a private \
                 object)"
            )));
        }
        return Ok(Some(StoreObject {
            bucket: t.bucket,
            key: t.key,
        }));
    }
    let Ok(url) = Url::parse(source) else {
        return Ok(None);
    };
    if url.query().is_some() || !matches!(url.scheme(), "http" | "https") {
        return Ok(None);
    }
    let Some(authority) = target::authority(&url) else {
        return Ok(None);
    };
    // The path as typed (a key's dot segments are part of it).
    let Some(path) = crate::source::parse_source_url(source)
        .ok()
        .and_then(|s| s.url.parse::<::http::Uri>().ok())
        .map(|u| u.path().to_string())
    else {
        return Ok(None);
    };
    let path = percent_encoding::percent_decode_str(path.trim_start_matches('/'))
        .decode_utf8_lossy()
        .into_owned();
    let endpoint = store.endpoint_authority();
    let object = if store.path_style() && authority == endpoint {
        path.split_once('/')
            .map(|(b, k)| (b.to_string(), k.to_string()))
    } else {
        let bucket = authority
            .strip_suffix(&format!(".{endpoint}"))
            .filter(|b| !b.contains('.') || store.kind == StoreKind::S3);
        bucket.map(|b| (b.to_string(), path))
    };
    Ok(object
        .filter(|(b, k)| target::check_bucket(store.kind, b).is_ok() && check_key(k).is_ok())
        .map(|(bucket, key)| StoreObject { bucket, key }))
}

/// What the store says of the source object (a signed HEAD).
pub async fn probe(store: &Store, object: &StoreObject) -> Result<SourceInfo> {
    let source = store.with_bucket(&object.bucket);
    let shown = format!("{}/{}", object.bucket, object.key);
    let response = source.head(&object.key).await?.ok_or_else(|| {
        Error::source(format!(
            "the source object {shown} does not exist in the store: check its bucket and key"
        ))
    })?;
    let size = response
        .header("content-length")
        .and_then(|v| v.trim().parse().ok());
    let info = SourceInfo {
        size,
        etag: response.header("etag").map(str::to_string),
        last_modified: response.header("last-modified").map(str::to_string),
        crc64: source.crc_of(&response),
        ranges: true,
    };
    let _ = response.bytes(0).await;
    if info.size.is_none() {
        return Err(Error::source(format!(
            "the store's HEAD of {shown} gave no size"
        )));
    }
    Ok(info)
}

/// Copies one part inside the store: the task's presigned UploadPartCopy
/// with the headers it was signed with, and no body.
pub async fn copy_part(task: &PartTask, copy_source: &str) -> Result<PartResult> {
    let check = task.check.unwrap_or(PartCheck::Crc64Xz);
    let kind = match check {
        PartCheck::Crc64Xz => StoreKind::Oss,
        PartCheck::Md5Etag | PartCheck::Crc64Nvme => StoreKind::S3,
    };
    let headers = task.upload_headers.clone().unwrap_or_default();
    let what = "UploadPartCopy";
    let response = http::send(
        "PUT",
        &task.upload_url,
        &headers,
        Some(&[]),
        Timeouts::default(),
    )
    .await
    .map_err(|e| store::transport_error(e, what))?;
    if response.status == 412 {
        let _ = response.bytes(64 * 1024).await;
        return Err(Error::source(format!(
            "the source object {copy_source} changed since it was planned (its ETag is no \
             longer {}); run the copy again",
            task.if_match.as_deref().unwrap_or("the planned one")
        )));
    }
    if !(200..300).contains(&response.status) {
        return Err(store::status_error(response, what, kind).await);
    }
    let crc = response
        .header("x-oss-hash-crc64ecma")
        .and_then(crate::crc::parse_header);
    let header_etag = response.header("etag").map(str::to_string);
    let body = response
        .bytes(64 * 1024)
        .await
        .map_err(|e| store::transport_error(e, what))?;
    let text = String::from_utf8_lossy(&body);
    // Some stores answer 200 with an error document for a copy.
    if text.contains("<Error>") {
        return Err(Error::store(format!(
            "{what} failed: {}",
            xml::parse::<xml::ErrorResponse>(&text)
                .map(|d| d.code)
                .unwrap_or_default()
        ))
        .transient());
    }
    let etag = header_etag
        .or_else(|| {
            xml::parse::<xml::CopyPartResult>(&text)
                .ok()
                .map(|r| r.etag)
        })
        .filter(|e| !e.is_empty())
        .ok_or_else(|| Error::store(format!("{what} answered no ETag")))?;
    let md5 = match check {
        PartCheck::Crc64Xz => None,
        // Uploads the store copies into ask for no checksum (plan.rs).
        PartCheck::Md5Etag | PartCheck::Crc64Nvme => {
            let hex = etag.trim_matches('"').to_ascii_lowercase();
            if hex.len() != 32 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(Error::store(format!(
                    "{what} answered ETag {etag}, which is not an MD5, so the copied part \
                     cannot be checked"
                )));
            }
            Some(hex)
        }
    };
    Ok(PartResult {
        part_number: task.part_number,
        length: task.length,
        etag,
        // Filled in from ListParts before completion where the answer has none.
        crc64: crc.unwrap_or(0),
        md5,
        crc64nvme: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Addressing, Job};

    fn store(kind: StoreKind, endpoint: &str, addressing: Option<Addressing>) -> Store {
        std::env::set_var("OSS_ACCESS_KEY_ID", "canary-id");
        std::env::set_var("OSS_ACCESS_KEY_SECRET", "canary-secret-value-0123456789");
        std::env::set_var("AWS_ACCESS_KEY_ID", "canary-id");
        std::env::set_var("AWS_SECRET_ACCESS_KEY", "canary-secret-value-0123456789");
        let job: Job = serde_json::from_value(serde_json::json!({
            "source_url": "http://127.0.0.1:1/x",
            "target_bucket_name": "dst",
            "target_object_name": "k",
            "target_region": "cn-hangzhou",
            "endpoint": endpoint,
        }))
        .unwrap();
        Store::from_job(&Job {
            target_store: Some(kind),
            addressing,
            ..job
        })
        .unwrap()
    }

    fn object(bucket: &str, key: &str) -> Option<StoreObject> {
        Some(StoreObject {
            bucket: bucket.into(),
            key: key.into(),
        })
    }

    #[test]
    fn recognises_sources_in_the_same_store() {
        let oss = store(StoreKind::Oss, "https://oss-cn-hangzhou.aliyuncs.com", None);
        let found = |s: &str| store_object(s, &oss).unwrap();
        assert_eq!(found("oss://src/a/b.bin"), object("src", "a/b.bin"));
        assert_eq!(
            found("https://src.oss-cn-hangzhou.aliyuncs.com/a/b%20c.bin"),
            object("src", "a/b c.bin")
        );
        // Another region, a presigned URL, another host: streamed as given.
        assert_eq!(found("https://src.oss-cn-beijing.aliyuncs.com/a.bin"), None);
        assert_eq!(
            found("https://src.oss-cn-hangzhou.aliyuncs.com/a.bin?Signature=x"),
            None
        );
        assert_eq!(found("https://mirror.example.com/a.bin"), None);
        assert!(store_object("s3://src/a.bin", &oss).is_err());

        let local = store(StoreKind::S3, "http://127.0.0.1:9000", None);
        assert_eq!(
            store_object("http://127.0.0.1:9000/src/dir/a.bin", &local).unwrap(),
            object("src", "dir/a.bin")
        );
        assert_eq!(
            store_object("http://127.0.0.1:9001/src/a.bin", &local).unwrap(),
            None
        );
        let aws = store(StoreKind::S3, "https://s3.us-west-2.amazonaws.com", None);
        assert_eq!(
            store_object("https://logs.example.s3.us-west-2.amazonaws.com/a", &aws).unwrap(),
            object("logs.example", "a")
        );
    }

    #[test]
    fn copy_source_round_trips() {
        let o = StoreObject {
            bucket: "bkt".into(),
            key: "dir/a b+c.bin".into(),
        };
        assert_eq!(o.copy_source(), "/bkt/dir/a%20b%2Bc.bin");
        assert_eq!(StoreObject::from_copy_source(&o.copy_source()), Some(o));
    }
}
