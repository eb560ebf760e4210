//! Executing a run: a ready queue, not stage barriers. A call is dispatched
//! as soon as its dependencies have succeeded (and its pool has room), runs
//! under every executor policy, and its result feeds its dependents' `$ref`s.

use crate::plan::{Greedy, SchedulerPolicy, SkipReason, critical_path, initial_skips};
use crate::refs;
use crate::spec::{DagError, Graph, NodeSpec, RunSpec};
use futures::FutureExt;
use serde::Serialize;
use serde_json::Value;
use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use toolhost_core::{CallResult, CancelToken, ExecutionContext};
use toolhost_exec::ToolCall;
use toolhost_exec::policy::PolicyOverride;
use toolhost_exec::retry::RetryPolicy;

/// Runs one call of a run (the host in production; a fake in property tests).
pub trait Dispatch: Send + Sync + 'static {
    /// Runs `node` with resolved `args` under `ctx`; `cancel` stops it.
    fn dispatch(
        &self,
        node: NodeSpec,
        args: String,
        ctx: ExecutionContext,
        cancel: CancelToken,
    ) -> Pin<Box<dyn Future<Output = CallResult> + Send + 'static>>;

    /// Whether `tool` is idempotent as `tenant` sees it (`None`: no such
    /// tool). Durable runs ask before re-running a call that was in flight
    /// when its worker died. Default: unknown.
    fn idempotent(&self, _tenant: &str, _tool: &str) -> Option<bool> {
        None
    }
}

/// The executor call of one node: its tool, resolved `args`, and its own
/// timeout and retry count as the per-call policy.
pub fn node_call(node: NodeSpec, args: String) -> ToolCall {
    let policy = PolicyOverride {
        timeout_ms: node.timeout_ms,
        retry: node
            .max_retries
            .map(|r| RetryPolicy { max_attempts: r.saturating_add(1), ..RetryPolicy::default() }),
        ..Default::default()
    };
    ToolCall { call_id: Some(node.call_id), tool: node.tool, arguments: Ok(args), policy }
}

/// How a run is executed.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Skips and ready-queue order. Default: [`Greedy`].
    pub policy: Arc<dyn SchedulerPolicy>,
    /// Cancels the run: running guests are stopped, the rest skipped.
    pub cancel: Option<CancelToken>,
    /// Receives a [`RunEvent`] per call start, finish and skip.
    pub events: Option<mpsc::Sender<RunEvent>>,
    /// Run id (generated when `None`).
    pub run_id: Option<String>,
    /// Calls running at once (`None`: no limit beyond pools; `Host::run_dag`
    /// uses the context's or the executor's `max_parallel`).
    pub max_parallel: Option<usize>,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions { policy: Arc::new(Greedy), cancel: None, events: None, run_id: None, max_parallel: None }
    }
}

/// Outcome of one call of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NodeStatus {
    /// It ran and succeeded.
    Succeeded,
    /// It ran and failed (after its retries).
    Failed,
    /// It did not run (see the reason).
    Skipped,
}

/// One call of a finished run.
#[derive(Debug, Clone, Serialize)]
pub struct NodeResult {
    /// Its id.
    pub call_id: String,
    /// Its tool.
    pub tool: String,
    /// What happened.
    pub status: NodeStatus,
    /// Why it was skipped.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<SkipReason>,
    /// The executor's result (`{ok, value|error, content?, attempts, cached, duration_ms, …}`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result: Option<Value>,
    /// Attempts made.
    pub attempts: u32,
    /// Start, ms after the run started.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub started_ms: Option<f64>,
    /// Wall time, ms.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<f64>,
}

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    /// Every call that ran succeeded (some may have been skipped up front).
    Succeeded,
    /// At least one call failed.
    Failed,
    /// The run was cancelled.
    Cancelled,
    /// The run's deadline passed before every call could run.
    DeadlineExceeded,
}

/// A finished run.
#[derive(Debug, Clone, Serialize)]
pub struct RunResult {
    /// Its id.
    pub run_id: String,
    /// How it ended.
    pub status: RunStatus,
    /// Every call, in submission order.
    pub calls: Vec<NodeResult>,
    /// Wall time, ms.
    pub duration_ms: f64,
    /// The planned critical path (estimates), ms.
    pub critical_path_ms: u64,
}

impl RunResult {
    /// The result of one call.
    pub fn call(&self, id: &str) -> Option<&NodeResult> {
        self.calls.iter().find(|c| c.call_id == id)
    }
}

/// What happens during a run, for streaming.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum RunEvent {
    /// A call was dispatched.
    Started {
        /// Its id.
        call_id: String,
        /// Its tool.
        tool: String,
        /// ms after the run started.
        at_ms: f64,
    },
    /// A call finished (succeeded or failed).
    Finished(Box<NodeResult>),
    /// A call will not run.
    Skipped {
        /// Its id.
        call_id: String,
        /// Why.
        reason: SkipReason,
    },
}

/// The result of a node whose dispatch panicked: `INTERNAL`, logged with its ids.
fn node_panicked(node: &NodeSpec, ctx: &ExecutionContext, panic: &(dyn std::any::Any + Send)) -> CallResult {
    let tenant = ctx.tenant_id.as_deref().unwrap_or(toolhost_core::DEFAULT_TENANT);
    let error = toolhost_core::Error::from_panic(&node.tool, &node.call_id, tenant, panic);
    CallResult::not_run(0, node.call_id.clone(), node.tool.clone(), error)
}

/// A new run id.
pub fn new_run_id() -> String {
    use rand::Rng;
    format!("run_{:016x}", rand::rng().random::<u64>())
}

/// Validates and executes a run.
pub async fn execute(
    dispatcher: Arc<dyn Dispatch>,
    ctx: &ExecutionContext,
    spec: &RunSpec,
    opts: RunOptions,
) -> Result<RunResult, DagError> {
    let graph = Graph::build(spec)?;
    let started = Instant::now();
    let ms = |at: Instant| at.duration_since(started).as_secs_f64() * 1e3;
    let n = graph.nodes.len();
    let skips = initial_skips(&graph, &spec.constraints, opts.policy.as_ref());
    let (critical_path_ms, _) = critical_path(&graph, &|i| !skips.contains_key(&i));
    let mut ctx = ctx.clone();
    if let Some(d) = spec.constraints.deadline_ms {
        let run_deadline = started + Duration::from_millis(d);
        ctx.deadline = Some(ctx.deadline.map_or(run_deadline, |c| c.min(run_deadline)));
    }
    let run_cancel = CancelToken::new();
    let emit = |ev: RunEvent| {
        if let Some(tx) = &opts.events {
            let _ = tx.try_send(ev);
        }
    };

    let mut results: Vec<Option<NodeResult>> = vec![None; n];
    let mut outputs: HashMap<String, Value> = HashMap::new();
    let mut waiting: Vec<usize> = graph.deps.iter().map(Vec::len).collect();
    let skip = |i: usize, why: SkipReason, results: &mut Vec<Option<NodeResult>>| {
        if results[i].is_none() {
            emit(RunEvent::Skipped { call_id: graph.nodes[i].call_id.clone(), reason: why });
            results[i] = Some(NodeResult {
                call_id: graph.nodes[i].call_id.clone(),
                tool: graph.nodes[i].tool.clone(),
                status: NodeStatus::Skipped,
                reason: Some(why),
                result: None,
                attempts: 0,
                started_ms: None,
                duration_ms: None,
            });
        }
    };
    for &i in &graph.topo {
        if let Some(&why) = skips.get(&i) {
            skip(i, why, &mut results);
        }
    }
    let mut ready: Vec<usize> = (0..n).filter(|&i| waiting[i] == 0 && results[i].is_none()).collect();
    let mut pool_running: HashMap<String, usize> = HashMap::new();
    let mut running: HashSet<usize> = HashSet::new();
    let mut tasks = tokio::task::JoinSet::new();
    let mut stop: Option<SkipReason> = None;
    let deadline_sleep = async {
        match ctx.deadline {
            Some(d) => tokio::time::sleep_until(d.into()).await,
            None => std::future::pending().await,
        }
    };
    tokio::pin!(deadline_sleep);
    let external_cancel = opts.cancel.clone();
    let cancelled = async move {
        match external_cancel {
            Some(c) => c.cancelled().await,
            None => std::future::pending().await,
        }
    };
    tokio::pin!(cancelled);

    loop {
        // Dispatch what is ready and fits its pool.
        if stop.is_none() {
            opts.policy.order(&graph, &mut ready);
            let mut held = Vec::new();
            let max_parallel = opts.max_parallel.unwrap_or(usize::MAX).max(1);
            for i in ready.drain(..) {
                if running.len() >= max_parallel {
                    held.push(i);
                    continue;
                }
                let node = &graph.nodes[i];
                let pool = node.metadata.pool.as_deref();
                let limit = pool.and_then(|p| spec.constraints.pool_limits.get(p)).copied();
                if let (Some(p), Some(limit)) = (pool, limit)
                    && pool_running.get(p).copied().unwrap_or(0) >= limit
                {
                    held.push(i);
                    continue;
                }
                if let Some(p) = pool {
                    *pool_running.entry(p.to_string()).or_default() += 1;
                }
                let args = refs::resolve(&node.args, &outputs).to_string();
                let at = Instant::now();
                emit(RunEvent::Started {
                    call_id: node.call_id.clone(),
                    tool: node.tool.clone(),
                    at_ms: ms(at),
                });
                running.insert(i);
                let fut = dispatcher.dispatch(node.clone(), args, ctx.clone(), run_cancel.clone());
                // A panic is this call's failure (`INTERNAL`), never a lost result.
                tasks.spawn(async move { (i, at, std::panic::AssertUnwindSafe(fut).catch_unwind().await) });
            }
            ready = held;
        }
        if tasks.is_empty() {
            break;
        }
        tokio::select! {
            joined = tasks.join_next() => {
                let Some(joined) = joined else { break };
                let (i, at, r) = match joined {
                    Ok((i, at, Ok(r))) => (i, at, r),
                    Ok((i, at, Err(panic))) => (i, at, node_panicked(&graph.nodes[i], &ctx, &*panic)),
                    Err(e) => {
                        // Panics are caught inside the task; only a runtime shutdown ends one early.
                        tracing::warn!(error = %e, "a run task ended without a result");
                        continue;
                    }
                };
                running.remove(&i);
                if let Some(p) = graph.nodes[i].metadata.pool.as_deref()
                    && let Some(c) = pool_running.get_mut(p)
                {
                    *c -= 1;
                }
                let ok = r.result.is_ok();
                let json = r.to_json();
                let node_result = NodeResult {
                    call_id: graph.nodes[i].call_id.clone(),
                    tool: graph.nodes[i].tool.clone(),
                    status: if ok { NodeStatus::Succeeded } else { NodeStatus::Failed },
                    reason: None,
                    result: Some(json.clone()),
                    attempts: r.attempts,
                    started_ms: Some(ms(at)),
                    duration_ms: Some(at.elapsed().as_secs_f64() * 1e3),
                };
                emit(RunEvent::Finished(Box::new(node_result.clone())));
                results[i] = Some(node_result);
                outputs.insert(graph.nodes[i].call_id.clone(), json);
                for &d in &graph.dependents[i] {
                    if results[d].is_some() {
                        continue;
                    }
                    if let Some(why) = stop {
                        // Cancelled or out of time: nothing new starts.
                        skip(d, why, &mut results);
                        continue;
                    }
                    if !ok && !spec.continue_on_error {
                        skip(d, SkipReason::DependencyFailed, &mut results);
                        for dd in graph.descendants(d) {
                            skip(dd, SkipReason::DependencySkipped, &mut results);
                        }
                        continue;
                    }
                    waiting[d] -= 1;
                    if waiting[d] == 0 {
                        ready.push(d);
                    }
                }
            }
            _ = &mut deadline_sleep, if stop.is_none() => {
                // Running calls are bounded by the same deadline; nothing new starts.
                stop = Some(SkipReason::DeadlineExceeded);
            }
            _ = &mut cancelled, if stop.is_none() => {
                stop = Some(SkipReason::Cancelled);
                run_cancel.cancel();
            }
        }
    }
    let stopped = stop;
    for &i in &graph.topo {
        if results[i].is_none() {
            skip(i, stopped.unwrap_or(SkipReason::DeadlineExceeded), &mut results);
        }
    }
    let calls: Vec<NodeResult> = results.into_iter().map(|r| r.expect("every call has a result")).collect();
    let status = match stopped {
        Some(SkipReason::Cancelled) => RunStatus::Cancelled,
        Some(_) => RunStatus::DeadlineExceeded,
        None if calls.iter().any(|c| c.status == NodeStatus::Failed) => RunStatus::Failed,
        None => RunStatus::Succeeded,
    };
    Ok(RunResult {
        run_id: opts.run_id.unwrap_or_else(new_run_id),
        status,
        calls,
        duration_ms: started.elapsed().as_secs_f64() * 1e3,
        critical_path_ms,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::NodeMeta;
    use proptest::prelude::*;
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A fake tool runner that checks the scheduler's promises as calls start.
    #[derive(Default)]
    struct Fake {
        deps: HashMap<String, Vec<String>>,
        fail: HashSet<String>,
        finished: Mutex<HashSet<String>>,
        dispatched: Mutex<HashMap<String, usize>>,
        early: Mutex<Vec<String>>,
        pool_now: Mutex<HashMap<String, usize>>,
        pool_max: Mutex<HashMap<String, usize>>,
        args_seen: Mutex<HashMap<String, String>>,
        running: AtomicUsize,
        running_max: AtomicUsize,
    }

    impl Dispatch for Arc<Fake> {
        fn dispatch(
            &self,
            node: NodeSpec,
            args: String,
            _ctx: ExecutionContext,
            cancel: CancelToken,
        ) -> Pin<Box<dyn Future<Output = CallResult> + Send + 'static>> {
            let me = self.clone();
            Box::pin(async move {
                let id = node.call_id.clone();
                *me.dispatched.lock().unwrap().entry(id.clone()).or_default() += 1;
                me.args_seen.lock().unwrap().insert(id.clone(), args);
                {
                    let done = me.finished.lock().unwrap();
                    if me.deps[&id].iter().any(|d| !done.contains(d)) {
                        me.early.lock().unwrap().push(id.clone());
                    }
                }
                if let Some(p) = &node.metadata.pool {
                    let mut now = me.pool_now.lock().unwrap();
                    let c = now.entry(p.clone()).or_default();
                    *c += 1;
                    let mut max = me.pool_max.lock().unwrap();
                    let m = max.entry(p.clone()).or_default();
                    *m = (*m).max(*c);
                }
                let now = me.running.fetch_add(1, Ordering::SeqCst) + 1;
                me.running_max.fetch_max(now, Ordering::SeqCst);
                let wait = Duration::from_micros(200 + (id.len() as u64 * 97) % 1500);
                tokio::select! {
                    _ = tokio::time::sleep(wait) => {}
                    _ = cancel.cancelled() => {}
                }
                me.running.fetch_sub(1, Ordering::SeqCst);
                if let Some(p) = &node.metadata.pool {
                    *me.pool_now.lock().unwrap().get_mut(p).unwrap() -= 1;
                }
                me.finished.lock().unwrap().insert(id.clone());
                let result = if me.fail.contains(&id) {
                    Err(toolhost_core::Error::Tool {
                        tool: node.tool.clone(),
                        kind: toolhost_core::ToolErrorKind::Internal,
                        message: "planned failure".into(),
                        retryable: false,
                        retry_after_ms: None,
                        details: None,
                    })
                } else {
                    Ok(Arc::new(toolhost_core::ToolOutput {
                        value: Some(serde_json::json!({"from": id})),
                        content: vec![],
                    }))
                };
                CallResult {
                    index: 0,
                    call_id: id,
                    tool: node.tool,
                    result,
                    attempts: 1,
                    cached: false,
                    fallback_for: None,
                    started: Duration::ZERO,
                    duration: wait,
                    stats: None,
                }
            })
        }
    }

    fn build(n: usize, edges: &[(usize, usize)], pools: &[u8], fail: &[bool]) -> (RunSpec, Arc<Fake>) {
        let mut calls: Vec<NodeSpec> = (0..n)
            .map(|i| NodeSpec {
                call_id: format!("n{i}"),
                tool: "t".into(),
                args: serde_json::json!({}),
                depends_on: vec![],
                metadata: NodeMeta {
                    pool: match pools[i % pools.len()] % 3 {
                        0 => None,
                        1 => Some("a".into()),
                        _ => Some("b".into()),
                    },
                    ..Default::default()
                },
                timeout_ms: None,
                max_retries: None,
            })
            .collect();
        for &(a, b) in edges {
            // Edges only go from lower to higher index: always acyclic.
            let (x, y) = (a % n, b % n);
            let (from, to) = (x.min(y), x.max(y));
            if from != to && !calls[to].depends_on.contains(&format!("n{from}")) {
                calls[to].depends_on.push(format!("n{from}"));
                // The first dependency's result flows in through a $ref.
                if calls[to].depends_on.len() == 1 {
                    calls[to].args = serde_json::json!({"input": {"$ref": format!("n{from}#/value/from")}});
                }
            }
        }
        let fake = Fake {
            deps: calls.iter().map(|c| (c.call_id.clone(), c.depends_on.clone())).collect(),
            fail: (0..n).filter(|&i| fail[i % fail.len()]).map(|i| format!("n{i}")).collect(),
            ..Default::default()
        };
        let mut spec = RunSpec { calls, ..Default::default() };
        spec.constraints.pool_limits.insert("a".into(), 1);
        spec.constraints.pool_limits.insert("b".into(), 2);
        (spec, Arc::new(fake))
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 48, .. ProptestConfig::default() })]

        #[test]
        fn runs_respect_dependencies_pools_and_once_only(
            n in 1usize..24,
            edges in proptest::collection::vec((0usize..24, 0usize..24), 0..40),
            pools in proptest::collection::vec(any::<u8>(), 1..8),
            fail in proptest::collection::vec(proptest::bool::weighted(0.15), 1..8),
            continue_on_error in any::<bool>(),
            max_parallel in 1usize..6,
        ) {
            let (mut spec, fake) = build(n, &edges, &pools, &fail);
            spec.continue_on_error = continue_on_error;
            let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
            let opts = RunOptions { max_parallel: Some(max_parallel), ..Default::default() };
            let result = rt.block_on(execute(Arc::new(fake.clone()), &ExecutionContext::new(), &spec, opts)).unwrap();
            prop_assert!(fake.running_max.load(Ordering::SeqCst) <= max_parallel);
            prop_assert_eq!(result.calls.len(), n);
            // At most once, never before the dependencies finished, pools never exceeded.
            prop_assert!(fake.dispatched.lock().unwrap().values().all(|&c| c == 1));
            prop_assert!(fake.early.lock().unwrap().is_empty(), "started early: {:?}", fake.early.lock().unwrap());
            let max = fake.pool_max.lock().unwrap();
            prop_assert!(max.get("a").copied().unwrap_or(0) <= 1 && max.get("b").copied().unwrap_or(0) <= 2, "{:?}", max);
            let by_id: HashMap<&str, &NodeResult> = result.calls.iter().map(|c| (c.call_id.as_str(), c)).collect();
            for c in &spec.calls {
                let r = by_id[c.call_id.as_str()];
                let ran = r.status != NodeStatus::Skipped;
                prop_assert_eq!(ran, fake.dispatched.lock().unwrap().contains_key(&c.call_id));
                for d in &c.depends_on {
                    let dep = by_id[d.as_str()];
                    // Skips are closed under dependents.
                    if dep.status == NodeStatus::Skipped {
                        prop_assert_eq!(r.status, NodeStatus::Skipped, "{} ran after skipped {}", c.call_id, d);
                    }
                    if dep.status == NodeStatus::Failed && !continue_on_error {
                        prop_assert!(
                            matches!(r.reason, Some(SkipReason::DependencyFailed | SkipReason::DependencySkipped)),
                            "{} ran after failed {}", c.call_id, d
                        );
                    }
                }
                // A resolved $ref carries the dependency's value.
                if ran && let Some(first) = c.depends_on.first() && by_id[first.as_str()].status == NodeStatus::Succeeded {
                    let args = fake.args_seen.lock().unwrap()[&c.call_id].clone();
                    prop_assert!(args.contains(&format!("\"{first}\"")), "{} got {}", c.call_id, args);
                }
            }
            let any_failed = result.calls.iter().any(|c| c.status == NodeStatus::Failed);
            prop_assert_eq!(result.status == RunStatus::Failed, any_failed);
        }
    }

    #[tokio::test]
    async fn cancelling_a_run_stops_running_calls_and_skips_the_rest() {
        let (mut spec, _) = build(3, &[(0, 1), (1, 2)], &[0], &[false]);
        spec.calls[0].call_id = "n0_slow_slow_slow_slow_slow_slow".into();
        spec.calls[1].depends_on = vec![spec.calls[0].call_id.clone()];
        spec.calls[1].args = serde_json::json!({});
        let fake = Arc::new(Fake {
            deps: spec.calls.iter().map(|c| (c.call_id.clone(), c.depends_on.clone())).collect(),
            ..Default::default()
        });
        let cancel = CancelToken::new();
        let c2 = cancel.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_micros(300)).await;
            c2.cancel();
        });
        let opts = RunOptions { cancel: Some(cancel), ..Default::default() };
        let r = execute(Arc::new(fake), &ExecutionContext::new(), &spec, opts).await.unwrap();
        assert_eq!(r.status, RunStatus::Cancelled);
        assert_eq!(r.calls[2].reason, Some(SkipReason::Cancelled));
    }
}
