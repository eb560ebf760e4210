//! `toolhost verify`: re-check a plugins folder against its lock, offline:
//! the locked OCI manifest hashes to the locked digest and lists the locked
//! layers, `NAME.wasm`/`NAME.toml` hash to those layers, and the recorded
//! signature verifies for the digest (with the recorded key, or a required one).

use crate::keyless::{self, KeylessTrust, TrustRoot};
use crate::lock::{LockEntry, UNSIGNED};
use crate::pull::SignatureRecord;
use crate::sign::VerifyKey;
use base64::Engine;
use std::path::Path;
use toolhost_core::error::Error;

/// What a locked plugin must satisfy beyond its own record.
#[derive(Debug, Clone, Copy)]
pub enum Require<'a> {
    /// The recorded signer (or an unsigned record) is accepted.
    Recorded,
    /// A signature by exactly this key.
    Key(&'a VerifyKey),
    /// A keyless signature by exactly this identity, under its trust root.
    Identity(&'a KeylessTrust),
    /// The recorded signer, keyless ones checked under this trust root
    /// instead of the recorded trust root file.
    Root(&'a TrustRoot),
    /// Any signature: an unsigned record is refused.
    Signed,
}

fn mismatch(e: &LockEntry, what: &str, expected: &str, found: String) -> Error {
    let (reference, what, expected) = (e.reference.clone(), what.to_string(), expected.to_string());
    Error::DigestMismatch { reference, what, expected, found }
}

/// Checks one locked plugin's files and signature in `dir`.
pub fn verify_entry(dir: &Path, e: &LockEntry, require: Require<'_>) -> Result<(), Error> {
    let path = dir.join(format!("{}.wasm", e.name));
    let wasm = std::fs::read(&path)
        .map_err(|x| Error::PluginLoad { path, reason: format!("locked file unreadable: {x}") })?;
    verify_loaded(dir, e, &wasm, require)
}

/// As [`verify_entry`], with the component bytes already read (the bytes a
/// loader is about to compile).
pub fn verify_loaded(dir: &Path, e: &LockEntry, wasm: &[u8], require: Require<'_>) -> Result<(), Error> {
    let bad_sig = |reason: String| Error::SignatureInvalid { reference: e.reference.clone(), reason };
    let oci = base64::engine::general_purpose::STANDARD
        .decode(&e.oci_manifest)
        .map_err(|x| bad_sig(format!("the lock's OCI manifest is not base64: {x}")))?;
    let found = crate::digest::sha256_digest(&oci);
    if found != e.digest {
        return Err(mismatch(e, "locked OCI manifest", &e.digest, found));
    }
    let layout = crate::artifact::layout(&e.reference, &oci)?;
    if layout.wasm.digest != e.wasm || layout.manifest.as_ref().map(|d| &d.digest) != e.manifest.as_ref() {
        return Err(mismatch(e, "lock entry's layer digests", &layout.wasm.digest, e.wasm.clone()));
    }
    let found = crate::digest::sha256_digest(wasm);
    if found != e.wasm {
        return Err(mismatch(e, &format!("{}.wasm", e.name), &e.wasm, found));
    }
    check_file(dir, e, "toml", e.manifest.as_deref())?;
    check_signature(e, require)
}

fn check_file(dir: &Path, e: &LockEntry, ext: &str, want: Option<&str>) -> Result<(), Error> {
    let path = dir.join(format!("{}.{ext}", e.name));
    let file = path.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_string();
    match (std::fs::read(&path), want) {
        (Ok(bytes), Some(w)) => {
            let found = crate::digest::sha256_digest(&bytes);
            if found != w { Err(mismatch(e, &file, w, found)) } else { Ok(()) }
        }
        (Ok(bytes), None) => Err(mismatch(e, &file, "no such file", crate::digest::sha256_digest(&bytes))),
        (Err(x), Some(_)) => Err(Error::PluginLoad { path, reason: format!("locked file unreadable: {x}") }),
        (Err(_), None) => Ok(()),
    }
}

fn check_signature(e: &LockEntry, require: Require<'_>) -> Result<(), Error> {
    let bad_sig = |reason: String| Error::SignatureInvalid { reference: e.reference.clone(), reason };
    if e.signer == UNSIGNED {
        return match require {
            Require::Recorded | Require::Root(_) => Ok(()),
            _ => Err(Error::UnsignedPlugin { reference: e.reference.clone() }),
        };
    }
    let rec = e.signature_record().ok_or_else(|| bad_sig("the lock entry lacks its signature".into()))?;
    let payload = base64::engine::general_purpose::STANDARD
        .decode(&rec.payload)
        .map_err(|x| bad_sig(format!("the lock's payload is not base64: {x}")))?;
    if rec.keyless.is_some() {
        return check_keyless(e, &rec, payload, require).map_err(bad_sig);
    }
    let pem = rec.public_key.as_deref().unwrap_or_default();
    let key = VerifyKey::from_pem(pem, "the lock's public key").map_err(|x| bad_sig(x.to_string()))?;
    if key.fingerprint != rec.signer {
        return Err(bad_sig(format!(
            "the lock's key is {}, not the recorded signer {}",
            key.fingerprint, rec.signer
        )));
    }
    match require {
        Require::Key(k) if k.fingerprint != key.fingerprint => {
            return Err(bad_sig(format!(
                "signed by {}, not by the trusted key {}",
                key.fingerprint, k.fingerprint
            )));
        }
        Require::Identity(t) => {
            return Err(bad_sig(format!(
                "signed by key {}, not keyless by {}",
                key.fingerprint,
                t.identity()
            )));
        }
        _ => {}
    }
    key.verify(&payload, &rec.signature, &e.digest).map_err(bad_sig)
}

/// Re-runs every keyless check on the recorded evidence.
fn check_keyless(
    e: &LockEntry,
    rec: &SignatureRecord,
    payload: Vec<u8>,
    require: Require<'_>,
) -> Result<(), String> {
    let kl = rec.keyless.as_ref().expect("keyless record");
    let loaded;
    let trust = match require {
        Require::Identity(t) => t,
        Require::Key(k) => {
            return Err(format!(
                "signed keyless by {}, not by the trusted key {}",
                rec.signer, k.fingerprint
            ));
        }
        Require::Root(root) => {
            let (issuer, subject) = keyless::parse_identity(&rec.signer).map_err(|x| x.to_string())?;
            loaded = KeylessTrust { issuer, subject, root: root.clone() };
            &loaded
        }
        Require::Recorded | Require::Signed => {
            loaded = KeylessTrust::new(&rec.signer, std::path::Path::new(&kl.trust_root))
                .map_err(|x| x.to_string())?;
            &loaded
        }
    };
    let ev = keyless::Evidence {
        payload,
        signature: rec.signature.clone(),
        certificate: kl.certificate.clone(),
        chain: kl.chain.clone(),
        bundle: kl.bundle.clone(),
    };
    keyless::verify(&ev, trust, &e.digest).map(|_| ())
}

/// One locked plugin and its verdict.
pub type Checked = (LockEntry, Result<(), Error>);

/// Verifies every plugin locked in `dir` against `require`: one verdict per
/// lock entry (none when `dir` has no lock).
pub fn verify_dir(dir: &Path, require: Require<'_>) -> Result<Vec<Checked>, Error> {
    let lock = crate::lock::Lock::read(dir)?;
    Ok(lock
        .plugins
        .into_iter()
        .map(|e| {
            let r = verify_entry(dir, &e, require);
            (e, r)
        })
        .collect())
}
