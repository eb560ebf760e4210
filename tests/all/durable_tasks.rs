//! MCP tasks as durable runs: with Redis configured, a task started on one
//! `toolhost serve` replica is queued for `toolhost worker` processes, polled,
//! fetched, listed and cancelled from another replica; a worker killed with
//! SIGKILL mid-task is replaced by one that finishes it; a guest's question
//! waits in Redis and the answer comes from the client of another replica
//! (2025-11-25: relayed as `elicitation/create` while the client waits in
//! `tasks/result`). Tenants never see each other's tasks.

use crate::common::{RedisServer, example_plugins};
use crate::durable::{Setup, wait_inflight};
use crate::serve::McpSession;
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use toolhost::Host;
use toolhost_serve::HttpServer;

/// A replica: `toolhost serve` (HTTP) on the setup's Redis, tenants `acme` and `beta`.
async fn replica(setup: &Setup) -> (String, tokio::sync::oneshot::Sender<()>) {
    let mut cfg = setup.folder.config();
    crate::tasks::tenants(&mut cfg);
    cfg.redis_url = Some(setup.redis_url.clone());
    cfg.redis = setup.redis_config();
    let host = Host::builder().config(cfg).build().await.expect("host builds");
    let server = HttpServer::bind(host, "127.0.0.1:0".parse().unwrap()).await.unwrap();
    let url = format!("http://{}/mcp", server.local_addr());
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(server.run(async {
        let _ = rx.await;
    }));
    (url, tx)
}

fn setup(redis: &RedisServer) -> Setup {
    let setup = Setup::new(redis, "visibility_timeout_ms = 1000");
    for f in ["longtask.wasm", "longtask.toml"] {
        let bytes =
            std::fs::read(example_plugins().join(f)).expect("scripts/build-plugins.sh built longtask");
        setup.folder.file(f, &bytes);
    }
    setup
}

async fn session(url: &str, token: &'static str) -> McpSession {
    let caps = json!({"tasks": {"requests": {"tools": {"call": {}}}}, "elicitation": {"form": {}}});
    McpSession::open(url.to_string(), Some(token), caps).await.0
}

/// Starts a task; its id and the task object.
async fn start(s: &McpSession, tool: &str, args: Value) -> (String, Value) {
    let r = s.rpc("tools/call", json!({"name": tool, "arguments": args, "task": {}})).await;
    let task = r["result"]["task"].clone();
    let id = task["taskId"].as_str().unwrap_or_else(|| panic!("no task: {r}")).to_string();
    (id, task)
}

/// Polls `tasks/get` until `done(task)`.
async fn poll_until(s: &McpSession, id: &str, done: impl Fn(&Value) -> bool) -> Value {
    let until = Instant::now() + Duration::from_secs(90);
    loop {
        let t = s.rpc("tasks/get", json!({"taskId": id})).await["result"].clone();
        if done(&t) {
            return t;
        }
        assert!(Instant::now() < until, "task {id} never got there: {t}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_durable_task_survives_its_worker_and_answers_from_any_replica() {
    let redis = RedisServer::start();
    let setup = setup(&redis);
    let ((a_url, _a), (b_url, _b)) = (replica(&setup).await, replica(&setup).await);
    let (a, b, beta) = (
        session(&a_url, "acme-secret").await,
        session(&b_url, "acme-secret").await,
        session(&b_url, "beta-secret").await,
    );

    // No worker yet: the task waits in the queue, visible from the other replica.
    let (id, task) = start(&a, "jobs.crunch", json!({"items": 12, "step_ms": 250})).await;
    assert_eq!(
        (task["status"].as_str(), task["statusMessage"].as_str()),
        (Some("working"), Some("queued for a worker"))
    );
    assert_eq!(b.rpc("tasks/get", json!({"taskId": id})).await["result"]["status"], "working");
    let other = beta.rpc("tasks/get", json!({"taskId": id})).await;
    assert!(other["error"]["message"].as_str().unwrap().contains("unknown task"), "{other}");

    let mut w1 = setup.worker(&[]);
    wait_inflight(&redis, &setup.store(), &id, "call").await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    w1.kill9();
    let w2 = setup.worker(&[]);
    let done = poll_until(&b, &id, |t| t["status"] != "working").await;
    assert_eq!(done["status"], "completed", "{done}\nworker 2:\n{}", w2.log());
    let result = b.rpc("tasks/result", json!({"taskId": id})).await["result"].clone();
    assert_eq!(result["structuredContent"]["items"], 12, "{result}");
    assert_eq!(result["_meta"]["io.modelcontextprotocol/related-task"]["taskId"], id.as_str());
    assert_eq!(setup.store().get(&id, None).await.unwrap().unwrap().attempts, 2, "reclaimed once");

    let listed = b.rpc("tasks/list", json!({})).await["result"]["tasks"].clone();
    assert!(listed.as_array().unwrap().iter().any(|t| t["taskId"] == id.as_str()), "{listed}");
    assert_eq!(beta.rpc("tasks/list", json!({})).await["result"]["tasks"], json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_durable_task_is_cancelled_and_asks_through_any_replica() {
    let redis = RedisServer::start();
    let setup = setup(&redis);
    let ((a_url, _a), (b_url, _b)) = (replica(&setup).await, replica(&setup).await);
    let (a, b) = (session(&a_url, "acme-secret").await, session(&b_url, "acme-secret").await);
    let worker = setup.worker(&[]);

    // Cancelled on B while it runs on the worker, started through A.
    let (slow, _) = start(&a, "jobs.crunch", json!({"items": 200, "step_ms": 200})).await;
    wait_inflight(&redis, &setup.store(), &slow, "call").await;
    let cancelled = b.rpc("tasks/cancel", json!({"taskId": slow})).await;
    assert_eq!(cancelled["result"]["status"], "cancelled", "{cancelled}");
    let run = setup.store().wait(&slow, None, Some(Duration::from_secs(30))).await.unwrap().unwrap();
    assert_eq!(run.status, "cancelled", "the worker stopped it:\n{}", worker.log());
    assert_eq!(a.rpc("tasks/get", json!({"taskId": slow})).await["result"]["status"], "cancelled");
    let err = a.rpc("tasks/result", json!({"taskId": slow})).await;
    assert!(err["error"]["message"].as_str().unwrap().contains("cancelled"), "{err}");

    // The guest's question waits in Redis; B shows it, A's client answers it.
    let (asking, _) = start(&a, "jobs.publish", json!({"items": 2, "step_ms": 50})).await;
    poll_until(&b, &asking, |t| t["status"] == "input_required").await;
    let (asked, result) = b
        .rpc_answering(
            "tasks/result",
            json!({"taskId": asking}),
            |_| json!({"action": "accept", "content": {"publish": true, "note": "via redis"}}),
        )
        .await;
    assert_eq!(asked.len(), 1, "{asked:?}");
    assert_eq!(asked[0]["method"], "elicitation/create");
    assert!(asked[0]["params"]["requestedSchema"]["properties"]["publish"].is_object(), "{asked:?}");
    let value = &result["result"]["structuredContent"];
    assert_eq!(
        (value["published"].clone(), value["note"].clone()),
        (json!(true), json!("via redis")),
        "{result}"
    );
}
