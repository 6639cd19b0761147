//! `ferry copy --dry-run`: the copy's plan without the copy. The component
//! plans as it would for the copy (it probes the source, chooses the part
//! size, and starts the multipart upload, which proves the credentials may
//! write to the bucket), then aborts that upload at once: nothing is
//! uploaded and no upload is left behind.

use ferry_host::credentials::Chain;
use ferry_host::engine::{EngineSession, Job, StoreKind, UploadPlan};
use ferry_host::transfer::FailureKind;
use ferry_host::{Runtime, Transfer, TransferError};
use std::sync::Arc;

/// The job as the copy would run it, and its plan.
pub struct DryRun {
    pub job: Job,
    pub plan: UploadPlan,
}

/// Plans `transfer` on `runtime` with the credentials the chain finds
/// (`profile`), and aborts the upload the plan started.
pub async fn plan(
    transfer: &Transfer,
    runtime: &Arc<Runtime>,
    profile: Option<String>,
) -> Result<DryRun, TransferError> {
    let (mut job, egress) = transfer.resolve(runtime).await?;
    // A dry run of a resume plans afresh: the kept upload is not touched.
    job.resume = None;
    let s3 = job.target_store == Some(StoreKind::S3);
    let found = Chain::new(s3)
        .profile(profile)
        .resolve()
        .await
        .map_err(TransferError::invalid)?;
    let vars = ferry_rules::credential_vars(s3);
    let credentials = found.credentials;
    let mut env = vec![
        (vars.id.to_string(), credentials.access_key_id),
        (vars.secret.to_string(), credentials.access_key_secret),
    ];
    if let Some(token) = credentials.security_token {
        env.push((vars.token[0].to_string(), token));
    }
    let mut session = EngineSession::open(runtime, &env, egress)
        .await
        .map_err(|e| internal(&e))?;
    let plan = session
        .plan(&job)
        .await
        .map_err(|e| internal(&e))?
        .map_err(TransferError::from)?;
    if let Some(id) = &plan.upload_id {
        session
            .abort(&job, id)
            .await
            .map_err(|e| internal(&e))?
            .map_err(TransferError::from)?;
    }
    Ok(DryRun { job, plan })
}

/// An instance's failure (a trap, a component that does not load) as an
/// internal error of one line.
pub fn internal(e: &anyhow::Error) -> TransferError {
    TransferError::new(FailureKind::Internal, format!("{e:#}").replace('\n', " "))
}
