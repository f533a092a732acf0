//! What people log into the web inbox with: sessions (kept by the SHA-256 of the
//! cookie's id, with the CSRF token of the pages), one-time login links, and failed
//! attempts for rate limiting. The application makes the secrets and hashes them.

use crate::params;
use crate::people::{Person, Role};
use crate::sql::Conn;
use crate::{StoreError, now_ms};

/// A live session: its person and CSRF token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// The tenant.
    pub tenant_id: String,
    /// The person.
    pub person_id: i64,
    /// Their current role.
    pub role: Role,
    /// Their name.
    pub name: String,
    /// The CSRF token the pages send back.
    pub csrf: String,
    /// When it ends, Unix ms.
    pub expires_at: i64,
}

pub(crate) fn create_session(
    conn: &Conn<'_>,
    sha256: &str,
    person: &Person,
    csrf: &str,
    expires_at: i64,
    remote_addr: Option<&str>,
) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO sessions (id_sha256, tenant_id, person_id, csrf, created_at, expires_at, remote_addr)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![sha256, person.tenant_id, person.id, csrf, now_ms(), expires_at, remote_addr],
    )?;
    Ok(())
}

/// The live session with this id hash: not expired, its person not disabled.
pub(crate) fn session(
    conn: &Conn<'_>,
    sha256: &str,
    now: i64,
) -> Result<Option<Session>, StoreError> {
    conn.query_opt(
        "SELECT s.tenant_id, s.person_id, p.role, p.name, s.csrf, s.expires_at
         FROM sessions s JOIN people p ON p.id = s.person_id
         WHERE s.id_sha256 = ?1 AND s.expires_at > ?2 AND p.disabled_at IS NULL",
        params![sha256, now],
        |r| {
            let role: String = r.get(2)?;
            Ok(Session {
                tenant_id: r.get(0)?,
                person_id: r.get(1)?,
                role: Role::parse(&role)
                    .ok_or_else(|| StoreError::Column(format!("unknown role {role:?}")))?,
                name: r.get(3)?,
                csrf: r.get(4)?,
                expires_at: r.get(5)?,
            })
        },
    )
}

pub(crate) fn end_session(conn: &Conn<'_>, sha256: &str) -> Result<(), StoreError> {
    conn.execute("DELETE FROM sessions WHERE id_sha256 = ?1", params![sha256])?;
    Ok(())
}

pub(crate) fn add_login_link(
    conn: &Conn<'_>,
    sha256: &str,
    tenant: &str,
    person: i64,
    expires_at: i64,
) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO login_links (token_sha256, tenant_id, person_id, created_at, expires_at)
         VALUES (?1, ?2, ?3, ?4, ?5)",
        params![sha256, tenant, person, now_ms(), expires_at],
    )?;
    Ok(())
}

/// Uses the login link with this hash once: its person, when it is unused, not
/// expired, and the person is not disabled.
pub(crate) fn use_login_link(
    conn: &Conn<'_>,
    sha256: &str,
    now: i64,
) -> Result<Option<Person>, StoreError> {
    let found: Option<(String, i64)> = conn.query_opt(
        "UPDATE login_links SET used_at = ?2
         WHERE token_sha256 = ?1 AND used_at IS NULL AND expires_at > ?2
         RETURNING tenant_id, person_id",
        params![sha256, now],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    let Some((tenant, person)) = found else {
        return Ok(None);
    };
    Ok(crate::people::person(conn, &tenant, person)?.filter(|p| p.disabled_at.is_none()))
}

pub(crate) fn login_failed(conn: &Conn<'_>, keys: &[&str], at: i64) -> Result<(), StoreError> {
    for key in keys {
        conn.execute(
            "INSERT INTO login_failures (key, at) VALUES (?1, ?2)",
            params![key, at],
        )?;
    }
    Ok(())
}

/// Failed attempts under `key` since `since`.
pub(crate) fn login_failures(conn: &Conn<'_>, key: &str, since: i64) -> Result<i64, StoreError> {
    conn.query_one(
        "SELECT COUNT(*) FROM login_failures WHERE key = ?1 AND at > ?2",
        params![key, since],
        |r| r.get(0),
    )
}

/// Forgets the failed attempts under `key` (after a successful login).
pub(crate) fn clear_login_failures(conn: &Conn<'_>, key: &str) -> Result<(), StoreError> {
    conn.execute("DELETE FROM login_failures WHERE key = ?1", params![key])?;
    Ok(())
}

/// Failed logins are kept this long (the rate limit looks back 15 minutes; the rest
/// is for whoever looks into an attack), ms.
pub const LOGIN_FAILURES_KEPT_MS: i64 = 24 * 3_600_000;

/// Deletes what can no longer be used: sessions and login links past their expiry
/// (a used link is refused until then, as used), and failed logins older than
/// [`LOGIN_FAILURES_KEPT_MS`]. How many rows went.
pub(crate) fn purge_sessions(conn: &Conn<'_>, now: i64) -> Result<usize, StoreError> {
    let sessions = conn.execute("DELETE FROM sessions WHERE expires_at <= ?1", params![now])?;
    let links = conn.execute(
        "DELETE FROM login_links WHERE expires_at <= ?1",
        params![now],
    )?;
    let failures = conn.execute(
        "DELETE FROM login_failures WHERE at < ?1",
        params![now - LOGIN_FAILURES_KEPT_MS],
    )?;
    Ok(sessions + links + failures)
}

crate::repo! {
    /// Web inbox sessions, login links and failed logins.
    pub trait SessionRepo {
        /// Stores a session of `person`.
        fn create_session(sha256: &str, person: &Person, csrf: &str, expires_at: i64, remote_addr: Option<&str>) -> Result<(), StoreError>;
        /// The live session with this id hash.
        fn session(sha256: &str, now: i64) -> Result<Option<Session>, StoreError>;
        /// Ends a session.
        fn end_session(sha256: &str) -> Result<(), StoreError>;
        /// Stores a one-time login link.
        fn add_login_link(sha256: &str, tenant: &str, person: i64, expires_at: i64) -> Result<(), StoreError>;
        /// Uses a login link once; its person.
        fn use_login_link(sha256: &str, now: i64) -> Result<Option<Person>, StoreError>;
        /// Records a failed login under each key.
        fn login_failed(keys: &[&str], at: i64) -> Result<(), StoreError>;
        /// Failed logins under `key` since `since`.
        fn login_failures(key: &str, since: i64) -> Result<i64, StoreError>;
        /// Forgets the failed logins under `key`.
        fn clear_login_failures(key: &str) -> Result<(), StoreError>;
        /// Deletes expired sessions and login links and old failed logins; how many.
        fn purge_sessions(now: i64) -> Result<usize, StoreError>;
        /// The newest message and status ids of a tenant.
        fn change_marks(tenant: &str) -> Result<(i64, i64, i64), StoreError>;
    }
}

/// The newest message id, status id and call update of a tenant (0 when none): what
/// changes when a message arrives, a status moves or a call rings or ends, for the
/// web inbox's live updates.
///
/// # Errors
/// On database failure.
pub(crate) fn change_marks(conn: &Conn<'_>, tenant: &str) -> Result<(i64, i64, i64), StoreError> {
    conn.query_one(
        "SELECT COALESCE((SELECT MAX(id) FROM messages WHERE tenant_id = ?1), 0),
                COALESCE((SELECT MAX(id) FROM message_statuses WHERE tenant_id = ?1), 0),
                COALESCE((SELECT MAX(updated_at) FROM calls WHERE tenant_id = ?1), 0)",
        params![tenant],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::people::NewPerson;

    #[test]
    fn expired_sessions_links_and_old_failures_are_purged() {
        for test in crate::testing::backends() {
            let counts = test
                .db
                .with_conn(|c| {
                    crate::testing::add_acme(c)?;
                    let p = crate::people::add_person(
                        c,
                        "acme",
                        &NewPerson {
                            email: "giulia@acme.example".into(),
                            name: "Giulia".into(),
                            role: Role::Agent,
                            password_hash: None,
                        },
                    )?;
                    let now = 10 * LOGIN_FAILURES_KEPT_MS;
                    create_session(c, "old", &p, "x", now - 1, None)?;
                    create_session(c, "live", &p, "x", now + 1, None)?;
                    add_login_link(c, "old-link", "acme", p.id, now - 1)?;
                    add_login_link(c, "live-link", "acme", p.id, now + 1)?;
                    login_failed(c, &["k"], now - LOGIN_FAILURES_KEPT_MS - 1)?;
                    login_failed(c, &["k"], now - 1)?;
                    let purged = purge_sessions(c, now)?;
                    let again = purge_sessions(c, now)?;
                    Ok((
                        purged,
                        again,
                        session(c, "live", now)?.is_some(),
                        use_login_link(c, "live-link", now)?.is_some(),
                        login_failures(c, "k", 0)?,
                    ))
                })
                .unwrap();
            assert_eq!(counts, (3, 0, true, true, 1), "{}", test.backend);
        }
    }
}
