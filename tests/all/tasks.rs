//! MCP tasks over streamable HTTP with raw JSON-RPC (the Python SDK client in
//! tests/mcp drives both protocol eras over stdio and HTTP): the long-running
//! `jobs.crunch` of the `longtask` example plugin runs as a 2025-11-25 task,
//! and a task belongs to the tenant whose token started it: another tenant
//! cannot see, poll, fetch, list or cancel it.

use crate::common::{Folder, example_plugins};
use crate::serve::McpSession;
use serde_json::json;
use std::time::Duration;
use toolhost::{Config, Host};
use toolhost_serve::HttpServer;

/// Tenants `acme` and `beta`, with tokens `acme-secret` and `beta-secret`.
pub(crate) fn tenants(cfg: &mut Config) {
    let doc = r#"
        [tenants.acme]
        [tenants.beta]
        [[serve.tokens]]
        tenant = "acme"
        token = "acme-secret"
        [[serve.tokens]]
        tenant = "beta"
        token = "beta-secret"
    "#;
    let parsed = Config::from_toml(doc).unwrap();
    cfg.tenants = parsed.tenants;
    cfg.serve.tokens = parsed.serve.tokens;
}

/// A 2025-11-25 session of one tenant whose client takes tasks.
async fn session(url: String, token: &'static str) -> McpSession {
    let caps = json!({"tasks": {"requests": {"tools": {"call": {}}}}});
    let (s, init) = McpSession::open(url, Some(token), caps).await;
    assert_eq!(init["result"]["capabilities"]["tasks"]["requests"]["tools"]["call"], json!({}), "{init}");
    s
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tasks_run_in_the_background_and_belong_to_their_tenant() {
    let folder = Folder::new();
    for f in ["longtask.wasm", "longtask.toml"] {
        folder.file(
            f,
            &std::fs::read(example_plugins().join(f)).expect("scripts/build-plugins.sh built longtask"),
        );
    }
    let mut cfg = folder.config();
    tenants(&mut cfg);
    let host = Host::builder().config(cfg).build().await.expect("host builds");
    let server = HttpServer::bind(host, "127.0.0.1:0".parse().unwrap()).await.expect("binds");
    let url = format!("http://{}/mcp", server.local_addr());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(server.run(async move {
        let _ = stopped.await;
    }));
    let acme = session(url.clone(), "acme-secret").await;
    let beta = session(url, "beta-secret").await;

    let list = acme.rpc("tools/list", json!({})).await;
    let crunch =
        list["result"]["tools"].as_array().unwrap().iter().find(|t| t["name"] == "jobs.crunch").unwrap();
    assert_eq!(crunch["execution"]["taskSupport"], "optional", "{crunch}");

    let created = acme
        .rpc(
            "tools/call",
            json!({"name": "jobs.crunch", "arguments": {"items": 40, "step_ms": 50}, "task": {"ttl": 60000}}),
        )
        .await;
    let task = &created["result"]["task"];
    assert_eq!(task["status"], "working", "{created}");
    let id = task["taskId"].as_str().unwrap().to_string();

    // The other tenant: the id is unknown everywhere, and its list is empty.
    for method in ["tasks/get", "tasks/result", "tasks/cancel"] {
        let r = beta.rpc(method, json!({"taskId": id})).await;
        assert_eq!(r["error"]["code"], -32602, "{method} by another tenant: {r}");
        assert!(r["error"]["message"].as_str().unwrap().contains("unknown task"), "{r}");
    }
    assert_eq!(beta.rpc("tasks/list", json!({})).await["result"]["tasks"], json!([]));

    // The owner: blocks on tasks/result until done; the result is the call's.
    let result = acme.rpc("tasks/result", json!({"taskId": id})).await;
    assert_eq!(result["result"]["structuredContent"]["items"], 40, "{result}");
    assert_eq!(result["result"]["_meta"]["io.modelcontextprotocol/related-task"]["taskId"], id.as_str());
    let got = acme.rpc("tasks/get", json!({"taskId": id})).await;
    assert_eq!(got["result"]["status"], "completed", "{got}");
    let again = acme.rpc("tasks/cancel", json!({"taskId": id})).await;
    assert_eq!(again["error"]["code"], -32602, "cancel after completion: {again}");
    let listed = acme.rpc("tasks/list", json!({})).await;
    assert_eq!(listed["result"]["tasks"][0]["taskId"], id.as_str(), "{listed}");

    let _ = stop.send(());
    tokio::time::timeout(Duration::from_secs(20), running).await.expect("stops").unwrap().unwrap();
}
