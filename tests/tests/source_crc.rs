//! A source that states its whole-object CRC-64 (`x-oss-hash-crc64ecma`, as
//! an OSS-hosted source does) is copied with no hashing in ferry: each
//! part's CRC is the store's answer, and the parts' CRCs combined must equal
//! the source's before completion. When they do not, the parts' ranges are
//! read again and hashed, and only the parts the store holds wrong are sent
//! again. A plain source is still hashed part by part as it streams.
//!
//! Needs `make build` first (the binary and the component).

mod bed;

use bed::{ferry_copy, key, last_json, Bed};
use ferry_testbed::faults::Faults;
use ferry_testbed::source::SourceConfig;
use serde_json::Value;

const BUCKET: &str = "ferry-source-crc";
const KEY_ID: &str = "crc-key";
const SECRET: &str = "crc-secret-value-9d1e";

/// 5,000,000 bytes in parts of 1 MiB.
const SIZE: u64 = 5_000_000;
const PARTS: u64 = 5;

fn bed(tag: &str, crc_header: bool, faults: Faults) -> Bed {
    let bed = Bed::start(
        tag,
        BUCKET,
        SourceConfig {
            crc_header,
            ..SourceConfig::default()
        },
        vec![key(KEY_ID, SECRET)],
        true,
    );
    bed.source.set_faults(faults.clone());
    bed.store.set_faults(faults);
    bed
}

/// Copies the pattern object (seed, SIZE) to `key`, with `extra` arguments:
/// exit code, JSON result and stderr.
fn copy(bed: &Bed, seed: u64, key: &str, extra: &[&str]) -> (i32, Value, String) {
    let out = ferry_copy(
        bed,
        &bed.source.url(seed, SIZE),
        BUCKET,
        key,
        (KEY_ID, SECRET),
    )
    .args(["--json", "--part-size", "1MiB", "--instances", "3"])
    .args(extra)
    .output()
    .expect("ferry runs");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        !stdout.contains(SECRET) && !stderr.contains(SECRET),
        "a secret leaked into ferry's output"
    );
    (
        out.status.code().unwrap_or(-1),
        last_json(&out.stdout),
        stderr,
    )
}

/// A part the store keeps corrupted (other bytes than were sent, and their
/// CRC answered) passes UploadPart unnoticed, since ferry hashes nothing;
/// the combined CRC then disagrees with the source's, the ranges are read
/// again, and that one part alone is sent again: the object is exact.
#[test]
fn a_crc_source_is_copied_unhashed_and_a_corrupted_part_alone_is_sent_again() {
    let bed = bed(
        "unhashed",
        true,
        Faults {
            wrong_part_crc: 1,
            ..Faults::default()
        },
    );
    let (code, r, stderr) = copy(&bed, 31, "unhashed.bin", &[]);
    assert_eq!(code, 0, "{r}\n{stderr}");
    let checks = r["checks"].as_str().unwrap();
    assert!(checks.contains("no hashing in ferry"), "{checks}");
    assert_eq!(r["source_crc64"], r["crc64"]);
    bed.check_copied(31, SIZE, "unhashed.bin").unwrap();
    // Each part once, then the one the store corrupted once more.
    assert_eq!(bed.store.counts().upload_part, PARTS + 1);
    // Each range read to copy it, read again (hashed) to find the bad
    // part, and the bad part's range read to send it again.
    assert_eq!(bed.source.get_requests(), 2 * PARTS + 1);
}

/// Bounded: a store that keeps corrupting what it is sent is given two
/// more tries per part, then the copy fails as an integrity failure with
/// nothing completed and the upload aborted.
#[test]
fn a_store_that_keeps_corrupting_a_part_fails_the_copy_and_leaves_nothing() {
    let bed = bed(
        "corrupting",
        true,
        Faults {
            wrong_part_crc: 1_000,
            ..Faults::default()
        },
    );
    let (code, r, stderr) = copy(&bed, 32, "corrupting.bin", &[]);
    assert_eq!(code, 5, "{r}\n{stderr}");
    assert_eq!(r["kind"], "integrity");
    let message = r["message"].as_str().unwrap();
    assert!(message.contains("still differ"), "{message}");
    assert!(bed.store.object(BUCKET, "corrupting.bin").is_none());
    bed.check_no_upload().unwrap();
    assert_eq!(bed.store.history().uploads_completed, 0);
    assert_eq!(bed.store.counts().upload_part, 3 * PARTS);
}

/// A source whose stated CRC-64 is not that of its bytes: the ranges read
/// again agree with what the store holds, so no part is sent again and the
/// copy fails (exit 5) naming the source, with no upload left.
#[test]
fn a_source_that_states_a_wrong_crc_fails_with_integrity_and_leaves_no_upload() {
    let bed = bed(
        "liar",
        true,
        Faults {
            wrong_crc_header: true,
            ..Faults::default()
        },
    );
    let (code, r, stderr) = copy(&bed, 33, "liar.bin", &[]);
    assert_eq!(code, 5, "{r}\n{stderr}");
    assert_eq!(r["kind"], "integrity");
    let message = r["message"].as_str().unwrap();
    assert!(message.contains("its bytes give"), "{message}");
    assert!(bed.store.object(BUCKET, "liar.bin").is_none());
    bed.check_no_upload().unwrap();
    assert_eq!(bed.store.history().uploads_completed, 0);
    assert_eq!(bed.store.counts().upload_part, PARTS);
    assert_eq!(bed.source.get_requests(), 2 * PARTS);
}

/// A source without a CRC is hashed in ferry as it streams: the corrupted
/// part is caught at its UploadPart and copied again, with no second read
/// of the other ranges.
#[test]
fn a_plain_source_is_hashed_in_ferry_part_by_part() {
    let bed = bed(
        "plain",
        false,
        Faults {
            wrong_part_crc: 1,
            ..Faults::default()
        },
    );
    let (code, r, stderr) = copy(&bed, 34, "plain.bin", &[]);
    assert_eq!(code, 0, "{r}\n{stderr}");
    let checks = r["checks"].as_str().unwrap();
    assert!(checks.contains("ferry's CRC-64 of each part"), "{checks}");
    assert_eq!(r["source_crc64"], Value::Null);
    bed.check_copied(34, SIZE, "plain.bin").unwrap();
    assert_eq!(bed.store.counts().upload_part, PARTS + 1);
    assert_eq!(bed.source.get_requests(), PARTS + 1);
}

/// With --keep-partial the upload of a copy that failed the source's CRC is
/// kept for --resume, not aborted.
#[test]
fn keep_partial_keeps_the_upload_of_a_copy_that_failed_the_source_crc() {
    let bed = bed(
        "kept",
        true,
        Faults {
            wrong_crc_header: true,
            ..Faults::default()
        },
    );
    let (code, r, stderr) = copy(&bed, 35, "kept.bin", &["--keep-partial"]);
    assert_eq!(code, 5, "{r}\n{stderr}");
    assert_eq!(r["kind"], "integrity");
    let message = r["message"].as_str().unwrap();
    assert!(message.contains("--resume"), "{message}");
    assert!(bed.store.object(BUCKET, "kept.bin").is_none());
    assert_eq!(bed.store.open_uploads(BUCKET).len(), 1);
    assert_eq!(bed.store.history().uploads_aborted, 0);
}

/// Unhashed parts move from the source's body to the store's inside the
/// host; a body cut on either side, and a store refusing parts, are retried
/// as when the bytes pass through ferry, and the object is exact.
#[test]
fn an_unhashed_copy_survives_cuts_on_both_sides() {
    let bed = bed(
        "cuts",
        true,
        Faults {
            reset_after: Some((300_000, 2)),
            reset_part_after: Some((200_000, 2)),
            part_status_burst: Some((503, 2, None)),
            ..Faults::default()
        },
    );
    let (code, r, stderr) = copy(&bed, 36, "cuts.bin", &[]);
    assert_eq!(code, 0, "{r}\n{stderr}");
    assert!(r["retries"].as_u64().unwrap() >= 4, "{r}");
    assert!(r["checks"]
        .as_str()
        .unwrap()
        .contains("no hashing in ferry"));
    bed.check_copied(36, SIZE, "cuts.bin").unwrap();
}
