//! Random numbers and UUIDs from the host's secure random source (WASI `random`).

use toolhost_sdk::ToolError;

/// Largest magnitude of an integer bound: integers stay exact in JSON doubles.
pub const MAX_INT: f64 = 9_007_199_254_740_991.0; // 2^53 - 1

fn random_u64() -> Result<u64, ToolError> {
    getrandom::u64().map_err(|e| ToolError::internal(format!("no random source: {e}")))
}

/// A uniform float in `[min, max)`.
pub fn float(min: f64, max: f64) -> Result<f64, ToolError> {
    let unit = (random_u64()? >> 11) as f64 / (1u64 << 53) as f64;
    let v = min + unit * (max - min);
    // Rounding can land exactly on `max` for huge ranges; stay half-open.
    Ok(if v >= max { min } else { v })
}

/// A uniform integer in `[min, max]` (both inclusive), without modulo bias.
pub fn integer(min: i64, max: i64) -> Result<i64, ToolError> {
    let span = (max - min) as u64 + 1;
    let limit = u64::MAX - (u64::MAX % span);
    loop {
        let r = random_u64()?;
        if r < limit {
            return Ok(min + (r % span) as i64);
        }
    }
}

/// A random (version 4) UUID in its hyphenated lowercase form.
pub fn uuid_v4() -> Result<String, ToolError> {
    let mut b = [0u8; 16];
    getrandom::fill(&mut b).map_err(|e| ToolError::internal(format!("no random source: {e}")))?;
    b[6] = (b[6] & 0x0f) | 0x40; // version 4
    b[8] = (b[8] & 0x3f) | 0x80; // RFC 4122 variant
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    Ok(format!("{}-{}-{}-{}-{}", &hex[0..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..32]))
}
