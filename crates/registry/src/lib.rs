//! The plugin registry: what is loaded, what failed, and which tools each
//! tenant sees.
//!
//! The catalog is an immutable snapshot behind an `ArcSwap`: lookups are
//! synchronous and lock-free (MCP's `get_tool` is sync), a reload builds a new
//! snapshot off to the side and swaps it in atomically, and in-flight calls
//! keep the `Arc<Plugin>` version they started with. A plugin that fails to
//! reload keeps serving its last good version.

mod disabled;
pub(crate) mod loader;
pub mod manifest;
pub mod schema;
mod slots;
pub mod tenant;
pub mod watch;

use arc_swap::ArcSwap;
use schema::Schema;
use serde::Serialize;
use slots::{Fingerprint, Slot};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tenant::Tenants;
use toolhost_core::error::{Error, Result};
use toolhost_runtime::Grants;
use toolhost_runtime::{CompileSource, PluginCode, Runtime};
use toolhost_runtime::{Limits, RuntimeConfig};

pub use loader::{PluginSource, valid_name};

/// One tool, as validated at load.
#[derive(Debug)]
pub struct ToolSpec {
    /// Unique name (`namespace.tool` or `tool`).
    pub name: String,
    /// Text before the first dot, if any.
    pub namespace: Option<String>,
    /// Human-readable name (0.2).
    pub title: Option<String>,
    /// Description for the model.
    pub description: String,
    /// Safe to cache and retry.
    pub idempotent: bool,
    /// Behaviour hints (0.2 plugins; `None` for 0.1, which could not say).
    pub annotations: Option<toolhost_core::catalog::ToolAnnotations>,
    /// Icons (0.2).
    pub icons: Vec<toolhost_core::catalog::Icon>,
    /// Usually runs longer than a client waits (0.2): offered as a task.
    pub long_running: bool,
    /// Name of the plugin that provides it.
    pub plugin: String,
    /// Compiled input schema.
    pub input: Schema,
    /// Compiled output schema, if declared.
    pub output: Option<Schema>,
}

/// One loaded plugin version.
#[derive(Debug)]
pub struct Plugin {
    /// File stem of the `.wasm`.
    pub name: String,
    /// The file it was loaded from.
    pub path: PathBuf,
    /// sha256 of the file, hex.
    pub digest: String,
    /// sha256 over `digest` and everything in the manifest that can change a
    /// call's result (`[config]`, `[grants]`, the effective limits), hex; the
    /// result cache keys on it, so a manifest-only change is a new key.
    pub cache_digest: String,
    /// Process-unique number of this loaded version (a reload gets a new
    /// one; never reused): what it validates arguments against is fixed for it.
    pub generation: u64,
    /// File size, bytes.
    pub size: u64,
    /// Effective per-call limits (defaults + manifest).
    pub limits: Limits,
    /// The manifest's own `timeout_ms`, if it set one (a policy level).
    pub timeout_override: Option<Duration>,
    /// Capabilities from the manifest.
    pub grants: Grants,
    /// `[config]` values from the manifest.
    pub config: Arc<BTreeMap<String, String>>,
    /// The compiled component, as the runtime instantiates it.
    pub code: PluginCode,
    /// Its tools.
    pub tools: Vec<Arc<ToolSpec>>,
    /// Compiled now or loaded from the compile cache.
    pub source: CompileSource,
    /// Time to load (read, compile or cache load, describe).
    pub load_time: Duration,
    /// Warm instances, when the manifest asks for them (`[instances] mode = "warm"`).
    pub warm: Option<Arc<toolhost_runtime::WarmPool>>,
    /// Contract version and optional exports.
    pub capabilities: toolhost_runtime::Capabilities,
    /// Its prompts (read at load).
    pub prompts: Vec<toolhost_core::catalog::PromptDescriptor>,
    /// Its resource templates (read at load).
    pub templates: Vec<toolhost_core::catalog::ResourceTemplate>,
}

/// A tool and the plugin version that serves it.
#[derive(Debug, Clone)]
pub struct ToolEntry {
    /// The tool.
    pub tool: Arc<ToolSpec>,
    /// The plugin version.
    pub plugin: Arc<Plugin>,
}

impl ToolEntry {
    /// A JSON view: `{name, namespace, description, input_schema, output_schema, idempotent, plugin}`.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "name": self.tool.name,
            "namespace": self.tool.namespace,
            "description": self.tool.description,
            "input_schema": self.tool.input.document,
            "output_schema": self.tool.output.as_ref().map(|s| &s.document),
            "idempotent": self.tool.idempotent,
            "title": self.tool.title,
            "annotations": self.tool.annotations,
            "icons": self.tool.icons,
            "long_running": self.tool.long_running,
            "plugin": self.plugin.name,
        })
    }
}

/// Load state of one plugin file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PluginState {
    /// Loaded; all its tools are served.
    Loaded,
    /// The newest file failed to load; the last good version is still served.
    Stale,
    /// Not served.
    Failed,
}

/// What the registry knows about one plugin file.
#[derive(Debug, Clone, Serialize)]
pub struct PluginStatus {
    /// File stem.
    pub name: String,
    /// File path.
    pub path: PathBuf,
    /// Load state.
    pub state: PluginState,
    /// sha256 of the version being served.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
    /// Tools being served from it.
    pub tools: Vec<String>,
    /// The latest load error and any tool-name conflicts.
    #[serde(serialize_with = "errors_json")]
    pub errors: Vec<Error>,
    /// Disabled by an operator: its tools are not served (`tools` lists what
    /// it would serve).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub disabled: bool,
}

fn errors_json<S: serde::Serializer>(errors: &[Error], s: S) -> std::result::Result<S::Ok, S::Error> {
    s.collect_seq(errors.iter().map(Error::to_json))
}

/// Tool name → what serves it. Hashed, not ordered: every call looks a tool
/// up, while only listings want names in order (they sort).
type ToolMap = std::collections::HashMap<String, ToolEntry, toolhost_core::fold_hash::BuildFold>;

/// An immutable snapshot of everything served.
#[derive(Debug, Default)]
pub struct Catalog {
    tools: ToolMap,
    plugins: Vec<PluginStatus>,
    /// The version served of each plugin file, by name.
    served: BTreeMap<String, Arc<Plugin>>,
    /// Tools of disabled plugins: tool → plugin.
    hidden: BTreeMap<String, String>,
}

impl Catalog {
    /// Every plugin file and its state, sorted by name.
    pub fn plugins(&self) -> &[PluginStatus] {
        &self.plugins
    }
}

/// A change the registry made.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RegistryEvent {
    /// Plugins (re)loaded successfully.
    pub loaded: Vec<String>,
    /// Plugins that failed to (re)load, with the error code and message.
    pub failed: Vec<(String, String)>,
    /// Plugins whose files were removed.
    pub removed: Vec<String>,
}

/// Progress of a load, for progress lines and bars.
#[derive(Debug, Clone)]
pub struct LoadProgress {
    /// 1-based position.
    pub index: usize,
    /// Plugins in this load.
    pub total: usize,
    /// Plugin name.
    pub plugin: String,
    /// `Ok((source, tools, time))` or the error.
    pub outcome: std::result::Result<(CompileSource, usize, Duration), Error>,
}

/// Callback receiving [`LoadProgress`].
pub type ProgressFn = Arc<dyn Fn(&LoadProgress) + Send + Sync>;

/// A check every plugin file must pass before it is compiled (its path and
/// the component bytes about to be loaded); an error fails that load like
/// any other (on reload the last good version keeps serving). The host uses
/// it to keep plugins pulled from OCI registries matching their lock.
pub type LoadGate = Arc<dyn Fn(&Path, &[u8]) -> Result<()> + Send + Sync>;

/// The registry of one plugin folder.
pub struct Registry {
    runtime: Arc<Runtime>,
    dir: PathBuf,
    defaults: Limits,
    rt: RuntimeConfig,
    tenants: ArcSwap<Tenants>,
    /// Plugins an operator disabled (kept across reloads of their files).
    disabled: std::sync::Mutex<std::collections::BTreeSet<String>>,
    catalog: ArcSwap<Catalog>,
    slots: tokio::sync::Mutex<BTreeMap<String, Slot>>,
    events: tokio::sync::broadcast::Sender<RegistryEvent>,
    progress: Option<ProgressFn>,
    started: std::sync::atomic::AtomicBool,
    gate: Option<LoadGate>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry").field("dir", &self.dir).finish()
    }
}

impl Registry {
    pub fn new(
        runtime: Arc<Runtime>,
        dir: PathBuf,
        defaults: Limits,
        rt: RuntimeConfig,
        tenants: Tenants,
        progress: Option<ProgressFn>,
    ) -> Registry {
        Registry {
            runtime,
            dir,
            defaults,
            rt,
            tenants: ArcSwap::from_pointee(tenants),
            disabled: Default::default(),
            catalog: ArcSwap::from_pointee(Catalog::default()),
            slots: tokio::sync::Mutex::new(BTreeMap::new()),
            events: tokio::sync::broadcast::channel(64).0,
            progress,
            started: std::sync::atomic::AtomicBool::new(false),
            gate: None,
        }
    }

    /// Every plugin file read from the folder must pass `gate` before it loads.
    pub fn with_gate(mut self, gate: LoadGate) -> Registry {
        self.gate = Some(gate);
        self
    }

    /// The plugin folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The current snapshot.
    pub fn catalog(&self) -> Arc<Catalog> {
        self.catalog.load_full()
    }

    /// Subscribes to reload events.
    pub fn subscribe(&self) -> tokio::sync::broadcast::Receiver<RegistryEvent> {
        self.events.subscribe()
    }

    /// The tool `name` if `tenant` may see it. Exact match only.
    pub fn lookup(&self, tenant: &str, name: &str) -> Option<ToolEntry> {
        let cat = self.catalog.load();
        cat.tools.get(name).filter(|e| self.tenants.load().allows(tenant, &e.plugin.name, name)).cloned()
    }

    /// Every served plugin `tenant` may use, by name (for prompts, resources
    /// and completion, which follow the tenant's `plugins` list).
    pub fn plugins_for(&self, tenant: &str) -> Vec<Arc<Plugin>> {
        let cat = self.catalog.load();
        let tenants = self.tenants.load();
        cat.served.values().filter(|p| tenants.allows_plugin(tenant, &p.name)).cloned().collect()
    }

    /// Every tool `tenant` may see, sorted by name.
    pub fn tools(&self, tenant: &str) -> Vec<ToolEntry> {
        let cat = self.catalog.load();
        let tenants = self.tenants.load();
        let mut tools: Vec<ToolEntry> = cat
            .tools
            .values()
            .filter(|e| tenants.allows(tenant, &e.plugin.name, &e.tool.name))
            .cloned()
            .collect();
        tools.sort_unstable_by(|a, b| a.tool.name.cmp(&b.tool.name));
        tools
    }

    /// Loads every `*.wasm` in the folder (a missing folder is an error).
    pub async fn load_all(&self) -> Result<RegistryEvent> {
        let entries = std::fs::read_dir(&self.dir).map_err(|e| {
            Error::Configuration(format!("cannot read plugins folder {}: {e}", self.dir.display()))
        })?;
        let mut names: Vec<String> = entries
            .filter_map(|e| e.ok())
            .map(|e| e.path())
            .filter(|p| {
                p.is_file() && matches!(p.extension().and_then(|x| x.to_str()), Some("wasm" | "cwasm"))
            })
            .filter_map(|p| p.file_name().and_then(|s| s.to_str()).map(str::to_string))
            .collect();
        names.sort();
        Ok(self.reload_files(names).await)
    }

    /// Adds (or replaces) a plugin given in memory. It is not tied to the
    /// folder: reloads never touch it. Once the host is up, a plugin whose
    /// tools another plugin serves is refused, as on reload.
    pub async fn add(&self, src: PluginSource) -> Result<Arc<Plugin>> {
        let mut slots = self.slots.lock().await;
        let prev = self.incumbents();
        let name = src.name.clone();
        let path = src.path.clone();
        let mut event = RegistryEvent::default();
        let out = match loader::load(&self.runtime, src, &self.defaults, &self.rt).await {
            Ok(p) => {
                let p = Arc::new(p);
                slots::accept(&mut slots, &prev, &name, path, p.clone()).map(|()| p)
            }
            Err(e) => {
                slots::fail(&mut slots, &name, path, e.clone());
                Err(e)
            }
        };
        match &out {
            Ok(_) => event.loaded.push(name),
            Err(e) => event.failed.push((name, format!("{}: {e}", e.code()))),
        }
        self.publish(&mut slots, &prev, event);
        out
    }

    /// Re-reads the given plugin files (names with extension, relative to the
    /// folder): new and changed files load, deleted ones are unregistered,
    /// failures keep the last good version.
    ///
    /// A file that has not changed since its last attempt (size, times, inode
    /// of it and its manifest) is not tried again, so a broken file is
    /// reported once per change, however often it is announced.
    pub async fn reload_files(&self, files: Vec<String>) -> RegistryEvent {
        let mut slots = self.slots.lock().await;
        let jobs = self.changed(&slots, files);
        if jobs.is_empty() {
            return RegistryEvent::default();
        }
        let prev = self.incumbents();
        let mut event = RegistryEvent::default();
        let mut accepted = Vec::new();
        for (path, seen, result) in self.load_files(jobs).await {
            let name = slot_name(&path);
            match result {
                None => {
                    if slots.remove(&name).is_some() {
                        tracing::info!(plugin = %name, "plugin removed");
                        event.removed.push(name);
                    }
                }
                Some(Ok(plugin)) => accepted.push((name, path, seen, Arc::new(plugin))),
                Some(Err(e)) => {
                    tracing::warn!(plugin = %name, code = %e.code(), error = %e, "plugin failed to load");
                    event.failed.push((name.clone(), format!("{}: {e}", e.code())));
                    slots::fail(&mut slots, &name, path, e);
                    slots.get_mut(&name).expect("just recorded").seen = Some(seen);
                }
            }
        }
        // After removals and failures, so a plugin whose file went away in
        // the same burst is no incumbent.
        for (name, path, seen, plugin) in accepted {
            let (tools, source, ms) =
                (plugin.tools.len(), plugin.source, plugin.load_time.as_millis() as u64);
            let digest = plugin.digest[..12].to_string();
            let verdict = slots::accept(&mut slots, &prev, &name, path, plugin);
            slots.get_mut(&name).expect("just recorded").seen = Some(seen);
            match verdict {
                Ok(()) => {
                    tracing::info!(plugin = %name, tools, ?source, ms, %digest, "plugin loaded");
                    event.loaded.push(name);
                }
                Err(e) => {
                    tracing::warn!(plugin = %name, code = %e.code(), error = %e, "plugin refused");
                    event.failed.push((name, format!("{}: {e}", e.code())));
                }
            }
        }
        self.publish(&mut slots, &prev, event)
    }

    /// The files worth a load attempt, with their fingerprints: new, changed
    /// or removed since the last attempt (or last failed in a way a retry may fix).
    fn changed(&self, slots: &BTreeMap<String, Slot>, files: Vec<String>) -> Vec<(String, Fingerprint)> {
        files
            .into_iter()
            .filter_map(|file| {
                let path = self.dir.join(&file);
                let now = Fingerprint::of(&path);
                let skip = match slots.get(&slot_name(&path)) {
                    Some(slot) => slot.unchanged(&now),
                    None => !now.exists(),
                };
                if skip {
                    tracing::debug!(file, "plugin file unchanged since its last load attempt");
                }
                (!skip).then_some((file, now))
            })
            .collect()
    }

    /// Loads the given files concurrently; `(path, seen, None)` for a file that is gone.
    async fn load_files(
        &self,
        files: Vec<(String, Fingerprint)>,
    ) -> Vec<(PathBuf, Fingerprint, Option<Result<Plugin>>)> {
        let total = files.len();
        let mut set = tokio::task::JoinSet::new();
        let mut seen = Vec::with_capacity(total);
        let mut tasks = std::collections::HashMap::new();
        for (i, (file, fingerprint)) in files.into_iter().enumerate() {
            seen.push(fingerprint);
            let path = self.dir.join(&file);
            let (runtime, defaults, rt) = (self.runtime.clone(), self.defaults.clone(), self.rt.clone());
            let gate = self.gate.clone();
            let task_path = path.clone();
            let task = set.spawn(async move {
                #[cfg(test)]
                tests::maybe_panic(&path);
                let result = if !path.exists() {
                    None
                } else if path.extension().and_then(|x| x.to_str()) == Some("cwasm") {
                    Some(Err(Error::PluginLoad {
                        path: path.clone(),
                        reason: "precompiled .cwasm files are never loaded from the plugin folder; provide the .wasm component".into(),
                    }))
                } else {
                    match loader::read_source(&path, &rt).await {
                        Ok(src) => match gate.as_ref().map_or(Ok(()), |g| g(&path, &src.bytes)) {
                            Ok(()) => Some(loader::load(&runtime, src, &defaults, &rt).await),
                            Err(e) => Some(Err(e)),
                        },
                        Err(e) => Some(Err(e)),
                    }
                };
                (i, path, result)
            });
            tasks.insert(task.id(), (i, task_path));
        }
        let mut done = Vec::with_capacity(total);
        while let Some(joined) = set.join_next_with_id().await {
            let item = match joined {
                Ok((_, item)) => item,
                // A panic fails exactly that plugin, loudly; the others load.
                Err(e) => {
                    let (i, path) = tasks.remove(&e.id()).expect("every task is recorded");
                    (i, path.clone(), Some(Err(panicked(&path, e))))
                }
            };
            if let (_, _, Some(Ok(p))) = &item {
                toolhost_core::observe::metrics::compile_cache(p.source == CompileSource::Cache);
            }
            if let (Some(progress), (_, path, Some(result))) = (&self.progress, &item) {
                progress(&LoadProgress {
                    index: done.len() + 1,
                    total,
                    plugin: slot_name(path),
                    outcome: result
                        .as_ref()
                        .map(|p| (p.source, p.tools.len(), p.load_time))
                        .map_err(Clone::clone),
                });
            }
            done.push(item);
        }
        done.sort_by_key(|(i, _, _)| *i);
        done.into_iter().map(|(i, path, result)| (path, seen[i].clone(), result)).collect()
    }

    /// Who serves what, once the host is up; nothing is incumbent during the
    /// initial load, so an ambiguous name is refused for every claimant.
    fn incumbents(&self) -> slots::Owners {
        if self.started.load(std::sync::atomic::Ordering::Acquire) {
            slots::owners(&self.catalog.load())
        } else {
            slots::Owners::new()
        }
    }

    /// Marks the initial load done: from now on serving plugins are incumbents.
    pub fn mark_started(&self) {
        self.started.store(true, std::sync::atomic::Ordering::Release);
    }

    /// Promotes refused versions whose tools are free, swaps in the new
    /// snapshot and announces the change.
    fn publish(
        &self,
        slots: &mut BTreeMap<String, Slot>,
        prev: &slots::Owners,
        mut event: RegistryEvent,
    ) -> RegistryEvent {
        for name in slots::promote(slots, prev) {
            tracing::info!(plugin = %name, "plugin loaded: the tools it was refused for are free now");
            event.failed.retain(|(n, _)| *n != name);
            event.loaded.push(name);
        }
        let disabled = self.disabled.lock().unwrap_or_else(|e| e.into_inner()).clone();
        self.catalog.store(Arc::new(slots::hide(slots::build(slots, prev), &disabled)));
        toolhost_core::observe::metrics::plugin_loads(
            event.loaded.len(),
            event.failed.len(),
            event.removed.len(),
        );
        let _ = self.events.send(event.clone());
        event
    }
}

/// The error of a load task that panicked (or was cancelled), logged.
fn panicked(path: &Path, e: tokio::task::JoinError) -> Error {
    let name = slot_name(path);
    let why = match e.try_into_panic() {
        Ok(payload) => panic_message(payload.as_ref()),
        Err(e) => e.to_string(),
    };
    tracing::error!(plugin = %name, path = %path.display(), panic = %why, "plugin load task panicked");
    Error::Internal(format!("loading plugin '{name}' ({}) panicked: {why}", path.display()))
}

/// The message of a panic payload.
pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".into())
}

/// `x.wasm` and `x.cwasm` share the slot `x`, but a `.cwasm` gets its own
/// name so it can never shadow the component.
fn slot_name(path: &Path) -> String {
    let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or_default();
    match path.extension().and_then(|x| x.to_str()) {
        Some("cwasm") => format!("{stem}.cwasm"),
        _ => stem.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use toolhost_core::error::ErrorCode;

    /// File names whose load task panics (a fault no real input should reach).
    static PANIC_ON_LOAD: std::sync::Mutex<Vec<&'static str>> = std::sync::Mutex::new(Vec::new());

    pub(super) fn maybe_panic(path: &Path) {
        let names = PANIC_ON_LOAD.lock().unwrap_or_else(|e| e.into_inner()).clone();
        if names.iter().any(|n| path.file_name().is_some_and(|f| f == *n)) {
            panic!("injected fault while loading {}", path.display());
        }
    }

    fn hostile() -> Vec<u8> {
        let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../build/fixtures/hostile.wasm");
        std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e} (run scripts/build-plugins.sh)", p.display()))
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_panicked_load_task_fails_that_plugin_with_an_internal_error() {
        PANIC_ON_LOAD.lock().unwrap().push("boom_panics.wasm");
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("good.wasm"), hostile()).unwrap();
        std::fs::write(dir.path().join("boom_panics.wasm"), hostile()).unwrap();
        let rt = RuntimeConfig::default();
        let runtime = Arc::new(Runtime::new(&rt, 100_000, None).unwrap());
        let tenants = Tenants::compile(&Default::default()).unwrap();
        let reg = Registry::new(runtime, dir.path().into(), Limits::default(), rt, tenants, None);
        let ev = reg.load_all().await.unwrap();
        assert_eq!(ev.loaded, ["good"], "the other plugin loads");
        let cat = reg.catalog();
        let boom = cat.plugins().iter().find(|p| p.name == "boom_panics");
        let boom = boom.expect("the panicked plugin is listed as failed, not skipped");
        assert_eq!(boom.state, PluginState::Failed);
        assert_eq!(boom.errors[0].code(), ErrorCode::Internal);
        let msg = boom.errors[0].to_string();
        assert!(msg.contains("boom_panics") && msg.contains("injected fault"), "{msg}");
        assert!(ev.failed.iter().any(|(n, m)| n == "boom_panics" && m.starts_with("INTERNAL")), "{ev:?}");
        assert!(reg.lookup("default", "ok").is_some());
    }
}
