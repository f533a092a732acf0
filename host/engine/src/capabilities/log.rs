//! `scrm:plugin/log`: structured records from plugins into `tracing`, tagged with
//! tenant, plugin and version, with a per-call budget so a chatty plugin cannot
//! flood the host's log.

use crate::bindings::scrm::plugin::log::{self as wit, Level};
use wasmtime::component::{HasData, Linker};

/// Per-call logging state.
#[derive(Debug)]
pub struct LogState {
    tenant: String,
    plugin: String,
    remaining: u32,
    dropped: u32,
}

impl LogState {
    /// State for one call of `plugin` (name@version) for `tenant`, allowing `budget` records.
    pub fn new(tenant: &str, plugin: &str, budget: u32) -> LogState {
        LogState {
            tenant: tenant.to_string(),
            plugin: plugin.to_string(),
            remaining: budget,
            dropped: 0,
        }
    }

    /// Records dropped because the budget ran out.
    pub fn dropped(&self) -> u32 {
        self.dropped
    }
}

impl wit::Host for LogState {
    fn write(&mut self, level: Level, message: String, fields: Vec<(String, String)>) {
        if self.remaining == 0 {
            self.dropped += 1;
            return;
        }
        self.remaining -= 1;
        // Cap what one record can put in the log.
        let message: String = message.chars().take(2048).collect();
        let fields = fields
            .iter()
            .take(16)
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(" ");
        let (tenant, plugin) = (&self.tenant, &self.plugin);
        match level {
            Level::Trace => {
                tracing::trace!(target: "scrm.plugin", tenant, plugin, fields, "{message}")
            }
            Level::Debug => {
                tracing::debug!(target: "scrm.plugin", tenant, plugin, fields, "{message}")
            }
            Level::Info => {
                tracing::info!(target: "scrm.plugin", tenant, plugin, fields, "{message}")
            }
            Level::Warn => {
                tracing::warn!(target: "scrm.plugin", tenant, plugin, fields, "{message}")
            }
            Level::Error => {
                tracing::error!(target: "scrm.plugin", tenant, plugin, fields, "{message}")
            }
        }
    }
}

struct Log;

impl HasData for Log {
    type Data<'a> = &'a mut LogState;
}

/// Adds `scrm:plugin/log` to `linker`, reading state through `get`.
///
/// # Errors
/// When the interface is already defined in the linker.
pub fn add_to_linker<T: 'static>(
    linker: &mut Linker<T>,
    get: fn(&mut T) -> &mut LogState,
) -> wasmtime::Result<()> {
    wit::add_to_linker::<T, Log>(linker, get)
}
