//! The review queue's decisions: accepting or reverting a conflict or a proposed
//! duplicate, on both sides.

use super::*;

impl SyncEngine {
    /// Closes a review entry: `accept` keeps the winner; `revert` restores the value
    /// that lost (on the host, and on the CRM through a queued contact write).
    ///
    /// # Errors
    /// On database failure; `Ok(None)` when the tenant has no such open entry.
    pub async fn resolve_review(
        &self,
        tenant: &str,
        id: i64,
        revert: bool,
    ) -> Result<Option<Result<crm::Review, String>>, StoreError> {
        let t = tenant.to_string();
        let out = self
            .db
            .write(move |c| {
                scrm_store::transaction(c, |tx| {
                    let Some(review) = scrm_store::CrmRepo::review(tx, &t, id)? else {
                        return Ok(None);
                    };
                    if review.state != "open" {
                        return Ok(Some(Err(format!(
                            "review {id} is already {}",
                            review.state
                        ))));
                    }
                    if review.kind == "duplicate" {
                        // Accept merges the two contacts; revert records that they are
                        // different people (never proposed again).
                        if !revert {
                            let other = review.detail["other_contact_id"].as_i64().unwrap_or(0);
                            merge_contacts(
                                tx,
                                &t,
                                review.contact_id.min(other),
                                review.contact_id.max(other),
                            )?;
                        }
                        scrm_store::CrmRepo::resolve_review(
                            tx,
                            id,
                            if revert { "reverted" } else { "accepted" },
                        )?;
                    } else if revert {
                        if let (Some(field), Some(lost)) = (&review.field, &review.lost) {
                            let clock = FieldClock {
                                value: lost.clone(),
                                changed_at: now_ms(),
                                source: "review".into(),
                            };
                            scrm_store::CrmRepo::set_field(
                                tx,
                                &t,
                                review.contact_id,
                                field,
                                &clock,
                            )?;
                            if field == "name" {
                                scrm_store::CrmRepo::set_contact_name(
                                    tx,
                                    review.contact_id,
                                    lost.as_str(),
                                )?;
                            }
                            scrm_store::CrmRepo::enqueue_contact(tx, &t, review.contact_id)?;
                        }
                        scrm_store::CrmRepo::resolve_review(tx, id, "reverted")?;
                    } else {
                        scrm_store::CrmRepo::resolve_review(tx, id, "accepted")?;
                    }
                    let out = scrm_store::CrmRepo::review(tx, &t, id)?;
                    Ok(out.map(Ok))
                })
            })
            .await?;
        self.wake.notify_one();
        Ok(out)
    }
}
