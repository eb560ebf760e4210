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

/// `prefix` followed by `n` as 32 lower-case hex digits, without the
/// formatting machinery (ids are minted on every call).
pub fn hex_id(prefix: &str, n: u128) -> String {
    let mut digits = [0u8; 32];
    // Two 64-bit halves: shifting a u128 by a variable amount costs branches.
    for (half, word) in digits.chunks_exact_mut(16).zip([(n >> 64) as u64, n as u64]) {
        for (i, d) in half.iter_mut().enumerate() {
            *d = DIGITS[((word >> (60 - 4 * i)) & 0xf) as usize];
        }
    }
    let mut out = String::with_capacity(prefix.len() + digits.len());
    out.push_str(prefix);
    out.push_str(std::str::from_utf8(&digits).expect("ASCII digits"));
    out
}

const DIGITS: &[u8; 16] = b"0123456789abcdef";

/// `prefix` followed by `bytes` in lower-case hex.
pub fn hex(prefix: &str, bytes: &[u8]) -> String {
    // Digits go into a stack buffer, then one allocation of the exact size
    // (ids and cache keys are minted on every call; per-pair pushes or a
    // zeroed heap buffer cost more than the formatting).
    let mut out = String::with_capacity(prefix.len() + 2 * bytes.len());
    out.push_str(prefix);
    let mut buf = [0u8; 128];
    for chunk in bytes.chunks(buf.len() / 2) {
        let digits = &mut buf[..2 * chunk.len()];
        for (pair, b) in digits.chunks_exact_mut(2).zip(chunk) {
            pair[0] = DIGITS[usize::from(b >> 4)];
            pair[1] = DIGITS[usize::from(b & 0xf)];
        }
        out.push_str(std::str::from_utf8(digits).expect("ASCII digits"));
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

#[cfg(test)]
mod tests {
    #[test]
    fn hex_id_is_the_formatted_number() {
        for n in [0u128, 1, 0xdead_beef, u128::MAX, 0x0123_4567_89ab_cdef_0011_2233_4455_6677] {
            assert_eq!(super::hex_id("call_", n), format!("call_{n:032x}"));
            let le: String = n.to_le_bytes().iter().map(|b| format!("{b:02x}")).collect();
            assert_eq!(super::hex("", &n.to_le_bytes()), le);
        }
        let long: Vec<u8> = (0..=255u8).chain(0..=99).collect();
        let expected: String = long.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(super::hex("k", &long), format!("k{expected}"));
    }
}
