//! A local Salesforce org for the end-to-end tests.
//!
//! [`Salesforce::start`] serves, on `127.0.0.1:0`, the part of the Salesforce REST
//! API (v20.0–v66.0) that the `salesforce-connector` plugin uses, in Salesforce's
//! wire format, over an in-memory store of Contacts, Tasks, Opportunities,
//! OpportunityContactRoles and Cases:
//!
//! | request | answer |
//! |---|---|
//! | `POST /services/data/vXX.X/sobjects/{Object}` | 201 `{"id","success":true,"errors":[]}` |
//! | `PATCH /services/data/vXX.X/sobjects/{Object}/{id}` | 204 |
//! | `PATCH /services/data/vXX.X/sobjects/{Object}/{ExternalIdField}/{value}` (upsert) | 201 `{…,"created":true}`, or 200 `{…,"created":false}` (204 before v46.0) |
//! | `GET /services/data/vXX.X/sobjects/{Object}/{id}?fields=A,B` | 200 `{"attributes":{"type","url"},"A":…,"B":…}` |
//! | `POST /services/data/vXX.X/composite` (`allOrNone`, `compositeRequest[]` of `{method,url,referenceId,body}`, references `@{ref.field}`) | 200 `{"compositeResponse":[{"body","httpHeaders","httpStatusCode","referenceId"}]}` |
//! | `GET /services/data/vXX.X/query?q=SOQL` (`Sforce-Query-Options: batchSize=N`) | 200 `{"totalSize","done","nextRecordsUrl"?,"records":[…]}` |
//! | `GET /services/data/vXX.X/query/{locator}-{offset}` | the next batch |
//!
//! Validation is strict, as Salesforce's: an unknown field is 400 `INVALID_FIELD`,
//! a read-only one `INVALID_FIELD_FOR_INSERT_UPDATE`, a missing required one
//! `REQUIRED_FIELD_MISSING` (with `fields`), too long text `STRING_TOO_LONG`, a bad
//! restricted picklist value `INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST`, a lookup to
//! a missing record `INVALID_CROSS_REFERENCE_KEY`, a taken external id
//! `DUPLICATE_VALUE`. Errors are arrays of `{message, errorCode, fields}`. The SOQL
//! subset is `SELECT fields FROM Object [WHERE …] [ORDER BY …] [LIMIT n]` with
//! `=, !=, <, <=, >, >=, [NOT] IN`, `AND`/`OR` (not mixed without parentheses),
//! `NOT` and parentheses; anything else is `MALFORMED_QUERY`.
//!
//! Every request needs `Authorization: Bearer` [`ACCESS_TOKEN`] (else 401
//! `INVALID_SESSION_ID`); every answer carries `Sforce-Limit-Info: api-usage=N/M`.
//! Tests set a request limit per window ([`Salesforce::set_limit`]; past it, 403
//! `REQUEST_LIMIT_EXCEEDED`, which is not counted), make it fail with a 5xx
//! ([`Salesforce::fail_with`]), shrink query batches and expire query locators, read
//! counters, and act as sales people: [`Salesforce::sales_edit`] changes a Contact
//! (its `LastModifiedDate`, like Salesforce's, has whole seconds), and
//! [`Salesforce::outbound_message`] builds the SOAP Outbound Message Salesforce would
//! send about it.
//!
//! ```no_run
//! # async fn demo() {
//! use scrm_e2e::salesforce::Salesforce;
//! let sf = Salesforce::start().await;
//! sf.set_limit(100, std::time::Duration::from_secs(86_400));
//! // point the connector's instance_url at sf.url() …
//! assert!(sf.contact_by_whatsapp("+393471234567").is_none());
//! # }
//! ```

use crate::crm::now_ms;
use crate::serve;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The API version the tests use.
pub const API_VERSION: &str = "62.0";
/// The access token every [`Salesforce`] accepts (an org id, `!`, a session key).
pub const ACCESS_TOKEN: &str = "00D5g000004ScrmEAA!AQ4AQScrmLocalSessionKey0123456789";
/// The Contact external id field holding the WhatsApp number.
pub const EXTERNAL_ID_FIELD: &str = "WhatsApp_Number__c";
/// The text field on Task, Opportunity and Case that holds the host's key of a
/// write (the connector's `key_field`).
pub const KEY_FIELD: &str = "Scrm_Key__c";
/// The org's daily request allowance when no limit is set (a Developer Edition's).
const DEFAULT_DAILY_LIMIT: u64 = 15_000;

/// Date and time formats, without a date library.
mod clock {
    /// Days since 1970-01-01 of a civil date (H. Hinnant's algorithm).
    pub fn days(y: i64, m: u32, d: u32) -> i64 {
        let y = if m <= 2 { y - 1 } else { y };
        let era = y.div_euclid(400);
        let yoe = y - era * 400;
        let m = i64::from(m);
        let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        era * 146_097 + doe - 719_468
    }

    /// The civil date of a day number.
    pub fn civil(z: i64) -> (i64, u32, u32) {
        let z = z + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z - era * 146_097;
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
        let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
        (yoe + era * 400 + i64::from(m <= 2), m, d)
    }

    fn parts(ms: i64) -> (i64, u32, u32, i64, i64, i64, i64) {
        let (day, rest) = (ms.div_euclid(86_400_000), ms.rem_euclid(86_400_000));
        let (y, m, d) = civil(day);
        (
            y,
            m,
            d,
            rest / 3_600_000,
            rest / 60_000 % 60,
            rest / 1000 % 60,
            rest % 1000,
        )
    }

    /// `2026-11-25T19:20:00.000+0000`: how REST answers dateTime fields.
    pub fn rest(ms: i64) -> String {
        let (y, mo, d, h, mi, s, f) = parts(ms);
        format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{f:03}+0000")
    }

    /// `2026-11-25T19:20:00.000Z`: xsd:dateTime, as Outbound Messages write it.
    pub fn xsd(ms: i64) -> String {
        let (y, mo, d, h, mi, s, f) = parts(ms);
        format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{f:03}Z")
    }

    fn digits(s: &str) -> Option<i64> {
        (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse().ok())
            .flatten()
    }

    /// Day number of `YYYY-MM-DD`, checked.
    pub fn parse_date(s: &str) -> Option<i64> {
        let (y, rest) = s.split_once('-')?;
        let (m, d) = rest.split_once('-')?;
        if y.len() != 4 || m.len() != 2 || d.len() != 2 {
            return None;
        }
        let (y, m, d) = (digits(y)?, digits(m)? as u32, digits(d)? as u32);
        let day = days(y, m, d);
        (civil(day) == (y, m, d)).then_some(day)
    }

    /// Unix ms of `YYYY-MM-DDThh:mm:ss[.fff](Z|±hh:mm|±hhmm)`.
    pub fn parse_datetime(s: &str) -> Option<i64> {
        let (date, time) = s.split_once('T')?;
        let day = parse_date(date)?;
        if time.len() < 9 || time.as_bytes()[2] != b':' || time.as_bytes()[5] != b':' {
            return None;
        }
        let (h, mi, sec) = (
            digits(&time[..2])?,
            digits(&time[3..5])?,
            digits(&time[6..8])?,
        );
        if h > 23 || mi > 59 || sec > 59 {
            return None;
        }
        let mut rest = &time[8..];
        let mut millis = 0;
        if let Some(frac) = rest.strip_prefix('.') {
            let n = frac.bytes().take_while(u8::is_ascii_digit).count();
            if n == 0 {
                return None;
            }
            let three: String = frac[..n].chars().chain("000".chars()).take(3).collect();
            millis = digits(&three)?;
            rest = &frac[n..];
        }
        let offset = if rest == "Z" {
            0
        } else {
            let sign = match rest.as_bytes().first()? {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            let hhmm: String = rest[1..].chars().filter(|c| *c != ':').collect();
            if hhmm.len() != 4 {
                return None;
            }
            sign * (digits(&hhmm[..2])? * 60 + digits(&hhmm[2..])?) * 60_000
        };
        Some(day * 86_400_000 + h * 3_600_000 + mi * 60_000 + sec * 1000 + millis - offset)
    }
}

/// The objects and fields the org has.
mod schema {
    /// A field's type.
    #[derive(Debug, Clone, Copy, PartialEq)]
    pub enum Kind {
        /// The record id.
        Id,
        /// Text of at most this many characters.
        Text(usize),
        /// A date (`YYYY-MM-DD`).
        Date,
        /// A dateTime.
        DateTime,
        /// true / false.
        Boolean,
        /// A number.
        Double,
        /// A lookup to one of these objects.
        Reference(&'static [&'static str]),
        /// A picklist; restricted ones refuse other values.
        Picklist(&'static [&'static str], bool),
    }

    /// A field.
    #[derive(Debug, Clone, Copy)]
    pub struct Field {
        pub name: &'static str,
        pub label: &'static str,
        pub kind: Kind,
        pub create: bool,
        pub update: bool,
        pub required: bool,
        pub default: Option<&'static str>,
        pub external_id: bool,
    }

    const fn field(name: &'static str, label: &'static str, kind: Kind) -> Field {
        Field {
            name,
            label,
            kind,
            create: true,
            update: true,
            required: false,
            default: None,
            external_id: false,
        }
    }

    impl Field {
        const fn read_only(mut self) -> Field {
            self.create = false;
            self.update = false;
            self
        }
        const fn create_only(mut self) -> Field {
            self.update = false;
            self
        }
        const fn required(mut self) -> Field {
            self.required = true;
            self
        }
        const fn defaulted(mut self, v: &'static str) -> Field {
            self.default = Some(v);
            self
        }
        const fn external_id(mut self) -> Field {
            self.external_id = true;
            self
        }
    }

    /// An object.
    #[derive(Debug)]
    pub struct Object {
        pub name: &'static str,
        pub prefix: &'static str,
        pub fields: &'static [Field],
    }

    impl Object {
        /// The field named `name` (case-insensitive, as Salesforce).
        pub fn field(&self, name: &str) -> Option<&'static Field> {
            self.fields
                .iter()
                .find(|f| f.name.eq_ignore_ascii_case(name))
        }
    }

    const ID: Field = field("Id", "Record ID", Kind::Id).read_only();
    const CREATED: Field = field("CreatedDate", "Created Date", Kind::DateTime).read_only();
    const MODIFIED: Field =
        field("LastModifiedDate", "Last Modified Date", Kind::DateTime).read_only();
    const STAMP: Field = field("SystemModstamp", "System Modstamp", Kind::DateTime).read_only();
    const DELETED: Field = field("IsDeleted", "Deleted", Kind::Boolean).read_only();
    const KEY: Field = field(super::KEY_FIELD, "scrm key", Kind::Text(255));

    pub static CONTACT: Object = Object {
        name: "Contact",
        prefix: "003",
        fields: &[
            ID,
            field(
                "Salutation",
                "Salutation",
                Kind::Picklist(&["Mr.", "Ms.", "Mrs.", "Dr.", "Prof."], false),
            ),
            field("FirstName", "First Name", Kind::Text(40)),
            field("LastName", "Last Name", Kind::Text(80)).required(),
            field("Name", "Full Name", Kind::Text(121)).read_only(),
            field("MobilePhone", "Mobile Phone", Kind::Text(40)),
            field("Phone", "Business Phone", Kind::Text(40)),
            field("Email", "Email", Kind::Text(80)),
            field("MailingCountry", "Mailing Country", Kind::Text(80)),
            field("Description", "Contact Description", Kind::Textarea32k),
            field("AccountId", "Account ID", Kind::Reference(&["Account"])),
            field(super::EXTERNAL_ID_FIELD, "WhatsApp Number", Kind::Text(40)).external_id(),
            field(
                "Customer_Level__c",
                "Customer Level",
                Kind::Picklist(&["New customer", "Silver", "Gold"], false),
            ),
            CREATED,
            MODIFIED,
            STAMP,
            DELETED,
        ],
    };

    pub static TASK: Object = Object {
        name: "Task",
        prefix: "00T",
        fields: &[
            ID,
            field("WhoId", "Name ID", Kind::Reference(&["Contact"])),
            field("WhatId", "Related To ID", Kind::Reference(&["Opportunity"])),
            field("Subject", "Subject", Kind::Text(255)),
            field("Description", "Description", Kind::Textarea32k),
            field("ActivityDate", "Due Date Only", Kind::Date),
            field(
                "Status",
                "Status",
                Kind::Picklist(
                    &[
                        "Not Started",
                        "In Progress",
                        "Completed",
                        "Waiting on someone else",
                        "Deferred",
                    ],
                    true,
                ),
            )
            .defaulted("Not Started"),
            field(
                "Priority",
                "Priority",
                Kind::Picklist(&["High", "Normal", "Low"], true),
            )
            .defaulted("Normal"),
            field(
                "TaskSubtype",
                "Task Subtype",
                Kind::Picklist(
                    &["Task", "Email", "ListEmail", "Cadence", "Call", "LinkedIn"],
                    true,
                ),
            )
            .create_only(),
            field(
                "Type",
                "Type",
                Kind::Picklist(&["Call", "Email", "Meeting", "Other"], false),
            ),
            KEY,
            CREATED,
            MODIFIED,
            STAMP,
            DELETED,
        ],
    };

    pub static OPPORTUNITY: Object = Object {
        name: "Opportunity",
        prefix: "006",
        fields: &[
            ID,
            field("Name", "Name", Kind::Text(120)).required(),
            field(
                "StageName",
                "Stage",
                Kind::Picklist(
                    &[
                        "Prospecting",
                        "Qualification",
                        "Needs Analysis",
                        "Value Proposition",
                        "Id. Decision Makers",
                        "Perception Analysis",
                        "Proposal/Price Quote",
                        "Negotiation/Review",
                        "Closed Won",
                        "Closed Lost",
                    ],
                    true,
                ),
            )
            .required(),
            field("CloseDate", "Close Date", Kind::Date).required(),
            field("Amount", "Amount", Kind::Double),
            field("Description", "Description", Kind::Textarea32k),
            field(
                "LeadSource",
                "Lead Source",
                Kind::Picklist(
                    &[
                        "Web",
                        "Phone Inquiry",
                        "Partner Referral",
                        "Purchased List",
                        "Other",
                    ],
                    false,
                ),
            ),
            field("AccountId", "Account ID", Kind::Reference(&["Account"])),
            field("IsClosed", "Closed", Kind::Boolean).read_only(),
            KEY,
            CREATED,
            MODIFIED,
            STAMP,
            DELETED,
        ],
    };

    /// A support case (Service Cloud's standard picklist values; `Origin` and
    /// `Type` are not restricted, so an org's own values such as `WhatsApp` pass).
    pub static CASE: Object = Object {
        name: "Case",
        prefix: "500",
        fields: &[
            ID,
            field("CaseNumber", "Case Number", Kind::Text(30)).read_only(),
            field("ContactId", "Contact ID", Kind::Reference(&["Contact"])),
            field("Subject", "Subject", Kind::Text(255)),
            field("Description", "Description", Kind::Textarea32k),
            field(
                "Status",
                "Status",
                Kind::Picklist(&["New", "Working", "Escalated", "Closed"], true),
            )
            .defaulted("New"),
            field(
                "Origin",
                "Case Origin",
                Kind::Picklist(&["Phone", "Email", "Web"], false),
            ),
            field(
                "Type",
                "Type",
                Kind::Picklist(&["Question", "Problem", "Feature Request"], false),
            ),
            field(
                "Priority",
                "Priority",
                Kind::Picklist(&["High", "Medium", "Low"], true),
            )
            .defaulted("Medium"),
            field("IsClosed", "Closed", Kind::Boolean).read_only(),
            KEY,
            CREATED,
            MODIFIED,
            STAMP,
            DELETED,
        ],
    };

    pub static CONTACT_ROLE: Object = Object {
        name: "OpportunityContactRole",
        prefix: "00K",
        fields: &[
            ID,
            field(
                "OpportunityId",
                "Opportunity ID",
                Kind::Reference(&["Opportunity"]),
            )
            .required()
            .create_only(),
            field("ContactId", "Contact ID", Kind::Reference(&["Contact"])).required(),
            field("IsPrimary", "Primary", Kind::Boolean).defaulted("false"),
            field(
                "Role",
                "Role",
                Kind::Picklist(
                    &[
                        "Business User",
                        "Decision Maker",
                        "Economic Buyer",
                        "Economic Decision Maker",
                        "Evaluator",
                        "Executive Sponsor",
                        "Influencer",
                        "Technical Buyer",
                        "Other",
                    ],
                    false,
                ),
            ),
            CREATED,
            MODIFIED,
            STAMP,
            DELETED,
        ],
    };

    impl Kind {
        /// Long text area (32,000 characters).
        #[allow(non_upper_case_globals)]
        pub const Textarea32k: Kind = Kind::Text(32_000);
    }

    /// Every object, for routing.
    pub fn objects() -> [&'static Object; 5] {
        [&CONTACT, &TASK, &OPPORTUNITY, &CONTACT_ROLE, &CASE]
    }

    /// The object named `name` (case-insensitive).
    pub fn object(name: &str) -> Option<&'static Object> {
        objects()
            .into_iter()
            .find(|o| o.name.eq_ignore_ascii_case(name))
    }
}

use schema::{Kind, Object};

/// One Salesforce error: `{message, errorCode, fields}`.
#[derive(Debug, Clone, PartialEq)]
pub struct SfError {
    /// HTTP status it is answered with.
    pub status: u16,
    /// `errorCode`.
    pub code: &'static str,
    /// `message`.
    pub message: String,
    /// `fields`, when it names some.
    pub fields: Vec<String>,
}

impl SfError {
    fn new(status: u16, code: &'static str, message: impl Into<String>) -> SfError {
        SfError {
            status,
            code,
            message: message.into(),
            fields: Vec::new(),
        }
    }

    fn on(mut self, fields: &[&str]) -> SfError {
        self.fields = fields.iter().map(|f| (*f).to_string()).collect();
        self
    }

    /// The error body: an array of one error.
    pub fn body(&self) -> Value {
        let mut e = json!({"message": self.message, "errorCode": self.code});
        if !self.fields.is_empty() {
            e["fields"] = json!(self.fields);
        }
        json!([e])
    }

    fn not_found() -> SfError {
        SfError::new(404, "NOT_FOUND", "The requested resource does not exist")
    }

    fn json(message: impl Into<String>) -> SfError {
        SfError::new(400, "JSON_PARSER_ERROR", message)
    }

    fn no_column(field: &str, object: &str) -> SfError {
        SfError::new(
            400,
            "INVALID_FIELD",
            format!(
                "No such column '{field}' on entity '{object}'. If you are attempting to use a custom field, \
                 be sure to append the '__c' after the custom field name. Please reference your WSDL or the \
                 describe call for the appropriate names."
            ),
        )
    }
}

/// What the server answers: status, JSON body (none for 204), extra headers.
#[derive(Debug, Clone)]
struct Answer {
    status: u16,
    body: Value,
    headers: Vec<(String, String)>,
}

impl Answer {
    fn ok(status: u16, body: Value) -> Answer {
        Answer {
            status,
            body,
            headers: Vec::new(),
        }
    }

    fn err(e: &SfError) -> Answer {
        Answer::ok(e.status, e.body())
    }
}

impl From<SfError> for Answer {
    fn from(e: SfError) -> Answer {
        Answer::err(&e)
    }
}

/// A stored record.
#[derive(Debug, Clone)]
struct Rec {
    object: &'static Object,
    fields: Map<String, Value>,
}

/// Base62 digits, in ASCII order so that ids sort by creation.
const BASE62: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// An 18-character id: key prefix, a 12-digit base62 number, the case checksum.
fn make_id(prefix: &str, n: u64) -> String {
    let mut digits = [b'0'; 12];
    let mut v = n;
    for d in digits.iter_mut().rev() {
        *d = BASE62[(v % 62) as usize];
        v /= 62;
    }
    let id15 = format!("{prefix}{}", String::from_utf8_lossy(&digits));
    with_checksum(&id15)
}

/// The 18-character form of a 15-character id: three characters saying which
/// letters of each five are upper case.
fn with_checksum(id15: &str) -> String {
    const SUFFIX: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ012345";
    let b = id15.as_bytes();
    let mut out = id15.to_string();
    for chunk in 0..3 {
        let mut flags = 0usize;
        for j in 0..5 {
            if b[chunk * 5 + j].is_ascii_uppercase() {
                flags |= 1 << j;
            }
        }
        out.push(char::from(SUFFIX[flags]));
    }
    out
}

/// The case-sensitive 15-character key of an id.
fn id15(id: &str) -> &str {
    id.get(..15).unwrap_or(id)
}

fn is_id(id: &str) -> bool {
    matches!(id.len(), 15 | 18) && id.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// The in-memory org.
#[derive(Debug, Clone, Default)]
struct Store {
    /// By 15-character id; ids grow, so this is creation order.
    records: BTreeMap<String, Rec>,
}

impl Store {
    fn get(&self, id: &str) -> Option<&Rec> {
        self.records.get(id15(id))
    }

    fn of(&self, object: &Object) -> impl Iterator<Item = &Rec> {
        self.records
            .values()
            .filter(move |r| std::ptr::eq(r.object, object))
    }
}

/// One request as it arrived.
#[derive(Debug, Clone)]
pub struct Recorded {
    /// When it arrived.
    pub at: Instant,
    /// HTTP method.
    pub method: String,
    /// The path, without the query.
    pub path: String,
    /// The status answered.
    pub status: u16,
    /// For a composite request, each subrequest as `METHOD url`.
    pub subrequests: Vec<String>,
}

#[derive(Debug)]
struct Inner {
    token: String,
    /// The org's OAuth token endpoint, once tokens are issued.
    issuer: Option<crate::oauth::Issuer>,
    org_id: String,
    store: Store,
    next_id: u64,
    /// Requests allowed per window, the window, its start and its usage.
    limit: u64,
    window: Duration,
    window_start: Instant,
    used: u64,
    /// Requests refused with REQUEST_LIMIT_EXCEEDED.
    limited: u64,
    fail: Option<u16>,
    /// Answer the next query-more with INVALID_QUERY_LOCATOR.
    lose_next_locator: bool,
    /// Composite requests that create records, carried out but answered 504.
    lose_answers: u32,
    query_batch: Option<usize>,
    /// Query locator → the whole result, paged by offset.
    locators: HashMap<String, Vec<Value>>,
    requests: Vec<Recorded>,
}

impl Inner {
    /// An empty org `org_id` that accepts [`ACCESS_TOKEN`], with a Developer
    /// Edition's daily allowance.
    fn new(org_id: String) -> Inner {
        Inner {
            token: ACCESS_TOKEN.to_string(),
            issuer: None,
            org_id,
            store: Store::default(),
            next_id: 0,
            limit: DEFAULT_DAILY_LIMIT,
            window: Duration::from_secs(86_400),
            window_start: Instant::now(),
            used: 0,
            limited: 0,
            fail: None,
            lose_next_locator: false,
            lose_answers: 0,
            query_batch: None,
            locators: HashMap::new(),
            requests: Vec::new(),
        }
    }

    fn new_id(&mut self, object: &Object) -> String {
        self.next_id += 1;
        make_id(object.prefix, self.next_id)
    }

    fn limit_info(&self) -> String {
        format!("api-usage={}/{}", self.used, self.limit)
    }
}

type Shared = serve::Shared<Inner>;

/// A running local Salesforce org; stops when dropped.
#[derive(Debug)]
pub struct Salesforce {
    shared: Arc<Shared>,
    server: serve::Running,
}

impl Salesforce {
    /// Starts an empty org on `127.0.0.1:0` that accepts [`ACCESS_TOKEN`].
    ///
    /// # Panics
    /// When it cannot bind a loopback port.
    pub async fn start() -> Salesforce {
        let listener = serve::Listener::loopback().await;
        let addr = listener.addr();
        let org_id = make_id("00D", 0x05C2_4D00 + u64::from(addr.port()));
        let shared = Arc::new(Shared::new(addr, Inner::new(org_id)));
        let app = axum::Router::new()
            .fallback(handle)
            .with_state(shared.clone());
        let server = listener.serve(app);
        Salesforce { shared, server }
    }

    /// `http://127.0.0.1:PORT`: the org's instance URL.
    pub fn url(&self) -> String {
        self.shared.base()
    }

    /// The server's address.
    pub fn addr(&self) -> SocketAddr {
        self.server.addr
    }

    /// The org's 18-character id (`00D…`), as Outbound Messages carry it.
    pub fn org_id(&self) -> String {
        self.shared.lock().org_id.clone()
    }

    /// Accepts `token` instead of [`ACCESS_TOKEN`] (the old one is revoked).
    pub fn set_token(&self, token: &str) {
        self.shared.lock().token = token.to_string();
    }

    /// Serves the org's token endpoint ([`Salesforce::token_url`]) for one connected
    /// app (`client_id`, `client_secret`, `refresh_token`), issuing sessions that end
    /// after `lifetime` (the org's session timeout; the answer does not say it), and
    /// stops accepting [`ACCESS_TOKEN`].
    pub fn issue_tokens(&self, client: (&str, &str, &str), lifetime: Duration) {
        let base = self.shared.base();
        let mut s = self.shared.lock();
        s.issuer = Some(crate::oauth::Issuer::new(
            crate::oauth::Dialect::Salesforce,
            client,
            lifetime,
            base,
        ));
        s.token = String::new();
    }

    /// `http://127.0.0.1:PORT/services/oauth2/token`.
    pub fn token_url(&self) -> String {
        format!("{}/services/oauth2/token", self.shared.base())
    }

    /// Access tokens issued so far.
    pub fn tokens_issued(&self) -> usize {
        self.shared.lock().issuer.as_ref().map_or(0, |i| i.issued())
    }

    /// Allows `max` requests per `window` (a rolling day in Salesforce); past it,
    /// 403 `REQUEST_LIMIT_EXCEEDED`. Usage so far is kept.
    pub fn set_limit(&self, max: u64, window: Duration) {
        let mut s = self.shared.lock();
        s.limit = max;
        s.window = window;
    }

    /// Requests counted in the current window.
    pub fn usage(&self) -> u64 {
        self.shared.lock().used
    }

    /// Requests refused with `REQUEST_LIMIT_EXCEEDED` so far.
    pub fn limited(&self) -> u64 {
        self.shared.lock().limited
    }

    /// Answers every request with `status` (a 5xx) until set back to `None`.
    pub fn fail_with(&self, status: Option<u16>) {
        self.shared.lock().fail = status;
    }

    /// Returns at most `n` records per query batch (Salesforce may return fewer than
    /// asked, "based on the size and complexity of records queried").
    pub fn set_query_batch(&self, n: Option<usize>) {
        self.shared.lock().query_batch = n;
    }

    /// Forgets every query locator, as Salesforce does after about 15 minutes.
    pub fn expire_query_locators(&self) {
        self.shared.lock().locators.clear();
    }

    /// Answers the next `GET /query/{locator}` with 400 `INVALID_QUERY_LOCATOR`, as
    /// for a locator that expired between two pages.
    pub fn lose_next_query_locator(&self) {
        self.shared.lock().lose_next_locator = true;
    }

    /// A sales person creates a Contact with `fields` in the UI (no request is
    /// counted); its id.
    ///
    /// # Panics
    /// When the Contact is refused.
    pub fn sales_create_contact(&self, fields: Value) -> String {
        let mut s = self.shared.lock();
        let id = s.new_id(&schema::CONTACT);
        let body = fields.as_object().cloned().expect("fields are an object");
        let now = now_ms() / 1000 * 1000;
        create(&mut s.store, &schema::CONTACT, id, &body, now)
            .unwrap_or_else(|e| panic!("sales create refused: {e:?}"))
    }

    /// Carries out the next `n` composite requests that create a record but answers
    /// them `504` (the answer lost on the way back, as behind a gateway timeout).
    pub fn lose_answers(&self, n: u32) {
        self.shared.lock().lose_answers = n;
    }

    /// Every Case, oldest first.
    pub fn cases(&self) -> Vec<Value> {
        self.all(&schema::CASE)
    }

    /// Every request so far, in arrival order.
    pub fn requests(&self) -> Vec<Recorded> {
        self.shared.lock().requests.clone()
    }

    fn all(&self, object: &Object) -> Vec<Value> {
        self.shared
            .lock()
            .store
            .of(object)
            .map(|r| Value::Object(r.fields.clone()))
            .collect()
    }

    /// Every Contact, oldest first.
    pub fn contacts(&self) -> Vec<Value> {
        self.all(&schema::CONTACT)
    }

    /// The Contact whose WhatsApp number (the external id) is `e164`.
    pub fn contact_by_whatsapp(&self, e164: &str) -> Option<Value> {
        self.contacts()
            .into_iter()
            .find(|c| c[EXTERNAL_ID_FIELD] == e164)
    }

    /// A record by id.
    pub fn record(&self, id: &str) -> Option<Value> {
        self.shared
            .lock()
            .store
            .get(id)
            .map(|r| Value::Object(r.fields.clone()))
    }

    /// The Tasks whose `WhoId` is `contact_id`, oldest first.
    pub fn tasks_of(&self, contact_id: &str) -> Vec<Value> {
        self.all(&schema::TASK)
            .into_iter()
            .filter(|t| t["WhoId"].as_str().map(id15) == Some(id15(contact_id)))
            .collect()
    }

    /// Every Opportunity, oldest first.
    pub fn opportunities(&self) -> Vec<Value> {
        self.all(&schema::OPPORTUNITY)
    }

    /// Every OpportunityContactRole, oldest first.
    pub fn contact_roles(&self) -> Vec<Value> {
        self.all(&schema::CONTACT_ROLE)
    }

    /// The Opportunities `contact_id` has a contact role on, oldest first.
    pub fn opportunities_of(&self, contact_id: &str) -> Vec<Value> {
        let opp_ids: Vec<String> = self
            .contact_roles()
            .iter()
            .filter(|r| r["ContactId"].as_str().map(id15) == Some(id15(contact_id)))
            .filter_map(|r| r["OpportunityId"].as_str().map(str::to_owned))
            .collect();
        self.opportunities()
            .into_iter()
            .filter(|o| {
                o["Id"]
                    .as_str()
                    .is_some_and(|id| opp_ids.iter().any(|x| id15(x) == id15(id)))
            })
            .collect()
    }

    /// A sales person changes Contact `id` in the UI: `changes` are validated like
    /// an API update (no request is counted) and `LastModifiedDate` moves to the
    /// next whole second after the call (Salesforce keeps whole seconds), so the edit
    /// is newer than anything before it. The record after the edit.
    ///
    /// # Panics
    /// When the edit is refused.
    pub async fn sales_edit(&self, id: &str, changes: Value) -> Value {
        let call = now_ms();
        let at = (call / 1000 + 1) * 1000;
        tokio::time::sleep(Duration::from_millis((at - call).max(0) as u64)).await;
        let mut s = self.shared.lock();
        let object = s.store.get(id).expect("no such record").object;
        let body = changes.as_object().cloned().expect("changes are an object");
        if let Err(e) = update(&mut s.store, object, id, &body, at) {
            panic!("sales edit refused: {e:?}");
        }
        Value::Object(s.store.get(id).expect("record").fields.clone())
    }

    /// The SOAP Outbound Message this org sends about Contacts `ids` (fields `Id`,
    /// `FirstName`, `LastName`, the WhatsApp number, `Customer_Level__c` and
    /// `LastModifiedDate`; empty fields left out, as Salesforce does).
    pub fn outbound_message(&self, ids: &[&str]) -> String {
        let org = self.org_id();
        self.outbound_message_from(&org, ids)
    }

    /// The same Outbound Message, claiming to come from org `org_id`.
    pub fn outbound_message_from(&self, org_id: &str, ids: &[&str]) -> String {
        let s = self.shared.lock();
        let esc = |v: &str| {
            v.replace('&', "&amp;")
                .replace('<', "&lt;")
                .replace('>', "&gt;")
                .replace('"', "&quot;")
        };
        let mut notifications = String::new();
        for (i, id) in ids.iter().enumerate() {
            let rec = s.store.get(id).expect("no such Contact");
            let mut fields = String::new();
            for name in [
                "Id",
                "Customer_Level__c",
                "FirstName",
                "LastModifiedDate",
                "LastName",
                EXTERNAL_ID_FIELD,
            ] {
                let v = match (name, &rec.fields[name]) {
                    ("LastModifiedDate", Value::String(t)) => {
                        clock::parse_datetime(t).map(clock::xsd).unwrap_or_default()
                    }
                    (_, Value::String(t)) => t.clone(),
                    _ => continue,
                };
                fields.push_str(&format!("\n      <sf:{name}>{}</sf:{name}>", esc(&v)));
            }
            notifications.push_str(&format!(
                r#"
   <Notification>
    <Id>{}</Id>
    <sObject xsi:type="sf:Contact" xmlns:sf="urn:sobject.enterprise.soap.sforce.com">{fields}
    </sObject>
   </Notification>"#,
                make_id("04l", 1 + i as u64)
            ));
        }
        let org15 = id15(org_id);
        format!(
            r#"<?xml version="1.0" encoding="UTF-8"?>
<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
 <soapenv:Body>
  <notifications xmlns="http://soap.sforce.com/2005/09/outbound">
   <OrganizationId>{org_id}</OrganizationId>
   <ActionId>{}</ActionId>
   <SessionId xsi:nil="true"/>
   <EnterpriseUrl>{base}/services/Soap/c/{API_VERSION}/{org15}</EnterpriseUrl>
   <PartnerUrl>{base}/services/Soap/u/{API_VERSION}/{org15}</PartnerUrl>{notifications}
  </notifications>
 </soapenv:Body>
</soapenv:Envelope>
"#,
            make_id("04k", 1),
            base = self.shared.base(),
        )
    }
}

/// Every request lands here: failure switch, auth, limits, then routing.
async fn handle(State(shared): State<Arc<Shared>>, req: axum::extract::Request) -> Response {
    let at = Instant::now();
    let (parts, body) = req.into_parts();
    let bytes = axum::body::to_bytes(body, 16 << 20)
        .await
        .unwrap_or_default();
    let path = parts.uri.path().to_string();
    let query = parts.uri.query().map(str::to_string);
    let mut s = shared.lock();
    let (answer, subrequests) = answer(
        &mut s,
        &parts.method,
        &path,
        query.as_deref(),
        &parts.headers,
        &bytes,
    );
    s.requests.push(Recorded {
        at,
        method: parts.method.to_string(),
        path,
        status: answer.status,
        subrequests,
    });
    drop(s);
    let mut resp = if answer.status == 204 {
        StatusCode::NO_CONTENT.into_response()
    } else {
        let mut r = axum::Json(answer.body).into_response();
        *r.status_mut() = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::OK);
        r.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json;charset=UTF-8"),
        );
        r
    };
    for (k, v) in answer.headers {
        if let (Ok(k), Ok(v)) = (
            axum::http::HeaderName::try_from(k),
            HeaderValue::try_from(v),
        ) {
            resp.headers_mut().insert(k, v);
        }
    }
    resp
}

fn answer(
    s: &mut Inner,
    method: &Method,
    path: &str,
    query: Option<&str>,
    headers: &HeaderMap,
    bytes: &[u8],
) -> (Answer, Vec<String>) {
    if let Some(status) = s.fail {
        let e = if status == 503 {
            SfError::new(
                503,
                "SERVER_UNAVAILABLE",
                "Salesforce is temporarily unavailable",
            )
        } else {
            SfError::new(
                status,
                "UNKNOWN_EXCEPTION",
                "An unexpected error occurred. Please include this ErrorId if you contact support: 1234567890-12345 (-123456789)",
            )
        };
        return (e.into(), Vec::new());
    }
    if path == "/services/oauth2/token"
        && method == Method::POST
        && let Some(issuer) = s.issuer.as_mut()
    {
        let (status, body) = issuer.grant(&crate::oauth::params(query, bytes));
        return (Answer::ok(status, body), Vec::new());
    }
    let Some(rest) = path.strip_prefix("/services/data/") else {
        return (SfError::not_found().into(), Vec::new());
    };
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let issued = |b: &str| s.issuer.as_ref().is_some_and(|i| i.valid(b));
    if !(bearer == Some(s.token.as_str()) && !s.token.is_empty() || bearer.is_some_and(issued)) {
        let mut a: Answer =
            SfError::new(401, "INVALID_SESSION_ID", "Session expired or invalid").into();
        a.headers.push(("www-authenticate".into(), "Token".into()));
        return (a, Vec::new());
    }
    if s.window_start.elapsed() >= s.window {
        s.window_start = Instant::now();
        s.used = 0;
    }
    if s.used >= s.limit {
        s.limited += 1;
        let mut a: Answer = SfError::new(
            403,
            "REQUEST_LIMIT_EXCEEDED",
            "TotalRequests Limit exceeded.",
        )
        .into();
        a.headers.push(("sforce-limit-info".into(), s.limit_info()));
        return (a, Vec::new());
    }
    s.used += 1;
    let (version, rest) = rest.split_once('/').unwrap_or((rest, ""));
    let mut subrequests = Vec::new();
    let mut a = match api_version(version) {
        None => SfError::not_found().into(),
        Some(v) => {
            let body = if bytes.is_empty() {
                Ok(None)
            } else {
                serde_json::from_slice::<Value>(bytes)
                    .map(Some)
                    .map_err(|e| SfError::json(format!("Unexpected character: {e}")))
            };
            match (method, rest, body) {
                (_, _, Err(e)) => e.into(),
                (&Method::POST, "composite", Ok(Some(b))) => {
                    subrequests = b["compositeRequest"]
                        .as_array()
                        .map(|a| {
                            a.iter()
                                .map(|r| {
                                    format!(
                                        "{} {}",
                                        r["method"].as_str().unwrap_or("?"),
                                        r["url"].as_str().unwrap_or("?")
                                    )
                                })
                                .collect()
                        })
                        .unwrap_or_default();
                    let creates = subrequests.iter().any(|r| r.starts_with("POST "));
                    let a = composite(s, &b);
                    if creates && a.status == 200 && s.lose_answers > 0 {
                        s.lose_answers -= 1;
                        SfError::new(504, "GATEWAY_TIMEOUT", "Gateway Timeout").into()
                    } else {
                        a
                    }
                }
                (&Method::POST, "composite", Ok(None)) => {
                    SfError::json("No content to map due to end-of-input").into()
                }
                (m, rest, Ok(body)) => {
                    let batch = headers
                        .get("sforce-query-options")
                        .and_then(|h| h.to_str().ok())
                        .and_then(|h| h.trim().strip_prefix("batchSize="))
                        .and_then(|n| n.trim().parse().ok());
                    route(s, v, m.as_str(), rest, query, body.as_ref(), batch)
                }
            }
        }
    };
    a.headers.push(("sforce-limit-info".into(), s.limit_info()));
    (a, subrequests)
}

/// The numeric version of `v62.0`, when Salesforce serves it.
fn api_version(v: &str) -> Option<u32> {
    let n: u32 = v.strip_prefix('v')?.strip_suffix(".0")?.parse().ok()?;
    (20..=66).contains(&n).then_some(n)
}

/// A resource below `/services/data/vXX.X/` (also a composite subrequest's).
fn route(
    s: &mut Inner,
    version: u32,
    method: &str,
    rest: &str,
    query: Option<&str>,
    body: Option<&Value>,
    batch: Option<usize>,
) -> Answer {
    let segments: Vec<String> = rest.split('/').map(percent_decode).collect();
    let segs: Vec<&str> = segments.iter().map(String::as_str).collect();
    let params = query.map(parse_query).unwrap_or_default();
    match (method, segs.as_slice()) {
        ("GET", ["query"]) => match params.get("q") {
            Some(q) => run_query(s, version, q, batch).unwrap_or_else(Answer::from),
            None => {
                SfError::new(400, "MALFORMED_QUERY", "A query string has to be specified").into()
            }
        },
        ("GET", ["query", locator]) => query_more(s, version, locator, batch),
        (m, ["sobjects", object, rest @ ..]) => {
            let Some(obj) = schema::object(object) else {
                return SfError::not_found().into();
            };
            sobject(s, version, m, obj, rest, &params, body)
        }
        _ => SfError::not_found().into(),
    }
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && i + 2 < b.len()
            && let Some(v) = std::str::from_utf8(&b[i + 1..i + 3])
                .ok()
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(v);
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn parse_query(q: &str) -> HashMap<String, String> {
    q.split('&')
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            (
                percent_decode(&k.replace('+', " ")),
                percent_decode(&v.replace('+', " ")),
            )
        })
        .collect()
}

/// `/sobjects/{Object}[/…]`.
fn sobject(
    s: &mut Inner,
    version: u32,
    method: &str,
    obj: &'static Object,
    rest: &[&str],
    params: &HashMap<String, String>,
    body: Option<&Value>,
) -> Answer {
    let now = (now_ms() / 1000) * 1000;
    let body_map = || -> Result<Map<String, Value>, SfError> {
        match body {
            Some(Value::Object(m)) => Ok(m.clone()),
            Some(_) => Err(SfError::json(
                "Cannot deserialize instance of sObject from START_ARRAY value",
            )),
            None => Err(SfError::json("No content to map due to end-of-input")),
        }
    };
    let location = |id: &str| {
        (
            "location".to_string(),
            format!("/services/data/v{version}.0/sobjects/{}/{id}", obj.name),
        )
    };
    match (method, rest) {
        ("POST", []) => {
            let result = body_map().and_then(|b| {
                let id = s.new_id(obj);
                create(&mut s.store, obj, id, &b, now)
            });
            match result {
                Ok(id) => {
                    let mut a = Answer::ok(201, json!({"id": id, "success": true, "errors": []}));
                    a.headers.push(location(&id));
                    a
                }
                Err(e) => e.into(),
            }
        }
        ("GET", [id]) => read(
            &s.store,
            version,
            obj,
            id,
            params.get("fields").map(String::as_str),
        ),
        ("PATCH", [id]) => match body_map().and_then(|b| update(&mut s.store, obj, id, &b, now)) {
            Ok(()) => Answer::ok(204, Value::Null),
            Err(e) => e.into(),
        },
        ("PATCH", [field, value]) => {
            let Some(f) = obj.field(field).filter(|f| f.external_id) else {
                return SfError::new(
                    404,
                    "NOT_FOUND",
                    format!(
                        "Provided external ID field does not exist or is not accessible: {field}"
                    ),
                )
                .into();
            };
            let body = match body_map() {
                Ok(b) => b,
                Err(e) => return e.into(),
            };
            let matches: Vec<String> = s
                .store
                .of(obj)
                .filter(|r| r.fields[f.name].as_str() == Some(*value))
                .filter_map(|r| r.fields["Id"].as_str().map(str::to_owned))
                .collect();
            match matches.as_slice() {
                [] => {
                    let mut b = body;
                    b.insert(f.name.to_string(), json!(value));
                    let id = s.new_id(obj);
                    match create(&mut s.store, obj, id, &b, now) {
                        Ok(id) => {
                            let mut a = Answer::ok(
                                201,
                                json!({"id": id, "success": true, "errors": [], "created": true}),
                            );
                            a.headers.push(location(&id));
                            a
                        }
                        Err(e) => e.into(),
                    }
                }
                [id] => match update(&mut s.store, obj, id, &body, now) {
                    Ok(()) if version >= 46 => Answer::ok(
                        200,
                        json!({"id": id, "success": true, "errors": [], "created": false}),
                    ),
                    Ok(()) => Answer::ok(204, Value::Null),
                    Err(e) => e.into(),
                },
                many => Answer::ok(
                    300,
                    json!(
                        many.iter()
                            .map(|id| format!(
                                "/services/data/v{version}.0/sobjects/{}/{id}",
                                obj.name
                            ))
                            .collect::<Vec<_>>()
                    ),
                ),
            }
        }
        (m, [] | [_] | [_, _]) => SfError::new(
            405,
            "METHOD_NOT_ALLOWED",
            format!("HTTP Method '{m}' not allowed. Allowed are GET,PATCH,POST"),
        )
        .into(),
        _ => SfError::not_found().into(),
    }
}

/// Checks `value` for `field` of `obj`; the value to store.
fn check_value(store: &Store, field: &schema::Field, value: &Value) -> Result<Value, SfError> {
    if value.is_null() {
        if field.required {
            return Err(SfError::new(
                400,
                "REQUIRED_FIELD_MISSING",
                format!("Required fields are missing: [{}]", field.name),
            )
            .on(&[field.name]));
        }
        return Ok(Value::Null);
    }
    let wrong = |what: &str| {
        SfError::json(format!(
            "Cannot deserialize instance of {what} from {} value {value} or request may be missing a required field",
            match value {
                Value::String(_) => "VALUE_STRING",
                Value::Number(_) => "VALUE_NUMBER",
                Value::Bool(_) => "VALUE_TRUE",
                Value::Array(_) => "START_ARRAY",
                _ => "START_OBJECT",
            }
        ))
    };
    match field.kind {
        Kind::Id => Err(wrong("id")),
        Kind::Text(max) => {
            let text = match value {
                Value::String(t) => t.clone(),
                Value::Number(n) => n.to_string(),
                Value::Bool(b) => b.to_string(),
                _ => return Err(wrong("string")),
            };
            if text.chars().count() > max {
                return Err(SfError::new(
                    400,
                    "STRING_TOO_LONG",
                    format!(
                        "{}: data value too large: {text} (max length={max})",
                        field.label
                    ),
                )
                .on(&[field.name]));
            }
            Ok(json!(text))
        }
        Kind::Picklist(values, restricted) => {
            let Value::String(t) = value else {
                return Err(wrong("string"));
            };
            if restricted && !values.contains(&t.as_str()) {
                return Err(SfError::new(
                    400,
                    "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
                    format!(
                        "{}: bad value for restricted picklist field: {t}",
                        field.label
                    ),
                )
                .on(&[field.name]));
            }
            Ok(value.clone())
        }
        Kind::Date => match value.as_str().and_then(clock::parse_date) {
            Some(_) => Ok(value.clone()),
            None => Err(wrong("date")),
        },
        Kind::DateTime => match value.as_str().and_then(clock::parse_datetime) {
            Some(ms) => Ok(json!(clock::rest(ms))),
            None => Err(wrong("datetime")),
        },
        Kind::Boolean => match value {
            Value::Bool(_) => Ok(value.clone()),
            _ => Err(wrong("boolean")),
        },
        Kind::Double => match value {
            Value::Number(_) => Ok(value.clone()),
            _ => Err(wrong("double")),
        },
        Kind::Reference(targets) => {
            let Value::String(id) = value else {
                return Err(wrong("reference"));
            };
            if !is_id(id) {
                return Err(SfError::new(
                    400,
                    "MALFORMED_ID",
                    format!("{}: id value of incorrect type: {id}", field.label),
                )
                .on(&[field.name]));
            }
            match store.get(id) {
                Some(r) if targets.contains(&r.object.name) => {
                    Ok(json!(r.fields["Id"].as_str().unwrap_or(id)))
                }
                _ => Err(SfError::new(
                    400,
                    "INVALID_CROSS_REFERENCE_KEY",
                    format!("{}: invalid cross reference id", field.label),
                )
                .on(&[field.name])),
            }
        }
    }
}

/// Checks a create or update body field by field.
fn check_body(
    store: &Store,
    obj: &Object,
    body: &Map<String, Value>,
    creating: bool,
) -> Result<Map<String, Value>, SfError> {
    let mut out = Map::new();
    for (name, value) in body {
        let Some(field) = obj.field(name) else {
            return Err(SfError::new(
                400,
                "INVALID_FIELD",
                format!("No such column '{name}' on sobject of type {}", obj.name),
            ));
        };
        if (creating && !field.create) || (!creating && !field.update) {
            return Err(SfError::new(
                400,
                "INVALID_FIELD_FOR_INSERT_UPDATE",
                format!(
                    "Unable to create/update fields: {}. Please check the security settings of this field \
                     and verify that it is read/write for your profile or permission set.",
                    field.name
                ),
            )
            .on(&[field.name]));
        }
        out.insert(field.name.to_string(), check_value(store, field, value)?);
    }
    Ok(out)
}

/// Fields Salesforce computes.
fn derive(rec: &mut Rec) {
    let text = |r: &Rec, f: &str| r.fields.get(f).and_then(Value::as_str).map(str::to_owned);
    if std::ptr::eq(rec.object, &schema::CONTACT) {
        let name = ["Salutation", "FirstName", "LastName"]
            .iter()
            .filter_map(|f| text(rec, f))
            .filter(|t| !t.is_empty())
            .collect::<Vec<_>>()
            .join(" ");
        rec.fields.insert("Name".into(), json!(name));
    }
    if std::ptr::eq(rec.object, &schema::OPPORTUNITY) {
        let closed = text(rec, "StageName").is_some_and(|s| s.starts_with("Closed"));
        rec.fields.insert("IsClosed".into(), json!(closed));
    }
    if std::ptr::eq(rec.object, &schema::CASE) {
        let closed = text(rec, "Status").as_deref() == Some("Closed");
        rec.fields.insert("IsClosed".into(), json!(closed));
        if text(rec, "CaseNumber").is_none() {
            let id = text(rec, "Id").unwrap_or_default();
            let n = u64::from_str_radix(id.get(3..15).unwrap_or("0"), 36).unwrap_or(0);
            rec.fields.insert(
                "CaseNumber".into(),
                json!(format!("{:08}", n % 100_000_000)),
            );
        }
    }
}

/// A unique external id stays unique.
fn check_unique(store: &Store, rec: &Rec) -> Result<(), SfError> {
    for f in rec.object.fields.iter().filter(|f| f.external_id) {
        let Some(v) = rec.fields.get(f.name).and_then(Value::as_str) else {
            continue;
        };
        if let Some(other) = store.of(rec.object).find(|r| {
            r.fields.get(f.name).and_then(Value::as_str) == Some(v)
                && r.fields["Id"] != rec.fields["Id"]
        }) {
            return Err(SfError::new(
                400,
                "DUPLICATE_VALUE",
                format!(
                    "duplicate value found: {} duplicates value on record with id: {}",
                    f.name,
                    other.fields["Id"].as_str().unwrap_or_default()
                ),
            )
            .on(&[f.name]));
        }
    }
    Ok(())
}

fn create(
    store: &mut Store,
    obj: &'static Object,
    id: String,
    body: &Map<String, Value>,
    now: i64,
) -> Result<String, SfError> {
    let values = check_body(store, obj, body, true)?;
    let missing: Vec<&str> = obj
        .fields
        .iter()
        .filter(|f| f.required && f.default.is_none())
        .filter(|f| values.get(f.name).is_none_or(Value::is_null))
        .map(|f| f.name)
        .collect();
    if !missing.is_empty() {
        return Err(SfError::new(
            400,
            "REQUIRED_FIELD_MISSING",
            format!("Required fields are missing: [{}]", missing.join(", ")),
        )
        .on(&missing));
    }
    let mut fields = Map::new();
    for f in obj.fields {
        let v = match (values.get(f.name), f.default) {
            (Some(v), _) => v.clone(),
            (None, Some(d)) if f.kind == Kind::Boolean => json!(d == "true"),
            (None, Some(d)) => json!(d),
            (None, None) => Value::Null,
        };
        fields.insert(f.name.to_string(), v);
    }
    let stamp = json!(clock::rest(now));
    fields.insert("Id".into(), json!(id));
    fields.insert("CreatedDate".into(), stamp.clone());
    fields.insert("LastModifiedDate".into(), stamp.clone());
    fields.insert("SystemModstamp".into(), stamp);
    fields.insert("IsDeleted".into(), json!(false));
    let mut rec = Rec {
        object: obj,
        fields,
    };
    derive(&mut rec);
    check_unique(store, &rec)?;
    store.records.insert(id15(&id).to_string(), rec);
    Ok(id)
}

fn update(
    store: &mut Store,
    obj: &'static Object,
    id: &str,
    body: &Map<String, Value>,
    now: i64,
) -> Result<(), SfError> {
    if !is_id(id) {
        return Err(SfError::new(
            400,
            "MALFORMED_ID",
            format!("{} ID: id value of incorrect type: {id}", obj.name),
        ));
    }
    let Some(mut rec) = store
        .get(id)
        .filter(|r| std::ptr::eq(r.object, obj))
        .cloned()
    else {
        return Err(SfError::not_found());
    };
    let values = check_body(store, obj, body, false)?;
    for (k, v) in values {
        rec.fields.insert(k, v);
    }
    let stamp = json!(clock::rest(now));
    rec.fields.insert("LastModifiedDate".into(), stamp.clone());
    rec.fields.insert("SystemModstamp".into(), stamp);
    derive(&mut rec);
    check_unique(store, &rec)?;
    store.records.insert(id15(id).to_string(), rec);
    Ok(())
}

/// `GET /sobjects/{Object}/{id}[?fields=…]`.
fn read(store: &Store, version: u32, obj: &Object, id: &str, fields: Option<&str>) -> Answer {
    let Some(rec) = store.get(id).filter(|r| std::ptr::eq(r.object, obj)) else {
        return SfError::not_found().into();
    };
    let mut out = Map::new();
    out.insert(
        "attributes".into(),
        json!({"type": obj.name,
               "url": format!("/services/data/v{version}.0/sobjects/{}/{}", obj.name, rec.fields["Id"].as_str().unwrap_or(id))}),
    );
    match fields {
        Some(list) => {
            for name in list.split(',').map(str::trim) {
                let Some(f) = obj.field(name) else {
                    return SfError::no_column(name, obj.name).into();
                };
                out.insert(f.name.into(), rec.fields[f.name].clone());
            }
        }
        None => {
            for f in obj.fields {
                out.insert(f.name.into(), rec.fields[f.name].clone());
            }
        }
    }
    Answer::ok(200, Value::Object(out))
}

/// `POST /composite`: subrequests in order, one transaction when `allOrNone`.
fn composite(s: &mut Inner, body: &Value) -> Answer {
    let Some(subs) = body["compositeRequest"].as_array() else {
        return SfError::json("'compositeRequest' is a required field.").into();
    };
    if subs.is_empty() || subs.len() > 25 {
        return SfError::new(
            400,
            "INVALID_REQUEST",
            "The composite request must contain between 1 and 25 subrequests",
        )
        .into();
    }
    let all_or_none = body["allOrNone"].as_bool().unwrap_or(false);
    let mut seen = Vec::new();
    for sub in subs {
        let Some(r) = sub["referenceId"].as_str() else {
            return SfError::json("'referenceId' is a required field.").into();
        };
        if r.is_empty() || !r.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            return SfError::new(
                400,
                "INVALID_INPUT",
                format!("Invalid reference id: {r}. Reference IDs can only contain alphanumeric characters and underscores."),
            )
            .into();
        }
        if seen.contains(&r) {
            return SfError::new(
                400,
                "INVALID_INPUT",
                format!("Duplicate ReferenceId provided in the request: {r}"),
            )
            .into();
        }
        seen.push(r);
        if !matches!(
            sub["method"].as_str(),
            Some("GET" | "POST" | "PATCH" | "PUT" | "DELETE")
        ) {
            return SfError::json("'method' must be one of GET, POST, PUT, PATCH, DELETE").into();
        }
        if !sub["url"]
            .as_str()
            .is_some_and(|u| u.starts_with("/services/data/v"))
        {
            return SfError::json("'url' must start with /services/data/vXX.X/").into();
        }
        if let Some(h) = sub["httpHeaders"].as_object()
            && h.keys().any(|k| {
                ["authorization", "accept", "content-type"]
                    .contains(&k.to_ascii_lowercase().as_str())
            })
        {
            return SfError::new(
                400,
                "INVALID_INPUT",
                "Subrequests can't set Authorization, Accept or Content-Type",
            )
            .into();
        }
    }
    let snapshot = s.store.clone();
    let mut results: Vec<(String, Answer)> = Vec::new();
    let mut failed_at: Option<usize> = None;
    for (i, sub) in subs.iter().enumerate() {
        let r = sub["referenceId"].as_str().unwrap_or_default().to_string();
        if all_or_none && failed_at.is_some() {
            results.push((r, rolled_back()));
            continue;
        }
        let answer = (|| -> Result<Answer, SfError> {
            let url = resolve_str(sub["url"].as_str().unwrap_or_default(), &results, &r)?;
            let body = match &sub["body"] {
                Value::Null => None,
                b => Some(resolve(b, &results, &r)?),
            };
            let (path, query) = url
                .split_once('?')
                .map_or((url.as_str(), None), |(p, q)| (p, Some(q)));
            let rest = path.strip_prefix("/services/data/").unwrap_or_default();
            let (v, rest) = rest.split_once('/').unwrap_or((rest, ""));
            let sub_version = api_version(v).ok_or_else(SfError::not_found)?;
            if rest == "composite" || rest.starts_with("composite/") {
                return Err(SfError::new(
                    400,
                    "INVALID_INPUT",
                    "Composite requests can't be nested",
                ));
            }
            let method = sub["method"].as_str().unwrap_or_default();
            Ok(route(
                s,
                sub_version,
                method,
                rest,
                query,
                body.as_ref(),
                None,
            ))
        })()
        .unwrap_or_else(Answer::from);
        if answer.status >= 400 && failed_at.is_none() {
            failed_at = Some(i);
        }
        results.push((r, answer));
    }
    if all_or_none && let Some(failed) = failed_at {
        s.store = snapshot;
        for (i, (_, a)) in results.iter_mut().enumerate() {
            if i != failed {
                *a = rolled_back();
            }
        }
    }
    let out: Vec<Value> = results
        .into_iter()
        .map(|(r, a)| {
            let headers: Map<String, Value> = a
                .headers
                .iter()
                .filter(|(k, _)| k == "location")
                .map(|(_, v)| ("Location".to_string(), json!(v)))
                .collect();
            json!({"body": if a.status == 204 { Value::Null } else { a.body },
                   "httpHeaders": headers, "httpStatusCode": a.status, "referenceId": r})
        })
        .collect();
    Answer::ok(200, json!({"compositeResponse": out}))
}

fn rolled_back() -> Answer {
    SfError::new(
        400,
        "PROCESSING_HALTED",
        "The transaction was rolled back since another operation in the same transaction failed.",
    )
    .into()
}

/// The value of reference `path` (`refX.field`, `refX.list[0].field`).
fn lookup(path: &str, results: &[(String, Answer)]) -> Option<Value> {
    let (head, rest) = path.split_once('.').unwrap_or((path, ""));
    let (_, answer) = results.iter().find(|(r, _)| r == head)?;
    if answer.status >= 300 {
        return None;
    }
    let mut v = answer.body.clone();
    for part in rest.split('.').filter(|p| !p.is_empty()) {
        let (name, idx) = match part.split_once('[') {
            Some((n, i)) => (n, i.strip_suffix(']')?.parse::<usize>().ok()),
            None => (part, None),
        };
        v = v.get(name)?.clone();
        if let Some(i) = idx {
            v = v.get(i)?.clone();
        }
    }
    (!v.is_null()).then_some(v)
}

fn halted(path: &str, current: &str) -> SfError {
    let head = path.split('.').next().unwrap_or(path);
    SfError::new(
        400,
        "PROCESSING_HALTED",
        format!(
            "Invalid reference specified. No value for {path} found in {head}. \
             Provided referenceId ('{head}') must be a valid reference ID of an earlier subrequest than '{current}'."
        ),
    )
}

/// `s` with each `@{ref.path}` replaced by its value.
fn resolve_str(s: &str, results: &[(String, Answer)], current: &str) -> Result<String, SfError> {
    let mut out = String::new();
    let mut rest = s;
    while let Some(start) = rest.find("@{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after.find('}').ok_or_else(|| halted(after, current))?;
        let path = &after[..end];
        let v = lookup(path, results).ok_or_else(|| halted(path, current))?;
        match v {
            Value::String(t) => out.push_str(&t),
            other => out.push_str(&other.to_string()),
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// `body` with its references resolved (a string that is one reference takes the
/// referenced value's type).
fn resolve(body: &Value, results: &[(String, Answer)], current: &str) -> Result<Value, SfError> {
    Ok(match body {
        Value::String(t) => {
            if let Some(path) = t.strip_prefix("@{").and_then(|p| p.strip_suffix('}'))
                && !path.contains('}')
            {
                lookup(path, results).ok_or_else(|| halted(path, current))?
            } else {
                json!(resolve_str(t, results, current)?)
            }
        }
        Value::Array(a) => Value::Array(
            a.iter()
                .map(|v| resolve(v, results, current))
                .collect::<Result<_, _>>()?,
        ),
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, v)| Ok((k.clone(), resolve(v, results, current)?)))
                .collect::<Result<_, SfError>>()?,
        ),
        other => other.clone(),
    })
}

/// `GET /query?q=…`: runs the SOQL, answers the first batch.
fn run_query(
    s: &mut Inner,
    version: u32,
    q: &str,
    batch: Option<usize>,
) -> Result<Answer, SfError> {
    let query = soql::parse(q)?;
    let rows = soql::run(&query, &s.store, version)?;
    Ok(page(s, version, rows, 0, batch, None))
}

/// `GET /query/{locator}-{offset}`.
fn query_more(s: &mut Inner, version: u32, locator: &str, batch: Option<usize>) -> Answer {
    let invalid = || SfError::new(400, "INVALID_QUERY_LOCATOR", "invalid query locator").into();
    if std::mem::take(&mut s.lose_next_locator) {
        return invalid();
    }
    let Some((id, offset)) = locator.rsplit_once('-') else {
        return invalid();
    };
    let Ok(offset) = offset.parse::<usize>() else {
        return invalid();
    };
    let Some(rows) = s.locators.get(id).cloned() else {
        return invalid();
    };
    if offset > rows.len() {
        return invalid();
    }
    page(s, version, rows, offset, batch, Some(id.to_string()))
}

/// One batch of `rows` from `offset`, with a locator for the rest.
fn page(
    s: &mut Inner,
    version: u32,
    rows: Vec<Value>,
    offset: usize,
    batch: Option<usize>,
    locator: Option<String>,
) -> Answer {
    let mut size = batch.unwrap_or(2000).clamp(200, 2000);
    if let Some(max) = s.query_batch {
        size = size.min(max.max(1));
    }
    let end = (offset + size).min(rows.len());
    let mut body = json!({"totalSize": rows.len(), "done": end == rows.len(),
                          "records": rows[offset..end].to_vec()});
    if end < rows.len() {
        let id = locator.unwrap_or_else(|| {
            s.next_id += 1;
            make_id("01g", s.next_id)
        });
        body["nextRecordsUrl"] = json!(format!("/services/data/v{version}.0/query/{id}-{end}"));
        s.locators.insert(id, rows);
    }
    Answer::ok(200, body)
}

/// The SOQL subset: `SELECT … FROM … [WHERE …] [ORDER BY …] [LIMIT n]`.
mod soql {
    use super::{SfError, Store, clock, id15, schema};
    use schema::{Kind, Object};
    use serde_json::{Map, Value, json};
    use std::cmp::Ordering;

    #[derive(Debug, Clone, PartialEq)]
    enum Tok {
        Word(String),
        Str(String),
        DateTime(i64),
        Date(i64),
        Num(f64),
        Comma,
        Open,
        Close,
        Op(&'static str),
    }

    /// A literal value in a condition.
    #[derive(Debug, Clone, PartialEq)]
    pub enum Lit {
        Null,
        Bool(bool),
        Str(String),
        DateTime(i64),
        Date(i64),
        Num(f64),
    }

    /// A WHERE condition.
    #[derive(Debug, Clone)]
    pub enum Cond {
        Cmp(&'static schema::Field, &'static str, Lit),
        In(&'static schema::Field, bool, Vec<Lit>),
        Not(Box<Cond>),
        And(Vec<Cond>),
        Or(Vec<Cond>),
    }

    /// A parsed query.
    #[derive(Debug)]
    pub struct Query {
        pub object: &'static Object,
        pub fields: Vec<&'static schema::Field>,
        pub filter: Option<Cond>,
        pub order: Vec<(&'static schema::Field, bool, bool)>,
        pub limit: Option<usize>,
    }

    fn malformed(what: &str) -> SfError {
        SfError::new(400, "MALFORMED_QUERY", format!("unexpected token: {what}"))
    }

    fn lex(q: &str) -> Result<Vec<Tok>, SfError> {
        let c: Vec<char> = q.chars().collect();
        let mut i = 0;
        let mut out = Vec::new();
        while i < c.len() {
            let ch = c[i];
            if ch.is_whitespace() {
                i += 1;
            } else if ch == ',' {
                out.push(Tok::Comma);
                i += 1;
            } else if ch == '(' {
                out.push(Tok::Open);
                i += 1;
            } else if ch == ')' {
                out.push(Tok::Close);
                i += 1;
            } else if ch == '\'' {
                let mut s = String::new();
                i += 1;
                loop {
                    let Some(&x) = c.get(i) else {
                        return Err(malformed("<EOF> (unterminated string)"));
                    };
                    i += 1;
                    match x {
                        '\'' => break,
                        '\\' => {
                            let e = c.get(i).copied().ok_or_else(|| malformed("\\"))?;
                            i += 1;
                            s.push(match e {
                                'n' | 'N' => '\n',
                                'r' | 'R' => '\r',
                                't' | 'T' => '\t',
                                'b' | 'B' => '\u{8}',
                                'f' | 'F' => '\u{c}',
                                '"' | '\'' | '\\' => e,
                                other => {
                                    return Err(SfError::new(
                                        400,
                                        "MALFORMED_QUERY",
                                        format!("Invalid string literal: illegal escape sequence \\{other}"),
                                    ));
                                }
                            });
                        }
                        x => s.push(x),
                    }
                }
                out.push(Tok::Str(s));
            } else if let Some(op) = ["!=", "<>", "<=", ">=", "=", "<", ">"]
                .into_iter()
                .find(|op| c[i..].starts_with(&op.chars().collect::<Vec<_>>()))
            {
                out.push(Tok::Op(if op == "<>" { "!=" } else { op }));
                i += op.len();
            } else if ch.is_ascii_digit() || ch == '-' {
                let start = i;
                i += 1;
                while i < c.len() && !c[i].is_whitespace() && !matches!(c[i], ',' | ')' | '(') {
                    i += 1;
                }
                let word: String = c[start..i].iter().collect();
                if let Some(ms) = word
                    .contains('T')
                    .then(|| clock::parse_datetime(&word))
                    .flatten()
                {
                    out.push(Tok::DateTime(ms));
                } else if let Some(d) = clock::parse_date(&word) {
                    out.push(Tok::Date(d));
                } else if let Ok(n) = word.parse::<f64>() {
                    out.push(Tok::Num(n));
                } else {
                    return Err(malformed(&word));
                }
            } else if ch.is_ascii_alphabetic() || ch == '_' {
                let start = i;
                while i < c.len() && (c[i].is_ascii_alphanumeric() || c[i] == '_' || c[i] == '.') {
                    i += 1;
                }
                out.push(Tok::Word(c[start..i].iter().collect()));
            } else {
                return Err(malformed(&ch.to_string()));
            }
        }
        Ok(out)
    }

    struct Parser {
        toks: Vec<Tok>,
        pos: usize,
        object: Option<&'static Object>,
    }

    impl Parser {
        fn peek(&self) -> Option<&Tok> {
            self.toks.get(self.pos)
        }

        fn next(&mut self) -> Option<Tok> {
            let t = self.toks.get(self.pos).cloned();
            self.pos += 1;
            t
        }

        fn keyword(&self, k: &str) -> bool {
            matches!(self.peek(), Some(Tok::Word(w)) if w.eq_ignore_ascii_case(k))
        }

        fn expect(&mut self, k: &str) -> Result<(), SfError> {
            if self.keyword(k) {
                self.pos += 1;
                Ok(())
            } else {
                Err(self.unexpected())
            }
        }

        fn unexpected(&self) -> SfError {
            match self.peek() {
                Some(Tok::Word(w)) => malformed(w),
                Some(t) => malformed(&format!("{t:?}")),
                None => malformed("<EOF>"),
            }
        }

        fn word(&mut self) -> Result<String, SfError> {
            match self.next() {
                Some(Tok::Word(w)) => Ok(w),
                _ => {
                    self.pos -= 1;
                    Err(self.unexpected())
                }
            }
        }

        fn field(&mut self) -> Result<&'static schema::Field, SfError> {
            let name = self.word()?;
            let obj = self
                .object
                .expect("object known before fields are resolved");
            if name.contains('.') {
                // Relationship paths are outside this subset.
                return Err(malformed(&name));
            }
            obj.field(&name)
                .ok_or_else(|| SfError::no_column(&name, obj.name))
        }

        fn literal(&mut self) -> Result<Lit, SfError> {
            Ok(match self.next() {
                Some(Tok::Str(s)) => Lit::Str(s),
                Some(Tok::DateTime(ms)) => Lit::DateTime(ms),
                Some(Tok::Date(d)) => Lit::Date(d),
                Some(Tok::Num(n)) => Lit::Num(n),
                Some(Tok::Word(w)) if w.eq_ignore_ascii_case("null") => Lit::Null,
                Some(Tok::Word(w)) if w.eq_ignore_ascii_case("true") => Lit::Bool(true),
                Some(Tok::Word(w)) if w.eq_ignore_ascii_case("false") => Lit::Bool(false),
                _ => {
                    self.pos -= 1;
                    return Err(self.unexpected());
                }
            })
        }

        fn condition(&mut self) -> Result<Cond, SfError> {
            let first = self.atom()?;
            let mut items = vec![first];
            let mut joiner: Option<&'static str> = None;
            loop {
                let j = if self.keyword("AND") {
                    "AND"
                } else if self.keyword("OR") {
                    "OR"
                } else {
                    break;
                };
                if joiner.is_some_and(|x| x != j) {
                    // SOQL wants parentheses around mixed AND and OR.
                    return Err(malformed(j));
                }
                joiner = Some(j);
                self.pos += 1;
                items.push(self.atom()?);
            }
            Ok(match (joiner, items.len()) {
                (_, 1) => items.pop().expect("one item"),
                (Some("OR"), _) => Cond::Or(items),
                _ => Cond::And(items),
            })
        }

        fn atom(&mut self) -> Result<Cond, SfError> {
            if self.keyword("NOT") {
                self.pos += 1;
                return Ok(Cond::Not(Box::new(self.atom()?)));
            }
            if self.peek() == Some(&Tok::Open) {
                self.pos += 1;
                let c = self.condition()?;
                if self.next() != Some(Tok::Close) {
                    self.pos -= 1;
                    return Err(self.unexpected());
                }
                return Ok(c);
            }
            let field = self.field()?;
            let negated = self.keyword("NOT");
            if negated {
                self.pos += 1;
            }
            if self.keyword("IN") {
                self.pos += 1;
                if self.next() != Some(Tok::Open) {
                    self.pos -= 1;
                    return Err(self.unexpected());
                }
                let mut values = vec![self.literal()?];
                loop {
                    match self.next() {
                        Some(Tok::Comma) => values.push(self.literal()?),
                        Some(Tok::Close) => break,
                        _ => {
                            self.pos -= 1;
                            return Err(self.unexpected());
                        }
                    }
                }
                for v in &values {
                    check_type(field, v)?;
                }
                return Ok(Cond::In(field, negated, values));
            }
            if negated {
                return Err(self.unexpected());
            }
            let op = match self.next() {
                Some(Tok::Op(op)) => op,
                _ => {
                    self.pos -= 1;
                    return Err(self.unexpected());
                }
            };
            let value = self.literal()?;
            check_type(field, &value)?;
            Ok(Cond::Cmp(field, op, value))
        }
    }

    /// A literal must suit its field, as Salesforce insists.
    fn check_type(field: &schema::Field, lit: &Lit) -> Result<(), SfError> {
        let ok = matches!(
            (field.kind, lit),
            (_, Lit::Null)
                | (Kind::DateTime, Lit::DateTime(_))
                | (Kind::Date, Lit::Date(_))
                | (Kind::Boolean, Lit::Bool(_))
                | (Kind::Double, Lit::Num(_))
                | (
                    Kind::Id | Kind::Text(_) | Kind::Picklist(..) | Kind::Reference(_),
                    Lit::Str(_)
                )
        );
        if ok {
            return Ok(());
        }
        let kind = match field.kind {
            Kind::DateTime => "dateTime and should not be enclosed in quotes",
            Kind::Date => "date and should not be enclosed in quotes",
            Kind::Boolean => "boolean and should not be enclosed in quotes",
            Kind::Double => "double and should not be enclosed in quotes",
            _ => "string and should be enclosed in quotes",
        };
        Err(SfError::new(
            400,
            "INVALID_QUERY_FILTER_OPERATOR",
            format!(
                "value of filter criterion for field '{}' must be of type {kind}",
                field.name
            ),
        ))
    }

    /// Parses `q`.
    ///
    /// # Errors
    /// `MALFORMED_QUERY`, `INVALID_TYPE`, `INVALID_FIELD` or
    /// `INVALID_QUERY_FILTER_OPERATOR`, as Salesforce.
    pub fn parse(q: &str) -> Result<Query, SfError> {
        let toks = lex(q)?;
        let mut p = Parser {
            toks,
            pos: 0,
            object: None,
        };
        p.expect("SELECT")?;
        let mut names = vec![p.word()?];
        while p.peek() == Some(&Tok::Comma) {
            p.pos += 1;
            names.push(p.word()?);
        }
        p.expect("FROM")?;
        let object_name = p.word()?;
        let object = schema::object(&object_name).ok_or_else(|| {
            SfError::new(
                400,
                "INVALID_TYPE",
                format!("sObject type '{object_name}' is not supported."),
            )
        })?;
        p.object = Some(object);
        let mut fields = Vec::new();
        for n in names {
            if n.contains('.') || n.contains('(') {
                return Err(malformed(&n));
            }
            fields.push(
                object
                    .field(&n)
                    .ok_or_else(|| SfError::no_column(&n, object.name))?,
            );
        }
        let filter = if p.keyword("WHERE") {
            p.pos += 1;
            Some(p.condition()?)
        } else {
            None
        };
        let mut order = Vec::new();
        if p.keyword("ORDER") {
            p.pos += 1;
            p.expect("BY")?;
            loop {
                let f = p.field()?;
                let mut asc = true;
                if p.keyword("ASC") {
                    p.pos += 1;
                } else if p.keyword("DESC") {
                    p.pos += 1;
                    asc = false;
                }
                let mut nulls_first = asc;
                if p.keyword("NULLS") {
                    p.pos += 1;
                    nulls_first = if p.keyword("FIRST") {
                        true
                    } else if p.keyword("LAST") {
                        false
                    } else {
                        return Err(p.unexpected());
                    };
                    p.pos += 1;
                }
                order.push((f, asc, nulls_first));
                if p.peek() == Some(&Tok::Comma) {
                    p.pos += 1;
                } else {
                    break;
                }
            }
        }
        let mut limit = None;
        if p.keyword("LIMIT") {
            p.pos += 1;
            match p.next() {
                Some(Tok::Num(n)) if n >= 0.0 && n.fract() == 0.0 => limit = Some(n as usize),
                _ => {
                    p.pos -= 1;
                    return Err(p.unexpected());
                }
            }
        }
        if p.peek().is_some() {
            return Err(p.unexpected());
        }
        Ok(Query {
            object,
            fields,
            filter,
            order,
            limit,
        })
    }

    /// A stored value as a comparable literal.
    fn value_of(field: &schema::Field, v: &Value) -> Lit {
        match (field.kind, v) {
            (_, Value::Null) => Lit::Null,
            (Kind::DateTime, Value::String(s)) => {
                clock::parse_datetime(s).map_or(Lit::Null, Lit::DateTime)
            }
            (Kind::Date, Value::String(s)) => clock::parse_date(s).map_or(Lit::Null, Lit::Date),
            (_, Value::String(s)) => Lit::Str(s.clone()),
            (_, Value::Bool(b)) => Lit::Bool(*b),
            (_, Value::Number(n)) => Lit::Num(n.as_f64().unwrap_or_default()),
            _ => Lit::Null,
        }
    }

    fn compare(field: &schema::Field, a: &Lit, b: &Lit) -> Option<Ordering> {
        match (a, b) {
            (Lit::DateTime(x), Lit::DateTime(y)) | (Lit::Date(x), Lit::Date(y)) => Some(x.cmp(y)),
            (Lit::Num(x), Lit::Num(y)) => x.partial_cmp(y),
            (Lit::Bool(x), Lit::Bool(y)) => Some(x.cmp(y)),
            (Lit::Str(x), Lit::Str(y)) => Some(match field.kind {
                // Ids compare on their case-sensitive 15-character key.
                Kind::Id | Kind::Reference(_) => id15(x).cmp(id15(y)),
                // Text comparisons ignore case in SOQL.
                _ => x.to_lowercase().cmp(&y.to_lowercase()),
            }),
            _ => None,
        }
    }

    fn matches(c: &Cond, fields: &Map<String, Value>) -> bool {
        match c {
            Cond::And(items) => items.iter().all(|i| matches(i, fields)),
            Cond::Or(items) => items.iter().any(|i| matches(i, fields)),
            Cond::Not(inner) => !matches(inner, fields),
            Cond::In(f, negated, values) => {
                let v = value_of(f, &fields[f.name]);
                let found = values.iter().any(|x| {
                    compare(f, &v, x) == Some(Ordering::Equal)
                        || (v == Lit::Null && *x == Lit::Null)
                });
                found != *negated
            }
            Cond::Cmp(f, op, lit) => {
                let v = value_of(f, &fields[f.name]);
                match (&v, lit, *op) {
                    (Lit::Null, Lit::Null, "=") => true,
                    (Lit::Null, Lit::Null, "!=") => false,
                    (_, Lit::Null, "=") => false,
                    (_, Lit::Null, "!=") => true,
                    (Lit::Null, _, "!=") => true,
                    _ => match compare(f, &v, lit) {
                        None => false,
                        Some(o) => match *op {
                            "=" => o == Ordering::Equal,
                            "!=" => o != Ordering::Equal,
                            "<" => o == Ordering::Less,
                            "<=" => o != Ordering::Greater,
                            ">" => o == Ordering::Greater,
                            _ => o != Ordering::Less,
                        },
                    },
                }
            }
        }
    }

    /// Runs `q` over `store`: the result rows as REST answers them.
    ///
    /// # Errors
    /// None today; kept for parity with Salesforce's runtime query errors.
    pub fn run(q: &Query, store: &Store, version: u32) -> Result<Vec<Value>, SfError> {
        let mut rows: Vec<&Map<String, Value>> = store
            .of(q.object)
            .map(|r| &r.fields)
            .filter(|f| q.filter.as_ref().is_none_or(|c| matches(c, f)))
            .collect();
        rows.sort_by(|a, b| {
            for (f, asc, nulls_first) in &q.order {
                let (x, y) = (value_of(f, &a[f.name]), value_of(f, &b[f.name]));
                let o = match (&x, &y) {
                    (Lit::Null, Lit::Null) => Ordering::Equal,
                    (Lit::Null, _) => {
                        if *nulls_first {
                            Ordering::Less
                        } else {
                            Ordering::Greater
                        }
                    }
                    (_, Lit::Null) => {
                        if *nulls_first {
                            Ordering::Greater
                        } else {
                            Ordering::Less
                        }
                    }
                    _ => {
                        let o = compare(f, &x, &y).unwrap_or(Ordering::Equal);
                        if *asc { o } else { o.reverse() }
                    }
                };
                if o != Ordering::Equal {
                    return o;
                }
            }
            Ordering::Equal
        });
        if let Some(n) = q.limit {
            rows.truncate(n);
        }
        Ok(rows
            .into_iter()
            .map(|r| {
                let id = r["Id"].as_str().unwrap_or_default();
                let mut out = Map::new();
                out.insert(
                    "attributes".into(),
                    json!({"type": q.object.name,
                           "url": format!("/services/data/v{version}.0/sobjects/{}/{id}", q.object.name)}),
                );
                for f in &q.fields {
                    out.insert(f.name.to_string(), r[f.name].clone());
                }
                Value::Object(out)
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_have_salesforce_checksums_and_sort_by_creation() {
        // A documented example: 001A0000006Vm9r → 001A0000006Vm9rIAC.
        assert_eq!(with_checksum("001A0000006Vm9r"), "001A0000006Vm9rIAC");
        let (a, b) = (make_id("003", 61), make_id("003", 62));
        assert_eq!(a.len(), 18);
        assert!(id15(&a) < id15(&b), "{a} < {b}");
    }

    #[test]
    fn dates_round_trip() {
        let ms = 1_795_634_400_123;
        assert_eq!(clock::rest(ms), "2026-11-25T19:20:00.123+0000");
        assert_eq!(clock::parse_datetime(&clock::rest(ms)), Some(ms));
        assert_eq!(
            clock::parse_datetime("2026-11-25T20:20:00.123+01:00"),
            Some(ms)
        );
        assert!(clock::parse_date("2026-02-30").is_none());
    }

    fn store_with_contacts(n: usize) -> Store {
        let mut store = Store::default();
        for i in 0..n {
            let mut b = Map::new();
            b.insert("LastName".into(), json!(format!("Person {i}")));
            b.insert(
                EXTERNAL_ID_FIELD.into(),
                json!(format!("+3934700000{i:02}")),
            );
            create(
                &mut store,
                &schema::CONTACT,
                make_id("003", i as u64 + 1),
                &b,
                1_000_000 + (i as i64 / 2) * 1000,
            )
            .unwrap();
        }
        store
    }

    #[test]
    fn the_connectors_query_runs() {
        let store = store_with_contacts(4);
        let first = make_id("003", 1);
        let q = format!(
            "SELECT Id, FirstName, LastName, WhatsApp_Number__c, LastModifiedDate FROM Contact \
             WHERE WhatsApp_Number__c != null AND LastModifiedDate >= {} \
             AND (LastModifiedDate > {} OR Id NOT IN ('{first}')) ORDER BY LastModifiedDate ASC, Id ASC",
            "1970-01-01T00:16:40Z", "1970-01-01T00:16:40Z"
        );
        let rows = soql::run(&soql::parse(&q).unwrap(), &store, 62).unwrap();
        let names: Vec<&str> = rows
            .iter()
            .map(|r| r["LastName"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["Person 1", "Person 2", "Person 3"]);
        assert_eq!(rows[0]["attributes"]["type"], "Contact");
    }

    #[test]
    fn other_queries_are_refused_as_salesforce_does() {
        let code = |q: &str| soql::parse(q).unwrap_err().code;
        assert_eq!(
            code("SELECT Id FROM Contact WHERE A = 1 AND B = 2 OR C = 3"),
            "INVALID_FIELD"
        );
        assert_eq!(
            code("SELECT Id FROM Contact WHERE LastName = 'a' AND Phone = 'b' OR Email = 'c'"),
            "MALFORMED_QUERY"
        );
        assert_eq!(code("SELECT COUNT() FROM Contact"), "MALFORMED_QUERY");
        assert_eq!(
            code("SELECT Id FROM Contact WHERE LastName LIKE 'a%'"),
            "MALFORMED_QUERY"
        );
        assert_eq!(
            code("SELECT Id, Account.Name FROM Contact"),
            "MALFORMED_QUERY"
        );
        assert_eq!(code("SELECT Id FROM Lead"), "INVALID_TYPE");
        assert_eq!(code("SELECT Foo__c FROM Contact"), "INVALID_FIELD");
        assert_eq!(
            code("SELECT Id FROM Contact WHERE LastModifiedDate > '2026-01-01T00:00:00Z'"),
            "INVALID_QUERY_FILTER_OPERATOR"
        );
        assert_eq!(
            code("SELECT Id FROM Contact WHERE LastName = 'a\\qb'"),
            "MALFORMED_QUERY"
        );
        let q = soql::parse("SELECT Id FROM Contact WHERE LastName = 'O\\'Brien' LIMIT 5").unwrap();
        assert_eq!(q.limit, Some(5));
    }

    #[test]
    fn writes_are_validated_strictly() {
        let mut store = store_with_contacts(1);
        let body = |v: Value| v.as_object().cloned().unwrap();
        let err = |r: Result<String, SfError>| r.unwrap_err();
        let e = err(create(
            &mut store,
            &schema::CONTACT,
            make_id("003", 9),
            &body(json!({"FirstName": "A"})),
            0,
        ));
        assert_eq!(
            (e.code, e.fields.clone()),
            ("REQUIRED_FIELD_MISSING", vec!["LastName".to_string()])
        );
        let e = err(create(
            &mut store,
            &schema::CONTACT,
            make_id("003", 9),
            &body(json!({"LastName": "A", "Foo__c": 1})),
            0,
        ));
        assert_eq!(e.code, "INVALID_FIELD");
        let e = err(create(
            &mut store,
            &schema::CONTACT,
            make_id("003", 9),
            &body(json!({"LastName": "A", "Name": "A"})),
            0,
        ));
        assert_eq!(e.code, "INVALID_FIELD_FOR_INSERT_UPDATE");
        let e = err(create(
            &mut store,
            &schema::TASK,
            make_id("00T", 9),
            &body(json!({"TaskSubtype": "WhatsApp"})),
            0,
        ));
        assert_eq!(e.code, "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST");
        let e = err(create(
            &mut store,
            &schema::TASK,
            make_id("00T", 9),
            &body(json!({"WhoId": make_id("003", 77)})),
            0,
        ));
        assert_eq!(e.code, "INVALID_CROSS_REFERENCE_KEY");
        let e = err(create(
            &mut store,
            &schema::CONTACT,
            make_id("003", 9),
            &body(json!({"LastName": "B", EXTERNAL_ID_FIELD: "+393470000000"})),
            0,
        ));
        assert_eq!(e.code, "DUPLICATE_VALUE");
        let e = err(create(
            &mut store,
            &schema::OPPORTUNITY,
            make_id("006", 9),
            &body(json!({"Name": "x", "StageName": "Prospecting", "CloseDate": "2026-13-01"})),
            0,
        ));
        assert_eq!(e.code, "JSON_PARSER_ERROR");
        let e = err(create(
            &mut store,
            &schema::CONTACT,
            make_id("003", 9),
            &body(json!({"LastName": "x".repeat(81)})),
            0,
        ));
        assert_eq!(e.code, "STRING_TOO_LONG");
        let t = create(
            &mut store,
            &schema::TASK,
            make_id("00T", 9),
            &body(json!({"Subject": "s"})),
            0,
        )
        .unwrap();
        assert_eq!(store.get(&t).unwrap().fields["Status"], "Not Started");
        let e = update(
            &mut store,
            &schema::TASK,
            &t,
            &body(json!({"TaskSubtype": "Call"})),
            0,
        )
        .unwrap_err();
        assert_eq!(e.code, "INVALID_FIELD_FOR_INSERT_UPDATE");
    }

    #[test]
    fn a_failed_composite_rolls_back_and_names_the_cause() {
        let mut s = Inner {
            next_id: 100,
            limit: 10,
            window: Duration::from_secs(60),
            ..Inner::new(make_id("00D", 1))
        };
        let req = json!({"allOrNone": true, "compositeRequest": [
            {"method": "POST", "url": "/services/data/v62.0/sobjects/Opportunity", "referenceId": "refOpp",
             "body": {"Name": "x", "StageName": "Prospecting", "CloseDate": "2026-12-01"}},
            {"method": "POST", "url": "/services/data/v62.0/sobjects/OpportunityContactRole", "referenceId": "refRole",
             "body": {"OpportunityId": "@{refOpp.id}", "ContactId": make_id("003", 5)}},
        ]});
        let a = composite(&mut s, &req);
        assert_eq!(a.status, 200);
        let r = &a.body["compositeResponse"];
        assert_eq!(r[0]["body"][0]["errorCode"], "PROCESSING_HALTED");
        assert_eq!(r[1]["body"][0]["errorCode"], "INVALID_CROSS_REFERENCE_KEY");
        assert_eq!(s.store.records.len(), 0, "rolled back");
    }
}
