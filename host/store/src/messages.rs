//! Conversations, messages, their tags and classification, delivery statuses, and
//! edits and revokes.
//!
//! **Statuses** only move a message forward: `accepted < sent < delivered < read <
//! played`, and `failed` is terminal — it outranks everything, so once a message has
//! failed no later status changes it, and a `failed` that arrives after `delivered`
//! still marks it failed (Meta sends `failed` after `sent` when delivery finally
//! fails; after `delivered` it is rare, and the newest word from Meta is a failure).
//! The row's status is the best of every status event recorded for its wamid, so the
//! result does not depend on the order they arrive in, and a status recorded before
//! its message row exists is applied when the row appears ([`best_status`],
//! [`sync_status`]). Statuses apply to outbound messages only; inbound ones stay
//! `received`.
//!
//! **Edits** replace a message's `text` and `content` with the newest edit (by
//! WhatsApp's timestamp) and keep the first version in `original_text` /
//! `original_content`; every edit stays in `message_revisions`. A **revoke** sets
//! `revoked_at` and keeps the content. Both are recorded even when the message they
//! change has not arrived yet, and applied when it does.

use super::page::{Page, PageRequest};
use super::{StoreError, now_ms};
use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;

/// A conversation: one contact with one business number.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Conversation {
    /// Host id.
    pub id: i64,
    /// The contact.
    pub contact_id: i64,
    /// The business number (Meta's phone_number_id).
    pub phone_number_id: String,
    /// Opened, Unix ms.
    pub created_at: i64,
    /// Newest message, Unix ms (WhatsApp's timestamp).
    pub last_message_at: i64,
    /// Newest inbound message, Unix ms; the 24-hour window counts from here.
    pub last_inbound_at: Option<i64>,
    /// Tags of all its messages, sorted.
    pub tags: Vec<String>,
}

/// A message as stored and served.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Message {
    /// Host id.
    pub id: i64,
    /// WhatsApp message id.
    pub wamid: String,
    /// The conversation.
    pub conversation_id: i64,
    /// The contact.
    pub contact_id: i64,
    /// `inbound` or `outbound`.
    pub direction: String,
    /// WhatsApp type as sent ("text", "image", …).
    #[serde(rename = "type")]
    pub kind: String,
    /// WhatsApp's timestamp, Unix ms.
    pub timestamp: i64,
    /// The human-readable text, if any.
    pub text: Option<String>,
    /// Parsed content.
    pub content: serde_json::Value,
    /// What it answers or refers to (replied-to message, product, ad).
    pub context: serde_json::Value,
    /// The message object exactly as WhatsApp sent it.
    pub raw: serde_json::Value,
    /// Delivery status: `received` for inbound messages; `accepted`, `sent`,
    /// `delivered`, `read`, `played` or `failed` for outbound ones.
    pub status: String,
    /// When the current status happened, Unix ms (outbound messages).
    pub status_at: Option<i64>,
    /// Meta's errors: on an unsupported inbound message, or why an outbound one failed.
    pub errors: Option<serde_json::Value>,
    /// When the sender last edited it, Unix ms (WhatsApp's timestamp).
    pub edited_at: Option<i64>,
    /// When the sender deleted it for everyone, Unix ms; its content is kept.
    pub revoked_at: Option<i64>,
    /// The first version, when it was edited since.
    pub original: Option<OriginalVersion>,
    /// Its edits and revokes, oldest first (empty when there are none).
    pub revisions: Vec<Revision>,
    /// Every status event received for it, oldest first (outbound messages).
    pub statuses: Vec<StatusEvent>,
    /// Tags from classification, sorted.
    pub tags: Vec<String>,
    /// Intent, entities, sentiment and priority, when classified.
    pub classification: Option<serde_json::Value>,
    /// Which plugin version classified it ("name@version sha256").
    pub classifier: Option<String>,
    /// Why classification failed, when it did.
    pub classify_error: Option<String>,
    /// The responder's actions, when one ran.
    pub actions: Option<serde_json::Value>,
    /// Which responder version decided them.
    pub responder: Option<String>,
    /// Why the responder failed, when it did.
    pub respond_error: Option<String>,
    /// When it was stored, Unix ms.
    pub created_at: i64,
}

/// A message's first version, kept when it is edited.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct OriginalVersion {
    /// Its text.
    pub text: Option<String>,
    /// Its parsed content.
    pub content: serde_json::Value,
}

/// An edit or revoke of a message, as received.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Revision {
    /// The notification's own wamid.
    pub wamid: String,
    /// `edit` or `revoke`.
    pub action: String,
    /// The new version's WhatsApp type (edits).
    #[serde(rename = "type")]
    pub kind: Option<String>,
    /// The new text (edits).
    pub text: Option<String>,
    /// The new parsed content (edits).
    pub content: Option<serde_json::Value>,
    /// WhatsApp's timestamp, Unix ms.
    pub timestamp: i64,
}

/// One delivery status event of a message.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct StatusEvent {
    /// `sent`, `delivered`, `read`, `played`, `failed`, …
    pub status: String,
    /// WhatsApp's timestamp, Unix ms.
    pub timestamp: i64,
    /// Meta's errors (failed statuses).
    pub errors: Option<serde_json::Value>,
    /// How it is billed: `{billable, pricing_model, category, type}`.
    pub pricing: Option<serde_json::Value>,
    /// The billing conversation: `{id, origin_type, expiration_timestamp}`.
    pub conversation: Option<serde_json::Value>,
}

/// An inbound message to store.
#[derive(Debug, Clone)]
pub struct NewInbound<'a> {
    /// The tenant.
    pub tenant: &'a str,
    /// The contact it is from.
    pub contact_id: i64,
    /// The business number it was sent to.
    pub phone_number_id: &'a str,
    /// WhatsApp id.
    pub wamid: &'a str,
    /// WhatsApp type.
    pub kind: &'a str,
    /// Unix ms.
    pub timestamp: i64,
    /// Human-readable text.
    pub text: Option<&'a str>,
    /// Parsed content, JSON.
    pub content: &'a serde_json::Value,
    /// Context, JSON.
    pub context: &'a serde_json::Value,
    /// The message object as received.
    pub raw: &'a serde_json::Value,
    /// Meta's errors attached to it (a JSON array), if any.
    pub errors: Option<&'a serde_json::Value>,
    /// The inbox row it came in.
    pub inbox_id: i64,
}

/// What storing an inbound message did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    /// The message's host id (new or existing).
    pub message_id: i64,
    /// The conversation's id.
    pub conversation_id: i64,
    /// False when the message was there already (a redelivery).
    pub inserted: bool,
    /// True when the message still needs classifying.
    pub unclassified: bool,
    /// When an edit recorded before the message arrived now applies: that edit's
    /// notification as received (its `edit.message` is the current version).
    pub edited_by: Option<serde_json::Value>,
}

/// Stores an inbound message once (idempotent on the tenant's wamid) and keeps its
/// conversation's timestamps current.
///
/// # Errors
/// On database failure.
pub fn insert_inbound(conn: &Connection, m: &NewInbound<'_>) -> Result<Stored, StoreError> {
    if let Some((id, conv, classified)) = conn
        .query_row(
            "SELECT id, conversation_id, classified_at IS NOT NULL FROM messages WHERE tenant_id = ?1 AND wamid = ?2",
            params![m.tenant, m.wamid],
            |r| Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?, r.get::<_, bool>(2)?)),
        )
        .optional()?
    {
        let edited_by = if classified {
            None
        } else {
            current_edit_raw(conn, m.tenant, m.wamid)?
        };
        return Ok(Stored {
            message_id: id,
            conversation_id: conv,
            inserted: false,
            unclassified: !classified,
            edited_by,
        });
    }
    let now = now_ms();
    let conversation_id: i64 = conn.query_row(
        "INSERT INTO conversations (tenant_id, contact_id, phone_number_id, created_at, last_message_at, last_inbound_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?5)
         ON CONFLICT (tenant_id, contact_id, phone_number_id) DO UPDATE SET
             last_message_at = MAX(last_message_at, excluded.last_message_at),
             last_inbound_at = MAX(COALESCE(last_inbound_at, 0), excluded.last_inbound_at)
         RETURNING id",
        params![m.tenant, m.contact_id, m.phone_number_id, now, m.timestamp],
        |r| r.get(0),
    )?;
    conn.execute(
        "INSERT INTO messages (tenant_id, conversation_id, contact_id, wamid, direction, type, timestamp,
                               text, content, context, raw, status, inbox_id, created_at, errors)
         VALUES (?1, ?2, ?3, ?4, 'inbound', ?5, ?6, ?7, ?8, ?9, ?10, 'received', ?11, ?12, ?13)",
        params![
            m.tenant,
            conversation_id,
            m.contact_id,
            m.wamid,
            m.kind,
            m.timestamp,
            m.text,
            m.content.to_string(),
            m.context.to_string(),
            m.raw.to_string(),
            m.inbox_id,
            now,
            m.errors.map(serde_json::Value::to_string),
        ],
    )?;
    let message_id = conn.last_insert_rowid();
    if m.kind == "order" {
        // What the customer bought, by SKU: evidence for finding the same person
        // writing from another number (crate::sync).
        conn.execute(
            "INSERT OR IGNORE INTO contact_purchases (tenant_id, contact_id, sku, message_id, at)
             SELECT ?1, ?2, json_extract(j.value, '$.product_retailer_id'), ?3, ?4
             FROM json_each(?5, '$.order.product_items') j
             WHERE json_extract(j.value, '$.product_retailer_id') IS NOT NULL",
            params![
                m.tenant,
                m.contact_id,
                message_id,
                m.timestamp,
                m.raw.to_string()
            ],
        )?;
    }
    // Edits or revokes that arrived before the message itself apply now.
    let edited_by = match reconcile(conn, m.tenant, m.wamid)? {
        Some(r) if r.current_edit.is_some() => current_edit_raw(conn, m.tenant, m.wamid)?,
        _ => None,
    };
    Ok(Stored {
        message_id,
        conversation_id,
        inserted: true,
        unclassified: true,
        edited_by,
    })
}

/// An edit or revoke to record.
#[derive(Debug, Clone)]
pub struct NewRevision<'a> {
    /// The tenant.
    pub tenant: &'a str,
    /// The wamid of the message it changes.
    pub target_wamid: &'a str,
    /// The notification's own wamid.
    pub wamid: &'a str,
    /// `edit` or `revoke`.
    pub action: RevisionAction,
    /// The new version's WhatsApp type (edits).
    pub kind: Option<&'a str>,
    /// The new text or caption (edits).
    pub text: Option<&'a str>,
    /// The new parsed content, JSON (edits); an `unsupported` content means only the
    /// text is known, and it replaces the stored body or caption.
    pub content: Option<&'a serde_json::Value>,
    /// The notification as received.
    pub raw: &'a serde_json::Value,
    /// WhatsApp's timestamp, Unix ms.
    pub timestamp: i64,
    /// The inbox row it came in.
    pub inbox_id: i64,
}

/// What a revision does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RevisionAction {
    /// A new version of the message.
    Edit,
    /// The sender deleted the message for everyone.
    Revoke,
}

impl RevisionAction {
    fn as_str(self) -> &'static str {
        match self {
            Self::Edit => "edit",
            Self::Revoke => "revoke",
        }
    }
}

/// The stored message a revision changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RevisedMessage {
    /// Its host id.
    pub id: i64,
    /// Its conversation.
    pub conversation_id: i64,
    /// Its contact.
    pub contact_id: i64,
    /// True when it needs classifying (again).
    pub unclassified: bool,
}

/// What recording a revision did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RevisionOutcome {
    /// False when it was recorded already (a redelivery).
    pub inserted: bool,
    /// The message it changed; `None` while that message has not arrived.
    pub message: Option<RevisedMessage>,
    /// True when this edit is now the message's current version.
    pub current: bool,
    /// True when recording it changed the message's text or content.
    pub changed: bool,
}

/// Records an edit or revoke once (idempotent on its own wamid) and applies every
/// recorded revision of the target message to it, if the message is stored. An edit
/// that changed the message's content marks it for classifying again.
///
/// # Errors
/// On database failure.
pub fn record_revision(
    conn: &Connection,
    r: &NewRevision<'_>,
) -> Result<RevisionOutcome, StoreError> {
    let inserted = conn
        .prepare_cached(
            "INSERT INTO message_revisions (tenant_id, target_wamid, wamid, action, type, text, content,
                                            raw, timestamp, inbox_id, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11) ON CONFLICT DO NOTHING",
        )?
        .execute(params![
            r.tenant,
            r.target_wamid,
            r.wamid,
            r.action.as_str(),
            r.kind,
            r.text,
            r.content.map(serde_json::Value::to_string),
            r.raw.to_string(),
            r.timestamp,
            r.inbox_id,
            now_ms()
        ])?
        == 1;
    let Some(applied) = reconcile(conn, r.tenant, r.target_wamid)? else {
        return Ok(RevisionOutcome {
            inserted,
            message: None,
            current: false,
            changed: false,
        });
    };
    let current = applied.current_edit.as_deref() == Some(r.wamid);
    if applied.changed && r.action == RevisionAction::Edit {
        conn.execute(
            "UPDATE messages SET classified_at = NULL WHERE id = ?1",
            [applied.message_id],
        )?;
    }
    let (contact_id, unclassified) = conn.query_row(
        "SELECT contact_id, classified_at IS NULL FROM messages WHERE id = ?1",
        [applied.message_id],
        |row| Ok((row.get(0)?, row.get(1)?)),
    )?;
    Ok(RevisionOutcome {
        inserted,
        message: Some(RevisedMessage {
            id: applied.message_id,
            conversation_id: applied.conversation_id,
            contact_id,
            unclassified,
        }),
        current,
        changed: applied.changed,
    })
}

/// What [`reconcile`] did to a stored message.
struct Reconciled {
    message_id: i64,
    conversation_id: i64,
    /// The wamid of the edit that is now the current version, if any.
    current_edit: Option<String>,
    /// True when the text or content changed.
    changed: bool,
}

/// Recomputes a stored message from its first version and every recorded revision:
/// the newest edit (by WhatsApp's timestamp, then arrival) is the current version and
/// the earliest revoke sets `revoked_at`. The result does not depend on the order the
/// revisions arrived in. `None` when the message is not stored.
fn reconcile(
    conn: &Connection,
    tenant: &str,
    wamid: &str,
) -> Result<Option<Reconciled>, StoreError> {
    let Some((id, conversation_id, text, content, original_text, original_content, edited_at)) =
        conn.query_row(
            "SELECT id, conversation_id, text, content, original_text, original_content, edited_at
             FROM messages WHERE tenant_id = ?1 AND wamid = ?2",
            params![tenant, wamid],
            |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, Option<String>>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, Option<String>>(4)?,
                    r.get::<_, Option<String>>(5)?,
                    r.get::<_, Option<i64>>(6)?,
                ))
            },
        )
        .optional()?
    else {
        return Ok(None);
    };
    let latest_edit = conn
        .query_row(
            "SELECT wamid, text, content, timestamp FROM message_revisions
             WHERE tenant_id = ?1 AND target_wamid = ?2 AND action = 'edit'
             ORDER BY timestamp DESC, id DESC LIMIT 1",
            params![tenant, wamid],
            |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, Option<String>>(1)?,
                    r.get::<_, Option<String>>(2)?,
                    r.get::<_, i64>(3)?,
                ))
            },
        )
        .optional()?;
    let revoked_at: Option<i64> = conn.query_row(
        "SELECT MIN(timestamp) FROM message_revisions
         WHERE tenant_id = ?1 AND target_wamid = ?2 AND action = 'revoke'",
        params![tenant, wamid],
        |r| r.get(0),
    )?;
    let mut changed = false;
    let mut current_edit = None;
    if let Some((edit_wamid, new_text, new_content, at)) = latest_edit {
        // The first version is kept once, before anything overwrites it.
        let (first_text, first_content) = match original_content {
            Some(original) => (original_text, original),
            None => (text.clone(), content.clone()),
        };
        let first: serde_json::Value = serde_json::from_str(&first_content)?;
        let new_content = match new_content
            .map(|c| serde_json::from_str::<serde_json::Value>(&c))
            .transpose()?
        {
            Some(c) if c["type"] != "unsupported" => c,
            // Only the new text is known (e.g. a caption edit without the media):
            // it replaces the first version's body or caption.
            _ => with_text(first, new_text.as_deref()),
        };
        let new_content = new_content.to_string();
        changed = new_content != content || new_text != text || edited_at != Some(at);
        conn.execute(
            "UPDATE messages SET original_text = ?2, original_content = ?3, text = ?4, content = ?5, edited_at = ?6
             WHERE id = ?1",
            params![id, first_text, first_content, new_text, new_content, at],
        )?;
        current_edit = Some(edit_wamid);
    }
    conn.execute(
        "UPDATE messages SET revoked_at = ?2 WHERE id = ?1 AND revoked_at IS NOT ?2",
        params![id, revoked_at],
    )?;
    Ok(Some(Reconciled {
        message_id: id,
        conversation_id,
        current_edit,
        changed,
    }))
}

/// `content` with its human text (a text's body, else a caption) replaced by `text`.
fn with_text(mut content: serde_json::Value, text: Option<&str>) -> serde_json::Value {
    let key = if content["type"] == "text" {
        "body"
    } else {
        "caption"
    };
    if let Some(object) = content.as_object_mut() {
        object.insert(key.to_owned(), text.into());
    }
    content
}

/// The notification of the edit that is a stored message's current version, if any.
fn current_edit_raw(
    conn: &Connection,
    tenant: &str,
    wamid: &str,
) -> Result<Option<serde_json::Value>, StoreError> {
    conn.query_row(
        "SELECT raw FROM message_revisions
         WHERE tenant_id = ?1 AND target_wamid = ?2 AND action = 'edit'
         ORDER BY timestamp DESC, id DESC LIMIT 1",
        params![tenant, wamid],
        |r| r.get::<_, String>(0),
    )
    .optional()?
    .map(|raw| serde_json::from_str(&raw).map_err(StoreError::from))
    .transpose()
}

/// The outcome of classifying one message.
#[derive(Debug, Clone)]
pub enum ClassifyOutcome {
    /// The classifier returned these tags and this classification JSON.
    Classified {
        /// Tags to attach.
        tags: Vec<String>,
        /// Intent, entities, sentiment, priority.
        classification: serde_json::Value,
    },
    /// The classifier failed; the message stays untagged with the reason.
    Failed(String),
    /// The tenant has no classifier installed.
    NoClassifier,
}

/// Records the classification of a message (tags, details or failure) once.
///
/// # Errors
/// On database failure.
pub fn record_classification(
    tx: &Connection,
    message_id: i64,
    classifier: Option<&str>,
    outcome: &ClassifyOutcome,
) -> Result<(), StoreError> {
    let now = now_ms();
    match outcome {
        ClassifyOutcome::Classified {
            tags,
            classification,
        } => {
            tx.execute(
                "UPDATE messages SET classified_at = ?2, classification = ?3, classifier = ?4, classify_error = NULL
                 WHERE id = ?1",
                params![message_id, now, classification.to_string(), classifier],
            )?;
            for tag in tags {
                tx.execute(
                    "INSERT INTO message_tags (message_id, tag) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
                    params![message_id, tag],
                )?;
            }
        }
        ClassifyOutcome::Failed(reason) => {
            tx.execute(
                "UPDATE messages SET classified_at = ?2, classifier = ?3, classify_error = ?4 WHERE id = ?1",
                params![message_id, now, classifier, reason],
            )?;
        }
        ClassifyOutcome::NoClassifier => {
            tx.execute(
                "UPDATE messages SET classified_at = ?2 WHERE id = ?1",
                params![message_id, now],
            )?;
        }
    }
    Ok(())
}

/// Records what the responder decided for a message (its actions or why it failed);
/// `tag` actions also tag the message.
///
/// # Errors
/// On database failure.
pub fn record_response(
    tx: &Connection,
    message_id: i64,
    responder: &str,
    response: &Result<Vec<serde_json::Value>, String>,
) -> Result<(), StoreError> {
    match response {
        Ok(actions) => {
            tx.execute(
                "UPDATE messages SET actions = ?2, responder = ?3, respond_error = NULL WHERE id = ?1",
                params![message_id, serde_json::Value::Array(actions.clone()).to_string(), responder],
            )?;
            for tag in actions
                .iter()
                .filter(|a| a["type"] == "tag")
                .filter_map(|a| a["tag"].as_str())
            {
                tx.execute(
                    "INSERT INTO message_tags (message_id, tag) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
                    params![message_id, tag],
                )?;
            }
        }
        Err(reason) => {
            tx.execute(
                "UPDATE messages SET responder = ?2, respond_error = ?3 WHERE id = ?1",
                params![message_id, responder, reason],
            )?;
        }
    }
    Ok(())
}

/// A delivery status event to record.
#[derive(Debug, Clone)]
pub struct NewStatus<'a> {
    /// The tenant.
    pub tenant: &'a str,
    /// The wamid of the outbound message.
    pub wamid: &'a str,
    /// The status as sent (`sent`, `delivered`, `read`, `played`, `failed`, …).
    pub status: &'a str,
    /// WhatsApp's timestamp, Unix ms.
    pub timestamp: i64,
    /// The recipient's WhatsApp id.
    pub recipient_id: Option<&'a str>,
    /// Meta's errors (a JSON array), if any.
    pub errors: Option<&'a serde_json::Value>,
    /// The `pricing` object as parsed, if any.
    pub pricing: Option<&'a serde_json::Value>,
    /// The `conversation` object as parsed, if any.
    pub conversation: Option<&'a serde_json::Value>,
    /// The status object as received.
    pub raw: &'a serde_json::Value,
}

/// What recording a status did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusOutcome {
    /// False when the same (wamid, status) was recorded already.
    pub inserted: bool,
    /// The message's status after applying it; `None` when no outbound message with
    /// this wamid is stored (yet).
    pub message_status: Option<String>,
}

/// Where a status stands in the forward-only order; `None` for statuses that do not
/// move a message (`received`, `deleted`, `warning`, unknown ones). `failed` is
/// terminal, so it ranks above everything.
pub fn status_rank(status: &str) -> Option<u8> {
    Some(match status {
        "accepted" => 0,
        "sent" => 1,
        "delivered" => 2,
        "read" => 3,
        "played" => 4,
        "failed" => 5,
        _ => return None,
    })
}

/// Records a delivery status once per (wamid, status), then moves the stored outbound
/// message forward to the best status recorded for it.
///
/// # Errors
/// On database failure.
pub fn record_status(conn: &Connection, s: &NewStatus<'_>) -> Result<StatusOutcome, StoreError> {
    let n = conn
        .prepare_cached(
            "INSERT INTO message_statuses (tenant_id, wamid, status, timestamp, raw, created_at,
                                           recipient_id, errors, pricing, conversation)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) ON CONFLICT DO NOTHING",
        )?
        .execute(params![
            s.tenant,
            s.wamid,
            s.status,
            s.timestamp,
            s.raw.to_string(),
            now_ms(),
            s.recipient_id,
            s.errors.map(serde_json::Value::to_string),
            s.pricing.map(serde_json::Value::to_string),
            s.conversation.map(serde_json::Value::to_string),
        ])?;
    Ok(StatusOutcome {
        inserted: n == 1,
        message_status: sync_status(conn, s.tenant, s.wamid)?,
    })
}

/// The best status recorded for `wamid` by the forward-only order (`failed` above
/// all), whether or not its message row exists yet; `None` when no status that moves
/// a message was recorded. The outbox stores a new outbound message with this status
/// (else `accepted`), so a status that raced ahead of the send response is not lost.
///
/// # Errors
/// On database failure.
pub fn best_status(
    conn: &Connection,
    tenant: &str,
    wamid: &str,
) -> Result<Option<String>, StoreError> {
    Ok(best_recorded(conn, tenant, wamid)?.map(|(status, _, _)| status))
}

/// The best recorded status with its timestamp and errors.
fn best_recorded(
    conn: &Connection,
    tenant: &str,
    wamid: &str,
) -> Result<Option<(String, i64, Option<String>)>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT status, timestamp, errors FROM message_statuses WHERE tenant_id = ?1 AND wamid = ?2",
    )?;
    let rows = stmt
        .query_map(params![tenant, wamid], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, Option<String>>(2)?,
            ))
        })?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows
        .into_iter()
        .filter_map(|row| Some((status_rank(&row.0)?, row)))
        .max_by_key(|(rank, _)| *rank)
        .map(|(_, row)| row))
}

/// Moves the stored outbound message `wamid` forward to the best status recorded for
/// it (setting `status_at`, and `errors` when it failed); never backwards. Returns the
/// message's status afterwards, `None` when no outbound message with this wamid is
/// stored. The outbox may call this right after storing a message instead of
/// [`best_status`].
///
/// # Errors
/// On database failure.
pub fn sync_status(
    conn: &Connection,
    tenant: &str,
    wamid: &str,
) -> Result<Option<String>, StoreError> {
    let Some((id, current)) = conn
        .query_row(
            "SELECT id, status FROM messages WHERE tenant_id = ?1 AND wamid = ?2 AND direction = 'outbound'",
            params![tenant, wamid],
            |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?)),
        )
        .optional()?
    else {
        return Ok(None);
    };
    let Some((best, at, errors)) = best_recorded(conn, tenant, wamid)? else {
        return Ok(Some(current));
    };
    // A status the order does not know (e.g. one the outbox uses before sending)
    // ranks below every status Meta sends.
    if status_rank(&best) > status_rank(&current) {
        conn.execute(
            "UPDATE messages SET status = ?2, status_at = ?3, errors = COALESCE(?4, errors) WHERE id = ?1",
            params![id, best, at, errors],
        )?;
        return Ok(Some(best));
    }
    Ok(Some(current))
}

fn tags_of(conn: &Connection, message_id: i64) -> rusqlite::Result<Vec<String>> {
    let mut stmt =
        conn.prepare_cached("SELECT tag FROM message_tags WHERE message_id = ?1 ORDER BY tag")?;
    stmt.query_map([message_id], |r| r.get(0))?.collect()
}

/// One message of a tenant, with everything [`list`] returns.
///
/// # Errors
/// On database failure or unreadable stored JSON.
pub fn get(conn: &Connection, tenant: &str, id: i64) -> Result<Option<Message>, StoreError> {
    let page = list(
        conn,
        tenant,
        MessageFilter::default(),
        PageRequest {
            after: id - 1,
            limit: 1,
        },
    )?;
    Ok(page.items.into_iter().find(|m| m.id == id))
}

/// Filters for [`list`].
#[derive(Debug, Clone, Copy, Default)]
pub struct MessageFilter<'a> {
    /// Only this conversation's messages.
    pub conversation_id: Option<i64>,
    /// Only messages with this tag.
    pub tag: Option<&'a str>,
}

/// One page of a tenant's messages, oldest stored first.
///
/// # Errors
/// On database failure or unreadable stored JSON.
pub fn list(
    conn: &Connection,
    tenant: &str,
    filter: MessageFilter<'_>,
    page: PageRequest,
) -> Result<Page<Message>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT m.id, m.wamid, m.conversation_id, m.contact_id, m.direction, m.type, m.timestamp, m.text,
                m.content, m.status, m.classification, m.classifier, m.classify_error, m.created_at,
                m.context, m.raw, m.actions, m.responder, m.respond_error,
                m.status_at, m.errors, m.edited_at, m.revoked_at, m.original_text, m.original_content
         FROM messages m
         WHERE +m.tenant_id = ?1 AND m.id > ?2
           AND (?3 IS NULL OR m.conversation_id = ?3)
           AND (?4 IS NULL OR EXISTS (SELECT 1 FROM message_tags t WHERE t.message_id = m.id AND t.tag = ?4))
         ORDER BY m.id LIMIT ?5",
    )?;
    let json = |text: String| serde_json::from_str::<serde_json::Value>(&text);
    let optional_json = |text: Option<String>| text.map(|t| serde_json::from_str(&t)).transpose();
    let rows = stmt
        .query_map(
            params![
                tenant,
                page.after,
                filter.conversation_id,
                filter.tag,
                page.sql_limit()
            ],
            |r| {
                let strings = |i: usize| r.get::<_, String>(i);
                let optional = |i: usize| r.get::<_, Option<String>>(i);
                Ok((
                    Message {
                        id: r.get(0)?,
                        wamid: strings(1)?,
                        conversation_id: r.get(2)?,
                        contact_id: r.get(3)?,
                        direction: strings(4)?,
                        kind: strings(5)?,
                        timestamp: r.get(6)?,
                        text: optional(7)?,
                        content: serde_json::Value::Null,
                        context: serde_json::Value::Null,
                        raw: serde_json::Value::Null,
                        status: strings(9)?,
                        status_at: r.get(19)?,
                        errors: None,
                        edited_at: r.get(21)?,
                        revoked_at: r.get(22)?,
                        original: None,
                        revisions: Vec::new(),
                        statuses: Vec::new(),
                        tags: Vec::new(),
                        classification: None,
                        classifier: optional(11)?,
                        classify_error: optional(12)?,
                        actions: None,
                        responder: optional(17)?,
                        respond_error: optional(18)?,
                        created_at: r.get(13)?,
                    },
                    // The JSON columns, parsed outside the row callback.
                    [strings(8)?, strings(14)?, strings(15)?],
                    [optional(10)?, optional(16)?, optional(20)?],
                    (optional(23)?, optional(24)?),
                ))
            },
        )?
        .collect::<Result<Vec<_>, _>>()?;
    let items = rows
        .into_iter()
        .map(
            |(mut m, [content, context, raw], [classification, actions, errors], original)| {
                m.content = json(content)?;
                m.context = json(context)?;
                m.raw = json(raw)?;
                m.classification = optional_json(classification)?;
                m.actions = optional_json(actions)?;
                m.errors = optional_json(errors)?;
                if let (text, Some(content)) = original {
                    m.original = Some(OriginalVersion {
                        text,
                        content: json(content)?,
                    });
                }
                m.tags = tags_of(conn, m.id)?;
                if m.edited_at.is_some() || m.revoked_at.is_some() {
                    m.revisions = revisions_of(conn, tenant, &m.wamid)?;
                }
                if m.direction == "outbound" {
                    m.statuses = statuses_of(conn, tenant, &m.wamid)?;
                }
                Ok(m)
            },
        )
        .collect::<Result<Vec<_>, StoreError>>()?;
    Ok(Page::from_rows(items, page, |m| m.id))
}

/// Every recorded edit and revoke of a message, oldest first.
fn revisions_of(conn: &Connection, tenant: &str, wamid: &str) -> Result<Vec<Revision>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT wamid, action, type, text, content, timestamp FROM message_revisions
         WHERE tenant_id = ?1 AND target_wamid = ?2 ORDER BY timestamp, id",
    )?;
    let rows = stmt
        .query_map(params![tenant, wamid], |r| {
            Ok((
                Revision {
                    wamid: r.get(0)?,
                    action: r.get(1)?,
                    kind: r.get(2)?,
                    text: r.get(3)?,
                    content: None,
                    timestamp: r.get(5)?,
                },
                r.get::<_, Option<String>>(4)?,
            ))
        })?
        .collect::<Result<Vec<_>, _>>()?;
    rows.into_iter()
        .map(|(mut revision, content)| {
            revision.content = content.map(|c| serde_json::from_str(&c)).transpose()?;
            Ok(revision)
        })
        .collect()
}

/// Every recorded status of a message, oldest first.
fn statuses_of(
    conn: &Connection,
    tenant: &str,
    wamid: &str,
) -> Result<Vec<StatusEvent>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT status, timestamp, errors, pricing, conversation FROM message_statuses
         WHERE tenant_id = ?1 AND wamid = ?2 ORDER BY timestamp, id",
    )?;
    let rows = stmt
        .query_map(params![tenant, wamid], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, Option<String>>(2)?,
                r.get::<_, Option<String>>(3)?,
                r.get::<_, Option<String>>(4)?,
            ))
        })?
        .collect::<Result<Vec<_>, _>>()?;
    let parse = |text: Option<String>| text.map(|t| serde_json::from_str(&t)).transpose();
    rows.into_iter()
        .map(|(status, timestamp, errors, pricing, conversation)| {
            Ok(StatusEvent {
                status,
                timestamp,
                errors: parse(errors)?,
                pricing: parse(pricing)?,
                conversation: parse(conversation)?,
            })
        })
        .collect()
}

/// One page of a tenant's conversations, oldest first.
///
/// # Errors
/// On database failure.
pub fn conversations(
    conn: &Connection,
    tenant: &str,
    page: PageRequest,
) -> Result<Page<Conversation>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT c.id, c.contact_id, c.phone_number_id, c.created_at, c.last_message_at, c.last_inbound_at,
                (SELECT group_concat(tag, char(31)) FROM (SELECT DISTINCT t.tag FROM message_tags t
                   JOIN messages m ON m.id = t.message_id WHERE m.conversation_id = c.id ORDER BY t.tag))
         FROM conversations c WHERE c.tenant_id = ?1 AND c.id > ?2 ORDER BY c.id LIMIT ?3",
    )?;
    let rows = stmt
        .query_map(params![tenant, page.after, page.sql_limit()], |r| {
            let tags: Option<String> = r.get(6)?;
            Ok(Conversation {
                id: r.get(0)?,
                contact_id: r.get(1)?,
                phone_number_id: r.get(2)?,
                created_at: r.get(3)?,
                last_message_at: r.get(4)?,
                last_inbound_at: r.get(5)?,
                tags: tags
                    .map(|t| t.split('\u{1f}').map(str::to_string).collect())
                    .unwrap_or_default(),
            })
        })?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Page::from_rows(rows, page, |c| c.id))
}

/// How a message is named: the host's id or its WhatsApp id.
#[derive(Debug, Clone, Copy)]
pub enum MessageRef<'a> {
    /// The host's id.
    Id(i64),
    /// The WhatsApp id (`wamid…`).
    Wamid(&'a str),
}

/// The number that received an inbound message and its sender's WhatsApp id.
///
/// # Errors
/// On database failure.
pub fn inbound_origin(
    c: &Connection,
    tenant: &str,
    message: MessageRef<'_>,
) -> Result<Option<(String, Option<String>)>, StoreError> {
    const SQL: &str = "SELECT v.phone_number_id, k.wa_id FROM messages m
         JOIN conversations v ON v.id = m.conversation_id JOIN contacts k ON k.id = m.contact_id
         WHERE m.tenant_id = ?1 AND m.direction = 'inbound' AND ";
    let row = |r: &rusqlite::Row<'_>| Ok((r.get(0)?, r.get(1)?));
    Ok(match message {
        MessageRef::Id(id) => c
            .prepare_cached(&format!("{SQL}m.id = ?2"))?
            .query_row(params![tenant, id], row),
        MessageRef::Wamid(wamid) => c
            .prepare_cached(&format!("{SQL}m.wamid = ?2"))?
            .query_row(params![tenant, wamid], row),
    }
    .optional()?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Db, contacts, tenants};
    use serde_json::json;

    struct Fixture {
        _dir: tempfile::TempDir,
        db: Db,
        contact_id: i64,
    }

    fn fixture() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(&dir.path().join("t.db")).unwrap();
        let contact_id = db
            .write_blocking(|c| {
                crate::apps::insert(c, "app", "secret", "verify")?;
                tenants::insert(
                    c,
                    &tenants::NewTenant {
                        id: "acme".into(),
                        app_id: "app".into(),
                        phone_number_ids: vec!["100".into()],
                        default_region: "IT".into(),
                    },
                )?;
                let facts = contacts::ContactFacts {
                    wa_id: Some("391".into()),
                    user_id: None,
                    phone: None,
                    name: None,
                };
                Ok(contacts::upsert(c, "acme", &facts)?.id)
            })
            .unwrap();
        Fixture {
            _dir: dir,
            db,
            contact_id,
        }
    }

    impl Fixture {
        fn inbound(&self, wamid: &str, body: &str) -> Stored {
            let content = json!({"type": "text", "body": body});
            self.db
                .write_blocking(|c| {
                    insert_inbound(
                        c,
                        &NewInbound {
                            tenant: "acme",
                            contact_id: self.contact_id,
                            phone_number_id: "100",
                            wamid,
                            kind: "text",
                            timestamp: 1_000,
                            text: Some(body),
                            content: &content,
                            context: &json!({}),
                            raw: &json!({"id": wamid}),
                            errors: None,
                            inbox_id: 1,
                        },
                    )
                })
                .unwrap()
        }

        /// An outbound row as the outbox stores it (status `accepted`).
        fn outbound(&self, wamid: &str) {
            self.db
                .write_blocking(|c| {
                    let conversation: i64 = c.query_row(
                        "INSERT INTO conversations (tenant_id, contact_id, phone_number_id, created_at, last_message_at)
                         VALUES ('acme', ?1, '100', 0, 0)
                         ON CONFLICT (tenant_id, contact_id, phone_number_id) DO UPDATE SET created_at = 0
                         RETURNING id",
                        [self.contact_id],
                        |r| r.get(0),
                    )?;
                    c.execute(
                        "INSERT INTO messages (tenant_id, conversation_id, contact_id, wamid, direction, type, timestamp,
                                               text, content, context, raw, status, created_at)
                         VALUES ('acme', ?1, ?2, ?3, 'outbound', 'text', 0, 'hi', '{}', '{}', '{}', 'accepted', 0)",
                        params![conversation, self.contact_id, wamid],
                    )?;
                    Ok(())
                })
                .unwrap();
        }

        fn status(&self, wamid: &str, status: &str, at: i64) -> StatusOutcome {
            let errors = (status == "failed").then(|| json!([{"code": 131026}]));
            self.db
                .write_blocking(|c| {
                    record_status(
                        c,
                        &NewStatus {
                            tenant: "acme",
                            wamid,
                            status,
                            timestamp: at,
                            recipient_id: Some("391"),
                            errors: errors.as_ref(),
                            pricing: None,
                            conversation: None,
                            raw: &json!({"id": wamid, "status": status}),
                        },
                    )
                })
                .unwrap()
        }

        fn revision(
            &self,
            target: &str,
            wamid: &str,
            edit: Option<&str>,
            at: i64,
        ) -> RevisionOutcome {
            let content = edit.map(|text| json!({"type": "text", "body": text}));
            self.db
                .write_blocking(|c| {
                    record_revision(
                        c,
                        &NewRevision {
                            tenant: "acme",
                            target_wamid: target,
                            wamid,
                            action: if edit.is_some() {
                                RevisionAction::Edit
                            } else {
                                RevisionAction::Revoke
                            },
                            kind: edit.map(|_| "text"),
                            text: edit,
                            content: content.as_ref(),
                            raw: &json!({"id": wamid}),
                            timestamp: at,
                            inbox_id: 2,
                        },
                    )
                })
                .unwrap()
        }

        fn message(&self, wamid: &str) -> Message {
            self.db
                .read_blocking(|c| {
                    list(
                        c,
                        "acme",
                        MessageFilter::default(),
                        PageRequest::new(None, Some(500)),
                    )
                })
                .unwrap()
                .items
                .into_iter()
                .find(|m| m.wamid == wamid)
                .unwrap()
        }
    }

    /// Every order of `items`.
    fn permutations(items: &[&'static str]) -> Vec<Vec<&'static str>> {
        if items.len() <= 1 {
            return vec![items.to_vec()];
        }
        let mut out = Vec::new();
        for (i, first) in items.iter().enumerate() {
            let mut rest = items.to_vec();
            rest.remove(i);
            for mut tail in permutations(&rest) {
                tail.insert(0, first);
                out.push(tail);
            }
        }
        out
    }

    #[test]
    fn statuses_only_move_forward_whatever_order_they_arrive_in() {
        let f = fixture();
        for (n, order) in permutations(&["sent", "delivered", "read", "played"])
            .into_iter()
            .enumerate()
        {
            let wamid = format!("wamid.out{n}");
            f.outbound(&wamid);
            for status in &order {
                f.status(&wamid, status, 10);
            }
            let m = f.message(&wamid);
            assert_eq!(m.status, "played", "{order:?}");
            assert_eq!(m.statuses.len(), 4);
        }
    }

    #[test]
    fn failed_is_terminal_wherever_it_arrives() {
        let f = fixture();
        for (n, order) in permutations(&["sent", "delivered", "failed"])
            .into_iter()
            .enumerate()
        {
            let wamid = format!("wamid.fail{n}");
            f.outbound(&wamid);
            for status in &order {
                f.status(&wamid, status, 10);
            }
            let m = f.message(&wamid);
            assert_eq!(m.status, "failed", "{order:?}");
            assert_eq!(m.errors, Some(json!([{"code": 131026}])), "{order:?}");
        }
    }

    #[test]
    fn a_redelivered_or_older_status_changes_nothing() {
        let f = fixture();
        f.outbound("wamid.o");
        assert_eq!(
            f.status("wamid.o", "read", 30).message_status.as_deref(),
            Some("read")
        );
        let again = f.status("wamid.o", "read", 30);
        assert!(!again.inserted);
        let late = f.status("wamid.o", "delivered", 20);
        assert!(late.inserted, "the late event is still kept");
        assert_eq!(late.message_status.as_deref(), Some("read"));
        let m = f.message("wamid.o");
        assert_eq!(m.status_at, Some(30));
        // Statuses Meta may add later do not move a message.
        f.status("wamid.o", "deleted", 40);
        assert_eq!(f.message("wamid.o").status, "read");
    }

    #[test]
    fn a_status_recorded_before_its_message_applies_when_the_row_appears() {
        let f = fixture();
        let early = f.status("wamid.race", "delivered", 50);
        assert_eq!(early.message_status, None, "no row yet");
        let best =
            f.db.read_blocking(|c| best_status(c, "acme", "wamid.race"))
                .unwrap();
        assert_eq!(best.as_deref(), Some("delivered"));
        assert_eq!(
            f.db.read_blocking(|c| best_status(c, "acme", "wamid.none"))
                .unwrap(),
            None
        );
        f.outbound("wamid.race");
        assert_eq!(f.message("wamid.race").status, "accepted");
        let synced =
            f.db.write_blocking(|c| sync_status(c, "acme", "wamid.race"))
                .unwrap();
        assert_eq!(synced.as_deref(), Some("delivered"));
        let m = f.message("wamid.race");
        assert_eq!((m.status.as_str(), m.status_at), ("delivered", Some(50)));
    }

    #[test]
    fn statuses_never_touch_inbound_messages() {
        let f = fixture();
        f.inbound("wamid.in", "hola");
        assert_eq!(f.status("wamid.in", "read", 5).message_status, None);
        let m = f.message("wamid.in");
        assert_eq!(m.status, "received");
        assert!(m.statuses.is_empty());
    }

    #[test]
    fn an_edit_replaces_the_text_and_keeps_the_first_version() {
        let f = fixture();
        f.inbound("wamid.m", "helo");
        let outcome = f.revision("wamid.m", "wamid.e1", Some("hello"), 2_000);
        assert!(outcome.inserted && outcome.current && outcome.changed);
        assert!(outcome.message.unwrap().unclassified);
        let m = f.message("wamid.m");
        assert_eq!(m.text.as_deref(), Some("hello"));
        assert_eq!(m.content, json!({"type": "text", "body": "hello"}));
        assert_eq!(m.edited_at, Some(2_000));
        assert_eq!(
            m.original,
            Some(OriginalVersion {
                text: Some("helo".into()),
                content: json!({"type": "text", "body": "helo"}),
            })
        );
        // A second edit, then an older one arriving late: the newest one wins and the
        // first version stays the original.
        f.revision("wamid.m", "wamid.e3", Some("hello!!"), 4_000);
        let late = f.revision("wamid.m", "wamid.e2", Some("hello!"), 3_000);
        assert!(late.inserted && !late.current && !late.changed);
        let m = f.message("wamid.m");
        assert_eq!(m.text.as_deref(), Some("hello!!"));
        assert_eq!(m.original.unwrap().text.as_deref(), Some("helo"));
        let history: Vec<_> = m
            .revisions
            .iter()
            .map(|r| r.text.clone().unwrap())
            .collect();
        assert_eq!(history, ["hello", "hello!", "hello!!"]);
        // Redelivery changes nothing.
        let again = f.revision("wamid.m", "wamid.e3", Some("hello!!"), 4_000);
        assert!(!again.inserted && again.current && !again.changed);
    }

    #[test]
    fn a_revoke_marks_the_message_and_keeps_its_content() {
        let f = fixture();
        f.inbound("wamid.r", "secret plan");
        let outcome = f.revision("wamid.r", "wamid.rv", None, 9_000);
        assert!(outcome.inserted && !outcome.changed);
        let m = f.message("wamid.r");
        assert_eq!(m.revoked_at, Some(9_000));
        assert_eq!(m.text.as_deref(), Some("secret plan"));
        assert_eq!(m.revisions.len(), 1);
        assert_eq!(m.revisions[0].action, "revoke");
    }

    #[test]
    fn edits_and_revokes_recorded_before_the_message_apply_when_it_arrives() {
        let f = fixture();
        let early = f.revision("wamid.late", "wamid.e", Some("fixed"), 2_000);
        assert_eq!(early.message, None);
        f.revision("wamid.late", "wamid.rv", None, 3_000);
        let stored = f.inbound("wamid.late", "fxied");
        assert!(stored.inserted);
        assert_eq!(stored.edited_by, Some(json!({"id": "wamid.e"})));
        let m = f.message("wamid.late");
        assert_eq!(m.text.as_deref(), Some("fixed"));
        assert_eq!(m.original.unwrap().text.as_deref(), Some("fxied"));
        assert_eq!(m.revoked_at, Some(3_000));
    }

    #[test]
    fn a_caption_only_edit_replaces_the_stored_caption() {
        let content = json!({"type": "image", "id": "m1", "caption": "old"});
        assert_eq!(
            with_text(content, Some("new")),
            json!({"type": "image", "id": "m1", "caption": "new"})
        );
        assert_eq!(
            with_text(json!({"type": "text", "body": "a"}), Some("b")),
            json!({"type": "text", "body": "b"})
        );
    }
}
