//! The run queue: a Redis Stream `{prefix}:runs` (one entry `run=<run_id>`
//! per submission or hand-back) read by the consumer group `workers`.
//!
//! A worker reads new entries with `XREADGROUP … BLOCK` on a dedicated
//! connection, heart-beats the entries it holds (`XCLAIM … JUSTID` with
//! min-idle 0, only while it still owns them), and reclaims entries whose
//! holder stopped heart-beating (`XAUTOCLAIM` past `visibility_timeout_ms`).
//! A finished entry is acknowledged and deleted; an unfinished one is handed
//! back by adding a new entry for the run before acknowledging the old one.

use crate::conn::{Redis, RedisError};
use redis::aio::MultiplexedConnection;
use redis::streams::{StreamAutoClaimReply, StreamId, StreamReadReply};
use std::time::Duration;

/// The consumer group every worker joins.
pub(crate) const GROUP: &str = "workers";

/// One delivered queue entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Delivery {
    /// The stream entry id.
    pub(crate) entry_id: String,
    /// The run it names (empty when the entry is malformed).
    pub(crate) run_id: String,
}

impl Delivery {
    fn from_stream_id(s: &StreamId) -> Delivery {
        Delivery { entry_id: s.id.clone(), run_id: s.get::<String>("run").unwrap_or_default() }
    }
}

/// `{prefix}:runs`.
pub(crate) fn stream_key(redis: &Redis) -> String {
    redis.key("runs")
}

/// Adds an entry for `run_id`; returns the entry id.
pub(crate) async fn enqueue(redis: &Redis, run_id: &str) -> Result<String, RedisError> {
    let key = stream_key(redis);
    let mut c = redis.conn();
    redis
        .run(async { redis::cmd("XADD").arg(&key).arg("*").arg("run").arg(run_id).query_async(&mut c).await })
        .await
}

/// One worker's view of the queue.
#[derive(Debug, Clone)]
pub(crate) struct Queue {
    redis: Redis,
    key: String,
    consumer: String,
}

const HEARTBEAT: &str = r#"
local p = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[2], ARGV[2], 1)
if #p == 0 then return 0 end
if p[1][2] ~= ARGV[3] then return -1 end
redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[3], 0, ARGV[2], 'JUSTID')
return 1
"#;

/// What a heartbeat found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ownership {
    /// Still ours; its idle time was reset.
    Held,
    /// Another worker reclaimed it.
    Lost,
    /// No longer pending (acknowledged or deleted).
    Gone,
}

impl Queue {
    /// The queue as consumer `consumer`.
    pub(crate) fn new(redis: Redis, consumer: impl Into<String>) -> Queue {
        let key = stream_key(&redis);
        Queue { redis, key, consumer: consumer.into() }
    }

    /// This worker's consumer name.
    pub(crate) fn consumer(&self) -> &str {
        &self.consumer
    }

    /// Creates the stream and the group (reading from the start, so runs
    /// submitted before any worker existed are not skipped); an existing group is fine.
    pub(crate) async fn ensure_group(&self) -> Result<(), RedisError> {
        let mut c = self.redis.conn();
        let r = self
            .redis
            .run(async {
                redis::cmd("XGROUP")
                    .arg("CREATE")
                    .arg(&self.key)
                    .arg(GROUP)
                    .arg("0")
                    .arg("MKSTREAM")
                    .query_async::<()>(&mut c)
                    .await
            })
            .await;
        match r {
            Err(RedisError::Command(m)) if m.contains("BUSYGROUP") => Ok(()),
            r => r,
        }
    }

    /// A dedicated connection for blocking reads of up to `block`.
    pub(crate) async fn reader(&self, block: Duration) -> Result<MultiplexedConnection, RedisError> {
        let mut c = self.redis.dedicated().await?;
        c.set_response_timeout(
            block + Duration::from_millis(self.redis.config().op_timeout_ms) + Duration::from_secs(1),
        );
        Ok(c)
    }

    /// New entries for this consumer, waiting up to `block` for the first.
    pub(crate) async fn read(
        &self,
        conn: &mut MultiplexedConnection,
        count: usize,
        block: Duration,
    ) -> Result<Vec<Delivery>, RedisError> {
        let timeout =
            block + Duration::from_millis(self.redis.config().op_timeout_ms) + Duration::from_millis(500);
        let reply: Option<StreamReadReply> = self
            .redis
            .run_for(timeout, async {
                redis::cmd("XREADGROUP")
                    .arg("GROUP")
                    .arg(GROUP)
                    .arg(&self.consumer)
                    .arg("COUNT")
                    .arg(count.max(1))
                    .arg("BLOCK")
                    .arg(block.as_millis() as u64)
                    .arg("STREAMS")
                    .arg(&self.key)
                    .arg(">")
                    .query_async(conn)
                    .await
            })
            .await?;
        Ok(reply
            .map(|r| r.keys.iter().flat_map(|k| k.ids.iter().map(Delivery::from_stream_id)).collect())
            .unwrap_or_default())
    }

    /// Takes over up to `count` entries idle longer than `min_idle` (their
    /// worker stopped heart-beating).
    pub(crate) async fn reclaim(
        &self,
        count: usize,
        min_idle: Duration,
    ) -> Result<Vec<Delivery>, RedisError> {
        let mut c = self.redis.conn();
        let reply: StreamAutoClaimReply = self
            .redis
            .run(async {
                redis::cmd("XAUTOCLAIM")
                    .arg(&self.key)
                    .arg(GROUP)
                    .arg(&self.consumer)
                    .arg(min_idle.as_millis() as u64)
                    .arg("0-0")
                    .arg("COUNT")
                    .arg(count.max(1))
                    .query_async(&mut c)
                    .await
            })
            .await?;
        Ok(reply.claimed.iter().map(Delivery::from_stream_id).collect())
    }

    /// Resets the idle time of an entry this worker holds, unless another
    /// worker has reclaimed it meanwhile.
    pub(crate) async fn heartbeat(&self, entry_id: &str) -> Result<Ownership, RedisError> {
        let mut c = self.redis.conn();
        let script = redis::Script::new(HEARTBEAT);
        let r: i64 = self
            .redis
            .run(async {
                script.key(&self.key).arg(GROUP).arg(entry_id).arg(&self.consumer).invoke_async(&mut c).await
            })
            .await?;
        Ok(match r {
            1 => Ownership::Held,
            -1 => Ownership::Lost,
            _ => Ownership::Gone,
        })
    }

    /// Acknowledges and deletes a finished entry.
    pub(crate) async fn ack(&self, entry_id: &str) -> Result<(), RedisError> {
        let mut pipe = redis::pipe();
        pipe.cmd("XACK").arg(&self.key).arg(GROUP).arg(entry_id).ignore();
        pipe.cmd("XDEL").arg(&self.key).arg(entry_id).ignore();
        let mut c = self.redis.conn();
        self.redis.run(async { pipe.query_async::<()>(&mut c).await }).await
    }

    /// Hands an unfinished run back: a new entry first (so it is never lost),
    /// then the old one is acknowledged, and any worker can take it at once.
    pub(crate) async fn hand_back(&self, d: &Delivery) -> Result<(), RedisError> {
        enqueue(&self.redis, &d.run_id).await?;
        self.ack(&d.entry_id).await
    }
}
