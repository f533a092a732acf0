//! The local CRMs the connector checks run against, one per flavour of CRM API
//! ([`Flavour`]: HubSpot, Zoho, Salesforce, Tryton), and what they share: an
//! in-memory [`Store`] of contacts and notes, the credentials and requests it saw,
//! and a failure on demand answered in the flavour's own error shape.
//!
//! Each flavour module (`hubspot`, `zoho`, `salesforce`, `tryton`) implements
//! [`LocalCrm`]: its routes in that CRM's wire format, the configuration keys that
//! point its reference connector at it, how the host adds its credential, contacts
//! as sales would have them, a change as that CRM stamps it, a genuine and a forged
//! webhook delivery (when the CRM sends any) and its error answers. The checks in
//! `connector` only talk to this trait, so they are the same for every flavour.

use axum::Router;
use axum::http::HeaderMap;
use axum::response::Response;
use serde_json::{Map, Value};
use std::sync::{Arc, Mutex};

/// The CRM API a local CRM speaks (`scrm plugin test --crm`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Flavour {
    /// HubSpot CRM v3 objects and search, signed v3 webhooks.
    #[default]
    Hubspot,
    /// Zoho CRM REST v8 (upsert, `If-Modified-Since` lists, notification channels).
    Zoho,
    /// Salesforce REST (composite requests, SOQL, Outbound Messages).
    Salesforce,
    /// Tryton's REST API (`/{db}/rest/model/…`); sends no webhooks.
    Tryton,
}

impl Flavour {
    /// Every flavour, in the order the docs list them.
    pub const ALL: [Flavour; 4] = [
        Flavour::Hubspot,
        Flavour::Zoho,
        Flavour::Salesforce,
        Flavour::Tryton,
    ];

    /// Its name on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Flavour::Hubspot => "hubspot",
            Flavour::Zoho => "zoho",
            Flavour::Salesforce => "salesforce",
            Flavour::Tryton => "tryton",
        }
    }

    /// The flavour a component's name makes obvious (`zoho-connector` → Zoho).
    pub fn from_name(name: &str) -> Option<Flavour> {
        let name = name.to_ascii_lowercase();
        Flavour::ALL.into_iter().find(|f| name.contains(f.as_str()))
    }

    /// The local CRM of this flavour.
    pub(super) fn local(self) -> &'static dyn LocalCrm {
        match self {
            Flavour::Hubspot => &super::hubspot::Hubspot,
            Flavour::Zoho => &super::zoho::Zoho,
            Flavour::Salesforce => &super::salesforce::Salesforce,
            Flavour::Tryton => &super::tryton::Tryton,
        }
    }
}

impl std::fmt::Display for Flavour {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Flavour {
    type Err = String;

    fn from_str(s: &str) -> Result<Flavour, String> {
        Flavour::ALL
            .into_iter()
            .find(|f| f.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| {
                format!(
                    "unknown CRM {s:?}: the local CRMs speak {}",
                    Flavour::ALL.map(Flavour::as_str).join(", ")
                )
            })
    }
}

/// A webhook delivery: headers (lowercase) and body.
pub(super) type Delivery = (Vec<(String, String)>, Vec<u8>);

/// What a local CRM of one flavour is to the connector checks.
pub(super) trait LocalCrm: Send + Sync {
    /// Its flavour.
    fn flavour(&self) -> Flavour;
    /// Its routes over `store`.
    fn router(&self, store: Shared) -> Router;
    /// The configuration keys that point the reference connector at `url`, set
    /// over the caller's config; `webhook_key` is what deliveries are checked with.
    fn config(&self, url: &str, webhook_key: &str) -> Vec<(&'static str, Value)>;
    /// What goes before the token in the `authorization` header the host adds.
    fn auth_prefix(&self) -> &'static str;
    /// The id of the `n`th object of `kind` (`contacts`, `notes`).
    fn id(&self, kind: &str, n: u64) -> String;
    /// The properties of a contact sales entered, named as this CRM names them.
    fn contact(&self, first: &str, last: &str, phone: &str, email: &str) -> Map<String, Value>;
    /// A change sales make to a contact after a pull: its properties and the time
    /// this CRM stamps it with, given the time now.
    fn change(&self, now: i64) -> (Map<String, Value>, i64);
    /// A delivery about `contact` to `url`, signed with `key` (or forged when `key`
    /// is not the configured one); `None` when this CRM sends no webhooks.
    fn webhook(&self, url: &str, contact: &Object, key: &str) -> Option<Delivery>;
    /// This CRM's answer to a request it fails with `status` (its error body;
    /// `Retry-After` is added by the store).
    fn failure(&self, status: u16) -> Response;
}

/// One object of a local CRM.
#[derive(Debug, Clone)]
pub(super) struct Object {
    /// The CRM's id.
    pub id: String,
    /// `contacts` or `notes` (HubSpot: its object type).
    pub kind: String,
    /// Its properties, named as the CRM names them.
    pub props: Map<String, Value>,
    /// When it was created, Unix ms.
    pub created: i64,
    /// When it last changed, Unix ms.
    pub modified: i64,
    /// Whether it changed after it was created.
    pub written: bool,
}

/// The CRM's state, shared by its routes and the checks.
pub(super) struct Store {
    /// The flavour: ids and error answers.
    pub crm: &'static dyn LocalCrm,
    /// Every object, oldest first.
    pub objects: Vec<Object>,
    next_id: u64,
    /// What the next request answers instead: a status and its `Retry-After`.
    pub fail_next: Option<(u16, Option<String>)>,
    /// The `authorization` headers requests came with.
    pub auth: Vec<String>,
    /// Requests served, `METHOD /path`.
    pub requests: Vec<String>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("crm", &self.crm.flavour())
            .field("objects", &self.objects.len())
            .field("requests", &self.requests.len())
            .finish()
    }
}

/// A store behind its lock.
pub(super) type Shared = Arc<Mutex<Store>>;

impl Store {
    /// An empty store of `crm`.
    pub fn new(crm: &'static dyn LocalCrm) -> Store {
        Store {
            crm,
            objects: Vec::new(),
            next_id: 0,
            fail_next: None,
            auth: Vec::new(),
            requests: Vec::new(),
        }
    }

    /// Adds an object of `kind` created at `at`; its id.
    pub fn add(&mut self, kind: &str, props: Map<String, Value>, at: i64) -> String {
        self.next_id += 1;
        let id = self.crm.id(kind, self.next_id);
        self.objects.push(Object {
            id: id.clone(),
            kind: kind.into(),
            props,
            created: at,
            modified: at,
            written: false,
        });
        id
    }

    /// Sets `props` on object `id`, changed at `at`; whether it exists.
    pub fn touch(&mut self, id: &str, props: &Map<String, Value>, at: i64) -> bool {
        let Some(o) = self.objects.iter_mut().find(|o| o.id == id) else {
            return false;
        };
        o.props.extend(props.clone());
        o.modified = at;
        o.written = true;
        true
    }

    /// The object `id` of `kind`.
    pub fn get(&self, kind: &str, id: &str) -> Option<&Object> {
        self.objects.iter().find(|o| o.kind == kind && o.id == id)
    }

    /// The objects of `kind`.
    pub fn of(&self, kind: &str) -> Vec<&Object> {
        self.objects.iter().filter(|o| o.kind == kind).collect()
    }
}

/// Locks the store, whoever panicked holding it.
pub(super) fn lock(store: &Shared) -> std::sync::MutexGuard<'_, Store> {
    store.lock().unwrap_or_else(|p| p.into_inner())
}

/// Notes a request; the failure it must answer, if one is due.
pub(super) fn arrive(
    store: &Shared,
    method: &str,
    path: &str,
    headers: &HeaderMap,
) -> Option<Response> {
    let mut s = lock(store);
    s.requests.push(format!("{method} {path}"));
    if let Some(auth) = headers.get("authorization").and_then(|v| v.to_str().ok()) {
        s.auth.push(auth.to_string());
    }
    let (status, retry_after) = s.fail_next.take()?;
    let mut resp = s.crm.failure(status);
    if let Some(v) = retry_after.and_then(|r| r.parse().ok()) {
        resp.headers_mut().insert("retry-after", v);
    }
    Some(resp)
}

/// A JSON answer with `status`.
pub(super) fn json(status: u16, body: Value) -> Response {
    use axum::response::IntoResponse as _;
    let status = axum::http::StatusCode::from_u16(status)
        .unwrap_or(axum::http::StatusCode::INTERNAL_SERVER_ERROR);
    (status, axum::Json(body)).into_response()
}

/// The query parameters of `uri`, decoded, in order.
pub(super) fn query(uri: &axum::http::Uri) -> Vec<(String, String)> {
    url::form_urlencoded::parse(uri.query().unwrap_or_default().as_bytes())
        .into_owned()
        .collect()
}

/// Unix ms as `2025-06-08T20:59:43.000Z` (HubSpot, Salesforce's SOAP).
pub(super) fn iso(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flavours_parse_by_name_and_refuse_others_naming_the_choices() {
        assert_eq!("Zoho".parse::<Flavour>(), Ok(Flavour::Zoho));
        assert_eq!("salesforce".parse::<Flavour>(), Ok(Flavour::Salesforce));
        let e = "pipedrive".parse::<Flavour>().unwrap_err();
        assert!(e.contains("hubspot, zoho, salesforce, tryton"), "{e}");
        assert_eq!(
            Flavour::from_name("tryton_connector"),
            Some(Flavour::Tryton)
        );
        assert_eq!(Flavour::from_name("keyword-classifier"), None);
    }
}
