//! [`ToolCall`]: one call as the model asked for it, with its per-call policy.

use crate::parse;
use crate::policy::PolicyOverride;

/// One call as the model asked for it.
#[derive(Debug, Clone)]
pub struct ToolCall {
    /// Provider call id, kept end to end (generated when absent).
    pub call_id: Option<String>,
    /// Tool name.
    pub tool: String,
    /// Arguments JSON text, or why they could not be read.
    pub arguments: Result<String, String>,
    /// Per-call policy (highest precedence).
    pub policy: PolicyOverride,
}

impl ToolCall {
    /// A call with well-formed argument text.
    pub fn new(tool: impl Into<String>, arguments: impl Into<String>) -> ToolCall {
        ToolCall {
            call_id: None,
            tool: tool.into(),
            arguments: Ok(arguments.into()),
            policy: PolicyOverride::default(),
        }
    }

    /// Sets the call id.
    pub fn with_id(mut self, id: impl Into<String>) -> ToolCall {
        self.call_id = Some(id.into());
        self
    }
}

impl From<parse::ParsedCall> for ToolCall {
    fn from(p: parse::ParsedCall) -> ToolCall {
        let tool = match p.namespace {
            // `namespace` + bare name → the dotted tool name the registry uses.
            Some(ns) if !p.tool.contains('.') && !ns.is_empty() && ns != "default" => {
                format!("{ns}.{}", p.tool)
            }
            _ => p.tool,
        };
        ToolCall { call_id: p.call_id, tool, arguments: p.arguments, policy: PolicyOverride::default() }
    }
}
