//! The host's side of the Cloud API: [`client`] sends through it (the outbox and
//! media transfers), [`health`] probes it and fails over to a backup base URL,
//! [`templates`] reads an account's message templates, and [`endpoint_for`] picks
//! the base URL and version a tenant uses now. The wire format
//! itself (payloads, signatures, bodies, error codes) is `scrm-wire`.

pub mod client;
mod endpoint;
pub mod health;
pub mod templates;

pub use endpoint::endpoint_for;
