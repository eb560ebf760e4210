//! Per-call resource limits, counted across *all* memories and tables of the
//! store (wasmtime's `StoreLimits` counts per memory, so a two-memory
//! component would get twice the budget).

use toolhost_core::error::Resource;
use wasmtime::ResourceLimiter;

/// What the limiter refused, kept so a later trap is reported as exhaustion.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Denial {
    pub resource: Resource,
    pub limit: u64,
    pub requested: u64,
}

#[derive(Debug)]
pub(crate) struct CallLimiter {
    max_memory: u64,
    max_table_elements: u64,
    max_instances: usize,
    memory_total: u64,
    memory_peak: u64,
    table_total: u64,
    pub denial: Option<Denial>,
}

impl CallLimiter {
    pub(crate) fn new(max_memory: u64, max_table_elements: u64, max_instances: u32) -> Self {
        CallLimiter {
            max_memory,
            max_table_elements,
            max_instances: max_instances as usize,
            memory_total: 0,
            memory_peak: 0,
            table_total: 0,
            denial: None,
        }
    }

    /// Highest total linear memory seen in this store, bytes.
    pub(crate) fn memory_peak(&self) -> u64 {
        self.memory_peak
    }

    fn deny(&mut self, resource: Resource, limit: u64, requested: u64) -> bool {
        if self.denial.is_none() {
            self.denial = Some(Denial { resource, limit, requested });
        }
        false
    }
}

impl ResourceLimiter for CallLimiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let total = self.memory_total - current as u64 + desired as u64;
        if total > self.max_memory {
            return Ok(self.deny(Resource::Memory, self.max_memory, total));
        }
        self.memory_total = total;
        self.memory_peak = self.memory_peak.max(total);
        Ok(true)
    }

    fn memory_grow_failed(&mut self, _error: wasmtime::Error) -> wasmtime::Result<()> {
        // The guest sees a normal failed `memory.grow` (-1); the instance stays usable.
        Ok(())
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let total = self.table_total - current as u64 + desired as u64;
        if total > self.max_table_elements {
            return Ok(self.deny(Resource::Table, self.max_table_elements, total));
        }
        self.table_total = total;
        Ok(true)
    }

    fn instances(&self) -> usize {
        self.max_instances
    }

    fn tables(&self) -> usize {
        self.max_instances
    }

    fn memories(&self) -> usize {
        self.max_instances
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_is_totalled_across_memories() {
        let mut l = CallLimiter::new(100, 10, 4);
        assert!(l.memory_growing(0, 60, None).unwrap());
        // A second memory may not take the total past the limit.
        assert!(!l.memory_growing(0, 60, None).unwrap());
        assert_eq!(l.denial.unwrap().resource, Resource::Memory);
        // Growing the first memory within the limit still works.
        assert!(l.memory_growing(60, 90, None).unwrap());
        assert_eq!(l.memory_peak(), 90);
    }

    #[test]
    fn tables_are_totalled() {
        let mut l = CallLimiter::new(100, 10, 4);
        assert!(l.table_growing(0, 6, None).unwrap());
        assert!(!l.table_growing(0, 6, None).unwrap());
        assert_eq!(l.denial.unwrap().resource, Resource::Table);
    }
}
