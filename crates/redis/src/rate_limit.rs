//! Distributed GCRA: the same semantics as the local
//! [`RateLimiter`](toolhost_exec::rate_limit::RateLimiter), decided by one Lua
//! script per call so every process shares one TAT per key.
//!
//! * **One clock.** The script reads `redis.call('TIME')`; no client clock is
//!   ever an input, so processes with skewed clocks cannot over-admit.
//! * **All or nothing.** Every key of the call (global, tenant, tool or
//!   pattern) is checked; only if all admit are all charged. A refusal names
//!   the key with the largest exact `retry_after`; a cost that exceeds a key's
//!   burst is `impossible` at once (checked in listing order, like the local
//!   limiter). A key listed twice sees its own earlier charge.
//! * **Microseconds.** Lua numbers are doubles: Unix time in µs (~1.8e15) is
//!   exact, in ns it would not be. `T` is rounded *up* to the microsecond so the
//!   long-run rate never exceeds the quota.
//! * **TTL.** A key is stored with `PX` = time until its TAT (≤ τ, the
//!   `τ + T` bound rounded up): once `TAT ≤ now` a key is indistinguishable
//!   from an idle one, so expiring it then changes nothing.
//!
//! Keys are `{prefix}:{rl}:<key>`. One script touches several keys, which on
//! Redis Cluster must live in one slot, and the global key is shared by every
//! tenant, so the whole rate-limit keyspace carries one hash tag `{rl}`.
//! Trade-off: every rate-limit check of the deployment lands on one shard (one
//! script per call, a few µs of Redis CPU each); a per-tenant tag would spread
//! tenants over shards but could not check the global key atomically.

use crate::{Redis, RedisError};
use std::sync::LazyLock;
use std::time::Duration;
use toolhost_exec::backend::{BackendError, RateLimitBackend};
use toolhost_exec::cache::BoxFuture;
use toolhost_exec::rate_limit::{Quota, RateLimited};

/// `KEYS[i]`: the keys; `ARGV[1]`: cost; `ARGV[2i]`, `ARGV[2i+1]`: T and τ of
/// key i in µs. Returns `{status, index, retry_after_us, now_us}`, status 1
/// admitted, 0 refused (index = the key with the largest retry_after),
/// -1 impossible (index = the first such key).
static GCRA: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local cost = tonumber(ARGV[1])
local tats = {}
local worst, worst_ra = 0, -1
for i = 1, #KEYS do
  local T = tonumber(ARGV[2 * i])
  local tau = tonumber(ARGV[2 * i + 1])
  local inc = cost * T
  if inc > tau then return {-1, i, 0, now} end
  local tat = nil
  for j = i - 1, 1, -1 do
    if KEYS[j] == KEYS[i] then tat = tats[j] break end
  end
  if tat == nil then tat = tonumber(redis.call('GET', KEYS[i])) end
  if tat == nil or tat < now then tat = now end
  local new_tat = tat + inc
  tats[i] = new_tat
  local ahead = new_tat - now
  if ahead > tau and ahead - tau > worst_ra then
    worst, worst_ra = i, ahead - tau
  end
end
if worst > 0 then return {0, worst, worst_ra, now} end
for i = 1, #KEYS do
  local ttl = math.floor((tats[i] - now + 999) / 1000) + 1
  redis.call('SET', KEYS[i], string.format('%.0f', tats[i]), 'PX', ttl)
end
return {1, 0, 0, now}
",
    )
});

/// Largest µs value handed to the script (exact in a double; ~142 years).
const MAX_US: u64 = 1 << 52;

/// One decision of the shared limiter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SharedDecision {
    /// Admitted, or refused like the local limiter refuses.
    pub result: Result<(), RateLimited>,
    /// Redis `TIME` the decision was taken at, µs since the Unix epoch.
    pub now_micros: u64,
}

/// The distributed GCRA limiter (see the module docs).
#[derive(Debug, Clone)]
pub struct RedisRateLimiter {
    redis: Redis,
}

impl RedisRateLimiter {
    /// A limiter over `redis`.
    pub fn new(redis: Redis) -> RedisRateLimiter {
        RedisRateLimiter { redis }
    }

    /// The Redis key of limiter key `key`: `{prefix}:{rl}:<key>`.
    pub fn redis_key(&self, key: &str) -> String {
        self.redis.key(&format!("{{rl}}:{key}"))
    }

    /// Charges `cost` to every listed key atomically (see the module docs).
    /// `Err` only when Redis could not decide (the caller falls back).
    pub async fn check(&self, checks: &[(&str, &Quota)], cost: u32) -> Result<SharedDecision, RedisError> {
        if checks.is_empty() {
            return Ok(SharedDecision { result: Ok(()), now_micros: 0 });
        }
        let mut inv = GCRA.prepare_invoke();
        inv.arg(cost);
        for (key, quota) in checks {
            let t = micros_up(quota.emission_interval());
            let tau = t.saturating_mul(u64::from(quota.burst)).min(MAX_US);
            inv.key(self.redis_key(key)).arg(t).arg(tau);
        }
        let mut c = self.redis.conn();
        let (status, index, retry_us, now): (i64, i64, i64, i64) =
            self.redis.run_degradable(async move { inv.invoke_async(&mut c).await }).await?;
        let name = |i: i64| {
            usize::try_from(i - 1)
                .ok()
                .and_then(|i| checks.get(i))
                .map_or_else(String::new, |(k, _)| k.to_string())
        };
        let result = match status {
            1 => Ok(()),
            0 => Err(RateLimited {
                key: name(index),
                retry_after: Duration::from_micros(u64::try_from(retry_us).unwrap_or(0)),
                impossible: false,
            }),
            -1 => Err(RateLimited { key: name(index), retry_after: Duration::ZERO, impossible: true }),
            other => return Err(RedisError::Command(format!("rate-limit script returned status {other}"))),
        };
        Ok(SharedDecision { result, now_micros: u64::try_from(now).unwrap_or(0) })
    }
}

/// `d` in µs, rounded up, capped at [`MAX_US`].
fn micros_up(d: Duration) -> u64 {
    u64::try_from(d.as_nanos().div_ceil(1000)).unwrap_or(u64::MAX).min(MAX_US)
}

impl RateLimitBackend for RedisRateLimiter {
    fn check<'a>(
        &'a self,
        checks: &'a [(&'a str, &'a Quota)],
        cost: u32,
    ) -> BoxFuture<'a, Result<Result<(), RateLimited>, BackendError>> {
        Box::pin(async move {
            RedisRateLimiter::check(self, checks, cost)
                .await
                .map(|d| d.result)
                .map_err(|e| BackendError(e.to_string()))
        })
    }

    fn local_share(&self) -> f64 {
        self.redis.config().local_rate_share
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn microseconds_round_up() {
        assert_eq!(micros_up(Duration::from_nanos(1)), 1);
        assert_eq!(micros_up(Duration::from_nanos(333_333_334)), 333_334);
        assert_eq!(micros_up(Duration::MAX), MAX_US);
    }

    #[test]
    fn local_share_scales_rate_and_burst_down_to_one() {
        let q = Quota { rate: 10, per: Duration::from_secs(1), burst: 5 };
        assert_eq!(q.share(0.5), Quota { rate: 5, per: Duration::from_secs(1), burst: 2 });
        assert_eq!(q.share(0.01), Quota { rate: 1, per: Duration::from_secs(1), burst: 1 });
        assert_eq!(q.share(1.0), q);
    }
}
