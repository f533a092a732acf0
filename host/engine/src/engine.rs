//! The one wasmtime [`Engine`] of the process: pooling allocator, copy-on-write
//! memory images, and epoch interruption driven by a ticker thread.
//!
//! Every call runs in a fresh instance, so what dominates its cost is setting up
//! and tearing down the instance's memory. Where Linux offers the `PAGEMAP_SCAN`
//! ioctl (6.7+), a slot's pages stay resident between instances and only the pages
//! the last instance wrote are restored: no page faults on the next call, and no
//! `madvise` (with its TLB shootdown) on teardown. Elsewhere slots are reset with
//! `madvise`, as wasmtime does by default.

use crate::limits::PluginLimits;
use std::time::Duration;
use wasmtime::{Config, Enabled, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

/// Bytes of each pooled memory and table slot kept resident between instances
/// (only the pages an instance dirtied are restored, see the module docs). Small
/// guests fit entirely; larger ones have the rest reset with `madvise`.
pub const KEEP_RESIDENT: usize = 1 << 20;

/// How often the epoch advances; CPU deadlines are counted in these ticks.
pub const EPOCH_TICK: Duration = Duration::from_millis(2);

/// Builds the engine for `limits` and starts its epoch ticker.
///
/// # Errors
/// When wasmtime rejects the configuration (e.g. the pool cannot be reserved).
pub fn build(limits: &PluginLimits) -> wasmtime::Result<Engine> {
    let mut pool = PoolingAllocationConfig::default();
    let max_memory = (limits.max_memory_mib as usize) << 20;
    pool.max_memory_size(max_memory)
        .total_component_instances(1000)
        .total_core_instances(4000)
        .total_memories(2000)
        .total_tables(4000)
        .total_stacks(1000)
        .max_core_instances_per_component(64)
        .max_memories_per_component(16)
        .max_tables_per_component(64)
        .table_elements(100_000)
        .max_core_instance_size(8 << 20)
        .max_component_instance_size(8 << 20);
    if PoolingAllocationConfig::is_pagemap_scan_available() {
        // Without the scan, keeping pages resident means a `memset` of all of them
        // per call, which costs more than the page faults it saves.
        pool.pagemap_scan(Enabled::Yes)
            .linear_memory_keep_resident(KEEP_RESIDENT)
            .table_keep_resident(KEEP_RESIDENT);
    }
    let mut config = Config::new();
    config
        .wasm_component_model(true)
        .epoch_interruption(true)
        .consume_fuel(true)
        .memory_init_cow(true)
        // Deep recursion becomes a stack-overflow trap well before the host's stack.
        .max_wasm_stack(1 << 20)
        .allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    let engine = Engine::new(&config)?;
    spawn_ticker(&engine);
    Ok(engine)
}

/// Advances the engine's epoch every [`EPOCH_TICK`] until the engine is dropped.
fn spawn_ticker(engine: &Engine) {
    let weak = engine.weak();
    std::thread::Builder::new()
        .name("scrm-epoch".into())
        .spawn(move || {
            while let Some(engine) = weak.upgrade() {
                engine.increment_epoch();
                drop(engine);
                std::thread::sleep(EPOCH_TICK);
            }
        })
        .expect("spawn epoch ticker thread");
}

/// Ticks to allow for a deadline of `ms` milliseconds (at least one).
pub fn deadline_ticks(ms: u64) -> u64 {
    ms.div_ceil(EPOCH_TICK.as_millis() as u64).max(1)
}
