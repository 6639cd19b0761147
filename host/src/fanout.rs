//! Fan-out: each part task posted to the fan-out authority runs on a fresh
//! instance of the component, at most `instances` at once. Where that
//! instance lives is the [`FanoutBackend`]: here, in its own store with its
//! own limits (the default); on a list of HTTP workers; or in Function
//! Compute ([`crate::remote`]). A trap, a deadline, an exhausted memory or a
//! remote side that failed comes back to the coordinator as a 503 for that
//! part (which it re-dispatches), never as a failure of the host.

use crate::chaos::{Chaos, Fault};
use crate::egress::Egress;
use crate::interrupt::Interrupt;
use crate::remote::{Answer, FcError, FcInvoker, WorkerPool};
use crate::runtime::Runtime;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;
use wasmtime_wasi_http::p2::bindings::http::types::Scheme;
use wasmtime_wasi_http::{WasiBody, WasiHttpView};

/// Largest part task accepted from the coordinator (they are small JSON
/// documents with a few presigned URLs).
const MAX_TASK: usize = 256 * 1024;

/// Where part tasks run.
#[derive(Debug, Clone, Default)]
pub enum FanoutBackend {
    /// Fresh instances on this machine (the default).
    #[default]
    Local,
    /// HTTP workers serving `POST /parts` (`ferry serve`, `wasmtime serve`).
    Workers(Arc<WorkerPool>),
    /// Function Compute 3.0, one synchronous InvokeFunction per part.
    Fc(Arc<FcInvoker>),
}

/// Runs part tasks on fresh instances.
pub struct Fanout {
    runtime: Arc<Runtime>,
    egress: Arc<Egress>,
    backend: FanoutBackend,
    permits: Arc<Semaphore>,
    interrupt: Interrupt,
    chaos: Chaos,
    dispatched: AtomicU64,
}

/// Why a part task got no answer from its instance.
enum Failed {
    /// The instance failed; the part may be re-dispatched (503).
    Instance(String),
    /// The transfer was stopped from outside; the coordinator must stop (409).
    Interrupted(String),
}

impl Fanout {
    pub fn new(runtime: Arc<Runtime>, egress: Arc<Egress>, interrupt: Interrupt) -> Self {
        Self::with_backend(runtime, egress, interrupt, FanoutBackend::Local)
    }

    /// As [`Fanout::new`], with part tasks run by `backend`. Parts in flight
    /// stay bounded by the runtime's `instances` whatever the backend.
    pub fn with_backend(
        runtime: Arc<Runtime>,
        egress: Arc<Egress>,
        interrupt: Interrupt,
        backend: FanoutBackend,
    ) -> Self {
        let permits = Arc::new(Semaphore::new(runtime.limits().instances as usize));
        Fanout {
            runtime,
            egress,
            backend,
            permits,
            interrupt,
            chaos: Chaos::from_env(),
            dispatched: AtomicU64::new(0),
        }
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
        let fault = self.chaos.fault(ordinal);
        match &self.backend {
            FanoutBackend::Local => self.run_local(request, permit, fault).await,
            FanoutBackend::Workers(pool) => {
                let task = task_body(request).await?;
                chaos_remote(fault)?;
                let deadline = self.runtime.limits().part_deadline;
                let answer = pool.dispatch(task, deadline).await;
                drop(permit);
                answer.map(respond).map_err(Failed::Instance)
            }
            FanoutBackend::Fc(fc) => {
                let task = task_body(request).await?;
                chaos_remote(fault)?;
                let deadline = self.runtime.limits().part_deadline;
                let answer = fc.dispatch(task, deadline).await;
                drop(permit);
                match answer {
                    Ok(answer) => Ok(respond(answer)),
                    Err(FcError::Transient(m)) => Err(Failed::Instance(m)),
                    // Not a 503: the coordinator stops instead of retrying.
                    Err(FcError::Refused(m)) => Ok(failure(500, &m)),
                }
            }
        }
    }

    /// Runs one task on a fresh local instance.
    async fn run_local(
        &self,
        request: http::Request<WasiBody>,
        permit: tokio::sync::OwnedSemaphorePermit,
        fault: Option<Fault>,
    ) -> Result<http::Response<WasiBody>, Failed> {
        let mut store = self.runtime.part_store(self.egress.clone());
        let mut deadline = self.runtime.limits().part_deadline;
        match fault {
            Some(Fault::Trap) => store.set_epoch_deadline(0),
            Some(Fault::OutOfMemory) => {
                store.data_mut().limits = wasmtime::StoreLimitsBuilder::new()
                    .memory_size(64 << 10)
                    .build();
            }
            // Zero: the timer has run out by the time the part first waits on
            // the network, however fast the part would be (1 ms was not always).
            Some(Fault::Deadline) => deadline = Duration::ZERO,
            None => {}
        }
        let (sender, receiver) = tokio::sync::oneshot::channel();
        let req = store
            .data_mut()
            .http()
            .new_incoming_request(Scheme::Http, request)
            .map_err(|e| Failed::Instance(format!("cannot hand the task to an instance: {e}")))?;
        let out = store
            .data_mut()
            .http()
            .new_response_outparam(sender)
            .map_err(|e| Failed::Instance(format!("cannot hand the task to an instance: {e}")))?;
        let proxy = self.runtime.proxy_pre().clone();
        let task = tokio::spawn(async move {
            // The permit is held until the instance is gone, body and all.
            let _permit = permit;
            let work = async {
                let proxy = proxy.instantiate_async(&mut store).await?;
                proxy
                    .wasi_http_incoming_handler()
                    .call_handle(&mut store, req, out)
                    .await
            };
            match tokio::time::timeout(deadline, work).await {
                Ok(Ok(())) => Ok(()),
                Ok(Err(e)) => Err(format!("the part instance trapped: {}", causes(&e))),
                Err(_) => Err(format!(
                    "the part instance ran past its deadline of {} s",
                    deadline.as_secs()
                )),
            }
        });
        // If the coordinator gives up on this part (it failed elsewhere and
        // is aborting), dropping this future stops the instance too.
        let guard = AbortOnDrop(Some(task.abort_handle()));
        let outcome = receiver.await;
        match outcome {
            // The instance keeps running to stream its response body.
            Ok(Ok(response)) => {
                guard.disarm();
                Ok(response)
            }
            Ok(Err(code)) => Err(Failed::Instance(format!(
                "the part instance answered an error: {code:?}"
            ))),
            Err(_) => Err(Failed::Instance(match task.await {
                Ok(Err(message)) => message,
                Ok(Ok(())) => "the part instance finished without answering".into(),
                Err(e) => format!("the part instance's task failed: {e}"),
            })),
        }
    }
}

/// The task's JSON, read whole (it is resent as it is on another worker).
async fn task_body(request: http::Request<WasiBody>) -> Result<Bytes, Failed> {
    http_body_util::Limited::new(request.into_body(), MAX_TASK)
        .collect()
        .await
        .map(|c| c.to_bytes())
        .map_err(|e| Failed::Instance(format!("cannot read the part task: {e}")))
}

/// `FERRY_CHAOS` for a remote backend: whatever the fault, the remote
/// instance is taken as failed without being asked.
fn chaos_remote(fault: Option<Fault>) -> Result<(), Failed> {
    match fault {
        Some(fault) => Err(Failed::Instance(format!(
            "the remote instance failed (FERRY_CHAOS {fault:?})"
        ))),
        None => Ok(()),
    }
}

/// A remote answer as the response to the coordinator's request.
fn respond(answer: Answer) -> http::Response<WasiBody> {
    let mut builder = http::Response::builder()
        .status(answer.status)
        .header("content-type", "application/json");
    if let Some(after) = &answer.retry_after {
        builder = builder.header("retry-after", after.as_str());
    }
    builder
        .body(
            Full::new(answer.body)
                .map_err(|never| match never {})
                .boxed_unsync(),
        )
        .unwrap_or_else(|e| failure(503, &format!("unusable answer: {e}")))
}

/// An error's causes on one line, without the wasm or native backtrace.
fn causes(e: &wasmtime::Error) -> String {
    crate::runtime::error_line(e)
}

/// Aborts a task when dropped, unless disarmed.
struct AbortOnDrop(Option<tokio::task::AbortHandle>);

impl AbortOnDrop {
    fn disarm(mut self) {
        self.0 = None;
    }
}

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        if let Some(handle) = self.0.take() {
            handle.abort();
        }
    }
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
