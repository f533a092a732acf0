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
        Some(u) => find_known(conn, tenant, "user_id", u)?,
        None => None,
    };
    let existing = match (existing, &facts.wa_id) {
        (Some(c), _) => Some(c),
        (None, Some(w)) => find_known(conn, tenant, "wa_id", w)?,
        (None, None) => None,
    };
    Ok(upsert_known(conn, tenant, facts, existing)?.contact)
}

/// [`upsert`] for many senders of one tenant, in order, reading the contacts they
/// name with a few statements for all of them.
///
/// # Errors
/// On database failure.
pub(crate) fn upsert_many(
    conn: &Conn<'_>,
    tenant: &str,
    facts: &[ContactFacts],
) -> Result<Vec<Contact>, StoreError> {
    use std::collections::HashMap;
    let mut rows: Vec<Known> = Vec::new();
    for column in ["user_id", "wa_id"] {
        let mut values: Vec<&str> = facts
            .iter()
            .filter_map(|f| match column {
                "user_id" => f.user_id.as_deref(),
                _ => f.wa_id.as_deref(),
            })
            .collect();
        values.sort_unstable();
        values.dedup();
        for chunk in crate::bulk::chunks(values.len()) {
            let values = &values[chunk];
            let sql = format!(
                "SELECT {COLUMNS}, profile_name FROM contacts WHERE tenant_id = ?1 AND {column} IN ({})",
                crate::bulk::list(values.len(), 2)
            );
            let mut params: Vec<&dyn crate::sql::Param> = vec![&tenant];
            params.extend(values.iter().map(|v| v as &dyn crate::sql::Param));
            for known in conn.query(&sql, &params, known_from_row)? {
                if !rows.iter().any(|r| r.contact.id == known.contact.id) {
                    rows.push(known);
                }
            }
        }
    }
    let index = |rows: &[Known]| {
        let mut by_user = HashMap::new();
        let mut by_wa = HashMap::new();
        for (i, r) in rows.iter().enumerate() {
            if let Some(u) = &r.contact.user_id {
                by_user.insert(u.clone(), i);
            }
            if let Some(w) = &r.contact.wa_id {
                by_wa.insert(w.clone(), i);
            }
        }
        (by_user, by_wa)
    };
    let (mut by_user, mut by_wa) = index(&rows);
    let mut out = Vec::with_capacity(facts.len());
    for f in facts {
        let at = f
            .user_id
            .as_ref()
            .and_then(|u| by_user.get(u))
            .or_else(|| f.wa_id.as_ref().and_then(|w| by_wa.get(w)))
            .copied();
        let known = upsert_known(conn, tenant, f, at.map(|i| rows[i].clone()))?;
        out.push(known.contact.clone());
        match at {
            Some(i) if rows[i] == known => {}
            Some(i) => {
                rows[i] = known;
                (by_user, by_wa) = index(&rows);
            }
            None => {
                rows.push(known);
                (by_user, by_wa) = index(&rows);
            }
        }
    }
    Ok(out)
}

/// A stored contact and the WhatsApp profile name last seen for it.
#[derive(Debug, Clone, PartialEq)]
struct Known {
    contact: Contact,
    profile_name: Option<String>,
}

fn known_from_row(r: &Row<'_>) -> Result<Known, StoreError> {
    Ok(Known {
        contact: from_row(r)?,
        profile_name: r.get(8)?,
    })
}

fn find_known(
    conn: &Conn<'_>,
    tenant: &str,
    column: &str,
    value: &str,
) -> Result<Option<Known>, StoreError> {
    conn.query_opt(
        &format!(
            "SELECT {COLUMNS}, profile_name FROM contacts WHERE tenant_id = ?1 AND {column} = ?2"
        ),
        params![tenant, value],
        known_from_row,
    )
}

/// Fills what `facts` add into `existing` (writing it when it changed), or creates
/// the contact when there is none; the row as stored afterwards.
fn upsert_known(
    conn: &Conn<'_>,
    tenant: &str,
    facts: &ContactFacts,
    existing: Option<Known>,
) -> Result<Known, StoreError> {
    let now = now_ms();
    match existing {
        Some(Known {
            contact: c,
            profile_name: stored,
        }) => {
            // The name follows the WhatsApp profile name only when that changes, so a
            // name set in the CRM (see crate::sync) survives the customer's next message.
            let profile = facts.name.clone().filter(|n| !n.is_empty());
            let new_profile = match &profile {
                Some(p) if c.name.as_ref() != Some(p) => {
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
            if merged == c {
                return Ok(Known {
                    contact: c,
                    profile_name: stored,
                });
            }
            conn.execute(
                "UPDATE contacts SET wa_id = ?2, user_id = ?3, phone_e164 = ?4, name = ?5, updated_at = ?6,
                     profile_name = coalesce(?7, profile_name)
                 WHERE id = ?1",
                params![merged.id, merged.wa_id, merged.user_id, merged.phone, merged.name, now, new_profile],)?;
            Ok(Known {
                contact: Contact {
                    updated_at: now,
                    ..merged
                },
                profile_name: new_profile.or(stored),
            })
        }
        None => {
            let id = conn.query_one(
                "INSERT INTO contacts (tenant_id, wa_id, user_id, phone_e164, name, profile_name, created_at, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?5, ?6, ?6) RETURNING id",
                params![tenant, facts.wa_id, facts.user_id, facts.phone, facts.name, now],
                |r| r.get(0),
            )?;
            Ok(Known {
                contact: Contact {
                    id,
                    wa_id: facts.wa_id.clone(),
                    user_id: facts.user_id.clone(),
                    phone: facts.phone.clone(),
                    name: facts.name.clone(),
                    created_at: now,
                    updated_at: now,
                    merged_into: None,
                },
                profile_name: facts.name.clone(),
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
        /// `upsert` for many senders of one tenant, in order, reading the contacts they
        /// name with a few statements for all of them.
        fn upsert_many(tenant: &str, facts: &[ContactFacts]) -> Result<Vec<Contact>, StoreError>;
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
