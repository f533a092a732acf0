//! {{name}}: a scrm mapper. It names the CRM's objects and fields for the host's
//! contacts, messages and sales signals, and reads CRM records back into contact
//! changes, as the binding's configuration says (see `config.toml`).

use scrm_plugin_sdk::{
    Classification, Contact, ContactChanges, ContactFacts, Conversation, CrmRecord, Direction,
    Field, FieldValue, KeyedRecord, MapError, Mapped, Mapper, Message, Signal, SignalKind,
};
use serde::Deserialize;
use std::collections::BTreeMap;

/// The binding's configuration, TOML or JSON; every key optional.
#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// The CRM's object for contacts.
    pub contact_object: String,
    /// The CRM's object for the messages of a chat.
    pub note_object: String,
    /// The CRM's object for a sales signal; none: signals write nothing.
    pub deal_object: Option<String>,
    /// CRM fields read back into the host's contact, besides the name and phone.
    pub pull_fields: Vec<String>,
    /// The CRM's names of the host's fields.
    pub fields: FieldNames,
    /// CRM field → its value when the contact's record has none.
    pub defaults: BTreeMap<String, String>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            contact_object: "contact".into(),
            note_object: "note".into(),
            deal_object: None,
            pull_fields: Vec::new(),
            fields: FieldNames::default(),
            defaults: BTreeMap::new(),
        }
    }
}

/// The CRM's field for each host field.
#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FieldNames {
    /// The contact's name.
    pub name: String,
    /// The contact's phone number (E.164).
    pub phone: String,
}

impl Default for FieldNames {
    fn default() -> Self {
        FieldNames {
            name: "name".into(),
            phone: "phone".into(),
        }
    }
}

fn field(name: &str, value: FieldValue) -> Field {
    Field {
        name: name.into(),
        value,
    }
}

fn text_or_empty(value: Option<&str>) -> FieldValue {
    match value {
        Some(t) if !t.trim().is_empty() => FieldValue::Text(t.to_string()),
        _ => FieldValue::Empty,
    }
}

/// A CRM value as text, when it has some.
fn value_text(value: &FieldValue) -> Option<String> {
    let text = match value {
        FieldValue::Text(t) => t.trim().to_string(),
        FieldValue::Integer(n) => n.to_string(),
        FieldValue::Number(n) => n.to_string(),
        _ => return None,
    };
    (!text.is_empty()).then_some(text)
}

/// The contact's CRM record, with the configured defaults filled in.
pub fn contact_record(cfg: &Config, c: &Contact) -> Mapped {
    let mut fields = vec![
        field(&cfg.fields.name, text_or_empty(c.name.as_deref())),
        field(&cfg.fields.phone, text_or_empty(c.phone.as_deref())),
    ];
    let mut defaulted = Vec::new();
    for (name, default) in &cfg.defaults {
        match fields.iter_mut().find(|f| &f.name == name) {
            Some(f) if !matches!(f.value, FieldValue::Empty) => continue,
            Some(f) => f.value = FieldValue::Text(default.clone()),
            None => fields.push(field(name, FieldValue::Text(default.clone()))),
        }
        defaulted.push(name.clone());
    }
    Mapped {
        record: CrmRecord {
            object: cfg.contact_object.clone(),
            id: None,
            fields,
            updated_at: None,
        },
        defaulted,
    }
}

/// The note for one message: `[WhatsApp, customer] text`, with its id, direction
/// and time.
pub fn note_record(cfg: &Config, msg: &Message) -> CrmRecord {
    let (who, direction) = match msg.direction {
        Direction::Inbound => ("customer", "inbound"),
        Direction::Outbound => ("business", "outbound"),
    };
    let body = msg.content.text().unwrap_or("(no text)");
    CrmRecord {
        object: cfg.note_object.clone(),
        id: None,
        fields: vec![
            field("text", FieldValue::Text(format!("[WhatsApp, {who}] {body}"))),
            field("wamid", FieldValue::Text(msg.id.clone())),
            field("direction", FieldValue::Text(direction.into())),
            field("timestamp", FieldValue::Timestamp(msg.timestamp)),
        ],
        updated_at: None,
    }
}

/// The deal a sales signal opens or updates: one open deal per contact, so its key
/// is the contact's id. Service signals write nothing.
pub fn deal_record(cfg: &Config, c: &Contact, signal: &Signal) -> Option<KeyedRecord> {
    let object = cfg.deal_object.as_ref()?;
    if !matches!(signal.kind, SignalKind::Sales) {
        return None;
    }
    let who = c.name.as_deref().or(c.phone.as_deref()).unwrap_or("customer");
    let mut fields = vec![field("name", FieldValue::Text(format!("WhatsApp: {who}")))];
    if let Some(text) = signal.message.content.text() {
        fields.push(field("message", FieldValue::Text(text.to_string())));
    }
    Some(KeyedRecord {
        key: format!("deal:{}", c.id),
        record: CrmRecord {
            object: object.clone(),
            id: None,
            fields,
            updated_at: None,
        },
    })
}

/// What a CRM record changes on the host's contact: its name and phone when the
/// record has them, and the `pull_fields` (a field named twice: the last wins).
pub fn changes_from(cfg: &Config, record: &CrmRecord) -> ContactChanges {
    let mut changes = ContactChanges {
        name: None,
        phone: None,
        fields: Vec::new(),
    };
    for f in &record.fields {
        if f.name == cfg.fields.name {
            changes.name = value_text(&f.value).or(changes.name);
        } else if f.name == cfg.fields.phone {
            changes.phone = value_text(&f.value).or(changes.phone);
        } else if cfg.pull_fields.contains(&f.name) {
            changes.fields.retain(|g| g.name != f.name);
            changes.fields.push(f.clone());
        }
    }
    changes
}

fn config() -> Result<Config, MapError> {
    Ok(scrm_plugin_sdk::config::parse()
        .map_err(MapError::InvalidConfig)?
        .unwrap_or_default())
}

/// The exported mapper.
pub struct Plugin;

impl Mapper for Plugin {
    fn contact_to_crm(c: Contact, _facts: ContactFacts) -> Result<Mapped, MapError> {
        Ok(contact_record(&config()?, &c))
    }

    fn conversation_to_crm(
        _conv: Conversation,
        c: Contact,
        signal: Signal,
    ) -> Result<Option<KeyedRecord>, MapError> {
        Ok(deal_record(&config()?, &c, &signal))
    }

    fn message_to_crm(
        msg: Message,
        _c: Contact,
        _found: Classification,
    ) -> Result<CrmRecord, MapError> {
        Ok(note_record(&config()?, &msg))
    }

    fn crm_to_contact(record: CrmRecord) -> Result<ContactChanges, MapError> {
        Ok(changes_from(&config()?, &record))
    }
}

scrm_plugin_sdk::export_mapper!(Plugin);

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> Config {
        scrm_plugin_sdk::config::parse_bytes(include_bytes!("../config.toml"))
            .expect("config.toml is valid")
            .expect("config.toml is not empty")
    }

    #[test]
    fn the_sample_config_maps_a_contact_and_reads_its_crm_record_back() {
        let cfg = config();
        let mapped = contact_record(
            &cfg,
            &Contact {
                id: 7,
                wa_id: Some("393471234567".into()),
                user_id: None,
                phone: Some("+393471234567".into()),
                name: Some("Mario Rossi".into()),
            },
        );
        assert_eq!(mapped.record.object, "contact");
        assert_eq!(mapped.defaulted, ["customer_level"]);
        let changes = changes_from(
            &cfg,
            &CrmRecord {
                object: "contact".into(),
                id: Some("101".into()),
                fields: vec![
                    field("name", FieldValue::Text("Mario Rossi".into())),
                    field("customer_level", FieldValue::Text("Gold".into())),
                    field("lifecyclestage", FieldValue::Text("lead".into())),
                ],
                updated_at: None,
            },
        );
        assert_eq!(changes.name.as_deref(), Some("Mario Rossi"));
        assert_eq!(changes.phone, None);
        assert_eq!(changes.fields.len(), 1);
        assert_eq!(changes.fields[0].name, "customer_level");
    }
}
