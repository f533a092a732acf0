//! Edits and revokes: recording them (even before the message they change arrives),
//! reconciling a stored message with every recorded revision, and reading them back.

use crate::params;
use crate::sql::Conn;
use crate::{StoreError, now_ms};
use serde::Serialize;

/// An edit or revoke of a message, as received.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Revision {
    /// The notification's own wamid.
    pub wamid: String,
    /// `edit` or `revoke`.
    pub action: String,
    /// The new version's WhatsApp type (edits).
    #[serde(rename = "type")]
    pub kind: Option<String>,
    /// The new text (edits).
    pub text: Option<String>,
    /// The new parsed content (edits).
    pub content: Option<serde_json::Value>,
    /// WhatsApp's timestamp, Unix ms.
    pub timestamp: i64,
}

/// An edit or revoke to record.
#[derive(Debug, Clone)]
pub struct NewRevision<'a> {
    /// The tenant.
    pub tenant: &'a str,
    /// The wamid of the message it changes.
    pub target_wamid: &'a str,
    /// The notification's own wamid.
    pub wamid: &'a str,
    /// `edit` or `revoke`.
    pub action: RevisionAction,
    /// The new version's WhatsApp type (edits).
    pub kind: Option<&'a str>,
    /// The new text or caption (edits).
    pub text: Option<&'a str>,
    /// The new parsed content, JSON (edits); an `unsupported` content means only the
    /// text is known, and it replaces the stored body or caption.
    pub content: Option<&'a serde_json::Value>,
    /// The notification as received.
    pub raw: &'a serde_json::Value,
    /// WhatsApp's timestamp, Unix ms.
    pub timestamp: i64,
    /// The inbox row it came in.
    pub inbox_id: i64,
}

/// What a revision does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RevisionAction {
    /// A new version of the message.
    Edit,
    /// The sender deleted the message for everyone.
    Revoke,
}

impl RevisionAction {
    fn as_str(self) -> &'static str {
        match self {
            Self::Edit => "edit",
            Self::Revoke => "revoke",
        }
    }
}

/// The stored message a revision changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RevisedMessage {
    /// Its host id.
    pub id: i64,
    /// Its conversation.
    pub conversation_id: i64,
    /// Its contact.
    pub contact_id: i64,
    /// True when it needs classifying (again).
    pub unclassified: bool,
}

/// What recording a revision did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RevisionOutcome {
    /// False when it was recorded already (a redelivery).
    pub inserted: bool,
    /// The message it changed; `None` while that message has not arrived.
    pub message: Option<RevisedMessage>,
    /// True when this edit is now the message's current version.
    pub current: bool,
    /// True when recording it changed the message's text or content.
    pub changed: bool,
}

/// Records an edit or revoke once (idempotent on its own wamid) and applies every
/// recorded revision of the target message to it, if the message is stored. An edit
/// that changed the message's content marks it for classifying again.
///
/// # Errors
/// On database failure.
pub(crate) fn record_revision(
    conn: &Conn<'_>,
    r: &NewRevision<'_>,
) -> Result<RevisionOutcome, StoreError> {
    let inserted = conn
        .execute("INSERT INTO message_revisions (tenant_id, target_wamid, wamid, action, type, text, content,
                                            raw, timestamp, inbox_id, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11) ON CONFLICT DO NOTHING", params![
            r.tenant,
            r.target_wamid,
            r.wamid,
            r.action.as_str(),
            r.kind,
            r.text,
            r.content.map(serde_json::Value::to_string),
            r.raw.to_string(),
            r.timestamp,
            r.inbox_id,
            now_ms()
        ])?
        == 1;
    let Some(applied) = reconcile(conn, r.tenant, r.target_wamid)? else {
        return Ok(RevisionOutcome {
            inserted,
            message: None,
            current: false,
            changed: false,
        });
    };
    let current = applied.current_edit.as_deref() == Some(r.wamid);
    if applied.changed && r.action == RevisionAction::Edit {
        conn.execute(
            "UPDATE messages SET classified_at = NULL WHERE id = ?1",
            params![applied.message_id],
        )?;
    }
    let (contact_id, unclassified) = conn.query_one(
        "SELECT contact_id, classified_at IS NULL FROM messages WHERE id = ?1",
        params![applied.message_id],
        |row| Ok((row.get(0)?, row.get(1)?)),
    )?;
    Ok(RevisionOutcome {
        inserted,
        message: Some(RevisedMessage {
            id: applied.message_id,
            conversation_id: applied.conversation_id,
            contact_id,
            unclassified,
        }),
        current,
        changed: applied.changed,
    })
}

/// What [`reconcile`] did to a stored message.
pub(super) struct Reconciled {
    message_id: i64,
    conversation_id: i64,
    /// The wamid of the edit that is now the current version, if any.
    pub(super) current_edit: Option<String>,
    /// True when the text or content changed.
    changed: bool,
}

/// Recomputes a stored message from its first version and every recorded revision:
/// the newest edit (by WhatsApp's timestamp, then arrival) is the current version and
/// the earliest revoke sets `revoked_at`. The result does not depend on the order the
/// revisions arrived in. `None` when the message is not stored.
pub(super) fn reconcile(
    conn: &Conn<'_>,
    tenant: &str,
    wamid: &str,
) -> Result<Option<Reconciled>, StoreError> {
    let Some((id, conversation_id, text, content, original_text, original_content, edited_at)) =
        conn.query_opt(
            "SELECT id, conversation_id, text, content, original_text, original_content, edited_at
             FROM messages WHERE tenant_id = ?1 AND wamid = ?2",
            params![tenant, wamid],
            |r| {
                Ok((
                    r.get::<i64>(0)?,
                    r.get::<i64>(1)?,
                    r.get::<Option<String>>(2)?,
                    r.get::<String>(3)?,
                    r.get::<Option<String>>(4)?,
                    r.get::<Option<String>>(5)?,
                    r.get::<Option<i64>>(6)?,
                ))
            },
        )?
    else {
        return Ok(None);
    };
    let latest_edit = conn.query_opt(
        "SELECT wamid, text, content, timestamp FROM message_revisions
             WHERE tenant_id = ?1 AND target_wamid = ?2 AND action = 'edit'
             ORDER BY timestamp DESC, id DESC LIMIT 1",
        params![tenant, wamid],
        |r| {
            Ok((
                r.get::<String>(0)?,
                r.get::<Option<String>>(1)?,
                r.get::<Option<String>>(2)?,
                r.get::<i64>(3)?,
            ))
        },
    )?;
    let revoked_at: Option<i64> = conn.query_one(
        "SELECT MIN(timestamp) FROM message_revisions
         WHERE tenant_id = ?1 AND target_wamid = ?2 AND action = 'revoke'",
        params![tenant, wamid],
        |r| r.get(0),
    )?;
    let mut changed = false;
    let mut current_edit = None;
    if let Some((edit_wamid, new_text, new_content, at)) = latest_edit {
        // The first version is kept once, before anything overwrites it.
        let (first_text, first_content) = match original_content {
            Some(original) => (original_text, original),
            None => (text.clone(), content.clone()),
        };
        let first: serde_json::Value = serde_json::from_str(&first_content)?;
        let new_content = match new_content
            .map(|c| serde_json::from_str::<serde_json::Value>(&c))
            .transpose()?
        {
            Some(c) if c["type"] != "unsupported" => c,
            // Only the new text is known (e.g. a caption edit without the media):
            // it replaces the first version's body or caption.
            _ => with_text(first, new_text.as_deref()),
        };
        let new_content = new_content.to_string();
        changed = new_content != content || new_text != text || edited_at != Some(at);
        conn.execute(
            "UPDATE messages SET original_text = ?2, original_content = ?3, text = ?4, content = ?5, edited_at = ?6
             WHERE id = ?1",
            params![id, first_text, first_content, new_text, new_content, at],)?;
        current_edit = Some(edit_wamid);
    }
    conn.execute(
        "UPDATE messages SET revoked_at = ?2 WHERE id = ?1 AND revoked_at IS DISTINCT FROM ?2",
        params![id, revoked_at],
    )?;
    Ok(Some(Reconciled {
        message_id: id,
        conversation_id,
        current_edit,
        changed,
    }))
}

/// `content` with its human text (a text's body, else a caption) replaced by `text`.
fn with_text(mut content: serde_json::Value, text: Option<&str>) -> serde_json::Value {
    let key = if content["type"] == "text" {
        "body"
    } else {
        "caption"
    };
    if let Some(object) = content.as_object_mut() {
        object.insert(key.to_owned(), text.into());
    }
    content
}

/// The notification of the edit that is a stored message's current version, if any.
pub(super) fn current_edit_raw(
    conn: &Conn<'_>,
    tenant: &str,
    wamid: &str,
) -> Result<Option<serde_json::Value>, StoreError> {
    conn.query_opt(
        "SELECT raw FROM message_revisions
         WHERE tenant_id = ?1 AND target_wamid = ?2 AND action = 'edit'
         ORDER BY timestamp DESC, id DESC LIMIT 1",
        params![tenant, wamid],
        |r| r.get::<String>(0),
    )?
    .map(|raw| serde_json::from_str(&raw).map_err(StoreError::from))
    .transpose()
}

/// Every recorded edit and revoke of a message, oldest first.
pub(super) fn revisions_of(
    conn: &Conn<'_>,
    tenant: &str,
    wamid: &str,
) -> Result<Vec<Revision>, StoreError> {
    let rows = conn.query(
        "SELECT wamid, action, type, text, content, timestamp FROM message_revisions
         WHERE tenant_id = ?1 AND target_wamid = ?2 ORDER BY timestamp, id",
        params![tenant, wamid],
        |r| {
            Ok((
                Revision {
                    wamid: r.get(0)?,
                    action: r.get(1)?,
                    kind: r.get(2)?,
                    text: r.get(3)?,
                    content: None,
                    timestamp: r.get(5)?,
                },
                r.get::<Option<String>>(4)?,
            ))
        },
    )?;
    rows.into_iter()
        .map(|(mut revision, content)| {
            revision.content = content.map(|c| serde_json::from_str(&c)).transpose()?;
            Ok(revision)
        })
        .collect()
}
#[cfg(test)]
mod tests {
    use super::*;
    use crate::messages::OriginalVersion;
    use crate::messages::fixture::fixtures;
    use serde_json::json;

    #[test]
    fn an_edit_replaces_the_text_and_keeps_the_first_version() {
        for f in fixtures() {
            eprintln!("backend: {}", f.backend);
            f.inbound("wamid.m", "helo");
            let outcome = f.revision("wamid.m", "wamid.e1", Some("hello"), 2_000);
            assert!(outcome.inserted && outcome.current && outcome.changed);
            assert!(outcome.message.unwrap().unclassified);
            let m = f.message("wamid.m");
            assert_eq!(m.text.as_deref(), Some("hello"));
            assert_eq!(m.content, json!({"type": "text", "body": "hello"}));
            assert_eq!(m.edited_at, Some(2_000));
            assert_eq!(
                m.original,
                Some(OriginalVersion {
                    text: Some("helo".into()),
                    content: json!({"type": "text", "body": "helo"}),
                })
            );
            // A second edit, then an older one arriving late: the newest one wins and the
            // first version stays the original.
            f.revision("wamid.m", "wamid.e3", Some("hello!!"), 4_000);
            let late = f.revision("wamid.m", "wamid.e2", Some("hello!"), 3_000);
            assert!(late.inserted && !late.current && !late.changed);
            let m = f.message("wamid.m");
            assert_eq!(m.text.as_deref(), Some("hello!!"));
            assert_eq!(m.original.unwrap().text.as_deref(), Some("helo"));
            let history: Vec<_> = m
                .revisions
                .iter()
                .map(|r| r.text.clone().unwrap())
                .collect();
            assert_eq!(history, ["hello", "hello!", "hello!!"]);
            // Redelivery changes nothing.
            let again = f.revision("wamid.m", "wamid.e3", Some("hello!!"), 4_000);
            assert!(!again.inserted && again.current && !again.changed);
        }
    }

    #[test]
    fn a_revoke_marks_the_message_and_keeps_its_content() {
        for f in fixtures() {
            eprintln!("backend: {}", f.backend);
            f.inbound("wamid.r", "secret plan");
            let outcome = f.revision("wamid.r", "wamid.rv", None, 9_000);
            assert!(outcome.inserted && !outcome.changed);
            let m = f.message("wamid.r");
            assert_eq!(m.revoked_at, Some(9_000));
            assert_eq!(m.text.as_deref(), Some("secret plan"));
            assert_eq!(m.revisions.len(), 1);
            assert_eq!(m.revisions[0].action, "revoke");
        }
    }

    #[test]
    fn edits_and_revokes_recorded_before_the_message_apply_when_it_arrives() {
        for f in fixtures() {
            eprintln!("backend: {}", f.backend);
            let early = f.revision("wamid.late", "wamid.e", Some("fixed"), 2_000);
            assert_eq!(early.message, None);
            f.revision("wamid.late", "wamid.rv", None, 3_000);
            let stored = f.inbound("wamid.late", "fxied");
            assert!(stored.inserted);
            assert_eq!(stored.edited_by, Some(json!({"id": "wamid.e"})));
            let m = f.message("wamid.late");
            assert_eq!(m.text.as_deref(), Some("fixed"));
            assert_eq!(m.original.unwrap().text.as_deref(), Some("fxied"));
            assert_eq!(m.revoked_at, Some(3_000));
        }
    }

    #[test]
    fn a_caption_only_edit_replaces_the_stored_caption() {
        let content = json!({"type": "image", "id": "m1", "caption": "old"});
        assert_eq!(
            with_text(content, Some("new")),
            json!({"type": "image", "id": "m1", "caption": "new"})
        );
        assert_eq!(
            with_text(json!({"type": "text", "body": "a"}), Some("b")),
            json!({"type": "text", "body": "b"})
        );
    }
}
