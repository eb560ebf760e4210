//! What every HTTP route that runs calls does first: the request context from
//! propagated headers, the authenticated tenant, an in-flight slot, and the
//! shape of an error reply.

use crate::inflight::InflightGuard;
use crate::state::Shared;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use std::time::Instant;
use toolhost::ExecutionContext;
use toolhost::access::auth::Caller;
use toolhost::context::ContextError;

/// An error reply: `{"error": {"code", "message"}}` with `status`.
pub(crate) fn error(status: StatusCode, code: &str, message: &str) -> Response {
    (status, axum::Json(json!({ "error": { "code": code, "message": message } }))).into_response()
}

/// The request context from propagated headers (`X-Request-ID`, `traceparent`,
/// `X-Deadline-Seconds`, …); non-UTF-8 values are ignored.
pub(crate) fn context_from_headers(headers: &HeaderMap) -> Result<ExecutionContext, ContextError> {
    let pairs = headers.iter().filter_map(|(k, v)| v.to_str().ok().map(|v| (k.as_str(), v)));
    ExecutionContext::from_headers(pairs, Instant::now())
}

/// The authenticated tenant of a request (set by the gate).
pub(crate) fn caller(req_ext: &axum::http::Extensions) -> String {
    req_ext.get::<Caller>().map(|c| c.tenant.clone()).unwrap_or_default()
}

/// Who the audit trail records for a request: the token's subject or name,
/// `anonymous` on a listener that needs no credential.
pub(crate) fn principal(req_ext: &axum::http::Extensions) -> String {
    let subject = req_ext.get::<Caller>().and_then(|c| c.subject.clone());
    subject.unwrap_or_else(|| "anonymous".to_string())
}

/// What every call-running route needs: the request context from the
/// propagated headers with the authenticated tenant, and an in-flight slot
/// (refused while shutting down).
pub(crate) fn admit(
    shared: &Shared,
    ext: &axum::http::Extensions,
    headers: &HeaderMap,
) -> Result<(ExecutionContext, InflightGuard), Response> {
    let mut ctx = context_from_headers(headers)
        .map_err(|e| error(StatusCode::BAD_REQUEST, "BAD_HEADER", &e.to_string()))?;
    ctx.tenant_id = Some(caller(ext));
    ctx.principal = Some(principal(ext));
    let guard = shared.inflight.enter().ok_or_else(|| {
        error(StatusCode::SERVICE_UNAVAILABLE, "SHUTTING_DOWN", "the server is shutting down; retry shortly")
    })?;
    Ok((ctx, guard))
}
