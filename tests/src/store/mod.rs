//! An OSS-protocol object store on loopback.
//!
//! Path-style addressing (`http://127.0.0.1:PORT/{bucket}/{key}`, what the
//! SDKs use for IP endpoints). Objects: PutObject, GetObject, HeadObject,
//! DeleteObject. Multipart: Initiate, UploadPart, Complete, Abort, ListParts,
//! ListMultipartUploads. Buckets: ListObjectsV2. Every request must be signed (V1 or V4, header or
//! presigned URL; STS tokens checked); responses carry `x-oss-request-id`,
//! OSS ETags and `x-oss-hash-crc64ecma`; errors are OSS error XML.
//!
//! Not OSS: the `/-/` admin read-back routes (see [`admin`]), unauthenticated
//! and for loopback test scripts only.

pub mod admin;
pub mod auth;
pub mod error;
mod etag;
mod list;
mod multipart;
mod object;
pub mod request;
mod service;
pub mod sign_aws;
pub mod sign_v1;
pub mod sign_v4;
mod sink;
mod state;
pub mod xml;

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use crate::faults::Faults;
use crate::server::Background;
use service::Store;

/// Every part but the last must be at least this large (100 KiB).
pub const MIN_PART_SIZE: u64 = 100 * 1024;
/// Part numbers run from 1 to this.
pub const MAX_PART_NUMBER: u32 = 10_000;

/// An access key the store accepts.
#[derive(Clone)]
pub struct Credential {
    pub id: String,
    pub secret: String,
    /// The STS security token that must accompany this (temporary) key.
    pub token: Option<String>,
}

impl fmt::Debug for Credential {
    // Never print secrets, not even in test failure output.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credential")
            .field("id", &self.id)
            .field("secret", &"***")
            .field("token", &self.token.as_ref().map(|_| "***"))
            .finish()
    }
}

/// Where object bytes go.
#[derive(Clone, Debug)]
pub enum Sink {
    /// Files under this directory (created if missing).
    Disk(PathBuf),
    /// Discarded after checksumming: for benchmarks of many GB.
    Null,
}

/// What the store serves.
#[derive(Clone, Debug)]
pub struct StoreConfig {
    /// The region V4 signatures must be scoped to, e.g. `cn-hangzhou`.
    pub region: String,
    /// The buckets that exist; all others are NoSuchBucket.
    pub buckets: Vec<String>,
    /// The keys accepted.
    pub credentials: Vec<Credential>,
    pub sink: Sink,
    /// `true`: ETags are the MD5 of the content, exactly as OSS. `false`:
    /// ETags are derived from CRC and size, saving an MD5 pass (benchmarks).
    pub md5_etags: bool,
}

/// What the store knows about an object.
#[derive(Clone, Debug, PartialEq)]
pub struct ObjectInfo {
    pub size: u64,
    pub crc64: u64,
    /// Quoted, as served.
    pub etag: String,
    /// Number of parts for an object made by multipart upload.
    pub parts: Option<u32>,
}

/// Requests received per operation since the store started, whatever their
/// outcome (refused, faulted, cut or answered). The operation is judged from
/// method and query alone, before authentication.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StoreCounts {
    pub initiate: u64,
    pub upload_part: u64,
    pub upload_part_copy: u64,
    pub complete: u64,
    pub abort: u64,
    pub list_parts: u64,
    pub list_uploads: u64,
    pub put_object: u64,
    pub get_object: u64,
    pub head_object: u64,
    pub delete_object: u64,
    /// Anything else (ListBuckets, unsupported bucket or object operations).
    pub other: u64,
    /// The `/-/` admin read-back routes.
    pub admin: u64,
}

/// The changes the store made since it started, counted as they happened
/// (refused and faulted requests change nothing): what a test asks to tell
/// "nothing was ever created" from "created, then cleaned up".
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StoreHistory {
    /// Multipart uploads initiated.
    pub uploads_created: u64,
    /// Parts stored (UploadPart and UploadPartCopy, replacements included).
    pub parts_stored: u64,
    /// Uploads completed into an object.
    pub uploads_completed: u64,
    /// Uploads aborted.
    pub uploads_aborted: u64,
    /// Objects written (PutObject and CompleteMultipartUpload).
    pub objects_written: u64,
    /// Objects deleted (DeleteObject of an object that existed).
    pub objects_deleted: u64,
}

/// A running store; dropping it stops it (files of a Disk sink stay).
pub struct StoreServer {
    store: Arc<Store>,
    background: Background,
}

impl StoreServer {
    /// Starts on `127.0.0.1` with an ephemeral port.
    pub fn start(cfg: StoreConfig) -> std::io::Result<Self> {
        Self::start_on(SocketAddr::from(([127, 0, 0, 1], 0)), cfg)
    }

    /// Starts on `addr`.
    pub fn start_on(addr: SocketAddr, cfg: StoreConfig) -> std::io::Result<Self> {
        let store = Arc::new(Store::new(cfg)?);
        let background = Background::start("ferry-store", addr, store.clone())?;
        Ok(Self { store, background })
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.background.addr()
    }

    /// `http://127.0.0.1:PORT`, the endpoint to give an SDK.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr())
    }

    /// The object `bucket/key`, if it exists.
    pub fn object(&self, bucket: &str, key: &str) -> Option<ObjectInfo> {
        self.store.object_info(bucket, key)
    }

    /// All bytes of `bucket/key` (Disk sink only; `None` otherwise).
    pub fn read_object(&self, bucket: &str, key: &str) -> Option<Vec<u8>> {
        self.store.read_object(bucket, key)
    }

    /// The open multipart uploads of `bucket`, as `(key, upload id)`.
    pub fn open_uploads(&self, bucket: &str) -> Vec<(String, String)> {
        self.store.open_uploads(bucket)
    }

    /// Parts the open uploads of `bucket` hold, all told.
    pub fn held_parts(&self, bucket: &str) -> usize {
        self.store.held_parts(bucket)
    }

    /// Requests answered so far (including refused and admin ones).
    pub fn requests(&self) -> u64 {
        self.store.requests()
    }

    /// Requests received per operation so far.
    pub fn counts(&self) -> StoreCounts {
        self.store.counts()
    }

    /// The changes made so far.
    pub fn history(&self) -> StoreHistory {
        self.store.history()
    }

    /// Replaces the faults to inject from the next request on, and re-arms
    /// their counts (see [`crate::faults`]).
    pub fn set_faults(&self, faults: Faults) {
        self.store.set_faults(faults);
    }
}
