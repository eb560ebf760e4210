//! The offline trust root of keyless verification: the Fulcio certificate
//! authorities a signing certificate must chain to, and the Rekor log keys a
//! Signed Entry Timestamp must verify under. Read from a file, never fetched.
//!
//! Two forms are accepted:
//! - Sigstore's `trusted_root.json` (media type
//!   `application/vnd.dev.sigstore.trustedroot+json;version=0.1`), as
//!   `cosign trusted-root create` writes it or as Sigstore's TUF repository
//!   publishes it: `certificateAuthorities[].certChain.certificates[].rawBytes`
//!   (base64 DER) with `validFor`, `tlogs[].publicKey.rawBytes` (base64 DER
//!   SPKI) with `validFor`. `ctlogs` and `timestampAuthorities` are ignored.
//! - A PEM file: every `CERTIFICATE` block is a Fulcio CA, every `PUBLIC KEY`
//!   block a Rekor key, valid at any time.

use chrono::DateTime;
use serde::Deserialize;
use std::path::{Path, PathBuf};
use toolhost_core::error::Error;
use x509_cert::Certificate;
use x509_cert::der::Decode;

/// `[start, end)` in Unix seconds; `None` is unbounded.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Window {
    /// Not before.
    pub start: Option<i64>,
    /// Not at or after.
    pub end: Option<i64>,
}

impl Window {
    /// Whether `t` (Unix seconds) is inside.
    pub fn contains(&self, t: i64) -> bool {
        self.start.is_none_or(|s| t >= s) && self.end.is_none_or(|e| t < e)
    }
}

/// One Fulcio certificate authority: its chain (intermediates, root), all
/// trusted as issuers.
#[derive(Debug, Clone)]
pub struct FulcioCa {
    /// `uri` of the trusted root entry, or `pem #N`.
    pub name: String,
    /// The certificates.
    pub certs: Vec<Certificate>,
    /// When it may have issued certificates.
    pub valid: Window,
}

/// One Rekor log key (ECDSA P-256).
#[derive(Debug, Clone)]
pub struct RekorKey {
    /// The log id: hex of sha256 of the DER public key (what a SET names).
    pub log_id: String,
    /// The key.
    pub key: p256::ecdsa::VerifyingKey,
    /// When it signed.
    pub valid: Window,
}

/// Fulcio CAs and Rekor keys from one file.
#[derive(Debug, Clone)]
pub struct TrustRoot {
    /// The file it was read from.
    pub path: PathBuf,
    /// Certificate authorities.
    pub cas: Vec<FulcioCa>,
    /// Transparency log keys.
    pub rekor: Vec<RekorKey>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TrustedRootJson {
    media_type: String,
    #[serde(default)]
    tlogs: Vec<TlogJson>,
    #[serde(default)]
    certificate_authorities: Vec<CaJson>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TlogJson {
    public_key: PublicKeyJson,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PublicKeyJson {
    raw_bytes: String,
    #[serde(default)]
    key_details: Option<String>,
    #[serde(default)]
    valid_for: Option<ValidForJson>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CaJson {
    #[serde(default)]
    uri: Option<String>,
    cert_chain: CertChainJson,
    #[serde(default)]
    valid_for: Option<ValidForJson>,
}

#[derive(Deserialize)]
struct CertChainJson {
    certificates: Vec<RawBytesJson>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawBytesJson {
    raw_bytes: String,
}

#[derive(Deserialize)]
struct ValidForJson {
    #[serde(default)]
    start: Option<String>,
    #[serde(default)]
    end: Option<String>,
}

/// The media type prefix of a Sigstore trusted root.
pub const TRUSTED_ROOT_MEDIA_TYPE: &str = "application/vnd.dev.sigstore.trustedroot+json";

impl TrustRoot {
    /// Reads a trust root file (`trusted_root.json` or PEM).
    pub fn from_file(path: &Path) -> Result<TrustRoot, Error> {
        let what = format!("trust root {}", path.display());
        let text = std::fs::read_to_string(path).map_err(|e| Error::Configuration(format!("{what}: {e}")))?;
        let root = if text.trim_start().starts_with('{') { from_json(&text) } else { from_pem(&text) };
        let (cas, rekor) = root.map_err(|e| Error::Configuration(format!("{what}: {e}")))?;
        if cas.is_empty() || rekor.is_empty() {
            return Err(Error::Configuration(format!(
                "{what}: needs at least one Fulcio CA certificate and one Rekor public key (found {} and {})",
                cas.len(),
                rekor.len()
            )));
        }
        Ok(TrustRoot { path: path.to_path_buf(), cas, rekor })
    }
}

type Parts = (Vec<FulcioCa>, Vec<RekorKey>);

fn from_json(text: &str) -> Result<Parts, String> {
    let doc: TrustedRootJson =
        serde_json::from_str(text).map_err(|e| format!("not a trusted_root.json: {e}"))?;
    if !doc.media_type.starts_with(TRUSTED_ROOT_MEDIA_TYPE) {
        return Err(format!("mediaType {:?} is not {TRUSTED_ROOT_MEDIA_TYPE}", doc.media_type));
    }
    let mut cas = vec![];
    for (i, ca) in doc.certificate_authorities.iter().enumerate() {
        let name = ca.uri.clone().unwrap_or_else(|| format!("certificateAuthorities[{i}]"));
        let certs = ca
            .cert_chain
            .certificates
            .iter()
            .map(|c| {
                Certificate::from_der(&b64(&c.raw_bytes)?).map_err(|e| format!("{name}: certificate: {e}"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        cas.push(FulcioCa { name, certs, valid: window(ca.valid_for.as_ref())? });
    }
    let mut rekor = vec![];
    for t in &doc.tlogs {
        let k = &t.public_key;
        if let Some(d) = &k.key_details
            && d != "PKIX_ECDSA_P256_SHA_256"
        {
            tracing::debug!(key_details = %d, "trust root: skipping a transparency log key that is not ECDSA P-256");
            continue;
        }
        rekor.push(rekor_key(&b64(&k.raw_bytes)?, window(k.valid_for.as_ref())?)?);
    }
    Ok((cas, rekor))
}

fn from_pem(text: &str) -> Result<Parts, String> {
    let (mut cas, mut rekor) = (vec![], vec![]);
    for (i, block) in text.split("-----BEGIN ").skip(1).enumerate() {
        let block = format!("-----BEGIN {block}");
        let (label, der) = x509_cert::der::pem::decode_vec(block.trim().as_bytes())
            .map_err(|e| format!("PEM block {i}: {e}"))?;
        match label {
            "CERTIFICATE" => {
                let cert = Certificate::from_der(&der).map_err(|e| format!("PEM block {i}: {e}"))?;
                cas.push(FulcioCa { name: format!("pem #{i}"), certs: vec![cert], valid: Window::default() });
            }
            "PUBLIC KEY" => rekor.push(rekor_key(&der, Window::default())?),
            other => return Err(format!("PEM block {i}: {other:?} is neither CERTIFICATE nor PUBLIC KEY")),
        }
    }
    Ok((cas, rekor))
}

fn rekor_key(der: &[u8], valid: Window) -> Result<RekorKey, String> {
    use p256::pkcs8::DecodePublicKey;
    let key = p256::ecdsa::VerifyingKey::from_public_key_der(der)
        .map_err(|e| format!("Rekor key is not an ECDSA P-256 public key: {e}"))?;
    let log_id = crate::digest::sha256_digest(der).trim_start_matches("sha256:").to_string();
    Ok(RekorKey { log_id, key, valid })
}

fn b64(s: &str) -> Result<Vec<u8>, String> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.decode(s.trim()).map_err(|e| format!("bad base64: {e}"))
}

fn window(v: Option<&ValidForJson>) -> Result<Window, String> {
    let t = |s: &Option<String>| -> Result<Option<i64>, String> {
        s.as_deref()
            .map(|s| {
                DateTime::parse_from_rfc3339(s).map(|d| d.timestamp()).map_err(|e| format!("time {s:?}: {e}"))
            })
            .transpose()
    };
    Ok(match v {
        Some(v) => Window { start: t(&v.start)?, end: t(&v.end)? },
        None => Window::default(),
    })
}
