//! The scheduler: keep the paced number of parts in flight, each attempt
//! waiting for a slot ([`Slots`]), each part copied in this instance or
//! posted to the fan-out endpoint, presigned afresh per attempt; retry
//! transient failures per part; on a permanent one let the others settle
//! and stop.

use crate::copy_part::copy_part;
use crate::error::Result;
use crate::events::Sink;
use crate::pacing::Pacer;
use crate::post_part::post_part;
use crate::presign::part_task;
use crate::retry::RetryPolicy;
use crate::runtime::sleep;
use crate::store::Store;
use crate::{Job, PartResult, Plan};
use futures::future::Either;
use futures::stream::{FuturesUnordered, StreamExt};
use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

/// How often the pacer hears the time while no part has finished.
const RAMP_TICK: Duration = Duration::from_millis(20);

pub(crate) async fn copy_all(
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
                    if e.is_throttle() {
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
pub(crate) async fn copy_once(
    job: &Job,
    store: &Store,
    plan: &Plan,
    part_number: u32,
) -> Result<PartResult> {
    store.refresh_credentials().await?;
    let task = part_task(job, store, plan, part_number)?;
    match &job.fanout_url {
        Some(base) => post_part(base, &task, RetryPolicy::from_job(job).budget).await,
        None => copy_part(&task).await,
    }
}
