//! Where a store's credentials come from: the chains the vendors' own tools
//! read, in their order, so a user's existing setup works as it is.
//!
//! - **OSS** (Alibaba Cloud): `OSS_ACCESS_KEY_ID` / `OSS_ACCESS_KEY_SECRET`
//!   (ossutil's), `ALIBABA_CLOUD_ACCESS_KEY_ID` / `_SECRET` /
//!   `ALIBABA_CLOUD_SECURITY_TOKEN`, OIDC role assumption (RRSA), the aliyun
//!   CLI's `~/.aliyun/config.json`, the credentials file
//!   `~/.alibabacloud/credentials`, the ECS instance's RAM role, then a
//!   credentials service (`ALIBABA_CLOUD_CREDENTIALS_URI`).
//! - **S3**: `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY` /
//!   `AWS_SESSION_TOKEN`, the profile in `~/.aws/credentials` and
//!   `~/.aws/config`, web identity, container credentials, then the EC2
//!   instance role.
//!
//! Each provider is a file here; [`Chain`] asks them in order. A provider
//! that is not set up is passed over and named in the error when nothing is
//! found; one that is set up but fails (a file that names a profile it does
//! not hold, an STS that refuses the token) stops the chain with its reason.
//! Secrets are never part of a message.

mod alibaba_file;
mod aliyun_cli;
mod aws_profile;
mod container;
mod credentials_uri;
mod env;
mod fetch;
mod handout;
mod ini;
mod instance;
mod oidc;
mod process;
mod ram_role;
mod time;
mod web_identity;

pub use handout::{credentials_url, CREDENTIALS_HOST, CREDENTIALS_URL_VAR};
pub use time::format as format_time;

use ferry_rules::Credentials;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

/// Temporary credentials are fetched again when less than this is left.
pub const REFRESH_BEFORE: Duration = Duration::from_secs(5 * 60);

/// Credentials a provider found, with when they stop working (`None`: a
/// long-lived key) and where they came from (for logs: no secret).
#[derive(Clone, Debug)]
pub struct Found {
    pub credentials: Credentials,
    pub expires: Option<SystemTime>,
    pub from: String,
}

impl Found {
    fn new(credentials: Credentials, expires: Option<SystemTime>, from: impl Into<String>) -> Self {
        Found {
            credentials,
            expires,
            from: from.into(),
        }
    }

    /// Whether these should be fetched again: less than
    /// [`REFRESH_BEFORE`] is left before they expire.
    pub fn needs_refresh(&self) -> bool {
        self.expires.is_some_and(|at| {
            at.duration_since(SystemTime::now())
                .map_or(true, |left| left < REFRESH_BEFORE)
        })
    }
}

/// What one provider made of its part of the chain.
enum Step {
    /// Credentials.
    Found(Found),
    /// Not set up here; the text says what was looked at and why it was
    /// passed over, for the error when nothing is found.
    Absent(String),
}

/// A provider that is set up but failed: one line, no secret.
type Failed = String;

/// The variables and home folder a chain reads: this process's, or given
/// (an embedder's, a test's).
#[derive(Clone, Debug, Default)]
pub struct Vars(HashMap<String, String>);

impl Vars {
    /// This process's environment.
    pub fn from_env() -> Vars {
        Vars(std::env::vars().collect())
    }

    /// Exactly these variables.
    pub fn from_pairs<K: Into<String>, V: Into<String>>(
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> Vars {
        Vars(
            pairs
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        )
    }

    /// Every variable, as (name, value).
    pub fn pairs(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// A variable's value; empty values are unset, as the vendors' tools
    /// read them.
    fn get(&self, name: &str) -> Option<String> {
        self.0.get(name).filter(|v| !v.trim().is_empty()).cloned()
    }

    /// The first of `names` that is set.
    fn first(&self, names: &[&str]) -> Option<String> {
        names.iter().find_map(|n| self.get(n))
    }

    /// Whether a switch variable is on (`true`, any case).
    fn is_true(&self, name: &str) -> bool {
        self.get(name)
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"))
    }

    /// A file named by `var`, or `~/<default>`.
    fn file(&self, var: &str, default: &str) -> Option<PathBuf> {
        self.get(var)
            .map(|p| self.expand(&p))
            .or_else(|| self.home().map(|h| h.join(default)))
    }

    /// `~/x` read against `HOME`.
    fn expand(&self, path: &str) -> PathBuf {
        match (path.strip_prefix("~/"), self.home()) {
            (Some(rest), Some(home)) => home.join(rest),
            _ => PathBuf::from(path),
        }
    }

    fn home(&self) -> Option<PathBuf> {
        self.first(&["HOME", "USERPROFILE"]).map(PathBuf::from)
    }
}

/// The providers of one store's chain, in order.
#[derive(Clone, Copy, Debug)]
enum Provider {
    OssEnv,
    AlibabaEnv,
    AlibabaOidc,
    AliyunCli,
    AlibabaFile,
    EcsRamRole,
    CredentialsUri,
    AwsEnv,
    AwsProfile,
    WebIdentity,
    Container,
    Ec2Role,
}

const OSS_CHAIN: &[Provider] = &[
    Provider::OssEnv,
    Provider::AlibabaEnv,
    Provider::AlibabaOidc,
    Provider::AliyunCli,
    Provider::AlibabaFile,
    Provider::EcsRamRole,
    Provider::CredentialsUri,
];

const S3_CHAIN: &[Provider] = &[
    Provider::AwsEnv,
    Provider::AwsProfile,
    Provider::WebIdentity,
    Provider::Container,
    Provider::Ec2Role,
];

/// A store's credential chain.
#[derive(Clone, Debug)]
pub struct Chain {
    s3: bool,
    profile: Option<String>,
    vars: Vars,
}

impl Chain {
    /// The chain for an S3 (`s3`) or an OSS store, reading this process's
    /// environment.
    pub fn new(s3: bool) -> Chain {
        Chain::with_vars(s3, Vars::from_env())
    }

    /// The chain reading `vars` in place of the environment.
    pub fn with_vars(s3: bool, vars: Vars) -> Chain {
        Chain {
            s3,
            profile: None,
            vars,
        }
    }

    /// The profile to read (`--profile`), over `AWS_PROFILE` /
    /// `ALIBABA_CLOUD_PROFILE` and over key variables that are set.
    pub fn profile(mut self, profile: Option<String>) -> Chain {
        self.profile = profile.filter(|p| !p.is_empty());
        self
    }

    /// Asks each provider in turn; the first credentials found, or a one-line
    /// error naming what was tried, in order.
    pub async fn resolve(&self) -> Result<Found, String> {
        let mut tried = Vec::new();
        for provider in if self.s3 { S3_CHAIN } else { OSS_CHAIN } {
            // A profile named with --profile outranks key variables, as the
            // AWS CLI's --profile does.
            let keys = matches!(
                provider,
                Provider::OssEnv | Provider::AlibabaEnv | Provider::AwsEnv
            );
            if keys && self.profile.is_some() {
                continue;
            }
            match self.ask(*provider).await? {
                Step::Found(found) => {
                    tracing::debug!(from = %found.from, "store credentials found");
                    return Ok(found);
                }
                Step::Absent(why) => tried.push(why),
            }
        }
        Err(self.nothing_found(&tried))
    }

    async fn ask(&self, provider: Provider) -> Result<Step, Failed> {
        let v = &self.vars;
        let profile = self.profile.as_deref();
        match provider {
            Provider::OssEnv => Ok(env::oss(v)),
            Provider::AlibabaEnv => Ok(env::alibaba(v)),
            Provider::AlibabaOidc => oidc::from_env(v).await,
            Provider::AliyunCli => aliyun_cli::provide(v, profile).await,
            Provider::AlibabaFile => alibaba_file::provide(v, profile).await,
            Provider::EcsRamRole => instance::ecs_ram_role(v, None).await,
            Provider::CredentialsUri => credentials_uri::provide(v).await,
            Provider::AwsEnv => Ok(env::aws(v)),
            Provider::AwsProfile => aws_profile::provide(v, profile).await,
            Provider::WebIdentity => web_identity::from_env(v).await,
            Provider::Container => container::provide(v).await,
            Provider::Ec2Role => instance::ec2_role(v).await,
        }
    }

    fn nothing_found(&self, tried: &[String]) -> String {
        let (store, what) = if self.s3 {
            (
                "S3",
                "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or name a profile of \
                 ~/.aws/credentials with --profile or AWS_PROFILE",
            )
        } else {
            (
                "OSS",
                "set OSS_ACCESS_KEY_ID and OSS_ACCESS_KEY_SECRET (or ALIBABA_CLOUD_ACCESS_KEY_ID \
                 and ALIBABA_CLOUD_ACCESS_KEY_SECRET), or name a profile with --profile or \
                 ALIBABA_CLOUD_PROFILE",
            )
        };
        format!(
            "no {store} credentials found; tried, in order: {}; {what}",
            tried.join("; ")
        )
    }
}

/// A chain's credentials, fetched again when they near their expiry: what a
/// long copy asks before each use.
#[derive(Debug)]
pub struct Refreshing {
    chain: Chain,
    current: Mutex<Found>,
}

impl Refreshing {
    /// Starts from `found`, which `chain` gave.
    pub fn new(chain: Chain, found: Found) -> Refreshing {
        Refreshing {
            chain,
            current: Mutex::new(found),
        }
    }

    /// The credentials to use now: the held ones, or, when they have less
    /// than [`REFRESH_BEFORE`] left, the chain's answer once more.
    pub async fn current(&self) -> Result<Found, String> {
        let held = self.current.lock().unwrap().clone();
        if !held.needs_refresh() {
            return Ok(held);
        }
        match self.chain.resolve().await {
            Ok(fresh) => {
                tracing::debug!(from = %fresh.from, "store credentials refreshed");
                *self.current.lock().unwrap() = fresh.clone();
                Ok(fresh)
            }
            // A passing outage of STS or the metadata service: the held
            // credentials serve until they expire, and are asked for again.
            Err(e) if held.expires.is_some_and(|at| at > SystemTime::now()) => {
                tracing::warn!("the store's credentials could not be refreshed yet: {e}");
                Ok(held)
            }
            Err(e) => Err(e),
        }
    }
}

/// Credentials from three values.
fn credentials(id: String, secret: String, token: Option<String>) -> Credentials {
    Credentials {
        access_key_id: id,
        access_key_secret: secret,
        security_token: token.filter(|t| !t.is_empty()),
    }
}
