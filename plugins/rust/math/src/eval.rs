//! A small, safe arithmetic expression evaluator (recursive descent, bounded depth).
//!
//! Grammar (lowest precedence first):
//! ```text
//! expr    := term (('+' | '-') term)*
//! term    := unary (('*' | '/' | '%') unary)*
//! unary   := ('-' | '+') unary | power
//! power   := primary (('^' | '**') unary)?        right-associative; -2^2 = -4
//! primary := number | name | name '(' expr (',' expr)* ')' | '(' expr ')'
//! ```

use std::collections::BTreeMap;

use toolhost_sdk::ToolError;

/// Longest accepted expression, in bytes.
pub const MAX_LEN: usize = 4096;
/// Deepest accepted nesting (parentheses, unary operators, powers): bounds the stack.
const MAX_DEPTH: usize = 64;

/// The names of the built-in constants.
pub const CONSTANTS: &[(&str, f64)] =
    &[("pi", std::f64::consts::PI), ("e", std::f64::consts::E), ("tau", std::f64::consts::TAU)];

/// The built-in functions and their arity (`None` = one or more arguments).
const FUNCTIONS: &[(&str, Option<usize>)] = &[
    ("sqrt", Some(1)),
    ("cbrt", Some(1)),
    ("abs", Some(1)),
    ("min", None),
    ("max", None),
    ("round", Some(1)),
    ("floor", Some(1)),
    ("ceil", Some(1)),
    ("trunc", Some(1)),
    ("exp", Some(1)),
    ("ln", Some(1)),
    ("log10", Some(1)),
    ("log2", Some(1)),
    ("log", Some(2)),
    ("sin", Some(1)),
    ("cos", Some(1)),
    ("tan", Some(1)),
    ("asin", Some(1)),
    ("acos", Some(1)),
    ("atan", Some(1)),
    ("atan2", Some(2)),
    ("hypot", Some(2)),
];

/// Whether `name` is a built-in function or constant (variables may not use these names).
pub fn is_reserved(name: &str) -> bool {
    CONSTANTS.iter().any(|(n, _)| *n == name) || FUNCTIONS.iter().any(|(n, _)| *n == name)
}

/// Evaluates `src` with optional `vars`. Errors are invalid-input errors with a position.
pub fn evaluate(src: &str, vars: &BTreeMap<String, f64>) -> Result<f64, ToolError> {
    if src.len() > MAX_LEN {
        return Err(ToolError::invalid_input(format!(
            "expression is too long ({} bytes; at most {MAX_LEN})",
            src.len()
        )));
    }
    let tokens = tokenize(src)?;
    let mut p = Parser { tokens, pos: 0, depth: 0, vars };
    let v = p.expr()?;
    if let Some(t) = p.peek() {
        return Err(err_at(t.at, format!("unexpected {}", t.kind.describe())));
    }
    if !v.is_finite() {
        return Err(ToolError::invalid_input(
            "the result is not a finite number (overflow or undefined operation)",
        ));
    }
    Ok(v)
}

fn err_at(at: usize, msg: impl std::fmt::Display) -> ToolError {
    ToolError::invalid_input(format!("{msg} at character {}", at + 1))
        .details(serde_json::json!({ "position": at + 1 }))
}

#[derive(Debug, Clone, PartialEq)]
enum Kind {
    Num(f64),
    Name(String),
    Op(char),
    LParen,
    RParen,
    Comma,
}

impl Kind {
    fn describe(&self) -> String {
        match self {
            Kind::Num(n) => format!("number {n}"),
            Kind::Name(n) => format!("name `{n}`"),
            Kind::Op(c) => format!("`{c}`"),
            Kind::LParen => "`(`".into(),
            Kind::RParen => "`)`".into(),
            Kind::Comma => "`,`".into(),
        }
    }
}

#[derive(Debug, Clone)]
struct Token {
    kind: Kind,
    /// Character offset in the source.
    at: usize,
}

fn tokenize(src: &str) -> Result<Vec<Token>, ToolError> {
    let chars: Vec<char> = src.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let at = i;
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        let kind = if c.is_ascii_digit() || c == '.' {
            while i < chars.len() && (chars[i].is_ascii_digit() || chars[i] == '.') {
                i += 1;
            }
            // Exponent only when digits follow: `2e3` is 2000, `2*e` uses the constant.
            if i < chars.len() && (chars[i] == 'e' || chars[i] == 'E') {
                let mut j = i + 1;
                if j < chars.len() && (chars[j] == '+' || chars[j] == '-') {
                    j += 1;
                }
                if j < chars.len() && chars[j].is_ascii_digit() {
                    i = j;
                    while i < chars.len() && chars[i].is_ascii_digit() {
                        i += 1;
                    }
                }
            }
            let text: String = chars[at..i].iter().collect();
            Kind::Num(text.parse().map_err(|_| err_at(at, format!("invalid number `{text}`")))?)
        } else if c.is_ascii_alphabetic() || c == '_' {
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            Kind::Name(chars[at..i].iter().collect())
        } else {
            i += 1;
            match c {
                '*' if chars.get(i) == Some(&'*') => {
                    i += 1;
                    Kind::Op('^')
                }
                '+' | '-' | '*' | '/' | '%' | '^' => Kind::Op(c),
                '×' => Kind::Op('*'),
                '÷' => Kind::Op('/'),
                '−' => Kind::Op('-'),
                '(' => Kind::LParen,
                ')' => Kind::RParen,
                ',' => Kind::Comma,
                _ => return Err(err_at(at, format!("unexpected character {c:?}"))),
            }
        };
        out.push(Token { kind, at });
    }
    Ok(out)
}

struct Parser<'a> {
    tokens: Vec<Token>,
    pos: usize,
    depth: usize,
    vars: &'a BTreeMap<String, f64>,
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.pos)
    }

    fn end_pos(&self) -> usize {
        self.tokens.last().map_or(0, |t| t.at + 1)
    }

    fn next(&mut self) -> Result<Token, ToolError> {
        let t = self
            .tokens
            .get(self.pos)
            .cloned()
            .ok_or_else(|| ToolError::invalid_input("unexpected end of expression"))?;
        self.pos += 1;
        Ok(t)
    }

    fn eat_op(&mut self, ops: &[char]) -> Option<(char, usize)> {
        match self.peek() {
            Some(Token { kind: Kind::Op(c), at }) if ops.contains(c) => {
                let r = (*c, *at);
                self.pos += 1;
                Some(r)
            }
            _ => None,
        }
    }

    fn enter(&mut self) -> Result<(), ToolError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            let at = self.peek().map_or(self.end_pos(), |t| t.at);
            return Err(err_at(at, format!("expression nested deeper than {MAX_DEPTH}")));
        }
        Ok(())
    }

    fn expr(&mut self) -> Result<f64, ToolError> {
        self.enter()?;
        let mut v = self.term()?;
        while let Some((op, _)) = self.eat_op(&['+', '-']) {
            let r = self.term()?;
            v = if op == '+' { v + r } else { v - r };
        }
        self.depth -= 1;
        Ok(v)
    }

    fn term(&mut self) -> Result<f64, ToolError> {
        let mut v = self.unary()?;
        while let Some((op, at)) = self.eat_op(&['*', '/', '%']) {
            let r = self.unary()?;
            v = match op {
                '*' => v * r,
                _ if r == 0.0 => {
                    return Err(err_at(at, if op == '/' { "division by zero" } else { "modulo by zero" }));
                }
                '/' => v / r,
                _ => v % r,
            };
        }
        Ok(v)
    }

    fn unary(&mut self) -> Result<f64, ToolError> {
        if let Some((op, _)) = self.eat_op(&['-', '+']) {
            self.enter()?;
            let v = self.unary()?;
            self.depth -= 1;
            return Ok(if op == '-' { -v } else { v });
        }
        self.power()
    }

    fn power(&mut self) -> Result<f64, ToolError> {
        let base = self.primary()?;
        if self.eat_op(&['^']).is_some() {
            self.enter()?;
            let exp = self.unary()?;
            self.depth -= 1;
            return Ok(base.powf(exp));
        }
        Ok(base)
    }

    fn primary(&mut self) -> Result<f64, ToolError> {
        let t = self.next()?;
        match t.kind {
            Kind::Num(n) => Ok(n),
            Kind::LParen => {
                let v = self.expr()?;
                self.expect_rparen(t.at)?;
                Ok(v)
            }
            Kind::Name(name) => {
                if matches!(self.peek(), Some(Token { kind: Kind::LParen, .. })) {
                    self.pos += 1;
                    self.call(&name, t.at)
                } else if let Some(v) = self.vars.get(&name) {
                    Ok(*v)
                } else if let Some((_, v)) = CONSTANTS.iter().find(|(n, _)| *n == name) {
                    Ok(*v)
                } else if FUNCTIONS.iter().any(|(n, _)| *n == name) {
                    Err(err_at(t.at, format!("function `{name}` needs arguments: {name}(...)")))
                } else {
                    Err(err_at(
                        t.at,
                        format!("unknown name `{name}` (constants: pi, e, tau; or pass it in `variables`)"),
                    ))
                }
            }
            other => Err(err_at(t.at, format!("unexpected {}", other.describe()))),
        }
    }

    fn expect_rparen(&mut self, open_at: usize) -> Result<(), ToolError> {
        match self.peek() {
            Some(Token { kind: Kind::RParen, .. }) => {
                self.pos += 1;
                Ok(())
            }
            Some(t) => Err(err_at(t.at, format!("expected `)`, found {}", t.kind.describe()))),
            None => Err(err_at(open_at, "`(` is not closed")),
        }
    }

    fn call(&mut self, name: &str, at: usize) -> Result<f64, ToolError> {
        let Some((_, arity)) = FUNCTIONS.iter().find(|(n, _)| *n == name) else {
            return Err(err_at(
                at,
                format!(
                    "unknown function `{name}` (known: {})",
                    FUNCTIONS.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", ")
                ),
            ));
        };
        let mut args = vec![self.expr()?];
        while matches!(self.peek(), Some(Token { kind: Kind::Comma, .. })) {
            self.pos += 1;
            args.push(self.expr()?);
        }
        self.expect_rparen(at + name.chars().count())?;
        if let Some(n) = arity
            && args.len() != *n
        {
            return Err(err_at(
                at,
                format!("`{name}` takes {n} argument{}, got {}", if *n == 1 { "" } else { "s" }, args.len()),
            ));
        }
        let x = args[0];
        let domain = |ok: bool, what: &str| {
            if ok { Ok(()) } else { Err(err_at(at, format!("`{name}` {what}"))) }
        };
        Ok(match name {
            "sqrt" => {
                domain(x >= 0.0, "of a negative number")?;
                x.sqrt()
            }
            "cbrt" => x.cbrt(),
            "abs" => x.abs(),
            "min" => args.iter().copied().fold(f64::INFINITY, f64::min),
            "max" => args.iter().copied().fold(f64::NEG_INFINITY, f64::max),
            "round" => x.round(),
            "floor" => x.floor(),
            "ceil" => x.ceil(),
            "trunc" => x.trunc(),
            "exp" => x.exp(),
            "ln" | "log10" | "log2" => {
                domain(x > 0.0, "of a number <= 0")?;
                match name {
                    "ln" => x.ln(),
                    "log10" => x.log10(),
                    _ => x.log2(),
                }
            }
            "log" => {
                domain(x > 0.0, "of a number <= 0")?;
                domain(args[1] > 0.0 && args[1] != 1.0, "base must be > 0 and != 1")?;
                x.log(args[1])
            }
            "sin" => x.sin(),
            "cos" => x.cos(),
            "tan" => x.tan(),
            "asin" | "acos" => {
                domain((-1.0..=1.0).contains(&x), "is only defined on [-1, 1]")?;
                if name == "asin" { x.asin() } else { x.acos() }
            }
            "atan" => x.atan(),
            "atan2" => x.atan2(args[1]),
            "hypot" => x.hypot(args[1]),
            _ => unreachable!("every function in FUNCTIONS is handled"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(s: &str) -> Result<f64, ToolError> {
        evaluate(s, &BTreeMap::new())
    }

    #[test]
    fn precedence_and_associativity() {
        assert_eq!(ev("1 + 2 * 3").unwrap(), 7.0);
        assert_eq!(ev("(1 + 2) * 3").unwrap(), 9.0);
        assert_eq!(ev("2 ^ 3 ^ 2").unwrap(), 512.0);
        assert_eq!(ev("-2^2").unwrap(), -4.0);
        assert_eq!(ev("2^-1").unwrap(), 0.5);
        assert_eq!(ev("2**3").unwrap(), 8.0);
        assert_eq!(ev("10 - 4 - 3").unwrap(), 3.0);
        assert_eq!(ev("100 / 10 / 5").unwrap(), 2.0);
        assert_eq!(ev("7 % 4").unwrap(), 3.0);
        assert_eq!(ev("--3").unwrap(), 3.0);
        assert_eq!(ev("1.5e3 + .5").unwrap(), 1500.5);
        assert_eq!(ev("2e").unwrap_err().kind(), toolhost_sdk::ErrorKind::InvalidInput);
        assert_eq!(ev("2*e").unwrap(), 2.0 * std::f64::consts::E);
    }

    #[test]
    fn functions_and_constants() {
        assert_eq!(ev("sqrt(16) + abs(-2)").unwrap(), 6.0);
        assert_eq!(ev("max(1, 5, 3) - min(4, 2)").unwrap(), 3.0);
        assert!((ev("cos(pi)").unwrap() + 1.0).abs() < 1e-12);
        assert_eq!(ev("log(8, 2)").unwrap(), 3.0);
        assert_eq!(ev("round(2.5)").unwrap(), 3.0);
    }

    #[test]
    fn variables() {
        let vars = BTreeMap::from([("x".to_owned(), 3.0), ("rate".to_owned(), 0.5)]);
        assert_eq!(evaluate("x * rate + 1", &vars).unwrap(), 2.5);
    }

    #[test]
    fn errors() {
        let msg = |s: &str| ev(s).unwrap_err().message().to_owned();
        assert_eq!(msg("1 / 0"), "division by zero at character 3");
        assert_eq!(msg("1 / (2 - 2)"), "division by zero at character 3");
        assert_eq!(msg("5 % 0"), "modulo by zero at character 3");
        assert_eq!(msg("sqrt(-1)"), "`sqrt` of a negative number at character 1");
        assert_eq!(msg("(1 + 2"), "`(` is not closed at character 1");
        assert_eq!(msg("1 +"), "unexpected end of expression");
        assert_eq!(msg("1 2"), "unexpected number 2 at character 3");
        assert_eq!(
            msg("foo + 1"),
            "unknown name `foo` (constants: pi, e, tau; or pass it in `variables`) at character 1"
        );
        assert!(msg("nope(1)").starts_with("unknown function `nope`"));
        assert_eq!(msg("sqrt(1, 2)"), "`sqrt` takes 1 argument, got 2 at character 1");
        assert_eq!(msg("1 $ 2"), "unexpected character '$' at character 3");
        assert!(msg("10^400").contains("not a finite number"));
        assert!(msg(&"(".repeat(200)).contains("nested deeper"));
        assert!(msg(&"-".repeat(200)).contains("nested deeper"));
        assert!(msg(&"1+".repeat(3000)).contains("too long"));
        assert_eq!(msg(""), "unexpected end of expression");
    }
}
