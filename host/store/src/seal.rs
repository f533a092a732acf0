//! Tenant secrets at rest: each value is sealed with XChaCha20-Poly1305 under the
//! host's secrets key, with its tenant and name as associated data, so a value
//! copied to another row does not open. The database holds only
//! `sealed:v1:<base64(nonce ‖ ciphertext)>`; the key stays outside it (an
//! environment variable or a file in the data directory).

use crate::StoreError;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use sha2::{Digest, Sha256};

/// What every sealed value starts with.
pub(crate) const PREFIX: &str = "sealed:v1:";
const NONCE: usize = 24;

/// The 32-byte key secrets are sealed with. Never printed.
#[derive(Clone)]
pub struct SecretsKey([u8; 32]);

impl std::fmt::Debug for SecretsKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SecretsKey({})", self.fingerprint())
    }
}

impl SecretsKey {
    /// A new random key.
    pub fn generate() -> SecretsKey {
        SecretsKey(XChaCha20Poly1305::generate_key(&mut OsRng).into())
    }

    /// A key written as base64 (44 characters) or hex (64 characters).
    ///
    /// # Errors
    /// A message saying what was expected, without echoing the text.
    pub fn from_text(text: &str) -> Result<SecretsKey, String> {
        let text = text.trim();
        let bytes = if text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit()) {
            hex::decode(text).map_err(|e| e.to_string())?
        } else {
            B64.decode(text).map_err(|_| {
                "a secrets key is 32 bytes in base64 (44 characters) or hex (64)".to_string()
            })?
        };
        let key: [u8; 32] = bytes
            .try_into()
            .map_err(|b: Vec<u8>| format!("a secrets key is 32 bytes, this one is {}", b.len()))?;
        Ok(SecretsKey(key))
    }

    /// The key as base64, for writing it to its file.
    pub fn to_text(&self) -> String {
        B64.encode(self.0)
    }

    /// A short public name for the key (16 hex digits of a hash of it): stored in
    /// the database so a host with another key is refused before it reads a secret.
    pub fn fingerprint(&self) -> String {
        let mut h = Sha256::new();
        h.update(b"scrm secrets key v1\0");
        h.update(self.0);
        hex::encode(&h.finalize()[..8])
    }

    fn cipher(&self) -> XChaCha20Poly1305 {
        XChaCha20Poly1305::new(&self.0.into())
    }
}

fn aad(tenant: &str, name: &str) -> Vec<u8> {
    [tenant.as_bytes(), b"\0", name.as_bytes()].concat()
}

/// `value` sealed for `tenant`'s secret `name`.
pub(crate) fn seal(key: &SecretsKey, tenant: &str, name: &str, value: &str) -> String {
    let nonce = XChaCha20Poly1305::generate_nonce(&mut OsRng);
    let sealed = key
        .cipher()
        .encrypt(
            &nonce,
            Payload {
                msg: value.as_bytes(),
                aad: &aad(tenant, name),
            },
        )
        .expect("XChaCha20-Poly1305 seals any length a database row holds");
    let mut out = nonce.to_vec();
    out.extend(sealed);
    format!("{PREFIX}{}", B64.encode(out))
}

/// Whether a stored value is sealed.
pub(crate) fn is_sealed(stored: &str) -> bool {
    stored.starts_with(PREFIX)
}

/// The value of a stored secret: opened when sealed, as it is when it predates
/// sealing (the host seals those at start).
///
/// # Errors
/// [`StoreError::Secrets`] when it is sealed and `key` is missing or cannot open it.
pub(crate) fn open(
    key: Option<&SecretsKey>,
    tenant: &str,
    name: &str,
    stored: &str,
) -> Result<String, StoreError> {
    let Some(body) = stored.strip_prefix(PREFIX) else {
        return Ok(stored.to_string());
    };
    let fail =
        |why: &str| StoreError::Secrets(format!("secret {name:?} of tenant {tenant:?}: {why}"));
    let key = key.ok_or_else(|| fail("sealed, and this host has no secrets key"))?;
    let bytes = B64
        .decode(body)
        .map_err(|_| fail("sealed value is not base64"))?;
    if bytes.len() < NONCE {
        return Err(fail("sealed value is too short"));
    }
    let (nonce, sealed) = bytes.split_at(NONCE);
    let plain = key
        .cipher()
        .decrypt(
            XNonce::from_slice(nonce),
            Payload {
                msg: sealed,
                aad: &aad(tenant, name),
            },
        )
        .map_err(|_| fail("cannot be opened with this host's secrets key"))?;
    String::from_utf8(plain).map_err(|_| fail("opened value is not UTF-8"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_value_opens_only_with_its_key_tenant_and_name() {
        let key = SecretsKey::generate();
        let sealed = seal(&key, "acme", "hubspot-token", "pat-na1-secret");
        assert!(sealed.starts_with(PREFIX) && !sealed.contains("pat-na1"));
        assert_ne!(
            sealed,
            seal(&key, "acme", "hubspot-token", "pat-na1-secret"),
            "fresh nonce"
        );
        assert_eq!(
            open(Some(&key), "acme", "hubspot-token", &sealed).unwrap(),
            "pat-na1-secret"
        );
        for (k, t, n) in [
            (Some(&SecretsKey::generate()), "acme", "hubspot-token"),
            (Some(&key), "zeta", "hubspot-token"),
            (Some(&key), "acme", "other"),
            (None, "acme", "hubspot-token"),
        ] {
            let e = open(k, t, n, &sealed).unwrap_err().to_string();
            assert!(e.contains("secret"), "{e}");
        }
        assert_eq!(open(None, "acme", "x", "plain").unwrap(), "plain");
    }

    #[test]
    fn keys_read_from_base64_or_hex_and_say_what_is_wrong() {
        let key = SecretsKey::generate();
        let again = SecretsKey::from_text(&key.to_text()).unwrap();
        assert_eq!(again.fingerprint(), key.fingerprint());
        let hex_key = SecretsKey::from_text(&hex::encode(key.0)).unwrap();
        assert_eq!(hex_key.fingerprint(), key.fingerprint());
        assert!(
            SecretsKey::from_text("short")
                .unwrap_err()
                .contains("32 bytes")
        );
        assert!(!format!("{key:?}").contains(&key.to_text()));
    }
}
