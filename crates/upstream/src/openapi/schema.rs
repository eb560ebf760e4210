//! OpenAPI 3.0 schemas as self-contained JSON Schemas: local `$ref`s are
//! inlined (a cyclic one becomes `{}`), `nullable` becomes a `null` type and
//! boolean `exclusiveMinimum`/`exclusiveMaximum` become numeric bounds, so
//! the host's JSON Schema validator accepts them.

use serde_json::{Map, Value, json};

/// Most schema nodes one inlined schema may have; past that, further `$ref`s
/// are left as `{}` (a document whose references fan out must not blow up).
const MAX_NODES: usize = 50_000;

/// Keys whose values are data, not schemas (a `$ref` in them is not followed).
const DATA_KEYS: [&str; 5] = ["example", "examples", "default", "enum", "const"];

/// The value a local reference (`#/components/schemas/Item`) points to in `root`.
pub(crate) fn lookup<'a>(root: &'a Value, reference: &str) -> Option<&'a Value> {
    let pointer = reference.strip_prefix('#')?;
    let pointer = percent_encoding::percent_decode_str(pointer).decode_utf8().ok()?;
    root.pointer(&pointer)
}

/// `schema` with every local `$ref` resolved against `root` and rewritten as
/// plain JSON Schema.
pub(crate) fn inline(root: &Value, schema: &Value) -> Value {
    Inliner { root, stack: Vec::new(), nodes: 0 }.value(schema)
}

/// One inlining pass.
struct Inliner<'a> {
    root: &'a Value,
    /// References being expanded (a reference met again inside itself is a cycle).
    stack: Vec<String>,
    /// Nodes produced so far.
    nodes: usize,
}

impl Inliner<'_> {
    fn value(&mut self, v: &Value) -> Value {
        self.nodes += 1;
        match v {
            Value::Object(map) => match map.get("$ref") {
                Some(Value::String(reference)) => self.reference(reference),
                _ => self.object(map),
            },
            Value::Array(items) => Value::Array(items.iter().map(|x| self.value(x)).collect()),
            other => other.clone(),
        }
    }

    fn object(&mut self, map: &Map<String, Value>) -> Value {
        let mut out = Map::with_capacity(map.len());
        for (key, v) in map {
            let v = if DATA_KEYS.contains(&key.as_str()) { v.clone() } else { self.value(v) };
            out.insert(key.clone(), v);
        }
        normalise(&mut out);
        Value::Object(out)
    }

    fn reference(&mut self, reference: &str) -> Value {
        if self.stack.iter().any(|r| r == reference) {
            tracing::debug!(reference, "cyclic $ref left as {{}}");
            return json!({});
        }
        if self.nodes > MAX_NODES {
            tracing::warn!(reference, "schema too large to inline; $ref left as {{}}");
            return json!({});
        }
        let Some(target) = lookup(self.root, reference) else {
            tracing::warn!(reference, "unresolvable or non-local $ref left as {{}}");
            return json!({});
        };
        self.stack.push(reference.to_string());
        let out = self.value(target);
        self.stack.pop();
        out
    }
}

/// Rewrites OpenAPI 3.0 keywords of one schema object as JSON Schema.
fn normalise(schema: &mut Map<String, Value>) {
    if let Some(nullable) = schema.remove("nullable")
        && nullable == Value::Bool(true)
    {
        add_null(schema);
    }
    for (exclusive, bound) in [("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")] {
        if let Some(Value::Bool(flag)) = schema.get(exclusive).cloned() {
            schema.remove(exclusive);
            if flag && let Some(limit) = schema.remove(bound) {
                schema.insert(exclusive.to_string(), limit);
            }
        }
    }
}

/// Lets a schema accept `null` too.
fn add_null(schema: &mut Map<String, Value>) {
    match schema.get_mut("type") {
        Some(Value::String(t)) => {
            let t = std::mem::take(t);
            schema.insert("type".into(), json!([t, "null"]));
        }
        Some(Value::Array(types)) if !types.contains(&json!("null")) => types.push(json!("null")),
        _ => {}
    }
    if let Some(Value::Array(values)) = schema.get_mut("enum")
        && !values.contains(&Value::Null)
    {
        values.push(Value::Null);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refs_are_inlined_and_cycles_cut() {
        let root = json!({"components": {"schemas": {
            "Item": {"type": "object", "properties": {"id": {"$ref": "#/components/schemas/Id"},
                     "parent": {"$ref": "#/components/schemas/Item"}}},
            "Id": {"type": "string", "example": {"$ref": "not followed"}},
            "a b": {"type": "integer"}
        }}});
        let got = inline(&root, &json!({"$ref": "#/components/schemas/Item"}));
        assert_eq!(got["properties"]["id"], json!({"type": "string", "example": {"$ref": "not followed"}}));
        assert_eq!(got["properties"]["parent"], json!({}), "cyclic ref");
        assert_eq!(inline(&root, &json!({"$ref": "#/components/schemas/a%20b"})), json!({"type": "integer"}));
        assert_eq!(inline(&root, &json!({"$ref": "other.yaml#/X"})), json!({}));
        assert_eq!(inline(&root, &json!({"$ref": "#/components/schemas/Nope"})), json!({}));
    }

    #[test]
    fn the_same_ref_twice_side_by_side_is_no_cycle() {
        let root = json!({"components": {"schemas": {"Id": {"type": "string"}}}});
        let got = inline(
            &root,
            &json!({"type": "array", "items": [
            {"$ref": "#/components/schemas/Id"}, {"$ref": "#/components/schemas/Id"}]}),
        );
        assert_eq!(got["items"], json!([{"type": "string"}, {"type": "string"}]));
    }

    #[test]
    fn openapi_keywords_become_json_schema() {
        let got = inline(
            &json!({}),
            &json!({"type": "integer", "nullable": true, "minimum": 0, "exclusiveMinimum": true,
                     "maximum": 9, "exclusiveMaximum": false, "enum": [1, 2]}),
        );
        assert_eq!(
            got,
            json!({"type": ["integer", "null"], "exclusiveMinimum": 0, "maximum": 9, "enum": [1, 2, null]})
        );
        assert_eq!(
            inline(&json!({}), &json!({"type": "string", "nullable": false})),
            json!({"type": "string"})
        );
    }
}
