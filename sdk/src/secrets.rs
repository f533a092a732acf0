//! Keyed hashes with the tenant's secrets (connector world only): check a CRM
//! webhook's signature without the secret ever entering the plugin. The binding's
//! policy must list the secret under `secrets`.

use crate::connector::scrm::plugin::secrets;

/// HMAC-SHA256 of `data` keyed with the tenant secret named `name`.
///
/// # Errors
/// The host's reason: no such secret, or the policy does not list it.
pub fn hmac_sha256(name: &str, data: &[u8]) -> Result<Vec<u8>, String> {
    secrets::hmac_sha256(name, data)
}

/// Whether `expected` (for example a decoded signature header) is the HMAC-SHA256 of
/// `data` keyed with the tenant secret `name`, compared in constant time.
///
/// # Errors
/// As [`hmac_sha256`].
pub fn hmac_sha256_matches(name: &str, data: &[u8], expected: &[u8]) -> Result<bool, String> {
    let mac = hmac_sha256(name, data)?;
    Ok(mac.len() == expected.len()
        && mac
            .iter()
            .zip(expected)
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0)
}
