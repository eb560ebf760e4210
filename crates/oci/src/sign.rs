//! Keys and cosign "simple signing" signatures: ECDSA P-256 over SHA-256,
//! DER-encoded, base64 in the `dev.cosignproject.cosign/signature`
//! annotation, exactly what `cosign sign --key` writes and `cosign verify
//! --key` checks. Private keys are PKCS#8 PEM, public keys SPKI PEM.
//!
//! The primitives are RustCrypto's `p256`/`ecdsa` (no crypto of our own).
//! The `sigstore` crate was the first choice, but 0.15 refuses to build
//! without a TLS crypto backend (`native-tls` = OpenSSL or `rustls-tls` =
//! aws-lc), which this workspace keeps out; its keyed scheme is the same one.

use base64::Engine;
use p256::ecdsa::signature::{Signer, Verifier};
use p256::ecdsa::{DerSignature, SigningKey as EcKey, VerifyingKey};
use p256::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey, LineEnding};
use serde::{Deserialize, Serialize};
use std::path::Path;
use toolhost_core::error::Error;

/// cosign's signature layer media type.
pub const SIMPLE_SIGNING_MEDIA_TYPE: &str = "application/vnd.dev.cosign.simplesigning.v1+json";
/// The layer annotation holding the base64 signature.
pub const SIGNATURE_ANNOTATION: &str = "dev.cosignproject.cosign/signature";
/// `critical.type` of a cosign image signature.
pub const CRITICAL_TYPE: &str = "cosign container image signature";

fn config_err(what: &str, e: impl std::fmt::Display) -> Error {
    Error::Configuration(format!("{what}: {e}"))
}

/// A new key pair: `(private PKCS#8 PEM, public SPKI PEM)`.
pub fn generate() -> Result<(String, String), Error> {
    let key = EcKey::random(&mut rand_core::OsRng);
    let private = key.to_pkcs8_pem(LineEnding::LF).map_err(|e| config_err("cannot export the key", e))?;
    let public = key
        .verifying_key()
        .to_public_key_pem(LineEnding::LF)
        .map_err(|e| config_err("cannot export the key", e))?;
    Ok((private.to_string(), public))
}

/// A private key that signs.
pub struct SigningKey {
    key: EcKey,
    public: VerifyKey,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey").field("public", &self.public.fingerprint).finish_non_exhaustive()
    }
}

impl SigningKey {
    /// Reads a PKCS#8 PEM ECDSA P-256 private key.
    pub fn from_file(path: &Path) -> Result<SigningKey, Error> {
        let what = format!("signing key {}", path.display());
        let pem = std::fs::read_to_string(path).map_err(|e| config_err(&what, e))?;
        let key = EcKey::from_pkcs8_pem(&pem)
            .map_err(|e| config_err(&what, format!("not a PKCS#8 PEM ECDSA P-256 private key ({e})")))?;
        let public = VerifyKey::from_key(*key.verifying_key(), &what)?;
        Ok(SigningKey { key, public })
    }

    /// Base64 DER signature of `payload`.
    pub fn sign(&self, payload: &[u8]) -> Result<String, Error> {
        let sig: DerSignature = self.key.sign(payload);
        Ok(base64::engine::general_purpose::STANDARD.encode(sig.as_bytes()))
    }

    /// The matching public key.
    pub fn public(&self) -> &VerifyKey {
        &self.public
    }
}

/// A trusted public key.
#[derive(Clone)]
pub struct VerifyKey {
    key: VerifyingKey,
    /// The PEM text.
    pub pem: String,
    /// `sha256:<hex>` of the DER public key: how the lock names the signer.
    pub fingerprint: String,
}

impl std::fmt::Debug for VerifyKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifyKey").field("fingerprint", &self.fingerprint).finish()
    }
}

impl VerifyKey {
    fn from_key(key: VerifyingKey, what: &str) -> Result<VerifyKey, Error> {
        let der = key.to_public_key_der().map_err(|e| config_err(what, e))?;
        let pem = key.to_public_key_pem(LineEnding::LF).map_err(|e| config_err(what, e))?;
        Ok(VerifyKey { key, pem, fingerprint: crate::digest::sha256_digest(der.as_bytes()) })
    }

    /// Reads a PEM public key (`what` names it in errors).
    pub fn from_pem(pem: &str, what: &str) -> Result<VerifyKey, Error> {
        let key = VerifyingKey::from_public_key_pem(pem.trim())
            .map_err(|e| config_err(what, format!("not a PEM ECDSA P-256 public key ({e})")))?;
        VerifyKey::from_key(key, what)
    }

    /// Reads a PEM public key file.
    pub fn from_file(path: &Path) -> Result<VerifyKey, Error> {
        let what = format!("verify key {}", path.display());
        let pem = std::fs::read_to_string(path).map_err(|e| config_err(&what, e))?;
        VerifyKey::from_pem(&pem, &what)
    }

    /// Checks a base64 DER `signature` of `payload`, and that the payload is
    /// a simple-signing document for `digest`. The error says why not.
    pub fn verify(&self, payload: &[u8], signature: &str, digest: &str) -> Result<(), String> {
        let bad = || format!("the signature does not verify with key {}", self.fingerprint);
        let raw = base64::engine::general_purpose::STANDARD.decode(signature.trim()).map_err(|_| bad())?;
        let sig = DerSignature::try_from(raw.as_slice()).map_err(|_| bad())?;
        self.key.verify(payload, &sig).map_err(|_| bad())?;
        check_payload(payload, digest)
    }
}

/// Checks that a (verified) payload is a simple-signing document for
/// `digest`. The error says why not.
pub fn check_payload(payload: &[u8], digest: &str) -> Result<(), String> {
    let doc: SimpleSigning = serde_json::from_slice(payload)
        .map_err(|e| format!("the signed payload is not simple signing: {e}"))?;
    if doc.critical.type_name != CRITICAL_TYPE {
        return Err(format!("the signed payload's type is {:?}", doc.critical.type_name));
    }
    if doc.critical.image.docker_manifest_digest != digest {
        return Err(format!(
            "the signature is for {}, not {digest}",
            doc.critical.image.docker_manifest_digest
        ));
    }
    Ok(())
}

/// cosign's simple-signing payload.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SimpleSigning {
    /// What is signed.
    pub critical: Critical,
    /// Free-form claims (toolhost writes none).
    pub optional: Option<serde_json::Value>,
}

/// `critical` of a simple-signing payload.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Critical {
    /// The repository signed for.
    pub identity: Identity,
    /// The manifest digest signed.
    pub image: Image,
    /// [`CRITICAL_TYPE`].
    #[serde(rename = "type")]
    pub type_name: String,
}

/// `critical.identity`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Identity {
    /// `registry/repository`.
    pub docker_reference: String,
}

/// `critical.image`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Image {
    /// `sha256:<hex>` of the OCI manifest.
    pub docker_manifest_digest: String,
}

/// cosign's simple-signing payload for the artifact `digest` of
/// `docker_reference` (`registry/repository`).
pub fn payload(docker_reference: &str, digest: &str) -> Vec<u8> {
    let doc = SimpleSigning {
        critical: Critical {
            identity: Identity { docker_reference: docker_reference.to_string() },
            image: Image { docker_manifest_digest: digest.to_string() },
            type_name: CRITICAL_TYPE.to_string(),
        },
        optional: None,
    };
    serde_json::to_vec(&doc).expect("payload serializes")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> (SigningKey, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let (private, _) = generate().unwrap();
        assert!(private.starts_with("-----BEGIN PRIVATE KEY-----"), "{private}");
        std::fs::write(dir.path().join("k"), private).unwrap();
        (SigningKey::from_file(&dir.path().join("k")).unwrap(), dir)
    }

    #[test]
    fn signs_and_verifies_and_refuses_others() {
        let (k, _d) = key();
        let (other, _d2) = key();
        let digest = format!("sha256:{}", "b".repeat(64));
        let p = payload("127.0.0.1:5000/plugins/text", &digest);
        let sig = k.sign(&p).unwrap();
        k.public().verify(&p, &sig, &digest).unwrap();
        assert!(other.public().verify(&p, &sig, &digest).unwrap_err().contains("does not verify"));
        let elsewhere = format!("sha256:{}", "c".repeat(64));
        assert!(k.public().verify(&p, &sig, &elsewhere).unwrap_err().contains("not sha256:ccc"));
        let doc: serde_json::Value = serde_json::from_slice(&p).unwrap();
        assert_eq!(doc["critical"]["type"], "cosign container image signature");
        assert_eq!(doc["critical"]["image"]["docker-manifest-digest"], digest.as_str());
        assert_eq!(doc["critical"]["identity"]["docker-reference"], "127.0.0.1:5000/plugins/text");
        assert_eq!(doc["optional"], serde_json::Value::Null);
        let again = VerifyKey::from_pem(&k.public().pem, "pem").unwrap();
        assert_eq!(again.fingerprint, k.public().fingerprint);
    }
}
