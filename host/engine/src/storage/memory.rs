//! Storage kept in memory, for local runs of a plugin (`scrm plugin run`) and
//! tests: the key-value data lives as long as the process, and the secrets come from
//! a map the caller reads from a local file. The engine's capabilities apply the
//! same quotas and policies over them as over the host's database.

use super::{KvBackend, SecretSource, StorageError, Usage};
use secrecy::SecretString;
use std::collections::BTreeMap;
use std::sync::Mutex;

/// `(tenant, plugin, key)`.
type Key = (String, String, String);

/// Key-value data in memory.
#[derive(Debug, Default)]
pub struct MemoryKv {
    data: Mutex<BTreeMap<Key, Vec<u8>>>,
}

impl MemoryKv {
    fn data(&self) -> std::sync::MutexGuard<'_, BTreeMap<Key, Vec<u8>>> {
        self.data.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Every key of `plugin` for `tenant`, with its value, in order.
    pub fn entries(&self, tenant: &str, plugin: &str) -> Vec<(String, Vec<u8>)> {
        self.data()
            .iter()
            .filter(|((t, p, _), _)| t == tenant && p == plugin)
            .map(|((_, _, k), v)| (k.clone(), v.clone()))
            .collect()
    }
}

fn key(tenant: &str, plugin: &str, key: &str) -> Key {
    (tenant.to_string(), plugin.to_string(), key.to_string())
}

impl KvBackend for MemoryKv {
    fn get(&self, tenant: &str, plugin: &str, k: &str) -> Result<Option<Vec<u8>>, StorageError> {
        Ok(self.data().get(&key(tenant, plugin, k)).cloned())
    }

    fn set_if(
        &self,
        tenant: &str,
        plugin: &str,
        k: &str,
        value: &[u8],
        admit: &dyn Fn(Usage) -> Result<(), String>,
    ) -> Result<Result<(), String>, StorageError> {
        let mut data = self.data();
        let mut usage = Usage::default();
        for ((t, p, other), v) in data.iter() {
            if t == tenant && p == plugin && other != k {
                usage.keys += 1;
                usage.bytes += (other.len() + v.len()) as u64;
            }
        }
        if let Err(refused) = admit(usage) {
            return Ok(Err(refused));
        }
        data.insert(key(tenant, plugin, k), value.to_vec());
        Ok(Ok(()))
    }

    fn delete(&self, tenant: &str, plugin: &str, k: &str) -> Result<(), StorageError> {
        self.data().remove(&key(tenant, plugin, k));
        Ok(())
    }

    fn keys(
        &self,
        tenant: &str,
        plugin: &str,
        prefix: &str,
        limit: u32,
    ) -> Result<Vec<String>, StorageError> {
        Ok(self
            .entries(tenant, plugin)
            .into_iter()
            .map(|(k, _)| k)
            .filter(|k| k.starts_with(prefix))
            .take(limit as usize)
            .collect())
    }
}

/// Secrets from a map, the same for every tenant.
#[derive(Debug, Default)]
pub struct MemorySecrets {
    secrets: BTreeMap<String, SecretString>,
}

impl MemorySecrets {
    /// Secrets by name.
    pub fn new(secrets: impl IntoIterator<Item = (String, SecretString)>) -> MemorySecrets {
        MemorySecrets {
            secrets: secrets.into_iter().collect(),
        }
    }
}

impl SecretSource for MemorySecrets {
    fn secret(&self, _tenant: &str, name: &str) -> Result<Option<SecretString>, StorageError> {
        Ok(self.secrets.get(name).cloned())
    }

    fn all(&self, _tenant: &str) -> Result<Vec<(String, SecretString)>, StorageError> {
        Ok(self
            .secrets
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    #[test]
    fn usage_counts_other_keys_of_the_same_namespace_only() {
        let kv = MemoryKv::default();
        let ok = |_: Usage| Ok(());
        kv.set_if("t", "p", "a", b"12", &ok).unwrap().unwrap();
        kv.set_if("t", "other", "b", b"1234", &ok).unwrap().unwrap();
        let seen = Mutex::new(Usage::default());
        let record = |u: Usage| {
            *seen.lock().unwrap() = u;
            Err("full".to_string())
        };
        assert_eq!(
            kv.set_if("t", "p", "c", b"x", &record).unwrap(),
            Err("full".into())
        );
        assert_eq!(*seen.lock().unwrap(), Usage { keys: 1, bytes: 3 });
        assert_eq!(kv.get("t", "p", "c").unwrap(), None);
        assert_eq!(kv.keys("t", "p", "", 10).unwrap(), ["a"]);
        kv.delete("t", "p", "a").unwrap();
        assert!(kv.entries("t", "p").is_empty());
    }

    #[test]
    fn secrets_are_found_by_name() {
        let s = MemorySecrets::new([("token".to_string(), SecretString::from("s3cret"))]);
        assert_eq!(
            s.secret("any", "token").unwrap().unwrap().expose_secret(),
            "s3cret"
        );
        assert!(s.secret("any", "missing").unwrap().is_none());
    }
}
