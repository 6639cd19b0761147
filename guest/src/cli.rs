//! The command line (`wasi:cli/run`): `ferry copy SOURCE_URL oss://BUCKET/KEY`
//! (or `s3://BUCKET/KEY`).

use crate::error::Error;
use crate::events::Sink;
use crate::size::{self, human};
use crate::target;
use crate::{plan, Addressing, EndpointKind, Job, Report, SignatureVersion};
use clap::{Parser, Subcommand, ValueEnum};

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
    #[arg(long, default_value_t = plan::DEFAULT_MAX_PARALLEL,
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

fn job_of(args: &CopyArgs) -> Result<Job, Error> {
    let job = Job {
        source_url: args.source_url.clone(),
        target_bucket_name: String::new(),
        target_object_name: String::new(),
        target_region: args.region.clone().unwrap_or_default(),
        endpoint: args.endpoint.clone(),
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
        target_store: None,
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
    };
    Ok(target::resolve(job, Some(&args.target))?.job)
}

fn copy(args: CopyArgs) -> Result<(), ()> {
    let mut sink = if args.events {
        Sink::Json
    } else if args.json {
        Sink::Quiet
    } else {
        Sink::plain()
    };
    let outcome = job_of(&args).and_then(|job| crate::transfer(&job, &mut sink));
    match outcome {
        Ok(report) => {
            if args.json || args.events {
                let mut value = serde_json::to_value(&report).unwrap_or_default();
                value["ok"] = true.into();
                println!("{value}");
            } else {
                print_report(&report);
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

fn print_report(r: &Report) {
    let seconds = r.seconds;
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
        assert_eq!(
            target::redact("http://u:p@[bad/x?Signature=s"),
            "http://[bad/x?…"
        );
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
