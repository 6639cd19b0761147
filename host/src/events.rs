//! The coordinator's progress: the WIT `progress-event`s the component's
//! typed `run` posts, in batches, to the progress URL; this host answers
//! those posts itself and hands the events on. Nothing reaches the network.
//! Beside them, [`UPLOADED`] counts the bytes of part bodies as they flow.

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use tokio::sync::mpsc::UnboundedSender;
use wasmtime_wasi_http::WasiBody;

pub use crate::bindings::{Note, PaceChange, PartDone, Planned, ProgressEvent as Event, Retrying};

/// The reserved authority progress is posted to (`.invalid` never
/// resolves, RFC 2606): only this host answers it.
pub const PROGRESS_HOST: &str = "ferry-progress.invalid";

/// The progress URL handed to a coordinating instance.
pub fn progress_url() -> String {
    format!("http://{PROGRESS_HOST}/events")
}

/// Largest batch of events accepted in one post.
const MAX_BATCH: usize = 1 << 20;

/// Where a coordinator's progress goes: each posted batch, read as the
/// WIT type, is sent on this channel.
#[derive(Clone)]
pub struct Progress(pub UnboundedSender<Vec<Event>>);

impl Progress {
    /// Answers one posted batch: 204 once its events are handed on, 400 for
    /// a body that is not a list of progress events.
    pub async fn receive(&self, request: http::Request<WasiBody>) -> http::Response<WasiBody> {
        let body = Limited::new(request.into_body(), MAX_BATCH).collect().await;
        let status = match body.map(|b| decode(&b.to_bytes())) {
            Ok(Some(events)) => {
                // A closed receiver means nobody listens any more.
                let _ = self.0.send(events);
                204
            }
            _ => 400,
        };
        http::Response::builder()
            .status(status)
            .body(
                Full::new(Bytes::new())
                    .map_err(|never| match never {})
                    .boxed_unsync(),
            )
            .expect("a static response always builds")
    }
}

/// The bytes of store-bound request bodies (UploadPart, PutObject) as the
/// instances of this process write them, for a progress display to read:
/// they flow in every part in flight, long before its part-done event.
/// Process-wide: a display that shares the process with other transfers
/// sees theirs too.
pub static UPLOADED: Uploaded = Uploaded::new();

/// A count of body bytes written to the store: `sent` grows as bodies are
/// written; `lost` takes back those of requests that then failed (an error,
/// a refusal, an instance stopped), whose parts will be sent again.
pub struct Uploaded {
    sent: AtomicU64,
    lost: AtomicU64,
}

impl Uploaded {
    const fn new() -> Self {
        Uploaded {
            sent: AtomicU64::new(0),
            lost: AtomicU64::new(0),
        }
    }

    /// Bytes written in requests that succeeded or are still being sent.
    pub fn moved(&self) -> u64 {
        let lost = self.lost.load(Ordering::Relaxed);
        self.sent.load(Ordering::Relaxed).saturating_sub(lost)
    }

    /// Starts counting one request's body: the tally counts its bytes as
    /// they are written and takes them back when dropped unless
    /// [`Tally::keep`] was called.
    pub fn tally(&'static self) -> Tally {
        Tally {
            uploaded: self,
            request: Arc::new(Request::default()),
            kept: false,
        }
    }
}

#[derive(Default)]
struct Request {
    bytes: AtomicU64,
    /// Set once the request failed: what it still writes is not counted.
    failed: AtomicBool,
}

/// One request's share of [`UPLOADED`] (see [`Uploaded::tally`]).
pub struct Tally {
    uploaded: &'static Uploaded,
    request: Arc<Request>,
    kept: bool,
}

impl Tally {
    /// `body`, counted as it is written.
    pub fn count(&self, body: WasiBody) -> WasiBody {
        let (uploaded, request) = (self.uploaded, self.request.clone());
        body.map_frame(move |frame| {
            if let Some(data) = frame.data_ref() {
                if !request.failed.load(Ordering::Relaxed) {
                    let n = data.len() as u64;
                    request.bytes.fetch_add(n, Ordering::Relaxed);
                    uploaded.sent.fetch_add(n, Ordering::Relaxed);
                }
            }
            frame
        })
        .boxed_unsync()
    }

    /// The request succeeded: its bytes stay counted.
    pub fn keep(mut self) {
        self.kept = true;
    }
}

impl Drop for Tally {
    fn drop(&mut self) {
        if !self.kept {
            self.request.failed.store(true, Ordering::Relaxed);
            let n = self.request.bytes.load(Ordering::Relaxed);
            self.uploaded.lost.fetch_add(n, Ordering::Relaxed);
        }
    }
}

/// A posted batch: a JSON list of progress events; `None` if it is not one.
pub fn decode(body: &[u8]) -> Option<Vec<Event>> {
    serde_json::from_slice(body).ok()
}

/// The event with its message on one line (see [`one_line`]).
pub fn on_one_line(event: Event) -> Event {
    match event {
        Event::Note(Note { message }) => Event::Note(Note {
            message: one_line(&message),
        }),
        Event::Retry(r) => Event::Retry(Retrying {
            message: one_line(&r.message),
            ..r
        }),
        other => other,
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

    /// Bytes count as a body is read from; a request that fails takes its
    /// bytes back, one that succeeds keeps them.
    #[tokio::test]
    async fn bodies_are_counted_and_failed_ones_taken_back() {
        static COUNT: Uploaded = Uploaded::new();
        let body = |n: usize| {
            Full::new(Bytes::from(vec![7u8; n]))
                .map_err(|never| match never {})
                .boxed_unsync()
        };
        let kept = COUNT.tally();
        let read = kept.count(body(1000)).collect().await.unwrap().to_bytes();
        assert_eq!((read.len(), COUNT.moved()), (1000, 1000));
        kept.keep();
        let failed = COUNT.tally();
        failed.count(body(300)).collect().await.unwrap();
        assert_eq!(COUNT.moved(), 1300, "counted while it is being sent");
        drop(failed);
        assert_eq!(COUNT.moved(), 1000, "taken back when it failed");
    }

    /// A batch as the guest posts it (serde's plain form of the WIT
    /// types) reads back as the same events; anything else is refused.
    #[test]
    fn decodes_posted_batches() {
        let events = vec![
            Event::Part(PartDone {
                part_number: 3,
                bytes: 6291456,
                done_parts: 2,
                done_bytes: 12582912,
            }),
            Event::Note(Note {
                message: "resuming".into(),
            }),
        ];
        let body = serde_json::to_vec(&events).unwrap();
        assert_eq!(decode(&body), Some(events));
        assert_eq!(
            decode(br#"[{"Part":{"part_number":1,"bytes":2,"done_parts":1,"done_bytes":2}}]"#),
            Some(vec![Event::Part(PartDone {
                part_number: 1,
                bytes: 2,
                done_parts: 1,
                done_bytes: 2
            })])
        );
        assert_eq!(decode(br#"{"event":"part"}"#), None);
    }
}
