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

use crate::client::Client;
use crate::config::Config;
use crate::timestamps::parse_ms;
use scrm_plugin_sdk::{ConnectorError, OrderInfo, OrderLine};
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
