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

/// A host over the hostile guest (plugin `h`) configured by `toml` (a
/// `toolhost.toml` text; plugins folder and compile cache are filled in).
pub async fn host_with(toml: &str) -> (Host, Folder) {
    host_with_manifest(toml, None).await
}

/// [`host_with`], and `h.toml` holding `manifest` when given.
pub async fn host_with_manifest(toml: &str, manifest: Option<&str>) -> (Host, Folder) {
    let f = Folder::new();
    f.wasm("h", &hostile());
    if let Some(m) = manifest {
        f.manifest("h", m);
    }
    let mut cfg = toolhost::Config::from_toml(toml).unwrap();
    cfg.plugins_dir = f.path().to_path_buf();
    cfg.cache_dir = Some(shared_cache());
    let host = Host::builder().config(cfg).build().await.unwrap();
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

/// A real `redis-server` on a free loopback port, in a temp folder, killed on
/// drop. The test command installs the Debian package; `stop` and `restart`
/// simulate an outage (same port, data kept in memory is lost on stop).
pub struct RedisServer {
    pub port: u16,
    child: Option<std::process::Child>,
    dir: TempDir,
}

impl RedisServer {
    /// Starts a server and waits until it answers PING.
    pub fn start() -> RedisServer {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let mut s = RedisServer { port, child: None, dir: tempfile::tempdir().unwrap() };
        s.restart();
        s
    }

    /// `redis://127.0.0.1:PORT/0`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    /// Kills the server (SIGKILL): clients see connection errors.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts it again on the same port.
    pub fn restart(&mut self) {
        self.stop();
        let bin = which_redis();
        let child = std::process::Command::new(bin)
            .args([
                "--port",
                &self.port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .arg("--dir")
            .arg(self.dir.path())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("redis-server runs (the test command installs it: apt-get install redis-server)");
        self.child = Some(child);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            if let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", self.port)) {
                use std::io::{Read, Write};
                let _ = s.set_read_timeout(Some(std::time::Duration::from_millis(500)));
                if s.write_all(b"PING\r\n").is_ok() {
                    let mut buf = [0u8; 7];
                    if s.read_exact(&mut buf).is_ok() && &buf == b"+PONG\r\n" {
                        return;
                    }
                }
            }
            assert!(std::time::Instant::now() < deadline, "redis-server did not start on port {}", self.port);
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }

    /// Runs `redis-cli` against this server and returns its stdout.
    pub fn cli(&self, args: &[&str]) -> String {
        let out = std::process::Command::new("redis-cli")
            .args(["-p", &self.port.to_string()])
            .args(args)
            .output()
            .expect("redis-cli runs");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}

fn which_redis() -> PathBuf {
    for p in ["/usr/bin/redis-server", "/usr/local/bin/redis-server"] {
        if Path::new(p).exists() {
            return PathBuf::from(p);
        }
    }
    PathBuf::from("redis-server")
}
