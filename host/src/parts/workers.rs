//! HTTP workers: part tasks sent to a list of other machines, each a
//! `ferry serve` (or any runtime serving the component's `POST /parts`), at
//! most `concurrency` tasks on each at once. A worker that refuses or drops
//! the connection, or answers a 5xx that is not ferry's own answer, is set
//! aside for a while and the task goes to another worker: a part task is
//! idempotent (its UploadPart overwrites the same part number).
//!
//! Only the task travels (presigned URLs, no secret). The pool's requests
//! pass its own egress list, the workers: the fan-out path is the only one
//! that may reach them; part instances still reach only the source and the
//! store.

use crate::net::client::{Client, ClientConfig};
use crate::net::egress::Egress;
use crate::parts::remote::{exchange, is_component_answer, retry_after, Answer};
use crate::parts::runner::{part_label, PartRunner, PartTask, RunError, RunFuture};
use bytes::Bytes;
use std::fmt;
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;
use url::Url;

/// How long a failed worker is set aside at first; doubled for each failure
/// in a row, up to [`MAX_SET_ASIDE`].
const SET_ASIDE: Duration = Duration::from_secs(2);
const MAX_SET_ASIDE: Duration = Duration::from_secs(30);

/// One HTTP worker.
struct Worker {
    /// `POST` target: the worker's base URL with `/parts`.
    parts_url: String,
    /// The base URL as given, for messages.
    name: String,
    permits: Arc<Semaphore>,
    /// Tasks it runs at once.
    concurrency: usize,
    /// Set aside until then after a failure.
    aside_until: Mutex<Option<Instant>>,
    /// Failures in a row.
    streak: AtomicU32,
    served: AtomicU64,
    failed: AtomicU64,
}

impl Worker {
    fn is_aside(&self, now: Instant) -> bool {
        self.aside_until
            .lock()
            .map(|t| t.is_some_and(|t| t > now))
            .unwrap_or(false)
    }

    fn succeeded(&self) {
        self.served.fetch_add(1, Ordering::Relaxed);
        self.streak.store(0, Ordering::Relaxed);
        if let Ok(mut t) = self.aside_until.lock() {
            *t = None;
        }
    }

    fn set_aside(&self) -> Duration {
        self.failed.fetch_add(1, Ordering::Relaxed);
        let streak = self.streak.fetch_add(1, Ordering::Relaxed).min(4);
        let pause = (SET_ASIDE * 2u32.pow(streak)).min(MAX_SET_ASIDE);
        if let Ok(mut t) = self.aside_until.lock() {
            *t = Some(Instant::now() + pause);
        }
        pause
    }
}

/// What a worker pool did, for the closing summary.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PoolStats {
    /// Tasks answered, per worker (in the order given).
    pub served: Vec<u64>,
    /// Failed attempts, per worker.
    pub failed: Vec<u64>,
    /// Tasks sent to another worker after one failed.
    pub resent: u64,
}

/// HTTP workers that run part tasks, each at most `concurrency` at once.
pub struct WorkerPool {
    workers: Vec<Worker>,
    /// The bearer token the workers require (`ferry serve --token`).
    token: Option<String>,
    client: Client,
    egress: Egress,
    next: AtomicUsize,
    resent: AtomicU64,
}

impl fmt::Debug for WorkerPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WorkerPool")
            .field(
                "workers",
                &self.workers.iter().map(|w| &w.name).collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

impl WorkerPool {
    /// Sends `Authorization: Bearer TOKEN` to every worker (for workers
    /// started as `ferry serve --token TOKEN`).
    pub fn with_token(mut self, token: Option<String>) -> Self {
        self.token = token.filter(|t| !t.is_empty());
        self
    }

    /// A pool over `urls` (each `http(s)://host[:port][/base]`, serving
    /// `POST <base>/parts`), at most `concurrency` tasks on each at once.
    ///
    /// The workers are the operator's own machines, so they are reached
    /// whatever their address (loopback and private included); only the
    /// listed authorities can be reached this way.
    pub fn new(urls: &[String], concurrency: u32) -> Result<WorkerPool, String> {
        if urls.is_empty() {
            return Err("no workers given: --workers takes URL,URL,...".into());
        }
        let mut egress = Egress::default();
        let mut workers = Vec::new();
        for raw in urls {
            let raw = raw.trim();
            let url = Url::parse(raw)
                .ok()
                .filter(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some())
                .ok_or_else(|| {
                    format!("worker {raw:?} is not an http(s) URL, e.g. http://10.0.0.5:8080")
                })?;
            egress.allow_url(raw);
            let base = url.as_str().trim_end_matches('/');
            workers.push(Worker {
                parts_url: format!("{base}/parts"),
                name: base.to_string(),
                permits: Arc::new(Semaphore::new(concurrency.max(1) as usize)),
                concurrency: concurrency.max(1) as usize,
                aside_until: Mutex::new(None),
                streak: AtomicU32::new(0),
                served: AtomicU64::new(0),
                failed: AtomicU64::new(0),
            });
        }
        Ok(WorkerPool {
            workers,
            token: None,
            client: Client::new(ClientConfig::default()),
            egress,
            next: AtomicUsize::new(0),
            resent: AtomicU64::new(0),
        })
    }

    /// The workers, as given.
    pub fn len(&self) -> usize {
        self.workers.len()
    }

    pub fn is_empty(&self) -> bool {
        self.workers.is_empty()
    }

    /// What the pool did so far.
    pub fn stats(&self) -> PoolStats {
        PoolStats {
            served: self
                .workers
                .iter()
                .map(|w| w.served.load(Ordering::Relaxed))
                .collect(),
            failed: self
                .workers
                .iter()
                .map(|w| w.failed.load(Ordering::Relaxed))
                .collect(),
            resent: self.resent.load(Ordering::Relaxed),
        }
    }

    /// The worker for the next attempt: one not yet tried for this task
    /// (any, once all were), preferring those not set aside, then the one
    /// with the most free slots, turn by turn among equals.
    fn pick(&self, tried: &[usize]) -> usize {
        let now = Instant::now();
        let n = self.workers.len();
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        let untried: Vec<usize> = (0..n).filter(|i| !tried.contains(i)).collect();
        let candidates = if untried.is_empty() {
            (0..n).collect()
        } else {
            untried
        };
        candidates
            .into_iter()
            .max_by_key(|&i| {
                let w = &self.workers[i];
                (
                    !w.is_aside(now),
                    w.permits.available_permits(),
                    // Rotate the tie-break so equal workers share the load.
                    n - (i + n - start % n) % n,
                )
            })
            .expect("a pool has at least one worker")
    }

    /// Runs one part task (`task` is its JSON) on some worker and returns
    /// the component's answer, trying other workers when one fails; `Err`
    /// once every worker failed it (twice over), with the reasons.
    pub async fn dispatch(&self, task: Bytes, deadline: Duration) -> Result<Answer, String> {
        let attempts = self.workers.len() * 2;
        let mut tried = Vec::new();
        let mut reasons = Vec::new();
        for _ in 0..attempts {
            let i = self.pick(&tried);
            let worker = &self.workers[i];
            let outcome = {
                let _slot = worker
                    .permits
                    .clone()
                    .acquire_owned()
                    .await
                    .map_err(|_| "the worker pool is closed".to_string())?;
                self.attempt(worker, &task, deadline).await
            };
            match outcome {
                Ok(answer) => {
                    worker.succeeded();
                    return Ok(answer);
                }
                Err(reason) => {
                    let pause = worker.set_aside();
                    tracing::warn!(
                        "worker {} failed {}: {reason}; set aside for {} s, the part goes to another worker",
                        worker.name,
                        part_label(&task),
                        pause.as_secs()
                    );
                    self.resent.fetch_add(1, Ordering::Relaxed);
                    reasons.push(format!("{}: {reason}", worker.name));
                    tried.push(i);
                }
            }
        }
        Err(format!(
            "every worker failed {} ({})",
            part_label(&task),
            reasons.join("; ")
        ))
    }

    async fn attempt(
        &self,
        worker: &Worker,
        task: &Bytes,
        deadline: Duration,
    ) -> Result<Answer, String> {
        let mut request =
            http::Request::post(&worker.parts_url).header("content-type", "application/json");
        if let Some(token) = &self.token {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        let request = request
            .body(task.clone())
            .map_err(|e| format!("cannot build the request: {e}"))?;
        if !self.egress.permits(request.uri()) {
            return Err("refused by the fan-out egress list".into());
        }
        let (status, headers, body) = exchange(&self.client, request, deadline).await?;
        if status == 200 || is_component_answer(status, &body) {
            return Ok(Answer {
                status,
                retry_after: retry_after(&headers),
                body,
            });
        }
        let text = String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned();
        Err(format!("HTTP {status}: {}", text.trim()))
    }
}

impl PartRunner for WorkerPool {
    fn run(&self, task: PartTask) -> RunFuture<'_> {
        Box::pin(async move {
            task.fail_if_faulted()?;
            let answer = self
                .dispatch(task.request.into_body(), task.deadline)
                .await
                .map_err(RunError::Transient)?;
            answer.into_response()
        })
    }

    fn capacity(&self) -> Option<usize> {
        Some(self.workers.iter().map(|w| w.concurrency).sum())
    }

    fn egress(&self) -> Option<&Egress> {
        Some(&self.egress)
    }

    fn finished(&self) {
        let stats = self.stats();
        if stats.resent > 0 {
            tracing::warn!(
                "workers: {} parts answered per worker {:?}, {} failed attempts {:?}, \
                 {} tasks re-sent to another worker",
                stats.served.iter().sum::<u64>(),
                stats.served,
                stats.failed.iter().sum::<u64>(),
                stats.failed,
                stats.resent
            );
        } else {
            tracing::info!("workers: parts answered per worker {:?}", stats.served);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workers_must_be_urls() {
        assert!(WorkerPool::new(&[], 4).is_err());
        assert!(WorkerPool::new(&["127.0.0.1:80".into()], 4).is_err());
        let pool = WorkerPool::new(
            &["http://127.0.0.1:1/".into(), "http://127.0.0.1:2".into()],
            4,
        )
        .unwrap();
        assert_eq!(pool.workers[0].parts_url, "http://127.0.0.1:1/parts");
        assert_eq!(pool.workers[1].parts_url, "http://127.0.0.1:2/parts");
        assert!(pool
            .egress
            .permits(&"http://127.0.0.1:2/parts".parse().unwrap()));
        assert!(!pool
            .egress
            .permits(&"http://127.0.0.1:3/parts".parse().unwrap()));
    }

    /// A refused connection sends the task to the next worker; when every
    /// worker refuses, the error names each.
    #[tokio::test]
    async fn a_refused_worker_is_set_aside() {
        let dead = |_| {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            format!("http://{}", l.local_addr().unwrap())
        };
        let urls: Vec<String> = (0..2).map(dead).collect();
        let pool = WorkerPool::new(&urls, 2).unwrap();
        let err = pool
            .dispatch(
                Bytes::from_static(br#"{"part_number":3}"#),
                Duration::from_secs(5),
            )
            .await
            .unwrap_err();
        assert!(err.starts_with("every worker failed part 3"), "{err}");
        assert!(err.contains(&urls[0]) && err.contains(&urls[1]), "{err}");
        let stats = pool.stats();
        assert_eq!(stats.failed, vec![2, 2]);
        assert_eq!(stats.resent, 4);
        assert!(pool.workers.iter().all(|w| w.is_aside(Instant::now())));
    }
}
