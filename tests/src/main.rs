//! `ferry-testbed`: run the loopback source and store, or verify an object.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use ferry_testbed::faults::{self, Faults};
use ferry_testbed::source::{SourceConfig, SourceServer};
use ferry_testbed::store::{Credential, Sink, StoreConfig, StoreServer};
use ferry_testbed::verify;

/// Access key of `up` when OSS_ACCESS_KEY_ID is not set. A public demo value.
const DEMO_KEY_ID: &str = "ferry-demo-key";
/// Secret of `up` when OSS_ACCESS_KEY_SECRET is not set. A public demo value.
const DEMO_KEY_SECRET: &str = "ferry-demo-secret";

/// Loopback test bed for ferry: a deterministic HTTP source and an
/// OSS-protocol store. Servers print their URL on the first line of stdout
/// and run until SIGINT/SIGTERM or until stdin (when it is a pipe) closes.
#[derive(Parser)]
#[command(name = "ferry-testbed", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve pattern objects at /obj/{seed}/{size}.
    Source(SourceArgs),
    /// Serve an OSS-protocol store (path-style, signed requests only).
    Store(StoreArgs),
    /// Run a source and a store with demo settings (bucket ferry-demo,
    /// region cn-hangzhou, key from OSS_ACCESS_KEY_ID/OSS_ACCESS_KEY_SECRET
    /// or the built-in demo key).
    Up(UpArgs),
    /// Check that an object in a store equals pattern object (seed, size).
    Verify(VerifyArgs),
}

#[derive(Args)]
struct SourceArgs {
    /// Address to listen on (loopback only).
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    #[command(flatten)]
    knobs: SourceKnobs,
    #[command(flatten)]
    faults: SourceFaultArgs,
}

/// Source faults (counted from start; see tests/README.md).
#[derive(Args, Default)]
struct SourceFaultArgs {
    /// Cut the first TIMES (default 1) GET bodies longer than BYTES after
    /// BYTES bytes (connection closed mid-body).
    #[arg(long, value_name = "BYTES[:TIMES]", value_parser = faults::parse_bytes_times)]
    reset_after: Option<(u64, u32)>,
    /// Pause the first TIMES (default 1) GET bodies longer than BYTES for
    /// MILLIS ms after BYTES bytes.
    #[arg(long, value_name = "BYTES:MILLIS[:TIMES]", value_parser = faults::parse_stall)]
    stall: Option<(u64, std::time::Duration, u32)>,
    /// Answer the first TIMES GET requests with STATUS (and Retry-After).
    #[arg(long, value_name = "STATUS:TIMES[:RETRY_AFTER_S]", value_parser = faults::parse_status_burst)]
    status_burst: Option<(u16, u32, Option<u32>)>,
    /// After N GET requests, every object changes (bytes, ETag, Last-Modified).
    #[arg(long, value_name = "N")]
    change_after: Option<u32>,
    /// 403 to every object request.
    #[arg(long)]
    forbidden: bool,
    /// 404 to every object request.
    #[arg(long)]
    not_found: bool,
}

impl SourceFaultArgs {
    fn apply(&self, f: &mut Faults) {
        f.reset_after = self.reset_after;
        f.stall = self.stall;
        f.status_burst = self.status_burst;
        f.change_after = self.change_after;
        f.forbidden = self.forbidden;
        f.not_found = self.not_found;
    }
}

/// Store faults (counted from start; see tests/README.md).
#[derive(Args, Default)]
struct StoreFaultArgs {
    /// Answer the first TIMES UploadPart requests with STATUS (OSS error
    /// XML, Retry-After when given) after reading their body.
    #[arg(long, value_name = "STATUS:TIMES[:RETRY_AFTER_S]", value_parser = faults::parse_status_burst)]
    part_status_burst: Option<(u16, u32, Option<u32>)>,
    /// Store the first N parts corrupted (last byte flipped) and answer
    /// their CRC-64 accordingly, i.e. different from what was sent.
    #[arg(long, value_name = "N", default_value_t = 0)]
    wrong_part_crc: u32,
    /// Close the connection of the first TIMES (default 1) UploadPart
    /// requests after reading BYTES body bytes, without a response.
    #[arg(long, value_name = "BYTES[:TIMES]", value_parser = faults::parse_bytes_times)]
    reset_part_after: Option<(u64, u32)>,
    /// Fail the first TIMES CompleteMultipartUpload requests with STATUS.
    #[arg(long, value_name = "STATUS:TIMES", value_parser = faults::parse_status_times)]
    complete_status_burst: Option<(u16, u32)>,
    /// Complete the first N multipart uploads but answer a wrong object
    /// CRC-64 (the object's xor 1).
    #[arg(long, value_name = "N", default_value_t = 0)]
    wrong_object_crc: u32,
    /// Fail the first TIMES AbortMultipartUpload requests with STATUS.
    #[arg(long, value_name = "STATUS:TIMES", value_parser = faults::parse_status_times)]
    abort_status_burst: Option<(u16, u32)>,
    /// 403 AccessDenied to every OSS request.
    #[arg(long)]
    deny_all: bool,
    /// 403 AccessDenied to every UploadPartCopy (a source the key may not read).
    #[arg(long)]
    deny_part_copy: bool,
    /// 403 AccessDenied to every HeadObject.
    #[arg(long)]
    deny_head: bool,
    /// Answer 503 (reduce your request rate) to an UploadPart arriving
    /// while K UploadParts are already in progress.
    #[arg(long, value_name = "K")]
    slow_down_above: Option<u32>,
}

impl StoreFaultArgs {
    fn apply(&self, f: &mut Faults) {
        f.part_status_burst = self.part_status_burst;
        f.wrong_part_crc = self.wrong_part_crc;
        f.reset_part_after = self.reset_part_after;
        f.complete_status_burst = self.complete_status_burst;
        f.wrong_object_crc = self.wrong_object_crc;
        f.abort_status_burst = self.abort_status_burst;
        f.deny_all = self.deny_all;
        f.deny_part_copy = self.deny_part_copy;
        f.deny_head = self.deny_head;
        f.slow_down_above = self.slow_down_above;
    }
}

#[derive(Args)]
struct SourceKnobs {
    /// Send x-oss-hash-crc64ecma (whole-object CRC-64, decimal) like an OSS source.
    #[arg(long)]
    crc: bool,
    /// Cap each connection at this many bytes per second (about 13000000
    /// mimics one internet connection).
    #[arg(long, value_name = "BYTES_PER_S")]
    rate: Option<u64>,
    /// Ignore Range headers: always 200 with the whole object.
    #[arg(long)]
    no_range: bool,
    /// Send bodies chunked, without Content-Length (HEAD has no length).
    #[arg(long)]
    no_content_length: bool,
    /// Refuse HEAD with 405.
    #[arg(long)]
    refuse_head: bool,
    /// Send no ETag, only Last-Modified.
    #[arg(long)]
    no_etag: bool,
    /// State two sizes: HEAD and 200 replies say N bytes, while 206/416
    /// Content-Range totals state the true size (same ETag).
    #[arg(long, value_name = "N")]
    lie_head_size: Option<u64>,
    /// State two sizes: HEAD and 200 replies say the true size, while
    /// 206/416 Content-Range totals say N (same ETag).
    #[arg(long, value_name = "N")]
    lie_range_total: Option<u64>,
}

impl SourceKnobs {
    fn config(&self) -> SourceConfig {
        SourceConfig {
            crc_header: self.crc,
            rate_limit: self.rate,
            no_range: self.no_range,
            no_content_length: self.no_content_length,
            refuse_head: self.refuse_head,
            no_etag: self.no_etag,
            lie_head_size: self.lie_head_size,
            lie_range_total: self.lie_range_total,
            require_header: None,
            response_headers: Vec::new(),
        }
    }
}

#[derive(Args)]
struct StoreArgs {
    /// Address to listen on (loopback only).
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// Keep objects as files under DIR.
    #[arg(
        long,
        value_name = "DIR",
        conflicts_with = "null",
        required_unless_present = "null"
    )]
    data_dir: Option<PathBuf>,
    /// Discard object bytes (sizes and CRCs are still checked and recorded).
    #[arg(long)]
    null: bool,
    /// Region that V4 signatures must be scoped to.
    #[arg(long, default_value = "cn-hangzhou")]
    region: String,
    /// A bucket that exists (repeatable).
    #[arg(long = "bucket", value_name = "NAME", required = true)]
    buckets: Vec<String>,
    /// An accepted key, ID:SECRET or ID:SECRET:STS_TOKEN (repeatable).
    #[arg(long = "credential", value_name = "ID:SECRET[:TOKEN]", required = true, value_parser = parse_credential)]
    credentials: Vec<Credential>,
    /// ETags from CRC and size instead of MD5 (saves an MD5 pass; not what
    /// OSS sends).
    #[arg(long)]
    cheap_etags: bool,
    #[command(flatten)]
    faults: StoreFaultArgs,
}

#[derive(Args)]
struct UpArgs {
    /// Source address.
    #[arg(long, default_value = "127.0.0.1:0")]
    source_listen: SocketAddr,
    /// Store address.
    #[arg(long, default_value = "127.0.0.1:0")]
    store_listen: SocketAddr,
    /// Keep objects under DIR (default: a temporary directory, removed at exit).
    #[arg(long, value_name = "DIR", conflicts_with = "null")]
    data_dir: Option<PathBuf>,
    /// Discard object bytes in the store.
    #[arg(long)]
    null: bool,
    #[command(flatten)]
    knobs: SourceKnobs,
    #[command(flatten)]
    source_faults: SourceFaultArgs,
    #[command(flatten)]
    store_faults: StoreFaultArgs,
}

#[derive(Args)]
struct VerifyArgs {
    /// Store URL, e.g. http://127.0.0.1:PORT
    #[arg(long)]
    store: String,
    #[arg(long)]
    bucket: String,
    #[arg(long)]
    key: String,
    /// Seed of the expected pattern object.
    #[arg(long)]
    seed: u64,
    /// Size of the expected pattern object in bytes.
    #[arg(long)]
    size: u64,
}

fn parse_credential(s: &str) -> Result<Credential, String> {
    let mut parts = s.splitn(3, ':');
    match (parts.next(), parts.next(), parts.next()) {
        (Some(id), Some(secret), token) if !id.is_empty() && !secret.is_empty() => Ok(Credential {
            id: id.to_string(),
            secret: secret.to_string(),
            token: token.filter(|t| !t.is_empty()).map(str::to_string),
        }),
        _ => Err("expected ID:SECRET or ID:SECRET:TOKEN".to_string()),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Source(args) => run_source(args),
        Command::Store(args) => run_store(args),
        Command::Up(args) => run_up(args),
        Command::Verify(args) => return run_verify(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ferry-testbed: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run_source(args: SourceArgs) -> std::io::Result<()> {
    let server = SourceServer::start_on(args.listen, args.knobs.config())?;
    let mut f = Faults::default();
    args.faults.apply(&mut f);
    server.set_faults(f);
    announce(&format!("source http://{}", server.addr()))?;
    wait_for_shutdown();
    Ok(())
}

fn run_store(args: StoreArgs) -> std::io::Result<()> {
    let sink = match args.data_dir {
        Some(dir) => Sink::Disk(dir),
        None => Sink::Null,
    };
    let server = StoreServer::start_on(
        args.listen,
        StoreConfig {
            region: args.region,
            buckets: args.buckets,
            credentials: args.credentials,
            sink,
            md5_etags: !args.cheap_etags,
        },
    )?;
    let mut f = Faults::default();
    args.faults.apply(&mut f);
    server.set_faults(f);
    announce(&format!("store {}", server.endpoint()))?;
    wait_for_shutdown();
    Ok(())
}

fn run_up(args: UpArgs) -> std::io::Result<()> {
    let id = std::env::var("OSS_ACCESS_KEY_ID").unwrap_or_else(|_| DEMO_KEY_ID.to_string());
    let secret =
        std::env::var("OSS_ACCESS_KEY_SECRET").unwrap_or_else(|_| DEMO_KEY_SECRET.to_string());
    let (sink, temp_dir) = match (args.null, args.data_dir) {
        (true, _) => (Sink::Null, None),
        (false, Some(dir)) => (Sink::Disk(dir), None),
        (false, None) => {
            let dir = std::env::temp_dir().join(format!("ferry-testbed-{}", std::process::id()));
            (Sink::Disk(dir.clone()), Some(dir))
        }
    };
    let source = SourceServer::start_on(args.source_listen, args.knobs.config())?;
    let store = StoreServer::start_on(
        args.store_listen,
        StoreConfig {
            region: "cn-hangzhou".into(),
            buckets: vec!["ferry-demo".into()],
            credentials: vec![Credential {
                id: id.clone(),
                secret,
                token: None,
            }],
            sink: sink.clone(),
            md5_etags: true,
        },
    )?;
    let mut f = Faults::default();
    args.source_faults.apply(&mut f);
    args.store_faults.apply(&mut f);
    source.set_faults(f.clone());
    store.set_faults(f);
    announce(&format!(
        "source http://{}\nstore {}",
        source.addr(),
        store.endpoint()
    ))?;
    eprintln!(
        "ferry-testbed: bucket ferry-demo, region cn-hangzhou, access key id {id}, sink {sink:?}; \
         objects at {}",
        source.url(1, 1 << 30)
    );
    wait_for_shutdown();
    drop(store);
    if let Some(dir) = temp_dir {
        let _ = std::fs::remove_dir_all(dir);
    }
    Ok(())
}

fn run_verify(args: VerifyArgs) -> ExitCode {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let outcome = runtime.block_on(verify::verify(
        &args.store,
        &args.bucket,
        &args.key,
        args.seed,
        args.size,
    ));
    match outcome {
        Ok(verdict) => {
            println!("OK {}/{}: {verdict}", args.bucket, args.key);
            ExitCode::SUCCESS
        }
        Err(e) => {
            println!("MISMATCH {}/{}: {e}", args.bucket, args.key);
            ExitCode::FAILURE
        }
    }
}

/// Prints the server line(s) and flushes, so a parent reading the first
/// line of a pipe sees them at once.
fn announce(lines: &str) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{lines}")?;
    out.flush()
}

/// Blocks until SIGINT, SIGTERM, or the end of stdin when stdin is a pipe
/// or socket. A terminal or /dev/null stdin (e.g. a `&` background job) is
/// not watched, or the server would quit at once.
fn wait_for_shutdown() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let (eof_tx, eof_rx) = tokio::sync::oneshot::channel::<()>();
        // Held (unused) when stdin is not watched, so `eof_rx` never fires.
        let mut _unwatched = None;
        if stdin_is_pipe() {
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut std::io::stdin().lock(), &mut std::io::sink());
                let _ = eof_tx.send(());
            });
        } else {
            _unwatched = Some(eof_tx);
        }
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("SIGTERM handler");
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
            _ = eof_rx => {}
        }
    });
}

fn stdin_is_pipe() -> bool {
    use std::os::fd::AsFd;
    use std::os::unix::fs::FileTypeExt;
    let Ok(fd) = std::io::stdin().as_fd().try_clone_to_owned() else {
        return false;
    };
    std::fs::File::from(fd)
        .metadata()
        .map(|m| m.file_type().is_fifo() || m.file_type().is_socket())
        .unwrap_or(false)
}
