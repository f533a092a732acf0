//! What the sales and engagement analytics read: the range's customers and first
//! contacts with their messages' intents, first orders, and the business's sends
//! with their statuses, links, clicks and pricing.

use super::{Scope, scoped};
use crate::StoreError;
use crate::params;
use crate::sql::Conn;

/// The customers who wrote in `[from, to)` in scope: `(contact, first message in
/// the range)`.
pub(crate) fn customers(
    conn: &Conn<'_>,
    tenant: &str,
    range: (i64, i64),
    scope: &Scope,
) -> Result<Vec<(i64, i64)>, StoreError> {
    let (body, texts, ints) = scope.sql_tail();
    let sql = format!(
        "SELECT m.contact_id, MIN(m.timestamp) {body}
           AND m.direction = 'inbound' GROUP BY m.contact_id"
    );
    scoped(conn, &sql, tenant, range, &texts, &ints, |r| {
        Ok((r.get(0)?, r.get(1)?))
    })
}

/// How many conversations in scope had messages (either way) in `[from, to)`.
pub(crate) fn active_conversations(
    conn: &Conn<'_>,
    tenant: &str,
    range: (i64, i64),
    scope: &Scope,
) -> Result<u64, StoreError> {
    let (body, texts, ints) = scope.sql_tail();
    let sql = format!("SELECT COUNT(DISTINCT m.conversation_id) {body}");
    let n: Vec<i64> = scoped(conn, &sql, tenant, range, &texts, &ints, |r| r.get(0))?;
    Ok(n.first().copied().unwrap_or(0).max(0) as u64)
}

/// A message of a conversation whose first message is in the range.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunnelRow {
    /// The conversation.
    pub conversation_id: i64,
    /// Its contact.
    pub contact_id: i64,
    /// Its first message, Unix ms.
    pub first_at: i64,
    /// From the customer.
    pub inbound: bool,
    /// The classifier's intent.
    pub intent: Option<String>,
}

/// The messages up to `to` of the conversations in scope whose first message is in
/// `[from, to)`, by conversation then time — messages of the same second in the
/// order they were stored, since Meta stamps customers' messages to the second. A
/// conversation with no message (only a failed send) has one row with `inbound`
/// false.
pub(crate) fn funnel_rows(
    conn: &Conn<'_>,
    tenant: &str,
    (from, to): (i64, i64),
    scope: &Scope,
) -> Result<Vec<FunnelRow>, StoreError> {
    let intent = conn.pick(
        "json_extract(m.classification, '$.intent.name')",
        "(m.classification::jsonb -> 'intent' ->> 'name')",
    );
    let mut cond = String::new();
    let (mut texts, mut ints) = (Vec::new(), Vec::new());
    let mut n = 4;
    if let Some(p) = &scope.phone_number_id {
        cond.push_str(&format!(" AND c.phone_number_id = ?{n}"));
        texts.push(p.clone());
        n += 1;
    }
    for (col, v) in [
        ("c.assignee_team", scope.team),
        ("c.assignee_person", scope.person),
    ] {
        if let Some(v) = v {
            cond.push_str(&format!(" AND {col} = ?{n}"));
            ints.push(v);
            n += 1;
        }
    }
    let sql = format!(
        "SELECT c.id, c.contact_id, c.first_message_at, m.direction, {intent}
         FROM conversations c
         LEFT JOIN messages m ON m.conversation_id = c.id AND m.timestamp < ?3
         WHERE c.tenant_id = ?1 AND c.first_message_at >= ?2 AND c.first_message_at < ?3{cond}
         ORDER BY c.id, m.timestamp / 1000, m.id"
    );
    scoped(conn, &sql, tenant, (from, to), &texts, &ints, |r| {
        Ok(FunnelRow {
            conversation_id: r.get(0)?,
            contact_id: r.get(1)?,
            first_at: r.get(2)?,
            inbound: r.get::<Option<String>>(3)?.as_deref() == Some("inbound"),
            intent: r.get(4)?,
        })
    })
}

/// A customer whose first order was placed in the range.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FirstOrderRow {
    /// The contact.
    pub contact_id: i64,
    /// Their first contact (first message either way on any number), Unix ms.
    pub first_contact: Option<i64>,
    /// Their first order, Unix ms.
    pub placed_at: i64,
    /// A video went to them within 24 h of the first contact.
    pub video_in_24h: bool,
}

/// The customers whose first order (of any source and state) was placed in
/// `[from, to)`.
pub(crate) fn first_orders(
    conn: &Conn<'_>,
    tenant: &str,
    (from, to): (i64, i64),
) -> Result<Vec<FirstOrderRow>, StoreError> {
    conn.query(
        "WITH firsts AS (
             SELECT o.contact_id, MIN(o.placed_at) AS placed_at FROM orders o
              WHERE o.tenant_id = ?1 AND o.placed_at >= ?2 AND o.placed_at < ?3
                AND NOT EXISTS (SELECT 1 FROM orders p WHERE p.tenant_id = ?1
                                  AND p.contact_id = o.contact_id AND p.placed_at < ?2)
              GROUP BY o.contact_id),
         known AS (
             -- A join, not a correlated MIN: SQLite would walk the first-message
             -- index for each customer instead of their conversations.
             SELECT f.contact_id, f.placed_at, MIN(c.first_message_at) AS first_contact
             FROM firsts f LEFT JOIN conversations c ON c.tenant_id = ?1 AND c.contact_id = f.contact_id
             GROUP BY f.contact_id, f.placed_at)
         SELECT k.contact_id, k.first_contact, k.placed_at,
                CASE WHEN EXISTS (
                    SELECT 1 FROM conversations c JOIN messages m ON m.conversation_id = c.id
                     WHERE c.tenant_id = ?1 AND c.contact_id = k.contact_id
                       AND m.direction = 'outbound' AND m.type = 'video'
                       AND m.timestamp >= k.first_contact AND m.timestamp < k.first_contact + 86400000)
                THEN 1 ELSE 0 END
         FROM known k ORDER BY k.contact_id",
        params![tenant, from, to],
        |r| {
            Ok(FirstOrderRow {
                contact_id: r.get(0)?,
                first_contact: r.get(1)?,
                placed_at: r.get(2)?,
                video_in_24h: r.get::<i64>(3)? == 1,
            })
        },
    )
}

/// The sends of flow `flow` accepted by Meta in `[from, to)`, each with whether its
/// recipient placed an order within `window_ms` after it, oldest first.
pub(crate) fn flow_recoveries(
    conn: &Conn<'_>,
    tenant: &str,
    (from, to): (i64, i64),
    flow: &str,
    window_ms: i64,
) -> Result<Vec<bool>, StoreError> {
    let prefix = format!("flow:{flow}@%");
    conn.query(
        "SELECT CASE WHEN EXISTS (
                    SELECT 1 FROM orders r JOIN contacts c ON c.id = r.contact_id
                     WHERE r.tenant_id = o.tenant_id
                       AND (c.wa_id = o.to_wa OR c.phone_e164 = '+' || o.to_wa)
                       AND r.placed_at >= o.sent_at AND r.placed_at < o.sent_at + ?5)
                THEN 1 ELSE 0 END
         FROM outbox o
         WHERE o.tenant_id = ?1 AND o.state = 'sent' AND o.sent_at >= ?2 AND o.sent_at < ?3
           AND o.source LIKE ?4
         ORDER BY o.sent_at, o.id",
        params![tenant, from, to, prefix, window_ms],
        |r| Ok(r.get::<i64>(0)? == 1),
    )
}

/// A message the business sent, with what became of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendRow {
    /// `text`, `template`, `image`, …
    pub kind: String,
    /// The outbox's category (`service`, `marketing`, `utility`, `authentication`).
    pub category: String,
    /// Who sent it (`inbox person:4`, `campaign:7`, `flow:win-back@1`, `api`, …).
    pub source: String,
    /// The Cloud API message object as sent, JSON.
    pub body: String,
    /// The recipient, E.164 digits without "+".
    pub to_wa: String,
    /// Meta's id.
    pub wamid: Option<String>,
    /// First delivered (or read) status, Unix ms.
    pub delivered_at: Option<i64>,
    /// Read status, Unix ms.
    pub read_at: Option<i64>,
    /// Tracked links in it.
    pub links: i64,
    /// The first click on any of them, Unix ms.
    pub first_click: Option<i64>,
    /// The newest status's `pricing` object, JSON.
    pub pricing: Option<String>,
    /// The newest status's `conversation` object, JSON.
    pub conversation: Option<String>,
    /// The recipient's country, as found when the send was queued (`None` for
    /// sends queued before scrm kept it, or to a number it could not place).
    pub country: Option<String>,
}

/// The business's messages accepted by Meta in `[from, to)` (of one number, when
/// given), oldest first: one range of the outbox, where what became of each send
/// (delivered, read, links, first click, pricing) is kept as it happens.
pub(crate) fn sends(
    conn: &Conn<'_>,
    tenant: &str,
    (from, to): (i64, i64),
    number: Option<&str>,
) -> Result<Vec<SendRow>, StoreError> {
    conn.query(
        "SELECT kind, category, source, body, to_wa, wamid, delivered_at, read_at, link_count,
                first_click_at, pricing, conversation, country
           FROM outbox
          WHERE tenant_id = ?1 AND state = 'sent' AND sent_at >= ?2 AND sent_at < ?3
            AND kind <> 'read' AND (?4 IS NULL OR phone_number_id = ?4)
          ORDER BY sent_at, id",
        params![tenant, from, to, number],
        |r| {
            Ok(SendRow {
                kind: r.get(0)?,
                category: r.get(1)?,
                source: r.get(2)?,
                body: r.get(3)?,
                to_wa: r.get(4)?,
                wamid: r.get(5)?,
                delivered_at: r.get(6)?,
                read_at: r.get(7)?,
                links: r.get(8)?,
                first_click: r.get(9)?,
                pricing: r.get(10)?,
                conversation: r.get(11)?,
                country: r.get(12)?,
            })
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: i64 = 86_400_000;

    /// Contact `wa` with a conversation on number 100 first seen at `first`.
    fn customer(c: &Conn<'_>, wa: &str, first: i64) -> Result<(i64, i64), StoreError> {
        let facts = crate::contacts::ContactFacts {
            wa_id: Some(wa.into()),
            ..Default::default()
        };
        let contact = crate::contacts::upsert(c, "acme", &facts)?.id;
        let conv = c.query_one(
            "INSERT INTO conversations (tenant_id, contact_id, phone_number_id, created_at, last_message_at,
                                        first_message_at)
             VALUES ('acme', ?1, '100', 0, ?2, ?2) RETURNING id",
            params![contact, first],
            |r| r.get(0),
        )?;
        Ok((conv, contact))
    }

    fn message(
        c: &Conn<'_>,
        (conv, contact): (i64, i64),
        (wamid, kind, at): (&str, &str, i64),
        inbound: bool,
        intent: Option<&str>,
    ) -> Result<(), StoreError> {
        let class = intent
            .map(|i| serde_json::json!({"intent": {"name": i, "confidence": 0.9}}).to_string());
        c.execute(
            "INSERT INTO messages (tenant_id, conversation_id, contact_id, wamid, direction, type, timestamp,
                                   text, content, context, raw, status, created_at, classification)
             VALUES ('acme', ?1, ?2, ?3, ?4, ?5, ?6, 'x', '{}', '{}', '{}', 'received', 0, ?7)",
            params![conv, contact, wamid, if inbound { "inbound" } else { "outbound" }, kind, at, class],
        )?;
        Ok(())
    }

    fn sent(
        c: &Conn<'_>,
        (wamid, kind, at): (&str, &str, i64),
        body: &str,
    ) -> Result<i64, StoreError> {
        c.query_one(
            "INSERT INTO outbox (tenant_id, phone_number_id, to_wa, kind, category, body, source, state,
                                 not_before, wamid, created_at, updated_at, sent_at)
             VALUES ('acme', '100', '393471111111', ?1, 'marketing', ?2, 'campaign:1', 'sent', 0, ?3, ?4, ?4, ?4)
             RETURNING id",
            params![kind, body, wamid, at],
            |r| r.get(0),
        )
    }

    fn status(
        c: &Conn<'_>,
        wamid: &str,
        status: &str,
        at: i64,
        pricing: Option<&str>,
    ) -> Result<(), StoreError> {
        // As the webhook pipeline records it.
        let pricing: Option<serde_json::Value> = pricing.map(|p| serde_json::from_str(p).unwrap());
        let raw = serde_json::json!({});
        crate::messages::record_status(
            c,
            &crate::messages::NewStatus {
                tenant: "acme",
                wamid,
                status,
                timestamp: at,
                recipient_id: None,
                errors: None,
                pricing: pricing.as_ref(),
                conversation: None,
                raw: &raw,
            },
        )?;
        Ok(())
    }

    #[test]
    fn funnel_rows_first_orders_and_sends() {
        for t in crate::testing::backends() {
            let b = t.backend;
            t.db.with_conn(|c| {
                crate::testing::add_acme(c)?;
                let week = (10 * DAY, 17 * DAY);
                // First seen in the week: asked the price after our answer, then ordered.
                let a = customer(c, "391", 11 * DAY)?;
                message(c, a, ("a1", "text", 11 * DAY), true, Some("shipping"))?;
                message(c, a, ("a2", "video", 11 * DAY + 60_000), false, None)?;
                message(c, a, ("a3", "text", 12 * DAY), true, Some("price-inquiry"))?;
                message(c, a, ("a4", "text", 18 * DAY), true, None)?;
                // First seen before the week: not in its funnel.
                let old = customer(c, "392", 2 * DAY)?;
                message(c, old, ("b1", "text", 2 * DAY), true, None)?;
                message(c, old, ("b2", "text", 11 * DAY), true, None)?;
                let o = crate::orders::OrderWrite {
                    order_id: "A-1".into(),
                    source: "api".into(),
                    contact_id: a.1,
                    placed_at: Some(13 * DAY),
                    total: Some(20.0),
                    currency: Some("EUR".into()),
                    payment_method: Some("card".into()),
                    state: None,
                    at: 13 * DAY,
                };
                crate::orders::upsert(c, "acme", &o)?;

                let rows = funnel_rows(c, "acme", week, &Scope::default())?;
                assert_eq!(rows.len(), 3, "{b}: messages after the week's end are left out");
                assert!(rows.iter().all(|r| r.conversation_id == a.0 && r.first_at == 11 * DAY));
                assert_eq!(rows[2].intent.as_deref(), Some("price-inquiry"), "{b}");
                assert!(rows[0].inbound && !rows[1].inbound, "{b}");

                let firsts = first_orders(c, "acme", week)?;
                assert_eq!(firsts.len(), 1, "{b}");
                assert_eq!(firsts[0].first_contact, Some(11 * DAY));
                assert!(firsts[0].video_in_24h, "{b}");
                assert!(first_orders(c, "acme", (14 * DAY, 20 * DAY))?.is_empty());

                let mut who = customers(c, "acme", week, &Scope::default())?;
                who.sort_unstable();
                assert_eq!(who, vec![(a.1, 11 * DAY), (old.1, 11 * DAY)], "{b}");
                assert_eq!(active_conversations(c, "acme", week, &Scope::default())?, 2);

                let id = sent(c, ("s1", "template", 11 * DAY), r#"{"template":{"name":"promo"}}"#)?;
                sent(c, ("s2", "text", 12 * DAY), r#"{"text":{"body":"ciao"}}"#)?;
                status(c, "s1", "delivered", 11 * DAY + 1_000, Some(r#"{"billable":true,"pricing_model":"PMP","category":"marketing"}"#))?;
                status(c, "s1", "read", 11 * DAY + 5_000, None)?;
                let link = crate::links::NewLink {
                    token: "tok".into(),
                    url: "https://shop.example/x".into(),
                };
                crate::links::insert(c, "acme", id, "393471111111", &[link])?;
                for at in [11 * DAY + 9_000, 11 * DAY + 7_000] {
                    crate::links::record_click(c, "tok", None, at)?;
                }
                let s = sends(c, "acme", week, None)?;
                assert_eq!(s.len(), 2, "{b}");
                assert_eq!((s[0].delivered_at, s[0].read_at), (Some(11 * DAY + 1_000), Some(11 * DAY + 5_000)));
                assert_eq!((s[0].links, s[0].first_click), (1, Some(11 * DAY + 7_000)), "{b}");
                assert!(s[0].pricing.as_deref().unwrap().contains("PMP"), "{b}");
                assert_eq!((s[1].links, s[1].read_at, s[1].pricing.as_deref()), (0, None, None));
                assert!(sends(c, "acme", week, Some("200"))?.is_empty(), "{b}");
                // Win-back sends: one to Anna's number two days before her order.
                c.execute(
                    "INSERT INTO outbox (tenant_id, phone_number_id, to_wa, kind, category, body, source, state,
                                         not_before, wamid, created_at, updated_at, sent_at)
                     VALUES ('acme', '100', '391', 'template', 'marketing', '{}', 'flow:win-back@1', 'sent', 0,
                             'wb1', ?1, ?1, ?1),
                            ('acme', '100', '392', 'template', 'marketing', '{}', 'flow:win-back@1', 'sent', 0,
                             'wb2', ?1, ?1, ?1)",
                    params![11 * DAY],
                )?;
                let r = flow_recoveries(c, "acme", week, "win-back", 14 * DAY)?;
                assert_eq!(r, [true, false], "{b}");
                assert_eq!(flow_recoveries(c, "acme", week, "win-back", DAY)?, [false, false], "{b}: outside the window");
                Ok(())
            })
            .unwrap();
        }
    }
}
