//! The WhatsApp Business Cloud API wire format, and nothing else.
//!
//! - [`signature`]: `X-Hub-Signature-256` checks (HMAC-SHA256 of the raw body with
//!   the app secret, in constant time) and signing for tests and replay;
//! - [`payload`]: a webhook body → flattened, typed events (every message type,
//!   statuses, account events), whose message contents live in [`content`];
//! - [`outbound`]: checking and conforming a send request body (the Cloud API's own
//!   message object) and the kind / category the sending rules act on;
//! - [`graph`]: the Graph API's answers — accepted sends, the error envelope, and
//!   what each error code means for the sender;
//! - [`phone`]: phone numbers to E.164 with the tenant's default region;
//! - [`template`]: message templates as the Graph API lists them, and what a send of
//!   one needs (body, header and button parameters), plus an operator's template file
//!   checked against Meta's rules.
//!
//! Parsing does no I/O and touches no tenant state: callers hand in bytes and get
//! back typed values or a rejection with a machine-readable code.
//!
//! **Never depends on** a database, an async runtime, an HTTP client or server, or
//! wasmtime: this crate is unit-tested and fuzzed alone, and every other scrm crate
//! may depend on it.
//!
//! ```
//! let body = br#"{"object":"whatsapp_business_account","entry":[]}"#;
//! let sig = scrm_wire::signature::sign(b"app-secret", body);
//! assert!(scrm_wire::signature::verify(b"app-secret", body, Some(&sig)).is_ok());
//! ```

pub mod content;
pub mod graph;
mod json;
pub mod outbound;
pub mod payload;
pub mod phone;
pub mod signature;
pub mod template;
