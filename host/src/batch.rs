//! Many files in one `ferry copy`: several SOURCE arguments into a folder
//! target, or `--from-file LIST` (lines of `URL` or `URL,TARGET`, as
//! `rclone copyurl --urls` reads them). The files run side by side on one
//! runtime, within the one budget of parts in flight: `--transfers` files
//! at once, each given an equal share of the parts in flight (`--parallel`
//! pinned, or the automatic cap). Each file is a transfer of its own, which
//! aborts its upload when it fails or is interrupted, as a single copy does.

use super::{runtime_for, CopyArgs};
use crate::progress::Progress;
use ferry_host::{Limits, Report, Transfer, TransferError};
use indicatif::HumanBytes;
use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::process::ExitCode;
use std::task::Poll;
use std::time::Instant;

/// One file to copy: its source URL and its target (a folder target ends
/// in `/`, and the component names the object after the source).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub source: String,
    pub target: String,
}

/// Files copied at once unless `--transfers` says otherwise.
pub const DEFAULT_TRANSFERS: u32 = 4;

/// Exit codes from the most severe down: an interruption, a CRC-64 that
/// disagreed, an internal error, the store refusing, a transient failure
/// out of retries, the source failing, a target kept by `--no-clobber`,
/// bad input. A batch exits with the first of these that any file has.
pub const SEVERITY: [u8; 8] = [130, 5, 70, 4, 6, 3, 7, 2];

/// The exit code of a batch whose files exited with `codes` (0 for a
/// file copied): the most severe of them ([`SEVERITY`]), 0 when all were
/// copied.
pub fn worst(codes: impl IntoIterator<Item = u8>) -> u8 {
    let rank = |c: u8| SEVERITY.iter().position(|&s| s == c).unwrap_or(1);
    codes
        .into_iter()
        .filter(|&c| c != 0)
        .min_by_key(|&c| rank(c))
        .unwrap_or(0)
}

/// A target that is a folder: a key ending in `/`, or the bucket alone.
pub fn is_folder(target: &str) -> bool {
    let rest = target
        .strip_prefix("oss://")
        .or_else(|| target.strip_prefix("s3://"))
        .unwrap_or(target);
    rest.ends_with('/') || !rest.contains('/')
}

/// The files of a copy: the sources given, then the lines of `list` (its
/// text), each to `target` (a relative TARGET of a line is taken inside
/// the folder `target`). Several files need a folder target.
pub fn entries(
    sources: &[String],
    list: Option<(&str, &str)>,
    target: &str,
) -> Result<Vec<Entry>, String> {
    let mut entries: Vec<Entry> = sources
        .iter()
        .map(|s| Entry {
            source: s.clone(),
            target: target.to_string(),
        })
        .collect();
    if let Some((name, text)) = list {
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (source, to) = match line.split_once(',') {
                Some((source, to)) => (source.trim(), to.trim()),
                None => (line, ""),
            };
            let at = || format!("{name} line {}", n + 1);
            if source.is_empty() {
                return Err(format!("{}: no URL before the comma", at()));
            }
            let to = if to.is_empty() {
                target.to_string()
            } else if to.starts_with("oss://") || to.starts_with("s3://") {
                to.to_string()
            } else if is_folder(target) {
                let folder = if target.ends_with('/') {
                    target.to_string()
                } else {
                    format!("{target}/")
                };
                format!("{folder}{}", to.trim_start_matches('/'))
            } else {
                return Err(format!(
                    "{}: the TARGET {to:?} is relative, so the target must be a folder: write \
                     {target}/ (or give oss://BUCKET/KEY on the line)",
                    at()
                ));
            };
            entries.push(Entry {
                source: source.to_string(),
                target: to,
            });
        }
        if entries.is_empty() {
            return Err(format!(
                "{name} names no source: one URL or URL,TARGET a line (blank lines and # \
                 comments are skipped)"
            ));
        }
    }
    let shared = entries.iter().filter(|e| e.target == target).count();
    if shared > 1 && !is_folder(target) {
        return Err(format!(
            "{shared} sources need a folder target, a key ending in \"/\": {target} is one \
             object; write {target}/ to copy each into it by its file name"
        ));
    }
    let mut named: Vec<&str> = entries
        .iter()
        .map(|e| e.target.as_str())
        .filter(|t| !is_folder(t))
        .collect();
    named.sort_unstable();
    if let Some(twice) = named.windows(2).find(|w| w[0] == w[1]) {
        return Err(format!(
            "two sources are to be written to {}: give each its own TARGET",
            twice[0]
        ));
    }
    Ok(entries)
}

/// Reads `--from-file`: the file, or stdin for `-`.
pub fn read_list(path: &str) -> Result<String, String> {
    let read = if path == "-" {
        std::io::read_to_string(std::io::stdin())
    } else {
        std::fs::read_to_string(path)
    };
    read.map_err(|e| format!("cannot read the list {path}: {e}"))
}

/// Parts in flight each file gets, and how many files run at once, so
/// that all files together keep within `total` parts in flight.
pub fn shares(total: u32, transfers: u32, files: usize) -> (u32, u32) {
    let at_once = transfers
        .max(1)
        .min(u32::try_from(files).unwrap_or(u32::MAX))
        .min(total.max(1));
    (at_once.max(1), (total / at_once.max(1)).max(1))
}

/// The last segment of a source's path, to name its file in progress.
fn label(source: &str) -> String {
    let shown = ferry_rules::redact(source);
    shown
        .trim_end_matches('/')
        .rsplit('/')
        .next()
        .unwrap_or(&shown)
        .to_string()
}

/// The bucket of a target (`oss://BUCKET/...`).
fn bucket(target: &str) -> (&str, &str) {
    let (scheme, rest) = target.split_once("://").unwrap_or(("oss", target));
    (scheme, rest.split('/').next().unwrap_or(rest))
}

/// A file being copied: its index, entry and outcome when ready.
type Running<'a> =
    Pin<Box<dyn Future<Output = (usize, Entry, Result<Report, TransferError>)> + 'a>>;

/// What became of one file.
struct Done {
    entry: Entry,
    result: Result<Report, TransferError>,
    /// Why the files were stopped, if they were.
    interrupted: Option<String>,
}

impl Done {
    fn code(&self) -> u8 {
        match (&self.result, &self.interrupted) {
            (Ok(_), _) => 0,
            (Err(_), Some(_)) => 130,
            (Err(e), None) => TransferError::exit_code(e) as u8,
        }
    }

    /// One `--json` line: the single copy's object, with `source`.
    fn json(&self) -> serde_json::Value {
        let mut v = match &self.result {
            Ok(report) => {
                let mut v = ferry_host::transfer::report_json(report);
                v["ok"] = true.into();
                v
            }
            Err(e) => {
                let mut v = serde_json::to_value(e).unwrap_or_default();
                v["ok"] = false.into();
                v
            }
        };
        v["source"] = ferry_rules::redact(&self.entry.source).into();
        v
    }

    /// One line of text: what was copied where, or why not.
    fn say(&self) {
        let source = ferry_rules::redact(&self.entry.source);
        match &self.result {
            Ok(r) => {
                let (scheme, bucket) = bucket(&self.entry.target);
                let target = match &r.key {
                    Some(key) => format!("{scheme}://{bucket}/{key}"),
                    None => self.entry.target.clone(),
                };
                println!(
                    "copied     {source} -> {target}  {} in {:.2} s, crc64 {}",
                    HumanBytes(r.size),
                    r.seconds,
                    r.crc64
                );
            }
            Err(e) => {
                eprintln!("ferry: error: {source}: {e}");
            }
        }
    }
}

/// Copies `entries` side by side, each a clone of `base` with its source
/// and target, on one runtime of `limits` (the parts in flight of all
/// files together); prints a line (or a JSON line) a file and one summary,
/// and returns the worst file's exit code.
pub async fn run(args: &CopyArgs, base: Transfer, limits: Limits, entries: Vec<Entry>) -> ExitCode {
    let total = limits.instances;
    let (at_once, share) = shares(total, args.transfers, entries.len());
    let runtime = match runtime_for(args, limits) {
        Ok(rt) => rt,
        Err(e) => return super::failed(args, &e, None),
    };
    let interrupt = base.interrupt();
    tokio::spawn(super::stop_on_signals(interrupt.clone()));
    let started = Instant::now();
    let progress = RefCell::new(Progress::files(args.show(), entries.len()));
    let files = entries.len();
    let mut done: Vec<Done> = Vec::with_capacity(files);
    let start = |i: usize, entry: Entry| {
        let mut transfer = base.clone().source(&entry.source).target(&entry.target);
        transfer = match args.parallel {
            Some(_) => transfer.instances(share),
            None => transfer.max_parallel(share),
        };
        let (runtime, progress, interrupt) = (&runtime, &progress, &interrupt);
        let name = label(&entry.source);
        Box::pin(async move {
            let result = match interrupt.reason() {
                // Stopped before this file began: nothing of it was written.
                Some(reason) => Err(TransferError::new(
                    ferry_host::transfer::FailureKind::Stopping,
                    format!("not started: the copy was interrupted ({reason})"),
                )),
                None => {
                    transfer
                        .run_on(runtime, |event| {
                            progress.borrow_mut().on_file(i, &name, event)
                        })
                        .await
                }
            };
            (i, entry, result)
        }) as Running<'_>
    };
    let mut waiting = entries.into_iter().enumerate();
    let mut running: Vec<Running<'_>> = Vec::new();
    std::future::poll_fn(|cx| loop {
        while running.len() < at_once as usize {
            match waiting.next() {
                Some((i, entry)) => running.push(start(i, entry)),
                None => break,
            }
        }
        if running.is_empty() {
            return Poll::Ready(());
        }
        let mut finished = false;
        let mut k = 0;
        while k < running.len() {
            match running[k].as_mut().poll(cx) {
                Poll::Ready((i, entry, result)) => {
                    drop(running.swap_remove(k));
                    finished = true;
                    let file = Done {
                        entry,
                        interrupted: result.as_ref().err().and(interrupt.reason()),
                        result,
                    };
                    progress.borrow_mut().file_done(i);
                    if args.json {
                        println!("{}", file.json());
                    } else if !args.quiet || file.result.is_err() {
                        progress.borrow().above(|| file.say());
                    }
                    done.push(file);
                }
                Poll::Pending => k += 1,
            }
        }
        if !finished {
            return Poll::Pending;
        }
    })
    .await;
    progress.borrow_mut().finish();
    let code = worst(done.iter().map(Done::code));
    if !args.json && !args.quiet {
        let copied: Vec<&Report> = done.iter().filter_map(|d| d.result.as_ref().ok()).collect();
        let bytes: u64 = copied.iter().map(|r| r.size).sum();
        let secs = started.elapsed().as_secs_f64();
        let retries: u32 = copied.iter().map(|r| r.retries).sum();
        println!(
            "done       {} files copied, {} failed, {} in {secs:.2} s  ({}/s, {at_once} files at \
             once, up to {share} parts in flight each, {retries} retries)",
            copied.len(),
            files - copied.len(),
            HumanBytes(bytes),
            HumanBytes((bytes as f64 / secs.max(1e-3)) as u64),
        );
    }
    ExitCode::from(code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_worst_code_is_the_most_severe() {
        assert_eq!(worst([0, 0, 0]), 0);
        assert_eq!(worst([0, 3, 0]), 3);
        assert_eq!(worst([3, 5, 4]), 5);
        assert_eq!(worst([2, 7, 3]), 3);
        assert_eq!(worst([6, 130, 70]), 130);
    }

    #[test]
    fn shares_keep_within_the_parts_in_flight() {
        assert_eq!(shares(256, 4, 10), (4, 64));
        assert_eq!(shares(256, 4, 2), (2, 128));
        assert_eq!(shares(3, 4, 10), (3, 1));
        assert_eq!(shares(10, 4, 10), (4, 2));
        for (total, transfers, files) in [(1, 4, 9), (7, 3, 5), (1000, 16, 40)] {
            let (at_once, share) = shares(total, transfers, files);
            assert!(at_once * share <= total, "{total} {transfers} {files}");
        }
    }

    #[test]
    fn a_list_reads_urls_targets_and_comments() {
        let list = "# c\n\nhttp://h/a.bin\n http://h/b.bin , sub/b2.bin\nhttp://h/c,s3://o/c\n";
        let got = entries(&[], Some(("L", list)), "oss://b/dir/").unwrap();
        let pairs: Vec<(&str, &str)> = got
            .iter()
            .map(|e| (e.source.as_str(), e.target.as_str()))
            .collect();
        assert_eq!(
            pairs,
            [
                ("http://h/a.bin", "oss://b/dir/"),
                ("http://h/b.bin", "oss://b/dir/sub/b2.bin"),
                ("http://h/c", "s3://o/c"),
            ]
        );
        let bucket = entries(&[], Some(("L", "http://h/a,x/a")), "oss://b").unwrap();
        assert_eq!(bucket[0].target, "oss://b/x/a");
        let relative = entries(&[], Some(("L", "http://h/a,x")), "oss://b/k").unwrap_err();
        assert!(relative.contains("L line 1"), "{relative}");
        assert!(entries(&[], Some(("L", "# only\n")), "oss://b/").is_err());
    }

    #[test]
    fn several_sources_need_a_folder() {
        let two = ["http://h/a".to_string(), "http://h/b".to_string()];
        let refused = entries(&two, None, "oss://b/k").unwrap_err();
        assert!(
            refused.contains("2 sources") && refused.contains("oss://b/k/"),
            "{refused}"
        );
        assert!(entries(&two, None, "oss://b/k/").is_ok());
        assert!(entries(&two, None, "s3://b").is_ok());
        let twice = entries(
            &[],
            Some(("L", "http://h/a,oss://b/x\nhttp://h/b,oss://b/x")),
            "oss://b/",
        );
        assert!(twice.unwrap_err().contains("oss://b/x"));
    }
}
