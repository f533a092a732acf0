//! Tracked links: the original URL behind each token of an outbound message, the
//! clicks on them, and each tenant's tracking switch.
//!
//! A link row is written in the transaction that queues its send
//! ([`insert`]), keyed by an unguessable token the application makes; it names the
//! outbox row (and through it, once sent, the message's wamid) and the recipient. A
//! click ([`record_click`]) is tied to the recipient's contact when the host knows
//! it. The analytics read clicks per tenant and contact ([`clicks`]) and per message
//! ([`message_clicks`]).
//!
//! ```no_run
//! # async fn demo(db: scrm_store::Db) -> Result<(), scrm_store::StoreError> {
//! use scrm_store::LinkRepo;
//! let click = db
//!     .write(|s| LinkRepo::record_click(s, "q3Zk0mXv8e4Tn1bWfA7yRg", Some("Mozilla/5.0"), 1_750_000_000_000))
//!     .await?;
//! # Ok(()) }
//! ```

use crate::page::{Page, PageRequest};
use crate::params;
use crate::sql::{Conn, Row};
use crate::{StoreError, now_ms};
use serde::Serialize;

/// The longest user agent kept; longer ones are cut (they are for people to read,
/// and a client must not be able to grow a row without bound).
pub const MAX_USER_AGENT: usize = 512;

/// A link to add: its token and the URL it stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewLink {
    /// The token (URL-safe, unguessable).
    pub token: String,
    /// The original URL.
    pub url: String,
}

/// A tracked link.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TrackedLink {
    /// Its token.
    pub token: String,
    /// Its tenant.
    pub tenant_id: String,
    /// The outbox row of the message it was sent in.
    pub outbox_id: i64,
    /// The message's wamid, once Meta accepted it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wamid: Option<String>,
    /// The recipient, E.164 digits without "+".
    pub recipient: String,
    /// The original URL.
    pub url: String,
    /// When the message was queued, Unix ms.
    pub created_at: i64,
}

/// One click on a tracked link.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LinkClick {
    /// Host id (the list's cursor).
    pub id: i64,
    /// The link's token.
    pub token: String,
    /// Its tenant.
    pub tenant_id: String,
    /// The original URL.
    pub url: String,
    /// The outbox row of the message.
    pub outbox_id: i64,
    /// The message's wamid, once Meta accepted it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wamid: Option<String>,
    /// The stored message's id (see the messages list), once sent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message_id: Option<i64>,
    /// The message's recipient, E.164 digits without "+".
    pub recipient: String,
    /// The recipient's contact, when the host knows it.
    pub contact_id: Option<i64>,
    /// When, Unix ms.
    pub clicked_at: i64,
    /// The browser's `User-Agent`, cut to [`MAX_USER_AGENT`] bytes.
    pub user_agent: Option<String>,
}

/// Which clicks to list.
#[derive(Debug, Clone, Copy, Default)]
pub struct ClickFilter {
    /// Clicks of this contact only.
    pub contact_id: Option<i64>,
    /// Clicks at or after this time only, Unix ms.
    pub since: i64,
}

/// The links of one message and the clicks on them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MessageClicks {
    /// The message's outbox row (the list's cursor).
    pub outbox_id: i64,
    /// The message's wamid, once Meta accepted it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wamid: Option<String>,
    /// The stored message's id, once sent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message_id: Option<i64>,
    /// The recipient, E.164 digits without "+".
    pub recipient: String,
    /// When Meta accepted it, Unix ms.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sent_at: Option<i64>,
    /// Tracked links in it.
    pub links: i64,
    /// Of those, how many were clicked at least once.
    pub links_clicked: i64,
    /// Clicks on them in all.
    pub clicks: i64,
    /// The first click, Unix ms.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_clicked_at: Option<i64>,
    /// The last click, Unix ms.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_clicked_at: Option<i64>,
}

/// Adds the links of the send `outbox_id` to `recipient`. Call in the transaction
/// that queued the send.
///
/// # Errors
/// On database failure (a token used before is a conflict).
pub(crate) fn insert(
    conn: &Conn<'_>,
    tenant: &str,
    outbox_id: i64,
    recipient: &str,
    links: &[NewLink],
) -> Result<(), StoreError> {
    let now = now_ms();
    for l in links {
        conn.execute(
            "INSERT INTO links (token, tenant_id, outbox_id, recipient, url, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![l.token, tenant, outbox_id, recipient, l.url, now],
        )
        .map_err(|e| crate::conflict_on_unique(e, "link token", &l.token))?;
    }
    if !links.is_empty() {
        conn.execute(
            "UPDATE outbox SET link_count = link_count + ?2 WHERE id = ?1",
            params![outbox_id, links.len() as i64],
        )?;
    }
    Ok(())
}

const LINK_COLUMNS: &str =
    "l.token, l.tenant_id, l.outbox_id, o.wamid, l.recipient, l.url, l.created_at";

fn link_from_row(r: &Row<'_>) -> Result<TrackedLink, StoreError> {
    Ok(TrackedLink {
        token: r.get(0)?,
        tenant_id: r.get(1)?,
        outbox_id: r.get(2)?,
        wamid: r.get(3)?,
        recipient: r.get(4)?,
        url: r.get(5)?,
        created_at: r.get(6)?,
    })
}

/// The link behind `token`, of any tenant.
///
/// # Errors
/// On database failure.
pub(crate) fn get(conn: &Conn<'_>, token: &str) -> Result<Option<TrackedLink>, StoreError> {
    conn.query_opt(
        &format!(
            "SELECT {LINK_COLUMNS} FROM links l JOIN outbox o ON o.id = l.outbox_id
             WHERE l.token = ?1"
        ),
        params![token],
        link_from_row,
    )
}

/// The links of a tenant's send, by URL.
///
/// # Errors
/// On database failure.
pub(crate) fn for_outbox(
    conn: &Conn<'_>,
    tenant: &str,
    outbox_id: i64,
) -> Result<Vec<TrackedLink>, StoreError> {
    conn.query(
        &format!(
            "SELECT {LINK_COLUMNS} FROM links l JOIN outbox o ON o.id = l.outbox_id
             WHERE l.tenant_id = ?1 AND l.outbox_id = ?2 ORDER BY l.url, l.token"
        ),
        params![tenant, outbox_id],
        link_from_row,
    )
}

/// The contact a link's recipient is now: the contact of the message it went out
/// in, else the tenant's contact with that WhatsApp id or phone; a merged contact
/// stands for the one it was merged into.
fn recipient_contact(conn: &Conn<'_>, link: &TrackedLink) -> Result<Option<i64>, StoreError> {
    if let Some(wamid) = &link.wamid
        && let Some(id) = conn.query_opt(
            "SELECT COALESCE(c.merged_into, c.id) FROM messages m JOIN contacts c ON c.id = m.contact_id
             WHERE m.tenant_id = ?1 AND m.wamid = ?2",
            params![link.tenant_id, wamid],
            |r| r.get(0),
        )?
    {
        return Ok(Some(id));
    }
    conn.query_opt(
        "SELECT COALESCE(merged_into, id) FROM contacts WHERE tenant_id = ?1 AND wa_id = ?2
         UNION ALL
         SELECT COALESCE(merged_into, id) FROM contacts WHERE tenant_id = ?1 AND phone_e164 = '+' || ?2
         LIMIT 1",
        params![link.tenant_id, link.recipient],
        |r| r.get(0),
    )
}

/// Records a click on `token` at `at` (Unix ms) with the browser's user agent, and
/// returns it with its link's URL, message and contact; `None` for an unknown
/// token (nothing is written).
///
/// # Errors
/// On database failure.
pub(crate) fn record_click(
    conn: &Conn<'_>,
    token: &str,
    user_agent: Option<&str>,
    at: i64,
) -> Result<Option<LinkClick>, StoreError> {
    let Some(link) = get(conn, token)? else {
        return Ok(None);
    };
    let contact_id = recipient_contact(conn, &link)?;
    let user_agent = user_agent.map(|ua| cut(ua, MAX_USER_AGENT).to_owned());
    let id: i64 = conn.query_one(
        "INSERT INTO link_clicks (token, tenant_id, contact_id, clicked_at, user_agent)
         VALUES (?1, ?2, ?3, ?4, ?5) RETURNING id",
        params![link.token, link.tenant_id, contact_id, at, user_agent],
        |r| r.get(0),
    )?;
    conn.execute(
        "UPDATE outbox SET first_click_at = least(first_click_at, ?2) WHERE id = ?1",
        params![link.outbox_id, at],
    )?;
    let message_id = match &link.wamid {
        Some(wamid) => conn.query_opt(
            "SELECT id FROM messages WHERE tenant_id = ?1 AND wamid = ?2",
            params![link.tenant_id, wamid],
            |r| r.get(0),
        )?,
        None => None,
    };
    Ok(Some(LinkClick {
        id,
        token: link.token,
        tenant_id: link.tenant_id,
        url: link.url,
        outbox_id: link.outbox_id,
        wamid: link.wamid,
        message_id,
        recipient: link.recipient,
        contact_id,
        clicked_at: at,
        user_agent,
    }))
}

/// `s` cut to at most `max` bytes, at a character boundary.
fn cut(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// One page of a tenant's clicks, oldest first, filtered by contact and time.
///
/// # Errors
/// On database failure.
pub(crate) fn clicks(
    conn: &Conn<'_>,
    tenant: &str,
    filter: ClickFilter,
    page: PageRequest,
) -> Result<Page<LinkClick>, StoreError> {
    let rows = conn.query(
        "SELECT k.id, k.token, k.tenant_id, l.url, l.outbox_id, o.wamid, m.id, l.recipient,
                k.contact_id, k.clicked_at, k.user_agent
         FROM link_clicks k
         JOIN links l ON l.token = k.token
         JOIN outbox o ON o.id = l.outbox_id
         LEFT JOIN messages m ON m.tenant_id = o.tenant_id AND m.wamid = o.wamid
         WHERE k.tenant_id = ?1 AND k.id > ?2 AND k.clicked_at >= ?3
           AND (?4 IS NULL OR k.contact_id = ?4)
         ORDER BY k.id LIMIT ?5",
        params![
            tenant,
            page.after,
            filter.since,
            filter.contact_id,
            page.sql_limit()
        ],
        |r| {
            Ok(LinkClick {
                id: r.get(0)?,
                token: r.get(1)?,
                tenant_id: r.get(2)?,
                url: r.get(3)?,
                outbox_id: r.get(4)?,
                wamid: r.get(5)?,
                message_id: r.get(6)?,
                recipient: r.get(7)?,
                contact_id: r.get(8)?,
                clicked_at: r.get(9)?,
                user_agent: r.get(10)?,
            })
        },
    )?;
    Ok(Page::from_rows(rows, page, |c| c.id))
}

/// One page of a tenant's messages with tracked links queued at or after `since`
/// (Unix ms), by outbox row, each with its link and click counts (clicked or not:
/// the click-through rate needs both).
///
/// # Errors
/// On database failure.
pub(crate) fn message_clicks(
    conn: &Conn<'_>,
    tenant: &str,
    since: i64,
    page: PageRequest,
) -> Result<Page<MessageClicks>, StoreError> {
    let rows = conn.query(
        "SELECT l.outbox_id, o.wamid, m.id, l.recipient, o.sent_at,
                COUNT(DISTINCT l.token), COUNT(DISTINCT k.token), COUNT(k.id),
                MIN(k.clicked_at), MAX(k.clicked_at)
         FROM links l
         JOIN outbox o ON o.id = l.outbox_id
         LEFT JOIN messages m ON m.tenant_id = o.tenant_id AND m.wamid = o.wamid
         LEFT JOIN link_clicks k ON k.token = l.token
         WHERE l.tenant_id = ?1 AND l.outbox_id > ?2 AND l.created_at >= ?3
         GROUP BY l.outbox_id, o.wamid, m.id, l.recipient, o.sent_at
         ORDER BY l.outbox_id LIMIT ?4",
        params![tenant, page.after, since, page.sql_limit()],
        |r| {
            Ok(MessageClicks {
                outbox_id: r.get(0)?,
                wamid: r.get(1)?,
                message_id: r.get(2)?,
                recipient: r.get(3)?,
                sent_at: r.get(4)?,
                links: r.get(5)?,
                links_clicked: r.get(6)?,
                clicks: r.get(7)?,
                first_clicked_at: r.get(8)?,
                last_clicked_at: r.get(9)?,
            })
        },
    )?;
    Ok(Page::from_rows(rows, page, |m| m.outbox_id))
}

/// Whether links in `tenant`'s messages are tracked; `None` for an unknown tenant.
///
/// # Errors
/// On database failure.
pub(crate) fn tracking(conn: &Conn<'_>, tenant: &str) -> Result<Option<bool>, StoreError> {
    conn.query_opt(
        "SELECT track_links FROM tenants WHERE id = ?1",
        params![tenant],
        |r| r.get(0),
    )
}

/// Turns link tracking on or off for `tenant`; `false` when there is no such tenant.
///
/// # Errors
/// On database failure.
pub(crate) fn set_tracking(conn: &Conn<'_>, tenant: &str, on: bool) -> Result<bool, StoreError> {
    Ok(conn.execute(
        "UPDATE tenants SET track_links = ?2 WHERE id = ?1",
        params![tenant, on],
    )? == 1)
}

crate::repo! {
    /// Tracked links and their clicks.
    pub trait LinkRepo {
        /// Adds the links of the send `outbox_id` to `recipient`. Call in the
        /// transaction that queued the send.
        fn insert(tenant: &str, outbox_id: i64, recipient: &str, links: &[NewLink]) -> Result<(), StoreError>;
        /// The link behind `token`, of any tenant.
        fn get(token: &str) -> Result<Option<TrackedLink>, StoreError>;
        /// The links of a tenant's send, by URL.
        fn for_outbox(tenant: &str, outbox_id: i64) -> Result<Vec<TrackedLink>, StoreError>;
        /// Records a click on `token` at `at` (Unix ms) and returns it with its link's
        /// URL, message and contact; `None` for an unknown token (nothing is written).
        fn record_click(token: &str, user_agent: Option<&str>, at: i64) -> Result<Option<LinkClick>, StoreError>;
        /// One page of a tenant's clicks, oldest first, filtered by contact and time.
        fn clicks(tenant: &str, filter: ClickFilter, page: PageRequest) -> Result<Page<LinkClick>, StoreError>;
        /// One page of a tenant's messages with tracked links queued since `since`,
        /// each with its link and click counts.
        fn message_clicks(tenant: &str, since: i64, page: PageRequest) -> Result<Page<MessageClicks>, StoreError>;
        /// Whether links in `tenant`'s messages are tracked; `None` for an unknown tenant.
        fn tracking(tenant: &str) -> Result<Option<bool>, StoreError>;
        /// Turns link tracking on or off for `tenant`; `false` when there is no such tenant.
        fn set_tracking(tenant: &str, on: bool) -> Result<bool, StoreError>;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outbox::{NewSend, OutboxItem};
    use crate::testing::TestDb;

    fn db() -> Vec<TestDb> {
        let all = crate::testing::backends();
        for t in &all {
            t.db.with_conn(|c| {
                crate::apps::insert(c, "app", "secret", "verify")?;
                for (id, pn) in [("acme", "100"), ("beta", "200")] {
                    crate::tenants::insert(
                        c,
                        &crate::tenants::NewTenant {
                            id: id.into(),
                            app_id: "app".into(),
                            phone_number_ids: vec![pn.into()],
                            default_region: "IT".into(),
                        },
                    )?;
                }
                Ok(())
            })
            .unwrap();
        }
        all
    }

    /// Queues a text to `to` with links `tokens` (each to https://shop.example/{token}).
    fn send(c: &Conn<'_>, tenant: &str, to: &str, tokens: &[&str]) -> OutboxItem {
        let body = serde_json::json!({"type": "text", "text": {"body": "hi"}});
        let (item, _) = crate::outbox::enqueue(
            c,
            &NewSend {
                tenant,
                phone_number_id: if tenant == "acme" { "100" } else { "200" },
                to,
                kind: "text",
                category: "service",
                body: &body,
                idempotency_key: None,
                source: "api",
                not_before: 0,
                wait_reason: None,
            },
        )
        .unwrap();
        let links: Vec<NewLink> = tokens
            .iter()
            .map(|t| NewLink {
                token: (*t).into(),
                url: format!("https://shop.example/{t}"),
            })
            .collect();
        insert(c, tenant, item.id, to, &links).unwrap();
        item
    }

    /// Meta accepts `item` as `wamid`: the outbox row and the outbound message (and
    /// its contact) are stored; the contact's id.
    fn accept(c: &Conn<'_>, item: &OutboxItem, wamid: &str) -> i64 {
        crate::outbox::mark_sent(c, item.id, Some(wamid), 1_000).unwrap();
        let message = crate::outbox::record_outbound_message(c, item, wamid, None, 1_000).unwrap();
        c.query_one(
            "SELECT contact_id FROM messages WHERE id = ?1",
            params![message],
            |r| r.get(0),
        )
        .unwrap()
    }

    #[test]
    fn a_click_is_recorded_with_its_message_contact_and_user_agent() {
        for t in db() {
            eprintln!("backend: {}", t.backend);
            t.db.with_conn(|c| {
                assert_eq!(record_click(c, "nope", Some("UA"), 5)?, None);
                let item = send(c, "acme", "393471234567", &["tok1", "tok2"]);
                // Clicked before Meta's answer was recorded: no message nor contact yet.
                let early = record_click(c, "tok1", None, 2_000)?.expect("known token");
                assert_eq!((early.contact_id, early.message_id), (None, None));
                assert_eq!(early.url, "https://shop.example/tok1");

                let contact = accept(c, &item, "wamid.out1");
                let long = "Mozilla/5.0 ".repeat(100);
                let click = record_click(c, "tok2", Some(&long), 3_000)?.expect("known token");
                assert_eq!(click.tenant_id, "acme");
                assert_eq!(click.outbox_id, item.id);
                assert_eq!(click.wamid.as_deref(), Some("wamid.out1"));
                assert!(click.message_id.is_some());
                assert_eq!(click.contact_id, Some(contact));
                assert_eq!(click.recipient, "393471234567");
                assert_eq!(click.clicked_at, 3_000);
                assert_eq!(
                    click.user_agent.as_deref().map(str::len),
                    Some(MAX_USER_AGENT)
                );
                let link = get(c, "tok2")?.expect("link");
                assert_eq!(link.wamid.as_deref(), Some("wamid.out1"));
                assert_eq!(for_outbox(c, "acme", item.id)?.len(), 2);
                assert!(for_outbox(c, "beta", item.id)?.is_empty());
                // The send's row keeps its link count, first click and country.
                let kept: (i64, Option<i64>, Option<String>) = c.query_one(
                    "SELECT link_count, first_click_at, country FROM outbox WHERE id = ?1",
                    params![item.id],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                )?;
                assert_eq!(kept, (2, Some(2_000), Some("IT".to_string())));
                Ok(())
            })
            .unwrap();
        }
    }

    #[test]
    fn clicks_are_listed_per_tenant_contact_and_time() {
        for t in db() {
            eprintln!("backend: {}", t.backend);
            t.db.with_conn(|c| {
                let alice = send(c, "acme", "393471234567", &["a1"]);
                let alice_id = accept(c, &alice, "wamid.a");
                let bob = send(c, "acme", "393471234568", &["b1"]);
                let bob_id = accept(c, &bob, "wamid.b");
                let other = send(c, "beta", "393471234567", &["x1"]);
                for (token, at) in [("a1", 10), ("b1", 20), ("a1", 30), ("x1", 40)] {
                    record_click(c, token, Some("UA"), at)?;
                }
                let all = clicks(
                    c,
                    "acme",
                    ClickFilter::default(),
                    PageRequest::new(None, None),
                )?;
                assert_eq!(all.items.len(), 3, "beta's click is not acme's");
                let of_alice = ClickFilter {
                    contact_id: Some(alice_id),
                    since: 0,
                };
                let page = clicks(c, "acme", of_alice, PageRequest::new(None, Some(1)))?;
                assert_eq!(page.items.len(), 1);
                assert_eq!(page.items[0].clicked_at, 10);
                let next = PageRequest::new(page.next_after, Some(1));
                let rest = clicks(c, "acme", of_alice, next)?;
                assert_eq!(
                    rest.items.iter().map(|k| k.clicked_at).collect::<Vec<_>>(),
                    [30]
                );
                assert_eq!(rest.next_after, None);
                let recent = ClickFilter {
                    contact_id: None,
                    since: 15,
                };
                let recent = clicks(c, "acme", recent, PageRequest::new(None, None))?;
                let who: Vec<_> = recent.items.iter().map(|k| k.contact_id).collect();
                assert_eq!(who, [Some(bob_id), Some(alice_id)]);
                let beta = clicks(
                    c,
                    "beta",
                    ClickFilter::default(),
                    PageRequest::new(None, None),
                )?;
                assert_eq!(beta.items[0].outbox_id, other.id);
                assert_eq!(
                    beta.items[0].contact_id, None,
                    "beta never sent it: no contact"
                );
                Ok(())
            })
            .unwrap();
        }
    }

    #[test]
    fn message_clicks_count_links_and_clicks_of_clicked_and_unclicked_messages() {
        for t in db() {
            eprintln!("backend: {}", t.backend);
            t.db.with_conn(|c| {
                let first = send(c, "acme", "393471234567", &["m1", "m2", "m3"]);
                accept(c, &first, "wamid.m");
                let second = send(c, "acme", "393471234568", &["n1"]);
                for (token, at) in [("m1", 10), ("m1", 20), ("m2", 30)] {
                    record_click(c, token, None, at)?;
                }
                let page = message_clicks(c, "acme", 0, PageRequest::new(None, None))?;
                assert_eq!(page.items.len(), 2);
                let m = &page.items[0];
                assert_eq!(m.outbox_id, first.id);
                assert_eq!(m.wamid.as_deref(), Some("wamid.m"));
                assert!(m.message_id.is_some() && m.sent_at.is_some());
                assert_eq!((m.links, m.links_clicked, m.clicks), (3, 2, 3));
                assert_eq!(
                    (m.first_clicked_at, m.last_clicked_at),
                    (Some(10), Some(30))
                );
                let n = &page.items[1];
                assert_eq!(n.outbox_id, second.id);
                assert_eq!((n.links, n.links_clicked, n.clicks), (1, 0, 0));
                assert_eq!((n.wamid.as_ref(), n.first_clicked_at), (None, None));
                let later =
                    message_clicks(c, "acme", now_ms() + 60_000, PageRequest::new(None, None))?;
                assert!(later.items.is_empty());
                assert!(
                    message_clicks(c, "beta", 0, PageRequest::new(None, None))?
                        .items
                        .is_empty()
                );
                Ok(())
            })
            .unwrap();
        }
    }

    #[test]
    fn tracking_is_on_by_default_and_can_be_turned_off_per_tenant() {
        for t in db() {
            eprintln!("backend: {}", t.backend);
            t.db.with_conn(|c| {
                assert_eq!(tracking(c, "acme")?, Some(true));
                assert!(set_tracking(c, "acme", false)?);
                assert_eq!(tracking(c, "acme")?, Some(false));
                assert_eq!(tracking(c, "beta")?, Some(true));
                assert!(set_tracking(c, "acme", true)?);
                assert_eq!(tracking(c, "acme")?, Some(true));
                assert_eq!(tracking(c, "nobody")?, None);
                assert!(!set_tracking(c, "nobody", false)?);
                Ok(())
            })
            .unwrap();
        }
    }

    #[test]
    fn a_token_names_one_link_only() {
        for t in db() {
            eprintln!("backend: {}", t.backend);
            t.db.with_conn(|c| {
                let item = send(c, "acme", "393471234567", &["same"]);
                let again = NewLink {
                    token: "same".into(),
                    url: "https://elsewhere.example/".into(),
                };
                let err = c
                    .tx(|tx| insert(tx, "acme", item.id, "393471234567", &[again]))
                    .unwrap_err();
                assert!(matches!(err, StoreError::Conflict { .. }), "{err}");
                assert_eq!(
                    get(c, "same")?.expect("link").url,
                    "https://shop.example/same"
                );
                Ok(())
            })
            .unwrap();
        }
    }
}
