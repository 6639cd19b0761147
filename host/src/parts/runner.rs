//! Where a part runs, as a trait: [`PartRunner`]. The coordinator's fan-out
//! ([`crate::parts::fanout::Fanout`]) hands each part task to one runner and
//! never asks which kind it is; ferry's own are local instances
//! ([`crate::parts::local::LocalInstances`]), HTTP workers
//! ([`crate::parts::workers::WorkerPool`]) and Function Compute
//! ([`crate::fc::invoke::FcInvoker`]). An embedder may bring its own, as
//! wasmtime-wasi-http takes the embedder's outgoing requests through
//! `WasiHttpHooks`.

use crate::net::egress::Egress;
use crate::parts::chaos::Fault;
use bytes::Bytes;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;
use wasmtime_wasi_http::WasiBody;

/// One part task as the coordinator posted it: `POST /parts` with the
/// task's JSON (presigned URLs, no secret) as its body.
pub struct PartTask {
    /// The coordinator's request, its body read whole.
    pub request: http::Request<Bytes>,
    /// How long the part may take, its retries included.
    pub deadline: Duration,
    /// A failure `FERRY_CHAOS` asks for (tests only); see [`PartTask::fault`].
    pub(crate) fault: Option<Fault>,
}

impl PartTask {
    /// A task to run within `deadline`.
    pub fn new(request: http::Request<Bytes>, deadline: Duration) -> PartTask {
        PartTask {
            request,
            deadline,
            fault: None,
        }
    }

    /// The task's JSON.
    pub fn body(&self) -> &Bytes {
        self.request.body()
    }

    /// The part number the task names, for messages.
    pub fn part_number(&self) -> Option<u64> {
        part_number(self.body())
    }

    /// The failure `FERRY_CHAOS` asks this task's instance to suffer, if any.
    pub fn fault(&self) -> Option<Fault> {
        self.fault
    }

    /// For a runner that cannot make its instance fail on purpose: a
    /// requested fault is taken as the remote instance failing unasked.
    pub fn fail_if_faulted(&self) -> Result<(), RunError> {
        match self.fault {
            Some(fault) => Err(RunError::Transient(format!(
                "the remote instance failed (FERRY_CHAOS {fault:?})"
            ))),
            None => Ok(()),
        }
    }
}

/// The part number in a task's JSON.
pub(crate) fn part_number(task: &[u8]) -> Option<u64> {
    serde_json::from_slice::<serde_json::Value>(task)
        .ok()?
        .get("part_number")?
        .as_u64()
}

/// "part N", or "a part" when the task names none.
pub(crate) fn part_label(task: &[u8]) -> String {
    part_number(task).map_or_else(|| "a part".into(), |n| format!("part {n}"))
}

/// Why a runner brought back no answer from the component.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunError {
    /// The instance failed (trapped, ran out of time or memory, crashed,
    /// was unreachable): the coordinator may send the part again (503).
    Transient(String),
    /// The runner refused the task and retrying cannot help (a signature or
    /// permission refused): the coordinator stops (500).
    Refused(String),
}

impl fmt::Display for RunError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RunError::Transient(m) | RunError::Refused(m) => f.write_str(m),
        }
    }
}

/// What [`PartRunner::run`] returns: the component's answer (a part result
/// or the failure it describes, with its status), or why there is none.
pub type RunFuture<'a> =
    Pin<Box<dyn Future<Output = Result<http::Response<WasiBody>, RunError>> + Send + 'a>>;

/// Where part tasks run.
pub trait PartRunner: Send + Sync {
    /// Runs one part task on a fresh instance of the component and returns
    /// the instance's answer. Dropping the future gives the part up.
    fn run(&self, task: PartTask) -> RunFuture<'_>;

    /// Tasks it can run at once, when it has a bound of its own; the
    /// fan-out holds the parts in flight to the smaller of this and the
    /// runtime's `instances`.
    fn capacity(&self) -> Option<usize> {
        None
    }

    /// The hosts the runner's own requests reach (workers, FC's endpoint),
    /// which part instances may never reach; `None` for none.
    fn egress(&self) -> Option<&Egress> {
        None
    }

    /// Called once the transfer has ended: a runner may log what it did.
    fn finished(&self) {}
}
