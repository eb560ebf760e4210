//! Which cached results belong to which tenant and tool, and how many bytes
//! each tenant holds: the result cache keys are digests, so scoped clearing
//! (`DELETE /admin/cache?tenant=&tool=`) and the `cache_bytes` quota read
//! this ledger of what this process stored.

use crate::cache::CacheKey;
use std::collections::VecDeque;
use std::time::Instant;

/// Entries one tenant may have in the ledger; past it the oldest are
/// forgotten (they stay in the cache until their TTL, unscoped).
const MAX_ENTRIES: usize = 100_000;

/// One stored result.
#[derive(Debug, Clone)]
pub(crate) struct Stored {
    pub(crate) key: CacheKey,
    pub(crate) tool: String,
    pub(crate) bytes: u64,
    pub(crate) expires: Instant,
}

/// One tenant's stored results, oldest first.
#[derive(Debug, Default)]
pub(crate) struct Ledger {
    entries: VecDeque<Stored>,
    bytes: u64,
}

impl Ledger {
    /// Bytes held by entries that have not expired at `now`.
    pub(crate) fn bytes(&mut self, now: Instant) -> u64 {
        self.prune(now);
        self.bytes
    }

    fn prune(&mut self, now: Instant) {
        let before = self.entries.len();
        self.entries.retain(|e| e.expires > now);
        if self.entries.len() != before {
            self.bytes = self.entries.iter().map(|e| e.bytes).sum();
        }
    }

    /// Records `s` (replacing an entry of the same key), first evicting the
    /// oldest entries until `cap` (if any) has room; returns the evicted keys,
    /// or `None` when `s` alone is larger than `cap` (then nothing changes).
    pub(crate) fn store(&mut self, s: Stored, cap: Option<u64>, now: Instant) -> Option<Vec<CacheKey>> {
        if cap.is_some_and(|c| s.bytes > c) {
            return None;
        }
        self.prune(now);
        self.take_where(|e| e.key == s.key);
        let mut evicted = Vec::new();
        while let Some(c) = cap
            && self.bytes + s.bytes > c
            && let Some(old) = self.entries.pop_front()
        {
            self.bytes -= old.bytes;
            evicted.push(old.key);
        }
        if self.entries.len() >= MAX_ENTRIES
            && let Some(old) = self.entries.pop_front()
        {
            self.bytes -= old.bytes;
        }
        self.bytes += s.bytes;
        self.entries.push_back(s);
        Some(evicted)
    }

    /// Removes and returns the keys of entries matching `f`.
    pub(crate) fn take_where(&mut self, f: impl Fn(&Stored) -> bool) -> Vec<CacheKey> {
        let (gone, kept): (Vec<_>, Vec<_>) = self.entries.drain(..).partition(|e| f(e));
        self.entries = kept.into();
        self.bytes = self.entries.iter().map(|e| e.bytes).sum();
        gone.into_iter().map(|e| e.key).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn stored(key: &str, tool: &str, bytes: u64, expires: Instant) -> Stored {
        Stored { key: CacheKey(key.into()), tool: tool.into(), bytes, expires }
    }

    #[test]
    fn the_cap_evicts_oldest_first_and_refuses_what_never_fits() {
        let now = Instant::now();
        let later = now + Duration::from_secs(300);
        let mut l = Ledger::default();
        assert_eq!(l.store(stored("a", "t", 40, later), Some(100), now), Some(vec![]));
        assert_eq!(l.store(stored("b", "t", 40, later), Some(100), now), Some(vec![]));
        let evicted = l.store(stored("c", "u", 40, later), Some(100), now).unwrap();
        assert_eq!(evicted, vec![CacheKey("a".into())]);
        assert_eq!(l.bytes(now), 80);
        assert_eq!(l.store(stored("d", "t", 101, later), Some(100), now), None);
        assert_eq!(l.take_where(|e| e.tool == "u"), vec![CacheKey("c".into())]);
        assert_eq!(l.bytes(now), 40);
        // Expired entries no longer count.
        assert_eq!(l.bytes(later), 0);
    }
}
