//! [`ToolError`]: a failure the tool reports to its caller.

use std::fmt;

use serde_json::Value;

/// Why a tool call failed (the WIT `error-kind`).
///
/// The kind decides the default retryability the host applies: [`Transient`](Self::Transient)
/// and [`RateLimited`](Self::RateLimited) are retryable, every other kind is not. Override it
/// per error with [`ToolError::retryable`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// The arguments are wrong; calling again with the same arguments fails again.
    InvalidInput,
    /// The thing the arguments refer to does not exist.
    NotFound,
    /// The caller or the plugin is not allowed to do this.
    Denied,
    /// A temporary failure (an upstream timed out, a resource was busy); a retry may succeed.
    Transient,
    /// Too many requests; retry after [`ToolError::retry_after_ms`].
    RateLimited,
    /// A bug or an unexpected state in the tool.
    Internal,
}

impl ErrorKind {
    /// The kind's WIT name (`invalid-input`, `not-found`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::InvalidInput => "invalid-input",
            ErrorKind::NotFound => "not-found",
            ErrorKind::Denied => "denied",
            ErrorKind::Transient => "transient",
            ErrorKind::RateLimited => "rate-limited",
            ErrorKind::Internal => "internal",
        }
    }

    /// Whether the host retries this kind when the error does not say otherwise.
    pub fn default_retryable(self) -> bool {
        matches!(self, ErrorKind::Transient | ErrorKind::RateLimited)
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A failure a tool reports itself: data for the caller (and the model), not a crash.
///
/// Build one with a constructor per [`ErrorKind`] and refine it with the chained setters:
///
/// ```
/// use toolhost_sdk::{ErrorKind, ToolError};
/// let err = ToolError::transient("upstream timed out")
///     .retryable(false)
///     .details(serde_json::json!({ "upstream": "search" }));
/// assert_eq!(err.kind(), ErrorKind::Transient);
/// assert_eq!(err.is_retryable(), false);
/// ```
///
/// A panic in a tool is *not* a `ToolError`: it traps the guest and the host reports an internal
/// failure. Return `Err(ToolError::internal(..))` instead where you can.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolError {
    kind: ErrorKind,
    message: String,
    retryable: Option<bool>,
    retry_after_ms: Option<u64>,
    details: Option<Value>,
}

impl ToolError {
    /// An error of `kind` with `message` (what happened and what to do about it).
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        ToolError { kind, message: message.into(), retryable: None, retry_after_ms: None, details: None }
    }

    /// The arguments are wrong ([`ErrorKind::InvalidInput`]). Name the field and the fix.
    pub fn invalid_input(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidInput, message)
    }

    /// The referenced thing does not exist ([`ErrorKind::NotFound`]).
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::NotFound, message)
    }

    /// Not allowed ([`ErrorKind::Denied`]).
    pub fn denied(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Denied, message)
    }

    /// A temporary failure; retryable by default ([`ErrorKind::Transient`]).
    pub fn transient(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Transient, message)
    }

    /// Too many requests; the caller should wait `retry_after_ms` milliseconds
    /// ([`ErrorKind::RateLimited`]). Change the default message with [`with_message`](Self::with_message).
    pub fn rate_limited(retry_after_ms: u64) -> Self {
        Self::new(ErrorKind::RateLimited, format!("rate limited; retry in {retry_after_ms} ms"))
            .retry_after(retry_after_ms)
    }

    /// A bug or unexpected state in the tool ([`ErrorKind::Internal`]).
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Internal, message)
    }

    /// Overrides the default retryability of the kind.
    #[must_use]
    pub fn retryable(mut self, retryable: bool) -> Self {
        self.retryable = Some(retryable);
        self
    }

    /// Sets the earliest useful retry, in milliseconds.
    #[must_use]
    pub fn retry_after(mut self, retry_after_ms: u64) -> Self {
        self.retry_after_ms = Some(retry_after_ms);
        self
    }

    /// Attaches extra JSON details (e.g. `json!({"field": "path"})`).
    #[must_use]
    pub fn details(mut self, details: impl Into<Value>) -> Self {
        self.details = Some(details.into());
        self
    }

    /// Replaces the message.
    #[must_use]
    pub fn with_message(mut self, message: impl Into<String>) -> Self {
        self.message = message.into();
        self
    }

    /// The kind.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The message.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The explicit retryability, if one was set.
    pub fn retryable_override(&self) -> Option<bool> {
        self.retryable
    }

    /// Whether the host will consider this error retryable (override, else the kind's default).
    pub fn is_retryable(&self) -> bool {
        self.retryable.unwrap_or_else(|| self.kind.default_retryable())
    }

    /// The retry hint, in milliseconds.
    pub fn retry_after_ms(&self) -> Option<u64> {
        self.retry_after_ms
    }

    /// The JSON details, if any.
    pub fn details_value(&self) -> Option<&Value> {
        self.details.as_ref()
    }
}

impl fmt::Display for ToolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind, self.message)
    }
}

impl std::error::Error for ToolError {}

impl From<crate::bindings::toolhost::plugin::types::ErrorKind> for ErrorKind {
    fn from(kind: crate::bindings::toolhost::plugin::types::ErrorKind) -> Self {
        use crate::bindings::toolhost::plugin::types::ErrorKind as W;
        match kind {
            W::InvalidInput => ErrorKind::InvalidInput,
            W::NotFound => ErrorKind::NotFound,
            W::Denied => ErrorKind::Denied,
            W::Transient => ErrorKind::Transient,
            W::RateLimited => ErrorKind::RateLimited,
            W::Internal => ErrorKind::Internal,
        }
    }
}

impl From<ErrorKind> for crate::bindings::toolhost::plugin::types::ErrorKind {
    fn from(kind: ErrorKind) -> Self {
        use crate::bindings::toolhost::plugin::types::ErrorKind as W;
        match kind {
            ErrorKind::InvalidInput => W::InvalidInput,
            ErrorKind::NotFound => W::NotFound,
            ErrorKind::Denied => W::Denied,
            ErrorKind::Transient => W::Transient,
            ErrorKind::RateLimited => W::RateLimited,
            ErrorKind::Internal => W::Internal,
        }
    }
}

impl From<ToolError> for crate::bindings::toolhost::plugin::types::ToolError {
    fn from(err: ToolError) -> Self {
        crate::bindings::toolhost::plugin::types::ToolError {
            kind: err.kind.into(),
            message: err.message,
            retryable: err.retryable,
            retry_after_ms: err.retry_after_ms,
            details: err.details.map(|d| d.to_string()),
        }
    }
}
