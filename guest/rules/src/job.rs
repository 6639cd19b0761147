//! The job's flags, defined once: [`JobArgs`] is what `ferry copy` asks
//! of a copy (source, target, store, part size, signature, retries,
//! timeouts, keep and resume), with its help texts, defaults and ranges.
//! Both command lines flatten it in (`#[command(flatten)]`): the native
//! host's `ferry copy` (`host/src/main.rs`, handed whole to the transfer
//! builder by `Transfer::job_args`) and the component's own under stock
//! `wasmtime run` (`guest/src/cli.rs`, mapped to the WIT `job`). Flags of
//! the host alone (instances, memory, workers, Function Compute, CA bundle,
//! component) stay in `host/src/main.rs`.
//!
//! A new job flag goes here: its field (with help text and default), its
//! range in [`JobArgs::check`], then its field of the WIT `job` in the
//! guest's mapping (`guest/src/cli.rs`) and the host's
//! (`Transfer::job_args`).
//!
//! Values are checked here rather than by clap, so both sides refuse a bad
//! one with the same one-line message, naming the flag and its range.

/// The job's flags, for `#[command(flatten)]`.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct JobArgs {
    /// The http:// or https:// URL to copy from.
    pub source_url: String,
    /// Where to write: oss://BUCKET/KEY or s3://BUCKET/KEY.
    pub target: String,
    /// The store's endpoint [default: OSS_ENDPOINT or https://oss-REGION.aliyuncs.com; for S3,
    /// AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL or https://s3.REGION.amazonaws.com].
    #[arg(short = 'e', long, value_name = "URL")]
    pub endpoint: Option<String>,
    /// The bucket's region, e.g. cn-hangzhou [default: OSS_REGION, or read from an Alibaba
    /// endpoint; for S3, AWS_REGION, AWS_DEFAULT_REGION, the endpoint's, else us-east-1].
    #[arg(long)]
    pub region: Option<String>,
    /// Name the bucket in the path (ENDPOINT/BUCKET/KEY), as many S3-compatible servers need
    /// [default: for IP addresses and localhost].
    #[arg(long, conflicts_with = "cname")]
    pub path_style: bool,
    /// The endpoint is the bucket's own domain (an OSS custom domain bound by CNAME), as new
    /// mainland-China accounts must use for data access.
    #[arg(long, requires = "endpoint")]
    pub cname: bool,
    /// Use OSS's in-region endpoint, oss-REGION-internal.aliyuncs.com: no traffic charge, and
    /// reachable only from ECS or Function Compute in the bucket's region.
    #[arg(long, conflicts_with_all = ["endpoint", "accelerate"])]
    pub internal: bool,
    /// Use the transfer-acceleration endpoint (oss-accelerate.aliyuncs.com,
    /// s3-accelerate.amazonaws.com); the bucket must have acceleration enabled.
    #[arg(long, conflicts_with = "endpoint")]
    pub accelerate: bool,
    /// Bytes per part, e.g. 6MiB or 64M [default: 6MiB, grown to stay within 10,000 parts].
    #[arg(long)]
    pub part_size: Option<String>,
    /// Signature version for the store: v4 (default) or v1.
    #[arg(long)]
    pub signature: Option<String>,
    /// Retries of one part after its first attempt (transient failures only), 0 to 100.
    #[arg(long, default_value_t = DEFAULT_RETRIES)]
    pub retries: u32,
    /// Seconds one part may take over all its attempts, 1 to 86400.
    #[arg(long, default_value_t = DEFAULT_PART_TIMEOUT_SECS)]
    pub part_timeout: u32,
    /// On failure or interruption keep the multipart upload (its id is printed) for --resume.
    #[arg(long)]
    pub keep_partial: bool,
    /// Continue a kept upload: its id, or none for the newest upload of the target key.
    /// Only the parts the store does not hold (or holds wrongly) are copied.
    #[arg(long, num_args = 0..=1, default_missing_value = "")]
    pub resume: Option<String>,
    /// A header for every request to the source, 'Name: value' (repeatable): a cookie, a
    /// token, a referer. Sent to the given URL's origin only; its value is never shown.
    #[arg(short = 'H', long = "header", value_name = "NAME: VALUE")]
    pub header: Vec<String>,
    /// Refuse to replace an object that exists at the target: checked before the upload, and by
    /// the store itself on completion.
    #[arg(long)]
    pub no_clobber: bool,
    /// The object's Content-Type [default: the source's].
    #[arg(long, value_name = "TYPE")]
    pub content_type: Option<String>,
    /// User metadata on the object, KEY=VALUE (repeatable): x-oss-meta-KEY, x-amz-meta-KEY.
    #[arg(long = "meta", value_name = "KEY=VALUE")]
    pub meta: Vec<String>,
    /// The object's storage class: OSS Standard, IA, Archive, ColdArchive, DeepColdArchive;
    /// S3 STANDARD, STANDARD_IA, ONEZONE_IA, INTELLIGENT_TIERING, GLACIER_IR, GLACIER,
    /// DEEP_ARCHIVE... [default: the bucket's].
    #[arg(long, value_name = "CLASS")]
    pub storage_class: Option<String>,
    /// The object's canned ACL: OSS private, public-read, public-read-write, default; S3
    /// private, public-read, public-read-write, authenticated-read, bucket-owner-read,
    /// bucket-owner-full-control... [default: the bucket's].
    #[arg(long)]
    pub acl: Option<String>,
    /// Server-side encryption: OSS AES256, KMS, SM4; S3 AES256, aws:kms.
    #[arg(long)]
    pub sse: Option<String>,
    /// The KMS key for --sse KMS (OSS) or --sse aws:kms (S3) [default: the store's managed key].
    #[arg(long, value_name = "ID", requires = "sse")]
    pub sse_kms_key_id: Option<String>,
}

/// Retries of one part after its first attempt, unless told otherwise.
pub const DEFAULT_RETRIES: u32 = 4;
/// Seconds one part may take over all its attempts, unless told otherwise.
pub const DEFAULT_PART_TIMEOUT_SECS: u32 = 900;
/// The most retries of one part: with exponential backoff, more would only
/// wait out `--part-timeout`.
pub const MAX_RETRIES: u32 = 100;
/// The longest one part over all its attempts (or a part instance) may run.
pub const MAX_TIMEOUT_SECS: u64 = 24 * 3600;

impl JobArgs {
    /// Whether the target is an S3 bucket (`s3://`), whose parts are 5 MiB
    /// at least.
    pub fn s3(&self) -> bool {
        is_s3(&self.target)
    }

    /// Every job flag within its range; the error names the flag, its range
    /// and what to give.
    pub fn check(&self) -> Result<(), String> {
        if let Some(p) = &self.part_size {
            check_part_size(p, self.s3())?;
        }
        if let Some(v) = &self.signature {
            check_signature(v)?;
        }
        check_retries(self.retries)?;
        check_part_timeout(self.part_timeout)?;
        self.source_headers().map(drop)?;
        self.properties().map(drop)
    }

    /// The object's properties as the flags give them, checked for the
    /// target's store ([`check_properties`]).
    pub fn properties(&self) -> Result<Properties, String> {
        let meta = self
            .meta
            .iter()
            .map(|m| parse_meta(m))
            .collect::<Result<Vec<_>, _>>()?;
        let p = Properties {
            content_type: self.content_type.clone(),
            meta,
            storage_class: self.storage_class.clone(),
            acl: self.acl.clone(),
            sse: self.sse.clone(),
            sse_kms_key_id: self.sse_kms_key_id.clone(),
            ..Properties::default()
        };
        check_properties(self.s3(), &p)
    }

    /// `--header` as (name, value) pairs, checked against the source URL
    /// ([`source_headers`]).
    pub fn source_headers(&self) -> Result<Vec<(String, String)>, String> {
        source_headers(&self.header, &self.source_url)
    }
}

/// Headers ferry sets on a source request itself, which `--header` may not.
pub const RESERVED_HEADERS: [&str; 7] = [
    "host",
    "range",
    "content-length",
    "transfer-encoding",
    "connection",
    "if-match",
    "if-unmodified-since",
];

/// `--header 'Name: value'` items as (name, value) pairs, for a source at
/// `source_url`. Refused, in one line naming the header but never its
/// value: no colon, an empty or invalid name, a value with control
/// characters, a header ferry sets itself ([`RESERVED_HEADERS`]), or
/// `Authorization` when the URL has its own `user:pass@`.
pub fn source_headers(items: &[String], source_url: &str) -> Result<Vec<(String, String)>, String> {
    items
        .iter()
        .map(|item| {
            let (name, value) = parse_header(item)?;
            let lower = name.to_ascii_lowercase();
            if RESERVED_HEADERS.contains(&lower.as_str()) {
                return Err(format!(
                    "--header {name}: ferry sets {name} on each source request itself; drop                      this --header"
                ));
            }
            if lower == "authorization" && url_has_userinfo(source_url) {
                return Err(format!(
                    "--header {name}: the source URL carries its own user:pass@, sent as                      Authorization; give one or the other"
                ));
            }
            Ok((name, value))
        })
        .collect()
}

/// One `Name: value`: a token name (RFC 9110) and a value without control
/// characters other than tab, both trimmed.
pub fn parse_header(item: &str) -> Result<(String, String), String> {
    let Some((name, value)) = item.split_once(':') else {
        return Err(
            "--header needs the form 'Name: value' (a colon between the header's \
                 name and its value); one has no colon"
                .into(),
        );
    };
    let name = name.trim();
    if name.is_empty() {
        return Err("--header needs the form 'Name: value'; one has an empty name".into());
    }
    let token = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c);
    if !name.chars().all(token) {
        return Err(format!(
            "--header {name:?} is not a header name: use letters, digits and -, as in              'Cookie: NAME=VALUE'"
        ));
    }
    let value = value.trim();
    if value
        .chars()
        .any(|c| (c.is_control() && c != '\t') || c == '\u{7f}')
    {
        return Err(format!(
            "--header {name}: its value has a control character (a line break?); give one              header per --header"
        ));
    }
    Ok((name.to_string(), value.to_string()))
}

/// Whether an http(s) URL names a `user[:pass]@` before its host.
fn url_has_userinfo(url: &str) -> bool {
    let rest = url.split_once("://").map_or("", |(_, r)| r);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    authority.contains('@')
}

/// An object's properties: what it carries besides its bytes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Properties {
    pub content_type: Option<String>,
    pub content_disposition: Option<String>,
    pub content_encoding: Option<String>,
    pub cache_control: Option<String>,
    /// User metadata (name, value), names in lower case.
    pub meta: Vec<(String, String)>,
    pub storage_class: Option<String>,
    pub acl: Option<String>,
    pub sse: Option<String>,
    pub sse_kms_key_id: Option<String>,
}

/// OSS's storage classes, as its API names them.
pub const OSS_STORAGE_CLASSES: [&str; 5] = [
    "Standard",
    "IA",
    "Archive",
    "ColdArchive",
    "DeepColdArchive",
];
/// S3's storage classes, as its API names them.
pub const S3_STORAGE_CLASSES: [&str; 11] = [
    "STANDARD",
    "REDUCED_REDUNDANCY",
    "STANDARD_IA",
    "ONEZONE_IA",
    "INTELLIGENT_TIERING",
    "GLACIER",
    "DEEP_ARCHIVE",
    "OUTPOSTS",
    "GLACIER_IR",
    "SNOW",
    "EXPRESS_ONEZONE",
];
/// OSS's object ACLs (`default`: the bucket's).
pub const OSS_ACLS: [&str; 4] = ["private", "public-read", "public-read-write", "default"];
/// S3's canned ACLs for an object.
pub const S3_ACLS: [&str; 7] = [
    "private",
    "public-read",
    "public-read-write",
    "authenticated-read",
    "aws-exec-read",
    "bucket-owner-read",
    "bucket-owner-full-control",
];
/// OSS's server-side encryption methods.
pub const OSS_SSE: [&str; 3] = ["AES256", "KMS", "SM4"];
/// S3's server-side encryption methods.
pub const S3_SSE: [&str; 3] = ["AES256", "aws:kms", "aws:kms:dsse"];

/// `value` as `names` spell it (matched without regard to case), or a
/// one-line refusal naming the flag and the values it takes.
fn one_of(flag: &str, value: &str, names: &[&str], store: &str) -> Result<String, String> {
    let v = value.trim();
    names
        .iter()
        .find(|n| n.eq_ignore_ascii_case(v))
        .map(|n| n.to_string())
        .ok_or_else(|| {
            format!(
                "{flag} {value:?} is not one {store} takes: give {}",
                names.join(", ")
            )
        })
}

/// A header value as a store takes it: printable ASCII (RFC 9110 field
/// content), trimmed.
fn header_value(what: &str, value: &str) -> Result<String, String> {
    let v = value.trim();
    if v.chars()
        .all(|c| c == ' ' || c == '\t' || c.is_ascii_graphic())
    {
        Ok(v.to_string())
    } else {
        Err(format!(
            "{what} has a character a header cannot carry (a line break, a control or a \
             non-ASCII character); percent-encode it"
        ))
    }
}

/// The properties checked for a store (`s3`: S3, else OSS): the storage
/// class, ACL and encryption each one the store names (returned as it
/// spells them), a KMS key only with KMS encryption, header-safe values.
pub fn check_properties(s3: bool, p: &Properties) -> Result<Properties, String> {
    let store = if s3 { "S3" } else { "OSS" };
    let mut out = p.clone();
    for (what, value) in [
        ("--content-type", &mut out.content_type),
        ("Content-Disposition", &mut out.content_disposition),
        ("Content-Encoding", &mut out.content_encoding),
        ("Cache-Control", &mut out.cache_control),
        ("--sse-kms-key-id", &mut out.sse_kms_key_id),
    ] {
        if let Some(v) = value {
            *v = header_value(what, v)?;
        }
    }
    for (name, value) in &mut out.meta {
        *name = meta_name(name)?;
        *value = header_value(&format!("--meta {name}"), value)?;
    }
    let (classes, acls, sses): (&[&str], &[&str], &[&str]) = if s3 {
        (&S3_STORAGE_CLASSES, &S3_ACLS, &S3_SSE)
    } else {
        (&OSS_STORAGE_CLASSES, &OSS_ACLS, &OSS_SSE)
    };
    if let Some(c) = &p.storage_class {
        out.storage_class = Some(one_of("--storage-class", c, classes, store)?);
    }
    if let Some(a) = &p.acl {
        out.acl = Some(one_of("--acl", a, acls, store)?);
    }
    if let Some(e) = &p.sse {
        out.sse = Some(one_of("--sse", e, sses, store)?);
    }
    let kms = out
        .sse
        .as_deref()
        .is_some_and(|e| e == "KMS" || e.starts_with("aws:kms"));
    if out.sse_kms_key_id.is_some() && !kms {
        return Err(format!(
            "--sse-kms-key-id names a KMS key, for --sse {}; give that --sse too",
            if s3 { "aws:kms" } else { "KMS" }
        ));
    }
    Ok(out)
}

/// A metadata name: letters, digits, `-` and `_`, in lower case (as both
/// stores keep them).
fn meta_name(name: &str) -> Result<String, String> {
    let n = name.trim();
    if n.is_empty()
        || !n
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(format!(
            "--meta {n:?}: a metadata name has letters, digits, '-' and '_' only, as in \
             --meta owner=ops"
        ));
    }
    Ok(n.to_ascii_lowercase())
}

/// One `--meta KEY=VALUE`.
pub fn parse_meta(item: &str) -> Result<(String, String), String> {
    let Some((name, value)) = item.split_once('=') else {
        return Err(format!(
            "--meta {item:?} needs the form KEY=VALUE, as in --meta owner=ops"
        ));
    };
    let name = meta_name(name)?;
    let value = header_value(&format!("--meta {name}"), value)?;
    Ok((name, value))
}

/// Whether `target` names an S3 bucket (`s3://BUCKET/KEY`).
pub fn is_s3(target: &str) -> bool {
    target.starts_with("s3://")
}

/// `--retries`: 0 to [`MAX_RETRIES`].
pub fn check_retries(n: u32) -> Result<(), String> {
    in_range(
        "--retries",
        n.into(),
        0,
        MAX_RETRIES.into(),
        "retries of one part; --part-timeout bounds them in time",
    )
}

/// `--part-timeout`: 1 s to a day.
pub fn check_part_timeout(secs: u32) -> Result<(), String> {
    check_seconds(
        "--part-timeout",
        secs.into(),
        "seconds one part may take over all its attempts",
    )
}

/// `--part-timeout`, `--instance-timeout`: 1 s to a day.
pub fn check_seconds(flag: &str, secs: u64, what: &str) -> Result<(), String> {
    in_range(flag, secs, 1, MAX_TIMEOUT_SECS, what)
}

/// `--signature`: `v1` or `v4`, in either case; returns it in lower case.
pub fn check_signature(version: &str) -> Result<String, String> {
    let v = version.trim().to_ascii_lowercase();
    match v.as_str() {
        "v1" | "v4" => Ok(v),
        _ => Err(format!(
            "--signature {version:?} is not a signature version: give v4 (the default) or v1 \
             (older OSS accounts)"
        )),
    }
}

/// `--part-size`: a size as people write it (`6MiB`, `64M`, `1.5GiB`,
/// `1048576`; every unit a power of 1024, as storage tools mean it) within
/// what the store accepts ([`crate::min_part_size`] to
/// [`crate::MAX_PART_SIZE`]). Returns the bytes.
pub fn check_part_size(size: &str, s3: bool) -> Result<u64, String> {
    let range = format!(
        "give {} to 5GiB{}",
        if s3 { "5MiB" } else { "100KiB" },
        if s3 {
            ""
        } else {
            " (for s3:// targets 5MiB to 5GiB)"
        }
    );
    let bytes = parse_size(size).ok_or_else(|| {
        format!(
            "--part-size {size:?} is not a size: write it like 6MiB, 64M or 1048576, and {range}"
        )
    })?;
    if !(crate::min_part_size(s3)..=crate::MAX_PART_SIZE).contains(&bytes) {
        return Err(format!("--part-size {size} is out of range: {range}"));
    }
    Ok(bytes)
}

/// Bytes from `6MiB`, `64M`, `64mb`, `1.5GiB`, `1048576`: `None` when it
/// is not a size or does not fit in 64 bits.
pub fn parse_size(s: &str) -> Option<u64> {
    let s = s.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (number, unit) = s.split_at(split);
    let unit = unit.trim().to_ascii_lowercase();
    let unit = unit.strip_suffix('b').unwrap_or(&unit);
    let unit = unit.strip_suffix('i').unwrap_or(unit);
    let power = match unit {
        "" => 0,
        "k" => 1,
        "m" => 2,
        "g" => 3,
        "t" => 4,
        "p" => 5,
        "e" => 6,
        _ => return None,
    };
    let scale = 1024u128.pow(power);
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    if whole.is_empty() && fraction.is_empty() {
        return None;
    }
    let whole: u128 = if whole.is_empty() {
        0
    } else {
        whole.parse().ok()?
    };
    let mut bytes = whole.checked_mul(scale)?;
    if !fraction.is_empty() {
        let digits = fraction.len().min(18) as u32;
        let f: u128 = fraction[..digits as usize].parse().ok()?;
        bytes = bytes.checked_add(f * scale / 10u128.pow(digits))?;
    }
    u64::try_from(bytes).ok()
}

/// `FLAG VALUE is out of range: give MIN to MAX (WHAT)` unless it is in it.
pub fn in_range(flag: &str, value: u64, min: u64, max: u64, what: &str) -> Result<(), String> {
    if (min..=max).contains(&value) {
        Ok(())
    } else {
        Err(format!(
            "{flag} {value} is out of range: give {min} to {max} ({what})"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        job: JobArgs,
    }

    fn job(argv: &[&str]) -> JobArgs {
        Cli::try_parse_from([&["ferry", "http://h/x"], argv].concat())
            .unwrap()
            .job
    }

    #[test]
    fn job_flags_parse_with_their_defaults_and_ranges() {
        let j = job(&["oss://b/k"]);
        assert_eq!((j.retries, j.part_timeout), (4, 900));
        assert!(j.check().is_ok());
        let j = job(&["s3://b/k", "--part-size", "1MiB"]);
        assert_eq!(
            j.check().unwrap_err(),
            "--part-size 1MiB is out of range: give 5MiB to 5GiB"
        );
        assert!(job(&["oss://b/k", "--part-size", "1MiB"]).check().is_ok());
        assert!(job(&["oss://b/k", "--signature", "v2"])
            .check()
            .unwrap_err()
            .starts_with("--signature \"v2\""));
        assert!(job(&["oss://b/k", "--retries", "101"])
            .check()
            .unwrap_err()
            .starts_with("--retries 101 is out of range: give 0 to 100"));
        assert!(job(&["oss://b/k", "--part-timeout", "0"])
            .check()
            .unwrap_err()
            .starts_with("--part-timeout 0"));
        assert_eq!(job(&["oss://b/k", "--resume"]).resume.as_deref(), Some(""));
    }

    #[test]
    fn source_headers_are_parsed_and_refused_without_their_values() {
        let j = job(&[
            "oss://b/k",
            "--header",
            "Cookie: a=1",
            "--header",
            "Referer:x",
        ]);
        assert_eq!(
            j.source_headers().unwrap(),
            [
                ("Cookie".into(), "a=1".into()),
                ("Referer".into(), "x".into())
            ]
        );
        for bad in [
            "nocolon s3cret",
            ": s3cret",
            "Bad Name: s3cret",
            "Cookie: s3cret\r\nX: 1",
            "HOST: s3cret",
            "If-Match: s3cret",
        ] {
            let e = source_headers(&[bad.into()], "http://h/x").unwrap_err();
            assert!(e.starts_with("--header") && !e.contains("s3cret"), "{e}");
        }
        let auth = ["Authorization: Bearer s3cret".to_string()];
        assert!(source_headers(&auth, "http://h/x").is_ok());
        let e = source_headers(&auth, "http://u:p@h/x").unwrap_err();
        assert!(e.contains("user:pass@") && !e.contains("s3cret"), "{e}");
    }

    #[test]
    fn object_properties_are_checked_for_their_store() {
        let p = job(&[
            "oss://b/k",
            "--storage-class",
            "ia",
            "--acl",
            "PUBLIC-READ",
            "--sse",
            "kms",
            "--sse-kms-key-id",
            "k1",
            "--meta",
            "Owner=ops",
        ])
        .properties()
        .unwrap();
        assert_eq!(p.storage_class.as_deref(), Some("IA"));
        assert_eq!(p.acl.as_deref(), Some("public-read"));
        assert_eq!(p.sse.as_deref(), Some("KMS"));
        assert_eq!(p.meta, [("owner".to_string(), "ops".to_string())]);
        let s3 = job(&[
            "s3://b/k",
            "--sse",
            "AWS:KMS",
            "--storage-class",
            "standard_ia",
        ])
        .properties()
        .unwrap();
        assert_eq!(s3.sse.as_deref(), Some("aws:kms"));
        assert_eq!(s3.storage_class.as_deref(), Some("STANDARD_IA"));
        for (target, flag, value, starts) in [
            (
                "oss://b/k",
                "--storage-class",
                "GLACIER",
                "--storage-class \"GLACIER\" is not one OSS takes: give Standard, IA",
            ),
            (
                "s3://b/k",
                "--storage-class",
                "IA",
                "--storage-class \"IA\" is not one S3 takes",
            ),
            ("oss://b/k", "--acl", "bucket-owner-read", "--acl"),
            (
                "s3://b/k",
                "--sse",
                "SM4",
                "--sse \"SM4\" is not one S3 takes",
            ),
            (
                "oss://b/k",
                "--meta",
                "novalue",
                "--meta \"novalue\" needs the form KEY=VALUE",
            ),
            ("oss://b/k", "--meta", "a b=c", "--meta"),
            (
                "oss://b/k",
                "--content-type",
                "text/plain\r\nX: y",
                "--content-type has a character",
            ),
        ] {
            let e = job(&[target, flag, value]).check().unwrap_err();
            assert!(e.starts_with(starts), "{flag} {value}: {e}");
        }
        let e = job(&["oss://b/k", "--sse", "AES256", "--sse-kms-key-id", "k"])
            .check()
            .unwrap_err();
        assert!(e.starts_with("--sse-kms-key-id"), "{e}");
    }

    #[test]
    fn sizes_parse_as_storage_tools_write_them() {
        assert_eq!(parse_size("6MiB"), Some(6 << 20));
        assert_eq!(parse_size("64M"), Some(64 << 20));
        assert_eq!(parse_size("64mb"), Some(64 << 20));
        assert_eq!(parse_size(" 100 KiB "), Some(100 << 10));
        assert_eq!(parse_size("1.5GiB"), Some(3 << 29));
        assert_eq!(parse_size("1048576"), Some(1 << 20));
        assert_eq!(parse_size("15EiB"), Some(15 << 60));
        for bad in ["16EiB", "99999999999999999999999", "lots", "", "6XB", "."] {
            assert_eq!(parse_size(bad), None, "{bad}");
        }
    }
}
