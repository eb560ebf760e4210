//! The MCP source against the reference server,
//! `@modelcontextprotocol/server-everything` (Node), over stdio.
//! Run `crates/upstream/tests/setup.sh` first.

mod mcp_servers;

use mcp_servers::*;
use serde_json::json;
use std::time::{Duration, Instant};
use toolhost_core::{CancelToken, Content, Error, GuestEvent, ToolErrorKind};
use toolhost_upstream::{Source, SourceKind};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lists_and_calls_the_reference_server() {
    let source = connect(&stdio("ev", everything_command())).await;
    assert_eq!((source.name(), source.kind(), source.transport()), ("ev", SourceKind::Mcp, "stdio"));
    let tools = source.tools();
    let names: Vec<&str> = tools.iter().map(|t| t.name.as_str()).collect();
    for want in ["ev.echo", "ev.get-sum", "ev.get-tiny-image", "ev.trigger-long-running-operation"] {
        assert!(names.contains(&want), "{want} missing from {names:?}");
    }
    let echo = tools.iter().find(|t| t.name == "ev.echo").unwrap();
    assert_eq!((echo.source.as_str(), echo.remote_name.as_str()), ("ev", "echo"));
    assert_eq!(echo.description, "Echoes back the input string");
    assert_eq!(echo.input_schema["properties"]["message"]["type"], "string");
    assert!(echo.idempotent, "echo is annotated idempotent");

    let out = call(&source, "ev.echo", json!({"message": "hello"})).await.unwrap();
    assert_eq!(out.value, Some(json!("Echo: hello")));
    assert_eq!(out.content, vec![Content::Text { text: "Echo: hello".into() }]);

    let out = call(&source, "ev.get-sum", json!({"a": 2, "b": 3.5})).await.unwrap();
    assert_eq!(out.value, Some(json!("The sum of 2 and 3.5 is 5.5.")));
    assert_eq!(source.health(), toolhost_upstream::SourceHealth { up: true, restarts: 0, error: None });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn images_structured_content_and_errors() {
    let source = connect(&stdio("ev", everything_command())).await;
    let out = call(&source, "ev.get-tiny-image", json!({})).await.unwrap();
    let image = out.content.iter().find_map(|c| match c {
        Content::Image { mime_type, data } => Some((mime_type.clone(), data.0.clone())),
        _ => None,
    });
    let (mime, bytes) = image.expect("an image block");
    assert_eq!(mime, "image/png");
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
    assert_eq!(out.content.len(), 3, "text, image, text");
    assert_eq!(out.value, None, "several blocks: no single value");

    let weather = source.tools().into_iter().find(|t| t.name == "ev.get-structured-content").unwrap();
    assert_eq!(weather.output_schema.as_ref().unwrap()["properties"]["temperature"]["type"], "number");
    let out = call(&source, "ev.get-structured-content", json!({"location": "Chicago"})).await.unwrap();
    assert_eq!(out.value.unwrap()["conditions"], "Light rain / drizzle");

    let err = call(&source, "ev.get-sum", json!({"a": "two", "b": 3})).await.unwrap_err();
    let Error::Tool { kind, retryable, .. } = &err else { panic!("{err:?}") };
    assert_eq!((*kind, *retryable), (ToolErrorKind::InvalidInput, false), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_tool_is_not_found() {
    let source = connect(&stdio("ev", everything_command())).await;
    let mut gone = (*source.tools()[0]).clone();
    gone.remote_name = "no-such-tool".into();
    let ctx = toolhost_core::ExecutionContext::new();
    let args = json!({});
    let call = toolhost_upstream::UpstreamCall {
        tool: &gone,
        args: &args,
        ctx: &ctx,
        call_id: "c",
        timeout: Duration::from_secs(10),
        cancel: None,
        events: None,
    };
    let err = source.call(call).await.unwrap_err();
    let Error::Tool { kind, .. } = &err else { panic!("{err:?}") };
    assert_eq!(*kind, ToolErrorKind::NotFound, "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_running_operation_reports_progress() {
    let source = connect(&stdio("ev", everything_command())).await;
    let (tx, mut rx) = tokio::sync::mpsc::channel(64);
    let opts = Opts { events: Some(tx), ..Opts::default() };
    let args = json!({"duration": 1, "steps": 4});
    let out = call_with(&source, "ev.trigger-long-running-operation", args, &opts).await.unwrap();
    assert!(out.to_text().contains("Long running operation completed"), "{}", out.to_text());
    // Notifications are handled in tasks of their own: give the last one a moment.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let progress: Vec<(f64, Option<f64>)> = drain(&mut rx)
        .into_iter()
        .filter_map(|e| match e {
            GuestEvent::Progress { done, total, .. } => Some((done, total)),
            _ => None,
        })
        .collect();
    assert!(progress.len() >= 3, "{progress:?}");
    assert!(progress.iter().all(|(_, total)| *total == Some(4.0)), "{progress:?}");
    assert!(progress.iter().any(|(done, _)| *done == 1.0) && progress.iter().any(|(done, _)| *done >= 3.0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_call_returns_promptly_and_the_server_keeps_working() {
    let source = connect(&stdio("ev", everything_command())).await;
    let cancel = CancelToken::new();
    let opts = Opts { cancel: Some(cancel.clone()), ..Opts::default() };
    let trigger = cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        trigger.cancel();
    });
    let started = Instant::now();
    let args = json!({"duration": 30, "steps": 30});
    let err = call_with(&source, "ev.trigger-long-running-operation", args, &opts).await.unwrap_err();
    assert!(matches!(err, Error::Cancelled { .. }), "{err:?}");
    assert!(started.elapsed() < Duration::from_secs(2), "took {:?}", started.elapsed());

    let out = call(&source, "ev.echo", json!({"message": "still here"})).await.unwrap();
    assert_eq!(out.value, Some(json!("Echo: still here")));
    assert_eq!(source.health().restarts, 0);
}
