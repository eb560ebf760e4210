//! Where a server's notifications go: `notifications/progress` to the call
//! whose progress token it names, `notifications/message` log lines to the one
//! call in flight (or to `tracing`).
//!
//! MCP log lines carry no request id, so a line can only be attributed when
//! exactly one call is in flight on the connection; with several, it goes to
//! `tracing` only (never to another tenant's call). Events are sent with
//! `try_send`: a slow listener loses events rather than stalling the
//! connection, as for plugins.
//!
//! MCP logging is deprecated from protocol 2026-07-28 (SEP-2577), but the
//! servers toolhost talks to (`initialize` era) still send it.
#![allow(deprecated)]

use rmcp::model::{LoggingLevel, LoggingMessageNotificationParam, ProgressNotificationParam, ProgressToken};
use std::collections::HashMap;
use std::sync::Mutex;
use toolhost_core::text::escape_control;
use toolhost_core::{EventSink, GuestEvent};

/// Longest log line passed on, bytes (the rest is cut at a char boundary).
const MAX_LOG_BYTES: usize = 4096;

/// The calls in flight on one connection.
#[derive(Debug, Default)]
pub(crate) struct Routes {
    /// Held while a call is sent and its progress token registered, so a
    /// progress notification racing the registration waits for it.
    gate: tokio::sync::Mutex<()>,
    table: Mutex<Table>,
}

#[derive(Debug, Default)]
struct Table {
    next: u64,
    calls: HashMap<u64, Entry>,
}

#[derive(Debug)]
struct Entry {
    token: ProgressToken,
    sink: Option<EventSink>,
}

/// A call's place in [`Routes`]; removed on drop.
#[derive(Debug)]
pub(crate) struct Registration<'a> {
    routes: &'a Routes,
    id: u64,
}

impl Drop for Registration<'_> {
    fn drop(&mut self) {
        self.routes.table().calls.remove(&self.id);
    }
}

impl Routes {
    fn table(&self) -> std::sync::MutexGuard<'_, Table> {
        self.table.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Locks out progress delivery until the guard is dropped (while a
    /// request is sent and registered).
    pub(crate) async fn gate(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.gate.lock().await
    }

    /// Registers a call with its progress token and event sink.
    pub(crate) fn register(&self, token: ProgressToken, sink: Option<EventSink>) -> Registration<'_> {
        let mut table = self.table();
        let id = table.next;
        table.next += 1;
        table.calls.insert(id, Entry { token, sink });
        Registration { routes: self, id }
    }

    /// Delivers a progress notification to the call whose token it names.
    pub(crate) async fn progress(&self, upstream: &str, p: ProgressNotificationParam) {
        drop(self.gate().await);
        let sink = {
            let table = self.table();
            table.calls.values().find(|e| e.token == p.progress_token).and_then(|e| e.sink.clone())
        };
        let message = p.message.map(|m| bounded(&m));
        tracing::debug!(upstream, done = p.progress, total = ?p.total, ?message, "upstream progress");
        if let Some(sink) = sink {
            let _ = sink.try_send(GuestEvent::Progress { done: p.progress, total: p.total, message });
        }
    }

    /// Delivers a log line to the only call in flight, and to `tracing`.
    pub(crate) fn log(&self, upstream: &str, p: LoggingMessageNotificationParam) {
        let text = match &p.data {
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        let message = match &p.logger {
            Some(logger) => bounded(&format!("{logger}: {text}")),
            None => bounded(&text),
        };
        let level = level_name(p.level);
        tracing::debug!(target: "toolhost::upstream", upstream, level, "{message}");
        let sink = {
            let table = self.table();
            let mut calls = table.calls.values();
            match (calls.next(), calls.next()) {
                (Some(only), None) => only.sink.clone(),
                _ => None,
            }
        };
        if let Some(sink) = sink {
            let _ = sink.try_send(GuestEvent::Log { level, message });
        }
    }
}

/// The host's level names (`trace` … `error`) for an MCP (syslog) level.
fn level_name(level: LoggingLevel) -> &'static str {
    match level {
        LoggingLevel::Debug => "debug",
        LoggingLevel::Info | LoggingLevel::Notice => "info",
        LoggingLevel::Warning => "warn",
        _ => "error",
    }
}

/// At most [`MAX_LOG_BYTES`] of `s`, control characters escaped.
pub(crate) fn bounded(s: &str) -> String {
    bounded_to(s, MAX_LOG_BYTES)
}

/// At most `max` bytes of `s` (on a char boundary, `…` marking a cut),
/// control characters escaped.
pub(crate) fn bounded_to(s: &str, max: usize) -> String {
    if s.len() <= max {
        return escape_control(s);
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", escape_control(&s[..end]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rmcp::model::NumberOrString;

    fn token(n: i64) -> ProgressToken {
        ProgressToken(NumberOrString::Number(n))
    }

    #[tokio::test]
    async fn progress_goes_to_the_call_with_that_token_only() {
        let routes = Routes::default();
        let (tx1, mut rx1) = tokio::sync::mpsc::channel(8);
        let (tx2, mut rx2) = tokio::sync::mpsc::channel(8);
        let _a = routes.register(token(1), Some(tx1));
        let _b = routes.register(token(2), Some(tx2));
        routes.progress("u", ProgressNotificationParam::new(token(2), 3.0).with_total(4.0)).await;
        assert!(rx1.try_recv().is_err());
        let ev = rx2.try_recv().unwrap();
        assert_eq!(ev, GuestEvent::Progress { done: 3.0, total: Some(4.0), message: None });
    }

    #[test]
    fn logs_reach_a_lone_call_escaped_and_bounded() {
        let routes = Routes::default();
        let (tx, mut rx) = tokio::sync::mpsc::channel(8);
        let reg = routes.register(token(1), Some(tx.clone()));
        let long = format!("\u{1b}[31mred{}", "x".repeat(10_000));
        routes.log("u", LoggingMessageNotificationParam::new(LoggingLevel::Warning, long.into()));
        let GuestEvent::Log { level, message } = rx.try_recv().unwrap() else { panic!() };
        assert_eq!(level, "warn");
        assert!(message.starts_with("\\u{1b}[31mred"), "{message}");
        assert!(message.len() <= MAX_LOG_BYTES + 16);
        // Two calls in flight: the line cannot be attributed.
        let _other = routes.register(token(2), Some(tx));
        routes.log("u", LoggingMessageNotificationParam::new(LoggingLevel::Info, "hi".into()));
        assert!(rx.try_recv().is_err());
        drop(reg);
        routes.log("u", LoggingMessageNotificationParam::new(LoggingLevel::Info, "hi".into()));
        assert!(rx.try_recv().is_ok());
    }
}
