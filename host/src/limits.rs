//! The sandbox's bounds: per instance (memory, deadline) and per host
//! (instances at once), and the ranges every numeric or enumerated option
//! of `ferry copy` and `ferry serve` must fall in (the job's own flags,
//! part size, signature, retries and part timeout, are checked where they
//! are defined, [`ferry_rules::job`], and answered here as a [`BadOption`]).
//! Options are checked before any engine or instance exists, so a bad one
//! is bad input (exit 2) with a message naming the option, its range and
//! what to do.

use ferry_rules::job;
use std::time::Duration;

/// Bounds on the instances a [`crate::Runtime`] creates.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Part instances running at once.
    pub instances: u32,
    /// Linear memory one instance may grow to, in bytes.
    pub instance_memory: usize,
    /// How long one part instance may run before it is stopped and its part
    /// re-dispatched.
    pub part_deadline: Duration,
    /// How long the coordinating instance may run.
    pub job_deadline: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            instances: 16,
            instance_memory: 128 << 20,
            part_deadline: Duration::from_secs(600),
            job_deadline: Duration::from_secs(24 * 3600),
        }
    }
}

/// The most part instances at once. The coordinator keeps at most 1,000
/// parts in flight (it clamps its `parallel` there), so more instances
/// could never be used; and the pooling allocator reserves address space
/// for four memories per instance (4 GiB each by default), which the
/// 128 TiB a process may map runs out of near 8,000 instances
/// (`--instances 100000` failed in mmap).
pub const MAX_INSTANCES: u32 = 1000;
/// The least memory an instance may be given: the component starts with
/// 1.25 MiB (20 pages) and grows with the parts it streams; less than this
/// only invites out-of-memory failures that are retried as if transient.
pub const MIN_INSTANCE_MEMORY_MIB: usize = 16;
/// The most memory an instance may be given: a 32-bit WebAssembly memory
/// holds at most 4 GiB.
pub const MAX_INSTANCE_MEMORY_MIB: usize = 4096;
/// The longest a part instance, or one part over all its attempts, may
/// run (the coordinating instance itself is stopped after a day,
/// [`Limits::job_deadline`]), and the most retries of one part: the job's
/// ranges, defined with its flags ([`ferry_rules::job`]).
pub use ferry_rules::job::{MAX_RETRIES, MAX_TIMEOUT_SECS};
/// The most part instances one `ferry serve` holds for all its transfers
/// (`--jobs` x `--instances`), which its pooling allocator reserves at
/// start.
pub const MAX_SERVED_INSTANCES: u32 = 4 * MAX_INSTANCES;
/// The most parts one HTTP worker may run at once.
pub const MAX_WORKER_CONCURRENCY: u32 = 1000;
/// The smallest part OSS accepts and S3 accepts, and the largest either
/// accepts: one definition, the component's too.
pub use ferry_rules::{MAX_PART_SIZE, MIN_PART_SIZE_OSS as MIN_PART_SIZE, MIN_PART_SIZE_S3};

/// An option out of its range, or not readable: names the option and what
/// to give instead. Bad input to a transfer ([`crate::TransferError`]'s
/// `invalid-input`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadOption(pub String);

impl std::fmt::Display for BadOption {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for BadOption {}

impl Limits {
    /// Checks the limits against the ranges above; the error names the
    /// option (`--instances`, `--instance-memory-mib`, `--instance-timeout`).
    pub fn check(&self) -> Result<(), BadOption> {
        check_instances(self.instances)?;
        if !self.instance_memory.is_multiple_of(1 << 20) {
            return Err(BadOption(format!(
                "the instance memory limit, {} bytes, is not a whole number of MiB: give \
                 --instance-memory-mib {MIN_INSTANCE_MEMORY_MIB} to {MAX_INSTANCE_MEMORY_MIB}",
                self.instance_memory
            )));
        }
        check_instance_memory_mib(self.instance_memory >> 20)?;
        check_seconds(
            "--instance-timeout",
            self.part_deadline.as_secs(),
            "seconds one part instance may run",
        )
    }
}

/// `--instances`: 1 to [`MAX_INSTANCES`].
pub fn check_instances(n: u32) -> Result<(), BadOption> {
    in_range(
        "--instances",
        n.into(),
        1,
        MAX_INSTANCES.into(),
        "part instances at once",
    )
}

/// `--instance-memory-mib`: [`MIN_INSTANCE_MEMORY_MIB`] to
/// [`MAX_INSTANCE_MEMORY_MIB`].
pub fn check_instance_memory_mib(mib: usize) -> Result<(), BadOption> {
    in_range(
        "--instance-memory-mib",
        mib as u64,
        MIN_INSTANCE_MEMORY_MIB as u64,
        MAX_INSTANCE_MEMORY_MIB as u64,
        "MiB of memory one instance may use; a WebAssembly instance holds at most 4 GiB, and \
         the default is 128",
    )
}

/// `--retries`: 0 to [`MAX_RETRIES`] ([`ferry_rules::job::check_retries`]).
pub fn check_retries(n: u32) -> Result<(), BadOption> {
    job::check_retries(n).map_err(BadOption)
}

/// `--part-timeout`, `--instance-timeout`: 1 s to a day.
pub fn check_seconds(flag: &str, secs: u64, what: &str) -> Result<(), BadOption> {
    job::check_seconds(flag, secs, what).map_err(BadOption)
}

/// `--worker-concurrency`: 1 to [`MAX_WORKER_CONCURRENCY`].
pub fn check_worker_concurrency(n: u32) -> Result<(), BadOption> {
    in_range(
        "--worker-concurrency",
        n.into(),
        1,
        MAX_WORKER_CONCURRENCY.into(),
        "parts one worker runs at once",
    )
}

/// `ferry serve --jobs`: at least 1, and with `--instances` within
/// [`MAX_SERVED_INSTANCES`].
pub fn check_jobs(jobs: u32, instances: u32) -> Result<(), BadOption> {
    let most = (MAX_SERVED_INSTANCES / instances.max(1)).max(1);
    in_range(
        "--jobs",
        jobs.into(),
        1,
        most.into(),
        &format!(
            "transfers at once; one server holds at most {MAX_SERVED_INSTANCES} part \
             instances, --jobs x --instances"
        ),
    )
}

/// `ferry serve --max-body`: 1 KiB to 1 GiB.
pub fn check_max_body(bytes: usize) -> Result<(), BadOption> {
    in_range(
        "--max-body",
        bytes as u64,
        1 << 10,
        1 << 30,
        "bytes in one request body; events are small JSON documents",
    )
}

/// `--signature`: `v1` or `v4`, in either case; returns it in lower case.
pub fn check_signature(version: &str) -> Result<String, BadOption> {
    job::check_signature(version).map_err(BadOption)
}

/// `--part-size`: a size within what the store accepts; returns the bytes
/// ([`ferry_rules::job::check_part_size`]).
pub fn check_part_size(size: &str, s3: bool) -> Result<u64, BadOption> {
    job::check_part_size(size, s3).map_err(BadOption)
}

/// Bytes from `6MiB`, `64M`, `1.5GiB`, `1048576`
/// ([`ferry_rules::job::parse_size`]).
pub use ferry_rules::job::parse_size;

fn in_range(flag: &str, value: u64, min: u64, max: u64, what: &str) -> Result<(), BadOption> {
    job::in_range(flag, value, min, max, what).map_err(BadOption)
}

/// Memory one part in flight takes on this machine, for `--max-memory`: a
/// part instance's linear memory once it has streamed a part (the component
/// starts at 1.25 MiB and streams in 1 MiB chunks) plus the host's buffers
/// for its two connections, rounded up.
pub const PART_MEMORY: u64 = 8 << 20;
/// The least `--max-memory`: one part.
pub const MIN_MAX_MEMORY: u64 = PART_MEMORY;

/// `--max-memory`'s default: a quarter of the machine's memory
/// (`/proc/meminfo`), or 2 GiB where that cannot be read.
pub fn default_max_memory() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| mem_total(&m))
        .map_or(2 << 30, |total| total / 4)
}

/// `MemTotal` in bytes from the text of `/proc/meminfo`.
fn mem_total(meminfo: &str) -> Option<u64> {
    let line = meminfo.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    kib.checked_mul(1024)
}

/// `--max-memory`: a size of at least one part's memory. Returns the bytes.
pub fn check_max_memory(size: &str) -> Result<u64, BadOption> {
    let bytes = parse_size(size).ok_or_else(|| {
        BadOption(format!(
            "--max-memory {size:?} is not a size: write it like 2GiB or 512M"
        ))
    })?;
    if bytes < MIN_MAX_MEMORY {
        return Err(BadOption(format!(
            "--max-memory {size} is out of range: give 8MiB or more (each part in flight takes              about 8 MiB)"
        )));
    }
    Ok(bytes)
}

/// The most parts in flight that `max_memory` holds: 1 to
/// [`MAX_INSTANCES`].
pub fn parallel_for_memory(max_memory: u64) -> u32 {
    (max_memory / PART_MEMORY).clamp(1, MAX_INSTANCES.into()) as u32
}

/// How often the epoch advances; deadlines are counted in these ticks.
pub const EPOCH_TICK: Duration = Duration::from_millis(50);

/// A deadline in epoch ticks.
pub fn ticks(deadline: Duration) -> u64 {
    (deadline.as_millis() / EPOCH_TICK.as_millis()).max(1) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_memory_budget_bounds_the_parts_in_flight() {
        assert_eq!(
            mem_total("MemTotal:        8039424 kB\nMemFree: 1 kB\n"),
            Some(8039424 << 10)
        );
        assert_eq!(mem_total("nothing"), None);
        assert_eq!(parallel_for_memory(2 << 30), 256);
        assert_eq!(parallel_for_memory(1 << 40), MAX_INSTANCES);
        assert_eq!(parallel_for_memory(0), 1);
        assert_eq!(check_max_memory("1GiB"), Ok(1 << 30));
        assert!(check_max_memory("1MiB")
            .unwrap_err()
            .0
            .contains("8MiB or more"));
        assert!(check_max_memory("lots")
            .unwrap_err()
            .0
            .starts_with("--max-memory"));
        assert!(default_max_memory() >= PART_MEMORY);
    }

    #[test]
    fn out_of_range_options_name_the_option_and_the_range() {
        let e = check_part_size("16EiB", false).unwrap_err().0;
        assert!(
            e.starts_with("--part-size") && e.contains("100KiB to 5GiB"),
            "{e}"
        );
        let e = check_part_size("1MiB", true).unwrap_err().0;
        assert!(e.contains("5MiB to 5GiB"), "{e}");
        assert_eq!(check_part_size("5GiB", true), Ok(5 << 30));
        assert!(check_instances(0).unwrap_err().0.contains("1 to 1000"));
        assert!(check_instances(1000).is_ok());
        assert!(check_signature("v2").unwrap_err().0.contains("v4"));
        assert_eq!(check_signature("V1"), Ok("v1".into()));
        let limits = Limits {
            instance_memory: 0,
            ..Limits::default()
        };
        assert!(limits
            .check()
            .unwrap_err()
            .0
            .starts_with("--instance-memory-mib 0 is out of range"));
        let limits = Limits {
            part_deadline: Duration::ZERO,
            ..Limits::default()
        };
        assert!(limits
            .check()
            .unwrap_err()
            .0
            .starts_with("--instance-timeout 0"));
        assert!(Limits::default().check().is_ok());
    }
}
