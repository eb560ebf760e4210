//! The tools of a document: one per operation with an `operationId`, its
//! input schema built from the parameters and the JSON request body, its
//! output schema from the first 2xx JSON response.

use super::document::Document;
use super::error::ConnectError;
use super::response::is_json;
use super::schema::{inline, lookup};
use crate::UpstreamTool;
use openapiv3::{
    Parameter, ParameterSchemaOrContent, PathItem, ReferenceOr, RequestBody, Response, Responses, StatusCode,
};
use reqwest::Method;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};
use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;

/// Longest chain of references to references followed.
const MAX_REF_HOPS: usize = 16;

/// Header parameters the OpenAPI specification says to ignore.
const IGNORED_HEADERS: [&str; 3] = ["accept", "content-type", "authorization"];

/// Where a parameter goes in the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Location {
    /// A `{name}` segment of the path.
    Path,
    /// The query string.
    Query,
    /// A request header.
    Header,
}

/// One parameter of an operation (its argument has the same name).
#[derive(Debug, Clone)]
pub(crate) struct Param {
    /// The parameter's (and argument's) name.
    pub(crate) name: String,
    /// Where it goes.
    pub(crate) location: Location,
    /// A query array is sent as repeated keys (else comma-joined).
    pub(crate) explode: bool,
}

/// One operation, ready to be called.
#[derive(Debug)]
pub(crate) struct Operation {
    /// The tool it is offered as.
    pub(crate) tool: Arc<UpstreamTool>,
    /// The HTTP method.
    pub(crate) method: Method,
    /// The path template (`/items/{id}`).
    pub(crate) path: String,
    /// Its parameters.
    pub(crate) params: Vec<Param>,
    /// It takes a JSON request body (the `body` argument).
    pub(crate) has_body: bool,
}

/// A parameter or the body as a property of the input schema.
struct Input {
    name: String,
    required: bool,
    schema: Value,
    /// `None` for the request body.
    param: Option<Param>,
}

/// Where an operation is and what it is called.
struct Site<'a> {
    source: &'a str,
    tool: String,
    path: &'a str,
    method: &'a str,
}

/// `<source>.<operationId>` with characters outside `A–Z a–z 0–9 _ . -`
/// replaced by `_`, at most 64 characters.
pub(crate) fn tool_name(source: &str, operation_id: &str) -> String {
    let mut name: String = format!("{source}.{operation_id}")
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-') { c } else { '_' })
        .collect();
    name.truncate(64);
    name
}

/// The operations of `doc` as tools of `source`. Operations without an
/// `operationId`, or that cannot be called (an unresolvable parameter, a
/// body that is required but not JSON), are skipped with a warning; two
/// operations with the same tool name are an error.
pub(crate) fn build(source: &str, doc: &Document) -> Result<Vec<Operation>, ConnectError> {
    let mut seen: HashMap<String, String> = HashMap::new();
    let mut operations = Vec::new();
    for (path, item) in doc.spec.paths.iter() {
        let item: Cow<'_, PathItem> = match resolve(&doc.raw, item) {
            Ok(item) => item,
            Err(reason) => {
                tracing::warn!(upstream = source, path, reason, "OpenAPI path item skipped");
                continue;
            }
        };
        for (method, op) in item.iter() {
            let at = format!("{} {path}", method.to_ascii_uppercase());
            let Some(id) = op.operation_id.as_deref() else {
                tracing::warn!(
                    upstream = source,
                    operation = at,
                    "OpenAPI operation without operationId skipped"
                );
                continue;
            };
            let tool = tool_name(source, id);
            if let Some(first) = seen.insert(tool.clone(), at.clone()) {
                return Err(ConnectError::DuplicateOperation { id: id.into(), tool, first, second: at });
            }
            let site = Site { source, tool, path, method };
            match operation(&doc.raw, &site, &item, op) {
                Ok(o) => operations.push(o),
                Err(reason) => {
                    tracing::warn!(upstream = source, operation = at, reason, "OpenAPI operation skipped")
                }
            }
        }
    }
    Ok(operations)
}

/// One operation as a tool.
fn operation(
    raw: &Value,
    site: &Site<'_>,
    item: &PathItem,
    op: &openapiv3::Operation,
) -> Result<Operation, String> {
    let mut inputs = parameters(raw, &item.parameters, &op.parameters)?;
    for name in placeholders(site.path) {
        let declared = inputs
            .iter()
            .any(|i| i.param.as_ref().is_some_and(|p| p.location == Location::Path && p.name == name));
        if !declared {
            return Err(format!("path parameter {name:?} is not declared"));
        }
    }
    inputs.extend(request_body(raw, op.request_body.as_ref())?);
    let input_schema = input_schema(&inputs)?;
    let tool = UpstreamTool {
        name: site.tool.clone(),
        source: site.source.to_string(),
        remote_name: op.operation_id.clone().unwrap_or_default(),
        description: description(op, item, site),
        input_schema,
        output_schema: output_schema(raw, &op.responses),
        idempotent: idempotent(site.method, op.extensions.get("x-idempotent")),
    };
    let method =
        Method::from_bytes(site.method.to_ascii_uppercase().as_bytes()).map_err(|e| e.to_string())?;
    let has_body = inputs.iter().any(|i| i.param.is_none());
    let params = inputs.into_iter().filter_map(|i| i.param).collect();
    Ok(Operation { tool: Arc::new(tool), method, path: site.path.to_string(), params, has_body })
}

/// The names of the `{name}` segments of a path template.
pub(crate) fn placeholders(path: &str) -> impl Iterator<Item = &str> {
    path.split('{').skip(1).filter_map(|rest| rest.split_once('}').map(|(name, _)| name))
}

/// `item`, or what the local reference it is points to (following chains).
pub(crate) fn resolve<'a, T: DeserializeOwned + Clone>(
    raw: &Value,
    item: &'a ReferenceOr<T>,
) -> Result<Cow<'a, T>, String> {
    let mut reference = match item {
        ReferenceOr::Item(item) => return Ok(Cow::Borrowed(item)),
        ReferenceOr::Reference { reference } => reference.clone(),
    };
    for _ in 0..MAX_REF_HOPS {
        let target = lookup(raw, &reference).ok_or_else(|| format!("cannot resolve $ref {reference:?}"))?;
        match target.get("$ref").and_then(Value::as_str) {
            Some(next) => reference = next.to_string(),
            None => {
                return serde_json::from_value(target.clone())
                    .map(Cow::Owned)
                    .map_err(|e| format!("$ref {reference:?}: {e}"));
            }
        }
    }
    Err(format!("$ref chain too long at {reference:?}"))
}

/// The path item's parameters, then the operation's (which override a
/// path-level one of the same name and location). Cookies are not sent.
fn parameters(
    raw: &Value,
    path_level: &[ReferenceOr<Parameter>],
    operation_level: &[ReferenceOr<Parameter>],
) -> Result<Vec<Input>, String> {
    let mut inputs: Vec<Input> = Vec::new();
    for p in path_level.iter().chain(operation_level) {
        let Some(input) = parameter(raw, resolve(raw, p)?.into_owned()) else { continue };
        let same = |i: &Input| {
            let (a, b) = (i.param.as_ref(), input.param.as_ref());
            a.zip(b).is_some_and(|(a, b)| a.name == b.name && a.location == b.location)
        };
        match inputs.iter().position(same) {
            Some(at) => inputs[at] = input,
            None => inputs.push(input),
        }
    }
    Ok(inputs)
}

/// One parameter as an input (`None` for what is not sent: cookies and the
/// headers the specification says to ignore).
fn parameter(raw: &Value, p: Parameter) -> Option<Input> {
    let (location, default_explode) = match &p {
        Parameter::Query { .. } => (Location::Query, true),
        Parameter::Header { .. } => (Location::Header, false),
        Parameter::Path { .. } => (Location::Path, false),
        Parameter::Cookie { parameter_data, .. } => {
            tracing::debug!(parameter = parameter_data.name, "cookie parameter not supported; not offered");
            return None;
        }
    };
    let data = p.parameter_data();
    if location == Location::Header && IGNORED_HEADERS.contains(&data.name.to_ascii_lowercase().as_str()) {
        return None;
    }
    let schema = match &data.format {
        ParameterSchemaOrContent::Schema(s) => Some(s),
        ParameterSchemaOrContent::Content(content) => content.values().next().and_then(|m| m.schema.as_ref()),
    };
    let schema = with_description(schema_json(raw, schema), data.description.as_deref());
    let param = Param { name: data.name.clone(), location, explode: data.explode.unwrap_or(default_explode) };
    Some(Input {
        name: data.name,
        required: data.required || location == Location::Path,
        schema,
        param: Some(param),
    })
}

/// The JSON request body as the `body` input (an error when the body is
/// required but has no JSON media type).
fn request_body(raw: &Value, body: Option<&ReferenceOr<RequestBody>>) -> Result<Option<Input>, String> {
    let Some(body) = body else { return Ok(None) };
    let body = resolve(raw, body)?;
    match body.content.iter().find(|(media_type, _)| is_json(media_type)) {
        Some((_, media)) => {
            let schema =
                with_description(schema_json(raw, media.schema.as_ref()), body.description.as_deref());
            Ok(Some(Input { name: "body".into(), required: body.required, schema, param: None }))
        }
        None if body.required => {
            let types: Vec<&str> = body.content.keys().map(String::as_str).collect();
            Err(format!("its required request body is not JSON ({})", types.join(", ")))
        }
        None => Ok(None),
    }
}

/// An object schema with one property per input.
fn input_schema(inputs: &[Input]) -> Result<Value, String> {
    let mut properties = Map::new();
    let mut required = Vec::new();
    for input in inputs {
        if properties.insert(input.name.clone(), input.schema.clone()).is_some() {
            return Err(format!("two inputs are named {:?}", input.name));
        }
        if input.required {
            required.push(Value::String(input.name.clone()));
        }
    }
    Ok(
        json!({ "type": "object", "properties": properties, "required": required, "additionalProperties": false }),
    )
}

/// The JSON schema of the first (lowest) 2xx response with JSON content.
fn output_schema(raw: &Value, responses: &Responses) -> Option<Value> {
    let rank = |code: &StatusCode| match code {
        StatusCode::Code(c) if (200..300).contains(c) => Some(*c),
        StatusCode::Range(2) => Some(300),
        _ => None,
    };
    let (_, response) = responses
        .responses
        .iter()
        .filter_map(|(code, r)| rank(code).map(|at| (at, r)))
        .min_by_key(|(at, _)| *at)?;
    let response: Cow<'_, Response> =
        resolve(raw, response).inspect_err(|reason| tracing::warn!(reason, "response skipped")).ok()?;
    let (_, media) = response.content.iter().find(|(media_type, _)| is_json(media_type))?;
    media.schema.as_ref().map(|s| schema_json(raw, Some(s)))
}

/// A schema (or a reference to one) as inlined JSON Schema; `{}` when absent.
fn schema_json(raw: &Value, schema: Option<&ReferenceOr<openapiv3::Schema>>) -> Value {
    match schema.map(serde_json::to_value) {
        Some(Ok(v)) => inline(raw, &v),
        _ => json!({}),
    }
}

/// Adds `description` to an object schema that has none.
fn with_description(mut schema: Value, description: Option<&str>) -> Value {
    if let (Some(text), Value::Object(map)) = (description, &mut schema) {
        map.entry("description").or_insert_with(|| text.into());
    }
    schema
}

/// The operation's summary and description (else the path item's, else
/// `METHOD /path`).
fn description(op: &openapiv3::Operation, item: &PathItem, site: &Site<'_>) -> String {
    let parts = |summary: &Option<String>, description: &Option<String>| {
        let texts: Vec<&str> = [summary, description].into_iter().flatten().map(|s| s.trim()).collect();
        let mut texts: Vec<&str> = texts.into_iter().filter(|s| !s.is_empty()).collect();
        texts.dedup();
        texts.join("\n\n")
    };
    [parts(&op.summary, &op.description), parts(&item.summary, &item.description)]
        .into_iter()
        .find(|text| !text.is_empty())
        .unwrap_or_else(|| format!("{} {}", site.method.to_ascii_uppercase(), site.path))
}

/// GET, HEAD, PUT, DELETE, OPTIONS and TRACE are idempotent by HTTP
/// semantics, POST and PATCH are not; `x-idempotent: true|false` overrides.
fn idempotent(method: &str, x_idempotent: Option<&Value>) -> bool {
    let by_method = matches!(method, "get" | "head" | "put" | "delete" | "options" | "trace");
    x_idempotent.and_then(Value::as_bool).unwrap_or(by_method)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::openapi::document::parse;

    fn tools(paths: Value) -> Result<Vec<Operation>, ConnectError> {
        let doc = json!({"openapi": "3.0.3", "info": {"title": "t", "version": "1"}, "paths": paths,
            "components": {"parameters": {"Id": {"name": "id", "in": "path", "required": true,
                                                  "schema": {"type": "integer"}}}}});
        build("api", &parse("doc", &doc.to_string(), None).unwrap())
    }

    #[test]
    fn names_are_sanitised_and_bounded() {
        assert_eq!(tool_name("api", "get item/{id}"), "api.get_item__id_");
        assert_eq!(tool_name("api", &"x".repeat(100)).len(), 64);
    }

    #[test]
    fn idempotency_follows_the_method_unless_the_document_says() {
        let ops = tools(json!({"/a": {
            "get": {"operationId": "g", "responses": {}},
            "post": {"operationId": "p", "responses": {}},
            "put": {"operationId": "u", "x-idempotent": false, "responses": {}},
            "patch": {"operationId": "pa", "x-idempotent": true, "responses": {}},
            "delete": {"responses": {}}}}))
        .unwrap();
        let got: Vec<(&str, bool)> = ops.iter().map(|o| (o.tool.name.as_str(), o.tool.idempotent)).collect();
        assert_eq!(got, [("api.g", true), ("api.u", false), ("api.p", false), ("api.pa", true)]);
        assert_eq!(ops[0].tool.description, "GET /a");
    }

    #[test]
    fn path_level_parameters_are_merged_and_overridden() {
        let ops = tools(json!({"/a/{id}": {
            "parameters": [{"$ref": "#/components/parameters/Id"},
                           {"name": "v", "in": "query", "schema": {"type": "string"}}],
            "get": {"operationId": "g", "responses": {},
                    "parameters": [{"name": "v", "in": "query", "required": true, "schema": {"type": "integer"}},
                                   {"name": "c", "in": "cookie", "schema": {"type": "string"}}]}}}))
        .unwrap();
        let schema = &ops[0].tool.input_schema;
        assert_eq!(schema["properties"]["id"], json!({"type": "integer"}));
        assert_eq!(schema["properties"]["v"], json!({"type": "integer"}));
        assert_eq!(schema["required"], json!(["id", "v"]));
        assert!(schema["properties"].get("c").is_none(), "cookies are not offered");
    }

    #[test]
    fn uncallable_operations_are_skipped_and_duplicates_refused() {
        let ops = tools(json!({
            "/a/{id}": {"get": {"operationId": "undeclared", "responses": {}}},
            "/b": {"post": {"operationId": "form", "responses": {},
                   "requestBody": {"required": true, "content": {"application/x-www-form-urlencoded": {}}}}},
            "/c": {"post": {"operationId": "clash", "responses": {},
                   "parameters": [{"name": "body", "in": "query", "schema": {}}],
                   "requestBody": {"content": {"application/json": {"schema": {}}}}}},
            "/d": {"get": {"operationId": "ok", "responses": {}}}}))
        .unwrap();
        assert_eq!(ops.iter().map(|o| o.tool.name.as_str()).collect::<Vec<_>>(), ["api.ok"]);
        let dup = tools(json!({"/a": {"get": {"operationId": "x y", "responses": {}}},
                               "/b": {"get": {"operationId": "x_y", "responses": {}}}}));
        let e = dup.err().unwrap().to_string();
        assert!(e.contains("api.x_y") && e.contains("GET /a") && e.contains("GET /b"), "{e}");
    }
}
