//! `scrm:plugin/kv`: a key-value store private to one plugin of one tenant, with
//! quotas. The namespace comes from the call's binding, never from the plugin, so a
//! plugin cannot name another tenant's or plugin's data.

use crate::bindings::scrm::plugin::kv::{self as wit, KvError};
use crate::storage::{KvBackend, StorageError, Usage};
use std::sync::Arc;
use wasmtime::component::{HasData, Linker};

/// Quotas of one namespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KvQuota {
    /// Most keys.
    pub max_keys: u64,
    /// Longest key, bytes.
    pub max_key_bytes: usize,
    /// Largest value, bytes.
    pub max_value_bytes: usize,
    /// Most bytes (keys and values) in all.
    pub max_total_bytes: u64,
}

impl Default for KvQuota {
    fn default() -> Self {
        KvQuota {
            max_keys: 10_000,
            max_key_bytes: 256,
            max_value_bytes: 64 << 10,
            max_total_bytes: 16 << 20,
        }
    }
}

/// Per-call key-value state: the namespace and the store.
#[derive(Debug, Clone)]
pub struct KvState {
    backend: Option<Arc<dyn KvBackend>>,
    tenant: String,
    plugin: String,
    quota: KvQuota,
}

impl KvState {
    /// The namespace of `plugin` (its name) for `tenant`. Without a backend (e.g. in
    /// benchmarks) every operation fails with a storage error.
    pub fn new(
        backend: Option<Arc<dyn KvBackend>>,
        tenant: &str,
        plugin: &str,
        quota: KvQuota,
    ) -> KvState {
        KvState {
            backend,
            tenant: tenant.to_string(),
            plugin: plugin.to_string(),
            quota,
        }
    }

    fn backend(&self) -> Result<&dyn KvBackend, KvError> {
        self.backend
            .as_deref()
            .ok_or_else(|| KvError::Storage("no key-value store in this context".into()))
    }

    fn check_key(&self, key: &str) -> Result<(), KvError> {
        if key.is_empty() || key.len() > self.quota.max_key_bytes {
            return Err(KvError::InvalidKey(format!(
                "keys must be 1..={} bytes",
                self.quota.max_key_bytes
            )));
        }
        Ok(())
    }
}

fn storage(e: StorageError) -> KvError {
    tracing::error!(error = %e, "plugin key-value store failed");
    KvError::Storage("the host's store failed; retry later".into())
}

impl wit::Host for KvState {
    fn get(&mut self, key: String) -> Result<Option<Vec<u8>>, KvError> {
        self.check_key(&key)?;
        self.backend()?
            .get(&self.tenant, &self.plugin, &key)
            .map_err(storage)
    }

    fn set(&mut self, key: String, value: Vec<u8>) -> Result<(), KvError> {
        self.check_key(&key)?;
        let q = self.quota;
        if value.len() > q.max_value_bytes {
            return Err(KvError::QuotaExceeded(format!(
                "value of {} bytes exceeds max_value_bytes {}",
                value.len(),
                q.max_value_bytes
            )));
        }
        let added = (key.len() + value.len()) as u64;
        let admit = |u: Usage| {
            if u.keys + 1 > q.max_keys {
                return Err(format!("max_keys {} reached", q.max_keys));
            }
            if u.bytes + added > q.max_total_bytes {
                return Err(format!(
                    "max_total_bytes {} would be exceeded",
                    q.max_total_bytes
                ));
            }
            Ok(())
        };
        self.backend()?
            .set_if(&self.tenant, &self.plugin, &key, &value, &admit)
            .map_err(storage)?
            .map_err(KvError::QuotaExceeded)
    }

    fn delete(&mut self, key: String) -> Result<(), KvError> {
        self.check_key(&key)?;
        self.backend()?
            .delete(&self.tenant, &self.plugin, &key)
            .map_err(storage)
    }

    fn list_keys(&mut self, prefix: String, limit: u32) -> Result<Vec<String>, KvError> {
        self.backend()?
            .keys(&self.tenant, &self.plugin, &prefix, limit.min(1000))
            .map_err(storage)
    }
}

struct Kv;

impl HasData for Kv {
    type Data<'a> = &'a mut KvState;
}

/// Adds `scrm:plugin/kv` to `linker`, reading state through `get`.
///
/// # Errors
/// When the interface is already defined in the linker.
pub fn add_to_linker<T: 'static>(
    linker: &mut Linker<T>,
    get: fn(&mut T) -> &mut KvState,
) -> wasmtime::Result<()> {
    wit::add_to_linker::<T, Kv>(linker, get)
}
