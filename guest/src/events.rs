//! Progress as a transfer goes, as the WIT `progress-event`: nothing, plain
//! lines for people, JSON lines on stdout (`--events`), or batches posted
//! to the runner that called the typed `run` (its `progress-url`).

use crate::pacing::{Change, Summary};
use crate::size::human;
use crate::{
    Note, PaceChange, Parallelism, PartDone, Plan, Planned, ProgressEvent, Retrying, SourceInfo,
};
use std::io::Write;
use std::time::{Duration, Instant};

/// How long posted events may wait to be sent with the next ones.
const BATCH_WINDOW: Duration = Duration::from_millis(100);

/// Where progress goes.
pub enum Sink {
    /// Nowhere (typed engine calls, the HTTP service).
    Quiet,
    /// A line on stderr at most once a second.
    Plain { started: Instant, last: Instant },
    /// One JSON object a line on stdout (`--events`).
    Json,
    /// Batches posted to a URL (the typed `run`'s `progress-url`).
    Post {
        url: String,
        pending: Vec<ProgressEvent>,
        since: Instant,
    },
}

impl Sink {
    pub fn plain() -> Sink {
        let now = Instant::now();
        Sink::Plain {
            started: now,
            last: now,
        }
    }

    /// Posts events to `url` in batches.
    pub fn post(url: String) -> Sink {
        Sink::Post {
            url,
            pending: Vec::new(),
            since: Instant::now(),
        }
    }

    /// The plan, with the parts in flight at first and at most.
    pub fn planned(&mut self, plan: &Plan, parallel: u32, max_parallel: u32) {
        let size = plan.source.size.unwrap_or(0);
        if let Sink::Plain { .. } = self {
            eprintln!(
                "planning   {}, {} parts of {}, {}{}",
                human(size),
                plan.part_count,
                human(plan.part_size),
                in_flight(parallel, max_parallel),
                source_note(&plan.source)
            );
        }
        self.send(ProgressEvent::Planned(Planned {
            size,
            part_size: plan.part_size,
            parts: plan.part_count,
            source_crc64: plan.source.crc64,
            parallel,
            max_parallel: Some(max_parallel),
        }));
    }

    /// The pacer changed the parts in flight (`--events`: what `make
    /// bench` plots).
    pub fn paced(&mut self, change: &Change) {
        if let Sink::Plain { .. } = self {
            eprintln!(
                "pacing     {} in flight at {:.1} s ({}, {:.1} MB/s)",
                change.parallel,
                change.secs,
                change.reason.name(),
                change.mbps
            );
        }
        self.send(ProgressEvent::Pace(pace_change(change)));
    }

    pub fn part_done(
        &mut self,
        part_number: u32,
        bytes: u64,
        done_parts: u32,
        done_bytes: u64,
        plan: &Plan,
    ) {
        if let Sink::Plain { started, last } = self {
            let now = Instant::now();
            if now.duration_since(*last) >= Duration::from_secs(1) || done_parts == plan.part_count
            {
                *last = now;
                let secs = now.duration_since(*started).as_secs_f64().max(1e-3);
                eprintln!(
                    "copying    {} / {}  {}/s  parts {done_parts}/{}",
                    human(done_bytes),
                    human(plan.source.size.unwrap_or(0)),
                    human((done_bytes as f64 / secs) as u64),
                    plan.part_count
                );
            }
        }
        self.send(ProgressEvent::Part(PartDone {
            part_number,
            bytes,
            done_parts,
            done_bytes,
        }));
    }

    /// A remark worth a line (resuming, a slower path and why).
    pub fn note(&mut self, message: &str) {
        if let Sink::Plain { .. } = self {
            eprintln!("note       {message}");
        }
        self.send(ProgressEvent::Note(Note {
            message: message.to_string(),
        }));
    }

    pub fn retry(&mut self, part_number: u32, attempt: u32, message: &str) {
        if let Sink::Plain { .. } = self {
            eprintln!("retrying   part {part_number} (attempt {attempt}): {message}");
        }
        self.send(ProgressEvent::Retry(Retrying {
            part_number,
            attempt,
            message: message.to_string(),
        }));
    }

    /// Sends what a [`Sink::Post`] still holds.
    pub fn flush(&mut self) {
        if let Sink::Post {
            url,
            pending,
            since,
        } = self
        {
            *since = Instant::now();
            if pending.is_empty() {
                return;
            }
            let batch = std::mem::take(pending);
            // A runner that stopped listening loses its progress, not the copy.
            if let Err(e) = serde_json::to_vec(&batch)
                .map_err(|e| e.to_string())
                .and_then(|body| post(url, &body))
            {
                eprintln!("ferry: progress not delivered: {e}");
            }
        }
    }

    fn send(&mut self, event: ProgressEvent) {
        match self {
            Sink::Quiet | Sink::Plain { .. } => {}
            Sink::Json => {
                let mut out = std::io::stdout().lock();
                let _ = writeln!(out, "{}", json_line(&event));
                let _ = out.flush();
            }
            Sink::Post { pending, since, .. } => {
                // Parts come in bursts: they wait for the window; the rest
                // (the plan, a note, a retry, the pacer) go at once.
                let urgent = !matches!(event, ProgressEvent::Part(_));
                pending.push(event);
                if urgent || since.elapsed() >= BATCH_WINDOW {
                    self.flush();
                }
            }
        }
    }
}

/// An event as `--events` prints it: the fields of its case, and the case
/// itself as `event` (`{"event":"part","part_number":3,...}`).
pub fn json_line(event: &ProgressEvent) -> serde_json::Value {
    let value = serde_json::to_value(event).unwrap_or_default();
    let Some((case, fields)) = value.as_object().and_then(|o| o.iter().next()) else {
        return value;
    };
    let mut line = fields.as_object().cloned().unwrap_or_default();
    line.insert("event".into(), case.to_ascii_lowercase().into());
    line.into()
}

fn pace_change(change: &Change) -> PaceChange {
    PaceChange {
        secs: change.secs,
        parallel: change.parallel,
        mbps: change.mbps,
        reason: change.reason.name().to_string(),
    }
}

/// The pacer's summary as the report carries it.
pub fn parallelism(summary: &Summary) -> Parallelism {
    Parallelism {
        mode: summary.mode.to_string(),
        last: summary.last,
        max: summary.max,
        cap: summary.cap,
        changes: summary.changes.iter().map(pace_change).collect(),
        changes_dropped: summary.changes_dropped,
    }
}

/// `4 in flight (automatic, up to 128)`, or `16 in flight` when pinned.
fn in_flight(parallel: u32, max_parallel: u32) -> String {
    if max_parallel > parallel {
        format!("{parallel} in flight (automatic, up to {max_parallel})")
    } else {
        format!("{parallel} in flight")
    }
}

fn source_note(source: &SourceInfo) -> &'static str {
    if source.crc64.is_some() {
        ", source offers CRC-64"
    } else {
        ""
    }
}

/// One blocking `POST` of a JSON body, for the progress channel: the runner
/// answers it at once, so the transfer barely pauses.
#[cfg(target_arch = "wasm32")]
fn post(url: &str, body: &[u8]) -> Result<(), String> {
    use crate::wasi::http::outgoing_handler;
    use crate::wasi::http::types::{Fields, Method, OutgoingBody, OutgoingRequest, Scheme};
    let uri: ::http::Uri = url.parse().map_err(|e| format!("bad progress URL: {e}"))?;
    let headers = Fields::from_list(&[
        ("content-type".into(), b"application/json".to_vec()),
        ("content-length".into(), body.len().to_string().into_bytes()),
    ])
    .map_err(|e| format!("{e:?}"))?;
    let request = OutgoingRequest::new(headers);
    let _ = request.set_method(&Method::Post);
    let _ = request.set_scheme(Some(&match uri.scheme_str() {
        Some("https") => Scheme::Https,
        _ => Scheme::Http,
    }));
    let _ = request.set_authority(uri.authority().map(|a| a.as_str()));
    let _ = request.set_path_with_query(uri.path_and_query().map(|p| p.as_str()));
    let outgoing = request.body().map_err(|_| "no request body")?;
    let future = outgoing_handler::handle(request, None).map_err(|e| format!("{e:?}"))?;
    {
        let stream = outgoing.write().map_err(|_| "no body stream")?;
        for chunk in body.chunks(4096) {
            stream
                .blocking_write_and_flush(chunk)
                .map_err(|e| format!("{e:?}"))?;
        }
    }
    OutgoingBody::finish(outgoing, None).map_err(|e| format!("{e:?}"))?;
    future.subscribe().block();
    match future.get() {
        Some(Ok(Ok(response))) if response.status() < 300 => Ok(()),
        Some(Ok(Ok(response))) => Err(format!("the runner answered {}", response.status())),
        Some(Ok(Err(code))) => Err(format!("{code:?}")),
        _ => Err("no answer".into()),
    }
}

#[cfg(not(target_arch = "wasm32"))]
fn post(_url: &str, _body: &[u8]) -> Result<(), String> {
    Err("posting needs the component's wasi:http".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `--events` prints the case as `event` beside its fields, as before
    /// the events were WIT types.
    #[test]
    fn json_lines_name_the_case() {
        let line = json_line(&ProgressEvent::Part(PartDone {
            part_number: 3,
            bytes: 6,
            done_parts: 2,
            done_bytes: 12,
        }));
        assert_eq!(
            line,
            serde_json::json!({"event": "part", "part_number": 3, "bytes": 6,
                               "done_parts": 2, "done_bytes": 12})
        );
        let note = json_line(&ProgressEvent::Note(Note {
            message: "m".into(),
        }));
        assert_eq!(note, serde_json::json!({"event": "note", "message": "m"}));
    }
}
