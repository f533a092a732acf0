//! The connector for [Zoho CRM](https://www.zoho.com/crm/) over its REST API v8
//! (`{api_domain}/crm/v8/…`).
//!
//! - **Contacts** are `Contacts` records, upserted (`POST /Contacts/upsert`) with
//!   `duplicate_check_fields: ["Mobile"]` on the customer's E.164 number, so a contact
//!   sales already created with that mobile number is updated, not duplicated. A
//!   contact the host has linked is updated by id (`PUT /Contacts/{id}`), and upserted
//!   again if it was deleted in Zoho. The host's `name` becomes `First_Name` and
//!   `Last_Name`; other fields pass through under their Zoho API names.
//! - **Chat history** becomes `Notes` on the contact (`Parent_Id` with the module),
//!   and **sales signals** become `Deals` linked through `Contact_Name`.
//! - **Changes** are pulled with `GET /Contacts?sort_by=Modified_Time&sort_order=asc`
//!   and `If-Modified-Since` (see [`cursor`] for how nothing is skipped).
//! - **Notifications** (`POST /actions/watch` channels pointed at
//!   `/v1/crm/{tenant}/webhook`) are checked by their `token` and the contacts they
//!   name are read back (see [`notify`]).
//!
//! Configuration (TOML or JSON):
//!
//! ```toml
//! api_domain = "https://www.zohoapis.eu"   # the org's data centre
//! phone_field = "Mobile"                   # unique in Zoho: the upsert's duplicate check
//! notification_token = "…"                 # the token the channel was enabled with
//! pull_fields = ["Customer_Level"]         # other fields pulls hand to the mapper
//! ```
//!
//! The OAuth access token is never in the config: the operator stores it as a tenant
//! secret and lists it as a credential of the binding (`authorization:
//! Zoho-oauthtoken …`), so the host adds it to each request.

pub mod config;
pub mod cursor;
pub mod notify;
pub mod records;
pub mod when;
pub mod wire;

use config::Config;
use cursor::Cursor;
use scrm_plugin_sdk::log::{self, LogLevel};
use scrm_plugin_sdk::{Changes, Connector, ConnectorError, CrmRecord, Pushed, WriteKey};
use serde_json::{Map, Value, json};

/// Ids per `GET /{module}?ids=…` (Zoho reads at most 100 records by id at once).
const IDS_PER_READ: usize = 100;

/// The exported connector.
#[derive(Debug)]
pub struct Zoho;

impl Zoho {
    /// Upserts `data` by the phone field; retried once with the placeholder last name
    /// when Zoho inserts a contact without a name (it requires `Last_Name`).
    fn upsert(cfg: &Config, mut data: Map<String, Value>) -> Result<Pushed, ConnectorError> {
        if !data.get(&cfg.phone_field).is_some_and(Value::is_string) {
            return Err(ConnectorError::Invalid(format!(
                "a contact without a phone number cannot be upserted: the duplicate check is on {}",
                cfg.phone_field
            )));
        }
        let path = format!("{}/upsert", cfg.contacts_module);
        let body = |data: &Map<String, Value>| json!({"data": [data], "duplicate_check_fields": [cfg.phone_field]});
        match wire::send(cfg, "POST", &path, &[], Some(&body(&data))) {
            Err(ConnectorError::Invalid(why))
                if !data.contains_key("Last_Name")
                    && why.contains("MANDATORY_NOT_FOUND")
                    && why.contains("Last_Name") =>
            {
                data.insert("Last_Name".into(), json!(cfg.placeholder_last_name));
                let reply = wire::send(cfg, "POST", &path, &[], Some(&body(&data)))?;
                records::pushed(&reply.body)
            }
            other => records::pushed(&other?.body),
        }
    }

    /// Reads contacts by id (absent ones are left out).
    fn read(cfg: &Config, ids: &[String]) -> Result<Vec<CrmRecord>, ConnectorError> {
        let mut out = Vec::new();
        for chunk in ids.chunks(IDS_PER_READ) {
            let path = format!(
                "{}?ids={}&fields={}",
                cfg.contacts_module,
                chunk.join(","),
                records::contact_fields(cfg)
            );
            let reply = wire::send(cfg, "GET", &path, &[], None)?;
            if let Some(data) = reply.body["data"].as_array() {
                out.extend(data.iter().map(|z| records::contact_record(cfg, z)));
            }
        }
        out.sort_by_key(|r| r.updated_at);
        Ok(out)
    }
}

impl Connector for Zoho {
    fn push_contact(record: CrmRecord) -> Result<Pushed, ConnectorError> {
        let cfg = Config::load()?;
        let data = records::contact_data(&cfg, &record);
        if let Some(id) = &record.id {
            let id = records::checked_id(id)?;
            if data.is_empty() {
                return Ok(Pushed {
                    id: id.to_string(),
                    updated_at: None,
                });
            }
            let path = format!("{}/{id}", cfg.contacts_module);
            match wire::send(&cfg, "PUT", &path, &[], Some(&json!({"data": [data]}))) {
                Ok(reply) => return records::pushed(&reply.body),
                Err(ConnectorError::NotFound(why)) => log::write(
                    LogLevel::Info,
                    "linked Zoho contact is gone; upserting it by phone",
                    &[("contact", id), ("zoho", &why)],
                ),
                Err(e) => return Err(e),
            }
        }
        Self::upsert(&cfg, data)
    }

    fn push_note(
        contact_id: String,
        write: WriteKey,
        record: CrmRecord,
    ) -> Result<Pushed, ConnectorError> {
        let cfg = Config::load()?;
        let marker = format!("({})", write.key);
        // A retry finds the note an attempt whose answer was lost wrote: each note
        // ends with its key (Zoho notes take no custom fields).
        if write.retried && !write.key.is_empty() {
            let path = format!(
                "{}/{}/Notes?fields=Note_Content&per_page=200",
                cfg.contacts_module,
                records::checked_id(&contact_id)?
            );
            let found = wire::send(&cfg, "GET", &path, &[], None)?;
            if let Some(id) = found.body["data"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|n| {
                    n["Note_Content"]
                        .as_str()
                        .is_some_and(|c| c.ends_with(&marker))
                })
                .and_then(|n| n["id"].as_str())
            {
                return Ok(Pushed {
                    id: id.to_string(),
                    updated_at: None,
                });
            }
        }
        let mut note = records::note_data(&cfg, &contact_id, &record)?;
        if !write.key.is_empty()
            && let Some(text) = note["Note_Content"].as_str()
        {
            note["Note_Content"] = json!(format!("{text}\n{marker}"));
        }
        let reply = wire::send(&cfg, "POST", "Notes", &[], Some(&json!({"data": [note]})))?;
        records::pushed(&reply.body)
    }

    fn push_deal(
        contact_id: String,
        write: WriteKey,
        record: CrmRecord,
    ) -> Result<Pushed, ConnectorError> {
        let cfg = Config::load()?;
        let known = match &record.id {
            Some(id) if deal_open(&cfg, id)? => Some(id.clone()),
            _ if write.retried => find_deal(&cfg, &write.key)?,
            _ => None,
        };
        if let Some(id) = known {
            let data = records::deal_update(&record);
            let path = format!("Deals/{}", records::checked_id(&id)?);
            let reply = wire::send(&cfg, "PUT", &path, &[], Some(&json!({"data": [data]})))?;
            return records::pushed(&reply.body);
        }
        let mut deal =
            records::deal_data(&cfg, &contact_id, &record, scrm_plugin_sdk::clock::now_ms())?;
        if let Some(field) = cfg
            .deal_key_field
            .as_deref()
            .filter(|_| !write.key.is_empty())
        {
            deal[field] = json!(write.key);
        }
        let reply = wire::send(&cfg, "POST", "Deals", &[], Some(&json!({"data": [deal]})))?;
        records::pushed(&reply.body)
    }

    fn read_contacts(ids: Vec<String>) -> Result<Vec<CrmRecord>, ConnectorError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let cfg = Config::load()?;
        for id in &ids {
            records::checked_id(id)?;
        }
        let path = format!(
            "{}?ids={}&fields={}",
            cfg.contacts_module,
            ids.join(","),
            records::contact_fields(&cfg)
        );
        let reply = wire::send(&cfg, "GET", &path, &[], None)?;
        Ok(reply.body["data"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|z| records::contact_record(&cfg, z))
            .collect())
    }

    fn read_deals(ids: Vec<String>) -> Result<Vec<CrmRecord>, ConnectorError> {
        let cfg = Config::load()?;
        let mut out = Vec::new();
        // One read per deal: the binding's request budget bounds a call to a few.
        for id in ids.iter().take(8) {
            let path = format!(
                "Deals/{}?fields=Deal_Name,Amount,Stage,Modified_Time",
                records::checked_id(id)?
            );
            let reply = match wire::send(&cfg, "GET", &path, &[], None) {
                Ok(r) => r,
                Err(ConnectorError::NotFound(_)) => continue,
                Err(e) => return Err(e),
            };
            if let Some(d) = reply.body["data"].as_array().and_then(|a| a.first()) {
                out.push(records::deal_record(d));
            }
        }
        Ok(out)
    }

    fn pull_changes(cursor: String) -> Result<Changes, ConnectorError> {
        let cfg = Config::load()?;
        let cursor = Cursor::decode(&cursor)?;
        let path = format!(
            "{}?fields={}&sort_by=Modified_Time&sort_order=asc&per_page={}&page={}",
            cfg.contacts_module,
            records::contact_fields(&cfg),
            cfg.page_size,
            cursor.page
        );
        let since = cursor.if_modified_since().map(when::format_iso);
        let headers: Vec<(&str, &str)> = since
            .iter()
            .map(|s| ("if-modified-since", s.as_str()))
            .collect();
        let reply = wire::send(&cfg, "GET", &path, &headers, None)?;
        let data = reply.body["data"].as_array().cloned().unwrap_or_default();
        if data.is_empty() {
            // 304 (nothing modified since) or 204 (no contacts at all).
            let next = Cursor { page: 1, ..cursor };
            return Ok(Changes {
                replies: Vec::new(),
                records: Vec::new(),
                next_cursor: next.encode(),
                more: false,
            });
        }
        let rows: Vec<(String, Option<i64>)> = data
            .iter()
            .map(|z| {
                let r = records::contact_record(&cfg, z);
                (
                    r.id.unwrap_or_default(),
                    r.updated_at.map(|ms| ms.div_euclid(1000)),
                )
            })
            .collect();
        let zoho_now = reply
            .date
            .unwrap_or_else(|| scrm_plugin_sdk::clock::now_ms().div_euclid(1000));
        let step = cursor.step(&rows, cfg.page_size, zoho_now);
        if let Some(second) = step.skipped {
            log::write(
                LogLevel::Warn,
                "more Zoho changes within one second than pages reach; skipped the rest of it",
                &[("modified_time", &when::format_iso(second))],
            );
        }
        let more_records = reply.body["info"]["more_records"]
            .as_bool()
            .unwrap_or(false);
        Ok(Changes {
            replies: Vec::new(),
            records: step
                .deliver
                .iter()
                .map(|&i| records::contact_record(&cfg, &data[i]))
                .collect(),
            next_cursor: step.next.encode(),
            more: step.progressed && more_records,
        })
    }

    fn parse_webhook(
        _headers: Vec<(String, String)>,
        body: Vec<u8>,
    ) -> Result<Vec<CrmRecord>, ConnectorError> {
        let cfg = Config::load()?;
        let ids = notify::changed_ids(&cfg, &body)?;
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        Self::read(&cfg, &ids)
    }
}

impl scrm_plugin_sdk::OrderLookup for Zoho {
    fn find_orders(
        _contact_id: String,
        _since: i64,
        _limit: u32,
    ) -> Result<Vec<scrm_plugin_sdk::OrderInfo>, ConnectorError> {
        Err(ConnectorError::Invalid(
            "Zoho CRM: this connector does not look up orders".into(),
        ))
    }
}

scrm_plugin_sdk::export_connector!(Zoho);

/// Whether deal `id` is still there and open.
fn deal_open(cfg: &Config, id: &str) -> Result<bool, ConnectorError> {
    let path = format!("Deals/{}?fields=Stage", records::checked_id(id)?);
    match wire::send(cfg, "GET", &path, &[], None) {
        Ok(reply) => Ok(reply.body["data"][0]["Stage"]
            .as_str()
            .is_some_and(|s| !records::closed_stage(s))),
        Err(ConnectorError::NotFound(_)) => Ok(false),
        Err(e) => Err(e),
    }
}

/// The open deal whose key field holds `key`, if there is one.
fn find_deal(cfg: &Config, key: &str) -> Result<Option<String>, ConnectorError> {
    let Some(field) = cfg.deal_key_field.as_deref().filter(|_| !key.is_empty()) else {
        return Ok(None);
    };
    let path = format!(
        "Deals/search?criteria={}&fields=Stage,{field}",
        records::equals_criteria(field, key)
    );
    let reply = wire::send(cfg, "GET", &path, &[], None)?;
    Ok(reply.body["data"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|d| {
            d["Stage"]
                .as_str()
                .is_some_and(|s| !records::closed_stage(s))
        })
        .and_then(|d| d["id"].as_str().map(str::to_owned)))
}
