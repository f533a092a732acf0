//! Cloud API health and failover per Meta app.
//!
//! [`Health`] is the registry shared by the prober and the outbox. For every app it
//! knows which base URL sends use ([`Target::Primary`], the app's `graph_url` or the
//! host's, or [`Target::Backup`], the app's `backup_graph_url`), and how the recent
//! probes went. [`Health::run`] probes each app's primary on a schedule
//! (`[whatsapp] probe_interval_secs`) with `GET /{version}/{phone_number_id}`, using
//! one of the app's tenants' numbers and access token:
//!
//! - a probe slower than `probe_slow_ms`, or failing (timeout, connection error, 5xx,
//!   a non-Meta error page), is unhealthy; `probe_failures_to_switch` unhealthy
//!   probes in a row switch the app to its backup, if it has one;
//! - Meta's own 4xx error envelope (a bad token, say) means the API is up: it is
//!   recorded as `rejected` and does not count towards a switch, since the backup
//!   would refuse the same request;
//! - while the backup is active the primary is still probed, and
//!   `probe_successes_to_switch_back` healthy probes (one by default) switch back;
//!   the backup is probed too and recorded.
//!
//! State, probes and switches are stored (migration 0005), so a restart keeps the
//! active URL. [`Health::decide`] is the whole state machine, with no I/O.
//!
//! ```no_run
//! # async fn demo(db: scrm_store::Db) -> anyhow::Result<()> {
//! use scrm::cloud::health::Health;
//! use scrm::config::ProbeSettings;
//! let settings = ProbeSettings::from_send_settings(&scrm::config::SendSettings::default())?;
//! let metrics = std::sync::Arc::new(scrm::metrics::Metrics::new());
//! let health = Health::load(db.clone(), settings, metrics).await?;
//! // One host probes for all when several share the database.
//! let probes = scrm::singleton::Singleton::new(db, "host-a", "graph-health", 90_000);
//! tokio::spawn(health.clone().run(probes));
//! let view = health.probe_now("my-app").await?;
//! println!("{:?} {}", view.active, view.active_url);
//! # Ok(()) }
//! ```

use crate::cloud::client::{CloudClient, Endpoint};
use crate::config::ProbeSettings;
use crate::metrics::Metrics;
use scrm_store::apps::MetaApp;
use scrm_store::health::{Outcome, Probe, State, Switch, Target};
use scrm_store::{Db, StoreError, now_ms};
use scrm_wire::graph::SendError;
use serde::Serialize;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};
use tracing::Instrument;

/// Probes shown in [`HealthView::probes`].
const RECENT_PROBES: u32 = 20;
/// Switches shown in [`HealthView::switches`].
const RECENT_SWITCHES: u32 = 50;
/// The prober wakes at least this often to notice new apps and due probes.
const MAX_TICK: Duration = Duration::from_secs(30);

/// Why a health request failed.
#[derive(Debug, thiserror::Error)]
pub enum HealthError {
    /// No such app.
    #[error("no app {0:?}")]
    UnknownApp(String),
    /// Nothing to probe with.
    #[error(
        "cannot probe app {0:?}: none of its tenants has both a phone number and a `whatsapp_access_token` secret"
    )]
    NoCredentials(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What the registry holds per app.
#[derive(Debug, Clone, Default)]
struct AppHealth {
    state: State,
    last_primary: Option<Probe>,
    last_backup: Option<Probe>,
    /// Last scheduled attempt (or when the prober first saw the app), Unix ms.
    attempted_at: Option<i64>,
}

/// The primary's side of [`HealthView`].
#[derive(Debug, Clone, Serialize)]
pub struct PrimaryView {
    /// Its base URL.
    pub url: String,
    /// Slow or failed probes in a row.
    pub consecutive_unhealthy: u32,
    /// Healthy probes in a row.
    pub consecutive_healthy: u32,
    /// The newest probe.
    pub last_probe: Option<Probe>,
}

/// The backup's side of [`HealthView`].
#[derive(Debug, Clone, Serialize)]
pub struct BackupView {
    /// Its base URL; `null` when the app has none (no failover).
    pub url: Option<String>,
    /// The newest probe (the backup is probed while it is active).
    pub last_probe: Option<Probe>,
}

/// The thresholds in force, as shown.
#[derive(Debug, Clone, Serialize)]
pub struct ThresholdsView {
    /// Seconds between scheduled probes.
    pub probe_interval_secs: u64,
    /// Slower answers are unhealthy, ms.
    pub probe_slow_ms: u64,
    /// Unhealthy primary probes in a row that switch to the backup.
    pub probe_failures_to_switch: u32,
    /// Healthy primary probes in a row that switch back.
    pub probe_successes_to_switch_back: u32,
}

/// An app's Cloud API health, as `GET /v1/apps/{id}/health` answers it.
#[derive(Debug, Clone, Serialize)]
pub struct HealthView {
    /// The app.
    pub app: String,
    /// Which base URL sends use.
    pub active: Target,
    /// That base URL.
    pub active_url: String,
    /// The Graph API version in the URLs.
    pub graph_version: String,
    /// The primary.
    pub primary: PrimaryView,
    /// The backup.
    pub backup: BackupView,
    /// When the next scheduled probe is due, Unix ms (`null` before the prober saw
    /// the app).
    pub next_probe_at: Option<i64>,
    /// The thresholds.
    pub thresholds: ThresholdsView,
    /// The newest probes of both targets, newest first.
    pub probes: Vec<Probe>,
    /// Every switch (the newest 50), newest first.
    pub switches: Vec<Switch>,
}

/// The Cloud API health registry: shared by the prober, the outbox and the API.
#[derive(Debug)]
pub struct Health {
    db: Db,
    client: CloudClient,
    settings: ProbeSettings,
    metrics: Arc<Metrics>,
    apps: RwLock<HashMap<String, AppHealth>>,
    /// One probe round at a time per app (scheduled and on demand).
    rounds: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

impl Health {
    /// The registry with the stored state of every app.
    ///
    /// # Errors
    /// When the store cannot be read.
    pub async fn load(
        db: Db,
        settings: ProbeSettings,
        metrics: Arc<Metrics>,
    ) -> Result<Arc<Health>, StoreError> {
        let stored = db.read(|c| scrm_store::HealthRepo::load_all(c)).await?;
        let mut apps = HashMap::new();
        for s in stored {
            metrics.set_graph_backup_active(&s.app, s.state.active == Target::Backup);
            let attempted_at = s.last_primary.as_ref().map(|p| p.at);
            apps.insert(
                s.app,
                AppHealth {
                    state: s.state,
                    last_primary: s.last_primary,
                    last_backup: s.last_backup,
                    attempted_at,
                },
            );
        }
        Ok(Arc::new(Health {
            db,
            client: CloudClient::new(settings.timeout),
            settings,
            metrics,
            apps: RwLock::new(apps),
            rounds: Mutex::new(HashMap::new()),
        }))
    }

    /// Takes every app's state from the store: what the host probing for all (see
    /// [`Health::run`]) decided, for the hosts that do not probe.
    async fn refresh(&self) -> Result<(), StoreError> {
        let stored = self
            .db
            .read(|c| scrm_store::HealthRepo::load_all(c))
            .await?;
        let mut apps = self.apps.write().unwrap_or_else(|p| p.into_inner());
        for s in stored {
            self.metrics
                .set_graph_backup_active(&s.app, s.state.active == Target::Backup);
            let attempted_at = s.last_primary.as_ref().map(|p| p.at);
            apps.insert(
                s.app,
                AppHealth {
                    state: s.state,
                    last_primary: s.last_primary,
                    last_backup: s.last_backup,
                    attempted_at,
                },
            );
        }
        Ok(())
    }

    /// The settings in force.
    pub fn settings(&self) -> &ProbeSettings {
        &self.settings
    }

    /// Which target `app`'s sends use now.
    pub fn active(&self, app: &str) -> Target {
        self.read()
            .get(app)
            .map_or(Target::Primary, |h| h.state.active)
    }

    /// The base URL `app`'s sends use: `backup` while the backup is active and the
    /// app still has one, else `primary`. Cheap; called for every send.
    pub fn base_url(&self, app: &str, primary: String, backup: Option<String>) -> String {
        match backup {
            Some(b) if self.active(app) == Target::Backup => b,
            _ => primary,
        }
    }

    /// What one probe of the primary does to an app's state: updates the counters
    /// and returns the switch it causes, with its reason.
    ///
    /// Switching back takes `successes_to_switch_back` healthy probes (default 1):
    /// leaving the primary already takes several bad probes in a row, so the
    /// asymmetry itself damps flapping, while every extra probe asked for before
    /// returning would keep traffic on the (usually longer) backup path one more
    /// probe interval, an hour by default, after the primary is fine again.
    pub fn decide(
        state: &mut State,
        outcome: Outcome,
        has_backup: bool,
        s: &ProbeSettings,
    ) -> Option<(Target, &'static str)> {
        if outcome.unhealthy() {
            state.primary_unhealthy = state.primary_unhealthy.saturating_add(1);
            state.primary_healthy = 0;
        } else {
            state.primary_healthy = state.primary_healthy.saturating_add(1);
            state.primary_unhealthy = 0;
        }
        let to = match state.active {
            Target::Primary if has_backup && state.primary_unhealthy >= s.failures_to_switch => {
                (Target::Backup, "primary_unhealthy")
            }
            Target::Backup if !has_backup => (Target::Primary, "backup_removed"),
            Target::Backup if state.primary_healthy >= s.successes_to_switch_back => {
                (Target::Primary, "primary_recovered")
            }
            _ => return None,
        };
        state.active = to.0;
        Some(to)
    }

    /// Probes `app` now (the primary, and the backup if it is then active), applies
    /// the outcome and answers the app's health.
    ///
    /// # Errors
    /// [`HealthError::UnknownApp`], [`HealthError::NoCredentials`], or a store failure
    /// (then nothing changed).
    pub async fn probe_now(&self, app: &str) -> Result<HealthView, HealthError> {
        let round = self.round_lock(app);
        let _guard = round.lock().await;
        let id = app.to_owned();
        let (meta, creds) = self
            .db
            .read(move |c| {
                Ok((
                    scrm_store::AppRepo::get(c, &id)?,
                    scrm_store::HealthRepo::probe_credentials(c, &id)?,
                ))
            })
            .await?;
        let meta = meta.ok_or_else(|| HealthError::UnknownApp(app.into()))?;
        let (_tenant, number, token) =
            creds.ok_or_else(|| HealthError::NoCredentials(app.into()))?;
        let version = self.version(&meta);
        let primary_url = self.primary_url(&meta);
        let backup_url = meta.backup_graph_url.clone();
        let mut entry = self.read().get(app).cloned().unwrap_or_default();
        let before = entry.state.active;
        let primary = self
            .probe_one(
                app,
                Target::Primary,
                &primary_url,
                &version,
                &number,
                &token,
            )
            .await;
        let change = Health::decide(
            &mut entry.state,
            primary.outcome,
            backup_url.is_some(),
            &self.settings,
        );
        let mut probes = vec![primary];
        if entry.state.active == Target::Backup
            && let Some(url) = &backup_url
        {
            probes.push(
                self.probe_one(app, Target::Backup, url, &version, &number, &token)
                    .await,
            );
        }
        let switch = change.map(|(to, reason)| Switch {
            at: now_ms(),
            from: before,
            to,
            from_url: self.url_of(before, &primary_url, &backup_url, &entry),
            to_url: self.url_of(to, &primary_url, &backup_url, &entry),
            reason: reason.into(),
        });
        let (id, state, stored, sw) = (app.to_owned(), entry.state, probes.clone(), switch.clone());
        self.db
            .write(move |c| scrm_store::HealthRepo::record(c, &id, &stored, &state, sw.as_ref()))
            .await?;
        for p in probes {
            match p.target {
                Target::Primary => entry.last_primary = Some(p),
                Target::Backup => entry.last_backup = Some(p),
            }
        }
        self.commit(app, entry, switch.as_ref());
        self.view(app).await
    }

    /// Re-reads `app`'s endpoints after an operator changed them: a new primary URL
    /// starts its counters afresh, and a removed backup switches the app back to the
    /// primary at once.
    ///
    /// # Errors
    /// [`HealthError::UnknownApp`] or a store failure.
    pub async fn app_changed(&self, app: &str) -> Result<(), HealthError> {
        let round = self.round_lock(app);
        let _guard = round.lock().await;
        let id = app.to_owned();
        let meta = self
            .db
            .read(move |c| scrm_store::AppRepo::get(c, &id))
            .await?
            .ok_or_else(|| HealthError::UnknownApp(app.into()))?;
        let primary_url = self.primary_url(&meta);
        let Some(mut entry) = self.read().get(app).cloned() else {
            return Ok(());
        };
        let old = entry.state;
        if entry
            .last_primary
            .as_ref()
            .is_some_and(|p| p.url != primary_url)
        {
            entry.state.primary_unhealthy = 0;
            entry.state.primary_healthy = 0;
        }
        let mut switch = None;
        if entry.state.active == Target::Backup && meta.backup_graph_url.is_none() {
            entry.state.active = Target::Primary;
            switch = Some(Switch {
                at: now_ms(),
                from: Target::Backup,
                to: Target::Primary,
                from_url: self.url_of(Target::Backup, &primary_url, &None, &entry),
                to_url: primary_url,
                reason: "backup_removed".into(),
            });
        }
        if entry.state == old {
            return Ok(());
        }
        let (id, state, sw) = (app.to_owned(), entry.state, switch.clone());
        self.db
            .write(move |c| scrm_store::HealthRepo::record_change(c, &id, &state, sw.as_ref()))
            .await?;
        self.commit(app, entry, switch.as_ref());
        Ok(())
    }

    /// `app`'s health: state, newest probes and switches.
    ///
    /// # Errors
    /// [`HealthError::UnknownApp`] or a store failure.
    pub async fn view(&self, app: &str) -> Result<HealthView, HealthError> {
        let id = app.to_owned();
        let (meta, probes, switches) = self
            .db
            .read(move |c| {
                Ok((
                    scrm_store::AppRepo::get(c, &id)?,
                    scrm_store::HealthRepo::recent_probes(c, &id, RECENT_PROBES)?,
                    scrm_store::HealthRepo::switches(c, &id, RECENT_SWITCHES)?,
                ))
            })
            .await?;
        let meta = meta.ok_or_else(|| HealthError::UnknownApp(app.into()))?;
        let entry = self.read().get(app).cloned().unwrap_or_default();
        let primary_url = self.primary_url(&meta);
        let backup_url = meta.backup_graph_url.clone();
        let s = &self.settings;
        Ok(HealthView {
            app: meta.id.clone(),
            active: entry.state.active,
            active_url: self.base_url(app, primary_url.clone(), backup_url.clone()),
            graph_version: self.version(&meta),
            primary: PrimaryView {
                url: primary_url,
                consecutive_unhealthy: entry.state.primary_unhealthy,
                consecutive_healthy: entry.state.primary_healthy,
                last_probe: entry.last_primary,
            },
            backup: BackupView {
                url: backup_url,
                last_probe: entry.last_backup,
            },
            next_probe_at: entry
                .attempted_at
                .map(|at| at + s.interval.as_millis() as i64),
            thresholds: ThresholdsView {
                probe_interval_secs: s.interval.as_secs(),
                probe_slow_ms: s.slow.as_millis() as u64,
                probe_failures_to_switch: s.failures_to_switch,
                probe_successes_to_switch_back: s.successes_to_switch_back,
            },
            probes,
            switches,
        })
    }

    /// The prober: probes every app whose probe is due, until the task is dropped.
    /// An app's first probe is one interval after the prober first sees it (or
    /// after its last stored probe, across restarts).
    pub async fn run(self: Arc<Health>, probes: crate::singleton::Singleton) {
        let tick = self.settings.interval.min(MAX_TICK);
        loop {
            tokio::time::sleep(tick).await;
            // One host probes for all (several hosts on one database); the others
            // follow the state it stores.
            if !probes.held().await {
                if let Err(e) = self.refresh().await {
                    tracing::error!(error = %e, "cannot read the Cloud API health state");
                }
                continue;
            }
            let apps = match self.db.read(|c| scrm_store::AppRepo::list(c)).await {
                Ok(a) => a,
                Err(e) => {
                    tracing::error!(error = %e, "health prober cannot list apps");
                    continue;
                }
            };
            let now = now_ms();
            for meta in apps {
                if !self.due(&meta.id, now) {
                    continue;
                }
                let span = tracing::info_span!("scrm.health.probe", app = %meta.id);
                match self.probe_now(&meta.id).instrument(span).await {
                    Ok(_) => {}
                    Err(HealthError::NoCredentials(app)) => {
                        tracing::debug!(app = %app, "no tenant with a number and an access token; not probed");
                    }
                    Err(e) => tracing::error!(app = %meta.id, error = %e, "health probe failed"),
                }
            }
        }
    }

    /// True when `app`'s scheduled probe is due; marks it attempted.
    fn due(&self, app: &str, now: i64) -> bool {
        let interval = self.settings.interval.as_millis() as i64;
        let mut apps = self.apps.write().unwrap_or_else(|p| p.into_inner());
        let entry = apps.entry(app.to_owned()).or_default();
        match entry.attempted_at {
            Some(at) if now < at + interval => false,
            Some(_) => {
                entry.attempted_at = Some(now);
                true
            }
            None => {
                entry.attempted_at = Some(now);
                false
            }
        }
    }

    async fn probe_one(
        &self,
        app: &str,
        target: Target,
        url: &str,
        version: &str,
        number: &str,
        token: &str,
    ) -> Probe {
        let at = now_ms();
        let started = Instant::now();
        let result = self
            .client
            .probe(&Endpoint::new(url, version), number, token)
            .await;
        let elapsed = started.elapsed();
        let (outcome, error) = classify(result, elapsed, self.settings.slow);
        self.metrics.graph_probe(
            app,
            target.as_str(),
            elapsed.as_secs_f64(),
            outcome.as_str(),
        );
        tracing::debug!(
            app,
            target = target.as_str(),
            latency_ms = elapsed.as_millis() as u64,
            outcome = outcome.as_str(),
            "Cloud API probed"
        );
        Probe {
            target,
            url: Endpoint::new(url, version).base_url,
            at,
            latency_ms: elapsed.as_millis() as i64,
            outcome,
            error,
        }
    }

    fn commit(&self, app: &str, mut entry: AppHealth, switch: Option<&Switch>) {
        let backup = entry.state.active == Target::Backup;
        {
            let mut apps = self.apps.write().unwrap_or_else(|p| p.into_inner());
            if let Some(old) = apps.get(app) {
                entry.attempted_at = entry.attempted_at.max(old.attempted_at);
            }
            apps.insert(app.to_owned(), entry);
        }
        self.metrics.set_graph_backup_active(app, backup);
        if let Some(s) = switch {
            self.metrics.graph_switch(app, s.to.as_str());
            tracing::warn!(app, from = s.from.as_str(), to = s.to.as_str(), to_url = %s.to_url, reason = %s.reason, "Cloud API failover: switched base URL");
        }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<String, AppHealth>> {
        self.apps.read().unwrap_or_else(|p| p.into_inner())
    }

    fn round_lock(&self, app: &str) -> Arc<tokio::sync::Mutex<()>> {
        self.rounds
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(app.to_owned())
            .or_default()
            .clone()
    }

    fn primary_url(&self, app: &MetaApp) -> String {
        let url = app
            .graph_url
            .clone()
            .unwrap_or_else(|| self.settings.default_url.clone());
        Endpoint::new(url, "").base_url
    }

    fn version(&self, app: &MetaApp) -> String {
        app.graph_version
            .clone()
            .unwrap_or_else(|| self.settings.default_version.clone())
    }

    fn url_of(
        &self,
        target: Target,
        primary: &str,
        backup: &Option<String>,
        entry: &AppHealth,
    ) -> String {
        match target {
            Target::Primary => primary.to_owned(),
            Target::Backup => backup
                .clone()
                .or_else(|| entry.last_backup.as_ref().map(|p| p.url.clone()))
                .unwrap_or_default(),
        }
    }
}

/// A probe's outcome and error from the client's answer.
fn classify(
    result: Result<Duration, SendError>,
    elapsed: Duration,
    slow: Duration,
) -> (Outcome, Option<String>) {
    let too_slow = |took: Duration| {
        format!(
            "answered in {} ms, slower than {} ms",
            took.as_millis(),
            slow.as_millis()
        )
    };
    match result {
        Ok(took) if took > slow => (Outcome::Slow, Some(too_slow(took))),
        Ok(_) => (Outcome::Ok, None),
        Err(e @ SendError::Meta { status, .. }) if status < 500 => {
            if elapsed > slow {
                (Outcome::Slow, Some(format!("{}; {e}", too_slow(elapsed))))
            } else {
                (Outcome::Rejected, Some(e.to_string()))
            }
        }
        Err(e) => (Outcome::Failed, Some(e.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::SendSettings;

    fn settings(failures: u32, successes: u32) -> ProbeSettings {
        ProbeSettings {
            failures_to_switch: failures,
            successes_to_switch_back: successes,
            ..ProbeSettings::from_send_settings(&SendSettings::default()).unwrap()
        }
    }

    #[test]
    fn three_unhealthy_probes_in_a_row_switch_to_the_backup() {
        let s = settings(3, 1);
        let mut st = State::default();
        assert_eq!(Health::decide(&mut st, Outcome::Slow, true, &s), None);
        assert_eq!(Health::decide(&mut st, Outcome::Failed, true, &s), None);
        assert_eq!(
            Health::decide(&mut st, Outcome::Slow, true, &s),
            Some((Target::Backup, "primary_unhealthy"))
        );
        assert_eq!(st.active, Target::Backup);
        assert_eq!(st.primary_unhealthy, 3);
    }

    #[test]
    fn a_healthy_probe_in_between_restarts_the_count() {
        let s = settings(3, 1);
        let mut st = State::default();
        for o in [
            Outcome::Slow,
            Outcome::Slow,
            Outcome::Ok,
            Outcome::Slow,
            Outcome::Slow,
        ] {
            assert_eq!(Health::decide(&mut st, o, true, &s), None);
        }
        assert_eq!(st.primary_unhealthy, 2);
        assert_eq!(
            Health::decide(&mut st, Outcome::Failed, true, &s),
            Some((Target::Backup, "primary_unhealthy"))
        );
    }

    #[test]
    fn rejected_probes_do_not_count_towards_a_switch() {
        let s = settings(1, 1);
        let mut st = State::default();
        assert_eq!(Health::decide(&mut st, Outcome::Rejected, true, &s), None);
        assert_eq!(st.active, Target::Primary);
    }

    #[test]
    fn without_a_backup_the_primary_stays_active() {
        let s = settings(1, 1);
        let mut st = State::default();
        for _ in 0..5 {
            assert_eq!(Health::decide(&mut st, Outcome::Failed, false, &s), None);
        }
        assert_eq!(st.active, Target::Primary);
        assert_eq!(st.primary_unhealthy, 5);
    }

    #[test]
    fn switches_back_after_the_configured_healthy_probes() {
        let s = settings(1, 2);
        let mut st = State::default();
        Health::decide(&mut st, Outcome::Failed, true, &s);
        assert_eq!(st.active, Target::Backup);
        assert_eq!(Health::decide(&mut st, Outcome::Ok, true, &s), None);
        assert_eq!(
            Health::decide(&mut st, Outcome::Ok, true, &s),
            Some((Target::Primary, "primary_recovered"))
        );
    }

    #[test]
    fn a_removed_backup_sends_the_app_back_to_the_primary() {
        let s = settings(1, 5);
        let mut st = State {
            active: Target::Backup,
            ..State::default()
        };
        assert_eq!(
            Health::decide(&mut st, Outcome::Failed, false, &s),
            Some((Target::Primary, "backup_removed"))
        );
    }

    #[test]
    fn classifies_answers() {
        let slow = Duration::from_millis(100);
        let fast = Duration::from_millis(10);
        let late = Duration::from_millis(150);
        assert_eq!(classify(Ok(fast), fast, slow).0, Outcome::Ok);
        assert_eq!(classify(Ok(late), late, slow).0, Outcome::Slow);
        let meta = |status| SendError::Meta {
            status,
            code: 190,
            subcode: None,
            message: "bad token".into(),
            retry_after: None,
        };
        assert_eq!(classify(Err(meta(401)), fast, slow).0, Outcome::Rejected);
        assert_eq!(classify(Err(meta(401)), late, slow).0, Outcome::Slow);
        assert_eq!(classify(Err(meta(500)), fast, slow).0, Outcome::Failed);
        let http = SendError::Http {
            status: 404,
            retry_after: None,
        };
        assert_eq!(classify(Err(http), fast, slow).0, Outcome::Failed);
        assert_eq!(
            classify(Err(SendError::Timeout(slow)), late, slow).0,
            Outcome::Failed
        );
    }
}
