//! Hostile and broken plugin files (resilience.md §8 A): each gets a typed
//! load error naming the file, and every other plugin still loads and answers.

use crate::common::*;
use crate::fixtures;
use serde_json::json;
use toolhost::{ErrorCode, PluginState};

/// Loads `bad` beside a good plugin and returns the bad one's first error.
async fn load_beside_good(bad: &[u8]) -> (toolhost::Host, toolhost::Error, Folder) {
    let f = Folder::new();
    f.wasm("good", &hostile()).wasm("bad", bad);
    let host = f.host().await;
    assert_loaded(&host, "good");
    bystander_ok(&host).await;
    let errs = load_errors(&host, "bad");
    assert_eq!(errs.len(), 1, "{errs:?}");
    let st = host.catalog().plugins().iter().find(|p| p.name == "bad").unwrap().state;
    assert_eq!(st, PluginState::Failed);
    (host, errs[0].clone(), f)
}

#[tokio::test]
async fn random_bytes_are_not_a_plugin() {
    let (_h, e, _f) = load_beside_good(&fixtures::random_bytes()).await;
    assert_eq!(e.code(), ErrorCode::PluginLoadFailed);
    assert!(e.to_string().contains("bad magic"), "{e}");
    assert!(e.to_string().contains("bad.wasm"), "the error names the file: {e}");
}

#[tokio::test]
async fn an_empty_file_is_not_a_plugin() {
    let (_h, e, _f) = load_beside_good(&fixtures::empty()).await;
    assert_eq!(e.code(), ErrorCode::PluginLoadFailed);
    assert!(e.to_string().contains("empty"), "{e}");
}

#[tokio::test]
async fn a_truncated_component_is_refused_with_the_parser_error() {
    let (_h, e, _f) = load_beside_good(&fixtures::truncated(&hostile())).await;
    assert_eq!(e.code(), ErrorCode::PluginLoadFailed);
    assert!(e.to_string().contains("invalid component"), "{e}");
}

#[tokio::test]
async fn a_core_module_gets_a_helpful_message() {
    let (_h, e, _f) = load_beside_good(&fixtures::core_module()).await;
    assert_eq!(e.code(), ErrorCode::IncompatiblePlugin);
    assert!(e.to_string().contains("core module"), "{e}");
}

#[tokio::test]
async fn wat_text_is_never_parsed() {
    let (_h, e, _f) = load_beside_good(&fixtures::wat_text()).await;
    assert_eq!(e.code(), ErrorCode::PluginLoadFailed);
    assert!(e.to_string().contains("WAT"), "{e}");
}

#[tokio::test]
async fn another_contract_version_is_incompatible() {
    let (_h, e, _f) = load_beside_good(&fixtures::wrong_version()).await;
    assert_eq!(e.code(), ErrorCode::IncompatiblePlugin, "{e}");
    assert!(e.to_string().contains("toolhost:plugin"), "{e}");
}

#[tokio::test]
async fn another_contract_version_of_the_host_api_is_incompatible() {
    let (_h, e, _f) = load_beside_good(&fixtures::wrong_version_importing_host()).await;
    assert_eq!(e.code(), ErrorCode::IncompatiblePlugin, "{e}");
    assert!(e.to_string().contains("toolhost:plugin/host@0.3.0"), "{e}");
}

#[tokio::test]
async fn another_world_is_incompatible() {
    for bytes in [fixtures::wrong_world(), fixtures::empty_world()] {
        let (_h, e, _f) = load_beside_good(&bytes).await;
        assert_eq!(e.code(), ErrorCode::IncompatiblePlugin, "{e}");
    }
}

#[tokio::test]
async fn unknown_imports_are_listed() {
    let (_h, e, _f) = load_beside_good(&fixtures::unknown_import()).await;
    assert_eq!(e.code(), ErrorCode::ForbiddenImport, "{e}");
    assert!(e.to_string().contains("evil:net/raw@1.0.0"), "{e}");
}

#[tokio::test]
async fn network_imports_can_be_refused_at_load() {
    let f = Folder::new();
    f.wasm("h", &hostile()).wasm("m", &fixtures::minimal_plugin());
    let mut cfg = f.config();
    cfg.runtime.deny_network_imports = true;
    let host = toolhost::Host::builder().config(cfg).build().await.unwrap();
    // The hostile guest links Rust std's sockets; the minimal plugin imports nothing.
    let errs = load_errors(&host, "h");
    assert_eq!(errs[0].code(), ErrorCode::ForbiddenImport, "{errs:?}");
    assert!(errs[0].to_string().contains("wasi:sockets"), "{}", errs[0]);
    assert_loaded(&host, "m");
}

#[tokio::test]
async fn a_huge_table_is_refused_by_the_limiter() {
    let (_h, e, _f) = load_beside_good(&fixtures::huge_table()).await;
    assert_eq!(e.code(), ErrorCode::ResourceExhausted, "{e}");
}

#[tokio::test]
async fn a_huge_initial_memory_is_refused_by_the_limiter() {
    let (_h, e, _f) = load_beside_good(&fixtures::huge_memory()).await;
    assert_eq!(e.code(), ErrorCode::ResourceExhausted, "{e}");
}

#[tokio::test]
async fn precompiled_code_in_the_plugin_folder_is_refused() {
    let f = Folder::new();
    f.wasm("good", &hostile()).file("evil.cwasm", b"\x7fELF pretend this is machine code");
    let host = f.host().await;
    assert_loaded(&host, "good");
    let errs = load_errors(&host, "evil.cwasm");
    assert_eq!(errs[0].code(), ErrorCode::PluginLoadFailed);
    assert!(errs[0].to_string().contains("never loaded"), "{}", errs[0]);
}

#[tokio::test]
async fn oversized_files_are_refused_before_reading() {
    let f = Folder::new();
    f.wasm("good", &hostile()).wasm("big", &vec![0u8; 2 * 1024 * 1024]);
    let mut cfg = f.config();
    cfg.runtime.max_plugin_mib = 1;
    let host = toolhost::Host::builder().config(cfg).build().await.unwrap();
    assert_loaded(&host, "good");
    let errs = load_errors(&host, "big");
    assert!(errs[0].to_string().contains("limit"), "{}", errs[0]);
}

#[tokio::test]
async fn tool_names_with_paths_globs_or_control_characters_are_refused() {
    for name in ["../etc", "a*b", "a\nb", &"x".repeat(65)] {
        let (_h, e, _f) = load_beside_good(&fixtures::describe_bad_name(name)).await;
        assert_eq!(e.code(), ErrorCode::PluginLoadFailed, "{name:?}: {e}");
        assert!(e.to_string().contains("not allowed"), "{name:?}: {e}");
    }
}

#[tokio::test]
async fn a_tool_described_twice_is_refused() {
    let (_h, e, _f) = load_beside_good(&fixtures::describe_tools(&["one", "two", "one"])).await;
    assert!(e.to_string().contains("described twice"), "{e}");
}

#[tokio::test]
async fn two_plugins_claiming_one_tool_serve_neither_and_name_both() {
    let f = Folder::new();
    f.wasm("alpha", &fixtures::describe_tools(&["shared", "only_alpha"]))
        .wasm("beta", &fixtures::describe_tools(&["shared", "only_beta"]));
    let host = f.host().await;
    let names: Vec<String> = host.tools(None).iter().map(|t| t.tool.name.clone()).collect();
    assert_eq!(names, ["only_alpha", "only_beta"]);
    for p in ["alpha", "beta"] {
        let errs = load_errors(&host, p);
        assert_eq!(errs.len(), 1, "{errs:?}");
        let msg = errs[0].to_string();
        assert!(msg.contains("shared") && msg.contains("alpha") && msg.contains("beta"), "{msg}");
    }
    let err = call(&host, "shared", json!({})).await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::ToolNotFound);
    // Deterministic: a second load gives the same verdict.
    let again = f.host().await;
    assert_eq!(again.tools(None).len(), 2);
}

#[tokio::test]
async fn a_minimal_hand_written_component_works() {
    let f = Folder::new();
    f.wasm("m", &fixtures::minimal_plugin());
    let host = f.host().await;
    assert_loaded(&host, "m");
    let r = call(&host, "echo", json!({"a": [1, 2]})).await.unwrap();
    assert_eq!(r.output.value, Some(json!({"a": [1, 2]})));
}
