//! Who is calling, and may they: static bearer tokens (`[[serve.tokens]]`)
//! and, with `[serve.oauth]`, JWT access tokens of one OAuth 2.1 issuer
//! (toolhost is then an OAuth resource server, RFC 9728):
//!
//! - `GET /.well-known/oauth-protected-resource` (also under `/mcp`) tells
//!   clients which authorization server issues tokens for this server;
//! - a missing or bad token is 401 with `WWW-Authenticate: Bearer
//!   resource_metadata="…"` (and `error="invalid_token"` for a bad one);
//! - a token without the scope a request needs is 403 with
//!   `error="insufficient_scope", scope="…"` naming it (scope step-up).
//!
//! Route scopes: `tools:list` (`GET /v1/tools`, MCP `tools/list`),
//! `tools:call` or `tools:call:<glob>` (`POST /v1/calls`, MCP `tools/call`,
//! per tool), `runs` (`/v1/runs`), `admin` (`/metrics`, `/v1/stats`, `/admin/*`).

use crate::request::error;
use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use toolhost::access::auth::{Caller, Tokens};
use toolhost_auth::{AuthFailure, OAuthConfig, Scopes, TOOLS_LIST, Verifier};

/// The protected-resource metadata path (RFC 9728).
pub(crate) const METADATA_PATH: &str = "/.well-known/oauth-protected-resource";

/// How requests are authenticated.
#[derive(Debug)]
pub(crate) struct Authn {
    /// The host, whose `[[serve.tokens]]` in force (replaced by a config reload) are read per request.
    pub(crate) host: toolhost::Host,
    pub(crate) oauth: Option<Verifier>,
}

impl Authn {
    /// The static tokens in force.
    pub(crate) fn tokens(&self) -> std::sync::Arc<Tokens> {
        self.host.tokens()
    }

    /// Whether every request needs a credential.
    pub(crate) fn required(&self) -> bool {
        self.tokens().required() || self.oauth.is_some()
    }

    /// The caller of a request, or the 401 refusing it.
    pub(crate) async fn caller(&self, headers: &HeaderMap) -> Result<Caller, Response> {
        let auth = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
        let bearer =
            auth.and_then(|a| a.trim().split_once(' ')).filter(|(s, _)| s.eq_ignore_ascii_case("bearer"));
        let Some((_, token)) = bearer else {
            return Err(self.unauthorized(headers, None, "missing bearer token"));
        };
        let token = token.trim();
        if let Ok(id) = self.tokens().identify(auth) {
            let scopes = Scopes::everything(id.admin);
            return Ok(Caller { tenant: id.tenant.to_string(), subject: Some(id.name.to_string()), scopes });
        }
        let Some(verifier) = self.oauth.as_ref().filter(|_| Verifier::looks_like_jwt(token)) else {
            return Err(self.unauthorized(headers, Some("invalid_token"), "invalid bearer token"));
        };
        match verifier.verify(token).await {
            Ok(p) => {
                tracing::debug!(tenant = %p.tenant, subject = ?p.subject, scopes = ?p.scopes.list(), "access token accepted");
                Ok(Caller { tenant: p.tenant, subject: p.subject, scopes: p.scopes })
            }
            Err(AuthFailure::Invalid(why)) => {
                tracing::info!(reason = %why, "access token refused");
                Err(self.unauthorized(headers, Some("invalid_token"), &why))
            }
            Err(AuthFailure::Unavailable(why)) => {
                tracing::warn!(reason = %why, "cannot check access tokens");
                Err(error(StatusCode::SERVICE_UNAVAILABLE, "AUTH_UNAVAILABLE", &why))
            }
        }
    }

    /// 401 with the challenge pointing at the metadata.
    fn unauthorized(&self, headers: &HeaderMap, err: Option<&str>, message: &str) -> Response {
        let mut challenge = String::from("Bearer realm=\"toolhost\"");
        if self.oauth.is_some() {
            challenge.push_str(&format!(", resource_metadata=\"{}\"", metadata_url(headers)));
        }
        if let Some(e) = err {
            challenge.push_str(&format!(", error=\"{e}\", error_description=\"{}\"", quoted(message)));
        }
        with_challenge(error(StatusCode::UNAUTHORIZED, "UNAUTHENTICATED", message), &challenge)
    }

    /// 403 naming the scope that would allow the request.
    pub(crate) fn insufficient_scope(&self, headers: &HeaderMap, scope: &str) -> Response {
        let mut challenge = format!("Bearer error=\"insufficient_scope\", scope=\"{}\"", quoted(scope));
        if self.oauth.is_some() {
            challenge.push_str(&format!(", resource_metadata=\"{}\"", metadata_url(headers)));
        }
        let message = format!("this token lacks the scope '{scope}'");
        with_challenge(error(StatusCode::FORBIDDEN, "INSUFFICIENT_SCOPE", &message), &challenge)
    }

    /// The protected-resource metadata, or 404 without `[serve.oauth]`.
    pub(crate) fn metadata(&self, headers: &HeaderMap) -> Response {
        let Some(v) = &self.oauth else {
            return error(StatusCode::NOT_FOUND, "NOT_FOUND", "no OAuth authorization server is configured");
        };
        axum::Json(metadata(v.config(), headers)).into_response()
    }
}

fn quoted(s: &str) -> String {
    s.replace(['"', '\\'], "'")
}

fn with_challenge(mut r: Response, challenge: &str) -> Response {
    if let Ok(v) = HeaderValue::from_str(challenge) {
        r.headers_mut().insert(header::WWW_AUTHENTICATE, v);
    }
    r
}

/// `http://<Host>` of the request (behind a TLS proxy: `X-Forwarded-Proto`).
fn origin(headers: &HeaderMap) -> String {
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok()).unwrap_or("localhost");
    let proto = headers.get("x-forwarded-proto").and_then(|v| v.to_str().ok()).unwrap_or("http");
    format!("{proto}://{host}")
}

fn metadata_url(headers: &HeaderMap) -> String {
    format!("{}{METADATA_PATH}", origin(headers))
}

/// RFC 9728 metadata: this resource and who issues its tokens.
fn metadata(cfg: &OAuthConfig, headers: &HeaderMap) -> Value {
    let resource = cfg.resource.clone().unwrap_or_else(|| format!("{}/mcp", origin(headers)));
    json!({
        "resource": resource,
        "authorization_servers": [cfg.issuer],
        "scopes_supported": [TOOLS_LIST, toolhost_auth::TOOLS_CALL, toolhost_auth::RUNS, toolhost_auth::ADMIN],
        "bearer_methods_supported": ["header"],
        "resource_name": "toolhost",
    })
}

/// The scope an MCP message needs that `scopes` lacks, if any: `tools/list`
/// needs `tools:list`, `tools/call` a call scope for its tool.
pub(crate) fn mcp_missing_scope(scopes: &Scopes, message: &Value) -> Option<String> {
    let messages = match message {
        Value::Array(batch) => batch.iter().collect(),
        one => vec![one],
    };
    messages.into_iter().find_map(|m| match m.get("method").and_then(Value::as_str) {
        Some("tools/list") if !scopes.has(TOOLS_LIST) => Some(TOOLS_LIST.to_string()),
        Some("tools/call") => {
            let tool = m.pointer("/params/name").and_then(Value::as_str).unwrap_or_default();
            (!scopes.may_call(tool)).then(|| Scopes::to_call(tool))
        }
        _ => None,
    })
}

/// `/mcp` middleware: a `tools/list` or `tools/call` the token's scopes do
/// not cover is refused with 403 before the MCP layer sees it.
pub(crate) async fn mcp_scopes(
    axum::extract::State(authn): axum::extract::State<std::sync::Arc<Authn>>,
    req: Request,
    next: Next,
) -> Response {
    // Only a token missing some tool scope needs its messages read.
    let limited = req
        .extensions()
        .get::<Caller>()
        .is_some_and(|c| !(c.scopes.has(toolhost_auth::TOOLS_CALL) && c.scopes.has(TOOLS_LIST)));
    if !limited || req.method() != axum::http::Method::POST {
        return next.run(req).await;
    }
    let (parts, body) = req.into_parts();
    // The router's body limit already bounds this.
    let Ok(bytes) = axum::body::to_bytes(body, usize::MAX).await else {
        return next.run(Request::from_parts(parts, Body::empty())).await;
    };
    let scopes = &parts.extensions.get::<Caller>().expect("checked above").scopes;
    if let Ok(message) = serde_json::from_slice::<Value>(&bytes)
        && let Some(scope) = mcp_missing_scope(scopes, &message)
    {
        return authn.insufficient_scope(&parts.headers, &scope);
    }
    next.run(Request::from_parts(parts, Body::from(bytes))).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mcp_messages_need_their_scopes() {
        let s = Scopes::granted(["tools:call:math.*"]);
        let call =
            |name: &str| json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": name}});
        assert_eq!(mcp_missing_scope(&s, &call("math.add")), None);
        assert_eq!(mcp_missing_scope(&s, &call("text.upper")), Some("tools:call:text.upper".into()));
        let list = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"});
        assert_eq!(mcp_missing_scope(&s, &list), Some("tools:list".into()));
        assert_eq!(mcp_missing_scope(&s, &json!([list, call("math.add")])), Some("tools:list".into()));
        let init = json!({"jsonrpc": "2.0", "id": 0, "method": "initialize"});
        assert_eq!(mcp_missing_scope(&s, &init), None);
    }
}
