//! The HTTP server: MCP streamable HTTP at `/mcp` and the plain API.
//!
//! | Route | What |
//! |---|---|
//! | `POST/GET/DELETE /mcp` | MCP streamable HTTP (rmcp) |
//! | `GET /v1/tools` | the caller's tenant's tools, with schemas |
//! | `POST /v1/calls` | one call or a batch, any input shape the executor reads; `?order=completion\|submission`, `?dedup=true`, `?stream=true` (server-sent events) |
//! | `GET /metrics` | Prometheus metrics ([`toolhost::observe::metrics`]); operator route |
//! | `GET /v1/stats` | live snapshot for `toolhost top` ([`toolhost::observe::live`]); operator route |
//! | `/admin/*` | the admin API ([`crate::admin`]): plugins, reload, breakers, cache, tenant quotas; `admin` scope or an `admin = true` token |
//! | `GET /healthz` | the process is up |
//! | `GET /readyz` | ready for traffic (503 while shutting down or when the epoch ticker stalls); `status` is `degraded` (still 200) while Redis fails and calls run on local fallbacks; states only, no addresses; `plugin_failures` counts plugins not fully served (names and error codes for operators); `source_failures` the `[[sources]]` whose pull failed or warned (a moved tag, an unreachable registry; with `serving` for operators) |
//!
//! Every route checks `Host` and `Origin` (403), and, once tokens are
//! configured, the bearer token (401; health routes excepted). The operator
//! routes show every tenant's tools, call ids and breaker keys: once tokens
//! are configured they need an `admin = true` token (403 otherwise). Bodies
//! are bounded (413) and must arrive in time (408).

use crate::authn::{Authn, METADATA_PATH};
use crate::convert;
use crate::inflight::InflightGuard;
use crate::listener;
use crate::mcp::McpServer;
use crate::request::{admit, caller, error};
use crate::state::Shared;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::{StreamableHttpServerConfig, StreamableHttpService};
use serde::Deserialize;
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use toolhost::access::ServeConfig;
use toolhost::access::auth::Caller;
use toolhost::access::origin::{HostPolicy, OriginPolicy};
use toolhost::exec::parse::{ParseError, ParseLimits, parse_calls_within};
use toolhost::{BatchOptions, CallEvent, CancelToken, Error, ExecutionContext, Host, Order, ToolCall};
use toolhost_auth::Scopes;

/// State of the HTTP routes.
#[derive(Debug)]
pub(crate) struct AppState {
    pub(crate) shared: Arc<Shared>,
    authn: Arc<Authn>,
    origins: OriginPolicy,
    hosts: HostPolicy,
    default_tenant: String,
}

/// A bound, not yet running HTTP server.
#[derive(Debug)]
pub struct HttpServer {
    listener: TcpListener,
    router: Router,
    shared: Arc<Shared>,
    cfg: ServeConfig,
    mcp_shutdown: CancellationToken,
}

impl HttpServer {
    /// Binds `addr` (port 0 picks a free port) with the host's `[serve]` settings.
    pub async fn bind(host: Host, addr: SocketAddr) -> toolhost::Result<HttpServer> {
        let cfg = host.config().serve.clone();
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|e| Error::Configuration(format!("cannot listen on {addr}: {e}")))?;
        let bound = listener.local_addr().map_err(|e| Error::Configuration(e.to_string()))?;
        let shared = Arc::new(Shared::new(host.clone(), cfg.tenant.clone()));
        let tokens = host.tokens();
        if tokens.required() && !tokens.has_admin() && cfg.oauth.is_none() {
            tracing::warn!(
                "no [[serve.tokens]] entry has admin = true: /metrics and /v1/stats answer 403 to every token"
            );
        }
        let oauth = match &cfg.oauth {
            Some(o) => Some(toolhost_auth::Verifier::new(o).map_err(Error::Configuration)?),
            None => None,
        };
        let authn = Arc::new(Authn { host: host.clone(), oauth });
        let state = Arc::new(AppState {
            shared: shared.clone(),
            authn: authn.clone(),
            origins: OriginPolicy::compile(&cfg.allowed_origins)?,
            hosts: HostPolicy::new(&cfg.allowed_hosts, bound.ip()),
            default_tenant: cfg.tenant.clone(),
        });
        let mcp_shutdown = CancellationToken::new();
        // Host/Origin are checked by our own middleware for every route.
        let mcp_cfg = StreamableHttpServerConfig::default()
            .disable_allowed_hosts()
            .disable_allowed_origins()
            .with_max_request_body_bytes(cfg.max_body_bytes)
            .with_cancellation_token(mcp_shutdown.clone());
        let mcp_shared = shared.clone();
        let mcp = StreamableHttpService::new(
            move || Ok(McpServer::new(mcp_shared.clone())),
            Arc::new(LocalSessionManager::default()),
            mcp_cfg,
        );
        let router = Router::new()
            .route("/v1/tools", get(list_tools))
            .route("/v1/calls", post(calls))
            .route("/metrics", get(metrics))
            .route("/v1/stats", get(stats))
            .route("/healthz", get(healthz))
            .route("/readyz", get(readyz))
            // 2025-11-25 task messages are adapted on the way (see `task_wire`).
            .nest_service(
                "/mcp",
                tower::Layer::layer(
                    &middleware::from_fn_with_state(authn, crate::authn::mcp_scopes),
                    tower::Layer::layer(&middleware::from_fn(crate::task_wire::adapt_http), mcp),
                ),
            )
            .fallback(not_found)
            .with_state(state.clone())
            .merge(crate::runs::routes(shared.clone()))
            .merge(crate::admin::routes(shared.clone()))
            .layer(middleware::from_fn_with_state(state, gate))
            .layer(tower_http::limit::RequestBodyLimitLayer::new(cfg.max_body_bytes))
            .layer(tower_http::timeout::RequestBodyTimeoutLayer::new(Duration::from_millis(
                cfg.body_timeout_ms,
            )));
        Ok(HttpServer { listener, router, shared, cfg, mcp_shutdown })
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.listener.local_addr().expect("a bound listener has an address")
    }

    /// Serves until `shutdown` resolves, then stops accepting, gives in-flight
    /// calls the grace period, cancels what still runs, and closes MCP sessions.
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send) -> toolhost::Result<()> {
        let HttpServer { listener, router, shared, cfg, mcp_shutdown } = self;
        let grace = cfg.grace();
        let drain = async move {
            tracing::info!(inflight = shared.inflight.count(), "shutting down: draining in-flight calls");
            shared.inflight.shutdown(grace).await;
            mcp_shutdown.cancel();
        };
        listener::serve(listener, router, &cfg, shutdown, drain).await;
        Ok(())
    }
}

/// Host/Origin check, then authentication (health routes excepted).
async fn gate(State(s): State<Arc<AppState>>, mut req: Request, next: Next) -> Response {
    let headers = req.headers();
    let host =
        headers.get(header::HOST).and_then(|v| v.to_str().ok()).or(req.uri().authority().map(|a| a.as_str()));
    if !s.hosts.allows(host) {
        return error(
            StatusCode::FORBIDDEN,
            "FORBIDDEN_HOST",
            "Host header is not allowed (DNS-rebinding protection)",
        );
    }
    if let Some(origin) = headers.get(header::ORIGIN)
        && !origin.to_str().is_ok_and(|o| s.origins.allows(o))
    {
        return error(StatusCode::FORBIDDEN, "FORBIDDEN_ORIGIN", "Origin is not allowed");
    }
    let path = req.uri().path();
    if path == METADATA_PATH || path.strip_prefix(METADATA_PATH) == Some("/mcp") {
        return s.authn.metadata(req.headers());
    }
    if matches!(path, "/healthz" | "/readyz") {
        return next.run(req).await;
    }
    let caller = if s.authn.required() {
        match s.authn.caller(req.headers()).await {
            Ok(c) => c,
            Err(refused) => return refused,
        }
    } else {
        // No credentials configured: one trusted user, who is also the operator.
        Caller { tenant: s.default_tenant.clone(), subject: None, scopes: Scopes::everything(true) }
    };
    let needs = match path {
        "/v1/tools" => Some(toolhost_auth::TOOLS_LIST),
        p if p.starts_with("/v1/runs") => Some(toolhost_auth::RUNS),
        p if p == "/admin" || p.starts_with("/admin/") => Some(toolhost_auth::ADMIN),
        _ => None,
    };
    if let Some(scope) = needs.filter(|scope| !caller.scopes.has(scope)) {
        return s.authn.insufficient_scope(req.headers(), scope);
    }
    let admin = caller.scopes.has(toolhost_auth::ADMIN);
    req.extensions_mut().insert(caller);
    req.extensions_mut().insert(Operator(admin));
    next.run(req).await
}

/// Whether the request may read the process-wide operator routes (set by
/// the gate: an `admin` token, or no tokens configured at all).
#[derive(Debug, Clone, Copy)]
struct Operator(bool);

/// 403 unless the request carries an operator credential: the operator
/// routes show every tenant's tools, call ids and breaker keys.
fn require_operator(ext: &axum::http::Extensions) -> Result<(), Response> {
    if ext.get::<Operator>().is_some_and(|o| o.0) {
        return Ok(());
    }
    Err(error(
        StatusCode::FORBIDDEN,
        "FORBIDDEN_SCOPE",
        "this route shows every tenant's activity: it needs an operator token (admin = true in [[serve.tokens]])",
    ))
}

async fn not_found() -> Response {
    error(
        StatusCode::NOT_FOUND,
        "NOT_FOUND",
        "no such route; see /v1/tools, /v1/calls, /mcp, /healthz, /readyz",
    )
}

async fn list_tools(State(s): State<Arc<AppState>>, ext: axum::http::Extensions) -> Response {
    let tenant = caller(&ext);
    let may = |t: &&toolhost::ToolListing| ext.get::<Caller>().is_none_or(|c| c.scopes.may_call(&t.name));
    let tools: Vec<Value> = s
        .shared
        .host
        .list_tools(Some(&tenant))
        .iter()
        .filter(may)
        .map(toolhost::ToolListing::to_json)
        .collect();
    axum::Json(json!({ "tools": tools })).into_response()
}

/// Query of `POST /v1/calls`.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct CallsQuery {
    order: Option<String>,
    stream: bool,
    dedup: bool,
}

async fn calls(
    State(s): State<Arc<AppState>>,
    ext: axum::http::Extensions,
    headers: HeaderMap,
    query: Result<Query<CallsQuery>, axum::extract::rejection::QueryRejection>,
    body: Bytes,
) -> Response {
    let Ok(Query(q)) = query else {
        return error(
            StatusCode::BAD_REQUEST,
            "BAD_QUERY",
            "query parameters: order=completion|submission, stream=true|false, dedup=true|false",
        );
    };
    let order = match q.order.as_deref().map(str::parse::<Order>).transpose() {
        Ok(o) => o.unwrap_or_default(),
        Err(e) => return error(StatusCode::BAD_REQUEST, "BAD_QUERY", &e),
    };
    let Ok(text) = std::str::from_utf8(&body) else {
        return error(StatusCode::BAD_REQUEST, "INVALID_INPUT", "body is not UTF-8");
    };
    // The body is already bounded by serve.max_body_bytes; the count by serve.max_batch_calls.
    let serve = &s.shared.host.config().serve;
    let limits = ParseLimits { max_calls: serve.max_batch_calls, max_bytes: usize::MAX };
    let parsed = match parse_calls_within(text, limits) {
        Ok(p) if p.is_empty() => {
            return error(StatusCode::BAD_REQUEST, "INVALID_INPUT", "the body holds no tool calls");
        }
        Ok(p) => p,
        Err(ParseError::TooManyCalls { .. }) => {
            return error(
                StatusCode::PAYLOAD_TOO_LARGE,
                "TOO_MANY_CALLS",
                &serve.too_many_calls("tool calls"),
            );
        }
        Err(e) => return error(StatusCode::BAD_REQUEST, "INVALID_INPUT", &e.to_string()),
    };
    if let Some(c) = ext.get::<Caller>()
        && let Some(p) = parsed.iter().find(|p| !c.scopes.may_call(&p.tool))
    {
        return s.authn.insufficient_scope(&headers, &Scopes::to_call(&p.tool));
    }
    let (ctx, guard) = match admit(&s.shared, &ext, &headers) {
        Ok(a) => a,
        Err(r) => return r,
    };
    let calls: Vec<ToolCall> = parsed.into_iter().map(ToolCall::from).collect();
    let opts = BatchOptions { order, dedup: q.dedup, cancel: Some(guard.token().clone()) };
    let host = s.shared.host.clone();
    if q.stream {
        return stream(host, ctx, calls, opts, guard).into_response();
    }
    // The client hanging up cancels the batch (the guard's token) when this future is dropped.
    let cancel_on_drop = CancelOnDrop(Some(guard.token().clone()));
    let results = host.run_batch(&ctx, calls, opts).await;
    cancel_on_drop.disarm();
    drop(guard);
    let ok = results.iter().all(|r| r.result.is_ok());
    let status = crate::admin::calls_status(&results);
    // Written straight from the results: no `Value` tree per result.
    let results: Vec<_> = results.iter().map(with_text).collect();
    crate::admin::with_status(status, axum::Json(BatchBody { ok, results }).into_response())
}

/// The body of a whole batch's answer.
#[derive(serde::Serialize)]
struct BatchBody<'a> {
    ok: bool,
    results: Vec<toolhost::ResultView<'a>>,
}

/// A result's JSON with the model-facing `text` (result text, or the error
/// with its retry verdict).
fn with_text(r: &toolhost::CallResult) -> toolhost::ResultView<'_> {
    r.view(Some(match &r.result {
        Ok(out) => out.to_text(),
        Err(e) => convert::failure_text(e),
    }))
}

/// Cancels a token when dropped, unless disarmed.
struct CancelOnDrop(Option<CancelToken>);

impl CancelOnDrop {
    fn disarm(mut self) {
        self.0 = None;
    }
}

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        if let Some(t) = self.0.take() {
            t.cancel();
        }
    }
}

/// `?stream=true`: `started`, `log`, `progress`, `emit` and `result` events as
/// they happen, then one `done` event. Closing the stream cancels the batch.
fn stream(
    host: Host,
    ctx: ExecutionContext,
    calls: Vec<ToolCall>,
    opts: BatchOptions,
    guard: InflightGuard,
) -> Sse<impl futures::Stream<Item = Result<Event, std::convert::Infallible>>> {
    let total = calls.len();
    let rx = host.stream_batch(ctx, calls, opts, true);
    struct St {
        rx: tokio::sync::mpsc::Receiver<CallEvent>,
        guard: InflightGuard,
        ok: usize,
        failed: usize,
        done: bool,
        started: Instant,
    }
    impl Drop for St {
        fn drop(&mut self) {
            if !self.done {
                self.guard.token().cancel();
            }
        }
    }
    let st = St { rx, guard, ok: 0, failed: 0, done: false, started: Instant::now() };
    let events = futures::stream::unfold(st, move |mut st| async move {
        if st.done {
            return None;
        }
        let ev = match st.rx.recv().await {
            Some(CallEvent::Started { index, call_id, tool }) => Event::default()
                .event("started")
                .json_data(json!({ "index": index, "call_id": call_id, "tool": tool })),
            Some(CallEvent::Guest { call_id, event }) => {
                let mut v = serde_json::to_value(&event).unwrap_or_default();
                let kind = v["type"].as_str().unwrap_or("guest").to_string();
                v["call_id"] = call_id.into();
                if let Some(chunk) = v.get("chunk").and_then(Value::as_str) {
                    // Emit chunks are JSON text: send them as JSON when they parse.
                    if let Ok(parsed) = serde_json::from_str::<Value>(chunk) {
                        v["chunk"] = parsed;
                    }
                }
                Event::default().event(kind).json_data(v)
            }
            Some(CallEvent::Finished(r)) => {
                if r.result.is_ok() {
                    st.ok += 1;
                } else {
                    st.failed += 1;
                }
                Event::default().event("result").json_data(with_text(&r))
            }
            None => {
                st.done = true;
                Event::default().event("done").json_data(json!({
                    "total": total, "ok": st.ok, "failed": st.failed,
                    "duration_ms": st.started.elapsed().as_secs_f64() * 1e3,
                }))
            }
        };
        Some((Ok(ev.unwrap_or_else(|_| Event::default().event("error"))), st))
    });
    Sse::new(events).keep_alive(KeepAlive::default())
}

/// Prometheus text format (an operator route: admin token once tokens are configured).
async fn metrics(State(s): State<Arc<AppState>>, ext: axum::http::Extensions) -> Response {
    if let Err(r) = require_operator(&ext) {
        return r;
    }
    (
        [(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"))],
        toolhost::observe::metrics::render_host(&s.shared.host),
    )
        .into_response()
}

/// The live view's snapshot (`toolhost top` polls it).
async fn stats(State(s): State<Arc<AppState>>, ext: axum::http::Extensions) -> Response {
    if let Err(r) = require_operator(&ext) {
        return r;
    }
    axum::Json(toolhost::observe::live::snapshot(&s.shared.host)).into_response()
}

async fn healthz() -> Response {
    axum::Json(json!({ "status": "ok" })).into_response()
}

async fn readyz(State(s): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    let host = &s.shared.host;
    // The probe is unauthenticated: plugin names (which may belong to one
    // tenant) only for an operator, or when no tokens are configured.
    let operator = !s.authn.required() || {
        let auth = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
        s.authn.tokens().identify(auth).is_ok_and(|id| id.admin)
    };
    let draining = s.shared.inflight.draining();
    let ticker_ok = host.runtime().healthy();
    let catalog = host.catalog();
    let failed = catalog.plugins().iter().filter(|p| p.state == toolhost::PluginState::Failed).count();
    // Which plugins are not (fully) served: name, state and error codes only
    // (messages carry paths and may quote manifest text).
    let failures: Vec<_> = catalog
        .plugins()
        .iter()
        .filter(|p| p.state != toolhost::PluginState::Loaded || !p.errors.is_empty())
        .map(|p| {
            let codes: std::collections::BTreeSet<&str> =
                p.errors.iter().map(|e| e.code().as_str()).collect();
            json!({ "plugin": p.name, "state": p.state, "codes": codes })
        })
        .collect();
    let upstreams = host.upstreams();
    let down: Vec<_> = upstreams
        .iter()
        .filter(|u| !u.connected)
        .map(|u| json!({ "upstream": u.name, "kind": u.kind }))
        .collect();
    let sources: Vec<_> = host
        .sources()
        .iter()
        .filter(|x| x.code.is_some())
        .map(|x| json!({ "source": x.source, "serving": x.serving, "code": x.code }))
        .collect();
    let ready = !draining && ticker_ok;
    // Probe Redis now (bounded by op_timeout_ms) so recovery shows without traffic.
    let backend = host.check_backend().await;
    let degraded = backend == toolhost::backend::Health::Degraded;
    let verdict = match (ready, degraded) {
        (false, _) => "unavailable",
        (true, true) => "degraded",
        (true, false) => "ok",
    };
    let body = json!({
        "status": verdict,
        "ready": ready,
        // The kind only: the probe is unauthenticated, so no address.
        "backend": host.backend().kind(),
        "backend_health": backend,
        "draining": draining,
        "epoch_ticker": if ticker_ok { "ok" } else { "stalled" },
        "plugins": catalog.plugins().len(),
        "plugins_failed": failed,
        "plugin_failures": if operator { json!(failures) } else { json!(failures.len()) },
        "upstreams": upstreams.len(),
        "upstream_failures": if operator { json!(down) } else { json!(down.len()) },
        "sources": host.sources().len(),
        "source_failures": if operator { json!(sources) } else { json!(sources.len()) },
        "inflight": s.shared.inflight.count(),
    });
    let status = if ready { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (status, axum::Json(body)).into_response()
}
