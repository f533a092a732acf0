//! Reference flow `order-status`: "dov'è il mio pacco?" / "where is my order?"
//! answered with the customer's latest order, where its parcel is, the delivery
//! estimate as a ± 2 h window in the customer's time zone and the tracking link;
//! then a notice each time the parcel moves on (shipped, out for delivery,
//! delivered), once per status.
//!
//! - **The question** is the classifier's intent (`intent`, default `order-status`,
//!   at `min_confidence`) or one of the `keywords` (by language: the language they
//!   are in is the language of the answer).
//! - **The order** is the newest of `scrm:plugin/orders` (the tenant's CRM through
//!   its connector's order lookup, and WhatsApp orders) placed within `lookback`;
//!   **the parcel** is its tracking number asked of the tenant's courier plugin
//!   (`scrm:plugin/parcels`).
//! - **The answer** is the `reply` message; what the flow found reaches it as
//!   `order.*` and `parcel.*` (`status` in the customer's words, `window`, `link`,
//!   … see [`text`]). A courier that is down fails the event, and the host retries
//!   it with back-off.
//! - **Notices**: while the parcel is not delivered, a durable timer
//!   (`poll/<number>`) asks the courier again every `poll_interval`, for at most
//!   `poll_for`; a status in `notify_tags` the customer was not told yet is sent
//!   (`notify`, free-form inside the 24-hour window, else the approved `template`
//!   with the order number, the status and the link as its parameters). What the
//!   customer was told is kept in the flow's key-value store, so no status goes
//!   twice. A WhatsApp order that arrives with a tracking number starts the same
//!   watch.
//!
//! Enable it with `scrm flow enable --tenant T order-status --set time_zone=Europe/Rome`.

mod text;
mod window;

use scrm_plugin_sdk::flows::{
    Action, Event, FlowError, Info, Param, ParamKind, TemplateSend, Trigger,
};
use scrm_plugin_sdk::{FieldValue, OrderInfo, Tracking, kv, orders, parcels, timers};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// The flow's parameters as the host hands them over (durations in ms).
#[derive(Debug, Clone, Deserialize)]
pub struct Params {
    /// The classifier's intent that asks for it.
    pub intent: String,
    /// The confidence (percent) at which the intent counts.
    pub min_confidence: i64,
    /// Phrases that ask for it, by language.
    pub keywords: BTreeMap<String, Vec<String>>,
    /// The answer (template language).
    pub reply: String,
    /// The answer when there is no recent order.
    pub no_order: String,
    /// The answer when the order has not shipped (no tracking number).
    pub not_shipped: String,
    /// A notice of a new status (template language).
    pub notify: String,
    /// The approved template for notices outside the 24-hour window.
    pub template: String,
    /// Its language.
    pub template_language: String,
    /// The status words by language and tag.
    pub status_words: BTreeMap<String, BTreeMap<String, String>>,
    /// The tags that are notified.
    pub notify_tags: Vec<String>,
    /// The zone of customers without a `time_zone` field.
    pub time_zone: String,
    /// The language of customers whose language is not known.
    pub language: String,
    /// Half the delivery window.
    pub window: i64,
    /// How the window's day is written (strftime).
    pub date_format: String,
    /// How often the parcel is asked about.
    pub poll_interval: i64,
    /// For how long after the first look.
    pub poll_for: i64,
    /// How far back orders count.
    pub lookback: i64,
}

/// What the customer was told about one parcel (kv `parcel/<contact>/<number>`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Told {
    /// The statuses (tags) the customer heard about.
    pub tags: Vec<String>,
    /// When the flow started watching, Unix ms.
    pub since: i64,
}

/// What a poll timer carries.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Poll {
    /// The tracking number.
    pub number: String,
    /// The courier, when known.
    pub carrier: Option<String>,
    /// The order as the messages show it.
    pub order: Value,
    /// The language of the notices.
    pub language: String,
}

mod defaults;

fn param(name: &str, kind: ParamKind, default: &str, description: &str) -> Param {
    Param {
        name: name.into(),
        kind,
        default: Some(default.to_string()),
        description: description.into(),
    }
}

/// What the flow says about itself.
pub fn info() -> Info {
    use ParamKind::{Boolean, Duration, Integer, Json, Message, Template, Text};
    let p = param;
    Info {
        name: "order-status".into(),
        description: "answers 'where is my order?' with the parcel's status, delivery window and tracking link, and tells the customer when it moves on".into(),
        triggers: vec!["message".into(), "order".into()],
        params: vec![
            p("intent", Text, "order-status", "the classifier's intent that asks where the order is"),
            p("min_confidence", Integer, "60", "the intent confidence (percent) at which it counts"),
            p("keywords", Json, defaults::KEYWORDS, "phrases that ask, by language: {\"it\": [...], \"en\": [...]}"),
            p("reply", Message, defaults::REPLY, "the answer; order.* and parcel.* (status, window, link, …) are what the flow found"),
            p("no_order", Message, defaults::NO_ORDER, "the answer when the customer has no recent order"),
            p("not_shipped", Message, defaults::NOT_SHIPPED, "the answer when the order has no tracking number yet"),
            p("notify", Message, defaults::NOTIFY, "a notice of a new status, inside the 24-hour window"),
            p("template", Template, "order_update", "approved template for notices outside the window: {{1}} order number, {{2}} status, {{3}} tracking link"),
            p("template_language", Text, "it", "its language"),
            p("status_words", Json, defaults::STATUS_WORDS, "each status in the customer's words, by language and tag"),
            p("notify_tags", Json, r#"["in-transit", "out-for-delivery", "delivered"]"#, "the statuses the customer is told about"),
            p("time_zone", Text, "Europe/Rome", "the time zone of customers without a time_zone field (IANA name)"),
            p("language", Text, "it", "the language of customers whose language is not known"),
            p("window", Duration, "2h", "the delivery window: the estimate plus and minus this"),
            p("date_format", Text, "%d/%m", "how the window's day is written (strftime)"),
            p("poll_interval", Duration, "2h", "how often the courier is asked while the parcel travels"),
            p("poll_for", Duration, "14d", "how long after the first look the parcel is followed"),
            p("lookback", Duration, "60d", "how far back orders count"),
            p("min_interval", Duration, "0s", "no spacing: answers and notices are each wanted"),
            p("business_initiated", Boolean, "true", "answer also in conversations a notice started"),
        ],
    }
}

fn failed(what: &str) -> impl Fn(String) -> FlowError + '_ {
    move |e| FlowError::Failed(format!("{what}: {e}"))
}

fn kv_told(key: &str) -> Result<Option<Told>, FlowError> {
    let raw = kv::get(key).map_err(|e| FlowError::Failed(format!("kv: {e:?}")))?;
    Ok(raw.and_then(|b| serde_json::from_slice(&b).ok()))
}

fn kv_set_told(key: &str, told: &Told) -> Result<(), FlowError> {
    let bytes = serde_json::to_vec(told).map_err(|e| FlowError::Failed(e.to_string()))?;
    kv::set(key, &bytes).map_err(|e| FlowError::Failed(format!("kv: {e:?}")))
}

/// The order as messages show it (`order.*`).
pub fn order_view(o: &OrderInfo) -> Value {
    let products: Vec<&str> = o
        .lines
        .iter()
        .map(|l| l.name.as_deref().unwrap_or(&l.sku))
        .collect();
    json!({"id": o.id, "number": o.number.clone().unwrap_or_else(|| o.id.clone()),
           "state": o.state, "total": o.total, "currency": o.currency,
           "tracking_number": o.tracking_number, "carrier": o.carrier,
           "placed_at": o.placed_at, "products": products})
}

/// Where the customer is: their zone and language.
#[derive(Debug, Clone)]
pub struct Customer {
    /// IANA zone name.
    pub zone: String,
    /// Language code.
    pub language: String,
}

/// The parcel as messages show it (`parcel.*`).
///
/// # Errors
/// A time zone or date format the flow cannot use.
pub fn parcel_view(p: &Params, t: &Tracking, who: &Customer) -> Result<Value, FlowError> {
    let tz = jiff::tz::TimeZone::get(&who.zone)
        .map_err(|e| FlowError::InvalidConfig(format!("time zone {:?}: {e}", who.zone)))?;
    let w = window::window(
        t.expected_from,
        t.expected_to,
        p.window,
        &tz,
        &p.date_format,
    )
    .map_err(FlowError::InvalidConfig)?;
    let status = p
        .status_words
        .get(&who.language)
        .and_then(|words| words.get(&t.tag))
        .cloned()
        .unwrap_or_else(|| t.status_text.clone());
    Ok(
        json!({"number": t.number, "carrier": t.carrier, "tag": t.tag, "status": status,
              "status_text": t.status_text, "window": w.as_ref().map(|w| w.text.clone()),
              "window_date": w.as_ref().map(|w| w.date.clone()),
              "window_from": w.as_ref().and_then(|w| w.from.clone()),
              "window_to": w.as_ref().and_then(|w| w.to.clone()),
              "time_zone": who.zone, "link": t.link,
              "location": t.checkpoints.last().and_then(|c| c.location.clone()),
              "language": who.language}),
    )
}

/// The customer's zone and language: the contact's `time_zone` and `language`
/// fields when set (a zone the flow cannot read is ignored), else `asked` (the
/// language of the question) and the flow's defaults.
pub fn customer(p: &Params, asked: Option<String>) -> Customer {
    let fields = scrm_plugin_sdk::profile::get()
        .map(|pr| pr.fields)
        .unwrap_or_default();
    let field = |name: &str| {
        fields.iter().find_map(|(n, v)| match v {
            FieldValue::Text(t) if n == name && !t.trim().is_empty() => Some(t.trim().to_string()),
            _ => None,
        })
    };
    let zone = field("time_zone")
        .filter(|z| jiff::tz::TimeZone::get(z).is_ok())
        .unwrap_or_else(|| p.time_zone.clone());
    let known = |l: &String| p.status_words.contains_key(l);
    let language = asked
        .filter(known)
        .or_else(|| {
            field("language")
                .map(|l| l.to_ascii_lowercase().chars().take(2).collect::<String>())
                .filter(known)
        })
        .unwrap_or_else(|| p.language.clone());
    Customer { zone, language }
}

/// True when the customer wrote within the last 24 hours (free-form allowed).
fn window_open(e: &Event) -> bool {
    e.conversation
        .as_ref()
        .and_then(|c| c.last_inbound_at)
        .is_some_and(|at| e.now - at < 24 * 3_600_000)
}

fn is_final(tag: &str) -> bool {
    matches!(tag, "delivered" | "expired")
}

/// Looks the parcel up; `Ok(None)` when the courier does not know it (an error
/// that retrying will not mend), an error when it could not be asked.
fn track(carrier: Option<&str>, number: &str) -> Result<Option<Tracking>, FlowError> {
    match parcels::track(carrier, number) {
        Ok(t) => Ok(Some(t)),
        // The host's words for the courier's `not-found`.
        Err(e) if e.contains("does not know the parcel") => Ok(None),
        Err(e) => Err(FlowError::Failed(format!("tracking {number}: {e}"))),
    }
}

/// Starts or goes on watching a parcel: remembers what the customer was told and
/// sets the next poll, unless it arrived or has been followed long enough.
fn watch(p: &Params, e: &Event, poll: &Poll, told: &Told, tag: &str) -> Result<(), FlowError> {
    let contact = e.contact.as_ref().map_or(0, |c| c.id);
    kv_set_told(&format!("parcel/{contact}/{}", poll.number), told)?;
    let key = format!("poll/{}", poll.number);
    if is_final(tag) || e.now - told.since > p.poll_for {
        timers::cancel(&key);
        return Ok(());
    }
    let payload = serde_json::to_vec(poll).map_err(|e| FlowError::Failed(e.to_string()))?;
    timers::schedule(&key, e.now + p.poll_interval, &payload).map_err(failed("timer"))
}

/// The answer to "where is my order?".
fn answer(p: &Params, e: &Event, asked: Option<String>) -> Result<Vec<Action>, FlowError> {
    let who = customer(p, asked);
    let lang = json!({"language": who.language});
    let found = orders::recent(e.now - p.lookback, 5).map_err(failed("orders"))?;
    let Some(order) = found.first() else {
        return Ok(vec![Action::Reply(
            text::prelude(&json!({}), &lang) + &p.no_order,
        )]);
    };
    let view = order_view(order);
    let Some(number) = order
        .tracking_number
        .clone()
        .filter(|n| !n.trim().is_empty())
    else {
        return Ok(vec![Action::Reply(
            text::prelude(&view, &lang) + &p.not_shipped,
        )]);
    };
    let Some(t) = track(order.carrier.as_deref(), &number)? else {
        let parcel = json!({"number": number, "carrier": order.carrier, "language": who.language});
        return Ok(vec![Action::Reply(
            text::prelude(&view, &parcel) + &p.reply,
        )]);
    };
    let parcel = parcel_view(p, &t, &who)?;
    let contact = e.contact.as_ref().map_or(0, |c| c.id);
    let mut told = kv_told(&format!("parcel/{contact}/{number}"))?.unwrap_or(Told {
        tags: Vec::new(),
        since: e.now,
    });
    if !told.tags.contains(&t.tag) {
        told.tags.push(t.tag.clone());
    }
    let poll = Poll {
        number,
        carrier: order
            .carrier
            .clone()
            .or(Some(t.carrier.clone()))
            .filter(|c| !c.is_empty()),
        order: view.clone(),
        language: who.language.clone(),
    };
    watch(p, e, &poll, &told, &t.tag)?;
    Ok(vec![Action::Reply(
        text::prelude(&view, &parcel) + &p.reply,
    )])
}

/// A notice of `parcel` (the view) about `poll`'s order: free-form inside the
/// window, else the template.
fn notice(p: &Params, e: &Event, poll: &Poll, parcel: &Value) -> Action {
    if window_open(e) {
        return Action::Reply(text::prelude(&poll.order, parcel) + &p.notify);
    }
    let s = |v: &Value| v.as_str().unwrap_or_default().to_string();
    let link = parcel["link"]
        .as_str()
        .map_or_else(|| poll.number.clone(), str::to_string);
    Action::Template(TemplateSend {
        name: p.template.clone(),
        language: p.template_language.clone(),
        parameters: [s(&poll.order["number"]), s(&parcel["status"]), link]
            .iter()
            .map(|v| text::literal(v))
            .collect(),
    })
}

/// A poll: asks the courier again and tells the customer a new status.
fn on_poll(p: &Params, e: &Event, payload: &[u8]) -> Result<Vec<Action>, FlowError> {
    let Ok(poll) = serde_json::from_slice::<Poll>(payload) else {
        return Ok(Vec::new());
    };
    let contact = e.contact.as_ref().map_or(0, |c| c.id);
    let mut told = kv_told(&format!("parcel/{contact}/{}", poll.number))?.unwrap_or(Told {
        tags: Vec::new(),
        since: e.now,
    });
    let Some(t) = track(poll.carrier.as_deref(), &poll.number)? else {
        return Ok(Vec::new());
    };
    let mut actions = Vec::new();
    if p.notify_tags.contains(&t.tag) && !told.tags.contains(&t.tag) {
        let mut who = customer(p, None);
        who.language = poll.language.clone();
        let parcel = parcel_view(p, &t, &who)?;
        actions.push(notice(p, e, &poll, &parcel));
        told.tags.push(t.tag.clone());
    }
    watch(p, e, &poll, &told, &t.tag)?;
    Ok(actions)
}

/// An order arrived: when it already has a tracking number, its parcel is watched
/// (the first look comes at once).
fn on_order(p: &Params, e: &Event, id: &str) -> Result<Vec<Action>, FlowError> {
    let found = orders::recent(e.now - p.lookback, 10).map_err(failed("orders"))?;
    let Some(order) = found.iter().find(|o| o.id == id) else {
        return Ok(Vec::new());
    };
    let Some(number) = order
        .tracking_number
        .clone()
        .filter(|n| !n.trim().is_empty())
    else {
        return Ok(Vec::new());
    };
    let poll = Poll {
        number: number.clone(),
        carrier: order.carrier.clone(),
        order: order_view(order),
        language: customer(p, None).language,
    };
    let payload = serde_json::to_vec(&poll).map_err(|e| FlowError::Failed(e.to_string()))?;
    timers::schedule(&format!("poll/{number}"), e.now, &payload).map_err(failed("timer"))?;
    Ok(Vec::new())
}

/// The language the message asks in, when it asks where the order is.
pub fn asks(p: &Params, text: &str, intent: Option<(&str, f32)>) -> Option<Option<String>> {
    let by_words = text::asked_in(text, &p.keywords);
    let by_intent = intent
        .is_some_and(|(name, conf)| name == p.intent && conf >= p.min_confidence as f32 / 100.0);
    (by_intent || by_words.is_some()).then_some(by_words)
}

/// The flow.
#[derive(Debug)]
pub struct OrderStatus;

impl scrm_plugin_sdk::Flow for OrderStatus {
    fn describe() -> Info {
        info()
    }

    fn handle(e: Event) -> Result<Vec<Action>, FlowError> {
        let p: Params = scrm_plugin_sdk::config::parse()
            .map_err(FlowError::InvalidConfig)?
            .ok_or_else(|| FlowError::InvalidConfig("no parameters".into()))?;
        if e.contact.is_none() {
            return Ok(Vec::new());
        }
        match &e.trigger {
            Trigger::Message(m) => {
                let Some(text) = m.message.content.text() else {
                    return Ok(Vec::new());
                };
                let intent = m
                    .classification
                    .as_ref()
                    .and_then(|c| c.intent.as_ref())
                    .map(|i| (i.name.as_str(), i.confidence));
                match asks(&p, text, intent) {
                    Some(lang) => answer(&p, &e, lang),
                    None => Ok(Vec::new()),
                }
            }
            Trigger::Order(o) => on_order(&p, &e, &o.id),
            Trigger::Timer(t) if t.key.starts_with("poll/") => on_poll(&p, &e, &t.payload),
            _ => Ok(Vec::new()),
        }
    }
}

scrm_plugin_sdk::export_flow!(OrderStatus);

#[cfg(test)]
mod tests;
