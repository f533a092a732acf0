//! The WhatsApp Business Cloud API edge of the host: it owns checking that a webhook
//! really came from Meta ([`signature`]) and turning its body into typed, flattened
//! events ([`payload`], whose message contents live in [`content`]).
//!
//! Parsing does no I/O and touches no tenant state: callers hand in the raw body bytes
//! and the header value, and get back either a rejection with a machine-readable code or
//! a list of events to route by phone number id. [`client`] is the other direction: the
//! Cloud API client the outbox sends through, and [`health`] probes it and fails over
//! to a backup base URL.

pub mod client;
pub mod content;
pub mod health;
mod json;
pub mod payload;
pub mod phone;
pub mod signature;
