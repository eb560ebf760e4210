//! `{"$ref": "CALL_ID#/json/pointer"}` in call arguments: a reference to part
//! of a dependency's result (`{"ok", "value", "content", "error", …}`),
//! replaced just before the call runs.

use serde_json::Value;
use std::collections::HashMap;

/// Every `$ref` string inside `v`.
pub(crate) fn references(v: &Value) -> Vec<&str> {
    let mut out = Vec::new();
    walk(v, &mut out);
    out
}

fn walk<'a>(v: &'a Value, out: &mut Vec<&'a str>) {
    match v {
        Value::Object(m) => match as_ref(v) {
            Some(r) => out.push(r),
            None => m.values().for_each(|x| walk(x, out)),
        },
        Value::Array(a) => a.iter().for_each(|x| walk(x, out)),
        _ => {}
    }
}

/// The reference text when `v` is exactly `{"$ref": "…"}`.
fn as_ref(v: &Value) -> Option<&str> {
    match v {
        Value::Object(m) if m.len() == 1 => m.get("$ref")?.as_str(),
        _ => None,
    }
}

/// `CALL_ID#/pointer` → (`CALL_ID`, `/pointer`); the pointer may be empty (whole result).
pub(crate) fn split(r: &str) -> Option<(&str, &str)> {
    let (id, ptr) = r.split_once('#')?;
    (!id.is_empty() && (ptr.is_empty() || ptr.starts_with('/'))).then_some((id, ptr))
}

/// `args` with every `$ref` replaced from `results` (call id → result JSON).
/// A pointer that finds nothing becomes `null`.
pub(crate) fn resolve(args: &Value, results: &HashMap<String, Value>) -> Value {
    if let Some(r) = as_ref(args) {
        return split(r)
            .and_then(|(id, ptr)| results.get(id).and_then(|v| v.pointer(ptr)).cloned())
            .unwrap_or(Value::Null);
    }
    match args {
        Value::Object(m) => Value::Object(m.iter().map(|(k, v)| (k.clone(), resolve(v, results))).collect()),
        Value::Array(a) => Value::Array(a.iter().map(|v| resolve(v, results)).collect()),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn finds_and_resolves_nested_refs() {
        let args =
            json!({"users": {"$ref": "fetch#/value/items"}, "n": [1, {"$ref": "count#/value"}], "k": "v"});
        let mut found = references(&args);
        found.sort();
        assert_eq!(found, ["count#/value", "fetch#/value/items"]);
        let results = HashMap::from([
            ("fetch".to_string(), json!({"ok": true, "value": {"items": [1, 2]}})),
            ("count".to_string(), json!({"ok": true, "value": 2})),
        ]);
        assert_eq!(resolve(&args, &results), json!({"users": [1, 2], "n": [1, 2], "k": "v"}));
        assert_eq!(resolve(&json!({"$ref": "fetch#/nope"}), &results), Value::Null);
        assert_eq!(resolve(&json!({"$ref": "fetch#"}), &results)["ok"], true);
        // An object with more keys than `$ref` is data, not a reference.
        let data = json!({"$ref": "x#/y", "other": 1});
        assert!(references(&data).is_empty());
    }

    #[test]
    fn split_requires_id_and_pointer() {
        assert_eq!(split("a#/b/c"), Some(("a", "/b/c")));
        assert_eq!(split("a#"), Some(("a", "")));
        assert_eq!(split("a"), None);
        assert_eq!(split("#/x"), None);
        assert_eq!(split("a#b"), None);
    }
}
