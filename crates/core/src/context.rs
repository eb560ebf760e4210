//! The per-request [`ExecutionContext`]: ids, trace context, an absolute deadline and a budget.
//!
//! The context travels with every call of a request and is propagated to what the call talks
//! to (guests, MCP servers, HTTP) as headers, with the names chuk-tool-processor uses:
//!
//! | Header | Field | Notes |
//! |---|---|---|
//! | `X-Request-ID` | `request_id` | generated (random 128-bit hex) when absent |
//! | `X-Correlation-ID` | `correlation_id` | |
//! | `X-User-ID` | `user_id` | |
//! | `X-Tenant-ID` | `tenant_id` | a *hint* only: the server decides the tenant from authentication |
//! | `traceparent` | `traceparent` | W3C Trace Context, validated |
//! | `tracestate` | `tracestate` | repeated headers are joined with `,` |
//! | `X-Deadline-Seconds` | `deadline` | *remaining* seconds; read as a decimal, written as an integer rounded up |
//! | `X-Budget` | `budget` | a non-negative number: the fuel ceiling of every attempt (below) |
//! | `X-Meta-<key>` | `metadata[<key>]` | free-form metadata; the key is lowercased, at most [`MAX_METADATA_ENTRIES`] |
//!
//! Header names are matched case-insensitively; unknown headers are ignored. `max_parallel` and
//! `metadata` are not written back as headers. On a guest's outbound HTTP request the host sets
//! [`ExecutionContext::outbound_headers`] (request and correlation ids, W3C trace context) plus
//! `X-Deadline-Seconds` for the call's remaining time, replacing what the guest set for those
//! names; the user, tenant and budget are never sent to third parties.
//!
//! `X-Budget` is enforced as a CPU ceiling: every attempt of every call of the request runs with
//! at most `budget` fuel units (the lower of it and the plugin's own `fuel` limit) and fails with
//! `RESOURCE_EXHAUSTED` (fuel) when it uses them up.
//!
//! The deadline is absolute (an [`Instant`]) and is never turned back into a relative timeout
//! except at the edge, when headers are written; every stage asks [`ExecutionContext::remaining`].

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// `X-Request-ID`.
pub const REQUEST_ID_HEADER: &str = "X-Request-ID";
/// `X-Correlation-ID`.
pub const CORRELATION_ID_HEADER: &str = "X-Correlation-ID";
/// `X-User-ID`.
pub const USER_ID_HEADER: &str = "X-User-ID";
/// `X-Tenant-ID` (a hint; see [`ExecutionContext::tenant_id`]).
pub const TENANT_ID_HEADER: &str = "X-Tenant-ID";
/// `traceparent` (W3C Trace Context).
pub const TRACEPARENT_HEADER: &str = "traceparent";
/// `tracestate` (W3C Trace Context).
pub const TRACESTATE_HEADER: &str = "tracestate";
/// `X-Deadline-Seconds`: remaining time in seconds.
pub const DEADLINE_HEADER: &str = "X-Deadline-Seconds";
/// `X-Budget`: the opaque cost budget.
pub const BUDGET_HEADER: &str = "X-Budget";

/// Longest accepted header value, in bytes (ids end up in logs and metric labels).
pub const MAX_HEADER_VALUE_BYTES: usize = 8192;

/// Prefix of the headers that carry metadata (`X-Meta-Ticket: 42` → `metadata["ticket"] = "42"`).
pub const METADATA_HEADER_PREFIX: &str = "X-Meta-";

/// Most metadata entries one request may carry.
pub const MAX_METADATA_ENTRIES: usize = 64;

/// Longest metadata key, in bytes.
pub const MAX_METADATA_KEY_BYTES: usize = 128;

/// Every header we read or write, in the order [`ExecutionContext::to_headers`] writes them.
const HEADERS: [&str; 8] = [
    REQUEST_ID_HEADER,
    CORRELATION_ID_HEADER,
    USER_ID_HEADER,
    TENANT_ID_HEADER,
    TRACEPARENT_HEADER,
    TRACESTATE_HEADER,
    DEADLINE_HEADER,
    BUDGET_HEADER,
];

/// A header value the context does not accept.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ContextError {
    /// The value contains a control character (CR, LF, NUL, DEL, …).
    #[error("header {header}: value contains a control character")]
    ControlCharacter {
        /// The header's canonical name.
        header: &'static str,
    },
    /// The value is longer than [`MAX_HEADER_VALUE_BYTES`].
    #[error("header {header}: value is longer than {MAX_HEADER_VALUE_BYTES} bytes")]
    TooLong {
        /// The header's canonical name.
        header: &'static str,
    },
    /// A single-valued header appears more than once.
    #[error("header {header} appears more than once")]
    Duplicate {
        /// The header's canonical name.
        header: &'static str,
    },
    /// `traceparent` is not a valid W3C trace context.
    #[error("invalid traceparent: {reason}")]
    InvalidTraceparent {
        /// What is wrong with it.
        reason: &'static str,
    },
    /// `X-Deadline-Seconds` is not a non-negative decimal number of seconds, or is out of range.
    #[error("invalid {DEADLINE_HEADER} {value:?}: expected a non-negative number of seconds")]
    InvalidDeadline {
        /// The value received.
        value: String,
    },
    /// `X-Budget` is not a finite, non-negative number.
    #[error("invalid {BUDGET_HEADER} {value:?}: expected a non-negative number")]
    InvalidBudget {
        /// The value received.
        value: String,
    },
    /// `max_parallel` is zero (no call could ever start).
    #[error("max_parallel must be ≥ 1")]
    InvalidMaxParallel,
    /// A metadata entry (an `X-Meta-*` header) is not acceptable.
    #[error("metadata {key:?}: {reason}")]
    InvalidMetadata {
        /// The entry's key (cut to [`MAX_METADATA_KEY_BYTES`]).
        key: String,
        /// What is wrong.
        reason: &'static str,
    },
}

/// What one request carries through the executor.
#[derive(Debug, Clone, PartialEq)]
pub struct ExecutionContext {
    /// Unique id of the request; generated (random 128-bit lowercase hex) when absent.
    pub request_id: String,
    /// Id that ties several requests together (a conversation, a job).
    pub correlation_id: Option<String>,
    /// The end user on whose behalf tools run, for logs and audits.
    pub user_id: Option<String>,
    /// The tenant the caller *claims*. Only a hint for logs and routing: the server decides the
    /// tenant from the authenticated identity and never trusts this field for isolation.
    pub tenant_id: Option<String>,
    /// W3C `traceparent`, propagated unchanged (a caller that opens its own span should replace
    /// the parent id before propagating).
    pub traceparent: Option<String>,
    /// W3C `tracestate`, propagated unchanged.
    pub tracestate: Option<String>,
    /// Absolute deadline for the whole request, retries and queueing included.
    pub deadline: Option<Instant>,
    /// Opaque cost budget (the unit is the operator's).
    pub budget: Option<f64>,
    /// Most calls of this request that may run at once.
    pub max_parallel: Option<usize>,
    /// Free-form key/value pairs (not propagated as headers).
    pub metadata: BTreeMap<String, String>,
    /// Who authenticated the request, for the audit trail: an access token's
    /// `sub`, a static token's name, `local` for the CLI. Set by the front
    /// door from the credential it checked; never read from a header.
    pub principal: Option<String>,
}

impl Default for ExecutionContext {
    fn default() -> Self {
        Self::new()
    }
}

impl ExecutionContext {
    /// A context with a fresh request id and nothing else.
    pub fn new() -> Self {
        ExecutionContext {
            request_id: new_request_id(),
            correlation_id: None,
            user_id: None,
            tenant_id: None,
            traceparent: None,
            tracestate: None,
            deadline: None,
            budget: None,
            max_parallel: None,
            metadata: BTreeMap::new(),
            principal: None,
        }
    }

    /// Sets who authenticated the request (see [`principal`](Self::principal)).
    pub fn with_principal(mut self, principal: impl Into<String>) -> Self {
        self.principal = Some(principal.into());
        self
    }

    /// Sets the request id.
    pub fn with_request_id(mut self, id: impl Into<String>) -> Self {
        self.request_id = id.into();
        self
    }

    /// Sets the correlation id.
    pub fn with_correlation_id(mut self, id: impl Into<String>) -> Self {
        self.correlation_id = Some(id.into());
        self
    }

    /// Sets the user id.
    pub fn with_user_id(mut self, id: impl Into<String>) -> Self {
        self.user_id = Some(id.into());
        self
    }

    /// Sets the tenant hint (see [`ExecutionContext::tenant_id`]).
    pub fn with_tenant_id(mut self, id: impl Into<String>) -> Self {
        self.tenant_id = Some(id.into());
        self
    }

    /// Sets the W3C `traceparent` (checked by [`ExecutionContext::validate`]).
    pub fn with_traceparent(mut self, traceparent: impl Into<String>) -> Self {
        self.traceparent = Some(traceparent.into());
        self
    }

    /// Sets the W3C `tracestate`.
    pub fn with_tracestate(mut self, tracestate: impl Into<String>) -> Self {
        self.tracestate = Some(tracestate.into());
        self
    }

    /// Sets the absolute deadline.
    pub fn with_deadline(mut self, deadline: Instant) -> Self {
        self.deadline = Some(deadline);
        self
    }

    /// Sets the cost budget.
    pub fn with_budget(mut self, budget: f64) -> Self {
        self.budget = Some(budget);
        self
    }

    /// Sets the most calls of this request that may run at once.
    pub fn with_max_parallel(mut self, max_parallel: usize) -> Self {
        self.max_parallel = Some(max_parallel);
        self
    }

    /// Adds one metadata entry (replacing an earlier value for the key).
    pub fn with_metadata(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.metadata.insert(key.into(), value.into());
        self
    }

    /// Time left before the deadline at `now` (zero once it has passed); `None` without deadline.
    pub fn remaining(&self, now: Instant) -> Option<Duration> {
        self.deadline.map(|d| d.saturating_duration_since(now))
    }

    /// Checks every field that is propagated as a header, as [`ExecutionContext::from_headers`]
    /// would: no control characters, bounded length, a valid `traceparent`, and a finite,
    /// non-negative budget; `max_parallel`, when set, is at least 1; and the metadata is bounded
    /// (at most [`MAX_METADATA_ENTRIES`] entries, keys of 1 to [`MAX_METADATA_KEY_BYTES`] bytes,
    /// no control characters, values as any header value). The executor checks
    /// every call's context (an invalid one is the caller's `TOOL_VALIDATION_ERROR`).
    pub fn validate(&self) -> Result<(), ContextError> {
        for (header, value) in HEADERS.into_iter().zip(self.text_fields()) {
            if let Some(value) = value {
                check_value(header, value)?;
            }
        }
        if self.max_parallel == Some(0) {
            return Err(ContextError::InvalidMaxParallel);
        }
        check_metadata(&self.metadata)?;
        match self.budget {
            Some(b) if !(b.is_finite() && b >= 0.0) => {
                Err(ContextError::InvalidBudget { value: b.to_string() })
            }
            _ => Ok(()),
        }
    }

    /// The headers a guest's outbound HTTP request carries (the host sets them, replacing the
    /// guest's own values): `X-Request-ID`, `X-Correlation-ID`, `traceparent`, `tracestate`.
    /// `X-Deadline-Seconds` is added when the request is sent (the call's remaining time). The
    /// user, the tenant and the budget stay inside the host. Invalid or empty values are left out.
    pub fn outbound_headers(&self) -> Vec<(&'static str, String)> {
        let fields = [
            (REQUEST_ID_HEADER, Some(self.request_id.as_str())),
            (CORRELATION_ID_HEADER, self.correlation_id.as_deref()),
            (TRACEPARENT_HEADER, self.traceparent.as_deref()),
            (TRACESTATE_HEADER, self.tracestate.as_deref()),
        ];
        fields
            .into_iter()
            .filter_map(|(header, value)| Some((header, check_value(header, value?).ok()?)))
            .filter(|(_, value)| !value.is_empty())
            .map(|(header, value)| (header, value.to_owned()))
            .collect()
    }

    /// The headers that propagate this context, given the current time.
    ///
    /// `X-Deadline-Seconds` is the remaining time rounded *up* to whole seconds (`0` once the
    /// deadline has passed), so a downstream service is never told "expired" while time is left;
    /// our own deadline still cuts the call off on time. A field that
    /// [`ExecutionContext::validate`] rejects, or an empty one, is left out, so a bad value can
    /// never inject a header.
    pub fn to_headers(&self, now: Instant) -> Vec<(String, String)> {
        let mut headers: Vec<(String, String)> = HEADERS
            .into_iter()
            .zip(self.text_fields())
            .filter_map(|(header, value)| Some((header, check_value(header, value?).ok()?)))
            .filter(|(_, value)| !value.is_empty())
            .map(|(header, value)| (header.to_string(), value.to_owned()))
            .collect();
        if let Some(left) = self.remaining(now) {
            let seconds = left.as_secs() + u64::from(left.subsec_nanos() > 0);
            headers.push((DEADLINE_HEADER.to_owned(), seconds.to_string()));
        }
        if let Some(budget) = self.budget.filter(|b| b.is_finite() && *b >= 0.0) {
            headers.push((BUDGET_HEADER.to_owned(), budget.to_string()));
        }
        headers
    }

    /// Reads a context from request headers (names case-insensitive, values trimmed of spaces and
    /// tabs, empty values treated as absent, unknown headers ignored), given the current time.
    ///
    /// `X-Deadline-Seconds` is remaining seconds as `digits` or `digits.digits`; the deadline
    /// becomes `now + value`. Repeated `tracestate` headers are joined with `,`; any other
    /// repeated header is an error, as is a control character, an over-long value, an invalid
    /// `traceparent`, a negative or unparsable deadline or budget.
    pub fn from_headers<'a>(
        headers: impl IntoIterator<Item = (&'a str, &'a str)>,
        now: Instant,
    ) -> Result<ExecutionContext, ContextError> {
        let mut values: [Option<String>; HEADERS.len()] = Default::default();
        let mut metadata = BTreeMap::new();
        for (name, value) in headers {
            let name = name.trim();
            if let Some(key) = metadata_key(name) {
                add_metadata(&mut metadata, key, value)?;
                continue;
            }
            let Some(slot) = HEADERS.iter().position(|h| h.eq_ignore_ascii_case(name)) else {
                continue;
            };
            let header = HEADERS[slot];
            let value = value.trim_matches([' ', '\t']);
            if value.is_empty() {
                continue;
            }
            match &mut values[slot] {
                Some(joined) if header == TRACESTATE_HEADER => {
                    joined.push(',');
                    joined.push_str(value);
                }
                Some(_) => return Err(ContextError::Duplicate { header }),
                empty => *empty = Some(value.to_owned()),
            }
        }
        for (header, value) in HEADERS.into_iter().zip(&values) {
            if let Some(value) = value {
                check_value(header, value)?;
            }
        }
        let [request_id, correlation_id, user_id, tenant_id, traceparent, tracestate, deadline, budget] =
            values;
        Ok(ExecutionContext {
            request_id: request_id.unwrap_or_else(new_request_id),
            correlation_id,
            user_id,
            tenant_id,
            traceparent,
            tracestate,
            deadline: deadline.map(|v| parse_deadline(v, now)).transpose()?,
            budget: budget.map(parse_budget).transpose()?,
            max_parallel: None,
            metadata,
            principal: None,
        })
    }

    /// The string fields, in [`HEADERS`] order (the last two headers are numbers).
    fn text_fields(&self) -> [Option<&str>; 6] {
        [
            Some(self.request_id.as_str()),
            self.correlation_id.as_deref(),
            self.user_id.as_deref(),
            self.tenant_id.as_deref(),
            self.traceparent.as_deref(),
            self.tracestate.as_deref(),
        ]
    }
}

/// The metadata key of an `X-Meta-<key>` header name (lowercased), if it is one.
fn metadata_key(name: &str) -> Option<String> {
    let prefix = METADATA_HEADER_PREFIX.len();
    let head = name.get(..prefix)?;
    head.eq_ignore_ascii_case(METADATA_HEADER_PREFIX).then(|| name[prefix..].to_ascii_lowercase())
}

/// Adds one `X-Meta-*` entry: bounded, no control characters, no repeats.
fn add_metadata(map: &mut BTreeMap<String, String>, key: String, value: &str) -> Result<(), ContextError> {
    let value = value.trim_matches([' ', '\t']);
    check_metadata_entry(&key, value)?;
    if map.contains_key(&key) {
        return Err(ContextError::InvalidMetadata { key, reason: "given more than once" });
    }
    map.insert(key, value.to_owned());
    if map.len() > MAX_METADATA_ENTRIES {
        return Err(ContextError::InvalidMetadata {
            key: String::new(),
            reason: "more than MAX_METADATA_ENTRIES (64) entries",
        });
    }
    Ok(())
}

/// Bounds of one metadata entry.
fn check_metadata_entry(key: &str, value: &str) -> Result<(), ContextError> {
    let bad = |reason: &'static str| -> Result<(), ContextError> {
        let mut k = key.to_owned();
        k.truncate(k.floor_char_boundary(MAX_METADATA_KEY_BYTES));
        Err(ContextError::InvalidMetadata { key: k, reason })
    };
    if key.is_empty() || key.len() > MAX_METADATA_KEY_BYTES {
        return bad("the key must be 1 to 128 bytes");
    }
    if key.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return bad("the key contains a control or space character");
    }
    if value.len() > MAX_HEADER_VALUE_BYTES {
        return bad("the value is longer than 8192 bytes");
    }
    if has_control(value) {
        return bad("the value contains a control character");
    }
    Ok(())
}

/// Bounds of a whole metadata map.
fn check_metadata(map: &BTreeMap<String, String>) -> Result<(), ContextError> {
    if map.len() > MAX_METADATA_ENTRIES {
        return Err(ContextError::InvalidMetadata {
            key: String::new(),
            reason: "more than MAX_METADATA_ENTRIES (64) entries",
        });
    }
    map.iter().try_for_each(|(k, v)| check_metadata_entry(k, v))
}

/// A fresh request id: 128 random bits as 32 lowercase hex digits.
fn new_request_id() -> String {
    crate::text::hex_id("", rand::random::<u128>())
}

/// Whether `value` holds a control character (C0, DEL, C1). Ids and trace
/// headers are printable ASCII: a byte scan decides those, chars the rest.
fn has_control(value: &str) -> bool {
    // A fold without early exit, so the byte scan vectorises.
    let printable = value.bytes().fold(true, |ok, b| ok & (b.wrapping_sub(0x20) < 0x5f));
    !printable && value.chars().any(char::is_control)
}

/// Checks one header value and returns it trimmed of spaces and tabs.
fn check_value<'v>(header: &'static str, value: &'v str) -> Result<&'v str, ContextError> {
    if value.len() > MAX_HEADER_VALUE_BYTES {
        return Err(ContextError::TooLong { header });
    }
    if has_control(value) {
        return Err(ContextError::ControlCharacter { header });
    }
    let value = value.trim_matches([' ', '\t']);
    if header == TRACEPARENT_HEADER {
        check_traceparent(value)?;
    }
    Ok(value)
}

/// Validates a W3C `traceparent`: `version-traceid-parentid-flags`, 2-32-16-2 lowercase hex
/// digits; version `ff`, an all-zero trace id and an all-zero parent id are invalid; version
/// `00` has exactly these four fields, later versions may append `-…`.
fn check_traceparent(value: &str) -> Result<(), ContextError> {
    let invalid = |reason| Err(ContextError::InvalidTraceparent { reason });
    let b = value.as_bytes();
    let hex = |from: usize, to: usize| b[from..to].iter().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f'));
    let zero = |from: usize, to: usize| b[from..to].iter().all(|&c| c == b'0');
    if b.len() < 55 || b[2] != b'-' || b[35] != b'-' || b[52] != b'-' {
        return invalid("expected version-traceid-parentid-flags with 2, 32, 16 and 2 hex digits");
    }
    if !(hex(0, 2) && hex(3, 35) && hex(36, 52) && hex(53, 55)) {
        return invalid("fields must be lowercase hex digits");
    }
    if &b[..2] == b"ff" {
        return invalid("version ff is forbidden");
    }
    if b.len() > 55 && (&b[..2] == b"00" || b[55] != b'-') {
        return invalid("unexpected data after the flags");
    }
    if zero(3, 35) {
        return invalid("trace id is all zeros");
    }
    if zero(36, 52) {
        return invalid("parent id is all zeros");
    }
    Ok(())
}

/// `digits` or `digits.digits` seconds from `now`.
fn parse_deadline(value: String, now: Instant) -> Result<Instant, ContextError> {
    let (whole, fraction) = value.split_once('.').unwrap_or((&value, "0"));
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|c| c.is_ascii_digit());
    (digits(whole) && digits(fraction))
        .then(|| value.parse::<f64>().ok())
        .flatten()
        .and_then(|secs| Duration::try_from_secs_f64(secs).ok())
        .and_then(|left| now.checked_add(left))
        .ok_or(ContextError::InvalidDeadline { value })
}

/// A finite, non-negative number.
fn parse_budget(value: String) -> Result<f64, ContextError> {
    match value.parse::<f64>() {
        Ok(b) if b.is_finite() && b >= 0.0 => Ok(b),
        _ => Err(ContextError::InvalidBudget { value }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TP: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    fn from(headers: &[(&str, &str)], now: Instant) -> Result<ExecutionContext, ContextError> {
        ExecutionContext::from_headers(headers.iter().copied(), now)
    }

    #[test]
    fn round_trip_through_headers() {
        let now = Instant::now();
        let ctx = ExecutionContext::new()
            .with_request_id("req-1")
            .with_correlation_id("conv-7")
            .with_user_id("u@example.com")
            .with_tenant_id("acme")
            .with_traceparent(TP)
            .with_tracestate("rojo=00f067aa0ba902b7,congo=t61rcWkgMzE")
            .with_deadline(now + Duration::from_secs(3))
            .with_budget(0.125);
        let headers = ctx.to_headers(now);
        let names: Vec<_> = headers.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, HEADERS);
        assert!(headers.contains(&(DEADLINE_HEADER.into(), "3".into())));
        assert!(headers.contains(&(BUDGET_HEADER.into(), "0.125".into())));
        let back = ExecutionContext::from_headers(headers.iter().map(|(n, v)| (n.as_str(), v.as_str())), now)
            .unwrap();
        assert_eq!(back, ctx);
    }

    #[test]
    fn metadata_and_max_parallel_stay_local() {
        let ctx = ExecutionContext::new().with_max_parallel(4).with_metadata("k", "v");
        assert_eq!(ctx.to_headers(Instant::now()), vec![(REQUEST_ID_HEADER.into(), ctx.request_id.clone())]);
        assert_eq!(ctx.metadata.get("k").map(String::as_str), Some("v"));
    }

    #[test]
    fn header_names_are_case_insensitive_and_values_trimmed() {
        let now = Instant::now();
        let ctx = from(
            &[
                ("x-request-id", " r1 "),
                ("X-CORRELATION-ID", "c"),
                ("TraceParent", TP),
                ("x-tenant-id", "t"),
                ("x-other", "\n"),
            ],
            now,
        )
        .unwrap();
        assert_eq!(ctx.request_id, "r1");
        assert_eq!(ctx.correlation_id.as_deref(), Some("c"));
        assert_eq!(ctx.traceparent.as_deref(), Some(TP));
        assert_eq!(ctx.tenant_id.as_deref(), Some("t"));
    }

    #[test]
    fn missing_request_id_is_generated() {
        let a = from(&[], Instant::now()).unwrap().request_id;
        let b = from(&[(REQUEST_ID_HEADER, "  ")], Instant::now()).unwrap().request_id;
        for id in [&a, &b] {
            assert_eq!(id.len(), 32);
            assert!(id.bytes().all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
        }
        assert_ne!(a, b);
        assert_ne!(ExecutionContext::default().request_id, ExecutionContext::new().request_id);
    }

    #[test]
    fn invalid_traceparents_are_rejected() {
        let cases = [
            "",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01x",
            "00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "0g-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e473-600f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0z",
            "00-4bf92f3577b34da6a3ce929d0e0é736-00f067aa0ba902b7-01",
        ];
        for tp in cases {
            let got = from(&[(TRACEPARENT_HEADER, tp)], Instant::now());
            let ok_when_empty = tp.is_empty() && got.is_ok();
            assert!(
                ok_when_empty || matches!(got, Err(ContextError::InvalidTraceparent { .. })),
                "{tp:?}: {got:?}"
            );
        }
        assert!(ExecutionContext::new().with_traceparent("nope").validate().is_err());
    }

    #[test]
    fn valid_traceparents_are_accepted() {
        for tp in [
            TP,
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00",
            "cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-09-future",
        ] {
            assert_eq!(
                from(&[(TRACEPARENT_HEADER, tp)], Instant::now()).unwrap().traceparent.as_deref(),
                Some(tp)
            );
        }
    }

    #[test]
    fn deadline_math() {
        let now = Instant::now();
        let ctx = ExecutionContext::new().with_deadline(now + Duration::from_millis(1500));
        assert_eq!(ctx.remaining(now), Some(Duration::from_millis(1500)));
        assert_eq!(ctx.remaining(now + Duration::from_secs(9)), Some(Duration::ZERO));
        assert_eq!(ExecutionContext::new().remaining(now), None);
        let header = |c: &ExecutionContext, at| {
            c.to_headers(at).into_iter().find(|(n, _)| n == DEADLINE_HEADER).map(|(_, v)| v)
        };
        assert_eq!(header(&ctx, now).as_deref(), Some("2"), "rounded up");
        assert_eq!(header(&ctx, now + Duration::from_millis(500)).as_deref(), Some("1"));
        assert_eq!(header(&ctx, now + Duration::from_secs(5)).as_deref(), Some("0"), "expired");
        let read = |v: &str| from(&[(DEADLINE_HEADER, v)], now).map(|c| c.deadline.unwrap() - now);
        assert_eq!(read("2"), Ok(Duration::from_secs(2)));
        assert_eq!(read("2.5"), Ok(Duration::from_millis(2500)));
        assert_eq!(read("0"), Ok(Duration::ZERO));
        for bad in [
            "-1",
            "1e3",
            "inf",
            "NaN",
            "+1",
            ".5",
            "5.",
            "1.2.3",
            "abc",
            "1 s",
            "99999999999999999999999999999",
        ] {
            assert_eq!(read(bad), Err(ContextError::InvalidDeadline { value: bad.into() }), "{bad}");
        }
    }

    #[test]
    fn budget_values() {
        let read = |v: &str| from(&[(BUDGET_HEADER, v)], Instant::now()).map(|c| c.budget);
        assert_eq!(read("2.5"), Ok(Some(2.5)));
        assert_eq!(read("0"), Ok(Some(0.0)));
        for bad in ["-1", "NaN", "inf", "x"] {
            assert!(matches!(read(bad), Err(ContextError::InvalidBudget { .. })), "{bad}");
        }
        assert!(ExecutionContext::new().with_budget(f64::NAN).validate().is_err());
        assert!(
            ExecutionContext::new()
                .with_budget(-1.0)
                .to_headers(Instant::now())
                .iter()
                .all(|(n, _)| n != BUDGET_HEADER)
        );
    }

    #[test]
    fn control_characters_and_long_values_are_rejected() {
        for v in ["a\r\nX-Evil: 1", "a\0b", "a\u{7f}", "a\u{85}", "a\tb"] {
            assert_eq!(
                from(&[(USER_ID_HEADER, v)], Instant::now()),
                Err(ContextError::ControlCharacter { header: USER_ID_HEADER }),
                "{v:?}"
            );
        }
        assert!(!has_control("café ✓ 00-ab") && has_control("é\u{9f}"), "non-ASCII text is no control");
        let long = "x".repeat(MAX_HEADER_VALUE_BYTES + 1);
        assert_eq!(
            from(&[(REQUEST_ID_HEADER, &long)], Instant::now()),
            Err(ContextError::TooLong { header: REQUEST_ID_HEADER })
        );
    }

    #[test]
    fn to_headers_never_writes_what_from_headers_rejects() {
        let ctx =
            ExecutionContext::new().with_user_id("a\r\nX-Evil: 1").with_traceparent("bad").with_tenant_id("");
        assert!(ctx.validate().is_err());
        let headers = ctx.to_headers(Instant::now());
        assert_eq!(headers.len(), 1, "{headers:?}");
        assert_eq!(headers[0].0, REQUEST_ID_HEADER);
    }

    #[test]
    fn meta_headers_become_metadata() {
        let now = Instant::now();
        let ctx =
            from(&[("X-Meta-Ticket", " 42 "), ("x-meta-conv-id", "c"), ("X-Metadata", "no")], now).unwrap();
        let want: BTreeMap<String, String> =
            [("ticket".into(), "42".into()), ("conv-id".into(), "c".into())].into_iter().collect();
        assert_eq!(ctx.metadata, want);
        assert!(ctx.validate().is_ok());
        let bad = |h: &[(&str, &str)]| matches!(from(h, now), Err(ContextError::InvalidMetadata { .. }));
        assert!(bad(&[("X-Meta-", "x")]), "empty key");
        assert!(bad(&[("X-Meta-a", "1"), ("x-meta-A", "2")]), "repeated");
        assert!(bad(&[("X-Meta-a", "a\u{7f}")]), "control character");
        let many: Vec<(String, &str)> =
            (0..=MAX_METADATA_ENTRIES).map(|i| (format!("X-Meta-k{i}"), "v")).collect();
        let many: Vec<(&str, &str)> = many.iter().map(|(k, v)| (k.as_str(), *v)).collect();
        assert!(bad(&many), "too many");
        assert!(ExecutionContext::new().with_metadata("", "v").validate().is_err());
        assert!(ExecutionContext::new().with_metadata("k", "a\nb").validate().is_err());
    }

    #[test]
    fn outbound_headers_carry_ids_and_trace_context_only() {
        let ctx = ExecutionContext::new()
            .with_request_id("r")
            .with_correlation_id("c")
            .with_user_id("u")
            .with_tenant_id("t")
            .with_traceparent(TP)
            .with_tracestate("a=1")
            .with_budget(5.0)
            .with_metadata("k", "v");
        let names: Vec<&str> = ctx.outbound_headers().iter().map(|(n, _)| *n).collect();
        assert_eq!(names, [REQUEST_ID_HEADER, CORRELATION_ID_HEADER, TRACEPARENT_HEADER, TRACESTATE_HEADER]);
        let bad = ExecutionContext::new().with_request_id("r").with_traceparent("nope");
        assert_eq!(bad.outbound_headers(), vec![(REQUEST_ID_HEADER, "r".to_string())]);
    }

    #[test]
    fn duplicates_rejected_but_tracestate_joined() {
        let now = Instant::now();
        assert_eq!(
            from(&[("x-user-id", "a"), ("X-User-ID", "b")], now),
            Err(ContextError::Duplicate { header: USER_ID_HEADER })
        );
        let ctx = from(&[("tracestate", "a=1"), ("TraceState", "b=2")], now).unwrap();
        assert_eq!(ctx.tracestate.as_deref(), Some("a=1,b=2"));
    }
}
