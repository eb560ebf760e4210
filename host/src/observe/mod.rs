//! Observability: Prometheus metrics (`GET /metrics` on the HTTP server).
//! The registry is process-wide: every host of a process counts into it.

pub mod metrics;
