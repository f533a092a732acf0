//! Contacts: host records ↔ HubSpot contact properties, the phone lookup, and the
//! pull cursor over `lastmodifieddate`.

use crate::config::Config;
use crate::timestamps;
use scrm_plugin_sdk::{CrmRecord, Field, FieldValue};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

/// HubSpot's property values are strings; an empty string clears a property.
pub fn value_text(v: &FieldValue) -> String {
    match v {
        FieldValue::Text(t) => t.clone(),
        FieldValue::Number(n) => n.to_string(),
        FieldValue::Integer(i) => i.to_string(),
        FieldValue::Boolean(b) => b.to_string(),
        FieldValue::Timestamp(ms) => timestamps::format_ms(*ms).unwrap_or_else(|| ms.to_string()),
        FieldValue::Empty => String::new(),
    }
}

/// The non-blank text of field `name` of `record`.
pub fn text_field<'a>(record: &'a CrmRecord, name: &str) -> Option<&'a str> {
    record
        .fields
        .iter()
        .find(|f| f.name == name)
        .and_then(|f| match &f.value {
            FieldValue::Text(t) if !t.trim().is_empty() => Some(t.trim()),
            _ => None,
        })
}

/// `"Mario Rossi De Luca"` → (`"Mario"`, `"Rossi De Luca"`).
pub fn split_name(name: &str) -> (String, String) {
    let name = name.trim();
    match name.split_once(char::is_whitespace) {
        Some((first, last)) => (first.to_string(), last.trim().to_string()),
        None => (name.to_string(), String::new()),
    }
}

/// First and last name joined with a space; `None` when both are blank.
pub fn join_name(first: Option<&str>, last: Option<&str>) -> Option<String> {
    let parts: Vec<&str> = [first, last]
        .into_iter()
        .flatten()
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .collect();
    (!parts.is_empty()).then(|| parts.join(" "))
}

/// The contact properties for a host contact record: `name` and `phone` go to the
/// configured properties (left out when empty, so a write never blanks who the
/// contact is); every other field goes to the property of the same name.
pub fn properties(cfg: &Config, record: &CrmRecord) -> Map<String, Value> {
    let mut props = Map::new();
    for Field { name, value } in &record.fields {
        match name.as_str() {
            "name" => {
                let FieldValue::Text(n) = value else { continue };
                if n.trim().is_empty() {
                    continue;
                }
                match &cfg.name_property {
                    Some(p) => {
                        props.insert(p.clone(), json!(n.trim()));
                    }
                    None => {
                        let (first, last) = split_name(n);
                        props.insert("firstname".into(), json!(first));
                        props.insert("lastname".into(), json!(last));
                    }
                }
            }
            "phone" => {
                if let FieldValue::Text(p) = value
                    && !p.trim().is_empty()
                {
                    props.insert(cfg.phone_property.clone(), json!(p.trim()));
                }
            }
            other => {
                props.insert(other.to_string(), json!(value_text(value)));
            }
        }
    }
    props
}

/// The contact's name from its HubSpot properties.
fn name_of(cfg: &Config, props: &Value) -> Option<String> {
    match &cfg.name_property {
        Some(p) => props[p.as_str()]
            .as_str()
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .map(str::to_owned),
        None => join_name(props["firstname"].as_str(), props["lastname"].as_str()),
    }
}

/// When HubSpot last changed a contact object, Unix ms: `lastmodifieddate`, else
/// the object's `updatedAt`.
pub fn modified_ms(object: &Value) -> Option<i64> {
    object["properties"]["lastmodifieddate"]
        .as_str()
        .and_then(timestamps::parse_ms)
        .or_else(|| object["updatedAt"].as_str().and_then(timestamps::parse_ms))
}

/// A HubSpot contact object (`{"id","properties",…,"updatedAt"}`) as a CRM record
/// with fields `name`, `phone` and the configured `pull_properties`.
pub fn record(cfg: &Config, object: &Value) -> Option<CrmRecord> {
    let id = object["id"].as_str()?.to_string();
    let props = &object["properties"];
    let mut fields = vec![Field {
        name: "name".into(),
        value: name_of(cfg, props).map_or(FieldValue::Empty, FieldValue::Text),
    }];
    if let Some(phone) = props[cfg.phone_property.as_str()]
        .as_str()
        .filter(|p| !p.trim().is_empty())
    {
        fields.push(Field {
            name: "phone".into(),
            value: FieldValue::Text(phone.trim().into()),
        });
    }
    for p in &cfg.pull_properties {
        if *p == cfg.phone_property || cfg.name_property.as_ref() == Some(p) {
            continue;
        }
        fields.push(Field {
            name: p.clone(),
            value: props[p.as_str()]
                .as_str()
                .filter(|v| !v.is_empty())
                .map_or(FieldValue::Empty, |v| FieldValue::Text(v.into())),
        });
    }
    Some(CrmRecord {
        object: "contact".into(),
        id: Some(id),
        fields,
        updated_at: modified_ms(object),
    })
}

/// The search for contacts with phone `e164`, oldest first.
pub fn phone_search(cfg: &Config, e164: &str) -> Value {
    json!({
        "filterGroups": [{"filters": [
            {"propertyName": cfg.phone_property, "operator": "EQ", "value": e164}
        ]}],
        "sorts": [{"propertyName": "createdate", "direction": "ASCENDING"}],
        "properties": ["lastmodifieddate"],
        "limit": 1
    })
}

fn is_zero(n: &i64) -> bool {
    *n == 0
}

/// Where the next pull starts: every change before `t` was read, and at `t` the
/// contacts in `ids`. (HubSpot's search sorts on one property only, so ties on
/// `lastmodifieddate` are told apart by id.)
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Cursor {
    /// Unix ms.
    pub t: i64,
    /// Replies (communications) were read up to this time, Unix ms (0: a day ago).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub replies: i64,
    /// Orders were read up to this time, Unix ms (0: a day ago).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub orders: i64,
    /// Contacts already read whose change time is exactly `t`.
    pub ids: Vec<String>,
}

/// More contacts than this changed in one millisecond cannot be told apart by the
/// search; the cursor then steps past that millisecond (see [`Cursor::advance`]).
const MAX_TIED: usize = 150;

impl Cursor {
    /// Parses a stored cursor; empty means from the start.
    ///
    /// # Errors
    /// A message when the cursor is not one this connector wrote.
    pub fn parse(raw: &str) -> Result<Cursor, String> {
        if raw.trim().is_empty() {
            return Ok(Cursor::default());
        }
        serde_json::from_str(raw).map_err(|e| format!("cursor {raw:?}: {e}"))
    }

    /// How many results to ask for so that `page_size` unread ones fit after the
    /// tied ones already read.
    pub fn limit(&self, page_size: u32) -> u32 {
        let tied = u32::try_from(self.ids.len()).unwrap_or(u32::MAX);
        page_size
            .saturating_add(tied)
            .min(crate::config::MAX_PAGE_SIZE)
    }

    /// The search for contacts changed at or after `t` and no later than `until`,
    /// oldest change first.
    pub fn search(&self, cfg: &Config, until: i64, page_size: u32) -> Value {
        json!({
            "filterGroups": [{"filters": [
                {"propertyName": "lastmodifieddate", "operator": "GTE", "value": self.t.to_string()},
                {"propertyName": "lastmodifieddate", "operator": "LTE", "value": until.to_string()}
            ]}],
            "sorts": [{"propertyName": "lastmodifieddate", "direction": "ASCENDING"}],
            "properties": cfg.contact_properties(),
            "limit": self.limit(page_size)
        })
    }

    /// Takes one page of search results (oldest first): the objects not read
    /// before, and the cursor moved past them.
    pub fn advance<'v>(&mut self, results: &'v [Value], full_page: bool) -> Vec<&'v Value> {
        let mut fresh = Vec::new();
        for object in results {
            let (Some(id), Some(at)) = (object["id"].as_str(), modified_ms(object)) else {
                continue;
            };
            if at < self.t || (at == self.t && self.ids.iter().any(|i| i == id)) {
                continue;
            }
            if at > self.t {
                self.t = at;
                self.ids.clear();
            }
            self.ids.push(id.to_string());
            fresh.push(object);
        }
        if (full_page && fresh.is_empty()) || self.ids.len() > MAX_TIED {
            // A full page of contacts all changed in the same millisecond and all
            // read: the search cannot page past them, so step over the millisecond.
            self.t += 1;
            self.ids.clear();
        }
        fresh
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> Config {
        Config::parse(b"").unwrap()
    }

    fn text(name: &str, v: &str) -> Field {
        Field {
            name: name.into(),
            value: FieldValue::Text(v.into()),
        }
    }

    fn contact(id: &str, lm: &str, props: Value) -> Value {
        let mut p = props;
        p["lastmodifieddate"] = json!(lm);
        json!({"id": id, "properties": p, "createdAt": lm, "updatedAt": lm, "archived": false})
    }

    #[test]
    fn names_split_into_first_and_last_and_join_back() {
        assert_eq!(
            split_name(" Mario  Rossi De Luca "),
            ("Mario".into(), "Rossi De Luca".into())
        );
        assert_eq!(split_name("Mario"), ("Mario".into(), String::new()));
        assert_eq!(
            join_name(Some("Mario"), Some("Rossi")).as_deref(),
            Some("Mario Rossi")
        );
        assert_eq!(join_name(Some("Mario"), None).as_deref(), Some("Mario"));
        assert_eq!(join_name(Some(" "), Some("")), None);
    }

    #[test]
    fn host_fields_become_hubspot_properties() {
        let rec = CrmRecord {
            object: "contact".into(),
            id: None,
            fields: vec![
                text("name", "Mario Rossi"),
                text("phone", "+393471234567"),
                text("customer_level", "New customer"),
                Field {
                    name: "satisfaction".into(),
                    value: FieldValue::Number(0.85),
                },
                Field {
                    name: "hs_lead_status".into(),
                    value: FieldValue::Empty,
                },
            ],
            updated_at: None,
        };
        let props = properties(&cfg(), &rec);
        assert_eq!(
            Value::Object(props),
            json!({"firstname": "Mario", "lastname": "Rossi", "phone": "+393471234567",
                   "customer_level": "New customer", "satisfaction": "0.85", "hs_lead_status": ""})
        );
    }

    #[test]
    fn an_empty_name_or_phone_is_never_written() {
        let rec = CrmRecord {
            object: "contact".into(),
            id: None,
            fields: vec![
                Field {
                    name: "name".into(),
                    value: FieldValue::Empty,
                },
                Field {
                    name: "phone".into(),
                    value: FieldValue::Empty,
                },
            ],
            updated_at: None,
        };
        assert!(properties(&cfg(), &rec).is_empty());
    }

    #[test]
    fn contacts_become_records_with_name_phone_and_change_time() {
        let cfg = Config::parse(b"pull_properties = [\"hs_lead_status\"]\n").unwrap();
        let obj = contact(
            "151",
            "2026-11-25T21:07:56.123Z",
            json!({"firstname": "Mario", "lastname": "Rossi", "phone": "+393471234567",
                   "hs_lead_status": "OPEN"}),
        );
        let rec = record(&cfg, &obj).unwrap();
        assert_eq!(rec.object, "contact");
        assert_eq!(rec.id.as_deref(), Some("151"));
        assert_eq!(rec.updated_at, Some(1_795_640_876_123));
        assert_eq!(text_field(&rec, "name"), Some("Mario Rossi"));
        assert_eq!(text_field(&rec, "phone"), Some("+393471234567"));
        assert_eq!(text_field(&rec, "hs_lead_status"), Some("OPEN"));
    }

    #[test]
    fn the_cursor_skips_what_it_read_and_moves_to_the_newest_change() {
        let mut c = Cursor::default();
        let page = [
            contact("1", "2026-01-01T00:00:00.001Z", json!({})),
            contact("2", "2026-01-01T00:00:00.002Z", json!({})),
            contact("3", "2026-01-01T00:00:00.002Z", json!({})),
        ];
        assert_eq!(c.advance(&page, false).len(), 3);
        assert_eq!(c.t, 1_767_225_600_002);
        assert_eq!(c.ids, ["2", "3"]);
        // The next search starts at the same millisecond: 2 and 3 are not read twice.
        let next = [
            contact("2", "2026-01-01T00:00:00.002Z", json!({})),
            contact("3", "2026-01-01T00:00:00.002Z", json!({})),
            contact("4", "2026-01-01T00:00:00.002Z", json!({})),
        ];
        let fresh = c.advance(&next, false);
        assert_eq!(fresh.len(), 1);
        assert_eq!(fresh[0]["id"], "4");
        assert_eq!(c.ids, ["2", "3", "4"]);
        assert_eq!(c.limit(100), 103);
        let again = Cursor::parse(&serde_json::to_string(&c).unwrap()).unwrap();
        assert_eq!(again, c);
    }

    #[test]
    fn a_full_page_of_read_ties_steps_over_the_millisecond() {
        let mut c = Cursor {
            t: 5,
            ids: vec!["1".into()],
            ..Cursor::default()
        };
        let page = [contact("1", "1970-01-01T00:00:00.005Z", json!({}))];
        assert!(c.advance(&page, true).is_empty());
        assert_eq!(
            c,
            Cursor {
                t: 6,
                ..Cursor::default()
            }
        );
    }

    #[test]
    fn the_pull_search_is_bounded_and_sorted_by_change_time() {
        let c = Cursor {
            t: 1000,
            ..Cursor::default()
        };
        let body = c.search(&cfg(), 5000, 100);
        assert_eq!(body["filterGroups"][0]["filters"][0]["operator"], "GTE");
        assert_eq!(body["filterGroups"][0]["filters"][0]["value"], "1000");
        assert_eq!(body["filterGroups"][0]["filters"][1]["value"], "5000");
        assert_eq!(
            body["sorts"][0],
            json!({"propertyName": "lastmodifieddate", "direction": "ASCENDING"})
        );
        assert_eq!(body["limit"], 100);
        assert!(Cursor::parse("{\"w\": null}").is_err());
    }
}
