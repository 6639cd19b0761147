//! ferry's native host: HTTP and sandboxed fan-out for the ferry component.
//!
//! The host adds no transfer logic. It loads `ferry.wasm` once
//! ([`Runtime`]), runs its command line as the coordinator, and hands the
//! coordinator's part tasks to a [`PartRunner`] ([`parts`]): fresh local
//! instances, each in its own store with a memory limit and a deadline
//! ([`Limits`]), HTTP workers, or Function Compute ([`fc`]). Every
//! instance's outgoing requests pass an egress allow-list ([`Egress`]) and
//! the address policy ([`net`]). Embedders use [`Transfer`].

mod bindings;
pub mod credentials;
pub mod engine;
pub mod events;
pub mod fc;
pub mod interrupt;
pub mod limits;
pub mod net;
pub mod parts;
pub mod runtime;
pub mod serve;
pub mod state;
pub mod transfer;
pub mod trigger;

pub use engine::{Addressing, EndpointKind};
pub use events::Event;
pub use interrupt::Interrupt;
pub use limits::Limits;
pub use net::egress::Egress;
pub use parts::{LocalInstances, PartRunner, PartTask, RunError};
pub use runtime::Runtime;
pub use transfer::{Credentials, Report, Transfer, TransferError};
