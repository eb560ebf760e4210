//! `[[sources]]` of `toolhost.toml`: plugins pulled from OCI registries when
//! a host starts.
//!
//! ```toml
//! [[sources]]
//! ref = "oci://registry.example.com/plugins/text:1.0"
//! verify_key = "keys/toolhost.pub"      # or identity = "ISSUER=SUBJECT" + trust_root = "trusted_root.json",
//!                                       # or insecure_unsigned = true
//! ```
//!
//! At start each source is synced into the plugins folder: a tag is resolved
//! once and locked (`toolhost.lock`); later starts use the locked digest, and a
//! tag that moved since is reported (`DIGEST_MISMATCH`) and not followed. The
//! locked files are re-verified offline; only a source whose local copy is
//! missing or altered is fetched again. A registry that is down
//! (`REGISTRY_UNAVAILABLE`) leaves the last verified copy serving. A source
//! that does not verify is not installed, and its old files are removed.

use crate::install::{install, remove_files};
use crate::keyless::{KeylessTrust, parse_identity};
use crate::lock::{Lock, LockEntry};
use crate::pull::{self, Trust};
use crate::reference::OciRef;
use crate::sign::VerifyKey;
use crate::verify::{Require, verify_entry};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use toolhost_core::check::{Problems, join};
use toolhost_core::error::Error;

/// One `[[sources]]` entry.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct SourceConfig {
    /// `oci://HOST[:PORT]/REPO:TAG` or `…@sha256:HEX`.
    #[serde(rename = "ref")]
    pub reference: String,
    /// PEM public key whose signature is required (relative to the config file).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verify_key: Option<PathBuf>,
    /// Keyless signer `ISSUER=SUBJECT` (OIDC issuer, certificate SAN).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity: Option<String>,
    /// With `identity`: the trust root file (Sigstore `trusted_root.json`, or
    /// PEM Fulcio CAs + Rekor keys), relative to the config file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trust_root: Option<PathBuf>,
    /// Accept the plugin without a signature.
    #[serde(default)]
    pub insecure_unsigned: bool,
}

impl SourceConfig {
    /// Checks the entry (`at` is its key path, `sources[0]`).
    pub fn check(&self, at: &str, p: &mut Problems) {
        if let Err(e) = self.reference.parse::<OciRef>() {
            p.push(format!("{} {}", join(at, "ref"), crate_message(e)));
        }
        let ways = [self.verify_key.is_some(), self.identity.is_some(), self.insecure_unsigned];
        let n = ways.iter().filter(|w| **w).count();
        p.require(
            n == 1,
            at,
            "needs exactly one of verify_key, identity or insecure_unsigned = true (remote plugins must be signed unless a source opts out)",
        );
        if let Some(i) = &self.identity
            && let Err(e) = parse_identity(i)
        {
            p.push(format!("{} {}", join(at, "identity"), crate_message(e)));
        }
        p.require(
            self.identity.is_some() == self.trust_root.is_some(),
            at,
            "identity and trust_root go together (a keyless signer is checked against an offline trust root)",
        );
    }

    /// Resolves relative `verify_key` and `trust_root` against `base` (the
    /// config file's folder).
    pub fn resolve_paths(&mut self, base: &Path) {
        for p in [&mut self.verify_key, &mut self.trust_root].into_iter().flatten() {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        }
    }

    /// What a pulled plugin of this source must satisfy.
    pub fn trust(&self) -> Result<Trust, Error> {
        if let Some(k) = &self.verify_key {
            return Ok(Trust::Key(VerifyKey::from_file(k)?));
        }
        if let Some(i) = &self.identity {
            let Some(root) = &self.trust_root else {
                return Err(Error::Configuration(format!(
                    "source {}: identity needs trust_root",
                    self.reference
                )));
            };
            return Ok(Trust::Identity(KeylessTrust::new(i, root)?));
        }
        if self.insecure_unsigned {
            return Ok(Trust::InsecureUnsigned);
        }
        Err(Error::Configuration(format!(
            "source {}: no verify_key, identity or insecure_unsigned",
            self.reference
        )))
    }
}

fn crate_message(e: Error) -> String {
    match e {
        Error::Configuration(m) => m,
        e => e.to_string(),
    }
}

/// How a source ended up at start.
#[derive(Debug)]
pub enum Synced {
    /// Newly pulled (or re-fetched) and installed at this digest.
    Pulled(LockEntry),
    /// The locked copy verified and serves; `warning` says what was refused
    /// or could not be checked (a moved tag, an unreachable registry).
    Locked(LockEntry, Option<Error>),
}

/// Syncs every source into `dir`; one outcome per source, in order.
pub async fn sync(sources: &[SourceConfig], dir: &Path) -> Vec<(String, Result<Synced, Error>)> {
    let mut out = vec![];
    for s in sources {
        let r = sync_one(s, dir).await;
        log_outcome(&s.reference, &r);
        out.push((s.reference.clone(), r));
    }
    out
}

/// What a source came to at start, for `/readyz` and `toolhost list --json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SourceStatus {
    /// The configured reference.
    pub source: String,
    /// Whether a verified copy is installed (pulled now or locked before).
    pub serving: bool,
    /// Its plugin name, when serving.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plugin: Option<String>,
    /// The digest serving.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
    /// The error code of a failure (not serving) or a warning (serving the
    /// locked copy: a moved tag, an unreachable registry).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// Its message.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

impl SourceStatus {
    /// The status of one [`sync`] outcome.
    pub fn of(source: &str, r: &Result<Synced, Error>) -> SourceStatus {
        let (entry, problem) = match r {
            Ok(Synced::Pulled(e)) => (Some(e), None),
            Ok(Synced::Locked(e, w)) => (Some(e), w.as_ref()),
            Err(e) => (None, Some(e)),
        };
        SourceStatus {
            source: source.to_string(),
            serving: entry.is_some(),
            plugin: entry.map(|e| e.name.clone()),
            digest: entry.map(|e| e.digest.clone()),
            code: problem.map(|p| p.code().as_str().to_string()),
            message: problem.map(|p| p.to_string()),
        }
    }
}

fn log_outcome(reference: &str, r: &Result<Synced, Error>) {
    match r {
        Ok(Synced::Pulled(e)) => {
            tracing::info!(source = reference, plugin = %e.name, digest = %e.digest, signer = %e.signer, "pulled plugin")
        }
        Ok(Synced::Locked(e, None)) => {
            tracing::info!(source = reference, plugin = %e.name, digest = %e.digest, "locked plugin verified")
        }
        Ok(Synced::Locked(e, Some(w))) => tracing::warn!(
            source = reference, plugin = %e.name, digest = %e.digest, code = %w.code(),
            "{w}; the locked version keeps serving"
        ),
        Err(e) => tracing::error!(source = reference, code = %e.code(), "source not served: {e}"),
    }
}

async fn sync_one(s: &SourceConfig, dir: &Path) -> Result<Synced, Error> {
    let r: OciRef = s.reference.parse()?;
    let trust = s.trust()?;
    let require = match &trust {
        Trust::Key(k) => Require::Key(k),
        Trust::InsecureUnsigned => Require::Recorded,
        Trust::Identity(t) => Require::Identity(t),
    };
    let Some(locked) = Lock::read(dir)?.get(&s.reference).cloned() else {
        let digest = pull::resolve(&r).await?;
        let p = pull::fetch(&r, &digest, &trust).await?;
        return Ok(Synced::Pulled(install(dir, &p, false)?));
    };
    let warning = tag_warning(&r, &locked).await;
    match verify_entry(dir, &locked, require) {
        Ok(()) => Ok(Synced::Locked(locked, warning)),
        Err(local) => {
            tracing::warn!(source = %s.reference, code = %local.code(), "locked copy does not verify: {local}; fetching it again");
            match refetch(&r, &locked, &trust, dir).await {
                Ok(e) => Ok(Synced::Pulled(e)),
                Err(e) => {
                    remove_files(dir, &locked);
                    Err(e)
                }
            }
        }
    }
}

/// Fetches the locked digest again (local files missing or altered).
async fn refetch(r: &OciRef, locked: &LockEntry, trust: &Trust, dir: &Path) -> Result<LockEntry, Error> {
    let p = pull::fetch(r, &locked.digest, trust).await?;
    install(dir, &p, false)
}

/// A tag that now points elsewhere than the lock says (refused), or a
/// registry that cannot be asked.
async fn tag_warning(r: &OciRef, locked: &LockEntry) -> Option<Error> {
    if r.digest.is_some() {
        return None;
    }
    match pull::resolve(r).await {
        Ok(d) if d == locked.digest => None,
        Ok(d) => Some(Error::DigestMismatch {
            reference: r.to_string(),
            what:
                "tag (moved after it was locked; not followed: run `toolhost pull` to accept the new digest)"
                    .into(),
            expected: locked.digest.clone(),
            found: d,
        }),
        // REGISTRY_UNAVAILABLE, or the tag is gone: the locked copy serves.
        Err(e) => Some(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problems(toml_text: &str) -> String {
        let s: SourceConfig = toml::from_str(toml_text).unwrap();
        let mut p = Problems::default();
        s.check("sources[0]", &mut p);
        p.into_string_result().err().unwrap_or_default()
    }

    #[test]
    fn a_source_must_say_how_it_is_trusted_exactly_once() {
        let r = "ref = \"oci://127.0.0.1:5000/plugins/text:1.0\"\n";
        assert_eq!(problems(&format!("{r}verify_key = \"k.pub\"")), "");
        assert_eq!(problems(&format!("{r}insecure_unsigned = true")), "");
        let keyless = format!("{r}identity = \"https://issuer=me@example.com\"");
        assert_eq!(problems(&format!("{keyless}\ntrust_root = \"trusted_root.json\"")), "");
        assert!(problems(&keyless).contains("identity and trust_root go together"), "{}", problems(&keyless));
        let root_alone = format!("{r}verify_key = \"k.pub\"\ntrust_root = \"t.json\"");
        assert!(problems(&root_alone).contains("go together"));
        assert!(problems(r).contains("needs exactly one of verify_key"), "{}", problems(r));
        let both = format!("{r}verify_key = \"k.pub\"\ninsecure_unsigned = true");
        assert!(problems(&both).contains("exactly one"));
        let bad_id = format!("{r}identity = \"nobody\"\ntrust_root = \"t.json\"");
        assert!(problems(&bad_id).contains("sources[0].identity"));
        let bad = "ref = \"docker://x/y:1\"\ninsecure_unsigned = true";
        assert!(problems(bad).contains("sources[0].ref invalid reference"), "{}", problems(bad));
        assert!(toml::from_str::<SourceConfig>("ref = \"oci://h/x:1\"\nverify = \"k\"").is_err());
    }

    #[tokio::test]
    async fn a_keyless_source_without_a_readable_trust_root_is_refused_before_any_network_use() {
        let dir = tempfile::tempdir().unwrap();
        let s: SourceConfig = toml::from_str(
            "ref = \"oci://127.0.0.1:9/x:1\"\nidentity = \"https://issuer=me@example.com\"\ntrust_root = \"/nonexistent/trusted_root.json\"",
        )
        .unwrap();
        let out = sync(&[s], dir.path()).await;
        let status = SourceStatus::of(&out[0].0, &out[0].1);
        assert!(!status.serving && status.code.as_deref() == Some("CONFIGURATION_ERROR"), "{status:?}");
        assert!(status.message.unwrap().contains("trust root /nonexistent/trusted_root.json"));
        assert!(!dir.path().join(crate::lock::LOCK_FILE).exists());
    }
}
