//! The slots a tenant fills with plugins, one per world of the WIT package.

use crate::{WIT_VERSION, contract};

/// A plugin slot of a tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Slot {
    /// Tags and signals from each inbound message.
    Classifier,
    /// Host records ↔ CRM records.
    Mapper,
    /// Talks to the tenant's CRM.
    Connector,
    /// Actions (replies, tags, assignments) for each inbound message.
    Responder,
    /// Completes CRM addresses (a missing postcode) before they are written.
    Geocoder,
    /// Durable automation (since WIT 0.1.1): a tenant enables any number of flows,
    /// each bound under the slot name `flow:NAME`.
    Flow,
    /// Parcel tracking (since WIT 0.1.1): where a shipped order is.
    Courier,
}

impl Slot {
    /// Every slot this host supports.
    pub const ALL: [Slot; 7] = [
        Slot::Classifier,
        Slot::Mapper,
        Slot::Connector,
        Slot::Responder,
        Slot::Geocoder,
        Slot::Flow,
        Slot::Courier,
    ];

    /// The slot's name as used in the API and CLI.
    pub fn as_str(self) -> &'static str {
        match self {
            Slot::Classifier => "classifier",
            Slot::Mapper => "mapper",
            Slot::Connector => "connector",
            Slot::Responder => "responder",
            Slot::Geocoder => "geocoder",
            Slot::Flow => "flow",
            Slot::Courier => "courier",
        }
    }

    /// The WIT interface the slot's component exports.
    pub fn export(self) -> String {
        format!(
            "scrm:plugin/{}@{WIT_VERSION}",
            contract::slot_interface(self)
        )
    }

    /// The WIT world a component must implement to fill this slot.
    pub fn world(self) -> String {
        format!("scrm:plugin/{}@{WIT_VERSION}", self.as_str())
    }
}

impl std::str::FromStr for Slot {
    type Err = String;

    fn from_str(s: &str) -> Result<Slot, String> {
        if s.strip_prefix("flow:").is_some_and(|name| !name.is_empty()) {
            return Ok(Slot::Flow);
        }
        Slot::ALL
            .into_iter()
            .find(|slot| slot.as_str() == s)
            .ok_or_else(|| {
                format!(
                    "unknown slot {s:?}; this host supports: {}",
                    Slot::ALL.map(Slot::as_str).join(", ")
                )
            })
    }
}
