//! Operations: readiness after a stall, one log line per call, operator-only
//! observability routes, and cancelling durable runs from any process. Real
//! `toolhost` processes, real HTTP on 127.0.0.1, real Redis.

use crate::cli::bin;
use crate::common::*;
use crate::durable::{Setup, Upstream, call, fetch, wait_inflight};
use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// `toolhost serve --http 127.0.0.1:0` over the hostile guest (plugin `h`),
/// with every stderr line kept; the address comes from its "listening on" line.
struct Served {
    child: Child,
    url: String,
    lines: Arc<Mutex<Vec<String>>>,
    _folder: Folder,
}

impl Served {
    fn start(extra: &[&str], config: Option<&str>) -> Served {
        let folder = Folder::new();
        folder.wasm("h", &hostile());
        let mut cmd = Command::new(bin());
        cmd.args(["serve", "--http", "127.0.0.1:0", "--plugins"])
            .arg(folder.path())
            .arg("--cache-dir")
            .arg(shared_cache())
            .args(extra)
            .env_remove("RUST_LOG")
            .env_remove("TOOLHOST_LOG")
            .stderr(Stdio::piped());
        if let Some(text) = config {
            let path = folder.path().join("toolhost.toml.cfg");
            std::fs::write(&path, text).unwrap();
            cmd.arg("--config").arg(path);
        }
        let mut child = cmd.spawn().unwrap();
        let lines: Arc<Mutex<Vec<String>>> = Arc::default();
        let (tx, rx) = std::sync::mpsc::channel();
        let sink = lines.clone();
        let stderr = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(rest) = line.split("listening on ").nth(1) {
                    let _ = tx.send(rest.split_whitespace().next().unwrap_or("").to_string());
                }
                sink.lock().unwrap().push(line);
            }
        });
        let url = match rx.recv_timeout(Duration::from_secs(120)) {
            Ok(url) => url,
            Err(_) => panic!("serve printed no address:\n{}", lines.lock().unwrap().join("\n")),
        };
        Served { child, url, lines, _folder: folder }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.url)
    }

    fn signal(&self, sig: &str) {
        let st = Command::new("kill").args([sig, &self.child.id().to_string()]).status().unwrap();
        assert!(st.success(), "kill {sig}");
    }

    /// The JSON log lines so far.
    fn json_logs(&self) -> Vec<Value> {
        self.lines.lock().unwrap().iter().filter_map(|l| serde_json::from_str(l).ok()).collect()
    }

    /// Waits (bounded) for the log line of call `call_id` at target `toolhost::call`.
    fn call_line(&self, call_id: &str) -> Value {
        let until = Instant::now() + Duration::from_secs(20);
        loop {
            let found = self.json_logs().into_iter().find(|l| {
                l["target"] == "toolhost::call" && l["fields"]["call_id"].as_str() == Some(call_id)
            });
            if let Some(l) = found {
                return l;
            }
            assert!(
                Instant::now() < until,
                "no log line for call {call_id}:\n{}",
                self.lines.lock().unwrap().join("\n")
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn client() -> reqwest::Client {
    reqwest::Client::builder().timeout(Duration::from_secs(30)).build().unwrap()
}

async fn readyz(url: &str) -> (u16, Value) {
    let r = client().get(format!("{url}/readyz")).send().await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

/// Item 1: a stall of the whole process (SIGSTOP, as a suspended VM) made the
/// epoch ticker count fall behind `elapsed / tick` for good, so `/readyz`
/// said `stalled` forever. Health is now the time since the latest tick.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_comes_back_by_itself_after_the_process_was_stopped() {
    let s = Served::start(&[], None);
    let (status, v) = readyz(&s.url).await;
    assert_eq!((status, v["epoch_ticker"].as_str()), (200, Some("ok")), "{v}");
    s.signal("-STOP");
    std::thread::sleep(Duration::from_millis(1500)); // 300 ticks of 5 ms missed
    s.signal("-CONT");
    let until = Instant::now() + Duration::from_secs(10);
    loop {
        let (status, v) = readyz(&s.url).await;
        if status == 200 && v["ready"] == true && v["epoch_ticker"] == "ok" {
            break;
        }
        assert!(Instant::now() < until, "still not ready 10 s after the stall ended: {status} {v}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let r = client().post(s.url("/v1/calls")).body(r#"{"tool":"ok"}"#).send().await.unwrap();
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["results"][0]["ok"], true, "calls run after the stall: {v}");
}

/// Item 17: at `--log info` a served call left no line at all. Now one line
/// per finished call from the host's per-call end (every front door): info
/// on success, warn with the error code on failure.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_finished_call_leaves_one_log_line_with_its_ids_and_outcome() {
    let s = Served::start(&["--log", "info", "--log-format", "json"], None);
    let batch = json!([
        {"id": "c-ok", "tool": "ok", "arguments": {"secret": "hunter2"}},
        {"id": "c-fail", "tool": "fail", "arguments": {"kind": "invalid-input"}},
        {"id": "c-trap", "tool": "trap"},
        {"id": "c-none", "tool": "no\u{1b}[31m_such_tool"},
    ]);
    let r = client()
        .post(s.url("/v1/calls"))
        .header("x-request-id", "req-log-1")
        .body(batch.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let ok = s.call_line("c-ok");
    assert_eq!(ok["level"], "INFO", "{ok}");
    let f = &ok["fields"];
    assert_eq!(f["message"], "call finished", "{ok}");
    assert_eq!((f["tool"].as_str(), f["tenant"].as_str()), (Some("ok"), Some("default")), "{ok}");
    assert_eq!(
        (f["outcome"].as_str(), f["request_id"].as_str()),
        (Some("success"), Some("req-log-1")),
        "{ok}"
    );
    assert_eq!((f["attempts"].as_u64(), f["cached"].as_bool()), (Some(1), Some(false)), "{ok}");
    assert!(f["ms"].is_u64(), "{ok}");
    for (id, code) in
        [("c-fail", "TOOL_EXECUTION_FAILED"), ("c-trap", "TOOL_TRAPPED"), ("c-none", "TOOL_NOT_FOUND")]
    {
        let line = s.call_line(id);
        assert_eq!(line["level"], "WARN", "{line}");
        assert_eq!(line["fields"]["code"], code, "{line}");
        assert_eq!(line["fields"]["outcome"], code, "{line}");
        assert_eq!(line["fields"]["request_id"], "req-log-1", "{line}");
    }
    // A client's control characters never reach the log raw.
    let none = s.call_line("c-none");
    assert!(!none["fields"]["tool"].as_str().unwrap().contains('\u{1b}'), "{none}");
    // Another front door (a DAG run) ends in the same place: one line per call.
    let run = json!({"calls": [{"call_id": "d-1", "tool": "ok"}, {"call_id": "d-2", "tool": "ok", "depends_on": ["d-1"]}]});
    let r = client().post(s.url("/v1/runs?wait=true")).body(run.to_string()).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(s.call_line("d-2")["fields"]["outcome"], "success");
    // Neighbour: a deduplicated follower (answered from its leader, never run)
    // is a finished call too.
    let dup = json!([{"id": "dup-1", "tool": "ok", "arguments": {"d": 1}}, {"id": "dup-2", "tool": "ok", "arguments": {"d": 1}}]);
    let r = client().post(s.url("/v1/calls?dedup=true")).body(dup.to_string()).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let lines = [s.call_line("dup-1"), s.call_line("dup-2")];
    assert_eq!(lines.iter().filter(|l| l["fields"]["cached"] == true).count(), 1, "{lines:?}");
    // One line per call, and no payloads without --log-payloads.
    let logs = s.json_logs();
    let per_call =
        logs.iter().filter(|l| l["target"] == "toolhost::call" && l["fields"]["call_id"] == "c-ok");
    assert_eq!(per_call.count(), 1);
    assert!(!s.lines.lock().unwrap().join("\n").contains("hunter2"));
}

/// An in-process `HttpServer` over the hostile guest (plugin `h`) configured
/// by `toml`; send on the returned channel to stop it.
async fn http(toml: &str) -> (String, tokio::sync::oneshot::Sender<()>, Folder) {
    let f = Folder::new();
    f.wasm("h", &hostile());
    let mut cfg = toolhost::Config::from_toml(toml).unwrap();
    cfg.plugins_dir = f.path().to_path_buf();
    cfg.cache_dir = Some(shared_cache());
    let host = toolhost::Host::builder().config(cfg).build().await.expect("host builds");
    let server = toolhost_serve::HttpServer::bind(host, "127.0.0.1:0".parse().unwrap()).await.unwrap();
    let base = format!("http://{}", server.local_addr());
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        let _ = server
            .run(async {
                let _ = rx.await;
            })
            .await;
    });
    (base, tx, f)
}

const TENANTS: &str = r#"
[[serve.tokens]]
tenant = "acme"
token = "acme-secret"
[[serve.tokens]]
tenant = "beta"
token = "beta-secret"
[[serve.tokens]]
tenant = "ops"
token = "ops-secret"
admin = true
"#;

/// Item 4: with tokens for tenants A and B, B's token read A's tool names,
/// call ids and breaker keys on `/metrics` and `/v1/stats`, and the
/// unauthenticated `/readyz` printed the Redis address. Now the operator
/// routes need an `admin = true` token and health shows states only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn observability_routes_need_an_operator_token_and_health_shows_no_address() {
    let mut redis = RedisServer::start();
    let (base, stop, _f) = http(&format!("redis_url = \"{}\"\n{TENANTS}", redis.url())).await;
    let c = client();
    let r = c
        .post(format!("{base}/v1/calls"))
        .bearer_auth("acme-secret")
        .body(r#"{"tool":"ok","call_id":"acme-done-41"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let slow = tokio::spawn(
        c.post(format!("{base}/v1/calls"))
            .bearer_auth("acme-secret")
            .body(r#"{"tool":"sleep_ms","call_id":"acme-live-42","arguments":{"ms":2500}}"#)
            .send(),
    );
    let get = |route: &str, token: Option<&str>| {
        let mut r = c.get(format!("{base}{route}"));
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        async move {
            let r = r.send().await.unwrap();
            (r.status().as_u16(), r.text().await.unwrap())
        }
    };
    // The operator sees everything (once the slow call is in flight).
    let until = Instant::now() + Duration::from_secs(20);
    loop {
        let (status, text) = get("/v1/stats", Some("ops-secret")).await;
        assert_eq!(status, 200, "{text}");
        if text.contains("acme-live-42") {
            break;
        }
        assert!(Instant::now() < until, "the in-flight call never showed: {text}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (status, text) = get("/metrics", Some("ops-secret")).await;
    assert_eq!(status, 200);
    assert!(text.contains(r#"tenant="acme""#), "{text}");
    // Tenants (even acme itself) get 403 and nothing else; no token is 401.
    for token in ["beta-secret", "acme-secret"] {
        for route in ["/metrics", "/v1/stats"] {
            let (status, text) = get(route, Some(token)).await;
            assert_eq!(status, 403, "{token} on {route}: {text}");
            assert!(text.contains("FORBIDDEN_SCOPE") && !text.contains("acme-live"), "{text}");
        }
    }
    assert_eq!(get("/metrics", None).await.0, 401);
    // The admin token still acts as its own tenant elsewhere.
    assert_eq!(get("/v1/tools", Some("ops-secret")).await.0, 200);
    // Health: no token needed, states only.
    let port = format!(":{}", redis.port);
    let (status, text) = get("/readyz", None).await;
    assert_eq!(status, 200, "{text}");
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["backend"], "redis", "{v}");
    // Plugin names (tenant data) only for an operator: a count otherwise.
    assert!(v["plugin_failures"].is_number(), "{v}");
    let (_, text) = get("/readyz", Some("ops-secret")).await;
    assert!(serde_json::from_str::<Value>(&text).unwrap()["plugin_failures"].is_array(), "{text}");
    assert!(!text.contains(&port) && !text.contains("redis://") && !text.contains("127.0.0.1"), "{text}");
    // Neighbour: a tenant-facing store error names no address either.
    redis.stop();
    let r = c
        .post(format!("{base}/v1/runs"))
        .bearer_auth("beta-secret")
        .body(r#"{"calls":[{"call_id":"a","tool":"ok"}]}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 503);
    let text = r.text().await.unwrap();
    assert!(!text.contains(&port) && !text.contains("127.0.0.1"), "{text}");
    assert_eq!(slow.await.unwrap().unwrap().status(), 200);
    let _ = stop.send(());
}

/// Item 4, `toolhost top`: it reads `/v1/stats` with an operator token, and
/// says what is wrong with any other token.
#[test]
fn top_reads_stats_with_an_operator_token_and_explains_a_refusal() {
    let s = Served::start(&[], Some(TENANTS));
    let top = |token: Option<&str>| {
        let mut cmd = Command::new(bin());
        cmd.args(["top", "--json", "--url", &s.url]).env_remove("TOOLHOST_TOKEN");
        if let Some(t) = token {
            cmd.args(["--token", t]);
        }
        cmd.output().unwrap()
    };
    let out = top(Some("ops-secret"));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let snap: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(snap["inflight"].is_array(), "{snap}");
    let out = top(Some("beta-secret"));
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("403") && err.contains("admin = true"), "{err}");
    let out = top(None);
    assert!(String::from_utf8_lossy(&out.stderr).contains("401"), "{out:?}");
}

/// Item 12 (neighbour): `?wait=true` on an in-memory run waited for as long
/// as the run took. It waits at most `serve.run_wait_ms`, then answers 202.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waiting_for_a_run_is_bounded() {
    let (base, stop, _f) = http("[serve]\nrun_wait_ms = 300\n").await;
    let run = json!({"calls": [{"call_id": "slow", "tool": "sleep_ms", "args": {"ms": 4000}}]});
    let send = client().post(format!("{base}/v1/runs?wait=true")).body(run.to_string()).send();
    let r = tokio::time::timeout(Duration::from_secs(3), send).await.expect("wait=true is bounded").unwrap();
    assert_eq!(r.status(), 202);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["status"], "running", "{v}");
    // The run goes on and can still be read (and cancelled).
    let id = v["run_id"].as_str().unwrap();
    let r = client().delete(format!("{base}/v1/runs/{id}")).send().await.unwrap();
    assert_eq!(r.status(), 202);
    let _ = stop.send(());
}

/// An in-process server on the durable setup's Redis, with tokens for tenants
/// `default` and `acme`, and `?wait=true` bounded by `run_wait_ms`.
async fn runs_server(setup: &Setup, run_wait_ms: u64) -> (String, tokio::sync::oneshot::Sender<()>) {
    let mut cfg = setup.folder.config();
    cfg.redis_url = Some(setup.redis_url.clone());
    cfg.redis = setup.redis_config();
    cfg.serve.run_wait_ms = run_wait_ms;
    let token = |tenant: &str, token: &str| toolhost_serve::TokenConfig {
        tenant: tenant.into(),
        token: Some(token.into()),
        ..Default::default()
    };
    cfg.serve.tokens = vec![token("default", "tok-default"), token("acme", "tok-acme")];
    let host = toolhost::Host::builder().config(cfg).build().await.expect("host builds");
    let server = toolhost_serve::HttpServer::bind(host, "127.0.0.1:0".parse().unwrap()).await.unwrap();
    let base = format!("http://{}", server.local_addr());
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        let _ = server
            .run(async {
                let _ = rx.await;
            })
            .await;
    });
    (base, tx)
}

/// Item 12: `DELETE /v1/runs/{id}` looked only at the in-memory runs of the
/// process it reached, so a durable run answered 404 and kept running. Now a
/// queued run is cancelled at once, and a running one is stopped by the
/// worker holding it (another process): the running call is interrupted, its
/// dependents skipped, the status `cancelled`. `?wait=true` is bounded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_durable_run_is_cancelled_from_another_process_and_its_worker_stops_it() {
    let redis = RedisServer::start();
    let up = Upstream::start().await;
    let setup = Setup::new(&redis, "");
    let store = setup.store();
    let (base, stop) = runs_server(&setup, 800).await;
    let delete = |token: &'static str, id: String| {
        let url = format!("{base}/v1/runs/{id}");
        async move {
            let r = client().delete(url).bearer_auth(token).send().await.unwrap();
            (r.status().as_u16(), r.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    // Queued, no worker yet: cancelled at once, by its own tenant only.
    let queued = setup.submit_ok(&json!({"calls": [fetch("q", up.url("/hit/q"), &[])]}));
    assert_eq!(delete("tok-acme", queued.clone()).await.0, 404, "another tenant's run");
    let (status, body) = delete("tok-default", queued.clone()).await;
    assert_eq!((status, body["status"].as_str()), (202, Some("cancelled")), "{body}");
    let rec = store.get(&queued, None).await.unwrap().unwrap();
    assert!(rec.is_finished() && rec.status == "cancelled", "{rec:?}");
    assert_eq!(
        (call(&rec, "q")["status"].as_str(), call(&rec, "q")["reason"].as_str()),
        (Some("skipped"), Some("cancelled"))
    );

    // Running on a worker process: the DELETE reaches it.
    let worker = setup.worker(&[]);
    let spec = json!({"calls": [
        {"call_id": "side", "tool": "ok", "args": {"x": 1}},
        {"call_id": "slow", "tool": "sleep_ms", "args": {"ms": 20000}},
        fetch("after", up.url("/hit/after"), &["slow"]),
    ]});
    let id = setup.submit_ok(&spec);
    wait_inflight(&redis, &store, &id, "slow").await;
    let (status, body) = delete("tok-default", id.clone()).await;
    assert_eq!((status, body["status"].as_str()), (202, Some("cancelling")), "{body}");
    let rec = store.wait(&id, None, Some(Duration::from_secs(12))).await.unwrap().unwrap();
    assert!(rec.is_finished(), "not stopped well before the 20 s call would end: {rec:?}\n{}", worker.log());
    assert_eq!(rec.status, "cancelled", "{:#?}", rec.result);
    assert_eq!(call(&rec, "side")["status"], "succeeded");
    assert_eq!(call(&rec, "slow")["result"]["error"]["code"], "TOOL_CANCELLED", "{:#?}", rec.result);
    assert_eq!(call(&rec, "after")["status"], "skipped");
    assert_eq!(call(&rec, "after")["reason"], "cancelled");
    worker.wait_line(&format!("finished {id}: cancelled"));
    // The cancelled queued run was never executed by the worker either.
    assert_eq!((up.hits("/hit/q"), up.hits("/hit/after")), (0, 0));
    assert_eq!(delete("tok-default", id).await.1["status"], "finished");

    // ?wait=true on a durable run is bounded by serve.run_wait_ms.
    let slow = json!({"calls": [{"call_id": "s", "tool": "sleep_ms", "args": {"ms": 20000}}]});
    let send = client()
        .post(format!("{base}/v1/runs?wait=true"))
        .bearer_auth("tok-default")
        .body(slow.to_string())
        .send();
    let r = tokio::time::timeout(Duration::from_secs(10), send).await.expect("wait=true is bounded").unwrap();
    assert_eq!(r.status(), 202);
    let v: Value = r.json().await.unwrap();
    assert!(matches!(v["status"].as_str(), Some("queued" | "running")), "{v}");
    let id = v["run_id"].as_str().unwrap().to_string();
    assert_eq!(delete("tok-default", id.clone()).await.0, 202);
    let rec = store.wait(&id, None, Some(Duration::from_secs(12))).await.unwrap().unwrap();
    assert_eq!(rec.status, "cancelled", "{rec:?}");
    let _ = stop.send(());
}

/// Item 12 (neighbour): a run cancelled while its worker is dead is finished
/// `cancelled` by the worker that reclaims it, which runs nothing more (not
/// even the idempotent call that was in flight).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_cancelled_while_its_worker_is_dead_ends_cancelled_without_running_again() {
    let redis = RedisServer::start();
    let setup = Setup::new(&redis, "visibility_timeout_ms = 1000");
    let store = setup.store();
    let mut w1 = setup.worker(&[]);
    let spec = json!({"calls": [
        {"call_id": "a", "tool": "ok", "args": {"v": 1}},
        {"call_id": "slow", "tool": "sleep_ms", "args": {"ms": 20000}, "depends_on": ["a"]},
        {"call_id": "last", "tool": "ok", "depends_on": ["slow"]},
    ]});
    let id = setup.submit_ok(&spec);
    wait_inflight(&redis, &store, &id, "slow").await;
    w1.kill9();
    let outcome = store.cancel(&id, Some("default")).await.unwrap();
    assert_eq!(outcome, Some(toolhost::backend::redis::runs::CancelOutcome::Cancelling));
    let w2 = setup.worker(&[]);
    let rec = setup.wait_done(&id).await;
    assert_eq!(rec.status, "cancelled", "{:#?}\n{}", rec.result, w2.log());
    assert_eq!(call(&rec, "a")["status"], "succeeded", "a keeps its checkpointed result");
    assert_eq!(
        (call(&rec, "slow")["status"].as_str(), call(&rec, "slow")["reason"].as_str()),
        (Some("skipped"), Some("cancelled"))
    );
    assert_eq!(call(&rec, "last")["status"], "skipped");
    w2.wait_line(&format!("finished {id}: cancelled (0 calls ran, 1 reused from checkpoints)"));
}
