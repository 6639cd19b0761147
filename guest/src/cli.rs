//! The command line (`wasi:cli/run`): `ferry copy SOURCE_URL oss://BUCKET/KEY`
//! (or `s3://BUCKET/KEY`).

use crate::error::Error;
use crate::events::Sink;
use crate::size::human;
use crate::target;
use crate::{plan, Addressing, EndpointKind, Job, Report, SignatureVersion};
use clap::{Parser, Subcommand};
use ferry_rules::job::{self, JobArgs};

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

/// The `copy` arguments: the job's flags, defined once with the host's
/// `ferry copy` ([`JobArgs`]; a new job flag goes there), and beside them
/// this command line's own: parts in flight, fan-out and output.
#[derive(clap::Args, Debug)]
pub struct CopyArgs {
    #[command(flatten)]
    job: JobArgs,
    /// Parts in flight at once, 1 to 1000, pinned [default: found while the copy runs, from 4
    /// up to --max-parallel].
    #[arg(short = 'p', long, value_parser = clap::value_parser!(u32).range(1..=1000))]
    parallel: Option<u32>,
    /// The most parts in flight when --parallel is not given, 1 to 1000.
    #[arg(long, default_value_t = plan::DEFAULT_MAX_PARALLEL,
          value_parser = clap::value_parser!(u32).range(1..=1000))]
    max_parallel: u32,
    /// Post each part to FANOUT/parts so it runs in a fresh instance.
    #[arg(long)]
    fanout: Option<String>,
    /// Print one JSON result object instead of text.
    #[arg(long)]
    json: bool,
    /// Print progress as JSON lines on stdout (for a host drawing its own progress).
    #[arg(long)]
    events: bool,
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

/// The job the flags ask for, each checked against its range first.
fn job_of(args: &CopyArgs) -> Result<Job, Error> {
    let a = &args.job;
    a.check().map_err(Error::invalid)?;
    let job = Job {
        source_url: a.source_url.clone(),
        target_bucket_name: String::new(),
        target_object_name: String::new(),
        target_region: a.region.clone().unwrap_or_default(),
        endpoint: a.endpoint.clone(),
        part_size: a.part_size.as_deref().and_then(job::parse_size),
        parallel: args.parallel,
        signature_version: Some(match a.signature.as_deref().map(job::check_signature) {
            Some(Ok(v)) if v == "v1" => SignatureVersion::V1,
            _ => SignatureVersion::V4,
        }),
        fanout_url: args.fanout.clone(),
        retries: Some(a.retries),
        part_timeout: Some(a.part_timeout),
        keep_partial: Some(a.keep_partial),
        resume: a.resume.clone(),
        target_store: None,
        addressing: if a.cname {
            Some(Addressing::Cname)
        } else if a.path_style {
            Some(Addressing::Path)
        } else {
            None
        },
        endpoint_kind: Some(if a.internal {
            EndpointKind::Internal
        } else if a.accelerate {
            EndpointKind::Accelerate
        } else {
            EndpointKind::Public
        }),
        max_parallel: Some(args.max_parallel),
        source_headers: Some(a.source_headers().map_err(Error::invalid)?).filter(|h| !h.is_empty()),
        no_clobber: Some(a.no_clobber).filter(|&n| n),
        properties: Some(target::from_rules(a.properties().map_err(Error::invalid)?))
            .filter(|p| *p != crate::ObjectProperties::default()),
    };
    Ok(target::resolve(job, Some(&a.target))?.job)
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
                let mut value = report_json(&report);
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

/// A report as `--json` and `POST /jobs` answer it: its CRC-64s as
/// decimal strings ([`ferry_rules::CRC64_JSON_FIELDS`]), as OSS sends them.
pub fn report_json(report: &Report) -> serde_json::Value {
    let mut value = serde_json::to_value(report).unwrap_or_default();
    for field in ferry_rules::CRC64_JSON_FIELDS {
        if let Some(crc) = value[field].as_u64() {
            value[field] = crc.to_string().into();
        }
    }
    value
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

    /// The job's flags are checked as `ferry copy` checks them, with the
    /// same messages: a part smaller than S3 takes is refused before a run.
    #[test]
    fn job_options_are_checked_as_the_host_checks_them() {
        let job = |extra: &[&str]| {
            let argv = [&["ferry", "copy", "http://h/x", "s3://bucket/k"], extra].concat();
            let Command::Copy(args) = Cli::try_parse_from(argv).unwrap().command;
            job_of(&args)
        };
        let e = job(&["--part-size", "1MiB"]).unwrap_err();
        assert_eq!(
            e.message,
            "--part-size 1MiB is out of range: give 5MiB to 5GiB"
        );
        let e = job(&["--retries", "101"]).unwrap_err();
        assert!(
            e.message
                .starts_with("--retries 101 is out of range: give 0 to 100"),
            "{e}"
        );
        assert_eq!(
            job(&["--part-size", "5MiB"]).unwrap().part_size,
            Some(5 << 20)
        );
    }

    #[test]
    fn numbers_out_of_range_are_refused_by_name() {
        for (flag, value) in [
            ("--parallel", "0"),
            ("--parallel", "1001"),
            ("--max-parallel", "0"),
        ] {
            let e = Cli::try_parse_from(["ferry", "copy", "http://h/x", "oss://b/k", flag, value])
                .unwrap_err();
            assert!(e.to_string().contains(flag), "{flag} {value}: {e}");
        }
        for (flag, value) in [
            ("--retries", "101"),
            ("--part-timeout", "0"),
            ("--signature", "v2"),
            ("--part-size", "16EiB"),
        ] {
            let Command::Copy(args) =
                Cli::try_parse_from(["ferry", "copy", "http://h/x", "oss://b/k", flag, value])
                    .unwrap()
                    .command;
            let e = job_of(&args).unwrap_err();
            assert!(e.message.starts_with(flag), "{flag} {value}: {e}");
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
