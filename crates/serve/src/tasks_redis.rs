//! MCP tasks as durable runs, when Redis is configured.
//!
//! A task is a one-call run stored in Redis and queued for `toolhost worker`
//! processes ([`RunStore::submit_asking`]); its id is the run id. Any replica
//! answers `tasks/get`, `tasks/result`, `tasks/list`, `tasks/cancel` and
//! `tasks/update` from the run hash, and a worker's death does not lose the
//! task: another worker reclaims the run and calls the tool again (the
//! durable-run rules: an idempotent call re-runs, another is reported
//! `INTERRUPTED` unless `redis.rerun_interrupted`). A guest's question waits in
//! the run hash until a client answers it from any replica.
//!
//! The run's TTL (`redis.run_ttl_secs`, refreshed on every write) is the
//! task's: a TTL the client asks for is not applied. Progress and log
//! messages stay with the worker (it has no client session).

use crate::tasks::{
    CANCELLED, POLL_INTERVAL_MS, TaskError, TaskRecord, TaskState, TaskStore, WAITING, outcome_of,
};
use futures::future::BoxFuture;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::time::Duration;
use toolhost::CancelToken;
use toolhost::ExecutionContext;
use toolhost::backend::redis::checkpoint::call_result_from_json;
use toolhost::backend::redis::runs::{CancelOutcome, RunRecord};
use toolhost::backend::redis::{RunStore, RunStoreError};

/// Tasks in Redis, run by workers.
#[derive(Debug)]
pub(crate) struct RedisTasks {
    runs: RunStore,
}

impl From<RunStoreError> for TaskError {
    fn from(e: RunStoreError) -> TaskError {
        TaskError::Unavailable(e.to_string())
    }
}

/// ISO 8601 of a Unix time in ms.
fn iso(ms: u64) -> String {
    chrono::DateTime::from_timestamp_millis(ms as i64).unwrap_or_default().to_rfc3339()
}

impl RedisTasks {
    pub(crate) fn new(runs: RunStore) -> RedisTasks {
        RedisTasks { runs }
    }

    fn ttl_ms(&self) -> u64 {
        self.runs.redis().config().run_ttl_secs.max(1).saturating_mul(1000)
    }

    async fn record(&self, tenant: &str, id: &str) -> Result<TaskRecord, TaskError> {
        let run = self.runs.get(id, Some(tenant)).await?.ok_or_else(|| TaskError::NotFound(id.into()))?;
        let live = matches!(run.status.as_str(), "queued" | "running");
        let inputs = match live && !run.cancel_requested {
            true => self.runs.questions(id).await?,
            false => BTreeMap::new(),
        };
        Ok(to_record(run, inputs, self.ttl_ms()))
    }

    async fn start(
        &self,
        tenant: &str,
        ectx: &ExecutionContext,
        tool: &str,
        args: &str,
    ) -> Result<TaskRecord, TaskError> {
        let held = self.runs.task_ids(tenant).await?.len();
        if held >= crate::tasks::MAX_TASKS_PER_TENANT
            && self.prune(tenant).await? >= crate::tasks::MAX_TASKS_PER_TENANT
        {
            return Err(TaskError::Full(held));
        }
        let args: Value = serde_json::from_str(args).unwrap_or_else(|_| json!({}));
        let spec =
            serde_json::from_value(json!({"calls": [{"call_id": CALL_ID, "tool": tool, "args": args}]}))
                .map_err(|e| TaskError::Unavailable(format!("the task's run spec: {e}")))?;
        let id = self.runs.submit_asking(&spec, tenant, ectx).await?;
        self.runs.index_task(tenant, &id).await?;
        tracing::info!(task = %id, tool, tenant, "MCP task queued as a durable run");
        self.record(tenant, &id).await
    }

    /// Drops gone runs from the tenant's index; how many remain.
    async fn prune(&self, tenant: &str) -> Result<usize, TaskError> {
        Ok(self.live(tenant).await?.len())
    }

    async fn live(&self, tenant: &str) -> Result<Vec<TaskRecord>, TaskError> {
        let (mut live, mut gone) = (Vec::new(), Vec::new());
        for id in self.runs.task_ids(tenant).await? {
            match self.record(tenant, &id).await {
                Ok(r) => live.push(r),
                Err(TaskError::NotFound(_)) => gone.push(id),
                Err(e) => return Err(e),
            }
        }
        self.runs.forget_tasks(tenant, &gone).await?;
        Ok(live)
    }
}

/// The call id of a task's one-call run.
const CALL_ID: &str = "call";

/// A task as its run shows it.
fn to_record(run: RunRecord, inputs: BTreeMap<String, Value>, ttl_ms: u64) -> TaskRecord {
    let (state, message, outcome) = match run.status.as_str() {
        _ if run.cancel_requested && !run.is_finished() => {
            (TaskState::Cancelled, Some(CANCELLED.into()), None)
        }
        "queued" | "running" if !inputs.is_empty() => (TaskState::InputRequired, Some(WAITING.into()), None),
        "queued" => (TaskState::Working, Some("queued for a worker".into()), None),
        "running" => (TaskState::Working, None, None),
        "cancelled" => (TaskState::Cancelled, Some(CANCELLED.into()), None),
        status => {
            let (state, outcome) = finished(&run, status);
            (state, None, Some(outcome))
        }
    };
    TaskRecord {
        id: run.run_id,
        tenant: run.tenant,
        state,
        message,
        created_at: iso(run.created_ms),
        updated_at: iso(run.updated_ms),
        ttl_ms,
        poll_interval_ms: POLL_INTERVAL_MS,
        outcome,
        inputs,
    }
}

/// The outcome of a finished run's call, as a task's.
fn finished(run: &RunRecord, status: &str) -> (TaskState, Value) {
    let call = run.result.as_ref().and_then(|r| r["calls"].get(0)).and_then(|c| c.get("result"));
    match call {
        Some(v) => {
            let r = call_result_from_json(v);
            outcome_of(&r.result, &r.tool)
        }
        None => (
            TaskState::Failed,
            json!({ "code": -32603, "message": format!("the task's run ended '{status}' before its call ran") }),
        ),
    }
}

impl TaskStore for RedisTasks {
    fn create<'a>(
        &'a self,
        _tenant: &'a str,
        _ttl_ms: Option<u64>,
        _cancel: CancelToken,
    ) -> BoxFuture<'a, Result<TaskRecord, TaskError>> {
        Box::pin(async { Err(TaskError::Unavailable("durable tasks start with `submit`".into())) })
    }

    fn submit<'a>(
        &'a self,
        tenant: &'a str,
        ectx: &'a ExecutionContext,
        tool: &'a str,
        args: &'a str,
    ) -> Option<BoxFuture<'a, Result<TaskRecord, TaskError>>> {
        Some(Box::pin(self.start(tenant, ectx, tool, args)))
    }

    fn get<'a>(&'a self, tenant: &'a str, id: &'a str) -> BoxFuture<'a, Result<TaskRecord, TaskError>> {
        Box::pin(self.record(tenant, id))
    }

    fn list<'a>(&'a self, tenant: &'a str) -> BoxFuture<'a, Vec<TaskRecord>> {
        Box::pin(async move {
            self.live(tenant).await.unwrap_or_else(|e| {
                tracing::warn!(tenant, error = %e, "listing durable tasks failed");
                Vec::new()
            })
        })
    }

    // The worker running the call writes its state: nothing to do here.
    fn set_state<'a>(
        &'a self,
        _id: &'a str,
        _state: TaskState,
        _message: Option<String>,
    ) -> BoxFuture<'a, ()> {
        Box::pin(async {})
    }

    fn finish<'a>(&'a self, _id: &'a str, _state: TaskState, _outcome: Value) -> BoxFuture<'a, ()> {
        Box::pin(async {})
    }

    fn cancel<'a>(&'a self, tenant: &'a str, id: &'a str) -> BoxFuture<'a, Result<TaskRecord, TaskError>> {
        Box::pin(async move {
            let before = self.record(tenant, id).await?;
            // Finished, or its cancellation already requested (the worker is stopping it).
            if before.state.is_terminal() {
                return Err(TaskError::Terminal(id.into(), before.state.as_str()));
            }
            match self.runs.cancel(id, Some(tenant)).await? {
                None => Err(TaskError::NotFound(id.into())),
                Some(CancelOutcome::Finished(_)) => {
                    let now = self.record(tenant, id).await?;
                    Err(TaskError::Terminal(id.into(), now.state.as_str()))
                }
                Some(_) => self.record(tenant, id).await,
            }
        })
    }

    fn wait<'a>(&'a self, tenant: &'a str, id: &'a str) -> BoxFuture<'a, Result<TaskRecord, TaskError>> {
        Box::pin(async move {
            loop {
                let r = self.record(tenant, id).await?;
                if r.state.is_terminal() {
                    return Ok(r);
                }
                tokio::time::sleep(Duration::from_millis(POLL_INTERVAL_MS / 2)).await;
            }
        })
    }

    fn ask<'a>(&'a self, id: &'a str, key: &'a str, request: Value) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            if let Err(e) = self.runs.ask(id, key, &request).await {
                tracing::warn!(task = %id, error = %e, "recording a task's question failed");
            }
        })
    }

    fn respond<'a>(
        &'a self,
        tenant: &'a str,
        id: &'a str,
        responses: BTreeMap<String, Value>,
    ) -> BoxFuture<'a, Result<(), TaskError>> {
        Box::pin(async move {
            match self.runs.respond(id, tenant, &responses).await? {
                true => Ok(()),
                false => Err(TaskError::NotFound(id.into())),
            }
        })
    }

    fn answer<'a>(&'a self, id: &'a str, key: &'a str) -> BoxFuture<'a, Option<Value>> {
        Box::pin(async move {
            loop {
                match self.runs.answer(id, key).await {
                    Ok(Some(v)) => return Some(v),
                    Ok(None) => {}
                    Err(e) => tracing::debug!(task = %id, error = %e, "polling for an answer failed"),
                }
                match self.runs.get(id, None).await {
                    Ok(None) => return None,
                    Ok(Some(r)) if r.is_finished() || r.cancel_requested => return None,
                    _ => tokio::time::sleep(Duration::from_millis(POLL_INTERVAL_MS / 2)).await,
                }
            }
        })
    }
}
