//! Conversations as the CRM sync sees them: the business number, the newest
//! activity and every tag any of its messages carries.

use crate::StoreError;
use crate::params;
use crate::sql::Conn;

/// One conversation's facts for a deal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    /// Host id.
    pub id: i64,
    /// The business number.
    pub phone_number_id: String,
    /// Newest message, Unix ms.
    pub last_message_at: i64,
    /// Newest inbound message, Unix ms.
    pub last_inbound_at: Option<i64>,
    /// Every tag of its messages, sorted.
    pub tags: Vec<String>,
}

/// The facts of conversation `conversation_id`.
///
/// # Errors
/// On database failure, or when it does not exist.
pub(crate) fn summary(
    c: &Conn<'_>,
    tenant: &str,
    conversation_id: i64,
) -> Result<Summary, StoreError> {
    let (phone_number_id, last_message_at, last_inbound_at) = c.query_one(
        "SELECT phone_number_id, last_message_at, last_inbound_at FROM conversations
         WHERE tenant_id = ?1 AND id = ?2",
        params![tenant, conversation_id],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
    )?;

    let tags = c.query(
        "SELECT DISTINCT t.tag FROM message_tags t JOIN messages m ON m.id = t.message_id
         WHERE m.conversation_id = ?1 ORDER BY t.tag",
        params![conversation_id],
        |r| r.get::<String>(0),
    )?;
    Ok(Summary {
        id: conversation_id,
        phone_number_id,
        last_message_at,
        last_inbound_at,
        tags,
    })
}

/// The newest conversation of contact `contact_id` (by its newest message), if any.
///
/// # Errors
/// On database failure.
pub(crate) fn latest_of(
    c: &Conn<'_>,
    tenant: &str,
    contact_id: i64,
) -> Result<Option<Summary>, StoreError> {
    let id = c.query_opt(
        "SELECT id FROM conversations WHERE tenant_id = ?1 AND contact_id = ?2
         ORDER BY last_message_at DESC, id DESC LIMIT 1",
        params![tenant, contact_id],
        |r| r.get::<i64>(0),
    )?;
    id.map(|id| summary(c, tenant, id)).transpose()
}

crate::repo! {
    /// Conversations as the CRM sync sees them.
    pub trait ConversationRepo {
        /// The newest conversation of a contact, if any.
        fn latest_of(tenant: &str, contact_id: i64) -> Result<Option<Summary>, StoreError>;
        /// The facts of conversation `conversation_id`.
        fn summary(tenant: &str, conversation_id: i64) -> Result<Summary, StoreError>;
    }
}
