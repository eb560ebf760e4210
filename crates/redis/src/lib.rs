//! # toolhost-redis
//!
//! Redis-backed shared state for several `toolhost` processes: the Redis
//! implementations of the executor's backend traits (`CacheBackend`,
//! `RateLimitBackend`), durable runs and their workers. The only crate that
//! names `redis`.
//!
//! Key design (Redis Cluster compatible): every key starts with the configured
//! prefix; keys that one script or transaction touches together share a hash
//! tag (`{…}`) so they live in one slot.
//!
//! * `conn` — one auto-reconnecting multiplexed connection, a timeout on
//!   every operation, and the health flag behind `/readyz`.
//! * `cache` — the shared result cache (`{prefix}:cache:{<sha256>}`) with a
//!   single-flight lease per key (`…:lease`).
//! * `rate_limit` — distributed GCRA in one Lua script on Redis `TIME`
//!   (`{prefix}:{rl}:<key>`).
//! * `runs`, `queue`, `checkpoint`, `worker` — durable runs: the run hash
//!   `{prefix}:run:{<run_id>}` and its per-call checkpoints
//!   `{prefix}:run:{<run_id>}:calls` (one slot per run), the stream
//!   `{prefix}:runs` with consumer group `workers`, and the worker loop.
//! * `asks` — a durable MCP task's guest questions and the caller's answers,
//!   in its run hash (`q:<key>`, `a:<key>`); `task_index` — each tenant's
//!   task runs (`{prefix}:tasks:{<tenant>}`).

#![warn(missing_docs, unreachable_pub)]

pub mod asks;
mod cache;
pub mod checkpoint;
mod config;
mod conn;
mod queue;
mod rate_limit;
pub mod runs;
mod task_index;
pub mod worker;

pub use cache::RedisCache;
pub use config::RedisConfig;
pub use conn::{Redis, RedisError};
pub use rate_limit::{RedisRateLimiter, SharedDecision};
pub use runs::{RunRecord, RunStore, RunStoreError};
pub use toolhost_exec::Health;
pub use worker::{Worker, WorkerEvent, WorkerOptions, WorkerStats};
