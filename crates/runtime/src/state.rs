//! Per-call store state: the tenant that owns the store, WASI context,
//! limiter, captured stdio and the host side of the `host` interface.

use super::bindings::{v1, v2};
use super::limiter::CallLimiter;
use super::stdio::CapturedOutput;
use crate::convert;
use std::collections::BTreeMap;
use std::sync::Arc;
use toolhost_core::text::escape_control;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use toolhost_core::catalog::{ResourceUpdated, ResourceUpdates};
pub(crate) use toolhost_core::events::{EventSink, GuestEvent};
use toolhost_core::interact::{Answer, InputRequest, InputResponse, Interact};

/// At most this many `log` lines per call reach the tracing subscriber.
const MAX_LOG_LINES: u32 = 1000;

pub(crate) struct StoreState {
    pub(crate) http: wasmtime_wasi_http::WasiHttpCtx,
    pub(crate) http_hooks: super::http::HttpHooks,
    pub(crate) tenant: Arc<str>,
    pub(crate) plugin: Arc<str>,
    pub(crate) tool: Arc<str>,
    pub(crate) call_id: Arc<str>,
    /// `None` until the guest first uses WASI, for a plugin granted
    /// nothing (see [`super::wasi::build_ctx`]).
    pub(crate) wasi: Option<WasiCtx>,
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
    /// Answers the guest's `elicit`/`sample`.
    pub(crate) interact: Option<Arc<dyn Interact>>,
    /// Where `resource-updated` goes.
    pub(crate) resource_updates: Option<ResourceUpdates>,
    /// The question nobody could answer: the call ends with `INPUT_REQUIRED`.
    pub(crate) input_required: Option<(String, InputRequest)>,
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
        let ctx = self.wasi.get_or_insert_with(|| super::wasi::deny_all(&self.stdout, &self.stderr));
        WasiCtxView { ctx, table: &mut self.table }
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

impl StoreState {
    fn log_line(&mut self, level: &'static str, message: String) {
        self.log_lines += 1;
        let message = escape_control(&message);
        if self.log_lines <= MAX_LOG_LINES {
            let (plugin, tool, call_id, tenant) = (&*self.plugin, &*self.tool, &*self.call_id, &*self.tenant);
            match level {
                "trace" => {
                    tracing::trace!(target: "toolhost::guest", plugin, tool, call_id, tenant, "{message}")
                }
                "debug" => {
                    tracing::debug!(target: "toolhost::guest", plugin, tool, call_id, tenant, "{message}")
                }
                "info" => {
                    tracing::info!(target: "toolhost::guest", plugin, tool, call_id, tenant, "{message}")
                }
                "warn" => {
                    tracing::warn!(target: "toolhost::guest", plugin, tool, call_id, tenant, "{message}")
                }
                _ => tracing::error!(target: "toolhost::guest", plugin, tool, call_id, tenant, "{message}"),
            }
        }
        self.send(GuestEvent::Log { level, message });
    }

    fn progress_report(&mut self, done: f64, total: Option<f64>, message: Option<String>) {
        let message = message.map(|m| escape_control(&m));
        tracing::debug!(target: "toolhost::guest", plugin = &*self.plugin, call_id = &*self.call_id, done, ?total, ?message, "progress");
        self.send(GuestEvent::Progress { done, total, message });
    }

    fn emit_chunk(&mut self, chunk: String) {
        tracing::debug!(target: "toolhost::guest", plugin = &*self.plugin, call_id = &*self.call_id, bytes = chunk.len(), "emit");
        self.send(GuestEvent::Emit { chunk });
    }

    /// Asks the caller `request`, within the call's deadline. `Ok(Err(..))`
    /// is the guest's to handle; `Err` ends the call (`INPUT_REQUIRED`).
    async fn ask(
        &mut self,
        request: InputRequest,
    ) -> wasmtime::Result<Result<InputResponse, v2::toolhost::plugin::types::InteractionError>> {
        use v2::toolhost::plugin::types::InteractionError as E;
        let answer = match self.interact.clone() {
            None => Answer::Deferred,
            Some(i) => {
                let left = self.deadline.saturating_duration_since(std::time::Instant::now());
                tokio::time::timeout(left, i.ask(&request))
                    .await
                    .unwrap_or_else(|_| Answer::Failed("no answer before the call's deadline".into()))
            }
        };
        tracing::debug!(target: "toolhost::guest", plugin = &*self.plugin, call_id = &*self.call_id, key = %request.key(), ?answer, "input request");
        match answer {
            Answer::Given(r) => Ok(Ok(r)),
            Answer::Unsupported(m) => Ok(Err(E::Unsupported(m))),
            Answer::Failed(m) => Ok(Err(E::Failed(m))),
            Answer::Deferred => {
                self.input_required = Some((request.key(), request));
                Err(wasmtime::format_err!("input required from the caller"))
            }
        }
    }
}

/// The host calls both contract versions have (`log`, `progress`, `emit`,
/// `config`), for the `host` trait of version `$v`'s bindings.
macro_rules! host_calls_of_every_version {
    ($v:ident) => {
        fn log(&mut self, level: $v::toolhost::plugin::host::LogLevel, message: String) {
            use $v::toolhost::plugin::host::LogLevel as L;
            let level = match level {
                L::Trace => "trace",
                L::Debug => "debug",
                L::Info => "info",
                L::Warn => "warn",
                L::Error => "error",
            };
            self.log_line(level, message);
        }

        fn progress(&mut self, done: f64, total: Option<f64>, message: Option<String>) {
            self.progress_report(done, total, message);
        }

        fn emit(&mut self, chunk: String) {
            self.emit_chunk(chunk);
        }

        fn config(&mut self, key: String) -> Option<String> {
            self.config.get(&key).cloned()
        }
    };
}

impl v1::toolhost::plugin::types::Host for StoreState {}

impl v1::toolhost::plugin::host::Host for StoreState {
    host_calls_of_every_version!(v1);
}

impl v2::toolhost::plugin::types::Host for StoreState {}

impl v2::toolhost::plugin::host::Host for StoreState {
    host_calls_of_every_version!(v2);

    async fn elicit(
        &mut self,
        request: v2::toolhost::plugin::types::ElicitRequest,
    ) -> wasmtime::Result<
        Result<v2::toolhost::plugin::types::ElicitResponse, v2::toolhost::plugin::types::InteractionError>,
    > {
        use v2::toolhost::plugin::types::InteractionError as E;
        let request = match convert::elicit_request(request) {
            Ok(r) => r,
            Err(e) => return Ok(Err(E::Failed(e))),
        };
        Ok(self.ask(request).await?.and_then(|r| convert::elicit_response(r).map_err(E::Failed)))
    }

    async fn sample(
        &mut self,
        request: v2::toolhost::plugin::types::SamplingRequest,
    ) -> wasmtime::Result<
        Result<v2::toolhost::plugin::types::SamplingResponse, v2::toolhost::plugin::types::InteractionError>,
    > {
        use v2::toolhost::plugin::types::InteractionError as E;
        let request = convert::sampling_request(request);
        Ok(self.ask(request).await?.and_then(|r| convert::sampling_response(r).map_err(E::Failed)))
    }

    fn resource_updated(&mut self, uri: String) {
        tracing::debug!(target: "toolhost::guest", plugin = &*self.plugin, call_id = &*self.call_id, uri = %uri, "resource updated");
        if let Some(tx) = &self.resource_updates {
            let _ = tx.send(ResourceUpdated {
                tenant: self.tenant.to_string(),
                plugin: self.plugin.to_string(),
                uri,
            });
        }
    }
}
