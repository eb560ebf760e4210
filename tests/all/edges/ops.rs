//! Operations: readiness after a stall, one log line per call, operator-only
//! observability routes, and cancelling durable runs from any process. Real
//! `toolhost` processes, real HTTP on 127.0.0.1, real Redis.

use crate::cli::bin;
use crate::common::*;
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
    // One line per call, and no payloads without --log-payloads.
    let logs = s.json_logs();
    let per_call =
        logs.iter().filter(|l| l["target"] == "toolhost::call" && l["fields"]["call_id"] == "c-ok");
    assert_eq!(per_call.count(), 1);
    assert!(!s.lines.lock().unwrap().join("\n").contains("hunter2"));
}
