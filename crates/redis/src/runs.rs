//! Durable run state: one hash per run and one hash of per-call checkpoints,
//! sharing the run id as hash tag so they live in one cluster slot.
//!
//! | Key | Type | Fields |
//! |---|---|---|
//! | `{prefix}:run:{<run_id>}` | hash | `spec`, `tenant`, `ctx`, `status`, `created_ms`, `updated_ms`, `worker`, `attempts`, `result`, `cancel` |
//! | `{prefix}:run:{<run_id>}:calls` | hash | `r:<call_id>` = the call's result JSON; `i:<call_id>` = in-flight marker |
//!
//! Every write refreshes the TTL (`run_ttl_secs`) of the keys it touches.
//!
//! Cancellation works from any process through the run hash: [`RunStore::cancel`]
//! turns a queued run `cancelled` at once (it never runs), and sets the
//! `cancel` field of a running one; the worker holding it polls that field
//! while the run executes and stops it, and a worker about to start (or
//! resume) a run finds the field in [`RunStore::mark_running`].

use crate::conn::{Redis, RedisError};
use crate::queue;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use toolhost_core::ExecutionContext;
use toolhost_scheduler::RunSpec;

/// Run status: stored, waiting for a worker.
pub const QUEUED: &str = "queued";
/// Run status: a worker is executing it.
pub const RUNNING: &str = "running";

/// Whether `status` is final (a [`RunStatus`](toolhost_scheduler::RunStatus) in snake case).
pub fn is_final(status: &str) -> bool {
    matches!(status, "succeeded" | "failed" | "cancelled" | "deadline_exceeded")
}

/// A failed durable-run operation.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum RunStoreError {
    /// Submission failed: the run was not stored or not enqueued, so it was
    /// not accepted and will not run.
    #[error(
        "the run was not accepted: it could not be stored and queued in redis ({0}); nothing will run, submit it again"
    )]
    NotAccepted(RedisError),
    /// Any other Redis failure.
    #[error("durable run store unavailable: {0}")]
    Backend(#[from] RedisError),
    /// A stored run could not be read back.
    #[error("run {run_id} is unreadable in redis: {reason}")]
    Corrupt {
        /// The run.
        run_id: String,
        /// What is wrong.
        reason: String,
    },
}

/// Request context fields kept with a run (the tenant is stored apart).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct StoredContext {
    /// Request id.
    pub request_id: String,
    /// Correlation id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub correlation_id: Option<String>,
    /// End user.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    /// W3C traceparent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub traceparent: Option<String>,
    /// W3C tracestate.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tracestate: Option<String>,
    /// Cost budget.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub budget: Option<f64>,
    /// Calls of the run at once.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_parallel: Option<usize>,
    /// Free-form metadata.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub metadata: BTreeMap<String, String>,
    /// The caller's absolute deadline, Unix ms (wall clock: it survives the process).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deadline_unix_ms: Option<u64>,
    /// Who submitted the run (the audit trail's principal of its calls).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub principal: Option<String>,
}

/// Milliseconds since the Unix epoch.
pub fn unix_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

impl StoredContext {
    /// The storable part of `ctx`.
    pub fn from_context(ctx: &ExecutionContext) -> StoredContext {
        let now = Instant::now();
        StoredContext {
            request_id: ctx.request_id.clone(),
            correlation_id: ctx.correlation_id.clone(),
            user_id: ctx.user_id.clone(),
            traceparent: ctx.traceparent.clone(),
            tracestate: ctx.tracestate.clone(),
            budget: ctx.budget,
            max_parallel: ctx.max_parallel,
            metadata: ctx.metadata.clone(),
            deadline_unix_ms: ctx
                .deadline
                .map(|d| unix_ms() + d.saturating_duration_since(now).as_millis() as u64),
            principal: ctx.principal.clone(),
        }
    }

    /// The context to run under, for `tenant`.
    pub fn to_context(&self, tenant: &str) -> ExecutionContext {
        let mut ctx = ExecutionContext::new();
        if !self.request_id.is_empty() {
            ctx.request_id = self.request_id.clone();
        }
        ctx.tenant_id = Some(tenant.to_string());
        ctx.correlation_id = self.correlation_id.clone();
        ctx.user_id = self.user_id.clone();
        ctx.traceparent = self.traceparent.clone();
        ctx.tracestate = self.tracestate.clone();
        ctx.budget = self.budget;
        ctx.max_parallel = self.max_parallel;
        ctx.metadata = self.metadata.clone();
        ctx.principal = self.principal.clone();
        ctx.deadline = self
            .deadline_unix_ms
            .map(|at| Instant::now() + Duration::from_millis(at.saturating_sub(unix_ms())));
        ctx
    }
}

/// A run as `GET /v1/runs/{id}` and `toolhost submit --wait` see it.
#[derive(Debug, Clone, PartialEq)]
pub struct RunRecord {
    /// Its id.
    pub run_id: String,
    /// Its tenant.
    pub tenant: String,
    /// `queued`, `running`, or the final status.
    pub status: String,
    /// The final [`RunResult`](toolhost_scheduler::RunResult) JSON, once finished.
    pub result: Option<Value>,
    /// Times a worker started (or resumed) it.
    pub attempts: u64,
    /// The worker that last took it.
    pub worker: Option<String>,
    /// Stored, Unix ms.
    pub created_ms: u64,
    /// Last changed, Unix ms.
    pub updated_ms: u64,
    /// Its cancellation was requested (its worker stops it).
    pub cancel_requested: bool,
}

impl RunRecord {
    /// Whether the run has its final result.
    pub fn is_finished(&self) -> bool {
        is_final(&self.status) && self.result.is_some()
    }

    /// The result once finished, else `{run_id, status, attempts, worker?}`.
    pub fn to_json(&self) -> Value {
        match &self.result {
            Some(r) if is_final(&self.status) => r.clone(),
            _ => {
                let mut v = serde_json::json!({
                    "run_id": self.run_id,
                    "status": self.status,
                    "attempts": self.attempts,
                });
                if let Some(w) = &self.worker {
                    v["worker"] = w.clone().into();
                }
                v
            }
        }
    }
}

/// What [`RunStore::cancel`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CancelOutcome {
    /// It was queued: it is `cancelled` now and will not run.
    Cancelled,
    /// It is running: its worker was asked to stop it (running calls are
    /// interrupted, the rest skipped; the status becomes `cancelled`).
    Cancelling,
    /// It had already finished with this status; nothing changed.
    Finished(String),
}

/// What [`RunStore::mark_running`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Start {
    /// Marked `running` on this worker: go ahead.
    Running,
    /// Cancellation was requested: finish it as cancelled without running anything.
    CancelRequested,
    /// Already finished with this status (or gone: empty): nothing to do.
    Final(String),
}

const CANCEL: &str = r#"
local v = redis.call('HMGET', KEYS[1], 'tenant', 'status')
if not v[1] or not v[2] then return {'gone', ''} end
if ARGV[1] == '1' and v[1] ~= ARGV[2] then return {'gone', ''} end
local st = v[2]
if st == 'succeeded' or st == 'failed' or st == 'cancelled' or st == 'deadline_exceeded' then
  return {'final', st}
end
redis.call('HSET', KEYS[1], 'cancel', ARGV[4], 'updated_ms', ARGV[4])
redis.call('EXPIRE', KEYS[1], ARGV[5])
if st == 'queued' then
  redis.call('HSET', KEYS[1], 'status', 'cancelled', 'result', ARGV[3])
  return {'cancelled', st}
end
return {'cancelling', st}
"#;

const MARK_RUNNING: &str = r#"
local st = redis.call('HGET', KEYS[1], 'status')
if not st then return '' end
if st == 'succeeded' or st == 'failed' or st == 'cancelled' or st == 'deadline_exceeded' then
  return st
end
if redis.call('HEXISTS', KEYS[1], 'cancel') == 1 then return 'cancel' end
redis.call('HSET', KEYS[1], 'status', 'running', 'worker', ARGV[1], 'updated_ms', ARGV[2])
redis.call('HINCRBY', KEYS[1], 'attempts', 1)
redis.call('EXPIRE', KEYS[1], ARGV[3])
return 'running'
"#;

/// The result of a run cancelled before it finished, built from its spec:
/// calls with a recorded result keep it, the others are skipped (`cancelled`).
pub fn cancelled_result(run_id: &str, spec: &RunSpec, checkpoints: &Checkpoints) -> Value {
    let calls: Vec<Value> = spec
        .calls
        .iter()
        .map(|c| match checkpoints.results.get(&c.call_id) {
            Some(r) => serde_json::json!({
                "call_id": c.call_id, "tool": c.tool,
                "status": if r["ok"] == true { "succeeded" } else { "failed" },
                "result": r, "attempts": r["attempts"].as_u64().unwrap_or(0),
            }),
            None => serde_json::json!({
                "call_id": c.call_id, "tool": c.tool, "status": "skipped",
                "reason": toolhost_scheduler::SkipReason::Cancelled, "attempts": 0,
            }),
        })
        .collect();
    serde_json::json!({
        "run_id": run_id, "status": "cancelled", "calls": calls,
        "duration_ms": 0.0, "critical_path_ms": 0,
    })
}

/// A stored run as a worker loads it.
#[derive(Debug, Clone)]
pub struct StoredRun {
    /// What to run.
    pub spec: RunSpec,
    /// Whose run it is.
    pub tenant: String,
    /// Request context.
    pub ctx: StoredContext,
    /// Current status.
    pub status: String,
    /// Its guests may ask their caller ([`RunStore::submit_asking`]).
    pub asks: bool,
}

/// Per-call checkpoints of a run.
#[derive(Debug, Clone, Default)]
pub struct Checkpoints {
    /// Finished calls: call id → result JSON (`CallResult::to_json`).
    pub results: HashMap<String, Value>,
    /// Calls a worker started and did not record a result for.
    pub inflight: HashSet<String>,
}

/// Durable runs in Redis. Cheap to clone.
#[derive(Debug, Clone)]
pub struct RunStore {
    redis: Redis,
}

impl RunStore {
    /// Runs stored through `redis`.
    pub fn new(redis: Redis) -> RunStore {
        RunStore { redis }
    }

    /// The connection handle.
    pub fn redis(&self) -> &Redis {
        &self.redis
    }

    /// `{prefix}:run:{<run_id>}`.
    pub fn run_key(&self, run_id: &str) -> String {
        self.redis.key(&format!("run:{{{run_id}}}"))
    }

    /// `{prefix}:run:{<run_id>}:calls`.
    pub fn calls_key(&self, run_id: &str) -> String {
        self.redis.key(&format!("run:{{{run_id}}}:calls"))
    }

    fn ttl(&self) -> i64 {
        self.redis.config().run_ttl_secs.max(1) as i64
    }

    /// Stores the run (status `queued`) and enqueues it. Returns the run id
    /// only when both happened; otherwise the run is not accepted.
    pub async fn submit(
        &self,
        spec: &RunSpec,
        tenant: &str,
        ctx: &ExecutionContext,
    ) -> Result<String, RunStoreError> {
        self.submit_with(spec, tenant, ctx, false).await
    }

    /// [`submit`](RunStore::submit); `asking`: the run's guests may ask their caller.
    pub(crate) async fn submit_with(
        &self,
        spec: &RunSpec,
        tenant: &str,
        ctx: &ExecutionContext,
        asking: bool,
    ) -> Result<String, RunStoreError> {
        let run_id = toolhost_scheduler::new_run_id();
        let spec_json = serde_json::to_string(spec)
            .map_err(|e| RunStoreError::Corrupt { run_id: run_id.clone(), reason: e.to_string() })?;
        let ctx_json =
            serde_json::to_string(&StoredContext::from_context(ctx)).unwrap_or_else(|_| "{}".into());
        let key = self.run_key(&run_id);
        let now = unix_ms().to_string();
        let mut fields = vec![
            ("spec", spec_json.as_str()),
            ("tenant", tenant),
            ("ctx", ctx_json.as_str()),
            ("status", QUEUED),
            ("created_ms", &now),
            ("updated_ms", &now),
            ("attempts", "0"),
        ];
        if asking {
            fields.push(("asks", "1"));
        }
        let mut pipe = redis::pipe();
        pipe.atomic().hset_multiple(&key, &fields).ignore().expire(&key, self.ttl()).ignore();
        let mut c = self.redis.conn();
        self.redis
            .run(async { pipe.query_async::<()>(&mut c).await })
            .await
            .map_err(RunStoreError::NotAccepted)?;
        if let Err(e) = queue::enqueue(&self.redis, &run_id).await {
            // Not queued: nothing will ever run it, so do not keep it either.
            let mut c = self.redis.conn();
            let _ =
                self.redis.run(async { redis::cmd("DEL").arg(&key).query_async::<()>(&mut c).await }).await;
            return Err(RunStoreError::NotAccepted(e));
        }
        tracing::info!(run_id = %run_id, tenant, "durable run stored and queued");
        Ok(run_id)
    }

    /// The run's status and result; `None` when unknown, expired or (with
    /// `tenant`) another tenant's.
    pub async fn get(&self, run_id: &str, tenant: Option<&str>) -> Result<Option<RunRecord>, RunStoreError> {
        let key = self.run_key(run_id);
        let mut c = self.redis.conn();
        type Fields = (
            Option<String>,
            Option<String>,
            Option<String>,
            Option<u64>,
            Option<String>,
            Option<u64>,
            Option<u64>,
            Option<String>,
        );
        let (t, status, result, attempts, worker, created, updated, cancel): Fields = self
            .redis
            .run(async {
                redis::cmd("HMGET")
                    .arg(&key)
                    .arg(&[
                        "tenant",
                        "status",
                        "result",
                        "attempts",
                        "worker",
                        "created_ms",
                        "updated_ms",
                        "cancel",
                    ])
                    .query_async(&mut c)
                    .await
            })
            .await?;
        let (Some(t), Some(status)) = (t, status) else { return Ok(None) };
        if tenant.is_some_and(|want| want != t) {
            return Ok(None);
        }
        let result = match result {
            Some(r) => Some(serde_json::from_str(&r).map_err(|e| RunStoreError::Corrupt {
                run_id: run_id.to_string(),
                reason: format!("result: {e}"),
            })?),
            None => None,
        };
        Ok(Some(RunRecord {
            run_id: run_id.to_string(),
            tenant: t,
            status,
            result,
            attempts: attempts.unwrap_or(0),
            worker,
            created_ms: created.unwrap_or(0),
            updated_ms: updated.unwrap_or(0),
            cancel_requested: cancel.is_some(),
        }))
    }

    /// The whole stored run, for a worker.
    pub async fn load(&self, run_id: &str) -> Result<Option<StoredRun>, RunStoreError> {
        let key = self.run_key(run_id);
        let mut c = self.redis.conn();
        type Fields = (Option<String>, Option<String>, Option<String>, Option<String>, Option<String>);
        let (spec, tenant, ctx, status, asks): Fields = self
            .redis
            .run(async {
                redis::cmd("HMGET")
                    .arg(&key)
                    .arg(&["spec", "tenant", "ctx", "status", "asks"])
                    .query_async(&mut c)
                    .await
            })
            .await?;
        let (Some(spec), Some(tenant), Some(status)) = (spec, tenant, status) else { return Ok(None) };
        let corrupt = |what: &str, e: serde_json::Error| RunStoreError::Corrupt {
            run_id: run_id.to_string(),
            reason: format!("{what}: {e}"),
        };
        let spec: RunSpec = serde_json::from_str(&spec).map_err(|e| corrupt("spec", e))?;
        let ctx: StoredContext = match ctx {
            Some(c) => serde_json::from_str(&c).map_err(|e| corrupt("ctx", e))?,
            None => StoredContext::default(),
        };
        Ok(Some(StoredRun { spec, tenant, ctx, status, asks: asks.is_some() }))
    }

    /// Marks the run `running` on `worker` (one more attempt), atomically
    /// unless it is final already or its cancellation was requested.
    pub async fn mark_running(&self, run_id: &str, worker: &str) -> Result<Start, RunStoreError> {
        let key = self.run_key(run_id);
        let script = redis::Script::new(MARK_RUNNING);
        let mut c = self.redis.conn();
        let found: String = self
            .redis
            .run(async {
                script.key(&key).arg(worker).arg(unix_ms()).arg(self.ttl()).invoke_async(&mut c).await
            })
            .await?;
        Ok(match found.as_str() {
            "running" => Start::Running,
            "cancel" => Start::CancelRequested,
            _ => Start::Final(found),
        })
    }

    /// Cancels a run from any process: a queued run becomes `cancelled` at
    /// once (with its result; it never runs), a running one is stopped by
    /// its worker. `None` when unknown, expired or (with `tenant`) another tenant's.
    pub async fn cancel(
        &self,
        run_id: &str,
        tenant: Option<&str>,
    ) -> Result<Option<CancelOutcome>, RunStoreError> {
        let Some(stored) = self.load(run_id).await? else { return Ok(None) };
        if tenant.is_some_and(|t| t != stored.tenant) {
            return Ok(None);
        }
        // The result it gets if it is still queued (a handed-back run may have checkpoints).
        let result = cancelled_result(run_id, &stored.spec, &self.checkpoints(run_id).await?);
        let key = self.run_key(run_id);
        let script = redis::Script::new(CANCEL);
        let mut c = self.redis.conn();
        let (what, status): (String, String) = self
            .redis
            .run(async {
                script
                    .key(&key)
                    .arg(if tenant.is_some() { "1" } else { "0" })
                    .arg(tenant.unwrap_or(""))
                    .arg(result.to_string())
                    .arg(unix_ms())
                    .arg(self.ttl())
                    .invoke_async(&mut c)
                    .await
            })
            .await?;
        let outcome = match what.as_str() {
            "gone" => return Ok(None),
            "final" => CancelOutcome::Finished(status),
            "cancelled" => CancelOutcome::Cancelled,
            _ => CancelOutcome::Cancelling,
        };
        tracing::info!(run_id, ?outcome, "durable run cancellation requested");
        Ok(Some(outcome))
    }

    /// Whether cancellation of the run was requested (its worker polls this).
    pub async fn cancel_requested(&self, run_id: &str) -> Result<bool, RunStoreError> {
        let key = self.run_key(run_id);
        let mut c = self.redis.conn();
        let found: bool = self
            .redis
            .run(async { redis::cmd("HEXISTS").arg(&key).arg("cancel").query_async(&mut c).await })
            .await?;
        Ok(found)
    }

    /// Marks a handed-back run `queued` again.
    pub async fn mark_queued(&self, run_id: &str) -> Result<(), RunStoreError> {
        let key = self.run_key(run_id);
        let mut pipe = redis::pipe();
        pipe.atomic()
            .hset_multiple(&key, &[("status", QUEUED), ("updated_ms", &unix_ms().to_string())])
            .ignore()
            .expire(&key, self.ttl())
            .ignore();
        let mut c = self.redis.conn();
        self.redis.run(async { pipe.query_async::<()>(&mut c).await }).await?;
        Ok(())
    }

    /// Every checkpoint of the run.
    pub async fn checkpoints(&self, run_id: &str) -> Result<Checkpoints, RunStoreError> {
        let key = self.calls_key(run_id);
        let mut c = self.redis.conn();
        let all: HashMap<String, String> =
            self.redis.run(async { redis::cmd("HGETALL").arg(&key).query_async(&mut c).await }).await?;
        let mut cp = Checkpoints::default();
        for (field, value) in all {
            if let Some(id) = field.strip_prefix("r:") {
                let v = serde_json::from_str(&value).map_err(|e| RunStoreError::Corrupt {
                    run_id: run_id.to_string(),
                    reason: format!("checkpoint of {id}: {e}"),
                })?;
                cp.results.insert(id.to_string(), v);
            } else if let Some(id) = field.strip_prefix("i:") {
                cp.inflight.insert(id.to_string());
            }
        }
        Ok(cp)
    }

    /// Records that `call_id` is about to run on `worker`.
    pub async fn mark_inflight(
        &self,
        run_id: &str,
        call_id: &str,
        worker: &str,
    ) -> Result<(), RunStoreError> {
        let marker = format!("{worker} {}", unix_ms());
        self.hset_calls(run_id, &format!("i:{call_id}"), &marker).await
    }

    /// Records the result of `call_id` (its `CallResult::to_json`).
    pub async fn store_call(&self, run_id: &str, call_id: &str, result: &Value) -> Result<(), RunStoreError> {
        self.hset_calls(run_id, &format!("r:{call_id}"), &result.to_string()).await
    }

    async fn hset_calls(&self, run_id: &str, field: &str, value: &str) -> Result<(), RunStoreError> {
        let key = self.calls_key(run_id);
        let mut pipe = redis::pipe();
        pipe.atomic().hset(&key, field, value).ignore().expire(&key, self.ttl()).ignore();
        let mut c = self.redis.conn();
        self.redis.run(async { pipe.query_async::<()>(&mut c).await }).await?;
        Ok(())
    }

    /// Stores the final result and status (`status` = the result's).
    pub async fn finish(&self, run_id: &str, status: &str, result: &Value) -> Result<(), RunStoreError> {
        let key = self.run_key(run_id);
        let calls = self.calls_key(run_id);
        let mut pipe = redis::pipe();
        pipe.atomic()
            .hset_multiple(
                &key,
                &[
                    ("status", status),
                    ("result", &result.to_string()),
                    ("updated_ms", &unix_ms().to_string()),
                ],
            )
            .ignore()
            .expire(&key, self.ttl())
            .ignore()
            .expire(&calls, self.ttl())
            .ignore();
        let mut c = self.redis.conn();
        self.redis.run(async { pipe.query_async::<()>(&mut c).await }).await?;
        Ok(())
    }

    /// Polls until the run has its final result (or `timeout` passes: `Ok(None)`
    /// then means still unfinished or unknown).
    pub async fn wait(
        &self,
        run_id: &str,
        tenant: Option<&str>,
        timeout: Option<Duration>,
    ) -> Result<Option<RunRecord>, RunStoreError> {
        let until = timeout.map(|t| Instant::now() + t);
        let mut every = Duration::from_millis(50);
        loop {
            let rec = match self.get(run_id, tenant).await {
                Ok(r) => r,
                // Accepted runs are not lost while Redis is away: keep polling.
                Err(RunStoreError::Backend(e)) if until.is_none_or(|u| Instant::now() < u) => {
                    tracing::debug!(run_id, error = %e, "polling the run failed; retrying");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    continue;
                }
                Err(e) => return Err(e),
            };
            match &rec {
                Some(r) if r.is_finished() => return Ok(rec),
                None => return Ok(None),
                _ => {}
            }
            if until.is_some_and(|u| Instant::now() >= u) {
                return Ok(rec);
            }
            tokio::time::sleep(every).await;
            every = (every * 2).min(Duration::from_millis(500));
        }
    }
}
