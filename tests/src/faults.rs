//! Fault injection for both servers.
//!
//! Empty for now: the design calls for resets mid-body, 5xx/429 bursts,
//! stalls, a source changing mid-transfer and a store returning a wrong part
//! CRC. Each will be a field here, read by the server on every request, so
//! tests can switch faults on and off while a transfer runs (`set_faults`).

/// Faults to inject; the default injects none.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Faults {}
