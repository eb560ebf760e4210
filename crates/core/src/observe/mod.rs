//! Observability: Prometheus metrics (`GET /metrics` on the HTTP server),
//! tracing spans with optional OTLP export ([`otel`]), and the live view's
//! snapshot ([`live`]). The metrics registry is process-wide: every host of a
//! process counts into it.

pub mod live;
pub mod logs;
pub mod metrics;

use std::sync::atomic::{AtomicBool, Ordering};

static ENABLED: AtomicBool = AtomicBool::new(true);

/// Turns per-call metrics and in-flight tracking on or off, process-wide
/// (on by default). Off is for embedders that never scrape, and for the
/// benchmark that measures what observability costs; spans are governed by
/// the tracing subscriber instead.
pub fn set_enabled(on: bool) {
    ENABLED.store(on, Ordering::Relaxed);
}

/// Whether per-call metrics and in-flight tracking are on.
pub fn enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}
