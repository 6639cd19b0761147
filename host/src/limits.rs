//! The sandbox's bounds: per instance (memory, deadline) and per host
//! (instances at once).

use std::time::Duration;

/// Bounds on the instances a [`crate::Runtime`] creates.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Part instances running at once.
    pub instances: u32,
    /// Linear memory one instance may grow to, in bytes.
    pub instance_memory: usize,
    /// How long one part instance may run before it is stopped and its part
    /// re-dispatched.
    pub part_deadline: Duration,
    /// How long the coordinating instance may run.
    pub job_deadline: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            instances: 16,
            instance_memory: 128 << 20,
            part_deadline: Duration::from_secs(600),
            job_deadline: Duration::from_secs(24 * 3600),
        }
    }
}

/// How often the epoch advances; deadlines are counted in these ticks.
pub const EPOCH_TICK: Duration = Duration::from_millis(50);

/// A deadline in epoch ticks.
pub fn ticks(deadline: Duration) -> u64 {
    (deadline.as_millis() / EPOCH_TICK.as_millis()).max(1) as u64
}
