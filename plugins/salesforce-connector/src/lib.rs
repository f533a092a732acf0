//! The connector for [Salesforce](https://developer.salesforce.com/docs/platform/api-rest/guide)
//! over its REST API (default version 62.0) and Outbound Messages.
//!
//! - **Contacts** are upserted by an external id field holding the WhatsApp number
//!   in E.164 (`PATCH /sobjects/Contact/WhatsApp_Number__c/%2B393471234567`), so a
//!   second message never makes a second Contact; a Contact the host already knows
//!   is updated by its id (a changed number follows it). The write and the read of
//!   its `LastModifiedDate` (the host's echo check) go in one composite request.
//! - **Messages** are logged as completed Tasks on the Contact (`WhoId`), with the
//!   message as `Description`.
//! - **Deals** are Opportunities linked to the Contact by an `OpportunityContactRole`,
//!   both created in one all-or-none composite request; the mapper's `case` records
//!   (complaints, order problems) are Cases on the Contact. An open one is updated
//!   by the next signal with its key; every Task, Opportunity and Case carries the
//!   host's key in `key_field`, and a retried write looks it up before creating
//!   (see [`signals`]).
//! - **Changes** are pulled with SOQL by `LastModifiedDate`, paged by query locator
//!   (see [`soql`]); Outbound Messages are parsed by `parse-webhook` (see
//!   [`outbound`]).
//!
//! Configuration (JSON or TOML):
//!
//! ```toml
//! instance_url = "https://acme.my.salesforce.com"  # the org's My Domain URL
//! organization_id = "00D5g000004ScrmEAA"            # Outbound Messages from other orgs are refused
//! api_version = "62.0"
//! external_id_field = "WhatsApp_Number__c"          # Contact field: External ID, Unique
//! phone_field = "MobilePhone"                       # also gets the number ("" = leave alone)
//! contact_fields = ["Customer_Level__c"]            # more Contact fields pulls return
//! task_subject = "WhatsApp message"
//! task_status = "Completed"
//! opportunity_stage = "Prospecting"
//! opportunity_close_days = 30
//! lead_source = ""                                  # Opportunity.LeadSource ("" = not set)
//! contact_role = ""                                 # OpportunityContactRole.Role ("" = not set)
//! key_field = "Scrm_Key__c"                         # Task, Opportunity, Case text field ("" = off)
//! case_status = "New"                               # a new Case's Status
//! case_origin = "WhatsApp"                          # a new Case's Origin ("" = not set)
//!
//! [opportunity_fields]                              # mapper field -> Opportunity field
//! amount = "Amount"
//! stage = "StageName"
//! # last_message_at = "Last_WhatsApp_Message__c"    # a Date/Time custom field
//! page_size = 200                                   # Sforce-Query-Options batchSize (200-2000)
//! limit_wait_seconds = 300                          # pause after REQUEST_LIMIT_EXCEEDED
//! api_usage_ceiling_percent = 95                    # pause at this share of the daily limit (0 = off)
//! ```
//!
//! The access token is never in the config: the operator stores it as a tenant
//! secret and lists it as a credential of the binding (`authorization: Bearer …`).

pub mod api;
pub mod datetime;
pub mod outbound;
pub mod signals;
pub mod soql;

use api::Api;
use scrm_plugin_sdk::{
    Changes, Connector, ConnectorError, CrmRecord, Field, FieldValue, Pushed, WriteKey,
};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use soql::Cursor;
use std::collections::BTreeMap;

/// The connector's configuration (see the crate docs).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// The org's My Domain URL, e.g. `https://acme.my.salesforce.com`.
    pub instance_url: String,
    /// The org's id (`00D…`, 15 or 18 characters); Outbound Messages carrying
    /// another one are refused, and none are accepted while it is empty.
    pub organization_id: String,
    /// The REST API version, e.g. `62.0`.
    pub api_version: String,
    /// The Contact field (External ID, Unique) holding the WhatsApp number in E.164.
    pub external_id_field: String,
    /// A Contact phone field that also gets the number; empty to leave it alone.
    pub phone_field: String,
    /// More Contact fields that pulls and Outbound Messages return as they are.
    pub contact_fields: Vec<String>,
    /// The Task subject; the message's direction is added in parentheses.
    pub task_subject: String,
    /// The Task status: the message already happened, so by default `Completed`.
    pub task_status: String,
    /// The stage of a new Opportunity.
    pub opportunity_stage: String,
    /// A new Opportunity's close date is this many days from today.
    pub opportunity_close_days: u32,
    /// `Opportunity.LeadSource`; empty to leave it unset.
    pub lead_source: String,
    /// `OpportunityContactRole.Role`; empty to leave it unset.
    pub contact_role: String,
    /// A text field (255) on Activity, Opportunity and Case that holds the host's
    /// key of each write, so a retry finds what a lost answer wrote; empty: off.
    pub key_field: String,
    /// A new Case's `Status`.
    pub case_status: String,
    /// A new Case's `Origin`; empty to leave it unset.
    pub case_origin: String,
    /// Mapper field → Opportunity field, written on create and update.
    pub opportunity_fields: BTreeMap<String, String>,
    /// Records per query batch (`Sforce-Query-Options: batchSize`, 200–2000).
    pub page_size: u32,
    /// Seconds to wait after `REQUEST_LIMIT_EXCEEDED` or at the usage ceiling.
    pub limit_wait_seconds: u32,
    /// Pause calls when `Sforce-Limit-Info` shows this share (%) of the org's
    /// daily API requests used; 0 turns the ceiling off.
    pub api_usage_ceiling_percent: u32,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            instance_url: String::new(),
            organization_id: String::new(),
            api_version: "62.0".into(),
            external_id_field: "WhatsApp_Number__c".into(),
            phone_field: "MobilePhone".into(),
            contact_fields: Vec::new(),
            task_subject: "WhatsApp message".into(),
            task_status: "Completed".into(),
            opportunity_stage: "Prospecting".into(),
            opportunity_close_days: 30,
            lead_source: String::new(),
            contact_role: String::new(),
            key_field: "Scrm_Key__c".into(),
            case_status: "New".into(),
            case_origin: "WhatsApp".into(),
            opportunity_fields: [("amount", "Amount"), ("stage", "StageName")]
                .into_iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect(),
            page_size: 200,
            limit_wait_seconds: 300,
            api_usage_ceiling_percent: 95,
        }
    }
}

impl Config {
    /// Checks the values once; field names end up in SOQL and URLs.
    ///
    /// # Errors
    /// A message naming the wrong key.
    pub fn validate(self) -> Result<Config, String> {
        let url = self.instance_url.trim_end_matches('/');
        if !(url.starts_with("https://") || url.starts_with("http://")) || url.len() < 10 {
            return Err(format!(
                "instance_url must be the org's https:// URL, not {:?}",
                self.instance_url
            ));
        }
        let version_ok = self.api_version.split_once('.').is_some_and(|(a, b)| {
            !a.is_empty() && a.bytes().all(|c| c.is_ascii_digit()) && b == "0"
        });
        if !version_ok {
            return Err(format!(
                "api_version must look like \"62.0\", not {:?}",
                self.api_version
            ));
        }
        for (key, name) in std::iter::once(("external_id_field", &self.external_id_field))
            .chain((!self.phone_field.is_empty()).then_some(("phone_field", &self.phone_field)))
            .chain(self.contact_fields.iter().map(|f| ("contact_fields", f)))
            .chain((!self.key_field.is_empty()).then_some(("key_field", &self.key_field)))
            .chain(
                self.opportunity_fields
                    .values()
                    .map(|f| ("opportunity_fields", f)),
            )
        {
            if !soql::api_name(name) {
                return Err(format!(
                    "{key}: {name:?} is not a Salesforce field API name"
                ));
            }
        }
        if !self.organization_id.is_empty() && !soql::record_id(&self.organization_id) {
            return Err(format!(
                "organization_id must be the org's 15- or 18-character id, not {:?}",
                self.organization_id
            ));
        }
        if !(200..=2000).contains(&self.page_size) {
            return Err(format!(
                "page_size must be 200-2000, not {}",
                self.page_size
            ));
        }
        if self.limit_wait_seconds == 0 {
            return Err("limit_wait_seconds must be at least 1".into());
        }
        Ok(self)
    }
}

fn config() -> Result<Config, ConnectorError> {
    scrm_plugin_sdk::config::parse::<Config>()
        .map_err(|e| ConnectorError::Invalid(format!("connector config: {e}")))?
        .ok_or_else(|| {
            ConnectorError::Invalid("connector config: instance_url is required".into())
        })?
        .validate()
        .map_err(|e| ConnectorError::Invalid(format!("connector config: {e}")))
}

/// The text of field `name` of a record, trimmed, when not empty.
fn text_field<'a>(r: &'a CrmRecord, name: &str) -> Option<&'a str> {
    r.fields
        .iter()
        .find(|f| f.name == name)
        .and_then(|f| match &f.value {
            FieldValue::Text(t) if !t.trim().is_empty() => Some(t.trim()),
            _ => None,
        })
}

/// The timestamp (Unix ms) of field `name` of a record.
fn timestamp_field(r: &CrmRecord, name: &str) -> Option<i64> {
    r.fields
        .iter()
        .find(|f| f.name == name)
        .and_then(|f| match &f.value {
            FieldValue::Timestamp(t) | FieldValue::Integer(t) => Some(*t),
            _ => None,
        })
}

/// At most `max` characters of `s` (Salesforce refuses longer text with
/// `STRING_TOO_LONG`).
fn clip(s: &str, max: usize) -> String {
    s.chars().take(max).collect()
}

/// A host name as Contact fields: the last word is `LastName` (required, 80
/// characters), the rest `FirstName` (40); pulls join them back the same way.
fn split_name(name: &str) -> (Option<String>, String) {
    let name = name.split_whitespace().collect::<Vec<_>>().join(" ");
    match name.rsplit_once(' ') {
        Some((first, last)) => (Some(clip(first, 40)), clip(last, 80)),
        None => (None, clip(&name, 80)),
    }
}

/// The host's `name` field of a Contact's `FirstName` and `LastName`.
pub(crate) fn name_field(first: Option<&str>, last: Option<&str>) -> Field {
    let joined = [first, last]
        .into_iter()
        .flatten()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    Field {
        name: "name".into(),
        value: if joined.is_empty() {
            FieldValue::Empty
        } else {
            FieldValue::Text(joined)
        },
    }
}

/// A record value as JSON for Salesforce.
fn json_value(v: &FieldValue) -> Value {
    match v {
        FieldValue::Text(t) => json!(t),
        FieldValue::Number(n) => json!(n),
        FieldValue::Integer(i) => json!(i),
        FieldValue::Boolean(b) => json!(b),
        FieldValue::Timestamp(ms) => json!(datetime::field_datetime(*ms)),
        FieldValue::Empty => Value::Null,
    }
}

/// A Salesforce value as a record value.
fn field_value(v: &Value) -> FieldValue {
    match v {
        Value::String(s) if s.is_empty() => FieldValue::Empty,
        Value::String(s) => FieldValue::Text(s.clone()),
        Value::Bool(b) => FieldValue::Boolean(*b),
        Value::Number(n) => n
            .as_i64()
            .map(FieldValue::Integer)
            .or_else(|| n.as_f64().map(FieldValue::Number))
            .unwrap_or(FieldValue::Empty),
        _ => FieldValue::Empty,
    }
}

/// The Contact fields for a host contact record. `creating`: the write may create
/// the Contact, so `LastName` (required) falls back to the number.
fn contact_body(
    cfg: &Config,
    record: &CrmRecord,
    phone: Option<&str>,
    creating: bool,
) -> Result<Map<String, Value>, ConnectorError> {
    let mut body = Map::new();
    match (text_field(record, "name"), phone) {
        (Some(name), _) => {
            let (first, last) = split_name(name);
            body.insert("FirstName".into(), first.map_or(Value::Null, Value::String));
            body.insert("LastName".into(), json!(last));
        }
        (None, Some(p)) if creating => {
            body.insert("LastName".into(), json!(p));
        }
        _ => {}
    }
    if let Some(p) = phone
        && !cfg.phone_field.is_empty()
    {
        body.insert(cfg.phone_field.clone(), json!(p));
    }
    for f in &record.fields {
        if f.name == "name" || f.name == "phone" {
            continue;
        }
        if !soql::api_name(&f.name) {
            return Err(ConnectorError::Invalid(format!(
                "contact field {:?} is not a Salesforce API name; name it so in the mapper",
                f.name
            )));
        }
        body.insert(f.name.clone(), json_value(&f.value));
    }
    Ok(body)
}

/// `Pushed` from the read subrequest (`GET …?fields=Id,LastModifiedDate`).
fn pushed(what: &str, read: &Value) -> Result<Pushed, ConnectorError> {
    let id = read["Id"]
        .as_str()
        .ok_or_else(|| ConnectorError::Failed(format!("{what}: no Id in {read}")))?;
    Ok(Pushed {
        id: id.to_string(),
        updated_at: read["LastModifiedDate"]
            .as_str()
            .and_then(datetime::parse_ms),
    })
}

/// The last subrequest's body: the read that follows each write.
fn last_body(results: &[(u16, Value)]) -> Value {
    results.last().map(|(_, b)| b.clone()).unwrap_or_default()
}

fn checked_id(id: &str, what: &str) -> Result<String, ConnectorError> {
    if soql::record_id(id) {
        Ok(id.to_string())
    } else {
        Err(ConnectorError::Invalid(format!(
            "{id:?} is not a Salesforce {what} id"
        )))
    }
}

/// A Contact row of a query answer as a host record.
fn contact_record(cfg: &Config, row: &Value) -> CrmRecord {
    let mut fields = vec![name_field(
        row["FirstName"].as_str(),
        row["LastName"].as_str(),
    )];
    fields.push(Field {
        name: "phone".into(),
        value: field_value(&row[&cfg.external_id_field]),
    });
    for f in &cfg.contact_fields {
        fields.push(Field {
            name: f.clone(),
            value: field_value(&row[f]),
        });
    }
    CrmRecord {
        object: "contact".into(),
        id: row["Id"].as_str().map(str::to_owned),
        fields,
        updated_at: row["LastModifiedDate"]
            .as_str()
            .and_then(datetime::parse_ms),
    }
}

/// The exported connector.
#[derive(Debug)]
pub struct Salesforce;

impl Salesforce {
    /// Upserts the Contact by its WhatsApp number and reads its change time back.
    fn upsert_contact(
        cfg: &Config,
        api: &Api<'_>,
        record: &CrmRecord,
        phone: &str,
    ) -> Result<Pushed, ConnectorError> {
        let base = api.base_path();
        let body = contact_body(cfg, record, Some(phone), true)?;
        let results = api.composite(
            "upsert Contact",
            vec![
                json!({"method": "PATCH", "referenceId": "refContact", "body": body,
                       "url": format!("{base}/sobjects/Contact/{}/{}", cfg.external_id_field,
                                      soql::url_encode(phone))}),
                json!({"method": "GET", "referenceId": "refContactRead",
                       "url": format!("{base}/sobjects/Contact/@{{refContact.id}}?fields=Id,LastModifiedDate")}),
            ],
        )?;
        pushed("upsert Contact", &last_body(&results))
    }
}

impl Connector for Salesforce {
    fn push_contact(record: CrmRecord) -> Result<Pushed, ConnectorError> {
        let cfg = config()?;
        let api = Api::new(&cfg);
        let phone = text_field(&record, "phone");
        if let Some(id) = &record.id {
            let id = checked_id(id, "Contact")?;
            let base = api.base_path();
            let mut body = contact_body(&cfg, &record, phone, false)?;
            if let Some(p) = phone {
                body.insert(cfg.external_id_field.clone(), json!(p));
            }
            let result = api.composite(
                "update Contact",
                vec![
                    json!({"method": "PATCH", "referenceId": "refContact", "body": body,
                           "url": format!("{base}/sobjects/Contact/{id}")}),
                    json!({"method": "GET", "referenceId": "refContactRead",
                           "url": format!("{base}/sobjects/Contact/{id}?fields=Id,LastModifiedDate")}),
                ],
            );
            match (result, phone) {
                (Ok(results), _) => return pushed("update Contact", &last_body(&results)),
                // Deleted or merged away in Salesforce: find or make it by the number.
                (Err(ConnectorError::NotFound(_)), Some(p)) => {
                    scrm_plugin_sdk::log::info(
                        "linked Contact is gone in Salesforce; upserting by number",
                    );
                    return Self::upsert_contact(&cfg, &api, &record, p);
                }
                (Err(e), _) => return Err(e),
            }
        }
        let phone = phone.ok_or_else(|| {
            ConnectorError::Invalid(format!(
                "the contact has no phone; {} (the upsert key) needs the WhatsApp number",
                cfg.external_id_field
            ))
        })?;
        Self::upsert_contact(&cfg, &api, &record, phone)
    }

    fn push_note(
        contact_id: String,
        write: WriteKey,
        record: CrmRecord,
    ) -> Result<Pushed, ConnectorError> {
        signals::push_task(&config()?, &contact_id, &write, &record)
    }

    fn push_deal(
        contact_id: String,
        write: WriteKey,
        record: CrmRecord,
    ) -> Result<Pushed, ConnectorError> {
        signals::push_signal(&config()?, &contact_id, &write, &record)
    }

    fn read_contacts(ids: Vec<String>) -> Result<Vec<CrmRecord>, ConnectorError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let cfg = config()?;
        let api = Api::new(&cfg);
        let ids = ids
            .iter()
            .map(|id| checked_id(id, "Contact"))
            .collect::<Result<Vec<_>, _>>()?;
        let q = soql::contacts_by_id(&cfg.external_id_field, &cfg.contact_fields, &ids);
        let page = api.send(
            "read Contacts",
            "GET",
            &format!("{}/query?q={}", api.base_path(), soql::url_encode(&q)),
            None,
            &[],
        )?;
        Ok(page["records"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|row| contact_record(&cfg, row))
            .collect())
    }

    fn read_deals(ids: Vec<String>) -> Result<Vec<CrmRecord>, ConnectorError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let cfg = config()?;
        let ids = ids
            .iter()
            .map(|id| checked_id(id, "Opportunity"))
            .collect::<Result<Vec<_>, _>>()?;
        signals::read_opportunities(&cfg, &ids)
    }

    fn pull_changes(cursor: String) -> Result<Changes, ConnectorError> {
        let cfg = config()?;
        let api = Api::new(&cfg);
        let mut pos = Cursor::parse(&cursor).map_err(ConnectorError::Invalid)?;
        let batch = format!("batchSize={}", cfg.page_size);
        let options = [("sforce-query-options", batch.as_str())];
        let query = |pos: &Cursor| {
            let q = soql::changed_contacts(&cfg.external_id_field, &cfg.contact_fields, pos);
            api.send(
                "query Contacts",
                "GET",
                &format!("{}/query?q={}", api.base_path(), soql::url_encode(&q)),
                None,
                &options,
            )
        };
        let page = match pos.next.take() {
            Some(next) if next.starts_with(&format!("{}/query/", api.base_path())) => {
                match api.send("query more Contacts", "GET", &next, None, &options) {
                    // Locators expire (about 15 minutes unused): ask again from the cursor.
                    Err(ConnectorError::Invalid(m) | ConnectorError::NotFound(m))
                        if m.contains("INVALID_QUERY_LOCATOR") || m.contains("NOT_FOUND") =>
                    {
                        query(&pos)?
                    }
                    other => other?,
                }
            }
            _ => query(&pos)?,
        };
        let rows = page["records"].as_array().cloned().unwrap_or_default();
        let mut records = Vec::with_capacity(rows.len());
        for row in &rows {
            let record = contact_record(&cfg, row);
            if let (Some(id), Some(at)) = (&record.id, record.updated_at) {
                pos.advance(id, at);
            }
            records.push(record);
        }
        let done = page["done"].as_bool().unwrap_or(true);
        pos.next = if done {
            None
        } else {
            page["nextRecordsUrl"].as_str().map(str::to_owned)
        };
        Ok(Changes {
            replies: Vec::new(),
            more: pos.next.is_some(),
            next_cursor: pos.encode(),
            records,
        })
    }

    fn parse_webhook(
        _headers: Vec<(String, String)>,
        body: Vec<u8>,
    ) -> Result<Vec<CrmRecord>, ConnectorError> {
        let cfg = config()?;
        let parsed = outbound::parse(&cfg, &body)?;
        if parsed.skipped > 0 {
            scrm_plugin_sdk::log::info(&format!(
                "Outbound Message: {} notification(s) of objects other than Contact skipped",
                parsed.skipped
            ));
        }
        Ok(parsed.records)
    }
}

impl scrm_plugin_sdk::OrderLookup for Salesforce {
    fn find_orders(
        _contact_id: String,
        _since: i64,
        _limit: u32,
    ) -> Result<Vec<scrm_plugin_sdk::OrderInfo>, ConnectorError> {
        Err(ConnectorError::Invalid(
            "Salesforce: this connector does not look up orders".into(),
        ))
    }
}

scrm_plugin_sdk::export_connector!(Salesforce);

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> Config {
        Config {
            instance_url: "https://acme.my.salesforce.com".into(),
            contact_fields: vec!["Customer_Level__c".into()],
            ..Config::default()
        }
    }

    fn rec(fields: Vec<(&str, FieldValue)>) -> CrmRecord {
        CrmRecord {
            object: "contact".into(),
            id: None,
            fields: fields
                .into_iter()
                .map(|(n, v)| Field {
                    name: n.into(),
                    value: v,
                })
                .collect(),
            updated_at: None,
        }
    }

    #[test]
    fn config_is_validated_once() {
        assert!(cfg().validate().is_ok());
        let bad = |c: Config| c.validate().unwrap_err();
        assert!(bad(Config::default()).contains("instance_url"));
        assert!(
            bad(Config {
                external_id_field: "Phone) OR (Id".into(),
                ..cfg()
            })
            .contains("external_id_field")
        );
        assert!(
            bad(Config {
                contact_fields: vec!["a b".into()],
                ..cfg()
            })
            .contains("contact_fields")
        );
        assert!(
            bad(Config {
                api_version: "v62".into(),
                ..cfg()
            })
            .contains("api_version")
        );
        assert!(
            bad(Config {
                page_size: 50,
                ..cfg()
            })
            .contains("page_size")
        );
        assert!(
            bad(Config {
                organization_id: "00D'x".into(),
                ..cfg()
            })
            .contains("organization_id")
        );
        assert!(
            Config {
                phone_field: String::new(),
                ..cfg()
            }
            .validate()
            .is_ok()
        );
        let toml: Config = scrm_plugin_sdk::config::parse_bytes(
            b"instance_url = \"https://acme.my.salesforce.com\"\nlimit_wait_seconds = 1\n",
        )
        .unwrap()
        .unwrap();
        assert_eq!(toml.limit_wait_seconds, 1);
        assert_eq!(toml.external_id_field, "WhatsApp_Number__c");
        assert!(scrm_plugin_sdk::config::parse_bytes::<Config>(b"instance = 1\n").is_err());
    }

    #[test]
    fn names_split_into_first_and_last_and_join_back() {
        assert_eq!(split_name("Mario"), (None, "Mario".to_string()));
        assert_eq!(
            split_name("  Anna  Maria   Rossi "),
            (Some("Anna Maria".to_string()), "Rossi".to_string())
        );
        let (first, last) = split_name("Anna Maria Rossi");
        assert!(
            matches!(name_field(first.as_deref(), Some(&last)).value, FieldValue::Text(t) if t == "Anna Maria Rossi")
        );
        assert!(matches!(name_field(None, None).value, FieldValue::Empty));
    }

    #[test]
    fn contact_bodies_carry_name_number_and_api_named_fields() {
        let c = cfg();
        let r = rec(vec![
            ("name", FieldValue::Text("Mario Rossi".into())),
            ("phone", FieldValue::Text("+393471234567".into())),
            ("Customer_Level__c", FieldValue::Text("Gold".into())),
            ("Satisfaction__c", FieldValue::Number(0.9)),
            ("Opted_In_At__c", FieldValue::Timestamp(1_795_634_400_000)),
            ("Email", FieldValue::Empty),
        ]);
        let body = contact_body(&c, &r, Some("+393471234567"), true).unwrap();
        assert_eq!(
            Value::Object(body),
            json!({"FirstName": "Mario", "LastName": "Rossi", "MobilePhone": "+393471234567",
                   "Customer_Level__c": "Gold", "Satisfaction__c": 0.9,
                   "Opted_In_At__c": "2026-11-25T19:20:00.000Z", "Email": null})
        );
        // One word: no first name (cleared), the word is the last name.
        let body = contact_body(
            &c,
            &rec(vec![("name", FieldValue::Text("Mario".into()))]),
            None,
            false,
        )
        .unwrap();
        assert_eq!(
            Value::Object(body),
            json!({"FirstName": null, "LastName": "Mario"})
        );
        // No name: a new Contact is named by its number; an update leaves the name.
        let nameless = rec(vec![("phone", FieldValue::Text("+393471234567".into()))]);
        let body = contact_body(&c, &nameless, Some("+393471234567"), true).unwrap();
        assert_eq!(body["LastName"], "+393471234567");
        let body = contact_body(&c, &nameless, Some("+393471234567"), false).unwrap();
        assert!(!body.contains_key("LastName"));
        let bad = rec(vec![("customer level", FieldValue::Text("x".into()))]);
        assert!(matches!(
            contact_body(&c, &bad, None, false),
            Err(ConnectorError::Invalid(_))
        ));
    }

    #[test]
    fn query_rows_become_contact_records() {
        let row = json!({"attributes": {"type": "Contact", "url": "/services/data/v62.0/sobjects/Contact/003000000000001AAA"},
                         "Id": "003000000000001AAA", "FirstName": null, "LastName": "Rossi",
                         "WhatsApp_Number__c": "+393471234567", "Customer_Level__c": null,
                         "LastModifiedDate": "2026-11-25T19:20:00.000+0000"});
        let r = contact_record(&cfg(), &row);
        assert_eq!(r.object, "contact");
        assert_eq!(r.id.as_deref(), Some("003000000000001AAA"));
        assert_eq!(r.updated_at, Some(1_795_634_400_000));
        assert!(matches!(&r.fields[0].value, FieldValue::Text(t) if t == "Rossi"));
        assert!(matches!(&r.fields[1].value, FieldValue::Text(t) if t == "+393471234567"));
        assert!(matches!(&r.fields[2].value, FieldValue::Empty));
    }
}
