//! The embedded default: every piece of shared state lives in this process
//! (the in-memory result cache [`MemoryCache`](crate::exec::cache::MemoryCache),
//! the local GCRA [`RateLimiter`](crate::exec::rate_limit::RateLimiter), runs
//! kept by the server). Nothing to run, nothing to configure; nothing survives a restart.

pub use crate::exec::cache::MemoryCache;
pub use crate::exec::rate_limit::RateLimiter;
