//! Prometheus metrics of calls, the cache, retries and plugin loads, served as
//! text at `GET /metrics`. The registry is process-wide and lock-free: a
//! series whose labels are fixed (cache hit/miss, rate limit allowed or not,
//! plugin loads) is a static atomic; a series labelled with tool, tenant, …
//! is found in a family (`series.rs`) without allocating or locking, and is
//! updated with atomics only. A finished call does one lookup: its
//! `tool_executions_total` series points at the tool's histograms.
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
//! | `tenant_quota_used`, `tenant_quota_limit` | gauge | `tenant`, `quota`: use of each set `[tenants.NAME.quota]` (in flight, in the open window, held) and its limit |
//! | `toolhost_audit_records_total` | counter | `result` (`written`, `dropped`: the writer's queue was full, `failed`: the file could not be written) |
//!
//! Gauges are read from the host when `/metrics` is scraped (`toolhost::observe::metrics::render_host`).
//!
//! `tenant` is `_` when tenant labels are off (`[metrics] tenant_labels = false`).

mod series;

use crate::call::CallResult;
use serde::{Deserialize, Serialize};
use series::{Bounds, Counter, Family, Histogram, HistogramSnapshot};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, Ordering};

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

/// The series of one tool (label `tool`).
#[derive(Debug)]
struct ToolSeries {
    duration: Histogram,
    retries: Counter,
    fuel: Histogram,
    memory: Histogram,
}

impl ToolSeries {
    fn new() -> Self {
        ToolSeries {
            duration: Histogram::new(&DURATION_BOUNDS),
            retries: Counter::new(),
            fuel: Histogram::new(&FUEL_BOUNDS),
            memory: Histogram::new(&MEMORY_BOUNDS),
        }
    }
}

/// One `tool_executions_total` series, with its tool's series.
#[derive(Debug)]
struct Execution {
    calls: Counter,
    tool: &'static ToolSeries,
}

/// `tool_executions_total` by `tool`, `namespace`, `source`, `tenant`, `status`.
static EXECUTIONS: Family<Execution, 1024> = Family::new();
/// The per-tool series by `tool`.
static TOOLS: Family<ToolSeries, 256> = Family::new();
/// `toolhost_redis_fallbacks_total` by `operation`.
static REDIS_FALLBACKS: Family<Counter, 8> = Family::new();
/// `tool_cache_operations_total{operation="get"}`: hit, miss.
static CACHE_GETS: [Counter; 2] = [Counter::new(), Counter::new()];
/// `tool_rate_limit_checks_total`: allowed false, true.
static RATE_LIMIT_CHECKS: [Counter; 2] = [Counter::new(), Counter::new()];
/// `toolhost_compile_cache_total`: hit, miss.
static COMPILE_CACHE: [Counter; 2] = [Counter::new(), Counter::new()];
/// `toolhost_plugin_loads_total`: failed, loaded, removed.
static PLUGIN_LOADS: [Counter; 3] = [Counter::new(), Counter::new(), Counter::new()];
/// `toolhost_audit_records_total`: dropped, failed, written.
static AUDIT_RECORDS: [Counter; 3] = [Counter::new(), Counter::new(), Counter::new()];
static TENANT_LABELS: AtomicBool = AtomicBool::new(true);

/// Seconds, observed in nanoseconds.
static DURATION_BOUNDS: Bounds = Bounds {
    le: &[
        500_000,
        1_000_000,
        2_500_000,
        5_000_000,
        10_000_000,
        25_000_000,
        50_000_000,
        100_000_000,
        250_000_000,
        500_000_000,
        1_000_000_000,
        2_500_000_000,
        5_000_000_000,
        10_000_000_000,
        30_000_000_000,
    ],
    per_unit: 1e9,
};
static FUEL_BOUNDS: Bounds = Bounds {
    le: &[10_000, 100_000, 1_000_000, 10_000_000, 100_000_000, 1_000_000_000, 10_000_000_000],
    per_unit: 1.0,
};
static MEMORY_BOUNDS: Bounds =
    Bounds { le: &[65536, 1048576, 4194304, 16777216, 67108864, 268435456], per_unit: 1.0 };

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
    ("toolhost_audit_records_total", "counter", "Audit records written, dropped (queue full) or failed"),
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
    "tenant_quota_used",
    "tenant_quota_limit",
    "toolhost_audit_records_total",
];

/// Applies `[metrics]` (process-wide, like the registry).
pub fn configure(cfg: &MetricsConfig) {
    TENANT_LABELS.store(cfg.tenant_labels, Ordering::Relaxed);
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
    let labels = [res.tool.as_str(), namespace.unwrap_or(""), source, tenant, status];
    let exec = EXECUTIONS.get_or_insert(&labels, || Execution {
        calls: Counter::new(),
        tool: TOOLS.get_or_insert(&[res.tool.as_str()], ToolSeries::new),
    });
    exec.calls.add(1);
    let tool = exec.tool;
    tool.duration.observe(u64::try_from(res.duration.as_nanos()).unwrap_or(u64::MAX));
    if res.attempts > 1 {
        tool.retries.add(u64::from(res.attempts - 1));
    }
    if let Some(st) = &res.stats {
        if let Some(fuel) = st.fuel_used {
            tool.fuel.observe(fuel);
        }
        tool.memory.observe(st.memory_peak);
    }
}

/// A result-cache lookup.
pub fn cache_get(hit: bool) {
    if !super::enabled() {
        return;
    }
    CACHE_GETS[usize::from(!hit)].add(1);
}

/// One rate-limit admission decision.
pub fn rate_limit_check(allowed: bool) {
    if !super::enabled() {
        return;
    }
    RATE_LIMIT_CHECKS[usize::from(allowed)].add(1);
}

/// A Redis operation failed and its local fallback answered (miss, local rate limiter, …).
pub fn redis_fallback(operation: &'static str) {
    REDIS_FALLBACKS.get_or_insert(&[operation], Counter::new).add(1);
}

/// One audit record `written`, `dropped` (the writer's queue was full) or
/// `failed` (the file could not be written).
pub fn audit_record(result: &str) {
    let i = match result {
        "dropped" => 0,
        "failed" => 1,
        _ => 2,
    };
    AUDIT_RECORDS[i].add(1);
}

/// The count of audit records with `result` (`written`, `dropped`, `failed`).
pub fn audit_records(result: &str) -> u64 {
    let i = match result {
        "dropped" => 0,
        "failed" => 1,
        _ => 2,
    };
    AUDIT_RECORDS[i].get()
}

/// A plugin compilation avoided (`hit`: loaded from the compile cache) or done.
pub fn compile_cache(hit: bool) {
    COMPILE_CACHE[usize::from(!hit)].add(1);
}

/// Plugins loaded, failed and removed by one registry change.
pub fn plugin_loads(loaded: usize, failed: usize, removed: usize) {
    for (counter, n) in PLUGIN_LOADS.iter().zip([failed, loaded, removed]) {
        counter.add(n as u64);
    }
}

/// Per-tool call counts and latency quantiles (from the duration histogram:
/// a quantile is the upper bound of the bucket holding it), busiest first.
pub fn tool_totals() -> Vec<super::live::ToolTotals> {
    let mut by_tool: BTreeMap<&str, (super::live::ToolTotals, &ToolSeries)> = BTreeMap::new();
    for (labels, exec) in EXECUTIONS.series() {
        let (t, _) = by_tool.entry(&labels[0]).or_insert_with(|| (Default::default(), exec.tool));
        let n = exec.calls.get();
        t.calls += n;
        if &*labels[4] != "success" {
            t.errors += n;
        }
    }
    let mut v: Vec<_> = by_tool
        .into_iter()
        .map(|(tool, (mut t, series))| {
            t.tool = tool.to_string();
            let h = series.duration.snapshot();
            if h.count > 0 {
                t.p50_ms = quantile_ms(&h, 0.5);
                t.p95_ms = quantile_ms(&h, 0.95);
                t.mean_ms = Some(h.sum / h.count as f64 * 1e3);
            }
            t
        })
        .collect();
    v.sort_by(|a, b| b.calls.cmp(&a.calls).then_with(|| a.tool.cmp(&b.tool)));
    v
}

/// The upper bound of the bucket holding quantile `q` of a duration
/// histogram, in milliseconds; `None` beyond the last bound.
fn quantile_ms(h: &HistogramSnapshot, q: f64) -> Option<f64> {
    let rank = (q * h.count as f64).ceil().max(1.0) as u64;
    let mut seen = 0;
    for (b, c) in h.bounds.le.iter().zip(&h.counts) {
        seen += c;
        if seen >= rank {
            return Some(h.bounds.exported(*b) * 1e3);
        }
    }
    None
}

/// `{name="value",…}` (values escaped), or nothing without labels.
fn labels_text(names: &[&str], values: &[Box<str>], extra: Option<(&str, &str)>) -> String {
    let mut parts: Vec<String> =
        names.iter().zip(values).map(|(k, v)| format!("{k}=\"{}\"", escape(v))).collect();
    if let Some((k, v)) = extra {
        parts.push(format!("{k}=\"{v}\""));
    }
    if parts.is_empty() { String::new() } else { format!("{{{}}}", parts.join(",")) }
}

/// A Prometheus label value, escaped.
pub fn escape(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

/// The samples of one histogram series: cumulative buckets, `+Inf`, sum, count.
fn render_histogram(
    out: &mut String,
    name: &str,
    names: &[&str],
    values: &[Box<str>],
    h: &HistogramSnapshot,
) {
    let mut cumulative = 0;
    for (b, c) in h.bounds.le.iter().zip(&h.counts) {
        cumulative += c;
        let le = h.bounds.exported(*b).to_string();
        let _ = writeln!(out, "{name}_bucket{} {cumulative}", labels_text(names, values, Some(("le", &le))));
    }
    let _ = writeln!(out, "{name}_bucket{} {}", labels_text(names, values, Some(("le", "+Inf"))), h.count);
    let _ = writeln!(out, "{name}_sum{} {}", labels_text(names, values, None), h.sum);
    let _ = writeln!(out, "{name}_count{} {}", labels_text(names, values, None), h.count);
}

/// Counters with one fixed label, skipping those never counted.
fn render_fixed(out: &mut String, name: &str, label: &str, series: &[(&str, &Counter)]) {
    for (value, c) in series {
        let n = c.get();
        if n > 0 {
            let _ = writeln!(out, "{name}{{{label}=\"{value}\"}} {n}");
        }
    }
}

/// A per-tool histogram, for each tool that observed it.
fn render_tool_histograms(out: &mut String, name: &str, pick: fn(&ToolSeries) -> &Histogram) {
    for (labels, t) in TOOLS.series() {
        let h = pick(t).snapshot();
        if h.count > 0 {
            render_histogram(out, name, &["tool"], labels, &h);
        }
    }
}

/// The series of the metric `name` (with `# HELP`/`# TYPE` already written).
fn render_series(out: &mut String, name: &str) {
    match name {
        "tool_executions_total" => {
            let names = ["tool", "namespace", "source", "tenant", "status"];
            for (labels, exec) in EXECUTIONS.series() {
                let _ = writeln!(out, "{name}{} {}", labels_text(&names, labels, None), exec.calls.get());
            }
        }
        "tool_execution_duration_seconds" => render_tool_histograms(out, name, |t| &t.duration),
        "tool_guest_fuel" => render_tool_histograms(out, name, |t| &t.fuel),
        "tool_guest_memory_bytes" => render_tool_histograms(out, name, |t| &t.memory),
        "tool_retry_attempts_total" => {
            for (labels, t) in TOOLS.series() {
                let n = t.retries.get();
                if n > 0 {
                    let _ = writeln!(out, "{name}{} {n}", labels_text(&["tool"], labels, None));
                }
            }
        }
        "tool_cache_operations_total" => {
            for (result, c) in [("hit", &CACHE_GETS[0]), ("miss", &CACHE_GETS[1])] {
                if c.get() > 0 {
                    let _ = writeln!(out, "{name}{{operation=\"get\",result=\"{result}\"}} {}", c.get());
                }
            }
        }
        "toolhost_plugin_loads_total" => {
            let [failed, loaded, removed] = &PLUGIN_LOADS;
            render_fixed(
                out,
                name,
                "result",
                &[("failed", failed), ("loaded", loaded), ("removed", removed)],
            );
        }
        "tool_rate_limit_checks_total" => {
            let [no, yes] = &RATE_LIMIT_CHECKS;
            render_fixed(out, name, "allowed", &[("false", no), ("true", yes)]);
        }
        "toolhost_audit_records_total" => {
            let [dropped, failed, written] = &AUDIT_RECORDS;
            render_fixed(
                out,
                name,
                "result",
                &[("dropped", dropped), ("failed", failed), ("written", written)],
            );
        }
        "toolhost_compile_cache_total" => {
            let [hit, miss] = &COMPILE_CACHE;
            render_fixed(out, name, "result", &[("hit", hit), ("miss", miss)]);
        }
        "toolhost_redis_fallbacks_total" => {
            for (labels, c) in REDIS_FALLBACKS.series() {
                let _ = writeln!(out, "{name}{} {}", labels_text(&["operation"], labels, None), c.get());
            }
        }
        _ => {}
    }
}

/// Every metric in the Prometheus text exposition format (0.0.4).
pub fn render() -> String {
    let mut out = String::new();
    for (name, kind, help) in HELP {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        render_series(&mut out, name);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::call::{CallStats, ToolOutput};
    use crate::error::Error;
    use std::sync::{Arc, Barrier, Mutex};
    use std::time::Duration;

    /// Tests that count series (whose tenant label depends on the flag) or
    /// turn tenant labels off take this.
    static TENANT_FLAG: Mutex<()> = Mutex::new(());

    fn finished(
        tool: &str,
        ok: bool,
        duration: Duration,
        attempts: u32,
        stats: Option<CallStats>,
    ) -> CallResult {
        let mut r =
            CallResult::not_run(0, "c".into(), tool.into(), Error::ToolNotFound { tool: tool.into() });
        if ok {
            r.result = Ok(Arc::new(ToolOutput { value: None, content: Vec::new() }));
        }
        (r.duration, r.attempts, r.stats) = (duration, attempts, stats);
        r
    }

    fn stats(fuel: Option<u64>, memory_peak: u64) -> Option<CallStats> {
        Some(CallStats { fuel_used: fuel, memory_peak, ..CallStats::default() })
    }

    /// The sum of the samples of the lines starting with `prefix` and containing `has`.
    fn sample(text: &str, prefix: &str, has: &str) -> f64 {
        text.lines()
            .filter(|l| l.starts_with(prefix) && l.contains(has))
            .map(|l| l.rsplit(' ').next().unwrap().parse::<f64>().unwrap())
            .sum()
    }

    #[test]
    fn renders_counters_and_cumulative_histograms_with_escaped_labels() {
        let tool = "unit.\"quoted\"";
        for fuel in [5e5 as u64, 5e8 as u64, 5e10 as u64] {
            call_finished(
                &finished(tool, true, Duration::ZERO, 1, stats(Some(fuel), 1)),
                None,
                "plugin",
                "t",
            );
        }
        let text = render();
        assert!(text.contains("# TYPE tool_guest_fuel histogram"));
        let l = r#"tool="unit.\"quoted\"""#;
        assert!(
            text.contains(&format!("tool_executions_total{{{l},namespace=\"\",source=\"plugin\",")),
            "{text}"
        );
        assert!(text.contains(&format!("tool_guest_fuel_bucket{{{l},le=\"1000000\"}} 1\n")), "{text}");
        assert!(text.contains(&format!("tool_guest_fuel_bucket{{{l},le=\"1000000000\"}} 2\n")), "{text}");
        assert!(text.contains(&format!("tool_guest_fuel_bucket{{{l},le=\"10000000000\"}} 2\n")), "{text}");
        assert!(text.contains(&format!("tool_guest_fuel_bucket{{{l},le=\"+Inf\"}} 3\n")), "{text}");
        assert!(text.contains(&format!("tool_guest_fuel_count{{{l}}} 3\n")), "{text}");
        assert!(text.contains(&format!("tool_guest_fuel_sum{{{l}}} 50500500000\n")), "{text}");
        assert!(
            !text.contains(&format!("tool_retry_attempts_total{{{l}}}")),
            "no retries, no series: {text}"
        );
    }

    #[test]
    fn bucket_bounds_render_as_before() {
        let le = |b: &Bounds| b.le.iter().map(|u| b.exported(*u).to_string()).collect::<Vec<_>>().join(" ");
        assert_eq!(
            le(&DURATION_BOUNDS),
            "0.0005 0.001 0.0025 0.005 0.01 0.025 0.05 0.1 0.25 0.5 1 2.5 5 10 30"
        );
        assert_eq!(le(&FUEL_BOUNDS), "10000 100000 1000000 10000000 100000000 1000000000 10000000000");
        assert_eq!(le(&MEMORY_BOUNDS), "65536 1048576 4194304 16777216 67108864 268435456");
        // Every histogram's buckets fit.
        assert!(
            [&DURATION_BOUNDS, &FUEL_BOUNDS, &MEMORY_BOUNDS].iter().all(|b| b.le.len() <= series::MAX_BOUNDS)
        );
    }

    #[test]
    fn concurrent_updates_from_several_threads_are_exact() {
        const THREADS: usize = 4;
        const CALLS: u64 = 5_000;
        let _flag = TENANT_FLAG.lock().unwrap_or_else(|e| e.into_inner());
        let tool = "unit.concurrent";
        let before = render();
        let cache_before = sample(&before, "tool_cache_operations_total{", "result=\"hit\"");
        let rate_before = sample(&before, "tool_rate_limit_checks_total{", "allowed=\"false\"");
        let barrier = Barrier::new(THREADS);
        std::thread::scope(|s| {
            for i in 0..THREADS {
                let barrier = &barrier;
                s.spawn(move || {
                    // Every thread finds the series new at the same moment.
                    barrier.wait();
                    let res =
                        finished(tool, i % 2 == 0, Duration::from_micros(1500), 3, stats(Some(7), 1 << 20));
                    for _ in 0..CALLS {
                        call_finished(&res, Some("unit"), "plugin", "t");
                        cache_get(true);
                        rate_limit_check(false);
                    }
                });
            }
        });
        let text = render();
        let all = (THREADS as u64 * CALLS) as f64;
        let t = format!("{{tool=\"{tool}\"}}");
        let series = text.lines().filter(|l| l.starts_with("tool_executions_total{tool=\"unit.concurrent\""));
        assert_eq!(series.count(), 2, "one series per status: {text}");
        assert_eq!(sample(&text, "tool_executions_total{", "tool=\"unit.concurrent\""), all);
        assert_eq!(
            sample(&text, "tool_executions_total{tool=\"unit.concurrent\"", "status=\"TOOL_NOT_FOUND\""),
            all / 2.0,
            "{text}"
        );
        assert_eq!(sample(&text, &format!("tool_execution_duration_seconds_count{t}"), ""), all);
        assert_eq!(sample(&text, &format!("tool_execution_duration_seconds_sum{t}"), ""), all * 0.0015);
        let le = format!("tool_execution_duration_seconds_bucket{{tool=\"{tool}\",le=");
        assert_eq!(sample(&text, &le, "le=\"0.001\""), 0.0);
        assert_eq!(sample(&text, &le, "le=\"0.0025\""), all);
        assert_eq!(sample(&text, &format!("tool_retry_attempts_total{t}"), ""), all * 2.0);
        assert_eq!(sample(&text, &format!("tool_guest_fuel_sum{t}"), ""), all * 7.0);
        assert_eq!(sample(&text, &format!("tool_guest_memory_bytes_sum{t}"), ""), all * f64::from(1 << 20));
        assert_eq!(sample(&text, "tool_cache_operations_total{", "result=\"hit\"") - cache_before, all);
        assert_eq!(sample(&text, "tool_rate_limit_checks_total{", "allowed=\"false\"") - rate_before, all);
    }

    #[test]
    fn a_new_label_set_appears_in_the_render() {
        let _flag = TENANT_FLAG.lock().unwrap_or_else(|e| e.into_inner());
        let res = finished("unit.labels", true, Duration::from_millis(2), 1, None);
        call_finished(&res, Some("unit"), "plugin", "acme");
        call_finished(&res, Some("unit"), "http", "acme");
        call_finished(&res, Some("unit"), "http", "beta");
        let text = render();
        let exec = |source: &str, tenant: &str| {
            format!(
                "tool_executions_total{{tool=\"unit.labels\",namespace=\"unit\",source=\"{source}\",tenant=\"{tenant}\",status=\"success\"}} 1\n"
            )
        };
        for (source, tenant) in [("http", "acme"), ("http", "beta"), ("plugin", "acme")] {
            assert!(text.contains(&exec(source, tenant)), "{text}");
        }
        // Sorted by label values, like the map this registry replaced.
        let at = |s: String| text.find(&s).unwrap();
        assert!(
            at(exec("http", "acme")) < at(exec("http", "beta"))
                && at(exec("http", "beta")) < at(exec("plugin", "acme"))
        );
        assert!(text.contains("tool_execution_duration_seconds_count{tool=\"unit.labels\"} 3\n"), "{text}");
        assert!(!text.contains("tool_guest_fuel_count{tool=\"unit.labels\"}"), "no stats, no fuel series");
    }

    #[test]
    fn tenant_labels_off_gives_an_underscore() {
        let _flag = TENANT_FLAG.lock().unwrap_or_else(|e| e.into_inner());
        configure(&MetricsConfig { tenant_labels: false });
        call_finished(&finished("unit.tenantless", true, Duration::ZERO, 1, None), None, "plugin", "acme");
        configure(&MetricsConfig::default());
        call_finished(&finished("unit.tenantless", true, Duration::ZERO, 1, None), None, "plugin", "acme");
        let text = render();
        let line = |tenant: &str| {
            format!(
                "tool_executions_total{{tool=\"unit.tenantless\",namespace=\"\",source=\"plugin\",tenant=\"{tenant}\",status=\"success\"}} 1\n"
            )
        };
        assert!(text.contains(&line("_")), "{text}");
        assert!(text.contains(&line("acme")), "{text}");
    }

    #[test]
    fn fixed_label_counters_appear_once_counted() {
        redis_fallback("unit_op");
        redis_fallback("unit_op");
        compile_cache(true);
        plugin_loads(0, 2, 0);
        let text = render();
        assert!(text.contains("toolhost_redis_fallbacks_total{operation=\"unit_op\"} 2\n"), "{text}");
        assert!(sample(&text, "toolhost_compile_cache_total{result=\"hit\"}", "") >= 1.0, "{text}");
        assert!(sample(&text, "toolhost_plugin_loads_total{result=\"failed\"}", "") >= 2.0, "{text}");
        // Only this test counts plugin loads here: the others were never counted.
        assert!(!text.contains("toolhost_plugin_loads_total{result=\"loaded\"}"), "{text}");
        assert!(!text.contains("toolhost_compile_cache_total{result=\"miss\"}"), "{text}");
    }

    #[test]
    fn tool_totals_count_calls_errors_and_quantiles() {
        let ok = finished("unit.totals", true, Duration::from_millis(3), 1, None);
        let failed = finished("unit.totals", false, Duration::from_millis(40), 1, None);
        for _ in 0..3 {
            call_finished(&ok, None, "plugin", "t");
        }
        call_finished(&failed, None, "plugin", "t");
        let totals = tool_totals();
        let t = totals.iter().find(|t| t.tool == "unit.totals").expect("listed");
        assert_eq!((t.calls, t.errors), (4, 1));
        assert_eq!((t.p50_ms, t.p95_ms), (Some(5.0), Some(50.0)));
        assert!((t.mean_ms.unwrap() - 12.25).abs() < 1e-9, "{t:?}");
        assert!(totals.windows(2).all(|w| w[0].calls >= w[1].calls), "busiest first");
    }
}
