//! The store's records: objects, uploads and their parts, per bucket.
//! Bytes live in the sink; these records only point at them.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::time::SystemTime;

/// Where the bytes of an object or part are.
#[derive(Clone, Debug)]
pub enum Stored {
    /// Files to concatenate, in order (a multipart object keeps its parts'
    /// files rather than copying gigabytes).
    Disk(Vec<Segment>),
    /// Discarded; only size and checksums were kept.
    Null,
}

impl Stored {
    /// The files behind this data (none for the null sink).
    pub fn files(&self) -> Vec<PathBuf> {
        match self {
            Stored::Disk(segments) => segments.iter().map(|s| s.path.clone()).collect(),
            Stored::Null => Vec::new(),
        }
    }
}

/// One file of stored bytes.
#[derive(Clone, Debug)]
pub struct Segment {
    pub path: PathBuf,
    pub len: u64,
}

/// A complete object.
#[derive(Clone, Debug)]
pub struct Object {
    pub size: u64,
    pub crc64: u64,
    /// Quoted, as sent in `ETag`.
    pub etag: String,
    /// Number of parts for a multipart object.
    pub parts: Option<u32>,
    pub content_type: String,
    /// `x-oss-meta-*` headers, names lowercase.
    pub meta: Vec<(String, String)>,
    pub last_modified: SystemTime,
    pub data: Stored,
    /// S3's full-object CRC-64/NVME, for an object completed from an upload
    /// that took it.
    pub crc64nvme: Option<u64>,
}

/// An open multipart upload.
#[derive(Clone, Debug)]
pub struct Upload {
    pub key: String,
    pub id: String,
    pub initiated: SystemTime,
    pub content_type: String,
    pub meta: Vec<(String, String)>,
    pub parts: BTreeMap<u32, Part>,
    /// The upload takes S3's CRC-64/NVME (`x-amz-checksum-algorithm`).
    pub crc64nvme: bool,
}

/// One uploaded part.
#[derive(Clone, Debug)]
pub struct Part {
    pub size: u64,
    pub crc64: u64,
    /// Quoted uppercase hex, as sent in `ETag`.
    pub etag: String,
    /// The 16 bytes behind the ETag, hashed into the multipart ETag.
    pub etag_bytes: [u8; 16],
    pub last_modified: SystemTime,
    /// The part's file (Disk sink only).
    pub file: Option<PathBuf>,
    /// The part's CRC-64/NVME, for an upload that takes it.
    pub crc64nvme: Option<u64>,
}

/// Records of one bucket. Uploads are keyed by upload id (unique store-wide).
#[derive(Debug, Default)]
pub struct BucketState {
    pub objects: BTreeMap<String, Object>,
    pub uploads: BTreeMap<String, Upload>,
}

/// Records of all buckets.
#[derive(Debug, Default)]
pub struct State {
    pub buckets: HashMap<String, BucketState>,
}
