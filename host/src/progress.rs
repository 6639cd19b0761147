//! What `ferry copy` shows while it copies. The bytes come from the host's
//! count of part bodies as they are written to the store
//! ([`ferry_host::events::UPLOADED`]), so they move in every part in
//! flight; parts run elsewhere (workers, Function Compute) are counted as
//! their part-done events arrive. The rate is that of the bytes moved over
//! the last few seconds, and the ETA is taken from it; parts reused from a
//! kept upload count as done but not in the rate.
//!
//! On a terminal a bar is redrawn every [`REDRAW`]; when stderr is piped a
//! line is printed every `--stats` seconds.
//!
//! Several files copied side by side ([`Progress::files`]) share one bar:
//! their bytes and parts added up, and the files finished of all.

use ferry_host::events::{Note, PaceChange, PartDone, Planned, Retrying, UPLOADED};
use ferry_host::Event;
use indicatif::{HumanBytes, ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::collections::VecDeque;
use std::io::IsTerminal;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How often the terminal's bar is redrawn, and the byte count sampled.
const REDRAW: Duration = Duration::from_millis(150);

/// The rate is that of the bytes moved over this much time.
const WINDOW: Duration = Duration::from_secs(5);

/// What is shown.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Show {
    /// Nothing (`-q`, or `--json`, whose result is the output).
    Nothing,
    /// The plan, notes and retries, no bar or progress lines (`--no-progress`).
    NoProgress,
    /// A bar on a terminal, else a line every so often (`None`: no lines).
    Progress { every: Option<Duration> },
}

/// The progress of one copy: fed its events by [`Progress::on`], drawn by
/// a task of its own until [`Progress::finish`].
pub struct Progress {
    show: Show,
    state: Arc<Mutex<State>>,
    bar: Option<ProgressBar>,
    ticker: Option<tokio::task::JoinHandle<()>>,
}

/// What the events told, and the samples the rate is taken from.
struct State {
    /// The byte count when this copy began ([`UPLOADED`] is process-wide).
    base: u64,
    size: u64,
    part_size: u64,
    parts: u32,
    /// Parts in flight at most, as the pacer last set them.
    in_flight: u32,
    retries: u32,
    /// From part-done events: the parts and bytes done, reused ones included.
    done_parts: u32,
    done_bytes: u64,
    /// The part-done events seen and their bytes: moved by this copy.
    events: u32,
    event_bytes: u64,
    /// Parts reused from a kept upload, and their bytes.
    reused_parts: u32,
    reused_bytes: u64,
    samples: VecDeque<(Instant, u64)>,
    /// Several files: each one's parts done and in flight, and the files
    /// finished; `None` for a single copy.
    files: Option<Files>,
}

/// The files of a copy of several, as their events told.
struct Files {
    each: Vec<FileTally>,
    finished: u32,
}

/// One file's parts done (and their bytes) and parts in flight.
#[derive(Clone, Copy, Default)]
struct FileTally {
    done_parts: u32,
    done_bytes: u64,
    in_flight: u32,
}

/// What one look at the copy shows.
struct Snapshot {
    position: u64,
    size: u64,
    /// Bytes a second; `None` until there is data.
    rate: Option<f64>,
    done_parts: u32,
    parts: u32,
    in_flight: u32,
    retries: u32,
    /// Files finished and all files, for a copy of several.
    files: Option<(u32, u32)>,
}

impl State {
    fn new(base: u64) -> Self {
        State {
            base,
            size: 0,
            part_size: 0,
            parts: 0,
            in_flight: 0,
            retries: 0,
            done_parts: 0,
            done_bytes: 0,
            events: 0,
            event_bytes: 0,
            reused_parts: 0,
            reused_bytes: 0,
            samples: VecDeque::new(),
            files: None,
        }
    }

    /// The tally of file `i` (of a copy of several), and the parts in
    /// flight of all files once `set` has changed it.
    fn file(&mut self, i: usize, set: impl FnOnce(&mut FileTally)) -> Option<FileTally> {
        let files = self.files.as_mut()?;
        let before = *files.each.get(i)?;
        set(&mut files.each[i]);
        self.in_flight = files.each.iter().map(|f| f.in_flight).sum();
        Some(before)
    }

    /// A part of `bytes` moved, with `done_parts` and `done_bytes` done in
    /// all (reused ones included).
    fn part_done(&mut self, bytes: u64, done_parts: u32, done_bytes: u64) {
        self.events += 1;
        self.event_bytes += bytes;
        self.done_parts = done_parts;
        self.done_bytes = done_bytes;
        // Whatever was done besides the parts moved was reused.
        self.reused_parts = done_parts.saturating_sub(self.events);
        self.reused_bytes = done_bytes.saturating_sub(self.event_bytes);
    }

    /// The bytes this copy moved: counted as they flow, or, for parts run
    /// elsewhere, as they are done.
    fn moved(&self) -> u64 {
        UPLOADED
            .moved()
            .saturating_sub(self.base)
            .max(self.event_bytes)
    }

    /// Takes a sample at `now` and returns what it shows.
    fn look(&mut self, now: Instant) -> Snapshot {
        let moved = self.moved();
        self.samples.push_back((now, moved));
        while self.samples.len() > 2
            && self
                .samples
                .get(1)
                .is_some_and(|(t, _)| now.duration_since(*t) >= WINDOW)
        {
            self.samples.pop_front();
        }
        let (t0, m0) = self.samples[0];
        let span = now.duration_since(t0).as_secs_f64();
        let rate = (moved > 0 && span > 0.0).then(|| moved.saturating_sub(m0) as f64 / span);
        let mut position = self.done_bytes.max(self.reused_bytes + moved);
        if self.size > 0 {
            position = position.min(self.size);
        }
        let done_parts = self.done_parts.max(self.reused_parts + self.events);
        Snapshot {
            position,
            size: self.size,
            rate,
            done_parts,
            parts: self.parts,
            in_flight: self
                .in_flight
                .min(self.parts.saturating_sub(done_parts))
                .max(u32::from(done_parts < self.parts)),
            retries: self.retries,
            files: self
                .files
                .as_ref()
                .map(|f| (f.finished, f.each.len() as u32)),
        }
    }
}

impl Snapshot {
    /// `3s`, `2m05s`, `1h02m`; `-` without a rate or a size.
    fn eta(&self) -> String {
        let left = self.size.saturating_sub(self.position);
        if self.size == 0 {
            return "-".into();
        }
        if left == 0 {
            return "0s".into();
        }
        match self.rate {
            Some(rate) if rate > 0.0 => duration((left as f64 / rate).ceil() as u64),
            _ => "-".into(),
        }
    }

    fn rate(&self) -> String {
        match self.rate {
            Some(rate) => format!("{}/s", HumanBytes(rate as u64)),
            None => "-".into(),
        }
    }

    /// `4.10 MiB/s  ETA 3s  parts 9/16  in flight 4`
    fn message(&self) -> String {
        let files = match self.files {
            Some((finished, all)) => format!("files {finished}/{all}  "),
            None => String::new(),
        };
        let mut m = format!(
            "{files}{}  ETA {}  parts {}/{}  in flight {}",
            self.rate(),
            self.eta(),
            self.done_parts,
            self.parts,
            self.in_flight
        );
        if self.retries > 0 {
            m.push_str(&format!("  retries {}", self.retries));
        }
        m
    }

    /// A piped progress line:
    /// `copying    3.25 MiB / 16.00 MiB  20%  4.10 MiB/s  ETA 3s  parts 9/16  in flight 4`
    fn line(&self) -> String {
        let percent = match self.size {
            0 => "-".to_string(),
            size => format!("{}%", self.position * 100 / size),
        };
        format!(
            "copying    {} / {}  {percent}  {}",
            HumanBytes(self.position),
            HumanBytes(self.size),
            self.message()
        )
    }
}

/// Whole seconds as `45s`, `2m05s` or `1h02m`.
fn duration(secs: u64) -> String {
    match secs {
        0..=59 => format!("{secs}s"),
        60..=3599 => format!("{}m{:02}s", secs / 60, secs % 60),
        _ => format!("{}h{:02}m", secs / 3600, secs % 3600 / 60),
    }
}

/// `1.00 GiB, 171 parts of 6.00 MiB, 4 in flight, automatic up to 256,
/// source offers CRC-64`: what a plan says.
fn planned(
    size: u64,
    part_size: u64,
    parts: u32,
    source_crc64: Option<u64>,
    parallel: u32,
    max_parallel: Option<u32>,
) -> String {
    format!(
        "{}, {parts} parts of {}, {}{}",
        HumanBytes(size),
        HumanBytes(part_size),
        in_flight(parallel, max_parallel),
        if source_crc64.is_some() {
            ", source offers CRC-64"
        } else {
            ""
        }
    )
}

/// `16 in flight`, or `4 in flight, automatic up to 256`.
pub fn in_flight(parallel: u32, max_parallel: Option<u32>) -> String {
    match max_parallel {
        Some(max) if max > parallel => format!("{parallel} in flight, automatic up to {max}"),
        _ => format!("{parallel} in flight"),
    }
}

impl Progress {
    pub fn new(show: Show) -> Self {
        Progress {
            show,
            state: Arc::new(Mutex::new(State::new(UPLOADED.moved()))),
            bar: None,
            ticker: None,
        }
    }

    /// The progress of `files` copied side by side: one bar (or line) of
    /// the files finished, their bytes and parts added up. Each file's
    /// events come through [`Progress::on_file`].
    pub fn files(show: Show, files: usize) -> Self {
        let mut progress = Progress::new(show);
        {
            let mut s = progress.state();
            s.files = Some(Files {
                each: vec![FileTally::default(); files],
                finished: 0,
            });
            s.samples.push_back((Instant::now(), 0));
        }
        if show != Show::Nothing {
            progress.start(None);
        }
        progress
    }

    /// File `i` of a copy of several has finished (copied or not).
    pub fn file_done(&mut self, i: usize) {
        let mut s = self.state();
        s.file(i, |f| f.in_flight = 0);
        if let Some(files) = s.files.as_mut() {
            files.finished += 1;
        }
    }

    /// Runs `print` (lines of its own) with the bar out of the way.
    pub fn above(&self, print: impl FnOnce()) {
        match &self.bar {
            Some(bar) => bar.suspend(print),
            None => print(),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A line above the bar, or on stderr.
    fn say(&self, line: String) {
        match &self.bar {
            Some(bar) => bar.println(line),
            None => eprintln!("{line}"),
        }
    }

    /// An event of the copy.
    pub fn on(&mut self, event: Event) {
        self.take(None, event);
    }

    /// An event of file `i` (named `name` in the lines it prints) of a
    /// copy of several.
    pub fn on_file(&mut self, i: usize, name: &str, event: Event) {
        self.take(Some((i, name)), event);
    }

    /// An event of the copy, or of one file of several.
    fn take(&mut self, file: Option<(usize, &str)>, event: Event) {
        if self.show == Show::Nothing {
            return;
        }
        let name = file.map_or(String::new(), |(_, name)| format!("{name}: "));
        match event {
            Event::Planned(Planned {
                size,
                part_size,
                parts,
                source_crc64,
                parallel,
                max_parallel,
            }) => {
                let plan = format!(
                    "planning   {name}{}",
                    planned(size, part_size, parts, source_crc64, parallel, max_parallel)
                );
                let mut s = self.state();
                match file {
                    Some((i, _)) => {
                        (s.size, s.parts, s.part_size) =
                            (s.size + size, s.parts + parts, part_size);
                        s.file(i, |f| f.in_flight = parallel);
                        drop(s);
                        self.say(plan);
                    }
                    None => {
                        (s.size, s.part_size, s.parts, s.in_flight) =
                            (size, part_size, parts, parallel);
                        s.samples.clear();
                        s.samples.push_back((Instant::now(), 0));
                        drop(s);
                        eprintln!("{plan}");
                        self.start(Some(size));
                    }
                }
            }
            Event::Pace(PaceChange {
                secs,
                parallel,
                mbps,
                reason,
            }) => {
                match file {
                    Some((i, _)) => {
                        self.state().file(i, |f| f.in_flight = parallel);
                    }
                    None => self.state().in_flight = parallel,
                }
                if self.bar.is_none() && matches!(self.show, Show::Progress { .. }) {
                    eprintln!(
                        "pacing     {name}{parallel} in flight at {secs:.1} s ({reason}, {mbps:.1} MB/s)"
                    );
                }
            }
            Event::Part(PartDone {
                bytes,
                done_parts,
                done_bytes,
                ..
            }) => {
                let mut s = self.state();
                let (done_parts, done_bytes) = match file {
                    // A file's counts, added to the others'.
                    Some((i, _)) => {
                        let set = |f: &mut FileTally| {
                            (f.done_parts, f.done_bytes) = (done_parts, done_bytes)
                        };
                        let Some(before) = s.file(i, set) else {
                            return;
                        };
                        (
                            s.done_parts + done_parts.saturating_sub(before.done_parts),
                            s.done_bytes + done_bytes.saturating_sub(before.done_bytes),
                        )
                    }
                    None => (done_parts, done_bytes),
                };
                s.part_done(bytes, done_parts, done_bytes);
            }
            Event::Note(Note { message }) => {
                if let (Some(n), None) = (reused_parts(&message), file) {
                    let mut s = self.state();
                    if s.events == 0 {
                        s.reused_parts = n;
                        s.reused_bytes = (u64::from(n) * s.part_size).min(s.size);
                    }
                }
                self.say(format!("note       {name}{message}"));
            }
            Event::Retry(Retrying {
                part_number,
                attempt,
                message,
            }) => {
                self.state().retries += 1;
                self.say(format!(
                    "retrying   {name}part {part_number} (attempt {attempt}): {message}"
                ));
            }
        }
    }

    /// Starts drawing: a bar redrawn on a terminal, lines on a time
    /// interval when piped. `size` is the copy's; `None` for several files,
    /// whose sizes add up as they are planned.
    fn start(&mut self, size: Option<u64>) {
        let Show::Progress { every } = self.show else {
            return;
        };
        if let Some(old) = self.ticker.take() {
            old.abort();
        }
        let state = self.state.clone();
        if std::io::stderr().is_terminal() {
            // A source of unknown size (copied as one stream) has no bar to fill.
            let (length, template) = match size {
                Some(0) => (None, "copying    {bytes}  {msg}"),
                size => (
                    Some(size.unwrap_or(0)),
                    "copying    [{bar:30}] {bytes} / {total_bytes}  {msg}",
                ),
            };
            let bar = ProgressBar::with_draw_target(length, ProgressDrawTarget::stderr());
            bar.set_style(
                ProgressStyle::with_template(template)
                    .expect("the template is valid")
                    .progress_chars("=> "),
            );
            bar.set_message(lock(&state).look(Instant::now()).message());
            self.bar = Some(bar.clone());
            self.ticker = Some(tokio::spawn(async move {
                let mut tick = tokio::time::interval(REDRAW);
                loop {
                    tick.tick().await;
                    let shown = lock(&state).look(Instant::now());
                    if size.is_none() {
                        bar.set_length(shown.size);
                    }
                    bar.set_position(shown.position);
                    bar.set_message(shown.message());
                }
            }));
        } else if let Some(every) = every {
            self.ticker = Some(tokio::spawn(async move {
                let started = tokio::time::Instant::now();
                let mut tick = tokio::time::interval(REDRAW.min(every));
                let mut next = started + every;
                loop {
                    let now = tick.tick().await;
                    // Sampled at every tick, so the rate's window is full.
                    let shown = lock(&state).look(Instant::now());
                    if now >= next {
                        next += every;
                        eprintln!("{}", shown.line());
                    }
                }
            }));
        }
    }

    /// Stops drawing and clears the bar.
    pub fn finish(&mut self) {
        if let Some(ticker) = self.ticker.take() {
            ticker.abort();
        }
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}

fn lock(state: &Mutex<State>) -> std::sync::MutexGuard<'_, State> {
    state.lock().unwrap_or_else(|e| e.into_inner())
}

/// N of the component's `resuming: N of M parts are already in the store`.
fn reused_parts(note: &str) -> Option<u32> {
    note.strip_prefix("resuming: ")?
        .split(" of ")
        .next()?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(size: u64) -> State {
        // Nothing counted by the host: parts as their events tell.
        let mut s = State::new(u64::MAX);
        s.size = size;
        s.part_size = 100;
        s.parts = (size / 100) as u32;
        s.in_flight = 4;
        s
    }

    /// No rate and no ETA before data; then ETA from the rate, never 0s
    /// with bytes left.
    #[test]
    fn eta_waits_for_data_and_follows_the_rate() {
        let mut s = state(1000);
        let t0 = Instant::now();
        s.samples.push_back((t0, 0));
        let first = s.look(t0 + Duration::from_secs(1));
        assert_eq!((first.rate, first.eta()), (None, "-".to_string()));
        assert!(first
            .line()
            .contains("0 B / 1000 B  0%  -  ETA -  parts 0/10"));
        s.events = 1;
        s.event_bytes = 100;
        s.done_parts = 1;
        s.done_bytes = 100;
        let second = s.look(t0 + Duration::from_secs(2));
        assert_eq!(second.rate, Some(50.0));
        assert_eq!(second.eta(), "18s");
        s.event_bytes = 999;
        s.done_bytes = 999;
        assert_eq!(s.look(t0 + Duration::from_secs(3)).eta(), "1s");
    }

    /// Reused parts are done and in the position, not in the rate.
    #[test]
    fn reused_parts_are_done_but_not_moved() {
        let mut s = state(1000);
        let t0 = Instant::now();
        s.samples.push_back((t0, 0));
        (s.reused_parts, s.reused_bytes) = (6, 600);
        let shown = s.look(t0 + Duration::from_secs(1));
        assert_eq!(
            (shown.position, shown.done_parts, shown.rate),
            (600, 6, None)
        );
        (s.events, s.event_bytes, s.done_parts, s.done_bytes) = (1, 100, 7, 700);
        let shown = s.look(t0 + Duration::from_secs(2));
        assert_eq!((shown.position, shown.done_parts), (700, 7));
        assert_eq!(shown.rate, Some(50.0));
        assert_eq!(shown.in_flight, 3);
    }

    #[test]
    fn reads_the_resuming_note_and_durations() {
        assert_eq!(
            reused_parts("resuming: 9 of 16 parts are already in the store"),
            Some(9)
        );
        assert_eq!(reused_parts("warning: sequential"), None);
        assert_eq!(duration(5), "5s");
        assert_eq!(duration(125), "2m05s");
        assert_eq!(duration(3720), "1h02m");
    }
}
