//! The result cache as tenants see it: every stored result is recorded under
//! its tenant and tool ([`Quotas`]' ledger), so an operator can clear one
//! tenant's or one tool's results, and a tenant's `cache_bytes` quota evicts
//! its own oldest results (never another tenant's).
//!
//! The cache layer says whose call a result answers when it stores one
//! ([`CacheBackend::put_for`]); a plain `put` is stored unrecorded.

use crate::cache::{Acquired, BoxFuture, CacheBackend, CacheKey, Lease, Owner};
use crate::quota::Quotas;
use std::sync::Arc;
use std::time::Duration;
use toolhost_core::ToolOutput;

/// A cache backend recording what it stores per tenant and tool.
#[derive(Debug)]
pub struct ScopedCache {
    inner: Arc<dyn CacheBackend>,
    quotas: Quotas,
}

/// What [`ScopedCache::clear`] removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Cleared {
    /// Entries removed (for a full clear of a backend that cannot count: none).
    pub removed: Option<u64>,
    /// Whether the whole backend was cleared, or only the entries this
    /// process recorded for the tenant/tool (results other processes stored
    /// in a shared cache are not known here).
    pub scoped: bool,
}

impl ScopedCache {
    /// `inner`, recording into `quotas`' ledger.
    pub fn new(inner: Arc<dyn CacheBackend>, quotas: Quotas) -> ScopedCache {
        ScopedCache { inner, quotas }
    }

    /// Removes the results of `tenant` and `tool` (each: any when `None`);
    /// with neither, everything in the backend.
    pub async fn clear(&self, tenant: Option<&str>, tool: Option<&str>) -> Cleared {
        let keys = self.quotas.cache_forget(tenant, tool);
        if tenant.is_none() && tool.is_none() {
            return Cleared { removed: self.inner.clear().await, scoped: false };
        }
        for k in &keys {
            self.inner.remove(k).await;
        }
        Cleared { removed: Some(keys.len() as u64), scoped: true }
    }
}

impl CacheBackend for ScopedCache {
    fn get<'a>(&'a self, key: &'a CacheKey) -> BoxFuture<'a, Option<Arc<ToolOutput>>> {
        self.inner.get(key)
    }

    /// Reads need no scope: an in-process store still answers without a future.
    fn get_now(&self, key: &CacheKey) -> Option<Option<Arc<ToolOutput>>> {
        self.inner.get_now(key)
    }

    fn put<'a>(&'a self, key: CacheKey, value: Arc<ToolOutput>, ttl: Duration) -> BoxFuture<'a, ()> {
        self.inner.put(key, value, ttl)
    }

    fn put_for<'a>(
        &'a self,
        owner: Owner<'a>,
        key: CacheKey,
        value: Arc<ToolOutput>,
        ttl: Duration,
    ) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            let weigh = || u64::from(crate::memory_cache::weight(&value));
            let Some(evict) = self.quotas.cache_store(owner.tenant, owner.tool, &key, ttl, weigh) else {
                tracing::debug!(
                    tenant = owner.tenant,
                    tool = owner.tool,
                    "result larger than the tenant's cache_bytes quota; not cached"
                );
                return;
            };
            for k in &evict {
                self.inner.remove(k).await;
            }
            self.inner.put(key, value, ttl).await
        })
    }

    fn acquire<'a>(&'a self, key: &'a CacheKey, max_wait: Option<Duration>) -> BoxFuture<'a, Acquired> {
        self.inner.acquire(key, max_wait)
    }

    fn release<'a>(&'a self, key: &'a CacheKey, lease: Lease) -> BoxFuture<'a, ()> {
        self.inner.release(key, lease)
    }

    fn remove<'a>(&'a self, key: &'a CacheKey) -> BoxFuture<'a, ()> {
        self.inner.remove(key)
    }

    fn clear(&self) -> BoxFuture<'_, Option<u64>> {
        self.inner.clear()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::MemoryCache;
    use toolhost_core::quota::QuotaConfig;

    fn out(n: usize) -> Arc<ToolOutput> {
        Arc::new(ToolOutput { value: Some(serde_json::json!("x".repeat(n))), content: vec![] })
    }

    #[tokio::test]
    async fn clearing_by_tenant_or_tool_removes_only_those_results() {
        let quotas = Quotas::new(Arc::new(crate::TokioClock));
        let c = ScopedCache::new(Arc::new(MemoryCache::new(1 << 20)), quotas.clone());
        let ttl = Duration::from_secs(60);
        let put = |tenant, tool, k: &str| c.put_for(Owner { tenant, tool }, CacheKey(k.into()), out(1), ttl);
        put("acme", "a", "1").await;
        put("acme", "b", "2").await;
        put("beta", "a", "3").await;
        let cleared = c.clear(Some("acme"), Some("a")).await;
        assert_eq!(cleared, Cleared { removed: Some(1), scoped: true });
        assert!(c.get(&CacheKey("1".into())).await.is_none());
        assert!(c.get(&CacheKey("2".into())).await.is_some());
        assert_eq!(c.clear(None, Some("a")).await.removed, Some(1));
        assert!(c.get(&CacheKey("3".into())).await.is_none());
        // A tenant's cache_bytes evicts its own oldest result.
        quotas.set("beta", QuotaConfig { cache_bytes: Some(150), ..Default::default() });
        put("beta", "a", "4").await;
        put("beta", "a", "5").await;
        put("beta", "a", "6").await;
        assert!(c.get(&CacheKey("4".into())).await.is_none(), "evicted for beta's quota");
        assert!(c.get(&CacheKey("6".into())).await.is_some());
        assert!(c.get(&CacheKey("2".into())).await.is_some(), "acme's results stay");
        assert!(!c.clear(None, None).await.scoped);
        assert!(c.get(&CacheKey("2".into())).await.is_none());
    }
}
