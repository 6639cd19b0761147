//! Reaching what users point ferry at: a source that redirects, a source
//! behind a private CA (trusted through `--ca-bundle`, `SSL_CERT_FILE` or
//! `AWS_CA_BUNDLE`) and sources and stores behind an HTTP proxy
//! (`HTTPS_PROXY`, `HTTP_PROXY`, `NO_PROXY`). Each copy runs the built `ferry` binary against the
//! loopback test bed, behind a TLS front and a proxy made here, and is read
//! back and compared with the source.
//!
//! Needs `make build` first (the binary and the component).

mod bed;

use bed::{component, ferry_bin, key, Bed, REGION};
use ferry_testbed::source::SourceConfig;
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
use serde_json::Value;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const BUCKET: &str = "ferry-reach";
const KEY_ID: &str = "reach-key";
const SECRET: &str = "reach-secret-value";
const PROXY_USER: &str = "proxy-user";
const PROXY_PASS: &str = "proxy-pass-w0rd";
/// What a copy is made of: 3 parts of 1 MiB and a tail.
const SEED: u64 = 17;
const SIZE: u64 = 3 * 1024 * 1024 + 12_345;

fn bed(tag: &str) -> Bed {
    Bed::start(
        tag,
        BUCKET,
        SourceConfig::default(),
        vec![key(KEY_ID, SECRET)],
        true,
    )
}

struct Run {
    code: i32,
    result: Value,
    stderr: String,
}

/// `ferry copy SOURCE oss://BUCKET/KEY` into the bed's store, with only the
/// store's key and the component in its environment.
fn copy_command(bed: &Bed, source: &str, key: &str) -> Command {
    let mut cmd = Command::new(ferry_bin());
    cmd.arg("copy")
        .arg(source)
        .arg(format!("oss://{BUCKET}/{key}"))
        .args(["--endpoint", &bed.store.endpoint(), "--region", REGION])
        .env_clear()
        .env("OSS_ACCESS_KEY_ID", KEY_ID)
        .env("OSS_ACCESS_KEY_SECRET", SECRET)
        .env("FERRY_COMPONENT", component());
    cmd
}

/// [`copy_command`] in parts of 1 MiB with `--json`, `extra` arguments and
/// `env` added.
fn ferry(bed: &Bed, source: &str, key: &str, extra: &[&str], env: &[(&str, &str)]) -> Run {
    let out = copy_command(bed, source, key)
        .args(["--part-size", "1MiB", "--json"])
        .args(extra)
        .envs(env.iter().copied())
        .output()
        .expect("ferry runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    for secret in [SECRET, PROXY_PASS, "s3cr3t"] {
        assert!(
            !stdout.contains(secret) && !stderr.contains(secret),
            "a secret leaked into ferry's output: {stdout}\n{stderr}"
        );
    }
    Run {
        code: out.status.code().unwrap_or(-1),
        result: bed::last_json(&out.stdout),
        stderr,
    }
}

impl Run {
    fn assert_ok(&self, bed: &Bed, key: &str) {
        assert_eq!(self.code, 0, "{}\n{}", self.result, self.stderr);
        bed.check_copied(SEED, SIZE, key).unwrap();
    }
}

/// A private CA made for the test, and a certificate it issued for
/// 127.0.0.1 and localhost; the CA's PEM is written to a file.
struct PrivateCa {
    dir: PathBuf,
    leaf: rustls::pki_types::CertificateDer<'static>,
    leaf_key: Vec<u8>,
}

impl PrivateCa {
    fn new(tag: &str) -> PrivateCa {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(DnType::CommonName, "ferry test private CA");
        let ca = CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap();
        let leaf_key = KeyPair::generate().unwrap();
        let leaf = CertificateParams::new(vec!["127.0.0.1".into(), "localhost".into()])
            .unwrap()
            .signed_by(&leaf_key, &ca)
            .unwrap();
        let dir = std::env::temp_dir().join(format!("ferry-reach-{tag}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("ca.pem"), ca.as_ref().pem()).unwrap();
        PrivateCa {
            dir,
            leaf: leaf.der().clone(),
            leaf_key: leaf_key.serialize_der(),
        }
    }

    fn pem(&self) -> PathBuf {
        self.dir.join("ca.pem")
    }
}

impl Drop for PrivateCa {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Serves on loopback from a thread of its own, until dropped.
struct Background {
    addr: SocketAddr,
    _runtime: tokio::runtime::Runtime,
}

fn background<F, Fut>(serve: F) -> Background
where
    F: FnOnce(TcpListener) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let listener = runtime.block_on(TcpListener::bind("127.0.0.1:0")).unwrap();
    let addr = listener.local_addr().unwrap();
    runtime.spawn(serve(listener));
    Background {
        addr,
        _runtime: runtime,
    }
}

/// An https front on loopback for the test-bed source: TLS with the private
/// CA's certificate, the plain bytes passed to `upstream`.
fn tls_front(ca: &PrivateCa, upstream: SocketAddr) -> Background {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![ca.leaf.clone()],
            rustls::pki_types::PrivateKeyDer::Pkcs8(ca.leaf_key.clone().into()),
        )
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    background(move |listener| async move {
        while let Ok((stream, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(stream).await else {
                    return;
                };
                let Ok(mut plain) = TcpStream::connect(upstream).await else {
                    return;
                };
                let _ = tokio::io::copy_bidirectional(&mut tls, &mut plain).await;
            });
        }
    })
}

/// What a proxy was asked: the first request line of each connection and
/// its `Proxy-Authorization`.
#[derive(Debug, Clone)]
struct Asked {
    line: String,
    auth: Option<String>,
}

/// An HTTP proxy on loopback: CONNECT tunnels, and absolute-form requests
/// passed on to the host they name; with `credentials`, anything else is
/// answered 407.
struct Proxy {
    server: Background,
    asked: Arc<Mutex<Vec<Asked>>>,
}

impl Proxy {
    fn start(credentials: Option<(&str, &str)>) -> Proxy {
        use base64::Engine as _;
        let expected = credentials.map(|(user, pass)| {
            let pair = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"));
            format!("Basic {pair}")
        });
        let asked = Arc::new(Mutex::new(Vec::new()));
        let log = asked.clone();
        let server = background(move |listener| async move {
            while let Ok((stream, _)) = listener.accept().await {
                let log = log.clone();
                let expected = expected.clone();
                tokio::spawn(proxy_connection(stream, log, expected));
            }
        });
        Proxy { server, asked }
    }

    /// `http://USER:PASS@127.0.0.1:PORT` (or without credentials).
    fn url(&self, credentials: Option<(&str, &str)>) -> String {
        match credentials {
            Some((user, pass)) => format!("http://{user}:{pass}@{}", self.server.addr),
            None => format!("http://{}", self.server.addr),
        }
    }

    fn asked(&self) -> Vec<Asked> {
        self.asked.lock().unwrap().clone()
    }
}

async fn proxy_connection(
    mut client: TcpStream,
    log: Arc<Mutex<Vec<Asked>>>,
    expected: Option<String>,
) {
    let mut rest = Vec::new();
    let Some(text) = read_head(&mut client, &mut rest).await else {
        return;
    };
    let line = text.lines().next().unwrap_or("").to_string();
    let auth = text.lines().find_map(|l| {
        let (name, value) = l.split_once(':')?;
        name.eq_ignore_ascii_case("proxy-authorization")
            .then(|| value.trim().to_string())
    });
    log.lock().unwrap().push(Asked {
        line: line.clone(),
        auth: auth.clone(),
    });
    if expected.is_some() && auth != expected {
        let _ = client
            .write_all(
                b"HTTP/1.1 407 Proxy Authentication Required\r\n\
                  proxy-authenticate: Basic realm=\"test\"\r\ncontent-length: 0\r\n\r\n",
            )
            .await;
        return;
    }
    let mut parts = line.split(' ');
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let authority = if method == "CONNECT" {
        target.to_string()
    } else {
        let rest = target.strip_prefix("http://").unwrap_or("");
        rest.split('/').next().unwrap_or("").to_string()
    };
    let Ok(mut upstream) = TcpStream::connect(authority.as_str()).await else {
        let _ = client
            .write_all(b"HTTP/1.1 502 Bad Gateway\r\ncontent-length: 0\r\n\r\n")
            .await;
        return;
    };
    if method == "CONNECT" {
        if client
            .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
            .await
            .is_err()
        {
            return;
        }
    } else if upstream.write_all(text.as_bytes()).await.is_err() {
        return;
    }
    if upstream.write_all(&rest).await.is_err() {
        return;
    }
    let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
}

/// The next request head from `stream` (what was read past it stays in
/// `pending`), or `None` when the peer is gone.
async fn read_head(stream: &mut TcpStream, pending: &mut Vec<u8>) -> Option<String> {
    let mut buf = [0u8; 4096];
    loop {
        if let Some(i) = pending.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&pending[..i + 4]).into_owned();
            pending.drain(..i + 4);
            return Some(head);
        }
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => pending.extend_from_slice(&buf[..n]),
        }
    }
}

/// Without the private CA's certificate the https source is refused at
/// once (exit 3, the message says how to trust it); `--ca-bundle`,
/// `SSL_CERT_FILE` and `AWS_CA_BUNDLE` each make it trusted, and the copy
/// is whole. A `--ca-bundle` that is not a PEM file of certificates stops
/// the copy before it starts (exit 2), naming the file.
#[test]
fn a_private_ca_is_trusted_through_a_bundle() {
    let bed = bed("ca");
    let ca = PrivateCa::new("ca");
    let front = tls_front(&ca, bed.source.addr());
    let source = format!("https://127.0.0.1:{}/obj/{SEED}/{SIZE}", front.addr.port());
    let pem = ca.pem();
    let pem = pem.to_str().unwrap();

    let refused = ferry(&bed, &source, "untrusted.bin", &[], &[]);
    assert_eq!(refused.code, 3, "{}\n{}", refused.result, refused.stderr);
    let message = refused.result["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("is not trusted") && message.contains("--ca-bundle"),
        "{message}"
    );

    ferry(&bed, &source, "ca-bundle.bin", &["--ca-bundle", pem], &[])
        .assert_ok(&bed, "ca-bundle.bin");
    ferry(
        &bed,
        &source,
        "ssl-cert-file.bin",
        &[],
        &[("SSL_CERT_FILE", pem)],
    )
    .assert_ok(&bed, "ssl-cert-file.bin");
    ferry(
        &bed,
        &source,
        "aws-ca-bundle.bin",
        &[],
        &[("AWS_CA_BUNDLE", pem)],
    )
    .assert_ok(&bed, "aws-ca-bundle.bin");

    let not_pem = ca.dir.join("not.pem");
    std::fs::write(&not_pem, "not a certificate\n").unwrap();
    for bad in [not_pem.as_path(), Path::new("/nonexistent/ca.pem")] {
        let run = ferry(
            &bed,
            &source,
            "bad-bundle.bin",
            &["--ca-bundle", bad.to_str().unwrap()],
            &[],
        );
        assert_eq!(run.code, 2, "{}\n{}", run.result, run.stderr);
        let message = run.result["message"].as_str().unwrap_or_default();
        assert!(
            message.contains(&bad.display().to_string()) && message.contains("PEM"),
            "{message}"
        );
    }
    assert!(bed.store.object(BUCKET, "bad-bundle.bin").is_none());
}

/// With `HTTPS_PROXY` naming a proxy that wants credentials, the https
/// source is reached through CONNECT tunnels carrying them (the plain http
/// store goes direct), and the copy is whole; with the source's host in
/// `NO_PROXY` the proxy is not asked at all. Without the credentials the
/// proxy's 407 stops the copy.
#[test]
fn https_goes_through_a_connect_proxy_unless_no_proxy() {
    let bed = bed("connect");
    let ca = PrivateCa::new("connect");
    let front = tls_front(&ca, bed.source.addr());
    let authority = format!("127.0.0.1:{}", front.addr.port());
    let source = format!("https://{authority}/obj/{SEED}/{SIZE}");
    let pem = ca.pem();
    let trusted = ["--ca-bundle", pem.to_str().unwrap()];
    let proxy = Proxy::start(Some((PROXY_USER, PROXY_PASS)));
    let with_auth = proxy.url(Some((PROXY_USER, PROXY_PASS)));

    ferry(
        &bed,
        &source,
        "proxied.bin",
        &trusted,
        &[("HTTPS_PROXY", &with_auth)],
    )
    .assert_ok(&bed, "proxied.bin");
    let asked = proxy.asked();
    assert!(!asked.is_empty(), "the proxy was not asked");
    for a in &asked {
        assert_eq!(a.line, format!("CONNECT {authority} HTTP/1.1"), "{asked:?}");
        assert!(
            a.auth.as_deref().unwrap_or("").starts_with("Basic "),
            "{a:?}"
        );
    }

    let before = proxy.asked().len();
    ferry(
        &bed,
        &source,
        "no-proxy.bin",
        &trusted,
        &[
            ("https_proxy", &with_auth),
            ("NO_PROXY", "localhost,127.0.0.1"),
        ],
    )
    .assert_ok(&bed, "no-proxy.bin");
    assert_eq!(proxy.asked().len(), before, "NO_PROXY was not respected");

    let run = ferry(
        &bed,
        &source,
        "no-credentials.bin",
        &trusted,
        &[("HTTPS_PROXY", &proxy.url(None))],
    );
    assert_eq!(run.code, 3, "{}\n{}", run.result, run.stderr);
    let message = run.result["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("proxy") && message.contains("HTTPS_PROXY"),
        "{message}"
    );
    assert!(bed.store.object(BUCKET, "no-credentials.bin").is_none());
}

/// With `HTTP_PROXY`, plain http requests (the source's and the store's)
/// go to the proxy in absolute form with the proxy's credentials, and the
/// copy is whole.
#[test]
fn http_goes_through_a_proxy_in_absolute_form() {
    let bed = bed("absolute");
    let proxy = Proxy::start(Some((PROXY_USER, PROXY_PASS)));
    let source = bed.source.url(SEED, SIZE);
    ferry(
        &bed,
        &source,
        "absolute.bin",
        &[],
        &[("HTTP_PROXY", &proxy.url(Some((PROXY_USER, PROXY_PASS))))],
    )
    .assert_ok(&bed, "absolute.bin");
    let asked = proxy.asked();
    let source_line = format!("http://{}/obj/{SEED}/{SIZE}", bed.source.addr());
    let store_line = format!("http://{}/{BUCKET}/absolute.bin", bed.store.addr());
    assert!(
        asked.iter().any(|a| a.line.contains(&source_line)),
        "{asked:?}"
    );
    assert!(
        asked.iter().any(|a| a.line.contains(&store_line)),
        "{asked:?}"
    );
    assert!(asked.iter().all(|a| a.auth.is_some()), "{asked:?}");
}

/// What a redirecting server was asked: each request's method, path and
/// `Authorization`.
#[derive(Debug, Clone)]
struct Hop {
    method: String,
    path: String,
    auth: Option<String>,
}

/// A path's redirect: its status and `Location`.
type Route = dyn Fn(&str) -> (u16, String) + Send + Sync;

/// A server on loopback that answers every request with the redirect
/// `route` gives for its path (status and `Location`), recording each.
struct Redirector {
    server: Background,
    hops: Arc<Mutex<Vec<Hop>>>,
}

impl Redirector {
    fn start(route: impl Fn(&str) -> (u16, String) + Send + Sync + 'static) -> Redirector {
        let hops = Arc::new(Mutex::new(Vec::new()));
        let log = hops.clone();
        let route = Arc::new(route);
        let server = background(move |listener| async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(redirect_connection(stream, log.clone(), route.clone()));
            }
        });
        Redirector { server, hops }
    }

    fn base(&self) -> String {
        format!("http://{}", self.server.addr)
    }

    fn hops(&self) -> Vec<Hop> {
        self.hops.lock().unwrap().clone()
    }
}

async fn redirect_connection(mut stream: TcpStream, log: Arc<Mutex<Vec<Hop>>>, route: Arc<Route>) {
    let mut pending = Vec::new();
    loop {
        let Some(head) = read_head(&mut stream, &mut pending).await else {
            return;
        };
        let mut first = head.lines().next().unwrap_or("").split(' ');
        let (method, path) = (first.next().unwrap_or(""), first.next().unwrap_or(""));
        let auth = head.lines().find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.eq_ignore_ascii_case("authorization")
                .then(|| value.trim().to_string())
        });
        log.lock().unwrap().push(Hop {
            method: method.into(),
            path: path.into(),
            auth,
        });
        let (status, location) = route(path);
        let reply =
            format!("HTTP/1.1 {status} Moved\r\nlocation: {location}\r\ncontent-length: 0\r\n\r\n");
        if stream.write_all(reply.as_bytes()).await.is_err() {
            return;
        }
    }
}

/// A redirect chain as release and CDN links make them: three relative
/// hops on one host (which gets the URL's credentials), an absolute one to
/// another host (which does not), then the object on a third. The probe
/// follows it once; the parts read the final URL directly (no part asks a
/// redirector); the report names the final URL, and the object is whole.
#[test]
fn a_redirect_chain_is_followed_to_the_final_url() {
    let bed = bed("redirects");
    let object = format!(
        "{}?Expires=1&Signature=s3cr3t-object",
        bed.source.url(SEED, SIZE)
    );
    let last = Redirector::start(move |_| (307, object.clone()));
    let last_url = format!("{}/cdn/big.bin?Signature=s3cr3t-sig", last.base());
    let hop = last_url.clone();
    let first = Redirector::start(move |path| match path {
        "/dl/3" => (301, "/dl/2".into()),
        "/dl/2" => (302, "1".into()),
        "/dl/1" => (303, "./0".into()),
        _ => (308, hop.clone()),
    });
    let authority = first.base().replace("http://", "");
    let source = format!("http://user:{PROXY_PASS}@{authority}/dl/3");

    let run = ferry(&bed, &source, "redirected.bin", &[], &[]);
    run.assert_ok(&bed, "redirected.bin");
    // Shown as ferry shows URLs: the signed query left out.
    let shown = format!("{}?…", bed.source.url(SEED, SIZE));
    assert_eq!(
        run.result["final_url"].as_str(),
        Some(shown.as_str()),
        "{}",
        run.result
    );
    let paths: Vec<String> = first.hops().iter().map(|h| h.path.clone()).collect();
    assert_eq!(
        paths,
        ["/dl/3", "/dl/2", "/dl/1", "/dl/0"],
        "{:?}",
        first.hops()
    );
    assert!(
        first.hops().iter().all(|h| h.auth.is_some()),
        "the given host lost its credentials: {:?}",
        first.hops()
    );
    let hops = last.hops();
    assert_eq!(
        hops.len(),
        1,
        "the parts went through a redirector: {hops:?}"
    );
    assert_eq!(hops[0].method, "HEAD");
    assert!(hops[0].auth.is_none(), "credentials went to another host");
    let ranged = bed
        .source
        .received()
        .iter()
        .filter(|r| r.method == "GET" && r.range.is_some())
        .count();
    assert!(
        ranged >= 4,
        "the parts did not read the final URL: {ranged}"
    );

    // The one-line summary names it too, without its query.
    let out = copy_command(&bed, &last_url, "summary.bin")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(
        stdout.contains(&format!("redirected to {shown}\n")),
        "{stdout}"
    );
    assert!(!stdout.contains("s3cr3t"), "{stdout}");
    bed.check_copied(SEED, SIZE, "summary.bin").unwrap();
}

/// A redirect loop stops at the bound (10 hops followed, the 11th refused)
/// with a message that says so, exit 3, and nothing in the store.
#[test]
fn a_redirect_loop_stops_at_the_bound() {
    let bed = bed("redirect-loop");
    let looping = Redirector::start(|path| {
        let n: u32 = path.trim_start_matches("/loop/").parse().unwrap_or(0);
        (302, format!("/loop/{}", (n + 1) % 3))
    });
    let source = format!("{}/loop/0", looping.base());
    let run = ferry(&bed, &source, "loop.bin", &[], &[]);
    assert_eq!(run.code, 3, "{}\n{}", run.result, run.stderr);
    let message = run.result["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("redirected more than 10 times") && message.contains("/loop/0"),
        "{message}"
    );
    assert_eq!(looping.hops().len(), 11, "{:?}", looping.hops());
    assert!(bed.store.object(BUCKET, "loop.bin").is_none());
    bed.check_no_upload().unwrap();
}

/// `ferry serve` on loopback, holding sources to the service address policy
/// with 127.0.0.1/32 re-opened (so 127.0.0.2 stays refused); killed on drop.
struct Serve {
    child: std::process::Child,
    addr: SocketAddr,
}

impl Serve {
    fn start(bed: &Bed) -> Serve {
        let addr: SocketAddr = format!("127.0.0.1:{}", bed::free_port()).parse().unwrap();
        let mut child = Command::new(ferry_bin())
            .arg("serve")
            .args(["--listen", &addr.to_string()])
            .args(["--endpoint", &bed.store.endpoint(), "--region", REGION])
            .args(["--allow-cidr", "127.0.0.1/32"])
            .env_clear()
            .env("FERRY_COMPONENT", component())
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("ferry serve starts");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
        while std::net::TcpStream::connect(addr).is_err() {
            assert!(child.try_wait().unwrap().is_none(), "ferry serve exited");
            assert!(
                std::time::Instant::now() < deadline,
                "ferry serve did not listen"
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        Serve { child, addr }
    }

    /// POST /jobs with the store's key in FC's headers: status and JSON.
    fn job(&self, source: &str, key: &str) -> (u16, Value) {
        use std::io::{Read, Write};
        let body = serde_json::json!({
            "source_url": source,
            "target_object_name": key,
            "target_region": REGION,
            "target_bucket_name": BUCKET,
            "part_size": 1 << 20,
        })
        .to_string();
        let mut stream = std::net::TcpStream::connect(self.addr).unwrap();
        write!(
            stream,
            "POST /jobs HTTP/1.1\r\nhost: {}\r\nconnection: close\r\n\
             content-type: application/json\r\nx-fc-access-key-id: {KEY_ID}\r\n\
             x-fc-access-key-secret: {SECRET}\r\ncontent-length: {}\r\n\r\n{body}",
            self.addr,
            body.len()
        )
        .unwrap();
        let mut raw = String::new();
        stream.read_to_string(&mut raw).unwrap();
        let status = raw
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let json = raw
            .split_once("\r\n\r\n")
            .and_then(|(_, b)| serde_json::from_str(b).ok())
            .unwrap_or(Value::Null);
        assert!(!raw.contains(SECRET), "the secret came back");
        (status, json)
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// In `ferry serve`, each hop is held to the address policy: a redirect to
/// an address the service refuses (127.0.0.2, outside the re-opened
/// 127.0.0.1/32) stops the job at once, naming the address and
/// `--allow-cidr`, with nothing sent there and nothing left in the store;
/// a redirect within the policy copies the object whole.
#[test]
fn in_service_mode_each_redirect_hop_is_held_to_the_address_policy() {
    let bed = bed("redirect-policy");
    let port = bed.source.addr().port();
    let redirector = Redirector::start(move |path| match path {
        "/refused" => (302, format!("http://127.0.0.2:{port}/obj/{SEED}/{SIZE}")),
        _ => (302, format!("http://127.0.0.1:{port}/obj/{SEED}/{SIZE}")),
    });
    let serve = Serve::start(&bed);

    let (status, result) = serve.job(&format!("{}/refused", redirector.base()), "refused.bin");
    assert_ne!(status, 200, "{result}");
    let message = result["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("127.0.0.2") && message.contains("--allow-cidr"),
        "{result}"
    );
    assert_eq!(result["kind"], "source", "{result}");
    assert_eq!(redirector.hops().len(), 1, "{:?}", redirector.hops());
    assert_eq!(bed.source.requests(), 0, "the refused address was reached");
    assert!(bed.store.object(BUCKET, "refused.bin").is_none());
    bed.check_no_upload().unwrap();

    let (status, result) = serve.job(&format!("{}/allowed", redirector.base()), "allowed.bin");
    assert_eq!(status, 200, "{result}");
    assert_eq!(
        result["final_url"].as_str(),
        Some(bed.source.url(SEED, SIZE).as_str())
    );
    bed.check_copied(SEED, SIZE, "allowed.bin").unwrap();
}

/// A short link in front of expiring presigned URLs, serving pattern object
/// (SEED, SIZE) itself: `/short` redirects to `/signed/N` (N counting the
/// short link's hits); `/signed/1` expires (403) after two ranged GETs.
struct Expiring {
    server: Background,
    /// Each request's method and path.
    asked: Arc<Mutex<Vec<(String, String)>>>,
}

impl Expiring {
    fn start() -> Expiring {
        let asked = Arc::new(Mutex::new(Vec::new()));
        let log = asked.clone();
        let server = background(move |listener| async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(expiring_connection(stream, log.clone()));
            }
        });
        Expiring { server, asked }
    }

    fn asked(&self) -> Vec<(String, String)> {
        self.asked.lock().unwrap().clone()
    }
}

async fn expiring_connection(mut stream: TcpStream, log: Arc<Mutex<Vec<(String, String)>>>) {
    let mut pending = Vec::new();
    while let Some(head) = read_head(&mut stream, &mut pending).await {
        let mut first = head.lines().next().unwrap_or("").split(' ');
        let (method, path) = (first.next().unwrap_or(""), first.next().unwrap_or(""));
        let range = head.lines().find_map(|l| {
            let (name, value) = l.split_once(':')?;
            let (a, b) = name
                .eq_ignore_ascii_case("range")
                .then_some(value.trim().strip_prefix("bytes=")?)?
                .split_once('-')?;
            Some((a.parse::<u64>().ok()?, b.parse::<u64>().ok()?))
        });
        let (shorts, expired) = {
            let mut log = log.lock().unwrap();
            log.push((method.to_string(), path.to_string()));
            let shorts = log.iter().filter(|(_, p)| p == "/short").count();
            let gen1 = log
                .iter()
                .filter(|(m, p)| m == "GET" && p == "/signed/1")
                .count();
            (shorts, path == "/signed/1" && method == "GET" && gen1 > 2)
        };
        let mut reply = if path == "/short" {
            format!("HTTP/1.1 302 Found\r\nlocation: /signed/{shorts}\r\ncontent-length: 0\r\n\r\n")
                .into_bytes()
        } else if expired {
            b"HTTP/1.1 403 Forbidden\r\ncontent-length: 0\r\n\r\n".to_vec()
        } else if let (Some((a, b)), "GET") = (range, method) {
            let b = b.min(SIZE - 1);
            let mut body = vec![0u8; (b - a + 1) as usize];
            ferry_testbed::pattern::fill(SEED, a, &mut body);
            let mut r = format!(
                "HTTP/1.1 206 Partial Content\r\netag: \"v1\"\r\naccept-ranges: bytes\r\n\
                 content-range: bytes {a}-{b}/{SIZE}\r\ncontent-length: {}\r\n\r\n",
                body.len()
            )
            .into_bytes();
            r.extend_from_slice(&body);
            r
        } else {
            format!(
                "HTTP/1.1 200 OK\r\netag: \"v1\"\r\naccept-ranges: bytes\r\n\
                 content-length: {SIZE}\r\n\r\n"
            )
            .into_bytes()
        };
        if method == "GET" && range.is_none() && path != "/short" && !expired {
            // Only ranged reads are expected of the object.
            reply = b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n".to_vec();
        }
        if stream.write_all(&reply).await.is_err() {
            return;
        }
    }
}

/// When the final URL expires mid-copy (a part's GET answers 403), the
/// given URL is resolved once more and the upload resumes from the new
/// final URL: the short link is asked twice, the parts read before the
/// expiry are kept, and the object is whole.
#[test]
fn an_expired_final_url_is_resolved_again_once() {
    let bed = bed("expiring");
    let gate = Expiring::start();
    let source = format!("http://{}/short", gate.server.addr);
    let run = ferry(&bed, &source, "expiring.bin", &["--instances", "1"], &[]);
    run.assert_ok(&bed, "expiring.bin");
    let asked = gate.asked();
    let shorts = asked.iter().filter(|(_, p)| p == "/short").count();
    assert_eq!(shorts, 2, "{asked:?}");
    assert_eq!(
        run.result["final_url"].as_str(),
        Some(format!("http://{}/signed/2", gate.server.addr).as_str()),
        "{}",
        run.result
    );
    assert!(
        asked.iter().any(|(m, p)| m == "GET" && p == "/signed/2"),
        "{asked:?}"
    );
    // The two parts read before the expiry were resumed, not copied again.
    assert_eq!(run.result["reused_parts"], 2, "{}", run.result);
}
