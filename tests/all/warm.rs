//! Warm instances (`[instances] mode = "warm"`, the default of a plugin that
//! declares `stateless = true`): reused per tenant, never across tenants,
//! retired after max_calls, after any failure, when idle; the idle ones of all
//! plugins never hold more than half of the instance pool.
//! The hostile guest's `counter` tool keeps a counter in the instance, so its
//! value shows which instance served a call.

use crate::common::*;
use serde_json::{Value, json};
use std::time::Duration;
use toolhost::{CallRequest, Host};

async fn warm_host(instances: &str) -> (Host, Folder) {
    let f = Folder::new();
    f.wasm("h", &hostile());
    f.manifest("h", &format!("[instances]\nmode = \"warm\"\n{instances}"));
    let host = f.host().await;
    assert_loaded(&host, "h");
    (host, f)
}

async fn count(host: &Host, tenant: &str) -> u64 {
    let r = host.call(CallRequest::json("counter", &json!({})).tenant(tenant)).await.expect("counter call");
    r.output.value.as_ref().and_then(|v| v["count"].as_u64()).expect("count")
}

fn stats(host: &Host) -> toolhost::runtime::WarmStats {
    let entry = host.tools(None).into_iter().find(|e| e.plugin.name == "h").expect("plugin h serves tools");
    entry.plugin.warm.as_ref().expect("warm pool").stats()
}

#[tokio::test]
async fn fresh_mode_never_keeps_state() {
    let (host, _f) = hostile_host(None).await;
    for _ in 0..3 {
        assert_eq!(count(&host, "a").await, 1);
    }
}

#[tokio::test]
async fn warm_instances_are_reused_per_tenant_only() {
    let (host, _f) = warm_host("").await;
    assert_eq!(count(&host, "a").await, 1);
    assert_eq!(count(&host, "a").await, 2, "tenant a's instance was reused (its state carries over)");
    assert_eq!(count(&host, "a").await, 3);
    assert_eq!(count(&host, "b").await, 1, "tenant b never gets tenant a's instance");
    assert_eq!(count(&host, "b").await, 2);
    assert_eq!(count(&host, "a").await, 4);
    let s = stats(&host);
    assert_eq!((s.created, s.reused), (2, 4), "{s:?}");
}

#[tokio::test]
async fn a_failed_call_retires_its_instance() {
    let (host, _f) = warm_host("").await;
    assert_eq!(count(&host, "a").await, 1);
    assert_eq!(count(&host, "a").await, 2);
    // The trap runs on the warm instance and takes it down with it.
    let err = host.call(CallRequest::json("trap", &json!({})).tenant("a")).await.unwrap_err();
    assert_eq!(err.code(), toolhost::ErrorCode::ToolTrapped);
    assert_eq!(count(&host, "a").await, 1, "a new instance after the trap");
    // A tool error (not a trap) retires too.
    let _ = host.call(CallRequest::json("fail", &json!({"kind": "internal"})).tenant("a")).await.unwrap_err();
    assert_eq!(count(&host, "a").await, 1);
    // And a timeout.
    let r =
        host.call(CallRequest::json("spin", &json!({})).tenant("a").timeout(Duration::from_millis(50))).await;
    assert_eq!(r.unwrap_err().code(), toolhost::ErrorCode::ToolTimeout);
    assert_eq!(count(&host, "a").await, 1);
    bystander_ok(&host).await;
}

#[tokio::test]
async fn instances_retire_after_max_calls_and_when_idle() {
    let (host, _f) = warm_host("max_calls = 2\nidle_ms = 150\n").await;
    assert_eq!(count(&host, "a").await, 1);
    assert_eq!(count(&host, "a").await, 2);
    assert_eq!(count(&host, "a").await, 1, "retired after 2 calls");
    assert_eq!(count(&host, "a").await, 2);
    assert_eq!(count(&host, "a").await, 1);
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(count(&host, "a").await, 1, "the idle instance was retired");
    // The sweeper retires idle instances without any call.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(stats(&host).idle, 0);
}

#[tokio::test]
async fn at_most_max_idle_instances_are_kept_per_tenant() {
    let (host, _f) = warm_host("max_idle = 1\n").await;
    // Three concurrent calls need three instances; only one stays.
    let calls = (0..3).map(|_| {
        let host = host.clone();
        tokio::spawn(
            async move { host.call(CallRequest::json("sleep_ms", &json!({"ms": 50})).tenant("a")).await },
        )
    });
    for c in calls {
        c.await.unwrap().unwrap();
    }
    assert_eq!(stats(&host).idle, 1);
}

#[tokio::test]
async fn a_warm_instance_does_not_keep_the_event_listener_open() {
    let (host, _f) = warm_host("").await;
    for _ in 0..2 {
        let (tx, mut rx) = tokio::sync::mpsc::channel(16);
        host.call(CallRequest::json("host_calls", &json!({})).tenant("a").events(tx)).await.unwrap();
        let mut kinds = vec![];
        // The channel must close once the call is over, or listeners would hang.
        while let Some(ev) =
            tokio::time::timeout(Duration::from_secs(5), rx.recv()).await.expect("channel closes")
        {
            kinds.push(serde_json::to_value(&ev).unwrap()["type"].clone());
        }
        assert!(kinds.contains(&Value::from("progress")), "{kinds:?}");
    }
    assert_eq!(stats(&host).reused, 1);
}

#[tokio::test]
async fn bad_instance_settings_are_configuration_errors() {
    let f = Folder::new();
    f.wasm("h", &hostile());
    f.manifest("h", "[instances]\nmode = \"warm\"\nmax_calls = 0\n");
    let host = f.host().await;
    let errs = load_errors(&host, "h");
    assert!(errs.iter().any(|e| e.to_string().contains("max_calls")), "{errs:?}");
}

/// `stateless = true` makes warm the default: the counter carries over.
#[tokio::test]
async fn a_stateless_plugin_gets_warm_instances_by_default() {
    let (host, _f) = hostile_host(Some("[instances]\nstateless = true\n")).await;
    assert_eq!(count(&host, "a").await, 1);
    assert_eq!(count(&host, "a").await, 2, "the instance was reused");
    assert_eq!(count(&host, "b").await, 1, "never across tenants");
    let s = stats(&host);
    assert_eq!((s.created, s.reused), (2, 1), "{s:?}");
}

/// An explicit `mode = "fresh"` wins over `stateless = true`.
#[tokio::test]
async fn an_explicit_fresh_mode_wins_over_stateless() {
    let (host, _f) = hostile_host(Some("[instances]\nstateless = true\nmode = \"fresh\"\n")).await;
    for _ in 0..3 {
        assert_eq!(count(&host, "a").await, 1);
    }
    let entry = host.tools(None).into_iter().find(|e| e.plugin.name == "h").unwrap();
    assert!(entry.plugin.warm.is_none(), "no warm pool for a fresh plugin");
}

/// Idle instances hold pool slots: with a two-slot pool, the idle instances
/// of tenants a and c must not leave tenant b without a slot.
#[tokio::test]
async fn idle_warm_instances_leave_half_of_the_pool_free() {
    let (host, _f) =
        host_with_manifest("[runtime]\npool_instances = 2\n", Some("[instances]\nmode = \"warm\"\n")).await;
    assert_eq!(count(&host, "a").await, 1);
    assert_eq!(count(&host, "c").await, 1);
    let b = host.call(CallRequest::json("counter", &json!({})).tenant("b")).await;
    assert!(b.is_ok(), "tenant b finds no slot: {b:?}");
    assert_eq!(stats(&host).idle, 1, "one slot of two may stay idle");
    assert_eq!(count(&host, "a").await, 2, "the first idle instance was kept");
    assert_eq!(count(&host, "c").await, 1, "the second was retired: the idle budget was spent");
}
