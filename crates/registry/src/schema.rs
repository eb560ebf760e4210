//! Tool schemas: parsed once per tool version into a compiled validator.
//!
//! The validator is built without remote `$ref` resolution (the `jsonschema`
//! crate's `resolve-http`/`resolve-file` features are off), so a hostile schema
//! cannot make the host open a connection or read a file.

use serde_json::Value;

/// Largest schema accepted, bytes.
pub const MAX_SCHEMA_BYTES: usize = 256 * 1024;

/// At most this many problems are reported for one call.
const MAX_PROBLEMS: usize = 10;

/// A compiled JSON Schema.
pub struct Schema {
    /// The schema document.
    pub document: Value,
    validator: jsonschema::Validator,
}

impl std::fmt::Debug for Schema {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Schema").field("document", &self.document).finish()
    }
}

impl Schema {
    /// Parses and compiles a schema given as JSON text.
    pub fn compile(text: &str) -> Result<Schema, String> {
        if text.len() > MAX_SCHEMA_BYTES {
            return Err(format!("schema is {} bytes; the limit is {MAX_SCHEMA_BYTES}", text.len()));
        }
        let document: Value =
            serde_json::from_str(text).map_err(|e| format!("schema is not valid JSON: {e}"))?;
        if !(document.is_object() || document.is_boolean()) {
            return Err("schema must be a JSON object or boolean".into());
        }
        let validator =
            jsonschema::validator_for(&document).map_err(|e| format!("schema does not compile: {e}"))?;
        Ok(Schema { document, validator })
    }

    /// Checks `instance`; on failure, one line per problem with its JSON pointer.
    pub fn check(&self, instance: &Value) -> Result<(), Vec<String>> {
        if self.validator.is_valid(instance) {
            return Ok(());
        }
        let problems: Vec<String> = self
            .validator
            .iter_errors(instance)
            .take(MAX_PROBLEMS)
            .map(|e| {
                let at = e.instance_path().to_string();
                if at.is_empty() { format!("at /: {e}") } else { format!("at {at}: {e}") }
            })
            .collect();
        Err(problems)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reports_json_pointer_paths() {
        let s =
            Schema::compile(r#"{"type":"object","properties":{"n":{"type":"integer"}},"required":["n"]}"#)
                .unwrap();
        assert!(s.check(&json!({"n": 3})).is_ok());
        let p = s.check(&json!({"n": "x"})).unwrap_err();
        assert!(p[0].contains("/n"), "{p:?}");
        let p = s.check(&json!({})).unwrap_err();
        assert!(p[0].contains("n"), "{p:?}");
    }

    #[test]
    fn remote_and_file_refs_never_resolve() {
        for r in ["http://169.254.169.254/latest/meta-data", "file:///etc/passwd"] {
            let text = format!(r#"{{"$ref":"{r}"}}"#);
            assert!(Schema::compile(&text).is_err(), "{r} must not resolve");
        }
    }

    #[test]
    fn junk_is_rejected() {
        assert!(Schema::compile("not json").is_err());
        assert!(Schema::compile("42").is_err());
        assert!(Schema::compile(&format!("\"{}\"", "a".repeat(MAX_SCHEMA_BYTES))).is_err());
    }
}
