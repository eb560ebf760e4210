//! toolhost example plugin `fetch`: one tool, `web.fetch`, that GETs a URL
//! through `wasi:http`. The host only lets the request out when the plugin's
//! manifest grants the URL's host (`[grants.http] hosts`), cuts the response
//! off at `max_response_bytes`, and bounds the request by the call's deadline.
//!
//! | tool | args | value |
//! |---|---|---|
//! | `web.fetch` | `{"url", "max_chars"?}` | `{"status","content_type","bytes","body","truncated"}` |

use toolhost_sdk::prelude::*;
use wasi::http::outgoing_handler;
use wasi::http::types::{ErrorCode, Fields, Method, OutgoingRequest, Scheme};
use wasi::io::streams::StreamError;

/// Arguments of `web.fetch`.
#[derive(Deserialize, JsonSchema)]
struct FetchArgs {
    /// An absolute `http://` or `https://` URL.
    url: String,
    /// Keep at most this many characters of the body in the result (default 20000).
    #[serde(default)]
    max_chars: Option<usize>,
}

/// Result of `web.fetch`.
#[derive(Serialize, JsonSchema)]
struct Fetched {
    /// HTTP status code.
    status: u16,
    /// The `content-type` header, if any.
    content_type: Option<String>,
    /// Body size in bytes.
    bytes: usize,
    /// The body as text (invalid UTF-8 replaced), cut at `max_chars`.
    body: String,
    /// Whether `body` was cut.
    truncated: bool,
}

struct Target<'a> {
    scheme: Scheme,
    authority: &'a str,
    path: &'a str,
}

fn parse_url(url: &str) -> Result<Target<'_>, ToolError> {
    let bad = || ToolError::invalid_input(format!("`url` must be an absolute http(s) URL, got {url:?}"));
    let (scheme, rest) = url.split_once("://").ok_or_else(bad)?;
    let scheme = match scheme.to_ascii_lowercase().as_str() {
        "http" => Scheme::Http,
        "https" => Scheme::Https,
        _ => return Err(bad()),
    };
    let split = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(split);
    if authority.is_empty() || authority.contains('@') {
        return Err(bad());
    }
    let path = path.split('#').next().unwrap_or("");
    Ok(Target { scheme, authority, path: if path.is_empty() { "/" } else { path } })
}

/// A tool error for an HTTP failure, with what to do about it.
fn http_error(e: &ErrorCode, host: &str) -> ToolError {
    match e {
        ErrorCode::HttpRequestDenied => ToolError::denied(format!(
            "outbound HTTP to {host} is not allowed for this plugin; the operator must list it in [grants.http] hosts"
        )),
        ErrorCode::HttpResponseBodySize(limit) => ToolError::internal(format!(
            "the response from {host} is larger than this plugin may read ({} bytes); ask for a smaller resource",
            limit.map_or("the configured".to_string(), |l| l.to_string())
        ))
        .retryable(false),
        ErrorCode::ConnectionTimeout | ErrorCode::ConnectionReadTimeout | ErrorCode::HttpResponseTimeout => {
            ToolError::transient(format!("{host} did not answer within the call's deadline"))
        }
        ErrorCode::DnsError(_) | ErrorCode::DestinationNotFound => {
            ToolError::not_found(format!("{host} could not be resolved"))
        }
        ErrorCode::ConnectionRefused | ErrorCode::DestinationUnavailable => {
            ToolError::transient(format!("{host} refused the connection"))
        }
        other => ToolError::transient(format!("request to {host} failed: {other:?}")),
    }
}

fn fetch(a: FetchArgs, ctx: &Context) -> Result<Fetched, ToolError> {
    let target = parse_url(&a.url)?;
    let host = target.authority;
    let req = OutgoingRequest::new(Fields::new());
    let invalid = |_| ToolError::invalid_input(format!("invalid URL {:?}", a.url));
    req.set_method(&Method::Get).map_err(invalid)?;
    req.set_scheme(Some(&target.scheme)).map_err(invalid)?;
    req.set_authority(Some(target.authority)).map_err(invalid)?;
    req.set_path_with_query(Some(target.path)).map_err(invalid)?;
    ctx.debug(format!("GET {}", a.url));
    let pending = outgoing_handler::handle(req, None).map_err(|e| http_error(&e, host))?;
    pending.subscribe().block();
    let response = match pending.get() {
        Some(Ok(Ok(r))) => r,
        Some(Ok(Err(e))) => return Err(http_error(&e, host)),
        Some(Err(())) | None => return Err(ToolError::internal("the response future was already taken")),
    };
    let status = response.status();
    let content_type = response
        .headers()
        .get("content-type")
        .into_iter()
        .next()
        .map(|v| String::from_utf8_lossy(&v).into_owned());
    let body = response.consume().map_err(|()| ToolError::internal("response body already consumed"))?;
    let mut bytes = Vec::new();
    {
        let stream = body.stream().map_err(|()| ToolError::internal("response body stream already taken"))?;
        loop {
            match stream.blocking_read(64 * 1024) {
                Ok(chunk) => bytes.extend_from_slice(&chunk),
                Err(StreamError::Closed) => break,
                Err(StreamError::LastOperationFailed(err)) => {
                    // First line only: a debug string may carry a host backtrace.
                    let text = err.to_debug_string().lines().next().unwrap_or("").to_string();
                    return Err(match wasi::http::types::http_error_code(&err) {
                        Some(code) => http_error(&code, host),
                        // The host cut a body with no declared length off at the cap.
                        None if text.contains("body size") => {
                            ToolError::internal(format!("the response from {host} is too large: {text}"))
                                .retryable(false)
                        }
                        None => ToolError::transient(format!("reading the body from {host} failed: {text}")),
                    });
                }
            }
        }
    }
    drop(body);
    let max_chars = a.max_chars.unwrap_or(20_000);
    let text = String::from_utf8_lossy(&bytes);
    let truncated = text.chars().count() > max_chars;
    let body: String = text.chars().take(max_chars).collect();
    Ok(Fetched { status, content_type, bytes: bytes.len(), body, truncated })
}

toolhost_sdk::plugin! {
    tool(
        "web.fetch",
        "Fetch a web page or API response with HTTP GET and return its status and body as text. \
         Only hosts the operator allowed can be reached.",
        fetch,
    )
    // A GET changes nothing here but reaches the open web; the page may change between
    // calls, so it is not marked idempotent (no caching).
    .title("Fetch URL")
    .read_only()
    .open_world()
    .output_schema(),
}
