//! `--bwlimit`: one rate, in bytes a second, for every body read through
//! this process's clients at once (all local instances share it). A body is
//! held back frame by frame: a frame reserves its bytes on a shared clock
//! that advances by `bytes / rate`, and is delivered when the clock, less
//! a short burst, has caught up with it (GCRA, the token bucket's virtual
//! scheduling form).

use bytes::Bytes;
use hyper::body::{Body, Frame, SizeHint};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, OnceLock};
use std::task::{ready, Context, Poll};
use std::time::Duration;
use tokio::time::{Instant, Sleep};
use wasmtime_wasi_http::{Error, WasiBody};

/// The burst a reader may take ahead of the rate: a tenth of a second's
/// worth, so short bodies are not delayed and the total stays near the
/// rate over any second.
const BURST: Duration = Duration::from_millis(100);

/// The smallest limit taken: lower would stall every request's timeouts.
pub const MIN_RATE: u64 = 1024;

/// A rate shared by every body it throttles.
#[derive(Debug)]
pub struct Bandwidth {
    bytes_per_sec: u64,
    /// When the bytes reserved so far will have passed at the rate.
    until: Mutex<Instant>,
}

impl Bandwidth {
    pub fn new(bytes_per_sec: u64) -> Bandwidth {
        Bandwidth {
            bytes_per_sec: bytes_per_sec.max(1),
            until: Mutex::new(Instant::now()),
        }
    }

    /// Reserves `bytes`; returns when they may be delivered.
    fn reserve(&self, bytes: usize) -> Instant {
        let now = Instant::now();
        let mut until = self.until.lock().unwrap_or_else(|e| e.into_inner());
        let start = (*until).max(now);
        *until = start + Duration::from_secs_f64(bytes as f64 / self.bytes_per_sec as f64);
        (*until).checked_sub(BURST).unwrap_or(now).max(now)
    }

    /// `body`, delivered within this rate.
    pub fn throttle(self: &Arc<Self>, body: WasiBody) -> WasiBody {
        use http_body_util::BodyExt;
        Throttled {
            body,
            rate: self.clone(),
            held: None,
        }
        .boxed_unsync()
    }
}

/// `--bwlimit` for this process: set once, before any transfer, by the
/// command line.
static LIMIT: OnceLock<Arc<Bandwidth>> = OnceLock::new();

/// Limits every body read from now on to `bytes_per_sec`, all together.
/// Only the first call counts.
pub fn set_global(bytes_per_sec: u64) {
    let _ = LIMIT.set(Arc::new(Bandwidth::new(bytes_per_sec)));
}

/// The process's limit, when one is set.
pub fn global() -> Option<&'static Arc<Bandwidth>> {
    LIMIT.get()
}

/// `--bwlimit RATE`: bytes a second as sizes are written (`100M`, `1.5G`,
/// `512KiB`, `1048576`; units are powers of 1024), at least 1 KiB.
pub fn parse_rate(rate: &str) -> Result<u64, String> {
    match ferry_rules::job::parse_size(rate) {
        Some(n) if n >= MIN_RATE => Ok(n),
        Some(_) => Err(format!(
            "--bwlimit {rate} is too low: give at least 1K (bytes a second, e.g. 100M or 1.5G)"
        )),
        None => Err(format!(
            "--bwlimit {rate:?} is not a rate: give bytes a second, like 100M, 1.5G or 1048576"
        )),
    }
}

/// A body whose frames wait for the rate.
struct Throttled {
    body: WasiBody,
    rate: Arc<Bandwidth>,
    /// A frame read and not yet due, and the wait for it.
    held: Option<(Frame<Bytes>, Pin<Box<Sleep>>)>,
}

impl Body for Throttled {
    type Data = Bytes;
    type Error = Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        let this = &mut *self;
        if let Some((_, sleep)) = &mut this.held {
            ready!(sleep.as_mut().poll(cx));
            let (frame, _) = this.held.take().expect("a held frame");
            return Poll::Ready(Some(Ok(frame)));
        }
        let frame = match ready!(Pin::new(&mut this.body).poll_frame(cx)) {
            Some(Ok(frame)) => frame,
            other => return Poll::Ready(other),
        };
        let bytes = frame.data_ref().map_or(0, Bytes::len);
        let due = this.rate.reserve(bytes);
        if due <= Instant::now() {
            return Poll::Ready(Some(Ok(frame)));
        }
        let mut sleep = Box::pin(tokio::time::sleep_until(due));
        if sleep.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Some(Ok(frame)));
        }
        this.held = Some((frame, sleep));
        Poll::Pending
    }

    fn is_end_stream(&self) -> bool {
        self.held.is_none() && self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_parse_as_sizes_and_low_ones_are_refused() {
        assert_eq!(parse_rate("20M"), Ok(20 << 20));
        assert_eq!(parse_rate("1.5G"), Ok(3 << 29));
        assert!(parse_rate("0")
            .unwrap_err()
            .starts_with("--bwlimit 0 is too low"));
        assert!(parse_rate("fast").unwrap_err().contains("not a rate"));
    }

    #[test]
    fn reservations_pace_the_total_at_the_rate() {
        let rate = Bandwidth::new(1000);
        let start = Instant::now();
        // Ten readers take 1000 bytes each: 10 s at 1000 B/s, less the burst.
        let last = (0..10).map(|_| rate.reserve(1000)).max().unwrap();
        let waited = (last - start).as_secs_f64();
        assert!((9.9..9.95).contains(&waited), "{waited}");
    }
}
