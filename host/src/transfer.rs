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

use crate::engine::{Addressing, EndpointKind};
use crate::events::{one_line, Event, EventPipe, Lines};
use crate::fc::{FcConfig, FcInvoker};
use crate::interrupt::Interrupt;
use crate::limits::{self, Limits};
use crate::net::egress::Egress;
use crate::net::outgoing::fanout_url;
use crate::parts::{LocalInstances, PartRunner, WorkerPool};
use crate::runtime::{default_component_path, Runtime};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

/// The verified outcome of a transfer.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Report {
    /// Bytes in the object.
    pub size: u64,
    /// Parts uploaded (0 for an empty object).
    pub parts: u32,
    /// CRC-64/XZ of the object, combined from the part CRCs.
    pub crc64: u64,
    /// The CRC-64 the store reported for the object.
    pub store_crc64: u64,
    /// The CRC-64 the source offered, if it did.
    pub source_crc64: Option<u64>,
    /// The object's ETag.
    pub etag: String,
    /// Part retries needed.
    pub retries: u32,
    /// Parts found in the store on resume and not copied again.
    #[serde(default)]
    pub reused_parts: u32,
    /// Which checks ran, for people (CRC-64 on OSS; MD5 ETags on S3).
    #[serde(default)]
    pub checks: String,
    /// Wall time of the transfer, in seconds.
    pub seconds: f64,
    /// How the parts in flight were chosen (absent for a sequential copy).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parallelism: Option<Parallelism>,
}

/// The parts in flight over a transfer, as the pacer chose them.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Parallelism {
    /// `auto` (found as the copy ran) or `pinned` (`--instances`).
    pub mode: String,
    /// Parts in flight when the copy ended.
    #[serde(rename = "final")]
    pub last: u32,
    /// The most parts it had in flight.
    pub max: u32,
    /// The most it could have had (memory budget, instances, parts).
    pub cap: u32,
    /// Each change of the target (the first and the latest when many).
    pub changes: Vec<PaceChange>,
    /// Changes left out of `changes`.
    #[serde(default)]
    pub changes_dropped: u32,
}

/// One change of the parts in flight.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PaceChange {
    /// Seconds since the parts began.
    pub secs: f64,
    /// Parts in flight from then on.
    pub parallel: u32,
    /// The throughput measured just before, MB/s (10^6 bytes).
    pub mbps: f64,
    /// `start`, `pinned`, `grow`, `knee`, `probe`, `hold`, `throttled` or `cap`.
    pub reason: String,
}

/// Why a transfer failed; nothing is left in the store.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TransferError {
    /// `invalid-input`, `source`, `store`, `integrity`, `exhausted` or `internal`.
    pub kind: String,
    /// What went wrong and what to do.
    pub message: String,
    /// The part concerned, if any.
    #[serde(default)]
    pub part_number: Option<u32>,
    /// The upload kept for `--resume` (with `keep_partial`), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upload_id: Option<String>,
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
    fn internal(message: impl Into<String>) -> Self {
        TransferError {
            kind: "internal".into(),
            message: message.into(),
            part_number: None,
            upload_id: None,
        }
    }

    /// Bad input: a value out of range, a URL that is not one.
    pub fn invalid(message: impl Into<String>) -> Self {
        TransferError {
            kind: "invalid-input".into(),
            ..Self::internal(message)
        }
    }

    /// A process exit code for the kind of failure.
    pub fn exit_code(&self) -> i32 {
        match self.kind.as_str() {
            "invalid-input" => 2,
            "source" => 3,
            "store" => 4,
            "integrity" => 5,
            "exhausted" => 6,
            _ => 70,
        }
    }
}

/// Credentials for a transfer's store (OSS or S3).
#[derive(Clone)]
pub struct Credentials {
    pub access_key_id: String,
    pub access_key_secret: String,
    pub security_token: Option<String>,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Credentials(<redacted>)")
    }
}

impl Credentials {
    /// `OSS_ACCESS_KEY_ID`, `OSS_ACCESS_KEY_SECRET`, `OSS_SESSION_TOKEN`.
    pub fn from_env() -> Option<Credentials> {
        let get = |n: &str| std::env::var(n).ok().filter(|v| !v.is_empty());
        Some(Credentials {
            access_key_id: get("OSS_ACCESS_KEY_ID")?,
            access_key_secret: get("OSS_ACCESS_KEY_SECRET")?,
            security_token: get("OSS_SESSION_TOKEN").or_else(|| get("OSS_SECURITY_TOKEN")),
        })
    }

    /// `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`.
    pub fn from_aws_env() -> Option<Credentials> {
        let get = |n: &str| std::env::var(n).ok().filter(|v| !v.is_empty());
        Some(Credentials {
            access_key_id: get("AWS_ACCESS_KEY_ID")?,
            access_key_secret: get("AWS_SECRET_ACCESS_KEY")?,
            security_token: get("AWS_SESSION_TOKEN"),
        })
    }
}

/// Whether a target is an S3 one (`s3://`) rather than OSS (`oss://`).
fn is_s3(target: &str) -> bool {
    target.starts_with("s3://")
}

/// The endpoint and region the environment gives a target when the flags
/// do not: `OSS_ENDPOINT`, `OSS_REGION` for OSS; `AWS_ENDPOINT_URL_S3`,
/// `AWS_ENDPOINT_URL`, `AWS_REGION`, `AWS_DEFAULT_REGION` for S3, as each
/// store's own tools read them.
pub fn endpoint_and_region_from_env(
    target: &str,
    endpoint: Option<String>,
    region: Option<String>,
) -> (Option<String>, Option<String>) {
    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    if is_s3(target) {
        (
            endpoint
                .or_else(|| env("AWS_ENDPOINT_URL_S3"))
                .or_else(|| env("AWS_ENDPOINT_URL")),
            region
                .or_else(|| env("AWS_REGION"))
                .or_else(|| env("AWS_DEFAULT_REGION")),
        )
    } else {
        (
            endpoint.or_else(|| env("OSS_ENDPOINT")),
            region.or_else(|| env("OSS_REGION")),
        )
    }
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
    component: Option<PathBuf>,
    limits: Limits,
    retries: Option<u32>,
    part_timeout: Option<u32>,
    keep_partial: bool,
    resume: Option<String>,
    interrupt: Interrupt,
    remote: Remote,
    /// The guest finds the parts in flight, up to `limits.instances`.
    auto_parallel: bool,
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

    /// The store's endpoint (default `https://oss-REGION.aliyuncs.com`,
    /// `https://s3.REGION.amazonaws.com`).
    pub fn endpoint(mut self, endpoint: impl Into<String>) -> Self {
        self.endpoint = Some(endpoint.into());
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

    /// Credentials; read from the environment when not given.
    pub fn credentials(mut self, credentials: Credentials) -> Self {
        self.credentials = Some(credentials);
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

    /// Checks every option before anything runs: a value out of range, a
    /// source that is not a URL, an unknown signature version is
    /// `invalid-input` (exit 2), named as the command line names it.
    /// [`Transfer::run`] checks the limits as well.
    pub fn check(&self) -> Result<(), TransferError> {
        if let Err(e) = url::Url::parse(self.source.trim()) {
            return Err(TransferError::invalid(format!(
                "source {:?} is not a URL ({e}): give the whole http:// or https:// URL, e.g. \
                 https://mirror.example.com/big.iso",
                as_typed(&self.source)
            )));
        }
        if let Some(p) = &self.part_size {
            limits::check_part_size(p, is_s3(&self.target)).map_err(TransferError::invalid)?;
        }
        if let Some(v) = &self.signature {
            limits::check_signature(v).map_err(TransferError::invalid)?;
        }
        if let Some(n) = self.retries {
            limits::check_retries(n).map_err(TransferError::invalid)?;
        }
        if let Some(secs) = self.part_timeout {
            limits::check_seconds(
                "--part-timeout",
                secs.into(),
                "seconds one part may take over all its attempts",
            )
            .map_err(TransferError::invalid)?;
        }
        if let Remote::Workers { concurrency, .. } = &self.remote {
            limits::check_worker_concurrency(*concurrency).map_err(TransferError::invalid)?;
        }
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
        let invalid = |message: String| TransferError {
            kind: "invalid-input".into(),
            message,
            part_number: None,
            upload_id: None,
        };
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

    /// The arguments handed to the component's command line.
    fn args(&self) -> Vec<String> {
        let mut args = vec![
            "ferry".to_string(),
            "copy".into(),
            self.source.clone(),
            self.target.clone(),
            "--events".into(),
            "--fanout".into(),
            fanout_url(),
            if self.auto_parallel {
                "--max-parallel".into()
            } else {
                "--parallel".into()
            },
            self.limits.instances.to_string(),
        ];
        let mut opt = |flag: &str, value: &Option<String>| {
            if let Some(v) = value {
                args.push(flag.into());
                args.push(v.clone());
            }
        };
        opt("--endpoint", &self.endpoint);
        opt("--region", &self.region);
        // As bytes and in lower case: the host has read them already.
        let part_size = self
            .part_size
            .as_ref()
            .map(|p| limits::parse_size(p).map_or_else(|| p.clone(), |bytes| bytes.to_string()));
        opt("--part-size", &part_size);
        let signature = self
            .signature
            .as_ref()
            .map(|v| v.trim().to_ascii_lowercase());
        opt("--signature", &signature);
        opt("--retries", &self.retries.map(|n| n.to_string()));
        opt("--part-timeout", &self.part_timeout.map(|n| n.to_string()));
        match self.addressing {
            Some(Addressing::Path) => args.push("--path-style".into()),
            Some(Addressing::Cname) => args.push("--cname".into()),
            Some(Addressing::VirtualHosted) | None => {}
        }
        match self.endpoint_kind.unwrap_or(EndpointKind::Public) {
            EndpointKind::Internal => args.push("--internal".into()),
            EndpointKind::Accelerate => args.push("--accelerate".into()),
            EndpointKind::Public => {}
        }
        if self.keep_partial {
            args.push("--keep-partial".into());
        }
        if let Some(id) = &self.resume {
            // `--resume=` keeps an empty id (the newest upload) unambiguous.
            args.push(format!("--resume={id}"));
        }
        args
    }

    fn egress(&self) -> Egress {
        let mut egress = Egress::default();
        egress.allow_url(&self.source);
        if let Some(e) = self.store_endpoint() {
            egress.allow_store(&e);
        }
        egress
    }

    /// The endpoint the component will use: the one given, or the store's
    /// documented one for the region and kind (as `target.rs` in the
    /// component chooses it).
    fn store_endpoint(&self) -> Option<String> {
        if let Some(e) = &self.endpoint {
            return Some(e.clone());
        }
        if is_s3(&self.target) {
            let region = self.region.as_deref().unwrap_or("us-east-1");
            return Some(match self.endpoint_kind.unwrap_or(EndpointKind::Public) {
                EndpointKind::Accelerate => "https://s3-accelerate.amazonaws.com".into(),
                _ => format!("https://s3.{region}.amazonaws.com"),
            });
        }
        let region = self.region.as_ref()?;
        Some(match self.endpoint_kind.unwrap_or(EndpointKind::Public) {
            EndpointKind::Public => format!("https://oss-{region}.aliyuncs.com"),
            EndpointKind::Internal => format!("https://oss-{region}-internal.aliyuncs.com"),
            EndpointKind::Accelerate => "https://oss-accelerate.aliyuncs.com".into(),
        })
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
        self.limits.check().map_err(TransferError::invalid)?;
        let path = self
            .component
            .clone()
            .unwrap_or_else(default_component_path);
        let runtime = Runtime::new(&path, self.limits)
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
        let s3 = is_s3(&self.target);
        let credentials = self
            .credentials
            .clone()
            .or_else(if s3 {
                Credentials::from_aws_env
            } else {
                Credentials::from_env
            })
            .ok_or_else(|| TransferError {
                kind: "invalid-input".into(),
                message: if s3 {
                    "no S3 credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY \
                     (and AWS_SESSION_TOKEN for temporary credentials)"
                } else {
                    "no OSS credentials: set OSS_ACCESS_KEY_ID and OSS_ACCESS_KEY_SECRET \
                     (and OSS_SESSION_TOKEN for an STS key)"
                }
                .into(),
                part_number: None,
                upload_id: None,
            })?;
        // The coordinating instance reads them as the store's own tools name them.
        let [id, secret, token] = if s3 {
            [
                "AWS_ACCESS_KEY_ID",
                "AWS_SECRET_ACCESS_KEY",
                "AWS_SESSION_TOKEN",
            ]
        } else {
            [
                "OSS_ACCESS_KEY_ID",
                "OSS_ACCESS_KEY_SECRET",
                "OSS_SESSION_TOKEN",
            ]
        };
        let mut env = vec![
            (id.to_string(), credentials.access_key_id),
            (secret.to_string(), credentials.access_key_secret),
        ];
        if let Some(t) = credentials.security_token {
            env.push((token.to_string(), t));
        }
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let args = self.args();
        let egress = self.egress();
        let runner = match self.remote_runner()? {
            Some(runner) => runner,
            None => Arc::new(LocalInstances::new(
                runtime.clone(),
                Arc::new(egress.clone()),
            )),
        };
        let runtime = runtime.clone();
        let interrupt = self.interrupt.clone();
        let parts_ran_on = runner.clone();
        let command = tokio::spawn(async move {
            runtime
                .run_command_with(&args, &env, egress, EventPipe(tx), interrupt, runner)
                .await
        });
        // The coordinator runs on its own task; if this future is dropped,
        // the guard stops it as Ctrl-C does, and it aborts the upload.
        let guard = StopOnDrop(Some(self.interrupt.clone()));
        let mut lines = Lines::default();
        let mut last: Option<serde_json::Value> = None;
        while let Some(bytes) = rx.recv().await {
            for line in lines.push(&bytes) {
                let Ok(value) = serde_json::from_str::<serde_json::Value>(&line) else {
                    continue;
                };
                if value.get("event").is_some() {
                    if let Ok(event) = serde_json::from_value::<Event>(value) {
                        on_event(event.one_line());
                    }
                } else {
                    last = Some(value);
                }
            }
        }
        let ran = command
            .await
            .map_err(|e| TransferError::internal(format!("the transfer task failed: {e}")))?;
        guard.disarm();
        parts_ran_on.finished();
        if let Err(e) = ran {
            return Err(TransferError::internal(one_line(&format!("{e:#}"))));
        }
        let value =
            last.ok_or_else(|| TransferError::internal("the component printed no result"))?;
        if value.get("ok").and_then(|v| v.as_bool()) == Some(true) {
            serde_json::from_value(value)
                .map_err(|e| TransferError::internal(format!("unreadable report: {e}")))
        } else {
            let mut failure: TransferError = serde_json::from_value(value)
                .unwrap_or_else(|e| TransferError::internal(format!("unreadable failure: {e}")));
            failure.message = one_line(&failure.message);
            Err(match self.interrupt.reason() {
                Some(reason) => interrupted(failure, &reason, self.keep_partial),
                None => failure,
            })
        }
    }
}

/// The failure of an interrupted transfer, said as such: the part that
/// happened to notice first is no part of the story. An upload id in the
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
        message: format!(
            "the transfer was interrupted ({reason}); the parts in flight were stopped{upload}"
        ),
        part_number: None,
        ..failure
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

/// A source as it was typed, for a message: its query (which may hold a
/// signature) and any `user:password@` left out.
fn as_typed(source: &str) -> String {
    let end = source.find(['?', '#']).unwrap_or(source.len());
    let shown = &source[..end];
    // `scheme:` then any slashes (URL parsers take `https:/u:p@h` and
    // `https:\\u:p@h` too), then the authority up to the next separator.
    let scheme_end = shown
        .find(':')
        .filter(|&i| {
            let scheme = &shown[..i];
            scheme.starts_with(|c: char| c.is_ascii_alphabetic())
                && scheme
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
        })
        .map_or(0, |i| i + 1);
    let after = &shown[scheme_end..];
    let host_start = scheme_end + (after.len() - after.trim_start_matches(['/', '\\']).len());
    let host_end = shown[host_start..]
        .find(['/', '\\'])
        .map_or(shown.len(), |i| host_start + i);
    let shown = match shown[host_start..host_end].rfind('@') {
        Some(at) => format!("{}{}", &shown[..host_start], &shown[host_start + at + 1..]),
        None => shown.to_string(),
    };
    if end < source.len() {
        format!("{shown}?…")
    } else {
        shown
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_source_as_typed_never_shows_its_password() {
        assert_eq!(as_typed("https://u:p@h/x?t=1"), "https://h/x?…");
        assert_eq!(as_typed("https:/u:pw@h:99999/x"), "https:/h:99999/x");
        assert_eq!(as_typed("https:\\\\u:pw@h/x"), "https:\\\\h/x");
        assert_eq!(as_typed("example.com/big.iso"), "example.com/big.iso");
    }

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

    /// Workers are reached through the fan-out path only: the instances'
    /// egress list still holds just the source and the store.
    #[test]
    fn workers_stay_off_the_instances_egress_list() {
        let t = Transfer::builder()
            .source("http://127.0.0.1:8001/obj")
            .target("oss://b/k")
            .endpoint("http://127.0.0.1:8002")
            .workers(vec!["http://127.0.0.1:8003".into()])
            .worker_concurrency(3);
        let egress = t.egress();
        let ok = |u: &str| egress.permits(&u.parse().unwrap());
        assert!(ok("http://127.0.0.1:8001/obj"));
        assert!(ok("http://127.0.0.1:8002/b/k"));
        assert!(!ok("http://127.0.0.1:8003/parts"));
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
        assert_eq!(refused.kind, "invalid-input");
    }

    /// The instances may reach the endpoint the component will choose for
    /// each store and endpoint kind, and no other.
    #[test]
    fn egress_follows_the_store_endpoint() {
        let permits = |t: Transfer, u: &str| t.egress().permits(&u.parse().unwrap());
        let oss = Transfer::builder()
            .source("https://src.example/obj")
            .target("oss://b/k")
            .region("cn-hangzhou");
        assert!(permits(
            oss.clone(),
            "https://b.oss-cn-hangzhou.aliyuncs.com/k"
        ));
        let internal = oss.clone().endpoint_kind(EndpointKind::Internal);
        assert!(permits(
            internal.clone(),
            "https://b.oss-cn-hangzhou-internal.aliyuncs.com/k"
        ));
        assert!(!permits(
            internal,
            "https://b.oss-cn-hangzhou.aliyuncs.com/k"
        ));
        let accel = oss.endpoint_kind(EndpointKind::Accelerate);
        assert!(permits(accel, "https://b.oss-accelerate.aliyuncs.com/k"));
        let s3 = Transfer::builder()
            .source("https://src.example/obj")
            .target("s3://b/k")
            .region("us-west-2");
        assert!(permits(
            s3.clone(),
            "https://b.s3.us-west-2.amazonaws.com/k"
        ));
        assert!(!permits(s3, "https://b.s3.us-east-1.amazonaws.com/k"));
        let cname = Transfer::builder()
            .target("oss://b/k")
            .endpoint("https://files.example.com")
            .addressing(Some(Addressing::Cname));
        assert!(permits(cname.clone(), "https://files.example.com/k"));
        assert!(cname.args().contains(&"--cname".to_string()));
    }

    /// `instances` pins the parts in flight; `max_parallel` hands the
    /// choice to the component, with the pool sized to the cap.
    #[test]
    fn instances_pin_and_max_parallel_caps() {
        let flag = |t: &Transfer| {
            let args = t.args();
            let i = args.iter().position(|a| a.ends_with("parallel")).unwrap();
            (args[i].clone(), args[i + 1].clone())
        };
        let t = Transfer::builder().target("oss://b/k");
        assert_eq!(flag(&t), ("--parallel".into(), "16".into()));
        let auto = t.clone().max_parallel(300);
        assert_eq!(flag(&auto), ("--max-parallel".into(), "300".into()));
        assert_eq!(auto.limits.instances, 300);
        let pinned = auto.instances(7);
        assert_eq!(flag(&pinned), ("--parallel".into(), "7".into()));
    }
}
