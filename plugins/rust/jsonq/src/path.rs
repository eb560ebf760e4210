//! Path syntaxes (JSON Pointer and dotted paths) and their evaluation.

use serde_json::Value;
use toolhost_sdk::ToolError;

/// One step of a parsed path.
#[derive(Debug, Clone, PartialEq)]
pub enum Selector {
    /// A JSON Pointer reference token: an object key, or an array index when the value is an
    /// array (`0`, `12`; `-` names the nonexistent element after the last).
    Token(String),
    /// An object key from a dotted path (`a`, `["a.b"]`); digits also index arrays (`a.0`).
    Key(String),
    /// An array index from a dotted path; negative counts from the end (`[-1]` is the last).
    Index(i64),
    /// Every member of an object or element of an array (`[*]`, `.*`).
    Wildcard,
}

impl Selector {
    /// Whether the selector can match more than one value.
    pub fn is_wildcard(&self) -> bool {
        matches!(self, Selector::Wildcard)
    }
}

fn bad_path(path: &str, why: impl std::fmt::Display) -> ToolError {
    ToolError::invalid_input(format!("invalid path {path:?}: {why}"))
}

/// Parses a JSON Pointer (`""` or starting with `/`) or a dotted path.
pub fn parse_path(path: &str) -> Result<Vec<Selector>, ToolError> {
    if path.is_empty() || path.starts_with('/') { parse_pointer(path) } else { parse_dotted(path) }
}

fn parse_pointer(path: &str) -> Result<Vec<Selector>, ToolError> {
    if path.is_empty() {
        return Ok(Vec::new());
    }
    path[1..]
        .split('/')
        .map(|raw| {
            let mut token = String::with_capacity(raw.len());
            let mut chars = raw.chars();
            while let Some(c) = chars.next() {
                if c == '~' {
                    match chars.next() {
                        Some('0') => token.push('~'),
                        Some('1') => token.push('/'),
                        _ => {
                            return Err(bad_path(
                                path,
                                "`~` must be followed by `0` (for `~`) or `1` (for `/`)",
                            ));
                        }
                    }
                } else {
                    token.push(c);
                }
            }
            Ok(Selector::Token(token))
        })
        .collect()
}

fn parse_dotted(path: &str) -> Result<Vec<Selector>, ToolError> {
    let chars: Vec<char> = path.chars().collect();
    let mut pos = 0;
    let mut out = Vec::new();
    // A leading `$` is the root when a `.`/`[` or the end follows; otherwise it is a key.
    if chars[0] == '$' && matches!(chars.get(1), None | Some('.') | Some('[')) {
        pos = 1;
    } else if chars[0] != '[' {
        let (name, next) = bare_name(path, &chars, 0)?;
        out.push(Selector::Key(name));
        pos = next;
    }
    while pos < chars.len() {
        match chars[pos] {
            '.' => {
                pos += 1;
                if chars.get(pos) == Some(&'*') {
                    out.push(Selector::Wildcard);
                    pos += 1;
                } else {
                    let (name, next) = bare_name(path, &chars, pos)?;
                    out.push(Selector::Key(name));
                    pos = next;
                }
            }
            '[' => {
                let (sel, next) = bracket(path, &chars, pos + 1)?;
                out.push(sel);
                pos = next;
            }
            c => {
                return Err(bad_path(
                    path,
                    format!("unexpected {c:?} at character {}; expected `.` or `[`", pos + 1),
                ));
            }
        }
    }
    Ok(out)
}

/// A key up to the next `.`, `[` or the end.
fn bare_name(path: &str, chars: &[char], start: usize) -> Result<(String, usize), ToolError> {
    let mut pos = start;
    while pos < chars.len() && !matches!(chars[pos], '.' | '[') {
        let c = chars[pos];
        if c == ']' || c == '"' || c == '\'' || c.is_whitespace() {
            return Err(bad_path(
                path,
                format!("unexpected {c:?} at character {}; quote unusual keys: [\"my key\"]", pos + 1),
            ));
        }
        pos += 1;
    }
    if pos == start {
        return Err(bad_path(path, format!("empty key at character {}", start + 1)));
    }
    Ok((chars[start..pos].iter().collect(), pos))
}

/// The inside of `[...]`, starting after `[`; returns the position after `]`.
fn bracket(path: &str, chars: &[char], start: usize) -> Result<(Selector, usize), ToolError> {
    let unclosed = || bad_path(path, format!("`[` at character {start} is not closed"));
    let close = |pos: usize| -> Result<usize, ToolError> {
        match chars.get(pos) {
            Some(']') => Ok(pos + 1),
            Some(c) => Err(bad_path(path, format!("expected `]` at character {}, found {c:?}", pos + 1))),
            None => Err(unclosed()),
        }
    };
    match chars.get(start) {
        None => Err(unclosed()),
        Some('*') => Ok((Selector::Wildcard, close(start + 1)?)),
        Some(&q @ ('"' | '\'')) => {
            let mut key = String::new();
            let mut pos = start + 1;
            loop {
                match chars.get(pos) {
                    None => {
                        return Err(bad_path(
                            path,
                            format!("quote at character {} is not closed", start + 1),
                        ));
                    }
                    Some('\\') => {
                        match chars.get(pos + 1) {
                            Some(&c) => key.push(c),
                            None => return Err(unclosed()),
                        }
                        pos += 2;
                    }
                    Some(&c) if c == q => break,
                    Some(&c) => {
                        key.push(c);
                        pos += 1;
                    }
                }
            }
            Ok((Selector::Key(key), close(pos + 1)?))
        }
        Some(_) => {
            let mut pos = start;
            while chars.get(pos).is_some_and(|c| *c != ']') {
                pos += 1;
            }
            let text: String = chars[start..pos].iter().collect();
            let index = text.trim().parse::<i64>().map_err(|_| {
                bad_path(path, format!("`[{text}]` is not an index; use [0], [-1], [*] or [\"key\"]"))
            })?;
            Ok((Selector::Index(index), close(pos)?))
        }
    }
}

/// Evaluates `selectors` against `doc`: every match with its JSON Pointer.
///
/// Outside wildcards a missing key or index is a not-found error; below a wildcard it just
/// contributes no match.
pub fn select<'a>(doc: &'a Value, selectors: &[Selector]) -> Result<Vec<(String, &'a Value)>, ToolError> {
    let mut out = Vec::new();
    walk(doc, String::new(), selectors, false, &mut out)?;
    Ok(out)
}

fn escape(token: &str) -> String {
    token.replace('~', "~0").replace('/', "~1")
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn at(ptr: &str) -> &str {
    if ptr.is_empty() { "the document root" } else { ptr }
}

fn walk<'a>(
    v: &'a Value,
    ptr: String,
    sels: &[Selector],
    in_wildcard: bool,
    out: &mut Vec<(String, &'a Value)>,
) -> Result<(), ToolError> {
    let Some((sel, rest)) = sels.split_first() else {
        out.push((ptr, v));
        return Ok(());
    };
    let miss = |msg: String| {
        if in_wildcard {
            Ok(())
        } else {
            Err(ToolError::not_found(msg).details(serde_json::json!({ "pointer": ptr })))
        }
    };
    match (sel, v) {
        (Selector::Wildcard, Value::Array(items)) => {
            for (i, item) in items.iter().enumerate() {
                walk(item, format!("{ptr}/{i}"), rest, true, out)?;
            }
            Ok(())
        }
        (Selector::Wildcard, Value::Object(map)) => {
            for (k, item) in map {
                walk(item, format!("{ptr}/{}", escape(k)), rest, true, out)?;
            }
            Ok(())
        }
        (Selector::Wildcard, other) => {
            miss(format!("cannot select every element of {} at `{}`", type_name(other), at(&ptr)))
        }
        (Selector::Token(key) | Selector::Key(key), Value::Object(map)) => match map.get(key) {
            Some(item) => walk(item, format!("{ptr}/{}", escape(key)), rest, in_wildcard, out),
            None => {
                let mut keys: Vec<&str> = map.keys().map(String::as_str).take(20).collect();
                if map.len() > 20 {
                    keys.push("...");
                }
                miss(format!("no key `{key}` in the object at `{}` (keys: {})", at(&ptr), keys.join(", ")))
            }
        },
        (Selector::Token(token), Value::Array(items)) => {
            if token.len() > 1 && token.starts_with('0') && token.bytes().all(|b| b.is_ascii_digit()) {
                return Err(ToolError::invalid_input(format!(
                    "invalid JSON Pointer index `{token}`: array indices have no leading zeros"
                )));
            }
            match token.parse::<usize>() {
                Ok(i) if token.bytes().all(|b| b.is_ascii_digit()) => {
                    index(items, i as i64, &ptr, rest, in_wildcard, out, &miss)
                }
                _ => miss(format!(
                    "`{token}` is not an index of the array at `{}` ({} elements)",
                    at(&ptr),
                    items.len()
                )),
            }
        }
        (Selector::Key(key), Value::Array(items)) => match key.parse::<usize>() {
            Ok(i) if key.bytes().all(|b| b.is_ascii_digit()) => {
                index(items, i as i64, &ptr, rest, in_wildcard, out, &miss)
            }
            _ => miss(format!("`{key}` is not an index of the array at `{}`; use [0] or [*]", at(&ptr))),
        },
        (Selector::Index(i), Value::Array(items)) => index(items, *i, &ptr, rest, in_wildcard, out, &miss),
        (Selector::Index(i), other) => {
            miss(format!("cannot take index [{i}] of {} at `{}`", type_name(other), at(&ptr)))
        }
        (Selector::Token(key) | Selector::Key(key), other) => {
            miss(format!("cannot look up `{key}` in {} at `{}`", type_name(other), at(&ptr)))
        }
    }
}

fn index<'a>(
    items: &'a [Value],
    i: i64,
    ptr: &str,
    rest: &[Selector],
    in_wildcard: bool,
    out: &mut Vec<(String, &'a Value)>,
    miss: &dyn Fn(String) -> Result<(), ToolError>,
) -> Result<(), ToolError> {
    let len = items.len() as i64;
    let resolved = if i < 0 { len + i } else { i };
    if (0..len).contains(&resolved) {
        let r = resolved as usize;
        walk(&items[r], format!("{ptr}/{r}"), rest, in_wildcard, out)
    } else {
        miss(format!("index {i} is out of range for the array at `{}` ({len} elements)", at(ptr)))
    }
}
