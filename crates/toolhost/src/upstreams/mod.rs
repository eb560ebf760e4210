//! Upstream tool sources in the host (`[[upstreams]]`): each source is
//! connected in the background — a source that is down never blocks the
//! plugins or the other sources; it is retried with capped backoff and its
//! failure is reported ([`Upstreams::status`]) — and its tools are served
//! next to the plugins' under the same tenants and executor policies.

mod entry;

pub use entry::UpstreamEntry;

use crate::listing::ToolListing;
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;
use tokio::sync::Semaphore;
use toolhost_core::Error;
use toolhost_registry::tenant::Tenants;
use toolhost_upstream::config::Kind;
use toolhost_upstream::{Source, UpstreamConfig};

/// Backoff between connection attempts of a source that is down: doubling
/// from the first, capped at the second.
const RETRY_BACKOFF: (Duration, Duration) = (Duration::from_secs(1), Duration::from_secs(60));

/// One source's state, as `toolhost list` and `/readyz` report it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UpstreamStatus {
    /// The `[[upstreams]]` name.
    pub name: String,
    /// `mcp` or `http`.
    pub kind: &'static str,
    /// Connected and serving its tools.
    pub connected: bool,
    /// Tools served.
    pub tools: usize,
    /// Times the source was restarted or reconnected after it died.
    pub restarts: u32,
    /// Why it is down (the latest failure), while it is.
    pub error: Option<String>,
}

#[derive(Debug, Default)]
struct SlotState {
    source: Option<Arc<dyn Source>>,
    tools: BTreeMap<String, Arc<UpstreamEntry>>,
    error: Option<String>,
}

#[derive(Debug)]
struct Slot {
    cfg: UpstreamConfig,
    limit: Option<Arc<Semaphore>>,
    state: RwLock<SlotState>,
}

/// Every configured upstream source.
#[derive(Debug, Default)]
pub struct Upstreams {
    slots: Vec<Arc<Slot>>,
    tenants: arc_swap::ArcSwap<Tenants>,
}

impl Upstreams {
    /// Connects every source (each first attempt bounded by the source's
    /// `timeout_ms`; a failed one keeps retrying in the background).
    pub async fn start(cfgs: &[UpstreamConfig], tenants: Tenants) -> Upstreams {
        let slots: Vec<Arc<Slot>> = cfgs
            .iter()
            .map(|cfg| {
                let limit = cfg.max_concurrency.map(|n| Arc::new(Semaphore::new(n)));
                Arc::new(Slot { cfg: cfg.clone(), limit, state: RwLock::default() })
            })
            .collect();
        let first = slots.iter().map(|s| {
            let s = s.clone();
            async move {
                if !s.connect_once().await {
                    tokio::spawn(s.reconnect());
                }
            }
        });
        futures::future::join_all(first).await;
        Upstreams { slots, tenants: arc_swap::ArcSwap::from_pointee(tenants) }
    }

    /// The upstream tool `name` as `tenant` sees it.
    pub fn lookup(&self, tenant: &str, name: &str) -> Option<Arc<UpstreamEntry>> {
        let (source, _) = name.split_once('.')?;
        let slot = self.slots.iter().find(|s| s.cfg.name == source)?;
        let entry = slot.state.read().unwrap_or_else(|e| e.into_inner()).tools.get(name).cloned()?;
        self.tenants.load().allows(tenant, source, name).then_some(entry)
    }

    /// Every upstream tool `tenant` may see.
    pub fn listings(&self, tenant: &str) -> Vec<ToolListing> {
        let mut out = Vec::new();
        let tenants = self.tenants.load();
        for slot in &self.slots {
            let state = slot.state.read().unwrap_or_else(|e| e.into_inner());
            let visible =
                state.tools.values().filter(|e| tenants.allows(tenant, &slot.cfg.name, &e.tool.name));
            out.extend(visible.map(|e| e.listing()));
        }
        out
    }

    /// Replaces the tenants' visibility rules (a config reload).
    pub fn set_tenants(&self, tenants: Tenants) {
        self.tenants.store(Arc::new(tenants));
    }

    /// Each source's state.
    pub fn status(&self) -> Vec<UpstreamStatus> {
        self.slots.iter().map(|s| s.status()).collect()
    }
}

impl Slot {
    fn status(&self) -> UpstreamStatus {
        let state = self.state.read().unwrap_or_else(|e| e.into_inner());
        let health = state.source.as_ref().map(|s| s.health()).unwrap_or_default();
        UpstreamStatus {
            name: self.cfg.name.clone(),
            kind: self.cfg.kind().map_or("mcp", |k| k.source_kind().as_str()),
            connected: state.source.is_some() && health.up,
            tools: state.tools.len(),
            restarts: health.restarts,
            error: health.error.or_else(|| state.error.clone()),
        }
    }

    /// One connection attempt, within `timeout_ms`; records the outcome and,
    /// once connected, follows the source's tool-list changes.
    async fn connect_once(self: &Arc<Self>) -> bool {
        let attempt = tokio::time::timeout(self.cfg.timeout(), connect(&self.cfg)).await;
        let result = attempt.unwrap_or_else(|_| {
            Err(Error::Configuration(format!(
                "upstream {}: no answer within timeout_ms = {}",
                self.cfg.name, self.cfg.timeout_ms
            )))
        });
        match result {
            Ok(source) => {
                let tools = self.entries(&source);
                tracing::info!(upstream = %self.cfg.name, tools = tools.len(), "upstream connected");
                if let Some(changes) = source.changes() {
                    tokio::spawn(follow_changes(Arc::downgrade(self), source.clone(), changes));
                }
                *self.state.write().unwrap_or_else(|e| e.into_inner()) =
                    SlotState { source: Some(source), tools, error: None };
                true
            }
            Err(e) => {
                let why = crate::config::config_message(e);
                tracing::warn!(upstream = %self.cfg.name, error = %why, "upstream unavailable; retrying in the background");
                self.state.write().unwrap_or_else(|e| e.into_inner()).error = Some(why);
                false
            }
        }
    }

    /// Retries with capped exponential backoff until the source connects.
    async fn reconnect(self: Arc<Self>) {
        let mut wait = RETRY_BACKOFF.0;
        loop {
            tokio::time::sleep(wait).await;
            if self.connect_once().await {
                return;
            }
            wait = (wait * 2).min(RETRY_BACKOFF.1);
        }
    }

    /// The source's tools, ready to call (a tool whose schema does not
    /// compile is left out, logged).
    fn entries(&self, source: &Arc<dyn Source>) -> BTreeMap<String, Arc<UpstreamEntry>> {
        let mut out = BTreeMap::new();
        for tool in source.tools() {
            let name = tool.name.clone();
            match UpstreamEntry::new(tool, source.clone(), self.limit.clone(), self.cfg.timeout()) {
                Ok(e) => {
                    out.insert(name, Arc::new(e));
                }
                Err(e) => {
                    tracing::warn!(upstream = %self.cfg.name, tool = %name, error = %e, "upstream tool left out")
                }
            }
        }
        out
    }
}

/// Re-reads a source's tools whenever it says they changed (an MCP
/// `tools/list_changed`, a restart), until the host or the source is gone.
async fn follow_changes(
    slot: std::sync::Weak<Slot>,
    source: Arc<dyn Source>,
    mut changes: tokio::sync::watch::Receiver<u64>,
) {
    while changes.changed().await.is_ok() {
        let Some(slot) = slot.upgrade() else { return };
        let tools = slot.entries(&source);
        tracing::info!(upstream = %slot.cfg.name, tools = tools.len(), "upstream tool list changed");
        slot.state.write().unwrap_or_else(|e| e.into_inner()).tools = tools;
    }
}

/// Connects one source by its kind.
async fn connect(cfg: &UpstreamConfig) -> Result<Arc<dyn Source>, Error> {
    match cfg.kind() {
        Some(Kind::OpenApi) => Ok(toolhost_upstream::openapi::connect(cfg).await?),
        Some(Kind::McpStdio | Kind::McpHttp) => Ok(toolhost_upstream::mcp::connect(cfg).await?),
        None => Err(Error::Configuration(format!(
            "upstream {}: needs exactly one of `command`, `url` or `openapi`",
            cfg.name
        ))),
    }
}
