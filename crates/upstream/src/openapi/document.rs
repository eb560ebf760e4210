//! Loading the OpenAPI document (a URL or a file, JSON or YAML) and finding
//! the API's base URL.

use super::error::ConnectError;
use super::response::{BodyError, read_limited};
use openapiv3::OpenAPI;
use reqwest::Url;
use serde_json::Value;
use std::time::Duration;

/// Largest OpenAPI document read, bytes.
pub(crate) const MAX_DOCUMENT_BYTES: u64 = 16 << 20;

/// A parsed document.
#[derive(Debug)]
pub(crate) struct Document {
    /// The typed view.
    pub(crate) spec: OpenAPI,
    /// The same document as JSON, where local `$ref`s are looked up.
    pub(crate) raw: Value,
    /// Where it was fetched from (relative server URLs are resolved against
    /// it); `None` for a file.
    pub(crate) url: Option<Url>,
}

/// Reads the document at `location`: an `http(s)://` URL fetched with
/// `client` within `timeout`, or a file path.
pub(crate) async fn load(
    client: &reqwest::Client,
    location: &str,
    timeout: Duration,
) -> Result<Document, ConnectError> {
    let fetch_error = |reason: String| ConnectError::Fetch { location: location.to_string(), reason };
    if location.starts_with("http://") || location.starts_with("https://") {
        let url = Url::parse(location).map_err(|e| fetch_error(e.to_string()))?;
        let text = match tokio::time::timeout(timeout, fetch(client, url.clone(), location)).await {
            Ok(text) => text?,
            Err(_) => return Err(fetch_error(format!("no answer within {} ms", timeout.as_millis()))),
        };
        parse(location, &text, Some(url))
    } else {
        let text = read_file(location).await?;
        parse(location, &text, None)
    }
}

/// GETs the document, at most [`MAX_DOCUMENT_BYTES`].
async fn fetch(client: &reqwest::Client, url: Url, location: &str) -> Result<String, ConnectError> {
    let fetch_error = |reason: String| ConnectError::Fetch { location: location.to_string(), reason };
    let accept = "application/json, application/yaml;q=0.9, */*;q=0.5";
    let mut response = client
        .get(url)
        .header(reqwest::header::ACCEPT, accept)
        .send()
        .await
        .map_err(|e| fetch_error(super::response::error_chain(e)))?;
    if !response.status().is_success() {
        return Err(fetch_error(format!("HTTP {}", response.status())));
    }
    match read_limited(&mut response, MAX_DOCUMENT_BYTES).await {
        Ok(bytes) => String::from_utf8(bytes).map_err(|_| fetch_error("the document is not UTF-8".into())),
        Err(BodyError::TooLarge) => {
            Err(ConnectError::TooLarge { location: location.to_string(), limit: MAX_DOCUMENT_BYTES })
        }
        Err(BodyError::Transport(e)) => Err(fetch_error(super::response::error_chain(e))),
    }
}

/// Reads a document file, at most [`MAX_DOCUMENT_BYTES`].
async fn read_file(location: &str) -> Result<String, ConnectError> {
    let fetch_error =
        |e: std::io::Error| ConnectError::Fetch { location: location.to_string(), reason: e.to_string() };
    let len = tokio::fs::metadata(location).await.map_err(fetch_error)?.len();
    if len > MAX_DOCUMENT_BYTES {
        return Err(ConnectError::TooLarge { location: location.to_string(), limit: MAX_DOCUMENT_BYTES });
    }
    tokio::fs::read_to_string(location).await.map_err(fetch_error)
}

/// Parses `text` (JSON when it starts with `{`, YAML otherwise) as an
/// OpenAPI 3.0 document.
pub(crate) fn parse(location: &str, text: &str, url: Option<Url>) -> Result<Document, ConnectError> {
    let parse_error = |reason: String| ConnectError::Parse { location: location.to_string(), reason };
    let raw: Value = if text.trim_start().starts_with('{') {
        serde_json::from_str(text).map_err(|e| parse_error(format!("not JSON: {e}")))?
    } else {
        serde_yaml_ng::from_str(text).map_err(|e| parse_error(format!("not YAML: {e}")))?
    };
    let version = raw.get("openapi").and_then(Value::as_str).unwrap_or_default();
    if !version.starts_with("3.") {
        let found =
            if version.is_empty() { "no `openapi` field".to_string() } else { format!("version {version}") };
        return Err(parse_error(format!("{found}; an OpenAPI 3.0 document is expected")));
    }
    if !version.starts_with("3.0") {
        tracing::warn!(location, version, "OpenAPI document is newer than 3.0; reading it as 3.0");
    }
    let spec: OpenAPI = serde_json::from_value(raw.clone()).map_err(|e| parse_error(e.to_string()))?;
    Ok(Document { spec, raw, url })
}

/// The base URL of the API, without a trailing `/`: `configured`, else the
/// document's first server (its variables set to their defaults, a relative
/// URL resolved against the document's URL); a document without `servers`
/// means `/` (OpenAPI 3.0 §4.7.1), i.e. the origin it was fetched from.
pub(crate) fn base_url(configured: Option<&str>, doc: &Document) -> Result<String, ConnectError> {
    let raw = match configured {
        Some(url) => url.to_string(),
        None => doc.spec.servers.first().map_or_else(|| "/".to_string(), server_url),
    };
    let url = match (Url::parse(&raw), &doc.url) {
        (Ok(url), _) => url,
        (Err(_), Some(doc_url)) => {
            doc_url.join(&raw).map_err(|e| ConnectError::BaseUrl(format!("{raw:?}: {e}")))?
        }
        (Err(e), None) => {
            return Err(ConnectError::BaseUrl(format!(
                "{raw:?} ({e}); a relative server URL needs a document fetched over HTTP, or set `base_url`"
            )));
        }
    };
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(ConnectError::BaseUrl(format!("{raw:?} is not an http(s) URL")));
    }
    Ok(url.as_str().trim_end_matches('/').to_string())
}

/// A server's URL with each `{variable}` replaced by its default.
fn server_url(server: &openapiv3::Server) -> String {
    let mut url = server.url.clone();
    for (name, variable) in server.variables.iter().flatten() {
        url = url.replace(&format!("{{{name}}}"), &variable.default);
    }
    url
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"{"openapi": "3.0.3", "info": {"title": "t", "version": "1"}, "paths": {}"#;

    fn doc(servers: &str, url: Option<&str>) -> Document {
        let text = format!("{MINIMAL}, \"servers\": {servers}}}");
        parse("doc", &text, url.map(|u| Url::parse(u).unwrap())).unwrap()
    }

    #[test]
    fn base_url_from_config_or_servers() {
        let d =
            doc(r#"[{"url": "https://{host}/v1/", "variables": {"host": {"default": "api.test"}}}]"#, None);
        assert_eq!(base_url(None, &d).unwrap(), "https://api.test/v1");
        assert_eq!(base_url(Some("http://127.0.0.1:9/x/"), &d).unwrap(), "http://127.0.0.1:9/x");
        let relative = doc(r#"[{"url": "/api"}]"#, Some("http://h:8/docs/openapi.json"));
        assert_eq!(base_url(None, &relative).unwrap(), "http://h:8/api");
        let from_file = doc(r#"[{"url": "/api"}]"#, None);
        assert!(matches!(base_url(None, &from_file), Err(ConnectError::BaseUrl(_))));
        assert!(matches!(base_url(None, &doc("[]", None)), Err(ConnectError::BaseUrl(_))));
        // No `servers`: `/` of the document's origin.
        assert_eq!(base_url(None, &doc("[]", Some("http://h:8/docs/openapi.json"))).unwrap(), "http://h:8");
        assert!(matches!(base_url(Some("ftp://h/"), &d), Err(ConnectError::BaseUrl(_))));
    }

    #[test]
    fn yaml_with_numeric_status_keys_parses() {
        let yaml = "openapi: 3.0.0\ninfo: {title: t, version: '1'}\npaths:\n  /a:\n    get:\n      operationId: a\n      responses:\n        200:\n          description: ok\n";
        let d = parse("doc.yaml", yaml, None).unwrap();
        assert_eq!(d.spec.paths.paths.len(), 1);
    }

    #[test]
    fn swagger_and_garbage_are_rejected() {
        let swagger = r#"{"swagger": "2.0", "info": {}, "paths": {}}"#;
        let e = parse("s.json", swagger, None).unwrap_err().to_string();
        assert!(e.contains("s.json") && e.contains("OpenAPI 3.0"), "{e}");
        assert!(matches!(parse("g", "{not json", None), Err(ConnectError::Parse { .. })));
        assert!(matches!(parse("g", "openapi: 3.0.0\n", None), Err(ConnectError::Parse { .. })));
    }
}
