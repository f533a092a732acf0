//! WhatsApp Business Cloud API webhook bodies: the envelope (`object`, `entry[]`,
//! `changes[]`), routing metadata, and the flattening of a body into [`Event`]s.
//!
//! Meta batches: one body may hold several entries, each with several changes, each with
//! several messages and statuses. [`Notification::events`] yields every one of them, in
//! body order. Only a body that is not JSON or has no `entry` array is rejected; anything
//! inside that the host does not model becomes an [`Event::Other`] or a
//! [`Content::Unsupported`](crate::content::Content::Unsupported) message that keeps the
//! raw JSON, so nothing is lost.
//!
//! Besides messages and statuses, the fields listed in [`ACCOUNT_FIELDS`] (template
//! status / quality / category updates, number quality, account updates, user
//! marketing preferences) become [`Event::Account`], one per item. Message edits and
//! revokes arrive as messages whose [`InboundMessage::amends`] names the message they
//! change. Calls (`calls`) become [`Event::Call`], and messages the business sent from
//! the WhatsApp Business app (`smb_message_echoes`) [`Event::Echo`].
//!
//! Layout: `envelope` reads the body and routes each change by field; `event` holds
//! the flattened [`Event`] and its [`Route`]; `messages`, `amendments`, `statuses`,
//! `account`, `calls` and `echoes` read one kind of item each; `api_error` is Meta's error object they share.

mod account;
mod amendments;
mod api_error;
mod calls;
mod echoes;
mod envelope;
mod event;
mod messages;
mod statuses;
#[cfg(test)]
mod test_support;

pub use account::{ACCOUNT_FIELDS, AccountEvent};
pub use amendments::Amendment;
pub use api_error::ApiError;
pub use calls::CallEvent;
pub use echoes::EchoMessage;
pub use envelope::{Change, Entry, Notification, ParseError, parse};
pub use event::{Event, OtherChange, Route};
pub use messages::{Context, InboundMessage, Referral};
pub use statuses::{BillingConversation, Pricing, StatusUpdate};
