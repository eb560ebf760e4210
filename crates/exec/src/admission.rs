//! The outermost layers of a call: admission (tenant, tool lookup, the
//! effective policy, one absolute deadline), argument validation (no guest
//! CPU, not a breaker event), the result cache (idempotent tools only, single
//! flight), and the tool's fallback once everything below has failed.

use crate::attempt::{Attempt, ToolInfo};
use crate::cache::{CacheKey, Owner, Served, WaitBounds};
use crate::call::ToolCall;
use crate::executor::Executor;
use crate::policy::Effective;
use std::sync::{Arc, Mutex};
use std::time::Instant;
use toolhost_core::{
    CallOptions, CallResult, CallStats, DEFAULT_TENANT, Error, ExecutionContext, ToolOutput,
};

/// A call admitted past lookup and validation, as every layer below reads it.
pub(crate) struct Admitted<'a, T> {
    pub(crate) tool: &'a T,
    pub(crate) info: ToolInfo<'a>,
    pub(crate) eff: &'a Effective,
    /// Validated arguments (JSON text).
    pub(crate) args: &'a str,
    /// The same arguments, parsed.
    pub(crate) value: &'a serde_json::Value,
    pub(crate) ctx: &'a ExecutionContext,
    pub(crate) tenant: &'a str,
    pub(crate) call_id: &'a str,
    /// `min(context deadline, start + total timeout)`.
    pub(crate) deadline: Option<Instant>,
    pub(crate) opts: &'a CallOptions,
    /// [`Attempt::arguments_version`] of the tool.
    pub(crate) version: Option<u64>,
}

/// What the layers below the cache report: the result, attempts made, and
/// the cost of the last attempt that ran.
pub(crate) type Ran = (Result<ToolOutput, Error>, u32, Option<CallStats>);

impl Executor {
    /// Runs one call through every policy. Never panics on bad input: every
    /// failure is a typed error in the result.
    pub async fn execute<A: Attempt + ?Sized>(
        &self,
        host: &A,
        ctx: &ExecutionContext,
        call: ToolCall,
        index: usize,
        opts: &CallOptions,
    ) -> CallResult {
        let started = self.clock.now();
        let call_id = call.call_id.clone().unwrap_or_else(toolhost_core::new_call_id);
        let tenant = ctx.tenant_id.as_deref().unwrap_or(DEFAULT_TENANT);
        let Some(tool) = host.lookup(tenant, &call.tool) else {
            // Built only when it is the answer: a found tool costs no error text.
            let not_found = Error::ToolNotFound { tool: toolhost_core::text::preview(&call.tool) };
            let mut res = CallResult::not_run(index, call_id, call.tool, not_found);
            res.duration = self.clock.now().saturating_duration_since(started);
            return res;
        };
        let info = host.info(&tool);
        // The enclosing `tool.execute` span (when the caller opened one) learns what serves the tool.
        tracing::Span::current().record("source", info.source);
        let eff = self.policies.load().resolve_cached(
            info.name,
            info.idempotent,
            info.timeout_override,
            info.default_timeout,
            &call.policy,
        );
        let deadline = deadline_of(ctx, &eff, started);
        let request = check_request(ctx, &call);
        let fast =
            if request.is_ok() { self.memoised_hit(host, &tool, &eff, tenant, &call).await } else { None };
        // In flight (`toolhost top`) unless a remembered hit (about a microsecond).
        let _live = fast.is_none().then(|| toolhost_core::observe::live::track(&call_id, &call.tool, tenant));
        let (result, attempts, stats, fallback, cached) = match fast {
            // From the cache: nothing ran, nothing to replace.
            Some(hit) => (Ok(hit), 0, None, false, true),
            None => {
                let checked = request.and_then(|()| host.parse_arguments(&tool, &call.arguments));
                let answered = with_answers(&call, opts);
                let opts = answered.as_ref().unwrap_or(opts);
                match checked {
                    Err(e) => (Err(e), 0, None, false, false),
                    Ok((args, value)) => {
                        let a = Admitted {
                            tool: &tool,
                            info,
                            eff: &eff,
                            args: &args,
                            value: &value,
                            ctx,
                            tenant,
                            call_id: &call_id,
                            deadline,
                            opts,
                            version: host.arguments_version(&tool),
                        };
                        Box::pin(self.admitted(host, &a, started)).await
                    }
                }
            }
        };
        let (result, fallback_for) = if fallback { with_fallback(result, &eff) } else { (result, None) };
        let res = CallResult {
            index,
            call_id,
            tool: call.tool,
            result,
            attempts,
            cached,
            fallback_for,
            started: std::time::Duration::ZERO,
            duration: self.clock.now().saturating_duration_since(started),
            stats,
        };
        toolhost_core::observe::metrics::call_finished(&res, info.namespace, info.source, tenant);
        toolhost_core::observe::logs::payload(&res, &call.arguments);
        res
    }

    /// A call past validation (boxed by `execute`: the whole call path's state
    /// lives on the heap only for calls that take it, so a cache hit moves a
    /// small future): confirmation of a destructive tool, then the
    /// cache layer and everything below it. Returns the result, attempts,
    /// stats, whether a fallback may replace a failure, and whether the
    /// answer came from the cache.
    async fn admitted<A: Attempt + ?Sized>(
        &self,
        host: &A,
        a: &Admitted<'_, A::Tool>,
        started: Instant,
    ) -> (Result<Arc<ToolOutput>, Error>, u32, Option<CallStats>, bool, bool) {
        // A destructive tool runs only once its caller confirms (nothing
        // is cached, retried, counted by a breaker or replaced by a fallback).
        match self.confirmed(a).await {
            Err(e) => (Err(e), 0, None, false, false),
            Ok(()) => {
                let (r, attempts, stats, cached) = self.cache_layer(host, a, started).await;
                (r, attempts, stats, true, cached)
            }
        }
    }

    /// The hit fast path: a cacheable call whose exact argument text this
    /// tool version accepted before is answered from the cache with its
    /// remembered key (no parsing, validation or hashing), as the cache layer
    /// would answer it: counted as a hit, in a `cache.lookup` span. `None`
    /// (nothing counted) sends the call down the full path: not cacheable,
    /// not remembered, not stored any more, a destructive tool to confirm, or
    /// answers to earlier questions to read.
    async fn memoised_hit<A: Attempt + ?Sized>(
        &self,
        host: &A,
        tool: &A::Tool,
        eff: &Effective,
        tenant: &str,
        call: &ToolCall,
    ) -> Option<Arc<ToolOutput>> {
        let cache = self.cache.as_ref().filter(|_| eff.cache && eff.idempotent)?;
        let info = host.info(tool);
        if (eff.confirm_destructive && info.destructive)
            || !call.input_responses.as_ref().is_ok_and(|m| m.is_empty())
        {
            return None;
        }
        let (version, args) = (host.arguments_version(tool)?, call.arguments.as_ref().ok()?);
        let key = cache.memo.get(version, info.name, tenant, args)?;
        let span = tracing::info_span!("cache.lookup", result = tracing::field::Empty);
        let hit = tracing::Instrument::instrument(cache.get_stored(&key), span.clone()).await?;
        span.record("result", "hit");
        toolhost_core::observe::metrics::cache_get(true);
        Some(hit)
    }

    /// `Ok` unless the policy confirms destructive calls, `a` is one, and its
    /// caller did not confirm it ([`crate::confirm`]).
    async fn confirmed<T>(&self, a: &Admitted<'_, T>) -> Result<(), Error> {
        // Boxed: the other calls' futures stay small.
        if a.eff.confirm_destructive && a.info.destructive { Box::pin(self.confirm(a)).await } else { Ok(()) }
    }

    /// The cache layer: an idempotent call whose policy caches is answered
    /// from the cache or run once for every identical call in flight (each
    /// follower waits within its own deadline and cancel token); any other
    /// call goes straight down. Returns whether the answer came from the cache.
    async fn cache_layer<A: Attempt + ?Sized>(
        &self,
        host: &A,
        a: &Admitted<'_, A::Tool>,
        started: Instant,
    ) -> (Result<Arc<ToolOutput>, Error>, u32, Option<CallStats>, bool) {
        let Some(cache) = self.cache.as_ref().filter(|_| a.eff.cache && a.eff.idempotent) else {
            let (r, attempts, st) = self.limited_and_retried(host, a).await;
            return (r.map(Arc::new), attempts, st, false);
        };
        let key = CacheKey::new(a.tenant, a.info.name, a.info.cache_digest, a.value);
        // Remembered for the hit fast path once there is a result to hit.
        let remember =
            a.version.filter(|_| a.args.len() <= crate::key_memo::MAX_ARGS).map(|v| (v, key.clone()));
        let ran = Mutex::new((0u32, None));
        // `cache.lookup` covers the lookup and, on a miss, the run it leads
        // (whose spans nest under it).
        let span = tracing::info_span!("cache.lookup", result = tracing::field::Empty);
        let bounds = WaitBounds {
            cancel: a.opts.cancel.as_ref(),
            remaining: self.remaining(a.deadline),
            owner: Some(Owner { tenant: a.tenant, tool: a.info.name }),
        };
        let looked_up = tracing::Instrument::instrument(
            cache.get_or_run_bounded(key, a.eff.cache_ttl, bounds, || async {
                let (r, attempts, st) = self.limited_and_retried(host, a).await;
                *ran.lock().unwrap() = (attempts, st);
                r
            }),
            span.clone(),
        )
        .await;
        // The caller's own cancel or deadline ended its wait for an identical call.
        let (r, served) = looked_up.unwrap_or_else(|stop| {
            let budget = a.deadline.map(|d| d.saturating_duration_since(started));
            (Err(stop.into_error(a.info.name, budget)), Served::Ran)
        });
        let cached = served == Served::Cached;
        if let (Some((version, key)), true) = (remember, r.is_ok()) {
            cache.memo.put(version, a.info.name, a.tenant, a.args, key);
        }
        span.record("result", if cached { "hit" } else { "miss" });
        toolhost_core::observe::metrics::cache_get(cached);
        let (attempts, st) = ran.into_inner().unwrap();
        (r, attempts, st, cached)
    }
}

/// `min(context deadline, start + total timeout)`.
fn deadline_of(ctx: &ExecutionContext, eff: &Effective, started: Instant) -> Option<Instant> {
    match (ctx.deadline, eff.total_timeout) {
        (Some(d), Some(t)) => Some(d.min(started + t)),
        (d, t) => d.or(t.map(|t| started + t)),
    }
}

/// The tool's configured fallback in place of a failure (never in place of
/// the caller's own bad arguments or cancellation), and the error it replaced.
fn with_fallback(
    result: Result<Arc<ToolOutput>, Error>,
    eff: &Effective,
) -> (Result<Arc<ToolOutput>, Error>, Option<Error>) {
    match (result, &eff.fallback) {
        (Err(e), Some(fb))
            if !matches!(
                e,
                Error::InvalidArguments { .. } | Error::Cancelled { .. } | Error::InputRequired { .. }
            ) =>
        {
            (Ok(Arc::new(ToolOutput { value: Some(fb.clone()), content: vec![] })), Some(e))
        }
        (r, _) => (r, None),
    }
}

/// The call's options with its `input_responses` answering first (none: as given).
fn with_answers(call: &ToolCall, opts: &CallOptions) -> Option<CallOptions> {
    let given = call.input_responses.as_ref().ok().filter(|m| !m.is_empty())?;
    let answers = toolhost_core::interact::Answers::new(given.clone(), opts.interact.clone());
    Some(CallOptions { interact: Some(Arc::new(answers)), ..opts.clone() })
}

/// A call's own policy and its request context, checked before anything
/// runs: nonsense (a zero timeout, a zero-rate quota, a header value that
/// could never be propagated) is the caller's error, never silently applied.
fn check_request(ctx: &ExecutionContext, call: &ToolCall) -> Result<(), Error> {
    let invalid =
        |problem: String| Error::InvalidArguments { tool: call.tool.clone(), problems: vec![problem] };
    call.policy.validate().map_err(|e| invalid(format!("per-call policy: {e}")))?;
    call.input_responses.as_ref().map_err(|e| invalid(e.clone()))?;
    ctx.validate().map_err(|e| invalid(format!("request context: {e}")))
}
