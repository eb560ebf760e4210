//! Failures of an MCP upstream: why a connection could not be made
//! ([`ConnectError`], an [`Error::Configuration`] on the first connection, the
//! health error afterwards) and how a failed request maps to the host's
//! taxonomy.
//!
//! | rmcp / JSON-RPC                                   | [`Error`]                                |
//! |---------------------------------------------------|------------------------------------------|
//! | `-32602` invalid params naming an unknown tool,   | `Tool { kind: NotFound }`                |
//! | `-32601` method not found, `-32002` not found     |                                          |
//! | `-32602` invalid params (otherwise)               | `Tool { kind: InvalidInput }`            |
//! | any other JSON-RPC error                          | `Tool { kind: Transient, retryable }`    |
//! | transport closed (the process exited)             | `Tool { kind: Transient, retryable }`, "upstream 'X' exited …" |
//! | transport send failure                            | `Tool { kind: Transient, retryable }`    |
//! | unexpected answer                                 | `Tool { kind: Internal }`                |

use rmcp::ErrorData;
use rmcp::model::ErrorCode;
use rmcp::service::ServiceError;
use rmcp::transport::streamable_http_client::StreamableHttpError;
use serde_json::json;
use toolhost_core::text::preview;
use toolhost_core::{Error, ToolErrorKind};

/// Why a connection to an MCP server could not be made. None of the
/// variants carries a header's or an environment variable's value.
#[derive(Debug, Clone, thiserror::Error)]
pub(crate) enum ConnectError {
    /// The entry has neither `command` nor `url`.
    #[error("neither `command` nor `url` is set")]
    NoTransport,
    /// `command` is empty.
    #[error("`command` is empty")]
    NoCommand,
    /// An `env` entry cannot be resolved.
    #[error("env {name}: {reason}")]
    Env {
        /// The variable's name in the child.
        name: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A configured header cannot be sent (its value is never shown).
    #[error("header {name}: {reason}")]
    Header {
        /// The header's name.
        name: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The HTTP client could not be built.
    #[error("cannot build the HTTP client: {0}")]
    Client(String),
    /// The child process could not be started.
    #[error("cannot start {program}: {reason}")]
    Spawn {
        /// The program.
        program: String,
        /// The OS error.
        reason: String,
    },
    /// The server did not complete `initialize` within the timeout.
    #[error("the server did not complete the MCP handshake within {0} ms")]
    InitializeTimeout(u64),
    /// The handshake failed.
    #[error("the MCP handshake failed: {0}")]
    Initialize(String),
    /// `tools/list` failed.
    #[error("cannot list the tools: {0}")]
    ListTools(String),
}

/// `e` and its causes (each once), without rmcp's transport type names.
pub(crate) fn describe(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = cause_of(e);
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text = format!("{text}: {cause_text}");
        }
        source = cause_of(cause);
    }
    without_type_names(&text)
}

/// The cause of `e`; for the HTTP transport's client failures (which rmcp
/// does not chain), the reqwest error.
fn cause_of<'a>(e: &'a (dyn std::error::Error + 'static)) -> Option<&'a (dyn std::error::Error + 'static)> {
    match e.downcast_ref::<StreamableHttpError<reqwest::Error>>() {
        Some(StreamableHttpError::Client(inner)) => Some(inner),
        _ => e.source(),
    }
}

/// `text` without ` [path::To::Type<…>]` insertions.
fn without_type_names(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find(" [") {
        let Some(len) = rest[start..].find(']') else { break };
        let inner = &rest[start + 2..start + len];
        out.push_str(&rest[..start]);
        if !inner.contains("::") {
            out.push_str(&rest[start..=start + len]);
        }
        rest = &rest[start + len + 1..];
    }
    out.push_str(rest);
    out
}

/// The error a failed tool call maps to. `ended` is what happened to the
/// connection, when it ended ("exited (exit status: 3)").
pub(crate) fn call_error(upstream: &str, tool: &str, e: ServiceError, ended: Option<String>) -> Error {
    match e {
        ServiceError::McpError(data) => json_rpc_error(upstream, tool, data),
        ServiceError::TransportClosed => {
            let what = ended.unwrap_or_else(|| "closed the connection".to_string());
            transient(tool, format!("upstream '{upstream}' {what} while the call was in flight"))
        }
        ServiceError::TransportSend(e) => {
            transient(tool, format!("upstream '{upstream}' could not be reached: {}", preview(&describe(&e))))
        }
        ServiceError::Cancelled { reason } => transient(
            tool,
            format!(
                "upstream '{upstream}' cancelled the call: {}",
                preview(reason.as_deref().unwrap_or("no reason"))
            ),
        ),
        other => tool_error(
            tool,
            ToolErrorKind::Internal,
            format!("upstream '{upstream}' answered unexpectedly: {}", preview(&other.to_string())),
            None,
        ),
    }
}

/// The error a JSON-RPC error answer maps to (see the module's table).
pub(crate) fn json_rpc_error(upstream: &str, tool: &str, data: ErrorData) -> Error {
    let message = preview(&data.message);
    let unknown_tool = {
        let m = data.message.to_ascii_lowercase();
        (m.contains("unknown tool") || m.contains("not found")) && data.code == ErrorCode::INVALID_PARAMS
    };
    let kind = match data.code {
        _ if unknown_tool => ToolErrorKind::NotFound,
        ErrorCode::METHOD_NOT_FOUND | ErrorCode::RESOURCE_NOT_FOUND => ToolErrorKind::NotFound,
        ErrorCode::INVALID_PARAMS => ToolErrorKind::InvalidInput,
        _ => ToolErrorKind::Transient,
    };
    let details = json!({ "upstream": upstream, "code": data.code.0, "data": data.data });
    tool_error(tool, kind, format!("upstream '{upstream}' refused the call: {message}"), Some(details))
}

/// A retryable [`ToolErrorKind::Transient`] failure.
pub(crate) fn transient(tool: &str, message: String) -> Error {
    tool_error(tool, ToolErrorKind::Transient, message, None)
}

/// An [`Error::Tool`] of `kind`, retryable when the kind is by default.
pub(crate) fn tool_error(
    tool: &str,
    kind: ToolErrorKind,
    message: String,
    details: Option<serde_json::Value>,
) -> Error {
    Error::Tool {
        tool: tool.to_string(),
        kind,
        message,
        retryable: kind.retryable_by_default(),
        retry_after_ms: None,
        details,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(e: &Error) -> ToolErrorKind {
        match e {
            Error::Tool { kind, .. } => *kind,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn json_rpc_codes_map_to_kinds() {
        let e = |code, msg: &str| json_rpc_error("u", "u.t", ErrorData::new(code, msg.to_string(), None));
        assert_eq!(kind(&e(ErrorCode::INVALID_PARAMS, "Tool nope not found")), ToolErrorKind::NotFound);
        assert_eq!(kind(&e(ErrorCode::INVALID_PARAMS, "Unknown tool: nope")), ToolErrorKind::NotFound);
        assert_eq!(kind(&e(ErrorCode::INVALID_PARAMS, "a must be a number")), ToolErrorKind::InvalidInput);
        assert_eq!(kind(&e(ErrorCode::METHOD_NOT_FOUND, "no")), ToolErrorKind::NotFound);
        let internal = e(ErrorCode::INTERNAL_ERROR, "boom");
        assert_eq!(kind(&internal), ToolErrorKind::Transient);
        assert!(internal.retryable());
        assert!(!e(ErrorCode::INVALID_PARAMS, "bad").retryable());
    }

    #[test]
    fn descriptions_drop_type_names_and_repeats() {
        let text = "Send message error Transport [rmcp::transport::worker::WorkerTransport<a::B<c::D>>] error: \
            Client error: error sending request";
        assert_eq!(
            without_type_names(text),
            "Send message error Transport error: Client error: error sending request"
        );
        assert_eq!(without_type_names("keep [this] one"), "keep [this] one");
        let io = std::io::Error::other("refused");
        assert_eq!(describe(&io), "refused");
    }

    #[test]
    fn a_closed_transport_is_a_retryable_exit() {
        let e = call_error(
            "fs",
            "fs.read",
            ServiceError::TransportClosed,
            Some("exited (exit status: 3)".into()),
        );
        assert_eq!(kind(&e), ToolErrorKind::Transient);
        assert!(e.retryable());
        assert!(e.to_string().contains("upstream 'fs' exited (exit status: 3)"), "{e}");
    }
}
