//! A real HTTP API on 127.0.0.1 with its OpenAPI document (JSON and YAML),
//! for the OpenAPI upstream's tests.
#![allow(dead_code)]

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::{Next, from_fn_with_state};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use toolhost_core::{CancelToken, Error, ExecutionContext, ToolOutput};
use toolhost_upstream::openapi::OpenApiSource;
use toolhost_upstream::{Source, UpstreamCall, UpstreamConfig};

/// What the server saw.
#[derive(Clone, Default)]
pub struct Seen {
    /// Calls of `/flaky` so far.
    flaky: Arc<AtomicUsize>,
    /// Path and headers of every request, in order.
    requests: Arc<Mutex<Vec<(String, HeaderMap)>>>,
}

impl Seen {
    /// The headers of the last request to `path`.
    pub fn headers_of(&self, path: &str) -> HeaderMap {
        let requests = self.requests.lock().unwrap();
        requests.iter().rev().find(|(p, _)| p == path).map(|(_, h)| h.clone()).expect("no such request")
    }

    /// How many requests went to `path`.
    pub fn count(&self, path: &str) -> usize {
        self.requests.lock().unwrap().iter().filter(|(p, _)| p == path).count()
    }
}

/// A running test server.
pub struct Server {
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    /// What it saw.
    pub seen: Seen,
}

/// Starts the server on a free port.
pub async fn serve() -> Server {
    let seen = Seen::default();
    let app = Router::new()
        .route("/openapi.json", get(|| async { axum::Json(document()) }))
        .route("/openapi.yaml", get(|| async { ([("content-type", "application/yaml")], YAML) }))
        .route("/garbage.json", get(|| async { "{ this is not json" }))
        .route("/items/{id}", get(get_item))
        .route("/items", post(create_item))
        .route("/search", get(search))
        .route("/flaky", get(flaky))
        .route("/big", get(|| async { "x".repeat(2048) }))
        .route("/big-stream", get(big_stream))
        .route("/slow", get(slow))
        .route("/missing", get(|| async { (StatusCode::NOT_FOUND, "no such thing") }))
        .route(
            "/bad",
            post(|| async {
                (StatusCode::UNPROCESSABLE_ENTITY, axum::Json(json!({"error": "name is required"})))
            }),
        )
        .route("/boom", get(|| async { (StatusCode::INTERNAL_SERVER_ERROR, "kaput") }))
        .route("/denied", get(|| async { StatusCode::FORBIDDEN }))
        .route("/text", get(|| async { "hello" }))
        .route("/moved", get(|| async { Redirect::temporary("/text") }))
        .route("/away", get(away))
        .layer(from_fn_with_state(seen.clone(), record))
        .with_state(seen.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    Server { base, seen }
}

async fn record(State(seen): State<Seen>, request: Request, next: Next) -> Response {
    seen.requests.lock().unwrap().push((request.uri().path().to_string(), request.headers().clone()));
    next.run(request).await
}

async fn get_item(Path(id): Path<i64>) -> axum::Json<Value> {
    axum::Json(json!({"id": id, "name": format!("item-{id}")}))
}

async fn create_item(axum::Json(body): axum::Json<Value>) -> (StatusCode, axum::Json<Value>) {
    (StatusCode::CREATED, axum::Json(json!({"id": 42, "name": body["name"]})))
}

async fn search(Query(query): Query<BTreeMap<String, String>>) -> axum::Json<Value> {
    axum::Json(json!(query))
}

/// 429 with `Retry-After: 1`, then 503, then 200.
async fn flaky(State(seen): State<Seen>) -> Response {
    match seen.flaky.fetch_add(1, Ordering::SeqCst) {
        0 => (StatusCode::TOO_MANY_REQUESTS, [("retry-after", "1")], "slow down").into_response(),
        1 => (StatusCode::SERVICE_UNAVAILABLE, "try later").into_response(),
        _ => axum::Json(json!({"ok": true})).into_response(),
    }
}

/// 4 KiB in chunks, without a `Content-Length`.
async fn big_stream() -> Body {
    let chunks = (0..8).map(|_| Ok::<_, Infallible>(Bytes::from(vec![b'y'; 512])));
    Body::from_stream(futures::stream::iter(chunks))
}

/// A redirect to the same server under another origin (`localhost`).
async fn away(headers: HeaderMap) -> Redirect {
    let host = headers.get("host").and_then(|h| h.to_str().ok()).unwrap_or_default();
    Redirect::temporary(&format!("http://{}/text", host.replace("127.0.0.1", "localhost")))
}

async fn slow() -> &'static str {
    tokio::time::sleep(Duration::from_secs(30)).await;
    "late"
}

/// The JSON document: servers[0] is relative (`/`), resolved against the
/// document's URL.
pub fn document() -> Value {
    let get_op = |id: &str| json!({"get": {"operationId": id, "responses": {"200": {"description": "ok"}}}});
    json!({
        "openapi": "3.0.3",
        "info": {"title": "Billing", "version": "1"},
        "servers": [{"url": "/"}],
        "paths": {
            "/items/{id}": {"get": {
                "operationId": "getItem", "summary": "Fetch one item",
                "parameters": [
                    {"name": "id", "in": "path", "required": true, "schema": {"type": "integer"}},
                    {"name": "X-Note", "in": "header", "schema": {"type": "string"}}
                ],
                "responses": {"200": {"$ref": "#/components/responses/ItemResponse"},
                              "404": {"description": "no such item"}}}},
            "/items": {"post": {
                "operationId": "createItem", "description": "Create an item",
                "requestBody": {"$ref": "#/components/requestBodies/NewItem"},
                "responses": {"201": {"description": "created", "content": {"application/json":
                    {"schema": {"$ref": "#/components/schemas/Item"}}}}}}},
            "/search": {"get": {
                "operationId": "search",
                "parameters": [
                    {"name": "q", "in": "query", "required": true, "schema": {"type": "string"}},
                    {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1}}
                ],
                "responses": {"200": {"description": "hits", "content": {"application/json":
                    {"schema": {"type": "object"}}}}}}},
            "/flaky": get_op("flaky"),
            "/big": get_op("big"),
            "/big-stream": get_op("bigStream"),
            "/slow": get_op("slow"),
            "/missing": get_op("missing"),
            "/bad": {"post": {"operationId": "bad", "x-idempotent": true, "responses": {"200": {"description": "ok"}}}},
            "/boom": get_op("boom"),
            "/denied": get_op("denied"),
            "/text": get_op("text"),
            "/moved": get_op("moved"),
            "/away": get_op("away"),
            "/anonymous": {"get": {"responses": {"200": {"description": "skipped: no operationId"}}}}
        },
        "components": {
            "schemas": {
                "Item": {"type": "object", "required": ["id", "name"], "properties": {
                    "id": {"type": "integer"}, "name": {"type": "string"},
                    "parent": {"$ref": "#/components/schemas/Item"}}},
                "NewItem": {"type": "object", "required": ["name"], "properties": {"name": {"type": "string"}}}
            },
            "responses": {"ItemResponse": {"description": "an item", "content": {"application/json":
                {"schema": {"$ref": "#/components/schemas/Item"}}}}},
            "requestBodies": {"NewItem": {"required": true, "content": {"application/json":
                {"schema": {"$ref": "#/components/schemas/NewItem"}}}}}
        }
    })
}

/// A YAML document with two of the operations (no servers: needs `base_url`).
pub const YAML: &str = r##"openapi: 3.0.0
info:
  title: Billing
  version: "1"
paths:
  /items/{id}:
    get:
      operationId: getItem
      summary: Fetch one item
      parameters:
        - name: id
          in: path
          required: true
          schema:
            type: integer
        - name: X-Note
          in: header
          schema:
            type: string
      responses:
        200:
          $ref: '#/components/responses/ItemResponse'
  /search:
    get:
      operationId: search
      parameters:
        - {name: q, in: query, required: true, schema: {type: string}}
        - {name: limit, in: query, schema: {type: integer, minimum: 1}}
      responses:
        200:
          description: hits
          content:
            application/json:
              schema: {type: object}
components:
  schemas:
    Item:
      type: object
      required: [id, name]
      properties:
        id: {type: integer}
        name: {type: string}
        parent:
          $ref: '#/components/schemas/Item'
  responses:
    ItemResponse:
      description: an item
      content:
        application/json:
          schema:
            $ref: '#/components/schemas/Item'
"##;

/// An entry named `billing` for the document at `openapi`.
pub fn config(openapi: &str) -> UpstreamConfig {
    UpstreamConfig { name: "billing".into(), openapi: Some(openapi.into()), ..Default::default() }
}

/// Calls `tool` (`billing.<operationId>`) of `source`.
pub async fn call(
    source: &OpenApiSource,
    tool: &str,
    args: Value,
    timeout: Duration,
    cancel: Option<&CancelToken>,
    ctx: &ExecutionContext,
) -> Result<ToolOutput, Error> {
    let tools = source.tools();
    let tool = tools.iter().find(|t| t.name == tool).unwrap_or_else(|| panic!("no tool {tool}"));
    let call = UpstreamCall { tool, args: &args, ctx, call_id: "call-1", timeout, cancel, events: None };
    source.call(call).await
}
