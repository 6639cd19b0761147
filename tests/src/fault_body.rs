//! A response body that pauses and/or breaks off at exact byte offsets
//! (the source's `stall` and `reset_after` faults).

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use hyper::body::{Body, Frame, SizeHint};
use tokio::time::Sleep;

use crate::body::ResponseBody;
use crate::server::ConnIo;

/// Wraps a body: after `stall.0` bytes it pauses for `stall.1`; after `cut`
/// bytes it waits until those bytes reached the socket, then fails, which
/// makes hyper close the connection without finishing the response.
pub struct FaultBody {
    inner: ResponseBody,
    io: ConnIo,
    sent: u64,
    /// Bytes taken from `inner` beyond the next boundary.
    pending: Option<Bytes>,
    stall: Option<(u64, Duration)>,
    sleep: Option<Pin<Box<Sleep>>>,
    cut: Option<u64>,
    /// Set when the cut point is reached: the flush count at that moment.
    cut_epoch: Option<u64>,
}

impl FaultBody {
    pub fn new(
        inner: ResponseBody,
        io: ConnIo,
        stall: Option<(u64, Duration)>,
        cut: Option<u64>,
    ) -> Self {
        Self {
            inner,
            io,
            sent: 0,
            pending: None,
            stall,
            sleep: None,
            cut,
            cut_epoch: None,
        }
    }

    /// The next offset where something happens.
    fn boundary(&self) -> Option<u64> {
        let stall = self.stall.map(|(at, _)| at);
        match (stall, self.cut) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

impl Body for FaultBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        let this = &mut *self;
        loop {
            if let Some(sleep) = this.sleep.as_mut() {
                if sleep.as_mut().poll(cx).is_pending() {
                    return Poll::Pending;
                }
                this.sleep = None;
            }
            if let Some(epoch) = this.cut_epoch {
                if this.io.flushes() > epoch {
                    return Poll::Ready(Some(Err(io::Error::new(
                        io::ErrorKind::ConnectionAborted,
                        "response cut by fault injection",
                    ))));
                }
                this.io.wake_on_flush(cx);
                if this.io.flushes() > epoch {
                    continue;
                }
                return Poll::Pending;
            }
            let chunk = match this.pending.take() {
                Some(c) => c,
                None => match Pin::new(&mut this.inner).poll_frame(cx) {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(None) => return Poll::Ready(None),
                    Poll::Ready(Some(Err(e))) => return Poll::Ready(Some(Err(e))),
                    Poll::Ready(Some(Ok(frame))) => match frame.into_data() {
                        Ok(data) => data,
                        Err(frame) => return Poll::Ready(Some(Ok(frame))),
                    },
                },
            };
            let mut head = chunk;
            if let Some(at) = this.boundary() {
                let room = at.saturating_sub(this.sent);
                if (head.len() as u64) > room {
                    let tail = head.split_off(room as usize);
                    this.pending = Some(tail);
                }
            }
            this.sent += head.len() as u64;
            if let Some((at, pause)) = this.stall {
                if this.sent == at {
                    this.stall = None;
                    this.sleep = Some(Box::pin(tokio::time::sleep(pause)));
                }
            }
            if this.cut == Some(this.sent) {
                this.cut = None;
                this.cut_epoch = Some(this.io.flushes());
            }
            if head.is_empty() {
                continue;
            }
            return Poll::Ready(Some(Ok(Frame::data(head))));
        }
    }

    fn is_end_stream(&self) -> bool {
        // A body that is still to break off never ends.
        self.cut.is_none()
            && self.cut_epoch.is_none()
            && self.pending.is_none()
            && self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        let inner = self.inner.size_hint();
        let extra = self.pending.as_ref().map_or(0, |p| p.len() as u64);
        match inner.exact() {
            Some(n) => SizeHint::with_exact(n + extra),
            None => {
                let mut hint = SizeHint::new();
                hint.set_lower(inner.lower() + extra);
                hint
            }
        }
    }
}
