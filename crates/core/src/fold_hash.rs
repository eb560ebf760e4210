//! A small multiply-fold hasher (FxHash's scheme) for maps whose keys need
//! no protection from chosen collisions: result-cache keys (SHA-256 hex, so
//! nobody picks their bits), the key memo's slots (every field is compared
//! in full, so a collision costs a recomputation, never a wrong answer),
//! in-flight call numbers, and maps whose keys the operator's plugins and
//! configuration fix (tool names: a caller's lookup inserts nothing).
//! SipHash over a 64-byte key cost more than the lookup it served.

use std::hash::{BuildHasherDefault, Hasher};

/// Hashes 8 bytes at a time: `h = (h.rotl(5) ^ word) * K`.
#[derive(Debug, Default, Clone, Copy)]
pub struct FoldHasher(u64);

const K: u64 = 0x517c_c1b7_2722_0a95;

impl FoldHasher {
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(K);
    }
}

impl Hasher for FoldHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            self.add(u64::from_le_bytes(c.try_into().expect("8 bytes")));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut last = [0u8; 8];
            last[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(last));
        }
    }

    fn write_u8(&mut self, n: u8) {
        self.add(u64::from(n));
    }

    fn write_u64(&mut self, n: u64) {
        self.add(n);
    }

    fn write_usize(&mut self, n: usize) {
        self.add(n as u64);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// [`FoldHasher`] as a `BuildHasher`.
pub type BuildFold = BuildHasherDefault<FoldHasher>;

#[cfg(test)]
mod tests {
    use super::*;
    use std::hash::BuildHasher;

    #[test]
    fn equal_keys_hash_equal_and_nearby_keys_apart() {
        let b = BuildFold::default();
        assert_eq!(b.hash_one("abc"), b.hash_one("abc"));
        let hashes: std::collections::HashSet<u64> =
            (0..1000).map(|i| b.hash_one(format!("{i:064x}"))).collect();
        assert_eq!(hashes.len(), 1000);
        assert_ne!(b.hash_one(("a", "bc")), b.hash_one(("ab", "c")), "str boundaries count");
    }
}
