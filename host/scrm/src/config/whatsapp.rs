//! The `[whatsapp]` table: how the host talks to the Cloud API, retries, probes its
//! health, and which sending limits apply by default.

use crate::limits::{Limits, policy};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// How the sender talks to the Cloud API and retries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SendSettings {
    /// Cloud API base URL (`--graph-url`, `SCRM_GRAPH_URL`); apps may override it.
    pub graph_url: String,
    /// Graph API version; apps may override it.
    pub graph_version: String,
    /// Timeout of one Cloud API request, ms.
    pub request_timeout_ms: u64,
    /// Attempts for 5xx answers and timeouts before a send is dead-lettered.
    pub max_attempts: u32,
    /// First back-off, ms; doubled per attempt, with jitter.
    pub backoff_base_ms: u64,
    /// Longest back-off, ms.
    pub backoff_max_ms: u64,
    /// How long 131049 / 368 pause marketing, ms.
    pub marketing_pause_ms: i64,
    /// Limits in force unless a tenant or number overrides them.
    pub limits: Limits,
    /// Seconds between health probes of each app's Cloud API base URL
    /// (the Cloud API health prober).
    pub probe_interval_secs: u64,
    /// A probe answered slower than this, ms, counts as unhealthy.
    pub probe_slow_ms: u64,
    /// Consecutive slow or failed probes of the primary that switch an app to its
    /// backup URL.
    pub probe_failures_to_switch: u32,
    /// Consecutive healthy probes of the primary that switch an app back from its
    /// backup URL.
    pub probe_successes_to_switch_back: u32,
    /// How long the drop-in Cloud API endpoint waits for a send to reach Meta before
    /// it answers with a provisional id, ms (clients time out: pywa after 5 s).
    pub drop_in_wait_ms: u64,
}

impl Default for SendSettings {
    fn default() -> Self {
        SendSettings {
            graph_url: "https://graph.facebook.com".into(),
            graph_version: "v23.0".into(),
            request_timeout_ms: 10_000,
            max_attempts: 6,
            backoff_base_ms: 1_000,
            backoff_max_ms: 300_000,
            marketing_pause_ms: policy::DAY_MS,
            limits: Limits::default(),
            probe_interval_secs: 3_600,
            probe_slow_ms: 1_500,
            probe_failures_to_switch: 3,
            probe_successes_to_switch_back: 1,
            drop_in_wait_ms: 3_000,
        }
    }
}

/// The prober's settings, validated from `[whatsapp]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeSettings {
    /// Time between two scheduled probes of an app.
    pub interval: Duration,
    /// Answers slower than this are unhealthy.
    pub slow: Duration,
    /// Unhealthy probes of the primary in a row that switch to the backup.
    pub failures_to_switch: u32,
    /// Healthy probes of the primary in a row that switch back from the backup.
    pub successes_to_switch_back: u32,
    /// The host's base URL, for apps without their own.
    pub default_url: String,
    /// The host's Graph API version, for apps without their own.
    pub default_version: String,
    /// Timeout of one probe.
    pub timeout: Duration,
}

/// A `[whatsapp]` probe setting out of range.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field} must be {range}, got {got}")]
pub struct InvalidProbeSettings {
    /// The setting.
    pub field: &'static str,
    /// The allowed range.
    pub range: &'static str,
    /// The value given.
    pub got: u64,
}

impl ProbeSettings {
    /// Validates the probe fields of `s`.
    ///
    /// # Errors
    /// [`InvalidProbeSettings`] naming the field out of range.
    pub fn from_send_settings(s: &SendSettings) -> Result<ProbeSettings, InvalidProbeSettings> {
        let check = |field, range, got: u64, ok: bool| {
            if ok {
                Ok(())
            } else {
                Err(InvalidProbeSettings { field, range, got })
            }
        };
        let i = s.probe_interval_secs;
        check(
            "probe_interval_secs",
            "1..=604800",
            i,
            (1..=604_800).contains(&i),
        )?;
        let slow = s.probe_slow_ms;
        check(
            "probe_slow_ms",
            "1..=600000",
            slow,
            (1..=600_000).contains(&slow),
        )?;
        let f = s.probe_failures_to_switch;
        check(
            "probe_failures_to_switch",
            "1..=100",
            f.into(),
            (1..=100).contains(&f),
        )?;
        let b = s.probe_successes_to_switch_back;
        check(
            "probe_successes_to_switch_back",
            "1..=100",
            b.into(),
            (1..=100).contains(&b),
        )?;
        Ok(ProbeSettings {
            interval: Duration::from_secs(i),
            slow: Duration::from_millis(slow),
            failures_to_switch: f,
            successes_to_switch_back: b,
            default_url: s.graph_url.clone(),
            default_version: s.graph_version.clone(),
            timeout: Duration::from_millis(s.request_timeout_ms.max(1)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_out_of_range_probe_settings() {
        let bad = SendSettings {
            probe_failures_to_switch: 0,
            ..SendSettings::default()
        };
        let e = ProbeSettings::from_send_settings(&bad).unwrap_err();
        assert_eq!(e.field, "probe_failures_to_switch");
        let bad = SendSettings {
            probe_interval_secs: 0,
            ..SendSettings::default()
        };
        assert!(
            ProbeSettings::from_send_settings(&bad)
                .unwrap_err()
                .to_string()
                .contains("probe_interval_secs")
        );
        let ok = ProbeSettings::from_send_settings(&SendSettings::default()).unwrap();
        assert_eq!(ok.interval, Duration::from_secs(3600));
        assert_eq!(ok.slow, Duration::from_millis(1500));
        assert_eq!(ok.failures_to_switch, 3);
    }
}
