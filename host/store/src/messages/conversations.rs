//! Conversations as the inbox serves them: one contact with one business number,
//! its message timestamps and the tags of its messages.

use crate::StoreError;
use crate::page::{Page, PageRequest};
use crate::params;
use crate::sql::Conn;
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

/// One page of a tenant's conversations, oldest first.
///
/// # Errors
/// On database failure.
pub(crate) fn conversations(
    conn: &Conn<'_>,
    tenant: &str,
    page: PageRequest,
) -> Result<Page<Conversation>, StoreError> {
    let sql = conn.pick(
        "SELECT c.id, c.contact_id, c.phone_number_id, c.created_at, c.last_message_at, c.last_inbound_at,
                (SELECT group_concat(tag, char(31)) FROM (SELECT DISTINCT t.tag FROM message_tags t
                   JOIN messages m ON m.id = t.message_id WHERE m.conversation_id = c.id ORDER BY t.tag))
         FROM conversations c WHERE c.tenant_id = ?1 AND c.id > ?2 ORDER BY c.id LIMIT ?3",
        "SELECT c.id, c.contact_id, c.phone_number_id, c.created_at, c.last_message_at, c.last_inbound_at,
                (SELECT string_agg(d.tag, chr(31) ORDER BY d.tag) FROM (SELECT DISTINCT t.tag FROM message_tags t
                   JOIN messages m ON m.id = t.message_id WHERE m.conversation_id = c.id) d)
         FROM conversations c WHERE c.tenant_id = ?1 AND c.id > ?2 ORDER BY c.id LIMIT ?3",
    );
    let rows = conn.query(sql, params![tenant, page.after, page.sql_limit()], |r| {
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
    })?;
    Ok(Page::from_rows(rows, page, |c| c.id))
}
