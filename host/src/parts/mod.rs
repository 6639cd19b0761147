//! Where parts run. The coordinator posts each part task to the fan-out
//! authority; [`fanout::Fanout`] bounds the parts in flight and hands each
//! task to the transfer's [`PartRunner`], which runs it on a fresh instance
//! of the component somewhere:
//!
//! - [`local`]: on this machine, each in its own store and limits (the
//!   default);
//! - [`workers`]: on HTTP workers serving `POST /parts` (`--workers`);
//! - [`crate::fc`]: in Function Compute, one InvokeFunction per part;
//! - or an embedder's own runner.
//!
//! [`remote`] is what the remote runners share; [`chaos`] the deliberate
//! failures the tests ask for.

pub mod chaos;
pub mod fanout;
pub mod local;
pub mod remote;
pub mod runner;
pub mod workers;

pub use fanout::Fanout;
pub use local::LocalInstances;
pub use runner::{PartRunner, PartTask, RunError, RunFuture};
pub use workers::{PoolStats, WorkerPool};
