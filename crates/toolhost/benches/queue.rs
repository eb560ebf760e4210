//! Durable runs through the Redis queue: runs per second with 1, 2 and 4
//! in-process workers (each taking one run at a time) on a real
//! `redis-server` started here (skipped with a message when it is not
//! installed). Each run is a 2-call DAG (`a` → `b`, the hostile guest's `ok`)
//! so every run pays the full path: store + enqueue, XREADGROUP, load, mark
//! running, an in-flight marker and a checkpoint per call, the final result,
//! XACK + XDEL.
//!
//!   scripts/build-plugins.sh && cargo bench --bench queue

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use toolhost::backend::RedisConfig;
use toolhost::backend::redis::{Redis, RunStore, Worker, WorkerEvent, WorkerOptions};
use toolhost::scheduler::RunSpec;
use toolhost::{ExecutionContext, Host};

const RUNS: usize = 400;

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn redis_server() -> Option<(Server, u16)> {
    let port = std::net::TcpListener::bind("127.0.0.1:0").ok()?.local_addr().ok()?.port();
    let child = Command::new("redis-server")
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let server = Server(child);
    for _ in 0..250 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Some((server, port));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    None
}

fn main() {
    let Some((_server, port)) = redis_server() else {
        println!("queue bench skipped: redis-server is not installed (apt-get install redis-server)");
        return;
    };
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    rt.block_on(run(port));
}

async fn run(port: u16) {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").join("build/fixtures/hostile.wasm");
    let bytes = std::fs::read(&fixture).expect("build/fixtures/hostile.wasm: run scripts/build-plugins.sh");
    let cache = tempfile::tempdir().unwrap();
    let host = Host::builder()
        .cache_dir(Some(cache.path().to_path_buf()))
        .plugin_bytes("h", bytes)
        .build()
        .await
        .unwrap();
    let url = format!("redis://127.0.0.1:{port}/0");
    let cfg = RedisConfig { op_timeout_ms: 2000, ..Default::default() };
    let redis = Redis::open(&url, cfg).unwrap();
    let store = RunStore::new(redis.clone());
    let ctx = ExecutionContext::new().with_tenant_id("default");
    println!("durable runs: {RUNS} runs of 2 calls each, redis-server on loopback, 2-core machine");
    for workers in [1usize, 2, 4] {
        // Queue everything first: submission throughput, then drain throughput.
        let t = Instant::now();
        let mut ids = Vec::with_capacity(RUNS);
        for i in 0..RUNS {
            let spec: RunSpec = serde_json::from_value(serde_json::json!({"calls": [
                {"call_id": "a", "tool": "ok", "args": {"i": i, "w": workers}},
                {"call_id": "b", "tool": "ok", "args": {"a": {"$ref": "a#/value/i"}}, "depends_on": ["a"]}
            ]}))
            .unwrap();
            ids.push(store.submit(&spec, "default", &ctx).await.unwrap());
        }
        let submit = t.elapsed();
        let done = Arc::new(AtomicUsize::new(0));
        let stop = toolhost::CancelToken::new();
        let t = Instant::now();
        let mut handles = Vec::new();
        for _ in 0..workers {
            let d = done.clone();
            let opts =
                WorkerOptions { concurrency: 1, block: Duration::from_millis(200), ..Default::default() };
            let w = Worker::new(std::sync::Arc::new(host.clone()), redis.clone(), opts).on_event(move |e| {
                if matches!(e, WorkerEvent::Finished { .. }) {
                    d.fetch_add(1, Ordering::Relaxed);
                }
            });
            let stop = stop.clone();
            handles.push(tokio::spawn(w.run(async move { stop.cancelled().await })));
        }
        while done.load(Ordering::Relaxed) < RUNS {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        let drain = t.elapsed();
        stop.cancel();
        for h in handles {
            h.await.unwrap();
        }
        let last = store.get(ids.last().unwrap(), None).await.unwrap().unwrap();
        assert_eq!(last.status, "succeeded", "{last:?}");
        println!(
            "  {workers} worker(s): {:8.0} runs/s executed ({:6.2} ms per run), submit {:8.0} runs/s",
            RUNS as f64 / drain.as_secs_f64(),
            drain.as_secs_f64() * 1e3 / RUNS as f64,
            RUNS as f64 / submit.as_secs_f64()
        );
    }
}
