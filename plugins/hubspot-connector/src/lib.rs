//! The connector for [HubSpot](https://developers.hubspot.com/docs/api-reference/overview)
//! over its CRM v3 object APIs.
//!
//! - **Contacts** (`/crm/v3/objects/contacts`) are matched by phone: a contact the
//!   host has not linked yet is looked up with the search API (`phone` `EQ` the
//!   E.164 number), then updated (`PATCH`) or created (`POST`). HubSpot's batch upsert
//!   needs a unique-value `idProperty` (such as `email`); `phone` is not one. The
//!   host's name goes to `firstname` (first word) and `lastname` (the rest) unless
//!   `name_property` names one property.
//! - **Messages** become communications (`/crm/v3/objects/communications`) with
//!   `hs_communication_channel_type = WHATS_APP`, `hs_communication_logged_from =
//!   CRM`, the text in `hs_communication_body` and the message time in `hs_timestamp`,
//!   associated to the contact (type 81, communication → contact).
//! - **Deals** (`/crm/v3/objects/deals`) are created in `deal_pipeline` /
//!   `deal_stage`, associated to the contact (type 3, deal → contact). The host's
//!   key (contact and product) goes in the custom property `key_property`
//!   (`scrm_key`, created once in the portal); a later signal with the same key
//!   updates the open deal (`hs_is_closed` false) instead of opening another, and a
//!   retried write finds its communication or deal instead of adding a second.
//! - **Changes** are pulled with the search API, contacts sorted by
//!   `lastmodifieddate` ascending; the cursor is the newest change time read (with the
//!   ids read at exactly that time). Orders changed since the last pull come with
//!   them as `order` records (see [`orders`]), which reach the flows as `order`
//!   events.
//! - **Webhooks** (`contact.propertyChange`, `contact.creation`, …) are checked with
//!   the v3 signature, keyed by a tenant secret the plugin never sees.
//!
//! Configuration (JSON or TOML; every key optional, see [`config::Config`]):
//!
//! ```toml
//! base_url = "https://api.hubapi.com"
//! phone_property = "phone"
//! pull_properties = ["hs_lead_status"]
//! owner_id = "123456"
//! deal_pipeline = "default"
//! deal_stage = "appointmentscheduled"
//! key_property = "scrm_key"                    # on deals and communications
//! webhook_secret = "hubspot_client_secret"     # a tenant secret's name
//! webhook_url = "https://scrm.example.com/v1/crm/acme/webhook"
//! ```
//!
//! The private app's access token is never in the config: the operator stores it as
//! a tenant secret and lists it as a credential of the binding
//! (`authorization: Bearer …`), so the host adds it to each request.

pub mod client;
pub mod config;
pub mod contacts;
mod keyed;
pub mod orders;
pub mod replies;
pub mod timestamps;
pub mod webhook;

use client::Client;
use config::Config;
use contacts::{Cursor, text_field};
use scrm_plugin_sdk::{
    Changes, Connector, ConnectorError, CrmRecord, FieldValue, Pushed, WriteKey,
};
use serde_json::{Map, Value, json};
use std::collections::HashMap;

/// Association type of a communication to a contact (HubSpot-defined).
pub const COMMUNICATION_TO_CONTACT: u32 = 81;
/// Association type of a deal to a contact (HubSpot-defined).
pub const DEAL_TO_CONTACT: u32 = 3;
/// HubSpot's batch endpoints take at most this many inputs.
const BATCH_MAX: usize = 100;

const CONTACTS: &str = "/crm/v3/objects/contacts";

fn config() -> Result<Config, ConnectorError> {
    Config::parse(&scrm_plugin_sdk::config::bytes())
        .map_err(|e| ConnectorError::Invalid(format!("connector config: {e}")))
}

/// A HubSpot object id (digits), safe to put in a path.
fn object_id(id: &str) -> Result<&str, ConnectorError> {
    if !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()) {
        Ok(id)
    } else {
        Err(ConnectorError::Invalid(format!(
            "{id:?} is not a HubSpot object id"
        )))
    }
}

/// The id and change time of an object HubSpot wrote.
fn pushed(object: &Value) -> Result<Pushed, ConnectorError> {
    let id = object["id"]
        .as_str()
        .ok_or_else(|| ConnectorError::Failed(format!("HubSpot answered no id: {object}")))?;
    Ok(Pushed {
        id: id.to_string(),
        updated_at: contacts::modified_ms(object).or_else(|| {
            object["properties"]["hs_lastmodifieddate"]
                .as_str()
                .and_then(timestamps::parse_ms)
        }),
    })
}

/// `text` for HubSpot's rich-text bodies: markup characters escaped, lines kept.
fn rich_text(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('\n', "<br>")
}

fn association(to: &str, type_id: u32) -> Value {
    json!([{"to": {"id": to},
            "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": type_id}]}])
}

/// The communication for a note record of the reference mapper (fields `text`,
/// `timestamp`, and `product_codes` when products were named).
pub fn communication(
    cfg: &Config,
    contact: &str,
    record: &CrmRecord,
) -> Result<Value, ConnectorError> {
    let text = text_field(record, "text")
        .ok_or_else(|| ConnectorError::Invalid("the note has no text field".into()))?;
    let mut body = rich_text(text);
    if let Some(codes) = text_field(record, "product_codes") {
        body.push_str(&format!("<br>Products: {}", rich_text(codes)));
    }
    let at = record
        .fields
        .iter()
        .find(|f| f.name == "timestamp")
        .and_then(|f| match f.value {
            FieldValue::Timestamp(ms) | FieldValue::Integer(ms) => Some(ms),
            _ => None,
        })
        .unwrap_or_else(scrm_plugin_sdk::clock::now_ms);
    let mut props = json!({
        "hs_communication_channel_type": "WHATS_APP",
        "hs_communication_logged_from": "CRM",
        "hs_communication_body": body,
        "hs_timestamp": timestamps::format_ms(at).unwrap_or_else(|| at.to_string()),
    });
    if let Some(owner) = &cfg.owner_id {
        props["hubspot_owner_id"] = json!(owner);
    }
    Ok(json!({"properties": props, "associations": association(contact, COMMUNICATION_TO_CONTACT)}))
}

/// The id in HubSpot's 409 for a contact that already exists
/// (`"Contact already exists. Existing ID: 12345"`).
fn existing_id(resp_body: &[u8]) -> Option<String> {
    let body: Value = serde_json::from_slice(resp_body).ok()?;
    let message = body["message"].as_str()?;
    let (_, rest) = message.split_once("Existing ID:")?;
    let id: String = rest
        .trim()
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    (!id.is_empty()).then_some(id)
}

/// The exported connector.
#[derive(Debug)]
pub struct HubSpot;

impl HubSpot {
    fn find_by_phone(
        api: &Client,
        cfg: &Config,
        e164: &str,
    ) -> Result<Option<String>, ConnectorError> {
        let found = api.call(
            "POST",
            &format!("{CONTACTS}/search"),
            Some(&contacts::phone_search(cfg, e164)),
        )?;
        Ok(found["results"]
            .as_array()
            .and_then(|r| r.first())
            .and_then(|c| c["id"].as_str())
            .map(str::to_owned))
    }

    fn update(
        api: &Client,
        id: &str,
        props: &Map<String, Value>,
    ) -> Result<Pushed, ConnectorError> {
        if props.is_empty() {
            return Ok(Pushed {
                id: id.to_string(),
                updated_at: None,
            });
        }
        let written = api.call(
            "PATCH",
            &format!("{CONTACTS}/{}", object_id(id)?),
            Some(&json!({"properties": props})),
        )?;
        pushed(&written)
    }

    fn create(api: &Client, props: &Map<String, Value>) -> Result<Pushed, ConnectorError> {
        let path = CONTACTS;
        let resp = api.send("POST", path, Some(&json!({"properties": props})))?;
        if resp.status == 409
            && let Some(id) = existing_id(&resp.body)
        {
            // Another contact has this email: HubSpot keys contacts by email, so
            // this is the same person.
            return Self::update(api, &id, props);
        }
        pushed(&client::check("POST", path, &resp)?)
    }

    /// The contacts `ids` as HubSpot has them now, by id.
    fn read(
        api: &Client,
        cfg: &Config,
        ids: &[&str],
    ) -> Result<HashMap<String, Value>, ConnectorError> {
        let mut out = HashMap::new();
        for chunk in ids.chunks(BATCH_MAX) {
            let inputs: Vec<Value> = chunk.iter().map(|id| json!({"id": id})).collect();
            let read = api.call(
                "POST",
                &format!("{CONTACTS}/batch/read"),
                Some(&json!({"properties": cfg.contact_properties(),
                             "propertiesWithHistory": [], "inputs": inputs})),
            )?;
            for object in read["results"].as_array().into_iter().flatten() {
                if let Some(id) = object["id"].as_str() {
                    out.insert(id.to_string(), object.clone());
                }
            }
        }
        Ok(out)
    }
}

impl Connector for HubSpot {
    fn push_contact(record: CrmRecord) -> Result<Pushed, ConnectorError> {
        let cfg = config()?;
        let api = Client::new(&cfg);
        let props = contacts::properties(&cfg, &record);
        if let Some(id) = &record.id {
            match Self::update(&api, id, &props) {
                // Deleted or merged away in HubSpot since: look for it again.
                Err(ConnectorError::NotFound(_)) => {}
                other => return other,
            }
        }
        let existing = match text_field(&record, "phone") {
            Some(phone) => Self::find_by_phone(&api, &cfg, phone)?,
            None => None,
        };
        match existing {
            Some(id) => Self::update(&api, &id, &props),
            None => Self::create(&api, &props),
        }
    }

    fn push_note(
        contact_id: String,
        write: WriteKey,
        record: CrmRecord,
    ) -> Result<Pushed, ConnectorError> {
        keyed::push_note(&config()?, &contact_id, &write, &record)
    }

    fn push_deal(
        contact_id: String,
        write: WriteKey,
        record: CrmRecord,
    ) -> Result<Pushed, ConnectorError> {
        keyed::push_deal(&config()?, &contact_id, &write, &record)
    }

    fn read_contacts(ids: Vec<String>) -> Result<Vec<CrmRecord>, ConnectorError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let cfg = config()?;
        let inputs: Vec<Value> = ids.iter().map(|id| json!({"id": id})).collect();
        let found = Client::new(&cfg).call(
            "POST",
            &format!("{CONTACTS}/batch/read"),
            Some(&json!({"inputs": inputs, "properties": cfg.contact_properties()})),
        )?;
        Ok(found["results"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|o| contacts::record(&cfg, o))
            .collect())
    }

    fn read_deals(ids: Vec<String>) -> Result<Vec<CrmRecord>, ConnectorError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let cfg = config()?;
        keyed::read_deals(&cfg, &ids)
    }

    fn pull_changes(cursor: String) -> Result<Changes, ConnectorError> {
        let cfg = config()?;
        let mut pos = Cursor::parse(&cursor).map_err(ConnectorError::Invalid)?;
        let until = scrm_plugin_sdk::clock::now_ms() - i64::from(cfg.pull_settle_ms);
        if until < pos.t {
            return Ok(Changes {
                records: Vec::new(),
                replies: Vec::new(),
                next_cursor: cursor,
                more: false,
            });
        }
        let limit = pos.limit(cfg.page_size);
        let found = Client::new(&cfg).call(
            "POST",
            &format!("{CONTACTS}/search"),
            Some(&pos.search(&cfg, until, cfg.page_size)),
        )?;
        let results = found["results"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default();
        let full = results.len() >= limit as usize;
        let more = full || found["paging"]["next"]["after"].is_string();
        let mut records: Vec<CrmRecord> = pos
            .advance(results, full)
            .into_iter()
            .filter_map(|object| contacts::record(&cfg, object))
            .collect();
        // Replies once the contacts are read up to `until`, at most every
        // `reply_interval_ms`; a search refused for the rate limit waits for the next
        // pull (the contacts read stand).
        let due = pos.replies == 0 || until - pos.replies >= i64::from(cfg.reply_interval_ms);
        let replies = if more || !due {
            Vec::new()
        } else {
            match replies::read(&cfg, pos.replies, until) {
                Ok((replies, next)) => {
                    pos.replies = next;
                    replies
                }
                Err(ConnectorError::RateLimited(_)) => Vec::new(),
                Err(e) => return Err(e),
            }
        };
        // Orders likewise, at most every `order_interval_ms`.
        let due = cfg.pull_orders
            && (pos.orders == 0 || until - pos.orders >= i64::from(cfg.order_interval_ms));
        if !more && due {
            match orders::changed(&cfg, pos.orders, until) {
                Ok((changed, next)) => {
                    pos.orders = next;
                    records.extend(changed);
                }
                Err(ConnectorError::RateLimited(_)) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(Changes {
            records,
            replies,
            next_cursor: serde_json::to_string(&pos)
                .map_err(|e| ConnectorError::Failed(format!("cursor: {e}")))?,
            more,
        })
    }

    fn parse_webhook(
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    ) -> Result<Vec<CrmRecord>, ConnectorError> {
        let cfg = config()?;
        webhook::verify(
            &cfg,
            &headers,
            &body,
            scrm_plugin_sdk::clock::now_ms(),
            scrm_plugin_sdk::secrets::hmac_sha256_matches,
        )?;
        let changes: Vec<_> = webhook::contact_changes(&body)?
            .into_iter()
            .filter(|c| c.relevant(&cfg))
            .collect();
        let to_read: Vec<&str> = changes
            .iter()
            .filter(|c| c.needs_read(&cfg))
            .map(|c| c.id.as_str())
            .collect();
        let current = if to_read.is_empty() {
            HashMap::new()
        } else {
            Self::read(&Client::new(&cfg), &cfg, &to_read)?
        };
        Ok(changes
            .iter()
            .filter_map(|c| match current.get(&c.id) {
                Some(object) => c.record(&cfg, Some(object)),
                // Created and already gone again: nothing to say about it.
                None if c.created => None,
                None => c.record(&cfg, None),
            })
            .collect())
    }
}

impl scrm_plugin_sdk::OrderLookup for HubSpot {
    fn find_orders(
        contact_id: String,
        since: i64,
        limit: u32,
    ) -> Result<Vec<scrm_plugin_sdk::OrderInfo>, ConnectorError> {
        let cfg = config()?;
        orders::find(
            &Client::new(&cfg),
            &cfg,
            object_id(&contact_id)?,
            since,
            limit,
        )
    }
}

scrm_plugin_sdk::export_connector!(HubSpot);

#[cfg(test)]
mod tests {
    use super::*;
    use scrm_plugin_sdk::Field;

    fn text(name: &str, v: &str) -> Field {
        Field {
            name: name.into(),
            value: FieldValue::Text(v.into()),
        }
    }

    fn cfg() -> Config {
        Config::parse(b"owner_id = \"77\"\n").unwrap()
    }

    #[test]
    fn a_note_becomes_a_whatsapp_communication_on_the_contact() {
        let rec = CrmRecord {
            object: "note".into(),
            id: None,
            fields: vec![
                text("text", "[WhatsApp, customer] <b>quanto costa?</b>\nciao"),
                text("wamid", "wamid.1"),
                text("direction", "inbound"),
                text("type", "text"),
                Field {
                    name: "timestamp".into(),
                    value: FieldValue::Timestamp(1_572_406_217_883),
                },
                text("product_codes", "APL-IP15PM"),
            ],
            updated_at: None,
        };
        let body = communication(&cfg(), "151", &rec).unwrap();
        assert_eq!(
            body,
            json!({
                "properties": {
                    "hs_communication_channel_type": "WHATS_APP",
                    "hs_communication_logged_from": "CRM",
                    "hs_communication_body": "[WhatsApp, customer] &lt;b&gt;quanto costa?&lt;/b&gt;<br>ciao<br>Products: APL-IP15PM",
                    "hs_timestamp": "2019-10-30T03:30:17.883Z",
                    "hubspot_owner_id": "77"
                },
                "associations": [{"to": {"id": "151"}, "types": [
                    {"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 81}]}]
            })
        );
    }

    #[test]
    fn a_note_without_text_is_invalid() {
        let rec = CrmRecord {
            object: "note".into(),
            id: None,
            fields: vec![],
            updated_at: None,
        };
        assert!(matches!(
            communication(&cfg(), "1", &rec),
            Err(ConnectorError::Invalid(_))
        ));
    }

    #[test]
    fn a_deals_fields_go_through_deal_properties_with_the_product_in_the_description() {
        let rec = CrmRecord {
            object: "deal".into(),
            id: None,
            fields: vec![
                text("name", "WhatsApp: Mario"),
                text("source", "whatsapp"),
                text("tags", "price-inquiry"),
                Field {
                    name: "last_message_at".into(),
                    value: FieldValue::Timestamp(1),
                },
                text("message", "quanto costa?"),
                text("sku", "APL-IP15PM"),
                text("product", "iPhone15 Pro Max"),
            ],
            updated_at: None,
        };
        assert_eq!(
            Value::Object(keyed::deal_properties(&cfg(), &rec)),
            json!({"dealname": "WhatsApp: Mario",
                   "description": "Product: iPhone15 Pro Max (APL-IP15PM)\nquanto costa?"})
        );
    }

    #[test]
    fn only_digits_are_object_ids() {
        assert!(object_id("151").is_ok());
        for bad in ["", "../contacts", "15 1", "abc"] {
            assert!(object_id(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_409_names_the_contact_that_already_exists() {
        let body = json!({"status": "error", "message": "Contact already exists. Existing ID: 5101",
                          "correlationId": "x", "category": "CONFLICT"});
        assert_eq!(
            existing_id(body.to_string().as_bytes()).as_deref(),
            Some("5101")
        );
        assert_eq!(existing_id(b"{}"), None);
    }

    #[test]
    fn written_objects_report_their_id_and_change_time() {
        let obj = json!({"id": "151", "properties": {"hs_lastmodifieddate": "2019-10-30T03:30:17.883Z"},
                         "createdAt": "2019-10-30T03:30:17.883Z", "updatedAt": "2019-10-30T03:30:17.883Z"});
        let p = pushed(&obj).unwrap();
        assert_eq!(p.id, "151");
        assert_eq!(p.updated_at, Some(1_572_406_217_883));
        assert!(pushed(&json!({})).is_err());
    }
}
