//! Writes that a retry or a later signal must not repeat: Tasks (messages),
//! Opportunities (sales signals) and Cases (service requests).
//!
//! Each carries the host's key in `key_field` (`Scrm_Key__c`, a text field the
//! operator creates on Activity, Opportunity and Case). A retried write — whose
//! first answer may have been lost after Salesforce stored it — looks its key up
//! with SOQL before creating anything; a first attempt cannot have written anything
//! yet and does not spend a request on it. An Opportunity or Case the host
//! remembers is updated while it is open; once closed (won, lost, resolved) the next
//! signal opens a new one.

use crate::api::Api;
use crate::{
    Config, checked_id, clip, datetime, json_value, last_body, pushed, soql, text_field,
    timestamp_field,
};
use scrm_plugin_sdk::{ConnectorError, CrmRecord, FieldValue, Pushed, WriteKey};
use serde_json::{Map, Value, json};

/// The Salesforce object a signal record is written to: `Case` for the mapper's
/// `case` records, `Opportunity` for everything else.
fn object_of(record: &CrmRecord) -> &'static str {
    if record.object.eq_ignore_ascii_case("case") {
        "Case"
    } else {
        "Opportunity"
    }
}

/// The id of the `object` record (an open one, for Opportunities and Cases) whose
/// key field holds `key`, if the org has one.
fn find(
    cfg: &Config,
    api: &Api,
    object: &str,
    key: &str,
) -> Result<Option<String>, ConnectorError> {
    if cfg.key_field.is_empty() || key.is_empty() {
        return Ok(None);
    }
    let open = if object == "Task" {
        ""
    } else {
        " AND IsClosed = false"
    };
    let q = format!(
        "SELECT Id FROM {object} WHERE {} = {}{open} LIMIT 1",
        cfg.key_field,
        soql::string(key)
    );
    let found = api.send(
        &format!("find {object} by key"),
        "GET",
        &format!("{}/query?q={}", api.base_path(), soql::url_encode(&q)),
        None,
        &[],
    )?;
    Ok(found["records"][0]["Id"].as_str().map(str::to_owned))
}

/// Is `object` record `id` still there and open?
fn is_open(api: &Api, object: &str, id: &str) -> Result<bool, ConnectorError> {
    let id = checked_id(id, object)?;
    match api.send(
        &format!("read {object}"),
        "GET",
        &format!(
            "{}/sobjects/{object}/{id}?fields=Id,IsClosed",
            api.base_path()
        ),
        None,
        &[],
    ) {
        Ok(rec) => Ok(rec["IsClosed"] != json!(true)),
        Err(ConnectorError::NotFound(_)) => Ok(false),
        Err(e) => Err(e),
    }
}

/// Logs a message as a completed Task on the Contact, unless a retry finds the Task
/// with its key (written by an attempt whose answer was lost).
pub(crate) fn push_task(
    cfg: &Config,
    contact_id: &str,
    write: &WriteKey,
    record: &CrmRecord,
) -> Result<Pushed, ConnectorError> {
    let api = Api::new(cfg);
    let contact = checked_id(contact_id, "Contact")?;
    let text = text_field(record, "text")
        .ok_or_else(|| ConnectorError::Invalid("the note has no text field".into()))?;
    if write.retried
        && let Some(id) = find(cfg, &api, "Task", &write.key)?
    {
        return Ok(Pushed {
            id,
            updated_at: None,
        });
    }
    let at = timestamp_field(record, "timestamp").unwrap_or_else(scrm_plugin_sdk::clock::now_ms);
    let subject = match text_field(record, "direction") {
        Some(d) => format!("{} ({d})", cfg.task_subject),
        None => cfg.task_subject.clone(),
    };
    let mut task = json!({
        "Subject": clip(&subject, 255),
        "Description": clip(text, 32_000),
        "WhoId": contact,
        "ActivityDate": datetime::date(at),
        "Status": cfg.task_status,
        "Priority": "Normal",
        "TaskSubtype": "Task",
    });
    if !cfg.key_field.is_empty() {
        task[&cfg.key_field] = json!(clip(&write.key, 255));
    }
    let base = api.base_path();
    let results = api.composite(
        "create Task",
        vec![
            json!({"method": "POST", "referenceId": "refTask", "body": task,
                   "url": format!("{base}/sobjects/Task")}),
            json!({"method": "GET", "referenceId": "refTaskRead",
                   "url": format!("{base}/sobjects/Task/@{{refTask.id}}?fields=Id,LastModifiedDate")}),
        ],
    )?;
    pushed("create Task", &last_body(&results))
}

/// The product line of a signal: `name (SKU)`, the name or the SKU.
fn product(record: &CrmRecord) -> Option<String> {
    match (text_field(record, "product"), text_field(record, "sku")) {
        (Some(name), Some(sku)) if name != sku => Some(format!("{name} ({sku})")),
        (Some(p), _) | (None, Some(p)) => Some(p.to_string()),
        (None, None) => None,
    }
}

/// The description: the product, the message and its tags.
fn description(record: &CrmRecord) -> String {
    let mut d = String::new();
    if let Some(p) = product(record) {
        d.push_str(&format!("Product: {p}\n"));
    }
    d.push_str(text_field(record, "message").unwrap_or_default());
    if let Some(tags) = text_field(record, "tags") {
        d.push_str(&format!("\n\nWhatsApp tags: {tags}"));
    }
    clip(d.trim(), 32_000)
}

/// A Case priority (High, Medium, Low) for the mapper's priority value.
fn case_priority(p: &str) -> String {
    match p.to_ascii_lowercase().as_str() {
        "low" => "Low".into(),
        "normal" | "medium" => "Medium".into(),
        "high" | "urgent" => "High".into(),
        _ => p.to_string(),
    }
}

/// The fields every write of the record sets (creates and updates).
fn body(cfg: &Config, object: &str, record: &CrmRecord) -> Map<String, Value> {
    let mut b = Map::new();
    let name = text_field(record, "name");
    b.insert("Description".into(), json!(description(record)));
    if object == "Case" {
        b.insert(
            "Subject".into(),
            json!(clip(name.unwrap_or("WhatsApp service request"), 255)),
        );
        if let Some(t) = text_field(record, "type") {
            b.insert("Type".into(), json!(clip(t, 255)));
        }
        if let Some(p) = text_field(record, "priority") {
            b.insert("Priority".into(), json!(case_priority(p)));
        }
        return b;
    }
    b.insert(
        "Name".into(),
        json!(clip(name.unwrap_or("WhatsApp opportunity"), 120)),
    );
    for f in &record.fields {
        if let Some(target) = cfg.opportunity_fields.get(&f.name) {
            let v = json_value(&f.value);
            if !v.is_null() && v != json!("") {
                b.insert(target.clone(), v);
            }
        }
    }
    b
}

/// Opens or updates the Opportunity (or Case) of a signal: the open one the host
/// remembers, else on a retry the open one with its key, else a new one with its
/// key — an Opportunity with the Contact as its primary contact role, a Case on the
/// Contact — in one all-or-none composite request.
pub(crate) fn push_signal(
    cfg: &Config,
    contact_id: &str,
    write: &WriteKey,
    record: &CrmRecord,
) -> Result<Pushed, ConnectorError> {
    let api = Api::new(cfg);
    let contact = checked_id(contact_id, "Contact")?;
    let object = object_of(record);
    let base = api.base_path();
    let mut b = body(cfg, object, record);
    let known = match &record.id {
        Some(id) if is_open(&api, object, id)? => Some(id.clone()),
        _ if write.retried => find(cfg, &api, object, &write.key)?,
        _ => None,
    };
    let what = format!("update {object}");
    if let Some(id) = known {
        let id = checked_id(&id, object)?;
        let results = api.composite(
            &what,
            vec![
                json!({"method": "PATCH", "referenceId": "refRec", "body": b,
                       "url": format!("{base}/sobjects/{object}/{id}")}),
                json!({"method": "GET", "referenceId": "refRead",
                       "url": format!("{base}/sobjects/{object}/{id}?fields=Id,LastModifiedDate")}),
            ],
        )?;
        return pushed(&what, &last_body(&results));
    }
    if !cfg.key_field.is_empty() && !write.key.is_empty() {
        b.insert(cfg.key_field.clone(), json!(clip(&write.key, 255)));
    }
    let mut calls = Vec::new();
    if object == "Case" {
        b.insert("ContactId".into(), json!(contact));
        b.insert("Status".into(), json!(cfg.case_status));
        if !cfg.case_origin.is_empty() {
            b.insert("Origin".into(), json!(cfg.case_origin));
        }
    } else {
        b.entry("StageName")
            .or_insert_with(|| json!(cfg.opportunity_stage));
        let close =
            scrm_plugin_sdk::clock::now_ms() + i64::from(cfg.opportunity_close_days) * 86_400_000;
        b.insert("CloseDate".into(), json!(datetime::date(close)));
        if !cfg.lead_source.is_empty() {
            b.insert("LeadSource".into(), json!(cfg.lead_source));
        }
    }
    calls.push(json!({"method": "POST", "referenceId": "refRec", "body": b,
                      "url": format!("{base}/sobjects/{object}")}));
    if object == "Opportunity" {
        let mut role =
            json!({"OpportunityId": "@{refRec.id}", "ContactId": contact, "IsPrimary": true});
        if !cfg.contact_role.is_empty() {
            role["Role"] = json!(cfg.contact_role);
        }
        calls.push(
            json!({"method": "POST", "referenceId": "refRole", "body": role,
                          "url": format!("{base}/sobjects/OpportunityContactRole")}),
        );
    }
    calls.push(json!({"method": "GET", "referenceId": "refRead",
                      "url": format!("{base}/sobjects/{object}/@{{refRec.id}}?fields=Id,LastModifiedDate")}));
    let what = format!("create {object}");
    let results = api.composite(&what, calls)?;
    pushed(&what, &last_body(&results))
}

/// Opportunities by id (checked ids), `Name` and the `opportunity_fields` read back
/// under the record's field names (`name`, `amount`, `stage`).
pub(crate) fn read_opportunities(
    cfg: &Config,
    ids: &[String],
) -> Result<Vec<CrmRecord>, ConnectorError> {
    let api = Api::new(cfg);
    let mut select = vec![
        "Id".to_string(),
        "Name".to_string(),
        "LastModifiedDate".to_string(),
    ];
    let wanted: Vec<(&String, &String)> = cfg
        .opportunity_fields
        .iter()
        .filter(|(f, _)| ["amount", "stage"].contains(&f.as_str()))
        .collect();
    for (_, sf) in &wanted {
        if !select.iter().any(|s| s.eq_ignore_ascii_case(sf)) {
            select.push((*sf).clone());
        }
    }
    let quoted: Vec<String> = ids.iter().map(|id| soql::string(id)).collect();
    let q = format!(
        "SELECT {} FROM Opportunity WHERE Id IN ({})",
        select.join(", "),
        quoted.join(", ")
    );
    let page = api.send(
        "read Opportunities",
        "GET",
        &format!("{}/query?q={}", api.base_path(), soql::url_encode(&q)),
        None,
        &[],
    )?;
    let value = |v: &Value| match v {
        Value::String(s) if !s.is_empty() => FieldValue::Text(s.clone()),
        Value::Number(n) => n.as_f64().map_or(FieldValue::Empty, FieldValue::Number),
        _ => FieldValue::Empty,
    };
    let mut out = Vec::new();
    for row in page["records"].as_array().into_iter().flatten() {
        let mut fields = vec![scrm_plugin_sdk::Field {
            name: "name".into(),
            value: value(&row["Name"]),
        }];
        for (f, sf) in &wanted {
            fields.push(scrm_plugin_sdk::Field {
                name: (*f).clone(),
                value: value(&row[sf.as_str()]),
            });
        }
        out.push(CrmRecord {
            object: "deal".into(),
            id: row["Id"].as_str().map(str::to_owned),
            fields,
            updated_at: row["LastModifiedDate"]
                .as_str()
                .and_then(datetime::parse_ms),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use scrm_plugin_sdk::{Field, FieldValue};

    fn rec(object: &str, fields: &[(&str, FieldValue)]) -> CrmRecord {
        CrmRecord {
            object: object.into(),
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

    fn t(s: &str) -> FieldValue {
        FieldValue::Text(s.into())
    }

    #[test]
    fn an_opportunity_gets_name_product_amount_and_stage() {
        let cfg = Config::default();
        let r = rec(
            "deal",
            &[
                ("name", t("WhatsApp: Mario — iPhone15 Pro Max")),
                ("message", t("Quanto costa?")),
                ("sku", t("APL-IP15PM")),
                ("product", t("iPhone15 Pro Max")),
                ("amount", FieldValue::Number(1499.0)),
                ("stage", t("Negotiation/Review")),
                ("tags", t("price-inquiry")),
            ],
        );
        assert_eq!(object_of(&r), "Opportunity");
        let b = body(&cfg, "Opportunity", &r);
        assert_eq!(b["Name"], "WhatsApp: Mario — iPhone15 Pro Max");
        assert_eq!(b["Amount"], 1499.0);
        assert_eq!(b["StageName"], "Negotiation/Review");
        assert_eq!(
            b["Description"],
            "Product: iPhone15 Pro Max (APL-IP15PM)\nQuanto costa?\n\nWhatsApp tags: price-inquiry"
        );
    }

    #[test]
    fn a_case_gets_subject_type_and_a_salesforce_priority() {
        let cfg = Config::default();
        let r = rec(
            "case",
            &[
                ("name", t("WhatsApp: Mario — Complaint")),
                ("message", t("Faccio reclamo")),
                ("type", t("Complaint")),
                ("priority", t("urgent")),
            ],
        );
        assert_eq!(object_of(&r), "Case");
        let b = body(&cfg, "Case", &r);
        assert_eq!(b["Subject"], "WhatsApp: Mario — Complaint");
        assert_eq!(b["Type"], "Complaint");
        assert_eq!(b["Priority"], "High");
        assert!(b.get("Name").is_none() && b.get("Amount").is_none());
        assert_eq!(case_priority("normal"), "Medium");
        assert_eq!(case_priority("Critical"), "Critical");
    }
}
