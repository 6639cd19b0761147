//! Embedding ferry: copy a URL into OSS from another Rust program, with
//! progress from a callback and the verified report as a value.
//!
//! ```text
//! OSS_ACCESS_KEY_ID=... OSS_ACCESS_KEY_SECRET=... \
//!   cargo run --release -p ferry-host --example embed -- SOURCE_URL oss://BUCKET/KEY ENDPOINT REGION
//! ```
//! (`make demo` prints a test-bed source and store to try it against.)

use ferry_host::{Event, Transfer};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [source, target, endpoint, region] = args.as_slice() else {
        anyhow::bail!("usage: embed SOURCE_URL oss://BUCKET/KEY ENDPOINT REGION");
    };
    let report = Transfer::builder()
        .source(source)
        .target(target)
        .endpoint(endpoint)
        .region(region)
        .instances(8)
        .run(|event| match event {
            Event::Planned(p) => println!("planned {} bytes in {} parts", p.size, p.parts),
            Event::Part(p) if p.done_parts % 10 == 0 => println!("{} parts done", p.done_parts),
            _ => {}
        })
        .await?;
    println!(
        "copied {} bytes in {:.2} s; crc64 {} (store {})",
        report.size, report.seconds, report.crc64, report.store_crc64
    );
    Ok(())
}
