//! The transfer: plan (or take up a kept upload), copy every part (one
//! sequential stream, inside the store, or through the scheduler),
//! complete; on failure abort the upload, or keep it for `--resume`. A
//! source that redirects is copied from where it leads, resolved again if
//! that stops answering mid-copy ([`run_redirected`]).

use crate::complete::complete_noting;
use crate::error::{Error, Result};
use crate::events::Sink;
use crate::pacing::{Pacer, Summary};
use crate::plan::{max_parallel, plan, sequential_reason};
use crate::post_part::fanout_base;
use crate::retry::RetryPolicy;
use crate::runtime::sleep;
use crate::schedule::{copy_all, copy_once};
use crate::server_copy;
use crate::source::locate;
use crate::store::Store;
use crate::target::{self, redact};
use crate::{resume, sequential};
use crate::{FailureKind, Job, PartResult, Plan, Report, StoreKind};
use std::cell::RefCell;
use std::collections::BTreeMap;

/// A run's report and how its parallelism went.
type Ran = (Report, Option<Summary>);

/// The whole transfer: plan, copy every part, complete. On failure the
/// upload is aborted, or kept when the job says so.
pub async fn run(job: &Job, sink: &mut Sink) -> Result<Report> {
    run_paced(job, sink).await.map(|(report, _)| report)
}

/// As [`run`], with how the parallelism went.
pub async fn run_paced(job: &Job, sink: &mut Sink) -> Result<(Report, Option<Summary>)> {
    let store = Store::from_job(job)?;
    if let Some(f) = &job.fanout_url {
        fanout_base(f)?;
    }
    let policy = RetryPolicy::from_job(job);
    let (mut plan, held) = match &job.resume {
        Some(id) => resume::prepare(job, &store, id).await?,
        None => (plan(job).await?, BTreeMap::new()),
    };
    let reused = held.len() as u32;
    let sequential = sequential_reason(&plan.source);
    let missing = plan.part_count.saturating_sub(reused).max(1);
    let pacer = match job.parallel {
        Some(n) => Pacer::pinned(n.clamp(1, 1000)),
        None => Pacer::auto(max_parallel(job).min(missing)),
    };
    let cap = pacer.summary().cap;
    if sequential.is_some() {
        sink.planned(&plan, 1, 1);
    } else {
        sink.planned(&plan, pacer.target(), cap);
    }
    let mut summary = None;
    if reused > 0 {
        sink.note(&format!(
            "resuming: {reused} of {} parts are already in the store",
            plan.part_count
        ));
    }
    if let Some(why) = sequential {
        sink.note(&format!(
            "warning: {why}; copying as one sequential stream, which is slower"
        ));
    }
    let mut held = held;
    let outcome = async {
        let first_retries = if plan.server_side && plan.part_count > 0 {
            match try_server_side(job, &store, &plan, &policy, sink).await? {
                Some((part, tries)) => {
                    held.insert(part.part_number, part);
                    tries
                }
                None => {
                    plan.server_side = false;
                    0
                }
            }
        } else {
            0
        };
        let (parts, retries) = match sequential {
            Some(_) => {
                let (parts, retries) = sequential::copy(job, &store, &plan, &policy, sink).await?;
                // Now the size is known.
                let total: u64 = parts.iter().map(|p| p.length).sum();
                plan.source.size = Some(total);
                plan.part_count = parts.len() as u32;
                if parts.is_empty() {
                    if let Some(id) = plan.upload_id.take() {
                        abort_until_gone(&store, &job.target_object_name, &id, &policy).await?;
                    }
                }
                (parts, retries)
            }
            None => {
                let held = std::mem::take(&mut held);
                let pacer = RefCell::new(pacer);
                let copied = copy_all(job, &store, &plan, &pacer, &policy, held, sink).await;
                summary = Some(pacer.into_inner().summary());
                let (parts, retries) = copied?;
                (parts, retries + first_retries)
            }
        };
        let mut note = |message: &str| sink.note(message);
        complete_noting(job, &plan, parts, (retries, reused), &mut note).await
    }
    .await;
    match (outcome, &plan.upload_id) {
        (Ok(report), _) => Ok((report, summary)),
        (Err(e), None) => Err(e),
        (Err(mut e), Some(upload_id)) if job.keep_partial == Some(true) => {
            e.message = format!(
                "{} The upload {upload_id} was kept: run the same copy with --resume {upload_id} \
                 to continue it.",
                e.message
            );
            e.upload_id = Some(upload_id.clone());
            Err(e)
        }
        (Err(mut e), Some(upload_id)) => {
            if let Err(abort) =
                abort_until_gone(&store, &job.target_object_name, upload_id, &policy).await
            {
                e.message = format!(
                    "{} The upload {upload_id} could not be aborted ({}); its parts remain \
                     until it is aborted or expires by lifecycle rule.",
                    e.message, abort.message
                );
                e.upload_id = Some(upload_id.clone());
            }
            Err(e)
        }
    }
}

/// Copies part 1 inside the store to learn whether the store will copy at
/// all. `Ok(None)`: it refused (another region or account, no
/// UploadPartCopy), and the parts are to be streamed instead.
async fn try_server_side(
    job: &Job,
    store: &Store,
    plan: &Plan,
    policy: &RetryPolicy,
    sink: &mut Sink,
) -> Result<Option<(PartResult, u32)>> {
    let sink = RefCell::new(sink);
    let tried = policy
        .run(
            || copy_once(job, store, plan, 1),
            |attempt, e| sink.borrow_mut().retry(1, attempt, &e.message),
        )
        .await;
    let sink = sink.into_inner();
    match tried {
        Ok((part, tries)) => {
            sink.part_done(1, part.length, 1, part.length, plan);
            Ok(Some((part, tries)))
        }
        Err(e) if e.kind == FailureKind::Store && !e.transient => {
            sink.note(&format!(
                "the store would not copy the object itself ({}); streaming its bytes through \
                 ferry instead",
                e.message
            ));
            Ok(None)
        }
        Err(e) => Err(e.part(1)),
    }
}

/// Aborts an upload and checks with ListParts that it is gone, retrying
/// both while they fail transiently.
pub async fn abort_until_gone(
    store: &Store,
    key: &str,
    upload_id: &str,
    policy: &RetryPolicy,
) -> Result<()> {
    let attempts = policy.attempts.max(5);
    let mut last = None;
    for attempt in 1..=attempts {
        if attempt > 1 {
            sleep(policy.backoff.delay(attempt - 1, 0.5)).await;
        }
        if let Err(e) = store.abort(key, upload_id).await {
            if !e.transient {
                return Err(e);
            }
            last = Some(e);
            continue;
        }
        match store.list_parts(key, upload_id).await {
            Ok(None) => return Ok(()),
            // Some S3 servers (s3s-fs) list an aborted upload as empty
            // rather than unknown: nothing of it is left to bill.
            Ok(Some(parts)) if parts.is_empty() && store.kind == StoreKind::S3 => return Ok(()),
            Ok(Some(_)) => last = Some(Error::store("the upload is still listed after its abort")),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| Error::store("the abort did not take effect")))
}

/// The job to run: `job` with its source URL replaced by the final one
/// when an HTTP source redirects, and that final URL as the report shows
/// it; a folder target's key completed by the source's file name
/// ([`target::named`]); the properties the job leaves out taken from the
/// source's answer. A source in the store itself is left to the planner
/// (a folder target takes its key's last segment).
pub async fn follow(job: &Job) -> Result<(Job, Option<String>)> {
    let store = Store::from_job(job)?;
    if let Some(object) = server_copy::store_object(&job.source_url, &store)? {
        let name = target::clean_name(&object.key);
        let job = target::named(job.clone(), name, &job.source_url)?;
        return Ok((job, None));
    }
    let policy = RetryPolicy::from_job(job);
    let (located, _) = policy.run(|| locate(&job.source_url), |_, _| {}).await?;
    let name = target::file_name(located.props.content_disposition.as_deref(), &located.url);
    let named = target::named(job.clone(), name, &located.url)?;
    let named = target::with_source_properties(named, &located.props);
    if located.hops == 0 {
        return Ok((named, None));
    }
    let shown = redact(&located.url);
    let job = Job {
        source_url: located.url,
        ..named
    };
    Ok((job, Some(shown)))
}

/// Runs `job` as [`run_redirected_to`] does, and names the object's key in
/// its report (a folder target's completed one).
pub async fn run_redirected(job: &Job, sink: &mut Sink) -> Result<(Ran, Option<String>)> {
    let (first, shown) = follow(job).await?;
    let key = first.target_object_name.clone();
    let ((mut report, summary), shown) = run_redirected_to(job, first, shown, sink).await?;
    report.key = Some(key);
    Ok(((report, summary), shown))
}

/// Runs `job` (plan, parts, complete) from the URL its source redirects
/// to. When that URL stops answering as it did when probed (a part's GET
/// answers 403, 404 or 410: a presigned link that expired, a mirror that
/// moved; or 412: the object there changed), the given URL is resolved
/// once more and the upload so far is resumed from where it now leads. Returns the run's
/// outcome and the final URL as the report shows it.
async fn run_redirected_to(
    job: &Job,
    first: Job,
    shown: Option<String>,
    sink: &mut Sink,
) -> Result<(Ran, Option<String>)> {
    let key = first.target_object_name.clone();
    if shown.is_none() || job.resume.is_some() {
        return Ok((run_paced(&first, sink).await?, shown));
    }
    // Kept, so that a second resolution can resume it.
    let kept = Job {
        keep_partial: Some(true),
        ..first
    };
    let err = match run_paced(&kept, sink).await {
        Ok(done) => return Ok((done, shown)),
        Err(e) => e,
    };
    let stale = err.kind == FailureKind::Source
        && err.part_number.is_some()
        && matches!(err.status, Some(403 | 404 | 410 | 412));
    let Some(upload_id) = err.upload_id.clone() else {
        return Err(err);
    };
    if stale {
        let (again, shown) = follow(job).await?;
        // The upload is of the key first named, whatever the name is now.
        let resumed = Job {
            resume: Some(upload_id),
            target_object_name: key,
            ..again
        };
        return Ok((run_paced(&resumed, sink).await?, shown));
    }
    if job.keep_partial == Some(true) {
        return Err(err);
    }
    // Not asked to keep it: abort it as the schedule would have.
    let mut err = err;
    if let Some(cut) = err
        .message
        .find(&format!(" The upload {upload_id} was kept"))
    {
        err.message.truncate(cut);
    }
    err.upload_id = None;
    let store = Store::from_job(job)?;
    let policy = RetryPolicy::from_job(job);
    if let Err(abort) = abort_until_gone(&store, &key, &upload_id, &policy).await {
        err.message = format!(
            "{} The upload {upload_id} could not be aborted ({}); its parts remain until it is \
             aborted or expires by lifecycle rule.",
            err.message, abort.message
        );
        err.upload_id = Some(upload_id);
    }
    Err(err)
}
