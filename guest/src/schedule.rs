//! Scheduling: keep a bounded number of parts in flight, each copied in this
//! instance or posted as a part task to the fan-out endpoint (where the
//! runtime gives it a fresh instance); retry transient failures per part;
//! stop everything on a permanent one and abort the upload (or keep it for
//! `--resume`).

use crate::complete::complete;
use crate::copy_part::copy_part;
use crate::error::{Error, Result};
use crate::events::Sink;
use crate::http::{self, Timeouts};
use crate::pacing::{is_throttle, Pacer, Summary};
use crate::plan::{plan, sequential_reason};
use crate::retry::RetryPolicy;
use crate::runtime::sleep;
use crate::server_copy::StoreObject;
use crate::store::Store;
use crate::{resume, sequential};
use crate::{Failure, FailureKind, Job, PartResult, PartTask, Plan, Report, StoreKind};
use futures::future::Either;
use futures::stream::{FuturesUnordered, StreamExt};
use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};
use url::Url;

/// Parts in flight for a step that is not paced (checking held parts on
/// resume).
pub const DEFAULT_PARALLEL: u32 = 16;
/// The most parts in flight when the job names no cap: with no fan-out
/// they all live in this one instance, about 2 MiB of buffers each.
pub const DEFAULT_MAX_PARALLEL: u32 = 128;

/// The cap on parts in flight: the job's `max-parallel`, else
/// [`DEFAULT_MAX_PARALLEL`]; at most 1000.
pub fn max_parallel(job: &Job) -> u32 {
    job.max_parallel
        .unwrap_or(DEFAULT_MAX_PARALLEL)
        .clamp(1, 1000)
}
/// How long a presigned UploadPart URL stays valid.
const PRESIGN_SECS: u64 = 3600;

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
        complete(job, &plan, parts, retries, reused).await
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
            check: Some(store.part_check()),
            source_crc64: Some(false),
            copy_source: Some(copy_source.clone()),
            upload_headers: Some(headers),
            source_size: plan.source.size,
        });
    }
    // A store object the store would not copy itself is streamed through
    // a presigned GET.
    let source_url = match plan
        .store_source
        .as_deref()
        .and_then(StoreObject::from_copy_source)
    {
        Some(o) => store
            .with_bucket(&o.bucket)
            .presign_get(&o.key, PRESIGN_SECS),
        None => job.source_url.clone(),
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
        check: Some(store.part_check()),
        source_crc64: Some(plan.source.crc64.is_some()),
        copy_source: None,
        upload_headers: None,
        source_size: plan.source.size,
    })
}

/// How often the pacer hears the time while no part has finished.
const RAMP_TICK: Duration = Duration::from_millis(20);

async fn copy_all(
    job: &Job,
    store: &Store,
    plan: &Plan,
    pacer: &RefCell<Pacer>,
    policy: &RetryPolicy,
    held: BTreeMap<u32, PartResult>,
    sink: &mut Sink,
) -> Result<(Vec<PartResult>, u32)> {
    let sink = RefCell::new(sink);
    let started = Instant::now();
    let clock = || started.elapsed().as_secs_f64();
    let slots = Slots::new(pacer.borrow().target());
    // A change of the target: the slots follow it and the sink tells it.
    let paced = |change: Option<crate::pacing::Change>| {
        if let Some(c) = change {
            slots.set_target(c.parallel);
            sink.borrow_mut().paced(&c);
        }
    };
    let mut in_flight = FuturesUnordered::new();
    let missing: Vec<u32> = (1..=plan.part_count)
        .filter(|n| !held.contains_key(n))
        .collect();
    let mut todo = missing.into_iter();
    let mut done_bytes: u64 = held.values().map(|p| p.length).sum();
    let mut results: Vec<PartResult> = held.into_values().collect();
    let mut retries = 0u32;
    loop {
        while in_flight.len() < slots.target() as usize {
            let Some(n) = todo.next() else { break };
            let (sink, slots, paced) = (&sink, &slots, &paced);
            // Each attempt waits for a slot, so attempts in flight never
            // pass the target, and a part backing off holds none.
            let attempt = move || async move {
                let slot = slots.acquire().await;
                let began = clock();
                let outcome = copy_once(job, store, plan, n).await;
                let now = clock();
                if let Err(e) = &outcome {
                    if e.transient && is_throttle(&e.message) {
                        paced(pacer.borrow_mut().throttled(now, began, slot.1));
                    }
                }
                outcome
            };
            in_flight.push(async move {
                policy
                    .run(attempt, |attempt, e| {
                        sink.borrow_mut().retry(n, attempt, &e.message)
                    })
                    .await
                    .map_err(|e| e.part(n))
            });
        }
        // Until the first part finishes the pacer ramps up with time.
        let next = if pacer.borrow().ramping() && !in_flight.is_empty() {
            let tick = sleep(RAMP_TICK);
            futures::pin_mut!(tick);
            match futures::future::select(in_flight.next(), tick).await {
                Either::Left((next, _)) => next,
                Either::Right(_) => {
                    paced(pacer.borrow_mut().tick(clock(), plan.part_size));
                    continue;
                }
            }
        } else {
            in_flight.next().await
        };
        match next {
            None => break,
            Some(Ok((part, tries))) => {
                done_bytes += part.length;
                retries += tries;
                let (n, len) = (part.part_number, part.length);
                results.push(part);
                sink.borrow_mut()
                    .part_done(n, len, results.len() as u32, done_bytes, plan);
                paced(pacer.borrow_mut().part_done(clock(), len));
            }
            Some(Err(e)) => {
                settle(&mut in_flight, SETTLE).await;
                return Err(e);
            }
        }
    }
    Ok((results, retries))
}

/// The attempts allowed in flight: a counting gate whose size the pacer
/// moves while attempts wait on it.
struct Slots {
    target: Cell<u32>,
    active: Cell<u32>,
    waiting: RefCell<Vec<Waker>>,
}

impl Slots {
    fn new(target: u32) -> Slots {
        Slots {
            target: Cell::new(target.max(1)),
            active: Cell::new(0),
            waiting: RefCell::new(Vec::new()),
        }
    }

    fn target(&self) -> u32 {
        self.target.get()
    }

    fn set_target(&self, target: u32) {
        self.target.set(target.max(1));
        self.wake();
    }

    fn wake(&self) {
        for waker in self.waiting.borrow_mut().drain(..) {
            waker.wake();
        }
    }

    fn acquire(&self) -> Acquire<'_> {
        Acquire(self)
    }
}

struct Acquire<'a>(&'a Slots);

impl<'a> Future for Acquire<'a> {
    type Output = Slot<'a>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Slot<'a>> {
        let slots = self.0;
        if slots.active.get() < slots.target.get() {
            slots.active.set(slots.active.get() + 1);
            return Poll::Ready(Slot(slots, slots.active.get()));
        }
        slots.waiting.borrow_mut().push(cx.waker().clone());
        Poll::Pending
    }
}

/// One attempt's place, with the attempts in flight when it began
/// (itself included); freed when dropped.
struct Slot<'a>(&'a Slots, u32);

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        self.0.active.set(self.0.active.get() - 1);
        self.0.wake();
    }
}

/// How long a failed transfer waits for its other parts in flight.
const SETTLE: Duration = Duration::from_secs(60);

/// Lets the parts still in flight end (copied or failed) before the upload
/// is aborted, for at most `grace`; the rest are then cancelled by dropping
/// them. A part whose body the store already holds would otherwise be
/// written after the abort and stay behind, billed and unlisted (S3 says as
/// much of in-progress parts; s3s-fs does it).
async fn settle<F: std::future::Future>(in_flight: &mut FuturesUnordered<F>, grace: Duration) {
    let drain = async { while in_flight.next().await.is_some() {} };
    let timer = sleep(grace);
    futures::pin_mut!(drain, timer);
    futures::future::select(drain, timer).await;
}

/// One attempt at one part, presigned afresh.
async fn copy_once(job: &Job, store: &Store, plan: &Plan, part_number: u32) -> Result<PartResult> {
    let task = part_task(job, store, plan, part_number)?;
    match &job.fanout_url {
        Some(base) => post_part(base, &task, RetryPolicy::from_job(job).budget).await,
        None => copy_part(&task).await,
    }
}

fn fanout_base(base: &str) -> Result<Url> {
    Url::parse(base)
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https"))
        .ok_or_else(|| Error::invalid(format!("fan-out URL {base:?} is not an http(s) URL")))
}

/// Runs a part task through the fan-out endpoint: `POST <base>/parts`.
/// 503 means the attempt failed transiently (in the part, or in the instance:
/// a trap, a deadline, memory) and the part may be re-dispatched; other
/// errors carry the part's [`Failure`].
async fn post_part(base: &str, task: &PartTask, deadline: Duration) -> Result<PartResult> {
    let mut url = fanout_base(base)?;
    let path = format!("{}/parts", url.path().trim_end_matches('/'));
    url.set_path(&path);
    let body = serde_json::to_vec(task).expect("a task always serializes");
    let headers = [("content-type".to_string(), "application/json".to_string())];
    let timeouts = Timeouts {
        first_byte: deadline,
        between_bytes: deadline,
        ..Timeouts::default()
    };
    let response = http::send("POST", url.as_str(), &headers, Some(&body), timeouts)
        .await
        .map_err(|e| Error::internal(format!("fan-out request failed: {e}")).transient())?;
    let status = response.status;
    let retry_after = response.header("retry-after").map(str::to_string);
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
    }
    .retry_after(retry_after.as_deref());
    Err(if status == 503 { err.transient() } else { err })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{SignatureVersion, SourceInfo};

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
