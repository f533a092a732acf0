//! Meta apps: the app secret that signs webhooks, the verify token of the
//! subscription handshake, and the app's Cloud API endpoints (primary and backup).

use super::{StoreError, conflict_on_unique, now_ms};
use crate::SecretString;
use crate::params;
use crate::sql::{Conn, Row};
use serde::Serialize;

/// A Meta app as stored; the secret never leaves through `Serialize`.
#[derive(Debug, Clone, Serialize)]
pub struct MetaApp {
    /// The operator's id for the app (often Meta's app id).
    pub id: String,
    /// Signs webhook bodies (X-Hub-Signature-256).
    #[serde(skip)]
    pub app_secret: SecretString,
    /// Answers Meta's subscription handshake.
    #[serde(skip)]
    pub verify_token: SecretString,
    /// When it was added, Unix ms.
    pub created_at: i64,
    /// The app's Cloud API base URL; `None` uses the host's (`[whatsapp] graph_url`).
    pub graph_url: Option<String>,
    /// The app's Graph API version; `None` uses the host's.
    pub graph_version: Option<String>,
    /// Where sends go while the primary is unhealthy; `None`: no failover.
    pub backup_graph_url: Option<String>,
}

/// A change to an app's Cloud API endpoints: `None` leaves a field as it is,
/// `Some(None)` clears it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EndpointsPatch {
    /// New `graph_url`.
    pub graph_url: Option<Option<String>>,
    /// New `graph_version`.
    pub graph_version: Option<Option<String>>,
    /// New `backup_graph_url`.
    pub backup_graph_url: Option<Option<String>>,
}

/// Adds an app.
///
/// # Errors
/// [`StoreError::Conflict`] when the id exists.
pub(crate) fn insert(
    conn: &Conn<'_>,
    id: &str,
    secret: &str,
    verify: &str,
) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO meta_apps (id, app_secret, verify_token, created_at) VALUES (?1, ?2, ?3, ?4)",
        params![id, secret, verify, now_ms()],
    )
    .map_err(|e| conflict_on_unique(e, "app", id))?;
    Ok(())
}

fn from_row(r: &Row<'_>) -> Result<MetaApp, StoreError> {
    Ok(MetaApp {
        id: r.get(0)?,
        app_secret: SecretString::from(r.get::<String>(1)?),
        verify_token: SecretString::from(r.get::<String>(2)?),
        created_at: r.get(3)?,
        graph_url: r.get(4)?,
        graph_version: r.get(5)?,
        backup_graph_url: r.get(6)?,
    })
}

const COLUMNS: &str =
    "id, app_secret, verify_token, created_at, graph_url, graph_version, backup_graph_url";

/// Applies `patch` to the app's endpoints; the app as it is now.
///
/// # Errors
/// [`StoreError::NotFound`] for an unknown app.
pub(crate) fn set_endpoints(
    conn: &Conn<'_>,
    id: &str,
    patch: &EndpointsPatch,
) -> Result<MetaApp, StoreError> {
    let not_found = || StoreError::NotFound {
        what: "app",
        id: id.to_string(),
    };
    let current = get(conn, id)?.ok_or_else(not_found)?;
    let pick = |p: &Option<Option<String>>, old: Option<String>| p.clone().unwrap_or(old);
    conn.execute(
        "UPDATE meta_apps SET graph_url = ?2, graph_version = ?3, backup_graph_url = ?4 WHERE id = ?1",
        params![
            id,
            pick(&patch.graph_url, current.graph_url),
            pick(&patch.graph_version, current.graph_version),
            pick(&patch.backup_graph_url, current.backup_graph_url),
        ],)?;
    get(conn, id)?.ok_or_else(not_found)
}

/// Every app, by id.
///
/// # Errors
/// On database failure.
pub(crate) fn list(conn: &Conn<'_>) -> Result<Vec<MetaApp>, StoreError> {
    let rows = conn.query(
        &format!("SELECT {COLUMNS} FROM meta_apps ORDER BY id"),
        params![],
        from_row,
    )?;
    Ok(rows)
}

/// One app.
///
/// # Errors
/// On database failure.
pub(crate) fn get(conn: &Conn<'_>, id: &str) -> Result<Option<MetaApp>, StoreError> {
    conn.query_opt(
        &format!("SELECT {COLUMNS} FROM meta_apps WHERE id = ?1"),
        params![id],
        from_row,
    )
}

/// An app's Cloud API overrides, each `None` when unset.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GraphEndpoint {
    /// The app serving the tenant (`None` for an unknown tenant).
    pub app: Option<String>,
    /// Its base URL.
    pub url: Option<String>,
    /// Its Graph API version.
    pub version: Option<String>,
    /// Its backup base URL.
    pub backup: Option<String>,
}

/// The app serving `tenant` and its Cloud API overrides.
///
/// # Errors
/// On database failure.
pub(crate) fn graph_endpoint(c: &Conn<'_>, tenant: &str) -> Result<GraphEndpoint, StoreError> {
    Ok(c
        .query_opt("SELECT a.id, a.graph_url, a.graph_version, a.backup_graph_url FROM tenants t JOIN meta_apps a ON a.id = t.app_id WHERE t.id = ?1", params![tenant], |r| {
            Ok(GraphEndpoint {
                app: r.get(0)?,
                url: r.get(1)?,
                version: r.get(2)?,
                backup: r.get(3)?,
            })
        })?
        .unwrap_or_default())
}

crate::repo! {
    /// Meta apps (app secret, verify token, Cloud API overrides).
    pub trait AppRepo {
        /// Adds an app.
        fn insert(id: &str, secret: &str, verify: &str) -> Result<(), StoreError>;
        /// Applies `patch` to the app's endpoints; the app as it is now.
        fn set_endpoints(id: &str, patch: &EndpointsPatch) -> Result<MetaApp, StoreError>;
        /// Every app, by id.
        fn list() -> Result<Vec<MetaApp>, StoreError>;
        /// One app.
        fn get(id: &str) -> Result<Option<MetaApp>, StoreError>;
        /// The app serving `tenant` and its Cloud API overrides.
        fn graph_endpoint(tenant: &str) -> Result<GraphEndpoint, StoreError>;
    }
}
