//! The Rekor bundle of a cosign keyless signature (`dev.sigstore.cosign/bundle`):
//! a Signed Entry Timestamp (SET) over `{body, integratedTime, logID,
//! logIndex}` by the Rekor log key, where `body` is the log entry
//! (`hashedrekord` or `rekord` v0.0.1) naming the payload hash, the signature
//! and the signing certificate. Checked offline: the SET under a trusted
//! Rekor key, the entry against this signature.

use super::trust_root::TrustRoot;
use base64::Engine;
use serde::{Deserialize, Serialize};

/// The bundle annotation's JSON.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RekorBundle {
    /// base64 DER ECDSA signature by the log key over the canonical payload.
    pub signed_entry_timestamp: String,
    /// What the log promised.
    pub payload: SetPayload,
}

/// The SET payload; field order is RFC 8785 (JCS) order, so serde_json's
/// compact output of this struct is its canonical form once the strings are
/// checked to need no escaping (base64 and hex only).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SetPayload {
    /// base64 of the log entry.
    pub body: String,
    /// When the log integrated the entry (Unix seconds).
    #[serde(rename = "integratedTime")]
    pub integrated_time: i64,
    /// Hex sha256 of the log's DER public key.
    #[serde(rename = "logID")]
    pub log_id: String,
    /// Index in the log.
    #[serde(rename = "logIndex")]
    pub log_index: i64,
}

#[derive(Deserialize)]
struct Entry {
    kind: String,
    #[serde(rename = "apiVersion")]
    api_version: String,
    spec: Spec,
}

#[derive(Deserialize)]
struct Spec {
    data: Data,
    signature: Sig,
}

#[derive(Deserialize)]
struct Data {
    hash: Hash,
}

#[derive(Deserialize)]
struct Hash {
    algorithm: String,
    value: String,
}

#[derive(Deserialize)]
struct Sig {
    content: String,
    #[serde(rename = "publicKey")]
    public_key: Content,
}

#[derive(Deserialize)]
struct Content {
    content: String,
}

fn b64(s: &str) -> Option<Vec<u8>> {
    base64::engine::general_purpose::STANDARD.decode(s.trim()).ok()
}

/// Parses the bundle annotation.
pub fn parse(json: &str) -> Result<RekorBundle, String> {
    serde_json::from_str(json).map_err(|e| format!("the Rekor bundle is not a cosign bundle: {e}"))
}

/// Verifies the SET under the trust root's Rekor key named by `logID`.
pub fn check_set(b: &RekorBundle, root: &TrustRoot) -> Result<(), String> {
    use p256::ecdsa::signature::Verifier;
    let p = &b.payload;
    let base64_chars = |s: &str| s.bytes().all(|c| c.is_ascii_alphanumeric() || b"+/=".contains(&c));
    if !base64_chars(&p.body) || !p.log_id.bytes().all(|c| c.is_ascii_hexdigit()) {
        return Err("the Rekor bundle's body or logID is malformed".into());
    }
    let Some(key) = root.rekor.iter().find(|k| k.log_id.eq_ignore_ascii_case(&p.log_id)) else {
        return Err(format!("the Rekor bundle is from log {}, not a Rekor key of the trust root", p.log_id));
    };
    if !key.valid.contains(p.integrated_time) {
        return Err(format!(
            "the Rekor key {} was not valid at the integrated time {}",
            p.log_id, p.integrated_time
        ));
    }
    let canonical = serde_json::to_vec(p).map_err(|e| e.to_string())?;
    let bad = || {
        format!("the Rekor bundle's Signed Entry Timestamp does not verify with the Rekor key {}", p.log_id)
    };
    let raw = b64(&b.signed_entry_timestamp).ok_or_else(bad)?;
    let sig = p256::ecdsa::DerSignature::try_from(raw.as_slice()).map_err(|_| bad())?;
    key.key.verify(&canonical, &sig).map_err(|_| bad())
}

/// Checks that the logged entry is this signature: same signature bytes,
/// same certificate (DER), payload hash = sha256(`payload`).
pub fn check_body(b: &RekorBundle, payload: &[u8], signature: &[u8], cert_der: &[u8]) -> Result<(), String> {
    let raw = b64(&b.payload.body).ok_or("the Rekor entry body is not base64")?;
    let e: Entry =
        serde_json::from_slice(&raw).map_err(|e| format!("the Rekor entry body is not a rekord: {e}"))?;
    if !matches!(e.kind.as_str(), "hashedrekord" | "rekord") || e.api_version != "0.0.1" {
        return Err(format!("the Rekor entry is a {} {}, not a hashedrekord 0.0.1", e.kind, e.api_version));
    }
    let want = crate::digest::sha256_digest(payload);
    let h = &e.spec.data.hash;
    if h.algorithm != "sha256" || format!("sha256:{}", h.value.to_ascii_lowercase()) != want {
        return Err(format!("the Rekor entry is for payload {}:{}, not {want}", h.algorithm, h.value));
    }
    if b64(&e.spec.signature.content).as_deref() != Some(signature) {
        return Err("the Rekor entry's signature is not this signature".into());
    }
    let pem =
        b64(&e.spec.signature.public_key.content).ok_or("the Rekor entry's certificate is not base64")?;
    let logged = std::str::from_utf8(&pem)
        .ok()
        .and_then(|p| x509_cert::der::pem::decode_vec(p.trim().as_bytes()).ok())
        .map(|(_, der)| der);
    if logged.as_deref() != Some(cert_der) {
        return Err("the Rekor entry's certificate is not the signing certificate".into());
    }
    Ok(())
}
