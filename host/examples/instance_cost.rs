//! What a fresh instance costs: instantiate the component from its
//! pre-instantiated form, run one request on its HTTP face (`GET /`, which
//! answers a small JSON document without touching the network), drop it.
//! This is the overhead fan-out adds to every part.
//!
//! `cargo run --release -p ferry-host --example instance_cost -- [N] [COMPONENT]`

use bytes::Bytes;
use ferry_host::parts::Fanout;
use ferry_host::{Egress, Interrupt, Limits, LocalInstances, Runtime};
use http_body_util::{BodyExt, Empty};
use std::sync::Arc;
use std::time::Instant;

#[tokio::main(flavor = "multi_thread")]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().map(|s| s.parse()).transpose()?.unwrap_or(2000);
    let component = args
        .next()
        .map(Into::into)
        .unwrap_or_else(ferry_host::runtime::default_component_path);
    let runtime = Runtime::new(&component, Limits::default())?;
    let limits = *runtime.limits();
    let fanout = Arc::new(Fanout::new(
        Arc::new(LocalInstances::new(runtime, Arc::new(Egress::default()))),
        limits.instances,
        limits.part_deadline,
        Interrupt::default(),
    ));
    let request = || {
        http::Request::get("http://ferry-fanout.invalid/")
            .body(
                Empty::<Bytes>::new()
                    .map_err(|never| match never {})
                    .boxed_unsync(),
            )
            .expect("a static request")
    };
    // Warm up: the first instances fault in the pool's pages.
    for _ in 0..50 {
        fanout
            .dispatch(request())
            .await
            .into_body()
            .collect()
            .await?;
    }
    for concurrency in [1usize, 16] {
        let started = Instant::now();
        let mut tasks = Vec::new();
        for worker in 0..concurrency {
            let fanout = fanout.clone();
            let share = n / concurrency + usize::from(worker < n % concurrency);
            tasks.push(tokio::spawn(async move {
                for _ in 0..share {
                    let response = fanout.dispatch(request()).await;
                    assert_eq!(response.status(), 200);
                    response.into_body().collect().await.expect("a body");
                }
            }));
        }
        for t in tasks {
            t.await?;
        }
        let per = started.elapsed().as_secs_f64() * 1e3 / n as f64;
        println!(
            "fresh instance per request: {per:.3} ms (wall, {n} requests, {concurrency} at a time, {} cores)",
            std::thread::available_parallelism().map_or(1, |p| p.get())
        );
    }
    Ok(())
}
