//! [`ToolCall`]: one call as the model asked for it, with its per-call policy
//! and the answers its caller gives to questions of an earlier round.

use crate::parse;
use crate::policy::PolicyOverride;
use std::collections::BTreeMap;
use toolhost_core::interact::InputResponse;

/// Answers to a call's questions, by request key (`in_…`), as a caller sends
/// them back after `INPUT_REQUIRED`; or why they could not be read.
pub type InputResponses = Result<BTreeMap<String, InputResponse>, String>;

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
    /// Answers to questions an earlier round of this call asked (ended with
    /// `INPUT_REQUIRED`), in front of the call's own `interact`. Unreadable
    /// answers fail the call with `TOOL_VALIDATION_ERROR` before anything runs.
    pub input_responses: InputResponses,
}

impl ToolCall {
    /// A call with well-formed argument text.
    pub fn new(tool: impl Into<String>, arguments: impl Into<String>) -> ToolCall {
        ToolCall {
            call_id: None,
            tool: tool.into(),
            arguments: Ok(arguments.into()),
            policy: PolicyOverride::default(),
            input_responses: Ok(BTreeMap::new()),
        }
    }

    /// Sets the call id.
    pub fn with_id(mut self, id: impl Into<String>) -> ToolCall {
        self.call_id = Some(id.into());
        self
    }

    /// Sets the answers to an earlier round's questions.
    pub fn with_input_responses(mut self, answers: BTreeMap<String, InputResponse>) -> ToolCall {
        self.input_responses = Ok(answers);
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
        let input_responses = p.input_responses.as_deref().map_or(Ok(BTreeMap::new()), parse_input_responses);
        ToolCall {
            call_id: p.call_id,
            tool,
            arguments: p.arguments,
            policy: PolicyOverride::default(),
            input_responses,
        }
    }
}

/// Reads `{"in_…": response, …}`: each response an elicitation result
/// (`{"action": "accept"|"decline"|"cancel", "content"?: {…}}`) or a sampling
/// result (`{"role", "content", "model", "stopReason"?}`). A key no question
/// asks is ignored when the call runs; a value of neither shape is an error
/// naming its key.
pub fn parse_input_responses(text: &str) -> InputResponses {
    let map: BTreeMap<String, serde_json::Value> = serde_json::from_str(text)
        .map_err(|e| format!("input_responses must be an object of request key → answer: {e}"))?;
    map.into_iter()
        .map(|(key, v)| {
            let preview = toolhost_core::text::preview(&key);
            serde_json::from_value::<InputResponse>(v).map(|r| (key, r)).map_err(|_| {
                format!(
                    "input_responses.{preview}: expected an elicitation result {{\"action\": \"accept\"|\"decline\"|\"cancel\", \"content\"?: {{…}}}} or a sampling result {{\"role\", \"content\", \"model\"}}"
                )
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn input_responses_parse_or_name_the_bad_key() {
        let ok =
            parse_input_responses(r#"{"in_1": {"action": "accept", "content": {"confirm": true}}}"#).unwrap();
        assert!(matches!(ok["in_1"], InputResponse::Elicit(_)));
        let bad = parse_input_responses(r#"{"in_2": {"action": "maybe"}}"#).unwrap_err();
        assert!(bad.contains("input_responses.in_2"), "{bad}");
        assert!(parse_input_responses("[1]").is_err());
        assert!(parse_input_responses("{}").unwrap().is_empty());
    }
}
