//! ferry's native host: HTTP and sandboxed fan-out for the ferry component.
//!
//! The host adds no transfer logic. It loads `ferry.wasm` once
//! ([`Runtime`]), runs its command line as the coordinator, and serves the
//! coordinator's part tasks ([`fanout`]) on fresh instances, each in its own
//! store with a memory limit and a deadline ([`Limits`]); outgoing requests
//! pass an egress allow-list ([`Egress`]). Embedders use [`Transfer`].

pub mod acs3;
pub mod chaos;
pub mod client;
pub mod egress;
pub mod engine;
pub mod events;
pub mod fanout;
pub mod interrupt;
pub mod limits;
pub mod outgoing;
pub mod remote;
pub mod runtime;
pub mod serve;
pub mod ssrf;
pub mod state;
pub mod transfer;
pub mod trigger;

pub use egress::Egress;
pub use engine::{Addressing, EndpointKind};
pub use events::Event;
pub use interrupt::Interrupt;
pub use limits::Limits;
pub use runtime::Runtime;
pub use transfer::{Credentials, Report, Transfer, TransferError};
