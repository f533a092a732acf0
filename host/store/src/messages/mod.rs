//! Conversations, messages, their tags and classification, delivery statuses, and
//! edits and revokes.
//!
//! **Statuses** only move a message forward: `accepted < sent < delivered < read <
//! played`, and `failed` is terminal — it outranks everything, so once a message has
//! failed no later status changes it, and a `failed` that arrives after `delivered`
//! still marks it failed (Meta sends `failed` after `sent` when delivery finally
//! fails; after `delivered` it is rare, and the newest word from Meta is a failure).
//! The row's status is the best of every status event recorded for its wamid, so the
//! result does not depend on the order they arrive in, and a status recorded before
//! its message row exists is applied when the row appears ([`best_status`],
//! [`sync_status`]). Statuses apply to outbound messages only; inbound ones stay
//! `received`.
//!
//! **Edits** replace a message's `text` and `content` with the newest edit (by
//! WhatsApp's timestamp) and keep the first version in `original_text` /
//! `original_content`; every edit stays in `message_revisions`. A **revoke** sets
//! `revoked_at` and keeps the content. Both are recorded even when the message they
//! change has not arrived yet, and applied when it does.
//!
//! Layout: `insert` stores inbound messages, `outbound` what the outbox sent and
//! what the WhatsApp Business app echoed, `revisions` edits and revokes,
//! `statuses` delivery statuses, `classification` what the classifier and responder
//! decided; `list` reads messages back, `conversations` pages conversations and
//! `origin` finds where an inbound message came from.

use crate::StoreError;
use crate::page::{Page, PageRequest};

#[cfg(test)]
mod bulk_tests;
mod classification;
mod conversations;
#[cfg(test)]
mod fixture;
mod insert;
mod list;
mod origin;
mod outbound;
mod revisions;
mod statuses;

pub use classification::{ClassificationRecord, ClassifyOutcome};
pub(crate) use classification::{record_classification, record_classifications, record_response};
pub use conversations::Conversation;
pub(crate) use conversations::conversations;
pub use insert::{NewInbound, Stored};
pub(crate) use insert::{insert_inbound, insert_inbound_many};
pub use list::{Message, MessageFilter, OriginalVersion};
pub(crate) use list::{get, list, newest_start};
pub use origin::MessageRef;
pub(crate) use origin::inbound_origin;
pub use outbound::{NewOutbound, RecordedOutbound};
pub(crate) use outbound::{contact_for, conversation_for, insert_outbound, record_echo};
pub(crate) use revisions::record_revision;
pub use revisions::{NewRevision, RevisedMessage, Revision, RevisionAction, RevisionOutcome};
pub use statuses::{NewStatus, StatusEvent, StatusOutcome, status_rank};
pub(crate) use statuses::{best_status, record_status, sync_status};

crate::repo! {
    /// Messages, their revisions, classifications, responses and statuses.
    pub trait MessageRepo {
        /// Records the classification of a message (tags, details or failure) once.
        /// With `first`, only when none was recorded yet: true for exactly one caller,
        /// however many workers or hosts ran its plugins.
        fn record_classification(message_id: i64, classifier: Option<&str>, outcome: &ClassifyOutcome, first: bool) -> Result<bool, StoreError>;
        /// Records many classifications, in order, as `record_classification` would one by
        /// one, with a few statements for all the first results: whether each was recorded.
        fn record_classifications(records: &[ClassificationRecord<'_>]) -> Result<Vec<bool>, StoreError>;
        /// Records what the responder decided for a message (its actions or why it failed);
        /// `tag` actions also tag the message.
        fn record_response(message_id: i64, responder: &str, response: &Result<Vec<serde_json::Value>, String>) -> Result<(), StoreError>;
        /// One page of a tenant's conversations, oldest first.
        fn conversations(tenant: &str, page: PageRequest) -> Result<Page<Conversation>, StoreError>;
        /// Stores an inbound message once (idempotent on the tenant's wamid) and keeps its
        /// conversation's timestamps current.
        fn insert_inbound(m: &NewInbound<'_>) -> Result<Stored, StoreError>;
        /// Stores many inbound messages, in order, as `insert_inbound` would one by one,
        /// with a few statements for all of them.
        fn insert_inbound_many(ms: &[NewInbound<'_>]) -> Result<Vec<Stored>, StoreError>;
        /// One message of a tenant, with everything [`list`] returns.
        fn get(tenant: &str, id: i64) -> Result<Option<Message>, StoreError>;
        /// One page of a tenant's messages, oldest stored first.
        fn list(tenant: &str, filter: MessageFilter<'_>, page: PageRequest) -> Result<Page<Message>, StoreError>;
        /// Where to start reading a conversation to get its newest `keep` messages: the
        /// `after` id for [`list`] (0 when it holds no more than `keep`).
        fn newest_start(tenant: &str, conversation_id: i64, keep: u32) -> Result<i64, StoreError>;
        /// The number that received an inbound message and its sender's WhatsApp id.
        fn inbound_origin(tenant: &str, message: MessageRef<'_>) -> Result<Option<(String, Option<String>)>, StoreError>;
        /// Records an edit or revoke once (idempotent on its own wamid) and applies every
        /// recorded revision of the target message to it, if the message is stored. An edit
        /// that changed the message's content marks it for classifying again.
        fn record_revision(r: &NewRevision<'_>) -> Result<RevisionOutcome, StoreError>;
        /// Records a delivery status once per (wamid, status), then moves the stored outbound
        /// message forward to the best status recorded for it.
        fn record_status(s: &NewStatus<'_>) -> Result<StatusOutcome, StoreError>;
        /// The best status recorded for `wamid` by the forward-only order (`failed` above
        /// all), whether or not its message row exists yet; `None` when no status that moves
        /// a message was recorded. The outbox stores a new outbound message with this status
        /// (else `accepted`), so a status that raced ahead of the send response is not lost.
        fn best_status(tenant: &str, wamid: &str) -> Result<Option<String>, StoreError>;
        /// Moves the stored outbound message `wamid` forward to the best status recorded for
        /// it (setting `status_at`, and `errors` when it failed); never backwards. Returns the
        /// message's status afterwards, `None` when no outbound message with this wamid is
        /// stored. The outbox may call this right after storing a message instead of
        /// [`best_status`].
        fn sync_status(tenant: &str, wamid: &str) -> Result<Option<String>, StoreError>;
        /// Stores a message the business sent from the WhatsApp Business app as an
        /// outbound message of the customer's conversation, once per wamid; a new one is
        /// queued for the CRM.
        fn record_echo(m: &NewOutbound<'_>) -> Result<RecordedOutbound, StoreError>;
    }
}
