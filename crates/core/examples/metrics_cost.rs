//! What one metrics update costs, for instruction counting under callgrind:
//!
//! ```sh
//! cargo build --release -p toolhost-core --example metrics_cost
//! valgrind --tool=callgrind --callgrind-out-file=/dev/null \
//!     target/release/examples/metrics_cost call 1000   # then 11000
//! ```
//!
//! `(I(11000) - I(1000)) / 10000` is the cost of one update of an existing
//! series. Kinds: `call` (`call_finished`, with fuel and memory stats), `cache`
//! (`cache_get`), `rate` (`rate_limit_check`). The registry first holds 20
//! other tools' series, so lookups are not in an empty map.

use std::hint::black_box;
use std::time::Duration;
use toolhost_core::call::{CallResult, CallStats, ToolOutput};
use toolhost_core::observe::metrics;

fn result(tool: &str) -> CallResult {
    CallResult {
        index: 0,
        call_id: "c-1".into(),
        tool: tool.into(),
        result: Ok(std::sync::Arc::new(ToolOutput { value: None, content: Vec::new() })),
        attempts: 1,
        cached: false,
        fallback_for: None,
        started: Duration::ZERO,
        duration: Duration::from_micros(70),
        stats: Some(CallStats {
            duration: Duration::from_micros(60),
            fuel_used: Some(123_456),
            memory_peak: 1_179_648,
            ..CallStats::default()
        }),
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let kind = args.next().unwrap_or_else(|| "call".into());
    let n: u64 = args.next().and_then(|s| s.parse().ok()).unwrap_or(1000);
    for i in 0..20 {
        let other = result(&format!("other{i}.tool"));
        metrics::call_finished(&other, Some(&format!("other{i}")), "plugin", "default");
    }
    let res = result("echo.echo");
    let update: Box<dyn Fn()> = match kind.as_str() {
        "call" => Box::new(|| metrics::call_finished(black_box(&res), Some("echo"), "plugin", "default")),
        "cache" => Box::new(|| metrics::cache_get(black_box(true))),
        "rate" => Box::new(|| metrics::rate_limit_check(black_box(true))),
        other => panic!("unknown kind {other}"),
    };
    for _ in 0..n {
        update();
    }
    black_box(metrics::render().len());
}
