//! Reading messages back: [`Message`] as served, with its tags, revisions and
//! statuses, one at a time ([`get`]) or a page at a time ([`list`]).

use super::revisions::revisions_of;
use super::statuses::statuses_of;
use super::{Revision, StatusEvent};
use crate::StoreError;
use crate::page::{Page, PageRequest};
use crate::params;
use crate::sql::Conn;
use serde::Serialize;

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
    /// For an outbound message: what sent it (`api`, `cli`, `responder`, `crm`,
    /// `flow:NAME@VERSION` for an automation, or `business_app` for a message sent from
    /// the WhatsApp Business app).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
}

/// A message's first version, kept when it is edited.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct OriginalVersion {
    /// Its text.
    pub text: Option<String>,
    /// Its parsed content.
    pub content: serde_json::Value,
}

fn tags_of(conn: &Conn<'_>, message_id: i64) -> Result<Vec<String>, StoreError> {
    conn.query(
        "SELECT tag FROM message_tags WHERE message_id = ?1 ORDER BY tag",
        params![message_id],
        |r| r.get(0),
    )
}

/// One message of a tenant, with everything [`list`] returns.
///
/// # Errors
/// On database failure or unreadable stored JSON.
pub(crate) fn get(conn: &Conn<'_>, tenant: &str, id: i64) -> Result<Option<Message>, StoreError> {
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

/// Where to start reading a conversation to get its newest `keep` messages: the
/// `after` id for [`list`] (0 when it holds no more than `keep`).
///
/// # Errors
/// On database failure.
pub(crate) fn newest_start(
    conn: &Conn<'_>,
    tenant: &str,
    conversation_id: i64,
    keep: u32,
) -> Result<i64, StoreError> {
    let found = conn.query(
        "SELECT id FROM messages WHERE conversation_id = ?1 AND tenant_id = ?2
         ORDER BY id DESC LIMIT 1 OFFSET ?3",
        params![conversation_id, tenant, i64::from(keep)],
        |r| r.get::<i64>(0),
    )?;
    Ok(found.first().copied().unwrap_or(0))
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
pub(crate) fn list(
    conn: &Conn<'_>,
    tenant: &str,
    filter: MessageFilter<'_>,
    page: PageRequest,
) -> Result<Page<Message>, StoreError> {
    let json = |text: String| serde_json::from_str::<serde_json::Value>(&text);
    let optional_json = |text: Option<String>| text.map(|t| serde_json::from_str(&t)).transpose();
    // SQLite: the unary `+` keeps the planner on the primary key (walking ids in
    // order) rather than the tenant index, which would sort all of the tenant's
    // messages first. PostgreSQL chooses well on its own.
    let tenant_column = conn.pick("+m.tenant_id", "m.tenant_id");
    let sql = format!("SELECT m.id, m.wamid, m.conversation_id, m.contact_id, m.direction, m.type, m.timestamp, m.text,
                m.content, m.status, m.classification, m.classifier, m.classify_error, m.created_at,
                m.context, m.raw, m.actions, m.responder, m.respond_error,
                m.status_at, m.errors, m.edited_at, m.revoked_at, m.original_text, m.original_content,
                CASE WHEN m.direction = 'outbound' THEN
                    m.sender
                END
         FROM messages m
         WHERE {tenant_column} = ?1 AND m.id > ?2
           AND (?3 IS NULL OR m.conversation_id = ?3)
           AND (?4 IS NULL OR EXISTS (SELECT 1 FROM message_tags t WHERE t.message_id = m.id AND t.tag = ?4))
         ORDER BY m.id LIMIT ?5");
    let rows = conn.query(
        &sql,
        params![
            tenant,
            page.after,
            filter.conversation_id,
            filter.tag,
            page.sql_limit()
        ],
        |r| {
            let strings = |i: usize| r.get::<String>(i);
            let optional = |i: usize| r.get::<Option<String>>(i);
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
                    source: optional(25)?,
                },
                // The JSON columns, parsed outside the row callback.
                [strings(8)?, strings(14)?, strings(15)?],
                [optional(10)?, optional(16)?, optional(20)?],
                (optional(23)?, optional(24)?),
            ))
        },
    )?;
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

#[cfg(test)]
mod tests {
    use super::super::fixture::fixtures;
    use super::*;

    #[test]
    fn a_conversation_is_read_from_its_newest_messages() {
        for f in fixtures() {
            let ids: Vec<i64> = (0..5)
                .map(|i| f.inbound(&format!("wamid.{i}"), "ciao").message_id)
                .collect();
            let conversation = f.inbound("wamid.0", "ciao").conversation_id;
            let (start, all) =
                f.db.with_conn(|c| {
                    let filter = MessageFilter {
                        conversation_id: Some(conversation),
                        tag: None,
                    };
                    let start = newest_start(c, "acme", conversation, 2)?;
                    let newest = list(
                        c,
                        "acme",
                        filter,
                        PageRequest {
                            after: start,
                            limit: 2,
                        },
                    )?;
                    Ok((
                        start,
                        (
                            newest.items.iter().map(|m| m.id).collect::<Vec<_>>(),
                            newest.next_after,
                        ),
                    ))
                })
                .unwrap();
            assert_eq!(start, ids[2], "{}", f.backend);
            assert_eq!(all, (ids[3..].to_vec(), None), "{}", f.backend);
            let whole =
                f.db.with_conn(|c| newest_start(c, "acme", conversation, 200))
                    .unwrap();
            assert_eq!(whole, 0, "{}", f.backend);
            let elsewhere =
                f.db.with_conn(|c| newest_start(c, "other", conversation, 2))
                    .unwrap();
            assert_eq!(elsewhere, 0, "another tenant sees nothing: {}", f.backend);
        }
    }
}
