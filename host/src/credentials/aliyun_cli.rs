//! The aliyun CLI's profiles, `~/.aliyun/config.json`: the profile named by
//! `--profile`, else `ALIBABA_CLOUD_PROFILE`, else the file's `current`; modes
//! `AK`, `StsToken`, `RamRoleArn`, `EcsRamRole` and `OIDC`.
//! `ALIBABA_CLOUD_CLI_PROFILE_DISABLED=true` skips the file, as the SDKs do.

use super::oidc::{self, OidcRole};
use super::ram_role::{self, RamRole};
use super::{credentials, instance, Failed, Found, Step, Vars};
use serde::Deserialize;

#[derive(Deserialize)]
struct Config {
    #[serde(default)]
    current: String,
    #[serde(default)]
    profiles: Vec<Profile>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Profile {
    name: String,
    mode: String,
    access_key_id: String,
    access_key_secret: String,
    sts_token: String,
    ram_role_name: String,
    ram_role_arn: String,
    ram_session_name: String,
    oidc_provider_arn: String,
    oidc_token_file: String,
    external_id: String,
}

pub(super) async fn provide(v: &Vars, profile: Option<&str>) -> Result<Step, Failed> {
    if v.is_true("ALIBABA_CLOUD_CLI_PROFILE_DISABLED") {
        return Ok(Step::Absent(
            "~/.aliyun/config.json (ALIBABA_CLOUD_CLI_PROFILE_DISABLED)".into(),
        ));
    }
    let Some(path) = v.file("ALIBABA_CLOUD_CLI_CONFIG_FILE", ".aliyun/config.json") else {
        return Ok(Step::Absent("~/.aliyun/config.json (no HOME)".into()));
    };
    let shown = path.display().to_string();
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(Step::Absent(format!("{shown} (no such file)")))
        }
        Err(e) => return Err(format!("{shown} cannot be read ({e})")),
    };
    let config: Config = serde_json::from_str(&text)
        .map_err(|e| format!("{shown} is not the aliyun CLI's JSON ({e})"))?;
    let name = profile
        .map(str::to_string)
        .or_else(|| v.get("ALIBABA_CLOUD_PROFILE"))
        .unwrap_or(config.current);
    let label = format!("profile {name} in {shown}");
    let Some(p) = config.profiles.into_iter().find(|p| p.name == name) else {
        return Ok(Step::Absent(format!("{label} (no such profile)")));
    };
    let need = |value: String, key: &str| {
        Some(value)
            .filter(|v| !v.is_empty())
            .ok_or_else(|| format!("{label} (mode {}) has no {key}", p.mode))
    };
    match p.mode.as_str() {
        "AK" | "StsToken" => {
            let token = if p.mode == "StsToken" {
                Some(need(p.sts_token.clone(), "sts_token")?)
            } else {
                None
            };
            Ok(Step::Found(Found::new(
                credentials(
                    need(p.access_key_id.clone(), "access_key_id")?,
                    need(p.access_key_secret.clone(), "access_key_secret")?,
                    token,
                ),
                None,
                label,
            )))
        }
        "EcsRamRole" => {
            instance::ecs_ram_role(v, Some(p.ram_role_name).filter(|r| !r.is_empty())).await
        }
        "OIDC" => {
            let role = OidcRole {
                role_arn: need(p.ram_role_arn.clone(), "ram_role_arn")?,
                provider_arn: need(p.oidc_provider_arn.clone(), "oidc_provider_arn")?,
                token_file: need(p.oidc_token_file.clone(), "oidc_token_file")?,
                session_name: Some(p.ram_session_name.clone()).filter(|s| !s.is_empty()),
            };
            oidc::assume(v, &role, &label).await.map(Step::Found)
        }
        "RamRoleArn" => {
            let role = RamRole {
                key: credentials(
                    need(p.access_key_id.clone(), "access_key_id")?,
                    need(p.access_key_secret.clone(), "access_key_secret")?,
                    Some(p.sts_token.clone()),
                ),
                role_arn: need(p.ram_role_arn.clone(), "ram_role_arn")?,
                session_name: Some(p.ram_session_name.clone()).filter(|s| !s.is_empty()),
                external_id: Some(p.external_id.clone()).filter(|s| !s.is_empty()),
                policy: None,
            };
            ram_role::assume(v, role, &label).await.map(Step::Found)
        }
        other => Err(format!(
            "{label} is in mode {other}, which ferry does not read; use a profile in mode AK, \
             StsToken, RamRoleArn, EcsRamRole or OIDC, or set ALIBABA_CLOUD_ACCESS_KEY_ID and \
             ALIBABA_CLOUD_ACCESS_KEY_SECRET"
        )),
    }
}
