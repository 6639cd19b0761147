//! The command line (`wasi:cli/run`): `ferry copy SOURCE_URL oss://BUCKET/KEY`
//! (or `s3://BUCKET/KEY`).

use crate::error::Error;
use crate::events::Sink;
use crate::size::{self, human};
use crate::target;
use crate::{
    runtime, schedule, Addressing, EndpointKind, Job, Report, SignatureVersion, StoreKind,
};
use clap::{Parser, Subcommand, ValueEnum};
use std::time::Instant;

#[derive(Parser, Debug)]
#[command(
    name = "ferry",
    version,
    about = "Copy a large file from an HTTP(S) URL into OSS or S3, in parallel parts, every byte checked.",
    after_help = "Credentials come from OSS_ACCESS_KEY_ID, OSS_ACCESS_KEY_SECRET and, for STS keys, \
                  OSS_SESSION_TOKEN; for s3:// targets from AWS_ACCESS_KEY_ID, \
                  AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Copy SOURCE_URL into oss://BUCKET/KEY or s3://BUCKET/KEY as a verified multipart upload.
    Copy(CopyArgs),
}

/// The `copy` arguments; the ferry host forwards its own `copy` here.
#[derive(clap::Args, Debug)]
pub struct CopyArgs {
    /// The http:// or https:// URL to copy from.
    source_url: String,
    /// Where to write: oss://BUCKET/KEY or s3://BUCKET/KEY.
    target: String,
    /// The store's endpoint [default: OSS_ENDPOINT or https://oss-REGION.aliyuncs.com;
    /// for S3, AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL or https://s3.REGION.amazonaws.com].
    #[arg(long)]
    endpoint: Option<String>,
    /// The bucket's region, e.g. cn-hangzhou [default: OSS_REGION, or read from an Alibaba
    /// endpoint; for S3, AWS_REGION, AWS_DEFAULT_REGION, the endpoint's, else us-east-1].
    #[arg(long)]
    region: Option<String>,
    /// Name the bucket in the path (ENDPOINT/BUCKET/KEY), as many S3-compatible servers need.
    #[arg(long, conflicts_with = "cname")]
    path_style: bool,
    /// The endpoint is the bucket's own domain (an OSS custom domain, CNAME).
    #[arg(long, requires = "endpoint")]
    cname: bool,
    /// Use OSS's in-region endpoint, oss-REGION-internal.aliyuncs.com (from ECS or FC in the region).
    #[arg(long, conflicts_with_all = ["endpoint", "accelerate"])]
    internal: bool,
    /// Use the transfer-acceleration endpoint (oss-accelerate.aliyuncs.com, s3-accelerate.amazonaws.com).
    #[arg(long, conflicts_with = "endpoint")]
    accelerate: bool,
    /// Bytes per part, e.g. 6MiB, 64M [default: 6MiB, grown to stay within 10,000 parts].
    #[arg(long, value_parser = size::parse)]
    part_size: Option<u64>,
    /// Parts in flight at once, 1 to 1000, pinned [default: found while the copy runs, from 4
    /// up to --max-parallel].
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=1000))]
    parallel: Option<u32>,
    /// The most parts in flight when --parallel is not given, 1 to 1000.
    #[arg(long, default_value_t = schedule::DEFAULT_MAX_PARALLEL,
          value_parser = clap::value_parser!(u32).range(1..=1000))]
    max_parallel: u32,
    /// Post each part to FANOUT/parts so it runs in a fresh instance.
    #[arg(long)]
    fanout: Option<String>,
    /// Signature version for the store.
    #[arg(long, value_enum, ignore_case = true, default_value_t = Signature::V4)]
    signature: Signature,
    /// Retries of one part after its first attempt, 0 to 100.
    #[arg(long, default_value_t = crate::retry::DEFAULT_RETRIES,
          value_parser = clap::value_parser!(u32).range(0..=100))]
    retries: u32,
    /// Seconds one part may take over all its attempts, 1 to 86400.
    #[arg(long, default_value_t = crate::retry::DEFAULT_PART_TIMEOUT.as_secs() as u32,
          value_parser = clap::value_parser!(u32).range(1..=86_400))]
    part_timeout: u32,
    /// On failure keep the multipart upload (and print its id) instead of aborting it.
    #[arg(long)]
    keep_partial: bool,
    /// Continue a kept upload: its id, or none for the newest upload of the target key.
    #[arg(long, num_args = 0..=1, default_missing_value = "")]
    resume: Option<String>,
    /// Print one JSON result object instead of text.
    #[arg(long)]
    json: bool,
    /// Print progress as JSON lines on stdout (for a host drawing its own progress).
    #[arg(long)]
    events: bool,
}

#[derive(ValueEnum, Clone, Copy, Debug)]
enum Signature {
    V1,
    V4,
}

/// Returns `Err(())` on failure, as `wasi:cli/run` does: the error is already printed.
#[allow(clippy::result_unit_err)]
pub fn main() -> Result<(), ()> {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            if !e.use_stderr() {
                return Ok(());
            }
            // A caller reading JSON (the ferry host, with --events) gets the
            // refusal as bad input too, not a silence.
            let json = std::env::args().any(|a| a == "--json" || a == "--events");
            if json {
                let text = e.to_string();
                let first = text.lines().next().unwrap_or_default();
                let message = first.strip_prefix("error: ").unwrap_or(first);
                let mut value = serde_json::to_value(crate::Failure::from(Error::invalid(
                    format!("{message}; see ferry copy --help"),
                )))
                .unwrap_or_default();
                value["ok"] = false.into();
                println!("{value}");
            }
            return Err(());
        }
    };
    match cli.command {
        Command::Copy(args) => copy(args),
    }
}

/// The store's endpoint and region as the flags and the environment give
/// them (the variables each store's own tools read).
pub fn endpoint_and_region(
    store: StoreKind,
    endpoint: Option<String>,
    region: Option<String>,
) -> Result<(Option<String>, String), Error> {
    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let endpoint = endpoint.or_else(|| match store {
        StoreKind::Oss => env("OSS_ENDPOINT"),
        StoreKind::S3 => env("AWS_ENDPOINT_URL_S3").or_else(|| env("AWS_ENDPOINT_URL")),
    });
    let from_endpoint = || {
        endpoint
            .as_deref()
            .and_then(|e| url::Url::parse(e).ok())
            .and_then(|u| target::region_of_endpoint(&u))
    };
    let region = match store {
        StoreKind::Oss => region
            .or_else(|| env("OSS_REGION"))
            .or_else(from_endpoint)
            .ok_or_else(|| {
                Error::invalid("no region: pass --region (for example --region cn-hangzhou)")
            })?,
        // As the AWS SDKs do for a custom endpoint.
        StoreKind::S3 => region
            .or_else(|| env("AWS_REGION"))
            .or_else(|| env("AWS_DEFAULT_REGION"))
            .or_else(from_endpoint)
            .unwrap_or_else(|| "us-east-1".into()),
    };
    Ok((endpoint, region))
}

fn job_of(args: &CopyArgs) -> Result<Job, Error> {
    if let Err(e) = url::Url::parse(args.source_url.trim()) {
        return Err(Error::invalid(format!(
            "source {:?} is not a URL ({e}): give the whole http:// or https:// URL, e.g. \
             https://mirror.example.com/big.iso",
            typed(&args.source_url)
        )));
    }
    let target = target::parse(&args.target)?;
    let (endpoint, region) =
        endpoint_and_region(target.store, args.endpoint.clone(), args.region.clone())?;
    Ok(Job {
        source_url: args.source_url.clone(),
        target_bucket_name: target.bucket,
        target_object_name: target.key,
        target_region: region,
        endpoint,
        part_size: args.part_size,
        parallel: args.parallel,
        signature_version: Some(match args.signature {
            Signature::V1 => SignatureVersion::V1,
            Signature::V4 => SignatureVersion::V4,
        }),
        fanout_url: args.fanout.clone(),
        retries: Some(args.retries),
        part_timeout: Some(args.part_timeout),
        keep_partial: Some(args.keep_partial),
        resume: args.resume.clone(),
        target_store: Some(target.store),
        addressing: if args.cname {
            Some(Addressing::Cname)
        } else if args.path_style {
            Some(Addressing::Path)
        } else {
            None
        },
        endpoint_kind: Some(if args.internal {
            EndpointKind::Internal
        } else if args.accelerate {
            EndpointKind::Accelerate
        } else {
            EndpointKind::Public
        }),
        max_parallel: Some(args.max_parallel),
    })
}

/// What was typed as the source, for a message: without its query (which
/// may hold a signature) or a `user:password@`.
fn typed(source: &str) -> String {
    let (shown, query) = match source.find(['?', '#']) {
        Some(i) => (&source[..i], "?…"),
        None => (source, ""),
    };
    let (scheme, rest) = shown.split_once("://").unwrap_or(("", shown));
    let (host, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let host = host.rsplit('@').next().unwrap_or(host);
    let scheme = if scheme.is_empty() {
        String::new()
    } else {
        format!("{scheme}://")
    };
    format!("{scheme}{host}{path}{query}")
}

fn copy(args: CopyArgs) -> Result<(), ()> {
    let started = Instant::now();
    let mut sink = if args.events {
        Sink::Json
    } else if args.json {
        Sink::Quiet
    } else {
        Sink::plain()
    };
    let outcome =
        job_of(&args).and_then(|job| runtime::block_on(schedule::run_paced(&job, &mut sink)));
    let seconds = started.elapsed().as_secs_f64();
    match outcome {
        Ok((report, pacing)) => {
            if args.json || args.events {
                let mut value = serde_json::to_value(&report).unwrap_or_default();
                value["ok"] = true.into();
                value["seconds"] = seconds.into();
                if let Some(p) = pacing {
                    value["parallelism"] = serde_json::to_value(p).unwrap_or_default();
                }
                println!("{value}");
            } else {
                print_report(&report, seconds);
            }
            Ok(())
        }
        Err(e) => {
            if args.json || args.events {
                let mut value =
                    serde_json::to_value(crate::Failure::from(e.clone())).unwrap_or_default();
                value["ok"] = false.into();
                println!("{value}");
            }
            if !args.events {
                eprintln!("ferry: error: {e}");
            }
            Err(())
        }
    }
}

fn print_report(r: &Report, seconds: f64) {
    if r.store_crc64 == 0 && r.crc64 == 0 && r.size > 0 {
        println!(
            "verified   etag {}  ({} parts; {})",
            r.etag, r.parts, r.checks
        );
    } else {
        println!(
            "verified   crc64 {}  ({} parts; {})",
            r.crc64, r.parts, r.checks
        );
    }
    println!(
        "done       {} in {seconds:.1} s ({}/s), {} retries, {} parts reused",
        human(r.size),
        human((r.size as f64 / seconds.max(1e-3)) as u64),
        r.retries,
        r.reused_parts
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_source_that_is_no_url_is_named_as_typed() {
        let args = Cli::try_parse_from(["ferry", "copy", "example.com/big.iso", "oss://b/k"])
            .map(
                |Cli {
                     command: Command::Copy(a),
                 }| a,
            )
            .unwrap();
        let e = job_of(&args).unwrap_err();
        assert!(
            e.message
                .starts_with("source \"example.com/big.iso\" is not a URL"),
            "{e}"
        );
        assert_eq!(typed("http://u:p@[bad/x?Signature=s"), "http://[bad/x?…");
    }

    #[test]
    fn numbers_out_of_range_are_refused_by_name() {
        for (flag, value) in [
            ("--parallel", "0"),
            ("--parallel", "1001"),
            ("--max-parallel", "0"),
            ("--retries", "101"),
            ("--part-timeout", "0"),
            ("--signature", "v2"),
            ("--part-size", "16EiB"),
        ] {
            let e = Cli::try_parse_from(["ferry", "copy", "http://h/x", "oss://b/k", flag, value])
                .unwrap_err();
            assert!(e.to_string().contains(flag), "{flag} {value}: {e}");
        }
        assert!(Cli::try_parse_from([
            "ferry",
            "copy",
            "http://h/x",
            "oss://b/k",
            "--signature",
            "V1"
        ])
        .is_ok());
    }
}
