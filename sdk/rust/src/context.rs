//! [`Context`]: the request context of one call, plus host helpers.

use std::time::{Duration, Instant};

use serde::Serialize;

use crate::{
    ElicitRequest, ElicitResponse, InteractionError, Level, SamplingRequest, SamplingResponse, ToolError,
    host,
};

/// The request context of one call (the WIT `call-context`), handed to every tool function.
///
/// Besides the identifiers it offers the host helpers: [`log`](Self::log) (and
/// [`info`](Self::info) etc.), [`progress`](Self::progress), [`emit`](Self::emit),
/// [`config`](Self::config), [`elicit`](Self::elicit) and [`sample`](Self::sample).
///
/// In native unit tests build one with [`Context::new`] and the `with_*` setters.
#[derive(Debug, Clone)]
pub struct Context {
    call_id: String,
    request_id: Option<String>,
    tenant_id: Option<String>,
    user_id: Option<String>,
    traceparent: Option<String>,
    deadline_ms: Option<u64>,
    attempt: u32,
    metadata: Vec<(String, String)>,
    started: Instant,
}

impl Context {
    /// A context for call `call_id`: first attempt, no deadline, no optional ids, no metadata.
    pub fn new(call_id: impl Into<String>) -> Self {
        Context {
            call_id: call_id.into(),
            request_id: None,
            tenant_id: None,
            user_id: None,
            traceparent: None,
            deadline_ms: None,
            attempt: 1,
            metadata: Vec::new(),
            started: Instant::now(),
        }
    }

    /// Sets the request id.
    #[must_use]
    pub fn with_request_id(mut self, id: impl Into<String>) -> Self {
        self.request_id = Some(id.into());
        self
    }

    /// Sets the tenant id.
    #[must_use]
    pub fn with_tenant_id(mut self, id: impl Into<String>) -> Self {
        self.tenant_id = Some(id.into());
        self
    }

    /// Sets the user id.
    #[must_use]
    pub fn with_user_id(mut self, id: impl Into<String>) -> Self {
        self.user_id = Some(id.into());
        self
    }

    /// Sets the W3C `traceparent`.
    #[must_use]
    pub fn with_traceparent(mut self, traceparent: impl Into<String>) -> Self {
        self.traceparent = Some(traceparent.into());
        self
    }

    /// Sets the time left for the call when it started, in milliseconds.
    #[must_use]
    pub fn with_deadline_ms(mut self, deadline_ms: u64) -> Self {
        self.deadline_ms = Some(deadline_ms);
        self
    }

    /// Sets the attempt number (1 = first attempt).
    #[must_use]
    pub fn with_attempt(mut self, attempt: u32) -> Self {
        self.attempt = attempt;
        self
    }

    /// Adds a metadata entry.
    #[must_use]
    pub fn with_metadata(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.metadata.push((key.into(), value.into()));
        self
    }

    /// The host's id of this call.
    pub fn call_id(&self) -> &str {
        &self.call_id
    }

    /// The caller's request id, if any.
    pub fn request_id(&self) -> Option<&str> {
        self.request_id.as_deref()
    }

    /// The tenant the call runs for, if any.
    pub fn tenant_id(&self) -> Option<&str> {
        self.tenant_id.as_deref()
    }

    /// The end user the call runs for, if any.
    pub fn user_id(&self) -> Option<&str> {
        self.user_id.as_deref()
    }

    /// The caller's W3C trace context, if any.
    pub fn traceparent(&self) -> Option<&str> {
        self.traceparent.as_deref()
    }

    /// Time left for this call when it started, in milliseconds, if the host set a deadline.
    pub fn deadline_ms(&self) -> Option<u64> {
        self.deadline_ms
    }

    /// Time left now: [`deadline_ms`](Self::deadline_ms) minus the time since the call started
    /// (saturating at zero). `None` without a deadline.
    pub fn remaining(&self) -> Option<Duration> {
        self.deadline_ms.map(|ms| Duration::from_millis(ms).saturating_sub(self.started.elapsed()))
    }

    /// 1 for the first attempt, 2 for the first retry, ...
    pub fn attempt(&self) -> u32 {
        self.attempt
    }

    /// Whether this call is a retry (`attempt > 1`).
    pub fn is_retry(&self) -> bool {
        self.attempt > 1
    }

    /// The first metadata value for `key`.
    pub fn metadata(&self, key: &str) -> Option<&str> {
        self.metadata.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    /// Every metadata value for `key`, in order.
    pub fn metadata_all<'a>(&'a self, key: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.metadata.iter().filter(move |(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    /// All metadata entries, in the order the host sent them.
    pub fn metadata_entries(&self) -> &[(String, String)] {
        &self.metadata
    }

    /// Writes a log line, attributed by the host to the plugin and this call.
    pub fn log(&self, level: Level, message: impl AsRef<str>) {
        host::log(level, message);
    }

    /// Logs at [`Level::Trace`].
    pub fn trace(&self, message: impl AsRef<str>) {
        self.log(Level::Trace, message);
    }

    /// Logs at [`Level::Debug`].
    pub fn debug(&self, message: impl AsRef<str>) {
        self.log(Level::Debug, message);
    }

    /// Logs at [`Level::Info`].
    pub fn info(&self, message: impl AsRef<str>) {
        self.log(Level::Info, message);
    }

    /// Logs at [`Level::Warn`].
    pub fn warn(&self, message: impl AsRef<str>) {
        self.log(Level::Warn, message);
    }

    /// Logs at [`Level::Error`].
    pub fn error(&self, message: impl AsRef<str>) {
        self.log(Level::Error, message);
    }

    /// Reports progress: `done` of `total` (when known), with an optional message.
    pub fn progress(&self, done: f64, total: Option<f64>, message: Option<&str>) {
        host::progress(done, total, message);
    }

    /// Streams a partial result chunk (any serialisable value) to callers that listen.
    ///
    /// Fails with an internal error only when `chunk` cannot be serialised to JSON.
    pub fn emit<T: Serialize + ?Sized>(&self, chunk: &T) -> Result<(), ToolError> {
        let text = serde_json::to_string(chunk)
            .map_err(|e| ToolError::internal(format!("could not serialise chunk: {e}")))?;
        host::emit_raw(&text);
        Ok(())
    }

    /// The operator's config value for `key` (manifest `[config]`), if set.
    pub fn config(&self, key: &str) -> Option<String> {
        host::config(key)
    }

    /// The operator's config value for `key`, or `default` when unset.
    pub fn config_or(&self, key: &str, default: &str) -> String {
        host::config(key).unwrap_or_else(|| default.to_owned())
    }

    /// Asks the user for input ([`ElicitRequest::form`] or [`ElicitRequest::url`]) and waits
    /// for the answer.
    ///
    /// When the caller cannot answer now, the host ends this call and runs it again from the
    /// start once the answer arrives: ask before doing anything that must not happen twice.
    /// An [`InteractionError`] converts into a [`ToolError`], so `?` works in tools.
    ///
    /// ```
    /// use toolhost_sdk::prelude::*;
    /// use toolhost_sdk::{ElicitRequest, testing, ElicitResponse};
    ///
    /// fn confirm(ctx: &Context) -> Result<bool, ToolError> {
    ///     let schema = json!({
    ///         "type": "object",
    ///         "properties": { "ok": { "type": "boolean" } },
    ///         "required": ["ok"],
    ///     });
    ///     let answer = ctx.elicit(&ElicitRequest::form("Really delete?", schema))?;
    ///     Ok(answer.is_accepted() && answer.content.as_ref().is_some_and(|c| c["ok"] == true))
    /// }
    /// testing::answer_elicit(Ok(ElicitResponse::accept(json!({ "ok": true }))));
    /// assert!(confirm(&Context::new("c1")).unwrap());
    /// ```
    pub fn elicit(&self, request: &ElicitRequest) -> Result<ElicitResponse, InteractionError> {
        host::elicit(request)
    }

    /// Asks the client's language model for one completion and waits for it.
    ///
    /// ```
    /// use toolhost_sdk::prelude::*;
    /// use toolhost_sdk::{SamplingRequest, SamplingResponse, testing};
    ///
    /// testing::answer_sample(Ok(SamplingResponse::text("test-model", "Paris")));
    /// let ctx = Context::new("c1");
    /// let answer = ctx.sample(&SamplingRequest::new(50).user("Capital of France?")).unwrap();
    /// assert_eq!(answer.as_text(), Some("Paris"));
    /// ```
    pub fn sample(&self, request: &SamplingRequest) -> Result<SamplingResponse, InteractionError> {
        host::sample(request)
    }
}

impl From<crate::bindings::toolhost::plugin::types::CallContext> for Context {
    fn from(c: crate::bindings::toolhost::plugin::types::CallContext) -> Self {
        Context {
            call_id: c.call_id,
            request_id: c.request_id,
            tenant_id: c.tenant_id,
            user_id: c.user_id,
            traceparent: c.traceparent,
            deadline_ms: c.deadline_ms,
            attempt: c.attempt,
            metadata: c.metadata,
            started: Instant::now(),
        }
    }
}
