//! The plugin's private key-value store (per tenant and plugin; quotas set by the
//! host operator).

use crate::classifier::scrm::plugin::kv as host;

pub use host::KvError;

/// The value stored under `key`, if any.
///
/// # Errors
/// [`KvError`] when the key is invalid or the host's store failed.
pub fn get(key: &str) -> Result<Option<Vec<u8>>, KvError> {
    host::get(key)
}

/// Stores `value` under `key`.
///
/// # Errors
/// [`KvError::QuotaExceeded`] when a quota would be exceeded, and as [`get`].
pub fn set(key: &str, value: &[u8]) -> Result<(), KvError> {
    host::set(key, value)
}

/// Removes `key`.
///
/// # Errors
/// As [`get`].
pub fn delete(key: &str) -> Result<(), KvError> {
    host::delete(key)
}

/// Keys starting with `prefix`, sorted, at most `limit`.
///
/// # Errors
/// As [`get`].
pub fn list_keys(prefix: &str, limit: u32) -> Result<Vec<String>, KvError> {
    host::list_keys(prefix, limit)
}
