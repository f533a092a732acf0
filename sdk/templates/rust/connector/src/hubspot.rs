//! HubSpot's side: the configuration, one request with its status mapped onto the
//! contract, contacts as CRM records and back, and the pull cursor. Another CRM
//! changes this file (and `webhook.rs`), not the contract's calls in `lib.rs`.

use scrm_plugin_sdk::http::{self, Response};
use scrm_plugin_sdk::{ConnectorError, CrmRecord, Field, FieldValue, Pushed};
use serde::Deserialize;
use serde_json::{Map, Value, json};

/// The contact properties read on pulls, webhooks and reads.
pub const PROPERTIES: [&str; 5] = ["firstname", "lastname", "phone", "email", "lastmodifieddate"];

/// The binding's configuration, TOML or JSON; every key optional.
#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// HubSpot's API; paths `/crm/v3/…` are added to it.
    pub base_url: String,
    /// Contacts per pull page, 1–200.
    pub page_size: u32,
    /// Changes younger than this are left for the next pull: HubSpot's search
    /// index shows a write a few seconds late, and a change indexed after the
    /// cursor passed its time would never be read.
    pub pull_settle_ms: u32,
    /// The custom note property holding the host's key of a write.
    pub key_property: String,
    /// The tenant secret webhooks are signed with (its name); unset: refused.
    pub webhook_secret: Option<String>,
    /// The public URL HubSpot posts webhooks to, as configured in the app.
    pub webhook_url: Option<String>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            base_url: "https://api.hubapi.com".into(),
            page_size: 100,
            pull_settle_ms: 5_000,
            key_property: "scrm_key".into(),
            webhook_secret: None,
            webhook_url: None,
        }
    }
}

impl Config {
    /// Parses and checks `raw` (empty: all defaults).
    ///
    /// # Errors
    /// A message naming the key that is wrong.
    pub fn parse(raw: &[u8]) -> Result<Config, String> {
        let cfg: Config = scrm_plugin_sdk::config::parse_bytes(raw)?.unwrap_or_default();
        if !cfg.base_url.starts_with("https://") && !cfg.base_url.starts_with("http://") {
            return Err(format!("base_url {:?} must be a URL", cfg.base_url));
        }
        if !(1..=200).contains(&cfg.page_size) {
            return Err(format!("page_size {} must be 1-200", cfg.page_size));
        }
        Ok(cfg)
    }
}

/// Sends `method path` with a JSON body; HubSpot's answer as JSON.
///
/// # Errors
/// The contract's variant for HubSpot's status ([`check`]), `unavailable` when
/// HubSpot cannot be reached, `invalid` when the binding's HTTP policy refuses it.
pub fn call(
    cfg: &Config,
    method: &str,
    path: &str,
    body: Option<&Value>,
) -> Result<Value, ConnectorError> {
    let url = format!("{}{path}", cfg.base_url.trim_end_matches('/'));
    let raw = body.map(|b| b.to_string().into_bytes());
    let headers = [
        ("accept", "application/json"),
        ("content-type", "application/json"),
    ];
    let resp = http::request(method, &url, &headers, raw.as_deref()).map_err(|e| match e {
        http::HttpError::Refused(code) if code == "http-request-denied" => ConnectorError::Invalid(
            format!("{method} {path}: refused by the binding's HTTP policy"),
        ),
        other => ConnectorError::Unavailable(format!("{method} {path}: {other:?}")),
    })?;
    check(method, path, &resp)
}

/// HubSpot's status as the contract's variants: 401/403 unauthorized, 404
/// not-found, 429 rate-limited (for `Retry-After` seconds, else 10), other 4xx
/// invalid, 5xx unavailable.
///
/// # Errors
/// As above, with HubSpot's message.
pub fn check(method: &str, path: &str, resp: &Response) -> Result<Value, ConnectorError> {
    let body: Value = serde_json::from_slice(&resp.body).unwrap_or(Value::Null);
    let why = || {
        let message = body["message"].as_str().unwrap_or("");
        format!("{method} {path}: HTTP {} {message}", resp.status)
    };
    match resp.status {
        200..=299 => Ok(body),
        401 | 403 => Err(ConnectorError::Unauthorized(why())),
        404 => Err(ConnectorError::NotFound(why())),
        429 => {
            let retry_after = resp
                .headers
                .iter()
                .find(|(k, _)| k == "retry-after")
                .and_then(|(_, v)| std::str::from_utf8(v).ok()?.trim().parse().ok());
            Err(ConnectorError::RateLimited(retry_after.unwrap_or(10)))
        }
        400..=499 => Err(ConnectorError::Invalid(why())),
        _ => Err(ConnectorError::Unavailable(why())),
    }
}

/// A HubSpot object id (digits), safe in a path.
///
/// # Errors
/// `invalid` for anything else.
pub fn object_id(id: &str) -> Result<&str, ConnectorError> {
    if !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()) {
        Ok(id)
    } else {
        Err(ConnectorError::Invalid(format!("{id:?} is not a HubSpot id")))
    }
}

/// The record's field `name` as text, when it has some.
pub fn text_field<'r>(record: &'r CrmRecord, name: &str) -> Option<&'r str> {
    record.fields.iter().find_map(|f| match &f.value {
        FieldValue::Text(t) if f.name == name && !t.trim().is_empty() => Some(t.as_str()),
        _ => None,
    })
}

/// The HubSpot properties of a contact record (`name`, `phone`, `email`): the
/// name's first word is the first name, the rest the last name. Empty fields are
/// left out, so that a contact the host knows less about keeps what HubSpot has.
pub fn contact_properties(record: &CrmRecord) -> Value {
    let mut props = Map::new();
    if let Some(name) = text_field(record, "name") {
        let (first, last) = name.trim().split_once(' ').unwrap_or((name.trim(), ""));
        props.insert("firstname".into(), json!(first));
        props.insert("lastname".into(), json!(last.trim()));
    }
    for key in ["phone", "email"] {
        if let Some(v) = text_field(record, key) {
            props.insert(key.into(), json!(v));
        }
    }
    Value::Object(props)
}

/// A HubSpot contact as the host's record (`name`, `phone`, `email`).
pub fn record(object: &Value) -> Option<CrmRecord> {
    let p = &object["properties"];
    let prop = |k: &str| p[k].as_str().map(str::trim).filter(|s| !s.is_empty());
    let name = [prop("firstname"), prop("lastname")]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" ");
    let mut fields = Vec::new();
    for (key, value) in [
        ("name", Some(name.as_str()).filter(|n| !n.is_empty())),
        ("phone", prop("phone")),
        ("email", prop("email")),
    ] {
        if let Some(v) = value {
            fields.push(Field {
                name: key.into(),
                value: FieldValue::Text(v.to_string()),
            });
        }
    }
    Some(CrmRecord {
        object: "contact".into(),
        id: Some(object["id"].as_str()?.to_string()),
        fields,
        updated_at: modified(object),
    })
}

/// When HubSpot last changed the object, Unix ms.
pub fn modified(object: &Value) -> Option<i64> {
    let p = &object["properties"];
    p["lastmodifieddate"]
        .as_str()
        .or(p["hs_lastmodifieddate"].as_str())
        .or(object["updatedAt"].as_str())
        .and_then(parse_ms)
}

/// The id and change time of an object HubSpot wrote.
///
/// # Errors
/// `failed` when the answer has no id.
pub fn pushed(object: &Value) -> Result<Pushed, ConnectorError> {
    let id = object["id"]
        .as_str()
        .ok_or_else(|| ConnectorError::Failed(format!("HubSpot answered no id: {object}")))?;
    Ok(Pushed {
        id: id.to_string(),
        updated_at: modified(object),
    })
}

/// HubSpot's `2025-06-08T20:59:43.123Z` (or a number of ms) as Unix ms.
pub fn parse_ms(s: &str) -> Option<i64> {
    if let Ok(ms) = s.parse() {
        return Some(ms);
    }
    let n = |r: std::ops::Range<usize>| s.get(r)?.parse::<i64>().ok();
    let (y, m, d) = (n(0..4)?, n(5..7)?, n(8..10)?);
    let secs = n(11..13)? * 3600 + n(14..16)? * 60 + n(17..19)?;
    let frac = s.get(19..).unwrap_or("").trim_start_matches('.');
    let digits: String = frac.chars().take_while(char::is_ascii_digit).collect();
    let ms = format!("{digits:0<3}")[..3].parse::<i64>().ok()?;
    // Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * ((m + 9) % 12) + 2) / 5 + d - 1;
    let days = era * 146_097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719_468;
    Some((days * 86_400 + secs) * 1000 + ms)
}

/// Where a pull starts: the change time of the newest contact read, and the ids
/// read at exactly that time (a page can end among contacts changed in the same
/// millisecond). Text: `MS` or `MS:ID,ID`; empty: from the start.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Cursor {
    pub at: i64,
    pub ids: Vec<String>,
}

impl Cursor {
    /// # Errors
    /// `invalid` for text that is not a cursor of this connector.
    pub fn parse(s: &str) -> Result<Cursor, ConnectorError> {
        if s.is_empty() {
            return Ok(Cursor::default());
        }
        let (at, ids) = s.split_once(':').unwrap_or((s, ""));
        let at = at
            .parse()
            .map_err(|_| ConnectorError::Invalid(format!("{s:?} is not a pull cursor")))?;
        let ids = ids.split(',').filter(|i| !i.is_empty()).map(str::to_owned);
        Ok(Cursor {
            at,
            ids: ids.collect(),
        })
    }

    /// The search for contacts changed from the cursor up to `until`, oldest first.
    pub fn search(&self, until: i64, limit: u32) -> Value {
        let mut filters = vec![json!({"propertyName": "lastmodifieddate", "operator": "LTE",
                                      "value": until.to_string()})];
        if self.at > 0 {
            filters.push(json!({"propertyName": "lastmodifieddate", "operator": "GTE",
                                "value": self.at.to_string()}));
        }
        json!({"filterGroups": [{"filters": filters}], "properties": PROPERTIES, "limit": limit,
               "sorts": [{"propertyName": "lastmodifieddate", "direction": "ASCENDING"}]})
    }

    /// The records of a page of search `results` not read before, and the cursor
    /// after them.
    pub fn advance(&self, results: &[Value]) -> (Vec<CrmRecord>, Cursor) {
        let mut next = self.clone();
        let mut records = Vec::new();
        for object in results {
            let (Some(at), Some(record)) = (modified(object), record(object)) else {
                continue;
            };
            let id = record.id.clone().unwrap_or_default();
            if at == self.at && self.ids.contains(&id) {
                continue;
            }
            if at > next.at {
                next = Cursor {
                    at,
                    ids: Vec::new(),
                };
            }
            next.ids.push(id);
            records.push(record);
        }
        (records, next)
    }
}

impl std::fmt::Display for Cursor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.at, self.ids.join(","))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resp(status: u16, headers: &[(&str, &str)]) -> Response {
        Response {
            status,
            headers: headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.as_bytes().to_vec()))
                .collect(),
            body: br#"{"status":"error","message":"no"}"#.to_vec(),
        }
    }

    #[test]
    fn hubspot_answers_become_the_contracts_records_and_errors() {
        let err = |s, h: &[(&str, &str)]| check("POST", "/x", &resp(s, h)).unwrap_err();
        assert!(matches!(err(401, &[]), ConnectorError::Unauthorized(_)));
        assert!(matches!(err(403, &[]), ConnectorError::Unauthorized(_)));
        assert!(matches!(err(400, &[]), ConnectorError::Invalid(_)));
        assert!(matches!(err(503, &[]), ConnectorError::Unavailable(_)));
        assert!(matches!(
            err(429, &[("retry-after", "7")]),
            ConnectorError::RateLimited(7)
        ));
        let contact = json!({"id": "1001", "properties": {"firstname": "Ada", "lastname": "Lee",
            "phone": "+16505550200", "lastmodifieddate": "2019-10-30T03:30:17.883Z"}});
        let r = record(&contact).unwrap();
        assert_eq!(r.updated_at, Some(1_572_406_217_883));
        assert_eq!(text_field(&r, "name"), Some("Ada Lee"));
        let (read, next) = Cursor::default().advance(&[contact]);
        assert_eq!((read.len(), next.to_string().as_str()), (1, "1572406217883:1001"));
        assert_eq!(Cursor::parse(&next.to_string()).unwrap(), next);
    }
}
