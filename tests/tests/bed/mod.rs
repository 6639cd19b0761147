//! What the end-to-end tests share: where the built artifacts are, a test
//! bed (source + store) that cleans up after itself, and the checks of the
//! end state.

#![allow(dead_code)]

use ferry_testbed::pattern;
use ferry_testbed::source::{SourceConfig, SourceServer};
use ferry_testbed::store::{Credential, Sink, StoreConfig, StoreServer};
use serde_json::Value;
use std::path::PathBuf;
use std::process::{Command, Output};

pub const REGION: &str = "cn-hangzhou";

/// The checkout these tests run in, found from the running test executable
/// (`WORKSPACE/target/release/deps/NAME-HASH`), not from where it was
/// compiled: a test binary built in another clone tests this clone's ferry.
pub fn workspace() -> PathBuf {
    let exe = std::env::current_exe().expect("the test executable's path");
    let exe = exe.canonicalize().unwrap_or(exe);
    match exe.ancestors().nth(4) {
        Some(dir) if dir.join("Cargo.toml").is_file() => dir.to_path_buf(),
        _ => panic!(
            "{} is not WORKSPACE/target/PROFILE/deps/TEST: run the tests with `cargo test` in the checkout",
            exe.display()
        ),
    }
}

/// `target/release/ferry`, built by `make build`.
pub fn ferry_bin() -> PathBuf {
    let p = workspace().join("target/release/ferry");
    assert!(p.exists(), "{} is missing: run `make build`", p.display());
    p
}

/// `target/ferry.wasm`, built by `make build`.
pub fn component() -> PathBuf {
    workspace().join("target/ferry.wasm")
}

/// `target/venv/bin/python3`, the Python with moto, boto3 and oss2 that
/// `make venv` makes (`make test` does it).
pub fn python() -> PathBuf {
    let p = workspace().join("target/venv/bin/python3");
    assert!(p.exists(), "{} is missing: run `make venv`", p.display());
    p
}

/// A key without a token.
pub fn key(id: &str, secret: &str) -> Credential {
    Credential {
        id: id.into(),
        secret: secret.into(),
        token: None,
    }
}

/// A source and a store on loopback, one bucket; the store's folder is
/// removed on drop.
pub struct Bed {
    pub source: SourceServer,
    pub store: StoreServer,
    pub bucket: &'static str,
    dir: PathBuf,
}

impl Bed {
    /// `disk`: keep bytes (and MD5 ETags) so they can be read back; else a
    /// null sink that still checks sizes and CRCs.
    pub fn start(
        tag: &str,
        bucket: &'static str,
        source: SourceConfig,
        credentials: Vec<Credential>,
        disk: bool,
    ) -> Bed {
        let dir = std::env::temp_dir().join(format!("ferry-test-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let store = StoreServer::start(StoreConfig {
            region: REGION.into(),
            buckets: vec![bucket.into()],
            credentials,
            sink: if disk {
                Sink::Disk(dir.clone())
            } else {
                Sink::Null
            },
            md5_etags: disk,
        })
        .unwrap();
        Bed {
            source: SourceServer::start(source).unwrap(),
            store,
            bucket,
            dir,
        }
    }

    /// The object is the source's pattern object (seed, size): size and
    /// CRC-64, and the bytes when the store keeps them; no upload is left.
    pub fn check_copied(&self, seed: u64, size: u64, key: &str) -> Result<(), String> {
        let info = self
            .store
            .object(self.bucket, key)
            .ok_or("no object after a successful copy")?;
        if info.size != size || info.crc64 != pattern::crc64(seed, size) {
            return Err(format!("the object differs from the source: {info:?}"));
        }
        if let Some(bytes) = self.store.read_object(self.bucket, key) {
            let mut expected = vec![0u8; size as usize];
            pattern::fill(seed, 0, &mut expected);
            if bytes != expected {
                return Err("the stored bytes differ from the source".into());
            }
        }
        self.check_no_upload()
    }

    /// No multipart upload is left in the bucket.
    pub fn check_no_upload(&self) -> Result<(), String> {
        match self.store.open_uploads(self.bucket).len() {
            0 => Ok(()),
            n => Err(format!("{n} upload(s) left behind")),
        }
    }
}

impl Drop for Bed {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A child process killed (and reaped) when dropped, so a test that fails
/// halfway leaves no server running.
pub struct Reaped(pub std::process::Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A free loopback port (bound, read and released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The JSON object on the last line of a command's stdout.
pub fn last_json(stdout: &[u8]) -> Value {
    let text = String::from_utf8_lossy(stdout);
    text.lines()
        .last()
        .and_then(|l| serde_json::from_str(l).ok())
        .unwrap_or(Value::Null)
}

/// `ferry copy SOURCE oss://BUCKET/KEY` into `bed`'s store, in a clean
/// environment holding only the OSS key `key_id`/`secret` and the component.
pub fn ferry_copy(
    bed: &Bed,
    source: &str,
    bucket: &str,
    key: &str,
    secrets: (&str, &str),
) -> Command {
    ferry_copy_to(bed, source, &format!("oss://{bucket}/{key}"), secrets)
}

/// `ferry copy SOURCE TARGET` (`oss://…` or `s3://…`) into `bed`'s store,
/// in a clean environment holding only the key `key_id`/`secret` (in the
/// target store's variables) and the component.
pub fn ferry_copy_to(
    bed: &Bed,
    source: &str,
    target: &str,
    (key_id, secret): (&str, &str),
) -> Command {
    let (id_var, secret_var) = if target.starts_with("s3://") {
        ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")
    } else {
        ("OSS_ACCESS_KEY_ID", "OSS_ACCESS_KEY_SECRET")
    };
    let mut command = Command::new(ferry_bin());
    command
        .args(["copy", source, target])
        .args(["--endpoint", &bed.store.endpoint(), "--region", REGION])
        .env_clear()
        .env(id_var, key_id)
        .env(secret_var, secret)
        .env("FERRY_COMPONENT", component());
    command
}

/// Runs `command` and asserts that none of `secrets` shows in its stdout or
/// stderr.
pub fn output_hiding(command: &mut Command, secrets: &[&str]) -> Output {
    let out = command.output().expect("the command runs");
    let (stdout, stderr) = text(&out);
    for secret in secrets {
        assert!(
            !stdout.contains(secret) && !stderr.contains(secret),
            "a secret shows in the output: {stdout}\n{stderr}"
        );
    }
    out
}

/// A command's stdout and stderr as text.
pub fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}
