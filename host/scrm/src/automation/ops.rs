//! What operators do with flows, below HTTP (the API and the CLI both come here):
//! add a flow component to the host's catalog, enable a flow for a tenant with
//! parameters (a new binding version under the slot `flow:NAME`), disable it, and
//! read its status (what fired, what waits, what was skipped and why).

use super::params::{self, ParamError};
use crate::fleet;
use scrm_engine::flow::{FlowInfo, FlowParam};
use scrm_engine::{PluginHost, Slot};
use scrm_store::flows::{FLOW_SLOT_PREFIX, FlowJob, TenantFlow};
use scrm_store::plugins::ComponentRow;
use scrm_store::{Db, StoreError, now_ms};
use serde::Serialize;
use serde_json::{Map, Value};
use std::sync::Arc;

/// Why a flow operation was refused.
#[derive(Debug, thiserror::Error)]
pub enum FlowOpError {
    /// The bytes are not a flow component; why.
    #[error("{0}")]
    NotAFlow(String),
    /// No flow of that name in the catalog.
    #[error(
        "no flow named {0:?} in this host's catalog (scrm flow list shows them; scrm flow add FILE adds one)"
    )]
    UnknownFlow(String),
    /// The tenant has no such flow.
    #[error("tenant {0:?} has no flow {1:?}")]
    NotEnabled(String, String),
    /// No such tenant.
    #[error("no tenant {0:?}")]
    UnknownTenant(String),
    /// A parameter is bad.
    #[error(transparent)]
    Param(#[from] ParamError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Loading the component failed.
    #[error("{0}")]
    Load(String),
}

/// A flow in the catalog, as listed.
#[derive(Debug, Clone, Serialize)]
pub struct CatalogFlow {
    /// Its name.
    pub name: String,
    /// What it does.
    pub description: String,
    /// Its triggers.
    pub triggers: Vec<String>,
    /// Its parameters, the host's included.
    pub params: Vec<FlowParam>,
    /// The component.
    pub sha256: String,
    /// When it was added, Unix ms.
    pub added_at: i64,
}

fn listed(sha256: String, info: &FlowInfo, added_at: i64) -> CatalogFlow {
    CatalogFlow {
        name: info.name.clone(),
        description: info.description.clone(),
        triggers: info.triggers.clone(),
        params: params::all_params(info),
        sha256,
        added_at,
    }
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
}

/// Adds a flow component (its bytes) to the host's catalog: checks it implements
/// the flow world, asks it what it is, and stores it for every host.
///
/// # Errors
/// [`FlowOpError::NotAFlow`] when it is not a usable flow.
pub async fn add(
    db: &Db,
    plugins: &Arc<PluginHost>,
    bytes: Vec<u8>,
) -> Result<CatalogFlow, FlowOpError> {
    let host = plugins.clone();
    let stored = bytes.clone();
    let (sha256, info) = tokio::task::spawn_blocking(move || {
        let (inspected, loaded) = host
            .inspect(&stored)
            .map_err(|e| FlowOpError::NotAFlow(e.to_string()))?;
        if inspected.slot != Slot::Flow {
            return Err(FlowOpError::NotAFlow(format!(
                "the component implements {}, not {}",
                inspected.slot.world(),
                Slot::Flow.world()
            )));
        }
        let info = host
            .describe_flow(&loaded)
            .map_err(|e| FlowOpError::NotAFlow(format!("describe failed: {e}")))?;
        host.save_component(&inspected.sha256, &stored)
            .map_err(|e| FlowOpError::Load(e.to_string()))?;
        Ok((inspected.sha256, info))
    })
    .await
    .map_err(|e| FlowOpError::Load(e.to_string()))??;
    if !valid_name(&info.name) {
        return Err(FlowOpError::NotAFlow(format!(
            "the flow calls itself {:?}; names are 1-64 of a-z, 0-9, - and _",
            info.name
        )));
    }
    let known = [
        "message",
        "status",
        "link-clicked",
        "order",
        "resolved",
        "field-changed",
    ];
    if let Some(t) = info.triggers.iter().find(|t| !known.contains(&t.as_str())) {
        return Err(FlowOpError::NotAFlow(format!(
            "unknown trigger {t:?}; flows can want: {}",
            known.join(", ")
        )));
    }
    let row = ComponentRow {
        sha256: sha256.clone(),
        name: info.name.clone(),
        world: Slot::Flow.world(),
        size: bytes.len() as i64,
        created_at: now_ms(),
    };
    let info_json = serde_json::to_string(&info).map_err(StoreError::from)?;
    let (name, triggers) = (info.name.clone(), info.triggers.clone());
    db.write(move |c| {
        scrm_store::transaction(c, |tx| {
            scrm_store::PluginRepo::insert_component(tx, &row)?;
            scrm_store::PluginRepo::put_component_bytes(tx, &row.sha256, &bytes)?;
            scrm_store::FlowRepo::add_to_catalog(tx, &row.sha256, &name, &info_json, &triggers)
        })
    })
    .await?;
    tracing::info!(flow = %info.name, sha256 = %sha256, "flow added to the catalog");
    Ok(listed(sha256, &info, now_ms()))
}

/// The catalog: the newest component of each flow.
///
/// # Errors
/// On database failure.
pub async fn catalog(db: &Db) -> Result<Vec<CatalogFlow>, FlowOpError> {
    let rows = db.read(|c| scrm_store::FlowRepo::catalog(c)).await?;
    Ok(rows
        .into_iter()
        .filter_map(|r| {
            let info: FlowInfo = serde_json::from_str(&r.info).ok()?;
            Some(listed(r.sha256, &info, r.added_at))
        })
        .collect())
}

/// Whether the tenant can send the WhatsApp template `name` (`name` or
/// `name:language`), by its template registry (see `docs/templates.md`): it must
/// exist (in that language, when given) and be approved.
fn template_known(known: &[scrm_store::templates::TemplateKey], name: &str) -> Result<(), String> {
    let (bare, language) = match name.split_once(':') {
        Some((n, l)) => (n, Some(l)),
        None => (name, None),
    };
    let same: Vec<&scrm_store::templates::TemplateKey> =
        known.iter().filter(|k| k.name == bare).collect();
    if same.is_empty() {
        let mut names: Vec<&str> = known.iter().map(|k| k.name.as_str()).collect();
        names.dedup();
        return Err(format!(
            "unknown template {bare:?} ({}); sync the tenant's templates (scrm template sync) or add one (scrm template add)",
            if names.is_empty() {
                "the tenant has no templates".to_string()
            } else {
                format!("known: {}", names.join(", "))
            }
        ));
    }
    let candidates: Vec<&&scrm_store::templates::TemplateKey> = same
        .iter()
        .filter(|k| language.is_none_or(|l| k.language == l))
        .collect();
    if candidates.is_empty() {
        let langs: Vec<&str> = same.iter().map(|k| k.language.as_str()).collect();
        return Err(format!(
            "template {bare:?} has no language {:?} (it has: {})",
            language.unwrap_or_default(),
            langs.join(", ")
        ));
    }
    if candidates
        .iter()
        .any(|k| k.status.eq_ignore_ascii_case("APPROVED"))
    {
        return Ok(());
    }
    Err(format!(
        "template {bare:?} is {}: only APPROVED templates can be sent",
        candidates[0].status
    ))
}

/// Enables (or re-configures) the tenant's flow `name`: the catalog's newest
/// component with the tenant's current parameters updated by `sets`, as a new
/// version, active at once on every host.
///
/// # Errors
/// [`FlowOpError`] naming the flow or the parameter and why.
pub async fn enable(
    db: &Db,
    plugins: &Arc<PluginHost>,
    allowed: &super::endpoint::Allowlist,
    tenant: &str,
    name: &str,
    sets: Vec<(String, String)>,
) -> Result<TenantFlow, FlowOpError> {
    let (t, n) = (tenant.to_string(), name.to_string());
    let (exists, entry, current, templates) = db
        .read(move |c| {
            let exists = scrm_store::TenantRepo::get(c, &t)?.is_some();
            let entry = scrm_store::FlowRepo::catalog(c)?
                .into_iter()
                .find(|e| e.name == n);
            let current = scrm_store::FlowRepo::flows_of(c, &t)?
                .into_iter()
                .find(|f| f.name == n);
            let templates = scrm_store::TemplateRepo::keys(c, &t)?;
            Ok((exists, entry, current, templates))
        })
        .await?;
    if !exists {
        return Err(FlowOpError::UnknownTenant(tenant.into()));
    }
    let entry = entry.ok_or_else(|| FlowOpError::UnknownFlow(name.into()))?;
    let info: FlowInfo = serde_json::from_str(&entry.info).map_err(StoreError::from)?;
    let current: Option<Map<String, Value>> = current
        .and_then(|f| serde_json::from_str::<Value>(&f.params).ok())
        .and_then(|v| v.as_object().cloned());
    let known = |name: &str| template_known(&templates, name);
    let resolved = params::resolve(&info, current.as_ref(), &sets, &known)?;
    // An `endpoint` parameter opens the flow's HTTP to that host (and its secret).
    let addrs = super::endpoint::resolve(&resolved).await?;
    let secret = secret_state(db, tenant, super::endpoint::secret_name(&resolved)).await?;
    let http = super::endpoint::policy(
        &resolved,
        super::endpoint::Checks {
            addrs: &addrs,
            allowed,
            secret: &secret,
        },
    )?;
    let schedules =
        super::schedule::schedules_of(&params::all_params(&info), &Value::Object(resolved.clone()));
    let config = Value::Object(resolved).to_string().into_bytes();
    let slot = format!("{FLOW_SLOT_PREFIX}{name}");
    let (t, s, sha, n) = (
        tenant.to_string(),
        slot.clone(),
        entry.sha256.clone(),
        name.to_string(),
    );
    let row = db
        .write(move |c| {
            scrm_store::transaction(c, |tx| {
                scrm_store::PluginRepo::insert_binding(
                    tx,
                    &t,
                    &s,
                    &sha,
                    &config,
                    &serde_json::json!({}),
                    &http,
                )?;
                super::schedule::arm(tx, &t, &n, &schedules, now_ms())?;
                scrm_store::PluginRepo::active_binding(tx, &t, &s)
            })
        })
        .await?
        .ok_or_else(|| FlowOpError::NotEnabled(tenant.into(), name.into()))?;
    let (host, store, r) = (plugins.clone(), db.clone(), row.clone());
    tokio::task::spawn_blocking(move || fleet::activate(&store, &host, &r))
        .await
        .map_err(|e| FlowOpError::Load(e.to_string()))?
        .map_err(|e| FlowOpError::Load(format!("{e:#}")))?;
    // What waited for a quarantine or pause to lift runs now, on the new version
    // (another host that has not loaded it yet defers it again for a while).
    let (t, n) = (tenant.to_string(), name.to_string());
    db.write(move |c| scrm_store::FlowRepo::wake_waiting(c, &t, &n, now_ms()))
        .await?;
    tracing::info!(tenant, flow = name, version = row.version, "flow enabled");
    status_of(db, tenant, name).await
}

/// Whether the tenant's secret `name` can be read (by this host's key).
async fn secret_state(
    db: &Db,
    tenant: &str,
    name: Option<&str>,
) -> Result<super::endpoint::SecretState, StoreError> {
    use super::endpoint::SecretState;
    let Some(name) = name else {
        return Ok(SecretState::Missing);
    };
    let (t, n) = (tenant.to_string(), name.to_string());
    Ok(
        match db
            .read(move |c| scrm_store::SecretRepo::get(c, &t, &n))
            .await
        {
            Ok(Some(v)) if v.trim().is_empty() => SecretState::Unreadable("it is empty".into()),
            Ok(Some(_)) => SecretState::Readable,
            Ok(None) => SecretState::Missing,
            Err(StoreError::Secrets(why)) => SecretState::Unreadable(why),
            Err(e) => return Err(e),
        },
    )
}

async fn status_of(db: &Db, tenant: &str, name: &str) -> Result<TenantFlow, FlowOpError> {
    let (t, n) = (tenant.to_string(), name.to_string());
    db.read(move |c| scrm_store::FlowRepo::flows_of(c, &t))
        .await?
        .into_iter()
        .find(|f| f.name == n)
        .ok_or_else(|| FlowOpError::NotEnabled(tenant.into(), name.into()))
}

/// Disables the tenant's flow: its events stop at once; its versions, log and
/// pending timers are kept (timers that come due while it is off are skipped).
///
/// # Errors
/// [`FlowOpError::NotEnabled`] when the tenant has no such flow.
pub async fn disable(
    db: &Db,
    plugins: &Arc<PluginHost>,
    tenant: &str,
    name: &str,
) -> Result<TenantFlow, FlowOpError> {
    let (t, n) = (tenant.to_string(), name.to_string());
    let found = db
        .write(move |c| scrm_store::FlowRepo::set_flow_disabled(c, &t, &n, true))
        .await?;
    if !found {
        return Err(FlowOpError::NotEnabled(tenant.into(), name.into()));
    }
    plugins.deactivate_flow(tenant, name);
    tracing::info!(tenant, flow = name, "flow disabled");
    status_of(db, tenant, name).await
}

/// A tenant's flow with what it did.
#[derive(Debug, Clone, Serialize)]
pub struct FlowStatus {
    /// The flow.
    #[serde(flatten)]
    pub flow: TenantFlow,
    /// `enabled`, `disabled`, `quarantined` (its calls faulted) or `paused` (it
    /// said its configuration is not usable; `quarantine_reason` says why).
    pub state: &'static str,
    /// Jobs by state: `pending`, `done`, `skipped`, `failed`, `cancelled`.
    pub counts: Map<String, Value>,
    /// The newest events and timers it handled (or skipped, or failed), newest first.
    pub recent: Vec<FlowJob>,
    /// What waits: pending timers and events, soonest first.
    pub waiting: Vec<FlowJob>,
}

/// The status of the tenant's flows (or of the one named).
///
/// # Errors
/// [`FlowOpError::NotEnabled`] when `name` is given and the tenant has no such flow.
pub async fn status(
    db: &Db,
    tenant: &str,
    name: Option<&str>,
    limit: u32,
) -> Result<Vec<FlowStatus>, FlowOpError> {
    let (t, n) = (tenant.to_string(), name.map(str::to_string));
    let (exists, flows, counts, recent, waiting) = db
        .read(move |c| {
            let exists = scrm_store::TenantRepo::get(c, &t)?.is_some();
            let flows = scrm_store::FlowRepo::flows_of(c, &t)?;
            let recent = scrm_store::FlowRepo::flow_log(c, &t, n.as_deref(), false, limit)?;
            let waiting = scrm_store::FlowRepo::flow_log(c, &t, n.as_deref(), true, limit)?;
            // Read last: the counts are never older than the jobs listed (each read
            // is its own statement, and the worker commits in between).
            let counts = scrm_store::FlowRepo::flow_counts(c, &t)?;
            Ok((exists, flows, counts, recent, waiting))
        })
        .await?;
    if !exists {
        return Err(FlowOpError::UnknownTenant(tenant.into()));
    }
    let out: Vec<FlowStatus> = flows
        .into_iter()
        .filter(|f| name.is_none_or(|n| f.name == n))
        .map(|f| {
            let counts = counts
                .iter()
                .filter(|(flow, _, _)| *flow == f.name)
                .map(|(_, state, n)| (state.clone(), Value::from(*n)))
                .collect();
            let state = if f.disabled_at.is_some() {
                "disabled"
            } else if f
                .quarantine_reason
                .as_deref()
                .is_some_and(|r| r.starts_with(super::worker::PAUSED_PREFIX))
            {
                "paused"
            } else if f.quarantine_reason.is_some() {
                "quarantined"
            } else {
                "enabled"
            };
            FlowStatus {
                recent: recent
                    .iter()
                    .filter(|j| j.flow == f.name)
                    .cloned()
                    .collect(),
                waiting: waiting
                    .iter()
                    .filter(|j| j.flow == f.name)
                    .cloned()
                    .collect(),
                state,
                counts,
                flow: f,
            }
        })
        .collect();
    if let Some(n) = name
        && out.is_empty()
    {
        return Err(FlowOpError::NotEnabled(tenant.into(), n.into()));
    }
    Ok(out)
}
