//! Fulcio certificate checks: the signing certificate chains to a CA of the
//! trust root (each certificate valid at the Rekor integrated time), it is a
//! code-signing leaf, and its identity (SAN email or URI, OIDC issuer
//! extension) is the pinned one. Signatures by RustCrypto `p256`/`p384`.

use super::trust_root::{FulcioCa, TrustRoot};
use x509_cert::Certificate;
use x509_cert::der::asn1::{ObjectIdentifier, Utf8StringRef};
use x509_cert::der::{Decode, Encode};
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::pkix::{BasicConstraints, ExtendedKeyUsage, SubjectAltName};

/// Fulcio's OIDC issuer extension, v1 (raw UTF-8 bytes as the value).
pub const ISSUER_V1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.57264.1.1");
/// Fulcio's OIDC issuer extension, v2 (a DER UTF8String).
pub const ISSUER_V2: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.57264.1.8");
const CODE_SIGNING: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.3.3");
const ECDSA_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.2");
const ECDSA_SHA384: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.3");
/// Longest chain of untrusted intermediates followed.
const MAX_DEPTH: usize = 4;

/// `[not_before, not_after]` of `c` in Unix seconds.
pub fn validity(c: &Certificate) -> (i64, i64) {
    let v = &c.tbs_certificate.validity;
    (v.not_before.to_unix_duration().as_secs() as i64, v.not_after.to_unix_duration().as_secs() as i64)
}

fn valid_at(c: &Certificate, t: i64) -> bool {
    let (a, b) = validity(c);
    a <= t && t <= b
}

/// Verifies `signature` (DER ECDSA) of `msg` by the SubjectPublicKeyInfo
/// `spki_der` (P-256 or P-384), hashing with `alg` (ecdsa-with-SHA256/384).
pub fn verify_ecdsa(
    spki_der: &[u8],
    alg: &ObjectIdentifier,
    msg: &[u8],
    signature: &[u8],
) -> Result<(), String> {
    use p256::ecdsa::signature::Verifier;
    use p256::pkcs8::DecodePublicKey;
    if *alg == ECDSA_SHA256 {
        let key = p256::ecdsa::VerifyingKey::from_public_key_der(spki_der)
            .map_err(|_| "ecdsa-with-SHA256 needs a P-256 key".to_string())?;
        let sig = p256::ecdsa::DerSignature::try_from(signature).map_err(|e| e.to_string())?;
        return key.verify(msg, &sig).map_err(|_| "bad signature".to_string());
    }
    if *alg == ECDSA_SHA384 {
        let key = p384::ecdsa::VerifyingKey::from_public_key_der(spki_der)
            .map_err(|_| "ecdsa-with-SHA384 needs a P-384 key".to_string())?;
        let sig = p384::ecdsa::DerSignature::try_from(signature).map_err(|e| e.to_string())?;
        return key.verify(msg, &sig).map_err(|_| "bad signature".to_string());
    }
    Err(format!("unsupported signature algorithm {alg} (ECDSA with SHA-256 or SHA-384 only)"))
}

/// Whether `issuer` signed `c` (names match, `issuer` is a CA, signature).
fn issued_by(c: &Certificate, issuer: &Certificate) -> bool {
    if c.tbs_certificate.issuer != issuer.tbs_certificate.subject || !is_ca(issuer) {
        return false;
    }
    let (Ok(tbs), Ok(spki)) =
        (c.tbs_certificate.to_der(), issuer.tbs_certificate.subject_public_key_info.to_der())
    else {
        return false;
    };
    let Some(sig) = c.signature.as_bytes() else { return false };
    verify_ecdsa(&spki, &c.signature_algorithm.oid, &tbs, sig).is_ok()
}

fn is_ca(c: &Certificate) -> bool {
    matches!(c.tbs_certificate.get::<BasicConstraints>(), Ok(Some((_, b))) if b.ca)
}

/// Checks that `leaf` chains, through `chain` (untrusted intermediates from
/// the signature) if needed, to a CA of `root`, every certificate valid at
/// `at`. Returns the CA's name.
pub fn check_chain(
    leaf: &Certificate,
    chain: &[Certificate],
    root: &TrustRoot,
    at: i64,
) -> Result<String, String> {
    if !valid_at(leaf, at) {
        let (a, b) = validity(leaf);
        return Err(format!(
            "the signing certificate was not valid at the Rekor integrated time {at} (valid {a}..{b})"
        ));
    }
    if is_ca(leaf) {
        return Err("the signing certificate is a CA certificate".into());
    }
    match leaf.tbs_certificate.get::<ExtendedKeyUsage>() {
        Ok(Some((_, eku))) if eku.0.contains(&CODE_SIGNING) => {}
        _ => return Err("the signing certificate is not for code signing (extended key usage)".into()),
    }
    let mut problem = None;
    for ca in &root.cas {
        match chain_to(leaf, chain, ca, at) {
            Ok(()) => return Ok(ca.name.clone()),
            Err(Some(why)) => problem = problem.or(Some(why)),
            Err(None) => {}
        }
    }
    Err(problem.unwrap_or_else(|| {
        format!(
            "the signing certificate does not chain to a Fulcio CA of the trust root {}",
            root.path.display()
        )
    }))
}

/// `Ok` when `leaf` reaches a certificate of `ca`; `Err(Some)` when it does
/// but a validity check fails; `Err(None)` when it does not reach `ca`.
fn chain_to(leaf: &Certificate, chain: &[Certificate], ca: &FulcioCa, at: i64) -> Result<(), Option<String>> {
    let mut current = leaf;
    for _ in 0..=MAX_DEPTH {
        if let Some(anchor) = ca.certs.iter().find(|a| issued_by(current, a)) {
            if !ca.valid.contains(at) || !valid_at(anchor, at) {
                return Err(Some(format!(
                    "the Fulcio CA {} was not valid at the Rekor integrated time {at}",
                    ca.name
                )));
            }
            return Ok(());
        }
        let Some(next) = chain.iter().find(|c| issued_by(current, c)) else { return Err(None) };
        if !valid_at(next, at) {
            return Err(Some(format!(
                "an intermediate certificate was not valid at the Rekor integrated time {at}"
            )));
        }
        current = next;
    }
    Err(None)
}

/// The SAN email addresses and URIs of `c`.
pub fn subjects(c: &Certificate) -> Vec<String> {
    let Ok(Some((_, san))) = c.tbs_certificate.get::<SubjectAltName>() else { return vec![] };
    san.0
        .iter()
        .filter_map(|n| match n {
            GeneralName::Rfc822Name(s) => Some(s.to_string()),
            GeneralName::UniformResourceIdentifier(s) => Some(s.to_string()),
            _ => None,
        })
        .collect()
}

/// The OIDC issuer(s) of `c` (v1 and/or v2 extension); an extension that
/// does not decode is an error.
pub fn issuers(c: &Certificate) -> Result<Vec<String>, String> {
    let mut out = vec![];
    for e in c.tbs_certificate.extensions.iter().flatten() {
        let value = e.extn_value.as_bytes();
        if e.extn_id == ISSUER_V1 {
            out.push(
                String::from_utf8(value.to_vec()).map_err(|_| "the OIDC issuer extension is not UTF-8")?,
            );
        } else if e.extn_id == ISSUER_V2 {
            let s = Utf8StringRef::from_der(value)
                .map_err(|_| "the OIDC issuer extension is not a UTF8String")?;
            out.push(s.as_str().to_string());
        }
    }
    Ok(out)
}

/// Checks that `c` was issued to `subject` by `issuer`.
pub fn check_identity(c: &Certificate, issuer: &str, subject: &str) -> Result<(), String> {
    let subjects = subjects(c);
    if !subjects.iter().any(|s| s == subject) {
        return Err(format!("the certificate's subject is {}, not {subject:?}", list(&subjects)));
    }
    let mut issuers = issuers(c)?;
    issuers.dedup();
    if issuers.is_empty() {
        return Err("the certificate has no OIDC issuer extension (1.3.6.1.4.1.57264.1.1 / .1.8)".into());
    }
    if issuers.iter().any(|i| i != issuer) {
        return Err(format!("the certificate's OIDC issuer is {}, not {issuer:?}", list(&issuers)));
    }
    Ok(())
}

fn list(v: &[String]) -> String {
    if v.is_empty() {
        "(none)".into()
    } else {
        v.iter().map(|s| format!("{s:?}")).collect::<Vec<_>>().join(", ")
    }
}
