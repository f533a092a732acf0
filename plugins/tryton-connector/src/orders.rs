//! The order lookup (`order-lookup.find-orders`): a party's sales (`sale.sale`,
//! the `sale` module) with their lines and the tracking number of their shipments.
//!
//! One REST search: `GET sale.sale?d=[party = P, state in order_states, sale_date
//! >= since's day]&o=[sale_date DESC, id DESC]` with the sale's number, state,
//! total, currency, lines (product code and name, quantity, unit price) and its
//! customer shipments' tracking number and carrier, through dotted field names
//! (`shipments.shipping_reference`, `shipments.carrier.party.name`).
//!
//! The tracking number is the shipment's `shipping_reference` (module
//! `stock_package_shipping`, which also gives shipments a `carrier`); a Tryton
//! without it can use the shipment's own `reference` field (`tracking_field =
//! "reference"`, `carrier_field = ""`, and a `default_carrier`). A sale placed on
//! the day `since` falls on counts from that day's start when it has no creation
//! time that day.

use super::{Config, datetime_ms, fields_query, param};
use scrm_plugin_sdk::{ConnectorError, OrderInfo, OrderLine};
use serde_json::{Value, json};

/// Unix ms of a Tryton date object (midnight UTC).
fn date_ms(v: &Value) -> Option<i64> {
    if v["__class__"] != "date" {
        return None;
    }
    let n = |k: &str| v[k].as_u64();
    let month = time::Month::try_from(u8::try_from(n("month")?).ok()?).ok()?;
    let date = time::Date::from_calendar_date(
        i32::try_from(n("year")?).ok()?,
        month,
        u8::try_from(n("day")?).ok()?,
    )
    .ok()?;
    Some(date.midnight().assume_utc().unix_timestamp() * 1000)
}

/// The Tryton date object of the UTC day of Unix ms `ms`.
fn date_of(ms: i64) -> Value {
    let t = time::OffsetDateTime::from_unix_timestamp(ms.div_euclid(1000))
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    json!({"__class__": "date", "year": t.year(), "month": u8::from(t.month()), "day": t.day()})
}

/// A Tryton `Decimal` object (or a plain number) as a float.
fn decimal(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        other => other["decimal"].as_str()?.parse().ok(),
    }
}

/// When a sale was placed: its creation time when that falls on its sale date,
/// else the sale date's start (UTC).
fn placed_at(sale: &Value) -> i64 {
    let day = date_ms(&sale["sale_date"]);
    let created = datetime_ms(&sale["create_date"]);
    match (day, created) {
        (Some(d), Some(c)) if (d..d + 86_400_000).contains(&c) => c,
        (Some(d), _) => d,
        (None, c) => c.unwrap_or_default(),
    }
}

/// The value at a dotted `path` of a record as Tryton nests it.
fn at_path<'a>(v: &'a Value, path: &str) -> &'a Value {
    path.split('.').fold(v, |v, k| &v[k])
}

/// A courier's name as a slug: the configured one, else lowercase words joined by
/// dashes (`Poste Italiane` → `poste-italiane`).
fn slug(cfg: &Config, name: &str) -> String {
    if let Some(s) = cfg.carriers.get(name) {
        return s.clone();
    }
    name.to_lowercase()
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join("-")
}

/// The tracking number and courier of a sale: its newest shipment that has one.
fn tracking(cfg: &Config, sale: &Value) -> (Option<String>, Option<String>) {
    let mut shipments: Vec<&Value> = sale["shipments"].as_array().into_iter().flatten().collect();
    shipments.sort_by_key(|s| std::cmp::Reverse(s["id"].as_i64().unwrap_or_default()));
    for s in shipments {
        let Some(number) = s[cfg.tracking_field.as_str()]
            .as_str()
            .map(str::trim)
            .filter(|n| !n.is_empty())
        else {
            continue;
        };
        let carrier = Some(cfg.carrier_field.as_str())
            .filter(|f| !f.is_empty())
            .and_then(|f| at_path(s, f).as_str())
            .map(|name| slug(cfg, name))
            .or_else(|| cfg.default_carrier.clone());
        return (Some(number.to_string()), carrier);
    }
    (None, None)
}

/// One sale as the contract's order.
pub fn order_info(cfg: &Config, sale: &Value) -> OrderInfo {
    let (tracking_number, carrier) = tracking(cfg, sale);
    let text = |v: &Value| v.as_str().map(str::to_string);
    let lines = sale["lines"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|l| l["type"].as_str().is_none_or(|t| t == "line"))
        .map(|l| OrderLine {
            sku: text(&l["product"]["code"])
                .or_else(|| l["product"]["id"].as_i64().map(|i| i.to_string()))
                .unwrap_or_default(),
            name: text(&l["product"]["name"]).or_else(|| text(&l["description"])),
            quantity: l["quantity"].as_f64().unwrap_or(1.0),
            unit_price: decimal(&l["unit_price"]),
        })
        .collect();
    OrderInfo {
        id: sale["id"].as_i64().unwrap_or_default().to_string(),
        number: text(&sale["number"]),
        source: "tryton".into(),
        placed_at: placed_at(sale),
        state: text(&sale["state"]),
        total: decimal(&sale["total_amount"]),
        currency: text(&sale["currency"]["code"]),
        tracking_number,
        carrier,
        lines,
    }
}

/// The fields a lookup reads.
fn fields(cfg: &Config) -> Vec<String> {
    let mut f: Vec<String> = [
        "number",
        "state",
        "sale_date",
        "create_date",
        "total_amount",
        "currency.code",
        "lines.type",
        "lines.quantity",
        "lines.unit_price",
        "lines.description",
        "lines.product.code",
        "lines.product.name",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    f.push(format!("shipments.{}", cfg.tracking_field));
    if !cfg.carrier_field.is_empty() {
        f.push(format!("shipments.{}", cfg.carrier_field));
    }
    f
}

/// The sales of `party` placed at or after `since`, newest first, at most `limit`.
///
/// # Errors
/// Tryton's refusals as connector errors.
pub fn find(
    cfg: &Config,
    party: i64,
    since: i64,
    limit: u32,
) -> Result<Vec<OrderInfo>, ConnectorError> {
    let domain = json!([
        ["party", "=", party],
        ["state", "in", cfg.order_states],
        ["sale_date", ">=", date_of(since)]
    ]);
    let order = json!([["sale_date", "DESC"], ["id", "DESC"]]);
    let wanted = fields(cfg);
    let wanted: Vec<&str> = wanted.iter().map(String::as_str).collect();
    // Sales of since's own day placed before it are dropped below: read a few more.
    let size = limit.saturating_add(10).min(200);
    let path = format!(
        "sale.sale?d={}&o={}&s={size}&{}",
        param(&domain),
        param(&order),
        fields_query(&wanted)
    );
    let sales = cfg.call("GET", &path, None)?;
    let mut found: Vec<OrderInfo> = sales
        .as_array()
        .into_iter()
        .flatten()
        .map(|s| order_info(cfg, s))
        .filter(|o| o.placed_at >= since)
        .collect();
    found.sort_by(|a, b| {
        b.placed_at.cmp(&a.placed_at).then_with(|| {
            let id = |o: &OrderInfo| o.id.parse::<i64>().unwrap_or_default();
            id(b).cmp(&id(a))
        })
    });
    found.truncate(limit as usize);
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> Config {
        serde_json::from_value(json!({"url": "http://t", "db": "scrm",
            "carriers": {"Poste Italiane": "poste-italia"}}))
        .unwrap()
    }

    #[test]
    fn a_sale_reads_into_the_contract() {
        let sale = json!({"id": 3, "number": "SO-1", "state": "processing",
            "sale_date": {"__class__": "date", "year": 2026, "month": 11, "day": 20},
            "create_date": {"__class__": "datetime", "year": 2026, "month": 11, "day": 20,
                            "hour": 9, "minute": 0, "second": 0, "microsecond": 0},
            "total_amount": {"__class__": "Decimal", "decimal": "39.80"},
            "currency": {"id": 1, "code": "EUR"},
            "lines": [{"type": "line", "quantity": 2.0, "unit_price": {"__class__": "Decimal", "decimal": "19.90"},
                       "product": {"id": 5, "code": "SER-30", "name": "Siero viso"}},
                      {"type": "comment", "description": "gift wrap"}],
            "shipments": [{"id": 1, "shipping_reference": null},
                          {"id": 2, "shipping_reference": "1Z9", "carrier": {"party": {"name": "BRT Corriere"}}}]});
        let o = order_info(&cfg(), &sale);
        assert_eq!(o.number.as_deref(), Some("SO-1"));
        assert_eq!(o.total, Some(39.8));
        assert_eq!(o.currency.as_deref(), Some("EUR"));
        assert_eq!(o.placed_at, 1_795_165_200_000);
        assert_eq!(o.lines.len(), 1);
        assert_eq!(
            (o.lines[0].sku.as_str(), o.lines[0].unit_price),
            ("SER-30", Some(19.9))
        );
        assert_eq!(o.tracking_number.as_deref(), Some("1Z9"));
        assert_eq!(o.carrier.as_deref(), Some("brt-corriere"));
    }

    #[test]
    fn couriers_are_slugs_and_dates_whole_days() {
        assert_eq!(slug(&cfg(), "Poste Italiane"), "poste-italia");
        assert_eq!(slug(&cfg(), "DHL Express"), "dhl-express");
        assert_eq!(date_of(1_795_165_200_000)["day"], 20);
        let day_only =
            json!({"sale_date": {"__class__": "date", "year": 2026, "month": 11, "day": 20}});
        assert_eq!(placed_at(&day_only), 1_795_132_800_000);
    }
}
