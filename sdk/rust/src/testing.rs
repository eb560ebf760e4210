//! A fake host for native unit tests (available when not compiling for `wasm32`).
//!
//! Host calls made by tools ([`Context::log`](crate::Context::log),
//! [`progress`](crate::Context::progress), [`emit`](crate::Context::emit),
//! [`config`](crate::config)) are recorded per thread, so each `#[test]` sees only its own.
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

use std::cell::RefCell;
use std::collections::BTreeMap;

use crate::Level;

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
}

#[derive(Default)]
struct FakeHost {
    config: BTreeMap<String, String>,
    events: Vec<HostEvent>,
}

thread_local! {
    static FAKE: RefCell<FakeHost> = RefCell::new(FakeHost::default());
}

/// Clears this thread's config and recorded events.
pub fn reset() {
    FAKE.with(|f| *f.borrow_mut() = FakeHost::default());
}

/// Sets a config value that [`config`](crate::config) returns on this thread.
pub fn set_config(key: impl Into<String>, value: impl Into<String>) {
    FAKE.with(|f| {
        f.borrow_mut().config.insert(key.into(), value.into());
    });
}

/// Removes and returns the host calls recorded on this thread, oldest first.
pub fn take_events() -> Vec<HostEvent> {
    FAKE.with(|f| std::mem::take(&mut f.borrow_mut().events))
}

pub(crate) fn record(event: HostEvent) {
    FAKE.with(|f| f.borrow_mut().events.push(event));
}

pub(crate) fn config_value(key: &str) -> Option<String> {
    FAKE.with(|f| f.borrow().config.get(key).cloned())
}
