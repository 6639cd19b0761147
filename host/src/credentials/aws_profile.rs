//! A profile of the AWS shared files: `~/.aws/credentials` (sections
//! `[NAME]`) and `~/.aws/config` (`[profile NAME]`, and `[default]`), at
//! `AWS_SHARED_CREDENTIALS_FILE` and `AWS_CONFIG_FILE` when set. The profile
//! is `--profile`, else `AWS_PROFILE`, else `default`; keys in the
//! credentials file win over the config file's, as in the AWS CLI. A
//! profile holds a key (`aws_access_key_id`, `aws_secret_access_key`,
//! `aws_session_token`), a role to assume with a web identity token
//! (`role_arn`, `web_identity_token_file`) or a `credential_process`.

use super::{credentials, ini, process, web_identity, Failed, Found, Step, Vars};
use std::collections::HashMap;

pub(super) async fn provide(v: &Vars, profile: Option<&str>) -> Result<Step, Failed> {
    let named = profile.map(str::to_string).or_else(|| v.get("AWS_PROFILE"));
    let name = named.clone().unwrap_or_else(|| "default".into());
    let creds_file = v.file("AWS_SHARED_CREDENTIALS_FILE", ".aws/credentials");
    let config_file = v.file("AWS_CONFIG_FILE", ".aws/config");
    let files = [&creds_file, &config_file].map(|f| {
        f.as_ref()
            .map_or("~/.aws/...".into(), |p| p.display().to_string())
    });
    let label = format!("profile {name} in {} and {}", files[0], files[1]);
    let read = |file: &Option<std::path::PathBuf>| -> Result<Option<ini::Sections>, Failed> {
        match file {
            Some(path) => ini::read(path),
            None => Ok(None),
        }
    };
    let (creds, config) = (read(&creds_file)?, read(&config_file)?);
    let mut keys: HashMap<String, String> = HashMap::new();
    if let Some(config) = &config {
        let section = if name == "default" {
            config
                .get("default")
                .or_else(|| config.get("profile default"))
        } else {
            config.get(&format!("profile {name}"))
        };
        keys.extend(section.cloned().unwrap_or_default());
    }
    let in_creds = creds.as_ref().and_then(|c| c.get(&name));
    let found_anywhere = in_creds.is_some() || !keys.is_empty();
    keys.extend(in_creds.cloned().unwrap_or_default());
    if !found_anywhere {
        return match named {
            Some(_) => Err(format!(
                "there is no profile {name} in {} or {}; name one they hold with --profile or \
                 AWS_PROFILE",
                files[0], files[1]
            )),
            None if creds.is_none() && config.is_none() => {
                Ok(Step::Absent(format!("{label} (no such files)")))
            }
            None => Ok(Step::Absent(format!("{label} (no such profile)"))),
        };
    }
    let get = |k: &str| keys.get(k).filter(|v| !v.is_empty()).cloned();
    if let (Some(id), Some(secret)) = (get("aws_access_key_id"), get("aws_secret_access_key")) {
        return Ok(Step::Found(Found::new(
            credentials(id, secret, get("aws_session_token")),
            None,
            label,
        )));
    }
    if let (Some(role), Some(file)) = (get("role_arn"), get("web_identity_token_file")) {
        return web_identity::assume(v, &role, &file, get("role_session_name"), &label)
            .await
            .map(Step::Found);
    }
    if let Some(command) = get("credential_process") {
        return process::run(&command, &label).await.map(Step::Found);
    }
    let unsupported = [
        "source_profile",
        "credential_source",
        "sso_session",
        "sso_start_url",
    ]
    .into_iter()
    .find(|k| keys.contains_key(*k));
    Err(match unsupported {
        Some(k) => format!(
            "{label} gets its credentials through {k}, which ferry does not read; export them \
             (aws configure export-credentials --profile {name} --format env) or use a profile \
             with aws_access_key_id and aws_secret_access_key"
        ),
        None => format!(
            "{label} has no aws_access_key_id and aws_secret_access_key (nor role_arn and \
             web_identity_token_file)"
        ),
    })
}
