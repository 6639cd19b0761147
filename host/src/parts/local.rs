//! Local instances: each part task runs on a fresh instance of the
//! component on this machine, in its own store with its own memory limit
//! and deadline, reaching only the transfer's source and store.

use crate::net::egress::Egress;
use crate::parts::chaos::Fault;
use crate::parts::runner::{PartRunner, PartTask, RunError, RunFuture};
use crate::runtime::{error_line, Runtime};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;
use wasmtime_wasi_http::p2::bindings::http::types::Scheme;
use wasmtime_wasi_http::{WasiBody, WasiHttpView};

/// Runs part tasks on fresh instances of `runtime`'s component, at most its
/// `instances` alive at once.
pub struct LocalInstances {
    runtime: Arc<Runtime>,
    egress: Arc<Egress>,
    alive: Arc<Semaphore>,
}

impl LocalInstances {
    /// Instances of `runtime` whose outgoing requests may reach `egress`
    /// (the transfer's source and store).
    pub fn new(runtime: Arc<Runtime>, egress: Arc<Egress>) -> LocalInstances {
        let alive = Arc::new(Semaphore::new(runtime.limits().instances.max(1) as usize));
        LocalInstances {
            runtime,
            egress,
            alive,
        }
    }

    /// Runs one task on a fresh instance.
    async fn run_one(&self, task: PartTask) -> Result<http::Response<WasiBody>, RunError> {
        let permit = self
            .alive
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| RunError::Transient("the instance pool is closed".into()))?;
        let mut store = self.runtime.part_store(self.egress.clone());
        let mut deadline = task.deadline;
        match task.fault {
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
        let request = task.request.map(|body: Bytes| -> WasiBody {
            Full::new(body)
                .map_err(|never| match never {})
                .boxed_unsync()
        });
        let handoff = |e: wasmtime::Error| {
            RunError::Transient(format!("cannot hand the task to an instance: {e}"))
        };
        let (sender, receiver) = tokio::sync::oneshot::channel();
        let req = store
            .data_mut()
            .http()
            .new_incoming_request(Scheme::Http, request)
            .map_err(handoff)?;
        let out = store
            .data_mut()
            .http()
            .new_response_outparam(sender)
            .map_err(handoff)?;
        let proxy = self.runtime.proxy_pre().clone();
        let instance = tokio::spawn(async move {
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
                Ok(Err(e)) => Err(format!("the part instance trapped: {}", error_line(&e))),
                Err(_) => Err(format!(
                    "the part instance ran past its deadline of {} s",
                    deadline.as_secs()
                )),
            }
        });
        // If the coordinator gives up on this part (it failed elsewhere and
        // is aborting), dropping this future stops the instance too.
        let guard = AbortOnDrop(Some(instance.abort_handle()));
        match receiver.await {
            // The instance keeps running to stream its response body.
            Ok(Ok(response)) => {
                guard.disarm();
                Ok(response)
            }
            Ok(Err(code)) => Err(RunError::Transient(format!(
                "the part instance answered an error: {code:?}"
            ))),
            Err(_) => Err(RunError::Transient(match instance.await {
                Ok(Err(message)) => message,
                Ok(Ok(())) => "the part instance finished without answering".into(),
                Err(e) => format!("the part instance's task failed: {e}"),
            })),
        }
    }
}

impl PartRunner for LocalInstances {
    fn run(&self, task: PartTask) -> RunFuture<'_> {
        Box::pin(self.run_one(task))
    }

    fn capacity(&self) -> Option<usize> {
        Some(self.runtime.limits().instances.max(1) as usize)
    }
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
