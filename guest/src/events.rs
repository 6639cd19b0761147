//! Progress as a transfer goes: nothing, plain lines for people, or JSON
//! lines for a host that draws its own progress bar.

use crate::size::human;
use crate::{Plan, SourceInfo};
use serde_json::json;
use std::io::Write;
use std::time::{Duration, Instant};

/// Where progress goes.
pub enum Sink {
    /// Nowhere (typed engine calls, the HTTP service).
    Quiet,
    /// A line on stderr at most once a second.
    Plain { started: Instant, last: Instant },
    /// One JSON object a line on stdout (`--events`).
    Json,
}

impl Sink {
    pub fn plain() -> Sink {
        let now = Instant::now();
        Sink::Plain {
            started: now,
            last: now,
        }
    }

    pub fn planned(&mut self, plan: &Plan, instances: u32) {
        let size = plan.source.size.unwrap_or(0);
        match self {
            Sink::Quiet => {}
            Sink::Plain { .. } => eprintln!(
                "planning   {}, {} parts of {}, {} in flight{}",
                human(size),
                plan.part_count,
                human(plan.part_size),
                instances,
                source_note(&plan.source)
            ),
            Sink::Json => emit(json!({
                "event": "planned",
                "size": size,
                "part_size": plan.part_size,
                "parts": plan.part_count,
                "source_crc64": plan.source.crc64,
                "parallel": instances,
            })),
        }
    }

    pub fn part_done(
        &mut self,
        part_number: u32,
        bytes: u64,
        done_parts: u32,
        done_bytes: u64,
        plan: &Plan,
    ) {
        match self {
            Sink::Quiet => {}
            Sink::Plain { started, last } => {
                let now = Instant::now();
                if now.duration_since(*last) >= Duration::from_secs(1)
                    || done_parts == plan.part_count
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
            Sink::Json => emit(json!({
                "event": "part",
                "part_number": part_number,
                "bytes": bytes,
                "done_parts": done_parts,
                "done_bytes": done_bytes,
            })),
        }
    }

    /// A remark worth a line (resuming, a slower path and why).
    pub fn note(&mut self, message: &str) {
        match self {
            Sink::Quiet => {}
            Sink::Plain { .. } => eprintln!("note       {message}"),
            Sink::Json => emit(json!({ "event": "note", "message": message })),
        }
    }

    pub fn retry(&mut self, part_number: u32, attempt: u32, message: &str) {
        match self {
            Sink::Quiet => {}
            Sink::Plain { .. } => {
                eprintln!("retrying   part {part_number} (attempt {attempt}): {message}")
            }
            Sink::Json => emit(json!({
                "event": "retry",
                "part_number": part_number,
                "attempt": attempt,
                "message": message,
            })),
        }
    }
}

fn source_note(source: &SourceInfo) -> &'static str {
    if source.crc64.is_some() {
        ", source offers CRC-64"
    } else {
        ""
    }
}

fn emit(value: serde_json::Value) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{value}");
    let _ = out.flush();
}
