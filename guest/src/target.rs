//! Where an object goes: `oss://bucket/key` targets and OSS endpoints.

use crate::error::{Error, Result};
use url::Url;

/// A bucket and an object key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub bucket: String,
    pub key: String,
}

/// Parses `oss://BUCKET/KEY`.
pub fn parse(s: &str) -> Result<Target> {
    let rest = s.strip_prefix("oss://").ok_or_else(|| {
        Error::invalid(format!(
            "target {s:?} is not an OSS location; write it as oss://BUCKET/KEY"
        ))
    })?;
    let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
    check_bucket(bucket)?;
    check_key(key)?;
    Ok(Target {
        bucket: bucket.to_string(),
        key: key.to_string(),
    })
}

/// OSS bucket names: 3 to 63 characters of a-z, 0-9 and `-`, not starting
/// or ending with `-`.
pub fn check_bucket(bucket: &str) -> Result<()> {
    let ok = (3..=63).contains(&bucket.len())
        && bucket
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !bucket.starts_with('-')
        && !bucket.ends_with('-');
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(format!(
            "bucket name {bucket:?} is not valid: OSS bucket names have 3 to 63 characters \
             of a-z, 0-9 and '-', and do not start or end with '-'"
        )))
    }
}

/// OSS object keys: 1 to 1023 bytes of UTF-8, not starting with `/` or `\`.
pub fn check_key(key: &str) -> Result<()> {
    if key.is_empty() {
        return Err(Error::invalid(
            "the target has no object key; write it as oss://BUCKET/KEY",
        ));
    }
    if key.len() > 1023 || key.starts_with('/') || key.starts_with('\\') {
        return Err(Error::invalid(format!(
            "object key {key:?} is not valid: keys have 1 to 1023 bytes and do not start \
             with '/' or '\\'"
        )));
    }
    Ok(())
}

/// The public endpoint of a region: `https://oss-<region>.aliyuncs.com`.
pub fn default_endpoint(region: &str) -> String {
    format!("https://oss-{region}.aliyuncs.com")
}

/// The region named by an Alibaba endpoint host (`oss-cn-hangzhou[-internal].aliyuncs.com`).
pub fn region_of_endpoint(endpoint: &Url) -> Option<String> {
    let host = endpoint.host_str()?;
    let label = host.strip_suffix(".aliyuncs.com")?.rsplit('.').next()?;
    let region = label.strip_prefix("oss-")?;
    Some(
        region
            .strip_suffix("-internal")
            .unwrap_or(region)
            .to_string(),
    )
}

/// Whether requests to this endpoint name the bucket in the path (IP
/// addresses and `localhost`) rather than in the host name.
pub fn path_style(endpoint: &Url) -> bool {
    match endpoint.host() {
        Some(url::Host::Ipv4(_)) | Some(url::Host::Ipv6(_)) => true,
        Some(url::Host::Domain(d)) => d == "localhost",
        None => false,
    }
}

/// A URL for people: scheme, host and path, never the query (which may hold
/// a signature or a token).
pub fn redact(url: &str) -> String {
    match Url::parse(url) {
        Ok(mut u) => {
            let _ = u.set_password(None);
            let _ = u.set_username("");
            if u.query().is_some() {
                u.set_query(None);
                format!("{u}?…")
            } else {
                u.to_string()
            }
        }
        Err(_) => "<unparsable URL>".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_targets() {
        assert_eq!(
            parse("oss://my-bucket/a/b.iso").unwrap(),
            Target {
                bucket: "my-bucket".into(),
                key: "a/b.iso".into()
            }
        );
        assert!(parse("s3://b/k").is_err());
        assert!(parse("oss://b/k").is_err());
        assert!(parse("oss://Bucket/k").is_err());
        assert!(parse("oss://bucket").is_err());
        assert!(parse("oss://bucket//k").is_err());
    }

    #[test]
    fn regions_from_endpoints() {
        let r = |s: &str| region_of_endpoint(&Url::parse(s).unwrap());
        assert_eq!(
            r("https://oss-cn-hangzhou.aliyuncs.com").as_deref(),
            Some("cn-hangzhou")
        );
        assert_eq!(
            r("http://oss-cn-beijing-internal.aliyuncs.com").as_deref(),
            Some("cn-beijing")
        );
        assert_eq!(r("http://127.0.0.1:9000"), None);
    }

    #[test]
    fn path_style_for_ip_and_localhost() {
        let p = |s: &str| path_style(&Url::parse(s).unwrap());
        assert!(p("http://127.0.0.1:1234"));
        assert!(p("http://[::1]:1234"));
        assert!(p("http://localhost:1234"));
        assert!(!p("https://oss-cn-hangzhou.aliyuncs.com"));
    }

    #[test]
    fn redaction_drops_query_and_userinfo() {
        assert_eq!(
            redact("https://u:p@h.example/x?Signature=abc"),
            "https://h.example/x?…"
        );
    }
}
