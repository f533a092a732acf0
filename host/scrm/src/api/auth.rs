//! The operator's bearer token for `/v1/` (tenant tokens: `super::access`).
//!
//! Either configured (`admin_token` / `SCRM_ADMIN_TOKEN`), or generated at first
//! start, printed once, and kept only as its SHA-256 in the store.

use crate::config::SecretString;
use secrecy::ExposeSecret;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// How the operator token is checked.
#[derive(Debug, Clone)]
pub enum AdminAuth {
    /// Compare with this configured token.
    Configured(SecretString),
    /// Compare the SHA-256 of the presented token with this stored hash.
    Hashed([u8; 32]),
}

impl AdminAuth {
    /// True when `presented` is the operator token (constant time).
    pub fn accepts(&self, presented: &str) -> bool {
        match self {
            AdminAuth::Configured(t) => {
                let (a, b) = (Sha256::digest(presented), Sha256::digest(t.expose_secret()));
                a.ct_eq(&b).into()
            }
            AdminAuth::Hashed(h) => Sha256::digest(presented).as_slice().ct_eq(h).into(),
        }
    }
}
