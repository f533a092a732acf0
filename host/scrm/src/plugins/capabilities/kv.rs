//! `scrm:plugin/kv`: a key-value store private to one plugin of one tenant, with
//! quotas. The namespace comes from the call's binding, never from the plugin, so a
//! plugin cannot name another tenant's or plugin's data.

use crate::plugins::bindings::scrm::plugin::kv::{self as wit, KvError};
use scrm_store::{Db, kv};
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
    db: Option<Db>,
    tenant: String,
    plugin: String,
    quota: KvQuota,
}

impl KvState {
    /// The namespace of `plugin` (its name) for `tenant`. Without a database (e.g. in
    /// benchmarks) every operation fails with a storage error.
    pub fn new(db: Option<Db>, tenant: &str, plugin: &str, quota: KvQuota) -> KvState {
        KvState {
            db,
            tenant: tenant.to_string(),
            plugin: plugin.to_string(),
            quota,
        }
    }

    fn db(&self) -> Result<&Db, KvError> {
        self.db
            .as_ref()
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

fn storage(e: scrm_store::StoreError) -> KvError {
    tracing::error!(error = %e, "plugin key-value store failed");
    KvError::Storage("the host's store failed; retry later".into())
}

impl wit::Host for KvState {
    fn get(&mut self, key: String) -> Result<Option<Vec<u8>>, KvError> {
        self.check_key(&key)?;
        let (t, p) = (&self.tenant, &self.plugin);
        self.db()?
            .read_blocking(|c| kv::get(c, t, p, &key))
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
        let (t, p) = (self.tenant.clone(), self.plugin.clone());
        let outcome = self.db()?.write_blocking(|c| {
            let tx = c.transaction()?;
            let (keys, bytes) = kv::usage(&tx, &t, &p, &key)?;
            if keys + 1 > q.max_keys {
                return Ok(Err(KvError::QuotaExceeded(format!(
                    "max_keys {} reached",
                    q.max_keys
                ))));
            }
            if bytes + (key.len() + value.len()) as u64 > q.max_total_bytes {
                return Ok(Err(KvError::QuotaExceeded(format!(
                    "max_total_bytes {} would be exceeded",
                    q.max_total_bytes
                ))));
            }
            kv::set(&tx, &t, &p, &key, &value)?;
            tx.commit()?;
            Ok(Ok(()))
        });
        outcome.map_err(storage)?
    }

    fn delete(&mut self, key: String) -> Result<(), KvError> {
        self.check_key(&key)?;
        let (t, p) = (&self.tenant, &self.plugin);
        self.db()?
            .write_blocking(|c| kv::delete(c, t, p, &key))
            .map_err(storage)
    }

    fn list_keys(&mut self, prefix: String, limit: u32) -> Result<Vec<String>, KvError> {
        let (t, p) = (&self.tenant, &self.plugin);
        self.db()?
            .read_blocking(|c| kv::keys(c, t, p, &prefix, limit.min(1000)))
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
