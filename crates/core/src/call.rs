//! What goes into a call and what comes out: requests, outputs, content
//! blocks, per-call statistics and cancellation.

use crate::error::Error;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// A request to run one tool.
#[derive(Debug, Clone, Default)]
pub struct CallRequest {
    /// Caller's id for this call (provider tool-call id); generated when empty.
    pub call_id: Option<String>,
    /// Exact tool name.
    pub tool: String,
    /// Arguments as JSON text, validated before any guest code runs.
    pub arguments: String,
    /// Tenant that owns the call (and its store). `None` = `default`.
    pub tenant: Option<String>,
    /// Overrides the tool's timeout for this call.
    pub timeout: Option<Duration>,
    /// Request id propagated to the guest.
    pub request_id: Option<String>,
    /// End user propagated to the guest.
    pub user_id: Option<String>,
    /// W3C `traceparent` propagated to the guest.
    pub traceparent: Option<String>,
    /// Attempt number (1 = first).
    pub attempt: u32,
    /// Free-form metadata propagated to the guest.
    pub metadata: Vec<(String, String)>,
    /// Cancels the call when triggered.
    pub cancel: Option<CancelToken>,
    /// Receives the guest's log/progress/emit events.
    pub events: Option<crate::events::EventSink>,
    /// Answers the guest's questions (elicitation, sampling).
    pub interact: Option<std::sync::Arc<dyn crate::interact::Interact>>,
}

impl CallRequest {
    /// A call of `tool` with `arguments` (JSON text).
    pub fn new(tool: impl Into<String>, arguments: impl Into<String>) -> Self {
        CallRequest { tool: tool.into(), arguments: arguments.into(), attempt: 1, ..Default::default() }
    }

    /// A call of `tool` with JSON `arguments`.
    pub fn json(tool: impl Into<String>, arguments: &serde_json::Value) -> Self {
        Self::new(tool, arguments.to_string())
    }

    /// Sets the tenant.
    pub fn tenant(mut self, tenant: impl Into<String>) -> Self {
        self.tenant = Some(tenant.into());
        self
    }

    /// Sets the per-call timeout.
    pub fn timeout(mut self, t: Duration) -> Self {
        self.timeout = Some(t);
        self
    }

    /// Sets the call id.
    pub fn call_id(mut self, id: impl Into<String>) -> Self {
        self.call_id = Some(id.into());
        self
    }

    /// Sets the cancellation token.
    pub fn cancel_token(mut self, token: CancelToken) -> Self {
        self.cancel = Some(token);
        self
    }

    /// The request's identity fields as an [`ExecutionContext`](crate::ExecutionContext)
    /// (one place maps them, for the executor and the bare attempt alike).
    pub fn context(&self) -> crate::ExecutionContext {
        let mut ctx = crate::ExecutionContext::new();
        if let Some(id) = &self.request_id {
            ctx.request_id = id.clone();
        }
        ctx.tenant_id = self.tenant.clone();
        ctx.user_id = self.user_id.clone();
        ctx.traceparent = self.traceparent.clone();
        ctx.metadata = self.metadata.iter().cloned().collect();
        ctx
    }

    /// Sets the event sink.
    pub fn events(mut self, sink: crate::events::EventSink) -> Self {
        self.events = Some(sink);
        self
    }

    /// Sets who answers the guest's questions.
    pub fn interact(mut self, interact: std::sync::Arc<dyn crate::interact::Interact>) -> Self {
        self.interact = Some(interact);
        self
    }

    /// The call's hooks (cancellation, events, questions).
    pub fn options(&self) -> CallOptions {
        CallOptions {
            cancel: self.cancel.clone(),
            events: self.events.clone(),
            interact: self.interact.clone(),
        }
    }
}

/// A successful tool result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolOutput {
    /// Machine-readable result (MCP `structuredContent`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<serde_json::Value>,
    /// Content blocks for the model.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub content: Vec<Content>,
}

impl ToolOutput {
    /// The content as text for a terminal or a model: text blocks joined, or
    /// the value as JSON when there are no content blocks.
    pub fn to_text(&self) -> String {
        if self.content.is_empty() {
            return match &self.value {
                Some(serde_json::Value::String(s)) => s.clone(),
                Some(v) => serde_json::to_string_pretty(v).unwrap_or_default(),
                None => String::new(),
            };
        }
        self.content
            .iter()
            .map(|c| match c {
                Content::Text { text } => text.clone(),
                Content::Image { mime_type, data } => {
                    format!("[image {mime_type}, {} bytes]", data.0.len())
                }
                Content::Audio { mime_type, data } => {
                    format!("[audio {mime_type}, {} bytes]", data.0.len())
                }
                Content::Resource { uri, text, .. } => match text {
                    Some(t) => format!("[resource {uri}]\n{t}"),
                    None => format!("[resource {uri}]"),
                },
            })
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// Binary data, serialized as base64.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bytes(pub Vec<u8>);

impl Serialize for Bytes {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use base64::Engine as _;
        s.serialize_str(&base64::engine::general_purpose::STANDARD.encode(&self.0))
    }
}

impl<'de> Deserialize<'de> for Bytes {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use base64::Engine as _;
        let s = String::deserialize(d)?;
        base64::engine::general_purpose::STANDARD.decode(s).map(Bytes).map_err(serde::de::Error::custom)
    }
}

/// One content block (MCP content types).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Content {
    /// Text.
    Text {
        /// The text.
        text: String,
    },
    /// An image.
    Image {
        /// MIME type, e.g. `image/png`.
        mime_type: String,
        /// The bytes (base64 in JSON).
        data: Bytes,
    },
    /// Audio.
    Audio {
        /// MIME type, e.g. `audio/wav`.
        mime_type: String,
        /// The bytes (base64 in JSON).
        data: Bytes,
    },
    /// An embedded resource.
    Resource {
        /// Resource URI.
        uri: String,
        /// MIME type.
        #[serde(skip_serializing_if = "Option::is_none")]
        mime_type: Option<String>,
        /// Text contents.
        #[serde(skip_serializing_if = "Option::is_none")]
        text: Option<String>,
        /// Binary contents (base64 in JSON).
        #[serde(skip_serializing_if = "Option::is_none")]
        blob: Option<Bytes>,
    },
}

/// What one call cost.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct CallStats {
    /// Wall-clock time inside the runtime (instantiate + call).
    #[serde(with = "duration_ms")]
    pub duration: Duration,
    /// Fuel consumed, when the engine counts fuel.
    pub fuel_used: Option<u64>,
    /// Peak total linear memory, bytes.
    pub memory_peak: u64,
    /// Bytes the guest wrote to stdout.
    pub stdout_bytes: u64,
    /// Bytes the guest wrote to stderr.
    pub stderr_bytes: u64,
    /// Guest events dropped because the listener was slow.
    pub dropped_events: u32,
    /// Hosts (`host:port`) the guest's outbound HTTP requests went to in this
    /// attempt, in first-contact order (the audit trail's grants used).
    #[serde(skip)]
    pub hosts: Vec<String>,
}

mod duration_ms {
    pub(super) fn serialize<S: serde::Serializer>(d: &std::time::Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(d.as_secs_f64() * 1000.0)
    }
}

/// A successful call: the output plus what it cost.
#[derive(Debug, Clone, Serialize)]
pub struct CallResponse {
    /// The call id (given or generated).
    pub call_id: String,
    /// The tool that ran.
    pub tool: String,
    /// The tool's output.
    pub output: Arc<ToolOutput>,
    /// Cost and timing of the last attempt.
    pub stats: CallStats,
    /// Attempts made.
    pub attempts: u32,
    /// Answered from the cache.
    pub cached: bool,
}

/// Cancels a running call: the guest is interrupted within one epoch tick,
/// its store is dropped and nothing is kept from it. Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct CancelToken(Arc<CancelInner>);

#[derive(Debug, Default)]
struct CancelInner {
    flag: AtomicBool,
    notify: tokio::sync::Notify,
}

impl CancelToken {
    /// A new, untriggered token.
    pub fn new() -> Self {
        Self::default()
    }

    /// Triggers cancellation.
    pub fn cancel(&self) {
        self.0.flag.store(true, Ordering::SeqCst);
        self.0.notify.notify_waiters();
    }

    /// Whether [`cancel`](Self::cancel) was called.
    pub fn is_cancelled(&self) -> bool {
        self.0.flag.load(Ordering::SeqCst)
    }

    /// Resolves once the token is cancelled.
    pub async fn cancelled(&self) {
        loop {
            // Pinned in place: awaited by value it would be stored twice.
            let notified = std::pin::pin!(self.0.notify.notified());
            if self.is_cancelled() {
                return;
            }
            notified.await;
        }
    }

    /// Resolves once `token` is cancelled; never when there is none (a wait
    /// raced against it then ends some other way).
    pub async fn cancelled_or_never(token: Option<&CancelToken>) {
        match token {
            Some(c) => c.cancelled().await,
            None => std::future::pending().await,
        }
    }
}

/// The outcome of one call, matched to its request by `call_id`.
#[derive(Debug, Clone)]
pub struct CallResult {
    /// Position in the submitted batch.
    pub index: usize,
    /// The call id (given or generated).
    pub call_id: String,
    /// The tool asked for.
    pub tool: String,
    /// Output or typed error.
    pub result: Result<Arc<ToolOutput>, Error>,
    /// Attempts made (0 when refused before running).
    pub attempts: u32,
    /// Answered from the cache (no guest code ran for this call).
    pub cached: bool,
    /// The result is the tool's configured fallback; this is the error it replaced.
    pub fallback_for: Option<Error>,
    /// Time from batch start to this call's start.
    pub started: Duration,
    /// Wall time of the call, all attempts included.
    pub duration: Duration,
    /// Cost of the last attempt that ran.
    pub stats: Option<CallStats>,
}

impl CallResult {
    /// The result of a call that ran no attempt: `error`, no attempts, no time.
    pub fn not_run(index: usize, call_id: String, tool: String, error: Error) -> CallResult {
        CallResult {
            index,
            call_id,
            tool,
            result: Err(error),
            attempts: 0,
            cached: false,
            fallback_for: None,
            started: Duration::ZERO,
            duration: Duration::ZERO,
            stats: None,
        }
    }

    /// A JSON view: `{call_id, tool, ok, value|error, content?, attempts, cached, duration_ms}`.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self.view(None)).unwrap_or_default()
    }

    /// The same view as [`to_json`](Self::to_json), borrowed, plus `text`
    /// when given: serialized straight to bytes, with no `Value` tree.
    pub fn view(&self, text: Option<String>) -> ResultView<'_> {
        let (value, content, error) = match &self.result {
            Ok(out) => {
                let content = Some(out.content.as_slice()).filter(|c| !c.is_empty());
                (Some(out.value.as_ref().unwrap_or(&serde_json::Value::Null)), content, None)
            }
            Err(e) => (None, None, Some(e.to_json())),
        };
        ResultView {
            index: self.index,
            call_id: &self.call_id,
            tool: &self.tool,
            ok: self.result.is_ok(),
            attempts: self.attempts,
            cached: self.cached,
            duration_ms: self.duration.as_secs_f64() * 1e3,
            value,
            content,
            error,
            fallback_for: self.fallback_for.as_ref().map(Error::to_json),
            text,
        }
    }
}

/// A [`CallResult`] as JSON ([`CallResult::view`]).
#[derive(Debug, Serialize)]
pub struct ResultView<'a> {
    index: usize,
    call_id: &'a str,
    tool: &'a str,
    ok: bool,
    attempts: u32,
    cached: bool,
    duration_ms: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    value: Option<&'a serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    content: Option<&'a [Content]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    fallback_for: Option<serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    text: Option<String>,
}

/// Hooks for one call: cancellation, guest events, and who answers the
/// guest's questions.
#[derive(Debug, Clone, Default)]
pub struct CallOptions {
    /// Cancels the call (and its retries).
    pub cancel: Option<CancelToken>,
    /// Receives the guest's log/progress/emit events.
    pub events: Option<crate::events::EventSink>,
    /// Answers the guest's `elicit`/`sample` (none: the call ends with
    /// `INPUT_REQUIRED` at the first question).
    pub interact: Option<std::sync::Arc<dyn crate::interact::Interact>>,
}

/// The tenant of a call that names none.
pub const DEFAULT_TENANT: &str = "default";

/// A random 128-bit call id, hex.
pub fn new_call_id() -> String {
    crate::text::hex_id("call_", rand::random::<u128>())
}
