//! MCP tasks: tool calls that run in the background while the client polls.
//!
//! A [`TaskStore`] keeps each task's state (id, owner tenant, status, times,
//! TTL, poll interval, open questions, final result or error) and the token
//! that cancels its call. [`MemoryTasks`] keeps tasks of calls run in this
//! process (lost when it exits); with Redis configured,
//! [`RedisTasks`](crate::tasks_redis::RedisTasks) makes each task a durable
//! run that workers execute and any replica answers for.
//!
//! Every lookup takes the caller's tenant: another tenant's task id answers
//! exactly like an unknown one. Expired tasks (past `created + ttl`) are
//! purged on access; one still running is cancelled first.

use crate::convert;
use futures::future::BoxFuture;
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap};
use std::fmt::Debug;
use std::sync::Arc;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use tokio::sync::Notify;
use toolhost::{CancelToken, Error, ToolOutput};

/// TTL of a task whose creator asked for none.
pub(crate) const DEFAULT_TTL_MS: u64 = 300_000;
/// Longest TTL granted (a longer request is lowered to it).
pub(crate) const MAX_TTL_MS: u64 = 3_600_000;
/// Shortest TTL granted (a shorter request is raised to it).
pub(crate) const MIN_TTL_MS: u64 = 1_000;
/// Suggested poll interval.
pub(crate) const POLL_INTERVAL_MS: u64 = 500;
/// Status message of a task the client cancelled.
pub(crate) const CANCELLED: &str = "cancelled by the client";
/// Status message of a task waiting for the client's answer.
pub(crate) const WAITING: &str = "waiting for the client's answer to the tool's question";
/// Tasks retained per tenant (running or finished, until they expire).
pub(crate) const MAX_TASKS_PER_TENANT: usize = 1_000;

/// Where a task is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TaskState {
    Working,
    InputRequired,
    Completed,
    Failed,
    Cancelled,
}

impl TaskState {
    pub(crate) fn is_terminal(self) -> bool {
        matches!(self, TaskState::Completed | TaskState::Failed | TaskState::Cancelled)
    }

    /// The MCP wire name (both protocol eras use the same names).
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            TaskState::Working => "working",
            TaskState::InputRequired => "input_required",
            TaskState::Completed => "completed",
            TaskState::Failed => "failed",
            TaskState::Cancelled => "cancelled",
        }
    }
}

/// A snapshot of one task.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct TaskRecord {
    pub(crate) id: String,
    pub(crate) tenant: String,
    pub(crate) state: TaskState,
    pub(crate) message: Option<String>,
    /// ISO 8601.
    pub(crate) created_at: String,
    /// ISO 8601.
    pub(crate) updated_at: String,
    pub(crate) ttl_ms: u64,
    pub(crate) poll_interval_ms: u64,
    /// `Completed`: the `CallToolResult` (JSON); `Failed`: the JSON-RPC error object.
    pub(crate) outcome: Option<Value>,
    /// `InputRequired` (2026-07-28): the call's unanswered questions by key
    /// (each an MCP request object, `{method, params}`).
    pub(crate) inputs: BTreeMap<String, Value>,
}

/// Why a task operation was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum TaskError {
    /// Unknown, expired, or another tenant's.
    #[error("unknown task '{0}' (it may have expired)")]
    NotFound(String),
    /// Cancelling a finished task.
    #[error("task '{0}' already finished ({1}) and cannot be cancelled")]
    Terminal(String, &'static str),
    /// The tenant holds too many tasks.
    #[error("this tenant already holds {0} tasks; wait for some to expire")]
    Full(usize),
    /// The shared store (Redis) failed.
    #[error("the task store is unavailable: {0}")]
    Unavailable(String),
}

/// Task state, per tenant. Async so a shared (Redis) store fits behind it.
pub(crate) trait TaskStore: Send + Sync + Debug {
    /// A new `working` task owned by `tenant`; `cancel` stops its call.
    fn create<'a>(
        &'a self,
        tenant: &'a str,
        ttl_ms: Option<u64>,
        cancel: CancelToken,
    ) -> BoxFuture<'a, Result<TaskRecord, TaskError>>;
    /// Starts the call as a durable run that any process's worker may
    /// execute; `None`: this store keeps tasks of calls run here ([`create`](Self::create)).
    fn submit<'a>(
        &'a self,
        tenant: &'a str,
        ectx: &'a toolhost::ExecutionContext,
        tool: &'a str,
        args: &'a str,
    ) -> Option<BoxFuture<'a, Result<TaskRecord, TaskError>>> {
        let _ = (tenant, ectx, tool, args);
        None
    }
    /// The tenant's task.
    fn get<'a>(&'a self, tenant: &'a str, id: &'a str) -> BoxFuture<'a, Result<TaskRecord, TaskError>>;
    /// The tenant's tasks, oldest first.
    fn list<'a>(&'a self, tenant: &'a str) -> BoxFuture<'a, Vec<TaskRecord>>;
    /// `working` ↔ `input_required` (ignored once terminal).
    fn set_state<'a>(&'a self, id: &'a str, state: TaskState, message: Option<String>) -> BoxFuture<'a, ()>;
    /// The call ended (ignored when the task was cancelled meanwhile).
    fn finish<'a>(&'a self, id: &'a str, state: TaskState, outcome: Value) -> BoxFuture<'a, ()>;
    /// Marks the tenant's task `cancelled` and stops its call.
    fn cancel<'a>(&'a self, tenant: &'a str, id: &'a str) -> BoxFuture<'a, Result<TaskRecord, TaskError>>;
    /// Waits until the tenant's task is terminal (or gone).
    fn wait<'a>(&'a self, tenant: &'a str, id: &'a str) -> BoxFuture<'a, Result<TaskRecord, TaskError>>;
    /// The running call asks `request` under `key`: the task is
    /// `input_required` with it until the client answers (`tasks/update`).
    fn ask<'a>(&'a self, id: &'a str, key: &'a str, request: Value) -> BoxFuture<'a, ()>;
    /// The client's answers (`tasks/update`): keys not asked (or answered
    /// already) are ignored, as the spec says; the task works again once
    /// nothing is left unanswered.
    fn respond<'a>(
        &'a self,
        tenant: &'a str,
        id: &'a str,
        responses: BTreeMap<String, Value>,
    ) -> BoxFuture<'a, Result<(), TaskError>>;
    /// Waits for the answer to `key`; `None` once the task ended or is gone.
    fn answer<'a>(&'a self, id: &'a str, key: &'a str) -> BoxFuture<'a, Option<Value>>;
}

/// ISO 8601 timestamp of now.
pub(crate) fn now_iso() -> String {
    rmcp::task_manager::current_timestamp()
}

/// A fresh unguessable task id (128 random bits).
fn new_id() -> String {
    let mut bytes = [0u8; 16];
    if getrandom::fill(&mut bytes).is_err() {
        // No OS randomness: still unique, though guessable; the tenant check still holds.
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        bytes = nanos.as_nanos().to_le_bytes();
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Clamps a requested TTL into `[MIN_TTL_MS, MAX_TTL_MS]`.
pub(crate) fn granted_ttl(requested: Option<u64>) -> u64 {
    requested.unwrap_or(DEFAULT_TTL_MS).clamp(MIN_TTL_MS, MAX_TTL_MS)
}

/// A finished call as a task's end: `completed` with the tool's result, or
/// with `isError` for tool errors and policy refusals (the spec's rule);
/// `failed` with a JSON-RPC error for a tool that is gone.
pub(crate) fn outcome_of(result: &Result<Arc<ToolOutput>, Error>, tool: &str) -> (TaskState, Value) {
    match result {
        Ok(out) => (TaskState::Completed, to_json(&convert::success(out))),
        Err(e) if e.code() == toolhost::ErrorCode::ToolNotFound => (
            TaskState::Failed,
            json!({ "code": -32602, "message": format!("unknown tool '{}'", toolhost::text::preview(tool)) }),
        ),
        Err(e) => (TaskState::Completed, to_json(&convert::failure(e))),
    }
}

fn to_json(r: &rmcp::model::CallToolResult) -> Value {
    serde_json::to_value(r).unwrap_or_else(|_| json!({ "content": [], "isError": true }))
}

#[derive(Debug)]
struct Entry {
    record: TaskRecord,
    cancel: CancelToken,
    expires: Instant,
    /// The client's answers by key.
    answers: HashMap<String, Value>,
}

/// Tasks in this process's memory.
#[derive(Debug, Default)]
pub(crate) struct MemoryTasks {
    tasks: Mutex<HashMap<String, Entry>>,
    changed: Notify,
}

impl MemoryTasks {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        let mut g = self.tasks.lock().unwrap_or_else(|e| e.into_inner());
        purge(&mut g, Instant::now());
        g
    }

    fn get_now(&self, tenant: &str, id: &str) -> Result<TaskRecord, TaskError> {
        let g = self.lock();
        g.get(id)
            .filter(|e| e.record.tenant == tenant)
            .map(|e| e.record.clone())
            .ok_or_else(|| TaskError::NotFound(id.into()))
    }

    fn update(&self, id: &str, f: impl FnOnce(&mut TaskRecord)) {
        let mut g = self.lock();
        if let Some(e) = g.get_mut(id).filter(|e| !e.record.state.is_terminal()) {
            f(&mut e.record);
            e.record.updated_at = now_iso();
        }
        drop(g);
        self.changed.notify_waiters();
    }
}

/// The tenant's task `id` (another tenant's answers like an unknown one).
fn owned<'g>(
    tasks: &'g mut HashMap<String, Entry>,
    tenant: &str,
    id: &str,
) -> Result<&'g mut Entry, TaskError> {
    tasks.get_mut(id).filter(|e| e.record.tenant == tenant).ok_or_else(|| TaskError::NotFound(id.into()))
}

/// Drops expired tasks, cancelling those still running.
fn purge(tasks: &mut HashMap<String, Entry>, now: Instant) {
    tasks.retain(|id, e| {
        if e.expires > now {
            return true;
        }
        if !e.record.state.is_terminal() {
            tracing::info!(task = %id, "MCP task expired while running: cancelled");
            e.cancel.cancel();
        }
        false
    });
}

impl TaskStore for MemoryTasks {
    fn create<'a>(
        &'a self,
        tenant: &'a str,
        ttl_ms: Option<u64>,
        cancel: CancelToken,
    ) -> BoxFuture<'a, Result<TaskRecord, TaskError>> {
        Box::pin(async move {
            let mut g = self.lock();
            let held = g.values().filter(|e| e.record.tenant == tenant).count();
            if held >= MAX_TASKS_PER_TENANT {
                return Err(TaskError::Full(held));
            }
            let ttl = granted_ttl(ttl_ms);
            let now = now_iso();
            let record = TaskRecord {
                id: new_id(),
                tenant: tenant.to_string(),
                state: TaskState::Working,
                message: None,
                created_at: now.clone(),
                updated_at: now,
                ttl_ms: ttl,
                poll_interval_ms: POLL_INTERVAL_MS,
                outcome: None,
                inputs: BTreeMap::new(),
            };
            let expires = Instant::now() + Duration::from_millis(ttl);
            let answers = HashMap::new();
            g.insert(record.id.clone(), Entry { record: record.clone(), cancel, expires, answers });
            Ok(record)
        })
    }

    fn get<'a>(&'a self, tenant: &'a str, id: &'a str) -> BoxFuture<'a, Result<TaskRecord, TaskError>> {
        Box::pin(async move { self.get_now(tenant, id) })
    }

    fn list<'a>(&'a self, tenant: &'a str) -> BoxFuture<'a, Vec<TaskRecord>> {
        Box::pin(async move {
            let g = self.lock();
            let mut mine: Vec<TaskRecord> =
                g.values().filter(|e| e.record.tenant == tenant).map(|e| e.record.clone()).collect();
            mine.sort_by(|a, b| a.created_at.cmp(&b.created_at).then(a.id.cmp(&b.id)));
            mine
        })
    }

    fn set_state<'a>(&'a self, id: &'a str, state: TaskState, message: Option<String>) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            self.update(id, |r| {
                r.state = state;
                r.message = message;
            })
        })
    }

    fn finish<'a>(&'a self, id: &'a str, state: TaskState, outcome: Value) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            self.update(id, |r| {
                r.state = state;
                r.message = None;
                r.outcome = Some(outcome);
                r.inputs.clear();
            })
        })
    }

    fn cancel<'a>(&'a self, tenant: &'a str, id: &'a str) -> BoxFuture<'a, Result<TaskRecord, TaskError>> {
        Box::pin(async move {
            let mut g = self.lock();
            let e = owned(&mut g, tenant, id)?;
            if e.record.state.is_terminal() {
                return Err(TaskError::Terminal(id.into(), e.record.state.as_str()));
            }
            e.record.state = TaskState::Cancelled;
            e.record.message = Some(CANCELLED.into());
            e.record.inputs.clear();
            e.record.updated_at = now_iso();
            e.cancel.cancel();
            let record = e.record.clone();
            drop(g);
            self.changed.notify_waiters();
            Ok(record)
        })
    }

    fn wait<'a>(&'a self, tenant: &'a str, id: &'a str) -> BoxFuture<'a, Result<TaskRecord, TaskError>> {
        Box::pin(async move {
            loop {
                let changed = self.changed.notified();
                let record = self.get_now(tenant, id)?;
                if record.state.is_terminal() {
                    return Ok(record);
                }
                // Also wake now and then so an expiry (no notification) is seen.
                let _ = tokio::time::timeout(Duration::from_millis(record.poll_interval_ms), changed).await;
            }
        })
    }

    fn ask<'a>(&'a self, id: &'a str, key: &'a str, request: Value) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            self.update(id, |r| {
                r.inputs.insert(key.to_string(), request);
                r.state = TaskState::InputRequired;
                r.message = Some(WAITING.into());
            })
        })
    }

    fn respond<'a>(
        &'a self,
        tenant: &'a str,
        id: &'a str,
        responses: BTreeMap<String, Value>,
    ) -> BoxFuture<'a, Result<(), TaskError>> {
        Box::pin(async move {
            let mut g = self.lock();
            let e = owned(&mut g, tenant, id)?;
            for (key, value) in responses {
                if e.record.inputs.remove(&key).is_some() {
                    e.answers.insert(key, value);
                }
            }
            if e.record.state == TaskState::InputRequired && e.record.inputs.is_empty() {
                e.record.state = TaskState::Working;
                e.record.message = None;
            }
            e.record.updated_at = now_iso();
            drop(g);
            self.changed.notify_waiters();
            Ok(())
        })
    }

    fn answer<'a>(&'a self, id: &'a str, key: &'a str) -> BoxFuture<'a, Option<Value>> {
        Box::pin(async move {
            loop {
                let changed = self.changed.notified();
                {
                    let g = self.lock();
                    let e = g.get(id)?;
                    if let Some(v) = e.answers.get(key) {
                        return Some(v.clone());
                    }
                    if e.record.state.is_terminal() {
                        return None;
                    }
                }
                let _ = tokio::time::timeout(Duration::from_millis(POLL_INTERVAL_MS), changed).await;
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn tenants_never_see_each_others_tasks() {
        let store = MemoryTasks::default();
        let t = store.create("acme", None, CancelToken::new()).await.unwrap();
        assert_eq!(t.state, TaskState::Working);
        assert_eq!(t.ttl_ms, DEFAULT_TTL_MS);
        assert_eq!(t.id.len(), 32);
        assert_eq!(store.get("other", &t.id).await, Err(TaskError::NotFound(t.id.clone())));
        assert_eq!(store.cancel("other", &t.id).await, Err(TaskError::NotFound(t.id.clone())));
        assert!(store.list("other").await.is_empty());
        assert_eq!(store.list("acme").await.len(), 1);
        assert_eq!(store.get("acme", "nope").await, Err(TaskError::NotFound("nope".into())));
    }

    #[tokio::test]
    async fn cancel_stops_the_call_and_finish_does_not_undo_it() {
        let store = MemoryTasks::default();
        let token = CancelToken::new();
        let t = store.create("acme", None, token.clone()).await.unwrap();
        let c = store.cancel("acme", &t.id).await.unwrap();
        assert_eq!(c.state, TaskState::Cancelled);
        assert!(token.is_cancelled());
        store.finish(&t.id, TaskState::Completed, json!({"content": []})).await;
        assert_eq!(store.get("acme", &t.id).await.unwrap().state, TaskState::Cancelled);
        assert_eq!(store.cancel("acme", &t.id).await, Err(TaskError::Terminal(t.id.clone(), "cancelled")));
    }

    #[tokio::test]
    async fn wait_returns_the_finished_task() {
        let store = std::sync::Arc::new(MemoryTasks::default());
        let t = store.create("acme", None, CancelToken::new()).await.unwrap();
        let (s2, id) = (store.clone(), t.id.clone());
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(20)).await;
            s2.finish(&id, TaskState::Completed, json!({"content": [], "isError": false})).await;
        });
        let done = store.wait("acme", &t.id).await.unwrap();
        assert_eq!(done.state, TaskState::Completed);
        assert_eq!(done.outcome.unwrap()["isError"], false);
        assert_eq!(store.cancel("acme", &t.id).await, Err(TaskError::Terminal(t.id.clone(), "completed")));
    }

    #[tokio::test]
    async fn expired_tasks_are_gone_and_cancelled() {
        let store = MemoryTasks::default();
        let token = CancelToken::new();
        let t = store.create("acme", Some(1), token.clone()).await.unwrap();
        assert_eq!(t.ttl_ms, MIN_TTL_MS, "a tiny TTL is raised to the minimum");
        // Age it past its TTL.
        store.tasks.lock().unwrap().get_mut(&t.id).unwrap().expires =
            Instant::now() - Duration::from_millis(1);
        assert_eq!(store.get("acme", &t.id).await, Err(TaskError::NotFound(t.id.clone())));
        assert!(token.is_cancelled());
        assert_eq!(granted_ttl(Some(u64::MAX)), MAX_TTL_MS);
    }

    #[tokio::test]
    async fn a_question_waits_for_the_clients_answer() {
        let store = std::sync::Arc::new(MemoryTasks::default());
        let t = store.create("acme", None, CancelToken::new()).await.unwrap();
        let q = json!({"method": "elicitation/create", "params": {"message": "sure?"}});
        store.ask(&t.id, "in_1", q.clone()).await;
        let asked = store.get("acme", &t.id).await.unwrap();
        assert_eq!(asked.state, TaskState::InputRequired);
        assert_eq!(asked.inputs.get("in_1"), Some(&q));
        let (s2, id) = (store.clone(), t.id.clone());
        let waiting = tokio::spawn(async move { s2.answer(&id, "in_1").await });
        let yes = json!({"action": "accept", "content": {"ok": true}});
        let other = BTreeMap::from([("in_1".to_string(), yes.clone())]);
        assert_eq!(store.respond("other", &t.id, other).await, Err(TaskError::NotFound(t.id.clone())));
        // An unknown key is ignored; the question is still open.
        store.respond("acme", &t.id, BTreeMap::from([("in_9".to_string(), yes.clone())])).await.unwrap();
        assert_eq!(store.get("acme", &t.id).await.unwrap().state, TaskState::InputRequired);
        store.respond("acme", &t.id, BTreeMap::from([("in_1".to_string(), yes.clone())])).await.unwrap();
        assert_eq!(waiting.await.unwrap(), Some(yes));
        let working = store.get("acme", &t.id).await.unwrap();
        assert_eq!((working.state, working.inputs.len()), (TaskState::Working, 0));
        // A question pending when the task is cancelled gets no answer.
        store.ask(&t.id, "in_2", q).await;
        store.cancel("acme", &t.id).await.unwrap();
        assert_eq!(store.answer(&t.id, "in_2").await, None);
    }
}
