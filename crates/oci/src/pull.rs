//! `toolhost pull`: resolve a tag once, fetch by digest, verify the
//! signature before downloading the layers, check every digest.

use crate::artifact::{self, Layout};
use crate::client::{OCI_MANIFEST, Registry, is_not_found};
use crate::keyless::{self, KeylessTrust};
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
    /// A valid keyless signature (Fulcio certificate + Rekor SET) by this
    /// identity, under this trust root.
    Identity(KeylessTrust),
    /// No signature needed (`insecure_unsigned = true`).
    InsecureUnsigned,
}

/// A verified signature, as the lock records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureRecord {
    /// The signer: a key fingerprint, or `ISSUER=SUBJECT` for keyless.
    pub signer: String,
    /// The signer's public key (PEM; keyed signatures).
    pub public_key: Option<String>,
    /// The simple-signing payload (base64).
    pub payload: String,
    /// The signature (base64).
    pub signature: String,
    /// Certificate, chain, Rekor bundle and trust root (keyless signatures).
    pub keyless: Option<KeylessRecord>,
}

/// What a keyless signature carried, and the trust root it verified under.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeylessRecord {
    /// PEM signing certificate.
    pub certificate: String,
    /// PEM chain ("" when the signature had none).
    pub chain: String,
    /// Rekor bundle JSON.
    pub bundle: String,
    /// The trust root file it verified under.
    pub trust_root: String,
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
        Trust::InsecureUnsigned => None,
        t => Some(find_signature(&reg, r, digest, t).await?),
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

/// The first simple-signing layer of `sha256-<hex>.sig` that verifies for
/// `digest` under `trust`; `UNSIGNED_PLUGIN` when there is none,
/// `SIGNATURE_INVALID` (with every layer's reason) when none verifies.
async fn find_signature(
    reg: &Registry,
    r: &OciRef,
    digest: &str,
    trust: &Trust,
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
        let empty = Default::default();
        let notes = l.annotations.as_ref().unwrap_or(&empty);
        let Some(sig) = notes.get(sign::SIGNATURE_ANNOTATION) else {
            reasons.push("a signature layer has no signature annotation".to_string());
            continue;
        };
        let payload = layer(reg, &sig_ref, l, "signature payload").await?;
        match check_layer(trust, notes, payload, sig, digest) {
            Ok(rec) => return Ok(rec),
            Err(why) => reasons.push(why),
        }
    }
    if reasons.is_empty() {
        return Err(Error::UnsignedPlugin { reference: shown });
    }
    Err(Error::SignatureInvalid { reference: shown, reason: reasons.join("; ") })
}

/// Checks one signature layer (annotations `notes`, bytes `payload`).
fn check_layer(
    trust: &Trust,
    notes: &std::collections::BTreeMap<String, String>,
    payload: Vec<u8>,
    sig: &str,
    digest: &str,
) -> Result<SignatureRecord, String> {
    let b64 = base64::engine::general_purpose::STANDARD.encode(&payload);
    match trust {
        Trust::Key(key) => {
            key.verify(&payload, sig, digest)?;
            let (signer, public_key) = (key.fingerprint.clone(), Some(key.pem.clone()));
            Ok(SignatureRecord {
                signer,
                public_key,
                payload: b64,
                signature: sig.to_string(),
                keyless: None,
            })
        }
        Trust::Identity(k) => {
            let ev = keyless_evidence(notes, payload, sig)?;
            keyless::verify(&ev, k, digest)?;
            let rec = KeylessRecord {
                certificate: ev.certificate,
                chain: ev.chain,
                bundle: ev.bundle,
                trust_root: k.root.path.display().to_string(),
            };
            let signature = sig.to_string();
            Ok(SignatureRecord {
                signer: k.identity(),
                public_key: None,
                payload: b64,
                signature,
                keyless: Some(rec),
            })
        }
        Trust::InsecureUnsigned => Err("no signature required".into()),
    }
}

fn keyless_evidence(
    notes: &std::collections::BTreeMap<String, String>,
    payload: Vec<u8>,
    sig: &str,
) -> Result<keyless::Evidence, String> {
    let get = |k: &str| notes.get(k).cloned();
    let (Some(certificate), Some(bundle)) = (get(keyless::CERTIFICATE), get(keyless::BUNDLE)) else {
        return Err(format!(
            "a keyless signature needs the {} and {} annotations (this one is keyed or incomplete)",
            keyless::CERTIFICATE,
            keyless::BUNDLE
        ));
    };
    let chain = get(keyless::CHAIN).unwrap_or_default();
    Ok(keyless::Evidence { payload, signature: sig.to_string(), certificate, chain, bundle })
}
