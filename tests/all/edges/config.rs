//! Configuration and request edges: nonsense configuration is refused at load
//! with its key path and rule (never accepted silently); per-call policy and
//! request context are checked per call; `[cache] ttl_secs` takes effect; a
//! local batch has no call cap while network routes have a named, raisable one;
//! and the request context travels (metadata in, context headers out on guest
//! HTTP, the budget enforced).

use crate::cli::bin;
use crate::common::*;
use serde_json::json;
use std::process::Command;
use std::time::Duration;
use toolhost::{CallOptions, CallRequest, Config, ErrorCode, ExecutionContext, ToolCall};

/// Bad configurations and the exact `key.path rule` each must be refused with.
const BAD: &[(&str, &str)] = &[
    // rate limits: `rate = 0` refused every call forever, `per_ms = 0` admitted everything
    (
        "[rate_limits]\nper_tenant = { rate = 0, per_ms = 1000, burst = 1 }",
        "rate_limits.per_tenant.rate must be ≥ 1",
    ),
    ("[rate_limits]\nglobal = { rate = 5, per_ms = 0, burst = 1 }", "rate_limits.global.per_ms must be ≥ 1"),
    (
        "[rate_limits.tenants.acme]\nrate = 1\nper_ms = 1000\nburst = 0",
        "rate_limits.tenants.acme.burst must be ≥ 1",
    ),
    ("[policy]\nrate_limit = { rate = 0, per_ms = 1000, burst = 1 }", "policy.rate_limit.rate must be ≥ 1"),
    (
        "[[policy.patterns]]\npattern = \"web.*\"\nrate_limit = { rate = 1, per_ms = 0, burst = 1 }",
        "policy.patterns[0].rate_limit.per_ms must be ≥ 1",
    ),
    // breakers: `open_duration_ms = 0` made a breaker that never blocks
    ("[policy]\nbreaker = { open_duration_ms = 0 }", "policy.breaker.open_duration_ms must be ≥ 1"),
    (
        "[policy.tools.\"web.fetch\"]\nbreaker = { half_open_permits = 0 }",
        "policy.tools.\"web.fetch\".breaker.half_open_permits must be ≥ 1",
    ),
    (
        "[policy]\nbreaker = { failure_rate_threshold = 150.0 }",
        "policy.breaker.failure_rate_threshold must be within (0, 100]",
    ),
    (
        "[policy]\nbreaker = { slow_call_rate_threshold = nan }",
        "policy.breaker.slow_call_rate_threshold must be within (0, 100]",
    ),
    (
        "[policy]\nbreaker = { window = { type = \"count\", size = 0 } }",
        "policy.breaker.window.size must be ≥ 1",
    ),
    (
        "[policy]\nbreaker = { window = { type = \"time\", secs = 0 } }",
        "policy.breaker.window.secs must be within 1..=3600",
    ),
    (
        "[policy]\nbreaker = { open_duration_ms = 5000, max_open_duration_ms = 1000 }",
        "policy.breaker.max_open_duration_ms must be ≥ open_duration_ms (5000)",
    ),
    (
        "[policy]\nbreaker = { failure_rate_threshold = 0.0 }",
        "policy.breaker.failure_rate_threshold must be within (0, 100]",
    ),
    ("[policy]\nbreaker = { slow_call_duration_ms = 0 }", "policy.breaker.slow_call_duration_ms must be ≥ 1"),
    (
        "[policy]\nbreaker = { max_wait_in_half_open_ms = 0 }",
        "policy.breaker.max_wait_in_half_open_ms must be ≥ 1",
    ),
    // policy timeouts, retries, cache lifetime, patterns
    ("[[policy.patterns]]\npattern = \"web.*\"\ntimeout_ms = 0", "policy.patterns[0].timeout_ms must be ≥ 1"),
    ("[[policy.patterns]]\npattern = \"[bad\"", "policy.patterns[0].pattern \"[bad\" is not a valid glob"),
    ("[policy]\ntotal_timeout_ms = 0", "policy.total_timeout_ms must be ≥ 1"),
    ("[policy]\ncache_ttl_secs = 0", "policy.cache_ttl_secs must be ≥ 1"),
    ("[policy]\nretry = { max_attempts = 0 }", "policy.retry.max_attempts must be ≥ 1"),
    ("[policy.tools.x]\nretry = { max_attempts = 0 }", "policy.tools.x.retry.max_attempts must be ≥ 1"),
    // bulkheads: `max_concurrent = 0` hung every call
    ("[bulkheads]\nglobal = { max_concurrent = 0 }", "bulkheads.global.max_concurrent must be ≥ 1"),
    ("[bulkheads]\nper_tenant = { max_concurrent = 0 }", "bulkheads.per_tenant.max_concurrent must be ≥ 1"),
    ("[bulkheads.namespaces.web]\nmax_concurrent = 0", "bulkheads.namespaces.web.max_concurrent must be ≥ 1"),
    ("[bulkheads.tools.\"x.y\"]\nmax_concurrent = 0", "bulkheads.tools.\"x.y\".max_concurrent must be ≥ 1"),
    (
        "[[bulkheads.patterns]]\npattern = \"web.*\"\nmax_concurrent = 0",
        "bulkheads.patterns[0].max_concurrent must be ≥ 1",
    ),
    (
        "[[bulkheads.patterns]]\npattern = \"{\"\nmax_concurrent = 1",
        "bulkheads.patterns[0].pattern \"{\" is not a valid glob",
    ),
    (
        "[bulkheads]\ndefault_tool = { max_concurrent = 0 }",
        "bulkheads.default_tool.max_concurrent must be ≥ 1",
    ),
    // cache, executor
    ("[cache]\nttl_secs = 0", "cache.ttl_secs must be ≥ 1"),
    ("[cache]\nmax_bytes = 0", "cache.max_bytes must be ≥ 1"),
    ("[executor]\nmax_parallel = 0", "executor.max_parallel must be ≥ 1"),
    ("[executor]\nmax_wait_ms = 0", "executor.max_wait_ms must be ≥ 1"),
    ("[serve]\nrun_wait_ms = 0", "serve.run_wait_ms must be ≥ 1"),
    ("[executor]\nretry_budget_ttl_secs = 0", "executor.retry_budget_ttl_secs must be ≥ 1"),
    ("[executor]\nretry_budget_percent = -0.5", "executor.retry_budget_percent must be a number ≥ 0"),
    ("[executor]\nretry_budget_percent = nan", "executor.retry_budget_percent must be a number ≥ 0"),
    // serve
    ("[serve]\nheader_timeout_ms = 0", "serve.header_timeout_ms must be ≥ 1"),
    ("[serve]\nbody_timeout_ms = 0", "serve.body_timeout_ms must be ≥ 1"),
    ("[serve]\nmax_body_bytes = 10", "serve.max_body_bytes must be ≥ 1024"),
    ("[serve]\nmax_message_bytes = 10", "serve.max_message_bytes must be ≥ 1024"),
    ("[serve]\ntenant = \"\"", "serve.tenant must not be empty"),
    ("[[serve.tokens]]\ntenant = \"a\"\ntoken = \"\"", "serve.tokens[0].token must not be empty"),
    ("[[serve.tokens]]\ntenant = \"\"\ntoken = \"t\"", "serve.tokens[0]: tenant is empty"),
    ("[serve]\nallowed_origins = [\"nope\"]", "serve.allowed_origins"),
    // redis
    ("[redis]\nop_timeout_ms = 0", "redis.op_timeout_ms must be ≥ 1"),
    ("[redis]\nlocal_rate_share = 0.0", "redis.local_rate_share must be within (0, 1]"),
    ("[redis]\nvisibility_timeout_ms = 10", "redis.visibility_timeout_ms must be ≥ 100"),
    ("[redis]\nrun_ttl_secs = 0", "redis.run_ttl_secs must be ≥ 1"),
    ("[redis]\nkey_prefix = \"a b\"", "redis.key_prefix must be non-empty without braces or spaces"),
    // runtime: `compile_concurrency = 0` would never compile anything
    ("[runtime]\ncompile_concurrency = 0", "runtime.compile_concurrency must be ≥ 1"),
    ("[runtime]\ndescribe_timeout_ms = 0", "runtime.describe_timeout_ms must be ≥ 1"),
    ("[runtime]\nmax_plugin_mib = 0", "runtime.max_plugin_mib must be ≥ 1"),
    ("[runtime]\npool_instances = 0", "runtime.pool_instances must be ≥ 1"),
    ("[runtime]\nepoch_tick_ms = 0", "runtime.epoch_tick_ms must be within 1..=1000"),
    ("[runtime]\nmax_wasm_stack_kib = 0", "runtime.max_wasm_stack_kib must be within 1..=2047"),
    ("[runtime]\nmax_memory_mib = 0", "runtime.max_memory_mib must be ≥ 1"),
    // defaults
    ("[defaults]\ntimeout_ms = 0", "defaults.timeout_ms must be ≥ 1"),
    ("[defaults]\nmemory_mib = 0", "defaults.memory_mib must be within 1..=512 (runtime.max_memory_mib)"),
    ("[defaults]\nfuel = 0", "defaults.fuel must be ≥ 1"),
    ("[runtime]\nfuel = false\n[defaults]\nfuel = 5", "defaults.fuel needs runtime.fuel = true"),
    ("[defaults]\noutput_bytes = 0", "defaults.output_bytes must be ≥ 1"),
    ("[defaults]\ntable_elements = 0", "defaults.table_elements must be ≥ 1"),
    ("[defaults]\ninstances = 0", "defaults.instances must be ≥ 1"),
    // tenants
    ("[tenants.acme]\ntools = [\"[bad\"]", "tenants.acme.tools"),
];

#[test]
fn every_bad_config_is_refused_naming_its_key_path_and_rule() {
    let mut accepted = vec![];
    for (toml, want) in BAD {
        match Config::from_toml(toml) {
            Ok(_) => accepted.push(format!("accepted: {toml:?} (want: {want})")),
            Err(e) => {
                assert_eq!(e.code(), ErrorCode::ConfigurationError, "{toml}: {e}");
                if !e.to_string().contains(want) {
                    accepted.push(format!("{toml:?}: message {:?} does not say {want:?}", e.to_string()));
                }
            }
        }
    }
    assert!(accepted.is_empty(), "{} of {} bad configs:\n{}", accepted.len(), BAD.len(), accepted.join("\n"));
}

#[test]
fn every_problem_is_reported_at_once() {
    let e = Config::from_toml("[cache]\nttl_secs = 0\n[executor]\nmax_parallel = 0").unwrap_err().to_string();
    assert!(
        e.contains("cache.ttl_secs must be ≥ 1") && e.contains("executor.max_parallel must be ≥ 1"),
        "{e}"
    );
}

#[test]
fn good_edge_values_are_accepted() {
    for ok in [
        "[bulkheads]\nglobal = { max_concurrent = 1, max_queue_depth = 0, acquisition_timeout_ms = 0 }",
        "[serve]\nshutdown_grace_ms = 0",
        "[policy]\nretry = { max_attempts = 1, base_ms = 0 }\nbreaker = { minimum_calls = 0, failure_rate_threshold = 100.0 }",
        "[executor]\nretry_budget_percent = 0.0\nmax_retry_after_ms = 0",
        "[redis]\ncache_lease_ms = 0", // other processes do not wait for a leader
        "[rate_limits]\nglobal = { rate = 1, per_ms = 1, burst = 1 }",
    ] {
        assert!(Config::from_toml(ok).is_ok(), "{ok}: {:?}", Config::from_toml(ok));
    }
}

/// The builder validates a config built in code too (embedders never call `from_toml`).
#[tokio::test]
async fn the_builder_refuses_a_config_built_in_code() {
    let folder = Folder::new();
    let mut cfg = folder.config();
    cfg.bulkheads.global = Some(toolhost::exec::bulkhead::Limit::concurrent(0));
    let e = toolhost::Host::builder().config(cfg).build().await.unwrap_err();
    assert_eq!(e.code(), ErrorCode::ConfigurationError);
    assert!(e.to_string().contains("bulkheads.global.max_concurrent must be ≥ 1"), "{e}");
}

#[test]
fn the_cli_exits_2_with_the_key_path_and_the_code() {
    let f = Folder::new();
    f.wasm("h", &hostile());
    let cfg = f.path().join("toolhost.toml");
    std::fs::write(&cfg, "[rate_limits]\nper_tenant = { rate = 0, per_ms = 1000, burst = 1 }\n").unwrap();
    for args in [&["list"][..], &["call", "ok", "{}"], &["run", "-"]] {
        let out = Command::new(bin())
            .args(args)
            .arg("--config")
            .arg(&cfg)
            .arg("--plugins")
            .arg(f.path())
            .arg("--cache-dir")
            .arg(shared_cache())
            .env_remove("RUST_LOG")
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains("rate_limits.per_tenant.rate must be ≥ 1"), "{args:?}: {stderr}");
        assert!(stderr.contains("CONFIGURATION_ERROR"), "{args:?}: {stderr}");
        assert!(stderr.contains("toolhost.toml"), "names the file: {stderr}");
    }
}

/// A manifest's overrides are checked when the plugin loads: the plugin is
/// refused (the others serve) with the manifest key path.
#[tokio::test]
async fn a_manifest_with_nonsense_overrides_is_refused_at_load() {
    for (manifest, want) in [
        ("[limits]\nfuel = 0", "limits.fuel must be ≥ 1"),
        ("[limits]\ntimeout_ms = 0", "limits.timeout_ms must be ≥ 1"),
        ("[limits]\ninstances = 0", "limits.instances must be ≥ 1"),
        ("[limits]\ntable_elements = 0", "limits.table_elements must be ≥ 1"),
        ("[instances]\nmode = \"warm\"\nmax_idle = 0", "instances.max_idle must be ≥ 1"),
    ] {
        let f = Folder::new();
        f.wasm("h", &hostile());
        f.manifest("h", manifest);
        let host = f.host().await;
        let errs = load_errors(&host, "h");
        assert!(
            errs.iter().any(|e| e.code() == ErrorCode::ConfigurationError && e.to_string().contains(want)),
            "{manifest}: {errs:?}"
        );
        assert!(host.tools(None).is_empty(), "the refused plugin serves nothing");
    }
}

/// Per-call policy from a request (here a DAG node and `CallRequest::timeout`)
/// is checked per call: a typed TOOL_VALIDATION_ERROR naming the field, and
/// nothing runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nonsense_per_call_policy_is_a_typed_invalid_input_error() {
    let (host, _f) = hostile_host(None).await;
    let e = host.call(CallRequest::json("ok", &json!({})).timeout(Duration::ZERO)).await.unwrap_err();
    assert_eq!(e.code(), ErrorCode::ToolValidationError, "{e}");
    assert!(e.to_string().contains("timeout_ms must be ≥ 1"), "{e}");
    let mut call = ToolCall::new("ok", "{}");
    call.policy.rate_limit =
        Some(toolhost::exec::rate_limit::Quota { rate: 0, per: Duration::from_secs(1), burst: 1 });
    let r = host.execute(&ExecutionContext::new(), call, &CallOptions::default()).await;
    let e = r.result.unwrap_err();
    assert_eq!((e.code(), r.attempts), (ErrorCode::ToolValidationError, 0), "{e}");
    assert!(e.to_string().contains("rate_limit.rate must be ≥ 1"), "{e}");
    // A DAG node's timeout and retries are per-call policy too; a huge
    // max_retries must not overflow.
    let spec: toolhost::scheduler::RunSpec = serde_json::from_value(json!({"calls": [
        {"call_id": "a", "tool": "ok", "timeout_ms": 0},
        {"call_id": "b", "tool": "ok", "max_retries": u32::MAX}
    ]}))
    .unwrap();
    let run = host.run_dag(&ExecutionContext::new(), &spec, Default::default()).await.unwrap();
    let a = run.call("a").unwrap().result.as_ref().unwrap();
    assert_eq!(a["error"]["code"], "TOOL_VALIDATION_ERROR", "{a}");
    assert!(a["error"]["message"].as_str().unwrap().contains("timeout_ms must be ≥ 1"), "{a}");
    assert_eq!(run.call("b").unwrap().result.as_ref().unwrap()["ok"], true);
}

/// A context built in code is checked like one read from headers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_request_context_is_a_typed_invalid_input_error() {
    let (host, _f) = hostile_host(None).await;
    for (ctx, want) in [
        (ExecutionContext::new().with_traceparent("nope"), "traceparent"),
        (ExecutionContext::new().with_user_id("a\r\nX-Evil: 1"), "X-User-ID"),
        (ExecutionContext::new().with_budget(-1.0), "X-Budget"),
        (ExecutionContext::new().with_max_parallel(0), "max_parallel"),
    ] {
        let r = host.execute(&ctx, ToolCall::new("ok", "{}"), &CallOptions::default()).await;
        let e = r.result.unwrap_err();
        assert_eq!((e.code(), r.attempts), (ErrorCode::ToolValidationError, 0), "{want}: {e}");
        assert!(e.to_string().contains(want), "{want}: {e}");
    }
}

/// `toolhost config check` reports a bad file like every command (exit 2, key
/// path, code); `toolhost config reference` prints the table the README holds.
#[test]
fn config_check_and_reference_commands() {
    let f = Folder::new();
    let cfg = f.path().join("toolhost.toml");
    std::fs::write(&cfg, "[bulkheads]\nglobal = { max_concurrent = 0 }\n").unwrap();
    let out = Command::new(bin()).args(["config", "check", "--config"]).arg(&cfg).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("CONFIGURATION_ERROR")
            && stderr.contains("bulkheads.global.max_concurrent must be ≥ 1")
    );
    std::fs::write(&cfg, "[bulkheads]\nglobal = { max_concurrent = 1 }\n").unwrap();
    let out = Command::new(bin()).args(["config", "check", "--config"]).arg(&cfg).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = Command::new(bin()).args(["config", "reference"]).output().unwrap();
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout), toolhost::config::reference::table());
}

/// `[cache] ttl_secs` is the lifetime of entries no policy gives one: the
/// entry Redis stores expires after it (not after a hard-coded 300 s), and a
/// tool's own `cache_ttl_secs` still wins.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cache_sections_ttl_is_the_default_entry_lifetime() {
    let redis = RedisServer::start();
    let toml = format!(
        "redis_url = \"{}\"\n[cache]\nenabled = true\nttl_secs = 7\n[policy]\ncache = true\n\
         [policy.tools.sleep_ms]\ncache_ttl_secs = 60\n",
        redis.url()
    );
    let (host, _f) = host_with(&toml).await;
    let pttl_of = |tool: &'static str, args: serde_json::Value| {
        let host = host.clone();
        let redis = &redis;
        async move {
            let before: std::collections::BTreeSet<String> = redis_keys(redis);
            let r = host
                .execute(
                    &ExecutionContext::new(),
                    ToolCall::new(tool, args.to_string()),
                    &CallOptions::default(),
                )
                .await;
            assert!(r.result.is_ok() && !r.cached, "{tool}: {r:?}");
            let new: Vec<String> = redis_keys(redis).difference(&before).cloned().collect();
            assert_eq!(new.len(), 1, "{tool}: one entry stored: {new:?}");
            redis.cli(&["PTTL", &new[0]]).trim().parse::<i64>().unwrap()
        }
    };
    let pttl = pttl_of("ok", json!({"q": 1})).await;
    assert!(pttl > 0 && pttl <= 7_000, "[cache] ttl_secs = 7 is the default lifetime, got {pttl} ms");
    let pttl = pttl_of("sleep_ms", json!({"ms": 1})).await;
    assert!(pttl > 7_000 && pttl <= 60_000, "the tool's cache_ttl_secs = 60 wins, got {pttl} ms");
}

fn redis_keys(redis: &RedisServer) -> std::collections::BTreeSet<String> {
    redis
        .cli(&["--scan", "--pattern", "toolhost:cache:*"])
        .lines()
        .filter(|l| !l.is_empty() && !l.ends_with(":lease"))
        .map(str::to_string)
        .collect()
}

/// The same with the in-memory cache: an entry is a hit within `ttl_secs` and
/// gone after it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_in_memory_entry_expires_after_the_cache_sections_ttl() {
    let (host, _f) = host_with("[cache]\nenabled = true\nttl_secs = 2\n[policy]\ncache = true\n").await;
    let (ctx, opts) = (ExecutionContext::new(), CallOptions::default());
    let run = || host.execute(&ctx, ToolCall::new("ok", r#"{"t":1}"#), &opts);
    assert!(!run().await.cached, "first call runs");
    assert!(run().await.cached, "a hit within the lifetime");
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    let third = run().await;
    assert!(!third.cached && third.attempts == 1, "expired after ttl_secs = 2: {third:?}");
}

/// `n` calls of the hostile guest's `ok` as a JSON list.
fn ok_calls(n: usize) -> String {
    let calls: Vec<serde_json::Value> =
        (0..n).map(|i| json!({"id": format!("c{i}"), "tool": "ok", "arguments": {"i": i}})).collect();
    serde_json::to_string(&calls).unwrap()
}

/// `toolhost run FILE` is a local batch job: 5,000 calls run (the input used
/// to be refused over 1,024 with no way to raise it).
#[test]
fn a_local_run_of_5000_calls_is_not_capped() {
    let f = Folder::new();
    f.wasm("h", &hostile());
    let input = f.path().join("calls.json");
    std::fs::write(&input, ok_calls(5000)).unwrap();
    let out = Command::new(bin())
        .arg("run")
        .arg(&input)
        .args(["--json", "--order", "submission", "--plugins"])
        .arg(f.path())
        .arg("--cache-dir")
        .arg(shared_cache())
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let lines: Vec<serde_json::Value> =
        String::from_utf8_lossy(&out.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 5000);
    assert!(lines.iter().all(|r| r["ok"] == true), "every call succeeded");
    assert_eq!(lines[4999]["call_id"], "c4999");
    assert_eq!(lines[4999]["value"], json!({"i": 4999}));
}

/// A running HTTP server over the hostile guest (plugin `h`).
struct Served {
    addr: std::net::SocketAddr,
    _folder: Folder,
}

async fn serve(toml: &str) -> Served {
    let folder = Folder::new();
    folder.wasm("h", &hostile());
    let mut cfg = Config::from_toml(toml).unwrap();
    cfg.plugins_dir = folder.path().to_path_buf();
    cfg.cache_dir = Some(shared_cache());
    let host = toolhost::Host::builder().config(cfg).build().await.unwrap();
    let server = toolhost_serve::HttpServer::bind(host, "127.0.0.1:0".parse().unwrap()).await.unwrap();
    let addr = server.local_addr();
    tokio::spawn(server.run(std::future::pending()));
    Served { addr, _folder: folder }
}

async fn post(s: &Served, path: &str, body: String) -> (u16, serde_json::Value) {
    let r = reqwest::Client::new().post(format!("http://{}{path}", s.addr)).body(body).send().await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

/// Network routes keep a limit, the operator's to raise: over it, 413 naming
/// the key; raised, the same batch runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_http_batch_limit_names_its_key_and_can_be_raised() {
    let s = serve("").await;
    let (status, body) = post(&s, "/v1/calls", ok_calls(1025)).await;
    assert_eq!(status, 413, "{body}");
    assert_eq!(body["error"]["code"], "TOO_MANY_CALLS");
    let msg = body["error"]["message"].as_str().unwrap();
    assert!(msg.contains("serve.max_batch_calls") && msg.contains("1024"), "{msg}");
    let (status, body) = post(&s, "/v1/calls", ok_calls(1024)).await;
    assert_eq!((status, body["results"].as_array().unwrap().len()), (200, 1024));

    let raised = serve("[serve]\nmax_batch_calls = 3000").await;
    let (status, body) = post(&raised, "/v1/calls", ok_calls(2500)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["results"].as_array().unwrap().len(), 2500);
    assert_eq!(body["ok"], true);

    // A DAG run over HTTP counts against the same key.
    let small = serve("[serve]\nmax_batch_calls = 2").await;
    let run = json!({"calls": [
        {"call_id": "a", "tool": "ok"}, {"call_id": "b", "tool": "ok"}, {"call_id": "c", "tool": "ok"}
    ]});
    let (status, body) = post(&small, "/v1/runs?wait=true", run.to_string()).await;
    assert_eq!(status, 413, "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("serve.max_batch_calls"), "{body}");
}

// ---------------------------------------------------------------------------
// The request context travels: metadata in, context headers out, the budget enforced.

const TP: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

/// `X-Meta-<key>` headers become the calls' metadata, which the guest reads.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_meta_headers_reach_the_guest() {
    let s = serve("").await;
    let r = reqwest::Client::new()
        .post(format!("http://{}/v1/calls", s.addr))
        .header("X-Meta-Ticket", "42")
        .header("x-meta-conversation", "c-7")
        .header("X-Request-ID", "req-meta")
        .body(r#"[{"tool":"ctx","arguments":{}}]"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let body: serde_json::Value = r.json().await.unwrap();
    let v = &body["results"][0]["value"];
    assert_eq!(v["metadata"]["ticket"], "42", "{body}");
    assert_eq!(v["metadata"]["conversation"], "c-7", "{body}");
    assert_eq!(v["request_id"], "req-meta");
    // A bad metadata header is the caller's error, not silently dropped.
    let r = reqwest::Client::new()
        .post(format!("http://{}/v1/calls", s.addr))
        .header("X-Meta-A", "1")
        .header("x-meta-a", "2")
        .body(r#"[{"tool":"ctx","arguments":{}}]"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
}

/// `--meta KEY=VALUE` on the command line.
#[test]
fn cli_meta_reaches_the_guest() {
    let f = Folder::new();
    f.wasm("h", &hostile());
    let out = Command::new(bin())
        .args(["call", "ctx", "{}", "--json", "--meta", "ticket=42", "--meta", "who=ops=1", "--plugins"])
        .arg(f.path())
        .arg("--cache-dir")
        .arg(shared_cache())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["value"]["metadata"], json!({"ticket": "42", "who": "ops=1"}), "{v}");
    let input = f.path().join("calls.json");
    std::fs::write(&input, r#"[{"tool":"ctx","arguments":{}}]"#).unwrap();
    let out = Command::new(bin())
        .arg("run")
        .arg(&input)
        .args(["--json", "--meta", "ticket=7", "--plugins"])
        .arg(f.path())
        .arg("--cache-dir")
        .arg(shared_cache())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["value"]["metadata"]["ticket"], "7", "{v}");
}

/// MCP `tools/call` `_meta`: `traceparent` (SEP-414) and the
/// `dev.toolhost/metadata` object reach the guest.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mcp_meta_reaches_the_guest() {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    let f = Folder::new();
    f.wasm("h", &hostile());
    let mut child = tokio::process::Command::new(bin())
        .args(["serve", "--stdio", "--no-watch", "--plugins"])
        .arg(f.path())
        .arg("--cache-dir")
        .arg(shared_cache())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let messages = [
        json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "raw", "version": "0"}}}),
        json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
        json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "ctx", "arguments": {},
            "_meta": {"traceparent": TP, "dev.toolhost/metadata": {"ticket": "42", "n": 3}}}}),
        json!({"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {"name": "ctx", "arguments": {},
            "_meta": {"traceparent": "not a traceparent"}}}),
    ];
    for m in messages {
        stdin.write_all(format!("{m}\n").as_bytes()).await.unwrap();
    }
    let mut answers = std::collections::BTreeMap::new();
    while answers.len() < 3 {
        let line =
            tokio::time::timeout(Duration::from_secs(30), lines.next_line()).await.unwrap().unwrap().unwrap();
        let msg: serde_json::Value = serde_json::from_str(&line).unwrap();
        if let Some(id) = msg["id"].as_i64() {
            answers.insert(id, msg);
        }
    }
    let v = &answers[&2]["result"]["structuredContent"];
    assert_eq!(v["traceparent"], TP, "{}", answers[&2]);
    assert_eq!(v["metadata"]["ticket"], "42");
    assert_eq!(v["metadata"]["n"], "3");
    assert!(answers[&3]["error"]["message"].as_str().unwrap().contains("traceparent"), "{}", answers[&3]);
}

/// A local HTTP server that records the head of every request it gets.
async fn recording_upstream() -> (u16, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let heads = seen.clone();
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            let heads = heads.clone();
            tokio::spawn(async move {
                let mut got = Vec::new();
                let mut buf = [0u8; 4096];
                while !got.windows(4).any(|w| w == b"\r\n\r\n") {
                    match sock.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => got.extend_from_slice(&buf[..n]),
                    }
                }
                heads.lock().unwrap().push(String::from_utf8_lossy(&got).to_lowercase());
                let _ = sock
                    .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok")
                    .await;
            });
        }
    });
    (port, seen)
}

/// The header `name` (lowercase) of a recorded request head.
fn header_of(head: &str, name: &str) -> Vec<String> {
    head.lines()
        .filter_map(|l| l.split_once(':'))
        .filter(|(k, _)| k.trim() == name)
        .map(|(_, v)| v.trim().to_string())
        .collect()
}

/// A guest's outbound HTTP request carries the call's request id, trace
/// context and remaining deadline (set by the host), never the user or tenant.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outbound_guest_requests_carry_the_request_context() {
    let (port, seen) = recording_upstream().await;
    let f = Folder::new();
    f.wasm("fetch", &std::fs::read(example_plugins().join("fetch.wasm")).unwrap());
    f.manifest(
        "fetch",
        "[limits]\ntimeout_ms = 20000\n[grants.http]\nhosts = [\"127.0.0.1\"]\nallow_http = true\n",
    );
    let host = f.host().await;
    assert_loaded(&host, "fetch");
    let ctx = ExecutionContext::new()
        .with_request_id("req-16")
        .with_correlation_id("conv-9")
        .with_traceparent(TP)
        .with_tracestate("k=v")
        .with_user_id("alice")
        .with_deadline(std::time::Instant::now() + Duration::from_secs(8));
    let args = json!({"url": format!("http://127.0.0.1:{port}/x")}).to_string();
    let r = host.execute(&ctx, ToolCall::new("web.fetch", args), &CallOptions::default()).await;
    assert!(r.result.is_ok(), "{r:?}");
    let heads = seen.lock().unwrap().clone();
    assert_eq!(heads.len(), 1, "{heads:?}");
    let head = &heads[0];
    assert_eq!(header_of(head, "x-request-id"), ["req-16"], "{head}");
    assert_eq!(header_of(head, "x-correlation-id"), ["conv-9"], "{head}");
    assert_eq!(header_of(head, "traceparent"), [TP], "{head}");
    assert_eq!(header_of(head, "tracestate"), ["k=v"], "{head}");
    let left: u64 = header_of(head, "x-deadline-seconds")[0].parse().unwrap();
    assert!((1..=8).contains(&left), "remaining seconds of the call: {left}");
    assert!(header_of(head, "x-user-id").is_empty() && header_of(head, "x-tenant-id").is_empty(), "{head}");
}

/// The same through the HTTP API: the caller's headers reach the upstream the
/// guest calls.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_callers_trace_context_travels_through_a_served_call() {
    let (port, seen) = recording_upstream().await;
    let folder = Folder::new();
    folder.wasm("fetch", &std::fs::read(example_plugins().join("fetch.wasm")).unwrap());
    folder.manifest("fetch", "[grants.http]\nhosts = [\"127.0.0.1\"]\nallow_http = true\n");
    let mut cfg = folder.config();
    cfg.watch = false;
    let host = toolhost::Host::builder().config(cfg).build().await.unwrap();
    let server = toolhost_serve::HttpServer::bind(host, "127.0.0.1:0".parse().unwrap()).await.unwrap();
    let addr = server.local_addr();
    tokio::spawn(server.run(std::future::pending()));
    let body = json!({"tool": "web.fetch", "arguments": {"url": format!("http://127.0.0.1:{port}/y")}});
    let r = reqwest::Client::new()
        .post(format!("http://{addr}/v1/calls"))
        .header("X-Request-ID", "req-http")
        .header("traceparent", TP)
        .header("X-Deadline-Seconds", "5")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v["ok"], true, "{v}");
    let head = seen.lock().unwrap()[0].clone();
    assert_eq!(header_of(&head, "x-request-id"), ["req-http"], "{head}");
    assert_eq!(header_of(&head, "traceparent"), [TP], "{head}");
    let left: u64 = header_of(&head, "x-deadline-seconds")[0].parse().unwrap();
    assert!((1..=5).contains(&left), "{left}");
}

/// `X-Budget` is a fuel ceiling per attempt: a spinning guest stops with
/// RESOURCE_EXHAUSTED (fuel) at the budget instead of running to its timeout;
/// a cheap call fits; with fuel counting off a budget is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_budget_is_enforced_as_a_fuel_ceiling() {
    let (host, _f) =
        host_with("[defaults]\ntimeout_ms = 20000\n[policy]\nretry = { max_attempts = 1 }\n").await;
    let budget = ExecutionContext::new().with_budget(5_000_000.0);
    let r = host.execute(&budget, ToolCall::new("spin", "{}"), &CallOptions::default()).await;
    let e = r.result.unwrap_err();
    assert_eq!(e.code(), ErrorCode::ResourceExhausted, "stopped by the budget, not the 20 s timeout: {e}");
    assert_eq!(e.to_json()["details"], json!({"resource": "fuel", "limit": 5_000_000}), "{e}");
    let ok = host.execute(&budget, ToolCall::new("ok", "{}"), &CallOptions::default()).await;
    assert!(ok.result.is_ok(), "{ok:?}");
    assert!(ok.stats.unwrap().fuel_used.unwrap() <= 5_000_000);
    // Over HTTP: the header.
    let s = serve("[defaults]\ntimeout_ms = 20000\n").await;
    let r = reqwest::Client::new()
        .post(format!("http://{}/v1/calls", s.addr))
        .header("X-Budget", "2000000")
        .body(r#"{"tool":"spin","arguments":{}}"#)
        .send()
        .await
        .unwrap();
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v["results"][0]["error"]["code"], "RESOURCE_EXHAUSTED", "{v}");
    assert_eq!(v["results"][0]["error"]["details"]["limit"], 2_000_000, "{v}");
    // No fuel counting: the budget cannot be enforced, so it is refused.
    let (nofuel, _g) = host_with("[runtime]\nfuel = false\n").await;
    let r = nofuel.execute(&budget, ToolCall::new("ok", "{}"), &CallOptions::default()).await;
    let e = r.result.unwrap_err();
    assert_eq!((e.code(), r.attempts), (ErrorCode::ToolValidationError, 0), "{e}");
    assert!(e.to_string().contains("runtime.fuel"), "{e}");
}
