//! Conveniences for flows (the `flow` world): declaring parameters, reading the
//! parameters the tenant enabled the flow with, and counting in the flow's
//! key-value store.

use crate::flows::{FlowError, Param, ParamKind};
use serde::de::DeserializeOwned;

/// A parameter declaration for [`crate::flows::Info::params`]; `default: None`
/// makes it required.
pub fn param(name: &str, kind: ParamKind, default: Option<&str>, description: &str) -> Param {
    Param {
        name: name.into(),
        kind,
        default: default.map(str::to_string),
        description: description.into(),
    }
}

/// The parameters the tenant enabled the flow with (defaults filled in by the
/// host), as `T`.
///
/// # Errors
/// [`FlowError::InvalidConfig`] when they do not fit `T`.
pub fn params<T: DeserializeOwned>() -> Result<T, FlowError> {
    crate::config::parse()
        .map_err(FlowError::InvalidConfig)?
        .ok_or_else(|| FlowError::InvalidConfig("no parameters".into()))
}

/// Adds one to the counter `key` in the flow's key-value store; the new count.
///
/// # Errors
/// [`FlowError::Failed`] when the store fails (the host retries the event).
pub fn count(key: &str) -> Result<u32, FlowError> {
    let kv = |e| FlowError::Failed(format!("kv: {e:?}"));
    let n = crate::kv::get(key)
        .map_err(kv)?
        .and_then(|b| String::from_utf8(b).ok()?.parse::<u32>().ok())
        .unwrap_or(0)
        + 1;
    crate::kv::set(key, n.to_string().as_bytes()).map_err(kv)?;
    Ok(n)
}
