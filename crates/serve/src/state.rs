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
    /// MCP tasks (tool calls running in the background): durable runs in
    /// Redis when it is configured, else in this process.
    pub(crate) tasks: Arc<dyn TaskStore>,
}

impl Shared {
    /// The state of a server of `host`, whose stdio sessions belong to `tenant`.
    pub(crate) fn new(host: Host, tenant: String) -> Shared {
        let request_state = crate::mrtr::codec(host.config().serve.request_state_key.as_deref());
        let tasks: Arc<dyn TaskStore> = match host.backend().redis() {
            Some(redis) => {
                let runs = toolhost::backend::redis::RunStore::new(redis.clone());
                Arc::new(crate::tasks_redis::RedisTasks::new(runs))
            }
            None => Arc::new(crate::tasks::MemoryTasks::default()),
        };
        Shared { host, tenant, inflight: Inflight::default(), request_state, tasks }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn host_with_key(key: &str) -> toolhost::Result<Host> {
        let dir = std::env::temp_dir().join(format!("toolhost-state-key-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let toml =
            format!("plugins_dir = {dir:?}\ncache_dir = \"off\"\n[serve]\nrequest_state_key = {key:?}\n");
        Host::builder().config(toolhost::Config::from_toml(&toml)?).build().await
    }

    /// `serve.request_state_key` parses at that path and is the key the
    /// server seals with: a replica with the same key opens its states, one
    /// with a random key does not; a short key is refused.
    #[tokio::test]
    async fn the_configured_request_state_key_seals_the_servers_states() {
        let key = "a-shared-request-state-key-of-32-bytes-or-more";
        let shared = Shared::new(host_with_key(key).await.unwrap(), "t".into());
        let replica = crate::mrtr::codec(Some(key)).seal(b"state");
        assert_eq!(shared.request_state.open(&replica).unwrap(), b"state");
        let stranger = crate::mrtr::codec(None).seal(b"state");
        assert!(shared.request_state.open(&stranger).is_err());
        let short = host_with_key("too-short").await.unwrap_err();
        assert!(short.to_string().contains("serve.request_state_key"), "{short}");
    }
}
