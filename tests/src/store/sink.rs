//! Where uploaded bytes go: files on disk, or nowhere. Either way every byte
//! passes through CRC-64 (and MD5 when asked), so the null sink still knows
//! each part's size and checksum.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use md5::{Digest, Md5};

use super::error::OssError;
use super::state::Segment;
use crate::body::ChannelBody;

/// Disk writes are batched to about this size.
const WRITE_BATCH: usize = 1 << 20;
/// Disk reads go out in chunks of this size.
const READ_CHUNK: usize = 256 << 10;

/// What a received body turned out to be.
#[derive(Debug)]
pub struct Received {
    pub size: u64,
    pub crc64: u64,
    pub md5: Option<[u8; 16]>,
    /// CRC-64/NVME, when asked (an S3 upload that takes it).
    pub nvme: Option<u64>,
}

/// Streams `body` into `file` (or nowhere), checksumming as it goes (MD5
/// when `want_md5`, CRC-64/NVME when `want_nvme`). On any error the partial
/// file is removed.
pub async fn receive_with(
    body: Incoming,
    file: Option<&Path>,
    want_md5: bool,
    want_nvme: bool,
) -> Result<Received, OssError> {
    let result = receive_inner(body, file, want_md5, want_nvme).await;
    if result.is_err() {
        if let Some(path) = file {
            let _ = std::fs::remove_file(path);
        }
    }
    result
}

async fn receive_inner(
    mut body: Incoming,
    path: Option<&Path>,
    want_md5: bool,
    want_nvme: bool,
) -> Result<Received, OssError> {
    let internal =
        |what: &str, e: &dyn std::fmt::Display| OssError::InternalError(format!("{what}: {e}"));
    let mut file = match path {
        Some(p) => Some(File::create(p).map_err(|e| internal("cannot create part file", &e))?),
        None => None,
    };
    let mut crc = crc64fast::Digest::new();
    let mut md5 = want_md5.then(Md5::new);
    let mut nvme = want_nvme.then(|| crc_fast::Digest::new(crc_fast::CrcAlgorithm::Crc64Nvme));
    let mut size = 0u64;
    let mut batch: Vec<u8> = Vec::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| internal("request body", &e))?;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        crc.write(&data);
        if let Some(m) = md5.as_mut() {
            m.update(&data);
        }
        if let Some(n) = nvme.as_mut() {
            n.update(&data);
        }
        size += data.len() as u64;
        if let Some(f) = file.as_mut() {
            batch.extend_from_slice(&data);
            if batch.len() >= WRITE_BATCH {
                // Page-cache writes are quick, but keep them off the
                // scheduler's books all the same.
                tokio::task::block_in_place(|| f.write_all(&batch))
                    .map_err(|e| internal("write", &e))?;
                batch.clear();
            }
        }
    }
    if let Some(f) = file.as_mut() {
        tokio::task::block_in_place(|| f.write_all(&batch)).map_err(|e| internal("write", &e))?;
    }
    Ok(Received {
        size,
        crc64: crc.sum64(),
        md5: md5.map(|m| m.finalize().into()),
        nvme: nvme.map(|n| n.finalize()),
    })
}

/// Opens the files of an object now, so a concurrent overwrite or delete
/// (which unlinks them) cannot cut a download short.
pub fn open(segments: &[Segment]) -> io::Result<Vec<(File, u64)>> {
    segments
        .iter()
        .map(|s| Ok((File::open(&s.path)?, s.len)))
        .collect()
}

/// Streams bytes `[start, end)` of the concatenation of `files`.
pub fn stream(files: Vec<(File, u64)>, start: u64, end: u64) -> ChannelBody {
    let (tx, body) = ChannelBody::new(end - start);
    tokio::task::spawn_blocking(move || {
        let mut seg_start = 0u64;
        for (mut file, len) in files {
            let seg_end = seg_start + len;
            if seg_end > start && seg_start < end {
                let from = start.max(seg_start) - seg_start;
                let mut left = end.min(seg_end) - seg_start - from;
                if let Err(e) = file.seek(SeekFrom::Start(from)) {
                    let _ = tx.blocking_send(Err(e));
                    return;
                }
                while left > 0 {
                    let mut buf = vec![0u8; left.min(READ_CHUNK as u64) as usize];
                    if let Err(e) = file.read_exact(&mut buf) {
                        let _ = tx.blocking_send(Err(e));
                        return;
                    }
                    left -= buf.len() as u64;
                    if tx.blocking_send(Ok(Bytes::from(buf))).is_err() {
                        return; // the client went away
                    }
                }
            }
            seg_start = seg_end;
        }
    });
    body
}

/// What a server-side copy wrote.
pub struct Copied {
    pub crc64: u64,
    pub md5: [u8; 16],
}

/// Copies bytes `[start, end)` of an object's segments into `file`,
/// checksumming them (UploadPartCopy).
pub fn copy_range(
    segments: &[Segment],
    start: u64,
    end: u64,
    file: Option<&Path>,
) -> io::Result<Copied> {
    let mut out = match file {
        Some(p) => Some(File::create(p)?),
        None => None,
    };
    let mut crc = crc64fast::Digest::new();
    let mut md5 = Md5::new();
    let mut seg_start = 0u64;
    for (mut f, len) in open(segments)? {
        let seg_end = seg_start + len;
        if seg_end > start && seg_start < end {
            let from = start.max(seg_start) - seg_start;
            let mut left = end.min(seg_end) - seg_start - from;
            f.seek(SeekFrom::Start(from))?;
            let mut buf = vec![0u8; READ_CHUNK];
            while left > 0 {
                let n = (left as usize).min(READ_CHUNK);
                f.read_exact(&mut buf[..n])?;
                crc.write(&buf[..n]);
                md5.update(&buf[..n]);
                if let Some(o) = out.as_mut() {
                    o.write_all(&buf[..n])?;
                }
                left -= n as u64;
            }
        }
        seg_start = seg_end;
    }
    Ok(Copied {
        crc64: crc.sum64(),
        md5: md5.finalize().into(),
    })
}

/// All bytes of `segments`, for tests on small objects.
pub fn read_all(segments: &[Segment]) -> io::Result<Vec<u8>> {
    let mut out = Vec::new();
    for (mut file, _) in open(segments)? {
        file.read_to_end(&mut out)?;
    }
    Ok(out)
}

/// Xors the last byte of a `len`-byte file with 1 (the `wrong_part_crc`
/// fault).
pub fn flip_last_bit(path: &Path, len: u64) -> io::Result<()> {
    let mut f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)?;
    let mut byte = [0u8];
    f.seek(SeekFrom::Start(len - 1))?;
    f.read_exact(&mut byte)?;
    byte[0] ^= 1;
    f.seek(SeekFrom::Start(len - 1))?;
    f.write_all(&byte)
}

/// Removes files no record points at any more.
pub fn remove(files: impl IntoIterator<Item = PathBuf>) {
    for f in files {
        let _ = std::fs::remove_file(f);
    }
}
