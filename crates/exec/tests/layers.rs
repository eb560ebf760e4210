//! The executor on its own: every layer driven through a fake [`Attempt`] on
//! tokio's paused clock, with no sandbox, registry or backend in the build.

use serde_json::Value;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use toolhost_core::{CallOptions, CallStats, Error, ErrorCode, ExecutionContext, ToolErrorKind, ToolOutput};
use toolhost_exec::cache::{BoxFuture, CacheConfig};
use toolhost_exec::{
    Attempt, AttemptSpec, Executor, ExecutorSections, SharedState, TokioClock, ToolCall, ToolInfo,
};

/// One tool, `fake.tool`, answering from a script (success once it runs out)
/// after `work` of virtual time, or timing out when that exceeds its budget.
#[derive(Default)]
struct Fake {
    script: Mutex<VecDeque<Error>>,
    work: Duration,
    attempts: AtomicU32,
    budgets: Mutex<Vec<Duration>>,
    /// `Attempt::arguments_version` (`None`: arguments always parsed).
    version: Option<u64>,
    parses: AtomicU32,
}

impl Fake {
    fn failing(n: usize, work: Duration) -> Fake {
        let transient = || Error::Tool {
            tool: "fake.tool".into(),
            kind: ToolErrorKind::Transient,
            message: "try again".into(),
            retryable: true,
            retry_after_ms: None,
            details: None,
        };
        Fake { script: Mutex::new((0..n).map(|_| transient()).collect()), work, ..Fake::default() }
    }
}

impl Attempt for Fake {
    type Tool = String;

    fn lookup(&self, _tenant: &str, name: &str) -> Option<String> {
        (name == "fake.tool").then(|| name.to_string())
    }

    fn info<'t>(&self, tool: &'t String) -> ToolInfo<'t> {
        ToolInfo {
            name: tool,
            namespace: Some("fake"),
            idempotent: true,
            timeout_override: None,
            default_timeout: Duration::from_secs(30),
            cache_digest: "digest",
            source: "fake",
            destructive: false,
        }
    }

    fn parse_arguments(&self, tool: &String, raw: &Result<String, String>) -> Result<(String, Value), Error> {
        self.parses.fetch_add(1, Ordering::SeqCst);
        let invalid = |p: String| Error::InvalidArguments { tool: tool.clone(), problems: vec![p] };
        let raw = raw.as_ref().map_err(|e| invalid(e.clone()))?;
        let value = serde_json::from_str(raw).map_err(|e| invalid(e.to_string()))?;
        Ok((raw.clone(), value))
    }

    fn arguments_version(&self, _tool: &String) -> Option<u64> {
        self.version
    }

    fn attempt<'a>(
        &'a self,
        tool: &'a String,
        spec: AttemptSpec<'a>,
    ) -> BoxFuture<'a, (Result<ToolOutput, Error>, CallStats)> {
        Box::pin(async move {
            self.attempts.fetch_add(1, Ordering::SeqCst);
            self.budgets.lock().unwrap().push(spec.timeout);
            if self.work > spec.timeout {
                tokio::time::sleep(spec.timeout).await;
                let e = Error::Timeout { tool: tool.clone(), timeout_ms: spec.timeout.as_millis() as u64 };
                return (Err(e), CallStats::default());
            }
            tokio::time::sleep(self.work).await;
            let next = self.script.lock().unwrap().pop_front();
            // Who asked is part of the answer: a hit shows whose result it is.
            let value = match &spec.ctx.tenant_id {
                Some(t) => serde_json::json!({"args": spec.args, "tenant": t}),
                None => Value::from(spec.args),
            };
            let out = ToolOutput { value: Some(value), content: vec![] };
            (next.map_or(Ok(out), Err), CallStats::default())
        })
    }
}

fn executor(policy: &str, cache: bool) -> Executor {
    let sections = ExecutorSections {
        policy: toml::from_str(policy).unwrap(),
        cache: CacheConfig { enabled: cache, ..CacheConfig::default() },
        ..ExecutorSections::default()
    };
    Executor::new(sections, Arc::new(TokioClock), SharedState::default()).unwrap()
}

async fn call(ex: &Executor, fake: &Fake, args: &str) -> toolhost_core::CallResult {
    let ctx = ExecutionContext::new();
    ex.execute(fake, &ctx, ToolCall::new("fake.tool", args), 0, &CallOptions::default()).await
}

#[tokio::test(start_paused = true)]
async fn transient_failures_are_retried_with_backoff_until_one_succeeds() {
    let ex = executor("[retry]\nmax_attempts = 3\nbase_ms = 100\ncap_ms = 1000", false);
    let fake = Fake::failing(2, Duration::from_millis(10));
    let r = call(&ex, &fake, r#"{"n":1}"#).await;
    assert!(r.result.is_ok(), "{:?}", r.result);
    assert_eq!((r.attempts, fake.attempts.load(Ordering::SeqCst)), (3, 3));
}

#[tokio::test(start_paused = true)]
async fn an_open_breaker_refuses_without_running_the_tool() {
    let policy = "[retry]\nmax_attempts = 1\n[breaker]\nwindow = { type = \"consecutive\", size = 2 }\nopen_duration_ms = 60000";
    let ex = executor(policy, false);
    let fake = Fake::failing(10, Duration::from_millis(5));
    for _ in 0..2 {
        assert_eq!(call(&ex, &fake, "{}").await.result.unwrap_err().code(), ErrorCode::ToolExecutionFailed);
    }
    let r = call(&ex, &fake, "{}").await;
    assert_eq!(r.result.unwrap_err().code(), ErrorCode::ToolCircuitOpen);
    assert_eq!((r.attempts, fake.attempts.load(Ordering::SeqCst)), (0, 2));
}

#[tokio::test(start_paused = true)]
async fn a_cache_hit_runs_nothing_and_other_arguments_miss() {
    let ex = executor("cache = true", true);
    let fake = Fake::failing(0, Duration::from_millis(5));
    assert!(!call(&ex, &fake, r#"{"a":1,"b":2}"#).await.cached);
    let hit = call(&ex, &fake, r#"{"b":2,"a":1}"#).await;
    assert!(hit.cached && hit.result.is_ok());
    assert!(!call(&ex, &fake, r#"{"a":2}"#).await.cached);
    assert_eq!(fake.attempts.load(Ordering::SeqCst), 2);
}

async fn call_as(ex: &Executor, fake: &Fake, tenant: &str, args: &str) -> toolhost_core::CallResult {
    let ctx = ExecutionContext::new().with_tenant_id(tenant);
    ex.execute(fake, &ctx, ToolCall::new("fake.tool", args), 0, &CallOptions::default()).await
}

#[tokio::test(start_paused = true)]
async fn a_repeated_hit_skips_parsing_is_counted_and_never_crosses_tenants() {
    let ex = executor("cache = true", true);
    let fake = Fake { version: Some(7), ..Fake::default() };
    let args = r#"{"q":1}"#;
    let first = call_as(&ex, &fake, "a", args).await;
    assert!(!first.cached && first.result.is_ok());
    let parses = fake.parses.load(Ordering::SeqCst);
    // Tenant a again: answered from the remembered key, its arguments not parsed again.
    for _ in 0..3 {
        let hit = call_as(&ex, &fake, "a", args).await;
        assert!(hit.cached, "{hit:?}");
        assert_eq!(hit.result.unwrap().value.as_ref().unwrap()["tenant"], "a");
        assert_eq!(hit.attempts, 0);
    }
    assert_eq!(fake.parses.load(Ordering::SeqCst), parses, "the fast path parsed nothing");
    assert_eq!(ex.cache_counters(), Some((3, 1)), "every fast hit is counted as a hit");
    // Tenant b, same tool, version and text: its own miss and its own answer.
    let b = call_as(&ex, &fake, "b", args).await;
    assert!(!b.cached, "tenant b must not see tenant a's entry");
    assert_eq!(b.result.unwrap().value.as_ref().unwrap()["tenant"], "b");
    let b_hit = call_as(&ex, &fake, "b", args).await;
    assert!(b_hit.cached);
    assert_eq!(b_hit.result.unwrap().value.as_ref().unwrap()["tenant"], "b");
    assert_eq!(fake.attempts.load(Ordering::SeqCst), 2);
}

#[tokio::test(start_paused = true)]
async fn the_fast_path_keeps_the_checks_a_hit_passes_through() {
    let ex = executor("cache = true", true);
    let fake = Fake { version: Some(9), ..Fake::default() };
    assert!(call(&ex, &fake, "{}").await.result.is_ok());
    assert!(call(&ex, &fake, "{}").await.cached);
    // A per-call policy that is nonsense is still the caller's error.
    let ctx = ExecutionContext::new();
    let mut bad = ToolCall::new("fake.tool", "{}");
    bad.policy.timeout_ms = Some(0);
    let r = ex.execute(&fake, &ctx, bad, 0, &CallOptions::default()).await;
    assert_eq!(r.result.unwrap_err().code(), ErrorCode::ToolValidationError);
    // A per-call `cache = false` is not answered from the cache.
    let mut uncached = ToolCall::new("fake.tool", "{}");
    uncached.policy.cache = Some(false);
    assert!(!ex.execute(&fake, &ctx, uncached, 0, &CallOptions::default()).await.cached);
    // Unknown tools stay unknown.
    let r = ex.execute(&fake, &ctx, ToolCall::new("fake.other", "{}"), 0, &CallOptions::default()).await;
    assert_eq!(r.result.unwrap_err().code(), ErrorCode::ToolNotFound);
}

#[tokio::test(start_paused = true)]
async fn every_attempt_gets_at_most_what_is_left_of_the_total_deadline() {
    let policy = "timeout_ms = 400\ntotal_timeout_ms = 1000\n[retry]\nmax_attempts = 5\nbase_ms = 1\ncap_ms = 1\nretry_timeouts = true";
    let ex = executor(policy, false);
    let fake = Fake::failing(0, Duration::from_secs(5));
    let t = tokio::time::Instant::now();
    let r = call(&ex, &fake, "{}").await;
    assert_eq!(r.result.unwrap_err().code(), ErrorCode::ToolTimeout);
    assert!(t.elapsed() <= Duration::from_millis(1010), "{:?}", t.elapsed());
    let budgets = fake.budgets.lock().unwrap().clone();
    assert_eq!(budgets[0], Duration::from_millis(400));
    assert!(budgets.iter().skip(1).all(|b| *b <= Duration::from_millis(600)), "{budgets:?}");
}

#[tokio::test(start_paused = true)]
async fn lookup_and_validation_failures_run_no_attempt() {
    let ex = executor("", false);
    let fake = Fake::failing(0, Duration::ZERO);
    let ctx = ExecutionContext::new();
    let missing = ex.execute(&fake, &ctx, ToolCall::new("no.such", "{}"), 0, &CallOptions::default()).await;
    assert_eq!(missing.result.unwrap_err().code(), ErrorCode::ToolNotFound);
    let bad = call(&ex, &fake, "{not json").await;
    assert_eq!(bad.result.unwrap_err().code(), ErrorCode::ToolValidationError);
    assert_eq!(fake.attempts.load(Ordering::SeqCst), 0);
}
