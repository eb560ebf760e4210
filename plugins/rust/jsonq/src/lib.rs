//! toolhost example plugin `jsonq`: query and check JSON documents.
//!
//! | tool | args | value |
//! |---|---|---|
//! | `json.query` | `{"document" or "document_text", "path"}` | `{"value","matches","pointers"}` |
//! | `json.validate` | `{"text"}` | `{"valid","kind"?,"error"?,"line"?,"column"?}` |
//!
//! Paths are either a JSON Pointer (RFC 6901: `""`, `/items/0/name`, `~1` for `/`, `~0` for
//! `~`) or a dotted path: `items[0].name`, `$.items[*].name`, `a["key.with.dots"]`, `a.*`,
//! `items[-1]` (last element).

mod path;

use toolhost_sdk::prelude::*;

use path::{Selector, parse_path};

/// Arguments of `json.query`.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct QueryArgs {
    /// The JSON document to query (any JSON value). Give this or `document_text`.
    #[serde(default)]
    document: Option<Value>,
    /// The document as JSON text, when you have it as a string. Give this or `document`.
    #[serde(default)]
    document_text: Option<String>,
    /// Where to look: a JSON Pointer starting with `/` (`/items/0/name`; `""` is the whole
    /// document) or a dotted path (`items[0].name`, `$.items[*].name`, `a["x.y"]`, `a.*`,
    /// `items[-1]`). `[*]` and `.*` select every element and make the value an array.
    path: String,
}

/// Result of `json.query`.
#[derive(Debug, Serialize, JsonSchema)]
struct QueryResult {
    /// The selected value; with a wildcard, the array of every match.
    value: Value,
    /// How many values matched (1 without a wildcard).
    matches: usize,
    /// The JSON Pointer of each match.
    pointers: Vec<String>,
}

fn query(a: QueryArgs, _ctx: &Context) -> Result<QueryResult, ToolError> {
    let doc = match (a.document, a.document_text) {
        (Some(d), None) => d,
        (None, Some(text)) => serde_json::from_str(&text).map_err(|e| {
            ToolError::invalid_input(format!("`document_text` is not valid JSON: {e}"))
                .details(json!({ "line": e.line(), "column": e.column() }))
        })?,
        (Some(_), Some(_)) => {
            return Err(ToolError::invalid_input("give either `document` or `document_text`, not both"));
        }
        (None, None) => {
            return Err(ToolError::invalid_input(
                "missing document: give `document` (JSON value) or `document_text` (JSON text)",
            ));
        }
    };
    let selectors = parse_path(&a.path)?;
    let wildcard = selectors.iter().any(Selector::is_wildcard);
    let found = path::select(&doc, &selectors)?;
    let pointers = found.iter().map(|(p, _)| p.clone()).collect();
    let matches = found.len();
    let value = if wildcard {
        Value::Array(found.into_iter().map(|(_, v)| v.clone()).collect())
    } else {
        found.into_iter().next().map(|(_, v)| v.clone()).unwrap_or(Value::Null)
    };
    Ok(QueryResult { value, matches, pointers })
}

/// Arguments of `json.validate`.
#[derive(Deserialize, JsonSchema)]
struct ValidateArgs {
    /// The text to check.
    text: String,
}

/// Result of `json.validate`.
#[derive(Debug, PartialEq, Serialize, JsonSchema)]
struct Validation {
    /// Whether `text` is one well-formed JSON value.
    valid: bool,
    /// For valid JSON, the type of the top-level value: object, array, string, number, boolean
    /// or null.
    #[serde(skip_serializing_if = "Option::is_none")]
    kind: Option<&'static str>,
    /// For invalid JSON, what is wrong.
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    /// For invalid JSON, the 1-based line of the error.
    #[serde(skip_serializing_if = "Option::is_none")]
    line: Option<usize>,
    /// For invalid JSON, the 1-based column of the error.
    #[serde(skip_serializing_if = "Option::is_none")]
    column: Option<usize>,
}

fn validate(a: ValidateArgs, _ctx: &Context) -> Result<Validation, ToolError> {
    Ok(match serde_json::from_str::<Value>(&a.text) {
        Ok(v) => Validation {
            valid: true,
            kind: Some(match v {
                Value::Null => "null",
                Value::Bool(_) => "boolean",
                Value::Number(_) => "number",
                Value::String(_) => "string",
                Value::Array(_) => "array",
                Value::Object(_) => "object",
            }),
            error: None,
            line: None,
            column: None,
        },
        Err(e) => {
            let full = e.to_string();
            let suffix = format!(" at line {} column {}", e.line(), e.column());
            Validation {
                valid: false,
                kind: None,
                error: Some(full.strip_suffix(&suffix).unwrap_or(&full).to_owned()),
                line: Some(e.line()),
                column: Some(e.column()),
            }
        }
    })
}

toolhost_sdk::plugin! {
    tool("json.query", "Select values from a JSON document with a JSON Pointer (/a/0/b) or a dotted path (a[0].b, a[*].b).", query)
        .title("Query JSON")
        .read_only()
        .idempotent()
        .output_schema(),
    tool("json.validate", "Check whether a text is well-formed JSON; report the error position if not.", validate)
        .title("Validate JSON")
        .read_only()
        .idempotent()
        .output_schema(),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(name: &str, args: Value) -> Result<Value, ToolError> {
        plugin_registry()
            .call(name, &args.to_string(), &Context::new("t"))
            .map(|o| o.value().cloned().unwrap_or(Value::Null))
    }

    fn doc() -> Value {
        json!({
            "store": {
                "books": [
                    {"title": "A", "price": 8, "tags": ["x"]},
                    {"title": "B", "price": 12},
                ],
                "a/b": 1,
                "m~n": 2,
                "key.with.dots": true,
            }
        })
    }

    fn q(path: &str) -> Result<Value, ToolError> {
        call("json.query", json!({"document": doc(), "path": path}))
    }

    #[test]
    fn pointers() {
        assert_eq!(q("").unwrap()["value"], doc());
        assert_eq!(q("/store/books/1/title").unwrap()["value"], "B");
        assert_eq!(q("/store/a~1b").unwrap()["value"], 1);
        assert_eq!(q("/store/m~0n").unwrap()["value"], 2);
        let r = q("/store/books/0").unwrap();
        assert_eq!(r["matches"], 1);
        assert_eq!(r["pointers"], json!(["/store/books/0"]));
    }

    #[test]
    fn dotted_paths() {
        assert_eq!(q("store.books[0].title").unwrap()["value"], "A");
        assert_eq!(q("$.store.books[-1].price").unwrap()["value"], 12);
        assert_eq!(q("$").unwrap()["value"], doc());
        assert_eq!(q(r#"store["key.with.dots"]"#).unwrap()["value"], true);
        assert_eq!(q("store['a/b']").unwrap()["value"], 1);
        let r = q("store.books[*].title").unwrap();
        assert_eq!(r["value"], json!(["A", "B"]));
        assert_eq!(r["matches"], 2);
        assert_eq!(r["pointers"], json!(["/store/books/0/title", "/store/books/1/title"]));
        // Wildcards skip elements without the key.
        assert_eq!(q("store.books[*].tags[0]").unwrap()["value"], json!(["x"]));
        assert_eq!(q("store.books.*.price").unwrap()["value"], json!([8, 12]));
        assert_eq!(q("store.nothing[*]").unwrap_err().kind(), ErrorKind::NotFound);
    }

    #[test]
    fn not_found_errors() {
        let e = q("/store/books/5").unwrap_err();
        assert_eq!(e.kind(), ErrorKind::NotFound);
        assert!(e.message().contains("out of range"), "{}", e.message());
        let e = q("store.bookz").unwrap_err();
        assert_eq!(e.kind(), ErrorKind::NotFound);
        assert!(e.message().contains("`bookz`"), "{}", e.message());
        assert!(e.message().contains("books"), "{}", e.message());
        let e = q("store.books[0].title.x").unwrap_err();
        assert_eq!(e.kind(), ErrorKind::NotFound);
        assert_eq!(q("/store/books/-").unwrap_err().kind(), ErrorKind::NotFound);
    }

    #[test]
    fn invalid_paths() {
        for p in [
            "/store/books/01",
            "/a~2",
            "store..books",
            "store.books[",
            "store.books[x]",
            "store[\"open",
            "a b",
        ] {
            let e = q(p).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::InvalidInput, "{p}: {}", e.message());
        }
    }

    #[test]
    fn document_text_and_arg_errors() {
        let r = call("json.query", json!({"document_text": "[1,[2,3]]", "path": "[1][0]"})).unwrap();
        assert_eq!(r["value"], 2);
        let e = call("json.query", json!({"document_text": "[1,", "path": ""})).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput);
        let e = call("json.query", json!({"path": ""})).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput);
        let e = call("json.query", json!({"document": 1, "document_text": "1", "path": ""})).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput);
    }

    #[test]
    fn validate_reports_position() {
        assert_eq!(
            call("json.validate", json!({"text": "{\"a\": [1, 2]}"})).unwrap(),
            json!({"valid": true, "kind": "object"})
        );
        assert_eq!(
            call("json.validate", json!({"text": "{\"a\": [1, 2}"})).unwrap(),
            json!({"valid": false, "error": "expected `,` or `]`", "line": 1, "column": 12})
        );
    }
}
