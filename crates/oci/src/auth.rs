//! Registry credentials: `TOOLHOST_REGISTRY_AUTH` (`user:pass`), else
//! `~/.docker/config.json` (`$DOCKER_CONFIG/config.json` when set) as the
//! docker CLI reads it: the credential helper `credHelpers.<host>`, else the
//! store `credsStore` (each run as `docker-credential-<name> get`, the host
//! on stdin, `{"Username","Secret"}` on stdout), else the `auths.<host>.auth`
//! entry (base64 `user:pass`), else anonymous. A helper that fails or has no
//! entry for the host falls through to the next source.

use base64::Engine;
use oci_client::secrets::RegistryAuth;
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Longest a credential helper may take.
const HELPER_TIMEOUT: Duration = Duration::from_secs(20);

/// The credentials for `registry` (`host[:port]`) from the environment.
pub fn credentials(registry: &str) -> RegistryAuth {
    let env = std::env::var("TOOLHOST_REGISTRY_AUTH").ok();
    let docker = docker_config_path().and_then(|p| std::fs::read_to_string(p).ok());
    resolve_with(registry, env.as_deref(), docker.as_deref(), &run_helper)
}

/// The choice itself, from the two sources' contents (helpers not run).
pub fn resolve(registry: &str, env: Option<&str>, docker_config: Option<&str>) -> RegistryAuth {
    resolve_with(registry, env, docker_config, &|_, _| None)
}

/// A credential helper: `(helper name, registry)` → `(user, secret)`.
pub type Helper<'a> = &'a dyn Fn(&str, &str) -> Option<(String, String)>;

/// [`resolve`] with `helper(name, registry)` answering for credential helpers.
pub fn resolve_with(
    registry: &str,
    env: Option<&str>,
    docker_config: Option<&str>,
    helper: Helper<'_>,
) -> RegistryAuth {
    if let Some((user, pass)) = env.and_then(|v| v.split_once(':')) {
        return RegistryAuth::Basic(user.to_string(), pass.to_string());
    }
    let Some(doc) = docker_config.and_then(|t| serde_json::from_str::<serde_json::Value>(t).ok()) else {
        return RegistryAuth::Anonymous;
    };
    let named = doc.get("credHelpers").and_then(|h| h.get(registry)).and_then(|v| v.as_str());
    let store = doc.get("credsStore").and_then(|v| v.as_str());
    for name in [named, store].into_iter().flatten().filter(|n| !n.is_empty()) {
        if let Some((user, pass)) = helper(name, registry) {
            return RegistryAuth::Basic(user, pass);
        }
    }
    from_docker_config(registry, &doc).unwrap_or(RegistryAuth::Anonymous)
}

/// Runs `docker-credential-<name> get` for `registry`.
fn run_helper(name: &str, registry: &str) -> Option<(String, String)> {
    let program = format!("docker-credential-{name}");
    let spawned = Command::new(&program)
        .arg("get")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match spawned {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!(helper = %program, "docker credential helper cannot run: {e}");
            return None;
        }
    };
    let _ = child.stdin.take().map(|mut i| i.write_all(registry.as_bytes()));
    let deadline = Instant::now() + HELPER_TIMEOUT;
    while child.try_wait().ok()?.is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            tracing::warn!(helper = %program, "docker credential helper timed out");
            return None;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let out = child.wait_with_output().ok()?;
    if !out.status.success() {
        let why = String::from_utf8_lossy(&out.stdout).trim().to_string();
        tracing::debug!(helper = %program, registry, "docker credential helper has no credentials: {why}");
        return None;
    }
    parse_helper_output(&out.stdout)
}

/// `{"Username": …, "Secret": …}`; identity tokens (`<token>`) are not used.
fn parse_helper_output(stdout: &[u8]) -> Option<(String, String)> {
    let v: serde_json::Value = serde_json::from_slice(stdout).ok()?;
    let user = v.get("Username")?.as_str()?;
    let secret = v.get("Secret")?.as_str()?;
    if user == "<token>" {
        tracing::warn!(
            "docker credential helper returned an identity token, which toolhost does not exchange"
        );
        return None;
    }
    Some((user.to_string(), secret.to_string()))
}

fn from_docker_config(registry: &str, doc: &serde_json::Value) -> Option<RegistryAuth> {
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

    #[test]
    fn credential_helpers_come_before_the_file_and_fall_through_when_they_have_nothing() {
        let helper = |name: &str, reg: &str| match (name, reg) {
            ("pass", "reg.example:5000") => Some(("carol".to_string(), "from-pass".to_string())),
            ("desktop", _) => Some(("dave".to_string(), "from-store".to_string())),
            _ => None,
        };
        let file = r#""auths":{"reg.example:5000":{"auth":"YWxpY2U6czNjcjN0"}}"#;
        let with = |extra: &str| format!("{{{file}{extra}}}");
        let pick = |cfg: &str| basic(resolve_with("reg.example:5000", None, Some(cfg), &helper));
        let both = with(r#","credHelpers":{"reg.example:5000":"pass"},"credsStore":"desktop""#);
        assert_eq!(pick(&both), Some(("carol".into(), "from-pass".into())));
        assert_eq!(pick(&with(r#","credsStore":"desktop""#)), Some(("dave".into(), "from-store".into())));
        let empty = with(r#","credHelpers":{"reg.example:5000":"none"}"#);
        assert_eq!(pick(&empty), Some(("alice".into(), "s3cr3t".into())));
        assert_eq!(
            basic(resolve_with("reg.example:5000", Some("bob:pw"), Some(&both), &helper)),
            Some(("bob".into(), "pw".into()))
        );
        assert_eq!(
            parse_helper_output(br#"{"ServerURL":"r","Username":"u","Secret":"s"}"#),
            Some(("u".into(), "s".into()))
        );
        assert_eq!(parse_helper_output(br#"{"Username":"<token>","Secret":"s"}"#), None);
    }
}
