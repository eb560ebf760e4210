//! Prometheus metrics of calls, the cache, retries and plugin loads, served as
//! text at `GET /metrics`. A small process-wide registry (counters and
//! histograms with labels) keeps the call path to a few map updates.
//!
//! | metric | type | labels |
//! |---|---|---|
//! | `tool_executions_total` | counter | `tool`, `namespace`, `source` (`plugin`, `http`, `mcp`), `tenant`, `status` (`success` or the error code) |
//! | `tool_execution_duration_seconds` | histogram | `tool` |
//! | `tool_cache_operations_total` | counter | `operation` (`get`), `result` (`hit`, `miss`) |
//! | `tool_retry_attempts_total` | counter | `tool` (attempts after the first) |
//! | `tool_guest_fuel` | histogram | `tool` |
//! | `tool_guest_memory_bytes` | histogram | `tool` |
//! | `toolhost_plugin_loads_total` | counter | `result` (`loaded`, `failed`, `removed`) |
//! | `toolhost_compile_cache_total` | counter | `result` (`hit`: loaded from the compile cache, `miss`: compiled) |
//! | `tool_rate_limit_checks_total` | counter | `allowed` (`true`, `false`) |
//! | `tool_circuit_breaker_state` | gauge | `breaker` (`tenant:tool`): 0 closed, 1 open, 2 half-open |
//! | `tool_bulkhead_active`, `tool_bulkhead_queued` | gauge | `bulkhead` (compartment key) |
//! | `tool_bulkhead_rejected_total` | counter | `bulkhead` |
//! | `toolhost_plugins` | gauge | `state` (`loaded`, `stale`, `failed`) |
//! | `toolhost_redis_fallbacks_total` | counter | `operation` (`cache_get`, `cache_put`, `cache_lease`, `cache_release`, `rate_limit`): Redis failed, the local fallback answered |
//! | `toolhost_backend_degraded` | gauge | 1 while the shared backend (Redis) is failing, else 0 |
//! | `toolhost_upstreams` | gauge | `upstream`, `kind` (`http`, `mcp`): 1 while the source is up, else 0 |
//! | `toolhost_upstream_restarts` | gauge | `upstream`: times the source was restarted or reconnected |
//!
//! Gauges are read from the host when `/metrics` is scraped (`toolhost::observe::metrics::render_host`).
//!
//! `tenant` is `_` when tenant labels are off (`[metrics] tenant_labels = false`).

use crate::call::CallResult;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{LazyLock, Mutex};

/// `[metrics]`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct MetricsConfig {
    /// Label call metrics with the tenant (turn off for many tenants). Default: true.
    pub tenant_labels: bool,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        MetricsConfig { tenant_labels: true }
    }
}

type Labels = Vec<(&'static str, String)>;

struct Histogram {
    bounds: &'static [f64],
    counts: Vec<u64>,
    sum: f64,
    count: u64,
}

#[derive(Default)]
struct Registry {
    counters: Mutex<BTreeMap<(&'static str, Labels), u64>>,
    histograms: Mutex<BTreeMap<(&'static str, Labels), Histogram>>,
}

static REGISTRY: LazyLock<Registry> = LazyLock::new(Registry::default);
static TENANT_LABELS: AtomicBool = AtomicBool::new(true);

const DURATION_BOUNDS: &[f64] =
    &[0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];
const FUEL_BOUNDS: &[f64] = &[1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10];
const MEMORY_BOUNDS: &[f64] = &[65536.0, 1048576.0, 4194304.0, 16777216.0, 67108864.0, 268435456.0];

const HELP: &[(&str, &str, &str)] = &[
    ("tool_executions_total", "counter", "Tool calls finished, by outcome"),
    ("tool_execution_duration_seconds", "histogram", "Wall time of a call, all attempts included"),
    ("tool_cache_operations_total", "counter", "Result-cache lookups"),
    ("tool_retry_attempts_total", "counter", "Attempts after the first"),
    ("tool_guest_fuel", "histogram", "Fuel used by the last attempt of a call"),
    ("tool_guest_memory_bytes", "histogram", "Peak linear memory of the last attempt of a call"),
    ("toolhost_plugin_loads_total", "counter", "Plugin (re)loads, failures and removals"),
    ("tool_rate_limit_checks_total", "counter", "Rate-limit admissions, allowed or not"),
    ("toolhost_compile_cache_total", "counter", "Plugin compilations avoided (hit) or done (miss)"),
    ("toolhost_redis_fallbacks_total", "counter", "Redis operations that failed and took the local fallback"),
];

/// Every metric name the host exports (dashboards are checked against it).
pub const METRIC_NAMES: &[&str] = &[
    "tool_executions_total",
    "tool_execution_duration_seconds",
    "tool_cache_operations_total",
    "tool_retry_attempts_total",
    "tool_guest_fuel",
    "tool_guest_memory_bytes",
    "toolhost_plugin_loads_total",
    "tool_rate_limit_checks_total",
    "toolhost_compile_cache_total",
    "tool_circuit_breaker_state",
    "tool_bulkhead_active",
    "tool_bulkhead_queued",
    "tool_bulkhead_rejected_total",
    "toolhost_plugins",
    "toolhost_redis_fallbacks_total",
    "toolhost_backend_degraded",
    "toolhost_upstreams",
    "toolhost_upstream_restarts",
];

/// Applies `[metrics]` (process-wide, like the registry).
pub fn configure(cfg: &MetricsConfig) {
    TENANT_LABELS.store(cfg.tenant_labels, Ordering::Relaxed);
}

fn count(name: &'static str, labels: Labels, n: u64) {
    *REGISTRY.counters.lock().unwrap_or_else(|e| e.into_inner()).entry((name, labels)).or_default() += n;
}

fn observe(name: &'static str, labels: Labels, bounds: &'static [f64], v: f64) {
    let mut h = REGISTRY.histograms.lock().unwrap_or_else(|e| e.into_inner());
    let h = h.entry((name, labels)).or_insert_with(|| Histogram {
        bounds,
        counts: vec![0; bounds.len()],
        sum: 0.0,
        count: 0,
    });
    if let Some(i) = h.bounds.iter().position(|b| v <= *b) {
        h.counts[i] += 1;
    }
    h.sum += v;
    h.count += 1;
}

/// One finished call (through the executor).
pub fn call_finished(res: &CallResult, namespace: Option<&str>, source: &str, tenant: &str) {
    if !super::enabled() {
        return;
    }
    let status = match &res.result {
        Ok(_) => "success",
        Err(e) => e.code().as_str(),
    };
    let tenant = if TENANT_LABELS.load(Ordering::Relaxed) { tenant } else { "_" };
    let tool = || vec![("tool", res.tool.clone())];
    count(
        "tool_executions_total",
        vec![
            ("tool", res.tool.clone()),
            ("namespace", namespace.unwrap_or("").to_string()),
            ("source", source.to_string()),
            ("tenant", tenant.to_string()),
            ("status", status.to_string()),
        ],
        1,
    );
    observe("tool_execution_duration_seconds", tool(), DURATION_BOUNDS, res.duration.as_secs_f64());
    if res.attempts > 1 {
        count("tool_retry_attempts_total", tool(), u64::from(res.attempts - 1));
    }
    if let Some(st) = &res.stats {
        if let Some(fuel) = st.fuel_used {
            observe("tool_guest_fuel", tool(), FUEL_BOUNDS, fuel as f64);
        }
        observe("tool_guest_memory_bytes", tool(), MEMORY_BOUNDS, st.memory_peak as f64);
    }
}

/// A result-cache lookup.
pub fn cache_get(hit: bool) {
    if !super::enabled() {
        return;
    }
    let result = if hit { "hit" } else { "miss" };
    count("tool_cache_operations_total", vec![("operation", "get".into()), ("result", result.into())], 1);
}

/// One rate-limit admission decision.
pub fn rate_limit_check(allowed: bool) {
    if !super::enabled() {
        return;
    }
    count("tool_rate_limit_checks_total", vec![("allowed", allowed.to_string())], 1);
}

/// A Redis operation failed and its local fallback answered (miss, local rate limiter, …).
pub fn redis_fallback(operation: &'static str) {
    count("toolhost_redis_fallbacks_total", vec![("operation", operation.into())], 1);
}

/// Plugins (re)loaded, failed or removed.
pub fn compile_cache(hit: bool) {
    count("toolhost_compile_cache_total", vec![("result", if hit { "hit" } else { "miss" }.into())], 1);
}

/// Plugins loaded, failed and removed by one registry change.
pub fn plugin_loads(loaded: usize, failed: usize, removed: usize) {
    for (result, n) in [("loaded", loaded), ("failed", failed), ("removed", removed)] {
        if n > 0 {
            count("toolhost_plugin_loads_total", vec![("result", result.into())], n as u64);
        }
    }
}

/// Per-tool call counts and latency quantiles (from the duration histogram:
/// a quantile is the upper bound of the bucket holding it), busiest first.
pub fn tool_totals() -> Vec<super::live::ToolTotals> {
    let mut by_tool: BTreeMap<String, super::live::ToolTotals> = BTreeMap::new();
    {
        let counters = REGISTRY.counters.lock().unwrap_or_else(|e| e.into_inner());
        for ((name, labels), n) in counters.iter() {
            if *name != "tool_executions_total" {
                continue;
            }
            let get = |k: &str| labels.iter().find(|(l, _)| *l == k).map(|(_, v)| v.as_str());
            let Some(tool) = get("tool") else { continue };
            let t = by_tool.entry(tool.to_string()).or_default();
            t.calls += n;
            if get("status") != Some("success") {
                t.errors += n;
            }
        }
    }
    let histograms = REGISTRY.histograms.lock().unwrap_or_else(|e| e.into_inner());
    for ((name, labels), h) in histograms.iter() {
        if *name != "tool_execution_duration_seconds" || h.count == 0 {
            continue;
        }
        let Some((_, tool)) = labels.iter().find(|(l, _)| *l == "tool") else { continue };
        let Some(t) = by_tool.get_mut(tool) else { continue };
        let quantile = |q: f64| {
            let rank = (q * h.count as f64).ceil().max(1.0) as u64;
            let mut seen = 0;
            for (b, c) in h.bounds.iter().zip(&h.counts) {
                seen += c;
                if seen >= rank {
                    return Some(b * 1e3);
                }
            }
            None // beyond the last bound
        };
        t.p50_ms = quantile(0.5);
        t.p95_ms = quantile(0.95);
        t.mean_ms = Some(h.sum / h.count as f64 * 1e3);
    }
    let mut v: Vec<_> = by_tool
        .into_iter()
        .map(|(tool, mut t)| {
            t.tool = tool;
            t
        })
        .collect();
    v.sort_by(|a, b| b.calls.cmp(&a.calls).then_with(|| a.tool.cmp(&b.tool)));
    v
}

fn labels_text(labels: &Labels, extra: Option<(&str, String)>) -> String {
    let mut parts: Vec<String> = labels.iter().map(|(k, v)| format!("{k}=\"{}\"", escape(v))).collect();
    if let Some((k, v)) = extra {
        parts.push(format!("{k}=\"{v}\""));
    }
    if parts.is_empty() { String::new() } else { format!("{{{}}}", parts.join(",")) }
}

/// A Prometheus label value, escaped.
pub fn escape(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

/// Every metric in the Prometheus text exposition format (0.0.4).
pub fn render() -> String {
    let counters = REGISTRY.counters.lock().unwrap_or_else(|e| e.into_inner());
    let histograms = REGISTRY.histograms.lock().unwrap_or_else(|e| e.into_inner());
    let mut out = String::new();
    for (name, kind, help) in HELP {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        for ((n, labels), v) in counters.iter().filter(|((n, _), _)| n == name) {
            let _ = writeln!(out, "{n}{} {v}", labels_text(labels, None));
        }
        for ((n, labels), h) in histograms.iter().filter(|((n, _), _)| n == name) {
            let mut cumulative = 0;
            for (b, c) in h.bounds.iter().zip(&h.counts) {
                cumulative += c;
                let _ = writeln!(
                    out,
                    "{n}_bucket{} {cumulative}",
                    labels_text(labels, Some(("le", b.to_string())))
                );
            }
            let _ =
                writeln!(out, "{n}_bucket{} {}", labels_text(labels, Some(("le", "+Inf".into()))), h.count);
            let _ = writeln!(out, "{n}_sum{} {}", labels_text(labels, None), h.sum);
            let _ = writeln!(out, "{n}_count{} {}", labels_text(labels, None), h.count);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_and_cumulative_histograms() {
        count("toolhost_plugin_loads_total", vec![("result", "weird\"name".into())], 2);
        observe("tool_guest_fuel", vec![("tool", "unit.test".into())], FUEL_BOUNDS, 5e5);
        observe("tool_guest_fuel", vec![("tool", "unit.test".into())], FUEL_BOUNDS, 5e8);
        let text = render();
        assert!(text.contains("# TYPE tool_guest_fuel histogram"));
        assert!(text.contains("toolhost_plugin_loads_total{result=\"weird\\\"name\"} 2"), "{text}");
        assert!(text.contains("tool_guest_fuel_bucket{tool=\"unit.test\",le=\"1000000\"} 1"), "{text}");
        assert!(text.contains("tool_guest_fuel_bucket{tool=\"unit.test\",le=\"1000000000\"} 2"), "{text}");
        assert!(text.contains("tool_guest_fuel_bucket{tool=\"unit.test\",le=\"+Inf\"} 2"), "{text}");
        assert!(text.contains("tool_guest_fuel_count{tool=\"unit.test\"} 2"), "{text}");
    }
}
