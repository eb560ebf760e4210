//! The embedded default: every piece of shared state lives in this process
//! (the in-memory result cache [`MemoryCache`](toolhost_exec::cache::MemoryCache),
//! the local GCRA [`RateLimiter`](toolhost_exec::rate_limit::RateLimiter), runs
//! kept by the server). Nothing to run, nothing to configure; nothing survives a restart.

pub use toolhost_exec::cache::MemoryCache;
pub use toolhost_exec::rate_limit::RateLimiter;
