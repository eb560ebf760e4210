//! `toolhost.lock`: what was pulled into a plugins folder, from where, at
//! which digest, signed by whom, with the signature itself so that
//! `toolhost verify` re-checks files and signatures without the registry.
//!
//! ```toml
//! version = 1
//!
//! [[plugin]]
//! name = "text"
//! ref = "oci://127.0.0.1:5000/plugins/text:1.0"
//! digest = "sha256:…"           # the artifact (OCI manifest) digest
//! wasm = "sha256:…"             # NAME.wasm
//! manifest = "sha256:…"         # NAME.toml, when the artifact has one
//! signer = "sha256:…"           # fingerprint of the signing key, "ISSUER=SUBJECT" (keyless), or "unsigned"
//! public_key = "-----BEGIN PUBLIC KEY-----…"   # keyed signatures
//! payload = "…"                 # cosign simple-signing payload (base64)
//! signature = "…"               # its signature (base64)
//! certificate = "-----BEGIN CERTIFICATE-----…" # keyless: the Fulcio certificate,
//! chain = "…"                   #   its chain,
//! bundle = "{…}"                #   the Rekor bundle (SET),
//! trust_root = "/…/trusted_root.json"        #   the trust root it verified under
//! oci_manifest = "…"            # the OCI manifest (base64)
//! ```

use crate::pull::{KeylessRecord, Pulled, SignatureRecord};
use base64::Engine;
use serde::{Deserialize, Serialize};
use std::path::Path;
use toolhost_core::error::Error;

/// The lock file's name inside the plugins folder.
pub const LOCK_FILE: &str = "toolhost.lock";
/// `signer` of a plugin pulled with `insecure_unsigned = true`.
pub const UNSIGNED: &str = "unsigned";

/// The whole lock file.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Lock {
    /// Format version (1).
    pub version: u32,
    /// One entry per pulled plugin.
    #[serde(default, rename = "plugin")]
    pub plugins: Vec<LockEntry>,
}

/// One pulled plugin.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct LockEntry {
    /// Plugin name (`NAME.wasm`).
    pub name: String,
    /// The reference as configured or asked (tag or digest).
    #[serde(rename = "ref")]
    pub reference: String,
    /// The artifact digest the reference was resolved to.
    pub digest: String,
    /// Digest of `NAME.wasm`.
    pub wasm: String,
    /// Digest of `NAME.toml`, if the artifact has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manifest: Option<String>,
    /// Key fingerprint of the signer, or [`UNSIGNED`].
    pub signer: String,
    /// The signer's public key (PEM).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_key: Option<String>,
    /// The signed simple-signing payload (base64).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload: Option<String>,
    /// The signature (base64).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<String>,
    /// Keyless: the PEM signing certificate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate: Option<String>,
    /// Keyless: the PEM certificate chain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chain: Option<String>,
    /// Keyless: the Rekor bundle JSON.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bundle: Option<String>,
    /// Keyless: the trust root file the signature verified under.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trust_root: Option<String>,
    /// The OCI manifest (base64); its sha256 is `digest`.
    pub oci_manifest: String,
}

impl LockEntry {
    /// The entry recording `p`.
    pub fn of(p: &Pulled) -> LockEntry {
        let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
        let sig = p.signature.clone();
        let kl = sig.as_ref().and_then(|s| s.keyless.clone());
        LockEntry {
            name: p.layout.name.clone(),
            reference: p.reference.to_string(),
            digest: p.digest.clone(),
            wasm: p.layout.wasm.digest.clone(),
            manifest: p.layout.manifest.as_ref().map(|d| d.digest.clone()),
            signer: sig.as_ref().map_or_else(|| UNSIGNED.to_string(), |s| s.signer.clone()),
            public_key: sig.as_ref().and_then(|s| s.public_key.clone()),
            payload: sig.as_ref().map(|s| s.payload.clone()),
            signature: sig.map(|s| s.signature),
            certificate: kl.as_ref().map(|k| k.certificate.clone()),
            chain: kl.as_ref().map(|k| k.chain.clone()),
            bundle: kl.as_ref().map(|k| k.bundle.clone()),
            trust_root: kl.map(|k| k.trust_root),
            oci_manifest: b64(&p.oci_manifest),
        }
    }

    /// The recorded signature, if the plugin was signed.
    pub fn signature_record(&self) -> Option<SignatureRecord> {
        let keyless = match &self.certificate {
            Some(certificate) => Some(KeylessRecord {
                certificate: certificate.clone(),
                chain: self.chain.clone().unwrap_or_default(),
                bundle: self.bundle.clone()?,
                trust_root: self.trust_root.clone()?,
            }),
            None => None,
        };
        if keyless.is_none() && self.public_key.is_none() {
            return None;
        }
        Some(SignatureRecord {
            signer: self.signer.clone(),
            public_key: self.public_key.clone(),
            payload: self.payload.clone()?,
            signature: self.signature.clone()?,
            keyless,
        })
    }
}

impl Lock {
    /// Reads `DIR/toolhost.lock` (an empty lock when there is none).
    pub fn read(dir: &Path) -> Result<Lock, Error> {
        let path = dir.join(LOCK_FILE);
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                toml::from_str(&text).map_err(|e| Error::Configuration(format!("{}: {e}", path.display())))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Lock { version: 1, plugins: vec![] }),
            Err(e) => Err(Error::Configuration(format!("cannot read {}: {e}", path.display()))),
        }
    }

    /// Writes `DIR/toolhost.lock` (temp file, then rename).
    pub fn write(&self, dir: &Path) -> Result<(), Error> {
        let mut text = String::from(
            "# Written by toolhost pull / serve: plugins pulled into this folder. Do not edit.\n",
        );
        text.push_str(
            &toml::to_string(self).map_err(|e| Error::Internal(format!("lock serialization: {e}")))?,
        );
        crate::install::write_atomic(&dir.join(LOCK_FILE), text.as_bytes())
    }

    /// The entry for `reference`, as configured or asked.
    pub fn get(&self, reference: &str) -> Option<&LockEntry> {
        self.plugins.iter().find(|e| e.reference == reference)
    }

    /// The entry that owns plugin `name`.
    pub fn by_name(&self, name: &str) -> Option<&LockEntry> {
        self.plugins.iter().find(|e| e.name == name)
    }

    /// Adds `entry`, replacing any entry of the same reference or name.
    pub fn upsert(&mut self, entry: LockEntry) {
        self.version = 1;
        self.plugins.retain(|e| e.reference != entry.reference && e.name != entry.name);
        self.plugins.push(entry);
        self.plugins.sort_by(|a, b| a.name.cmp(&b.name));
    }
}
