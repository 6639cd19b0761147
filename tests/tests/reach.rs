//! Reaching what users point ferry at: a source behind a private CA
//! (trusted through `--ca-bundle`, `SSL_CERT_FILE` or `AWS_CA_BUNDLE`) and
//! sources and stores behind an HTTP proxy (`HTTPS_PROXY`, `HTTP_PROXY`,
//! `NO_PROXY`). Each copy runs the built `ferry` binary against the
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

/// `ferry copy SOURCE oss://BUCKET/KEY` with only `env` (and the store's
/// key and the component) in its environment.
fn ferry(bed: &Bed, source: &str, key: &str, extra: &[&str], env: &[(&str, &str)]) -> Run {
    let out = Command::new(ferry_bin())
        .arg("copy")
        .arg(source)
        .arg(format!("oss://{BUCKET}/{key}"))
        .args(["--endpoint", &bed.store.endpoint(), "--region", REGION])
        .args(["--part-size", "1MiB", "--json"])
        .args(extra)
        .env_clear()
        .env("OSS_ACCESS_KEY_ID", KEY_ID)
        .env("OSS_ACCESS_KEY_SECRET", SECRET)
        .env("FERRY_COMPONENT", component())
        .envs(env.iter().copied())
        .output()
        .expect("ferry runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    for secret in [SECRET, PROXY_PASS] {
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
    let mut head = Vec::new();
    let mut buf = [0u8; 4096];
    let end = loop {
        if let Some(i) = head.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        match client.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    };
    let text = String::from_utf8_lossy(&head[..end]).into_owned();
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
        if upstream.write_all(&head[end..]).await.is_err() {
            return;
        }
    } else if upstream.write_all(&head).await.is_err() {
        return;
    }
    let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
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
