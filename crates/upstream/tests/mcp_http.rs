//! The MCP source over streamable HTTP, against `fault_server.py --http`
//! (Python `mcp` SDK, uvicorn) on 127.0.0.1, which refuses requests without
//! the configured header. Run `crates/upstream/tests/setup.sh` first.

mod mcp_servers;

use mcp_servers::*;
use serde_json::json;
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use toolhost_core::{Error, GuestEvent, ToolErrorKind};
use toolhost_upstream::{Source, UpstreamConfig};

/// A running HTTP server and its MCP endpoint.
struct HttpServer {
    url: String,
    port: u16,
    _child: Child,
}

/// Starts the fault server over HTTP on `port` (0: a free one), requiring
/// `X-Token: <token>`.
async fn serve(port: u16, token: &str) -> HttpServer {
    let command = fault_command(&[
        "--http",
        "--port",
        &port.to_string(),
        "--require-header",
        &format!("X-Token={token}"),
    ]);
    let mut child = Command::new(&command[0])
        .args(&command[1..])
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("start the fault server");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let line = tokio::time::timeout(Duration::from_secs(20), lines.next_line())
        .await
        .expect("the server prints its URL")
        .unwrap()
        .expect("a line");
    let url = line.strip_prefix("listening on ").expect("listening on …").to_string();
    let port = url.rsplit(':').next().unwrap().trim_end_matches("/mcp").parse().unwrap();
    HttpServer { url, port, _child: child }
}

fn http(name: &str, url: &str, token_var: &str) -> UpstreamConfig {
    let mut cfg =
        UpstreamConfig { name: name.into(), url: Some(url.into()), timeout_ms: 20_000, ..Default::default() };
    cfg.headers.insert("X-Token".into(), format!("env:{token_var}"));
    cfg
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lists_and_calls_over_streamable_http_with_a_header_from_env() {
    // SAFETY: set before the client is built; no other test reads it.
    unsafe { std::env::set_var("TOOLHOST_TEST_HTTP_TOKEN", "tok-123") };
    let server = serve(0, "tok-123").await;
    let source = connect(&http("remote", &server.url, "TOOLHOST_TEST_HTTP_TOKEN")).await;
    assert_eq!(source.transport(), "http");
    assert!(!format!("{source:?}").contains("tok-123"), "the header's value stays out of debug output");
    let names: Vec<String> = source.tools().iter().map(|t| t.name.clone()).collect();
    assert!(
        names.contains(&"remote.echo".to_string()) && names.contains(&"remote.hang".to_string()),
        "{names:?}"
    );

    let out = call(&source, "remote.echo", json!({"text": "over http"})).await.unwrap();
    assert_eq!(out.value.unwrap(), json!({"result": "over http"}));
    let seen = call(&source, "remote.header", json!({"name": "X-Token"})).await.unwrap();
    assert_eq!(seen.value.unwrap(), json!({"result": "tok-123"}));

    let (tx, mut rx) = tokio::sync::mpsc::channel(64);
    let opts = Opts { events: Some(tx), ..Opts::default() };
    call_with(&source, "remote.progress", json!({"steps": 2}), &opts).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let progress = drain(&mut rx).into_iter().filter(|e| matches!(e, GuestEvent::Progress { .. })).count();
    assert_eq!(progress, 2);

    let opts = Opts { timeout: Duration::from_millis(300), ..Opts::default() };
    let err = call_with(&source, "remote.hang", json!({}), &opts).await.unwrap_err();
    assert!(matches!(err, Error::Timeout { .. }), "{err:?}");
    assert!(source.health().up);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_header_the_first_connection_fails() {
    // SAFETY: as above.
    unsafe { std::env::set_var("TOOLHOST_TEST_HTTP_WRONG", "wrong-secret-value") };
    let server = serve(0, "right").await;
    let err = toolhost_upstream::mcp::connect(&http("remote", &server.url, "TOOLHOST_TEST_HTTP_WRONG")).await;
    let Err(Error::Configuration(message)) = err else { panic!("{err:?}") };
    assert!(message.starts_with("upstream 'remote': "), "{message}");
    assert!(!message.contains("wrong-secret-value"), "{message}");

    let err = toolhost_upstream::mcp::connect(&http("remote", &server.url, "TOOLHOST_TEST_HTTP_UNSET")).await;
    let Err(Error::Configuration(message)) = err else { panic!("{err:?}") };
    assert!(message.contains("TOOLHOST_TEST_HTTP_UNSET is not set"), "{message}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_http_server_is_reconnected() {
    // SAFETY: as above.
    unsafe { std::env::set_var("TOOLHOST_TEST_HTTP_RESTART", "tok-r") };
    let server = serve(0, "tok-r").await;
    let (url, port) = (server.url.clone(), server.port);
    let source = connect(&http("remote", &url, "TOOLHOST_TEST_HTTP_RESTART")).await;
    assert!(call(&source, "remote.echo", json!({"text": "1"})).await.is_ok());

    drop(server);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let err = call(&source, "remote.echo", json!({"text": "2"})).await.unwrap_err();
    assert!(matches!(err, Error::Tool { kind: ToolErrorKind::Transient, retryable: true, .. }), "{err:?}");
    assert!(err.to_string().contains("upstream 'remote'"), "{err}");

    let _again = serve(port, "tok-r").await;
    eventually(Duration::from_secs(20), "the reconnection", || {
        let h = source.health();
        h.up && h.restarts >= 1
    })
    .await;
    let out = call(&source, "remote.echo", json!({"text": "3"})).await.unwrap();
    assert_eq!(out.value.unwrap(), json!({"result": "3"}));
}
