//! The configuration reference: every key path of `toolhost.toml`, its
//! default (read from the code) and what it means.
//!
//! `toolhost config reference` prints it as the Markdown table of the README's
//! "Configuration reference"; `tests/all/docs.rs` checks both ways that the
//! README's table is exactly this one, that every key the code has is listed
//! here (a new field fails the test with the row to add), and that every
//! listed key parses at its path and changes the parsed configuration.

use serde_json::Value;
use std::collections::BTreeMap;

/// One documented key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Setting {
    /// Dotted key path in `toolhost.toml` (`rate_limits.per_tenant`).
    pub key: &'static str,
    /// A valid non-default TOML value for the key (the docs test sets it and
    /// checks that the parsed configuration changes at that path).
    pub example: &'static str,
    /// What it does (Markdown; `|` escaped as `\|`).
    pub meaning: &'static str,
}

const fn s(key: &'static str, example: &'static str, meaning: &'static str) -> Setting {
    Setting { key, example, meaning }
}

/// Every key of `toolhost.toml`, in README order.
pub const SETTINGS: &[Setting] = &[
    s("plugins_dir", r#""tools""#, "folder of `NAME.wasm` (+ `NAME.toml`)"),
    s(
        "cache_dir",
        r#""/var/cache/toolhost""#,
        "compile cache; none = `$XDG_CACHE_HOME/toolhost` or `~/.cache/toolhost`; `\"off\"` disables; must be private to the user (see \"The compile cache\")",
    ),
    s("watch", "true", "hot reload of `plugins_dir` (`toolhost serve` turns it on)"),
    s(
        "defaults.timeout_ms",
        "5000",
        "per-call wall clock (sandbox); the executor's attempt timeout when `[policy]` sets none",
    ),
    s("defaults.memory_mib", "64", "linear memory across all memories of a call"),
    s("defaults.fuel", "1000000", "CPU budget in fuel units; none = unmetered"),
    s("defaults.output_bytes", "65536", "largest result"),
    s("defaults.table_elements", "5000", "table elements per call"),
    s("defaults.instances", "16", "instances, tables and memories per call (each)"),
    s("defaults.stdio_bytes", "1024", "guest stdout/stderr kept (head + tail)"),
    s("runtime.epoch_tick_ms", "10", "deadline resolution"),
    s(
        "runtime.allocator",
        r#""on-demand""#,
        "`auto` (pooling, falls back to on-demand), `pooling`, `on-demand`",
    ),
    s("runtime.fuel", "false", "count fuel (needed for budgets)"),
    s("runtime.max_wasm_stack_kib", "256", "wasm stack"),
    s("runtime.max_memory_mib", "256", "largest memory any plugin may be granted"),
    s("runtime.pool_instances", "32", "concurrent instances in the process"),
    s(
        "runtime.keep_resident_kib",
        "512",
        "memory a pool slot keeps resident between calls (dirty pages reset in place)",
    ),
    s("runtime.deny_network_imports", "true", "refuse `wasi:sockets` and `wasi:http` importers at load"),
    s("runtime.max_plugin_mib", "16", "largest plugin file"),
    s("runtime.compile_concurrency", "1", "parallel compilations"),
    s("runtime.describe_timeout_ms", "2000", "time for `describe()` at load"),
    s(
        "tenants",
        r#"{ acme = { plugins = ["text"] } }"#,
        "empty: every tenant sees every tool; else unlisted tenants see nothing",
    ),
    s(
        "tenants.NAME.quota.concurrent_calls",
        "4",
        "the tenant's calls in flight at once; one more: `QUOTA_EXCEEDED` at once (see \"Operating tenants\")",
    ),
    s(
        "tenants.NAME.quota.calls_per_minute",
        "600",
        "the tenant's calls per 60 s window; past it `QUOTA_EXCEEDED` with `retry_after_ms` (HTTP 429)",
    ),
    s(
        "tenants.NAME.quota.fuel_per_call",
        "50000000",
        "caps each call's fuel (the lower of it and the plugin's `fuel`); needs `runtime.fuel`",
    ),
    s(
        "tenants.NAME.quota.fuel_per_day",
        "10000000000",
        "the tenant's fuel per 24 h window (also caps each call to what is left); needs `runtime.fuel`",
    ),
    s(
        "tenants.NAME.quota.memory_per_call",
        "67108864",
        "bytes (≥ 1 MiB, applied in whole MiB): caps each call's memory (the lower of it and the plugin's `memory_mib`)",
    ),
    s(
        "tenants.NAME.quota.warm_instances",
        "2",
        "warm instances the tenant's calls hold at once; beyond, calls run in fresh instances",
    ),
    s(
        "tenants.NAME.quota.cache_bytes",
        "1048576",
        "result-cache bytes of the tenant's results; more evicts its oldest (a larger result is not cached)",
    ),
    s("policy.timeout_ms", "800", "per-attempt timeout (none: the plugin's `timeout_ms`)"),
    s("policy.total_timeout_ms", "1900", "deadline across attempts and backoff"),
    s(
        "policy.retry",
        "{ max_attempts = 2 }",
        "retry policy, also per pattern and tool (none: the `policy.retry.*` defaults below)",
    ),
    s("policy.cache", "true", "cache successes of idempotent tools (none = no)"),
    s("policy.cache_ttl_secs", "60", "entry lifetime (none = `cache.ttl_secs`)"),
    s("policy.idempotent", "true", "override the tool's declaration"),
    s(
        "policy.breaker",
        "{ open_duration_ms = 5000 }",
        "circuit breaker, also per pattern and tool (none = off; fields: `policy.breaker.*` below)",
    ),
    s(
        "policy.rate_limit",
        "{ rate = 10, per_ms = 1000, burst = 5 }",
        "`{ rate, per_ms, burst }` per (tenant, tool)",
    ),
    s("policy.rate_limit_wait", "true", "wait for a token instead of rejecting (none = reject)"),
    s("policy.fallback", r#""unavailable""#, "JSON result returned once every attempt failed"),
    s(
        "policy.confirm_destructive",
        "true",
        "ask the caller to confirm (an elicitation) before a tool annotated `destructive` runs; no answer now = `INPUT_REQUIRED`, declined = `denied` (none = no; see \"Asking the user\")",
    ),
    s(
        "policy.patterns",
        r#"[{ pattern = "web.*", timeout_ms = 5000 }]"#,
        "`[[policy.patterns]] pattern = \"web.*\"` + any policy field; first match wins",
    ),
    s("policy.tools", r#"{ "x.y" = { cache = true } }"#, "`[policy.tools.\"x.y\"]` + any policy field"),
    s(
        "policy.retry.max_attempts",
        "5",
        "attempts **including** the first (chuk's `max_retries` = this − 1, accepted as an alias)",
    ),
    s("policy.retry.base_ms", "50", "full-jitter backoff: sleep ∈ [0, min(cap, base·2ⁿ))"),
    s("policy.retry.cap_ms", "200", "backoff cap"),
    s("policy.retry.retry_timeouts", "true", "retry timed-out attempts (a stuck loop loops again)"),
    s("policy.retry.retry_non_idempotent", "true", "retry tools not declared idempotent"),
    s(
        "policy.breaker.window",
        r#"{ type = "count", size = 20 }"#,
        "`consecutive`/`count` (`size`) or `time` (`secs`)",
    ),
    s("policy.breaker.minimum_calls", "10", "no verdict below this many calls (rate windows)"),
    s("policy.breaker.failure_rate_threshold", "25.0", "open at ≥ this % failures"),
    s("policy.breaker.slow_call_rate_threshold", "80.0", "open at ≥ this % slow calls"),
    s("policy.breaker.slow_call_duration_ms", "2000", "a call slower than this is slow"),
    s("policy.breaker.open_duration_ms", "5000", "first open period; × consecutive trips"),
    s("policy.breaker.max_open_duration_ms", "600000", "cap of the open period"),
    s("policy.breaker.half_open_permits", "3", "probes in half-open"),
    s("policy.breaker.max_wait_in_half_open_ms", "30000", "re-open if probes never report"),
    s("cache.enabled", "true", "the result cache exists at all"),
    s(
        "cache.ttl_secs",
        "60",
        "default entry lifetime (`policy.cache_ttl_secs` overrides it per tool, pattern or call)",
    ),
    s(
        "cache.max_bytes",
        "1048576",
        "byte budget of the in-memory cache (one result over an eighth of it may be left uncached)",
    ),
    s("rate_limits.global", "{ rate = 100, per_ms = 1000, burst = 10 }", "one bucket for the process"),
    s("rate_limits.per_tenant", "{ rate = 50, per_ms = 1000, burst = 20 }", "one bucket per tenant"),
    s(
        "rate_limits.tenants",
        "{ acme = { rate = 5, per_ms = 1000, burst = 1 } }",
        "buckets for named tenants",
    ),
    s(
        "bulkheads.global",
        "{ max_concurrent = 64 }",
        "`{ max_concurrent, max_queue_depth = 100, acquisition_timeout_ms }`",
    ),
    s("bulkheads.per_tenant", "{ max_concurrent = 8 }", "one compartment per tenant"),
    s("bulkheads.namespaces", "{ web = { max_concurrent = 4 } }", "per namespace (`web` of `web.fetch`)"),
    s("bulkheads.tools", r#"{ "web.fetch" = { max_concurrent = 2 } }"#, "per exact tool"),
    s(
        "bulkheads.patterns",
        r#"[{ pattern = "web.*", max_concurrent = 2 }]"#,
        "per glob (shared by matching tools)",
    ),
    s("bulkheads.default_tool", "{ max_concurrent = 16 }", "per tool matched by neither"),
    s("executor.max_parallel", "8", "calls of one batch at once"),
    s("executor.retry_budget_ttl_secs", "30", "retry budget window"),
    s("executor.retry_budget_min_per_sec", "2", "retries always allowed per second"),
    s("executor.retry_budget_percent", "0.5", "extra retries as a share of calls"),
    s("executor.max_retry_after_ms", "1000", "largest honoured Retry-After hint"),
    s(
        "executor.max_wait_ms",
        "5000",
        "longest wait for a rate-limit token, or for a bulkhead slot where the compartment sets no `acquisition_timeout_ms`, with or without a deadline (a deadline ends it sooner); then `TOOL_RATE_LIMITED` / `BULKHEAD_FULL`",
    ),
    s("metrics.tenant_labels", "false", "label call metrics with the tenant (`_` when off)"),
    s(
        "serve.tenant",
        r#""acme""#,
        "tenant of stdio sessions and of HTTP callers while no token is configured",
    ),
    s(
        "serve.tokens",
        r#"[{ tenant = "acme", token = "s3cret" }]"#,
        "`[[serve.tokens]]` `{tenant, token \\| token_env \\| token_sha256, admin = false, name}`; any → bearer required; `/metrics` and `/v1/stats` need an `admin = true` token; `name` is the audit trail's principal (default `token:` + 12 hex digits of its SHA-256)",
    ),
    s(
        "serve.allowed_origins",
        r#"["https://app.example.com"]"#,
        "`Origin` allow-list (403 otherwise); `:*` any port",
    ),
    s(
        "serve.allowed_hosts",
        r#"["tools.example.com"]"#,
        "`Host` allow-list; empty = loopback names on a loopback listener, any otherwise",
    ),
    s("serve.max_body_bytes", "65536", "request body limit on every route (413)"),
    s("serve.max_message_bytes", "65536", "longest MCP message on stdio (longer lines are dropped)"),
    s("serve.header_timeout_ms", "2000", "time to send request headers"),
    s("serve.body_timeout_ms", "5000", "time to send a request body (408)"),
    s("serve.shutdown_grace_ms", "0", "in-flight calls' time to finish on shutdown, then cancelled"),
    s(
        "serve.run_wait_ms",
        "5000",
        "longest `POST /v1/runs?wait=true` waits (or the request's deadline, if sooner); then 202 with the run id and status, and the run goes on",
    ),
    s(
        "serve.max_batch_calls",
        "5000",
        "most calls in one `POST /v1/calls` batch or `POST /v1/runs` run (413 beyond); `toolhost run` has no limit",
    ),
    s(
        "serve.request_state_key",
        r#""use-32-or-more-random-bytes-shared-by-replicas""#,
        "signs MCP `requestState` (2026-07-28 multi-round-trip input); the same on every replica; none = random per process",
    ),
    s(
        "serve.oauth",
        r#"{ issuer = "https://login.example.com", audience = "toolhost", jwks_url = "https://login.example.com/.well-known/jwks.json" }"#,
        "`[serve.oauth]` `{issuer, audience, jwks_url \\| jwks_file, tenant_claim = \"tenant\", algorithms = [\"RS256\", \"ES256\"], leeway_secs = 60, jwks_refresh_secs = 30, resource}`: accept this issuer's JWT access tokens too (see \"Authentication\")",
    ),
    s(
        "serve.list_ttl_ms",
        "30000",
        "how long MCP 2026-07-28 clients may reuse a tool, prompt or resource list (`ttlMs`; per tenant: `cacheScope: private`); 0 = always stale",
    ),
    s(
        "redis_url",
        r#""redis://127.0.0.1:6379/0""#,
        "shared Redis (`redis://host:port/db`, or `--redis URL` / `TOOLHOST_REDIS_URL`): result cache and rate limits shared by every process; none = all in this process",
    ),
    s("redis.op_timeout_ms", "100", "timeout of every Redis operation; past it the local fallback answers"),
    s("redis.key_prefix", r#""th""#, "prefix of every key (`toolhost:cache:{…}`, `toolhost:{rl}:…`)"),
    s(
        "redis.local_rate_share",
        "0.25",
        "share of each rate limit (rate and burst, rounded down, ≥ 1) a process uses alone while Redis is down",
    ),
    s(
        "redis.visibility_timeout_ms",
        "10000",
        "a run whose worker stopped heart-beating is reclaimed after this long",
    ),
    s("redis.run_ttl_secs", "3600", "how long run state and per-call checkpoints are kept"),
    s(
        "redis.rerun_interrupted",
        "true",
        "re-run a non-idempotent call that was in flight when its worker died",
    ),
    s(
        "redis.cache_lease_ms",
        "5000",
        "single-flight lease of a cache miss: other processes wait for its result at most this long (0: they do not wait)",
    ),
    s(
        "upstreams",
        r#"[{ name = "billing", openapi = "http://127.0.0.1:8080/openapi.json" }]"#,
        "`[[upstreams]]` `{name, command \\| url \\| openapi, headers, env, base_url, retry_on_status = [429, 502, 503, 504], max_concurrency, timeout_ms = 30000, max_response_bytes = 1048576}`: MCP servers and HTTP APIs served as `<name>.<tool>` (see \"Upstream tools\")",
    ),
    s(
        "sources",
        r#"[{ ref = "oci://127.0.0.1:5000/plugins/text:1.0", verify_key = "toolhost.pub" }]"#,
        "`[[sources]]` `{ref = \"oci://HOST[:PORT]/REPO:TAG\" \\| \"…@sha256:HEX\", verify_key = \"FILE.pub\" \\| identity = \"ISSUER=SUBJECT\", trust_root = \"trusted_root.json\" \\| insecure_unsigned = true}`: plugins pulled at start into `plugins_dir`, signature required (keyed, or keyless checked offline against `trust_root`), tag locked to its digest in `plugins_dir/toolhost.lock` (see \"Publishing and installing plugins\")",
    ),
    s(
        "audit.path",
        r#""/var/log/toolhost/audit.jsonl""#,
        "audit trail: one JSON line per tool call and per operator action, appended (created `0600`); an unwritable path stops the host at start (see \"Audit\")",
    ),
    s(
        "audit.max_bytes",
        "1048576",
        "rotate the audit file at this size (`path` → `path.1` … → `path.<keep>`); 0 = never",
    ),
    s("audit.keep", "10", "rotated audit files kept; 0 = the full file is deleted"),
    s(
        "audit.payloads",
        "true",
        "also record argument and result text and error messages (off: only their SHA-256 and the error code)",
    ),
    s(
        "audit.queue",
        "1024",
        "records waiting for the audit writer; beyond, new records are dropped and counted (`toolhost_audit_records_total{result=\"dropped\"}`), never waited for",
    ),
];

/// Keys whose value is a table the reference lists as one row (their fields
/// are described in the meaning), not field by field.
const WHOLE: &[&str] = &["policy.breaker.window"];

/// The code's default of every key path: the flattened `Config::default()`,
/// plus the fields of `policy.retry` and `policy.breaker` (unset by default;
/// these are the values a set table starts from).
pub fn defaults() -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    flatten("", &to_json(&super::Config::default()), &mut out);
    flatten("policy.retry", &to_json(&toolhost_exec::retry::RetryPolicy::default()), &mut out);
    flatten("policy.breaker", &to_json(&toolhost_exec::breaker::BreakerConfig::default()), &mut out);
    flatten("tenants.NAME.quota", &to_json(&toolhost_core::quota::QuotaConfig::default()), &mut out);
    out
}

fn to_json(v: &impl serde::Serialize) -> Value {
    serde_json::to_value(v).expect("configuration serializes to JSON")
}

fn flatten(prefix: &str, v: &Value, out: &mut BTreeMap<String, Value>) {
    match v {
        Value::Object(m) if !m.is_empty() && !WHOLE.contains(&prefix) => {
            for (k, x) in m {
                flatten(&toolhost_core::check::join(prefix, k), x, out);
            }
        }
        other => {
            out.insert(prefix.to_string(), other.clone());
        }
    }
}

/// A default as the README shows it: `none`, or compact JSON.
pub fn show(v: &Value) -> String {
    match v {
        Value::Null => "none".to_string(),
        v => v.to_string(),
    }
}

/// The README row of `setting` (its default from [`defaults`]).
pub fn row(setting: &Setting, defaults: &BTreeMap<String, Value>) -> String {
    let default = defaults.get(setting.key).map_or_else(|| "?".to_string(), show);
    format!("| `{}` | `{default}` | {} |", setting.key, setting.meaning)
}

/// The whole Markdown table (header and one row per [`SETTINGS`] entry).
pub fn table() -> String {
    let d = defaults();
    let mut out = String::from("| setting | default | meaning |\n|---|---|---|\n");
    for s in SETTINGS {
        out.push_str(&row(s, &d));
        out.push('\n');
    }
    out
}

/// Keys the code has and [`SETTINGS`] lacks, and listed keys the code does not
/// have: each a sentence saying what to change.
pub fn drift() -> Vec<String> {
    let d = defaults();
    let mut problems = vec![];
    for (key, v) in &d {
        if !SETTINGS.iter().any(|s| s.key == key) {
            problems.push(format!(
                "{key} (default {}) is not documented: add it to SETTINGS in crates/toolhost/src/config/reference.rs \
                 (key, an example value, its meaning) and this row to the README's configuration reference: \
                 | `{key}` | `{}` | … |",
                show(v),
                show(v)
            ));
        }
    }
    for s in SETTINGS.iter().filter(|s| !d.contains_key(s.key)) {
        problems.push(format!(
            "{} is documented (crates/toolhost/src/config/reference.rs) but the code has no such key",
            s.key
        ));
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reference_covers_the_code() {
        let problems = drift();
        assert!(problems.is_empty(), "{}", problems.join("\n"));
        let keys: std::collections::BTreeSet<_> = SETTINGS.iter().map(|s| s.key).collect();
        assert_eq!(keys.len(), SETTINGS.len(), "a key is listed twice");
    }

    #[test]
    fn rows_show_code_defaults() {
        let d = defaults();
        let r = row(SETTINGS.iter().find(|s| s.key == "cache.ttl_secs").unwrap(), &d);
        assert!(r.starts_with("| `cache.ttl_secs` | `300` | "), "{r}");
        assert_eq!(d["policy.breaker.window"], serde_json::json!({"size": 5, "type": "consecutive"}));
        assert!(table().contains("| `defaults.fuel` | `none` |"));
    }
}
