//! Upstream HTTP APIs (`[[upstreams]]` with an OpenAPI document) served next
//! to the plugins: a real axum API on 127.0.0.1, every front door, the
//! executor's retries on 429/503 with Retry-After, the source's
//! `max_concurrency`, tenants, and a source that is down.

use crate::common::{self, host_with};
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use toolhost::{CallRequest, ErrorCode};

/// What the API saw.
#[derive(Default)]
struct Seen {
    flaky: AtomicUsize,
    running: AtomicUsize,
    max_running: AtomicUsize,
}

fn document() -> Value {
    json!({
        "openapi": "3.0.3",
        "info": { "title": "billing", "version": "1" },
        "paths": {
            "/invoices/{id}": { "get": {
                "operationId": "getInvoice",
                "summary": "One invoice",
                "parameters": [{ "name": "id", "in": "path", "required": true, "schema": { "type": "string" } }],
                "responses": { "200": { "description": "ok", "content": { "application/json": {
                    "schema": { "$ref": "#/components/schemas/Invoice" } } } } }
            }},
            "/flaky": { "get": { "operationId": "flaky", "responses": { "200": { "description": "ok" } } } },
            "/slow": { "get": { "operationId": "slow", "responses": { "200": { "description": "ok" } } } }
        },
        "components": { "schemas": { "Invoice": { "type": "object",
            "properties": { "id": { "type": "string" }, "total": { "type": "number" } } } } }
    })
}

async fn invoice(Path(id): Path<String>) -> Response {
    axum::Json(json!({ "id": id, "total": 42.5 })).into_response()
}

/// 429 (Retry-After: 1), then 503, then 200.
async fn flaky(State(seen): State<Arc<Seen>>) -> Response {
    match seen.flaky.fetch_add(1, Ordering::SeqCst) {
        0 => (StatusCode::TOO_MANY_REQUESTS, [("retry-after", "1")], "slow down").into_response(),
        1 => (StatusCode::SERVICE_UNAVAILABLE, "busy").into_response(),
        n => axum::Json(json!({ "attempt": n + 1 })).into_response(),
    }
}

/// 200 ms of work, counting how many run at once.
async fn slow(State(seen): State<Arc<Seen>>) -> Response {
    let now = seen.running.fetch_add(1, Ordering::SeqCst) + 1;
    seen.max_running.fetch_max(now, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(200)).await;
    seen.running.fetch_sub(1, Ordering::SeqCst);
    axum::Json(json!({ "done": true })).into_response()
}

async fn api() -> (SocketAddr, Arc<Seen>) {
    let seen = Arc::new(Seen::default());
    let app = Router::new()
        .route("/openapi.json", get(|| async { axum::Json(document()) }))
        .route("/invoices/{id}", get(invoice))
        .route("/flaky", get(flaky))
        .route("/slow", get(slow))
        .with_state(seen.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (addr, seen)
}

fn upstream_toml(addr: SocketAddr, extra: &str) -> String {
    format!(
        "[[upstreams]]\nname = \"billing\"\nopenapi = \"http://{addr}/openapi.json\"\nbase_url = \"http://{addr}\"\nmax_concurrency = 2\n{extra}"
    )
}

#[tokio::test]
async fn an_openapi_upstream_is_listed_and_called_like_a_plugin() {
    let (addr, _seen) = api().await;
    let (host, _f) = host_with(&upstream_toml(addr, "")).await;
    let tools = host.list_tools(None);
    let get = tools.iter().find(|t| t.name == "billing.getInvoice").expect("upstream tool listed");
    assert_eq!((get.source, get.origin.as_str(), get.idempotent), ("http", "billing", true));
    assert!(tools.iter().any(|t| t.name == "ok" && t.source == "plugin"), "plugins still listed");
    let r = common::call(&host, "billing.getInvoice", json!({ "id": "inv-7" })).await.unwrap();
    assert_eq!(r.output.value, Some(json!({ "id": "inv-7", "total": 42.5 })));
    // Arguments are checked against the operation's schema before any request.
    let e = common::call(&host, "billing.getInvoice", json!({})).await.unwrap_err();
    assert_eq!(e.code(), ErrorCode::ToolValidationError);
    let status = host.upstreams();
    assert!(status[0].connected && status[0].tools == 3, "{status:?}");
    let metrics = toolhost::observe::metrics::render_host(&host);
    assert!(metrics.contains("toolhost_upstreams{upstream=\"billing\",kind=\"http\"} 1"), "{metrics}");
    let calls = "tool_executions_total{tool=\"billing.getInvoice\",namespace=\"billing\",source=\"http\"";
    assert!(metrics.contains(calls), "{metrics}");
}

#[tokio::test]
async fn retries_follow_429_and_503_with_retry_after() {
    let (addr, seen) = api().await;
    let (host, _f) = host_with(&upstream_toml(addr, "")).await;
    let t = Instant::now();
    let r = host.call(CallRequest::new("billing.flaky", "{}")).await.expect("third attempt succeeds");
    assert_eq!((r.attempts, seen.flaky.load(Ordering::SeqCst)), (3, 3));
    assert_eq!(r.output.value, Some(json!({ "attempt": 3 })));
    assert!(t.elapsed() >= Duration::from_secs(1), "Retry-After: 1 was honoured ({:?})", t.elapsed());
}

#[tokio::test]
async fn at_most_max_concurrency_calls_reach_the_upstream() {
    let (addr, seen) = api().await;
    let (host, _f) = host_with(&upstream_toml(addr, "")).await;
    let calls = (0..6).map(|i| {
        let host = host.clone();
        async move { host.call(CallRequest::new("billing.slow", "{}").call_id(format!("c{i}"))).await }
    });
    let results = futures::future::join_all(calls).await;
    assert!(results.iter().all(|r| r.is_ok()), "{results:?}");
    assert_eq!(seen.max_running.load(Ordering::SeqCst), 2, "max_concurrency = 2");
}

#[tokio::test]
async fn tenants_see_an_upstream_only_when_granted() {
    let (addr, _seen) = api().await;
    let tenants = "[tenants.acme]\nplugins = [\"billing\"]\n[tenants.beta]\nplugins = [\"h\"]\n";
    let (host, _f) = host_with(&format!("{tenants}{}", upstream_toml(addr, ""))).await;
    let names = |t: &str| host.list_tools(Some(t)).into_iter().map(|t| t.name).collect::<Vec<_>>();
    assert!(names("acme").contains(&"billing.getInvoice".to_string()));
    assert!(!names("beta").iter().any(|n| n.starts_with("billing.")));
    let req = || CallRequest::json("billing.getInvoice", &json!({ "id": "1" }));
    assert!(host.call(req().tenant("acme")).await.is_ok());
    let e = host.call(req().tenant("beta")).await.unwrap_err();
    assert_eq!(e.code(), ErrorCode::ToolNotFound, "a hidden upstream tool does not exist for beta");
}

#[tokio::test]
async fn the_http_api_lists_and_runs_upstream_tools() {
    let (addr, _seen) = api().await;
    let (host, _f) = host_with(&upstream_toml(addr, "")).await;
    let server = toolhost_serve::HttpServer::bind(host, "127.0.0.1:0".parse().unwrap()).await.unwrap();
    let base = format!("http://{}", server.local_addr());
    tokio::spawn(server.run(std::future::pending()));
    let client = reqwest::Client::new();
    let tools: Value = client.get(format!("{base}/v1/tools")).send().await.unwrap().json().await.unwrap();
    let listed =
        tools["tools"].as_array().unwrap().iter().find(|t| t["name"] == "billing.getInvoice").cloned();
    assert_eq!(listed.expect("listed over HTTP")["source"], "http");
    let batch = json!([{ "id": "a", "tool": "billing.getInvoice", "arguments": { "id": "x" } },
                       { "id": "b", "tool": "ok", "arguments": {} }]);
    let out: Value = client
        .post(format!("{base}/v1/calls?order=submission"))
        .json(&batch)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let results = out["results"].as_array().expect("results");
    assert_eq!(results[0]["value"], json!({ "id": "x", "total": 42.5 }), "{out}");
    assert_eq!(results[1]["ok"], true, "{out}");
}

#[tokio::test]
async fn a_source_that_is_down_never_blocks_the_plugins() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let toml = format!(
        "[[upstreams]]\nname = \"gone\"\nopenapi = \"http://127.0.0.1:{port}/openapi.json\"\ntimeout_ms = 2000\n"
    );
    let (host, _f) = host_with(&toml).await;
    common::bystander_ok(&host).await;
    let status = host.upstreams();
    assert!(
        !status[0].connected && status[0].error.as_deref().is_some_and(|e| e.contains("gone")),
        "{status:?}"
    );
    let e = common::call(&host, "gone.anything", json!({})).await.unwrap_err();
    assert_eq!(e.code(), ErrorCode::ToolNotFound);
    let metrics = toolhost::observe::metrics::render_host(&host);
    assert!(metrics.contains("toolhost_upstreams{upstream=\"gone\",kind=\"http\"} 0"), "{metrics}");
}

#[test]
fn upstream_entries_are_validated_with_their_key_paths() {
    let bad = |toml: &str| toolhost::Config::from_toml(toml).unwrap_err().to_string();
    let two = bad(
        "[[upstreams]]\nname = \"gh\"\ncommand = [\"npx\", \"server\"]\nurl = \"http://127.0.0.1:1/mcp\"\n",
    );
    assert!(two.contains("upstreams[0]") && two.contains("exactly one of"), "{two}");
    let dup = bad(
        "[[upstreams]]\nname = \"a\"\nopenapi = \"x.json\"\n[[upstreams]]\nname = \"a\"\nopenapi = \"y.json\"\n",
    );
    assert!(dup.contains("upstreams[1].name"), "{dup}");
    let none = bad("[[upstreams]]\nname = \"a\"\n");
    assert!(none.contains("exactly one of"), "{none}");
}

#[tokio::test]
async fn a_dag_mixes_plugin_and_upstream_calls() {
    let (addr, _seen) = api().await;
    let (host, _f) = host_with(&upstream_toml(addr, "")).await;
    let spec: toolhost::scheduler::RunSpec = serde_json::from_value(json!({ "calls": [
        { "call_id": "inv", "tool": "billing.getInvoice", "args": { "id": "d-1" } },
        { "call_id": "echo", "tool": "ok", "depends_on": ["inv"], "args": { "total": { "$ref": "inv#/value/total" } } }
    ]}))
    .unwrap();
    let ctx = toolhost::ExecutionContext::new();
    let run = host.run_dag(&ctx, &spec, Default::default()).await.unwrap();
    let echo = run.calls.iter().find(|c| c.call_id == "echo").expect("echo ran");
    let result = echo.result.as_ref().expect("echo has a result");
    assert_eq!(result["value"], json!({ "total": 42.5 }), "{run:?}");
}

#[tokio::test]
async fn the_cli_lists_and_calls_upstream_tools() {
    let (addr, _seen) = api().await;
    let folder = common::Folder::new();
    folder.wasm("h", &common::hostile());
    let cfg = folder.path().join("toolhost.toml");
    let text = format!(
        "plugins_dir = {:?}\ncache_dir = {:?}\n{}",
        folder.path(),
        common::shared_cache(),
        upstream_toml(addr, "")
    );
    std::fs::write(&cfg, text).unwrap();
    let toolhost = |args: &[&str]| {
        let mut c = tokio::process::Command::new(crate::cli::bin());
        c.args(args).arg("--config").arg(&cfg).env_remove("RUST_LOG");
        c.output()
    };
    let out = toolhost(&["list", "--json"]).await.unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    let tool = doc["tools"].as_array().unwrap().iter().find(|t| t["name"] == "billing.getInvoice").cloned();
    assert_eq!(tool.expect("listed")["plugin"], "billing");
    assert_eq!(doc["upstreams"][0]["connected"], true, "{doc}");
    let out = toolhost(&["call", "billing.getInvoice", r#"{"id":"cli"}"#, "--json"]).await.unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["value"], json!({ "id": "cli", "total": 42.5 }), "{v}");
    // `toolhost run`: a batch mixing an upstream call and a plugin call.
    let batch = folder.path().join("batch.json");
    let calls = json!([{ "id": "a", "tool": "billing.getInvoice", "arguments": { "id": "run" } },
                       { "id": "b", "tool": "ok", "arguments": { "x": 1 } }]);
    std::fs::write(&batch, calls.to_string()).unwrap();
    let out = toolhost(&["run", batch.to_str().unwrap(), "--json"]).await.unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains(r#""total":42.5"#) && text.contains(r#""x":1"#), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_durable_run_mixes_upstream_and_plugin_calls_on_a_worker() {
    let (addr, _seen) = api().await;
    let redis = common::RedisServer::start();
    let setup = crate::durable::Setup::new(&redis, "");
    let mut text = std::fs::read_to_string(&setup.config).unwrap();
    text.push_str(&upstream_toml(addr, ""));
    std::fs::write(&setup.config, text).unwrap();
    let _worker = setup.worker(&[]);
    let spec = json!({ "calls": [
        { "call_id": "inv", "tool": "billing.getInvoice", "args": { "id": "durable" } },
        { "call_id": "echo", "tool": "ok", "depends_on": ["inv"], "args": { "id": { "$ref": "inv#/value/id" } } }
    ]});
    let run_id = setup.submit_ok(&spec);
    let rec = setup.wait_done(&run_id).await;
    assert_eq!(rec.status, "succeeded", "{rec:?}");
    let echo = rec.result.as_ref().and_then(|r| r["calls"].as_array().cloned()).unwrap_or_default();
    let echo = echo.iter().find(|c| c["call_id"] == "echo").cloned().expect("echo in the result");
    assert_eq!(echo["result"]["value"], json!({ "id": "durable" }), "{echo}");
}
