//! Shared helpers: where the built guests are, and hosts over temp folders.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use tempfile::TempDir;
use toolhost::{CallRequest, Config, Host};

/// The repository root.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

fn built(rel: &str) -> PathBuf {
    let p = repo().join(rel);
    assert!(
        p.exists(),
        "{} is missing: build the guests first with scripts/build-plugins.sh (the test command does)",
        p.display()
    );
    p
}

/// Folder of the example plugins built by `scripts/build-plugins.sh`.
pub fn example_plugins() -> PathBuf {
    built("build/plugins")
}

/// The hostile guest component (tests/fixtures/guest).
pub fn hostile() -> Vec<u8> {
    static BYTES: OnceLock<Vec<u8>> = OnceLock::new();
    BYTES.get_or_init(|| std::fs::read(built("build/fixtures/hostile.wasm")).unwrap()).clone()
}

/// One compile cache shared by every test and kept across runs (entries are
/// keyed by component digest and engine), so each guest compiles once: the
/// Python and JavaScript components take seconds to compile.
pub fn shared_cache() -> PathBuf {
    let base = std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(std::env::temp_dir);
    let p = base.join("toolhost-test-cache");
    std::fs::create_dir_all(&p).unwrap();
    p
}

/// A plugin folder in a temp dir.
pub struct Folder {
    pub dir: TempDir,
}

impl Folder {
    pub fn new() -> Folder {
        Folder { dir: tempfile::tempdir().unwrap() }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Writes `NAME.wasm`.
    pub fn wasm(&self, name: &str, bytes: &[u8]) -> &Self {
        std::fs::write(self.path().join(format!("{name}.wasm")), bytes).unwrap();
        self
    }

    /// Writes `NAME.toml`.
    pub fn manifest(&self, name: &str, text: &str) -> &Self {
        std::fs::write(self.path().join(format!("{name}.toml")), text).unwrap();
        self
    }

    /// Writes any file.
    pub fn file(&self, name: &str, bytes: &[u8]) -> &Self {
        std::fs::write(self.path().join(name), bytes).unwrap();
        self
    }

    pub fn config(&self) -> Config {
        let mut cfg = Config::default();
        cfg.plugins_dir = self.path().to_path_buf();
        cfg.cache_dir = Some(shared_cache());
        cfg
    }

    pub async fn host(&self) -> Host {
        Host::builder().config(self.config()).build().await.expect("host builds")
    }
}

/// A host serving the hostile guest as plugin `h` (with an optional manifest).
pub async fn hostile_host(manifest: Option<&str>) -> (Host, Folder) {
    let f = Folder::new();
    f.wasm("h", &hostile());
    if let Some(m) = manifest {
        f.manifest("h", m);
    }
    let host = f.host().await;
    assert_loaded(&host, "h");
    (host, f)
}

/// Panics with the load errors unless `plugin` loaded cleanly.
pub fn assert_loaded(host: &Host, plugin: &str) {
    let cat = host.catalog();
    let st = cat.plugins().iter().find(|p| p.name == plugin).unwrap_or_else(|| panic!("no plugin {plugin}"));
    assert_eq!(st.state, toolhost::PluginState::Loaded, "{plugin}: {:?}", st.errors);
}

/// The load errors of `plugin`.
pub fn load_errors(host: &Host, plugin: &str) -> Vec<toolhost::Error> {
    let cat = host.catalog();
    cat.plugins()
        .iter()
        .find(|p| p.name == plugin)
        .unwrap_or_else(|| panic!("no plugin {plugin}"))
        .errors
        .clone()
}

/// Calls `tool` with JSON args.
pub async fn call(
    host: &Host,
    tool: &str,
    args: serde_json::Value,
) -> toolhost::Result<toolhost::CallResponse> {
    host.call(CallRequest::json(tool, &args)).await
}

/// The bystander check: the hostile guest's `ok` tool still answers.
pub async fn bystander_ok(host: &Host) {
    let r = call(host, "ok", serde_json::json!({"still": "alive"})).await.expect("bystander call succeeds");
    assert_eq!(r.output.value, Some(serde_json::json!({"still": "alive"})));
}
