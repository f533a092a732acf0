//! The reference mapper: turns host contacts, messages and sales signals into CRM
//! records in the CRM's own vocabulary, and CRM records back into contact changes.
//!
//! Configuration (TOML or JSON; every key optional):
//!
//! ```toml
//! contact_object = "party"        # the CRM's object for contacts
//! note_object = "note"            # … for chat history
//! deal_object = "opportunity"     # … for sales signals
//! required = ["name", "phone"]    # CRM fields that must not be empty (else: unmapped)
//! pull_fields = ["customer_level"]  # other CRM fields the host keeps
//! satisfaction_field = "satisfaction"  # where the emoji score goes (omit: not sent)
//!
//! [fields]                        # host field → CRM field
//! name = "name"
//! phone = "phone"
//! country = "country"             # read, not written: the region of a number without +
//!
//! [defaults]                      # CRM field → value when empty
//! customer_level = "New customer"
//!
//! [products]                      # product name as customers write it → standard code
//! "iPhone15 Pro Max" = "APL-IP15PM"
//!
//! [emoji_scores]                  # emoji → satisfaction in [0, 1] (adds to built-ins)
//! "🤩" = 1.0
//!
//! case_object = "case"            # service requests (complaints…); unset: none written
//!
//! [deal_stages]                   # a signal's tag → the deal's stage
//! "purchase-intent" = "decision"
//!
//! [case_types]                    # a word in the message → the case's type
//! reclamo = "Complaint"
//!
//! [facts]                         # host facts → CRM fields (each optional)
//! intent = "last_intent"          # also on deals, cases and notes
//! confidence = "intent_confidence"
//! entities = "entities"
//! sentiment = "sentiment"
//! tags = "whatsapp_tags"
//! messages_per_week = "messages_per_week"   # contact only
//! last_interaction = "last_interaction"
//! activity_score = "activity_score"
//!
//! [priority]                      # the unread rule (contact only)
//! field = "priority"              # omit: the rule changes nothing in the CRM
//! low = "Low"                     # the CRM's value per priority
//! ```
//!
//! The satisfaction score is the score of the customer's most used emoji: each
//! message's emojis are counted per contact in the plugin's key-value store.
//!
//! A sales signal's deal is keyed by its product's standard code, so the host
//! updates one open deal per contact and product; a service request's case by its
//! type. The priority field is also read back from the CRM (like `pull_fields`):
//! while a message is unread the record carries the unread priority, and once it is
//! read it carries the CRM's own value again.

mod facts;
mod signals;

use scrm_plugin_sdk::{
    Classification, Contact, ContactChanges, ContactFacts, Content, Conversation, CrmRecord,
    Direction, Field, FieldValue, KeyedRecord, MapError, Mapped, Mapper, Message, Signal,
};
use serde::Deserialize;
use std::collections::BTreeMap;

/// Host field names → CRM field names.
#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct FieldNames {
    name: String,
    phone: String,
    /// The CRM field with the record's country: handed to the host as `country`,
    /// which reads a phone number without a country code in that country.
    country: String,
}

impl Default for FieldNames {
    fn default() -> Self {
        FieldNames {
            name: "name".into(),
            phone: "phone".into(),
            country: "country".into(),
        }
    }
}

/// The mapper's configuration (see the crate docs).
#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct Config {
    contact_object: String,
    note_object: String,
    deal_object: String,
    fields: FieldNames,
    defaults: BTreeMap<String, String>,
    required: Vec<String>,
    pull_fields: Vec<String>,
    products: BTreeMap<String, String>,
    emoji_scores: BTreeMap<String, f64>,
    satisfaction_field: Option<String>,
    case_object: String,
    deal_stages: BTreeMap<String, String>,
    case_types: BTreeMap<String, String>,
    facts: facts::FactFields,
    priority: facts::PriorityField,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            contact_object: "contact".into(),
            note_object: "note".into(),
            deal_object: "deal".into(),
            fields: FieldNames::default(),
            defaults: BTreeMap::new(),
            required: Vec::new(),
            pull_fields: Vec::new(),
            products: BTreeMap::new(),
            emoji_scores: BTreeMap::new(),
            satisfaction_field: None,
            case_object: String::new(),
            deal_stages: BTreeMap::new(),
            case_types: BTreeMap::new(),
            facts: facts::FactFields::default(),
            priority: facts::PriorityField::default(),
        }
    }
}

/// Built-in satisfaction scores of common emojis.
const EMOJI_SCORES: &[(&str, f64)] = &[
    ("😍", 1.0),
    ("🥰", 1.0),
    ("❤️", 1.0),
    ("❤", 1.0),
    ("😊", 0.9),
    ("👍", 0.85),
    ("🙏", 0.8),
    ("😀", 0.8),
    ("😂", 0.75),
    ("🙂", 0.7),
    ("😐", 0.5),
    ("🤔", 0.45),
    ("😕", 0.3),
    ("😢", 0.2),
    ("👎", 0.15),
    ("😠", 0.1),
    ("😡", 0.05),
    ("🤬", 0.0),
];

fn config() -> Result<Config, MapError> {
    Ok(scrm_plugin_sdk::config::parse::<Config>()
        .map_err(MapError::InvalidConfig)?
        .unwrap_or_default())
}

fn text(name: &str, value: impl Into<String>) -> Field {
    Field {
        name: name.into(),
        value: FieldValue::Text(value.into()),
    }
}

fn is_empty(v: &FieldValue) -> bool {
    matches!(v, FieldValue::Empty) || matches!(v, FieldValue::Text(t) if t.trim().is_empty())
}

/// Fills configured defaults, then reports required fields that are still empty.
fn finish(cfg: &Config, mut fields: Vec<Field>) -> Result<(Vec<Field>, Vec<String>), MapError> {
    let mut defaulted = Vec::new();
    for (name, default) in &cfg.defaults {
        match fields.iter_mut().find(|f| &f.name == name) {
            Some(f) if is_empty(&f.value) => {
                f.value = FieldValue::Text(default.clone());
                defaulted.push(name.clone());
            }
            Some(_) => {}
            None => {
                fields.push(text(name, default.clone()));
                defaulted.push(name.clone());
            }
        }
    }
    let missing: Vec<String> = cfg
        .required
        .iter()
        .filter(|r| {
            fields
                .iter()
                .find(|f| &f.name == *r)
                .is_none_or(|f| is_empty(&f.value))
        })
        .cloned()
        .collect();
    if missing.is_empty() {
        Ok((fields, defaulted))
    } else {
        Err(MapError::Unmapped(missing))
    }
}

/// Lowercase letters and digits only: "iPhone 15 Pro-Max" and "iphone15promax" match.
fn squash(s: &str) -> String {
    s.chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect()
}

/// The standard codes of the products `text` names, in table order.
fn product_codes(cfg: &Config, text: &str) -> Vec<String> {
    let hay = squash(text);
    cfg.products
        .iter()
        .filter(|(name, _)| {
            let needle = squash(name);
            !needle.is_empty() && hay.contains(&needle)
        })
        .map(|(_, code)| code.clone())
        .collect()
}

/// The score of an emoji, configured scores first.
fn emoji_score(cfg: &Config, emoji: &str) -> Option<f64> {
    cfg.emoji_scores.get(emoji).copied().or_else(|| {
        EMOJI_SCORES
            .iter()
            .find(|(e, _)| *e == emoji)
            .map(|(_, s)| *s)
    })
}

/// The emojis with a score found in `text`.
fn emojis(cfg: &Config, text: &str) -> Vec<String> {
    let mut found = Vec::new();
    let known: Vec<&str> = cfg
        .emoji_scores
        .keys()
        .map(String::as_str)
        .chain(EMOJI_SCORES.iter().map(|(e, _)| *e))
        .collect();
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        match known
            .iter()
            .filter(|e| rest.starts_with(**e))
            .max_by_key(|e| e.len())
        {
            Some(e) => {
                found.push((*e).to_string());
                rest = &rest[e.len()..];
            }
            None => rest = &rest[c.len_utf8()..],
        }
    }
    found
}

fn emoji_key(contact: u64) -> String {
    format!("emoji:{contact}")
}

fn emoji_counts(contact: u64) -> BTreeMap<String, u32> {
    parse_counts(&stored_counts(contact)).0
}

fn stored_counts(contact: u64) -> String {
    scrm_plugin_sdk::kv::get(&emoji_key(contact))
        .ok()
        .flatten()
        .and_then(|raw| String::from_utf8(raw).ok())
        .unwrap_or_default()
}

/// A contact's emoji counts as stored (`{emoji} {count}` per line) and the id of the
/// last message counted (a `last {wamid}` line), so a message mapped again (its
/// write retried) is not counted twice.
fn parse_counts(stored: &str) -> (BTreeMap<String, u32>, Option<&str>) {
    let mut last = None;
    let counts = stored
        .lines()
        .filter_map(|l| {
            if let Some(w) = l.strip_prefix("last ") {
                last = Some(w);
                return None;
            }
            let (e, n) = l.rsplit_once(' ')?;
            Some((e.to_string(), n.parse().ok()?))
        })
        .collect();
    (counts, last)
}

fn content_text(c: &Content) -> Option<&str> {
    match c {
        Content::Text(t) => Some(t),
        Content::Image(m) | Content::Video(m) | Content::Document(m) => m.caption.as_deref(),
        Content::InteractiveReply(r) | Content::Button(r) => Some(&r.title),
        Content::Reaction(r) => r.emoji.as_deref(),
        Content::System(s) => Some(&s.body),
        _ => None,
    }
}

fn content_kind(c: &Content) -> &'static str {
    match c {
        Content::Text(_) => "text",
        Content::Image(_) => "image",
        Content::Audio(_) => "audio",
        Content::Voice(_) => "voice",
        Content::Video(_) => "video",
        Content::Document(_) => "document",
        Content::Sticker(_) => "sticker",
        Content::Location(_) => "location",
        Content::Contacts(_) => "contacts",
        Content::InteractiveReply(_) => "interactive",
        Content::Button(_) => "button",
        Content::Reaction(_) => "reaction",
        Content::Order(_) => "order",
        Content::System(_) => "system",
        Content::Unsupported(_) => "unsupported",
    }
}

/// The exported mapper.
#[derive(Debug)]
pub struct CrmMapper;

impl Mapper for CrmMapper {
    fn contact_to_crm(c: Contact, facts: ContactFacts) -> Result<Mapped, MapError> {
        let cfg = config()?;
        let mut fields = vec![
            Field {
                name: cfg.fields.name.clone(),
                value: c.name.clone().map_or(FieldValue::Empty, FieldValue::Text),
            },
            Field {
                name: cfg.fields.phone.clone(),
                value: c.phone.clone().map_or(FieldValue::Empty, FieldValue::Text),
            },
        ];
        if let Some(field) = &cfg.satisfaction_field {
            let counts = emoji_counts(c.id);
            // The most used emoji; ties go to the first in emoji order.
            if let Some((emoji, _)) = counts.iter().max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(a.0)))
                && let Some(score) = emoji_score(&cfg, emoji)
            {
                fields.push(Field {
                    name: field.clone(),
                    value: FieldValue::Number(score),
                });
            }
        }
        fields.extend(facts::contact_fields(&cfg.facts, &cfg.priority, &facts));
        let (fields, defaulted) = finish(&cfg, fields)?;
        Ok(Mapped {
            record: CrmRecord {
                object: cfg.contact_object.clone(),
                id: None,
                fields,
                updated_at: None,
            },
            defaulted,
        })
    }

    fn conversation_to_crm(
        conv: Conversation,
        c: Contact,
        signal: Signal,
    ) -> Result<Option<KeyedRecord>, MapError> {
        Ok(signals::record(&config()?, &conv, &c, &signal))
    }

    fn message_to_crm(
        msg: Message,
        c: Contact,
        found: Classification,
    ) -> Result<CrmRecord, MapError> {
        let cfg = config()?;
        let body = content_text(&msg.content).unwrap_or_default().to_string();
        let kind = content_kind(&msg.content);
        let inbound = matches!(msg.direction, Direction::Inbound);
        if inbound && cfg.satisfaction_field.is_some() {
            let found = emojis(&cfg, &body);
            let stored = stored_counts(c.id);
            let (mut counts, last) = parse_counts(&stored);
            // A retried write maps its message again: counted once.
            if !found.is_empty() && last != Some(msg.id.as_str()) {
                for e in found {
                    *counts.entry(e).or_default() += 1;
                }
                let mut raw = format!("last {}\n", msg.id);
                raw.extend(counts.iter().map(|(e, n)| format!("{e} {n}\n")));
                // Counting is best effort: a full quota only stops the score moving.
                let _ = scrm_plugin_sdk::kv::set(&emoji_key(c.id), raw.as_bytes());
            }
        }
        let arrow = if inbound { "customer" } else { "business" };
        let line = if body.is_empty() {
            format!("[WhatsApp, {arrow}] ({kind})")
        } else if kind == "text" {
            format!("[WhatsApp, {arrow}] {body}")
        } else {
            format!("[WhatsApp, {arrow}] ({kind}) {body}")
        };
        let mut fields = vec![
            text("text", line),
            text("wamid", msg.id.clone()),
            text("direction", if inbound { "inbound" } else { "outbound" }),
            text("type", kind),
            Field {
                name: "timestamp".into(),
                value: FieldValue::Timestamp(msg.timestamp),
            },
        ];
        let codes = product_codes(&cfg, &body);
        if !codes.is_empty() {
            fields.push(text("product_codes", codes.join(",")));
        }
        fields.extend(facts::classification_fields(&cfg.facts, &found));
        Ok(CrmRecord {
            object: cfg.note_object.clone(),
            id: None,
            fields,
            updated_at: None,
        })
    }

    fn crm_to_contact(record: CrmRecord) -> Result<ContactChanges, MapError> {
        Ok(contact_changes(&config()?, &record))
    }
}

/// What a CRM record changes on the host's contact: its name, phone, `pull_fields`
/// and country (as `country`).
fn contact_changes(cfg: &Config, record: &CrmRecord) -> ContactChanges {
    let get = |name: &str| {
        record
            .fields
            .iter()
            .find(|f| f.name == name)
            .map(|f| &f.value)
    };
    let as_text = |v: Option<&FieldValue>| match v {
        Some(FieldValue::Text(t)) if !t.trim().is_empty() => Some(t.trim().to_string()),
        _ => None,
    };
    let mut fields: Vec<Field> = cfg
        .pull_fields
        .iter()
        .chain(cfg.priority.field.iter())
        .filter_map(|f| {
            get(f).map(|v| Field {
                name: f.clone(),
                value: v.clone(),
            })
        })
        .collect();
    if let Some(country) = as_text(get(&cfg.fields.country))
        && !fields.iter().any(|f| f.name == "country")
    {
        fields.push(Field {
            name: "country".into(),
            value: FieldValue::Text(country),
        });
    }
    ContactChanges {
        name: as_text(get(&cfg.fields.name)),
        phone: as_text(get(&cfg.fields.phone)),
        fields,
    }
}

scrm_plugin_sdk::export_mapper!(CrmMapper);

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> Config {
        let mut c = Config::default();
        c.products
            .insert("iPhone15 Pro Max".into(), "APL-IP15PM".into());
        c.defaults
            .insert("customer_level".into(), "New customer".into());
        c.required = vec!["phone".into()];
        c
    }

    #[test]
    fn a_records_country_reaches_the_host_as_country() {
        let mut c = cfg();
        c.fields.country = "MailingCountry".into();
        let text = |name: &str, v: &str| Field {
            name: name.into(),
            value: FieldValue::Text(v.into()),
        };
        let record = CrmRecord {
            object: "contact".into(),
            id: Some("003".into()),
            fields: vec![
                text("name", "Wing"),
                text("phone", "9123 4567"),
                text("MailingCountry", "Hong Kong"),
            ],
            updated_at: None,
        };
        let changes = contact_changes(&c, &record);
        assert_eq!(changes.phone.as_deref(), Some("9123 4567"));
        assert_eq!(changes.fields.len(), 1);
        assert_eq!(changes.fields[0].name, "country");
        assert!(matches!(&changes.fields[0].value, FieldValue::Text(t) if t == "Hong Kong"));
        // No country field on the record: nothing sent.
        c.fields.country = "country".into();
        assert!(contact_changes(&c, &record).fields.is_empty());
    }

    #[test]
    fn emoji_counts_remember_the_last_message_counted() {
        let (counts, last) = parse_counts("last wamid.2\n😍 2\n😡 1\n");
        assert_eq!(last, Some("wamid.2"));
        assert_eq!(counts.get("😍"), Some(&2));
        assert_eq!(counts.get("😡"), Some(&1));
        // Before this format there was no `last` line.
        assert_eq!(
            parse_counts("😍 3\n"),
            ([("😍".to_string(), 3)].into(), None)
        );
    }

    #[test]
    fn product_names_match_loosely() {
        assert_eq!(
            product_codes(&cfg(), "do you have the iPhone 15 pro-max in blue?"),
            ["APL-IP15PM"]
        );
        assert!(product_codes(&cfg(), "an iPhone 14").is_empty());
    }

    #[test]
    fn defaults_fill_empty_fields_and_required_ones_are_reported() {
        let (out, defaulted) = finish(
            &cfg(),
            vec![
                text("phone", "+393471234567"),
                Field {
                    name: "customer_level".into(),
                    value: FieldValue::Empty,
                },
            ],
        )
        .unwrap();
        assert!(matches!(&out[1].value, FieldValue::Text(t) if t == "New customer"));
        assert_eq!(
            defaulted,
            ["customer_level"],
            "reported for the mapping log"
        );
        let (_, defaulted) = finish(
            &cfg(),
            vec![
                text("phone", "+393471234567"),
                text("customer_level", "Gold"),
            ],
        )
        .unwrap();
        assert!(defaulted.is_empty());
        let err = finish(&cfg(), vec![text("phone", " ")]).unwrap_err();
        assert!(matches!(err, MapError::Unmapped(f) if f == ["phone"]));
    }

    #[test]
    fn emojis_are_found_longest_first() {
        let c = cfg();
        assert_eq!(
            emojis(&c, "great 😍😍 thanks 👍 ❤️"),
            ["😍", "😍", "👍", "❤️"]
        );
        assert_eq!(emoji_score(&c, "😡"), Some(0.05));
    }
}
