//! The executor: production policies around every sandboxed call.
//!
//! Layer order (outermost first; resilience.md §5), fixed in [`Executor::execute`]:
//!
//! 1. admission: tenant, tool lookup, one absolute deadline for everything below
//!    (`min(context deadline, now + total timeout)`);
//! 2. argument parsing and schema validation (no guest CPU, not a breaker event);
//! 3. cache (idempotent tools only; single flight; `cached = true` on hits);
//! 4. rate limits (global, tenant, tool or pattern; wait ≤ `min(deadline,
//!    max_wait_ms)` or reject);
//! 5. retry loop (retryable outcomes of idempotent tools, full-jitter backoff,
//!    Retry-After hints, a retry budget; sleeps clipped to the deadline);
//! 6. circuit breaker per (tenant, tool), per attempt (open ends the loop);
//! 7. bulkheads (queue wait ≤ `min(deadline, acquisition timeout or max_wait_ms)`);
//! 8. the attempt: `min(attempt timeout, remaining)` → epoch deadline in a fresh store.
//!
//! Every wait (token, slot, backoff, an identical call in flight) ends at once
//! when the caller cancels ([`CallOptions::cancel`]) or its deadline passes
//! ([`wait`]), and none is unbounded without a deadline.
//!
//! Results are matched by `call_id`; return order is presentation only.

pub mod batch;
pub mod breaker;
pub mod bulkhead;
pub mod cache;
pub mod clock;
pub mod context;
pub mod parse;
pub mod policy;
pub mod rate_limit;
pub mod retry;
pub mod wait;

use crate::call::{CallStats, ToolOutput};
use crate::error::{Error, Resource, ToolErrorKind};
use crate::registry::ToolEntry;
use breaker::{Breakers, Outcome};
use bulkhead::Bulkheads;
use cache::{CacheKey, ResultCache, Served, WaitBounds};
use clock::Clock;
use context::ExecutionContext;
use policy::{Effective, Policies, PolicyOverride};
use rate_limit::{Quota, RateLimiter};
use retry::{RetryBudget, SleepPlan};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// `[rate_limits]`: process-wide and per-tenant quotas (tool and pattern
/// quotas live in `[policy]`). All applicable limits apply.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RateLimitConfig {
    /// One bucket for the whole process.
    pub global: Option<Quota>,
    /// One bucket per tenant, unless the tenant has its own entry below.
    pub per_tenant: Option<Quota>,
    /// Buckets for named tenants.
    pub tenants: BTreeMap<String, Quota>,
}

/// `[executor]`: concurrency and retry-budget settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ExecutorConfig {
    /// Calls of one batch running at once, unless the request asks for fewer. Default: 64.
    pub max_parallel: usize,
    /// Retry budget window, seconds. Default: 10.
    pub retry_budget_ttl_secs: u64,
    /// Retries always allowed per second. Default: 10.
    pub retry_budget_min_per_sec: u32,
    /// Extra retries as a fraction of recent calls. Default: 0.2.
    pub retry_budget_percent: f64,
    /// Largest honoured Retry-After hint, ms. Default: 30000.
    pub max_retry_after_ms: u64,
    /// Longest wait for a rate-limit token, or for a bulkhead slot in a
    /// compartment without its own `acquisition_timeout_ms`, ms, deadline or
    /// not (a deadline ends a wait sooner). Default: 30000.
    pub max_wait_ms: u64,
}

impl Default for ExecutorConfig {
    fn default() -> Self {
        ExecutorConfig {
            max_parallel: 64,
            retry_budget_ttl_secs: 10,
            retry_budget_min_per_sec: 10,
            retry_budget_percent: 0.2,
            max_retry_after_ms: 30_000,
            max_wait_ms: bulkhead::DEFAULT_WAIT.as_millis() as u64,
        }
    }
}

impl RateLimitConfig {
    pub(crate) fn check(&self, path: &str, p: &mut crate::config::check::Problems) {
        use crate::config::check::{join, map_key};
        for (key, q) in [("global", &self.global), ("per_tenant", &self.per_tenant)] {
            if let Some(q) = q {
                q.check(&join(path, key), p);
            }
        }
        for (tenant, q) in &self.tenants {
            q.check(&join(path, format_args!("tenants.{}", map_key(tenant))), p);
        }
    }
}

impl ExecutorConfig {
    pub(crate) fn check(&self, path: &str, p: &mut crate::config::check::Problems) {
        use crate::config::check::join;
        p.at_least_one(self.max_parallel as u64, join(path, "max_parallel"));
        p.at_least_one(self.retry_budget_ttl_secs, join(path, "retry_budget_ttl_secs"));
        p.at_least_one(self.max_wait_ms, join(path, "max_wait_ms"));
        let pct = self.retry_budget_percent;
        p.require(pct.is_finite() && pct >= 0.0, join(path, "retry_budget_percent"), "must be a number ≥ 0");
    }
}

/// One call as the model asked for it.
#[derive(Debug, Clone)]
pub struct ToolCall {
    /// Provider call id, kept end to end (generated when absent).
    pub call_id: Option<String>,
    /// Tool name.
    pub tool: String,
    /// Arguments JSON text, or why they could not be read.
    pub arguments: Result<String, String>,
    /// Per-call policy (highest precedence).
    pub policy: PolicyOverride,
}

impl ToolCall {
    /// A call with well-formed argument text.
    pub fn new(tool: impl Into<String>, arguments: impl Into<String>) -> ToolCall {
        ToolCall {
            call_id: None,
            tool: tool.into(),
            arguments: Ok(arguments.into()),
            policy: PolicyOverride::default(),
        }
    }

    /// Sets the call id.
    pub fn with_id(mut self, id: impl Into<String>) -> ToolCall {
        self.call_id = Some(id.into());
        self
    }
}

impl From<parse::ParsedCall> for ToolCall {
    fn from(p: parse::ParsedCall) -> ToolCall {
        let tool = match p.namespace {
            // `namespace` + bare name → the dotted tool name the registry uses.
            Some(ns) if !p.tool.contains('.') && !ns.is_empty() && ns != "default" => {
                format!("{ns}.{}", p.tool)
            }
            _ => p.tool,
        };
        ToolCall { call_id: p.call_id, tool, arguments: p.arguments, policy: PolicyOverride::default() }
    }
}

/// The outcome of one call, matched to its request by `call_id`.
#[derive(Debug, Clone)]
pub struct CallResult {
    /// Position in the submitted batch.
    pub index: usize,
    /// The call id (given or generated).
    pub call_id: String,
    /// The tool asked for.
    pub tool: String,
    /// Output or typed error.
    pub result: Result<Arc<ToolOutput>, Error>,
    /// Attempts made (0 when refused before running).
    pub attempts: u32,
    /// Answered from the cache (no guest code ran for this call).
    pub cached: bool,
    /// The result is the tool's configured fallback; this is the error it replaced.
    pub fallback_for: Option<Error>,
    /// Time from batch start to this call's start.
    pub started: Duration,
    /// Wall time of the call, all attempts included.
    pub duration: Duration,
    /// Cost of the last attempt that ran.
    pub stats: Option<CallStats>,
}

impl CallResult {
    /// The result of a call that ran no attempt: `error`, no attempts, no time.
    pub fn not_run(index: usize, call_id: String, tool: String, error: Error) -> CallResult {
        CallResult {
            index,
            call_id,
            tool,
            result: Err(error),
            attempts: 0,
            cached: false,
            fallback_for: None,
            started: Duration::ZERO,
            duration: Duration::ZERO,
            stats: None,
        }
    }

    /// A JSON view: `{call_id, tool, ok, value|error, content?, attempts, cached, duration_ms}`.
    pub fn to_json(&self) -> serde_json::Value {
        let mut v = serde_json::json!({
            "index": self.index,
            "call_id": self.call_id,
            "tool": self.tool,
            "ok": self.result.is_ok(),
            "attempts": self.attempts,
            "cached": self.cached,
            "duration_ms": self.duration.as_secs_f64() * 1e3,
        });
        match &self.result {
            Ok(out) => {
                v["value"] = out.value.clone().unwrap_or(serde_json::Value::Null);
                if !out.content.is_empty() {
                    v["content"] = serde_json::to_value(&out.content).unwrap_or_default();
                }
            }
            Err(e) => v["error"] = e.to_json(),
        }
        if let Some(e) = &self.fallback_for {
            v["fallback_for"] = e.to_json();
        }
        v
    }
}

/// Hooks for one call: cancellation and guest events.
#[derive(Debug, Clone, Default)]
pub struct CallOptions {
    /// Cancels the call (and its retries).
    pub cancel: Option<crate::CancelToken>,
    /// Receives the guest's log/progress/emit events.
    pub events: Option<crate::runtime::EventSink>,
}

/// Clock following tokio's (pausable) time, the default for every policy.
#[derive(Debug, Default, Clone, Copy)]
pub struct TokioClock;

impl Clock for TokioClock {
    fn now(&self) -> Instant {
        tokio::time::Instant::now().into_std()
    }
}

/// Policy state shared by every call of one host.
#[derive(Debug)]
pub struct Executor {
    policies: Policies,
    rate_cfg: RateLimitConfig,
    cfg: ExecutorConfig,
    cache: Option<ResultCache>,
    limiter: RateLimiter,
    breakers: Breakers,
    bulkheads: Bulkheads,
    budget: RetryBudget,
    clock: Arc<dyn Clock>,
    rng: Mutex<rand::rngs::StdRng>,
    rate_checks: std::sync::atomic::AtomicU64,
    /// Where shared state lives (memory, or Redis).
    backend: crate::backend::Backend,
    /// The distributed limiter when the backend is Redis; `limiter` is then the
    /// always-warm fallback at `local_rate_share` of each quota.
    shared_limiter: Option<crate::backend::redis::RedisRateLimiter>,
    local_rate_share: f64,
    /// Set while rate limits run on the local fallback (logs once per outage).
    rate_fallback: std::sync::atomic::AtomicBool,
}

/// One sandboxed attempt, as the executor asks the host for it.
pub(crate) struct AttemptSpec<'a> {
    pub(crate) entry: &'a ToolEntry,
    /// Validated arguments (JSON text).
    pub(crate) args: &'a str,
    pub(crate) ctx: &'a ExecutionContext,
    pub(crate) call_id: &'a str,
    /// 1 for the first attempt.
    pub(crate) attempt: u32,
    /// Wall-clock budget of this attempt.
    pub(crate) timeout: Duration,
    pub(crate) opts: &'a CallOptions,
}

/// What the executor needs from the host: one sandboxed attempt.
pub(crate) trait Attempt: Send + Sync {
    /// Runs one attempt.
    fn attempt<'a>(
        &'a self,
        spec: AttemptSpec<'a>,
    ) -> cache::BoxFuture<'a, (Result<ToolOutput, Error>, CallStats)>;
}

impl Executor {
    /// Builds the executor from its configuration sections. With a Redis
    /// `backend` the result cache and the rate limits are shared through it.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        policy: policy::PolicyConfig,
        rate_cfg: RateLimitConfig,
        bulkheads: bulkhead::BulkheadConfig,
        cache_cfg: &cache::CacheConfig,
        cfg: ExecutorConfig,
        clock: Arc<dyn Clock>,
        backend: crate::backend::Backend,
    ) -> Result<Executor, Error> {
        use rand::SeedableRng;
        let cache = cache_cfg.enabled.then(|| ResultCache::new(backend.cache_store(cache_cfg)));
        let local_rate_share = backend.redis().map_or(1.0, |r| r.config().local_rate_share);
        Ok(Executor {
            policies: Policies::new(policy)
                .map_err(Error::Configuration)?
                .with_cache_ttl(Duration::from_secs(cache_cfg.ttl_secs)),
            rate_cfg,
            limiter: RateLimiter::new(clock.clone()),
            breakers: Breakers::new(clock.clone()),
            bulkheads: Bulkheads::new(bulkheads)
                .map_err(Error::Configuration)?
                .with_default_wait(Duration::from_millis(cfg.max_wait_ms)),
            budget: RetryBudget::new(
                Duration::from_secs(cfg.retry_budget_ttl_secs.max(1)),
                cfg.retry_budget_min_per_sec,
                cfg.retry_budget_percent,
            ),
            cfg,
            cache,
            clock,
            rng: Mutex::new(rand::rngs::StdRng::from_os_rng()),
            rate_checks: Default::default(),
            shared_limiter: backend.rate_limiter(),
            backend,
            local_rate_share,
            rate_fallback: Default::default(),
        })
    }

    /// Where shared state lives.
    pub fn backend(&self) -> &crate::backend::Backend {
        &self.backend
    }

    /// Executor settings.
    pub fn config(&self) -> &ExecutorConfig {
        &self.cfg
    }

    /// Breaker states and counters, per `tenant:tool`.
    pub fn breakers(&self) -> Vec<(String, breaker::BreakerSnapshot)> {
        self.breakers.snapshots()
    }

    /// Bulkhead counters per compartment.
    pub fn bulkheads(&self) -> &Bulkheads {
        &self.bulkheads
    }

    /// Cache (hits, misses), when caching is on.
    pub fn cache_counters(&self) -> Option<(u64, u64)> {
        self.cache.as_ref().map(ResultCache::counters)
    }

    fn remaining(&self, deadline: Option<Instant>) -> Option<Duration> {
        deadline.map(|d| d.saturating_duration_since(self.clock.now()))
    }

    /// What is left of a wait that started at `since`: `max_wait_ms`, or the
    /// deadline when that comes sooner.
    fn wait_left(&self, deadline: Option<Instant>, since: Instant) -> Duration {
        let waited = self.clock.now().saturating_duration_since(since);
        let left = Duration::from_millis(self.cfg.max_wait_ms).saturating_sub(waited);
        self.remaining(deadline).map_or(left, |r| r.min(left))
    }

    /// Runs one call through every policy. Never panics on bad input: every
    /// failure is a typed error in the result.
    pub(crate) async fn execute(
        &self,
        host: &dyn Attempt,
        lookup: impl FnOnce(&str, &str) -> Option<ToolEntry>,
        ctx: &ExecutionContext,
        call: ToolCall,
        index: usize,
        opts: &CallOptions,
    ) -> CallResult {
        let started = self.clock.now();
        let call_id = call.call_id.clone().unwrap_or_else(crate::host::new_call_id);
        let not_found = Error::ToolNotFound { tool: crate::runtime::preview(&call.tool) };
        let mut res = CallResult::not_run(index, call_id, call.tool.clone(), not_found);
        let tenant = ctx.tenant_id.as_deref().unwrap_or(crate::registry::tenant::DEFAULT_TENANT);
        let Some(entry) = lookup(tenant, &call.tool) else {
            res.duration = self.clock.now().saturating_duration_since(started);
            return res;
        };
        let eff = self.policies.resolve_cached(
            &entry.tool.name,
            entry.tool.idempotent,
            entry.plugin.timeout_override,
            entry.plugin.limits.timeout(),
            &call.policy,
        );
        let deadline = match (ctx.deadline, eff.total_timeout) {
            (Some(d), Some(t)) => Some(d.min(started + t)),
            (d, t) => d.or(t.map(|t| started + t)),
        };
        let checked =
            check_request(ctx, &call).and_then(|()| crate::host::parse_arguments(&entry, &call.arguments));
        let (result, attempts, stats) = match checked {
            Err(e) => (Err(e), 0, None),
            Ok((args_text, args_value)) => {
                let run = || {
                    self.limited_and_retried(
                        host,
                        &entry,
                        &eff,
                        &args_text,
                        ctx,
                        &res.call_id,
                        deadline,
                        opts,
                    )
                };
                match (&self.cache, eff.cache && eff.idempotent) {
                    (Some(cache), true) => {
                        let key =
                            CacheKey::new(tenant, &entry.tool.name, &entry.plugin.cache_digest, &args_value);
                        let ran = Mutex::new((0u32, None));
                        // `cache.lookup` covers the lookup and, on a miss, the run
                        // it leads (whose spans nest under it).
                        let span = tracing::info_span!("cache.lookup", result = tracing::field::Empty);
                        let bounds =
                            WaitBounds { cancel: opts.cancel.as_ref(), remaining: self.remaining(deadline) };
                        let looked_up = tracing::Instrument::instrument(
                            cache.get_or_run_bounded(key, eff.cache_ttl, bounds, || async {
                                let (r, attempts, st) = run().await;
                                *ran.lock().unwrap() = (attempts, st);
                                r
                            }),
                            span.clone(),
                        )
                        .await;
                        // The caller's own cancel or deadline ended its wait for an identical call.
                        let (r, served) = looked_up.unwrap_or_else(|stop| {
                            let budget = deadline.map(|d| d.saturating_duration_since(started));
                            (Err(stop.into_error(&entry.tool.name, budget)), Served::Ran)
                        });
                        res.cached = served == Served::Cached;
                        span.record("result", if res.cached { "hit" } else { "miss" });
                        crate::observe::metrics::cache_get(res.cached);
                        let (attempts, st) = ran.into_inner().unwrap();
                        (r, attempts, st)
                    }
                    _ => {
                        let (r, attempts, st) = run().await;
                        (r.map(Arc::new), attempts, st)
                    }
                }
            }
        };
        res.attempts = attempts;
        res.stats = stats;
        res.result = match (result, &eff.fallback) {
            (Err(e), Some(fb)) if !matches!(e, Error::InvalidArguments { .. } | Error::Cancelled { .. }) => {
                res.fallback_for = Some(e);
                Ok(Arc::new(ToolOutput { value: Some(fb.clone()), content: vec![] }))
            }
            (r, _) => r,
        };
        res.duration = self.clock.now().saturating_duration_since(started);
        crate::observe::metrics::call_finished(&res, entry.tool.namespace.as_deref(), tenant);
        crate::observe::logs::payload(&res, &call.arguments);
        res
    }

    /// Rate limit, then the retry loop (breaker, bulkhead, attempt).
    #[allow(clippy::too_many_arguments)]
    async fn limited_and_retried(
        &self,
        host: &dyn Attempt,
        entry: &ToolEntry,
        eff: &Effective,
        args: &str,
        ctx: &ExecutionContext,
        call_id: &str,
        deadline: Option<Instant>,
        opts: &CallOptions,
    ) -> (Result<ToolOutput, Error>, u32, Option<CallStats>) {
        let tool = &entry.tool.name;
        let tenant = ctx.tenant_id.as_deref().unwrap_or(crate::registry::tenant::DEFAULT_TENANT);
        if opts.cancel.as_ref().is_some_and(crate::CancelToken::is_cancelled) {
            // Cancelled before admission: no token is charged, nothing runs.
            return (Err(Error::Cancelled { tool: tool.clone() }), 0, None);
        }
        let span = tracing::info_span!("rate_limit.check", allowed = tracing::field::Empty);
        let admitted = tracing::Instrument::instrument(
            self.admit_rate(tenant, tool, eff, deadline, opts.cancel.as_ref()),
            span.clone(),
        )
        .await;
        span.record("allowed", admitted.is_ok());
        if let Err(e) = admitted {
            return (Err(e), 0, None);
        }
        self.budget.deposit(self.clock.now());
        let breaker_key = format!("{tenant}:{tool}");
        let mut last_stats = None;
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let remaining = self.remaining(deadline);
            if remaining == Some(Duration::ZERO) {
                return (Err(Error::Timeout { tool: tool.clone(), timeout_ms: 0 }), attempt - 1, last_stats);
            }
            let attempt_span = tracing::info_span!("tool.attempt", attempt, outcome = tracing::field::Empty);
            let permit = match &eff.breaker {
                Some(cfg) => {
                    let check = tracing::info_span!(parent: &attempt_span, "breaker.check", admitted = tracing::field::Empty);
                    let acquired = check.in_scope(|| self.breakers.acquire(&breaker_key, cfg));
                    check.record("admitted", acquired.is_ok());
                    match acquired {
                        Ok(p) => Some(p),
                        Err(open) => {
                            attempt_span.record("outcome", crate::ErrorCode::ToolCircuitOpen.as_str());
                            let e = Error::CircuitOpen {
                                tool: tool.clone(),
                                retry_after_ms: clock::ceil_millis(open.retry_after),
                            };
                            return (Err(e), attempt - 1, last_stats);
                        }
                    }
                }
                None => None,
            };
            let wait_span =
                tracing::info_span!(parent: &attempt_span, "bulkhead.wait", admitted = tracing::field::Empty);
            let acquired = tracing::Instrument::instrument(
                wait::interruptible(
                    self.bulkheads.acquire(tenant, tool, remaining),
                    opts.cancel.as_ref(),
                    None,
                ),
                wait_span.clone(),
            )
            .await;
            wait_span.record("admitted", matches!(acquired, Ok(Ok(_))));
            let slot = match acquired {
                Ok(Ok(s)) => s,
                Err(_cancelled) => {
                    attempt_span.record("outcome", crate::ErrorCode::ToolCancelled.as_str());
                    if let Some(p) = permit {
                        self.breakers.record(p, Outcome::Ignored, Duration::ZERO);
                    }
                    return (Err(Error::Cancelled { tool: tool.clone() }), attempt - 1, last_stats);
                }
                Ok(Err(full)) => {
                    attempt_span.record("outcome", crate::ErrorCode::BulkheadFull.as_str());
                    if let Some(p) = permit {
                        self.breakers.record(p, Outcome::Ignored, Duration::ZERO);
                    }
                    let e = Error::BulkheadFull {
                        tool: tool.clone(),
                        key: full.key,
                        reason: full.reason.to_string(),
                        waited_ms: full.waited.as_millis() as u64,
                    };
                    return (Err(e), attempt - 1, last_stats);
                }
            };
            let timeout = match self.remaining(deadline) {
                Some(r) => eff.attempt_timeout.min(r),
                None => eff.attempt_timeout,
            };
            let t0 = self.clock.now();
            let spec = AttemptSpec { entry, args, ctx, call_id, attempt, timeout, opts };
            let (result, stats) =
                tracing::Instrument::instrument(host.attempt(spec), attempt_span.clone()).await;
            attempt_span.record("outcome", result.as_ref().err().map_or("success", |e| e.code().as_str()));
            drop(slot);
            last_stats = Some(stats);
            if let Some(p) = permit {
                self.breakers.record(
                    p,
                    breaker_outcome(&result),
                    self.clock.now().saturating_duration_since(t0),
                );
            }
            let Err(err) = result else {
                return (result, attempt, last_stats);
            };
            let wanted = retryable(&err, eff, attempt);
            if !wanted || opts.cancel.as_ref().is_some_and(|c| c.is_cancelled()) {
                return (Err(err), attempt, last_stats);
            }
            let computed = retry::backoff(&eff.retry, attempt - 1, &mut *self.rng.lock().unwrap());
            let hint = err.retry_after_ms().map(Duration::from_millis);
            let max_interval = Duration::from_millis(self.cfg.max_retry_after_ms);
            let plan = retry::plan_sleep(
                computed,
                hint,
                self.remaining(deadline),
                max_interval,
                &mut *self.rng.lock().unwrap(),
            );
            let SleepPlan::Sleep(sleep) = plan else {
                return (Err(err), attempt, last_stats);
            };
            if !self.budget.withdraw(self.clock.now()) {
                tracing::debug!(tool = %tool, "retry budget exhausted");
                return (Err(err), attempt, last_stats);
            }
            tracing::debug!(tool = %tool, attempt, sleep_ms = sleep.as_millis() as u64, error = %err, "retrying");
            if wait::sleep(sleep, opts.cancel.as_ref()).await.is_err() {
                return (Err(Error::Cancelled { tool: tool.clone() }), attempt, last_stats);
            }
        }
    }

    /// All applicable quotas at once; waits when allowed and the wait fits
    /// in `min(remaining deadline, max_wait_ms)`, unless cancelled.
    async fn admit_rate(
        &self,
        tenant: &str,
        tool: &str,
        eff: &Effective,
        deadline: Option<Instant>,
        cancel: Option<&crate::CancelToken>,
    ) -> Result<(), Error> {
        let tenant_quota = self.rate_cfg.tenants.get(tenant).or(self.rate_cfg.per_tenant.as_ref());
        if self.rate_cfg.global.is_none() && tenant_quota.is_none() && eff.rate_limit.is_none() {
            return Ok(());
        }
        // Idle keys are evicted now and then so per-(tenant, tool) state stays bounded.
        if self.rate_checks.fetch_add(1, std::sync::atomic::Ordering::Relaxed) % 4096 == 4095 {
            self.limiter.retain_recent();
        }
        let tenant_key = format!("tenant:{tenant}");
        let mut checks: Vec<(&str, &Quota)> = Vec::with_capacity(3);
        if let Some(q) = &self.rate_cfg.global {
            checks.push(("global", q));
        }
        if let Some(q) = tenant_quota {
            checks.push((&tenant_key, q));
        }
        let scoped;
        if let Some((scope, q)) = &eff.rate_limit {
            scoped = format!("{scope}@{tenant}");
            checks.push((&scoped, q));
        }
        let mut waiting_since = None;
        loop {
            let checked = self.check_rate(&checks).await;
            crate::observe::metrics::rate_limit_check(checked.is_ok());
            match checked {
                Ok(()) => return Ok(()),
                Err(limited) => {
                    let fits = eff.rate_limit_wait && !limited.impossible && {
                        let since = *waiting_since.get_or_insert_with(|| self.clock.now());
                        limited.retry_after < self.wait_left(deadline, since)
                    };
                    if fits {
                        if wait::sleep(limited.retry_after, cancel).await.is_err() {
                            return Err(Error::Cancelled { tool: tool.to_string() });
                        }
                        continue;
                    }
                    return Err(Error::RateLimited {
                        tool: tool.to_string(),
                        key: limited.key,
                        retry_after_ms: clock::ceil_millis(limited.retry_after),
                    });
                }
            }
        }
    }
}

impl Executor {
    /// One admission decision: the shared limiter when the backend is Redis,
    /// else (or when Redis fails) the local one; the fallback uses
    /// `local_rate_share` of every quota.
    async fn check_rate(&self, checks: &[(&str, &Quota)]) -> Result<(), rate_limit::RateLimited> {
        use std::sync::atomic::Ordering::Relaxed;
        let Some(shared) = &self.shared_limiter else {
            return self.limiter.check(checks, 1);
        };
        match shared.check(checks, 1).await {
            Ok(decision) => {
                if self.rate_fallback.swap(false, Relaxed) {
                    tracing::info!("rate limits shared through redis again");
                }
                decision.result
            }
            Err(e) => {
                crate::observe::metrics::redis_fallback("rate_limit");
                if !self.rate_fallback.swap(true, Relaxed) {
                    tracing::warn!(error = %e, share = self.local_rate_share,
                        "redis rate limit unavailable; using the local limiter at its share of each quota");
                }
                let scaled: Vec<(&str, Quota)> = checks
                    .iter()
                    .map(|(k, q)| (*k, crate::backend::redis::local_share(q, self.local_rate_share)))
                    .collect();
                let refs: Vec<(&str, &Quota)> = scaled.iter().map(|(k, q)| (*k, q)).collect();
                self.limiter.check(&refs, 1)
            }
        }
    }
}

/// A call's own policy and its request context, checked before anything
/// runs: nonsense (a zero timeout, a zero-rate quota, a header value that
/// could never be propagated) is the caller's error, never silently applied.
fn check_request(ctx: &ExecutionContext, call: &ToolCall) -> Result<(), Error> {
    let invalid =
        |problem: String| Error::InvalidArguments { tool: call.tool.clone(), problems: vec![problem] };
    call.policy.validate().map_err(|e| invalid(format!("per-call policy: {e}")))?;
    ctx.validate().map_err(|e| invalid(format!("request context: {e}")))
}

/// What an attempt's outcome means to the breaker (resilience.md §0): only
/// tool faults count; the caller's mistakes, rejections and cancellations don't.
fn breaker_outcome(r: &Result<ToolOutput, Error>) -> Outcome {
    match r {
        Ok(_) => Outcome::Success,
        Err(e) => match e {
            // The caller's bad input and upstream 429s are not the tool's fault.
            Error::Tool { kind: ToolErrorKind::Transient | ToolErrorKind::Internal, .. } => Outcome::Failure,
            Error::Tool { .. } => Outcome::Ignored,
            Error::Timeout { .. }
            | Error::Trapped { .. }
            | Error::InvalidOutput { .. }
            | Error::OutputTooLarge { .. } => Outcome::Failure,
            Error::ResourceExhausted { resource, .. } if *resource != Resource::InstancePool => {
                Outcome::Failure
            }
            _ => Outcome::Ignored,
        },
    }
}

/// Whether the retry loop may try again after `attempts` attempts (stricter
/// than the caller-facing `Error::retryable`).
fn retryable(e: &Error, eff: &Effective, attempts: u32) -> bool {
    let class = match e {
        Error::Tool { retryable, .. } => *retryable,
        Error::Timeout { .. } => true,
        Error::ResourceExhausted { resource: Resource::InstancePool, .. } => true,
        _ => false,
    };
    class && eff.retry.allows_retry(attempts, eff.idempotent, matches!(e, Error::Timeout { .. }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn executor(max_wait_ms: u64) -> Executor {
        let cfg = ExecutorConfig { max_wait_ms, ..ExecutorConfig::default() };
        let (policy, bulkheads) = (policy::PolicyConfig::default(), bulkhead::BulkheadConfig::default());
        let cache = cache::CacheConfig::default();
        let clock = Arc::new(TokioClock);
        Executor::new(policy, RateLimitConfig::default(), bulkheads, &cache, cfg, clock, Default::default())
            .unwrap()
    }

    /// `ok` limited to one call per `per` and waiting for tokens.
    fn waiting(ex: &Executor, per: Duration) -> Effective {
        let mut eff =
            ex.policies.resolve("ok", true, None, Duration::from_secs(30), &PolicyOverride::default());
        eff.rate_limit = Some(("tool:ok".into(), Quota { rate: 1, per, burst: 1 }));
        eff.rate_limit_wait = true;
        eff
    }

    #[tokio::test(start_paused = true)]
    async fn a_rate_limit_wait_fits_max_wait_and_the_deadline_and_ends_on_cancel() {
        let ex = executor(30_000);
        let eff = waiting(&ex, Duration::from_secs(20));
        ex.admit_rate("a", "ok", &eff, None, None).await.unwrap();
        // 20 s fits in the default 30 s: it waits exactly that.
        let t = tokio::time::Instant::now();
        ex.admit_rate("a", "ok", &eff, None, None).await.unwrap();
        assert_eq!(t.elapsed(), Duration::from_secs(20));
        // A deadline sooner than the token: refused at once.
        let soon = Some(ex.clock.now() + Duration::from_secs(5));
        let e = ex.admit_rate("a", "ok", &eff, soon, None).await.unwrap_err();
        assert_eq!((e.code(), t.elapsed()), (crate::ErrorCode::ToolRateLimited, Duration::from_secs(20)));
        // Cancelled while waiting: at once.
        let cancel = crate::CancelToken::new();
        let c = cancel.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(3)).await;
            c.cancel();
        });
        let t = tokio::time::Instant::now();
        let e = ex.admit_rate("a", "ok", &eff, None, Some(&cancel)).await.unwrap_err();
        assert_eq!((e.code(), t.elapsed()), (crate::ErrorCode::ToolCancelled, Duration::from_secs(3)));
        // No deadline, but the token is further away than max_wait_ms: refused at once.
        let ex = executor(10_000);
        let eff = waiting(&ex, Duration::from_secs(20));
        ex.admit_rate("a", "ok", &eff, None, None).await.unwrap();
        let t = tokio::time::Instant::now();
        let e = ex.admit_rate("a", "ok", &eff, None, None).await.unwrap_err();
        assert_eq!((e.code(), t.elapsed()), (crate::ErrorCode::ToolRateLimited, Duration::ZERO));
    }
}
