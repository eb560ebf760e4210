//! Observability: Prometheus metrics (`GET /metrics` on the HTTP server),
//! tracing spans with optional OTLP export ([`otel`]), and the live view's
//! snapshot ([`live`]). The metrics registry is process-wide: every host of a
//! process counts into it.

pub mod live;
pub mod logs;
pub mod metrics;
pub mod otel;
