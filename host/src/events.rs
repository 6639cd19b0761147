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
        /// Parts in flight at first.
        parallel: u32,
        /// The most parts in flight: above `parallel` when the pacer finds
        /// the number as the copy runs.
        #[serde(default)]
        max_parallel: Option<u32>,
    },
    /// The pacer changed the parts in flight.
    Pace {
        /// Seconds since the parts began.
        secs: f64,
        /// Parts in flight from now on.
        parallel: u32,
        /// The throughput measured just before, MB/s (10^6 bytes).
        mbps: f64,
        /// `grow`, `knee`, `probe`, `hold`, `throttled` or `cap`.
        reason: String,
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

impl Event {
    /// The event with its message on one line (see [`one_line`]).
    pub fn one_line(self) -> Event {
        match self {
            Event::Note { message } => Event::Note {
                message: one_line(&message),
            },
            Event::Retry {
                part_number,
                attempt,
                message,
            } => Event::Retry {
                part_number,
                attempt,
                message: one_line(&message),
            },
            other => other,
        }
    }
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

/// A message on one line for a person, whatever the environment: an
/// error's `{:?}` form (which `wasi:io/error.to-debug-string` hands the
/// component) loses its `Stack backtrace:` frames (there with
/// `RUST_BACKTRACE=1`) and any wasm backtrace, its `Caused by:` list is
/// joined with `: `, and what the message says after them is kept.
pub fn one_line(text: &str) -> String {
    if !text.contains('\n') {
        return text.to_string();
    }
    #[derive(PartialEq)]
    enum Skip {
        Nothing,
        WasmFrames,
        NativeFrames,
    }
    let mut out = String::new();
    let (mut skip, mut causes) = (Skip::Nothing, false);
    for line in text.lines() {
        let t = line.trim();
        let numbered = t
            .split_once(": ")
            .filter(|(n, _)| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
        if t.starts_with("Stack backtrace:") || t.starts_with("stack backtrace:") {
            skip = Skip::NativeFrames;
            continue;
        }
        if skip == Skip::NativeFrames
            && (numbered.is_some() || t.starts_with("at ") || t.starts_with("note:"))
        {
            continue;
        }
        if let Some(i) = t.find("error while executing at wasm backtrace:") {
            skip = Skip::WasmFrames;
            join(&mut out, &t[..i]);
            continue;
        }
        if t.is_empty() || t.starts_with("note: using the `WASMTIME_BACKTRACE_DETAILS") {
            if skip == Skip::WasmFrames {
                skip = Skip::Nothing;
            }
            continue;
        }
        if t == "Caused by:" {
            (skip, causes) = (Skip::Nothing, true);
            continue;
        }
        if skip == Skip::WasmFrames && line.starts_with(char::is_whitespace) {
            continue;
        }
        skip = Skip::Nothing;
        match numbered {
            Some((_, rest)) if causes => join(&mut out, rest),
            _ => join(&mut out, t),
        }
    }
    out
}

/// Appends one piece of a message: `: ` before a new clause, a space
/// before a parenthesis, nothing before `;` or `,`.
fn join(out: &mut String, piece: &str) {
    let piece = piece.trim().trim_end_matches(':').trim_end();
    if piece.is_empty() {
        return;
    }
    if !out.is_empty() {
        if piece.starts_with('(') {
            out.push(' ');
        } else if !piece.starts_with([';', ',', '.']) {
            out.push_str(": ");
        }
    }
    out.push_str(piece);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What a body error looks like from `to-debug-string` under
    /// `RUST_BACKTRACE=1`, and a trap's chain: one line each.
    #[test]
    fn messages_lose_their_backtraces() {
        let debug = "part 2: cannot read the source http://h/x: body stream failed: error \
                     reading a body from connection\n\nCaused by:\n    0: connection reset\n    \
                     1: os error 104\n\nStack backtrace:\n   0: wasmtime::Error::new\n             \
                     at /src/error.rs:1:2\n   1: main\n (gave up after 2 attempts)";
        assert_eq!(
            one_line(debug),
            "part 2: cannot read the source http://h/x: body stream failed: error reading a \
             body from connection: connection reset: os error 104 (gave up after 2 attempts)"
        );
        let trap = "the part instance trapped: error while executing at wasm backtrace:\n    \
                    0: 0x1f2e - ferry.wasm!copy\n    1: 0x2a - ferry.wasm!run\nnote: using the \
                    `WASMTIME_BACKTRACE_DETAILS=1` environment variable may show more\n\n\
                    Caused by:\n    wasm trap: interrupt";
        assert_eq!(
            one_line(trap),
            "the part instance trapped: wasm trap: interrupt"
        );
        assert_eq!(one_line("plain: one line."), "plain: one line.");
    }

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
