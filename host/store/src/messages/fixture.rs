//! The messages tests' database: one tenant with one contact, and helpers that store
//! inbound and outbound messages, statuses and revisions in it.

use super::*;
use crate::page::PageRequest;
use crate::params;
use crate::{Db, contacts};
use serde_json::json;

pub(super) struct Fixture {
    _test: crate::testing::TestDb,
    pub(super) backend: &'static str,
    pub(super) db: Db,
    contact_id: i64,
}

/// One fixture per backend.
pub(super) fn fixtures() -> Vec<Fixture> {
    crate::testing::backends()
        .into_iter()
        .map(fixture)
        .collect()
}

fn fixture(test: crate::testing::TestDb) -> Fixture {
    let db = test.db.clone();
    let contact_id = db
        .with_conn(|c| {
            crate::testing::add_acme(c)?;
            let facts = contacts::ContactFacts {
                wa_id: Some("391".into()),
                user_id: None,
                phone: None,
                name: None,
            };
            Ok(contacts::upsert(c, "acme", &facts)?.id)
        })
        .unwrap();
    Fixture {
        backend: test.backend,
        _test: test,
        db,
        contact_id,
    }
}

impl Fixture {
    pub(super) fn inbound(&self, wamid: &str, body: &str) -> Stored {
        let content = json!({"type": "text", "body": body});
        self.db
            .with_conn(|c| {
                insert_inbound(
                    c,
                    &NewInbound {
                        tenant: "acme",
                        contact_id: self.contact_id,
                        phone_number_id: "100",
                        wamid,
                        kind: "text",
                        timestamp: 1_000,
                        text: Some(body),
                        content: &content,
                        context: &json!({}),
                        raw: &json!({"id": wamid}),
                        errors: None,
                        inbox_id: 1,
                    },
                )
            })
            .unwrap()
    }

    /// An outbound row as the outbox stores it (status `accepted`).
    pub(super) fn outbound(&self, wamid: &str) {
        self.db
            .with_conn(|c| {
                let conversation: i64 = c.query_one(
                    "INSERT INTO conversations (tenant_id, contact_id, phone_number_id, created_at, last_message_at)
                     VALUES ('acme', ?1, '100', 0, 0)
                     ON CONFLICT (tenant_id, contact_id, phone_number_id) DO UPDATE SET created_at = 0
                     RETURNING id",
                    params![self.contact_id],
                    |r| r.get(0),)?;
                c.execute(
                    "INSERT INTO messages (tenant_id, conversation_id, contact_id, wamid, direction, type, timestamp,
                                           text, content, context, raw, status, created_at)
                     VALUES ('acme', ?1, ?2, ?3, 'outbound', 'text', 0, 'hi', '{}', '{}', '{}', 'accepted', 0)",
                    params![conversation, self.contact_id, wamid],)?;
                Ok(())
            })
            .unwrap();
    }

    pub(super) fn status(&self, wamid: &str, status: &str, at: i64) -> StatusOutcome {
        let errors = (status == "failed").then(|| json!([{"code": 131026}]));
        self.db
            .with_conn(|c| {
                record_status(
                    c,
                    &NewStatus {
                        tenant: "acme",
                        wamid,
                        status,
                        timestamp: at,
                        recipient_id: Some("391"),
                        errors: errors.as_ref(),
                        pricing: None,
                        conversation: None,
                        raw: &json!({"id": wamid, "status": status}),
                    },
                )
            })
            .unwrap()
    }

    pub(super) fn revision(
        &self,
        target: &str,
        wamid: &str,
        edit: Option<&str>,
        at: i64,
    ) -> RevisionOutcome {
        let content = edit.map(|text| json!({"type": "text", "body": text}));
        self.db
            .with_conn(|c| {
                record_revision(
                    c,
                    &NewRevision {
                        tenant: "acme",
                        target_wamid: target,
                        wamid,
                        action: if edit.is_some() {
                            RevisionAction::Edit
                        } else {
                            RevisionAction::Revoke
                        },
                        kind: edit.map(|_| "text"),
                        text: edit,
                        content: content.as_ref(),
                        raw: &json!({"id": wamid}),
                        timestamp: at,
                        inbox_id: 2,
                    },
                )
            })
            .unwrap()
    }

    pub(super) fn message(&self, wamid: &str) -> Message {
        self.db
            .with_conn(|c| {
                list(
                    c,
                    "acme",
                    MessageFilter::default(),
                    PageRequest::new(None, Some(500)),
                )
            })
            .unwrap()
            .items
            .into_iter()
            .find(|m| m.wamid == wamid)
            .unwrap()
    }
}
