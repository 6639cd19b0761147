//! Events into jobs: what `ferry serve` accepts as a request body, and the
//! transfers it stands for. Pure (no I/O), so every rule is unit-tested.
//!
//! Three shapes are accepted:
//!
//! - the Function Compute design's event, `{"source_url", "target_bucket_name",
//!   "target_object_name", "target_region"}`;
//! - ferry's own job, the same fields plus `endpoint`, `part_size`,
//!   `parallel`, `retries`, `part_timeout`, `keep_partial`, `resume` and
//!   `signature_version` (a JSON array of jobs is several jobs);
//! - an OSS trigger event, `{"events": [{"eventName": "ObjectCreated:…",
//!   "region", "oss": {"bucket": {"name"}, "object": {"key", "size"}}}]}`,
//!   each new object copied to the bucket and prefix of the `--target` rule
//!   given at start.
//!
//! A body is checked whole before any transfer starts: one bad event makes
//! the whole body a 400, so a batch never half-runs on a typo.

use serde::Deserialize;
use std::fmt;
use url::Url;

/// Most jobs one request may carry.
pub const MAX_JOBS: usize = 100;

/// The rules fixed when the server starts.
#[derive(Debug, Clone, Default)]
pub struct Rules {
    /// Where OSS trigger events copy new objects (`--target`).
    pub target: Option<TargetRule>,
    /// The URL a new object's key is appended to, instead of its own OSS
    /// URL (`--source-endpoint`): a CDN in front of the bucket, or a test bed.
    pub source_endpoint: Option<String>,
    /// The store endpoint jobs use when they name none (`--endpoint`); a job
    /// may also name this one.
    pub endpoint: Option<String>,
    /// The store region jobs use when they name none (`--region`).
    pub region: Option<String>,
    /// Most parts in flight a job may ask for (`--instances`).
    pub max_parallel: u32,
}

/// `oss://BUCKET/PREFIX`: copy each new object to BUCKET, under PREFIX.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetRule {
    pub bucket: String,
    /// Prepended to the object's key as is (`backup/` keeps a folder).
    pub prefix: String,
}

impl TargetRule {
    /// Parses `oss://BUCKET` or `oss://BUCKET/PREFIX`.
    pub fn parse(s: &str) -> Result<TargetRule, Invalid> {
        let rest = s.strip_prefix("oss://").ok_or_else(|| {
            Invalid(format!(
                "--target {s:?} is not an OSS location; write it as oss://BUCKET/PREFIX/"
            ))
        })?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        check_bucket(bucket)?;
        if prefix.starts_with('/') || prefix.len() > 512 {
            return Err(Invalid(format!(
                "--target prefix {prefix:?} must not start with '/' and must be short"
            )));
        }
        Ok(TargetRule {
            bucket: bucket.into(),
            prefix: prefix.into(),
        })
    }
}

/// Why a body is not a job: the 400's message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid(pub String);

impl fmt::Display for Invalid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Invalid {}

/// One transfer to run.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Job {
    pub source_url: String,
    pub bucket: String,
    pub key: String,
    pub region: Option<String>,
    pub endpoint: Option<String>,
    /// A size string for `--part-size` (`6MiB`, `1048576`).
    pub part_size: Option<String>,
    pub parallel: Option<u32>,
    pub retries: Option<u32>,
    pub part_timeout: Option<u32>,
    pub keep_partial: bool,
    pub resume: Option<String>,
    /// `v1` or `v4`.
    pub signature: Option<String>,
    /// Headers for every source request (`headers`: `["Name: value"]`).
    pub headers: SourceHeaders,
    /// Refuse to replace an object that exists (`no_clobber`).
    pub no_clobber: bool,
    /// The object's properties (`properties`, as the component's job
    /// names them), checked for OSS.
    pub properties: ferry_rules::job::Properties,
}

/// A job's `properties`: the component's job field of that name.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct PropertiesEvent {
    #[serde(default)]
    content_type: Option<String>,
    #[serde(default)]
    content_disposition: Option<String>,
    #[serde(default)]
    content_encoding: Option<String>,
    #[serde(default)]
    cache_control: Option<String>,
    /// `[["name", "value"], ...]`.
    #[serde(default)]
    meta: Option<Vec<(String, String)>>,
    #[serde(default)]
    storage_class: Option<String>,
    #[serde(default)]
    acl: Option<String>,
    #[serde(default)]
    sse: Option<String>,
    #[serde(default)]
    sse_kms_key_id: Option<String>,
}

impl PropertiesEvent {
    /// Checked as `ferry copy` checks its flags, for OSS.
    fn checked(self) -> Result<ferry_rules::job::Properties, Invalid> {
        let p = ferry_rules::job::Properties {
            content_type: self.content_type,
            content_disposition: self.content_disposition,
            content_encoding: self.content_encoding,
            cache_control: self.cache_control,
            meta: self.meta.unwrap_or_default(),
            storage_class: self.storage_class,
            acl: self.acl,
            sse: self.sse,
            sse_kms_key_id: self.sse_kms_key_id,
        };
        ferry_rules::job::check_properties(false, &p)
            .map_err(|e| Invalid(format!("properties: {e}")))
    }
}

/// A job's source headers, (name, value); shown by name only, as their
/// values are secrets (a cookie, a token).
#[derive(Clone, PartialEq, Eq, Default)]
pub struct SourceHeaders(pub Vec<(String, String)>);

impl std::fmt::Debug for SourceHeaders {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.0.iter().map(|(name, _)| format!("{name}: <redacted>")))
            .finish()
    }
}

/// A job's `headers` (a list of `"Name: value"` strings, as `--header`
/// takes them), checked against its source URL. No value is shown in an
/// error.
fn source_headers(
    value: Option<serde_json::Value>,
    source_url: &str,
) -> Result<SourceHeaders, Invalid> {
    let Some(value) = value.filter(|v| !v.is_null()) else {
        return Ok(SourceHeaders::default());
    };
    let items: Option<Vec<String>> = value.as_array().and_then(|list| {
        list.iter()
            .map(|v| v.as_str().map(str::to_string))
            .collect()
    });
    let items =
        items.ok_or_else(|| Invalid("headers must be a list of \"Name: value\" strings".into()))?;
    ferry_rules::job::source_headers(&items, source_url)
        .map(SourceHeaders)
        .map_err(|e| Invalid(format!("headers: {e}")))
}

impl Job {
    /// `oss://BUCKET/KEY`.
    pub fn target(&self) -> String {
        format!("oss://{}/{}", self.bucket, self.key)
    }
}

/// ferry's job JSON (the FC design's event is its first four fields).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct JobEvent {
    source_url: String,
    target_bucket_name: String,
    target_object_name: String,
    #[serde(default)]
    target_region: Option<String>,
    #[serde(default)]
    endpoint: Option<String>,
    #[serde(default)]
    part_size: Option<SizeValue>,
    #[serde(default)]
    parallel: Option<u32>,
    #[serde(default)]
    retries: Option<u32>,
    #[serde(default)]
    part_timeout: Option<u32>,
    #[serde(default)]
    keep_partial: Option<bool>,
    #[serde(default)]
    resume: Option<String>,
    #[serde(default)]
    signature_version: Option<String>,
    /// Read by [`source_headers`], so that no value shows in a type error.
    #[serde(default)]
    headers: Option<serde_json::Value>,
    #[serde(default)]
    no_clobber: Option<bool>,
    #[serde(default)]
    properties: Option<PropertiesEvent>,
    /// Meaningful under `wasmtime serve` only; ferry serve fans out itself.
    #[serde(default)]
    #[allow(dead_code)]
    fanout_url: Option<String>,
}

/// A part size as bytes or as a size string.
#[derive(Deserialize)]
#[serde(untagged)]
enum SizeValue {
    Bytes(u64),
    Text(String),
}

/// The OSS trigger's event list; fields ferry does not use are ignored.
#[derive(Deserialize)]
struct OssEvents {
    events: Vec<OssEvent>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct OssEvent {
    event_name: String,
    #[serde(default)]
    region: Option<String>,
    oss: OssPart,
}

#[derive(Deserialize)]
struct OssPart {
    bucket: OssBucket,
    object: OssObject,
}

#[derive(Deserialize)]
struct OssBucket {
    name: String,
}

#[derive(Deserialize)]
struct OssObject {
    key: String,
}

/// The jobs a request body stands for. `fc_region` is the `x-fc-region`
/// header, when the request came through Function Compute.
pub fn jobs(body: &[u8], rules: &Rules, fc_region: Option<&str>) -> Result<Vec<Job>, Invalid> {
    let value: serde_json::Value = serde_json::from_slice(body).map_err(|e| {
        Invalid(format!(
            "the body is not JSON ({e}); send a job such as \
             {{\"source_url\":…,\"target_bucket_name\":…,\"target_object_name\":…,\"target_region\":…}}"
        ))
    })?;
    let fc_region = fc_region.filter(|r| !r.is_empty());
    let jobs = match value {
        serde_json::Value::Object(ref map) if map.contains_key("events") => {
            let events: OssEvents = serde_json::from_value(value)
                .map_err(|e| Invalid(format!("not an OSS trigger event: {e}")))?;
            if events.events.is_empty() {
                return Err(Invalid("the OSS trigger event lists no events".into()));
            }
            check_count(events.events.len())?;
            events
                .events
                .into_iter()
                .enumerate()
                .map(|(i, e)| oss_job(e, rules, fc_region).map_err(|m| at(i, m)))
                .collect::<Result<Vec<_>, _>>()?
        }
        serde_json::Value::Object(_) => vec![job(value, rules, fc_region)?],
        serde_json::Value::Array(items) => {
            if items.is_empty() {
                return Err(Invalid("the body is an empty list of jobs".into()));
            }
            check_count(items.len())?;
            items
                .into_iter()
                .enumerate()
                .map(|(i, v)| job(v, rules, fc_region).map_err(|m| at(i, m)))
                .collect::<Result<Vec<_>, _>>()?
        }
        _ => return Err(not_a_job()),
    };
    Ok(jobs)
}

fn not_a_job() -> Invalid {
    Invalid(
        "the body must be a JSON object (a job or an OSS trigger event) or a list of jobs".into(),
    )
}

fn at(index: usize, e: Invalid) -> Invalid {
    Invalid(format!("event {}: {}", index + 1, e.0))
}

fn check_count(n: usize) -> Result<(), Invalid> {
    if n > MAX_JOBS {
        return Err(Invalid(format!(
            "{n} jobs in one request; at most {MAX_JOBS} are accepted"
        )));
    }
    Ok(())
}

fn job(value: serde_json::Value, rules: &Rules, fc_region: Option<&str>) -> Result<Job, Invalid> {
    let e: JobEvent =
        serde_json::from_value(value).map_err(|e| Invalid(format!("not a ferry job: {e}")))?;
    check_source(&e.source_url)?;
    check_bucket(&e.target_bucket_name)?;
    check_key(&e.target_object_name)?;
    let endpoint = match e.endpoint.filter(|s| !s.is_empty()) {
        Some(endpoint) => Some(check_endpoint(&endpoint, rules)?),
        None => rules.endpoint.clone(),
    };
    let parallel = match e.parallel {
        Some(0) => return Err(Invalid("parallel must be at least 1".into())),
        Some(n) if rules.max_parallel > 0 && n > rules.max_parallel => {
            return Err(Invalid(format!(
                "parallel {n} is more than this server allows ({}; see --instances)",
                rules.max_parallel
            )))
        }
        other => other,
    };
    let signature = match e.signature_version.as_deref() {
        None | Some("") => None,
        Some(v @ ("v1" | "v4")) => Some(v.to_string()),
        Some(other) => {
            return Err(Invalid(format!(
                "signature_version {other:?} is not v1 or v4"
            )))
        }
    };
    let headers = source_headers(e.headers, &e.source_url)?;
    let properties = e.properties.unwrap_or_default().checked()?;
    Ok(Job {
        source_url: e.source_url,
        bucket: e.target_bucket_name,
        key: e.target_object_name,
        region: e
            .target_region
            .filter(|r| !r.is_empty())
            .or_else(|| rules.region.clone())
            .or_else(|| fc_region.map(str::to_string)),
        endpoint,
        part_size: e.part_size.map(|s| match s {
            SizeValue::Bytes(n) => n.to_string(),
            SizeValue::Text(t) => t,
        }),
        parallel,
        retries: e.retries,
        part_timeout: e.part_timeout,
        keep_partial: e.keep_partial.unwrap_or(false),
        resume: e.resume,
        signature,
        headers,
        no_clobber: e.no_clobber.unwrap_or(false),
        properties,
    })
}

fn oss_job(e: OssEvent, rules: &Rules, fc_region: Option<&str>) -> Result<Job, Invalid> {
    if !e.event_name.starts_with("ObjectCreated:") {
        return Err(Invalid(format!(
            "{} is not an object creation; ferry copies new objects only \
             (configure the trigger for oss:ObjectCreated:* events)",
            e.event_name
        )));
    }
    let rule = rules.target.as_ref().ok_or_else(|| {
        Invalid(
            "an OSS trigger event needs a target rule: start the server with \
             --target oss://BUCKET/PREFIX/"
                .into(),
        )
    })?;
    let bucket = e.oss.bucket.name;
    let key = e.oss.object.key;
    check_bucket(&bucket)?;
    check_key(&key)?;
    if bucket == rule.bucket && key.starts_with(&rule.prefix) {
        return Err(Invalid(format!(
            "oss://{bucket}/{key} is inside the target oss://{}/{}: the copy would \
             trigger itself again; use another bucket or a prefix the trigger does not watch",
            rule.bucket, rule.prefix
        )));
    }
    let source_region = e.region.filter(|r| !r.is_empty());
    let source_url = source_url(&bucket, &key, source_region.as_deref(), rules)?;
    let target_key = format!("{}{key}", rule.prefix);
    check_key(&target_key)?;
    Ok(Job {
        source_url,
        bucket: rule.bucket.clone(),
        key: target_key,
        region: rules
            .region
            .clone()
            .or_else(|| fc_region.map(str::to_string))
            .or(source_region),
        endpoint: rules.endpoint.clone(),
        ..Job::default()
    })
}

/// The URL a new object is read from: `https://BUCKET.oss-REGION.aliyuncs.com/KEY`,
/// or the key appended to `--source-endpoint`; the key is percent-encoded
/// segment by segment.
fn source_url(
    bucket: &str,
    key: &str,
    region: Option<&str>,
    rules: &Rules,
) -> Result<String, Invalid> {
    let base = match &rules.source_endpoint {
        Some(endpoint) => endpoint.clone(),
        None => {
            let region = region.ok_or_else(|| {
                Invalid("the OSS trigger event names no region for its bucket".into())
            })?;
            if !region
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            {
                return Err(Invalid(format!("region {region:?} is not an OSS region")));
            }
            format!("https://{bucket}.oss-{region}.aliyuncs.com")
        }
    };
    let mut url = Url::parse(&base)
        .map_err(|e| Invalid(format!("the source endpoint {base:?} is not a URL: {e}")))?;
    url.path_segments_mut()
        .map_err(|_| Invalid(format!("the source endpoint {base:?} cannot take a path")))?
        .pop_if_empty()
        .extend(key.split('/'));
    Ok(url.to_string())
}

fn check_source(url: &str) -> Result<(), Invalid> {
    let parsed = Url::parse(url)
        .map_err(|e| Invalid(format!("source_url is not a URL ({e}); give http(s)://…")))?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
        return Err(Invalid(
            "source_url must be an http:// or https:// URL with a host".into(),
        ));
    }
    Ok(())
}

/// An OSS bucket name, by the component's rule ([`ferry_rules::bucket_problem`]).
fn check_bucket(bucket: &str) -> Result<(), Invalid> {
    ferry_rules::bucket_problem(false, bucket).map_or(Ok(()), |p| Err(Invalid(p)))
}

/// An object key, by the component's rule ([`ferry_rules::key_problem`]).
fn check_key(key: &str) -> Result<(), Invalid> {
    ferry_rules::key_problem(key).map_or(Ok(()), |p| Err(Invalid(p)))
}

/// A job may name a store endpoint only if it is an Alibaba Cloud OSS
/// endpoint over https or the server's own `--endpoint`: the transfer signs
/// its requests with the invocation's credentials (and sends the STS token),
/// which must never go to a host the caller chose.
fn check_endpoint(endpoint: &str, rules: &Rules) -> Result<String, Invalid> {
    let trimmed = endpoint.trim_end_matches('/');
    if let Some(own) = &rules.endpoint {
        if own.trim_end_matches('/') == trimmed {
            return Ok(own.clone());
        }
    }
    let url = Url::parse(trimmed)
        .map_err(|e| Invalid(format!("endpoint {endpoint:?} is not a URL: {e}")))?;
    let host = url.host_str().unwrap_or_default().to_ascii_lowercase();
    let alibaba = url.scheme() == "https"
        && host.starts_with("oss-")
        && host.ends_with(".aliyuncs.com")
        && url.path().trim_matches('/').is_empty()
        && url.username().is_empty()
        && url.query().is_none();
    if alibaba {
        Ok(trimmed.to_string())
    } else {
        Err(Invalid(format!(
            "endpoint {endpoint:?} is not allowed: a job may name only an https://oss-….aliyuncs.com \
             endpoint or the server's --endpoint, because the store requests carry the \
             invocation's credentials"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rules() -> Rules {
        Rules {
            target: Some(TargetRule::parse("oss://backup-bucket/copies/").unwrap()),
            max_parallel: 16,
            ..Rules::default()
        }
    }

    fn parse(v: serde_json::Value, rules: &Rules) -> Result<Vec<Job>, Invalid> {
        jobs(v.to_string().as_bytes(), rules, None)
    }

    fn fc_event() -> serde_json::Value {
        json!({
            "source_url": "https://mirror.example.com/big.iso",
            "target_object_name": "images/big.iso",
            "target_region": "cn-hangzhou",
            "target_bucket_name": "my-bucket"
        })
    }

    /// The documented OSS trigger event (Function Compute, "Formats of
    /// event for different triggers").
    fn oss_event(name: &str, bucket: &str, key: &str) -> serde_json::Value {
        json!({"events": [{
            "eventName": name,
            "eventSource": "acs:oss",
            "eventTime": "2022-08-13T06:45:43.000Z",
            "eventVersion": "1.0",
            "oss": {
                "bucket": {"arn": format!("acs:oss:cn-hangzhou:123456789:{bucket}"),
                           "name": bucket, "ownerIdentity": "164901546557****"},
                "object": {"deltaSize": 122539, "eTag": "688A7BF4F233DC9C88A80BF985AB****",
                           "key": key, "size": 122539},
                "ossSchemaVersion": "1.0",
                "ruleId": "9adac8e253828f4f7c0466d941fa3db81161****"
            },
            "region": "cn-hangzhou",
            "requestParameters": {"sourceIPAddress": "140.205.XX.XX"},
            "responseElements": {"requestId": "58F9FF2D3DF792092E12044C"},
            "userIdentity": {"principalId": "164901546557****"}
        }]})
    }

    #[test]
    fn a_job_carries_no_clobber_and_checked_properties() {
        let mut v = fc_event();
        v["no_clobber"] = json!(true);
        v["properties"] = json!({"content_type": "text/csv", "storage_class": "ia",
                                 "meta": [["Owner", "ops"]]});
        let job = parse(v.clone(), &rules()).unwrap().remove(0);
        assert!(job.no_clobber);
        assert_eq!(job.properties.storage_class.as_deref(), Some("IA"));
        assert_eq!(job.properties.meta, [("owner".into(), "ops".into())]);
        v["properties"] = json!({"storage_class": "GLACIER"});
        let e = parse(v, &rules()).unwrap_err().to_string();
        assert!(e.starts_with("properties: --storage-class"), "{e}");
    }

    #[test]
    fn the_fc_design_event_is_a_job() {
        let jobs = parse(fc_event(), &rules()).unwrap();
        assert_eq!(
            jobs,
            vec![Job {
                source_url: "https://mirror.example.com/big.iso".into(),
                bucket: "my-bucket".into(),
                key: "images/big.iso".into(),
                region: Some("cn-hangzhou".into()),
                ..Job::default()
            }]
        );
        assert_eq!(jobs[0].target(), "oss://my-bucket/images/big.iso");
    }

    /// A job's bucket and key are refused in the words the component
    /// uses for the same mistake on its command line: one rule.
    #[test]
    fn buckets_and_keys_follow_the_components_rule() {
        let refused = |bucket: &str, key: &str| {
            let mut v = fc_event();
            v["target_bucket_name"] = json!(bucket);
            v["target_object_name"] = json!(key);
            parse(v, &rules()).unwrap_err().0
        };
        assert_eq!(
            refused("My_Bucket", "k"),
            "bucket name \"My_Bucket\" is not valid: OSS bucket names have 3 to 63 \
             characters of a-z, 0-9 and '-', and do not start or end with '-'"
        );
        assert_eq!(
            refused("bkt", "/k"),
            "object key \"/k\" is not valid: keys have 1 to 1023 bytes and do not start \
             with '/' or '\\'"
        );
        let mut v = fc_event();
        v["target_object_name"] = json!("a/../b");
        assert_eq!(parse(v, &rules()).unwrap()[0].key, "a/../b");
    }

    #[test]
    fn ferry_job_fields_are_read() {
        let mut v = fc_event();
        v["endpoint"] = json!("https://oss-cn-hangzhou-internal.aliyuncs.com/");
        v["part_size"] = json!(1048576);
        v["parallel"] = json!(4);
        v["retries"] = json!(2);
        v["part_timeout"] = json!(60);
        v["keep_partial"] = json!(true);
        v["resume"] = json!("");
        v["signature_version"] = json!("v1");
        let job = parse(v.clone(), &rules()).unwrap().remove(0);
        assert_eq!(
            job.endpoint.as_deref(),
            Some("https://oss-cn-hangzhou-internal.aliyuncs.com")
        );
        assert_eq!(job.part_size.as_deref(), Some("1048576"));
        assert_eq!(job.parallel, Some(4));
        assert_eq!(job.retries, Some(2));
        assert_eq!(job.part_timeout, Some(60));
        assert!(job.keep_partial);
        assert_eq!(job.resume.as_deref(), Some(""));
        assert_eq!(job.signature.as_deref(), Some("v1"));
        v["part_size"] = json!("6MiB");
        assert_eq!(
            parse(v, &rules()).unwrap()[0].part_size.as_deref(),
            Some("6MiB")
        );
    }

    #[test]
    fn source_headers_are_a_job_field_shown_by_name_only() {
        let mut v = fc_event();
        v["headers"] = json!(["Cookie: session=s3cret", "Referer: https://r.example/"]);
        let job = parse(v.clone(), &rules()).unwrap().remove(0);
        assert_eq!(
            job.headers.0,
            [
                ("Cookie".to_string(), "session=s3cret".to_string()),
                ("Referer".to_string(), "https://r.example/".to_string())
            ]
        );
        assert!(!format!("{job:?}").contains("s3cret"));
        for bad in [
            json!("Cookie: s3cret"),
            json!(["Cookie s3cret"]),
            json!(["Range: s3cret"]),
            json!([{"Cookie": "s3cret"}]),
        ] {
            v["headers"] = bad;
            let e = parse(v.clone(), &rules()).unwrap_err().0;
            assert!(e.contains("headers") && !e.contains("s3cret"), "{e}");
        }
    }

    #[test]
    fn region_comes_from_the_event_then_the_server_then_fc() {
        let mut v = fc_event();
        v.as_object_mut().unwrap().remove("target_region");
        let body = v.to_string();
        let mut r = rules();
        assert_eq!(jobs(body.as_bytes(), &r, None).unwrap()[0].region, None);
        assert_eq!(
            jobs(body.as_bytes(), &r, Some("cn-beijing")).unwrap()[0].region,
            Some("cn-beijing".into())
        );
        r.region = Some("cn-shanghai".into());
        assert_eq!(
            jobs(body.as_bytes(), &r, Some("cn-beijing")).unwrap()[0].region,
            Some("cn-shanghai".into())
        );
        let body = fc_event().to_string();
        assert_eq!(
            jobs(body.as_bytes(), &r, Some("cn-beijing")).unwrap()[0].region,
            Some("cn-hangzhou".into())
        );
    }

    #[test]
    fn a_list_is_several_jobs() {
        let mut second = fc_event();
        second["target_object_name"] = json!("b.iso");
        let jobs = parse(json!([fc_event(), second]), &rules()).unwrap();
        assert_eq!(jobs.len(), 2);
        assert_eq!(jobs[1].key, "b.iso");
    }

    #[test]
    fn bad_jobs_say_why() {
        let msg = |v: serde_json::Value| parse(v, &rules()).unwrap_err().0;
        assert!(msg(json!({"source_url": "x"})).contains("target_bucket_name"));
        let mut v = fc_event();
        v["colour"] = json!("blue");
        assert!(msg(v).contains("unknown field `colour`"));
        let mut v = fc_event();
        v["source_url"] = json!("ftp://h/x");
        assert!(msg(v).contains("http://"));
        let mut v = fc_event();
        v["target_bucket_name"] = json!("My_Bucket");
        assert!(msg(v).contains("OSS bucket names have"));
        let mut v = fc_event();
        v["target_object_name"] = json!("/abs");
        assert!(msg(v).contains("object key \"/abs\" is not valid"));
        let mut v = fc_event();
        v["parallel"] = json!(17);
        assert!(msg(v).contains("--instances"));
        let mut v = fc_event();
        v["signature_version"] = json!("v2");
        assert!(msg(v).contains("v1 or v4"));
        assert!(msg(json!([])).contains("empty"));
        assert!(msg(json!("a string")).contains("JSON object"));
        let many: Vec<_> = (0..=MAX_JOBS).map(|_| fc_event()).collect();
        assert!(msg(json!(many)).contains("at most"));
        let mut second = fc_event();
        second["target_object_name"] = json!("");
        assert!(msg(json!([fc_event(), second])).starts_with("event 2: "));
        assert!(jobs(b"{not json", &rules(), None)
            .unwrap_err()
            .0
            .contains("not JSON"));
    }

    #[test]
    fn a_job_may_not_send_credentials_to_a_host_it_chose() {
        let mut r = rules();
        r.endpoint = Some("http://127.0.0.1:9100".into());
        for bad in [
            "http://oss-cn-hangzhou.aliyuncs.com",
            "https://oss-cn-hangzhou.aliyuncs.com.evil.example",
            "https://evil.example",
            "https://user@oss-cn-hangzhou.aliyuncs.com",
            "http://127.0.0.1:9101",
        ] {
            let mut v = fc_event();
            v["endpoint"] = json!(bad);
            let e = parse(v, &r).unwrap_err().0;
            assert!(e.contains("not allowed"), "{bad}: {e}");
        }
        let mut v = fc_event();
        v["endpoint"] = json!("http://127.0.0.1:9100/");
        assert_eq!(
            parse(v, &r).unwrap()[0].endpoint.as_deref(),
            Some("http://127.0.0.1:9100")
        );
        // No endpoint in the job: the server's.
        assert_eq!(
            parse(fc_event(), &r).unwrap()[0].endpoint.as_deref(),
            Some("http://127.0.0.1:9100")
        );
    }

    #[test]
    fn oss_trigger_events_copy_to_the_target_rule() {
        let jobs = parse(
            oss_event("ObjectCreated:PutObject", "testbucket", "source/a b+c.png"),
            &rules(),
        )
        .unwrap();
        assert_eq!(
            jobs,
            vec![Job {
                source_url: "https://testbucket.oss-cn-hangzhou.aliyuncs.com/source/a%20b+c.png"
                    .into(),
                bucket: "backup-bucket".into(),
                key: "copies/source/a b+c.png".into(),
                region: Some("cn-hangzhou".into()),
                ..Job::default()
            }]
        );
        let mut r = rules();
        r.source_endpoint = Some("http://127.0.0.1:8000/".into());
        r.region = Some("cn-shanghai".into());
        let job = parse(
            oss_event(
                "ObjectCreated:CompleteMultipartUpload",
                "testbucket",
                "obj/1/2",
            ),
            &r,
        )
        .unwrap()
        .remove(0);
        assert_eq!(job.source_url, "http://127.0.0.1:8000/obj/1/2");
        assert_eq!(job.region.as_deref(), Some("cn-shanghai"));
    }

    #[test]
    fn several_oss_events_are_several_jobs() {
        let mut body = oss_event("ObjectCreated:PutObject", "testbucket", "a");
        let mut second = body["events"][0].clone();
        second["oss"]["object"]["key"] = json!("b");
        body["events"].as_array_mut().unwrap().push(second);
        let keys: Vec<_> = parse(body, &rules())
            .unwrap()
            .into_iter()
            .map(|j| j.key)
            .collect();
        assert_eq!(keys, ["copies/a", "copies/b"]);
    }

    #[test]
    fn bad_oss_events_say_why() {
        let msg = |v: serde_json::Value, r: &Rules| parse(v, r).unwrap_err().0;
        let e = msg(
            oss_event("ObjectRemoved:DeleteObject", "testbucket", "a"),
            &rules(),
        );
        assert!(e.contains("new objects only"), "{e}");
        let e = msg(
            oss_event("ObjectCreated:PutObject", "testbucket", "a"),
            &Rules::default(),
        );
        assert!(e.contains("--target"), "{e}");
        let e = msg(
            oss_event("ObjectCreated:PutObject", "backup-bucket", "copies/x"),
            &rules(),
        );
        assert!(e.contains("trigger itself"), "{e}");
        // The same bucket outside the prefix is fine.
        parse(
            oss_event("ObjectCreated:PutObject", "backup-bucket", "incoming/x"),
            &rules(),
        )
        .unwrap();
        let e = msg(json!({"events": []}), &rules());
        assert!(e.contains("no events"), "{e}");
        let e = msg(
            json!({"events": [{"eventName": "ObjectCreated:PutObject"}]}),
            &rules(),
        );
        assert!(e.contains("missing field `oss`"), "{e}");
        let mut v = oss_event("ObjectCreated:PutObject", "testbucket", "a");
        v["events"][0].as_object_mut().unwrap().remove("region");
        assert!(msg(v, &rules()).contains("no region"));
    }

    #[test]
    fn target_rules_parse() {
        assert_eq!(
            TargetRule::parse("oss://b-1/p/q/").unwrap(),
            TargetRule {
                bucket: "b-1".into(),
                prefix: "p/q/".into()
            }
        );
        assert_eq!(TargetRule::parse("oss://bkt").unwrap().prefix, "");
        assert!(TargetRule::parse("s3://bkt/").is_err());
        assert!(TargetRule::parse("oss://B/").is_err());
        assert!(TargetRule::parse("oss://bkt//x").is_err());
    }
}
