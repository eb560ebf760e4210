//! JSON Schema generation and argument parsing.

use schemars::JsonSchema;
use schemars::generate::SchemaSettings;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::ToolError;

/// The JSON Schema (draft 2020-12) of `T` as *deserialised*: what a tool accepts as arguments.
///
/// The schema is self-contained: shared sub-schemas live under `$defs` and are referenced with
/// local `#/$defs/...` pointers only. Doc comments on fields become `description`s, which the
/// model reads: document your argument structs.
pub fn input_schema_for<T: JsonSchema + ?Sized>() -> Value {
    SchemaSettings::draft2020_12().for_deserialize().into_generator().into_root_schema_for::<T>().to_value()
}

/// The JSON Schema (draft 2020-12) of `T` as *serialised*: what a tool returns as its value.
pub fn output_schema_for<T: JsonSchema + ?Sized>() -> Value {
    SchemaSettings::draft2020_12().for_serialize().into_generator().into_root_schema_for::<T>().to_value()
}

/// Arguments of a tool that takes none: accepts any JSON object and ignores its members.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize, JsonSchema)]
pub struct NoArgs {}

/// Parses the JSON `args` of a call into `A`.
///
/// Empty text counts as `{}`. Failures are [`ToolError::invalid_input`] errors whose message
/// names the offending field (``invalid argument `items[2].name`: invalid type: ...``) and whose
/// details carry `path`, `line` and `column`.
pub fn parse_args<A: DeserializeOwned>(args: &str) -> Result<A, ToolError> {
    let text = if args.trim().is_empty() { "{}" } else { args };
    let mut de = serde_json::Deserializer::from_str(text);
    let result = match serde_path_to_error::deserialize::<_, A>(&mut de) {
        Ok(a) => de.end().map(|()| a).map_err(|e| (String::new(), e)),
        Err(e) => Err((e.path().to_string(), e.into_inner())),
    };
    result.map_err(|(path, inner)| {
        let (line, column) = (inner.line(), inner.column());
        let reason = strip_position(&inner);
        let message = if inner.is_syntax() || inner.is_eof() {
            format!("arguments are not valid JSON: {reason} (line {line}, column {column})")
        } else if path == "." || path.is_empty() {
            format!("invalid arguments: {reason}")
        } else {
            format!("invalid argument `{path}`: {reason}")
        };
        let path = if path == "." { String::new() } else { path };
        ToolError::invalid_input(message).details(json!({
            "path": path,
            "line": line,
            "column": column,
        }))
    })
}

/// `serde_json::Error`'s message without its " at line L column C" suffix.
fn strip_position(err: &serde_json::Error) -> String {
    let full = err.to_string();
    let suffix = format!(" at line {} column {}", err.line(), err.column());
    match full.strip_suffix(&suffix) {
        Some(s) => s.to_owned(),
        None => full,
    }
}
