//! Analytics per tenant: its settings, and each metric computed from the store's
//! rows by `scrm-analytics` over a date range in the tenant's time zone. Definitions
//! are in `docs/analytics.md`; the HTTP surface is `crate::api::analytics`.

pub mod alerts;
pub mod charts;
pub mod deliver;
pub mod pdf;
pub mod report;
pub mod report_pdf;
pub mod sales;

use chrono::NaiveDate;
use chrono_tz::Tz;
use scrm_analytics::heat::HourOfWeek;
use scrm_analytics::hours::BusinessHours;
use scrm_analytics::resolution::{Conv, Resolution};
use scrm_analytics::responses::{Msg, ResponseTimes, Sender, response_times};
use scrm_analytics::words::{HotWord, Watched, WordCounter};
use scrm_analytics::{DateRange, RangeError};
use scrm_store::analytics::Scope;
use scrm_store::{AnalyticsRepo, Db, StoreError};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// A promotion: while it runs, the share of conversations using its words is
/// watched against `min_share`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Promotion {
    /// Its name.
    pub name: String,
    /// First day (tenant's time zone).
    pub from: NaiveDate,
    /// Last day, included.
    pub to: NaiveDate,
    /// The words it should make customers use (`sconto`).
    pub words: Vec<String>,
    /// Below this share of conversations the promotion is not attracting (0.08).
    #[serde(default = "default_min_share")]
    pub min_share: f64,
}

fn default_min_share() -> f64 {
    0.08
}

/// A tenant's analytics settings. Missing fields take their defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// Opening hours per weekday; empty: every minute counts.
    pub business_hours: BusinessHours,
    /// Words whose share of conversations is always reported (`watched-words`).
    pub watched_words: Vec<String>,
    /// Promotions and their words.
    pub promotions: Vec<Promotion>,
    /// An agent whose mean response time is over this many minutes is flagged.
    pub agent_flag_minutes: f64,
    /// The language hot words are stemmed in (`it`, `en`, …); empty: from the
    /// tenant's region (`IT` → `it`, otherwise `en`).
    pub language: String,
    /// What a customer at high churn risk is offered to win them back.
    pub recovery_offer: String,
    /// The classifier intents that qualify a conversation in the sales funnel.
    pub buying_intents: Vec<String>,
    /// The overall funnel conversion (closed / first contact) to reach.
    pub funnel_target: f64,
    /// Meta's rates, per country and category, for the message cost.
    pub prices: scrm_analytics::cost::Prices,
    /// Other costs of running WhatsApp sales (people, tools) per week, in the
    /// prices' currency: added to the message cost, prorated by day.
    pub fixed_costs_per_week: f64,
    /// The acquisition cost per customer to stay within, `[low, high]`.
    pub acquisition_cost_target: [f64; 2],
    /// Who gets the weekly reports by email.
    pub report_recipients: Vec<String>,
    /// Who gets alerts by email (raised and cleared).
    pub alert_emails: Vec<String>,
    /// Where alerts are posted (JSON, signed with the tenant secret
    /// `alert_webhook_secret`): an http(s) URL, or none.
    pub alert_webhook: Option<String>,
    /// The flow that wins customers back (its sends are measured).
    pub win_back_flow: String,
    /// A customer sent the win-back is recovered when they order within this many days.
    pub win_back_days: u32,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            business_hours: BusinessHours::always(),
            watched_words: Vec::new(),
            promotions: Vec::new(),
            agent_flag_minutes: 6.0,
            language: String::new(),
            recovery_offer: "a 15 % discount code".into(),
            buying_intents: [
                "price-inquiry",
                "purchase-intent",
                "sales-opportunity",
                "purchase",
                "price",
            ]
            .map(String::from)
            .to_vec(),
            funnel_target: 0.12,
            prices: scrm_analytics::cost::Prices::default(),
            fixed_costs_per_week: 0.0,
            acquisition_cost_target: [0.8, 1.2],
            report_recipients: Vec::new(),
            alert_emails: Vec::new(),
            alert_webhook: None,
            win_back_flow: "win-back".into(),
            win_back_days: 14,
        }
    }
}

/// A single word or emoji, as hot words count them.
fn one_word(w: &str) -> bool {
    let w = w.trim();
    !w.is_empty() && !w.chars().any(char::is_whitespace)
}

impl Settings {
    /// Checks the values; the message names the wrong one.
    ///
    /// # Errors
    /// A watched word that is empty or more than one word, a promotion that ends
    /// before it starts or has no words, a share outside 0–1, a flag threshold not
    /// above 0.
    pub fn validate(&self) -> Result<(), String> {
        if let Some(w) = self.watched_words.iter().find(|w| !one_word(w)) {
            return Err(format!("watched_words: {w:?} must be one word or emoji"));
        }
        for p in &self.promotions {
            if p.name.trim().is_empty() {
                return Err("promotions: every promotion needs a name".into());
            }
            if p.to < p.from {
                return Err(format!(
                    "promotion {:?}: to {} is before from {}",
                    p.name, p.to, p.from
                ));
            }
            if p.words.is_empty() || p.words.iter().any(|w| !one_word(w)) {
                return Err(format!(
                    "promotion {:?}: words must be one or more single words",
                    p.name
                ));
            }
            if !(0.0..=1.0).contains(&p.min_share) {
                return Err(format!(
                    "promotion {:?}: min_share must be 0–1, got {}",
                    p.name, p.min_share
                ));
            }
        }
        if !(self.agent_flag_minutes > 0.0 && self.agent_flag_minutes <= 24.0 * 60.0) {
            return Err(format!(
                "agent_flag_minutes must be above 0 and at most 1440, got {}",
                self.agent_flag_minutes
            ));
        }
        self.validate_sales()?;
        let two_letters =
            self.language.len() == 2 && self.language.chars().all(|c| c.is_ascii_lowercase());
        if !(self.language.is_empty() || two_letters) {
            return Err(format!(
                "language must be a two-letter code (it, en) or empty, got {:?}",
                self.language
            ));
        }
        Ok(())
    }
}

impl Settings {
    fn validate_sales(&self) -> Result<(), String> {
        if let Some(i) = self.buying_intents.iter().find(|i| i.trim().is_empty()) {
            return Err(format!("buying_intents: {i:?} is empty"));
        }
        if !(0.0..=1.0).contains(&self.funnel_target) {
            return Err(format!(
                "funnel_target must be 0–1, got {}",
                self.funnel_target
            ));
        }
        self.prices.validate()?;
        for (field, list) in [
            ("report_recipients", &self.report_recipients),
            ("alert_emails", &self.alert_emails),
        ] {
            if let Some(bad) = list.iter().find(|a| !crate::mail::valid_address(a)) {
                return Err(format!("{field}: {bad:?} is not an email address"));
            }
        }
        if !(1..=365).contains(&self.win_back_days) {
            return Err(format!(
                "win_back_days must be 1–365, got {}",
                self.win_back_days
            ));
        }
        if let Some(url) = &self.alert_webhook {
            let ok = url::Url::parse(url)
                .is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some());
            if !ok {
                return Err(format!("alert_webhook: {url:?} is not an http(s) URL"));
            }
        }
        if !(self.fixed_costs_per_week.is_finite() && self.fixed_costs_per_week >= 0.0) {
            return Err(format!(
                "fixed_costs_per_week must be ≥ 0, got {}",
                self.fixed_costs_per_week
            ));
        }
        let [low, high] = self.acquisition_cost_target;
        if !(low.is_finite() && high.is_finite() && 0.0 <= low && low <= high) {
            return Err(format!(
                "acquisition_cost_target must be [low, high] with 0 ≤ low ≤ high, got [{low}, {high}]"
            ));
        }
        Ok(())
    }
}

/// What a metric is asked for.
#[derive(Debug, Clone)]
pub struct Query {
    /// The dates.
    pub range: DateRange,
    /// Which conversations.
    pub scope: Scope,
    /// How many items, for lists (hot words).
    pub limit: usize,
}

impl Query {
    /// The whole tenant (every number, team and agent) over `range`.
    pub fn tenant_wide(range: DateRange, limit: usize) -> Self {
        Query {
            range,
            scope: Scope::default(),
            limit,
        }
    }
}

/// A tenant's people by id, for the names in tables and charts.
#[derive(Debug, Clone)]
pub struct Names(Vec<(i64, String)>);

impl Names {
    /// The tenant's people.
    ///
    /// # Errors
    /// On database failure.
    pub async fn of(db: &Db, tenant: &str) -> Result<Self, StoreError> {
        let t = tenant.to_string();
        let people = db
            .read(move |c| scrm_store::PeopleRepo::people(c, &t))
            .await?;
        Ok(Names(people.into_iter().map(|p| (p.id, p.name)).collect()))
    }

    /// Person `id`'s name, or `#id` for one no longer there.
    pub fn get(&self, id: i64) -> String {
        self.0
            .iter()
            .find(|(p, _)| *p == id)
            .map_or_else(|| format!("#{id}"), |(_, n)| n.clone())
    }
}

/// A JSON value as a table cell: a string bare, null empty, anything else as JSON.
pub fn cell(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// Why a metric was not computed.
#[derive(Debug, thiserror::Error)]
pub enum AnalyticsError {
    /// A bad range.
    #[error(transparent)]
    Range(#[from] RangeError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The metrics there are, by API name.
pub const METRICS: &[&str] = &[
    "response-times",
    "resolution",
    "hour-of-week",
    "hot-words",
    "watched-words",
    "churn-risk",
    "funnel",
    "conversion",
    "ctr",
    "cost",
    "model-usage",
];

/// The tenant's context: settings, time zone, retention, language.
#[derive(Debug, Clone)]
pub struct Context {
    /// Its analytics settings.
    pub settings: Settings,
    /// Its time zone.
    pub tz: Tz,
    /// Days of history kept.
    pub retention_days: u32,
    /// The language hot words are stemmed in.
    pub language: String,
}

/// Loads a tenant's analytics context; `None` when there is no such tenant.
///
/// # Errors
/// On database failure, or settings stored by another version that no longer parse.
pub async fn context(db: &Db, tenant: &str) -> Result<Option<Context>, StoreError> {
    let t = tenant.to_string();
    db.read(move |c| {
        let Some(tenant) = scrm_store::TenantRepo::get(c, &t)? else {
            return Ok(None);
        };
        let settings = match AnalyticsRepo::settings(c, &t)? {
            Some(v) => serde_json::from_value(v)
                .map_err(|e| StoreError::Column(format!("analytics settings: {e}")))?,
            None => Settings::default(),
        };
        let zone = scrm_store::FlowRepo::time_zone(c, &t)?.unwrap_or_else(|| "UTC".into());
        let tz = crate::automation::schedule::zone(&zone).unwrap_or(Tz::UTC);
        let retention_days = scrm_store::CrmRepo::settings(c, &t)?.retention_days;
        let language = if settings.language.is_empty() {
            if tenant.default_region == "IT" {
                "it"
            } else {
                "en"
            }
            .to_string()
        } else {
            settings.language.clone()
        };
        Ok(Some(Context {
            settings,
            tz,
            retention_days,
            language,
        }))
    })
    .await
}

/// Who sent a business message, from the outbox's record of it.
pub fn sender_of(source: Option<&str>) -> Sender {
    let Some(s) = source else {
        return Sender::Other;
    };
    if s.starts_with("flow:") || s.starts_with("campaign") || s == "responder" {
        return Sender::Automated;
    }
    s.split_whitespace()
        .find_map(|w| w.strip_prefix("person:"))
        .and_then(|n| n.parse().ok())
        .map_or(Sender::Other, Sender::Person)
}

/// How far after a range's end answers to its turns are looked for.
const ANSWER_HORIZON_MS: i64 = 7 * 24 * 3_600_000;

/// Response times (see `scrm_analytics::responses`).
///
/// # Errors
/// On database failure.
pub async fn responses(
    db: &Db,
    tenant: &str,
    ctx: &Context,
    q: &Query,
) -> Result<ResponseTimes, StoreError> {
    let (start, end) = q.range.bounds_ms();
    let fetch = (
        start - scrm_analytics::responses::SESSION_GAP_MS,
        end + ANSWER_HORIZON_MS,
    );
    let (t, scope) = (tenant.to_string(), q.scope.clone());
    let rows = db
        .read(move |c| AnalyticsRepo::turn_rows(c, &t, fetch, &scope))
        .await?;
    let msgs: Vec<Msg> = rows
        .iter()
        .map(|r| Msg {
            conversation: r.conversation_id,
            at_ms: r.at,
            sender: if r.inbound {
                Sender::Customer
            } else {
                sender_of(r.source.as_deref())
            },
        })
        .collect();
    let flag = (ctx.settings.agent_flag_minutes * 60_000.0) as i64;
    Ok(response_times(
        &msgs,
        (start, end),
        &ctx.settings.business_hours,
        ctx.tz,
        flag,
    ))
}

/// The share of conversations resolved (see `scrm_analytics::resolution`).
///
/// # Errors
/// On database failure.
pub async fn resolution(db: &Db, tenant: &str, q: &Query) -> Result<Resolution, StoreError> {
    let (t, scope, range) = (tenant.to_string(), q.scope.clone(), q.range.bounds_ms());
    let rows = db
        .read(move |c| AnalyticsRepo::conversation_states(c, &t, range, &scope))
        .await?;
    let convs: Vec<Conv> = rows
        .iter()
        .map(|r| Conv {
            first_inbound: r.first_inbound,
            resolved_at: r.resolved_at.filter(|_| r.state == "resolved"),
            assignee: r.assignee_person,
        })
        .collect();
    Ok(scrm_analytics::resolution::resolution(&convs))
}

/// Customers' messages by local hour of the week, and the 5 busiest hours.
///
/// # Errors
/// On database failure.
pub async fn hour_of_week(
    db: &Db,
    tenant: &str,
    ctx: &Context,
    q: &Query,
) -> Result<HourOfWeek, StoreError> {
    let (t, scope, range) = (tenant.to_string(), q.scope.clone(), q.range.bounds_ms());
    let buckets = db
        .read(move |c| AnalyticsRepo::volume(c, &t, range, &scope, true))
        .await?;
    let mut grid = HourOfWeek::new();
    for (at, n) in buckets {
        grid.add(at, n.max(0) as u64, ctx.tz);
    }
    Ok(grid)
}

async fn words(
    db: &Db,
    tenant: &str,
    ctx: &Context,
    range: (i64, i64),
    scope: &Scope,
) -> Result<WordCounter, StoreError> {
    let (t, scope) = (tenant.to_string(), scope.clone());
    let texts = db
        .read(move |c| AnalyticsRepo::customer_texts(c, &t, range, &scope))
        .await?;
    let mut counter = WordCounter::new(&ctx.language);
    for (conversation, text) in &texts {
        counter.add(*conversation, text);
    }
    Ok(counter)
}

/// The most written words, and how many conversations there were.
///
/// # Errors
/// On database failure.
pub async fn hot_words(
    db: &Db,
    tenant: &str,
    ctx: &Context,
    q: &Query,
) -> Result<(Vec<HotWord>, u64), StoreError> {
    let counter = words(db, tenant, ctx, q.range.bounds_ms(), &q.scope).await?;
    Ok((counter.top(q.limit), counter.conversations()))
}

/// A customer's churn risk, with who they are.
#[derive(Debug, Clone, Serialize)]
pub struct ChurnItem {
    /// The contact.
    pub contact_id: i64,
    /// Their name, if known.
    pub name: Option<String>,
    /// Their WhatsApp id.
    pub wa_id: Option<String>,
    /// The risk (see `scrm_analytics::churn`).
    #[serde(flatten)]
    pub risk: scrm_analytics::churn::Risk,
    /// What to do, for high risks.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub suggestion: Option<String>,
}

/// Customers by churn risk as of the range's last day, highest score first, and how
/// many are at high risk.
///
/// # Errors
/// On database failure.
pub async fn churn(
    db: &Db,
    tenant: &str,
    ctx: &Context,
    q: &Query,
) -> Result<(Vec<ChurnItem>, u64), StoreError> {
    const WEEK: i64 = 604_800_000;
    let end = q.range.bounds_ms().1;
    let start = end - 5 * WEEK;
    let (t, limit) = (tenant.to_string(), q.limit);
    let offer = ctx.settings.recovery_offer.clone();
    db.read(move |c| {
        let mut weeks: std::collections::HashMap<i64, [u64; 5]> = std::collections::HashMap::new();
        for (contact, week, days) in AnalyticsRepo::interaction_weeks(c, &t, start)? {
            if (0..5).contains(&week) {
                weeks.entry(contact).or_default()[week as usize] = days.max(0) as u64;
            }
        }
        let mut sentiment: std::collections::HashMap<i64, f64> = std::collections::HashMap::new();
        for (contact, json) in AnalyticsRepo::classifications(c, &t, (end - WEEK, end))? {
            let v: Value = serde_json::from_str(&json).unwrap_or(Value::Null);
            if let Some(s) = v["sentiment"].as_f64() {
                sentiment.insert(contact, s);
            }
        }
        let mut scored: Vec<(i64, scrm_analytics::churn::Risk)> = weeks
            .into_iter()
            .filter_map(|(contact, w)| {
                scrm_analytics::churn::risk(w, sentiment.get(&contact).copied())
                    .map(|r| (contact, r))
            })
            .collect();
        let high = scored.iter().filter(|(_, r)| r.risk == "high").count() as u64;
        scored.sort_by(|a, b| b.1.score.total_cmp(&a.1.score).then(a.0.cmp(&b.0)));
        scored.truncate(limit);
        let mut items = Vec::new();
        for (contact_id, risk) in scored {
            let who = scrm_store::ContactRepo::get(c, &t, contact_id)?;
            items.push(ChurnItem {
                contact_id,
                name: who.as_ref().and_then(|w| w.name.clone()),
                wa_id: who.and_then(|w| w.wa_id),
                suggestion: (risk.risk == "high")
                    .then(|| format!("win them back: send {offer} (the win-back flow can)")),
                risk,
            });
        }
        Ok((items, high))
    })
    .await
}

/// How the win-back flow did: its sends in a range, and the customers who ordered
/// within `days` after theirs.
#[derive(Debug, Clone, Serialize)]
pub struct WinBack {
    /// The flow.
    pub flow: String,
    /// The window, days.
    pub days: u32,
    /// Its sends in the range.
    pub sent: u64,
    /// Of them, followed by an order within the window.
    pub recovered: u64,
    /// `recovered / sent`.
    pub rate: f64,
}

/// The win-back flow's success over the range.
///
/// # Errors
/// On database failure.
pub async fn win_back(
    db: &Db,
    tenant: &str,
    ctx: &Context,
    q: &Query,
) -> Result<WinBack, StoreError> {
    let (t, range) = (tenant.to_string(), q.range.bounds_ms());
    let flow = ctx.settings.win_back_flow.clone();
    let days = ctx.settings.win_back_days;
    let window = i64::from(days) * 86_400_000;
    let f = flow.clone();
    let sends = db
        .read(move |c| AnalyticsRepo::flow_recoveries(c, &t, range, &f, window))
        .await?;
    let recovered = sends.iter().filter(|r| **r).count() as u64;
    Ok(WinBack {
        flow,
        days,
        sent: sends.len() as u64,
        recovered,
        rate: scrm_analytics::stats::share(recovered, sends.len() as u64),
    })
}

/// A promotion's watched words over the part of it inside the range.
#[derive(Debug, Clone, Serialize)]
pub struct PromotionWords {
    /// The promotion.
    pub name: String,
    /// Its days inside the range.
    pub from: NaiveDate,
    /// Last day, included.
    pub to: NaiveDate,
    /// Conversations with customer messages in those days.
    pub conversations: u64,
    /// Each word's use.
    pub words: Vec<Watched>,
    /// Conversations that used any of its words, as a share.
    pub share: f64,
    /// The share it should reach.
    pub min_share: f64,
    /// Under it: the promotion is not attracting.
    pub below: bool,
}

/// The watched words over the range, and each promotion overlapping it.
///
/// # Errors
/// On database failure.
pub async fn watched_words(
    db: &Db,
    tenant: &str,
    ctx: &Context,
    q: &Query,
) -> Result<Value, StoreError> {
    let counter = words(db, tenant, ctx, q.range.bounds_ms(), &q.scope).await?;
    let mut promotions = Vec::new();
    for p in &ctx.settings.promotions {
        let (from, to) = (p.from.max(q.range.from), p.to.min(q.range.to));
        if from > to {
            continue;
        }
        let part = DateRange {
            from,
            to,
            tz: ctx.tz,
        };
        let c = words(db, tenant, ctx, part.bounds_ms(), &q.scope).await?;
        let used = c.watched(&p.words);
        let any = c.conversations_using(&p.words);
        let share = scrm_analytics::stats::share(any, c.conversations());
        promotions.push(PromotionWords {
            name: p.name.clone(),
            from,
            to,
            conversations: c.conversations(),
            words: used,
            share,
            min_share: p.min_share,
            below: c.conversations() > 0 && share < p.min_share,
        });
    }
    Ok(json!({
        "conversations": counter.conversations(),
        "items": counter.watched(&ctx.settings.watched_words),
        "promotions": promotions,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn senders_from_the_outbox_record() {
        assert_eq!(sender_of(Some("inbox person:4")), Sender::Person(4));
        assert_eq!(sender_of(Some("api person:12")), Sender::Person(12));
        assert_eq!(sender_of(Some("api token:3")), Sender::Other);
        assert_eq!(sender_of(Some("crm")), Sender::Other);
        assert_eq!(sender_of(Some("flow:quick-replies@3")), Sender::Automated);
        assert_eq!(sender_of(Some("campaign:7")), Sender::Automated);
        assert_eq!(sender_of(Some("responder")), Sender::Automated);
        assert_eq!(sender_of(None), Sender::Other);
    }

    #[test]
    fn settings_are_checked() {
        let ok: Settings = serde_json::from_value(json!({
            "business_hours": {"mon": "09:00-18:00"},
            "watched_words": ["sconto", "🔥"],
            "promotions": [{"name": "Black Friday", "from": "2026-11-27", "to": "2026-11-30", "words": ["sconto"]}]
        }))
        .unwrap();
        assert_eq!(ok.validate(), Ok(()));
        assert_eq!(ok.promotions[0].min_share, 0.08);
        let mut bad = ok.clone();
        bad.watched_words = vec!["black friday".into()];
        assert!(bad.validate().unwrap_err().contains("one word"));
        let mut bad = ok.clone();
        bad.promotions[0].to = NaiveDate::from_ymd_opt(2026, 11, 1).unwrap();
        assert!(bad.validate().unwrap_err().contains("before from"));
        let mut bad = ok;
        bad.agent_flag_minutes = 0.0;
        assert!(bad.validate().unwrap_err().contains("agent_flag_minutes"));
        let e = serde_json::from_value::<Settings>(json!({"business_hours": {"mon": "18-9"}}))
            .unwrap_err();
        assert!(e.to_string().contains("HH:MM"), "{e}");
    }
}
