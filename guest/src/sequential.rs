//! The slow path, for sources that serve no byte ranges or do not say their
//! size: one GET streamed from the start, cut into parts as the bytes
//! arrive, each part held in memory (one part at a time, so memory stays
//! bounded by the part size) so that a failed UploadPart can be retried. A
//! broken source stream is read again from the start, skipping the parts
//! already uploaded.

use crate::copy_part::{check_stated_size, upload, Checks, Chunks, CHUNK};
use crate::error::{Error, Result};
use crate::events::Sink;
use crate::http::{self, Timeouts};
use crate::retry::RetryPolicy;
use crate::source::{headers_for, parse_source_url, source_status, source_transport};
use crate::store::Store;
use crate::target::redact;
use crate::{Job, PartResult, Plan};

/// Copies the whole source as one stream. Returns the parts and the number
/// of retries (of parts and of the stream).
pub async fn copy(
    job: &Job,
    store: &Store,
    plan: &Plan,
    policy: &RetryPolicy,
    sink: &mut Sink,
) -> Result<(Vec<PartResult>, u32)> {
    let upload_id = plan
        .upload_id
        .as_deref()
        .ok_or_else(|| Error::internal("a sequential copy needs a multipart upload"))?;
    let mut parts: Vec<PartResult> = Vec::new();
    let mut done_bytes = 0u64;
    let mut retries = 0u32;
    let mut stream_attempt = 1u32;
    loop {
        match stream_once(
            job,
            store,
            plan,
            upload_id,
            policy,
            &mut parts,
            &mut done_bytes,
            &mut retries,
            sink,
        )
        .await
        {
            Ok(()) => return Ok((parts, retries)),
            Err(e) if e.transient && stream_attempt < policy.attempts => {
                stream_attempt += 1;
                retries += 1;
                sink.retry(parts.len() as u32 + 1, stream_attempt, &e.message);
            }
            Err(e) => return Err(e),
        }
    }
}

/// One pass over the source stream, from byte 0; parts already in `parts`
/// are skipped.
async fn stream_once(
    job: &Job,
    store: &Store,
    plan: &Plan,
    upload_id: &str,
    policy: &RetryPolicy,
    parts: &mut Vec<PartResult>,
    done_bytes: &mut u64,
    retries: &mut u32,
    sink: &mut Sink,
) -> Result<()> {
    let url = parse_source_url(&job.source_url)?
        .with_headers(&headers_for(&job.source_url, &job.source_headers));
    let shown = redact(&job.source_url);
    let mut headers = Vec::new();
    if let Some(etag) = &plan.source.etag {
        headers.push(("if-match", etag.clone()));
    } else if let Some(date) = &plan.source.last_modified {
        headers.push(("if-unmodified-since", date.clone()));
    }
    let headers = url.headers(&headers);
    let response = http::send("GET", &url.url, &headers, None, Timeouts::default())
        .await
        .map_err(|e| source_transport(e, &shown))?;
    if response.status != 200 {
        return Err(source_status(&response, &shown));
    }
    if let Some(sent) = response
        .header("content-length")
        .and_then(|v| v.trim().parse::<u64>().ok())
    {
        check_stated_size(
            plan.source.size,
            sent,
            "the Content-Length of a 200",
            &shown,
        )?;
    }
    let mut reader = response.reader().map_err(|e| source_transport(e, &shown))?;
    let checks = Checks {
        store: crate::presign::plan_check(store, plan),
        crc64: true,
    };
    let mut skip = *done_bytes;
    let mut buffer: Vec<u8> = Vec::with_capacity(plan.part_size as usize);
    let mut ended = false;
    while !ended {
        // Fill one part, or what remains of the stream.
        buffer.clear();
        while (buffer.len() as u64) < plan.part_size {
            let want = CHUNK.min(plan.part_size - buffer.len() as u64);
            match reader
                .chunk(want)
                .await
                .map_err(|e| source_transport(e, &shown))?
            {
                Some(chunk) if skip > 0 => {
                    // Bytes of parts uploaded before the stream broke.
                    let drop_n = (skip as usize).min(chunk.len());
                    skip -= drop_n as u64;
                    buffer.extend_from_slice(&chunk[drop_n..]);
                }
                Some(chunk) => buffer.extend_from_slice(&chunk),
                None => {
                    ended = true;
                    break;
                }
            }
        }
        if skip > 0 {
            return Err(Error::source(format!(
                "the source {shown} is shorter than on the previous read; it changed, run the \
                 copy again"
            )));
        }
        if buffer.is_empty() {
            break;
        }
        let part_number = parts.len() as u32 + 1;
        if part_number > 10_000 {
            return Err(Error::invalid(format!(
                "the source is larger than 10,000 parts of {} bytes; choose a larger --part-size",
                plan.part_size
            )));
        }
        let key = &job.target_object_name;
        let (part, tries) = policy
            .run(
                || {
                    let url = store.presign_upload_part(key, upload_id, part_number, 3600);
                    let data = buffer.as_slice();
                    async move {
                        upload(
                            &url,
                            checks,
                            part_number,
                            data.len() as u64,
                            Chunks::Buffer(data),
                        )
                        .await
                    }
                },
                |attempt, e| sink.retry(part_number, attempt, &e.message),
            )
            .await
            .map_err(|e| e.part(part_number))?;
        *retries += tries;
        *done_bytes += part.length;
        parts.push(part);
        sink.part_done(
            part_number,
            buffer.len() as u64,
            parts.len() as u32,
            *done_bytes,
            plan,
        );
    }
    if let Some(size) = plan.source.size {
        if *done_bytes != size {
            return Err(Error::source(format!(
                "the source {shown} sent {} bytes but announced {size}",
                *done_bytes
            ))
            .transient());
        }
    }
    Ok(())
}
