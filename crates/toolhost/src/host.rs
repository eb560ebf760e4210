//! [`Host`]: the runtime, the registry and the call path, wired together.

use crate::backend::Backend;
use crate::config::Config;
use crate::listing::ToolListing;
use crate::upstreams::{UpstreamEntry, UpstreamStatus, Upstreams};
use crate::validate;
use std::path::PathBuf;
use std::sync::Arc;
use toolhost_core::error::{Error, Result};
use toolhost_core::{
    CallOptions, CallRequest, CallResponse, CallResult, CallStats, DEFAULT_TENANT, ExecutionContext,
    ToolOutput, new_call_id,
};
use toolhost_exec::cache::BoxFuture;
use toolhost_exec::clock::Clock;
use toolhost_exec::policy::PolicyOverride;
use toolhost_exec::{Attempt, AttemptSpec, Executor, ExecutorSections, TokioClock, ToolCall, ToolInfo};
use toolhost_registry::tenant::Tenants;
use toolhost_registry::{Catalog, PluginSource, ProgressFn, Registry, ToolEntry, watch};
use toolhost_runtime::{CallSpec, GuestContext, Resolver, Runtime};

/// Builds a [`Host`].
///
/// ```no_run
/// # async fn demo() -> toolhost::Result<()> {
/// let host = toolhost::Host::builder().plugins_dir("plugins").build().await?;
/// let out = host.call(toolhost::CallRequest::new("text.upper", r#"{"text":"hi"}"#)).await?;
/// println!("{}", out.output.to_text());
/// # Ok(()) }
/// ```
#[must_use]
#[derive(Default)]
pub struct HostBuilder {
    config: Config,
    use_dir: bool,
    sources: Vec<PluginSource>,
    progress: Option<ProgressFn>,
    clock: Option<Arc<dyn Clock>>,
    resolver: Option<Arc<dyn Resolver>>,
    principal: Option<String>,
    audit_sink: Option<Arc<dyn toolhost_core::audit::AuditSink>>,
}

impl std::fmt::Debug for HostBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HostBuilder").field("config", &self.config).finish()
    }
}

impl HostBuilder {
    /// Uses `config` (its `plugins_dir` is loaded).
    pub fn config(mut self, config: Config) -> Self {
        self.config = config;
        self.use_dir = true;
        self
    }

    /// Loads every `*.wasm` in `dir`.
    pub fn plugins_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.config.plugins_dir = dir.into();
        self.use_dir = true;
        self
    }

    /// Compile cache folder; `None` turns caching off.
    pub fn cache_dir(mut self, dir: Option<PathBuf>) -> Self {
        self.config.cache_dir = Some(dir.unwrap_or_else(|| PathBuf::from("off")));
        self
    }

    /// Resolves the host names of plugins' outbound HTTP with `resolver`
    /// instead of the system's (answers are still checked against each grant).
    pub fn resolver(mut self, resolver: Arc<dyn Resolver>) -> Self {
        self.resolver = Some(resolver);
        self
    }

    /// The principal the audit trail records for calls whose context names
    /// none (the CLI: `local`). Default: none.
    pub fn principal(mut self, name: impl Into<String>) -> Self {
        self.principal = Some(name.into());
        self
    }

    /// Sends audit records to `sink` instead of the `[audit]` file.
    pub fn audit_sink(mut self, sink: Arc<dyn toolhost_core::audit::AuditSink>) -> Self {
        self.audit_sink = Some(sink);
        self
    }

    /// Hot-reloads the plugin folder.
    pub fn watch(mut self, on: bool) -> Self {
        self.config.watch = on;
        self
    }

    /// Adds a plugin from memory (bytes of a component).
    pub fn plugin_bytes(mut self, name: impl Into<String>, bytes: Vec<u8>) -> Self {
        let name = name.into();
        self.sources.push(PluginSource {
            path: PathBuf::from(format!("memory:{name}")),
            name,
            bytes,
            manifest: Default::default(),
        });
        self
    }

    /// Adds a plugin from memory with a manifest.
    pub fn plugin_source(mut self, source: PluginSource) -> Self {
        self.sources.push(source);
        self
    }

    /// The time source of every executor policy (default: tokio's clock).
    /// Tests use it to skew or freeze time; shared decisions (Redis rate
    /// limits) never read it.
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = Some(clock);
        self
    }

    /// Receives a [`toolhost_registry::LoadProgress`] per plugin as loading proceeds.
    pub fn on_progress(
        mut self,
        f: impl Fn(&toolhost_registry::LoadProgress) + Send + Sync + 'static,
    ) -> Self {
        self.progress = Some(Arc::new(f));
        self
    }

    /// Creates the runtime and loads every plugin. A plugin that fails to load
    /// is reported in [`Host::catalog`] and never stops the others; only an
    /// invalid configuration or an unreadable folder is an error here.
    pub async fn build(self) -> Result<Host> {
        let cfg = self.config;
        cfg.validate()?;
        toolhost_core::observe::metrics::configure(&cfg.metrics);
        toolhost_core::observe::live::mark_start();
        let cache_dir = cfg.resolved_cache_dir();
        if self.use_dir {
            cache_outside_plugins(cache_dir.as_deref(), &cfg.plugins_dir)?;
        }
        // An unwritable audit path stops the host before anything loads.
        let audit = crate::observe::audit::Audit::of(self.audit_sink, &cfg.audit)?;
        let synced = if self.use_dir { sync_sources(&cfg).await } else { vec![] };
        let sources =
            toolhost_oci::board::SourceBoard::new(cfg.sources.clone(), cfg.plugins_dir.clone(), synced);
        let mut runtime = Runtime::new(&cfg.runtime, cfg.defaults.table_elements, cache_dir.as_deref())?;
        if let Some(r) = self.resolver {
            runtime.set_resolver(r);
        }
        let runtime = Arc::new(runtime);
        // Plugins pulled from registries load only while they match the lock.
        let gate = Arc::new(toolhost_oci::gate::Gate::new(&cfg.sources));
        let registry = Arc::new(
            Registry::new(
                runtime.clone(),
                cfg.plugins_dir.clone(),
                cfg.defaults.clone(),
                cfg.runtime.clone(),
                Tenants::compile(&cfg.tenants)?,
                self.progress,
            )
            .with_gate(Arc::new(move |path, wasm| gate.check(path, wasm))),
        );
        for src in self.sources {
            // Errors are recorded in the catalog like any other load failure.
            let _ = registry.add(src).await;
        }
        if self.use_dir {
            registry.load_all().await?;
        }
        // From here on a serving plugin is incumbent: a duplicate is refused, not it.
        registry.mark_started();
        let backend = Backend::from_config(&cfg)?;
        let sections = ExecutorSections {
            policy: cfg.policy.clone(),
            rate_limits: cfg.rate_limits.clone(),
            bulkheads: cfg.bulkheads.clone(),
            cache: cfg.cache.clone(),
            executor: cfg.executor.clone(),
        };
        let clock = self.clock.unwrap_or_else(|| Arc::new(TokioClock));
        let (quotas, shared, scoped_cache) =
            crate::admin::tenancy_state(&cfg, backend.shared_state(), &clock);
        let executor = Executor::new(sections, clock, shared)?;
        let upstreams = Upstreams::start(&cfg.upstreams, Tenants::compile(&cfg.tenants)?).await;
        let watcher = if cfg.watch && self.use_dir {
            Some(watch::watch(registry.clone()).map_err(|e| {
                Error::Configuration(format!("cannot watch {}: {e}", cfg.plugins_dir.display()))
            })?)
        } else {
            None
        };
        let inner = Inner {
            resource_updates: tokio::sync::broadcast::channel(256).0,
            runtime,
            registry,
            executor,
            backend,
            upstreams,
            sources,
            _watcher: watcher,
            live: crate::admin::Live::new(&cfg)?,
            quotas,
            scoped_cache,
            config: cfg,
            audit,
            principal: self.principal,
        };
        Ok(Host { inner: Arc::new(inner) })
    }
}

/// Code is never loaded from the plugin folder: `cache_dir` must not be inside it.
fn cache_outside_plugins(cache_dir: Option<&std::path::Path>, plugins_dir: &std::path::Path) -> Result<()> {
    let Some(cache) = cache_dir else { return Ok(()) };
    let (c, p) = (absolute(cache), absolute(plugins_dir));
    if c.starts_with(&p) {
        return Err(Error::Configuration(format!(
            "cache_dir {} must not be inside plugins_dir {}: code is never loaded from the plugin folder",
            c.display(),
            p.display()
        )));
    }
    Ok(())
}

/// Pulls `[[sources]]` into the plugins folder before it loads. Failures are
/// logged with their codes; what verified (or the last locked copy) is in the
/// folder when the registry reads it.
async fn sync_sources(cfg: &Config) -> Vec<toolhost_oci::sources::SourceStatus> {
    let outcomes = toolhost_oci::sources::sync(&cfg.sources, &cfg.plugins_dir).await;
    outcomes.iter().map(|(r, o)| toolhost_oci::sources::SourceStatus::of(r, o)).collect()
}

fn absolute(p: &std::path::Path) -> PathBuf {
    std::fs::canonicalize(p).unwrap_or_else(|_| std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf()))
}

pub(crate) struct Inner {
    /// Where guests' `resource-updated` goes; every MCP session subscribes.
    resource_updates: toolhost_core::catalog::ResourceUpdates,
    runtime: Arc<Runtime>,
    registry: Arc<Registry>,
    executor: Executor,
    backend: Backend,
    pub(crate) upstreams: Upstreams,
    sources: toolhost_oci::board::SourceBoard,
    _watcher: Option<watch::Watcher>,
    /// The configuration at start (what needs a restart to change).
    config: Config,
    /// What a reload replaces: the configuration and tokens in force.
    pub(crate) live: crate::admin::Live,
    pub(crate) quotas: toolhost_exec::quota::Quotas,
    pub(crate) scoped_cache: Option<Arc<toolhost_exec::scoped_cache::ScopedCache>>,
    audit: crate::observe::audit::Audit,
    /// [`HostBuilder::principal`].
    principal: Option<String>,
}

/// A running tool host. Cheap to clone; share one per process.
#[derive(Clone)]
pub struct Host {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Host {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Host").field("plugins_dir", &self.inner.config.plugins_dir).finish()
    }
}

impl Host {
    pub(crate) fn inner(&self) -> &Inner {
        &self.inner
    }

    /// Starts building a host.
    pub fn builder() -> HostBuilder {
        HostBuilder::default()
    }

    /// The configuration in force.
    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// The audit trail (record operator actions with [`Audit::admin`](crate::observe::audit::Audit::admin)).
    pub fn audit(&self) -> &crate::observe::audit::Audit {
        &self.inner.audit
    }

    pub(crate) fn default_principal(&self) -> Option<&str> {
        self.inner.principal.as_deref()
    }

    /// The registry (reload, subscribe to changes).
    pub fn registry(&self) -> &Arc<Registry> {
        &self.inner.registry
    }

    /// Resource updates the guests report (`host.resource-updated`), for
    /// front doors that notify subscribers.
    pub fn resource_updates(
        &self,
    ) -> tokio::sync::broadcast::Receiver<toolhost_core::catalog::ResourceUpdated> {
        self.inner.resource_updates.subscribe()
    }

    pub(crate) fn resource_sender(&self) -> toolhost_core::catalog::ResourceUpdates {
        self.inner.resource_updates.clone()
    }

    /// The runtime (allocator, health).
    pub fn runtime(&self) -> &Arc<Runtime> {
        &self.inner.runtime
    }

    /// The current catalog snapshot (every plugin's load state).
    pub fn catalog(&self) -> Arc<Catalog> {
        self.inner.registry.catalog()
    }

    /// Tools visible to `tenant` (`None` = the default tenant), sorted by name.
    pub fn tools(&self, tenant: Option<&str>) -> Vec<ToolEntry> {
        self.inner.registry.tools(tenant.unwrap_or(DEFAULT_TENANT))
    }

    /// Every tool `tenant` (`None` = the default tenant) may call — plugin
    /// tools, then upstream tools — sorted by name.
    pub fn list_tools(&self, tenant: Option<&str>) -> Vec<ToolListing> {
        let tenant = tenant.unwrap_or(DEFAULT_TENANT);
        let mut out: Vec<ToolListing> =
            self.inner.registry.tools(tenant).iter().map(ToolListing::from_plugin).collect();
        let plugin_names: std::collections::HashSet<String> = out.iter().map(|t| t.name.clone()).collect();
        out.extend(
            self.inner.upstreams.listings(tenant).into_iter().filter(|t| !plugin_names.contains(&t.name)),
        );
        out.sort_by(|a, b| a.name.cmp(&b.name));
        out
    }

    /// The tool `name` as `tenant` sees it: a plugin's, else an upstream's.
    pub fn find_tool(&self, tenant: &str, name: &str) -> Option<Target> {
        Attempt::lookup(self, tenant, name)
    }

    /// Each `[[upstreams]]` source: connected or not, tools, the latest error.
    pub fn upstreams(&self) -> Vec<UpstreamStatus> {
        self.inner.upstreams.status()
    }

    /// What each `[[sources]]` entry comes to (serving, digest, the code of a
    /// failure or warning): the sync at start, updated when `toolhost.lock`
    /// changes while serving (an operator's `toolhost pull`).
    pub fn sources(&self) -> Vec<toolhost_oci::sources::SourceStatus> {
        self.inner.sources.statuses()
    }

    /// Where shared state lives (memory, or Redis with `redis_url`).
    pub fn backend(&self) -> &Backend {
        &self.inner.backend
    }

    /// `Degraded` while the shared backend (Redis) is failing and calls are
    /// answered with local fallbacks; always `Ok` without Redis. Reflects the
    /// latest Redis operation; [`check_backend`](Self::check_backend) probes.
    pub fn backend_health(&self) -> crate::backend::Health {
        self.backend().health()
    }

    /// Pings the shared backend (within `redis.op_timeout_ms`) and returns its health.
    pub async fn check_backend(&self) -> crate::backend::Health {
        self.backend().check().await
    }

    /// The executor (policy state: breakers, bulkheads, cache counters).
    pub fn executor(&self) -> &Executor {
        &self.inner.executor
    }

    /// Runs one call through every executor policy (cache, rate limits,
    /// retries, breaker, bulkheads, timeouts). `req.timeout` is the per-call
    /// attempt timeout, the highest-precedence policy.
    pub async fn call(&self, req: CallRequest) -> Result<CallResponse> {
        let ctx = req.context();
        let opts = req.options();
        let call = ToolCall {
            call_id: req.call_id,
            policy: PolicyOverride {
                timeout_ms: req.timeout.map(|t| t.as_millis() as u64),
                ..Default::default()
            },
            ..ToolCall::new(req.tool, req.arguments)
        };
        let r = self.execute_at(&ctx, call, 0, &opts).await;
        Ok(CallResponse {
            call_id: r.call_id,
            tool: r.tool,
            output: r.result?,
            stats: r.stats.unwrap_or_default(),
            attempts: r.attempts,
            cached: r.cached,
        })
    }

    /// Runs one call through every executor policy under `ctx`.
    pub async fn execute(&self, ctx: &ExecutionContext, call: ToolCall, opts: &CallOptions) -> CallResult {
        self.execute_at(ctx, call, 0, opts).await
    }

    pub(crate) async fn execute_at(
        &self,
        ctx: &ExecutionContext,
        mut call: ToolCall,
        index: usize,
        opts: &CallOptions,
    ) -> CallResult {
        let tenant = ctx.tenant_id.as_deref().unwrap_or(DEFAULT_TENANT);
        let call_id = call.call_id.get_or_insert_with(new_call_id).clone();
        // One span per call; outcome fields are filled in when it ends. The
        // caller's W3C traceparent becomes its parent when OTLP export is on
        // (feature `otel`); it is also kept as a field for log readers.
        let span = tracing::info_span!(
            "tool.execute",
            tool = %call.tool,
            tenant,
            call_id = %call_id,
            source = tracing::field::Empty,
            request_id = %ctx.request_id,
            traceparent = ctx.traceparent.as_deref().unwrap_or(""),
            cached = tracing::field::Empty,
            attempts = tracing::field::Empty,
            outcome = tracing::field::Empty,
            duration_ms = tracing::field::Empty,
            fuel_used = tracing::field::Empty,
            memory_peak = tracing::field::Empty,
        );
        crate::observe::otel::adopt_parent(&span, ctx.traceparent.as_deref());
        // Kept for the audit record only while auditing (the call moves below).
        let audited = self.inner.audit.enabled().then(|| call.arguments.as_ref().ok().cloned());
        if ctx.budget.is_some() && !self.inner.config.runtime.fuel {
            let problem = "request context: X-Budget (a fuel ceiling) needs runtime.fuel = true".to_string();
            let e = Error::InvalidArguments { tool: call.tool.clone(), problems: vec![problem] };
            let r = CallResult::not_run(index, call_id, call.tool, e);
            if let Some(args) = audited {
                self.audit_call(ctx, args, &r);
            }
            return r;
        }
        let r = match span.in_scope(|| self.admit_call(&call, index, tenant)) {
            Err(refused) => *refused,
            Ok(permit) => {
                // Pinned in place: a future moved into `instrument` from a
                // binding is stored twice in this one's state.
                let run = std::pin::pin!(self.executor().execute(self, ctx, call, index, opts));
                let mut r = tracing::Instrument::instrument(run, span.clone()).await;
                drop(permit);
                self.name_disabled(&mut r, tenant);
                r
            }
        };
        span.record("cached", r.cached);
        span.record("attempts", r.attempts);
        span.record("outcome", r.result.as_ref().err().map_or("success", |e| e.code().as_str()));
        span.record("duration_ms", r.duration.as_secs_f64() * 1e3);
        if let Some(st) = &r.stats {
            if let Some(f) = st.fuel_used {
                span.record("fuel_used", f);
            }
            span.record("memory_peak", st.memory_peak);
        }
        span.in_scope(|| toolhost_core::observe::logs::call_finished(&r, &ctx.request_id, tenant));
        if let Some(args) = audited {
            self.audit_call(ctx, args, &r);
        }
        r
    }

    /// One sandboxed attempt with no executor policies: lookup, argument
    /// validation, the call. What the executor wraps; also the baseline of
    /// the benchmarks.
    pub async fn invoke(&self, req: CallRequest) -> Result<CallResponse> {
        let tenant = req.tenant.as_deref().unwrap_or(DEFAULT_TENANT);
        let entry = Attempt::lookup(self, tenant, &req.tool)
            .ok_or_else(|| Error::ToolNotFound { tool: toolhost_core::text::preview(&req.tool) })?;
        let ctx = req.context();
        let opts = req.options();
        let (args, value) = Attempt::parse_arguments(self, &entry, &Ok(req.arguments))?;
        let call_id = req.call_id.clone().unwrap_or_else(new_call_id);
        let info = Attempt::info(self, &entry);
        let timeout = req.timeout.unwrap_or(info.timeout_override.unwrap_or(info.default_timeout));
        let tool = info.name.to_string();
        let spec = AttemptSpec {
            args: &args,
            value: &value,
            ctx: &ctx,
            call_id: &call_id,
            attempt: req.attempt.max(1),
            timeout,
            opts: &opts,
        };
        let (result, stats) = Attempt::attempt(self, &entry, spec).await;
        Ok(CallResponse { call_id, tool, output: Arc::new(result?), stats, attempts: 1, cached: false })
    }

    async fn run_attempt(&self, entry: &ToolEntry, a: AttemptSpec<'_>) -> (Result<ToolOutput>, CallStats) {
        let AttemptSpec { args, ctx, call_id, attempt, timeout: budget, opts, .. } = a;
        let plugin = &entry.plugin;
        let tenant = ctx.tenant_id.as_deref().unwrap_or(DEFAULT_TENANT);
        let span = tracing::info_span!("guest.call", plugin = %plugin.name, tool = %entry.tool.name, attempt);
        let caps = self.inner.quotas.caps(tenant);
        let (budgeted, binding) =
            crate::tenancy::capped(&plugin.limits, budget_limits(&plugin.limits, ctx), caps);
        // A tenant at its `warm_instances` runs this call in a fresh instance.
        let warm_share = plugin.warm.as_ref().and_then(|_| self.inner.quotas.warm(tenant));
        // Only a plugin that may send HTTP needs the context headers (no allocation otherwise).
        let outbound = if plugin.grants.allows_http() { ctx.outbound_headers() } else { Vec::new() };
        let spec = CallSpec {
            tenant,
            plugin: &plugin.name,
            tool: &entry.tool.name,
            call_id,
            limits: budgeted.as_ref().unwrap_or(&plugin.limits),
            grants: &plugin.grants,
            config: &plugin.config,
            events: opts.events.clone(),
            cancel: opts.cancel.clone(),
            budget,
            warm: plugin.warm.as_deref().filter(|_| warm_share.is_some()),
            outbound_headers: &outbound,
            interact: opts.interact.clone(),
            resource_updates: Some(&self.inner.resource_updates),
        };
        let guest_ctx = guest_context(ctx, call_id, budget, attempt);
        // Pinned in place, stored once (passed to `instrument` by value, the
        // runtime's future took twice its size in this one's state).
        let call =
            std::pin::pin!(self.inner.runtime.call(&plugin.code, spec, &entry.tool.name, args, guest_ctx));
        let (result, stats) = tracing::Instrument::instrument(call, span).await;
        drop(warm_share);
        let limits = budgeted.as_ref().unwrap_or(&plugin.limits);
        if let Some(fuel) = crate::tenancy::fuel_spent(&result, &stats, limits) {
            self.inner.quotas.charge_fuel(tenant, fuel);
        }
        let result = crate::tenancy::attribute(result, &stats, binding, tenant, &entry.tool.name);
        let result =
            result.and_then(|out| validate::output(&entry.tool.name, entry.tool.output.as_ref(), out));
        (result, stats)
    }
}

/// A tool the executor is asked to run: a plugin's, or an upstream's.
#[derive(Debug, Clone)]
pub enum Target {
    /// A tool of a WASM plugin.
    Plugin(ToolEntry),
    /// A tool of an `[[upstreams]]` source.
    Upstream(Arc<UpstreamEntry>),
}

impl Target {
    /// The plugin (file stem) or the upstream source that serves the tool.
    pub fn origin(&self) -> &str {
        match self {
            Target::Plugin(e) => &e.plugin.name,
            Target::Upstream(u) => &u.tool.source,
        }
    }
}

/// The layer below the executor's policies: tools from the registry (or an
/// upstream source), one sandboxed attempt at a time from the runtime (or
/// one call to the upstream).
impl Attempt for Host {
    type Tool = Target;

    fn lookup(&self, tenant: &str, name: &str) -> Option<Target> {
        match self.inner.registry.lookup(tenant, name) {
            Some(entry) => Some(Target::Plugin(entry)),
            None => self.inner.upstreams.lookup(tenant, name).map(Target::Upstream),
        }
    }

    fn info<'t>(&self, target: &'t Target) -> ToolInfo<'t> {
        match target {
            Target::Plugin(entry) => ToolInfo {
                name: &entry.tool.name,
                namespace: entry.tool.namespace.as_deref(),
                idempotent: entry.tool.idempotent,
                timeout_override: entry.plugin.timeout_override,
                default_timeout: entry.plugin.limits.timeout(),
                cache_digest: &entry.plugin.cache_digest,
                source: "plugin",
                destructive: entry.tool.annotations.is_some_and(|a| a.destructive),
            },
            Target::Upstream(u) => ToolInfo {
                name: &u.tool.name,
                namespace: Some(&u.tool.source),
                idempotent: u.tool.idempotent,
                timeout_override: None,
                default_timeout: u.timeout,
                cache_digest: &u.digest,
                source: u.source.kind().as_str(),
                // Upstream listings carry no annotations yet.
                destructive: false,
            },
        }
    }

    fn parse_arguments(
        &self,
        target: &Target,
        raw: &std::result::Result<String, String>,
    ) -> Result<(String, serde_json::Value)> {
        match target {
            Target::Plugin(entry) => validate::arguments(&entry.tool.name, &entry.tool.input, raw),
            Target::Upstream(u) => validate::arguments(&u.tool.name, &u.input, raw),
        }
    }

    fn arguments_version(&self, target: &Target) -> Option<u64> {
        match target {
            // A loaded plugin version's schemas never change.
            Target::Plugin(entry) => Some(entry.plugin.generation),
            // An upstream's listing may be refreshed in place.
            Target::Upstream(_) => None,
        }
    }

    fn attempt<'a>(
        &'a self,
        target: &'a Target,
        spec: AttemptSpec<'a>,
    ) -> BoxFuture<'a, (Result<ToolOutput>, CallStats)> {
        match target {
            Target::Plugin(entry) => Box::pin(self.run_attempt(entry, spec)),
            Target::Upstream(u) => Box::pin(async move {
                let kind = u.source.kind().as_str();
                let span = tracing::info_span!(
                    "upstream.call",
                    source = kind,
                    upstream = %u.tool.source,
                    tool = %u.tool.name,
                    attempt = spec.attempt
                );
                tracing::Instrument::instrument(u.attempt(spec), span).await
            }),
        }
    }
}

/// The plugin's limits with the request's `X-Budget` as a fuel ceiling (the
/// lower of the two), or `None` when the request sets no budget.
fn budget_limits(
    limits: &toolhost_runtime::Limits,
    ctx: &ExecutionContext,
) -> Option<toolhost_runtime::Limits> {
    let ceiling = ctx.budget? as u64; // finite and ≥ 0 (validated); saturates
    let fuel = limits.fuel.map_or(ceiling, |f| f.min(ceiling));
    Some(toolhost_runtime::Limits { fuel: Some(fuel), ..limits.clone() })
}

/// The context's metadata plus the fields `call-context` has no slot for
/// (`correlation_id`, `tracestate`, `budget`), so they reach the guest too.
/// The request context as the guest sees it.
pub(crate) fn guest_context(
    ctx: &ExecutionContext,
    call_id: &str,
    budget: std::time::Duration,
    attempt: u32,
) -> GuestContext {
    GuestContext {
        call_id: call_id.to_string(),
        request_id: (!ctx.request_id.is_empty()).then(|| ctx.request_id.clone()),
        tenant_id: Some(ctx.tenant_id.as_deref().unwrap_or(DEFAULT_TENANT).to_string()),
        user_id: ctx.user_id.clone(),
        traceparent: ctx.traceparent.clone(),
        deadline_ms: Some(budget.as_millis() as u64),
        attempt,
        metadata: guest_metadata(ctx),
    }
}

fn guest_metadata(ctx: &ExecutionContext) -> Vec<(String, String)> {
    let mut m: Vec<(String, String)> = ctx.metadata.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    if let Some(c) = &ctx.correlation_id {
        m.push(("correlation_id".into(), c.clone()));
    }
    if let Some(t) = &ctx.tracestate {
        m.push(("tracestate".into(), t.clone()));
    }
    if let Some(b) = ctx.budget {
        m.push(("budget".into(), b.to_string()));
    }
    m
}
