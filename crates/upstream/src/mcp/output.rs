//! A `tools/call` result as the host's [`ToolOutput`] or [`Error`].
//!
//! * Content blocks map one to one to [`Content`] (text, image, audio,
//!   embedded resource; a resource link becomes a [`Content::Resource`]
//!   without contents), so images reach the caller as images.
//! * `value` is `structuredContent` when the server sent it; otherwise, when
//!   the content is exactly one text block, that text parsed as JSON if it is
//!   JSON, else the text as a JSON string (the rule the OpenAPI source applies
//!   to a body); otherwise no value (the content blocks are the result).
//! * `isError: true` is the tool reporting its own failure, which MCP meant
//!   for the model to read and correct: [`ToolErrorKind::InvalidInput`], not
//!   retryable (retrying the same arguments fails the same way) and not
//!   counted against the circuit breaker; the message is the text content,
//!   the details hold `structuredContent` when present. (An error text naming
//!   the tool as unknown — `Tool x not found`, `Unknown tool: x`, how the SDKs
//!   answer a call of a tool they do not have — is [`ToolErrorKind::NotFound`].)
//! * A result larger than `max_response_bytes` (as JSON) is
//!   [`Error::OutputTooLarge`].

use super::error::tool_error;
use super::routes::bounded_to;
use base64::Engine as _;
use rmcp::model::CallToolResult;
use serde_json::{Value, json};
use toolhost_core::{Bytes, Content, Error, ToolErrorKind, ToolOutput};

/// Longest error message taken from an `isError` result, bytes.
const MAX_ERROR_MESSAGE: usize = 4096;

/// The output (or tool error) for `result` of `tool` (full and remote name).
pub(crate) fn output(
    upstream: &str,
    (tool, remote): (&str, &str),
    result: CallToolResult,
    max_bytes: u64,
) -> Result<ToolOutput, Error> {
    let size = serde_json::to_vec(&result).map(|v| v.len() as u64).unwrap_or(0);
    if size > max_bytes {
        return Err(Error::OutputTooLarge { tool: tool.to_string(), limit: max_bytes });
    }
    let mut content = Vec::with_capacity(result.content.len());
    for block in &result.content {
        let block = serde_json::to_value(block).unwrap_or(Value::Null);
        content.push(to_content(&block).map_err(|reason| Error::InvalidOutput {
            tool: tool.to_string(),
            reason: format!("upstream '{upstream}' sent a content block that {reason}"),
        })?);
    }
    if result.is_error == Some(true) {
        return Err(reported_error(upstream, (tool, remote), &content, result.structured_content));
    }
    let value = result.structured_content.or_else(|| single_text_value(&content));
    Ok(ToolOutput { value, content })
}

/// The tool's own failure (`isError: true`).
fn reported_error(
    upstream: &str,
    (tool, remote): (&str, &str),
    content: &[Content],
    structured: Option<Value>,
) -> Error {
    let text: Vec<&str> = content
        .iter()
        .filter_map(|c| match c {
            Content::Text { text } => Some(text.as_str()),
            _ => None,
        })
        .collect();
    let message = if text.is_empty() {
        format!("upstream '{upstream}' reported an error without a message")
    } else {
        bounded_to(&text.join("\n"), MAX_ERROR_MESSAGE)
    };
    let details = structured.map(|v| json!({ "structuredContent": v }));
    let kind = if names_unknown_tool(&message, remote) {
        ToolErrorKind::NotFound
    } else {
        ToolErrorKind::InvalidInput
    };
    tool_error(tool, kind, message, details)
}

/// Whether an error text is the SDKs' answer to an unknown tool (`Tool x not
/// found` from the TypeScript SDK, `Unknown tool: x` from the Python one).
fn names_unknown_tool(message: &str, remote: &str) -> bool {
    let m = message.to_ascii_lowercase();
    m.contains(&remote.to_ascii_lowercase()) && (m.contains("not found") || m.contains("unknown tool"))
}

/// The value of a result that is one text block: its JSON, or the string.
fn single_text_value(content: &[Content]) -> Option<Value> {
    match content {
        [Content::Text { text }] => {
            Some(serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.clone())))
        }
        _ => None,
    }
}

/// One MCP content block (as JSON) as a [`Content`]; `Err` says what is
/// wrong with it.
fn to_content(block: &Value) -> Result<Content, String> {
    let str_field = |k: &str| block.get(k).and_then(Value::as_str);
    let mime = || str_field("mimeType").map(str::to_string);
    match str_field("type") {
        Some("text") => Ok(Content::Text { text: str_field("text").unwrap_or_default().to_string() }),
        Some("image") => {
            Ok(Content::Image { mime_type: mime().unwrap_or_default(), data: base64(str_field("data"))? })
        }
        Some("audio") => {
            Ok(Content::Audio { mime_type: mime().unwrap_or_default(), data: base64(str_field("data"))? })
        }
        Some("resource") => {
            let r = block.get("resource").ok_or("has no resource")?;
            let field = |k: &str| r.get(k).and_then(Value::as_str);
            Ok(Content::Resource {
                uri: field("uri").unwrap_or_default().to_string(),
                mime_type: field("mimeType").map(str::to_string),
                text: field("text").map(str::to_string),
                blob: field("blob").map(|b| base64(Some(b))).transpose()?,
            })
        }
        Some("resource_link") => Ok(Content::Resource {
            uri: str_field("uri").unwrap_or_default().to_string(),
            mime_type: mime(),
            text: None,
            blob: None,
        }),
        other => Err(format!("has an unknown type {other:?}")),
    }
}

fn base64(data: Option<&str>) -> Result<Bytes, String> {
    let data = data.ok_or("has no data")?;
    base64::engine::general_purpose::STANDARD
        .decode(data)
        .map(Bytes)
        .map_err(|e| format!("is not valid base64 ({e})"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(v: Value) -> CallToolResult {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn text_json_and_images() {
        let out = output(
            "u",
            ("u.t", "t"),
            result(json!({"content": [{"type": "text", "text": "{\"n\": 1}"}]})),
            1 << 20,
        )
        .unwrap();
        assert_eq!(out.value, Some(json!({"n": 1})));
        let out =
            output("u", ("u.t", "t"), result(json!({"content": [{"type": "text", "text": "hi"}]})), 1 << 20)
                .unwrap();
        assert_eq!(out.value, Some(json!("hi")));
        let out = output(
            "u",
            ("u.t", "t"),
            result(json!({"content": [{"type": "text", "text": "a"}, {"type": "image", "data": "AAEC", "mimeType": "image/png"}],
                "structuredContent": {"k": true}})),
            1 << 20,
        )
        .unwrap();
        assert_eq!(out.value, Some(json!({"k": true})));
        assert_eq!(
            out.content[1],
            Content::Image { mime_type: "image/png".into(), data: Bytes(vec![0, 1, 2]) }
        );
    }

    #[test]
    fn is_error_is_the_tools_own_failure() {
        let e = output(
            "u",
            ("u.t", "t"),
            result(json!({"content": [{"type": "text", "text": "no such file"}], "isError": true})),
            1 << 20,
        )
        .unwrap_err();
        let Error::Tool { kind, retryable, message, .. } = e else { panic!() };
        assert_eq!((kind, retryable, message.as_str()), (ToolErrorKind::InvalidInput, false, "no such file"));
        let unknown =
            result(json!({"content": [{"type": "text", "text": "Tool t not found"}], "isError": true}));
        let Error::Tool { kind, .. } = output("u", ("u.t", "t"), unknown, 1 << 20).unwrap_err() else {
            panic!()
        };
        assert_eq!(kind, ToolErrorKind::NotFound);
    }

    #[test]
    fn too_large_and_malformed() {
        let big = result(json!({"content": [{"type": "text", "text": "x".repeat(100)}]}));
        assert!(matches!(output("u", ("u.t", "t"), big, 50), Err(Error::OutputTooLarge { limit: 50, .. })));
        let bad = to_content(&json!({"type": "image", "data": "!!", "mimeType": "image/png"}));
        assert!(bad.unwrap_err().contains("base64"));
    }
}
