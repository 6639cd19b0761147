//! The wasmtime side: one engine, the component compiled once (and cached as
//! `.cwasm` beside the `.wasm`), pre-instantiated, and stores made to measure
//! for the coordinator and for each part.

use crate::bindings::{EmbedderPre, Failure, Job, Report};
use crate::events::{progress_url, Progress};
use crate::interrupt::Interrupt;
use crate::limits::{ticks, Limits, EPOCH_TICK};
use crate::net::client::{Client, ClientConfig};
use crate::net::egress::Egress;
use crate::net::outgoing::Outgoing;
use crate::parts::fanout::Fanout;
use crate::parts::runner::PartRunner;
use crate::state::State;
use anyhow::{Context as _, Result};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use wasmtime::component::{Component, Linker, ResourceTable};
use wasmtime::{
    Config, Engine, InstanceAllocationStrategy, OptLevel, PoolingAllocationConfig, Store,
    StoreLimitsBuilder,
};
use wasmtime_wasi::WasiCtx;
use wasmtime_wasi_http::p2::bindings::ProxyPre;
use wasmtime_wasi_http::WasiHttpCtx;

/// Set in every instance this host makes ([`ferry_rules::host::VARS`]): its
/// splice works across HTTP bodies, and it answers the CRC-64s of a part
/// body it writes ([`crate::net::body_crc`]), so the component splices
/// parts and hashes none of them.
pub(crate) const HOST_VARS: [(&str, &str); 2] = ferry_rules::host::VARS;

/// The ferry component, ready to instantiate many times.
pub struct Runtime {
    engine: Engine,
    /// The typed `ferry:transfer/engine` exports.
    embedder: EmbedderPre<State>,
    proxy: ProxyPre<State>,
    limits: Limits,
    /// Every instance's outgoing requests, connections pooled across them.
    client: Arc<Client>,
}

impl Runtime {
    /// Loads the component at `wasm` (compiling it, or reading the cached
    /// `.cwasm` beside it) and prepares instances within `limits`.
    pub fn new(wasm: &Path, limits: Limits) -> Result<Arc<Runtime>> {
        Self::with_client(wasm, limits, Arc::new(Client::new(ClientConfig::default())))
    }

    /// As [`Runtime::new`], with outgoing requests sent through `client`
    /// (e.g. one refusing private addresses, for a service).
    pub fn with_client(wasm: &Path, limits: Limits, client: Arc<Client>) -> Result<Arc<Runtime>> {
        let engine = engine(&limits)?;
        let component = load(&engine, wasm)?;
        let mut linker = Linker::<State>::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)
            .map_err(|e| anyhow::anyhow!("{}", error_line(&e)))?;
        wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)
            .map_err(|e| anyhow::anyhow!("{}", error_line(&e)))?;
        let pre = linker
            .instantiate_pre(&component)
            .map_err(|e| anyhow::anyhow!("the component does not link: {}", error_line(&e)))?;
        let embedder = EmbedderPre::new(pre.clone()).map_err(|e| {
            anyhow::anyhow!(
                "the component exports no ferry:transfer/engine: {}",
                error_line(&e)
            )
        })?;
        let proxy = ProxyPre::new(pre).map_err(|e| {
            anyhow::anyhow!(
                "the component exports no wasi:http/incoming-handler: {}",
                error_line(&e)
            )
        })?;
        start_epoch_ticker(&engine);
        Ok(Arc::new(Runtime {
            engine,
            embedder,
            proxy,
            limits,
            client,
        }))
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    pub(crate) fn client(&self) -> &Arc<Client> {
        &self.client
    }

    pub(crate) fn embedder_pre(&self) -> &EmbedderPre<State> {
        &self.embedder
    }

    pub(crate) fn proxy_pre(&self) -> &ProxyPre<State> {
        &self.proxy
    }

    pub(crate) fn store(
        &self,
        wasi: WasiCtx,
        outgoing: Outgoing,
        deadline: std::time::Duration,
    ) -> Store<State> {
        let limits = StoreLimitsBuilder::new()
            .memory_size(self.limits.instance_memory)
            .instances(64)
            .build();
        let mut store = Store::new(
            &self.engine,
            State {
                wasi,
                http: WasiHttpCtx::new(),
                table: ResourceTable::new(),
                outgoing,
                limits,
            },
        );
        store.limiter(|s| &mut s.limits);
        store.set_epoch_deadline(ticks(deadline));
        store.epoch_deadline_trap();
        store
    }

    /// A store for one part task: no credentials, no arguments, egress to
    /// the source and the store only, the part deadline.
    pub(crate) fn part_store(&self, egress: Arc<Egress>) -> Store<State> {
        let wasi = WasiCtx::builder().envs(&HOST_VARS).inherit_stderr().build();
        let outgoing = Outgoing {
            egress,
            fanout: None,
            progress: None,
            credentials: None,
            client: self.client.clone(),
        };
        self.store(wasi, outgoing, self.limits.part_deadline)
    }

    /// Runs a job through the component's typed `run` as a coordinator
    /// whose part tasks go to `runner` (local instances, HTTP workers,
    /// Function Compute or an embedder's own), at most `instances` at once.
    /// `env` holds what the engine reads (the store's credentials);
    /// `progress` receives the progress events; `interrupt` stops the
    /// fan-out. The outer error is the instance's (it could not start, or
    /// trapped), the inner one the engine's.
    pub async fn run_job(
        self: &Arc<Self>,
        job: &Job,
        env: &[(String, String)],
        egress: Egress,
        progress: Progress,
        interrupt: Interrupt,
        runner: Arc<dyn PartRunner>,
    ) -> Result<Result<Report, Failure>> {
        self.run_job_refreshing(job, env, egress, progress, interrupt, runner, None)
            .await
    }

    /// [`Runtime::run_job`] whose coordinator asks `credentials` for fresh
    /// store credentials before it presigns (`env` should hold
    /// [`crate::credentials::CREDENTIALS_URL_VAR`]).
    #[allow(clippy::too_many_arguments)]
    pub async fn run_job_refreshing(
        self: &Arc<Self>,
        job: &Job,
        env: &[(String, String)],
        egress: Egress,
        progress: Progress,
        interrupt: Interrupt,
        runner: Arc<dyn PartRunner>,
        credentials: Option<Arc<crate::credentials::Refreshing>>,
    ) -> Result<Result<Report, Failure>> {
        let egress = Arc::new(egress);
        let fanout = Arc::new(Fanout::new(
            runner,
            self.limits.instances,
            self.limits.part_deadline,
            interrupt,
        ));
        let wasi = WasiCtx::builder()
            .envs(env)
            .envs(&HOST_VARS)
            .inherit_stderr()
            .build();
        let outgoing = Outgoing {
            egress,
            fanout: Some(fanout),
            progress: Some(progress),
            credentials,
            client: self.client.clone(),
        };
        let mut store = self.store(wasi, outgoing, self.limits.job_deadline);
        let engine = self
            .embedder
            .instantiate_async(&mut store)
            .await
            .map_err(|e| anyhow::anyhow!("cannot instantiate the component: {}", error_line(&e)))?;
        engine
            .ferry_transfer_engine()
            .call_run(&mut store, job, Some(&progress_url()))
            .await
            .map_err(|e| anyhow::anyhow!("the coordinating instance trapped: {}", error_line(&e)))
    }
}

/// A wasmtime error on one line for a person: its causes joined by `: `,
/// without the wasm backtrace a trap carries or the native one that
/// `RUST_BACKTRACE` adds. The whole error is logged at debug level.
pub fn error_line(e: &wasmtime::Error) -> String {
    tracing::debug!("{e:?}");
    e.chain()
        .map(|cause| crate::events::one_line(&cause.to_string()))
        .filter(|cause| !cause.is_empty())
        .collect::<Vec<_>>()
        .join(": ")
}

fn engine(limits: &Limits) -> Result<Engine> {
    let mut pool = PoolingAllocationConfig::new();
    // The coordinator, every part instance and a margin for instances still
    // being torn down.
    let instances = limits.instances.saturating_mul(2).saturating_add(4);
    pool.total_component_instances(instances)
        .total_core_instances(instances.saturating_mul(8))
        .total_memories(instances.saturating_mul(2))
        .total_tables(instances.saturating_mul(4))
        .total_stacks(instances)
        .max_memory_size(limits.instance_memory);
    let mut config = Config::new();
    config
        .wasm_component_model(true)
        .epoch_interruption(true)
        .cranelift_opt_level(OptLevel::Speed)
        .allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    Engine::new(&config).map_err(|e| {
        anyhow::anyhow!(
            "cannot reserve memory for {} instances of {} MiB: {}; lower --instances or \
             --instance-memory-mib",
            limits.instances,
            limits.instance_memory >> 20,
            error_line(&e)
        )
    })
}

/// The `.cwasm` cache beside a `.wasm`.
fn cache_path(wasm: &Path) -> PathBuf {
    wasm.with_extension("cwasm")
}

fn load(engine: &Engine, wasm: &Path) -> Result<Component> {
    let cache = cache_path(wasm);
    let modified = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    let wasm_time = modified(wasm).with_context(|| {
        format!(
            "cannot read the component {}; build it with `make wasm` or point --component at it",
            wasm.display()
        )
    })?;
    if modified(&cache).is_some_and(|t| t >= wasm_time) {
        // SAFETY: the cache is written only by this function, from this
        // component, next to it; deserialization also checks that it was
        // compiled by a compatible engine and fails otherwise.
        if let Ok(component) = unsafe { Component::deserialize_file(engine, &cache) } {
            return Ok(component);
        }
    }
    let component = Component::from_file(engine, wasm)
        .map_err(|e| anyhow::anyhow!("cannot compile {}: {}", wasm.display(), error_line(&e)))?;
    if let Ok(bytes) = component.serialize() {
        let tmp = cache.with_extension("cwasm.tmp");
        if std::fs::write(&tmp, bytes).is_ok() {
            let _ = std::fs::rename(&tmp, &cache);
        }
    }
    Ok(component)
}

/// Advances the engine's epoch every [`EPOCH_TICK`] for as long as the
/// engine lives, so deadlines trap instances that spin.
fn start_epoch_ticker(engine: &Engine) {
    let weak = engine.weak();
    std::thread::Builder::new()
        .name("ferry-epoch".into())
        .spawn(move || loop {
            std::thread::sleep(EPOCH_TICK);
            match weak.upgrade() {
                Some(engine) => engine.increment_epoch(),
                None => break,
            }
        })
        .expect("the epoch thread starts");
}

/// Where the component is looked for when none is named: `FERRY_COMPONENT`,
/// then `ferry.wasm` beside the executable or one folder up (the layout of
/// `target/release/ferry` and `target/ferry.wasm`).
pub fn default_component_path() -> PathBuf {
    if let Some(p) = std::env::var_os("FERRY_COMPONENT") {
        return PathBuf::from(p);
    }
    let exe = std::env::current_exe().ok();
    let dir = exe.as_deref().and_then(Path::parent);
    let candidates = [
        dir.map(|d| d.join("ferry.wasm")),
        dir.and_then(Path::parent).map(|d| d.join("ferry.wasm")),
    ];
    candidates
        .into_iter()
        .flatten()
        .find(|p| p.exists())
        .unwrap_or_else(|| PathBuf::from("target/ferry.wasm"))
}
