//! `ferry`: copy a large file from a URL into OSS through many sandboxed
//! instances of the ferry component.

use clap::{Parser, Subcommand};
use ferry_host::{Event, Limits, Report, Transfer, TransferError};
use indicatif::{HumanBytes, ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

#[derive(Parser)]
#[command(
    name = "ferry",
    version,
    about = "Copy a large file from an HTTP(S) URL into OSS: parallel ranged parts, each in its own \
             sandboxed instance, every byte CRC-64 checked.",
    after_help = "Credentials come from OSS_ACCESS_KEY_ID, OSS_ACCESS_KEY_SECRET and, for STS keys, \
                  OSS_SESSION_TOKEN. They are handed to the coordinating instance only; part \
                  instances get presigned URLs and no credentials.\n\n\
                  The command line trusts its user: sources on loopback and private addresses are \
                  allowed. Instances may connect only to the source's host and the store's \
                  endpoint."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Copy SOURCE_URL into oss://BUCKET/KEY as a verified multipart upload.
    Copy(CopyArgs),
}

#[derive(clap::Args)]
struct CopyArgs {
    /// The http:// or https:// URL to copy from.
    source_url: String,
    /// Where to write: oss://BUCKET/KEY.
    target: String,
    /// The store's endpoint [default: https://oss-REGION.aliyuncs.com].
    #[arg(long, env = "OSS_ENDPOINT")]
    endpoint: Option<String>,
    /// The bucket's region, e.g. cn-hangzhou (read from an Alibaba endpoint when omitted).
    #[arg(long, env = "OSS_REGION")]
    region: Option<String>,
    /// Bytes per part, e.g. 6MiB or 64M [default: 6MiB, grown to stay within 10,000 parts].
    #[arg(long)]
    part_size: Option<String>,
    /// Sandboxed part instances at once (also the parts in flight).
    #[arg(long, default_value_t = 16)]
    instances: u32,
    /// Signature version for the store: v4 (default) or v1.
    #[arg(long)]
    signature: Option<String>,
    /// Memory one instance may use, in MiB.
    #[arg(long, default_value_t = 128)]
    instance_memory_mib: usize,
    /// Seconds one part instance may run before it is stopped and the part re-dispatched.
    #[arg(long, default_value_t = 600)]
    instance_timeout: u64,
    /// Retries of one part after its first attempt (transient failures only).
    #[arg(long, default_value_t = 4)]
    retries: u32,
    /// Seconds one part may take over all its attempts.
    #[arg(long, default_value_t = 900)]
    part_timeout: u32,
    /// On failure or interruption keep the multipart upload (its id is printed) for --resume.
    #[arg(long)]
    keep_partial: bool,
    /// Continue a kept upload: its id, or none for the newest upload of the target key.
    /// Only the parts the store does not hold (or holds wrongly) are copied.
    #[arg(long, num_args = 0..=1, default_missing_value = "")]
    resume: Option<String>,
    /// Print one JSON object with the result instead of text.
    #[arg(long)]
    json: bool,
    /// The ferry component [default: $FERRY_COMPONENT, or ferry.wasm beside or above the executable].
    #[arg(long)]
    component: Option<PathBuf>,
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(log_filter())
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("ferry: error: cannot start the async runtime: {e}");
            return ExitCode::from(70);
        }
    };
    match cli.command {
        Command::Copy(args) => runtime.block_on(copy(args)),
    }
}

/// `FERRY_LOG` (default `warn`), with the WASI crates held at `info`
/// whatever it says: at `debug` and `trace` they log every argument of every
/// call the guest makes, presigned URLs and signed headers included, and
/// secrets never reach a log.
fn log_filter() -> tracing_subscriber::EnvFilter {
    let mut filter =
        tracing_subscriber::EnvFilter::try_from_env("FERRY_LOG").unwrap_or_else(|_| "warn".into());
    for quiet in [
        "wasmtime_wasi_http=info",
        "wasmtime_wasi=info",
        "wasmtime_wasi_io=info",
        "wasmtime=info",
    ] {
        filter = filter.add_directive(quiet.parse().expect("a valid directive"));
    }
    filter
}

async fn copy(args: CopyArgs) -> ExitCode {
    let limits = Limits {
        instances: args.instances.max(1),
        instance_memory: args.instance_memory_mib << 20,
        part_deadline: Duration::from_secs(args.instance_timeout),
        ..Limits::default()
    };
    let mut transfer = Transfer::builder()
        .source(&args.source_url)
        .target(&args.target)
        .limits(limits)
        .retries(args.retries)
        .part_timeout(args.part_timeout)
        .keep_partial(args.keep_partial);
    if let Some(id) = &args.resume {
        transfer = transfer.resume(id);
    }
    if let Some(e) = &args.endpoint {
        transfer = transfer.endpoint(e);
    }
    if let Some(r) = &args.region {
        transfer = transfer.region(r);
    }
    if let Some(p) = &args.part_size {
        transfer = transfer.part_size(p);
    }
    if let Some(s) = &args.signature {
        transfer = transfer.signature(s);
    }
    if let Some(c) = &args.component {
        transfer = transfer.component(c);
    }
    let interrupt = transfer.interrupt();
    tokio::spawn(stop_on_signals(interrupt.clone()));
    let mut progress = Progress::new(args.json);
    let outcome = transfer.run(|event| progress.on(event)).await;
    progress.finish();
    match outcome {
        Ok(report) => {
            if args.json {
                let mut v = serde_json::to_value(&report).unwrap_or_default();
                v["ok"] = true.into();
                println!("{v}");
            } else {
                print_report(&report, args.instances);
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            if args.json {
                let mut v = serde_json::to_value(&e).unwrap_or_default();
                v["ok"] = false.into();
                println!("{v}");
            }
            eprintln!("ferry: error: {e}");
            if e.upload_id.is_none() {
                eprintln!("ferry: nothing was written to the target and no upload was left behind");
            }
            if interrupt.reason().is_some() {
                return ExitCode::from(130);
            }
            ExitCode::from(TransferError::exit_code(&e) as u8)
        }
    }
}

/// The first SIGINT or SIGTERM stops the transfer cleanly (the upload is
/// aborted, or kept with --keep-partial); a second one exits at once.
async fn stop_on_signals(interrupt: ferry_host::Interrupt) {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut int), Ok(mut term)) = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) else {
        return;
    };
    let name = tokio::select! {
        _ = int.recv() => "SIGINT",
        _ = term.recv() => "SIGTERM",
    };
    eprintln!("\nferry: {name}: stopping; press Ctrl-C again to exit at once");
    interrupt.trigger(name);
    tokio::select! {
        _ = int.recv() => {},
        _ = term.recv() => {},
    }
    eprintln!("ferry: exiting without cleaning up");
    std::process::exit(130);
}

fn print_report(r: &Report, instances: u32) {
    let sides = match r.source_crc64 {
        Some(_) => "source header, part CRCs, store: all equal",
        None => "part CRCs, store: all equal; the source offers no CRC-64",
    };
    println!("verified   crc64 {}  ({} parts; {sides})", r.crc64, r.parts);
    println!(
        "done       {} in {:.2} s  ({}/s, {instances} instances, {} retries{})",
        HumanBytes(r.size),
        r.seconds,
        HumanBytes((r.size as f64 / r.seconds.max(1e-3)) as u64),
        r.retries,
        if r.reused_parts > 0 {
            format!(", {} parts reused from the kept upload", r.reused_parts)
        } else {
            String::new()
        }
    );
}

/// The progress bar: bytes, rate, ETA and parts; plain lines when stderr
/// is not a terminal.
struct Progress {
    bar: Option<ProgressBar>,
    quiet: bool,
    parts: u32,
    retries: u32,
}

impl Progress {
    fn new(quiet: bool) -> Self {
        Progress {
            bar: None,
            quiet,
            parts: 0,
            retries: 0,
        }
    }

    fn on(&mut self, event: Event) {
        if self.quiet {
            return;
        }
        match event {
            Event::Planned {
                size,
                part_size,
                parts,
                source_crc64,
                parallel,
            } => {
                self.parts = parts;
                eprintln!(
                    "planning   {}, {parts} parts of {}, {parallel} instances{}",
                    HumanBytes(size),
                    HumanBytes(part_size),
                    if source_crc64.is_some() {
                        ", source offers CRC-64"
                    } else {
                        ""
                    }
                );
                let bar = ProgressBar::new(size);
                if !std::io::stderr().is_terminal() {
                    bar.set_draw_target(ProgressDrawTarget::hidden());
                }
                bar.set_style(
                    ProgressStyle::with_template(
                        "copying    [{bar:30}] {bytes} / {total_bytes}  {bytes_per_sec}  ETA {eta}  {msg}",
                    )
                    .expect("the template is valid")
                    .progress_chars("=> "),
                );
                bar.set_message(format!("parts 0/{parts}"));
                self.bar = Some(bar);
            }
            Event::Part {
                done_parts,
                done_bytes,
                ..
            } => {
                if let Some(bar) = &self.bar {
                    bar.set_position(done_bytes);
                    bar.set_message(self.message(done_parts));
                    if bar.is_hidden() && (done_parts == self.parts || done_parts % 50 == 0) {
                        eprintln!(
                            "copying    {} / {}  parts {done_parts}/{}",
                            HumanBytes(done_bytes),
                            HumanBytes(bar.length().unwrap_or(0)),
                            self.parts
                        );
                    }
                }
            }
            Event::Note { message } => match &self.bar {
                Some(bar) if !bar.is_hidden() => bar.println(format!("note       {message}")),
                _ => eprintln!("note       {message}"),
            },
            Event::Retry {
                part_number,
                attempt,
                message,
            } => {
                self.retries += 1;
                let line = format!("retrying   part {part_number} (attempt {attempt}): {message}");
                match &self.bar {
                    Some(bar) if !bar.is_hidden() => bar.println(line),
                    _ => eprintln!("{line}"),
                }
            }
        }
    }

    fn message(&self, done_parts: u32) -> String {
        if self.retries > 0 {
            format!(
                "parts {done_parts}/{}  retries {}",
                self.parts, self.retries
            )
        } else {
            format!("parts {done_parts}/{}", self.parts)
        }
    }

    fn finish(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}
