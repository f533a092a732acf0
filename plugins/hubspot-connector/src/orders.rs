//! The order lookup (`order-lookup.find-orders`): a contact's orders in HubSpot's
//! commerce `order` object, with their line items.
//!
//! Three reads, none a search (HubSpot's search endpoints allow 5 requests a
//! second, which pulls need):
//!
//! 1. `POST /crm/v4/associations/contacts/order/batch/read` — the contact's orders;
//! 2. `POST /crm/v3/objects/order/batch/read` — the newest 100 of them with
//!    `hs_order_name`, `hs_total_price`, `hs_currency_code`, `hs_pipeline_stage`,
//!    `hs_fulfillment_status`, `hs_shipping_tracking_number`, the carrier property
//!    when configured, and their dates;
//! 3. `POST /crm/v4/associations/order/line_items/batch/read` and `POST
//!    /crm/v3/objects/line_items/batch/read` (`name`, `hs_sku`, `quantity`,
//!    `price`) for the orders answered — only when there are some.
//!
//! An order is placed at `hs_external_created_date` (the shop's time, when an
//! integration such as Shopify's sets it), else `hs_createdate`; its state is
//! `hs_fulfillment_status`, else its pipeline stage.
//!
//! Pulls also read the orders changed since the last ([`changed`]): one search on
//! `hs_lastmodifieddate` and one association read to their contacts. Each comes to
//! the host as a record of object `order` with the fields `contact` (the HubSpot
//! contact id), `number`, `state` and `tracking_number`; the host turns it into the
//! flows' `order` event (source `crm`). Orders changed more than a day before the
//! first pull are not reported.

use crate::client::Client;
use crate::config::Config;
use crate::timestamps::parse_ms;
use scrm_plugin_sdk::{ConnectorError, CrmRecord, Field, FieldValue, OrderInfo, OrderLine};
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// HubSpot's batch reads take at most this many ids.
const BATCH: usize = 100;

/// The order properties read.
const ORDER_PROPERTIES: &[&str] = &[
    "hs_order_name",
    "hs_total_price",
    "hs_currency_code",
    "hs_pipeline_stage",
    "hs_fulfillment_status",
    "hs_shipping_tracking_number",
    "hs_external_created_date",
    "hs_createdate",
];

/// The ids `from` → `to` associations of one object in a v4 batch answer.
fn associated(answer: &Value) -> BTreeMap<String, Vec<String>> {
    let mut out = BTreeMap::new();
    for r in answer["results"].as_array().into_iter().flatten() {
        let from = match &r["from"]["id"] {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        let to: Vec<String> = r["to"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|t| match &t["toObjectId"] {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            })
            .collect();
        out.insert(from, to);
    }
    out
}

fn batch_read(
    api: &Client,
    object: &str,
    ids: &[String],
    props: &[&str],
) -> Result<Vec<Value>, ConnectorError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let inputs: Vec<Value> = ids.iter().map(|id| json!({"id": id})).collect();
    let body = json!({"properties": props, "inputs": inputs});
    // 207: some ids are gone (deleted meanwhile); the others are answered.
    let resp = api.send(
        "POST",
        &format!("/crm/v3/objects/{object}/batch/read"),
        Some(&body),
    )?;
    let v = if resp.status == 207 {
        serde_json::from_slice(&resp.body).unwrap_or(Value::Null)
    } else {
        crate::client::check("POST", object, &resp)?
    };
    Ok(v["results"].as_array().cloned().unwrap_or_default())
}

fn prop<'a>(o: &'a Value, name: &str) -> Option<&'a str> {
    o["properties"][name]
        .as_str()
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

/// One HubSpot order (with its line items) as the contract's order.
pub fn order_info(o: &Value, lines: &[Value], carrier_property: Option<&str>) -> OrderInfo {
    let placed_at = prop(o, "hs_external_created_date")
        .or_else(|| prop(o, "hs_createdate"))
        .or_else(|| o["createdAt"].as_str())
        .and_then(parse_ms)
        .unwrap_or_default();
    let number = |v: Option<&str>| v.and_then(|s| s.parse::<f64>().ok());
    OrderInfo {
        id: o["id"].as_str().unwrap_or_default().to_string(),
        number: prop(o, "hs_order_name").map(str::to_string),
        source: "hubspot".into(),
        placed_at,
        state: prop(o, "hs_fulfillment_status")
            .or_else(|| prop(o, "hs_pipeline_stage"))
            .map(str::to_string),
        total: number(prop(o, "hs_total_price")),
        currency: prop(o, "hs_currency_code").map(str::to_string),
        tracking_number: prop(o, "hs_shipping_tracking_number").map(str::to_string),
        carrier: carrier_property
            .and_then(|p| prop(o, p))
            .map(|c| c.to_ascii_lowercase()),
        lines: lines
            .iter()
            .map(|l| OrderLine {
                sku: prop(l, "hs_sku").map_or_else(
                    || l["id"].as_str().unwrap_or_default().to_string(),
                    str::to_string,
                ),
                name: prop(l, "name").map(str::to_string),
                quantity: number(prop(l, "quantity")).unwrap_or(1.0),
                unit_price: number(prop(l, "price")),
            })
            .collect(),
    }
}

/// The orders of contact `contact` placed at or after `since`, newest first, at
/// most `limit`.
///
/// # Errors
/// HubSpot's refusals as connector errors (a missing contact is `not-found`).
pub fn find(
    api: &Client,
    cfg: &Config,
    contact: &str,
    since: i64,
    limit: u32,
) -> Result<Vec<OrderInfo>, ConnectorError> {
    let body = json!({"inputs": [{"id": contact}]});
    let linked = api.call(
        "POST",
        "/crm/v4/associations/contacts/order/batch/read",
        Some(&body),
    )?;
    let mut ids: Vec<String> = associated(&linked).remove(contact).unwrap_or_default();
    // Ids grow with time: the newest orders are the highest ids.
    ids.sort_by_key(|id| std::cmp::Reverse(id.parse::<u64>().unwrap_or_default()));
    ids.truncate(BATCH);
    let mut props: Vec<&str> = ORDER_PROPERTIES.to_vec();
    if let Some(p) = cfg.order_carrier_property.as_deref() {
        props.push(p);
    }
    let mut found: Vec<Value> = batch_read(api, "order", &ids, &props)?
        .into_iter()
        .filter(|o| order_info(o, &[], None).placed_at >= since)
        .collect();
    found.sort_by_key(|o| std::cmp::Reverse(order_info(o, &[], None).placed_at));
    found.truncate(limit as usize);
    let order_ids: Vec<Value> = found.iter().map(|o| json!({"id": o["id"]})).collect();
    let by_order = if order_ids.is_empty() {
        BTreeMap::new()
    } else {
        let body = json!({"inputs": order_ids});
        associated(&api.call(
            "POST",
            "/crm/v4/associations/order/line_items/batch/read",
            Some(&body),
        )?)
    };
    let line_ids: Vec<String> = by_order.values().flatten().take(BATCH).cloned().collect();
    let lines = batch_read(
        api,
        "line_items",
        &line_ids,
        &["name", "hs_sku", "quantity", "price"],
    )?;
    Ok(found
        .iter()
        .map(|o| {
            let mine = by_order.get(o["id"].as_str().unwrap_or_default());
            let own: Vec<Value> = lines
                .iter()
                .filter(|l| {
                    mine.is_some_and(|m| m.iter().any(|id| Some(id.as_str()) == l["id"].as_str()))
                })
                .cloned()
                .collect();
            order_info(o, &own, cfg.order_carrier_property.as_deref())
        })
        .collect())
}

/// Orders read per pull.
const CHANGED_PAGE: usize = 100;

/// A day, ms: how far back the first pull looks.
const FIRST_LOOK_BACK_MS: i64 = 86_400_000;

/// The search for orders changed after `since` and no later than `until`.
fn changed_search(cfg: &Config, since: i64, until: i64) -> Value {
    let mut props: Vec<&str> = ORDER_PROPERTIES.to_vec();
    props.push("hs_lastmodifieddate");
    if let Some(p) = cfg.order_carrier_property.as_deref() {
        props.push(p);
    }
    json!({
        "filterGroups": [{"filters": [
            {"propertyName": "hs_lastmodifieddate", "operator": "GT", "value": since.to_string()},
            {"propertyName": "hs_lastmodifieddate", "operator": "LTE", "value": until.to_string()}
        ]}],
        "sorts": [{"propertyName": "hs_lastmodifieddate", "direction": "ASCENDING"}],
        "properties": props,
        "limit": CHANGED_PAGE,
    })
}

/// One changed order as the record the host turns into an `order` event.
pub fn change_record(o: &Value, contact: &str, cfg: &Config) -> CrmRecord {
    let info = order_info(o, &[], cfg.order_carrier_property.as_deref());
    let text = |name: &str, v: Option<String>| {
        v.map(|v| Field {
            name: name.into(),
            value: FieldValue::Text(v),
        })
    };
    let fields = [
        text("contact", Some(contact.to_string())),
        text("number", info.number),
        text("state", info.state),
        text("tracking_number", info.tracking_number),
        text("carrier", info.carrier),
    ]
    .into_iter()
    .flatten()
    .collect();
    CrmRecord {
        object: "order".into(),
        id: Some(info.id),
        fields,
        updated_at: prop(o, "hs_lastmodifieddate")
            .or_else(|| o["updatedAt"].as_str())
            .and_then(parse_ms),
    }
}

/// The orders changed after `since` up to `until` (Unix ms; `since` 0: a day
/// before `until`) that belong to a contact, as `order` records, and where the next
/// read starts.
///
/// # Errors
/// HubSpot's refusals as connector errors.
pub fn changed(
    cfg: &Config,
    since: i64,
    until: i64,
) -> Result<(Vec<CrmRecord>, i64), ConnectorError> {
    let since = if since == 0 {
        until - FIRST_LOOK_BACK_MS
    } else {
        since
    };
    let api = Client::new(cfg);
    let found = api.call(
        "POST",
        "/crm/v3/objects/order/search",
        Some(&changed_search(cfg, since, until)),
    )?;
    let results = found["results"].as_array().cloned().unwrap_or_default();
    let next = if results.len() < CHANGED_PAGE {
        until
    } else {
        results
            .iter()
            .filter_map(|o| prop(o, "hs_lastmodifieddate").and_then(parse_ms))
            .max()
            .unwrap_or(until)
    };
    if results.is_empty() {
        return Ok((Vec::new(), next));
    }
    let inputs: Vec<Value> = results.iter().map(|o| json!({"id": o["id"]})).collect();
    let owners = associated(&api.call(
        "POST",
        "/crm/v4/associations/order/contacts/batch/read",
        Some(&json!({"inputs": inputs})),
    )?);
    let records = results
        .iter()
        .filter_map(|o| {
            let id = o["id"].as_str()?;
            let contact = owners.get(id)?.first()?;
            Some(change_record(o, contact, cfg))
        })
        .collect();
    Ok((records, next))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_order_reads_into_the_contract() {
        let o = json!({"id": "5001", "properties": {
            "hs_order_name": "#1042", "hs_total_price": "59.80", "hs_currency_code": "EUR",
            "hs_pipeline_stage": "processed", "hs_fulfillment_status": "Shipped",
            "hs_shipping_tracking_number": " 1Z999 ", "shipping_carrier": "BRT",
            "hs_createdate": "2026-12-01T09:00:00.000Z"}});
        let l = json!({"id": "7", "properties": {"name": "Siero", "hs_sku": "SER-30", "quantity": "2", "price": "29.90"}});
        let got = order_info(&o, &[l], Some("shipping_carrier"));
        assert_eq!(got.number.as_deref(), Some("#1042"));
        assert_eq!(got.state.as_deref(), Some("Shipped"));
        assert_eq!(got.total, Some(59.8));
        assert_eq!(got.tracking_number.as_deref(), Some("1Z999"));
        assert_eq!(got.carrier.as_deref(), Some("brt"));
        assert_eq!(got.placed_at, 1_796_115_600_000);
        assert_eq!(got.lines[0].sku, "SER-30");
        assert_eq!(got.lines[0].quantity, 2.0);
    }

    #[test]
    fn a_changed_order_becomes_an_order_record_of_its_contact() {
        let o = json!({"id": "5002", "updatedAt": "2026-12-02T10:00:00.000Z", "properties": {
            "hs_order_name": "#1043", "hs_fulfillment_status": "Shipped",
            "hs_shipping_tracking_number": "1Z999", "hs_total_price": "",
            "hs_lastmodifieddate": "2026-12-02T10:00:01.000Z"}});
        let cfg = Config::default();
        let r = change_record(&o, "151", &cfg);
        assert_eq!(r.object, "order");
        assert_eq!(r.id.as_deref(), Some("5002"));
        assert_eq!(r.updated_at, Some(1_796_205_601_000));
        let names: Vec<&str> = r.fields.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["contact", "number", "state", "tracking_number"]);
        assert!(matches!(&r.fields[0].value, FieldValue::Text(c) if c == "151"));
        let search = changed_search(&cfg, 10, 20);
        assert_eq!(search["filterGroups"][0]["filters"][0]["operator"], "GT");
        assert_eq!(search["filterGroups"][0]["filters"][1]["value"], "20");
    }

    #[test]
    fn association_answers_group_by_object() {
        let v = json!({"status": "COMPLETE", "results": [
            {"from": {"id": "151"}, "to": [{"toObjectId": 5001, "associationTypes": []},
                                           {"toObjectId": 5003, "associationTypes": []}]}]});
        assert_eq!(
            associated(&v)["151"],
            vec!["5001".to_string(), "5003".to_string()]
        );
    }
}
