//! Cloud API health per app, as stored: which base URL is active, the counters that
//! decide a switch, recent probes and every switch (migration 0005). The logic that
//! writes them lives in the host's health module.

use super::{StoreError, now_ms};
use crate::params;
use crate::sql::{Conn, Row};
use serde::Serialize;

/// Probes kept per app and target; older ones are deleted as new ones arrive.
pub const PROBES_KEPT: i64 = 200;

/// Which of an app's Cloud API base URLs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Target {
    /// The app's `graph_url` (or the host's).
    Primary,
    /// The app's `backup_graph_url`.
    Backup,
}

impl Target {
    /// `primary` or `backup`.
    pub fn as_str(self) -> &'static str {
        match self {
            Target::Primary => "primary",
            Target::Backup => "backup",
        }
    }

    fn parse(s: &str) -> Target {
        if s == "backup" {
            Target::Backup
        } else {
            Target::Primary
        }
    }
}

/// How a probe went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// Answered 2xx within the slow threshold.
    Ok,
    /// Answered (2xx or Meta's 4xx envelope), but slower than the threshold.
    Slow,
    /// No usable answer: timeout, connection error, 5xx, or a non-Meta error page.
    Failed,
    /// Meta answered its 4xx error envelope (a bad token, say) in time: the API is
    /// up, so this does not count towards a switch; the error is kept.
    Rejected,
}

impl Outcome {
    /// `ok`, `slow`, `failed` or `rejected`.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Slow => "slow",
            Outcome::Failed => "failed",
            Outcome::Rejected => "rejected",
        }
    }

    /// True for the outcomes that count towards switching to the backup.
    pub fn unhealthy(self) -> bool {
        matches!(self, Outcome::Slow | Outcome::Failed)
    }

    fn parse(s: &str) -> Outcome {
        match s {
            "ok" => Outcome::Ok,
            "slow" => Outcome::Slow,
            "rejected" => Outcome::Rejected,
            _ => Outcome::Failed,
        }
    }
}

/// One probe of one base URL.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Probe {
    /// Primary or backup.
    pub target: Target,
    /// The base URL probed.
    pub url: String,
    /// When it started, Unix ms.
    pub at: i64,
    /// How long until the answer (or the failure), ms.
    pub latency_ms: i64,
    /// How it went.
    pub outcome: Outcome,
    /// Why it failed or was rejected.
    pub error: Option<String>,
}

/// A switch between primary and backup.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Switch {
    /// When, Unix ms.
    pub at: i64,
    /// From which target.
    pub from: Target,
    /// To which target.
    pub to: Target,
    /// The base URL used before.
    pub from_url: String,
    /// The base URL used after.
    pub to_url: String,
    /// `primary_unhealthy`, `primary_recovered` or `backup_removed`.
    pub reason: String,
}

/// An app's failover state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct State {
    /// The target sends use.
    pub active: Target,
    /// Consecutive slow or failed probes of the primary.
    pub primary_unhealthy: u32,
    /// Consecutive healthy probes of the primary.
    pub primary_healthy: u32,
}

impl Default for State {
    fn default() -> Self {
        State {
            active: Target::Primary,
            primary_unhealthy: 0,
            primary_healthy: 0,
        }
    }
}

/// One app's stored state with its newest probe of each target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    /// The app.
    pub app: String,
    /// Its state.
    pub state: State,
    /// The newest probe of the primary.
    pub last_primary: Option<Probe>,
    /// The newest probe of the backup.
    pub last_backup: Option<Probe>,
}

/// Every stored app state, with the app's newest probe of each target.
///
/// # Errors
/// On database failure.
pub(crate) fn load_all(c: &Conn<'_>) -> Result<Vec<Stored>, StoreError> {
    let rows = c.query("SELECT app_id, active, primary_unhealthy, primary_healthy FROM graph_health ORDER BY app_id", params![], |r| {
            Ok((
                r.get::<String>(0)?,
                State {
                    active: Target::parse(&r.get::<String>(1)?),
                    primary_unhealthy: r.get(2)?,
                    primary_healthy: r.get(3)?,
                },
            ))
        })?;
    rows.into_iter()
        .map(|(app, state)| {
            Ok(Stored {
                last_primary: last_probe(c, &app, Target::Primary)?,
                last_backup: last_probe(c, &app, Target::Backup)?,
                app,
                state,
            })
        })
        .collect()
}

fn probe_from_row(r: &Row<'_>) -> Result<Probe, StoreError> {
    Ok(Probe {
        target: Target::parse(&r.get::<String>(0)?),
        url: r.get(1)?,
        at: r.get(2)?,
        latency_ms: r.get(3)?,
        outcome: Outcome::parse(&r.get::<String>(4)?),
        error: r.get(5)?,
    })
}

/// The newest probe of an app's target.
///
/// # Errors
/// On database failure.
pub(crate) fn last_probe(
    c: &Conn<'_>,
    app: &str,
    target: Target,
) -> Result<Option<Probe>, StoreError> {
    c.query_opt(
        "SELECT target, url, at, latency_ms, outcome, error FROM graph_probes
         WHERE app_id = ?1 AND target = ?2 ORDER BY id DESC LIMIT 1",
        params![app, target.as_str()],
        probe_from_row,
    )
}

/// An app's newest probes, newest first.
///
/// # Errors
/// On database failure.
pub(crate) fn recent_probes(c: &Conn<'_>, app: &str, limit: u32) -> Result<Vec<Probe>, StoreError> {
    let rows = c.query(
        "SELECT target, url, at, latency_ms, outcome, error FROM graph_probes
         WHERE app_id = ?1 ORDER BY id DESC LIMIT ?2",
        params![app, i64::from(limit)],
        probe_from_row,
    )?;
    Ok(rows)
}

/// An app's switches, newest first.
///
/// # Errors
/// On database failure.
pub(crate) fn switches(c: &Conn<'_>, app: &str, limit: u32) -> Result<Vec<Switch>, StoreError> {
    let rows = c.query(
        "SELECT at, from_target, to_target, from_url, to_url, reason FROM graph_switches
         WHERE app_id = ?1 ORDER BY id DESC LIMIT ?2",
        params![app, i64::from(limit)],
        |r| {
            Ok(Switch {
                at: r.get(0)?,
                from: Target::parse(&r.get::<String>(1)?),
                to: Target::parse(&r.get::<String>(2)?),
                from_url: r.get(3)?,
                to_url: r.get(4)?,
                reason: r.get(5)?,
            })
        },
    )?;
    Ok(rows)
}

/// Stores the outcome of one probe round in one transaction: its probes, the new
/// state and the switch it caused, if any. Keeps the newest [`PROBES_KEPT`] probes
/// per app and target.
///
/// # Errors
/// On database failure (nothing is stored then).
pub(crate) fn record(
    c: &Conn<'_>,
    app: &str,
    probes: &[Probe],
    state: &State,
    switch: Option<&Switch>,
) -> Result<(), StoreError> {
    c.tx(|tx| {
    for p in probes {
        tx.execute(
            "INSERT INTO graph_probes (app_id, target, url, at, latency_ms, outcome, error)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![
                app,
                p.target.as_str(),
                p.url,
                p.at,
                p.latency_ms,
                p.outcome.as_str(),
                p.error
            ],)?;
        tx.execute(
            "DELETE FROM graph_probes WHERE app_id = ?1 AND target = ?2 AND id <= (
               SELECT id FROM graph_probes WHERE app_id = ?1 AND target = ?2
               ORDER BY id DESC LIMIT 1 OFFSET ?3)",
            params![app, p.target.as_str(), PROBES_KEPT],)?;
    }
    save_state(tx, app, state)?;
    if let Some(s) = switch {
        tx.execute(
            "INSERT INTO graph_switches (app_id, at, from_target, to_target, from_url, to_url, reason)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![
                app,
                s.at,
                s.from.as_str(),
                s.to.as_str(),
                s.from_url,
                s.to_url,
                s.reason
            ],)?;
    }
        Ok(())
    })
}

/// Stores an app's state (and a switch) without a probe: after an operator changed
/// the app's endpoints.
///
/// # Errors
/// On database failure.
pub(crate) fn record_change(
    c: &Conn<'_>,
    app: &str,
    state: &State,
    switch: Option<&Switch>,
) -> Result<(), StoreError> {
    record(c, app, &[], state, switch)
}

fn save_state(c: &Conn<'_>, app: &str, s: &State) -> Result<(), StoreError> {
    c.execute(
        "INSERT INTO graph_health (app_id, active, primary_unhealthy, primary_healthy, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (app_id) DO UPDATE SET active = excluded.active,
           primary_unhealthy = excluded.primary_unhealthy,
           primary_healthy = excluded.primary_healthy, updated_at = excluded.updated_at",
        params![
            app,
            s.active.as_str(),
            i64::from(s.primary_unhealthy),
            i64::from(s.primary_healthy),
            now_ms()
        ],
    )?;
    Ok(())
}

/// A phone number and access token to probe an app with: the first tenant of the
/// app (by id) that has both.
///
/// # Errors
/// On database failure.
pub(crate) fn probe_credentials(
    c: &Conn<'_>,
    app: &str,
) -> Result<Option<(String, String, String)>, StoreError> {
    let found: Option<(String, String)> = c.query_opt(
        "SELECT t.id, MIN(p.phone_number_id) FROM tenants t
           JOIN phone_numbers p ON p.tenant_id = t.id
           JOIN tenant_secrets s ON s.tenant_id = t.id AND s.name = ?2
         WHERE t.app_id = ?1 GROUP BY t.id ORDER BY t.id LIMIT 1",
        params![app, crate::secrets::TOKEN_SECRET],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    let Some((tenant, number)) = found else {
        return Ok(None);
    };
    // Opened (it is stored sealed) through the secrets' own path.
    let token = crate::secrets::get(c, &tenant, crate::secrets::TOKEN_SECRET)?;
    Ok(token.map(|t| (tenant, number, t)))
}

crate::repo! {
    /// Cloud API health probes and failover switches.
    pub trait HealthRepo {
        /// Every stored app state, with the app's newest probe of each target.
        fn load_all() -> Result<Vec<Stored>, StoreError>;
        /// The newest probe of an app's target.
        fn last_probe(app: &str, target: Target) -> Result<Option<Probe>, StoreError>;
        /// An app's newest probes, newest first.
        fn recent_probes(app: &str, limit: u32) -> Result<Vec<Probe>, StoreError>;
        /// An app's switches, newest first.
        fn switches(app: &str, limit: u32) -> Result<Vec<Switch>, StoreError>;
        /// Stores the outcome of one probe round in one transaction: its probes, the new
        /// state and the switch it caused, if any. Keeps the newest [`PROBES_KEPT`] probes
        /// per app and target.
        fn record(app: &str, probes: &[Probe], state: &State, switch: Option<&Switch>) -> Result<(), StoreError>;
        /// Stores an app's state (and a switch) without a probe: after an operator changed
        /// the app's endpoints.
        fn record_change(app: &str, state: &State, switch: Option<&Switch>) -> Result<(), StoreError>;
        /// A phone number and access token to probe an app with: the first tenant of the
        /// app (by id) that has both.
        fn probe_credentials(app: &str) -> Result<Option<(String, String, String)>, StoreError>;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db() -> Vec<crate::testing::TestDb> {
        let all = crate::testing::backends();
        for t in &all {
            t.db.with_conn(|c| crate::apps::insert(c, "app1", "secret-123456", "v"))
                .unwrap();
        }
        all
    }

    fn probe(target: Target, at: i64, outcome: Outcome) -> Probe {
        Probe {
            target,
            url: "http://127.0.0.1:9".into(),
            at,
            latency_ms: 5,
            outcome,
            error: None,
        }
    }

    #[test]
    fn state_probes_and_switches_survive_a_reopen() {
        for t in db() {
            eprintln!("backend: {}", t.backend);
            let db = &t.db;
            let state = State {
                active: Target::Backup,
                primary_unhealthy: 3,
                primary_healthy: 0,
            };
            let switch = Switch {
                at: 7,
                from: Target::Primary,
                to: Target::Backup,
                from_url: "http://a".into(),
                to_url: "http://b".into(),
                reason: "primary_unhealthy".into(),
            };
            db.with_conn(|c| {
                record(
                    c,
                    "app1",
                    &[
                        probe(Target::Primary, 1, Outcome::Failed),
                        probe(Target::Backup, 2, Outcome::Ok),
                    ],
                    &state,
                    Some(&switch),
                )
            })
            .unwrap();
            let db = t.reopen();
            let all = db.with_conn(load_all).unwrap();
            assert_eq!(all.len(), 1);
            let loaded = &all[0];
            assert_eq!((loaded.app.as_str(), &loaded.state), ("app1", &state));
            let primary = loaded.last_primary.as_ref().map(|p| p.outcome);
            assert_eq!(primary, Some(Outcome::Failed));
            assert_eq!(loaded.last_backup.as_ref().map(|p| p.at), Some(2));
            let sw = db.with_conn(|c| switches(c, "app1", 10)).unwrap();
            assert_eq!(sw, vec![switch]);
        }
    }

    #[test]
    fn only_the_newest_probes_are_kept() {
        for t in db() {
            let db = &t.db;
            eprintln!("backend: {}", t.backend);
            let n = PROBES_KEPT + 25;
            db.with_conn(|c| {
                for i in 0..n {
                    record(
                        c,
                        "app1",
                        &[probe(Target::Primary, i, Outcome::Ok)],
                        &State::default(),
                        None,
                    )?;
                }
                Ok(())
            })
            .unwrap();
            let kept = db.with_conn(|c| recent_probes(c, "app1", 10_000)).unwrap();
            assert_eq!(kept.len() as i64, PROBES_KEPT);
            assert_eq!(kept[0].at, n - 1);
            assert_eq!(kept.last().unwrap().at, n - PROBES_KEPT);
        }
    }
}
