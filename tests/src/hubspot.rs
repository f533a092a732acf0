//! A local HubSpot for the end-to-end tests.
//!
//! [`HubSpot::start`] serves, on `127.0.0.1:0`, the CRM v3 endpoints the HubSpot
//! connector uses, with HubSpot's request and response shapes, status codes and error
//! bodies, over an in-memory store of contacts, communications and deals:
//!
//! | request | answer |
//! |---|---|
//! | `POST /crm/v3/objects/{contacts,communications,deals}` `{"properties",["associations"]}` | `201` the object `{"id","properties","createdAt","updatedAt","archived"}` |
//! | `PATCH /crm/v3/objects/{type}/{id}` `{"properties"}` | `200` the object; `404` when there is none |
//! | `GET /crm/v3/objects/{type}/{id}?properties=a,b` | `200` the object |
//! | `POST /crm/v3/objects/{type}/search` `{"filterGroups","sorts","properties","limit","after","query"}` | `200` `{"total","results",["paging":{"next":{"after","link"}}]}` |
//! | `POST /crm/v3/objects/{type}/batch/read` `{"properties","propertiesWithHistory","inputs"}` | `200` (`207` with `errors` when ids are missing) `{"status":"COMPLETE","results",…}` |
//!
//! What HubSpot refuses is refused the same way: a missing or unknown bearer token
//! (`401` `INVALID_AUTHENTICATION`), unknown or read-only properties, invalid options
//! and dates (`400` `VALIDATION_ERROR`, "Property values were not valid: […]"),
//! unknown JSON fields (`400` "Invalid input JSON …"), a duplicate email (`409`
//! `CONFLICT` "Contact already exists. Existing ID: …"), bad associations.
//!
//! **Rate limits** per token, like a private app: [`DEFAULT_RATE_LIMIT`] requests per
//! rolling [`DEFAULT_RATE_WINDOW`] (`429` `{"status":"error","message":"You have
//! reached your ten_secondly_rolling limit.","errorType":"RATE_LIMIT",
//! "correlationId","policyName":"TEN_SECONDLY_ROLLING"}` with
//! `X-HubSpot-RateLimit-{Max,Remaining,Interval-Milliseconds}`), and the search
//! endpoints' own [`DEFAULT_SEARCH_LIMIT`] per second (`policyName` `SECONDLY`, no
//! rate-limit headers: HubSpot sends none on search). Refused requests do not count.
//!
//! **Faults:** [`HubSpot::fail_with`] answers every request with a 5xx;
//! [`HubSpot::go_down`] closes the port until [`HubSpot::come_back`].
//!
//! **Webhooks:** every property change of a contact is kept as the event HubSpot's
//! webhooks would send (`contact.propertyChange`, `contact.creation`);
//! [`HubSpot::delivery`] builds a request signed like HubSpot's
//! (`X-HubSpot-Signature-v3`, `X-HubSpot-Request-Timestamp`).
//!
//! ```no_run
//! # async fn demo() {
//! use scrm_e2e::hubspot::HubSpot;
//! let hub = HubSpot::start().await;
//! let id = hub.create_contact(&[("firstname", "Mario"), ("phone", "+393471234567")]);
//! let events = hub.sales_edit(&id, &[("lastname", "Rossi")]);
//! let signed = hub.delivery("https://scrm.example.com/v1/crm/acme/webhook", &events);
//! # let _ = signed;
//! # }
//! ```

use crate::crm::now_ms;
use crate::serve;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The private app access token every [`HubSpot`] accepts.
pub const ACCESS_TOKEN: &str = "pat-na1-5f0c1c2e-0000-4000-8000-5c4d7e9a1b2c";
/// The app's client secret, which signs webhook deliveries.
pub const CLIENT_SECRET: &str = "scrm-test-hubspot-client-secret-0000";
/// The HubSpot account id in webhook events.
pub const PORTAL_ID: u64 = 62515;
/// The app id in webhook events.
pub const APP_ID: u64 = 54321;
/// Requests per window per token (HubSpot's private apps: 100 per 10 s).
pub const DEFAULT_RATE_LIMIT: u32 = 100;
/// The rolling window of [`DEFAULT_RATE_LIMIT`].
pub const DEFAULT_RATE_WINDOW: Duration = Duration::from_secs(10);
/// Search requests per second per token.
pub const DEFAULT_SEARCH_LIMIT: u32 = 5;

/// The object types served, by their path name.
/// (`order` and `line_items`: the commerce objects, as HubSpot names them in paths.)
const TYPES: [&str; 5] = ["contacts", "communications", "deals", "order", "line_items"];
/// The stages of the default deal pipeline (internal ids).
const DEAL_STAGES: [&str; 7] = [
    "appointmentscheduled",
    "qualifiedtobuy",
    "presentationscheduled",
    "decisionmakerboughtin",
    "contractsent",
    "closedwon",
    "closedlost",
];

/// An association from one object to another.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Association {
    /// The target's type, e.g. `contacts`.
    pub to_type: String,
    /// The target's id.
    pub to_id: String,
    /// The association type id (e.g. 81: communication → contact).
    pub type_id: u32,
}

/// A stored object.
#[derive(Debug, Clone, PartialEq)]
pub struct Object {
    /// HubSpot's id (digits).
    pub id: String,
    /// Set properties (unset ones are absent), including the read-only dates.
    pub properties: BTreeMap<String, String>,
    /// Unix ms.
    pub created_at: i64,
    /// Unix ms of the last change.
    pub updated_at: i64,
    /// Its associations.
    pub associations: Vec<Association>,
}

impl Object {
    /// A property's value.
    pub fn prop(&self, name: &str) -> Option<&str> {
        self.properties.get(name).map(String::as_str)
    }
}

/// One request the server answered.
#[derive(Debug, Clone)]
pub struct Recorded {
    /// When it arrived.
    pub at: Instant,
    /// HTTP method.
    pub method: String,
    /// Path, without the query.
    pub path: String,
    /// The bearer token, when one was sent.
    pub token: Option<String>,
    /// The status answered.
    pub status: u16,
    /// The JSON body (null when none or not JSON).
    pub body: Value,
}

/// A signed webhook delivery, ready to post.
#[derive(Debug, Clone)]
pub struct Delivery {
    /// The body: a JSON array of events.
    pub body: Vec<u8>,
    /// HubSpot's headers (content type, v1 and v3 signatures, timestamp).
    pub headers: Vec<(String, String)>,
}

#[derive(Debug)]
struct Limit {
    max: u32,
    window: Duration,
}

#[derive(Debug, Default)]
struct Store {
    objects: HashMap<&'static str, BTreeMap<u64, Object>>,
    next_id: u64,
    clock: i64,
    events: Vec<Value>,
    next_event: u64,
    custom: HashMap<String, Vec<String>>,
}

#[derive(Debug)]
struct Inner {
    store: Store,
    tokens: Vec<String>,
    limit: Limit,
    search_limit: Limit,
    windows: HashMap<String, VecDeque<Instant>>,
    search_windows: HashMap<String, VecDeque<Instant>>,
    fault: Option<u16>,
    /// How long every request waits before it is answered.
    stall: Option<Duration>,
    /// Creations still to lose the answer of.
    lose_answers: u32,
    /// The next writes answered badly, and how.
    bad: Vec<Bad>,
    activity_touches_contact: bool,
    log: Vec<Recorded>,
    correlation: u64,
}

type Shared = serve::Shared<Inner>;

/// A running local HubSpot; stops when dropped.
#[derive(Debug)]
pub struct HubSpot {
    shared: Arc<Shared>,
    /// `None` while down ([`HubSpot::go_down`]).
    server: Mutex<Option<serve::Running>>,
}

/// Every request goes to [`handle`], over `shared`.
fn router(shared: &Arc<Shared>) -> axum::Router {
    axum::Router::new()
        .fallback(handle)
        .with_state(shared.clone())
}

impl HubSpot {
    /// Starts a server on `127.0.0.1:0` that accepts [`ACCESS_TOKEN`].
    ///
    /// # Panics
    /// When it cannot bind a loopback port.
    pub async fn start() -> HubSpot {
        let listener = serve::Listener::loopback().await;
        let shared = Arc::new(Shared::new(
            listener.addr(),
            Inner {
                store: Store {
                    next_id: 151,
                    // The portal is set up as docs/crm.md says: the key property the
                    // connector writes exists on deals and communications.
                    custom: [
                        ("deals".to_string(), vec!["scrm_key".to_string()]),
                        ("communications".to_string(), vec!["scrm_key".to_string()]),
                    ]
                    .into(),
                    ..Store::default()
                },
                tokens: vec![ACCESS_TOKEN.to_string()],
                limit: Limit {
                    max: DEFAULT_RATE_LIMIT,
                    window: DEFAULT_RATE_WINDOW,
                },
                search_limit: Limit {
                    max: DEFAULT_SEARCH_LIMIT,
                    window: Duration::from_secs(1),
                },
                windows: HashMap::new(),
                search_windows: HashMap::new(),
                fault: None,
                stall: None,
                lose_answers: 0,
                bad: Vec::new(),
                activity_touches_contact: true,
                log: Vec::new(),
                correlation: 0,
            },
        ));
        let server = listener.serve(router(&shared));
        HubSpot {
            shared,
            server: Mutex::new(Some(server)),
        }
    }

    /// `http://127.0.0.1:PORT`: the API base URL (the connector's `base_url`).
    pub fn url(&self) -> String {
        self.shared.base()
    }

    /// The server's address.
    pub fn addr(&self) -> SocketAddr {
        self.shared.addr
    }

    /// Also accept `token`.
    pub fn accept_token(&self, token: &str) {
        self.shared.lock().tokens.push(token.to_string());
    }

    /// Stops accepting `token` (as when the private app's token is rotated).
    pub fn revoke_token(&self, token: &str) {
        self.shared.lock().tokens.retain(|t| t != token);
    }

    /// `max` requests per rolling `window` per token.
    pub fn set_rate_limit(&self, max: u32, window: Duration) {
        let mut inner = self.shared.lock();
        inner.limit = Limit { max, window };
        inner.windows.clear();
    }

    /// `max` search requests per rolling `window` per token.
    pub fn set_search_rate_limit(&self, max: u32, window: Duration) {
        let mut inner = self.shared.lock();
        inner.search_limit = Limit { max, window };
        inner.search_windows.clear();
    }

    /// Answers every request with `status` (a 5xx) until set back to `None`.
    pub fn fail_with(&self, status: Option<u16>) {
        self.shared.lock().fault = status;
    }

    /// Makes every request wait `by` before it is answered (a CRM that hangs), until
    /// set back to `None`.
    pub fn stall(&self, by: Option<Duration>) {
        self.shared.lock().stall = by;
    }

    /// Whether logging a communication or associating a deal changes the contact's
    /// `lastmodifieddate` (HubSpot updates activity properties such as
    /// `notes_last_updated` and `num_associated_deals`); on by default.
    pub fn set_activity_touches_contact(&self, on: bool) {
        self.shared.lock().activity_touches_contact = on;
    }

    /// Closes the port: connections are refused until [`HubSpot::come_back`].
    pub async fn go_down(&self) {
        let server = self.server.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(server) = server {
            server.stop().await;
        }
    }

    /// Listens on the same port again, with the same data.
    ///
    /// # Panics
    /// When the port cannot be bound again.
    pub async fn come_back(&self) {
        let server = serve::Listener::rebind(self.shared.addr)
            .await
            .serve(router(&self.shared));
        *self.server.lock().unwrap_or_else(|p| p.into_inner()) = Some(server);
    }

    /// Defines a custom property of `object_type` (e.g. `contacts`).
    pub fn define_property(&self, object_type: &str, name: &str) {
        self.shared
            .lock()
            .store
            .custom
            .entry(object_type.to_string())
            .or_default()
            .push(name.to_string());
    }

    /// Every request answered so far, in arrival order.
    pub fn requests(&self) -> Vec<Recorded> {
        self.shared.lock().log.clone()
    }

    /// Requests answered so far with `status`.
    pub fn count_status(&self, status: u16) -> usize {
        self.shared
            .lock()
            .log
            .iter()
            .filter(|r| r.status == status)
            .count()
    }

    /// The most requests accepted (answered neither 401 nor 429) within any `window`.
    pub fn max_accepted_in_window(&self, window: Duration) -> usize {
        let times: Vec<Instant> = self
            .shared
            .lock()
            .log
            .iter()
            .filter(|r| r.status != 429 && r.status != 401)
            .map(|r| r.at)
            .collect();
        let mut best = 0;
        let mut start = 0;
        for (end, t) in times.iter().enumerate() {
            while *t - times[start] >= window {
                start += 1;
            }
            best = best.max(end - start + 1);
        }
        best
    }

    /// Every stored object of `object_type`, by id.
    pub fn all(&self, object_type: &str) -> Vec<Object> {
        let inner = self.shared.lock();
        let Some(kind) = kind_of(object_type) else {
            return Vec::new();
        };
        inner
            .store
            .objects
            .get(kind)
            .map(|m| m.values().cloned().collect())
            .unwrap_or_default()
    }

    /// A contact by id.
    pub fn contact(&self, id: &str) -> Option<Object> {
        let id: u64 = id.parse().ok()?;
        self.shared
            .lock()
            .store
            .objects
            .get("contacts")?
            .get(&id)
            .cloned()
    }

    /// The contacts whose `phone` is `e164`.
    pub fn contacts_by_phone(&self, e164: &str) -> Vec<Object> {
        self.all("contacts")
            .into_iter()
            .filter(|c| c.prop("phone") == Some(e164))
            .collect()
    }

    fn associated(&self, object_type: &str, contact_id: &str) -> Vec<Object> {
        self.all(object_type)
            .into_iter()
            .filter(|o| {
                o.associations
                    .iter()
                    .any(|a| a.to_type == "contacts" && a.to_id == contact_id)
            })
            .collect()
    }

    /// The communications associated to contact `contact_id`.
    pub fn communications_of(&self, contact_id: &str) -> Vec<Object> {
        self.associated("communications", contact_id)
    }

    /// The deals associated to contact `contact_id`.
    pub fn deals_of(&self, contact_id: &str) -> Vec<Object> {
        self.associated("deals", contact_id)
    }

    /// A salesperson logs a WhatsApp message on contact `contact_id` in HubSpot's UI
    /// (a communication, channel `WHATS_APP`, with `body` as its rich text); its id.
    pub fn log_whatsapp(&self, contact_id: &str, body: &str) -> String {
        let props: Map<String, Value> = [
            ("hs_communication_channel_type", json!("WHATS_APP")),
            ("hs_communication_logged_from", json!("CRM")),
            ("hs_communication_body", json!(body)),
            ("hs_timestamp", json!(iso(now_ms()))),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        let association = Association {
            to_type: "contacts".into(),
            to_id: contact_id.to_string(),
            type_id: 81,
        };
        let mut inner = self.shared.lock();
        inner
            .store
            .create("communications", &props, vec![association], "CRM_UI")
            .expect("log communication")
            .id
    }

    /// An integration (a shop's) records an order of contact `contact_id` with
    /// `props` (`hs_order_name`, `hs_shipping_tracking_number`, …) and line items
    /// `(sku, name, quantity, unit price)`; the order's id.
    pub fn create_order(
        &self,
        contact_id: &str,
        props: &[(&str, &str)],
        lines: &[(&str, &str, f64, f64)],
    ) -> String {
        let mut inner = self.shared.lock();
        let mut associations = vec![Association {
            to_type: "contacts".into(),
            to_id: contact_id.to_string(),
            type_id: 507,
        }];
        for (sku, name, quantity, price) in lines {
            let line: Map<String, Value> = [
                ("hs_sku", json!(sku)),
                ("name", json!(name)),
                ("quantity", json!(quantity.to_string())),
                ("price", json!(price.to_string())),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect();
            let line = inner
                .store
                .create("line_items", &line, Vec::new(), "INTEGRATION")
                .expect("create line item");
            associations.push(Association {
                to_type: "line_items".into(),
                to_id: line.id,
                type_id: 513,
            });
        }
        let props: Map<String, Value> = props
            .iter()
            .map(|(k, v)| (k.to_string(), json!(v)))
            .collect();
        inner
            .store
            .create("order", &props, associations, "INTEGRATION")
            .expect("create order")
            .id
    }

    /// Creates a contact as a salesperson would in HubSpot; its id.
    pub fn create_contact(&self, props: &[(&str, &str)]) -> String {
        let props: Map<String, Value> = props
            .iter()
            .map(|(k, v)| (k.to_string(), json!(v)))
            .collect();
        let mut inner = self.shared.lock();
        let obj = inner
            .store
            .create("contacts", &props, Vec::new(), "CRM_UI")
            .expect("create contact");
        obj.id
    }

    /// The next `n` creations (`POST` answered 201) are stored but answered `504`,
    /// as when a gateway loses HubSpot's answer: a client that retries blindly
    /// creates the object twice.
    pub fn lose_answers(&self, n: u32) {
        self.shared.lock().lose_answers = n;
    }

    /// Answers the next writes (POST, PATCH, PUT) badly, one [`Bad`] each, in order.
    pub fn answer_badly(&self, bad: &[Bad]) {
        self.shared.lock().bad.extend_from_slice(bad);
    }

    /// A salesperson moves deal `id` to `stage` (e.g. `closedwon`).
    ///
    /// # Panics
    /// When there is no such deal.
    pub fn sales_set_stage(&self, id: &str, stage: &str) {
        let props: Map<String, Value> = [("dealstage".to_string(), json!(stage))]
            .into_iter()
            .collect();
        self.shared
            .lock()
            .store
            .update("deals", id, &props, "CRM_UI")
            .expect("edit deal");
    }

    /// A salesperson edits contact `id` in HubSpot; the webhook events the edit
    /// produced (one `contact.propertyChange` per changed property).
    ///
    /// # Panics
    /// When there is no such contact.
    pub fn sales_edit(&self, id: &str, props: &[(&str, &str)]) -> Vec<Value> {
        self.sales_edit_object("contacts", id, props)
    }

    /// [`HubSpot::sales_edit`] for an object of any type (`order`, `deals`, …).
    pub fn sales_edit_object(
        &self,
        kind: &'static str,
        id: &str,
        props: &[(&str, &str)],
    ) -> Vec<Value> {
        let props: Map<String, Value> = props
            .iter()
            .map(|(k, v)| (k.to_string(), json!(v)))
            .collect();
        let mut inner = self.shared.lock();
        let before = inner.store.events.len();
        inner
            .store
            .update(kind, id, &props, "CRM_UI")
            .expect("edit object");
        inner.store.events[before..].to_vec()
    }

    /// Changes property `prop` of contact `id` to `value` without a trace: no change
    /// time, no event (a record corrupted behind the sync's back, as by an import that
    /// bypasses the audit trail).
    pub fn corrupt(&self, id: &str, prop: &str, value: &str) {
        self.corrupt_object("contacts", id, prop, value);
    }

    /// [`HubSpot::corrupt`] for an object of any type (`deals`, …).
    pub fn corrupt_object(&self, kind: &str, id: &str, prop: &str, value: &str) {
        let mut inner = self.shared.lock();
        let id: u64 = id.parse().expect("object id");
        let obj = inner
            .store
            .objects
            .get_mut(kind)
            .and_then(|m| m.get_mut(&id))
            .expect("no such contact");
        obj.properties.insert(prop.to_string(), value.to_string());
    }

    /// Every webhook event about contact `id` so far (its creation and each property
    /// change, by HubSpot users and by API writes), oldest first.
    pub fn events_of(&self, id: &str) -> Vec<Value> {
        let id: u64 = id.parse().unwrap_or_default();
        self.shared
            .lock()
            .store
            .events
            .iter()
            .filter(|e| e["objectId"].as_u64() == Some(id))
            .cloned()
            .collect()
    }

    /// A delivery of `events` to `url`, signed now with [`CLIENT_SECRET`].
    pub fn delivery(&self, url: &str, events: &[Value]) -> Delivery {
        delivery_at(url, events, now_ms(), CLIENT_SECRET)
    }
}

/// HubSpot's v3 signature: base64(HMAC-SHA256(`secret`, method + uri + body +
/// timestamp)).
pub fn signature_v3(secret: &str, method: &str, uri: &str, body: &[u8], timestamp: i64) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(method.as_bytes());
    mac.update(uri.as_bytes());
    mac.update(body);
    mac.update(timestamp.to_string().as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// A delivery of `events` to `url` sent at `timestamp` (Unix ms), signed with
/// `secret`: HubSpot's headers, including the older v1 signature (SHA-256 of secret +
/// body) it still sends alongside.
pub fn delivery_at(url: &str, events: &[Value], timestamp: i64, secret: &str) -> Delivery {
    let body = serde_json::to_vec(events).expect("json");
    let v1 = hex::encode(Sha256::digest([secret.as_bytes(), &body].concat()));
    Delivery {
        headers: vec![
            ("content-type".into(), "application/json".into()),
            ("x-hubspot-signature".into(), v1),
            ("x-hubspot-signature-version".into(), "v1".into()),
            (
                "x-hubspot-signature-v3".into(),
                signature_v3(secret, "POST", url, &body, timestamp),
            ),
            ("x-hubspot-request-timestamp".into(), timestamp.to_string()),
        ],
        body,
    }
}

fn kind_of(object_type: &str) -> Option<&'static str> {
    TYPES.iter().copied().find(|t| *t == object_type)
}

/// The singular HubSpot uses in messages and webhook subscription types.
fn singular(kind: &str) -> &'static str {
    match kind {
        "contacts" => "contact",
        "communications" => "communication",
        "order" => "order",
        "line_items" => "line_item",
        _ => "deal",
    }
}

/// Properties a client may write, per type.
fn writable(kind: &str) -> &'static [&'static str] {
    match kind {
        "contacts" => &[
            "firstname",
            "lastname",
            "email",
            "phone",
            "mobilephone",
            "company",
            "jobtitle",
            "website",
            "address",
            "city",
            "state",
            "zip",
            "country",
            "lifecyclestage",
            "hs_lead_status",
            "hubspot_owner_id",
        ],
        "communications" => &[
            "hs_communication_channel_type",
            "hs_communication_logged_from",
            "hs_communication_body",
            "hs_timestamp",
            "hubspot_owner_id",
        ],
        "order" => &[
            "hs_order_name",
            "hs_currency_code",
            "hs_total_price",
            "hs_source_store",
            "hs_fulfillment_status",
            "hs_pipeline",
            "hs_pipeline_stage",
            "hs_shipping_tracking_number",
            "hs_shipping_status_url",
            "hs_shipping_address_city",
            "hs_shipping_address_street",
            "hs_shipping_address_postal_code",
            "hs_external_order_id",
            "hs_external_created_date",
        ],
        "line_items" => &["name", "hs_sku", "quantity", "price", "hs_product_id"],
        _ => &[
            "dealname",
            "dealstage",
            "pipeline",
            "amount",
            "closedate",
            "description",
            "dealtype",
            "hubspot_owner_id",
        ],
    }
}

/// Properties HubSpot sets itself, per type.
fn read_only(kind: &str) -> &'static [&'static str] {
    match kind {
        "contacts" => &[
            "createdate",
            "lastmodifieddate",
            "hs_object_id",
            "notes_last_updated",
            "num_associated_deals",
        ],
        "communications" | "order" | "line_items" => {
            &["hs_createdate", "hs_lastmodifieddate", "hs_object_id"]
        }
        _ => &[
            "createdate",
            "hs_lastmodifieddate",
            "hs_object_id",
            "hs_is_closed",
        ],
    }
}

/// Properties HubSpot calculates: a deal's `hs_is_closed` (in a closed stage).
fn derive(kind: &str, values: &mut BTreeMap<String, String>) {
    if kind == "deals" {
        let closed = matches!(
            values.get("dealstage").map(String::as_str),
            Some("closedwon" | "closedlost")
        );
        values.insert("hs_is_closed".into(), closed.to_string());
    }
}

/// Datetime properties (values: ISO 8601 or Unix ms; compared as time).
fn is_datetime(name: &str) -> bool {
    matches!(
        name,
        "createdate"
            | "lastmodifieddate"
            | "hs_createdate"
            | "hs_lastmodifieddate"
            | "hs_timestamp"
            | "hs_external_created_date"
            | "closedate"
            | "notes_last_updated"
    )
}

fn is_number(name: &str) -> bool {
    matches!(
        name,
        "amount"
            | "hs_object_id"
            | "num_associated_deals"
            | "hs_total_price"
            | "price"
            | "quantity"
    )
}

/// The property holding the last change time.
fn modified_property(kind: &str) -> &'static str {
    if kind == "contacts" {
        "lastmodifieddate"
    } else {
        "hs_lastmodifieddate"
    }
}

fn created_property(kind: &str) -> &'static str {
    if matches!(kind, "communications" | "order" | "line_items") {
        "hs_createdate"
    } else {
        "createdate"
    }
}

/// Days since 1970-01-01 of a civil date (H. Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// `ms` as HubSpot writes datetimes: `2019-10-30T03:30:17.883Z`.
pub fn iso(ms: i64) -> String {
    let days = ms.div_euclid(86_400_000);
    let rem = ms.rem_euclid(86_400_000);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3_600_000,
        rem / 60_000 % 60,
        rem / 1000 % 60,
        rem % 1000
    )
}

/// Unix ms of a datetime value: digits (ms) or `YYYY-MM-DDTHH:MM:SS[.fff]Z`.
pub fn parse_datetime(v: &str) -> Option<i64> {
    let v = v.trim();
    if !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()) {
        return v.parse().ok();
    }
    let n = |r: std::ops::Range<usize>| -> Option<i64> {
        let s = v.get(r)?;
        s.bytes()
            .all(|b| b.is_ascii_digit())
            .then(|| s.parse().ok())?
    };
    let (y, mo, d, h, mi, s) = (
        n(0..4)?,
        n(5..7)?,
        n(8..10)?,
        n(11..13)?,
        n(14..16)?,
        n(17..19)?,
    );
    let b = v.as_bytes();
    if b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || b[13] != b':' || b[16] != b':' {
        return None;
    }
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || s > 60 {
        return None;
    }
    let rest = &v[19..];
    let (frac, tail) = match rest.strip_prefix('.') {
        Some(f) => {
            let digits = f.bytes().take_while(u8::is_ascii_digit).count();
            let mut ms: String = f[..digits].chars().take(3).collect();
            while ms.len() < 3 {
                ms.push('0');
            }
            (ms.parse::<i64>().ok()?, &f[digits..])
        }
        None => (0, rest),
    };
    if tail != "Z" {
        return None;
    }
    Some(((days_from_civil(y, mo, d) * 24 + h) * 60 + mi) * 60_000 + s * 1000 + frac)
}

/// One invalid property, as HubSpot lists them in "Property values were not valid".
fn invalid(name: &str, error: &str, message: String) -> Value {
    json!({"isValid": false, "message": message, "error": error, "name": name,
           "localizedErrorMessage": message})
}

/// Why a write is refused: the HTTP status, category and message HubSpot answers.
#[derive(Debug)]
struct Refusal {
    status: u16,
    category: &'static str,
    message: String,
}

impl Refusal {
    fn validation(message: impl Into<String>) -> Refusal {
        Refusal {
            status: 400,
            category: "VALIDATION_ERROR",
            message: message.into(),
        }
    }

    fn properties(errors: Vec<Value>) -> Refusal {
        Refusal::validation(format!(
            "Property values were not valid: {}",
            Value::Array(errors)
        ))
    }

    fn not_found() -> Refusal {
        Refusal {
            status: 404,
            category: "OBJECT_NOT_FOUND",
            message: "resource not found".into(),
        }
    }
}

impl Store {
    fn tick(&mut self) -> i64 {
        self.clock = now_ms().max(self.clock + 1);
        self.clock
    }

    fn knows(&self, kind: &str, name: &str) -> bool {
        writable(kind).contains(&name)
            || self
                .custom
                .get(kind)
                .is_some_and(|c| c.iter().any(|p| p == name))
    }

    /// Checks property values like HubSpot; the values as strings ("" clears).
    fn check_properties(
        &self,
        kind: &str,
        props: &Map<String, Value>,
    ) -> Result<BTreeMap<String, String>, Refusal> {
        let mut errors = Vec::new();
        let mut out = BTreeMap::new();
        for (name, value) in props {
            let text = match value {
                Value::String(s) => s.clone(),
                Value::Null => String::new(),
                Value::Number(n) => n.to_string(),
                Value::Bool(b) => b.to_string(),
                _ => {
                    return Err(Refusal::validation(format!(
                        "Invalid input JSON on line 1: Cannot deserialize value of type \
                         `java.lang.String` from {} (property {name:?})",
                        if value.is_array() { "Array" } else { "Object" }
                    )));
                }
            };
            if read_only(kind).contains(&name.as_str()) {
                errors.push(invalid(
                    name,
                    "READ_ONLY_VALUE",
                    format!("\"{name}\" is a read only property; its value cannot be set."),
                ));
                continue;
            }
            if !self.knows(kind, name) {
                errors.push(invalid(
                    name,
                    "PROPERTY_DOESNT_EXIST",
                    format!("Property \"{name}\" does not exist"),
                ));
                continue;
            }
            if !text.is_empty() {
                let options: Option<&[&str]> = match name.as_str() {
                    "hs_communication_channel_type" => {
                        Some(&["WHATS_APP", "LINKEDIN_MESSAGE", "SMS"])
                    }
                    "hs_communication_logged_from" => Some(&["CRM"]),
                    "pipeline" => Some(&["default"]),
                    "dealstage" => Some(&DEAL_STAGES),
                    _ => None,
                };
                if let Some(options) = options
                    && !options.contains(&text.as_str())
                {
                    errors.push(invalid(
                        name,
                        "INVALID_OPTION",
                        format!(
                            "{text} was not one of the allowed options: [{}]",
                            options.join(", ")
                        ),
                    ));
                    continue;
                }
                if is_datetime(name) && parse_datetime(&text).is_none() {
                    errors.push(invalid(
                        name,
                        "INVALID_DATE",
                        format!("{text} is not a valid datetime for {name}"),
                    ));
                    continue;
                }
                if is_number(name) && text.parse::<f64>().is_err() {
                    errors.push(invalid(
                        name,
                        "INVALID_DECIMAL",
                        format!("{text} is not a valid number for {name}"),
                    ));
                    continue;
                }
            }
            // Datetimes are stored as HubSpot shows them.
            let text = if is_datetime(name) && !text.is_empty() {
                parse_datetime(&text).map(iso).unwrap_or(text)
            } else {
                text
            };
            out.insert(name.clone(), text);
        }
        if errors.is_empty() {
            Ok(out)
        } else {
            Err(Refusal::properties(errors))
        }
    }

    fn check_required(&self, kind: &str, props: &BTreeMap<String, String>) -> Result<(), Refusal> {
        let required: &[&str] = match kind {
            "communications" => &["hs_timestamp", "hs_communication_logged_from"],
            "deals" => &["dealname", "dealstage"],
            _ => &[],
        };
        let missing: Vec<Value> = required
            .iter()
            .filter(|r| props.get(**r).is_none_or(String::is_empty))
            .map(|r| invalid(r, "REQUIRED_PROPERTY", format!("{r} is required")))
            .collect();
        if missing.is_empty() {
            Ok(())
        } else {
            Err(Refusal::properties(missing))
        }
    }

    /// The contact with `email`, other than `except`.
    fn email_owner(&self, email: &str, except: Option<u64>) -> Option<u64> {
        self.objects.get("contacts")?.iter().find_map(|(id, c)| {
            (Some(*id) != except
                && c.prop("email")
                    .is_some_and(|e| e.eq_ignore_ascii_case(email)))
            .then_some(*id)
        })
    }

    fn event(&mut self, kind: &str, id: u64, at: i64, action: &str, source: &str) -> Value {
        self.next_event += 1;
        json!({
            "eventId": self.next_event,
            "subscriptionId": 1000 + TYPES.iter().position(|t| *t == kind).unwrap_or(0),
            "portalId": PORTAL_ID,
            "appId": APP_ID,
            "occurredAt": at,
            "subscriptionType": format!("{}.{action}", singular(kind)),
            "attemptNumber": 0,
            "objectId": id,
            "changeSource": source,
        })
    }

    /// Records the webhook events of a contact write.
    fn contact_events(
        &mut self,
        id: u64,
        at: i64,
        created: bool,
        changed: &[(String, String)],
        source: &str,
    ) {
        if created {
            let mut e = self.event("contacts", id, at, "creation", source);
            e["changeFlag"] = json!("NEW");
            self.events.push(e);
        }
        for (name, value) in changed {
            let mut e = self.event("contacts", id, at, "propertyChange", source);
            e["propertyName"] = json!(name);
            e["propertyValue"] = json!(value);
            self.events.push(e);
        }
    }

    fn create(
        &mut self,
        kind: &'static str,
        props: &Map<String, Value>,
        associations: Vec<Association>,
        source: &str,
    ) -> Result<Object, Refusal> {
        let mut values = self.check_properties(kind, props)?;
        if kind == "deals" {
            values
                .entry("pipeline".into())
                .or_insert_with(|| "default".into());
        }
        self.check_required(kind, &values)?;
        if kind == "contacts"
            && let Some(email) = values.get("email").filter(|e| !e.is_empty())
            && let Some(existing) = self.email_owner(email, None)
        {
            return Err(Refusal {
                status: 409,
                category: "CONFLICT",
                message: format!("Contact already exists. Existing ID: {existing}"),
            });
        }
        for a in &associations {
            let exists = kind_of(&a.to_type)
                .and_then(|k| self.objects.get(k))
                .zip(a.to_id.parse::<u64>().ok())
                .is_some_and(|(m, id)| m.contains_key(&id));
            if !exists {
                return Err(Refusal::validation(format!(
                    "Could not create associations: {} {} does not exist",
                    singular(&a.to_type),
                    a.to_id
                )));
            }
        }
        values.retain(|_, v| !v.is_empty());
        let at = self.tick();
        let id = self.next_id;
        self.next_id += 1;
        values.insert("hs_object_id".into(), id.to_string());
        derive(kind, &mut values);
        values.insert(created_property(kind).into(), iso(at));
        values.insert(modified_property(kind).into(), iso(at));
        let changed: Vec<(String, String)> = values
            .iter()
            .filter(|(k, _)| !read_only(kind).contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let obj = Object {
            id: id.to_string(),
            properties: values,
            created_at: at,
            updated_at: at,
            associations,
        };
        self.objects
            .entry(kind)
            .or_default()
            .insert(id, obj.clone());
        if kind == "contacts" {
            self.contact_events(id, at, true, &changed, source);
        }
        Ok(obj)
    }

    fn update(
        &mut self,
        kind: &'static str,
        id: &str,
        props: &Map<String, Value>,
        source: &str,
    ) -> Result<Object, Refusal> {
        let num: u64 = id.parse().map_err(|_| Refusal::not_found())?;
        if !self.objects.get(kind).is_some_and(|m| m.contains_key(&num)) {
            return Err(Refusal::not_found());
        }
        let values = self.check_properties(kind, props)?;
        if kind == "contacts"
            && let Some(email) = values.get("email").filter(|e| !e.is_empty())
            && let Some(existing) = self.email_owner(email, Some(num))
        {
            return Err(Refusal {
                status: 409,
                category: "CONFLICT",
                message: format!("Contact already exists. Existing ID: {existing}"),
            });
        }
        let current = self.objects[kind][&num].clone();
        let changed: Vec<(String, String)> = values
            .into_iter()
            .filter(|(k, v)| current.prop(k).unwrap_or("") != v)
            .collect();
        if changed.is_empty() {
            return Ok(current);
        }
        let at = self.tick();
        let obj = self
            .objects
            .get_mut(kind)
            .and_then(|m| m.get_mut(&num))
            .ok_or_else(Refusal::not_found)?;
        for (k, v) in &changed {
            if v.is_empty() {
                obj.properties.remove(k);
            } else {
                obj.properties.insert(k.clone(), v.clone());
            }
        }
        derive(kind, &mut obj.properties);
        obj.properties
            .insert(modified_property(kind).into(), iso(at));
        obj.updated_at = at;
        let out = obj.clone();
        if kind == "contacts" {
            self.contact_events(num, at, false, &changed, source);
        }
        Ok(out)
    }

    /// An activity was associated to contact `id`: HubSpot updates the contact's
    /// activity properties, and with them its last modified date.
    fn touch_contact(&mut self, id: &str, property: &str, value: String) {
        let Ok(num) = id.parse::<u64>() else { return };
        let at = self.tick();
        if let Some(c) = self
            .objects
            .get_mut("contacts")
            .and_then(|m| m.get_mut(&num))
        {
            c.properties.insert(property.into(), value);
            c.properties.insert("lastmodifieddate".into(), iso(at));
            c.updated_at = at;
        }
    }
}

/// The JSON HubSpot answers for an object, with `props` (all set ones when `None`;
/// requested but unset ones as null).
fn object_json(kind: &str, obj: &Object, props: Option<&[String]>) -> Value {
    let mut properties = Map::new();
    match props {
        None => {
            for (k, v) in &obj.properties {
                properties.insert(k.clone(), json!(v));
            }
        }
        Some(wanted) => {
            let defaults = [
                "hs_object_id",
                created_property(kind),
                modified_property(kind),
            ];
            for p in wanted.iter().map(String::as_str).chain(defaults) {
                properties.insert(p.to_string(), json!(obj.prop(p)));
            }
        }
    }
    json!({
        "id": obj.id,
        "properties": properties,
        "createdAt": iso(obj.created_at),
        "updatedAt": iso(obj.updated_at),
        "archived": false,
    })
}

/// A bad answer to a write, as proxies and overloaded gateways give them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bad {
    /// Carried out, but the answer's body is cut off: `200` with a body that is not JSON.
    Garbage,
    /// Not carried out: a proxy's `502 Bad Gateway` HTML page.
    HtmlBadGateway,
    /// Not carried out: `429` with `Retry-After: N` (seconds) and an HTML body.
    RetryAfter(u32),
}

/// Every request lands here: checked and answered like HubSpot, then recorded.
async fn handle(State(shared): State<Arc<Shared>>, req: axum::extract::Request) -> Response {
    let stall = shared.lock().stall;
    if let Some(by) = stall {
        tokio::time::sleep(by).await;
    }
    let at = Instant::now();
    let (parts, body) = req.into_parts();
    let bytes = axum::body::to_bytes(body, 16 << 20)
        .await
        .unwrap_or_default();
    let token = bearer(&parts.headers);
    let path = parts.uri.path().to_string();
    let mut inner = shared.lock();
    inner.correlation += 1;
    let correlation = format!(
        "{:08x}-5c7a-4e1b-9d3f-{:012x}",
        inner.correlation, inner.correlation
    );
    let request = Incoming {
        at,
        method: &parts.method,
        path: &path,
        query: parts.uri.query(),
        token: token.as_deref(),
        bytes: &bytes,
        correlation: &correlation,
    };
    let write = [Method::POST, Method::PATCH, Method::PUT].contains(&parts.method)
        && !path.ends_with("/search");
    let bad = if write && !inner.bad.is_empty() {
        Some(inner.bad.remove(0))
    } else {
        None
    };
    let html = |status: u16, extra: Option<(header::HeaderName, String)>| -> (u16, Response) {
        let page = format!(
            "<html><head><title>{status}</title></head><body><center><h1>{status}</h1></center><hr><center>nginx</center></body></html>"
        );
        let mut r = (
            StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY),
            [(header::CONTENT_TYPE, "text/html")],
            page,
        )
            .into_response();
        if let Some((k, v)) = extra
            && let Ok(v) = HeaderValue::from_str(&v)
        {
            r.headers_mut().insert(k, v);
        }
        (status, r)
    };
    let (mut status, mut response) = match bad {
        Some(Bad::HtmlBadGateway) => html(502, None),
        Some(Bad::RetryAfter(secs)) => html(429, Some((header::RETRY_AFTER, secs.to_string()))),
        _ => answer(&mut inner, &request),
    };
    if bad == Some(Bad::Garbage) && (200..300).contains(&status) {
        response = (
            StatusCode::from_u16(status).unwrap_or(StatusCode::OK),
            [(header::CONTENT_TYPE, "application/json;charset=utf-8")],
            "{\"id\":\"12\",\"proper",
        )
            .into_response();
    }
    let created = parts.method == Method::POST && status == 201;
    if created && inner.lose_answers > 0 {
        // Written, but the answer is lost on the way back (a gateway timeout).
        inner.lose_answers -= 1;
        (status, response) = error(504, "GATEWAY_TIMEOUT", "upstream timed out", &correlation);
    }
    inner.log.push(Recorded {
        at,
        method: parts.method.to_string(),
        path,
        token,
        status,
        body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    });
    drop(inner);
    if let Ok(v) = HeaderValue::from_str(&correlation) {
        response.headers_mut().insert("x-hubspot-correlation-id", v);
    }
    response
}

fn bearer(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    value.strip_prefix("Bearer ").map(|t| t.trim().to_string())
}

fn error(status: u16, category: &str, message: &str, correlation: &str) -> (u16, Response) {
    let code = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (
        status,
        (
            code,
            axum::Json(json!({"status": "error", "message": message,
                              "correlationId": correlation, "category": category})),
        )
            .into_response(),
    )
}

fn refused(r: Refusal, correlation: &str) -> (u16, Response) {
    error(r.status, r.category, &r.message, correlation)
}

/// `POST /crm/v4/associations/{from}/{to}/batch/read` `{"inputs": [{"id"}]}`:
/// `{"status": "COMPLETE", "results": [{"from": {"id"}, "to": [{"toObjectId",
/// "associationTypes"}]}]}` for the inputs that have any.
fn associations_batch_read(
    inner: &Inner,
    from: &str,
    to: &str,
    bytes: &[u8],
) -> Result<Value, Refusal> {
    let body = parse_body(bytes, &["inputs"])?;
    let kind = kind_of(from)
        .ok_or_else(|| Refusal::validation(format!("Unable to infer object type from: {from}")))?;
    let inputs = body
        .get("inputs")
        .and_then(Value::as_array)
        .ok_or_else(|| Refusal::validation("inputs must be an array"))?;
    let mut results = Vec::new();
    for input in inputs {
        let Some(id) = input["id"].as_str().and_then(|s| s.parse::<u64>().ok()) else {
            return Err(Refusal::validation("each input needs an id"));
        };
        let Some(obj) = inner.store.objects.get(kind).and_then(|m| m.get(&id)) else {
            continue;
        };
        let mut targets: Vec<Value> = obj
            .associations
            .iter()
            .filter(|a| a.to_type == to)
            .map(|a| {
                json!({"toObjectId": a.to_id.parse::<u64>().unwrap_or_default(),
                       "associationTypes": [{"category": "HUBSPOT_DEFINED", "typeId": a.type_id, "label": null}]})
            })
            .collect();
        // Associations go both ways: objects of `to` that point at this one.
        let back = ASSOCIATION_TYPES
            .iter()
            .find(|(f, t, _)| *f == kind && *t == to)
            .map_or(0, |(_, _, id)| *id);
        for (other_id, other) in kind_of(to)
            .and_then(|k| inner.store.objects.get(k))
            .into_iter()
            .flatten()
        {
            if other
                .associations
                .iter()
                .any(|a| a.to_type == kind && a.to_id == id.to_string())
            {
                targets.push(json!({"toObjectId": other_id,
                    "associationTypes": [{"category": "HUBSPOT_DEFINED", "typeId": back, "label": null}]}));
            }
        }
        if !targets.is_empty() {
            results.push(json!({"from": {"id": id.to_string()}, "to": targets}));
        }
    }
    Ok(json!({"status": "COMPLETE", "results": results,
              "startedAt": iso(now_ms()), "completedAt": iso(now_ms())}))
}

fn ok(status: u16, body: Value) -> (u16, Response) {
    let code = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
    (status, (code, axum::Json(body)).into_response())
}

/// Whether a request of `token` at `at` fits the rolling window `limit` (the caller
/// records it when it is accepted).
fn admit(
    windows: &mut HashMap<String, VecDeque<Instant>>,
    limit: &Limit,
    token: &str,
    at: Instant,
) -> bool {
    let w = windows.entry(token.to_string()).or_default();
    while w
        .front()
        .is_some_and(|t| at.duration_since(*t) >= limit.window)
    {
        w.pop_front();
    }
    w.len() < limit.max as usize
}

fn rate_headers(resp: &mut Response, limit: &Limit, used: usize) {
    let h = resp.headers_mut();
    let mut set = |k: &'static str, v: String| {
        if let Ok(v) = HeaderValue::from_str(&v) {
            h.insert(k, v);
        }
    };
    set("x-hubspot-ratelimit-max", limit.max.to_string());
    set(
        "x-hubspot-ratelimit-remaining",
        (limit.max as usize).saturating_sub(used).to_string(),
    );
    set(
        "x-hubspot-ratelimit-interval-milliseconds",
        limit.window.as_millis().to_string(),
    );
}

/// Checks a request's JSON body has only `allowed` top-level fields.
fn parse_body(bytes: &[u8], allowed: &[&str]) -> Result<Map<String, Value>, Refusal> {
    let v: Value = serde_json::from_slice(bytes).map_err(|e| {
        Refusal::validation(format!(
            "Invalid input JSON on line {}, column {}: {e}",
            e.line(),
            e.column()
        ))
    })?;
    let Value::Object(map) = v else {
        return Err(Refusal::validation(
            "Invalid input JSON on line 1, column 1: expected an object",
        ));
    };
    if let Some(unknown) = map.keys().find(|k| !allowed.contains(&k.as_str())) {
        return Err(Refusal::validation(format!(
            "Invalid input JSON on line 1, column 1: Unrecognized field \"{unknown}\" (not \
             marked as ignorable; known fields: {})",
            allowed.join(", ")
        )));
    }
    Ok(map)
}

/// One request as [`answer`] sees it.
struct Incoming<'a> {
    at: Instant,
    method: &'a Method,
    path: &'a str,
    query: Option<&'a str>,
    token: Option<&'a str>,
    bytes: &'a Bytes,
    correlation: &'a str,
}

/// The answer to one request (status and response).
fn answer(inner: &mut Inner, req: &Incoming<'_>) -> (u16, Response) {
    let Incoming {
        at,
        method,
        path,
        query,
        token,
        bytes,
        correlation,
    } = *req;
    if let Some(status) = inner.fault {
        return error(
            status,
            "INTERNAL_ERROR",
            "The server encountered an internal error. Please try again later.",
            correlation,
        );
    }
    let Some(token) = token.filter(|t| inner.tokens.iter().any(|k| k == t)) else {
        return error(
            401,
            "INVALID_AUTHENTICATION",
            "Authentication credentials not found. This API supports OAuth 2.0 authentication \
             and you can find more details at https://developers.hubspot.com/docs/methods/auth/oauth-overview",
            correlation,
        );
    };
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    if let ["crm", "v4", "associations", from, to, "batch", "read"] = segments.as_slice()
        && *method == Method::POST
    {
        return match associations_batch_read(inner, from, to, bytes) {
            Ok(v) => ok(200, v),
            Err(r) => refused(r, correlation),
        };
    }
    let (kind, rest) = match segments.as_slice() {
        ["crm", "v3", "objects", object_type, rest @ ..] => match kind_of(object_type) {
            Some(k) => (k, rest.to_vec()),
            None => {
                return error(
                    400,
                    "VALIDATION_ERROR",
                    &format!("Unable to infer object type from: {object_type}"),
                    correlation,
                );
            }
        },
        _ => {
            return error(
                404,
                "OBJECT_NOT_FOUND",
                &format!("Unable to route {method} url: {path}"),
                correlation,
            );
        }
    };
    let search = rest == ["search"];
    if search {
        let limit = Limit {
            max: inner.search_limit.max,
            window: inner.search_limit.window,
        };
        if !admit(&mut inner.search_windows, &limit, token, at) {
            let code = StatusCode::TOO_MANY_REQUESTS;
            return (
                429,
                (
                    code,
                    axum::Json(json!({"status": "error",
                        "message": "You have reached your secondly limit.",
                        "errorType": "RATE_LIMIT", "correlationId": correlation,
                        "policyName": "SECONDLY"})),
                )
                    .into_response(),
            );
        }
    }
    let limit = Limit {
        max: inner.limit.max,
        window: inner.limit.window,
    };
    if !admit(&mut inner.windows, &limit, token, at) {
        let mut resp = (
            StatusCode::TOO_MANY_REQUESTS,
            axum::Json(json!({"status": "error",
                "message": "You have reached your ten_secondly_rolling limit.",
                "errorType": "RATE_LIMIT", "correlationId": correlation,
                "policyName": "TEN_SECONDLY_ROLLING"})),
        )
            .into_response();
        rate_headers(&mut resp, &limit, limit.max as usize);
        return (429, resp);
    }
    let used = {
        let w = inner.windows.entry(token.to_string()).or_default();
        w.push_back(at);
        w.len()
    };
    if search {
        inner
            .search_windows
            .entry(token.to_string())
            .or_default()
            .push_back(at);
    }
    let (status, mut resp) = route(inner, kind, method, &rest, query, bytes, correlation);
    if !search {
        rate_headers(&mut resp, &limit, used);
    }
    (status, resp)
}

fn route(
    inner: &mut Inner,
    kind: &'static str,
    method: &Method,
    rest: &[&str],
    query: Option<&str>,
    bytes: &[u8],
    correlation: &str,
) -> (u16, Response) {
    let result = match (method, rest) {
        (&Method::POST, []) => create(inner, kind, bytes),
        (&Method::POST, ["search"]) => search(inner, kind, bytes),
        (&Method::POST, ["batch", "read"]) => batch_read(inner, kind, bytes),
        (&Method::PATCH, [id]) => parse_body(bytes, &["properties", "objectWriteTraceId"])
            .and_then(|body| {
                let props = properties_of(&body)?;
                inner.store.update(kind, id, &props, "INTEGRATION")
            })
            .map(|obj| (200, object_json(kind, &obj, None))),
        (&Method::GET, [id]) => {
            let wanted: Option<Vec<String>> = query.and_then(|q| {
                q.split('&')
                    .filter_map(|kv| kv.strip_prefix("properties="))
                    .map(|v| v.split(',').map(str::to_string).collect::<Vec<_>>())
                    .reduce(|mut a, b| {
                        a.extend(b);
                        a
                    })
            });
            id.parse::<u64>()
                .ok()
                .and_then(|n| inner.store.objects.get(kind)?.get(&n))
                .map(|obj| (200, object_json(kind, obj, wanted.as_deref())))
                .ok_or_else(Refusal::not_found)
        }
        _ => Err(Refusal {
            status: 404,
            category: "OBJECT_NOT_FOUND",
            message: format!(
                "Unable to route {method} url: /crm/v3/objects/{kind}/{}",
                rest.join("/")
            ),
        }),
    };
    match result {
        Ok((status, body)) => ok(status, body),
        Err(r) => refused(r, correlation),
    }
}

fn properties_of(body: &Map<String, Value>) -> Result<Map<String, Value>, Refusal> {
    match body.get("properties") {
        Some(Value::Object(p)) => Ok(p.clone()),
        Some(_) => Err(Refusal::validation(
            "Invalid input JSON on line 1: \"properties\" must be an object",
        )),
        None => Err(Refusal::validation(
            "Invalid input JSON: \"properties\" is required",
        )),
    }
}

/// The HubSpot-defined association types this server knows: (from, to, type id).
const ASSOCIATION_TYPES: [(&str, &str, u32); 8] = [
    ("communications", "contacts", 81),
    ("contacts", "communications", 82),
    ("deals", "contacts", 3),
    ("contacts", "deals", 4),
    ("order", "contacts", 507),
    ("contacts", "order", 508),
    ("order", "line_items", 513),
    ("line_items", "order", 514),
];

fn associations_of(kind: &str, body: &Map<String, Value>) -> Result<Vec<Association>, Refusal> {
    let Some(list) = body.get("associations") else {
        return Ok(Vec::new());
    };
    let list = list.as_array().ok_or_else(|| {
        Refusal::validation("Invalid input JSON: \"associations\" must be an array")
    })?;
    let mut out = Vec::new();
    for a in list {
        let Some(obj) = a.as_object() else {
            return Err(Refusal::validation(
                "Invalid input JSON: an association must be an object",
            ));
        };
        only_known(obj, &["to", "types"], "association")?;
        let to_id = match &a["to"]["id"] {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            _ => {
                return Err(Refusal::validation(
                    "Invalid input JSON: association \"to\" needs an \"id\"",
                ));
            }
        };
        let types = a["types"]
            .as_array()
            .filter(|t| !t.is_empty())
            .ok_or_else(|| {
                Refusal::validation("Invalid input JSON: association \"types\" is required")
            })?;
        for t in types {
            let category = t["associationCategory"].as_str().unwrap_or_default();
            let type_id = t["associationTypeId"]
                .as_u64()
                .and_then(|n| u32::try_from(n).ok())
                .ok_or_else(|| {
                    Refusal::validation("Invalid input JSON: associationTypeId must be a number")
                })?;
            if !matches!(
                category,
                "HUBSPOT_DEFINED" | "USER_DEFINED" | "INTEGRATOR_DEFINED"
            ) {
                return Err(Refusal::validation(format!(
                    "Invalid input JSON: associationCategory {category:?} is not one of \
                     HUBSPOT_DEFINED, USER_DEFINED, INTEGRATOR_DEFINED"
                )));
            }
            let to_type = ASSOCIATION_TYPES
                .iter()
                .find(|(from, _, id)| {
                    *from == kind && *id == type_id && category == "HUBSPOT_DEFINED"
                })
                .map(|(_, to, _)| *to)
                .ok_or_else(|| {
                    Refusal::validation(format!(
                        "association type {category}/{type_id} is not valid from {kind}"
                    ))
                })?;
            out.push(Association {
                to_type: to_type.to_string(),
                to_id: to_id.clone(),
                type_id,
            });
        }
    }
    Ok(out)
}

fn create(inner: &mut Inner, kind: &'static str, bytes: &[u8]) -> Result<(u16, Value), Refusal> {
    let body = parse_body(bytes, &["properties", "associations", "objectWriteTraceId"])?;
    let props = properties_of(&body)?;
    let associations = associations_of(kind, &body)?;
    let obj = inner
        .store
        .create(kind, &props, associations, "INTEGRATION")?;
    if inner.activity_touches_contact {
        for a in obj.associations.iter().filter(|a| a.to_type == "contacts") {
            match kind {
                "communications" => {
                    let at = obj.prop("hs_timestamp").unwrap_or_default().to_string();
                    inner
                        .store
                        .touch_contact(&a.to_id, "notes_last_updated", at);
                }
                "deals" => {
                    let n = inner
                        .store
                        .objects
                        .get("deals")
                        .map(|d| {
                            d.values()
                                .filter(|o| o.associations.iter().any(|b| b.to_id == a.to_id))
                                .count()
                        })
                        .unwrap_or_default();
                    inner
                        .store
                        .touch_contact(&a.to_id, "num_associated_deals", n.to_string());
                }
                _ => {}
            }
        }
    }
    Ok((201, object_json(kind, &obj, None)))
}

/// Refuses a field of `obj` (a `what` inside a request body) outside `known`, as
/// HubSpot's JSON reader does.
fn only_known(obj: &Map<String, Value>, known: &[&str], what: &str) -> Result<(), Refusal> {
    match obj.keys().find(|k| !known.contains(&k.as_str())) {
        Some(k) => Err(Refusal::validation(format!(
            "Invalid input JSON: Unrecognized field \"{k}\" in {what}"
        ))),
        None => Ok(()),
    }
}

/// The filter operators of the search API.
fn matches_filter(obj: &Object, f: &Map<String, Value>) -> Result<bool, Refusal> {
    only_known(
        f,
        &["propertyName", "operator", "value", "values", "highValue"],
        "filter",
    )?;
    let name = f
        .get("propertyName")
        .and_then(Value::as_str)
        .ok_or_else(|| Refusal::validation("filter needs a propertyName"))?;
    let op = f.get("operator").and_then(Value::as_str).unwrap_or("EQ");
    let text = |v: Option<&Value>| -> Option<String> {
        match v? {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            Value::Bool(b) => Some(b.to_string()),
            _ => None,
        }
    };
    let actual = if name == "hs_object_id" {
        Some(obj.id.clone())
    } else {
        obj.prop(name).map(str::to_string)
    };
    // Compares a stored value with a filter value: as time, number or text.
    let cmp = |a: &str, b: &str| -> Result<std::cmp::Ordering, Refusal> {
        if is_datetime(name) {
            let (x, y) = (parse_datetime(a), parse_datetime(b));
            return match (x, y) {
                (Some(x), Some(y)) => Ok(x.cmp(&y)),
                _ => Err(Refusal::validation(format!(
                    "{b} is not a valid value for the datetime property {name}"
                ))),
            };
        }
        if is_number(name)
            && let (Ok(x), Ok(y)) = (a.parse::<f64>(), b.parse::<f64>())
        {
            return Ok(x.partial_cmp(&y).unwrap_or(std::cmp::Ordering::Equal));
        }
        Ok(a.to_lowercase().cmp(&b.to_lowercase()))
    };
    let value = text(f.get("value"));
    let need_value = || {
        value
            .clone()
            .ok_or_else(|| Refusal::validation(format!("operator {op} needs a value")))
    };
    use std::cmp::Ordering::{Equal, Greater, Less};
    Ok(match op {
        "HAS_PROPERTY" => actual.is_some(),
        "NOT_HAS_PROPERTY" => actual.is_none(),
        "EQ" => match &actual {
            Some(a) => cmp(a, &need_value()?)? == Equal,
            None => false,
        },
        "NEQ" => match &actual {
            Some(a) => cmp(a, &need_value()?)? != Equal,
            None => true,
        },
        "LT" | "LTE" | "GT" | "GTE" => {
            let v = need_value()?;
            match &actual {
                Some(a) => {
                    let o = cmp(a, &v)?;
                    match op {
                        "LT" => o == Less,
                        "LTE" => o != Greater,
                        "GT" => o == Greater,
                        _ => o != Less,
                    }
                }
                None => false,
            }
        }
        "BETWEEN" => {
            let low = need_value()?;
            let high = text(f.get("highValue"))
                .ok_or_else(|| Refusal::validation("operator BETWEEN needs a highValue"))?;
            match &actual {
                Some(a) => cmp(a, &low)? != Less && cmp(a, &high)? != Greater,
                None => false,
            }
        }
        "IN" | "NOT_IN" => {
            let values: Vec<String> = f
                .get("values")
                .and_then(Value::as_array)
                .ok_or_else(|| Refusal::validation(format!("operator {op} needs values")))?
                .iter()
                .filter_map(|v| text(Some(v)))
                .collect();
            let found = match &actual {
                Some(a) => values.iter().any(|v| cmp(a, v).is_ok_and(|o| o == Equal)),
                None => false,
            };
            (op == "IN") == found
        }
        "CONTAINS_TOKEN" | "NOT_CONTAINS_TOKEN" => {
            let token = need_value()?.to_lowercase().replace('*', "");
            let found = actual.as_deref().is_some_and(|a| {
                a.to_lowercase()
                    .split_whitespace()
                    .any(|w| w.contains(&token))
            });
            (op == "CONTAINS_TOKEN") == found
        }
        other => {
            return Err(Refusal::validation(format!(
                "Invalid input JSON: operator {other:?} is not one of LT, LTE, GT, GTE, EQ, NEQ, \
                 BETWEEN, IN, NOT_IN, HAS_PROPERTY, NOT_HAS_PROPERTY, CONTAINS_TOKEN, NOT_CONTAINS_TOKEN"
            )));
        }
    })
}

fn string_list(body: &Map<String, Value>, key: &str) -> Result<Option<Vec<String>>, Refusal> {
    match body.get(key) {
        None => Ok(None),
        Some(Value::Array(a)) => a
            .iter()
            .map(|v| {
                v.as_str().map(str::to_string).ok_or_else(|| {
                    Refusal::validation(format!("Invalid input JSON: {key} must be strings"))
                })
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        Some(_) => Err(Refusal::validation(format!(
            "Invalid input JSON: {key} must be an array"
        ))),
    }
}

/// The search API's page size cap and its total cap.
const SEARCH_MAX_LIMIT: u64 = 200;
const SEARCH_MAX_RESULTS: u64 = 10_000;

fn search(inner: &mut Inner, kind: &'static str, bytes: &[u8]) -> Result<(u16, Value), Refusal> {
    let body = parse_body(
        bytes,
        &[
            "filterGroups",
            "sorts",
            "query",
            "properties",
            "limit",
            "after",
        ],
    )?;
    let limit = match body.get("limit") {
        None => 10,
        Some(v) => v
            .as_u64()
            .filter(|n| (1..=SEARCH_MAX_LIMIT).contains(n))
            .ok_or_else(|| {
                Refusal::validation(format!(
                    "limit must be a number between 1 and {SEARCH_MAX_LIMIT}"
                ))
            })?,
    };
    let after: u64 = match body.get("after") {
        None | Some(Value::Null) => 0,
        Some(Value::String(s)) => s
            .parse()
            .map_err(|_| Refusal::validation(format!("after {s:?} is not a valid paging token")))?,
        Some(Value::Number(n)) => n.as_u64().unwrap_or_default(),
        Some(_) => return Err(Refusal::validation("after must be a string")),
    };
    if after + limit > SEARCH_MAX_RESULTS {
        return Err(Refusal::validation(format!(
            "The search API returns at most {SEARCH_MAX_RESULTS} results per query"
        )));
    }
    let groups = match body.get("filterGroups") {
        None => Vec::new(),
        Some(Value::Array(g)) => g.clone(),
        Some(_) => return Err(Refusal::validation("filterGroups must be an array")),
    };
    let mut total_filters = 0;
    let mut parsed_groups = Vec::new();
    if groups.len() > 5 {
        return Err(Refusal::validation("At most 5 filterGroups are allowed"));
    }
    for g in &groups {
        let Some(obj) = g.as_object() else {
            return Err(Refusal::validation("a filterGroup must be an object"));
        };
        only_known(obj, &["filters"], "filterGroup")?;
        let filters: Vec<Map<String, Value>> = obj
            .get("filters")
            .and_then(Value::as_array)
            .ok_or_else(|| Refusal::validation("a filterGroup needs filters"))?
            .iter()
            .map(|f| {
                f.as_object()
                    .cloned()
                    .ok_or_else(|| Refusal::validation("a filter must be an object"))
            })
            .collect::<Result<_, _>>()?;
        if filters.len() > 6 {
            return Err(Refusal::validation(
                "At most 6 filters are allowed in a filterGroup",
            ));
        }
        total_filters += filters.len();
        parsed_groups.push(filters);
    }
    if total_filters > 18 {
        return Err(Refusal::validation(
            "At most 18 filters are allowed in a search",
        ));
    }
    let sorts = match body.get("sorts") {
        None => Vec::new(),
        Some(Value::Array(s)) => s
            .iter()
            .map(|s| match s {
                Value::String(p) => {
                    Ok((p.trim_start_matches('-').to_string(), !p.starts_with('-')))
                }
                Value::Object(o) => {
                    only_known(o, &["propertyName", "direction"], "sort")?;
                    let p = o
                        .get("propertyName")
                        .and_then(Value::as_str)
                        .ok_or_else(|| Refusal::validation("a sort needs a propertyName"))?;
                    let asc = match o
                        .get("direction")
                        .and_then(Value::as_str)
                        .unwrap_or("ASCENDING")
                    {
                        "ASCENDING" => true,
                        "DESCENDING" => false,
                        d => {
                            return Err(Refusal::validation(format!(
                                "sort direction {d:?} is not ASCENDING or DESCENDING"
                            )));
                        }
                    };
                    Ok((p.to_string(), asc))
                }
                _ => Err(Refusal::validation("a sort must be a string or an object")),
            })
            .collect::<Result<Vec<_>, _>>()?,
        Some(_) => return Err(Refusal::validation("sorts must be an array")),
    };
    if sorts.len() > 1 {
        return Err(Refusal::validation("Only one sort is allowed"));
    }
    let query = body
        .get("query")
        .and_then(Value::as_str)
        .map(str::to_lowercase);
    let props = string_list(&body, "properties")?;
    let objects: Vec<Object> = inner
        .store
        .objects
        .get(kind)
        .map(|m| m.values().cloned().collect())
        .unwrap_or_default();
    let mut found = Vec::new();
    for obj in objects {
        let mut hit = parsed_groups.is_empty();
        for group in &parsed_groups {
            let mut all = true;
            for f in group {
                if !matches_filter(&obj, f)? {
                    all = false;
                }
            }
            hit |= all;
        }
        if let Some(q) = &query {
            hit &= obj
                .properties
                .values()
                .any(|v| v.to_lowercase().contains(q.as_str()));
        }
        if hit {
            found.push(obj);
        }
    }
    if let Some((prop, asc)) = sorts.first() {
        let key = |o: &Object| -> (Option<i64>, String) {
            let v = if prop == "hs_object_id" {
                Some(o.id.clone())
            } else {
                o.prop(prop).map(str::to_string)
            };
            let v = v.unwrap_or_default();
            let n = if is_datetime(prop) {
                parse_datetime(&v)
            } else if is_number(prop) {
                v.parse::<f64>().ok().map(|f| f as i64)
            } else {
                None
            };
            (n, v.to_lowercase())
        };
        found.sort_by(|a, b| {
            let o = key(a).cmp(&key(b)).then(
                a.id.parse::<u64>()
                    .unwrap_or(0)
                    .cmp(&b.id.parse::<u64>().unwrap_or(0)),
            );
            if *asc { o } else { o.reverse() }
        });
    }
    let total = found.len() as u64;
    let wanted = props.unwrap_or_else(|| match kind {
        "contacts" => [
            "createdate",
            "email",
            "firstname",
            "hs_object_id",
            "lastmodifieddate",
            "lastname",
        ]
        .map(String::from)
        .to_vec(),
        _ => Vec::new(),
    });
    let results: Vec<Value> = found
        .iter()
        .skip(after as usize)
        .take(limit as usize)
        .map(|o| object_json(kind, o, Some(&wanted)))
        .collect();
    let mut out = json!({"total": total, "results": results});
    if after + limit < total {
        let next = (after + limit).to_string();
        out["paging"] = json!({"next": {"after": next, "link": format!("?after={next}")}});
    }
    Ok((200, out))
}

fn batch_read(
    inner: &mut Inner,
    kind: &'static str,
    bytes: &[u8],
) -> Result<(u16, Value), Refusal> {
    let body = parse_body(
        bytes,
        &[
            "properties",
            "propertiesWithHistory",
            "inputs",
            "idProperty",
        ],
    )?;
    let props = string_list(&body, "properties")?.unwrap_or_default();
    let _ = string_list(&body, "propertiesWithHistory")?;
    if body.get("idProperty").is_some_and(|p| p != "hs_object_id") {
        return Err(Refusal::validation(
            "this server reads by hs_object_id only",
        ));
    }
    let inputs = body
        .get("inputs")
        .and_then(Value::as_array)
        .ok_or_else(|| Refusal::validation("Invalid input JSON: \"inputs\" is required"))?;
    if inputs.len() > 100 {
        return Err(Refusal::validation(
            "At most 100 inputs are allowed in a batch",
        ));
    }
    let started = iso(now_ms());
    let mut results = Vec::new();
    let mut missing = Vec::new();
    for input in inputs {
        let Some(obj) = input.as_object() else {
            return Err(Refusal::validation("an input must be an object"));
        };
        only_known(obj, &["id"], "input")?;
        let id = match obj.get("id") {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Number(n)) => n.to_string(),
            _ => return Err(Refusal::validation("an input needs an id")),
        };
        match id
            .parse::<u64>()
            .ok()
            .and_then(|n| inner.store.objects.get(kind)?.get(&n))
        {
            Some(o) => results.push(object_json(kind, o, Some(&props))),
            None => missing.push(id),
        }
    }
    let mut out = json!({"status": "COMPLETE", "results": results,
                         "startedAt": started, "completedAt": iso(now_ms())});
    if missing.is_empty() {
        return Ok((200, out));
    }
    out["numErrors"] = json!(1);
    out["errors"] = json!([{"status": "error", "category": "OBJECT_NOT_FOUND",
        "message": format!("Could not get some {} objects, they may be deleted or not exist. Check that ids are valid.",
                           singular(kind).to_uppercase()),
        "context": {"ids": missing}}]);
    Ok((207, out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn datetimes_round_trip() {
        assert_eq!(iso(1_572_406_217_883), "2019-10-30T03:30:17.883Z");
        assert_eq!(
            parse_datetime("2019-10-30T03:30:17.883Z"),
            Some(1_572_406_217_883)
        );
        assert_eq!(
            parse_datetime("2019-10-30T03:30:17Z"),
            Some(1_572_406_217_000)
        );
        assert_eq!(parse_datetime("1572406217883"), Some(1_572_406_217_883));
        assert_eq!(iso(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(parse_datetime("soon"), None);
    }

    #[test]
    fn the_v3_signature_is_base64_hmac_of_method_uri_body_timestamp() {
        // Same inputs, same digest as computing HMAC over the concatenation.
        let mut mac = Hmac::<Sha256>::new_from_slice(b"secret").unwrap();
        mac.update(b"POSThttps://x.example/hook[]1700000000000");
        let expected =
            base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
        assert_eq!(
            signature_v3(
                "secret",
                "POST",
                "https://x.example/hook",
                b"[]",
                1_700_000_000_000
            ),
            expected
        );
    }
}
