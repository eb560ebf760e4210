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
    /// Seals MCP `requestState` (`serve.request_state_key`, else a random key).
    pub(crate) request_state: rmcp::model::RequestStateCodec,
    /// MCP tasks (tool calls running in the background).
    pub(crate) tasks: Arc<dyn TaskStore>,
}

impl Shared {
    /// The state of a server of `host`, whose stdio sessions belong to `tenant`.
    pub(crate) fn new(host: Host, tenant: String) -> Shared {
        let request_state = crate::mrtr::codec(host.config().serve.request_state_key.as_deref());
        let tasks = Arc::new(crate::tasks::MemoryTasks::default());
        Shared { host, tenant, inflight: Inflight::default(), request_state, tasks }
    }
}
