//! Observability end to end: the span tree of real calls (one `tool.execute`
//! with a child per policy, per attempt and the guest call), with their fields.

use crate::common::*;
use serde_json::json;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use toolhost::{CallOptions, ExecutionContext, ToolCall};
use tracing::field::{Field, Visit};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;

/// One recorded span: name, parent's name, fields (as text).
#[derive(Debug, Clone)]
struct Rec {
    name: String,
    parent: Option<String>,
    fields: HashMap<String, String>,
}

/// A layer that records every span with its parent and fields.
#[derive(Clone, Default)]
struct Tree(Arc<Mutex<Vec<(u64, Rec)>>>);

struct FieldVisitor<'a>(&'a mut HashMap<String, String>);

impl Visit for FieldVisitor<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.insert(field.name().to_string(), format!("{value:?}").trim_matches('"').to_string());
    }
}

impl<S: tracing::Subscriber + for<'a> LookupSpan<'a>> tracing_subscriber::Layer<S> for Tree {
    fn on_new_span(
        &self,
        attrs: &tracing::span::Attributes<'_>,
        id: &tracing::span::Id,
        ctx: Context<'_, S>,
    ) {
        let mut fields = HashMap::new();
        attrs.record(&mut FieldVisitor(&mut fields));
        let parent = ctx.span(id).and_then(|s| s.parent()).map(|p| p.name().to_string());
        let rec = Rec { name: attrs.metadata().name().to_string(), parent, fields };
        self.0.lock().unwrap().push((id.into_u64(), rec));
    }

    fn on_record(&self, id: &tracing::span::Id, values: &tracing::span::Record<'_>, _: Context<'_, S>) {
        let mut g = self.0.lock().unwrap();
        if let Some((_, rec)) = g.iter_mut().rev().find(|(i, _)| *i == id.into_u64()) {
            values.record(&mut FieldVisitor(&mut rec.fields));
        }
    }
}

thread_local! {
    static CAPTURE: std::cell::RefCell<Option<Tree>> = const { std::cell::RefCell::new(None) };
}

/// The test binary's one global layer: hands spans to the current thread's
/// capture, if any. (A thread-local `set_default` subscriber is not enough:
/// tracing caches callsite interest process-wide, and a callsite first hit by
/// a test thread without a subscriber could be cached as disabled meanwhile.)
struct PerThread;

impl<S: tracing::Subscriber + for<'a> LookupSpan<'a>> tracing_subscriber::Layer<S> for PerThread {
    fn on_new_span(
        &self,
        attrs: &tracing::span::Attributes<'_>,
        id: &tracing::span::Id,
        ctx: Context<'_, S>,
    ) {
        CAPTURE.with(|c| {
            if let Some(t) = &*c.borrow() {
                tracing_subscriber::Layer::<S>::on_new_span(t, attrs, id, ctx);
            }
        });
    }

    fn on_record(&self, id: &tracing::span::Id, values: &tracing::span::Record<'_>, ctx: Context<'_, S>) {
        CAPTURE.with(|c| {
            if let Some(t) = &*c.borrow() {
                tracing_subscriber::Layer::<S>::on_record(t, id, values, ctx);
            }
        });
    }
}

/// Stops this thread's capture when dropped.
struct Capturing;

impl Drop for Capturing {
    fn drop(&mut self) {
        CAPTURE.with(|c| *c.borrow_mut() = None);
    }
}

/// Records the spans of this thread (a current-thread tokio test runs every
/// task of the call here) until the guard is dropped.
fn capture() -> (Tree, Capturing) {
    static INIT: std::sync::Once = std::sync::Once::new();
    INIT.call_once(|| {
        tracing::subscriber::set_global_default(tracing_subscriber::registry().with(PerThread))
            .expect("no other global subscriber in the test binary");
    });
    let tree = Tree::default();
    CAPTURE.with(|c| *c.borrow_mut() = Some(tree.clone()));
    (tree, Capturing)
}

impl Tree {
    fn named(&self, name: &str) -> Vec<Rec> {
        self.0.lock().unwrap().iter().filter(|(_, r)| r.name == name).map(|(_, r)| r.clone()).collect()
    }
}

const ALL_POLICIES: &str = r#"
[cache]
enabled = true
[policy]
cache = true
retry = { max_attempts = 3, base_ms = 1, cap_ms = 2 }
breaker = { window = { type = "consecutive", size = 50 } }
[rate_limits]
global = { rate = 1000, per_ms = 1000, burst = 100 }
[bulkheads]
global = { max_concurrent = 8 }
"#;

#[tokio::test]
async fn every_policy_and_attempt_is_a_child_span_of_tool_execute() {
    let (tree, _capturing) = capture();
    let (host, _f) = host_with(ALL_POLICIES).await;
    let ctx = ExecutionContext::new()
        .with_tenant_id("acme")
        .with_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
    let call = ToolCall::new("flaky", json!({"fail_times": 2}).to_string()).with_id("c-1");
    let r = host.execute(&ctx, call, &CallOptions::default()).await;
    assert_eq!(r.attempts, 3, "{r:?}");

    let exec = tree.named("tool.execute");
    assert_eq!(exec.len(), 1, "{exec:?}");
    let f = &exec[0].fields;
    assert_eq!(f["tool"], "flaky");
    assert_eq!(f["tenant"], "acme");
    assert_eq!(f["call_id"], "c-1");
    assert_eq!(f["source"], "plugin", "the span says what serves the tool");
    assert_eq!(f["traceparent"], "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
    assert_eq!(
        (f["cached"].as_str(), f["attempts"].as_str(), f["outcome"].as_str()),
        ("false", "3", "success")
    );
    assert!(
        f.contains_key("fuel_used") && f.contains_key("memory_peak") && f.contains_key("duration_ms"),
        "{f:?}"
    );

    let lookup = tree.named("cache.lookup");
    assert_eq!(lookup.len(), 1);
    assert_eq!(
        (lookup[0].parent.as_deref(), lookup[0].fields["result"].as_str()),
        (Some("tool.execute"), "miss")
    );
    let rate = tree.named("rate_limit.check");
    assert_eq!((rate.len(), rate[0].parent.as_deref()), (1, Some("cache.lookup")));
    assert_eq!(rate[0].fields["allowed"], "true");

    let attempts = tree.named("tool.attempt");
    let numbers: Vec<&str> = attempts.iter().map(|a| a.fields["attempt"].as_str()).collect();
    assert_eq!(numbers, ["1", "2", "3"]);
    let outcomes: Vec<&str> = attempts.iter().map(|a| a.fields["outcome"].as_str()).collect();
    assert_eq!(outcomes, ["TOOL_EXECUTION_FAILED", "TOOL_EXECUTION_FAILED", "success"]);
    assert!(attempts.iter().all(|a| a.parent.as_deref() == Some("cache.lookup")), "{attempts:?}");
    for child in ["breaker.check", "bulkhead.wait", "guest.call"] {
        let spans = tree.named(child);
        assert_eq!(spans.len(), 3, "{child}: {spans:?}");
        assert!(spans.iter().all(|s| s.parent.as_deref() == Some("tool.attempt")), "{child}: {spans:?}");
    }
    assert_eq!(tree.named("guest.call")[2].fields["plugin"], "h");

    // The same call again is a hit: a lookup span, no attempt.
    let again = ToolCall::new("flaky", json!({"fail_times": 2}).to_string());
    assert!(host.execute(&ctx, again, &CallOptions::default()).await.cached);
    let lookup = tree.named("cache.lookup");
    assert_eq!(lookup[1].fields["result"], "hit");
    assert_eq!(tree.named("tool.attempt").len(), 3);
    assert_eq!(tree.named("tool.execute")[1].fields["cached"], "true");
}

#[tokio::test]
async fn refusals_are_visible_on_their_span() {
    let (tree, _capturing) = capture();
    let (host, _f) = host_with("[rate_limits]\nglobal = { rate = 1, per_ms = 60000, burst = 1 }\n").await;
    let ctx = ExecutionContext::new();
    for _ in 0..2 {
        host.execute(&ctx, ToolCall::new("ok", "{}"), &CallOptions::default()).await;
    }
    let allowed: Vec<String> =
        tree.named("rate_limit.check").iter().map(|s| s.fields["allowed"].clone()).collect();
    assert_eq!(allowed, ["true", "false"]);
    let outcomes: Vec<String> =
        tree.named("tool.execute").iter().map(|s| s.fields["outcome"].clone()).collect();
    assert_eq!(outcomes, ["success", "TOOL_RATE_LIMITED"]);
    assert_eq!(tree.named("guest.call").len(), 1, "the refused call ran no guest code");
}
