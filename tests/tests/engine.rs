//! The typed `ferry:transfer/engine` exports, driven as an embedder would:
//! plan, presign every part, copy each (here, in the session's instance),
//! complete; the object is read back and compared with the source. And a
//! plan whose parts are never copied is aborted, leaving nothing; so is a
//! [`ferry_host::Transfer`] whose future is dropped mid-copy.

mod bed;

use bed::{component, key, Bed, REGION};
use ferry_host::engine::{EngineSession, Job, SignatureVersion};
use ferry_host::{Credentials, Egress, Limits, Runtime, Transfer};
use ferry_testbed::source::SourceConfig;
use std::time::{Duration, Instant};

const BUCKET: &str = "ferry-engine";

fn job(bed: &Bed, seed: u64, size: u64, object: &str) -> Job {
    Job {
        source_url: bed.source.url(seed, size),
        target_bucket_name: BUCKET.into(),
        target_object_name: object.into(),
        target_region: REGION.into(),
        endpoint: Some(bed.store.endpoint()),
        part_size: Some(1 << 20),
        parallel: None,
        signature_version: Some(SignatureVersion::V4),
        fanout_url: None,
        retries: None,
        part_timeout: None,
        keep_partial: None,
        resume: None,
        target_store: None,
        addressing: None,
        endpoint_kind: None,
        max_parallel: None,
        source_headers: None,
        no_clobber: None,
        properties: None,
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_embedder_drives_plan_copy_part_and_complete() {
    let source = SourceConfig {
        crc_header: true,
        ..SourceConfig::default()
    };
    let bed = Bed::start(
        "engine",
        BUCKET,
        source,
        vec![key("engine-key", "engine-secret")],
        true,
    );
    let runtime = Runtime::new(&component(), Limits::default()).unwrap();
    let env = [
        ("OSS_ACCESS_KEY_ID".to_string(), "engine-key".to_string()),
        (
            "OSS_ACCESS_KEY_SECRET".to_string(),
            "engine-secret".to_string(),
        ),
    ];
    let mut egress = Egress::default();
    egress
        .allow_url(&bed.source.url(0, 0))
        .allow_store(&bed.store.endpoint());
    let mut session = EngineSession::open(&runtime, &env, egress.clone())
        .await
        .unwrap();

    let (seed, size) = (91, 3 * (1 << 20) + 77);
    let job = job(&bed, seed, size, "engine.bin");
    let plan = session.plan(&job).await.unwrap().unwrap();
    assert_eq!(plan.part_count, 4);
    let mut parts = Vec::new();
    for n in 1..=plan.part_count {
        let task = session.presign_part(&job, &plan, n).await.unwrap().unwrap();
        assert!(!serde_json::to_string(&task.upload_url)
            .unwrap()
            .contains("engine-secret"));
        parts.push(session.copy_part(&task).await.unwrap().unwrap());
    }
    let report = session
        .complete(&job, &plan, &parts)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(report.size, size);
    assert_eq!(Some(report.crc64), report.source_crc64);
    bed.check_copied(seed, size, "engine.bin").unwrap();

    // A plan abandoned by its embedder: abort leaves nothing.
    let job = job_for_abort(&bed);
    let plan = session.plan(&job).await.unwrap().unwrap();
    let upload_id = plan.upload_id.clone().unwrap();
    assert_eq!(bed.store.open_uploads(BUCKET).len(), 1);
    session.abort(&job, &upload_id).await.unwrap().unwrap();
    bed.check_no_upload().unwrap();
    assert!(bed.store.object(BUCKET, "abandoned.bin").is_none());
}

fn job_for_abort(bed: &Bed) -> Job {
    job(bed, 92, 5 << 20, "abandoned.bin")
}

/// Dropping the future of `Transfer::run` mid-copy (here by a timeout)
/// stops the transfer as Ctrl-C does: the part instances stop and the
/// upload is aborted, so the store is left with no upload and no object.
#[tokio::test(flavor = "multi_thread")]
async fn a_dropped_transfer_aborts_its_upload() {
    // 1 MiB/s a connection, 1 MiB parts, 4 at once: 40 parts take 10 s.
    let source = SourceConfig {
        rate_limit: Some(1 << 20),
        ..SourceConfig::default()
    };
    let bed = Bed::start(
        "engine-drop",
        BUCKET,
        source,
        vec![key("engine-key", "engine-secret")],
        false,
    );
    // Compiled (and cached) before the clock starts.
    drop(Runtime::new(&component(), Limits::default()).unwrap());
    let transfer = Transfer::builder()
        .source(bed.source.url(93, 40 << 20))
        .target(format!("oss://{BUCKET}/dropped.bin"))
        .endpoint(bed.store.endpoint())
        .region(REGION)
        .part_size("1MiB")
        .instances(4)
        .component(component())
        .credentials(Credentials {
            access_key_id: "engine-key".into(),
            access_key_secret: "engine-secret".into(),
            security_token: None,
        });
    let outcome = tokio::time::timeout(Duration::from_secs(4), transfer.run(|_| {})).await;
    assert!(
        outcome.is_err(),
        "the copy ended before the timeout: {outcome:?}"
    );
    let counts = bed.store.counts();
    assert!(
        counts.upload_part >= 2 && bed.store.open_uploads(BUCKET).len() == 1,
        "the copy was not under way when dropped: {counts:?}"
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    while !bed.store.open_uploads(BUCKET).is_empty() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    bed.check_no_upload().unwrap();
    assert!(
        bed.store.object(BUCKET, "dropped.bin").is_none(),
        "the dropped copy completed its object"
    );
    assert!(
        bed.store.counts().abort >= 1,
        "the upload was never aborted"
    );
}
