//! The shared result cache: successes stored in Redis as JSON with a `PX`
//! TTL, and a lease per key so concurrent misses in different processes run
//! the tool once.
//!
//! Keys (hash tag around the SHA-256 so a value and its lease share a slot,
//! which the acquire script needs on Redis Cluster):
//!
//! * `{prefix}:cache:{<sha256>}` — the `ToolOutput` as JSON;
//! * `{prefix}:cache:{<sha256>}:lease` — the token of the process computing it
//!   (`SET NX PX cache_lease_ms`: a dead holder's lease expires).
//!
//! Every Redis error or timeout is a miss (get), a no-op (put, release) or
//! "lead without a lease" (acquire): the cache never fails a call. A caller
//! that stops waiting for a lease (cancelled, out of time) may drop `acquire`
//! mid-round-trip; the lease it may just have taken is then released in the
//! background, so no other process waits for a holder that is gone.

use crate::Redis;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock};
use std::time::Duration;
use toolhost_core::call::ToolOutput;
use toolhost_core::observe::metrics::redis_fallback;
use toolhost_exec::cache::{Acquired, BoxFuture, CacheBackend, CacheKey, Lease};

/// `KEYS[1]` value, `KEYS[2]` lease, `ARGV[1]` token, `ARGV[2]` lease ms.
/// `{1, value}`: stored meanwhile; `{2}`: lease taken; `{0}`: someone else holds it.
/// Checking the value and taking the lease in one step closes the race where
/// the holder stores the value and releases between our two round trips.
static ACQUIRE: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"
local v = redis.call('GET', KEYS[1])
if v then return {1, v} end
if redis.call('SET', KEYS[2], ARGV[1], 'NX', 'PX', ARGV[2]) then return {2, false} end
return {0, false}
",
    )
});

/// Compare-and-delete: `KEYS[1]` lease, `ARGV[1]` token.
static RELEASE: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
",
    )
});

/// Result cache in a shared Redis (see the module docs).
#[derive(Debug)]
pub struct RedisCache {
    redis: Redis,
    /// `pid:random`, unique to this cache instance; a counter makes each lease token unique.
    owner: String,
    seq: AtomicU64,
}

impl RedisCache {
    /// A cache over `redis` (keys under its prefix).
    pub fn new(redis: Redis) -> RedisCache {
        let owner = format!("{}:{:016x}", std::process::id(), rand::random::<u64>());
        RedisCache { redis, owner, seq: AtomicU64::new(0) }
    }

    /// `{prefix}:cache:{<sha256>}`.
    pub fn value_key(&self, key: &CacheKey) -> String {
        self.redis.key(&format!("cache:{{{}}}", key.0))
    }

    /// `{prefix}:cache:{<sha256>}:lease`.
    pub fn lease_key(&self, key: &CacheKey) -> String {
        format!("{}:lease", self.value_key(key))
    }

    fn decode(&self, key: &CacheKey, bytes: &[u8]) -> Option<Arc<ToolOutput>> {
        match serde_json::from_slice::<ToolOutput>(bytes) {
            Ok(v) => Some(Arc::new(v)),
            Err(e) => {
                tracing::warn!(key = %key.0, error = %e, "unreadable cache entry in redis; treated as a miss");
                None
            }
        }
    }

    /// One acquire round trip: `Ok(Some(acquired))` when decided, `Ok(None)`
    /// when another process holds the lease.
    async fn try_acquire(&self, key: &CacheKey, token: &str) -> Result<Option<Acquired>, crate::RedisError> {
        let (vk, lk) = (self.value_key(key), self.lease_key(key));
        let lease_ms = self.redis.config().cache_lease_ms.max(1);
        let mut c = self.redis.conn();
        let (state, value): (i64, Option<Vec<u8>>) = self
            .redis
            .run_degradable(async move {
                let mut inv = ACQUIRE.prepare_invoke();
                inv.key(vk).key(lk).arg(token).arg(lease_ms);
                inv.invoke_async(&mut c).await
            })
            .await?;
        Ok(match (state, value) {
            (1, Some(bytes)) => match self.decode(key, &bytes) {
                Some(v) => Some(Acquired::Value(v)),
                None => Some(Acquired::Lead(None)),
            },
            (2, _) => Some(Acquired::Lead(Some(Lease { token: token.to_string() }))),
            _ => None,
        })
    }
}

impl CacheBackend for RedisCache {
    fn get<'a>(&'a self, key: &'a CacheKey) -> BoxFuture<'a, Option<Arc<ToolOutput>>> {
        Box::pin(async move {
            let k = self.value_key(key);
            let mut c = self.redis.conn();
            let got: Result<Option<Vec<u8>>, _> = self
                .redis
                .run_degradable(async move { redis::cmd("GET").arg(k).query_async(&mut c).await })
                .await;
            match got {
                Ok(Some(bytes)) => self.decode(key, &bytes),
                Ok(None) => None,
                Err(e) => {
                    tracing::debug!(error = %e, "redis cache get failed; miss");
                    redis_fallback("cache_get");
                    None
                }
            }
        })
    }

    fn put<'a>(&'a self, key: CacheKey, value: Arc<ToolOutput>, ttl: Duration) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            let bytes = match serde_json::to_vec(&*value) {
                Ok(b) => b,
                Err(e) => {
                    tracing::warn!(error = %e, "cache value does not serialize; not stored");
                    return;
                }
            };
            let k = self.value_key(&key);
            let px = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
            let mut c = self.redis.conn();
            let r: Result<(), _> = self
                .redis
                .run_degradable(async move {
                    redis::cmd("SET").arg(k).arg(bytes).arg("PX").arg(px).query_async(&mut c).await
                })
                .await;
            if let Err(e) = r {
                tracing::debug!(error = %e, "redis cache put failed; not stored");
                redis_fallback("cache_put");
            }
        })
    }

    fn acquire<'a>(&'a self, key: &'a CacheKey, max_wait: Option<Duration>) -> BoxFuture<'a, Acquired> {
        Box::pin(async move {
            let token = format!("{}:{}", self.owner, self.seq.fetch_add(1, Ordering::Relaxed));
            // Wait at most one lease TTL (the holder's lease has expired by
            // then) and never past the call's deadline.
            let lease = Duration::from_millis(self.redis.config().cache_lease_ms);
            let limit = max_wait.map_or(lease, |w| w.min(lease));
            let until = tokio::time::Instant::now() + limit;
            let mut abandoned = Abandoned { cache: self, key, token: Some(token.clone()) };
            loop {
                match self.try_acquire(key, &token).await {
                    Ok(Some(decided)) => return abandoned.settle(decided),
                    Ok(None) => {}
                    Err(e) => {
                        tracing::debug!(error = %e, "redis cache lease failed; running without one");
                        redis_fallback("cache_lease");
                        return abandoned.settle(Acquired::Lead(None));
                    }
                }
                let now = tokio::time::Instant::now();
                if now >= until {
                    tracing::debug!(key = %key.0, "cache lease still held after waiting; running without one");
                    return abandoned.settle(Acquired::Lead(None));
                }
                // Poll every 10–25 ms (jittered so waiters do not move in lockstep).
                let poll = Duration::from_millis(10 + rand::random::<u64>() % 16);
                tokio::time::sleep(poll.min(until - now)).await;
            }
        })
    }

    fn release<'a>(&'a self, key: &'a CacheKey, lease: Lease) -> BoxFuture<'a, ()> {
        Box::pin(release_lease(self.redis.clone(), self.lease_key(key), lease.token))
    }

    fn remove<'a>(&'a self, key: &'a CacheKey) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            let k = self.value_key(key);
            let mut c = self.redis.conn();
            let r: Result<(), _> =
                self.redis.run(async move { redis::cmd("DEL").arg(k).query_async(&mut c).await }).await;
            if let Err(e) = r {
                tracing::warn!(error = %e, "redis cache entry not removed");
            }
        })
    }

    fn clear(&self) -> BoxFuture<'_, Option<u64>> {
        Box::pin(async move {
            match clear_values(&self.redis).await {
                Ok(n) => Some(n),
                Err(e) => {
                    tracing::warn!(error = %e, "redis cache not (fully) cleared");
                    None
                }
            }
        })
    }
}

/// Deletes every cached value under the key prefix (SCAN + DEL, in batches):
/// the number deleted.
async fn clear_values(redis: &Redis) -> Result<u64, crate::RedisError> {
    let pattern = redis.key("cache:*");
    let (mut cursor, mut deleted) = (0u64, 0u64);
    loop {
        let mut c = redis.conn();
        let p = pattern.clone();
        let (next, keys): (u64, Vec<String>) = redis
            .run(async move {
                redis::cmd("SCAN")
                    .arg(cursor)
                    .arg("MATCH")
                    .arg(p)
                    .arg("COUNT")
                    .arg(500)
                    .query_async(&mut c)
                    .await
            })
            .await?;
        let values: Vec<String> = keys.into_iter().filter(|k| !k.ends_with(":lease")).collect();
        if !values.is_empty() {
            let mut c = redis.conn();
            let n: u64 =
                redis.run(async move { redis::cmd("DEL").arg(values).query_async(&mut c).await }).await?;
            deleted += n;
        }
        if next == 0 {
            return Ok(deleted);
        }
        cursor = next;
    }
}

/// Compare-and-delete of the lease at `lease_key` if it still holds `token`.
async fn release_lease(redis: Redis, lease_key: String, token: String) {
    let mut c = redis.conn();
    let r: Result<i64, _> = redis
        .run_degradable(async move {
            let mut inv = RELEASE.prepare_invoke();
            inv.key(lease_key).arg(token);
            inv.invoke_async(&mut c).await
        })
        .await;
    if let Err(e) = r {
        // The lease expires on its own after cache_lease_ms.
        tracing::debug!(error = %e, "redis cache lease release failed");
        redis_fallback("cache_release");
    }
}

/// An `acquire` in progress: if its caller drops it (stops waiting), the
/// lease its last round trip may have taken is released in the background.
struct Abandoned<'a> {
    cache: &'a RedisCache,
    key: &'a CacheKey,
    token: Option<String>,
}

impl Abandoned<'_> {
    /// The acquire finished: whatever it holds is the caller's now.
    fn settle(&mut self, decided: Acquired) -> Acquired {
        self.token = None;
        decided
    }
}

impl Drop for Abandoned<'_> {
    fn drop(&mut self) {
        if let (Some(token), Ok(rt)) = (self.token.take(), tokio::runtime::Handle::try_current()) {
            rt.spawn(release_lease(self.cache.redis.clone(), self.cache.lease_key(self.key), token));
        }
    }
}
