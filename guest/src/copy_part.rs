//! One part: a ranged GET of the source streamed into one UploadPart, with
//! the CRC-64 computed over the bytes as they pass and compared with the
//! store's; or, when the source states its whole CRC-64 and the store
//! answers each part's, not computed at all: the store's CRC is the part's,
//! checked when the parts' CRCs are combined and compared with the source's.

use crate::crc;
use crate::error::{Error, Result};
use crate::http::{self, BodyReader, SpliceError, Timeouts};
use crate::source::{parse_content_range, parse_source_url, source_status, source_transport};
use crate::store;
use crate::target::redact;
use crate::{PartCheck, PartResult, PartTask, StoreKind};
use md5::{Digest as _, Md5};

/// Bytes read from the source per step (and written to the store).
pub const CHUNK: u64 = 1 << 20;

/// Copies one part: streamed, or inside the store when the task says so.
/// Errors name the part; transient ones may be retried.
pub async fn copy_part(task: &PartTask) -> Result<PartResult> {
    if task.length == 0 || task.part_number == 0 || task.part_number > 10_000 {
        return Err(Error::invalid(format!(
            "part task is malformed: part {} of {} bytes",
            task.part_number, task.length
        )));
    }
    let copied = match &task.copy_source {
        Some(source) => crate::server_copy::copy_part(task, source).await,
        None => copy(task).await,
    };
    copied.map_err(|e| e.part(task.part_number))
}

async fn copy(task: &PartTask) -> Result<PartResult> {
    let mut source = fetch_range(task).await?;
    upload(
        &task.upload_url,
        Checks::of(task),
        task.part_number,
        task.length,
        Chunks::Stream(&mut source, &redact(&task.source_url)),
    )
    .await
}

/// What a part's bytes are hashed with on their way: the store's check, and
/// CRC-64/XZ too when the store checks another way but the source offers a
/// CRC-64 to compare the object with.
#[derive(Debug, Clone, Copy)]
pub struct Checks {
    pub store: PartCheck,
    /// Compute the CRC-64/XZ of the bytes in ferry. When false on a store
    /// that answers each part's CRC-64 (OSS), the part's CRC is the store's,
    /// which the completion combines and compares with the source's.
    pub crc64: bool,
}

impl Checks {
    /// The store these checks are for.
    pub fn kind(&self) -> StoreKind {
        match self.store {
            PartCheck::Crc64Xz => StoreKind::Oss,
            PartCheck::Md5Etag | PartCheck::Crc64Nvme => StoreKind::S3,
        }
    }

    /// The checks of a task. A source that states its CRC-64 is not hashed
    /// on OSS: the store's part CRCs, combined, must equal the source's
    /// before completion, which checks every byte end to end. On S3, whose
    /// checksums are another CRC-64 (or MD5), the CRC-64/XZ is computed
    /// only to compare the object with the source's.
    pub fn of(task: &PartTask) -> Checks {
        let store = task.check.unwrap_or(PartCheck::Crc64Xz);
        let source_crc = task.source_crc64 == Some(true);
        Checks {
            store,
            crc64: match store {
                PartCheck::Crc64Xz => !source_crc,
                PartCheck::Md5Etag | PartCheck::Crc64Nvme => source_crc,
            },
        }
    }

    /// The checks that hash a part's CRC-64 in ferry whatever the source
    /// offers: for reading a range again to compare it with the store's.
    fn hashed(task: &PartTask) -> Checks {
        Checks {
            crc64: true,
            ..Checks::of(task)
        }
    }
}

/// The running digests of one part.
struct Digests {
    crc64: Option<crc::Crc64>,
    md5: Option<Md5>,
    nvme: Option<crc::Crc64>,
}

/// What a part's bytes hashed to: CRC-64/XZ (0 when not computed), MD5
/// (hex) and CRC-64/NVME, as the checks asked.
struct Digested {
    crc64: u64,
    md5: Option<String>,
    nvme: Option<u64>,
}

impl Digests {
    fn new(checks: Checks) -> Digests {
        Digests {
            crc64: checks.crc64.then(crc::Crc64::new),
            md5: (checks.store == PartCheck::Md5Etag).then(Md5::new),
            nvme: (checks.store == PartCheck::Crc64Nvme).then(crc::Crc64::nvme),
        }
    }

    /// Nothing hashed here (the host hashes the part).
    fn none() -> Digests {
        Digests {
            crc64: None,
            md5: None,
            nvme: None,
        }
    }

    /// Whether nothing is hashed.
    fn is_empty(&self) -> bool {
        self.crc64.is_none() && self.md5.is_none() && self.nvme.is_none()
    }

    fn write(&mut self, bytes: &[u8]) {
        if let Some(d) = &mut self.crc64 {
            d.update(bytes);
        }
        if let Some(d) = &mut self.md5 {
            d.update(bytes);
        }
        if let Some(d) = &mut self.nvme {
            d.update(bytes);
        }
    }

    fn finish(self) -> Digested {
        Digested {
            crc64: self.crc64.map_or(0, |d| d.finish()),
            md5: self.md5.map(|d| hex::encode(d.finalize())),
            nvme: self.nvme.map(|d| d.finish()),
        }
    }
}

/// Whether the host moves a body between streams itself (`wasi:io`
/// splice): ferry's host says so with `FERRY_SPLICE=1`. Other runtimes'
/// splice may not work across HTTP bodies (jco's does not), so there the
/// bytes are read and written through the component.
fn host_splices() -> bool {
    std::env::var(ferry_rules::host::SPLICE_VAR).is_ok_and(|v| v == "1")
}

/// Whether the host computes the CRC-64s of a body it writes when asked
/// (`x-ferry-body-crc`): ferry's host says so with `FERRY_HOST_CRC=1`, and
/// computes them natively, far cheaper than this component can without
/// carry-less multiply. The bytes are then spliced and never hashed here.
fn host_hashes() -> bool {
    std::env::var(ferry_rules::host::BODY_CRC_VAR).is_ok_and(|v| v == "1")
}

/// What the host is asked to hash for these checks, when it can do all of
/// it (not MD5); `Some("")` when nothing needs hashing.
fn host_hash_ask(checks: Checks) -> Option<String> {
    if checks.store == PartCheck::Md5Etag {
        return None;
    }
    let mut ask = Vec::new();
    if checks.crc64 {
        ask.push("crc64");
    }
    if checks.store == PartCheck::Crc64Nvme {
        ask.push("crc64nvme");
    }
    Some(ask.join(","))
}

/// The CRC-64s the host answered for the body it wrote (see
/// [`host_hashes`]); an error when it did not answer what was asked.
fn host_digest(response: &http::Response, checks: Checks, length: u64) -> Result<Digested> {
    let number = |name: &str| response.header(name).and_then(crc::parse_header);
    let missing = |what: &str| {
        Error::internal(format!(
            "the host did not report the {what} of the part it sent, so the part cannot be \
             verified"
        ))
    };
    use ferry_rules::host::{BYTES, NVME, XZ};
    if number(BYTES) != Some(length) {
        return Err(missing("length"));
    }
    let crc64 = match checks.crc64 {
        true => number(XZ).ok_or_else(|| missing("CRC-64"))?,
        false => 0,
    };
    let nvme = match checks.store {
        PartCheck::Crc64Nvme => Some(number(NVME).ok_or_else(|| missing("CRC-64/NVME"))?),
        _ => None,
    };
    Ok(Digested {
        crc64,
        md5: None,
        nvme,
    })
}

/// Where a part's bytes come from.
pub enum Chunks<'a> {
    /// A response body, streamed (the URL for messages).
    Stream(&'a mut BodyReader, &'a str),
    /// Bytes already in memory (a part of a sequential stream).
    Buffer(&'a [u8]),
}

impl Chunks<'_> {
    async fn next(&mut self, max: u64) -> Result<Option<Vec<u8>>> {
        match self {
            Chunks::Stream(reader, shown) => reader
                .chunk(max)
                .await
                .map_err(|e| source_transport(e, shown)),
            Chunks::Buffer(rest) => {
                if rest.is_empty() {
                    return Ok(None);
                }
                let n = rest.len().min(max as usize);
                let (head, tail) = rest.split_at(n);
                *rest = tail;
                Ok(Some(head.to_vec()))
            }
        }
    }
}

/// The ranged GET of a task: 206 with exactly the asked range, from the
/// planned version of the source.
pub async fn fetch_range(task: &PartTask) -> Result<BodyReader> {
    let source = parse_source_url(&task.source_url)?.with_headers(&task.source_headers);
    let shown = redact(&task.source_url);
    let last = task.offset + task.length - 1;
    let mut headers = vec![("range", format!("bytes={}-{last}", task.offset))];
    if let Some(etag) = &task.if_match {
        headers.push(("if-match", etag.clone()));
    } else if let Some(date) = &task.if_unmodified_since {
        headers.push(("if-unmodified-since", date.clone()));
    }
    let headers = source.headers(&headers);
    let response = http::send("GET", &source.url, &headers, None, Timeouts::default())
        .await
        .map_err(|e| source_transport(e, &shown))?;
    // A server that ignores If-Match still names the version it sends.
    if let (Some(planned), Some(sent)) = (&task.if_match, response.header("etag")) {
        if (200..300).contains(&response.status) && sent != planned {
            return Err(Error::source(format!(
                "the source {shown} changed since it was planned (ETag {sent}, planned {planned}); \
                 run the copy again"
            )));
        }
    }
    match response.status {
        206 => {
            let stated = response.header("content-range");
            // The total first: a range beyond a smaller stated total is
            // the source naming two sizes, not a wrong range.
            let total = stated
                .and_then(|v| v.rsplit_once('/'))
                .and_then(|(_, t)| t.trim().parse::<u64>().ok());
            if let Some(total) = total {
                check_stated_size(task.source_size, total, "its Content-Range", &shown)?;
            }
            let range = stated.and_then(parse_content_range);
            if !matches!(range, Some((first, l, _)) if first == task.offset && l == last) {
                return Err(Error::source(format!(
                    "the source {shown} answered a different range ({}) than asked \
                     (bytes {}-{last})",
                    stated.unwrap_or("none"),
                    task.offset
                )));
            }
        }
        // A whole-object answer is right only if the part is the whole object.
        200 => {
            let sent = response
                .header("content-length")
                .and_then(|v| v.trim().parse::<u64>().ok());
            if let Some(sent) = sent {
                check_stated_size(
                    task.source_size,
                    sent,
                    "the Content-Length of a 200",
                    &shown,
                )?;
            }
            if !(task.offset == 0 && sent == Some(task.length)) {
                return Err(Error::source(format!(
                    "the source {shown} ignored the Range header and sent the whole object"
                )));
            }
        }
        _ => return Err(source_status(&response, &shown)),
    }
    response.reader().map_err(|e| source_transport(e, &shown))
}

/// A size the source states (`stated`, from `header`) must be the size the
/// copy was planned with: a source that names two sizes (a HEAD of one, a
/// `Content-Range` total of another) is not one object, and copying the
/// planned number of bytes would complete a truncated or padded object that
/// no CRC could catch when the source offers none.
pub fn check_stated_size(
    planned: Option<u64>,
    stated: u64,
    header: &str,
    shown: &str,
) -> Result<()> {
    match planned {
        Some(planned) if planned != stated => Err(Error::source(format!(
            "the source {shown} states two sizes: {planned} bytes when the copy was planned, \
             {stated} in {header}; it is changing or misconfigured (a cache or proxy in front \
             of it?), so nothing was completed; run the copy again once it gives one size"
        ))),
        _ => Ok(()),
    }
}

/// Streams `length` bytes from `chunks` into the presigned UploadPart URL,
/// hashing them as they pass (as `checks` asks) and checking the store's
/// answer: its `x-oss-hash-crc64ecma` (OSS), taken as the part's CRC when
/// ferry computed none; its `x-amz-checksum-crc64nvme` when it sends one
/// (S3, an upload that takes CRC-64/NVME: otherwise the object's checksum is
/// checked on completion); or its ETag, the MD5 of the part (other S3).
pub async fn upload(
    upload_url: &str,
    checks: Checks,
    part_number: u32,
    length: u64,
    mut chunks: Chunks<'_>,
) -> Result<PartResult> {
    // A streamed part whose hashes the host can compute natively is
    // spliced, and the host asked for them.
    let host_ask = match &chunks {
        Chunks::Stream(..) if host_splices() && host_hashes() => host_hash_ask(checks),
        _ => None,
    };
    let headers: Vec<(String, String)> = match &host_ask {
        Some(ask) if !ask.is_empty() => vec![(ferry_rules::host::ASK.to_string(), ask.clone())],
        _ => Vec::new(),
    };
    // No Content-Type: a presigned URL signs none, and OSS signs it when sent.
    let (pending, writer) = http::start(
        "PUT",
        upload_url,
        &headers,
        Some(length),
        Timeouts::default(),
    )
    .map_err(|e| store::transport_error(e, "UploadPart"))?;
    let mut writer = writer.expect("a PUT with a length has a body");

    let mut digest = match &host_ask {
        Some(_) => Digests::none(),
        None => Digests::new(checks),
    };
    // Nothing to hash here: the bytes go from the source's body to the
    // store's inside the host, never through this component's memory.
    let splice = digest.is_empty() && host_splices();
    let mut copied = 0u64;
    while copied < length {
        let written = match &mut chunks {
            Chunks::Stream(reader, shown) if splice => {
                match writer.splice_from(reader, length - copied).await {
                    Ok(Some(n)) => {
                        copied += n;
                        Ok(())
                    }
                    Ok(None) => break,
                    Err(SpliceError::Read(e)) => return Err(source_transport(e, shown)),
                    Err(SpliceError::Write(e)) => Err(e),
                }
            }
            _ => {
                let Some(chunk) = chunks.next(CHUNK.min(length - copied)).await? else {
                    break;
                };
                if copied + chunk.len() as u64 > length {
                    return Err(Error::source(
                        "the source sent more bytes than the range holds",
                    ));
                }
                digest.write(&chunk);
                copied += chunk.len() as u64;
                writer.write_all(&chunk).await
            }
        };
        if let Err(e) = written {
            // The store stopped reading: its answer says why.
            drop(writer);
            return Err(match pending.response().await {
                Ok(r) if !(200..300).contains(&r.status) => {
                    store::status_error(r, "UploadPart", checks.kind()).await
                }
                _ => store::transport_error(e, "UploadPart"),
            });
        }
    }
    if copied != length {
        return Err(
            Error::source(format!("the source ended after {copied} of {length} bytes")).transient(),
        );
    }
    writer
        .finish()
        .map_err(|e| store::transport_error(e, "UploadPart"))?;
    let response = pending
        .response()
        .await
        .map_err(|e| store::transport_error(e, "UploadPart"))?;
    if !(200..300).contains(&response.status) {
        return Err(store::status_error(response, "UploadPart", checks.kind()).await);
    }
    let Digested {
        crc64: mut ours,
        md5,
        nvme,
    } = match &host_ask {
        Some(ask) if !ask.is_empty() => host_digest(&response, checks, length)?,
        _ => digest.finish(),
    };
    let etag = response.header("etag").unwrap_or_default().to_string();
    let theirs = response
        .header("x-oss-hash-crc64ecma")
        .and_then(crc::parse_header);
    let their_nvme = response
        .header("x-amz-checksum-crc64nvme")
        .map(str::to_string);
    let _ = response.bytes(64 * 1024).await;
    if etag.is_empty() {
        return Err(Error::store("UploadPart answered without an ETag"));
    }
    match checks.store {
        PartCheck::Crc64Xz => match theirs {
            Some(theirs) if !checks.crc64 => ours = theirs,
            Some(theirs) if theirs != ours => {
                return Err(Error::integrity(format!(
                    "CRC-64 mismatch: ferry read {ours} from the source, the store holds {theirs}"
                )))
            }
            None => return Err(Error::store(
                "UploadPart answered without x-oss-hash-crc64ecma, so the part cannot be verified",
            )),
            Some(_) => {}
        },
        PartCheck::Crc64Nvme => {
            let nvme = nvme.unwrap_or_default();
            if let Some(answered) = their_nvme {
                if crc::parse_base64(&answered) != Some(nvme) {
                    return Err(Error::integrity(format!(
                        "CRC-64/NVME mismatch: ferry read {} from the source, the store holds \
                         {answered}",
                        crc::to_base64(nvme)
                    )));
                }
            }
        }
        PartCheck::Md5Etag => {
            let md5 = md5.as_deref().unwrap_or_default();
            let theirs = etag.trim_matches('"').to_ascii_lowercase();
            if theirs.len() != 32 || !theirs.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(Error::store(format!(
                    "UploadPart answered ETag {etag}, which is not an MD5, so the part cannot be \
                     verified (a store encrypting with SSE-KMS or SSE-C does this)"
                )));
            }
            if theirs != md5 {
                return Err(Error::integrity(format!(
                    "MD5 mismatch: ferry read {md5} from the source, the store's ETag is {theirs}"
                )));
            }
        }
    }
    Ok(PartResult {
        part_number,
        length: copied,
        etag,
        crc64: ours,
        md5,
        crc64nvme: nvme,
    })
}

/// Reads a part's range of the source and returns its CRC-64/XZ, MD5 and
/// CRC-64/NVME (as the task's checks ask), without uploading: used to check
/// the parts a resumed upload already holds.
pub async fn source_digest(task: &PartTask) -> Result<(u64, Option<String>, Option<u64>)> {
    let d = range_digest(task, Checks::of(task)).await?;
    Ok((d.crc64, d.md5, d.nvme))
}

/// Reads a part's range of the source and returns its CRC-64/XZ, computed
/// in ferry whatever the task's checks: to find which parts a store holds
/// wrong when their CRCs do not combine to the source's.
pub async fn source_crc(task: &PartTask) -> Result<u64> {
    Ok(range_digest(task, Checks::hashed(task)).await?.crc64)
}

async fn range_digest(task: &PartTask, checks: Checks) -> Result<Digested> {
    let mut reader = fetch_range(task).await?;
    let shown = redact(&task.source_url);
    let mut digest = Digests::new(checks);
    let mut read = 0u64;
    while let Some(chunk) = reader
        .chunk(CHUNK)
        .await
        .map_err(|e| source_transport(e, &shown))?
    {
        digest.write(&chunk);
        read += chunk.len() as u64;
    }
    if read != task.length {
        return Err(Error::source(format!(
            "the source {shown} ended after {read} of {} bytes",
            task.length
        ))
        .transient());
    }
    Ok(digest.finish())
}
