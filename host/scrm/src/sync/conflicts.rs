//! Field-level last writer wins: host-side changes reconciled before a CRM write,
//! CRM changes applied to host contacts, echoes of the host's own writes ignored,
//! every overwrite of a differing value sent to the review queue.

use super::*;
use scrm_store::Store;

/// What last writer wins makes of a value arriving for a field against the one
/// held (the field's clock). The clock keeps the time its value was *set*: a later
/// write of the same value is not a change and does not move it, since CRMs give a
/// record's modification time, not a field's, and a record edited for another field
/// would otherwise make this one look newer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Merge {
    /// The same value: nothing to do.
    Same,
    /// The arriving value is newer (or none is held): it replaces the held one.
    Take,
    /// The held value is as new or newer: it stays (a tie keeps what is held, so
    /// an echo of the same moment changes nothing).
    Keep,
}

/// Last writer wins, per field: the rule both directions of the sync apply.
pub(super) fn merge(held: Option<&FieldClock>, value: &Value, at: i64) -> Merge {
    match held {
        None => Merge::Take,
        Some(k) if k.value == *value => Merge::Same,
        Some(k) if at > k.changed_at => Merge::Take,
        Some(_) => Merge::Keep,
    }
}

/// The host's current value of a clocked field.
pub(super) fn host_value(contact: &contacts::Contact, field: &str) -> Value {
    match field {
        "name" => json!(contact.name),
        "phone" => json!(contact.phone),
        _ => Value::Null,
    }
}

/// Brings the field clocks up to date with host-side changes (a new WhatsApp profile
/// name, a number change) before a write to the CRM. A host value that differs from
/// the agreed one wins when the contact changed after the agreed value was set;
/// otherwise the agreed (CRM) value is put back on the contact. Either way a differing
/// value that is overwritten goes to the review queue.
pub(super) fn reconcile_host_side(
    tx: &dyn Store,
    tenant: &str,
    mut contact: contacts::Contact,
) -> Result<contacts::Contact, StoreError> {
    let clocks: HashMap<String, FieldClock> = scrm_store::CrmRepo::fields(tx, tenant, contact.id)?
        .into_iter()
        .collect();
    for field in HOST_FIELDS {
        let host = host_value(&contact, field);
        if host.is_null() {
            continue;
        }
        let held = clocks.get(field);
        match (held, merge(held, &host, contact.updated_at)) {
            (_, Merge::Same) => {}
            (Some(agreed), Merge::Keep) => {
                scrm_store::CrmRepo::review_conflict(
                    tx,
                    tenant,
                    contact.id,
                    field,
                    (&agreed.value, &agreed.source, agreed.changed_at),
                    (&host, "whatsapp", contact.updated_at),
                    json!({"rule": "last writer wins"}),
                )?;
                if field == "name" {
                    scrm_store::CrmRepo::set_contact_name(tx, contact.id, agreed.value.as_str())?;
                    contact.name = agreed.value.as_str().map(str::to_owned);
                }
            }
            (held, _) => {
                if let Some(agreed) = held {
                    scrm_store::CrmRepo::review_conflict(
                        tx,
                        tenant,
                        contact.id,
                        field,
                        (&host, "whatsapp", contact.updated_at),
                        (&agreed.value, &agreed.source, agreed.changed_at),
                        json!({"rule": "last writer wins"}),
                    )?;
                }
                scrm_store::CrmRepo::set_field(
                    tx,
                    tenant,
                    contact.id,
                    field,
                    &FieldClock {
                        value: host,
                        changed_at: contact.updated_at,
                        source: "whatsapp".into(),
                    },
                )?;
            }
        }
    }
    Ok(contact)
}

/// The E.164 form of a CRM record's phone number, read in the record's `country`
/// field when the mapper gives one, else in the tenant's default region. A number
/// that cannot be normalised is listed with the reason (`phone_problems`), and the
/// record is applied without it; a usable one clears an earlier listing.
fn crm_phone(
    tx: &dyn Store,
    tenant: &str,
    crm_id: &str,
    changes: &scrm_engine::crm::ContactChanges,
    out: &mut Applied,
) -> Result<Option<String>, StoreError> {
    let Some(raw) = changes.phone.as_deref().filter(|p| !p.trim().is_empty()) else {
        return Ok(None);
    };
    let country = changes
        .fields
        .iter()
        .find(|(field, _)| field == "country")
        .and_then(|(_, v)| v.as_str())
        .filter(|c| !c.trim().is_empty());
    let region = scrm_store::TenantRepo::get(tx, tenant)?.map(|t| t.default_region);
    match scrm_wire::phone::crm_phone_to_e164(raw, country, region.as_deref()) {
        Ok(e164) => {
            scrm_store::CrmRepo::clear_phone_problem(tx, tenant, crm_id)?;
            Ok(Some(e164))
        }
        Err(problem) => {
            tracing::warn!(tenant, crm_id, phone = raw, reason = %problem, "CRM phone number not usable");
            scrm_store::CrmRepo::note_phone_problem(
                tx,
                tenant,
                &scrm_store::crm::PhoneProblem {
                    crm_id: crm_id.to_string(),
                    phone: raw.to_string(),
                    country: country.map(str::to_string),
                    reason: problem.to_string(),
                    seen_at: now_ms(),
                },
            )?;
            out.phone_problems += 1;
            Ok(None)
        }
    }
}

/// Applies one CRM record's changes to the host (inside the caller's transaction).
pub(super) fn apply_one(
    tx: &dyn Store,
    tenant: &str,
    crm_id: &str,
    updated_at: Option<i64>,
    changes: &scrm_engine::crm::ContactChanges,
) -> Result<Applied, StoreError> {
    let mut out = Applied {
        records: 0,
        ..Applied::default()
    };
    let at = updated_at.unwrap_or_else(now_ms);
    let mut echo = false;
    let phone = crm_phone(tx, tenant, crm_id, changes, &mut out)?;
    let contact_id = match scrm_store::CrmRepo::local_for(tx, tenant, "contact", crm_id)? {
        Some((id, link)) => {
            // The CRM's time of the host's own last write: an echo, unless a value
            // differs (a sales edit within the same tick of a coarse CRM clock).
            echo = updated_at.is_some() && link.crm_updated_at == updated_at;
            id
        }
        None => {
            // A CRM contact the host has not linked: match it by phone, or create it.
            let Some(phone) = phone.clone() else {
                tracing::info!(
                    tenant,
                    crm_id,
                    "CRM record without a known contact or a usable phone; skipped"
                );
                out.skipped += 1;
                return Ok(out);
            };
            let existing = scrm_store::ContactRepo::id_by_phone(tx, tenant, &phone)?;
            let id = match existing {
                Some(id) => id,
                None => {
                    let c = scrm_store::ContactRepo::upsert(
                        tx,
                        tenant,
                        &contacts::ContactFacts {
                            wa_id: Some(phone.trim_start_matches('+').to_string()),
                            user_id: None,
                            phone: Some(phone.clone()),
                            name: changes.name.clone(),
                        },
                    )?;
                    out.created += 1;
                    c.id
                }
            };
            scrm_store::CrmRepo::set_link(
                tx,
                tenant,
                "contact",
                id,
                &Link {
                    crm_id: crm_id.to_string(),
                    crm_updated_at: updated_at,
                    synced_at: 0,
                    record_hash: None,
                },
            )?;
            id
        }
    };
    let Some(contact) = scrm_store::ContactRepo::get(tx, tenant, contact_id)? else {
        out.skipped += 1;
        return Ok(out);
    };
    let clocks: HashMap<String, FieldClock> = scrm_store::CrmRepo::fields(tx, tenant, contact_id)?
        .into_iter()
        .collect();
    let mut incoming: Vec<(String, Value)> = Vec::new();
    if let Some(name) = &changes.name {
        incoming.push(("name".into(), json!(name)));
    }
    if let Some(p) = &phone {
        incoming.push(("phone".into(), json!(p)));
    }
    incoming.extend(changes.fields.iter().cloned());
    if echo
        && incoming
            .iter()
            .all(|(field, value)| match clocks.get(field) {
                Some(k) => k.value == *value,
                None => {
                    host_value(&contact, field) == *value || !HOST_FIELDS.contains(&field.as_str())
                }
            })
    {
        out.echoes += 1;
        return Ok(out);
    }
    for (field, value) in incoming {
        let current = match clocks.get(&field) {
            Some(k) => Some(k.clone()),
            None if HOST_FIELDS.contains(&field.as_str()) => {
                let v = host_value(&contact, &field);
                (!v.is_null()).then(|| FieldClock {
                    value: v,
                    changed_at: contact.updated_at,
                    source: "whatsapp".into(),
                })
            }
            None => None,
        };
        let incoming_clock = FieldClock {
            value: value.clone(),
            changed_at: at,
            source: "crm".into(),
        };
        match (merge(current.as_ref(), &value, at), current) {
            (Merge::Same, _) => {}
            (Merge::Take, Some(k)) => {
                scrm_store::CrmRepo::review_conflict(
                    tx,
                    tenant,
                    contact_id,
                    &field,
                    (&value, "crm", at),
                    (&k.value, &k.source, k.changed_at),
                    json!({"rule": "last writer wins", "crm_id": crm_id}),
                )?;
                out.conflicts += 1;
                scrm_store::CrmRepo::set_host_field(
                    tx,
                    tenant,
                    contact_id,
                    &field,
                    &incoming_clock,
                )?;
                field_changed(tx, tenant, contact_id, &field, Some(&k.value), &value)?;
                out.changed += 1;
            }
            (Merge::Keep, Some(k)) => {
                // The host's value is newer: keep it, record the refused value, and
                // write the host's value back to the CRM.
                scrm_store::CrmRepo::review_conflict(
                    tx,
                    tenant,
                    contact_id,
                    &field,
                    (&k.value, &k.source, k.changed_at),
                    (&value, "crm", at),
                    json!({"rule": "last writer wins", "crm_id": crm_id}),
                )?;
                out.conflicts += 1;
                scrm_store::CrmRepo::enqueue_contact(tx, tenant, contact_id)?;
            }
            (_, None) => {
                scrm_store::CrmRepo::set_host_field(
                    tx,
                    tenant,
                    contact_id,
                    &field,
                    &incoming_clock,
                )?;
                field_changed(tx, tenant, contact_id, &field, None, &value)?;
                out.changed += 1;
            }
        }
    }
    Ok(out)
}

/// Queues the flows' `field-changed` event for a field the CRM changed on the host.
fn field_changed(
    tx: &dyn Store,
    tenant: &str,
    contact_id: i64,
    field: &str,
    old: Option<&Value>,
    new: &Value,
) -> Result<(), StoreError> {
    crate::automation::emit(
        tx,
        tenant,
        "field-changed",
        contact_id,
        &json!({"name": field, "old": old, "new": new, "source": "crm"}),
        None,
    )?;
    Ok(())
}

#[cfg(test)]
mod props {
    use super::{FieldClock, Merge, merge};
    use proptest::prelude::*;
    use serde_json::json;

    /// Folds `writes` (value, time) in the order given, as the sync applies them.
    fn fold(writes: &[(u8, i64)]) -> Option<FieldClock> {
        let mut held: Option<FieldClock> = None;
        for &(v, at) in writes {
            let value = json!(v);
            let before = held.as_ref().map(|k| k.changed_at);
            if merge(held.as_ref(), &value, at) == Merge::Take {
                held = Some(FieldClock {
                    value,
                    changed_at: at,
                    source: "test".into(),
                });
            }
            // The held clock never goes back.
            let after = held.as_ref().map(|k| k.changed_at);
            assert!(after >= before, "{before:?} → {after:?}");
        }
        held
    }

    proptest! {
        #![proptest_config(ProptestConfig {
            cases: std::env::var("SCRM_PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(512),
            ..ProptestConfig::default()
        })]

        /// Whatever order different values arrive in, the one written last is held
        /// (at a tie, the first of them to arrive), and the held clock never goes
        /// back.
        #[test]
        fn the_last_writer_wins_in_any_order(
            times in prop::collection::vec(0i64..6, 1..12),
            order in any::<prop::sample::Index>(),
            seed in any::<u64>(),
        ) {
            // Each write its own value: the value is the write's index.
            let writes: Vec<(u8, i64)> = times.iter().enumerate().map(|(i, t)| (i as u8, *t)).collect();
            let mut shuffled = writes.clone();
            // A permutation from the inputs: rotate, then reverse a prefix.
            let k = order.index(shuffled.len());
            shuffled.rotate_left(k);
            let cut = (seed as usize) % (shuffled.len() + 1);
            shuffled[..cut].reverse();
            let latest = times.iter().copied().max().unwrap();
            for arrived in [&writes, &shuffled] {
                let held = fold(arrived).unwrap();
                let first_latest = arrived.iter().find(|w| w.1 == latest).unwrap();
                prop_assert_eq!(held.changed_at, latest);
                prop_assert_eq!(held.value, json!(first_latest.0), "arrived: {:?}", arrived);
            }
        }

        /// An echo — the value already held, at any time — changes nothing.
        #[test]
        fn an_echo_changes_nothing(v in 0u8..4, held_at in 0i64..100, at in 0i64..100) {
            let held = FieldClock { value: json!(v), changed_at: held_at, source: "crm".into() };
            prop_assert_eq!(merge(Some(&held), &json!(v), at), Merge::Same);
        }
    }
}
