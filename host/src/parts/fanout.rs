//! The coordinator's fan-out: each part task posted to the fan-out authority
//! goes to the transfer's [`PartRunner`], at most `instances` at once. A
//! trap, a deadline, an exhausted memory or a remote side that failed comes
//! back to the coordinator as a 503 for that part (which it re-dispatches),
//! never as a failure of the host; an interrupted transfer as a 409.

use crate::interrupt::Interrupt;
use crate::parts::chaos::Chaos;
use crate::parts::runner::{PartRunner, PartTask, RunError};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;
use wasmtime_wasi_http::WasiBody;

/// Largest part task accepted from the coordinator (they are small JSON
/// documents with a few presigned URLs).
const MAX_TASK: usize = 256 * 1024;

/// Hands part tasks to a [`PartRunner`].
pub struct Fanout {
    runner: Arc<dyn PartRunner>,
    deadline: Duration,
    permits: Arc<Semaphore>,
    interrupt: Interrupt,
    chaos: Chaos,
    dispatched: AtomicU64,
}

/// Why a part task got no answer.
enum Failed {
    /// The instance failed; the part may be re-dispatched (503).
    Instance(String),
    /// The runner refused the task; the coordinator stops (500).
    Refused(String),
    /// The transfer was stopped from outside; the coordinator must stop (409).
    Interrupted(String),
}

impl From<RunError> for Failed {
    fn from(e: RunError) -> Failed {
        match e {
            RunError::Transient(m) => Failed::Instance(m),
            RunError::Refused(m) => Failed::Refused(m),
        }
    }
}

impl Fanout {
    /// Part tasks run by `runner`, each within `deadline`, at most
    /// `instances` at once (fewer if the runner says it takes fewer);
    /// `interrupt` gives every part up.
    pub fn new(
        runner: Arc<dyn PartRunner>,
        instances: u32,
        deadline: Duration,
        interrupt: Interrupt,
    ) -> Self {
        let mut at_once = instances.max(1) as usize;
        if let Some(capacity) = runner.capacity() {
            at_once = at_once.min(capacity.max(1));
        }
        Fanout {
            runner,
            deadline,
            permits: Arc::new(Semaphore::new(at_once)),
            interrupt,
            chaos: Chaos::from_env(),
            dispatched: AtomicU64::new(0),
        }
    }

    /// The runner part tasks go to.
    pub fn runner(&self) -> &Arc<dyn PartRunner> {
        &self.runner
    }

    /// Serves one posted part task and returns the instance's response, or
    /// a 503 describing why the instance failed.
    pub async fn dispatch(&self, request: http::Request<WasiBody>) -> http::Response<WasiBody> {
        let stopped = async {
            let reason = self.interrupt.wait().await;
            Err(Failed::Interrupted(format!(
                "the transfer was interrupted ({reason})"
            )))
        };
        let outcome = tokio::select! {
            outcome = self.run(request) => outcome,
            outcome = stopped => outcome,
        };
        match outcome {
            Ok(response) => response,
            Err(Failed::Instance(message)) => {
                tracing::warn!("part instance failed: {message}");
                failure(503, &message)
            }
            // Not a 503: the coordinator stops instead of retrying.
            Err(Failed::Refused(message)) => failure(500, &message),
            Err(Failed::Interrupted(message)) => failure(409, &message),
        }
    }

    async fn run(
        &self,
        request: http::Request<WasiBody>,
    ) -> Result<http::Response<WasiBody>, Failed> {
        let permit = self
            .permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| Failed::Instance("the instance pool is closed".into()))?;
        let ordinal = self.dispatched.fetch_add(1, Ordering::Relaxed) + 1;
        let (parts, body) = request.into_parts();
        let body = read_task(body).await?;
        let task = PartTask {
            request: http::Request::from_parts(parts, body),
            deadline: self.deadline,
            fault: self.chaos.fault(ordinal),
        };
        let response = self.runner.run(task).await?;
        // The permit is held until the instance has answered; a local
        // instance streaming its answer holds its own slot in its runtime's
        // pool until it is gone.
        Ok(response.map(|body| hold(body, permit)))
    }
}

/// The task's JSON, read whole (a remote runner resends it as it is).
async fn read_task(body: WasiBody) -> Result<Bytes, Failed> {
    http_body_util::Limited::new(body, MAX_TASK)
        .collect()
        .await
        .map(|c| c.to_bytes())
        .map_err(|e| Failed::Instance(format!("cannot read the part task: {e}")))
}

/// `body`, holding `permit` until it is read to its end or dropped.
fn hold(body: WasiBody, permit: tokio::sync::OwnedSemaphorePermit) -> WasiBody {
    body.map_frame(move |frame| {
        let _ = &permit;
        frame
    })
    .boxed_unsync()
}

/// A JSON answer from a remote runner as the response to the coordinator.
pub(crate) fn respond(
    status: u16,
    retry_after: Option<&str>,
    body: Bytes,
) -> Result<http::Response<WasiBody>, RunError> {
    let mut builder = http::Response::builder()
        .status(status)
        .header("content-type", "application/json");
    if let Some(after) = retry_after {
        builder = builder.header("retry-after", after);
    }
    builder
        .body(
            Full::new(body)
                .map_err(|never| match never {})
                .boxed_unsync(),
        )
        .map_err(|e| RunError::Transient(format!("unusable answer: {e}")))
}

/// A JSON failure response in the shape the guest reads.
fn failure(status: u16, message: &str) -> http::Response<WasiBody> {
    let body = serde_json::json!({ "kind": "internal", "message": message }).to_string();
    http::Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(
            Full::new(Bytes::from(body))
                .map_err(|never| match never {})
                .boxed_unsync(),
        )
        .expect("a static response always builds")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parts::runner::RunFuture;
    use std::sync::atomic::AtomicUsize;

    /// A runner that answers by part number: 1 a result, 2 a failed
    /// instance, 3 a refusal; it notes the most tasks it held at once.
    #[derive(Default)]
    struct Scripted {
        running: AtomicUsize,
        most: AtomicUsize,
        ran: AtomicUsize,
    }

    impl PartRunner for Scripted {
        fn run(&self, task: PartTask) -> RunFuture<'_> {
            Box::pin(async move {
                let now = self.running.fetch_add(1, Ordering::SeqCst) + 1;
                self.most.fetch_max(now, Ordering::SeqCst);
                self.ran.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(20)).await;
                self.running.fetch_sub(1, Ordering::SeqCst);
                match task.part_number() {
                    Some(2) => Err(RunError::Transient("the instance trapped".into())),
                    Some(3) => Err(RunError::Refused("InvalidSignature".into())),
                    _ => respond(200, None, Bytes::from_static(br#"{"etag":"e"}"#)),
                }
            })
        }

        fn capacity(&self) -> Option<usize> {
            Some(2)
        }
    }

    fn task(part: u32) -> http::Request<WasiBody> {
        let body = Bytes::from(format!(r#"{{"part_number":{part}}}"#));
        http::Request::post("http://ferry-fanout.invalid/parts")
            .body(
                Full::new(body)
                    .map_err(|never| match never {})
                    .boxed_unsync(),
            )
            .unwrap()
    }

    /// Every task goes to the runner, no more at once than it takes, and
    /// its errors reach the coordinator as a retry (503) or a stop (500).
    #[tokio::test]
    async fn tasks_go_to_the_runner_within_its_capacity() {
        let runner = Arc::new(Scripted::default());
        let fanout = Arc::new(Fanout::new(
            runner.clone(),
            8,
            Duration::from_secs(5),
            Interrupt::default(),
        ));
        let mut statuses = Vec::new();
        let calls: Vec<_> = (1..=6)
            .map(|part| {
                let fanout = fanout.clone();
                tokio::spawn(async move { fanout.dispatch(task(part % 4)).await.status() })
            })
            .collect();
        for call in calls {
            statuses.push(call.await.unwrap().as_u16());
        }
        assert_eq!(statuses, [200, 503, 500, 200, 200, 503]);
        assert_eq!(runner.ran.load(Ordering::SeqCst), 6);
        assert_eq!(runner.most.load(Ordering::SeqCst), 2);
    }
}
