//! A durable-run worker: takes runs from the queue, executes them with the
//! scheduler through a [`CheckpointDispatch`], stores the result, and
//! acknowledges the entry.
//!
//! * New runs come from `XREADGROUP` (dedicated connection, short `BLOCK`);
//!   runs of dead workers are reclaimed with `XAUTOCLAIM` after
//!   `visibility_timeout_ms`.
//! * A run being executed is heart-beaten every `visibility_timeout_ms / 3`,
//!   so a live long run is not reclaimed; if another worker took it anyway
//!   (this process stalled), this attempt stops.
//! * On shutdown the worker stops taking runs, lets running calls finish for
//!   the grace period (no new call starts), cancels what still runs, and hands
//!   unfinished runs back to the queue; their checkpoints make them resume.
//! * A Redis failure never loses a run: an attempt that cannot checkpoint is
//!   abandoned with its entry still pending, to be reclaimed.
//! * A run is cancelled from any process through its hash
//!   ([`RunStore::cancel`]): a running attempt polls the `cancel` field every
//!   200 ms, interrupts its running calls (their cancel token), skips the
//!   rest and stores the result with status `cancelled`; a worker about to
//!   start or resume a run whose cancellation was requested stores the
//!   cancelled result without running anything.

use crate::checkpoint::{AttemptState, CheckpointDispatch};
use crate::conn::Redis;
use crate::queue::{Delivery, Ownership, Queue};
use crate::runs::{Checkpoints, RunStore, RunStoreError, Start, StoredRun, cancelled_result, is_final};
use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;
use toolhost_core::CancelToken;
use toolhost_scheduler::{DagError, Dispatch, RunOptions, RunResult, execute};

/// How a worker runs.
#[derive(Debug, Clone)]
pub struct WorkerOptions {
    /// Runs executed at once. Default: 4.
    pub concurrency: usize,
    /// On shutdown, how long running calls may finish before they are
    /// cancelled and their runs handed back. Default: 10 s.
    pub grace: Duration,
    /// Longest blocking read (also the worst-case shutdown latency of an idle worker). Default: 1 s.
    pub block: Duration,
    /// Consumer name. Default: `<hostname>-<pid>-<random>`.
    pub consumer: Option<String>,
}

impl Default for WorkerOptions {
    fn default() -> Self {
        WorkerOptions {
            concurrency: 4,
            grace: Duration::from_secs(10),
            block: Duration::from_secs(1),
            consumer: None,
        }
    }
}

/// What a worker reports as it goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WorkerEvent {
    /// A run was taken (`reclaimed`: from a worker that stopped heart-beating).
    Taken {
        /// The run.
        run_id: String,
        /// Reclaimed rather than new.
        reclaimed: bool,
        /// Calls reused from checkpoints when it starts.
        checkpoints: usize,
    },
    /// A run finished; its result is stored.
    Finished {
        /// The run.
        run_id: String,
        /// Its final status.
        status: String,
        /// Calls that ran in this attempt.
        executed: usize,
        /// Calls answered from checkpoints.
        reused: usize,
    },
    /// An unfinished run was handed back to the queue (shutdown).
    HandedBack {
        /// The run.
        run_id: String,
    },
    /// An attempt stopped without a result; the entry stays pending and is reclaimed.
    Abandoned {
        /// The run.
        run_id: String,
        /// Why.
        reason: String,
    },
}

/// Totals of a worker's life.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WorkerStats {
    /// Runs finished here.
    pub finished: usize,
    /// Runs handed back on shutdown.
    pub handed_back: usize,
    /// Attempts abandoned.
    pub abandoned: usize,
}

type Notify = Arc<dyn Fn(&WorkerEvent) + Send + Sync>;

struct Shared {
    host: Arc<dyn Dispatch>,
    store: RunStore,
    queue: Queue,
    opts: WorkerOptions,
    active: Mutex<HashMap<String, Arc<AttemptState>>>,
    /// Runs this process is working on (one attempt per run at a time).
    taken: Mutex<HashSet<String>>,
    shutting_down: CancelToken,
    notify: Notify,
    stats: Mutex<WorkerStats>,
}

/// A worker on one Redis.
pub struct Worker {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Worker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Worker").field("consumer", &self.consumer()).finish()
    }
}

/// `<hostname>-<pid>-<random hex>`.
pub fn default_consumer() -> String {
    use rand::Rng;
    let host = std::fs::read_to_string("/etc/hostname")
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "host".into());
    format!("{host}-{}-{:04x}", std::process::id(), rand::rng().random::<u16>())
}

impl Worker {
    /// A worker executing on `host` (a `toolhost::Host`), taking runs from `redis`.
    pub fn new(host: Arc<dyn Dispatch>, redis: Redis, opts: WorkerOptions) -> Worker {
        let consumer = opts.consumer.clone().unwrap_or_else(default_consumer);
        let shared = Arc::new(Shared {
            host,
            store: RunStore::new(redis.clone()),
            queue: Queue::new(redis, consumer),
            opts,
            active: Mutex::default(),
            taken: Mutex::default(),
            shutting_down: CancelToken::new(),
            notify: Arc::new(|_| {}),
            stats: Mutex::default(),
        });
        Worker { shared }
    }

    /// Calls `f` for every [`WorkerEvent`].
    pub fn on_event(mut self, f: impl Fn(&WorkerEvent) + Send + Sync + 'static) -> Worker {
        if let Some(s) = Arc::get_mut(&mut self.shared) {
            s.notify = Arc::new(f);
        }
        self
    }

    /// This worker's consumer name.
    pub fn consumer(&self) -> &str {
        self.shared.queue.consumer()
    }

    /// Works until `shutdown` resolves, then drains (see the module docs).
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send + 'static) -> WorkerStats {
        let s = self.shared;
        let stop = s.shutting_down.clone();
        let trigger = tokio::spawn(async move {
            shutdown.await;
            stop.cancel();
        });
        let concurrency = s.opts.concurrency.max(1);
        let sem = Arc::new(Semaphore::new(concurrency));
        let mut tasks = tokio::task::JoinSet::new();
        let mut intake = Intake::new(&s);
        let backoff = Duration::from_millis(500);
        tracing::info!(consumer = s.queue.consumer(), concurrency, "worker started");
        while !s.shutting_down.is_cancelled() {
            while tasks.try_join_next().is_some() {}
            if !intake.ensure_group(&s).await {
                pause(&s.shutting_down, backoff).await;
                continue;
            }
            let Some(permits) = free_slots(&s, &sem).await else { break };
            let Some(taken) = intake.take(&s, permits.len()).await else {
                drop(permits);
                pause(&s.shutting_down, backoff).await;
                continue;
            };
            spawn_attempts(&s, &mut tasks, taken, permits);
        }
        trigger.abort();
        drain(&s, &mut tasks).await;
        let stats = *s.stats.lock().unwrap_or_else(|e| e.into_inner());
        tracing::info!(?stats, "worker stopped");
        stats
    }
}

/// Where a worker's runs come from: the consumer group, the blocking reader and the reclaim
/// schedule.
struct Intake {
    reader: Option<redis::aio::MultiplexedConnection>,
    group_ready: bool,
    next_reclaim: Instant,
    visibility: Duration,
    reclaim_every: Duration,
}

impl Intake {
    /// No reader or group yet; the first pass reclaims.
    fn new(s: &Shared) -> Intake {
        let next_reclaim = Instant::now();
        let visibility = Duration::from_millis(s.store.redis().config().visibility_timeout_ms);
        let reclaim_every = (visibility / 2).clamp(Duration::from_millis(50), Duration::from_secs(5));
        Intake { reader: None, group_ready: false, next_reclaim, visibility, reclaim_every }
    }

    /// Makes sure the consumer group exists; `false` (logged) while the queue cannot be reached.
    async fn ensure_group(&mut self, s: &Shared) -> bool {
        if !self.group_ready {
            match s.queue.ensure_group().await {
                Ok(()) => self.group_ready = true,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot reach the run queue; retrying");
                    return false;
                }
            }
        }
        true
    }

    /// Up to `count` runs, each with whether it was reclaimed: reclaimed ones when a reclaim is
    /// due, else new ones from a blocking read; `None` (logged) when the queue cannot be read.
    async fn take(&mut self, s: &Shared, count: usize) -> Option<Vec<(Delivery, bool)>> {
        let mut taken: Vec<(Delivery, bool)> = Vec::new();
        if Instant::now() >= self.next_reclaim {
            self.next_reclaim = Instant::now() + self.reclaim_every;
            match s.queue.reclaim(count, self.visibility).await {
                Ok(ds) => taken.extend(ds.into_iter().map(|d| (d, true))),
                Err(e) => tracing::debug!(error = %e, "reclaim failed"),
            }
        }
        // Reclaimed runs start at once (not behind a blocking read, which
        // would let their idle time pass the visibility timeout again).
        if taken.is_empty() {
            if self.reader.is_none() {
                match s.queue.reader(s.opts.block).await {
                    Ok(c) => self.reader = Some(c),
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot open the queue reader; retrying");
                        return None;
                    }
                }
            }
            let conn = self.reader.as_mut().expect("reader is open");
            match s.queue.read(conn, count, s.opts.block).await {
                Ok(ds) => taken.extend(ds.into_iter().map(|d| (d, false))),
                Err(e) => {
                    if e.to_string().contains("NOGROUP") {
                        self.group_ready = false;
                    }
                    tracing::warn!(error = %e, "reading the run queue failed; retrying");
                    self.reader = None;
                    return None;
                }
            }
        }
        Some(taken)
    }
}

/// Waits for a free run slot, then takes every other free one; `None` on shutdown.
async fn free_slots(s: &Shared, sem: &Arc<Semaphore>) -> Option<Vec<tokio::sync::OwnedSemaphorePermit>> {
    let first = tokio::select! {
        p = sem.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => return None },
        _ = s.shutting_down.cancelled() => return None,
    };
    let mut permits = vec![first];
    while let Ok(p) = sem.clone().try_acquire_owned() {
        permits.push(p);
    }
    Some(permits)
}

/// Starts an attempt, holding one of `permits`, for each taken run not already running here.
fn spawn_attempts(
    s: &Arc<Shared>,
    tasks: &mut tokio::task::JoinSet<()>,
    taken: Vec<(Delivery, bool)>,
    mut permits: Vec<tokio::sync::OwnedSemaphorePermit>,
) {
    for (d, reclaimed) in taken {
        if !s.taken.lock().unwrap_or_else(|e| e.into_inner()).insert(d.run_id.clone()) {
            continue; // already running here (e.g. reclaimed from ourselves)
        }
        let Some(permit) = permits.pop() else { break };
        let s = s.clone();
        tasks.spawn(async move {
            let _permit = permit;
            let run_id = d.run_id.clone();
            process(&s, d, reclaimed).await;
            s.taken.lock().unwrap_or_else(|e| e.into_inner()).remove(&run_id);
        });
    }
}

/// After shutdown, waits for the attempts: running calls get the grace period, then they are
/// cancelled (their runs handed back).
async fn drain(s: &Shared, tasks: &mut tokio::task::JoinSet<()>) {
    // The attempts saw the shutdown token at once: no new calls.
    if !tasks.is_empty() {
        tracing::info!(runs = tasks.len(), grace_ms = s.opts.grace.as_millis() as u64, "draining");
    }
    let drained =
        tokio::time::timeout(s.opts.grace, async { while tasks.join_next().await.is_some() {} }).await;
    if drained.is_err() {
        let left: Vec<Arc<AttemptState>> =
            s.active.lock().unwrap_or_else(|e| e.into_inner()).values().cloned().collect();
        tracing::warn!(
            runs = left.len(),
            "grace period over: cancelling running calls and handing their runs back"
        );
        for a in left {
            a.hard.cancel();
        }
        while tasks.join_next().await.is_some() {}
    }
}

async fn pause(stop: &CancelToken, d: Duration) {
    tokio::select! {
        _ = tokio::time::sleep(d) => {}
        _ = stop.cancelled() => {}
    }
}

fn note(s: &Shared, ev: WorkerEvent) {
    {
        let mut st = s.stats.lock().unwrap_or_else(|e| e.into_inner());
        match &ev {
            WorkerEvent::Finished { .. } => st.finished += 1,
            WorkerEvent::HandedBack { .. } => st.handed_back += 1,
            WorkerEvent::Abandoned { .. } => st.abandoned += 1,
            WorkerEvent::Taken { .. } => {}
        }
    }
    (s.notify)(&ev);
}

async fn hand_back(s: &Shared, d: &Delivery) {
    let back = async {
        s.store.mark_queued(&d.run_id).await?;
        s.queue.hand_back(d).await.map_err(RunStoreError::from)
    };
    match back.await {
        Ok(()) => note(s, WorkerEvent::HandedBack { run_id: d.run_id.clone() }),
        Err(e) => note(
            s,
            WorkerEvent::Abandoned {
                run_id: d.run_id.clone(),
                reason: format!("hand-back failed ({e}); it will be reclaimed"),
            },
        ),
    }
}

async fn ack(s: &Shared, d: &Delivery) {
    if let Err(e) = s.queue.ack(&d.entry_id).await {
        tracing::warn!(run_id = %d.run_id, error = %e, "acknowledging the run failed; it may be redelivered (its result is kept)");
    }
}

/// One attempt at one run.
async fn process(s: &Shared, d: Delivery, reclaimed: bool) {
    let Some(stored) = load_pending(s, &d).await else { return };
    if s.shutting_down.is_cancelled() {
        return hand_back(s, &d).await;
    }
    let Some(checkpoints) = start_attempt(s, &d, &stored).await else { return };
    let run_id = d.run_id.clone();
    note(s, WorkerEvent::Taken { run_id: run_id.clone(), reclaimed, checkpoints: checkpoints.results.len() });
    let state = Arc::new(AttemptState::new(s.shutting_down.clone()));
    s.active.lock().unwrap_or_else(|e| e.into_inner()).insert(d.entry_id.clone(), state.clone());
    let heartbeat = watch(s, &d, state.clone());
    let ctx = stored.ctx.to_context(&stored.tenant);
    let dispatch = Arc::new(
        CheckpointDispatch::new(
            s.host.clone(),
            s.store.clone(),
            run_id.clone(),
            s.queue.consumer().to_string(),
            stored.tenant.clone(),
            checkpoints,
            state.clone(),
        )
        .asking(stored.asks),
    );
    let opts = RunOptions {
        cancel: Some(state.hard.clone()),
        run_id: Some(run_id.clone()),
        max_parallel: ctx.max_parallel,
        ..Default::default()
    };
    let result = execute(dispatch, &ctx, &stored.spec, opts).await;
    heartbeat.abort();
    s.active.lock().unwrap_or_else(|e| e.into_inner()).remove(&d.entry_id);
    let (executed, reused) = (state.executed.load(Ordering::Relaxed), state.reused.load(Ordering::Relaxed));
    let Some((status, json)) = settle(s, &d, &state, result).await else { return };
    store_result(s, &d, status, json, (executed, reused)).await
}

/// An attempt stopped without a result for `reason`.
fn abandoned(d: &Delivery, reason: String) -> WorkerEvent {
    WorkerEvent::Abandoned { run_id: d.run_id.clone(), reason }
}

/// The result stored for a run that cannot be run: `failed` with an `INVALID_RUN` error.
fn invalid_run(run_id: &str, error: &dyn std::fmt::Display) -> serde_json::Value {
    serde_json::json!({
        "run_id": run_id, "status": "failed", "calls": [],
        "error": {"code": "INVALID_RUN", "message": error.to_string()},
    })
}

/// The run `d` names if it still needs an attempt; entries naming no run, an unknown, unreadable
/// (stored `failed`) or already finished run are acknowledged, a load failure is abandoned.
async fn load_pending(s: &Shared, d: &Delivery) -> Option<StoredRun> {
    if d.run_id.is_empty() {
        tracing::warn!(entry = %d.entry_id, "queue entry names no run; dropping it");
        ack(s, d).await;
        return None;
    }
    let run_id = d.run_id.clone();
    let stored = match s.store.load(&run_id).await {
        Ok(Some(r)) => r,
        Ok(None) => {
            tracing::warn!(run_id, "run is unknown or expired; dropping its queue entry");
            ack(s, d).await;
            return None;
        }
        Err(e @ RunStoreError::Corrupt { .. }) => {
            tracing::error!(run_id, error = %e, "run cannot be read; dropping its queue entry");
            let result = invalid_run(&run_id, &e);
            if s.store.finish(&run_id, "failed", &result).await.is_ok() {
                ack(s, d).await;
            }
            return None;
        }
        Err(e) => {
            note(s, abandoned(d, e.to_string()));
            return None;
        }
    };
    if is_final(&stored.status) {
        // Finished by an earlier attempt whose acknowledgement was lost.
        ack(s, d).await;
        return None;
    }
    Some(stored)
}

/// Marks the run running and loads its checkpoints; `None` when the attempt ends here (a store
/// failure abandons it, a final run is acknowledged, a requested cancellation is stored).
async fn start_attempt(s: &Shared, d: &Delivery, stored: &StoredRun) -> Option<Checkpoints> {
    let start = match s.store.mark_running(&d.run_id, s.queue.consumer()).await {
        Ok(start) => start,
        Err(e) => {
            note(s, abandoned(d, e.to_string()));
            return None;
        }
    };
    let checkpoints = match s.store.checkpoints(&d.run_id).await {
        Ok(c) => c,
        Err(e) => {
            note(s, abandoned(d, e.to_string()));
            return None;
        }
    };
    match start {
        Start::Running => Some(checkpoints),
        // Finished meanwhile (or cancelled while queued): nothing to run.
        Start::Final(_) => {
            ack(s, d).await;
            None
        }
        Start::CancelRequested => {
            let result = cancelled_result(&d.run_id, &stored.spec, &checkpoints);
            store_result(s, d, "cancelled".into(), result, (0, checkpoints.results.len())).await;
            None
        }
    }
}

/// The status and result to store for an executed attempt; `None` when the attempt was lost,
/// aborted (abandoned) or stopped by shutdown (handed back) instead.
async fn settle(
    s: &Shared,
    d: &Delivery,
    state: &AttemptState,
    result: Result<RunResult, DagError>,
) -> Option<(String, serde_json::Value)> {
    match result {
        Ok(r) => {
            if state.lost.load(Ordering::SeqCst) {
                note(s, abandoned(d, "another worker reclaimed it".into()));
                return None;
            }
            // A cancelled run ends here with the scheduler's result (running
            // calls interrupted, the rest skipped), not handed back.
            if !state.cancelled.load(Ordering::SeqCst) {
                if let Some(e) = state.aborted.lock().unwrap_or_else(|e| e.into_inner()).clone() {
                    note(s, abandoned(d, e.to_string()));
                    return None;
                }
                if state.refused.load(Ordering::SeqCst) || state.hard.is_cancelled() {
                    hand_back(s, d).await;
                    return None;
                }
            }
            let v = serde_json::to_value(&r).unwrap_or_default();
            Some((v["status"].as_str().unwrap_or("failed").to_string(), v))
        }
        Err(e) => Some(("failed".to_string(), invalid_run(&d.run_id, &e))),
    }
}

/// Stores a run's final result and acknowledges its entry.
async fn store_result(
    s: &Shared,
    d: &Delivery,
    status: String,
    json: serde_json::Value,
    counts: (usize, usize),
) {
    let run_id = d.run_id.clone();
    match s.store.finish(&run_id, &status, &json).await {
        Ok(()) => {
            ack(s, d).await;
            let (executed, reused) = counts;
            note(s, WorkerEvent::Finished { run_id, status, executed, reused });
        }
        Err(e) => note(
            s,
            WorkerEvent::Abandoned {
                run_id,
                reason: format!("storing the result failed ({e}); it will be reclaimed and resumed"),
            },
        ),
    }
}

/// How often a running attempt polls its run's cancel flag.
const CANCEL_POLL: Duration = Duration::from_millis(200);

/// While an attempt runs: polls the run's cancel flag (every [`CANCEL_POLL`];
/// a request stops the attempt, which then ends the run `cancelled`) and
/// heart-beats its queue entry (every `visibility_timeout_ms / 3`; if another
/// worker took the entry over, this attempt stops).
fn watch(s: &Shared, d: &Delivery, state: Arc<AttemptState>) -> tokio::task::JoinHandle<()> {
    let (queue, store) = (s.queue.clone(), s.store.clone());
    let (entry, run_id) = (d.entry_id.clone(), d.run_id.clone());
    let beat_every = Duration::from_millis(s.store.redis().config().visibility_timeout_ms / 3)
        .max(Duration::from_millis(20));
    tokio::spawn(async move {
        let mut next_beat = tokio::time::Instant::now() + beat_every;
        loop {
            if !state.cancelled.load(Ordering::SeqCst) {
                match store.cancel_requested(&run_id).await {
                    Ok(true) => {
                        tracing::info!(run_id, "cancellation requested; stopping the run");
                        state.cancelled.store(true, Ordering::SeqCst);
                        state.hard.cancel();
                    }
                    Ok(false) => {}
                    Err(e) => tracing::debug!(run_id, error = %e, "polling the cancel flag failed"),
                }
            }
            if tokio::time::Instant::now() >= next_beat {
                next_beat = tokio::time::Instant::now() + beat_every;
                match queue.heartbeat(&entry).await {
                    Ok(Ownership::Held) => {}
                    Ok(Ownership::Lost) | Ok(Ownership::Gone) => {
                        tracing::warn!(entry, "another worker took this run over; stopping this attempt");
                        state.lost.store(true, Ordering::SeqCst);
                        state.hard.cancel();
                        return;
                    }
                    Err(e) => tracing::debug!(error = %e, "heartbeat failed"),
                }
            }
            let poll = tokio::time::Instant::now() + CANCEL_POLL;
            tokio::time::sleep_until(poll.min(next_beat)).await;
        }
    })
}
