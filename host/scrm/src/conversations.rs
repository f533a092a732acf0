//! Conversations as people's work: who may see which (agents: their own, their
//! teams', and unassigned ones when the tenant allows), states (`resolved` queues the
//! flows' `resolved` event), assignment — manual, round-robin in a team, or a
//! responder's or flow's `assign` action — and private notes.
//!
//! The HTTP routes are in `api::conversations`.

use scrm_store::conversations::{STATES, Viewer, WorkItem};
use scrm_store::people::Role;
use scrm_store::{Store, StoreError};

/// Whose conversations a caller of `tenant` sees: `None` (all) for the operator and
/// for managers and admins; for an agent, their own, their teams' and — when the
/// tenant allows — unassigned ones.
///
/// # Errors
/// On database failure.
pub fn viewer(
    c: &dyn Store,
    tenant: &str,
    role: Option<Role>,
    person: Option<i64>,
) -> Result<Option<Viewer>, StoreError> {
    match role {
        Some(Role::Agent) => Ok(Some(Viewer {
            person,
            unassigned: c.agents_see_unassigned(tenant)?,
        })),
        _ => Ok(None),
    }
}

/// Why a state change was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StateError {
    /// Not one of the states.
    #[error("state {0:?} is not one of open, pending, snoozed, resolved")]
    Unknown(String),
    /// `snoozed` needs a time in the future.
    #[error("snoozed needs `until`, a time in the future (Unix ms)")]
    NeedsUntil,
}

/// Checks a requested state; `until` only for `snoozed`.
///
/// # Errors
/// [`StateError`].
pub fn check_state(state: &str, until: Option<i64>, now: i64) -> Result<Option<i64>, StateError> {
    if !STATES.contains(&state) {
        return Err(StateError::Unknown(state.to_string()));
    }
    if state == "snoozed" {
        return match until {
            Some(u) if u > now => Ok(Some(u)),
            _ => Err(StateError::NeedsUntil),
        };
    }
    Ok(None)
}

/// Assigns conversation `id` to `person` and/or `team` and queues the tenant's
/// `conversation.assigned` event; false when the conversation, person or team is
/// not the tenant's. Every assignment goes through here.
///
/// # Errors
/// On database failure.
pub fn assign(
    c: &dyn Store,
    tenant: &str,
    id: i64,
    person: Option<i64>,
    team: Option<i64>,
) -> Result<bool, StoreError> {
    scrm_store::transaction(c, |tx| {
        if !tx.assign(tenant, id, person, team)? {
            return Ok(false);
        }
        crate::event_hooks::emit(
            tx,
            tenant,
            "conversation.assigned",
            &id.to_string(),
            serde_json::json!({"conversation_id": id, "person_id": person, "team_id": team}),
        )?;
        Ok(true)
    })
}

/// Assigns conversation `id` to `team`, and to the team's next available agent by
/// round-robin; false when the conversation or team is not the tenant's.
///
/// # Errors
/// On database failure.
pub fn assign_round_robin(
    c: &dyn Store,
    tenant: &str,
    id: i64,
    team: i64,
) -> Result<bool, StoreError> {
    scrm_store::transaction(c, |tx| {
        if tx.team(tenant, team)?.is_none() {
            return Ok(false);
        }
        let person = tx.next_in_team(tenant, team)?;
        assign(tx, tenant, id, person, Some(team))
    })
}

/// Carries out a responder's or flow's `assign` action on conversation `id`: `to`
/// is a person's email (`giulia@acme.example`) or a team's name (`Vendite`, then
/// round-robin among its available agents). Returns what was done, for the
/// message's or flow's log.
///
/// # Errors
/// On database failure.
pub fn assign_action(c: &dyn Store, tenant: &str, id: i64, to: &str) -> Result<String, StoreError> {
    let to = to.trim();
    if to.contains('@') {
        let Some((person, _)) = c.login(tenant, to)? else {
            return Ok(format!("assign skipped: no person {to:?}"));
        };
        if person.disabled_at.is_some() {
            return Ok(format!("assign skipped: {to:?} is disabled"));
        }
        assign(c, tenant, id, Some(person.id), None)?;
        return Ok(format!("assigned to {to}"));
    }
    let Some(team) = c.teams(tenant)?.into_iter().find(|t| t.name == to) else {
        return Ok(format!("assign skipped: no team or person {to:?}"));
    };
    assign_round_robin(c, tenant, id, team.id)?;
    let item = c.work_item(tenant, id, None)?;
    Ok(match item.and_then(|i| i.assignee_person) {
        Some(p) => format!("assigned to team {to} (person {p} by round-robin)"),
        None => format!("assigned to team {to} (no agent available)"),
    })
}

/// The `assign` actions among a responder's `actions` for its message
/// `message_id`, carried out; what each did.
///
/// # Errors
/// On database failure.
pub fn apply_responder_assigns(
    tx: &dyn Store,
    tenant: &str,
    message_id: i64,
    actions: &[serde_json::Value],
) -> Result<Vec<String>, StoreError> {
    let mut done = Vec::new();
    for a in actions.iter().filter(|a| a["type"] == "assign") {
        let Some(conv) = tx.of_message(tenant, message_id)? else {
            break;
        };
        let note = assign_action(tx, tenant, conv, a["to"].as_str().unwrap_or_default())?;
        tracing::info!(%tenant, conversation = conv, "{note}");
        done.push(note);
    }
    Ok(done)
}

/// The seconds left in the conversation's 24-hour customer-service window at `now`
/// (0 when closed or never opened).
pub fn window_left_s(item: &WorkItem, now: i64) -> i64 {
    item.last_inbound_at
        .map_or(0, |at| ((at + 86_400_000 - now) / 1000).max(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_are_checked() {
        assert_eq!(check_state("open", None, 10), Ok(None));
        assert_eq!(check_state("snoozed", Some(20), 10), Ok(Some(20)));
        assert_eq!(
            check_state("snoozed", Some(5), 10),
            Err(StateError::NeedsUntil)
        );
        assert_eq!(
            check_state("snoozed", None, 10),
            Err(StateError::NeedsUntil)
        );
        assert!(matches!(
            check_state("closed", None, 10),
            Err(StateError::Unknown(_))
        ));
        assert_eq!(check_state("resolved", Some(99), 10), Ok(None));
    }
}
