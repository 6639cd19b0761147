//! Credentials where users keep them: each provider of the OSS and the S3
//! chains ([`ferry_host::credentials::Chain`]) against a temporary HOME and
//! stand-in metadata, container and STS services on loopback, and a real
//! copy into the test bed's store with what the chain found.

mod bed;

use bed::{component, ferry_bin, Bed, REGION};
use ferry_host::credentials::{format_time, Chain, Found, Refreshing, Vars};
use ferry_testbed::source::SourceConfig;
use ferry_testbed::store::Credential;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

const ID: &str = "found-key-id";
const SECRET: &str = "found-secret-value";
const TOKEN: &str = "found-session-token";
/// What the stand-in STS and metadata services check callers by.
const OIDC_TOKEN: &str = "oidc-token-from-the-platform";
const IMDS_TOKEN: &str = "imds-session-token";
const CONTAINER_AUTH: &str = "container-auth-token";

/// One request a stand-in service received.
#[derive(Clone, Debug)]
struct Seen {
    method: String,
    path: String,
    headers: HashMap<String, String>,
    body: String,
}

impl Seen {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(String::as_str)
    }

    /// The body's form fields, decoded.
    fn form_pairs(&self) -> Vec<(String, String)> {
        self.body
            .split('&')
            .filter_map(|pair| pair.split_once('='))
            .map(|(k, v)| (form_decode(k), form_decode(v)))
            .collect()
    }

    /// A form field of the body.
    fn form(&self, name: &str) -> Option<String> {
        self.form_pairs()
            .into_iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v)
    }
}

/// A form-encoded value, decoded.
fn form_decode(s: &str) -> String {
    percent_encoding::percent_decode_str(&s.replace('+', " "))
        .decode_utf8_lossy()
        .into_owned()
}

type Handler = dyn Fn(&Seen) -> (u16, String) + Send + Sync;

/// A loopback HTTP/1.1 service that records every request and answers it
/// with `handler`; it stops when dropped.
struct Stand {
    url: String,
    seen: Arc<Mutex<Vec<Seen>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Stand {
    async fn start(handler: impl Fn(&Seen) -> (u16, String) + Send + Sync + 'static) -> Stand {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let handler: Arc<Handler> = Arc::new(handler);
        let log = seen.clone();
        let task = tokio::spawn(async move {
            while let Ok((mut conn, _)) = listener.accept().await {
                let (log, handler) = (log.clone(), handler.clone());
                tokio::spawn(async move {
                    let Some(req) = read_request(&mut conn).await else {
                        return;
                    };
                    log.lock().unwrap().push(req.clone());
                    let (status, body) = handler(&req);
                    let head = format!(
                        "HTTP/1.1 {status} X\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                        body.len()
                    );
                    let _ = conn.write_all(head.as_bytes()).await;
                    let _ = conn.write_all(body.as_bytes()).await;
                    let _ = conn.shutdown().await;
                });
            }
        });
        Stand { url, seen, task }
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

impl Drop for Stand {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn read_request(conn: &mut tokio::net::TcpStream) -> Option<Seen> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        let n = conn.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.lines();
    let mut start = lines.next()?.split(' ');
    let (method, path) = (start.next()?.to_string(), start.next()?.to_string());
    let headers: HashMap<String, String> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let length: usize = headers
        .get("content-length")
        .and_then(|l| l.parse().ok())
        .unwrap_or(0);
    let mut body = buf[head_end + 4..].to_vec();
    while body.len() < length {
        let n = conn.read(&mut chunk).await.ok()?;
        if n == 0 {
            break;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    Some(Seen {
        method,
        path,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    })
}

/// A temporary HOME, removed on drop.
struct Home(PathBuf);

impl Home {
    fn new(tag: &str) -> Home {
        let dir = std::env::temp_dir().join(format!("ferry-creds-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Home(dir)
    }

    fn write(&self, rel: &str, text: &str) -> PathBuf {
        let path = self.0.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, text).unwrap();
        path
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for Home {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A loopback URL nothing listens on: a metadata service that is not there
/// answers at once.
fn nothing_there() -> String {
    format!("http://127.0.0.1:{}", bed::free_port())
}

/// Variables for a chain: HOME, the metadata services pointed at nothing,
/// then `extra`.
fn vars(home: &Home, extra: &[(&str, &str)]) -> Vars {
    let none = nothing_there();
    let mut pairs: Vec<(String, String)> = vec![
        ("HOME".into(), home.path().display().to_string()),
        (
            "ALIBABA_CLOUD_ECS_METADATA_SERVICE_ENDPOINT".into(),
            none.clone(),
        ),
        ("AWS_EC2_METADATA_SERVICE_ENDPOINT".into(), none),
    ];
    pairs.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    Vars::from_pairs(pairs)
}

fn assert_found(found: &Found, id: &str, secret: &str, token: Option<&str>) {
    let c = &found.credentials;
    assert_eq!(c.access_key_id, id, "from {}", found.from);
    assert_eq!(c.access_key_secret, secret, "from {}", found.from);
    assert_eq!(c.security_token.as_deref(), token, "from {}", found.from);
}

/// An RFC 3339 time `secs` from now.
fn in_secs(secs: u64) -> String {
    format_time(SystemTime::now() + Duration::from_secs(secs))
}

// ---- OSS / Alibaba Cloud ----

#[tokio::test]
async fn alibaba_cloud_variables() {
    let home = Home::new("ali-env");
    let v = vars(
        &home,
        &[
            ("ALIBABA_CLOUD_ACCESS_KEY_ID", ID),
            ("ALIBABA_CLOUD_ACCESS_KEY_SECRET", SECRET),
            ("ALIBABA_CLOUD_SECURITY_TOKEN", TOKEN),
        ],
    );
    let found = Chain::with_vars(false, v).resolve().await.unwrap();
    assert_found(&found, ID, SECRET, Some(TOKEN));
}

#[tokio::test]
async fn alibaba_credentials_file_profile_by_variable_and_by_flag() {
    let home = Home::new("ali-file");
    home.write(
        ".alibabacloud/credentials",
        "[default]\ntype = access_key\naccess_key_id = default-id\naccess_key_secret = d\n\
         [work]\ntype = sts\naccess_key_id = found-key-id\naccess_key_secret = found-secret-value\n\
         security_token = found-session-token\n",
    );
    let v = vars(&home, &[]);
    let found = Chain::with_vars(false, v.clone()).resolve().await.unwrap();
    assert_found(&found, "default-id", "d", None);
    let v = vars(&home, &[("ALIBABA_CLOUD_PROFILE", "work")]);
    let found = Chain::with_vars(false, v).resolve().await.unwrap();
    assert_found(&found, ID, SECRET, Some(TOKEN));
    let v = vars(&home, &[]);
    let found = Chain::with_vars(false, v)
        .profile(Some("work".into()))
        .resolve()
        .await
        .unwrap();
    assert_found(&found, ID, SECRET, Some(TOKEN));
}

/// A profile named with `--profile` outranks key variables that are set,
/// as the AWS CLI's `--profile` does; without it the variables come first.
#[tokio::test]
async fn a_named_profile_outranks_key_variables() {
    let home = Home::new("profile-over-env");
    home.write(
        ".alibabacloud/credentials",
        "[work]\ntype = sts\naccess_key_id = found-key-id\naccess_key_secret = found-secret-value\n\
         security_token = found-session-token\n",
    );
    home.write(
        ".aws/credentials",
        "[work]\naws_access_key_id = found-key-id\naws_secret_access_key = found-secret-value\n\
         aws_session_token = found-session-token\n",
    );
    let env = [
        ("OSS_ACCESS_KEY_ID", "env-id"),
        ("OSS_ACCESS_KEY_SECRET", "env-secret"),
        ("AWS_ACCESS_KEY_ID", "env-id"),
        ("AWS_SECRET_ACCESS_KEY", "env-secret"),
    ];
    for s3 in [false, true] {
        let found = Chain::with_vars(s3, vars(&home, &env))
            .resolve()
            .await
            .unwrap();
        assert_found(&found, "env-id", "env-secret", None);
        let found = Chain::with_vars(s3, vars(&home, &env))
            .profile(Some("work".into()))
            .resolve()
            .await
            .unwrap();
        assert_found(&found, ID, SECRET, Some(TOKEN));
    }
}

#[tokio::test]
async fn aliyun_cli_config_current_profile_before_the_credentials_file() {
    let home = Home::new("aliyun-cli");
    home.write(
        ".aliyun/config.json",
        r#"{"current": "cli", "profiles": [
            {"name": "other", "mode": "AK", "access_key_id": "x", "access_key_secret": "y"},
            {"name": "cli", "mode": "StsToken", "access_key_id": "found-key-id",
             "access_key_secret": "found-secret-value", "sts_token": "found-session-token",
             "region_id": "cn-hangzhou"}]}"#,
    );
    home.write(
        ".alibabacloud/credentials",
        "[default]\naccess_key_id = file-id\naccess_key_secret = file-secret\n",
    );
    let found = Chain::with_vars(false, vars(&home, &[]))
        .resolve()
        .await
        .unwrap();
    assert_found(&found, ID, SECRET, Some(TOKEN));
    assert!(found.from.contains("config.json"), "{}", found.from);
}

/// A metadata service as ECS and EC2 run it: a session token from
/// `PUT /latest/api/token`, then the role's name and its credentials, each
/// only with that token.
async fn metadata(vendor: &'static str, expires: u64) -> Stand {
    let (ttl, token_header, roles, secret, token) = match vendor {
        "aliyun" => (
            "x-aliyun-ecs-metadata-token-ttl-seconds",
            "x-aliyun-ecs-metadata-token",
            "/latest/meta-data/ram/security-credentials/",
            "AccessKeySecret",
            "SecurityToken",
        ),
        _ => (
            "x-aws-ec2-metadata-token-ttl-seconds",
            "x-aws-ec2-metadata-token",
            "/latest/meta-data/iam/security-credentials/",
            "SecretAccessKey",
            "Token",
        ),
    };
    Stand::start(move |req| {
        if req.method == "PUT" && req.path == "/latest/api/token" && req.header(ttl).is_some() {
            return (200, IMDS_TOKEN.into());
        }
        if req.header(token_header) != Some(IMDS_TOKEN) {
            return (401, String::new());
        }
        match req.path.strip_prefix(roles) {
            Some("") => (200, "the-role\n".into()),
            Some("the-role") => (
                200,
                format!(
                    r#"{{"Code":"Success","AccessKeyId":"{ID}","{secret}":"{SECRET}",
                    "{token}":"{TOKEN}","Expiration":"{}"}}"#,
                    in_secs(expires)
                ),
            ),
            _ => (404, String::new()),
        }
    })
    .await
}

#[tokio::test]
async fn ecs_ram_role_from_the_metadata_service_with_a_token() {
    let home = Home::new("ecs-role");
    let imds = metadata("aliyun", 3600).await;
    let v = vars(
        &home,
        &[("ALIBABA_CLOUD_ECS_METADATA_SERVICE_ENDPOINT", &imds.url)],
    );
    let found = Chain::with_vars(false, v).resolve().await.unwrap();
    assert_found(&found, ID, SECRET, Some(TOKEN));
    assert!(found.expires.is_some());
    let seen = imds.seen();
    assert_eq!(seen[0].method, "PUT", "the token is asked for first");
    assert_eq!(seen.len(), 3, "{seen:?}");
}

/// An STS answering `action` for the token `OIDC_TOKEN` with credentials
/// that expire `expires` seconds on, handing out a new key id on each call
/// (`found-key-id-1`, `-2`, ...).
async fn sts(expires: u64) -> Stand {
    let calls = Arc::new(Mutex::new(0u32));
    Stand::start(move |req| {
        let token = req
            .form("OIDCToken")
            .or_else(|| req.form("WebIdentityToken"));
        if req.method != "POST" || token.as_deref() != Some(OIDC_TOKEN) {
            return (400, r#"{"Code":"InvalidParameter"}"#.into());
        }
        let n = {
            let mut c = calls.lock().unwrap();
            *c += 1;
            *c
        };
        let id = format!("{ID}-{n}");
        let at = in_secs(expires);
        match req.form("Action").as_deref() {
            Some("AssumeRoleWithOIDC") => (
                200,
                format!(
                    r#"{{"RequestId":"r","Credentials":{{"AccessKeyId":"{id}",
                    "AccessKeySecret":"{SECRET}","SecurityToken":"{TOKEN}",
                    "Expiration":"{at}"}}}}"#
                ),
            ),
            Some("AssumeRoleWithWebIdentity") => (
                200,
                format!(
                    "<AssumeRoleWithWebIdentityResponse><AssumeRoleWithWebIdentityResult>\
                     <Credentials><AccessKeyId>{id}</AccessKeyId>\
                     <SecretAccessKey>{SECRET}</SecretAccessKey>\
                     <SessionToken>{TOKEN}</SessionToken><Expiration>{at}</Expiration>\
                     </Credentials></AssumeRoleWithWebIdentityResult>\
                     </AssumeRoleWithWebIdentityResponse>"
                ),
            ),
            _ => (400, r#"{"Code":"InvalidAction"}"#.into()),
        }
    })
    .await
}

#[tokio::test]
async fn oidc_role_assumption_through_sts() {
    let home = Home::new("oidc");
    let token_file = home.write("token", OIDC_TOKEN);
    let sts = sts(3600).await;
    let v = vars(
        &home,
        &[
            ("ALIBABA_CLOUD_ROLE_ARN", "acs:ram::1:role/pod"),
            (
                "ALIBABA_CLOUD_OIDC_PROVIDER_ARN",
                "acs:ram::1:oidc-provider/ack",
            ),
            (
                "ALIBABA_CLOUD_OIDC_TOKEN_FILE",
                token_file.to_str().unwrap(),
            ),
            ("ALIBABA_CLOUD_STS_ENDPOINT", &sts.url),
        ],
    );
    let found = Chain::with_vars(false, v).resolve().await.unwrap();
    assert_found(&found, &format!("{ID}-1"), SECRET, Some(TOKEN));
    let seen = sts.seen();
    assert_eq!(
        seen[0].form("RoleArn").as_deref(),
        Some("acs:ram::1:role/pod")
    );
    assert_eq!(
        seen[0].form("OIDCProviderArn").as_deref(),
        Some("acs:ram::1:oidc-provider/ack")
    );
}

#[tokio::test]
async fn a_credentials_service_last_in_the_alibaba_chain() {
    let home = Home::new("credentials-uri");
    let service = Stand::start(|_| {
        (
            200,
            format!(
                r#"{{"Code":"Success","AccessKeyId":"{ID}","AccessKeySecret":"{SECRET}",
                "SecurityToken":"{TOKEN}","Expiration":"{}"}}"#,
                in_secs(3600)
            ),
        )
    })
    .await;
    let uri = format!("{}/credentials", service.url);
    let v = vars(&home, &[("ALIBABA_CLOUD_CREDENTIALS_URI", &uri)]);
    let found = Chain::with_vars(false, v).resolve().await.unwrap();
    assert_found(&found, ID, SECRET, Some(TOKEN));
    assert!(found.expires.is_some());
}

/// The RPC signature of `form` (a POST to `/`) under `secret`, computed
/// here as Alibaba Cloud documents it, to hold ferry's to.
fn rpc_signature(form: &[(String, String)], secret: &str) -> String {
    use base64::Engine;
    use hmac::Mac;
    let encode = |s: &str| {
        percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC)
            .to_string()
            .replace("%2D", "-")
            .replace("%5F", "_")
            .replace("%2E", ".")
            .replace("%7E", "~")
    };
    let mut pairs: Vec<_> = form.iter().filter(|(k, _)| k != "Signature").collect();
    pairs.sort();
    let canonical = pairs
        .iter()
        .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
        .collect::<Vec<_>>()
        .join("&");
    let to_sign = format!("POST&%2F&{}", encode(&canonical));
    let mut mac =
        hmac::Hmac::<sha1::Sha1>::new_from_slice(format!("{secret}&").as_bytes()).unwrap();
    mac.update(to_sign.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

#[tokio::test]
async fn ram_role_arn_profiles_assume_the_role_with_a_signed_request() {
    let home = Home::new("ram-role");
    const SOURCE_SECRET: &str = "source-secret with spaces*~";
    let sts = Stand::start(|req| {
        let form = req.form_pairs();
        let signed = req.form("Signature") == Some(rpc_signature(&form, SOURCE_SECRET));
        if req.form("Action").as_deref() != Some("AssumeRole") || !signed {
            return (400, r#"{"Code":"SignatureDoesNotMatch"}"#.into());
        }
        (
            200,
            format!(
                r#"{{"Credentials":{{"AccessKeyId":"{ID}","AccessKeySecret":"{SECRET}",
                "SecurityToken":"{TOKEN}","Expiration":"{}"}}}}"#,
                in_secs(3600)
            ),
        )
    })
    .await;
    home.write(
        ".alibabacloud/credentials",
        &format!(
            "[default]\ntype = ram_role_arn\naccess_key_id = source-id\n\
             access_key_secret = {SOURCE_SECRET}\nrole_arn = acs:ram::1:role/copier\n\
             role_session_name = copy session\n"
        ),
    );
    let v = vars(&home, &[("ALIBABA_CLOUD_STS_ENDPOINT", &sts.url)]);
    let found = Chain::with_vars(false, v).resolve().await.unwrap();
    assert_found(&found, ID, SECRET, Some(TOKEN));
    let seen = &sts.seen()[0];
    assert_eq!(
        seen.form("RoleArn").as_deref(),
        Some("acs:ram::1:role/copier")
    );
    assert_eq!(seen.form("AccessKeyId").as_deref(), Some("source-id"));
    assert!(!seen.body.contains("source-secret"));
}

// ---- S3 / AWS ----

#[tokio::test]
async fn aws_profiles_in_credentials_and_config_files() {
    let home = Home::new("aws-profile");
    home.write(
        ".aws/credentials",
        "[default]\naws_access_key_id = default-id\naws_secret_access_key = d\n\
         [dev]\naws_access_key_id = found-key-id\naws_secret_access_key = found-secret-value\n\
         aws_session_token = found-session-token\n",
    );
    home.write(
        ".aws/config",
        "[default]\nregion = us-east-1\n[profile cfg]\nregion = eu-west-1\n\
         aws_access_key_id = cfg-id\naws_secret_access_key = cfg-secret\n",
    );
    let found = Chain::with_vars(true, vars(&home, &[]))
        .resolve()
        .await
        .unwrap();
    assert_found(&found, "default-id", "d", None);
    let found = Chain::with_vars(true, vars(&home, &[("AWS_PROFILE", "dev")]))
        .resolve()
        .await
        .unwrap();
    assert_found(&found, ID, SECRET, Some(TOKEN));
    let found = Chain::with_vars(true, vars(&home, &[("AWS_PROFILE", "dev")]))
        .profile(Some("cfg".into()))
        .resolve()
        .await
        .unwrap();
    assert_found(&found, "cfg-id", "cfg-secret", None);
    // Files named by the variables, and a profile they do not hold.
    let elsewhere = home.write(
        "elsewhere/creds",
        "[other]\naws_access_key_id = o\naws_secret_access_key = p\n",
    );
    let v = vars(
        &home,
        &[("AWS_SHARED_CREDENTIALS_FILE", elsewhere.to_str().unwrap())],
    );
    let found = Chain::with_vars(true, v.clone())
        .profile(Some("other".into()))
        .resolve()
        .await
        .unwrap();
    assert_found(&found, "o", "p", None);
    let err = Chain::with_vars(true, v)
        .profile(Some("missing".into()))
        .resolve()
        .await
        .unwrap_err();
    assert!(err.contains("no profile missing"), "{err}");
}

/// The variables of web identity through `sts`, with the token file
/// written in `home`.
fn web_identity(home: &Home, sts: &Stand) -> Vec<(String, String)> {
    let token_file = home.write("token", OIDC_TOKEN);
    vec![
        ("AWS_ROLE_ARN".into(), "arn:aws:iam::1:role/ci".into()),
        (
            "AWS_WEB_IDENTITY_TOKEN_FILE".into(),
            token_file.display().to_string(),
        ),
        ("AWS_ENDPOINT_URL_STS".into(), sts.url.clone()),
    ]
}

#[tokio::test]
async fn a_profile_with_a_credential_process() {
    let home = Home::new("credential-process");
    let script = home.write(
        "creds.sh",
        &format!(
            "echo '{{\"Version\": 1, \"AccessKeyId\": \"{ID}\", \"SecretAccessKey\": \
             \"{SECRET}\", \"SessionToken\": \"{TOKEN}\"}}'\n"
        ),
    );
    home.write(
        ".aws/config",
        &format!(
            "[profile vault]\ncredential_process = sh {}\n[profile broken]\n\
             credential_process = sh -c 'exit 3'\n",
            script.display()
        ),
    );
    let found = Chain::with_vars(true, vars(&home, &[]))
        .profile(Some("vault".into()))
        .resolve()
        .await
        .unwrap();
    assert_found(&found, ID, SECRET, Some(TOKEN));
    let err = Chain::with_vars(true, vars(&home, &[]))
        .profile(Some("broken".into()))
        .resolve()
        .await
        .unwrap_err();
    assert!(err.contains("credential_process failed"), "{err}");
}

fn borrowed(pairs: &[(String, String)]) -> Vec<(&str, &str)> {
    pairs
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect()
}

#[tokio::test]
async fn web_identity_through_sts() {
    let home = Home::new("web-identity");
    let sts = sts(3600).await;
    let v = vars(&home, &borrowed(&web_identity(&home, &sts)));
    let found = Chain::with_vars(true, v).resolve().await.unwrap();
    assert_found(&found, &format!("{ID}-1"), SECRET, Some(TOKEN));
    assert!(found.expires.is_some());
    assert_eq!(
        sts.seen()[0].form("RoleArn").as_deref(),
        Some("arn:aws:iam::1:role/ci")
    );
}

#[tokio::test]
async fn container_credentials_with_an_authorization_token() {
    let home = Home::new("container");
    let server = Stand::start(|req| {
        if req.header("authorization") != Some(CONTAINER_AUTH) {
            return (403, String::new());
        }
        (
            200,
            format!(
                r#"{{"AccessKeyId":"{ID}","SecretAccessKey":"{SECRET}","Token":"{TOKEN}",
                "Expiration":"{}"}}"#,
                in_secs(3600)
            ),
        )
    })
    .await;
    let full = format!("{}/v2/credentials/task", server.url);
    let v = vars(
        &home,
        &[
            ("AWS_CONTAINER_CREDENTIALS_FULL_URI", &full),
            ("AWS_CONTAINER_AUTHORIZATION_TOKEN", CONTAINER_AUTH),
        ],
    );
    let found = Chain::with_vars(true, v).resolve().await.unwrap();
    assert_found(&found, ID, SECRET, Some(TOKEN));
    assert_eq!(server.seen()[0].path, "/v2/credentials/task");
}

#[tokio::test]
async fn ec2_instance_role_from_imdsv2() {
    let home = Home::new("ec2-role");
    let imds = metadata("aws", 3600).await;
    let v = vars(&home, &[("AWS_EC2_METADATA_SERVICE_ENDPOINT", &imds.url)]);
    let found = Chain::with_vars(true, v).resolve().await.unwrap();
    assert_found(&found, ID, SECRET, Some(TOKEN));
    assert_eq!(imds.seen()[0].method, "PUT");
}

// ---- Nothing found, refresh ----

#[tokio::test]
async fn nothing_found_names_what_was_tried_in_order_and_no_secret() {
    let home = Home::new("nothing");
    // A half-set pair is passed over; its secret must not be shown.
    let v = vars(&home, &[("AWS_SECRET_ACCESS_KEY", SECRET)]);
    let err = Chain::with_vars(true, v).resolve().await.unwrap_err();
    let order = [
        "AWS_ACCESS_KEY_ID",
        "profile default",
        "web identity",
        "container credentials",
        "EC2 instance role",
    ];
    let at: Vec<usize> = order
        .iter()
        .map(|w| err.find(w).unwrap_or_else(|| panic!("{w} not in: {err}")))
        .collect();
    assert!(at.windows(2).all(|w| w[0] < w[1]), "{err}");
    assert!(!err.contains(SECRET) && !err.contains('\n'), "{err}");
    let err = Chain::with_vars(false, vars(&home, &[]))
        .resolve()
        .await
        .unwrap_err();
    for w in [
        "OSS_ACCESS_KEY_ID",
        "ALIBABA_CLOUD_ACCESS_KEY_ID",
        "OIDC",
        "config.json",
        ".alibabacloud/credentials",
        "ECS instance RAM role",
        "ALIBABA_CLOUD_CREDENTIALS_URI",
    ] {
        assert!(err.contains(w), "{w} not in: {err}");
    }
}

#[tokio::test]
async fn credentials_near_their_expiry_are_fetched_again() {
    let home = Home::new("refresh");
    // Credentials that expire in 60 s are within the 5 minutes left.
    let sts = sts(60).await;
    let v = vars(&home, &borrowed(&web_identity(&home, &sts)));
    let chain = Chain::with_vars(true, v);
    let first = chain.resolve().await.unwrap();
    assert!(first.needs_refresh());
    let refreshing = Refreshing::new(chain, first);
    let next = refreshing.current().await.unwrap();
    assert_found(&next, &format!("{ID}-2"), SECRET, Some(TOKEN));
    assert_eq!(sts.seen().len(), 2);
}

#[tokio::test]
async fn held_credentials_serve_while_a_refresh_fails_until_they_expire() {
    let home = Home::new("refresh-outage");
    let calls = Arc::new(Mutex::new(0u32));
    let counted = calls.clone();
    // The first call answers with keys that expire in 60 s (refreshed at
    // once); the next fail.
    let sts = Stand::start(move |_| {
        let mut n = counted.lock().unwrap();
        *n += 1;
        if *n > 1 {
            return (503, "<Error><Code>ServiceUnavailable</Code></Error>".into());
        }
        (
            200,
            format!(
                "<Credentials><AccessKeyId>{ID}</AccessKeyId>\
                 <SecretAccessKey>{SECRET}</SecretAccessKey><SessionToken>{TOKEN}</SessionToken>\
                 <Expiration>{}</Expiration></Credentials>",
                in_secs(60)
            ),
        )
    })
    .await;
    let v = vars(&home, &borrowed(&web_identity(&home, &sts)));
    let chain = Chain::with_vars(true, v);
    let first = chain.resolve().await.unwrap();
    let refreshing = Refreshing::new(chain, first);
    let held = refreshing.current().await.unwrap();
    assert_found(&held, ID, SECRET, Some(TOKEN));
    assert_eq!(*calls.lock().unwrap(), 2, "the refresh was tried");
}

// ---- Real copies with what the chain found ----

const BUCKET: &str = "ferry-creds";
const SEED: u64 = 23;
/// 3 parts and a tail, in parts of 1 MiB (OSS) or 5 MiB (S3's smallest).
const SIZE: u64 = 3 * 1024 * 1024 + 4321;
const S3_SIZE: u64 = 3 * 5 * 1024 * 1024 + 4321;

/// A bed whose store knows `keys` (id, with [`SECRET`] and, when `token`,
/// [`TOKEN`]).
fn bed(tag: &str, ids: &[String], token: bool) -> Bed {
    let keys = ids
        .iter()
        .map(|id| Credential {
            id: id.clone(),
            secret: SECRET.into(),
            token: token.then(|| TOKEN.into()),
        })
        .collect();
    Bed::start(tag, BUCKET, SourceConfig::default(), keys, true)
}

/// `ferry copy` into the bed's store (`s3`: as `s3://`) with only `env`,
/// HOME and the component in its environment; the copy must succeed and
/// the object match the source, and no secret may show in its output.
async fn copy_with(bed: &Bed, home: &Home, s3: bool, key: &str, args: &[&str], env: Vars) {
    let (scheme, size, part) = if s3 {
        ("s3", S3_SIZE, "5MiB")
    } else {
        ("oss", SIZE, "1MiB")
    };
    let mut cmd = std::process::Command::new(ferry_bin());
    cmd.arg("copy")
        .arg(bed.source.url(SEED, size))
        .arg(format!("{scheme}://{BUCKET}/{key}"))
        .args(["--endpoint", &bed.store.endpoint(), "--region", REGION])
        .args(["--part-size", part, "--json"])
        .args(args)
        .env_clear()
        .env("HOME", home.path())
        .env("FERRY_COMPONENT", component())
        .envs(env.pairs());
    let out = tokio::task::spawn_blocking(move || cmd.output().expect("ferry runs"))
        .await
        .unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    for secret in [SECRET, TOKEN, OIDC_TOKEN, IMDS_TOKEN, CONTAINER_AUTH] {
        assert!(
            !stdout.contains(secret) && !stderr.contains(secret),
            "a secret leaked into ferry's output: {stdout}\n{stderr}"
        );
    }
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    bed.check_copied(SEED, size, key).unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn copies_into_s3_with_an_aws_profile() {
    let home = Home::new("copy-aws-profile");
    home.write(
        ".aws/credentials",
        "[default]\naws_access_key_id = wrong\naws_secret_access_key = wrong\n\
         [dev]\naws_access_key_id = found-key-id\naws_secret_access_key = found-secret-value\n",
    );
    let bed = bed("copy-aws-profile", &[ID.into()], false);
    let env = vars(&home, &[]);
    copy_with(&bed, &home, true, "by-flag", &["--profile", "dev"], env).await;
    let env = vars(&home, &[("AWS_PROFILE", "dev")]);
    copy_with(&bed, &home, true, "by-variable", &[], env).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn copies_into_oss_with_the_aliyun_cli_profile() {
    let home = Home::new("copy-aliyun");
    home.write(
        ".aliyun/config.json",
        r#"{"current": "main", "profiles": [{"name": "main", "mode": "StsToken",
            "access_key_id": "found-key-id", "access_key_secret": "found-secret-value",
            "sts_token": "found-session-token"}]}"#,
    );
    let bed = bed("copy-aliyun", &[ID.into()], true);
    copy_with(&bed, &home, false, "aliyun", &[], vars(&home, &[])).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn copies_into_oss_with_the_ecs_instance_ram_role() {
    let home = Home::new("copy-ecs");
    let imds = metadata("aliyun", 3600).await;
    let bed = bed("copy-ecs", &[ID.into()], true);
    let env = vars(
        &home,
        &[("ALIBABA_CLOUD_ECS_METADATA_SERVICE_ENDPOINT", &imds.url)],
    );
    copy_with(&bed, &home, false, "ecs", &[], env).await;
    assert!(imds.seen().iter().any(|r| r.method == "PUT"));
}

#[tokio::test(flavor = "multi_thread")]
async fn copies_into_s3_with_container_credentials() {
    let home = Home::new("copy-container");
    let server = Stand::start(|req| match req.header("authorization") {
        Some(CONTAINER_AUTH) => (
            200,
            format!(
                r#"{{"AccessKeyId":"{ID}","SecretAccessKey":"{SECRET}","Token":"{TOKEN}",
                "Expiration":"{}"}}"#,
                in_secs(3600)
            ),
        ),
        _ => (403, String::new()),
    })
    .await;
    let bed = bed("copy-container", &[ID.into()], true);
    let full = format!("{}/creds", server.url);
    let env = vars(
        &home,
        &[
            ("AWS_CONTAINER_CREDENTIALS_FULL_URI", &full),
            ("AWS_CONTAINER_AUTHORIZATION_TOKEN", CONTAINER_AUTH),
        ],
    );
    copy_with(&bed, &home, true, "container", &[], env).await;
}

/// Web identity whose STS hands out a new key that expires within seconds
/// at each call: the copy asks again before it presigns each part, and
/// completes.
#[tokio::test(flavor = "multi_thread")]
async fn copies_with_web_identity_credentials_refreshed_as_they_expire() {
    let home = Home::new("copy-refresh");
    let sts = sts(20).await;
    let ids: Vec<String> = (1..=40).map(|n| format!("{ID}-{n}")).collect();
    let bed = bed("copy-refresh", &ids, true);
    let env = vars(&home, &borrowed(&web_identity(&home, &sts)));
    copy_with(&bed, &home, true, "refreshed", &[], env).await;
    let calls = sts.seen().len();
    assert!(
        calls > 4,
        "STS was asked {calls} time(s): the 4 parts were not signed with fresh credentials"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_copy_without_credentials_says_what_it_tried() {
    let home = Home::new("copy-none");
    let bed = bed("copy-none", &[ID.into()], false);
    let mut cmd = std::process::Command::new(ferry_bin());
    cmd.arg("copy")
        .arg(bed.source.url(SEED, SIZE))
        .arg(format!("s3://{BUCKET}/none"))
        .args(["--endpoint", &bed.store.endpoint(), "--region", REGION])
        .env_clear()
        .env("FERRY_COMPONENT", component())
        .envs(vars(&home, &[("AWS_SECRET_ACCESS_KEY", SECRET)]).pairs());
    let out = tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("tried, in order"), "{stderr}");
    assert!(stderr.contains("EC2 instance role"), "{stderr}");
    assert!(!stderr.contains(SECRET), "{stderr}");
}

// ---- The source request ----

/// What ferry calls itself on every request.
const USER_AGENT: &str = concat!("ferry/", env!("CARGO_PKG_VERSION"));

#[tokio::test(flavor = "multi_thread")]
async fn every_source_request_names_ferry_and_its_version() {
    let home = Home::new("user-agent");
    let bed = bed("user-agent", &[ID.into()], false);
    let env = vars(
        &home,
        &[("OSS_ACCESS_KEY_ID", ID), ("OSS_ACCESS_KEY_SECRET", SECRET)],
    );
    copy_with(&bed, &home, false, "ua", &[], env).await;
    let received = bed.source.received();
    assert!(received.len() > 4, "{received:?}");
    for r in &received {
        let ua = r.headers.iter().find(|(k, _)| k == "user-agent");
        assert_eq!(
            ua.map(|(_, v)| v.as_str()),
            Some(USER_AGENT),
            "{} {}",
            r.method,
            r.path
        );
    }
}
