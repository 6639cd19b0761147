//! The typed `ferry:transfer/engine` exports, for embedders who drive a
//! transfer step by step (plan, presign each part, copy parts wherever they
//! like, complete or abort) instead of letting [`crate::Transfer`] schedule
//! it. Each [`EngineSession`] is one instance of the component, with the
//! credentials and the egress list it was given.

pub use crate::bindings::{
    Addressing, EndpointKind, Failure, FailureKind, Job, Note, PaceChange, Parallelism, PartDone,
    PartResult, PartTask, Planned, ProgressEvent, Report, Resolved, Retrying, SignatureVersion,
    SourceInfo, StoreKind, UploadPlan,
};

use crate::bindings::Embedder;
use crate::net::egress::Egress;
use crate::net::outgoing::Outgoing;
use crate::runtime::Runtime;
use crate::state::State;
use anyhow::Result;
use std::sync::Arc;
use wasmtime::Store;
use wasmtime_wasi::WasiCtx;

/// One instance of the component, called through its typed engine.
pub struct EngineSession {
    store: Store<State>,
    engine: Embedder,
}

impl EngineSession {
    /// A fresh instance of `runtime`'s component for typed engine calls.
    /// `env` holds what the engine reads (`OSS_ACCESS_KEY_ID`,
    /// `OSS_ACCESS_KEY_SECRET`, `OSS_SESSION_TOKEN`); `egress` the hosts it
    /// may reach.
    pub async fn open(
        runtime: &Arc<Runtime>,
        env: &[(String, String)],
        egress: Egress,
    ) -> Result<EngineSession> {
        let wasi = WasiCtx::builder()
            .envs(env)
            .envs(&crate::runtime::HOST_VARS)
            .inherit_stderr()
            .build();
        let outgoing = Outgoing {
            egress: Arc::new(egress),
            fanout: None,
            progress: None,
            credentials: None,
            client: runtime.client().clone(),
        };
        let mut store = runtime.store(wasi, outgoing, runtime.limits().job_deadline);
        let engine = runtime
            .embedder_pre()
            .instantiate_async(&mut store)
            .await
            .map_err(|e| {
                anyhow::anyhow!(
                    "cannot instantiate the component: {}",
                    crate::runtime::error_line(&e)
                )
            })?;
        Ok(EngineSession { store, engine })
    }
}

/// The outer `Result` is the instance's (a trap); the inner one the engine's.
type Call<T> = Result<Result<T, Failure>>;

fn trapped(e: wasmtime::Error) -> anyhow::Error {
    anyhow::anyhow!(
        "the engine's instance trapped: {}",
        crate::runtime::error_line(&e)
    )
}

impl EngineSession {
    /// Probes the source, chooses the part size, initiates the upload.
    pub async fn plan(&mut self, job: &Job) -> Call<UploadPlan> {
        let e = self.engine.ferry_transfer_engine();
        e.call_plan(&mut self.store, job).await.map_err(trapped)
    }

    /// The presigned task for one part: safe to hand to any machine.
    pub async fn presign_part(
        &mut self,
        job: &Job,
        plan: &UploadPlan,
        part_number: u32,
    ) -> Call<PartTask> {
        let e = self.engine.ferry_transfer_engine();
        e.call_presign_part(&mut self.store, job, plan, part_number)
            .await
            .map_err(trapped)
    }

    /// Copies one part in this instance, CRC-64 checked.
    pub async fn copy_part(&mut self, task: &PartTask) -> Call<PartResult> {
        let e = self.engine.ferry_transfer_engine();
        e.call_copy_part(&mut self.store, task)
            .await
            .map_err(trapped)
    }

    /// Verifies the combined CRC-64 and completes (or aborts on a mismatch).
    pub async fn complete(
        &mut self,
        job: &Job,
        plan: &UploadPlan,
        parts: &[PartResult],
    ) -> Call<Report> {
        let e = self.engine.ferry_transfer_engine();
        e.call_complete(&mut self.store, job, plan, parts)
            .await
            .map_err(trapped)
    }

    /// The job made whole as the component's command line makes it (the
    /// target parsed, the endpoint and region from the environment the
    /// session was given, the bucket and key checked) and the store
    /// endpoint it will use.
    pub async fn resolve(&mut self, job: &Job, target: Option<&str>) -> Call<Resolved> {
        let e = self.engine.ferry_transfer_engine();
        e.call_resolve(&mut self.store, job, target)
            .await
            .map_err(trapped)
    }

    /// Aborts an upload.
    pub async fn abort(&mut self, job: &Job, upload_id: &str) -> Call<()> {
        let e = self.engine.ferry_transfer_engine();
        e.call_abort(&mut self.store, job, upload_id)
            .await
            .map_err(trapped)
    }
}
