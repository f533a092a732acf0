//! A local Zoho CRM (REST API v8) for the end-to-end tests of the Zoho connector.
//!
//! [`Zoho::start`] serves, on `127.0.0.1:0`, exactly the part of Zoho's API the
//! connector uses, over an in-memory org, in Zoho's wire format (shapes from Zoho's
//! OpenAPI files, `github.com/zoho/crm-oas` `v8.0/record.json`, `notes.json`,
//! `notifications.json`, and the v8 API pages):
//!
//! | request | answer |
//! |---|---|
//! | `POST /crm/v8/Contacts/upsert` `{"data":[…],"duplicate_check_fields":[…]}` | 200 `{"data":[{"code":"SUCCESS","duplicate_field","action":"insert"\|"update","details":{"Modified_Time","Modified_By","Created_Time","id","Created_By"},"message","status":"success"}]}` |
//! | `PUT /crm/v8/Contacts/{id}` `{"data":[{…}]}` | 200 `… "message":"record updated"`; an unknown id: 400 `INVALID_DATA` "the id given seems to be invalid" |
//! | `GET /crm/v8/Contacts?fields=…[&ids=…][&sort_by&sort_order&page&per_page]` (+ `If-Modified-Since`) | 200 `{"data":[…],"info":{"per_page","count","page","sort_by","sort_order","more_records",…}}`; 204 when there are none; 304 when none changed since |
//! | `POST /crm/v8/Notes` `{"data":[{"Note_Title","Note_Content","Parent_Id":{"module":{"api_name"},"id"}}]}` | 201 `… "message":"record added"` |
//! | `POST /crm/v8/Deals` `{"data":[{"Deal_Name","Stage","Closing_Date","Contact_Name":{"id"},…}]}` | 201 `… "message":"record added"` |
//!
//! - **Auth:** `Authorization: Zoho-oauthtoken <token>` with a token the server
//!   accepts ([`ACCESS_TOKEN`]); a missing header or another scheme gets 401
//!   `AUTHENTICATION_FAILURE`, an unknown token 401 `INVALID_TOKEN`.
//! - **Strict bodies:** unknown fields, wrong types, values past Zoho's lengths, a
//!   `duplicate_check_fields` entry that is not a unique field, a missing `Last_Name`
//!   on insert (`MANDATORY_NOT_FOUND`), notes without `Parent_Id` or on a record that
//!   does not exist: 400 with Zoho's error items
//!   (`{"code":"INVALID_DATA","details":{"api_name","json_path",…},"message","status":"error"}`).
//! - **Times:** `Modified_Time` and friends have whole seconds and the org's UTC
//!   offset (+05:30 unless [`Zoho::set_offset_minutes`]); `If-Modified-Since` returns
//!   records modified strictly after it. Every write stamps the record with the
//!   current second, so tests that need a later `Modified_Time` wait for the next
//!   second ([`next_second`]).
//! - **Faults:** a fixed-window rate limit ([`Zoho::set_rate_limit`]) answering 429
//!   `{"code":"TOO_MANY_REQUESTS","details":{"retry_after","limit","window"},…}`, and
//!   a switch that answers every request with a 5xx ([`Zoho::fail_with`]).
//! - **For tests:** every request is recorded with its answer's status
//!   ([`Zoho::requests`]); the org can be read ([`Zoho::contacts_by_phone`],
//!   [`Zoho::notes_of`], [`Zoho::deals`]) and changed as sales would
//!   ([`Zoho::create_contact`], [`Zoho::edit_contact`], [`Zoho::delete_contact`]),
//!   tokens expire ([`Zoho::revoke_token`]); [`Zoho::notification`] builds
//!   the body Zoho posts to a notification channel's `notify_url`.
//!
//! ```no_run
//! # async fn demo() {
//! use scrm_e2e::zoho::Zoho;
//! let zoho = Zoho::start().await;
//! let id = zoho.create_contact(Some("Mario"), "Rossi", Some("+393471234567"));
//! zoho.edit_contact(&id, |c| c.last_name = "Bianchi".into());
//! let body = zoho.notification(&[&id], "update", "my-channel-token");
//! # }
//! ```

use crate::serve;
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The API version in paths.
pub const VERSION: &str = "v8";
/// The OAuth access token every [`Zoho`] accepts.
pub const ACCESS_TOKEN: &str = "1000.5c2a0scrmtest0123456789abcdef.0123456789abcdefscrmtest";
/// The channel id [`Zoho::notification`] puts in notifications.
pub const CHANNEL_ID: &str = "1000000068001";

/// The `Stage` picklist of the standard Deals layout.
pub const STAGES: &[&str] = &[
    "Qualification",
    "Needs Analysis",
    "Value Proposition",
    "Identify Decision Makers",
    "Proposal/Price Quote",
    "Negotiation/Review",
    "Closed Won",
    "Closed Lost",
    "Closed Lost to Competition",
];

/// Keys the upsert body may have besides `data`.
const UPSERT_KEYS: &[&str] = &[
    "data",
    "duplicate_check_fields",
    "trigger",
    "lar_id",
    "wf_trigger",
    "process",
    "apply_feature_execution",
    "skip_feature_execution",
];

/// Query parameters of `GET /{module}` this server knows.
const LIST_PARAMS: &[&str] = &[
    "fields",
    "ids",
    "sort_by",
    "sort_order",
    "page",
    "per_page",
    "page_token",
    "cvid",
    "approved",
    "converted",
    "territory_id",
    "include_child",
    "uid",
];

/// Ids unique across every [`Zoho`] of the process, shaped like Zoho's.
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

fn next_id() -> String {
    (5_725_767_000_000_000_000u64 + NEXT_ID.fetch_add(1, Ordering::Relaxed)).to_string()
}

/// The user every record is created and modified by.
fn user() -> Value {
    json!({"name": "Patricia Boyle", "id": "5725767000000411001", "email": "patricia.boyle@zylker.com"})
}

fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(0))
}

/// Sleeps until the wall clock enters a new second (so the next write gets a later
/// `Modified_Time` than the previous one).
pub async fn next_second() {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let rest = 1_000 - u64::from(now.subsec_millis());
    tokio::time::sleep(Duration::from_millis(rest + 20)).await;
}

/// A contact of the org.
#[derive(Debug, Clone, PartialEq)]
pub struct Contact {
    /// Zoho's id.
    pub id: String,
    /// `First_Name`.
    pub first_name: Option<String>,
    /// `Last_Name` (mandatory).
    pub last_name: String,
    /// `Mobile`.
    pub mobile: Option<String>,
    /// `Phone`.
    pub phone: Option<String>,
    /// `Email`.
    pub email: Option<String>,
    /// `Description`.
    pub description: Option<String>,
    /// Custom fields ([`Zoho::add_contact_field`]).
    pub custom: BTreeMap<String, Value>,
    /// `Created_Time`, Unix seconds.
    pub created: i64,
    /// `Modified_Time`, Unix seconds.
    pub modified: i64,
}

impl Contact {
    /// `Full_Name` as Zoho computes it.
    pub fn full_name(&self) -> String {
        match &self.first_name {
            Some(f) if !f.is_empty() => format!("{f} {}", self.last_name),
            _ => self.last_name.clone(),
        }
    }

    fn get(&self, field: &str) -> Option<Value> {
        Some(match field {
            "First_Name" => json!(self.first_name),
            "Last_Name" => json!(self.last_name),
            "Mobile" => json!(self.mobile),
            "Phone" => json!(self.phone),
            "Email" => json!(self.email),
            "Description" => json!(self.description),
            other => self.custom.get(other).cloned().unwrap_or(Value::Null),
        })
    }

    fn set(&mut self, field: &str, v: &Value) {
        let text = v.as_str().map(str::to_owned);
        match field {
            "First_Name" => self.first_name = text,
            "Last_Name" => self.last_name = text.unwrap_or_default(),
            "Mobile" => self.mobile = text,
            "Phone" => self.phone = text,
            "Email" => self.email = text,
            "Description" => self.description = text,
            other => {
                self.custom.insert(other.to_string(), v.clone());
            }
        }
    }
}

/// A note of the org.
#[derive(Debug, Clone, PartialEq)]
pub struct Note {
    /// Zoho's id.
    pub id: String,
    /// `Parent_Id.module.api_name`.
    pub parent_module: String,
    /// `Parent_Id.id`.
    pub parent_id: String,
    /// `Note_Title`.
    pub title: Option<String>,
    /// `Note_Content`.
    pub content: Option<String>,
    /// `Created_Time`, Unix seconds.
    pub created: i64,
}

/// A deal of the org.
#[derive(Debug, Clone, PartialEq)]
pub struct Deal {
    /// Zoho's id.
    pub id: String,
    /// `Deal_Name`.
    pub name: String,
    /// `Stage`.
    pub stage: String,
    /// `Closing_Date`, `YYYY-MM-DD`.
    pub closing_date: String,
    /// `Contact_Name.id`.
    pub contact_id: Option<String>,
    /// `Amount`.
    pub amount: Option<f64>,
    /// `Description`.
    pub description: Option<String>,
    /// `Scrm_Key`, the single-line custom field the connector's setup asks for.
    pub key: Option<String>,
    /// `Created_Time`, Unix seconds.
    pub created: i64,
    /// `Modified_Time`, Unix seconds.
    pub modified: i64,
}

/// One request the server received, with the status it answered.
#[derive(Debug, Clone)]
pub struct Recorded {
    /// When it arrived.
    pub at: Instant,
    /// HTTP method.
    pub method: Method,
    /// Path, without the query.
    pub path: String,
    /// Query string, if any.
    pub query: Option<String>,
    /// Request headers.
    pub headers: HeaderMap,
    /// The body, when it was JSON.
    pub body: Option<Value>,
    /// The status answered.
    pub status: u16,
}

impl Recorded {
    /// A header's value as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

#[derive(Debug)]
struct RateLimit {
    limit: u32,
    window: Duration,
    started: Instant,
    used: u32,
}

#[derive(Debug)]
struct Inner {
    tokens: Vec<String>,
    /// The accounts server's token endpoint, once tokens are issued.
    issuer: Option<crate::oauth::Issuer>,
    offset_minutes: i32,
    unique: Vec<String>,
    custom_fields: Vec<String>,
    contacts: BTreeMap<String, Contact>,
    notes: Vec<Note>,
    deals: Vec<Deal>,
    requests: Vec<Recorded>,
    rate: Option<RateLimit>,
    fail: Option<u16>,
    lose_answers: u32,
    throttled: u64,
    failed: u64,
}

type Shared = serve::Shared<Inner>;

/// A running local Zoho CRM; stops when dropped.
#[derive(Debug)]
pub struct Zoho {
    shared: Arc<Shared>,
    server: serve::Running,
}

impl Zoho {
    /// Starts a server on `127.0.0.1:0` that accepts [`ACCESS_TOKEN`], with `Email`
    /// (Zoho's duplicate check field of Contacts) and `Mobile` (marked "do not allow
    /// duplicate values", as the connector's setup asks) unique.
    ///
    /// # Panics
    /// When it cannot bind a loopback port.
    pub async fn start() -> Zoho {
        let listener = serve::Listener::loopback().await;
        let shared = Arc::new(Shared::new(
            listener.addr(),
            Inner {
                tokens: vec![ACCESS_TOKEN.to_string()],
                issuer: None,
                offset_minutes: 330,
                unique: vec!["Email".into(), "Mobile".into()],
                custom_fields: Vec::new(),
                contacts: BTreeMap::new(),
                notes: Vec::new(),
                deals: Vec::new(),
                requests: Vec::new(),
                rate: None,
                fail: None,
                lose_answers: 0,
                throttled: 0,
                failed: 0,
            },
        ));
        let app = axum::Router::new()
            .fallback(handle)
            .with_state(shared.clone());
        let server = listener.serve(app);
        Zoho { shared, server }
    }

    /// `http://127.0.0.1:PORT`: the API domain (paths start with `/crm/v8/`).
    pub fn base(&self) -> String {
        self.shared.base()
    }

    /// The server's address.
    pub fn addr(&self) -> SocketAddr {
        self.server.addr
    }

    /// Serves Zoho Accounts' token endpoint ([`Zoho::token_url`]) for one client
    /// (`client_id`, `client_secret`, `refresh_token`), issuing access tokens that
    /// expire after `lifetime` (Zoho's is an hour), and stops accepting
    /// [`ACCESS_TOKEN`].
    pub fn issue_tokens(&self, client: (&str, &str, &str), lifetime: Duration) {
        let mut s = self.shared.lock();
        let base = self.shared.base();
        s.issuer = Some(crate::oauth::Issuer::new(
            crate::oauth::Dialect::Zoho,
            client,
            lifetime,
            base,
        ));
        s.tokens.retain(|t| t != ACCESS_TOKEN);
    }

    /// `http://127.0.0.1:PORT/oauth/v2/token`.
    pub fn token_url(&self) -> String {
        format!("{}/oauth/v2/token", self.shared.base())
    }

    /// Access tokens issued so far.
    pub fn tokens_issued(&self) -> usize {
        self.shared.lock().issuer.as_ref().map_or(0, |i| i.issued())
    }

    /// Every issued access token expires now.
    pub fn expire_issued_tokens(&self) {
        if let Some(i) = self.shared.lock().issuer.as_mut() {
            i.expire_all();
        }
    }

    /// The client's refresh token is revoked.
    pub fn revoke_refresh_token(&self) {
        if let Some(i) = self.shared.lock().issuer.as_mut() {
            i.revoke_refresh_token();
        }
    }

    /// A sales person moves deal `id` to `stage` (e.g. `Closed Won`).
    pub fn sales_set_deal_stage(&self, id: &str, stage: &str) {
        let mut s = self.shared.lock();
        let d = s
            .deals
            .iter_mut()
            .find(|d| d.id == id)
            .expect("no such deal");
        d.stage = stage.to_string();
        d.modified = now_secs();
    }

    /// Carries out the next `n` deal or note creations but answers them `504` (the
    /// answer lost on the way back).
    pub fn lose_deal_answers(&self, n: u32) {
        self.shared.lock().lose_answers = n;
    }

    /// Also accept `token`.
    pub fn accept_token(&self, token: &str) {
        self.shared.lock().tokens.push(token.to_string());
    }

    /// Stop accepting `token` (as when it expires after its hour).
    pub fn revoke_token(&self, token: &str) {
        self.shared.lock().tokens.retain(|t| t != token);
    }

    /// The org's UTC offset in minutes, used in every datetime it writes.
    pub fn set_offset_minutes(&self, minutes: i32) {
        self.shared.lock().offset_minutes = minutes;
    }

    /// Adds a custom text field to Contacts (e.g. `Customer_Level`).
    pub fn add_contact_field(&self, api_name: &str) {
        self.shared.lock().custom_fields.push(api_name.to_string());
    }

    /// Marks a Contacts field unique ("do not allow duplicate values") or not.
    pub fn set_unique(&self, api_name: &str, unique: bool) {
        let mut inner = self.shared.lock();
        inner.unique.retain(|f| f != api_name);
        if unique {
            inner.unique.push(api_name.to_string());
        }
    }

    /// Allows `requests` requests per `window` (a fixed window starting now); more
    /// get Zoho's 429. Throttled requests do not count.
    pub fn set_rate_limit(&self, requests: u32, window: Duration) {
        self.shared.lock().rate = Some(RateLimit {
            limit: requests,
            window,
            started: Instant::now(),
            used: 0,
        });
    }

    /// Removes the rate limit.
    pub fn clear_rate_limit(&self) {
        self.shared.lock().rate = None;
    }

    /// Answers every request with this 5xx (`INTERNAL_ERROR`) until set to `None`.
    pub fn fail_with(&self, status: Option<u16>) {
        self.shared.lock().fail = status;
    }

    /// Every request so far, in arrival order.
    pub fn requests(&self) -> Vec<Recorded> {
        self.shared.lock().requests.clone()
    }

    /// How many requests arrived so far.
    pub fn request_count(&self) -> usize {
        self.shared.lock().requests.len()
    }

    /// How many requests got a 429.
    pub fn throttled(&self) -> u64 {
        self.shared.lock().throttled
    }

    /// How many requests got the [`Zoho::fail_with`] status.
    pub fn failed(&self) -> u64 {
        self.shared.lock().failed
    }

    /// Every contact, by id.
    pub fn contacts(&self) -> Vec<Contact> {
        self.shared.lock().contacts.values().cloned().collect()
    }

    /// The contact `id`.
    pub fn contact(&self, id: &str) -> Option<Contact> {
        self.shared.lock().contacts.get(id).cloned()
    }

    /// The contacts whose `Mobile` or `Phone` is `phone`.
    pub fn contacts_by_phone(&self, phone: &str) -> Vec<Contact> {
        self.shared
            .lock()
            .contacts
            .values()
            .filter(|c| c.mobile.as_deref() == Some(phone) || c.phone.as_deref() == Some(phone))
            .cloned()
            .collect()
    }

    /// The notes on contact `id`, oldest first.
    pub fn notes_of(&self, id: &str) -> Vec<Note> {
        self.shared
            .lock()
            .notes
            .iter()
            .filter(|n| n.parent_module == "Contacts" && n.parent_id == id)
            .cloned()
            .collect()
    }

    /// Every deal, oldest first.
    pub fn deals(&self) -> Vec<Deal> {
        self.shared.lock().deals.clone()
    }

    /// Sales creates a contact in Zoho's UI; its id.
    pub fn create_contact(&self, first: Option<&str>, last: &str, mobile: Option<&str>) -> String {
        let now = now_secs();
        let id = next_id();
        self.shared.lock().contacts.insert(
            id.clone(),
            Contact {
                id: id.clone(),
                first_name: first.map(str::to_owned),
                last_name: last.to_string(),
                mobile: mobile.map(str::to_owned),
                phone: None,
                email: None,
                description: None,
                custom: BTreeMap::new(),
                created: now,
                modified: now,
            },
        );
        id
    }

    /// Sales edits contact `id` in Zoho's UI: `edit` changes it and `Modified_Time`
    /// becomes now; the new `Modified_Time`, Unix seconds.
    ///
    /// # Panics
    /// When there is no such contact.
    pub fn edit_contact(&self, id: &str, edit: impl FnOnce(&mut Contact)) -> i64 {
        let mut inner = self.shared.lock();
        let c = inner.contacts.get_mut(id).expect("no such Zoho contact");
        edit(c);
        c.modified = now_secs();
        c.modified
    }

    /// Sales deletes contact `id` (to the recycle bin): it is gone from the API.
    pub fn delete_contact(&self, id: &str) -> Option<Contact> {
        self.shared.lock().contacts.remove(id)
    }

    /// The body Zoho posts to a notification channel's `notify_url` when `operation`
    /// (`insert`, `update`, `delete`) happened to the Contacts `ids`, with the
    /// channel's verification `token`.
    pub fn notification(&self, ids: &[&str], operation: &str, token: &str) -> Value {
        let server_time = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis());
        json!({
            "server_time": u64::try_from(server_time).unwrap_or(0),
            "query_params": {},
            "module": "Contacts",
            "resource_uri": format!("{}/crm/{VERSION}/Contacts", self.base()),
            "ids": ids,
            "affected_fields": [],
            "operation": operation,
            "channel_id": CHANNEL_ID,
            "token": token,
        })
    }
}

// ---------------------------------------------------------------------------------
// Dates
// ---------------------------------------------------------------------------------

/// Days since 1970-01-01 of a civil date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The civil date of a day count since 1970-01-01.
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (
        if m <= 2 {
            yoe + era * 400 + 1
        } else {
            yoe + era * 400
        },
        m,
        d,
    )
}

/// Unix seconds as Zoho writes datetimes, in the org's offset:
/// `2025-11-25T21:07:56+05:30`.
pub fn format_datetime(secs: i64, offset_minutes: i32) -> String {
    let local = secs + i64::from(offset_minutes) * 60;
    let (y, m, d) = civil_from_days(local.div_euclid(86_400));
    let t = local.rem_euclid(86_400);
    let sign = if offset_minutes < 0 { '-' } else { '+' };
    let off = offset_minutes.unsigned_abs();
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}{sign}{:02}:{:02}",
        t / 3600,
        t % 3600 / 60,
        t % 60,
        off / 60,
        off % 60
    )
}

/// Unix seconds of an ISO 8601 datetime with an offset or `Z` (fractions dropped).
pub fn parse_datetime(s: &str) -> Option<i64> {
    let s = s.trim();
    let n = |r: std::ops::Range<usize>| s.get(r)?.parse::<i64>().ok();
    let b = s.as_bytes();
    if b.len() < 20
        || b[4] != b'-'
        || b[7] != b'-'
        || b[10] != b'T'
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let (y, mo, d, h, mi, se) = (
        n(0..4)?,
        n(5..7)?,
        n(8..10)?,
        n(11..13)?,
        n(14..16)?,
        n(17..19)?,
    );
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || se > 60 {
        return None;
    }
    let mut rest = &s[19..];
    if let Some(frac) = rest.strip_prefix('.') {
        rest = frac.trim_start_matches(|c: char| c.is_ascii_digit());
    }
    let offset = if rest == "Z" {
        0
    } else {
        let sign = match rest.as_bytes().first()? {
            b'+' => 1,
            b'-' => -1,
            _ => return None,
        };
        let (oh, om) = rest.get(1..)?.split_once(':')?;
        sign * (oh.parse::<i64>().ok()? * 60 + om.parse::<i64>().ok()?)
    };
    Some(days_from_civil(y, mo, d) * 86_400 + h * 3600 + mi * 60 + se - offset * 60)
}

fn valid_date(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && parse_datetime(&format!("{s}T00:00:00Z")).is_some_and(|t| {
            let (y, m, d) = civil_from_days(t.div_euclid(86_400));
            format!("{y:04}-{m:02}-{d:02}") == s
        })
}

// ---------------------------------------------------------------------------------
// Answers
// ---------------------------------------------------------------------------------

/// A top-level error: `{"code","details","message","status":"error"}`.
fn error(status: StatusCode, code: &str, message: &str, details: Value) -> Response {
    (
        status,
        axum::Json(
            json!({"code": code, "details": details, "message": message, "status": "error"}),
        ),
    )
        .into_response()
}

/// A record-level error item.
fn item(code: &str, message: &str, details: Value) -> Value {
    json!({"code": code, "details": details, "message": message, "status": "error"})
}

/// The item of a required field that is missing (or empty).
fn mandatory(api_name: &str, path: &str) -> Value {
    item(
        "MANDATORY_NOT_FOUND",
        "required field not found",
        json!({"api_name": api_name, "json_path": path}),
    )
}

fn invalid(api_name: &str, path: &str, extra: Value) -> Value {
    let mut details = json!({"api_name": api_name, "json_path": path});
    if let (Some(d), Some(e)) = (details.as_object_mut(), extra.as_object()) {
        d.extend(e.clone());
    }
    item("INVALID_DATA", "invalid data", details)
}

/// Record `i` of a write's `data`, which must be a JSON object.
fn record_object(rec: &Value, i: usize) -> Result<&Map<String, Value>, Value> {
    rec.as_object().ok_or_else(|| {
        invalid(
            "data",
            &format!("$.data[{i}]"),
            json!({"expected_data_type": "jsonobject"}),
        )
    })
}

/// `{"data": items}` with 200/201 when all succeeded, 400 when all failed, 207 when
/// mixed.
fn data_answer(ok: StatusCode, items: Vec<Value>) -> Response {
    let errors = items.iter().filter(|i| i["status"] == "error").count();
    let status = if errors == 0 {
        ok
    } else if errors == items.len() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::MULTI_STATUS
    };
    (status, axum::Json(json!({"data": items}))).into_response()
}

fn success(message: &str, id: &str, created: i64, modified: i64, offset: i32) -> Value {
    json!({
        "code": "SUCCESS",
        "details": {
            "Modified_Time": format_datetime(modified, offset),
            "Modified_By": {"name": "Patricia Boyle", "id": "5725767000000411001"},
            "Created_Time": format_datetime(created, offset),
            "id": id,
            "Created_By": {"name": "Patricia Boyle", "id": "5725767000000411001"},
        },
        "message": message,
        "status": "success",
    })
}

fn invalid_body() -> Response {
    error(
        StatusCode::BAD_REQUEST,
        "INVALID_DATA",
        "body",
        json!({"expected_data_type": "jsonobject"}),
    )
}

// ---------------------------------------------------------------------------------
// Routing
// ---------------------------------------------------------------------------------

/// Every request lands here: answered, then recorded with its status.
async fn handle(
    axum::extract::State(shared): axum::extract::State<Arc<Shared>>,
    req: axum::extract::Request,
) -> Response {
    let at = Instant::now();
    let (parts, body) = req.into_parts();
    let bytes = axum::body::to_bytes(body, 16 << 20)
        .await
        .unwrap_or_default();
    let json: Option<Value> = serde_json::from_slice(&bytes).ok();
    let resp = {
        let mut inner = shared.lock();
        let resp = route(&mut inner, &parts, &bytes, json.as_ref());
        if parts.method == Method::POST
            && (parts.uri.path().ends_with("/Deals") || parts.uri.path().ends_with("/Notes"))
            && resp.status() == StatusCode::CREATED
            && inner.lose_answers > 0
        {
            // Written, but the answer is lost on the way back (a gateway timeout).
            inner.lose_answers -= 1;
            error(
                StatusCode::GATEWAY_TIMEOUT,
                "GATEWAY_TIMEOUT",
                "upstream timed out",
                json!({}),
            )
        } else {
            resp
        }
    };
    shared.lock().requests.push(Recorded {
        at,
        method: parts.method.clone(),
        path: parts.uri.path().to_string(),
        query: parts.uri.query().map(str::to_string),
        headers: parts.headers.clone(),
        body: json,
        status: resp.status().as_u16(),
    });
    resp
}

fn route(
    inner: &mut Inner,
    parts: &axum::http::request::Parts,
    bytes: &[u8],
    json: Option<&Value>,
) -> Response {
    if parts.uri.path() == "/oauth/v2/token"
        && parts.method == Method::POST
        && let Some(issuer) = inner.issuer.as_mut()
    {
        let (status, body) = issuer.grant(&crate::oauth::params(parts.uri.query(), bytes));
        let mut r = axum::Json(body).into_response();
        *r.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
        return r;
    }
    if let Some(resp) = authenticate(inner, &parts.headers) {
        return resp;
    }
    if let Some(status) = inner.fail {
        inner.failed += 1;
        return error(
            StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            "INTERNAL_ERROR",
            "Internal Server Error",
            json!({}),
        );
    }
    if let Some(resp) = throttle(inner) {
        return resp;
    }
    let path = parts.uri.path();
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let ["crm", version, rest @ ..] = segments.as_slice() else {
        return url_error();
    };
    if *version != VERSION {
        return url_error();
    }
    let method = &parts.method;
    let body = || json.filter(|_| !bytes.is_empty());
    match (method, rest) {
        (&Method::POST, ["Contacts", "upsert"]) => match body() {
            Some(b) => upsert(inner, b),
            None => invalid_body(),
        },
        (&Method::PUT, ["Contacts", id]) => match body() {
            Some(b) => update(inner, id, b),
            None => invalid_body(),
        },
        (&Method::GET, ["Contacts"]) => list(inner, parts.uri.query(), &parts.headers),
        (&Method::POST, ["Notes"]) => match body() {
            Some(b) => create_notes(inner, b),
            None => invalid_body(),
        },
        (&Method::POST, ["Deals"]) => match body() {
            Some(b) => create_deals(inner, b),
            None => invalid_body(),
        },
        (&Method::GET, ["Deals", "search"]) => search_deals(inner, parts.uri.query()),
        (&Method::GET, ["Contacts", id, "Notes"]) => notes_of_contact(inner, id),
        (&Method::GET, ["Deals", id]) => get_deal(inner, id),
        (&Method::PUT, ["Deals", id]) => match body() {
            Some(b) => update_deal(inner, id, b),
            None => invalid_body(),
        },
        (
            _,
            ["Contacts", "upsert"]
            | ["Contacts", _]
            | ["Contacts"]
            | ["Notes"]
            | ["Deals"]
            | ["Deals", _],
        ) => error(
            StatusCode::BAD_REQUEST,
            "INVALID_REQUEST_METHOD",
            "The http request method type is not a valid one",
            json!({}),
        ),
        (_, [module, ..]) if !module.is_empty() => error(
            StatusCode::BAD_REQUEST,
            "INVALID_MODULE",
            "the module name given seems to be invalid",
            json!({"resource_path_index": 0}),
        ),
        _ => url_error(),
    }
}

fn url_error() -> Response {
    error(
        StatusCode::NOT_FOUND,
        "INVALID_URL_PATTERN",
        "Please check if the URL trying to access is a correct one",
        json!({}),
    )
}

fn authenticate(inner: &Inner, headers: &HeaderMap) -> Option<Response> {
    let value = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let Some(token) = value.and_then(|v| v.strip_prefix("Zoho-oauthtoken ")) else {
        return Some(error(
            StatusCode::UNAUTHORIZED,
            "AUTHENTICATION_FAILURE",
            "Authentication failed",
            json!({}),
        ));
    };
    let token = token.trim();
    if inner.tokens.iter().any(|t| t == token)
        || inner.issuer.as_ref().is_some_and(|i| i.valid(token))
    {
        None
    } else {
        Some(error(
            StatusCode::UNAUTHORIZED,
            "INVALID_TOKEN",
            "invalid oauth token",
            json!({}),
        ))
    }
}

fn throttle(inner: &mut Inner) -> Option<Response> {
    let rate = inner.rate.as_mut()?;
    let now = Instant::now();
    if now.duration_since(rate.started) >= rate.window {
        rate.started = now;
        rate.used = 0;
    }
    if rate.used < rate.limit {
        rate.used += 1;
        return None;
    }
    let left = rate.window.saturating_sub(now.duration_since(rate.started));
    let retry_after = left.as_secs_f64().ceil().max(1.0) as u64;
    let (limit, window) = (rate.limit, rate.window.as_secs().max(1));
    inner.throttled += 1;
    Some(error(
        StatusCode::TOO_MANY_REQUESTS,
        "TOO_MANY_REQUESTS",
        "Rate limit exceeded. Please retry after the specified time.",
        json!({"retry_after": retry_after, "limit": limit, "window": window}),
    ))
}

// ---------------------------------------------------------------------------------
// Contacts
// ---------------------------------------------------------------------------------

/// Checks one Contacts record of a write: its fields, typed. `id` is allowed when
/// `id_allowed`.
fn check_contact(
    inner: &Inner,
    rec: &Value,
    i: usize,
    id_allowed: bool,
) -> Result<Map<String, Value>, Value> {
    let obj = record_object(rec, i)?;
    for (k, v) in obj {
        let path = format!("$.data[{i}].{k}");
        let text = |max: usize, kind: &str| -> Result<(), Value> {
            match v {
                Value::Null => Ok(()),
                Value::String(s) if s.chars().count() > max => {
                    Err(invalid(k, &path, json!({"maximum_length": max})))
                }
                Value::String(_) => Ok(()),
                _ => Err(invalid(k, &path, json!({"expected_data_type": kind}))),
            }
        };
        match k.as_str() {
            "id" if id_allowed => {
                if !v
                    .as_str()
                    .is_some_and(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
                {
                    return Err(invalid(
                        "id",
                        &path,
                        json!({"expected_data_type": "bigint"}),
                    ));
                }
            }
            "First_Name" => text(40, "text")?,
            "Last_Name" => {
                if v.is_null() || v.as_str().is_some_and(|s| s.trim().is_empty()) {
                    return Err(mandatory("Last_Name", &path));
                }
                text(80, "text")?;
            }
            "Mobile" | "Phone" => {
                text(30, "phone")?;
                if let Some(s) = v.as_str()
                    && !s
                        .chars()
                        .all(|c| c.is_ascii_digit() || "+-() .".contains(c))
                {
                    return Err(invalid(k, &path, json!({"expected_data_type": "phone"})));
                }
            }
            "Email" => {
                text(100, "email")?;
                if v.as_str().is_some_and(|s| !s.contains('@')) {
                    return Err(invalid(k, &path, json!({"expected_data_type": "email"})));
                }
            }
            "Description" => text(32_000, "textarea")?,
            // A standard field of the address block; kept with the custom ones.
            "Mailing_Country" => text(100, "text")?,
            custom if inner.custom_fields.iter().any(|f| f == custom) => text(255, "text")?,
            _ => return Err(invalid(k, &path, json!({}))),
        }
    }
    Ok(obj.clone())
}

/// A unique field of `fields` whose value another contact than `except` already has.
fn duplicate(
    inner: &Inner,
    fields: &Map<String, Value>,
    except: Option<&str>,
    i: usize,
) -> Option<Value> {
    for f in &inner.unique {
        let Some(v) = fields.get(f).and_then(Value::as_str) else {
            continue;
        };
        if let Some(other) = inner.contacts.values().find(|c| {
            Some(c.id.as_str()) != except && c.get(f).as_ref().and_then(Value::as_str) == Some(v)
        }) {
            return Some(item(
                "DUPLICATE_DATA",
                "duplicate data",
                json!({
                    "api_name": f,
                    "json_path": format!("$.data[{i}].{f}"),
                    "duplicate_record": {"Owner": user(), "module": {"api_name": "Contacts", "id": "5725767000000002179"}, "id": other.id},
                    "more_records": false,
                }),
            ));
        }
    }
    None
}

fn upsert(inner: &mut Inner, body: &Value) -> Response {
    let Some(obj) = body.as_object() else {
        return invalid_body();
    };
    if let Some(k) = obj.keys().find(|k| !UPSERT_KEYS.contains(&k.as_str())) {
        return data_answer(
            StatusCode::OK,
            vec![invalid(k, &format!("$.{k}"), json!({}))],
        );
    }
    let Some(records) = obj
        .get("data")
        .and_then(Value::as_array)
        .filter(|d| !d.is_empty())
    else {
        return data_answer(StatusCode::OK, vec![mandatory("data", "$.data")]);
    };
    if records.len() > 100 {
        return data_answer(
            StatusCode::OK,
            vec![item(
                "LIMIT_EXCEEDED",
                "count of records in your request exceeds the limit",
                json!({"maximum_length": 100, "api_name": "data"}),
            )],
        );
    }
    let checks: Vec<String> = match obj.get("duplicate_check_fields") {
        None => inner.unique.clone(),
        Some(Value::Array(a)) => {
            let mut out = Vec::new();
            for (j, f) in a.iter().enumerate() {
                match f.as_str() {
                    Some(f) if inner.unique.iter().any(|u| u == f) => out.push(f.to_string()),
                    _ => {
                        return data_answer(
                            StatusCode::OK,
                            vec![invalid(
                                "duplicate_check_fields",
                                &format!("$.duplicate_check_fields[{j}]"),
                                json!({"supported_values": inner.unique}),
                            )],
                        );
                    }
                }
            }
            out
        }
        Some(_) => {
            return data_answer(
                StatusCode::OK,
                vec![invalid(
                    "duplicate_check_fields",
                    "$.duplicate_check_fields",
                    json!({"expected_data_type": "jsonarray"}),
                )],
            );
        }
    };
    let offset = inner.offset_minutes;
    let mut items = Vec::new();
    for (i, rec) in records.iter().enumerate() {
        let fields = match check_contact(inner, rec, i, true) {
            Ok(f) => f,
            Err(e) => {
                items.push(e);
                continue;
            }
        };
        // The record's id first, then the duplicate check fields in order.
        let by_id = fields
            .get("id")
            .and_then(Value::as_str)
            .filter(|id| inner.contacts.contains_key(*id))
            .map(|id| (id.to_string(), Value::Null));
        let matched = by_id.or_else(|| {
            checks.iter().find_map(|f| {
                let v = fields.get(f)?.as_str()?;
                inner
                    .contacts
                    .values()
                    .find(|c| c.get(f).as_ref().and_then(Value::as_str) == Some(v))
                    .map(|c| (c.id.clone(), json!(f)))
            })
        });
        let now = now_secs();
        match matched {
            Some((id, dup_field)) => {
                if let Some(e) = duplicate(inner, &fields, Some(&id), i) {
                    items.push(e);
                    continue;
                }
                let c = inner.contacts.get_mut(&id).expect("matched contact");
                for (k, v) in fields.iter().filter(|(k, _)| *k != "id") {
                    c.set(k, v);
                }
                c.modified = now;
                let mut ok = success("record updated", &id, c.created, now, offset);
                ok["duplicate_field"] = dup_field;
                ok["action"] = json!("update");
                items.push(ok);
            }
            None => {
                if !fields.get("Last_Name").is_some_and(Value::is_string) {
                    items.push(mandatory("Last_Name", &format!("$.data[{i}].Last_Name")));
                    continue;
                }
                if let Some(e) = duplicate(inner, &fields, None, i) {
                    items.push(e);
                    continue;
                }
                let id = next_id();
                let mut c = Contact {
                    id: id.clone(),
                    first_name: None,
                    last_name: String::new(),
                    mobile: None,
                    phone: None,
                    email: None,
                    description: None,
                    custom: BTreeMap::new(),
                    created: now,
                    modified: now,
                };
                for (k, v) in fields.iter().filter(|(k, _)| *k != "id") {
                    c.set(k, v);
                }
                inner.contacts.insert(id.clone(), c);
                let mut ok = success("record added", &id, now, now, offset);
                ok["duplicate_field"] = Value::Null;
                ok["action"] = json!("insert");
                items.push(ok);
            }
        }
    }
    data_answer(StatusCode::OK, items)
}

fn update(inner: &mut Inner, id: &str, body: &Value) -> Response {
    let Some(obj) = body.as_object() else {
        return invalid_body();
    };
    if let Some(k) = obj.keys().find(|k| {
        ![
            "data",
            "trigger",
            "apply_feature_execution",
            "skip_feature_execution",
        ]
        .contains(&k.as_str())
    }) {
        return data_answer(
            StatusCode::OK,
            vec![invalid(k, &format!("$.{k}"), json!({}))],
        );
    }
    let records = match obj.get("data").and_then(Value::as_array) {
        Some(d) if d.len() == 1 => d,
        _ => {
            return data_answer(
                StatusCode::OK,
                vec![invalid(
                    "data",
                    "$.data",
                    json!({"expected_data_type": "jsonarray", "maximum_length": 1}),
                )],
            );
        }
    };
    if !inner.contacts.contains_key(id) {
        return data_answer(
            StatusCode::OK,
            vec![item(
                "INVALID_DATA",
                "the id given seems to be invalid",
                json!({"id": id}),
            )],
        );
    }
    let fields = match check_contact(inner, &records[0], 0, true) {
        Ok(f) => f,
        Err(e) => return data_answer(StatusCode::OK, vec![e]),
    };
    if fields
        .get("id")
        .and_then(Value::as_str)
        .is_some_and(|x| x != id)
    {
        return data_answer(
            StatusCode::OK,
            vec![invalid("id", "$.data[0].id", json!({"expected_value": id}))],
        );
    }
    if let Some(e) = duplicate(inner, &fields, Some(id), 0) {
        return data_answer(StatusCode::OK, vec![e]);
    }
    let offset = inner.offset_minutes;
    let now = now_secs();
    let c = inner.contacts.get_mut(id).expect("checked above");
    for (k, v) in fields.iter().filter(|(k, _)| *k != "id") {
        c.set(k, v);
    }
    c.modified = now;
    let ok = success("record updated", id, c.created, now, offset);
    data_answer(StatusCode::OK, vec![ok])
}

/// A contact as `GET /Contacts` returns it, limited to `fields` (and `id`).
fn contact_json(inner: &Inner, c: &Contact, fields: &[String]) -> Value {
    let offset = inner.offset_minutes;
    let mut out = Map::new();
    out.insert("id".into(), json!(c.id));
    for f in fields {
        let v = match f.as_str() {
            "id" => continue,
            "Full_Name" => json!(c.full_name()),
            "Created_Time" => json!(format_datetime(c.created, offset)),
            "Modified_Time" => json!(format_datetime(c.modified, offset)),
            "Owner" | "Created_By" | "Modified_By" => user(),
            other => c.get(other).unwrap_or(Value::Null),
        };
        out.insert(f.clone(), v);
    }
    Value::Object(out)
}

/// `a=b&c=d` as pairs, `%XX` and `+` decoded.
fn query_pairs(q: &str) -> Vec<(String, String)> {
    fn decode(s: &str) -> String {
        let b = s.as_bytes();
        let mut out = Vec::with_capacity(b.len());
        let mut i = 0;
        while i < b.len() {
            match b[i] {
                b'%' if i + 2 < b.len() => {
                    let hex = std::str::from_utf8(&b[i + 1..i + 3]).ok();
                    match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                        Some(x) => {
                            out.push(x);
                            i += 3;
                            continue;
                        }
                        None => out.push(b'%'),
                    }
                }
                b'+' => out.push(b' '),
                x => out.push(x),
            }
            i += 1;
        }
        String::from_utf8_lossy(&out).into_owned()
    }
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(k), decode(v))
        })
        .collect()
}

fn list(inner: &Inner, query: Option<&str>, headers: &HeaderMap) -> Response {
    let pairs = query_pairs(query.unwrap_or_default());
    let param_error = |code: &str, message: &str, details: Value| {
        error(StatusCode::BAD_REQUEST, code, message, details)
    };
    if let Some((k, _)) = pairs
        .iter()
        .find(|(k, _)| !LIST_PARAMS.contains(&k.as_str()))
    {
        return param_error("INVALID_DATA", "invalid data", json!({"param_name": k}));
    }
    let get = |name: &str| {
        pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let Some(fields) = get("fields").filter(|f| !f.is_empty()) else {
        return param_error(
            "REQUIRED_PARAM_MISSING",
            "One of the expected parameter is missing",
            json!({"param_name": "fields"}),
        );
    };
    let known = |f: &str| {
        matches!(
            f,
            "id" | "First_Name"
                | "Last_Name"
                | "Full_Name"
                | "Mobile"
                | "Phone"
                | "Email"
                | "Description"
                | "Mailing_Country"
                | "Owner"
                | "Created_Time"
                | "Modified_Time"
                | "Created_By"
                | "Modified_By"
        ) || inner.custom_fields.iter().any(|c| c == f)
    };
    let fields: Vec<String> = fields.split(',').map(str::to_owned).collect();
    if let Some(f) = fields.iter().find(|f| !known(f)) {
        return param_error(
            "INVALID_DATA",
            "invalid data",
            json!({"param_name": "fields", "api_name": f}),
        );
    }
    if get("page_token").is_some() {
        return param_error(
            "INVALID_DATA",
            "page_token is not supported by this test server",
            json!({"param_name": "page_token"}),
        );
    }
    let sort_by = get("sort_by").unwrap_or("id");
    if !["id", "Created_Time", "Modified_Time"].contains(&sort_by) {
        return param_error(
            "INVALID_DATA",
            "invalid data",
            json!({"param_name": "sort_by", "supported_values": ["id", "Created_Time", "Modified_Time"]}),
        );
    }
    let sort_order = get("sort_order").unwrap_or("desc");
    if !["asc", "desc"].contains(&sort_order) {
        return param_error(
            "INVALID_DATA",
            "invalid data",
            json!({"param_name": "sort_order", "supported_values": ["asc", "desc"]}),
        );
    }
    // `None` for a value that is not a positive number.
    let number = |name: &str, default: u32| -> Option<u32> {
        match get(name) {
            None => Some(default),
            Some(v) => v.parse().ok().filter(|n| *n >= 1),
        }
    };
    let not_a_number =
        |name: &str| param_error("INVALID_DATA", "invalid data", json!({"param_name": name}));
    let Some(page) = number("page", 1) else {
        return not_a_number("page");
    };
    let per_page = match number("per_page", 200) {
        Some(p) if p <= 200 => p,
        Some(_) => {
            return param_error(
                "INVALID_DATA",
                "invalid data",
                json!({"param_name": "per_page", "maximum_length": 200}),
            );
        }
        None => return not_a_number("per_page"),
    };
    if u64::from(page) * u64::from(per_page) > 2000 {
        return param_error(
            "DISCRETE_PAGINATION_LIMIT_EXCEEDED",
            "cannot fetch more than 2000 records without page_token",
            json!({"limit": 2000}),
        );
    }
    let ids: Option<Vec<&str>> = get("ids").map(|v| v.split(',').collect());
    if ids.as_ref().is_some_and(|i| i.len() > 100) {
        return param_error(
            "LIMIT_EXCEEDED",
            "limit exceeded",
            json!({"param_name": "ids", "limit": 100}),
        );
    }
    let since = match headers
        .get("if-modified-since")
        .map(|v| v.to_str().ok().and_then(parse_datetime))
    {
        None => None,
        Some(Some(t)) => Some(t),
        Some(None) => {
            return param_error(
                "INVALID_DATA",
                "invalid data",
                json!({"param_name": "If-Modified-Since", "expected_data_type": "datetime"}),
            );
        }
    };
    let mut matched: Vec<&Contact> = inner
        .contacts
        .values()
        .filter(|c| ids.as_ref().is_none_or(|ids| ids.contains(&c.id.as_str())))
        .filter(|c| since.is_none_or(|s| c.modified > s))
        .collect();
    matched.sort_by(|a, b| {
        let key = |c: &Contact| match sort_by {
            "Created_Time" => (c.created, c.id.clone()),
            "Modified_Time" => (c.modified, c.id.clone()),
            _ => (0, c.id.clone()),
        };
        let ord = key(a).cmp(&key(b));
        if sort_order == "desc" {
            ord.reverse()
        } else {
            ord
        }
    });
    if matched.is_empty() {
        let status = if since.is_some() {
            StatusCode::NOT_MODIFIED
        } else {
            StatusCode::NO_CONTENT
        };
        return status.into_response();
    }
    let start = ((page - 1) * per_page) as usize;
    let chunk: Vec<Value> = matched
        .iter()
        .skip(start)
        .take(per_page as usize)
        .map(|c| contact_json(inner, c, &fields))
        .collect();
    if chunk.is_empty() {
        return StatusCode::NO_CONTENT.into_response();
    }
    let more = matched.len() > start + chunk.len();
    axum::Json(json!({
        "data": chunk,
        "info": {
            "call": false,
            "per_page": per_page,
            "next_page_token": null,
            "count": chunk.len(),
            "sort_by": sort_by,
            "page": page,
            "previous_page_token": null,
            "page_token_expiry": null,
            "sort_order": sort_order,
            "email": false,
            "more_records": more,
        }
    }))
    .into_response()
}

// ---------------------------------------------------------------------------------
// Notes and deals
// ---------------------------------------------------------------------------------

/// The `data` array of a create, or the answer refusing it.
fn create_data(body: &Value) -> Result<&Vec<Value>, Box<Response>> {
    let Some(obj) = body.as_object() else {
        return Err(Box::new(invalid_body()));
    };
    if let Some(k) = obj
        .keys()
        .find(|k| !["data", "trigger"].contains(&k.as_str()))
    {
        return Err(Box::new(data_answer(
            StatusCode::CREATED,
            vec![invalid(k, &format!("$.{k}"), json!({}))],
        )));
    }
    match obj.get("data").and_then(Value::as_array) {
        Some(d) if !d.is_empty() && d.len() <= 100 => Ok(d),
        _ => Err(Box::new(data_answer(
            StatusCode::CREATED,
            vec![invalid(
                "data",
                "$.data",
                json!({"expected_data_type": "jsonarray", "maximum_length": 100}),
            )],
        ))),
    }
}

/// Record `i` of a write's `data`: an object with no field outside `known`.
fn known_record<'a>(
    rec: &'a Value,
    i: usize,
    known: &[&str],
) -> Result<&'a Map<String, Value>, Value> {
    let obj = record_object(rec, i)?;
    if let Some(k) = obj.keys().find(|k| !known.contains(&k.as_str())) {
        return Err(invalid(k, &format!("$.data[{i}].{k}"), json!({})));
    }
    Ok(obj)
}

/// Text field `k` of record `i` (`obj`), at most `max` characters; `None` when
/// absent or null.
fn text_field(
    obj: &Map<String, Value>,
    i: usize,
    k: &str,
    max: usize,
) -> Result<Option<String>, Value> {
    let path = || format!("$.data[{i}].{k}");
    match obj.get(k) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.chars().count() > max => {
            Err(invalid(k, &path(), json!({"maximum_length": max})))
        }
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(invalid(k, &path(), json!({"expected_data_type": "text"}))),
    }
}

/// Answers a `POST` of new records (`201`, or Zoho's per-record errors): each is
/// checked by `check` and, when valid, kept by `store` with a new id and the current
/// second.
fn create_each<T>(
    inner: &mut Inner,
    body: &Value,
    check: fn(&Inner, &Value, usize) -> Result<T, Value>,
    store: fn(&mut Inner, T, String, i64),
) -> Response {
    let records = match create_data(body) {
        Ok(r) => r,
        Err(resp) => return *resp,
    };
    let offset = inner.offset_minutes;
    let mut items = Vec::new();
    for (i, rec) in records.iter().enumerate() {
        match check(inner, rec, i) {
            Ok(record) => {
                let id = next_id();
                let now = now_secs();
                items.push(success("record added", &id, now, now, offset));
                store(inner, record, id, now);
            }
            Err(e) => items.push(e),
        }
    }
    data_answer(StatusCode::CREATED, items)
}

/// A note as written, before it has an id.
struct NewNote {
    title: Option<String>,
    content: Option<String>,
    parent_module: String,
    parent_id: String,
}

fn check_note(inner: &Inner, rec: &Value, i: usize) -> Result<NewNote, Value> {
    let obj = known_record(rec, i, &["Note_Title", "Note_Content", "Parent_Id"])?;
    let path = |k: &str| format!("$.data[{i}].{k}");
    let title = text_field(obj, i, "Note_Title", 120)?;
    let content = text_field(obj, i, "Note_Content", 65_535)?;
    if title.is_none() && content.is_none() {
        return Err(item(
            "EXPECTED_FIELD_MISSING",
            "should contain either content or title",
            json!({"expected_fields": [
                {"api_name": "Note_Content", "json_path": path("Note_Content")},
                {"api_name": "Note_Title", "json_path": path("Note_Title")},
            ]}),
        ));
    }
    let Some(parent) = obj.get("Parent_Id") else {
        return Err(mandatory("Parent_Id", &path("Parent_Id")));
    };
    if !parent.is_object() {
        return Err(invalid(
            "Parent_Id",
            &path("Parent_Id"),
            json!({"expected_data_type": "jsonobject"}),
        ));
    }
    let Some(module) = parent["module"]["api_name"].as_str() else {
        return Err(mandatory(
            "module",
            &format!("{}.module", path("Parent_Id")),
        ));
    };
    let Some(id) = parent["id"].as_str() else {
        return Err(mandatory("id", &format!("{}.id", path("Parent_Id"))));
    };
    let exists = match module {
        "Contacts" => inner.contacts.contains_key(id),
        "Deals" => inner.deals.iter().any(|d| d.id == id),
        _ => false,
    };
    if !exists {
        return Err(invalid("Parent_Id", &path("Parent_Id"), json!({})));
    }
    Ok(NewNote {
        title,
        content,
        parent_module: module.to_string(),
        parent_id: id.to_string(),
    })
}

fn create_notes(inner: &mut Inner, body: &Value) -> Response {
    create_each(inner, body, check_note, |inner, note, id, now| {
        inner.notes.push(Note {
            id,
            parent_module: note.parent_module,
            parent_id: note.parent_id,
            title: note.title,
            content: note.content,
            created: now,
        });
    })
}

fn check_deal(inner: &Inner, rec: &Value, i: usize) -> Result<Deal, Value> {
    let known = [
        "Deal_Name",
        "Stage",
        "Closing_Date",
        "Contact_Name",
        "Amount",
        "Description",
        "Scrm_Key",
    ];
    let obj = known_record(rec, i, &known)?;
    let path = |k: &str| format!("$.data[{i}].{k}");
    let text = |k: &str, max: usize| text_field(obj, i, k, max);
    let name = text("Deal_Name", 120)?
        .filter(|n| !n.trim().is_empty())
        .ok_or_else(|| mandatory("Deal_Name", &path("Deal_Name")))?;
    let stage = text("Stage", 120)?.ok_or_else(|| mandatory("Stage", &path("Stage")))?;
    if !STAGES.contains(&stage.as_str()) {
        return Err(invalid("Stage", &path("Stage"), json!({})));
    }
    let closing_date = text("Closing_Date", 10)?
        .ok_or_else(|| mandatory("Closing_Date", &path("Closing_Date")))?;
    if !valid_date(&closing_date) {
        return Err(invalid(
            "Closing_Date",
            &path("Closing_Date"),
            json!({"expected_data_type": "date"}),
        ));
    }
    let contact_id = match obj.get("Contact_Name") {
        None | Some(Value::Null) => None,
        Some(Value::Object(o)) => match o.get("id").and_then(Value::as_str) {
            Some(id) if inner.contacts.contains_key(id) => Some(id.to_string()),
            _ => return Err(invalid("Contact_Name", &path("Contact_Name"), json!({}))),
        },
        Some(_) => {
            return Err(invalid(
                "Contact_Name",
                &path("Contact_Name"),
                json!({"expected_data_type": "lookup"}),
            ));
        }
    };
    let amount = match obj.get("Amount") {
        None | Some(Value::Null) => None,
        Some(Value::Number(n)) => n.as_f64(),
        Some(_) => {
            return Err(invalid(
                "Amount",
                &path("Amount"),
                json!({"expected_data_type": "currency"}),
            ));
        }
    };
    Ok(Deal {
        id: String::new(),
        name,
        stage,
        closing_date,
        contact_id,
        amount,
        description: text("Description", 32_000)?,
        key: text("Scrm_Key", 255)?,
        created: 0,
        modified: 0,
    })
}

fn create_deals(inner: &mut Inner, body: &Value) -> Response {
    create_each(inner, body, check_deal, |inner, mut deal, id, now| {
        deal.id = id;
        deal.created = now;
        deal.modified = now;
        inner.deals.push(deal);
    })
}

/// `GET /Contacts/{id}/Notes`: the contact's notes (`{"data": [...], "info"}`), or
/// 204 when it has none.
fn notes_of_contact(inner: &Inner, id: &str) -> Response {
    let offset = inner.offset_minutes;
    let notes: Vec<Value> = inner
        .notes
        .iter()
        .filter(|n| n.parent_id == id)
        .map(|n| {
            json!({"id": n.id, "Note_Title": n.title, "Note_Content": n.content,
                   "Created_Time": format_datetime(n.created, offset),
                   "Parent_Id": {"id": n.parent_id, "module": {"api_name": n.parent_module}}})
        })
        .collect();
    if notes.is_empty() {
        return StatusCode::NO_CONTENT.into_response();
    }
    let n = notes.len();
    axum::Json(json!({"data": notes, "info": {"per_page": 200, "count": n, "page": 1, "more_records": false}}))
        .into_response()
}

/// A deal as the API returns it.
fn deal_json(inner: &Inner, d: &Deal) -> Value {
    let offset = inner.offset_minutes;
    json!({
        "id": d.id,
        "Deal_Name": d.name,
        "Stage": d.stage,
        "Closing_Date": d.closing_date,
        "Contact_Name": d.contact_id.as_ref().map(|id| json!({"id": id})),
        "Amount": d.amount,
        "Description": d.description,
        "Scrm_Key": d.key,
        "Created_Time": format_datetime(d.created, offset),
        "Modified_Time": format_datetime(d.modified, offset),
    })
}

/// `GET /Deals/{id}`: `{"data": [deal]}`, or 204 when there is none.
fn get_deal(inner: &Inner, id: &str) -> Response {
    match inner.deals.iter().find(|d| d.id == id) {
        Some(d) => axum::Json(json!({"data": [deal_json(inner, d)]})).into_response(),
        None => StatusCode::NO_CONTENT.into_response(),
    }
}

/// `GET /Deals/search?criteria=(Scrm_Key:equals:value)`: the only criterion this
/// server knows; 204 when nothing matches.
fn search_deals(inner: &Inner, query: Option<&str>) -> Response {
    let pairs = query_pairs(query.unwrap_or_default());
    let criteria = pairs
        .iter()
        .find(|(k, _)| k == "criteria")
        .map(|(_, v)| v.as_str());
    let parsed = criteria
        .and_then(|c| c.strip_prefix('('))
        .and_then(|c| c.strip_suffix(')'))
        .and_then(|c| c.split_once(':'))
        .and_then(|(field, rest)| rest.split_once(':').map(|(op, v)| (field, op, v)));
    let Some(("Scrm_Key", "equals", value)) = parsed else {
        return error(
            StatusCode::BAD_REQUEST,
            "INVALID_QUERY",
            "invalid query formed",
            json!({"reason": "criteria not supported by this test server"}),
        );
    };
    let mut v = String::new();
    let mut escaped = false;
    for c in value.chars() {
        if c == '\\' && !escaped {
            escaped = true;
            continue;
        }
        escaped = false;
        v.push(c);
    }
    let found: Vec<Value> = inner
        .deals
        .iter()
        .filter(|d| d.key.as_deref() == Some(v.as_str()))
        .map(|d| deal_json(inner, d))
        .collect();
    if found.is_empty() {
        return StatusCode::NO_CONTENT.into_response();
    }
    let n = found.len();
    axum::Json(json!({"data": found, "info": {"per_page": 200, "count": n, "page": 1, "more_records": false}}))
        .into_response()
}

/// `PUT /Deals/{id}` with `{"data": [{…}]}`: name, stage, amount, description, key.
fn update_deal(inner: &mut Inner, id: &str, body: &Value) -> Response {
    let Some(rec) = body["data"]
        .as_array()
        .and_then(|d| (d.len() == 1).then(|| &d[0]))
    else {
        return invalid_body();
    };
    let known = ["Deal_Name", "Stage", "Amount", "Description", "Scrm_Key"];
    let obj = match known_record(rec, 0, &known) {
        Ok(o) => o.clone(),
        Err(e) => return data_answer(StatusCode::OK, vec![e]),
    };
    if let Some(stage) = obj.get("Stage").and_then(Value::as_str)
        && !STAGES.contains(&stage)
    {
        return data_answer(
            StatusCode::OK,
            vec![invalid("Stage", "$.data[0].Stage", json!({}))],
        );
    }
    let now = now_secs();
    let offset = inner.offset_minutes;
    let Some(d) = inner.deals.iter_mut().find(|d| d.id == id) else {
        return data_answer(
            StatusCode::OK,
            vec![invalid("id", "$.data[0].id", json!({}))],
        );
    };
    let s = |k: &str| obj.get(k).and_then(Value::as_str).map(str::to_owned);
    if let Some(n) = s("Deal_Name") {
        d.name = n;
    }
    if let Some(st) = s("Stage") {
        d.stage = st;
    }
    if let Some(a) = obj.get("Amount").and_then(Value::as_f64) {
        d.amount = Some(a);
    }
    if let Some(desc) = s("Description") {
        d.description = Some(desc);
    }
    if let Some(k) = s("Scrm_Key") {
        d.key = Some(k);
    }
    d.modified = now;
    let (id, created) = (d.id.clone(), d.created);
    data_answer(
        StatusCode::OK,
        vec![success("record updated", &id, created, now, offset)],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn datetimes_round_trip_in_the_org_offset() {
        assert_eq!(
            format_datetime(1_602_651_703, 330),
            "2020-10-14T10:31:43+05:30"
        );
        assert_eq!(
            format_datetime(1_683_706_247, -420),
            "2023-05-10T01:10:47-07:00"
        );
        assert_eq!(
            parse_datetime("2020-10-14T10:31:43+05:30"),
            Some(1_602_651_703)
        );
        assert_eq!(parse_datetime("2020-10-14T05:01:43Z"), Some(1_602_651_703));
        assert_eq!(parse_datetime("2020-10-14"), None);
        assert!(valid_date("2024-02-29"));
        assert!(!valid_date("2023-02-29"));
    }

    #[test]
    fn queries_are_decoded() {
        assert_eq!(
            query_pairs("fields=Full_Name%2CMobile&ids=1,2&x"),
            vec![
                ("fields".to_string(), "Full_Name,Mobile".to_string()),
                ("ids".to_string(), "1,2".to_string()),
                ("x".to_string(), String::new()),
            ]
        );
    }
}
