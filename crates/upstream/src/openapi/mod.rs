//! HTTP APIs described by an OpenAPI 3.0 document, served as upstream tools.
//!
//! ```toml
//! [[upstreams]]
//! name = "billing"
//! openapi = "http://127.0.0.1:8080/openapi.json"   # or a file path; JSON or YAML
//! base_url = "http://127.0.0.1:8080"               # default: servers[0].url
//! retry_on_status = [429, 502, 503, 504]
//! headers = { Authorization = "env:BILLING_TOKEN" }
//! ```
//!
//! Each operation with an `operationId` is a tool `billing.<operationId>`
//! whose arguments are its path, query and header parameters by name plus
//! `body` for a JSON request body. Local `$ref`s are inlined. GET, HEAD,
//! PUT, DELETE and OPTIONS are idempotent unless the operation says
//! `x-idempotent: false`; POST and PATCH only with `x-idempotent: true`.
//!
//! A call sends the configured headers (resolved once, at connect), the
//! context's propagation headers (`X-Request-ID`, `X-Correlation-ID`,
//! `traceparent`, `tracestate`), `X-Deadline-Seconds` and
//! [`CALL_ID_HEADER`]. A 2xx answer is the tool's value (JSON, else the body
//! as a string; at most `max_response_bytes`, else `OUTPUT_TOO_LARGE`);
//! other statuses map to the typed taxonomy (see [`Source`]).

mod document;
mod error;
mod operations;
mod request;
mod response;
mod schema;

pub use request::CALL_ID_HEADER;

use crate::config::resolve_secret;
use crate::{BoxFuture, Source, SourceKind, UpstreamCall, UpstreamConfig, UpstreamTool};
use error::ConnectError;
use operations::Operation;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use response::Judge;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};
use toolhost_core::{Error, ToolOutput};

/// Longest time to set up a TCP (and TLS) connection to an upstream.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Most redirects followed for one request.
const MAX_REDIRECTS: usize = 5;

/// An HTTP API as a [`Source`] of tools, one per operation.
pub struct OpenApiSource {
    name: String,
    base_url: String,
    client: reqwest::Client,
    /// The configured headers, secrets resolved (marked sensitive).
    headers: HeaderMap,
    retry_on_status: Vec<u16>,
    max_response_bytes: u64,
    operations: Vec<Operation>,
    /// Tool name → index in `operations`.
    by_name: HashMap<String, usize>,
}

impl std::fmt::Debug for OpenApiSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenApiSource")
            .field("name", &self.name)
            .field("base_url", &self.base_url)
            .field("headers", &self.headers.keys().collect::<Vec<_>>())
            .field("tools", &self.by_name.len())
            .finish_non_exhaustive()
    }
}

/// Reads the OpenAPI document of `cfg` (fetched over HTTP with its timeout,
/// or read from a file; JSON or YAML) and makes its operations tools.
///
/// A document that cannot be read or is not OpenAPI 3.0, no usable base URL,
/// two operations with the same tool name, or a header whose `env:` variable
/// is unset is an [`Error::Configuration`] naming the upstream (never a
/// header's value).
pub async fn connect(cfg: &UpstreamConfig) -> Result<Arc<OpenApiSource>, Error> {
    match connect_inner(cfg).await {
        Ok(source) => {
            let tools = source.operations.len();
            tracing::info!(upstream = cfg.name, base_url = source.base_url, tools, "OpenAPI upstream ready");
            Ok(Arc::new(source))
        }
        Err(e) => Err(Error::Configuration(format!("upstream '{}': {e}", cfg.name))),
    }
}

async fn connect_inner(cfg: &UpstreamConfig) -> Result<OpenApiSource, ConnectError> {
    let location = cfg.openapi.as_deref().ok_or(ConnectError::NoDocument)?;
    let headers = configured_headers(&cfg.headers)?;
    let client = http_client()?;
    let doc = document::load(&client, location, cfg.timeout()).await?;
    let operations = operations::build(&cfg.name, &doc)?;
    let base_url = document::base_url(cfg.base_url.as_deref(), &doc)?;
    let by_name = operations.iter().enumerate().map(|(i, op)| (op.tool.name.clone(), i)).collect();
    Ok(OpenApiSource {
        name: cfg.name.clone(),
        base_url,
        client,
        headers,
        retry_on_status: cfg.retry_on_status.clone(),
        max_response_bytes: cfg.max_response_bytes,
        operations,
        by_name,
    })
}

/// The HTTP client: rustls with the ring provider (installed as the process
/// default when none is; reqwest falls back to ring anyway), webpki roots.
fn http_client() -> Result<reqwest::Client, ConnectError> {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        // Losing a race with another installer is fine: a provider is set either way.
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
    reqwest::Client::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .redirect(redirect_policy())
        .user_agent(concat!("toolhost/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| ConnectError::Client(response::error_chain(e)))
}

/// Redirects are followed within the origin of the request only (the
/// configured headers may hold secrets); one to another origin is answered as
/// the 3xx it is.
fn redirect_policy() -> reqwest::redirect::Policy {
    reqwest::redirect::Policy::custom(|attempt| {
        let first = attempt.previous().first().map(reqwest::Url::origin);
        if attempt.previous().len() > MAX_REDIRECTS {
            attempt.error("too many redirects")
        } else if first == Some(attempt.url().origin()) {
            attempt.follow()
        } else {
            attempt.stop()
        }
    })
}

/// The `headers` of the entry with `env:` values resolved, all marked
/// sensitive (kept out of debug output).
fn configured_headers(configured: &BTreeMap<String, String>) -> Result<HeaderMap, ConnectError> {
    let mut headers = HeaderMap::new();
    for (name, value) in configured {
        let bad = |reason: &str| ConnectError::Header { name: name.clone(), reason: reason.to_string() };
        let value = resolve_secret(value).map_err(|reason| bad(&reason))?;
        let header = HeaderName::from_bytes(name.as_bytes()).map_err(|_| bad("not a valid header name"))?;
        let mut value = HeaderValue::from_str(&value)
            .map_err(|_| bad("the value holds characters a header cannot carry (value not shown)"))?;
        value.set_sensitive(true);
        headers.insert(header, value);
    }
    Ok(headers)
}

impl OpenApiSource {
    /// The base URL requests go to (no trailing `/`).
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// Runs one call: builds the request, sends it within `call.timeout`
    /// unless `call.cancel` fires first, and maps the answer.
    async fn run(&self, call: UpstreamCall<'_>) -> Result<ToolOutput, Error> {
        let tool = call.tool.name.as_str();
        let op = self
            .by_name
            .get(tool)
            .map(|&i| &self.operations[i])
            .ok_or_else(|| Error::ToolNotFound { tool: tool.to_string() })?;
        let request = request::build(&self.client, &self.base_url, &self.headers, op, &call)?;
        let operation = format!("{} {}", op.method, op.path);
        let judge = Judge {
            tool,
            operation: &operation,
            retry_on_status: &self.retry_on_status,
            max_bytes: self.max_response_bytes,
        };
        let started = Instant::now();
        let exchange = async {
            let response = request.send().await.map_err(|e| response::transport_error(&judge, e))?;
            response::output(response, &judge).await
        };
        let timed = async {
            let timeout_ms = u64::try_from(call.timeout.as_millis()).unwrap_or(u64::MAX);
            tokio::time::timeout(call.timeout, exchange)
                .await
                .unwrap_or_else(|_| Err(Error::Timeout { tool: tool.to_string(), timeout_ms }))
        };
        let result = match call.cancel {
            None => timed.await,
            Some(cancel) => tokio::select! {
                biased;
                () = cancel.cancelled() => Err(Error::Cancelled { tool: tool.to_string() }),
                result = timed => result,
            },
        };
        let elapsed_ms = started.elapsed().as_millis() as u64;
        let outcome = result.as_ref().map_or_else(|e| e.code().as_str(), |_| "ok");
        tracing::debug!(
            upstream = self.name,
            tool,
            call_id = call.call_id,
            operation,
            elapsed_ms,
            outcome,
            "upstream call"
        );
        result
    }
}

impl Source for OpenApiSource {
    fn name(&self) -> &str {
        &self.name
    }

    fn kind(&self) -> SourceKind {
        SourceKind::Http
    }

    fn tools(&self) -> Vec<Arc<UpstreamTool>> {
        self.operations.iter().map(|op| op.tool.clone()).collect()
    }

    fn call<'a>(&'a self, call: UpstreamCall<'a>) -> BoxFuture<'a, Result<ToolOutput, Error>> {
        Box::pin(self.run(call))
    }
}
