//! scrm: a self-hosted, multi-tenant WhatsApp Social-CRM host.
//!
//! It terminates the WhatsApp Business Cloud API (signed webhooks in), keeps every
//! conversation in its own store, and runs each tenant's business logic as sandboxed
//! WebAssembly components. Modules follow the architecture in the repository's
//! design notes:
//!
//! - [`whatsapp`]: webhook signatures and payload parsing;
//! - [`store`]: the SQLite store and its repositories;
//! - [`plugins`]: the wasmtime runtime, bindings per tenant and slot;
//! - [`limits`]: WhatsApp's sending rules (tier cap, 24 h window, opt-in, throughput);
//! - [`outbox`]: sending through a durable outbox and the Cloud API client;
//! - [`media`]: inbound media downloaded and verified, outbound media uploaded, content-addressed;
//! - [`pipeline`]: the inbound worker (route → contact → message → classify → tag);
//! - [`api`]: HTTP (webhooks, admin API, read API, metrics);
//! - [`config`]: settings; [`cli`]: the `scrm` command.

pub mod api;
pub mod backoff;
pub mod cli;
pub mod cloud;
pub mod config;
pub mod limits;
pub mod media;
pub mod metrics;
pub mod outbox;
pub mod pipeline;
pub mod server;
pub mod slots;
pub mod sync;
