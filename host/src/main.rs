//! `ferry`: copy a large file from a URL into OSS through many sandboxed
//! instances of the ferry component.

use clap::{CommandFactory, Parser, Subcommand};
use ferry_host::limits::{self, MAX_INSTANCES};
use ferry_host::transfer::JobArgs;
use ferry_host::{Limits, Report, Transfer, TransferError};
use indicatif::HumanBytes;
use progress::{in_flight, Progress, Show};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

mod batch;
mod dry_run;
mod progress;

#[derive(Parser)]
#[command(
    name = "ferry",
    disable_version_flag = true,
    arg_required_else_help = true,
    about = "Copy a large file from an HTTP(S) URL into OSS or S3: parallel ranged parts, each in \
             its own sandboxed instance, every byte checked.",
    after_help = format!("{CREDENTIALS_AND_SANDBOX}\n\n{}", examples_and_exit_codes()),
)]
struct Cli {
    /// Print the version, the git commit it was built from (when known) and the sha256 of the
    /// component it runs.
    #[arg(short = 'V', long)]
    version: bool,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Copy SOURCE_URL into oss://BUCKET/KEY or s3://BUCKET/KEY as a verified multipart upload.
    #[command(after_help = examples_and_exit_codes())]
    Copy(Box<CopyArgs>),
    /// Serve transfers over HTTP: a Function Compute 3.0 custom container
    /// (POST /invoke, POST /initialize) or an HTTP trigger (POST /jobs).
    Serve(Box<ServeArgs>),
    /// Print a completion script for SHELL (bash, zsh, fish, powershell, elvish) on stdout,
    /// e.g. `ferry completions bash > /etc/bash_completion.d/ferry`.
    Completions {
        #[arg(value_name = "SHELL")]
        shell: clap_complete::Shell,
    },
}

/// Where credentials come from, and what the instances may reach: the
/// end of `ferry --help`, before the examples.
const CREDENTIALS_AND_SANDBOX: &str =
    "Credentials come from where the store's own tools look, in their order: for \
                  oss:// OSS_ACCESS_KEY_ID / OSS_ACCESS_KEY_SECRET / OSS_SESSION_TOKEN, the \
                  ALIBABA_CLOUD_* variables, OIDC role assumption, ~/.aliyun/config.json, \
                  ~/.alibabacloud/credentials, the ECS instance RAM role; for s3:// \
                  AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN, the profile in \
                  ~/.aws/credentials and ~/.aws/config, web identity, container credentials, \
                  the EC2 instance role. Temporary ones are refreshed during the copy. They are \
                  handed to the coordinating instance only; part instances get presigned URLs \
                  and no credentials.\n\n\
                  The command line trusts its user: sources on loopback and private addresses are \
                  allowed. Instances may connect only to the source's host and the store's \
                  endpoint.";

/// How ferry is used, and what its exit codes mean (from the failure kinds
/// of ferry-rules): the end of `ferry --help` and `ferry copy --help`.
fn examples_and_exit_codes() -> String {
    let mut text = String::from(
        "Examples:\n  \
         ferry copy https://mirror.example.com/big.iso oss://my-bucket/big.iso --region cn-hangzhou\n  \
         ferry copy https://mirror.example.com/big.iso s3://my-bucket/big.iso --endpoint http://minio.lan:9000\n  \
         ferry copy https://mirror.example.com/big.iso oss://my-bucket/big.iso --keep-partial\n  \
         ferry copy https://mirror.example.com/big.iso oss://my-bucket/big.iso --resume\n  \
         ferry copy -n https://mirror.example.com/big.iso oss://my-bucket/big.iso   (the plan only)\n  \
         ferry copy https://mirror.example.com/a.iso https://mirror.example.com/b.iso oss://my-bucket/dir/\n  \
         ferry copy --from-file urls.txt oss://my-bucket/dir/   (URL or URL,TARGET a line)\n  \
         ferry serve --listen 127.0.0.1:9000\n\n\
         Exit codes:\n  0    done and verified\n",
    );
    for (_, code, meaning) in ferry_rules::EXIT_CODES {
        text.push_str(&format!("  {code:<4} {meaning}\n"));
    }
    text.push_str("  130  interrupted (SIGINT or SIGTERM)");
    text
}

/// `ferry copy`: the job's flags, defined once with the component's command
/// line ([`JobArgs`]; a new job flag goes there), and beside them the flags
/// of this host alone: where and how the parts run, and the output. The
/// positionals are SOURCE_URL... TARGET: JobArgs' two, then more sources,
/// the last one given being the target ([`CopyArgs::sources_and_target`]).
#[derive(clap::Args)]
#[command(
    mut_arg("source_url", optional_positional(1)),
    mut_arg("target", optional_positional(2)),
    override_usage = "ferry copy [OPTIONS] SOURCE_URL... TARGET\n       \
                      ferry copy [OPTIONS] --from-file LIST TARGET"
)]
struct CopyArgs {
    #[command(flatten)]
    job: JobArgs,
    /// More sources: `ferry copy URL1 URL2 ... oss://BUCKET/DIR/` copies each into the folder
    /// TARGET (the last argument), named after its source's file name.
    #[arg(value_name = "MORE", index = 3, num_args = 0.., hide = true)]
    more: Vec<String>,
    /// Copy the URLs listed in LIST (`-` for stdin): one `URL` or `URL,TARGET` a line, blank
    /// lines and # comments skipped; a TARGET not starting with oss:// or s3:// is taken inside
    /// the folder TARGET.
    #[arg(long, value_name = "LIST")]
    from_file: Option<String>,
    /// Files copied at once when there are several; the parts in flight are shared out
    /// among them.
    #[arg(long, value_name = "N", default_value_t = batch::DEFAULT_TRANSFERS,
          value_parser = clap::value_parser!(u32).range(1..=1000))]
    transfers: u32,
    /// The profile of the credential files to read: ~/.aws/credentials and ~/.aws/config for
    /// s3://, ~/.aliyun/config.json and ~/.alibabacloud/credentials for oss:// [default:
    /// AWS_PROFILE or ALIBABA_CLOUD_PROFILE, else the files' own].
    #[arg(long, value_name = "NAME")]
    profile: Option<String>,
    /// Parts in flight (sandboxed part instances at once), pinned, 1 to 1000 [default: found
    /// while the copy runs, from 4 up to what --max-memory holds; with --workers, up to
    /// workers x --worker-concurrency; with --fc-function, up to 256].
    #[arg(short = 'p', long, alias = "instances", value_name = "N")]
    parallel: Option<u32>,
    /// Read the source at most this fast, in bytes a second over all parts together, e.g.
    /// 100M or 1.5G (units of 1024). Applies to this machine's instances, so not with
    /// --workers or --fc-function.
    #[arg(long, value_name = "RATE", conflicts_with_all = ["workers", "fc_function"])]
    bwlimit: Option<String>,
    /// Probe the source, check that the credentials reach the bucket (a multipart upload is
    /// started and aborted at once) and print the plan: size, parts, parallelism, target.
    /// Nothing is uploaded.
    #[arg(short = 'n', long)]
    dry_run: bool,
    /// Memory the parts in flight may take here, e.g. 2GiB (about 8 MiB a part) [default: a
    /// quarter of this machine's memory]. Bounds the automatic parallelism.
    #[arg(long, value_name = "SIZE")]
    max_memory: Option<String>,
    /// Memory one instance may use, in MiB, 16 to 4096.
    #[arg(long, default_value_t = 128)]
    instance_memory_mib: usize,
    /// Seconds one part instance may run before it is stopped and the part re-dispatched,
    /// 1 to 86400.
    #[arg(long, default_value_t = 600)]
    instance_timeout: u64,
    /// Print one JSON object with the result instead of text.
    #[arg(long)]
    json: bool,
    /// Print nothing but errors: no plan, progress or summary (--json still prints its
    /// result).
    #[arg(short, long, conflicts_with = "verbose")]
    quiet: bool,
    /// Log more: ferry's own log at info level (FERRY_LOG sets the log finer).
    #[arg(short, long)]
    verbose: bool,
    /// No progress bar or progress lines; the plan, notes and summary are still printed.
    #[arg(long)]
    no_progress: bool,
    /// Seconds between progress lines when stderr is not a terminal, 0 for none (a terminal
    /// shows a bar, redrawn continuously).
    #[arg(long, value_name = "SECONDS", default_value_t = 10,
          value_parser = clap::value_parser!(u64).range(0..=86400))]
    stats: u64,
    /// The ferry component [default: $FERRY_COMPONENT, or ferry.wasm beside or above the executable].
    #[arg(long)]
    component: Option<PathBuf>,
    /// Also trust the CA certificates in this PEM file (a source or store behind a private CA);
    /// the bundled roots, the system store, SSL_CERT_FILE, SSL_CERT_DIR and AWS_CA_BUNDLE are
    /// trusted too.
    #[arg(long, value_name = "FILE")]
    ca_bundle: Option<PathBuf>,
    /// Run the parts on these HTTP workers instead of here: URL,URL,... each serving POST /parts
    /// (`wasmtime serve` of ferry.wasm). A part whose worker fails goes to another.
    #[arg(long, value_delimiter = ',', value_name = "URL,...")]
    workers: Vec<String>,
    /// Parts one worker runs at once, 1 to 1000.
    #[arg(long, default_value_t = ferry_host::transfer::DEFAULT_WORKER_CONCURRENCY)]
    worker_concurrency: u32,
    /// Run the parts in this Function Compute 3.0 function (one synchronous InvokeFunction a
    /// part), with --fc-endpoint. Credentials: ALIBABA_CLOUD_ACCESS_KEY_ID,
    /// ALIBABA_CLOUD_ACCESS_KEY_SECRET (ALIBABA_CLOUD_SECURITY_TOKEN), else the OSS ones.
    #[arg(
        long,
        value_name = "NAME",
        requires = "fc_endpoint",
        conflicts_with = "workers"
    )]
    fc_function: Option<String>,
    /// Function Compute's endpoint, e.g. https://ACCOUNT_ID.cn-hangzhou.fc.aliyuncs.com.
    #[arg(long, value_name = "URL", requires = "fc_function")]
    fc_endpoint: Option<String>,
    /// The function's version or alias to invoke [default: LATEST].
    #[arg(long, value_name = "QUALIFIER", requires = "fc_function")]
    fc_qualifier: Option<String>,
}

/// JobArgs' positional `index`, left optional (empty when not given): with
/// `--from-file` the only positional is the target.
fn optional_positional(index: usize) -> impl FnOnce(clap::Arg) -> clap::Arg {
    move |a| {
        a.required(false)
            .index(index)
            .default_value("")
            .hide_default_value(true)
    }
}

impl CopyArgs {
    /// What the copy shows as it runs.
    fn show(&self) -> Show {
        if self.quiet || self.json {
            Show::Nothing
        } else if self.no_progress {
            Show::NoProgress
        } else {
            Show::Progress {
                every: (self.stats > 0).then(|| Duration::from_secs(self.stats)),
            }
        }
    }

    /// The sources and the target given as positionals: the last one given
    /// is the target, the ones before it the sources.
    fn sources_and_target(&self) -> (Vec<String>, Option<String>) {
        let mut all: Vec<String> = [&self.job.source_url, &self.job.target]
            .into_iter()
            .chain(&self.more)
            .filter(|s| !s.is_empty())
            .cloned()
            .collect();
        let target = all.pop();
        (all, target)
    }

    /// The log's level when FERRY_LOG does not set it.
    fn log_level(&self) -> &'static str {
        match (self.quiet, self.verbose) {
            (true, _) => "error",
            (_, true) => "warn,ferry=info,ferry_host=info",
            _ => "warn",
        }
    }
}

fn main() -> ExitCode {
    // Errors are one line for a person: no library backtraces, which
    // RUST_BACKTRACE=1 (common in containers) would have captured into
    // every wasmtime error at some cost, and printed in the messages the
    // component reads from them. Panics keep theirs.
    if std::env::var_os("RUST_LIB_BACKTRACE").is_none() {
        std::env::set_var("RUST_LIB_BACKTRACE", "0");
    }
    let cli = Cli::parse();
    let level = match &cli.command {
        Some(Command::Copy(args)) => args.log_level(),
        _ => "warn",
    };
    tracing_subscriber::fmt()
        .with_env_filter(log_filter(level))
        .with_writer(std::io::stderr)
        .init();
    if cli.version {
        println!("{}", version());
        return ExitCode::SUCCESS;
    }
    let command = match cli.command {
        Some(Command::Completions { shell }) => {
            let mut cli = Cli::command();
            clap_complete::generate(shell, &mut cli, "ferry", &mut std::io::stdout());
            return ExitCode::SUCCESS;
        }
        Some(command) => command,
        None => {
            let _ = Cli::command().print_help();
            return ExitCode::from(2);
        }
    };
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
    match command {
        Command::Copy(args) => runtime.block_on(copy(*args)),
        Command::Serve(args) => runtime.block_on(serve(*args)),
        Command::Completions { .. } => unreachable!("printed above"),
    }
}

/// `ferry 0.1.0 (commit 1a2b3c4d5e6f; component sha256 …)`: the commit
/// when the build was given `FERRY_GIT_COMMIT`, and the sha256 of the
/// component `ferry copy` would load ($FERRY_COMPONENT, or ferry.wasm beside
/// or above this executable).
fn version() -> String {
    let commit = option_env!("FERRY_GIT_COMMIT").unwrap_or("unknown");
    let path = ferry_host::runtime::default_component_path();
    let component = match std::fs::read(&path) {
        Ok(wasm) => {
            let digest = ring::digest::digest(&ring::digest::SHA256, &wasm);
            let hex: String = digest.as_ref().iter().map(|b| format!("{b:02x}")).collect();
            format!("component {} sha256 {hex}", path.display())
        }
        Err(e) => format!("component {} not readable: {e}", path.display()),
    };
    format!(
        "ferry {} (commit {commit})\n{component}",
        env!("CARGO_PKG_VERSION")
    )
}

/// `FERRY_LOG` (default `level`), with the WASI crates held at `info`
/// whatever it says: at `debug` and `trace` they log every argument of every
/// call the guest makes, presigned URLs and signed headers included, and
/// secrets never reach a log.
fn log_filter(level: &str) -> tracing_subscriber::EnvFilter {
    let mut filter =
        tracing_subscriber::EnvFilter::try_from_env("FERRY_LOG").unwrap_or_else(|_| level.into());
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

/// The most Function Compute invocations in flight when `--instances` is
/// not given: a cap, not a target (the pacer stops growing when throughput
/// stops rising or FC throttles with 429).
const FC_MAX_PARALLEL: u32 = 256;

async fn copy(mut args: CopyArgs) -> ExitCode {
    let (sources, target) = args.sources_and_target();
    let list = match args.from_file.as_deref().map(batch::read_list).transpose() {
        Ok(list) => list,
        Err(e) => return failed(&args, &TransferError::invalid(e), None),
    };
    let entries = match (&target, &list) {
        (Some(target), _) if !sources.is_empty() || list.is_some() => {
            let named = args
                .from_file
                .as_deref()
                .map(|f| if f == "-" { "stdin" } else { f });
            match batch::entries(&sources, named.zip(list.as_deref()), target) {
                Ok(entries) => entries,
                Err(e) => return failed(&args, &TransferError::invalid(e), None),
            }
        }
        _ => {
            let e = "ferry copy needs a SOURCE_URL and a TARGET (or --from-file LIST and a \
                     TARGET): see ferry copy --help";
            return failed(&args, &TransferError::invalid(e), None);
        }
    };
    let several = entries.len() > 1 || list.is_some();
    if let [one] = &entries[..] {
        (args.job.source_url, args.job.target) = (one.source.clone(), one.target.clone());
    }
    if let Err(e) = limits::check_instance_memory_mib(args.instance_memory_mib) {
        return failed(&args, &TransferError::from(e), None);
    }
    let max_memory = match args.max_memory.as_deref().map(limits::check_max_memory) {
        Some(Err(e)) => return failed(&args, &TransferError::from(e), None),
        Some(Ok(bytes)) => bytes,
        None => limits::default_max_memory(),
    };
    if let Some(n) = args.parallel {
        let range = ferry_rules::job::in_range(
            "--parallel",
            n.into(),
            1,
            MAX_INSTANCES.into(),
            "parts in flight at once",
        );
        if let Err(e) = range {
            return failed(&args, &TransferError::invalid(e), None);
        }
    }
    if let Some(rate) = &args.bwlimit {
        match ferry_host::net::bwlimit::parse_rate(rate) {
            Ok(bytes_per_sec) => ferry_host::net::bwlimit::set_global(bytes_per_sec),
            Err(e) => return failed(&args, &TransferError::invalid(e), None),
        }
    }
    // Without --parallel the component finds the parts in flight, up to
    // what the parts' runner holds. A default is never out of range; a
    // number given is checked as given.
    let cap = if !args.workers.is_empty() {
        (args.workers.len() as u32)
            .saturating_mul(args.worker_concurrency.max(1))
            .min(MAX_INSTANCES)
    } else if args.fc_function.is_some() {
        FC_MAX_PARALLEL
    } else {
        limits::parallel_for_memory(max_memory)
    };
    let instances = args.parallel.unwrap_or(cap);
    let limits = Limits {
        instances,
        instance_memory: args.instance_memory_mib << 20,
        part_deadline: Duration::from_secs(args.instance_timeout),
        ..Limits::default()
    };
    let mut transfer = Transfer::builder()
        .job_args(&args.job)
        .defaults_from_env(true)
        .profile(args.profile.clone())
        .limits(limits);
    transfer = match args.parallel {
        Some(n) => transfer.instances(n),
        None => transfer.max_parallel(cap),
    };
    if let Some(c) = &args.component {
        transfer = transfer.component(c);
    }
    if let Some(f) = &args.ca_bundle {
        transfer = transfer.ca_bundle(f);
    }
    if !args.workers.is_empty() {
        transfer = transfer
            .workers(args.workers.clone())
            .worker_concurrency(args.worker_concurrency);
    }
    if let (Some(function), Some(endpoint)) = (&args.fc_function, &args.fc_endpoint) {
        let Some(key) = ferry_host::fc::FcConfig::key_from_env() else {
            eprintln!(
                "ferry: error: --fc-function needs an AccessKey that may invoke it: set \
                 ALIBABA_CLOUD_ACCESS_KEY_ID and ALIBABA_CLOUD_ACCESS_KEY_SECRET (or the OSS ones)"
            );
            return ExitCode::from(2);
        };
        transfer = transfer.fc(ferry_host::fc::FcConfig {
            function: function.clone(),
            endpoint: endpoint.clone(),
            qualifier: args.fc_qualifier.clone(),
            key,
        });
    }
    if several && (args.dry_run || args.job.resume.as_deref().is_some_and(|id| !id.is_empty())) {
        let e = "--dry-run and --resume ID take one source and its object's name, not several";
        return failed(&args, &TransferError::invalid(e), None);
    }
    if several {
        return batch::run(&args, transfer, limits, entries).await;
    }
    if args.dry_run {
        return dry_run(&args, &transfer, limits, cap).await;
    }
    let interrupt = transfer.interrupt();
    tokio::spawn(stop_on_signals(interrupt.clone()));
    let mut progress = Progress::new(args.show());
    let outcome = transfer.run(|event| progress.on(event)).await;
    progress.finish();
    match outcome {
        Ok(report) => {
            if args.json {
                let mut v = ferry_host::transfer::report_json(&report);
                v["ok"] = true.into();
                println!("{v}");
            } else if !args.quiet {
                let in_flight = report.parallelism.as_ref().map_or(instances, |p| p.max);
                print_report(&report, &fanout_label(&args, in_flight));
            }
            ExitCode::SUCCESS
        }
        Err(e) => failed(&args, &e, interrupt.reason()),
    }
}

/// `--dry-run`: plans the copy on a runtime of its own, prints the plan
/// (one JSON object with --json) and uploads nothing.
async fn dry_run(args: &CopyArgs, transfer: &Transfer, limits: Limits, cap: u32) -> ExitCode {
    let runtime = match runtime_for(args, limits) {
        Ok(rt) => rt,
        Err(e) => return failed(args, &e, None),
    };
    let planned = match dry_run::plan(transfer, &runtime, args.profile.clone()).await {
        Ok(p) => p,
        Err(e) => return failed(args, &e, None),
    };
    let (job, plan) = (&planned.job, &planned.plan);
    let source = ferry_rules::redact(&job.source_url);
    let target = &args.job.target;
    let (mode, start) = match args.parallel {
        Some(n) => ("pinned", n),
        None => ("auto", AUTO_START.min(cap)),
    };
    if args.json {
        let v = serde_json::json!({
            "ok": true,
            "dry_run": true,
            "source": source,
            "target": target,
            "endpoint": job.endpoint,
            "region": job.target_region,
            "size": plan.source.size,
            "part_size": plan.part_size,
            "parts": plan.part_count,
            "parallelism": {"mode": mode, "start": start, "cap": cap},
            "source_crc64": plan.source.crc64.map(|c| c.to_string()),
            "ranges": plan.source.ranges,
            "server_side": plan.server_side,
        });
        println!("{v}");
        return ExitCode::SUCCESS;
    }
    let size = plan
        .source
        .size
        .map_or("size unknown".into(), |s| HumanBytes(s).to_string());
    let crc = match plan.source.crc64 {
        Some(_) => "offers CRC-64",
        None => "no CRC-64 (ferry hashes the parts)",
    };
    let ranges = if plan.source.ranges {
        "serves ranges"
    } else {
        "no ranges: read as one stream"
    };
    println!("source     {source}  {size}, {crc}, {ranges}");
    println!(
        "target     {target}  at {}: the credentials reach the bucket (an upload was started \
         and aborted)",
        job.endpoint.as_deref().unwrap_or("the default endpoint")
    );
    let max = (mode == "auto").then_some(cap);
    println!(
        "plan       {} parts of {}, {}{}",
        plan.part_count,
        HumanBytes(plan.part_size),
        in_flight(start, max),
        if plan.server_side {
            ", copied by the store itself (UploadPartCopy)"
        } else {
            ""
        }
    );
    println!("dry run    nothing was uploaded");
    ExitCode::SUCCESS
}

/// The runtime of a copy's component, with `limits` and the client the
/// options say (`--ca-bundle`), for a dry run or several files.
fn runtime_for(args: &CopyArgs, limits: Limits) -> Result<Arc<ferry_host::Runtime>, TransferError> {
    use ferry_host::net::address_policy::AddressPolicy;
    use ferry_host::net::client::{Client, ClientConfig};
    limits.check()?;
    let path = args
        .component
        .clone()
        .unwrap_or_else(ferry_host::runtime::default_component_path);
    let client = ClientConfig::from_env(AddressPolicy::cli(), args.ca_bundle.as_deref())
        .map_err(TransferError::invalid)?;
    ferry_host::Runtime::with_client(&path, limits, Arc::new(Client::new(client)))
        .map_err(|e| dry_run::internal(&e))
}

/// Parts in flight when an automatic copy starts (the pacer grows them).
const AUTO_START: u32 = 4;

/// Prints a failed copy (one JSON object with --json, one line on stderr)
/// and returns its exit code.
fn failed(args: &CopyArgs, e: &TransferError, interrupted: Option<String>) -> ExitCode {
    if args.json {
        let mut v = serde_json::to_value(e).unwrap_or_default();
        v["ok"] = false.into();
        println!("{v}");
    }
    eprintln!("ferry: error: {e}");
    if e.upload_id.is_none() {
        eprintln!("ferry: nothing was written to the target and no upload was left behind");
    }
    if interrupted.is_some() {
        return ExitCode::from(130);
    }
    ExitCode::from(TransferError::exit_code(e) as u8)
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

/// Where the parts ran, for the closing line.
fn fanout_label(args: &CopyArgs, instances: u32) -> String {
    if !args.workers.is_empty() {
        format!(
            "{} workers, {instances} parts in flight",
            args.workers.len()
        )
    } else if args.fc_function.is_some() {
        format!("Function Compute, {instances} parts in flight")
    } else {
        format!("{instances} instances")
    }
}

fn print_report(r: &Report, fanout: &str) {
    if let Some(url) = &r.final_url {
        println!("source     redirected to {url}");
    }
    if let Some(key) = &r.key {
        println!("object     {key}");
    }
    if let (Some(nvme), true) = (r.crc64nvme, r.size > 0) {
        // S3's full-object checksum, which the store checked on completion.
        println!(
            "verified   crc64nvme {nvme}  ({} parts; {})",
            r.parts, r.checks
        );
    } else if r.store_crc64 == 0 && r.crc64 == 0 && r.size > 0 {
        // An S3 store with no source CRC to compare: the ETags carry the checks.
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
        "done       {} in {:.2} s  ({}/s, {fanout}, {} retries{})",
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

#[derive(clap::Args)]
#[command(
    after_help = "Events: the FC design's {\"source_url\",\"target_bucket_name\",\"target_object_name\",\
                         \"target_region\"}, ferry's job (those plus endpoint, part_size, parallel, retries, \
                         part_timeout, keep_partial, resume, signature_version), a list of jobs, or an OSS \
                         trigger event (with --target). Credentials: the request's x-fc-access-key-id, \
                         x-fc-access-key-secret and x-fc-security-token headers, else OSS_ACCESS_KEY_ID, \
                         OSS_ACCESS_KEY_SECRET and OSS_SESSION_TOKEN.\n\n\
                         Sources and stores on loopback, private, link-local and metadata addresses are \
                         refused unless re-opened with --allow-cidr."
)]
struct ServeArgs {
    /// Address to listen on [default: 0.0.0.0:$FC_SERVER_PORT on Function Compute, else
    /// 127.0.0.1:$FC_SERVER_PORT; the port defaults to 9000].
    #[arg(long)]
    listen: Option<std::net::SocketAddr>,
    /// Require `Authorization: Bearer TOKEN` (at least 16 characters); needed to listen
    /// beyond loopback outside Function Compute.
    #[arg(long, env = "FERRY_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// Where OSS trigger events copy each new object: oss://BUCKET/PREFIX/ (the key is
    /// appended to PREFIX).
    #[arg(long)]
    target: Option<String>,
    /// Read new objects of OSS trigger events from URL/KEY instead of
    /// https://BUCKET.oss-REGION.aliyuncs.com/KEY (a CDN in front of the bucket, a test bed).
    #[arg(long, value_name = "URL")]
    source_endpoint: Option<String>,
    /// The store endpoint for jobs that name none; jobs may also name it
    /// [default: https://oss-REGION.aliyuncs.com].
    #[arg(long, env = "OSS_ENDPOINT")]
    endpoint: Option<String>,
    /// The store region for jobs that name none [default: the event's, else x-fc-region].
    #[arg(long, env = "OSS_REGION")]
    region: Option<String>,
    /// Allow sources and stores in this address range (repeatable), e.g. 10.1.0.0/16.
    #[arg(long = "allow-cidr", value_name = "CIDR")]
    allow_cidr: Vec<ferry_host::net::address_policy::IpNet>,
    /// Parts in flight per transfer at most (local instances or InvokeFunction
    /// calls), 1 to 1000: the component finds how many as the copy runs, and a
    /// job's `parallel` pins it within this.
    #[arg(long, default_value_t = 128)]
    instances: u32,
    /// Transfers at once; further requests wait. At least 1, and --jobs x --instances at
    /// most 4000.
    #[arg(long, default_value_t = 1)]
    jobs: u32,
    /// Largest request body in bytes (413 past it), 1 KiB to 1 GiB.
    #[arg(long, default_value_t = ferry_host::serve::DEFAULT_MAX_BODY)]
    max_body: usize,
    /// Signature version for jobs that name none: v4 (default) or v1.
    #[arg(long)]
    signature: Option<String>,
    /// Memory one instance may use, in MiB, 16 to 4096.
    #[arg(long, default_value_t = 128)]
    instance_memory_mib: usize,
    /// Seconds one part instance may run before it is stopped and the part re-dispatched,
    /// 1 to 86400.
    #[arg(long, default_value_t = 600)]
    instance_timeout: u64,
    /// Retries of one part after its first attempt, for jobs that name none; 0 to 100.
    #[arg(long)]
    retries: Option<u32>,
    /// Seconds one part may take over all its attempts, for jobs that name none; 1 to 86400.
    #[arg(long)]
    part_timeout: Option<u32>,
    /// The ferry component [default: $FERRY_COMPONENT, or ferry.wasm beside or above the executable].
    #[arg(long)]
    component: Option<PathBuf>,
    /// Also trust the CA certificates in this PEM file (sources and stores behind a private
    /// CA), besides the bundled roots, the system store, SSL_CERT_FILE, SSL_CERT_DIR and
    /// AWS_CA_BUNDLE.
    #[arg(long, value_name = "FILE")]
    ca_bundle: Option<PathBuf>,
    #[command(flatten)]
    connections: ferry_host::serve::Connections,
    #[command(flatten)]
    fan_out: ferry_host::serve::FanOut,
}

/// Every numeric and enumerated option of `ferry serve`, checked before
/// the component is loaded.
fn check_serve(args: &ServeArgs) -> Result<(), limits::BadOption> {
    limits::check_instances(args.instances)?;
    limits::check_instance_memory_mib(args.instance_memory_mib)?;
    limits::check_seconds(
        "--instance-timeout",
        args.instance_timeout,
        "seconds one part instance may run",
    )?;
    if let Some(n) = args.retries {
        limits::check_retries(n)?;
    }
    if let Some(secs) = args.part_timeout {
        limits::check_seconds(
            "--part-timeout",
            secs.into(),
            "seconds one part may take over all its attempts",
        )?;
    }
    if let Some(v) = &args.signature {
        limits::check_signature(v)?;
    }
    limits::check_jobs(args.jobs, args.instances)?;
    limits::check_max_body(args.max_body)
}

async fn serve(args: ServeArgs) -> ExitCode {
    use ferry_host::serve::{default_listen, on_function_compute, ServeConfig};
    use ferry_host::trigger::{Rules, TargetRule};
    if let Err(e) = check_serve(&args) {
        eprintln!("ferry: error: {e}");
        return ExitCode::from(2);
    }
    let target = match args.target.as_deref().map(TargetRule::parse).transpose() {
        Ok(t) => t,
        Err(e) => {
            eprintln!("ferry: error: {e}");
            return ExitCode::from(2);
        }
    };
    let on_fc = on_function_compute();
    let config = ServeConfig {
        listen: args.listen.unwrap_or_else(|| default_listen(on_fc)),
        token: args.token.filter(|t| !t.is_empty()),
        rules: Rules {
            target,
            source_endpoint: args.source_endpoint,
            endpoint: args.endpoint,
            region: args.region,
            max_parallel: args.instances,
        },
        limits: Limits {
            instances: args.instances,
            instance_memory: args.instance_memory_mib << 20,
            part_deadline: Duration::from_secs(args.instance_timeout),
            ..Limits::default()
        },
        jobs: args.jobs,
        max_body: args.max_body,
        allow: args.allow_cidr,
        component: args
            .component
            .unwrap_or_else(ferry_host::runtime::default_component_path),
        signature: args.signature,
        retries: args.retries,
        part_timeout: args.part_timeout,
        on_fc,
        connections: args.connections,
        fan_out: args.fan_out,
        ca_bundle: args.ca_bundle,
    };
    if let Err(e) = config.check() {
        eprintln!("ferry: error: {e:#}");
        return ExitCode::from(2);
    }
    match ferry_host::serve::serve(config).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ferry: error: {e:#}");
            ExitCode::from(70)
        }
    }
}
