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
use toolhost_core::interact::Interact;
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

    /// As [`dispatch`](Self::dispatch), with `interact` answering the guest's
    /// questions (durable MCP tasks). Default: without it.
    fn dispatch_asking(
        &self,
        node: NodeSpec,
        args: String,
        ctx: ExecutionContext,
        cancel: CancelToken,
        interact: Option<Arc<dyn Interact>>,
    ) -> Pin<Box<dyn Future<Output = CallResult> + Send + 'static>> {
        let _ = interact;
        self.dispatch(node, args, ctx, cancel)
    }

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
    ToolCall { policy, ..ToolCall::new(node.tool, args).with_id(node.call_id) }
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
    let skips = initial_skips(&graph, &spec.constraints, opts.policy.as_ref());
    let (critical_path_ms, _) = critical_path(&graph, &|i| !skips.contains_key(&i));
    let ctx = within_run_deadline(ctx, spec, started);
    let mut run = Progress::new(&graph, spec, opts.events.as_ref(), started);
    run.skip_up_front(&skips);
    let stopped = run.drive(dispatcher.as_ref(), &ctx, &opts).await;
    let calls = run.into_calls(stopped);
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

/// `ctx` with its deadline capped by the run's `deadline_ms` (counted from `started`).
fn within_run_deadline(ctx: &ExecutionContext, spec: &RunSpec, started: Instant) -> ExecutionContext {
    let mut ctx = ctx.clone();
    if let Some(d) = spec.constraints.deadline_ms {
        let run_deadline = started + Duration::from_millis(d);
        ctx.deadline = Some(ctx.deadline.map_or(run_deadline, |c| c.min(run_deadline)));
    }
    ctx
}

/// What a run task hands back: its node, when it started, and its result or panic.
type TaskOutput = (usize, Instant, std::thread::Result<CallResult>);

/// A run task's node, start and result (a panic becomes an `INTERNAL` result); `None` when the
/// task ended without one.
fn task_outcome(
    joined: Result<TaskOutput, tokio::task::JoinError>,
    graph: &Graph,
    ctx: &ExecutionContext,
) -> Option<(usize, Instant, CallResult)> {
    match joined {
        Ok((i, at, Ok(r))) => Some((i, at, r)),
        Ok((i, at, Err(panic))) => Some((i, at, node_panicked(&graph.nodes[i], ctx, &*panic))),
        Err(e) => {
            // Panics are caught inside the task; only a runtime shutdown ends one early.
            tracing::warn!(error = %e, "a run task ended without a result");
            None
        }
    }
}

/// The bookkeeping of a run in progress: each call's result, what waits, what is ready, what runs.
struct Progress<'a> {
    graph: &'a Graph,
    spec: &'a RunSpec,
    events: Option<&'a mpsc::Sender<RunEvent>>,
    started: Instant,
    results: Vec<Option<NodeResult>>,
    outputs: HashMap<String, Value>,
    waiting: Vec<usize>,
    ready: Vec<usize>,
    pool_running: HashMap<String, usize>,
    running: HashSet<usize>,
}

impl<'a> Progress<'a> {
    /// A run where nothing has happened yet.
    fn new(
        graph: &'a Graph,
        spec: &'a RunSpec,
        events: Option<&'a mpsc::Sender<RunEvent>>,
        started: Instant,
    ) -> Self {
        Progress {
            graph,
            spec,
            events,
            started,
            results: vec![None; graph.nodes.len()],
            outputs: HashMap::new(),
            waiting: graph.deps.iter().map(Vec::len).collect(),
            ready: Vec::new(),
            pool_running: HashMap::new(),
            running: HashSet::new(),
        }
    }

    /// Sends `ev` to the run's listener, if any (dropped when its queue is full).
    fn emit(&self, ev: RunEvent) {
        if let Some(tx) = self.events {
            let _ = tx.try_send(ev);
        }
    }

    /// `at` as ms after the run started.
    fn ms(&self, at: Instant) -> f64 {
        at.duration_since(self.started).as_secs_f64() * 1e3
    }

    /// Marks call `i` skipped for `why`, unless it already has a result.
    fn skip(&mut self, i: usize, why: SkipReason) {
        if self.results[i].is_none() {
            let node = &self.graph.nodes[i];
            self.emit(RunEvent::Skipped { call_id: node.call_id.clone(), reason: why });
            self.results[i] = Some(NodeResult {
                call_id: node.call_id.clone(),
                tool: node.tool.clone(),
                status: NodeStatus::Skipped,
                reason: Some(why),
                result: None,
                attempts: 0,
                started_ms: None,
                duration_ms: None,
            });
        }
    }

    /// Applies the policy's up-front `skips` and queues the calls with no dependencies.
    fn skip_up_front(&mut self, skips: &HashMap<usize, SkipReason>) {
        for &i in &self.graph.topo {
            if let Some(&why) = skips.get(&i) {
                self.skip(i, why);
            }
        }
        let n = self.graph.nodes.len();
        self.ready = (0..n).filter(|&i| self.waiting[i] == 0 && self.results[i].is_none()).collect();
    }

    /// Dispatches ready calls and records finished ones until nothing runs; returns why the run
    /// stopped starting calls (deadline or cancel), if it did.
    async fn drive(
        &mut self,
        dispatcher: &dyn Dispatch,
        ctx: &ExecutionContext,
        opts: &RunOptions,
    ) -> Option<SkipReason> {
        let run_cancel = CancelToken::new();
        let mut tasks = tokio::task::JoinSet::new();
        let mut stop: Option<SkipReason> = None;
        let deadline_sleep = async {
            match ctx.deadline {
                Some(d) => tokio::time::sleep_until(d.into()).await,
                None => std::future::pending().await,
            }
        };
        tokio::pin!(deadline_sleep);
        let cancelled = CancelToken::cancelled_or_never(opts.cancel.as_ref());
        tokio::pin!(cancelled);

        loop {
            if stop.is_none() {
                self.dispatch_ready(dispatcher, ctx, &run_cancel, opts, &mut tasks);
            }
            if tasks.is_empty() {
                break;
            }
            tokio::select! {
                joined = tasks.join_next() => {
                    let Some(joined) = joined else { break };
                    let Some((i, at, r)) = task_outcome(joined, self.graph, ctx) else { continue };
                    self.finish(i, at, r, stop);
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
        stop
    }

    /// Dispatches what is ready and fits `max_parallel` and its pool; the rest stays ready.
    fn dispatch_ready(
        &mut self,
        dispatcher: &dyn Dispatch,
        ctx: &ExecutionContext,
        run_cancel: &CancelToken,
        opts: &RunOptions,
        tasks: &mut tokio::task::JoinSet<TaskOutput>,
    ) {
        opts.policy.order(self.graph, &mut self.ready);
        let mut held = Vec::new();
        let max_parallel = opts.max_parallel.unwrap_or(usize::MAX).max(1);
        for i in std::mem::take(&mut self.ready) {
            if self.running.len() >= max_parallel {
                held.push(i);
                continue;
            }
            let node = &self.graph.nodes[i];
            let pool = node.metadata.pool.as_deref();
            let limit = pool.and_then(|p| self.spec.constraints.pool_limits.get(p)).copied();
            if let (Some(p), Some(limit)) = (pool, limit)
                && self.pool_running.get(p).copied().unwrap_or(0) >= limit
            {
                held.push(i);
                continue;
            }
            if let Some(p) = pool {
                *self.pool_running.entry(p.to_string()).or_default() += 1;
            }
            let args = refs::resolve(&node.args, &self.outputs).to_string();
            let at = Instant::now();
            self.emit(RunEvent::Started {
                call_id: node.call_id.clone(),
                tool: node.tool.clone(),
                at_ms: self.ms(at),
            });
            self.running.insert(i);
            let fut = dispatcher.dispatch(node.clone(), args, ctx.clone(), run_cancel.clone());
            // A panic is this call's failure (`INTERNAL`), never a lost result.
            tasks.spawn(async move { (i, at, std::panic::AssertUnwindSafe(fut).catch_unwind().await) });
        }
        self.ready = held;
    }

    /// Records call `i`'s result `r` (started `at`), frees its pool slot and releases, fails or
    /// skips (once the run has `stop`ped) its dependents.
    fn finish(&mut self, i: usize, at: Instant, r: CallResult, stop: Option<SkipReason>) {
        let node = &self.graph.nodes[i];
        self.running.remove(&i);
        if let Some(p) = node.metadata.pool.as_deref()
            && let Some(c) = self.pool_running.get_mut(p)
        {
            *c -= 1;
        }
        let ok = r.result.is_ok();
        let json = r.to_json();
        let node_result = NodeResult {
            call_id: node.call_id.clone(),
            tool: node.tool.clone(),
            status: if ok { NodeStatus::Succeeded } else { NodeStatus::Failed },
            reason: None,
            result: Some(json.clone()),
            attempts: r.attempts,
            started_ms: Some(self.ms(at)),
            duration_ms: Some(at.elapsed().as_secs_f64() * 1e3),
        };
        self.emit(RunEvent::Finished(Box::new(node_result.clone())));
        self.results[i] = Some(node_result);
        self.outputs.insert(node.call_id.clone(), json);
        for &d in &self.graph.dependents[i] {
            if self.results[d].is_some() {
                continue;
            }
            if let Some(why) = stop {
                // Cancelled or out of time: nothing new starts.
                self.skip(d, why);
                continue;
            }
            if !ok && !self.spec.continue_on_error {
                self.skip(d, SkipReason::DependencyFailed);
                for dd in self.graph.descendants(d) {
                    self.skip(dd, SkipReason::DependencySkipped);
                }
                continue;
            }
            self.waiting[d] -= 1;
            if self.waiting[d] == 0 {
                self.ready.push(d);
            }
        }
    }

    /// Every call's result in submission order; calls that never ran are skipped for `stopped`
    /// (the deadline when the run was not stopped).
    fn into_calls(mut self, stopped: Option<SkipReason>) -> Vec<NodeResult> {
        for &i in &self.graph.topo {
            if self.results[i].is_none() {
                self.skip(i, stopped.unwrap_or(SkipReason::DeadlineExceeded));
            }
        }
        self.results.into_iter().map(|r| r.expect("every call has a result")).collect()
    }
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
