//! Applying what a flow recorded through `scrm:plugin/assist` (since WIT 0.1.2), in
//! the transaction that applies its actions: its model usage, always (the tokens
//! were spent); its drafts, in the event's conversation for an agent. When the
//! tenant's monthly model budget was already spent before the call, a flow that
//! used the model has its drafts and sends dropped (said in the flow log): the
//! budget stops the flow; its other actions (handing the conversation to a person)
//! still apply.

use scrm_engine::capabilities::assist::Assisted;
use scrm_store::assist::{NewDraft, NewUsage, month_start};
use scrm_store::flows::FlowJob;
use scrm_store::{AssistRepo, Store, StoreError};
use serde_json::Value;

/// The action types that send a message.
const SENDS: [&str; 3] = ["reply", "template", "interactive"];

/// Whether the tenant's monthly model budget is spent at `now` (before anything of
/// this call is recorded).
pub(super) fn budget_spent(tx: &dyn Store, tenant: &str, now: i64) -> Result<bool, StoreError> {
    let Some(budget) = AssistRepo::model_budget(tx, tenant)? else {
        return Ok(false);
    };
    Ok(AssistRepo::spent_since(tx, tenant, month_start(now))? >= budget)
}

/// Records the call's usage and drafts; drops its drafts and sends (`actions` is
/// filtered) when the budget was spent before it. Notes for the flow log.
pub(super) fn apply(
    tx: &dyn Store,
    job: &FlowJob,
    version: i64,
    conversation: Option<i64>,
    assisted: &Assisted,
    actions: &mut Vec<Value>,
    now: i64,
) -> Result<Vec<String>, StoreError> {
    let mut notes = Vec::new();
    let stopped = !assisted.usage.is_empty() && budget_spent(tx, &job.tenant, now)?;
    for u in &assisted.usage {
        AssistRepo::record_usage(
            tx,
            &NewUsage {
                tenant: &job.tenant,
                flow: &job.flow,
                model: &u.model,
                prompt_tokens: i64::from(u.prompt_tokens),
                completion_tokens: i64::from(u.completion_tokens),
                cost: u.cost,
                latency_ms: i64::from(u.latency_ms),
                conversation_id: conversation,
                at: now,
            },
        )?;
        notes.push(format!(
            "model {}: {} + {} tokens, cost {}",
            u.model, u.prompt_tokens, u.completion_tokens, u.cost
        ));
    }
    if stopped {
        let before = actions.len();
        actions.retain(|a| !SENDS.contains(&a["type"].as_str().unwrap_or_default()));
        let dropped = before - actions.len() + assisted.drafts.len();
        if dropped > 0 {
            notes.push(format!(
                "the tenant's monthly model budget is spent: {dropped} draft(s) and send(s) dropped"
            ));
        }
        return Ok(notes);
    }
    let Some(conversation_id) = conversation else {
        if !assisted.drafts.is_empty() {
            notes.push("drafts dropped: the event has no conversation".into());
        }
        return Ok(notes);
    };
    for d in &assisted.drafts {
        let id = AssistRepo::add_draft(
            tx,
            &NewDraft {
                tenant: &job.tenant,
                conversation_id,
                flow: &job.flow,
                flow_version: version,
                text: &d.text,
                note: d.note.as_deref(),
                at: now,
            },
        )?;
        notes.push(format!("draft {id} left for an agent"));
    }
    Ok(notes)
}
