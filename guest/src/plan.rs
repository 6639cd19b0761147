//! Planning: probe the source, choose the part size, initiate the upload.

use crate::error::{Error, Result};
use crate::retry::RetryPolicy;
use crate::server_copy;
use crate::size::human;
use crate::source::probe;
use crate::store::{min_part_size, Store};
use crate::target;
use crate::{FailureKind, Job, Plan, SourceInfo};

/// Parts in flight for a step that is not paced (checking held parts on
/// resume).
pub const DEFAULT_PARALLEL: u32 = 16;

/// The most parts in flight when the job names no cap: with no fan-out
/// they all live in this one instance, about 2 MiB of buffers each.
pub const DEFAULT_MAX_PARALLEL: u32 = 128;

/// The cap on parts in flight: the job's `max-parallel`, else
/// [`DEFAULT_MAX_PARALLEL`]; at most 1000.
pub fn max_parallel(job: &Job) -> u32 {
    job.max_parallel
        .unwrap_or(DEFAULT_MAX_PARALLEL)
        .clamp(1, 1000)
}

/// The part size when none is asked for: the FC design's 6 MiB.
pub const DEFAULT_PART_SIZE: u64 = 6 << 20;
/// OSS's smallest part (all but the last); S3's is 5 MiB
/// ([`crate::store::min_part_size`]).
pub const MIN_PART_SIZE: u64 = ferry_rules::MIN_PART_SIZE_OSS;
/// The largest part, on OSS and S3.
pub const MAX_PART_SIZE: u64 = ferry_rules::MAX_PART_SIZE;
/// The most parts in one upload, on OSS and S3.
pub const MAX_PARTS: u64 = 10_000;

/// The default part size when the source does not say its size: larger,
/// so that 10,000 parts reach 312 GiB.
pub const UNKNOWN_SIZE_PART_SIZE: u64 = 32 << 20;

/// Probes the source and, for a non-empty one, initiates the upload.
pub async fn plan(job: &Job) -> Result<Plan> {
    let store = Store::from_job(job)?;
    let policy = RetryPolicy::from_job(job);
    let key = &job.target_object_name;
    if target::is_folder(key) {
        // `run` names it from the source; the steps alone cannot.
        return Err(Error::invalid(format!(
            "the target key {key:?} is a folder; name the object (KEY, not FOLDER/)"
        )));
    }
    // `no-clobber`: an object there stops the copy before any upload.
    policy.run(|| store.refuse_existing(key), |_, _| {}).await?;
    let mut object = server_copy::store_object(&job.source_url, &store)?;
    let probed = match &object {
        Some(o) => Some(
            policy
                .run(|| server_copy::probe(&store, o), |_, _| {})
                .await,
        ),
        None => None,
    };
    let source = match probed {
        Some(Ok((info, _))) => info,
        // A URL on the store's endpoint that this key may not HEAD (a
        // public object of another account's bucket, say) is read as the
        // URL it is.
        Some(Err(e))
            if !server_copy::is_store_location(&job.source_url) && e.kind == FailureKind::Store =>
        {
            object = None;
            policy.run(|| probe(&job.source_url), |_, _| {}).await?.0
        }
        Some(Err(e)) => return Err(e),
        None => policy.run(|| probe(&job.source_url), |_, _| {}).await?.0,
    };
    let min = min_part_size(store.kind);
    let (part_size, part_count) = match source.size {
        Some(size) => {
            let part_size = match (job.part_size, job.parallel) {
                (None, None) => auto_part_size(min, size, max_parallel(job))?,
                _ => choose_part_size(min, size, job.part_size)?,
            };
            let count = u32::try_from(size.div_ceil(part_size)).expect("at most 10,000 parts");
            (part_size, count)
        }
        // Counted as the stream is read.
        None => (
            choose_part_size(min, 0, job.part_size)?.max(if job.part_size.is_some() {
                0
            } else {
                UNKNOWN_SIZE_PART_SIZE
            }),
            0,
        ),
    };
    let (upload_id, check) = if source.size == Some(0) {
        (None, None)
    } else {
        let key = &job.target_object_name;
        // Parts the store copies itself are checked by their ETags.
        let checksums = object.is_none();
        let (id, check) = policy
            .run(|| store.initiate(key, checksums), |_, _| {})
            .await?
            .0;
        (Some(id), Some(check))
    };
    Ok(Plan {
        source,
        store_source: object.as_ref().map(|o| o.copy_source()),
        server_side: object.is_some(),
        upload_id,
        part_size,
        part_count,
        check,
    })
}

/// Why a source must be read as one sequential stream, if it must.
pub fn sequential_reason(source: &SourceInfo) -> Option<&'static str> {
    match (source.size, source.ranges) {
        (Some(0), _) => None,
        (None, _) => Some(
            "the source does not say its size (no Content-Length), so its parts cannot be \
             fetched separately",
        ),
        (Some(_), false) => {
            Some("the source does not serve byte ranges, so its parts cannot be fetched separately")
        }
        (Some(_), true) => None,
    }
}

/// The part size for `size` bytes: the one asked for, checked against the
/// store's limits (`min`: its smallest part), or 6 MiB grown (in whole MiB)
/// until the parts number at most 10,000.
pub fn choose_part_size(min: u64, size: u64, requested: Option<u64>) -> Result<u64> {
    match requested {
        Some(p) if p < min => Err(Error::invalid(format!(
            "part size {} is below the store's minimum of {}; choose {} or more",
            human(p),
            human(min),
            human(min)
        ))),
        Some(p) if p > MAX_PART_SIZE => Err(Error::invalid(format!(
            "part size {} is above the store's maximum of {}",
            human(p),
            human(MAX_PART_SIZE)
        ))),
        Some(p) if size.div_ceil(p) > MAX_PARTS => Err(Error::invalid(format!(
            "part size {} cuts {} into {} parts, more than the store's 10,000; choose {} or more",
            human(p),
            human(size),
            size.div_ceil(p),
            human(size.div_ceil(MAX_PARTS))
        ))),
        Some(p) => Ok(p),
        None => {
            let mib = 1 << 20;
            let needed = size.div_ceil(MAX_PARTS).div_ceil(mib) * mib;
            let part = needed.max(DEFAULT_PART_SIZE);
            if part > MAX_PART_SIZE {
                Err(Error::invalid(format!(
                    "{} is larger than the store's largest object (10,000 parts of 5 GiB)",
                    human(size)
                )))
            } else {
                Ok(part)
            }
        }
    }
}

/// Turns each part in flight should take when the parallelism is found as
/// the copy runs: enough rounds for the pacer to measure and a short tail,
/// while keeping parts large where the object is.
const TURNS: u64 = 16;

/// The part size when neither it nor the parallelism is pinned: as
/// [`choose_part_size`] (6 MiB, the floor: a round of the pacer lasts one
/// part's time, so smaller parts find the parallelism sooner), grown in whole
/// MiB so that `cap` parts in flight each take about [`TURNS`] parts.
pub fn auto_part_size(min: u64, size: u64, cap: u32) -> Result<u64> {
    let base = choose_part_size(min, size, None)?;
    let mib = 1 << 20;
    let wanted = size.div_ceil(TURNS * u64::from(cap.max(1))).div_ceil(mib) * mib;
    Ok(base.max(wanted).min(MAX_PART_SIZE))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_part_size_is_six_mib_and_grows_past_ten_thousand_parts() {
        assert_eq!(choose_part_size(MIN_PART_SIZE, 0, None).unwrap(), 6 << 20);
        assert_eq!(
            choose_part_size(MIN_PART_SIZE, 1 << 30, None).unwrap(),
            6 << 20
        );
        let huge = 100u64 << 30; // 100 GiB: 6 MiB would need 17,067 parts
        let p = choose_part_size(MIN_PART_SIZE, huge, None).unwrap();
        assert!(huge.div_ceil(p) <= MAX_PARTS);
        assert_eq!(p % (1 << 20), 0);
        assert_eq!(p, 11 << 20);
    }

    #[test]
    fn automatic_part_sizes_give_each_part_in_flight_many_turns() {
        let mib = 1u64 << 20;
        // Small and middling objects keep the 6 MiB floor.
        assert_eq!(
            auto_part_size(MIN_PART_SIZE, 200_000_000, 128).unwrap(),
            6 * mib
        );
        assert_eq!(
            auto_part_size(MIN_PART_SIZE, 2_000_000_000, 128).unwrap(),
            6 * mib
        );
        // 14.68 GB over 128 in flight: 16 turns each, whole MiB.
        let p = auto_part_size(MIN_PART_SIZE, 14_680_000_000, 128).unwrap();
        assert_eq!(p, 7 * mib);
        assert!(14_680_000_000u64.div_ceil(p) >= 15 * 128);
        // Within the stores' limits: 10,000 parts, 5 GiB.
        let huge = 40_000 * 6 * mib;
        assert!(huge.div_ceil(auto_part_size(MIN_PART_SIZE, huge, 1).unwrap()) <= MAX_PARTS);
        assert_eq!(auto_part_size(5 * mib, 1 << 30, 1000).unwrap(), 6 * mib);
    }

    #[test]
    fn requested_part_sizes_are_checked() {
        assert!(choose_part_size(MIN_PART_SIZE, 1 << 20, Some(50 << 10)).is_err());
        assert!(choose_part_size(MIN_PART_SIZE, 1 << 20, Some(6 << 30)).is_err());
        assert!(choose_part_size(MIN_PART_SIZE, 10_001 * (100 << 10), Some(100 << 10)).is_err());
        assert_eq!(
            choose_part_size(MIN_PART_SIZE, 1 << 20, Some(100 << 10)).unwrap(),
            100 << 10
        );
        assert!(choose_part_size(MIN_PART_SIZE, 60u64 << 40, None).is_err());
        // S3 takes no part under 5 MiB.
        assert!(choose_part_size(5 << 20, 1 << 30, Some(1 << 20)).is_err());
        assert_eq!(choose_part_size(5 << 20, 1 << 30, None).unwrap(), 6 << 20);
    }
}
