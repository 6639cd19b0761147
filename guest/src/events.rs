//! Progress as a transfer goes: nothing, plain lines for people, or JSON
//! lines for a host that draws its own progress bar.

use crate::pacing::Change;
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

    /// The plan, with the parts in flight at first and at most.
    pub fn planned(&mut self, plan: &Plan, parallel: u32, max_parallel: u32) {
        let size = plan.source.size.unwrap_or(0);
        match self {
            Sink::Quiet => {}
            Sink::Plain { .. } => eprintln!(
                "planning   {}, {} parts of {}, {}{}",
                human(size),
                plan.part_count,
                human(plan.part_size),
                in_flight(parallel, max_parallel),
                source_note(&plan.source)
            ),
            Sink::Json => emit(json!({
                "event": "planned",
                "size": size,
                "part_size": plan.part_size,
                "parts": plan.part_count,
                "source_crc64": plan.source.crc64,
                "parallel": parallel,
                "max_parallel": max_parallel,
            })),
        }
    }

    /// The pacer changed the parts in flight (`--events`: what `make
    /// bench` plots).
    pub fn paced(&mut self, change: &Change) {
        match self {
            Sink::Quiet => {}
            Sink::Plain { .. } => eprintln!(
                "pacing     {} in flight at {:.1} s ({}, {:.1} MB/s)",
                change.parallel,
                change.secs,
                change.reason.name(),
                change.mbps
            ),
            Sink::Json => emit(json!({
                "event": "pace",
                "secs": change.secs,
                "parallel": change.parallel,
                "mbps": change.mbps,
                "reason": change.reason.name(),
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

fn emit(value: serde_json::Value) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{value}");
    let _ = out.flush();
}
