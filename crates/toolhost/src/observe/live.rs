//! The live view's snapshot of one [`Host`](crate::Host) (for `toolhost top`
//! and `GET /v1/stats`), over the process-wide in-flight list and totals.

pub use toolhost_core::observe::live::*;

/// A snapshot of `host` and this process.
pub fn snapshot(host: &crate::Host) -> Snapshot {
    use toolhost_exec::breaker::BreakerState;
    let catalog = host.catalog();
    let breakers = host
        .executor()
        .breakers()
        .into_iter()
        .map(|(key, s)| BreakerView {
            key,
            state: match s.state {
                BreakerState::Closed => "closed",
                BreakerState::Open => "open",
                BreakerState::HalfOpen => "half_open",
            }
            .to_string(),
        })
        .collect();
    let bulkheads = host
        .executor()
        .bulkheads()
        .stats()
        .into_iter()
        .map(|(key, s)| BulkheadView { key, active: s.active, queued: s.queued, rejected: s.rejected })
        .collect();
    Snapshot {
        uptime_secs: uptime().as_secs_f64(),
        plugins: catalog
            .plugins()
            .iter()
            .filter(|p| p.state == toolhost_registry::PluginState::Loaded)
            .count(),
        tools: host.list_tools(None).len(),
        health: match host.backend_health() {
            crate::backend::Health::Ok => "ok",
            crate::backend::Health::Degraded => "degraded",
        }
        .into(),
        inflight: inflight(),
        totals: toolhost_core::observe::metrics::tool_totals(),
        breakers,
        bulkheads,
    }
}
