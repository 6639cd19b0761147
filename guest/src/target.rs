//! Where an object goes: `oss://bucket/key` and `s3://bucket/key` targets,
//! the stores' default endpoints, and how a request names the bucket.

use crate::error::{Error, Result};
use crate::{Addressing, EndpointKind, Job, ObjectProperties, Resolved, StoreKind};
use ferry_rules::job::Properties;
use percent_encoding::percent_decode_str;
use url::Url;

/// A store, a bucket and an object key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub store: StoreKind,
    pub bucket: String,
    pub key: String,
}

/// Parses `oss://BUCKET/KEY` or `s3://BUCKET/KEY`.
pub fn parse(s: &str) -> Result<Target> {
    let (store, rest) = if let Some(rest) = s.strip_prefix("oss://") {
        (StoreKind::Oss, rest)
    } else if let Some(rest) = s.strip_prefix("s3://") {
        (StoreKind::S3, rest)
    } else {
        return Err(Error::invalid(format!(
            "target {s:?} is not a store location; write it as oss://BUCKET/KEY or s3://BUCKET/KEY"
        )));
    };
    let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
    check_bucket(store, bucket)?;
    check_key(key)?;
    Ok(Target {
        store,
        bucket: bucket.to_string(),
        key: key.to_string(),
    })
}

/// Parses a target as users write it: `oss://BUCKET/KEY`, or a folder
/// (`oss://BUCKET/DIR/`, `oss://BUCKET/`, `oss://BUCKET`), whose key the
/// source's file name completes ([`is_folder`], [`named`]).
pub fn parse_target(s: &str) -> Result<Target> {
    let scheme_and_bucket = s.split_once("://").map_or(s.len(), |(scheme, rest)| {
        scheme.len() + 3 + rest.find('/').unwrap_or(rest.len())
    });
    let (bare, key) = s.split_at(scheme_and_bucket);
    let key = key.strip_prefix('/').unwrap_or(key);
    if key.is_empty() || key.ends_with('/') {
        // Checked as a whole key would be, with a name in place.
        let mut t = parse(&format!("{bare}/{key}name"))?;
        t.key = key.to_string();
        return Ok(t);
    }
    parse(s)
}

/// Whether a key names a folder (it ends in `/`, or the target was the
/// bucket alone): the object takes the source's file name in it.
pub fn is_folder(key: &str) -> bool {
    key.is_empty() || key.ends_with('/')
}

/// The source's file name: Content-Disposition's (RFC 6266: `filename*`
/// first, then `filename`), else the last segment of the URL's path,
/// percent-decoded. Only its last path segment, and never `.` or `..`;
/// `None` when neither gives a name.
pub fn file_name(disposition: Option<&str>, url: &str) -> Option<String> {
    disposition
        .and_then(disposition_name)
        .and_then(|n| clean_name(&n))
        .or_else(|| {
            let path = url.split(['?', '#']).next()?;
            let path = path.split_once("://").map_or(path, |(_, rest)| rest);
            let (_, path) = path.split_once('/')?;
            let last = path.rsplit('/').next()?;
            clean_name(&percent_decode_str(last).decode_utf8_lossy())
        })
}

/// The name a Content-Disposition gives: `filename*=UTF-8''…` (RFC 8187;
/// ISO-8859-1 too) over `filename="…"` or `filename=token`.
fn disposition_name(value: &str) -> Option<String> {
    let mut plain = None;
    let mut extended = None;
    for param in split_params(value).into_iter().skip(1) {
        let Some((name, v)) = param.split_once('=') else {
            continue;
        };
        let v = v.trim();
        match name.trim().to_ascii_lowercase().as_str() {
            "filename*" => {
                let mut it = v.splitn(3, '\'');
                let (charset, _lang, encoded) = (it.next()?, it.next()?, it.next()?);
                let bytes: Vec<u8> = percent_decode_str(encoded).collect();
                extended = if charset.eq_ignore_ascii_case("utf-8") {
                    String::from_utf8(bytes).ok()
                } else if charset.eq_ignore_ascii_case("iso-8859-1") {
                    Some(bytes.iter().map(|&b| b as char).collect())
                } else {
                    None
                };
            }
            "filename" => {
                plain = Some(
                    match v.strip_prefix('"').and_then(|q| q.strip_suffix('"')) {
                        Some(quoted) => quoted.replace("\\\"", "\"").replace("\\\\", "\\"),
                        None => v.to_string(),
                    },
                );
            }
            _ => {}
        }
    }
    extended.or(plain)
}

/// A header's `;`-separated parts, `;` inside quotes kept.
fn split_params(value: &str) -> Vec<String> {
    let (mut parts, mut current, mut quoted, mut escaped) =
        (Vec::new(), String::new(), false, false);
    for c in value.chars() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            ';' if !quoted => {
                parts.push(std::mem::take(&mut current));
                continue;
            }
            _ => {}
        }
        current.push(c);
    }
    parts.push(current);
    parts
}

/// A file name as a key's last segment: what follows its last `/` or `\`,
/// trimmed; none when empty, `.`, `..` or holding a control character.
pub fn clean_name(name: &str) -> Option<String> {
    let last = name.rsplit(['/', '\\']).next()?.trim();
    (!last.is_empty() && last != "." && last != ".." && !last.chars().any(char::is_control))
        .then(|| last.to_string())
}

/// `job` with its folder key completed by the source's file name `name`
/// ([`file_name`] of the source at `url`); a job whose key is whole is
/// returned as it is. Refused (bad input) when the source gives no name.
pub fn named(mut job: Job, name: Option<String>, url: &str) -> Result<Job> {
    if !is_folder(&job.target_object_name) {
        return Ok(job);
    }
    let store = job.target_store.unwrap_or(StoreKind::Oss);
    let folder = format!(
        "{}://{}/{}",
        scheme(store),
        job.target_bucket_name,
        job.target_object_name
    );
    let Some(name) = name else {
        return Err(Error::invalid(format!(
            "the target {folder} is a folder and the source {} gives no file name to put in \
             it; name the object: {folder}KEY",
            redact(url)
        )));
    };
    job.target_object_name.push_str(&name);
    check_key(&job.target_object_name)?;
    Ok(job)
}

/// `oss` or `s3`, as targets are written.
pub fn scheme(store: StoreKind) -> &'static str {
    match store {
        StoreKind::Oss => "oss",
        StoreKind::S3 => "s3",
    }
}

/// The job's object properties, checked for its store
/// ([`ferry_rules::job::check_properties`]) and spelt as the store spells
/// them.
pub fn check_properties(job: &mut Job) -> Result<()> {
    let Some(p) = job.properties.take() else {
        return Ok(());
    };
    let s3 = job.target_store == Some(StoreKind::S3);
    let checked = ferry_rules::job::check_properties(s3, &to_rules(&p)).map_err(Error::invalid)?;
    job.properties = Some(from_rules(checked));
    Ok(())
}

fn to_rules(p: &ObjectProperties) -> Properties {
    Properties {
        content_type: p.content_type.clone(),
        content_disposition: p.content_disposition.clone(),
        content_encoding: p.content_encoding.clone(),
        cache_control: p.cache_control.clone(),
        meta: p.meta.clone().unwrap_or_default(),
        storage_class: p.storage_class.clone(),
        acl: p.acl.clone(),
        sse: p.sse.clone(),
        sse_kms_key_id: p.sse_kms_key_id.clone(),
    }
}

/// The WIT form of checked properties.
pub fn from_rules(p: Properties) -> ObjectProperties {
    ObjectProperties {
        content_type: p.content_type,
        content_disposition: p.content_disposition,
        content_encoding: p.content_encoding,
        cache_control: p.cache_control,
        meta: Some(p.meta).filter(|m| !m.is_empty()),
        storage_class: p.storage_class,
        acl: p.acl,
        sse: p.sse,
        sse_kms_key_id: p.sse_kms_key_id,
    }
}

/// `job`'s properties with what it leaves out taken from the source's
/// (its Content-Type, Content-Disposition, Content-Encoding and
/// Cache-Control).
pub fn with_source_properties(mut job: Job, source: &ObjectProperties) -> Job {
    let mut p = job.properties.take().unwrap_or_default();
    let fill = |mine: &mut Option<String>, theirs: &Option<String>| {
        if mine.is_none() {
            *mine = theirs.clone();
        }
    };
    fill(&mut p.content_type, &source.content_type);
    fill(&mut p.content_disposition, &source.content_disposition);
    fill(&mut p.content_encoding, &source.content_encoding);
    fill(&mut p.cache_control, &source.cache_control);
    job.properties = Some(p).filter(|p| *p != ObjectProperties::default());
    job
}

/// Why a source is not one ferry reads, when it is a local file or stdin:
/// ferry reads http(s) URLs (and objects of the target's store).
fn local_source(source: &str) -> Option<String> {
    let s = source.trim();
    // A query may hold a signature: shown without it.
    let shown = redact(s);
    let serve = "to copy a local file, serve it over HTTP (for example run `python3 -m \
                 http.server 8000` in its folder) and give its URL, http://HOST:8000/NAME";
    if s == "-" {
        return Some(format!(
            "source \"-\" (standard input) cannot be copied: ferry reads http(s) URLs; {serve}"
        ));
    }
    let file = s
        .get(..7)
        .is_some_and(|p| p.eq_ignore_ascii_case("file://"));
    let path = ["/", "./", "../", "~", "\\"]
        .iter()
        .any(|p| s.starts_with(p));
    if file || path {
        return Some(format!(
            "source {shown:?} is a local file, which ferry does not read: it reads http(s) URLs; \
             {serve}"
        ));
    }
    (!s.contains("://") && Url::parse(s).is_err()).then(|| {
        format!(
            "source {shown:?} is not a URL: give the whole http:// or https:// URL, e.g. \
             https://mirror.example.com/big.iso; {serve}"
        )
    })
}

/// A bucket name of `store` ([`ferry_rules::bucket_problem`]).
pub fn check_bucket(store: StoreKind, bucket: &str) -> Result<()> {
    match ferry_rules::bucket_problem(store == StoreKind::S3, bucket) {
        Some(problem) => Err(Error::invalid(problem)),
        None => Ok(()),
    }
}

/// An object key ([`ferry_rules::key_problem`]).
pub fn check_key(key: &str) -> Result<()> {
    match ferry_rules::key_problem(key) {
        Some(problem) => Err(Error::invalid(problem)),
        None => Ok(()),
    }
}

/// A store's documented endpoint for a region:
/// - OSS: `https://oss-REGION.aliyuncs.com`, `https://oss-REGION-internal.aliyuncs.com`
///   (from inside the region), `https://oss-accelerate.aliyuncs.com`;
/// - S3: `https://s3.REGION.amazonaws.com`, `https://s3-accelerate.amazonaws.com`.
pub fn default_endpoint(store: StoreKind, region: &str, kind: EndpointKind) -> Result<String> {
    Ok(match (store, kind) {
        (StoreKind::Oss, EndpointKind::Public) => format!("https://oss-{region}.aliyuncs.com"),
        (StoreKind::Oss, EndpointKind::Internal) => {
            format!("https://oss-{region}-internal.aliyuncs.com")
        }
        (StoreKind::Oss, EndpointKind::Accelerate) => "https://oss-accelerate.aliyuncs.com".into(),
        (StoreKind::S3, EndpointKind::Public) => format!("https://s3.{region}.amazonaws.com"),
        (StoreKind::S3, EndpointKind::Accelerate) => "https://s3-accelerate.amazonaws.com".into(),
        (StoreKind::S3, EndpointKind::Internal) => {
            return Err(Error::invalid(
                "--internal names OSS's in-region endpoint; S3 has none (inside AWS, a VPC \
                 endpoint keeps traffic private without another name)",
            ))
        }
    })
}

/// The store's endpoint and region as given, else as the environment gives
/// them (the variables each store's own tools read), else (the region) as
/// the endpoint names it; for S3 `us-east-1` at last, as the AWS SDKs do.
pub fn endpoint_and_region(
    store: StoreKind,
    endpoint: Option<String>,
    region: Option<String>,
) -> Result<(Option<String>, String)> {
    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let endpoint = endpoint.or_else(|| match store {
        StoreKind::Oss => env("OSS_ENDPOINT"),
        StoreKind::S3 => env("AWS_ENDPOINT_URL_S3").or_else(|| env("AWS_ENDPOINT_URL")),
    });
    let from_endpoint = || {
        endpoint
            .as_deref()
            .and_then(|e| Url::parse(e).ok())
            .and_then(|u| region_of_endpoint(&u))
    };
    let region = region.filter(|r| !r.is_empty());
    let region = match store {
        StoreKind::Oss => region
            .or_else(|| env("OSS_REGION"))
            .or_else(from_endpoint)
            .ok_or_else(|| {
                Error::invalid("no region: pass --region (for example --region cn-hangzhou)")
            })?,
        StoreKind::S3 => region
            .or_else(|| env("AWS_REGION"))
            .or_else(|| env("AWS_DEFAULT_REGION"))
            .or_else(from_endpoint)
            .unwrap_or_else(|| "us-east-1".into()),
    };
    Ok((endpoint, region))
}

/// The endpoint a job writes to: its own, else the store's documented one
/// for its region and endpoint kind; an http(s) URL.
pub fn endpoint(job: &Job) -> Result<Url> {
    let kind = job.target_store.unwrap_or(StoreKind::Oss);
    if job.target_region.is_empty() {
        return Err(Error::invalid(
            "no region: name the bucket's region (for example --region cn-hangzhou)",
        ));
    }
    let endpoint = match &job.endpoint {
        Some(e) => e.clone(),
        None => default_endpoint(
            kind,
            &job.target_region,
            job.endpoint_kind.unwrap_or(EndpointKind::Public),
        )?,
    };
    Url::parse(&endpoint)
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
        .ok_or_else(|| {
            Error::invalid(format!(
                "endpoint {:?} is not an http(s) URL; write it like \
                 https://oss-cn-hangzhou.aliyuncs.com or https://s3.us-west-2.amazonaws.com",
                redact(&endpoint)
            ))
        })
}

/// A job made whole before it runs, as the command line and every runner
/// make it: the source checked, the bucket, key and store taken from
/// `target` when given, the endpoint and region from the environment when
/// the job leaves them out, the bucket and key checked, and the endpoint
/// the store will be reached at.
pub fn resolve(mut job: Job, target: Option<&str>) -> Result<Resolved> {
    if let Some(why) = local_source(&job.source_url) {
        return Err(Error::invalid(why));
    }
    if let Err(e) = Url::parse(job.source_url.trim()) {
        return Err(Error::invalid(format!(
            "source {:?} is not a URL ({e}): give the whole http:// or https:// URL, e.g. \
             https://mirror.example.com/big.iso",
            redact(&job.source_url)
        )));
    }
    if let Some(target) = target {
        let t = parse_target(target)?;
        job.target_store = Some(t.store);
        job.target_bucket_name = t.bucket;
        job.target_object_name = t.key;
    }
    let store = job.target_store.unwrap_or(StoreKind::Oss);
    (job.endpoint, job.target_region) = endpoint_and_region(
        store,
        job.endpoint.take(),
        Some(std::mem::take(&mut job.target_region)),
    )?;
    check_bucket(store, &job.target_bucket_name)?;
    if !is_folder(&job.target_object_name) {
        check_key(&job.target_object_name)?;
    }
    check_properties(&mut job)?;
    let endpoint = endpoint(&job)?.to_string();
    Ok(Resolved { endpoint, job })
}

/// The region named by a store's endpoint host: `oss-cn-hangzhou[-internal].aliyuncs.com`
/// or `s3.us-west-2.amazonaws.com` (also `s3-us-west-2`, `s3.dualstack.us-west-2`).
pub fn region_of_endpoint(endpoint: &Url) -> Option<String> {
    let host = endpoint.host_str()?;
    if let Some(rest) = host.strip_suffix(".aliyuncs.com") {
        let region = rest.rsplit('.').next()?.strip_prefix("oss-")?;
        let region = region.strip_suffix("-internal").unwrap_or(region);
        return (region != "accelerate").then(|| region.to_string());
    }
    let rest = host.strip_suffix(".amazonaws.com")?;
    let label = rest.rsplit('.').next()?;
    let region = label.strip_prefix("s3-").unwrap_or(label);
    (region != "s3" && region != "accelerate" && region.contains('-')).then(|| region.to_string())
}

/// How requests name the bucket: the job's choice, else path-style for IP
/// addresses and `localhost` (no DNS name to put the bucket in) and
/// virtual-hosted otherwise.
pub fn addressing(endpoint: &Url, asked: Option<Addressing>) -> Addressing {
    asked.unwrap_or(match endpoint.host() {
        Some(url::Host::Ipv4(_)) | Some(url::Host::Ipv6(_)) => Addressing::Path,
        Some(url::Host::Domain("localhost")) => Addressing::Path,
        _ => Addressing::VirtualHosted,
    })
}

/// A URL's `host[:port]` as sent in `Host` (the port only when it is not
/// the scheme's default).
pub fn authority(url: &Url) -> Option<String> {
    let host = url.host_str()?;
    Some(match url.port() {
        Some(p) => format!("{host}:{p}"),
        None => host.to_string(),
    })
}

pub use ferry_rules::redact;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_targets() {
        assert_eq!(
            parse("oss://my-bucket/a/b.iso").unwrap(),
            Target {
                store: StoreKind::Oss,
                bucket: "my-bucket".into(),
                key: "a/b.iso".into()
            }
        );
        assert_eq!(
            parse("s3://logs.example.com/k").unwrap().store,
            StoreKind::S3
        );
        assert!(parse("oss://logs.example.com/k").is_err());
        assert!(parse("gs://b/k").is_err());
        assert!(parse("oss://b/k").is_err());
        assert!(parse("oss://Bucket/k").is_err());
        assert!(parse("oss://bucket").is_err());
        assert!(parse("oss://bucket//k").is_err());
        assert!(parse("s3://-bucket/k").is_err());
        assert!(parse("s3://bucket./k").is_err());
        assert!(parse("s3://a..b/k").is_err());
    }

    #[test]
    fn folder_targets_parse_with_the_key_to_complete() {
        let t = |s: &str| parse_target(s).map(|t| t.key);
        assert_eq!(t("oss://bkt/a/b.iso").unwrap(), "a/b.iso");
        assert_eq!(t("oss://bkt/images/").unwrap(), "images/");
        assert_eq!(t("oss://bkt/").unwrap(), "");
        assert_eq!(t("s3://bkt").unwrap(), "");
        assert!(t("oss://Bkt/").is_err());
        assert!(t("oss:///").is_err());
        assert!(t("gs://bkt/").is_err());
        assert!(is_folder("") && is_folder("a/") && !is_folder("a"));
    }

    #[test]
    fn file_names_come_from_content_disposition_then_the_url() {
        let f = file_name;
        assert_eq!(
            f(None, "https://h/dl/r%C3%A9sum%C3%A9%20v2.iso?sig=1").as_deref(),
            Some("résumé v2.iso")
        );
        assert_eq!(
            f(
                Some("attachment; filename=\"a.bin\"; filename*=UTF-8''na%C3%AFve.tgz"),
                "http://h/x"
            )
            .as_deref(),
            Some("naïve.tgz")
        );
        assert_eq!(
            f(
                Some("attachment; filename*=iso-8859-1'en'%E9t%E9.txt"),
                "http://h/x"
            )
            .as_deref(),
            Some("été.txt")
        );
        assert_eq!(
            f(Some("inline; filename=\"x; y.zip\""), "http://h/x").as_deref(),
            Some("x; y.zip")
        );
        assert_eq!(
            f(Some("attachment; filename=../../etc/passwd"), "http://h/x").as_deref(),
            Some("passwd")
        );
        assert_eq!(f(Some("attachment"), "http://h/x/y").as_deref(), Some("y"));
        assert_eq!(f(None, "http://h/"), None);
        assert_eq!(f(None, "http://h"), None);
        assert_eq!(f(None, "http://h/a/.."), None);
        assert_eq!(f(Some("attachment; filename=\"\""), "http://h/d/"), None);
    }

    #[test]
    fn local_files_and_stdin_are_named_as_such() {
        for s in ["./big.iso", "/abs/big.iso", "file:///abs/big.iso", "~/x"] {
            let why = local_source(s).unwrap();
            assert!(
                why.contains("local file") && why.contains("python3 -m http.server"),
                "{why}"
            );
        }
        let signed = local_source("/tmp/x.iso?Signature=s3cret").unwrap();
        assert!(!signed.contains("s3cret"), "{signed}");
        let bare = local_source("big.iso").unwrap();
        assert!(
            bare.starts_with("source \"big.iso\" is not a URL"),
            "{bare}"
        );
        assert!(bare.contains("python3 -m http.server"), "{bare}");
        assert!(local_source("-").unwrap().contains("standard input"));
        for s in ["http://h/x", "https://h/x", "oss://b/k", "s3://b/k"] {
            assert_eq!(local_source(s), None, "{s}");
        }
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
        assert_eq!(r("https://oss-accelerate.aliyuncs.com"), None);
        assert_eq!(
            r("https://s3.us-west-2.amazonaws.com").as_deref(),
            Some("us-west-2")
        );
        assert_eq!(
            r("https://s3-eu-west-1.amazonaws.com").as_deref(),
            Some("eu-west-1")
        );
        assert_eq!(
            r("https://s3.dualstack.ap-south-1.amazonaws.com").as_deref(),
            Some("ap-south-1")
        );
        assert_eq!(r("https://s3.amazonaws.com"), None);
        assert_eq!(r("https://s3-accelerate.amazonaws.com"), None);
        assert_eq!(r("http://127.0.0.1:9000"), None);
    }

    /// The endpoints Alibaba's and Amazon's endpoint tables document.
    #[test]
    fn documented_endpoints() {
        use EndpointKind::*;
        let e = |s, r, k| default_endpoint(s, r, k).unwrap();
        assert_eq!(
            e(StoreKind::Oss, "cn-hangzhou", Public),
            "https://oss-cn-hangzhou.aliyuncs.com"
        );
        assert_eq!(
            e(StoreKind::Oss, "cn-hangzhou", Internal),
            "https://oss-cn-hangzhou-internal.aliyuncs.com"
        );
        assert_eq!(
            e(StoreKind::Oss, "cn-hangzhou", Accelerate),
            "https://oss-accelerate.aliyuncs.com"
        );
        assert_eq!(
            e(StoreKind::S3, "us-west-2", Public),
            "https://s3.us-west-2.amazonaws.com"
        );
        assert_eq!(
            e(StoreKind::S3, "us-west-2", Accelerate),
            "https://s3-accelerate.amazonaws.com"
        );
        assert!(default_endpoint(StoreKind::S3, "us-west-2", Internal).is_err());
    }

    #[test]
    fn path_style_for_ip_and_localhost() {
        let a = |s: &str| addressing(&Url::parse(s).unwrap(), None);
        assert_eq!(a("http://127.0.0.1:1234"), Addressing::Path);
        assert_eq!(a("http://[::1]:1234"), Addressing::Path);
        assert_eq!(a("http://localhost:1234"), Addressing::Path);
        assert_eq!(
            a("https://oss-cn-hangzhou.aliyuncs.com"),
            Addressing::VirtualHosted
        );
        let cname = Url::parse("https://files.example.com").unwrap();
        assert_eq!(
            addressing(&cname, Some(Addressing::Cname)),
            Addressing::Cname
        );
    }

    /// The names a job's JSON (an FC event, `POST /jobs`) uses for them.
    #[test]
    fn job_json_names_the_store() {
        let job: crate::Job = serde_json::from_value(serde_json::json!({
            "source_url": "http://127.0.0.1:1/obj",
            "target_bucket_name": "bkt",
            "target_object_name": "k",
            "target_region": "us-west-2",
            "target_store": "s3",
            "addressing": "virtual-hosted",
            "endpoint_kind": "accelerate",
        }))
        .unwrap();
        assert_eq!(job.target_store, Some(StoreKind::S3));
        assert_eq!(job.addressing, Some(Addressing::VirtualHosted));
        assert_eq!(job.endpoint_kind, Some(EndpointKind::Accelerate));
        let cname: crate::Job = serde_json::from_value(serde_json::json!({
            "source_url": "s", "target_bucket_name": "b", "target_object_name": "k",
            "target_region": "r", "addressing": "cname", "endpoint_kind": "internal",
        }))
        .unwrap();
        assert_eq!(cname.addressing, Some(Addressing::Cname));
        assert_eq!(cname.endpoint_kind, Some(EndpointKind::Internal));
        assert_eq!(cname.target_store, None);
    }
}
