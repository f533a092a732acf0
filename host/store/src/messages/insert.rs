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
    existing(conn, m)
}

/// The message of `m`'s wamid, stored already (a redelivery).
fn existing(conn: &Conn<'_>, m: &NewInbound<'_>) -> Result<Stored, StoreError> {
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

/// Reopens a resolved or snoozed conversation that a newly stored customer message
/// arrived in (a redelivered message is not stored again, so it reopens nothing).
fn reopen(conn: &Conn<'_>, conversation_id: i64) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE conversations SET state = 'open', snoozed_until = NULL, resolved_at = NULL
         WHERE id = ?1 AND state IN ('resolved', 'snoozed')",
        params![conversation_id],
    )?;
    Ok(())
}

/// [`reopen`] for many conversations, a few statements for all.
fn reopen_many(conn: &Conn<'_>, ids: &[i64]) -> Result<(), StoreError> {
    for chunk in crate::bulk::chunks(ids.len()) {
        let ids = &ids[chunk];
        let sql = format!(
            "UPDATE conversations SET state = 'open', snoozed_until = NULL, resolved_at = NULL
             WHERE state IN ('resolved', 'snoozed') AND id IN ({})",
            crate::bulk::tuples(ids.len(), 1, 1)
        );
        let params: Vec<&dyn crate::sql::Param> =
            ids.iter().map(|i| i as &dyn crate::sql::Param).collect();
        conn.execute(&sql, &params)?;
    }
    Ok(())
}

/// Inserts the message with its conversation; `None` when the tenant has it already.
fn insert_new(conn: &Conn<'_>, m: &NewInbound<'_>) -> Result<Option<Stored>, StoreError> {
    let now = now_ms();
    let conversation_id: i64 = conn.query_one(
        "INSERT INTO conversations (tenant_id, contact_id, phone_number_id, created_at, last_message_at,
                                    last_inbound_at, first_message_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?5, ?5)
         ON CONFLICT (tenant_id, contact_id, phone_number_id) DO UPDATE SET
             last_message_at = greatest(conversations.last_message_at, excluded.last_message_at),
             last_inbound_at = greatest(conversations.last_inbound_at, excluded.last_inbound_at),
             first_message_at = least(conversations.first_message_at, excluded.first_message_at)
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
    reopen(conn, conversation_id)?;
    record_purchases(conn, m, message_id)?;
    // Edits or revokes that arrived before the message itself apply now.
    let early: bool = conn.query_one(
        "SELECT EXISTS (SELECT 1 FROM message_revisions WHERE tenant_id = ?1 AND target_wamid = ?2)",
        params![m.tenant, m.wamid],
        |r| r.get(0),
    )?;
    Ok(Some(Stored {
        message_id,
        conversation_id,
        inserted: true,
        unclassified: true,
        edited_by: if early {
            apply_early_revisions(conn, m)?
        } else {
            None
        },
    }))
}

/// What the customer bought, by SKU, when `m` is an order: evidence for finding the
/// same person writing from another number (crate::sync).
fn record_purchases(
    conn: &Conn<'_>,
    m: &NewInbound<'_>,
    message_id: i64,
) -> Result<(), StoreError> {
    if m.kind == "order" {
        crate::orders::record_whatsapp(conn, m.tenant, m.contact_id, m.wamid, m.timestamp, m.raw)?;
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
    Ok(())
}

/// Applies the edits and revokes recorded before `m` itself arrived; the current
/// edit's notification, when one applies.
fn apply_early_revisions(
    conn: &Conn<'_>,
    m: &NewInbound<'_>,
) -> Result<Option<serde_json::Value>, StoreError> {
    match reconcile(conn, m.tenant, m.wamid)? {
        Some(r) if r.current_edit.is_some() => current_edit_raw(conn, m.tenant, m.wamid),
        _ => Ok(None),
    }
}

/// Stores many inbound messages, in order, as [`insert_inbound`] would one by one,
/// with a few statements for all of them: their conversations, the messages, and
/// the check for edits that arrived first.
///
/// # Errors
/// On database failure.
pub(crate) fn insert_inbound_many(
    conn: &Conn<'_>,
    ms: &[NewInbound<'_>],
) -> Result<Vec<Stored>, StoreError> {
    use std::collections::HashMap;
    let now = now_ms();
    let conversations = upsert_conversations(conn, ms, now)?;
    // The first occurrence of each wamid is inserted; a later one is a redelivery.
    let mut first: HashMap<(&str, &str), usize> = HashMap::new();
    let fresh: Vec<usize> = (0..ms.len())
        .filter(|&i| *first.entry((ms[i].tenant, ms[i].wamid)).or_insert(i) == i)
        .collect();
    let mut inserted: HashMap<(String, String), i64> = HashMap::new();
    for chunk in crate::bulk::chunks(fresh.len()) {
        let rows = &fresh[chunk];
        let sql = format!(
            "INSERT INTO messages (tenant_id, conversation_id, contact_id, wamid, direction, type, timestamp,
                                   text, content, context, raw, status, inbox_id, created_at, errors)
             VALUES {}
             ON CONFLICT (tenant_id, wamid) DO NOTHING
             RETURNING id, tenant_id, wamid",
            crate::bulk::tuples(rows.len(), 15, 1)
        );
        let values: Vec<[Box<dyn crate::sql::Param + '_>; 15]> = rows
            .iter()
            .map(|&i| {
                let m = &ms[i];
                let conversation = conversations[&(m.tenant, m.contact_id, m.phone_number_id)];
                [
                    Box::new(m.tenant) as Box<dyn crate::sql::Param>,
                    Box::new(conversation),
                    Box::new(m.contact_id),
                    Box::new(m.wamid),
                    Box::new("inbound"),
                    Box::new(m.kind),
                    Box::new(m.timestamp),
                    Box::new(m.text),
                    Box::new(m.content.to_string()),
                    Box::new(m.context.to_string()),
                    Box::new(m.raw.to_string()),
                    Box::new("received"),
                    Box::new(m.inbox_id),
                    Box::new(now),
                    Box::new(m.errors.map(serde_json::Value::to_string)),
                ]
            })
            .collect();
        let params: Vec<&dyn crate::sql::Param> = values
            .iter()
            .flat_map(|row| row.iter().map(|b| &**b as &dyn crate::sql::Param))
            .collect();
        for (id, tenant, wamid) in conn.query(&sql, &params, |r| {
            Ok((r.get::<i64>(0)?, r.get::<String>(1)?, r.get::<String>(2)?))
        })? {
            inserted.insert((tenant, wamid), id);
        }
    }
    let early = early_revisions(conn, ms, &fresh)?;
    let mut out = Vec::with_capacity(ms.len());
    let mut reopened = std::collections::BTreeSet::new();
    for (i, m) in ms.iter().enumerate() {
        let new_id = (first[&(m.tenant, m.wamid)] == i)
            .then(|| inserted.get(&(m.tenant.to_owned(), m.wamid.to_owned())))
            .flatten();
        let Some(&message_id) = new_id else {
            out.push(existing(conn, m)?);
            continue;
        };
        reopened.insert(conversations[&(m.tenant, m.contact_id, m.phone_number_id)]);
        record_purchases(conn, m, message_id)?;
        let edited_by = if early.contains(&(m.tenant, m.wamid)) {
            apply_early_revisions(conn, m)?
        } else {
            None
        };
        out.push(Stored {
            message_id,
            conversation_id: conversations[&(m.tenant, m.contact_id, m.phone_number_id)],
            inserted: true,
            unclassified: true,
            edited_by,
        });
    }
    reopen_many(conn, &reopened.into_iter().collect::<Vec<_>>())?;
    Ok(out)
}

/// The conversation of every message (created, or its timestamps moved forward):
/// `(tenant, contact, number)` → id.
fn upsert_conversations<'m>(
    conn: &Conn<'_>,
    ms: &[NewInbound<'m>],
    now: i64,
) -> Result<std::collections::HashMap<(&'m str, i64, &'m str), i64>, StoreError> {
    use std::collections::HashMap;
    // One row per conversation (a statement may not change a row twice), with its
    // newest and oldest message's time.
    type Key<'m> = (&'m str, i64, &'m str);
    let mut latest: Vec<(Key<'m>, i64, i64)> = Vec::new();
    let mut at: HashMap<Key<'m>, usize> = HashMap::new();
    for m in ms {
        let key = (m.tenant, m.contact_id, m.phone_number_id);
        match at.get(&key) {
            Some(&i) => {
                latest[i].1 = latest[i].1.max(m.timestamp);
                latest[i].2 = latest[i].2.min(m.timestamp);
            }
            None => {
                at.insert(key, latest.len());
                latest.push((key, m.timestamp, m.timestamp));
            }
        }
    }
    let mut ids = HashMap::new();
    for chunk in crate::bulk::chunks(latest.len()) {
        let rows = &latest[chunk];
        let sql = format!(
            "INSERT INTO conversations (tenant_id, contact_id, phone_number_id, created_at, last_message_at,
                                        last_inbound_at, first_message_at)
             VALUES {}
             ON CONFLICT (tenant_id, contact_id, phone_number_id) DO UPDATE SET
                 last_message_at = greatest(conversations.last_message_at, excluded.last_message_at),
                 last_inbound_at = greatest(conversations.last_inbound_at, excluded.last_inbound_at),
                 first_message_at = least(conversations.first_message_at, excluded.first_message_at)
             RETURNING id, contact_id, phone_number_id, tenant_id",
            crate::bulk::tuples(rows.len(), 7, 1)
        );
        let params: Vec<&dyn crate::sql::Param> = rows
            .iter()
            .flat_map(|((tenant, contact, number), ts, first)| {
                [
                    tenant as &dyn crate::sql::Param,
                    contact,
                    number,
                    &now,
                    ts,
                    ts,
                    first,
                ]
            })
            .collect();
        let returned = conn.query(&sql, &params, |r| {
            Ok((
                r.get::<i64>(0)?,
                r.get::<i64>(1)?,
                r.get::<String>(2)?,
                r.get::<String>(3)?,
            ))
        })?;
        for (id, contact, number, tenant) in returned {
            let key = rows
                .iter()
                .map(|(k, _, _)| *k)
                .find(|k| k.0 == tenant && k.1 == contact && k.2 == number)
                .ok_or(StoreError::NoRows)?;
            ids.insert(key, id);
        }
    }
    Ok(ids)
}

/// Which of the new messages `fresh` (indexes into `ms`) had an edit or revoke
/// recorded before they arrived: `(tenant, wamid)`.
fn early_revisions<'m>(
    conn: &Conn<'_>,
    ms: &[NewInbound<'m>],
    fresh: &[usize],
) -> Result<std::collections::HashSet<(&'m str, &'m str)>, StoreError> {
    let mut found = std::collections::HashSet::new();
    let mut tenants: Vec<&'m str> = fresh.iter().map(|&i| ms[i].tenant).collect();
    tenants.sort_unstable();
    tenants.dedup();
    for tenant in tenants {
        let wamids: Vec<&'m str> = fresh
            .iter()
            .map(|&i| &ms[i])
            .filter(|m| m.tenant == tenant)
            .map(|m| m.wamid)
            .collect();
        for chunk in crate::bulk::chunks(wamids.len()) {
            let wamids = &wamids[chunk];
            let sql = format!(
                "SELECT DISTINCT target_wamid FROM message_revisions
                 WHERE tenant_id = ?1 AND target_wamid IN ({})",
                crate::bulk::list(wamids.len(), 2)
            );
            let mut params: Vec<&dyn crate::sql::Param> = vec![&tenant];
            params.extend(wamids.iter().map(|w| w as &dyn crate::sql::Param));
            for hit in conn.query(&sql, &params, |r| r.get::<String>(0))? {
                if let Some(w) = wamids.iter().find(|w| **w == hit) {
                    found.insert((tenant, *w));
                }
            }
        }
    }
    Ok(found)
}
