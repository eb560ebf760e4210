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
    for (quarter, chunk) in digits.chunks_exact_mut(8).enumerate() {
        chunk.copy_from_slice(&hex8((n >> (96 - 32 * quarter)) as u32));
    }
    let mut out = String::with_capacity(prefix.len() + digits.len());
    out.push_str(prefix);
    out.push_str(std::str::from_utf8(&digits).expect("ASCII digits"));
    out
}

/// The 8 hex digits of `v`, most significant first, computed in one 64-bit
/// word (a few shifts and adds instead of a table lookup per digit).
fn hex8(v: u32) -> [u8; 8] {
    // Spread the nibbles: nibble k (from the least significant) into byte k.
    let mut x = u64::from(v);
    x = (x | (x << 16)) & 0x0000_ffff_0000_ffff;
    x = (x | (x << 8)) & 0x00ff_00ff_00ff_00ff;
    x = (x | (x << 4)) & 0x0f0f_0f0f_0f0f_0f0f;
    // 1 in each byte whose nibble is 10 or more ('a'..'f' start 39 past '9' + 1).
    let letters = ((x + 0x0606_0606_0606_0606) >> 4) & 0x0101_0101_0101_0101;
    (x + 0x3030_3030_3030_3030 + letters * 39).to_be_bytes()
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
        let every_digit = 0x0123_4567_89ab_cdef_fedc_ba98_7654_3210;
        for n in [0u128, 1, 9, 10, 15, 0xdead_beef, u128::MAX, every_digit, 0xa9a9_a9a9 << 64] {
            assert_eq!(super::hex_id("call_", n), format!("call_{n:032x}"));
            let le: String = n.to_le_bytes().iter().map(|b| format!("{b:02x}")).collect();
            assert_eq!(super::hex("", &n.to_le_bytes()), le);
        }
        let long: Vec<u8> = (0..=255u8).chain(0..=99).collect();
        let expected: String = long.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(super::hex("k", &long), format!("k{expected}"));
    }
}
