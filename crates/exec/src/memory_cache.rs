//! [`MemoryCache`]: the default result store, in process and bounded in bytes.
//!
//! A sharded S3-FIFO cache (`quick_cache`): a lookup takes one shard's read
//! lock and clones an `Arc`, with no bookkeeping queue behind it (moka's
//! TinyLFU recorded every read: 1,600 instructions of a 10,900-instruction
//! cache hit). Entries carry their own expiry instant and weight; an expired
//! entry is a miss and is removed by the lookup that finds it (or evicted
//! when its shard needs the room).

use crate::cache::{BoxFuture, CacheBackend, CacheKey};
use std::sync::Arc;
use std::time::{Duration, Instant};
use toolhost_core::call::ToolOutput;
use toolhost_core::fold_hash::BuildFold;

#[derive(Clone)]
struct Entry {
    value: Arc<ToolOutput>,
    expires: Instant,
    /// Approximate bytes, computed once at insert (eviction reads it often).
    weight: u32,
}

#[derive(Clone)]
struct ByWeight;

impl quick_cache::Weighter<CacheKey, Entry> for ByWeight {
    fn weight(&self, _: &CacheKey, e: &Entry) -> u64 {
        u64::from(e.weight)
    }
}

/// Shards, each with its own lock and an equal share of the bytes.
const SHARDS: usize = 8;

type Store = quick_cache::sync::Cache<CacheKey, Entry, ByWeight, BuildFold>;

/// The default backend: an in-process, byte-bounded cache with a TTL per entry.
pub struct MemoryCache {
    /// Keys are SHA-256 hex: a plain fold hashes them (no chosen collisions).
    inner: Store,
}

impl std::fmt::Debug for MemoryCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryCache").field("entries", &self.inner.len()).finish()
    }
}

/// Approximate bytes an output occupies.
pub(crate) fn weight(o: &ToolOutput) -> u32 {
    let v = o.value.as_ref().map_or(0, |v| v.to_string().len());
    let c: usize = serde_json::to_string(&o.content).map_or(0, |s| s.len());
    (v + c + 64).min(u32::MAX as usize) as u32
}

impl MemoryCache {
    /// A cache holding at most `max_bytes` of results. A result heavier than
    /// one shard's share of `max_bytes` (an eighth) may be left uncached.
    pub fn new(max_bytes: u64) -> MemoryCache {
        // Results average a few hundred bytes; the estimate only sizes tables.
        let items = usize::try_from(max_bytes / 512).unwrap_or(usize::MAX).clamp(64, 1 << 20);
        let options = quick_cache::OptionsBuilder::new()
            .estimated_items_capacity(items)
            .weight_capacity(max_bytes)
            .shards(SHARDS)
            .build()
            .expect("capacities are set");
        MemoryCache {
            inner: Store::with_options(options, ByWeight, BuildFold::default(), Default::default()),
        }
    }

    /// The live value under `key` at `now`; an expired entry is removed.
    fn lookup(&self, key: &CacheKey, now: Instant) -> Option<Arc<ToolOutput>> {
        let e = self.inner.get(key)?;
        if e.expires > now {
            return Some(e.value);
        }
        self.inner.remove_if(key, |e| e.expires <= now);
        None
    }

    /// Results held (expired ones included until looked up or evicted).
    pub fn len(&self) -> usize {
        self.inner.len()
    }

    /// Whether nothing is held.
    pub fn is_empty(&self) -> bool {
        self.inner.is_empty()
    }
}

impl CacheBackend for MemoryCache {
    fn get<'a>(&'a self, key: &'a CacheKey) -> BoxFuture<'a, Option<Arc<ToolOutput>>> {
        let found = self.lookup(key, Instant::now());
        Box::pin(async move { found })
    }

    fn get_now(&self, key: &CacheKey) -> Option<Option<Arc<ToolOutput>>> {
        Some(self.lookup(key, Instant::now()))
    }

    fn put<'a>(&'a self, key: CacheKey, value: Arc<ToolOutput>, ttl: Duration) -> BoxFuture<'a, ()> {
        let weight = weight(&value);
        // A TTL beyond what an Instant holds means "until evicted".
        let expires = Instant::now().checked_add(ttl).unwrap_or_else(far_future);
        self.inner.insert(key, Entry { value, expires, weight });
        Box::pin(async {})
    }

    fn remove<'a>(&'a self, key: &'a CacheKey) -> BoxFuture<'a, ()> {
        self.inner.remove(key);
        Box::pin(async {})
    }

    fn clear(&self) -> BoxFuture<'_, Option<u64>> {
        let n = self.inner.len() as u64;
        self.inner.clear();
        Box::pin(async move { Some(n) })
    }
}

/// An instant no entry outlives (about 30 years ahead).
fn far_future() -> Instant {
    let now = Instant::now();
    now.checked_add(Duration::from_secs(30 * 365 * 86_400)).unwrap_or(now)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn out(v: serde_json::Value) -> Arc<ToolOutput> {
        Arc::new(ToolOutput { value: Some(v), content: vec![] })
    }

    #[tokio::test]
    async fn an_entry_lives_for_its_ttl_and_is_removed_once_expired() {
        let c = MemoryCache::new(1 << 20);
        let (k, short) = (CacheKey("k".into()), CacheKey("short".into()));
        c.put(k.clone(), out(json!(1)), Duration::from_secs(60)).await;
        c.put(short.clone(), out(json!(2)), Duration::from_millis(1)).await;
        assert_eq!(c.get(&k).await.unwrap().value, Some(json!(1)));
        assert_eq!(c.get_now(&k).unwrap().unwrap().value, Some(json!(1)));
        let later = Instant::now() + Duration::from_millis(5);
        assert!(c.lookup(&short, later).is_none(), "expired");
        assert_eq!(c.len(), 1, "the expired entry was removed by its lookup");
        assert!(c.lookup(&k, later).is_some());
    }

    #[tokio::test]
    async fn the_bytes_held_stay_within_max_bytes() {
        let c = MemoryCache::new(64 * 1024);
        for i in 0..2_000 {
            let v = json!({"i": i, "pad": "x".repeat(200)});
            c.put(CacheKey(format!("k{i}").into()), out(v), Duration::from_secs(60)).await;
        }
        assert!(c.inner.weight() <= 64 * 1024, "{} bytes held", c.inner.weight());
        assert!(c.len() < 2_000 && !c.is_empty(), "{} entries", c.len());
        c.put(CacheKey("huge".into()), out(json!("y".repeat(1 << 20))), Duration::from_secs(60)).await;
        assert!(c.get_now(&CacheKey("huge".into())).unwrap().is_none(), "heavier than the cache: not kept");
    }
}
