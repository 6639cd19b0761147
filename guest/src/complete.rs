//! Completion: check that every part is there, combine the part CRCs into
//! the object's CRC, compare it with the source's before completing (so a
//! wrong object is never completed) and with the store's after.

use crate::crc;
use crate::error::{Error, Result};
use crate::oss::Store;
use crate::retry::RetryPolicy;
use crate::{Job, PartResult, Plan, Report};

/// Completes the upload of `plan` from `parts` (in any order). On a CRC
/// mismatch before completion the upload is aborted; after completion the
/// wrong object is deleted.
pub async fn complete(
    job: &Job,
    plan: &Plan,
    mut parts: Vec<PartResult>,
    retries: u32,
    reused_parts: u32,
) -> Result<Report> {
    let store = Store::from_job(job)?;
    let key = &job.target_object_name;
    let size = plan.source.size.unwrap_or(0);
    let Some(upload_id) = &plan.upload_id else {
        let stored = store.put_empty(key).await?;
        if let Some(crc) = stored.crc64.filter(|&c| c != 0) {
            let _ = store.delete(key).await;
            return Err(Error::integrity(format!(
                "the store reports CRC-64 {crc} for an empty object (expected 0); the object was deleted"
            )));
        }
        return Ok(Report {
            size: 0,
            parts: 0,
            crc64: 0,
            store_crc64: 0,
            source_crc64: plan.source.crc64,
            etag: stored.etag,
            retries,
            reused_parts,
        });
    };

    parts.sort_by_key(|p| p.part_number);
    check_parts(plan, &parts)?;
    let combined = parts
        .iter()
        .fold(0u64, |acc, p| crc::combine(acc, p.crc64, p.length));

    if let Some(source_crc) = plan.source.crc64 {
        if source_crc != combined {
            let _ = store.abort(key, upload_id).await;
            return Err(Error::integrity(format!(
                "the source's CRC-64 is {source_crc} but the copied bytes give {combined}; \
                 the upload was aborted and no object was written"
            )));
        }
    }

    let list: Vec<(u32, String)> = parts
        .iter()
        .map(|p| (p.part_number, p.etag.clone()))
        .collect();
    let (stored, _) = RetryPolicy::from_job(job)
        .run(|| store.complete(key, upload_id, &list), |_, _| {})
        .await?;
    let store_crc = stored.crc64.ok_or_else(|| {
        Error::store("CompleteMultipartUpload answered without x-oss-hash-crc64ecma")
    })?;
    if store_crc != combined {
        let _ = store.delete(key).await;
        return Err(Error::integrity(format!(
            "the store's CRC-64 of the object is {store_crc} but the parts give {combined}; \
             the object was deleted"
        )));
    }
    Ok(Report {
        size,
        parts: plan.part_count,
        crc64: combined,
        store_crc64: store_crc,
        source_crc64: plan.source.crc64,
        etag: stored.etag,
        retries,
        reused_parts,
    })
}

/// Every part of the plan exactly once, each of its planned length.
fn check_parts(plan: &Plan, parts: &[PartResult]) -> Result<()> {
    let size = plan.source.size.unwrap_or(0);
    if parts.len() != plan.part_count as usize {
        return Err(Error::invalid(format!(
            "complete needs all {} parts, got {}",
            plan.part_count,
            parts.len()
        )));
    }
    for (i, part) in parts.iter().enumerate() {
        let n = i as u64 + 1;
        let expected = plan.part_size.min(size - (n - 1) * plan.part_size);
        if u64::from(part.part_number) != n || part.length != expected {
            return Err(Error::invalid(format!(
                "part {} is missing, repeated or of the wrong length ({} bytes, expected {expected})",
                n, part.length
            )));
        }
    }
    Ok(())
}
