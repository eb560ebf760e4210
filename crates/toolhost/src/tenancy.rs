//! Where tenant quotas meet the call path: admission (`concurrent_calls`,
//! `calls_per_minute`, a used-up `fuel_per_day`) around the executor, and per
//! attempt the fuel and memory caps, the warm-instance share, and fuel charged
//! to the tenant's day.

use crate::Host;
use toolhost_core::error::{Error, Resource, Result};
use toolhost_core::{CallResult, CallStats, ToolOutput};
use toolhost_exec::ToolCall;
use toolhost_exec::quota::{CallCaps, CallPermit};
use toolhost_runtime::Limits;

/// Which tenant quota, if any, set an attempt's fuel or memory limit.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Binding {
    fuel: Option<(u64, &'static str)>,
    memory: Option<u64>,
}

impl Host {
    /// The tenant's quotas before the executor: a refused call never reaches
    /// it, and its refusal is the call's result. Plain functions around the
    /// executor's future rather than an async layer of their own: a layer
    /// would move the whole call future once more on every call.
    pub(crate) fn admit_call(
        &self,
        call: &ToolCall,
        index: usize,
        tenant: &str,
    ) -> std::result::Result<CallPermit, Box<CallResult>> {
        self.quotas().admit(tenant, &call.tool).map_err(|e| {
            let call_id = call.call_id.clone().unwrap_or_default();
            tracing::info!(tenant, tool = %call.tool, code = %e.code(), error = %e, "call refused by a tenant quota");
            Box::new(CallResult::not_run(index, call_id, call.tool.clone(), e))
        })
    }

    /// A call to a tool of a plugin the tenant's registry disabled is `TOOL_DISABLED`, naming the plugin.
    pub(crate) fn name_disabled(&self, r: &mut CallResult, tenant: &str) {
        if matches!(r.result, Err(Error::ToolNotFound { .. }))
            && let Some(plugin) = self.registry().disabled_owner(tenant, &r.tool)
        {
            r.result = Err(Error::ToolDisabled { tool: r.tool.clone(), plugin });
        }
    }
}

/// The plugin's limits under the request's `X-Budget` (`budgeted`, when set)
/// and the tenant's caps: each the lower; `None` when nothing lowers them.
/// Also says which tenant quota is binding, to name it if the call hits it.
pub(crate) fn capped(plugin: &Limits, budgeted: Option<Limits>, caps: CallCaps) -> (Option<Limits>, Binding) {
    if caps == CallCaps::default() {
        return (budgeted, Binding::default());
    }
    let mut limits = budgeted.unwrap_or_else(|| plugin.clone());
    let mut binding = Binding::default();
    if let Some((fuel, quota)) = caps.fuel
        && limits.fuel.is_none_or(|f| fuel < f)
    {
        limits.fuel = Some(fuel);
        binding.fuel = Some((fuel, quota));
    }
    if let Some(mib) = caps.memory_mib
        && mib < limits.memory_mib
    {
        limits.memory_mib = mib;
        binding.memory = Some(mib);
    }
    (Some(limits), binding)
}

/// An attempt's result with a limit the tenant's quota set reported as
/// `QUOTA_EXCEEDED` (naming the quota) instead of `RESOURCE_EXHAUSTED`.
pub(crate) fn attribute(
    result: Result<ToolOutput>,
    stats: &CallStats,
    binding: Binding,
    tenant: &str,
    tool: &str,
) -> Result<ToolOutput> {
    let quota = |quota: &str, limit: u64, used: u64| Error::QuotaExceeded {
        tenant: tenant.to_string(),
        tool: tool.to_string(),
        quota: quota.to_string(),
        limit,
        used,
        retry_after_ms: None,
    };
    match (result, binding) {
        (
            Err(Error::ResourceExhausted { resource: Resource::Fuel, .. }),
            Binding { fuel: Some((f, q)), .. },
        ) => Err(quota(q, f, stats.fuel_used.unwrap_or(f))),
        (
            Err(Error::ResourceExhausted { resource: Resource::Memory, .. }),
            Binding { memory: Some(m), .. },
        ) => Err(quota("memory_per_call", m << 20, stats.memory_peak.max(m << 20))),
        (r, _) => r,
    }
}

/// The fuel an attempt burnt: its stats, or all of its limit when it ran out
/// (so a tenant's day is charged for an attempt its quota ended).
pub(crate) fn fuel_spent(result: &Result<ToolOutput>, stats: &CallStats, limits: &Limits) -> Option<u64> {
    let ran_out = matches!(result, Err(Error::ResourceExhausted { resource: Resource::Fuel, .. }));
    stats.fuel_used.or(if ran_out { limits.fuel } else { None })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lower_limit_wins_and_a_binding_quota_is_named() {
        let plugin = Limits { fuel: Some(5000), memory_mib: 128, ..Limits::default() };
        let caps = CallCaps { fuel: Some((1000, "fuel_per_call")), memory_mib: Some(256) };
        let (limits, binding) = capped(&plugin, None, caps);
        let limits = limits.unwrap();
        assert_eq!((limits.fuel, limits.memory_mib), (Some(1000), 128), "memory: the plugin's is lower");
        let exhausted =
            Err(Error::ResourceExhausted { tool: None, resource: Resource::Fuel, limit: 1000, detail: None });
        let stats = CallStats { fuel_used: Some(1000), ..CallStats::default() };
        let e = attribute(exhausted, &stats, binding, "acme", "spin").unwrap_err();
        assert_eq!(e.code(), toolhost_core::ErrorCode::QuotaExceeded);
        assert_eq!(e.to_json()["details"]["quota"], "fuel_per_call");
        // A lower X-Budget is the request's own limit, not the quota.
        let budget = Limits { fuel: Some(10), ..plugin.clone() };
        let (limits, binding) = capped(&plugin, Some(budget), caps);
        assert_eq!(limits.unwrap().fuel, Some(10));
        assert!(binding.fuel.is_none());
        assert!(capped(&plugin, None, CallCaps::default()).0.is_none());
    }
}
