//! Keyless checks against a real cosign keyless signature made with
//! Sigstore's public-good Fulcio and Rekor (October 2021), under Sigstore's
//! production trust root: every cryptographic check passes offline, and the
//! identity check is what refuses it (that certificate predates Fulcio's
//! issuer extension). The flows end to end are in tests/all/oci.rs.

use super::*;
use base64::Engine;

const ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/sigstore-prod-trusted_root.json");
const SAMPLE: &str = include_str!("../../testdata/cosign-keyless-2021.json");

fn sample() -> (Evidence, String) {
    let v: serde_json::Value = serde_json::from_str(SAMPLE).unwrap();
    let s = |k: &str| v[k].as_str().unwrap().to_string();
    let ev = Evidence {
        payload: s("payload").into_bytes(),
        signature: s("signature"),
        certificate: s("certificate"),
        chain: String::new(),
        bundle: s("bundle"),
    };
    (ev, s("digest"))
}

fn trust(identity: &str) -> KeylessTrust {
    KeylessTrust::new(identity, Path::new(ROOT)).unwrap()
}

#[test]
fn a_real_cosign_keyless_signature_passes_every_offline_check_under_the_production_trust_root() {
    let (ev, digest) = sample();
    let t = trust("https://oauth2.sigstore.dev/auth=flavio@castelli.me");
    assert_eq!(t.root.cas.len(), 2);
    assert_eq!(t.root.rekor[0].log_id, "c0d23d6ad406973f9559f3ba2d1ca01f84147d8ffc5b8445c224f98b9591801d");
    let bundle = rekor::parse(&ev.bundle).unwrap();
    rekor::check_set(&bundle, &t.root).unwrap();
    let leaf = pem_cert(&ev.certificate, "certificate").unwrap();
    let sig = base64::engine::general_purpose::STANDARD.decode(&ev.signature).unwrap();
    rekor::check_body(&bundle, &ev.payload, &sig, &leaf.to_der().unwrap()).unwrap();
    let ca = cert::check_chain(&leaf, &[], &t.root, bundle.payload.integrated_time).unwrap();
    assert_eq!(ca, "https://fulcio.sigstore.dev");
    assert_eq!(cert::subjects(&leaf), vec!["flavio@castelli.me".to_string()]);
    // All of the above, then the identity: no issuer extension in 2021.
    let err = verify(&ev, &t, &digest).unwrap_err();
    assert!(err.contains("no OIDC issuer extension"), "{err}");
    let err = verify(&ev, &trust("https://oauth2.sigstore.dev/auth=eve@example.com"), &digest).unwrap_err();
    assert!(err.contains("subject is \"flavio@castelli.me\", not \"eve@example.com\""), "{err}");
}

#[test]
fn each_altered_part_is_named() {
    let (ev, digest) = sample();
    let t = trust("https://oauth2.sigstore.dev/auth=flavio@castelli.me");
    let other_digest = format!("sha256:{}", "a".repeat(64));
    assert!(verify(&ev, &t, &other_digest).unwrap_err().contains("the signature is for sha256:5f48"));
    let mut payload = ev.clone();
    payload.payload[10] ^= 1;
    assert!(
        verify(&payload, &t, &digest).unwrap_err().contains("the Rekor entry is for payload sha256:e7801de9")
    );
    let mut set = ev.clone();
    set.bundle = set.bundle.replace("\"logIndex\": 783607", "\"logIndex\": 783608");
    assert!(verify(&set, &t, &digest).unwrap_err().contains("Signed Entry Timestamp does not verify"));
    let mut sig = ev.clone();
    sig.signature =
        "MEUCIQD6q/COgzOyW0YH1Dk+CCYSt4uAhm3FDHUwvPI55zwnlwIgE0ZK58ZOWpZw8YVmBapJhBqCfdPekIknimuO0xH8Jh8="
            .into();
    assert!(
        verify(&sig, &t, &digest).unwrap_err().contains("the Rekor entry's signature is not this signature")
    );
    // A trust root without the 2021 Fulcio CA: the certificate does not chain.
    let mut newer = t.clone();
    newer.root.cas.remove(0);
    let err = verify(&ev, &newer, &digest).unwrap_err();
    assert!(err.contains("does not chain to a Fulcio CA of the trust root"), "{err}");
    let mut no_rekor = t.clone();
    no_rekor.root.rekor.clear();
    assert!(verify(&ev, &no_rekor, &digest).unwrap_err().contains("not a Rekor key of the trust root"));
}

#[test]
fn the_pem_form_of_a_trust_root_is_fulcio_certificates_and_rekor_keys() {
    let t = trust("a=b");
    let mut pem = String::new();
    for c in &t.root.cas[0].certs {
        let der = c.to_der().unwrap();
        pem.push_str(&x509_cert::der::pem::encode_string("CERTIFICATE", Default::default(), &der).unwrap());
    }
    let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(ROOT).unwrap()).unwrap();
    let raw = v["tlogs"][0]["publicKey"]["rawBytes"].as_str().unwrap();
    let key = base64::engine::general_purpose::STANDARD.decode(raw).unwrap();
    pem.push_str(&x509_cert::der::pem::encode_string("PUBLIC KEY", Default::default(), &key).unwrap());
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("root.pem"), &pem).unwrap();
    let from_pem = KeylessTrust::new("https://x=flavio@castelli.me", &dir.path().join("root.pem")).unwrap();
    assert_eq!((from_pem.root.cas.len(), from_pem.root.rekor.len()), (1, 1));
    let (ev, digest) = sample();
    assert!(verify(&ev, &from_pem, &digest).unwrap_err().contains("no OIDC issuer extension"));
    std::fs::write(dir.path().join("keys.pem"), &pem[pem.find("-----BEGIN PUBLIC").unwrap()..]).unwrap();
    let err = TrustRoot::from_file(&dir.path().join("keys.pem")).unwrap_err().to_string();
    assert!(err.contains("at least one Fulcio CA certificate"), "{err}");
    assert!(KeylessTrust::new("no-equals", Path::new(ROOT)).is_err());
}
