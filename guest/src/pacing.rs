//! Pacing: how many part attempts are in flight, decided while the copy
//! runs.
//!
//! The controller starts small and, until the first part finishes, raises
//! the target as time passes (`ramp`): no part finished in `t` seconds
//! means each connection carries less than a part per `t`, so it takes
//! about [`AIM`] × `t` ÷ the part size parts to reach [`AIM`]. When the
//! first part finishes, its own rate says the same exactly (`first_part`):
//! a source that gives 13 MB/s a connection gets a hundred parts within
//! one part's time, one that gives 1 GB/s keeps a few. Then it measures
//! the aggregate throughput over
//! rounds (a round ends when as many parts have completed as were in flight
//! when it began, so it lasts about one part's duration whatever the
//! parallelism), and:
//! - multiplies the target by four while each round is much faster than
//!   the last (a link capped per connection: each part adds its share), by
//!   two while it is still faster (`grow`);
//! - when a step brought no gain, settles at the knee: the fewest parts of
//!   the levels it tried whose throughput was within 5% of the best
//!   (`knee`); more parts than that only share the same cores or link;
//! - from there probes upward additively now and then (`probe`), keeping
//!   the step when throughput rose (`grow`) and going back when it did not
//!   (`hold`), probing less often after each miss;
//! - on throttling (429, 503, `SlowDown` and the stores' other throttling
//!   codes) cuts the target to 70% and never grows past the level that was
//!   throttled again (`throttled`); attempts that began before a cut do not
//!   cut again;
//! - never exceeds its cap (the memory budget, the host's instances, the
//!   parts left: `cap`).
//!
//! A pinned parallelism (`--parallel N`, `--instances N`) is kept as it is.
//! Time is given by the caller (seconds since the copy began), so the
//! controller is tested against simulated throughput, without clocks.

use serde::Serialize;

/// Where an automatic controller starts.
pub const START: u32 = 4;
/// The aggregate rate the ramp and the first part's rate aim for, in bytes
/// a second: about what a host's network (32 Gb/s) or a few hundred
/// function instances carry. Only a starting point: the rounds that
/// follow keep climbing while throughput rises, and settle at the knee.
const AIM: f64 = 4e9;
/// A level whose parts each carried less than this share of the first
/// part's rate was past the knee: slow start stops there, and the knee is
/// estimated from the two rates and then measured (`trim`).
const CROWDED: f64 = 0.5;
/// The estimated knee is given this much room.
const TRIM_ROOM: f64 = 1.5;
/// The ramp raises the target only by this share at least, so that its
/// changes stay few.
const RAMP_STEP: f64 = 1.25;
/// A round must be at least this much faster than the last for slow start
/// to double again...
const SLOW_START_GAIN: f64 = 1.15;
/// ...and this much for it to multiply by four: each part in flight still
/// brought most of its own share.
const STRONG_GAIN: f64 = 1.6;
/// The knee is the fewest parts whose throughput was within this share of
/// the best level's.
const KNEE_SHARE: f64 = 0.95;
/// A probe is kept when its round is at least this much faster.
const PROBE_GAIN: f64 = 1.08;
/// The cut on throttling.
const CUT: f64 = 0.7;
/// Rounds at a steady target before the first probe; doubled after each
/// probe that brought nothing, up to [`MAX_PROBE_EVERY`].
const PROBE_EVERY: u32 = 2;
const MAX_PROBE_EVERY: u32 = 16;
/// A round lasts at least this long, so that tiny parts on a fast link
/// still give a measurable rate.
const MIN_ROUND_SECS: f64 = 0.25;
/// Changes kept for the report: the first [`KEEP_FIRST`] and the latest
/// up to [`MAX_CHANGES`] in all.
pub const MAX_CHANGES: usize = 64;
const KEEP_FIRST: usize = 16;

/// Why the target changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// The first target of an automatic controller.
    Start,
    /// No part has finished yet: each connection is slower than a part per
    /// the time so far, so more parts.
    Ramp,
    /// The first part finished: the parts that its rate needs to reach
    /// the aim.
    FirstPart,
    /// A pinned parallelism (`--parallel`, `--instances`).
    Pinned,
    /// Throughput rose with the last step: one more.
    Grow,
    /// A doubling brought no gain: back to the parts the throughput needs.
    Knee,
    /// Each part carried far less than the first part did: fewer parts, as
    /// many as the throughput needs at the first part's rate (kept only if
    /// the throughput holds).
    Trim,
    /// An upward step to see whether more parts help.
    Probe,
    /// The probe brought nothing: back to where it was.
    Hold,
    /// The store or source throttled: fewer parts.
    Throttled,
    /// The cap (memory budget, instances, parts left) was reached.
    Cap,
}

impl Reason {
    pub fn name(self) -> &'static str {
        match self {
            Reason::Start => "start",
            Reason::Ramp => "ramp",
            Reason::FirstPart => "first_part",
            Reason::Pinned => "pinned",
            Reason::Grow => "grow",
            Reason::Knee => "knee",
            Reason::Trim => "trim",
            Reason::Probe => "probe",
            Reason::Hold => "hold",
            Reason::Throttled => "throttled",
            Reason::Cap => "cap",
        }
    }
}

/// One change of the target.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Change {
    /// Seconds since the copy began.
    pub secs: f64,
    /// Part attempts in flight from now on.
    pub parallel: u32,
    /// The aggregate throughput measured just before, in MB/s (10^6).
    pub mbps: f64,
    pub reason: Reason,
}

/// How the parallelism went, for the result.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    /// `auto` or `pinned`.
    pub mode: &'static str,
    /// The target when the copy ended.
    #[serde(rename = "final")]
    pub last: u32,
    /// The highest target it had.
    pub max: u32,
    /// The most it could have had.
    pub cap: u32,
    /// The changes, the first and the latest ones when there were many.
    pub changes: Vec<Change>,
    /// Changes left out of `changes`.
    pub changes_dropped: u32,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Phase {
    SlowStart,
    Steady,
}

#[derive(Debug, Clone, Copy)]
struct Round {
    start: f64,
    /// Completions to let pass before measuring (the parts that began
    /// under the previous target).
    warmup: u32,
    /// Completions that end the round.
    length: u32,
    done: u32,
    bytes: u64,
}

/// The controller.
#[derive(Debug, Clone)]
pub struct Pacer {
    pinned: bool,
    /// No part has finished yet.
    ramping: bool,
    cap: u32,
    /// Never grow past this (lowered on throttling).
    ceiling: u32,
    target: u32,
    max_target: u32,
    phase: Phase,
    round: Round,
    last_rate: Option<f64>,
    /// The levels slow start measured: (target, bytes a second).
    levels: Vec<(u32, f64)>,
    /// The target before slow start's last step, where a step that was
    /// throttled goes back to.
    before_step: Option<u32>,
    /// A probe under way: the target and rate it started from.
    probe: Option<(u32, f64)>,
    /// A trim under way: the target and rate it came down from.
    trial: Option<(u32, f64)>,
    /// The target before the latest change.
    before_change: u32,
    /// The first part: its time, and its rate (one connection's).
    first: Option<(f64, f64)>,
    steady_rounds: u32,
    probe_every: u32,
    last_cut: f64,
    changes: Vec<Change>,
    dropped: u32,
}

impl Pacer {
    /// A controller that decides by itself, from [`START`] up to `cap`.
    pub fn auto(cap: u32) -> Pacer {
        let cap = cap.max(1);
        let mut p = Pacer::new(false, START.min(cap), cap);
        p.record(0.0, 0.0, Reason::Start);
        p
    }

    /// A controller that keeps `n` in flight.
    pub fn pinned(n: u32) -> Pacer {
        let n = n.max(1);
        let mut p = Pacer::new(true, n, n);
        p.record(0.0, 0.0, Reason::Pinned);
        p
    }

    fn new(pinned: bool, target: u32, cap: u32) -> Pacer {
        Pacer {
            pinned,
            ramping: !pinned,
            cap,
            ceiling: cap,
            target,
            max_target: target,
            phase: Phase::SlowStart,
            round: Round {
                start: 0.0,
                warmup: 0,
                length: target.max(2),
                done: 0,
                bytes: 0,
            },
            last_rate: None,
            levels: Vec::new(),
            before_step: None,
            probe: None,
            trial: None,
            first: None,
            before_change: target,
            steady_rounds: 0,
            probe_every: PROBE_EVERY,
            last_cut: f64::NEG_INFINITY,
            changes: Vec::new(),
            dropped: 0,
        }
    }

    /// Part attempts to keep in flight.
    pub fn target(&self) -> u32 {
        self.target
    }

    /// Whether the controller wants [`Pacer::tick`] called now and then
    /// (until the first part finishes).
    pub fn ramping(&self) -> bool {
        self.ramping
    }

    /// Time passed with no part finished: at `now`, parts of `part_bytes`
    /// each. Returns the change it caused, if any.
    pub fn tick(&mut self, now: f64, part_bytes: u64) -> Option<Change> {
        if !self.ramping || now <= 0.0 {
            return None;
        }
        let want = (AIM * now / part_bytes.max(1) as f64)
            .ceil()
            .min(f64::from(u32::MAX)) as u32;
        let step = ((f64::from(self.target) * RAMP_STEP).ceil() as u32).max(self.target + 1);
        if want < step || self.target >= self.ceiling {
            return None;
        }
        let change = self.set(now, 0.0, want, Reason::Ramp);
        self.round.length = self.target.max(2);
        Some(change)
    }

    /// A part finished at `now`, `bytes` copied. Returns the change it
    /// caused, if any.
    pub fn part_done(&mut self, now: f64, bytes: u64) -> Option<Change> {
        if self.pinned {
            return None;
        }
        if self.ramping {
            // The first part: it began at the start, so its rate is one
            // connection's. Rounds measure from here.
            self.ramping = false;
            let per_connection = bytes as f64 / now.max(1e-3);
            self.first = Some((now, per_connection));
            let want = (AIM / per_connection.max(1.0))
                .ceil()
                .min(f64::from(u32::MAX)) as u32;
            let change = (want > self.target && self.target < self.ceiling).then(|| {
                let rate = per_connection * f64::from(self.target);
                self.set(now, rate, want, Reason::FirstPart)
            });
            // The parts that began before finish first, together: the
            // round measures only what follows.
            self.new_round(now, false);
            self.round.warmup = self.before_change.saturating_sub(1);
            return change;
        }
        let round = &mut self.round;
        if round.warmup > 0 {
            round.warmup -= 1;
            if round.warmup == 0 {
                round.start = now;
            }
            return None;
        }
        round.done += 1;
        round.bytes += bytes;
        let elapsed = now - round.start;
        // A round spans at least one part's time (the first part's): parts
        // that began together end together, and a round shorter than a
        // part would measure one such wave's burst, not the rate.
        let shortest = self.first.map_or(0.0, |(secs, _)| secs);
        if round.done < round.length || elapsed < MIN_ROUND_SECS.max(shortest) {
            return None;
        }
        let rate = round.bytes as f64 / elapsed;
        let change = self.decide(now, rate);
        self.last_rate = Some(rate);
        self.new_round(now, change.is_some());
        if self.trial.is_some() {
            // A trim is measured over twice the usual round: its few parts
            // give a coarse rate, and keeping it risks the throughput.
            self.round.length *= 2;
        }
        change
    }

    /// An attempt that began at `started`, one of `in_flight` attempts then
    /// (itself included), was throttled at `now`. Returns the change it
    /// caused, if any.
    pub fn throttled(&mut self, now: f64, started: f64, in_flight: u32) -> Option<Change> {
        if self.pinned || started < self.last_cut {
            return None;
        }
        let rate = self.rate_so_far(now);
        self.ramping = false;
        self.last_cut = now;
        // The store or source refused the `in_flight`th attempt at once:
        // fewer than that, and never again as many.
        let refused_at = in_flight.clamp(1, self.target.max(1));
        self.ceiling = self.ceiling.min(refused_at.saturating_sub(1).max(1));
        // A step of slow start (up to four times the parts) that was
        // throttled goes back to where it stepped from, which was not;
        // later, 70% of the target.
        let cut = ((f64::from(self.target) * CUT) as u32).max(1);
        self.target = match (self.phase, self.before_step) {
            (Phase::SlowStart, Some(before)) => before.min(cut),
            _ => cut,
        }
        .min(self.ceiling);
        self.phase = Phase::Steady;
        self.probe = None;
        self.steady_rounds = 0;
        self.new_round(now, true);
        Some(self.record(now, rate, Reason::Throttled))
    }

    /// What happened, for the result.
    pub fn summary(&self) -> Summary {
        Summary {
            mode: if self.pinned { "pinned" } else { "auto" },
            last: self.target,
            max: self.max_target,
            cap: self.cap,
            changes: self.changes.clone(),
            changes_dropped: self.dropped,
        }
    }

    fn rate_so_far(&self, now: f64) -> f64 {
        let elapsed = now - self.round.start;
        if self.round.done > 0 && elapsed > 0.0 {
            self.round.bytes as f64 / elapsed
        } else {
            self.last_rate.unwrap_or(0.0)
        }
    }

    fn decide(&mut self, now: f64, rate: f64) -> Option<Change> {
        match self.phase {
            Phase::SlowStart => {
                self.levels.push((self.target, rate));
                let gain = self.last_rate.map(|last| rate / last.max(1.0));
                let crowded = self
                    .first_rate()
                    .is_some_and(|first| rate < CROWDED * f64::from(self.target) * first);
                let step = match gain {
                    _ if crowded => 0,
                    // The first part's rate chose this level already.
                    None if self.first.is_some() => 2,
                    None => 4,
                    Some(g) if g >= STRONG_GAIN => 4,
                    Some(g) if g >= SLOW_START_GAIN => 2,
                    Some(_) => 0,
                };
                if step > 0 {
                    if self.target >= self.ceiling {
                        self.phase = Phase::Steady;
                        return None;
                    }
                    self.before_step = Some(self.target);
                    return Some(self.set(
                        now,
                        rate,
                        self.target.saturating_mul(step),
                        Reason::Grow,
                    ));
                }
                self.phase = Phase::Steady;
                let knee = self.knee();
                if let Some((to, knee_rate)) = self.trim_to(knee) {
                    self.trial = Some((knee, knee_rate));
                    return Some(self.set(now, rate, to, Reason::Trim));
                }
                (knee != self.target).then(|| self.set(now, rate, knee, Reason::Knee))
            }
            Phase::Steady => {
                if let Some((base, base_rate)) = self.trial.take() {
                    if rate >= base_rate * KNEE_SHARE {
                        return None;
                    }
                    return Some(self.set(now, rate, base, Reason::Hold));
                }
                if let Some((base, base_rate)) = self.probe.take() {
                    if rate >= base_rate * PROBE_GAIN {
                        self.probe_every = PROBE_EVERY;
                        return self.start_probe(now, rate, Reason::Grow);
                    }
                    self.probe_every = (self.probe_every * 2).min(MAX_PROBE_EVERY);
                    self.steady_rounds = 0;
                    return Some(self.set(now, rate, base, Reason::Hold));
                }
                self.steady_rounds += 1;
                if self.steady_rounds >= self.probe_every {
                    self.steady_rounds = 0;
                    return self.start_probe(now, rate, Reason::Probe);
                }
                None
            }
        }
    }

    /// One connection's rate, from the first part.
    fn first_rate(&self) -> Option<f64> {
        self.first.map(|(_, rate)| rate)
    }

    /// Where a level past the knee is tried lower: its throughput carried at
    /// the first part's rate a connection, with [`TRIM_ROOM`]. The first
    /// level after the first part's jump can be far past the knee (a source
    /// slow a connection on a link or cores that carry few of them).
    fn trim_to(&self, level: u32) -> Option<(u32, f64)> {
        let first = self.first_rate()?;
        let rate = self.levels.iter().find(|l| l.0 == level)?.1;
        if rate >= CROWDED * f64::from(level) * first {
            return None;
        }
        let to = ((rate / first.max(1.0)) * TRIM_ROOM).ceil() as u32;
        (to < level).then_some((to.max(1), rate))
    }

    /// The fewest parts of the levels slow start measured whose throughput
    /// was within [`KNEE_SHARE`] of the best: more than that only share the
    /// same cores or link. Measured, not estimated: a part's own rate alone
    /// hides what more parts in flight overlap (starting an instance,
    /// opening a request).
    fn knee(&self) -> u32 {
        let best = self.levels.iter().map(|l| l.1).fold(0.0, f64::max);
        self.levels
            .iter()
            .filter(|l| l.1 >= best * KNEE_SHARE)
            .map(|l| l.0)
            .min()
            .unwrap_or(self.target)
    }

    /// One additive step up, measured against `rate`.
    fn start_probe(&mut self, now: f64, rate: f64, reason: Reason) -> Option<Change> {
        if self.target >= self.ceiling {
            return None;
        }
        self.probe = Some((self.target, rate));
        let step = (self.target / 8).max(1);
        Some(self.set(now, rate, self.target + step, reason))
    }

    fn set(&mut self, now: f64, rate: f64, target: u32, reason: Reason) -> Change {
        let capped = target.min(self.ceiling).max(1);
        self.before_change = self.target;
        self.target = capped;
        let reason = if capped < target && capped == self.cap {
            Reason::Cap
        } else {
            reason
        };
        self.record(now, rate, reason)
    }

    fn new_round(&mut self, now: f64, changed: bool) {
        // After a change, the parts that began under the old target finish
        // first: a probe's or a trim's round measures only what followed.
        let warmup = if changed && self.phase == Phase::Steady {
            self.target.max(self.before_change)
        } else {
            0
        };
        self.round = Round {
            start: now,
            warmup,
            length: self.target.max(2),
            done: 0,
            bytes: 0,
        };
    }

    fn record(&mut self, now: f64, rate: f64, reason: Reason) -> Change {
        self.max_target = self.max_target.max(self.target);
        let change = Change {
            secs: (now * 1000.0).round() / 1000.0,
            parallel: self.target,
            mbps: (rate / 1e4).round() / 100.0,
            reason,
        };
        if self.changes.len() >= MAX_CHANGES {
            self.changes.remove(KEEP_FIRST);
            self.dropped += 1;
        }
        self.changes.push(change);
        change
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cmp::Ordering;
    use std::collections::BinaryHeap;

    const PART: u64 = 8 << 20;

    /// How the simulated world answers.
    struct Model {
        /// Bytes a second one connection carries.
        per_connection: f64,
        /// Bytes a second all connections share (the cores).
        total: f64,
        /// Attempts beyond this many at once are throttled.
        throttle_above: Option<u32>,
        /// A throttled attempt hears so only when its part is sent (a
        /// store that reads the body before it answers).
        throttle_late: bool,
    }

    #[derive(PartialEq)]
    struct Event {
        at: f64,
        part: u32,
        started: f64,
        in_flight: u32,
        throttled: bool,
    }
    impl Eq for Event {}
    impl Ord for Event {
        fn cmp(&self, o: &Self) -> Ordering {
            o.at.partial_cmp(&self.at).unwrap_or(Ordering::Equal)
        }
    }
    impl PartialOrd for Event {
        fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
            Some(self.cmp(o))
        }
    }

    struct Outcome {
        pacer: Pacer,
        retries: u32,
        most_in_flight: u32,
        secs: f64,
    }

    /// Runs `parts` parts through `pacer` in simulated time: an attempt
    /// started with `n` in flight runs at min(per_connection, total / n);
    /// a throttled one fails after 10 ms and is retried after 100 ms.
    fn simulate(mut pacer: Pacer, model: &Model, parts: u32) -> Outcome {
        let mut queue = BinaryHeap::new();
        let mut todo: Vec<u32> = (1..=parts).rev().collect();
        let mut retry: Vec<(f64, u32)> = Vec::new();
        let (mut now, mut active, mut retries, mut most, mut done) = (0.0, 0u32, 0, 0, 0);
        let mut steps = 0u64;
        while done < parts {
            steps += 1;
            assert!(
                steps < 10_000_000,
                "stuck at {now}: {active} active, {done} done, {} to retry, {} queued, target {}",
                retry.len(),
                queue.len(),
                pacer.target()
            );
            // Start what the target allows: retries that are due first.
            retry.sort_by(|a, b| b.0.partial_cmp(&a.0).unwrap());
            while active < pacer.target() {
                let part = match retry.last() {
                    Some(&(due, p)) if due <= now => {
                        retry.pop();
                        p
                    }
                    _ => match todo.pop() {
                        Some(p) => p,
                        None => break,
                    },
                };
                active += 1;
                most = most.max(active);
                let throttled = model.throttle_above.is_some_and(|k| active > k);
                let rate = model.per_connection.min(model.total / f64::from(active));
                let at = if throttled && !model.throttle_late {
                    now + 0.01
                } else {
                    now + PART as f64 / rate
                };
                queue.push(Event {
                    at,
                    part,
                    started: now,
                    in_flight: active,
                    throttled,
                });
            }
            // A retry waits for its time and for a free slot.
            let next_retry = if active < pacer.target() {
                retry.iter().map(|r| r.0).fold(f64::INFINITY, f64::min)
            } else {
                f64::INFINITY
            };
            // Until a part finishes, the pacer hears the time every 20 ms.
            let next_tick = if pacer.ramping() {
                now + 0.02
            } else {
                f64::INFINITY
            };
            if queue.peek().is_none_or(|e| e.at > next_tick) && next_tick <= next_retry {
                now = next_tick;
                pacer.tick(now, PART);
                continue;
            }
            match queue.peek() {
                Some(e) if e.at <= next_retry => {
                    let e = queue.pop().unwrap();
                    now = e.at;
                    active -= 1;
                    if e.throttled {
                        retries += 1;
                        retry.push((now + 0.1, e.part));
                        pacer.throttled(now, e.started, e.in_flight);
                    } else {
                        done += 1;
                        pacer.part_done(now, PART);
                    }
                }
                _ => now = next_retry,
            }
        }
        Outcome {
            pacer,
            retries,
            most_in_flight: most,
            secs: now,
        }
    }

    fn reasons(p: &Pacer) -> Vec<(&'static str, u32)> {
        p.summary()
            .changes
            .iter()
            .map(|c| (c.reason.name(), c.parallel))
            .collect()
    }

    /// 13 MB/s a connection and room for far more: it climbs to at least
    /// 64 in flight, and the copy runs near the link's rate.
    #[test]
    fn a_source_capped_per_connection_gets_many_parts() {
        let model = Model {
            per_connection: 13e6,
            total: 10e9,
            throttle_above: None,
            throttle_late: false,
        };
        let out = simulate(Pacer::auto(256), &model, 2000);
        let s = out.pacer.summary();
        assert!(s.max >= 128, "{:?}", reasons(&out.pacer));
        assert!(s.last >= 64, "{:?}", reasons(&out.pacer));
        assert_eq!(out.retries, 0);
        // 2000 parts of 8 MiB at 13 MB/s, 256 at most in flight: about 5 s
        // at full speed; the climb costs some of it.
        assert!(out.secs < 12.0, "{} s: {:?}", out.secs, reasons(&out.pacer));
    }

    /// The cores carry 400 MB/s whatever the parts (knee at 8 parts of
    /// 50 MB/s): it settles near 8 (at most the next level its climb
    /// measured), not at its cap.
    #[test]
    fn a_flat_curve_holds_near_the_knee() {
        let model = Model {
            per_connection: 50e6,
            total: 400e6,
            throttle_above: None,
            throttle_late: false,
        };
        let out = simulate(Pacer::auto(512), &model, 3000);
        let s = out.pacer.summary();
        assert!(
            (8..=16).contains(&s.last),
            "final {}: {:?}",
            s.last,
            reasons(&out.pacer)
        );
        // The first part's jump aims at AIM (80 parts of 50 MB/s) and the
        // trim brings it back; it goes no higher.
        assert!(s.max <= 80, "{:?}", reasons(&out.pacer));
        assert!(reasons(&out.pacer)
            .iter()
            .any(|r| r.0 == "knee" || r.0 == "trim"));
    }

    /// A small object from a source that gives 13 MB/s a connection: all
    /// its parts are in flight before the first one finishes, so the copy
    /// takes about two parts' time, not one round per step of a climb.
    #[test]
    fn before_any_part_finishes_the_target_ramps_with_time() {
        let model = Model {
            per_connection: 13e6,
            total: 10e9,
            throttle_above: None,
            throttle_late: false,
        };
        let out = simulate(Pacer::auto(32), &model, 32);
        let one_part = PART as f64 / 13e6;
        assert_eq!(out.most_in_flight, 32, "{:?}", reasons(&out.pacer));
        assert!(
            out.secs < 1.5 * one_part,
            "{} s for parts of {one_part} s: {:?}",
            out.secs,
            reasons(&out.pacer)
        );
        assert!(reasons(&out.pacer).iter().any(|r| r.0 == "ramp"));
    }

    /// A source that gives 1 GB/s on one connection, on cores that carry
    /// 1.4 GB/s: the first part's rate keeps the start small.
    #[test]
    fn a_fast_connection_keeps_the_start_small() {
        let model = Model {
            per_connection: 1e9,
            total: 1.4e9,
            throttle_above: None,
            throttle_late: false,
        };
        let out = simulate(Pacer::auto(256), &model, 400);
        let changes = reasons(&out.pacer);
        assert!(!changes.iter().any(|r| r.0 == "ramp"), "{changes:?}");
        assert!(changes[1].1 <= 8, "{changes:?}");
        assert!(out.pacer.summary().last <= 16, "{changes:?}");
    }

    /// 13 MB/s a connection on cores that carry 900 MB/s (this machine's
    /// case): the first part's jump overshoots, and the trim comes back
    /// to about the parts that 900 MB/s needs, keeping the throughput.
    #[test]
    fn an_overshoot_is_trimmed_to_the_knee() {
        let model = Model {
            per_connection: 13e6,
            total: 900e6,
            throttle_above: None,
            throttle_late: false,
        };
        let out = simulate(Pacer::auto(256), &model, 2000);
        let changes = reasons(&out.pacer);
        let last = out.pacer.summary().last;
        assert!((69..=120).contains(&last), "final {last}: {changes:?}");
        assert!(changes.iter().any(|r| r.0 == "trim"), "{changes:?}");
        // 2000 parts of 8 MiB at 900 MB/s: 18.6 s at best.
        assert!(out.secs < 18.6 * 1.1, "{} s: {changes:?}", out.secs);
    }

    /// Beyond 6 attempts at once the store answers SlowDown: it settles at
    /// 6 or fewer, and the retries stay few.
    #[test]
    fn throttling_settles_at_or_below_the_limit() {
        let model = Model {
            per_connection: 13e6,
            total: 10e9,
            throttle_above: Some(6),
            throttle_late: false,
        };
        let out = simulate(Pacer::auto(256), &model, 1000);
        let s = out.pacer.summary();
        assert!(s.last <= 6, "final {}: {:?}", s.last, reasons(&out.pacer));
        assert!(s.last >= 3, "final {}: {:?}", s.last, reasons(&out.pacer));
        assert!(
            out.retries <= 20,
            "{} retries: {:?}",
            out.retries,
            reasons(&out.pacer)
        );
        assert!(reasons(&out.pacer).iter().any(|r| r.0 == "throttled"));
    }

    /// A store that refuses beyond 3 at once but answers only when the
    /// part's body is in: the ramp has put many in flight before the first
    /// answer, and the first refusal brings the target below the attempts
    /// in flight it was refused at, once.
    #[test]
    fn a_late_throttle_after_the_ramp_cuts_to_below_the_refusal() {
        let model = Model {
            per_connection: 20e6,
            total: 10e9,
            throttle_above: Some(3),
            throttle_late: true,
        };
        let out = simulate(Pacer::auto(256), &model, 60);
        let s = out.pacer.summary();
        let changes = reasons(&out.pacer);
        assert!(s.last <= 3, "final {}: {changes:?}", s.last);
        let cuts = changes.iter().filter(|r| r.0 == "throttled").count();
        assert!(cuts <= 2, "{cuts} cuts: {changes:?}");
        // What the ramp put above 3 is refused once, and little after.
        assert!(
            out.retries <= s.max + 4,
            "{} retries, {} at most in flight: {changes:?}",
            out.retries,
            s.max
        );
    }

    /// However much more parts would help, the cap (the memory budget) is
    /// never passed, and it is reached.
    #[test]
    fn never_above_the_cap() {
        let model = Model {
            per_connection: 1e6,
            total: 1e12,
            throttle_above: None,
            throttle_late: false,
        };
        let out = simulate(Pacer::auto(40), &model, 600);
        assert_eq!(out.most_in_flight, 40);
        let s = out.pacer.summary();
        assert_eq!((s.max, s.last, s.cap), (40, 40, 40));
        assert_eq!(reasons(&out.pacer).last(), Some(&("cap", 40)));
    }

    /// A pinned parallelism never moves, throttled or not.
    #[test]
    fn a_pinned_parallelism_stays() {
        let model = Model {
            per_connection: 13e6,
            total: 10e9,
            throttle_above: None,
            throttle_late: false,
        };
        let mut out = simulate(Pacer::pinned(5), &model, 100);
        assert_eq!(out.most_in_flight, 5);
        assert_eq!(out.pacer.throttled(out.secs, out.secs, 5), None);
        assert_eq!(reasons(&out.pacer), vec![("pinned", 5)]);
    }

    #[test]
    fn the_change_list_stays_bounded() {
        let mut p = Pacer::auto(1000);
        for i in 0..500 {
            p.throttled(f64::from(i), f64::from(i), 1000);
        }
        let s = p.summary();
        assert_eq!(s.changes.len(), MAX_CHANGES);
        assert_eq!(s.changes[0].reason, Reason::Start);
        assert_eq!(s.changes_dropped as usize, 501 - MAX_CHANGES);
    }
}
