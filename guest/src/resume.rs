//! Resuming a kept upload: find it (by id, or the newest upload of the key),
//! list the parts it holds (all pages of ListParts), and keep those that
//! match the plan. A held part counts only if its size is the planned size
//! and its CRC-64 is known: checked against the source's own bytes (a ranged
//! read, no upload) when the source offers no whole-object CRC, and through
//! the combined CRC before completion when it does.

use crate::copy_part::source_digest;
use crate::crc;
use crate::error::{Error, Result};
use crate::plan::{choose_part_size, sequential_reason, DEFAULT_PARALLEL};
use crate::presign::part_task;
use crate::retry::RetryPolicy;
use crate::source::probe;
use crate::store::{min_part_size, Store};
use crate::target::redact;
use crate::xml::ListedPart;
use crate::{Job, PartCheck, PartResult, Plan};
use futures::stream::{FuturesUnordered, StreamExt};
use std::collections::BTreeMap;

/// The plan of a resumed upload and the parts it already holds, by number.
pub async fn prepare(
    job: &Job,
    store: &Store,
    upload_id: &str,
) -> Result<(Plan, BTreeMap<u32, PartResult>)> {
    let key = &job.target_object_name;
    if crate::server_copy::store_object(&job.source_url, store)?.is_some() {
        return Err(Error::invalid(
            "a copy from an object of the same store needs no --resume: the store copies the \
             parts itself, so run it again without --resume (and abort the kept upload)",
        ));
    }
    let (source, _) = RetryPolicy::from_job(job)
        .run(|| probe(&job.source_url), |_, _| {})
        .await?;
    if let Some(why) = sequential_reason(&source) {
        return Err(Error::invalid(format!(
            "cannot resume: {why}; copy it again without --resume"
        )));
    }
    let size = source.size.unwrap_or(0);
    let upload_id = if upload_id.is_empty() {
        store.newest_upload(key).await?.ok_or_else(|| {
            Error::invalid(format!(
                "no upload of {key} to resume: nothing was kept (run without --resume)"
            ))
        })?
    } else {
        upload_id.to_string()
    };
    let listed = store.list_parts(key, &upload_id).await?.ok_or_else(|| {
        Error::invalid(format!(
            "upload {upload_id} does not exist (it was completed or aborted); run without --resume"
        ))
    })?;
    let part_size = resumed_part_size(min_part_size(store.kind), size, job.part_size, &listed)?;
    let part_count = u32::try_from(size.div_ceil(part_size)).expect("at most 10,000 parts");
    // An S3 upload that took CRC-64/NVME lists each part's.
    let check = if listed.iter().any(|p| p.checksum_crc64nvme.is_some()) {
        PartCheck::Crc64Nvme
    } else {
        store.part_check()
    };
    let plan = Plan {
        source,
        store_source: None,
        server_side: false,
        upload_id: Some(upload_id),
        part_size,
        part_count,
        check: Some(check),
    };
    let mut held: BTreeMap<u32, PartResult> = listed
        .into_iter()
        .filter_map(|p| usable(&plan, check, p))
        .map(|p| (p.part_number, p))
        .collect();
    // An MD5 ETag or a CRC-64/NVME says nothing of the source until the
    // source's bytes are hashed; a CRC-64/XZ is checked through the
    // object's CRC when the source offers one.
    if plan.source.crc64.is_none() || check != PartCheck::Crc64Xz {
        held = check_against_source(job, store, &plan, held).await?;
    }
    Ok((plan, held))
}

/// The part size of the kept upload: every held part but the last is full,
/// so the largest held part is the part size (unless asked for explicitly).
fn resumed_part_size(
    min: u64,
    size: u64,
    requested: Option<u64>,
    listed: &[ListedPart],
) -> Result<u64> {
    let largest = listed.iter().map(|p| p.size).max();
    match (requested, largest) {
        (Some(p), Some(l)) if l > p => Err(Error::invalid(format!(
            "the kept upload has parts of {l} bytes, larger than --part-size {p}; run with \
             --part-size {l} or without it"
        ))),
        (Some(p), _) => choose_part_size(min, size, Some(p)),
        (None, Some(l))
            if choose_part_size(min, size, Some(l)).is_ok() && (l < size || listed.len() == 1) =>
        {
            Ok(l)
        }
        _ => choose_part_size(min, size, None),
    }
}

/// A listed part as a result, if it has the planned size and the store's
/// check of it (a CRC-64 on OSS, an MD5 ETag on S3).
fn usable(plan: &Plan, check: PartCheck, part: ListedPart) -> Option<PartResult> {
    let size = plan.source.size.unwrap_or(0);
    let n = part.part_number;
    if n == 0 || n > plan.part_count {
        return None;
    }
    let offset = u64::from(n - 1) * plan.part_size;
    let expected = plan.part_size.min(size - offset);
    let (crc64, md5, crc64nvme) = match check {
        PartCheck::Crc64Xz => (
            part.hash_crc64ecma.as_deref().and_then(crc::parse_header)?,
            None,
            None,
        ),
        PartCheck::Md5Etag => {
            let md5 = part.etag.trim_matches('"').to_ascii_lowercase();
            let hex = md5.len() == 32 && md5.bytes().all(|b| b.is_ascii_hexdigit());
            (0, Some(Some(md5).filter(|_| hex)?), None)
        }
        PartCheck::Crc64Nvme => (
            0,
            None,
            Some(
                part.checksum_crc64nvme
                    .as_deref()
                    .and_then(crc::parse_base64)?,
            ),
        ),
    };
    (part.size == expected).then_some(PartResult {
        part_number: n,
        length: part.size,
        etag: part.etag,
        crc64,
        md5,
        crc64nvme,
    })
}

/// Reads each held part's range from the source and keeps the parts whose
/// CRC-64 (OSS) or MD5 (S3) matches what the store holds; the CRC-64 of a
/// kept S3 part is filled in from the source's bytes.
async fn check_against_source(
    job: &Job,
    store: &Store,
    plan: &Plan,
    held: BTreeMap<u32, PartResult>,
) -> Result<BTreeMap<u32, PartResult>> {
    let parallel = job.parallel.unwrap_or(DEFAULT_PARALLEL).max(1) as usize;
    let mut pending = held.into_values();
    let mut in_flight = FuturesUnordered::new();
    let mut kept = BTreeMap::new();
    loop {
        while in_flight.len() < parallel {
            let Some(part) = pending.next() else { break };
            let task = part_task(job, store, plan, part.part_number)?;
            in_flight.push(async move { (source_digest(&task).await, part) });
        }
        match in_flight.next().await {
            None => break,
            Some((Ok((crc, md5, nvme)), mut part))
                if match (&part.md5, part.crc64nvme) {
                    (Some(_), _) => md5 == part.md5,
                    (None, Some(_)) => nvme == part.crc64nvme,
                    (None, None) => crc == part.crc64,
                } =>
            {
                part.crc64 = crc;
                kept.insert(part.part_number, part);
            }
            // A part that differs (or cannot be read now) is copied again.
            Some((Ok(_), _)) => {}
            Some((Err(e), _)) if e.transient => {}
            Some((Err(e), part)) => {
                return Err(e.part(part.part_number).with_context(&format!(
                    "checking the kept parts against {}",
                    redact(&job.source_url)
                )))
            }
        }
    }
    Ok(kept)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn part(n: u32, size: u64) -> ListedPart {
        ListedPart {
            part_number: n,
            etag: "\"E\"".into(),
            size,
            hash_crc64ecma: Some("1".into()),
            checksum_crc64nvme: None,
        }
    }

    #[test]
    fn part_size_is_read_from_held_parts() {
        let mib = 1 << 20;
        assert_eq!(
            resumed_part_size(
                100 << 10,
                20 * mib,
                None,
                &[part(1, 8 * mib), part(3, 4 * mib)]
            )
            .unwrap(),
            8 * mib
        );
        assert_eq!(
            resumed_part_size(100 << 10, 20 * mib, None, &[]).unwrap(),
            6 * mib
        );
        assert!(
            resumed_part_size(100 << 10, 20 * mib, Some(2 * mib), &[part(1, 8 * mib)]).is_err()
        );
        assert_eq!(
            resumed_part_size(100 << 10, 20 * mib, Some(8 * mib), &[part(2, 8 * mib)]).unwrap(),
            8 * mib
        );
    }
}
