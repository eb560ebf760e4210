//! Result-cache keys of argument texts already accepted: a repeated call
//! (same tool version, tenant and argument text) finds its cache key without
//! its arguments being parsed, validated and hashed again. Sound because the
//! version id ([`Attempt::arguments_version`](crate::Attempt::arguments_version))
//! is never reused and fixes the argument rules, and a key is a pure function
//! of (tenant, tool, the version's digest, arguments). Every field is compared
//! in full on a lookup (the hash only finds the slot), so a tenant never gets
//! another tenant's key. Bounded: short argument texts only, a fixed number of
//! entries (a full shard starts over).

use crate::cache::CacheKey;
use std::collections::HashMap;
use std::hash::BuildHasher;
use std::sync::Mutex;
use toolhost_core::padded::Padded;
use toolhost_core::text::same;

/// Longest argument text remembered, bytes.
pub(crate) const MAX_ARGS: usize = 1024;
const SHARDS: usize = 8;
/// Entries per shard before it starts over.
const PER_SHARD: usize = 256;

/// What one remembered key was computed from.
#[derive(PartialEq, Eq)]
struct Source {
    version: u64,
    tool: Box<str>,
    tenant: Box<str>,
    args: Box<str>,
}

impl Source {
    fn is(&self, version: u64, tool: &str, tenant: &str, args: &str) -> bool {
        self.version == version
            && same(&self.tool, tool)
            && same(&self.tenant, tenant)
            && same(&self.args, args)
    }
}

/// Entries by slot (already a hash: the map's own hasher only folds it).
type Shard = HashMap<u64, (Source, CacheKey), toolhost_core::fold_hash::BuildFold>;

/// The memo: sharded so concurrent calls rarely share a lock.
#[derive(Default)]
pub(crate) struct KeyMemo {
    hasher: toolhost_core::fold_hash::BuildFold,
    shards: [Padded<Mutex<Shard>>; SHARDS],
}

impl std::fmt::Debug for KeyMemo {
    // Argument texts stay out of debug output (they may be personal).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let entries: usize = self.shards.iter().map(|s| s.lock().map_or(0, |s| s.len())).sum();
        f.debug_struct("KeyMemo").field("entries", &entries).finish()
    }
}

impl KeyMemo {
    fn slot(&self, version: u64, tool: &str, tenant: &str, args: &str) -> u64 {
        self.hasher.hash_one((version, tool, tenant, args))
    }

    fn shard(&self, slot: u64) -> std::sync::MutexGuard<'_, Shard> {
        self.shards[slot as usize % SHARDS].lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The key remembered for exactly these fields, if any.
    pub(crate) fn get(&self, version: u64, tool: &str, tenant: &str, args: &str) -> Option<CacheKey> {
        if args.len() > MAX_ARGS {
            return None;
        }
        let slot = self.slot(version, tool, tenant, args);
        let shard = self.shard(slot);
        let (source, key) = shard.get(&slot)?;
        source.is(version, tool, tenant, args).then(|| key.clone())
    }

    /// Remembers `key` as the key of these fields (short argument texts only).
    pub(crate) fn put(&self, version: u64, tool: &str, tenant: &str, args: &str, key: CacheKey) {
        if args.len() > MAX_ARGS {
            return;
        }
        let slot = self.slot(version, tool, tenant, args);
        let mut shard = self.shard(slot);
        if shard.get(&slot).is_some_and(|(s, _)| s.is(version, tool, tenant, args)) {
            return;
        }
        if shard.len() >= PER_SHARD {
            shard.clear();
        }
        let source = Source { version, tool: tool.into(), tenant: tenant.into(), args: args.into() };
        shard.insert(slot, (source, key));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(s: &str) -> CacheKey {
        CacheKey(s.into())
    }

    #[test]
    fn a_key_is_found_only_for_the_same_version_tool_tenant_and_text() {
        let m = KeyMemo::default();
        m.put(1, "t.x", "acme", r#"{"a":1}"#, key("k-acme"));
        assert_eq!(m.get(1, "t.x", "acme", r#"{"a":1}"#), Some(key("k-acme")));
        assert_eq!(m.get(1, "t.x", "other", r#"{"a":1}"#), None, "another tenant");
        assert_eq!(m.get(2, "t.x", "acme", r#"{"a":1}"#), None, "another version");
        assert_eq!(m.get(1, "t.y", "acme", r#"{"a":1}"#), None, "another tool");
        assert_eq!(m.get(1, "t.x", "acme", r#"{"a": 1}"#), None, "another text");
        m.put(1, "t.x", "other", r#"{"a":1}"#, key("k-other"));
        assert_eq!(m.get(1, "t.x", "other", r#"{"a":1}"#), Some(key("k-other")));
        assert_eq!(m.get(1, "t.x", "acme", r#"{"a":1}"#), Some(key("k-acme")));
    }

    #[test]
    fn long_texts_are_not_remembered_and_the_memo_stays_bounded() {
        let m = KeyMemo::default();
        let long = "x".repeat(MAX_ARGS + 1);
        m.put(1, "t", "d", &long, key("k"));
        assert_eq!(m.get(1, "t", "d", &long), None);
        for i in 0..(SHARDS * PER_SHARD * 3) {
            m.put(1, "t", "d", &i.to_string(), key("k"));
        }
        let total: usize = m.shards.iter().map(|s| s.lock().unwrap().len()).sum();
        assert!(total <= SHARDS * PER_SHARD, "{total}");
    }
}
