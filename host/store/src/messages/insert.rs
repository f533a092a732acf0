//! Storing an inbound message once: its conversation, the purchases an order names,
//! and any edit or revoke that arrived before it.

use super::revisions::{current_edit_raw, reconcile};
use crate::params;
use crate::sql::Conn;
use crate::{StoreError, now_ms};

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
pub(crate) fn insert_inbound(conn: &Conn<'_>, m: &NewInbound<'_>) -> Result<Stored, StoreError> {
    // Most messages are new: insert first, and look the message up only when it is
    // there already (a redelivery).
    if let Some(stored) = insert_new(conn, m)? {
        return Ok(stored);
    }
    if let Some((id, conv, classified)) = conn
        .query_opt(
            "SELECT id, conversation_id, classified_at IS NOT NULL FROM messages WHERE tenant_id = ?1 AND wamid = ?2",
            params![m.tenant, m.wamid],
            |r| Ok((r.get::<i64>(0)?, r.get::<i64>(1)?, r.get::<bool>(2)?)),)?
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
    Err(StoreError::NotFound {
        what: "message just stored",
        id: m.wamid.to_string(),
    })
}

/// Inserts the message with its conversation; `None` when the tenant has it already.
fn insert_new(conn: &Conn<'_>, m: &NewInbound<'_>) -> Result<Option<Stored>, StoreError> {
    let now = now_ms();
    let conversation_id: i64 = conn.query_one(
        "INSERT INTO conversations (tenant_id, contact_id, phone_number_id, created_at, last_message_at, last_inbound_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?5)
         ON CONFLICT (tenant_id, contact_id, phone_number_id) DO UPDATE SET
             last_message_at = greatest(conversations.last_message_at, excluded.last_message_at),
             last_inbound_at = greatest(conversations.last_inbound_at, excluded.last_inbound_at)
         RETURNING id",
        params![m.tenant, m.contact_id, m.phone_number_id, now, m.timestamp],
        |r| r.get(0),)?;
    let Some(message_id) = conn.query_opt(
        "INSERT INTO messages (tenant_id, conversation_id, contact_id, wamid, direction, type, timestamp,
                               text, content, context, raw, status, inbox_id, created_at, errors)
         VALUES (?1, ?2, ?3, ?4, 'inbound', ?5, ?6, ?7, ?8, ?9, ?10, 'received', ?11, ?12, ?13)
         ON CONFLICT (tenant_id, wamid) DO NOTHING
         RETURNING id",
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
        |r| r.get::<i64>(0),
    )?
    else {
        return Ok(None);
    };
    if m.kind == "order" {
        // What the customer bought, by SKU: evidence for finding the same person
        // writing from another number (crate::sync).
        conn.execute(
            conn.pick(
                "INSERT OR IGNORE INTO contact_purchases (tenant_id, contact_id, sku, message_id, at)
                 SELECT ?1, ?2, json_extract(j.value, '$.product_retailer_id'), ?3, ?4
                 FROM json_each(?5, '$.order.product_items') j
                 WHERE json_extract(j.value, '$.product_retailer_id') IS NOT NULL",
                "INSERT INTO contact_purchases (tenant_id, contact_id, sku, message_id, at)
                 SELECT ?1, ?2, j.value ->> 'product_retailer_id', ?3, ?4
                 FROM jsonb_array_elements(?5::jsonb -> 'order' -> 'product_items') j
                 WHERE j.value ->> 'product_retailer_id' IS NOT NULL
                 ON CONFLICT DO NOTHING",
            ),
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
    let early: bool = conn.query_one(
        "SELECT EXISTS (SELECT 1 FROM message_revisions WHERE tenant_id = ?1 AND target_wamid = ?2)",
        params![m.tenant, m.wamid],
        |r| r.get(0),
    )?;
    let edited_by = match early
        .then(|| reconcile(conn, m.tenant, m.wamid))
        .transpose()?
    {
        Some(Some(r)) if r.current_edit.is_some() => current_edit_raw(conn, m.tenant, m.wamid)?,
        _ => None,
    };
    Ok(Some(Stored {
        message_id,
        conversation_id,
        inserted: true,
        unclassified: true,
        edited_by,
    }))
}
