//! An MCP server's tools as [`UpstreamTool`]s: `tools/list` followed through
//! every page, each tool namespaced `<upstream>.<tool>`.
//!
//! A full name must match `^[A-Za-z0-9_.-]{1,64}$` (what the host's tool
//! names allow); a tool whose name does not is skipped with a warning, as is
//! a second tool of the same name. `idempotent` is the tool's
//! `idempotentHint` or `readOnlyHint` (a tool that changes nothing is safe to
//! retry and cache).

use super::error::ConnectError;
use crate::UpstreamTool;
use rmcp::model::Tool;
use rmcp::service::{Peer, RoleClient};
use serde_json::Value;
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

/// Longest full tool name.
const MAX_NAME: usize = 64;

/// Every tool the server offers now (all pages), within `timeout`.
pub(crate) async fn list(
    upstream: &str,
    peer: &Peer<RoleClient>,
    timeout: Duration,
) -> Result<Vec<Arc<UpstreamTool>>, ConnectError> {
    let listed = tokio::time::timeout(timeout, peer.list_all_tools())
        .await
        .map_err(|_| ConnectError::ListTools(format!("no answer within {} ms", timeout.as_millis())))?
        .map_err(|e| ConnectError::ListTools(e.to_string()))?;
    Ok(convert(upstream, listed))
}

/// The usable tools of a listing, in the server's order.
pub(crate) fn convert(upstream: &str, listed: Vec<Tool>) -> Vec<Arc<UpstreamTool>> {
    let mut seen = HashSet::new();
    let mut tools = Vec::with_capacity(listed.len());
    for tool in listed {
        let name = format!("{upstream}.{}", tool.name);
        if !valid_name(&name) {
            tracing::warn!(upstream, tool = %tool.name.escape_debug(), "skipping an MCP tool whose name is not 1-64 characters of A-Z a-z 0-9 _ . -");
            continue;
        }
        if !seen.insert(name.clone()) {
            tracing::warn!(upstream, tool = %tool.name, "skipping a second MCP tool of the same name");
            continue;
        }
        tools.push(Arc::new(upstream_tool(upstream, name, tool)));
    }
    tools
}

/// Whether `name` matches `^[A-Za-z0-9_.-]{1,64}$`.
pub(crate) fn valid_name(name: &str) -> bool {
    (1..=MAX_NAME).contains(&name.len())
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

fn upstream_tool(upstream: &str, name: String, tool: Tool) -> UpstreamTool {
    let hints = tool.annotations.as_ref();
    let idempotent = hints.is_some_and(|a| a.idempotent_hint == Some(true) || a.read_only_hint == Some(true));
    let description = tool
        .description
        .as_deref()
        .map(str::to_string)
        .or_else(|| tool.title.clone())
        .or_else(|| hints.and_then(|a| a.title.clone()))
        .unwrap_or_default();
    UpstreamTool {
        name,
        source: upstream.to_string(),
        remote_name: tool.name.to_string(),
        description,
        input_schema: Value::Object((*tool.input_schema).clone()),
        output_schema: tool.output_schema.as_ref().map(|s| Value::Object((**s).clone())),
        idempotent,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn tool(v: Value) -> Tool {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn names_are_namespaced_and_checked() {
        let listed = vec![
            tool(json!({"name": "echo", "description": "Echoes", "inputSchema": {"type": "object"}})),
            tool(json!({"name": "bad name", "inputSchema": {"type": "object"}})),
            tool(json!({"name": "x".repeat(70), "inputSchema": {"type": "object"}})),
            tool(json!({"name": "echo", "inputSchema": {"type": "object"}})),
        ];
        let tools = convert("ev", listed);
        assert_eq!(tools.len(), 1);
        assert_eq!(tools[0].name, "ev.echo");
        assert_eq!(tools[0].remote_name, "echo");
        assert_eq!(tools[0].description, "Echoes");
        assert!(!tools[0].idempotent);
    }

    #[test]
    fn hints_and_schemas_carry_over() {
        let listed = vec![
            tool(
                json!({"name": "a", "inputSchema": {"type": "object"}, "annotations": {"readOnlyHint": true}}),
            ),
            tool(
                json!({"name": "b", "inputSchema": {"type": "object"}, "annotations": {"idempotentHint": true},
                "outputSchema": {"type": "object", "properties": {"n": {"type": "number"}}}}),
            ),
            tool(
                json!({"name": "c", "inputSchema": {"type": "object"}, "annotations": {"idempotentHint": false}}),
            ),
        ];
        let tools = convert("u", listed);
        assert!(tools[0].idempotent && tools[1].idempotent && !tools[2].idempotent);
        assert_eq!(tools[1].output_schema.as_ref().unwrap()["properties"]["n"]["type"], "number");
        assert_eq!(tools[0].input_schema, json!({"type": "object"}));
    }
}
