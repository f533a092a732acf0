//! The sales and engagement metrics: the funnel, conversion (with order value, close
//! rate by payment method and the conversion cycle), open rate and CTR, and cost.
//! Rows come from the store, numbers from `scrm_analytics`; definitions are in
//! `docs/analytics.md`.

use super::{Context, Query};
use scrm_analytics::cost::{Charge, Effectiveness, MessageCost};
use scrm_analytics::engagement::{Engagement, Send};
use scrm_analytics::funnel::{Funnel, Journey, Step};
use scrm_analytics::sales::{CloseRate, Conversion, Cycle, FirstOrder, OrderValue, Sale};
use scrm_store::analytics::sales::SendRow;
use scrm_store::orders::OrderState;
use scrm_store::{AnalyticsRepo, Db, OrderRepo, StoreError};
use serde::Serialize;
use serde_json::Value;
use std::collections::{HashMap, HashSet};

/// The funnel of the conversations first seen in the range.
///
/// # Errors
/// On database failure.
pub async fn funnel(db: &Db, tenant: &str, ctx: &Context, q: &Query) -> Result<Funnel, StoreError> {
    let (t, scope, range) = (tenant.to_string(), q.scope.clone(), q.range.bounds_ms());
    let (rows, orders) = db
        .read(move |c| {
            let rows = AnalyticsRepo::funnel_rows(c, &t, range, &scope)?;
            Ok((rows, OrderRepo::list(c, &t, None, range, u32::MAX)?))
        })
        .await?;
    let mut journeys = Vec::new();
    let mut i = 0;
    while i < rows.len() {
        let conv = rows[i].conversation_id;
        let (contact, first) = (rows[i].contact_id, rows[i].first_at);
        let mut steps = Vec::new();
        while i < rows.len() && rows[i].conversation_id == conv {
            steps.push(Step {
                inbound: rows[i].inbound,
                intent: rows[i].intent.clone(),
            });
            i += 1;
        }
        let (engaged, qualified) =
            scrm_analytics::funnel::engagement(&steps, &ctx.settings.buying_intents);
        let theirs = || {
            orders
                .iter()
                .filter(move |o| o.contact_id == contact && o.placed_at >= first)
        };
        journeys.push(Journey {
            engaged,
            qualified,
            ordered: theirs().next().is_some(),
            closed: theirs().any(|o| o.state == OrderState::Paid),
        });
    }
    Ok(scrm_analytics::funnel::funnel(
        &journeys,
        ctx.settings.funnel_target,
    ))
}

/// Conversion, order value, close rate by payment method and conversion cycle.
#[derive(Debug, Clone, Serialize)]
pub struct Sales {
    /// Customers who wrote, and of them who ordered.
    pub conversion: Conversion,
    /// Orders placed in the range (of the scope's customers, when scoped).
    pub orders: u64,
    /// Average order value per currency.
    pub order_value: Vec<OrderValue>,
    /// Close rate per payment method.
    pub close_rate: Vec<CloseRate>,
    /// First contact to first order.
    pub cycle: Cycle,
}

/// The range's sales numbers.
///
/// # Errors
/// On database failure.
pub async fn conversion(db: &Db, tenant: &str, q: &Query) -> Result<Sales, StoreError> {
    let (t, scope, range) = (tenant.to_string(), q.scope.clone(), q.range.bounds_ms());
    let scoped = q.scope != Default::default();
    let (customers, orders, firsts) = db
        .read(move |c| {
            Ok((
                AnalyticsRepo::customers(c, &t, range, &scope)?,
                OrderRepo::list(c, &t, None, range, u32::MAX)?,
                AnalyticsRepo::first_orders(c, &t, range)?,
            ))
        })
        .await?;
    let first_inbound: HashMap<i64, i64> = customers.into_iter().collect();
    let sales: Vec<Sale> = orders
        .iter()
        .filter(|o| !scoped || first_inbound.contains_key(&o.contact_id))
        .map(|o| Sale {
            contact: o.contact_id,
            placed_at: o.placed_at,
            total: o.total,
            currency: o.currency.clone(),
            payment_method: o.payment_method.clone(),
            paid: o.state == OrderState::Paid,
            cancelled: o.state == OrderState::Cancelled,
        })
        .collect();
    let firsts: Vec<FirstOrder> = firsts
        .iter()
        .filter(|f| !scoped || first_inbound.contains_key(&f.contact_id))
        .map(|f| FirstOrder {
            first_contact: f.first_contact.unwrap_or(f.placed_at),
            placed_at: f.placed_at,
            video_in_24h: f.video_in_24h,
        })
        .collect();
    Ok(Sales {
        conversion: scrm_analytics::sales::conversion(&first_inbound, &sales),
        orders: sales.len() as u64,
        order_value: scrm_analytics::sales::order_values(&sales),
        close_rate: scrm_analytics::sales::close_rates(&sales),
        cycle: scrm_analytics::sales::cycle(&firsts),
    })
}

/// Every string in a message object (text, caption, template parameters, buttons).
fn strings(v: &Value, out: &mut String) {
    match v {
        Value::String(s) => {
            out.push_str(s);
            out.push(' ');
        }
        Value::Array(a) => a.iter().for_each(|v| strings(v, out)),
        Value::Object(o) => o.values().for_each(|v| strings(v, out)),
        _ => {}
    }
}

/// The groups a send counts in: its type, its template, its campaign or flow.
fn groups(row: &SendRow, body: &Value, campaigns: &HashMap<i64, String>) -> Vec<(String, String)> {
    let mut g = vec![("message".to_string(), row.kind.clone())];
    if let Some(name) = body.pointer("/template/name").and_then(Value::as_str) {
        g.push(("template".into(), name.into()));
    }
    let first = row.source.split_whitespace().next().unwrap_or_default();
    if let Some(id) = first.strip_prefix("campaign:") {
        let name = id
            .parse()
            .ok()
            .and_then(|id| campaigns.get(&id).cloned())
            .unwrap_or_else(|| id.to_string());
        g.push(("campaign".into(), name));
    } else if let Some(flow) = first.strip_prefix("flow:") {
        let name = flow.split('@').next().unwrap_or(flow);
        g.push(("flow".into(), name.into()));
    }
    g
}

/// Open rate and CTR of the business's messages sent in the range.
///
/// # Errors
/// On database failure.
pub async fn engagement(db: &Db, tenant: &str, q: &Query) -> Result<Engagement, StoreError> {
    let (t, range, number) = (
        tenant.to_string(),
        q.range.bounds_ms(),
        q.scope.phone_number_id.clone(),
    );
    let (rows, campaigns) = db
        .read(move |c| {
            let rows = AnalyticsRepo::sends(c, &t, range, number.as_deref())?;
            let names: HashMap<i64, String> = scrm_store::CampaignRepo::list(c, &t)?
                .into_iter()
                .map(|c| (c.id, c.name))
                .collect();
            Ok((rows, names))
        })
        .await?;
    let sends: Vec<Send> = rows
        .iter()
        .map(|r| {
            let body: Value = serde_json::from_str(&r.body).unwrap_or(Value::Null);
            let mut text = String::new();
            strings(&body, &mut text);
            Send {
                groups: groups(r, &body, &campaigns),
                delivered: r.delivered_at.is_some(),
                read_at: r.read_at,
                with_links: r.links > 0,
                first_click: r.first_click,
                emoji: scrm_analytics::words::has_emoji(&text),
            }
        })
        .collect();
    Ok(scrm_analytics::engagement::engagement(&sends))
}

/// What Meta bills for a send to a number of `country`, if anything (see
/// `scrm_analytics::cost`).
fn charge(r: &SendRow, country: Option<String>) -> Option<Charge> {
    let wamid = r.wamid.clone().unwrap_or_default();
    let json = |s: &Option<String>| {
        s.as_deref()
            .and_then(|s| serde_json::from_str::<Value>(s).ok())
            .unwrap_or(Value::Null)
    };
    let pricing = json(&r.pricing);
    if pricing.is_object() {
        if pricing["billable"].as_bool() != Some(true) {
            return None;
        }
        let conversation = json(&r.conversation);
        let key = match (
            pricing["pricing_model"].as_str(),
            conversation["id"].as_str(),
        ) {
            (Some("CBP"), Some(id)) => format!("conversation:{id}"),
            _ => wamid,
        };
        let category = pricing["category"]
            .as_str()
            .unwrap_or(&r.category)
            .to_string();
        return Some(Charge {
            country,
            category,
            key,
            estimated: false,
        });
    }
    let paid = ["marketing", "utility", "authentication"].contains(&r.category.as_str());
    (r.kind == "template" && paid).then(|| Charge {
        country,
        category: r.category.clone(),
        key: wamid,
        estimated: true,
    })
}

/// Message cost and cost effectiveness.
#[derive(Debug, Clone, Serialize)]
pub struct Cost {
    /// Meta's charges, priced.
    pub messages: MessageCost,
    /// The share of charges estimated (no priced status yet).
    pub estimated_share: f64,
    /// The range's share of the weekly fixed costs.
    pub fixed_costs: f64,
    /// Per conversation and per customer acquired.
    #[serde(flatten)]
    pub effectiveness: Effectiveness,
    /// The rate card has at least one price.
    pub prices_configured: bool,
}

/// The range's message cost and what it bought.
///
/// # Errors
/// On database failure.
pub async fn cost(db: &Db, tenant: &str, ctx: &Context, q: &Query) -> Result<Cost, StoreError> {
    let (t, range, scope) = (tenant.to_string(), q.range.bounds_ms(), q.scope.clone());
    let (rows, conversations, firsts) = db
        .read(move |c| {
            Ok((
                AnalyticsRepo::sends(c, &t, range, scope.phone_number_id.as_deref())?,
                AnalyticsRepo::active_conversations(c, &t, range, &scope)?,
                AnalyticsRepo::first_orders(c, &t, range)?,
            ))
        })
        .await?;
    // The country is kept on each send when it is queued; older sends have their
    // recipient's number parsed here, once per recipient (the costly part).
    let mut countries: HashMap<&str, Option<String>> = HashMap::new();
    let charges: Vec<Charge> = rows
        .iter()
        .filter_map(|r| {
            let country = match &r.country {
                Some(c) => Some(c.clone()),
                None => countries
                    .entry(r.to_wa.as_str())
                    .or_insert_with(|| scrm_wire::phone::region_of_wa_id(&r.to_wa))
                    .clone(),
            };
            charge(r, country)
        })
        .collect();
    let prices = &ctx.settings.prices;
    let messages = scrm_analytics::cost::message_cost(&charges, prices);
    let days = (q.range.to - q.range.from).num_days() + 1;
    let fixed = ctx.settings.fixed_costs_per_week * days as f64 / 7.0;
    let new_customers = firsts
        .iter()
        .map(|f| f.contact_id)
        .collect::<HashSet<_>>()
        .len() as u64;
    Ok(Cost {
        estimated_share: scrm_analytics::cost::estimated_share(&messages),
        fixed_costs: (fixed * 100.0).round() / 100.0,
        effectiveness: scrm_analytics::cost::effectiveness(
            messages.total + fixed,
            conversations,
            new_customers,
            ctx.settings.acquisition_cost_target,
        ),
        messages,
        prices_configured: prices.rates.values().any(|r| !r.is_empty()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(
        kind: &str,
        category: &str,
        pricing: Option<&str>,
        conversation: Option<&str>,
    ) -> SendRow {
        SendRow {
            kind: kind.into(),
            category: category.into(),
            source: "campaign:3".into(),
            body: "{}".into(),
            to_wa: "393471234567".into(),
            wamid: Some("wamid.1".into()),
            delivered_at: None,
            read_at: None,
            links: 0,
            first_click: None,
            pricing: pricing.map(str::to_owned),
            conversation: conversation.map(str::to_owned),
            country: None,
        }
    }

    #[test]
    fn charges_follow_metas_pricing_then_the_estimate() {
        let pmp = r#"{"billable":true,"pricing_model":"PMP","category":"utility"}"#;
        let it = || Some("IT".to_string());
        let c = charge(&row("template", "marketing", Some(pmp), None), it()).unwrap();
        assert_eq!(
            (c.country.as_deref(), c.category.as_str()),
            (Some("IT"), "utility")
        );
        assert_eq!((c.key.as_str(), c.estimated), ("wamid.1", false));
        let free = r#"{"billable":false,"pricing_model":"PMP","category":"service"}"#;
        assert_eq!(
            charge(&row("text", "service", Some(free), None), it()),
            None
        );
        let cbp = r#"{"billable":true,"pricing_model":"CBP","category":"marketing"}"#;
        let conv = Some(r#"{"id":"c9"}"#);
        let c = charge(&row("template", "marketing", Some(cbp), conv), it()).unwrap();
        assert_eq!(c.key, "conversation:c9");
        // No status with pricing yet: a marketing template is estimated billable, a
        // service reply is not.
        let estimate = charge(&row("template", "marketing", None, None), it());
        assert!(estimate.unwrap().estimated);
        assert_eq!(charge(&row("text", "service", None, None), it()), None);
    }

    #[test]
    fn sends_are_grouped_by_type_template_campaign_and_flow() {
        let campaigns: HashMap<i64, String> = [(3, "Saldi".to_string())].into();
        let body = serde_json::json!({"template": {"name": "promo"}});
        let g = groups(&row("template", "marketing", None, None), &body, &campaigns);
        assert_eq!(
            g,
            [
                ("message", "template"),
                ("template", "promo"),
                ("campaign", "Saldi")
            ]
            .map(|(a, b)| (a.to_string(), b.to_string()))
        );
        let mut r = row("text", "service", None, None);
        r.source = "flow:win-back@2".into();
        let g = groups(&r, &Value::Null, &campaigns);
        assert_eq!(g[1], ("flow".to_string(), "win-back".to_string()));
    }
}
