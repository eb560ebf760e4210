//! Reading an upstream's answer: bodies read in chunks up to a cap, 2xx as
//! the tool's value, every other status and transport failure as a typed
//! [`Error`].

use reqwest::Response;
use reqwest::header::{CONTENT_TYPE, LOCATION, RETRY_AFTER};
use serde_json::{Value, json};
use std::error::Error as _;
use std::time::SystemTime;
use toolhost_core::text::preview;
use toolhost_core::{Error, ToolErrorKind, ToolOutput};

/// Most bytes of an error response read for its preview.
const ERROR_BODY_BYTES: usize = 4096;

/// Why a body could not be read whole.
#[derive(Debug)]
pub(crate) enum BodyError {
    /// It is longer than the cap.
    TooLarge,
    /// The connection failed while reading it.
    Transport(reqwest::Error),
}

/// What an answer is judged against.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Judge<'a> {
    /// The tool's full name.
    pub(crate) tool: &'a str,
    /// `METHOD /path/{template}`, for messages.
    pub(crate) operation: &'a str,
    /// Statuses that are worth retrying.
    pub(crate) retry_on_status: &'a [u16],
    /// Largest body accepted, bytes.
    pub(crate) max_bytes: u64,
}

/// Whether a media type (`application/json; charset=utf-8`,
/// `application/problem+json`) is JSON.
pub(crate) fn is_json(media_type: &str) -> bool {
    let essence = media_type.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
    essence == "application/json" || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// The whole body, or [`BodyError::TooLarge`] as soon as it is known to be
/// longer than `limit` (from `Content-Length` or while reading).
pub(crate) async fn read_limited(response: &mut Response, limit: u64) -> Result<Vec<u8>, BodyError> {
    if response.content_length().is_some_and(|len| len > limit) {
        return Err(BodyError::TooLarge);
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(BodyError::Transport)? {
        if (body.len() + chunk.len()) as u64 > limit {
            return Err(BodyError::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// At most `limit` bytes of the body; the rest is not read.
async fn read_prefix(response: &mut Response, limit: usize) -> Vec<u8> {
    let mut body = Vec::new();
    while body.len() < limit {
        match response.chunk().await {
            Ok(Some(chunk)) => body.extend_from_slice(&chunk),
            _ => break,
        }
    }
    body.truncate(limit);
    body
}

/// The tool's output for `response`, or the error its status maps to.
pub(crate) async fn output(mut response: Response, judge: &Judge<'_>) -> Result<ToolOutput, Error> {
    if !response.status().is_success() {
        return Err(status_error(&mut response, judge).await);
    }
    let content_type = response.headers().get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let body = match read_limited(&mut response, judge.max_bytes).await {
        Ok(body) => body,
        Err(BodyError::TooLarge) => {
            return Err(Error::OutputTooLarge { tool: judge.tool.to_string(), limit: judge.max_bytes });
        }
        Err(BodyError::Transport(e)) => return Err(transport_error(judge, e)),
    };
    let value = decode(judge.tool, content_type.as_deref(), &body)?;
    Ok(ToolOutput { value: Some(value), content: Vec::new() })
}

/// A 2xx body as JSON: parsed when it is (declared) JSON, else the text as a
/// string; an empty body is `null`.
fn decode(tool: &str, content_type: Option<&str>, body: &[u8]) -> Result<Value, Error> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Value::Null);
    }
    let text = || String::from_utf8_lossy(body).into_owned();
    match content_type {
        Some(t) if is_json(t) => serde_json::from_slice(body).map_err(|e| Error::InvalidOutput {
            tool: tool.to_string(),
            reason: format!("the response says it is JSON but is not ({e}): {}", preview(&text())),
        }),
        Some(_) => Ok(Value::String(text())),
        None => Ok(serde_json::from_slice(body).unwrap_or_else(|_| Value::String(text()))),
    }
}

/// The error a non-2xx answer maps to, with its status and a preview of its
/// body in the message and details, and its `Retry-After`.
async fn status_error(response: &mut Response, judge: &Judge<'_>) -> Error {
    let status = response.status();
    let retry_after_ms = response
        .headers()
        .get(RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| retry_after_ms(v, SystemTime::now()));
    let location = status
        .is_redirection()
        .then(|| response.headers().get(LOCATION).and_then(|v| v.to_str().ok()).map(preview))
        .flatten();
    let body = preview(String::from_utf8_lossy(&read_prefix(response, ERROR_BODY_BYTES).await).trim());
    let code = status.as_u16();
    let retryable = judge.retry_on_status.contains(&code);
    let mut message = format!("HTTP {status} from {}", judge.operation);
    if let Some(to) = &location {
        message = format!("{message} (a redirect to {to}, not followed: another origin)");
    }
    if !body.is_empty() {
        message = format!("{message}: {body}");
    }
    tracing::debug!(tool = judge.tool, status = code, retryable, "upstream answered with an error status");
    Error::Tool {
        tool: judge.tool.to_string(),
        kind: status_kind(code, retryable),
        message,
        retryable,
        retry_after_ms,
        details: Some(match location {
            Some(to) => json!({ "status": code, "body": body, "location": to }),
            None => json!({ "status": code, "body": body }),
        }),
    }
}

/// The error kind of a status: 429 rate-limited; 400/422 (and other 4xx)
/// invalid input; 401/403 denied; 404/410 not found; 408, 5xx and the
/// `listed` (retryable) statuses transient; anything else internal.
pub(crate) fn status_kind(code: u16, listed: bool) -> ToolErrorKind {
    match code {
        429 => ToolErrorKind::RateLimited,
        400 | 422 => ToolErrorKind::InvalidInput,
        401 | 403 => ToolErrorKind::Denied,
        404 | 410 => ToolErrorKind::NotFound,
        408 => ToolErrorKind::Transient,
        _ if listed => ToolErrorKind::Transient,
        500..=599 => ToolErrorKind::Transient,
        400..=499 => ToolErrorKind::InvalidInput,
        _ => ToolErrorKind::Internal,
    }
}

/// `Retry-After` (delay seconds or an HTTP date) in ms from `now`; a date in
/// the past is 0.
pub(crate) fn retry_after_ms(value: &str, now: SystemTime) -> Option<u64> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(seconds.saturating_mul(1000));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)))
}

/// A connection failure (refused, reset, broken body) as a transient,
/// retryable error; a request that could not be built as an internal one.
pub(crate) fn transport_error(judge: &Judge<'_>, e: reqwest::Error) -> Error {
    let retryable = !(e.is_builder() || e.is_redirect());
    let kind = if retryable { ToolErrorKind::Transient } else { ToolErrorKind::Internal };
    Error::Tool {
        tool: judge.tool.to_string(),
        kind,
        message: format!("request {} failed: {}", judge.operation, error_chain(e)),
        retryable,
        retry_after_ms: None,
        details: None,
    }
}

/// A reqwest error and its causes, without the URL (it may carry arguments).
pub(crate) fn error_chain(e: reqwest::Error) -> String {
    let e = e.without_url();
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        text = format!("{text}: {cause}");
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn retry_after_seconds_or_date() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000_000);
        assert_eq!(retry_after_ms(" 2 ", now), Some(2000));
        let later = httpdate::fmt_http_date(now + Duration::from_secs(30));
        assert_eq!(retry_after_ms(&later, now), Some(30_000));
        let earlier = httpdate::fmt_http_date(now - Duration::from_secs(30));
        assert_eq!(retry_after_ms(&earlier, now), Some(0));
        assert_eq!(retry_after_ms("soon", now), None);
        assert_eq!(retry_after_ms("-1", now), None);
    }

    #[test]
    fn statuses_map_to_kinds() {
        use ToolErrorKind::*;
        let cases = [
            (429, true, RateLimited),
            (400, false, InvalidInput),
            (422, false, InvalidInput),
            (409, false, InvalidInput),
            (409, true, Transient),
            (401, false, Denied),
            (403, false, Denied),
            (404, false, NotFound),
            (503, true, Transient),
            (500, false, Transient),
            (302, false, Internal),
        ];
        for (code, listed, kind) in cases {
            assert_eq!(status_kind(code, listed), kind, "{code}");
        }
    }

    #[test]
    fn bodies_decode_by_content_type() {
        let json = decode("t", Some("application/json; charset=utf-8"), br#"{"a":1}"#).unwrap();
        assert_eq!(json, json!({"a": 1}));
        assert_eq!(decode("t", Some("text/plain"), b"{\"a\":1}").unwrap(), json!("{\"a\":1}"));
        assert_eq!(decode("t", None, b"[1]").unwrap(), json!([1]));
        assert_eq!(decode("t", None, b"hello").unwrap(), json!("hello"));
        assert_eq!(decode("t", Some("application/json"), b"").unwrap(), Value::Null);
        let bad = decode("t", Some("application/problem+json"), b"nope").unwrap_err();
        assert!(matches!(bad, Error::InvalidOutput { .. }), "{bad:?}");
        assert!(!is_json("text/json-ish") && is_json("Application/JSON"));
    }
}
