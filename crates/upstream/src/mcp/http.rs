//! Streamable HTTP to an MCP server through the crate's reqwest 0.12 client
//! (rustls with ring, webpki roots), as rmcp's [`StreamableHttpClient`].
//!
//! rmcp ships this for reqwest 0.13 only, whose TLS is aws-lc or a rustls
//! without a provider (which would make every other reqwest 0.13 client of
//! the workspace panic); this is the same protocol handling on the client the
//! OpenAPI source already uses. The configured headers are default headers
//! of the client, so they go with every request (POST, the GET event stream,
//! DELETE); redirects are not followed (the headers may hold secrets).

use super::error::ConnectError;
use futures::StreamExt as _;
use futures::stream::BoxStream;
use http::header::{ACCEPT, CONTENT_TYPE, RETRY_AFTER, WWW_AUTHENTICATE};
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use rmcp::model::{ClientJsonRpcMessage, JsonRpcMessage, ServerJsonRpcMessage};
use rmcp::transport::common::http_header::{
    EVENT_STREAM_MIME_TYPE, HEADER_LAST_EVENT_ID, HEADER_SESSION_ID, JSON_MIME_TYPE,
};
use rmcp::transport::streamable_http_client::{
    AuthRequiredError, HttpStatusError, SseError, StreamableHttpClient, StreamableHttpError,
    StreamableHttpPostResponse, StreamableHttpResponseLimits,
};
use sse_stream::{Sse, SseStream};
use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

/// Longest time to set up a TCP (and TLS) connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Longest SSE event accepted, bytes (rmcp's default for its own clients).
const MAX_SSE_EVENT: usize = 16 << 20;

type HttpError = StreamableHttpError<reqwest::Error>;

/// A reqwest client speaking MCP's streamable HTTP.
#[derive(Debug, Clone)]
pub(crate) struct HttpClient {
    client: reqwest::Client,
}

impl HttpClient {
    /// A client sending `headers` (values resolved from `env:`) with every
    /// request.
    pub(crate) fn new(configured: &BTreeMap<String, String>) -> Result<Self, ConnectError> {
        if rustls::crypto::CryptoProvider::get_default().is_none() {
            // Losing a race with another installer is fine: a provider is set either way.
            let _ = rustls::crypto::ring::default_provider().install_default();
        }
        let client = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("toolhost/", env!("CARGO_PKG_VERSION")))
            .default_headers(headers(configured)?)
            .build()
            .map_err(|e| ConnectError::Client(e.to_string()))?;
        Ok(HttpClient { client })
    }
}

/// The `headers` of the entry with `env:` values resolved, marked sensitive.
fn headers(configured: &BTreeMap<String, String>) -> Result<HeaderMap, ConnectError> {
    let mut map = HeaderMap::new();
    for (name, value) in configured {
        let bad = |reason: &str| ConnectError::Header { name: name.clone(), reason: reason.to_string() };
        let value = crate::config::resolve_secret(value).map_err(|reason| bad(&reason))?;
        let header = HeaderName::from_bytes(name.as_bytes()).map_err(|_| bad("not a valid header name"))?;
        let mut value = HeaderValue::from_str(&value)
            .map_err(|_| bad("the value holds characters a header cannot carry (value not shown)"))?;
        value.set_sensitive(true);
        map.insert(header, value);
    }
    Ok(map)
}

/// A reqwest failure, without its URL (it may carry a token).
fn client_error(e: reqwest::Error) -> HttpError {
    StreamableHttpError::Client(e.without_url())
}

/// Adds the optional bearer token, rmcp's per-request headers and the session.
fn prepare(
    mut request: reqwest::RequestBuilder,
    session_id: Option<&str>,
    auth_token: Option<String>,
    custom_headers: HashMap<HeaderName, HeaderValue>,
) -> reqwest::RequestBuilder {
    if let Some(token) = auth_token {
        request = request.bearer_auth(token);
    }
    for (name, value) in custom_headers {
        request = request.header(name, value);
    }
    if let Some(session) = session_id {
        request = request.header(HEADER_SESSION_ID, session);
    }
    request
}

/// Whether a `Content-Type` value's essence is `expected`.
fn media_type_is(value: Option<&HeaderValue>, expected: &str) -> bool {
    value
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|essence| essence.trim().eq_ignore_ascii_case(expected))
}

/// The failure a non-success status maps to before its body is read: auth
/// challenges, rate limits and server errors.
fn status_failure(response: &reqwest::Response) -> Option<HttpError> {
    let status = response.status();
    let challenge = response.headers().get(WWW_AUTHENTICATE).and_then(|v| v.to_str().ok());
    if status == StatusCode::UNAUTHORIZED
        && let Some(header) = challenge
    {
        return Some(StreamableHttpError::AuthRequired(AuthRequiredError::new(header.to_string())));
    }
    if status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error() {
        let retry_after =
            response.headers().get(RETRY_AFTER).and_then(|v| v.to_str().ok()).map(str::to_string);
        return Some(HttpStatusError::new(status.as_u16(), retry_after).into());
    }
    None
}

/// The whole body, at most `max` bytes.
async fn read_bounded(response: &mut reqwest::Response, max: usize) -> Result<Vec<u8>, HttpError> {
    if response.content_length().is_some_and(|len| len > max as u64) {
        return Err(StreamableHttpError::ResponseBodyTooLarge { max_size: max });
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(client_error)? {
        if chunk.len() > max - body.len() {
            return Err(StreamableHttpError::ResponseBodyTooLarge { max_size: max });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// At most `max` bytes of the body, for a diagnostic.
async fn read_prefix(response: &mut reqwest::Response, max: usize) -> String {
    let mut body = Vec::new();
    while body.len() < max {
        match response.chunk().await {
            Ok(Some(chunk)) => body.extend_from_slice(&chunk),
            _ => break,
        }
    }
    body.truncate(max);
    toolhost_core::text::preview(&String::from_utf8_lossy(&body))
}

/// An SSE response body as events, each at most `max` bytes.
fn event_stream(response: reqwest::Response, max: usize) -> BoxStream<'static, Result<Sse, SseError>> {
    let mut limit = EventLimit { max, current: 0, line_start: true };
    let bytes = response.bytes_stream().scan(false, move |failed, chunk| {
        let item = match chunk {
            _ if *failed => None,
            Ok(bytes) if !limit.observe(&bytes) => {
                *failed = true;
                Some(Err(EventTooLarge(max).into()))
            }
            Ok(bytes) => Some(Ok(bytes)),
            Err(e) => {
                *failed = true;
                Some(Err(Box::new(e) as Box<dyn std::error::Error + Send + Sync>))
            }
        };
        std::future::ready(item)
    });
    SseStream::from_bytes_stream(bytes.map(|r| r.map_err(BodyError))).boxed()
}

/// A failure of an SSE body.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct BodyError(Box<dyn std::error::Error + Send + Sync>);

/// An SSE event longer than the cap.
#[derive(Debug, thiserror::Error)]
#[error("an SSE event is longer than {0} bytes")]
struct EventTooLarge(usize);

/// Counts the bytes of the current SSE event (events end at a blank line).
struct EventLimit {
    max: usize,
    current: usize,
    line_start: bool,
}

impl EventLimit {
    /// Whether the event stays within the cap after `chunk`.
    fn observe(&mut self, chunk: &[u8]) -> bool {
        for &b in chunk {
            match b {
                b'\n' if self.line_start => self.current = 0,
                b'\n' => self.line_start = true,
                b'\r' => {}
                _ => {
                    self.line_start = false;
                    self.current += 1;
                    if self.current > self.max {
                        return false;
                    }
                }
            }
        }
        true
    }
}

impl StreamableHttpClient for HttpClient {
    type Error = reqwest::Error;

    async fn get_stream(
        &self,
        uri: Arc<str>,
        session_id: Option<Arc<str>>,
        last_event_id: Option<String>,
        auth_token: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
    ) -> Result<BoxStream<'static, Result<Sse, SseError>>, HttpError> {
        let mut request = self.client.get(uri.as_ref()).header(ACCEPT, EVENT_STREAM_MIME_TYPE);
        if let Some(id) = last_event_id {
            request = request.header(HEADER_LAST_EVENT_ID, id);
        }
        let request = prepare(request, session_id.as_deref(), auth_token, custom_headers);
        let mut response = request.send().await.map_err(client_error)?;
        if response.status() == StatusCode::METHOD_NOT_ALLOWED {
            return Err(StreamableHttpError::ServerDoesNotSupportSse);
        }
        if let Some(failure) = status_failure(&response) {
            return Err(failure);
        }
        if !response.status().is_success() {
            let status = response.status();
            let body = read_prefix(&mut response, 1024).await;
            return Err(StreamableHttpError::UnexpectedServerResponse(Cow::Owned(format!(
                "HTTP {status}: {body}"
            ))));
        }
        let content_type = response.headers().get(CONTENT_TYPE);
        if !media_type_is(content_type, EVENT_STREAM_MIME_TYPE) {
            let found = content_type.map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
            return Err(StreamableHttpError::UnexpectedContentType(found));
        }
        Ok(event_stream(response, MAX_SSE_EVENT))
    }

    async fn delete_session(
        &self,
        uri: Arc<str>,
        session: Arc<str>,
        auth_token: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
    ) -> Result<(), HttpError> {
        let request = prepare(self.client.delete(uri.as_ref()), Some(&session), auth_token, custom_headers);
        let response = request.send().await.map_err(client_error)?;
        if response.status() == StatusCode::METHOD_NOT_ALLOWED {
            tracing::debug!("the MCP server does not support deleting its session");
            return Ok(());
        }
        response.error_for_status().map(drop).map_err(client_error)
    }

    async fn post_message(
        &self,
        uri: Arc<str>,
        message: ClientJsonRpcMessage,
        session_id: Option<Arc<str>>,
        auth_token: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
    ) -> Result<StreamableHttpPostResponse, HttpError> {
        let limits = StreamableHttpResponseLimits::default();
        self.post_message_with_response_limits(uri, message, session_id, auth_token, custom_headers, limits)
            .await
    }

    async fn post_message_with_max_sse_event_size(
        &self,
        uri: Arc<str>,
        message: ClientJsonRpcMessage,
        session_id: Option<Arc<str>>,
        auth_token: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
        max_sse_event_size: usize,
    ) -> Result<StreamableHttpPostResponse, HttpError> {
        let mut limits = StreamableHttpResponseLimits::default();
        limits.max_sse_event_size = max_sse_event_size;
        self.post_message_with_response_limits(uri, message, session_id, auth_token, custom_headers, limits)
            .await
    }

    async fn post_message_with_response_limits(
        &self,
        uri: Arc<str>,
        message: ClientJsonRpcMessage,
        session_id: Option<Arc<str>>,
        auth_token: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
        limits: StreamableHttpResponseLimits,
    ) -> Result<StreamableHttpPostResponse, HttpError> {
        let accept = format!("{EVENT_STREAM_MIME_TYPE}, {JSON_MIME_TYPE}");
        let request = self.client.post(uri.as_ref()).header(ACCEPT, accept).json(&message);
        let has_session = session_id.is_some();
        let request = prepare(request, session_id.as_deref(), auth_token, custom_headers);
        let response = request.send().await.map_err(client_error)?;
        post_response(response, &message, has_session, limits).await
    }
}

/// What a POST's answer means to the transport.
async fn post_response(
    mut response: reqwest::Response,
    message: &ClientJsonRpcMessage,
    has_session: bool,
    limits: StreamableHttpResponseLimits,
) -> Result<StreamableHttpPostResponse, HttpError> {
    let status = response.status();
    if matches!(status, StatusCode::ACCEPTED | StatusCode::NO_CONTENT) {
        return Ok(StreamableHttpPostResponse::Accepted);
    }
    if status == StatusCode::NOT_FOUND && has_session {
        return Err(StreamableHttpError::SessionExpired);
    }
    let session = response.headers().get(HEADER_SESSION_ID).and_then(|v| v.to_str().ok()).map(str::to_string);
    let content_type = response.headers().get(CONTENT_TYPE).cloned();
    let is_json = media_type_is(content_type.as_ref(), JSON_MIME_TYPE);
    let awaits_no_response = !matches!(message, JsonRpcMessage::Request(_));
    if !status.is_success() {
        return failed_post(response, is_json, limits)
            .await
            .map(|m| StreamableHttpPostResponse::Json(m, session));
    }
    if media_type_is(content_type.as_ref(), EVENT_STREAM_MIME_TYPE) {
        return Ok(StreamableHttpPostResponse::Sse(
            event_stream(response, limits.max_sse_event_size),
            session,
        ));
    }
    if is_json {
        let body = read_bounded(&mut response, limits.max_json_response_size).await?;
        return match serde_json::from_slice::<ServerJsonRpcMessage>(&body) {
            Ok(parsed) => Ok(StreamableHttpPostResponse::Json(parsed, session)),
            Err(_) if awaits_no_response => Ok(StreamableHttpPostResponse::Accepted),
            Err(e) => Err(StreamableHttpError::Deserialize(e)),
        };
    }
    if awaits_no_response {
        return Ok(StreamableHttpPostResponse::Accepted);
    }
    let found = content_type.map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    Err(StreamableHttpError::UnexpectedContentType(found))
}

/// A non-success answer to a POST: a JSON-RPC error it carries, else the
/// typed HTTP failure.
async fn failed_post(
    mut response: reqwest::Response,
    is_json: bool,
    limits: StreamableHttpResponseLimits,
) -> Result<ServerJsonRpcMessage, HttpError> {
    let status = response.status();
    let failure = status_failure(&response);
    if matches!(failure, Some(StreamableHttpError::AuthRequired(_)))
        || status == StatusCode::TOO_MANY_REQUESTS
    {
        return Err(failure.expect("checked above"));
    }
    if is_json && let Ok(body) = read_bounded(&mut response, limits.max_json_response_size).await {
        if let Ok(message @ JsonRpcMessage::Error(_)) = serde_json::from_slice::<ServerJsonRpcMessage>(&body)
        {
            return Ok(message);
        }
        if let Some(failure) = failure {
            return Err(failure);
        }
        let body = toolhost_core::text::preview(&String::from_utf8_lossy(&body));
        return Err(StreamableHttpError::UnexpectedServerResponse(Cow::Owned(format!(
            "HTTP {status}: {body}"
        ))));
    }
    if let Some(failure) = failure {
        return Err(failure);
    }
    let body = read_prefix(&mut response, limits.max_error_response_size.min(1024)).await;
    Err(StreamableHttpError::UnexpectedServerResponse(Cow::Owned(format!("HTTP {status}: {body}"))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_measured_between_blank_lines() {
        let mut limit = EventLimit { max: 10, current: 0, line_start: true };
        assert!(limit.observe(b"data: 1234\n\n"));
        assert!(limit.observe(b"data: 12"));
        assert!(limit.observe(b"34\r\n\r\ndata: x\n"));
        assert!(!limit.observe(b"data: 0123456789\n\n"));
    }
}
