//! The sandbox's settings: per-call [`Limits`] (the `[defaults]` section and a
//! manifest's `[limits]` overrides) and the engine-wide [`RuntimeConfig`]
//! (`[runtime]`).

use serde::{Deserialize, Serialize};
use toolhost_core::check::{self, Problems};

/// Per-call limits. Every field has a default; manifests override single fields.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Wall-clock time per call, milliseconds. Default: 30000.
    pub timeout_ms: u64,
    /// Total linear memory across all of a call's memories, MiB. Default: 128.
    pub memory_mib: u64,
    /// CPU budget in wasm fuel units (≈ 1e7 per ms of compute); `None` = unmetered. Default: none.
    pub fuel: Option<u64>,
    /// Largest result (value + content) in bytes. Default: 4 MiB.
    pub output_bytes: u64,
    /// Total table elements per call. Default: 100000.
    pub table_elements: u64,
    /// Core instances, tables and memories per call (each). Default: 128.
    pub instances: u32,
    /// Bytes of guest stdout/stderr kept per call (head and tail), the rest is
    /// counted and dropped. Default: 8192.
    pub stdio_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            timeout_ms: 30_000,
            memory_mib: 128,
            fuel: None,
            output_bytes: 4 * 1024 * 1024,
            table_elements: 100_000,
            instances: 128,
            stdio_bytes: 8192,
        }
    }
}

impl Limits {
    /// The per-call timeout.
    pub fn timeout(&self) -> std::time::Duration {
        std::time::Duration::from_millis(self.timeout_ms)
    }

    /// Memory limit in bytes.
    pub fn memory_bytes(&self) -> u64 {
        self.memory_mib * 1024 * 1024
    }

    /// Checks the limits (at `path`: `defaults`, or `limits` in a manifest)
    /// against the engine's settings.
    pub fn check(&self, path: &str, rt: &RuntimeConfig, p: &mut Problems) {
        let at = |k: &str| check::join(path, k);
        p.at_least_one(self.timeout_ms, at("timeout_ms"));
        p.require(
            (1..=rt.max_memory_mib.max(1)).contains(&self.memory_mib),
            at("memory_mib"),
            format_args!("must be within 1..={} (runtime.max_memory_mib)", rt.max_memory_mib),
        );
        p.at_least_one(self.output_bytes, at("output_bytes"));
        p.at_least_one(self.table_elements, at("table_elements"));
        p.at_least_one(u64::from(self.instances), at("instances"));
        if let Some(fuel) = self.fuel {
            p.at_least_one(fuel, at("fuel"));
            p.require(rt.fuel, at("fuel"), "needs runtime.fuel = true (a fuel budget is only counted then)");
        }
    }

    /// Applies a manifest's overrides.
    pub fn merged(&self, o: &LimitsOverride) -> Limits {
        Limits {
            timeout_ms: o.timeout_ms.unwrap_or(self.timeout_ms),
            memory_mib: o.memory_mib.unwrap_or(self.memory_mib),
            fuel: o.fuel.or(self.fuel),
            output_bytes: o.output_bytes.unwrap_or(self.output_bytes),
            table_elements: o.table_elements.unwrap_or(self.table_elements),
            instances: o.instances.unwrap_or(self.instances),
            stdio_bytes: o.stdio_bytes.unwrap_or(self.stdio_bytes),
        }
    }
}

/// A manifest's `[limits]`: each field overrides the host default when set.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
#[allow(missing_docs)]
pub struct LimitsOverride {
    pub timeout_ms: Option<u64>,
    pub memory_mib: Option<u64>,
    pub fuel: Option<u64>,
    pub output_bytes: Option<u64>,
    pub table_elements: Option<u64>,
    pub instances: Option<u32>,
    pub stdio_bytes: Option<usize>,
}

/// How instance memory is allocated.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum Allocator {
    /// Pooling when the address space allows, else on-demand (logged).
    Auto,
    /// Pooling allocator: fastest instantiation; fails if it cannot reserve.
    Pooling,
    /// Allocate each instance on demand.
    OnDemand,
}

/// Engine-wide settings (one engine per process).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct RuntimeConfig {
    /// Epoch ticker period, ms: deadlines are enforced to within one tick. Default: 5.
    pub epoch_tick_ms: u64,
    /// Memory allocator. Default: `auto`.
    pub allocator: Allocator,
    /// Count fuel, so manifests can set CPU budgets and calls report fuel used.
    /// Default: `true`.
    pub fuel: bool,
    /// Largest wasm stack, KiB (stays below the 2 MiB async stack). Default: 512.
    pub max_wasm_stack_kib: usize,
    /// Largest memory any plugin may be granted, MiB (pool slot size). Default: 512.
    pub max_memory_mib: u64,
    /// Concurrent instances in the pool (process-wide admission). Default: 256.
    pub pool_instances: u32,
    /// Linear memory a pool slot keeps resident between calls, KiB: the pages
    /// a call dirtied are reset in place (no `madvise`, no page faults on the
    /// next call) up to this much; the rest is returned to the kernel. Idle RSS
    /// is bounded by slots used × this. Default: 2048 (a Rust guest's stack
    /// and data).
    pub keep_resident_kib: usize,
    /// Refuse plugins that import `wasi:sockets` or `wasi:http` at load instead
    /// of denying every connection at run time. Default: `false`.
    pub deny_network_imports: bool,
    /// Largest plugin file accepted, MiB. Default: 128.
    pub max_plugin_mib: u64,
    /// Parallel compilations. Default: 2.
    pub compile_concurrency: usize,
    /// Time allowed for `describe()` at load, ms. Default: 10000.
    pub describe_timeout_ms: u64,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        RuntimeConfig {
            epoch_tick_ms: 5,
            allocator: Allocator::Auto,
            fuel: true,
            max_wasm_stack_kib: 512,
            max_memory_mib: 512,
            pool_instances: 256,
            keep_resident_kib: 2048,
            deny_network_imports: false,
            max_plugin_mib: 128,
            compile_concurrency: 2,
            describe_timeout_ms: 10_000,
        }
    }
}

impl RuntimeConfig {
    /// Largest `max_wasm_stack_kib`: below wasmtime's 2 MiB async stack.
    pub const MAX_WASM_STACK_KIB: usize = 2047;

    pub fn check(&self, path: &str, p: &mut Problems) {
        let at = |k: &str| check::join(path, k);
        p.require((1..=1000).contains(&self.epoch_tick_ms), at("epoch_tick_ms"), "must be within 1..=1000");
        p.require(
            (1..=Self::MAX_WASM_STACK_KIB).contains(&self.max_wasm_stack_kib),
            at("max_wasm_stack_kib"),
            format_args!("must be within 1..={} (below the 2 MiB async stack)", Self::MAX_WASM_STACK_KIB),
        );
        p.at_least_one(self.max_memory_mib, at("max_memory_mib"));
        p.at_least_one(u64::from(self.pool_instances), at("pool_instances"));
        p.require(
            self.keep_resident_kib as u64 <= self.max_memory_mib * 1024,
            at("keep_resident_kib"),
            "must be at most runtime.max_memory_mib × 1024",
        );
        p.at_least_one(self.max_plugin_mib, at("max_plugin_mib"));
        p.at_least_one(self.compile_concurrency as u64, at("compile_concurrency"));
        p.at_least_one(self.describe_timeout_ms, at("describe_timeout_ms"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifest_overrides_merge_field_by_field() {
        let base = Limits::default();
        let o = LimitsOverride { timeout_ms: Some(50), ..Default::default() };
        let m = base.merged(&o);
        assert_eq!(m.timeout_ms, 50);
        assert_eq!(m.memory_mib, base.memory_mib);
    }
}
