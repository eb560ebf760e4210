//! Idempotency cache: successful results of idempotent tools, keyed by
//! SHA-256 over canonical JSON (sorted keys) of tenant, tool, the plugin's
//! cache digest (its component and its manifest's config, grants and limits:
//! everything that can change a result) and arguments. Concurrent identical
//! misses run the tool once (single flight); the others wait for that result,
//! each within its own deadline and cancel token. Only successes are stored,
//! and only successes are shared: a leader that fails, is cancelled or runs
//! out of time hands nothing to its followers; one of them runs the tool in
//! turn. The store is a [`CacheBackend`]: byte-bounded in memory by default,
//! or shared Redis ([`toolhost_redis::RedisCache`]), whose leases make
//! the single flight cross-process.

use super::wait::{self, Interrupted};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use toolhost_core::call::{CancelToken, ToolOutput};
use toolhost_core::error::Error;

pub use crate::memory_cache::MemoryCache;

/// A boxed future, for the object-safe backend trait.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A cache key: hex SHA-256 of the canonical call description. Shared text:
/// a clone (the hit path hands out remembered keys) copies no bytes.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CacheKey(pub Arc<str>);

impl CacheKey {
    /// The key of a call. `args` is parsed JSON; object keys are sorted at every depth.
    pub fn new(tenant: &str, tool: &str, plugin_digest: &str, args: &Value) -> CacheKey {
        // The canonical document {"args":…,"digest":…,"tenant":…,"tool":…},
        // written into a reused per-thread buffer and hashed in one pass
        // (feeding SHA-256 fragment by fragment cost more than the hashing).
        CANONICAL.with_borrow_mut(|doc| {
            doc.clear();
            doc.extend_from_slice(b"{\"args\":");
            write_canonical(args, doc);
            for (k, v) in
                [(&b",\"digest\":"[..], plugin_digest), (b",\"tenant\":", tenant), (b",\"tool\":", tool)]
            {
                doc.extend_from_slice(k);
                json(doc, v);
            }
            doc.push(b'}');
            let key = CacheKey(toolhost_core::text::hex("", &Sha256::digest(&doc[..])).into());
            if doc.capacity() > MAX_KEPT_BUFFER {
                *doc = Vec::new();
            }
            key
        })
    }
}

/// Largest canonical-document buffer a thread keeps between calls, bytes.
const MAX_KEPT_BUFFER: usize = 64 * 1024;

thread_local! {
    /// The canonical document of the key being computed on this thread.
    static CANONICAL: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// A string or scalar as JSON text (escaped like serde_json writes it).
fn json<T: Serialize + ?Sized>(out: &mut Vec<u8>, v: &T) {
    serde_json::to_writer(out, v).expect("JSON values and strings serialize");
}

/// Writes `v` as JSON with object keys sorted, whatever map type serde_json uses.
fn write_canonical(v: &Value, out: &mut Vec<u8>) {
    match v {
        Value::Object(m) => {
            out.push(b'{');
            let mut first = true;
            let mut entry = |k: &String, v: &Value| {
                if !std::mem::take(&mut first) {
                    out.push(b',');
                }
                json(out, k);
                out.push(b':');
                write_canonical(v, out);
            };
            if m.keys().is_sorted() {
                m.iter().for_each(|(k, v)| entry(k, v));
            } else {
                let mut keys: Vec<&String> = m.keys().collect();
                keys.sort();
                keys.into_iter().for_each(|k| entry(k, &m[k]));
            }
            out.push(b'}');
        }
        Value::Array(a) => {
            out.push(b'[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_canonical(x, out);
            }
            out.push(b']');
        }
        other => json(out, other),
    }
}

/// Where cached results live. Implementations must be cheap to share.
pub trait CacheBackend: Send + Sync + std::fmt::Debug {
    /// The stored result, if present and not expired.
    fn get<'a>(&'a self, key: &'a CacheKey) -> BoxFuture<'a, Option<Arc<ToolOutput>>>;
    /// The answer of [`get`](Self::get) when this backend has it without
    /// waiting (an in-process store): `Some(found)`. Default `None`: ask `get`.
    fn get_now(&self, _key: &CacheKey) -> Option<Option<Arc<ToolOutput>>> {
        None
    }
    /// Stores a result for `ttl`.
    fn put<'a>(&'a self, key: CacheKey, value: Arc<ToolOutput>, ttl: Duration) -> BoxFuture<'a, ()>;
    /// Stores a result of `owner`'s call for `ttl`. Default: [`put`](Self::put);
    /// a backend that keeps results per tenant and tool overrides it.
    fn put_for<'a>(
        &'a self,
        _owner: Owner<'a>,
        key: CacheKey,
        value: Arc<ToolOutput>,
        ttl: Duration,
    ) -> BoxFuture<'a, ()> {
        self.put(key, value, ttl)
    }

    /// Cross-process single flight, called by the in-process leader of a miss
    /// before it runs the tool: either this process computes `key`
    /// ([`Acquired::Lead`], with a lease to [`release`](Self::release) when it
    /// holds one), or another process stored the value while this one waited
    /// for it (at most `max_wait`) ([`Acquired::Value`]). Never fails: when
    /// the lease cannot be taken or waited for, the caller leads without one.
    ///
    /// Default (one process): lead at once, no lease.
    fn acquire<'a>(&'a self, _key: &'a CacheKey, _max_wait: Option<Duration>) -> BoxFuture<'a, Acquired> {
        Box::pin(async { Acquired::Lead(None) })
    }

    /// Gives a lease from [`acquire`](Self::acquire) back, if it is still this
    /// caller's (it may have expired and been taken over). Default: nothing.
    fn release<'a>(&'a self, _key: &'a CacheKey, _lease: Lease) -> BoxFuture<'a, ()> {
        Box::pin(async {})
    }

    /// Removes one stored result (`DELETE /admin/cache`). Default: nothing.
    fn remove<'a>(&'a self, _key: &'a CacheKey) -> BoxFuture<'a, ()> {
        Box::pin(async {})
    }

    /// Removes every stored result; returns how many, when known. Default: nothing.
    fn clear(&self) -> BoxFuture<'_, Option<u64>> {
        Box::pin(async { None })
    }
}

/// Whose call a stored result answers: its tenant and tool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Owner<'a> {
    /// The call's tenant.
    pub tenant: &'a str,
    /// The tool called.
    pub tool: &'a str,
}

/// A single-flight lease on one cache key, held by the process computing it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    /// The holder's unique token (compared before the lease is released).
    pub token: String,
}

/// What [`CacheBackend::acquire`] decided.
#[derive(Debug, Clone)]
pub enum Acquired {
    /// This caller runs the tool; `Some` = it holds a lease to release afterwards.
    Lead(Option<Lease>),
    /// Another process computed and stored the value meanwhile.
    Value(Arc<ToolOutput>),
}

/// `[cache]` settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CacheConfig {
    /// Cache results at all (still only idempotent tools). Default: `false`.
    pub enabled: bool,
    /// Time to live of an entry, seconds. Default: 300.
    pub ttl_secs: u64,
    /// Byte budget of the in-memory store. Default: 64 MiB.
    pub max_bytes: u64,
}

impl Default for CacheConfig {
    fn default() -> Self {
        CacheConfig { enabled: false, ttl_secs: 300, max_bytes: 64 * 1024 * 1024 }
    }
}

impl CacheConfig {
    /// Checks this section at key path `path`, recording every problem in `p`.
    pub fn check(&self, path: &str, p: &mut toolhost_core::check::Problems) {
        use toolhost_core::check::join;
        p.at_least_one(self.ttl_secs, join(path, "ttl_secs"));
        p.at_least_one(self.max_bytes, join(path, "max_bytes"));
    }
}

/// A leader's success, once there is one. A leader that fails sends nothing
/// and drops the sender, so its followers try again (one of them leading).
type Flight = tokio::sync::watch::Receiver<Option<Arc<ToolOutput>>>;

/// The cache in front of tool calls: backend + single flight + counters.
#[derive(Debug)]
pub struct ResultCache {
    backend: Arc<dyn CacheBackend>,
    inflight: Mutex<HashMap<CacheKey, Flight, toolhost_core::fold_hash::BuildFold>>,
    /// Keys of argument texts already accepted (the hit fast path).
    pub(crate) memo: crate::key_memo::KeyMemo,
    hits: std::sync::atomic::AtomicU64,
    misses: std::sync::atomic::AtomicU64,
}

/// What ends a caller's wait for a result someone else is computing (an
/// identical call in this process, or another process holding the lease).
#[derive(Debug, Clone, Copy, Default)]
pub struct WaitBounds<'a> {
    /// The caller's cancel token.
    pub cancel: Option<&'a CancelToken>,
    /// Time left before the caller's deadline.
    pub remaining: Option<Duration>,
    /// Whose call it is (recorded with a stored result), when known.
    pub owner: Option<Owner<'a>>,
}

/// How a cached call was answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Served {
    /// The tool ran for this caller.
    Ran,
    /// From the store, or from an identical call that was already running.
    Cached,
}

impl ResultCache {
    /// Wraps a backend.
    pub fn new(backend: Arc<dyn CacheBackend>) -> ResultCache {
        ResultCache {
            backend,
            inflight: Mutex::new(HashMap::default()),
            memo: Default::default(),
            hits: Default::default(),
            misses: Default::default(),
        }
    }

    /// (hits, misses) so far.
    pub fn counters(&self) -> (u64, u64) {
        use std::sync::atomic::Ordering::Relaxed;
        (self.hits.load(Relaxed), self.misses.load(Relaxed))
    }

    /// The stored result for `key`, counted as a hit; `None` (counted as
    /// nothing) when it is not stored: the caller goes on to
    /// [`get_or_run_bounded`](Self::get_or_run_bounded), which counts.
    pub async fn get_stored(&self, key: &CacheKey) -> Option<Arc<ToolOutput>> {
        let hit = match self.backend.get_now(key) {
            Some(found) => found?,
            None => self.backend.get(key).await?,
        };
        self.hits.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Some(hit)
    }

    /// Returns the cached result for `key`, or runs `run` once for all
    /// concurrent callers of `key` and stores a success for `ttl`.
    pub async fn get_or_run<F, Fut>(
        &self,
        key: CacheKey,
        ttl: Duration,
        run: F,
    ) -> (Result<Arc<ToolOutput>, Error>, Served)
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<ToolOutput, Error>>,
    {
        self.get_or_run_within(key, ttl, None, run).await
    }

    /// [`get_or_run`](Self::get_or_run), waiting at most `max_wait` (the
    /// call's remaining deadline) for another caller computing the same key;
    /// a longer wait ends in `TOOL_TIMEOUT` (see [`get_or_run_bounded`](Self::get_or_run_bounded)).
    pub async fn get_or_run_within<F, Fut>(
        &self,
        key: CacheKey,
        ttl: Duration,
        max_wait: Option<Duration>,
        run: F,
    ) -> (Result<Arc<ToolOutput>, Error>, Served)
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<ToolOutput, Error>>,
    {
        let bounds = WaitBounds { cancel: None, remaining: max_wait, owner: None };
        match self.get_or_run_bounded(key, ttl, bounds, run).await {
            Ok(done) => done,
            Err(i) => (Err(i.into_error("", max_wait)), Served::Ran),
        }
    }

    /// [`get_or_run`](Self::get_or_run) for a caller with a cancel token and
    /// a deadline: waiting for an identical call (here or in another process)
    /// ends with `Err` as soon as the caller cancels or its deadline passes.
    pub async fn get_or_run_bounded<F, Fut>(
        &self,
        key: CacheKey,
        ttl: Duration,
        bounds: WaitBounds<'_>,
        run: F,
    ) -> Result<(Result<Arc<ToolOutput>, Error>, Served), Interrupted>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<ToolOutput, Error>>,
    {
        use std::sync::atomic::Ordering::Relaxed;
        let until = bounds.remaining.map(|r| tokio::time::Instant::now() + r);
        let left = || until.map(|u| u.saturating_duration_since(tokio::time::Instant::now()));
        let mut run = Some(run);
        loop {
            if let Some(hit) = self.backend.get(&key).await {
                self.hits.fetch_add(1, Relaxed);
                return Ok((Ok(hit), Served::Cached));
            }
            let (tx, follower) = {
                let mut map = self.inflight.lock().unwrap();
                match map.get(&key) {
                    Some(rx) => (None, Some(rx.clone())),
                    None => {
                        let (tx, rx) = tokio::sync::watch::channel(None);
                        map.insert(key.clone(), rx);
                        (Some(tx), None)
                    }
                }
            };
            if let Some(mut rx) = follower {
                // Wait for the leader's success (as long as this caller may);
                // if it did not succeed, try again (maybe as leader).
                let leader = async { rx.wait_for(|v| v.is_some()).await.ok().and_then(|v| v.clone()) };
                if let Some(value) = wait::interruptible(leader, bounds.cancel, left()).await? {
                    self.hits.fetch_add(1, Relaxed);
                    return Ok((Ok(value), Served::Cached));
                }
                continue;
            }
            // Removes the in-flight entry, then wakes the followers, however
            // this leader ends (also when its future is dropped mid-run).
            let flight = InflightGuard { cache: self, key: &key, tx: tx.expect("leader holds the sender") };
            // Waiting for another process's lease ends with this caller's deadline or cancel.
            let acquired = wait::interruptible(self.backend.acquire(&key, left()), bounds.cancel, None);
            let lease = match acquired.await? {
                Acquired::Value(v) => {
                    // Another process computed it while this one waited.
                    self.hits.fetch_add(1, Relaxed);
                    let _ = flight.tx.send(Some(v.clone()));
                    return Ok((Ok(v), Served::Cached));
                }
                Acquired::Lead(lease) => LeaseGuard { backend: &self.backend, key: &key, lease },
            };
            self.misses.fetch_add(1, Relaxed);
            let result = (run.take().expect("leader runs once"))().await.map(Arc::new);
            if let Ok(v) = &result {
                match bounds.owner {
                    Some(owner) => self.backend.put_for(owner, key.clone(), v.clone(), ttl).await,
                    None => self.backend.put(key.clone(), v.clone(), ttl).await,
                }
                let _ = flight.tx.send(Some(v.clone()));
            }
            // A failure is not shared: the followers try again now.
            drop(flight);
            lease.release().await;
            return Ok((result, Served::Ran));
        }
    }
}

/// A leader's place in the in-flight map; its sender is dropped (waking the
/// followers) only after the entry is gone, so they never find it again.
struct InflightGuard<'a> {
    cache: &'a ResultCache,
    key: &'a CacheKey,
    tx: tokio::sync::watch::Sender<Option<Arc<ToolOutput>>>,
}

impl Drop for InflightGuard<'_> {
    fn drop(&mut self) {
        self.cache.inflight.lock().unwrap().remove(self.key);
    }
}

/// Releases a cross-process lease; if the leader is dropped mid-run the
/// release is spawned (or, outside a runtime, left to the lease TTL).
struct LeaseGuard<'a> {
    backend: &'a Arc<dyn CacheBackend>,
    key: &'a CacheKey,
    lease: Option<Lease>,
}

impl LeaseGuard<'_> {
    async fn release(mut self) {
        if let Some(lease) = self.lease.take() {
            self.backend.release(self.key, lease).await;
        }
    }
}

impl Drop for LeaseGuard<'_> {
    fn drop(&mut self) {
        if let (Some(lease), Ok(rt)) = (self.lease.take(), tokio::runtime::Handle::try_current()) {
            let (backend, key) = (self.backend.clone(), self.key.clone());
            rt.spawn(async move { backend.release(&key, lease).await });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::sync::atomic::{AtomicU32, Ordering};

    #[test]
    fn the_key_is_the_sha256_of_the_canonical_document() {
        fn canonical(v: &Value) -> String {
            match v {
                Value::Object(m) => {
                    let mut keys: Vec<&String> = m.keys().collect();
                    keys.sort();
                    let items: Vec<String> = keys
                        .into_iter()
                        .map(|k| format!("{}:{}", serde_json::to_string(k).unwrap(), canonical(&m[k])))
                        .collect();
                    format!("{{{}}}", items.join(","))
                }
                Value::Array(a) => format!("[{}]", a.iter().map(canonical).collect::<Vec<_>>().join(",")),
                other => other.to_string(),
            }
        }
        let args =
            json!({"z": [1, 2.5, null, true], "a\"\n": {"é": "\u{1}x", "b": -0.0}, "m": {"y": 1, "x": 2}});
        let doc = format!(
            r#"{{"args":{},"digest":{},"tenant":{},"tool":{}}}"#,
            canonical(&args),
            Value::from("d\"1"),
            Value::from("t"),
            Value::from("x.y")
        );
        let want = hex::encode(Sha256::digest(doc.as_bytes()));
        assert_eq!(&*CacheKey::new("t", "x.y", "d\"1", &args).0, want);
    }

    #[test]
    fn keys_ignore_object_key_order_but_not_anything_else() {
        let a = CacheKey::new("t", "x", "d", &json!({"a": 1, "b": {"c": 2, "d": [1, 2]}}));
        let b = CacheKey::new("t", "x", "d", &json!({"b": {"d": [1, 2], "c": 2}, "a": 1}));
        assert_eq!(a, b);
        assert_eq!(a.0.len(), 64);
        for other in [
            CacheKey::new("u", "x", "d", &json!({"a": 1, "b": {"c": 2, "d": [1, 2]}})),
            CacheKey::new("t", "y", "d", &json!({"a": 1, "b": {"c": 2, "d": [1, 2]}})),
            CacheKey::new("t", "x", "e", &json!({"a": 1, "b": {"c": 2, "d": [1, 2]}})),
            CacheKey::new("t", "x", "d", &json!({"a": 1, "b": {"c": 2, "d": [2, 1]}})),
            CacheKey::new("t", "x", "d", &json!({"a": "1", "b": {"c": 2, "d": [1, 2]}})),
        ] {
            assert_ne!(a, other);
        }
    }

    fn out(v: i64) -> ToolOutput {
        ToolOutput { value: Some(json!(v)), content: vec![] }
    }

    #[tokio::test]
    async fn concurrent_identical_misses_run_once() {
        let cache = Arc::new(ResultCache::new(Arc::new(MemoryCache::new(1 << 20))));
        let runs = Arc::new(AtomicU32::new(0));
        let mut tasks = vec![];
        for _ in 0..10 {
            let (cache, runs) = (cache.clone(), runs.clone());
            tasks.push(tokio::spawn(async move {
                let key = CacheKey::new("t", "x", "d", &json!({}));
                cache
                    .get_or_run(key, Duration::from_secs(60), || async {
                        runs.fetch_add(1, Ordering::SeqCst);
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        Ok(out(7))
                    })
                    .await
            }));
        }
        let mut ran = 0;
        for t in tasks {
            let (r, served) = t.await.unwrap();
            assert_eq!(r.unwrap().value, Some(json!(7)));
            ran += (served == Served::Ran) as u32;
        }
        assert_eq!((runs.load(Ordering::SeqCst), ran), (1, 1));
    }

    #[tokio::test]
    async fn failures_are_not_stored() {
        let cache = ResultCache::new(Arc::new(MemoryCache::new(1 << 20)));
        let key = CacheKey::new("t", "x", "d", &json!({}));
        let (r, _) = cache
            .get_or_run(key.clone(), Duration::from_secs(60), || async {
                Err(Error::Cancelled { tool: "x".into() })
            })
            .await;
        assert!(r.is_err());
        let (r, served) =
            cache.get_or_run(key.clone(), Duration::from_secs(60), || async { Ok(out(1)) }).await;
        assert_eq!((r.unwrap().value.clone(), served), (Some(json!(1)), Served::Ran));
        let (_, served) = cache.get_or_run(key, Duration::from_secs(60), || async { Ok(out(2)) }).await;
        assert_eq!(served, Served::Cached);
        assert_eq!(cache.counters(), (1, 2));
    }

    /// A backend standing for another process: `acquire` hands out a lease
    /// (or, once `remote` is set, the value that process stored) and records releases.
    #[derive(Debug, Default)]
    struct Remote {
        store: Mutex<HashMap<CacheKey, Arc<ToolOutput>>>,
        remote: Mutex<Option<Arc<ToolOutput>>>,
        released: Mutex<Vec<String>>,
    }

    impl CacheBackend for Remote {
        fn get<'a>(&'a self, key: &'a CacheKey) -> BoxFuture<'a, Option<Arc<ToolOutput>>> {
            Box::pin(async move { self.store.lock().unwrap().get(key).cloned() })
        }
        fn put<'a>(&'a self, key: CacheKey, value: Arc<ToolOutput>, _: Duration) -> BoxFuture<'a, ()> {
            Box::pin(async move {
                self.store.lock().unwrap().insert(key, value);
            })
        }
        fn acquire<'a>(&'a self, _: &'a CacheKey, _: Option<Duration>) -> BoxFuture<'a, Acquired> {
            Box::pin(async move {
                match self.remote.lock().unwrap().clone() {
                    Some(v) => Acquired::Value(v),
                    None => Acquired::Lead(Some(Lease { token: "t1".into() })),
                }
            })
        }
        fn release<'a>(&'a self, _: &'a CacheKey, lease: Lease) -> BoxFuture<'a, ()> {
            Box::pin(async move { self.released.lock().unwrap().push(lease.token) })
        }
    }

    #[tokio::test]
    async fn leases_are_released_after_the_run_and_a_remote_value_skips_it() {
        let backend = Arc::new(Remote::default());
        let cache = ResultCache::new(backend.clone());
        let key = CacheKey::new("t", "x", "d", &json!({}));
        let (r, served) =
            cache.get_or_run(key.clone(), Duration::from_secs(60), || async { Ok(out(1)) }).await;
        assert_eq!((r.unwrap().value.clone(), served), (Some(json!(1)), Served::Ran));
        assert_eq!(*backend.released.lock().unwrap(), vec!["t1".to_string()], "released once, after the put");
        // Another process stores a value while this one would lead: no run.
        *backend.remote.lock().unwrap() = Some(Arc::new(out(9)));
        let other = CacheKey::new("t", "x", "d", &json!({"other": true}));
        let (r, served) = cache
            .get_or_run(other, Duration::from_secs(60), || async { panic!("the tool must not run") })
            .await;
        assert_eq!((r.unwrap().value.clone(), served), (Some(json!(9)), Served::Cached));
        assert_eq!(cache.counters(), (1, 1));
    }

    #[tokio::test(start_paused = true)]
    async fn a_leaders_failure_is_not_shared_a_follower_runs_instead() {
        let cache = Arc::new(ResultCache::new(Arc::new(MemoryCache::new(1 << 20))));
        let key = CacheKey::new("t", "x", "d", &json!({}));
        let runs = Arc::new(AtomicU32::new(0));
        let (c1, k1, r1) = (cache.clone(), key.clone(), runs.clone());
        let leader = tokio::spawn(async move {
            c1.get_or_run(k1, Duration::from_secs(60), || async move {
                r1.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_secs(1)).await;
                Err(Error::Timeout { tool: "x".into(), timeout_ms: 1000 })
            })
            .await
        });
        tokio::time::sleep(Duration::from_millis(10)).await;
        let mut followers = vec![];
        for _ in 0..3 {
            let (c, k, r) = (cache.clone(), key.clone(), runs.clone());
            followers.push(tokio::spawn(async move {
                c.get_or_run(k, Duration::from_secs(60), || async move {
                    r.fetch_add(1, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    Ok(out(5))
                })
                .await
            }));
        }
        let (r, served) = leader.await.unwrap();
        assert_eq!((r.unwrap_err().code(), served), (toolhost_core::ErrorCode::ToolTimeout, Served::Ran));
        let mut ran = 0;
        for f in followers {
            let (r, served) = f.await.unwrap();
            assert_eq!(r.unwrap().value, Some(json!(5)), "a follower never sees the leader's failure");
            ran += (served == Served::Ran) as u32;
        }
        // One follower ran the tool for the others; its success was shared.
        assert_eq!((ran, runs.load(Ordering::SeqCst)), (1, 2));
        assert_eq!(cache.counters(), (2, 2));
    }

    #[tokio::test(start_paused = true)]
    async fn a_follower_waits_within_its_own_deadline_and_cancel_token() {
        let cache = Arc::new(ResultCache::new(Arc::new(MemoryCache::new(1 << 20))));
        let key = CacheKey::new("t", "x", "d", &json!({}));
        let (c1, k1) = (cache.clone(), key.clone());
        let leader = tokio::spawn(async move {
            c1.get_or_run(k1, Duration::from_secs(60), || async {
                tokio::time::sleep(Duration::from_secs(3600)).await;
                Ok(out(0))
            })
            .await
        });
        tokio::time::sleep(Duration::from_millis(10)).await;
        let never = || async { panic!("a follower does not run while its leader runs") };
        let t = tokio::time::Instant::now();
        let bounds = WaitBounds { cancel: None, remaining: Some(Duration::from_secs(5)), owner: None };
        let r = cache.get_or_run_bounded(key.clone(), Duration::from_secs(60), bounds, never).await;
        assert_eq!((r.unwrap_err(), t.elapsed()), (Interrupted::DeadlinePassed, Duration::from_secs(5)));
        let cancel = CancelToken::new();
        let c = cancel.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(2)).await;
            c.cancel();
        });
        let t = tokio::time::Instant::now();
        let bounds = WaitBounds { cancel: Some(&cancel), remaining: None, owner: None };
        let r = cache.get_or_run_bounded(key, Duration::from_secs(60), bounds, never).await;
        assert_eq!((r.unwrap_err(), t.elapsed()), (Interrupted::Cancelled, Duration::from_secs(2)));
        assert!(!leader.is_finished(), "the leader runs on");
        assert_eq!(cache.counters(), (0, 1));
    }

    /// Another process holds the lease for as long as asked.
    #[derive(Debug)]
    struct LeaseHeldElsewhere;

    impl CacheBackend for LeaseHeldElsewhere {
        fn get<'a>(&'a self, _: &'a CacheKey) -> BoxFuture<'a, Option<Arc<ToolOutput>>> {
            Box::pin(async { None })
        }
        fn put<'a>(&'a self, _: CacheKey, _: Arc<ToolOutput>, _: Duration) -> BoxFuture<'a, ()> {
            Box::pin(async {})
        }
        fn acquire<'a>(&'a self, _: &'a CacheKey, max_wait: Option<Duration>) -> BoxFuture<'a, Acquired> {
            Box::pin(async move {
                tokio::time::sleep(max_wait.unwrap_or(Duration::from_secs(30))).await;
                Acquired::Lead(None)
            })
        }
    }

    #[tokio::test(start_paused = true)]
    async fn waiting_for_another_processs_lease_ends_on_cancel() {
        let cache = ResultCache::new(Arc::new(LeaseHeldElsewhere));
        let key = CacheKey::new("t", "x", "d", &json!({}));
        let cancel = CancelToken::new();
        let c = cancel.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(1)).await;
            c.cancel();
        });
        let t = tokio::time::Instant::now();
        let bounds = WaitBounds { cancel: Some(&cancel), remaining: None, owner: None };
        let never = || async { panic!("a cancelled caller runs nothing") };
        let r = cache.get_or_run_bounded(key, Duration::from_secs(60), bounds, never).await;
        assert_eq!((r.unwrap_err(), t.elapsed()), (Interrupted::Cancelled, Duration::from_secs(1)));
    }

    #[tokio::test]
    async fn a_cancelled_leader_hands_over_to_a_follower() {
        let cache = Arc::new(ResultCache::new(Arc::new(MemoryCache::new(1 << 20))));
        let key = CacheKey::new("t", "x", "d", &json!({}));
        let (c1, k1) = (cache.clone(), key.clone());
        let leader = tokio::spawn(async move {
            c1.get_or_run(k1, Duration::from_secs(60), || async {
                tokio::time::sleep(Duration::from_secs(3600)).await;
                Ok(out(0))
            })
            .await
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        let (c2, k2) = (cache.clone(), key.clone());
        let follower =
            tokio::spawn(
                async move { c2.get_or_run(k2, Duration::from_secs(60), || async { Ok(out(5)) }).await },
            );
        tokio::time::sleep(Duration::from_millis(20)).await;
        leader.abort();
        let (r, served) = follower.await.unwrap();
        assert_eq!((r.unwrap().value.clone(), served), (Some(json!(5)), Served::Ran));
    }
}
