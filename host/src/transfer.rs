//! The embedding API: a [`Transfer`] built step by step and run to a typed
//! [`Report`], with progress delivered to a callback.
//!
//! ```no_run
//! # async fn example() -> anyhow::Result<()> {
//! let report = ferry_host::Transfer::builder()
//!     .source("https://mirror.example.com/big.iso")
//!     .target("oss://my-bucket/images/big.iso")
//!     .region("cn-hangzhou")
//!     .instances(64)
//!     .run(|event| println!("{event:?}"))
//!     .await?;
//! println!("{} bytes, crc64 {}", report.size, report.crc64);
//! # Ok(())
//! # }
//! ```

use crate::bindings::{
    Addressing, EndpointKind, Failure, Job, ObjectProperties, SignatureVersion, StoreKind,
};
use crate::credentials::{credentials_url, Chain, Refreshing, CREDENTIALS_URL_VAR};
use crate::engine::EngineSession;
use crate::events::{on_one_line, one_line, Event, Progress};
use crate::fc::{FcConfig, FcInvoker};
use crate::interrupt::Interrupt;
use crate::limits::{self, Limits};
use crate::net::address_policy::AddressPolicy;
use crate::net::client::{Client, ClientConfig};
use crate::net::egress::Egress;
use crate::net::outgoing::fanout_url;
use crate::parts::{LocalInstances, PartRunner, WorkerPool};
use crate::runtime::{default_component_path, Runtime};
use ferry_rules::job::Properties;
use serde::Serialize;
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

pub use crate::bindings::{PaceChange, Parallelism, Report};

/// A report as `--json` and `ferry serve` print it: the component's own
/// JSON for it (the parts in flight at the end named `final`).
pub fn report_json(report: &Report) -> serde_json::Value {
    let mut value = serde_json::to_value(report).unwrap_or_default();
    match value.get_mut("parallelism").and_then(|p| p.as_object_mut()) {
        Some(p) => {
            if let Some(last) = p.remove("last") {
                p.insert("final".into(), last);
            }
        }
        None => {
            if let Some(v) = value.as_object_mut() {
                v.remove("parallelism");
            }
        }
    }
    for field in ferry_rules::CRC64_JSON_FIELDS {
        if let Some(crc) = value[field].as_u64() {
            value[field] = crc.to_string().into();
        }
    }
    // Present only when there is one: the final URL when the source
    // redirected, S3's CRC-64/NVME when the store took it.
    if let Some(v) = value.as_object_mut() {
        for field in ["final_url", "key", "crc64nvme"] {
            if v.get(field).is_some_and(serde_json::Value::is_null) {
                v.remove(field);
            }
        }
    }
    value
}

/// A WIT enum's name as the WIT spells it (`invalid-input`), from serde's
/// plain form of the generated type (`InvalidInput`).
pub fn wit_name<T: Serialize>(value: &T) -> String {
    let plain = serde_json::to_value(value)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default();
    let mut name = String::new();
    for (i, c) in plain.char_indices() {
        if c.is_ascii_uppercase() && i > 0 {
            name.push('-');
        }
        name.push(c.to_ascii_lowercase());
    }
    name
}

pub use crate::bindings::FailureKind;

/// Why a transfer failed; nothing is left in the store (but the upload
/// named by `upload_id`).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct TransferError {
    /// What kind of failure: it decides the HTTP status ([`Self::http_status`])
    /// and the exit code ([`Self::exit_code`]); in JSON by its WIT name
    /// (`invalid-input`, `source`, `store`, `integrity`, `exhausted`,
    /// `internal`, `stopping`).
    #[serde(serialize_with = "kind_name")]
    pub kind: FailureKind,
    /// What went wrong and what to do.
    pub message: String,
    /// The part concerned, if any.
    pub part_number: Option<u32>,
    /// The upload kept for `--resume` (with `keep_partial`), if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub upload_id: Option<String>,
    /// The HTTP status the source or store answered, when one did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// The store's error code (`NoSuchBucket`, `SlowDown`...), when it gave one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// The store's request id, to quote to its support.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}

fn kind_name<S: serde::Serializer>(kind: &FailureKind, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&wit_name(kind))
}

impl fmt::Display for TransferError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.part_number {
            Some(n) => write!(f, "part {n}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for TransferError {}

impl TransferError {
    /// A failure of `kind`, with no part, upload or store answer attached.
    pub fn new(kind: FailureKind, message: impl Into<String>) -> Self {
        TransferError {
            kind,
            message: message.into(),
            part_number: None,
            upload_id: None,
            status: None,
            code: None,
            request_id: None,
        }
    }

    fn internal(message: impl Into<String>) -> Self {
        Self::new(FailureKind::Internal, message)
    }

    /// Bad input: a value out of range, a URL that is not one.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(FailureKind::InvalidInput, message)
    }

    /// The HTTP status a service answers this failure with.
    pub fn http_status(&self) -> u16 {
        ferry_rules::http_status(&wit_name(&self.kind))
    }

    /// A process exit code for the kind of failure.
    pub fn exit_code(&self) -> i32 {
        ferry_rules::exit_code(&wit_name(&self.kind)).into()
    }
}

/// Credentials for a transfer's store (OSS or S3): the component's own
/// type, read from the environment as the component reads it.
pub use ferry_rules::job::JobArgs;
pub use ferry_rules::Credentials;

/// Whether a target is an S3 one (`s3://`) rather than OSS (`oss://`).
fn is_s3(target: &str) -> bool {
    target.starts_with("s3://")
}

/// A copy from a URL into `oss://bucket/key` or `s3://bucket/key`.
#[derive(Clone, Default)]
pub struct Transfer {
    source: String,
    target: String,
    endpoint: Option<String>,
    region: Option<String>,
    addressing: Option<Addressing>,
    endpoint_kind: Option<EndpointKind>,
    part_size: Option<String>,
    signature: Option<String>,
    credentials: Option<Credentials>,
    profile: Option<String>,
    component: Option<PathBuf>,
    limits: Limits,
    retries: Option<u32>,
    part_timeout: Option<u32>,
    keep_partial: bool,
    resume: Option<String>,
    /// Source headers (name, value); the values are secrets.
    source_headers: Vec<(String, String)>,
    /// The same as `--header` items, checked by [`Transfer::check`].
    header_args: Vec<String>,
    /// Refuse to replace an object that exists (`--no-clobber`).
    no_clobber: bool,
    /// The object's properties; `--meta` items that did not parse stay
    /// in `meta_args` for [`Transfer::check`] to refuse.
    properties: Properties,
    meta_args: Vec<String>,
    ca_bundle: Option<PathBuf>,
    interrupt: Interrupt,
    remote: Remote,
    /// The guest finds the parts in flight, up to `limits.instances`.
    auto_parallel: bool,
    /// The component reads the endpoint and region the builder leaves out
    /// from this process's environment.
    defaults_from_env: bool,
}

/// Where part tasks run, as configured.
#[derive(Clone, Debug, Default)]
enum Remote {
    #[default]
    Local,
    Workers {
        urls: Vec<String>,
        concurrency: u32,
    },
    Fc(FcConfig),
    /// The embedder's own ([`Transfer::part_runner`]).
    Runner(Custom),
}

/// An embedder's [`PartRunner`], shown by name only.
#[derive(Clone)]
struct Custom(Arc<dyn PartRunner>);

impl fmt::Debug for Custom {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PartRunner")
    }
}

/// Tasks one worker runs at once unless told otherwise.
pub const DEFAULT_WORKER_CONCURRENCY: u32 = 8;

impl Transfer {
    pub fn builder() -> Transfer {
        Transfer::default()
    }

    /// The http(s) URL to copy from.
    pub fn source(mut self, url: impl Into<String>) -> Self {
        self.source = url.into();
        self
    }

    /// `oss://BUCKET/KEY` or `s3://BUCKET/KEY`.
    pub fn target(mut self, target: impl Into<String>) -> Self {
        self.target = target.into();
        self
    }

    /// Everything the job's flags say ([`JobArgs`], which `ferry copy`
    /// flattens in): source, target, store, part size, signature, retries,
    /// timeout, keep and resume. A new job flag is mapped here, once.
    pub fn job_args(mut self, args: &JobArgs) -> Self {
        self.source = args.source_url.clone();
        self.target = args.target.clone();
        self.endpoint = args.endpoint.clone();
        self.region = args.region.clone();
        self.addressing = if args.cname {
            Some(Addressing::Cname)
        } else if args.path_style {
            Some(Addressing::Path)
        } else {
            None
        };
        self.endpoint_kind = if args.internal {
            Some(EndpointKind::Internal)
        } else if args.accelerate {
            Some(EndpointKind::Accelerate)
        } else {
            None
        };
        self.part_size = args.part_size.clone();
        self.signature = args.signature.clone();
        self.retries = Some(args.retries);
        self.part_timeout = Some(args.part_timeout);
        self.keep_partial = args.keep_partial;
        self.resume = args.resume.clone();
        self.source_headers = args
            .header
            .iter()
            .filter_map(|h| ferry_rules::job::parse_header(h).ok())
            .collect();
        self.header_args = args.header.clone();
        self.no_clobber = args.no_clobber;
        self.properties = Properties {
            content_type: args.content_type.clone(),
            meta: Vec::new(),
            storage_class: args.storage_class.clone(),
            acl: args.acl.clone(),
            sse: args.sse.clone(),
            sse_kms_key_id: args.sse_kms_key_id.clone(),
            ..Properties::default()
        };
        self.meta_args = args.meta.clone();
        self
    }

    /// Refuse to replace an object that exists at the target
    /// (`--no-clobber`): a HEAD before the upload, and the store's own
    /// guard on completion; refused, the transfer fails as a `conflict`.
    pub fn no_clobber(mut self, yes: bool) -> Self {
        self.no_clobber = yes;
        self
    }

    /// The object's Content-Type (default: the source's).
    pub fn content_type(mut self, value: impl Into<String>) -> Self {
        self.properties.content_type = Some(value.into());
        self
    }

    /// User metadata on the object (`x-oss-meta-NAME`, `x-amz-meta-NAME`);
    /// repeatable.
    pub fn meta(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.meta_args
            .push(format!("{}={}", name.into(), value.into()));
        self
    }

    /// All the object's properties at once (user metadata added to what
    /// [`Transfer::meta`] gives).
    pub fn properties(mut self, properties: Properties) -> Self {
        self.properties = properties;
        self
    }

    /// The object's storage class (OSS `IA`, S3 `STANDARD_IA`...).
    pub fn storage_class(mut self, class: impl Into<String>) -> Self {
        self.properties.storage_class = Some(class.into());
        self
    }

    /// The object's canned ACL (`private`, `public-read`...).
    pub fn acl(mut self, acl: impl Into<String>) -> Self {
        self.properties.acl = Some(acl.into());
        self
    }

    /// Server-side encryption (OSS `AES256`, `KMS`, `SM4`; S3 `AES256`,
    /// `aws:kms`), with the KMS key for KMS.
    pub fn sse(mut self, method: impl Into<String>, kms_key_id: Option<String>) -> Self {
        self.properties.sse = Some(method.into());
        self.properties.sse_kms_key_id = kms_key_id;
        self
    }

    /// The properties as given, checked for the target's store.
    fn checked_properties(&self) -> Result<Properties, TransferError> {
        let mut p = self.properties.clone();
        for m in &self.meta_args {
            p.meta
                .push(ferry_rules::job::parse_meta(m).map_err(TransferError::invalid)?);
        }
        ferry_rules::job::check_properties(is_s3(&self.target), &p).map_err(TransferError::invalid)
    }

    /// A header for every request to the source (`--header`): a cookie, a
    /// token, a referer; repeatable. Sent to the source URL's own origin
    /// only, its value never shown. A malformed one, or one ferry sets
    /// itself (Host, Range, ...), fails the transfer before it starts.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        let (name, value) = (name.into(), value.into());
        self.header_args.push(format!("{name}: {value}"));
        self.source_headers.push((name, value));
        self
    }

    /// The store's endpoint (default `https://oss-REGION.aliyuncs.com`,
    /// `https://s3.REGION.amazonaws.com`).
    pub fn endpoint(mut self, endpoint: impl Into<String>) -> Self {
        self.endpoint = Some(endpoint.into());
        self
    }

    /// Let the component take the endpoint and region, when not given, from
    /// this process's environment as the command line does (`OSS_ENDPOINT`,
    /// `OSS_REGION`; `AWS_ENDPOINT_URL_S3`, `AWS_ENDPOINT_URL`,
    /// `AWS_REGION`, `AWS_DEFAULT_REGION`). Off by default: a library
    /// transfer is what its builder says.
    pub fn defaults_from_env(mut self, yes: bool) -> Self {
        self.defaults_from_env = yes;
        self
    }

    /// How requests name the bucket (`None`: as suits the endpoint).
    pub fn addressing(mut self, addressing: Option<Addressing>) -> Self {
        self.addressing = addressing;
        self
    }

    /// Which default endpoint to use when none is given.
    pub fn endpoint_kind(mut self, kind: EndpointKind) -> Self {
        self.endpoint_kind = Some(kind);
        self
    }

    /// The bucket's region.
    pub fn region(mut self, region: impl Into<String>) -> Self {
        self.region = Some(region.into());
        self
    }

    /// Bytes per part, as a size string (`6MiB`, `64M`, `1048576`).
    pub fn part_size(mut self, size: impl Into<String>) -> Self {
        self.part_size = Some(size.into());
        self
    }

    /// `v1` or `v4` (the default).
    pub fn signature(mut self, version: impl Into<String>) -> Self {
        self.signature = Some(version.into());
        self
    }

    /// Credentials; when not given, the store's chain finds them where its
    /// own tools look ([`crate::credentials::Chain`]), and refreshes
    /// temporary ones during the copy.
    pub fn credentials(mut self, credentials: Credentials) -> Self {
        self.credentials = Some(credentials);
        self
    }

    /// The profile of the credential files the chain reads (`--profile`),
    /// over `AWS_PROFILE` / `ALIBABA_CLOUD_PROFILE`.
    pub fn profile(mut self, profile: Option<String>) -> Self {
        self.profile = profile;
        self
    }

    /// The component to run (default: [`default_component_path`]).
    pub fn component(mut self, path: impl Into<PathBuf>) -> Self {
        self.component = Some(path.into());
        self
    }

    /// Part instances at once, which pins the parts in flight: 1 to
    /// [`crate::limits::MAX_INSTANCES`].
    pub fn instances(mut self, n: u32) -> Self {
        self.limits.instances = n;
        self.auto_parallel = false;
        self
    }

    /// Let the component find the parts in flight as the copy runs (from 4,
    /// growing while throughput rises, backing off when throttled), up to
    /// `cap`; the instance pool is sized to `cap`. Undone by
    /// [`Transfer::instances`].
    pub fn max_parallel(mut self, cap: u32) -> Self {
        self.limits.instances = cap;
        self.auto_parallel = true;
        self
    }

    /// Retries of one part after its first attempt (default 4).
    pub fn retries(mut self, n: u32) -> Self {
        self.retries = Some(n);
        self
    }

    /// Seconds one part may take over all its attempts (default 900).
    pub fn part_timeout(mut self, secs: u32) -> Self {
        self.part_timeout = Some(secs);
        self
    }

    /// Keep the multipart upload on failure, for [`Transfer::resume`].
    pub fn keep_partial(mut self, keep: bool) -> Self {
        self.keep_partial = keep;
        self
    }

    /// Also trust the CA certificates of this PEM file, for a source or
    /// store whose certificate a private CA issued (besides the bundled
    /// roots, the system store, `SSL_CERT_FILE` / `SSL_CERT_DIR` and
    /// `AWS_CA_BUNDLE`). Applies to [`Transfer::run`]; a runtime given to
    /// [`Transfer::run_on`] keeps its own client.
    pub fn ca_bundle(mut self, file: impl Into<PathBuf>) -> Self {
        self.ca_bundle = Some(file.into());
        self
    }

    /// Continue a kept upload: its id, or `""` for the newest of the key.
    pub fn resume(mut self, upload_id: impl Into<String>) -> Self {
        self.resume = Some(upload_id.into());
        self
    }

    /// A handle that stops the transfer when triggered (the upload is then
    /// aborted, or kept with [`Transfer::keep_partial`]).
    pub fn interrupt(&self) -> Interrupt {
        self.interrupt.clone()
    }

    /// All sandbox limits; `instances` is the cap of [`Transfer::max_parallel`]
    /// when that was asked for, and pins the parts in flight otherwise.
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// Run part tasks on these HTTP workers (each serving `POST /parts`:
    /// `ferry serve`, or `wasmtime serve` of the component) instead of
    /// local instances; a task whose worker fails goes to another.
    /// [`Transfer::instances`] still bounds the parts in flight.
    pub fn workers(mut self, urls: Vec<String>) -> Self {
        let concurrency = match self.remote {
            Remote::Workers { concurrency, .. } => concurrency,
            _ => DEFAULT_WORKER_CONCURRENCY,
        };
        self.remote = Remote::Workers { urls, concurrency };
        self
    }

    /// Tasks one worker runs at once (default 8); with [`Transfer::workers`].
    pub fn worker_concurrency(mut self, n: u32) -> Self {
        if let Remote::Workers { concurrency, .. } = &mut self.remote {
            *concurrency = n;
        } else {
            self.remote = Remote::Workers {
                urls: Vec::new(),
                concurrency: n,
            };
        }
        self
    }

    /// Checks the options the host reads before anything runs: a value out
    /// of range or an unknown signature version is `invalid-input` (exit
    /// 2), named as the command line names it. The component checks the
    /// source and the target when the transfer runs ([`Transfer::resolve`]);
    /// [`Transfer::run`] checks the limits as well.
    pub fn check(&self) -> Result<(), TransferError> {
        if let Some(p) = &self.part_size {
            limits::check_part_size(p, is_s3(&self.target))?;
        }
        if let Some(v) = &self.signature {
            limits::check_signature(v)?;
        }
        if let Some(n) = self.retries {
            limits::check_retries(n)?;
        }
        if let Some(secs) = self.part_timeout {
            limits::check_seconds(
                "--part-timeout",
                secs.into(),
                "seconds one part may take over all its attempts",
            )?;
        }
        if let Remote::Workers { concurrency, .. } = &self.remote {
            limits::check_worker_concurrency(*concurrency)?;
        }
        ferry_rules::job::source_headers(&self.header_args, &self.source)
            .map_err(limits::BadOption)?;
        self.checked_properties()?;
        Ok(())
    }

    /// Run part tasks in Function Compute, one synchronous InvokeFunction
    /// per part, instead of local instances.
    pub fn fc(mut self, config: FcConfig) -> Self {
        self.remote = Remote::Fc(config);
        self
    }

    /// Run part tasks on `runner`, the embedder's own [`PartRunner`],
    /// instead of local instances. [`Transfer::instances`] still bounds the
    /// parts in flight.
    pub fn part_runner(mut self, runner: Arc<dyn PartRunner>) -> Self {
        self.remote = Remote::Runner(Custom(runner));
        self
    }

    /// The runner part tasks go to, unless they run on local instances.
    fn remote_runner(&self) -> Result<Option<Arc<dyn PartRunner>>, TransferError> {
        let invalid = TransferError::invalid;
        Ok(match &self.remote {
            Remote::Local => None,
            Remote::Workers { urls, concurrency } => {
                // Workers started with `ferry serve --token` want it back.
                let token = std::env::var("FERRY_WORKER_TOKEN").ok();
                Some(Arc::new(
                    WorkerPool::new(urls, *concurrency)
                        .map_err(invalid)?
                        .with_token(token),
                ))
            }
            Remote::Fc(config) => Some(Arc::new(FcInvoker::new(config.clone()).map_err(invalid)?)),
            Remote::Runner(Custom(runner)) => Some(runner.clone()),
        })
    }

    /// The job handed to the component's typed `run`: the target, endpoint
    /// and region as given (the component resolves what they leave out),
    /// part tasks posted to this host's fan-out.
    fn job(&self) -> Job {
        let (parallel, max_parallel) = if self.auto_parallel {
            (None, Some(self.limits.instances))
        } else {
            (Some(self.limits.instances), None)
        };
        Job {
            source_url: self.source.clone(),
            target_bucket_name: String::new(),
            target_object_name: String::new(),
            target_region: self.region.clone().unwrap_or_default(),
            endpoint: self.endpoint.clone(),
            part_size: self.part_size.as_deref().and_then(limits::parse_size),
            parallel,
            signature_version: self.signature.as_deref().map(|v| {
                if v.trim().eq_ignore_ascii_case("v1") {
                    SignatureVersion::V1
                } else {
                    SignatureVersion::V4
                }
            }),
            fanout_url: Some(fanout_url()),
            retries: self.retries,
            part_timeout: self.part_timeout,
            keep_partial: Some(self.keep_partial),
            resume: self.resume.clone(),
            target_store: None,
            addressing: self.addressing,
            endpoint_kind: self.endpoint_kind,
            max_parallel,
            source_headers: (!self.source_headers.is_empty()).then(|| self.source_headers.clone()),
            no_clobber: self.no_clobber.then_some(true),
            properties: self
                .checked_properties()
                .ok()
                .filter(|p| *p != Properties::default())
                .map(|p| ObjectProperties {
                    content_type: p.content_type,
                    content_disposition: p.content_disposition,
                    content_encoding: p.content_encoding,
                    cache_control: p.cache_control,
                    meta: Some(p.meta).filter(|m| !m.is_empty()),
                    storage_class: p.storage_class,
                    acl: p.acl,
                    sse: p.sse,
                    sse_kms_key_id: p.sse_kms_key_id,
                }),
        }
    }

    /// What the component makes of this transfer before it runs: the job
    /// made whole (target parsed, bucket and key checked, endpoint and
    /// region resolved) and the hosts its instances may reach (the source
    /// and the store endpoint the component will use), on `runtime`.
    pub async fn resolve(&self, runtime: &Arc<Runtime>) -> Result<(Job, Egress), TransferError> {
        self.check()?;
        let env = if self.defaults_from_env {
            std::env::vars().collect()
        } else {
            Vec::new()
        };
        let mut session = EngineSession::open(runtime, &env, Egress::default())
            .await
            .map_err(|e| TransferError::internal(one_line(&format!("{e:#}"))))?;
        let resolved = session
            .resolve(&self.job(), Some(&self.target))
            .await
            .map_err(|e| TransferError::internal(one_line(&format!("{e:#}"))))?
            .map_err(TransferError::from)?;
        let mut egress = Egress::default();
        egress.allow_url(&resolved.job.source_url);
        egress.allow_store(&resolved.endpoint);
        Ok((resolved.job, egress))
    }

    /// Runs the transfer on a runtime loaded for it.
    ///
    /// Dropping the returned future before it is ready (a timeout, a
    /// cancelled task) stops the transfer as [`Transfer::interrupt`] does:
    /// the part instances are stopped and the upload is aborted (kept with
    /// [`Transfer::keep_partial`]) by the coordinator, which finishes that
    /// on a task of the Tokio runtime after the drop; the runtime must live
    /// that long.
    pub async fn run(self, on_event: impl FnMut(Event)) -> Result<Report, TransferError> {
        self.check()?;
        self.limits.check()?;
        let path = self
            .component
            .clone()
            .unwrap_or_else(default_component_path);
        let client = ClientConfig::from_env(AddressPolicy::cli(), self.ca_bundle.as_deref())
            .map_err(TransferError::invalid)?;
        let runtime = Runtime::with_client(&path, self.limits, Arc::new(Client::new(client)))
            .map_err(|e| TransferError::internal(one_line(&format!("{e:#}"))))?;
        self.run_on(&runtime, on_event).await
    }

    /// Runs the transfer on an existing runtime (which fixes the limits).
    /// Dropping the future stops the transfer, as for [`Transfer::run`].
    pub async fn run_on(
        self,
        runtime: &Arc<Runtime>,
        mut on_event: impl FnMut(Event),
    ) -> Result<Report, TransferError> {
        self.check()?;
        let (job, egress) = self.resolve(runtime).await?;
        let s3 = job.target_store == Some(StoreKind::S3);
        let (credentials, refreshing) = match self.credentials.clone() {
            Some(given) => (given, None),
            None => {
                let chain = Chain::new(s3).profile(self.profile.clone());
                let found = chain.resolve().await.map_err(TransferError::invalid)?;
                // Temporary credentials are asked for again as they near
                // their expiry, by the coordinator before it signs.
                let refreshing = found
                    .expires
                    .is_some()
                    .then(|| Arc::new(Refreshing::new(chain, found.clone())));
                (found.credentials, refreshing)
            }
        };
        // The coordinating instance reads them as the store's own tools name them.
        let vars = ferry_rules::credential_vars(s3);
        let mut env = vec![
            (vars.id.to_string(), credentials.access_key_id),
            (vars.secret.to_string(), credentials.access_key_secret),
        ];
        if let Some(t) = credentials.security_token {
            env.push((vars.token[0].to_string(), t));
        }
        if refreshing.is_some() {
            env.push((CREDENTIALS_URL_VAR.to_string(), credentials_url()));
        }
        let runner = match self.remote_runner()? {
            Some(runner) => runner,
            None => Arc::new(LocalInstances::new(
                runtime.clone(),
                Arc::new(egress.clone()),
            )),
        };
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let runtime = runtime.clone();
        let interrupt = self.interrupt.clone();
        let parts_ran_on = runner.clone();
        let coordinator = tokio::spawn(async move {
            runtime
                .run_job_refreshing(
                    &job,
                    &env,
                    egress,
                    Progress(tx),
                    interrupt,
                    runner,
                    refreshing,
                )
                .await
        });
        // The coordinator runs on its own task; if this future is dropped,
        // the guard stops it as Ctrl-C does, and it aborts the upload.
        let guard = StopOnDrop(Some(self.interrupt.clone()));
        // The channel closes when the coordinating instance is gone.
        while let Some(batch) = rx.recv().await {
            for event in batch {
                on_event(on_one_line(event));
            }
        }
        let ran = coordinator
            .await
            .map_err(|e| TransferError::internal(format!("the transfer task failed: {e}")))?;
        guard.disarm();
        parts_ran_on.finished();
        let outcome = ran.map_err(|e| TransferError::internal(one_line(&format!("{e:#}"))))?;
        outcome.map_err(|failure| {
            let failure = TransferError::from(failure);
            match self.interrupt.reason() {
                Some(reason) => interrupted(failure, &reason, self.keep_partial),
                None => failure,
            }
        })
    }
}

impl From<limits::BadOption> for TransferError {
    fn from(e: limits::BadOption) -> Self {
        TransferError::invalid(e.0)
    }
}

impl From<Failure> for TransferError {
    fn from(f: Failure) -> Self {
        TransferError {
            kind: f.kind,
            message: one_line(&f.message),
            part_number: f.part_number,
            upload_id: f.upload_id,
            status: f.status,
            code: f.code,
            request_id: f.request_id,
        }
    }
}

/// The failure of an interrupted transfer, said as such (kind `stopping`):
/// the part that happened to notice first is no part of the story. An upload id in the
/// failure is a kept upload when the job asked to keep it, and otherwise
/// one the coordinator failed to abort.
fn interrupted(failure: TransferError, reason: &str, keep_partial: bool) -> TransferError {
    let upload = match (&failure.upload_id, keep_partial) {
        (None, _) => " and the upload aborted".to_string(),
        (Some(id), true) => {
            format!(" and the upload {id} kept: run the same copy with --resume {id} to finish it")
        }
        (Some(id), false) => format!(
            ", but the upload {id} could not be aborted: its parts remain until it is aborted \
             (or finished with --resume {id}) or a lifecycle rule expires it"
        ),
    };
    TransferError {
        upload_id: failure.upload_id,
        ..TransferError::new(
            FailureKind::Stopping,
            format!(
                "the transfer was interrupted ({reason}); the parts in flight were stopped{upload}"
            ),
        )
    }
}

/// Triggers an interrupt when dropped, unless disarmed: a dropped
/// [`Transfer::run`] stops its coordinator.
struct StopOnDrop(Option<Interrupt>);

impl StopOnDrop {
    fn disarm(mut self) {
        self.0 = None;
    }
}

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        if let Some(interrupt) = self.0.take() {
            if interrupt.reason().is_none() {
                interrupt.trigger("its caller dropped it");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failure(upload_id: Option<&str>) -> TransferError {
        TransferError {
            upload_id: upload_id.map(str::to_string),
            part_number: Some(3),
            ..TransferError::internal("part 3: stopped")
        }
    }

    #[test]
    fn an_interruption_says_what_became_of_the_upload() {
        let aborted = interrupted(failure(None), "SIGINT", false);
        assert_eq!(
            aborted.message,
            "the transfer was interrupted (SIGINT); the parts in flight were stopped and the \
             upload aborted"
        );
        assert_eq!(aborted.part_number, None);
        assert_eq!(aborted.kind, FailureKind::Stopping);
        let kept = interrupted(failure(Some("U1")), "SIGINT", true);
        assert!(
            kept.message
                .ends_with("upload U1 kept: run the same copy with --resume U1 to finish it"),
            "{}",
            kept.message
        );
        let stuck = interrupted(failure(Some("U1")), "SIGTERM", false);
        assert!(
            stuck
                .message
                .contains("but the upload U1 could not be aborted"),
            "{}",
            stuck.message
        );
    }

    /// Workers run the parts through their own runner, the only one that
    /// may reach them.
    #[test]
    fn workers_stay_off_the_instances_egress_list() {
        let t = Transfer::builder()
            .source("http://127.0.0.1:8001/obj")
            .target("oss://b/k")
            .endpoint("http://127.0.0.1:8002")
            .workers(vec!["http://127.0.0.1:8003".into()])
            .worker_concurrency(3);
        let pool = t
            .remote_runner()
            .unwrap()
            .expect("the workers run the parts");
        assert_eq!(pool.capacity(), Some(3));
        let reaches = pool.egress().expect("the pool reaches its workers");
        assert!(reaches.permits(&"http://127.0.0.1:8003/parts".parse().unwrap()));
        assert!(Transfer::builder().remote_runner().unwrap().is_none());
        let bad = Transfer::builder().workers(vec!["not a url".into()]);
        let Err(refused) = bad.remote_runner() else {
            panic!("a worker that is not a URL was taken")
        };
        assert_eq!(refused.kind, FailureKind::InvalidInput);
    }

    /// `instances` pins the parts in flight; `max_parallel` hands the
    /// choice to the component, with the pool sized to the cap.
    #[test]
    fn instances_pin_and_max_parallel_caps() {
        let flag = |t: &Transfer| {
            let job = t.job();
            (job.parallel, job.max_parallel)
        };
        let t = Transfer::builder().target("oss://b/k");
        assert_eq!(flag(&t), (Some(16), None));
        let auto = t.clone().max_parallel(300);
        assert_eq!(flag(&auto), (None, Some(300)));
        assert_eq!(auto.limits.instances, 300);
        let pinned = auto.instances(7);
        assert_eq!(flag(&pinned), (Some(7), None));
    }
}
