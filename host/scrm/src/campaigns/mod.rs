//! Campaigns: one approved template to an audience of a tenant's contacts, with
//! per-contact variables, planned against the sending number's limits before
//! anything is sent, and run so that replies to customers are never starved.
//!
//! - [`audience`]: the audience language (`tag:vip AND NOT tag:complained`), parsed
//!   with a PEG grammar into the store's `Audience`, which the store evaluates in SQL;
//! - [`plan`]: the traffic plan (recipients × interactions against the daily cap and
//!   throughput; batch mode above 80 %), pure;
//! - [`create`], [`start`], [`pause`], [`plan_of`], [`status`] (this module): the
//!   rules every caller (API, CLI) gets — an unknown template, a parameter that can be
//!   missing for a contact, an audience that does not parse are refused when the
//!   campaign is saved;
//! - [`worker`]: the runner (one host at a time, `crate::singleton`), which queues
//!   each recipient's template through the outbox in small paced chunks;
//! - [`send`]: one recipient's send: consent at send time, its rendered parameters,
//!   the outbox.
//!
//! ```no_run
//! # async fn demo(db: scrm_store::Db) -> Result<(), scrm::campaigns::CampaignError> {
//! use scrm::campaigns::{NewCampaign, create, plan_of};
//! let c = create(&db, "acme", NewCampaign {
//!     name: "spring".into(), template: "spring_promo".into(), language: None,
//!     audience: "tag:vip AND NOT tag:complained".into(),
//!     params: serde_json::json!(["{{ contact.first_name | default(\"there\") }}"]),
//!     from: None, interactions: None, at: None,
//! }).await?;
//! let plan = plan_of(&db, "acme", c.id, scrm::limits::Limits::default()).await?;
//! println!("{}", plan.summary.join("\n"));
//! # Ok(()) }
//! ```

pub mod audience;
mod lifecycle;
pub mod plan;
pub mod send;
pub mod worker;

pub use lifecycle::{Status, begin, outcome, pause, plan_of, start, status};

use crate::automation::template;
use crate::templates::{TemplateError, TemplateInfo, require_approved};
use audience::AudienceError;
use scrm_store::campaigns::Campaign;
use scrm_store::{CampaignRepo, Db, Store, StoreError, TemplateRepo, TenantRepo, now_ms};
use scrm_wire::template::ParameterFormat;
use serde::Deserialize;
use serde_json::{Map, Value};

/// Why a campaign request was refused.
#[derive(Debug, thiserror::Error)]
pub enum CampaignError {
    /// The audience expression does not parse.
    #[error("audience {expression:?}: {error}")]
    Audience {
        /// The expression.
        expression: String,
        /// Where and why.
        error: AudienceError,
    },
    /// The template is unknown, not approved, or given the wrong parameters.
    #[error(transparent)]
    Template(#[from] TemplateError),
    /// A per-contact variable cannot be rendered for every contact.
    #[error("parameter {param}: {error}")]
    Parameter {
        /// Its position (from 1) or name.
        param: String,
        /// Why (the template language's line and expression).
        error: template::TemplateError,
    },
    /// A field of the request is wrong; the message names it.
    #[error("{0}")]
    Invalid(String),
    /// `from` is not one of the tenant's numbers, or is needed.
    #[error("{message}")]
    Number {
        /// `unknown_number` or `from_required`.
        code: &'static str,
        /// Why.
        message: String,
    },
    /// No such tenant or campaign.
    #[error("{0}")]
    NotFound(String),
    /// The campaign's state does not allow it.
    #[error("campaign {id} is {state}: {action}")]
    State {
        /// The campaign.
        id: i64,
        /// Its state.
        state: String,
        /// What cannot be done.
        action: &'static str,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl CampaignError {
    /// A machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            CampaignError::Audience { .. } => "invalid_audience",
            CampaignError::Template(t) => t.code(),
            CampaignError::Parameter { .. } => "invalid_parameter",
            CampaignError::Invalid(_) => "invalid_campaign",
            CampaignError::Number { code, .. } => code,
            CampaignError::NotFound(_) => "not_found",
            CampaignError::State { .. } => "campaign_state",
            CampaignError::Store(_) => "store",
        }
    }
}

/// A campaign as asked for (API body, CLI flags).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewCampaign {
    /// A name for people.
    pub name: String,
    /// The approved template's name.
    pub template: String,
    /// Its language; may be left out when the template has one.
    #[serde(default)]
    pub language: Option<String>,
    /// The audience expression.
    pub audience: String,
    /// The body parameters in the template language: a list (positional; for a named
    /// template, `name=value` items) or an object of names (named templates).
    #[serde(default = "empty_list")]
    pub params: Value,
    /// The sending number; may be left out when the tenant has one.
    #[serde(default)]
    pub from: Option<String>,
    /// API calls expected per recipient (default 3).
    #[serde(default)]
    pub interactions: Option<u32>,
    /// A scheduled start: RFC 3339, or a delay from now (`2h`, `30m`).
    #[serde(default)]
    pub at: Option<String>,
}

fn empty_list() -> Value {
    Value::Array(Vec::new())
}

/// The most interactions per recipient a plan may assume.
const MAX_INTERACTIONS: u32 = 100;

/// Checks and stores a campaign: `draft`, or `scheduled` when it has a start time.
///
/// # Errors
/// [`CampaignError`]: the audience with the position and reason, the template (via
/// the registry), a parameter the template language refuses (a value that can be
/// missing without a default), the number, the start time.
pub async fn create(db: &Db, tenant: &str, req: NewCampaign) -> Result<Campaign, CampaignError> {
    let scheduled_at = req
        .at
        .as_deref()
        .map(|t| parse_start(t, now_ms()))
        .transpose()?;
    let tenant = tenant.to_owned();
    db.write(move |s| Ok(create_in(s, &tenant, &req, scheduled_at)))
        .await?
}

fn create_in(
    s: &dyn Store,
    tenant: &str,
    req: &NewCampaign,
    scheduled_at: Option<i64>,
) -> Result<Campaign, CampaignError> {
    let numbers = TenantRepo::get(s, tenant)?
        .ok_or_else(|| CampaignError::NotFound(format!("no tenant {tenant:?}")))?
        .phone_number_ids;
    let from = sending_number(&numbers, req.from.as_deref())?;
    let name = req.name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(CampaignError::Invalid(
            "`name` must be 1 to 100 characters".into(),
        ));
    }
    audience::parse(&req.audience).map_err(|error| CampaignError::Audience {
        expression: req.audience.clone(),
        error,
    })?;
    let language = match &req.language {
        Some(l) => l.clone(),
        None => only_language(s, tenant, &req.template)?,
    };
    let info = require_approved(s, tenant, &req.template, &language)?;
    let params = check_params(&info, &req.params)?;
    let interactions = req.interactions.unwrap_or(plan::DEFAULT_INTERACTIONS);
    if !(1..=MAX_INTERACTIONS).contains(&interactions) {
        return Err(CampaignError::Invalid(format!(
            "`interactions` must be 1..={MAX_INTERACTIONS}, got {interactions}"
        )));
    }
    let category = info.category.to_ascii_lowercase();
    Ok(CampaignRepo::insert(
        s,
        &scrm_store::campaigns::NewCampaign {
            tenant,
            name,
            template: &info.name,
            language: &info.language,
            category: &category,
            params: &params,
            audience: req.audience.trim(),
            phone_number_id: &from,
            interactions: i64::from(interactions),
            state: if scheduled_at.is_some() {
                "scheduled"
            } else {
                "draft"
            },
            scheduled_at,
        },
    )?)
}

fn sending_number(numbers: &[String], from: Option<&str>) -> Result<String, CampaignError> {
    match from {
        Some(f) if numbers.iter().any(|n| n == f) => Ok(f.to_owned()),
        Some(f) => Err(CampaignError::Number {
            code: "unknown_number",
            message: format!(
                "`from` {f:?} is not one of the tenant's numbers ({})",
                numbers.join(", ")
            ),
        }),
        None if numbers.len() == 1 => Ok(numbers[0].clone()),
        None => Err(CampaignError::Number {
            code: "from_required",
            message: format!(
                "the tenant has several numbers: say which one sends with `from` ({})",
                numbers.join(", ")
            ),
        }),
    }
}

/// The template's language when it has exactly one.
fn only_language(s: &dyn Store, tenant: &str, name: &str) -> Result<String, CampaignError> {
    let languages: Vec<String> = TemplateRepo::keys(s, tenant)?
        .into_iter()
        .filter(|k| k.name == name)
        .map(|k| k.language)
        .collect();
    match languages.as_slice() {
        [one] => Ok(one.clone()),
        // Unknown: the registry says so, with the names it has.
        [] => match require_approved(s, tenant, name, "") {
            Err(e) => Err(e.into()),
            Ok(_) => Err(CampaignError::Invalid(format!(
                "say the language of {name:?}"
            ))),
        },
        many => Err(CampaignError::Invalid(format!(
            "template {name:?} has the languages {}: say which with `language`",
            many.join(", ")
        ))),
    }
}

/// The parameters as stored: a list for a positional template, an object of names
/// for a named one; each checked with the template language so that it renders for
/// every contact.
fn check_params(info: &TemplateInfo, params: &Value) -> Result<Value, CampaignError> {
    let named = info.parameters.format == ParameterFormat::Named;
    let normalised = match (named, params) {
        (false, Value::Array(items)) => Value::Array(
            items
                .iter()
                .map(|v| text(v).map(Value::from))
                .collect::<Result<_, _>>()?,
        ),
        (true, Value::Object(map)) => Value::Object(
            map.iter()
                .map(|(k, v)| Ok((k.clone(), Value::from(text(v)?))))
                .collect::<Result<Map<_, _>, CampaignError>>()?,
        ),
        (true, Value::Array(items)) => {
            let mut map = Map::new();
            for item in items {
                let item = text(item)?;
                let (k, v) = item.split_once('=').ok_or_else(|| {
                    CampaignError::Invalid(format!(
                        "template {:?} takes named parameters: write each as NAME=VALUE, got {item:?}",
                        info.name
                    ))
                })?;
                map.insert(k.trim().to_string(), Value::from(v));
            }
            Value::Object(map)
        }
        _ => {
            return Err(CampaignError::Invalid(
                "`params` must be a list of texts (or, for a named template, an object of texts)"
                    .into(),
            ));
        }
    };
    match &normalised {
        Value::Object(map) => {
            let names: Vec<&String> = map.keys().collect();
            info.check_named_body_params(&names)?;
        }
        other => info.check_body_params(other.as_array().map_or(0, Vec::len))?,
    }
    for (param, source) in param_sources(&normalised) {
        template::check(source, &serde_json::json!({}))
            .map_err(|error| CampaignError::Parameter { param, error })?;
    }
    Ok(normalised)
}

fn text(v: &Value) -> Result<String, CampaignError> {
    match v {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        other => Err(CampaignError::Invalid(format!(
            "a parameter must be text, got {other}"
        ))),
    }
}

/// Each stored parameter with its label (`1`, `2`, … or its name).
pub fn param_sources(params: &Value) -> Vec<(String, &str)> {
    match params {
        Value::Object(map) => map
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default()))
            .collect(),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, v)| ((i + 1).to_string(), v.as_str().unwrap_or_default()))
            .collect(),
        _ => Vec::new(),
    }
}

/// A start time: RFC 3339 (`2026-12-06T09:00:00Z`, or without the zone as UTC) or a
/// delay from `now` (`2h`, `30m`, `1d 2h`), as Unix ms.
///
/// # Errors
/// [`CampaignError::Invalid`] for anything else, or a time more than a minute ago.
pub fn parse_start(text: &str, now: i64) -> Result<i64, CampaignError> {
    let text = text.trim();
    let at = if let Ok(t) = humantime::parse_rfc3339_weak(text) {
        t.duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0)
    } else if let Ok(d) = humantime::parse_duration(text.trim_start_matches("in ")) {
        now + d.as_millis() as i64
    } else {
        return Err(CampaignError::Invalid(format!(
            "`at` {text:?} is neither an RFC 3339 time (2026-12-06T09:00:00Z) nor a delay (2h, 30m)"
        )));
    };
    if at < now - 60_000 {
        return Err(CampaignError::Invalid(format!(
            "`at` {text:?} is in the past"
        )));
    }
    Ok(at)
}

#[cfg(test)]
mod tests;
