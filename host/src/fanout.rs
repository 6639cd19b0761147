//! Fan-out: each part task posted to the fan-out authority runs on a fresh
//! instance of the component, in its own store with its own limits, at most
//! `instances` at once. A trap, a deadline or an exhausted memory comes back
//! to the coordinator as a 503 for that part (which it re-dispatches), never
//! as a failure of the host.

use crate::chaos::{Chaos, Fault};
use crate::egress::Egress;
use crate::interrupt::Interrupt;
use crate::runtime::Runtime;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;
use wasmtime_wasi_http::p2::bindings::http::types::Scheme;
use wasmtime_wasi_http::{WasiBody, WasiHttpView};

/// Runs part tasks on fresh instances.
pub struct Fanout {
    runtime: Arc<Runtime>,
    egress: Arc<Egress>,
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
        let permits = Arc::new(Semaphore::new(runtime.limits().instances as usize));
        Fanout {
            runtime,
            egress,
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
        let mut store = self.runtime.part_store(self.egress.clone());
        let mut deadline = self.runtime.limits().part_deadline;
        let ordinal = self.dispatched.fetch_add(1, Ordering::Relaxed) + 1;
        match self.chaos.fault(ordinal) {
            Some(Fault::Trap) => store.set_epoch_deadline(0),
            Some(Fault::OutOfMemory) => {
                store.data_mut().limits = wasmtime::StoreLimitsBuilder::new()
                    .memory_size(64 << 10)
                    .build();
            }
            Some(Fault::Deadline) => deadline = Duration::from_millis(1),
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

/// An error's causes on one line, without the native backtrace.
fn causes(e: &wasmtime::Error) -> String {
    e.chain()
        .map(|c| c.to_string().lines().next().unwrap_or_default().to_string())
        .collect::<Vec<_>>()
        .join(": ")
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
