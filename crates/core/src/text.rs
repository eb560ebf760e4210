//! Text that reaches logs and error messages: bounded and with control
//! characters escaped, whatever a guest or a client sent.

/// Escapes control characters (ANSI sequences included) except `\n` and `\t`.
pub fn escape_control(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        if ch.is_control() && ch != '\n' && ch != '\t' {
            out.extend(ch.escape_default());
        } else {
            out.push(ch);
        }
    }
    out
}

/// At most 256 bytes of `s` (on a char boundary), for error messages.
pub fn preview(s: &str) -> String {
    let mut end = s.len().min(256);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    escape_control(&s[..end])
}
