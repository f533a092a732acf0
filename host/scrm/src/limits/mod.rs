//! WhatsApp's rules, enforced before Meta would reject a send: the daily cap on
//! business-initiated conversations (messaging tier), the 24-hour customer-service
//! window, the opt-in rule, opt-out, throughput per number and pacing per recipient.
//!
//! [`policy`] decides, for one send, whether it may go now, must wait (until when,
//! and why) or can never go as it is. [`optout`] recognises STOP keywords. Pacing per
//! number and per recipient lives in the store (`scrm_store::HostRepo`), shared by
//! every host on the database. [`Limits`] are the numbers, with
//! defaults from the configuration file and JSON overrides per tenant and per phone
//! number ([`LimitOverrides`]).
//!
//! ```
//! use scrm::limits::{DailyCap, LimitOverrides, Limits};
//! let tenant: LimitOverrides = serde_json::from_str(r#"{"daily_cap": 10000}"#).unwrap();
//! let number: LimitOverrides = serde_json::from_str(r#"{"mps": 200}"#).unwrap();
//! let effective = Limits::default().with(&tenant).unwrap().with(&number).unwrap();
//! assert_eq!(effective.daily_cap, DailyCap::Limited(10_000));
//! assert_eq!(effective.mps, 200);
//! ```

pub mod optout;
pub mod policy;
#[cfg(test)]
mod props;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The daily cap on business-initiated conversations: Meta's messaging tiers are
/// 250, 1,000 (older accounts), 2,000, 10,000, 100,000 and unlimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DailyCap {
    /// At most this many distinct recipients per rolling 24 hours.
    Limited(u32),
    /// No cap.
    Unlimited,
}

impl DailyCap {
    /// The cap as a number, `None` when unlimited.
    pub fn get(self) -> Option<u32> {
        match self {
            DailyCap::Limited(n) => Some(n),
            DailyCap::Unlimited => None,
        }
    }
}

impl Serialize for DailyCap {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            DailyCap::Limited(n) => s.serialize_u32(*n),
            DailyCap::Unlimited => s.serialize_str("unlimited"),
        }
    }
}

impl<'de> Deserialize<'de> for DailyCap {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Number(u32),
            Word(String),
        }
        match Raw::deserialize(d)? {
            Raw::Number(0) => Err(serde::de::Error::custom(
                "daily_cap must be at least 1 (or \"unlimited\")",
            )),
            Raw::Number(n) => Ok(DailyCap::Limited(n)),
            Raw::Word(w) if w == "unlimited" => Ok(DailyCap::Unlimited),
            Raw::Word(w) => Err(serde::de::Error::custom(format!(
                "daily_cap must be a number or \"unlimited\", got {w:?}"
            ))),
        }
    }
}

/// The sending limits in force for one phone number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Distinct recipients of business-initiated messages per rolling 24 hours.
    pub daily_cap: DailyCap,
    /// Messages per second from one number (Meta: 80 by default, up to 1,000).
    pub mps: u32,
    /// Messages to one recipient that may go back to back before pacing applies.
    pub recipient_burst: u32,
    /// After the burst, at most one message to the same recipient per this many ms
    /// (Meta's pair rate limit is about one per 6 seconds).
    pub recipient_interval_ms: u64,
    /// Contacts without recorded opt-in get at most one business-initiated message
    /// per 24 hours.
    pub require_opt_in: bool,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            daily_cap: DailyCap::Limited(1_000),
            mps: 80,
            recipient_burst: 5,
            recipient_interval_ms: 6_000,
            require_opt_in: true,
        }
    }
}

/// Overrides a tenant or a phone number sets; absent fields keep the level above.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitOverrides {
    /// See [`Limits::daily_cap`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub daily_cap: Option<DailyCap>,
    /// See [`Limits::mps`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mps: Option<u32>,
    /// See [`Limits::recipient_burst`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recipient_burst: Option<u32>,
    /// See [`Limits::recipient_interval_ms`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recipient_interval_ms: Option<u64>,
    /// See [`Limits::require_opt_in`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub require_opt_in: Option<bool>,
}

impl Limits {
    /// These limits with `o` applied, validated.
    ///
    /// # Errors
    /// When a value is out of range; the message names the field.
    pub fn with(&self, o: &LimitOverrides) -> Result<Limits, String> {
        let merged = Limits {
            daily_cap: o.daily_cap.unwrap_or(self.daily_cap),
            mps: o.mps.unwrap_or(self.mps),
            recipient_burst: o.recipient_burst.unwrap_or(self.recipient_burst),
            recipient_interval_ms: o
                .recipient_interval_ms
                .unwrap_or(self.recipient_interval_ms),
            require_opt_in: o.require_opt_in.unwrap_or(self.require_opt_in),
        };
        merged.check()?;
        Ok(merged)
    }

    /// Checks ranges.
    ///
    /// # Errors
    /// When a value is out of range; the message names the field.
    pub fn check(&self) -> Result<(), String> {
        if !(1..=1_000).contains(&self.mps) {
            return Err(format!(
                "mps must be 1..=1000 (Meta's maximum), got {}",
                self.mps
            ));
        }
        if !(1..=1_000).contains(&self.recipient_burst) {
            return Err(format!(
                "recipient_burst must be 1..=1000, got {}",
                self.recipient_burst
            ));
        }
        if !(1..=86_400_000).contains(&self.recipient_interval_ms) {
            return Err(format!(
                "recipient_interval_ms must be 1..=86400000, got {}",
                self.recipient_interval_ms
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn daily_cap_accepts_tiers_and_unlimited() {
        for (json, cap) in [
            ("250", DailyCap::Limited(250)),
            ("\"unlimited\"", DailyCap::Unlimited),
        ] {
            assert_eq!(serde_json::from_str::<DailyCap>(json).unwrap(), cap);
        }
        assert!(serde_json::from_str::<DailyCap>("0").is_err());
        let e = serde_json::from_str::<DailyCap>("\"lots\"").unwrap_err();
        assert!(e.to_string().contains("unlimited"), "{e}");
    }

    #[test]
    fn overrides_layer_and_are_validated() {
        let o: LimitOverrides = serde_json::from_str(r#"{"mps": 1001}"#).unwrap();
        assert!(Limits::default().with(&o).unwrap_err().contains("mps"));
        assert!(serde_json::from_str::<LimitOverrides>(r#"{"mpss": 1}"#).is_err());
        let o: LimitOverrides =
            serde_json::from_str(r#"{"daily_cap": "unlimited", "require_opt_in": false}"#).unwrap();
        let l = Limits::default().with(&o).unwrap();
        assert_eq!(l.daily_cap, DailyCap::Unlimited);
        assert!(!l.require_opt_in);
        assert_eq!(l.mps, 80);
    }
}
