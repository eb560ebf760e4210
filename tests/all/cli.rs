//! The `toolhost` binary, run as a user would (`list`, `call`, exit codes, `--json`).

use crate::common::*;
use serde_json::Value;
use std::path::PathBuf;
use std::process::{Command, Output};

/// `target/<profile>/toolhost`, built by the test command before the tests;
/// `TOOLHOST_TEST_BIN` names another build (agents sharing one target dir).
pub(crate) fn bin() -> PathBuf {
    if let Some(p) = std::env::var_os("TOOLHOST_TEST_BIN") {
        return PathBuf::from(p);
    }
    let exe = std::env::current_exe().unwrap();
    let p = exe.parent().unwrap().parent().unwrap().join("toolhost");
    assert!(
        p.exists(),
        "{} missing: run `cargo build --bin toolhost` first (the test command does)",
        p.display()
    );
    p
}

fn run(args: &[&str], folder: &Folder) -> Output {
    Command::new(bin())
        .args(args)
        .arg("--plugins")
        .arg(folder.path())
        .arg("--cache-dir")
        .arg(shared_cache())
        .env_remove("RUST_LOG")
        .output()
        .unwrap()
}

fn hostile_folder() -> Folder {
    let f = Folder::new();
    f.wasm("h", &hostile()).wasm("broken", b"not wasm");
    f
}

#[test]
fn list_json_shows_tools_schemas_and_failed_plugins() {
    let f = hostile_folder();
    let out = run(&["list", "--json"], &f);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    let tools = doc["tools"].as_array().unwrap();
    let ok = tools.iter().find(|t| t["name"] == "ok").unwrap();
    assert_eq!(ok["input_schema"]["type"], "object");
    assert_eq!(ok["plugin"], "h");
    let broken = doc["plugins"].as_array().unwrap().iter().find(|p| p["name"] == "broken").unwrap();
    assert_eq!(broken["state"], "failed");
    assert_eq!(broken["errors"][0]["code"], "PLUGIN_LOAD_FAILED");
    // The failure is also reported on stderr for people.
    assert!(String::from_utf8_lossy(&out.stderr).contains("broken"));
}

#[test]
fn list_text_shows_descriptions() {
    let out = run(&["list"], &hostile_folder());
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("spin") && text.contains("input:"), "{text}");
}

#[test]
fn call_prints_the_result_and_exits_zero() {
    let out = run(&["call", "ok", r#"{"x":1}"#], &hostile_folder());
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v, serde_json::json!({"x": 1}));
}

#[test]
fn call_json_reports_typed_errors_and_exits_non_zero() {
    let f = hostile_folder();
    let out = run(&["call", "spin", "{}", "--timeout-ms", "200", "--json"], &f);
    assert_eq!(out.status.code(), Some(1));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["ok"], false);
    assert_eq!(v["error"]["code"], "TOOL_TIMEOUT");
    assert_eq!(v["error"]["retryable"], true);

    let out = run(&["call", "nope", "{}", "--json"], &f);
    assert_eq!(out.status.code(), Some(1));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["error"]["code"], "TOOL_NOT_FOUND");

    let out = run(&["call", "ok", "{not json"], &f);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("TOOL_VALIDATION_ERROR"));
}

#[test]
fn call_json_success_carries_stats() {
    let out = run(&["call", "ok", "{}", "--json"], &hostile_folder());
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["ok"], true);
    assert!(v["stats"]["duration"].as_f64().unwrap() > 0.0);
    assert!(v["call_id"].as_str().unwrap().starts_with("call_"));
}

#[test]
fn a_bad_config_file_is_a_clear_error() {
    let f = hostile_folder();
    let cfg = f.path().join("bad.toml");
    std::fs::write(&cfg, "plugin_dir = 1").unwrap();
    let out = Command::new(bin()).args(["list", "--config"]).arg(&cfg).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("plugin_dir"));
}

#[test]
fn help_explains_the_commands() {
    let out = Command::new(bin()).arg("--help").output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("list") && text.contains("call"), "{text}");
}

#[test]
fn run_reads_provider_shapes_and_prints_json_lines() {
    let f = hostile_folder();
    let input = f.path().join("calls.json");
    std::fs::write(
        &input,
        r#"{"role":"assistant","content":[{"type":"text","text":"let me check"},
            {"type":"tool_use","id":"toolu_1","name":"ok","input":{"a":1}},
            {"type":"tool_use","id":"toolu_2","name":"trap","input":{}}]}"#,
    )
    .unwrap();
    let out = run(&["run", input.to_str().unwrap(), "--json", "--order", "submission", "--stats"], &f);
    assert_eq!(out.status.code(), Some(1), "one call failed");
    let lines: Vec<Value> =
        String::from_utf8_lossy(&out.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 2);
    assert_eq!((lines[0]["call_id"].as_str(), lines[0]["ok"].as_bool()), (Some("toolu_1"), Some(true)));
    assert_eq!(lines[0]["value"], serde_json::json!({"a": 1}));
    assert_eq!(lines[1]["error"]["code"], "TOOL_TRAPPED");
    let stats: Value =
        serde_json::from_str(String::from_utf8_lossy(&out.stderr).lines().last().unwrap()).unwrap();
    assert!(stats.get("bulkheads").is_some(), "{stats}");
}

#[test]
fn run_with_xml_tags_from_stdin() {
    use std::io::Write;
    let f = hostile_folder();
    let mut child = Command::new(bin())
        .args(["run", "-", "--plugins"])
        .arg(f.path())
        .arg("--cache-dir")
        .arg(shared_cache())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(br#"Sure. <tool name="ok" args='{"x": "y"}'/> done"#).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("ok ok") && text.contains("\"x\""), "{text}");
}

#[test]
fn bench_reports_throughput_latency_and_cost_per_call() {
    let f = hostile_folder();
    let out = run(&["bench", "ok", r#"{"n":1}"#, "--calls", "40", "--concurrency", "2", "--json"], &f);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let r: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (r["calls"].as_u64(), r["ok"].as_u64(), r["mode"].as_str()),
        (Some(40), Some(40), Some("executor"))
    );
    let l = &r["latency_us"];
    let (p50, p99, max) =
        (l["p50"].as_f64().unwrap(), l["p99"].as_f64().unwrap(), l["max"].as_f64().unwrap());
    assert!(0.0 < p50 && p50 <= p99 && p99 <= max, "{r}");
    assert!(
        r["calls_per_sec"].as_f64().unwrap() > 0.0 && r["memory_peak_bytes"]["max"].as_u64().unwrap() > 0
    );
    // Failures are counted by code, and the exit status says so.
    let out = run(&["bench", "fail", r#"{"kind":"internal"}"#, "--calls", "5", "--bare", "--json"], &f);
    assert_eq!(out.status.code(), Some(1));
    let r: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!((r["ok"].as_u64(), r["errors"]["TOOL_EXECUTION_FAILED"].as_u64()), (Some(0), Some(5)), "{r}");
    let out = run(&["bench", "no.such.tool"], &f);
    assert!(!out.status.success() && String::from_utf8_lossy(&out.stderr).contains("no tool"));
}

/// `[runtime] keep_resident_kib` takes effect: with the pool keeping a slot's
/// dirtied pages resident, a call of the same tool no longer faults its guest
/// memory back in; with 0 every call does (the pool returns it to the kernel).
#[test]
fn keep_resident_kib_keeps_guest_pages_resident_between_calls() {
    let f = hostile_folder();
    let faults = |kib: u64| {
        let cfg = f.path().join(format!("keep-{kib}.toml"));
        std::fs::write(&cfg, format!("[runtime]\nallocator = \"pooling\"\nkeep_resident_kib = {kib}\n"))
            .unwrap();
        let cfg = cfg.to_string_lossy().to_string();
        let args = ["bench", "ok", r#"{"n":1}"#, "--calls", "200", "--warmup", "20", "--json"];
        let out = run(&[&args[..], &["--config", &cfg]].concat(), &f);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let r: Value = serde_json::from_slice(&out.stdout).unwrap();
        r["minor_faults_per_call"].as_f64().unwrap()
    };
    let (kept, returned) = (faults(2048), faults(0));
    // The guest dirties a few pages of stack and heap per call (~4 faults when returned).
    assert!(returned >= 2.0 && kept * 4.0 < returned, "kept {kept}, returned {returned} faults per call");
}
