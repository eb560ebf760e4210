//! One `tools/call`: arguments and `_meta` out, progress and log lines to the
//! caller's event sink while it runs, the result (or typed error) back.
//!
//! `_meta` carries the context's `traceparent` and `tracestate` and a
//! `progressToken` (rmcp gives every request one; progress is passed on when
//! the call has an event sink). When `call.cancel` fires or `call.timeout`
//! passes, the call returns [`Error::Cancelled`] / [`Error::Timeout`] at
//! once and a `notifications/cancelled` for the request is sent in the
//! background (so is one for a call whose future is dropped unanswered).
//! That is best effort: the server may ignore it or have finished already,
//! and a late answer is discarded.

use super::error::{call_error, tool_error};
use super::output::output;
use super::routes::Registration;
use super::state::{Live, Shared};
use crate::UpstreamCall;
use rmcp::model::{
    CallToolRequest, CallToolRequestParams, CancelledNotificationParam, ClientRequest, RequestId,
    RequestMetaObject, ServerResult,
};
use rmcp::service::{Peer, PeerRequestOptions, RequestHandle, RoleClient, ServiceError};
use serde_json::Value;
use std::time::Duration;
use tokio::time::Instant;
use toolhost_core::{CancelToken, Error, ExecutionContext, ToolErrorKind, ToolOutput};

/// Longest wait for the supervisor to say why a connection ended.
const ENDED_WAIT: Duration = Duration::from_secs(3);

/// Time given to deliver a `notifications/cancelled`.
const CANCEL_SEND: Duration = Duration::from_secs(5);

/// Why a call stopped waiting before its answer.
enum Interrupted {
    Cancelled,
    TimedOut,
}

/// Runs `call` on the live connection of `shared`.
pub(crate) async fn run(shared: &Shared, call: &UpstreamCall<'_>) -> Result<ToolOutput, Error> {
    let tool = call.tool.name.as_str();
    let live = shared.live().ok_or_else(|| shared.unavailable(tool))?;
    let request = request(call)?;
    let deadline = Instant::now() + call.timeout;
    let sent = tokio::select! {
        biased;
        () = cancelled(call.cancel) => return Err(Error::Cancelled { tool: tool.to_string() }),
        () = tokio::time::sleep_until(deadline) => return Err(timeout(call)),
        sent = send(&live, request, call) => sent,
    };
    let (handle, registration) = match sent {
        Ok(sent) => sent,
        Err(e) => return Err(failed(shared, &live, tool, e).await),
    };
    let mut pending = Pending { peer: Some(handle.peer.clone()), id: handle.id.clone(), reason: "abandoned" };
    let outcome = tokio::select! {
        biased;
        () = cancelled(call.cancel) => Err(Interrupted::Cancelled),
        () = tokio::time::sleep_until(deadline) => Err(Interrupted::TimedOut),
        result = handle.await_response() => Ok(result),
    };
    drop(registration);
    match outcome {
        Err(Interrupted::Cancelled) => {
            pending.reason = "cancelled by the caller";
            Err(Error::Cancelled { tool: tool.to_string() })
        }
        Err(Interrupted::TimedOut) => {
            pending.reason = "timed out";
            Err(timeout(call))
        }
        Ok(result) => {
            pending.peer = None;
            answer(shared, &live, call, result).await
        }
    }
}

/// The call's result (or error) for the server's answer.
async fn answer(
    shared: &Shared,
    live: &Live,
    call: &UpstreamCall<'_>,
    result: Result<ServerResult, ServiceError>,
) -> Result<ToolOutput, Error> {
    let tool = call.tool.name.as_str();
    match result {
        Ok(ServerResult::CallToolResult(result)) => {
            output(&shared.name, (tool, &call.tool.remote_name), result, shared.max_response_bytes)
        }
        Ok(_) => Err(tool_error(
            tool,
            ToolErrorKind::Internal,
            format!("upstream '{}' answered tools/call with something else than a tool result", shared.name),
            None,
        )),
        Err(e) => Err(failed(shared, live, tool, e).await),
    }
}

/// The `tools/call` request for `call` (its arguments must be an object).
fn request(call: &UpstreamCall<'_>) -> Result<ClientRequest, Error> {
    let arguments = match call.args {
        Value::Object(map) => Some(map.clone()),
        Value::Null => None,
        other => {
            return Err(Error::InvalidArguments {
                tool: call.tool.name.clone(),
                problems: vec![format!("the arguments must be a JSON object, not {}", json_type(other))],
            });
        }
    };
    let mut params = CallToolRequestParams::new(call.tool.remote_name.clone());
    params.arguments = arguments;
    Ok(ClientRequest::CallToolRequest(CallToolRequest::new(params)))
}

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// `_meta` with the context's trace headers.
fn trace_meta(ctx: &ExecutionContext) -> RequestMetaObject {
    let mut meta = RequestMetaObject::new();
    if let Some(tp) = &ctx.traceparent {
        meta.0.set_traceparent(tp.clone());
    }
    if let Some(ts) = &ctx.tracestate {
        meta.0.set_tracestate(ts.clone());
    }
    meta
}

/// Sends the request and registers its progress token (under the routes'
/// gate, so no progress notification can slip past the registration).
async fn send<'l>(
    live: &'l Live,
    request: ClientRequest,
    call: &UpstreamCall<'_>,
) -> Result<(RequestHandle<RoleClient>, Registration<'l>), ServiceError> {
    let options = PeerRequestOptions::no_options().with_meta(trace_meta(call.ctx));
    let gate = live.routes.gate().await;
    let handle = live.peer.send_request_with_option(request, options).await?;
    let registration = live.routes.register(handle.progress_token.clone(), call.events.cloned());
    drop(gate);
    Ok((handle, registration))
}

/// Resolves when `cancel` fires (never without one).
async fn cancelled(cancel: Option<&CancelToken>) {
    match cancel {
        Some(token) => token.cancelled().await,
        None => std::future::pending().await,
    }
}

fn timeout(call: &UpstreamCall<'_>) -> Error {
    let timeout_ms = u64::try_from(call.timeout.as_millis()).unwrap_or(u64::MAX);
    Error::Timeout { tool: call.tool.name.clone(), timeout_ms }
}

/// A request sent and not answered yet: when dropped unanswered (the call
/// was cancelled, timed out, or its future was dropped), a
/// `notifications/cancelled` for it is sent in the background.
struct Pending {
    /// `None` once answered.
    peer: Option<Peer<RoleClient>>,
    id: RequestId,
    reason: &'static str,
}

impl Drop for Pending {
    fn drop(&mut self) {
        let (Some(peer), Ok(runtime)) = (self.peer.take(), tokio::runtime::Handle::try_current()) else {
            return;
        };
        let param = CancelledNotificationParam::new(Some(self.id.clone()), Some(self.reason.to_string()));
        runtime.spawn(async move {
            let _ = tokio::time::timeout(CANCEL_SEND, peer.notify_cancelled(param)).await;
        });
    }
}

/// The error for a request that failed; a transport failure also asks the
/// supervisor to check the connection, and waits (briefly) to learn why it
/// ended.
async fn failed(shared: &Shared, live: &Live, tool: &str, e: ServiceError) -> Error {
    let mut ended = None;
    if matches!(e, ServiceError::TransportClosed | ServiceError::TransportSend(_)) {
        shared.suspect.notify_one();
        let mut rx = live.ended.clone();
        if matches!(e, ServiceError::TransportClosed)
            && let Ok(Ok(why)) = tokio::time::timeout(ENDED_WAIT, rx.wait_for(Option::is_some)).await
        {
            ended = why.clone();
        }
    }
    call_error(&shared.name, tool, e, ended)
}
