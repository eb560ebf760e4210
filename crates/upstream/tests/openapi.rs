//! The OpenAPI upstream against a real HTTP server on 127.0.0.1.

mod common;

use common::{call, config, document, serve};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::{Duration, Instant};
use toolhost_core::{CancelToken, Error, ExecutionContext, ToolErrorKind};
use toolhost_upstream::openapi::{OpenApiSource, connect};
use toolhost_upstream::{Source, SourceKind, UpstreamTool};

const T: Duration = Duration::from_secs(10);

async fn source(base: &str) -> Arc<OpenApiSource> {
    connect(&config(&format!("{base}/openapi.json"))).await.unwrap()
}

fn tool(source: &OpenApiSource, name: &str) -> Arc<UpstreamTool> {
    source.tools().into_iter().find(|t| t.name == name).unwrap_or_else(|| panic!("no tool {name}"))
}

/// `(kind, retryable, retry_after_ms, details.status)` of a tool error.
fn tool_error(result: Result<toolhost_core::ToolOutput, Error>) -> (ToolErrorKind, bool, Option<u64>, Value) {
    match result {
        Err(Error::Tool { kind, retryable, retry_after_ms, details, .. }) => {
            (kind, retryable, retry_after_ms, details.unwrap_or_default()["status"].clone())
        }
        other => panic!("expected a tool error, got {other:?}"),
    }
}

fn configuration_error(result: Result<Arc<OpenApiSource>, Error>) -> String {
    match result {
        Err(Error::Configuration(message)) => message,
        other => panic!("expected a configuration error, got {other:?}"),
    }
}

#[tokio::test]
async fn operations_become_tools_with_inlined_schemas() {
    let server = serve().await;
    let source = source(&server.base).await;
    assert_eq!((source.name(), source.kind()), ("billing", SourceKind::Http));
    assert_eq!(source.base_url(), server.base, "servers[0] `/` resolved against the document URL");
    let mut names: Vec<String> = source.tools().iter().map(|t| t.name.clone()).collect();
    names.sort();
    let want = "away bad big bigStream boom createItem denied flaky getItem missing moved search slow text";
    let want: Vec<String> = want.split(' ').map(|n| format!("billing.{n}")).collect();
    assert_eq!(names, want, "the operation without operationId is skipped");

    let get_item = tool(&source, "billing.getItem");
    assert_eq!((get_item.remote_name.as_str(), get_item.source.as_str()), ("getItem", "billing"));
    assert_eq!(get_item.description, "Fetch one item");
    assert!(get_item.idempotent);
    assert_eq!(get_item.input_schema["required"], json!(["id"]));
    assert_eq!(get_item.input_schema["properties"]["id"], json!({"type": "integer"}));
    assert_eq!(get_item.input_schema["additionalProperties"], json!(false));
    let output = get_item.output_schema.clone().expect("output schema from the $ref'd 200 response");
    assert_eq!(output["required"], json!(["id", "name"]));
    assert_eq!(output["properties"]["name"], json!({"type": "string"}));
    assert_eq!(output["properties"]["parent"], json!({}), "a cyclic $ref is cut");

    let create = tool(&source, "billing.createItem");
    assert!(!create.idempotent, "POST");
    assert_eq!(create.input_schema["required"], json!(["body"]));
    assert_eq!(
        create.input_schema["properties"]["body"],
        json!({"type": "object", "required": ["name"], "properties": {"name": {"type": "string"}}}),
        "the $ref'd request body is inlined"
    );
    assert_eq!(create.output_schema.as_ref().unwrap()["properties"]["id"], json!({"type": "integer"}));
    assert!(tool(&source, "billing.bad").idempotent, "x-idempotent: true");

    let search = tool(&source, "billing.search");
    assert_eq!(search.input_schema["required"], json!(["q"]));
    assert_eq!(search.input_schema["properties"]["limit"], json!({"type": "integer", "minimum": 1}));
}

#[tokio::test]
async fn yaml_and_file_documents_give_the_same_tools() {
    let server = serve().await;
    let json_source = source(&server.base).await;
    let mut cfg = config(&format!("{}/openapi.yaml", server.base));
    cfg.base_url = Some(server.base.clone());
    let yaml_source = connect(&cfg).await.unwrap();
    assert_eq!(yaml_source.tools().len(), 2);
    for name in ["billing.getItem", "billing.search"] {
        assert_eq!(tool(&yaml_source, name), tool(&json_source, name), "{name}");
    }
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), document().to_string()).unwrap();
    let mut cfg = config(file.path().to_str().unwrap());
    cfg.base_url = Some(format!("{}/", server.base));
    let file_source = connect(&cfg).await.unwrap();
    let ctx = ExecutionContext::new();
    let got = call(&file_source, "billing.getItem", json!({"id": 3}), T, None, &ctx).await.unwrap();
    assert_eq!(got.value, Some(json!({"id": 3, "name": "item-3"})));
}

#[tokio::test]
async fn calls_return_the_answers() {
    let server = serve().await;
    let source = source(&server.base).await;
    let ctx = ExecutionContext::new();
    let got = call(&source, "billing.getItem", json!({"id": 7}), T, None, &ctx).await.unwrap();
    assert_eq!(got.value, Some(json!({"id": 7, "name": "item-7"})));
    let got =
        call(&source, "billing.createItem", json!({"body": {"name": "pen"}}), T, None, &ctx).await.unwrap();
    assert_eq!(got.value, Some(json!({"id": 42, "name": "pen"})));
    let args = json!({"q": "a b&c=d/é", "limit": 5});
    let got = call(&source, "billing.search", args, T, None, &ctx).await.unwrap();
    assert_eq!(got.value, Some(json!({"q": "a b&c=d/é", "limit": "5"})), "query parameters encoded");
    let got = call(&source, "billing.text", json!({}), T, None, &ctx).await.unwrap();
    assert_eq!(got.value, Some(json!("hello")), "a non-JSON body is its text");
}

#[tokio::test]
async fn rate_limits_and_retryable_statuses_honour_retry_after() {
    let server = serve().await;
    let source = source(&server.base).await;
    let ctx = ExecutionContext::new();
    let first = call(&source, "billing.flaky", json!({}), T, None, &ctx).await;
    assert_eq!(tool_error(first), (ToolErrorKind::RateLimited, true, Some(1000), json!(429)));
    let second = call(&source, "billing.flaky", json!({}), T, None, &ctx).await;
    assert_eq!(tool_error(second), (ToolErrorKind::Transient, true, None, json!(503)));
    let third = call(&source, "billing.flaky", json!({}), T, None, &ctx).await.unwrap();
    assert_eq!(third.value, Some(json!({"ok": true})));

    let mut cfg = config(&format!("{}/openapi.json", server.base));
    cfg.retry_on_status = vec![500];
    let listed = connect(&cfg).await.unwrap();
    let boom = call(&listed, "billing.boom", json!({}), T, None, &ctx).await;
    assert_eq!(tool_error(boom), (ToolErrorKind::Transient, true, None, json!(500)), "500 listed");
}

#[tokio::test]
async fn error_statuses_map_to_their_kinds() {
    let server = serve().await;
    let source = source(&server.base).await;
    let ctx = ExecutionContext::new();
    let missing = call(&source, "billing.missing", json!({}), T, None, &ctx).await;
    assert_eq!(tool_error(missing), (ToolErrorKind::NotFound, false, None, json!(404)));
    let bad = call(&source, "billing.bad", json!({}), T, None, &ctx).await;
    let message = bad.as_ref().unwrap_err().to_string();
    assert!(message.contains("422") && message.contains("name is required"), "{message}");
    assert_eq!(tool_error(bad), (ToolErrorKind::InvalidInput, false, None, json!(422)));
    let denied = call(&source, "billing.denied", json!({}), T, None, &ctx).await;
    assert_eq!(tool_error(denied), (ToolErrorKind::Denied, false, None, json!(403)));
    let boom = call(&source, "billing.boom", json!({}), T, None, &ctx).await;
    assert_eq!(tool_error(boom), (ToolErrorKind::Transient, false, None, json!(500)), "500 not listed");
}

#[tokio::test]
async fn redirects_are_followed_within_the_origin_only() {
    let server = serve().await;
    let source = source(&server.base).await;
    let ctx = ExecutionContext::new();
    let moved = call(&source, "billing.moved", json!({}), T, None, &ctx).await.unwrap();
    assert_eq!(moved.value, Some(json!("hello")));
    let texts = server.seen.count("/text");
    let away = call(&source, "billing.away", json!({}), T, None, &ctx).await;
    let message = away.as_ref().unwrap_err().to_string();
    assert!(message.contains("localhost") && message.contains("not followed"), "{message}");
    assert_eq!(tool_error(away), (ToolErrorKind::Internal, false, None, json!(307)));
    assert_eq!(server.seen.count("/text"), texts, "the other origin got no request");
}

#[tokio::test]
async fn bodies_over_the_cap_are_typed_errors() {
    let server = serve().await;
    let mut cfg = config(&format!("{}/openapi.json", server.base));
    cfg.max_response_bytes = 1024;
    let source = connect(&cfg).await.unwrap();
    let ctx = ExecutionContext::new();
    for tool in ["billing.big", "billing.bigStream"] {
        let got = call(&source, tool, json!({}), T, None, &ctx).await;
        assert!(matches!(got, Err(Error::OutputTooLarge { limit: 1024, .. })), "{tool}: {got:?}");
    }
    assert!(call(&source, "billing.getItem", json!({"id": 1}), T, None, &ctx).await.is_ok(), "under the cap");
}

#[tokio::test]
async fn a_slow_answer_times_out() {
    let server = serve().await;
    let source = source(&server.base).await;
    let started = Instant::now();
    let got =
        call(&source, "billing.slow", json!({}), Duration::from_millis(200), None, &ExecutionContext::new())
            .await;
    assert!(
        matches!(&got, Err(Error::Timeout { timeout_ms: 200, tool }) if tool == "billing.slow"),
        "{got:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn cancel_stops_the_call_promptly() {
    let server = serve().await;
    let source = source(&server.base).await;
    let cancel = CancelToken::new();
    let trigger = cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(100)).await;
        trigger.cancel();
    });
    let started = Instant::now();
    let got = call(
        &source,
        "billing.slow",
        json!({}),
        Duration::from_secs(30),
        Some(&cancel),
        &ExecutionContext::new(),
    )
    .await;
    assert!(matches!(&got, Err(Error::Cancelled { tool }) if tool == "billing.slow"), "{got:?}");
    assert!(started.elapsed() < Duration::from_secs(5), "{:?}", started.elapsed());
    let before = server.seen.count("/items/1");
    let got =
        call(&source, "billing.getItem", json!({"id": 1}), T, Some(&cancel), &ExecutionContext::new()).await;
    assert!(matches!(got, Err(Error::Cancelled { .. })), "already cancelled: {got:?}");
    assert_eq!(server.seen.count("/items/1"), before, "nothing is sent once cancelled");
}

#[tokio::test]
async fn unusable_arguments_are_refused_before_sending() {
    let server = serve().await;
    let source = source(&server.base).await;
    let ctx = ExecutionContext::new();
    let got = call(&source, "billing.getItem", json!({"id": ".."}), T, None, &ctx).await;
    assert!(matches!(got, Err(Error::InvalidArguments { .. })), "{got:?}");
    let got = call(&source, "billing.getItem", json!({"id": 1, "X-Note": "a\nb"}), T, None, &ctx).await;
    assert!(matches!(got, Err(Error::InvalidArguments { .. })), "{got:?}");
}

#[tokio::test]
async fn an_unreachable_api_is_transient_and_retryable() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let closed = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), document().to_string()).unwrap();
    let mut cfg = config(file.path().to_str().unwrap());
    cfg.base_url = Some(closed);
    let source = connect(&cfg).await.unwrap();
    let got = call(&source, "billing.text", json!({}), T, None, &ExecutionContext::new()).await;
    assert_eq!(tool_error(got), (ToolErrorKind::Transient, true, None, Value::Null));
}

#[tokio::test]
async fn tls_to_a_plain_http_port_is_a_transient_error() {
    let server = serve().await;
    let mut cfg = config(&format!("{}/openapi.json", server.base));
    cfg.base_url = Some(server.base.replace("http://", "https://"));
    let source = connect(&cfg).await.unwrap();
    let got = call(&source, "billing.text", json!({}), T, None, &ExecutionContext::new()).await;
    assert_eq!(tool_error(got), (ToolErrorKind::Transient, true, None, Value::Null));
}

#[tokio::test]
async fn bad_documents_are_configuration_errors_naming_the_upstream() {
    let server = serve().await;
    let at = |path: &str| config(&format!("{}{path}", server.base));
    for (cfg, expect) in [
        (at("/nope.json"), "404"),
        (at("/garbage.json"), "not JSON"),
        (config("/surely/not/here/openapi.yaml"), "/surely/not/here/openapi.yaml"),
    ] {
        let message = configuration_error(connect(&cfg).await);
        assert!(message.contains("upstream 'billing'") && message.contains(expect), "{message}");
    }

    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, doc: &Value| {
        let path = dir.path().join(name);
        std::fs::write(&path, doc.to_string()).unwrap();
        path.to_str().unwrap().to_string()
    };
    let mut duplicate = document();
    duplicate["paths"]["/text"]["get"]["operationId"] = json!("getItem");
    let message = configuration_error(connect(&config(&write("dup.json", &duplicate))).await);
    assert!(message.contains("billing") && message.contains("getItem"), "{message}");

    let relative_servers = write("doc.json", &document());
    let message = configuration_error(connect(&config(&relative_servers)).await);
    assert!(message.contains("billing") && message.contains("base URL"), "{message}");

    let mut cfg = config(&format!("{}/openapi.json", server.base));
    cfg.headers.insert("Authorization".into(), "env:TOOLHOST_SURELY_UNSET_BILLING_TOKEN".into());
    let message = configuration_error(connect(&cfg).await);
    assert!(
        message.contains("billing") && message.contains("TOOLHOST_SURELY_UNSET_BILLING_TOKEN"),
        "{message}"
    );
}
