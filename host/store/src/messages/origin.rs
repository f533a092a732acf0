//! Where an inbound message came from: the business number that received it and the
//! sender's WhatsApp id, for answering it.

use crate::StoreError;
use rusqlite::{Connection, OptionalExtension, params};

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
pub(crate) fn inbound_origin(
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
