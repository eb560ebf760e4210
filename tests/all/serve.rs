//! `toolhost serve --http`: the HTTP API and the hygiene of every route
//! (Host/Origin checks, tokens, body limits, bad input, graceful shutdown),
//! with real requests on 127.0.0.1. MCP peers are tested by real MCP clients
//! in tests/mcp (Python SDK, conformance suite); here only what a raw request
//! must see on /mcp.

use crate::common::{Folder, hostile};
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::time::Duration;
use toolhost::{Config, Host};
use toolhost_serve::HttpServer;

/// A running server over a folder holding the hostile guest as plugin `h`.
struct Server {
    addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
    _folder: Folder,
}

impl Server {
    async fn start(adjust: impl FnOnce(&mut Config)) -> Server {
        let folder = Folder::new();
        folder.wasm("h", &hostile());
        let mut cfg = folder.config();
        adjust(&mut cfg);
        let host = Host::builder().config(cfg).build().await.expect("host builds");
        let server = HttpServer::bind(host, "127.0.0.1:0".parse().unwrap()).await.expect("binds");
        let addr = server.local_addr();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            server
                .run(async {
                    let _ = rx.await;
                })
                .await
                .unwrap();
        });
        Server { addr, stop: Some(tx), task, _folder: folder }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Signals shutdown and waits for the server to stop.
    async fn shutdown(mut self) {
        let _ = self.stop.take().unwrap().send(());
        tokio::time::timeout(Duration::from_secs(20), self.task).await.expect("stops in time").unwrap();
    }
}

fn client() -> reqwest::Client {
    reqwest::Client::builder().timeout(Duration::from_secs(30)).build().unwrap()
}

async fn post_calls(s: &Server, query: &str, body: &str) -> (u16, Value) {
    let r = client()
        .post(s.url(&format!("/v1/calls{query}")))
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lists_tools_and_runs_single_calls_and_batches() {
    let s = Server::start(|_| {}).await;
    let tools: Value = client().get(s.url("/v1/tools")).send().await.unwrap().json().await.unwrap();
    let names: Vec<&str> =
        tools["tools"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert!(names.contains(&"ok") && names.contains(&"sleep_ms"), "{names:?}");
    assert!(tools["tools"][0]["input_schema"].is_object());

    let (status, v) = post_calls(&s, "", r#"{"tool":"ok","arguments":{"x":1}}"#).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["ok"], true);
    assert_eq!(v["results"][0]["tool"], "ok");

    // A batch in OpenAI shape, one failing call, submission order.
    let batch = json!({"tool_calls": [
        {"id": "a", "type": "function", "function": {"name": "sleep_ms", "arguments": "{\"ms\":30}"}},
        {"id": "b", "type": "function", "function": {"name": "fail", "arguments": "{\"kind\":\"not-found\"}"}},
        {"id": "c", "type": "function", "function": {"name": "ok", "arguments": "{}"}},
    ]});
    let (status, v) = post_calls(&s, "?order=submission", &batch.to_string()).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["ok"], false);
    let ids: Vec<&str> =
        v["results"].as_array().unwrap().iter().map(|r| r["call_id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["a", "b", "c"]);
    assert_eq!(v["results"][1]["error"]["code"], "TOOL_EXECUTION_FAILED");
    assert!(v["results"][1]["text"].as_str().unwrap().contains("retryable"), "{v}");
    assert_eq!(v["results"][2]["ok"], true);

    // Completion order: the quick call comes back before the slow one.
    let batch = r#"[{"id":"slow","tool":"sleep_ms","arguments":{"ms":300}},{"id":"fast","tool":"ok"}]"#;
    let (_, v) = post_calls(&s, "?order=completion", batch).await;
    assert_eq!(v["results"][0]["call_id"], "fast", "{v}");
    s.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_progress_log_emit_and_results_as_sse() {
    let s = Server::start(|_| {}).await;
    let body = r#"[{"id":"hc","tool":"host_calls"},{"id":"bad","tool":"nope"}]"#;
    let r = client().post(s.url("/v1/calls?stream=true")).body(body).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers()["content-type"].to_str().unwrap().starts_with("text/event-stream"));
    let text = r.text().await.unwrap();
    let events: Vec<(String, Value)> = sse_events(&text);
    let kinds: Vec<&str> = events.iter().map(|(k, _)| k.as_str()).collect();
    for k in ["started", "log", "progress", "emit", "result", "done"] {
        assert!(kinds.contains(&k), "no {k} event in {kinds:?}");
    }
    assert_eq!(kinds.last(), Some(&"done"));
    let (_, emit) = events.iter().find(|(k, _)| k == "emit").unwrap();
    assert_eq!(emit["chunk"], json!({"chunk": 1}), "emit chunks arrive as JSON");
    assert_eq!(emit["call_id"], "hc");
    let (_, done) = events.last().unwrap();
    assert_eq!(
        (done["total"].as_u64(), done["ok"].as_u64(), done["failed"].as_u64()),
        (Some(2), Some(1), Some(1))
    );
    let unknown = events.iter().find(|(k, v)| k == "result" && v["call_id"] == "bad").unwrap();
    assert_eq!(unknown.1["error"]["code"], "TOOL_NOT_FOUND");
    s.shutdown().await;
}

/// `event:`/`data:` pairs of a server-sent-events body.
fn sse_events(text: &str) -> Vec<(String, Value)> {
    let mut out = Vec::new();
    for block in text.split("\n\n") {
        let mut kind = String::from("message");
        let mut data = String::new();
        for line in block.lines() {
            if let Some(k) = line.strip_prefix("event:") {
                kind = k.trim().to_string();
            } else if let Some(d) = line.strip_prefix("data:") {
                data.push_str(d.trim_start());
            }
        }
        if !data.is_empty() {
            out.push((kind, serde_json::from_str(&data).unwrap_or(Value::String(data))));
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_get_clear_errors_and_the_server_keeps_serving() {
    let s = Server::start(|cfg| cfg.serve.max_body_bytes = 64 * 1024).await;
    let c = client();
    // Oversized body: 413 on the API and on /mcp. The server answers as soon as the
    // declared length is over the limit and may close before the upload ends; a
    // client that is still writing then sees the connection end instead.
    let big = "x".repeat(100 * 1024);
    for path in ["/v1/calls", "/mcp"] {
        match c.post(s.url(path)).header("content-type", "application/json").body(big.clone()).send().await {
            Ok(r) => assert_eq!(r.status(), 413, "{path}"),
            Err(e) => assert!(e.is_request() && !e.is_timeout(), "{path}: refused mid-upload, not hung: {e}"),
        }
    }
    // Malformed input.
    let (status, v) = post_calls(&s, "", "{not json").await;
    assert_eq!((status, v["error"]["code"].as_str()), (400, Some("INVALID_INPUT")), "{v}");
    let (status, v) = post_calls(&s, "", r#"{"weather":"sunny"}"#).await;
    assert_eq!(status, 400, "{v}");
    let (status, _) = post_calls(&s, "", "[]").await;
    assert_eq!(status, 400);
    let (status, _) = post_calls(&s, "?order=random", r#"{"tool":"ok"}"#).await;
    assert_eq!(status, 400);
    let r = c.post(s.url("/v1/calls")).body(vec![0xff, 0xfe, 0x00]).send().await.unwrap();
    assert_eq!(r.status(), 400);
    // Bad arguments are a per-call validation error, not a request error.
    let (status, v) = post_calls(&s, "", r#"{"tool":"ok","arguments":"{\"x\":"}"#).await;
    assert_eq!(status, 200);
    assert_eq!(v["results"][0]["error"]["code"], "TOOL_VALIDATION_ERROR", "{v}");
    // A malformed traceparent header.
    let r = c
        .post(s.url("/v1/calls"))
        .header("traceparent", "00-zz")
        .body(r#"{"tool":"ok"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    // Unknown route.
    assert_eq!(c.get(s.url("/v2/nothing")).send().await.unwrap().status(), 404);
    // Still serving.
    let (status, v) = post_calls(&s, "", r#"{"tool":"ok"}"#).await;
    assert_eq!((status, &v["ok"]), (200, &json!(true)));
    s.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn foreign_origins_and_hosts_are_refused_on_every_route() {
    let s = Server::start(|_| {}).await;
    let c = client();
    for path in ["/v1/tools", "/mcp", "/healthz"] {
        let r = c.get(s.url(path)).header("origin", "http://evil.example").send().await.unwrap();
        assert_eq!(r.status(), 403, "{path}");
        let r = c.get(s.url(path)).header("host", "evil.example").send().await.unwrap();
        assert_eq!(r.status(), 403, "{path} with a foreign Host");
    }
    let init = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "0"}}});
    let r = c
        .post(s.url("/mcp"))
        .header("origin", "http://attacker.example:8080")
        .header("accept", "application/json, text/event-stream")
        .json(&init)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    // Loopback origins pass.
    let r = c.get(s.url("/v1/tools")).header("origin", "http://localhost:6274").send().await.unwrap();
    assert_eq!(r.status(), 200);
    s.shutdown().await;
}

fn tenants_config(cfg: &mut Config) {
    let doc = r#"
        [tenants.acme]
        tools = ["ok", "ctx", "fail"]
        [tenants.beta]
        [[serve.tokens]]
        tenant = "acme"
        token = "acme-secret"
        [[serve.tokens]]
        tenant = "beta"
        token_sha256 = "REPLACE"
    "#
    .replace("REPLACE", &toolhost_serve::auth::token_sha256("beta-secret"));
    let parsed = Config::from_toml(&doc).unwrap();
    cfg.tenants = parsed.tenants;
    cfg.serve.tokens = parsed.serve.tokens;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bearer_tokens_pick_the_tenant_and_hide_other_tenants_tools() {
    let s = Server::start(tenants_config).await;
    let c = client();
    // No token / a bad token: 401 with a challenge; health stays open.
    let r = c.get(s.url("/v1/tools")).send().await.unwrap();
    assert_eq!(r.status(), 401);
    assert!(r.headers()["www-authenticate"].to_str().unwrap().starts_with("Bearer"));
    let r = c.get(s.url("/v1/tools")).bearer_auth("wrong").send().await.unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(c.post(s.url("/mcp")).body("{}").send().await.unwrap().status(), 401);
    assert_eq!(c.get(s.url("/healthz")).send().await.unwrap().status(), 200);

    let names = |v: &Value| -> Vec<String> {
        v["tools"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap().to_string()).collect()
    };
    // A tenant-id header is a hint only: the token decides.
    let acme: Value = c
        .get(s.url("/v1/tools"))
        .bearer_auth("acme-secret")
        .header("x-tenant-id", "beta")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(names(&acme), ["ctx", "fail", "ok"]);
    let beta: Value =
        c.get(s.url("/v1/tools")).bearer_auth("beta-secret").send().await.unwrap().json().await.unwrap();
    assert!(names(&beta).len() > 5);

    // acme cannot call (or learn about) beta's tools; the guest sees acme.
    let r = c
        .post(s.url("/v1/calls?order=submission"))
        .bearer_auth("acme-secret")
        .header("x-tenant-id", "beta")
        .body(r#"[{"tool":"sleep_ms","arguments":{"ms":1}},{"tool":"ctx"}]"#)
        .send()
        .await
        .unwrap();
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["results"][0]["error"]["code"], "TOOL_NOT_FOUND", "{v}");
    assert_eq!(v["results"][1]["value"]["tenant_id"], "acme", "{v}");
    s.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_lets_running_calls_finish_within_the_grace_period() {
    let s = Server::start(|cfg| cfg.serve.shutdown_grace_ms = 5_000).await;
    let url = s.url("/v1/calls");
    let call = tokio::spawn(async move {
        client()
            .post(url)
            .body(r#"{"tool":"sleep_ms","arguments":{"ms":400}}"#)
            .send()
            .await
            .unwrap()
            .json::<Value>()
            .await
            .unwrap()
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    let addr = s.addr;
    s.shutdown().await;
    let v = call.await.unwrap();
    assert_eq!(v["ok"], true, "the in-flight call finished: {v}");
    assert!(tokio::net::TcpStream::connect(addr).await.is_err(), "no longer accepting");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_cancels_calls_that_outlive_the_grace_period() {
    let s = Server::start(|cfg| cfg.serve.shutdown_grace_ms = 200).await;
    let url = s.url("/v1/calls");
    let call = tokio::spawn(async move {
        client()
            .post(url)
            .body(r#"{"tool":"sleep_ms","arguments":{"ms":20000}}"#)
            .send()
            .await
            .unwrap()
            .json::<Value>()
            .await
            .unwrap()
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    let started = std::time::Instant::now();
    s.shutdown().await;
    assert!(started.elapsed() < Duration::from_secs(10));
    let v = call.await.unwrap();
    assert_eq!(v["results"][0]["error"]["code"], "TOOL_CANCELLED", "{v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_and_readiness() {
    let s = Server::start(|_| {}).await;
    let v: Value = client().get(s.url("/healthz")).send().await.unwrap().json().await.unwrap();
    assert_eq!(v["status"], "ok");
    let r = client().get(s.url("/readyz")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!((v["ready"].as_bool(), v["plugins"].as_u64()), (Some(true), Some(1)), "{v}");
    s.shutdown().await;
}

/// MCP over HTTP with raw JSON-RPC: a tenant's session lists only its tools,
/// and an unknown tool is a JSON-RPC error (not an `isError` result).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mcp_sessions_are_scoped_to_the_token_tenant() {
    let s = Server::start(tenants_config).await;
    let c = client();
    let rpc = |session: Option<String>, body: Value| {
        let mut r = c
            .post(s.url("/mcp"))
            .bearer_auth("acme-secret")
            .header("accept", "application/json, text/event-stream")
            .header("mcp-protocol-version", "2025-06-18")
            .json(&body);
        if let Some(id) = session {
            r = r.header("mcp-session-id", id);
        }
        r.send()
    };
    let init = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "raw", "version": "0"}}});
    let r = rpc(None, init).await.unwrap();
    assert_eq!(r.status(), 200);
    let session = r.headers().get("mcp-session-id").map(|v| v.to_str().unwrap().to_string());
    let first = last_message(&r.text().await.unwrap());
    assert_eq!(first["result"]["serverInfo"]["name"], "toolhost", "{first}");
    assert_eq!(first["result"]["capabilities"]["tools"]["listChanged"], true);
    let r =
        rpc(session.clone(), json!({"jsonrpc": "2.0", "method": "notifications/initialized"})).await.unwrap();
    assert!(r.status().is_success());
    let r = rpc(session.clone(), json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"})).await.unwrap();
    let list = last_message(&r.text().await.unwrap());
    let names: Vec<&str> =
        list["result"]["tools"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["ctx", "fail", "ok"], "{list}");
    let r = rpc(
        session.clone(),
        json!({"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {"name": "sleep_ms", "arguments": {"ms": 1}}}),
    )
    .await
    .unwrap();
    let err = last_message(&r.text().await.unwrap());
    assert!(err["error"]["code"].is_i64(), "a hidden tool is unknown: {err}");
    let r = rpc(
        session,
        json!({"jsonrpc": "2.0", "id": 4, "method": "tools/call", "params": {"name": "fail", "arguments": {"kind": "transient"}}}),
    )
    .await
    .unwrap();
    let res = last_message(&r.text().await.unwrap());
    assert_eq!(res["result"]["isError"], true, "{res}");
    let text = res["result"]["content"][0]["text"].as_str().unwrap();
    assert!(text.contains("retryable: yes"), "{text}");
    s.shutdown().await;
}

/// A raw 2025-11-25 MCP session over streamable HTTP (bearer token optional).
pub(crate) struct McpSession {
    url: String,
    token: Option<&'static str>,
    id: Option<String>,
    client: reqwest::Client,
}

impl McpSession {
    /// `initialize` (declaring `capabilities`) and `notifications/initialized`;
    /// returns the session and the initialize response.
    pub(crate) async fn open(
        url: String,
        token: Option<&'static str>,
        capabilities: Value,
    ) -> (McpSession, Value) {
        let client = reqwest::Client::builder().timeout(Duration::from_secs(30)).build().unwrap();
        let mut s = McpSession { url, token, id: None, client };
        let (id, init) = s
            .send(json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
                "protocolVersion": "2025-11-25", "clientInfo": {"name": "raw", "version": "0"},
                "capabilities": capabilities}}))
            .await;
        s.id = id;
        s.send(json!({"jsonrpc": "2.0", "method": "notifications/initialized"})).await;
        (s, init)
    }

    /// Posts one message; the session id the server gave and the last JSON-RPC message back.
    pub(crate) async fn send(&self, body: Value) -> (Option<String>, Value) {
        let (id, text) = self.send_raw(body).await;
        (id, last_message(&text))
    }

    /// Posts one message; the session id and the whole response body (JSON or SSE).
    pub(crate) async fn send_raw(&self, body: Value) -> (Option<String>, String) {
        let r = self.post(&body).send().await.unwrap();
        let id = r.headers().get("mcp-session-id").map(|v| v.to_str().unwrap().to_string());
        (id, r.text().await.unwrap())
    }

    /// A request with `params`; the response message.
    pub(crate) async fn rpc(&self, method: &str, params: Value) -> Value {
        self.send(json!({"jsonrpc": "2.0", "id": 7, "method": method, "params": params})).await.1
    }

    /// A request whose response stream may carry server-to-client requests
    /// (elicitation): each is answered with `answer(request)` as it arrives.
    /// The requests seen and the response message.
    pub(crate) async fn rpc_answering(
        &self,
        method: &str,
        params: Value,
        answer: impl Fn(&Value) -> Value,
    ) -> (Vec<Value>, Value) {
        let body = json!({"jsonrpc": "2.0", "id": 8, "method": method, "params": params});
        let mut r = self.post(&body).send().await.unwrap();
        let (mut buf, mut asked) = (String::new(), Vec::new());
        while let Some(chunk) = r.chunk().await.unwrap() {
            buf.push_str(&String::from_utf8_lossy(&chunk));
            while let Some(end) = buf.find("\n\n") {
                let event: String = buf.drain(..end + 2).collect();
                for (_, msg) in sse_events(&event) {
                    if msg["id"] == 8 && (msg.get("result").is_some() || msg.get("error").is_some()) {
                        return (asked, msg);
                    }
                    if let (Some(_), Some(id)) = (msg.get("method"), msg.get("id")) {
                        let reply = json!({"jsonrpc": "2.0", "id": id, "result": answer(&msg)});
                        self.post(&reply).send().await.unwrap();
                        asked.push(msg);
                    }
                }
            }
        }
        panic!("the response stream ended without a response; seen {asked:?}, left {buf:?}");
    }

    /// Posts one message; the HTTP status and the `WWW-Authenticate` challenge.
    pub(crate) async fn post_status(&self, body: Value) -> (u16, String) {
        let r = self.post(&body).send().await.unwrap();
        let challenge = r.headers().get("www-authenticate").map(|v| v.to_str().unwrap().to_string());
        (r.status().as_u16(), challenge.unwrap_or_default())
    }

    /// The HTTP status of an `initialize` with `token`, and its challenge.
    pub(crate) async fn open_status(url: String, token: Option<&'static str>) -> (u16, String) {
        let client = reqwest::Client::builder().timeout(Duration::from_secs(30)).build().unwrap();
        let s = McpSession { url, token, id: None, client };
        s.post_status(json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
            "protocolVersion": "2025-11-25", "clientInfo": {"name": "raw", "version": "0"}, "capabilities": {}}}))
            .await
    }

    /// The session's standalone GET stream (server notifications).
    pub(crate) async fn get_stream(&self, url: &str) -> reqwest::Response {
        let mut r = self
            .client
            .get(url)
            .timeout(Duration::from_secs(600))
            .header("accept", "text/event-stream")
            .header("mcp-protocol-version", "2025-11-25");
        if let Some(t) = self.token {
            r = r.bearer_auth(t);
        }
        if let Some(id) = &self.id {
            r = r.header("mcp-session-id", id);
        }
        r.send().await.unwrap()
    }

    fn post(&self, body: &Value) -> reqwest::RequestBuilder {
        let mut r = self
            .client
            .post(&self.url)
            .header("accept", "application/json, text/event-stream")
            .header("mcp-protocol-version", "2025-11-25")
            .json(body);
        if let Some(t) = self.token {
            r = r.bearer_auth(t);
        }
        if let Some(id) = &self.id {
            r = r.header("mcp-session-id", id);
        }
        r
    }
}

/// Over MCP, a guest's progress reports and its `emit` chunks reach a client
/// that sent a progress token as `notifications/progress` (a chunk as the
/// message), with strictly increasing progress, before the result.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mcp_progress_carries_emitted_chunks() {
    let s = Server::start(|_| {}).await;
    let (mcp, _) = McpSession::open(s.url("/mcp"), None, json!({})).await;
    let call = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call",
        "params": {"name": "host_calls", "arguments": {}, "_meta": {"progressToken": "p1"}}});
    let (_, body) = mcp.send_raw(call).await;
    let progress: Vec<Value> = sse_events(&body)
        .into_iter()
        .map(|(_, v)| v)
        .filter(|v| v["method"] == "notifications/progress")
        .map(|v| v["params"].clone())
        .collect();
    let chunk = progress.iter().find(|p| p["message"].as_str().is_some_and(|m| m.contains("chunk")));
    assert!(chunk.is_some(), "no emitted chunk among {progress:?}");
    let values: Vec<f64> = progress.iter().map(|p| p["progress"].as_f64().unwrap()).collect();
    assert!(values.windows(2).all(|w| w[0] < w[1]), "progress must increase: {values:?}");
    assert!(last_message(&body)["result"].is_object(), "{body}");
    s.shutdown().await;
}

/// The last JSON-RPC message of a response body (JSON or SSE).
pub(crate) fn last_message(body: &str) -> Value {
    if let Ok(v) = serde_json::from_str::<Value>(body) {
        return v;
    }
    sse_events(body).into_iter().map(|(_, v)| v).filter(|v| v.is_object()).last().unwrap_or(Value::Null)
}

/// `toolhost serve --stdio` as a client launches it: stdout carries only
/// JSON-RPC, an oversized or unparsable line is dropped without ending the
/// session, and closing stdin stops the server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stdio_drops_oversized_and_junk_lines_and_keeps_serving() {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    let folder = Folder::new();
    folder.wasm("h", &hostile());
    folder.file("toolhost.toml", b"[serve]\nmax_message_bytes = 4096\n");
    let mut child = tokio::process::Command::new(crate::cli::bin())
        .args(["serve", "--stdio", "--no-watch", "--plugins"])
        .arg(folder.path())
        .arg("--config")
        .arg(folder.path().join("toolhost.toml"))
        .arg("--cache-dir")
        .arg(crate::common::shared_cache())
        .env_remove("RUST_LOG")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    async fn send(stdin: &mut tokio::process::ChildStdin, v: Value) {
        stdin.write_all(format!("{v}\n").as_bytes()).await.unwrap();
    }
    send(
        &mut stdin,
        json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "raw", "version": "0"}}}),
    )
    .await;
    send(&mut stdin, json!({"jsonrpc": "2.0", "method": "notifications/initialized"})).await;
    // 2: far over the 4 KiB limit. Then a line that is not JSON at all. Then 3: a good call.
    let huge = "x".repeat(64 * 1024);
    send(&mut stdin, json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "ok", "arguments": {"pad": huge}}}))
        .await;
    stdin.write_all(b"this is not json\n").await.unwrap();
    send(&mut stdin, json!({"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {"name": "ok", "arguments": {"x": 1}}}))
        .await;
    let mut seen = Vec::new();
    while !seen.contains(&json!(3)) {
        let line = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
            .await
            .expect("server answers in time")
            .unwrap()
            .expect("stdout stays open");
        let msg: Value =
            serde_json::from_str(&line).unwrap_or_else(|e| panic!("stdout line is not JSON ({e}): {line}"));
        assert_eq!(msg["jsonrpc"], "2.0");
        if msg["id"] == 3 {
            assert_eq!(msg["result"]["structuredContent"], json!({"x": 1}), "{msg}");
        }
        seen.push(msg["id"].clone());
    }
    assert!(!seen.contains(&json!(2)), "the oversized request was dropped, not answered: {seen:?}");
    drop(stdin);
    let status = tokio::time::timeout(Duration::from_secs(20), child.wait()).await.expect("exits").unwrap();
    assert!(status.success(), "{status}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dag_runs_over_http_wait_poll_stream_plan_and_cancel() {
    let s = Server::start(tenants_config).await;
    let c = client();
    let run = json!({"calls": [
        {"call_id": "a", "tool": "ok", "args": {"v": 7}},
        {"call_id": "b", "tool": "ok", "args": {"got": {"$ref": "a#/value/v"}}, "depends_on": ["a"]}
    ]});
    let post = |q: &str, body: &Value, token: &str| {
        c.post(s.url(&format!("/v1/runs{q}"))).bearer_auth(token.to_string()).json(body).send()
    };
    // Wait for the result.
    let r: Value = post("?wait=true", &run, "beta-secret").await.unwrap().json().await.unwrap();
    assert_eq!(r["status"], "succeeded", "{r}");
    assert_eq!(r["calls"][1]["result"]["value"], json!({"got": 7}));
    // Start, then poll; another tenant cannot see it.
    let started = post("", &run, "beta-secret").await.unwrap();
    assert_eq!(started.status(), 202);
    let id = started.json::<Value>().await.unwrap()["run_id"].as_str().unwrap().to_string();
    let mut last = Value::Null;
    for _ in 0..100 {
        last = c
            .get(s.url(&format!("/v1/runs/{id}")))
            .bearer_auth("beta-secret")
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if last["status"] != "running" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(last["status"], "succeeded", "{last}");
    let other = c.get(s.url(&format!("/v1/runs/{id}"))).bearer_auth("acme-secret").send().await.unwrap();
    assert_eq!(other.status(), 404, "another tenant's run is invisible");
    // Plan only.
    let plan: Value = post("?plan_only=true", &run, "beta-secret").await.unwrap().json().await.unwrap();
    assert_eq!(plan["stages"], json!([["a"], ["b"]]));
    // A cycle is refused with the cycle named.
    let cyc = json!({"calls": [{"call_id": "p", "tool": "ok", "depends_on": ["q"]}, {"call_id": "q", "tool": "ok", "depends_on": ["p"]}]});
    let r = post("", &cyc, "beta-secret").await.unwrap();
    assert_eq!(r.status(), 422);
    assert!(r.text().await.unwrap().contains("cycle"));
    // Streaming: started/finished per call, then done.
    let text = post("?stream=true", &run, "beta-secret").await.unwrap().text().await.unwrap();
    let kinds: Vec<String> = sse_events(&text).into_iter().map(|(k, _)| k).collect();
    assert_eq!(kinds.iter().filter(|k| *k == "started").count(), 2, "{kinds:?}");
    assert_eq!(kinds.last().map(String::as_str), Some("done"));
    // Cancel a long run.
    let long = json!({"calls": [{"call_id": "slow", "tool": "sleep_ms", "args": {"ms": 20000}}, {"call_id": "then", "tool": "ok", "depends_on": ["slow"]}]});
    let id = post("", &long, "beta-secret").await.unwrap().json::<Value>().await.unwrap()["run_id"]
        .as_str()
        .unwrap()
        .to_string();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let r = c.delete(s.url(&format!("/v1/runs/{id}"))).bearer_auth("beta-secret").send().await.unwrap();
    assert_eq!(r.status(), 202);
    for _ in 0..100 {
        last = c
            .get(s.url(&format!("/v1/runs/{id}")))
            .bearer_auth("beta-secret")
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if last["status"] != "running" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(last["status"], "cancelled", "{last}");
    assert_eq!(last["calls"][1]["reason"], "cancelled");
    s.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_metrics_count_real_calls() {
    let s = Server::start(|cfg| {
        let with_cache = Config::from_toml("[cache]\nenabled = true\n[policy]\ncache = true\nbreaker = {}\n[bulkheads]\nglobal = { max_concurrent = 8 }\n").unwrap();
        cfg.cache = with_cache.cache;
        cfg.policy = with_cache.policy;
        cfg.bulkheads = with_cache.bulkheads;
    })
    .await;
    let c = client();
    // The same call twice, one after the other (the second is a cache hit), and a failure.
    for body in [
        r#"{"tool":"ok","arguments":{"metrics":1}}"#,
        r#"{"tool":"ok","arguments":{"metrics":1}}"#,
        r#"{"tool":"fail","arguments":{"kind":"not-found"}}"#,
    ] {
        let (status, _) = post_calls(&s, "", body).await;
        assert_eq!(status, 200);
    }
    let r = c.get(s.url("/metrics")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers()["content-type"].to_str().unwrap().starts_with("text/plain"));
    let text = r.text().await.unwrap();
    let sample = |needle: &[&str]| -> f64 {
        text.lines()
            .filter(|l| !l.starts_with('#') && needle.iter().all(|n| l.contains(n)))
            .map(|l| l.rsplit(' ').next().unwrap().parse::<f64>().unwrap())
            .sum()
    };
    // Counters are process-wide (other tests run calls too): at least ours are there.
    assert!(
        sample(&["tool_executions_total{", "tool=\"ok\"", "status=\"success\"", "tenant=\"default\""]) >= 2.0,
        "{text}"
    );
    assert!(
        sample(&["tool_executions_total{", "tool=\"fail\"", "status=\"TOOL_EXECUTION_FAILED\""]) >= 1.0,
        "{text}"
    );
    assert!(
        sample(&["tool_cache_operations_total{", "result=\"hit\""]) >= 1.0,
        "the second identical call hit the cache: {text}"
    );
    assert!(sample(&["tool_execution_duration_seconds_count{", "tool=\"ok\""]) >= 2.0, "{text}");
    assert!(sample(&["toolhost_plugin_loads_total{", "result=\"loaded\""]) >= 1.0, "{text}");
    // Every load either compiled the plugin or found it in the compile cache.
    assert!(sample(&["toolhost_compile_cache_total{"]) >= 1.0, "{text}");
    assert!(text.contains("tool_guest_fuel_bucket{"), "{text}");
    // Scrape-time gauges from the host: breakers, bulkheads, plugins.
    assert!(text.contains("tool_circuit_breaker_state{breaker=\"default:fail\"} 0"), "{text}");
    assert!(text.contains("toolhost_plugins{state=\"loaded\"} 1"), "{text}");
    assert!(text.contains("tool_bulkhead_active{bulkhead=\"global\"} 0"), "{text}");
    s.shutdown().await;
}
