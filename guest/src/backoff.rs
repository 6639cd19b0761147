//! Exponential backoff with full jitter: attempt `n` waits a uniformly random
//! time in `[0, min(cap, base * 2^n))`, which spreads retries of many parts
//! hitting the same failure instead of synchronising them.

use std::time::Duration;

/// How retries are paced (how many there may be is the retry policy's:
/// [`crate::retry::RetryPolicy`]).
#[derive(Debug, Clone, Copy)]
pub struct BackoffConfig {
    /// The first attempt's ceiling.
    pub base: Duration,
    /// No wait exceeds this.
    pub cap: Duration,
}

impl Default for BackoffConfig {
    fn default() -> Self {
        BackoffConfig {
            base: Duration::from_millis(200),
            cap: Duration::from_secs(10),
        }
    }
}

impl BackoffConfig {
    /// The wait before retry number `retry` (1-based), given a uniform random
    /// `unit` in `[0, 1)` (injected so tests are deterministic).
    pub fn delay(&self, retry: u32, unit: f64) -> Duration {
        let ceiling = self
            .base
            .saturating_mul(
                1u32.checked_shl(retry.saturating_sub(1))
                    .unwrap_or(u32::MAX),
            )
            .min(self.cap);
        ceiling.mul_f64(unit.clamp(0.0, 1.0))
    }
}

/// A uniform random number in `[0, 1)` from `wasi:random`.
pub fn random_unit() -> f64 {
    let bits = crate::wasi::random::random::get_random_u64() >> 11;
    bits as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_and_are_capped() {
        let c = BackoffConfig::default();
        assert_eq!(c.delay(1, 0.5), Duration::from_millis(100));
        assert_eq!(c.delay(3, 0.5), Duration::from_millis(400));
        assert_eq!(c.delay(30, 0.999_999), c.cap.mul_f64(0.999_999));
        assert_eq!(c.delay(2, 0.0), Duration::ZERO);
    }
}
