//! The connection: [`redis::aio::ConnectionManager`] (multiplexed,
//! reconnects in the background), created lazily so a process starts even
//! while Redis is down, with a timeout on every operation.

use crate::RedisConfig;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;
use toolhost_exec::Health;

/// A failed Redis operation.
#[derive(Debug, Clone, thiserror::Error)]
pub enum RedisError {
    /// The URL could not be parsed.
    #[error("invalid redis_url: {0}")]
    Url(String),
    /// No answer within `op_timeout_ms`.
    #[error("redis operation timed out after {0} ms")]
    Timeout(u64),
    /// Connection or command error.
    #[error("redis: {0}")]
    Command(String),
    /// Not tried: Redis failed moments ago and this operation is not the
    /// periodic probe ([`Redis::run_degradable`]).
    #[error("redis unavailable (failed recently; probing in the background)")]
    Unavailable,
}

/// A shared handle to one Redis; cheap to clone.
#[derive(Clone)]
pub struct Redis {
    inner: Arc<Inner>,
}

struct Inner {
    url: String,
    conn: ConnectionManager,
    cfg: RedisConfig,
    client: redis::Client,
    healthy: AtomicBool,
    failures: AtomicU64,
    /// While degraded: ms since `epoch` before which `run_degradable` skips Redis.
    next_probe_ms: AtomicU64,
    epoch: std::time::Instant,
}

impl std::fmt::Debug for Redis {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Redis")
            .field("url", &redact(&self.inner.url))
            .field("health", &self.health())
            .finish()
    }
}

/// The URL without its password.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => format!("{}://***@{}", &url[..s], &url[at + 1..]),
        _ => url.to_string(),
    }
}

impl Redis {
    /// A handle for `url` (`redis://host:port/db`); connects on first use.
    pub fn open(url: &str, cfg: RedisConfig) -> Result<Redis, RedisError> {
        let client = redis::Client::open(url).map_err(|e| RedisError::Url(e.to_string()))?;
        let op = Duration::from_millis(cfg.op_timeout_ms);
        let mcfg = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(op))
            .set_response_timeout(Some(op))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_millis(500));
        let conn = client.get_connection_manager_lazy(mcfg).map_err(|e| RedisError::Url(e.to_string()))?;
        Ok(Redis {
            inner: Arc::new(Inner {
                url: url.to_string(),
                conn,
                cfg,
                client,
                healthy: AtomicBool::new(true),
                failures: AtomicU64::new(0),
                next_probe_ms: AtomicU64::new(0),
                epoch: std::time::Instant::now(),
            }),
        })
    }

    /// Settings.
    pub fn config(&self) -> &RedisConfig {
        &self.inner.cfg
    }

    /// `{prefix}:{rest}`.
    pub fn key(&self, rest: &str) -> String {
        format!("{}:{rest}", self.inner.cfg.key_prefix)
    }

    /// The URL, password redacted.
    pub fn display_url(&self) -> String {
        redact(&self.inner.url)
    }

    /// `Degraded` while the latest operation failed.
    pub fn health(&self) -> Health {
        if self.inner.healthy.load(Ordering::Relaxed) { Health::Ok } else { Health::Degraded }
    }

    /// Operations that failed since start.
    pub fn failures(&self) -> u64 {
        self.inner.failures.load(Ordering::Relaxed)
    }

    /// The multiplexed connection, for commands run through [`run`](Self::run).
    pub(crate) fn conn(&self) -> ConnectionManager {
        self.inner.conn.clone()
    }

    /// A dedicated connection (for blocking reads such as `XREADGROUP BLOCK`,
    /// which must not stall the shared one).
    pub(crate) async fn dedicated(&self) -> Result<redis::aio::MultiplexedConnection, RedisError> {
        let op = Duration::from_millis(self.inner.cfg.op_timeout_ms);
        let fut = self.inner.client.get_multiplexed_async_connection();
        let r = match tokio::time::timeout(op.max(Duration::from_secs(1)), fut).await {
            Ok(Ok(c)) => Ok(c),
            Ok(Err(e)) => Err(RedisError::Command(e.to_string())),
            Err(_) => Err(RedisError::Timeout(op.as_millis() as u64)),
        };
        self.note(r.is_ok());
        r
    }

    /// Runs one operation under `op_timeout_ms`, updating the health flag.
    pub(crate) async fn run<T, F>(&self, op: F) -> Result<T, RedisError>
    where
        F: Future<Output = redis::RedisResult<T>>,
    {
        self.run_for(Duration::from_millis(self.inner.cfg.op_timeout_ms), op).await
    }

    /// Like [`run`](Self::run) with an explicit timeout (blocking reads).
    pub(crate) async fn run_for<T, F>(&self, timeout: Duration, op: F) -> Result<T, RedisError>
    where
        F: Future<Output = redis::RedisResult<T>>,
    {
        let r = match tokio::time::timeout(timeout, op).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(RedisError::Command(e.to_string())),
            Err(_) => Err(RedisError::Timeout(timeout.as_millis() as u64)),
        };
        self.note(r.is_ok());
        r
    }

    /// Like [`run`](Self::run) for operations with a local fallback (cache,
    /// rate limits): while Redis is degraded, answers [`RedisError::Unavailable`]
    /// at once instead of spending another `op_timeout_ms` per operation,
    /// except for one probe per probe interval (`op_timeout_ms`, at least
    /// 200 ms), which restores normal operation when it succeeds.
    pub(crate) async fn run_degradable<T, F>(&self, op: F) -> Result<T, RedisError>
    where
        F: Future<Output = redis::RedisResult<T>>,
    {
        if !self.inner.healthy.load(Ordering::Relaxed) {
            let now = self.elapsed_ms();
            let next = self.inner.next_probe_ms.load(Ordering::Relaxed);
            let claimed = now >= next
                && self
                    .inner
                    .next_probe_ms
                    .compare_exchange(
                        next,
                        now + self.probe_interval_ms(),
                        Ordering::Relaxed,
                        Ordering::Relaxed,
                    )
                    .is_ok();
            if !claimed {
                return Err(RedisError::Unavailable);
            }
        }
        self.run(op).await
    }

    fn elapsed_ms(&self) -> u64 {
        u64::try_from(self.inner.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn probe_interval_ms(&self) -> u64 {
        self.inner.cfg.op_timeout_ms.max(200)
    }

    fn note(&self, ok: bool) {
        let was = self.inner.healthy.swap(ok, Ordering::Relaxed);
        if !ok {
            self.inner.failures.fetch_add(1, Ordering::Relaxed);
            self.inner.next_probe_ms.store(self.elapsed_ms() + self.probe_interval_ms(), Ordering::Relaxed);
        }
        if was != ok {
            if ok {
                tracing::info!(url = %self.display_url(), "redis reachable again; shared state back in use");
            } else {
                tracing::warn!(url = %self.display_url(), "redis unreachable; degraded mode (local cache miss, local rate limiter)");
            }
        }
    }

    /// `PING`, for health checks.
    pub async fn ping(&self) -> Result<(), RedisError> {
        let mut c = self.conn();
        self.run(async move { redis::cmd("PING").query_async::<String>(&mut c).await }).await.map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn passwords_are_redacted() {
        assert_eq!(super::redact("redis://:secret@127.0.0.1:6379/0"), "redis://***@127.0.0.1:6379/0");
        assert_eq!(super::redact("redis://127.0.0.1:6379"), "redis://127.0.0.1:6379");
    }
}
