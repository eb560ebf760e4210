//! DAG runs over HTTP: `POST /v1/runs` (`?wait=true`, `?stream=true`,
//! `?plan_only=true`), `GET /v1/runs/{id}`, `DELETE /v1/runs/{id}` (cancel).
//! Runs belong to the tenant that started them; another tenant gets 404.
//!
//! With `redis_url` set, runs are durable: `POST` stores the run and queues it
//! for `toolhost worker` processes (202 with the run id, 503 when it cannot be
//! stored: never accepted and then lost), and `GET` and `DELETE` work on
//! Redis, so any process answers for (and cancels) any run: a queued run is
//! `cancelled` at once, a running one is stopped by the worker holding it.
//!
//! `?wait=true` waits at most `serve.run_wait_ms` (or the request's deadline,
//! when sooner); past it the answer is 202 with the run id and its status.

use crate::request::{admit, caller, error};
use crate::state::Shared;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{self, post};
use serde::Deserialize;
use serde_json::json;
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use toolhost::CancelToken;
use toolhost::backend::redis::runs::CancelOutcome;
use toolhost::backend::redis::{RunStore, RunStoreError};
use toolhost::scheduler::{Greedy, RunEvent, RunOptions, RunResult, RunSpec};

/// Finished runs kept for `GET /v1/runs/{id}`.
const KEEP_FINISHED: usize = 1000;

/// State of the run routes: the server's shared state and its in-memory runs.
#[derive(Debug)]
pub(crate) struct RunsApi {
    pub(crate) shared: Arc<Shared>,
    pub(crate) runs: Arc<Runs>,
}

/// `POST /v1/runs`, `GET` and `DELETE /v1/runs/{id}`.
pub(crate) fn routes(shared: Arc<Shared>) -> Router {
    let api = Arc::new(RunsApi { shared, runs: Arc::default() });
    Router::new()
        .route("/v1/runs", post(create))
        .route("/v1/runs/{id}", routing::get(get).delete(cancel))
        .with_state(api)
}

/// Runs started over HTTP.
#[derive(Debug, Default)]
pub(crate) struct Runs {
    inner: Mutex<RunsInner>,
}

#[derive(Debug, Default)]
struct RunsInner {
    runs: HashMap<String, Entry>,
    finished: VecDeque<String>,
}

#[derive(Debug)]
struct Entry {
    tenant: String,
    cancel: CancelToken,
    result: Option<Arc<RunResult>>,
}

impl Runs {
    fn start(&self, id: &str, tenant: &str, cancel: CancelToken) {
        let mut g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        g.runs.insert(id.to_string(), Entry { tenant: tenant.to_string(), cancel, result: None });
    }

    fn finish(&self, result: RunResult) {
        let mut g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let id = result.run_id.clone();
        if let Some(e) = g.runs.get_mut(&id) {
            e.result = Some(Arc::new(result));
        }
        g.finished.push_back(id);
        while g.finished.len() > KEEP_FINISHED {
            if let Some(old) = g.finished.pop_front() {
                g.runs.remove(&old);
            }
        }
    }

    /// `None` when unknown or another tenant's.
    fn get(&self, id: &str, tenant: &str) -> Option<(CancelToken, Option<Arc<RunResult>>)> {
        let g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        g.runs.get(id).filter(|e| e.tenant == tenant).map(|e| (e.cancel.clone(), e.result.clone()))
    }
}

/// Query of `POST /v1/runs`.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct RunsQuery {
    wait: bool,
    stream: bool,
    plan_only: bool,
}

pub(crate) async fn create(
    State(s): State<Arc<RunsApi>>,
    ext: axum::http::Extensions,
    headers: HeaderMap,
    query: Result<Query<RunsQuery>, axum::extract::rejection::QueryRejection>,
    body: Bytes,
) -> Response {
    let Ok(Query(q)) = query else {
        return error(
            StatusCode::BAD_REQUEST,
            "BAD_QUERY",
            "query parameters: wait, stream, plan_only (true|false)",
        );
    };
    let spec: RunSpec = match serde_json::from_slice(&body) {
        Ok(s) => s,
        Err(e) => return error(StatusCode::BAD_REQUEST, "INVALID_RUN", &format!("not a run: {e}")),
    };
    let (shared, runs) = (&s.shared, &s.runs);
    let host = shared.host.clone();
    if spec.calls.len() > host.config().serve.max_batch_calls {
        let message = host.config().serve.too_many_calls("calls");
        return error(StatusCode::PAYLOAD_TOO_LARGE, "TOO_MANY_CALLS", &message);
    }
    if q.plan_only {
        return match host.plan_dag(&spec, &Greedy) {
            Ok(plan) => axum::Json(plan).into_response(),
            Err(e) => error(StatusCode::UNPROCESSABLE_ENTITY, "INVALID_RUN", &e.to_string()),
        };
    }
    // Validate up front so a bad graph is a 422, not a failed background run.
    if let Err(e) = toolhost::scheduler::Graph::build(&spec) {
        return error(StatusCode::UNPROCESSABLE_ENTITY, "INVALID_RUN", &e.to_string());
    }
    let (ctx, guard) = match admit(&s.shared, &ext, &headers) {
        Ok(a) => a,
        Err(r) => return r,
    };
    let tenant = ctx.tenant_id.clone().unwrap_or_default();
    let wait = host.config().serve.run_wait(&ctx);
    if let Some(store) = durable(&s) {
        drop(guard);
        return create_durable(&store, &spec, &tenant, &ctx, &q, wait).await;
    }
    let run_id = toolhost::scheduler::new_run_id();
    let cancel = guard.token().clone();
    runs.start(&run_id, &tenant, cancel.clone());
    let (tx, rx) = tokio::sync::mpsc::channel(1024);
    let opts = RunOptions {
        cancel: Some(cancel),
        events: q.stream.then_some(tx),
        run_id: Some(run_id.clone()),
        ..Default::default()
    };
    let (done_tx, done_rx) = tokio::sync::oneshot::channel();
    let task_runs = runs.clone();
    tokio::spawn(async move {
        let _guard = guard;
        if let Ok(result) = host.run_dag(&ctx, &spec, opts).await {
            task_runs.finish(result.clone());
            let _ = done_tx.send(result);
        }
    });
    if q.stream {
        return stream(rx, done_rx).into_response();
    }
    if q.wait {
        return match tokio::time::timeout(wait, done_rx).await {
            Ok(Ok(result)) => axum::Json(result).into_response(),
            Ok(Err(_)) => {
                error(StatusCode::INTERNAL_SERVER_ERROR, "RUN_LOST", "the run ended without a result")
            }
            Err(_) => still_going(&run_id, "running"),
        };
    }
    (StatusCode::ACCEPTED, axum::Json(json!({ "run_id": run_id, "status": "running" }))).into_response()
}

/// Server-sent events: `started`, `finished`, `skipped` per call, then `done` with the result.
fn stream(
    rx: tokio::sync::mpsc::Receiver<RunEvent>,
    done: tokio::sync::oneshot::Receiver<RunResult>,
) -> Sse<impl futures::Stream<Item = Result<Event, std::convert::Infallible>>> {
    let events = futures::stream::unfold((rx, Some(done)), |(mut rx, done)| async move {
        match rx.recv().await {
            Some(ev) => {
                let v = serde_json::to_value(&ev).unwrap_or_default();
                let kind = v["type"].as_str().unwrap_or("event").to_string();
                Some((Ok(Event::default().event(kind).data(v.to_string())), (rx, done)))
            }
            None => {
                let done = done?;
                let result = done.await.ok()?;
                let ev =
                    Event::default().event("done").data(serde_json::to_string(&result).unwrap_or_default());
                Some((Ok(ev), (rx, None)))
            }
        }
    });
    Sse::new(events).keep_alive(KeepAlive::default())
}

pub(crate) async fn get(
    State(s): State<Arc<RunsApi>>,
    ext: axum::http::Extensions,
    Path(id): Path<String>,
) -> Response {
    let tenant = caller(&ext);
    match s.runs.get(&id, &tenant) {
        Some((_, Some(result))) => axum::Json(result.as_ref()).into_response(),
        Some((_, None)) => axum::Json(json!({ "run_id": id, "status": "running" })).into_response(),
        None => match durable(&s) {
            Some(store) => match store.get(&id, Some(&tenant)).await {
                Ok(Some(rec)) => axum::Json(rec.to_json()).into_response(),
                Ok(None) => error(StatusCode::NOT_FOUND, "RUN_NOT_FOUND", "no such run"),
                Err(e) => unavailable(&e),
            },
            None => error(StatusCode::NOT_FOUND, "RUN_NOT_FOUND", "no such run"),
        },
    }
}

/// The durable run store, when Redis is configured.
fn durable(s: &RunsApi) -> Option<RunStore> {
    s.shared.host.backend().redis().cloned().map(RunStore::new)
}

/// `?wait=true` ran out of time: 202, the run goes on (poll `GET /v1/runs/{id}`).
fn still_going(run_id: &str, status: &str) -> Response {
    (StatusCode::ACCEPTED, axum::Json(json!({ "run_id": run_id, "status": status }))).into_response()
}

fn unavailable(e: &RunStoreError) -> Response {
    let mut r = error(StatusCode::SERVICE_UNAVAILABLE, "RUN_STORE_UNAVAILABLE", &e.to_string());
    r.headers_mut().insert(axum::http::header::RETRY_AFTER, axum::http::HeaderValue::from_static("1"));
    r
}

/// `POST /v1/runs` with Redis: store + enqueue, then 202 (or wait for a worker).
async fn create_durable(
    store: &RunStore,
    spec: &RunSpec,
    tenant: &str,
    ctx: &toolhost::ExecutionContext,
    q: &RunsQuery,
    wait: std::time::Duration,
) -> Response {
    if q.stream {
        return error(
            StatusCode::BAD_REQUEST,
            "STREAM_NOT_SUPPORTED",
            "stream=true is not available for durable runs (redis_url is set); use wait=true or poll GET /v1/runs/{id}",
        );
    }
    let run_id = match store.submit(spec, tenant, ctx).await {
        Ok(id) => id,
        Err(e) => return unavailable(&e),
    };
    if q.wait {
        return match store.wait(&run_id, Some(tenant), Some(wait)).await {
            Ok(Some(rec)) if rec.is_finished() => axum::Json(rec.to_json()).into_response(),
            Ok(Some(rec)) => still_going(&run_id, &rec.status),
            Ok(None) => {
                error(StatusCode::INTERNAL_SERVER_ERROR, "RUN_LOST", "the run expired before it finished")
            }
            // Accepted and queued: never a 503 here (the client would submit it again).
            Err(_) => still_going(&run_id, "queued"),
        };
    }
    (StatusCode::ACCEPTED, axum::Json(json!({ "run_id": run_id, "status": "queued" }))).into_response()
}

pub(crate) async fn cancel(
    State(s): State<Arc<RunsApi>>,
    ext: axum::http::Extensions,
    Path(id): Path<String>,
) -> Response {
    let tenant = caller(&ext);
    let status = match s.runs.get(&id, &tenant) {
        Some((token, result)) => {
            token.cancel();
            if result.is_some() { "finished" } else { "cancelling" }
        }
        // Not started here: a durable run, held by whichever worker took it.
        None => {
            let Some(store) = durable(&s) else {
                return error(StatusCode::NOT_FOUND, "RUN_NOT_FOUND", "no such run");
            };
            match store.cancel(&id, Some(&tenant)).await {
                Ok(Some(CancelOutcome::Cancelled)) => "cancelled",
                Ok(Some(CancelOutcome::Cancelling)) => "cancelling",
                Ok(Some(CancelOutcome::Finished(_))) => "finished",
                Ok(None) => return error(StatusCode::NOT_FOUND, "RUN_NOT_FOUND", "no such run"),
                Err(e) => return unavailable(&e),
            }
        }
    };
    (StatusCode::ACCEPTED, axum::Json(json!({ "run_id": id, "status": status }))).into_response()
}
