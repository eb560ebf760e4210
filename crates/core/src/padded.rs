//! A value alone on its cache lines. Shards of a lock or counter that
//! different cores take at the same time must not share a line, else each
//! write by one core evicts the other's copy (false sharing).

use std::ops::Deref;

/// `T`, aligned to 128 bytes (two lines: adjacent-line prefetch pairs them).
#[derive(Debug, Default)]
#[repr(align(128))]
pub struct Padded<T>(pub T);

impl<T> Deref for Padded<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn neighbours_in_an_array_start_on_different_lines() {
        let shards: [super::Padded<std::sync::Mutex<u8>>; 2] = Default::default();
        let (a, b) = (&shards[0] as *const _ as usize, &shards[1] as *const _ as usize);
        assert_eq!(a % 128, 0);
        assert!(b - a >= 128);
    }
}
