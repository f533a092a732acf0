//! Calling a tenant's mapper (host records ↔ CRM records) and connector (talks to
//! the CRM). Each call runs in a fresh instance with the binding's limits, like every
//! plugin call; the host's sync engine drives them.

use super::bindings::connect::ConnectorError;
use super::bindings::mapping::MapError;
use super::bindings::types as wit;
use super::call::{CallState, classify_failure};
use super::classifier::Classification;
use super::error::CallError;
use super::{ActiveBinding, PluginHost, SlotExports};
use serde::Serialize;
use serde_json::{Value, json};

/// A CRM record in the host's terms: field values as JSON (text → string, number and
/// integer → number, boolean, timestamp → `{"timestamp": ms}`, empty → null).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CrmRecord {
    /// The CRM object type ("party", "contact", "note", "deal", …).
    pub object: String,
    /// The CRM's id, when known.
    pub id: Option<String>,
    /// Field name → value, in the plugin's order.
    pub fields: Vec<(String, Value)>,
    /// When the CRM last changed it, Unix ms, when known.
    pub updated_at: Option<i64>,
}

impl CrmRecord {
    /// The value of field `name`, if present.
    pub fn field(&self, name: &str) -> Option<&Value> {
        self.fields.iter().find(|(n, _)| n == name).map(|(_, v)| v)
    }
}

/// What a CRM record changes on a host contact.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct ContactChanges {
    /// New name.
    pub name: Option<String>,
    /// New phone (any format).
    pub phone: Option<String>,
    /// Other fields.
    pub fields: Vec<(String, Value)>,
}

/// What the connector said about a written record.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Pushed {
    /// The CRM's id of the record.
    pub id: String,
    /// The CRM's time of the write, Unix ms, when it says.
    pub updated_at: Option<i64>,
}

/// A contact's CRM record as the mapper made it.
#[derive(Debug, Clone, PartialEq)]
pub struct MappedContact {
    /// The record.
    pub record: CrmRecord,
    /// The fields it filled with their configured default (they were empty).
    pub defaulted: Vec<String>,
}

/// A message someone wrote in the CRM for the customer, to send on WhatsApp.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CrmReply {
    /// The CRM's id of the note or reply.
    pub id: String,
    /// The CRM id of the contact it is for.
    pub contact_id: String,
    /// The text.
    pub text: String,
    /// When it was written, Unix ms.
    pub written_at: i64,
}

/// A page of changes from the CRM.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Changes {
    /// Changed records.
    pub records: Vec<CrmRecord>,
    /// Replies written in the CRM, oldest first.
    pub replies: Vec<CrmReply>,
    /// The cursor to pass next time.
    pub next_cursor: String,
    /// More changes are waiting.
    pub more: bool,
}

/// Why a mapper or connector call failed.
#[derive(Debug, thiserror::Error)]
pub enum CrmCallError {
    /// The plugin trapped, timed out or broke a limit (see [`CallError`]).
    #[error(transparent)]
    Call(#[from] CallError),
    /// The mapper found required fields it could not fill.
    #[error("unmapped required fields: {}", .0.join(", "))]
    Unmapped(Vec<String>),
    /// The CRM refused the credentials.
    #[error("the CRM refused the credentials: {0}")]
    Unauthorized(String),
    /// The CRM asked to wait this many seconds.
    #[error("the CRM is rate limiting; retry after {0} s")]
    RateLimited(u32),
    /// The CRM has no such record.
    #[error("not found in the CRM: {0}")]
    NotFound(String),
    /// The CRM (or mapper) refused the data.
    #[error("invalid: {0}")]
    Invalid(String),
    /// The mapper or geocoder said its configuration is not usable.
    #[error("invalid: {plugin} config: {message}")]
    InvalidConfig {
        /// `mapper` or `geocoder`.
        plugin: &'static str,
        /// What the plugin said.
        message: String,
    },
    /// The CRM could not be reached or answered 5xx.
    #[error("the CRM is unavailable: {0}")]
    Unavailable(String),
    /// Anything else the plugin reported.
    #[error("{0}")]
    Failed(String),
}

impl CrmCallError {
    /// A short machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            CrmCallError::Call(e) => e.code(),
            CrmCallError::Unmapped(_) => "crm_unmapped_fields",
            CrmCallError::Unauthorized(_) => "crm_unauthorized",
            CrmCallError::RateLimited(_) => "crm_rate_limited",
            CrmCallError::NotFound(_) => "crm_not_found",
            CrmCallError::Invalid(_) | CrmCallError::InvalidConfig { .. } => "crm_invalid",
            CrmCallError::Unavailable(_) => "crm_unavailable",
            CrmCallError::Failed(_) => "crm_failed",
        }
    }

    /// Whether trying again later can succeed (the CRM was down, busy or slow, or
    /// the plugin hit a limit that may not recur).
    pub fn retryable(&self) -> bool {
        match self {
            CrmCallError::Call(e) => !matches!(e, CallError::Quarantined { .. }),
            CrmCallError::RateLimited(_)
            | CrmCallError::Unavailable(_)
            | CrmCallError::Failed(_) => true,
            CrmCallError::Unmapped(_)
            | CrmCallError::Unauthorized(_)
            | CrmCallError::NotFound(_)
            | CrmCallError::Invalid(_)
            | CrmCallError::InvalidConfig { .. } => false,
        }
    }
}

impl From<ConnectorError> for CrmCallError {
    fn from(e: ConnectorError) -> CrmCallError {
        match e {
            ConnectorError::Unauthorized(m) => CrmCallError::Unauthorized(m),
            ConnectorError::RateLimited(s) => CrmCallError::RateLimited(s),
            ConnectorError::NotFound(m) => CrmCallError::NotFound(m),
            ConnectorError::Invalid(m) => CrmCallError::Invalid(m),
            ConnectorError::Unavailable(m) => CrmCallError::Unavailable(m),
            ConnectorError::Failed(m) => CrmCallError::Failed(m),
        }
    }
}

impl From<MapError> for CrmCallError {
    fn from(e: MapError) -> CrmCallError {
        match e {
            MapError::InvalidConfig(message) => CrmCallError::InvalidConfig {
                plugin: "mapper",
                message,
            },
            MapError::Unmapped(fields) => CrmCallError::Unmapped(fields),
            MapError::Failed(m) => CrmCallError::Failed(m),
        }
    }
}

thread_local! {
    /// HTTP requests sent by mapper and connector calls on this thread since the last
    /// [`take_requests`].
    static REQUESTS: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
}

/// How many HTTP requests the mapper and connector calls on this thread sent since the
/// last call of this function (the CRM's rate limit counts requests, not jobs).
pub fn take_requests() -> u32 {
    REQUESTS.with(|r| r.replace(0))
}

/// Why a conversation earned a CRM record of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignalKind {
    /// A sales signal: a deal or opportunity.
    Sales,
    /// A service request: a case or ticket.
    Service,
}

/// The message that made a conversation a signal, and what was found in it.
#[derive(Debug, Clone)]
pub struct Signal {
    /// Sales or service.
    pub kind: SignalKind,
    /// The message, in the contract's terms.
    pub message: wit::Message,
    /// Its classification.
    pub found: Classification,
}

/// How the host identifies one write (see the WIT `write-key`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriteKey {
    /// The host's id for the record.
    pub key: String,
    /// An earlier attempt may have left the record in the CRM.
    pub retried: bool,
}

impl WriteKey {
    fn to_wit(&self) -> super::bindings::connect::WriteKey {
        super::bindings::connect::WriteKey {
            key: self.key.clone(),
            retried: self.retried,
        }
    }
}

/// A mapped record and the host's key for it (see the WIT `keyed-record`).
#[derive(Debug, Clone, PartialEq)]
pub struct KeyedRecord {
    /// Records with the same key are the same open record.
    pub key: String,
    /// The record.
    pub record: CrmRecord,
}

/// The conversation a message belongs to, as the mapper sees it.
#[derive(Debug, Clone)]
pub struct ConversationFacts {
    /// Host id.
    pub id: i64,
    /// The business number.
    pub phone_number_id: String,
    /// Newest message, Unix ms.
    pub last_message_at: i64,
    /// Newest inbound message, Unix ms.
    pub last_inbound_at: Option<i64>,
    /// Tags.
    pub tags: Vec<String>,
}

impl PluginHost {
    /// Runs `f` on the mapping export of a fresh instance of `mapper`.
    fn with_mapper<R>(
        &self,
        mapper: &ActiveBinding,
        f: impl FnOnce(
            &super::bindings::mapping::Guest,
            &mut wasmtime::Store<CallState>,
        ) -> wasmtime::Result<Result<R, MapError>>,
    ) -> Result<R, CrmCallError> {
        let SlotExports::Mapper(ix) = &mapper.component.exports else {
            return Err(CrmCallError::Failed(
                "the bound component is not a mapper".into(),
            ));
        };
        Ok(self.fresh_call(mapper, |store, inst| f(&ix.load(&mut *store, inst)?, store))??)
    }

    /// The geocoder's completion of `r`'s address: the record with the postcode it
    /// found, or none when there is nothing it can state.
    ///
    /// # Errors
    /// [`CrmCallError`]: a refused key is `Unauthorized`, an unreachable or
    /// over-quota service `Unavailable`.
    pub fn complete_address(
        &self,
        geocoder: &ActiveBinding,
        r: &CrmRecord,
    ) -> Result<Option<CrmRecord>, CrmCallError> {
        use super::bindings::geocode::GeocodeError;
        let SlotExports::Geocoder(ix) = &geocoder.component.exports else {
            return Err(CrmCallError::Failed(
                "the bound component is not a geocoder".into(),
            ));
        };
        let rec = to_wit_record(r);
        let out = self.fresh_call(geocoder, |store, inst| {
            ix.load(&mut *store, inst)?.call_complete(store, &rec)
        })?;
        match out {
            Ok(done) => Ok(done.map(from_wit_record)),
            Err(GeocodeError::InvalidConfig(message)) => Err(CrmCallError::InvalidConfig {
                plugin: "geocoder",
                message,
            }),
            Err(GeocodeError::Refused(m)) => Err(CrmCallError::Unauthorized(m)),
            Err(GeocodeError::Unavailable(m)) => Err(CrmCallError::Unavailable(m)),
            Err(GeocodeError::Failed(m)) => Err(CrmCallError::Failed(m)),
        }
    }

    /// Runs `f` on the connect export of a fresh instance of `connector`.
    fn with_connector<R>(
        &self,
        connector: &ActiveBinding,
        f: impl FnOnce(
            &super::bindings::connect::Guest,
            &mut wasmtime::Store<CallState>,
        ) -> wasmtime::Result<Result<R, ConnectorError>>,
    ) -> Result<R, CrmCallError> {
        let SlotExports::Connector(ix, _) = &connector.component.exports else {
            return Err(CrmCallError::Failed(
                "the bound component is not a connector".into(),
            ));
        };
        Ok(self.fresh_call(connector, |store, inst| {
            f(&ix.load(&mut *store, inst)?, store)
        })??)
    }

    /// Writes `r` through one of the connector's push functions (`call`).
    fn push(
        &self,
        connector: &ActiveBinding,
        r: &CrmRecord,
        call: impl FnOnce(
            &super::bindings::connect::Guest,
            &mut wasmtime::Store<CallState>,
            &wit::CrmRecord,
        )
            -> wasmtime::Result<Result<super::bindings::connect::Pushed, ConnectorError>>,
    ) -> Result<Pushed, CrmCallError> {
        let rec = to_wit_record(r);
        let out = self.with_connector(connector, |g, store| call(g, store, &rec))?;
        Ok(pushed(out))
    }

    /// Runs `f` on a fresh instance of `binding`, with its limits.
    fn fresh_call<R>(
        &self,
        binding: &ActiveBinding,
        f: impl FnOnce(
            &mut wasmtime::Store<CallState>,
            &wasmtime::component::Instance,
        ) -> wasmtime::Result<R>,
    ) -> Result<R, CallError> {
        binding.ensure_active()?;
        let mut store = self.store_for(binding);
        let result = binding
            .component
            .pre
            .instantiate(&mut store)
            .and_then(|inst| f(&mut store, &inst));
        let sent = store.data().http.sent();
        REQUESTS.with(|r| r.set(r.get() + sent));
        crate::usage::observe(&store, binding);
        result.map_err(|e| classify_failure(&store, e, binding.site(), &binding.limits))
    }

    /// The mapper's CRM record for a contact, with what the host knows of it.
    ///
    /// # Errors
    /// [`CrmCallError`].
    pub fn map_contact(
        &self,
        mapper: &ActiveBinding,
        contact: &wit::Contact,
        facts: &wit::ContactFacts,
    ) -> Result<MappedContact, CrmCallError> {
        let out = self.with_mapper(mapper, |g, store| {
            g.call_contact_to_crm(store, contact, facts)
        })?;
        Ok(MappedContact {
            record: from_wit_record(out.record),
            defaulted: out.defaulted,
        })
    }

    /// The mapper's CRM record (a note or communication) for a stored message, with
    /// what the classifier found in it.
    ///
    /// # Errors
    /// [`CrmCallError`].
    pub fn map_message(
        &self,
        mapper: &ActiveBinding,
        msg: &wit::Message,
        contact: &wit::Contact,
        found: &Classification,
    ) -> Result<CrmRecord, CrmCallError> {
        let found = crate::responder::to_wit_classification(found);
        let out = self.with_mapper(mapper, |g, store| {
            g.call_message_to_crm(store, msg, contact, &found)
        })?;
        Ok(from_wit_record(out))
    }

    /// The mapper's keyed CRM record (a deal, opportunity or case) for a signal in
    /// a conversation; none when the mapper writes nothing for such signals.
    ///
    /// # Errors
    /// [`CrmCallError`].
    pub fn map_conversation(
        &self,
        mapper: &ActiveBinding,
        conv: &ConversationFacts,
        contact: &wit::Contact,
        signal: &Signal,
    ) -> Result<Option<KeyedRecord>, CrmCallError> {
        let conversation = wit::Conversation {
            id: conv.id as u64,
            contact_id: contact.id,
            phone_number_id: conv.phone_number_id.clone(),
            last_message_at: conv.last_message_at,
            last_inbound_at: conv.last_inbound_at,
            tags: conv.tags.clone(),
        };
        let signal = wit::Signal {
            kind: match signal.kind {
                SignalKind::Sales => wit::SignalKind::Sales,
                SignalKind::Service => wit::SignalKind::Service,
            },
            message: signal.message.clone(),
            found: crate::responder::to_wit_classification(&signal.found),
        };
        let out = self.with_mapper(mapper, |g, store| {
            g.call_conversation_to_crm(store, &conversation, contact, &signal)
        })?;
        Ok(out.map(|k| KeyedRecord {
            key: k.key,
            record: from_wit_record(k.record),
        }))
    }

    /// What a CRM record changes on the host contact, per the mapper.
    ///
    /// # Errors
    /// [`CrmCallError`].
    pub fn map_from_crm(
        &self,
        mapper: &ActiveBinding,
        record: &CrmRecord,
    ) -> Result<ContactChanges, CrmCallError> {
        let rec = to_wit_record(record);
        let out = self.with_mapper(mapper, |g, store| g.call_crm_to_contact(store, &rec))?;
        let ch = out;
        Ok(ContactChanges {
            name: ch.name,
            phone: ch.phone,
            fields: ch
                .fields
                .into_iter()
                .map(|f| (f.name, value_json(&f.value)))
                .collect(),
        })
    }

    /// Creates or updates a contact in the CRM.
    ///
    /// # Errors
    /// [`CrmCallError`].
    pub fn push_contact(
        &self,
        connector: &ActiveBinding,
        r: &CrmRecord,
    ) -> Result<Pushed, CrmCallError> {
        self.push(connector, r, |g, store, rec| {
            g.call_push_contact(store, rec)
        })
    }

    /// Writes a note or communication on CRM contact `contact_id`; the write's key
    /// (the message's wamid) makes a retry find the note instead of adding another.
    ///
    /// # Errors
    /// [`CrmCallError`].
    pub fn push_note(
        &self,
        connector: &ActiveBinding,
        contact_id: &str,
        write: &WriteKey,
        r: &CrmRecord,
    ) -> Result<Pushed, CrmCallError> {
        let write = write.to_wit();
        self.push(connector, r, |g, store, rec| {
            g.call_push_note(store, contact_id, &write, rec)
        })
    }

    /// Creates or updates the open deal, opportunity or case named by the write's
    /// key on CRM contact `contact_id`.
    ///
    /// # Errors
    /// [`CrmCallError`].
    pub fn push_deal(
        &self,
        connector: &ActiveBinding,
        contact_id: &str,
        write: &WriteKey,
        r: &CrmRecord,
    ) -> Result<Pushed, CrmCallError> {
        let write = write.to_wit();
        self.push(connector, r, |g, store, rec| {
            g.call_push_deal(store, contact_id, &write, rec)
        })
    }

    /// The CRM's changes since `cursor`.
    ///
    /// # Errors
    /// [`CrmCallError`].
    pub fn pull_changes(
        &self,
        connector: &ActiveBinding,
        cursor: &str,
    ) -> Result<Changes, CrmCallError> {
        let out = self.with_connector(connector, |g, store| g.call_pull_changes(store, cursor))?;
        let ch = out;
        Ok(Changes {
            records: ch.records.into_iter().map(from_wit_record).collect(),
            replies: ch
                .replies
                .into_iter()
                .map(|r| CrmReply {
                    id: r.id,
                    contact_id: r.contact_id,
                    text: r.text,
                    written_at: r.written_at,
                })
                .collect(),
            next_cursor: ch.next_cursor,
            more: ch.more,
        })
    }

    /// Whether `connector` can look up orders (exports `order-lookup`).
    pub fn looks_up_orders(connector: &ActiveBinding) -> bool {
        matches!(
            &connector.component.exports,
            SlotExports::Connector(_, Some(_))
        )
    }

    /// The orders of the CRM contact `contact_id` placed at or after `since`,
    /// newest first, at most `limit`.
    ///
    /// # Errors
    /// [`CrmCallError`]; `Invalid` when the connector cannot look up orders.
    pub fn find_orders(
        &self,
        connector: &ActiveBinding,
        contact_id: &str,
        since: i64,
        limit: u32,
    ) -> Result<Vec<super::bindings::scrm::plugin::commerce::OrderInfo>, CrmCallError> {
        let SlotExports::Connector(_, Some(ix)) = &connector.component.exports else {
            return Err(CrmCallError::Invalid(
                "the tenant's connector cannot look up orders (it implements connector, not order-connector)"
                    .into(),
            ));
        };
        Ok(self.fresh_call(connector, |store, inst| {
            ix.load(&mut *store, inst)?
                .call_find_orders(store, contact_id, since, limit)
        })??)
    }

    /// Contacts read back from the CRM by id (the sync audit).
    ///
    /// # Errors
    /// [`CrmCallError`].
    pub fn read_contacts(
        &self,
        connector: &ActiveBinding,
        ids: &[String],
    ) -> Result<Vec<CrmRecord>, CrmCallError> {
        let out = self.with_connector(connector, |g, store| g.call_read_contacts(store, ids))?;
        Ok(out.into_iter().map(from_wit_record).collect())
    }

    /// Deals read back from the CRM by id (the sync audit).
    ///
    /// # Errors
    /// [`CrmCallError`].
    pub fn read_deals(
        &self,
        connector: &ActiveBinding,
        ids: &[String],
    ) -> Result<Vec<CrmRecord>, CrmCallError> {
        let out = self.with_connector(connector, |g, store| g.call_read_deals(store, ids))?;
        Ok(out.into_iter().map(from_wit_record).collect())
    }

    /// The records a CRM webhook delivery carries; the connector checks its signature.
    ///
    /// # Errors
    /// [`CrmCallError`] (`Unauthorized` for a bad signature).
    pub fn parse_crm_webhook(
        &self,
        connector: &ActiveBinding,
        headers: &[(String, String)],
        body: &[u8],
    ) -> Result<Vec<CrmRecord>, CrmCallError> {
        let out = self.with_connector(connector, |g, store| {
            g.call_parse_webhook(store, headers, body)
        })?;
        Ok(out.into_iter().map(from_wit_record).collect())
    }
}

fn pushed(p: super::bindings::connect::Pushed) -> Pushed {
    Pushed {
        id: p.id,
        updated_at: p.updated_at,
    }
}

/// A field value as JSON (see [`CrmRecord`]).
pub fn value_json(v: &wit::FieldValue) -> Value {
    match v {
        wit::FieldValue::Text(t) => json!(t),
        wit::FieldValue::Number(n) => json!(n),
        wit::FieldValue::Integer(i) => json!(i),
        wit::FieldValue::Boolean(b) => json!(b),
        wit::FieldValue::Timestamp(t) => json!({"timestamp": t}),
        wit::FieldValue::Empty => Value::Null,
    }
}

/// JSON back to a field value (see [`CrmRecord`]); arrays and other objects travel
/// as their JSON text.
pub fn json_value(v: &Value) -> wit::FieldValue {
    match v {
        Value::Null => wit::FieldValue::Empty,
        Value::Bool(b) => wit::FieldValue::Boolean(*b),
        Value::Number(n) => match n.as_i64() {
            Some(i) => wit::FieldValue::Integer(i),
            None => wit::FieldValue::Number(n.as_f64().unwrap_or(0.0)),
        },
        Value::String(s) => wit::FieldValue::Text(s.clone()),
        Value::Object(o) if o.len() == 1 && o.get("timestamp").is_some_and(Value::is_i64) => {
            wit::FieldValue::Timestamp(o["timestamp"].as_i64().unwrap_or(0))
        }
        other => wit::FieldValue::Text(other.to_string()),
    }
}

fn from_wit_record(r: wit::CrmRecord) -> CrmRecord {
    CrmRecord {
        object: r.object,
        id: r.id,
        fields: r
            .fields
            .into_iter()
            .map(|f| (f.name, value_json(&f.value)))
            .collect(),
        updated_at: r.updated_at,
    }
}

fn to_wit_record(r: &CrmRecord) -> wit::CrmRecord {
    wit::CrmRecord {
        object: r.object.clone(),
        id: r.id.clone(),
        fields: r
            .fields
            .iter()
            .map(|(name, v)| wit::Field {
                name: name.clone(),
                value: json_value(v),
            })
            .collect(),
        updated_at: r.updated_at,
    }
}
