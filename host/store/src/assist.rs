//! What flows write for people and what their model calls cost (WIT
//! `scrm:plugin/assist`): **drafts** (`drafts`) wait in a conversation until an agent
//! sends one — as written or edited — or discards it; **model usage**
//! (`model_usage`) is kept per call, per tenant, flow and month, against the
//! tenant's monthly **budget** (`tenants.model_budget`).

use crate::StoreError;
use crate::params;
use crate::sql::{Conn, Row};
use serde::Serialize;

/// A draft answer.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Draft {
    /// Its id.
    pub id: i64,
    /// The conversation it answers in.
    pub conversation_id: i64,
    /// The flow that wrote it.
    pub flow: String,
    /// The flow's version then.
    pub flow_version: i64,
    /// The text as the flow wrote it (plain text).
    pub text: String,
    /// Where it came from, for the agent.
    pub note: Option<String>,
    /// `waiting`, `sent`, `discarded` or `replaced`.
    pub state: String,
    /// Unix ms.
    pub created_at: i64,
    /// When an agent sent or discarded it, Unix ms.
    pub decided_at: Option<i64>,
    /// Who (`person:ID`, `api`).
    pub decided_by: Option<String>,
    /// What was sent: the text, or the agent's edit of it.
    pub sent_text: Option<String>,
    /// The outbox item that sends it.
    pub outbox_id: Option<i64>,
}

/// A draft to store.
#[derive(Debug, Clone)]
pub struct NewDraft<'a> {
    /// The tenant.
    pub tenant: &'a str,
    /// The conversation.
    pub conversation_id: i64,
    /// The flow and its version.
    pub flow: &'a str,
    /// See `flow`.
    pub flow_version: i64,
    /// The text.
    pub text: &'a str,
    /// The note.
    pub note: Option<&'a str>,
    /// Unix ms.
    pub at: i64,
}

/// One model call to record.
#[derive(Debug, Clone)]
pub struct NewUsage<'a> {
    /// The tenant.
    pub tenant: &'a str,
    /// The flow that made it.
    pub flow: &'a str,
    /// The model.
    pub model: &'a str,
    /// Prompt tokens.
    pub prompt_tokens: i64,
    /// Answer tokens.
    pub completion_tokens: i64,
    /// Its cost.
    pub cost: f64,
    /// The endpoint's answer time, ms.
    pub latency_ms: i64,
    /// The conversation it was for, when there is one.
    pub conversation_id: Option<i64>,
    /// Unix ms.
    pub at: i64,
}

/// Usage summed over a group (a flow and month).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UsageTotal {
    /// The flow.
    pub flow: String,
    /// The month, `YYYY-MM` (UTC).
    pub month: String,
    /// Model calls.
    pub calls: i64,
    /// Prompt tokens.
    pub prompt_tokens: i64,
    /// Answer tokens.
    pub completion_tokens: i64,
    /// Cost.
    pub cost: f64,
    /// Mean answer time, ms.
    pub mean_latency_ms: f64,
}

const COLUMNS: &str = "id, conversation_id, flow, flow_version, text, note, state, created_at, \
                       decided_at, decided_by, sent_text, outbox_id";

fn draft(r: &Row<'_>) -> Result<Draft, StoreError> {
    Ok(Draft {
        id: r.get(0)?,
        conversation_id: r.get(1)?,
        flow: r.get(2)?,
        flow_version: r.get(3)?,
        text: r.get(4)?,
        note: r.get(5)?,
        state: r.get(6)?,
        created_at: r.get(7)?,
        decided_at: r.get(8)?,
        decided_by: r.get(9)?,
        sent_text: r.get(10)?,
        outbox_id: r.get(11)?,
    })
}

/// Stores a draft; a waiting draft of the same flow in the conversation becomes
/// `replaced`. The new draft's id.
pub(crate) fn add_draft(conn: &Conn<'_>, d: &NewDraft<'_>) -> Result<i64, StoreError> {
    conn.execute(
        "UPDATE drafts SET state = 'replaced', decided_at = ?4
         WHERE tenant_id = ?1 AND conversation_id = ?2 AND flow = ?3 AND state = 'waiting'",
        params![d.tenant, d.conversation_id, d.flow, d.at],
    )?;
    conn.query_one(
        "INSERT INTO drafts (tenant_id, conversation_id, flow, flow_version, text, note, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) RETURNING id",
        params![
            d.tenant,
            d.conversation_id,
            d.flow,
            d.flow_version,
            d.text,
            d.note,
            d.at
        ],
        |r| r.get(0),
    )
}

/// The conversation's drafts still waiting, oldest first.
pub(crate) fn waiting_drafts(
    conn: &Conn<'_>,
    tenant: &str,
    conversation_id: i64,
) -> Result<Vec<Draft>, StoreError> {
    conn.query(
        &format!(
            "SELECT {COLUMNS} FROM drafts
             WHERE tenant_id = ?1 AND conversation_id = ?2 AND state = 'waiting' ORDER BY id"
        ),
        params![tenant, conversation_id],
        draft,
    )
}

/// One draft of the tenant.
pub(crate) fn draft_of(
    conn: &Conn<'_>,
    tenant: &str,
    id: i64,
) -> Result<Option<Draft>, StoreError> {
    conn.query_opt(
        &format!("SELECT {COLUMNS} FROM drafts WHERE tenant_id = ?1 AND id = ?2"),
        params![tenant, id],
        draft,
    )
}

/// Decides a waiting draft: `sent` (with what went out and its outbox item) or
/// `discarded`; false when it is not waiting (decided already, or replaced).
pub(crate) fn decide_draft(
    conn: &Conn<'_>,
    tenant: &str,
    id: i64,
    sent: Option<(&str, i64)>,
    by: &str,
    at: i64,
) -> Result<bool, StoreError> {
    let (state, text, outbox) = match sent {
        Some((text, outbox)) => ("sent", Some(text), Some(outbox)),
        None => ("discarded", None, None),
    };
    Ok(conn.execute(
        "UPDATE drafts SET state = ?3, sent_text = ?4, outbox_id = ?5, decided_by = ?6, decided_at = ?7
         WHERE tenant_id = ?1 AND id = ?2 AND state = 'waiting'",
        params![tenant, id, state, text, outbox, by, at],
    )? == 1)
}

/// Records one model call.
pub(crate) fn record_usage(conn: &Conn<'_>, u: &NewUsage<'_>) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO model_usage (tenant_id, flow, model, prompt_tokens, completion_tokens, cost,
                                  latency_ms, conversation_id, at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        params![
            u.tenant,
            u.flow,
            u.model,
            u.prompt_tokens,
            u.completion_tokens,
            u.cost,
            u.latency_ms,
            u.conversation_id,
            u.at
        ],
    )?;
    Ok(())
}

/// What the tenant's model calls cost since `since` (Unix ms).
pub(crate) fn spent_since(conn: &Conn<'_>, tenant: &str, since: i64) -> Result<f64, StoreError> {
    conn.query_one(
        "SELECT COALESCE(SUM(cost), 0.0) FROM model_usage WHERE tenant_id = ?1 AND at >= ?2",
        params![tenant, since],
        |r| r.get(0),
    )
}

/// The tenant's monthly model budget; none when it set none.
pub(crate) fn model_budget(conn: &Conn<'_>, tenant: &str) -> Result<Option<f64>, StoreError> {
    Ok(conn
        .query_opt(
            "SELECT model_budget FROM tenants WHERE id = ?1",
            params![tenant],
            |r| r.get::<Option<f64>>(0),
        )?
        .flatten())
}

/// Sets (or, with none, removes) the tenant's monthly model budget.
pub(crate) fn set_model_budget(
    conn: &Conn<'_>,
    tenant: &str,
    budget: Option<f64>,
) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE tenants SET model_budget = ?2 WHERE id = ?1",
        params![tenant, budget],
    )?;
    Ok(())
}

/// Usage per flow and UTC month in `[from, to)` (Unix ms), oldest month first.
pub(crate) fn usage_by_month(
    conn: &Conn<'_>,
    tenant: &str,
    from: i64,
    to: i64,
) -> Result<Vec<UsageTotal>, StoreError> {
    let rows: Vec<(String, i64, i64, i64, i64, f64, f64)> = conn.query(
        "SELECT flow, at, 1, prompt_tokens, completion_tokens, cost, latency_ms FROM model_usage
         WHERE tenant_id = ?1 AND at >= ?2 AND at < ?3 ORDER BY at",
        params![tenant, from, to],
        |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
                r.get::<i64>(6)? as f64,
            ))
        },
    )?;
    let mut totals: Vec<UsageTotal> = Vec::new();
    for (flow, at, calls, prompt, completion, cost, latency) in rows {
        let month = month_of(at);
        let total = match totals
            .iter_mut()
            .find(|t| t.flow == flow && t.month == month)
        {
            Some(t) => t,
            None => {
                totals.push(UsageTotal {
                    flow,
                    month,
                    calls: 0,
                    prompt_tokens: 0,
                    completion_tokens: 0,
                    cost: 0.0,
                    mean_latency_ms: 0.0,
                });
                totals.last_mut().expect("just pushed")
            }
        };
        total.mean_latency_ms =
            (total.mean_latency_ms * total.calls as f64 + latency) / (total.calls + calls) as f64;
        total.calls += calls;
        total.prompt_tokens += prompt;
        total.completion_tokens += completion;
        total.cost += cost;
    }
    Ok(totals)
}

/// The UTC month of a Unix ms time, `YYYY-MM`.
pub fn month_of(at: i64) -> String {
    chrono::DateTime::from_timestamp_millis(at)
        .map(|t| t.format("%Y-%m").to_string())
        .unwrap_or_default()
}

/// The start of the UTC month of `at`, Unix ms.
pub fn month_start(at: i64) -> i64 {
    use chrono::Datelike;
    chrono::DateTime::from_timestamp_millis(at)
        .and_then(|t| t.date_naive().with_day(1))
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map_or(0, |d| d.and_utc().timestamp_millis())
}

crate::repo! {
    /// Flows' drafts for agents and their model usage.
    pub trait AssistRepo {
        /// Stores a draft, replacing the flow's waiting one in the conversation; its id.
        fn add_draft(d: &NewDraft<'_>) -> Result<i64, StoreError>;
        /// The conversation's waiting drafts, oldest first.
        fn waiting_drafts(tenant: &str, conversation_id: i64) -> Result<Vec<Draft>, StoreError>;
        /// One draft.
        fn draft_of(tenant: &str, id: i64) -> Result<Option<Draft>, StoreError>;
        /// Marks a waiting draft sent (with what went out) or discarded; false when it
        /// was not waiting.
        fn decide_draft(tenant: &str, id: i64, sent: Option<(&str, i64)>, by: &str, at: i64) -> Result<bool, StoreError>;
        /// Records one model call.
        fn record_usage(u: &NewUsage<'_>) -> Result<(), StoreError>;
        /// What the tenant's model calls cost since `since`.
        fn spent_since(tenant: &str, since: i64) -> Result<f64, StoreError>;
        /// The tenant's monthly model budget.
        fn model_budget(tenant: &str) -> Result<Option<f64>, StoreError>;
        /// Sets or removes the tenant's monthly model budget.
        fn set_model_budget(tenant: &str, budget: Option<f64>) -> Result<(), StoreError>;
        /// Usage per flow and month.
        fn usage_by_month(tenant: &str, from: i64, to: i64) -> Result<Vec<UsageTotal>, StoreError>;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{add_acme, backends};

    #[test]
    fn drafts_replace_each_other_and_are_decided_once_and_usage_adds_up() {
        for test in backends() {
            let db = &test.db;
            db.with_conn(|c| {
                add_acme(c)?;
                c.execute(
                    "INSERT INTO contacts (id, tenant_id, wa_id, created_at, updated_at)
                     VALUES (1, 'acme', '393471234567', 0, 0)",
                    params![],
                )?;
                c.execute(
                    "INSERT INTO conversations (id, tenant_id, contact_id, phone_number_id, created_at, last_message_at)
                     VALUES (1, 'acme', 1, '100', 0, 0)",
                    params![],
                )?;
                let new = |text: &'static str, at| NewDraft {
                    tenant: "acme",
                    conversation_id: 1,
                    flow: "ai-replies",
                    flow_version: 1,
                    text,
                    note: Some("gpt"),
                    at,
                };
                let first = add_draft(c, &new("Ciao!", 10))?;
                let second = add_draft(c, &new("Ciao, Anna!", 20))?;
                let waiting = waiting_drafts(c, "acme", 1)?;
                assert_eq!(waiting.iter().map(|d| d.id).collect::<Vec<_>>(), [second], "{}", test.backend);
                assert_eq!(draft_of(c, "acme", first)?.unwrap().state, "replaced");
                assert!(!decide_draft(c, "acme", first, None, "person:1", 30)?);
                assert!(decide_draft(c, "acme", second, Some(("Ciao Anna", 7)), "person:1", 30)?);
                assert!(!decide_draft(c, "acme", second, None, "person:1", 31)?);
                let sent = draft_of(c, "acme", second)?.unwrap();
                assert_eq!((sent.state.as_str(), sent.sent_text.as_deref(), sent.outbox_id), ("sent", Some("Ciao Anna"), Some(7)));

                let day = 86_400_000;
                let june = 1_780_272_000_000; // 2026-06-01T00:00:00Z
                for (at, cost) in [(june - day, 1.0), (june + day, 0.25), (june + 2 * day, 0.5)] {
                    record_usage(c, &NewUsage {
                        tenant: "acme", flow: "ai-replies", model: "m", prompt_tokens: 100,
                        completion_tokens: 20, cost, latency_ms: 300, conversation_id: Some(1), at,
                    })?;
                }
                assert_eq!(month_start(june + 2 * day), june);
                assert!((spent_since(c, "acme", june)? - 0.75).abs() < 1e-9);
                assert_eq!(model_budget(c, "acme")?, None);
                set_model_budget(c, "acme", Some(5.0))?;
                assert_eq!(model_budget(c, "acme")?, Some(5.0));
                let months = usage_by_month(c, "acme", 0, i64::MAX)?;
                let summary: Vec<_> = months.iter().map(|m| (m.month.as_str(), m.calls, m.prompt_tokens)).collect();
                assert_eq!(summary, [("2026-05", 1, 100), ("2026-06", 2, 200)]);
                assert!((months[1].cost - 0.75).abs() < 1e-9);
                Ok(())
            })
            .unwrap();
        }
    }
}
