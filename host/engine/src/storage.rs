//! What the engine needs from the host's storage, as traits: the plugins' key-value
//! data and the tenants' secrets. The host implements them over its database; the
//! engine links no database driver, the way Spin's key-value factor takes a backend.
//!
//! Without a backend (benchmarks) the capabilities answer with a storage error
//! instead of touching anything; [`memory`] keeps both in memory for local runs of a
//! plugin (`scrm plugin run`).

use secrecy::SecretString;

pub mod memory;

/// A backend failure. The message is logged by the engine, never shown to plugins.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct StorageError(pub String);

/// A namespace's usage before a write: keys other than the one being written, and
/// their bytes (keys and values).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Usage {
    /// Keys, not counting the key being written.
    pub keys: u64,
    /// Bytes of those keys and their values.
    pub bytes: u64,
}

/// Key-value data of one plugin of one tenant: the namespace is `(tenant, plugin)`,
/// chosen by the engine from the call's binding, never by the plugin.
pub trait KvBackend: Send + Sync + std::fmt::Debug {
    /// The value of `key`.
    ///
    /// # Errors
    /// When the backend fails.
    fn get(&self, tenant: &str, plugin: &str, key: &str) -> Result<Option<Vec<u8>>, StorageError>;

    /// Sets `key` to `value` if `admit` accepts the namespace's [`Usage`]; reading
    /// the usage, the check and the write are one atomic step. Returns `admit`'s
    /// refusal when it refused.
    ///
    /// # Errors
    /// When the backend fails.
    fn set_if(
        &self,
        tenant: &str,
        plugin: &str,
        key: &str,
        value: &[u8],
        admit: &dyn Fn(Usage) -> Result<(), String>,
    ) -> Result<Result<(), String>, StorageError>;

    /// Removes `key` (absent keys are fine).
    ///
    /// # Errors
    /// When the backend fails.
    fn delete(&self, tenant: &str, plugin: &str, key: &str) -> Result<(), StorageError>;

    /// Up to `limit` keys starting with `prefix`, in order.
    ///
    /// # Errors
    /// When the backend fails.
    fn keys(
        &self,
        tenant: &str,
        plugin: &str,
        prefix: &str,
        limit: u32,
    ) -> Result<Vec<String>, StorageError>;
}

/// A tenant's secrets (CRM tokens, webhook signing keys). Plugins never see them:
/// the engine adds them to outbound requests and keys HMACs with them.
pub trait SecretSource: Send + Sync + std::fmt::Debug {
    /// The secret `name` of `tenant`.
    ///
    /// # Errors
    /// When the backend fails.
    fn secret(&self, tenant: &str, name: &str) -> Result<Option<SecretString>, StorageError>;

    /// Every secret of `tenant`, by name.
    ///
    /// # Errors
    /// When the backend fails.
    fn all(&self, tenant: &str) -> Result<Vec<(String, SecretString)>, StorageError>;

    /// The value a credential header carries for secret `name` of `tenant`: the
    /// secret itself, or for a credential that renews itself (an OAuth 2 refresh
    /// token) its current access token, renewed first when it is about to expire or
    /// when `refused` is the value a server just answered 401 to. Called on a
    /// blocking thread.
    ///
    /// # Errors
    /// When the backend fails.
    fn credential(
        &self,
        tenant: &str,
        name: &str,
        refused: Option<&SecretString>,
    ) -> Result<Option<SecretString>, StorageError> {
        let _ = refused;
        self.secret(tenant, name)
    }
}

/// What a flow may read of its event's contact: the host gives one per call, bound
/// to the event's tenant and contact, so a flow cannot name anyone else. Called on
/// the call's (blocking) thread.
pub trait FlowReader: Send + Sync + std::fmt::Debug {
    /// The contact's profile; none for events without a contact.
    ///
    /// # Errors
    /// When the backend fails.
    fn profile(
        &self,
    ) -> Result<Option<crate::bindings::scrm::plugin::profile::Profile>, StorageError>;

    /// The contact's newest `limit` messages, newest first.
    ///
    /// # Errors
    /// When the backend fails.
    fn history(&self, limit: u32) -> Result<Vec<crate::bindings::types::Message>, StorageError>;

    /// The contact's orders placed at or after `since`, newest first, at most
    /// `limit`.
    ///
    /// # Errors
    /// Why they could not be read (shown to the flow).
    fn orders(
        &self,
        since: i64,
        limit: u32,
    ) -> Result<Vec<crate::bindings::scrm::plugin::orders::OrderInfo>, String>;

    /// The first time after now that the cron expression `spec` names in `zone`
    /// (none: the tenant's), Unix ms.
    ///
    /// # Errors
    /// Why the expression or zone is not usable (shown to the flow).
    fn next_occurrence(&self, spec: &str, zone: Option<&str>) -> Result<i64, String>;

    /// Where a parcel is, through the tenant's courier plugin.
    ///
    /// # Errors
    /// Why it could not be found out (shown to the flow).
    fn track(
        &self,
        carrier: Option<&str>,
        number: &str,
    ) -> Result<crate::bindings::scrm::plugin::commerce::Tracking, String>;

    /// What is left of the tenant's monthly model budget; none when it set none.
    fn budget_left(&self) -> Option<f64> {
        None
    }
}
