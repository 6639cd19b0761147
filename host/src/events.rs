//! The coordinator's progress, as the guest prints it with `--events`: one
//! JSON object a line on its stdout, captured here without touching the
//! host's own stdout.

use bytes::Bytes;
use serde::Deserialize;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::io::AsyncWrite;
use tokio::sync::mpsc::UnboundedSender;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};

/// A progress event from the coordinator.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// The source was probed and the upload initiated.
    Planned {
        size: u64,
        part_size: u64,
        parts: u32,
        source_crc64: Option<u64>,
        parallel: u32,
    },
    /// A part was copied and verified.
    Part {
        part_number: u32,
        bytes: u64,
        done_parts: u32,
        done_bytes: u64,
    },
    /// A remark: resuming, or a slower path and why.
    Note { message: String },
    /// A part failed transiently and is tried again.
    Retry {
        part_number: u32,
        attempt: u32,
        message: String,
    },
}

/// A stdout for the coordinating instance that forwards its bytes to a
/// channel.
pub struct EventPipe(pub UnboundedSender<Bytes>);

impl IsTerminal for EventPipe {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for EventPipe {
    fn async_stream(&self) -> Box<dyn AsyncWrite + Send + Sync> {
        Box::new(PipeWriter(self.0.clone()))
    }
}

struct PipeWriter(UnboundedSender<Bytes>);

impl AsyncWrite for PipeWriter {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        // A closed receiver means nobody listens any more; drop quietly.
        let _ = self.0.send(Bytes::copy_from_slice(buf));
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// Splits a byte stream into lines.
#[derive(Default)]
pub struct Lines {
    pending: Vec<u8>,
}

impl Lines {
    /// Adds bytes; returns the lines they complete.
    pub fn push(&mut self, bytes: &[u8]) -> Vec<String> {
        self.pending.extend_from_slice(bytes);
        let mut lines = Vec::new();
        while let Some(i) = self.pending.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = self.pending.drain(..=i).collect();
            lines.push(String::from_utf8_lossy(&line).trim().to_string());
        }
        lines
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_guest_events() {
        let e: Event = serde_json::from_str(
            r#"{"event":"part","part_number":3,"bytes":6291456,"done_parts":2,"done_bytes":12582912}"#,
        )
        .unwrap();
        assert_eq!(
            e,
            Event::Part {
                part_number: 3,
                bytes: 6291456,
                done_parts: 2,
                done_bytes: 12582912
            }
        );
    }

    #[test]
    fn splits_lines_across_writes() {
        let mut l = Lines::default();
        assert!(l.push(b"{\"a\"").is_empty());
        assert_eq!(l.push(b":1}\n{\"b\":2}\n{"), vec!["{\"a\":1}", "{\"b\":2}"]);
    }
}
