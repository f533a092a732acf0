//! Several hosts on one PostgreSQL database behave as one product: a plugin
//! installed, swapped, rolled back, quarantined or re-enabled through any host is
//! loaded by every host.
//!
//! The store announces each slot change on [`PLUGINS_CHANNEL`] when its transaction
//! commits (PostgreSQL `NOTIFY`). Every host listens on a connection of its own and
//! reloads the slot from the database — fetching the component's bytes from the
//! database when its own directory lacks them — typically within milliseconds. After
//! a lost connection, and every [`RESYNC_EVERY`] as a safety net, a host compares
//! every active binding with what it runs and reloads what differs. Secrets, limits
//! and settings are read from the database when used, so they need nothing here.

use crate::metrics::Metrics;
use scrm_engine::{PluginHost, Slot};
use scrm_store::hosts::PLUGINS_CHANNEL;
use scrm_store::plugins::BindingRow;
use scrm_store::{Db, StoreError};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

/// How often every binding is compared with the database, notifications or not.
const RESYNC_EVERY: Duration = Duration::from_secs(30);
/// How long the listener waits for a notification before checking it should stop.
const LISTEN_TICK: Duration = Duration::from_millis(500);

/// Writes the component's bytes to this host's component directory from the
/// database when they are not there yet (another host uploaded it).
///
/// # Errors
/// When the database has no bytes for it either, or the file cannot be written.
pub fn ensure_component(db: &Db, plugins: &PluginHost, sha256: &str) -> anyhow::Result<()> {
    if plugins.component_path(sha256).exists() {
        return Ok(());
    }
    let bytes = db
        .read_blocking(|c| scrm_store::PluginRepo::component_bytes(c, sha256))?
        .ok_or_else(|| {
            anyhow::anyhow!(
                "component {sha256} is in neither the component directory nor the database"
            )
        })?;
    plugins.save_component(sha256, &bytes)?;
    Ok(())
}

/// Activates `row` on this host (blocking: it may compile the component).
///
/// # Errors
/// When its component cannot be had or loaded.
pub fn activate(db: &Db, plugins: &PluginHost, row: &BindingRow) -> anyhow::Result<()> {
    if let Some(flow) = row.slot.strip_prefix(scrm_store::flows::FLOW_SLOT_PREFIX)
        && row.disabled_at.is_some()
    {
        plugins.deactivate_flow(&row.tenant_id, flow);
        return Ok(());
    }
    ensure_component(db, plugins, &row.sha256)?;
    plugins.activate(&crate::slots::binding_spec(row))?;
    Ok(())
}

/// Whether this host runs `row` as it is in the database (same version, same
/// quarantine).
fn current(plugins: &PluginHost, row: &BindingRow) -> bool {
    let Ok(slot) = row.slot.parse::<Slot>() else {
        return true;
    };
    let snapshot = plugins.snapshot(&row.tenant_id);
    if let Some(flow) = row.slot.strip_prefix(scrm_store::flows::FLOW_SLOT_PREFIX) {
        return match snapshot.flow(flow) {
            None => row.disabled_at.is_some(),
            Some(b) => {
                row.disabled_at.is_none()
                    && b.version == row.version
                    && b.quarantined().is_some() == row.quarantined_at.is_some()
            }
        };
    }
    snapshot.slot(slot).is_some_and(|b| {
        b.version == row.version && b.quarantined().is_some() == row.quarantined_at.is_some()
    })
}

/// Starts following the other hosts' plugin changes (PostgreSQL only; on SQLite
/// this host makes every change itself). Ends when the returned task is aborted.
pub fn follow(
    db: Db,
    plugins: Arc<PluginHost>,
    metrics: Arc<Metrics>,
) -> Option<tokio::task::JoinHandle<()>> {
    if db.dialect() == scrm_store::Dialect::Sqlite {
        return None;
    }
    let (tx, rx) = mpsc::unbounded_channel();
    let listen_db = db.clone();
    std::thread::Builder::new()
        .name("scrm-listen".into())
        .spawn(move || listen(&listen_db, &tx))
        .expect("spawn the listener thread");
    Some(tokio::spawn(apply(db, plugins, metrics, rx)))
}

/// The listener thread: forwards each announced `tenant/slot`, and `*` (compare
/// everything) after each (re)connection. Returns when nobody receives any more.
fn listen(db: &Db, tx: &mpsc::UnboundedSender<String>) {
    let mut backoff = Duration::from_millis(100);
    while !tx.is_closed() {
        let mut listener = match db.listen(&[PLUGINS_CHANNEL]) {
            Ok(Some(l)) => l,
            Ok(None) => return,
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for plugin changes; retrying");
                std::thread::sleep(backoff);
                backoff = (backoff * 2).min(Duration::from_secs(5));
                continue;
            }
        };
        backoff = Duration::from_millis(100);
        // Whatever changed while this host was not listening.
        if tx.send("*".into()).is_err() {
            return;
        }
        loop {
            match listener.next(LISTEN_TICK) {
                Ok(Some((_, payload))) => {
                    if tx.send(payload).is_err() {
                        return;
                    }
                }
                Ok(None) if tx.is_closed() => return,
                Ok(None) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "lost the plugin-change listener; reconnecting");
                    break;
                }
            }
        }
    }
}

/// Reloads what the listener names, and everything every [`RESYNC_EVERY`].
async fn apply(
    db: Db,
    plugins: Arc<PluginHost>,
    metrics: Arc<Metrics>,
    mut rx: mpsc::UnboundedReceiver<String>,
) {
    let mut resync = tokio::time::interval(RESYNC_EVERY);
    loop {
        let what = tokio::select! {
            m = rx.recv() => match m { Some(m) => m, None => return },
            _ = resync.tick() => "*".to_string(),
        };
        let rows = match load(&db, &what).await {
            Ok(rows) => rows,
            Err(e) => {
                tracing::error!(error = %e, change = %what, "cannot read a plugin change");
                continue;
            }
        };
        for row in rows {
            if current(&plugins, &row) {
                continue;
            }
            let (db, plugins) = (db.clone(), plugins.clone());
            let r = row.clone();
            let result = tokio::task::spawn_blocking(move || activate(&db, &plugins, &r)).await;
            match result {
                Ok(Ok(())) => {
                    metrics.set_quarantined(&row, row.quarantined_at.is_some());
                    tracing::info!(tenant = %row.tenant_id, slot = %row.slot, version = row.version, "plugin change from another host loaded");
                }
                Ok(Err(e)) => {
                    tracing::error!(tenant = %row.tenant_id, slot = %row.slot, error = %e, "cannot load another host's plugin change")
                }
                Err(e) => tracing::error!(error = %e, "plugin reload task failed"),
            }
        }
    }
}

/// The active bindings `what` names: `tenant/slot`, or `*` for all.
async fn load(db: &Db, what: &str) -> Result<Vec<BindingRow>, StoreError> {
    match what.split_once('/') {
        Some((tenant, slot)) => {
            let (t, s) = (tenant.to_string(), slot.to_string());
            Ok(db
                .read(move |c| scrm_store::PluginRepo::active_binding(c, &t, &s))
                .await?
                .into_iter()
                .collect())
        }
        None => {
            db.read(|c| scrm_store::PluginRepo::active_bindings(c))
                .await
        }
    }
}
