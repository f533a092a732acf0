//! Outbound messages: what the outbox sent (stored when Meta accepts it) and what the
//! business sent from the WhatsApp Business app (echoes), both in the customer's
//! conversation, idempotent on the wamid.

use crate::StoreError;
use crate::contacts::ContactFacts;
use crate::params;
use crate::sql::Conn;
use serde_json::Value;

/// An outbound message to store.
#[derive(Debug, Clone)]
pub struct NewOutbound<'a> {
    /// The tenant.
    pub tenant: &'a str,
    /// The business number it went from.
    pub phone_number_id: &'a str,
    /// The customer it went to.
    pub to: &'a ContactFacts,
    /// Its WhatsApp message id.
    pub wamid: &'a str,
    /// The WhatsApp `type`.
    pub kind: &'a str,
    /// When it was sent, Unix ms.
    pub at: i64,
    /// Its text (a text's body, a caption, a template's name), for search and lists.
    pub text: Option<&'a str>,
    /// Its content (`{"type": kind, kind: …}`).
    pub content: &'a Value,
    /// What it answers (`context`), `{}` for nothing.
    pub context: &'a Value,
    /// The message as sent or echoed.
    pub raw: &'a str,
    /// `accepted` for a send Meta took, `sent` for an echo.
    pub status: &'a str,
    /// Who sent it: the outbox item's source (`api`, `crm`, a flow, …) or
    /// `business_app`.
    pub sender: &'a str,
}

/// Where an outbound message was stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordedOutbound {
    /// The message's id.
    pub id: i64,
    /// Its contact.
    pub contact_id: i64,
    /// Its conversation.
    pub conversation_id: i64,
    /// False when the wamid was stored before (a retried answer or a redelivered echo).
    pub new: bool,
}

/// The customer's contact: the one with its WhatsApp id, else created (or matched)
/// from `facts`.
pub(crate) fn contact_for(
    conn: &Conn<'_>,
    tenant: &str,
    facts: &ContactFacts,
) -> Result<i64, StoreError> {
    if let Some(wa_id) = &facts.wa_id {
        let known: Option<i64> = conn.query_opt(
            "SELECT id FROM contacts WHERE tenant_id = ?1 AND wa_id = ?2",
            params![tenant, wa_id],
            |r| r.get(0),
        )?;
        if let Some(id) = known {
            return Ok(id);
        }
    }
    Ok(crate::contacts::upsert(conn, tenant, facts)?.id)
}

/// The contact's conversation on the number (created when new), its last activity
/// moved to `at` when later.
pub(crate) fn conversation_for(
    conn: &Conn<'_>,
    tenant: &str,
    contact_id: i64,
    phone_number_id: &str,
    at: i64,
) -> Result<i64, StoreError> {
    conn.query_one(
        "INSERT INTO conversations (tenant_id, contact_id, phone_number_id, created_at, last_message_at,
                                    first_message_at)
         VALUES (?1, ?2, ?3, ?4, ?4, ?4)
         ON CONFLICT (tenant_id, contact_id, phone_number_id) DO UPDATE SET
             last_message_at = greatest(conversations.last_message_at, excluded.last_message_at),
             first_message_at = least(conversations.first_message_at, excluded.first_message_at)
         RETURNING id",
        params![tenant, contact_id, phone_number_id, at],
        |r| r.get(0),
    )
}

/// Stores an outbound message in its conversation (creating the contact and the
/// conversation when new), once per wamid; a status recorded before it is applied.
pub(crate) fn insert_outbound(
    conn: &Conn<'_>,
    m: &NewOutbound<'_>,
) -> Result<RecordedOutbound, StoreError> {
    let contact_id = contact_for(conn, m.tenant, m.to)?;
    let conversation_id = conversation_for(conn, m.tenant, contact_id, m.phone_number_id, m.at)?;
    let inserted: Option<i64> = conn.query_opt(
        "INSERT INTO messages (tenant_id, conversation_id, contact_id, wamid, direction, type, timestamp,
                               text, content, context, raw, status, created_at, sender)
         VALUES (?1, ?2, ?3, ?4, 'outbound', ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?6, ?12)
         ON CONFLICT (tenant_id, wamid) DO NOTHING
         RETURNING id",
        params![
            m.tenant,
            conversation_id,
            contact_id,
            m.wamid,
            m.kind,
            m.at,
            m.text,
            m.content.to_string(),
            m.context.to_string(),
            m.raw,
            m.status,
            m.sender,
        ],
        |r| r.get(0),
    )?;
    let (id, new) = match inserted {
        Some(id) => (id, true),
        None => (
            conn.query_one(
                "SELECT id FROM messages WHERE tenant_id = ?1 AND wamid = ?2",
                params![m.tenant, m.wamid],
                |r| r.get(0),
            )?,
            false,
        ),
    };
    // A status webhook may have beaten the message here.
    super::sync_status(conn, m.tenant, m.wamid)?;
    Ok(RecordedOutbound {
        id,
        contact_id,
        conversation_id,
        new,
    })
}

/// Stores a message the business sent from the WhatsApp Business app (an echo) as
/// an outbound message, `sent`, from `business_app`; a new one goes to the CRM like
/// any other message of the chat history.
pub(crate) fn record_echo(
    conn: &Conn<'_>,
    m: &NewOutbound<'_>,
) -> Result<RecordedOutbound, StoreError> {
    let recorded = insert_outbound(conn, m)?;
    if recorded.new {
        crate::crm::enqueue_if_syncing(conn, m.tenant, recorded.contact_id, recorded.id)?;
    }
    Ok(recorded)
}
