//! Conversations: as the CRM sync sees them (the business number, the newest
//! activity and every tag any of its messages carries), and as work for people — a
//! state (`open`, `pending`, `snoozed` until a time, `resolved`), an assignee (a
//! person, a team, or both), private notes, and the inbox's filtered list.
//!
//! A snoozed conversation whose time has passed reads as `open`; a customer's new
//! message reopens a resolved or snoozed one (in the message insert).

use crate::params;
use crate::sql::{Conn, Row};
use crate::{StoreError, now_ms};
use serde::Serialize;

/// One conversation's facts for a deal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    /// Host id.
    pub id: i64,
    /// The business number.
    pub phone_number_id: String,
    /// Newest message, Unix ms.
    pub last_message_at: i64,
    /// Newest inbound message, Unix ms.
    pub last_inbound_at: Option<i64>,
    /// Every tag of its messages, sorted.
    pub tags: Vec<String>,
}

/// The facts of conversation `conversation_id`.
///
/// # Errors
/// On database failure, or when it does not exist.
pub(crate) fn summary(
    c: &Conn<'_>,
    tenant: &str,
    conversation_id: i64,
) -> Result<Summary, StoreError> {
    let (phone_number_id, last_message_at, last_inbound_at) = c.query_one(
        "SELECT phone_number_id, last_message_at, last_inbound_at FROM conversations
         WHERE tenant_id = ?1 AND id = ?2",
        params![tenant, conversation_id],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
    )?;

    let tags = c.query(
        "SELECT DISTINCT t.tag FROM message_tags t JOIN messages m ON m.id = t.message_id
         WHERE m.conversation_id = ?1 ORDER BY t.tag",
        params![conversation_id],
        |r| r.get::<String>(0),
    )?;
    Ok(Summary {
        id: conversation_id,
        phone_number_id,
        last_message_at,
        last_inbound_at,
        tags,
    })
}

/// The newest conversation of contact `contact_id` (by its newest message), if any.
///
/// # Errors
/// On database failure.
pub(crate) fn latest_of(
    c: &Conn<'_>,
    tenant: &str,
    contact_id: i64,
) -> Result<Option<Summary>, StoreError> {
    let id = c.query_opt(
        "SELECT id FROM conversations WHERE tenant_id = ?1 AND contact_id = ?2
         ORDER BY last_message_at DESC, id DESC LIMIT 1",
        params![tenant, contact_id],
        |r| r.get::<i64>(0),
    )?;
    id.map(|id| summary(c, tenant, id)).transpose()
}

/// The states a conversation can be put in.
pub const STATES: [&str; 4] = ["open", "pending", "snoozed", "resolved"];

/// A conversation as the inbox shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WorkItem {
    /// Host id.
    pub id: i64,
    /// The contact.
    pub contact_id: i64,
    /// The contact's name (theirs, else their WhatsApp profile's).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub contact_name: Option<String>,
    /// The contact's WhatsApp id (digits).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wa_id: Option<String>,
    /// The business number.
    pub phone_number_id: String,
    /// `open`, `pending`, `snoozed` or `resolved` (a snooze that ran out reads `open`).
    pub state: String,
    /// Snoozed until, Unix ms.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub snoozed_until: Option<i64>,
    /// The person it is assigned to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub assignee_person: Option<i64>,
    /// The team it is assigned to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub assignee_team: Option<i64>,
    /// When it was last assigned, Unix ms.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub assigned_at: Option<i64>,
    /// When it was resolved, Unix ms.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resolved_at: Option<i64>,
    /// Opened, Unix ms.
    pub created_at: i64,
    /// Newest message, Unix ms.
    pub last_message_at: i64,
    /// Newest inbound message, Unix ms: the 24-hour window counts from here.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_inbound_at: Option<i64>,
    /// Customer messages since the business last wrote.
    pub unread: i64,
    /// The newest message's text, if it has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_text: Option<String>,
    /// Tags of its messages, sorted.
    pub tags: Vec<String>,
}

/// Whose conversations a caller may see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Viewer {
    /// The person (none: a role-only token).
    pub person: Option<i64>,
    /// Whether conversations nobody is assigned to are visible.
    pub unassigned: bool,
}

/// Which assignee to list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AssigneeFilter {
    /// Any.
    Any,
    /// Assigned to this person.
    Person(i64),
    /// Assigned to this team.
    Team(i64),
    /// Assigned to nobody.
    Unassigned,
}

/// The inbox list's filters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkFilter<'a> {
    /// Only this state.
    pub state: Option<&'a str>,
    /// Only this assignee.
    pub assignee: AssigneeFilter,
    /// Only conversations with a message tagged so.
    pub tag: Option<&'a str>,
    /// Only conversations with a message of this intent.
    pub intent: Option<&'a str>,
    /// Only what this viewer may see (none: everything).
    pub viewer: Option<&'a Viewer>,
    /// Only conversations whose newest message is older than this (ms, id): the
    /// next page's cursor.
    pub before: Option<(i64, i64)>,
    /// At most this many.
    pub limit: u32,
}

/// The effective state, with `?1` the current time.
const STATE_SQL: &str =
    "CASE WHEN c.state = 'snoozed' AND c.snoozed_until <= ?1 THEN 'open' ELSE c.state END";

fn work_select(conn: &Conn<'_>) -> String {
    let tags = conn.pick(
        "(SELECT group_concat(tag, char(31)) FROM (SELECT DISTINCT t.tag FROM message_tags t
            JOIN messages m ON m.id = t.message_id WHERE m.conversation_id = c.id ORDER BY t.tag))",
        "(SELECT string_agg(d.tag, chr(31) ORDER BY d.tag) FROM (SELECT DISTINCT t.tag FROM message_tags t
            JOIN messages m ON m.id = t.message_id WHERE m.conversation_id = c.id) d)",
    );
    format!(
        "SELECT c.id, c.contact_id, COALESCE(k.name, k.profile_name), k.wa_id, c.phone_number_id,
                {STATE_SQL}, c.snoozed_until, c.assignee_person, c.assignee_team, c.assigned_at,
                c.resolved_at, c.created_at, c.last_message_at, c.last_inbound_at,
                (SELECT COUNT(*) FROM messages m WHERE m.conversation_id = c.id AND m.direction = 'inbound'
                   AND m.timestamp > COALESCE((SELECT MAX(o.timestamp) FROM messages o
                       WHERE o.conversation_id = c.id AND o.direction = 'outbound'), 0)),
                (SELECT m.text FROM messages m WHERE m.conversation_id = c.id
                   ORDER BY m.timestamp DESC, m.id DESC LIMIT 1),
                {tags}
         FROM conversations c JOIN contacts k ON k.id = c.contact_id"
    )
}

fn work_from_row(r: &Row<'_>) -> Result<WorkItem, StoreError> {
    let tags: Option<String> = r.get(16)?;
    Ok(WorkItem {
        id: r.get(0)?,
        contact_id: r.get(1)?,
        contact_name: r.get(2)?,
        wa_id: r.get(3)?,
        phone_number_id: r.get(4)?,
        state: r.get(5)?,
        snoozed_until: r.get(6)?,
        assignee_person: r.get(7)?,
        assignee_team: r.get(8)?,
        assigned_at: r.get(9)?,
        resolved_at: r.get(10)?,
        created_at: r.get(11)?,
        last_message_at: r.get(12)?,
        last_inbound_at: r.get(13)?,
        unread: r.get(14)?,
        last_text: r.get(15)?,
        tags: tags
            .map(|t| t.split('\u{1f}').map(str::to_string).collect())
            .unwrap_or_default(),
    })
}

/// The visibility condition for a viewer: `?2` their person (or NULL), `?3` 1 when
/// they see unassigned conversations.
const VISIBLE_SQL: &str = "(c.assignee_person = ?2
     OR c.assignee_team IN (SELECT tm.team_id FROM team_members tm WHERE tm.person_id = ?2)
     OR (?3 = 1 AND c.assignee_person IS NULL AND c.assignee_team IS NULL))";

pub(crate) fn work_list(
    conn: &Conn<'_>,
    tenant: &str,
    f: &WorkFilter<'_>,
) -> Result<Vec<WorkItem>, StoreError> {
    let intent = conn.pick(
        "json_extract(m.classification, '$.intent.name')",
        "(m.classification::jsonb -> 'intent' ->> 'name')",
    );
    let (assignee_kind, assignee_id) = match f.assignee {
        AssigneeFilter::Any => (0_i64, 0_i64),
        AssigneeFilter::Person(p) => (1, p),
        AssigneeFilter::Team(t) => (2, t),
        AssigneeFilter::Unassigned => (3, 0),
    };
    let (viewing, person, unassigned) = match f.viewer {
        Some(v) => (1_i64, v.person, i64::from(v.unassigned)),
        None => (0, None, 0),
    };
    let (before_at, before_id) = f.before.unwrap_or((i64::MAX, i64::MAX));
    let sql = format!(
        "{} WHERE c.tenant_id = ?4
           AND (?5 = 0 OR {VISIBLE_SQL})
           AND (CAST(?6 AS TEXT) IS NULL OR {STATE_SQL} = ?6)
           AND (?7 = 0 OR (?7 = 1 AND c.assignee_person = ?8) OR (?7 = 2 AND c.assignee_team = ?8)
                OR (?7 = 3 AND c.assignee_person IS NULL AND c.assignee_team IS NULL))
           AND (CAST(?9 AS TEXT) IS NULL OR EXISTS (SELECT 1 FROM message_tags t JOIN messages m ON m.id = t.message_id
                                     WHERE m.conversation_id = c.id AND t.tag = ?9))
           AND (CAST(?10 AS TEXT) IS NULL OR EXISTS (SELECT 1 FROM messages m
                                      WHERE m.conversation_id = c.id AND {intent} = ?10))
           AND (c.last_message_at < ?11 OR (c.last_message_at = ?11 AND c.id < ?12))
         ORDER BY c.last_message_at DESC, c.id DESC LIMIT ?13",
        work_select(conn)
    );
    conn.query(
        &sql,
        params![
            now_ms(),
            person,
            unassigned,
            tenant,
            viewing,
            f.state,
            assignee_kind,
            assignee_id,
            f.tag,
            f.intent,
            before_at,
            before_id,
            i64::from(f.limit)
        ],
        work_from_row,
    )
}

pub(crate) fn work_item(
    conn: &Conn<'_>,
    tenant: &str,
    id: i64,
    viewer: Option<&Viewer>,
) -> Result<Option<WorkItem>, StoreError> {
    let (viewing, person, unassigned) = match viewer {
        Some(v) => (1_i64, v.person, i64::from(v.unassigned)),
        None => (0, None, 0),
    };
    let sql = format!(
        "{} WHERE c.tenant_id = ?4 AND c.id = ?6 AND (?5 = 0 OR {VISIBLE_SQL})",
        work_select(conn)
    );
    conn.query_opt(
        &sql,
        params![now_ms(), person, unassigned, tenant, viewing, id],
        work_from_row,
    )
}

/// Puts a conversation in `state` (`snoozed` until `until`); false when the tenant
/// has no such conversation.
pub(crate) fn set_state(
    conn: &Conn<'_>,
    tenant: &str,
    id: i64,
    state: &str,
    until: Option<i64>,
) -> Result<bool, StoreError> {
    let now = now_ms();
    Ok(conn.execute(
        "UPDATE conversations SET state = ?3,
             snoozed_until = CASE WHEN ?3 = 'snoozed' THEN ?4 ELSE NULL END,
             resolved_at = CASE WHEN ?3 = 'resolved' THEN ?5 ELSE NULL END
         WHERE tenant_id = ?1 AND id = ?2",
        params![tenant, id, state, until, now],
    )? == 1)
}

/// Assigns a conversation to `person` and/or `team` (both none: unassigns it);
/// false when the conversation, person (active) or team is not the tenant's.
pub(crate) fn assign(
    conn: &Conn<'_>,
    tenant: &str,
    id: i64,
    person: Option<i64>,
    team: Option<i64>,
) -> Result<bool, StoreError> {
    if let Some(p) = person {
        let ok: Option<i64> = conn.query_opt(
            "SELECT id FROM people WHERE tenant_id = ?1 AND id = ?2 AND disabled_at IS NULL",
            params![tenant, p],
            |r| r.get(0),
        )?;
        if ok.is_none() {
            return Ok(false);
        }
    }
    if let Some(t) = team {
        let ok: Option<i64> = conn.query_opt(
            "SELECT id FROM teams WHERE tenant_id = ?1 AND id = ?2",
            params![tenant, t],
            |r| r.get(0),
        )?;
        if ok.is_none() {
            return Ok(false);
        }
    }
    let at = (person.is_some() || team.is_some()).then(now_ms);
    Ok(conn.execute(
        "UPDATE conversations SET assignee_person = ?3, assignee_team = ?4, assigned_at = ?5
         WHERE tenant_id = ?1 AND id = ?2",
        params![tenant, id, person, team, at],
    )? == 1)
}

/// The team's next available, active member after the one it assigned last (by
/// id, wrapping round), recorded as the last; none when it has none.
pub(crate) fn next_in_team(
    conn: &Conn<'_>,
    tenant: &str,
    team: i64,
) -> Result<Option<i64>, StoreError> {
    let last: Option<Option<i64>> = conn.query_opt(
        "SELECT last_assigned FROM teams WHERE tenant_id = ?1 AND id = ?2",
        params![tenant, team],
        |r| r.get(0),
    )?;
    let Some(last) = last else {
        return Ok(None);
    };
    let members: Vec<i64> = conn.query(
        "SELECT p.id FROM team_members tm JOIN people p ON p.id = tm.person_id
         WHERE tm.team_id = ?1 AND p.disabled_at IS NULL AND p.available = 1 ORDER BY p.id",
        params![team],
        |r| r.get(0),
    )?;
    let last = last.unwrap_or(0);
    let next = members
        .iter()
        .copied()
        .find(|&p| p > last)
        .or_else(|| members.first().copied());
    if let Some(p) = next {
        conn.execute(
            "UPDATE teams SET last_assigned = ?2 WHERE id = ?1",
            params![team, p],
        )?;
    }
    Ok(next)
}

/// A private note between agents.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Note {
    /// Host id.
    pub id: i64,
    /// The conversation.
    pub conversation_id: i64,
    /// Who wrote it: `person:ID`, `token:ID` or `operator`.
    pub author: String,
    /// Its text.
    pub body: String,
    /// When, Unix ms.
    pub created_at: i64,
}

pub(crate) fn add_note(
    conn: &Conn<'_>,
    tenant: &str,
    conversation: i64,
    author: &str,
    body: &str,
) -> Result<Note, StoreError> {
    let at = now_ms();
    let id: i64 = conn.query_one(
        "INSERT INTO conversation_notes (tenant_id, conversation_id, author, body, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5) RETURNING id",
        params![tenant, conversation, author, body, at],
        |r| r.get(0),
    )?;
    Ok(Note {
        id,
        conversation_id: conversation,
        author: author.to_string(),
        body: body.to_string(),
        created_at: at,
    })
}

pub(crate) fn notes(
    conn: &Conn<'_>,
    tenant: &str,
    conversation: i64,
) -> Result<Vec<Note>, StoreError> {
    conn.query(
        "SELECT id, conversation_id, author, body, created_at FROM conversation_notes
         WHERE tenant_id = ?1 AND conversation_id = ?2 ORDER BY id",
        params![tenant, conversation],
        |r| {
            Ok(Note {
                id: r.get(0)?,
                conversation_id: r.get(1)?,
                author: r.get(2)?,
                body: r.get(3)?,
                created_at: r.get(4)?,
            })
        },
    )
}

/// Whether the tenant's agents see conversations nobody is assigned to (true when
/// the tenant does not exist).
pub(crate) fn agents_see_unassigned(conn: &Conn<'_>, tenant: &str) -> Result<bool, StoreError> {
    let v: Option<i64> = conn.query_opt(
        "SELECT agents_see_unassigned FROM tenants WHERE id = ?1",
        params![tenant],
        |r| r.get(0),
    )?;
    Ok(v.is_none_or(|v| v != 0))
}

/// Sets whether the tenant's agents see unassigned conversations; false when there
/// is no such tenant.
pub(crate) fn set_agents_see_unassigned(
    conn: &Conn<'_>,
    tenant: &str,
    on: bool,
) -> Result<bool, StoreError> {
    Ok(conn.execute(
        "UPDATE tenants SET agents_see_unassigned = ?2 WHERE id = ?1",
        params![tenant, on],
    )? == 1)
}

/// The conversation of a tenant's message.
pub(crate) fn of_message(
    conn: &Conn<'_>,
    tenant: &str,
    message_id: i64,
) -> Result<Option<i64>, StoreError> {
    conn.query_opt(
        "SELECT conversation_id FROM messages WHERE tenant_id = ?1 AND id = ?2",
        params![tenant, message_id],
        |r| r.get(0),
    )
}

crate::repo! {
    /// Conversations: as the CRM sync sees them, and as people's work.
    pub trait ConversationRepo {
        /// The newest conversation of a contact, if any.
        fn latest_of(tenant: &str, contact_id: i64) -> Result<Option<Summary>, StoreError>;
        /// The facts of conversation `conversation_id`.
        fn summary(tenant: &str, conversation_id: i64) -> Result<Summary, StoreError>;
        /// The inbox's list: newest activity first, filtered.
        fn work_list(tenant: &str, f: &WorkFilter<'_>) -> Result<Vec<WorkItem>, StoreError>;
        /// One conversation as the inbox shows it, if `viewer` (none: anyone) may see it.
        fn work_item(tenant: &str, id: i64, viewer: Option<&Viewer>) -> Result<Option<WorkItem>, StoreError>;
        /// Puts a conversation in a state; false when the tenant has no such conversation.
        fn set_state(tenant: &str, id: i64, state: &str, until: Option<i64>) -> Result<bool, StoreError>;
        /// Assigns (or unassigns) a conversation; false for an unknown conversation, person or team.
        fn assign(tenant: &str, id: i64, person: Option<i64>, team: Option<i64>) -> Result<bool, StoreError>;
        /// The team's next member by round-robin, recorded as its last.
        fn next_in_team(tenant: &str, team: i64) -> Result<Option<i64>, StoreError>;
        /// Adds a private note to a conversation.
        fn add_note(tenant: &str, conversation: i64, author: &str, body: &str) -> Result<Note, StoreError>;
        /// A conversation's private notes, oldest first.
        fn notes(tenant: &str, conversation: i64) -> Result<Vec<Note>, StoreError>;
        /// Whether the tenant's agents see unassigned conversations.
        fn agents_see_unassigned(tenant: &str) -> Result<bool, StoreError>;
        /// Sets whether the tenant's agents see unassigned conversations.
        fn set_agents_see_unassigned(tenant: &str, on: bool) -> Result<bool, StoreError>;
        /// The conversation of a tenant's message.
        fn of_message(tenant: &str, message_id: i64) -> Result<Option<i64>, StoreError>;
    }
}
