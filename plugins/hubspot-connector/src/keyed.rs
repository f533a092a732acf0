//! Writes that a retry or a later signal must not repeat: communications and deals
//! carry the host's key in the `key_property` custom property (`scrm_key`), and a
//! retried write (whose first answer may have been lost) looks it up before
//! creating anything. First attempts do not search: HubSpot's search API allows 5
//! requests a second, and a first attempt cannot have written anything yet.

use crate::client::Client;
use crate::config::Config;
use crate::contacts::{text_field, value_text};
use crate::{DEAL_TO_CONTACT, association, object_id, pushed};
use scrm_plugin_sdk::{ConnectorError, CrmRecord, Field, FieldValue, Pushed, WriteKey};
use serde_json::{Map, Value, json};

pub(crate) const COMMUNICATIONS: &str = "/crm/v3/objects/communications";
pub(crate) const DEALS: &str = "/crm/v3/objects/deals";

/// The id of the `kind` object whose `key_property` is `key` (of the open deals
/// only, for deals), if the portal has one.
pub(crate) fn find(
    api: &Client,
    cfg: &Config,
    path: &str,
    key: &str,
) -> Result<Option<String>, ConnectorError> {
    let Some(prop) = cfg.key_property.as_deref().filter(|_| !key.is_empty()) else {
        return Ok(None);
    };
    let mut filters = vec![json!({"propertyName": prop, "operator": "EQ", "value": key})];
    if path == DEALS {
        filters.push(json!({"propertyName": "hs_is_closed", "operator": "EQ", "value": "false"}));
    }
    let found = api.call(
        "POST",
        &format!("{path}/search"),
        Some(&json!({"filterGroups": [{"filters": filters}], "properties": [prop], "limit": 1})),
    )?;
    Ok(found["results"][0]["id"].as_str().map(str::to_owned))
}

/// The deal properties a deal record fills, through `deal_properties`; the product
/// goes in the description when no property takes it.
pub(crate) fn deal_properties(cfg: &Config, record: &CrmRecord) -> Map<String, Value> {
    let mut props = Map::new();
    for f in &record.fields {
        if let Some(prop) = cfg.deal_properties.get(&f.name) {
            let v = value_text(&f.value);
            if !v.trim().is_empty() {
                props.insert(prop.clone(), json!(v));
            }
        }
    }
    let product = match (text_field(record, "product"), text_field(record, "sku")) {
        (Some(name), Some(sku)) if name != sku => Some(format!("{name} ({sku})")),
        (Some(p), _) | (None, Some(p)) => Some(p.to_string()),
        (None, None) => None,
    };
    if let Some(product) = product
        && !cfg.deal_properties.contains_key("sku")
        && !cfg.deal_properties.contains_key("product")
    {
        let line = format!("Product: {product}");
        match props.get_mut("description") {
            Some(Value::String(d)) => *d = format!("{line}\n{d}"),
            _ => {
                props.insert("description".into(), json!(line));
            }
        }
    }
    props
}

/// Is deal `id` still open (and there)?
fn is_open(api: &Client, id: &str) -> Result<bool, ConnectorError> {
    match api.call(
        "GET",
        &format!("{DEALS}/{}?properties=hs_is_closed", object_id(id)?),
        None,
    ) {
        Ok(deal) => Ok(deal["properties"]["hs_is_closed"].as_str() != Some("true")),
        Err(ConnectorError::NotFound(_)) => Ok(false),
        Err(e) => Err(e),
    }
}

/// Updates the open deal of the key (the one `record.id` names while it is open,
/// else on a retry the one found by key), or creates it in the configured pipeline
/// and stage.
pub(crate) fn push_deal(
    cfg: &Config,
    contact_id: &str,
    write: &WriteKey,
    record: &CrmRecord,
) -> Result<Pushed, ConnectorError> {
    let api = Client::new(cfg);
    let contact = object_id(contact_id)?;
    let key = write.key.as_str();
    let mut props = deal_properties(cfg, record);
    let known = match &record.id {
        Some(id) if is_open(&api, id)? => Some(id.clone()),
        _ if write.retried => find(&api, cfg, DEALS, key)?,
        _ => None,
    };
    if let Some(id) = known {
        let written = api.call(
            "PATCH",
            &format!("{DEALS}/{}", object_id(&id)?),
            Some(&json!({"properties": props})),
        )?;
        return pushed(&written);
    }
    props
        .entry("dealname")
        .or_insert_with(|| json!("WhatsApp deal"));
    props.insert("pipeline".into(), json!(cfg.deal_pipeline));
    props
        .entry("dealstage")
        .or_insert_with(|| json!(cfg.deal_stage));
    if let Some(owner) = &cfg.owner_id {
        props.insert("hubspot_owner_id".into(), json!(owner));
    }
    if let Some(prop) = cfg.key_property.as_deref().filter(|_| !key.is_empty()) {
        props.insert(prop.into(), json!(key));
    }
    let body = json!({"properties": props, "associations": association(contact, DEAL_TO_CONTACT)});
    pushed(&api.call("POST", DEALS, Some(&body))?)
}

/// Writes a communication, unless a retry finds the one with its key (written by
/// an attempt whose answer was lost): then that one is the answer.
pub(crate) fn push_note(
    cfg: &Config,
    contact_id: &str,
    write: &WriteKey,
    record: &CrmRecord,
) -> Result<Pushed, ConnectorError> {
    let api = Client::new(cfg);
    let key = write.key.as_str();
    let mut body = crate::communication(cfg, object_id(contact_id)?, record)?;
    if write.retried
        && let Some(id) = find(&api, cfg, COMMUNICATIONS, key)?
    {
        return Ok(Pushed {
            id,
            updated_at: None,
        });
    }
    if let Some(prop) = cfg.key_property.as_deref().filter(|_| !key.is_empty()) {
        body["properties"][prop] = json!(key);
    }
    pushed(&api.call("POST", COMMUNICATIONS, Some(&body))?)
}

/// Deals by id, their `deal_properties` read back under the record's field names
/// (`name`, `amount`, `stage`).
pub(crate) fn read_deals(cfg: &Config, ids: &[String]) -> Result<Vec<CrmRecord>, ConnectorError> {
    let api = Client::new(cfg);
    let inputs: Vec<Value> = ids.iter().map(|id| json!({"id": id})).collect();
    let properties: Vec<&String> = cfg.deal_properties.values().collect();
    let found = api.call(
        "POST",
        &format!("{DEALS}/batch/read"),
        Some(&json!({"inputs": inputs, "properties": properties})),
    )?;
    let mut out = Vec::new();
    for d in found["results"].as_array().into_iter().flatten() {
        let Some(id) = d["id"].as_str() else { continue };
        let fields = cfg
            .deal_properties
            .iter()
            .filter(|(field, _)| ["name", "amount", "stage"].contains(&field.as_str()))
            .map(|(field, prop)| Field {
                name: field.clone(),
                value: match d["properties"][prop].as_str() {
                    None | Some("") => FieldValue::Empty,
                    Some(v) if field == "amount" => v
                        .parse()
                        .map_or(FieldValue::Text(v.into()), FieldValue::Number),
                    Some(v) => FieldValue::Text(v.into()),
                },
            })
            .collect();
        out.push(CrmRecord {
            object: "deal".into(),
            id: Some(id.to_string()),
            fields,
            updated_at: d["updatedAt"]
                .as_str()
                .and_then(crate::timestamps::parse_ms),
        });
    }
    Ok(out)
}
