//! The Alibaba Cloud credentials file, `~/.alibabacloud/credentials` (or
//! `ALIBABA_CLOUD_CREDENTIALS_FILE`), as the Alibaba Cloud SDKs read it: INI
//! sections named by profile (`--profile`, else `ALIBABA_CLOUD_PROFILE`,
//! else `default`), each with a `type`: `access_key`, `sts`, `ram_role_arn`
//! (a key and `role_arn`), `ecs_ram_role` (`role_name`) or `oidc_role_arn`
//! (`role_arn`, `oidc_provider_arn`, `oidc_token_file_path`).

use super::oidc::{self, OidcRole};
use super::ram_role::{self, RamRole};
use super::{credentials, ini, instance, Failed, Found, Step, Vars};

pub(super) async fn provide(v: &Vars, profile: Option<&str>) -> Result<Step, Failed> {
    let name = profile
        .map(str::to_string)
        .or_else(|| v.get("ALIBABA_CLOUD_PROFILE"))
        .unwrap_or_else(|| "default".into());
    let Some(path) = v.file(
        "ALIBABA_CLOUD_CREDENTIALS_FILE",
        ".alibabacloud/credentials",
    ) else {
        return Ok(Step::Absent("~/.alibabacloud/credentials (no HOME)".into()));
    };
    let label = format!("profile {name} in {}", path.display());
    let Some(sections) = ini::read(&path)? else {
        return Ok(Step::Absent(format!("{label} (no such file)")));
    };
    let Some(keys) = sections.get(&name) else {
        return Ok(Step::Absent(format!("{label} (no such profile)")));
    };
    let get = |k: &str| keys.get(k).filter(|v| !v.is_empty()).cloned();
    let need = |k: &str| get(k).ok_or_else(|| format!("{label} has no {k}"));
    let kind = get("type").unwrap_or_else(|| "access_key".into());
    match kind.as_str() {
        "access_key" | "sts" => {
            let token = if kind == "sts" {
                Some(need("security_token")?)
            } else {
                None
            };
            Ok(Step::Found(Found::new(
                credentials(need("access_key_id")?, need("access_key_secret")?, token),
                None,
                label,
            )))
        }
        "ecs_ram_role" => instance::ecs_ram_role(v, get("role_name")).await,
        "oidc_role_arn" => {
            let role = OidcRole {
                role_arn: need("role_arn")?,
                provider_arn: need("oidc_provider_arn")?,
                token_file: need("oidc_token_file_path")?,
                session_name: get("role_session_name"),
            };
            oidc::assume(v, &role, &label).await.map(Step::Found)
        }
        "ram_role_arn" => {
            let role = RamRole {
                key: credentials(need("access_key_id")?, need("access_key_secret")?, None),
                role_arn: need("role_arn")?,
                session_name: get("role_session_name"),
                external_id: get("external_id"),
                policy: get("policy"),
            };
            ram_role::assume(v, role, &label).await.map(Step::Found)
        }
        other => Err(format!(
            "{label} is of type {other}, which ferry does not read; use access_key, sts, \
             ram_role_arn, ecs_ram_role or oidc_role_arn, or set ALIBABA_CLOUD_ACCESS_KEY_ID \
             and ALIBABA_CLOUD_ACCESS_KEY_SECRET"
        )),
    }
}
