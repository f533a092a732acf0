//! What analytics reads: messages of a range as rows (with the sender of the
//! business's messages), customer texts, message counts per 15 minutes, and each
//! tenant's analytics settings (kept as the application validated them); [`sales`]
//! reads orders, first contacts and the business's sends. The numbers are computed
//! by `scrm-analytics`; this module only selects.

pub mod sales;

use crate::params;
use crate::sql::Conn;
use crate::{StoreError, now_ms};
use sales::{active_conversations, customers, first_orders, flow_recoveries, funnel_rows, sends};
use serde_json::Value;

/// Which conversations count: all of the tenant's, or those of one business number,
/// team or agent (as assigned now).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scope {
    /// The business number's Cloud API id.
    pub phone_number_id: Option<String>,
    /// Conversations assigned to this team.
    pub team: Option<i64>,
    /// Conversations assigned to this person.
    pub person: Option<i64>,
}

impl Scope {
    /// `FROM messages m [JOIN conversations c …] WHERE m.tenant_id = ?1 AND m.timestamp
    /// >= ?2 AND m.timestamp < ?3 [AND …]`, with the scope's values as ?4…
    fn sql_tail(&self) -> (String, Vec<String>, Vec<i64>) {
        self.sql_tail_joined(false)
    }

    /// [`Scope::sql_tail`], joining `conversations c` even when the scope does not
    /// need it (`join`).
    fn sql_tail_joined(&self, join: bool) -> (String, Vec<String>, Vec<i64>) {
        let mut sql = String::from("FROM messages m");
        let mut cond =
            String::from(" WHERE m.tenant_id = ?1 AND m.timestamp >= ?2 AND m.timestamp < ?3");
        let (mut texts, mut ints) = (Vec::new(), Vec::new());
        if join || self.phone_number_id.is_some() || self.team.is_some() || self.person.is_some() {
            sql.push_str(" JOIN conversations c ON c.id = m.conversation_id");
        }
        let mut n = 4;
        if let Some(p) = &self.phone_number_id {
            cond.push_str(&format!(" AND c.phone_number_id = ?{n}"));
            texts.push(p.clone());
            n += 1;
        }
        for (col, v) in [
            ("c.assignee_team", self.team),
            ("c.assignee_person", self.person),
        ] {
            if let Some(v) = v {
                cond.push_str(&format!(" AND {col} = ?{n}"));
                ints.push(v);
                n += 1;
            }
        }
        (sql + &cond, texts, ints)
    }
}

/// A message as response times need it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TurnRow {
    /// Its conversation.
    pub conversation_id: i64,
    /// When, Unix ms.
    pub at: i64,
    /// From the customer.
    pub inbound: bool,
    /// The business message's sender as the outbox recorded it (`inbox person:4`,
    /// `flow:…`, `campaign:…`, `responder`, `api`, `crm`; `messages.sender`); none
    /// when it was not sent through the outbox.
    pub source: Option<String>,
}

/// Runs `sql` (built by [`Scope::sql_tail`]) with the range and scope bound.
fn scoped<T>(
    conn: &Conn<'_>,
    sql: &str,
    tenant: &str,
    (from, to): (i64, i64),
    texts: &[String],
    ints: &[i64],
    map: impl Fn(&crate::sql::Row<'_>) -> Result<T, StoreError>,
) -> Result<Vec<T>, StoreError> {
    let mut p: Vec<&dyn crate::sql::Param> = vec![&tenant, &from, &to];
    for t in texts {
        p.push(t);
    }
    for i in ints {
        p.push(i);
    }
    conn.query(sql, &p, map)
}

/// Messages of `[from, to)` in scope, by conversation then time.
pub(crate) fn turn_rows(
    conn: &Conn<'_>,
    tenant: &str,
    range: (i64, i64),
    scope: &Scope,
) -> Result<Vec<TurnRow>, StoreError> {
    let (body, texts, ints) = scope.sql_tail();
    let sql = format!(
        "SELECT m.conversation_id, m.timestamp, m.direction, m.sender
         {body} ORDER BY m.conversation_id, m.timestamp, m.id"
    );
    scoped(conn, &sql, tenant, range, &texts, &ints, |r| {
        Ok(TurnRow {
            conversation_id: r.get(0)?,
            at: r.get(1)?,
            inbound: r.get::<String>(2)? == "inbound",
            source: r.get(3)?,
        })
    })
}

/// The customers' texts of `[from, to)` in scope: `(conversation, text)`.
pub(crate) fn customer_texts(
    conn: &Conn<'_>,
    tenant: &str,
    range: (i64, i64),
    scope: &Scope,
) -> Result<Vec<(i64, String)>, StoreError> {
    let (body, texts, ints) = scope.sql_tail();
    let sql = format!(
        "SELECT m.conversation_id, m.text {body}
           AND m.direction = 'inbound' AND m.text IS NOT NULL"
    );
    scoped(conn, &sql, tenant, range, &texts, &ints, |r| {
        Ok((r.get(0)?, r.get(1)?))
    })
}

/// Messages of `[from, to)` in scope per 15 minutes: `(bucket start ms, count)`;
/// customers' only when `inbound`, else the business's.
pub(crate) fn volume(
    conn: &Conn<'_>,
    tenant: &str,
    range: (i64, i64),
    scope: &Scope,
    inbound: bool,
) -> Result<Vec<(i64, i64)>, StoreError> {
    let (body, texts, ints) = scope.sql_tail();
    let dir = if inbound { "inbound" } else { "outbound" };
    let sql = format!(
        "SELECT (m.timestamp / 900000) * 900000 AS bucket, COUNT(*) {body}
           AND m.direction = '{dir}' GROUP BY bucket ORDER BY bucket"
    );
    scoped(conn, &sql, tenant, range, &texts, &ints, |r| {
        Ok((r.get(0)?, r.get(1)?))
    })
}

/// A conversation a customer wrote in during a range, and where it stands now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConversationState {
    /// The conversation.
    pub conversation_id: i64,
    /// The customer's first message in the range, Unix ms.
    pub first_inbound: i64,
    /// `open`, `pending`, `snoozed` or `resolved`.
    pub state: String,
    /// When it was last resolved, Unix ms.
    pub resolved_at: Option<i64>,
    /// Who it is assigned to now.
    pub assignee_person: Option<i64>,
}

/// The conversations in scope with customer messages in `[from, to)`.
pub(crate) fn conversation_states(
    conn: &Conn<'_>,
    tenant: &str,
    range: (i64, i64),
    scope: &Scope,
) -> Result<Vec<ConversationState>, StoreError> {
    let (body, texts, ints) = scope.sql_tail_joined(true);
    let sql = format!(
        "SELECT c.id, MIN(m.timestamp), c.state, c.resolved_at, c.assignee_person {body}
           AND m.direction = 'inbound'
         GROUP BY c.id, c.state, c.resolved_at, c.assignee_person ORDER BY c.id"
    );
    scoped(conn, &sql, tenant, range, &texts, &ints, |r| {
        Ok(ConversationState {
            conversation_id: r.get(0)?,
            first_inbound: r.get(1)?,
            state: r.get(2)?,
            resolved_at: r.get(3)?,
            assignee_person: r.get(4)?,
        })
    })
}

/// Customers' interactions (days they wrote on, counted in 24-hour steps from
/// `start`) per week of the five weeks from `start`: `(contact, week 0–4, days)`.
pub(crate) fn interaction_weeks(
    conn: &Conn<'_>,
    tenant: &str,
    start: i64,
) -> Result<Vec<(i64, i64, i64)>, StoreError> {
    let end = start + 5 * 604_800_000;
    conn.query(
        "SELECT contact_id, (timestamp - ?2) / 604800000 AS week,
                COUNT(DISTINCT (timestamp - ?2) / 86400000)
         FROM messages WHERE tenant_id = ?1 AND timestamp >= ?2 AND timestamp < ?3
           AND direction = 'inbound'
         GROUP BY contact_id, week",
        params![tenant, start, end],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
    )
}

/// The customers' classified messages of `[from, to)`, oldest first: `(contact,
/// classification JSON)`.
pub(crate) fn classifications(
    conn: &Conn<'_>,
    tenant: &str,
    (from, to): (i64, i64),
) -> Result<Vec<(i64, String)>, StoreError> {
    conn.query(
        "SELECT contact_id, classification FROM messages
         WHERE tenant_id = ?1 AND timestamp >= ?2 AND timestamp < ?3
           AND direction = 'inbound' AND classification IS NOT NULL
         ORDER BY timestamp, id",
        params![tenant, from, to],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
}

/// The tenant's analytics settings, if it set any.
pub(crate) fn settings(conn: &Conn<'_>, tenant: &str) -> Result<Option<Value>, StoreError> {
    let text: Option<String> = conn.query_opt(
        "SELECT settings FROM analytics_settings WHERE tenant_id = ?1",
        params![tenant],
        |r| r.get(0),
    )?;
    text.map(|t| {
        serde_json::from_str(&t).map_err(|e| StoreError::Column(format!("analytics settings: {e}")))
    })
    .transpose()
}

/// Replaces the tenant's analytics settings.
pub(crate) fn put_settings(
    conn: &Conn<'_>,
    tenant: &str,
    settings: &Value,
) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO analytics_settings (tenant_id, settings, updated_at) VALUES (?1, ?2, ?3)
         ON CONFLICT (tenant_id) DO UPDATE SET settings = excluded.settings, updated_at = excluded.updated_at",
        params![tenant, settings.to_string(), now_ms()],
    )?;
    Ok(())
}

crate::repo! {
    /// What analytics reads.
    pub trait AnalyticsRepo {
        /// Messages of a range in scope, by conversation then time.
        fn turn_rows(tenant: &str, range: (i64, i64), scope: &Scope) -> Result<Vec<TurnRow>, StoreError>;
        /// Customers' texts of a range in scope.
        fn customer_texts(tenant: &str, range: (i64, i64), scope: &Scope) -> Result<Vec<(i64, String)>, StoreError>;
        /// Message counts per 15 minutes.
        fn volume(tenant: &str, range: (i64, i64), scope: &Scope, inbound: bool) -> Result<Vec<(i64, i64)>, StoreError>;
        /// Conversations with customer messages in a range, and their state now.
        fn conversation_states(tenant: &str, range: (i64, i64), scope: &Scope) -> Result<Vec<ConversationState>, StoreError>;
        /// Customers' interaction days per week over five weeks from `start`.
        fn interaction_weeks(tenant: &str, start: i64) -> Result<Vec<(i64, i64, i64)>, StoreError>;
        /// Customers' classified messages of a range, oldest first.
        fn classifications(tenant: &str, range: (i64, i64)) -> Result<Vec<(i64, String)>, StoreError>;
        /// Customers who wrote in a range in scope, with their first message in it.
        fn customers(tenant: &str, range: (i64, i64), scope: &Scope) -> Result<Vec<(i64, i64)>, StoreError>;
        /// Conversations in scope with messages in a range.
        fn active_conversations(tenant: &str, range: (i64, i64), scope: &Scope) -> Result<u64, StoreError>;
        /// Messages of the conversations first seen in a range.
        fn funnel_rows(tenant: &str, range: (i64, i64), scope: &Scope) -> Result<Vec<sales::FunnelRow>, StoreError>;
        /// Customers whose first order was placed in a range.
        fn first_orders(tenant: &str, range: (i64, i64)) -> Result<Vec<sales::FirstOrderRow>, StoreError>;
        /// A flow's sends of a range, and whether each recipient ordered within the window.
        fn flow_recoveries(tenant: &str, range: (i64, i64), flow: &str, window_ms: i64) -> Result<Vec<bool>, StoreError>;
        /// The business's sends of a range.
        fn sends(tenant: &str, range: (i64, i64), number: Option<&str>) -> Result<Vec<sales::SendRow>, StoreError>;
        /// The tenant's analytics settings.
        fn settings(tenant: &str) -> Result<Option<Value>, StoreError>;
        /// Replaces them.
        fn put_settings(tenant: &str, settings: &Value) -> Result<(), StoreError>;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A conversation of customer `wa` on number `pnid`; its id.
    fn conversation(c: &Conn<'_>, wa: &str, pnid: &str) -> Result<(i64, i64), StoreError> {
        let facts = crate::contacts::ContactFacts {
            wa_id: Some(wa.into()),
            user_id: None,
            phone: None,
            name: None,
        };
        let contact = crate::contacts::upsert(c, "acme", &facts)?.id;
        let id = c.query_one(
            "INSERT INTO conversations (tenant_id, contact_id, phone_number_id, created_at, last_message_at)
             VALUES ('acme', ?1, ?2, 0, 0) RETURNING id",
            params![contact, pnid],
            |r| r.get(0),
        )?;
        Ok((id, contact))
    }

    fn message(
        c: &Conn<'_>,
        (conv, contact): (i64, i64),
        wamid: &str,
        at: i64,
        text: &str,
        source: Option<&str>,
    ) -> Result<(), StoreError> {
        let dir = if source.is_some() {
            "outbound"
        } else {
            "inbound"
        };
        c.execute(
            "INSERT INTO messages (tenant_id, conversation_id, contact_id, wamid, direction, type, timestamp,
                                   text, content, context, raw, status, created_at, sender)
             VALUES ('acme', ?1, ?2, ?3, ?4, 'text', ?5, ?6, '{}', '{}', '{}', 'received', 0, ?7)",
            params![conv, contact, wamid, dir, at, text, source],
        )?;
        Ok(())
    }

    #[test]
    fn rows_of_a_range_in_scope_with_their_senders() {
        for t in crate::testing::backends() {
            let got =
                t.db.with_conn(|c| {
                    crate::testing::add_acme(c)?;
                    let a = conversation(c, "391", "100")?;
                    let b = conversation(c, "392", "200")?;
                    message(c, a, "w1", 1_000, "quanto costa?", None)?;
                    message(c, a, "w2", 61_000, "29,90 €", Some("inbox person:4"))?;
                    message(c, b, "w3", 900_500, "sconto?", None)?;
                    message(c, b, "w4", 5_000_000, "late", None)?;
                    let vendite = crate::people::add_team(c, "acme", "Vendite")?.id;
                    c.execute(
                        "UPDATE conversations SET assignee_team = ?2 WHERE id = ?1",
                        params![b.0, vendite],
                    )?;
                    let all = Scope::default();
                    let rows = turn_rows(c, "acme", (0, 1_000_000), &all)?;
                    let number = Scope {
                        phone_number_id: Some("200".into()),
                        ..Scope::default()
                    };
                    let team = Scope {
                        team: Some(vendite),
                        ..Scope::default()
                    };
                    Ok((
                        rows,
                        customer_texts(c, "acme", (0, 1_000_000), &number)?,
                        volume(c, "acme", (0, 1_000_000), &all, true)?,
                        turn_rows(c, "acme", (0, 10_000_000), &team)?.len(),
                        conversation_states(c, "acme", (0, 1_000_000), &all)?,
                        interaction_weeks(c, "acme", 0)?,
                        settings(c, "acme")?,
                    ))
                })
                .unwrap();
            let (rows, texts, volume, team_rows, states, weeks, none) = got;
            let mut weeks = weeks;
            weeks.sort_unstable();
            assert_eq!(
                weeks.len(),
                2,
                "two customers, week 0: {weeks:?} ({})",
                t.backend
            );
            assert!(weeks.iter().all(|w| w.1 == 0 && w.2 == 1), "{weeks:?}");
            let firsts: Vec<(i64, String)> = states
                .iter()
                .map(|s| (s.first_inbound, s.state.clone()))
                .collect();
            assert_eq!(
                firsts,
                vec![(1_000, "open".to_string()), (900_500, "open".to_string())],
                "{}",
                t.backend
            );
            assert_eq!(rows.len(), 3, "{}", t.backend);
            assert_eq!(
                rows[1].source.as_deref(),
                Some("inbox person:4"),
                "{}",
                t.backend
            );
            assert!(!rows[1].inbound && rows[0].inbound && rows[0].source.is_none());
            assert_eq!(
                texts,
                vec![(rows[2].conversation_id, "sconto?".to_string())],
                "{}",
                t.backend
            );
            assert_eq!(volume, vec![(0, 1), (900_000, 1)], "{}", t.backend);
            assert_eq!(team_rows, 2, "{}", t.backend);
            assert_eq!(none, None);
            let v = serde_json::json!({"watched_words": ["sconto"]});
            let back =
                t.db.with_conn(|c| {
                    put_settings(c, "acme", &v)?;
                    settings(c, "acme")
                })
                .unwrap();
            assert_eq!(back, Some(v), "{}", t.backend);
        }
    }
}
