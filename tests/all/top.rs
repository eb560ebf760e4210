//! `toolhost top` and the log format, used as a person would: a real
//! `toolhost serve` process, `top` in a tmux terminal, the screen captured.

use crate::cli::bin;
use crate::common::*;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// `toolhost serve --http 127.0.0.1:0` over the hostile guest; the address
/// comes from its "listening on" line.
struct Serve {
    child: Child,
    url: String,
    _folder: Folder,
}

impl Serve {
    fn start(extra: &[&str]) -> Serve {
        let folder = Folder::new();
        folder.wasm("h", &hostile());
        let mut child = Command::new(bin())
            .args(["serve", "--http", "127.0.0.1:0", "--plugins"])
            .arg(folder.path())
            .arg("--cache-dir")
            .arg(shared_cache())
            .args(extra)
            .env_remove("RUST_LOG")
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let url = listening_url(&mut child);
        Serve { child, url, _folder: folder }
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn tmux(args: &[&str]) -> String {
    let out = Command::new("tmux").args(args).output().expect("tmux runs (the test command installs it)");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

struct Session(String);

impl Drop for Session {
    fn drop(&mut self) {
        tmux(&["kill-session", "-t", &self.0]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn top_in_a_terminal_shows_inflight_calls_tool_rates_and_bulkheads() {
    let s = Serve::start(&[]);
    let client = reqwest::Client::new();
    let call = |body: &'static str| {
        let (c, url) = (client.clone(), format!("{}/v1/calls", s.url));
        async move {
            c.post(url).header("content-type", "application/json").body(body).send().await.unwrap().status()
        }
    };
    for _ in 0..5 {
        assert_eq!(call(r#"{"tool":"ok","arguments":{}}"#).await, 200);
    }
    assert_eq!(call(r#"{"tool":"fail","arguments":{"kind":"not-found"}}"#).await, 200);
    // A call that stays in flight while we look.
    let slow = tokio::spawn(call(r#"{"tool":"sleep_ms","call_id":"slow-1","arguments":{"ms":4000}}"#));

    let name = format!("toolhost-top-{}", std::process::id());
    let cmd = format!("{} top --url {} --interval-ms 200", bin().display(), s.url);
    tmux(&["new-session", "-d", "-s", &name, "-x", "140", "-y", "45", &cmd]);
    let _session = Session(name.clone());
    let deadline = Instant::now() + Duration::from_secs(20);
    let screen = loop {
        let screen = tmux(&["capture-pane", "-p", "-t", &name]);
        if screen.contains("slow-1") && screen.contains("RATE/s") {
            break screen;
        }
        assert!(Instant::now() < deadline, "top never showed the in-flight call:\n{screen}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(screen.contains("IN FLIGHT (1)"), "{screen}");
    let row = |tool: &str| {
        screen.lines().find(|l| l.trim_start().starts_with(&format!("{tool} "))).map(str::to_string)
    };
    let ok = row("ok").unwrap_or_else(|| panic!("no row for ok:\n{screen}"));
    assert_eq!(ok.split_whitespace().nth(1), Some("5"), "{ok}");
    let fail = row("fail").unwrap_or_else(|| panic!("no row for fail:\n{screen}"));
    assert!(fail.contains("100.0%"), "{fail}");
    assert!(screen.contains("BREAKERS") && screen.contains("BULKHEADS"), "{screen}");
    assert_eq!(slow.await.unwrap(), 200);
    // Once the slow call is done, the next frames drop it.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let screen = tmux(&["capture-pane", "-p", "-t", &name]);
        if screen.contains("IN FLIGHT (0)") && row_of(&screen, "sleep_ms").is_some() {
            break;
        }
        assert!(Instant::now() < deadline, "the finished call stayed in flight:\n{screen}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn row_of(screen: &str, tool: &str) -> Option<String> {
    screen.lines().find(|l| l.trim_start().starts_with(&format!("{tool} "))).map(str::to_string)
}

#[test]
fn top_once_and_json_for_scripts_and_a_clear_error_when_the_server_is_down() {
    let s = Serve::start(&[]);
    let out = Command::new(bin()).args(["top", "--json", "--url", &s.url]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let snap: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(snap["plugins"], 1);
    assert!(snap["inflight"].is_array() && snap["totals"].is_array(), "{snap}");
    drop(s);
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let out = Command::new(bin())
        .args(["top", "--once", "--url", &format!("http://127.0.0.1:{port}")])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("connecting to 127.0.0.1"), "{out:?}");
}

#[test]
fn logs_are_json_lines_off_a_terminal_and_payloads_only_on_opt_in() {
    let f = Folder::new();
    f.wasm("h", &hostile());
    let run = |extra: &[&str]| {
        let out = Command::new(bin())
            .args(["call", "ok", r#"{"secret":"hunter2"}"#, "--log", "info", "--plugins"])
            .arg(f.path())
            .arg("--cache-dir")
            .arg(shared_cache())
            .args(extra)
            .env_remove("RUST_LOG")
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let plain = run(&[]);
    // stderr is a pipe here: every log line is a JSON object; the last line is the load summary.
    let logs: Vec<serde_json::Value> =
        plain.lines().filter(|l| l.starts_with('{')).map(|l| serde_json::from_str(l).unwrap()).collect();
    assert!(!logs.is_empty(), "{plain}");
    assert!(logs.iter().all(|l| l["level"].is_string() && l["target"].is_string()), "{plain}");
    assert!(plain.lines().any(|l| l.starts_with("toolhost: 1 plugins in")), "summary line: {plain}");
    assert!(!plain.contains("hunter2"), "arguments were logged without opt-in: {plain}");
    let with = run(&["--log-payloads"]);
    let payload = with
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|l| l["target"] == "toolhost::payload")
        .unwrap_or_else(|| panic!("no payload line: {with}"));
    assert!(payload["fields"]["arguments"].as_str().unwrap().contains("hunter2"), "{payload}");
    assert_eq!(payload["span"]["name"], "tool.execute", "the line carries its call's span: {payload}");
    assert!(payload["span"]["call_id"].is_string(), "{payload}");
}

/// The address `toolhost serve` printed on stderr ("listening on ADDR"); the
/// rest of stderr keeps being drained, so the server never blocks on a full pipe.
pub(crate) fn listening_url(child: &mut std::process::Child) -> String {
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let url = loop {
        let line = lines.next().expect("serve printed its address").unwrap();
        if let Some(rest) = line.split("listening on ").nth(1) {
            break rest.split_whitespace().next().unwrap().to_string();
        }
    };
    std::thread::spawn(move || for _ in lines {});
    url
}
