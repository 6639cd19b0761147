//! Function Compute 3.0: part tasks run by InvokeFunction ([`invoke`]),
//! each call signed with Alibaba Cloud's ACS3-HMAC-SHA256 ([`acs3`]).

pub mod acs3;
pub mod invoke;

pub use acs3::AccessKey;
pub use invoke::{FcConfig, FcInvoker};
