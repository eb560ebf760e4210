//! `toolhost pull`: resolve a tag once, fetch by digest, verify the
//! signature before downloading the layers, check every digest.

use crate::artifact::{self, Layout};
use crate::client::{OCI_MANIFEST, Registry, is_not_found};
use crate::reference::OciRef;
use crate::sign::{self, VerifyKey};
use base64::Engine;
use oci_client::manifest::{OciDescriptor, OciImageManifest};
use toolhost_core::error::Error;

/// Largest layer toolhost downloads (the runtime's own plugin cap is lower).
const MAX_LAYER_BYTES: i64 = 256 << 20;

/// What a pulled plugin must satisfy.
#[derive(Debug, Clone)]
pub enum Trust {
    /// A valid signature by this key.
    Key(VerifyKey),
    /// A keyless (Fulcio certificate) signature of `subject` issued by
    /// `issuer`: not supported yet, refused with `SIGNATURE_INVALID`.
    Identity {
        /// OIDC issuer URL.
        issuer: String,
        /// Certificate subject (email or URI).
        subject: String,
    },
    /// No signature needed (`insecure_unsigned = true`).
    InsecureUnsigned,
}

impl Trust {
    /// Parses `ISSUER=SUBJECT` of `--identity` / `identity`.
    pub fn identity(spec: &str) -> Result<Trust, Error> {
        match spec.split_once('=') {
            Some((i, s)) if !i.is_empty() && !s.is_empty() => {
                Ok(Trust::Identity { issuer: i.to_string(), subject: s.to_string() })
            }
            _ => Err(Error::Configuration(format!("identity {spec:?}: expected ISSUER=SUBJECT"))),
        }
    }
}

/// The refusal of keyless verification, until it is implemented.
pub fn keyless_unsupported(reference: &str) -> Error {
    Error::SignatureInvalid {
        reference: reference.to_string(),
        reason: "keyless verification (identity ISSUER=SUBJECT) is not supported yet: it needs Fulcio \
                 certificates, a Rekor inclusion proof and an offline trust root; sign with a key and use \
                 verify_key / --verify-key"
            .to_string(),
    }
}

/// A verified signature, as the lock records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureRecord {
    /// The signer's key fingerprint.
    pub signer: String,
    /// The signer's public key (PEM).
    pub public_key: String,
    /// The simple-signing payload (base64).
    pub payload: String,
    /// The signature (base64).
    pub signature: String,
}

/// A pulled and verified plugin.
#[derive(Debug, Clone)]
pub struct Pulled {
    /// The reference as asked (tag or digest).
    pub reference: OciRef,
    /// The artifact's manifest digest.
    pub digest: String,
    /// The serialized OCI manifest (its sha256 is `digest`).
    pub oci_manifest: Vec<u8>,
    /// Name and layer descriptors.
    pub layout: Layout,
    /// The component.
    pub wasm: Vec<u8>,
    /// The plugin manifest (`NAME.toml`), if the artifact has one.
    pub manifest: Option<Vec<u8>>,
    /// The verified signature (`None` only for `insecure_unsigned`).
    pub signature: Option<SignatureRecord>,
}

/// The digest `r` names: its own, or what its tag points to now.
pub async fn resolve(r: &OciRef) -> Result<String, Error> {
    if let Some(d) = &r.digest {
        return Ok(d.clone());
    }
    let reg = Registry::for_ref(r);
    let d = reg
        .client
        .fetch_manifest_digest(&r.client_ref(), &reg.auth)
        .await
        .map_err(|e| reg.error(r, "tag", e))?;
    if !crate::reference::valid_digest(&d) {
        return Err(Error::PluginLoad {
            path: r.to_string().into(),
            reason: format!("registry returned digest {d:?}"),
        });
    }
    Ok(d)
}

/// Fetches the artifact `digest` of `r`'s repository and checks it against
/// `trust`, then downloads and checks the layers.
pub async fn fetch(r: &OciRef, digest: &str, trust: &Trust) -> Result<Pulled, Error> {
    let shown = r.with_digest(digest).to_string();
    if matches!(trust, Trust::Identity { .. }) {
        return Err(keyless_unsupported(&shown));
    }
    let reg = Registry::for_ref(r);
    let pinned = r.with_digest(digest);
    let oci_manifest = manifest_bytes(&reg, &pinned, "manifest").await?.to_vec();
    let found = crate::digest::sha256_digest(&oci_manifest);
    if found != digest {
        let what = "manifest".to_string();
        return Err(Error::DigestMismatch { reference: shown, what, expected: digest.to_string(), found });
    }
    let layout = artifact::layout(&shown, &oci_manifest)?;
    let signature = match trust {
        Trust::Key(k) => Some(find_signature(&reg, r, digest, k).await?),
        _ => None,
    };
    let wasm = layer(&reg, &pinned, &layout.wasm, "wasm layer").await?;
    let manifest = match &layout.manifest {
        Some(d) => Some(layer(&reg, &pinned, d, "manifest layer").await?),
        None => None,
    };
    Ok(Pulled {
        reference: r.clone(),
        digest: digest.to_string(),
        oci_manifest,
        layout,
        wasm,
        manifest,
        signature,
    })
}

async fn manifest_bytes(reg: &Registry, r: &OciRef, what: &str) -> Result<bytes::Bytes, Error> {
    let accepted = [OCI_MANIFEST];
    let (bytes, _) = reg
        .client
        .pull_manifest_raw(&r.client_ref(), &reg.auth, &accepted)
        .await
        .map_err(|e| reg.error(r, what, e))?;
    Ok(bytes)
}

/// Downloads one blob; `oci-client` and this function both check its digest.
async fn layer(reg: &Registry, r: &OciRef, d: &OciDescriptor, what: &str) -> Result<Vec<u8>, Error> {
    if d.size > MAX_LAYER_BYTES || d.size < 0 {
        let reason = format!("{what} of {} bytes is over the {MAX_LAYER_BYTES}-byte cap", d.size);
        return Err(Error::PluginLoad { path: r.to_string().into(), reason });
    }
    let mut out = Vec::with_capacity(d.size as usize);
    reg.client.pull_blob(&r.client_ref(), d, &mut out).await.map_err(|e| reg.error(r, what, e))?;
    let found = crate::digest::sha256_digest(&out);
    if found != d.digest {
        let (reference, what) = (r.to_string(), what.to_string());
        return Err(Error::DigestMismatch { reference, what, expected: d.digest.clone(), found });
    }
    Ok(out)
}

/// The first simple-signing layer of `sha256-<hex>.sig` that `key` verifies
/// for `digest`; `UNSIGNED_PLUGIN` when there is none, `SIGNATURE_INVALID`
/// when there are signatures but none verifies.
async fn find_signature(
    reg: &Registry,
    r: &OciRef,
    digest: &str,
    key: &VerifyKey,
) -> Result<SignatureRecord, Error> {
    let shown = r.with_digest(digest).to_string();
    let sig_ref = r.signature_ref(digest);
    let accepted = [OCI_MANIFEST];
    let bytes = match reg.client.pull_manifest_raw(&sig_ref.client_ref(), &reg.auth, &accepted).await {
        Ok((b, _)) => b,
        Err(e) if is_not_found(&e) => return Err(Error::UnsignedPlugin { reference: shown }),
        Err(e) => return Err(reg.error(&sig_ref, "signature", e)),
    };
    let m: OciImageManifest = serde_json::from_slice(&bytes).map_err(|e| Error::SignatureInvalid {
        reference: shown.clone(),
        reason: format!("bad signature manifest: {e}"),
    })?;
    let mut reasons = vec![];
    for l in m.layers.iter().filter(|l| l.media_type == sign::SIMPLE_SIGNING_MEDIA_TYPE) {
        let Some(sig) = l.annotations.as_ref().and_then(|a| a.get(sign::SIGNATURE_ANNOTATION)) else {
            reasons.push("a signature layer has no signature annotation".to_string());
            continue;
        };
        let payload = layer(reg, &sig_ref, l, "signature payload").await?;
        match key.verify(&payload, sig, digest) {
            Ok(()) => {
                let b64 = base64::engine::general_purpose::STANDARD.encode(&payload);
                let (signer, public_key) = (key.fingerprint.clone(), key.pem.clone());
                return Ok(SignatureRecord { signer, public_key, payload: b64, signature: sig.clone() });
            }
            Err(why) => reasons.push(why),
        }
    }
    if reasons.is_empty() {
        return Err(Error::UnsignedPlugin { reference: shown });
    }
    Err(Error::SignatureInvalid { reference: shown, reason: reasons.join("; ") })
}
