//! `scrm:plugin/secrets`: HMAC-SHA256 keyed with a tenant secret, so a connector can
//! check a CRM webhook's signature without ever holding the secret. A binding may use
//! only the secrets its policy lists under `secrets`; the secret is read from the store
//! on use, not per call.

use crate::bindings::scrm::plugin::secrets as wit;
use crate::storage::SecretSource;
use hmac::{Hmac, Mac};
use secrecy::ExposeSecret;
use sha2::Sha256;
use wasmtime::component::{HasData, Linker};

/// Per-call state: whose secrets, and which of them the binding may use.
#[derive(Debug, Clone)]
pub struct SecretsState {
    source: Option<std::sync::Arc<dyn SecretSource>>,
    tenant: String,
    allowed: std::sync::Arc<[String]>,
}

impl SecretsState {
    /// The state for one call of a binding of `tenant` allowed to use `allowed`.
    pub fn new(
        source: Option<std::sync::Arc<dyn SecretSource>>,
        tenant: &str,
        allowed: std::sync::Arc<[String]>,
    ) -> SecretsState {
        SecretsState {
            source,
            tenant: tenant.to_string(),
            allowed,
        }
    }
}

impl wit::Host for SecretsState {
    fn hmac_sha256(&mut self, name: String, data: Vec<u8>) -> Result<Vec<u8>, String> {
        if !self.allowed.contains(&name) {
            return Err(format!(
                "secret {name:?} is not listed in this binding's policy (\"secrets\")"
            ));
        }
        let Some(source) = &self.source else {
            return Err("this host has no secret store".into());
        };
        let tenant = &self.tenant;
        let value = source
            .secret(tenant, &name)
            .map_err(|e| format!("cannot read secret {name:?}: {e}"))?
            .ok_or_else(|| format!("tenant {tenant:?} has no secret {name:?}"))?;
        let mut mac = Hmac::<Sha256>::new_from_slice(value.expose_secret().as_bytes())
            .map_err(|e| format!("secret {name:?} cannot key an HMAC: {e}"))?;
        mac.update(&data);
        Ok(mac.finalize().into_bytes().to_vec())
    }
}

struct Secrets;

impl HasData for Secrets {
    type Data<'a> = &'a mut SecretsState;
}

/// Adds `scrm:plugin/secrets` to `linker`, reading state through `get`.
///
/// # Errors
/// When the interface is already defined in the linker.
pub fn add_to_linker<T: 'static>(
    linker: &mut Linker<T>,
    get: fn(&mut T) -> &mut SecretsState,
) -> wasmtime::Result<()> {
    wit::add_to_linker::<T, Secrets>(linker, get)
}
