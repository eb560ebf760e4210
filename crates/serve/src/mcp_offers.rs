//! MCP prompts, resources and completion, served from 0.2 plugins per tenant
//! (`Host::list_prompts` and friends); subscriptions are kept per session and
//! fed by the guests' `resource-updated` calls.
//!
//! rmcp's model types are `#[non_exhaustive]`; they are built from their JSON
//! form, which is also the form the MCP specification defines.

use crate::convert::content_block;
use rmcp::ErrorData as McpError;
use rmcp::model::{
    CompleteRequestParams, CompleteResult, GetPromptRequestParams, GetPromptResult, ListPromptsResult,
    ListResourceTemplatesResult, ListResourcesResult, ReadResourceResult,
};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use toolhost::catalog::{CompletionRef, ResourceUpdated};
use toolhost::{Error, ErrorCode, ExecutionContext, Host};

/// A result from its JSON form, `resultType: complete` included: 2026-07-28
/// peers require it, and rmcp strips it for older ones.
fn from_json<T: DeserializeOwned>(mut v: Value) -> Result<T, McpError> {
    v["resultType"] = "complete".into();
    serde_json::from_value(v)
        .map_err(|e| McpError::internal_error(format!("building the MCP result: {e}"), None))
}

/// A host error as the JSON-RPC error MCP expects for it.
pub(crate) fn mcp_error(e: &Error) -> McpError {
    let data = Some(e.to_json());
    match e {
        Error::NotFound { kind: "resource", .. } => McpError::resource_not_found(e.to_string(), data),
        Error::NotFound { .. } | Error::InvalidArguments { .. } => {
            McpError::invalid_params(e.to_string(), data)
        }
        Error::Tool { kind: toolhost::error::ToolErrorKind::InvalidInput, .. } => {
            McpError::invalid_params(e.to_string(), data)
        }
        Error::Tool { kind: toolhost::error::ToolErrorKind::NotFound, .. }
            if e.code() == ErrorCode::ToolExecutionFailed =>
        {
            McpError::invalid_params(e.to_string(), data)
        }
        _ => McpError::internal_error(e.to_string(), data),
    }
}

/// Text values of a JSON object (numbers and booleans as text), sorted by key.
fn string_pairs(v: Option<&Value>) -> Vec<(String, String)> {
    let Some(Value::Object(m)) = v else { return vec![] };
    m.iter()
        .filter_map(|(k, v)| match v {
            Value::String(s) => Some((k.clone(), s.clone())),
            Value::Number(_) | Value::Bool(_) => Some((k.clone(), v.to_string())),
            _ => None,
        })
        .collect()
}

pub(crate) fn list_prompts(host: &Host, tenant: &str) -> Result<ListPromptsResult, McpError> {
    from_json(json!({ "prompts": host.list_prompts(Some(tenant)) }))
}

pub(crate) async fn get_prompt(
    host: &Host,
    ctx: &ExecutionContext,
    request: GetPromptRequestParams,
) -> Result<GetPromptResult, McpError> {
    let v = serde_json::to_value(&request).unwrap_or_default();
    let args = string_pairs(v.get("arguments"));
    let r = host.get_prompt(ctx, &request.name, &args).await.map_err(|e| mcp_error(&e))?;
    let messages: Vec<Value> =
        r.messages.iter().map(|m| json!({ "role": m.role, "content": content_block(&m.content) })).collect();
    let mut out = json!({ "messages": messages });
    if let Some(d) = r.description {
        out["description"] = d.into();
    }
    from_json(out)
}

pub(crate) async fn list_resources(
    host: &Host,
    ctx: &ExecutionContext,
) -> Result<ListResourcesResult, McpError> {
    from_json(json!({ "resources": host.list_resources(ctx).await }))
}

pub(crate) fn list_templates(host: &Host, tenant: &str) -> Result<ListResourceTemplatesResult, McpError> {
    from_json(json!({ "resourceTemplates": host.list_resource_templates(Some(tenant)) }))
}

pub(crate) async fn read_resource(
    host: &Host,
    ctx: &ExecutionContext,
    uri: &str,
) -> Result<ReadResourceResult, McpError> {
    let contents = host.read_resource(ctx, uri).await.map_err(|e| mcp_error(&e))?;
    // MCP requires `text` or `blob` on every item.
    let items: Vec<Value> = contents
        .iter()
        .map(|c| {
            let mut v = serde_json::to_value(c).unwrap_or_default();
            if c.text.is_none() && c.blob.is_none() {
                v["text"] = "".into();
            }
            v
        })
        .collect();
    from_json(json!({ "contents": items }))
}

pub(crate) async fn complete(
    host: &Host,
    ctx: &ExecutionContext,
    request: CompleteRequestParams,
) -> Result<CompleteResult, McpError> {
    let v = serde_json::to_value(&request).unwrap_or_default();
    let target: CompletionRef = serde_json::from_value(v.get("ref").cloned().unwrap_or_default())
        .map_err(|e| McpError::invalid_params(format!("ref: {e}"), None))?;
    let arg = v.get("argument").cloned().unwrap_or_default();
    let name = arg.get("name").and_then(Value::as_str).unwrap_or_default();
    let value = arg.get("value").and_then(Value::as_str).unwrap_or_default();
    let context = string_pairs(v.get("context").and_then(|c| c.get("arguments")));
    let c = host.complete(ctx, &target, name, value, &context).await.map_err(|e| mcp_error(&e))?;
    from_json(json!({ "completion": c }))
}

/// One session's resource subscriptions.
#[derive(Debug, Clone, Default)]
pub(crate) struct Subscriptions(Arc<Mutex<BTreeSet<String>>>);

impl Subscriptions {
    fn set(&self) -> std::sync::MutexGuard<'_, BTreeSet<String>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Subscribes to `uri` (the plugin serving it is told; an unknown URI is an error).
    pub(crate) async fn subscribe(
        &self,
        host: &Host,
        ctx: &ExecutionContext,
        uri: &str,
    ) -> Result<(), McpError> {
        host.subscribe_resource(ctx, uri, true).await.map_err(|e| mcp_error(&e))?;
        self.set().insert(uri.to_string());
        Ok(())
    }

    /// Unsubscribes from `uri` (the plugin is told; it may be gone by now).
    pub(crate) async fn unsubscribe(
        &self,
        host: &Host,
        ctx: &ExecutionContext,
        uri: &str,
    ) -> Result<(), McpError> {
        let was = self.set().remove(uri);
        if was && let Err(e) = host.subscribe_resource(ctx, uri, false).await {
            tracing::debug!(uri, error = %e, "unsubscribe: the plugin was not told");
        }
        Ok(())
    }

    /// Whether this session subscribed to the resource of `update`.
    pub(crate) fn wants(&self, update: &ResourceUpdated) -> bool {
        self.set().contains(&update.uri)
    }
}
