//! What the mapper learns of a contact beyond its profile: how often and how lately
//! it writes, what the classifier last found, and whether the unread rule holds its
//! priority down.

use super::*;
use scrm_engine::bindings::types as wit;

/// The window the message frequency is counted over.
pub(crate) const FREQUENCY_WINDOW_MS: i64 = 28 * DAY_MS;
/// Days after which an idle contact's activity score halves.
const SCORE_HALF_LIFE_DAYS: f64 = 14.0;
/// Messages per week that make a full score (before fading).
const FULL_SCORE_PER_WEEK: f64 = 10.0;

/// The activity score, 0 to 100: messages per week against
/// [`FULL_SCORE_PER_WEEK`], halved for every [`SCORE_HALF_LIFE_DAYS`] since the last
/// interaction.
pub(super) fn activity_score(per_week: f64, idle_ms: i64) -> u32 {
    let frequency = (per_week / FULL_SCORE_PER_WEEK).min(1.0);
    let idle_days = idle_ms.max(0) as f64 / DAY_MS as f64;
    let fade = 0.5f64.powf(idle_days / SCORE_HALF_LIFE_DAYS);
    (frequency * fade * 100.0).round() as u32
}

fn priority(p: &str) -> Option<wit::Priority> {
    match p {
        "low" => Some(wit::Priority::Low),
        "normal" => Some(wit::Priority::Normal),
        "high" => Some(wit::Priority::High),
        "urgent" => Some(wit::Priority::Urgent),
        _ => None,
    }
}

impl SyncEngine {
    /// The facts the mapper gets with contact `contact_id`.
    pub(super) async fn contact_facts(
        &self,
        tenant: &str,
        contact_id: i64,
    ) -> Result<wit::ContactFacts, SyncError> {
        let t = tenant.to_string();
        let now = now_ms();
        let (activity, latest) = self
            .db
            .read(move |c| {
                let a =
                    scrm_store::CrmRepo::activity(c, &t, contact_id, now - FREQUENCY_WINDOW_MS)?;
                let latest = match a.latest_classified {
                    Some(id) => scrm_store::MessageRepo::get(c, &t, id)?,
                    None => None,
                };
                Ok((a, latest))
            })
            .await?;
        let latest = latest.map(|m| crate::slots::found_in(&m).to_wit());
        Ok(facts_of(&activity, now, latest))
    }
}

/// The facts of a contact whose `activity` was counted over the
/// [`FREQUENCY_WINDOW_MS`] before `now`, with the classification of its newest
/// classified message.
pub(crate) fn facts_of(
    activity: &crm::Activity,
    now: i64,
    latest: Option<wit::Classification>,
) -> wit::ContactFacts {
    let per_week = activity.recent as f64 * 7.0 * DAY_MS as f64 / FREQUENCY_WINDOW_MS as f64;
    let score = activity
        .last_at
        .map_or(0, |at| activity_score(per_week, now - at));
    wit::ContactFacts {
        messages_per_week: per_week as f32,
        last_interaction_at: activity.last_at,
        activity_score: score,
        latest,
        unread_priority: activity.unread_priority.as_deref().and_then(priority),
    }
}
