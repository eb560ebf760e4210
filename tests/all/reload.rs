//! Hot reload (resilience.md §8 A8–A10): validated before swapping, last good
//! version kept on failure, in-flight calls finish on their version.

use crate::common::*;
use crate::fixtures;
use serde_json::json;
use std::time::Duration;
use toolhost::{CallRequest, PluginState};

async fn until(what: &str, mut f: impl FnMut() -> bool) {
    for _ in 0..200 {
        if f() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for: {what}");
}

fn state(host: &toolhost::Host, name: &str) -> Option<PluginState> {
    host.catalog().plugins().iter().find(|p| p.name == name).map(|p| p.state)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn add_replace_break_and_delete_while_serving() {
    let f = Folder::new();
    f.wasm("h", &hostile());
    let mut cfg = f.config();
    cfg.watch = true;
    let host = toolhost::Host::builder().config(cfg).build().await.unwrap();
    let mut events = host.registry().subscribe();

    // A new file appears: its tools are served.
    f.wasm("m", &fixtures::minimal_plugin());
    until("m loads", || host.tools(None).iter().any(|t| t.tool.name == "echo")).await;
    assert!(events.recv().await.unwrap().loaded.contains(&"m".to_string()));

    // A call in flight on the old version finishes while the file is replaced.
    let h2 = host.clone();
    let inflight =
        tokio::spawn(async move { h2.call(CallRequest::json("sleep_ms", &json!({"ms": 800}))).await });
    tokio::time::sleep(Duration::from_millis(100)).await;
    f.wasm("h", &fixtures::describe_tools(&["replaced"]));
    until("h replaced", || host.tools(None).iter().any(|t| t.tool.name == "replaced")).await;
    assert!(inflight.await.unwrap().is_ok(), "in-flight call must finish on its version");
    assert!(host.tools(None).iter().all(|t| t.tool.name != "sleep_ms"));

    // A broken (half-written) file keeps the last good version serving.
    f.wasm("h", &fixtures::truncated(&hostile()));
    until("h stale", || state(&host, "h") == Some(PluginState::Stale)).await;
    assert!(host.tools(None).iter().any(|t| t.tool.name == "replaced"));
    assert!(call(&host, "replaced", json!({})).await.is_ok());

    // Deleting the file unregisters its tools.
    std::fs::remove_file(f.path().join("h.wasm")).unwrap();
    until("h removed", || state(&host, "h").is_none()).await;
    assert!(host.tools(None).iter().all(|t| t.tool.name != "replaced"));
    assert!(call(&host, "echo", json!({})).await.is_ok(), "other plugins unaffected");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_manifest_change_reloads_its_plugin() {
    let f = Folder::new();
    f.wasm("h", &hostile());
    let mut cfg = f.config();
    cfg.watch = true;
    let host = toolhost::Host::builder().config(cfg).build().await.unwrap();
    let r = call(&host, "host_calls", json!({})).await.unwrap();
    assert_eq!(r.output.value.clone().unwrap()["greeting"], serde_json::Value::Null);
    f.manifest("h", "[config]\ngreeting = \"reloaded\"\n");
    until("config reloaded", || {
        host.registry()
            .lookup("default", "host_calls")
            .is_some_and(|e| e.plugin.config.get("greeting").is_some())
    })
    .await;
    let r = call(&host, "host_calls", json!({})).await.unwrap();
    assert_eq!(r.output.value.clone().unwrap()["greeting"], "reloaded");
}
