//! A geocoder for scrm speaking the [Google Maps Geocoding API]
//! (`GET /maps/api/geocode/json?address=…&components=country:IT&key=…`).
//!
//! Given a CRM record whose address has a street or city but no postcode, it asks
//! Google for the address and fills the postcode **only** when Google names exactly
//! one place, as a full (not partial) match, with a `postal_code` component in the
//! record's country. Anything else — no result, several, a partial match, a postcode
//! prefix only — leaves the record as it is: a postcode is never guessed.
//!
//! Configuration (TOML or JSON, all optional):
//!
//! ```toml
//! base_url = "https://maps.googleapis.com"
//! street = "address"        # the record's field names
//! city = "city"
//! region = "state"
//! postcode = "zip"
//! country = "country"       # ISO 3166 code or name
//! default_country = "IT"    # used when the record has no country
//! language = "it"           # the language of Google's answer ("" = Google's choice)
//! ```
//!
//! The API key is never in the config: the operator stores it as a tenant secret and
//! lists it in the binding's HTTP policy as a query credential (`"query": "key"`), so
//! the host adds `key=…` to each request.
//!
//! [Google Maps Geocoding API]: https://developers.google.com/maps/documentation/geocoding/requests-geocoding

use scrm_plugin_sdk::http::encode_component;
use scrm_plugin_sdk::{CrmRecord, Field, FieldValue, GeocodeError, Geocoder};
use serde::Deserialize;
use serde_json::Value;

/// The configuration (see the crate docs).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Google's base URL.
    pub base_url: String,
    /// Field names in the record.
    pub street: String,
    /// City field.
    pub city: String,
    /// Region / state field.
    pub region: String,
    /// Postcode field (the one filled).
    pub postcode: String,
    /// Country field.
    pub country: String,
    /// The country used when the record has none (ISO 3166-1 alpha-2).
    pub default_country: String,
    /// Answer language.
    pub language: String,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            base_url: "https://maps.googleapis.com".into(),
            street: "address".into(),
            city: "city".into(),
            region: "state".into(),
            postcode: "zip".into(),
            country: "country".into(),
            default_country: String::new(),
            language: String::new(),
        }
    }
}

fn config() -> Result<Config, GeocodeError> {
    let cfg = scrm_plugin_sdk::config::parse::<Config>()
        .map_err(|e| GeocodeError::InvalidConfig(format!("geocoder config: {e}")))?
        .unwrap_or_default();
    if !(cfg.base_url.starts_with("https://") || cfg.base_url.starts_with("http://")) {
        return Err(GeocodeError::InvalidConfig(format!(
            "geocoder config: base_url {:?} must be an http(s) URL",
            cfg.base_url
        )));
    }
    Ok(cfg)
}

fn text<'a>(r: &'a CrmRecord, name: &str) -> Option<&'a str> {
    r.fields
        .iter()
        .find(|f| f.name == name)
        .and_then(|f| match &f.value {
            FieldValue::Text(t) if !t.trim().is_empty() => Some(t.trim()),
            _ => None,
        })
}

/// The request path for the record's address, or none when there is nothing to
/// look up (a postcode already, or no street and no city).
pub fn lookup_path(cfg: &Config, r: &CrmRecord) -> Option<(String, Option<String>)> {
    if text(r, &cfg.postcode).is_some() {
        return None;
    }
    let (street, city) = (text(r, &cfg.street), text(r, &cfg.city));
    if street.is_none() && city.is_none() {
        return None;
    }
    let country = text(r, &cfg.country)
        .map(str::to_string)
        .or_else(|| (!cfg.default_country.is_empty()).then(|| cfg.default_country.clone()));
    let address: Vec<&str> = [street, city, text(r, &cfg.region), country.as_deref()]
        .into_iter()
        .flatten()
        .collect();
    let mut path = format!(
        "/maps/api/geocode/json?address={}",
        encode_component(&address.join(", "))
    );
    let code = country
        .clone()
        .filter(|c| c.len() == 2 && c.chars().all(|ch| ch.is_ascii_alphabetic()))
        .map(|c| c.to_ascii_uppercase());
    if let Some(c) = &code {
        path.push_str(&format!("&components=country:{c}"));
    }
    if !cfg.language.is_empty() {
        path.push_str(&format!("&language={}", encode_component(&cfg.language)));
    }
    Some((path, code))
}

/// The postcode Google's answer states for one unambiguous place in `country`.
///
/// # Errors
/// Google's refusals and failures, by its `status`.
pub fn postcode_of(answer: &Value, country: Option<&str>) -> Result<Option<String>, GeocodeError> {
    let status = answer["status"].as_str().unwrap_or("");
    let why = answer["error_message"]
        .as_str()
        .unwrap_or(status)
        .to_string();
    match status {
        "OK" => {}
        "ZERO_RESULTS" => return Ok(None),
        "OVER_DAILY_LIMIT" | "OVER_QUERY_LIMIT" | "UNKNOWN_ERROR" => {
            return Err(GeocodeError::Unavailable(format!("{status}: {why}")));
        }
        "REQUEST_DENIED" => return Err(GeocodeError::Refused(why)),
        _ => return Err(GeocodeError::Failed(format!("{status}: {why}"))),
    }
    let results = answer["results"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    let [only] = results else {
        return Ok(None); // none, or several places: not ours to choose
    };
    if only["partial_match"] == true {
        return Ok(None);
    }
    let component = |kind: &str| {
        only["address_components"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|c| {
                c["types"]
                    .as_array()
                    .is_some_and(|t| t.iter().any(|x| x == kind))
            })
    };
    if let (Some(want), Some(c)) = (country, component("country"))
        && !c["short_name"]
            .as_str()
            .is_some_and(|s| s.eq_ignore_ascii_case(want))
    {
        return Ok(None);
    }
    Ok(component("postal_code")
        .and_then(|c| c["long_name"].as_str())
        .map(str::to_string))
}

/// How long an address Google could not place is not asked again, ms.
const MISS_TTL_MS: i64 = 30 * 86_400_000;

/// The exported geocoder.
#[derive(Debug)]
pub struct Google;

impl Geocoder for Google {
    fn complete(record: CrmRecord) -> Result<Option<CrmRecord>, GeocodeError> {
        let cfg = config()?;
        let Some((path, country)) = lookup_path(&cfg, &record) else {
            return Ok(None);
        };
        // An address Google could not place is not asked again for a while (each
        // write of the contact would ask otherwise).
        let miss = format!("miss:{path}");
        let now = scrm_plugin_sdk::clock::now_ms();
        let missed = scrm_plugin_sdk::kv::get(&miss)
            .ok()
            .flatten()
            .and_then(|v| String::from_utf8(v).ok()?.parse::<i64>().ok())
            .is_some_and(|at| now - at < MISS_TTL_MS);
        if missed {
            return Ok(None);
        }
        let url = format!("{}{path}", cfg.base_url.trim_end_matches('/'));
        let resp =
            scrm_plugin_sdk::http::request("GET", &url, &[("accept", "application/json")], None)
                .map_err(|e| GeocodeError::Unavailable(format!("geocoding request: {e:?}")))?;
        if resp.status >= 500 {
            return Err(GeocodeError::Unavailable(format!(
                "geocoding: HTTP {}",
                resp.status
            )));
        }
        let answer: Value = serde_json::from_slice(&resp.body).map_err(|e| {
            GeocodeError::Failed(format!(
                "geocoding: HTTP {} answer is not JSON: {e}",
                resp.status
            ))
        })?;
        let Some(postcode) = postcode_of(&answer, country.as_deref())? else {
            let _ = scrm_plugin_sdk::kv::set(&miss, now.to_string().as_bytes());
            return Ok(None);
        };
        let mut out = record;
        match out.fields.iter_mut().find(|f| f.name == cfg.postcode) {
            Some(f) => f.value = FieldValue::Text(postcode),
            None => out.fields.push(Field {
                name: cfg.postcode.clone(),
                value: FieldValue::Text(postcode),
            }),
        }
        Ok(Some(out))
    }
}

scrm_plugin_sdk::export_geocoder!(Google);

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rec(fields: &[(&str, &str)]) -> CrmRecord {
        CrmRecord {
            object: "contact".into(),
            id: None,
            fields: fields
                .iter()
                .map(|(n, v)| Field {
                    name: (*n).into(),
                    value: FieldValue::Text((*v).into()),
                })
                .collect(),
            updated_at: None,
        }
    }

    fn place(postcode: Option<&str>, country: &str, partial: bool) -> Value {
        let mut comps = vec![
            json!({"long_name": "Milano", "short_name": "MI", "types": ["locality", "political"]}),
            json!({"long_name": "Italy", "short_name": country, "types": ["country", "political"]}),
        ];
        if let Some(p) = postcode {
            comps.push(json!({"long_name": p, "short_name": p, "types": ["postal_code"]}));
        }
        let mut r = json!({"address_components": comps, "formatted_address": "…", "types": ["street_address"]});
        if partial {
            r["partial_match"] = json!(true);
        }
        r
    }

    #[test]
    fn only_an_address_without_postcode_is_looked_up() {
        let cfg = Config::default();
        assert!(lookup_path(&cfg, &rec(&[("zip", "20121"), ("city", "Milano")])).is_none());
        assert!(lookup_path(&cfg, &rec(&[("country", "IT")])).is_none());
        let (path, country) = lookup_path(
            &cfg,
            &rec(&[
                ("address", "Via Dante 7"),
                ("city", "Milano"),
                ("country", "it"),
            ]),
        )
        .unwrap();
        assert_eq!(
            path,
            "/maps/api/geocode/json?address=Via%20Dante%207%2C%20Milano%2C%20it&components=country:IT"
        );
        assert_eq!(country.as_deref(), Some("IT"));
    }

    #[test]
    fn a_postcode_is_taken_from_one_full_match_only() {
        let ok = |results: Vec<Value>| json!({"status": "OK", "results": results});
        assert_eq!(
            postcode_of(&ok(vec![place(Some("20121"), "IT", false)]), Some("IT"))
                .unwrap()
                .as_deref(),
            Some("20121")
        );
        assert_eq!(
            postcode_of(&ok(vec![place(Some("20121"), "IT", true)]), Some("IT")).unwrap(),
            None,
            "partial match"
        );
        assert_eq!(
            postcode_of(
                &ok(vec![
                    place(Some("20121"), "IT", false),
                    place(Some("20122"), "IT", false)
                ]),
                None
            )
            .unwrap(),
            None,
            "two places"
        );
        assert_eq!(
            postcode_of(&ok(vec![place(None, "IT", false)]), None).unwrap(),
            None,
            "no postcode"
        );
        assert_eq!(
            postcode_of(&ok(vec![place(Some("20121"), "CH", false)]), Some("IT")).unwrap(),
            None,
            "another country"
        );
        assert_eq!(
            postcode_of(&json!({"status": "ZERO_RESULTS", "results": []}), None).unwrap(),
            None
        );
        assert!(
            matches!(postcode_of(&json!({"status": "REQUEST_DENIED", "error_message": "The provided API key is invalid."}), None), Err(GeocodeError::Refused(m)) if m.contains("invalid"))
        );
        assert!(matches!(
            postcode_of(&json!({"status": "OVER_QUERY_LIMIT"}), None),
            Err(GeocodeError::Unavailable(_))
        ));
    }
}
