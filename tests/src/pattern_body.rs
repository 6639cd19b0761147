//! A response body that generates a range of a pattern object on the fly.

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use hyper::body::{Body, Frame, SizeHint};

use crate::pattern;

/// Bytes `[start, end)` of object `seed`, in chunks of `chunk` bytes.
pub struct PatternBody {
    seed: u64,
    pos: u64,
    end: u64,
    chunk: usize,
    /// False to hide the length (the server then sends it chunked).
    announce_length: bool,
}

impl PatternBody {
    pub fn new(seed: u64, start: u64, end: u64, chunk: usize, announce_length: bool) -> Self {
        Self {
            seed,
            pos: start,
            end,
            chunk: chunk.max(1),
            announce_length,
        }
    }
}

impl Body for PatternBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        if self.pos >= self.end {
            return Poll::Ready(None);
        }
        let n = (self.end - self.pos).min(self.chunk as u64) as usize;
        let mut buf = vec![0u8; n];
        pattern::fill(self.seed, self.pos, &mut buf);
        self.pos += n as u64;
        Poll::Ready(Some(Ok(Frame::data(Bytes::from(buf)))))
    }

    fn is_end_stream(&self) -> bool {
        self.pos >= self.end
    }

    fn size_hint(&self) -> SizeHint {
        if self.announce_length {
            SizeHint::with_exact(self.end - self.pos)
        } else {
            SizeHint::default()
        }
    }
}
