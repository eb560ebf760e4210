//! What a guest reports while it runs (log lines, progress, partial results),
//! for callers that listen.

/// Something a guest reported while running, for callers that listen.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum GuestEvent {
    /// A `host.log` line (control characters escaped).
    Log {
        /// `trace` … `error`.
        level: &'static str,
        /// The message.
        message: String,
    },
    /// A `host.progress` report.
    Progress {
        /// Work done.
        done: f64,
        /// Total work, when known.
        total: Option<f64>,
        /// What is happening.
        message: Option<String>,
    },
    /// A `host.emit` partial-result chunk (JSON text as the guest sent it).
    Emit {
        /// The chunk.
        chunk: String,
    },
}

/// Where a call's [`GuestEvent`]s go. Bounded: when the listener is slow,
/// events are dropped and counted rather than buffered without limit.
pub type EventSink = tokio::sync::mpsc::Sender<GuestEvent>;
