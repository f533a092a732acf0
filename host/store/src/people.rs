//! The people of a tenant and what they sign in with: people (agents, managers,
//! admins) with an optional password hash, teams, API tokens scoped to the tenant (a
//! role, or a person), and the audit log of admin actions.
//!
//! The store keeps what it is given: the application hashes passwords (argon2) and
//! tokens (SHA-256) before they get here, and never stores a token itself.
//!
//! ```no_run
//! # async fn demo(db: scrm_store::Db) -> Result<(), scrm_store::StoreError> {
//! use scrm_store::PeopleRepo;
//! use scrm_store::people::{NewPerson, Role};
//! let person = db
//!     .write(|s| {
//!         s.add_person("acme", &NewPerson {
//!             email: "giulia@acme.example".into(),
//!             name: "Giulia".into(),
//!             role: Role::Agent,
//!             password_hash: None,
//!         })
//!     })
//!     .await?;
//! # Ok(()) }
//! ```

use crate::params;
use crate::sql::{Conn, Row};
use crate::{StoreError, conflict_on_unique, now_ms};
use serde::Serialize;

/// What a person or token may do in its tenant; each role can do what the ones
/// before it can.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Answers the conversations assigned to them or their team.
    Agent,
    /// An agent who also sees reports, reassigns and runs campaigns.
    Manager,
    /// Manages the tenant: settings, plugins, flows, people, tokens.
    Admin,
}

impl Role {
    /// Every role, least first.
    pub const ALL: [Role; 3] = [Role::Agent, Role::Manager, Role::Admin];

    /// Its name (`agent`, `manager`, `admin`).
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Agent => "agent",
            Role::Manager => "manager",
            Role::Admin => "admin",
        }
    }

    /// The role named `s`, if any.
    pub fn parse(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

fn role_col(r: &Row<'_>, i: usize) -> Result<Role, StoreError> {
    let s: String = r.get(i)?;
    Role::parse(&s).ok_or_else(|| StoreError::Column(format!("unknown role {s:?}")))
}

/// A person to add.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewPerson {
    /// Their email, the login (kept lowercased).
    pub email: String,
    /// Their name as colleagues see it.
    pub name: String,
    /// Their role.
    pub role: Role,
    /// The argon2 PHC string of their password, if they have one.
    pub password_hash: Option<String>,
}

/// A person of a tenant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Person {
    /// Host id.
    pub id: i64,
    /// Their tenant.
    pub tenant_id: String,
    /// Their email (lowercased).
    pub email: String,
    /// Their name.
    pub name: String,
    /// Their role.
    pub role: Role,
    /// Whether a password is set.
    pub has_password: bool,
    /// The teams they belong to, by id.
    pub teams: Vec<i64>,
    /// When they were added, Unix ms.
    pub created_at: i64,
    /// When they were disabled, Unix ms.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disabled_at: Option<i64>,
    /// Whether they take new conversations now (round-robin skips those who do not).
    pub available: bool,
}

/// A team of a tenant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Team {
    /// Host id.
    pub id: i64,
    /// Its tenant.
    pub tenant_id: String,
    /// Its name, unique in the tenant.
    pub name: String,
    /// Its members, by person id.
    pub members: Vec<i64>,
    /// When it was made, Unix ms.
    pub created_at: i64,
}

/// A token to add: what it may do, and its SHA-256 (hex).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewToken {
    /// Its role (for a person's token: the person's role when it was made).
    pub role: Role,
    /// The person it acts for.
    pub person_id: Option<i64>,
    /// A name for people to recognise it by.
    pub name: String,
    /// SHA-256 of the token, hex.
    pub sha256: String,
    /// The token's first characters.
    pub prefix: String,
}

/// An API token of a tenant (never the token itself).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ApiToken {
    /// Host id.
    pub id: i64,
    /// Its tenant.
    pub tenant_id: String,
    /// Its role; for a person's token, the person's current role.
    pub role: Role,
    /// The person it acts for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub person_id: Option<i64>,
    /// Its name.
    pub name: String,
    /// The token's first characters.
    pub prefix: String,
    /// When it was made, Unix ms.
    pub created_at: i64,
    /// When it was last used, Unix ms (to the minute).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_used_at: Option<i64>,
    /// When it was revoked, Unix ms.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<i64>,
}

/// One audited action.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditEntry {
    /// Host id (the list's cursor).
    pub id: i64,
    /// The tenant it concerned, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<String>,
    /// Who: `operator`, `token:ID` or `person:ID`.
    pub actor: String,
    /// What: `secret.set`, `plugin.install`, `token.create`, …
    pub action: String,
    /// The request's path.
    pub target: String,
    /// The HTTP status answered.
    pub status: u16,
    /// Where from (the peer's address).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remote_addr: Option<String>,
    /// When, Unix ms.
    pub at: i64,
}

/// An action to audit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAudit<'a> {
    /// The tenant it concerned, if any.
    pub tenant_id: Option<&'a str>,
    /// Who.
    pub actor: &'a str,
    /// What.
    pub action: &'a str,
    /// The request's path.
    pub target: &'a str,
    /// The HTTP status answered.
    pub status: u16,
    /// Where from.
    pub remote_addr: Option<&'a str>,
}

const PERSON_COLS: &str =
    "id, tenant_id, email, name, role, CASE WHEN password_hash IS NULL THEN 0 ELSE 1 END,
     created_at, disabled_at, available";

fn person_from_row(r: &Row<'_>) -> Result<Person, StoreError> {
    Ok(Person {
        id: r.get(0)?,
        tenant_id: r.get(1)?,
        email: r.get(2)?,
        name: r.get(3)?,
        role: role_col(r, 4)?,
        has_password: r.get(5)?,
        teams: Vec::new(),
        created_at: r.get(6)?,
        disabled_at: r.get(7)?,
        available: r.get(8)?,
    })
}

fn with_teams(conn: &Conn<'_>, mut p: Person) -> Result<Person, StoreError> {
    p.teams = conn.query(
        "SELECT team_id FROM team_members WHERE person_id = ?1 ORDER BY team_id",
        params![p.id],
        |r| r.get(0),
    )?;
    Ok(p)
}

pub(crate) fn add_person(
    conn: &Conn<'_>,
    tenant: &str,
    new: &NewPerson,
) -> Result<Person, StoreError> {
    let email = new.email.trim().to_lowercase();
    let id: i64 = conn
        .query_one(
            "INSERT INTO people (tenant_id, email, name, role, password_hash, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6) RETURNING id",
            params![
                tenant,
                email,
                new.name.trim(),
                new.role.as_str(),
                new.password_hash,
                now_ms()
            ],
            |r| r.get(0),
        )
        .map_err(|e| conflict_on_unique(e, "person", &email))?;
    person(conn, tenant, id)?.ok_or(StoreError::NotFound {
        what: "person",
        id: id.to_string(),
    })
}

pub(crate) fn person(conn: &Conn<'_>, tenant: &str, id: i64) -> Result<Option<Person>, StoreError> {
    let found = conn.query_opt(
        &format!("SELECT {PERSON_COLS} FROM people WHERE tenant_id = ?1 AND id = ?2"),
        params![tenant, id],
        person_from_row,
    )?;
    found.map(|p| with_teams(conn, p)).transpose()
}

pub(crate) fn people(conn: &Conn<'_>, tenant: &str) -> Result<Vec<Person>, StoreError> {
    let all = conn.query(
        &format!("SELECT {PERSON_COLS} FROM people WHERE tenant_id = ?1 ORDER BY id"),
        params![tenant],
        person_from_row,
    )?;
    all.into_iter().map(|p| with_teams(conn, p)).collect()
}

pub(crate) fn login(
    conn: &Conn<'_>,
    tenant: &str,
    email: &str,
) -> Result<Option<(Person, Option<String>)>, StoreError> {
    let found = conn.query_opt(
        &format!(
            "SELECT {PERSON_COLS}, password_hash FROM people WHERE tenant_id = ?1 AND email = ?2"
        ),
        params![tenant, email.trim().to_lowercase()],
        |r| Ok((person_from_row(r)?, r.get::<Option<String>>(9)?)),
    )?;
    found
        .map(|(p, h)| Ok((with_teams(conn, p)?, h)))
        .transpose()
}

pub(crate) fn set_password(
    conn: &Conn<'_>,
    tenant: &str,
    id: i64,
    hash: &str,
) -> Result<bool, StoreError> {
    Ok(conn.execute(
        "UPDATE people SET password_hash = ?3 WHERE tenant_id = ?1 AND id = ?2",
        params![tenant, id, hash],
    )? == 1)
}

pub(crate) fn disable_person(conn: &Conn<'_>, tenant: &str, id: i64) -> Result<bool, StoreError> {
    let n = conn.execute(
        "UPDATE people SET disabled_at = COALESCE(disabled_at, ?3) WHERE tenant_id = ?1 AND id = ?2",
        params![tenant, id, now_ms()],
    )?;
    Ok(n == 1)
}

pub(crate) fn set_available(
    conn: &Conn<'_>,
    tenant: &str,
    id: i64,
    available: bool,
) -> Result<bool, StoreError> {
    let n = conn.execute(
        "UPDATE people SET available = ?3 WHERE tenant_id = ?1 AND id = ?2",
        params![tenant, id, available],
    )?;
    Ok(n == 1)
}

pub(crate) fn add_team(conn: &Conn<'_>, tenant: &str, name: &str) -> Result<Team, StoreError> {
    let name = name.trim();
    let id: i64 = conn
        .query_one(
            "INSERT INTO teams (tenant_id, name, created_at) VALUES (?1, ?2, ?3) RETURNING id",
            params![tenant, name, now_ms()],
            |r| r.get(0),
        )
        .map_err(|e| conflict_on_unique(e, "team", name))?;
    team(conn, tenant, id)?.ok_or(StoreError::NotFound {
        what: "team",
        id: id.to_string(),
    })
}

fn team_from_row(r: &Row<'_>) -> Result<Team, StoreError> {
    Ok(Team {
        id: r.get(0)?,
        tenant_id: r.get(1)?,
        name: r.get(2)?,
        members: Vec::new(),
        created_at: r.get(3)?,
    })
}

fn with_members(conn: &Conn<'_>, mut t: Team) -> Result<Team, StoreError> {
    t.members = conn.query(
        "SELECT person_id FROM team_members WHERE team_id = ?1 ORDER BY person_id",
        params![t.id],
        |r| r.get(0),
    )?;
    Ok(t)
}

pub(crate) fn team(conn: &Conn<'_>, tenant: &str, id: i64) -> Result<Option<Team>, StoreError> {
    let found = conn.query_opt(
        "SELECT id, tenant_id, name, created_at FROM teams WHERE tenant_id = ?1 AND id = ?2",
        params![tenant, id],
        team_from_row,
    )?;
    found.map(|t| with_members(conn, t)).transpose()
}

pub(crate) fn teams(conn: &Conn<'_>, tenant: &str) -> Result<Vec<Team>, StoreError> {
    let all = conn.query(
        "SELECT id, tenant_id, name, created_at FROM teams WHERE tenant_id = ?1 ORDER BY id",
        params![tenant],
        team_from_row,
    )?;
    all.into_iter().map(|t| with_members(conn, t)).collect()
}

/// Adds (`member` true) or removes person `person` to or from team `team`, both of
/// `tenant`; false when either is not the tenant's.
pub(crate) fn set_member(
    conn: &Conn<'_>,
    tenant: &str,
    team_id: i64,
    person_id: i64,
    member: bool,
) -> Result<bool, StoreError> {
    if team(conn, tenant, team_id)?.is_none() || person(conn, tenant, person_id)?.is_none() {
        return Ok(false);
    }
    if member {
        conn.execute(
            "INSERT INTO team_members (team_id, person_id) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
            params![team_id, person_id],
        )?;
    } else {
        conn.execute(
            "DELETE FROM team_members WHERE team_id = ?1 AND person_id = ?2",
            params![team_id, person_id],
        )?;
    }
    Ok(true)
}

const TOKEN_COLS: &str =
    "t.id, t.tenant_id, COALESCE(p.role, t.role), t.person_id, t.name, t.prefix,
     t.created_at, t.last_used_at, COALESCE(t.revoked_at, p.disabled_at)";

fn token_from_row(r: &Row<'_>) -> Result<ApiToken, StoreError> {
    Ok(ApiToken {
        id: r.get(0)?,
        tenant_id: r.get(1)?,
        role: role_col(r, 2)?,
        person_id: r.get(3)?,
        name: r.get(4)?,
        prefix: r.get(5)?,
        created_at: r.get(6)?,
        last_used_at: r.get(7)?,
        revoked_at: r.get(8)?,
    })
}

pub(crate) fn add_token(
    conn: &Conn<'_>,
    tenant: &str,
    new: &NewToken,
) -> Result<ApiToken, StoreError> {
    if let Some(p) = new.person_id
        && person(conn, tenant, p)?.is_none()
    {
        return Err(StoreError::NotFound {
            what: "person",
            id: p.to_string(),
        });
    }
    let id: i64 = conn.query_one(
        "INSERT INTO api_tokens (tenant_id, role, person_id, name, token_sha256, prefix, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) RETURNING id",
        params![tenant, new.role.as_str(), new.person_id, new.name, new.sha256, new.prefix, now_ms()],
        |r| r.get(0),
    )?;
    token(conn, tenant, id)?.ok_or(StoreError::NotFound {
        what: "token",
        id: id.to_string(),
    })
}

pub(crate) fn token(
    conn: &Conn<'_>,
    tenant: &str,
    id: i64,
) -> Result<Option<ApiToken>, StoreError> {
    conn.query_opt(
        &format!(
            "SELECT {TOKEN_COLS} FROM api_tokens t LEFT JOIN people p ON p.id = t.person_id
             WHERE t.tenant_id = ?1 AND t.id = ?2"
        ),
        params![tenant, id],
        token_from_row,
    )
}

pub(crate) fn tokens(conn: &Conn<'_>, tenant: &str) -> Result<Vec<ApiToken>, StoreError> {
    conn.query(
        &format!(
            "SELECT {TOKEN_COLS} FROM api_tokens t LEFT JOIN people p ON p.id = t.person_id
             WHERE t.tenant_id = ?1 ORDER BY t.id"
        ),
        params![tenant],
        token_from_row,
    )
}

/// The live token whose SHA-256 (hex) is `sha256`: not revoked, and its person (if
/// any) not disabled.
pub(crate) fn token_by_hash(conn: &Conn<'_>, sha256: &str) -> Result<Option<ApiToken>, StoreError> {
    let found = conn.query_opt(
        &format!(
            "SELECT {TOKEN_COLS} FROM api_tokens t LEFT JOIN people p ON p.id = t.person_id
             WHERE t.token_sha256 = ?1"
        ),
        params![sha256],
        token_from_row,
    )?;
    Ok(found.filter(|t| t.revoked_at.is_none()))
}

pub(crate) fn touch_token(conn: &Conn<'_>, id: i64, at: i64) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE api_tokens SET last_used_at = ?2 WHERE id = ?1",
        params![id, at],
    )?;
    Ok(())
}

pub(crate) fn revoke_token(conn: &Conn<'_>, tenant: &str, id: i64) -> Result<bool, StoreError> {
    Ok(conn.execute(
        "UPDATE api_tokens SET revoked_at = COALESCE(revoked_at, ?3) WHERE tenant_id = ?1 AND id = ?2",
        params![tenant, id, now_ms()],
    )? == 1)
}

pub(crate) fn audit(conn: &Conn<'_>, e: &NewAudit<'_>) -> Result<i64, StoreError> {
    conn.query_one(
        "INSERT INTO audit_log (tenant_id, actor, action, target, status, remote_addr, at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) RETURNING id",
        params![
            e.tenant_id,
            e.actor,
            e.action,
            e.target,
            i64::from(e.status),
            e.remote_addr,
            now_ms()
        ],
        |r| r.get(0),
    )
}

/// The newest `limit` entries before `before` (an id; `None`: the newest), newest
/// first: of `tenant`, or of every tenant and none when `tenant` is `None`.
pub(crate) fn audit_log(
    conn: &Conn<'_>,
    tenant: Option<&str>,
    before: Option<i64>,
    limit: u32,
) -> Result<Vec<AuditEntry>, StoreError> {
    conn.query(
        "SELECT id, tenant_id, actor, action, target, status, remote_addr, at FROM audit_log
         WHERE (?1 IS NULL OR tenant_id = ?1) AND (?2 IS NULL OR id < ?2)
         ORDER BY id DESC LIMIT ?3",
        params![tenant, before, i64::from(limit)],
        |r| {
            Ok(AuditEntry {
                id: r.get(0)?,
                tenant_id: r.get(1)?,
                actor: r.get(2)?,
                action: r.get(3)?,
                target: r.get(4)?,
                status: u16::try_from(r.get::<i64>(5)?).unwrap_or(0),
                remote_addr: r.get(6)?,
                at: r.get(7)?,
            })
        },
    )
}

crate::repo! {
    /// People, teams, API tokens and the audit log.
    pub trait PeopleRepo {
        /// Adds a person to `tenant` (`Conflict` when the email is taken there).
        fn add_person(tenant: &str, new: &NewPerson) -> Result<Person, StoreError>;
        /// A person of `tenant`.
        fn person(tenant: &str, id: i64) -> Result<Option<Person>, StoreError>;
        /// Every person of `tenant`, oldest first.
        fn people(tenant: &str) -> Result<Vec<Person>, StoreError>;
        /// The person of `tenant` with login `email`, and their password hash.
        fn login(tenant: &str, email: &str) -> Result<Option<(Person, Option<String>)>, StoreError>;
        /// Sets a person's password hash; false when there is no such person.
        fn set_password(tenant: &str, id: i64, hash: &str) -> Result<bool, StoreError>;
        /// Disables a person (their tokens stop working); false when there is no such person.
        fn disable_person(tenant: &str, id: i64) -> Result<bool, StoreError>;
        /// Marks a person available (round-robin may give them conversations) or away;
        /// false when there is no such person.
        fn set_available(tenant: &str, id: i64, available: bool) -> Result<bool, StoreError>;
        /// Adds a team to `tenant` (`Conflict` when the name is taken there).
        fn add_team(tenant: &str, name: &str) -> Result<Team, StoreError>;
        /// A team of `tenant`.
        fn team(tenant: &str, id: i64) -> Result<Option<Team>, StoreError>;
        /// Every team of `tenant`.
        fn teams(tenant: &str) -> Result<Vec<Team>, StoreError>;
        /// Adds or removes a team member; false when the team or person is not `tenant`'s.
        fn set_member(tenant: &str, team_id: i64, person_id: i64, member: bool) -> Result<bool, StoreError>;
        /// Adds a token to `tenant` (`NotFound` for a person not of `tenant`).
        fn add_token(tenant: &str, new: &NewToken) -> Result<ApiToken, StoreError>;
        /// A token of `tenant`.
        fn token(tenant: &str, id: i64) -> Result<Option<ApiToken>, StoreError>;
        /// Every token of `tenant`, revoked ones too.
        fn tokens(tenant: &str) -> Result<Vec<ApiToken>, StoreError>;
        /// The live token (not revoked, its person not disabled) with this SHA-256, hex.
        fn token_by_hash(sha256: &str) -> Result<Option<ApiToken>, StoreError>;
        /// Records a token's use at `at`.
        fn touch_token(id: i64, at: i64) -> Result<(), StoreError>;
        /// Revokes a token; false when `tenant` has no such token.
        fn revoke_token(tenant: &str, id: i64) -> Result<bool, StoreError>;
        /// Records an audited action; its id.
        fn audit(entry: &NewAudit<'_>) -> Result<i64, StoreError>;
        /// Audit entries, newest first (see [`audit_log`]).
        fn audit_log(tenant: Option<&str>, before: Option<i64>, limit: u32) -> Result<Vec<AuditEntry>, StoreError>;
    }
}
