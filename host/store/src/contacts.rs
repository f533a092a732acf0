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

/// Finds the contact by user id, then by wa_id, then by phone number (a contact the
/// CRM created, whose WhatsApp id is unknown or written another way), and fills in
/// what it learned; creates it when none matches. Known values are only replaced by
/// new non-empty ones.
///
/// Another host may create the same contact at the same moment: the insert then
/// waits for it, finds the row taken, and the contact is looked up again.
///
/// # Errors
/// On database failure.
pub(crate) fn upsert(
    conn: &Conn<'_>,
    tenant: &str,
    facts: &ContactFacts,
) -> Result<Contact, StoreError> {
    let mut attempt = 0;
    loop {
        match upsert_once(conn, tenant, facts)? {
            Some(contact) => return Ok(contact),
            None if attempt < RACE_RETRIES => attempt += 1,
            None => return Err(raced(tenant)),
        }
    }
}

/// How often a batch of contacts is looked up again after another host created some
/// of them first. Once is enough unless that host keeps creating the same contacts.
const RACE_RETRIES: usize = 3;

/// Another host kept creating the same new contacts first (the batch is retried).
fn raced(tenant: &str) -> StoreError {
    StoreError::Conflict {
        what: "new contacts of tenant",
        id: tenant.to_string(),
    }
}

/// [`upsert`], or `None` when another transaction created the contact first.
fn upsert_once(
    conn: &Conn<'_>,
    tenant: &str,
    facts: &ContactFacts,
) -> Result<Option<Contact>, StoreError> {
    let existing = match &facts.user_id {
        Some(u) => find_known(conn, tenant, "user_id", u)?,
        None => None,
    };
    let existing = match (existing, &facts.wa_id) {
        (Some(c), _) => Some(c),
        (None, Some(w)) => find_known(conn, tenant, "wa_id", w)?,
        (None, None) => None,
    };
    let existing = match (existing, &facts.phone) {
        (Some(c), _) => Some(c),
        (None, Some(p)) => find_known(conn, tenant, "phone_e164", p)?
            .filter(|k| same_person_by_phone(&k.contact, facts)),
        (None, None) => None,
    };
    Ok(upsert_known(conn, tenant, facts, existing)?.map(|k| k.contact))
}

/// [`upsert`] for many senders of one tenant, in order, reading the contacts they
/// name with a few statements for all of them.
///
/// When another host created some of the new contacts first, the batch is looked
/// up again (the writes already made are idempotent: merging the same facts into a
/// row that has them changes nothing).
///
/// # Errors
/// On database failure.
pub(crate) fn upsert_many(
    conn: &Conn<'_>,
    tenant: &str,
    facts: &[ContactFacts],
) -> Result<Vec<Contact>, StoreError> {
    let mut attempt = 0;
    loop {
        match upsert_many_once(conn, tenant, facts)? {
            Some(contacts) => return Ok(contacts),
            None if attempt < RACE_RETRIES => attempt += 1,
            None => return Err(raced(tenant)),
        }
    }
}

/// [`upsert_many`], or `None` when another transaction created one of the new
/// contacts first.
fn upsert_many_once(
    conn: &Conn<'_>,
    tenant: &str,
    facts: &[ContactFacts],
) -> Result<Option<Vec<Contact>>, StoreError> {
    use std::collections::HashMap;
    let mut rows: Vec<Known> = Vec::new();
    for column in ["user_id", "wa_id", "phone_e164"] {
        let mut values: Vec<&str> = facts
            .iter()
            .filter_map(|f| match column {
                "user_id" => f.user_id.as_deref(),
                "wa_id" => f.wa_id.as_deref(),
                // Only for senders no id found: a contact the CRM created, whose
                // WhatsApp id is written differently (Mexico's 521, Brazil's ninth
                // digit) or not known yet.
                _ => f
                    .phone
                    .as_deref()
                    .filter(|_| !rows.iter().any(|r| same_ids(&r.contact, f))),
            })
            .collect();
        values.sort_unstable();
        values.dedup();
        for chunk in crate::bulk::chunks(values.len()) {
            let values = &values[chunk];
            let sql = match conn.dialect() {
                crate::Dialect::Sqlite => format!(
                    "SELECT {COLUMNS}, profile_name FROM contacts
                     WHERE tenant_id = ?1 AND {column} IN ({})",
                    crate::bulk::list(values.len(), 2)
                ),
                // One unique-index lookup per value: PostgreSQL plans an `IN` list
                // from the table's statistics, and a table that grew fast since its
                // last ANALYZE (every new install) gets a scan of the whole tenant.
                crate::Dialect::Postgres => format!(
                    "SELECT c.* FROM (VALUES {}) AS v CROSS JOIN LATERAL
                         (SELECT {COLUMNS}, profile_name FROM contacts
                          WHERE tenant_id = ?1 AND {column} = v.column1 ORDER BY id LIMIT 1) c",
                    crate::bulk::tuples(values.len(), 1, 2)
                ),
            };
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
    // Rows not in the database yet are inserted together at the end, as the batch
    // left them; `stored` tells which are.
    let mut stored = vec![true; rows.len()];
    let (mut by_user, mut by_wa) = index(&rows);
    // Per sender: its row, and the contact as that message left it.
    let mut out: Vec<(usize, Contact)> = Vec::with_capacity(facts.len());
    let now = now_ms();
    for f in facts {
        let at = f
            .user_id
            .as_ref()
            .and_then(|u| by_user.get(u))
            .or_else(|| f.wa_id.as_ref().and_then(|w| by_wa.get(w)))
            .copied()
            .or_else(|| {
                rows.iter()
                    .position(|r| same_person_by_phone(&r.contact, f))
            });
        let i = match at {
            Some(i) => {
                if let Some((merged, new_profile)) = merge(&rows[i], f, now) {
                    if stored[i] {
                        write_merged(conn, &merged.contact, new_profile.as_deref())?;
                    }
                    rows[i] = merged;
                    (by_user, by_wa) = index(&rows);
                }
                i
            }
            None => {
                rows.push(fresh(f, now));
                stored.push(false);
                (by_user, by_wa) = index(&rows);
                rows.len() - 1
            }
        };
        out.push((i, rows[i].contact.clone()));
    }
    let new: Vec<usize> = (0..rows.len()).filter(|&i| !stored[i]).collect();
    let ids = insert_fresh(conn, tenant, &rows, &new)?;
    if new.iter().any(|i| !ids.contains_key(i)) {
        return Ok(None);
    }
    Ok(Some(
        out.into_iter()
            .map(|(i, contact)| Contact {
                id: ids.get(&i).copied().unwrap_or(contact.id),
                ..contact
            })
            .collect(),
    ))
}

/// Inserts the contacts `new` (indexes into `rows`) many rows at a time: their ids,
/// by index. A contact another transaction created first (same wa_id or user id)
/// is skipped and has no id here.
fn insert_fresh(
    conn: &Conn<'_>,
    tenant: &str,
    rows: &[Known],
    new: &[usize],
) -> Result<std::collections::HashMap<usize, i64>, StoreError> {
    let mut ids = std::collections::HashMap::new();
    // A contact known by neither id cannot be matched back: one statement each.
    let (keyed, unkeyed): (Vec<usize>, Vec<usize>) = new
        .iter()
        .partition(|&&i| rows[i].contact.wa_id.is_some() || rows[i].contact.user_id.is_some());
    for i in unkeyed {
        let k = &rows[i];
        let id = conn.query_one(
            "INSERT INTO contacts (tenant_id, phone_e164, name, profile_name, created_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6) RETURNING id",
            params![tenant, k.contact.phone, k.contact.name, k.profile_name, k.contact.created_at, k.contact.updated_at],
            |r| r.get(0),
        )?;
        ids.insert(i, id);
    }
    for chunk in crate::bulk::chunks(keyed.len()) {
        let chunk = &keyed[chunk];
        let sql = format!(
            "INSERT INTO contacts (tenant_id, wa_id, user_id, phone_e164, name, profile_name, created_at, updated_at)
             VALUES {} ON CONFLICT DO NOTHING RETURNING id, wa_id, user_id",
            crate::bulk::tuples(chunk.len(), 8, 1)
        );
        let params: Vec<&dyn crate::sql::Param> = chunk
            .iter()
            .flat_map(|&i| {
                let k = &rows[i];
                [
                    &tenant as &dyn crate::sql::Param,
                    &k.contact.wa_id,
                    &k.contact.user_id,
                    &k.contact.phone,
                    &k.contact.name,
                    &k.profile_name,
                    &k.contact.created_at,
                    &k.contact.updated_at,
                ]
            })
            .collect();
        let returned = conn.query(&sql, &params, |r| {
            Ok((
                r.get::<i64>(0)?,
                r.get::<Option<String>>(1)?,
                r.get::<Option<String>>(2)?,
            ))
        })?;
        // Matched back by their keys (unique per tenant), not by the order rows
        // come back in.
        for (id, wa_id, user_id) in returned {
            if let Some(&i) = chunk
                .iter()
                .find(|&&i| rows[i].contact.wa_id == wa_id && rows[i].contact.user_id == user_id)
            {
                ids.insert(i, id);
            }
        }
    }
    Ok(ids)
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
            "SELECT {COLUMNS}, profile_name FROM contacts WHERE tenant_id = ?1 AND {column} = ?2
             ORDER BY id LIMIT 1"
        ),
        params![tenant, value],
        known_from_row,
    )
}

/// Fills what `facts` add into `existing` (writing it when it changed), or creates
/// the contact when there is none; the row as stored afterwards, or `None` when
/// another transaction created it first.
fn upsert_known(
    conn: &Conn<'_>,
    tenant: &str,
    facts: &ContactFacts,
    existing: Option<Known>,
) -> Result<Option<Known>, StoreError> {
    let now = now_ms();
    match existing {
        Some(known) => match merge(&known, facts, now) {
            Some((merged, new_profile)) => {
                write_merged(conn, &merged.contact, new_profile.as_deref())?;
                Ok(Some(merged))
            }
            None => Ok(Some(known)),
        },
        None => {
            let mut known = fresh(facts, now);
            let Some(id) = conn.query_opt(
                "INSERT INTO contacts (tenant_id, wa_id, user_id, phone_e164, name, profile_name, created_at, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?5, ?6, ?6) ON CONFLICT DO NOTHING RETURNING id",
                params![tenant, facts.wa_id, facts.user_id, facts.phone, facts.name, now],
                |r| r.get(0),
            )?
            else {
                return Ok(None);
            };
            known.contact.id = id;
            Ok(Some(known))
        }
    }
}

/// What `facts` change in `known`, if anything: the row afterwards and the new
/// profile name it took. Known values are only replaced by new non-empty ones; the
/// name follows the WhatsApp profile name only when that changes, so a name set in
/// the CRM (see crate::sync) survives the customer's next message.
fn merge(known: &Known, facts: &ContactFacts, now: i64) -> Option<(Known, Option<String>)> {
    let c = &known.contact;
    let profile = facts.name.clone().filter(|n| !n.is_empty());
    let new_profile = match &profile {
        Some(p) if c.name.as_ref() != Some(p) => {
            (known.profile_name.as_ref() != Some(p)).then(|| p.clone())
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
    if merged == *c {
        return None;
    }
    Some((
        Known {
            contact: Contact {
                updated_at: now,
                ..merged
            },
            profile_name: new_profile.clone().or(known.profile_name.clone()),
        },
        new_profile,
    ))
}

/// Whether `facts` name `c` by one of its ids.
fn same_ids(c: &Contact, facts: &ContactFacts) -> bool {
    (facts.user_id.is_some() && c.user_id == facts.user_id)
        || (facts.wa_id.is_some() && c.wa_id == facts.wa_id)
}

/// Whether `c`, found by its phone number, is the person `facts` describe: the same
/// E.164 number, no other user id, and a WhatsApp id that is missing or the same
/// number written another way ("5215512345678" for +52 55 1234 5678).
fn same_person_by_phone(c: &Contact, facts: &ContactFacts) -> bool {
    let ids_agree = |a: &Option<String>, b: &Option<String>| match (a, b) {
        (Some(a), Some(b)) => {
            scrm_wire::phone::canonical_digits(a) == scrm_wire::phone::canonical_digits(b)
        }
        _ => true,
    };
    c.merged_into.is_none()
        && facts.phone.is_some()
        && c.phone == facts.phone
        && match (&c.user_id, &facts.user_id) {
            (Some(a), Some(b)) => a == b,
            _ => true,
        }
        && ids_agree(&c.wa_id, &facts.wa_id)
}

/// A contact seen for the first time (its id is the database's to give).
fn fresh(facts: &ContactFacts, now: i64) -> Known {
    Known {
        contact: Contact {
            id: 0,
            wa_id: facts.wa_id.clone(),
            user_id: facts.user_id.clone(),
            phone: facts.phone.clone(),
            name: facts.name.clone(),
            created_at: now,
            updated_at: now,
            merged_into: None,
        },
        profile_name: facts.name.clone(),
    }
}

/// Writes a merged contact.
fn write_merged(conn: &Conn<'_>, c: &Contact, new_profile: Option<&str>) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE contacts SET wa_id = ?2, user_id = ?3, phone_e164 = ?4, name = ?5, updated_at = ?6,
             profile_name = coalesce(?7, profile_name)
         WHERE id = ?1",
        params![
            c.id,
            c.wa_id,
            c.user_id,
            c.phone,
            c.name,
            c.updated_at,
            new_profile
        ],
    )?;
    Ok(())
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
    if let Some(Known { contact: other, .. }) = find_known(conn, tenant, "wa_id", new_wa_id)? {
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
        /// Finds the contact by user id, then by wa_id, then by phone number (when the
        /// contact found has no other WhatsApp identity), and fills in what it learned;
        /// creates it when none matches. Known values are only replaced by new non-empty ones.
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
