//! The checks every tool gets, whatever serves it: strict arguments against
//! the input schema before anything runs, and a result's `value` against the
//! output schema after.

use toolhost_core::{Error, Result, ToolOutput};
use toolhost_registry::schema::Schema;

/// Largest arguments document accepted, bytes.
pub const MAX_ARGUMENT_BYTES: usize = 1024 * 1024;

/// Strict parse and schema check of a call's arguments; returns the text (as
/// given) and the parsed value. Malformed arguments are never "repaired".
pub(crate) fn arguments(
    tool: &str,
    input: &Schema,
    raw: &std::result::Result<String, String>,
) -> Result<(String, serde_json::Value)> {
    let invalid = |p: String| Error::InvalidArguments { tool: tool.to_string(), problems: vec![p] };
    let raw = raw.as_ref().map_err(|p| invalid(p.clone()))?;
    if raw.len() > MAX_ARGUMENT_BYTES {
        return Err(invalid(format!("arguments are {} bytes; the limit is {MAX_ARGUMENT_BYTES}", raw.len())));
    }
    let value: serde_json::Value =
        serde_json::from_str(raw).map_err(|e| invalid(format!("arguments are not valid JSON: {e}")))?;
    input.check(&value).map_err(|problems| Error::InvalidArguments { tool: tool.to_string(), problems })?;
    Ok((raw.clone(), value))
}

/// `out` unless its `value` violates the tool's output schema (`INVALID_OUTPUT`).
pub(crate) fn output(tool: &str, schema: Option<&Schema>, out: ToolOutput) -> Result<ToolOutput> {
    if let (Some(schema), Some(value)) = (schema, &out.value) {
        schema.check(value).map_err(|problems| Error::InvalidOutput {
            tool: tool.to_string(),
            reason: format!("value violates the output schema: {}", problems.join("; ")),
        })?;
    }
    Ok(out)
}
