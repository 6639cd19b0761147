//! The rules the component and the native host both apply, in one place:
//! what a failure kind answers over HTTP and exits with, which environment
//! variables hold a store's credentials, what a bucket name and an object
//! key may be, the sizes a part may have, and how a URL is shown without its
//! secrets. Pure functions of their arguments, so both sides compile
//! them: the component for `wasm32-wasip2`, the host natively.
//!
//! A failure kind is named here as the WIT names it (`invalid-input`,
//! `source`, `store`, `integrity`, `exhausted`, `internal`), plus the
//! serving host's own `stopping`.
//!
//! [`job`] defines the job's flags, which both command lines flatten in;
//! a new job flag goes there.

pub mod job;

/// What ferry's host offers the component beyond WASI, and how the two
/// name it: the variables the host sets in every instance, and the headers
/// of the CRC-64s it computes for a part body it writes.
pub mod host {
    /// `1`: the host's `wasi:io` splice moves a body between streams inside
    /// the host (other runtimes' may not work across HTTP bodies: jco's
    /// does not).
    pub const SPLICE_VAR: &str = "FERRY_SPLICE";
    /// `1`: the host answers a part body's CRC-64s when asked ([`ASK`]).
    pub const BODY_CRC_VAR: &str = "FERRY_HOST_CRC";
    /// What ferry's host sets in every instance it makes.
    pub const VARS: [(&str, &str); 2] = [(SPLICE_VAR, "1"), (BODY_CRC_VAR, "1")];
    /// The request header that asks for the body's CRC-64s (`crc64`,
    /// `crc64nvme` or both, comma-separated); the host never sends it on.
    pub const ASK: &str = "x-ferry-body-crc";
    /// The response header with the body's CRC-64/XZ (decimal).
    pub const XZ: &str = "x-ferry-body-crc64";
    /// The response header with the body's CRC-64/NVME (decimal).
    pub const NVME: &str = "x-ferry-body-crc64nvme";
    /// The response header with the number of bytes hashed.
    pub const BYTES: &str = "x-ferry-body-bytes";
}

/// The HTTP status a failure of `kind` is answered with: 400 the job was
/// wrong; 502 the source or the store refused, or a CRC disagreed; 503 a
/// transient failure outlasted its retries, or the server is stopping; 500
/// otherwise.
pub fn http_status(kind: &str) -> u16 {
    match kind {
        "invalid-input" => 400,
        "conflict" => 409,
        "source" | "store" | "integrity" => 502,
        "exhausted" | "stopping" => 503,
        _ => 500,
    }
}

/// Every failure kind a command exits with: its exit code and what it
/// means, for people (`ferry --help` prints them). 0 is success and 130 an
/// interruption, which are no failure kinds.
pub const EXIT_CODES: [(&str, u8, &str); 7] = [
    (
        "invalid-input",
        2,
        "bad input: an option out of its range, a source that is not a URL (checked before anything runs)",
    ),
    ("source", 3, "the source failed or refused"),
    ("store", 4, "the store refused (credentials, bucket, policy)"),
    ("integrity", 5, "a CRC-64 disagreed"),
    ("exhausted", 6, "a transient failure outlasted its retries"),
    (
        "conflict",
        7,
        "the target exists and --no-clobber said not to replace it",
    ),
    ("internal", 70, "an internal error"),
];

/// The fields of a report's JSON that hold a CRC-64. They are written as
/// decimal strings, as OSS sends `x-oss-hash-crc64ecma`: as JSON numbers,
/// values past 2^53 lose digits in JavaScript and jq. `crc64nvme` is S3's
/// full-object CRC-64/NVME, also decimal (S3 writes the same eight bytes,
/// big-endian, in base64).
pub const CRC64_JSON_FIELDS: [&str; 4] = ["crc64", "store_crc64", "source_crc64", "crc64nvme"];

/// The exit code of a command that failed with `kind` ([`EXIT_CODES`];
/// 70 for a kind not there).
pub fn exit_code(kind: &str) -> u8 {
    EXIT_CODES
        .iter()
        .find(|(k, _, _)| *k == kind)
        .map_or(70, |&(_, code, _)| code)
}

/// Why `bucket` is not a bucket name, if it is not: 3 to 63 characters of
/// a-z, 0-9 and `-` (and, for S3, `.`, never two in a row), starting and
/// ending with a letter or digit.
pub fn bucket_problem(s3: bool, bucket: &str) -> Option<String> {
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    let ok = (3..=63).contains(&bucket.len())
        && bucket
            .bytes()
            .all(|b| alnum(b) || b == b'-' || (s3 && b == b'.'))
        && bucket.bytes().next().is_some_and(alnum)
        && bucket.bytes().last().is_some_and(alnum)
        && !bucket.contains("..");
    match (ok, s3) {
        (true, _) => None,
        (false, true) => Some(format!(
            "bucket name {bucket:?} is not valid: S3 bucket names have 3 to 63 characters \
             of a-z, 0-9, '.' and '-', and start and end with a letter or digit"
        )),
        (false, false) => Some(format!(
            "bucket name {bucket:?} is not valid: OSS bucket names have 3 to 63 characters \
             of a-z, 0-9 and '-', and do not start or end with '-'"
        )),
    }
}

/// Why `key` is not an object key, if it is not: 1 to 1023 bytes, not
/// starting with `/` or `\`. Keys are otherwise opaque: `a/../b` is one.
pub fn key_problem(key: &str) -> Option<String> {
    if key.is_empty() {
        Some("the target has no object key; write it as oss://BUCKET/KEY or s3://BUCKET/KEY".into())
    } else if key.len() > 1023 || key.starts_with('/') || key.starts_with('\\') {
        Some(format!(
            "object key {key:?} is not valid: keys have 1 to 1023 bytes and do not start \
             with '/' or '\\'"
        ))
    } else {
        None
    }
}

/// An access key for a store, with its STS or session token when the key
/// is temporary. Its `Debug` never shows a secret.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub access_key_id: String,
    pub access_key_secret: String,
    pub security_token: Option<String>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Credentials(<redacted>)")
    }
}

impl Credentials {
    /// `OSS_ACCESS_KEY_ID`, `OSS_ACCESS_KEY_SECRET`, `OSS_SESSION_TOKEN`
    /// (also `OSS_SECURITY_TOKEN`) from this process's environment.
    pub fn from_env() -> Option<Credentials> {
        credentials_from_env(false)
    }

    /// `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`
    /// from this process's environment.
    pub fn from_aws_env() -> Option<Credentials> {
        credentials_from_env(true)
    }
}

/// The variables a store's own tools read its credentials from: the key
/// id, the secret and the session token (then the token's other names).
pub struct CredentialVars {
    pub id: &'static str,
    pub secret: &'static str,
    pub token: &'static [&'static str],
}

/// OSS: `OSS_ACCESS_KEY_ID`, `OSS_ACCESS_KEY_SECRET`, `OSS_SESSION_TOKEN`
/// (also `OSS_SECURITY_TOKEN`). S3: `AWS_ACCESS_KEY_ID`,
/// `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`.
pub fn credential_vars(s3: bool) -> CredentialVars {
    if s3 {
        CredentialVars {
            id: "AWS_ACCESS_KEY_ID",
            secret: "AWS_SECRET_ACCESS_KEY",
            token: &["AWS_SESSION_TOKEN"],
        }
    } else {
        CredentialVars {
            id: "OSS_ACCESS_KEY_ID",
            secret: "OSS_ACCESS_KEY_SECRET",
            token: &["OSS_SESSION_TOKEN", "OSS_SECURITY_TOKEN"],
        }
    }
}

/// A store's credentials from `get` (the environment, or a runner's
/// variables); `None` without an id and a secret. Empty values are unset.
pub fn credentials_from(s3: bool, get: impl Fn(&str) -> Option<String>) -> Option<Credentials> {
    let vars = credential_vars(s3);
    let get = |name: &str| get(name).filter(|v| !v.is_empty());
    Some(Credentials {
        access_key_id: get(vars.id)?,
        access_key_secret: get(vars.secret)?,
        security_token: vars.token.iter().find_map(|name| get(name)),
    })
}

/// A store's credentials from this process's environment.
pub fn credentials_from_env(s3: bool) -> Option<Credentials> {
    credentials_from(s3, |name| std::env::var(name).ok())
}

/// What to do when a store's credentials are missing.
pub fn missing_credentials(s3: bool) -> &'static str {
    if s3 {
        "no S3 credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY \
         (and AWS_SESSION_TOKEN for temporary credentials)"
    } else {
        "no OSS credentials: set OSS_ACCESS_KEY_ID and OSS_ACCESS_KEY_SECRET \
         (and OSS_SESSION_TOKEN for an STS key)"
    }
}

/// The smallest part OSS accepts (all but the last part of an upload).
pub const MIN_PART_SIZE_OSS: u64 = 100 << 10;
/// The smallest part S3 accepts (all but the last part of an upload).
pub const MIN_PART_SIZE_S3: u64 = 5 << 20;
/// The largest part either store accepts.
pub const MAX_PART_SIZE: u64 = 5 << 30;

/// The smallest part the store takes (all but the last): OSS 100 KiB,
/// S3 5 MiB.
pub fn min_part_size(s3: bool) -> u64 {
    if s3 {
        MIN_PART_SIZE_S3
    } else {
        MIN_PART_SIZE_OSS
    }
}

/// A URL for people, as it was typed but without what may be secret: its
/// `user:pass@` is left out and its query (which may hold a signature or a
/// token) is shown as `…`. It works on any text, so a URL that cannot be
/// parsed is still shown as the user wrote it.
pub fn redact(url: &str) -> String {
    let end = url.find(['?', '#']).unwrap_or(url.len());
    let (head, rest) = url.split_at(end);
    // `scheme:` then any slashes (URL parsers take `https:/h` and
    // `https:\\h` too), then the authority up to the next separator.
    let scheme_end = head
        .find(':')
        .filter(|&i| {
            let scheme = &head[..i];
            scheme.starts_with(|c: char| c.is_ascii_alphabetic())
                && scheme
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
        })
        .map_or(0, |i| i + 1);
    let after = &head[scheme_end..];
    let authority_start = scheme_end + (after.len() - after.trim_start_matches(['/', '\\']).len());
    let authority_end = head[authority_start..]
        .find(['/', '\\'])
        .map_or(head.len(), |i| authority_start + i);
    let head = match head[authority_start..authority_end].rfind('@') {
        Some(at) => format!(
            "{}{}",
            &head[..authority_start],
            &head[authority_start + at + 1..]
        ),
        None => head.to_string(),
    };
    if rest.starts_with('?') {
        format!("{head}?…")
    } else {
        head
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redaction_drops_query_and_userinfo() {
        assert_eq!(
            redact("https://u:p@h.example/x?Signature=abc"),
            "https://h.example/x?…"
        );
        // A key with dot segments is shown as it is, not resolved.
        assert_eq!(redact("http://h/a/../b#frag"), "http://h/a/../b");
        // What cannot be parsed is still shown as typed, less the secrets.
        assert_eq!(redact("http://u:p@/x y?tok=1"), "http:///x y?…");
        assert_eq!(redact("./big.iso"), "./big.iso");
        assert_eq!(redact("ftp://user@h/a@b"), "ftp://h/a@b");
        // However many slashes: a URL parser still finds the user there.
        assert_eq!(
            redact("https:/.u:p@h.example:8443/x?t=1"),
            "https:/h.example:8443/x?…"
        );
        assert_eq!(redact("https:\\\\u:p@h/x"), "https:\\\\h/x");
        assert_eq!(redact("https:/u:pw@h:99999/x"), "https:/h:99999/x");
        assert_eq!(redact("example.com/big.iso"), "example.com/big.iso");
    }

    #[test]
    fn buckets_and_keys() {
        assert_eq!(bucket_problem(false, "b-1x"), None);
        assert!(bucket_problem(false, "a.b.c").is_some());
        assert_eq!(bucket_problem(true, "logs.example.com"), None);
        assert!(bucket_problem(true, "a..b").is_some());
        assert!(bucket_problem(true, "-ab").is_some());
        assert!(bucket_problem(false, "Bkt").is_some());
        assert_eq!(key_problem("a/../b"), None);
        assert!(key_problem("/k").is_some());
        assert!(key_problem("").is_some());
        assert!(key_problem(&"k".repeat(1024)).is_some());
    }

    #[test]
    fn kinds_answer_and_exit() {
        assert_eq!(http_status("invalid-input"), 400);
        assert_eq!(http_status("store"), 502);
        assert_eq!(http_status("stopping"), 503);
        assert_eq!(http_status("internal"), 500);
        assert_eq!(exit_code("invalid-input"), 2);
        assert_eq!(exit_code("exhausted"), 6);
        assert_eq!(exit_code("internal"), 70);
    }

    #[test]
    fn credentials_need_an_id_and_a_secret() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                pairs
                    .iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| v.to_string())
            }
        };
        let oss = credentials_from(
            false,
            env(&[
                ("OSS_ACCESS_KEY_ID", "id"),
                ("OSS_ACCESS_KEY_SECRET", "s"),
                ("OSS_SECURITY_TOKEN", "t"),
            ]),
        )
        .unwrap();
        assert_eq!(oss.security_token.as_deref(), Some("t"));
        assert!(credentials_from(true, env(&[("AWS_ACCESS_KEY_ID", "id")])).is_none());
        assert!(credentials_from(
            false,
            env(&[("OSS_ACCESS_KEY_ID", "id"), ("OSS_ACCESS_KEY_SECRET", "")])
        )
        .is_none());
        assert_eq!(format!("{oss:?}"), "Credentials(<redacted>)");
    }

    #[test]
    fn part_sizes_are_the_stores_own() {
        assert_eq!(min_part_size(false), 100 << 10);
        assert_eq!(min_part_size(true), 5 << 20);
        assert_eq!(MAX_PART_SIZE, 5 << 30);
    }
}
