//! Prometheus metrics: the process-wide registry (`toolhost-core`) plus the
//! gauges read from one [`Host`](crate::Host) at scrape time.

pub use toolhost_core::observe::metrics::*;

use std::fmt::Write as _;

/// [`render`] plus gauges read from `host` now: breaker states, bulkhead
/// compartments, plugin states.
pub fn render_host(host: &crate::Host) -> String {
    use toolhost_exec::breaker::BreakerState;
    let mut out = render();
    let gauge = |out: &mut String, name: &str, kind: &str, help: &str| {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
    };
    gauge(&mut out, "tool_circuit_breaker_state", "gauge", "0 closed, 1 open, 2 half-open");
    for (key, snap) in host.executor().breakers() {
        let v = match snap.state {
            BreakerState::Closed => 0,
            BreakerState::Open => 1,
            BreakerState::HalfOpen => 2,
        };
        let _ = writeln!(
            out,
            "tool_circuit_breaker_state{{breaker=\"{}\"}} {v}",
            toolhost_core::observe::metrics::escape(&key)
        );
    }
    let stats = host.executor().bulkheads().stats();
    for (name, help, kind, get) in [
        (
            "tool_bulkhead_active",
            "Calls holding a slot",
            "gauge",
            (|s: &toolhost_exec::bulkhead::BulkheadStats| u64::from(s.active)) as fn(&_) -> u64,
        ),
        ("tool_bulkhead_queued", "Calls waiting for a slot", "gauge", |s| u64::from(s.queued)),
        ("tool_bulkhead_rejected_total", "Calls refused by a full compartment", "counter", |s| s.rejected),
    ] {
        gauge(&mut out, name, kind, help);
        for (key, s) in &stats {
            let _ = writeln!(
                out,
                "{name}{{bulkhead=\"{}\"}} {}",
                toolhost_core::observe::metrics::escape(key),
                get(s)
            );
        }
    }
    gauge(&mut out, "toolhost_plugins", "gauge", "Plugin files by load state");
    let catalog = host.catalog();
    for state in [
        toolhost_registry::PluginState::Loaded,
        toolhost_registry::PluginState::Stale,
        toolhost_registry::PluginState::Failed,
    ] {
        let n = catalog.plugins().iter().filter(|p| p.state == state).count();
        let label =
            serde_json::to_value(state).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default();
        let _ = writeln!(out, "toolhost_plugins{{state=\"{label}\"}} {n}");
    }
    gauge(&mut out, "toolhost_backend_degraded", "gauge", "1 while the shared backend (Redis) is failing");
    let degraded = host.backend_health() == crate::backend::Health::Degraded;
    let _ = writeln!(out, "toolhost_backend_degraded {}", u8::from(degraded));
    upstream_gauges(&mut out, &host.upstreams());
    quota_gauges(&mut out, host.quotas());
    out
}

/// `tenant_quota_used{tenant,quota}` and `tenant_quota_limit{tenant,quota}`
/// for every quota a tenant has (per-call caps: limit only, use 0).
fn quota_gauges(out: &mut String, quotas: &toolhost_exec::quota::Quotas) {
    use toolhost_core::observe::metrics::escape;
    let snapshot = quotas.snapshot();
    for (name, help, limit) in [
        ("tenant_quota_used", "Use of a tenant quota (in flight, in the open window, held)", false),
        ("tenant_quota_limit", "A tenant quota's limit", true),
    ] {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge");
        for (tenant, u) in &snapshot {
            let v = if limit { u.limit.unwrap_or(0) } else { u.used };
            let _ = writeln!(out, "{name}{{tenant=\"{}\",quota=\"{}\"}} {v}", escape(tenant), u.quota);
        }
    }
}

/// `toolhost_upstreams{upstream,kind}` (1 up, 0 down) and
/// `toolhost_upstream_restarts{upstream}`.
fn upstream_gauges(out: &mut String, upstreams: &[crate::upstreams::UpstreamStatus]) {
    use toolhost_core::observe::metrics::escape;
    let _ = writeln!(
        out,
        "# HELP toolhost_upstreams 1 while the upstream source is up\n# TYPE toolhost_upstreams gauge"
    );
    for u in upstreams {
        let _ = writeln!(
            out,
            "toolhost_upstreams{{upstream=\"{}\",kind=\"{}\"}} {}",
            escape(&u.name),
            u.kind,
            u8::from(u.connected)
        );
    }
    let _ = writeln!(
        out,
        "# HELP toolhost_upstream_restarts Restarts or reconnects of the upstream source\n# TYPE toolhost_upstream_restarts gauge"
    );
    for u in upstreams {
        let _ =
            writeln!(out, "toolhost_upstream_restarts{{upstream=\"{}\"}} {}", escape(&u.name), u.restarts);
    }
}
