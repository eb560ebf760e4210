//! Answering a tool's question on a terminal (`toolhost call`): a form is
//! asked field by field from its schema (type, enum/oneOf choices, default),
//! a URL is shown until the user presses Enter, and a sampling request asks
//! the user to type the model's reply. Prompts go to stderr; stdout keeps the
//! result.

use anyhow::Result;
use serde_json::{Map, Value};
use std::io::{BufRead, Write};
use toolhost::call::Content;
use toolhost::interact::{
    ElicitAction, ElicitRequest, ElicitResponse, InputRequest, InputResponse, Role, SamplingResponse,
};

/// Asks `request` on the terminal; `None` when it cannot be answered here.
pub(crate) fn on_terminal(request: &InputRequest) -> Result<Option<InputResponse>> {
    let stdin = std::io::stdin();
    ask(&mut stdin.lock(), &mut std::io::stderr(), request)
}

/// [`on_terminal`] over any reader and writer.
pub(crate) fn ask(
    r: &mut impl BufRead,
    w: &mut impl Write,
    request: &InputRequest,
) -> Result<Option<InputResponse>> {
    let elicit = |action, content| Ok(Some(InputResponse::Elicit(ElicitResponse { action, content })));
    match request {
        InputRequest::Elicit(ElicitRequest::Form { message, requested_schema }) => {
            writeln!(w, "\n{message}")?;
            writeln!(w, "(type !decline or !cancel at any prompt to refuse)")?;
            match form(r, w, requested_schema)? {
                Ok(content) => elicit(ElicitAction::Accept, Some(Value::Object(content))),
                Err(refusal) => elicit(refusal, None),
            }
        }
        InputRequest::Elicit(ElicitRequest::Url { message, url, .. }) => {
            writeln!(w, "\n{message}\n  {url}")?;
            let line = prompt(r, w, "Open it; press Enter once you are done (or !decline / !cancel): ")?;
            match line.as_deref().map(refusal) {
                None => elicit(ElicitAction::Cancel, None),
                Some(Some(action)) => elicit(action, None),
                Some(None) => elicit(ElicitAction::Accept, None),
            }
        }
        InputRequest::Sample(s) => {
            writeln!(w, "\nThe tool asks a language model for a completion (sampling):")?;
            for m in &s.messages {
                if let Content::Text { text } = &m.content {
                    writeln!(w, "  [{:?}] {text}", m.role)?;
                }
            }
            let line = prompt(r, w, "Type the reply yourself (one line), or press Enter to give up: ")?;
            Ok(line.filter(|t| !t.is_empty()).map(|text| {
                InputResponse::Sample(SamplingResponse {
                    role: Role::Assistant,
                    content: Content::Text { text },
                    model: "human (toolhost call)".into(),
                    stop_reason: Some("endTurn".into()),
                })
            }))
        }
    }
}

/// Reads one line after `question` (trimmed); `None` at end of input.
fn prompt(r: &mut impl BufRead, w: &mut impl Write, question: &str) -> Result<Option<String>> {
    write!(w, "{question}")?;
    w.flush()?;
    let mut line = String::new();
    if r.read_line(&mut line)? == 0 {
        writeln!(w)?;
        return Ok(None);
    }
    Ok(Some(line.trim().to_string()))
}

fn refusal(line: &str) -> Option<ElicitAction> {
    match line {
        "!decline" => Some(ElicitAction::Decline),
        "!cancel" => Some(ElicitAction::Cancel),
        _ => None,
    }
}

/// Every property of a flat form schema, required ones first; `Err` when
/// the user refused (or input ended: cancel).
fn form(
    r: &mut impl BufRead,
    w: &mut impl Write,
    schema: &Value,
) -> Result<Result<Map<String, Value>, ElicitAction>> {
    let empty = Map::new();
    let props = schema.get("properties").and_then(Value::as_object).unwrap_or(&empty);
    let required: Vec<&str> = schema
        .get("required")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    let mut names: Vec<&String> = props.keys().collect();
    names.sort_by_key(|n| required.iter().position(|q| *q == n.as_str()).unwrap_or(usize::MAX));
    let mut content = Map::new();
    for name in names {
        match field(r, w, name, &props[name.as_str()], required.contains(&name.as_str()))? {
            Field::Value(v) => {
                content.insert(name.clone(), v);
            }
            Field::Skip => {}
            Field::Refused(action) => return Ok(Err(action)),
        }
    }
    Ok(Ok(content))
}

enum Field {
    Value(Value),
    Skip,
    Refused(ElicitAction),
}

/// Asks one property until the answer fits its schema.
fn field(
    r: &mut impl BufRead,
    w: &mut impl Write,
    name: &str,
    prop: &Value,
    required: bool,
) -> Result<Field> {
    let title = prop.get("title").and_then(Value::as_str).unwrap_or(name);
    let kind = prop.get("type").and_then(Value::as_str).unwrap_or("string");
    let default = prop.get("default");
    let choices = choices(prop);
    if let Some(d) = prop.get("description").and_then(Value::as_str) {
        writeln!(w, "  {title}: {d}")?;
    }
    for (i, (value, label)) in choices.iter().enumerate() {
        writeln!(w, "    {}) {label} [{value}]", i + 1)?;
    }
    let hint = match (kind, default) {
        ("boolean", Some(Value::Bool(true))) => " [Y/n]".to_string(),
        ("boolean", Some(Value::Bool(false))) => " [y/N]".to_string(),
        ("boolean", _) => " [y/n]".to_string(),
        (_, Some(d)) => format!(" [{}]", d.as_str().map_or_else(|| d.to_string(), str::to_string)),
        _ => String::new(),
    };
    let star = if required { "*" } else { "" };
    loop {
        let Some(line) = prompt(r, w, &format!("{title}{star}{hint}: "))? else {
            return Ok(Field::Refused(ElicitAction::Cancel));
        };
        if let Some(action) = refusal(&line) {
            return Ok(Field::Refused(action));
        }
        if line.is_empty() {
            match (default, required) {
                (Some(d), _) => return Ok(Field::Value(d.clone())),
                (None, false) => return Ok(Field::Skip),
                (None, true) => {
                    writeln!(w, "  an answer is required")?;
                    continue;
                }
            }
        }
        match parse(&line, kind, &choices) {
            Ok(v) => return Ok(Field::Value(v)),
            Err(why) => writeln!(w, "  {why}")?,
        }
    }
}

/// `enum` values, or `oneOf`/`anyOf` `const`s with their titles.
fn choices(prop: &Value) -> Vec<(String, String)> {
    if let Some(values) = prop.get("enum").and_then(Value::as_array) {
        return values.iter().filter_map(Value::as_str).map(|v| (v.to_string(), v.to_string())).collect();
    }
    let list = prop.get("oneOf").or_else(|| prop.get("anyOf")).and_then(Value::as_array);
    list.into_iter()
        .flatten()
        .filter_map(|c| {
            let v = c.get("const")?.as_str()?;
            Some((v.to_string(), c.get("title").and_then(Value::as_str).unwrap_or(v).to_string()))
        })
        .collect()
}

/// One typed answer: a choice (by number or value), a boolean, a number or text.
fn parse(line: &str, kind: &str, choices: &[(String, String)]) -> Result<Value, String> {
    if !choices.is_empty() {
        let by_number =
            line.parse::<usize>().ok().and_then(|i| i.checked_sub(1)).and_then(|i| choices.get(i));
        let chosen = by_number.or_else(|| choices.iter().find(|(v, _)| v == line));
        return chosen
            .map(|(v, _)| Value::String(v.clone()))
            .ok_or_else(|| format!("choose 1–{} or one of the values in brackets", choices.len()));
    }
    match kind {
        "boolean" => match line.to_ascii_lowercase().as_str() {
            "y" | "yes" | "true" => Ok(Value::Bool(true)),
            "n" | "no" | "false" => Ok(Value::Bool(false)),
            _ => Err("answer y or n".into()),
        },
        "integer" => line.parse::<i64>().map(Value::from).map_err(|_| "expected a whole number".into()),
        "number" => line
            .parse::<f64>()
            .ok()
            .and_then(serde_json::Number::from_f64)
            .map(Value::Number)
            .ok_or_else(|| "expected a number".into()),
        _ => Ok(Value::String(line.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn answer(request: &InputRequest, input: &str) -> Option<InputResponse> {
        ask(&mut input.as_bytes(), &mut Vec::new(), request).unwrap()
    }

    #[test]
    fn a_form_is_asked_field_by_field_from_its_schema() {
        let form = InputRequest::Elicit(ElicitRequest::Form {
            message: "Create your account".into(),
            requested_schema: json!({
                "type": "object",
                "properties": {
                    "name": {"type": "string"},
                    "plan": {"type": "string", "oneOf": [{"const": "free"}, {"const": "pro"}], "default": "free"},
                    "age": {"type": "integer"},
                    "newsletter": {"type": "boolean", "default": false}
                },
                "required": ["plan", "name"]
            }),
        });
        // plan (choice 2), name (required: empty asks again), age (bad, then skipped), newsletter (default)
        let got = answer(&form, "2\n\nAda\nold\n\n\n");
        let want =
            json!({"action": "accept", "content": {"plan": "pro", "name": "Ada", "newsletter": false}});
        assert_eq!(serde_json::to_value(got.unwrap()).unwrap(), want);
        let declined = answer(&form, "!decline\n").unwrap();
        assert_eq!(serde_json::to_value(declined).unwrap(), json!({"action": "decline"}));
        let eof = answer(&form, "").unwrap();
        assert_eq!(serde_json::to_value(eof).unwrap(), json!({"action": "cancel"}));
    }
}
