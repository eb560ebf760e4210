//! RFC 6570 level-1 URI templates (`notes://{day}`): parsing and matching.
//!
//! A level-1 expression `{var}` expands to the variable's value with every character outside
//! the unreserved set percent-encoded, so when matching, a variable takes a non-empty run of
//! characters up to the next `/`, `?` or `#`, and its value is percent-decoded. Operators
//! (`{+var}`, `{?q}`, ...) and lists (`{a,b}`) are levels 2-4 and are rejected.

use crate::Params;

/// One piece of a template.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Literal(String),
    Var(String),
}

/// A parsed level-1 URI template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct UriTemplate {
    parts: Vec<Part>,
}

impl UriTemplate {
    /// Parses `template`; the error says what is wrong.
    pub(crate) fn parse(template: &str) -> Result<Self, String> {
        let mut parts = Vec::new();
        let mut rest = template;
        while let Some(open) = rest.find(['{', '}']) {
            if rest[open..].starts_with('}') {
                return Err("unmatched `}`".into());
            }
            let close = rest[open..].find('}').ok_or("unclosed `{`")? + open;
            if open > 0 {
                parts.push(Part::Literal(rest[..open].to_owned()));
            } else if matches!(parts.last(), Some(Part::Var(_))) {
                return Err("two adjacent variables cannot be told apart".into());
            }
            let name = &rest[open + 1..close];
            check_var_name(name)?;
            if parts.iter().any(|p| matches!(p, Part::Var(v) if v == name)) {
                return Err(format!("variable `{name}` appears twice"));
            }
            parts.push(Part::Var(name.to_owned()));
            rest = &rest[close + 1..];
        }
        if !rest.is_empty() {
            parts.push(Part::Literal(rest.to_owned()));
        }
        Ok(UriTemplate { parts })
    }

    /// The variable names, in order.
    pub(crate) fn vars(&self) -> impl Iterator<Item = &str> {
        self.parts.iter().filter_map(|p| match p {
            Part::Var(v) => Some(v.as_str()),
            Part::Literal(_) => None,
        })
    }

    /// The variables, when `uri` matches this template.
    pub(crate) fn match_uri(&self, uri: &str) -> Option<Params> {
        let mut found = Vec::new();
        match_parts(&self.parts, uri, &mut found).then(|| Params::from_iter(found))
    }
}

/// RFC 6570 `varname`: `varchar *( ["."] varchar )`, varchar = ALPHA / DIGIT / "_" / pct-encoded.
fn check_var_name(name: &str) -> Result<(), String> {
    if let Some(op) = name.chars().next().filter(|c| "+#./;?&=,!@|".contains(*c)) {
        return Err(format!("`{{{name}}}`: operator `{op}` is not level 1 (only `{{var}}` is supported)"));
    }
    if name.contains(',') {
        return Err(format!("`{{{name}}}`: variable lists are not level 1"));
    }
    let valid_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '%' | '.');
    if name.is_empty() || name.ends_with('.') || name.contains("..") || !name.chars().all(valid_char) {
        return Err(format!("`{{{name}}}` is not a valid variable name"));
    }
    Ok(())
}

/// Backtracking match of `parts` against all of `uri`, collecting variable values.
fn match_parts(parts: &[Part], uri: &str, found: &mut Vec<(String, String)>) -> bool {
    let Some((first, rest)) = parts.split_first() else {
        return uri.is_empty();
    };
    match first {
        Part::Literal(lit) => {
            uri.strip_prefix(lit.as_str()).is_some_and(|tail| match_parts(rest, tail, found))
        }
        Part::Var(name) => {
            let span = uri.find(['/', '?', '#']).unwrap_or(uri.len());
            let ends = uri[..span].char_indices().map(|(i, c)| i + c.len_utf8());
            for end in ends {
                found.push((name.clone(), percent_decode(&uri[..end])));
                if match_parts(rest, &uri[end..], found) {
                    return true;
                }
                found.pop();
            }
            false
        }
    }
}

/// Decodes `%XX` escapes; text that does not decode to UTF-8 is returned unchanged.
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes.get(i + 1..i + 3).and_then(|h| std::str::from_utf8(h).ok());
        match (bytes[i], hex.and_then(|h| u8::from_str_radix(h, 16).ok())) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).unwrap_or_else(|_| s.to_owned())
}
