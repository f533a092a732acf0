//! Conversations, messages, their tags and classification, and delivery statuses.

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
    /// Delivery status: `received` for inbound messages.
    pub status: String,
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
    /// The inbox row it came in.
    pub inbox_id: i64,
}

/// What storing an inbound message did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stored {
    /// The message's host id (new or existing).
    pub message_id: i64,
    /// The conversation's id.
    pub conversation_id: i64,
    /// False when the message was there already (a redelivery).
    pub inserted: bool,
    /// True when the message still needs classifying.
    pub unclassified: bool,
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
        return Ok(Stored {
            message_id: id,
            conversation_id: conv,
            inserted: false,
            unclassified: !classified,
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
                               text, content, context, raw, status, inbox_id, created_at)
         VALUES (?1, ?2, ?3, ?4, 'inbound', ?5, ?6, ?7, ?8, ?9, ?10, 'received', ?11, ?12)",
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
            now
        ],
    )?;
    Ok(Stored {
        message_id: conn.last_insert_rowid(),
        conversation_id,
        inserted: true,
        unclassified: true,
    })
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

/// Records a delivery status once per (wamid, status).
///
/// # Errors
/// On database failure.
pub fn record_status(
    conn: &Connection,
    tenant: &str,
    wamid: &str,
    status: &str,
    timestamp: i64,
    raw: &serde_json::Value,
) -> Result<bool, StoreError> {
    let n = conn.execute(
        "INSERT INTO message_statuses (tenant_id, wamid, status, timestamp, raw, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT DO NOTHING",
        params![tenant, wamid, status, timestamp, raw.to_string(), now_ms()],
    )?;
    Ok(n == 1)
}

fn tags_of(conn: &Connection, message_id: i64) -> rusqlite::Result<Vec<String>> {
    let mut stmt =
        conn.prepare_cached("SELECT tag FROM message_tags WHERE message_id = ?1 ORDER BY tag")?;
    stmt.query_map([message_id], |r| r.get(0))?.collect()
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
                m.context, m.raw, m.actions, m.responder, m.respond_error
         FROM messages m
         WHERE m.tenant_id = ?1 AND m.id > ?2
           AND (?3 IS NULL OR m.conversation_id = ?3)
           AND (?4 IS NULL OR EXISTS (SELECT 1 FROM message_tags t WHERE t.message_id = m.id AND t.tag = ?4))
         ORDER BY m.id LIMIT ?5",
    )?;
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
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, i64>(2)?,
                    r.get::<_, i64>(3)?,
                    r.get::<_, String>(4)?,
                    r.get::<_, String>(5)?,
                    r.get::<_, i64>(6)?,
                    r.get::<_, Option<String>>(7)?,
                    r.get::<_, String>(8)?,
                    r.get::<_, String>(9)?,
                    r.get::<_, Option<String>>(10)?,
                    r.get::<_, Option<String>>(11)?,
                    r.get::<_, Option<String>>(12)?,
                    r.get::<_, i64>(13)?,
                    r.get::<_, String>(14)?,
                    r.get::<_, String>(15)?,
                    r.get::<_, Option<String>>(16)?,
                    r.get::<_, Option<String>>(17)?,
                    r.get::<_, Option<String>>(18)?,
                ))
            },
        )?
        .collect::<Result<Vec<_>, _>>()?;
    let items = rows
        .into_iter()
        .map(|r| {
            Ok(Message {
                tags: tags_of(conn, r.0)?,
                id: r.0,
                wamid: r.1,
                conversation_id: r.2,
                contact_id: r.3,
                direction: r.4,
                kind: r.5,
                timestamp: r.6,
                text: r.7,
                content: serde_json::from_str(&r.8)?,
                context: serde_json::from_str(&r.14)?,
                raw: serde_json::from_str(&r.15)?,
                status: r.9,
                classification: r.10.map(|c| serde_json::from_str(&c)).transpose()?,
                classifier: r.11,
                classify_error: r.12,
                actions: r.16.map(|a| serde_json::from_str(&a)).transpose()?,
                responder: r.17,
                respond_error: r.18,
                created_at: r.13,
            })
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    Ok(Page::from_rows(items, page, |m| m.id))
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
