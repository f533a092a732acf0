//! Account-level events: notifications on webhook fields other than `messages`
//! (template status, quality and category updates, number quality, account updates,
//! user marketing preferences) and change-level errors, one row per item.
//!
//! Each event belongs to the tenant that owns its phone number id when Meta sends one;
//! otherwise to the one tenant seen under its display number or its WhatsApp Business
//! Account (learned from routed webhooks, [`learn_number`]); otherwise to the app
//! alone (`tenant_id` NULL). Redeliveries are stored once ([`dedupe_key`]).

use super::page::{Page, PageRequest};
use super::{StoreError, now_ms, tenants};
use crate::params;
use crate::sql::Conn;
use serde::Serialize;
use sha2::{Digest, Sha256};

/// An event as stored and served.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct AccountEvent {
    /// Host id (the page cursor).
    pub id: i64,
    /// The Meta app it came through.
    pub app_id: String,
    /// The tenant it belongs to; `None` for app-level events.
    pub tenant_id: Option<String>,
    /// The WhatsApp Business Account id.
    pub waba_id: String,
    /// The business phone number id, when Meta gave one.
    pub phone_number_id: Option<String>,
    /// The webhook field, e.g. `message_template_status_update`.
    pub field: String,
    /// The items array it came from (`user_preferences`, `errors`), else the field.
    pub kind: String,
    /// The headline: `APPROVED`, `FLAGGED`, a new quality score, `stop`, an error code…
    pub event: Option<String>,
    /// What it is about: a template name, a user's wa_id, a display number.
    pub subject: Option<String>,
    /// Meta's timestamp for it, Unix ms.
    pub occurred_at: Option<i64>,
    /// The item exactly as received.
    pub raw: serde_json::Value,
    /// When it was stored, Unix ms.
    pub created_at: i64,
}

/// An event to store.
#[derive(Debug, Clone)]
pub struct NewAccountEvent<'a> {
    /// The Meta app it came through.
    pub app_id: &'a str,
    /// The tenant, if resolved.
    pub tenant: Option<&'a str>,
    /// The WhatsApp Business Account id.
    pub waba_id: &'a str,
    /// The business phone number id, if given.
    pub phone_number_id: Option<&'a str>,
    /// The webhook field.
    pub field: &'a str,
    /// The items array it came from, else the field.
    pub kind: &'a str,
    /// The headline.
    pub event: Option<&'a str>,
    /// What it is about.
    pub subject: Option<&'a str>,
    /// Meta's timestamp, Unix ms.
    pub occurred_at: Option<i64>,
    /// The item as received.
    pub raw: &'a serde_json::Value,
    /// See [`dedupe_key`].
    pub dedupe_key: &'a str,
    /// The inbox row it came in.
    pub inbox_id: i64,
}

/// The key that makes a redelivered event a duplicate: a SHA-256 over its field,
/// account, `entry[].time`, kind and item. Two genuinely separate events differ in
/// their time or content.
pub fn dedupe_key(
    field: &str,
    waba_id: &str,
    entry_time: Option<i64>,
    kind: &str,
    raw: &serde_json::Value,
) -> String {
    let mut hash = Sha256::new();
    for part in [
        field,
        waba_id,
        &entry_time.map(|t| t.to_string()).unwrap_or_default(),
        kind,
        &raw.to_string(),
    ] {
        hash.update(part.as_bytes());
        hash.update([0]);
    }
    format!("{:x}", hash.finalize())
}

/// Stores an event once; its id, or `None` when it was stored already.
///
/// # Errors
/// On database failure.
pub(crate) fn insert(conn: &Conn<'_>, e: &NewAccountEvent<'_>) -> Result<Option<i64>, StoreError> {
    conn
        .query_opt("INSERT INTO account_events (app_id, tenant_id, waba_id, phone_number_id, field, kind, event,
                                         subject, occurred_at, raw, dedupe_key, inbox_id, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)
             ON CONFLICT (app_id, dedupe_key) DO NOTHING
             RETURNING id", params![
            e.app_id,
            e.tenant,
            e.waba_id,
            e.phone_number_id,
            e.field,
            e.kind,
            e.event,
            e.subject,
            e.occurred_at,
            e.raw.to_string(),
            e.dedupe_key,
            e.inbox_id,
            now_ms()
        ], |r| r.get(0))
}

/// True when the tenant has an event of `field` about `subject` that Meta timed after
/// `occurred_at` — a later preference that an out-of-order older one must not undo.
///
/// # Errors
/// On database failure.
pub(crate) fn newer_exists(
    conn: &Conn<'_>,
    tenant: &str,
    field: &str,
    subject: &str,
    occurred_at: i64,
) -> Result<bool, StoreError> {
    conn.query_one(
        "SELECT EXISTS (SELECT 1 FROM account_events
             WHERE tenant_id = ?1 AND field = ?2 AND subject = ?3 AND occurred_at > ?4)",
        params![tenant, field, subject, occurred_at],
        |r| r.get(0),
    )
}

/// Remembers that `phone_number_id` (owned by `tenant`) was seen under `waba_id` with
/// `display` as its display number, so account-level events can find the tenant.
///
/// # Errors
/// On database failure.
pub(crate) fn learn_number(
    conn: &Conn<'_>,
    app_id: &str,
    phone_number_id: &str,
    waba_id: &str,
    display: Option<&str>,
    tenant: &str,
) -> Result<(), StoreError> {
    if waba_id.is_empty() {
        return Ok(());
    }
    // Nearly always known and unchanged: look first, without a lock. (An upsert that
    // changes nothing still locks the row to the end of the transaction, which
    // serialises every worker and host processing that number's messages.)
    let known = conn.query_opt(
        "SELECT waba_id, display_phone_number, tenant_id FROM waba_numbers
         WHERE app_id = ?1 AND phone_number_id = ?2",
        params![app_id, phone_number_id],
        |r| {
            Ok((
                r.get::<String>(0)?,
                r.get::<Option<String>>(1)?,
                r.get::<Option<String>>(2)?,
            ))
        },
    )?;
    if let Some((w, d, t)) = known
        && w == waba_id
        && (display.is_none() || d.as_deref() == display)
        && t.as_deref() == Some(tenant)
    {
        return Ok(());
    }
    conn.execute("INSERT INTO waba_numbers (app_id, phone_number_id, waba_id, display_phone_number, tenant_id)
         VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (app_id, phone_number_id) DO UPDATE SET
             waba_id = excluded.waba_id,
             display_phone_number = COALESCE(excluded.display_phone_number, waba_numbers.display_phone_number),
             tenant_id = excluded.tenant_id
         WHERE waba_numbers.waba_id IS DISTINCT FROM excluded.waba_id
            OR waba_numbers.display_phone_number IS DISTINCT FROM
               COALESCE(excluded.display_phone_number, waba_numbers.display_phone_number)
            OR waba_numbers.tenant_id IS DISTINCT FROM excluded.tenant_id", params![app_id, phone_number_id, waba_id, display, tenant])?;
    Ok(())
}

/// The tenant an account-level event belongs to: the owner of its phone number id;
/// else the one tenant seen with its display number under this app; else the one
/// tenant seen under its WhatsApp Business Account; else the one whose template sync
/// recorded that account. `None` (an app-level event) when none or several match.
///
/// # Errors
/// On database failure.
pub(crate) fn resolve_tenant(
    conn: &Conn<'_>,
    app_id: &str,
    waba_id: &str,
    phone_number_id: Option<&str>,
    display: Option<&str>,
) -> Result<Option<String>, StoreError> {
    if let Some(pnid) = phone_number_id
        && let Some((tenant, _)) = tenants::route(conn, app_id, pnid)?
    {
        return Ok(Some(tenant));
    }
    let only = |sql: &str, key: &str| -> Result<Option<String>, StoreError> {
        let tenants = conn.query(sql, params![app_id, key], |r| r.get::<String>(0))?;
        Ok(match tenants.as_slice() {
            [one] => Some(one.clone()),
            _ => None,
        })
    };
    if let Some(display) = display
        && let Some(tenant) = only(
            "SELECT DISTINCT tenant_id FROM waba_numbers WHERE app_id = ?1 AND display_phone_number = ?2 LIMIT 2",
            display,
        )?
    {
        return Ok(Some(tenant));
    }
    if waba_id.is_empty() {
        return Ok(None);
    }
    if let Some(tenant) = only(
        "SELECT DISTINCT tenant_id FROM waba_numbers WHERE app_id = ?1 AND waba_id = ?2 LIMIT 2",
        waba_id,
    )? {
        return Ok(Some(tenant));
    }
    // The account a template sync (or creation) recorded, before any message came.
    only(
        "SELECT id FROM tenants WHERE app_id = ?1 AND waba_id = ?2 LIMIT 2",
        waba_id,
    )
}

/// Whose events to list.
#[derive(Debug, Clone, Copy)]
pub enum Owner<'a> {
    /// A tenant's events.
    Tenant(&'a str),
    /// An app's events that no tenant owns.
    App(&'a str),
}

/// One page of events, oldest stored first, optionally of one `field` only.
///
/// # Errors
/// On database failure or unreadable stored JSON.
pub(crate) fn list(
    conn: &Conn<'_>,
    owner: Owner<'_>,
    field: Option<&str>,
    page: PageRequest,
) -> Result<Page<AccountEvent>, StoreError> {
    const COLUMNS: &str =
        "id, app_id, tenant_id, waba_id, phone_number_id, field, kind, event, subject,
                           occurred_at, raw, created_at";
    let (sql, key) = match owner {
        Owner::Tenant(tenant) => (
            format!(
                "SELECT {COLUMNS} FROM account_events WHERE tenant_id = ?1 AND id > ?2
                 AND (?3 IS NULL OR field = ?3) ORDER BY id LIMIT ?4"
            ),
            tenant,
        ),
        Owner::App(app) => (
            format!(
                "SELECT {COLUMNS} FROM account_events WHERE app_id = ?1 AND tenant_id IS NULL AND id > ?2
                 AND (?3 IS NULL OR field = ?3) ORDER BY id LIMIT ?4"
            ),
            app,
        ),
    };

    let rows = conn.query(
        &sql,
        params![key, page.after, field, page.sql_limit()],
        |r| {
            Ok((
                AccountEvent {
                    id: r.get(0)?,
                    app_id: r.get(1)?,
                    tenant_id: r.get(2)?,
                    waba_id: r.get(3)?,
                    phone_number_id: r.get(4)?,
                    field: r.get(5)?,
                    kind: r.get(6)?,
                    event: r.get(7)?,
                    subject: r.get(8)?,
                    occurred_at: r.get(9)?,
                    raw: serde_json::Value::Null,
                    created_at: r.get(11)?,
                },
                r.get::<String>(10)?,
            ))
        },
    )?;
    let items = rows
        .into_iter()
        .map(|(mut event, raw)| {
            event.raw = serde_json::from_str(&raw)?;
            Ok(event)
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    Ok(Page::from_rows(items, page, |e| e.id))
}

crate::repo! {
    /// Raw webhook events and their processing state.
    pub trait EventRepo {
        /// Stores an event once; its id, or `None` when it was stored already.
        fn insert(e: &NewAccountEvent<'_>) -> Result<Option<i64>, StoreError>;
        /// True when the tenant has an event of `field` about `subject` that Meta timed after
        /// `occurred_at` — a later preference that an out-of-order older one must not undo.
        fn newer_exists(tenant: &str, field: &str, subject: &str, occurred_at: i64) -> Result<bool, StoreError>;
        /// Remembers that `phone_number_id` (owned by `tenant`) was seen under `waba_id` with
        /// `display` as its display number, so account-level events can find the tenant.
        fn learn_number(app_id: &str, phone_number_id: &str, waba_id: &str, display: Option<&str>, tenant: &str) -> Result<(), StoreError>;
        /// The tenant an account-level event belongs to: the owner of its phone number id;
        /// else the one tenant seen with its display number under this app; else the one
        /// tenant seen under its WhatsApp Business Account. `None` (an app-level event) when
        /// none or several match.
        fn resolve_tenant(app_id: &str, waba_id: &str, phone_number_id: Option<&str>, display: Option<&str>) -> Result<Option<String>, StoreError>;
        /// One page of events, oldest stored first, optionally of one `field` only.
        fn list(owner: Owner<'_>, field: Option<&str>, page: PageRequest) -> Result<Page<AccountEvent>, StoreError>;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn db() -> Vec<crate::testing::TestDb> {
        let all = crate::testing::backends();
        for t in &all {
            let db = &t.db;
            db.with_conn(|c| {
                crate::apps::insert(c, "app", "secret", "verify")?;
                for (id, pnid) in [("acme", "100"), ("beta", "200"), ("gamma", "300")] {
                    tenants::insert(
                        c,
                        &tenants::NewTenant {
                            id: id.into(),
                            app_id: "app".into(),
                            phone_number_ids: vec![pnid.into()],
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

    #[test]
    fn tenant_is_resolved_by_number_then_display_then_single_account() {
        for t in db() {
            let db = &t.db;
            eprintln!("backend: {}", t.backend);
            db.with_conn(|c| {
                learn_number(c, "app", "100", "waba-1", Some("15550001"), "acme")?;
                learn_number(c, "app", "200", "waba-2", Some("15550002"), "beta")?;
                learn_number(c, "app", "300", "waba-2", Some("15550003"), "gamma")?;
                let r = |pnid, display, waba| resolve_tenant(c, "app", waba, pnid, display);
                assert_eq!(r(Some("200"), None, "waba-1")?.as_deref(), Some("beta"));
                assert_eq!(
                    r(None, Some("15550003"), "waba-2")?.as_deref(),
                    Some("gamma")
                );
                assert_eq!(r(None, None, "waba-1")?.as_deref(), Some("acme"));
                // Two tenants share waba-2: an event naming only the account is app-level.
                assert_eq!(r(None, None, "waba-2")?, None);
                assert_eq!(r(None, None, "waba-unknown")?, None);
                assert_eq!(r(Some("999"), Some("0"), "")?, None);
                // Another app never sees these routes.
                assert_eq!(resolve_tenant(c, "other", "waba-1", None, None)?, None);
                Ok(())
            })
            .unwrap();
        }
    }

    #[test]
    fn redelivered_events_are_stored_once_and_listed_by_owner_and_field() {
        for t in db() {
            let db = &t.db;
            eprintln!("backend: {}", t.backend);
            db.with_conn(|c| {
                let raw = json!({"event": "APPROVED", "message_template_name": "welcome"});
                let key = dedupe_key("message_template_status_update", "w", Some(5), "k", &raw);
                let event = NewAccountEvent {
                    app_id: "app",
                    tenant: Some("acme"),
                    waba_id: "w",
                    phone_number_id: None,
                    field: "message_template_status_update",
                    kind: "message_template_status_update",
                    event: Some("APPROVED"),
                    subject: Some("welcome"),
                    occurred_at: Some(5_000),
                    raw: &raw,
                    dedupe_key: &key,
                    inbox_id: 1,
                };
                assert!(insert(c, &event)?.is_some());
                assert_eq!(insert(c, &event)?, None, "a redelivery is a duplicate");
                let later = dedupe_key("message_template_status_update", "w", Some(6), "k", &raw);
                assert_ne!(key, later, "the same item at another time is another event");
                let app_level = NewAccountEvent {
                    tenant: None,
                    field: "account_update",
                    dedupe_key: &later,
                    ..event.clone()
                };
                insert(c, &app_level)?;
                let page = PageRequest::new(None, None);
                let acme = list(c, Owner::Tenant("acme"), None, page)?;
                assert_eq!(acme.items.len(), 1);
                assert_eq!(acme.items[0].raw, raw);
                assert_eq!(acme.items[0].subject.as_deref(), Some("welcome"));
                let filtered = list(c, Owner::Tenant("acme"), Some("account_update"), page)?;
                assert!(filtered.items.is_empty());
                let app = list(c, Owner::App("app"), None, page)?;
                assert_eq!(app.items.len(), 1);
                assert_eq!(app.items[0].field, "account_update");
                assert_eq!(app.items[0].tenant_id, None);
                Ok(())
            })
            .unwrap();
        }
    }

    #[test]
    fn newer_preference_is_found_only_when_later() {
        for t in db() {
            let db = &t.db;
            eprintln!("backend: {}", t.backend);
            db.with_conn(|c| {
                let raw = json!({"wa_id": "39", "value": "resume"});
                let key = dedupe_key("user_preferences", "w", None, "user_preferences", &raw);
                insert(
                    c,
                    &NewAccountEvent {
                        app_id: "app",
                        tenant: Some("acme"),
                        waba_id: "w",
                        phone_number_id: Some("100"),
                        field: "user_preferences",
                        kind: "user_preferences",
                        event: Some("resume"),
                        subject: Some("39"),
                        occurred_at: Some(2_000),
                        raw: &raw,
                        dedupe_key: &key,
                        inbox_id: 1,
                    },
                )?;
                assert!(newer_exists(c, "acme", "user_preferences", "39", 1_000)?);
                assert!(!newer_exists(c, "acme", "user_preferences", "39", 2_000)?);
                assert!(!newer_exists(c, "acme", "user_preferences", "40", 1_000)?);
                assert!(!newer_exists(c, "beta", "user_preferences", "39", 1_000)?);
                Ok(())
            })
            .unwrap();
        }
    }
}
