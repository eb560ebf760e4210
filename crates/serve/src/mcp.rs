//! The MCP server: the registry's tools, listed per tenant and called through
//! the full executor, over any rmcp transport (stdio, streamable HTTP).
//!
//! - `tools/list`: the caller's tenant's tools (name, description, schemas,
//!   `idempotentHint`); `notifications/tools/list_changed` when hot reload
//!   changes what that tenant sees (and only then).
//! - `tools/call`: tool errors and policy rejections are `isError` results
//!   saying whether to retry; an unknown tool is a JSON-RPC error.
//! - Guest `progress` → `notifications/progress` (when the client sent a
//!   progress token), and so is each `emit` chunk (as the message); guest
//!   `log` → `notifications/message` at or above the level the client set
//!   (default `info`).
//! - `notifications/cancelled` interrupts the guest; nothing is cached.

// MCP logging is deprecated from protocol 2026-07-28 (SEP-2577) but is how every
// earlier client receives guest logs; rmcp marks its types deprecated.
#![allow(deprecated)]

use crate::convert;
use crate::mcp_offers::{self, Subscriptions};
use crate::state::Shared;
use crate::task_run::{self, TaskCall};
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, CancelTaskParams, CompleteRequestParams,
    CompleteResult, CustomRequest, CustomResult, Extensions, GetPromptRequestParams, GetPromptResponse,
    GetTaskParams, GetTaskResult, InitializeResult, ListPromptsResult, ListResourceTemplatesResult,
    ListResourcesResult, ListToolsResult, LoggingLevel, LoggingMessageNotificationParam,
    PaginatedRequestParams, ProgressToken, ReadResourceRequestParams, ReadResourceResponse,
    ServerCapabilities, SetLevelRequestParams, SubscribeRequestParams, SubscriptionFilter,
    UnsubscribeRequestParams, UpdateTaskParams,
};
use rmcp::service::{NotificationContext, RequestContext, SubscriptionContext};
use rmcp::{ErrorData as McpError, Peer, RoleServer, ServerHandler};
use serde_json::json;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use toolhost::access::auth::Caller;
use toolhost::events::GuestEvent;
use toolhost::exec::{CallOptions, ToolCall};
use toolhost::interact::Interact;
use toolhost::{Error, ExecutionContext, Host};

/// Guest events buffered per call before they are dropped (and counted).
pub(crate) const EVENT_BUFFER: usize = 256;

/// One MCP session's handler. HTTP creates one per session (or per request
/// when stateless); stdio has one.
#[derive(Debug, Clone)]
pub struct McpServer {
    shared: Arc<Shared>,
    /// Minimum level of `notifications/message` (`logging/setLevel`).
    log_level: Arc<Mutex<LoggingLevel>>,
    /// Resource URIs this session subscribed to.
    subscriptions: Subscriptions,
    /// Update receivers made when a `subscriptions/listen` filter is accepted,
    /// before rmcp acknowledges it, taken in order by `listen`: an update
    /// right after the acknowledgment is never missed.
    listen_updates: Arc<Mutex<std::collections::VecDeque<ResourceReceiver>>>,
}

type ResourceReceiver = tokio::sync::broadcast::Receiver<toolhost::catalog::ResourceUpdated>;

impl McpServer {
    pub(crate) fn new(shared: Arc<Shared>) -> McpServer {
        McpServer {
            shared,
            log_level: Arc::new(Mutex::new(LoggingLevel::Info)),
            subscriptions: Subscriptions::default(),
            listen_updates: Default::default(),
        }
    }

    /// What every session of the server shares.
    pub(crate) fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    /// Sends `notifications/resources/updated` through `notify` for the
    /// updates of `tenant` that `wants` accepts, until `notify` fails or
    /// `stop` resolves.
    async fn forward_resource_updates<F, Fut>(
        &self,
        mut updates: ResourceReceiver,
        tenant: String,
        wants: impl Fn(&toolhost::catalog::ResourceUpdated) -> bool,
        notify: F,
        stop: impl Future<Output = ()>,
    ) where
        F: Fn(String) -> Fut,
        Fut: Future<Output = bool>,
    {
        use tokio::sync::broadcast::error::RecvError;
        tokio::pin!(stop);
        loop {
            let update = tokio::select! {
                _ = &mut stop => return,
                u = updates.recv() => u,
            };
            match update {
                Ok(u) if u.tenant == tenant && wants(&u) => {
                    if !notify(u.uri).await {
                        return;
                    }
                }
                Ok(_) | Err(RecvError::Lagged(_)) => {}
                Err(RecvError::Closed) => return,
            }
        }
    }

    /// The caller's tenant: from the authenticated HTTP request, else the listener's.
    pub(crate) fn tenant(&self, ext: &Extensions) -> Result<String, McpError> {
        match ext.get::<axum::http::request::Parts>() {
            Some(parts) => parts
                .extensions
                .get::<Caller>()
                .map(|c| c.tenant.clone())
                .ok_or_else(|| McpError::invalid_request("request is not authenticated", None)),
            None => Ok(self.shared.tenant.clone()),
        }
    }

    /// Whether the caller's scopes let it call `tool` (stdio: always).
    pub(crate) fn may_call(ext: &Extensions, tool: &str) -> bool {
        let caller = ext.get::<axum::http::request::Parts>().and_then(|p| p.extensions.get::<Caller>());
        caller.is_none_or(|c| c.scopes.may_call(tool))
    }

    /// The request context: propagated headers on HTTP, a fresh one on stdio,
    /// then the request's `_meta` (see [`meta_context`]); the tenant always
    /// from [`Self::tenant`].
    pub(crate) fn exec_context(
        &self,
        ext: &Extensions,
        meta: &serde_json::Map<String, serde_json::Value>,
    ) -> Result<ExecutionContext, McpError> {
        let tenant = self.tenant(ext)?;
        let mut ctx = match ext.get::<axum::http::request::Parts>() {
            Some(parts) => crate::request::context_from_headers(&parts.headers)
                .map_err(|e| McpError::invalid_request(e.to_string(), None))?,
            None => ExecutionContext::new(),
        };
        meta_context(&mut ctx, meta).map_err(|e| McpError::invalid_params(format!("_meta: {e}"), None))?;
        ctx.tenant_id = Some(tenant);
        // On HTTP, who authenticated; on stdio, the host's default (`local`).
        if let Some(parts) = ext.get::<axum::http::request::Parts>() {
            ctx.principal = Some(crate::request::principal(&parts.extensions));
        }
        Ok(ctx)
    }

    /// The level of a call's log notifications: the request's own opt-in,
    /// else (before 2026-07-28) the session's `logging/setLevel`.
    fn log_level_for(&self, requested: Option<LoggingLevel>, modern: bool) -> Option<LoggingLevel> {
        match requested {
            Some(level) => Some(level),
            None if modern => None,
            None => Some(self.min_level()),
        }
    }

    pub(crate) fn min_level(&self) -> LoggingLevel {
        *self.log_level.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Sends `list_changed` through `notify` whenever the tenant's tool list
    /// changes, until `notify` fails or `stop` resolves.
    async fn watch_tools<F, Fut>(&self, tenant: String, notify: F, stop: impl Future<Output = ()>)
    where
        F: Fn() -> Fut,
        Fut: Future<Output = bool>,
    {
        let host = &self.shared.host;
        let mut events = host.registry().subscribe();
        let mut seen = visible_tools(host, &tenant);
        tokio::pin!(stop);
        loop {
            tokio::select! {
                _ = &mut stop => return,
                ev = events.recv() => {
                    if matches!(ev, Err(tokio::sync::broadcast::error::RecvError::Closed)) {
                        return;
                    }
                    let now = visible_tools(host, &tenant);
                    if now != seen {
                        seen = now;
                        if !notify().await {
                            return;
                        }
                    }
                }
            }
        }
    }
}

/// What a tenant sees: tool names and the plugin version serving each.
fn visible_tools(host: &Host, tenant: &str) -> Vec<(String, String)> {
    let plugins =
        host.tools(Some(tenant)).into_iter().map(|e| (e.tool.name.clone(), e.plugin.digest.clone()));
    let upstream = host.list_tools(Some(tenant)).into_iter().filter(|t| t.source != "plugin");
    plugins.chain(upstream.map(|t| (t.name, t.input_schema.to_string()))).collect()
}

/// A list result with its SEP-2549 caching hints for 2026-07-28 clients:
/// fresh for `serve.list_ttl_ms`, private (lists are per tenant).
macro_rules! with_hints {
    ($server:expr, $context:expr, $list:expr) => {{
        let mut list = $list;
        if $context.protocol_version().is_some_and(|v| v.as_str() >= "2026-07-28") {
            list.ttl_ms = Some($server.shared.host.config().serve.list_ttl_ms);
            list.cache_scope = Some(rmcp::model::CacheScope::Private);
        }
        list
    }};
}

/// Whether the tool declares itself long-running (a task candidate).
pub(crate) fn long_running(target: &toolhost::Target) -> bool {
    matches!(target, toolhost::Target::Plugin(e) if e.tool.long_running)
}

/// Resolves once the peer's transport is gone.
async fn closed(peer: Peer<RoleServer>) {
    while !peer.is_transport_closed() {
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}

impl ServerHandler for McpServer {
    fn get_info(&self) -> InitializeResult {
        let caps: ServerCapabilities = serde_json::from_value(json!({
            "tools": { "listChanged": true },
            "logging": {},
            "prompts": { "listChanged": false },
            "resources": { "subscribe": true, "listChanged": false },
            "completions": {},
            // 2026-07-28 tasks (SEP-2663); 2025-11-25 clients see `tasks` instead (see `task_wire`).
            "extensions": { "io.modelcontextprotocol/tasks": {} },
        }))
        .expect("static capabilities");
        let mut info = InitializeResult::new(caps);
        info.server_info = serde_json::from_value(json!({
            "name": "toolhost",
            "title": "toolhost: sandboxed WebAssembly tools",
            "version": env!("CARGO_PKG_VERSION"),
        }))
        .expect("static implementation info");
        info.instructions = Some(
            "Tools run in WebAssembly sandboxes with time and memory limits. A failed call \
             returns isError with the reason and whether retrying can help."
                .into(),
        );
        info
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, McpError> {
        let tenant = self.tenant(&context.extensions)?;
        let listed = self.shared.host.list_tools(Some(&tenant));
        let may = |t: &&toolhost::ToolListing| Self::may_call(&context.extensions, &t.name);
        let tools = listed.iter().filter(may).filter_map(convert::tool).collect();
        Ok(with_hints!(self, context, ListToolsResult::with_all_items(tools)))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, McpError> {
        let ectx = self.exec_context(&context.extensions, &context.meta)?;
        let tenant = ectx.tenant_id.clone().unwrap_or_default();
        let name = request.name.to_string();
        let Some(target) = self.shared.host.find_tool(&tenant, &name) else {
            return Err(unknown_tool(&name));
        };
        let Some(guard) = self.shared.inflight.enter() else {
            return Ok(CallToolResponse::Complete(shutting_down()));
        };
        let args = match &request.arguments {
            Some(map) => serde_json::to_string(map).unwrap_or_else(|_| "{}".into()),
            None => "{}".to_string(),
        };
        // Log level: the request's own opt-in (2026-07-28+: none = no logs),
        // else the session's `logging/setLevel`.
        let modern = context.protocol_version().is_some_and(|v| v.as_str() >= "2026-07-28");
        let log_level = self.log_level_for(context.meta.log_level(), modern);
        // 2026-07-28: a long-running tool becomes a task for a client that takes tasks.
        if modern
            && long_running(&target)
            && context.client_capabilities().is_some_and(|c| c.supports_tasks())
        {
            drop(guard);
            let call = TaskCall {
                ectx,
                name,
                args,
                plugin: target.origin().to_string(),
                peer: context.peer.clone(),
                progress_token: context.meta.get_progress_token(),
                log_level,
                interact: None,
                ttl_ms: None,
            };
            let record = task_run::start(&self.shared, call).await?;
            return Ok(CallToolResponse::Task(task_run::modern_created(&record)));
        }
        let (tx, rx) = mpsc::channel(EVENT_BUFFER);
        let forwarder = tokio::spawn(forward_events(
            rx,
            context.peer.clone(),
            context.meta.get_progress_token(),
            log_level,
            target.origin().to_string(),
        ));
        // Up to 2025-11-25 the guest's questions go to the client as requests;
        // 2026-07-28 forbids those: the answers come in rounds (`input_required`).
        let round = match modern {
            true => Some(crate::mrtr::Round::open(&tenant, &args, &request, &self.shared.request_state)?),
            false => None,
        };
        let interact = Some(interact_for(round.as_ref(), &context.peer));
        let opts = CallOptions { cancel: Some(guard.token().clone()), events: Some(tx), interact };
        let started = Instant::now();
        let result = {
            let run = self.shared.host.execute(&ectx, ToolCall::new(name.clone(), args), &opts);
            tokio::pin!(run);
            tokio::select! {
                r = &mut run => r,
                _ = context.ct.cancelled() => {
                    tracing::info!(tool = %name, "MCP client cancelled the call");
                    guard.token().cancel();
                    run.await
                }
            }
        };
        drop(opts);
        // Every progress/log notification goes out before the response.
        let _ = forwarder.await;
        tracing::debug!(tool = %name, tenant = %tenant, ms = started.elapsed().as_millis() as u64, ok = result.result.is_ok(), "MCP tools/call");
        respond(&result.result, &name, round.as_ref())
    }

    async fn get_task(
        &self,
        request: GetTaskParams,
        context: RequestContext<RoleServer>,
    ) -> Result<GetTaskResult, McpError> {
        let tenant = self.tenant(&context.extensions)?;
        let record = self.shared.tasks.get(&tenant, &request.task_id).await?;
        Ok(task_run::modern_detailed(&record))
    }

    async fn update_task(
        &self,
        request: UpdateTaskParams,
        context: RequestContext<RoleServer>,
    ) -> Result<(), McpError> {
        let tenant = self.tenant(&context.extensions)?;
        for (key, value) in &request.input_responses {
            if let Err(e) = serde_json::from_value::<toolhost::interact::InputResponse>(value.clone()) {
                return Err(McpError::invalid_params(format!("inputResponses.{key}: {e}"), None));
            }
        }
        let answered = request.input_responses.len();
        self.shared.tasks.respond(&tenant, &request.task_id, request.input_responses).await?;
        tracing::info!(task = %request.task_id, tenant = %tenant, answered, "MCP task answers from the client");
        Ok(())
    }

    async fn cancel_task(
        &self,
        request: CancelTaskParams,
        context: RequestContext<RoleServer>,
    ) -> Result<(), McpError> {
        let tenant = self.tenant(&context.extensions)?;
        self.shared.tasks.cancel(&tenant, &request.task_id).await?;
        tracing::info!(task = %request.task_id, tenant = %tenant, "MCP task cancelled by the client");
        Ok(())
    }

    async fn on_custom_request(
        &self,
        request: CustomRequest,
        context: RequestContext<RoleServer>,
    ) -> Result<CustomResult, McpError> {
        match self.legacy_request(&request, &context).await {
            Some(answer) => answer.map(CustomResult),
            None => Err(McpError::new(rmcp::model::ErrorCode::METHOD_NOT_FOUND, request.method, None)),
        }
    }

    async fn set_level(
        &self,
        request: SetLevelRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<(), McpError> {
        *self.log_level.lock().unwrap_or_else(|e| e.into_inner()) = request.level;
        Ok(())
    }

    async fn list_prompts(
        &self,
        _request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListPromptsResult, McpError> {
        let list = mcp_offers::list_prompts(&self.shared.host, &self.tenant(&context.extensions)?)?;
        Ok(with_hints!(self, context, list))
    }

    async fn get_prompt(
        &self,
        request: GetPromptRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<GetPromptResponse, McpError> {
        let ctx = self.exec_context(&context.extensions, &context.meta)?;
        mcp_offers::get_prompt(&self.shared.host, &ctx, request).await.map(GetPromptResponse::Complete)
    }

    async fn list_resources(
        &self,
        _request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, McpError> {
        let ctx = self.exec_context(&context.extensions, &context.meta)?;
        let list = mcp_offers::list_resources(&self.shared.host, &ctx).await?;
        Ok(with_hints!(self, context, list))
    }

    async fn list_resource_templates(
        &self,
        _request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListResourceTemplatesResult, McpError> {
        let list = mcp_offers::list_templates(&self.shared.host, &self.tenant(&context.extensions)?)?;
        Ok(with_hints!(self, context, list))
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, McpError> {
        let ctx = self.exec_context(&context.extensions, &context.meta)?;
        mcp_offers::read_resource(&self.shared.host, &ctx, &request.uri)
            .await
            .map(ReadResourceResponse::Complete)
    }

    async fn subscribe(
        &self,
        request: SubscribeRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<(), McpError> {
        let ctx = self.exec_context(&context.extensions, &context.meta)?;
        self.subscriptions.subscribe(&self.shared.host, &ctx, &request.uri).await
    }

    async fn unsubscribe(
        &self,
        request: UnsubscribeRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<(), McpError> {
        let ctx = self.exec_context(&context.extensions, &context.meta)?;
        self.subscriptions.unsubscribe(&self.shared.host, &ctx, &request.uri).await
    }

    async fn complete(
        &self,
        request: CompleteRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CompleteResult, McpError> {
        let ctx = self.exec_context(&context.extensions, &context.meta)?;
        mcp_offers::complete(&self.shared.host, &ctx, request).await
    }

    async fn on_initialized(&self, context: NotificationContext<RoleServer>) {
        let Ok(tenant) = self.tenant(&context.extensions) else { return };
        let this = self.clone();
        let peer = context.peer;
        let (this2, peer2, tenant2) = (self.clone(), peer.clone(), tenant.clone());
        tokio::spawn(async move {
            let subs = this2.subscriptions.clone();
            let notify = |uri: String| {
                let peer = peer2.clone();
                async move {
                    let param = serde_json::from_value(json!({ "uri": uri })).expect("static shape");
                    peer.notify_resource_updated(param).await.is_ok()
                }
            };
            let wants = |u: &toolhost::catalog::ResourceUpdated| subs.wants(u);
            let updates = this2.shared.host.resource_updates();
            this2.forward_resource_updates(updates, tenant2, wants, notify, closed(peer2.clone())).await;
        });
        tokio::spawn(async move {
            let notify = || {
                let peer = peer.clone();
                async move { peer.notify_tool_list_changed().await.is_ok() }
            };
            this.watch_tools(tenant, notify, closed(peer.clone())).await;
        });
    }

    fn accepted_subscription_filter(&self, requested: &SubscriptionFilter) -> Option<SubscriptionFilter> {
        let mut accepted = SubscriptionFilter::new();
        accepted.tools_list_changed = requested.tools_list_changed;
        accepted.resource_subscriptions = requested.resource_subscriptions.clone();
        let rx = self.shared.host.resource_updates();
        self.listen_updates.lock().unwrap_or_else(|e| e.into_inner()).push_back(rx);
        Some(accepted)
    }

    async fn listen(&self, context: SubscriptionContext) -> Result<(), McpError> {
        let tenant = self.tenant(&context.request_context().extensions)?;
        let accepted = context.accepted().clone();
        let queued = self.listen_updates.lock().unwrap_or_else(|e| e.into_inner()).pop_front();
        let updates = queued.unwrap_or_else(|| self.shared.host.resource_updates());
        let tools = async {
            if accepted.tools_list_changed == Some(true) {
                let notify = || async { context.sink().notify_tool_list_changed().await.is_ok() };
                self.watch_tools(tenant.clone(), notify, context.cancelled()).await;
            }
        };
        let uris = accepted.resource_subscriptions.clone().unwrap_or_default();
        let resources = async {
            if !uris.is_empty() {
                let wants = |u: &toolhost::catalog::ResourceUpdated| uris.contains(&u.uri);
                let sink = context.sink();
                let notify = |uri: String| async move { sink.notify_resource_updated(uri).await.is_ok() };
                self.forward_resource_updates(updates, tenant.clone(), wants, notify, context.cancelled())
                    .await;
            }
        };
        tokio::join!(tools, resources);
        Ok(())
    }
}

/// `_meta` key of a `tools/call` whose object becomes the call's metadata
/// (`{"ticket": "42"}` → `metadata["ticket"] = "42"`; numbers and booleans as text).
pub const METADATA_META_KEY: &str = "dev.toolhost/metadata";

/// Applies a `tools/call`'s `_meta` to the context: `traceparent` and
/// `tracestate` (SEP-414; they replace the HTTP headers' values) and the
/// entries of [`METADATA_META_KEY`], checked like `X-Meta-*` headers.
fn meta_context(
    ctx: &mut ExecutionContext,
    meta: &serde_json::Map<String, serde_json::Value>,
) -> Result<(), toolhost::context::ContextError> {
    use toolhost::context::{METADATA_HEADER_PREFIX, TRACEPARENT_HEADER, TRACESTATE_HEADER};
    let text = |v: &serde_json::Value| match v {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Number(_) | serde_json::Value::Bool(_) => Some(v.to_string()),
        _ => None,
    };
    let mut pairs: Vec<(String, String)> = vec![];
    for key in [TRACEPARENT_HEADER, TRACESTATE_HEADER] {
        if let Some(v) = meta.get(key).and_then(text) {
            pairs.push((key.to_string(), v));
        }
    }
    if let Some(serde_json::Value::Object(m)) = meta.get(METADATA_META_KEY) {
        pairs.extend(m.iter().filter_map(|(k, v)| Some((format!("{METADATA_HEADER_PREFIX}{k}"), text(v)?))));
    }
    if pairs.is_empty() {
        return Ok(());
    }
    let from_meta =
        ExecutionContext::from_headers(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())), Instant::now())?;
    if from_meta.traceparent.is_some() {
        ctx.traceparent = from_meta.traceparent;
    }
    if from_meta.tracestate.is_some() {
        ctx.tracestate = from_meta.tracestate;
    }
    ctx.metadata.extend(from_meta.metadata);
    ctx.validate()
}

/// Who answers a call's questions: the client, by server-to-client requests
/// (up to 2025-11-25), or the answers of earlier rounds (2026-07-28).
fn interact_for(round: Option<&crate::mrtr::Round<'_>>, peer: &Peer<RoleServer>) -> Arc<dyn Interact> {
    match round {
        Some(r) => r.interact(),
        None => Arc::new(crate::interact::PeerInteract { peer: peer.clone() }),
    }
}

/// The MCP answer to a finished call: its result, the next round's question
/// (2026-07-28), or an `isError` result.
fn respond(
    result: &Result<Arc<toolhost::call::ToolOutput>, Error>,
    name: &str,
    round: Option<&crate::mrtr::Round<'_>>,
) -> Result<CallToolResponse, McpError> {
    match (result, round) {
        (Ok(out), _) => Ok(CallToolResponse::Complete(convert::success(out))),
        (Err(Error::ToolNotFound { .. }), _) => Err(unknown_tool(name)),
        (Err(Error::InputRequired { key, request, .. }), Some(round)) => match round.ask(key, request) {
            Ok(asked) => Ok(CallToolResponse::InputRequired(asked)),
            // The guest's question cannot be put to the client: the guest's fault.
            Err(e) => {
                let e = Error::InvalidOutput { tool: name.to_string(), reason: e.message.to_string() };
                Ok(CallToolResponse::Complete(convert::failure(&e)))
            }
        },
        (Err(e), _) => Ok(CallToolResponse::Complete(convert::failure(e))),
    }
}

pub(crate) fn unknown_tool(name: &str) -> McpError {
    McpError::invalid_params(
        format!("unknown tool '{}'; call tools/list for the available tools", toolhost::text::preview(name)),
        None,
    )
}

fn shutting_down() -> CallToolResult {
    convert::from_json(json!({
        "resultType": "complete",
        "content": [{ "type": "text", "text": "the server is shutting down and takes no new calls; retry shortly" }],
        "isError": true,
    }))
}

/// Forwards one call's guest events as MCP notifications until the call ends.
pub(crate) async fn forward_events(
    mut rx: mpsc::Receiver<GuestEvent>,
    peer: Peer<RoleServer>,
    progress_token: Option<ProgressToken>,
    min_level: Option<LoggingLevel>,
    plugin: String,
) {
    let mut last_progress = f64::NEG_INFINITY;
    while let Some(ev) = rx.recv().await {
        match ev {
            GuestEvent::Progress { done, total, message } => {
                let Some(token) = &progress_token else { continue };
                // MCP requires progress to increase; drop reports that don't.
                if !(done > last_progress) || !done.is_finite() {
                    continue;
                }
                last_progress = done;
                let mut param = json!({ "progressToken": token, "progress": done });
                if let Some(t) = total.filter(|t| t.is_finite()) {
                    param["total"] = t.into();
                }
                if let Some(m) = message {
                    param["message"] = m.into();
                }
                if let Ok(param) = serde_json::from_value(param) {
                    let _ = peer.notify_progress(param).await;
                }
            }
            GuestEvent::Log { level, message } => {
                let level = convert::log_level(level);
                let Some(min) = min_level else { continue };
                if convert::severity(level) < convert::severity(min) {
                    continue;
                }
                let mut param = LoggingMessageNotificationParam::new(level, message.into());
                param.logger = Some(plugin.clone());
                let _ = peer.notify_logging_message(param).await;
            }
            // A streamed chunk reaches a client that asked for progress as a
            // progress message carrying the chunk (progress must increase, so
            // it moves by the smallest step and keeps its visible value).
            GuestEvent::Emit { chunk } => {
                let Some(token) = &progress_token else { continue };
                last_progress = if last_progress.is_finite() { last_progress.next_up() } else { 0.0 };
                let param = json!({ "progressToken": token, "progress": last_progress, "message": chunk });
                if let Ok(param) = serde_json::from_value(param) {
                    let _ = peer.notify_progress(param).await;
                }
            }
        }
    }
}
