//! The executor end to end with real plugins: cache, retries, rate limits,
//! bulkheads, breakers, batches and return order.

use crate::common::*;
use serde_json::json;
use std::time::{Duration, Instant};
use toolhost::{BatchOptions, CallOptions, ErrorCode, ExecutionContext, Host, Order, ToolCall};

async fn exec(host: &Host, tool: &str, args: serde_json::Value) -> toolhost::CallResult {
    host.execute(&ExecutionContext::new(), ToolCall::new(tool, args.to_string()), &CallOptions::default())
        .await
}

#[tokio::test]
async fn a_cache_hit_is_flagged_and_runs_no_guest_code() {
    let (host, _f) = host_with("[cache]\nenabled = true\n[policy]\ncache = true\n").await;
    let first = exec(&host, "ok", json!({"q": 1})).await;
    assert!(!first.cached && first.attempts == 1 && first.stats.is_some());
    let second = exec(&host, "ok", json!({"q": 1})).await;
    assert!(second.cached, "{second:?}");
    assert_eq!((second.attempts, second.stats.is_none()), (0, true), "no guest code ran");
    assert_eq!(second.result.as_ref().unwrap().value, Some(json!({"q": 1})));
    // Other arguments, other tenant: misses.
    assert!(!exec(&host, "ok", json!({"q": 2})).await.cached);
    let other = host
        .execute(
            &ExecutionContext::new().with_tenant_id("b"),
            ToolCall::new("ok", r#"{"q":1}"#),
            &CallOptions::default(),
        )
        .await;
    assert!(!other.cached);
    // Non-idempotent tools are never cached.
    assert!(!exec(&host, "counter", json!({})).await.cached);
    assert!(!exec(&host, "counter", json!({})).await.cached);
    // Misses: q1, q2 and tenant b's q1; the counter calls bypass the cache.
    assert_eq!(host.executor().cache_counters(), Some((1, 3)));
}

#[tokio::test]
async fn repeated_hits_answer_each_tenant_with_its_own_entry_and_are_counted() {
    let (host, _f) = host_with("[cache]\nenabled = true\n[policy]\ncache = true\n").await;
    let as_tenant = |t: &'static str| {
        let host = host.clone();
        async move {
            let ctx = ExecutionContext::new().with_tenant_id(t);
            host.execute(&ctx, ToolCall::new("ctx", "{}"), &CallOptions::default()).await
        }
    };
    // `ctx` answers with the caller's tenant: a hit shows whose entry it came from.
    for (round, tenant) in [(0, "a"), (0, "b"), (1, "a"), (1, "b"), (2, "a"), (2, "b")] {
        let r = as_tenant(tenant).await;
        assert_eq!(r.cached, round > 0, "{tenant} round {round}: {r:?}");
        assert_eq!(r.result.unwrap().value.as_ref().unwrap()["tenant_id"], tenant, "round {round}");
    }
    // Two misses, four hits (the later ones from the remembered key): all counted.
    assert_eq!(host.executor().cache_counters(), Some((4, 2)));
}

#[tokio::test]
async fn a_flaky_tool_succeeds_on_the_third_attempt() {
    let (host, _f) =
        host_with("[policy]\nretry = { max_attempts = 3, base_ms = 100, cap_ms = 1000 }\n").await;
    let r = exec(&host, "flaky", json!({"fail_times": 2})).await;
    assert_eq!(r.attempts, 3, "{r:?}");
    assert_eq!(r.result.unwrap().value, Some(json!({"attempt": 3})));
    // One more failure than attempts: the last error comes back, with attempts = 3.
    let r = exec(&host, "flaky", json!({"fail_times": 5})).await;
    assert_eq!(r.attempts, 3);
    assert_eq!(r.result.unwrap_err().code(), ErrorCode::ToolExecutionFailed);
}

#[tokio::test]
async fn caller_errors_are_tried_once() {
    let (host, _f) = host_with("[policy]\nretry = { max_attempts = 5, base_ms = 1 }\n").await;
    for kind in ["invalid-input", "not-found", "denied"] {
        let r = exec(&host, "fail", json!({"kind": kind})).await;
        assert_eq!(r.attempts, 1, "{kind}");
    }
    // Traps are deterministic: never retried either.
    assert_eq!(exec(&host, "trap", json!({})).await.attempts, 1);
    // Validation errors never reach the guest at all.
    let r = host
        .execute(&ExecutionContext::new(), ToolCall::new("ok", "{not json"), &CallOptions::default())
        .await;
    assert_eq!((r.attempts, r.result.unwrap_err().code()), (0, ErrorCode::ToolValidationError));
}

#[tokio::test]
async fn non_idempotent_tools_are_not_retried_unless_configured() {
    let (host, _f) = host_with(
        "[policy]\nretry = { max_attempts = 3, base_ms = 1 }\n[policy.tools.flaky]\nidempotent = false\n",
    )
    .await;
    assert_eq!(exec(&host, "flaky", json!({"fail_times": 1})).await.attempts, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spinning_tool_in_a_one_slot_bulkhead_makes_queued_callers_fail_by_their_deadlines() {
    let (host, _f) = host_with(
        "[bulkheads.tools.spin]\nmax_concurrent = 1\nmax_queue_depth = 10\n[policy.tools.spin]\ntimeout_ms = 1500\n",
    )
    .await;
    let h = host.clone();
    let spinner = tokio::spawn(async move { exec(&h, "spin", json!({})).await });
    tokio::time::sleep(Duration::from_millis(200)).await;
    let t = Instant::now();
    let ctx = ExecutionContext::new().with_deadline(Instant::now() + Duration::from_millis(300));
    let queued = host.execute(&ctx, ToolCall::new("spin", "{}"), &CallOptions::default()).await;
    let waited = t.elapsed();
    let e = queued.result.unwrap_err();
    assert_eq!(e.code(), ErrorCode::BulkheadFull, "{e}");
    assert!(waited >= Duration::from_millis(250) && waited < Duration::from_millis(1000), "{waited:?}");
    // Other tools are unaffected meanwhile.
    let ok = exec(&host, "ok", json!({})).await;
    assert!(ok.result.is_ok());
    assert_eq!(spinner.await.unwrap().result.unwrap_err().code(), ErrorCode::ToolTimeout);
    let stats = host.executor().bulkheads().stats();
    assert_eq!(stats["tool:spin"].active, 0, "the slot is free once the guest stopped");
}

#[tokio::test]
async fn rate_limits_reject_with_an_exact_retry_after_or_wait() {
    let (host, _f) =
        host_with("[policy.tools.ok]\nrate_limit = { rate = 2, per_ms = 60000, burst = 2 }\n").await;
    assert!(exec(&host, "ok", json!({})).await.result.is_ok());
    assert!(exec(&host, "ok", json!({})).await.result.is_ok());
    let e = exec(&host, "ok", json!({})).await.result.unwrap_err();
    assert_eq!(e.code(), ErrorCode::ToolRateLimited);
    let after = e.retry_after_ms().unwrap();
    assert!(after > 29_000 && after <= 30_000, "{after}");
    // Other tools and other tenants have their own buckets.
    assert!(exec(&host, "ctx", json!({})).await.result.is_ok());
    let other = host
        .execute(
            &ExecutionContext::new().with_tenant_id("b"),
            ToolCall::new("ok", "{}"),
            &CallOptions::default(),
        )
        .await;
    assert!(other.result.is_ok());

    let (host, _f) = host_with(
        "[policy.tools.ok]\nrate_limit = { rate = 10, per_ms = 1000, burst = 1 }\nrate_limit_wait = true\n",
    )
    .await;
    let t = Instant::now();
    for _ in 0..3 {
        assert!(exec(&host, "ok", json!({})).await.result.is_ok());
    }
    assert!(t.elapsed() >= Duration::from_millis(190), "waited for tokens: {:?}", t.elapsed());
}

#[tokio::test]
async fn the_breaker_opens_on_tool_faults_only_and_per_tenant() {
    let (host, _f) = host_with(
        "[policy]\nbreaker = { window = { type = \"consecutive\", size = 3 }, open_duration_ms = 60000 }\n",
    )
    .await;
    // Caller mistakes never trip it.
    for _ in 0..5 {
        exec(&host, "fail", json!({"kind": "invalid-input"})).await;
    }
    assert!(exec(&host, "fail", json!({"kind": "invalid-input"})).await.attempts == 1);
    for _ in 0..3 {
        assert_eq!(exec(&host, "trap", json!({})).await.attempts, 1);
    }
    let open = exec(&host, "trap", json!({})).await;
    let e = open.result.unwrap_err();
    assert_eq!((e.code(), open.attempts), (ErrorCode::ToolCircuitOpen, 0));
    assert!(e.retry_after_ms().unwrap() > 50_000);
    // Another tenant's circuit for the same tool is still closed.
    let b = host
        .execute(
            &ExecutionContext::new().with_tenant_id("b"),
            ToolCall::new("trap", "{}"),
            &CallOptions::default(),
        )
        .await;
    assert_eq!(b.result.unwrap_err().code(), ErrorCode::ToolTrapped);
    let states = host.executor().breakers();
    let (_, s) = states.iter().find(|(k, _)| k == "default:trap").unwrap();
    assert_eq!(s.state.as_gauge(), 1);
}

fn calls(specs: &[(&str, serde_json::Value)]) -> Vec<ToolCall> {
    specs
        .iter()
        .enumerate()
        .map(|(i, (t, a))| ToolCall::new(*t, a.to_string()).with_id(format!("c{i}")))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn completion_order_returns_the_fast_call_first_and_submission_order_keeps_the_input_order() {
    let (host, _f) = host_with("").await;
    let batch = calls(&[("sleep_ms", json!({"ms": 600})), ("ok", json!({"fast": true}))]);
    let done = host.run_batch(&ExecutionContext::new(), batch.clone(), BatchOptions::default()).await;
    let ids: Vec<_> = done.iter().map(|r| r.call_id.as_str()).collect();
    assert_eq!(ids, ["c1", "c0"]);
    let opts = BatchOptions { order: Order::Submission, ..Default::default() };
    let done = host.run_batch(&ExecutionContext::new(), batch, opts).await;
    let ids: Vec<_> = done.iter().map(|r| r.call_id.as_str()).collect();
    assert_eq!(ids, ["c0", "c1"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_trap_one_timeout_three_successes_are_all_reported() {
    let (host, _f) = host_with("[policy.tools.spin]\ntimeout_ms = 300\n").await;
    let batch = calls(&[
        ("ok", json!({"n": 1})),
        ("trap", json!({})),
        ("ok", json!({"n": 2})),
        ("spin", json!({})),
        ("ok", json!({"n": 3})),
    ]);
    let opts = BatchOptions { order: Order::Submission, ..Default::default() };
    let done = host.run_batch(&ExecutionContext::new(), batch, opts).await;
    assert_eq!(done.len(), 5);
    let codes: Vec<_> = done.iter().map(|r| r.result.as_ref().err().map(|e| e.code())).collect();
    assert_eq!(codes, [None, Some(ErrorCode::ToolTrapped), None, Some(ErrorCode::ToolTimeout), None]);
    assert_eq!(done[2].result.as_ref().unwrap().value, Some(json!({"n": 2})), "matched by call id");
}

#[tokio::test]
async fn identical_calls_are_not_merged_unless_asked() {
    let (host, _f) = host_with("").await;
    let batch = calls(&[("counter", json!({})), ("counter", json!({}))]);
    let done = host.run_batch(&ExecutionContext::new(), batch.clone(), BatchOptions::default()).await;
    assert!(done.iter().all(|r| r.attempts == 1 && !r.cached));
    let opts = BatchOptions { dedup: true, ..Default::default() };
    let done = host.run_batch(&ExecutionContext::new(), batch, opts).await;
    let ran: u32 = done.iter().map(|r| r.attempts * (!r.cached) as u32).sum();
    assert_eq!(ran, 1);
    let mut ids: Vec<_> = done.iter().map(|r| r.call_id.clone()).collect();
    ids.sort();
    assert_eq!(ids, ["c0", "c1"]);
}

#[tokio::test]
async fn a_fallback_replaces_a_failure_but_keeps_the_error_visible() {
    let (host, _f) = host_with("[policy.tools.trap]\nfallback = { note = \"unavailable\" }\n").await;
    let r = exec(&host, "trap", json!({})).await;
    assert_eq!(r.result.as_ref().unwrap().value, Some(json!({"note": "unavailable"})));
    assert_eq!(r.fallback_for.unwrap().code(), ErrorCode::ToolTrapped);
}

#[tokio::test]
async fn the_context_deadline_bounds_everything() {
    let (host, _f) = host_with("[policy]\nretry = { max_attempts = 10, base_ms = 50 }\n").await;
    let ctx = ExecutionContext::new().with_deadline(Instant::now() + Duration::from_millis(400));
    let t = Instant::now();
    let r =
        host.execute(&ctx, ToolCall::new("flaky", r#"{"fail_times": 100}"#), &CallOptions::default()).await;
    assert!(r.result.is_err());
    assert!(t.elapsed() < Duration::from_millis(400) + Duration::from_millis(500), "{:?}", t.elapsed());
    // The guest sees the time left, not the tool's whole timeout.
    let ctx = ExecutionContext::new().with_deadline(Instant::now() + Duration::from_secs(2));
    let r = host.execute(&ctx, ToolCall::new("ctx", "{}"), &CallOptions::default()).await;
    let left = r.result.unwrap().value.as_ref().unwrap()["deadline_ms"].as_u64().unwrap();
    assert!(left <= 2000 && left > 1000, "{left}");
}

#[tokio::test]
async fn provider_shapes_run_with_their_ids() {
    let (host, _f) = host_with("").await;
    let input = r#"{"tool_calls":[{"id":"call_A","type":"function","function":{"name":"ok","arguments":"{\"a\":1}"}},
                                  {"id":"call_B","type":"function","function":{"name":"ok","arguments":"{\"a\":"}}]}"#;
    let parsed = toolhost::exec::parse::parse_calls(input).unwrap();
    let batch: Vec<ToolCall> = parsed.into_iter().map(Into::into).collect();
    let opts = BatchOptions { order: Order::Submission, ..Default::default() };
    let done = host.run_batch(&ExecutionContext::new(), batch, opts).await;
    assert_eq!(done[0].call_id, "call_A");
    assert_eq!(done[0].result.as_ref().unwrap().value, Some(json!({"a": 1})));
    assert_eq!(done[1].call_id, "call_B");
    assert_eq!(done[1].result.as_ref().unwrap_err().code(), ErrorCode::ToolValidationError);
}
