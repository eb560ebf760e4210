//! Tool calls from what language-model code produces.
//!
//! [`parse_calls`] sniffs the input and accepts, without configuration:
//!
//! | Shape | Example |
//! |---|---|
//! | list of calls | `[{"id":"1","tool":"add","arguments":{"a":1},"namespace":"math"}]` |
//! | one call | `{"name":"add","args":"{\"a\":1}"}` |
//! | OpenAI tool calls | `{"tool_calls":[{"id":"call_1","type":"function","function":{"name":"add","arguments":"{\"a\":1}"}}]}`, a whole assistant message, or a list of tool-call objects |
//! | OpenAI Responses / legacy | `{"type":"function_call","call_id":"c1","name":"add","arguments":"{}"}`, `{"function_call":{"name":"add","arguments":"{}"}}` |
//! | Anthropic | a `{"type":"tool_use","id","name","input"}` block, a list of content blocks, or `{"role":"assistant","content":[…]}` |
//! | text with tags | `… <tool name="add" args='{"a":1}'/> …` or `<tool name="add">{"a":1}</tool>` |
//!
//! Field aliases: `tool` or `name` (first wins); `arguments`, `args` or `input` (first wins);
//! `call_id` or `id` (first wins; a number is kept as its JSON text). A JSON `null` counts as an
//! absent field. Unknown fields are ignored; a duplicated field we read makes that call fail.
//! Content blocks whose `type` is not a tool call (`text`, `thinking`, `server_tool_use`, …) are
//! skipped.
//!
//! **Failures are per call.** A call whose arguments are malformed keeps its id and name and gets
//! `arguments: Err(problem)`; the executor reports `TOOL_VALIDATION_ERROR` for that call alone and
//! runs its siblings. Arguments are never repaired (no `{}` substitution, no partial parse); only
//! an *absent* arguments field means `{}`. A [`ParseError`] is returned only when the input as a
//! whole cannot be read: too large, too many calls, invalid JSON without any `<tool>` tag, or a
//! JSON document that is not a tool-call shape.
//!
//! Identical calls are kept as separate calls (deduplication is the executor's opt-in choice).
//! Calls without an id get one from the executor.

use serde::de::IgnoredAny;
use std::borrow::Cow;

/// Largest input [`parse_calls`] accepts, in bytes (8 MiB); see [`ParseLimits`].
pub const MAX_INPUT_BYTES: usize = 8 << 20;

/// Most tool calls [`parse_calls`] accepts from one input; see [`ParseLimits`].
pub const MAX_CALLS: usize = 1024;

/// How much one input may hold. Network routes bound both (`[serve]
/// max_batch_calls`, `max_body_bytes`); a local batch job (`toolhost run`)
/// reads inputs of any size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParseLimits {
    /// Most tool calls (skipped content blocks do not count).
    pub max_calls: usize,
    /// Largest input, bytes.
    pub max_bytes: usize,
}

impl ParseLimits {
    /// [`MAX_CALLS`] calls in at most [`MAX_INPUT_BYTES`] (the default).
    pub const DEFAULT: ParseLimits = ParseLimits { max_calls: MAX_CALLS, max_bytes: MAX_INPUT_BYTES };
    /// No limit at all (a local batch file).
    pub const UNLIMITED: ParseLimits = ParseLimits { max_calls: usize::MAX, max_bytes: usize::MAX };
}

impl Default for ParseLimits {
    fn default() -> Self {
        ParseLimits::DEFAULT
    }
}

/// One tool call found in the input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedCall {
    /// The provider's or caller's id for the call (OpenAI `id`, Responses `call_id`, Anthropic
    /// `id`), kept so results can be matched; `None` when the input had none.
    pub call_id: Option<String>,
    /// The tool's name as written (a dotted name is not split here). Empty only when the call
    /// had no usable name, in which case `arguments` is an `Err`.
    pub tool: String,
    /// The namespace, when the input gave one.
    pub namespace: Option<String>,
    /// The raw JSON text of the arguments object (whitespace around it removed), or a problem
    /// message when the call is malformed, e.g.
    /// `arguments are not valid JSON: EOF while parsing an object at line 1 column 7`.
    pub arguments: Result<String, String>,
    /// The raw JSON text of the call's `input_responses` field (answers to
    /// questions an earlier round asked, by request key), when it has one;
    /// read by [`ToolCall`](crate::ToolCall).
    pub input_responses: Option<String>,
}

/// The input as a whole cannot be read as tool calls.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParseError {
    /// The input is larger than its [`ParseLimits::max_bytes`].
    #[error("input is {size} bytes; at most {limit} bytes are accepted")]
    TooLarge {
        /// The input's size in bytes.
        size: usize,
        /// The limit it exceeds.
        limit: usize,
    },
    /// The input holds more calls than its [`ParseLimits::max_calls`].
    #[error("input holds more than {limit} tool calls")]
    TooManyCalls {
        /// The limit it exceeds.
        limit: usize,
    },
    /// The input looks like JSON but is not valid, and holds no `<tool>` tag.
    #[error("input is not valid JSON: {0}")]
    InvalidJson(String),
    /// The input is valid JSON of another shape, or text without any `<tool>` tag.
    #[error("{0}")]
    Unrecognized(String),
}

/// Reads every tool call in `input`, in input order.
///
/// Input starting with `{` or `[` is read as JSON; when it is not valid JSON but contains a
/// `<tool` tag it is read as text. An unclosed `<tool` tag (input ends inside it, or an element
/// has no `</tool>`) fails *that call* (`arguments: Err("unclosed <tool> tag …")`) and ends the
/// scan; the calls before it are kept. Inside a tag, attribute values may use either quote and
/// decode `&quot; &amp; &lt; &gt; &apos;` only (nothing else is expanded); an element body is
/// taken verbatim and must not contain `</tool>`.
///
/// Within [`ParseLimits::DEFAULT`]; [`parse_calls_within`] takes other limits.
pub fn parse_calls(input: &str) -> Result<Vec<ParsedCall>, ParseError> {
    parse_calls_within(input, ParseLimits::DEFAULT)
}

/// [`parse_calls`] within `limits`.
pub fn parse_calls_within(input: &str, limits: ParseLimits) -> Result<Vec<ParsedCall>, ParseError> {
    if input.len() > limits.max_bytes {
        return Err(ParseError::TooLarge { size: input.len(), limit: limits.max_bytes });
    }
    let mut calls = Calls { list: Vec::new(), max: limits.max_calls };
    if input.trim_start().starts_with(['{', '[']) {
        match serde_json::from_str::<IgnoredAny>(input) {
            Ok(_) => return from_json(Json(input.trim()), &mut calls).map(|()| calls.list),
            Err(e) if find_tag(input, 0).is_none() => {
                return Err(ParseError::InvalidJson(e.to_string()));
            }
            Err(_) => {}
        }
    }
    from_tags(input, &mut calls).map(|()| calls.list)
}

/// The calls found so far and how many are allowed.
struct Calls {
    list: Vec<ParsedCall>,
    max: usize,
}

/// Appends `call`, enforcing the limit.
fn push(calls: &mut Calls, call: ParsedCall) -> Result<(), ParseError> {
    if calls.list.len() >= calls.max {
        return Err(ParseError::TooManyCalls { limit: calls.max });
    }
    calls.list.push(call);
    Ok(())
}

/// Builds a call; a missing or empty name fails it unless it already failed.
fn assemble(
    call_id: Option<String>,
    tool: Option<String>,
    namespace: Option<String>,
    arguments: Result<String, String>,
) -> ParsedCall {
    let tool = tool.unwrap_or_default();
    let arguments =
        if tool.is_empty() { arguments.and(Err("tool call has no tool name".to_owned())) } else { arguments };
    ParsedCall { call_id, tool, namespace, arguments, input_responses: None }
}

/// Checks that `text` is exactly one JSON object and returns it trimmed.
fn text_arguments(text: &str) -> Result<String, String> {
    serde_json::from_str::<IgnoredAny>(text).map_err(|e| format!("arguments are not valid JSON: {e}"))?;
    let text = text.trim();
    match Json(text).kind() {
        Kind::Object => Ok(text.to_owned()),
        kind => Err(format!("arguments must be a JSON object, got {}", kind.name())),
    }
}

// ---------------------------------------------------------------------------------------------
// JSON shapes

/// `type` values that mark an object as a tool call; other typed blocks are skipped.
const CALL_TYPES: [&str; 4] = ["tool_use", "function", "function_call", "tool_call"];

/// What one JSON item turned out to be.
enum Item {
    Call(ParsedCall),
    /// A content block that is not a tool call (Anthropic `text`, `thinking`, …).
    Skip,
    /// Not a tool call at all; the reason.
    NotACall(String),
}

/// Reads a validated JSON document.
fn from_json(doc: Json<'_>, calls: &mut Calls) -> Result<(), ParseError> {
    match doc.kind() {
        Kind::Array => add_items(calls, doc)?,
        Kind::Object => {
            let [tool_calls, content, function_call] =
                doc.fields(["tool_calls", "content", "function_call"]).map_err(ParseError::Unrecognized)?;
            match (tool_calls, content, function_call) {
                (Some(list), _, _) if list.kind() == Kind::Array => add_items(calls, list)?,
                (Some(other), _, _) => {
                    return Err(ParseError::Unrecognized(format!(
                        "`tool_calls` must be a list, got {}",
                        other.kind().name()
                    )));
                }
                (None, Some(blocks), _) if blocks.kind() == Kind::Array => {
                    add_items(calls, blocks)?;
                }
                (None, _, Some(legacy)) => add_item(calls, legacy, None)?,
                (None, Some(_text), None) => {} // a message with text content only
                (None, None, None) => add_item(calls, doc, None)?,
            }
        }
        kind => {
            return Err(ParseError::Unrecognized(format!(
                "JSON input is {}; expected a tool call object or a list of them",
                kind.name()
            )));
        }
    }
    Ok(())
}

/// Adds the calls of a JSON list; an item that is not a call fails as that call.
fn add_items(calls: &mut Calls, list: Json<'_>) -> Result<(), ParseError> {
    list.children().enumerate().try_for_each(|(index, v)| add_item(calls, v, Some(index)))
}

/// Adds one item; `index` is `None` for a top-level object, which must be a call.
fn add_item(calls: &mut Calls, v: Json<'_>, index: Option<usize>) -> Result<(), ParseError> {
    match (item(v), index) {
        (Item::Call(call), _) => push(calls, call),
        (Item::Skip, _) => Ok(()),
        (Item::NotACall(why), Some(i)) => {
            push(calls, assemble(None, None, None, Err(format!("item {i}: {why}"))))
        }
        (Item::NotACall(why), None) => {
            Err(ParseError::Unrecognized(format!("JSON object is not a tool call: {why}")))
        }
    }
}

/// Classifies one JSON value as a call, a skipped block, or not a call.
fn item(v: Json<'_>) -> Item {
    if v.kind() != Kind::Object {
        return Item::NotACall(format!("expected a tool call object, got {}", v.kind().name()));
    }
    let fields = v.fields([
        "function",
        "type",
        "tool",
        "name",
        "call_id",
        "id",
        "namespace",
        "arguments",
        "args",
        "input",
        "input_responses",
    ]);
    let [function, kind, tool, name, call_id, id, namespace, arguments, args, input, answers] = match fields {
        Ok(f) => f,
        Err(problem) => return Item::Call(assemble(None, None, None, Err(problem))),
    };
    let id = call_id.or(id);
    let with_answers = |mut call: ParsedCall| {
        call.input_responses = answers.map(|a| a.0.to_owned());
        Item::Call(call)
    };
    if let Some(function) = function {
        // OpenAI chat: {"id", "type": "function", "function": {"name", "arguments"}}
        return with_answers(match function.fields(["name", "arguments"]) {
            Ok([name, arguments]) => json_call(id, name, None, arguments),
            Err(problem) => {
                assemble(id_text(id).ok().flatten(), None, None, Err(format!("`function`: {problem}")))
            }
        });
    }
    let kind = kind.and_then(|k| k.string().ok());
    if kind.as_deref().is_some_and(|k| !CALL_TYPES.contains(&k)) {
        return Item::Skip;
    }
    let name = tool.or(name);
    if name.is_none() && kind.is_none() {
        return Item::NotACall("it has no `tool`, `name`, `function` or `tool_calls` field".into());
    }
    with_answers(json_call(id, name, namespace, arguments.or(args).or(input)))
}

/// Builds a call from JSON fields; the first unreadable field becomes the call's problem.
fn json_call(
    id: Option<Json<'_>>,
    name: Option<Json<'_>>,
    namespace: Option<Json<'_>>,
    arguments: Option<Json<'_>>,
) -> ParsedCall {
    let id = id_text(id);
    let name = text_field("tool name", name);
    let namespace = text_field("namespace", namespace);
    let arguments = match (&id, &name, &namespace) {
        (Err(e), _, _) | (_, Err(e), _) | (_, _, Err(e)) => Err(e.clone()),
        _ => json_arguments(arguments),
    };
    assemble(id.ok().flatten(), name.ok().flatten(), namespace.ok().flatten(), arguments)
}

/// Reads an optional call id: a string, or a number kept as its JSON text.
fn id_text(id: Option<Json<'_>>) -> Result<Option<String>, String> {
    match id {
        Some(n) if n.kind() == Kind::Number => Ok(Some(n.0.to_owned())),
        other => text_field("id", other),
    }
}

/// Reads an optional string field.
fn text_field(what: &str, v: Option<Json<'_>>) -> Result<Option<String>, String> {
    v.map(|v| match v.kind() {
        Kind::String => v.string().map(Cow::into_owned),
        kind => Err(format!("{what} must be a string, got {}", kind.name())),
    })
    .transpose()
}

/// Arguments given as an object, as a string holding an object, or absent (`{}`).
fn json_arguments(v: Option<Json<'_>>) -> Result<String, String> {
    let Some(v) = v else {
        return Ok("{}".to_owned());
    };
    match v.kind() {
        Kind::Object => Ok(v.0.to_owned()),
        Kind::String => text_arguments(&v.string()?),
        kind => Err(format!("arguments must be a JSON object, got {}", kind.name())),
    }
}

/// The kind of a JSON value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Object,
    Array,
    String,
    Number,
    Bool,
    Null,
}

impl Kind {
    /// The kind's name, with an article, for messages.
    fn name(self) -> &'static str {
        match self {
            Kind::Object => "an object",
            Kind::Array => "a list",
            Kind::String => "a string",
            Kind::Number => "a number",
            Kind::Bool => "a boolean",
            Kind::Null => "null",
        }
    }
}

/// The text of one value inside an already validated JSON document, without surrounding
/// whitespace. Walking it never fails: serde_json checked the grammar (and the nesting limit)
/// before any `Json` is made, and the raw text is what callers receive as arguments.
#[derive(Debug, Clone, Copy)]
struct Json<'a>(&'a str);

impl<'a> Json<'a> {
    fn kind(self) -> Kind {
        match self.0.as_bytes().first() {
            Some(b'{') => Kind::Object,
            Some(b'[') => Kind::Array,
            Some(b'"') => Kind::String,
            Some(b't' | b'f') => Kind::Bool,
            Some(b'n') => Kind::Null,
            _ => Kind::Number,
        }
    }

    /// Decodes a string value (borrowed when it has no escapes).
    fn string(self) -> Result<Cow<'a, str>, String> {
        let inner = self.0.get(1..self.0.len().saturating_sub(1)).unwrap_or_default();
        if !inner.contains('\\') {
            return Ok(Cow::Borrowed(inner));
        }
        serde_json::from_str::<String>(self.0).map(Cow::Owned).map_err(|e| format!("invalid string: {e}"))
    }

    /// The values directly inside a list, or the keys and values (alternating) of an object.
    fn children(self) -> impl Iterator<Item = Json<'a>> {
        let (text, b) = (self.0, self.0.as_bytes());
        let mut i = 1;
        std::iter::from_fn(move || {
            while i < b.len() && matches!(b[i], b' ' | b'\t' | b'\n' | b'\r' | b',' | b':') {
                i += 1;
            }
            if i + 1 >= b.len() {
                return None; // at the closing bracket
            }
            let end = value_end(b, i);
            let value = Json(&text[i..end]);
            i = end;
            Some(value)
        })
    }

    /// Looks up `keys` in an object. A JSON `null` counts as absent; a key present twice is an
    /// error.
    fn fields<const N: usize>(self, keys: [&str; N]) -> Result<[Option<Json<'a>>; N], String> {
        if self.kind() != Kind::Object {
            return Err(format!("expected an object, got {}", self.kind().name()));
        }
        let mut seen = [None; N];
        let mut children = self.children();
        while let (Some(key), Some(value)) = (children.next(), children.next()) {
            let Ok(key) = key.string() else { continue };
            if let Some(slot) = keys.iter().position(|k| *k == key)
                && seen[slot].replace(value).is_some()
            {
                return Err(format!("duplicate field `{key}`"));
            }
        }
        Ok(seen.map(|v| v.filter(|v: &Json<'_>| v.kind() != Kind::Null)))
    }
}

/// End (exclusive) of the value starting at `start` in validated JSON.
fn value_end(b: &[u8], start: usize) -> usize {
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    for (i, &c) in b.iter().enumerate().skip(start) {
        if in_string {
            match c {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' if depth == 0 => return i + 1,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match c {
            b'"' => in_string = true,
            b'{' | b'[' => depth += 1,
            b'}' | b']' if depth <= 1 => return if depth == 0 { i } else { i + 1 },
            b'}' | b']' => depth -= 1,
            b',' | b':' | b' ' | b'\t' | b'\n' | b'\r' if depth == 0 => return i,
            _ => {}
        }
    }
    b.len()
}

// ---------------------------------------------------------------------------------------------
// Text with <tool> tags

/// Reads every `<tool …/>` and `<tool …>…</tool>` in `input`.
fn from_tags(input: &str, calls: &mut Calls) -> Result<(), ParseError> {
    let mut pos = 0;
    while let Some(start) = find_tag(input, pos) {
        let (call, next) = tag(input, start);
        push(calls, call)?;
        pos = next;
    }
    if calls.list.is_empty() {
        return Err(ParseError::Unrecognized(
            "no tool calls found: input is neither JSON nor text with <tool> tags".into(),
        ));
    }
    Ok(())
}

/// Byte offset of the next `<tool` (any case) that is followed by whitespace, `/`, `>` or the end.
fn find_tag(s: &str, from: usize) -> Option<usize> {
    let b = s.as_bytes();
    s.get(from..)?.match_indices('<').map(|(i, _)| from + i).find(|&i| {
        b.get(i + 1..i + 5).is_some_and(|t| t.eq_ignore_ascii_case(b"tool"))
            && b.get(i + 5).is_none_or(|&c| c.is_ascii_whitespace() || c == b'/' || c == b'>')
    })
}

/// Reads the tag starting at `start`; returns the call and where scanning resumes.
fn tag(s: &str, start: usize) -> (ParsedCall, usize) {
    let b = s.as_bytes();
    let mut attrs = Attrs::default();
    let mut i = start + 5;
    loop {
        i = skip_ws(b, i);
        match b.get(i) {
            None => {
                return (attrs.fail(format!("unclosed <tool> tag at byte {start}")), s.len());
            }
            Some(b'/') if b.get(i + 1) == Some(&b'>') => return (attrs.finish(None), i + 2),
            Some(b'>') => {
                return match find_close(s, i + 1) {
                    Some((end, after)) => (attrs.finish(Some(&s[i + 1..end])), after),
                    None => {
                        let problem = format!("unclosed <tool> tag at byte {start}: no </tool> follows");
                        (attrs.fail(problem), s.len())
                    }
                };
            }
            Some(_) => match attribute(s, i) {
                Ok((key, value, next)) => match attrs.set(key, value) {
                    Ok(()) => i = next,
                    Err(problem) => return (attrs.fail(problem), next),
                },
                Err((problem, resume)) => return (attrs.fail(problem), resume),
            },
        }
    }
}

/// Reads `name = "value"` at `i`: the name, the decoded value and the offset after it; or a
/// problem and where to resume scanning.
fn attribute(s: &str, i: usize) -> Result<(&str, String, usize), (String, usize)> {
    let b = s.as_bytes();
    let is_name = |c: u8| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'-' | b':' | b'.');
    let name_end = (i..b.len()).find(|&j| !is_name(b[j])).unwrap_or(b.len());
    if name_end == i {
        let c = s[i..].chars().next().unwrap_or_default();
        return Err((format!("unexpected {c:?} in <tool> tag at byte {i}"), i + c.len_utf8()));
    }
    let name = &s[i..name_end];
    let eq = skip_ws(b, name_end);
    if b.get(eq) != Some(&b'=') {
        return Err((format!("attribute `{name}` at byte {i} has no value"), eq));
    }
    let open = skip_ws(b, eq + 1);
    let Some(&quote @ (b'"' | b'\'')) = b.get(open) else {
        return Err((format!("value of attribute `{name}` at byte {i} is not quoted"), open));
    };
    let Some(len) = s[open + 1..].find(char::from(quote)) else {
        return Err((
            format!("unclosed <tool> tag: value of attribute `{name}` at byte {i} never ends"),
            s.len(),
        ));
    };
    Ok((name, decode_entities(&s[open + 1..open + 1 + len]), open + 2 + len))
}

/// Offsets of the next `</tool>` (any case, optional whitespace before `>`): its start and end.
fn find_close(s: &str, from: usize) -> Option<(usize, usize)> {
    let b = s.as_bytes();
    s[from..].match_indices("</").map(|(i, _)| from + i).find_map(|at| {
        let named = b.get(at + 2..at + 6).is_some_and(|t| t.eq_ignore_ascii_case(b"tool"));
        let gt = skip_ws(b, at + 6);
        (named && b.get(gt) == Some(&b'>')).then_some((at, gt + 1))
    })
}

fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while b.get(i).is_some_and(u8::is_ascii_whitespace) {
        i += 1;
    }
    i
}

/// Decodes the five predefined XML entities; anything else after `&` stays as written.
fn decode_entities(s: &str) -> String {
    const ENTITIES: [(&str, char); 5] =
        [("&quot;", '"'), ("&amp;", '&'), ("&lt;", '<'), ("&gt;", '>'), ("&apos;", '\'')];
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(p) = rest.find('&') {
        out.push_str(&rest[..p]);
        rest = &rest[p..];
        let (text, len) =
            ENTITIES.iter().find(|(e, _)| rest.starts_with(e)).map_or(('&', 1), |&(e, c)| (c, e.len()));
        out.push(text);
        rest = &rest[len..];
    }
    out.push_str(rest);
    out
}

/// The attributes of one `<tool>` tag that we read (names are case-insensitive).
#[derive(Default)]
struct Attrs {
    name: Option<String>,
    args: Option<String>,
    id: Option<String>,
    namespace: Option<String>,
}

impl Attrs {
    fn set(&mut self, key: &str, value: String) -> Result<(), String> {
        let slot = match key.to_ascii_lowercase().as_str() {
            "name" => &mut self.name,
            "args" | "arguments" => &mut self.args,
            "id" => &mut self.id,
            "namespace" => &mut self.namespace,
            _ => return Ok(()),
        };
        match slot.replace(value) {
            Some(_) => Err(format!("duplicate attribute `{key}` in <tool> tag")),
            None => Ok(()),
        }
    }

    /// The call for a complete tag; `body` is the element content, if any.
    fn finish(self, body: Option<&str>) -> ParsedCall {
        let body = body.map(str::trim).filter(|b| !b.is_empty());
        let arguments = match (self.args.as_deref(), body) {
            (Some(_), Some(_)) => Err("<tool> tag has both an args attribute and a body".to_owned()),
            (Some(text), None) | (None, Some(text)) => text_arguments(text),
            (None, None) => Ok("{}".to_owned()),
        };
        assemble(self.id, self.name, self.namespace, arguments)
    }

    /// The call for a broken tag.
    fn fail(self, problem: String) -> ParsedCall {
        assemble(self.id, self.name, self.namespace, Err(problem))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn one(input: &str) -> ParsedCall {
        let mut calls = parse_calls(input).unwrap();
        assert_eq!(calls.len(), 1, "{calls:?}");
        calls.remove(0)
    }

    fn ok(id: Option<&str>, tool: &str, args: &str) -> ParsedCall {
        ParsedCall {
            call_id: id.map(Into::into),
            tool: tool.into(),
            namespace: None,
            arguments: Ok(args.into()),
            input_responses: None,
        }
    }

    #[test]
    fn input_responses_are_kept_raw_per_call() {
        let calls = parse_calls(
            r#"[{"tool": "a", "input_responses": {"in_1": {"action": "decline"}}},
                {"id": "c", "type": "function", "function": {"name": "b", "arguments": "{}"}, "input_responses": {}},
                {"tool": "c"}]"#,
        )
        .unwrap();
        assert_eq!(calls[0].input_responses.as_deref(), Some(r#"{"in_1": {"action": "decline"}}"#));
        assert_eq!(calls[1].input_responses.as_deref(), Some("{}"));
        assert_eq!(calls[2].input_responses, None);
    }

    fn err_of(call: &ParsedCall) -> &str {
        call.arguments.as_ref().expect_err("call should have failed")
    }

    #[test]
    fn generic_list_with_aliases_ids_and_namespace() {
        let calls = parse_calls(
            r#" [ {"id":"a","tool":"add","arguments":{"x": 1},"namespace":"math"},
                 {"name":"echo","args":"{\"t\":\"hi\"}","extra":true},
                 {"tool":"noargs"},
                 {"tool":"n","input":{"k":[1,{"z":"}"}]},"id":7} ] "#,
        )
        .unwrap();
        assert_eq!(calls.len(), 4);
        assert_eq!(
            calls[0],
            ParsedCall { namespace: Some("math".into()), ..ok(Some("a"), "add", r#"{"x": 1}"#) }
        );
        assert_eq!(calls[1], ok(None, "echo", r#"{"t":"hi"}"#));
        assert_eq!(calls[2], ok(None, "noargs", "{}"));
        assert_eq!(calls[3], ok(Some("7"), "n", r#"{"k":[1,{"z":"}"}]}"#));
    }

    #[test]
    fn single_object_and_nulls_are_absent() {
        assert_eq!(one(r#"{"tool":"t","arguments":{"a":1}}"#), ok(None, "t", r#"{"a":1}"#));
        assert_eq!(one(r#"{"tool":"t","arguments":null,"id":null}"#), ok(None, "t", "{}"));
        assert_eq!(one(r#"{"name":"t","arguments":"{\"a\":1}"}"#), ok(None, "t", r#"{"a":1}"#));
    }

    #[test]
    fn raw_argument_text_is_kept_exactly() {
        // Big integers, key order and escapes survive (no round trip through a Value).
        let args = r#"{"z":123456789012345678901234567890,"a":"\u00e9\n","z2":1.0e3}"#;
        assert_eq!(one(&format!(r#"{{"tool":"t","arguments":{args}}}"#)).arguments.as_deref(), Ok(args));
    }

    #[test]
    fn openai_envelope_message_and_list_keep_ids() {
        let tc = r#"[{"id":"call_1","type":"function","function":{"name":"add","arguments":"{\"a\":1}"}},
                     {"id":"call_2","type":"function","function":{"name":"add","arguments":"{\"a\":1}"}}]"#;
        let expected = vec![ok(Some("call_1"), "add", r#"{"a":1}"#), ok(Some("call_2"), "add", r#"{"a":1}"#)];
        assert_eq!(parse_calls(&format!(r#"{{"tool_calls":{tc}}}"#)).unwrap(), expected);
        let msg = format!(r#"{{"role":"assistant","content":null,"tool_calls":{tc}}}"#);
        assert_eq!(parse_calls(&msg).unwrap(), expected, "identical calls are not merged");
        assert_eq!(parse_calls(tc).unwrap(), expected);
    }

    #[test]
    fn openai_responses_item_and_legacy_function_call() {
        let item = r#"{"type":"function_call","id":"fc_1","call_id":"call_9","name":"f","arguments":"{}"}"#;
        assert_eq!(one(item), ok(Some("call_9"), "f", "{}"));
        let legacy =
            r#"{"role":"assistant","content":null,"function_call":{"name":"f","arguments":"{\"q\":2}"}}"#;
        assert_eq!(one(legacy), ok(None, "f", r#"{"q":2}"#));
    }

    #[test]
    fn openai_message_without_calls_is_empty() {
        assert_eq!(parse_calls(r#"{"role":"assistant","content":"Hello!"}"#).unwrap(), vec![]);
        assert_eq!(parse_calls(r#"{"role":"assistant","content":"Hi","tool_calls":null}"#).unwrap(), vec![]);
        assert_eq!(parse_calls("[]").unwrap(), vec![]);
    }

    #[test]
    fn anthropic_block_list_and_message() {
        let block = r#"{"type":"tool_use","id":"toolu_1","name":"get_weather","input":{"city":"Paris"}}"#;
        let expected = ok(Some("toolu_1"), "get_weather", r#"{"city":"Paris"}"#);
        assert_eq!(one(block), expected);
        let blocks = format!(
            r#"[{{"type":"text","text":"Let me check."}},{block},{{"type":"thinking","thinking":"…"}},
                {{"type":"server_tool_use","id":"srv","name":"web_search","input":{{}}}}]"#
        );
        assert_eq!(parse_calls(&blocks).unwrap(), vec![expected.clone()]);
        let msg = format!(r#"{{"id":"msg_1","type":"message","role":"assistant","content":{blocks}}}"#);
        assert_eq!(parse_calls(&msg).unwrap(), vec![expected]);
        assert_eq!(parse_calls(r#"{"type":"text","text":"no tools"}"#).unwrap(), vec![]);
    }

    #[test]
    fn malformed_arguments_fail_only_their_call() {
        let calls = parse_calls(
            r#"[{"id":"1","tool":"a","arguments":"{\"a\": 1"},
                {"id":"2","tool":"b","arguments":"{}{}"},
                {"id":"3","tool":"c","arguments":"{\"a\":1} thanks!"},
                {"id":"4","tool":"d","arguments":"[1]"},
                {"id":"5","tool":"e","arguments":42},
                {"id":"6","tool":"f","arguments":""},
                {"id":"7","tool":"ok","arguments":{}}]"#,
        )
        .unwrap();
        assert_eq!(
            err_of(&calls[0]),
            "arguments are not valid JSON: EOF while parsing an object at line 1 column 7"
        );
        assert_eq!(err_of(&calls[1]), "arguments are not valid JSON: trailing characters at line 1 column 3");
        assert_eq!(err_of(&calls[2]), "arguments are not valid JSON: trailing characters at line 1 column 9");
        assert_eq!(err_of(&calls[3]), "arguments must be a JSON object, got a list");
        assert_eq!(err_of(&calls[4]), "arguments must be a JSON object, got a number");
        assert!(err_of(&calls[5]).starts_with("arguments are not valid JSON: EOF"));
        assert_eq!(calls[6], ok(Some("7"), "ok", "{}"));
        let ids: Vec<_> = calls.iter().map(|c| c.call_id.as_deref().unwrap()).collect();
        assert_eq!(ids, ["1", "2", "3", "4", "5", "6", "7"], "ids and names survive failures");
        assert_eq!(calls[0].tool, "a");
    }

    #[test]
    fn broken_items_fail_only_themselves() {
        let calls = parse_calls(
            r#"[1, {"arguments":{}}, {"tool":"","id":"e"}, {"tool":5}, {"tool":"a","tool":"b"},
                {"type":"tool_use","id":"x"}, {"id":"f","function":"oops"}, {"tool":"fine"}]"#,
        )
        .unwrap();
        let problems: Vec<_> = calls.iter().map(|c| c.arguments.clone().err()).collect();
        assert_eq!(problems[0].as_deref(), Some("item 0: expected a tool call object, got a number"));
        assert_eq!(
            problems[1].as_deref(),
            Some("item 1: it has no `tool`, `name`, `function` or `tool_calls` field")
        );
        assert_eq!(problems[2].as_deref(), Some("tool call has no tool name"));
        assert_eq!(calls[2].call_id.as_deref(), Some("e"));
        assert_eq!(problems[3].as_deref(), Some("tool name must be a string, got a number"));
        assert_eq!(problems[4].as_deref(), Some("duplicate field `tool`"));
        assert_eq!(problems[5].as_deref(), Some("tool call has no tool name"));
        assert_eq!(problems[6].as_deref(), Some("`function`: expected an object, got a string"));
        assert_eq!(calls[6].call_id.as_deref(), Some("f"));
        assert_eq!(calls[7], ok(None, "fine", "{}"));
    }

    #[test]
    fn top_level_errors() {
        assert!(matches!(parse_calls(""), Err(ParseError::Unrecognized(_))));
        assert!(matches!(parse_calls("just prose, no tools"), Err(ParseError::Unrecognized(_))));
        let e = parse_calls(r#"[{"tool":"a","arguments":{"x":1}"#).unwrap_err();
        assert_eq!(e.to_string(), "input is not valid JSON: EOF while parsing an object at line 1 column 32");
        assert!(matches!(parse_calls(r#""a JSON string""#), Err(ParseError::Unrecognized(_))));
        assert!(matches!(parse_calls("[1"), Err(ParseError::InvalidJson(_))));
        assert!(matches!(parse_calls("42"), Err(ParseError::Unrecognized(_))));
        assert!(matches!(parse_calls(r#"{"answer":42}"#), Err(ParseError::Unrecognized(_))));
        assert!(matches!(parse_calls(r#"{"tool_calls":"x"}"#), Err(ParseError::Unrecognized(_))));
    }

    #[test]
    fn deep_nesting_does_not_recurse() {
        let deep = "[".repeat(100_000) + &"]".repeat(100_000);
        assert!(err_of(&one(&deep)).starts_with("item 0: expected a tool call object"));
        let nested = "[".repeat(100_000) + &"]".repeat(100_000);
        let args = format!(r#"{{"a":{nested}}}"#);
        let call = one(&format!(r#"{{"tool":"t","arguments":{args}}}"#));
        assert_eq!(call.arguments.as_deref(), Ok(args.as_str()), "depth is the schema validator's business");
    }

    #[test]
    fn size_and_count_limits() {
        let big = " ".repeat(MAX_INPUT_BYTES + 1);
        let too_large = ParseError::TooLarge { size: MAX_INPUT_BYTES + 1, limit: MAX_INPUT_BYTES };
        assert_eq!(parse_calls(&big), Err(too_large));
        let list = |n: usize| format!("[{}]", vec![r#"{"tool":"t"}"#; n].join(","));
        assert_eq!(parse_calls(&list(MAX_CALLS)).unwrap().len(), MAX_CALLS);
        let too_many = ParseError::TooManyCalls { limit: MAX_CALLS };
        assert_eq!(parse_calls(&list(MAX_CALLS + 1)), Err(too_many.clone()));
        let tags = r#"<tool name="t"/>"#.repeat(MAX_CALLS + 1);
        assert_eq!(parse_calls(&tags), Err(too_many));
        // Other limits: more, fewer, none.
        assert_eq!(parse_calls_within(&list(5000), ParseLimits::UNLIMITED).unwrap().len(), 5000);
        let three = ParseLimits { max_calls: 3, ..ParseLimits::DEFAULT };
        assert_eq!(parse_calls_within(&list(4), three), Err(ParseError::TooManyCalls { limit: 3 }));
        assert_eq!(parse_calls_within(&tags, three), Err(ParseError::TooManyCalls { limit: 3 }));
        let unlimited = parse_calls_within(&format!("{big}[]"), ParseLimits::UNLIMITED);
        assert_eq!(unlimited, Ok(vec![]));
        // Skipped blocks do not count.
        let blocks = format!("[{}]", vec![r#"{"type":"text","text":""}"#; MAX_CALLS + 1].join(","));
        assert_eq!(parse_calls(&blocks).unwrap(), vec![]);
    }

    #[test]
    fn tags_quotes_order_case_and_text_around() {
        let text = r#"I'll call two tools.
            <tool name="add" args='{"a":1}'/> then <TOOL ARGS="{&quot;b&quot;:2}" Name='mul' />
            and <Tool name="x" id="c1" namespace="ns"></Tool> done."#;
        let calls = parse_calls(text).unwrap();
        assert_eq!(calls[0], ok(None, "add", r#"{"a":1}"#));
        assert_eq!(calls[1], ok(None, "mul", r#"{"b":2}"#));
        assert_eq!(calls[2], ParsedCall { namespace: Some("ns".into()), ..ok(Some("c1"), "x", "{}") });
        assert_eq!(calls.len(), 3);
    }

    #[test]
    fn tag_entities_are_the_five_predefined_only() {
        let call = one(
            r#"<tool name="a&amp;b" args="{&quot;s&quot;:&quot;&lt;&gt;&apos;&amp;amp;&#34;&foo;&quot;}"/>"#,
        );
        assert_eq!(call.tool, "a&b");
        assert_eq!(call.arguments.as_deref(), Ok(r#"{"s":"<>'&amp;&#34;&foo;"}"#));
    }

    #[test]
    fn tag_body_form() {
        let call = one("<tool name=\"w\">\n  {\"q\": \"a < b && c > d\"}\n</tool >");
        assert_eq!(call.arguments.as_deref(), Ok(r#"{"q": "a < b && c > d"}"#));
        let both = one(r#"<tool name="w" args='{}'>{"a":1}</tool>"#);
        assert_eq!(err_of(&both), "<tool> tag has both an args attribute and a body");
        let bad = one(r#"<tool name="w">{"a":</tool>"#);
        assert!(
            err_of(&bad)
                .starts_with("arguments are not valid JSON: EOF while parsing a value at line 1 column 5")
        );
    }

    #[test]
    fn tag_malformed_arguments_fail_only_their_call() {
        let calls =
            parse_calls(r#"<tool name="a" args='{"x":1'/> <tool name="b" args='{}{}'/> <tool name="c"/>"#)
                .unwrap();
        assert_eq!(
            err_of(&calls[0]),
            "arguments are not valid JSON: EOF while parsing an object at line 1 column 6"
        );
        assert_eq!(err_of(&calls[1]), "arguments are not valid JSON: trailing characters at line 1 column 3");
        assert_eq!(calls[2], ok(None, "c", "{}"));
    }

    #[test]
    fn unclosed_tags_fail_their_call_and_keep_earlier_ones() {
        let calls = parse_calls(r#"<tool name="a"/> <tool name="b" args='{"x":1}'"#).unwrap();
        assert_eq!(calls[0], ok(None, "a", "{}"));
        assert_eq!(calls[1].tool, "b");
        assert_eq!(err_of(&calls[1]), "unclosed <tool> tag at byte 17");
        let calls = parse_calls(r#"<tool name="a" args='{"x":1}"#).unwrap();
        assert!(err_of(&calls[0]).contains("never ends"), "{calls:?}");
        let calls = parse_calls(r#"<tool name="b">{"x":1}"#).unwrap();
        assert_eq!(err_of(&calls[0]), "unclosed <tool> tag at byte 0: no </tool> follows");
        assert_eq!(err_of(&one("<tool")), "unclosed <tool> tag at byte 0");
    }

    #[test]
    fn tag_syntax_errors_fail_their_call_and_scanning_goes_on() {
        let calls = parse_calls(
            r#"<tool name=x/> <tool name="y" name="z"/> <tool args='{}'/> <tool name/> <tool name="ok"/>"#,
        )
        .unwrap();
        assert!(err_of(&calls[0]).contains("is not quoted"));
        assert!(err_of(&calls[1]).contains("duplicate attribute `name`"));
        assert_eq!(err_of(&calls[2]), "tool call has no tool name");
        assert!(err_of(&calls[3]).contains("has no value"));
        assert_eq!(calls[4], ok(None, "ok", "{}"));
        assert_eq!(calls.len(), 5);
        // Backslash-escaped quotes are not XML: the LLM is told, not repaired.
        assert!(parse_calls(r#"<tool name="a" args="{\"x\": 1}"/>"#).unwrap()[0].arguments.is_err());
    }

    #[test]
    fn tag_lookalikes_are_ignored() {
        assert!(parse_calls("<toolbox> <tools> <tool_call>").is_err());
        let calls = parse_calls(r#"<toolbox/><tool	name="t"/>"#).unwrap();
        assert_eq!(calls, vec![ok(None, "t", "{}")]);
    }

    #[test]
    fn invalid_json_with_tags_is_read_as_text() {
        let calls =
            parse_calls(r#"{"thought": "use a tool"} extra <tool name="t" args='{"a":1}'/>"#).unwrap();
        assert_eq!(calls, vec![ok(None, "t", r#"{"a":1}"#)]);
    }

    fn json_string(s: &str) -> String {
        serde_json::to_string(s).unwrap()
    }

    proptest! {
        #[test]
        fn never_panics_on_arbitrary_strings(s in ".{0,300}") {
            let _ = parse_calls(&s);
        }

        #[test]
        fn never_panics_on_tool_like_soup(s in r#"([<>/="'{}\[\]:,&; \\a-c]|tool|name|args|&quot;|\{"tool":|"tool_calls"|"function"|"type"|"tool_use"|null|1){0,60}"#) {
            let _ = parse_calls(&s);
            let _ = parse_calls(&format!("[{s}]"));
            let _ = parse_calls(&format!("{{{s}}}"));
        }

        #[test]
        fn every_shape_round_trips(
            name in "[a-zA-Z_][a-zA-Z0-9_.]{0,12}",
            id in "[a-zA-Z0-9_]{1,10}",
            key in "[a-z]{1,5}",
            value in any::<String>(),
        ) {
            let args = format!("{{{}:{}}}", json_string(&key), json_string(&value));
            let (n, i, a, sa) = (json_string(&name), json_string(&id), &args, json_string(&args));
            let expected = ok(Some(&id), &name, &args);
            for input in [
                format!(r#"[{{"id":{i},"tool":{n},"arguments":{a}}}]"#),
                format!(r#"{{"id":{i},"name":{n},"args":{sa}}}"#),
                format!(r#"{{"tool_calls":[{{"id":{i},"type":"function","function":{{"name":{n},"arguments":{sa}}}}}]}}"#),
                format!(r#"{{"role":"assistant","content":[{{"type":"text","text":"x"}},{{"type":"tool_use","id":{i},"name":{n},"input":{a}}}]}}"#),
            ] {
                prop_assert_eq!(parse_calls(&input).unwrap(), vec![expected.clone()], "{}", input);
            }
            let escaped = args.replace('&', "&amp;").replace('\'', "&apos;");
            let tag = format!("text <tool id=\"{id}\" args='{escaped}' name=\"{name}\"/> more");
            prop_assert_eq!(parse_calls(&tag).unwrap(), vec![expected]);
        }
    }
}
