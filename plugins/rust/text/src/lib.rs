//! toolhost example plugin `text`: small, pure text utilities.
//!
//! | tool | args | value |
//! |---|---|---|
//! | `text.upper` | `{"text"}` | the text uppercased |
//! | `text.word_count` | `{"text"}` | `{"words","lines","chars","bytes"}` |
//! | `text.slugify` | `{"text","separator"?,"max_len"?}` | a URL slug |
//! | `text.echo` | any object | the same object |
//! | `text.greet` | `{"name"}` | `"<greeting>, <name>!"`, greeting from config key `greeting` |

use toolhost_sdk::prelude::*;

/// Arguments of the tools that take one text.
#[derive(Deserialize, JsonSchema)]
struct TextArgs {
    /// The input text.
    text: String,
}

fn upper(a: TextArgs, _ctx: &Context) -> Result<String, ToolError> {
    Ok(a.text.to_uppercase())
}

/// Result of `text.word_count`.
#[derive(Debug, PartialEq, Serialize, JsonSchema)]
struct Counts {
    /// Whitespace-separated words.
    words: usize,
    /// Lines (a trailing newline does not start a new line; empty text has 0 lines).
    lines: usize,
    /// Unicode scalar values.
    chars: usize,
    /// UTF-8 bytes.
    bytes: usize,
}

fn word_count(a: TextArgs, _ctx: &Context) -> Result<Counts, ToolError> {
    Ok(Counts {
        words: a.text.split_whitespace().count(),
        lines: a.text.lines().count(),
        chars: a.text.chars().count(),
        bytes: a.text.len(),
    })
}

/// Arguments of `text.slugify`.
#[derive(Deserialize, JsonSchema)]
struct SlugArgs {
    /// The text to turn into a slug.
    text: String,
    /// Separator between words (default "-"); at most 3 characters.
    #[serde(default)]
    separator: Option<String>,
    /// Maximum slug length in characters (cut at a word boundary when possible).
    #[serde(default)]
    max_len: Option<usize>,
}

fn slugify(a: SlugArgs, _ctx: &Context) -> Result<String, ToolError> {
    let sep = a.separator.unwrap_or_else(|| "-".to_owned());
    if sep.chars().count() > 3 {
        return Err(ToolError::invalid_input("`separator` must be at most 3 characters"));
    }
    let mut words: Vec<String> = Vec::new();
    let mut cur = String::new();
    for c in a.text.chars().flat_map(fold_char) {
        if c.is_alphanumeric() {
            cur.extend(c.to_lowercase());
        } else if c == '\'' || c == '\u{2019}' {
            // "don't" -> "dont"
        } else if !cur.is_empty() {
            words.push(std::mem::take(&mut cur));
        }
    }
    if !cur.is_empty() {
        words.push(cur);
    }
    let mut slug = words.join(&sep);
    if let Some(max) = a.max_len
        && slug.chars().count() > max
    {
        let cut: String = slug.chars().take(max).collect();
        // Prefer a word boundary; fall back to a hard cut.
        slug = match cut.rfind(&sep) {
            Some(i) if !sep.is_empty() && i > 0 => cut[..i].to_owned(),
            _ => cut,
        };
    }
    Ok(slug)
}

/// Folds common Latin letters with diacritics to ASCII (`é` → `e`, `ß` → `ss`).
fn fold_char(c: char) -> Vec<char> {
    let s: &str = match c {
        'à'..='å' | 'ā' => "a",
        'À'..='Å' | 'Ā' => "A",
        'æ' => "ae",
        'Æ' => "AE",
        'ç' | 'č' | 'ć' => "c",
        'Ç' | 'Č' | 'Ć' => "C",
        'è'..='ë' | 'ē' | 'ě' | 'ę' => "e",
        'È'..='Ë' | 'Ē' | 'Ě' | 'Ę' => "E",
        'ì'..='ï' | 'ī' => "i",
        'Ì'..='Ï' | 'Ī' => "I",
        'ñ' | 'ń' | 'ň' => "n",
        'Ñ' | 'Ń' | 'Ň' => "N",
        'ò'..='ö' | 'ø' | 'ō' | 'ő' => "o",
        'Ò'..='Ö' | 'Ø' | 'Ō' | 'Ő' => "O",
        'ù'..='ü' | 'ū' | 'ů' | 'ű' => "u",
        'Ù'..='Ü' | 'Ū' | 'Ů' | 'Ű' => "U",
        'ý' | 'ÿ' => "y",
        'Ý' => "Y",
        'ß' => "ss",
        'š' | 'ś' => "s",
        'Š' | 'Ś' => "S",
        'ž' | 'ź' | 'ż' => "z",
        'Ž' | 'Ź' | 'Ż' => "Z",
        'ł' => "l",
        'Ł' => "L",
        'ř' => "r",
        'Ř' => "R",
        'đ' | 'ď' => "d",
        'Đ' | 'Ď' => "D",
        'ť' => "t",
        'Ť' => "T",
        _ => return vec![c],
    };
    s.chars().collect()
}

fn echo(a: serde_json::Map<String, Value>, _ctx: &Context) -> Result<Value, ToolError> {
    Ok(Value::Object(a))
}

/// Arguments of `text.greet`.
#[derive(Deserialize, JsonSchema)]
struct GreetArgs {
    /// Who to greet.
    name: String,
}

fn greet(a: GreetArgs, ctx: &Context) -> Result<String, ToolError> {
    let name = a.name.trim();
    if name.is_empty() {
        return Err(ToolError::invalid_input("`name` must not be empty"));
    }
    Ok(format!("{}, {name}!", ctx.config_or("greeting", "Hello")))
}

toolhost_sdk::plugin! {
    // Pure text functions: nothing changes anywhere, same input, same output.
    tool("text.upper", "Uppercase the text.", upper).title("Uppercase").read_only().idempotent(),
    tool("text.word_count", "Count the words, lines, characters and UTF-8 bytes of a text.", word_count)
        .title("Word count")
        .read_only()
        .idempotent()
        .output_schema(),
    tool("text.slugify", "Turn a text into a lowercase ASCII URL slug, e.g. \"Héllo, World!\" -> \"hello-world\".", slugify)
        .title("Slugify")
        .read_only()
        .idempotent(),
    tool("text.echo", "Return the arguments object unchanged (for testing).", echo).title("Echo").read_only().idempotent(),
    tool("text.greet", "Greet someone by name, with the greeting the operator configured.", greet)
        .title("Greet")
        .read_only()
        .idempotent(),
}

#[cfg(test)]
mod tests {
    use super::*;
    use toolhost_sdk::testing;

    fn call(name: &str, args: Value) -> Result<Value, ToolError> {
        plugin_registry()
            .call(name, &args.to_string(), &Context::new("t"))
            .map(|o| o.value().cloned().unwrap_or(Value::Null))
    }

    #[test]
    fn describe() {
        let names: Vec<_> = plugin_registry().descriptors().map(|d| d.name.clone()).collect();
        assert_eq!(names, ["text.upper", "text.word_count", "text.slugify", "text.echo", "text.greet"]);
        assert!(plugin_registry().descriptors().all(|d| d.idempotent));
    }

    #[test]
    fn upper_and_counts() {
        assert_eq!(call("text.upper", json!({"text": "straße"})).unwrap(), "STRASSE");
        assert_eq!(
            call("text.word_count", json!({"text": "hello wide\nworld\n"})).unwrap(),
            json!({"words": 3, "lines": 2, "chars": 17, "bytes": 17})
        );
        assert_eq!(
            call("text.word_count", json!({"text": ""})).unwrap(),
            json!({"words": 0, "lines": 0, "chars": 0, "bytes": 0})
        );
    }

    #[test]
    fn slugs() {
        let s = |v: Value| call("text.slugify", v).unwrap();
        assert_eq!(s(json!({"text": "Héllo, World!"})), "hello-world");
        assert_eq!(s(json!({"text": "  Don't  stop -- me now "})), "dont-stop-me-now");
        assert_eq!(s(json!({"text": "Größe Maß", "separator": "_"})), "grosse_mass");
        assert_eq!(s(json!({"text": "one two three", "max_len": 9})), "one-two");
        assert_eq!(s(json!({"text": "abcdefghij", "max_len": 4})), "abcd");
        assert_eq!(s(json!({"text": "!!!"})), "");
        let err = call("text.slugify", json!({"text": "a", "separator": "----"})).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput);
    }

    #[test]
    fn echo_returns_args() {
        let args = json!({"a": [1, {"b": null}], "s": "x"});
        assert_eq!(call("text.echo", args.clone()).unwrap(), args);
    }

    #[test]
    fn greet_uses_config() {
        testing::reset();
        assert_eq!(call("text.greet", json!({"name": "Ada"})).unwrap(), "Hello, Ada!");
        testing::set_config("greeting", "Hi");
        assert_eq!(call("text.greet", json!({"name": "Ada"})).unwrap(), "Hi, Ada!");
        let err = call("text.greet", json!({"name": " "})).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput);
        let err = call("text.greet", json!({})).unwrap_err();
        assert_eq!(err.message(), "invalid arguments: missing field `name`");
    }
}
