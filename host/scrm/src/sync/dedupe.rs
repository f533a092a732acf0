//! Duplicate contacts: the same person on two numbers, found by a similar name and
//! the same SKU bought within 90 days; merged at once above the tenant's confidence,
//! else proposed for review.

use super::*;
use scrm_store::Store;

/// A name for comparison: lowercase letters and digits, single spaces.
pub(super) fn comparable_name(name: &str) -> String {
    name.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect::<Vec<_>>()
        .join(" ")
}

/// After an order message (its SKUs are recorded when it is stored), looks for the
/// same person writing from another number: a contact who bought one of the same SKUs within 90 days and
/// whose name is at least [`MIN_NAME_SIMILARITY`] alike (normalised Levenshtein).
/// At or above the tenant's `merge_confidence` the two are merged at once (the
/// older contact absorbs the newer one; its id is returned); below it the pair is
/// proposed in the review queue, once.
pub(super) fn record_purchases_and_find_duplicates(
    tx: &dyn Store,
    tenant: &str,
    message: &messages::Message,
) -> Result<Option<i64>, StoreError> {
    let Some(me) = scrm_store::ContactRepo::get(tx, tenant, message.contact_id)? else {
        return Ok(None);
    };
    let Some(my_name) = me
        .name
        .as_deref()
        .map(comparable_name)
        .filter(|n| !n.is_empty())
    else {
        return Ok(None);
    };
    let candidates = scrm_store::CrmRepo::same_sku_contacts(tx, tenant, me.id, SAME_SKU_WINDOW_MS)?;
    let settings = scrm_store::CrmRepo::settings(tx, tenant)?;
    let mut by_contact: std::collections::BTreeMap<i64, (Option<String>, Vec<String>)> =
        std::collections::BTreeMap::new();
    for (id, name, sku) in candidates {
        by_contact
            .entry(id)
            .or_insert((name, Vec::new()))
            .1
            .push(sku);
    }
    for (other, (name, shared)) in by_contact {
        let Some(other_name) = name.as_deref().map(comparable_name) else {
            continue;
        };
        let similarity = strsim::normalized_levenshtein(&my_name, &other_name);
        if similarity < MIN_NAME_SIMILARITY {
            continue;
        }
        let (keep, absorb) = (me.id.min(other), me.id.max(other));
        if scrm_store::CrmRepo::duplicate_proposed(tx, tenant, keep, absorb)? {
            continue;
        }
        let automatic = similarity >= settings.merge_confidence;
        let detail = json!({
            "other_contact_id": absorb,
            "similarity": (similarity * 1000.0).round() / 1000.0,
            "shared_skus": shared,
            "names": [me.name, name],
            "rule": "name similarity ≥ 0.8 and the same SKU within 90 days",
        });
        let review = scrm_store::CrmRepo::add_review(
            tx,
            tenant,
            &NewReview {
                kind: "duplicate",
                contact_id: keep,
                field: None,
                kept: None,
                lost: None,
                detail,
            },
        )?;
        if automatic {
            merge_contacts(tx, tenant, keep, absorb)?;
            scrm_store::CrmRepo::resolve_review(tx, review, "accepted")?;
            return Ok(Some(keep));
        }
    }
    Ok(None)
}

/// Merges contact `absorb` into `keep`: both keep every conversation and message (a
/// conversation is one customer number with one business number, so they stay
/// where they are), `absorb` points at `keep`, later CRM writes for `absorb`'s
/// messages go to `keep`'s CRM record, and `keep` is written to the CRM again.
pub(super) fn merge_contacts(
    tx: &dyn Store,
    tenant: &str,
    keep: i64,
    absorb: i64,
) -> Result<(), StoreError> {
    if scrm_store::CrmRepo::merge_contacts(tx, tenant, keep, absorb)? {
        tracing::info!(tenant, keep, absorb, "merged duplicate contacts");
    }
    Ok(())
}
