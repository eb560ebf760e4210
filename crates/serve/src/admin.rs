//! The admin API: operating a running server. Every route needs the `admin`
//! scope (an OAuth token with it, or an `admin = true` static token; with no
//! credentials configured, the one local user); the gate answers 401/403.
//!
//! | Route | What |
//! |---|---|
//! | `GET /admin/plugins` | every plugin file: name, digest, tools, `state` (`enabled`, `disabled`, `failed`), load state and errors |
//! | `POST /admin/reload` | re-reads `toolhost.toml` (tokens, tenants, policies, quotas) and rescans the plugins folder; a bad file is 400 `CONFIGURATION_ERROR` and nothing changes |
//! | `POST /admin/plugins/{name}/disable`, `…/enable` | hides or restores a plugin's tools (MCP sessions get `tools/list_changed`); survives reloads of its file |
//! | `POST /admin/breakers/{tenant}/{tool}/reset` | closes that breaker |
//! | `DELETE /admin/cache[?tenant=&tool=]` | removes cached results (scoped: those this process stored) |
//! | `GET`/`PUT /admin/tenants/{tenant}` | the tenant's quotas and their use; `PUT` a quota object (new calls at once, until the next reload) |

use crate::request::error;
use crate::state::Shared;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::Arc;
use toolhost::{CallResult, ErrorCode, Host};

pub(crate) fn routes(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/admin/plugins", get(plugins))
        .route("/admin/plugins/{name}/{action}", post(plugin_state))
        .route("/admin/reload", post(reload))
        .route("/admin/breakers/{tenant}/{tool}/reset", post(reset_breaker))
        .route("/admin/cache", delete(clear_cache))
        .route("/admin/tenants/{tenant}", get(tenant).put(put_tenant))
        .layer(axum::middleware::from_fn_with_state(shared.clone(), audited))
        .with_state(shared)
}

/// One audit line per admin request that changes something (`[audit]`):
/// who, `METHOD /admin/…` as the action, the path as the target, and `ok`
/// or the HTTP status it ended with. Reads are not recorded.
async fn audited(
    State(s): State<Arc<Shared>>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let method = req.method().clone();
    if method == axum::http::Method::GET {
        return next.run(req).await;
    }
    let target = req.uri().path().to_string();
    let who = req
        .extensions()
        .get::<toolhost::access::Caller>()
        .map_or_else(|| "anonymous".to_string(), |c| c.subject.clone().unwrap_or_else(|| c.tenant.clone()));
    let res = next.run(req).await;
    let outcome =
        if res.status().is_success() { "ok".to_string() } else { res.status().as_u16().to_string() };
    s.host.audit().admin(&who, &format!("{method} {target}"), &target, &outcome);
    res
}

/// A typed error reply from a host error (its code, message and details).
fn host_error(status: StatusCode, e: &toolhost::Error) -> Response {
    (status, axum::Json(json!({ "error": e.to_json() }))).into_response()
}

async fn plugins(State(s): State<Arc<Shared>>) -> Response {
    let host = &s.host;
    let list: Vec<Value> = host
        .catalog()
        .plugins()
        .iter()
        .map(|p| {
            let state = if p.state == toolhost::PluginState::Failed {
                "failed"
            } else if p.disabled {
                "disabled"
            } else {
                "enabled"
            };
            json!({
                "name": p.name,
                "digest": p.digest,
                "tools": p.tools,
                "state": state,
                "load_state": p.state,
                "error": p.errors.first().map(toolhost::Error::to_json),
                "errors": p.errors.iter().map(toolhost::Error::to_json).collect::<Vec<_>>(),
            })
        })
        .collect();
    axum::Json(json!({ "plugins": list })).into_response()
}

async fn plugin_state(
    State(s): State<Arc<Shared>>,
    Path((name, action)): Path<(String, String)>,
) -> Response {
    let enabled = match action.as_str() {
        "enable" => true,
        "disable" => false,
        _ => {
            return error(StatusCode::NOT_FOUND, "NOT_FOUND", "use /admin/plugins/{name}/enable or /disable");
        }
    };
    match s.host.set_plugin_enabled(&name, enabled).await {
        Ok(changed) => {
            let state = if enabled { "enabled" } else { "disabled" };
            axum::Json(json!({ "plugin": name, "state": state, "changed": changed })).into_response()
        }
        Err(e) => host_error(StatusCode::NOT_FOUND, &e),
    }
}

async fn reload(State(s): State<Arc<Shared>>) -> Response {
    match s.host.reload().await {
        Ok(r) => axum::Json(json!({ "reloaded": r })).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "reload refused; the running configuration stays");
            host_error(StatusCode::BAD_REQUEST, &e)
        }
    }
}

async fn reset_breaker(
    State(s): State<Arc<Shared>>,
    Path((tenant, tool)): Path<(String, String)>,
) -> Response {
    let existed = s.host.reset_breaker(&tenant, &tool);
    axum::Json(json!({ "tenant": tenant, "tool": tool, "reset": existed })).into_response()
}

/// Query of `DELETE /admin/cache`.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct CacheQuery {
    tenant: Option<String>,
    tool: Option<String>,
}

async fn clear_cache(
    State(s): State<Arc<Shared>>,
    query: Result<Query<CacheQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let Ok(Query(q)) = query else {
        return error(StatusCode::BAD_REQUEST, "BAD_QUERY", "query parameters: tenant=NAME, tool=NAME");
    };
    match s.host.clear_cache(q.tenant.as_deref(), q.tool.as_deref()).await {
        Some(c) => axum::Json(json!({
            "tenant": q.tenant, "tool": q.tool, "removed": c.removed, "scoped": c.scoped,
            "backend": s.host.backend().kind(),
        }))
        .into_response(),
        None => {
            error(StatusCode::CONFLICT, "CACHE_DISABLED", "the result cache is off ([cache] enabled = false)")
        }
    }
}

/// A tenant's quotas (the set ones) and the use of each.
fn tenant_view(host: &Host, tenant: &str) -> Value {
    let (quota, usage) = host.tenant_quota(tenant);
    let mut quota = serde_json::to_value(quota).unwrap_or_default();
    if let Some(m) = quota.as_object_mut() {
        m.retain(|_, v| !v.is_null());
    }
    json!({ "tenant": tenant, "quota": quota, "usage": usage })
}

async fn tenant(State(s): State<Arc<Shared>>, Path(tenant): Path<String>) -> Response {
    axum::Json(tenant_view(&s.host, &tenant)).into_response()
}

async fn put_tenant(State(s): State<Arc<Shared>>, Path(tenant): Path<String>, body: Bytes) -> Response {
    let mut doc: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => return error(StatusCode::BAD_REQUEST, "INVALID_INPUT", &format!("body is not JSON: {e}")),
    };
    // `{"quota": {...}}` (as GET shows it) or the quota object itself.
    if let Some(q) = doc.get_mut("quota") {
        doc = q.take();
    }
    let quota: toolhost::exec::quota::QuotaConfig = match serde_json::from_value(doc) {
        Ok(q) => q,
        Err(e) => return error(StatusCode::BAD_REQUEST, "INVALID_INPUT", &format!("quota: {e}")),
    };
    match s.host.set_tenant_quota(&tenant, quota) {
        Ok(()) => axum::Json(tenant_view(&s.host, &tenant)).into_response(),
        Err(e) => host_error(StatusCode::BAD_REQUEST, &e),
    }
}

/// 429 when every call of a `POST /v1/calls` request ended with
/// `QUOTA_EXCEEDED` (refused, or stopped at the tenant's fuel or memory
/// cap); else 200 (per-call outcomes are in the body).
pub(crate) fn calls_status(results: &[CallResult]) -> Option<(StatusCode, Option<u64>)> {
    let refused =
        |r: &CallResult| r.result.as_ref().err().is_some_and(|e| e.code() == ErrorCode::QuotaExceeded);
    if results.is_empty() || !results.iter().all(refused) {
        return None;
    }
    let retry = results.iter().filter_map(|r| r.result.as_ref().err()?.retry_after_ms()).min();
    Some((StatusCode::TOO_MANY_REQUESTS, retry))
}

/// `r` with the status from [`calls_status`] and its `Retry-After` (seconds, rounded up).
pub(crate) fn with_status(status: Option<(StatusCode, Option<u64>)>, mut r: Response) -> Response {
    if let Some((code, retry)) = status {
        *r.status_mut() = code;
        if let Some(ms) = retry
            && let Ok(v) = HeaderValue::from_str(&ms.div_ceil(1000).to_string())
        {
            r.headers_mut().insert(header::RETRY_AFTER, v);
        }
    }
    r
}
