//! Which Cloud API base URL and version a tenant's sends and media transfers use.

use super::client::Endpoint;
use super::health::Health;
use crate::config::SendSettings;
use scrm_store::Store;
use scrm_store::{StoreError, apps};

/// The Cloud API endpoint for a tenant's app: its own URL and version, else the
/// host's; its backup URL instead while `health` says the backup is active.
pub fn endpoint_for(
    c: &dyn Store,
    tenant: &str,
    s: &SendSettings,
    health: Option<&Health>,
) -> Result<Endpoint, StoreError> {
    let apps::GraphEndpoint {
        app,
        url,
        version,
        backup,
    } = scrm_store::AppRepo::graph_endpoint(c, tenant)?;
    let primary = url.unwrap_or_else(|| s.graph_url.clone());
    let base = match (health, app) {
        (Some(h), Some(app)) => h.base_url(&app, primary, backup),
        _ => primary,
    };
    Ok(Endpoint::new(
        base,
        version.unwrap_or_else(|| s.graph_version.clone()),
    ))
}
