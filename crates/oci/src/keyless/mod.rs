//! Keyless (Sigstore) signatures: cosign's `sha256-<hex>.sig` simple-signing
//! layer signed by a short-lived Fulcio certificate and logged in Rekor,
//! verified offline against a pinned identity and a local trust root.
//!
//! The layer carries the annotations [`SIGNATURE`] (base64 DER ECDSA of the
//! payload), [`CERTIFICATE`] (PEM leaf), [`CHAIN`] (PEM intermediates/root)
//! and [`BUNDLE`] (Rekor SET JSON). [`verify`] checks, in order, and says
//! which check failed:
//! 1. the SET verifies under a Rekor key of the trust root (by `logID`);
//! 2. the logged entry is this signature, certificate and payload hash;
//! 3. the certificate chains to a Fulcio CA of the trust root, every
//!    certificate (and the CA's `validFor`) valid at the SET's integrated time;
//! 4. the signature over the payload verifies with the certificate's key;
//! 5. the payload is simple signing for the artifact digest;
//! 6. the certificate's SAN (email or URI) is the pinned subject and its OIDC
//!    issuer extension(s) the pinned issuer.
//!
//! Not checked (cosign checks them online or by default): the certificate's
//! embedded SCT (Certificate Transparency), Rekor inclusion proofs (the SET
//! is the log's signed promise), revocation. The primitives are RustCrypto's
//! `x509-cert`, `p256`, `p384`; see the README for why not the `sigstore` crate.

pub mod cert;
pub mod rekor;
pub mod trust_root;

pub use trust_root::TrustRoot;

use std::path::Path;
use toolhost_core::error::Error;
use x509_cert::Certificate;
use x509_cert::der::{Decode, Encode};

/// Layer annotation: the PEM signing certificate.
pub const CERTIFICATE: &str = "dev.sigstore.cosign/certificate";
/// Layer annotation: the PEM chain (intermediates, root).
pub const CHAIN: &str = "dev.sigstore.cosign/chain";
/// Layer annotation: the Rekor bundle (SET) JSON.
pub const BUNDLE: &str = "dev.sigstore.cosign/bundle";
/// Layer annotation: the base64 signature (as for keyed signatures).
pub const SIGNATURE: &str = crate::sign::SIGNATURE_ANNOTATION;

/// A pinned keyless signer and the trust root its certificates chain to.
#[derive(Debug, Clone)]
pub struct KeylessTrust {
    /// OIDC issuer URL.
    pub issuer: String,
    /// Certificate subject (SAN email or URI).
    pub subject: String,
    /// Fulcio CAs and Rekor keys.
    pub root: TrustRoot,
}

impl KeylessTrust {
    /// `ISSUER=SUBJECT` trusted under the trust root file `root`.
    pub fn new(identity: &str, root: &Path) -> Result<KeylessTrust, Error> {
        let (issuer, subject) = parse_identity(identity)?;
        Ok(KeylessTrust { issuer, subject, root: TrustRoot::from_file(root)? })
    }

    /// `ISSUER=SUBJECT`, as the lock records the signer.
    pub fn identity(&self) -> String {
        format!("{}={}", self.issuer, self.subject)
    }
}

/// Splits `ISSUER=SUBJECT` (at the first `=`).
pub fn parse_identity(spec: &str) -> Result<(String, String), Error> {
    match spec.split_once('=') {
        Some((i, s)) if !i.is_empty() && !s.is_empty() => Ok((i.to_string(), s.to_string())),
        _ => Err(Error::Configuration(format!("identity {spec:?}: expected ISSUER=SUBJECT"))),
    }
}

/// What a keyless signature layer carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Evidence {
    /// The simple-signing payload (the layer's bytes).
    pub payload: Vec<u8>,
    /// base64 DER ECDSA signature.
    pub signature: String,
    /// PEM signing certificate.
    pub certificate: String,
    /// PEM chain ("" when absent).
    pub chain: String,
    /// Rekor bundle JSON.
    pub bundle: String,
}

fn pem_cert(pem: &str, what: &str) -> Result<Certificate, String> {
    let (_, der) = x509_cert::der::pem::decode_vec(pem.trim().as_bytes())
        .map_err(|e| format!("the {what} is not PEM: {e}"))?;
    Certificate::from_der(&der).map_err(|e| format!("the {what} is not an X.509 certificate: {e}"))
}

/// Runs every check of the module docs; `Ok` names the Fulcio CA.
pub fn verify(ev: &Evidence, trust: &KeylessTrust, digest: &str) -> Result<String, String> {
    use base64::Engine;
    let leaf = pem_cert(&ev.certificate, "signing certificate")?;
    let leaf_der = leaf.to_der().map_err(|e| e.to_string())?;
    let chain = if ev.chain.trim().is_empty() {
        vec![]
    } else {
        Certificate::load_pem_chain(ev.chain.as_bytes()).map_err(|e| format!("the certificate chain: {e}"))?
    };
    let signature = base64::engine::general_purpose::STANDARD
        .decode(ev.signature.trim())
        .map_err(|_| "the signature is not base64".to_string())?;
    let bundle = rekor::parse(&ev.bundle)?;
    rekor::check_set(&bundle, &trust.root)?;
    rekor::check_body(&bundle, &ev.payload, &signature, &leaf_der)?;
    let ca = cert::check_chain(&leaf, &chain, &trust.root, bundle.payload.integrated_time)?;
    let spki = leaf.tbs_certificate.subject_public_key_info.to_der().map_err(|e| e.to_string())?;
    let sha256 = x509_cert::der::asn1::ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.2");
    cert::verify_ecdsa(&spki, &sha256, &ev.payload, &signature)
        .map_err(|e| format!("the signature does not verify with the certificate's key ({e})"))?;
    crate::sign::check_payload(&ev.payload, digest)?;
    cert::check_identity(&leaf, &trust.issuer, &trust.subject)?;
    Ok(ca)
}

#[cfg(test)]
mod tests;
