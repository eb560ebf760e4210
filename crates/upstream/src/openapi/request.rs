//! Building one HTTP request from a call: path parameters substituted
//! (percent-encoded), query and header parameters, the JSON `body`, the
//! configured headers and the call's context headers.

use super::operations::{Location, Operation};
use crate::UpstreamCall;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use reqwest::header::{ACCEPT, HeaderMap, HeaderName, HeaderValue};
use reqwest::{Client, RequestBuilder, Url};
use serde_json::{Map, Value};
use std::time::Instant;
use toolhost_core::Error;
use toolhost_core::context::DEADLINE_HEADER;

/// The call's id, sent with every request (stable across retries).
pub const CALL_ID_HEADER: &str = "X-Call-ID";

/// What stays unencoded in a path segment: RFC 3986 unreserved characters.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

/// The request of `call` to `op` at `base_url` (no trailing `/`). Arguments
/// that cannot be put into the request are the caller's
/// [`Error::InvalidArguments`]; nothing is sent then.
pub(crate) fn build(
    client: &Client,
    base_url: &str,
    configured: &HeaderMap,
    op: &Operation,
    call: &UpstreamCall<'_>,
) -> Result<RequestBuilder, Error> {
    let invalid =
        |problem: String| Error::InvalidArguments { tool: call.tool.name.clone(), problems: vec![problem] };
    let empty = Map::new();
    let args = match call.args {
        Value::Object(args) => args,
        Value::Null => &empty,
        _ => return Err(invalid("the arguments must be a JSON object".into())),
    };
    let path = render_path(&op.path, args).map_err(invalid)?;
    let separator = if path.starts_with('/') { "" } else { "/" };
    let url =
        Url::parse(&format!("{base_url}{separator}{path}")).map_err(|e| invalid(format!("bad URL: {e}")))?;
    let mut headers = HeaderMap::new();
    headers.insert(ACCEPT, HeaderValue::from_static("application/json, */*;q=0.5"));
    headers.extend(param_headers(op, args).map_err(invalid)?);
    headers.extend(configured.clone());
    headers.extend(context_headers(call));
    let mut request = client.request(op.method.clone(), url).headers(headers).query(&query_pairs(op, args));
    if op.has_body
        && let Some(body) = args.get("body")
    {
        request = request.json(body);
    }
    Ok(request)
}

/// The path template with each `{name}` replaced by its argument,
/// percent-encoded as one segment.
fn render_path(template: &str, args: &Map<String, Value>) -> Result<String, String> {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some((before, after)) = rest.split_once('{') {
        let Some((name, after)) = after.split_once('}') else { break };
        out.push_str(before);
        let value =
            args.get(name).and_then(text).ok_or_else(|| format!("path parameter {name:?} is missing"))?;
        if matches!(value.as_str(), "" | "." | "..") {
            return Err(format!("path parameter {name:?} must not be empty, \".\" or \"..\""));
        }
        out.extend(utf8_percent_encode(&value, SEGMENT));
        rest = after;
    }
    out.push_str(rest);
    Ok(out)
}

/// The query parameters given; an array is sent as repeated keys when the
/// parameter explodes (the default), else comma-joined.
fn query_pairs(op: &Operation, args: &Map<String, Value>) -> Vec<(String, String)> {
    let mut pairs = Vec::new();
    for p in op.params.iter().filter(|p| p.location == Location::Query) {
        match args.get(&p.name) {
            Some(Value::Array(items)) if p.explode => {
                pairs.extend(items.iter().filter_map(text).map(|v| (p.name.clone(), v)));
            }
            Some(v) => pairs.extend(text(v).map(|v| (p.name.clone(), v))),
            None => {}
        }
    }
    pairs
}

/// The header parameters given.
fn param_headers(op: &Operation, args: &Map<String, Value>) -> Result<HeaderMap, String> {
    let mut headers = HeaderMap::new();
    for p in op.params.iter().filter(|p| p.location == Location::Header) {
        let Some(value) = args.get(&p.name).and_then(text) else { continue };
        let bad = || format!("header parameter {:?} holds characters a header cannot carry", p.name);
        let name = HeaderName::from_bytes(p.name.as_bytes()).map_err(|_| bad())?;
        headers.insert(name, HeaderValue::from_str(&value).map_err(|_| bad())?);
    }
    Ok(headers)
}

/// The context's propagation headers (request and correlation ids, trace
/// context), the call's remaining time as `X-Deadline-Seconds` (rounded up)
/// and its id as [`CALL_ID_HEADER`].
fn context_headers(call: &UpstreamCall<'_>) -> HeaderMap {
    let left = call.ctx.remaining(Instant::now()).map_or(call.timeout, |left| left.min(call.timeout));
    let seconds = left.as_secs() + u64::from(left.subsec_nanos() > 0);
    let mut pairs: Vec<(&str, String)> = call.ctx.outbound_headers();
    pairs.push((DEADLINE_HEADER, seconds.to_string()));
    pairs.push((CALL_ID_HEADER, call.call_id.to_string()));
    let mut headers = HeaderMap::new();
    for (name, value) in pairs {
        if let (Ok(name), Ok(value)) =
            (HeaderName::from_bytes(name.as_bytes()), HeaderValue::from_str(&value))
        {
            headers.insert(name, value);
        }
    }
    headers
}

/// An argument as parameter text: a scalar as is, an array's items
/// comma-joined, an object as JSON; `None` for `null`.
fn text(v: &Value) -> Option<String> {
    match v {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        Value::Array(items) => Some(items.iter().filter_map(text).collect::<Vec<_>>().join(",")),
        other => Some(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn args(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn path_parameters_are_encoded_as_one_segment() {
        let got = render_path("/items/{id}/parts/{n}", &args(json!({"id": "a/b c?#%", "n": 7}))).unwrap();
        assert_eq!(got, "/items/a%2Fb%20c%3F%23%25/parts/7");
        assert_eq!(render_path("/x/{id}", &args(json!({"id": "é"}))).unwrap(), "/x/%C3%A9");
        assert!(render_path("/x/{id}", &args(json!({}))).unwrap_err().contains("missing"));
        for bad in ["..", ".", ""] {
            assert!(render_path("/x/{id}", &args(json!({"id": bad}))).is_err(), "{bad:?}");
        }
        assert_eq!(render_path("/x/{id}", &args(json!({"id": ["a", "b"]}))).unwrap(), "/x/a%2Cb");
    }

    #[test]
    fn arguments_as_text() {
        assert_eq!(text(&json!(null)), None);
        assert_eq!(text(&json!(true)).as_deref(), Some("true"));
        assert_eq!(text(&json!(1.5)).as_deref(), Some("1.5"));
        assert_eq!(text(&json!({"a": 1})).as_deref(), Some(r#"{"a":1}"#));
    }
}
