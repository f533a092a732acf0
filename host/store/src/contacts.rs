//! Contacts: identified by the business-scoped user id when Meta sends one, else by
//! wa_id; the E.164 phone number is an attribute.

use super::page::{Page, PageRequest};
use super::{StoreError, now_ms};
use crate::params;
use crate::sql::{Conn, Row};
use serde::Serialize;

/// A contact as stored.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Contact {
    /// Host id.
    pub id: i64,
    /// WhatsApp id (digits), when known.
    pub wa_id: Option<String>,
    /// Business-scoped user id, when known.
    pub user_id: Option<String>,
    /// Phone number in E.164, when it could be normalised.
    pub phone: Option<String>,
    /// Profile name.
    pub name: Option<String>,
    /// First seen, Unix ms.
    pub created_at: i64,
    /// Last changed, Unix ms.
    pub updated_at: i64,
    /// Set when this contact was found to be the same person as another one and merged
    /// into it (see `crate::sync`): its conversations stay here, the CRM sees one
    /// contact.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub merged_into: Option<i64>,
}

/// What an inbound message tells us about its sender.
#[derive(Debug, Clone, Default)]
pub struct ContactFacts {
    /// WhatsApp id.
    pub wa_id: Option<String>,
    /// Business-scoped user id.
    pub user_id: Option<String>,
    /// E.164 phone.
    pub phone: Option<String>,
    /// Profile name.
    pub name: Option<String>,
}

const COLUMNS: &str = "id, wa_id, user_id, phone_e164, name, created_at, updated_at, merged_into";

fn from_row(r: &Row<'_>) -> Result<Contact, StoreError> {
    Ok(Contact {
        id: r.get(0)?,
        wa_id: r.get(1)?,
        user_id: r.get(2)?,
        phone: r.get(3)?,
        name: r.get(4)?,
        created_at: r.get(5)?,
        updated_at: r.get(6)?,
        merged_into: r.get(7)?,
    })
}

fn find(
    conn: &Conn<'_>,
    tenant: &str,
    column: &str,
    value: &str,
) -> Result<Option<Contact>, StoreError> {
    conn.query_opt(
        &format!("SELECT {COLUMNS} FROM contacts WHERE tenant_id = ?1 AND {column} = ?2"),
        params![tenant, value],
        from_row,
    )
}

/// Finds the contact by user id, then by wa_id, and fills in what it learned; creates
/// it when neither matches. Known values are only replaced by new non-empty ones.
///
/// # Errors
/// On database failure.
pub(crate) fn upsert(
    conn: &Conn<'_>,
    tenant: &str,
    facts: &ContactFacts,
) -> Result<Contact, StoreError> {
    let existing = match &facts.user_id {
        Some(u) => find(conn, tenant, "user_id", u)?,
        None => None,
    };
    let existing = match (existing, &facts.wa_id) {
        (Some(c), _) => Some(c),
        (None, Some(w)) => find(conn, tenant, "wa_id", w)?,
        (None, None) => None,
    };
    let now = now_ms();
    match existing {
        Some(c) => {
            // The name follows the WhatsApp profile name only when that changes, so a
            // name set in the CRM (see crate::sync) survives the customer's next message.
            let profile = facts.name.clone().filter(|n| !n.is_empty());
            let new_profile = match &profile {
                Some(p) if c.name.as_ref() != Some(p) => {
                    let stored: Option<String> = conn.query_one(
                        "SELECT profile_name FROM contacts WHERE id = ?1",
                        params![c.id],
                        |r| r.get(0),
                    )?;
                    (stored.as_ref() != Some(p)).then(|| p.clone())
                }
                _ => None,
            };
            let merged = Contact {
                wa_id: facts.wa_id.clone().or(c.wa_id.clone()),
                user_id: facts.user_id.clone().or(c.user_id.clone()),
                phone: facts.phone.clone().or(c.phone.clone()),
                name: new_profile.clone().or(c.name.clone()),
                ..c.clone()
            };
            if merged != c {
                conn.execute(
                    "UPDATE contacts SET wa_id = ?2, user_id = ?3, phone_e164 = ?4, name = ?5, updated_at = ?6,
                         profile_name = coalesce(?7, profile_name)
                     WHERE id = ?1",
                    params![merged.id, merged.wa_id, merged.user_id, merged.phone, merged.name, now, new_profile],)?;
                return Ok(Contact {
                    updated_at: now,
                    ..merged
                });
            }
            Ok(c)
        }
        None => {
            let id = conn.query_one(
                "INSERT INTO contacts (tenant_id, wa_id, user_id, phone_e164, name, profile_name, created_at, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?5, ?6, ?6) RETURNING id",
                params![tenant, facts.wa_id, facts.user_id, facts.phone, facts.name, now],
                |r| r.get(0),
            )?;
            Ok(Contact {
                id,
                wa_id: facts.wa_id.clone(),
                user_id: facts.user_id.clone(),
                phone: facts.phone.clone(),
                name: facts.name.clone(),
                created_at: now,
                updated_at: now,
                merged_into: None,
            })
        }
    }
}

/// Moves a contact to its new WhatsApp number (Meta's `user_changed_number` notice):
/// its wa_id and phone change, its conversations and messages stay, and its consent
/// follows it. Returns false, changing nothing, when another contact of the tenant
/// already has that number (merging two contacts is the sync engine's decision).
///
/// # Errors
/// On database failure.
pub(crate) fn change_number(
    conn: &Conn<'_>,
    tenant: &str,
    contact_id: i64,
    new_wa_id: &str,
) -> Result<bool, StoreError> {
    if let Some(other) = find(conn, tenant, "wa_id", new_wa_id)? {
        return Ok(other.id == contact_id);
    }
    let old: Option<String> = conn
        .query_opt(
            "SELECT wa_id FROM contacts WHERE id = ?1 AND tenant_id = ?2",
            params![contact_id, tenant],
            |r| r.get(0),
        )?
        .flatten();
    conn.execute(
        "UPDATE contacts SET wa_id = ?3, phone_e164 = ?4, updated_at = ?5 WHERE id = ?1 AND tenant_id = ?2",
        params![
            contact_id,
            tenant,
            new_wa_id,
            scrm_wire::phone::wa_id_to_e164(new_wa_id),
            now_ms()
        ],)?;
    if let Some(old) = old {
        let (old, new) = (
            scrm_wire::phone::canonical_digits(&old).into_owned(),
            scrm_wire::phone::canonical_digits(new_wa_id).into_owned(),
        );
        conn.execute(
            "INSERT INTO consent (tenant_id, wa_id, opted_in_at, opt_in_source, opted_out_at,
                 opt_out_source, marketing_stopped_at, marketing_paused_until, undeliverable_at, updated_at)
             SELECT tenant_id, ?3, opted_in_at, opt_in_source, opted_out_at, opt_out_source,
                    marketing_stopped_at, marketing_paused_until, NULL, ?4
             FROM consent WHERE tenant_id = ?1 AND wa_id = ?2
             ON CONFLICT DO NOTHING",
            params![tenant, old, new, now_ms()],)?;
    }
    Ok(true)
}

/// One page of a tenant's contacts, oldest first.
///
/// # Errors
/// On database failure.
pub(crate) fn list(
    conn: &Conn<'_>,
    tenant: &str,
    page: PageRequest,
) -> Result<Page<Contact>, StoreError> {
    let rows = conn.query(
        &format!(
            "SELECT {COLUMNS} FROM contacts WHERE tenant_id = ?1 AND id > ?2 ORDER BY id LIMIT ?3"
        ),
        params![tenant, page.after, page.sql_limit()],
        from_row,
    )?;
    Ok(Page::from_rows(rows, page, |c| c.id))
}

/// One contact of a tenant.
///
/// # Errors
/// On database failure.
pub(crate) fn get(conn: &Conn<'_>, tenant: &str, id: i64) -> Result<Option<Contact>, StoreError> {
    conn.query_opt(
        &format!("SELECT {COLUMNS} FROM contacts WHERE tenant_id = ?1 AND id = ?2"),
        params![tenant, id],
        from_row,
    )
}

/// The contact (not merged away or not) whose E.164 phone is `e164`.
///
/// # Errors
/// On database failure.
pub(crate) fn id_by_phone(
    c: &Conn<'_>,
    tenant: &str,
    e164: &str,
) -> Result<Option<i64>, StoreError> {
    c.query_opt(
        "SELECT id FROM contacts WHERE tenant_id = ?1 AND phone_e164 = ?2",
        params![tenant, e164],
        |r| r.get(0),
    )
}

crate::repo! {
    /// Contacts: identity, names, phones, merges.
    pub trait ContactRepo {
        /// Finds the contact by user id, then by wa_id, and fills in what it learned; creates
        /// it when neither matches. Known values are only replaced by new non-empty ones.
        fn upsert(tenant: &str, facts: &ContactFacts) -> Result<Contact, StoreError>;
        /// Moves a contact to its new WhatsApp number (Meta's `user_changed_number` notice):
        /// its wa_id and phone change, its conversations and messages stay, and its consent
        /// follows it. Returns false, changing nothing, when another contact of the tenant
        /// already has that number (merging two contacts is the sync engine's decision).
        fn change_number(tenant: &str, contact_id: i64, new_wa_id: &str) -> Result<bool, StoreError>;
        /// One page of a tenant's contacts, oldest first.
        fn list(tenant: &str, page: PageRequest) -> Result<Page<Contact>, StoreError>;
        /// One contact of a tenant.
        fn get(tenant: &str, id: i64) -> Result<Option<Contact>, StoreError>;
        /// The contact (not merged away or not) whose E.164 phone is `e164`.
        fn id_by_phone(tenant: &str, e164: &str) -> Result<Option<i64>, StoreError>;
    }
}
