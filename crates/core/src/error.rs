//! One typed error taxonomy for the whole host.
//!
//! Every failure a caller can see is an [`Error`] with a stable string
//! [`ErrorCode`], a `retryable` verdict and a message written for the reader
//! that has to act on it (a language model or a person). Two families are kept
//! apart, as wasmtime does with tool errors and traps:
//!
//! * [`Error::Tool`] is *data*: the guest ran and reported a failure itself
//!   (its `tool-error`); kind, message and retry hints are kept verbatim.
//! * everything else is a host-side verdict: the call was refused, the guest
//!   trapped, ran out of time or memory, or produced output we will not pass on.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::path::PathBuf;

/// `Result` with the host's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Stable string codes, shared with other tool processors (chuk-tool-processor).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[non_exhaustive]
pub enum ErrorCode {
    /// No such tool for this tenant.
    ToolNotFound,
    /// No such prompt or resource for this tenant.
    NotFound,
    /// Arguments are not valid JSON or violate the tool's input schema.
    ToolValidationError,
    /// The tool reported a failure (its own `tool-error`).
    ToolExecutionFailed,
    /// The call ran out of time.
    ToolTimeout,
    /// The caller cancelled the call.
    ToolCancelled,
    /// The guest crashed (trap, panic, stack overflow, exit).
    ToolTrapped,
    /// A memory, table, fuel or instance limit was hit, or the host is saturated.
    ResourceExhausted,
    /// The result is larger than the tool's output cap.
    OutputTooLarge,
    /// The result is not valid JSON or violates the tool's output schema.
    InvalidOutput,
    /// A plugin file could not be loaded.
    PluginLoadFailed,
    /// A plugin imports something the host does not provide or grant.
    ForbiddenImport,
    /// A plugin was built for another contract version or world.
    IncompatiblePlugin,
    /// The host's configuration is invalid.
    ConfigurationError,
    /// A rate limit refused the call; retry after `retry_after_ms`.
    ToolRateLimited,
    /// The tool's circuit breaker is open; retry after `retry_after_ms`.
    ToolCircuitOpen,
    /// A concurrency limit (bulkhead) refused the call.
    BulkheadFull,
    /// A non-idempotent call was in flight when its durable-run worker
    /// stopped; it is not run again (it may or may not have taken effect).
    Interrupted,
    /// The tool asked its caller for input (elicitation, sampling) that
    /// nobody could give during the call; answer it and call again.
    InputRequired,
    /// A bug in the host (a panicked task); the message names what it hit.
    Internal,
    /// A plugin pulled from a registry (or its locked local copy) does not
    /// match the digest it was resolved or locked to.
    DigestMismatch,
    /// A remote plugin's signature does not verify with the trusted key.
    SignatureInvalid,
    /// A remote plugin has no signature and its source does not allow that.
    UnsignedPlugin,
    /// The OCI registry could not be reached (the last pulled version keeps serving).
    RegistryUnavailable,
    /// A tenant quota (`[tenants.NAME.quota]`) refused the call or cut it
    /// short; `details` name the quota, its limit and the use.
    QuotaExceeded,
    /// The plugin serving the tool was disabled by an operator.
    ToolDisabled,
}

impl ErrorCode {
    /// The stable string form, e.g. `"TOOL_TIMEOUT"`.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::ToolNotFound => "TOOL_NOT_FOUND",
            ErrorCode::NotFound => "NOT_FOUND",
            ErrorCode::ToolValidationError => "TOOL_VALIDATION_ERROR",
            ErrorCode::ToolExecutionFailed => "TOOL_EXECUTION_FAILED",
            ErrorCode::ToolTimeout => "TOOL_TIMEOUT",
            ErrorCode::ToolCancelled => "TOOL_CANCELLED",
            ErrorCode::ToolTrapped => "TOOL_TRAPPED",
            ErrorCode::ResourceExhausted => "RESOURCE_EXHAUSTED",
            ErrorCode::OutputTooLarge => "OUTPUT_TOO_LARGE",
            ErrorCode::InvalidOutput => "INVALID_OUTPUT",
            ErrorCode::PluginLoadFailed => "PLUGIN_LOAD_FAILED",
            ErrorCode::ForbiddenImport => "FORBIDDEN_IMPORT",
            ErrorCode::IncompatiblePlugin => "INCOMPATIBLE_PLUGIN",
            ErrorCode::ConfigurationError => "CONFIGURATION_ERROR",
            ErrorCode::ToolRateLimited => "TOOL_RATE_LIMITED",
            ErrorCode::ToolCircuitOpen => "TOOL_CIRCUIT_OPEN",
            ErrorCode::BulkheadFull => "BULKHEAD_FULL",
            ErrorCode::Interrupted => "INTERRUPTED",
            ErrorCode::InputRequired => "INPUT_REQUIRED",
            ErrorCode::Internal => "INTERNAL",
            ErrorCode::DigestMismatch => "DIGEST_MISMATCH",
            ErrorCode::SignatureInvalid => "SIGNATURE_INVALID",
            ErrorCode::UnsignedPlugin => "UNSIGNED_PLUGIN",
            ErrorCode::RegistryUnavailable => "REGISTRY_UNAVAILABLE",
            ErrorCode::QuotaExceeded => "QUOTA_EXCEEDED",
            ErrorCode::ToolDisabled => "TOOL_DISABLED",
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The kind of a guest's own `tool-error` (mirrors WIT `error-kind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ToolErrorKind {
    /// The arguments make no sense to the tool.
    InvalidInput,
    /// What the tool was asked about does not exist.
    NotFound,
    /// The tool is not allowed to do this.
    Denied,
    /// A passing failure; trying again may work.
    Transient,
    /// An upstream rate limit was hit.
    RateLimited,
    /// A bug or unexpected state in the tool.
    Internal,
}

impl ToolErrorKind {
    /// Whether a failure of this kind is worth retrying when the tool says nothing.
    pub fn retryable_by_default(self) -> bool {
        matches!(self, ToolErrorKind::Transient | ToolErrorKind::RateLimited)
    }

    /// The WIT spelling, e.g. `"invalid-input"`.
    pub fn as_str(self) -> &'static str {
        match self {
            ToolErrorKind::InvalidInput => "invalid-input",
            ToolErrorKind::NotFound => "not-found",
            ToolErrorKind::Denied => "denied",
            ToolErrorKind::Transient => "transient",
            ToolErrorKind::RateLimited => "rate-limited",
            ToolErrorKind::Internal => "internal",
        }
    }
}

/// Which limit a call or load ran into.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Resource {
    /// Total linear memory of the call's store (bytes).
    Memory,
    /// Total table elements of the call's store.
    Table,
    /// Number of instances, tables or memories in one store.
    Instances,
    /// The plugin's CPU budget (wasm fuel units).
    Fuel,
    /// Every instance slot of the process is in use; retry later.
    InstancePool,
}

impl fmt::Display for Resource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Resource::Memory => "memory",
            Resource::Table => "table elements",
            Resource::Instances => "instances",
            Resource::Fuel => "fuel",
            Resource::InstancePool => "instance pool",
        })
    }
}

/// Every failure the host reports.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// No tool of that name is visible to the caller's tenant.
    #[error("tool '{tool}' was not found; list the available tools and use one of those names exactly")]
    ToolNotFound {
        /// The name that was asked for.
        tool: String,
    },

    /// No prompt or resource of that name or URI is visible to the caller's tenant.
    #[error("{kind} '{name}' was not found; list the available {kind}s and use one of those exactly")]
    NotFound {
        /// `prompt` or `resource`.
        kind: &'static str,
        /// The name or URI that was asked for.
        name: String,
    },

    /// The arguments were not accepted; nothing ran.
    #[error("invalid arguments for tool '{tool}': {}; fix the arguments and call again", problems.join("; "))]
    InvalidArguments {
        /// The tool that was called.
        tool: String,
        /// One entry per problem, each with its JSON pointer when known.
        problems: Vec<String>,
    },

    /// The guest reported its own failure.
    #[error("tool '{tool}' failed ({}): {message}", kind.as_str())]
    Tool {
        /// The tool that failed.
        tool: String,
        /// The guest's error kind.
        kind: ToolErrorKind,
        /// The guest's message.
        message: String,
        /// Whether trying again may help (guest's word, else the kind's default).
        retryable: bool,
        /// The guest's hint for the earliest useful retry.
        retry_after_ms: Option<u64>,
        /// The guest's extra JSON details.
        details: Option<serde_json::Value>,
    },

    /// The call did not finish in time; the guest was stopped.
    #[error(
        "tool '{tool}' timed out after {timeout_ms} ms and was stopped; retry with a longer timeout or smaller input"
    )]
    Timeout {
        /// The tool that timed out.
        tool: String,
        /// The time it was given.
        timeout_ms: u64,
    },

    /// The caller cancelled the call; the guest was stopped.
    #[error("call to tool '{tool}' was cancelled")]
    Cancelled {
        /// The tool that was running.
        tool: String,
    },

    /// The guest crashed.
    #[error("tool '{tool}' crashed: {reason}{}; this is a bug in the tool, retrying the same input will fail the same way", stderr_hint(.stderr_tail))]
    Trapped {
        /// The tool that crashed.
        tool: String,
        /// Trap code or description (e.g. `stack overflow`, `unreachable`, `exit(3)`).
        reason: String,
        /// The last bytes the guest wrote to stderr, if any.
        stderr_tail: Option<String>,
    },

    /// A limit was hit.
    #[error("{}: {resource} limit of {limit} exceeded{}", subject(.tool), detail_suffix(.detail))]
    ResourceExhausted {
        /// The tool (or plugin, at load) that hit the limit.
        tool: Option<String>,
        /// Which limit.
        resource: Resource,
        /// The limit's value (bytes, elements, units or slots).
        limit: u64,
        /// What happened, if more is known.
        detail: Option<String>,
    },

    /// The result was larger than allowed; it was discarded.
    #[error(
        "tool '{tool}' returned more than its output limit of {limit} bytes; ask for less data (paging, filters)"
    )]
    OutputTooLarge {
        /// The tool.
        tool: String,
        /// The output cap in bytes.
        limit: u64,
    },

    /// The result was discarded because it is malformed.
    #[error("tool '{tool}' returned invalid output: {reason}")]
    InvalidOutput {
        /// The tool.
        tool: String,
        /// What is wrong (with a short preview of the output).
        reason: String,
    },

    /// A plugin file could not be loaded.
    #[error("plugin '{}' failed to load: {reason}", .path.display())]
    PluginLoad {
        /// The plugin file.
        path: PathBuf,
        /// Why.
        reason: String,
    },

    /// Two plugins claim the same tool name; neither serves it.
    #[error("tool '{tool}' is claimed by several plugins ({}); none of them serves it until all but one rename it", plugins.join(", "))]
    DuplicateTool {
        /// The contested name.
        tool: String,
        /// Every plugin that claims it (sorted).
        plugins: Vec<String>,
    },

    /// A plugin imports interfaces the host does not provide or grant.
    #[error("plugin '{}' imports what the host does not provide or grant: {}", .path.display(), imports.join(", "))]
    ForbiddenImport {
        /// The plugin file.
        path: PathBuf,
        /// Every refused import.
        imports: Vec<String>,
    },

    /// A plugin was built for another contract.
    #[error("plugin '{}' is incompatible: expected {expected}, found {found}; rebuild it against wit/plugin.wit", .path.display())]
    Incompatible {
        /// The plugin file.
        path: PathBuf,
        /// What the host needs.
        expected: String,
        /// What the plugin has.
        found: String,
    },

    /// Invalid configuration (config file, manifest, builder).
    #[error("configuration error: {0}")]
    Configuration(String),

    /// A rate limit refused the call; nothing ran.
    #[error("tool '{tool}' is rate limited ({key}); retry after {retry_after_ms} ms")]
    RateLimited {
        /// The tool.
        tool: String,
        /// The limit that refused (`global`, `tenant:…`, `tool:…`, `pattern:…`).
        key: String,
        /// Exact time until the call would be admitted.
        retry_after_ms: u64,
    },

    /// The tool's circuit is open after repeated failures; nothing ran.
    #[error(
        "tool '{tool}' is failing repeatedly and is paused (circuit open); retry after {retry_after_ms} ms"
    )]
    CircuitOpen {
        /// The tool.
        tool: String,
        /// Time until a probe call is allowed.
        retry_after_ms: u64,
    },

    /// Too many concurrent calls; nothing ran.
    #[error(
        "tool '{tool}' is at its concurrency limit ({key}, {reason}, waited {waited_ms} ms); retry shortly"
    )]
    BulkheadFull {
        /// The tool.
        tool: String,
        /// The compartment that refused.
        key: String,
        /// `queue full`, `no free slot` or `timed out`.
        reason: String,
        /// How long the call waited for a slot.
        waited_ms: u64,
    },

    /// A non-idempotent call of a durable run was in flight when its worker
    /// died; it was not run again because it may already have taken effect.
    #[error(
        "call to tool '{tool}' was in flight when its worker stopped; the tool is not idempotent, so it was not run again (it may or may not have taken effect; set redis.rerun_interrupted = true to re-run such calls)"
    )]
    Interrupted {
        /// The tool.
        tool: String,
    },

    /// The tool asked a question (elicitation or sampling) that nobody could
    /// answer while it ran; the call stopped. Call again with the answer
    /// (under the request's `key`): the tool runs again from the start and
    /// gets it.
    #[error("tool '{tool}' needs input from its caller ({}): answer it and call again with the answer under key '{key}'", request_summary(.request))]
    InputRequired {
        /// The tool that asked.
        tool: String,
        /// The request's stable key ([`InputRequest::key`](crate::interact::InputRequest::key)).
        key: String,
        /// The question.
        request: Box<crate::interact::InputRequest>,
    },

    /// A bug in the host, not in the tool: a task panicked. Only what it was
    /// doing (one call, run node or plugin load) failed; logged with its ids.
    #[error("internal error: {0}; this is a bug in toolhost, not in the tool (the host log has details)")]
    Internal(String),

    /// Content pulled from a registry, or a locked plugin's local files, do
    /// not hash to the digest they were resolved or locked to. Nothing of it
    /// is installed or served.
    #[error(
        "plugin '{reference}': {what} has digest {found}, expected {expected}; the registry copy or the local files were altered or are corrupt, so the plugin is not installed or served"
    )]
    DigestMismatch {
        /// The `oci://` reference (or local plugin) concerned.
        reference: String,
        /// What was checked (`manifest`, `wasm layer`, `manifest layer`, a file).
        what: String,
        /// The digest it must have.
        expected: String,
        /// The digest it has.
        found: String,
    },

    /// A signature exists but does not verify with the trusted key (another
    /// signer, or signed content that changed).
    #[error("plugin '{reference}': signature invalid: {reason}; the plugin is not installed or served")]
    SignatureInvalid {
        /// The `oci://` reference concerned.
        reference: String,
        /// Why it does not verify.
        reason: String,
    },

    /// A remote plugin carries no signature and its source requires one.
    #[error(
        "plugin '{reference}' is not signed; sign it (`toolhost push --sign-key`) or set insecure_unsigned = true on its source"
    )]
    UnsignedPlugin {
        /// The `oci://` reference concerned.
        reference: String,
    },

    /// The registry could not be reached or answered with a server error.
    #[error("registry {registry} is unavailable: {reason}")]
    RegistryUnavailable {
        /// `host[:port]`.
        registry: String,
        /// What failed.
        reason: String,
    },

    /// A tenant quota refused the call (nothing ran) or ended it (its fuel or
    /// memory cap, which the tenant's quota set below the plugin's own).
    #[error("{}", quota_message(.tenant, .tool, .quota, *.limit, *.used, *.retry_after_ms))]
    QuotaExceeded {
        /// The tenant.
        tenant: String,
        /// The tool.
        tool: String,
        /// Which quota (`concurrent_calls`, `calls_per_minute`, `fuel_per_call`,
        /// `fuel_per_day`, `memory_per_call`).
        quota: String,
        /// The quota's value.
        limit: u64,
        /// What the tenant has used of it.
        used: u64,
        /// When the window ends (per-minute and per-day quotas).
        retry_after_ms: Option<u64>,
    },

    /// An operator disabled the plugin serving this tool (`POST
    /// /admin/plugins/NAME/disable`); nothing ran.
    #[error("tool '{tool}' is unavailable: its plugin '{plugin}' is disabled by an operator")]
    ToolDisabled {
        /// The tool.
        tool: String,
        /// The disabled plugin.
        plugin: String,
    },

    /// A failure read back from a durable run's checkpoint, reported exactly as
    /// it was first recorded (code, message, retry verdict, details).
    #[error("{message}")]
    Recorded {
        /// The original code.
        code: ErrorCode,
        /// The original message.
        message: String,
        /// The original retry verdict.
        retryable: bool,
        /// The original retry hint.
        retry_after_ms: Option<u64>,
        /// The original details.
        details: Option<serde_json::Value>,
    },
}

fn quota_message(tenant: &str, tool: &str, quota: &str, limit: u64, used: u64, retry: Option<u64>) -> String {
    let then = match retry {
        Some(ms) => format!("retry after {ms} ms"),
        None if matches!(quota, "concurrent_calls") => "retry when a call of this tenant ends".into(),
        None => "ask an operator to raise it".into(),
    };
    format!("tool '{tool}': tenant '{tenant}' is over its {quota} quota (limit {limit}, used {used}); {then}")
}

fn stderr_hint(tail: &Option<String>) -> String {
    match tail {
        Some(t) if !t.is_empty() => format!(" (stderr: {})", t.trim_end()),
        _ => String::new(),
    }
}

fn request_summary(request: &crate::interact::InputRequest) -> String {
    use crate::interact::{ElicitRequest, InputRequest};
    match request {
        InputRequest::Elicit(ElicitRequest::Form { message, .. }) => {
            format!("a form: {}", crate::text::preview(message))
        }
        InputRequest::Elicit(ElicitRequest::Url { message, url, .. }) => {
            format!("visit {}: {}", crate::text::preview(url), crate::text::preview(message))
        }
        InputRequest::Sample(_) => "a completion from the client's model".to_string(),
    }
}

fn subject(tool: &Option<String>) -> String {
    match tool {
        Some(t) => format!("tool '{t}'"),
        None => "call".to_string(),
    }
}

fn detail_suffix(detail: &Option<String>) -> String {
    match detail {
        Some(d) => format!(" ({d})"),
        None => String::new(),
    }
}

impl Error {
    /// The `INTERNAL` error of a call to `tool` whose task panicked; logs
    /// the panic `payload` (from `catch_unwind`) with the call's ids.
    pub fn from_panic(
        tool: &str,
        call_id: &str,
        tenant: &str,
        payload: &(dyn std::any::Any + Send),
    ) -> Error {
        let message = payload
            .downcast_ref::<&str>()
            .copied()
            .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
            .unwrap_or("non-text panic payload");
        tracing::error!(call_id, tool, tenant, panic = message, "call panicked; reported as INTERNAL");
        Error::Internal(format!("the task running tool '{tool}' panicked"))
    }

    /// The stable code of this error.
    pub fn code(&self) -> ErrorCode {
        match self {
            Error::ToolNotFound { .. } => ErrorCode::ToolNotFound,
            Error::NotFound { .. } => ErrorCode::NotFound,
            Error::InvalidArguments { .. } => ErrorCode::ToolValidationError,
            Error::Tool { .. } => ErrorCode::ToolExecutionFailed,
            Error::Timeout { .. } => ErrorCode::ToolTimeout,
            Error::Cancelled { .. } => ErrorCode::ToolCancelled,
            Error::Trapped { .. } => ErrorCode::ToolTrapped,
            Error::ResourceExhausted { .. } => ErrorCode::ResourceExhausted,
            Error::OutputTooLarge { .. } => ErrorCode::OutputTooLarge,
            Error::InvalidOutput { .. } => ErrorCode::InvalidOutput,
            Error::PluginLoad { .. } | Error::DuplicateTool { .. } => ErrorCode::PluginLoadFailed,
            Error::ForbiddenImport { .. } => ErrorCode::ForbiddenImport,
            Error::Incompatible { .. } => ErrorCode::IncompatiblePlugin,
            Error::Configuration(_) => ErrorCode::ConfigurationError,
            Error::RateLimited { .. } => ErrorCode::ToolRateLimited,
            Error::CircuitOpen { .. } => ErrorCode::ToolCircuitOpen,
            Error::BulkheadFull { .. } => ErrorCode::BulkheadFull,
            Error::Interrupted { .. } => ErrorCode::Interrupted,
            Error::InputRequired { .. } => ErrorCode::InputRequired,
            Error::Internal(_) => ErrorCode::Internal,
            Error::DigestMismatch { .. } => ErrorCode::DigestMismatch,
            Error::SignatureInvalid { .. } => ErrorCode::SignatureInvalid,
            Error::UnsignedPlugin { .. } => ErrorCode::UnsignedPlugin,
            Error::RegistryUnavailable { .. } => ErrorCode::RegistryUnavailable,
            Error::QuotaExceeded { .. } => ErrorCode::QuotaExceeded,
            Error::ToolDisabled { .. } => ErrorCode::ToolDisabled,
            Error::Recorded { code, .. } => *code,
        }
    }

    /// Whether the same call may succeed if tried again later.
    ///
    /// This is the caller-facing verdict; the executor's own retry rules are
    /// stricter (they also require the tool to be idempotent).
    pub fn retryable(&self) -> bool {
        match self {
            Error::Tool { retryable, .. } => *retryable,
            Error::Timeout { .. } => true,
            Error::ResourceExhausted { resource, .. } => *resource == Resource::InstancePool,
            Error::RateLimited { .. } | Error::CircuitOpen { .. } | Error::BulkheadFull { .. } => true,
            Error::RegistryUnavailable { .. } => true,
            Error::QuotaExceeded { quota, retry_after_ms, .. } => {
                retry_after_ms.is_some() || quota == "concurrent_calls"
            }
            Error::Recorded { retryable, .. } => *retryable,
            _ => false,
        }
    }

    /// Earliest useful retry, when known.
    pub fn retry_after_ms(&self) -> Option<u64> {
        match self {
            Error::Tool { retry_after_ms, .. } => *retry_after_ms,
            Error::RateLimited { retry_after_ms, .. } | Error::CircuitOpen { retry_after_ms, .. } => {
                Some(*retry_after_ms)
            }
            Error::BulkheadFull { .. } => Some(100),
            Error::QuotaExceeded { retry_after_ms, .. } => *retry_after_ms,
            Error::Recorded { retry_after_ms, .. } => *retry_after_ms,
            _ => None,
        }
    }

    /// A JSON view: `{code, message, retryable, retry_after_ms?, details?}`.
    pub fn to_json(&self) -> serde_json::Value {
        let mut v = serde_json::json!({
            "code": self.code().as_str(),
            "message": self.to_string(),
            "retryable": self.retryable(),
        });
        if let Some(ms) = self.retry_after_ms() {
            v["retry_after_ms"] = ms.into();
        }
        let details = match self {
            Error::Tool { kind, details, .. } => {
                let mut d = serde_json::json!({ "kind": kind.as_str() });
                if let Some(extra) = details {
                    d["tool_details"] = extra.clone();
                }
                Some(d)
            }
            Error::InvalidArguments { problems, .. } => Some(serde_json::json!({ "problems": problems })),
            Error::ForbiddenImport { imports, .. } => Some(serde_json::json!({ "imports": imports })),
            Error::ResourceExhausted { resource, limit, .. } => {
                Some(serde_json::json!({ "resource": resource, "limit": limit }))
            }
            Error::Trapped { reason, stderr_tail, .. } => {
                Some(serde_json::json!({ "trap": reason, "stderr_tail": stderr_tail }))
            }
            Error::Recorded { details, .. } => details.clone(),
            Error::QuotaExceeded { tenant, quota, limit, used, .. } => {
                Some(serde_json::json!({ "tenant": tenant, "quota": quota, "limit": limit, "used": used }))
            }
            Error::ToolDisabled { plugin, .. } => Some(serde_json::json!({ "plugin": plugin })),
            Error::InputRequired { key, request, .. } => {
                Some(serde_json::json!({ "input_requests": { key.as_str(): request } }))
            }
            _ => None,
        };
        if let Some(d) = details {
            v["details"] = d;
        }
        v
    }
}
