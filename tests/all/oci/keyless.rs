//! Keyless (Sigstore) signatures, offline. The test plays Fulcio and Rekor
//! with the `openssl` CLI: a Fulcio-like CA (P-384 root and intermediate)
//! issues short-lived P-256 code-signing certificates carrying the OIDC
//! identity (SAN email or URI, issuer extensions 1.3.6.1.4.1.57264.1.1 and
//! .1.8), and a Rekor key signs the Signed Entry Timestamp over a
//! `hashedrekord` entry. The signature is written to the real registry as
//! cosign writes it: the `sha256-<hex>.sig` tag, one simple-signing layer
//! with the `dev.cosignproject.cosign/signature`, `dev.sigstore.cosign/certificate`,
//! `…/chain` and `…/bundle` annotations. toolhost only reads a trust root
//! file (`trusted_root.json`) and never talks to Fulcio or Rekor.

use super::*;
use base64::Engine as _;

const ISSUER: &str = "https://token.actions.githubusercontent.com";
const SUBJECT: &str = "https://github.com/acme/text/.github/workflows/release.yml@refs/tags/v1.0";

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64
}

/// A Fulcio-like CA and a Rekor-like log key in `dir`.
struct Sigstore {
    dir: PathBuf,
    /// `ca/` prefix of this CA's files.
    ca: String,
    /// `rekor` key file stem.
    rekor: String,
}

/// An OIDC identity a certificate is issued to.
struct Id<'a> {
    issuer: &'a str,
    /// `email:…` or `URI:…` (openssl subjectAltName syntax).
    san: &'a str,
}

const GOOD: Id<'static> = Id {
    issuer: ISSUER,
    san: concat!("URI:", "https://github.com/acme/text/.github/workflows/release.yml@refs/tags/v1.0"),
};

impl Sigstore {
    /// A new CA (`name`) and Rekor key (`name-rekor`) in `dir`.
    fn new(dir: &Path, name: &str) -> Sigstore {
        let s = Sigstore { dir: dir.to_path_buf(), ca: name.to_string(), rekor: format!("{name}-rekor") };
        let ca = |f: &str| format!("{name}-{f}");
        std::fs::write(
            dir.join(ca("ca.cnf")),
            "[ca]\nbasicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n",
        )
        .unwrap();
        let p384 = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-384", "-nodes"];
        let root_args = ["-keyout", &ca("root.key"), "-out", &ca("root.pem"), "-days", "30"];
        let root_subj = ["-subj", "/O=sigstore.test/CN=sigstore"];
        openssl(dir, &[&["req", "-x509"][..], &p384, &root_args, &root_subj].concat());
        let inter = [
            "-keyout",
            &ca("inter.key"),
            "-out",
            &ca("inter.csr"),
            "-subj",
            "/O=sigstore.test/CN=sigstore-intermediate",
        ];
        openssl(dir, &[&["req"][..], &p384, &inter].concat());
        let sign = ["-CA", &ca("root.pem"), "-CAkey", &ca("root.key"), "-CAcreateserial", "-days", "30"];
        let ext = ["-extfile", &ca("ca.cnf"), "-extensions", "ca", "-sha384"];
        openssl(
            dir,
            &[&["x509", "-req", "-in", &ca("inter.csr"), "-out", &ca("inter.pem")][..], &sign, &ext].concat(),
        );
        let p256 = ["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"];
        openssl(dir, &[&["genpkey"][..], &p256, &["-out", &format!("{}.key", s.rekor)]].concat());
        let rekor_der = format!("{}.der", s.rekor);
        openssl(
            dir,
            &["pkey", "-in", &format!("{}.key", s.rekor), "-pubout", "-outform", "DER", "-out", &rekor_der],
        );
        s
    }

    fn read(&self, f: &str) -> Vec<u8> {
        std::fs::read(self.dir.join(f)).unwrap()
    }

    fn der(&self, pem_file: &str) -> Vec<u8> {
        let out = format!("{pem_file}.der");
        openssl(&self.dir, &["x509", "-in", pem_file, "-outform", "DER", "-out", &out]);
        self.read(&out)
    }

    /// The Rekor log id: hex sha256 of the DER public key.
    fn log_id(&self) -> String {
        sha256(&self.read(&format!("{}.der", self.rekor))).trim_start_matches("sha256:").to_string()
    }

    /// Writes a Sigstore `trusted_root.json` trusting `cas` and `rekors`.
    fn trusted_root(path: &Path, cas: &[&Sigstore], rekors: &[&Sigstore]) {
        let ca = |s: &&Sigstore| {
            let chain = [format!("{}-inter.pem", s.ca), format!("{}-root.pem", s.ca)];
            serde_json::json!({
                "subject": {"organization": "sigstore.test", "commonName": "sigstore"},
                "uri": format!("https://fulcio.{}.test", s.ca),
                "certChain": {"certificates": chain.iter().map(|f| serde_json::json!({"rawBytes": b64(&s.der(f))})).collect::<Vec<_>>()},
                "validFor": {"start": "2024-01-01T00:00:00.000Z"}
            })
        };
        let tlog = |s: &&Sigstore| {
            let der = s.read(&format!("{}.der", s.rekor));
            serde_json::json!({
                "baseUrl": format!("https://rekor.{}.test", s.ca),
                "hashAlgorithm": "SHA2_256",
                "publicKey": {"rawBytes": b64(&der), "keyDetails": "PKIX_ECDSA_P256_SHA_256", "validFor": {"start": "2024-01-01T00:00:00.000Z"}},
                "logId": {"keyId": b64(&hex_bytes(&s.log_id()))}
            })
        };
        let doc = serde_json::json!({
            "mediaType": "application/vnd.dev.sigstore.trustedroot+json;version=0.1",
            "tlogs": rekors.iter().map(tlog).collect::<Vec<_>>(),
            "certificateAuthorities": cas.iter().map(ca).collect::<Vec<_>>(),
            "ctlogs": []
        });
        std::fs::write(path, serde_json::to_string_pretty(&doc).unwrap()).unwrap();
    }

    /// Fulcio: a fresh P-256 key and a code-signing certificate for `id`.
    /// Returns (key file, certificate PEM).
    fn issue(&self, id: &Id, n: &str) -> (String, String) {
        let (key, csr, pem, cnf) =
            (format!("{n}.key"), format!("{n}.csr"), format!("{n}.pem"), format!("{n}.cnf"));
        openssl(
            &self.dir,
            &["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", &key],
        );
        openssl(&self.dir, &["req", "-new", "-key", &key, "-subj", "/", "-out", &csr]);
        let v1: Vec<String> = id.issuer.bytes().map(|b| format!("{b:02X}")).collect();
        std::fs::write(
            self.dir.join(&cnf),
            format!(
                "[leaf]\nbasicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n\
                 extendedKeyUsage=codeSigning\nsubjectAltName=critical,{}\n\
                 1.3.6.1.4.1.57264.1.1=DER:{}\n1.3.6.1.4.1.57264.1.8=ASN1:UTF8String:{}\n",
                id.san,
                v1.join(":"),
                id.issuer
            ),
        )
        .unwrap();
        let ca = |f: &str| format!("{}-{f}", self.ca);
        openssl(
            &self.dir,
            &[
                "x509",
                "-req",
                "-in",
                &csr,
                "-CA",
                &ca("inter.pem"),
                "-CAkey",
                &ca("inter.key"),
                "-CAcreateserial",
                "-days",
                "1",
                "-sha384",
                "-extfile",
                &cnf,
                "-extensions",
                "leaf",
                "-out",
                &pem,
            ],
        );
        (key, String::from_utf8(self.read(&pem)).unwrap())
    }

    /// DER ECDSA-SHA256 signature of `data` by `key`.
    fn sign_with(&self, key: &str, data: &[u8], n: &str) -> Vec<u8> {
        let (input, out) = (format!("{n}.in"), format!("{n}.sig"));
        std::fs::write(self.dir.join(&input), data).unwrap();
        openssl(&self.dir, &["dgst", "-sha256", "-sign", key, "-out", &out, &input]);
        self.read(&out)
    }

    /// Rekor: a Signed Entry Timestamp over a hashedrekord entry for
    /// (`payload`, `sig`, `cert_pem`), integrated now. Returns the bundle JSON.
    fn log(&self, payload: &[u8], sig: &[u8], cert_pem: &str, n: &str) -> String {
        let body = serde_json::json!({
            "apiVersion": "0.0.1", "kind": "hashedrekord",
            "spec": {
                "data": {"hash": {"algorithm": "sha256", "value": sha256(payload).trim_start_matches("sha256:")}},
                "signature": {"content": b64(sig), "publicKey": {"content": b64(cert_pem.as_bytes())}}
            }
        });
        let body = b64(body.to_string().as_bytes());
        let (t, log_id, index) = (now(), self.log_id(), 4242);
        // RFC 8785: keys sorted, no spaces.
        let canonical =
            format!(r#"{{"body":"{body}","integratedTime":{t},"logID":"{log_id}","logIndex":{index}}}"#);
        let set = self.sign_with(&format!("{}.key", self.rekor), canonical.as_bytes(), &format!("{n}-set"));
        serde_json::json!({
            "SignedEntryTimestamp": b64(&set),
            "Payload": {"body": body, "integratedTime": t, "logIndex": index, "logID": log_id}
        })
        .to_string()
    }

    /// A complete keyless signature of `payload` for `id`: the layer's annotations.
    fn keyless(&self, payload: &[u8], id: &Id, n: &str) -> Vec<(String, String)> {
        let (key, cert) = self.issue(id, n);
        let sig = self.sign_with(&key, payload, n);
        let bundle = self.log(payload, &sig, &cert, n);
        let chain =
            [self.read(&format!("{}-inter.pem", self.ca)), self.read(&format!("{}-root.pem", self.ca))]
                .concat();
        vec![
            ("dev.cosignproject.cosign/signature".into(), b64(&sig)),
            ("dev.sigstore.cosign/certificate".into(), cert),
            ("dev.sigstore.cosign/chain".into(), String::from_utf8(chain).unwrap()),
            ("dev.sigstore.cosign/bundle".into(), bundle),
        ]
    }
}

fn hex_bytes(h: &str) -> Vec<u8> {
    (0..h.len()).step_by(2).map(|i| u8::from_str_radix(&h[i..i + 2], 16).unwrap()).collect()
}

/// cosign's simple-signing payload for `digest` of `repo` on `reg`.
fn payload(reg: &OciRegistry, repo: &str, digest: &str) -> Vec<u8> {
    format!(
        r#"{{"critical":{{"identity":{{"docker-reference":"{}/{repo}"}},"image":{{"docker-manifest-digest":"{digest}"}},"type":"cosign container image signature"}},"optional":null}}"#,
        reg.host()
    )
    .into_bytes()
}

/// Writes the cosign signature artifact `sha256-<hex>.sig` of `digest` in
/// `repo` through the registry API: one simple-signing layer (`payload`,
/// `annotations`), as `cosign sign` pushes it.
async fn push_signature(
    reg: &OciRegistry,
    repo: &str,
    digest: &str,
    payload: &[u8],
    annotations: &[(String, String)],
) {
    let base = format!("http://{}/v2/{repo}", reg.host());
    let http = reqwest::Client::new();
    let upload = |bytes: Vec<u8>| {
        let (http, base) = (http.clone(), base.clone());
        async move {
            let d = sha256(&bytes);
            let r = http.post(format!("{base}/blobs/uploads/")).send().await.unwrap();
            assert_eq!(r.status().as_u16(), 202, "upload start");
            let loc = r.headers()["location"].to_str().unwrap().to_string();
            let sep = if loc.contains('?') { '&' } else { '?' };
            let r = http.put(format!("{loc}{sep}digest={d}")).body(bytes.clone()).send().await.unwrap();
            assert_eq!(r.status().as_u16(), 201, "blob upload: {}", r.text().await.unwrap());
            serde_json::json!({"size": bytes.len(), "digest": d})
        }
    };
    let config = format!(
        r#"{{"architecture":"","config":{{}},"created":"0001-01-01T00:00:00Z","os":"","rootfs":{{"type":"layers","diff_ids":["{}"]}}}}"#,
        sha256(payload)
    );
    let mut c = upload(config.into_bytes()).await;
    c["mediaType"] = "application/vnd.oci.image.config.v1+json".into();
    let mut l = upload(payload.to_vec()).await;
    l["mediaType"] = "application/vnd.dev.cosign.simplesigning.v1+json".into();
    l["annotations"] = annotations.iter().map(|(k, v)| (k.clone(), Value::from(v.clone()))).collect();
    let manifest = serde_json::json!({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json", "config": c, "layers": [l]
    });
    let tag = format!("{}.sig", digest.replace(':', "-"));
    let r = http
        .put(format!("{base}/manifests/{tag}"))
        .header("content-type", "application/vnd.oci.image.manifest.v1+json")
        .body(manifest.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 201, "manifest: {}", r.text().await.unwrap());
}

/// A registry, a work folder, a trusted Sigstore (`trusted_root.json`
/// trusting it), and an unsigned push of plugin `text` to `repo`.
struct Setup {
    reg: OciRegistry,
    w: Work,
    sigstore: Sigstore,
    root: String,
}

impl Setup {
    fn new() -> Setup {
        let reg = OciRegistry::start();
        let w = Work::new();
        std::fs::create_dir_all(w.path("sigstore")).unwrap();
        let sigstore = Sigstore::new(&w.path("sigstore"), "good");
        let root = w.path("trusted_root.json");
        Sigstore::trusted_root(&root, &[&sigstore], &[&sigstore]);
        w.plugin("src", "text", "text");
        Setup { reg, w, sigstore, root: root.display().to_string() }
    }

    /// Pushes plugin `text` (unsigned) to `repo:1.0`; its digest.
    fn push(&self, repo: &str) -> String {
        digest_of(&self.w.push(&self.w.path("src/text.wasm"), &self.reg.oci(&format!("{repo}:1.0")), None))
    }

    /// `pull oci://…/REPO:1.0 --plugins DIR --identity ID --trust-root ROOT`.
    fn pull(&self, repo: &str, dir: &str, identity: &str) -> Output {
        let r = self.reg.oci(&format!("{repo}:1.0"));
        self.w.th(&["pull", &r, "--plugins", dir, "--identity", identity, "--trust-root", &self.root])
    }

    /// As [`pull`](Self::pull), which must fail with SIGNATURE_INVALID naming `why`.
    fn refused(&self, repo: &str, identity: &str, why: &str) {
        let r = self.reg.oci(&format!("{repo}:1.0"));
        let args = ["pull", &r, "--plugins", "refused", "--identity", identity, "--trust-root", &self.root];
        let err = self.w.refused(&args, "SIGNATURE_INVALID");
        assert!(err.contains(why), "{repo}: expected {why:?}: {err}");
        assert!(!self.w.path("refused/text.wasm").exists() && !self.w.path("refused/toolhost.lock").exists());
    }
}

fn identity(issuer: &str, subject: &str) -> String {
    format!("{issuer}={subject}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keyless_signatures_verify_offline_against_the_pinned_identity_and_the_trust_root() {
    let s = Setup::new();
    let good = identity(ISSUER, SUBJECT);
    let digest = s.push("plugins/text");
    let p = payload(&s.reg, "plugins/text", &digest);
    push_signature(&s.reg, "plugins/text", &digest, &p, &s.sigstore.keyless(&p, &GOOD, "good")).await;

    // The pinned identity pulls, installs and locks; the lock names it.
    let out = s.pull("plugins/text", "pulled", &good);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("{}@{digest}", s.reg.oci("plugins/text"))
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains(&format!("(signer {good})")));
    assert_eq!(
        std::fs::read(s.w.path("pulled/text.wasm")).unwrap(),
        std::fs::read(s.w.path("src/text.wasm")).unwrap()
    );
    let lock = lock_of(&s.w.path("pulled"));
    let e = &lock["plugin"][0];
    assert_eq!(e["signer"].as_str(), Some(good.as_str()));
    assert_eq!(e["digest"].as_str(), Some(digest.as_str()));
    assert!(e["certificate"].as_str().unwrap().starts_with("-----BEGIN CERTIFICATE-----"), "{e}");
    assert!(e["bundle"].as_str().unwrap().contains("SignedEntryTimestamp"), "{e}");
    assert_eq!(e["trust_root"].as_str(), Some(s.root.as_str()));
    assert!(e.get("public_key").is_none(), "{e}");
    let cache = shared_cache().display().to_string();
    let greet =
        s.w.ok(&["call", "text.greet", r#"{"name":"Ada"}"#, "--plugins", "pulled", "--cache-dir", &cache]);
    assert_eq!(greet, "Hi, Ada!");

    // The same signature, another identity pinned: refused, and says why.
    s.refused(
        "plugins/text",
        &identity(ISSUER, "https://github.com/evil/text/.github/workflows/x.yml@refs/heads/main"),
        "the certificate's subject is",
    );
    s.refused(
        "plugins/text",
        &identity("https://accounts.google.com", SUBJECT),
        "the certificate's OIDC issuer is",
    );
    // A trust root that does not know this Fulcio or this Rekor.
    let other = Sigstore::new(&s.w.path("sigstore"), "other");
    let only_other = s.w.path("other_root.json");
    Sigstore::trusted_root(&only_other, &[&other], &[&s.sigstore]);
    let r = s.reg.oci("plugins/text:1.0");
    let only_other = only_other.display().to_string();
    let args = ["pull", &r, "--plugins", "x", "--identity", &good, "--trust-root", &only_other];
    let err = s.w.refused(&args, "SIGNATURE_INVALID");
    assert!(err.contains("does not chain to a Fulcio CA of the trust root"), "{err}");
    let other_rekor = s.w.path("other_rekor.json");
    Sigstore::trusted_root(&other_rekor, &[&s.sigstore], &[&other]);
    let other_rekor = other_rekor.display().to_string();
    let args = ["pull", &r, "--plugins", "x", "--identity", &good, "--trust-root", &other_rekor];
    assert!(s.w.refused(&args, "SIGNATURE_INVALID").contains("not a Rekor key of the trust root"));

    // `verify` re-checks keyless entries offline (recorded trust root, or one given).
    let ok = s.w.th(&["verify", "pulled"]);
    assert_eq!(ok.status.code(), Some(0), "{}", String::from_utf8_lossy(&ok.stdout));
    assert!(String::from_utf8_lossy(&ok.stdout).contains(&format!("signer {good}")));
    let pinned = s.w.th(&["verify", "pulled", "--identity", &good, "--trust-root", &s.root]);
    assert_eq!(pinned.status.code(), Some(0), "{}", String::from_utf8_lossy(&pinned.stdout));
    for (args, why) in [
        (
            vec!["--identity", "https://accounts.google.com=ci@example.com", "--trust-root", &s.root],
            "subject is",
        ),
        (vec!["--trust-root", &only_other], "does not chain"),
    ] {
        let bad = s.w.th(&[&["verify", "pulled"][..], &args].concat());
        let text = String::from_utf8_lossy(&bad.stdout).into_owned();
        assert_eq!(bad.status.code(), Some(1), "{text}");
        assert!(text.contains("FAILED  text  SIGNATURE_INVALID") && text.contains(why), "{why}: {text}");
    }
    let keys = s.w.keygen("keys");
    let key_pub = keys.join("toolhost.pub").display().to_string();
    let by_key = s.w.th(&["verify", "pulled", "--verify-key", &key_pub]);
    assert!(String::from_utf8_lossy(&by_key.stdout).contains("signed keyless by"), "{by_key:?}");
    // A lock whose recorded certificate was swapped for another identity's.
    let lock_path = s.w.path("pulled/toolhost.lock");
    let text = std::fs::read_to_string(&lock_path).unwrap();
    let (_, evil_cert) = s.sigstore.issue(&Id { issuer: ISSUER, san: "email:evil@example.com" }, "swap");
    let mut doc: toml::Value = toml::from_str(&text).unwrap();
    doc["plugin"][0]["certificate"] = toml::Value::String(evil_cert);
    std::fs::write(&lock_path, toml::to_string(&doc).unwrap()).unwrap();
    let swapped = s.w.th(&["verify", "pulled"]);
    assert_eq!(swapped.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&swapped.stdout)
            .contains("the Rekor entry's certificate is not the signing certificate")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_replayed_and_tampered_keyless_signatures_are_refused() {
    let s = Setup::new();
    let good = identity(ISSUER, SUBJECT);
    let sig = &s.sigstore;

    // A certificate from a CA the trust root does not hold (the full chain
    // travels in the annotation, but only the trust root is trusted), logged
    // in the trusted Rekor.
    let rogue = Sigstore::new(&s.w.path("sigstore"), "rogue");
    let rogue_ca = Sigstore { dir: sig.dir.clone(), ca: rogue.ca.clone(), rekor: sig.rekor.clone() };
    let d = s.push("rogue/text");
    let p = payload(&s.reg, "rogue/text", &d);
    push_signature(&s.reg, "rogue/text", &d, &p, &rogue_ca.keyless(&p, &GOOD, "rogue")).await;
    s.refused("rogue/text", &good, "does not chain to a Fulcio CA of the trust root");

    // A SET signed by another key while claiming the trusted log's id.
    let d = s.push("badset/text");
    let p = payload(&s.reg, "badset/text", &d);
    let forged = Sigstore { dir: sig.dir.clone(), ca: sig.ca.clone(), rekor: rogue.rekor.clone() };
    let mut notes = forged.keyless(&p, &GOOD, "badset");
    let bundle: Value = serde_json::from_str(&notes[3].1).unwrap();
    notes[3].1 = bundle.to_string().replace(&rogue.log_id(), &sig.log_id());
    push_signature(&s.reg, "badset/text", &d, &p, &notes).await;
    s.refused("badset/text", &good, "Signed Entry Timestamp does not verify");

    // The payload altered after signing and logging.
    let d = s.push("tampered/text");
    let p = payload(&s.reg, "tampered/text", &d);
    let notes = sig.keyless(&p, &GOOD, "tampered");
    let altered =
        String::from_utf8(p.clone()).unwrap().replace("tampered/text", "tampered/txet").into_bytes();
    push_signature(&s.reg, "tampered/text", &d, &altered, &notes).await;
    s.refused("tampered/text", &good, "the Rekor entry is for payload");

    // A valid, logged signature of another artifact replayed onto this one.
    let other = s.push("replay/other");
    let p_other = payload(&s.reg, "replay/other", &other);
    let notes = sig.keyless(&p_other, &GOOD, "replay");
    std::fs::write(s.w.path("src/text.toml"), "[grants]\ninherit_env = [\"HOME\"]\n").unwrap();
    let d = s.push("replay/text");
    assert_ne!(d, other);
    push_signature(&s.reg, "replay/text", &d, &p_other, &notes).await;
    s.refused("replay/text", &good, &format!("the signature is for {other}, not {d}"));

    // A signature over the payload by another key than the certificate's.
    let d = s.push("wrongkey/text");
    let p = payload(&s.reg, "wrongkey/text", &d);
    let (_, cert) = sig.issue(&GOOD, "wrongkey");
    let (other_key, _) = sig.issue(&GOOD, "wrongkey2");
    let bad_sig = sig.sign_with(&other_key, &p, "wrongkey-sig");
    let bundle = sig.log(&p, &bad_sig, &cert, "wrongkey");
    let notes = vec![
        ("dev.cosignproject.cosign/signature".to_string(), b64(&bad_sig)),
        ("dev.sigstore.cosign/certificate".to_string(), cert),
        ("dev.sigstore.cosign/bundle".to_string(), bundle),
    ];
    push_signature(&s.reg, "wrongkey/text", &d, &p, &notes).await;
    s.refused("wrongkey/text", &good, "does not verify with the certificate's key");

    // No signature at all, and a keyed signature where keyless is pinned.
    s.push("unsigned/text");
    let r = s.reg.oci("unsigned/text:1.0");
    s.w.refused(
        &["pull", &r, "--plugins", "x", "--identity", &good, "--trust-root", &s.root],
        "UNSIGNED_PLUGIN",
    );
    let keys = s.w.keygen("keys");
    s.w.push(&s.w.path("src/text.wasm"), &s.reg.oci("keyed/text:1.0"), Some(&keys));
    s.refused(
        "keyed/text",
        &good,
        "needs the dev.sigstore.cosign/certificate and dev.sigstore.cosign/bundle annotations",
    );
    // --identity needs --trust-root (a usage error).
    assert_eq!(s.w.th(&["pull", &r, "--plugins", "x", "--identity", &good]).status.code(), Some(2));
}

/// Polls /readyz until `source_failures` satisfies `done` (10 s at most).
async fn wait_for_source(serve: &Serve, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let v = serve.readyz().await;
        if done(&v["source_failures"]) {
            return v["source_failures"].clone();
        }
        assert!(
            Instant::now() < deadline,
            "source_failures stayed {}\n{}",
            v["source_failures"],
            serve.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_serves_a_keyless_signed_source_and_refuses_another_identity() {
    let s = Setup::new();
    let digest = s.push("plugins/text");
    let p = payload(&s.reg, "plugins/text", &digest);
    push_signature(&s.reg, "plugins/text", &digest, &p, &s.sigstore.keyless(&p, &GOOD, "serve")).await;
    let math = s.w.plugin("src", "math", "math");
    let math_digest = digest_of(&s.w.push(&math, &s.reg.oci("plugins/math:1.0"), None));
    let p = payload(&s.reg, "plugins/math", &math_digest);
    let someone = Id { issuer: ISSUER, san: "email:someone@example.com" };
    push_signature(&s.reg, "plugins/math", &math_digest, &p, &s.sigstore.keyless(&p, &someone, "serve-math"))
        .await;
    let config = format!(
        "plugins_dir = \"plugins\"\ncache_dir = {cache:?}\n\n\
         [[sources]]\nref = \"{text}\"\nidentity = \"{ISSUER}={SUBJECT}\"\ntrust_root = \"trusted_root.json\"\n\n\
         [[sources]]\nref = \"{math}\"\nidentity = \"{ISSUER}={SUBJECT}\"\ntrust_root = \"trusted_root.json\"\n",
        cache = shared_cache().display().to_string(),
        text = s.reg.oci("plugins/text:1.0"),
        math = s.reg.oci("plugins/math:1.0"),
    );
    std::fs::write(s.w.path("toolhost.toml"), config).unwrap();
    let serve = Serve::start(&s.w);
    assert_eq!(serve.greet().await["results"][0]["value"], "Hi, Ada!", "{}", serve.log());
    assert!(!serve.tools().await.iter().any(|t| t.starts_with("math.")));
    let ready = serve.readyz().await;
    let failures = ready["source_failures"].as_array().unwrap();
    assert_eq!(failures.len(), 1, "{ready}");
    assert_eq!(failures[0]["code"], "SIGNATURE_INVALID");
    assert!(serve.log().contains("\\\"someone@example.com\\\""), "{}", serve.log());
    let lock = lock_of(&s.w.path("plugins"));
    assert_eq!(lock["plugin"][0]["signer"].as_str(), Some(format!("{ISSUER}={SUBJECT}").as_str()));

    // While serving, the operator pulls into the served folder; the source
    // statuses follow the lock, each change re-verified with the source's
    // trust. Pulled as someone else's: still refused, and not loaded.
    let math_ref = s.reg.oci("plugins/math:1.0");
    let someone_id = format!("{ISSUER}=someone@example.com");
    s.w.ok(&["pull", &math_ref, "--plugins", "plugins", "--identity", &someone_id, "--trust-root", &s.root]);
    serve.wait_for_failure("SIGNATURE_INVALID").await;
    let failure = &serve.readyz().await["source_failures"][0];
    assert_eq!(
        (failure["code"].as_str(), failure["serving"].as_bool()),
        (Some("SIGNATURE_INVALID"), Some(false))
    );
    assert!(!serve.tools().await.iter().any(|t| t.starts_with("math.")));
    // Re-signed by the pinned identity and pulled again: the failure clears
    // and the hot reload serves it.
    push_signature(&s.reg, "plugins/math", &math_digest, &p, &s.sigstore.keyless(&p, &GOOD, "serve-math2"))
        .await;
    let good = identity(ISSUER, SUBJECT);
    s.w.ok(&["pull", &math_ref, "--plugins", "plugins", "--identity", &good, "--trust-root", &s.root]);
    wait_for_source(&serve, |f| f.as_array().unwrap().is_empty()).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while !serve.tools().await.iter().any(|t| t.starts_with("math.")) {
        assert!(Instant::now() < deadline, "math was not served after the pull: {}", serve.log());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The load gate re-checks the keyless record: a pulled file altered while
    // serving is refused, the verified version keeps answering.
    std::fs::write(s.w.path("plugins/text.toml"), "[config]\ngreeting = \"Pwned\"\n").unwrap();
    serve.wait_for_failure("DIGEST_MISMATCH").await;
    assert_eq!(serve.greet().await["results"][0]["value"], "Hi, Ada!");
    drop(serve);
    // Restart, registry down: the locked keyless copy re-verifies offline and serves.
    let mut reg = s.reg;
    reg.stop();
    std::fs::write(s.w.path("plugins/text.toml"), std::fs::read(s.w.path("src/text.toml")).unwrap()).unwrap();
    let serve = Serve::start(&s.w);
    assert_eq!(serve.greet().await["results"][0]["value"], "Hi, Ada!", "{}", serve.log());
    assert!(serve.log().contains("REGISTRY_UNAVAILABLE"), "{}", serve.log());
}
