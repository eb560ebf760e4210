//! Host helpers: logging, progress, streamed chunks, operator config, asking the user or the
//! client's model, and resource change notifications.
//!
//! Inside a component these call the `toolhost:plugin/host` imports. Compiled for any other
//! target (e.g. `cargo test` on the build machine) they go to the thread-local fake in
//! [`testing`](crate::testing), so tools can be unit-tested natively.

use std::fmt;

use crate::{ElicitRequest, ElicitResponse, InteractionError, SamplingRequest, SamplingResponse};

/// Severity of a log line (the WIT `log-level`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    /// Very detailed tracing.
    Trace,
    /// Debugging detail.
    Debug,
    /// Normal operation.
    Info,
    /// Something unexpected that the tool handled.
    Warn,
    /// A failure.
    Error,
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Level::Trace => "trace",
            Level::Debug => "debug",
            Level::Info => "info",
            Level::Warn => "warn",
            Level::Error => "error",
        })
    }
}

/// Writes a log line, attributed by the host to the plugin and the current call.
pub fn log(level: Level, message: impl AsRef<str>) {
    imp::log(level, message.as_ref());
}

/// Reports progress (`done` of `total`, with an optional message) to callers that listen.
pub fn progress(done: f64, total: Option<f64>, message: Option<&str>) {
    imp::progress(done, total, message);
}

/// Streams a partial result chunk (JSON text) to callers that listen.
///
/// Prefer [`Context::emit`](crate::Context::emit), which serialises a value for you.
pub fn emit_raw(chunk: &str) {
    imp::emit(chunk);
}

/// A value the operator set for this plugin in its manifest (`[config] key = "value"`).
///
/// Returns `None` when the key is not set.
pub fn config(key: &str) -> Option<String> {
    imp::config(key)
}

/// Asks the user for input and waits for the answer (within the call's deadline).
///
/// Prefer [`Context::elicit`](crate::Context::elicit).
pub fn elicit(request: &ElicitRequest) -> Result<ElicitResponse, InteractionError> {
    imp::elicit(request)
}

/// Asks the client's language model for one completion.
///
/// Prefer [`Context::sample`](crate::Context::sample).
pub fn sample(request: &SamplingRequest) -> Result<SamplingResponse, InteractionError> {
    imp::sample(request)
}

/// Tells subscribed clients that the resource at `uri` changed (e.g. after a tool wrote it).
///
/// The host keeps the subscriber list; calling this for a URI nobody watches is cheap.
pub fn resource_updated(uri: &str) {
    imp::resource_updated(uri);
}

#[cfg(target_arch = "wasm32")]
mod imp {
    use super::Level;
    use crate::bindings::toolhost::plugin::host as wit;
    use crate::{ElicitRequest, ElicitResponse, InteractionError, SamplingRequest, SamplingResponse};

    pub(super) fn log(level: Level, message: &str) {
        let level = match level {
            Level::Trace => wit::LogLevel::Trace,
            Level::Debug => wit::LogLevel::Debug,
            Level::Info => wit::LogLevel::Info,
            Level::Warn => wit::LogLevel::Warn,
            Level::Error => wit::LogLevel::Error,
        };
        wit::log(level, message);
    }

    pub(super) fn progress(done: f64, total: Option<f64>, message: Option<&str>) {
        wit::progress(done, total, message);
    }

    pub(super) fn emit(chunk: &str) {
        wit::emit(chunk);
    }

    pub(super) fn config(key: &str) -> Option<String> {
        wit::config(key)
    }

    pub(super) fn elicit(request: &ElicitRequest) -> Result<ElicitResponse, InteractionError> {
        wit::elicit(&request.into()).map(Into::into).map_err(Into::into)
    }

    pub(super) fn sample(request: &SamplingRequest) -> Result<SamplingResponse, InteractionError> {
        wit::sample(&request.into()).map(Into::into).map_err(Into::into)
    }

    pub(super) fn resource_updated(uri: &str) {
        wit::resource_updated(uri);
    }
}

#[cfg(not(target_arch = "wasm32"))]
mod imp {
    use super::Level;
    use crate::testing::{self, HostEvent};
    use crate::{ElicitRequest, ElicitResponse, InteractionError, SamplingRequest, SamplingResponse};

    pub(super) fn log(level: Level, message: &str) {
        testing::record(HostEvent::Log { level, message: message.to_owned() });
    }

    pub(super) fn progress(done: f64, total: Option<f64>, message: Option<&str>) {
        testing::record(HostEvent::Progress { done, total, message: message.map(str::to_owned) });
    }

    pub(super) fn emit(chunk: &str) {
        testing::record(HostEvent::Emit(chunk.to_owned()));
    }

    pub(super) fn config(key: &str) -> Option<String> {
        testing::config_value(key)
    }

    pub(super) fn elicit(request: &ElicitRequest) -> Result<ElicitResponse, InteractionError> {
        testing::record(HostEvent::Elicit(request.clone()));
        testing::next_elicit_answer()
    }

    pub(super) fn sample(request: &SamplingRequest) -> Result<SamplingResponse, InteractionError> {
        testing::record(HostEvent::Sample(request.clone()));
        testing::next_sample_answer()
    }

    pub(super) fn resource_updated(uri: &str) {
        testing::record(HostEvent::ResourceUpdated(uri.to_owned()));
    }
}

/// Logging shortcuts: `toolhost_sdk::log::info("message")`.
///
/// Same as [`Context::log`](crate::Context::log) with a fixed level.
pub mod log {
    use super::Level;

    /// Logs at [`Level::Trace`].
    pub fn trace(message: impl AsRef<str>) {
        super::log(Level::Trace, message);
    }
    /// Logs at [`Level::Debug`].
    pub fn debug(message: impl AsRef<str>) {
        super::log(Level::Debug, message);
    }
    /// Logs at [`Level::Info`].
    pub fn info(message: impl AsRef<str>) {
        super::log(Level::Info, message);
    }
    /// Logs at [`Level::Warn`].
    pub fn warn(message: impl AsRef<str>) {
        super::log(Level::Warn, message);
    }
    /// Logs at [`Level::Error`].
    pub fn error(message: impl AsRef<str>) {
        super::log(Level::Error, message);
    }
}
