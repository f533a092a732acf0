//! {{name}}: a scrm connector for HubSpot's CRM v3 API (contacts and notes). What
//! is HubSpot's is in `hubspot.rs` (requests, statuses, records, the pull cursor)
//! and `webhook.rs` (the v3 signature); this file is the contract: each export of
//! the `{{world}}` world of scrm:plugin@{{wit_version}} in a few calls.
//!
//! The access token is never in the configuration: the host adds it to each
//! request (a tenant secret named as a credential of the binding's HTTP policy).

pub mod hubspot;
pub mod webhook;

use hubspot::{Config, call, text_field};
use scrm_plugin_sdk::{
    Changes, Connector, ConnectorError, CrmRecord, FieldValue, OrderInfo, OrderLookup, Pushed,
    WriteKey,
};
use serde_json::json;

const CONTACTS: &str = "/crm/v3/objects/contacts";
const NOTES: &str = "/crm/v3/objects/notes";
/// HubSpot's association type of a note to a contact.
const NOTE_TO_CONTACT: u32 = 202;

fn config() -> Result<Config, ConnectorError> {
    Config::parse(&scrm_plugin_sdk::config::bytes())
        .map_err(|e| ConnectorError::Invalid(format!("connector config: {e}")))
}

/// Updates contact `id` with `props`.
fn update(cfg: &Config, id: &str, props: &serde_json::Value) -> Result<Pushed, ConnectorError> {
    let path = format!("{CONTACTS}/{}", hubspot::object_id(id)?);
    hubspot::pushed(&call(cfg, "PATCH", &path, Some(&json!({"properties": props})))?)
}

/// The id of the contact whose `phone` is `phone`, if HubSpot has one.
fn find_by_phone(cfg: &Config, phone: &str) -> Result<Option<String>, ConnectorError> {
    let search = json!({"filterGroups": [{"filters": [
        {"propertyName": "phone", "operator": "EQ", "value": phone}]}], "limit": 1});
    let found = call(cfg, "POST", &format!("{CONTACTS}/search"), Some(&search))?;
    Ok(found["results"][0]["id"].as_str().map(str::to_owned))
}

/// The id of the note holding `key` in the key property, if HubSpot has one.
fn find_note(cfg: &Config, key: &str) -> Result<Option<String>, ConnectorError> {
    let search = json!({"filterGroups": [{"filters": [
        {"propertyName": cfg.key_property, "operator": "EQ", "value": key}]}], "limit": 1});
    let found = call(cfg, "POST", &format!("{NOTES}/search"), Some(&search))?;
    Ok(found["results"][0]["id"].as_str().map(str::to_owned))
}

/// The exported connector.
pub struct Plugin;

impl Connector for Plugin {
    /// By id when the host knows it, else by phone, else a new contact.
    fn push_contact(record: CrmRecord) -> Result<Pushed, ConnectorError> {
        let cfg = config()?;
        let props = hubspot::contact_properties(&record);
        if let Some(id) = &record.id {
            match update(&cfg, id, &props) {
                // Deleted or merged away in HubSpot since: look for it by phone.
                Err(ConnectorError::NotFound(_)) => {}
                other => return other,
            }
        }
        if let Some(phone) = text_field(&record, "phone")
            && let Some(id) = find_by_phone(&cfg, phone)?
        {
            return update(&cfg, &id, &props);
        }
        let created = call(&cfg, "POST", CONTACTS, Some(&json!({"properties": props})))?;
        hubspot::pushed(&created)
    }

    /// A note on the contact carrying the write's key; a retry looks the key up first.
    fn push_note(
        contact_id: String,
        write: WriteKey,
        record: CrmRecord,
    ) -> Result<Pushed, ConnectorError> {
        let cfg = config()?;
        if write.retried
            && let Some(id) = find_note(&cfg, &write.key)?
        {
            return Ok(Pushed {
                id,
                updated_at: None,
            });
        }
        let text = text_field(&record, "text")
            .ok_or_else(|| ConnectorError::Invalid("the note has no text field".into()))?;
        let at = record
            .fields
            .iter()
            .find_map(|f| match (f.name.as_str(), &f.value) {
                ("timestamp", FieldValue::Timestamp(ms) | FieldValue::Integer(ms)) => Some(*ms),
                _ => None,
            })
            .unwrap_or_else(scrm_plugin_sdk::clock::now_ms);
        let body = json!({
            "properties": {"hs_note_body": text, "hs_timestamp": at.to_string(),
                           cfg.key_property.as_str(): write.key},
            "associations": [{"to": {"id": hubspot::object_id(&contact_id)?}, "types": [
                {"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": NOTE_TO_CONTACT}]}],
        });
        hubspot::pushed(&call(&cfg, "POST", NOTES, Some(&body))?)
    }

    fn push_deal(_: String, _: WriteKey, _: CrmRecord) -> Result<Pushed, ConnectorError> {
        Err(ConnectorError::Invalid(
            "this connector writes no deals (see its README)".into(),
        ))
    }

    fn read_contacts(ids: Vec<String>) -> Result<Vec<CrmRecord>, ConnectorError> {
        let cfg = config()?;
        let mut out = Vec::new();
        // HubSpot's batch endpoints take at most 100 inputs.
        for chunk in ids.chunks(100) {
            let inputs: Vec<_> = chunk.iter().map(|id| json!({"id": id})).collect();
            let body = json!({"inputs": inputs, "properties": hubspot::PROPERTIES});
            let read = call(&cfg, "POST", &format!("{CONTACTS}/batch/read"), Some(&body))?;
            out.extend(read["results"].as_array().into_iter().flatten().filter_map(hubspot::record));
        }
        Ok(out)
    }

    /// None: this connector writes no deals, so none of the ids is one of its deals.
    fn read_deals(_: Vec<String>) -> Result<Vec<CrmRecord>, ConnectorError> {
        Ok(Vec::new())
    }

    /// Contacts by `lastmodifieddate`, oldest first, with the search API.
    fn pull_changes(cursor: String) -> Result<Changes, ConnectorError> {
        let cfg = config()?;
        let from = hubspot::Cursor::parse(&cursor)?;
        let until = scrm_plugin_sdk::clock::now_ms() - i64::from(cfg.pull_settle_ms);
        if until <= from.at {
            return Ok(Changes {
                records: Vec::new(),
                replies: Vec::new(),
                next_cursor: cursor,
                more: false,
            });
        }
        let page = call(
            &cfg,
            "POST",
            &format!("{CONTACTS}/search"),
            Some(&from.search(until, cfg.page_size)),
        )?;
        let results = page["results"].as_array().cloned().unwrap_or_default();
        let (records, next) = from.advance(&results);
        Ok(Changes {
            records,
            replies: Vec::new(),
            next_cursor: next.to_string(),
            more: results.len() >= cfg.page_size as usize || page["paging"]["next"].is_object(),
        })
    }

    /// The contacts a signed delivery names, read as HubSpot has them now.
    fn parse_webhook(
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    ) -> Result<Vec<CrmRecord>, ConnectorError> {
        let cfg = config()?;
        webhook::verify(&cfg, &headers, &body, scrm_plugin_sdk::clock::now_ms())?;
        let ids = webhook::contact_ids(&body)?;
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        Self::read_contacts(ids)
    }
}

impl OrderLookup for Plugin {
    fn find_orders(_: String, _: i64, _: u32) -> Result<Vec<OrderInfo>, ConnectorError> {
        Err(ConnectorError::Invalid(
            "this connector reads no orders".into(),
        ))
    }
}

scrm_plugin_sdk::export_connector!(Plugin);
