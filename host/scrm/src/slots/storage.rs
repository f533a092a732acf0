//! The engine's storage traits over the host's database: plugins' key-value data
//! and tenants' secrets, read and written on the calling (blocking) thread.

use scrm_engine::storage::{KvBackend, SecretSource, StorageError, Usage};
use scrm_store::{Db, SecretString, StoreError, kv, secrets};

/// Plugin storage in the host's database.
#[derive(Debug, Clone)]
pub struct DbStorage(pub Db);

fn failed(e: StoreError) -> StorageError {
    StorageError(e.to_string())
}

impl KvBackend for DbStorage {
    fn get(&self, tenant: &str, plugin: &str, key: &str) -> Result<Option<Vec<u8>>, StorageError> {
        self.0
            .read_blocking(|c| kv::get(c, tenant, plugin, key))
            .map_err(failed)
    }

    fn set_if(
        &self,
        tenant: &str,
        plugin: &str,
        key: &str,
        value: &[u8],
        admit: &dyn Fn(Usage) -> Result<(), String>,
    ) -> Result<Result<(), String>, StorageError> {
        self.0
            .write_blocking(|c| {
                let tx = c.transaction()?;
                let (keys, bytes) = kv::usage(&tx, tenant, plugin, key)?;
                if let Err(refused) = admit(Usage { keys, bytes }) {
                    return Ok(Err(refused));
                }
                kv::set(&tx, tenant, plugin, key, value)?;
                tx.commit()?;
                Ok(Ok(()))
            })
            .map_err(failed)
    }

    fn delete(&self, tenant: &str, plugin: &str, key: &str) -> Result<(), StorageError> {
        self.0
            .write_blocking(|c| kv::delete(c, tenant, plugin, key))
            .map_err(failed)
    }

    fn keys(
        &self,
        tenant: &str,
        plugin: &str,
        prefix: &str,
        limit: u32,
    ) -> Result<Vec<String>, StorageError> {
        self.0
            .read_blocking(|c| kv::keys(c, tenant, plugin, prefix, limit))
            .map_err(failed)
    }
}

impl SecretSource for DbStorage {
    fn secret(&self, tenant: &str, name: &str) -> Result<Option<SecretString>, StorageError> {
        self.0
            .read_blocking(|c| secrets::get(c, tenant, name))
            .map(|v| v.map(SecretString::from))
            .map_err(failed)
    }

    fn all(&self, tenant: &str) -> Result<Vec<(String, SecretString)>, StorageError> {
        self.0
            .read_blocking(|c| secrets::all(c, tenant))
            .map_err(failed)
    }
}
