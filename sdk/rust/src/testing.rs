//! A fake host for native unit tests (available when not compiling for `wasm32`).
//!
//! Host calls made by tools ([`Context::log`](crate::Context::log),
//! [`progress`](crate::Context::progress), [`emit`](crate::Context::emit),
//! [`config`](crate::config), [`elicit`](crate::Context::elicit),
//! [`sample`](crate::Context::sample), [`resource_updated`](crate::resource_updated)) are
//! recorded per thread, so each `#[test]` sees only its own.
//!
//! ```
//! use toolhost_sdk::testing::{self, HostEvent};
//! use toolhost_sdk::{Context, Level};
//!
//! testing::reset();
//! testing::set_config("greeting", "Hi");
//! let ctx = Context::new("call-1");
//! ctx.info("hello");
//! assert_eq!(ctx.config("greeting").as_deref(), Some("Hi"));
//! assert_eq!(
//!     testing::take_events(),
//!     vec![HostEvent::Log { level: Level::Info, message: "hello".into() }]
//! );
//! ```
//!
//! Elicitation and sampling answers are scripted in advance, one per request, in order:
//!
//! ```
//! use toolhost_sdk::testing;
//! use toolhost_sdk::{Context, ElicitRequest, ElicitResponse, serde_json::json};
//!
//! testing::reset();
//! testing::answer_elicit(Ok(ElicitResponse::accept(json!({ "name": "Ada" }))));
//! let ctx = Context::new("call-1");
//! let answer = ctx.elicit(&ElicitRequest::form("Name?", json!({ "type": "object" }))).unwrap();
//! assert!(answer.is_accepted());
//! // Without a scripted answer the fake host says the client does not support it.
//! assert!(ctx.elicit(&ElicitRequest::form("Again?", json!({}))).is_err());
//! ```

use std::cell::RefCell;
use std::collections::{BTreeMap, VecDeque};

use crate::{ElicitRequest, ElicitResponse, InteractionError, Level, SamplingRequest, SamplingResponse};

/// One recorded host call.
#[derive(Debug, Clone, PartialEq)]
pub enum HostEvent {
    /// `log(level, message)`.
    Log {
        /// Severity.
        level: Level,
        /// Text.
        message: String,
    },
    /// `progress(done, total, message)`.
    Progress {
        /// Work done.
        done: f64,
        /// Total work, if known.
        total: Option<f64>,
        /// Message, if any.
        message: Option<String>,
    },
    /// `emit(chunk)`: the JSON text of the chunk.
    Emit(String),
    /// `elicit(request)`.
    Elicit(ElicitRequest),
    /// `sample(request)`.
    Sample(SamplingRequest),
    /// `resource-updated(uri)`.
    ResourceUpdated(String),
}

#[derive(Default)]
struct FakeHost {
    config: BTreeMap<String, String>,
    events: Vec<HostEvent>,
    elicit_answers: VecDeque<Result<ElicitResponse, InteractionError>>,
    sample_answers: VecDeque<Result<SamplingResponse, InteractionError>>,
}

thread_local! {
    static FAKE: RefCell<FakeHost> = RefCell::new(FakeHost::default());
}

/// Clears this thread's config, recorded events and scripted answers.
pub fn reset() {
    FAKE.with(|f| *f.borrow_mut() = FakeHost::default());
}

/// Sets a config value that [`config`](crate::config) returns on this thread.
pub fn set_config(key: impl Into<String>, value: impl Into<String>) {
    FAKE.with(|f| {
        f.borrow_mut().config.insert(key.into(), value.into());
    });
}

/// Queues the answer to the next unanswered [`elicit`](crate::Context::elicit) on this thread.
///
/// An elicitation with no answer queued gets [`InteractionError::Unsupported`], like a client
/// without the elicitation capability.
pub fn answer_elicit(answer: Result<ElicitResponse, InteractionError>) {
    FAKE.with(|f| f.borrow_mut().elicit_answers.push_back(answer));
}

/// Queues the answer to the next unanswered [`sample`](crate::Context::sample) on this thread.
///
/// A sampling request with no answer queued gets [`InteractionError::Unsupported`].
pub fn answer_sample(answer: Result<SamplingResponse, InteractionError>) {
    FAKE.with(|f| f.borrow_mut().sample_answers.push_back(answer));
}

/// Removes and returns the host calls recorded on this thread, oldest first.
pub fn take_events() -> Vec<HostEvent> {
    FAKE.with(|f| std::mem::take(&mut f.borrow_mut().events))
}

/// The URIs passed to [`resource_updated`](crate::resource_updated) on this thread so far,
/// oldest first (without removing any event).
pub fn resource_updates() -> Vec<String> {
    FAKE.with(|f| {
        let fake = f.borrow();
        let updates = fake.events.iter().filter_map(|e| match e {
            HostEvent::ResourceUpdated(uri) => Some(uri.clone()),
            _ => None,
        });
        updates.collect()
    })
}

pub(crate) fn record(event: HostEvent) {
    FAKE.with(|f| f.borrow_mut().events.push(event));
}

pub(crate) fn config_value(key: &str) -> Option<String> {
    FAKE.with(|f| f.borrow().config.get(key).cloned())
}

pub(crate) fn next_elicit_answer() -> Result<ElicitResponse, InteractionError> {
    let next = FAKE.with(|f| f.borrow_mut().elicit_answers.pop_front());
    next.unwrap_or_else(|| Err(unscripted("elicitation")))
}

pub(crate) fn next_sample_answer() -> Result<SamplingResponse, InteractionError> {
    let next = FAKE.with(|f| f.borrow_mut().sample_answers.pop_front());
    next.unwrap_or_else(|| Err(unscripted("sampling")))
}

fn unscripted(what: &str) -> InteractionError {
    InteractionError::Unsupported(format!(
        "the fake host has no scripted {what} answer (see testing::answer_*)"
    ))
}
