//! Observability: Prometheus metrics (`GET /metrics` on the HTTP server),
//! tracing spans with optional OTLP export ([`otel`]), the live view's
//! snapshot ([`live`]) and the log policy ([`logs`]). The registries are
//! process-wide (`toolhost-core`): every host of a process counts into them.

pub mod audit;
pub mod live;
pub mod metrics;
pub mod otel;

pub use toolhost_core::observe::{enabled, logs, set_enabled};
