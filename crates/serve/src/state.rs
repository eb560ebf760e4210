//! What every MCP session and HTTP route of one server shares.

use crate::inflight::Inflight;
use crate::tasks::TaskStore;
use std::sync::Arc;
use toolhost::Host;

/// What every session of one server shares.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) host: Host,
    /// Tenant of sessions without HTTP request parts (stdio).
    pub(crate) tenant: String,
    pub(crate) inflight: Inflight,
    /// MCP tasks (tool calls running in the background).
    pub(crate) tasks: Arc<dyn TaskStore>,
}
