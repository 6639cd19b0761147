//! Where parts run is the embedder's to choose: a [`PartRunner`] of its own,
//! given to [`Transfer::part_runner`], receives every part task of the
//! transfer. Here it counts the parts by number and runs each on ferry's
//! own local instances; the object must be whole and every part must have
//! gone through it.

mod bed;

use bed::{component, key, Bed, REGION};
use ferry_host::parts::RunFuture;
use ferry_host::{
    Credentials, Egress, Limits, LocalInstances, PartRunner, PartTask, Runtime, Transfer,
};
use ferry_testbed::source::SourceConfig;
use std::sync::{Arc, Mutex};

const BUCKET: &str = "ferry-runner";

/// An embedder's runner: notes each part number, then hands the task on.
struct Counting {
    inner: LocalInstances,
    parts: Mutex<Vec<u64>>,
}

impl PartRunner for Counting {
    fn run(&self, task: PartTask) -> RunFuture<'_> {
        let number = task.part_number().expect("a part task names its part");
        self.parts.lock().unwrap().push(number);
        self.inner.run(task)
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_embedders_runner_runs_every_part() {
    let bed = Bed::start(
        "part-runner",
        BUCKET,
        SourceConfig::default(),
        vec![key("runner-key", "runner-secret")],
        true,
    );
    let (seed, size) = (95, 6 * (1 << 20) + 123);
    let mut egress = Egress::default();
    egress
        .allow_url(&bed.source.url(0, 0))
        .allow_store(&bed.store.endpoint());
    let runtime = Runtime::new(&component(), Limits::default()).unwrap();
    let counting = Arc::new(Counting {
        inner: LocalInstances::new(runtime, Arc::new(egress)),
        parts: Mutex::new(Vec::new()),
    });
    let report = Transfer::builder()
        .source(bed.source.url(seed, size))
        .target(format!("oss://{BUCKET}/counted.bin"))
        .endpoint(bed.store.endpoint())
        .region(REGION)
        .part_size("1MiB")
        .instances(3)
        .component(component())
        .credentials(Credentials {
            access_key_id: "runner-key".into(),
            access_key_secret: "runner-secret".into(),
            security_token: None,
        })
        .part_runner(counting.clone())
        .run(|_| {})
        .await
        .unwrap();
    assert_eq!(report.parts, 7);
    bed.check_copied(seed, size, "counted.bin").unwrap();
    let mut seen = counting.parts.lock().unwrap().clone();
    seen.sort_unstable();
    seen.dedup();
    assert_eq!(
        seen,
        (1..=7).collect::<Vec<u64>>(),
        "not every part went through the embedder's runner"
    );
}
