//! Registry credentials: `TOOLHOST_REGISTRY_AUTH` (`user:pass`), else the
//! `auths.<host>.auth` entry (base64 `user:pass`) of `~/.docker/config.json`
//! (`$DOCKER_CONFIG/config.json` when set), else anonymous.

use base64::Engine;
use oci_client::secrets::RegistryAuth;
use std::path::PathBuf;

/// The credentials for `registry` (`host[:port]`) from the environment.
pub fn credentials(registry: &str) -> RegistryAuth {
    let env = std::env::var("TOOLHOST_REGISTRY_AUTH").ok();
    let docker = docker_config_path().and_then(|p| std::fs::read_to_string(p).ok());
    resolve(registry, env.as_deref(), docker.as_deref())
}

/// The choice itself, from the two sources' contents.
pub fn resolve(registry: &str, env: Option<&str>, docker_config: Option<&str>) -> RegistryAuth {
    if let Some((user, pass)) = env.and_then(|v| v.split_once(':')) {
        return RegistryAuth::Basic(user.to_string(), pass.to_string());
    }
    docker_config.and_then(|text| from_docker_config(registry, text)).unwrap_or(RegistryAuth::Anonymous)
}

fn from_docker_config(registry: &str, text: &str) -> Option<RegistryAuth> {
    let doc: serde_json::Value = serde_json::from_str(text).ok()?;
    let auths = doc.get("auths")?.as_object()?;
    // Docker writes keys as `host`, `https://host` or `https://host/v1/`.
    let entry = auths.iter().find(|(k, _)| {
        let k = k.trim_start_matches("https://").trim_start_matches("http://");
        k.split('/').next() == Some(registry)
    })?;
    let encoded = entry.1.get("auth")?.as_str()?;
    let decoded = base64::engine::general_purpose::STANDARD.decode(encoded.trim()).ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, pass) = text.split_once(':')?;
    Some(RegistryAuth::Basic(user.to_string(), pass.to_string()))
}

fn docker_config_path() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("DOCKER_CONFIG") {
        return Some(PathBuf::from(dir).join("config.json"));
    }
    std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".docker/config.json"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn basic(a: RegistryAuth) -> Option<(String, String)> {
        match a {
            RegistryAuth::Basic(u, p) => Some((u, p)),
            _ => None,
        }
    }

    #[test]
    fn env_wins_then_docker_config_then_anonymous() {
        let docker = r#"{"auths":{"https://reg.example:5000":{"auth":"YWxpY2U6czNjcjN0"}}}"#;
        assert_eq!(
            basic(resolve("reg.example:5000", Some("bob:pw"), Some(docker))),
            Some(("bob".into(), "pw".into()))
        );
        assert_eq!(
            basic(resolve("reg.example:5000", None, Some(docker))),
            Some(("alice".into(), "s3cr3t".into()))
        );
        assert_eq!(basic(resolve("other:5000", None, Some(docker))), None);
        assert_eq!(basic(resolve("reg.example:5000", None, Some("not json"))), None);
    }
}
