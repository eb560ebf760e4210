//! Durable runs on a real Redis with real `toolhost worker` / `toolhost
//! submit` processes: a run submitted by one process is executed by a worker
//! and read by a third; a worker killed with SIGKILL mid-run is replaced by
//! another that resumes from the checkpoints (finished calls are not run
//! again, a non-idempotent call caught in flight is reported `INTERRUPTED`
//! unless re-running is allowed); SIGTERM hands the run back; with Redis down
//! nothing is reported accepted.
//!
//! Executions are counted by a side effect outside every toolhost process: the
//! `fetch` plugin's HTTP requests to a local upstream that counts hits per path.

use crate::cli::bin;
use crate::common::*;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use toolhost::backend::RedisConfig;
use toolhost::backend::redis::{Redis, RunRecord, RunStore};
use toolhost::{Config, Host};
use toolhost_serve::HttpServer;

/// A local HTTP upstream counting requests per path. `/hit/*` answers at once,
/// `/slow/*` after 1.5 s, `/block/*` never answers its first request (later ones at once).
#[derive(Clone)]
pub(crate) struct Upstream {
    port: u16,
    hits: Arc<Mutex<HashMap<String, usize>>>,
}

impl Upstream {
    pub(crate) async fn start() -> Upstream {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let hits: Arc<Mutex<HashMap<String, usize>>> = Arc::default();
        let counter = hits.clone();
        tokio::spawn(async move {
            loop {
                let Ok((mut sock, _)) = listener.accept().await else { return };
                let counter = counter.clone();
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 8192];
                    let mut got = Vec::new();
                    while !got.windows(4).any(|w| w == b"\r\n\r\n") {
                        match sock.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => got.extend_from_slice(&buf[..n]),
                        }
                    }
                    let head = String::from_utf8_lossy(&got);
                    let path = head.split_whitespace().nth(1).unwrap_or("/").to_string();
                    let n = {
                        let mut h = counter.lock().unwrap();
                        let c = h.entry(path.clone()).or_default();
                        *c += 1;
                        *c
                    };
                    if path.starts_with("/block/") && n == 1 {
                        tokio::time::sleep(Duration::from_secs(120)).await;
                        return;
                    }
                    if path.starts_with("/slow/") {
                        tokio::time::sleep(Duration::from_millis(1500)).await;
                    }
                    let body = format!("{path} #{n}");
                    let head = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                        body.len()
                    );
                    let _ = sock.write_all(head.as_bytes()).await;
                    let _ = sock.write_all(body.as_bytes()).await;
                });
            }
        });
        Upstream { port, hits }
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    pub(crate) fn hits(&self, path: &str) -> usize {
        self.hits.lock().unwrap().get(path).copied().unwrap_or(0)
    }

    pub(crate) async fn wait_hits(&self, path: &str, n: usize) {
        let until = Instant::now() + Duration::from_secs(60);
        while self.hits(path) < n {
            assert!(
                Instant::now() < until,
                "{path} was not requested {n} times: {:?}",
                self.hits.lock().unwrap()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// Plugins `fetch` (web.fetch: NOT idempotent, granted 127.0.0.1) and `h`
/// (the hostile guest: `ok`, `fail`, `sleep_ms`, all idempotent), and a config file.
pub(crate) struct Setup {
    pub(crate) folder: Folder,
    pub(crate) config: PathBuf,
    pub(crate) redis_url: String,
}

impl Setup {
    pub(crate) fn new(redis: &RedisServer, redis_section: &str) -> Setup {
        let folder = Folder::new();
        folder.wasm("fetch", &std::fs::read(example_plugins().join("fetch.wasm")).unwrap());
        folder.manifest("fetch", "[limits]\ntimeout_ms = 30000\n[grants.http]\nhosts = [\"127.0.0.1\"]\n");
        folder.wasm("h", &hostile());
        folder.manifest("h", "[limits]\ntimeout_ms = 30000\n");
        let config = folder.path().join("toolhost.toml.cfg");
        std::fs::write(&config, format!("redis_url = \"{}\"\n[redis]\n{redis_section}\n", redis.url()))
            .unwrap();
        Setup { folder, config, redis_url: redis.url() }
    }

    pub(crate) fn redis_config(&self) -> RedisConfig {
        let text = std::fs::read_to_string(&self.config).unwrap();
        let cfg: Config = toml::from_str(&text).unwrap();
        cfg.redis
    }

    pub(crate) fn store(&self) -> RunStore {
        RunStore::new(Redis::open(&self.redis_url, self.redis_config()).unwrap())
    }

    /// Starts `toolhost worker` and waits until it reads the queue.
    pub(crate) fn worker(&self, extra: &[&str]) -> Worker {
        let mut child = Command::new(bin())
            .args(["worker", "--concurrency", "2"])
            .arg("--plugins")
            .arg(self.folder.path())
            .arg("--cache-dir")
            .arg(shared_cache())
            .arg("--config")
            .arg(&self.config)
            .args(extra)
            .env_remove("RUST_LOG")
            .env("TOOLHOST_LOG", std::env::var("DURABLE_WORKER_LOG").unwrap_or_else(|_| "warn".into()))
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let lines: Arc<Mutex<Vec<String>>> = Arc::default();
        let sink = lines.clone();
        let stderr = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                sink.lock().unwrap().push(line);
            }
        });
        let w = Worker { child, lines };
        w.wait_line("waiting for runs");
        w
    }

    pub(crate) fn submit(&self, spec: &Value, extra: &[&str]) -> std::process::Output {
        let file = self.folder.path().join(format!("run-{}.json", rand_suffix()));
        std::fs::write(&file, spec.to_string()).unwrap();
        Command::new(bin())
            .arg("submit")
            .arg(&file)
            .args(["--redis", &self.redis_url])
            .args(extra)
            .env_remove("RUST_LOG")
            .output()
            .unwrap()
    }

    /// Submits through the CLI and returns the run id.
    pub(crate) fn submit_ok(&self, spec: &Value) -> String {
        let out = self.submit(spec, &[]);
        assert!(out.status.success(), "submit failed: {}", String::from_utf8_lossy(&out.stderr));
        let id = String::from_utf8_lossy(&out.stdout).trim().to_string();
        assert!(id.starts_with("run_"), "{id:?}");
        id
    }

    pub(crate) async fn wait_done(&self, run_id: &str) -> RunRecord {
        let rec =
            self.store().wait(run_id, None, Some(Duration::from_secs(90))).await.unwrap().expect("run known");
        assert!(rec.is_finished(), "run did not finish: {rec:?}");
        rec
    }
}

fn rand_suffix() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

pub(crate) struct Worker {
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
}

impl Worker {
    pub(crate) fn log(&self) -> String {
        self.lines.lock().unwrap().join("\n")
    }

    pub(crate) fn wait_line(&self, needle: &str) {
        let until = Instant::now() + Duration::from_secs(120);
        loop {
            if self.lines.lock().unwrap().iter().any(|l| l.contains(needle)) {
                return;
            }
            assert!(Instant::now() < until, "worker never printed {needle:?}:\n{}", self.log());
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGKILL: no chance to hand anything back.
    pub(crate) fn kill9(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    fn sigterm(&self) {
        let st = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status().unwrap();
        assert!(st.success());
    }

    fn wait_exit(&mut self, within: Duration) -> std::process::ExitStatus {
        let until = Instant::now() + within;
        loop {
            if let Some(st) = self.child.try_wait().unwrap() {
                return st;
            }
            assert!(Instant::now() < until, "worker did not exit:\n{}", self.log());
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub(crate) fn fetch(id: &str, url: String, deps: &[&str]) -> Value {
    json!({"call_id": id, "tool": "web.fetch", "args": {"url": url}, "depends_on": deps})
}

pub(crate) fn call<'a>(rec: &'a RunRecord, id: &str) -> &'a Value {
    let r = rec.result.as_ref().expect("a result");
    r["calls"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["call_id"] == id)
        .unwrap_or_else(|| panic!("no call {id}"))
}

/// Polls until the run's call `call_id` has an in-flight marker.
pub(crate) async fn wait_inflight(redis: &RedisServer, store: &RunStore, run_id: &str, call_id: &str) {
    let key = store.calls_key(run_id);
    let until = Instant::now() + Duration::from_secs(60);
    while redis.cli(&["HEXISTS", &key, &format!("i:{call_id}")]).trim() != "1" {
        assert!(Instant::now() < until, "{call_id} never started");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn serve(setup: &Setup, tokens: bool) -> (String, tokio::sync::oneshot::Sender<()>) {
    let mut cfg = setup.folder.config();
    cfg.redis_url = Some(setup.redis_url.clone());
    cfg.redis = setup.redis_config();
    if tokens {
        cfg.serve.tokens = vec![
            toolhost_serve::TokenConfig {
                tenant: "default".into(),
                token: Some("tok-default".into()),
                ..Default::default()
            },
            toolhost_serve::TokenConfig {
                tenant: "acme".into(),
                token: Some("tok-acme".into()),
                ..Default::default()
            },
        ];
    }
    let host = Host::builder().config(cfg).build().await.expect("host builds");
    let server = HttpServer::bind(host, "127.0.0.1:0".parse().unwrap()).await.unwrap();
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

fn client() -> reqwest::Client {
    reqwest::Client::builder().timeout(Duration::from_secs(60)).build().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_submitted_run_is_executed_by_a_worker_and_readable_from_any_process() {
    let redis = RedisServer::start();
    let setup = Setup::new(&redis, "");
    let _worker = setup.worker(&[]);
    let spec = json!({"calls": [
        {"call_id": "a", "tool": "ok", "args": {"v": 7}},
        {"call_id": "b", "tool": "ok", "args": {"got": {"$ref": "a#/value/v"}}, "depends_on": ["a"]}
    ]});
    // CLI: submit prints the id; the worker (another process) runs it.
    let run_id = setup.submit_ok(&spec);
    let rec = setup.wait_done(&run_id).await;
    assert_eq!(rec.status, "succeeded", "{rec:?}");
    assert_eq!(call(&rec, "b")["result"]["value"], json!({"got": 7}));
    // The run hash and its checkpoints share a hash tag and carry the TTL.
    let ttl: i64 = redis.cli(&["TTL", &setup.store().run_key(&run_id)]).trim().parse().unwrap();
    assert!(ttl > 0, "run key has no TTL: {ttl}");
    let ttl: i64 = redis.cli(&["TTL", &setup.store().calls_key(&run_id)]).trim().parse().unwrap();
    assert!(ttl > 0, "calls key has no TTL: {ttl}");

    // HTTP from a third process: tenant-scoped.
    let (base, stop) = serve(&setup, true).await;
    let get = |tok: &'static str, id: String| {
        let base = base.clone();
        async move {
            let r = client().get(format!("{base}/v1/runs/{id}")).bearer_auth(tok).send().await.unwrap();
            (r.status().as_u16(), r.json::<Value>().await.unwrap())
        }
    };
    let (st, body) = get("tok-default", run_id.clone()).await;
    assert_eq!(st, 200, "{body}");
    assert_eq!(body["status"], "succeeded");
    assert_eq!(body["run_id"], run_id.as_str());
    let (st, body) = get("tok-acme", run_id.clone()).await;
    assert_eq!(st, 404, "another tenant must not see the run: {body}");

    // POST /v1/runs stores + enqueues: 202 with the id, then the worker finishes it.
    let r = client()
        .post(format!("{base}/v1/runs"))
        .bearer_auth("tok-acme")
        .body(spec.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 202);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["status"], "queued");
    let id2 = body["run_id"].as_str().unwrap().to_string();
    let rec = setup.wait_done(&id2).await;
    assert_eq!(rec.tenant, "acme");
    assert_eq!(rec.status, "succeeded");
    let (st, body) = get("tok-acme", id2.clone()).await;
    assert_eq!((st, body["status"].clone()), (200, json!("succeeded")));
    assert_eq!(get("tok-default", id2).await.0, 404);
    // ?wait=true answers with the result.
    let r = client()
        .post(format!("{base}/v1/runs?wait=true"))
        .bearer_auth("tok-default")
        .body(spec.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["status"], "succeeded", "{body}");

    // `submit --wait`: exit 0 only if the run succeeded.
    let out = setup.submit(&spec, &["--wait", "--json"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["status"], "succeeded");
    let failing = json!({"calls": [{"call_id": "x", "tool": "fail", "args": {"kind": "internal"}}]});
    let out = setup.submit(&failing, &["--wait"]);
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("failed"));
    let _ = stop.send(());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_worker_s_run_is_reclaimed_and_finished_without_rerunning_finished_calls() {
    let redis = RedisServer::start();
    let up = Upstream::start().await;
    let setup = Setup::new(&redis, "visibility_timeout_ms = 1000");
    let store = setup.store();
    let mut w1 = setup.worker(&[]);
    let spec = json!({"calls": [
        fetch("a", up.url("/hit/a"), &[]),
        fetch("b", up.url("/hit/b"), &["a"]),
        {"call_id": "c", "tool": "sleep_ms", "args": {"ms": 3000}, "depends_on": ["b"]},
        fetch("d", up.url("/hit/d"), &["c"])
    ]});
    let run_id = setup.submit_ok(&spec);
    wait_inflight(&redis, &store, &run_id, "c").await;
    w1.kill9();
    assert_eq!((up.hits("/hit/a"), up.hits("/hit/b"), up.hits("/hit/d")), (1, 1, 0));
    assert_eq!(store.get(&run_id, None).await.unwrap().unwrap().status, "running");

    let w2 = setup.worker(&[]);
    let rec = setup.wait_done(&run_id).await;
    assert_eq!(rec.status, "succeeded", "{:#?}\nworker 2:\n{}", rec.result, w2.log());
    // Finished calls ran exactly once; the idempotent call in flight ran again.
    assert_eq!(
        (up.hits("/hit/a"), up.hits("/hit/b"), up.hits("/hit/d")),
        (1, 1, 1),
        "worker 2:\n{}",
        w2.log()
    );
    assert_eq!(call(&rec, "c")["result"]["value"], json!({"slept_ms": 3000}));
    assert_eq!(rec.attempts, 2);
    assert!(
        w2.log().contains(&format!("took {run_id} (reclaimed), 2 calls already checkpointed")),
        "{}",
        w2.log()
    );
    assert!(w2.log().contains("(2 calls ran, 2 reused from checkpoints)"), "{}", w2.log());
}

/// Kills a worker while the non-idempotent `b` waits on its upstream, then
/// lets a second worker (`rerun_interrupted` as given) finish the run.
async fn crash_during_non_idempotent_call(rerun: bool) -> (Upstream, RunRecord) {
    let redis = RedisServer::start();
    let up = Upstream::start().await;
    let setup = Setup::new(&redis, &format!("visibility_timeout_ms = 1000\nrerun_interrupted = {rerun}"));
    let mut w1 = setup.worker(&[]);
    let spec = json!({"calls": [
        fetch("a", up.url("/hit/a"), &[]),
        fetch("b", up.url("/block/b"), &["a"]),
        fetch("c", up.url("/hit/c"), &["b"])
    ]});
    let run_id = setup.submit_ok(&spec);
    up.wait_hits("/block/b", 1).await;
    w1.kill9();
    let _w2 = setup.worker(&[]);
    let rec = setup.wait_done(&run_id).await;
    (up, rec)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_non_idempotent_call_in_flight_at_a_crash_is_reported_interrupted() {
    let (up, rec) = crash_during_non_idempotent_call(false).await;
    assert_eq!(rec.status, "failed", "{:#?}", rec.result);
    let b = call(&rec, "b");
    assert_eq!(b["status"], "failed");
    assert_eq!(b["result"]["error"]["code"], "INTERRUPTED", "{b}");
    assert_eq!(b["result"]["error"]["retryable"], false);
    assert_eq!(call(&rec, "c")["status"], "skipped");
    // a ran once, b was not sent again, c never ran.
    assert_eq!((up.hits("/hit/a"), up.hits("/block/b"), up.hits("/hit/c")), (1, 1, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_non_idempotent_call_in_flight_at_a_crash_reruns_when_allowed() {
    let (up, rec) = crash_during_non_idempotent_call(true).await;
    assert_eq!(rec.status, "succeeded", "{:#?}", rec.result);
    assert_eq!((up.hits("/hit/a"), up.hits("/block/b"), up.hits("/hit/c")), (1, 2, 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_redis_down_nothing_is_accepted() {
    let mut redis = RedisServer::start();
    let setup = Setup::new(&redis, "op_timeout_ms = 300");
    let spec = json!({"calls": [{"call_id": "a", "tool": "ok"}]});
    let (base, stop) = serve(&setup, false).await;
    let post = || async {
        let r = client().post(format!("{base}/v1/runs")).body(spec.to_string()).send().await.unwrap();
        (r.status().as_u16(), r.json::<Value>().await.unwrap())
    };
    redis.stop();
    // CLI: a clear error, non-zero exit, no run id.
    let out = setup.submit(&spec, &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty(), "{}", String::from_utf8_lossy(&out.stdout));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("not accepted"), "{err}");
    // HTTP: 503 with a JSON error.
    let (st, body) = post().await;
    assert_eq!(st, 503, "{body}");
    assert_eq!(body["error"]["code"], "RUN_STORE_UNAVAILABLE");
    assert!(body["error"]["message"].as_str().unwrap().contains("not accepted"), "{body}");
    // Recovery needs no restart.
    redis.restart();
    let until = Instant::now() + Duration::from_secs(20);
    loop {
        let (st, body) = post().await;
        if st == 202 {
            assert_eq!(body["status"], "queued");
            break;
        }
        assert!(Instant::now() < until, "still refused after redis came back: {st} {body}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let _ = stop.send(());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_hands_the_run_back_and_another_worker_finishes_it() {
    let redis = RedisServer::start();
    let up = Upstream::start().await;
    // A long visibility timeout: only an explicit hand-back lets worker 2 take it soon.
    let setup = Setup::new(&redis, "visibility_timeout_ms = 60000");
    let mut w1 = setup.worker(&["--grace-ms", "10000"]);
    let spec = json!({"calls": [
        fetch("a", up.url("/hit/a"), &[]),
        fetch("b", up.url("/slow/b"), &["a"]),
        fetch("c", up.url("/hit/c"), &["b"])
    ]});
    let run_id = setup.submit_ok(&spec);
    up.wait_hits("/slow/b", 1).await;
    w1.sigterm();
    let st = w1.wait_exit(Duration::from_secs(30));
    assert!(st.success(), "{st:?}\n{}", w1.log());
    let log = w1.log();
    assert!(log.contains(&format!("handed back {run_id}")), "{log}");
    // b finished within the grace period; c was not started.
    assert_eq!((up.hits("/hit/a"), up.hits("/slow/b"), up.hits("/hit/c")), (1, 1, 0));
    assert_eq!(setup.store().get(&run_id, None).await.unwrap().unwrap().status, "queued");

    let w2 = setup.worker(&[]);
    let rec = setup.wait_done(&run_id).await;
    assert_eq!(rec.status, "succeeded", "{:#?}", rec.result);
    assert_eq!((up.hits("/hit/a"), up.hits("/slow/b"), up.hits("/hit/c")), (1, 1, 1));
    let log = w2.log();
    assert!(log.contains(&format!("took {run_id}, 2 calls already checkpointed")), "{log}");
}
