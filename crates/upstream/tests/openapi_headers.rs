//! Headers an OpenAPI upstream sends: the configured ones (secrets from the
//! environment) and the call's context. Its own test binary: it sets an
//! environment variable, which no other thread may read at the same time.

mod common;

use common::{call, config, serve};
use serde_json::json;
use std::time::{Duration, Instant};
use toolhost_core::ExecutionContext;
use toolhost_upstream::openapi::{CALL_ID_HEADER, connect};

const TP: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

#[tokio::test]
async fn configured_and_context_headers_reach_the_server() {
    // SAFETY: the only test of this binary, before any other thread of it runs.
    unsafe { std::env::set_var("TOOLHOST_TEST_BILLING_TOKEN", "Bearer s3cret") };
    let server = serve().await;
    let mut cfg = config(&format!("{}/openapi.json", server.base));
    cfg.headers.insert("Authorization".into(), "env:TOOLHOST_TEST_BILLING_TOKEN".into());
    cfg.headers.insert("X-Api-Version".into(), "2".into());
    let source = connect(&cfg).await.unwrap();
    assert!(!format!("{source:?}").contains("s3cret"), "{source:?}");

    let ctx = ExecutionContext::new()
        .with_request_id("req-123")
        .with_correlation_id("conv-9")
        .with_user_id("not-sent")
        .with_traceparent(TP)
        .with_deadline(Instant::now() + Duration::from_secs(60));
    let args = json!({"id": 5, "X-Note": "hello"});
    call(&source, "billing.getItem", args, Duration::from_millis(2500), None, &ctx).await.unwrap();

    let headers = server.seen.headers_of("/items/5");
    let header = |name: &str| headers.get(name).map(|v| v.to_str().unwrap().to_string());
    assert_eq!(header("authorization").as_deref(), Some("Bearer s3cret"));
    assert_eq!(header("x-api-version").as_deref(), Some("2"));
    assert_eq!(header("x-request-id").as_deref(), Some("req-123"));
    assert_eq!(header("x-correlation-id").as_deref(), Some("conv-9"));
    assert_eq!(header("traceparent").as_deref(), Some(TP));
    assert_eq!(header(CALL_ID_HEADER).as_deref(), Some("call-1"));
    assert_eq!(header("x-deadline-seconds").as_deref(), Some("3"), "the call's 2.5 s, rounded up");
    assert_eq!(header("x-note").as_deref(), Some("hello"), "a header parameter");
    assert_eq!(header("x-user-id"), None, "the user is not sent to third parties");
}
