//! Fault injection for both servers.
//!
//! Every knob is counted, never random: "the first N requests of a kind" from
//! the moment the faults were set (`set_faults` on either server, or the
//! command line at start). Setting faults again re-arms every count. A knob
//! counts only the requests it fired on, so two knobs on the same kind of
//! request happen one after the other (e.g. two cut UploadParts, then two
//! 503s, then success), in the precedence order given on each server.
//!
//! One `Faults` value serves both servers; each reads only its own fields
//! (source fields first, store fields after).

use std::time::Duration;

/// Faults to inject; the default injects none.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Faults {
    // ---- Source (`SourceServer`) -------------------------------------
    /// `(bytes, times)`: the first `times` GET responses whose body is longer
    /// than `bytes` are cut after exactly `bytes` body bytes: those bytes are
    /// flushed to the socket, then the connection is closed without ending
    /// the body (short of `Content-Length`, or no final chunk when chunked).
    pub reset_after: Option<(u64, u32)>,
    /// `(bytes, pause, times)`: the first `times` GET responses whose body is
    /// longer than `bytes` pause for `pause` after `bytes` body bytes, then
    /// send the rest.
    pub stall: Option<(u64, Duration, u32)>,
    /// `(status, times, retry_after)`: the first `times` GET requests (HEAD
    /// is never affected) answer `status` with a short text body and, when
    /// given, `Retry-After: <seconds>`. Fires before If-Match and Range.
    pub status_burst: Option<(u16, u32, Option<u32>)>,
    /// After this many GET requests (any object, any outcome, counted from
    /// `set_faults`) every object changes: new bytes (the seed xored with
    /// [`CHANGE_XOR`]), new ETag, new Last-Modified, new CRC header. An
    /// If-Match with the old ETag then gets 412. `Some(0)`: changed at once.
    pub change_after: Option<u32>,
    /// 403 to every request for an object (GET and HEAD).
    pub forbidden: bool,
    /// 404 to every request for an object (GET and HEAD).
    pub not_found: bool,
    /// The `x-oss-hash-crc64ecma` header (with `crc_header`) states the
    /// object's CRC-64 xor 1: a source whose stated CRC is not that of the
    /// bytes it sends.
    pub wrong_crc_header: bool,

    // ---- Store (`StoreServer`) ---------------------------------------
    /// `(status, times, retry_after)`: the first `times` UploadPart requests
    /// are read to the end and discarded, then answered `status` with OSS
    /// error XML (500 InternalError, 503 ServiceUnavailable, 429
    /// QpsLimitExceeded, ...) and `Retry-After` when given. Nothing is
    /// stored.
    pub part_status_burst: Option<(u16, u32, Option<u32>)>,
    /// The first N UploadPart requests store a corrupted part: the last byte
    /// is flipped (xor 1) on disk, and the part's recorded and answered
    /// `x-oss-hash-crc64ecma` is the CRC of the corrupted bytes, so it differs
    /// from what the client sent. Unless the client re-uploads the part, the
    /// completed object's CRC (and bytes) are wrong.
    pub wrong_part_crc: u32,
    /// UploadPart answers no `x-amz-checksum-crc64nvme` (the part's CRC is
    /// still kept, and listed by ListParts): a client learns of a part that
    /// reached the store other than it was sent only when the store checks
    /// the object's checksum on CompleteMultipartUpload.
    pub quiet_part_checksums: bool,
    /// `(bytes, times)`: the first `times` UploadPart requests are cut: the
    /// store reads at least `bytes` body bytes (whole frames as they arrive),
    /// then closes the connection without a response. Nothing is stored.
    pub reset_part_after: Option<(u64, u32)>,
    /// `(status, times)`: the first `times` CompleteMultipartUpload requests
    /// are read, then answered `status` with OSS error XML; the upload and
    /// its parts stay as they were.
    pub complete_status_burst: Option<(u16, u32)>,
    /// The first N CompleteMultipartUpload requests that
    /// `complete_status_burst` lets through complete the object as asked,
    /// but answer a wrong `x-oss-hash-crc64ecma` (the object's CRC-64 xor
    /// 1); the object itself, as HeadObject and the admin routes show it,
    /// is intact.
    pub wrong_object_crc: u32,
    /// `(status, times)`: the first `times` AbortMultipartUpload requests
    /// answer `status` with OSS error XML; the upload stays.
    pub abort_status_burst: Option<(u16, u32)>,
    /// 403 AccessDenied to every OSS request (the `/-/` admin routes still
    /// answer).
    pub deny_all: bool,
    /// 403 AccessDenied to every UploadPartCopy, as OSS answers a copy from
    /// a bucket the key may not read (another account's, say).
    pub deny_part_copy: bool,
    /// 403 AccessDenied to every HeadObject, as a store answers a key that
    /// may not read the object.
    pub deny_head: bool,
    /// An UploadPart that arrives while this many UploadParts are already
    /// in progress is read to the end and discarded, then answered 503
    /// ServiceUnavailable ("Please reduce your request rate."), as a store
    /// throttling a client that asks too much at once. Not counted: it
    /// fires as long as it is set.
    pub slow_down_above: Option<u32>,
}

/// What `change_after` xors into the seed of every object.
pub const CHANGE_XOR: u64 = 0x5DEE_CE66_D1CE_0001;

/// The knobs that count their firings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Knob {
    ResetAfter,
    Stall,
    StatusBurst,
    PartStatusBurst,
    WrongPartCrc,
    ResetPartAfter,
    CompleteStatusBurst,
    WrongObjectCrc,
    AbortStatusBurst,
}

const KNOBS: usize = 9;

/// Faults as set, with how often each knob has fired since.
#[derive(Debug, Default)]
pub(crate) struct Armed {
    pub faults: Faults,
    fired: [u32; KNOBS],
    /// GET requests seen since the faults were set (for `change_after`).
    pub gets: u64,
}

impl Armed {
    pub fn new(faults: Faults) -> Self {
        Self {
            faults,
            ..Self::default()
        }
    }

    /// Whether `knob` fires once more (it may fire `times` times), counting
    /// the firing.
    pub fn fire(&mut self, knob: Knob, times: u32) -> bool {
        let used = &mut self.fired[knob as usize];
        if *used < times {
            *used += 1;
            true
        } else {
            false
        }
    }
}

// ---- Command-line syntax ------------------------------------------------

fn field<T: std::str::FromStr>(s: Option<&str>, what: &str) -> Result<T, String> {
    let s = s.ok_or_else(|| format!("missing {what}"))?;
    s.trim()
        .parse()
        .map_err(|_| format!("{what}: cannot read {s:?}"))
}

fn fields(s: &str, min: usize, max: usize, syntax: &str) -> Result<Vec<String>, String> {
    let parts: Vec<String> = s.split(':').map(str::to_string).collect();
    if (min..=max).contains(&parts.len()) {
        Ok(parts)
    } else {
        Err(format!("expected {syntax}, got {s:?}"))
    }
}

fn status(s: Option<&str>) -> Result<u16, String> {
    let status: u16 = field(s, "STATUS")?;
    if (100..=599).contains(&status) {
        Ok(status)
    } else {
        Err(format!("STATUS {status} is not an HTTP status"))
    }
}

/// `STATUS:TIMES[:RETRY_AFTER_S]`, e.g. `503:3:1`.
pub fn parse_status_burst(s: &str) -> Result<(u16, u32, Option<u32>), String> {
    let f = fields(s, 2, 3, "STATUS:TIMES[:RETRY_AFTER_S]")?;
    let retry = match f.get(2) {
        Some(r) => Some(field(Some(r), "RETRY_AFTER_S")?),
        None => None,
    };
    Ok((
        status(f.first().map(String::as_str))?,
        field(f.get(1).map(String::as_str), "TIMES")?,
        retry,
    ))
}

/// `STATUS:TIMES`, e.g. `500:2`.
pub fn parse_status_times(s: &str) -> Result<(u16, u32), String> {
    let f = fields(s, 2, 2, "STATUS:TIMES")?;
    Ok((
        status(f.first().map(String::as_str))?,
        field(f.get(1).map(String::as_str), "TIMES")?,
    ))
}

/// `BYTES[:TIMES]` (TIMES defaults to 1), e.g. `1048576:2`.
pub fn parse_bytes_times(s: &str) -> Result<(u64, u32), String> {
    let f = fields(s, 1, 2, "BYTES[:TIMES]")?;
    let times = match f.get(1) {
        Some(t) => field(Some(t), "TIMES")?,
        None => 1,
    };
    Ok((field(f.first().map(String::as_str), "BYTES")?, times))
}

/// `BYTES:MILLIS[:TIMES]` (TIMES defaults to 1), e.g. `65536:3000:1`.
pub fn parse_stall(s: &str) -> Result<(u64, Duration, u32), String> {
    let f = fields(s, 2, 3, "BYTES:MILLIS[:TIMES]")?;
    let times = match f.get(2) {
        Some(t) => field(Some(t), "TIMES")?,
        None => 1,
    };
    Ok((
        field(f.first().map(String::as_str), "BYTES")?,
        Duration::from_millis(field(f.get(1).map(String::as_str), "MILLIS")?),
        times,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn knobs_fire_their_count_then_stop() {
        let mut a = Armed::new(Faults::default());
        assert!(a.fire(Knob::Stall, 2));
        assert!(a.fire(Knob::Stall, 2));
        assert!(!a.fire(Knob::Stall, 2));
        assert!(!a.fire(Knob::ResetAfter, 0));
        assert!(a.fire(Knob::ResetAfter, 1));
    }

    #[test]
    fn command_line_syntax() {
        assert_eq!(parse_status_burst("503:3"), Ok((503, 3, None)));
        assert_eq!(parse_status_burst("429:1:2"), Ok((429, 1, Some(2))));
        assert!(parse_status_burst("503").is_err());
        assert!(parse_status_burst("5000:1").is_err());
        assert!(parse_status_burst("503:x").is_err());
        assert_eq!(parse_status_times("500:2"), Ok((500, 2)));
        assert!(parse_status_times("500:2:1").is_err());
        assert_eq!(parse_bytes_times("1000"), Ok((1000, 1)));
        assert_eq!(parse_bytes_times("1000:4"), Ok((1000, 4)));
        assert_eq!(
            parse_stall("10:1500"),
            Ok((10, Duration::from_millis(1500), 1))
        );
        assert_eq!(parse_stall("10:5:3"), Ok((10, Duration::from_millis(5), 3)));
        assert!(parse_stall("10").is_err());
    }
}
