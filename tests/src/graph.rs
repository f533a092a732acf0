//! A local WhatsApp Cloud API ("Graph") server for the end-to-end tests.
//!
//! [`Graph::start`] serves, on `127.0.0.1:0`, the part of Meta's Graph API that scrm
//! uses, in Meta's wire format (request and response shapes follow
//! `../shared/specs/whatsapp-business-messaging-api_v23.0.yaml` and the examples in
//! `../shared/fixtures/send/`):
//!
//! | request | answer |
//! |---|---|
//! | `POST /{version}/{phone_number_id}/messages`, a send | `{"messaging_product":"whatsapp","contacts":[{"input","wa_id"}],"messages":[{"id":"wamid.…","message_status":"accepted"}]}` |
//! | the same with `{"status":"read","message_id":…}` | `{"success":true}` |
//! | `POST /{version}/{phone_number_id}/media` (multipart `messaging_product`, `file`, `type`) | `{"id":"…"}` |
//! | `GET /{version}/{media_id}` | `{"messaging_product","url","mime_type","sha256","file_size","id"}` |
//! | `GET <url>` (with the bearer token) | the media's bytes |
//! | `DELETE /{version}/{media_id}` | `{"success":true}` |
//! | `GET /{version}/{phone_number_id}` (the host's health probe) | `{"id","display_phone_number","verified_name","quality_rating",…}` |
//! | `GET /{version}/{waba_id}/message_templates` (`fields`, `limit`, `after`) | `{"data":[templates],"paging":{"cursors":{"before","after"},"next"}}`, see [`templates`] |
//! | `POST /{version}/{waba_id}/message_templates` (`name`, `language`, `category`, `components`) | `{"id","status":"PENDING","category"}`; the template joins the account's list as `PENDING` |
//!
//! Every request needs `Authorization: Bearer <token>` with a token the server
//! accepts ([`ACCESS_TOKEN`] unless told otherwise); anything else gets Meta's 401
//! envelope (code 190). Bad sends get Meta's `(#100)` errors.
//!
//! Tests script faults ([`Graph::fail_next`], [`Graph::fail_next_for`]: Meta error
//! envelopes with Meta's HTTP status, bare 5xx, a hang, a delay), latency
//! ([`Graph::set_latency`]) and the health probe ([`Graph::set_health_fault`]), and
//! read back every request as it arrived ([`Graph::requests`],
//! [`Graph::sent_messages`]), each with the [`Instant`] it arrived, so pacing can be
//! measured.
//!
//! ```no_run
//! # async fn demo() {
//! use scrm_e2e::graph::{Fault, Graph, MetaError};
//! let graph = Graph::start().await;
//! graph.fail_next_for("106540352242922", Fault::Meta(MetaError::new(131056).retry_after(2)));
//! // point the client at graph.url() (or at a prism::Contract in front of it) …
//! assert_eq!(graph.sent_messages().len(), 0);
//! # }
//! ```

mod templates;

use crate::serve;
use axum::body::{Body, Bytes};
use axum::extract::{FromRequest, Multipart, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::collections::{HashMap, HashSet, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The Graph API version the tests use in paths.
pub const VERSION: &str = "v23.0";
/// The access token every [`Graph`] accepts.
pub const ACCESS_TOKEN: &str = "EAAscrmTestAccessToken0123456789";

/// Message types the `messages` endpoint accepts (the spec's `Message.oneOf`).
const MESSAGE_TYPES: &[&str] = &[
    "text",
    "template",
    "image",
    "audio",
    "video",
    "document",
    "sticker",
    "interactive",
    "reaction",
    "location",
    "contacts",
];
const MEDIA_TYPES: &[&str] = &["image", "audio", "video", "document", "sticker"];

/// Ids (wamids, media ids) unique across every [`Graph`] of the process.
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

fn next_id() -> u64 {
    NEXT_ID.fetch_add(1, Ordering::Relaxed)
}

/// A Meta error, answered as Graph's envelope
/// `{"error":{"message","type","code","error_data":{"messaging_product","details"},"error_subcode","fbtrace_id"}}`
/// with the HTTP status Meta uses for its code.
#[derive(Debug, Clone, PartialEq)]
pub struct MetaError {
    /// HTTP status of the answer.
    pub status: u16,
    /// Graph error `code` (e.g. 131056).
    pub code: i64,
    /// `error_subcode`, when set.
    pub subcode: Option<i64>,
    /// `type` (Meta uses `OAuthException` for nearly everything).
    pub kind: String,
    /// `message`.
    pub message: String,
    /// `error_data.details`; `None` leaves `error_data` out (as for code 190).
    pub details: Option<String>,
    /// A `Retry-After` header, in seconds.
    pub retry_after: Option<u64>,
}

impl MetaError {
    /// The error Meta answers for `code`, with Meta's HTTP status, message and
    /// details for the codes scrm handles (100, 130429, 131047, 131026, 131049,
    /// 131050, 131056, 368, 190, 131000, 131016, 4, 80007, 131048); other codes get
    /// status 400 and a generic message.
    pub fn new(code: i64) -> MetaError {
        let (status, message, details): (u16, &str, Option<&str>) = match code {
            100 => (400, "(#100) Invalid parameter", Some("Invalid parameter")),
            130429 => (
                400,
                "(#130429) Rate limit hit",
                Some("Cloud API message throughput has been reached."),
            ),
            131056 => (
                400,
                "(#131056) (Business Account, Consumer Account) pair rate limit hit",
                Some(
                    "Too many messages sent from the sender phone number to the same recipient phone number in a short period of time.",
                ),
            ),
            131047 => (
                400,
                "(#131047) Re-engagement message",
                Some(
                    "Message failed to send because more than 24 hours have passed since the customer last replied to this number.",
                ),
            ),
            131026 => (
                400,
                "(#131026) Message undeliverable",
                Some("Message Undeliverable."),
            ),
            131049 => (
                400,
                "(#131049) This message was not delivered to maintain healthy ecosystem engagement.",
                Some(
                    "In order to maintain a healthy ecosystem engagement, the message failed to be delivered.",
                ),
            ),
            131050 => (
                400,
                "(#131050) Unable to deliver the message. This recipient has chosen to stop receiving marketing messages on WhatsApp from your business",
                Some(
                    "Unable to deliver the message. This recipient has chosen to stop receiving marketing messages on WhatsApp from your business",
                ),
            ),
            131048 => (
                400,
                "(#131048) Spam rate limit hit",
                Some(
                    "Message failed to send because there are restrictions on how many messages can be sent from this phone number.",
                ),
            ),
            368 => (
                403,
                "(#368) Temporarily blocked for policies violations",
                Some("The WhatsApp Business Account is restricted from messaging users."),
            ),
            190 => (
                401,
                "Invalid OAuth access token - Cannot parse access token",
                None,
            ),
            131000 => (
                500,
                "(#131000) Something went wrong",
                Some("Message failed to send due to an unknown error."),
            ),
            131016 => (
                503,
                "(#131016) Service unavailable",
                Some("A service is temporarily unavailable."),
            ),
            4 => (
                400,
                "(#4) Application request limit reached",
                Some("The app has reached its API call rate limit."),
            ),
            80007 => (
                400,
                "(#80007) Rate limit issues",
                Some("The WhatsApp Business Account has reached its rate limit."),
            ),
            _ => (400, "An unknown error has occurred.", Some("Unknown error")),
        };
        MetaError {
            status,
            code,
            subcode: None,
            kind: "OAuthException".into(),
            message: message.into(),
            details: details.map(str::to_string),
            retry_after: None,
        }
    }

    /// `(#100)` with a specific message (Meta names the offending parameter).
    pub fn invalid_parameter(message: impl Into<String>) -> MetaError {
        let message = message.into();
        MetaError {
            details: Some(message.clone()),
            message: format!("(#100) {message}"),
            ..MetaError::new(100)
        }
    }

    /// Adds a `Retry-After: secs` header.
    pub fn retry_after(mut self, secs: u64) -> MetaError {
        self.retry_after = Some(secs);
        self
    }

    /// Sets `error_subcode`.
    pub fn subcode(mut self, subcode: i64) -> MetaError {
        self.subcode = Some(subcode);
        self
    }

    /// Overrides the HTTP status.
    pub fn status(mut self, status: u16) -> MetaError {
        self.status = status;
        self
    }

    /// Sets `error_data.details`.
    pub fn details(mut self, details: impl Into<String>) -> MetaError {
        self.details = Some(details.into());
        self
    }

    /// The JSON envelope Meta sends (with a fresh `fbtrace_id`).
    pub fn envelope(&self) -> Value {
        let mut error = json!({
            "message": self.message,
            "type": self.kind,
            "code": self.code,
            "fbtrace_id": format!("Ascrm{:017}", next_id()),
        });
        if let Some(details) = &self.details {
            error["error_data"] = json!({"messaging_product": "whatsapp", "details": details});
        }
        if let Some(subcode) = self.subcode {
            error["error_subcode"] = json!(subcode);
        }
        json!({ "error": error })
    }

    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::BAD_REQUEST);
        let mut resp = (status, axum::Json(self.envelope())).into_response();
        if let Some(secs) = self.retry_after {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if status == StatusCode::UNAUTHORIZED {
            resp.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("OAuth \"Facebook Platform\" \"invalid_token\""),
            );
        }
        resp
    }
}

/// One scripted misbehaviour of the server, used once, in order.
#[derive(Debug, Clone, PartialEq)]
pub enum Fault {
    /// Answer Meta's error envelope with Meta's HTTP status (and `Retry-After`).
    Meta(MetaError),
    /// Answer a bare status (e.g. 500 or 503) with a plain-text body, as Meta's
    /// front ends do when Graph itself is down.
    Status(u16),
    /// Answer an HTML error page with this status (e.g. 502), as a proxy in front
    /// of Graph does.
    Html(u16),
    /// Never answer (the client's timeout fires).
    Hang,
    /// Answer normally, after this delay.
    Delay(Duration),
}

/// A request body as the server decoded it.
#[derive(Debug, Clone, PartialEq)]
pub enum RecordedBody {
    /// No body.
    Empty,
    /// A JSON body.
    Json(Value),
    /// A `multipart/form-data` body.
    Multipart(Vec<Part>),
    /// Anything else (or JSON that does not parse).
    Raw(Vec<u8>),
}

impl RecordedBody {
    /// The JSON body, if it was one.
    pub fn json(&self) -> Option<&Value> {
        match self {
            RecordedBody::Json(v) => Some(v),
            _ => None,
        }
    }

    /// The multipart part named `name`, if the body was multipart.
    pub fn part(&self, name: &str) -> Option<&Part> {
        match self {
            RecordedBody::Multipart(parts) => parts.iter().find(|p| p.name == name),
            _ => None,
        }
    }
}

/// One part of a multipart body.
#[derive(Debug, Clone, PartialEq)]
pub struct Part {
    /// The form field name.
    pub name: String,
    /// The file name, for file parts.
    pub file_name: Option<String>,
    /// The part's `Content-Type`.
    pub content_type: Option<String>,
    /// The part's bytes.
    pub bytes: Vec<u8>,
}

/// One request the server received, recorded before it was answered.
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
    /// Decoded body.
    pub body: RecordedBody,
}

impl Recorded {
    /// A header's value as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// A message the server accepted on `POST /{version}/{phone_number_id}/messages`.
#[derive(Debug, Clone)]
pub struct SentMessage {
    /// When it arrived.
    pub at: Instant,
    /// The sending phone_number_id (from the path).
    pub phone_number_id: String,
    /// The wamid the server answered.
    pub wamid: String,
    /// The request body.
    pub body: Value,
}

/// A mark-as-read the server accepted.
#[derive(Debug, Clone)]
pub struct ReadReceipt {
    /// When it arrived.
    pub at: Instant,
    /// The phone_number_id (from the path).
    pub phone_number_id: String,
    /// The `message_id` that was marked read.
    pub message_id: String,
    /// Whether a typing indicator was asked for.
    pub typing_indicator: bool,
}

/// A stored media object.
#[derive(Debug, Clone)]
struct Media {
    bytes: Vec<u8>,
    mime: String,
    sha256: String,
    phone_number_id: Option<String>,
}

#[derive(Debug, Default)]
struct Inner {
    tokens: Vec<String>,
    requests: Vec<Recorded>,
    sent: Vec<SentMessage>,
    reads: Vec<ReadReceipt>,
    faults: VecDeque<Fault>,
    faults_for: HashMap<String, VecDeque<Fault>>,
    latency: Duration,
    latency_for: HashMap<String, Duration>,
    health_fault: Option<Fault>,
    health_latency: Duration,
    media: HashMap<String, Media>,
    deleted_media: HashSet<String>,
    /// Message templates per WhatsApp Business Account id.
    templates: HashMap<String, Vec<Value>>,
    /// The most templates a page holds, whatever `limit` asks.
    templates_page_max: Option<usize>,
}

type Shared = serve::Shared<Inner>;

/// A running local Cloud API server; stops when dropped.
#[derive(Debug)]
pub struct Graph {
    shared: Arc<Shared>,
    server: serve::Running,
}

impl Graph {
    /// Starts a server on `127.0.0.1:0` that accepts [`ACCESS_TOKEN`].
    ///
    /// # Panics
    /// When it cannot bind a loopback port.
    pub async fn start() -> Graph {
        let listener = serve::Listener::loopback().await;
        let shared = Arc::new(Shared::new(
            listener.addr(),
            Inner {
                tokens: vec![ACCESS_TOKEN.to_string()],
                ..Inner::default()
            },
        ));
        let app = axum::Router::new()
            .fallback(handle)
            // Meta takes uploads up to 100 MB (documents); axum's default is 2 MB.
            .layer(axum::extract::DefaultBodyLimit::max(128 << 20))
            .with_state(shared.clone());
        let server = listener.serve(app);
        Graph { shared, server }
    }

    /// `http://127.0.0.1:PORT`: the Graph base URL (paths start with `/v23.0/`).
    pub fn url(&self) -> String {
        self.shared.base()
    }

    /// The server's address.
    pub fn addr(&self) -> SocketAddr {
        self.server.addr
    }

    /// Also accept `token` as a bearer token.
    pub fn accept_token(&self, token: &str) {
        self.shared.lock().tokens.push(token.to_string());
    }

    /// Every request received so far, in arrival order.
    pub fn requests(&self) -> Vec<Recorded> {
        self.shared.lock().requests.clone()
    }

    /// Every message accepted so far (sends, not mark-as-read), in arrival order.
    pub fn sent_messages(&self) -> Vec<SentMessage> {
        self.shared.lock().sent.clone()
    }

    /// How many messages were accepted so far (cheap: no copies).
    pub fn sent_count(&self) -> usize {
        self.shared.lock().sent.len()
    }

    /// Every mark-as-read accepted so far, in arrival order.
    pub fn read_receipts(&self) -> Vec<ReadReceipt> {
        self.shared.lock().reads.clone()
    }

    /// Answers the next `messages` or `media` upload request, of any
    /// phone_number_id, with `fault` (after the faults queued before it).
    pub fn fail_next(&self, fault: Fault) {
        self.shared.lock().faults.push_back(fault);
    }

    /// Answers the next `messages` or `media` upload request of `phone_number_id`
    /// with `fault`. A phone_number_id's own faults come before the global ones.
    pub fn fail_next_for(&self, phone_number_id: &str, fault: Fault) {
        self.shared
            .lock()
            .faults_for
            .entry(phone_number_id.to_string())
            .or_default()
            .push_back(fault);
    }

    /// Adds `latency` before every answer (except media downloads and the health
    /// probe, which has [`Graph::set_health_latency`]).
    pub fn set_latency(&self, latency: Duration) {
        self.shared.lock().latency = latency;
    }

    /// Adds `latency` before every answer to `phone_number_id` (instead of the
    /// global latency).
    pub fn set_latency_for(&self, phone_number_id: &str, latency: Duration) {
        self.shared
            .lock()
            .latency_for
            .insert(phone_number_id.to_string(), latency);
    }

    /// Answers every health probe (`GET /{version}/{phone_number_id}`) with
    /// `fault` until set back to `None`.
    pub fn set_health_fault(&self, fault: Option<Fault>) {
        self.shared.lock().health_fault = fault;
    }

    /// Adds `latency` before every health probe answer.
    pub fn set_health_latency(&self, latency: Duration) {
        self.shared.lock().health_latency = latency;
    }

    /// Stores media as if uploaded; its media id.
    pub fn put_media(&self, bytes: &[u8], mime: &str) -> String {
        let id = new_media_id();
        self.shared.lock().media.insert(
            id.clone(),
            Media {
                bytes: bytes.to_vec(),
                mime: mime.to_string(),
                sha256: hex::encode(Sha256::digest(bytes)),
                phone_number_id: None,
            },
        );
        id
    }

    /// A stored media object's bytes and MIME type (`None` once deleted).
    pub fn media(&self, id: &str) -> Option<(Vec<u8>, String)> {
        self.shared
            .lock()
            .media
            .get(id)
            .map(|m| (m.bytes.clone(), m.mime.clone()))
    }
}

fn new_media_id() -> String {
    format!("{}", 1_000_000_000_000_000 + next_id())
}

/// Every request lands here: recorded, then routed by hand (so that unknown paths
/// are recorded and answered in Meta's format too).
async fn handle(State(shared): State<Arc<Shared>>, req: axum::extract::Request) -> Response {
    let at = Instant::now();
    let (parts, body) = req.into_parts();
    let bytes = axum::body::to_bytes(body, 128 << 20)
        .await
        .unwrap_or_default();
    let decoded = decode_body(&parts, &bytes).await;
    let path = parts.uri.path().to_string();
    let query = parts.uri.query().map(str::to_string);
    shared.lock().requests.push(Recorded {
        at,
        method: parts.method.clone(),
        path: path.clone(),
        query: query.clone(),
        headers: parts.headers.clone(),
        body: decoded.clone(),
    });

    if !authorized(&shared, &parts.headers) {
        return MetaError::new(190).into_response();
    }
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let method = parts.method.clone();
    match (&method, segments.as_slice()) {
        (&Method::GET, ["whatsapp_business", "attachments", ..]) => {
            download(&shared, query.as_deref())
        }
        (&Method::POST, [_version, pnid, "messages"]) => {
            if let Some(resp) = before_answer(&shared, pnid).await {
                return resp;
            }
            messages(&shared, at, pnid, &decoded)
        }
        (&Method::GET, [version, waba_id, "message_templates"]) => {
            templates::message_templates(&shared, version, waba_id, query.as_deref()).await
        }
        (&Method::POST, [_version, waba_id, "message_templates"]) => {
            templates::create(&shared, waba_id, &decoded)
        }
        (&Method::POST, [_version, pnid, "media"]) => {
            if let Some(resp) = before_answer(&shared, pnid).await {
                return resp;
            }
            upload(&shared, pnid, &decoded)
        }
        (&Method::GET, [_version, id]) => {
            let media = shared.lock().media.get(*id).cloned();
            match media {
                Some(m) if owned_by(&m, query.as_deref()) => {
                    delay(global_latency(&shared, None)).await;
                    media_info(&shared, id, &m)
                }
                Some(_) => no_such_object(id),
                None if shared.lock().deleted_media.contains(*id) => no_such_object(id),
                None => phone_number(&shared, id, query.as_deref()).await,
            }
        }
        (&Method::DELETE, [_version, id]) => {
            delay(global_latency(&shared, None)).await;
            let owned = shared
                .lock()
                .media
                .get(*id)
                .is_some_and(|m| owned_by(m, query.as_deref()));
            if owned && shared.lock().media.remove(*id).is_some() {
                shared.lock().deleted_media.insert(id.to_string());
                axum::Json(json!({"success": true})).into_response()
            } else {
                no_such_object(id)
            }
        }
        _ => MetaError::new(100)
            .subcode(33)
            .details(format!("Unsupported {method} request."))
            .into_response(),
    }
}

async fn decode_body(parts: &axum::http::request::Parts, bytes: &Bytes) -> RecordedBody {
    if bytes.is_empty() {
        return RecordedBody::Empty;
    }
    let content_type = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if content_type.starts_with("multipart/form-data") {
        let mut req = axum::http::Request::new(Body::from(bytes.clone()));
        *req.headers_mut() = parts.headers.clone();
        // Carries the body limit set on the router (multipart reads it from here).
        *req.extensions_mut() = parts.extensions.clone();
        if let Ok(mut multipart) = Multipart::from_request(req, &()).await {
            let mut out = Vec::new();
            while let Ok(Some(field)) = multipart.next_field().await {
                let name = field.name().unwrap_or_default().to_string();
                let file_name = field.file_name().map(str::to_string);
                let content_type = field.content_type().map(str::to_string);
                let Ok(bytes) = field.bytes().await else {
                    return RecordedBody::Raw(bytes.to_vec());
                };
                out.push(Part {
                    name,
                    file_name,
                    content_type,
                    bytes: bytes.to_vec(),
                });
            }
            return RecordedBody::Multipart(out);
        }
        return RecordedBody::Raw(bytes.to_vec());
    }
    match serde_json::from_slice(bytes) {
        Ok(v) => RecordedBody::Json(v),
        Err(_) => RecordedBody::Raw(bytes.to_vec()),
    }
}

fn authorized(shared: &Shared, headers: &HeaderMap) -> bool {
    let Some(value) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let Some(token) = value.strip_prefix("Bearer ") else {
        return false;
    };
    shared.lock().tokens.iter().any(|t| t == token.trim())
}

fn global_latency(shared: &Shared, pnid: Option<&str>) -> Duration {
    let inner = shared.lock();
    pnid.and_then(|p| inner.latency_for.get(p).copied())
        .unwrap_or(inner.latency)
}

async fn delay(d: Duration) {
    if !d.is_zero() {
        tokio::time::sleep(d).await;
    }
}

/// Latency, then the next scripted fault of `pnid` (or the global queue):
/// `Some(answer)` when the fault decides the answer.
async fn before_answer(shared: &Shared, pnid: &str) -> Option<Response> {
    delay(global_latency(shared, Some(pnid))).await;
    let fault = {
        let mut inner = shared.lock();
        match inner.faults_for.get_mut(pnid).and_then(VecDeque::pop_front) {
            Some(f) => Some(f),
            None => inner.faults.pop_front(),
        }
    };
    apply(fault).await
}

async fn apply(fault: Option<Fault>) -> Option<Response> {
    match fault? {
        Fault::Meta(e) => Some(e.into_response()),
        Fault::Status(code) => {
            let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            Some(
                (
                    status,
                    [(header::CONTENT_TYPE, "text/plain")],
                    status.canonical_reason().unwrap_or("error"),
                )
                    .into_response(),
            )
        }
        Fault::Html(code) => {
            let status = StatusCode::from_u16(code).unwrap_or(StatusCode::BAD_GATEWAY);
            let reason = status.canonical_reason().unwrap_or("Error");
            Some(
                (
                    status,
                    [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
                    format!(
                        "<html><head><title>{code} {reason}</title></head><body><h1>{code} {reason}</h1></body></html>"
                    ),
                )
                    .into_response(),
            )
        }
        Fault::Hang => {
            std::future::pending::<()>().await;
            None
        }
        Fault::Delay(d) => {
            tokio::time::sleep(d).await;
            None
        }
    }
}

fn messages(shared: &Shared, at: Instant, pnid: &str, body: &RecordedBody) -> Response {
    let Some(body) = body.json().filter(|b| b.is_object()) else {
        return MetaError::invalid_parameter("The parameter messaging_product is required.")
            .into_response();
    };
    if body["messaging_product"] != "whatsapp" {
        return MetaError::invalid_parameter("The parameter messaging_product is required.")
            .into_response();
    }
    if let Some(status) = body.get("status") {
        if status != "read" {
            return MetaError::invalid_parameter("Param status must be read.").into_response();
        }
        let Some(message_id) = body["message_id"].as_str().filter(|s| !s.is_empty()) else {
            return MetaError::invalid_parameter("The parameter message_id is required.")
                .into_response();
        };
        shared.lock().reads.push(ReadReceipt {
            at,
            phone_number_id: pnid.to_string(),
            message_id: message_id.to_string(),
            typing_indicator: body.get("typing_indicator").is_some(),
        });
        return axum::Json(json!({"success": true})).into_response();
    }
    if let Err(message) = check_send(body) {
        return MetaError::invalid_parameter(message).into_response();
    }
    let to = body["to"].as_str().unwrap_or_default();
    let wamid = format!("wamid.HBgLscrm{:020}FQIAERgS", next_id());
    shared.lock().sent.push(SentMessage {
        at,
        phone_number_id: pnid.to_string(),
        wamid: wamid.clone(),
        body: body.clone(),
    });
    let wa_id: String = to.chars().filter(char::is_ascii_digit).collect();
    axum::Json(json!({
        "messaging_product": "whatsapp",
        "contacts": [{"input": to, "wa_id": wa_id}],
        "messages": [{"id": wamid, "message_status": "accepted"}],
    }))
    .into_response()
}

/// The checks Graph makes synchronously on a send (the rest fails later, by
/// webhook): recipient, type, and the type's object.
fn check_send(body: &Value) -> Result<(), String> {
    if body["to"].as_str().is_none_or(str::is_empty) {
        return Err("The parameter to is required.".into());
    }
    if let Some(rt) = body.get("recipient_type")
        && rt != "individual"
        && rt != "group"
    {
        return Err("Param recipient_type must be one of {individual, group}.".into());
    }
    let kind = body["type"].as_str().unwrap_or("text");
    if !MESSAGE_TYPES.contains(&kind) {
        return Err(format!(
            "Param type must be one of {{{}}}.",
            MESSAGE_TYPES.join(", ")
        ));
    }
    let object = &body[kind];
    let present = if kind == "contacts" {
        object.as_array().is_some_and(|a| !a.is_empty())
    } else {
        object.is_object()
    };
    if !present {
        return Err(format!("The parameter {kind} is required."));
    }
    if MEDIA_TYPES.contains(&kind) {
        let by_id = object.get("id").is_some();
        let by_link = object.get("link").is_some();
        if by_id == by_link {
            return Err(format!("Param {kind} must have exactly one of id or link."));
        }
    }
    match kind {
        "text" if object["body"].as_str().is_none_or(str::is_empty) => {
            Err("The parameter text['body'] is required.".into())
        }
        "template" if object["name"].as_str().is_none() || object["language"].is_null() => {
            Err("The parameters template['name'] and template['language'] are required.".into())
        }
        "reaction" if object["message_id"].as_str().is_none() => {
            Err("The parameter reaction['message_id'] is required.".into())
        }
        "interactive" if object["type"].as_str().is_none() => {
            Err("The parameter interactive['type'] is required.".into())
        }
        _ => Ok(()),
    }
}

fn upload(shared: &Shared, pnid: &str, body: &RecordedBody) -> Response {
    let RecordedBody::Multipart(_) = body else {
        return MetaError::invalid_parameter("Upload requires multipart/form-data.")
            .into_response();
    };
    if body
        .part("messaging_product")
        .is_none_or(|p| p.bytes != b"whatsapp")
    {
        return MetaError::invalid_parameter("The parameter messaging_product is required.")
            .into_response();
    }
    let Some(file) = body.part("file") else {
        return MetaError::invalid_parameter("The parameter file is required.").into_response();
    };
    let mime = body
        .part("type")
        .map(|p| String::from_utf8_lossy(&p.bytes).into_owned())
        .or_else(|| file.content_type.clone());
    let Some(mime) = mime.filter(|m| !m.is_empty()) else {
        return MetaError::invalid_parameter("The parameter type is required.").into_response();
    };
    let id = new_media_id();
    shared.lock().media.insert(
        id.clone(),
        Media {
            sha256: hex::encode(Sha256::digest(&file.bytes)),
            bytes: file.bytes.clone(),
            mime,
            phone_number_id: Some(pnid.to_string()),
        },
    );
    axum::Json(json!({ "id": id })).into_response()
}

/// False when the query names a `phone_number_id` other than the one that
/// uploaded the media (Graph then answers as if it did not exist).
fn owned_by(media: &Media, query: Option<&str>) -> bool {
    let asked = query
        .unwrap_or_default()
        .split('&')
        .find_map(|kv| kv.strip_prefix("phone_number_id="));
    match (asked, &media.phone_number_id) {
        (Some(asked), Some(owner)) => asked == owner,
        _ => true,
    }
}

fn media_info(shared: &Shared, id: &str, media: &Media) -> Response {
    axum::Json(json!({
        "messaging_product": "whatsapp",
        "url": format!(
            "{}/whatsapp_business/attachments/?mid={id}&ext={}&hash=ATscrm{}",
            shared.base(),
            next_id(),
            &media.sha256[..16]
        ),
        "mime_type": media.mime,
        "sha256": media.sha256,
        // The spec types file_size as a string.
        "file_size": media.bytes.len().to_string(),
        "id": id,
    }))
    .into_response()
}

fn download(shared: &Shared, query: Option<&str>) -> Response {
    let mid = query
        .unwrap_or_default()
        .split('&')
        .find_map(|kv| kv.strip_prefix("mid="))
        .unwrap_or_default();
    match shared.lock().media.get(mid) {
        Some(m) => ([(header::CONTENT_TYPE, m.mime.clone())], m.bytes.clone()).into_response(),
        None => (StatusCode::NOT_FOUND, "Not Found").into_response(),
    }
}

fn no_such_object(id: &str) -> Response {
    MetaError::invalid_parameter(format!(
        "Unsupported request - method type: get. Object with ID '{id}' does not exist, cannot be loaded due to missing permissions, or does not support this operation."
    ))
    .subcode(33)
    .into_response()
}

async fn phone_number(shared: &Shared, id: &str, query: Option<&str>) -> Response {
    let (latency, fault) = {
        let inner = shared.lock();
        (inner.health_latency, inner.health_fault.clone())
    };
    delay(latency).await;
    if let Some(resp) = apply(fault).await {
        return resp;
    }
    if id.is_empty() || !id.chars().all(|c| c.is_ascii_digit()) {
        return no_such_object(id);
    }
    let all = json!({
        "id": id,
        "display_phone_number": "+1 555-010-0000",
        "verified_name": "scrm Test Business",
        "quality_rating": "GREEN",
        "code_verification_status": "VERIFIED",
        "name_status": "APPROVED",
        "platform_type": "CLOUD_API",
        "throughput": {"level": "STANDARD"},
        "messaging_limit_tier": "TIER_1K",
    });
    let fields = query
        .unwrap_or_default()
        .split('&')
        .find_map(|kv| kv.strip_prefix("fields="))
        .map(|f| f.replace("%2C", ","));
    let body = match fields {
        None => json!({
            "id": id,
            "display_phone_number": all["display_phone_number"],
            "verified_name": all["verified_name"],
            "quality_rating": all["quality_rating"],
        }),
        Some(fields) => {
            let mut out = serde_json::Map::new();
            out.insert("id".into(), json!(id));
            for f in fields.split(',').map(str::trim) {
                if let Some(v) = all.get(f) {
                    out.insert(f.to_string(), v.clone());
                }
            }
            Value::Object(out)
        }
    };
    axum::Json(body).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meta_error_uses_metas_status_and_envelope() {
        let e = MetaError::new(131056).retry_after(3);
        assert_eq!(e.status, 400);
        let env = e.envelope();
        assert_eq!(env["error"]["code"], 131056);
        assert_eq!(env["error"]["type"], "OAuthException");
        assert_eq!(env["error"]["error_data"]["messaging_product"], "whatsapp");
        assert!(env["error"]["fbtrace_id"].is_string());
        assert_eq!(MetaError::new(368).status, 403);
        assert_eq!(
            MetaError::new(190).envelope()["error"].get("error_data"),
            None
        );
    }

    #[test]
    fn check_send_wants_one_of_id_or_link_for_media() {
        let base = json!({"messaging_product": "whatsapp", "to": "1", "type": "image"});
        let mut both = base.clone();
        both["image"] = json!({"id": "1", "link": "https://x"});
        assert!(check_send(&both).is_err());
        let mut one = base;
        one["image"] = json!({"id": "1"});
        assert!(check_send(&one).is_ok());
    }
}
