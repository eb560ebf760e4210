//! The audit trail's vocabulary: one [`AuditRecord`] per finished tool call
//! ([`CallAudit`]) and per operator action ([`AdminAudit`]), handed to an
//! [`AuditSink`]. Nothing here does IO: the sink that writes JSON lines (with
//! rotation) or OpenTelemetry log records lives in the facade
//! (`toolhost::observe::audit`).
//!
//! A [`CallAudit`] is built on the calling thread and must be cheap: it holds
//! the raw argument text and the output by reference count; digests
//! (SHA-256) and formatting happen on the sink's own thread.

use crate::call::ToolOutput;
use crate::error::Error;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// One finished tool call, as the host saw it.
#[derive(Debug, Clone)]
pub struct CallAudit {
    /// When the call finished.
    pub time: SystemTime,
    /// Who authenticated the request (token subject, static-token name,
    /// `local` for the CLI); `None` when nobody did (an open listener).
    pub principal: Option<String>,
    /// The tenant it ran as.
    pub tenant: String,
    /// The tool asked for.
    pub tool: String,
    /// The call's id.
    pub call_id: String,
    /// The request's id.
    pub request_id: String,
    /// What serves the tool (`plugin`, `mcp`, `http`); `None`: no such tool.
    pub source: Option<&'static str>,
    /// `sha256:<hex>` of the plugin's component bytes, or `upstream:<name>`
    /// for a tool of an upstream source.
    pub digest: Option<String>,
    /// Hosts (`host:port`) the guest's outbound HTTP went to (last attempt).
    pub hosts: Vec<String>,
    /// The argument text as the caller sent it (`None`: unreadable).
    pub arguments: Option<String>,
    /// The result: the output, or the error.
    pub result: Result<Arc<ToolOutput>, Error>,
    /// Attempts made (0: refused or answered before running).
    pub attempts: u32,
    /// Answered from the result cache.
    pub cached: bool,
    /// The error a configured fallback replaced, if one did.
    pub fallback_for: Option<Error>,
    /// Wall time of the call.
    pub duration: Duration,
}

/// Which policy refused a call before (or instead of) running it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// `rate_limit`, `breaker`, `bulkhead` or `quota`.
    pub by: &'static str,
    /// The limit's key (`tool:…`, `tenant:…`, a compartment, `tenant:tool`).
    pub key: String,
}

impl CallAudit {
    /// The policy that refused the call, when one did.
    pub fn refusal(&self) -> Option<Refusal> {
        let e = self.fallback_for.as_ref().or(self.result.as_ref().err())?;
        let (by, key) = match e {
            Error::RateLimited { key, .. } => ("rate_limit", key.clone()),
            Error::CircuitOpen { tool, .. } => ("breaker", format!("{}:{tool}", self.tenant)),
            Error::BulkheadFull { key, .. } => ("bulkhead", key.clone()),
            other if other.code().as_str() == "QUOTA_EXCEEDED" => ("quota", self.tenant.clone()),
            _ => return None,
        };
        Some(Refusal { by, key })
    }

    /// `ok`, or the error's code.
    pub fn outcome(&self) -> &'static str {
        self.result.as_ref().err().map_or("ok", |e| e.code().as_str())
    }
}

/// One operator action (admin API, reload): who did what to what, and how it ended.
#[derive(Debug, Clone, PartialEq)]
pub struct AdminAudit {
    /// When it happened.
    pub time: SystemTime,
    /// Who (token subject or static-token name; `signal` for SIGHUP).
    pub principal: String,
    /// What (`reload`, `plugin.disable`, `cache.clear`, …).
    pub action: String,
    /// On what (`plugin:text`, `tenant:acme`, `breaker:acme:text.upper`, …).
    pub target: String,
    /// `ok`, or an error code.
    pub outcome: String,
}

/// A record of the audit trail.
#[derive(Debug, Clone)]
pub enum AuditRecord {
    /// A tool call.
    Call(Box<CallAudit>),
    /// An operator action.
    Admin(AdminAudit),
}

/// Where audit records go. `record` is called on the calling thread of every
/// call: it must not block (queue the record, or drop and count it).
pub trait AuditSink: Send + Sync + std::fmt::Debug {
    /// Takes one record.
    fn record(&self, record: AuditRecord);
}
