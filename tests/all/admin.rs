//! The admin API (`/admin/*`) over real HTTP on 127.0.0.1, with static and
//! OAuth-free admin tokens: who may use it, plugin states and
//! enable/disable (surviving a reload of the plugin's file, with MCP
//! `tools/list_changed`), breaker reset, scoped cache clearing, tenant
//! quotas read and changed live; and `SIGHUP`/`POST /admin/reload` of a real
//! `toolhost serve` process: tokens swap, an in-flight call finishes, a bad
//! file is refused and the old configuration kept.

use crate::cli::bin;
use crate::common::{hostile, shared_cache};
use crate::quotas::{Served, client, first_error, get_json};
use serde_json::{Value, json};
use std::io::BufRead;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const CONFIG: &str = r#"
[[serve.tokens]]
tenant = "acme"
token = "acme-token"
[[serve.tokens]]
tenant = "ops"
token = "ops-token"
admin = true
[tenants.acme.quota]
concurrent_calls = 4
[tenants.ops]
[cache]
enabled = true
[policy]
cache = true
[policy.tools.fail]
retry = { max_attempts = 1 }
breaker = { window = { type = "consecutive", size = 2 }, minimum_calls = 2, open_duration_ms = 60000 }
"#;

async fn admin(s: &Served, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
    let mut r = client().request(method, s.url(path)).bearer_auth("ops-token");
    if let Some(b) = body {
        r = r.json(&b);
    }
    let r = r.send().await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

fn tool_names(v: &Value) -> Vec<String> {
    v["tools"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap().to_string()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_admin_credentials_reach_the_admin_api() {
    let s = Served::start(CONFIG).await;
    let get = |token: Option<&'static str>| {
        let mut r = client().get(s.url("/admin/plugins"));
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        r.send()
    };
    assert_eq!(get(None).await.unwrap().status(), 401);
    let r = get(Some("acme-token")).await.unwrap();
    assert_eq!(r.status(), 403);
    assert!(r.headers()["www-authenticate"].to_str().unwrap().contains(r#"scope="admin""#));
    assert_eq!(r.json::<Value>().await.unwrap()["error"]["code"], "INSUFFICIENT_SCOPE");
    assert_eq!(get(Some("ops-token")).await.unwrap().status(), 200);
    // The operator routes stay behind admin too.
    let metrics = client().get(s.url("/metrics")).bearer_auth("acme-token").send().await.unwrap();
    assert_eq!(metrics.status(), 403);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plugins_are_listed_disabled_and_enabled_across_a_reload_of_their_file() {
    let s = Served::start(CONFIG).await;
    s.folder.file("broken.wasm", b"not wasm");
    let (status, r) = admin(&s, reqwest::Method::POST, "/admin/reload", None).await;
    assert_eq!(status, 200, "{r}");
    let (_, list) = admin(&s, reqwest::Method::GET, "/admin/plugins", None).await;
    let find = |list: &Value, name: &str| {
        list["plugins"].as_array().unwrap().iter().find(|p| p["name"] == name).cloned().unwrap()
    };
    let h = find(&list, "h");
    assert_eq!(h["state"], "enabled");
    assert_eq!(h["digest"].as_str().unwrap().len(), 64);
    assert!(h["tools"].as_array().unwrap().contains(&json!("ok")));
    let broken = find(&list, "broken");
    assert_eq!(
        (broken["state"].as_str(), broken["error"]["code"].as_str()),
        (Some("failed"), Some("PLUGIN_LOAD_FAILED"))
    );

    // An MCP session hears of the change.
    let (mcp, _) = crate::serve::McpSession::open(s.url("/mcp"), Some("acme-token"), json!({})).await;
    let heard = listen_for_list_changed(&s, &mcp).await;

    let (status, r) = admin(&s, reqwest::Method::POST, "/admin/plugins/h/disable", None).await;
    assert_eq!((status, r["changed"].as_bool()), (200, Some(true)), "{r}");
    let tools: Value = get_json(s.url("/v1/tools"), "acme-token").await;
    assert!(tool_names(&tools).is_empty(), "{tools}");
    let (_, _, body) = s.call("acme-token", "ok", json!({})).await;
    assert_eq!(first_error(&body)["code"], "TOOL_DISABLED", "{body}");
    assert!(tokio::time::timeout(Duration::from_secs(10), heard).await.is_ok_and(|r| r.unwrap()));

    // A new version of the file loads, and stays disabled.
    std::fs::write(s.folder.path().join("h.wasm"), hostile()).unwrap();
    admin(&s, reqwest::Method::POST, "/admin/reload", None).await;
    let (_, list) = admin(&s, reqwest::Method::GET, "/admin/plugins", None).await;
    assert_eq!(find(&list, "h")["state"], "disabled");
    assert!(s.host.list_tools(Some("acme")).is_empty());

    let (status, _) = admin(&s, reqwest::Method::POST, "/admin/plugins/h/enable", None).await;
    assert_eq!(status, 200);
    assert_eq!(s.call("acme-token", "ok", json!({})).await.0, 200);
    let (status, r) = admin(&s, reqwest::Method::POST, "/admin/plugins/nope/disable", None).await;
    assert_eq!((status, r["error"]["code"].as_str()), (404, Some("NOT_FOUND")));
}

/// Opens the session's GET stream and resolves to whether
/// `notifications/tools/list_changed` arrived on it.
async fn listen_for_list_changed(
    s: &Served,
    mcp: &crate::serve::McpSession,
) -> tokio::task::JoinHandle<bool> {
    let mut r = mcp.get_stream(&s.url("/mcp")).await;
    tokio::spawn(async move {
        let mut seen = String::new();
        while let Ok(Some(chunk)) = r.chunk().await {
            seen.push_str(&String::from_utf8_lossy(&chunk));
            if seen.contains("notifications/tools/list_changed") {
                return true;
            }
        }
        false
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn breakers_reset_caches_clear_and_tenant_quotas_change_live() {
    let s = Served::start(CONFIG).await;
    for _ in 0..2 {
        s.call("acme-token", "fail", json!({"kind": "internal"})).await;
    }
    let (_, _, body) = s.call("acme-token", "fail", json!({"kind": "internal"})).await;
    assert_eq!(first_error(&body)["code"], "TOOL_CIRCUIT_OPEN");
    let (status, r) = admin(&s, reqwest::Method::POST, "/admin/breakers/acme/fail/reset", None).await;
    assert_eq!((status, r["reset"].as_bool()), (200, Some(true)));
    let (_, _, body) = s.call("acme-token", "fail", json!({"kind": "internal"})).await;
    assert_eq!(first_error(&body)["code"], "TOOL_EXECUTION_FAILED", "it ran again");

    // Scoped cache clearing: acme's `ok` results go, ops' stay.
    for token in ["acme-token", "ops-token"] {
        s.call(token, "ok", json!({"c": 1})).await;
        assert_eq!(s.call(token, "ok", json!({"c": 1})).await.2["results"][0]["cached"], true);
    }
    let (status, r) = admin(&s, reqwest::Method::DELETE, "/admin/cache?tenant=acme&tool=ok", None).await;
    assert_eq!((status, r["removed"].as_u64(), r["scoped"].as_bool()), (200, Some(1), Some(true)), "{r}");
    assert_eq!(s.call("acme-token", "ok", json!({"c": 1})).await.2["results"][0]["cached"], false);
    assert_eq!(s.call("ops-token", "ok", json!({"c": 1})).await.2["results"][0]["cached"], true);
    let (_, r) = admin(&s, reqwest::Method::DELETE, "/admin/cache", None).await;
    assert_eq!(r["scoped"], false);
    assert_eq!(s.call("ops-token", "ok", json!({"c": 1})).await.2["results"][0]["cached"], false);
    let (status, _) = admin(&s, reqwest::Method::DELETE, "/admin/cache?bogus=1", None).await;
    assert_eq!(status, 400);

    // Quotas: read, changed at once for new calls, refused when invalid.
    let (_, t) = admin(&s, reqwest::Method::GET, "/admin/tenants/acme", None).await;
    assert_eq!(t["quota"], json!({"concurrent_calls": 4}));
    let put = Some(json!({"calls_per_minute": 1}));
    let (status, t) = admin(&s, reqwest::Method::PUT, "/admin/tenants/acme", put).await;
    assert_eq!((status, &t["quota"]), (200, &json!({"calls_per_minute": 1})), "{t}");
    // acme's calls of this minute already count (its use is kept while it has
    // any quota): the next call is over the new limit at once.
    let (status, _, body) = s.call("acme-token", "ok", json!({"n": 2})).await;
    assert_eq!((status, first_error(&body)["code"].as_str()), (429, Some("QUOTA_EXCEEDED")));
    assert!(first_error(&body)["details"]["used"].as_u64().unwrap() > 1, "{body}");
    let (status, e) =
        admin(&s, reqwest::Method::PUT, "/admin/tenants/acme", Some(json!({"calls_per_minute": 0}))).await;
    assert_eq!((status, e["error"]["code"].as_str()), (400, Some("CONFIGURATION_ERROR")), "{e}");
    let (status, e) =
        admin(&s, reqwest::Method::PUT, "/admin/tenants/acme", Some(json!({"per_hour": 3}))).await;
    assert_eq!((status, e["error"]["code"].as_str()), (400, Some("INVALID_INPUT")), "{e}");
    admin(&s, reqwest::Method::PUT, "/admin/tenants/acme", Some(json!({}))).await;
    assert_eq!(s.call("acme-token", "ok", json!({"n": 3})).await.0, 200, "no quota: unlimited");
}

/// With Redis, `DELETE /admin/cache` removes the shared entries too: a
/// tenant's and tool's (those this process stored), or all of them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clearing_the_cache_clears_the_shared_redis_cache() {
    let redis = crate::common::RedisServer::start();
    let s = Served::start(&format!("redis_url = \"{}\"\n{CONFIG}", redis.url())).await;
    let cached = |body: Value| body["results"][0]["cached"].as_bool();
    s.call("acme-token", "ok", json!({"r": 1})).await;
    assert_eq!(cached(s.call("acme-token", "ok", json!({"r": 1})).await.2), Some(true));
    let (_, r) = admin(&s, reqwest::Method::DELETE, "/admin/cache?tenant=acme&tool=ok", None).await;
    assert_eq!((r["removed"].as_u64(), r["backend"].as_str()), (Some(1), Some("redis")), "{r}");
    assert_eq!(cached(s.call("acme-token", "ok", json!({"r": 1})).await.2), Some(false));
    assert_eq!(cached(s.call("acme-token", "ok", json!({"r": 1})).await.2), Some(true));
    let (_, r) = admin(&s, reqwest::Method::DELETE, "/admin/cache", None).await;
    assert_eq!((r["scoped"].as_bool(), r["removed"].as_u64()), (Some(false), Some(1)), "{r}");
    assert_eq!(cached(s.call("acme-token", "ok", json!({"r": 1})).await.2), Some(false));
}

/// A real `toolhost serve` process, its stderr collected line by line.
struct Process {
    child: std::process::Child,
    lines: Arc<Mutex<Vec<String>>>,
    base: String,
}

impl Process {
    fn start(config: &std::path::Path) -> Process {
        let mut child = std::process::Command::new(bin())
            .args(["serve", "--http", "127.0.0.1:0", "--no-watch", "--config"])
            .arg(config)
            .env_remove("RUST_LOG")
            .stderr(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let lines = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let (stderr, sink) = (child.stderr.take().unwrap(), lines.clone());
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(addr) = line.split("listening on ").nth(1) {
                    let _ = tx.send(addr.split_whitespace().next().unwrap().to_string());
                }
                sink.lock().unwrap().push(line);
            }
        });
        let base = rx.recv_timeout(Duration::from_secs(60)).expect("the server starts");
        Process { child, lines, base }
    }

    fn hangup(&self) {
        let ok = std::process::Command::new("kill").args(["-HUP", &self.child.id().to_string()]).status();
        assert!(ok.unwrap().success());
    }

    async fn wait_for_line(&self, needle: &str, after: usize) {
        for _ in 0..200 {
            if self.lines.lock().unwrap().iter().skip(after).any(|l| l.contains(needle)) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("no line with {needle:?} in {:?}", self.lines.lock().unwrap());
    }

    fn line_count(&self) -> usize {
        self.lines.lock().unwrap().len()
    }

    async fn tools_status(&self, token: &str) -> u16 {
        let r = client().get(format!("{}/v1/tools", self.base)).bearer_auth(token).send().await.unwrap();
        r.status().as_u16()
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve_config(dir: &std::path::Path, token: &str, extra: &str) -> String {
    format!(
        "plugins_dir = {:?}\ncache_dir = {:?}\n[[serve.tokens]]\ntenant = \"acme\"\ntoken = \"{token}\"\n\
         [[serve.tokens]]\ntenant = \"ops\"\ntoken = \"ops-token\"\nname = \"ops\"\nadmin = true\n\
         [audit]\npath = {:?}\n{extra}",
        dir.join("plugins"),
        shared_cache(),
        dir.join("audit.jsonl")
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_reloads_tokens_without_dropping_calls_and_keeps_the_old_config_when_the_new_is_bad() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("plugins")).unwrap();
    std::fs::write(dir.path().join("plugins/h.wasm"), hostile()).unwrap();
    let file = dir.path().join("toolhost.toml");
    std::fs::write(&file, serve_config(dir.path(), "old-token", "")).unwrap();
    let p = Process::start(&file);
    assert_eq!(p.tools_status("old-token").await, 200);

    // A slow call in flight across the reload.
    let url = format!("{}/v1/calls", p.base);
    let slow = tokio::spawn(async move {
        let body = json!({"tool": "sleep_ms", "arguments": {"ms": 2500}});
        let r = client().post(url).bearer_auth("old-token").json(&body).send().await.unwrap();
        (r.status().as_u16(), r.json::<Value>().await.unwrap())
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let quota = "[tenants.acme.quota]\ncalls_per_minute = 100\n[tenants.ops]\n";
    std::fs::write(&file, serve_config(dir.path(), "new-token", quota)).unwrap();
    let before = p.line_count();
    p.hangup();
    p.wait_for_line("configuration reloaded", before).await;
    assert_eq!(p.tools_status("new-token").await, 200);
    assert_eq!(p.tools_status("old-token").await, 401, "the old token is gone");
    let (status, body) = slow.await.unwrap();
    assert_eq!((status, body["results"][0]["value"]["slept_ms"].as_u64()), (200, Some(2500)), "{body}");
    let t: Value = get_json(format!("{}/admin/tenants/acme", p.base), "ops-token").await;
    assert_eq!(t["quota"]["calls_per_minute"], 100, "quotas reload too: {t}");

    // A broken file (bad TOML, then a bad value) is refused; the old one stays.
    for broken in ["[[serve.tokens]\ntenant =", "[tenants.acme.quota]\ncalls_per_minute = 0\n"] {
        std::fs::write(&file, format!("{}{broken}", serve_config(dir.path(), "third-token", ""))).unwrap();
        let before = p.line_count();
        p.hangup();
        p.wait_for_line("reload refused", before).await;
        assert_eq!(p.tools_status("new-token").await, 200);
        assert_eq!(p.tools_status("third-token").await, 401);
        let r =
            client().post(format!("{}/admin/reload", p.base)).bearer_auth("ops-token").send().await.unwrap();
        assert_eq!(r.status(), 400);
        assert_eq!(r.json::<Value>().await.unwrap()["error"]["code"], "CONFIGURATION_ERROR");
    }
    // POST /admin/reload applies a good file like SIGHUP.
    std::fs::write(&file, serve_config(dir.path(), "fourth-token", "")).unwrap();
    let r = client().post(format!("{}/admin/reload", p.base)).bearer_auth("ops-token").send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(p.tools_status("fourth-token").await, 200);
    assert_eq!(p.tools_status("new-token").await, 401);

    // Every reload and admin change is in the audit trail, with who and how it ended.
    let trail = dir.path().join("audit.jsonl");
    let wanted = [
        ("signal", "reload (SIGHUP)", "ok"),
        ("signal", "reload (SIGHUP)", "CONFIGURATION_ERROR"),
        ("ops", "POST /admin/reload", "400"),
        ("ops", "POST /admin/reload", "ok"),
    ];
    let mut admin_lines = vec![];
    for _ in 0..50 {
        let text = std::fs::read_to_string(&trail).unwrap_or_default();
        admin_lines = text
            .lines()
            .map(|l| serde_json::from_str::<Value>(l).unwrap())
            .filter(|v| v["kind"] == "admin")
            .map(|v| (v["principal"].to_string(), v["action"].to_string(), v["outcome"].to_string()))
            .collect::<Vec<_>>();
        if wanted.iter().all(|w| {
            admin_lines.contains(&(json!(w.0).to_string(), json!(w.1).to_string(), json!(w.2).to_string()))
        }) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("admin actions missing from the audit trail: {admin_lines:?}");
}
