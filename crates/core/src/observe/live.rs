//! What the host is doing right now, for `toolhost top` and `GET /v1/stats`:
//! calls in flight (process-wide, like the metrics registry), per-tool
//! totals and latency quantiles, breaker states and bulkhead queues.

use serde::{Deserialize, Serialize};
use std::cell::Cell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{LazyLock, Mutex};
use std::time::Instant;

/// A call in flight: its call id, tool and tenant in one allocation
/// (`text` = call id + tool + tenant; `ends` = where the first two end).
struct Running {
    text: String,
    ends: [usize; 2],
    started: Instant,
}

impl Running {
    fn new(call_id: &str, tool: &str, tenant: &str) -> Running {
        let mut text = String::with_capacity(call_id.len() + tool.len() + tenant.len());
        text.push_str(call_id);
        text.push_str(tool);
        text.push_str(tenant);
        let ends = [call_id.len(), call_id.len() + tool.len()];
        Running { text, ends, started: Instant::now() }
    }

    fn call_id(&self) -> &str {
        &self.text[..self.ends[0]]
    }

    fn tool(&self) -> &str {
        &self.text[self.ends[0]..self.ends[1]]
    }

    fn tenant(&self) -> &str {
        &self.text[self.ends[1]..]
    }
}

/// Shards of the in-flight list: concurrent calls (on different worker
/// threads) rarely take the same lock, and never share its cache line.
const SHARDS: usize = 16;
type Shard = crate::padded::Padded<Mutex<HashMap<u64, Running, crate::fold_hash::BuildFold>>>;
static INFLIGHT: LazyLock<[Shard; SHARDS]> = LazyLock::new(Default::default);
static NEXT: AtomicU64 = AtomicU64::new(0);
/// Ids a thread takes from `NEXT` at a time (one shared write per block).
const ID_BLOCK: u64 = 256;

thread_local! {
    /// This thread's next id and the end of its block.
    static IDS: Cell<(u64, u64)> = const { Cell::new((0, 0)) };
}

/// A process-unique id for a call in flight.
fn next_id() -> u64 {
    IDS.with(|ids| {
        let (mut next, mut end) = ids.get();
        if next == end {
            next = NEXT.fetch_add(ID_BLOCK, Ordering::Relaxed);
            end = next + ID_BLOCK;
        }
        ids.set((next + 1, end));
        next
    })
}

fn shard(id: u64) -> std::sync::MutexGuard<'static, HashMap<u64, Running, crate::fold_hash::BuildFold>> {
    INFLIGHT[id as usize % SHARDS].lock().unwrap_or_else(|e| e.into_inner())
}

/// Removes its call from the in-flight list when dropped (also when the
/// call's future is cancelled).
#[must_use]
pub struct Tracked(Option<u64>);

impl Drop for Tracked {
    fn drop(&mut self) {
        if let Some(id) = self.0 {
            shard(id).remove(&id);
        }
    }
}

/// Lists a call as in flight until the returned guard is dropped.
pub fn track(call_id: &str, tool: &str, tenant: &str) -> Tracked {
    if !super::enabled() {
        return Tracked(None);
    }
    let id = next_id();
    let r = Running::new(call_id, tool, tenant);
    shard(id).insert(id, r);
    Tracked(Some(id))
}

/// A call in flight.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct InflightCall {
    /// Call id.
    pub call_id: String,
    /// Tool name.
    pub tool: String,
    /// Tenant.
    pub tenant: String,
    /// Time since the call entered the executor, ms.
    pub elapsed_ms: u64,
}

/// Totals of one tool since the process started.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct ToolTotals {
    /// Tool name.
    pub tool: String,
    /// Calls finished.
    pub calls: u64,
    /// Calls that ended in an error.
    pub errors: u64,
    /// Median duration, ms (bucket upper bound).
    pub p50_ms: Option<f64>,
    /// 95th percentile duration, ms (bucket upper bound).
    pub p95_ms: Option<f64>,
    /// Mean duration, ms.
    pub mean_ms: Option<f64>,
}

/// A breaker that is not closed, or any breaker when few exist.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct BreakerView {
    /// `tenant:tool`.
    pub key: String,
    /// `closed`, `open` or `half_open`.
    pub state: String,
}

/// One bulkhead compartment.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct BulkheadView {
    /// Compartment key (`global`, `tool:…`, …).
    pub key: String,
    /// Calls holding a slot.
    pub active: u32,
    /// Calls waiting.
    pub queued: u32,
    /// Calls refused so far.
    pub rejected: u64,
}

/// Everything the live view shows, at one instant.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Snapshot {
    /// Seconds since the host process started.
    pub uptime_secs: f64,
    /// Loaded plugins and tools.
    pub plugins: usize,
    /// Tools callable by someone.
    pub tools: usize,
    /// `ok` or `degraded` (shared backend unreachable).
    pub health: String,
    /// Calls running now, longest first.
    pub inflight: Vec<InflightCall>,
    /// Per-tool totals, busiest first.
    pub totals: Vec<ToolTotals>,
    /// Circuit breakers.
    pub breakers: Vec<BreakerView>,
    /// Bulkhead compartments.
    pub bulkheads: Vec<BulkheadView>,
}

static STARTED: LazyLock<Instant> = LazyLock::new(Instant::now);

/// Time since [`mark_start`] (the host's start).
pub fn uptime() -> std::time::Duration {
    STARTED.elapsed()
}

/// Marks the process start (the first host built).
pub fn mark_start() {
    LazyLock::force(&STARTED);
}

/// The calls in flight in this process, longest first.
pub fn inflight() -> Vec<InflightCall> {
    let now = Instant::now();
    let mut v: Vec<InflightCall> = (0..SHARDS as u64)
        .flat_map(|i| {
            shard(i)
                .values()
                .map(|r| InflightCall {
                    call_id: r.call_id().to_string(),
                    tool: r.tool().to_string(),
                    tenant: r.tenant().to_string(),
                    elapsed_ms: now.saturating_duration_since(r.started).as_millis() as u64,
                })
                .collect::<Vec<_>>()
        })
        .collect();
    v.sort_by(|a, b| b.elapsed_ms.cmp(&a.elapsed_ms).then_with(|| a.call_id.cmp(&b.call_id)));
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tracked_call_is_listed_with_its_ids_until_dropped() {
        let guard = track("call_live_test_1", "text.upper", "acme");
        let listed = inflight().into_iter().find(|c| c.call_id == "call_live_test_1").expect("listed");
        assert_eq!((listed.tool.as_str(), listed.tenant.as_str()), ("text.upper", "acme"));
        drop(guard);
        assert!(!inflight().iter().any(|c| c.call_id == "call_live_test_1"));
    }
}
