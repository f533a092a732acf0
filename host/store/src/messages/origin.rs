//! Where an inbound message came from: the business number that received it and the
//! sender's WhatsApp id, for answering it.

use crate::StoreError;
use crate::params;
use crate::sql::{Conn, Row};

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
    c: &Conn<'_>,
    tenant: &str,
    message: MessageRef<'_>,
) -> Result<Option<(String, Option<String>)>, StoreError> {
    const SQL: &str = "SELECT v.phone_number_id, k.wa_id FROM messages m
         JOIN conversations v ON v.id = m.conversation_id JOIN contacts k ON k.id = m.contact_id
         WHERE m.tenant_id = ?1 AND m.direction = 'inbound' AND ";
    let row = |r: &Row<'_>| Ok((r.get(0)?, r.get(1)?));
    match message {
        MessageRef::Id(id) => c.query_opt(&format!("{SQL}m.id = ?2"), params![tenant, id], row),
        MessageRef::Wamid(wamid) => {
            c.query_opt(&format!("{SQL}m.wamid = ?2"), params![tenant, wamid], row)
        }
    }
}
