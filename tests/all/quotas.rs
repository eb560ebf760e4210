//! Per-tenant quotas (`[tenants.NAME.quota]`) over real HTTP on 127.0.0.1:
//! refusals are `QUOTA_EXCEEDED` with the quota, limit and use (HTTP 429 when
//! every call of the request hit a quota, `Retry-After` for windows), fuel and memory
//! caps below the plugin's own, the cache share, Prometheus gauges, and MCP.

use crate::common::{Folder, hostile};
use crate::serve::McpSession;
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::time::Duration;
use toolhost::Host;
use toolhost_serve::HttpServer;

/// A server over the hostile guest (plugin `h`) configured by `toml`.
pub(crate) struct Served {
    pub(crate) addr: SocketAddr,
    pub(crate) host: Host,
    pub(crate) folder: Folder,
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl Served {
    pub(crate) async fn start(toml: &str) -> Served {
        let folder = Folder::new();
        folder.wasm("h", &hostile());
        let mut cfg = toolhost::Config::from_toml(toml).unwrap();
        let base = folder.config();
        (cfg.plugins_dir, cfg.cache_dir) = (base.plugins_dir, base.cache_dir);
        let host = Host::builder().config(cfg).build().await.expect("host builds");
        let server = HttpServer::bind(host.clone(), "127.0.0.1:0".parse().unwrap()).await.unwrap();
        let addr = server.local_addr();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(server.run(async {
            let _ = rx.await;
        }));
        Served { addr, host, folder, _stop: tx }
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// `POST /v1/calls` of one call as `token`: status, `Retry-After`, body.
    pub(crate) async fn call(&self, token: &str, tool: &str, args: Value) -> (u16, Option<String>, Value) {
        let r = client()
            .post(self.url("/v1/calls"))
            .bearer_auth(token)
            .json(&json!({"tool": tool, "arguments": args}))
            .send()
            .await
            .unwrap();
        let retry = r.headers().get("retry-after").map(|v| v.to_str().unwrap().to_string());
        (r.status().as_u16(), retry, r.json().await.unwrap())
    }
}

/// `GET url` with a bearer token, its JSON body.
pub(crate) async fn get_json(url: impl reqwest::IntoUrl, token: &str) -> Value {
    client().get(url).bearer_auth(token).send().await.unwrap().json().await.unwrap()
}

pub(crate) fn client() -> reqwest::Client {
    reqwest::Client::builder().timeout(Duration::from_secs(60)).build().unwrap()
}

/// The error of the first result.
pub(crate) fn first_error(body: &Value) -> &Value {
    &body["results"][0]["error"]
}

const TENANTS: &str = r#"
[[serve.tokens]]
tenant = "acme"
token = "acme-token"
[[serve.tokens]]
tenant = "beta"
token = "beta-token"
[[serve.tokens]]
tenant = "ops"
token = "ops-token"
admin = true
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_per_minute_and_concurrent_calls_answer_429_with_the_quota_named() {
    let s = Served::start(&format!(
        "{TENANTS}\n[tenants.acme.quota]\ncalls_per_minute = 2\n[tenants.beta.quota]\nconcurrent_calls = 1\n"
    ))
    .await;
    for _ in 0..2 {
        assert_eq!(s.call("acme-token", "ok", json!({})).await.0, 200);
    }
    let (status, retry, body) = s.call("acme-token", "ok", json!({})).await;
    assert_eq!(status, 429, "{body}");
    let e = first_error(&body);
    assert_eq!(e["code"], "QUOTA_EXCEEDED");
    assert_eq!(e["details"], json!({"tenant": "acme", "quota": "calls_per_minute", "limit": 2, "used": 2}));
    let ms = e["retry_after_ms"].as_u64().unwrap();
    assert!(ms > 0 && ms <= 60_000, "{ms}");
    assert_eq!(retry.as_deref(), Some(ms.div_ceil(1000).to_string().as_str()));
    assert!(body["results"][0]["text"].as_str().unwrap().contains("calls_per_minute"));

    // beta: one call in flight at a time.
    let slow = {
        let url = s.url("/v1/calls");
        tokio::spawn(async move {
            let body = json!({"tool": "sleep_ms", "arguments": {"ms": 1500}});
            client().post(url).bearer_auth("beta-token").json(&body).send().await.unwrap().status()
        })
    };
    let mut refused = None;
    for _ in 0..100 {
        tokio::time::sleep(Duration::from_millis(20)).await;
        let (status, retry, body) = s.call("beta-token", "ok", json!({})).await;
        if status == 429 {
            refused = Some((retry, body));
            break;
        }
    }
    let (retry, body) = refused.expect("a second call while one runs is refused");
    assert_eq!(first_error(&body)["details"]["quota"], "concurrent_calls");
    assert_eq!(first_error(&body)["retryable"], true);
    assert_eq!(retry, None, "no window to wait for");
    assert_eq!(slow.await.unwrap(), 200, "the running call is not touched");
    assert_eq!(s.call("beta-token", "ok", json!({})).await.0, 200, "its slot is free again");

    // Gauges of use vs quota, per tenant.
    let metrics = client().get(s.url("/metrics")).bearer_auth("ops-token").send().await.unwrap();
    let text = metrics.text().await.unwrap();
    assert!(text.contains(r#"tenant_quota_limit{tenant="acme",quota="calls_per_minute"} 2"#), "{text}");
    assert!(text.contains(r#"tenant_quota_used{tenant="acme",quota="calls_per_minute"} 2"#), "{text}");
    assert!(text.contains(r#"tenant_quota_limit{tenant="beta",quota="concurrent_calls"} 1"#), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fuel_and_memory_quotas_cap_the_plugins_limits() {
    let s = Served::start(&format!(
        "{TENANTS}\n[tenants.acme.quota]\nfuel_per_call = 5000000\n[tenants.ops.quota]\nmemory_per_call = 16777216\n\
         [tenants.beta.quota]\nfuel_per_day = 20000000\n"
    ))
    .await;
    // The plugin has no fuel limit: the tenant's per-call fuel stops the loop.
    let (status, _, body) = s.call("acme-token", "spin", json!({})).await;
    assert_eq!(status, 429, "{body}");
    let e = first_error(&body);
    assert_eq!(
        (e["code"].as_str(), e["details"]["quota"].as_str()),
        (Some("QUOTA_EXCEEDED"), Some("fuel_per_call"))
    );
    assert_eq!(e["details"]["limit"], 5_000_000);
    // 16 MiB instead of the default 128.
    let (_, _, body) = s.call("ops-token", "grow", json!({})).await;
    let e = first_error(&body);
    assert_eq!(e["details"]["quota"], "memory_per_call", "{body}");
    assert_eq!(e["details"]["limit"], 16 << 20);
    assert_eq!(s.call("acme-token", "ok", json!({"x": 1})).await.0, 200, "small calls still run");
    // beta's day: the spin burns what is left, then calls wait for the window.
    let (_, _, body) = s.call("beta-token", "spin", json!({})).await;
    assert_eq!(first_error(&body)["details"]["quota"], "fuel_per_day", "{body}");
    let (status, retry, body) = s.call("beta-token", "ok", json!({})).await;
    assert_eq!(status, 429, "{body}");
    let e = first_error(&body);
    assert_eq!(e["details"]["used"].as_u64(), Some(20_000_000));
    let ms = e["retry_after_ms"].as_u64().unwrap();
    assert!(ms > 23 * 3600 * 1000 && ms <= 24 * 3600 * 1000, "{ms}");
    assert!(retry.is_some());
    // Other tenants are not affected.
    assert_eq!(s.call("acme-token", "ok", json!({})).await.0, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenants_cache_share_and_a_quota_refusal_over_mcp() {
    let s = Served::start(&format!(
        "{TENANTS}\n[cache]\nenabled = true\n[policy]\ncache = true\n[tenants.acme.quota]\ncache_bytes = 1024\n[tenants.beta.quota]\ncalls_per_minute = 1\n"
    ))
    .await;
    // A result larger than acme's cache share is not cached; a small one is.
    let big = json!({"pad": "x".repeat(4096)});
    for _ in 0..2 {
        let (_, _, body) = s.call("acme-token", "ok", big.clone()).await;
        assert_eq!(body["results"][0]["cached"], false, "{body}");
    }
    s.call("acme-token", "ok", json!({"small": 1})).await;
    let (_, _, body) = s.call("acme-token", "ok", json!({"small": 1})).await;
    assert_eq!(body["results"][0]["cached"], true, "{body}");
    let tenant: Value = get_json(s.url("/admin/tenants/acme"), "ops-token").await;
    let cache = tenant["usage"].as_array().unwrap().iter().find(|u| u["quota"] == "cache_bytes").unwrap();
    assert!(cache["used"].as_u64().unwrap() > 0 && cache["used"].as_u64().unwrap() <= 1024, "{tenant}");

    // Over MCP a refusal is a tool error with the code, like a rate limit.
    let (mcp, _) = McpSession::open(s.url("/mcp"), Some("beta-token"), json!({})).await;
    let call = |n: u64| json!({"name": "ok", "arguments": {"n": n}});
    let first = mcp.rpc("tools/call", call(1)).await;
    assert_ne!(first["result"]["isError"], json!(true), "{first}");
    let second = mcp.rpc("tools/call", call(2)).await;
    assert_eq!(second["result"]["isError"], true, "{second}");
    let text = second["result"]["content"][0]["text"].as_str().unwrap();
    assert!(text.contains("QUOTA_EXCEEDED") && text.contains("calls_per_minute"), "{text}");
}
