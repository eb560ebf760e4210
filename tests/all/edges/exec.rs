//! The executor's waits, single flight, cache key and panics (issue #13,
//! items 7–11): every wait honours the caller's cancel token and deadline and
//! ends by default; followers never inherit a leader's failure; a manifest
//! change is a new cache key; a panicking call is an `INTERNAL` result.

use crate::common::*;
use serde_json::json;
use std::time::{Duration, Instant};
use toolhost::{CallOptions, CallResult, CancelToken, ErrorCode, ExecutionContext, Host, ToolCall};

/// Runs `tool(args)` with `cancel`, cancelling it `after` from now.
async fn cancelled_after(host: &Host, tool: &str, args: serde_json::Value, after: Duration) -> CallResult {
    let cancel = CancelToken::new();
    let c = cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(after).await;
        c.cancel();
    });
    let opts = CallOptions { cancel: Some(cancel), ..Default::default() };
    host.execute(&ExecutionContext::new(), ToolCall::new(tool, args.to_string()), &opts).await
}

async fn exec(host: &Host, tool: &str, args: serde_json::Value) -> CallResult {
    host.execute(&ExecutionContext::new(), ToolCall::new(tool, args.to_string()), &CallOptions::default())
        .await
}

/// Asserts a prompt `TOOL_CANCELLED`: well before `wait` (what the call
/// would otherwise have waited) was over.
fn assert_cancelled_promptly(r: &CallResult, took: Duration, wait: Duration) {
    let code = r.result.as_ref().err().map(|e| e.code());
    assert_eq!(code, Some(ErrorCode::ToolCancelled), "{r:?}");
    assert!(took < wait / 4, "cancelled after {took:?}; the wait was {wait:?}");
    assert!(!r.cached, "a cancelled call is no cache hit");
}

// Item 9: cancellation in every wait.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelling_a_call_waiting_for_a_rate_limit_token_ends_it_at_once() {
    let wait = Duration::from_secs(20);
    let (host, _f) = host_with(
        "[policy.tools.ok]\nrate_limit = { rate = 1, per_ms = 20000, burst = 1 }\nrate_limit_wait = true\n",
    )
    .await;
    assert!(exec(&host, "ok", json!({})).await.result.is_ok());
    let t = Instant::now();
    let r = cancelled_after(&host, "ok", json!({}), Duration::from_millis(200)).await;
    assert_cancelled_promptly(&r, t.elapsed(), wait);
    assert_eq!(r.attempts, 0, "nothing ran");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelling_a_call_queued_in_a_bulkhead_ends_it_at_once() {
    let wait = Duration::from_secs(8);
    let (host, _f) = host_with(
        "[bulkheads.tools.spin]\nmax_concurrent = 1\nmax_queue_depth = 10\nacquisition_timeout_ms = 60000\n\
         [policy.tools.spin]\ntimeout_ms = 8000\n",
    )
    .await;
    let h = host.clone();
    let spinner = tokio::spawn(async move { exec(&h, "spin", json!({})).await });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let t = Instant::now();
    let r = cancelled_after(&host, "spin", json!({}), Duration::from_millis(200)).await;
    assert_cancelled_promptly(&r, t.elapsed(), wait);
    assert_eq!(r.attempts, 0, "nothing ran");
    let stats = host.executor().bulkheads().stats();
    assert_eq!((stats["tool:spin"].queued, stats["tool:spin"].active), (0, 1), "the waiter left the queue");
    spinner.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelling_a_call_in_retry_backoff_ends_it_at_once() {
    // The upstream asks for 20 s between tries: the backoff sleeps at least that.
    let wait = Duration::from_secs(20);
    let (host, _f) = host_with("[policy]\nretry = { max_attempts = 3, base_ms = 1 }\n").await;
    let t = Instant::now();
    let args = json!({"fail_times": 1, "retry_after_ms": 20000});
    let r = cancelled_after(&host, "flaky", args, Duration::from_millis(300)).await;
    assert_cancelled_promptly(&r, t.elapsed(), wait);
    assert_eq!(r.attempts, 1, "one attempt ran, the retry did not");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelling_a_call_waiting_for_an_identical_call_ends_it_at_once() {
    let wait = Duration::from_secs(4);
    let (host, _f) = host_with("[cache]\nenabled = true\n[policy]\ncache = true\n").await;
    let h = host.clone();
    let leader = tokio::spawn(async move { exec(&h, "sleep_ms", json!({"ms": 4000})).await });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let t = Instant::now();
    let r = cancelled_after(&host, "sleep_ms", json!({"ms": 4000}), Duration::from_millis(200)).await;
    assert_cancelled_promptly(&r, t.elapsed(), wait);
    // The leader is not disturbed by its follower leaving.
    let led = leader.await.unwrap();
    assert!(led.result.is_ok() && !led.cached, "{led:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelling_a_batch_ends_its_queued_calls_without_running_them() {
    let (host, _f) = host_with("[policy.tools.spin]\ntimeout_ms = 8000\n").await;
    // One slot: whichever call gets it spins; the others wait for their turn.
    let calls: Vec<ToolCall> =
        (0..4).map(|i| ToolCall::new("spin", json!({"i": i}).to_string()).with_id(format!("c{i}"))).collect();
    let cancel = CancelToken::new();
    let c = cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        c.cancel();
    });
    let opts =
        toolhost::BatchOptions { cancel: Some(cancel), order: toolhost::Order::Submission, dedup: false };
    let ctx = ExecutionContext::new().with_max_parallel(1);
    let t = Instant::now();
    let done = host.run_batch(&ctx, calls, opts).await;
    assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
    for r in &done {
        let code = r.result.as_ref().err().map(|e| e.code());
        assert_eq!(code, Some(ErrorCode::ToolCancelled), "{r:?}");
    }
    let mut attempts: Vec<u32> = done.iter().map(|r| r.attempts).collect();
    attempts.sort();
    assert_eq!(attempts, [0, 0, 0, 1], "the queued calls ran no guest after the batch was cancelled");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_cancelled_before_admission_charges_no_rate_limit_token() {
    let (host, _f) =
        host_with("[policy.tools.ok]\nrate_limit = { rate = 1, per_ms = 60000, burst = 1 }\n").await;
    let cancel = CancelToken::new();
    cancel.cancel();
    let opts = CallOptions { cancel: Some(cancel), ..Default::default() };
    let r = host.execute(&ExecutionContext::new(), ToolCall::new("ok", "{}"), &opts).await;
    assert_eq!(r.result.unwrap_err().code(), ErrorCode::ToolCancelled);
    let next = exec(&host, "ok", json!({})).await;
    assert!(next.result.is_ok(), "the quota is still there: {next:?}");
}

// Item 10: every queue wait ends by default.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rate_limit_wait_without_a_deadline_is_bounded_by_default() {
    // The next token is two minutes away; the default longest wait is 30 s,
    // so the call is refused at once with the exact retry-after.
    let (host, _f) = host_with(
        "[policy.tools.ok]\nrate_limit = { rate = 1, per_ms = 120000, burst = 1 }\nrate_limit_wait = true\n",
    )
    .await;
    assert!(exec(&host, "ok", json!({})).await.result.is_ok());
    let r = tokio::time::timeout(Duration::from_secs(10), exec(&host, "ok", json!({})))
        .await
        .expect("a rate-limited call without a deadline does not wait two minutes");
    let e = r.result.unwrap_err();
    assert_eq!(e.code(), ErrorCode::ToolRateLimited, "{e}");
    assert!(e.retry_after_ms().unwrap() > 100_000, "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn executor_max_wait_ms_bounds_a_bulkhead_queue_wait_without_a_deadline() {
    let (host, _f) = host_with(
        "[executor]\nmax_wait_ms = 300\n\
         [bulkheads.tools.spin]\nmax_concurrent = 1\nmax_queue_depth = 10\n\
         [policy.tools.spin]\ntimeout_ms = 8000\n",
    )
    .await;
    let h = host.clone();
    let spinner = tokio::spawn(async move { exec(&h, "spin", json!({})).await });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let t = Instant::now();
    let r = exec(&host, "spin", json!({})).await;
    let took = t.elapsed();
    let e = r.result.unwrap_err();
    assert_eq!(e.code(), ErrorCode::BulkheadFull, "{e}");
    assert!(e.to_string().contains("timed out"), "{e}");
    assert!(took >= Duration::from_millis(250) && took < Duration::from_secs(3), "{took:?}");
    // A compartment's own acquisition timeout wins over the default.
    let (host, _f) = host_with(
        "[executor]\nmax_wait_ms = 300\n\
         [bulkheads.tools.spin]\nmax_concurrent = 1\nacquisition_timeout_ms = 1200\n\
         [policy.tools.spin]\ntimeout_ms = 8000\n",
    )
    .await;
    let h = host.clone();
    let spinner2 = tokio::spawn(async move { exec(&h, "spin", json!({})).await });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let t = Instant::now();
    let e = exec(&host, "spin", json!({})).await.result.unwrap_err();
    assert_eq!(e.code(), ErrorCode::BulkheadFull, "{e}");
    assert!(t.elapsed() >= Duration::from_millis(1100), "{:?}", t.elapsed());
    spinner.abort();
    spinner2.abort();
}

// Item 7: single flight shares successes only.

/// Starts `leader` (a cached `sleep_ms` call under `ctx`/`opts`), then an
/// identical follower with no deadline and no cancel token.
async fn leader_then_follower(
    host: &Host,
    ctx: ExecutionContext,
    opts: CallOptions,
) -> (CallResult, CallResult) {
    let args = json!({"ms": 1200}).to_string();
    let (h, a) = (host.clone(), args.clone());
    let leader = tokio::spawn(async move { h.execute(&ctx, ToolCall::new("sleep_ms", a), &opts).await });
    tokio::time::sleep(Duration::from_millis(100)).await;
    let follower = host
        .execute(&ExecutionContext::new(), ToolCall::new("sleep_ms", args), &CallOptions::default())
        .await;
    (leader.await.unwrap(), follower)
}

fn assert_ran_itself(r: &CallResult) {
    assert!(!r.cached && r.attempts == 1, "{r:?}");
    assert_eq!(r.result.as_ref().unwrap().value, Some(json!({"slept_ms": 1200})), "{r:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follower_does_not_inherit_its_leaders_deadline() {
    let (host, _f) = host_with("[cache]\nenabled = true\n[policy]\ncache = true\n").await;
    let ctx = ExecutionContext::new().with_deadline(Instant::now() + Duration::from_millis(400));
    let (leader, follower) = leader_then_follower(&host, ctx, CallOptions::default()).await;
    assert_eq!(leader.result.unwrap_err().code(), ErrorCode::ToolTimeout);
    assert_ran_itself(&follower);
    assert_eq!(host.executor().cache_counters(), Some((0, 2)), "no hit was counted");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follower_does_not_inherit_its_leaders_cancellation() {
    let (host, _f) = host_with("[cache]\nenabled = true\n[policy]\ncache = true\n").await;
    let cancel = CancelToken::new();
    let c = cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(400)).await;
        c.cancel();
    });
    let opts = CallOptions { cancel: Some(cancel), ..Default::default() };
    let (leader, follower) = leader_then_follower(&host, ExecutionContext::new(), opts).await;
    assert_eq!(leader.result.unwrap_err().code(), ErrorCode::ToolCancelled);
    assert_ran_itself(&follower);
    // The follower's success is shared from now on.
    let again = exec(&host, "sleep_ms", json!({"ms": 1200})).await;
    assert!(again.cached && again.result.is_ok(), "{again:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_waiting_for_another_processs_lease_honours_its_own_cancel_token() {
    let redis = RedisServer::start();
    let toml = "[cache]\nenabled = true\n[policy]\ncache = true\n";
    let (a, _fa) = redis_host(&redis, toml).await;
    let (b, _fb) = redis_host(&redis, toml).await;
    let leader = tokio::spawn(async move { exec(&a, "sleep_ms", json!({"ms": 4000})).await });
    tokio::time::sleep(Duration::from_millis(400)).await;
    let t = Instant::now();
    let r = cancelled_after(&b, "sleep_ms", json!({"ms": 4000}), Duration::from_millis(200)).await;
    assert_cancelled_promptly(&r, t.elapsed(), Duration::from_secs(4));
    assert!(leader.await.unwrap().result.is_ok());
}

async fn redis_host(redis: &RedisServer, toml: &str) -> (Host, Folder) {
    let f = Folder::new();
    f.wasm("h", &hostile());
    let mut cfg = toolhost::Config::from_toml(toml).unwrap();
    cfg.plugins_dir = f.path().to_path_buf();
    cfg.cache_dir = Some(shared_cache());
    cfg.redis_url = Some(redis.url());
    let host = Host::builder().config(cfg).build().await.expect("host builds");
    assert_loaded(&host, "h");
    (host, f)
}

// Item 8: the cache key covers the manifest.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_manifest_only_change_is_a_cache_miss() {
    let f = Folder::new();
    f.wasm("h", &hostile());
    f.manifest("h", "[config]\ngreeting = \"one\"\n");
    let mut cfg = toolhost::Config::from_toml("[cache]\nenabled = true\n[policy]\ncache = true\n").unwrap();
    cfg.plugins_dir = f.path().to_path_buf();
    cfg.cache_dir = Some(shared_cache());
    let host = Host::builder().config(cfg).build().await.unwrap();
    let greeting = |r: &CallResult| r.result.as_ref().unwrap().value.as_ref().unwrap()["greeting"].clone();
    let first = exec(&host, "host_calls", json!({})).await;
    assert_eq!((greeting(&first), first.cached), (json!("one"), false));
    assert!(exec(&host, "host_calls", json!({})).await.cached, "unchanged: a hit");
    for (manifest, expected) in [
        ("[config]\ngreeting = \"two\"\n", "two"),
        // Limits and grants change results too (a limit can turn a success into a failure).
        ("[config]\ngreeting = \"two\"\n[limits]\nmemory_mib = 64\n", "two"),
        ("[config]\ngreeting = \"two\"\n[limits]\nmemory_mib = 64\n[grants]\nenv = { A = \"1\" }\n", "two"),
    ] {
        f.manifest("h", manifest);
        let event = host.registry().reload_files(vec!["h.wasm".into()]).await;
        assert_eq!(event.loaded, ["h"], "{event:?}");
        let after = exec(&host, "host_calls", json!({})).await;
        assert_eq!((greeting(&after), after.cached), (json!(expected), false), "{manifest}");
    }
    // The same manifest again: a hit.
    host.registry().reload_files(vec!["h.wasm".into()]).await;
    assert!(exec(&host, "host_calls", json!({})).await.cached);
}

// Item 11: a panicking DAG node is an INTERNAL failure of that node.

struct PanicsOn(Host, &'static str);

impl toolhost::scheduler::Dispatch for PanicsOn {
    fn dispatch(
        &self,
        node: toolhost::scheduler::NodeSpec,
        args: String,
        ctx: ExecutionContext,
        cancel: CancelToken,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = CallResult> + Send + 'static>> {
        if node.call_id == self.1 {
            return Box::pin(async { panic!("a dispatcher bug") });
        }
        self.0.dispatch(node, args, ctx, cancel)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_dag_node_fails_with_internal_and_only_it() {
    use toolhost::scheduler::{NodeStatus, RunOptions, RunStatus, SkipReason};
    let (host, _f) = hostile_host(None).await;
    let spec = serde_json::from_value(json!({"calls": [
        {"call_id": "a", "tool": "ok", "args": {"v": 1}},
        {"call_id": "b", "tool": "ok", "depends_on": ["a"]},
        {"call_id": "c", "tool": "ok", "depends_on": ["b"]},
        {"call_id": "d", "tool": "ok", "args": {"v": 4}}
    ]}))
    .unwrap();
    let dispatch = std::sync::Arc::new(PanicsOn(host.clone(), "b"));
    let r = toolhost::scheduler::execute(dispatch, &ExecutionContext::new(), &spec, RunOptions::default())
        .await
        .unwrap();
    let b = r.call("b").unwrap();
    assert_eq!(b.status, NodeStatus::Failed, "{r:#?}");
    let error = &b.result.as_ref().unwrap()["error"];
    assert_eq!(error["code"], "INTERNAL", "{error}");
    assert_eq!(r.call("c").unwrap().reason, Some(SkipReason::DependencyFailed));
    assert_eq!(r.call("a").unwrap().status, NodeStatus::Succeeded);
    assert_eq!(r.call("d").unwrap().status, NodeStatus::Succeeded);
    assert_eq!(r.status, RunStatus::Failed, "a panic is a failure, not a missed deadline");
}
