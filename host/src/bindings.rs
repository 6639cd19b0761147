//! The component's WIT types and bindings, generated from `wit/` by
//! wasmtime's `bindgen!`: the one definition of the job, the report, the
//! failure and the progress events on the host's side. Imports nothing from
//! the crate, so every module can use it.

mod generated {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "ferry:transfer/embedder",
        exports: { default: async },
        // The progress events cross from the coordinating instance as
        // bytes: serde's plain form of these types, as the guest derives it.
        additional_derives: [serde::Serialize, serde::Deserialize, PartialEq],
    });
}

pub(crate) use generated::{Embedder, EmbedderPre};

pub use generated::exports::ferry::transfer::engine::{
    Addressing, EndpointKind, Failure, FailureKind, Job, Note, ObjectProperties, PaceChange,
    Parallelism, PartDone, PartResult, PartTask, Planned, ProgressEvent, Report, Resolved,
    Retrying, SignatureVersion, SourceInfo, StoreKind, UploadPlan,
};
