//! The engine's storage traits over the host's database: plugins' key-value data
//! and tenants' secrets, read and written on the calling (blocking) thread.

use scrm_engine::storage::{KvBackend, SecretSource, StorageError, Usage};
use scrm_store::{Db, SecretString, StoreError};

/// Plugin storage in the host's database.
#[derive(Debug, Clone)]
pub struct DbStorage(pub Db);

fn failed(e: StoreError) -> StorageError {
    StorageError(e.to_string())
}

impl KvBackend for DbStorage {
    fn get(&self, tenant: &str, plugin: &str, key: &str) -> Result<Option<Vec<u8>>, StorageError> {
        self.0
            .read_blocking(|c| scrm_store::KvRepo::get(c, tenant, plugin, key))
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
                scrm_store::transaction_if(c, |tx| {
                    let (keys, bytes) = scrm_store::KvRepo::usage(tx, tenant, plugin, key)?;
                    if let Err(refused) = admit(Usage { keys, bytes }) {
                        return Ok(Err(refused));
                    }
                    scrm_store::KvRepo::set(tx, tenant, plugin, key, value)?;
                    Ok(Ok(()))
                })
            })
            .map_err(failed)
    }

    fn delete(&self, tenant: &str, plugin: &str, key: &str) -> Result<(), StorageError> {
        self.0
            .write_blocking(|c| scrm_store::KvRepo::delete(c, tenant, plugin, key))
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
            .read_blocking(|c| scrm_store::KvRepo::keys(c, tenant, plugin, prefix, limit))
            .map_err(failed)
    }
}

impl SecretSource for DbStorage {
    fn secret(&self, tenant: &str, name: &str) -> Result<Option<SecretString>, StorageError> {
        self.0
            .read_blocking(|c| scrm_store::SecretRepo::get(c, tenant, name))
            .map(|v| v.map(SecretString::from))
            .map_err(failed)
    }

    fn all(&self, tenant: &str) -> Result<Vec<(String, SecretString)>, StorageError> {
        self.0
            .read_blocking(|c| scrm_store::SecretRepo::all(c, tenant))
            .map_err(failed)
    }

    fn credential(
        &self,
        tenant: &str,
        name: &str,
        refused: Option<&SecretString>,
    ) -> Result<Option<SecretString>, StorageError> {
        use secrecy::ExposeSecret;
        let refused = refused.map(|r| r.expose_secret().to_string());
        super::oauth::credential(&self.0, tenant, name, refused.as_deref()).map_err(failed)
    }
}
