//! Hostile guests at call time (resilience.md §8 B): each gets a typed error
//! within its bounds, and the same plugin and its neighbours keep answering.

use crate::common::*;
use serde_json::json;
use std::time::{Duration, Instant};
use toolhost::{CallRequest, CancelToken, ErrorCode, Resource, ToolErrorKind};

/// Generous scheduling slack for a loaded 2-core CI machine; the bound under
/// test is "deadline + one tick", not speed.
const SLACK: Duration = Duration::from_millis(750);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn infinite_loop_stops_at_the_deadline() {
    let (host, _f) = hostile_host(None).await;
    let t = Instant::now();
    let err =
        host.call(CallRequest::new("spin", "{}").timeout(Duration::from_millis(300))).await.unwrap_err();
    let took = t.elapsed();
    assert_eq!(err.code(), ErrorCode::ToolTimeout, "{err}");
    assert!(err.retryable());
    assert!(took >= Duration::from_millis(300), "stopped early: {took:?}");
    assert!(took < Duration::from_millis(300 + 5) + SLACK, "stopped late: {took:?}");
    bystander_ok(&host).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spinning_guest_does_not_block_other_calls() {
    let (host, _f) = hostile_host(None).await;
    let spinners: Vec<_> = (0..4)
        .map(|_| {
            let h = host.clone();
            tokio::spawn(async move {
                h.call(CallRequest::new("spin", "{}").timeout(Duration::from_secs(3))).await
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(100)).await;
    // Four guests spin on two workers, yet a quick call is served long before they stop.
    let t = Instant::now();
    bystander_ok(&host).await;
    assert!(t.elapsed() < Duration::from_secs(2), "bystander waited {:?}", t.elapsed());
    for s in spinners {
        assert_eq!(s.await.unwrap().unwrap_err().code(), ErrorCode::ToolTimeout);
    }
}

#[tokio::test]
async fn deep_recursion_is_a_stack_overflow_trap() {
    let (host, _f) = hostile_host(None).await;
    let err = call(&host, "recurse", json!({})).await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::ToolTrapped, "{err}");
    assert!(err.to_string().contains("stack overflow"), "{err}");
    assert!(!err.retryable());
    bystander_ok(&host).await;
}

#[tokio::test]
async fn memory_bomb_is_resource_exhausted() {
    let (host, _f) = hostile_host(Some("[limits]\nmemory_mib = 32\n")).await;
    let err = call(&host, "grow", json!({})).await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::ResourceExhausted, "{err}");
    match &err {
        toolhost::Error::ResourceExhausted { resource, limit, .. } => {
            assert_eq!(*resource, Resource::Memory);
            assert_eq!(*limit, 32 * 1024 * 1024);
        }
        other => panic!("{other:?}"),
    }
    bystander_ok(&host).await;
}

#[tokio::test]
async fn a_guest_that_handles_oom_reports_its_own_error() {
    let (host, _f) = hostile_host(Some("[limits]\nmemory_mib = 32\n")).await;
    let err = call(&host, "grow_soft", json!({})).await.unwrap_err();
    match &err {
        toolhost::Error::Tool { kind, message, .. } => {
            assert_eq!(*kind, ToolErrorKind::Internal);
            assert!(message.contains("out of memory"), "{message}");
        }
        other => panic!("expected the guest's own error, got {other:?}"),
    }
    bystander_ok(&host).await;
}

#[tokio::test]
async fn output_larger_than_the_cap_is_refused() {
    let (host, _f) = hostile_host(Some("[limits]\noutput_bytes = 1048576\n")).await;
    let err = call(&host, "big_output", json!({"mib": 8})).await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::OutputTooLarge, "{err}");
    // Just under the cap passes.
    let ok = call(&host, "big_output", json!({"mib": 0})).await;
    assert!(ok.is_ok(), "{ok:?}");
    bystander_ok(&host).await;
}

#[tokio::test]
async fn invalid_json_value_is_invalid_output() {
    let (host, _f) = hostile_host(None).await;
    let err = call(&host, "bad_json", json!({})).await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::InvalidOutput, "{err}");
    assert!(err.to_string().contains("not valid JSON"), "{err}");
    bystander_ok(&host).await;
}

#[tokio::test]
async fn a_trap_is_followed_by_a_successful_call_on_the_same_plugin() {
    let (host, _f) = hostile_host(None).await;
    let err = call(&host, "trap", json!({})).await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::ToolTrapped, "{err}");
    bystander_ok(&host).await;
    let err = call(&host, "trap", json!({})).await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::ToolTrapped);
}

#[tokio::test]
async fn megabytes_of_stderr_are_counted_not_kept() {
    let (host, _f) = hostile_host(None).await;
    let r = call(&host, "stderr_flood", json!({"mib": 4})).await.expect("flooding stderr is not an error");
    assert!(r.stats.stderr_bytes >= 4 * 1024 * 1024, "{:?}", r.stats);
    assert!(r.stats.stdout_bytes >= 4 * 1024 * 1024, "{:?}", r.stats);
    bystander_ok(&host).await;
}

#[tokio::test]
async fn sockets_and_name_lookups_are_denied_without_a_grant() {
    let (host, _f) = hostile_host(None).await;
    let err = call(&host, "socket", json!({})).await.unwrap_err();
    match &err {
        toolhost::Error::Tool { kind, .. } => assert_eq!(*kind, ToolErrorKind::Denied, "{err}"),
        other => panic!("the guest must have been refused, got {other:?}"),
    }
}

#[tokio::test]
async fn no_environment_or_files_without_a_grant() {
    let (host, _f) = hostile_host(None).await;
    let r = call(&host, "env", json!({})).await.unwrap();
    assert_eq!(r.output.value.as_ref().unwrap()["vars"], json!([]), "{:?}", r.output);
    let err = call(&host, "read_file", json!({"path": "/etc/passwd"})).await.unwrap_err();
    assert!(matches!(err, toolhost::Error::Tool { kind: ToolErrorKind::Denied, .. }), "{err:?}");
}

#[tokio::test]
async fn manifest_grants_env_and_a_read_only_dir() {
    let data = tempfile::tempdir().unwrap();
    std::fs::write(data.path().join("hello.txt"), "granted").unwrap();
    let manifest = format!(
        "[grants]\nenv = {{ GREETING = \"hi\" }}\ndirs = [{{ host = \"{}\", guest = \"/data\" }}]\n",
        data.path().display()
    );
    let (host, _f) = hostile_host(Some(&manifest)).await;
    let r = call(&host, "env", json!({})).await.unwrap();
    assert_eq!(r.output.value.as_ref().unwrap()["vars"], json!(["GREETING"]));
    let r = call(&host, "read_file", json!({"path": "/data/hello.txt"})).await.unwrap();
    assert_eq!(r.output.value, Some(json!("granted")));
    // Still nothing outside the grant.
    assert!(call(&host, "read_file", json!({"path": "/etc/passwd"})).await.is_err());
}

#[tokio::test]
async fn fuel_budget_stops_a_busy_guest() {
    let (host, _f) = hostile_host(Some("[limits]\nfuel = 5000000\n")).await;
    let err = call(&host, "spin", json!({})).await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::ResourceExhausted, "{err}");
    assert!(matches!(err, toolhost::Error::ResourceExhausted { resource: Resource::Fuel, .. }));
    let r = call(&host, "ok", json!({})).await.unwrap();
    assert!(r.stats.fuel_used.unwrap() > 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancellation_interrupts_a_running_guest() {
    let (host, _f) = hostile_host(None).await;
    let token = CancelToken::new();
    let h = host.clone();
    let t2 = token.clone();
    let started = Instant::now();
    let task = tokio::spawn(async move {
        h.call(CallRequest::new("spin", "{}").timeout(Duration::from_secs(20)).cancel_token(t2)).await
    });
    tokio::time::sleep(Duration::from_millis(150)).await;
    token.cancel();
    let err = task.await.unwrap().unwrap_err();
    assert_eq!(err.code(), ErrorCode::ToolCancelled, "{err}");
    assert!(started.elapsed() < Duration::from_secs(5), "{:?}", started.elapsed());
    bystander_ok(&host).await;
}

#[tokio::test]
async fn every_call_gets_a_fresh_instance() {
    let (host, _f) = hostile_host(None).await;
    for _ in 0..3 {
        let r = call(&host, "counter", json!({})).await.unwrap();
        assert_eq!(r.output.value, Some(json!({"count": 1})), "instance state leaked between calls");
    }
}

#[tokio::test]
async fn the_request_context_reaches_the_guest() {
    let (host, _f) = hostile_host(None).await;
    let mut req =
        CallRequest::new("ctx", "{}").tenant("acme").call_id("call-7").timeout(Duration::from_secs(9));
    req.request_id = Some("req-1".into());
    req.traceparent = Some("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".into());
    req.metadata = vec![("k".into(), "v".into())];
    let r = host.call(req).await.unwrap();
    let v = r.output.value.clone().unwrap();
    assert_eq!(v["call_id"], "call-7");
    assert_eq!(v["tenant_id"], "acme");
    assert_eq!(v["request_id"], "req-1");
    assert_eq!(v["attempt"], 1);
    assert_eq!(v["metadata"]["k"], "v");
    let left = v["deadline_ms"].as_u64().unwrap();
    assert!(left <= 9000 && left > 8000, "{left}");
}

#[tokio::test]
async fn host_imports_reach_listeners_and_config_comes_from_the_manifest() {
    let (host, _f) = hostile_host(Some("[config]\ngreeting = \"howdy\"\n")).await;
    let (tx, mut rx) = tokio::sync::mpsc::channel(16);
    let r = host.call(CallRequest::new("host_calls", "{}").events(tx)).await.unwrap();
    assert_eq!(r.output.value.clone().unwrap()["greeting"], "howdy");
    let mut kinds = vec![];
    while let Ok(ev) = rx.try_recv() {
        kinds.push(serde_json::to_value(&ev).unwrap()["type"].as_str().unwrap().to_string());
    }
    assert_eq!(kinds, ["log", "progress", "emit"]);
}

#[tokio::test]
async fn guest_errors_keep_kind_message_and_retry_hints() {
    let (host, _f) = hostile_host(None).await;
    let err = call(&host, "fail", json!({"kind": "rate-limited", "retry_after_ms": 1500})).await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::ToolExecutionFailed);
    assert!(err.retryable());
    assert_eq!(err.retry_after_ms(), Some(1500));
    let err = call(&host, "fail", json!({"kind": "invalid-input"})).await.unwrap_err();
    assert!(!err.retryable());
    assert_eq!(err.to_json()["details"]["kind"], "invalid-input");
}
