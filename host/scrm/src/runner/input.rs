//! What a local run feeds a plugin, read from a JSON file: a Cloud API webhook
//! payload (parsed by `scrm-wire`, as the pipeline parses what Meta posts), a CRM
//! record, or a parcel to track. Which inputs a slot takes: [`accepts`].

use scrm_engine::Slot;
use scrm_engine::crm::CrmRecord;
use scrm_wire::payload::{self, Notification};
use serde::Deserialize;
use serde_json::Value;

/// One input file's content.
#[derive(Debug, Clone)]
pub enum Input {
    /// A webhook body as Meta posts it: each message in it reaches the plugin.
    Webhook(Notification),
    /// A CRM record, as a connector reads it or a mapper writes it.
    Record(CrmRecord),
    /// A parcel to track (couriers).
    Parcel(Parcel),
}

/// A parcel to track: `{"number": "…", "carrier": "dhl"}`.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Parcel {
    /// The tracking number.
    pub number: String,
    /// The courier's slug, when known.
    #[serde(default)]
    pub carrier: Option<String>,
}

/// A CRM record as JSON: `{"object": "contact", "id": "…", "updated_at": ms,
/// "fields": {"name": value, …}}`, or with `fields` as `[["name", value], …]` (the
/// order kept; what `scrm plugin run` prints for a mapper's records). Values: text,
/// numbers, booleans, `{"timestamp": ms}`, null (empty).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RecordJson {
    object: String,
    #[serde(default)]
    id: Option<String>,
    fields: Fields,
    #[serde(default)]
    updated_at: Option<i64>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Fields {
    Map(serde_json::Map<String, Value>),
    Pairs(Vec<(String, Value)>),
}

impl Input {
    /// Reads an input file's bytes; `what` names it in errors.
    ///
    /// # Errors
    /// A one-line message saying what the file should be.
    pub fn parse(bytes: &[u8], what: &str) -> Result<Input, String> {
        let json: Value = serde_json::from_slice(bytes).map_err(|e| {
            format!("{what} is not JSON ({e}): give a webhook payload, a CRM record or a parcel")
        })?;
        if json.get("entry").is_some() {
            return payload::parse(bytes)
                .map(Input::Webhook)
                .map_err(|e| format!("{what}: {e}"));
        }
        if json.get("fields").is_some() {
            let r: RecordJson = serde_json::from_value(json)
                .map_err(|e| format!("{what} is not a CRM record ({e}): expected {{\"object\", \"id\", \"fields\", \"updated_at\"}}"))?;
            let fields = match r.fields {
                Fields::Map(m) => m.into_iter().collect(),
                Fields::Pairs(p) => p,
            };
            return Ok(Input::Record(CrmRecord {
                object: r.object,
                id: r.id,
                fields,
                updated_at: r.updated_at,
            }));
        }
        if json.get("number").is_some() {
            return serde_json::from_value(json)
                .map(Input::Parcel)
                .map_err(|e| {
                    format!("{what} is not a parcel ({e}): expected {{\"number\", \"carrier\"}}")
                });
        }
        Err(format!(
            "{what} is none of what plugins take: a Cloud API webhook payload (an object with an \"entry\" array), a CRM record ({{\"object\", \"fields\"}}) or a parcel ({{\"number\"}})"
        ))
    }

    /// What the input is, for messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Input::Webhook(_) => "a webhook payload",
            Input::Record(_) => "a CRM record",
            Input::Parcel(_) => "a parcel",
        }
    }
}

/// Whether a `slot` plugin takes `input`; if not, what it takes.
///
/// # Errors
/// A message naming what the slot runs on.
pub fn accepts(slot: Slot, input: &Input) -> Result<(), String> {
    let takes = match slot {
        Slot::Classifier | Slot::Responder | Slot::Flow => "webhook payloads",
        Slot::Mapper => "webhook payloads and CRM records",
        Slot::Connector | Slot::Geocoder => "CRM records",
        Slot::Courier => "parcels ({\"number\", \"carrier\"})",
    };
    let ok = matches!(
        (slot, input),
        (
            Slot::Classifier | Slot::Responder | Slot::Flow | Slot::Mapper,
            Input::Webhook(_)
        ) | (
            Slot::Mapper | Slot::Connector | Slot::Geocoder,
            Input::Record(_)
        ) | (Slot::Courier, Input::Parcel(_))
    );
    if ok {
        Ok(())
    } else {
        Err(format!(
            "a {} runs on {takes}, not {}",
            slot.as_str(),
            input.kind()
        ))
    }
}

/// Whether a `slot` plugin is called without an input (a connector pulls changes,
/// a flow describes itself); if not, what to give it.
///
/// # Errors
/// A message saying how to give an input.
pub fn runs_without_input(slot: Slot) -> Result<(), String> {
    match slot {
        Slot::Connector | Slot::Flow => Ok(()),
        slot => Err(format!(
            "a {} needs an input: give --input FILE (or -) or --fixtures DIR",
            slot.as_str()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tells_webhooks_records_and_parcels_apart() {
        let hook = br#"{"object": "whatsapp_business_account", "entry": []}"#;
        assert!(matches!(
            Input::parse(hook, "f").unwrap(),
            Input::Webhook(_)
        ));
        let rec = br#"{"object": "contact", "id": "7", "fields": {"email": "a@b.c", "vip": true, "seen": {"timestamp": 5}}}"#;
        let Input::Record(r) = Input::parse(rec, "f").unwrap() else {
            panic!("a record")
        };
        assert_eq!(r.object, "contact");
        assert_eq!(r.field("vip"), Some(&Value::Bool(true)));
        let pairs = br#"{"object": "contact", "fields": [["b", 1], ["a", null]]}"#;
        let Input::Record(r) = Input::parse(pairs, "f").unwrap() else {
            panic!("a record")
        };
        assert_eq!(r.fields[0].0, "b", "pairs keep their order");
        let parcel = br#"{"number": "1Z999", "carrier": "ups"}"#;
        assert!(matches!(
            Input::parse(parcel, "f").unwrap(),
            Input::Parcel(_)
        ));
    }

    #[test]
    fn refuses_what_no_plugin_takes_with_the_file_named() {
        let err = Input::parse(b"[1, 2]", "odd.json").unwrap_err();
        assert!(err.starts_with("odd.json is none of"), "{err}");
        let err = Input::parse(b"{nope", "bad.json").unwrap_err();
        assert!(err.starts_with("bad.json is not JSON"), "{err}");
    }

    #[test]
    fn each_slot_takes_its_inputs() {
        let hook = Input::parse(br#"{"entry": []}"#, "f").unwrap();
        let rec = Input::parse(br#"{"object": "contact", "fields": {}}"#, "f").unwrap();
        assert!(accepts(Slot::Classifier, &hook).is_ok());
        assert!(accepts(Slot::Mapper, &rec).is_ok());
        let err = accepts(Slot::Classifier, &rec).unwrap_err();
        assert_eq!(
            err,
            "a classifier runs on webhook payloads, not a CRM record"
        );
        assert!(accepts(Slot::Connector, &hook).is_err());
    }
}
