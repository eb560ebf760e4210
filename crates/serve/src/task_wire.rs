//! 2025-11-25 tasks on an rmcp 3.11 server.
//!
//! rmcp 3.11 models only the 2026-07-28 tasks extension: its `tools/call`
//! params drop the 2025-11-25 `task` field, its `tasks/get`/`tasks/cancel`
//! demand the extension capability and answer the new shape, and its
//! capabilities and tools have no `tasks`/`execution` fields. So the wire is
//! adapted around it, on stdio lines and on `/mcp` HTTP bodies alike:
//!
//! - inbound, a `tools/call` carrying `params.task`, and a `tasks/get`,
//!   `tasks/cancel` or `tools/list` without the 2026-07-28 `_meta` protocol
//!   version, are renamed to `dev.toolhost/…` methods that
//!   [`McpServer::legacy_request`] answers in the 2025-11-25 shape
//!   (`tasks/result` and `tasks/list` reach it unchanged);
//! - outbound, an `initialize` result gains the `tasks` capability.
//!
//! Every other message passes through untouched.

use crate::mcp::{McpServer, long_running};
use crate::task_run::{self, TaskCall};
use crate::tasks::TaskRecord;
use axum::body::Body;
use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;
use rmcp::ErrorData as McpError;
use rmcp::model::{CustomRequest, ProgressToken};
use rmcp::service::RequestContext;
use rmcp::{Peer, RoleServer};
use serde_json::{Map, Value, json};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};

const CALL: &str = "dev.toolhost/tasks/call";
const GET: &str = "dev.toolhost/tasks/get";
const CANCEL: &str = "dev.toolhost/tasks/cancel";
const TOOLS_LIST: &str = "dev.toolhost/tools/list";
const PROTOCOL_VERSION_META_KEY: &str = "io.modelcontextprotocol/protocolVersion";

/// Renames a 2025-11-25 task message (or each of a batch) for
/// [`McpServer::legacy_request`]; whether anything changed.
pub(crate) fn adapt_inbound(msg: &mut Value) -> bool {
    if let Value::Array(batch) = msg {
        return batch.iter_mut().fold(false, |changed, m| adapt_inbound(m) || changed);
    }
    let Some(method) = msg.get("method").and_then(Value::as_str) else { return false };
    let params = msg.get("params");
    let modern = params
        .and_then(|p| p.get("_meta"))
        .and_then(|m| m.get(PROTOCOL_VERSION_META_KEY))
        .and_then(Value::as_str)
        .is_some_and(|v| v >= "2026-07-28");
    let renamed = match method {
        "tools/call" if params.and_then(|p| p.get("task")).is_some_and(Value::is_object) => CALL,
        "tasks/get" if !modern => GET,
        "tasks/cancel" if !modern => CANCEL,
        "tools/list" if !modern => TOOLS_LIST,
        _ => return false,
    };
    msg["method"] = renamed.into();
    true
}

/// Adds the 2025-11-25 `tasks` capability to an `initialize` result.
pub(crate) fn adapt_outbound(msg: &mut Value) -> bool {
    let Some(result) = msg.get_mut("result").and_then(Value::as_object_mut) else { return false };
    if !(result.contains_key("protocolVersion") && result.contains_key("serverInfo")) {
        return false;
    }
    let Some(caps) = result.get_mut("capabilities").and_then(Value::as_object_mut) else { return false };
    caps.insert("tasks".into(), json!({ "list": {}, "cancel": {}, "requests": { "tools": { "call": {} } } }));
    true
}

/// Rewrites one JSON line with `f`; anything else is returned as it came.
fn adapt_line(line: &[u8], f: fn(&mut Value) -> bool) -> Option<Vec<u8>> {
    let mut v: Value = serde_json::from_slice(line).ok()?;
    if !f(&mut v) {
        return None;
    }
    let mut out = serde_json::to_vec(&v).ok()?;
    out.push(b'\n');
    Some(out)
}

/// Copies newline-delimited JSON from `from` to `to`, rewriting with `f`.
/// Lines longer than `max` pass unread (the MCP transport drops them).
async fn pump(
    from: impl AsyncRead + Unpin,
    mut to: impl AsyncWrite + Unpin,
    max: usize,
    f: fn(&mut Value) -> bool,
) {
    let mut from = BufReader::new(from);
    let mut line = Vec::new();
    loop {
        line.clear();
        let read = (&mut from).take(max as u64 + 1).read_until(b'\n', &mut line).await;
        let Ok(n) = read else { return };
        if n == 0 {
            let _ = to.shutdown().await;
            return;
        }
        let out = if line.len() <= max { adapt_line(&line, f) } else { None };
        let bytes = out.as_deref().unwrap_or(&line);
        if to.write_all(bytes).await.is_err() || to.flush().await.is_err() {
            return;
        }
    }
}

/// stdin/stdout for the MCP transport, adapted by [`adapt_inbound`] and [`adapt_outbound`].
pub(crate) fn stdio_pipes(max_line: usize) -> (tokio::io::DuplexStream, tokio::io::DuplexStream) {
    let (stdin, stdout) = rmcp::transport::stdio_pipes();
    let (server_in, pump_in) = tokio::io::duplex(64 * 1024);
    let (server_out, pump_out) = tokio::io::duplex(64 * 1024);
    tokio::spawn(pump(stdin, pump_in, max_line, adapt_inbound));
    tokio::spawn(pump(pump_out, stdout, usize::MAX / 2, adapt_outbound));
    (server_in, server_out)
}

/// `/mcp` middleware: [`adapt_inbound`] on POST bodies, [`adapt_outbound`]
/// on the events answering an `initialize`.
pub(crate) async fn adapt_http(req: Request, next: Next) -> Response {
    let (parts, body) = req.into_parts();
    // The router's body limit already bounds this.
    let Ok(bytes) = axum::body::to_bytes(body, usize::MAX).await else {
        return next.run(Request::from_parts(parts, Body::empty())).await;
    };
    let mut initialize = false;
    let mut body = bytes.clone();
    if memchr_any(&bytes)
        && let Ok(mut v) = serde_json::from_slice::<Value>(&bytes)
    {
        initialize = v.get("method").and_then(Value::as_str) == Some("initialize");
        if adapt_inbound(&mut v)
            && let Ok(b) = serde_json::to_vec(&v)
        {
            body = b.into();
        }
    }
    let mut parts = parts;
    parts.headers.remove(axum::http::header::CONTENT_LENGTH);
    let response = next.run(Request::from_parts(parts, Body::from(body))).await;
    if !initialize {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    parts.headers.remove(axum::http::header::CONTENT_LENGTH);
    let stream = http_body_util::BodyExt::into_data_stream(body);
    let mapped = futures::StreamExt::map(stream, |chunk| chunk.map(|c| adapt_events(&c).unwrap_or(c)));
    Response::from_parts(parts, Body::from_stream(mapped))
}

/// Whether a body may hold something [`adapt_inbound`] rewrites.
fn memchr_any(bytes: &[u8]) -> bool {
    [&b"\"task"[..], b"tools/list", b"\"initialize\""].iter().any(|n| bytes.windows(n.len()).any(|w| w == *n))
}

/// [`adapt_outbound`] on a JSON body or on the `data:` lines of SSE events.
fn adapt_events(chunk: &axum::body::Bytes) -> Option<axum::body::Bytes> {
    let text = std::str::from_utf8(chunk).ok()?;
    if let Some(out) = adapt_line(text.trim().as_bytes(), adapt_outbound) {
        return Some(String::from_utf8(out).ok()?.trim_end().to_string().into());
    }
    let mut changed = false;
    let lines: Vec<String> = text
        .split('\n')
        .map(|l| {
            match l.strip_prefix("data:").and_then(|d| adapt_line(d.trim().as_bytes(), adapt_outbound)) {
                Some(out) => {
                    changed = true;
                    format!("data: {}", String::from_utf8_lossy(&out).trim_end())
                }
                None => l.to_string(),
            }
        })
        .collect();
    changed.then(|| lines.join("\n").into())
}

fn params_of(request: &CustomRequest) -> Map<String, Value> {
    match &request.params {
        Some(Value::Object(m)) => m.clone(),
        _ => Map::new(),
    }
}

fn task_id(params: &Map<String, Value>) -> Result<&str, McpError> {
    params
        .get("taskId")
        .and_then(Value::as_str)
        .ok_or_else(|| McpError::invalid_params("taskId is required", None))
}

impl McpServer {
    /// The 2025-11-25 task methods (see the module docs); `None` for any other method.
    pub(crate) async fn legacy_request(
        &self,
        request: &CustomRequest,
        context: &RequestContext<RoleServer>,
    ) -> Option<Result<Value, McpError>> {
        let params = params_of(request);
        let tasks = &self.shared().tasks;
        let tenant = match self.tenant(&context.extensions) {
            Ok(t) => t,
            Err(e) => return Some(Err(e)),
        };
        let answer = match request.method.as_str() {
            CALL => self.legacy_call(params, context).await,
            GET => match task_id(&params) {
                Ok(id) => tasks.get(&tenant, id).await.map(|r| task_run::legacy_task(&r)).map_err(Into::into),
                Err(e) => Err(e),
            },
            CANCEL => match task_id(&params) {
                Ok(id) => {
                    tasks.cancel(&tenant, id).await.map(|r| task_run::legacy_task(&r)).map_err(Into::into)
                }
                Err(e) => Err(e),
            },
            "tasks/result" => match task_id(&params) {
                Ok(id) => {
                    crate::task_relay::legacy_result(self.shared(), &tenant, id, context.peer.clone()).await
                }
                Err(e) => Err(e),
            },
            "tasks/list" => match params.get("cursor") {
                None | Some(Value::String(_)) => {
                    let all = tasks.list(&tenant).await;
                    page(&all, params.get("cursor").and_then(Value::as_str))
                }
                Some(_) => Err(McpError::invalid_params("cursor must be a string", None)),
            },
            TOOLS_LIST => Ok(self.legacy_tools(&tenant, &context.extensions)),
            _ => return None,
        };
        tracing::debug!(method = %request.method, tenant = %tenant, ok = answer.is_ok(), "MCP 2025-11-25 task request");
        Some(answer)
    }

    /// `tools/list` with `execution.taskSupport: "optional"` on long-running
    /// tools (a client without tasks still calls them the plain way).
    fn legacy_tools(&self, tenant: &str, ext: &rmcp::model::Extensions) -> Value {
        let tools: Vec<Value> = self
            .shared()
            .host
            .list_tools(Some(tenant))
            .iter()
            .filter(|t| McpServer::may_call(ext, &t.name))
            .filter_map(|t| {
                let mut v = serde_json::to_value(crate::convert::tool(t)?).ok()?;
                if t.long_running {
                    v["execution"] = json!({ "taskSupport": "optional" });
                }
                Some(v)
            })
            .collect();
        json!({ "tools": tools })
    }

    /// `tools/call` with `params.task`: starts the task, answers `{task}`.
    async fn legacy_call(
        &self,
        params: Map<String, Value>,
        context: &RequestContext<RoleServer>,
    ) -> Result<Value, McpError> {
        let meta = match params.get("_meta") {
            Some(Value::Object(m)) => m.clone(),
            _ => Map::new(),
        };
        let ectx = self.exec_context(&context.extensions, &meta)?;
        let tenant = ectx.tenant_id.clone().unwrap_or_default();
        let name = params.get("name").and_then(Value::as_str).unwrap_or_default().to_string();
        let Some(target) = self.shared().host.find_tool(&tenant, &name) else {
            return Err(crate::mcp::unknown_tool(&name));
        };
        if !long_running(&target) {
            return Err(McpError::invalid_params(
                format!(
                    "tool '{}' does not run as a task (its taskSupport is forbidden); call it without `task`",
                    toolhost::text::preview(&name)
                ),
                None,
            ));
        }
        let args = params.get("arguments").map(Value::to_string).unwrap_or_else(|| "{}".into());
        let ttl_ms = params.get("task").and_then(|t| t.get("ttl")).and_then(Value::as_u64);
        let call = TaskCall {
            ectx,
            name,
            args,
            plugin: target.origin().to_string(),
            peer: context.peer.clone(),
            progress_token: meta
                .get("progressToken")
                .and_then(|t| serde_json::from_value::<ProgressToken>(t.clone()).ok()),
            log_level: Some(self.min_level()),
            interact: Some(self.peer_interact(context.peer.clone())),
            ttl_ms,
        };
        let record: TaskRecord = task_run::start(self.shared(), call).await?;
        Ok(json!({ "task": task_run::legacy_task(&record) }))
    }
}

/// Tasks listed per `tasks/list` page.
const PAGE: usize = 100;

/// One page of `tasks/list`: `cursor` is the id of the last task of the
/// previous page (opaque to clients).
fn page(all: &[TaskRecord], cursor: Option<&str>) -> Result<Value, McpError> {
    let start = match cursor {
        None => 0,
        Some(c) => all.iter().position(|t| t.id == c).map(|i| i + 1).ok_or_else(|| {
            McpError::invalid_params("unknown cursor (its task may have expired); list from the start", None)
        })?,
    };
    let tasks: Vec<&TaskRecord> = all.iter().skip(start).take(PAGE).collect();
    let mut v = json!({ "tasks": tasks.iter().map(|t| task_run::legacy_task(t)).collect::<Vec<_>>() });
    if start + tasks.len() < all.len()
        && let Some(last) = tasks.last()
    {
        v["nextCursor"] = last.id.clone().into();
    }
    Ok(v)
}

/// The session's client, asked the guest's questions (2025-11-25).
impl McpServer {
    fn peer_interact(&self, peer: Peer<RoleServer>) -> std::sync::Arc<dyn toolhost::interact::Interact> {
        std::sync::Arc::new(crate::interact::PeerInteract { peer })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renames_only_2025_task_messages() {
        let mut call = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
            "params": {"name": "jobs.crunch", "task": {"ttl": 60000}}});
        assert!(adapt_inbound(&mut call));
        assert_eq!(call["method"], CALL);
        let mut plain = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "x"}});
        assert!(!adapt_inbound(&mut plain));
        let mut modern_get = json!({"jsonrpc": "2.0", "id": 3, "method": "tasks/get",
            "params": {"taskId": "t", "_meta": {PROTOCOL_VERSION_META_KEY: "2026-07-28"}}});
        assert!(!adapt_inbound(&mut modern_get));
        let mut batch = json!([{"jsonrpc": "2.0", "id": 4, "method": "tasks/get", "params": {"taskId": "t"}},
            {"jsonrpc": "2.0", "id": 5, "method": "ping"}]);
        assert!(adapt_inbound(&mut batch));
        assert_eq!(batch[0]["method"], GET);
        assert_eq!(batch[1]["method"], "ping");
    }

    #[test]
    fn initialize_result_gains_tasks_capability() {
        let mut init = json!({"jsonrpc": "2.0", "id": 0, "result": {"protocolVersion": "2025-11-25",
            "serverInfo": {"name": "toolhost"}, "capabilities": {"tools": {}}}});
        assert!(adapt_outbound(&mut init));
        assert_eq!(init["result"]["capabilities"]["tasks"]["requests"]["tools"]["call"], json!({}));
        let sse = axum::body::Bytes::from(format!(
            "id: 0\nevent: message\ndata: {}\n\n",
            json!({"jsonrpc": "2.0",
            "id": 0, "result": {"protocolVersion": "2025-11-25", "serverInfo": {}, "capabilities": {}}})
        ));
        let out = adapt_events(&sse).unwrap();
        assert!(std::str::from_utf8(&out).unwrap().contains("\"tasks\""));
        assert!(
            adapt_events(&axum::body::Bytes::from_static(
                b"data: {\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}}\n\n"
            ))
            .is_none()
        );
    }

    #[test]
    fn tasks_list_pages_by_cursor() {
        let record = |i: usize| TaskRecord {
            id: format!("t{i:03}"),
            tenant: "acme".into(),
            state: crate::tasks::TaskState::Working,
            message: None,
            created_at: String::new(),
            updated_at: String::new(),
            ttl_ms: 1000,
            poll_interval_ms: 500,
            outcome: None,
            inputs: Default::default(),
        };
        let all: Vec<TaskRecord> = (0..250).map(record).collect();
        let (mut cursor, mut seen) = (None::<String>, Vec::new());
        loop {
            let p = page(&all, cursor.as_deref()).unwrap();
            seen.extend(
                p["tasks"].as_array().unwrap().iter().map(|t| t["taskId"].as_str().unwrap().to_string()),
            );
            match p.get("nextCursor").and_then(Value::as_str) {
                Some(c) => cursor = Some(c.to_string()),
                None => break,
            }
        }
        assert_eq!(seen, all.iter().map(|t| t.id.clone()).collect::<Vec<_>>());
        assert!(page(&all[..PAGE], None).unwrap().get("nextCursor").is_none(), "one full page has no next");
        assert!(page(&all, Some("gone")).is_err());
    }
}
