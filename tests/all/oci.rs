//! Signed plugins from OCI registries (issue 17), against a real registry:
//! Debian's `docker-registry` on a loopback port, `skopeo` as the third-party
//! client, and the `toolhost` binary as a user runs it (`keygen`, `push`,
//! `pull`, `verify`, `serve` with `[[sources]]`).

use crate::cli::bin;
use crate::common::*;
use serde_json::Value;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};
use tempfile::TempDir;

mod keyless;

const REGISTRY_BIN: &str = "/usr/bin/docker-registry";

/// A real `docker-registry` on a free loopback port, storage in a temp
/// folder (kept across `stop`/`restart`), killed on drop.
pub struct OciRegistry {
    pub port: u16,
    /// The address it listens on (127.0.0.1, or this machine's own address for the HTTPS test).
    ip: String,
    child: Option<Child>,
    dir: TempDir,
}

impl OciRegistry {
    pub fn start() -> OciRegistry {
        OciRegistry::start_with(None, None)
    }

    /// With `htpasswd` (a bcrypt `user:hash` line), every request needs basic
    /// auth; with `tls` (certificate and key PEM files), it speaks HTTPS only.
    pub fn start_with(htpasswd: Option<&str>, tls: Option<(&Path, &Path)>) -> OciRegistry {
        OciRegistry::start_on("127.0.0.1", htpasswd, tls)
    }

    /// [`start_with`](Self::start_with), listening on `ip` (a local address).
    pub fn start_on(ip: &str, htpasswd: Option<&str>, tls: Option<(&Path, &Path)>) -> OciRegistry {
        assert!(
            Path::new(REGISTRY_BIN).exists(),
            "{REGISTRY_BIN} is missing: the OCI tests need Debian's docker-registry and skopeo \
             (scripts/env.sh ensure_test_packages installs them: apt-get install docker-registry skopeo)"
        );
        let port = std::net::TcpListener::bind((ip, 0)).unwrap().local_addr().unwrap().port();
        let dir = tempfile::tempdir().unwrap();
        let mut config = format!(
            "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: {ip}:{port}\n",
            dir.path().join("data").display()
        );
        if let Some((cert, key)) = tls {
            config.push_str(&format!(
                "  tls:\n    certificate: {}\n    key: {}\n",
                cert.display(),
                key.display()
            ));
        }
        if let Some(line) = htpasswd {
            let path = dir.path().join("htpasswd");
            std::fs::write(&path, format!("{line}\n")).unwrap();
            config.push_str(&format!(
                "auth:\n  htpasswd:\n    realm: toolhost-test\n    path: {}\n",
                path.display()
            ));
        }
        std::fs::write(dir.path().join("config.yml"), config).unwrap();
        let mut r = OciRegistry { port, ip: ip.to_string(), child: None, dir };
        r.restart();
        r
    }

    /// `127.0.0.1:PORT`.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// `oci://127.0.0.1:PORT/REPO_TAG`.
    pub fn oci(&self, repo_tag: &str) -> String {
        format!("oci://{}/{repo_tag}", self.host())
    }

    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub fn restart(&mut self) {
        self.stop();
        let child = Command::new(REGISTRY_BIN)
            .arg("serve")
            .arg(self.dir.path().join("config.yml"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("docker-registry runs");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(15);
        while !self.answers() {
            assert!(Instant::now() < deadline, "docker-registry did not start on port {}", self.port);
            std::thread::sleep(Duration::from_millis(30));
        }
    }

    fn answers(&self) -> bool {
        let Ok(mut s) = std::net::TcpStream::connect((self.ip.as_str(), self.port)) else { return false };
        let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
        if s.write_all(b"GET /v2/ HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").is_err() {
            return false;
        }
        let mut head = [0u8; 12];
        // 200, 401 with htpasswd, 400 ("HTTP request to an HTTPS server") with TLS.
        s.read_exact(&mut head).is_ok() && head.starts_with(b"HTTP/1.")
    }

    /// The stored bytes of blob `digest` (content-addressed, shared by repos).
    pub fn blob_file(&self, digest: &str) -> PathBuf {
        let hex = digest.strip_prefix("sha256:").unwrap();
        self.dir.path().join(format!("data/docker/registry/v2/blobs/sha256/{}/{hex}/data", &hex[..2]))
    }

    /// Flips one byte of a stored blob (same length): a tampered registry.
    pub fn tamper_blob(&self, digest: &str) {
        let p = self.blob_file(digest);
        let mut bytes = std::fs::read(&p).unwrap();
        let i = bytes.len() / 2;
        bytes[i] ^= 0x20;
        std::fs::write(&p, bytes).unwrap();
    }
}

impl Drop for OciRegistry {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A work folder: keys, plugin files to push, plugin folders to pull into.
struct Work {
    dir: TempDir,
}

impl Work {
    fn new() -> Work {
        let w = Work { dir: tempfile::tempdir().unwrap() };
        std::fs::create_dir_all(w.path("docker")).unwrap();
        w
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// Runs `toolhost ARGS` hermetically (no ambient registry credentials).
    fn th(&self, args: &[&str]) -> Output {
        Command::new(bin())
            .args(args)
            .current_dir(self.dir.path())
            .env_remove("RUST_LOG")
            .env_remove("TOOLHOST_REGISTRY_AUTH")
            .env("DOCKER_CONFIG", self.path("docker"))
            .env("TOOLHOST_LOG_FORMAT", "json")
            .output()
            .unwrap()
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.th(args);
        assert!(out.status.success(), "toolhost {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    }

    /// Runs a command that must fail with exit status 2 and `code` on stderr.
    fn refused(&self, args: &[&str], code: &str) -> String {
        let out = self.th(args);
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(out.status.code(), Some(2), "toolhost {args:?} should fail: {err}");
        assert!(err.contains(&format!("error: {code}: ")), "toolhost {args:?}: expected {code}: {err}");
        err
    }

    /// `keygen --out NAME`: the key folder.
    fn keygen(&self, name: &str) -> PathBuf {
        self.ok(&["keygen", "--out", name]);
        self.path(name)
    }

    /// Copies build/plugins/NAME.wasm (+ .toml) to `dir/AS.wasm` (+ .toml).
    fn plugin(&self, dir: &str, name: &str, as_name: &str) -> PathBuf {
        std::fs::create_dir_all(self.path(dir)).unwrap();
        let src = example_plugins();
        let wasm = self.path(&format!("{dir}/{as_name}.wasm"));
        std::fs::copy(src.join(format!("{name}.wasm")), &wasm).unwrap();
        if src.join(format!("{name}.toml")).exists() {
            std::fs::copy(src.join(format!("{name}.toml")), wasm.with_extension("toml")).unwrap();
        }
        wasm
    }

    /// `push WASM REF [--sign-key KEYDIR/toolhost.key]`: the pinned reference.
    fn push(&self, wasm: &Path, reference: &str, key: Option<&Path>) -> String {
        let mut args = vec!["push".to_string(), wasm.display().to_string(), reference.to_string()];
        if let Some(k) = key {
            args.extend(["--sign-key".to_string(), k.join("toolhost.key").display().to_string()]);
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        self.ok(&args)
    }
}

fn skopeo(args: &[&str]) -> Output {
    let out = Command::new("skopeo")
        .args(args)
        .output()
        .expect("skopeo runs (scripts/env.sh ensure_test_packages installs it: apt-get install skopeo)");
    assert!(out.status.success(), "skopeo {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    out
}

fn sha256(bytes: &[u8]) -> String {
    toolhost::oci::sha256_digest(bytes)
}

fn digest_of(pinned: &str) -> String {
    pinned.split('@').nth(1).expect("a pinned reference").to_string()
}

fn lock_of(dir: &Path) -> toml::Value {
    toml::from_str(&std::fs::read_to_string(dir.join("toolhost.lock")).unwrap()).unwrap()
}

#[test]
fn push_signs_skopeo_reads_it_pull_verifies_and_the_lock_rechecks_files() {
    let reg = OciRegistry::start();
    let w = Work::new();
    let keys = w.keygen("keys");
    let private = std::fs::read_to_string(keys.join("toolhost.key")).unwrap();
    assert!(private.starts_with("-----BEGIN PRIVATE KEY-----"), "PKCS#8 PEM: {private}");
    let again = w.th(&["keygen", "--out", "keys"]);
    assert_eq!(again.status.code(), Some(2), "keygen never replaces a key");
    assert_eq!(std::fs::read_to_string(keys.join("toolhost.key")).unwrap(), private);
    let wasm = w.plugin("src", "text", "text");
    let by_digest = format!("{}@sha256:{}", reg.oci("plugins/text"), "0".repeat(64));
    assert_eq!(
        w.th(&["push", wasm.to_str().unwrap(), &by_digest]).status.code(),
        Some(2),
        "push needs a tag"
    );
    let pinned = w.push(&wasm, &reg.oci("plugins/text:1.0"), Some(&keys));
    assert!(pinned.starts_with(&format!("oci://{}/plugins/text@sha256:", reg.host())), "{pinned}");
    let digest = digest_of(&pinned);

    // A third-party client reads what toolhost pushed: the CNCF Wasm layout.
    let raw = skopeo(&[
        "inspect",
        "--tls-verify=false",
        "--raw",
        &format!("docker://{}/plugins/text:1.0", reg.host()),
    ]);
    assert_eq!(sha256(&raw.stdout), digest, "the tag serves the pinned manifest");
    let m: Value = serde_json::from_slice(&raw.stdout).unwrap();
    assert_eq!(m["config"]["mediaType"], "application/vnd.wasm.config.v0+json");
    assert_eq!(m["layers"][0]["mediaType"], "application/wasm");
    assert_eq!(m["layers"][0]["digest"], sha256(&std::fs::read(&wasm).unwrap()));
    assert_eq!(m["layers"][1]["mediaType"], "application/vnd.toolhost.manifest.v1+toml");
    // The cosign signature tag, as `cosign verify --key` looks it up.
    let sig_tag = format!("docker://{}/plugins/text:{}.sig", reg.host(), digest.replace(':', "-"));
    let sig: Value =
        serde_json::from_slice(&skopeo(&["inspect", "--tls-verify=false", "--raw", &sig_tag]).stdout)
            .unwrap();
    assert_eq!(sig["layers"][0]["mediaType"], "application/vnd.dev.cosign.simplesigning.v1+json");
    assert!(sig["layers"][0]["annotations"]["dev.cosignproject.cosign/signature"].is_string(), "{sig}");

    // Pull by tag: verified, installed, locked.
    let pub_key = keys.join("toolhost.pub").display().to_string();
    let out = w.ok(&["pull", &reg.oci("plugins/text:1.0"), "--plugins", "pulled", "--verify-key", &pub_key]);
    assert_eq!(out, pinned);
    let pulled = w.path("pulled");
    assert_eq!(std::fs::read(pulled.join("text.wasm")).unwrap(), std::fs::read(&wasm).unwrap());
    assert_eq!(
        std::fs::read(pulled.join("text.toml")).unwrap(),
        std::fs::read(wasm.with_extension("toml")).unwrap()
    );
    let lock = lock_of(&pulled);
    let entry = &lock["plugin"][0];
    assert_eq!(entry["ref"].as_str(), Some(reg.oci("plugins/text:1.0").as_str()));
    assert_eq!(entry["digest"].as_str(), Some(digest.as_str()));
    assert!(entry["signer"].as_str().unwrap().starts_with("sha256:"), "{entry}");

    // The pulled plugin runs with the grants and config that travelled signed.
    let cache = shared_cache().display().to_string();
    let greet =
        w.ok(&["call", "text.greet", r#"{"name":"Ada"}"#, "--plugins", "pulled", "--cache-dir", &cache]);
    assert_eq!(greet, "Hi, Ada!");

    // `verify` re-checks offline; any local change is a mismatch (exit 1).
    let ok = w.th(&["verify", "pulled", "--verify-key", &pub_key]);
    assert_eq!(ok.status.code(), Some(0), "{}", String::from_utf8_lossy(&ok.stdout));
    assert!(String::from_utf8_lossy(&ok.stdout).starts_with("ok      text"));
    let toml_path = pulled.join("text.toml");
    let original = std::fs::read(&toml_path).unwrap();
    std::fs::write(&toml_path, [&original[..], b"\n[grants]\ninherit_env = [\"HOME\"]\n"].concat()).unwrap();
    let bad = w.th(&["verify", "pulled"]);
    assert_eq!(bad.status.code(), Some(1));
    let text = String::from_utf8_lossy(&bad.stdout);
    assert!(text.contains("FAILED  text  DIGEST_MISMATCH") && text.contains("text.toml"), "{text}");
    std::fs::write(&toml_path, &original).unwrap();
    let mut wasm_bytes = std::fs::read(pulled.join("text.wasm")).unwrap();
    wasm_bytes.push(0);
    std::fs::write(pulled.join("text.wasm"), wasm_bytes).unwrap();
    assert_eq!(w.th(&["verify", "pulled"]).status.code(), Some(1));
    // Another trusted key than the signer's: refused even with intact files.
    std::fs::write(pulled.join("text.wasm"), std::fs::read(&wasm).unwrap()).unwrap();
    let other = w.keygen("other");
    let other_pub = other.join("toolhost.pub").display().to_string();
    let wrong = w.th(&["verify", "pulled", "--verify-key", &other_pub]);
    assert_eq!(wrong.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&wrong.stdout).contains("SIGNATURE_INVALID"));
}

#[test]
fn skopeo_copy_carries_the_artifact_and_its_signature_and_pull_verifies_the_copy() {
    let reg = OciRegistry::start();
    let w = Work::new();
    let keys = w.keygen("keys");
    let wasm = w.plugin("src", "text", "text");
    let pinned = w.push(&wasm, &reg.oci("plugins/text:1.0"), Some(&keys));
    let digest = digest_of(&pinned);
    let sig_tag = format!("{}.sig", digest.replace(':', "-"));
    for tag in ["1.0", sig_tag.as_str()] {
        skopeo(&[
            "copy",
            "--all",
            "--src-tls-verify=false",
            "--dest-tls-verify=false",
            &format!("docker://{}/plugins/text:{tag}", reg.host()),
            &format!("docker://{}/mirror/text:{tag}", reg.host()),
        ]);
    }
    let pub_key = keys.join("toolhost.pub").display().to_string();
    let out = w.ok(&["pull", &reg.oci("mirror/text:1.0"), "--plugins", "pulled", "--verify-key", &pub_key]);
    assert_eq!(digest_of(&out), digest, "skopeo kept the manifest bytes, so the signature still applies");
    assert_eq!(std::fs::read(w.path("pulled/text.wasm")).unwrap(), std::fs::read(&wasm).unwrap());
    assert_eq!(w.th(&["verify", "pulled"]).status.code(), Some(0));
    // Without the .sig tag, the copy is an unsigned plugin.
    skopeo(&[
        "copy",
        "--all",
        "--src-tls-verify=false",
        "--dest-tls-verify=false",
        &format!("docker://{}/plugins/text:1.0", reg.host()),
        &format!("docker://{}/nosig/text:1.0", reg.host()),
    ]);
    w.refused(
        &["pull", &reg.oci("nosig/text:1.0"), "--plugins", "nosig", "--verify-key", &pub_key],
        "UNSIGNED_PLUGIN",
    );
}

#[test]
fn unsigned_and_foreign_signed_pulls_are_refused_and_nothing_is_installed() {
    let reg = OciRegistry::start();
    let w = Work::new();
    let (keys, other) = (w.keygen("keys"), w.keygen("other"));
    let pub_key = keys.join("toolhost.pub").display().to_string();
    let wasm = w.plugin("src", "text", "text");

    w.push(&wasm, &reg.oci("plugins/unsigned:1"), None);
    let err = w.refused(
        &["pull", &reg.oci("plugins/unsigned:1"), "--plugins", "p", "--verify-key", &pub_key],
        "UNSIGNED_PLUGIN",
    );
    assert!(err.contains("insecure_unsigned"), "{err}");
    assert!(!w.path("p/text.wasm").exists());
    // Opting out is explicit, and recorded.
    w.ok(&["pull", &reg.oci("plugins/unsigned:1"), "--plugins", "u", "--insecure-unsigned"]);
    assert_eq!(lock_of(&w.path("u"))["plugin"][0]["signer"].as_str(), Some("unsigned"));
    // Pulling needs a trust decision.
    assert_eq!(w.th(&["pull", &reg.oci("plugins/unsigned:1"), "--plugins", "x"]).status.code(), Some(2));

    w.push(&wasm, &reg.oci("plugins/foreign:1"), Some(&other));
    let err = w.refused(
        &["pull", &reg.oci("plugins/foreign:1"), "--plugins", "p", "--verify-key", &pub_key],
        "SIGNATURE_INVALID",
    );
    assert!(err.contains("does not verify"), "{err}");

    // Grants escalated by re-pushing the tag with a new NAME.toml, signed by
    // someone else: the signature for the new digest is not ours.
    w.push(&wasm, &reg.oci("plugins/text:1"), Some(&keys));
    let evil = w.plugin("evil", "text", "text");
    std::fs::write(evil.with_extension("toml"), "[grants]\ninherit_env = [\"HOME\"]\n").unwrap();
    w.push(&evil, &reg.oci("plugins/text:1"), Some(&other));
    w.refused(
        &["pull", &reg.oci("plugins/text:1"), "--plugins", "p", "--verify-key", &pub_key],
        "SIGNATURE_INVALID",
    );

    // Keyless needs its offline trust root (the keyless flows are in oci::keyless).
    let keyless = w.th(&[
        "pull",
        &reg.oci("plugins/text:1"),
        "--plugins",
        "p",
        "--identity",
        "https://accounts.example=ci@example.com",
    ]);
    assert_eq!(keyless.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&keyless.stderr).contains("--trust-root"), "{keyless:?}");
    assert!(!w.path("p/text.wasm").exists() && !w.path("p/toolhost.lock").exists());

    // A local plugin of the same name (not owned by the lock) is never replaced.
    w.plugin("local", "math", "text");
    let err = w.refused(
        &["pull", &reg.oci("plugins/unsigned:1"), "--plugins", "local", "--insecure-unsigned"],
        "PLUGIN_LOAD_FAILED",
    );
    assert!(err.contains("would overwrite a local plugin"), "{err}");
    let math = std::fs::read(example_plugins().join("math.wasm")).unwrap();
    assert_eq!(std::fs::read(w.path("local/text.wasm")).unwrap(), math);
}

#[test]
fn tampered_wasm_and_manifest_layers_in_the_registry_are_digest_mismatches() {
    for (layer, what) in [(0, "wasm layer"), (1, "manifest layer")] {
        let reg = OciRegistry::start();
        let w = Work::new();
        let keys = w.keygen("keys");
        let pub_key = keys.join("toolhost.pub").display().to_string();
        let wasm = w.plugin("src", "text", "text");
        let pinned = w.push(&wasm, &reg.oci("plugins/text:1.0"), Some(&keys));
        let raw = std::fs::read(reg.blob_file(&digest_of(&pinned))).unwrap();
        let m: Value = serde_json::from_slice(&raw).unwrap();
        reg.tamper_blob(m["layers"][layer]["digest"].as_str().unwrap());
        let err =
            w.refused(&["pull", &pinned, "--plugins", "p", "--verify-key", &pub_key], "DIGEST_MISMATCH");
        assert!(err.contains(what), "{what}: {err}");
        assert!(!w.path("p/text.wasm").exists() && !w.path("p/text.toml").exists());
    }
}

/// `toolhost:s3cret`, bcrypt (cost 12), as `htpasswd -B` writes it.
const HTPASSWD: &str = "toolhost:$2a$12$qvpIR0ZQFtmOl4TRw1/qWetVH9EGAct6JbZ4/cZegWkyFstjbsDZ2";

#[test]
fn registry_credentials_come_from_the_environment_or_the_docker_config() {
    let reg = OciRegistry::start_with(Some(HTPASSWD), None);
    let w = Work::new();
    let wasm = w.plugin("src", "text", "text");
    let reference = reg.oci("plugins/text:1.0");
    let args = ["push", wasm.to_str().unwrap(), reference.as_str()];
    let err = w.refused(&args, "PLUGIN_LOAD_FAILED");
    assert!(err.contains("not authorized") && err.contains("TOOLHOST_REGISTRY_AUTH"), "{err}");
    // TOOLHOST_REGISTRY_AUTH=user:pass.
    let out = Command::new(bin())
        .args(args)
        .env("DOCKER_CONFIG", w.path("docker"))
        .env("TOOLHOST_REGISTRY_AUTH", "toolhost:s3cret")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    // ~/.docker/config.json's auths.<host>.auth (here under $DOCKER_CONFIG).
    let auth = format!(r#"{{"auths":{{"{}":{{"auth":"dG9vbGhvc3Q6czNjcmV0"}}}}}}"#, reg.host());
    std::fs::write(w.path("docker/config.json"), auth).unwrap();
    w.ok(&["pull", &reference, "--plugins", "p", "--insecure-unsigned"]);
    assert!(w.path("p/text.wasm").exists());
}

#[test]
fn docker_credential_helpers_are_asked_before_the_config_file() {
    let reg = OciRegistry::start_with(Some(HTPASSWD), None);
    let w = Work::new();
    let wasm = w.plugin("src", "text", "text");
    let reference = reg.oci("plugins/text:1.0");
    // A credential helper as docker runs it: `docker-credential-NAME get`,
    // the registry host on stdin, JSON on stdout; it logs what it was asked.
    let bin_dir = w.path("helpers");
    std::fs::create_dir_all(&bin_dir).unwrap();
    let script = format!(
        "#!/bin/sh\nread host\necho \"$1 $host\" >> {log}\nif [ \"$host\" = \"{host}\" ]; then\n  printf '{{\"ServerURL\":\"%s\",\"Username\":\"toolhost\",\"Secret\":\"s3cret\"}}' \"$host\"\nelse\n  echo 'credentials not found in native keychain'; exit 1\nfi\n",
        log = w.path("helper.log").display(),
        host = reg.host()
    );
    let helper = bin_dir.join("docker-credential-toolhosttest");
    std::fs::write(&helper, script).unwrap();
    std::fs::set_permissions(&helper, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let path = format!("{}:{}", bin_dir.display(), std::env::var("PATH").unwrap_or_default());
    let run = |args: &[&str]| {
        Command::new(bin())
            .args(args)
            .current_dir(w.dir.path())
            .env_remove("TOOLHOST_REGISTRY_AUTH")
            .env("DOCKER_CONFIG", w.path("docker"))
            .env("PATH", &path)
            .output()
            .unwrap()
    };
    let config = |json: String| std::fs::write(w.path("docker/config.json"), json).unwrap();
    // credsStore: every registry; the file's (wrong) auth is not used.
    let wrong = r#""auths":{"HOST":{"auth":"dG9vbGhvc3Q6d3Jvbmc="}}"#.replace("HOST", &reg.host());
    config(format!(r#"{{{wrong},"credsStore":"toolhosttest"}}"#));
    let pushed = run(&["push", wasm.to_str().unwrap(), &reference]);
    assert!(pushed.status.success(), "{}", String::from_utf8_lossy(&pushed.stderr));
    assert!(std::fs::read_to_string(w.path("helper.log")).unwrap().contains(&format!("get {}", reg.host())));
    // credHelpers.<host> wins over a store that cannot run.
    config(format!(r#"{{"credHelpers":{{"{}":"toolhosttest"}},"credsStore":"missing"}}"#, reg.host()));
    let pulled = run(&["pull", &reference, "--plugins", "p", "--insecure-unsigned"]);
    assert!(pulled.status.success(), "{}", String::from_utf8_lossy(&pulled.stderr));
    // A helper without an entry falls through to the file's (wrong) auth: refused.
    config(format!(r#"{{{wrong},"credHelpers":{{"{}":"missing"}}}}"#, reg.host()));
    let refused = run(&["pull", &reference, "--plugins", "q", "--insecure-unsigned"]);
    let err = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(refused.status.code(), Some(2), "{err}");
    assert!(err.contains("not authorized"), "{err}");
}

/// A name for a local registry that is not literally loopback, so toolhost
/// must speak HTTPS to it, while traffic stays on this machine: the host name
/// when it resolves to loopback addresses only (Debian's /etc/hosts maps it),
/// else this machine's own non-loopback address (found without sending
/// anything; `TOOLHOST_TEST_NO_HOSTNAME=1` forces this). The name, the
/// address the registry listens on, and the certificate's subjectAltName.
fn local_https_name() -> (String, String, String) {
    use std::net::ToSocketAddrs;
    let name = std::fs::read_to_string("/etc/hostname").unwrap_or_default().trim().to_string();
    let addrs: Vec<_> = (name.as_str(), 443).to_socket_addrs().map(|a| a.collect()).unwrap_or_default();
    if std::env::var_os("TOOLHOST_TEST_NO_HOSTNAME").is_none()
        && !name.is_empty()
        && name != "localhost"
        && !addrs.is_empty()
        && addrs.iter().all(|a| a.ip().is_loopback())
    {
        return (name.clone(), "127.0.0.1".into(), format!("DNS:{name}"));
    }
    let probe = std::net::UdpSocket::bind("0.0.0.0:0").unwrap();
    let own = probe.connect("192.0.2.1:9").and_then(|_| probe.local_addr()).map(|a| a.ip());
    let ip = own.ok().filter(|ip| !ip.is_loopback() && !ip.is_unspecified()).unwrap_or_else(|| {
        panic!("the HTTPS registry test needs a local name that is not loopback: the host name {name:?} resolves to {addrs:?} and this machine has no other address")
    });
    (ip.to_string(), ip.to_string(), format!("IP:{ip}"))
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl").args(args).current_dir(dir).output().expect("openssl runs");
    assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn registries_that_are_not_loopback_are_spoken_to_over_verified_https() {
    let (name, ip, san) = local_https_name();
    let w = Work::new();
    let d = w.path("");
    let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"];
    openssl(
        &d,
        &[
            &["req", "-x509"][..],
            &ec,
            &["-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=toolhost test CA"],
        ]
        .concat(),
    );
    openssl(
        &d,
        &[&["req"][..], &ec, &["-keyout", "leaf.key", "-out", "leaf.csr", "-subj", &format!("/CN={name}")]]
            .concat(),
    );
    std::fs::write(
        w.path("ext.cnf"),
        format!("subjectAltName={san}\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n"),
    )
    .unwrap();
    openssl(
        &d,
        &[
            "x509",
            "-req",
            "-in",
            "leaf.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "leaf.pem",
            "-days",
            "2",
            "-extfile",
            "ext.cnf",
        ],
    );
    let reg = OciRegistry::start_on(&ip, None, Some((&w.path("leaf.pem"), &w.path("leaf.key"))));
    let keys = w.keygen("keys");
    let wasm = w.plugin("src", "text", "text");
    let reference = format!("oci://{name}:{}/plugins/text:1.0", reg.port);
    let run = |args: &[&str], ca: bool| {
        let mut c = Command::new(bin());
        c.args(args)
            .current_dir(w.dir.path())
            .env("DOCKER_CONFIG", w.path("docker"))
            .env_remove("SSL_CERT_FILE");
        if ca {
            c.env("SSL_CERT_FILE", w.path("ca.pem"));
        }
        c.output().unwrap()
    };
    let key = keys.join("toolhost.key").display().to_string();
    let pushed = run(&["push", wasm.to_str().unwrap(), &reference, "--sign-key", &key], true);
    assert!(pushed.status.success(), "{}", String::from_utf8_lossy(&pushed.stderr));
    let pub_key = keys.join("toolhost.pub").display().to_string();
    // The system roots do not know the test CA: the certificate is checked.
    let untrusted =
        run(&["pull", &reference, "--plugins", "p", "--verify-key", &pub_key, "--log", "off"], false);
    let err = String::from_utf8_lossy(&untrusted.stderr);
    assert_eq!(untrusted.status.code(), Some(2), "{err}");
    assert!(
        err.contains("REGISTRY_UNAVAILABLE") && err.contains("https://") && err.contains("UnknownIssuer"),
        "{err}"
    );
    assert!(!w.path("p/text.wasm").exists());
    let pulled = run(&["pull", &reference, "--plugins", "p", "--verify-key", &pub_key], true);
    assert!(pulled.status.success(), "{}", String::from_utf8_lossy(&pulled.stderr));
    assert_eq!(std::fs::read(w.path("p/text.wasm")).unwrap(), std::fs::read(&wasm).unwrap());
}

/// `toolhost serve --http 127.0.0.1:0` from a work folder's toolhost.toml.
struct Serve {
    child: Child,
    url: String,
    log: std::sync::Arc<std::sync::Mutex<String>>,
}

impl Serve {
    fn start(w: &Work) -> Serve {
        let mut child = Command::new(bin())
            .args(["serve", "--http", "127.0.0.1:0", "--config", "toolhost.toml"])
            .current_dir(w.dir.path())
            .env_remove("RUST_LOG")
            .env("DOCKER_CONFIG", w.path("docker"))
            .env("TOOLHOST_LOG_FORMAT", "json")
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let log = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let url = loop {
            let line = lines.next().expect("serve printed its address").unwrap();
            log.lock().unwrap().push_str(&line);
            log.lock().unwrap().push('\n');
            if let Some(rest) = line.split("listening on ").nth(1) {
                break rest.split_whitespace().next().unwrap().to_string();
            }
        };
        let l2 = log.clone();
        std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                l2.lock().unwrap().push_str(&line);
            }
        });
        Serve { child, url, log }
    }

    fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    async fn tools(&self) -> Vec<String> {
        let v: Value = reqwest::get(format!("{}/v1/tools", self.url)).await.unwrap().json().await.unwrap();
        v["tools"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap().to_string()).collect()
    }

    /// Polls /readyz until a plugin failure carries `code` (10 s at most).
    async fn wait_for_failure(&self, code: &str) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let v: Value = reqwest::get(format!("{}/readyz", self.url)).await.unwrap().json().await.unwrap();
            if v["plugin_failures"].to_string().contains(code) {
                return;
            }
            assert!(Instant::now() < deadline, "no {code} failure reported: {v}\n{}", self.log());
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn readyz(&self) -> Value {
        reqwest::get(format!("{}/readyz", self.url)).await.unwrap().json().await.unwrap()
    }

    async fn greet(&self) -> Value {
        let body = r#"{"tool":"text.greet","arguments":{"name":"Ada"}}"#;
        let r = reqwest::Client::new()
            .post(format!("{}/v1/calls", self.url))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        r.json().await.unwrap()
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_pulls_signed_sources_keeps_the_locked_digest_and_survives_registry_outages() {
    let mut reg = OciRegistry::start();
    let w = Work::new();
    let keys = w.keygen("keys");
    let wasm = w.plugin("src", "text", "text");
    let first = w.push(&wasm, &reg.oci("plugins/text:1.0"), Some(&keys));
    let math = w.plugin("src", "math", "math");
    w.push(&math, &reg.oci("plugins/math:1.0"), None);
    // Another repository whose (validly signed) artifact is also plugin `text`.
    w.push(&wasm, &reg.oci("other/text:1.0"), Some(&keys));
    let config = format!(
        "plugins_dir = \"plugins\"\ncache_dir = {cache:?}\n\n\
         [[sources]]\nref = \"{text}\"\nverify_key = \"keys/toolhost.pub\"\n\n\
         [[sources]]\nref = \"{math}\"\nverify_key = \"keys/toolhost.pub\"\n\n\
         [[sources]]\nref = \"{other}\"\nverify_key = \"keys/toolhost.pub\"\n",
        cache = shared_cache().display().to_string(),
        text = reg.oci("plugins/text:1.0"),
        math = reg.oci("plugins/math:1.0"),
        other = reg.oci("other/text:1.0"),
    );
    std::fs::write(w.path("toolhost.toml"), config).unwrap();

    // First start: the signed source is pulled, locked and served; the
    // unsigned one is refused and serves nothing.
    let s = Serve::start(&w);
    let tools = s.tools().await;
    assert!(tools.contains(&"text.greet".to_string()), "{tools:?}\n{}", s.log());
    assert!(!tools.iter().any(|t| t.starts_with("math.")), "{tools:?}");
    assert!(s.log().contains("UNSIGNED_PLUGIN"), "{}", s.log());
    assert!(!w.path("plugins/math.wasm").exists());
    let ready = s.readyz().await;
    assert_eq!(ready["sources"], 3, "{ready}");
    let failures = ready["source_failures"].as_array().unwrap();
    assert_eq!(failures.len(), 2, "{ready}");
    // One plugin name, one source: the second `text` is refused, the first serves.
    assert_eq!(failures[1]["code"], "PLUGIN_LOAD_FAILED");
    assert!(s.log().contains("one plugin name, one source"), "{}", s.log());
    assert_eq!(lock_of(&w.path("plugins"))["plugin"].as_array().unwrap().len(), 1);
    assert_eq!(failures[0]["code"], "UNSIGNED_PLUGIN");
    assert_eq!(failures[0]["serving"], false);
    assert!(failures[0]["source"].as_str().unwrap().ends_with("plugins/math:1.0"), "{ready}");
    assert_eq!(s.greet().await["results"][0]["value"], "Hi, Ada!");
    assert_eq!(lock_of(&w.path("plugins"))["plugin"][0]["digest"].as_str(), Some(digest_of(&first).as_str()));
    // A pulled file altered while serving is refused by the hot reload (the
    // load gate checks the lock); the verified version keeps serving.
    let toml_path = w.path("plugins/text.toml");
    let good = std::fs::read(&toml_path).unwrap();
    std::fs::write(&toml_path, "[config]\ngreeting = \"Pwned\"\n").unwrap();
    s.wait_for_failure("DIGEST_MISMATCH").await;
    assert_eq!(s.greet().await["results"][0]["value"], "Hi, Ada!");
    std::fs::write(&toml_path, good).unwrap();
    // Registry down mid-serve: nothing changes for callers.
    reg.stop();
    assert_eq!(s.greet().await["results"][0]["value"], "Hi, Ada!");
    drop(s);

    // The tag moves (a new NAME.toml, even validly signed): the lock wins.
    reg.restart();
    std::fs::write(wasm.with_extension("toml"), "[config]\ngreeting = \"Yo\"\n").unwrap();
    let moved = w.push(&wasm, &reg.oci("plugins/text:1.0"), Some(&keys));
    assert_ne!(digest_of(&moved), digest_of(&first));
    let s = Serve::start(&w);
    assert_eq!(s.greet().await["results"][0]["value"], "Hi, Ada!", "{}", s.log());
    assert!(
        s.log().contains("DIGEST_MISMATCH") && s.log().contains("moved after it was locked"),
        "{}",
        s.log()
    );
    assert_eq!(lock_of(&w.path("plugins"))["plugin"][0]["digest"].as_str(), Some(digest_of(&first).as_str()));
    drop(s);
    // `toolhost list --json` reports the same under `sources`.
    let listed: Value =
        serde_json::from_str(&w.ok(&["list", "--json", "--config", "toolhost.toml"])).unwrap();
    let text_source = &listed["sources"][0];
    assert_eq!(text_source["plugin"], "text", "{listed}");
    assert_eq!(text_source["digest"].as_str(), Some(digest_of(&first).as_str()));
    assert_eq!(text_source["code"], "DIGEST_MISMATCH");
    assert_eq!(listed["sources"][1]["code"], "UNSIGNED_PLUGIN");

    // Registry down at start: logged, and the locked copy serves.
    reg.stop();
    let s = Serve::start(&w);
    assert!(s.log().contains("REGISTRY_UNAVAILABLE"), "{}", s.log());
    assert_eq!(s.greet().await["results"][0]["value"], "Hi, Ada!");
    let text_source = &s.readyz().await["source_failures"][0];
    assert_eq!(
        (text_source["code"].as_str(), text_source["serving"].as_bool()),
        (Some("REGISTRY_UNAVAILABLE"), Some(true))
    );
    drop(s);

    // A locked copy altered on disk while the registry is down: not served.
    std::fs::write(w.path("plugins/text.toml"), "[config]\ngreeting = \"Pwned\"\n").unwrap();
    let s = Serve::start(&w);
    assert!(!s.tools().await.contains(&"text.greet".to_string()), "{}", s.log());
    assert!(s.log().contains("DIGEST_MISMATCH"), "{}", s.log());
    drop(s);
    // Back up: the locked digest is fetched again and serves.
    reg.restart();
    let s = Serve::start(&w);
    assert_eq!(s.greet().await["results"][0]["value"], "Hi, Ada!", "{}", s.log());
    // The operator accepts the moved tag: `toolhost pull` into the served
    // folder re-locks it, and hot reload serves the new version.
    let pub_key = keys.join("toolhost.pub").display().to_string();
    let pulled =
        w.ok(&["pull", &reg.oci("plugins/text:1.0"), "--plugins", "plugins", "--verify-key", &pub_key]);
    assert_eq!(pulled, moved);
    let deadline = Instant::now() + Duration::from_secs(10);
    while s.greet().await["results"][0]["value"] != "Yo, Ada!" {
        assert!(Instant::now() < deadline, "the re-pulled version was not served: {}", s.log());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
