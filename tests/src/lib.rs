//! The loopback test bed of ferry.
//!
//! - [`source`]: an HTTP server of deterministic objects ([`pattern`]), with
//!   Range, ETag, optional OSS CRC header and a per-connection bandwidth cap.
//! - [`store`]: an OSS-protocol object store (path-style), verifying V1 and
//!   V4 signatures and STS tokens, keeping data on disk or discarding it while
//!   still checking sizes and CRCs.
//!
//! Everything listens on 127.0.0.1 only; nothing here is meant to face a
//! network.

pub mod body;
pub mod crc64;
pub mod fault_body;
pub mod faults;
pub mod pattern;
pub mod pattern_body;
pub mod range;
pub mod server;
pub mod source;
pub mod store;
pub mod throttle;
pub mod time_format;
pub mod verify;
