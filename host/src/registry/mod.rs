//! The plugin registry: what is loaded, what failed, and which tools each
//! tenant sees.
//!
//! The catalog is an immutable snapshot behind an `ArcSwap`: lookups are
//! synchronous and lock-free (MCP's `get_tool` is sync), a reload builds a new
//! snapshot off to the side and swaps it in atomically, and in-flight calls
//! keep the `Arc<Plugin>` version they started with. A plugin that fails to
//! reload keeps serving its last good version.

pub(crate) mod loader;
pub mod manifest;
pub mod schema;
pub mod tenant;
pub(crate) mod watch;

use crate::config::{Limits, RuntimeConfig};
use crate::error::{Error, Result};
use crate::runtime::{CompileSource, PluginCode, Runtime};
use arc_swap::ArcSwap;
use manifest::Grants;
use schema::Schema;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tenant::Tenants;

pub use loader::{PluginSource, valid_name};

/// One tool, as validated at load.
#[derive(Debug)]
pub struct ToolSpec {
    /// Unique name (`namespace.tool` or `tool`).
    pub name: String,
    /// Text before the first dot, if any.
    pub namespace: Option<String>,
    /// Description for the model.
    pub description: String,
    /// Safe to cache and retry.
    pub idempotent: bool,
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
    pub(crate) code: PluginCode,
    /// Its tools.
    pub tools: Vec<Arc<ToolSpec>>,
    /// Compiled now or loaded from the compile cache.
    pub source: CompileSource,
    /// Time to load (read, compile or cache load, describe).
    pub load_time: Duration,
    /// Warm instances, when the manifest asks for them (`[instances] mode = "warm"`).
    pub warm: Option<Arc<crate::runtime::WarmPool>>,
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
}

fn errors_json<S: serde::Serializer>(errors: &[Error], s: S) -> std::result::Result<S::Ok, S::Error> {
    s.collect_seq(errors.iter().map(Error::to_json))
}

/// An immutable snapshot of everything served.
#[derive(Debug, Default)]
pub struct Catalog {
    tools: BTreeMap<String, ToolEntry>,
    plugins: Vec<PluginStatus>,
}

impl Catalog {
    /// Every plugin file and its state, sorted by name.
    pub fn plugins(&self) -> &[PluginStatus] {
        &self.plugins
    }
}

/// A change the registry made.
#[derive(Debug, Clone, Serialize)]
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

#[derive(Debug)]
struct Slot {
    path: PathBuf,
    good: Option<Arc<Plugin>>,
    error: Option<Error>,
}

/// The registry of one plugin folder.
pub struct Registry {
    runtime: Arc<Runtime>,
    dir: PathBuf,
    defaults: Limits,
    rt: RuntimeConfig,
    tenants: Tenants,
    catalog: ArcSwap<Catalog>,
    slots: tokio::sync::Mutex<BTreeMap<String, Slot>>,
    events: tokio::sync::broadcast::Sender<RegistryEvent>,
    progress: Option<ProgressFn>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry").field("dir", &self.dir).finish()
    }
}

impl Registry {
    pub(crate) fn new(
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
            tenants,
            catalog: ArcSwap::from_pointee(Catalog::default()),
            slots: tokio::sync::Mutex::new(BTreeMap::new()),
            events: tokio::sync::broadcast::channel(64).0,
            progress,
        }
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
        cat.tools.get(name).filter(|e| self.tenants.allows(tenant, &e.plugin.name, name)).cloned()
    }

    /// Every tool `tenant` may see, sorted by name.
    pub fn tools(&self, tenant: &str) -> Vec<ToolEntry> {
        let cat = self.catalog.load();
        cat.tools
            .values()
            .filter(|e| self.tenants.allows(tenant, &e.plugin.name, &e.tool.name))
            .cloned()
            .collect()
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
    /// folder: reloads never touch it.
    pub async fn add(&self, src: PluginSource) -> Result<Arc<Plugin>> {
        let mut slots = self.slots.lock().await;
        let name = src.name.clone();
        let path = src.path.clone();
        let result = loader::load(&self.runtime, src, &self.defaults, &self.rt).await;
        let out = match result {
            Ok(p) => {
                let p = Arc::new(p);
                slots.insert(name.clone(), Slot { path, good: Some(p.clone()), error: None });
                Ok(p)
            }
            Err(e) => {
                slots.entry(name.clone()).or_insert_with(|| Slot { path, good: None, error: None }).error =
                    Some(e.clone());
                Err(e)
            }
        };
        self.catalog.store(Arc::new(build_catalog(&slots)));
        let event = match &out {
            Ok(_) => RegistryEvent { loaded: vec![name], failed: vec![], removed: vec![] },
            Err(e) => RegistryEvent {
                loaded: vec![],
                failed: vec![(name, format!("{}: {e}", e.code()))],
                removed: vec![],
            },
        };
        crate::observe::metrics::plugin_loads(&event);
        let _ = self.events.send(event);
        out
    }

    /// Re-reads the given plugin files (names with extension, relative to the
    /// folder): new and changed files load, deleted ones are unregistered,
    /// failures keep the last good version.
    pub async fn reload_files(&self, files: Vec<String>) -> RegistryEvent {
        let mut slots = self.slots.lock().await;
        let mut event = RegistryEvent { loaded: vec![], failed: vec![], removed: vec![] };
        let total = files.len();
        let mut set = tokio::task::JoinSet::new();
        for (i, file) in files.into_iter().enumerate() {
            let path = self.dir.join(&file);
            let (runtime, defaults, rt) = (self.runtime.clone(), self.defaults.clone(), self.rt.clone());
            set.spawn(async move {
                let result = if !path.exists() {
                    None
                } else if path.extension().and_then(|x| x.to_str()) == Some("cwasm") {
                    Some(Err(Error::PluginLoad {
                        path: path.clone(),
                        reason: "precompiled .cwasm files are never loaded from the plugin folder; provide the .wasm component".into(),
                    }))
                } else {
                    match loader::read_source(&path, &rt).await {
                        Ok(src) => Some(loader::load(&runtime, src, &defaults, &rt).await),
                        Err(e) => Some(Err(e)),
                    }
                };
                (i, path, result)
            });
        }
        let mut done = Vec::with_capacity(total);
        while let Some(joined) = set.join_next().await {
            let Ok(item) = joined else { continue };
            if let (_, _, Some(Ok(p))) = &item {
                crate::observe::metrics::compile_cache(p.source == CompileSource::Cache);
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
        for (_, path, result) in done {
            let name = slot_name(&path);
            match result {
                None => {
                    if slots.remove(&name).is_some() {
                        tracing::info!(plugin = %name, "plugin removed");
                        event.removed.push(name);
                    }
                }
                Some(Ok(plugin)) => {
                    tracing::info!(plugin = %name, tools = plugin.tools.len(), source = ?plugin.source,
                        ms = plugin.load_time.as_millis() as u64, digest = %&plugin.digest[..12], "plugin loaded");
                    slots.insert(name.clone(), Slot { path, good: Some(Arc::new(plugin)), error: None });
                    event.loaded.push(name);
                }
                Some(Err(e)) => {
                    tracing::warn!(plugin = %name, code = %e.code(), error = %e, "plugin failed to load");
                    event.failed.push((name.clone(), format!("{}: {e}", e.code())));
                    slots.entry(name).or_insert_with(|| Slot { path, good: None, error: None }).error =
                        Some(e);
                }
            }
        }
        self.catalog.store(Arc::new(build_catalog(&slots)));
        crate::observe::metrics::plugin_loads(&event);
        let _ = self.events.send(event.clone());
        event
    }
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

/// Builds the snapshot: tool names claimed by two plugins are served by
/// neither, and every claimant's status names all of them.
fn build_catalog(slots: &BTreeMap<String, Slot>) -> Catalog {
    let mut owners: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (name, slot) in slots {
        for t in slot.good.iter().flat_map(|p| p.tools.iter()) {
            owners.entry(&t.name).or_default().push(name);
        }
    }
    let mut tools = BTreeMap::new();
    let mut plugins = Vec::with_capacity(slots.len());
    for (name, slot) in slots {
        let mut errors: Vec<Error> = slot.error.iter().cloned().collect();
        let mut served = vec![];
        if let Some(p) = &slot.good {
            for t in &p.tools {
                let claimants = &owners[t.name.as_str()];
                if claimants.len() > 1 {
                    errors.push(Error::DuplicateTool {
                        tool: t.name.clone(),
                        plugins: claimants.iter().map(|s| s.to_string()).collect(),
                    });
                } else {
                    served.push(t.name.clone());
                    tools.insert(t.name.clone(), ToolEntry { tool: t.clone(), plugin: p.clone() });
                }
            }
        }
        let state = match (&slot.good, &slot.error) {
            (Some(_), None) => PluginState::Loaded,
            (Some(_), Some(_)) => PluginState::Stale,
            (None, _) => PluginState::Failed,
        };
        plugins.push(PluginStatus {
            name: name.clone(),
            path: slot.path.clone(),
            state,
            digest: slot.good.as_ref().map(|p| p.digest.clone()),
            tools: served,
            errors,
        });
    }
    Catalog { tools, plugins }
}
