//! Scheduling: keep a bounded number of parts in flight, each copied in this
//! instance or posted as a part task to the fan-out endpoint (where the
//! runtime gives it a fresh instance); retry transient failures per part;
//! stop everything and abort the upload on a permanent one.

use crate::backoff::{random_unit, BackoffConfig};
use crate::complete::complete;
use crate::copy_part::copy_part;
use crate::error::{Error, Result};
use crate::events::Sink;
use crate::http::{self, Timeouts};
use crate::oss::Store;
use crate::plan::plan;
use crate::runtime::sleep;
use crate::{Failure, Job, PartResult, PartTask, Plan, Report};
use futures::stream::{FuturesUnordered, StreamExt};
use std::cell::RefCell;
use std::time::Duration;
use url::Url;

/// Parts in flight when the job does not say.
pub const DEFAULT_PARALLEL: u32 = 16;
/// How long a presigned UploadPart URL stays valid.
const PRESIGN_SECS: u64 = 3600;
/// How long a fanned-out part may take before its response is overdue.
const PART_DEADLINE: Duration = Duration::from_secs(900);

/// The whole transfer: plan, copy every part, complete; abort on failure.
pub async fn run(job: &Job, sink: &mut Sink) -> Result<Report> {
    let store = Store::from_job(job)?;
    if let Some(f) = &job.fanout_url {
        fanout_base(f)?;
    }
    let plan = plan(job).await?;
    let parallel = job.parallel.unwrap_or(DEFAULT_PARALLEL).clamp(1, 1000);
    sink.planned(&plan, parallel);
    let outcome = match copy_all(job, &store, &plan, parallel, sink).await {
        Ok((parts, retries)) => complete(job, &plan, parts, retries).await,
        Err(e) => Err(e),
    };
    if outcome.is_err() {
        if let Some(upload_id) = &plan.upload_id {
            // Best effort: the error that matters is the one that stopped us.
            let _ = store.abort(&job.target_object_name, upload_id).await;
        }
    }
    outcome
}

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
    Ok(PartTask {
        part_number,
        offset,
        length: plan.part_size.min(size - offset),
        source_url: job.source_url.clone(),
        if_match: plan.source.etag.clone(),
        if_unmodified_since: if plan.source.etag.is_none() {
            plan.source.last_modified.clone()
        } else {
            None
        },
        upload_url: store.presign_upload_part(
            &job.target_object_name,
            upload_id,
            part_number,
            PRESIGN_SECS,
        ),
    })
}

async fn copy_all(
    job: &Job,
    store: &Store,
    plan: &Plan,
    parallel: u32,
    sink: &mut Sink,
) -> Result<(Vec<PartResult>, u32)> {
    let sink = RefCell::new(sink);
    let mut in_flight = FuturesUnordered::new();
    let mut next = 1u32;
    let mut results = Vec::with_capacity(plan.part_count as usize);
    let mut done_bytes = 0u64;
    let mut retries = 0u32;
    loop {
        while in_flight.len() < parallel as usize && next <= plan.part_count {
            in_flight.push(copy_with_retries(job, store, plan, next, &sink));
            next += 1;
        }
        match in_flight.next().await {
            None => break,
            Some(Ok((part, tries))) => {
                done_bytes += part.length;
                retries += tries;
                let n = part.part_number;
                let len = part.length;
                results.push(part);
                sink.borrow_mut()
                    .part_done(n, len, results.len() as u32, done_bytes, plan);
            }
            // Dropping the other futures cancels their requests.
            Some(Err(e)) => return Err(e),
        }
    }
    Ok((results, retries))
}

/// Copies one part, retrying transient failures with backoff. Returns the
/// result and the number of retries it took.
async fn copy_with_retries(
    job: &Job,
    store: &Store,
    plan: &Plan,
    part_number: u32,
    sink: &RefCell<&mut Sink>,
) -> Result<(PartResult, u32)> {
    let backoff = BackoffConfig::default();
    let mut attempt = 1;
    loop {
        let task = part_task(job, store, plan, part_number)?;
        let outcome = match &job.fanout_url {
            Some(base) => post_part(base, &task).await,
            None => copy_part(&task).await,
        };
        match outcome {
            Ok(part) => return Ok((part, attempt - 1)),
            Err(e) if e.transient && attempt < backoff.max_attempts => {
                sink.borrow_mut()
                    .retry(part_number, attempt + 1, &e.message);
                sleep(backoff.delay(attempt, random_unit())).await;
                attempt += 1;
            }
            Err(e) if e.transient => {
                let mut e = e.part(part_number);
                e.kind = crate::FailureKind::Exhausted;
                e.message = format!("{} (gave up after {attempt} attempts)", e.message);
                return Err(e);
            }
            Err(e) => return Err(e.part(part_number)),
        }
    }
}

fn fanout_base(base: &str) -> Result<Url> {
    Url::parse(base)
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https"))
        .ok_or_else(|| Error::invalid(format!("fan-out URL {base:?} is not an http(s) URL")))
}

/// Runs a part task through the fan-out endpoint: `POST <base>/parts`.
/// 503 means the instance failed (trap, deadline, memory) and the part may be
/// re-dispatched; other errors carry the part's [`Failure`].
async fn post_part(base: &str, task: &PartTask) -> Result<PartResult> {
    let mut url = fanout_base(base)?;
    let path = format!("{}/parts", url.path().trim_end_matches('/'));
    url.set_path(&path);
    let body = serde_json::to_vec(task).expect("a task always serializes");
    let headers = [("content-type".to_string(), "application/json".to_string())];
    let timeouts = Timeouts {
        first_byte: PART_DEADLINE,
        between_bytes: PART_DEADLINE,
        ..Timeouts::default()
    };
    let response = http::send("POST", &url, &headers, Some(&body), timeouts)
        .await
        .map_err(|e| Error::internal(format!("fan-out request failed: {e}")).transient())?;
    let status = response.status;
    let bytes = response
        .bytes(1 << 20)
        .await
        .map_err(|e| Error::internal(format!("fan-out response broke off: {e}")).transient())?;
    if status == 200 {
        return serde_json::from_slice(&bytes)
            .map_err(|e| Error::internal(format!("fan-out answered an unreadable result: {e}")));
    }
    let err = match serde_json::from_slice::<Failure>(&bytes) {
        Ok(failure) => Error::from(failure),
        Err(_) => Error::internal(format!(
            "fan-out answered HTTP {status}: {}",
            String::from_utf8_lossy(&bytes[..bytes.len().min(300)])
        )),
    };
    Err(if status == 503 { err.transient() } else { err })
}
