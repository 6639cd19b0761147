//! ferry's transfer engine, built as a WebAssembly component.
//!
//! Everything that decides how a transfer goes lives here, so the one
//! `ferry.wasm` behaves the same under the ferry host, `wasmtime run`,
//! `wasmtime serve` or any other WASI 0.2 runtime with `wasi:http`:
//!
//! - [`plan`]: probe the source, choose the part size, initiate the upload;
//! - [`sign`]: OSS V1 and V4 and S3 SigV4 request signing and presigned URLs;
//! - [`store`]: the OSS and S3 operations, signed and checked;
//! - [`copy_part`]: ranged GET streamed into UploadPart, CRC-64 checked;
//! - [`server_copy`]: parts copied inside the store (UploadPartCopy);
//! - [`schedule`]: parts in flight, in this instance or fanned out;
//! - [`pacing`]: how many parts are in flight, decided as the copy runs;
//! - [`complete`]: combine part CRCs, verify, complete or abort.
//!
//! The component exports three faces over that core: `wasi:cli/run`
//! ([`cli`]), `wasi:http/incoming-handler` ([`service`]) and the typed
//! `ferry:transfer/engine` interface.

#![allow(clippy::too_many_arguments)]

pub mod backoff;
pub mod cli;
pub mod complete;
pub mod copy_part;
pub mod crc;
pub mod error;
pub mod events;
pub mod http;
pub mod pacing;
pub mod plan;
pub mod post_part;
pub mod presign;
pub mod resume;
pub mod retry;
pub mod runtime;
pub mod schedule;
pub mod sequential;
pub mod server_copy;
pub mod service;
pub mod sign;
pub mod size;
pub mod source;
pub mod store;
pub mod target;
pub mod transfer;
pub mod xml;

wit_bindgen::generate!({
    path: "../wit",
    world: "ferry:transfer/ferry",
    generate_all,
    // The progress events cross as bytes, not through a function.
    generate_unused_types: true,
    additional_type_attributes: {
        "ferry:transfer/engine@0.1.0/job": [#[derive(serde::Serialize, serde::Deserialize)]],
        "ferry:transfer/engine@0.1.0/upload-plan": [#[derive(serde::Serialize, serde::Deserialize)]],
        "ferry:transfer/engine@0.1.0/source-info": [#[derive(serde::Serialize, serde::Deserialize)]],
        "ferry:transfer/engine@0.1.0/object-properties": [#[derive(serde::Serialize, serde::Deserialize, Default, PartialEq)]],
        "ferry:transfer/engine@0.1.0/part-task": [#[derive(serde::Serialize, serde::Deserialize)]],
        "ferry:transfer/engine@0.1.0/part-result": [#[derive(serde::Serialize, serde::Deserialize)]],
        "ferry:transfer/engine@0.1.0/report": [#[derive(serde::Serialize, serde::Deserialize)]],
        "ferry:transfer/engine@0.1.0/failure": [#[derive(serde::Serialize, serde::Deserialize)]],
        "ferry:transfer/engine@0.1.0/failure-kind": [#[derive(serde::Serialize, serde::Deserialize)] #[serde(rename_all = "kebab-case")]],
        "ferry:transfer/engine@0.1.0/signature-version": [#[derive(serde::Serialize, serde::Deserialize)] #[serde(rename_all = "lowercase")]],
        "ferry:transfer/engine@0.1.0/store-kind": [#[derive(serde::Serialize, serde::Deserialize)] #[serde(rename_all = "lowercase")]],
        "ferry:transfer/engine@0.1.0/addressing": [#[derive(serde::Serialize, serde::Deserialize)] #[serde(rename_all = "kebab-case")]],
        "ferry:transfer/engine@0.1.0/endpoint-kind": [#[derive(serde::Serialize, serde::Deserialize)] #[serde(rename_all = "kebab-case")]],
        "ferry:transfer/engine@0.1.0/part-check": [#[derive(serde::Serialize, serde::Deserialize)] #[serde(rename_all = "kebab-case")]],
        "ferry:transfer/engine@0.1.0/parallelism": [#[derive(serde::Serialize, serde::Deserialize)]],
        // Progress crosses to the host as serde's plain form of these types,
        // the form the host's bindings derive too: no attributes here.
        "ferry:transfer/engine@0.1.0/pace-change": [#[derive(serde::Serialize, serde::Deserialize)]],
        "ferry:transfer/engine@0.1.0/planned": [#[derive(serde::Serialize, serde::Deserialize)]],
        "ferry:transfer/engine@0.1.0/part-done": [#[derive(serde::Serialize, serde::Deserialize)]],
        "ferry:transfer/engine@0.1.0/note": [#[derive(serde::Serialize, serde::Deserialize)]],
        "ferry:transfer/engine@0.1.0/retrying": [#[derive(serde::Serialize, serde::Deserialize)]],
        "ferry:transfer/engine@0.1.0/progress-event": [#[derive(serde::Serialize, serde::Deserialize)]],
    },
    additional_member_attributes: {
        "ferry:transfer/engine@0.1.0/job.endpoint": [#[serde(default, skip_serializing_if = "Option::is_none")]],
        "ferry:transfer/engine@0.1.0/job.part-size": [#[serde(default, skip_serializing_if = "Option::is_none")]],
        "ferry:transfer/engine@0.1.0/job.parallel": [#[serde(default, skip_serializing_if = "Option::is_none")]],
        "ferry:transfer/engine@0.1.0/job.signature-version": [#[serde(default, skip_serializing_if = "Option::is_none")]],
        "ferry:transfer/engine@0.1.0/job.fanout-url": [#[serde(default, skip_serializing_if = "Option::is_none")]],
        "ferry:transfer/engine@0.1.0/job.retries": [#[serde(default, skip_serializing_if = "Option::is_none")]],
        "ferry:transfer/engine@0.1.0/job.part-timeout": [#[serde(default, skip_serializing_if = "Option::is_none")]],
        "ferry:transfer/engine@0.1.0/job.keep-partial": [#[serde(default, skip_serializing_if = "Option::is_none")]],
        "ferry:transfer/engine@0.1.0/job.resume": [#[serde(default, skip_serializing_if = "Option::is_none")]],
        "ferry:transfer/engine@0.1.0/job.target-store": [#[serde(default, skip_serializing_if = "Option::is_none")]],
        "ferry:transfer/engine@0.1.0/job.addressing": [#[serde(default, skip_serializing_if = "Option::is_none")]],
        "ferry:transfer/engine@0.1.0/job.endpoint-kind": [#[serde(default, skip_serializing_if = "Option::is_none")]],
        "ferry:transfer/engine@0.1.0/job.max-parallel": [#[serde(default, skip_serializing_if = "Option::is_none")]],
        "ferry:transfer/engine@0.1.0/job.source-headers": [#[serde(default, skip_serializing_if = "Option::is_none")]],
        "ferry:transfer/engine@0.1.0/job.no-clobber": [#[serde(default, skip_serializing_if = "Option::is_none")]],
        "ferry:transfer/engine@0.1.0/job.properties": [#[serde(default, skip_serializing_if = "Option::is_none")]],
        "ferry:transfer/engine@0.1.0/object-properties.content-type": [#[serde(default, skip_serializing_if = "Option::is_none")]],
        "ferry:transfer/engine@0.1.0/object-properties.content-disposition": [#[serde(default, skip_serializing_if = "Option::is_none")]],
        "ferry:transfer/engine@0.1.0/object-properties.content-encoding": [#[serde(default, skip_serializing_if = "Option::is_none")]],
        "ferry:transfer/engine@0.1.0/object-properties.cache-control": [#[serde(default, skip_serializing_if = "Option::is_none")]],
        "ferry:transfer/engine@0.1.0/object-properties.meta": [#[serde(default, skip_serializing_if = "Option::is_none")]],
        "ferry:transfer/engine@0.1.0/object-properties.storage-class": [#[serde(default, skip_serializing_if = "Option::is_none")]],
        "ferry:transfer/engine@0.1.0/object-properties.acl": [#[serde(default, skip_serializing_if = "Option::is_none")]],
        "ferry:transfer/engine@0.1.0/object-properties.sse": [#[serde(default, skip_serializing_if = "Option::is_none")]],
        "ferry:transfer/engine@0.1.0/object-properties.sse-kms-key-id": [#[serde(default, skip_serializing_if = "Option::is_none")]],
        "ferry:transfer/engine@0.1.0/part-task.check": [#[serde(default, skip_serializing_if = "Option::is_none")]],
        "ferry:transfer/engine@0.1.0/part-task.source-crc64": [#[serde(default, skip_serializing_if = "Option::is_none")]],
        "ferry:transfer/engine@0.1.0/part-task.copy-source": [#[serde(default, skip_serializing_if = "Option::is_none")]],
        "ferry:transfer/engine@0.1.0/part-task.upload-headers": [#[serde(default, skip_serializing_if = "Option::is_none")]],
        "ferry:transfer/engine@0.1.0/part-task.source-headers": [#[serde(default, skip_serializing_if = "Option::is_none")]],
        "ferry:transfer/engine@0.1.0/upload-plan.store-source": [#[serde(default, skip_serializing_if = "Option::is_none")]],
        "ferry:transfer/engine@0.1.0/upload-plan.server-side": [#[serde(default)]],
        "ferry:transfer/engine@0.1.0/part-result.md5": [#[serde(default, skip_serializing_if = "Option::is_none")]],
        "ferry:transfer/engine@0.1.0/part-result.crc64nvme": [#[serde(default, skip_serializing_if = "Option::is_none")]],
        "ferry:transfer/engine@0.1.0/upload-plan.check": [#[serde(default, skip_serializing_if = "Option::is_none")]],
        "ferry:transfer/engine@0.1.0/report.crc64nvme": [#[serde(default, skip_serializing_if = "Option::is_none")]],
        "ferry:transfer/engine@0.1.0/report.checks": [#[serde(default)]],
        "ferry:transfer/engine@0.1.0/failure.upload-id": [#[serde(default, skip_serializing_if = "Option::is_none")]],
        "ferry:transfer/engine@0.1.0/failure.part-number": [#[serde(default)]],
        "ferry:transfer/engine@0.1.0/report.reused-parts": [#[serde(default)]],
        "ferry:transfer/engine@0.1.0/report.seconds": [#[serde(default)]],
        "ferry:transfer/engine@0.1.0/report.parallelism": [#[serde(default, skip_serializing_if = "Option::is_none")]],
        "ferry:transfer/engine@0.1.0/report.final-url": [#[serde(default, skip_serializing_if = "Option::is_none")]],
        "ferry:transfer/engine@0.1.0/report.key": [#[serde(default, skip_serializing_if = "Option::is_none")]],
        "ferry:transfer/engine@0.1.0/parallelism.last": [#[serde(rename = "final")]],
        "ferry:transfer/engine@0.1.0/parallelism.changes-dropped": [#[serde(default)]],
        "ferry:transfer/engine@0.1.0/failure.status": [#[serde(default, skip_serializing_if = "Option::is_none")]],
        "ferry:transfer/engine@0.1.0/failure.code": [#[serde(default, skip_serializing_if = "Option::is_none")]],
        "ferry:transfer/engine@0.1.0/failure.request-id": [#[serde(default, skip_serializing_if = "Option::is_none")]],
    },
});

pub use exports::ferry::transfer::engine::{
    Addressing, EndpointKind, Failure, FailureKind, Job, Note, ObjectProperties, PaceChange,
    Parallelism, PartCheck, PartDone, PartResult, PartTask, Planned, ProgressEvent, Report,
    Resolved, Retrying, SignatureVersion, SourceInfo, StoreKind, UploadPlan as Plan,
};

struct Component;

impl exports::wasi::cli::run::Guest for Component {
    fn run() -> Result<(), ()> {
        cli::main()
    }
}

impl exports::wasi::http::incoming_handler::Guest for Component {
    fn handle(
        request: wasi::http::types::IncomingRequest,
        response_out: wasi::http::types::ResponseOutparam,
    ) {
        service::handle(request, response_out)
    }
}

impl exports::ferry::transfer::engine::Guest for Component {
    fn plan(job: Job) -> Result<Plan, Failure> {
        source::use_headers(&job);
        runtime::block_on(plan::plan(&job)).map_err(Into::into)
    }

    fn presign_part(job: Job, plan: Plan, part_number: u32) -> Result<PartTask, Failure> {
        let store = store::Store::from_job(&job)?;
        presign::part_task(&job, &store, &plan, part_number).map_err(Into::into)
    }

    fn copy_part(task: PartTask) -> Result<PartResult, Failure> {
        runtime::block_on(copy_part::copy_part(&task)).map_err(Into::into)
    }

    fn complete(job: Job, plan: Plan, parts: Vec<PartResult>) -> Result<Report, Failure> {
        runtime::block_on(complete::complete(&job, &plan, parts, 0, 0)).map_err(Into::into)
    }

    fn abort(job: Job, upload_id: String) -> Result<(), Failure> {
        let store = store::Store::from_job(&job)?;
        runtime::block_on(store.abort(&job.target_object_name, &upload_id)).map_err(Into::into)
    }

    fn run(job: Job, progress_url: Option<String>) -> Result<Report, Failure> {
        let mut sink = match progress_url {
            Some(url) => events::Sink::post(url),
            None => events::Sink::Quiet,
        };
        let outcome = transfer(&job, &mut sink);
        sink.flush();
        outcome.map_err(Into::into)
    }

    fn resolve(job: Job, target: Option<String>) -> Result<Resolved, Failure> {
        target::resolve(job, target.as_deref()).map_err(Into::into)
    }
}

/// Runs a whole transfer, timed, with progress to `sink`: what the command
/// line and the typed `run` both do.
pub fn transfer(job: &Job, sink: &mut events::Sink) -> error::Result<Report> {
    let started = std::time::Instant::now();
    source::use_headers(job);
    // The parts read the URL the source's redirects led to.
    let ((mut report, pacing), final_url) = runtime::block_on(transfer::run_redirected(job, sink))?;
    report.final_url = final_url;
    report.seconds = started.elapsed().as_secs_f64();
    report.parallelism = pacing.as_ref().map(events::parallelism);
    Ok(report)
}

// Native builds (unit tests) export nothing: their linker cannot name
// component exports.
#[cfg(target_arch = "wasm32")]
export!(Component);
