//! Errors of plugin installation and plugin calls. A call error names the tenant,
//! the plugin (name@version and component hash) and the cause, and has a stable
//! machine-readable code.

use std::fmt;

/// Which binding a call ran on, for error messages and logs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallSite {
    /// The tenant.
    pub tenant: String,
    /// `name@version`.
    pub plugin: String,
    /// The first 12 hex digits of the component's SHA-256.
    pub sha256: String,
}

impl fmt::Display for CallSite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "tenant {}, plugin {} (sha256 {})",
            self.tenant, self.plugin, self.sha256
        )
    }
}

/// Why a plugin call failed. The failure is that call's only.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    /// The call ran past its CPU deadline.
    #[error("{site}: timed out after {deadline_ms} ms")]
    Timeout {
        /// Where.
        site: CallSite,
        /// The deadline.
        deadline_ms: u64,
    },
    /// The call used up its instruction budget.
    #[error("{site}: instruction budget of {fuel} exhausted")]
    FuelExhausted {
        /// Where.
        site: CallSite,
        /// The budget.
        fuel: u64,
    },
    /// The binding is quarantined after repeated faults; the call was skipped.
    #[error("{site}: quarantined ({reason}); install a new version or re-enable it")]
    Quarantined {
        /// Where.
        site: CallSite,
        /// Why it was quarantined.
        reason: String,
    },
    /// The instance tried to grow its memory past the cap.
    #[error("{site}: memory cap of {cap_mib} MiB exceeded")]
    MemoryCap {
        /// Where.
        site: CallSite,
        /// The cap.
        cap_mib: u32,
    },
    /// The guest panicked or hit another trap.
    #[error("{site}: trapped: {cause}")]
    Trap {
        /// Where.
        site: CallSite,
        /// The trap, with the guest's panic message when it printed one.
        cause: String,
    },
    /// The guest said its configuration is not usable (its `invalid-config` error).
    #[error("{site}: plugin error: invalid config: {message}")]
    InvalidConfig {
        /// Where.
        site: CallSite,
        /// What the plugin said.
        message: String,
    },
    /// The guest returned an error value.
    #[error("{site}: plugin error: {message}")]
    Guest {
        /// Where.
        site: CallSite,
        /// What the plugin said.
        message: String,
    },
    /// The guest returned more than the output cap.
    #[error("{site}: output of {size} bytes exceeds the cap of {cap} bytes")]
    OutputTooLarge {
        /// Where.
        site: CallSite,
        /// Size of the output.
        size: usize,
        /// The cap.
        cap: usize,
    },
}

impl CallError {
    /// True for faults that count towards quarantine: traps and limit hits (not
    /// errors the plugin returned on purpose, nor skipped calls).
    pub fn is_fault(&self) -> bool {
        !matches!(
            self,
            CallError::Guest { .. }
                | CallError::InvalidConfig { .. }
                | CallError::Quarantined { .. }
        )
    }

    /// A stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            CallError::Timeout { .. } => "plugin_timeout",
            CallError::FuelExhausted { .. } => "plugin_fuel_exhausted",
            CallError::Quarantined { .. } => "plugin_quarantined",
            CallError::MemoryCap { .. } => "plugin_memory_cap",
            CallError::Trap { .. } => "plugin_trap",
            // The same code as other plugin errors: what messages and metrics
            // recorded before the two were told apart stays comparable.
            CallError::Guest { .. } | CallError::InvalidConfig { .. } => "plugin_error",
            CallError::OutputTooLarge { .. } => "plugin_output_too_large",
        }
    }
}

/// Why a component cannot be installed.
#[derive(Debug, thiserror::Error)]
pub enum InstallError {
    /// The bytes are not a WebAssembly component (a core module, or garbage).
    #[error("not a WebAssembly component: {0}")]
    NotAComponent(String),
    /// The component does not implement a world this host supports.
    #[error(
        "component does not implement a scrm:plugin world this host supports ({supported}): {reason}"
    )]
    WrongWorld {
        /// The worlds the host accepts.
        supported: String,
        /// What did not match.
        reason: String,
    },
    /// The component was built against a version of the WIT package this host does
    /// not load (see [`crate::contract`]).
    #[error("incompatible WIT version: {0}")]
    WitVersion(crate::contract::ContractError),
    /// The component implements a world that does not fit the requested slot.
    #[error("component implements {world}, which does not fit slot {slot}")]
    WrongSlot {
        /// The component's world.
        world: String,
        /// The slot asked for.
        slot: String,
    },
    /// Reading or writing the component store failed.
    #[error("component storage failed: {0}")]
    Io(#[from] std::io::Error),
}

impl From<crate::contract::ContractError> for InstallError {
    fn from(e: crate::contract::ContractError) -> InstallError {
        use crate::contract::ContractError as C;
        match e {
            C::NotWasm | C::CoreModule | C::Malformed(_) => {
                InstallError::NotAComponent(e.to_string())
            }
            C::OtherWorld { .. } => InstallError::WrongWorld {
                supported: crate::contract::supported_worlds(),
                reason: e.to_string(),
            },
            C::UnknownVersion { .. } | C::MixedVersions(_) | C::NotInVersion { .. } => {
                InstallError::WitVersion(e)
            }
        }
    }
}
