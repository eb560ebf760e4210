//! Mapping between the host's types and MCP's: tools, results, errors, log levels.
//!
//! rmcp's model types are `#[non_exhaustive]`; they are built from their JSON
//! form, which is also the form the MCP specification defines.

// MCP logging is deprecated from protocol 2026-07-28 (SEP-2577) but is how every
// earlier client receives guest logs; rmcp marks its types deprecated.
#![allow(deprecated)]

use rmcp::model::{CallToolResult, LoggingLevel, Tool};
use serde_json::{Value, json};
use toolhost::call::{Content, ToolOutput};
use toolhost::{Error, ErrorCode};

/// `_meta` key carrying the host's typed error on an `isError` result.
pub(crate) const ERROR_META_KEY: &str = "dev.toolhost/error";

/// A tool as MCP lists it.
pub(crate) fn tool(spec: &toolhost::ToolListing) -> Option<Tool> {
    let annotations = match &spec.annotations {
        // A 0.1 plugin or an upstream tool: only what its `idempotent` flag says.
        None => json!({ "idempotentHint": spec.idempotent }),
        Some(a) => json!({
            "readOnlyHint": a.read_only,
            "destructiveHint": a.destructive,
            "idempotentHint": a.idempotent,
            "openWorldHint": a.open_world,
        }),
    };
    let mut v = json!({
        "name": spec.name,
        "description": spec.description,
        "inputSchema": object_schema(&spec.input_schema),
        "annotations": annotations,
    });
    if let Some(title) = &spec.title {
        v["title"] = title.clone().into();
        v["annotations"]["title"] = title.clone().into();
    }
    if !spec.icons.is_empty() {
        v["icons"] = json!(spec.icons);
    }
    if let Some(out) = &spec.output_schema {
        v["outputSchema"] = object_schema(out);
    }
    match serde_json::from_value(v) {
        Ok(t) => Some(t),
        Err(e) => {
            tracing::warn!(tool = %spec.name, error = %e, "tool cannot be listed over MCP");
            None
        }
    }
}

/// MCP requires `inputSchema`/`outputSchema` to be objects of `type: object`;
/// a schema that leaves `type` out (e.g. `{}`) gets it.
fn object_schema(schema: &Value) -> Value {
    match schema {
        Value::Object(m) if m.contains_key("type") => schema.clone(),
        Value::Object(m) => {
            let mut m = m.clone();
            m.insert("type".into(), "object".into());
            Value::Object(m)
        }
        _ => json!({ "type": "object" }),
    }
}

/// A content block from MCP's JSON form (a sampling result's content).
pub(crate) fn from_content_block(v: &Value) -> Option<Content> {
    use base64::Engine as _;
    let bytes = |key: &str| {
        let text = v.get(key)?.as_str()?;
        base64::engine::general_purpose::STANDARD.decode(text).ok().map(toolhost::call::Bytes)
    };
    let mime = || v.get("mimeType").and_then(Value::as_str).map(str::to_string);
    Some(match v.get("type")?.as_str()? {
        "text" => Content::Text { text: v.get("text")?.as_str()?.to_string() },
        "image" => Content::Image { mime_type: mime()?, data: bytes("data")? },
        "audio" => Content::Audio { mime_type: mime()?, data: bytes("data")? },
        _ => return None,
    })
}

/// One content block in MCP's JSON form.
pub(crate) fn content_block(c: &Content) -> Value {
    use base64::Engine as _;
    let b64 = |d: &[u8]| base64::engine::general_purpose::STANDARD.encode(d);
    match c {
        Content::Text { text } => json!({ "type": "text", "text": text }),
        Content::Image { mime_type, data } => {
            json!({ "type": "image", "data": b64(&data.0), "mimeType": mime_type })
        }
        Content::Audio { mime_type, data } => {
            json!({ "type": "audio", "data": b64(&data.0), "mimeType": mime_type })
        }
        Content::Resource { uri, mime_type, text, blob } => {
            let mut r = json!({ "uri": uri });
            if let Some(m) = mime_type {
                r["mimeType"] = m.clone().into();
            }
            match (text, blob) {
                (Some(t), _) => r["text"] = t.clone().into(),
                (None, Some(b)) => r["blob"] = b64(&b.0).into(),
                (None, None) => r["text"] = "".into(),
            }
            json!({ "type": "resource", "resource": r })
        }
    }
}

/// A successful call: content blocks (the value as text when the tool gave
/// none) and the value as `structuredContent`.
pub(crate) fn success(out: &ToolOutput) -> CallToolResult {
    let content: Vec<Value> = if out.content.is_empty() {
        vec![json!({ "type": "text", "text": out.to_text() })]
    } else {
        out.content.iter().map(content_block).collect()
    };
    let mut v = json!({ "resultType": "complete", "content": content, "isError": false });
    if let Some(value) = &out.value {
        v["structuredContent"] = value.clone();
    }
    from_json(v)
}

/// A failed call as an `isError` result: what happened and whether to retry,
/// in words for the model, and typed in `_meta` for programs.
pub(crate) fn failure(e: &Error) -> CallToolResult {
    from_json(json!({
        "resultType": "complete",
        "content": [{ "type": "text", "text": failure_text(e) }],
        "isError": true,
        "_meta": { ERROR_META_KEY: e.to_json() },
    }))
}

/// The error message plus a retry verdict a model can act on.
pub(crate) fn failure_text(e: &Error) -> String {
    let verdict = match (e.retryable(), e.retry_after_ms()) {
        (true, Some(ms)) => format!("retryable: yes, after {ms} ms"),
        (true, None) => "retryable: yes".to_string(),
        (false, _) if e.code() == ErrorCode::ToolValidationError => {
            "retryable: only with corrected arguments".to_string()
        }
        (false, _) => "retryable: no".to_string(),
    };
    format!("{e}\n[{}; {verdict}]", e.code().as_str())
}

/// A `CallToolResult` from its JSON form. `resultType` is always set: 2026-07-28
/// peers require it and rmcp strips it for older ones.
pub(crate) fn from_json(v: Value) -> CallToolResult {
    serde_json::from_value(v).expect("CallToolResult JSON built by this module is well-formed")
}

/// The MCP level of a guest log level.
pub(crate) fn log_level(level: &str) -> LoggingLevel {
    match level {
        "trace" | "debug" => LoggingLevel::Debug,
        "info" => LoggingLevel::Info,
        "warn" => LoggingLevel::Warning,
        _ => LoggingLevel::Error,
    }
}

/// Severity rank (higher = more severe), to compare with the client's level.
pub(crate) fn severity(level: LoggingLevel) -> u8 {
    match level {
        LoggingLevel::Debug => 0,
        LoggingLevel::Info => 1,
        LoggingLevel::Notice => 2,
        LoggingLevel::Warning => 3,
        LoggingLevel::Error => 4,
        LoggingLevel::Critical => 5,
        LoggingLevel::Alert => 6,
        LoggingLevel::Emergency => 7,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use toolhost::call::Bytes;

    #[test]
    fn content_blocks_have_mcp_shape() {
        let out = ToolOutput {
            value: Some(json!({"n": 1})),
            content: vec![
                Content::Text { text: "hi".into() },
                Content::Image { mime_type: "image/png".into(), data: Bytes(vec![1, 2, 3]) },
                Content::Audio { mime_type: "audio/wav".into(), data: Bytes(vec![4]) },
                Content::Resource {
                    uri: "test://r".into(),
                    mime_type: Some("text/plain".into()),
                    text: Some("body".into()),
                    blob: None,
                },
                Content::Resource {
                    uri: "test://b".into(),
                    mime_type: None,
                    text: None,
                    blob: Some(Bytes(vec![0])),
                },
            ],
        };
        let v = serde_json::to_value(success(&out)).unwrap();
        assert_eq!(v["content"][0], json!({"type": "text", "text": "hi"}));
        assert_eq!(v["content"][1], json!({"type": "image", "data": "AQID", "mimeType": "image/png"}));
        assert_eq!(v["content"][2]["type"], "audio");
        assert_eq!(
            v["content"][3],
            json!({"type": "resource", "resource": {"uri": "test://r", "mimeType": "text/plain", "text": "body"}})
        );
        assert_eq!(v["content"][4]["resource"]["blob"], "AA==");
        assert_eq!(v["structuredContent"], json!({"n": 1}));
        assert_eq!(v["isError"], false);
    }

    #[test]
    fn value_only_output_becomes_text() {
        let v = serde_json::to_value(success(&ToolOutput { value: Some(json!([1, 2])), content: vec![] }))
            .unwrap();
        assert_eq!(v["content"][0]["type"], "text");
        assert!(v["content"][0]["text"].as_str().unwrap().contains('1'));
    }

    #[test]
    fn errors_say_whether_to_retry() {
        let e = Error::RateLimited { tool: "t".into(), key: "global".into(), retry_after_ms: 250 };
        let v = serde_json::to_value(failure(&e)).unwrap();
        assert_eq!(v["isError"], true);
        let text = v["content"][0]["text"].as_str().unwrap();
        assert!(text.contains("TOOL_RATE_LIMITED") && text.contains("after 250 ms"), "{text}");
        assert_eq!(v["_meta"][ERROR_META_KEY]["code"], "TOOL_RATE_LIMITED");
        let bad = Error::InvalidArguments { tool: "t".into(), problems: vec!["/x: missing".into()] };
        assert!(failure_text(&bad).contains("corrected arguments"));
    }

    #[test]
    fn schemas_become_objects() {
        assert_eq!(object_schema(&json!({})), json!({"type": "object"}));
        assert_eq!(object_schema(&json!(true)), json!({"type": "object"}));
        let s = json!({"type": "object", "properties": {}});
        assert_eq!(object_schema(&s), s);
    }
}
