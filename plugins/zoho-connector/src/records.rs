//! CRM records in the host's vocabulary ↔ Zoho's JSON records.
//!
//! The mapper names a contact's fields `name` and `phone`; Zoho has `First_Name` and
//! `Last_Name` (mandatory; `Full_Name` is computed from both) and a phone field
//! (`Mobile` by default). Every other field passes through under its own name, so
//! the mapper's defaults and `pull_fields` use Zoho API names.

use crate::config::Config;
use crate::when;
use scrm_plugin_sdk::{ConnectorError, CrmRecord, Field, FieldValue, Pushed};
use serde_json::{Map, Value, json};

/// Zoho's length limits of the fields the connector writes, in characters.
const FIRST_NAME_MAX: usize = 40;
const LAST_NAME_MAX: usize = 80;
const NOTE_TITLE_MAX: usize = 120;
const NOTE_CONTENT_MAX: usize = 32_000;
const DEAL_NAME_MAX: usize = 120;
const DESCRIPTION_MAX: usize = 32_000;

/// Fields Zoho sets itself (or that need lookups): never written from a record.
const SYSTEM_FIELDS: &[&str] = &[
    "id",
    "Full_Name",
    "Created_Time",
    "Modified_Time",
    "Created_By",
    "Modified_By",
    "Owner",
];

/// The text of field `name`, when it is non-empty text.
pub fn text_field<'a>(r: &'a CrmRecord, name: &str) -> Option<&'a str> {
    r.fields
        .iter()
        .find(|f| f.name == name)
        .and_then(|f| match &f.value {
            FieldValue::Text(t) if !t.trim().is_empty() => Some(t.trim()),
            _ => None,
        })
}

/// At most `max` characters of `s`.
fn clip(s: &str, max: usize) -> String {
    s.chars().take(max).collect()
}

/// Whether `id` can be a Zoho record id in a URL path or a JSON body.
pub fn valid_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// A record id, refused when it could not be one.
///
/// # Errors
/// `Invalid` naming the id.
pub fn checked_id(id: &str) -> Result<&str, ConnectorError> {
    if valid_id(id) {
        Ok(id)
    } else {
        Err(ConnectorError::Invalid(format!(
            "{id:?} is not a Zoho record id"
        )))
    }
}

/// `First_Name` and `Last_Name` of a full name: the first word is the first name;
/// a single word is the last name (Zoho requires one). Both clipped to Zoho's limits.
pub fn split_name(name: &str) -> (Option<String>, String) {
    let name = name.trim();
    match name.split_once(char::is_whitespace) {
        Some((first, last)) if !last.trim().is_empty() => (
            Some(clip(first, FIRST_NAME_MAX)),
            clip(last.trim(), LAST_NAME_MAX),
        ),
        _ => (None, clip(name, LAST_NAME_MAX)),
    }
}

/// A field value as Zoho JSON (timestamps as Zoho datetimes).
pub fn to_json(v: &FieldValue) -> Value {
    match v {
        FieldValue::Text(t) => json!(t),
        FieldValue::Number(n) => json!(n),
        FieldValue::Integer(i) => json!(i),
        FieldValue::Boolean(b) => json!(b),
        FieldValue::Timestamp(ms) => json!(when::format_iso(ms.div_euclid(1000))),
        FieldValue::Empty => Value::Null,
    }
}

/// A Zoho JSON value as a field value: lookups and picklist objects by their `name`,
/// lists joined with commas.
pub fn from_json(v: &Value) -> FieldValue {
    match v {
        Value::Null => FieldValue::Empty,
        Value::Bool(b) => FieldValue::Boolean(*b),
        Value::Number(n) => match n.as_i64() {
            Some(i) => FieldValue::Integer(i),
            None => FieldValue::Number(n.as_f64().unwrap_or(0.0)),
        },
        Value::String(s) if s.is_empty() => FieldValue::Empty,
        Value::String(s) => FieldValue::Text(s.clone()),
        Value::Object(o) => o
            .get("name")
            .and_then(Value::as_str)
            .map_or(FieldValue::Empty, |n| FieldValue::Text(n.into())),
        Value::Array(a) if a.is_empty() => FieldValue::Empty,
        Value::Array(a) => FieldValue::Text(
            a.iter()
                .map(|x| match x {
                    Value::String(s) => s.clone(),
                    other => other
                        .get("name")
                        .and_then(Value::as_str)
                        .map_or_else(|| other.to_string(), str::to_owned),
                })
                .collect::<Vec<_>>()
                .join(","),
        ),
    }
}

/// The Zoho fields of a contact record: its name split, its phone in
/// `cfg.phone_field`, and every other field as it is. No name fields when the record
/// has no name (a write never blanks the name sales gave a contact).
pub fn contact_data(cfg: &Config, record: &CrmRecord) -> Map<String, Value> {
    let mut data = Map::new();
    for f in &record.fields {
        match f.name.as_str() {
            "name" => {
                if let FieldValue::Text(t) = &f.value
                    && !t.trim().is_empty()
                {
                    let (first, last) = split_name(t);
                    data.insert("First_Name".into(), json!(first));
                    data.insert("Last_Name".into(), json!(last));
                }
            }
            "phone" => {
                if let FieldValue::Text(t) = &f.value
                    && !t.trim().is_empty()
                {
                    data.insert(cfg.phone_field.clone(), json!(t.trim()));
                }
            }
            name if SYSTEM_FIELDS.contains(&name) => {}
            name => {
                data.insert(name.to_string(), to_json(&f.value));
            }
        }
    }
    data
}

/// A Zoho contact (as `GET /Contacts` returns it) as a CRM record: `name` (the full
/// name; `Empty` for the placeholder), `phone` (the phone field, else `Phone`), the
/// configured `pull_fields`, and `Modified_Time` as `updated_at`.
pub fn contact_record(cfg: &Config, z: &Value) -> CrmRecord {
    let s = |k: &str| z[k].as_str().map(str::trim).filter(|v| !v.is_empty());
    let name = match (s("First_Name"), s("Last_Name")) {
        (None, Some(last)) if last == cfg.placeholder_last_name => None,
        (first, last) => s("Full_Name").map(str::to_owned).or_else(|| {
            let joined = [first, last]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join(" ");
            (!joined.is_empty()).then_some(joined)
        }),
    };
    let phone = s(&cfg.phone_field).or_else(|| s("Phone"));
    let mut fields = vec![
        Field {
            name: "name".into(),
            value: name.map_or(FieldValue::Empty, FieldValue::Text),
        },
        Field {
            name: "phone".into(),
            value: phone.map_or(FieldValue::Empty, |p| FieldValue::Text(p.into())),
        },
    ];
    for f in &cfg.pull_fields {
        fields.push(Field {
            name: f.clone(),
            value: from_json(&z[f.as_str()]),
        });
    }
    CrmRecord {
        object: "contact".into(),
        id: match &z["id"] {
            Value::String(id) => Some(id.clone()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        },
        fields,
        updated_at: z["Modified_Time"].as_str().and_then(when::parse_iso_ms),
    }
}

/// The `fields` a pull or a fetch asks for.
pub fn contact_fields(cfg: &Config) -> String {
    let mut names: Vec<&str> = vec![
        "Full_Name",
        "First_Name",
        "Last_Name",
        &cfg.phone_field,
        "Phone",
        "Modified_Time",
    ];
    for f in &cfg.pull_fields {
        names.push(f);
    }
    let mut out: Vec<&str> = Vec::new();
    for n in names {
        if !out.contains(&n) {
            out.push(n);
        }
    }
    out.join(",")
}

/// A note (`POST /Notes`) on contact `contact_id` with the record's `text`.
///
/// # Errors
/// `Invalid` when the record has no text.
pub fn note_data(
    cfg: &Config,
    contact_id: &str,
    record: &CrmRecord,
) -> Result<Value, ConnectorError> {
    let text = text_field(record, "text")
        .ok_or_else(|| ConnectorError::Invalid("the note record has no text field".into()))?;
    Ok(json!({
        "Note_Title": clip(&cfg.note_title, NOTE_TITLE_MAX),
        "Note_Content": clip(text, NOTE_CONTENT_MAX),
        "Parent_Id": {
            "module": {"api_name": cfg.contacts_module},
            "id": checked_id(contact_id)?,
        },
    }))
}

/// A deal (`POST /Deals`) for contact `contact_id`: `Deal_Name` from the record's
/// `name`, the configured stage and closing date, `Contact_Name` linking the contact,
/// and the record's other fields as `Description` lines.
///
/// # Errors
/// `Invalid` for an impossible contact id.
pub fn deal_data(
    cfg: &Config,
    contact_id: &str,
    record: &CrmRecord,
    now_ms: i64,
) -> Result<Value, ConnectorError> {
    let name = text_field(record, "name").unwrap_or("WhatsApp");
    let mut deal = json!({
        "Deal_Name": clip(name, DEAL_NAME_MAX),
        "Stage": text_field(record, "stage").unwrap_or(&cfg.deal_stage),
        "Closing_Date": when::date_after(now_ms, cfg.deal_closing_days),
        "Contact_Name": {"id": checked_id(contact_id)?},
        "Description": description(record),
    });
    if let Some(a) = amount(record) {
        deal["Amount"] = json!(a);
    }
    Ok(deal)
}

/// The record's fields but its name, one `field: value` line each.
fn description(record: &CrmRecord) -> String {
    let mut lines = Vec::new();
    for f in record.fields.iter().filter(|f| f.name != "name") {
        let v = match &f.value {
            FieldValue::Text(t) if t.trim().is_empty() => continue,
            FieldValue::Text(t) => t.clone(),
            FieldValue::Number(n) => n.to_string(),
            FieldValue::Integer(i) => i.to_string(),
            FieldValue::Boolean(b) => b.to_string(),
            FieldValue::Timestamp(ms) => when::format_iso(ms.div_euclid(1000)),
            FieldValue::Empty => continue,
        };
        lines.push(format!("{}: {v}", f.name));
    }
    clip(&lines.join("\n"), DESCRIPTION_MAX)
}

/// The record's `amount`, if it has one.
fn amount(record: &CrmRecord) -> Option<f64> {
    record
        .fields
        .iter()
        .find(|f| f.name == "amount")
        .and_then(|f| match f.value {
            FieldValue::Number(n) => Some(n),
            FieldValue::Integer(i) => Some(i as f64),
            _ => None,
        })
}

/// The fields a further signal updates on an open deal (`PUT /Deals/{id}`): name,
/// description, and amount and stage when the record has them.
pub fn deal_update(record: &CrmRecord) -> Value {
    let mut data = json!({
        "Deal_Name": clip(text_field(record, "name").unwrap_or("WhatsApp"), DEAL_NAME_MAX),
        "Description": description(record),
    });
    if let Some(stage) = text_field(record, "stage") {
        data["Stage"] = json!(stage);
    }
    if let Some(a) = amount(record) {
        data["Amount"] = json!(a);
    }
    data
}

/// A deal as the host's deal records name its fields (`name`, `amount`, `stage`).
pub fn deal_record(d: &Value) -> CrmRecord {
    let text = |k: &str| match d[k].as_str() {
        Some(s) if !s.is_empty() => FieldValue::Text(s.to_string()),
        _ => FieldValue::Empty,
    };
    CrmRecord {
        object: "deal".into(),
        id: match &d["id"] {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        },
        fields: vec![
            Field {
                name: "name".into(),
                value: text("Deal_Name"),
            },
            Field {
                name: "amount".into(),
                value: d["Amount"]
                    .as_f64()
                    .map_or(FieldValue::Empty, FieldValue::Number),
            },
            Field {
                name: "stage".into(),
                value: text("Stage"),
            },
        ],
        updated_at: d["Modified_Time"].as_str().and_then(when::parse_iso_ms),
    }
}

/// Whether a deal's stage is a closed one (`Closed Won`, `Closed Lost`,
/// `Closed-Lost to Competition`).
pub fn closed_stage(stage: &str) -> bool {
    stage.starts_with("Closed")
}

/// A `GET /Deals/search` criterion for `field` equal to `value`: Zoho wants
/// parentheses and commas in values escaped with a backslash, and the whole
/// percent-encoded.
pub fn equals_criteria(field: &str, value: &str) -> String {
    let mut v = String::new();
    for c in value.chars() {
        if matches!(c, '(' | ')' | ',' | '\\') {
            v.push('\\');
        }
        v.push(c);
    }
    scrm_plugin_sdk::http::encode_component(&format!("({field}:equals:{v})"))
}

/// The id and `Modified_Time` of the first record result of a write.
///
/// # Errors
/// `Failed` when Zoho's answer has no id.
pub fn pushed(body: &Value) -> Result<Pushed, ConnectorError> {
    let details = &body["data"][0]["details"];
    let id = match &details["id"] {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        _ => {
            return Err(ConnectorError::Failed(format!(
                "no record id in Zoho's answer: {body}"
            )));
        }
    };
    Ok(Pushed {
        id,
        updated_at: details["Modified_Time"]
            .as_str()
            .and_then(when::parse_iso_ms),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> Config {
        Config::parse(
            b"api_domain = \"https://www.zohoapis.eu\"\npull_fields = [\"Customer_Level\"]",
        )
        .unwrap()
    }

    fn rec(fields: &[(&str, FieldValue)]) -> CrmRecord {
        CrmRecord {
            object: "contact".into(),
            id: None,
            fields: fields
                .iter()
                .map(|(n, v)| Field {
                    name: (*n).into(),
                    value: v.clone(),
                })
                .collect(),
            updated_at: None,
        }
    }

    #[test]
    fn names_split_at_the_first_word_and_single_words_are_last_names() {
        assert_eq!(
            split_name("Mario Rossi"),
            (Some("Mario".into()), "Rossi".into())
        );
        assert_eq!(
            split_name(" Anna Maria De Luca "),
            (Some("Anna".into()), "Maria De Luca".into())
        );
        assert_eq!(split_name("Mario"), (None, "Mario".into()));
        let long = "x".repeat(100);
        assert_eq!(split_name(&long).1.chars().count(), 80);
    }

    #[test]
    fn contact_records_become_zoho_fields() {
        let r = rec(&[
            ("name", FieldValue::Text("Mario Rossi".into())),
            ("phone", FieldValue::Text("+393471234567".into())),
            ("Customer_Level", FieldValue::Text("New customer".into())),
            ("Satisfaction", FieldValue::Number(0.9)),
            ("Full_Name", FieldValue::Text("ignored".into())),
        ]);
        let data = contact_data(&cfg(), &r);
        assert_eq!(
            Value::Object(data),
            json!({"First_Name": "Mario", "Last_Name": "Rossi", "Mobile": "+393471234567",
                   "Customer_Level": "New customer", "Satisfaction": 0.9})
        );
        let single = contact_data(&cfg(), &rec(&[("name", FieldValue::Text("Mario".into()))]));
        assert_eq!(
            single["First_Name"],
            Value::Null,
            "a one-word name clears the first name"
        );
        let nameless = contact_data(&cfg(), &rec(&[("name", FieldValue::Empty)]));
        assert!(
            nameless.is_empty(),
            "no name: the name in Zoho is left alone"
        );
    }

    #[test]
    fn zoho_contacts_become_records_with_modified_time() {
        let z = json!({"id": "4150868000000376008", "Full_Name": "Mario Rossi", "First_Name": "Mario",
                       "Last_Name": "Rossi", "Mobile": "+393471234567", "Phone": null,
                       "Customer_Level": "Gold", "Modified_Time": "2020-10-14T10:31:43+05:30"});
        let r = contact_record(&cfg(), &z);
        assert_eq!(r.object, "contact");
        assert_eq!(r.id.as_deref(), Some("4150868000000376008"));
        assert_eq!(r.updated_at, Some(1_602_651_703_000));
        assert_eq!(text_field(&r, "name"), Some("Mario Rossi"));
        assert_eq!(text_field(&r, "phone"), Some("+393471234567"));
        assert_eq!(text_field(&r, "Customer_Level"), Some("Gold"));

        let placeholder = json!({"id": "1", "Last_Name": "(WhatsApp)", "Full_Name": "(WhatsApp)",
                                 "Mobile": null, "Phone": "+1 650 555 1234"});
        let r = contact_record(&cfg(), &placeholder);
        assert!(matches!(r.fields[0].value, FieldValue::Empty));
        assert_eq!(text_field(&r, "phone"), Some("+1 650 555 1234"));
        let no_full = json!({"id": 2, "First_Name": "Anna", "Last_Name": "Bianchi"});
        let r = contact_record(&cfg(), &no_full);
        assert_eq!(text_field(&r, "name"), Some("Anna Bianchi"));
        assert_eq!(r.id.as_deref(), Some("2"));
    }

    #[test]
    fn zoho_values_become_field_values() {
        assert!(
            matches!(from_json(&json!({"name": "Patricia", "id": "1"})), FieldValue::Text(t) if t == "Patricia")
        );
        assert!(
            matches!(from_json(&json!(["a", {"name": "b"}])), FieldValue::Text(t) if t == "a,b")
        );
        assert!(matches!(from_json(&json!("")), FieldValue::Empty));
        assert!(matches!(from_json(&json!(3)), FieldValue::Integer(3)));
        assert_eq!(
            to_json(&FieldValue::Timestamp(1_602_651_703_999)),
            json!("2020-10-14T05:01:43+00:00")
        );
    }

    #[test]
    fn notes_hang_on_the_contact_through_parent_id() {
        let r = rec(&[("text", FieldValue::Text("[WhatsApp, customer] ciao".into()))]);
        assert_eq!(
            note_data(&cfg(), "42", &r).unwrap(),
            json!({"Note_Title": "WhatsApp", "Note_Content": "[WhatsApp, customer] ciao",
                   "Parent_Id": {"module": {"api_name": "Contacts"}, "id": "42"}})
        );
        assert!(matches!(
            note_data(&cfg(), "42", &rec(&[])),
            Err(ConnectorError::Invalid(_))
        ));
        assert!(note_data(&cfg(), "4/2", &r).is_err());
    }

    #[test]
    fn deals_link_the_contact_and_describe_the_signal() {
        let r = rec(&[
            ("name", FieldValue::Text("WhatsApp: Mario".into())),
            ("tags", FieldValue::Text("price-inquiry".into())),
            ("last_message_at", FieldValue::Timestamp(1_602_651_703_000)),
            ("message", FieldValue::Empty),
        ]);
        let d = deal_data(&cfg(), "42", &r, 1_602_651_703_000).unwrap();
        assert_eq!(d["Deal_Name"], "WhatsApp: Mario");
        assert_eq!(d["Stage"], "Qualification");
        assert_eq!(d["Closing_Date"], "2020-11-13");
        assert_eq!(d["Contact_Name"], json!({"id": "42"}));
        assert_eq!(
            d["Description"],
            "tags: price-inquiry\nlast_message_at: 2020-10-14T05:01:43+00:00"
        );
    }

    #[test]
    fn write_answers_give_the_id_and_modified_time() {
        let body = json!({"data": [{"code": "SUCCESS", "duplicate_field": null, "action": "insert",
            "details": {"Modified_Time": "2020-10-14T10:31:43+05:30", "id": "4150868000003194003"},
            "message": "record added", "status": "success"}]});
        let p = pushed(&body).unwrap();
        assert_eq!(p.id, "4150868000003194003");
        assert_eq!(p.updated_at, Some(1_602_651_703_000));
        assert!(matches!(
            pushed(&json!({"data": []})),
            Err(ConnectorError::Failed(_))
        ));
    }

    #[test]
    fn fields_asked_for_are_deduplicated() {
        assert_eq!(
            contact_fields(&cfg()),
            "Full_Name,First_Name,Last_Name,Mobile,Phone,Modified_Time,Customer_Level"
        );
    }
}
