//! Completion: check that every part is there, combine the part CRCs into
//! the object's CRC, compare it with the source's before completing (so a
//! wrong object is never completed) and with the store's after: its CRC-64
//! on OSS; on S3, its CRC-64/NVME (the full-object checksum, which the store
//! checks on completion) or, where the store takes no checksum, its
//! multipart ETag (the MD5 of the parts' MD5s). When the parts do not
//! combine to the source's CRC, each part's range is read again and hashed,
//! and only the parts the store holds wrong are sent again
//! ([`resend_differing`]); when an S3 store refuses the object's checksum,
//! the parts it lists with another CRC-64/NVME are sent again.

use crate::copy_part::source_crc;
use crate::crc;
use crate::error::{Error, Result};
use crate::plan::{sequential_reason, DEFAULT_PARALLEL};
use crate::presign::{part_task, plan_check};
use crate::retry::RetryPolicy;
use crate::schedule::copy_once;
use crate::store::Store;
use crate::{Job, PartCheck, PartResult, Plan, Report};
use futures::stream::{self, StreamExt};
use md5::{Digest as _, Md5};

/// The ETag S3 gives an object completed from parts with these MD5s:
/// the MD5 of the parts' binary MD5s, then `-` and the part count.
pub fn multipart_etag<'a>(part_md5s: impl IntoIterator<Item = &'a str>) -> Option<String> {
    let mut digest = Md5::new();
    let mut count = 0;
    for md5 in part_md5s {
        digest.update(hex::decode(md5).ok()?);
        count += 1;
    }
    Some(format!("{}-{count}", hex::encode(digest.finalize())))
}

/// The MD5 of nothing: the ETag of an empty S3 object.
const EMPTY_MD5: &str = "d41d8cd98f00b204e9800998ecf8427e";

/// Which checks a report's numbers come from, for people. `hashed`: the
/// parts' CRC-64s were computed in ferry as the bytes passed.
fn checks(check: PartCheck, source_crc: bool, hashed: bool) -> String {
    match (check, source_crc) {
        (PartCheck::Crc64Xz, true) if !hashed => "the store's CRC-64s of the parts combine to \
            the source header's CRC-64 before completion, and the object's CRC-64 equals it; \
            no hashing in ferry"
            .into(),
        (PartCheck::Crc64Xz, true) => "ferry's CRC-64 of each part equals the store's; \
            combined they equal the source header's CRC-64 and the object's CRC-64"
            .into(),
        (PartCheck::Crc64Xz, false) => "ferry's CRC-64 of each part equals the store's, and \
            combined they equal the object's CRC-64; the source offers no CRC-64"
            .into(),
        (PartCheck::Md5Etag, true) => "part MD5s equal the store's ETags, the object's \
            multipart ETag is theirs, and the part CRCs combine to the source header's CRC-64"
            .into(),
        (PartCheck::Md5Etag, false) => "part MD5s equal the store's ETags and the object's \
            multipart ETag is theirs; the source offers no CRC-64"
            .into(),
        (PartCheck::Crc64Nvme, source_crc) => format!(
            "ferry's CRC-64/NVME of each part equals the store's where it answered one; \
             combined, they are the object's full-object checksum, which the store checked on \
             completion and reports{}",
            if source_crc {
                "; the parts' CRC-64/XZs combine to the source header's CRC-64"
            } else {
                "; the source offers no CRC-64"
            }
        ),
    }
}

/// Completes the upload of `plan` from `parts` (in any order). On a CRC
/// mismatch before completion the upload is aborted; after completion the
/// wrong object is deleted.
pub async fn complete(
    job: &Job,
    plan: &Plan,
    parts: Vec<PartResult>,
    retries: u32,
    reused_parts: u32,
) -> Result<Report> {
    complete_noting(job, plan, parts, (retries, reused_parts), &mut |_| {}).await
}

/// As [`complete`], telling `note` when parts are read again and sent again.
/// `counts`: the copy's retries and the parts reused from a kept upload.
pub async fn complete_noting(
    job: &Job,
    plan: &Plan,
    mut parts: Vec<PartResult>,
    (mut retries, reused_parts): (u32, u32),
    note: &mut dyn FnMut(&str),
) -> Result<Report> {
    let store = Store::from_job(job)?;
    let key = &job.target_object_name;
    let size = plan.source.size.unwrap_or(0);
    let check = plan_check(&store, plan);
    let Some(upload_id) = &plan.upload_id else {
        let stored = store.put_empty(key).await?;
        if let Some(crc) = stored.crc64.filter(|&c| c != 0) {
            let _ = store.delete(key).await;
            return Err(Error::integrity(format!(
                "the store reports CRC-64 {crc} for an empty object (expected 0); the object was deleted"
            )));
        }
        let etag = stored.etag.trim_matches('"').to_ascii_lowercase();
        // An S3 store that checked the CRC-64/NVME of nothing says so; one
        // that takes no checksum answers the MD5 of nothing as its ETag.
        let checked_nvme = stored.crc64nvme == Some(0);
        if check != PartCheck::Crc64Xz && !checked_nvme && etag != EMPTY_MD5 {
            let _ = store.delete(key).await;
            return Err(Error::integrity(format!(
                "the store's ETag of an empty object is {etag}, not the MD5 of nothing; the \
                 object was deleted"
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
            seconds: 0.0,
            parallelism: None,
            final_url: None,
            checks: match check {
                PartCheck::Crc64Xz => "an empty object; the store's CRC-64 is 0".into(),
                _ if checked_nvme => {
                    "an empty object; the store checked and reports its CRC-64/NVME, 0".into()
                }
                PartCheck::Md5Etag | PartCheck::Crc64Nvme => {
                    "an empty object; the store's ETag is the MD5 of nothing".into()
                }
            },
            key: None,
            crc64nvme: checked_nvme.then_some(0),
        });
    };

    parts.sort_by_key(|p| p.part_number);
    check_parts(plan, &parts)?;
    if plan.server_side {
        // The bytes never passed through ferry: the store's own record of
        // the parts (sizes, and CRC-64s on OSS) is what is checked.
        parts = checked_by_store(&store, key, upload_id, parts).await?;
    }
    let mut combined = crc::combine_all(parts.iter().map(|p| (p.crc64, p.length)));
    // Parts streamed by ranges can be read and sent again one by one.
    let ranged = !plan.server_side && sequential_reason(&plan.source).is_none();
    if let Some(source_crc) = plan.source.crc64.filter(|&c| c != combined && ranged) {
        note(&format!(
            "the parts' CRC-64s combine to {combined}, not the source's {source_crc}; reading \
             each part's range again to find the parts the store holds wrong"
        ));
        let resent = match resend_differing(job, &store, plan, &mut parts, source_crc, note).await {
            Ok(resent) => resent,
            Err(e) => {
                if job.keep_partial != Some(true) {
                    let _ = store.abort(key, upload_id).await;
                }
                return Err(e);
            }
        };
        retries += resent;
        combined = crc::combine_all(parts.iter().map(|p| (p.crc64, p.length)));
    }
    let expected_etag = match check {
        PartCheck::Crc64Xz | PartCheck::Crc64Nvme => None,
        PartCheck::Md5Etag => Some(
            multipart_etag(parts.iter().map(|p| p.md5.as_deref().unwrap_or_default()))
                .ok_or_else(|| Error::internal("a part's MD5 is missing"))?,
        ),
    };

    if let Some(source_crc) = plan.source.crc64 {
        if source_crc != combined {
            let _ = store.abort(key, upload_id).await;
            return Err(Error::integrity(format!(
                "the source's CRC-64 is {source_crc} but the copied bytes give {combined}; \
                 the upload was aborted and no object was written"
            )));
        }
    }

    let nvme = check == PartCheck::Crc64Nvme;
    let mut rounds = 0;
    let (stored, nvme) = loop {
        let full = nvme.then(|| nvme_of(&parts)).transpose()?;
        let list: Vec<(u32, String, Option<u64>)> = parts
            .iter()
            .map(|p| (p.part_number, p.etag.clone(), p.crc64nvme.filter(|_| nvme)))
            .collect();
        match RetryPolicy::from_job(job)
            .run(|| store.complete(key, upload_id, &list, full), |_, _| {})
            .await
        {
            Ok((stored, _)) => break (stored, full),
            // The store's CRC-64/NVME of the object is not ours: some part
            // reached it other than it was sent.
            Err(e)
                if nvme
                    && rounds < RESEND_ROUNDS
                    && (e.is_code("BadDigest") || e.is_code("InvalidPart")) =>
            {
                rounds += 1;
                retries += resend_store_differing(job, &store, plan, &mut parts, note).await?;
            }
            Err(e) => return Err(e),
        }
    };
    if let Some(ours) = nvme {
        let theirs = match stored.crc64nvme {
            Some(c) => Some(c),
            None => store.head_crc64nvme(key).await?,
        };
        if theirs != Some(ours) {
            let _ = store.delete(key).await;
            return Err(match theirs {
                Some(t) => Error::integrity(format!(
                    "the store's CRC-64/NVME of the object is {} but the parts give {}; the \
                     object was deleted",
                    crc::to_base64(t),
                    crc::to_base64(ours)
                )),
                None => Error::store(
                    "the store took CRC-64/NVME for the upload but reports none for the object, \
                     so it cannot be verified; the object was deleted",
                ),
            });
        }
    }
    let store_crc = match &expected_etag {
        Some(expected) => {
            let etag = stored.etag.trim_matches('"').to_ascii_lowercase();
            if &etag != expected {
                let _ = store.delete(key).await;
                return Err(Error::integrity(format!(
                    "the store's ETag of the object is {etag} but the parts' MD5s give \
                     {expected}; the object was deleted"
                )));
            }
            combined
        }
        None if nvme.is_some() => combined,
        None => stored.crc64.ok_or_else(|| {
            Error::store("CompleteMultipartUpload answered without x-oss-hash-crc64ecma")
        })?,
    };
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
        store_crc64: if expected_etag.is_some() || nvme.is_some() {
            0
        } else {
            store_crc
        },
        source_crc64: plan.source.crc64,
        etag: stored.etag,
        retries,
        reused_parts,
        seconds: 0.0,
        parallelism: None,
        final_url: None,
        checks: if plan.server_side {
            server_side_checks(check)
        } else {
            // The parts were hashed in ferry unless a CRC-stating source
            // was streamed by ranges into a store answering part CRC-64s.
            let hashed = check != PartCheck::Crc64Xz || plan.source.crc64.is_none() || !ranged;
            checks(check, plan.source.crc64.is_some(), hashed)
        },
        key: None,
        crc64nvme: nvme,
    })
}

/// The object's CRC-64/NVME from its parts'.
fn nvme_of(parts: &[PartResult]) -> Result<u64> {
    let listed = parts
        .iter()
        .map(|p| Some((p.crc64nvme?, p.length)))
        .collect::<Option<Vec<_>>>()
        .ok_or_else(|| Error::internal("a part's CRC-64/NVME is missing"))?;
    Ok(crc::combine_all_in(crc::Algorithm::Nvme, listed))
}

/// The store refused the object's CRC-64/NVME: sends again the parts it
/// lists with another CRC-64/NVME than the one ferry computed as it sent
/// them. Returns how many UploadParts were sent.
async fn resend_store_differing(
    job: &Job,
    store: &Store,
    plan: &Plan,
    parts: &mut [PartResult],
    note: &mut dyn FnMut(&str),
) -> Result<u32> {
    let key = &job.target_object_name;
    let upload_id = plan.upload_id.as_deref().unwrap_or_default();
    let listed = store.list_parts(key, upload_id).await?.ok_or_else(|| {
        Error::store(format!("the upload {upload_id} vanished before completion"))
    })?;
    let differing: Vec<usize> = (0..parts.len())
        .filter(|&i| {
            let held = listed
                .iter()
                .find(|l| l.part_number == parts[i].part_number);
            let theirs = held
                .and_then(|l| l.checksum_crc64nvme.as_deref())
                .and_then(crc::parse_base64);
            theirs != parts[i].crc64nvme
        })
        .collect();
    if differing.is_empty() {
        return Err(Error::integrity(
            "the store refused the object's CRC-64/NVME but lists every part as ferry sent it, \
             so nothing was completed; check the store",
        ));
    }
    for &i in &differing {
        note(&format!(
            "part {}: the store holds another CRC-64/NVME than ferry sent; sending it again",
            parts[i].part_number
        ));
    }
    send_again(job, store, plan, parts, &differing).await
}

/// The parts as the store lists them: each of its planned size, and with
/// the store's CRC-64 where the copy's answer carried none.
async fn checked_by_store(
    store: &Store,
    key: &str,
    upload_id: &str,
    mut parts: Vec<PartResult>,
) -> Result<Vec<PartResult>> {
    let listed = store.list_parts(key, upload_id).await?.ok_or_else(|| {
        Error::store(format!("the upload {upload_id} vanished before completion"))
    })?;
    for part in &mut parts {
        let Some(held) = listed.iter().find(|l| l.part_number == part.part_number) else {
            return Err(Error::store(format!(
                "the store does not list part {} it said it copied",
                part.part_number
            )));
        };
        if held.size != part.length {
            let _ = store.abort(key, upload_id).await;
            return Err(Error::integrity(format!(
                "the store holds {} bytes for part {} where {} were copied; the upload was aborted",
                held.size, part.part_number, part.length
            )));
        }
        if store.kind == crate::StoreKind::Oss {
            let crc = held.hash_crc64ecma.as_deref().and_then(crc::parse_header);
            match (part.crc64, crc) {
                (0, Some(c)) => part.crc64 = c,
                (ours, Some(c)) if ours != c => {
                    let _ = store.abort(key, upload_id).await;
                    return Err(Error::integrity(format!(
                        "the store's CRC-64 of part {} changed from {ours} to {c}; the upload \
                         was aborted",
                        part.part_number
                    )));
                }
                (_, Some(_)) => {}
                (_, None) => {
                    return Err(Error::store(format!(
                        "the store lists part {} without a CRC-64, so the copy cannot be \
                         verified",
                        part.part_number
                    )))
                }
            }
        }
    }
    Ok(parts)
}

/// How many times a round sends again the parts the store holds wrong.
const RESEND_ROUNDS: u32 = 2;

/// The parts' CRCs do not combine to the source's: reads every part's range
/// again and hashes it. If those CRCs do not combine to the source's either,
/// the source's stated CRC is not that of its bytes, and nothing is sent
/// again. Otherwise the parts whose CRC differs from their range's are sent
/// again (same part numbers), at most [`RESEND_ROUNDS`] times, until the
/// store holds each as read. Returns how many UploadParts were sent again,
/// retries included. Never copies the whole object again.
async fn resend_differing(
    job: &Job,
    store: &Store,
    plan: &Plan,
    parts: &mut [PartResult],
    stated: u64,
    note: &mut dyn FnMut(&str),
) -> Result<u32> {
    let policy = RetryPolicy::from_job(job);
    let parallel = job.parallel.unwrap_or(DEFAULT_PARALLEL).max(1) as usize;
    let read: Vec<Result<u64>> = stream::iter(parts.iter().map(|p| p.part_number))
        .map(|n| async move {
            let task = part_task(job, store, plan, n)?;
            let (crc, _) = policy.run(|| source_crc(&task), |_, _| {}).await?;
            Ok(crc)
        })
        .buffered(parallel)
        .collect()
        .await;
    let read = read
        .into_iter()
        .zip(parts.iter())
        .map(|(crc, p)| crc.map_err(|e| e.part(p.part_number)))
        .collect::<Result<Vec<u64>>>()?;
    let from_source = crc::combine_all(read.iter().zip(parts.iter()).map(|(&c, p)| (c, p.length)));
    if from_source != stated {
        return Err(Error::integrity(format!(
            "the source states CRC-64 {stated} but its bytes give {from_source} (read again \
             part by part, as the store holds them); its x-oss-hash-crc64ecma is wrong or it \
             changed without a new ETag, so nothing was completed; check the source"
        )));
    }
    let mut resent = 0;
    for round in 1..=RESEND_ROUNDS + 1 {
        let differing: Vec<usize> = (0..parts.len())
            .filter(|&i| parts[i].crc64 != read[i])
            .collect();
        let Some(&first) = differing.first() else {
            return Ok(resent);
        };
        if round > RESEND_ROUNDS {
            return Err(Error::integrity(format!(
                "the store still differs from the source in {} part(s) (part {} holds CRC-64 \
                 {} where the source's bytes give {}) after sending them again {RESEND_ROUNDS} \
                 times, so nothing was completed; check the store",
                differing.len(),
                parts[first].part_number,
                parts[first].crc64,
                read[first]
            ))
            .part(parts[first].part_number));
        }
        for &i in &differing {
            note(&format!(
                "part {}: the store holds CRC-64 {} where the source's bytes give {}; sending it \
                 again",
                parts[i].part_number, parts[i].crc64, read[i]
            ));
        }
        resent += send_again(job, store, plan, parts, &differing).await?;
    }
    Ok(resent)
}

/// Sends the parts at `indices` again (same part numbers), each with the
/// job's retries; returns how many UploadParts that took.
async fn send_again(
    job: &Job,
    store: &Store,
    plan: &Plan,
    parts: &mut [PartResult],
    indices: &[usize],
) -> Result<u32> {
    let policy = RetryPolicy::from_job(job);
    let parallel = job.parallel.unwrap_or(DEFAULT_PARALLEL).max(1) as usize;
    let sent: Vec<Result<(PartResult, u32)>> = stream::iter(indices.iter())
        .map(|&i| {
            let n = parts[i].part_number;
            let policy = &policy;
            async move {
                policy
                    .run(|| copy_once(job, store, plan, n), |_, _| {})
                    .await
                    .map_err(|e| e.part(n))
            }
        })
        .buffered(parallel)
        .collect()
        .await;
    let mut resent = 0;
    for (&i, outcome) in indices.iter().zip(sent) {
        let (part, tries) = outcome?;
        resent += 1 + tries;
        parts[i] = part;
    }
    Ok(resent)
}

/// What a server-side copy's report says was checked.
fn server_side_checks(check: PartCheck) -> String {
    match check {
        PartCheck::Crc64Xz => "copied inside the store; its part CRCs combine to the source \
            object's CRC-64, and the object's equals it"
            .into(),
        PartCheck::Md5Etag | PartCheck::Crc64Nvme => {
            "copied inside the store; its parts are the planned sizes and the \
            object's multipart ETag is its parts' (S3 offers no checksum of the source to compare)"
                .into()
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Two parts' ETags and the object's ETag that s3s-fs 0.14.1 and
    /// moto both answered for the same upload.
    #[test]
    fn multipart_etag_is_md5_of_md5s() {
        assert_eq!(
            multipart_etag([
                "39e401e2e77dc3e86ea9ab6ac72e1227",
                "b2e43aca14a567395f85ebc7f7ffe5da"
            ])
            .unwrap(),
            "9758f8bf63b5267c9b7674d89adce75b-2"
        );
        assert_eq!(multipart_etag(["not hex"]), None);
        assert_eq!(hex::encode(Md5::digest(b"")), EMPTY_MD5);
    }
}
