//! Per-call store state: the tenant that owns the store, WASI context,
//! limiter, captured stdio and the host side of the `host` interface.

use super::bindings::{self, LogLevel};
use super::limiter::CallLimiter;
use super::stdio::CapturedOutput;
use std::collections::BTreeMap;
use std::sync::Arc;
use toolhost_core::text::escape_control;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

pub(crate) use toolhost_core::events::{EventSink, GuestEvent};

/// At most this many `log` lines per call reach the tracing subscriber.
const MAX_LOG_LINES: u32 = 1000;

pub(crate) struct StoreState {
    pub(crate) http: wasmtime_wasi_http::WasiHttpCtx,
    pub(crate) http_hooks: super::http::HttpHooks,
    pub(crate) tenant: Arc<str>,
    pub(crate) plugin: Arc<str>,
    pub(crate) tool: Arc<str>,
    pub(crate) call_id: Arc<str>,
    pub(crate) wasi: WasiCtx,
    pub(crate) table: ResourceTable,
    pub(crate) limiter: CallLimiter,
    pub(crate) config: Arc<BTreeMap<String, String>>,
    pub(crate) events: Option<EventSink>,
    pub(crate) stdout: CapturedOutput,
    pub(crate) stderr: CapturedOutput,
    pub(crate) log_lines: u32,
    pub(crate) dropped_events: u32,
    /// When the call's time is up.
    pub(crate) deadline: std::time::Instant,
    pub(crate) cancel: Option<toolhost_core::call::CancelToken>,
    /// Why the epoch callback interrupted the guest, if it did.
    pub(crate) stop: Option<Stop>,
}

/// Why the host interrupted a guest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stop {
    Timeout,
    Cancelled,
}

impl StoreState {
    fn send(&mut self, ev: GuestEvent) {
        if let Some(sink) = &self.events
            && sink.try_send(ev).is_err()
        {
            self.dropped_events += 1;
        }
    }
}

impl WasiView for StoreState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

impl wasmtime_wasi_http::WasiHttpView for StoreState {
    fn http(&mut self) -> wasmtime_wasi_http::WasiHttpCtxView<'_> {
        wasmtime_wasi_http::WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.http_hooks,
        }
    }
}

impl bindings::toolhost::plugin::types::Host for StoreState {}

impl bindings::toolhost::plugin::host::Host for StoreState {
    fn log(&mut self, level: LogLevel, message: String) {
        self.log_lines += 1;
        let message = escape_control(&message);
        if self.log_lines <= MAX_LOG_LINES {
            let (plugin, tool, call_id, tenant) = (&*self.plugin, &*self.tool, &*self.call_id, &*self.tenant);
            match level {
                LogLevel::Trace => {
                    tracing::trace!(target: "toolhost::guest", plugin, tool, call_id, tenant, "{message}")
                }
                LogLevel::Debug => {
                    tracing::debug!(target: "toolhost::guest", plugin, tool, call_id, tenant, "{message}")
                }
                LogLevel::Info => {
                    tracing::info!(target: "toolhost::guest", plugin, tool, call_id, tenant, "{message}")
                }
                LogLevel::Warn => {
                    tracing::warn!(target: "toolhost::guest", plugin, tool, call_id, tenant, "{message}")
                }
                LogLevel::Error => {
                    tracing::error!(target: "toolhost::guest", plugin, tool, call_id, tenant, "{message}")
                }
            }
        }
        let level = match level {
            LogLevel::Trace => "trace",
            LogLevel::Debug => "debug",
            LogLevel::Info => "info",
            LogLevel::Warn => "warn",
            LogLevel::Error => "error",
        };
        self.send(GuestEvent::Log { level, message });
    }

    fn progress(&mut self, done: f64, total: Option<f64>, message: Option<String>) {
        let message = message.map(|m| escape_control(&m));
        tracing::debug!(target: "toolhost::guest", plugin = &*self.plugin, call_id = &*self.call_id, done, ?total, ?message, "progress");
        self.send(GuestEvent::Progress { done, total, message });
    }

    fn emit(&mut self, chunk: String) {
        tracing::debug!(target: "toolhost::guest", plugin = &*self.plugin, call_id = &*self.call_id, bytes = chunk.len(), "emit");
        self.send(GuestEvent::Emit { chunk });
    }

    fn config(&mut self, key: String) -> Option<String> {
        self.config.get(&key).cloned()
    }
}
