//! Two-way CRM sync state: per-tenant settings, the durable queue of CRM writes,
//! links between host and CRM records, field-level clocks (last writer wins), the
//! review queue and the pull cursor. The host's sync engine uses them.

mod dedupe;
mod jobs;
mod links;
mod reviews;
mod unread;

pub use dedupe::*;
pub use jobs::*;
pub use links::*;
pub use reviews::*;
pub use unread::*;

use super::{StoreError, now_ms};
use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};

/// How a tenant's CRM sync runs. Missing fields take their defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CrmSettings {
    /// `realtime` (each event is written at once), `batch` (written every
    /// `batch_minutes`) or `off` (nothing is queued).
    pub mode: String,
    /// The batch interval in minutes (batch mode).
    pub batch_minutes: u32,
    /// How often changes are pulled from the CRM, in seconds; 0 turns the scheduled
    /// pull off (CRM webhooks still apply).
    pub pull_seconds: u32,
    /// The CRM's rate limit the host keeps to: `rate_requests` per `rate_seconds`.
    pub rate_requests: u32,
    /// See `rate_requests`.
    pub rate_seconds: u32,
    /// Chat history is kept this many days (at least 180); older messages are purged.
    pub retention_days: u32,
    /// Likely duplicates at or above this confidence are merged automatically; below
    /// it they are proposed in the review queue.
    pub merge_confidence: f64,
    /// A business message unread this many hours lowers the contact's priority in the
    /// CRM (0: never).
    pub unread_hours: u32,
    /// The priority written to the CRM by that rule.
    pub unread_priority: String,
}

impl Default for CrmSettings {
    fn default() -> CrmSettings {
        CrmSettings {
            mode: "realtime".into(),
            batch_minutes: 15,
            pull_seconds: 60,
            // HubSpot's documented default for private apps.
            rate_requests: 100,
            rate_seconds: 10,
            retention_days: 180,
            merge_confidence: 0.95,
            unread_hours: 24,
            unread_priority: "low".into(),
        }
    }
}

impl CrmSettings {
    /// Checks every value; the message says which one is wrong and why.
    ///
    /// # Errors
    /// A human-readable reason.
    pub fn validate(&self) -> Result<(), String> {
        if !matches!(self.mode.as_str(), "realtime" | "batch" | "off") {
            return Err(format!(
                "mode must be realtime, batch or off, not {:?}",
                self.mode
            ));
        }
        if !(1..=1440).contains(&self.batch_minutes) {
            return Err("batch_minutes must be 1 to 1440".into());
        }
        if self.pull_seconds > 86_400 {
            return Err("pull_seconds must be 0 (off) to 86400".into());
        }
        if self.rate_requests == 0 || !(1..=3600).contains(&self.rate_seconds) {
            return Err("rate_requests must be at least 1 and rate_seconds 1 to 3600".into());
        }
        if self.retention_days < MIN_RETENTION_DAYS {
            return Err(format!(
                "retention_days must be at least {MIN_RETENTION_DAYS}: chat history is kept at least that long"
            ));
        }
        if !(0.0..=1.0).contains(&self.merge_confidence) || self.merge_confidence < 0.8 {
            return Err(
                "merge_confidence must be between 0.8 and 1 (1: never merge automatically)".into(),
            );
        }
        if self.unread_hours > 24 * 30 {
            return Err("unread_hours must be 0 (off) to 720".into());
        }
        if self.unread_priority.trim().is_empty() {
            return Err("unread_priority must not be empty".into());
        }
        Ok(())
    }
}

/// The shortest chat-history retention a tenant can set, in days.
pub const MIN_RETENTION_DAYS: u32 = 180;

/// A tenant's settings (the defaults when none were stored).
///
/// # Errors
/// On database failure.
pub fn settings(conn: &Connection, tenant: &str) -> Result<CrmSettings, StoreError> {
    Ok(conn
        .query_row(
            "SELECT mode, batch_minutes, pull_seconds, rate_requests, rate_seconds, retention_days,
                    merge_confidence, unread_hours, unread_priority
             FROM crm_settings WHERE tenant_id = ?1",
            [tenant],
            |r| {
                Ok(CrmSettings {
                    mode: r.get(0)?,
                    batch_minutes: r.get(1)?,
                    pull_seconds: r.get(2)?,
                    rate_requests: r.get(3)?,
                    rate_seconds: r.get(4)?,
                    retention_days: r.get(5)?,
                    merge_confidence: r.get(6)?,
                    unread_hours: r.get(7)?,
                    unread_priority: r.get(8)?,
                })
            },
        )
        .optional()?
        .unwrap_or_default())
}

/// Stores a tenant's settings (validated by the caller).
///
/// # Errors
/// On database failure.
pub fn put_settings(conn: &Connection, tenant: &str, s: &CrmSettings) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO crm_settings (tenant_id, mode, batch_minutes, pull_seconds, rate_requests,
             rate_seconds, retention_days, updated_at, merge_confidence, unread_hours, unread_priority)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)
         ON CONFLICT (tenant_id) DO UPDATE SET mode = ?2, batch_minutes = ?3, pull_seconds = ?4,
             rate_requests = ?5, rate_seconds = ?6, retention_days = ?7, updated_at = ?8,
             merge_confidence = ?9, unread_hours = ?10, unread_priority = ?11",
        params![
            tenant,
            s.mode,
            s.batch_minutes,
            s.pull_seconds,
            s.rate_requests,
            s.rate_seconds,
            s.retention_days,
            now_ms(),
            s.merge_confidence,
            s.unread_hours,
            s.unread_priority
        ],
    )?;
    Ok(())
}

/// The pull cursor of a tenant ("" before the first pull).
///
/// # Errors
/// On database failure.
pub fn cursor(conn: &Connection, tenant: &str) -> Result<String, StoreError> {
    Ok(conn
        .query_row(
            "SELECT cursor FROM crm_cursors WHERE tenant_id = ?1",
            [tenant],
            |r| r.get(0),
        )
        .optional()?
        .unwrap_or_default())
}

/// Stores the pull cursor of a tenant.
///
/// # Errors
/// On database failure.
pub fn set_cursor(conn: &Connection, tenant: &str, cursor: &str) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO crm_cursors (tenant_id, cursor, pulled_at) VALUES (?1, ?2, ?3)
         ON CONFLICT (tenant_id) DO UPDATE SET cursor = ?2, pulled_at = ?3",
        params![tenant, cursor, now_ms()],
    )?;
    Ok(())
}
