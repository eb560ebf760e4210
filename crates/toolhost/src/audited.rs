//! The audit record of a finished call ([`Host::audit_call`]), built on the
//! calling thread from what the call already holds: hashing and writing
//! happen on the audit writer's thread.

use crate::Host;
use crate::host::Target;
use std::time::SystemTime;
use toolhost_core::audit::{AuditRecord, CallAudit};
use toolhost_core::{CallResult, DEFAULT_TENANT, ExecutionContext};

impl Host {
    /// Records `r`, a call made under `ctx` with argument text `args`.
    pub(crate) fn audit_call(&self, ctx: &ExecutionContext, args: Option<String>, r: &CallResult) {
        let tenant = ctx.tenant_id.as_deref().unwrap_or(DEFAULT_TENANT);
        let target = self.find_tool(tenant, &r.tool);
        let (source, digest) = match &target {
            Some(t @ Target::Plugin(e)) => (
                Some(toolhost_exec::Attempt::info(self, t).source),
                Some(format!("sha256:{}", e.plugin.digest)),
            ),
            Some(t @ Target::Upstream(u)) => (
                Some(toolhost_exec::Attempt::info(self, t).source),
                Some(format!("upstream:{}", u.tool.source)),
            ),
            None => (None, None),
        };
        let principal = ctx.principal.as_deref().or(self.default_principal()).map(str::to_string);
        let record = CallAudit {
            time: SystemTime::now(),
            principal,
            tenant: tenant.to_string(),
            tool: r.tool.clone(),
            call_id: r.call_id.clone(),
            request_id: ctx.request_id.clone(),
            source,
            digest,
            hosts: r.stats.as_ref().map(|s| s.hosts.clone()).unwrap_or_default(),
            arguments: args,
            result: r.result.clone(),
            attempts: r.attempts,
            cached: r.cached,
            fallback_for: r.fallback_for.clone(),
            duration: r.duration,
        };
        self.audit().record(AuditRecord::Call(Box::new(record)));
    }
}
