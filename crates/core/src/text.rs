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

/// `a == b` without a `memcmp` call for values of up to 16 bytes (tool names,
/// tenants, outcome codes): one or two word compares instead of a library
/// call. The call path compares a handful of these on every call (metric
/// labels, the key memo's tool, tenant and arguments).
#[inline(always)]
pub fn same(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let word = |s: &[u8], i: usize| u64::from_le_bytes(s[i..i + 8].try_into().unwrap_or_default());
    a.len() == b.len()
        && match a.len() {
            // With equal lengths, the tail word holds every byte (see `tail_word`).
            0..=7 => tail_word(a) == tail_word(b),
            // The first and the last 8 bytes, overlapping, cover them all.
            8..=16 => word(a, 0) == word(b, 0) && word(a, a.len() - 8) == word(b, b.len() - 8),
            _ => a == b,
        }
}

/// Up to 7 bytes as one word, in a few loads (the first and last 4 bytes,
/// overlapping, or the first, middle and last byte); with the length it
/// tells the bytes apart.
#[inline(always)]
pub(crate) fn tail_word(rest: &[u8]) -> u64 {
    let n = rest.len();
    let u32_at = |i: usize| {
        let w: [u8; 4] = rest.get(i..i + 4).and_then(|w| w.try_into().ok()).unwrap_or_default();
        u64::from(u32::from_le_bytes(w))
    };
    match n {
        0 => 0,
        1..=3 => u64::from(rest[0]) | u64::from(rest[n / 2]) << 8 | u64::from(rest[n - 1]) << 16,
        _ => u32_at(0) | u32_at(n - 4) << 32,
    }
}

#[cfg(test)]
mod tests {
    use super::{same, tail_word};

    #[test]
    fn same_agrees_with_string_equality_at_every_length_and_position() {
        for n in 0..=24usize {
            let a: String = (0..n).map(|i| (b'a' + (i % 26) as u8) as char).collect();
            assert!(same(&a, &a.clone()), "{a:?}");
            for i in 0..n {
                let mut b = a.clone().into_bytes();
                b[i] = b'#';
                let b = String::from_utf8(b).unwrap();
                assert!(!same(&a, &b), "{a:?} vs {b:?}");
            }
            assert!(!same(&a, &format!("{a}x")) && !same(&format!("{a}x"), &a));
        }
    }

    #[test]
    fn tail_words_tell_short_tails_apart() {
        assert_eq!(tail_word(&[]), 0);
        assert_eq!(tail_word(&[1, 2, 3]), 0x03_02_01);
        assert_eq!(tail_word(&[1, 2, 3, 4, 5, 6, 7]), 0x07_06_05_04_04_03_02_01);
        // Every tail of up to 7 bytes from a small alphabet, with its length, is distinct.
        let mut seen = std::collections::HashSet::new();
        for n in 0..=7u32 {
            for i in 0..3u64.pow(n) {
                let tail: Vec<u8> = (0..n).map(|k| (i / 3u64.pow(k) % 3) as u8).collect();
                assert!(seen.insert((tail_word(&tail), n)), "{tail:?}");
            }
        }
    }

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
