//! The host's side of the Cloud API: [`client`] sends through it (the outbox and
//! media transfers), and [`health`] probes it and fails over to a backup base URL.
//! The wire format itself (payloads, signatures, bodies, error codes) is `scrm-wire`.

pub mod client;
pub mod health;
