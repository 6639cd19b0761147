//! A per-connection bandwidth cap, to make loopback behave like the public
//! internet (about 13 MB/s a connection).
//!
//! A token bucket whose capacity is one chunk: a frame is sent, its size is
//! charged, and when the balance is negative the next frame waits exactly
//! as long as it takes to pay the debt. Rate is smooth at the scale of one
//! chunk (a few ms), not bursty per second.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use hyper::body::{Body, Frame, SizeHint};
use tokio::time::Sleep;

/// The budget of one connection.
#[derive(Debug)]
pub struct TokenBucket {
    rate: f64,
    capacity: f64,
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    /// `rate` bytes a second, bursting at most `capacity` bytes.
    pub fn new(rate: u64, capacity: u64) -> Self {
        Self {
            rate: rate.max(1) as f64,
            capacity: capacity.max(1) as f64,
            tokens: capacity.max(1) as f64,
            last: Instant::now(),
        }
    }

    /// Charges `n` bytes at `now`; returns how long to wait before the next
    /// send.
    pub fn charge(&mut self, n: u64, now: Instant) -> Duration {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + elapsed * self.rate).min(self.capacity) - n as f64;
        if self.tokens >= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(-self.tokens / self.rate)
        }
    }

    /// A chunk size that keeps the pace smooth: about 20 ms of data,
    /// between 4 KiB and 64 KiB.
    pub fn chunk_for(rate: u64) -> usize {
        ((rate / 50) as usize).clamp(4 << 10, 64 << 10)
    }
}

/// Wraps a body so its frames go out no faster than the shared bucket allows.
pub struct Throttled<B> {
    inner: B,
    bucket: Arc<Mutex<TokenBucket>>,
    delay: Option<Pin<Box<Sleep>>>,
}

impl<B> Throttled<B> {
    pub fn new(inner: B, bucket: Arc<Mutex<TokenBucket>>) -> Self {
        Self {
            inner,
            bucket,
            delay: None,
        }
    }
}

impl<B> Body for Throttled<B>
where
    B: Body<Data = Bytes> + Unpin,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        if let Some(delay) = self.delay.as_mut() {
            if delay.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            self.delay = None;
        }
        let frame = Pin::new(&mut self.inner).poll_frame(cx);
        if let Poll::Ready(Some(Ok(f))) = &frame {
            if let Some(data) = f.data_ref() {
                let wait = self
                    .bucket
                    .lock()
                    .unwrap()
                    .charge(data.len() as u64, Instant::now());
                if !wait.is_zero() {
                    self.delay = Some(Box::pin(tokio::time::sleep(wait)));
                }
            }
        }
        frame
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debt_turns_into_wait_at_the_rate() {
        let start = Instant::now();
        let mut b = TokenBucket::new(1000, 100);
        assert_eq!(b.charge(100, start), Duration::ZERO);
        // 100 bytes in debt at 1000 B/s: 100 ms.
        assert_eq!(b.charge(100, start), Duration::from_millis(100));
        // After paying the debt the balance is zero again.
        assert_eq!(
            b.charge(0, start + Duration::from_millis(100)),
            Duration::ZERO
        );
    }

    #[test]
    fn idle_time_does_not_bank_more_than_capacity() {
        let start = Instant::now();
        let mut b = TokenBucket::new(1000, 100);
        let later = start + Duration::from_secs(10);
        assert_eq!(b.charge(100, later), Duration::ZERO);
        assert_eq!(b.charge(50, later), Duration::from_millis(50));
    }
}
