//! What the host knows beyond the contact's profile — activity, the classifier's
//! findings, the unread rule's priority — mapped to the CRM fields the
//! configuration names.

use scrm_plugin_sdk::{Classification, ContactFacts, Field, FieldValue, Priority};
use serde::Deserialize;

/// Host facts → CRM field names; a fact with no field is not sent.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct FactFields {
    /// The intent's name.
    pub intent: Option<String>,
    /// The intent's confidence, 0 to 1.
    pub confidence: Option<String>,
    /// Entities as `kind: value` lines.
    pub entities: Option<String>,
    /// Sentiment, 0 (very negative) to 1 (very positive).
    pub sentiment: Option<String>,
    /// Tags, comma-separated.
    pub tags: Option<String>,
    /// Messages per week over the last four weeks.
    pub messages_per_week: Option<String>,
    /// The newest message either way (a timestamp).
    pub last_interaction: Option<String>,
    /// The activity score, 0 to 100.
    pub activity_score: Option<String>,
}

/// Where the unread rule's priority goes, and the CRM's value for each priority.
#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct PriorityField {
    /// The CRM field; none: the rule changes nothing in the CRM.
    pub field: Option<String>,
    pub low: String,
    pub normal: String,
    pub high: String,
    pub urgent: String,
}

impl Default for PriorityField {
    fn default() -> Self {
        PriorityField {
            field: None,
            low: "low".into(),
            normal: "normal".into(),
            high: "high".into(),
            urgent: "urgent".into(),
        }
    }
}

impl PriorityField {
    /// The CRM's value for `p`.
    pub fn value(&self, p: Priority) -> &str {
        match p {
            Priority::Low => &self.low,
            Priority::Normal => &self.normal,
            Priority::High => &self.high,
            Priority::Urgent => &self.urgent,
        }
    }
}

fn push(out: &mut Vec<Field>, name: &Option<String>, value: FieldValue) {
    if let Some(name) = name {
        out.push(Field {
            name: name.clone(),
            value,
        });
    }
}

/// The fields a classification fills (intent, confidence, entities, sentiment,
/// tags), for those the configuration names.
pub(crate) fn classification_fields(names: &FactFields, found: &Classification) -> Vec<Field> {
    let mut out = Vec::new();
    if let Some(i) = &found.intent {
        push(&mut out, &names.intent, FieldValue::Text(i.name.clone()));
        let confidence = (f64::from(i.confidence) * 100.0).round() / 100.0;
        push(&mut out, &names.confidence, FieldValue::Number(confidence));
    }
    if !found.entities.is_empty() {
        let lines: Vec<String> = found
            .entities
            .iter()
            .map(|e| format!("{}: {}", e.kind, e.value))
            .collect();
        push(
            &mut out,
            &names.entities,
            FieldValue::Text(lines.join("\n")),
        );
    }
    if let Some(s) = found.sentiment {
        let s = (f64::from(s) * 100.0).round() / 100.0;
        push(&mut out, &names.sentiment, FieldValue::Number(s));
    }
    if !found.tags.is_empty() {
        push(
            &mut out,
            &names.tags,
            FieldValue::Text(found.tags.join(",")),
        );
    }
    out
}

/// The contact fields the facts fill: activity, the latest classification and,
/// while a business message stays unread, the unread priority. Once it is read
/// the priority field is left out, so the CRM's own value (kept by the host as a
/// pulled field) is written back.
pub(crate) fn contact_fields(
    names: &FactFields,
    priority: &PriorityField,
    facts: &ContactFacts,
) -> Vec<Field> {
    let mut out = Vec::new();
    let per_week = (f64::from(facts.messages_per_week) * 10.0).round() / 10.0;
    push(
        &mut out,
        &names.messages_per_week,
        FieldValue::Number(per_week),
    );
    if let Some(at) = facts.last_interaction_at {
        push(&mut out, &names.last_interaction, FieldValue::Timestamp(at));
    }
    push(
        &mut out,
        &names.activity_score,
        FieldValue::Integer(i64::from(facts.activity_score)),
    );
    if let Some(found) = &facts.latest {
        out.extend(classification_fields(names, found));
    }
    if let Some(p) = facts.unread_priority {
        push(
            &mut out,
            &priority.field,
            FieldValue::Text(priority.value(p).to_string()),
        );
    }
    out
}
