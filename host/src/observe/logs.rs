//! Log policy: call arguments and results are personal or secret more often
//! than not, so they are logged only when the operator opts in
//! (`--log-payloads`, or [`set_payloads`] when embedding). Everything a guest
//! writes (host `log` calls, stdout/stderr) has its control characters escaped
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
pub(crate) fn payload(res: &crate::exec::CallResult, arguments: &Result<String, String>) {
    if !payloads() {
        return;
    }
    let args = match arguments {
        Ok(a) => crate::runtime::preview(a),
        Err(e) => format!("<unreadable: {}>", crate::runtime::preview(e)),
    };
    let result = match &res.result {
        Ok(out) => crate::runtime::preview(&out.value.as_ref().map(|v| v.to_string()).unwrap_or_default()),
        Err(e) => e.code().as_str().to_string(),
    };
    tracing::info!(target: "toolhost::payload", call_id = %res.call_id, tool = %res.tool, arguments = %args, result = %result, "call payload");
}
