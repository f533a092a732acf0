//! scrm: a self-hosted, multi-tenant WhatsApp Social-CRM host — the application
//! layers over the wire format (`scrm-wire`), the store (`scrm-store`) and the plugin
//! engine (`scrm-engine`). `docs/architecture.md` has the map.
//!
//! - [`config`]: settings (defaults → file → `SCRM_*` environment), validated once;
//! - [`api`]: HTTP (webhooks, admin API, read API, metrics), a thin layer over the rest;
//! - [`pipeline`]: the inbound worker (route → contact → message → classify → respond);
//! - [`slots`]: WhatsApp and store types → the WIT contract, and the engine's storage
//!   traits over the database;
//! - [`outbox`], [`limits`], [`media`], [`cloud`]: delivery — the durable outbox,
//!   WhatsApp's sending rules, media transfers, and the Cloud API client with health
//!   probes and failover; [`backoff`]: the retry delays they share;
//! - [`sync`]: two-way CRM sync;
//! - [`templates`]: the tenant's message-template registry (synced from Meta or
//!   added by the operator) and the lookup automations and campaigns check;
//! - [`campaigns`]: one template to an audience (`tag:vip AND NOT tag:complained`),
//!   planned against the number's daily cap and throughput, run in batches so that
//!   replies to customers always go first;
//! - [`runner`]: one plugin run locally on real payloads under production limits
//!   (`scrm plugin run`); [`conformance`]: the checks a plugin of each world must
//!   pass before it is installed (`scrm plugin test`);
//! - [`metrics`], [`server`] (wiring a running host), [`cli`] (the `scrm` command).
//!
//! Dependencies point down only: this crate uses the three below it, and none of them
//! uses it. Every rule (limits, consent, the token-set release) is enforced here or
//! below, never in an HTTP handler, so the API, the CLI and automations share it.

pub mod analytics;
pub mod api;
pub mod automation;
pub mod backoff;
pub mod campaigns;
pub mod cli;
pub mod cloud;
pub mod config;
pub mod conformance;
pub mod conversations;
pub mod event_hooks;
pub mod fleet;
pub mod instance;
pub mod limits;
pub mod mail;
pub mod media;
pub mod metrics;
pub mod outbox;
pub mod people;
pub mod pipeline;
pub mod relay;
pub mod runner;
pub mod server;
pub mod singleton;
pub mod slots;
pub mod sync;
pub mod templates;
pub mod warnings;
