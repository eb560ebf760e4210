//! # toolhost-runtime
//!
//! The sandbox: the only crate that names wasmtime.
//!
//! One [`Runtime`] per process owns the `Engine`, the `Linker` (WASI p2 plus
//! the `host` interface, built once), the epoch ticker and the compile cache.
//! Every call gets a fresh `Store` owned by one tenant, instantiated from the
//! plugin's cached `InstancePre`, bounded by an epoch deadline, an optional
//! fuel budget, a memory/table limiter, hostcall fuel (output size) and a
//! wall-clock backstop; the store is dropped when the call ends, whatever
//! happened, so a trapped or interrupted instance is never reused.

pub(crate) mod bindings;
mod cache;
mod classify;
mod client_token;
mod config;
mod contract;
mod convert;
mod egress;
mod engine;
mod grants;
pub(crate) mod http;
mod limiter;
mod mac;
mod offers;
mod pool;
mod secret_ref;
mod secrets;
mod state;
mod stdio;
mod ticker;
mod wasi;

pub use classify::HOSTCALL_FUEL_TEXT;
pub use client_token::ClientCredentials;
pub use config::{Allocator, Limits, LimitsOverride, RuntimeConfig};
pub use contract::Capabilities;
pub use convert::RawDescriptor;
pub use engine::AllocatorKind;
pub use grants::{DirGrant, Grants, HttpGrant, InstanceMode, InstancePolicy};
pub use pool::{WarmPool, WarmStats};
pub use secrets::HostAuth;
pub use toolhost_core::events::{EventSink, GuestEvent};

use cache::CompileCache;
use contract::{LinkError, Linked, Live, Op, Raw};
pub use egress::{Resolver, SystemResolver};
pub use http::split_host_port;
use limiter::CallLimiter;
use state::StoreState;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};
use stdio::CapturedOutput;
use ticker::EpochTicker;
use toolhost_core::call::{CallStats, CancelToken, ToolOutput};
use toolhost_core::catalog::ResourceUpdates;
use toolhost_core::error::{Error, Result};
use toolhost_core::interact::Interact;
use wasmtime::component::{Component, Linker, ResourceTable};
use wasmtime::{Engine, Store, UpdateDeadline};

/// Ticks between cooperative yields of a running guest: a spinning guest gives
/// its tokio worker back this often, and cancellation is noticed this fast.
const YIELD_EVERY_TICKS: u64 = 2;

/// Extra bytes of hostcall fuel above the output cap (argument strings,
/// content framing).
const HOSTCALL_HEADROOM: usize = 64 * 1024;

/// A compiled and linked plugin, ready to instantiate. Cheap to clone;
/// in-flight calls keep the version they started with alive.
#[derive(Clone)]
pub struct PluginCode {
    linked: Arc<Linked>,
}

impl PluginCode {
    /// The contract version it was built against and its optional exports.
    pub fn capabilities(&self) -> Capabilities {
        self.linked.capabilities()
    }
}

impl std::fmt::Debug for PluginCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PluginCode")
    }
}

/// How a component was obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CompileSource {
    /// Compiled from the `.wasm` now.
    Compiled,
    /// Loaded from the compile cache.
    Cache,
}

/// Everything one call needs besides the code.
#[allow(missing_docs)]
pub struct CallSpec<'a> {
    pub tenant: &'a str,
    pub plugin: &'a str,
    pub tool: &'a str,
    pub call_id: &'a str,
    pub limits: &'a Limits,
    pub grants: &'a Grants,
    /// The plugin's `[config]`, borrowed: the store takes the one clone it
    /// keeps (each clone and drop writes a count every core shares).
    pub config: &'a Arc<BTreeMap<String, String>>,
    pub events: Option<EventSink>,
    pub cancel: Option<CancelToken>,
    /// Wall-clock budget of this call.
    pub budget: Duration,
    /// Warm instances of this plugin version (manifest `[instances] mode = "warm"`).
    pub warm: Option<&'a WarmPool>,
    /// The request context's headers, set on every outbound HTTP request the guest makes.
    pub outbound_headers: &'a [(&'static str, String)],
    /// Answers the guest's `elicit`/`sample` (none: `INPUT_REQUIRED`).
    pub interact: Option<Arc<dyn Interact>>,
    /// Where the guest's `resource-updated` goes.
    pub resource_updates: Option<&'a ResourceUpdates>,
}

/// The request context handed to the guest.
#[allow(missing_docs)]
pub struct GuestContext {
    pub call_id: String,
    pub request_id: Option<String>,
    pub tenant_id: Option<String>,
    pub user_id: Option<String>,
    pub traceparent: Option<String>,
    pub deadline_ms: Option<u64>,
    pub attempt: u32,
    pub metadata: Vec<(String, String)>,
}

/// The process-wide wasm runtime.
pub struct Runtime {
    engine: Engine,
    linker: Linker<StoreState>,
    ticker: EpochTicker,
    cache: Option<Arc<CompileCache>>,
    compile_permits: Arc<tokio::sync::Semaphore>,
    cfg: RuntimeConfig,
    allocator: AllocatorKind,
    max_table_elements: u64,
    pools: pool::Pools,
    resolver: Arc<dyn Resolver>,
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime").field("allocator", &self.allocator).field("cfg", &self.cfg).finish()
    }
}

impl Runtime {
    /// Creates the engine, linker, ticker and (optionally) the compile cache.
    pub fn new(cfg: &RuntimeConfig, max_table_elements: u64, cache_dir: Option<&Path>) -> Result<Runtime> {
        let (engine, allocator) = engine::build(cfg, max_table_elements as usize)?;
        let mut linker = Linker::<StoreState>::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)
            .map_err(|e| Error::Configuration(format!("linking WASI: {e}")))?;
        // Linked for everyone, denied per request unless the manifest grants the host.
        wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)
            .map_err(|e| Error::Configuration(format!("linking wasi:http: {e}")))?;
        bindings::v1::Plugin::add_to_linker::<_, wasmtime::component::HasSelf<_>>(&mut linker, |s| s)
            .map_err(|e| Error::Configuration(format!("linking host API 0.1: {e}")))?;
        bindings::v2::Server::add_to_linker::<_, wasmtime::component::HasSelf<_>>(&mut linker, |s| s)
            .map_err(|e| Error::Configuration(format!("linking host API 0.2: {e}")))?;
        let cache = match cache_dir {
            Some(dir) => match CompileCache::open(dir, &engine) {
                Ok(c) => Some(Arc::new(c)),
                Err(e) => {
                    tracing::warn!(dir = %dir.display(), error = %e, "compile cache unavailable; compiling every start");
                    None
                }
            },
            None => None,
        };
        let ticker = EpochTicker::start(engine.clone(), Duration::from_millis(cfg.epoch_tick_ms));
        tracing::debug!(?allocator, tick_ms = cfg.epoch_tick_ms, fuel = cfg.fuel, "runtime ready");
        Ok(Runtime {
            engine,
            linker,
            ticker,
            cache,
            compile_permits: Arc::new(tokio::sync::Semaphore::new(cfg.compile_concurrency.max(1))),
            cfg: cfg.clone(),
            allocator,
            max_table_elements,
            // Idle warm instances hold pool slots: half the pool stays for calls.
            pools: pool::Pools::new(cfg.pool_instances as usize / 2),
            resolver: Arc::new(SystemResolver),
        })
    }

    /// Replaces the resolver of plugins' outbound HTTP (default: the system's).
    /// Its answers are filtered by each plugin's grant all the same.
    pub fn set_resolver(&mut self, resolver: Arc<dyn Resolver>) {
        self.resolver = resolver;
    }

    /// A new warm-instance pool for one plugin version (swept in the background).
    pub fn warm_pool(&self, policy: crate::InstancePolicy) -> Arc<WarmPool> {
        self.pools.create(policy)
    }

    /// The shared engine, for the benchmarks that compare against a bare
    /// wasmtime call on this very engine. Behind the `raw-engine` feature: no
    /// other crate may name wasmtime.
    #[cfg(feature = "raw-engine")]
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The allocator in use.
    pub fn allocator(&self) -> AllocatorKind {
        self.allocator
    }

    /// False when the epoch ticker has stalled (deadlines would not fire).
    pub fn healthy(&self) -> bool {
        !self.ticker.is_stalled()
    }

    /// Checks the header, compiles (or loads from the cache) and links a
    /// plugin. Compilation runs on the blocking pool behind a semaphore and
    /// inside `catch_unwind`: a hostile binary cannot block or crash the host.
    pub async fn prepare(
        &self,
        path: &Path,
        bytes: Arc<Vec<u8>>,
        digest: &str,
    ) -> Result<(PluginCode, CompileSource)> {
        sniff(path, &bytes)?;
        let (component, source) = self.compile(path, bytes, digest).await?;
        self.check_imports(path, &component)?;
        let linked = Linked::link(&self.linker, &component).map_err(|e| match e {
            LinkError::Imports(found) => Error::Incompatible {
                path: path.to_path_buf(),
                expected: "imports from WASI 0.2 and toolhost:plugin@0.2.0 or @0.1.0".into(),
                found,
            },
            LinkError::Exports(e) => Error::Incompatible {
                path: path.to_path_buf(),
                expected: format!(
                    "world `plugin` exporting {} (or {})",
                    contract::TOOL_EXPORT_V2,
                    contract::TOOL_EXPORT_V1
                ),
                found: format!("exports [{}] ({e})", export_names(&self.engine, &component).join(", ")),
            },
        })?;
        Ok((PluginCode { linked: Arc::new(linked) }, source))
    }

    async fn compile(
        &self,
        path: &Path,
        bytes: Arc<Vec<u8>>,
        digest: &str,
    ) -> Result<(Component, CompileSource)> {
        let _permit = self.compile_permits.acquire().await.expect("semaphore never closed");
        // Verifying an entry reads and hashes all of it: off the async threads.
        if let Some(cache) = self.cache.clone() {
            let (engine, key) = (self.engine.clone(), digest.to_string());
            if let Ok(Some(c)) = tokio::task::spawn_blocking(move || cache.load(&engine, &key)).await {
                return Ok((c, CompileSource::Cache));
            }
        }
        let engine = self.engine.clone();
        let owned_path = path.to_path_buf();
        let compiled = tokio::task::spawn_blocking(move || {
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| Component::from_binary(&engine, &bytes)))
        })
        .await;
        let component = match compiled {
            Ok(Ok(Ok(c))) => c,
            Ok(Ok(Err(e))) => return Err(self.compile_error(&owned_path, format!("{e:#}"))),
            Ok(Err(_)) | Err(_) => {
                return Err(load_error(&owned_path, "the compiler panicked on this file".into()));
            }
        };
        if let Some(cache) = self.cache.clone() {
            let (component, key) = (component.clone(), digest.to_string());
            let _ = tokio::task::spawn_blocking(move || cache.store(&key, &component)).await;
        }
        Ok((component, CompileSource::Compiled))
    }

    /// Refuses, listing all of them, imports outside WASI 0.2 and this contract.
    fn check_imports(&self, path: &Path, component: &Component) -> Result<()> {
        let ty = component.component_type();
        let refused: Vec<String> = ty
            .imports(&self.engine)
            .map(|(name, _)| name.to_string())
            .filter(|name| !import_allowed(name, self.cfg.deny_network_imports))
            .collect();
        if refused.is_empty() {
            Ok(())
        } else if refused.iter().all(|i| i.starts_with("toolhost:plugin/")) {
            // Built against another version of the contract.
            Err(Error::Incompatible {
                path: path.to_path_buf(),
                expected: format!(
                    "toolhost:plugin@0.2.x or @0.1.x (world `plugin` exporting {})",
                    contract::TOOL_EXPORT_V2
                ),
                found: refused.join(", "),
            })
        } else {
            Err(Error::ForbiddenImport { path: path.to_path_buf(), imports: refused })
        }
    }

    /// A compile failure: a memory or table larger than any pool slot is a
    /// resource limit; anything else is a malformed component.
    fn compile_error(&self, path: &Path, text: String) -> Error {
        if text.contains("does not fit in pooling allocator") {
            let (resource, limit) = if text.contains("table") {
                (toolhost_core::error::Resource::Table, self.max_table_elements)
            } else {
                (toolhost_core::error::Resource::Memory, self.cfg.max_memory_mib * 1024 * 1024)
            };
            return Error::ResourceExhausted { tool: None, resource, limit, detail: Some(preview(&text)) };
        }
        load_error(path, format!("invalid component: {text}"))
    }

    /// Runs `describe()` in a fresh store.
    pub async fn describe(&self, code: &PluginCode, spec: CallSpec<'_>) -> Result<Vec<RawDescriptor>> {
        self.op(code, spec, Op::Describe, |raw, _| match raw {
            Raw::Descriptors(d, annotated) => {
                Ok(d.into_iter().map(|d| convert::descriptor(d, annotated)).collect())
            }
            _ => unreachable!("describe returns descriptors"),
        })
        .await
    }

    /// Runs one tool call and converts its result.
    pub async fn call(
        &self,
        code: &PluginCode,
        spec: CallSpec<'_>,
        name: &str,
        args: &str,
        ctx: GuestContext,
    ) -> (Result<ToolOutput>, CallStats) {
        let tool = spec.tool;
        let cap = spec.limits.output_bytes;
        let (raw, stats) = self.run(code, spec, Op::Call { name, args, ctx: ctx.into() }).await;
        let result = match raw {
            Ok(Raw::Call(Ok(out))) => convert::output(tool, out, cap),
            Ok(Raw::Call(Err(e))) => Err(convert::tool_error(tool, e)),
            Ok(_) => unreachable!("call returns a result"),
            Err(e) => Err(e),
        };
        (result, stats)
    }

    /// Runs one operation in a fresh store and picks its answer with `take`
    /// (given the raw answer and `spec.tool`, the name errors use).
    async fn op<T>(
        &self,
        code: &PluginCode,
        spec: CallSpec<'_>,
        op: Op<'_>,
        take: impl FnOnce(Raw, &str) -> Result<T>,
    ) -> Result<T> {
        let subject = spec.tool;
        let (raw, _) = self.run(code, spec, op).await;
        take(raw?, subject)
    }

    fn new_store(&self, spec: &CallSpec<'_>) -> Result<Store<StoreState>> {
        let limits = spec.limits;
        let stdout = CapturedOutput::new(limits.stdio_bytes);
        let stderr = CapturedOutput::new(limits.stdio_bytes);
        let wasi = wasi::build_ctx(spec.grants, &stdout, &stderr)
            .map_err(|e| Error::Configuration(format!("plugin '{}' grants: {e}", spec.plugin)))?;
        let mut table = ResourceTable::new();
        table.set_max_capacity(10_000);
        let deadline = Instant::now() + spec.budget;
        let plugin: Arc<str> = spec.plugin.into();
        let state = StoreState {
            http: wasmtime_wasi_http::WasiHttpCtx::new(),
            http_hooks: http::HttpHooks {
                policy: spec.grants.http_policy.clone(),
                deadline,
                plugin: plugin.clone(),
                resolver: self.resolver.clone(),
                context: spec.outbound_headers.to_vec(),
                contacted: Vec::new(),
            },
            tenant: spec.tenant.into(),
            plugin,
            tool: spec.tool.into(),
            call_id: spec.call_id.into(),
            wasi,
            table,
            limiter: CallLimiter::new(limits.memory_bytes(), limits.table_elements, limits.instances),
            config: spec.config.clone(),
            events: spec.events.clone(),
            stdout,
            stderr,
            log_lines: 0,
            dropped_events: 0,
            deadline,
            cancel: spec.cancel.clone(),
            stop: None,
            interact: spec.interact.clone(),
            resource_updates: spec.resource_updates.cloned(),
            input_required: None,
        };
        let mut store = Store::new(&self.engine, state);
        store.limiter(|s| &mut s.limiter);
        // The deadline is checked every few ticks; between checks the guest
        // yields so its worker thread can serve others and cancellation lands.
        let tick = self.ticker.tick();
        store.epoch_deadline_callback(move |mut ctx| {
            let s = ctx.data_mut();
            if s.cancel.as_ref().is_some_and(CancelToken::is_cancelled) {
                s.stop = Some(state::Stop::Cancelled);
                return Ok(UpdateDeadline::Interrupt);
            }
            let now = Instant::now();
            if now >= s.deadline {
                s.stop = Some(state::Stop::Timeout);
                return Ok(UpdateDeadline::Interrupt);
            }
            let left = (s.deadline - now).as_nanos().div_ceil(tick.as_nanos().max(1)) as u64 + 1;
            Ok(UpdateDeadline::Yield(left.min(YIELD_EVERY_TICKS)))
        });
        self.arm(&mut store, spec);
        Ok(store)
    }

    /// Per-call budgets of a store: hostcall fuel, fuel, first epoch deadline.
    fn arm(&self, store: &mut Store<StoreState>, spec: &CallSpec<'_>) {
        let limits = spec.limits;
        store.set_hostcall_fuel(limits.output_bytes as usize + HOSTCALL_HEADROOM);
        if self.cfg.fuel {
            store.set_fuel(limits.fuel.unwrap_or(u64::MAX)).expect("fuel is enabled");
        }
        store.set_epoch_deadline(YIELD_EVERY_TICKS.min(self.ticker.ticks_for(spec.budget)));
    }

    /// Readies a warm store for its next call: the call's identity, hooks,
    /// deadline and budgets; the captures start empty.
    fn rearm(&self, store: &mut Store<StoreState>, spec: &CallSpec<'_>) {
        let deadline = Instant::now() + spec.budget;
        let s = store.data_mut();
        s.tool = spec.tool.into();
        s.call_id = spec.call_id.into();
        s.config = spec.config.clone();
        s.events = spec.events.clone();
        s.cancel = spec.cancel.clone();
        s.deadline = deadline;
        s.http_hooks.deadline = deadline;
        s.http_hooks.context = spec.outbound_headers.to_vec();
        s.http_hooks.contacted.clear();
        s.stop = None;
        s.interact = spec.interact.clone();
        s.resource_updates = spec.resource_updates.cloned();
        s.input_required = None;
        s.log_lines = 0;
        s.dropped_events = 0;
        s.stdout.reset();
        s.stderr.reset();
        self.arm(store, spec);
    }

    /// Runs `op` on a warm or fresh instance within the call's budget, backstop and cancel
    /// token; an instance whose call succeeded cleanly goes back to the warm pool.
    async fn run(&self, code: &PluginCode, spec: CallSpec<'_>, op: Op<'_>) -> (Result<Raw>, CallStats) {
        let started = Instant::now();
        let (mut store, instance, calls) = match self.store_for(&spec, &op) {
            Ok(s) => s,
            Err(e) => return (Err(e), CallStats::default()),
        };
        // Wall-clock backstop for time spent in host calls, which epochs do
        // not interrupt.
        let backstop = spec.budget + self.ticker.tick() * 4 + Duration::from_millis(20);
        let outcome = {
            // Boxed, so the call's futures above it (moved whole at each
            // layer) carry a pointer, not wasmtime's instantiate and call state.
            let work = Box::pin(invoke(code, &mut store, instance, op));
            let cancelled = CancelToken::cancelled_or_never(spec.cancel.as_ref());
            // The call first: one that finishes in its first poll (most do)
            // never registers the backstop timer, which takes the timer
            // driver's lock twice (register and cancel) shared by every worker.
            tokio::select! {
                biased;
                r = work => classify::Outcome::Finished(r),
                _ = tokio::time::sleep(backstop) => classify::Outcome::Backstop,
                _ = cancelled => classify::Outcome::Cancelled,
            }
        };
        let stats = self.call_stats(&store, &spec, started);
        let state = store.data();
        if state.stderr.total() > 0 {
            tracing::debug!(target: "toolhost::guest", plugin = spec.plugin, tool = spec.tool, call_id = spec.call_id,
                bytes = state.stderr.total(), stderr = %state.stderr.tail_text(2048), "guest stderr");
        }
        let clean = state.limiter.denial.is_none() && state.stop.is_none();
        match classify::outcome(outcome, state, &spec) {
            Ok((raw, plugin)) => {
                // Only an instance whose call succeeded outright is reused; a
                // trapped, interrupted or failing one is dropped with its store.
                if let (Some(pool), true, Raw::Call(Ok(_))) = (spec.warm, clean, &raw) {
                    let s = store.data_mut();
                    s.events = None; // the listener must see the call end
                    s.cancel = None;
                    s.interact = None;
                    let tenant = s.tenant.clone();
                    pool.put(&tenant, store, plugin, calls + 1);
                }
                (Ok(raw), stats)
            }
            Err(e) => (Err(e), stats),
        }
        // Otherwise `store` is dropped here: a trapped or interrupted instance is never reused.
    }

    /// The store of a call with its instance and call count: a warm one taken from the pool and
    /// rearmed (calls only), else a fresh store with nothing instantiated yet.
    fn store_for(&self, spec: &CallSpec<'_>, op: &Op<'_>) -> Result<(Store<StoreState>, Option<Live>, u32)> {
        let warm = if op.is_call() { spec.warm.and_then(|p| p.take(spec.tenant)) } else { None };
        match warm {
            Some(w) => {
                let mut store = w.store;
                self.rearm(&mut store, spec);
                Ok((store, Some(w.plugin), w.calls))
            }
            None => Ok((self.new_store(spec)?, None, 0)),
        }
    }

    /// What a finished call used: wall time, fuel, peak memory, output bytes, dropped events.
    fn call_stats(&self, store: &Store<StoreState>, spec: &CallSpec<'_>, started: Instant) -> CallStats {
        let state = store.data();
        CallStats {
            duration: started.elapsed(),
            fuel_used: if self.cfg.fuel {
                store.get_fuel().ok().map(|left| spec.limits.fuel.unwrap_or(u64::MAX) - left)
            } else {
                None
            },
            memory_peak: state.limiter.memory_peak(),
            stdout_bytes: state.stdout.total(),
            stderr_bytes: state.stderr.total(),
            dropped_events: state.dropped_events,
            hosts: state.http_hooks.contacted.clone(),
        }
    }
}

/// Instantiates the plugin in `store` (unless `instance` is a warm one) and runs `op` on it.
async fn invoke(
    code: &PluginCode,
    store: &mut Store<StoreState>,
    instance: Option<Live>,
    op: Op<'_>,
) -> wasmtime::Result<(Raw, Live)> {
    let live = match instance {
        Some(p) => p,
        None => code.linked.instantiate(&mut *store).await?,
    };
    let raw = code.linked.run(store, &live, op).await?;
    Ok((raw, live))
}

impl From<GuestContext> for bindings::CallContext {
    fn from(c: GuestContext) -> bindings::CallContext {
        bindings::CallContext {
            call_id: c.call_id,
            request_id: c.request_id,
            tenant_id: c.tenant_id,
            user_id: c.user_id,
            traceparent: c.traceparent,
            deadline_ms: c.deadline_ms,
            attempt: c.attempt,
            metadata: c.metadata,
        }
    }
}

fn load_error(path: &Path, reason: String) -> Error {
    Error::PluginLoad { path: path.to_path_buf(), reason }
}

/// Checks the 8-byte header before anything parses the file.
fn sniff(path: &Path, bytes: &[u8]) -> Result<()> {
    const COMPONENT: [u8; 4] = [0x0d, 0x00, 0x01, 0x00];
    const CORE: [u8; 4] = [0x01, 0x00, 0x00, 0x00];
    if bytes.is_empty() {
        return Err(load_error(path, "empty file".into()));
    }
    if bytes.len() < 8 || &bytes[..4] != b"\0asm" {
        let text = bytes.iter().take(64).find(|b| !b.is_ascii_whitespace());
        let reason = if matches!(text, Some(b'(') | Some(b';')) {
            "WebAssembly text (WAT), not a binary; tools must be compiled components".to_string()
        } else {
            "not a WebAssembly binary (bad magic number)".to_string()
        };
        return Err(load_error(path, reason));
    }
    match &bytes[4..8] {
        v if v == COMPONENT => Ok(()),
        v if v == CORE => Err(Error::Incompatible {
            path: path.to_path_buf(),
            expected: "a WebAssembly component".into(),
            found: "a core module; tools must be components (build for wasm32-wasip2, or run `wasm-tools component new`)".into(),
        }),
        v => Err(load_error(path, format!("unsupported WebAssembly version/layer {v:02x?}"))),
    }
}

/// WASI 0.2 interfaces are always linked (denied at use unless granted); the
/// contract's own interfaces are the only other imports a plugin may have.
fn import_allowed(name: &str, deny_network: bool) -> bool {
    const WASI: [&str; 7] = ["cli", "clocks", "filesystem", "io", "random", "sockets", "http"];
    let (path, version) = name.split_once('@').unwrap_or((name, ""));
    let Some((pkg, _iface)) = path.split_once('/') else {
        return false;
    };
    match pkg.split_once(':') {
        Some(("wasi", p)) if WASI.contains(&p) => {
            version.starts_with("0.2.") && !(deny_network && (p == "sockets" || p == "http"))
        }
        Some(("toolhost", "plugin")) => version.starts_with("0.1.") || version.starts_with("0.2."),
        _ => false,
    }
}

fn export_names(engine: &Engine, component: &Component) -> Vec<String> {
    component.component_type().exports(engine).map(|(n, _)| n.to_string()).collect()
}

pub use toolhost_core::text::preview;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn imports_outside_wasi_and_contract_are_refused() {
        assert!(import_allowed("wasi:cli/environment@0.2.6", false));
        assert!(import_allowed("wasi:sockets/tcp@0.2.0", false));
        assert!(!import_allowed("wasi:sockets/tcp@0.2.0", true));
        assert!(import_allowed("toolhost:plugin/host@0.1.0", false));
        assert!(import_allowed("toolhost:plugin/host@0.2.0", false));
        assert!(!import_allowed("toolhost:plugin/host@0.3.0", false));
        assert!(import_allowed("wasi:http/outgoing-handler@0.2.0", false));
        assert!(!import_allowed("wasi:http/outgoing-handler@0.2.0", true));
        assert!(!import_allowed("evil:net/raw@1.0.0", false));
        assert!(!import_allowed("wasi:cli/environment@0.3.0", false));
        assert!(!import_allowed("bare-name", false));
    }

    #[test]
    fn sniff_names_what_the_file_is() {
        let p = Path::new("x.wasm");
        assert!(sniff(p, b"").unwrap_err().to_string().contains("empty"));
        assert!(sniff(p, b"(component)").unwrap_err().to_string().contains("WAT"));
        assert!(sniff(p, b"\x7fELF\x02\x01\x01\x00").unwrap_err().to_string().contains("magic"));
        let core = sniff(p, b"\0asm\x01\0\0\0").unwrap_err();
        assert_eq!(core.code(), toolhost_core::ErrorCode::IncompatiblePlugin);
        assert!(core.to_string().contains("core module"));
        assert!(sniff(p, b"\0asm\x0d\0\x01\0").is_ok());
    }

    #[test]
    fn preview_is_bounded_and_on_a_char_boundary() {
        let s = "é".repeat(300);
        let p = preview(&s);
        assert!(p.len() <= 256);
    }
}
