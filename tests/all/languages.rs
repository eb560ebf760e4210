//! Example tools in every guest language, built from source by
//! scripts/build-plugins.sh, called through the same host path as Rust tools:
//! results, typed errors, and warm instances for the interpreter guests.

use crate::common::*;
use serde_json::{Value, json};
use std::sync::OnceLock;
use toolhost::{CallRequest, ErrorCode, Host};

/// One folder with one plugin per language (Rust `text`, Python `stats`,
/// JavaScript `textkit`, C `checksum`) and their example manifests.
fn languages_folder() -> &'static Folder {
    static F: OnceLock<Folder> = OnceLock::new();
    F.get_or_init(|| {
        let f = Folder::new();
        for name in ["text", "stats", "textkit", "checksum"] {
            let dir = example_plugins();
            f.wasm(
                name,
                &std::fs::read(dir.join(format!("{name}.wasm"))).unwrap_or_else(|e| {
                    panic!("build/plugins/{name}.wasm missing ({e}): scripts/build-plugins.sh builds it")
                }),
            );
            if let Ok(m) = std::fs::read_to_string(dir.join(format!("{name}.toml"))) {
                f.manifest(name, &m);
            }
        }
        f
    })
}

async fn host() -> Host {
    let host = languages_folder().host().await;
    for p in ["text", "stats", "textkit", "checksum"] {
        assert_loaded(&host, p);
    }
    host
}

async fn value(host: &Host, tool: &str, args: Value) -> Value {
    let r = host.call(CallRequest::json(tool, &args)).await.unwrap_or_else(|e| panic!("{tool}: {e}"));
    r.output.value.clone().unwrap_or(Value::Null)
}

fn invalid_input(e: &toolhost::Error) -> bool {
    matches!(e, toolhost::Error::Tool { kind: toolhost::ToolErrorKind::InvalidInput, .. })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_language_lists_its_tools_with_schemas() {
    let host = host().await;
    let names: Vec<String> = host.tools(None).iter().map(|e| e.tool.name.clone()).collect();
    for t in [
        "text.upper",
        "py.stats",
        "py.wordfreq",
        "js.csv_parse",
        "js.markdown_table",
        "c.checksum",
        "c.hexdump",
    ] {
        assert!(names.iter().any(|n| n == t), "{t} missing from {names:?}");
    }
    for e in host.tools(None) {
        assert_eq!(e.tool.input.document["type"], "object", "{}", e.tool.name);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_tool_results_and_errors() {
    let host = host().await;
    let v = value(&host, "py.stats", json!({"numbers": [1, 2, 3, 4, 100]})).await;
    assert_eq!(
        (v["count"].as_u64(), v["median"].as_f64(), v["max"].as_f64()),
        (Some(5), Some(3.0), Some(100.0)),
        "{v}"
    );
    let v = value(&host, "py.wordfreq", json!({"text": "the cat sat on the cat mat", "top": 1})).await;
    assert_eq!(v["top"][0]["word"], "cat", "{v}");
    let e = host.call(CallRequest::json("py.stats", &json!({"numbers": []}))).await.unwrap_err();
    assert!(invalid_input(&e), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn javascript_tool_results_and_errors() {
    let host = host().await;
    let v = value(&host, "js.csv_parse", json!({"csv": "name,quote\nAda,\"Hello, \"\"world\"\"\"\n"})).await;
    assert_eq!(v["rows"][0]["quote"], "Hello, \"world\"", "{v}");
    let r = host
        .call(CallRequest::json(
            "js.markdown_table",
            &json!({"rows": [{"a": 1, "b": "x"}, {"a": 22, "b": "y"}]}),
        ))
        .await
        .unwrap();
    let table = r.output.to_text();
    assert!(table.lines().count() == 4 && table.contains("| --: |") && table.contains(" 22 |"), "{table}");
    let e = host
        .call(CallRequest::json("js.csv_parse", &json!({"csv": "a,b\n\"unterminated"})))
        .await
        .unwrap_err();
    assert!(invalid_input(&e), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn c_tool_results_and_errors() {
    let host = host().await;
    let v = value(&host, "c.checksum", json!({"text": "hello"})).await;
    // zlib.crc32(b"hello") == 907060870 == 0x3610a686
    assert_eq!(v["value"], 907060870u64, "{v}");
    let v = value(&host, "c.checksum", json!({"text": "hello", "algorithm": "adler32"})).await;
    assert_eq!(v["value"], 0x062c0215u64, "{v}");
    let e = host
        .call(CallRequest::json("c.checksum", &json!({"text": "x", "algorithm": "md5"})))
        .await
        .unwrap_err();
    // The plugin's schema rejects an unknown algorithm before any guest code runs.
    assert_eq!(e.code(), ErrorCode::ToolValidationError, "{e}");
    let r = host.call(CallRequest::json("c.hexdump", &json!({"text": "AB"}))).await.unwrap();
    assert!(r.output.to_text().contains("41 42"), "{}", r.output.to_text());
    assert_eq!(r.output.value.as_ref().unwrap()["bytes"], 2);
    for i in 0..30 {
        let v = value(&host, "c.checksum", json!({"text": format!("call {i}")})).await;
        assert!(v["value"].is_u64());
    }
}

/// The Python and JavaScript examples declare `[instances] stateless = true`,
/// so their instances are warm by default (the Rust and C ones stay fresh):
/// reused, with the same answers, and a failed call leaves nothing broken.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interpreter_examples_are_warm_by_default_and_give_the_same_answers() {
    let host = host().await;
    for _ in 0..5 {
        let v = value(&host, "py.stats", json!({"numbers": [2, 4]})).await;
        assert_eq!(v["mean"].as_f64(), Some(3.0));
        let v = value(&host, "js.csv_parse", json!({"csv": "a\n1"})).await;
        assert_eq!(v["count"], 1, "{v}");
    }
    let e = host.call(CallRequest::json("py.stats", &json!({"numbers": []}))).await.unwrap_err();
    assert!(invalid_input(&e));
    let v = value(&host, "py.stats", json!({"numbers": [5]})).await;
    assert_eq!(v["mean"].as_f64(), Some(5.0), "a failed call left no broken instance behind");
    let tools = host.tools(None);
    let warm = |plugin: &str| tools.iter().find(|e| e.plugin.name == plugin).unwrap().plugin.warm.clone();
    for plugin in ["stats", "textkit"] {
        let reused = warm(plugin).unwrap_or_else(|| panic!("{plugin} is not warm")).stats().reused;
        assert!(reused >= 4, "{plugin}: instances were reused ({reused})");
    }
    assert!(warm("text").is_none() && warm("checksum").is_none(), "Rust and C stay fresh");
}
