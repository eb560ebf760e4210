//! The MCP source against a deliberately faulty server (`fault_server.py`,
//! Python `mcp` SDK) over stdio: crashes, hangs, slow starts, tool list
//! changes, a cleared environment, trace context, progress and log lines.
//! Run `crates/upstream/tests/setup.sh` first.

mod mcp_servers;

use mcp_servers::*;
use serde_json::json;
use std::time::{Duration, Instant};
use toolhost_core::{CancelToken, Error, ExecutionContext, GuestEvent, ToolErrorKind};
use toolhost_upstream::Source;

/// A transient, retryable tool error; its message.
fn transient(err: &Error) -> &str {
    match err {
        Error::Tool { kind: ToolErrorKind::Transient, retryable: true, message, .. } => message,
        other => panic!("expected a retryable transient error, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_fails_the_call_in_flight_and_the_server_restarts() {
    let source = connect(&stdio("fault", fault_command(&[]))).await;
    let mut changes = source.changes().expect("an MCP source reports changes");
    let before = *changes.borrow_and_update();
    let pid = call(&source, "fault.pid", json!({})).await.unwrap().value.unwrap();

    let err = call(&source, "fault.crash", json!({"code": 3})).await.unwrap_err();
    let message = transient(&err);
    assert!(message.contains("upstream 'fault' exited (exit status: 3)"), "{message}");

    eventually(Duration::from_secs(15), "the restart", || {
        let h = source.health();
        h.up && h.restarts >= 1
    })
    .await;
    assert!(*changes.borrow_and_update() > before, "a restart moves the changes counter");
    assert!(source.health().error.is_none());
    let out = call(&source, "fault.echo", json!({"text": "back"})).await.unwrap();
    assert_eq!(out.value.unwrap(), json!({"result": "back"}));
    let new_pid = call(&source, "fault.pid", json!({})).await.unwrap().value.unwrap();
    assert_ne!(pid, new_pid, "a new process");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_looping_server_reports_its_latest_error_and_recovers() {
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("refuse");
    let marker_arg = marker.to_string_lossy().into_owned();
    let source = connect(&stdio("loop", fault_command(&["--refuse-start-if", &marker_arg]))).await;
    std::fs::write(&marker, "").unwrap();
    let _ = call(&source, "loop.crash", json!({"code": 4})).await.unwrap_err();

    eventually(Duration::from_secs(15), "failed restarts", || source.health().restarts >= 2).await;
    let health = source.health();
    assert!(!health.up);
    let error = health.error.expect("the latest error");
    assert!(error.contains("refusing to start"), "{error}");
    let err = call(&source, "loop.echo", json!({"text": "x"})).await.unwrap_err();
    assert!(transient(&err).contains("not connected"), "{err}");
    let Error::Tool { retry_after_ms, .. } = err else { unreachable!() };
    assert!(retry_after_ms.is_some_and(|ms| ms <= 30_000), "{retry_after_ms:?}");

    std::fs::remove_file(&marker).unwrap();
    eventually(Duration::from_secs(20), "the recovery", || source.health().up).await;
    assert!(call(&source, "loop.echo", json!({"text": "x"})).await.is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hang_times_out_is_cancelled_upstream_and_the_server_still_answers() {
    let source = connect(&stdio("fault", fault_command(&[]))).await;
    let opts = Opts { timeout: Duration::from_millis(500), ..Opts::default() };
    let started = Instant::now();
    let err = call_with(&source, "fault.hang", json!({}), &opts).await.unwrap_err();
    assert!(matches!(err, Error::Timeout { timeout_ms: 500, .. }), "{err:?}");
    assert!(started.elapsed() < Duration::from_secs(2));

    let cancel = CancelToken::new();
    cancel.cancel();
    let opts = Opts { cancel: Some(cancel), ..Opts::default() };
    let err = call_with(&source, "fault.hang", json!({}), &opts).await.unwrap_err();
    assert!(matches!(err, Error::Cancelled { .. }), "{err:?}");

    // A call whose future is dropped (the caller gave up) is cancelled too.
    let dropped =
        tokio::time::timeout(Duration::from_millis(300), call(&source, "fault.hang", json!({}))).await;
    assert!(dropped.is_err());

    // The timed-out and the dropped call were cancelled at the server
    // (notifications/cancelled); the pre-cancelled one was never sent.
    let mut cancelled = 0;
    for _ in 0..60 {
        let out = call(&source, "fault.cancellations", json!({})).await.unwrap();
        cancelled = out.value.unwrap()["result"].as_i64().unwrap();
        if cancelled >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(cancelled, 2, "the server saw {cancelled} notifications/cancelled");
    assert_eq!(source.health().restarts, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_start_is_waited_for_within_the_timeout() {
    let started = Instant::now();
    let source = connect(&stdio("slow", fault_command(&["--slow-start", "1.5"]))).await;
    assert!(started.elapsed() >= Duration::from_millis(1500));
    assert!(source.health().up);

    let mut cfg = stdio("slow", fault_command(&["--slow-start", "5"]));
    cfg.timeout_ms = 500;
    let started = Instant::now();
    let err = toolhost_upstream::mcp::connect(&cfg).await.unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(3), "{:?}", started.elapsed());
    let Error::Configuration(message) = err else { panic!("{err:?}") };
    assert!(message.starts_with("upstream 'slow': "), "{message}");
    assert!(message.contains("within 500 ms"), "{message}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_connection_failures_are_configuration_errors() {
    let err = toolhost_upstream::mcp::connect(&stdio("nope", vec!["/nonexistent/server".into()])).await;
    let Err(Error::Configuration(message)) = err else { panic!("{err:?}") };
    assert!(message.contains("upstream 'nope': cannot start /nonexistent/server"), "{message}");

    let mut cfg = stdio("sec", fault_command(&[]));
    cfg.env.insert("TOKEN".into(), "env:TOOLHOST_TEST_SURELY_UNSET".into());
    let Err(Error::Configuration(message)) = toolhost_upstream::mcp::connect(&cfg).await else { panic!() };
    assert!(message.contains("TOOLHOST_TEST_SURELY_UNSET is not set"), "{message}");

    let cfg = stdio(
        "exits",
        vec![python(), "-c".into(), "import sys; print('bad config', file=sys.stderr); sys.exit(2)".into()],
    );
    let Err(Error::Configuration(message)) = toolhost_upstream::mcp::connect(&cfg).await else { panic!() };
    assert!(message.contains("handshake failed") && message.contains("bad config"), "{message}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tool_list_change_is_seen() {
    let source = connect(&stdio("fault", fault_command(&[]))).await;
    let mut changes = source.changes().unwrap();
    let before = *changes.borrow_and_update();
    assert!(!source.tools().iter().any(|t| t.name == "fault.added"));
    call(&source, "fault.change", json!({})).await.unwrap();
    tokio::time::timeout(Duration::from_secs(10), changes.changed()).await.unwrap().unwrap();
    assert!(*changes.borrow() > before);
    eventually(Duration::from_secs(5), "the new tool", || {
        source.tools().iter().any(|t| t.name == "fault.added")
    })
    .await;
    let out = call(&source, "fault.added", json!({"x": 21})).await.unwrap();
    assert_eq!(out.value.unwrap(), json!({"result": 42}));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_child_gets_a_cleared_environment_plus_its_env() {
    // SAFETY: set once, before the child starts; no other test reads it.
    unsafe {
        std::env::set_var("TOOLHOST_TEST_FAULT_SECRET", "s3cret");
        std::env::set_var("TOOLHOST_TEST_NOT_PASSED", "leak");
    }
    let mut cfg = stdio("fault", fault_command(&[]));
    cfg.env.insert("SECRET".into(), "env:TOOLHOST_TEST_FAULT_SECRET".into());
    cfg.env.insert("PLAIN".into(), "yes".into());
    let source = connect(&cfg).await;
    let env = call(&source, "fault.env", json!({})).await.unwrap().value.unwrap();
    assert_eq!(env["SECRET"], "s3cret");
    assert_eq!(env["PLAIN"], "yes");
    assert_eq!(env["PATH"], std::env::var("PATH").unwrap());
    assert_eq!(env["HOME"], std::env::var("HOME").unwrap());
    assert!(env.get("TOOLHOST_TEST_NOT_PASSED").is_none(), "{env}");
    assert!(!format!("{source:?}").contains("s3cret"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn meta_carries_the_trace_context_and_a_progress_token() {
    let source = connect(&stdio("fault", fault_command(&[]))).await;
    let mut ctx = ExecutionContext::new();
    ctx.traceparent = Some("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01".into());
    ctx.tracestate = Some("congo=t61rcWkgMzE".into());
    let opts = Opts { ctx, ..Opts::default() };
    let meta = call_with(&source, "fault.meta", json!({}), &opts).await.unwrap().value.unwrap();
    assert_eq!(meta["traceparent"], "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", "{meta}");
    assert_eq!(meta["tracestate"], "congo=t61rcWkgMzE", "{meta}");
    assert!(meta.get("progressToken").is_some(), "{meta}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn progress_and_log_lines_reach_the_call_events() {
    let source = connect(&stdio("fault", fault_command(&[]))).await;
    let (tx, mut rx) = tokio::sync::mpsc::channel(64);
    let opts = Opts { events: Some(tx), ..Opts::default() };
    call_with(&source, "fault.progress", json!({"steps": 3}), &opts).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let events = drain(&mut rx);
    let progress: Vec<_> = events.iter().filter(|e| matches!(e, GuestEvent::Progress { .. })).collect();
    assert_eq!(progress.len(), 3, "{events:?}");
    assert!(events.contains(&GuestEvent::Progress {
        done: 2.0,
        total: Some(3.0),
        message: Some("step 2".into())
    }));

    call_with(&source, "fault.log", json!({"message": "disk \u{1b}[31mfull"}), &opts).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let events = drain(&mut rx);
    assert!(
        events.contains(&GuestEvent::Log { level: "warn", message: "fault: disk \\u{1b}[31mfull".into() }),
        "{events:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tool_error_is_invalid_input() {
    let source = connect(&stdio("fault", fault_command(&[]))).await;
    let err = call(&source, "fault.fail", json!({"message": "the file is locked"})).await.unwrap_err();
    let Error::Tool { kind, retryable, message, .. } = &err else { panic!("{err:?}") };
    assert_eq!((*kind, *retryable), (ToolErrorKind::InvalidInput, false));
    assert!(message.contains("the file is locked"), "{message}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_the_source_stops_the_process() {
    let source = connect(&stdio("fault", fault_command(&[]))).await;
    let pid = call(&source, "fault.pid", json!({})).await.unwrap().value.unwrap()["result"].as_i64().unwrap();
    let proc_dir = std::path::PathBuf::from(format!("/proc/{pid}"));
    assert!(proc_dir.exists());
    drop(source);
    let alive = || std::fs::read_to_string(proc_dir.join("stat")).is_ok_and(|s| !s.contains(") Z "));
    eventually(Duration::from_secs(5), "the process to go", || !alive()).await;
}
