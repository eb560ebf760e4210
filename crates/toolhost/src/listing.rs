//! [`ToolListing`]: one tool as the front doors list it, whatever serves it
//! (a WASM plugin, an upstream MCP server, an upstream HTTP API).

use serde::Serialize;
use serde_json::{Value, json};
use toolhost_registry::ToolEntry;

/// One tool a tenant may call, as `toolhost list`, MCP `tools/list` and
/// `GET /v1/tools` show it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ToolListing {
    /// Full name (`ns.tool`).
    pub name: String,
    /// Text before the first dot, if any.
    pub namespace: Option<String>,
    /// Description for the model.
    pub description: String,
    /// JSON Schema of the arguments.
    pub input_schema: Value,
    /// JSON Schema of a result's `value`, when declared.
    pub output_schema: Option<Value>,
    /// Safe to cache and retry.
    pub idempotent: bool,
    /// `plugin`, `mcp` or `http`.
    pub source: &'static str,
    /// The plugin (file stem) or the `[[upstreams]]` name that serves it.
    pub origin: String,
    /// Human-readable name, when the tool gave one.
    pub title: Option<String>,
    /// Behaviour hints, when the tool gave them (0.2 plugins).
    pub annotations: Option<toolhost_core::catalog::ToolAnnotations>,
    /// Icons.
    pub icons: Vec<toolhost_core::catalog::Icon>,
    /// Usually runs longer than a client waits: offered as a task.
    pub long_running: bool,
}

impl ToolListing {
    /// A plugin's tool.
    pub fn from_plugin(e: &ToolEntry) -> ToolListing {
        ToolListing {
            name: e.tool.name.clone(),
            namespace: e.tool.namespace.clone(),
            description: e.tool.description.clone(),
            input_schema: e.tool.input.document.clone(),
            output_schema: e.tool.output.as_ref().map(|s| s.document.clone()),
            idempotent: e.tool.idempotent,
            source: "plugin",
            origin: e.plugin.name.clone(),
            title: e.tool.title.clone(),
            annotations: e.tool.annotations,
            icons: e.tool.icons.clone(),
            long_running: e.tool.long_running,
        }
    }

    /// A JSON view: `{name, namespace, description, input_schema,
    /// output_schema, idempotent, source, plugin}` (`plugin` names the
    /// plugin or upstream, as before upstreams existed).
    pub fn to_json(&self) -> Value {
        json!({
            "name": self.name,
            "namespace": self.namespace,
            "description": self.description,
            "input_schema": self.input_schema,
            "output_schema": self.output_schema,
            "idempotent": self.idempotent,
            "source": self.source,
            "plugin": self.origin,
            "title": self.title,
            "annotations": self.annotations,
            "icons": self.icons,
            "long_running": self.long_running,
        })
    }
}
