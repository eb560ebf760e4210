//! Log policy: every finished call leaves one line at target `toolhost::call`
//! (info on success, warn on failure with the error code). Call arguments and
//! results are personal or secret more often than not, so they are logged
//! only when the operator opts in (`--log-payloads`, or [`set_payloads`] when
//! embedding). Everything a guest or a client sends (host `log` calls,
//! stdout/stderr, tool names, call ids) has its control characters escaped
//! before it reaches a log line.

use std::sync::atomic::{AtomicBool, Ordering};

static PAYLOADS: AtomicBool = AtomicBool::new(false);

/// Turns logging of call arguments and results on or off (process-wide).
pub fn set_payloads(on: bool) {
    PAYLOADS.store(on, Ordering::Relaxed);
}

/// Whether arguments and results are logged.
pub fn payloads() -> bool {
    PAYLOADS.load(Ordering::Relaxed)
}

/// Logs a finished call's arguments and result at target
/// `toolhost::payload`, only when the operator opted in.
pub fn payload(res: &crate::call::CallResult, arguments: &Result<String, String>) {
    if !payloads() {
        return;
    }
    let args = match arguments {
        Ok(a) => crate::text::preview(a),
        Err(e) => format!("<unreadable: {}>", crate::text::preview(e)),
    };
    let result = match &res.result {
        Ok(out) => crate::text::preview(&out.value.as_ref().map(|v| v.to_string()).unwrap_or_default()),
        Err(e) => e.code().as_str().to_string(),
    };
    tracing::info!(target: "toolhost::payload", call_id = %res.call_id, tool = %res.tool, arguments = %args, result = %result, "call payload");
}

/// The one line per finished call (every front door ends in
/// `Host::execute_at`): ids, tool, tenant, outcome, time, attempts, cache.
/// Info on success; warn with the error code on a failure, and on a success
/// that is a configured fallback (with the code of the error it replaced).
pub fn call_finished(res: &crate::call::CallResult, request_id: &str, tenant: &str) {
    use crate::text::preview;
    let ms = res.duration.as_millis() as u64;
    let failure = match (&res.result, &res.fallback_for) {
        (Ok(_), None) => None,
        (Ok(_), Some(replaced)) => Some(("fallback", replaced)),
        (Err(e), _) => Some((e.code().as_str(), e)),
    };
    match failure {
        None => tracing::info!(target: "toolhost::call", request_id = %preview(request_id),
            call_id = %preview(&res.call_id), tool = %preview(&res.tool), tenant = %preview(tenant),
            outcome = "success", ms, attempts = res.attempts, cached = res.cached, "call finished"),
        Some((outcome, e)) => tracing::warn!(target: "toolhost::call", request_id = %preview(request_id),
            call_id = %preview(&res.call_id), tool = %preview(&res.tool), tenant = %preview(tenant),
            outcome, code = e.code().as_str(), retryable = e.retryable(), ms, attempts = res.attempts,
            cached = res.cached, "call failed"),
    }
}
