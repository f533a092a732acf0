//! Limits of plugin calls: the host's defaults and a binding's overrides within the
//! host's maxima. The host's configuration file embeds [`PluginLimits`] as its
//! `[plugins]` table.

use serde::Deserialize;

/// Limits applied to every plugin call unless a binding overrides them.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct PluginLimits {
    /// CPU deadline of one call, in milliseconds.
    pub deadline_ms: u64,
    /// Instruction budget of one call (wasmtime fuel units, ≈ one per instruction).
    pub fuel: u64,
    /// Memory cap of one instance (all its memories and tables), in MiB.
    pub memory_mib: u32,
    /// Largest memory cap a binding may ask for, in MiB (sizes the instance pool).
    pub max_memory_mib: u32,
    /// Log records a call may write before the rest are dropped.
    pub log_records_per_call: u32,
    /// Largest answer a call may return, in KiB of JSON.
    pub output_kib: u32,
    /// Consecutive faults (traps, limit hits) after which a binding is quarantined.
    pub quarantine_after: u32,
    /// Whether each call gets a fresh instance or one from the binding's warm pool.
    pub isolation: Isolation,
}

/// How a binding's calls get their instance.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Isolation {
    /// A fresh instance per call, discarded after it: nothing a call leaves in the
    /// plugin's memory reaches the next. Cheap for Rust guests (≈ 15 µs).
    #[default]
    Fresh,
    /// Instances kept warm in a pool per binding and reused: each call's fuel,
    /// deadline, log budget and HTTP request count start afresh, but the guest's
    /// memory (its globals, caches) carries over to the next message of the same
    /// binding. An instance is discarded after any error and after
    /// [`WARM_USES`] calls. For JavaScript and Python guests, whose start-up
    /// dominates a fresh call.
    Warm,
}

/// Calls a warm instance serves before it is replaced.
pub const WARM_USES: u32 = 10_000;

impl Default for PluginLimits {
    fn default() -> Self {
        PluginLimits {
            deadline_ms: 200,
            fuel: 2_000_000_000,
            memory_mib: 64,
            max_memory_mib: 256,
            log_records_per_call: 32,
            output_kib: 64,
            quarantine_after: 5,
            isolation: Isolation::Fresh,
        }
    }
}

/// Limits one binding sets for itself, within the host's maxima.
#[derive(Debug, Clone, Copy, Default, Deserialize, serde::Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct LimitOverrides {
    /// CPU deadline, ms.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deadline_ms: Option<u64>,
    /// Instruction budget.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fuel: Option<u64>,
    /// Memory cap, MiB.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memory_mib: Option<u32>,
    /// Output cap, KiB.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output_kib: Option<u32>,
    /// Log records per call.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_records_per_call: Option<u32>,
    /// `fresh` (the default) or `warm`: see [`Isolation`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub isolation: Option<Isolation>,
}

impl PluginLimits {
    /// These limits with a binding's overrides applied.
    ///
    /// # Errors
    /// When an override is out of range; the message names it.
    pub fn with(&self, o: &LimitOverrides) -> Result<PluginLimits, String> {
        let merged = PluginLimits {
            deadline_ms: o.deadline_ms.unwrap_or(self.deadline_ms),
            fuel: o.fuel.unwrap_or(self.fuel),
            memory_mib: o.memory_mib.unwrap_or(self.memory_mib),
            output_kib: o.output_kib.unwrap_or(self.output_kib),
            log_records_per_call: o.log_records_per_call.unwrap_or(self.log_records_per_call),
            isolation: o.isolation.unwrap_or(self.isolation),
            ..*self
        };
        merged.check()?;
        Ok(merged)
    }

    fn check(&self) -> Result<(), String> {
        if !(1..=60_000).contains(&self.deadline_ms) {
            return Err(format!(
                "deadline_ms must be 1..=60000, got {}",
                self.deadline_ms
            ));
        }
        if self.fuel == 0 {
            return Err("fuel must be > 0".into());
        }
        if !(1..=4096).contains(&self.max_memory_mib) {
            return Err(format!(
                "max_memory_mib must be 1..=4096, got {}",
                self.max_memory_mib
            ));
        }
        if self.memory_mib == 0 || self.memory_mib > self.max_memory_mib {
            return Err(format!(
                "memory_mib must be 1..={} (max_memory_mib), got {}",
                self.max_memory_mib, self.memory_mib
            ));
        }
        if self.output_kib == 0 {
            return Err("output_kib must be > 0".into());
        }
        if self.quarantine_after == 0 {
            return Err("quarantine_after must be > 0".into());
        }
        Ok(())
    }
}
