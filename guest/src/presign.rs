//! Presigning: the task for one part, its URLs presigned so that whoever
//! runs it needs no credentials.

use crate::error::{Error, Result};
use crate::server_copy::StoreObject;
use crate::source::headers_for;
use crate::store::Store;
use crate::{Job, PartTask, Plan};

/// How long a presigned UploadPart URL stays valid.
const PRESIGN_SECS: u64 = 3600;

/// The presigned task for part `part_number` of `plan`.
pub fn part_task(job: &Job, store: &Store, plan: &Plan, part_number: u32) -> Result<PartTask> {
    let upload_id = plan
        .upload_id
        .as_deref()
        .ok_or_else(|| Error::invalid("this plan has no multipart upload (empty source)"))?;
    if part_number == 0 || part_number > plan.part_count {
        return Err(Error::invalid(format!(
            "part {part_number} is outside the plan's 1..={}",
            plan.part_count
        )));
    }
    let size = plan.source.size.unwrap_or(0);
    let offset = u64::from(part_number - 1) * plan.part_size;
    let length = plan.part_size.min(size - offset);
    let key = &job.target_object_name;
    if let (true, Some(copy_source)) = (plan.server_side, &plan.store_source) {
        let (upload_url, headers) = store.presign_upload_part_copy(
            key,
            upload_id,
            part_number,
            (copy_source, offset, length, plan.source.etag.as_deref()),
            PRESIGN_SECS,
        );
        return Ok(PartTask {
            part_number,
            offset,
            length,
            source_url: job.source_url.clone(),
            if_match: plan.source.etag.clone(),
            if_unmodified_since: None,
            upload_url,
            check: Some(plan_check(store, plan)),
            source_crc64: Some(false),
            copy_source: Some(copy_source.clone()),
            upload_headers: Some(headers),
            source_size: plan.source.size,
            source_headers: None,
        });
    }
    // A store object the store would not copy itself is streamed through
    // a presigned GET.
    let (source_url, source_headers) = match plan
        .store_source
        .as_deref()
        .and_then(StoreObject::from_copy_source)
    {
        Some(o) => (
            store
                .with_bucket(&o.bucket)
                .presign_get(&o.key, PRESIGN_SECS),
            None,
        ),
        None => (
            job.source_url.clone(),
            headers_for(&job.source_url, &job.source_headers),
        ),
    };
    Ok(PartTask {
        part_number,
        offset,
        length,
        source_url,
        if_match: plan.source.etag.clone(),
        if_unmodified_since: if plan.source.etag.is_none() {
            plan.source.last_modified.clone()
        } else {
            None
        },
        upload_url: store.presign_upload_part(key, upload_id, part_number, PRESIGN_SECS),
        check: Some(plan_check(store, plan)),
        source_crc64: Some(plan.source.crc64.is_some()),
        copy_source: None,
        upload_headers: None,
        source_size: plan.source.size,
        source_headers,
    })
}

/// How a plan's parts are checked: as chosen when its upload was created,
/// or the store's default.
pub fn plan_check(store: &Store, plan: &Plan) -> crate::PartCheck {
    plan.check.unwrap_or_else(|| store.part_check())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{SignatureVersion, SourceInfo, StoreKind};

    /// A part task is safe to hand to another machine: it holds presigned
    /// URLs, never the secret.
    #[test]
    fn part_tasks_carry_no_secret() {
        const SECRET: &str = "canary-secret-value-0123456789";
        std::env::set_var("OSS_ACCESS_KEY_ID", "canary-id");
        std::env::set_var("OSS_ACCESS_KEY_SECRET", SECRET);
        std::env::set_var("AWS_ACCESS_KEY_ID", "canary-id");
        std::env::set_var("AWS_SECRET_ACCESS_KEY", SECRET);
        let stores = [
            (StoreKind::Oss, SignatureVersion::V1),
            (StoreKind::Oss, SignatureVersion::V4),
            (StoreKind::S3, SignatureVersion::V4),
        ];
        // Streamed, copied inside the store, and streamed from a store object.
        let modes = [
            (None, false),
            (Some("/src/obj"), true),
            (Some("/src/obj"), false),
        ];
        for ((kind, version), (store_source, server_side)) in stores
            .into_iter()
            .flat_map(|s| modes.into_iter().map(move |m| (s, m)))
        {
            let job = Job {
                source_url: "http://127.0.0.1:1/obj".into(),
                target_bucket_name: "bkt".into(),
                target_object_name: "k".into(),
                target_region: "cn-hangzhou".into(),
                endpoint: Some("http://127.0.0.1:2".into()),
                part_size: None,
                parallel: None,
                max_parallel: None,
                source_headers: None,
                no_clobber: None,
                properties: None,
                signature_version: Some(version),
                fanout_url: None,
                retries: None,
                part_timeout: None,
                keep_partial: None,
                resume: None,
                target_store: Some(kind),
                addressing: None,
                endpoint_kind: None,
            };
            let plan = Plan {
                source: SourceInfo {
                    size: Some(10 << 20),
                    etag: Some("\"e\"".into()),
                    last_modified: None,
                    crc64: None,
                    ranges: true,
                },
                store_source: store_source.map(str::to_string),
                server_side,
                upload_id: Some("UP".into()),
                part_size: 6 << 20,
                part_count: 2,
                check: None,
            };
            let store = Store::from_job(&job).unwrap();
            let task = part_task(&job, &store, &plan, 2).unwrap();
            let json = serde_json::to_string(&task).unwrap();
            assert!(!json.contains(SECRET), "{json}");
            assert_eq!(task.offset, 6 << 20);
            assert_eq!(task.length, 4 << 20);
            assert_eq!(task.copy_source.is_some(), server_side);
            if store_source.is_some() && !server_side {
                assert!(task.source_url.contains("/src/obj?"), "{}", task.source_url);
            }
        }
    }
}
