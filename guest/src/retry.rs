//! Retrying one step (a part, an abort) while it fails transiently: bounded
//! in attempts and in total time, paced by [`crate::backoff`], and never
//! sooner than a server's `Retry-After`.

use crate::backoff::{random_unit, BackoffConfig};
use crate::error::{Error, Result};
use crate::runtime::sleep;
use crate::{FailureKind, Job};
use std::future::Future;
use std::time::{Duration, Instant};

/// Retries of one part after its first attempt, by default (the job's
/// flags' default, [`ferry_rules::job`]).
pub const DEFAULT_RETRIES: u32 = ferry_rules::job::DEFAULT_RETRIES;
/// The most time one part may take over all its attempts, by default.
pub const DEFAULT_PART_TIMEOUT: Duration =
    Duration::from_secs(ferry_rules::job::DEFAULT_PART_TIMEOUT_SECS as u64);

/// How one step is retried.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    pub backoff: BackoffConfig,
    /// Attempts in all, the first included.
    pub attempts: u32,
    /// No new attempt starts after this much time.
    pub budget: Duration,
}

impl RetryPolicy {
    pub fn from_job(job: &Job) -> RetryPolicy {
        RetryPolicy {
            backoff: BackoffConfig::default(),
            attempts: job.retries.unwrap_or(DEFAULT_RETRIES).saturating_add(1),
            budget: job
                .part_timeout
                .map(|s| Duration::from_secs(s.into()))
                .unwrap_or(DEFAULT_PART_TIMEOUT),
        }
    }

    /// Runs `step` until it succeeds, fails permanently, or the attempts or
    /// the time run out. `on_retry(attempt, error)` is told of each retry.
    /// Returns the value and the number of retries it took.
    pub async fn run<T, F, Fut>(
        &self,
        mut step: F,
        mut on_retry: impl FnMut(u32, &Error),
    ) -> Result<(T, u32)>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        let started = Instant::now();
        let mut attempt = 1;
        loop {
            let err = match step().await {
                Ok(value) => return Ok((value, attempt - 1)),
                Err(e) if !e.transient => return Err(e),
                Err(e) => e,
            };
            let delay = self
                .backoff
                .delay(attempt, random_unit())
                .max(err.retry_after.unwrap_or_default());
            if attempt >= self.attempts || started.elapsed() + delay > self.budget {
                return Err(exhausted(err, attempt, started.elapsed()));
            }
            attempt += 1;
            on_retry(attempt, &err);
            sleep(delay).await;
        }
    }
}

fn exhausted(mut e: Error, attempts: u32, spent: Duration) -> Error {
    e.kind = FailureKind::Exhausted;
    e.transient = false;
    e.message = format!(
        "{} (gave up after {attempts} attempts in {:.1} s; raise --retries or --part-timeout \
         if the failure is expected to pass)",
        e.message,
        spent.as_secs_f64()
    );
    e
}
