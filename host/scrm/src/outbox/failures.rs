//! Failed sends, by Meta's code: from the send call's answer or from a `failed`
//! status webhook, with the same rules (slow down, needs a template, undeliverable,
//! marketing stopped or paused, retry with back-off, dead letter).

use super::*;
use scrm_store::Store;

/// Meta's code and a one-line description of the first error in a stored `errors`
/// JSON array (a `failed` status's).
pub(super) fn first_error(errors: Option<&str>) -> (Option<i64>, String) {
    let errors: Vec<ApiError> = errors
        .and_then(|j| serde_json::from_str(j).ok())
        .unwrap_or_default();
    errors.first().cloned().unwrap_or_default().summary()
}

/// Acts on a failed send by Meta's code (from the send call's answer or from a
/// `failed` status webhook) and returns the outcome's metric label.
///
/// # Errors
/// On database failure.
pub fn apply_failure(
    c: &dyn Store,
    s: &SendSettings,
    row: &OutboxItem,
    code: Option<i64>,
    message: &str,
    retry_after: Option<Duration>,
    retryable: bool,
) -> Result<&'static str, StoreError> {
    let now = now_ms();
    let backoff =
        |attempts: i64| crate::backoff::backoff_ms(s.backoff_base_ms, s.backoff_max_ms, attempts);
    Ok(match meaning(code) {
        // Throughput or pair rate exceeded: slow down; these are never dead-lettered.
        Meaning::SlowDown => {
            let wait = retry_after.map_or_else(|| backoff(row.attempts), |d| d.as_millis() as i64);
            scrm_store::OutboxRepo::retry_later(
                c,
                row.id,
                now + wait,
                WaitReason::Backoff.as_str(),
                code,
                message,
            )?;
            "rate_limited"
        }
        Meaning::NeedsTemplate => {
            scrm_store::OutboxRepo::finish(c, row.id, "needs_template", code, message)?;
            "needs_template"
        }
        Meaning::Undeliverable => {
            scrm_store::ConsentRepo::mark_undeliverable(c, &row.tenant_id, &row.to, now)?;
            scrm_store::OutboxRepo::finish(c, row.id, "undeliverable", code, message)?;
            "undeliverable"
        }
        Meaning::StoppedMarketing => {
            scrm_store::ConsentRepo::marketing_preference(c, &row.tenant_id, &row.to, true, now)?;
            scrm_store::OutboxRepo::finish(c, row.id, "suppressed", code, message)?;
            "suppressed"
        }
        Meaning::MarketingPausedForContact => {
            let until = now + s.marketing_pause_ms;
            scrm_store::ConsentRepo::pause_marketing(c, &row.tenant_id, &row.to, until)?;
            scrm_store::OutboxRepo::retry_later(
                c,
                row.id,
                until,
                WaitReason::MarketingPausedForContact.as_str(),
                code,
                message,
            )?;
            "marketing_paused"
        }
        Meaning::MarketingPausedForNumber => {
            let until = now + s.marketing_pause_ms;
            scrm_store::OutboxRepo::pause_number(c, &row.phone_number_id, until, message)?;
            scrm_store::OutboxRepo::retry_later(
                c,
                row.id,
                until,
                WaitReason::MarketingPausedForNumber.as_str(),
                code,
                message,
            )?;
            "marketing_paused"
        }
        _ if retryable && row.attempts < i64::from(s.max_attempts) => {
            scrm_store::OutboxRepo::retry_later(
                c,
                row.id,
                now + backoff(row.attempts),
                WaitReason::Backoff.as_str(),
                code,
                message,
            )?;
            "retry"
        }
        _ if retryable => {
            let reason = format!("gave up after {} attempts: {message}", row.attempts);
            scrm_store::OutboxRepo::finish(c, row.id, "dead", code, &reason)?;
            "dead"
        }
        _ => {
            scrm_store::OutboxRepo::finish(c, row.id, "dead", code, message)?;
            "dead"
        }
    })
}

/// Acts on a `failed` status webhook for a message the outbox sent: the same rules
/// as a failed send call. Returns the outcome, or `None` when the outbox has no
/// such sent message (sent by another tool, or already handled).
///
/// # Errors
/// On database failure.
pub fn apply_failed_status(
    c: &dyn Store,
    s: &SendSettings,
    tenant: &str,
    wamid: &str,
    code: Option<i64>,
    message: &str,
) -> Result<Option<&'static str>, StoreError> {
    let Some(row) = scrm_store::OutboxRepo::find_sent(c, tenant, wamid)? else {
        return Ok(None);
    };
    let retryable = scrm_wire::graph::temporary_code(code);
    apply_failure(c, s, &row, code, message, None, retryable).map(Some)
}
