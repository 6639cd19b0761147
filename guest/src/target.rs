//! Where an object goes: `oss://bucket/key` and `s3://bucket/key` targets,
//! the stores' default endpoints, and how a request names the bucket.

use crate::error::{Error, Result};
use crate::{Addressing, EndpointKind, Job, Resolved, StoreKind};
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
    if let Err(e) = Url::parse(job.source_url.trim()) {
        return Err(Error::invalid(format!(
            "source {:?} is not a URL ({e}): give the whole http:// or https:// URL, e.g. \
             https://mirror.example.com/big.iso",
            redact(&job.source_url)
        )));
    }
    if let Some(target) = target {
        let t = parse(target)?;
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
    check_key(&job.target_object_name)?;
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
