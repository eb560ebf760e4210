//! The process-wide `Engine`: Cranelift, epoch interruption, optional fuel,
//! and the pooling allocator when the address space allows it.

use crate::config::{Allocator, RuntimeConfig};
use toolhost_core::error::{Error, Result};
use wasmtime::{Config, Enabled, Engine, InstanceAllocationStrategy, OptLevel, PoolingAllocationConfig};

/// Which allocator the engine ended up with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum AllocatorKind {
    /// Pre-reserved instance slots: ~4 µs instantiation.
    Pooling,
    /// Memory mapped per instance.
    OnDemand,
}

fn base_config(rt: &RuntimeConfig) -> Config {
    let mut c = Config::new();
    c.wasm_component_model(true)
        .epoch_interruption(true)
        .consume_fuel(rt.fuel)
        .cranelift_opt_level(OptLevel::Speed)
        .max_wasm_stack(rt.max_wasm_stack_kib * 1024);
    c
}

fn pooling(rt: &RuntimeConfig, max_table_elements: usize) -> PoolingAllocationConfig {
    let slots = rt.pool_instances;
    let mut p = PoolingAllocationConfig::default();
    p.total_component_instances(slots)
        .total_core_instances(slots * 8)
        .total_memories(slots * 2)
        .total_tables(slots * 4)
        .total_stacks(slots)
        .max_memory_size((rt.max_memory_mib * 1024 * 1024) as usize)
        .max_core_instances_per_component(128)
        .max_memories_per_component(8)
        .max_tables_per_component(64)
        .max_component_instance_size(1 << 20)
        .max_core_instance_size(1 << 20)
        .table_elements(max_table_elements)
        .linear_memory_keep_resident(rt.keep_resident_kib * 1024)
        .table_keep_resident(64 * 1024)
        // Linux ≥ 6.7: reset only the pages a call dirtied (memset, no
        // madvise) up to `keep_resident`; elsewhere the plain reset.
        .pagemap_scan(Enabled::Auto);
    p
}

/// Builds the engine. `auto` tries pooling and falls back to on-demand
/// allocation (with a warning) when the reservation fails, e.g. under a
/// tight `ulimit -v`.
pub(crate) fn build(rt: &RuntimeConfig, max_table_elements: usize) -> Result<(Engine, AllocatorKind)> {
    let on_demand = || {
        Engine::new(&base_config(rt))
            .map_err(|e| Error::Configuration(format!("cannot create the wasm engine: {e}")))
            .map(|e| (e, AllocatorKind::OnDemand))
    };
    let pooled = || {
        let mut c = base_config(rt);
        c.allocation_strategy(InstanceAllocationStrategy::Pooling(pooling(rt, max_table_elements)));
        Engine::new(&c)
    };
    match rt.allocator {
        Allocator::OnDemand => on_demand(),
        Allocator::Pooling => pooled()
            .map(|e| (e, AllocatorKind::Pooling))
            .map_err(|e| Error::Configuration(format!("pooling allocator unavailable: {e}"))),
        Allocator::Auto => match pooled() {
            Ok(e) => Ok((e, AllocatorKind::Pooling)),
            Err(e) => {
                tracing::warn!(error = %e, "pooling allocator unavailable (address space?); falling back to on-demand allocation");
                on_demand()
            }
        },
    }
}
