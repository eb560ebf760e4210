//! A tool call run as an MCP task: started in the background through the same
//! `Host::execute` path as a plain `tools/call` (every executor policy), its
//! progress and logs forwarded as for a plain call, its end recorded in the
//! [`TaskStore`](crate::tasks::TaskStore). Also the task shapes of both eras:
//!
//! - 2025-11-25: `{taskId, status, statusMessage?, createdAt, lastUpdatedAt,
//!   ttl, pollInterval}`; `tools/call` answers `{task: …}`.
//! - 2026-07-28 (`io.modelcontextprotocol/tasks`, SEP-2663): rmcp's types
//!   (`ttlMs`, `pollIntervalMs`, result or error inline in `tasks/get`).

// MCP logging is deprecated from 2026-07-28 (SEP-2577) but is how earlier clients get guest logs.
#![allow(deprecated)]

use crate::state::Shared;
use crate::tasks::{TaskError, TaskRecord, TaskState, TaskStore};
use rmcp::ErrorData as McpError;
use rmcp::model::{
    CreateTaskResult, DetailedTask, GetTaskResult, JsonObject, LoggingLevel, ProgressToken, Task,
    TaskPayload, TaskStatus,
};
use rmcp::{Peer, RoleServer};
use serde_json::{Value, json};
use std::sync::Arc;
use tokio::sync::mpsc;
use toolhost::ExecutionContext;
use toolhost::exec::{CallOptions, ToolCall};
use toolhost::interact::{Answer, BoxFuture, InputRequest, InputResponse, Interact};

/// `_meta` key relating a message to its task (2025-11-25).
pub(crate) const RELATED_TASK_META_KEY: &str = "io.modelcontextprotocol/related-task";

/// One tool call to run as a task.
#[derive(Debug)]
pub(crate) struct TaskCall {
    pub(crate) ectx: ExecutionContext,
    pub(crate) name: String,
    pub(crate) args: String,
    /// The plugin serving the tool (the logger name of its log messages).
    pub(crate) plugin: String,
    pub(crate) peer: Peer<RoleServer>,
    pub(crate) progress_token: Option<ProgressToken>,
    pub(crate) log_level: Option<LoggingLevel>,
    /// Who answers the guest's questions: a 2025-11-25 session's client
    /// (server-to-client requests); `None`: the task asks through its own
    /// state (`input_required` + `tasks/update`, 2026-07-28).
    pub(crate) interact: Option<Arc<dyn Interact>>,
    pub(crate) ttl_ms: Option<u64>,
}

/// Why a task was not started.
#[derive(Debug, thiserror::Error)]
pub(crate) enum StartError {
    #[error("the server is shutting down and takes no new tasks; retry shortly")]
    ShuttingDown,
    #[error(transparent)]
    Store(#[from] TaskError),
}

impl From<StartError> for McpError {
    fn from(e: StartError) -> McpError {
        match e {
            StartError::ShuttingDown => McpError::internal_error(e.to_string(), None),
            StartError::Store(e) => e.into(),
        }
    }
}

impl From<TaskError> for McpError {
    fn from(e: TaskError) -> McpError {
        match e {
            TaskError::NotFound(_) | TaskError::Terminal(..) => McpError::invalid_params(e.to_string(), None),
            TaskError::Full(_) | TaskError::Unavailable(_) => McpError::internal_error(e.to_string(), None),
        }
    }
}

/// Records the task, starts its call, and returns it (`working`) at once.
pub(crate) async fn start(shared: &Arc<Shared>, call: TaskCall) -> Result<TaskRecord, StartError> {
    let guard = shared.inflight.enter().ok_or(StartError::ShuttingDown)?;
    let tenant = call.ectx.tenant_id.clone().unwrap_or_default();
    // A shared store queues it for any worker; the call does not run here.
    if let Some(queued) = shared.tasks.submit(&tenant, &call.ectx, &call.name, &call.args) {
        return Ok(queued.await?);
    }
    let record = shared.tasks.create(&tenant, call.ttl_ms, guard.token().clone()).await?;
    tracing::info!(task = %record.id, tool = %call.name, tenant = %tenant, ttl_ms = record.ttl_ms, "MCP task started");
    let (shared, id) = (shared.clone(), record.id.clone());
    tokio::spawn(async move {
        let (state, outcome) = run(&shared, &id, guard.token().clone(), call).await;
        shared.tasks.finish(&id, state, outcome).await;
        tracing::info!(task = %id, status = state.as_str(), "MCP task ended");
        drop(guard);
    });
    Ok(record)
}

/// Runs the call; the terminal state and its outcome.
async fn run(shared: &Shared, id: &str, cancel: toolhost::CancelToken, call: TaskCall) -> (TaskState, Value) {
    let (tx, rx) = mpsc::channel(crate::mcp::EVENT_BUFFER);
    let forwarder = tokio::spawn(crate::mcp::forward_events(
        rx,
        call.peer.clone(),
        call.progress_token.clone(),
        call.log_level,
        call.plugin.clone(),
    ));
    let interact = TaskInteract { inner: call.interact, store: shared.tasks.clone(), id: id.to_string() };
    let opts = CallOptions { cancel: Some(cancel), events: Some(tx), interact: Some(Arc::new(interact)) };
    let result = shared.host.execute(&call.ectx, ToolCall::new(call.name.clone(), call.args), &opts).await;
    drop(opts);
    let _ = forwarder.await;
    crate::tasks::outcome_of(&result.result, &call.name)
}

/// Answers a task's guest questions, the task `input_required` meanwhile:
/// through the session's client (2025-11-25), or through the task itself
/// (2026-07-28: `tasks/get` shows the question, `tasks/update` answers it).
#[derive(Debug)]
struct TaskInteract {
    inner: Option<Arc<dyn Interact>>,
    store: Arc<dyn TaskStore>,
    id: String,
}

impl Interact for TaskInteract {
    fn ask<'a>(&'a self, request: &'a InputRequest) -> BoxFuture<'a, Answer> {
        Box::pin(async move {
            let Some(inner) = &self.inner else {
                return ask_through_the_task(self.store.as_ref(), &self.id, request).await;
            };
            let waiting = Some(crate::tasks::WAITING.to_string());
            self.store.set_state(&self.id, TaskState::InputRequired, waiting).await;
            let answer = inner.ask(request).await;
            self.store.set_state(&self.id, TaskState::Working, None).await;
            answer
        })
    }
}

/// Puts the question in the task under its key and waits for the answer.
pub(crate) async fn ask_through_the_task(store: &dyn TaskStore, id: &str, request: &InputRequest) -> Answer {
    let key = request.key();
    // Checked against MCP's request types now, so `tasks/get` can always show it.
    let wire = serde_json::to_value(request).map_err(|e| e.to_string()).and_then(|v| {
        serde_json::from_value::<rmcp::model::InputRequest>(v.clone()).map(|_| v).map_err(|e| e.to_string())
    });
    let wire = match wire {
        Ok(v) => v,
        Err(e) => return Answer::Failed(format!("the question is not a valid MCP request: {e}")),
    };
    store.ask(id, &key, wire).await;
    match store.answer(id, &key).await {
        None => Answer::Failed("the task ended before the client answered".into()),
        Some(v) => match serde_json::from_value::<InputResponse>(v) {
            Ok(r) => Answer::Given(r),
            Err(e) => Answer::Failed(format!("the client's answer is not a valid response: {e}")),
        },
    }
}

// ---- 2025-11-25 shapes ----

/// A task as 2025-11-25 shows it.
pub(crate) fn legacy_task(r: &TaskRecord) -> Value {
    let mut v = json!({
        "taskId": r.id,
        "status": r.state.as_str(),
        "createdAt": r.created_at,
        "lastUpdatedAt": r.updated_at,
        "ttl": r.ttl_ms,
        "pollInterval": r.poll_interval_ms,
    });
    if let Some(m) = &r.message {
        v["statusMessage"] = m.clone().into();
    }
    v
}

/// `tasks/result` (2025-11-25): the call's own result, related to its task,
/// or the error it failed with.
pub(crate) fn legacy_payload(r: &TaskRecord) -> Result<Value, McpError> {
    match (r.state, &r.outcome) {
        (TaskState::Completed, Some(result)) => {
            let mut result = result.clone();
            if let Some(m) = result.as_object_mut() {
                m.remove("resultType");
            }
            result["_meta"][RELATED_TASK_META_KEY] = json!({ "taskId": r.id });
            Ok(result)
        }
        (TaskState::Failed, Some(error)) => Err(serde_json::from_value(error.clone())
            .unwrap_or_else(|_| McpError::internal_error("the task failed", None))),
        _ => Err(McpError::invalid_params(format!("task '{}' was cancelled: it has no result", r.id), None)),
    }
}

// ---- 2026-07-28 shapes (SEP-2663) ----

fn modern_task(r: &TaskRecord) -> Task {
    let status = match r.state {
        TaskState::InputRequired if !r.inputs.is_empty() => TaskStatus::InputRequired,
        TaskState::Working | TaskState::InputRequired => TaskStatus::Working,
        TaskState::Completed => TaskStatus::Completed,
        TaskState::Failed => TaskStatus::Failed,
        TaskState::Cancelled => TaskStatus::Cancelled,
    };
    let mut task = Task::new(r.id.clone(), status, r.created_at.clone(), r.updated_at.clone())
        .with_ttl_ms(r.ttl_ms)
        .with_poll_interval_ms(r.poll_interval_ms);
    task.status_message = r.message.clone();
    task
}

/// `tools/call`'s answer when it became a task.
pub(crate) fn modern_created(r: &TaskRecord) -> CreateTaskResult {
    CreateTaskResult::new(modern_task(r))
}

/// `tasks/get`: the task with its open questions (`inputRequests`), or its
/// result or error once terminal.
pub(crate) fn modern_detailed(r: &TaskRecord) -> GetTaskResult {
    let object = |v: &Option<Value>| -> JsonObject {
        match v {
            Some(Value::Object(m)) => m.clone(),
            _ => JsonObject::new(),
        }
    };
    let payload = match r.state {
        TaskState::InputRequired if !r.inputs.is_empty() => {
            let inputs = serde_json::to_value(&r.inputs).unwrap_or_default();
            match serde_json::from_value(inputs) {
                Ok(input_requests) => TaskPayload::InputRequired { input_requests },
                Err(e) => {
                    tracing::warn!(task = %r.id, error = %e, "a task's question is not valid MCP");
                    TaskPayload::Working
                }
            }
        }
        TaskState::Working | TaskState::InputRequired => TaskPayload::Working,
        TaskState::Completed => TaskPayload::Completed { result: object(&r.outcome) },
        TaskState::Failed => TaskPayload::Failed { error: object(&r.outcome) },
        TaskState::Cancelled => TaskPayload::Cancelled,
    };
    GetTaskResult::new(DetailedTask::new(modern_task(r), payload))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(state: TaskState, outcome: Option<Value>) -> TaskRecord {
        TaskRecord {
            id: "t1".into(),
            tenant: "acme".into(),
            state,
            message: None,
            created_at: "2026-01-01T00:00:00Z".into(),
            updated_at: "2026-01-01T00:00:01Z".into(),
            ttl_ms: 60_000,
            poll_interval_ms: 500,
            outcome,
            inputs: Default::default(),
        }
    }

    #[test]
    fn legacy_shapes() {
        let r = record(TaskState::Working, None);
        assert_eq!(
            legacy_task(&r),
            json!({"taskId": "t1", "status": "working", "createdAt": "2026-01-01T00:00:00Z",
                   "lastUpdatedAt": "2026-01-01T00:00:01Z", "ttl": 60000, "pollInterval": 500})
        );
        let done = record(TaskState::Completed, Some(json!({"resultType": "complete", "content": []})));
        let p = legacy_payload(&done).unwrap();
        assert!(p.get("resultType").is_none());
        assert_eq!(p["_meta"][RELATED_TASK_META_KEY]["taskId"], "t1");
        assert!(legacy_payload(&record(TaskState::Cancelled, None)).is_err());
    }

    #[test]
    fn modern_shapes() {
        let created = serde_json::to_value(modern_created(&record(TaskState::Working, None))).unwrap();
        assert_eq!(created["resultType"], "task");
        assert_eq!(created["ttlMs"], 60000);
        assert_eq!(created["pollIntervalMs"], 500);
        let done = record(TaskState::Completed, Some(json!({"content": [], "isError": false})));
        let got = serde_json::to_value(modern_detailed(&done)).unwrap();
        assert_eq!(got["status"], "completed");
        assert_eq!(got["result"]["isError"], false);
    }
}
