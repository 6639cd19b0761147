//! The network every instance's requests go through: the outgoing hooks
//! that serve part tasks and pass the rest on ([`outgoing`]), the per-job
//! egress allow-list ([`egress`]), the pooled client ([`client`]), the
//! address policy it holds connections to ([`address_policy`]) and the
//! rate `--bwlimit` holds its bodies to ([`bwlimit`]), and the CRC-64s of
//! part bodies computed natively for the component ([`body_crc`]).

pub mod address_policy;
pub mod body_crc;
pub mod bwlimit;
pub mod client;
pub mod egress;
pub mod outgoing;

pub use egress::Egress;
