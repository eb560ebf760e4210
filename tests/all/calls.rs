//! The call path: argument validation, tenancy, and the example plugins.

use crate::common::*;
use serde_json::json;
use toolhost::{CallRequest, ErrorCode};

#[tokio::test]
async fn malformed_arguments_are_validation_errors_never_repaired() {
    let (host, _f) = hostile_host(None).await;
    for raw in [r#"{"a":"#, "{}{}", "{} thanks!", "", "[1,2]", "nul", r#"{"a":1e400}"#] {
        let err = host.call(CallRequest::new("ok", raw)).await.unwrap_err();
        assert_eq!(err.code(), ErrorCode::ToolValidationError, "{raw:?}: {err}");
        assert!(!err.retryable());
    }
    let deep = "[".repeat(200) + &"]".repeat(200);
    let err = host.call(CallRequest::new("ok", deep)).await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::ToolValidationError);
    let huge = format!("{{\"s\":\"{}\"}}", "a".repeat(toolhost::MAX_ARGUMENT_BYTES));
    let err = host.call(CallRequest::new("ok", huge)).await.unwrap_err();
    assert!(err.to_string().contains("limit"), "{err}");
}

#[tokio::test]
async fn unknown_tools_are_not_found() {
    let (host, _f) = hostile_host(None).await;
    for name in ["nope", "OK", "ok ", "../ok", "*"] {
        let err = call(&host, name, json!({})).await.unwrap_err();
        assert_eq!(err.code(), ErrorCode::ToolNotFound, "{name:?}");
    }
}

fn tenants_config(f: &Folder) -> toolhost::Config {
    let mut cfg = f.config();
    let t = toml::toml! {
        [acme]
        plugins = ["h"]
        tools = ["ok", "ctx", "spin"]
        deny_tools = ["spin"]
        [beta]
        plugins = ["m"]
    };
    cfg.tenants = t.try_into().unwrap();
    cfg
}

#[tokio::test]
async fn tenants_see_only_what_they_are_granted() {
    let f = Folder::new();
    f.wasm("h", &hostile()).wasm("m", &crate::fixtures::minimal_plugin());
    let host = toolhost::Host::builder().config(tenants_config(&f)).build().await.unwrap();
    let names = |t: &str| host.tools(Some(t)).iter().map(|e| e.tool.name.clone()).collect::<Vec<_>>();
    assert_eq!(names("acme"), ["ctx", "ok"]);
    assert_eq!(names("beta"), ["echo"]);
    assert!(names("stranger").is_empty());
    assert!(names("default").is_empty(), "once tenants are configured, unlisted ones see nothing");

    let ok = host.call(CallRequest::new("ok", "{}").tenant("acme")).await;
    assert!(ok.is_ok());
    // Another tenant's tool, a denied tool and a missing tool look the same.
    let hidden = host.call(CallRequest::new("echo", "{}").tenant("acme")).await.unwrap_err();
    let denied = host.call(CallRequest::new("spin", "{}").tenant("acme")).await.unwrap_err();
    let missing = host.call(CallRequest::new("zzzz", "{}").tenant("acme")).await.unwrap_err();
    for e in [&hidden, &denied, &missing] {
        assert_eq!(e.code(), ErrorCode::ToolNotFound);
    }
    assert_eq!(hidden.to_string().replace("echo", "X"), missing.to_string().replace("zzzz", "X"));
}
